"""A transport that only enqueues: one worker thread does the slow part.

The caller's cost of a log call through ``QueueTransport`` is one ``deque.append``
behind a length check; rendering, I/O and the queue's own plugins run on a daemon
worker thread. A ``collections.deque`` was chosen over ``queue.SimpleQueue`` after
measuring both from the log call: ``SimpleQueue.put`` is a little cheaper while the
worker is busy, but it wakes a waiting worker on every put, a futex syscall that the
caller pays once per entry whenever logging is not saturated. With the deque the
caller wakes the worker at most once per batch.

Batching policy. The worker sleeps until ``batch_size`` entries (or ``max_size``, if
smaller) are waiting, a ``flush()``/``close()`` asks for it, or ``flush_interval``
seconds have passed; then it drains the queue in batches of up to ``batch_size``
entries until it is empty. An inner transport with ``send_batch(entries)`` gets each
batch in one call, any other gets ``send(entry)`` per entry. So an entry waits at most
about ``flush_interval`` seconds before it reaches the inner transports, and a busy
queue is written in large batches. While a ``flush()`` waits, the inner transports are
flushed once, when every entry enqueued before it has been sent.

Loss policy. By default nothing is dropped while the worker makes progress: a full
queue makes the caller wait (``overflow="block"``), for at most ``block_timeout``
seconds, so a burst larger than ``max_size`` is slowed down rather than cut. Dropping
(``"drop_newest"``, ``"drop_oldest"``) is opt-in, for callers that must never wait.
Every entry the queue gives up on is counted in ``dropped`` and reported (to
``on_drop`` or stderr); an entry sent after ``close()`` is refused with an exception
instead, which the logger reports as a ``TransportError``.

Drain and fork policy. Pending entries are drained when ``close()`` is called, when the
transport is garbage collected, and at interpreter exit (``loglayer._lifecycle``'s exit
handler, which holds the queues only weakly, gives everything it drains or closes
together ``EXIT_TIMEOUT`` seconds). The exit drain flushes the inner transports but does
not close them, and from then on the queue sends each entry synchronously, on the
caller's thread: ``atexit`` runs the handlers registered before the first queue existed
after the drain, and what they log is still written. Entries the exit drain could not
send by the deadline are counted in ``dropped`` and reported with their number.

A child made by ``os.fork()`` starts with an empty queue and no worker; its first entry
starts a fresh worker. The parent's pending entries are sent by the parent only, so
nothing is written twice; before the fork, the forking thread waits (at most
``FORK_TIMEOUT`` seconds) for the worker to finish the batch it is sending, so the child
never inherits an inner transport in the middle of a write.
"""

from __future__ import annotations

import copy
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .. import _lifecycle
from .._common import (
    describe,
    merge_by_id,
    min_level_of,
    plugin_failed,
    stderr_line,
    transport_failed,
    transport_list,
    transport_slot,
)
from .._lifecycle import EXIT_TIMEOUT  # noqa: F401 - re-exported for the tests
from .._select import HookParams, LogEntry, PluginSet, Transport, allows, run_hooks
from .._validate import check_callable, check_choice, check_int, check_number
from ..typing import LevelLike
from ..typing import Plugin as PluginLike
from ..typing import Transport as TransportLike

__all__ = ["QueueTransport"]

#: Seconds a fork waits for a worker to finish the batch it is sending.
FORK_TIMEOUT = 5.0
#: Drops and stderr failure lines are reported at most once per this many seconds.
REPORT_INTERVAL = 5.0

_OVERFLOW_POLICIES = ("drop_newest", "drop_oldest", "block")
#: The hooks a stage of ordinary plugins runs per entry (gates run last, per transport).
_ENTRY_HOOKS = frozenset(["on_before_data_out", "on_before_message_out",
                          "transform_log_level"])


