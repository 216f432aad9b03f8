"""Helpers for transports and plugins: ``to_map`` turns record-like objects into dicts."""

from __future__ import annotations

from ._tomap import to_map

__all__ = ["to_map"]
