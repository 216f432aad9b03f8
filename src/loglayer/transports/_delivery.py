"""The delivery engine every network transport is built on.

One engine, so that every shipping transport keeps the same promise: an entry a transport
accepted is delivered, still pending, or counted as dropped, and ``stats()`` says which
(``accepted == delivered + dropped + pending`` whenever it is read). A transport supplies
a *wire*: how a batch of entries becomes one request and how that request is sent.
The rest is here, on top of ``QueueTransport``'s queue and worker (``_queue._Pipeline``):

* The caller's cost is a size estimate and an append under the queue's lock; encoding
  and I/O happen on the worker.
* Batches are cut by count (``max_batch_entries``), by bytes (``max_batch_bytes``: an
  encoded request over the limit is split in halves until it fits or holds one entry)
  and by age (``flush_interval``: an entry waits at most about that long).
* A transient failure (a connection error, a timeout, HTTP 408/429/5xx, gRPC
  UNAVAILABLE/RESOURCE_EXHAUSTED: the wire raises :class:`Retry`) is retried with
  exponential backoff and full jitter (a random wait between 0 and
  ``min(retry_max, retry_initial * 2**attempt)``), or after the server's ``Retry-After``
  / ``RetryInfo`` when it gave one. There is no retry limit of its own: a batch is
  retried until it is delivered or a deadline (``close``, interpreter exit) passes;
  while it is, the buffer fills and the overflow policy applies, so a dead backend
  costs bounded memory and counted drops, not a growing heap. A permanent failure (the
  wire raises :class:`Reject`: HTTP 4xx other than 408/429, a malformed batch) drops
  that batch, counted; a partial success drops the entries the server refused.
* Delivered so far: a protocol that acknowledges entry by entry (RELP's answers, TCP's
  acknowledged bytes) can say in its ``Retry`` which entries of the batch arrived
  before the failure (``Retry(..., delivered=indices)``). Those count as delivered at
  once and are not retried (nor counted in ``retried``), so a deadline that cuts the
  batch short gives up only on the others. With a spool, their records are
  acknowledged as soon as every entry before them in the batch is settled (the spool
  acknowledges in order): an acknowledged record is never sent again, and a record is
  acknowledged only once delivered (or refused for good). An entry delivered behind one
  that was not stays in the spool when the batch is given up, and the next start sends
  it again with the undelivered ones (at least once).
* Overflow: ``overflow="block"`` (the default) makes the caller wait for room at most
  ``block_timeout`` seconds, then counts the entry as dropped; ``"drop_newest"`` and
  ``"drop_oldest"`` drop without waiting. The buffer is bounded by ``max_buffer_entries``
  and by ``max_buffer_bytes`` of estimated entry size (a shallow estimate from the
  entry's message and keys, made again when the entry leaves rather than stored).
* ``spool_dir=``: a persistent spool (``_spool.Spool``): every accepted entry is written
  to it before it is queued, and removed once the backend acknowledged it. When the
  buffer is full, entries are written to the spool only and read back by the worker
  later, so an outage longer than the buffer loses nothing until the spool
  (``max_spool_bytes``) is full; entries a crashed or stopped process left are sent by
  the next transport made on the directory. Spooled entries are JSON records: values
  come back as JSON keeps them (bytes as text, tuples as lists, objects as their
  ``to_map`` form or text).
* ``flush(timeout=None)`` waits for delivery of what was accepted before it;
  ``close(timeout=5.0)`` delivers what it can by the deadline, then gives up on the
  rest (dropped, or left in the spool) and reports the counts in one line. At
  interpreter exit the same happens within ``loglayer._lifecycle.EXIT_TIMEOUT``.
* After ``os.fork()`` the child starts with an empty buffer, a fresh worker and a new
  connection; the parent's entries are the parent's to send. A child does not use the
  parent's spool (its directory is locked by the parent): it runs without one.
* A failure never reaches the log call: it goes to ``on_error`` (a ``TransportError``),
  or one line on stderr per kind per ``REPORT_INTERVAL``; drops go to ``on_drop(count)``.
"""

from __future__ import annotations

import contextlib
import copy
import random
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable
from os import PathLike
from typing import Any, Protocol

import orjson

from .._common import describe, stderr_line, text_of
from .._select import LogEntry, PluginSet, Transport
from .._validate import check_callable, check_choice, check_int, check_number, check_type
from ..levels import LogLevel
from ..utils import to_map
from ._queue import (
    _OVERFLOW_POLICIES,
    REPORT_INTERVAL,
    QueueTransport,
    _Pipeline,
    _rebuilt,
    _register,
)

