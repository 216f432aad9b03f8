"""One JSON object per line (JSON Lines), for machines: log shippers, ``jq``, files."""

from __future__ import annotations

import io
import os
import threading
import weakref
from typing import Any

from .. import _lifecycle
from .._select import JsonFormat, LineTransport
from .._validate import check_type, type_name

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
    can drain and close it when the transport is garbage collected or the interpreter
    exits.
    """

    __slots__ = ("file", "lines", "size", "oldest_ns", "lock", "__weakref__")

    def __init__(self, file: io.BufferedWriter) -> None:
        self.file = file
        self.lines: list[bytes] = []
        self.size = 0
        self.oldest_ns = 0
        self.lock = threading.Lock()

    def add(self, line: bytes, time_ns: int, urgent: bool) -> None:
        with self.lock:
            if self.file.closed:
                raise ValueError("write to a closed StructuredTransport")
            lines = self.lines
            if not lines:
                self.oldest_ns = time_ns
            lines.append(line)
            self.size += len(line)
            if (urgent or len(lines) >= BATCH_LINES or self.size >= BATCH_BYTES
                    or time_ns - self.oldest_ns >= BATCH_AGE_NS):
                self._write()

    def _write(self) -> None:
        """Write out the buffered lines as one block. The caller holds the lock."""
        lines = self.lines
        if lines:
            self.lines = []
            self.size = 0
            self.file.write(b"".join(lines))
        self.file.flush()

    def drain(self) -> None:
        with self.lock:
            if not self.file.closed:
                self._write()

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
    out what is buffered. A process killed without exiting (``SIGKILL``, ``os._exit``)
    can lose up to one batch of lower-level lines. A forked child drops its copy of the
    parent's buffered lines (the parent writes them).

    ``message_key``, ``level_key``, ``time_key`` and ``time_format`` (``"iso"``,
    ``"epoch"``, ``"epoch_ms"``, ``"epoch_ns"`` or None) shape the line; see
    ``loglayer._render_py`` for the full format. Data that JSON cannot hold never makes
    a log call fail: it is written as text.
    """

    def __new__(cls, stream: Any = None, **options: Any):
        if cls is StructuredTransport and isinstance(stream, (str, os.PathLike)):
            cls = _FileStructuredTransport
        return super().__new__(cls)

    def __init__(self, stream: Any = None, *, id: str = "", level=None, enabled: bool = True,
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

    def __init__(self, stream: Any = None, *, id: str = "", level=None, enabled: bool = True,
                 message_key: str = "msg", level_key: str = "level", time_key: str = "time",
                 time_format: str | None = "iso") -> None:
        path = check_type("stream path", os.fspath(stream), str, "a str path")
        fmt = JsonFormat(message_key, level_key, time_key, time_format)
        try:
            file = open(path, "ab")  # noqa: SIM115 - owned by the batch, closed by close()
        except ValueError as exc:  # e.g. an embedded NUL byte
            raise ValueError(f"stream: cannot open {path!r} for appending: {exc}") from None
        LineTransport.__init__(self, fmt, file, binary=True, id=id, level=level,
                               enabled=enabled)
        self._batch = _Batch(file)
        # A forked child drops the lines its parent will write.
        _lifecycle.track(self._batch, after_fork_in_child=_Batch.forget)
        self._finalizer = weakref.finalize(self, self._batch.close)

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
