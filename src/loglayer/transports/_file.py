"""Log lines appended to a file, with size and time based rotation.

Every write is one ``os.write`` of whole lines on a file descriptor opened with
``O_APPEND``, so the kernel places each write at the end of the file as one piece:
two processes (or two transports) appending to the same file never interleave
inside a line. Nothing is buffered in the process, so nothing is lost when the
process is killed after ``send`` returned.

Rotation (``rotate_bytes`` and/or ``rotate_when``) renames ``path`` to ``path.1``
(shifting ``path.1`` .. ``path.N-1`` up by one and removing ``path.N``) and reopens
``path``. Writers that share the file across processes coordinate through an
advisory lock (``flock``) on a hidden lock file next to the log, ``.<name>.lock``:
a write holds it shared while it checks that ``path`` is still the file its
descriptor points to (``st_dev``/``st_ino``) and writes; a rotation holds it
exclusive. So a line goes entirely to the old file or entirely to the new one, and a
writer whose file another process has rotated away notices it before its next write
and reopens ``path``. All writers of a rotated file must be ``FileTransport``s with
rotation configured (a writer that does not take the lock may still append to a file
that was just renamed, or removed as the oldest backup).
"""

from __future__ import annotations

import contextlib
import gzip
import os
import shutil
import threading
import time
import weakref
from collections.abc import Sequence
from typing import Any

from .. import _lifecycle
from .._select import ConsoleFormat, JsonFormat, Transport
from .._validate import (
    check_bool,
    check_choice,
    check_int,
    check_key,
    check_number,
    check_type,
    type_name,
)

try:
    import fcntl
except ImportError:  # Windows: rotation is coordinated between threads only
    fcntl = None  # type: ignore[assignment]

__all__ = ["FileTransport"]

_OPEN_FLAGS = (os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
               | getattr(os, "O_BINARY", 0))
_LOCK_FLAGS = os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
_TIME_FORMATS = ("iso", "epoch", "epoch_ms", "epoch_ns")
_ROTATE_NAMES = ("midnight", "hourly")
_NS_PER_MS = 1_000_000
#: gzip level for rotated files: most of the size gain of level 9 at a fraction of its time.
_GZIP_LEVEL = 6

def _write_all(fd: int, data: bytes) -> None:
    """One ``os.write`` of ``data``; a short write (a regular file nearly full) is
    continued until everything is written or the kernel reports the error."""
    written = os.write(fd, data)
    if written == len(data):
        return
    view = memoryview(data)[written:]
    while view:
        written = os.write(fd, view)
        if written == 0:
            raise OSError(28, "No space left on device: os.write wrote nothing")
        view = view[written:]