class QueueTransport(Transport):
    """Wraps one transport (or a sequence) so that logging to it never waits on I/O.

    ``send(entry)`` appends the entry to an in-memory queue and returns; a daemon
    worker thread sends the entries to the inner transports in batches (see the
    module docstring for when).

    * What is read when. The entry itself is immutable. Its metadata, when it is a
      ``dict`` (or a dict subclass), is copied at the log call: a shallow copy, so the
      keys and values are those of the call, but a nested dict or list the caller
      changes later is read by the worker in its later state. Nothing else is copied:
      metadata of another type (a dataclass, a model), the objects in the messages and
      the field values in ``entry.data`` (the logger builds that dict at the call, but
      a value is the object that was bound) are rendered by the worker, as they are
      then. The serialized error in ``entry.data`` is made at the call.
    * ``max_size``: how many entries may wait. When the queue is full, ``overflow``
      decides: ``"block"`` (the default) makes the caller wait for room, at most
      ``block_timeout`` seconds (default 5), after which the entry is dropped; once a
      wait timed out, later callers drop at once until the worker takes an entry
      again, so a stuck inner transport costs the logging threads one timeout, not
      one per entry. ``"drop_newest"`` drops the entry being logged and
      ``"drop_oldest"`` the oldest waiting one, without waiting. Threads logging at the
      same instant can overshoot ``max_size`` by one entry each.
    * ``dropped``: entries the queue gave up on so far: overflow drops, block
      timeouts, entries a ``close()`` found still queued after the worker stopped, and
      entries the exit drain could not send by its deadline. Drops are reported at
      most once per ``REPORT_INTERVAL`` seconds (and once more at ``close()``): to
      ``on_drop(count)`` with the count since the previous report, or as one line on
      stderr.
    * ``flush(timeout=None)`` waits until every entry enqueued before the call has
      been sent and the inner transports flushed; it returns False if ``timeout``
      (seconds) passed first. ``close(timeout=None)`` drains the queue, closes the
      inner transports and stops the worker; a later ``send`` raises ``RuntimeError``
      (which the logger reports as a ``TransportError``).
    * At interpreter exit the queue is drained (within ``EXIT_TIMEOUT`` seconds), its
      inner transports are flushed but left open, and later entries (an ``atexit``
      handler that logs) are sent synchronously on the caller's thread.
    * An inner transport that raises never stops the worker: each failure goes to
      ``on_error(TransportError)``, or without it to stderr, one line per inner
      transport and exception type per ``REPORT_INTERVAL`` with a count of the
      failures not shown. The inner transports' ``enabled`` and ``level`` are read
      once per batch.
    * ``plugins``: plugins that run on the worker thread, once per entry, before the
      inner transports. First every plugin's ``on_metadata_called`` runs over the
      entry's metadata (when it has some), chained as in a logger: a hook that returns
      None drops the metadata (the entry is still sent, without it), and a failing hook
      drops it and is reported. Then the dispatch hooks (``on_before_data_out``,
      ``on_before_message_out``, ``transform_log_level``, ``should_send``) run with
      the logger's rules: data hook results merge into a copy of ``entry.data``,
      message and level hooks replace, ``should_send`` is asked per inner transport
      with ``params.transport_id``, and a failing hook is reported as a
      ``PluginError`` to the plugin's ``on_error`` (or one stderr line) and skipped (a
      failing gate lets the entry through). ``on_fields_called`` does not apply: the
      fields were bound before the entry existed; they are in ``entry.data``, which
      the data hooks see. So ``redact(...)`` here censors metadata, data and messages
      off the threads that log. A plugin with a
      ``dispatch_batch(entries, transport_ids)`` method (``GrpcPlugin(batch=True)``)
      gets the whole batch in one call instead, in its place among the plugins, and
      returns per entry its level, messages, data and one send decision per transport.
    * A hook or inner transport that logs back into the same queue from the worker
      feeds the queue; with ``overflow="block"`` such an entry is dropped (and
      counted) instead of making the worker wait for itself.
    """

    __slots__ = ("_queue", "_soft", "_pipeline", "_finalizer")

    def __init__(self, inner: TransportLike | Sequence[TransportLike], *,
                 max_size: int = 10_000, overflow: str = "block",
                 block_timeout: float = 5.0, batch_size: int = 256,
                 flush_interval: float = 0.5, plugins: Iterable[PluginLike] = (),
                 on_drop: Callable[[int], Any] | None = None,
                 on_error: Callable[[Exception], Any] | None = None, id: str = "",
                 level: LevelLike | None = None, enabled: bool = True) -> None:
        super().__init__(id, level=level, enabled=enabled)
        check_int("max_size", max_size, minimum=1)
        check_choice("overflow", overflow, _OVERFLOW_POLICIES)
        check_number("block_timeout", block_timeout, minimum=0, finite=True)
        check_int("batch_size", batch_size, minimum=1)
        check_number("flush_interval", flush_interval, above=0)
        check_callable("on_drop", on_drop, allow_none=True)
        check_callable("on_error", on_error, allow_none=True)
        plugin_set = PluginSet(plugins)
        inners = transport_list("inner", inner)
        slots = merge_by_id((), [_inner_slot(transport) for transport in inners], _slot_id)

        self._queue: deque[Any] = deque()
        # The fast path of send() appends while len(queue) < _soft. The pipeline moves
        # it: 0 until a worker runs, batch_size while the worker sleeps (so the send
        # that fills a batch wakes it), max_size while it drains, -1 once closed or
        # draining at exit.
        self._soft = 0
        self._pipeline = _Pipeline(self, self._queue, slots, plugin_set, max_size, overflow,
                                   float(block_timeout), batch_size, float(flush_interval),
                                   on_drop, on_error)
        self._finalizer = weakref.finalize(self, self._pipeline.abandon)
        self._finalizer.atexit = False  # the exit drain below handles interpreter exit
        _register(self._pipeline)

    def send(self, entry: Any) -> None:
        queue = self._queue
        if len(queue) < self._soft:
            queue.append(entry if entry.metadata is None else _snapshot(entry))
            return
        self._pipeline.enqueue(entry)

    @property
    def dropped(self) -> int:
        """How many entries the queue gave up on (see the class docstring)."""
        return self._pipeline.dropped

    @property
    def transports(self) -> tuple[Any, ...]:
        """The inner transports, in order."""
        return tuple(slot[0] for slot in self._pipeline.inners)

    # flush and close add a timeout and report whether they finished in time; the kernel
    # calls them as the base class's (no argument, result unused), which still works.
    def flush(self, timeout: float | None = None) -> bool:  # type: ignore[override]
        """Wait until the entries enqueued before this call are sent and the inner
        transports flushed; False when ``timeout`` seconds passed first. Called from
        the worker thread itself (a hook or inner transport), it returns False at once."""
        return self._pipeline.flush(timeout)

    def close(self, timeout: float | None = None) -> bool:  # type: ignore[override]
        """Drain the queue, close the inner transports and stop the worker.

        Returns False when the worker did not finish within ``timeout`` seconds (it
        keeps draining in the background). Later sends raise ``RuntimeError``.
        """
        return self._pipeline.close(timeout)

    def __repr__(self) -> str:
        return f"<QueueTransport id={self.id!r} transports={list(self.transports)!r}>"


