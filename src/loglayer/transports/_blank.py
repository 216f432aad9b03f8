"""A transport that hands each entry to a function of yours."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._select import Transport

__all__ = ["BlankTransport"]


class BlankTransport(Transport):
    """Calls ``fn(entry)`` for each entry: the quickest way to send logs anywhere.

    ``fn`` receives the entry itself (``level``, ``messages``, ``data``, ``metadata``,
    ``error``, ...) and must not mutate ``entry.data``, which other transports share. An
    exception it raises is reported by the logger as a ``TransportError``.
    """

    def __init__(self, fn: Callable[[Any], Any], *, id: str = "", level=None,
                 enabled: bool = True) -> None:
        if not callable(fn):
            raise TypeError(f"fn must be callable, got {type(fn).__name__}")
        super().__init__(id, level=level, enabled=enabled)
        self._fn = fn

    def send(self, entry: Any) -> None:
        self._fn(entry)
