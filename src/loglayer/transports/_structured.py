"""One JSON object per line (JSON Lines), for machines: log shippers, ``jq``, files."""

from __future__ import annotations

import io
import os
import threading
import time
import weakref
from typing import Any

from .. import _lifecycle
from .._common import describe
from .._select import JsonFormat, LineTransport
from .._validate import check_type, type_name
from ..typing import LevelLike
from ._file import append_lines, ends_mid_line

__all__ = ["StructuredTransport"]

#: A batch is written once it holds this many lines ...
BATCH_LINES = 100
#: ... or this many bytes ...
BATCH_BYTES = 64 * 1024
#: ... or when an entry comes this long (in ns) after the oldest buffered one.
BATCH_AGE_NS = 1_000_000_000
#: Entries at this level or above are written at once, with whatever is buffered.
_URGENT_LEVEL = 40  # ERROR

class _Batch:
    """The lines buffered for a file a StructuredTransport opened, and that file.

    It holds no reference to the transport, so a ``weakref.finalize`` on the transport
    can drain and close it when the transport is garbage collected.

    The file is an unbuffered ``io.FileIO``: the batch is the only buffer, and a
    ``FileIO`` holds no lock of its own. (A ``BufferedWriter`` does: a fork while
    another thread was inside its ``write`` left that lock held in the child forever,
    and the child's next write or close hung.) ``lock`` is replaced in a forked child.

    Writes go through ``append_lines``, so a line never starts glued onto one a failed
    write (or a killed writer) left unfinished; ``torn``, ``verify`` and ``sent`` are its
    state. ``immediate``: write each line at once, set by the exit drain (and for a
    transport made after it): an ``atexit`` handler that runs later may still log.
    """

    __slots__ = ("file", "path", "lines", "size", "oldest_ns", "lock", "torn", "verify",
                 "sent", "immediate", "__weakref__")

    def __init__(self, file: io.FileIO) -> None:
        self.file = file
        self.path = os.path.abspath(os.fsdecode(file.name))
        self.lines: list[bytes] = []
        self.size = 0
        self.oldest_ns = 0
        self.lock = threading.Lock()
        self.torn = bool(ends_mid_line(file.fileno(), self.path))
        self.verify = False
        self.sent = 0
        self.immediate = _lifecycle.exit_started()

    def add(self, line: bytes, time_ns: int, urgent: bool) -> None:
        with self.lock:
            if self.file.closed:
                raise ValueError("write to a closed StructuredTransport")
            lines = self.lines
            if not lines:
                self.oldest_ns = time_ns
            lines.append(line)
            self.size += len(line)
            if (urgent or self.immediate or len(lines) >= BATCH_LINES
                    or self.size >= BATCH_BYTES or time_ns - self.oldest_ns >= BATCH_AGE_NS):
                self._write()

    def _write(self) -> None:
        """Write out the buffered lines as one block. The caller holds the lock.

        A failed write raises ``OSError`` saying how many of the buffered lines were
        lost (the lines a short write completed before the failure are not)."""
        lines = self.lines
        if not lines:
            return
        self.lines = []
        self.size = 0
        data = b"".join(lines)
        try:
            append_lines(self, self.file.fileno(), data, self.path)
        except OSError as exc:
            lost = len(lines) - data.count(b"\n", 0, self.sent)
            raise OSError(exc.errno, f"{exc.strerror or describe(exc)}; {lost} of "
                          f"{len(lines)} buffered lines were not written",
                          self.path) from exc

    def drain(self) -> None:
        with self.lock:
            if not self.file.closed:
                self._write()

    def drain_at_exit(self, deadline: float) -> None:
        """Write out what is buffered, and every later line at once: the file stays
        open for ``atexit`` handlers that run after this one (the process's end closes
        it). Waits for a writer on another thread at most until ``deadline``."""
        self.immediate = True
        if self.lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            try:
                if not self.file.closed:
                    self._write()
            finally:
                self.lock.release()

    def close(self) -> None:
        with self.lock:
            if not self.file.closed:
                try:
                    self._write()
                finally:
                    self.file.close()

    def forget(self) -> None:
        """In a forked child: the parent writes these lines; the child must not."""
        self.lock = threading.Lock()
        self.lines = []
        self.size = 0