def _slot_id(slot: tuple) -> str:
    return slot[1]


def _inner_slot(transport: Any) -> tuple[Any, str, Any, Any]:
    """(transport, id, send, send_batch or None), validated like the logger does."""
    transport, tid, send = transport_slot(transport)
    send_batch = getattr(transport, "send_batch", None)
    return (transport, tid, send, send_batch if callable(send_batch) else None)


def _snapshot(entry: Any) -> Any:
    """What the queue keeps of ``entry``: the entry, or ``(entry, copy of its metadata)``
    when the metadata is a dict the caller may change after the log call returns."""
    metadata = entry.metadata
    if type(metadata) is dict:
        return (entry, metadata.copy())
    if isinstance(metadata, dict):
        try:
            return (entry, copy.copy(metadata))  # keeps the subclass
        except Exception:
            return (entry, dict(metadata))
    return entry


#: The modules whose ``LogEntry`` a rebuilt entry keeps: a compiled renderer accepts only
#: the compiled core's entries, and a queue may carry either core's (the benchmark runs
#: both side by side).
_CORE_MODULES = frozenset(["loglayer._core", "loglayer._core_py"])


def _rebuilt(entry: Any, level: Any, messages: Any, data: Any, metadata: Any) -> Any:
    """``entry`` with these four parts replaced (entries are immutable), as an entry of
    the same core; any other object becomes a live core's ``LogEntry``."""
    cls = type(entry)
    if cls is not LogEntry and not (cls.__name__ == "LogEntry"
                                    and cls.__module__ in _CORE_MODULES):
        cls = LogEntry
    return cls(level, messages, data, metadata, entry.error, entry.fields, entry.ctx,
               entry.prefix, entry.time_ns, entry.metadata_key,
               getattr(entry, "error_key", "err"), getattr(entry, "source", None),
               getattr(entry, "groups", ()))


def _params(entry: Any, params: HookParams | None = None) -> HookParams:
    """``entry`` as the dispatch hooks see it: ``params`` brought up to date with it, or
    new params. Each entry keeps one params object for all its hooks and gates, as in a
    logger, so that a plugin can tell at its gate which entries its hooks failed on
    (``GrpcPlugin(fail_closed=True)`` refuses those)."""
    if params is None:
        return HookParams(entry.level, entry.messages, entry.data, entry.metadata,
                          entry.error, entry.fields, entry.ctx, entry.prefix,
                          getattr(entry, "groups", ()))
    params.level, params.messages, params.data = entry.level, entry.messages, entry.data
    params.metadata, params.prefix = entry.metadata, entry.prefix
    return params


def _run_entry_hooks(plugins: Any, entry: Any, params: HookParams) -> Any:
    """An entry after one stage of per-entry data, message and level hooks (the
    kernel's ``run_hooks``: the same rules as a logger's dispatch), run with ``params``,
    the entry's params (see ``_params``)."""
    run_hooks(plugins, params)  # entry.data is shared: merges go into a copy
    if params.level is entry.level and params.messages is entry.messages \
            and params.data is entry.data:
        return entry
    return _rebuilt(entry, params.level, params.messages, params.data, entry.metadata)