__all__ = ["DeliveryTransport", "Reject", "Retry", "Wire"]

_MiB = 1 << 20

#: The longest wait a server's ``Retry-After`` (or gRPC ``RetryInfo``) gets: an hour.
#: Longer, negative or NaN values are taken as this or as no wait; a close() or the exit
#: drain cuts any wait short anyway.
RETRY_AFTER_LIMIT = 3600.0

#: After close()'s deadline, how long it still waits for the worker to finish the batch
#: it is sending: an attempt started before the deadline has its timeout cut to it, so
#: this is slack for the thread to be scheduled, not for I/O.
_CLOSE_GRACE = 0.25
#: The retry jitter's own generator: a logging library neither consumes nor moves the
#: application's ``random`` stream (which a program or a test may have seeded), least
#: of all from a worker thread at an unforeseeable moment.
_jitter = random.Random()


class Retry(Exception):  # noqa: N818 - a verdict, raised by a wire
    """A transient failure: the batch is sent again later. ``retry_after`` is the
    server's requested wait in seconds, when it gave one.

    ``delivered``: the entries of the batch the server acknowledged before the failure,
    as indices into the list ``encode`` was given (any order; an index reported by an
    earlier ``Retry`` of the same batch may be reported again, and counts once). The
    engine counts them as delivered at once, so that a deadline that cuts the batch
    short gives up only on the others, and retries only the others: a wire that reports
    entries here keeps them out of its next attempt (the engine passes the same
    ``payload`` object again, so the wire can tell the batch it already knows). A wire
    that knows nothing of the kind leaves it empty: the whole batch is retried.
    """

    def __init__(self, message: str, retry_after: float | None = None, *,
                 delivered: Iterable[int] = ()) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.delivered = delivered


class Reject(Exception):  # noqa: N818 - a verdict, raised by a wire
    """A permanent failure: the batch is dropped and counted, never sent again."""


class Wire(Protocol):
    """What a shipping transport plugs into the engine: its protocol's side of a batch.

    ``encode`` and ``send`` run on the worker thread only. ``send`` returns how many of
    the ``count`` entries the server refused in an otherwise successful answer (a
    partial success), with the reason; it raises :class:`Retry` or :class:`Reject`.
    A ``Retry`` may say which entries were delivered before the failure (its
    ``delivered``): a wire that speaks a protocol acknowledging entry by entry (RELP,
    or TCP's byte acknowledgements) keeps its batch's state across attempts, and then
    the count ``send`` finally returns is of the entries refused among those it never
    reported delivered.
    """

    def encode(self, entries: list) -> bytes: ...

    def send(self, payload: bytes, count: int, timeout: float) -> tuple[int, str]: ...

    def close(self) -> None: ...

    def after_fork_in_child(self) -> None: ...


# A wire may also have ``stats() -> dict[str, int]``: its counters are added to the
# transport's ``stats()`` (they never replace the engine's own keys).


# -- the spool's records -------------------------------------------------------------------

_RECORD_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


def _jsonable(value: Any) -> Any:
    """The ``default`` of a record's JSON: an object as its ``to_map`` form, else text."""
    mapped = to_map(value)
    return mapped if mapped is not None else text_of(value)


def _message(entry: Any) -> str:
    messages = entry.messages
    parts = [entry.prefix] if entry.prefix else []
    parts.extend(messages)
    if len(parts) == 1 and type(parts[0]) is str:
        return parts[0]
    return " ".join(part if type(part) is str else text_of(part) for part in parts)


def entry_record(entry: Any, extra: Any = None) -> bytes:
    """``entry`` as the JSON record the spool keeps (what ``record_entry`` rebuilds),
    with what the transport captured at the call (``extra``, JSON-able) beside it."""
    metadata = entry.metadata
    if metadata is not None and not isinstance(metadata, dict):
        mapped = to_map(metadata)
        metadata = mapped if mapped is not None else {"metadata": text_of(metadata)}
    record = {"l": int(entry.level), "t": entry.time_ns, "m": _message(entry),
              "d": entry.data, "md": metadata, "mk": entry.metadata_key,
              "ek": getattr(entry, "error_key", "err")}
    if extra is not None:
        record["x"] = extra
    try:
        return orjson.dumps(record, default=_jsonable, option=_RECORD_OPTIONS)
    except Exception:  # a key orjson cannot take, a cycle, a huge int: as text
        from .._render_py import sanitize_for_json
        return orjson.dumps(sanitize_for_json(record), option=_RECORD_OPTIONS)