class StructuredTransport(LineTransport):
    """Writes each entry as one line of JSON: ``{"time", "level", "msg", ...data}``.

    ``stream``:

    * None (the default): ``sys.stdout`` as it is at each write, as text.
    * a stream (anything with ``write()``): a binary one (``io.RawIOBase`` or
      ``io.BufferedIOBase``, e.g. ``sys.stdout.buffer``, ``open(p, "wb")``, ``BytesIO``)
      gets bytes, any other gets str. Each entry is exactly one ``write()`` call, made
      during the log call; ``flush()`` flushes the stream, ``close()`` leaves it open.
    * a path (``str`` or ``os.PathLike``): the file is opened for appending (binary)
      at construction, so an unwritable path fails here, and closed by ``close()``.

    Batching applies only to a file opened from a path: lines are kept in memory and
    written as one block when 100 lines or 64 KiB are buffered, when an entry comes 1 s
    or more after the oldest buffered one (checked at each entry, there is no
    background thread), or at once for an ERROR or FATAL entry. ``flush()``,
    ``close()``, garbage collection of the transport and interpreter exit always write
    out what is buffered; after the exit drain the file stays open and each line is
    written at once, for ``atexit`` handlers that log later. A process killed without
    exiting (``SIGKILL``, ``os._exit``) can lose up to one batch of lower-level lines. A
    forked child drops its copy of the parent's buffered lines (the parent writes them)
    and gets fresh locks. A line never continues one left unfinished in the file (by a
    killed writer or a write that failed half-way): it starts on a fresh line. A failed
    write raises ``OSError`` (reported by the logger as a ``TransportError``) saying
    how many buffered lines it lost.

    ``message_key``, ``level_key``, ``time_key`` and ``time_format`` (``"iso"``,
    ``"epoch"``, ``"epoch_ms"``, ``"epoch_ns"`` or None) shape the line; see
    ``loglayer._render_py`` for the full format. Data that JSON cannot hold never makes
    a log call fail: it is written as text.
    """

    def __new__(cls, stream: Any = None, **options: Any) -> StructuredTransport:
        if cls is StructuredTransport and isinstance(stream, (str, os.PathLike)):
            cls = _FileStructuredTransport
        return super().__new__(cls)

    def __init__(self, stream: Any = None, *, id: str = "", level: LevelLike | None = None,
                 enabled: bool = True,
                 message_key: str = "msg", level_key: str = "level", time_key: str = "time",
                 time_format: str | None = "iso") -> None:
        fmt = JsonFormat(message_key, level_key, time_key, time_format)
        if stream is not None and not callable(getattr(stream, "write", None)):
            raise TypeError("stream must be None, a path, or an object with a write() "
                            f"method, got {type_name(stream)}")
        binary = isinstance(stream, (io.RawIOBase, io.BufferedIOBase))
        super().__init__(fmt, stream, binary=binary, default_stream="stdout", id=id,
                         level=level, enabled=enabled)

    @property
    def path(self) -> str | None:
        """The file's path when the transport opened one, else None."""
        return None

    def close(self) -> None:
        """Flush the stream; a stream passed in is left open."""
        stream = self.stream
        if stream is not None and not getattr(stream, "closed", False):
            self.flush()


class _FileStructuredTransport(StructuredTransport):
    """A StructuredTransport writing to a file it opened from a path, in batches."""

    def __init__(self, stream: Any = None, *, id: str = "", level: LevelLike | None = None,
                 enabled: bool = True,
                 message_key: str = "msg", level_key: str = "level", time_key: str = "time",
                 time_format: str | None = "iso") -> None:
        path = check_type("stream path", os.fspath(stream), str, "a str path")
        fmt = JsonFormat(message_key, level_key, time_key, time_format)
        try:
            # Unbuffered (a FileIO, no lock inside): the batch is the buffer; see _Batch.
            file = open(path, "ab", buffering=0)  # noqa: SIM115 - owned by the batch
        except ValueError as exc:  # e.g. an embedded NUL byte
            raise ValueError(f"stream: cannot open {path!r} for appending: {exc}") from None
        LineTransport.__init__(self, fmt, file, binary=True, id=id, level=level,
                               enabled=enabled)
        self._batch = _Batch(file)
        # At exit the buffer is written and the file left open for late lines; a forked
        # child drops the lines its parent will write.
        _lifecycle.track(self._batch, at_exit=_Batch.drain_at_exit,
                         after_fork_in_child=_Batch.forget)
        self._finalizer = weakref.finalize(self, self._batch.close)
        self._finalizer.atexit = False  # the exit drain above, which keeps the file open

    @property
    def path(self) -> str | None:
        return self._batch.file.name

    def send(self, entry: Any) -> None:
        self._batch.add(self.format.render(entry), entry.time_ns,
                        entry.level >= _URGENT_LEVEL)

    def flush(self) -> None:
        """Write out the buffered lines."""
        self._batch.drain()

    def close(self) -> None:
        """Write out the buffered lines and close the file."""
        self._finalizer()
