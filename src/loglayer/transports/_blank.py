"""A transport that hands each entry to a function of yours."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._select import Transport
from .._validate import check_callable
from ..typing import LevelLike

__all__ = ["BlankTransport"]


class BlankTransport(Transport):
    """Calls ``fn(entry)`` for each entry: the quickest way to send logs anywhere.

    ``fn`` receives the entry itself (``level``, ``messages``, ``data``, ``metadata``,
    ``error``, ...) and must not mutate ``entry.data``, which other transports share. An
    exception it raises is reported by the logger as a ``TransportError``.
    """

    def __init__(self, fn: Callable[[Any], Any], *, id: str = "", level: LevelLike | None = None,
                 enabled: bool = True) -> None:
        super().__init__(id, level=level, enabled=enabled)
        self._fn = check_callable("fn", fn)

    def send(self, entry: Any) -> None:
        self._fn(entry)