def record_entry(payload: bytes) -> Any:
    """The queue item of a spooled record (see ``entry_record``): its ``LogEntry``, or
    ``(entry, extra)`` when the transport captured something at the call."""
    record = orjson.loads(payload)
    level = record["l"]
    with contextlib.suppress(ValueError):
        level = LogLevel(level)
    entry = LogEntry(level, [record["m"]], record["d"], record["md"], None, {}, {}, None,
                     record["t"], record["mk"], record["ek"])
    extra = record.get("x")
    return entry if extra is None else (entry, tuple(extra) if type(extra) is list else extra)


def _spooled_entry(payload: bytes) -> Any:
    """``record_entry``, or an entry saying the record could not be read (its
    checksum was right, so this is a bug, not a torn write): never garbage, never lost."""
    try:
        return record_entry(payload)
    except Exception as exc:
        return LogEntry(LogLevel.ERROR, [f"a spooled entry could not be read: {describe(exc)}"],
                        {}, None, None, {}, {}, None, time.time_ns(), None, "err")


def queued_item(entry: Any, extra: Any) -> tuple[Any, Any, Any, int]:
    """What the queue keeps of ``entry``: ``(entry, metadata at the call, captured,
    estimated size)``. Dict metadata is copied (a shallow copy, keeping a subclass),
    other metadata kept as it is. The size is a cheap estimate of the bytes the entry
    holds: its first message's length and a flat amount per data and metadata key
    (nested values are not walked)."""
    metadata = entry.metadata
    size = 256
    if type(metadata) is dict:
        size += 64 * len(metadata)
        metadata = metadata.copy()
    elif metadata is not None:
        metadata = _metadata_snapshot(metadata)
        if type(metadata) is dict:
            size += 64 * len(metadata)
    messages = entry.messages
    if messages:
        first = messages[0]
        if type(first) is str:
            size += len(first)
    data = entry.data
    if data:
        size += 64 * len(data)
    return entry, metadata, extra, size


# -- the shipper: the pipeline's one inner transport ----------------------------------------


class _Shipper:
    """Takes the worker's batches: splits them by bytes, encodes, sends, retries, and
    resolves every entry (delivered or dropped) with the pipeline."""

    enabled = True
    level = None

    def __init__(self, wire: Wire, tid: str, *, max_batch_bytes: int, timeout: float,
                 retry_initial: float, retry_max: float) -> None:
        self.wire = wire
        self.id = tid
        self.max_batch_bytes = max_batch_bytes
        self.timeout = timeout
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.pipeline: _DeliveryPipeline | None = None
        # Set by close() and the exit drain: retries stop once it has passed; the event
        # wakes a backoff sleep so that the new deadline is seen at once.
        self.deadline: float | None = None
        self.stop = threading.Event()

    def send(self, entry: Any) -> None:
        self.send_batch([entry])

    def send_batch(self, entries: list) -> None:
        pipeline = self.pipeline
        assert pipeline is not None
        try:
            payload = self.wire.encode(entries)
        except Exception as exc:
            pipeline.resolve(0, len(entries), f"could not encode {len(entries)} entries: "
                             f"{describe(exc)}")
            return
        if len(payload) > self.max_batch_bytes and len(entries) > 1:
            middle = len(entries) // 2
            self.send_batch(entries[:middle])
            self.send_batch(entries[middle:])
            return
        self._ship(payload, len(entries))

    def _ship(self, payload: bytes, count: int) -> None:
        pipeline = self.pipeline
        assert pipeline is not None
        attempt = 0
        progress: _Progress | None = None  # made at the first Retry that reports some
        while True:
            timeout = self.timeout
            deadline = self.deadline
            left = count if progress is None else count - progress.delivered
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:  # close() or the exit drain ran out of time
                    pipeline.give_up(left, "not delivered by the deadline")
                    return
                timeout = min(timeout, remaining)
            try:
                refused, reason = self.wire.send(payload, count, timeout)
            except Retry as exc:
                if exc.delivered:
                    if progress is None:
                        progress = _Progress(count)
                    newly, acked = progress.note(exc.delivered)
                    if newly or acked:
                        pipeline.deliver_part(newly, acked)
                        left = count - progress.delivered
                delay = exc.retry_after
                if delay is None:  # full jitter over the exponential bound
                    delay = _jitter.uniform(0, min(self.retry_max,
                                                   self.retry_initial * 2 ** min(attempt, 60)))
                elif not 0 <= delay <= RETRY_AFTER_LIMIT:  # NaN, negative or absurd
                    delay = RETRY_AFTER_LIMIT if delay > 0 else 0.0
                attempt += 1
                deadline = self.deadline
                remaining = float("inf") if deadline is None else deadline - time.monotonic()
                # a last attempt just before the deadline, none after it
                delay = min(delay, max(remaining - 0.01, 0.0))
                if pipeline.direct or remaining <= 0.01:
                    pipeline.give_up(left, f"not delivered by the deadline "
                                     f"(last failure: {exc})")
                    return
                pipeline.count_retry(left, exc)
                if self.stop.wait(delay):  # a deadline was set meanwhile: look again
                    self.stop.clear()
                continue
            except Reject as exc:
                pipeline.resolve(0, left, f"the backend rejected {left} entries: {exc}",
                                 _unacked(count, progress))
                return
            except Exception as exc:  # a wire bug: never lose the count
                pipeline.resolve(0, left, f"sending {left} entries failed: "
                                 f"{describe(exc)}", _unacked(count, progress))
                return
            if refused:
                refused = min(max(int(refused), 0), left)
                pipeline.resolve(left - refused, refused,
                                 f"the backend refused {refused} of {count} entries: "
                                 f"{reason}", _unacked(count, progress))
            else:
                pipeline.resolve(left, 0, "", _unacked(count, progress))
            return

    def flush(self) -> None:
        """Batches are sent as they are taken; nothing is held here."""

    def close(self) -> None:
        self.wire.close()