def _next_rollover(when: str | float, now: float) -> float:
    """The first rotation time after ``now``: the next local midnight, the next local
    full hour, or the next multiple of ``when`` seconds since the epoch (aligned, so
    every process sharing the file agrees on it)."""
    if not isinstance(when, str):
        return (now // when + 1) * when
    lt = time.localtime(now)
    if when == "midnight":
        boundary = time.mktime((lt.tm_year, lt.tm_mon, lt.tm_mday + 1, 0, 0, 0, 0, 0, -1))
        fallback = 86_400.0
    else:  # "hourly"
        boundary = time.mktime((lt.tm_year, lt.tm_mon, lt.tm_mday, lt.tm_hour + 1, 0, 0, 0, 0,
                                -1))
        fallback = 3_600.0
    return boundary if boundary > now else now + fallback  # a DST jump can fold the clock


def _gzip(source: str, target: str) -> None:
    """Compress ``source`` into ``target`` (via ``target + ".tmp"``), then remove it."""
    partial = target + ".tmp"
    with open(source, "rb") as raw, gzip.open(partial, "wb", compresslevel=_GZIP_LEVEL) as gz:
        shutil.copyfileobj(raw, gz, 1 << 20)
    os.replace(partial, target)
    os.remove(source)


class _Handles:
    """The descriptors a FileTransport owns, apart from it so that a
    ``weakref.finalize`` can close them when the transport is collected."""

    __slots__ = ("fd", "lock_fd", "identity")

    def __init__(self) -> None:
        self.fd = -1
        self.lock_fd = -1
        self.identity: tuple[int, int] = (0, 0)  # (st_dev, st_ino) of the file fd points to

    def close(self) -> None:
        fd, lock_fd = self.fd, self.lock_fd
        self.fd = self.lock_fd = -1
        for descriptor in (fd, lock_fd):
            if descriptor >= 0:
                with contextlib.suppress(OSError):
                    os.close(descriptor)


class FileTransport(Transport):
    """Appends one line per entry to ``path``: JSON lines or human-readable text.

    ``format``: ``"json"`` (the same line as ``StructuredTransport``, with
    ``time_format`` ``"iso"``, ``"epoch"``, ``"epoch_ms"``, ``"epoch_ns"`` or None),
    ``"text"`` (the console line without colours, preceded by the time in
    ``time_format``, since a file outlives the day the local clock column refers to;
    the error is summarised from the data key the entry's logger keeps it under), or any
    object with ``render(entry)`` returning ``bytes`` or ``str``.

    ``send(entry)`` renders and writes one line with one ``os.write``;
    ``send_batch(entries)`` (what ``QueueTransport`` calls) writes a whole batch with
    one ``os.write`` (or one per file when the batch straddles a rotation), which is
    what makes a queued file fast. ``flush()`` has nothing to do: a line is in the
    kernel when ``send`` returns.

    Rotation:

    * ``rotate_bytes``: before a write that would make the file larger than this,
      it is rotated (a line longer than the limit still goes whole into a fresh file).
    * ``rotate_when``: ``"midnight"`` (local time), ``"hourly"``, or a number of
      seconds (at multiples of it since the epoch); the rotation happens at the first
      write after the boundary, and never rotates an empty file.
    * ``backups``: how many rotated files are kept, ``path.1`` (newest) .. ``path.N``.
    * ``compress``: rotated files are gzipped to ``path.1.gz`` .. ``path.N.gz``. The
      compression runs inline, in the thread whose write triggered the rotation and
      while the rotation lock is held, so writers of that file (in every process) wait
      for it; wrap the transport in a ``QueueTransport`` to keep that off the threads
      that log.

    Errors: a path that cannot be opened for appending raises ``OSError`` (or
    ``ValueError`` for a malformed path) at construction, naming the path. A write that
    fails later (``ENOSPC``, ``EIO``) raises ``OSError`` from ``send``, which the logger
    reports as a ``TransportError``; the transport stays usable. Sending after
    ``close()`` raises ``ValueError``.

    After ``os.fork()`` the child keeps appending to the same file with fresh locks.
    """

    __slots__ = ("_path", "_render", "_rotate_bytes", "_rotate_when", "_rotating", "_backups",
                 "_compress", "_lock_path", "_lock", "_handles", "_next_rollover",
                 "_finalizer")

    def __init__(self, path: str | os.PathLike[str], *, format: Any = "json",
                 rotate_bytes: int | None = None, rotate_when: str | float | None = None,
                 backups: int = 5, compress: bool = False, id: str = "", level: Any = None,
                 enabled: bool = True, time_format: str | None = "iso") -> None:
        super().__init__(id, level=level, enabled=enabled)
        check_type("path", path, (str, os.PathLike), "a str or os.PathLike")
        path = check_key("path", os.fspath(path), allow_none=False)
        check_int("rotate_bytes", rotate_bytes, minimum=1, allow_none=True)
        if isinstance(rotate_when, str):
            check_choice("rotate_when", rotate_when, _ROTATE_NAMES)
        elif rotate_when is not None:
            check_type("rotate_when", rotate_when, (int, float),
                       "'midnight', 'hourly', a number of seconds or None")
            check_number("rotate_when", rotate_when, above=0)
        check_int("backups", backups, minimum=1)
        check_bool("compress", compress)
        self._render = self._renderer(format, time_format)
        self._path = os.path.abspath(path)  # rotation renames by path: a chdir must not move it
        self._rotate_bytes = rotate_bytes
        self._rotate_when = rotate_when
        self._rotating = rotate_bytes is not None or rotate_when is not None
        self._backups = backups
        self._compress = compress
        directory, name = os.path.split(self._path)
        self._lock_path = os.path.join(directory, f".{name}.lock")
        self._lock = threading.Lock()
        self._handles = _Handles()
        self._next_rollover = (0.0 if rotate_when is None
                               else _next_rollover(rotate_when, time.time()))
        self._finalizer = weakref.finalize(self, self._handles.close)
        # The kernel closes the descriptors at exit; nothing is buffered, and a
        # QueueTransport's exit drain may still be writing through them.
        self._finalizer.atexit = False
        self._open()
        if self._rotating:
            self._open_lock_file()
        # A forked child gives it fresh locks.
        _lifecycle.track(self, after_fork_in_child=FileTransport._after_fork_in_child)

    # -- construction helpers --------------------------------------------------------

    @staticmethod
    def _renderer(format: Any, time_format: str | None) -> Any:
        """A function entry -> bytes for the chosen format."""
        check_choice("time_format", time_format, (*_TIME_FORMATS, None))
        if isinstance(format, str):
            if check_choice("format", format, ("json", "text")) == "json":
                return JsonFormat("msg", "level", "time", time_format).render
            return _TextRenderer(ConsoleFormat(False, False), time_format).render
        if not callable(getattr(format, "render", None)):
            raise TypeError(f"format must be 'json', 'text' or an object with a render(entry) "
                            f"method, got {type_name(format)}")
        if getattr(format, "binary", False):
            return format.render
        return _TextRenderer(format, None).render

    def _open(self) -> None:
        """Open ``path`` for appending and make it the file written to."""
        path = self._path
        try:
            fd = os.open(path, _OPEN_FLAGS, 0o666)
        except ValueError as exc:  # an embedded NUL byte
            raise ValueError(f"cannot open log file {path!r}: {exc}") from None
        except OSError as exc:
            raise type(exc)(exc.errno, f"cannot open log file for appending: {exc.strerror}",
                            path) from None
        st = os.fstat(fd)
        handles = self._handles
        old = handles.fd
        handles.fd, handles.identity = fd, (st.st_dev, st.st_ino)
        if old >= 0:
            os.close(old)

    def _open_lock_file(self) -> None:
        try:
            self._handles.lock_fd = os.open(self._lock_path, _LOCK_FLAGS, 0o666)
        except OSError as exc:
            raise type(exc)(exc.errno, f"cannot create the rotation lock file: {exc.strerror}",
                            self._lock_path) from None

    # -- public API --------------------------------------------------------------------

    @property
    def path(self) -> str:
        """The absolute path of the log file."""
        return self._path

    def send(self, entry: Any) -> None:
        line = self._render(entry)
        with self._lock:
            fd = self._handles.fd
            if fd < 0:
                raise ValueError(f"FileTransport for {self._path!r} is closed")
            if self._rotating:
                self._write_rotating((line,))
            else:
                _write_all(fd, line)

    def send_batch(self, entries: Sequence[Any]) -> None:
        """Write ``entries`` with as few ``os.write`` calls as rotation allows (one when
        the file does not rotate in the middle of the batch)."""
        render = self._render
        lines = [render(entry) for entry in entries]
        if not lines:
            return
        with self._lock:
            fd = self._handles.fd
            if fd < 0:
                raise ValueError(f"FileTransport for {self._path!r} is closed")
            if self._rotating:
                self._write_rotating(lines)
            else:
                _write_all(fd, b"".join(lines))

    def close(self) -> None:
        """Close the file; later sends raise ``ValueError``."""
        with self._lock:
            self._finalizer()

    def __repr__(self) -> str:
        return f"<FileTransport id={self.id!r} path={self._path!r}>"

    # -- rotation ----------------------------------------------------------------------

    def _flock(self, operation: int) -> None:
        if fcntl is None:
            return
        if self._handles.lock_fd < 0:  # a forked child reopens its own description
            self._open_lock_file()
        fcntl.flock(self._handles.lock_fd, operation)

    def _unlock(self) -> None:
        if fcntl is not None and self._handles.lock_fd >= 0:
            fcntl.flock(self._handles.lock_fd, fcntl.LOCK_UN)

    def _current_size(self) -> int:
        """The size of the file at ``path``, reopening it first when it is no longer
        the file the descriptor points to (another process rotated it)."""
        try:
            st = os.stat(self._path)
        except FileNotFoundError:
            st = None
        if st is None or (st.st_dev, st.st_ino) != self._handles.identity:
            self._open()
            if self._rotate_when is not None:
                self._next_rollover = _next_rollover(self._rotate_when, time.time())
            st = os.fstat(self._handles.fd)
        return st.st_size

    def _rotation_due(self, size: int, next_line: int) -> bool:
        """Whether the file must rotate before ``next_line`` bytes are written to it."""
        if self._rotate_when is not None and time.time() >= self._next_rollover:
            if size:
                return True
            # An empty file holds nothing from before the boundary: keep it.
            self._next_rollover = _next_rollover(self._rotate_when, time.time())
        return (self._rotate_bytes is not None and size > 0
                and size + next_line > self._rotate_bytes)

    def _write_rotating(self, lines: Sequence[bytes]) -> None:
        """Write ``lines`` in order, rotating between two lines whenever due.

        The caller holds ``self._lock``. Each chunk is checked and written under the
        shared file lock; a rotation takes it exclusively and checks again, since
        another process may have rotated in between.
        """
        start, count = 0, len(lines)
        limit = self._rotate_bytes
        shared = fcntl.LOCK_SH if fcntl is not None else 0
        exclusive = fcntl.LOCK_EX if fcntl is not None else 0
        while start < count:
            self._flock(shared)
            try:
                size = self._current_size()
                if not self._rotation_due(size, len(lines[start])):
                    end, total = start, size
                    while end < count:
                        length = len(lines[end])
                        if limit is not None and total + length > limit and total > 0:
                            break
                        total += length
                        end += 1
                    _write_all(self._handles.fd, lines[start] if end == start + 1
                               else b"".join(lines[start:end]))
                    start = end
                    continue
            finally:
                self._unlock()
            self._flock(exclusive)
            try:
                if self._rotation_due(self._current_size(), len(lines[start])):
                    self._rotate()
            finally:
                self._unlock()

    def _rotate(self) -> None:
        """Shift the backups, move ``path`` to ``path.1`` and reopen ``path``.

        Runs under the exclusive file lock, so no writer of any process holds the old
        file between its check and its write.
        """
        path = self._path
        suffix = ".gz" if self._compress else ""
        for index in self._backup_indexes(suffix):  # newest last, so none is overwritten
            if index >= self._backups:
                os.remove(f"{path}.{index}{suffix}")
            else:
                os.rename(f"{path}.{index}{suffix}", f"{path}.{index + 1}{suffix}")
        if self._compress:
            # A name no later rotation reuses, so a failed compression loses nothing.
            rotated = f"{path}.rotated-{os.getpid()}-{time.time_ns()}"
            os.rename(path, rotated)
            self._open()
            _gzip(rotated, f"{path}.1.gz")
        else:
            os.rename(path, f"{path}.1")
            self._open()
        if self._rotate_when is not None:
            self._next_rollover = _next_rollover(self._rotate_when, time.time())

    def _backup_indexes(self, suffix: str) -> list[int]:
        """The N of each existing ``path.N<suffix>``, highest first (one directory
        listing, rather than one rename attempt per possible backup)."""
        directory, name = os.path.split(self._path)
        prefix = name + "."
        indexes = []
        for entry in os.listdir(directory):
            if entry.startswith(prefix) and entry.endswith(suffix):
                digits = entry[len(prefix):len(entry) - len(suffix)]
                if digits.isascii() and digits.isdigit() and digits[0] != "0":
                    indexes.append(int(digits))
        indexes.sort(reverse=True)
        return indexes

    def _after_fork_in_child(self) -> None:
        self._lock = threading.Lock()
        handles = self._handles
        if handles.lock_fd >= 0:
            # flock belongs to the open file description, which the parent shares:
            # the child needs its own to be excluded from (and by) the parent.
            lock_fd, handles.lock_fd = handles.lock_fd, -1
            os.close(lock_fd)


class _TextRenderer:
    """A str renderer made into an entry -> bytes function, with a time column."""

    __slots__ = ("_render", "_time_format", "_second", "_head")

    def __init__(self, fmt: Any, time_format: str | None) -> None:
        self._render = fmt.render
        self._time_format = time_format
        self._second = -1
        self._head = ""

    def render(self, entry: Any) -> bytes:
        line = self._render(entry)
        time_format = self._time_format
        if time_format is not None:
            line = self._stamp(entry.time_ns, time_format) + " " + line
        return line.encode("utf-8", "backslashreplace")

    def _stamp(self, time_ns: int, time_format: str) -> str:
        if time_format == "iso":  # UTC, milliseconds truncated, as in the JSON lines
            second, ns = divmod(time_ns, 1_000_000_000)
            if second != self._second:
                self._head = time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(second))
                self._second = second
            return f"{self._head}{ns // _NS_PER_MS:03d}Z"
        if time_format == "epoch":
            return repr(time_ns / 1e9)
        if time_format == "epoch_ms":
            return str(time_ns // _NS_PER_MS)
        return str(time_ns)
