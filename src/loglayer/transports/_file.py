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

Torn lines. A line is whole or it is not the transport's fault, but a write can still
stop in the middle of one: a full disk or a file size limit cuts a write short, and a
process killed during a write leaves what it had written. The next line must not be
glued onto that half: when the file is opened (or reopened after a rotation) its last
byte is checked, and after a write that failed or stopped short the next write checks it
again; a file that ends in the middle of a line gets a newline before the next line.

A rotation that fails (a directory that does not allow the rename, a backup name taken
by a directory, a full disk during compression) must not cost the lines: the transport
keeps appending to the file it has, reports the failure once on stderr, and tries the
rotation again ``ROTATION_RETRY`` seconds later.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import threading
import time
import weakref
from collections.abc import Sequence
from typing import Any

from .. import _lifecycle
from .._common import describe, stderr_line
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
from ..typing import LevelLike

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
_READ_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
#: gzip level for rotated files: most of the size gain of level 9 at a fraction of its time.
_GZIP_LEVEL = 6
#: Seconds before a rotation that failed is tried again; the file keeps growing meanwhile.
ROTATION_RETRY = 60.0


def ends_mid_line(fd: int, path: str) -> bool | None:
    """Whether the regular file ``fd`` (opened from ``path``) ends with a byte other than a
    newline: a line some writer did not finish. None when it cannot tell (not a regular
    file, no read access, ``path`` is now another file)."""
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return None
        if st.st_size == 0:
            return False
        reader = os.open(path, _READ_FLAGS)
    except (OSError, ValueError):
        return None
    try:
        current = os.fstat(reader)
        if (current.st_dev, current.st_ino) != (st.st_dev, st.st_ino):
            return None
        if current.st_size == 0:
            return False
        os.lseek(reader, -1, os.SEEK_END)
        return os.read(reader, 1) != b"\n"
    except OSError:
        return None
    finally:
        os.close(reader)