class _Progress:
    """What a batch's ``Retry`` verdicts said was delivered so far: which entries
    (``done``), how many (``delivered``), and how many from the batch's start are
    settled (``acked``): the spool acknowledges records in order only, so an entry
    delivered after one that is not yet stays in the spool until that one is settled
    (or, if the batch is given up, until the next start sends both again)."""

    __slots__ = ("done", "delivered", "acked")

    def __init__(self, count: int) -> None:
        self.done = bytearray(count)
        self.delivered = 0
        self.acked = 0

    def note(self, indices: Iterable[int]) -> tuple[int, int]:
        """Take a verdict's indices (out of range or repeated ones ignored); return how
        many are new, and by how many the settled run from the start grew."""
        done = self.done
        count = len(done)
        newly = 0
        try:
            for index in indices:
                if type(index) is int and 0 <= index < count and not done[index]:
                    done[index] = 1
                    newly += 1
        except TypeError:  # a wire bug (not an iterable): what was taken stands
            pass
        self.delivered += newly
        start = acked = self.acked
        while acked < count and done[acked]:
            acked += 1
        self.acked = acked
        return newly, acked - start


def _unacked(count: int, progress: _Progress | None) -> int:
    """The records of a batch the spool has not acknowledged yet (all of them unless a
    verdict delivered a run from its start)."""
    return count if progress is None else count - progress.acked


# -- the pipeline ----------------------------------------------------------------------------


