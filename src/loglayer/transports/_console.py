"""A human-readable line per entry, for the terminal."""

from __future__ import annotations

import sys
import time

from .._select import Transport

__all__ = ["ConsoleTransport"]


class ConsoleTransport(Transport):
    """Writes ``time LEVEL [prefix] message key=value ...`` lines to a stream.

    ``stream=None`` means ``sys.stderr`` as it is at each write, so redirecting
    ``sys.stderr`` later (pytest's capture, for one) is honoured.
    """

    def __init__(self, stream=None, *, colors=None, show_time: bool = True, id: str = "",
                 level=None, enabled: bool = True) -> None:
        super().__init__(id, level=level, enabled=enabled)
        if stream is not None and not callable(getattr(stream, "write", None)):
            raise TypeError(f"stream must have a write() method, got {type(stream).__name__}")
        self._stream = stream
        self._colors = colors
        self._show_time = show_time

    def send(self, entry) -> None:
        parts = []
        if self._show_time:
            seconds, ns = divmod(entry.time_ns, 1_000_000_000)
            parts.append(time.strftime("%H:%M:%S", time.localtime(seconds)) + f".{ns // 1_000_000:03d}")
        parts.append(entry.level.name)
        if entry.prefix:
            parts.append(entry.prefix)
        parts.extend(str(m) for m in entry.messages)
        for key, value in entry.data.items():
            parts.append(f"{key}={value!r}")
        if isinstance(entry.metadata, dict):
            for key, value in entry.metadata.items():
                parts.append(f"{key}={value!r}")
        elif entry.metadata is not None:
            parts.append(repr(entry.metadata))
        stream = self._stream if self._stream is not None else sys.stderr
        stream.write(" ".join(parts) + "\n")