def _run_metadata_hooks(hooks: tuple, metadata: Any) -> Any:
    """SPEC §4's chain of ``on_metadata_called`` hooks over one entry's metadata: each
    gets the previous result; None (returned, or a failing hook's fallback) drops the
    metadata and stops the chain. A failure is reported as the kernel reports it."""
    for fn, pid, on_error in hooks:
        try:
            metadata = fn(metadata)
        except Exception as exc:
            plugin_failed("on_metadata_called", pid, on_error, exc)
            return None
        if metadata is None:
            return None
    return metadata


class _Pipeline:
    """The queue's state and its worker, apart from the ``QueueTransport`` so that the
    worker thread (which holds this) does not keep the transport alive: when the
    transport is collected, its finalizer stops the pipeline, which drains first.

    States: open (entries are queued); closed (``close()`` or collection: sends are
    refused); direct (after the exit drain: sends are delivered on the caller's thread).
    """

    def __init__(self, owner: QueueTransport, queue: deque[Any], inners: tuple, plugins: Any,
                 max_size: int, overflow: str, block_timeout: float, batch_size: int,
                 flush_interval: float, on_drop: Callable[[int], Any] | None,
                 on_error: Callable[[Exception], Any] | None) -> None:
        self.owner = weakref.ref(owner)
        self.name = owner.id
        self.queue = queue
        self.inners = inners
        self.max_size = max_size
        self.wake_at = min(batch_size, max_size)
        self.overflow = overflow
        self.block_timeout = block_timeout
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.on_drop = on_drop
        self.on_error = on_error

        # Every plugin's metadata hook, in order, runs first (a logger runs them when
        # the metadata is attached, before any dispatch hook).
        self.metadata_hooks = tuple(
            (record.hooks["on_metadata_called"], record.id, record.on_error)
            for record in plugins.records if "on_metadata_called" in record.hooks)
        # The plugins run in order, as stages: a plugin that can take a whole batch in one
        # call (``dispatch_batch``, e.g. a GrpcPlugin with batch=True) is a stage of its
        # own; each run of ordinary plugins between them is one stage of per-entry
        # data, message and level hooks. Ordinary plugins' gates run last, on the final
        # entry; a batch plugin's gate answers come back with its stage.
        stages: list = []
        run: list = []
        for record in plugins.records:
            dispatch_batch = getattr(record.plugin, "dispatch_batch", None)
            if callable(dispatch_batch):
                if run:
                    stages.append(("entry", PluginSet(run)))
                    run = []
                stages.append(("batch", dispatch_batch, record.id, record.on_error))
            else:
                run.append(record.plugin)
        if run:
            stages.append(("entry", PluginSet(run)))
        self.stages = tuple(stage for stage in stages
                            if stage[0] == "batch" or stage[1].hooks & _ENTRY_HOOKS)
        self.gates = PluginSet([r.plugin for r in plugins.records if not callable(
            getattr(r.plugin, "dispatch_batch", None))])
        self.gated = "should_send" in self.gates.hooks
        self.has_hooks = bool(self.stages) or self.gated
        self.closed = False
        # A queue made after the exit drain ran would never be drained: it starts direct.
        self.direct = _lifecycle.exit_started()
        self._fresh_state()

    def _fresh_state(self) -> None:
        """Locks, counters and worker as for a new queue (construction, forked child)."""
        self.lock = threading.Lock()
        self.wakeup = threading.Condition(self.lock)   # the worker sleeps on it
        self.progress = threading.Condition(self.lock)  # flush() waits on it
        self.not_full = threading.Condition(self.lock)  # overflow="block" waits on it
        self.dispatch_lock = threading.Lock()  # held by whoever sends to the inners
        self.dispatcher: int | None = None  # the thread sending directly, if any
        self.fork_held = False
        self.worker: threading.Thread | None = None
        self.worker_ident: int | None = None
        self.stopping = self.closed
        self.exiting = False  # the exit drain: stop the worker, flush (not close) inners
        self.sleeping = False
        self.urgent = False  # wake up now: a flush, a close, or a blocked sender
        self.blocked = 0  # senders waiting for room (overflow="block")
        # The value of `taken` when a blocked sender timed out: until the worker takes
        # an entry again, later senders drop at once instead of waiting as long.
        self.stalled_at = -1
        self.in_flight = 0  # entries of the batch the worker is sending
        # Entries taken off the queue (sent or dropped), and the value of `taken`
        # up to which everything was sent and the inner transports flushed.
        self.taken = 0
        self.flushed = 0
        self.flush_wanted = 0
        self.dropped = 0
        self.reported_dropped = 0
        self.last_drop_report = float("-inf")
        self.failures: dict[tuple[str, type], list] = {}  # -> [window start, not shown]
        self.set_soft(-1 if self.closed or self.direct else 0)

    def set_soft(self, value: int) -> None:
        owner = self.owner()
        if owner is not None:
            owner._soft = value

    # -- the caller's side -------------------------------------------------------------

    def enqueue(self, entry: Any) -> None:
        """The slow path of ``send``: start the worker, wake it, apply the overflow
        policy, or (after the exit drain) send the entry on this thread."""
        with self.lock:
            if self.closed:
                raise RuntimeError(f"QueueTransport {self.name!r} is closed; the entry was "
                                   "not sent")
            if not self.direct:
                if not self.stopping:
                    self._ensure_worker()
                if self.sleeping and not self.stopping:  # this entry fills a batch (or the
                    self.sleeping = False                 # queue): wake the worker
                    self.set_soft(self.max_size)
                    self.wakeup.notify()
                queue = self.queue
                if self._full():
                    if self.overflow == "drop_newest":
                        self.dropped += 1
                        return
                    if self.overflow == "drop_oldest":
                        queue.popleft()
                        self.taken += 1
                        self.dropped += 1
                    elif not self._wait_for_room():
                        return
                if not self.direct:  # a wait for room may have ended in the direct state
                    queue.append(entry if entry.metadata is None else _snapshot(entry))
                    return
        self._send_direct(entry)

    def _full(self, size: int = 0) -> bool:
        """Whether an entry (of estimated ``size`` bytes, for a pipeline that counts
        them) must wait or be dropped before it can be queued."""
        return len(self.queue) >= self.max_size

    def _waiting(self) -> int:
        """Entries accepted and not yet taken by the worker."""
        return len(self.queue)

    def _take(self, limit: int) -> list:
        """Up to ``limit`` of the oldest waiting entries, taken off the queue for the
        worker to send. The caller holds the lock."""
        queue = self.queue
        count = min(len(queue), limit)
        popleft = queue.popleft
        batch = [popleft() for _ in range(count)]
        self.taken += count
        return batch

    def _clear(self) -> list:
        """Every waiting entry, taken off the queue at once. The caller holds the lock."""
        rest = list(self.queue)
        self.queue.clear()
        self.taken += len(rest)
        return rest

    def _sending(self, count: int) -> None:
        """``count`` entries taken by ``_clear`` are about to be sent (not by the worker).
        The caller holds the lock."""

    def _abandon(self, count: int) -> int:
        """``count`` entries taken by ``_clear`` will not be sent: how many of them count
        as dropped. The caller holds the lock."""
        return count

    def _wait_for_room(self, size: int = 0) -> bool:
        """overflow="block": wait (holding the lock's condition) until the queue has
        room, at most ``block_timeout`` seconds. False when the entry is dropped instead
        (counted): the wait timed out, an earlier wait timed out and the worker has not
        taken anything since, or the entry was logged from the worker itself."""
        if threading.get_ident() == self.worker_ident or self.stalled_at == self.taken:
            self.dropped += 1
            return False
        deadline = time.monotonic() + self.block_timeout
        self.blocked += 1
        try:
            while self._full(size) and not self.closed and not self.direct:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self.stalled_at = self.taken
                    self.dropped += 1
                    return False
                if not self.stopping:
                    self._ensure_worker()
                self.urgent = True
                self.wakeup.notify()
                self.not_full.wait(min(remaining, self.flush_interval))
        finally:
            self.blocked -= 1
        if self.closed:
            raise RuntimeError(f"QueueTransport {self.name!r} was closed while the entry "
                               "waited for room; it was not sent")
        return True

    def _send_direct(self, entry: Any) -> None:
        """After the exit drain: send ``entry`` to the inner transports on this thread
        and flush them. The wait for another sender is bounded by ``block_timeout``;
        an entry that cannot be sent in time (or is logged back into the queue from
        inside such a send) is counted in ``dropped`` and reported at once."""
        me = threading.get_ident()
        if self.dispatcher != me and self.dispatch_lock.acquire(timeout=self.block_timeout):
            self.dispatcher = me
            try:
                batch = [entry]
                if self.queue:  # appended by a sender that passed the length check as
                    with self.lock:  # the drain switched over: they go first
                        rest = self._clear()
                        self._sending(len(rest))
                        batch = [*rest, entry]
                self._deliver_locked(batch)
                self._flush_inners_locked()
            finally:
                self.dispatcher = None
                self.dispatch_lock.release()
            return
        with self.lock:
            self._direct_failed()
        self._report(final=True)

    def _direct_failed(self) -> None:
        """An entry ``_send_direct`` could not send in time. The caller holds the lock."""
        self.dropped += 1

    def _ensure_worker(self) -> None:
        """Start a worker if none runs. The caller holds the lock."""
        worker = self.worker
        if worker is not None and worker.is_alive():
            return
        worker = threading.Thread(target=self._run, name=f"loglayer-queue-{self.name}",
                                  daemon=True)
        worker.start()
        self.worker = worker
        self.worker_ident = worker.ident
        self.set_soft(self.max_size)

    def flush(self, timeout: float | None) -> bool:
        if threading.get_ident() == self.worker_ident:
            return False
        deadline = None if timeout is None else time.monotonic() + timeout
        with self.lock:
            target = self.taken + self._waiting()
            if self.flushed >= target:
                return True
            if self.closed and (self.worker is None or not self.worker.is_alive()):
                return False
            if not self.closed and not self.stopping:
                self._ensure_worker()
            if target > self.flush_wanted:
                self.flush_wanted = target
            self.urgent = True
            self.wakeup.notify()
            while self.flushed < target:
                if not self.closed and not self.stopping:
                    self._ensure_worker()  # in case the worker died (a hook raised SystemExit)
                if deadline is None:
                    self.progress.wait()
                else:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    self.progress.wait(remaining)
            return True

    def abandon(self) -> None:
        """The transport was garbage collected: let the worker drain, close the inner
        transports and exit. Takes no lock: the collection may run on any thread,
        the worker's included, while it holds one. The worker notices at its next
        wake-up, within ``flush_interval``."""
        self.closed = self.stopping = True
        if self.worker is None and not self.direct:
            self._close_inners()

    def stop(self) -> None:
        """Ask the worker to drain, close the inner transports and exit; no waiting."""
        with self.lock:
            first = not self.closed
            self.closed = self.stopping = True
            self.exiting = False  # an explicit close closes the inners after all
            self.set_soft(-1)
            self.urgent = True
            self.wakeup.notify()
            self.not_full.notify_all()
            worker = self.worker
        if first and (worker is None or not worker.is_alive()):
            self._close_inners()  # no worker will: never started, gone at exit, or died

    def close(self, timeout: float | None) -> bool:
        self.stop()
        worker = self.worker
        if worker is None:
            return True
        if worker.ident == threading.get_ident():
            return False  # a hook or inner transport closing its own queue
        worker.join(timeout)
        if worker.is_alive():
            return False
        with self.lock:
            # Entries appended by senders that passed the length check just before
            # the close: they can no longer be sent, so they count as dropped.
            if self.queue:
                self.dropped += self._abandon(len(self._clear()))
            self.flushed = self.taken
            self.progress.notify_all()
        self._report(final=True)
        return True

    def drain_at_exit(self, deadline: float) -> None:
        """The exit drain: send what is queued by ``deadline``, flush the inner
        transports, then deliver later entries directly (they stay open: ``atexit``
        handlers registered before this queue existed run after this and may log).

        What could not be sent by the deadline is counted in ``dropped`` and reported
        with its number, apart from the batch the worker was in the middle of sending.
        """
        with self.lock:
            if self.closed or self.direct:
                return
            # From here every send takes the slow path; it queues behind the drain.
            self.set_soft(-1)
            self.stopping = self.exiting = True
            self.urgent = True
            self.wakeup.notify()
            worker = self.worker
        if worker is not None and worker.ident != threading.get_ident():
            worker.join(max(0.0, deadline - time.monotonic()))
        # Once the worker is gone, take the dispatch lock before switching to direct:
        # entries queued meanwhile go out before any direct one, in their order.
        finished = worker is None or not worker.is_alive()
        held = finished and self.dispatch_lock.acquire(
            timeout=max(0.0, deadline - time.monotonic()))
        with self.lock:
            self.direct = True
            self.not_full.notify_all()  # blocked senders now send directly
            rest = self._clear()
            in_flight = 0 if finished else self.in_flight
            if held:
                self._sending(len(rest))
            else:
                lost = self._abandon(len(rest))
                self.dropped += lost
                self.reported_dropped += lost
        if held:
            try:
                if rest:
                    self._deliver_locked(rest)
                self._flush_inners_locked()
            finally:
                self.dispatch_lock.release()
        with self.lock:
            self.flushed = self.taken
            self.progress.notify_all()
        if held:
            self._report(final=True)
            return
        busy = (f"; a batch of {in_flight} entries was still being sent"
                if in_flight else "")
        stderr_line(f"queue transport {self.name!r}: gave up draining at the exit deadline "
                    f"({_lifecycle.EXIT_TIMEOUT} s for everything): {len(rest)} entries were "
                    f"not sent (counted in dropped){busy}")
        self._report(final=True)  # drops counted before the deadline
        if rest and self.on_drop is not None:
            self._call_on_drop(len(rest))

    # -- the worker --------------------------------------------------------------------

    def _run(self) -> None:
        lock = self.lock
        batch_size = self.batch_size
        wake_at = self.wake_at
        # The `taken` value the current flush round waits for: fixed when the round
        # starts, so flush() calls arriving meanwhile cannot postpone it forever; the
        # inner transports are flushed, and the waiters woken, once per round rather
        # than once per batch.
        goal = 0
        try:
            while True:
                with lock:
                    if self._waiting() < wake_at and not self.urgent and not self.stopping:
                        # Sleep until a batch fills (the send that fills it wakes us),
                        # a flush or close asks, or flush_interval has passed.
                        self.set_soft(wake_at)
                        self.sleeping = True
                        if self._waiting() < wake_at:
                            self.wakeup.wait(self.flush_interval)
                        self.sleeping = False
                        if not self.stopping:
                            self.set_soft(self.max_size)
                    self.urgent = False
                while True:
                    with lock:
                        batch = self._take(batch_size)
                        count = len(batch)
                        self.in_flight = count
                        done = self.taken
                        if goal <= self.flushed < self.flush_wanted:
                            goal = self.flush_wanted
                        flush_due = self.flushed < goal <= done
                        if count and self.blocked:
                            self.not_full.notify_all()
                    if count:
                        self._deliver(batch)
                        del batch
                    self.in_flight = 0
                    if flush_due:
                        self._flush_inners()
                        with lock:
                            self.flushed = done
                            self.progress.notify_all()
                    if not count:
                        break
                self._report(final=False)
                if self.stopping:
                    with lock:
                        if not self._waiting():
                            break
        finally:
            if self.stopping:
                if self.exiting:
                    self._flush_inners()
                else:
                    self._close_inners()
                self._report(final=True)
            with lock:
                self.flushed = self.taken
                self.progress.notify_all()

    def _deliver(self, batch: list) -> None:
        """Send one batch to the inner transports, running the queue's plugins first."""
        with self.dispatch_lock:
            self._deliver_locked(batch)

    def _deliver_locked(self, batch: list) -> None:
        """``_deliver`` for a caller that holds the dispatch lock."""
        entries = self._prepare(batch)
        if self.has_hooks:
            routes = self._route(entries)
        else:
            routes = []
            for slot in self.inners:
                transport = slot[0]
                if not getattr(transport, "enabled", True):
                    continue
                minimum = min_level_of(getattr(transport, "level", None))
                routes.append((slot, entries if not minimum
                               else [e for e in entries if e.level >= minimum]))
        for (_, tid, send, send_batch), routed in routes:
            if not routed:
                continue
            if send_batch is not None:
                try:
                    send_batch(routed)
                except Exception as exc:
                    self._failed(tid, exc)
                continue
            for entry in routed:
                try:
                    send(entry)
                except Exception as exc:
                    self._failed(tid, exc)

    def _prepare(self, batch: list) -> list:
        """The entries of ``batch`` with their metadata snapshots put back and the
        plugins' metadata hooks applied."""
        hooks = self.metadata_hooks
        if not hooks:
            return [item if type(item) is not tuple
                    else _rebuilt(item[0], item[0].level, item[0].messages, item[0].data,
                                  item[1])
                    for item in batch]
        entries = []
        for item in batch:
            if type(item) is tuple:
                entry, metadata = item
            else:
                entry = item
                metadata = entry.metadata
            if metadata is not None:
                metadata = _run_metadata_hooks(hooks, metadata)
            if metadata is not entry.metadata:
                entry = _rebuilt(entry, entry.level, entry.messages, entry.data, metadata)
            entries.append(entry)
        return entries

    def _route(self, batch: list) -> list:
        """Run the plugins over the batch; (slot, entries) per inner transport."""
        active: list[tuple[tuple, int, list]] = []
        for slot in self.inners:
            if getattr(slot[0], "enabled", True):
                active.append((slot, min_level_of(getattr(slot[0], "level", None)), []))
        entries = list(batch)
        # refused[i]: the positions in `active` a batch plugin's gate said no to, entry i
        refused: list = [()] * len(entries)
        # params_of[i]: entry i's params, made at its first hook, kept to its last gate
        params_of: list = [None] * len(entries)
        for stage in self.stages:
            if stage[0] == "batch":
                self._batch_stage(stage, entries, refused, [slot[1] for slot, _, _ in active])
            else:
                for i, entry in enumerate(entries):
                    params_of[i] = _params(entry, params_of[i])
                    entries[i] = _run_entry_hooks(stage[1], entry, params_of[i])
        gates = self.gates
        gated = self.gated
        for i, entry in enumerate(entries):
            params = _params(entry, params_of[i]) if gated else None
            for position, (slot, minimum, routed) in enumerate(active):
                if entry.level < minimum or position in refused[i]:
                    continue
                if params is not None and not allows(gates, params, slot[1]):
                    continue
                routed.append(entry)
        return [(slot, routed) for slot, _, routed in active]

    @staticmethod
    def _batch_stage(stage: tuple, entries: list, refused: list, transport_ids: list) -> None:
        """One call of a batch plugin over every entry; its results replace the entries."""
        _, dispatch_batch, plugin_id, on_error = stage
        try:
            outcomes = list(dispatch_batch(entries, transport_ids))
            if len(outcomes) != len(entries):
                raise ValueError(f"returned {len(outcomes)} outcomes for {len(entries)} "
                                 "entries")
        except Exception as exc:  # the plugin's fallback: entries unchanged, gates open
            plugin_failed("dispatch_batch", plugin_id, on_error, exc)
            return
        for i, (entry, outcome) in enumerate(zip(entries, outcomes, strict=True)):
            level, messages, data, send = outcome
            if level is not entry.level or messages is not entry.messages \
                    or data is not entry.data:
                entries[i] = _rebuilt(entry, level, messages, data, entry.metadata)
            no = tuple(position for position, ok in enumerate(send) if not ok)
            if no:
                refused[i] = refused[i] + no

    def _flush_inners(self) -> None:
        with self.dispatch_lock:
            self._flush_inners_locked()

    def _flush_inners_locked(self) -> None:
        for transport, tid, _, _ in self.inners:
            flush = getattr(transport, "flush", None)
            if callable(flush):
                try:
                    flush()
                except Exception as exc:
                    self._failed(tid, exc)

    def _close_inners(self) -> None:
        with self.dispatch_lock:
            for transport, tid, _, _ in self.inners:
                close = getattr(transport, "close", None)
                if callable(close):
                    try:
                        close()
                    except Exception as exc:
                        self._failed(tid, exc)

    # -- reporting ---------------------------------------------------------------------

    def _failed(self, tid: str, exc: Exception) -> None:
        """Report an inner transport's failure: every one to ``on_error``, or at most one
        stderr line per (transport, exception type) per REPORT_INTERVAL."""
        if self.on_error is not None:
            transport_failed(self.on_error, tid, exc)
            return
        key = (tid, type(exc))
        now = time.monotonic()
        window = self.failures.get(key)
        if window is not None and now - window[0] < REPORT_INTERVAL:
            window[1] += 1
            return
        hidden = window[1] if window is not None else 0
        more = (f" ({hidden} more {type(exc).__name__} failures not shown since the "
                "previous line)") if hidden else ""
        stderr_line(f"transport {tid!r} failed: {describe(exc)}{more}")
        self.failures[key] = [now, 0]

    def _report(self, final: bool) -> None:
        """Report drops (at most once per REPORT_INTERVAL unless ``final``), and on the
        final report the failure lines that the interval held back."""
        now = time.monotonic()
        with self.lock:
            count = self.dropped - self.reported_dropped
            due = count > 0 and (final or now - self.last_drop_report >= REPORT_INTERVAL)
            if due:
                self.reported_dropped += count
                self.last_drop_report = now
        if due:
            if self.on_drop is not None:
                self._call_on_drop(count)
            else:
                limit = (f", block_timeout={self.block_timeout}"
                         if self.overflow == "block" else "")
                stderr_line(f"queue transport {self.name!r} dropped {count} entries: the queue "
                            f"was full (max_size={self.max_size}, "
                            f"overflow={self.overflow!r}{limit})")
        if final:
            for (tid, kind), window in list(self.failures.items()):
                if window[1]:
                    stderr_line(f"transport {tid!r} failed {window[1]} more times with "
                                f"{kind.__name__} (lines not shown)")
                    window[1] = 0

    def _call_on_drop(self, count: int) -> None:
        on_drop = self.on_drop
        if on_drop is None:
            return
        try:
            on_drop(count)
        except Exception as exc:
            stderr_line(f"queue transport {self.name!r}: on_drop raised {describe(exc)}")

    # -- process events ----------------------------------------------------------------

    def before_fork(self) -> None:
        if threading.get_ident() != self.worker_ident:
            self.fork_held = self.dispatch_lock.acquire(timeout=FORK_TIMEOUT)

    def after_fork_in_parent(self) -> None:
        if self.fork_held:
            self.fork_held = False
            self.dispatch_lock.release()

    def after_fork_in_child(self) -> None:
        self.queue.clear()  # the parent sends these
        self._fresh_state()


def _register(pipeline: _Pipeline) -> None:
    """Track ``pipeline`` for the exit drain and forks (``loglayer._lifecycle``).

    It is tracked when its queue is made, after the queue's inner transports and
    plugins were, so at exit it is drained before they are stopped.
    """
    kind = type(pipeline)
    _lifecycle.track(pipeline, at_exit=kind.drain_at_exit, before_fork=kind.before_fork,
                     after_fork_in_parent=kind.after_fork_in_parent,
                     after_fork_in_child=kind.after_fork_in_child)