class _DeliveryPipeline(_Pipeline):
    """``QueueTransport``'s pipeline with the engine's accounting: sizes, the spool,
    and the counters of ``stats()``. Every counter changes under ``self.lock``."""

    def __init__(self, owner: DeliveryTransport, shipper: _Shipper, *, max_entries: int,
                 max_bytes: int, overflow: str, block_timeout: float, batch_size: int,
                 flush_interval: float, spool: Any, on_drop: Callable[[int], Any] | None,
                 on_error: Callable[[Exception], Any] | None,
                 capture: Callable[[Any], Any] | None) -> None:
        self.max_bytes = max_bytes
        self.capture = capture
        self.spool = spool
        self.shipper = shipper
        super().__init__(owner, deque(), ((shipper, shipper.id, shipper.send,
                                           shipper.send_batch),), PluginSet(()),
                         max_entries, overflow, block_timeout, batch_size, flush_interval,
                         on_drop, on_error)
        if spool is not None and spool.recovered:
            self.accepted += spool.recovered

    def _fresh_state(self) -> None:
        super()._fresh_state()
        self.buffered = 0
        self.accepted = 0
        self.delivered = 0
        self.rejected = 0
        self.retried = 0
        self.unresolved = 0  # taken by the worker, not yet delivered or dropped
        self.given_up = 0  # entries a deadline stopped (dropped, or left in the spool)
        # With a spool: entries given up on but kept on disk for the next start; once
        # there are any, acknowledgements no longer move the spool's cursor (it moves
        # in order: past a kept entry would lose it), so later deliveries are sent
        # again at the next start (at least once).
        self.left_in_spool = 0
        self.spool_frozen = False
        self.last_reject_report = float("-inf")
        self.rejects_not_shown = 0

    # -- accepting ---------------------------------------------------------------------

    def _full(self, size: int = 0) -> bool:
        return len(self.queue) >= self.max_size or (
            bool(self.queue) and self.buffered + size > self.max_bytes)

    def _waiting(self) -> int:
        spool = self.spool
        return len(self.queue) + (spool.unread if spool is not None else 0)

    def enqueue(self, entry: Any) -> None:
        """Accept one entry: the caller's side of ``send``. Items are kept as
        ``queued_item`` makes them; the worker rebuilds the entry when the metadata copy
        is needed (``_normalized``), off the caller's thread."""
        capture = self.capture
        item = queued_item(entry, capture(entry) if capture is not None else None)
        size = item[3]
        spool = self.spool
        if spool is None:
            with self.lock:
                queue = self.queue
                # The common case: open, room, worker running and awake (or not due).
                if (not self.closed and not self.direct and self.worker is not None
                        and len(queue) < self.max_size and size <= self.max_bytes
                        and self.buffered + size <= self.max_bytes
                        and (not self.sleeping or len(queue) + 1 < self.wake_at)):
                    self.accepted += 1
                    queue.append(item)
                    self.buffered += size
                    return
        else:
            record = entry_record(entry, item[2])
        woke = False
        with self.lock:
            if self.closed:
                raise RuntimeError(f"{self.kind} {self.name!r} is closed; the entry was "
                                   "not sent")
            self.accepted += 1
            if size > self.max_bytes:
                self.dropped += 1
                return
            if spool is not None:
                if not self._spool_append(spool, record, item, size):
                    return
            else:
                if not self.direct:
                    woke = self._wake()
                    try:
                        if self._full(size) and not self._make_room(size):
                            return
                    except RuntimeError:  # closed while it waited: never queued
                        self.dropped += 1
                        raise
                if not self.direct:
                    self.queue.append(item)
                    self.buffered += size
                    if not woke:
                        return
            direct = self.direct
            if direct:
                self.unresolved += 1
        if not direct:
            if woke:
                # The worker was just woken: let it run now. Woken while this thread
                # holds the GIL, it would wait for the interpreter to take the GIL from
                # this thread (the switch interval, 5 ms), its batch growing meanwhile.
                time.sleep(0)
            return
        self._send_direct(_normalized((item,))[0][0])

    def _wake(self) -> bool:
        """Start the worker if needed and wake it when a batch is ready (True when it was
        woken). Holds the lock."""
        if not self.stopping:
            self._ensure_worker()
        if self.sleeping and not self.stopping and self._waiting() + 1 >= self.wake_at:
            self.sleeping = False
            self.wakeup.notify()
            return True
        return False

    def _make_room(self, size: int) -> bool:
        """The overflow policy for a full buffer; False when the entry is dropped."""
        if self.overflow == "drop_newest":
            self.dropped += 1
            return False
        if self.overflow == "drop_oldest":
            while self.queue and self._full(size):
                self.buffered -= self.queue.popleft()[3]
                self.taken += 1
                self.dropped += 1
            return True
        return self._wait_for_room(size)

    def _spool_append(self, spool: Any, record: bytes, item: Any, size: int) -> bool:
        """Write the record; keep the entry in memory too unless the buffer is full or
        earlier entries are spilled (order). False when it was dropped (spool full)."""
        if self.direct:
            spilled = bool(spool.unread)
        else:
            self._wake()
            spilled = bool(spool.unread) or self._full(size)
        if not spool.append(record, spilled=spilled):
            self.dropped += 1
            return False
        if not spilled and not self.direct:
            self.queue.append(item)
            self.buffered += size
        elif spilled and self.direct:
            return False  # left in the spool for the next start
        return True

    def _take(self, limit: int) -> list:
        queue = self.queue
        count = min(len(queue), limit)
        if count:
            popleft = queue.popleft
            batch, size = _normalized(popleft() for _ in range(count))
            self.buffered -= size
        elif self.spool is not None and self.spool.unread:
            batch = [_spooled_entry(payload) for payload in self.spool.read(limit)]
            count = len(batch)
        else:
            return []
        self.taken += count
        self.unresolved += count
        return batch

    def _clear(self) -> list:
        self.buffered = 0
        return _normalized(super()._clear())[0]

    def _prepare(self, batch: list) -> list:
        return batch  # no plugins here; _take and _clear made the items already

    def _sending(self, count: int) -> None:
        self.unresolved += count

    def _direct_failed(self) -> None:
        self.unresolved -= 1
        self.dropped += 1

    def _abandon(self, count: int) -> int:
        if self.spool is None:
            return count
        self.left_in_spool += count  # kept for the next start
        self.spool_frozen = True
        return 0

    # -- resolving ---------------------------------------------------------------------

    def resolve(self, delivered: int, dropped: int, reason: str,
                acked: int | None = None) -> None:
        """The shipper's final verdict on a batch in flight: ``delivered`` and
        ``dropped`` entries (those a ``Retry`` had not already delivered), and
        ``acked`` records to acknowledge in the spool, the oldest in flight (by
        default ``delivered + dropped``; more when a partial verdict delivered entries
        the spool could not acknowledge yet, being behind an undelivered one)."""
        with self.lock:
            self.unresolved -= delivered + dropped
            self.delivered += delivered
            self.rejected += dropped
            if self.spool is not None and not self.spool_frozen:
                self.spool.ack(delivered + dropped if acked is None else acked)
        if dropped:
            self._rejected(dropped, reason)

    def deliver_part(self, delivered: int, acked: int) -> None:
        """A ``Retry``'s partial verdict: ``delivered`` entries of the batch in flight
        arrived before the failure; the spool acknowledges the ``acked`` oldest records
        in flight (the batch's settled run from its start grew by that much). The rest
        of the batch is still in flight."""
        with self.lock:
            self.unresolved -= delivered
            self.delivered += delivered
            if acked and self.spool is not None and not self.spool_frozen:
                self.spool.ack(acked)

    def give_up(self, count: int, reason: str) -> None:
        """A deadline passed before the entries could be delivered (``count``: those of
        the batch a partial verdict had not delivered): without a spool they are
        dropped; with one they stay in it for the next start, and so do the delivered
        entries of the batch the spool could not acknowledge in order (sent again at
        the next start: at least once)."""
        with self.lock:
            self.given_up += count
        if self.spool is None:
            self.resolve(0, count, reason)
            return
        with self.lock:
            self.unresolved -= count
            self.left_in_spool += count
            self.spool_frozen = True
        self._rejected(0, reason)

    def _give_up_queued(self) -> None:
        """close() ran out of time: the entries still in the buffer are given up (left
        in the spool for the next start when there is one) without being attempted."""
        with self.lock:
            count = len(self.queue)
            if not count:
                return
            self.queue.clear()
            self.taken += count
            self.buffered = 0
            self.given_up += count
            lost = self._abandon(count)
            self.dropped += lost
            self.not_full.notify_all()
        self._rejected(lost, f"{count} entries not sent by the deadline")

    def _close_inners(self) -> None:
        """The wire is closed, then the spool: by whoever ends the pipeline (the worker
        when it finishes, however late after close() returned), so that the directory
        is released in every case."""
        super()._close_inners()
        spool = self.spool  # no lock: abandon() may run this from a finalizer
        if spool is not None:
            spool.close()

    def count_retry(self, count: int, exc: Exception) -> None:
        with self.lock:
            self.retried += count

    def _rejected(self, count: int, reason: str) -> None:
        if count and self.on_drop is not None:
            self._call_on_drop(count)
        if self.on_error is not None:
            self._failed(self.name, RuntimeError(reason))
            return
        now = time.monotonic()
        with self.lock:
            if now - self.last_reject_report < REPORT_INTERVAL:
                self.rejects_not_shown += 1
                return
            self.last_reject_report = now
            hidden, self.rejects_not_shown = self.rejects_not_shown, 0
        more = f" ({hidden} more such failures not shown)" if hidden else ""
        stderr_line(f"{self.kind} {self.name!r}: {reason}{more}")

    @property
    def kind(self) -> str:
        owner = self.owner()
        return type(owner).__name__ if owner is not None else "transport"

    def stats(self) -> dict[str, int]:
        with self.lock:
            spool = self.spool
            pending = len(self.queue) + self.unresolved + self.left_in_spool
            if spool is not None:
                pending += spool.unread
            stats = {"accepted": self.accepted, "delivered": self.delivered,
                     "dropped": self.dropped + self.rejected, "retried": self.retried,
                     "pending": pending, "buffered_bytes": self.buffered}
            if spool is not None:
                stats["spooled"] = spool.pending
                stats["spool_bytes"] = spool.size
                stats["torn"] = spool.torn
        wire_stats = getattr(self.shipper.wire, "stats", None)
        if callable(wire_stats):  # the protocol's own counters (truncated, reconnects...)
            for key, value in wire_stats().items():
                stats.setdefault(key, value)
        return stats

    # -- deadlines ---------------------------------------------------------------------

    def set_deadline(self, deadline: float) -> None:
        shipper = self.shipper
        if shipper.deadline is None or deadline < shipper.deadline:
            shipper.deadline = deadline
        shipper.stop.set()

    def close(self, timeout: float | None) -> bool:
        """``_Pipeline.close`` with a deadline for retries; True only when everything
        accepted was delivered or dropped by the backend's own answer."""
        given_up = self.given_up
        if timeout is not None:
            self.set_deadline(time.monotonic() + timeout)
        done = super().close(timeout)
        worker = self.worker
        if not done and timeout is not None and worker is not None \
                and worker.ident != threading.get_ident():
            # The deadline has passed: what is still queued will not be attempted, and
            # the batch in flight ends by the deadline; settle both, so that the line
            # and the counts close() reports are final.
            self._give_up_queued()
            worker.join(_CLOSE_GRACE)
            done = not worker.is_alive()
        self._final_line("closed")
        with self.lock:
            return done and self.given_up == given_up and not self.unresolved

    def drain_at_exit(self, deadline: float) -> None:
        if self.closed or self.direct:
            return
        self.set_deadline(deadline)
        super().drain_at_exit(deadline)
        self._final_line("at exit")

    def _final_line(self, when: str) -> None:
        stats = self.stats()
        if stats["pending"] or stats["dropped"]:
            where = " (in the spool, sent at the next start)" if self.spool is not None else ""
            stderr_line(f"{self.kind} {self.name!r} {when}: of {stats['accepted']} entries "
                        f"accepted, {stats['delivered']} delivered, {stats['dropped']} "
                        f"dropped, {stats['pending']} pending{where}")

    def after_fork_in_child(self) -> None:
        spool = self.spool
        if spool is not None:
            spool.release_in_child()
            self.spool = None
        shipper = self.shipper
        shipper.deadline = None
        shipper.stop = threading.Event()
        shipper.wire.after_fork_in_child()
        super().after_fork_in_child()


