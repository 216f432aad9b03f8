"""``log.writer(level)``: a text file whose lines become log entries.

Code that writes to a file (``print(file=...)``, ``contextlib.redirect_stdout``, a
thread copying a subprocess's output, a library that takes a stream) logs through a
logger without knowing it. Each line written is one entry at the writer's level, the
line (without its line ending) as the only message; blank lines are skipped.

Why a pending line per thread: ``print(x, file=w)`` makes two calls, ``write(str(x))``
and ``write("\\n")``. With one buffer shared by every thread, two threads printing at
once would interleave those calls and tear each other's lines. Keyed by thread, each
thread's text assembles on its own, so whole lines come out whole however the threads
interleave. ``flush()`` and ``close()`` emit every thread's partial line.

The lock guards the buffers only: entries are emitted after it is released, so a
transport that writes back into this writer (a console transport on the stdout that
``redirect_stdout`` points here) does not deadlock; the core drops that inner entry as
it drops any log call made while its own thread dispatches (SPEC §4).

Both cores return this class from ``LogLayer.writer``: there is nothing on this path
for the compiled core to speed up that the logger's level method does not already.
"""

from __future__ import annotations

import io
import threading
from typing import Any

from .levels import LogLevel

__all__ = ["LogWriter"]

#: A partial line longer than this (in characters) is emitted in pieces of this size,
#: so a stream that never writes a newline cannot grow the buffer without bound.
MAX_PENDING = 64 * 1024


def _blank(line: str) -> bool:
    return not line or line.isspace()


class LogWriter(io.TextIOBase):
    """A write-only text stream that logs each line it is given.

    Made by ``log.writer(level)``. ``write(text)`` splits on ``"\\n"`` (a ``"\\r"``
    before it is dropped too) and logs each complete line at ``level``; the text after
    the last newline waits for the rest of its line, or for ``flush()`` or ``close()``.
    Lines that are empty or only whitespace are skipped. ``close()`` ends the stream,
    not the logger, which other code may share. Thread-safe.
    """

    def __init__(self, log: Any, level: Any = LogLevel.INFO) -> None:
        # What close() reads comes first: a writer whose level is refused below still
        # exists, and IOBase's finalizer closes it (3.13 reports what that raises).
        self._lock = threading.Lock()
        self._pending: dict[int, str] = {}
        level = LogLevel.parse(level)
        self._log = log
        self._level = level
        # The logger's own level method: the level filter, hooks and transports apply
        # exactly as for ``log.info(line)``, and nothing is parsed again per line.
        self._emit = getattr(log, level.name.lower())

    @property
    def level(self) -> LogLevel:
        """The level of the entries this writer logs."""
        return self._level

    @property
    def encoding(self) -> str:  # type: ignore[override]  # TextIOBase says str | None
        """``"utf-8"``: what a reader of the entries gets (nothing is encoded here)."""
        return "utf-8"

    @property
    def errors(self) -> str:  # type: ignore[override]
        return "strict"

    @property
    def name(self) -> str:
        return f"<loglayer writer at {self._level.name}>"

    def writable(self) -> bool:
        """True while the stream is open."""
        if self.closed:
            raise ValueError("I/O operation on closed file.")
        return True

    def isatty(self) -> bool:
        """False: the text goes to a logger, not a terminal (so no colours, no prompts)."""
        if self.closed:
            raise ValueError("I/O operation on closed file.")
        return False

    def write(self, text: str) -> int:
        """Log each complete line of ``text``; keep the rest until its line ends.
        Returns ``len(text)``, as a text file does."""
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        if self.closed:
            raise ValueError("I/O operation on closed file.")
        if not text:
            return 0
        thread = threading.get_ident()
        with self._lock:
            pending = self._pending.pop(thread, "")
            if "\n" not in text and len(pending) + len(text) <= MAX_PENDING:
                self._pending[thread] = pending + text
                return len(text)
            lines = (pending + text).split("\n")
            rest = lines.pop()
            while len(rest) > MAX_PENDING:
                lines.append(rest[:MAX_PENDING])
                rest = rest[MAX_PENDING:]
            if rest:
                self._pending[thread] = rest
        self._log_lines(lines)
        return len(text)

    def writelines(self, lines: Any) -> None:
        """Write each string of ``lines``; like a file, no line endings are added."""
        self.write("".join(lines))

    def flush(self) -> None:
        """Log every partial line now, whichever thread wrote it. The logger's
        transports are not flushed: that is ``log.flush()``."""
        if self.closed:
            raise ValueError("I/O operation on closed file.")
        with self._lock:
            partial = list(self._pending.values())
            self._pending.clear()
        if partial:
            self._log_lines(partial)

    # close(), closed, __enter__ and __exit__ are io.IOBase's: close() calls flush()
    # once, then marks the stream closed.

    def _log_lines(self, lines: list[str]) -> None:
        emit = self._emit
        for line in lines:
            if line.endswith("\r"):
                line = line[:-1]
            if not _blank(line):
                emit(line)

    def __repr__(self) -> str:
        return f"<LogWriter level={self._level.name} closed={self.closed}>"
