"""The delivery engine's persistent spool: a queue of records in segment files.

A shipping transport made with ``spool_dir=`` writes every entry it accepts here before
it is queued, and removes it only once the backend acknowledged it (or rejected it for
good). So entries survive a crash of the process (SIGKILL included: a write that
returned is in the kernel's page cache) and an outage longer than the in-memory buffer:
when the buffer is full, entries go to the spool only ("spilled") and the worker reads
them back once the buffer has drained. A transport made later on the same directory
sends what the previous process left.

Layout of the directory:

* ``lock``: held (``flock``) by the one process that uses the directory;
* ``<number>.seg``: segment files of records, each ``[length u32][crc32 u32][payload]``
  (little-endian); a segment is removed when every record in it is acknowledged;
* ``cursor``: where the acknowledged records end, ``[segment u64][offset u64][crc32 u32]``,
  rewritten in place after each acknowledged batch.

Guarantees and limits. Delivery from the spool is at least once: the records of a batch
that was sent but whose acknowledgement did not reach the cursor before a crash are sent
again at the next start (at most the batches in flight, one per transport). A record
torn by a crash (a short last record, or one whose checksum fails) is detected and
skipped with the rest of its segment, never sent; the number is in ``torn``. Nothing is
``fsync``-ed: the spool survives the process, not the loss of power of the machine.
Records are kept in order; the spool is bounded by ``max_bytes`` (a record that does
not fit is refused, and the caller counts it as dropped).

Not thread-safe by itself: the delivery pipeline calls it under its lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import struct
import zlib
from collections import deque

__all__ = ["Spool"]

_HEADER = struct.Struct("<II")
_CURSOR = struct.Struct("<QQI")
#: A record longer than this is taken for a torn header, not a record.
_MAX_RECORD = 1 << 30
_SUFFIX = ".seg"


def _segment_name(number: int) -> str:
    return f"{number:012d}{_SUFFIX}"


class Spool:
    """Records in segment files under ``directory`` (see the module docstring).

    ``pending``: records written and not yet acknowledged; ``unread``: the spilled ones
    among them that the worker has not read back yet; ``size``: their bytes on disk.
    """

    def __init__(self, directory: str | os.PathLike, *, max_bytes: int,
                 segment_bytes: int) -> None:
        self.directory = os.fspath(directory)
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        os.makedirs(self.directory, exist_ok=True)
        self._lock_fd = os.open(self._path("lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            raise ValueError(f"spool_dir {self.directory!r} is in use by another "
                             "transport or process") from None
        self.torn = 0
        self.pending = 0
        self.unread = 0
        self.size = 0
        self.recovered = 0
        # (segment, end offset) of each record read or written in memory order and
        # not yet acknowledged: the cursor moves along it.
        self._positions: deque[tuple[int, int]] = deque()
        self._cursor_fd = os.open(self._path("cursor"), os.O_RDWR | os.O_CREAT, 0o600)
        self._acked = self._read_cursor()
        self._read_at = self._acked  # where the next spilled record is read from
        self._recover()
        self._write_segment = max([self._acked[0], *self._segments()], default=0) + 1
        self._write_fd = -1
        self._write_size = 0
        self._open_segment()
        self.recovered = self.pending

    # -- opening ------------------------------------------------------------------------

    def _path(self, name: str) -> str:
        return os.path.join(self.directory, name)

    def _segments(self) -> list[int]:
        numbers = []
        for name in os.listdir(self.directory):
            if name.endswith(_SUFFIX) and name[:-len(_SUFFIX)].isdigit():
                numbers.append(int(name[:-len(_SUFFIX)]))
        return sorted(numbers)

    def _read_cursor(self) -> tuple[int, int]:
        raw = os.pread(self._cursor_fd, _CURSOR.size, 0)
        if len(raw) == _CURSOR.size:
            segment, offset, crc = _CURSOR.unpack(raw)
            if crc == zlib.crc32(raw[:16]):
                return (segment, offset)
        return (0, 0)

    def _recover(self) -> None:
        """Count what the previous process left unacknowledged; drop what is acknowledged
        and cut torn records, so the segments hold only whole records to send."""
        first, offset = self._acked
        for number in self._segments():
            path = self._path(_segment_name(number))
            if number < first:
                os.unlink(path)
                continue
            start = offset if number == first else 0
            with open(path, "rb") as segment:
                data = segment.read()
            position = start
            count = 0
            while position < len(data):
                record = _record_at(data, position)
                if record is None:
                    break
                position = record[1]
                count += 1
            if position < len(data):  # a torn or corrupt record, and whatever follows
                self.torn += 1
                os.truncate(path, position)
            if count == 0 and number != first:
                os.unlink(path)
                continue
            self.pending += count
            self.unread += count
            self.size += position - start
        if _exhausted(self._path(_segment_name(first)), offset):
            self._read_at = (self._next_segment_after(first), 0)

    def _next_segment_after(self, number: int) -> int:
        return min((n for n in self._segments() if n > number), default=number + 1)

    def _open_segment(self) -> None:
        if self._write_fd >= 0:
            os.close(self._write_fd)
        path = self._path(_segment_name(self._write_segment))
        self._write_fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._write_size = os.fstat(self._write_fd).st_size

    # -- the pipeline's calls -----------------------------------------------------------

    def append(self, payload: bytes, *, spilled: bool) -> bool:
        """Write one record; False (nothing written) when the spool is full or the write
        failed. ``spilled``: the record is not kept in memory, the worker reads it back
        later; a record is kept in memory only while nothing is spilled (order)."""
        length = _HEADER.size + len(payload)
        if self.size + length > self.max_bytes:
            return False
        if self._write_size >= self.segment_bytes:
            self._write_segment += 1
            self._open_segment()
        record = _HEADER.pack(len(payload), zlib.crc32(payload)) + payload
        try:
            written = os.write(self._write_fd, record)
        except OSError:
            written = 0
        if written != length:  # disk full or a size limit: undo a partial record
            with contextlib.suppress(OSError):
                os.ftruncate(self._write_fd, self._write_size)
            return False
        self._write_size += length
        self.size += length
        self.pending += 1
        if spilled or self.unread:
            self.unread += 1
        else:
            self._positions.append((self._write_segment, self._write_size))
            self._read_at = (self._write_segment, self._write_size)
        return True

    def read(self, limit: int) -> list[bytes]:
        """Up to ``limit`` spilled records, oldest first, for the worker to send."""
        records: list[bytes] = []
        while len(records) < limit and self.unread:
            number, offset = self._read_at
            path = self._path(_segment_name(number))
            data = _read_window(path, offset)
            position = 0
            while len(records) < limit and self.unread:
                record = _record_at(data, position)
                if record is None:
                    break
                payload, position = record
                records.append(payload)
                self.unread -= 1
                self._positions.append((number, offset + position))
            self._read_at = (number, offset + position)
            if position == 0 and len(records) < limit and self.unread:
                if number >= self._write_segment:  # cannot happen while counts are right
                    self.unread = 0
                    break
                self._read_at = (self._next_segment_after(number), 0)
        return records

    def ack(self, count: int) -> None:
        """The oldest ``count`` records in memory were delivered or given up on: move
        the cursor past them and remove the segments left behind."""
        if count <= 0:
            return
        previous = self._acked
        position = previous
        for _ in range(count):
            position = self._positions.popleft()
        self.pending -= count
        if position[0] == previous[0]:
            self.size -= position[1] - previous[1]
        else:
            self.size = self._size_from(position)
        self._acked = position
        head = struct.pack("<QQ", *position)
        os.pwrite(self._cursor_fd, head + struct.pack("<I", zlib.crc32(head)), 0)
        for number in self._segments():
            if number >= position[0]:
                break
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._path(_segment_name(number)))

    def _size_from(self, position: tuple[int, int]) -> int:
        total = -position[1]
        for number in self._segments():
            if number >= position[0]:
                with contextlib.suppress(FileNotFoundError):
                    total += os.path.getsize(self._path(_segment_name(number)))
        return max(total, 0)

    def close(self) -> None:
        """Close the files and release the directory (idempotent)."""
        for name in ("_write_fd", "_cursor_fd", "_lock_fd"):
            fd = getattr(self, name)
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
                setattr(self, name, -1)

    def release_in_child(self) -> None:
        """After ``os.fork()`` in the child: let go of the parent's files without
        touching them (the lock is the parent's; its records are the parent's)."""
        self.close()


def _record_at(data: bytes, position: int) -> tuple[bytes, int] | None:
    """(payload, end) of the whole record at ``position``, or None when the record is
    torn: short, implausibly long, or failing its checksum."""
    end = position + _HEADER.size
    if end > len(data):
        return None
    length, crc = _HEADER.unpack_from(data, position)
    if length > _MAX_RECORD or end + length > len(data):
        return None
    payload = data[end:end + length]
    if zlib.crc32(payload) != crc:
        return None
    return payload, end + length


def _read_window(path: str, offset: int) -> bytes:
    """The bytes of a segment from ``offset``: a window of 1 MiB, or the whole first
    record when it is longer (so the caller always gets at least one whole record)."""
    try:
        with open(path, "rb") as segment:
            segment.seek(offset)
            data = segment.read(1 << 20)
            if len(data) >= _HEADER.size:
                length = _HEADER.unpack_from(data, 0)[0]
                if _HEADER.size + length > len(data) and length <= _MAX_RECORD:
                    data += segment.read(_HEADER.size + length - len(data))
            return data
    except FileNotFoundError:
        return b""


def _exhausted(path: str, offset: int) -> bool:
    """Whether ``offset`` is at (or past) the end of the segment at ``path``."""
    try:
        return offset >= os.path.getsize(path)
    except OSError:
        return True