def _metadata_snapshot(metadata: Any) -> Any:
    """Metadata that is not a plain dict, as ``QueueTransport`` keeps it: a dict
    subclass copied (shallow, keeping the subclass), anything else as it is."""
    if isinstance(metadata, dict):
        try:
            return copy.copy(metadata)
        except Exception:
            return dict(metadata)
    return metadata


def _normalized(items: Iterable[tuple]) -> tuple[list, int]:
    """What the wire gets for queued items (``queued_item``'s), and the sum of their
    sizes: each entry as it is while the caller's metadata still equals its snapshot
    (a comparison that raises means it does not), else rebuilt with the snapshot;
    paired with what was captured. One loop, no call per entry in the common case: it
    is the worker's side of every batch."""
    batch: list = []
    append = batch.append
    total = 0
    for entry, metadata, extra, size in items:
        total += size
        current = entry.metadata
        if metadata is not current:
            try:
                same = bool(metadata == current)
            except Exception:
                same = False
            if not same:
                entry = _rebuilt(entry, entry.level, entry.messages, entry.data, metadata)
        append(entry if extra is None else (entry, extra))
    return batch, total


# -- the public base ----------------------------------------------------------------------


class DeliveryTransport(QueueTransport):
    """The base of the shipping transports: a ``QueueTransport`` whose one inner
    transport sends batches over a :class:`Wire` (see the module docstring).

    Delivery options (every shipping transport takes them as keywords, with defaults
    that suit its protocol): ``max_batch_entries``, ``max_batch_bytes``,
    ``flush_interval``, ``max_buffer_entries``, ``max_buffer_bytes``, ``overflow``,
    ``block_timeout``, ``timeout`` (one request), ``retry_initial``, ``retry_max``,
    ``spool_dir``, ``max_spool_bytes``, ``on_drop``, ``on_error``.

    For a transport built on this class: ``capture(entry)``, when given, runs on the
    caller's thread at each ``send`` and returns what the wire needs from the moment of
    the call (the active trace, for OTLP), JSON-able or None; the queue then holds
    ``(entry, captured)`` pairs, and so does what the wire's ``encode`` receives.
    """

    def __init__(self, wire: Wire, *, id: str = "", level: Any = None, enabled: bool = True,
                 max_batch_entries: int = 512, max_batch_bytes: int = 4 * _MiB,
                 flush_interval: float = 1.0, max_buffer_entries: int = 20_000,
                 max_buffer_bytes: int = 64 * _MiB, overflow: str = "block",
                 block_timeout: float = 5.0, timeout: float = 10.0,
                 retry_initial: float = 0.5, retry_max: float = 30.0,
                 spool_dir: Any = None, max_spool_bytes: int = 1024 * _MiB,
                 on_drop: Callable[[int], Any] | None = None,
                 on_error: Callable[[Exception], Any] | None = None,
                 capture: Callable[[Any], Any] | None = None) -> None:
        Transport.__init__(self, id, level=level, enabled=enabled)
        check_int("max_batch_entries", max_batch_entries, minimum=1)
        check_int("max_batch_bytes", max_batch_bytes, minimum=1)
        check_number("flush_interval", flush_interval, above=0)
        check_int("max_buffer_entries", max_buffer_entries, minimum=1)
        check_int("max_buffer_bytes", max_buffer_bytes, minimum=1)
        check_choice("overflow", overflow, _OVERFLOW_POLICIES)
        check_number("block_timeout", block_timeout, minimum=0, finite=True)
        check_number("timeout", timeout, above=0, finite=True)
        check_number("retry_initial", retry_initial, above=0, finite=True)
        check_number("retry_max", retry_max, minimum=retry_initial, finite=True)
        check_int("max_spool_bytes", max_spool_bytes, minimum=1)
        check_callable("on_drop", on_drop, allow_none=True)
        check_callable("on_error", on_error, allow_none=True)
        check_type("spool_dir", spool_dir, (str, bytes, type(None), PathLike),
                   "a path or None")
        spool = None
        if spool_dir is not None:
            from ._spool import Spool
            spool = Spool(spool_dir, max_bytes=max_spool_bytes,
                          segment_bytes=max(min(16 * _MiB, max_spool_bytes // 8), 4096))
        shipper = _Shipper(wire, self.id, max_batch_bytes=max_batch_bytes,
                           timeout=float(timeout), retry_initial=float(retry_initial),
                           retry_max=float(retry_max))
        self._queue: deque[Any] = deque()
        self._soft = -1  # send() below never takes QueueTransport's lock-free path
        pipeline = _DeliveryPipeline(self, shipper, max_entries=max_buffer_entries,
                                     max_bytes=max_buffer_bytes, overflow=overflow,
                                     block_timeout=float(block_timeout),
                                     batch_size=max_batch_entries,
                                     flush_interval=float(flush_interval), spool=spool,
                                     on_drop=on_drop, on_error=on_error, capture=capture)
        shipper.pipeline = pipeline
        self._pipeline = pipeline
        self._delivery = pipeline
        self._queue = pipeline.queue
        self._finalizer = weakref.finalize(self, pipeline.abandon)
        self._finalizer.atexit = False
        _register(pipeline)
        if spool is not None and spool.unread:  # the previous process's entries
            with pipeline.lock:
                pipeline._ensure_worker()

    def send(self, entry: Any) -> None:
        self._delivery.enqueue(entry)

    def stats(self) -> dict[str, int]:
        """Counters since the transport was made (in a forked child: since the fork).

        ``accepted``: entries given to ``send`` (plus, with a spool, those a previous
        process left); ``delivered``: acknowledged by the backend; ``dropped``: given up
        on (overflow, a full spool, rejected by the backend, a deadline passed without a
        spool); ``retried``: entries whose batch was attempted again after a transient
        failure, once per attempt (an entry retried three times counts three, whether
        or not the failed attempt had put anything on the wire; entries a partial
        verdict delivered are not retried); ``pending``:
        buffered, being sent, or in the spool. ``accepted == delivered + dropped +
        pending`` holds in every mapping returned. Also ``buffered_bytes`` and, with a
        spool, ``spooled``, ``spool_bytes`` and ``torn`` (records cut by a crash)."""
        return self._delivery.stats()

    @property
    def dropped(self) -> int:
        """Entries given up on (the ``dropped`` of ``stats()``)."""
        return self.stats()["dropped"]

    def close(self, timeout: float | None = 5.0) -> bool:  # type: ignore[override]
        """Deliver what can be delivered within ``timeout`` seconds, then stop: the
        rest is dropped (or left in the spool) and one line reports the counts.
        Returns False when something was left."""
        return self._delivery.close(timeout)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} id={self.id!r}>"

