"""Helpers for transports and plugins.

``to_map`` turns record-like objects into dicts (how transports show metadata);
``Cloner`` deep-clones log data with a censor written over matching keys and values
(how a redacting plugin rewrites metadata without touching the caller's objects).
"""

from __future__ import annotations

from ._cloner import Cloner, Matcher
from ._tomap import to_map

__all__ = ["Cloner", "Matcher", "to_map"]
