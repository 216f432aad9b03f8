"""A human-readable line per entry, for the terminal."""

from __future__ import annotations

import os
import sys
from typing import Any, TextIO

from .._select import ConsoleFormat, LineTransport
from .._validate import check_bool, type_name
from ..typing import LevelLike

__all__ = ["ConsoleTransport"]


def _wants_colors(stream: Any) -> bool:
    """The auto rule: no ``NO_COLOR``, and ``FORCE_COLOR`` or a terminal."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    isatty = getattr(stream, "isatty", None)
    if isatty is None:
        return False
    try:
        return isatty() is True
    except Exception:  # a closed or odd stream: no colours
        return False


class ConsoleTransport(LineTransport):
    """Writes ``[time ]LEVEL [prefix ]message key=value ...`` lines to a text stream.

    ``stream=None`` means ``sys.stderr`` as it is at each write, so redirecting
    ``sys.stderr`` later (pytest's capture, for one) is honoured. Each entry is one
    ``write()`` call. Control characters in messages are escaped, so one entry is one
    line (plus an indented traceback when the entry's error was raised).

    ``colors``: True or False force them; None (the default) turns them on when the
    ``NO_COLOR`` environment variable is unset or empty and either ``FORCE_COLOR`` is
    set non-empty or the stream is a terminal (``isatty()``). For a given stream this
    is decided once, at construction; with ``stream=None`` it is decided again whenever
    ``sys.stderr`` is a different object than at the previous write.

    The data item under the entry's ``error_key`` (its logger's) is shown as
    ``err=Type: message`` and the traceback is printed below the line; ``error_key``
    overrides the key for every entry.
    """

    def __new__(cls, stream: Any = None, *, colors: bool | None = None,
                **options: Any) -> ConsoleTransport:
        if cls is ConsoleTransport and stream is None and colors is None:
            cls = _AutoColorConsoleTransport
        return super().__new__(cls)

    def __init__(self, stream: TextIO | None = None, *, colors: bool | None = None,
                 show_time: bool = True, error_key: str | None = None, id: str = "",
                 level: LevelLike | None = None,
                 enabled: bool = True) -> None:
        if stream is not None and not callable(getattr(stream, "write", None)):
            raise TypeError(f"stream must be None or have a write() method, "
                            f"got {type_name(stream)}")
        check_bool("colors", colors, allow_none=True)
        if colors is None:
            colors = stream is not None and _wants_colors(stream)
        super().__init__(ConsoleFormat(colors, show_time, error_key), stream,
                         default_stream="stderr", id=id, level=level, enabled=enabled)


class _AutoColorConsoleTransport(ConsoleTransport):
    """A ConsoleTransport on ``sys.stderr`` that re-decides colours when it changes."""

    def __init__(self, stream: TextIO | None = None, *, colors: bool | None = None,
                 show_time: bool = True, error_key: str | None = None, id: str = "",
                 level: LevelLike | None = None,
                 enabled: bool = True) -> None:
        super().__init__(None, colors=False, show_time=show_time, error_key=error_key, id=id,
                         level=level, enabled=enabled)
        self._colored = ConsoleFormat(True, show_time, error_key)
        # (the sys.stderr last written to, its format)
        self._auto: tuple[Any, Any] = (None, self.format)

    def send(self, entry: Any) -> None:
        stream = sys.stderr
        if stream is None:  # no console at all (pythonw, a daemon): nothing to write to
            return
        last, fmt = self._auto
        if stream is not last:
            fmt = self._colored if _wants_colors(stream) else self.format
            self._auto = (stream, fmt)
        stream.write(fmt.render(entry))
