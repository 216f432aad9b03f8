"""Helpers for transports and plugins.

``to_map`` turns record-like objects into dicts (how transports show metadata);
``Cloner`` deep-clones log data with a censor written over matching keys and values
(how a redacting plugin rewrites metadata without touching the caller's objects).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._tomap import to_map

if TYPE_CHECKING:
    from ._cloner import Cloner, Matcher
else:
    def __getattr__(name: str) -> Any:
        """``Cloner`` and ``Matcher`` load on first use: the renderers need ``to_map`` only."""
        if name in ("Cloner", "Matcher"):
            from . import _cloner

            return getattr(_cloner, name)
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = ["Cloner", "Matcher", "to_map"]