def append_lines(state: Any, fd: int, data: bytes, path: str) -> None:
    """Append ``data`` (whole lines) to ``fd``, never glued onto a torn line.

    ``state`` carries what is known of the file's end between calls: ``torn`` (it ends
    in the middle of a line: ``data`` then goes after a newline, in the same write) and
    ``verify`` (a write failed, so look at the file's last byte first, since another
    writer may have written since). After the call, ``state.sent`` is how many bytes of
    ``data`` reached the file. One ``os.write`` normally; a short write (a file nearly
    full, a size limit) is continued until everything is written or the kernel reports
    the error, which is raised.
    """
    if state.verify:
        state.verify = False
        ends = ends_mid_line(fd, path)
        if ends is not None:
            state.torn = ends
    prefix = 1 if state.torn else 0
    if prefix:
        data = b"\n" + data
    total = len(data)
    sent = 0
    try:
        sent = os.write(fd, data)
        if sent < total:
            view = memoryview(data)
            while sent < total:
                written = os.write(fd, view[sent:])
                if written == 0:
                    raise OSError(errno.ENOSPC, "No space left on device: os.write wrote "
                                  "nothing")
                sent += written
    except BaseException:
        state.verify = True
        raise
    finally:
        if sent:
            state.torn = data[sent - 1] != 0x0A
        state.sent = max(0, sent - prefix)


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
    """Compress ``source`` into ``target`` (via ``target + ".tmp"``), then remove it.

    A compression that fails (most often a full disk) removes its partial output, which
    would only take more of the space that is missing; ``source`` is kept."""
    import gzip  # here: with shutil, a fifth of what importing loglayer costs otherwise
    import shutil

    partial = target + ".tmp"
    try:
        with open(source, "rb") as raw, gzip.open(partial, "wb",
                                                  compresslevel=_GZIP_LEVEL) as gz:
            shutil.copyfileobj(raw, gz, 1 << 20)
        os.replace(partial, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(partial)
        raise
    os.remove(source)


class _Handles:
    """The descriptors a FileTransport owns, apart from it so that a
    ``weakref.finalize`` can close them when the transport is collected."""

    __slots__ = ("fd", "lock_fd", "identity", "torn", "verify", "sent")

    def __init__(self) -> None:
        self.fd = -1
        self.lock_fd = -1
        self.identity: tuple[int, int] = (0, 0)  # (st_dev, st_ino) of the file fd points to
        # What append_lines knows of the file's end (see there).
        self.torn = False
        self.verify = False
        self.sent = 0

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
    reports as a ``TransportError``; the transport stays usable, and its next line
    starts on a fresh line even if the failed write left half of one. A failed rotation
    loses nothing: the lines keep going to the current file, the failure is reported
    once on stderr, and the rotation is tried again ``ROTATION_RETRY`` seconds later.
    Sending after ``close()`` raises ``ValueError``.

    After ``os.fork()`` the child keeps appending to the same file with fresh locks.
    """

    __slots__ = ("_path", "_render", "_rotate_bytes", "_rotate_when", "_rotating", "_backups",
                 "_compress", "_lock_path", "_lock", "_handles", "_next_rollover",
                 "_retry_rotation_at", "_trouble", "_finalizer")

    def __init__(self, path: str | os.PathLike[str], *, format: Any = "json",
                 rotate_bytes: int | None = None, rotate_when: str | float | None = None,
                 backups: int = 5, compress: bool = False, id: str = "",
                 level: LevelLike | None = None, enabled: bool = True,
                 time_format: str | None = "iso") -> None:
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
        self._retry_rotation_at = float("-inf")  # time.monotonic() of the next try
        self._trouble = False  # a rotation problem was reported and has not cleared
        self._finalizer = weakref.finalize(self, self._handles.close)
        # The kernel closes the descriptors at exit; nothing is buffered, and a
        # QueueTransport's exit drain may still be writing through them.
        self._finalizer.atexit = False
        self._open(check=not self._rotating)
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

    def _open(self, check: bool = True) -> None:
        """Open ``path`` for appending and make it the file written to.

        ``check``: look at its last byte now; otherwise the next write does (a rotating
        writer looks under the exclusive rotation lock, where no cooperating writer is
        in the middle of a write that would look like a torn line)."""
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
        # A writer killed in the middle of a line may have left half of one.
        handles.torn = check and bool(st.st_size) and bool(ends_mid_line(fd, path))
        handles.verify = not check and bool(st.st_size)
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
                append_lines(self._handles, fd, line, self._path)

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
                append_lines(self._handles, fd, b"".join(lines), self._path)

    def close(self) -> None:
        """Close the file; later sends raise ``ValueError``."""
        with self._lock:
            self._finalizer()

    def __repr__(self) -> str:
        return f"<FileTransport id={self.id!r} path={self._path!r}>"

    # -- rotation ----------------------------------------------------------------------

    def _flock(self, operation: int) -> bool:
        """Take the cross-process rotation lock; False when it cannot be had (the lock
        file cannot be created, or the file system refuses locks). The write then goes
        ahead without it, reported once: a line is worth more than the coordination."""
        if fcntl is None:
            return False
        try:
            if self._handles.lock_fd < 0:  # a forked child reopens its own description
                self._open_lock_file()
            fcntl.flock(self._handles.lock_fd, operation)
        except OSError as exc:
            self._report_trouble(f"cannot take the rotation lock ({describe(exc)}); "
                                 "writing without it")
            return False
        return True

    def _unlock(self, locked: bool) -> None:
        if locked and fcntl is not None and self._handles.lock_fd >= 0:
            fcntl.flock(self._handles.lock_fd, fcntl.LOCK_UN)

    def _report_trouble(self, what: str) -> None:
        """One stderr line per spell of rotation trouble; a rotation that succeeds
        ends the spell."""
        if not self._trouble:
            self._trouble = True
            stderr_line(f"file transport {self.id!r} ({self._path}): {what}; no line is "
                        "lost, they go to the file being written (reported once)")

    def _current_size(self) -> int:
        """The size of the file at ``path``, reopening it first when it is no longer
        the file the descriptor points to (another process rotated it). When ``path``
        cannot be reopened, the lines keep going to the file the descriptor points to."""
        try:
            st = os.stat(self._path)
        except FileNotFoundError:
            st = None
        if st is None or (st.st_dev, st.st_ino) != self._handles.identity:
            try:
                self._open(check=False)
            except OSError as exc:
                self._report_trouble(f"cannot reopen the log file after a rotation "
                                     f"({describe(exc)})")
                return os.fstat(self._handles.fd).st_size
            if self._rotate_when is not None:
                self._next_rollover = _next_rollover(self._rotate_when, time.time())
            st = os.fstat(self._handles.fd)
        return st.st_size

    def _rotation_due(self, size: int, next_line: int) -> bool:
        """Whether the file must rotate before ``next_line`` bytes are written to it."""
        if time.monotonic() < self._retry_rotation_at:
            return False  # a rotation failed lately: keep writing to this file
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
        another process may have rotated in between. A rotation that fails is
        reported and postponed, and the lines go to the current file. The end of a
        file opened by path, or written by a failed write, is looked at under the
        exclusive lock too.
        """
        start, count = 0, len(lines)
        limit = self._rotate_bytes
        shared = fcntl.LOCK_SH if fcntl is not None else 0
        exclusive = fcntl.LOCK_EX if fcntl is not None else 0
        handles = self._handles
        postponed = False  # a rotation failed during this call: write the rest here
        while start < count:
            locked = self._flock(shared)
            try:
                size = self._current_size()
                if not handles.verify and (postponed or not self._rotation_due(
                        size, len(lines[start]))):
                    # While a failed rotation waits for its retry, the size is no limit.
                    bound = (None if postponed or time.monotonic() < self._retry_rotation_at
                             else limit)
                    end, total = start + 1, size + len(lines[start])
                    while end < count:
                        length = len(lines[end])
                        if bound is not None and total + length > bound:
                            break
                        total += length
                        end += 1
                    append_lines(handles, handles.fd, lines[start] if end == start + 1
                                 else b"".join(lines[start:end]), self._path)
                    start = end
                    continue
            finally:
                self._unlock(locked)
            locked = self._flock(exclusive)
            try:
                size = self._current_size()
                if handles.verify:  # no cooperating writer is in the middle of a line now
                    handles.verify = False
                    ends = ends_mid_line(handles.fd, self._path)
                    if ends is not None:
                        handles.torn = ends
                if self._rotation_due(size, len(lines[start])):
                    postponed = not self._try_rotate()
            finally:
                self._unlock(locked)

    def _try_rotate(self) -> bool:
        """``_rotate``; False when it failed: the failure is reported (once per spell)
        and the next attempt postponed by ``ROTATION_RETRY`` seconds, and the lines go
        to the current file instead of being lost."""
        try:
            self._rotate()
        except OSError as exc:
            self._retry_rotation_at = time.monotonic() + ROTATION_RETRY
            self._report_trouble(f"rotation failed ({describe(exc)}); trying again in "
                                 f"{ROTATION_RETRY:g} s")
            return False
        self._trouble = False
        return True

    def _rotate(self) -> None:
        """Shift the backups, move ``path`` to ``path.1`` and reopen ``path``.

        Runs under the exclusive file lock, so no writer of any process holds the old
        file between its check and its write. The file is rotated and reopened before
        it is compressed, so a compression that fails leaves the rotated lines under
        their temporary name (``path.rotated-<pid>-<ns>``) and the new file in use.
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
            self._reopened()
            _gzip(rotated, f"{path}.1.gz")
        else:
            os.rename(path, f"{path}.1")
            self._reopened()

    def _reopened(self) -> None:
        """Open the fresh ``path`` after a rotation moved the old one away."""
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
