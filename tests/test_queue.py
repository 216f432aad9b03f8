"""QueueTransport: the log call only enqueues; a worker thread sends in batches.

Runs once per core, like the whole suite (the logger and the entries are the live
core's). Subprocesses inherit ``LOGLAYER_NO_EXTENSIONS`` and so use the same core.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import subprocess
import sys
import threading
import time
import warnings
import weakref
from collections import Counter

import pytest

import loglayer
from loglayer import LogLevel, PluginError, TransportError
from loglayer._select import LogEntry
from loglayer.testing import TestTransport
from loglayer.transports._file import FileTransport
from loglayer.transports._queue import EXIT_TIMEOUT, QueueTransport

# Waits below are generous bounds on termination, never timings being asserted.
WAIT = 30.0


def child_env() -> dict:
    """The environment for a subprocess that must import this very loglayer."""
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(loglayer.__file__)))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    return env


class Recorder:
    """An inner transport with send_batch: keeps the batches and the entries."""

    def __init__(self, id: str = "rec") -> None:
        self.id = id
        self.entries: list = []
        self.batches: list[int] = []
        self.flushes = 0
        self.closes = 0
        self.closed = threading.Event()

    def send(self, entry) -> None:  # required of every transport; unused with send_batch
        raise AssertionError("send() called although send_batch() exists")

    def send_batch(self, entries) -> None:
        self.batches.append(len(entries))
        self.entries.extend(entries)

    def flush(self) -> None:
        self.flushes += 1

    def close(self) -> None:
        self.closes += 1
        self.closed.set()


class Gate(Recorder):
    """A Recorder whose first batch blocks the worker until ``release`` is set."""

    def __init__(self, id: str = "gate") -> None:
        super().__init__(id)
        self.entered = threading.Event()
        self.release = threading.Event()

    def send_batch(self, entries) -> None:
        self.entered.set()
        assert self.release.wait(WAIT)
        super().send_batch(entries)


def messages(entries) -> list:
    return [entry.messages[0] if len(entry.messages) == 1 else tuple(entry.messages)
            for entry in entries]


# -- delivery --------------------------------------------------------------------------


def test_entries_reach_the_inner_transport_after_flush():
    rec = Recorder()
    queue = QueueTransport(rec)
    log = loglayer.LogLayer(transports=queue)
    for i in range(1000):
        log.info("n", i)
    assert queue.flush(WAIT) is True
    assert messages(rec.entries) == [("n", i) for i in range(1000)]
    assert queue.dropped == 0
    assert queue.close(WAIT) is True


def test_the_caller_never_runs_the_inner_transport():
    caller = threading.get_ident()
    seen = []

    class Where:
        id = "where"

        def send(self, entry):
            seen.append(threading.get_ident())

    queue = QueueTransport(Where())
    log = loglayer.LogLayer(transports=queue)
    log.info("x")
    log.info("y")
    assert queue.flush(WAIT)
    assert len(seen) == 2 and caller not in seen
    queue.close()


def test_entries_are_passed_unchanged_without_plugins(tt):
    rec = Recorder()
    queue = QueueTransport(rec)
    log = loglayer.LogLayer(transports=[tt, queue])
    log.with_metadata(("not", "a", "dict")).warn("w")
    log.with_metadata({"k": 1}).warn("d")
    assert queue.flush(WAIT)
    assert rec.entries[0] is tt.lines[0]
    assert isinstance(rec.entries[0], LogEntry)
    # A dict metadata is snapshotted at the call, so that entry is an equal copy.
    copied, original = rec.entries[1], tt.lines[1]
    assert isinstance(copied, LogEntry) and copied.metadata == original.metadata
    assert copied.metadata is not original.metadata
    assert (copied.level, copied.messages, copied.data, copied.time_ns) == (
        original.level, original.messages, original.data, original.time_ns)
    queue.close()


def test_batches_are_at_most_batch_size_and_send_is_used_without_send_batch(tt):
    rec = Recorder()
    queue = QueueTransport([rec, tt], batch_size=7, max_size=10_000)
    log = loglayer.LogLayer(transports=queue)
    for i in range(500):
        log.info(i)
    assert queue.flush(WAIT)
    assert sum(rec.batches) == 500 and max(rec.batches) <= 7
    assert messages(tt.lines) == list(range(500))
    assert queue.transports == (rec, tt)
    queue.close()


def test_a_partial_batch_is_sent_after_flush_interval():
    rec = Recorder()
    queue = QueueTransport(rec, batch_size=1000, flush_interval=0.05)
    log = loglayer.LogLayer(transports=queue)
    log.info("alone")
    deadline = time.monotonic() + WAIT
    while not rec.entries and time.monotonic() < deadline:
        time.sleep(0.01)
    assert messages(rec.entries) == ["alone"]
    queue.close()


def test_inner_level_and_enabled_are_respected():
    warn_up = TestTransport("warn-up", level="warn")
    off = TestTransport("off", enabled=False)
    queue = QueueTransport([warn_up, off])
    log = loglayer.LogLayer(transports=queue)
    log.info("i")
    log.warn("w")
    log.error("e")
    assert queue.flush(WAIT)
    assert messages(warn_up.lines) == ["w", "e"]
    assert off.lines == []
    queue.close()


@pytest.mark.slow
def test_eight_threads_each_arrive_exactly_once_in_order():
    threads_n, per_thread = 8, 50_000
    rec = Recorder()
    queue = QueueTransport(rec, max_size=threads_n * per_thread)
    log = loglayer.LogLayer(transports=queue)
    barrier = threading.Barrier(threads_n)

    def produce(t: int) -> None:
        barrier.wait()
        info = log.info
        for i in range(per_thread):
            info(t, i)

    threads = [threading.Thread(target=produce, args=(t,)) for t in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT * 4)
    assert queue.flush(WAIT * 4)
    assert queue.dropped == 0
    assert len(rec.entries) == threads_n * per_thread
    seen: dict[int, list[int]] = {t: [] for t in range(threads_n)}
    for entry in rec.entries:
        t, i = entry.messages
        seen[t].append(i)
    for t in range(threads_n):
        assert seen[t] == list(range(per_thread)), f"thread {t} out of order or incomplete"
    queue.close()


# -- overflow --------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["drop_newest", "drop_oldest", "block"])
def test_under_overflow_dropped_plus_delivered_equals_sent(policy):
    threads_n, per_thread = 4, 3000

    class Slow(Recorder):
        def send_batch(self, entries):
            time.sleep(0.001)
            super().send_batch(entries)

    rec = Slow()
    reported = []
    queue = QueueTransport(rec, max_size=50, batch_size=16, overflow=policy,
                           on_drop=reported.append)
    log = loglayer.LogLayer(transports=queue)

    def produce(t: int) -> None:
        for i in range(per_thread):
            log.info(t, i)

    threads = [threading.Thread(target=produce, args=(t,)) for t in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT * 2)
    assert queue.close(WAIT)
    sent = threads_n * per_thread
    assert queue.dropped + len(rec.entries) == sent
    assert sum(reported) == queue.dropped
    if policy == "block":
        assert queue.dropped == 0
    else:
        assert queue.dropped > 0
    for t in range(threads_n):  # whatever survived is in per-thread order
        kept = [entry.messages[1] for entry in rec.entries if entry.messages[0] == t]
        assert kept == sorted(kept)


@pytest.mark.parametrize(("policy", "survivors"), [
    ("drop_newest", list(range(10))),
    ("drop_oldest", list(range(15, 25))),
])
def test_which_entries_are_dropped(policy, survivors):
    gate = Gate()
    reported = []
    queue = QueueTransport(gate, max_size=10, batch_size=1, overflow=policy,
                           on_drop=reported.append)
    log = loglayer.LogLayer(transports=queue)
    try:
        log.info("first")
        assert gate.entered.wait(WAIT)  # the worker holds "first"; the queue is empty
        for i in range(25):
            log.info(i)
        assert queue.dropped == 15
    finally:
        gate.release.set()
    assert queue.close(WAIT)
    assert messages(gate.entries) == ["first", *survivors]
    assert sum(reported) == 15


def test_block_makes_the_caller_wait_for_room():
    gate = Gate()
    queue = QueueTransport(gate, max_size=10, batch_size=1, overflow="block")
    log = loglayer.LogLayer(transports=queue)
    done = threading.Event()

    def produce() -> None:
        for i in range(25):
            log.info(i)
        done.set()

    try:
        log.info("first")
        assert gate.entered.wait(WAIT)
        producer = threading.Thread(target=produce)
        producer.start()
        assert not done.wait(0.3), "the producer did not block on a full queue"
    finally:
        gate.release.set()
    assert done.wait(WAIT)
    producer.join(WAIT)
    assert queue.close(WAIT)
    assert messages(gate.entries) == ["first", *range(25)]
    assert queue.dropped == 0


def test_drops_are_reported_on_stderr_without_on_drop(capsys):
    gate = Gate()
    queue = QueueTransport(gate, max_size=2, batch_size=1, id="q", overflow="drop_newest")
    log = loglayer.LogLayer(transports=queue)
    try:
        log.info("first")
        assert gate.entered.wait(WAIT)
        for i in range(5):
            log.info(i)
    finally:
        gate.release.set()
    assert queue.close(WAIT)
    err = capsys.readouterr().err
    assert "queue transport 'q' dropped 3 entries" in err
    assert err.count("dropped") == 1


def test_a_failing_on_drop_is_reported_and_harmless(capsys):
    gate = Gate()

    def on_drop(count):
        raise RuntimeError("nope")

    queue = QueueTransport(gate, max_size=1, batch_size=1, id="q", on_drop=on_drop,
                           overflow="drop_newest")
    log = loglayer.LogLayer(transports=queue)
    try:
        log.info("first")
        assert gate.entered.wait(WAIT)
        log.info(1)
        log.info(2)
    finally:
        gate.release.set()
    assert queue.close(WAIT)
    assert "on_drop raised RuntimeError: nope" in capsys.readouterr().err


# -- flush and close -------------------------------------------------------------------


def test_flush_waits_and_flushes_the_inner_transports():
    rec = Recorder()
    queue = QueueTransport(rec, batch_size=10_000, flush_interval=60)
    log = loglayer.LogLayer(transports=queue)
    assert queue.flush(WAIT) is True  # nothing enqueued yet
    for i in range(100):
        log.info(i)
    assert queue.flush(WAIT) is True
    assert len(rec.entries) == 100
    assert rec.flushes >= 1
    log.flush()  # the logger's flush() reaches the queue's
    queue.close()


def test_flush_times_out_while_the_inner_transport_is_stuck():
    gate = Gate()
    queue = QueueTransport(gate)
    log = loglayer.LogLayer(transports=queue)
    try:
        log.info("stuck")
        assert queue.flush(timeout=0.2) is False
    finally:
        gate.release.set()
    assert queue.flush(WAIT) is True
    assert messages(gate.entries) == ["stuck"]
    queue.close()


def test_flush_from_the_worker_thread_returns_false_at_once():
    results = []
    queue = None

    class Flusher:
        id = "flusher"

        def send(self, entry):
            results.append(queue.flush())

    queue = QueueTransport(Flusher())
    log = loglayer.LogLayer(transports=queue)
    log.info("x")
    assert queue.flush(WAIT)
    assert results == [False]
    queue.close()


def test_close_drains_closes_the_inner_and_later_sends_fail_as_transport_errors():
    rec = Recorder()
    errors = []
    queue = QueueTransport(rec, id="q", batch_size=10_000, flush_interval=60)
    log = loglayer.LogLayer(transports=queue, on_transport_error=errors.append)
    for i in range(300):
        log.info(i)
    log.close()  # the logger closes its transports
    assert len(rec.entries) == 300 and rec.closes == 1
    log.info("late")
    assert len(errors) == 1
    assert isinstance(errors[0], TransportError) and errors[0].transport_id == "q"
    assert isinstance(errors[0].__cause__, RuntimeError)
    assert "closed" in str(errors[0].__cause__)
    assert queue.close(WAIT) is True and rec.closes == 1  # idempotent
    assert queue.flush(WAIT) is True


def test_close_before_any_entry_closes_the_inner():
    rec = Recorder()
    queue = QueueTransport(rec)
    assert queue.close(WAIT) is True
    assert rec.closes == 1


def test_a_collected_queue_drains_and_closes_its_inner():
    rec = Recorder()
    queue = QueueTransport(rec, batch_size=10_000, flush_interval=0.05)
    log = loglayer.LogLayer(transports=queue)
    for i in range(10):
        log.info(i)
    ref = weakref.ref(queue)
    del log, queue
    gc.collect()
    assert ref() is None, "the worker thread must not keep the transport alive"
    assert rec.closed.wait(WAIT)
    assert messages(rec.entries) == list(range(10))


# -- failures --------------------------------------------------------------------------


class Flaky:
    """Fails on some entries: ValueError on multiples of 3, KeyError on 1 mod 3."""

    id = "flaky"

    def __init__(self) -> None:
        self.ok: list = []

    def send(self, entry):
        n = entry.messages[0]
        if n % 3 == 0:
            raise ValueError(f"bad {n}")
        if n % 3 == 1:
            raise KeyError(n)
        self.ok.append(n)


def test_a_failing_inner_never_kills_the_worker_and_goes_to_on_error():
    flaky = Flaky()
    errors = []
    queue = QueueTransport(flaky, on_error=errors.append)
    log = loglayer.LogLayer(transports=queue)
    for i in range(30):
        log.info(i)
    assert queue.flush(WAIT)
    assert flaky.ok == list(range(2, 30, 3))
    assert len(errors) == 20
    assert all(isinstance(e, TransportError) and e.transport_id == "flaky" for e in errors)
    assert {type(e.__cause__) for e in errors} == {ValueError, KeyError}
    log.info(32)  # the worker still runs
    assert queue.flush(WAIT) and flaky.ok[-1] == 32
    queue.close()


def test_failures_go_to_stderr_once_per_type_per_interval(capsys):
    queue = QueueTransport(Flaky())
    log = loglayer.LogLayer(transports=queue)
    for i in range(30):
        log.info(i)
    assert queue.flush(WAIT)
    err = capsys.readouterr().err
    assert err.count("transport 'flaky' failed: ValueError") == 1
    assert err.count("transport 'flaky' failed: KeyError") == 1
    queue.close()
    err = capsys.readouterr().err
    assert "failed 9 more times with ValueError" in err
    assert "failed 9 more times with KeyError" in err


def test_a_failing_send_batch_is_reported_once_per_batch():
    class Broken(Recorder):
        def send_batch(self, entries):
            raise OSError("disk gone")

    errors = []
    queue = QueueTransport(Broken("broken"), on_error=errors.append, batch_size=10_000)
    log = loglayer.LogLayer(transports=queue)
    for i in range(5):
        log.info(i)
    assert queue.flush(WAIT)
    assert len(errors) == 1 and isinstance(errors[0].__cause__, OSError)
    queue.close()


# -- plugins on the worker -------------------------------------------------------------


def test_plugins_run_on_the_worker_thread_once_per_entry():
    caller = threading.get_ident()
    idents = []
    names = []

    def enrich(params):
        idents.append(threading.get_ident())
        names.append(threading.current_thread().name)
        return {"enriched": True}

    a, b, direct = TestTransport("a"), TestTransport("b"), TestTransport("direct")
    queue = QueueTransport([a, b], plugins=[loglayer.data_hook("enrich", enrich)])
    log = loglayer.LogLayer(transports=[direct, queue], fields={"f": 1})
    for i in range(100):
        log.info(i)
    assert queue.flush(WAIT)
    assert len(idents) == 100
    assert len(set(idents)) == 1 and caller not in idents
    assert names[0].startswith("loglayer-queue-")
    assert [e.data for e in a.lines] == [{"f": 1, "enriched": True}] * 100
    assert all(x is y for x, y in zip(a.lines, b.lines, strict=True))  # one entry, rebuilt once
    assert all(type(e) is LogEntry for e in a.lines)
    # the original entries, and the logger's fields, are untouched
    assert [e.data for e in direct.lines] == [{"f": 1}] * 100
    assert log.get_fields() == {"f": 1}
    queue.close()


def test_message_level_and_gate_hooks_follow_the_logger_rules():
    def shout(params):
        return [str(m).upper() for m in params.messages]

    def promote(params):
        return LogLevel.ERROR if "URGENT" in params.messages else None

    def only_errors_to_b(params):
        return params.transport_id != "b" or params.level >= LogLevel.ERROR

    a = TestTransport("a")
    b = TestTransport("b")
    errors_only = TestTransport("errors-only", level="error")
    queue = QueueTransport([a, b, errors_only], plugins=[
        loglayer.message_hook("shout", shout),
        loglayer.level_hook("promote", promote),
        loglayer.send_gate("gate", only_errors_to_b),
    ])
    log = loglayer.LogLayer(transports=queue)
    log.info("calm")
    log.info("urgent")
    assert queue.flush(WAIT)
    assert [(e.level, e.messages) for e in a.lines] == [
        (LogLevel.INFO, ["CALM"]), (LogLevel.ERROR, ["URGENT"])]
    assert messages(b.lines) == ["URGENT"]
    assert messages(errors_only.lines) == ["URGENT"]  # the level filter uses the final level
    queue.close()


def test_data_hooks_merge_in_order_and_see_earlier_merges():
    seen = []

    def first(params):
        return {"a": 1}

    def second(params):
        seen.append(dict(params.data))
        return {"b": params.data["a"] + 1}

    tt = TestTransport("t")
    queue = QueueTransport(tt, plugins=[loglayer.data_hook("1", first),
                                        loglayer.data_hook("2", second)])
    log = loglayer.LogLayer(transports=queue)
    log.info("x")
    assert queue.flush(WAIT)
    assert seen == [{"a": 1}]
    assert tt.lines[0].data == {"a": 1, "b": 2}
    queue.close()


def test_failing_hooks_are_reported_and_gates_fail_open(capsys):
    class Bad(loglayer.Plugin):
        def __init__(self):
            super().__init__("bad")
            self.errors = []

        def on_before_data_out(self, params):
            raise RuntimeError("data")

        def should_send(self, params):
            raise RuntimeError("gate")

        def on_error(self, err):
            self.errors.append(err)

    bad = Bad()
    quiet = loglayer.message_hook("quiet", lambda params: 42)  # not a list: reported
    tt = TestTransport("t")
    queue = QueueTransport(tt, plugins=[bad, quiet])
    log = loglayer.LogLayer(transports=queue)
    log.info("still sent")
    assert queue.flush(WAIT)
    assert messages(tt.lines) == ["still sent"]
    assert [(e.plugin_id, e.hook) for e in bad.errors] == [
        ("bad", "on_before_data_out"), ("bad", "should_send")]
    assert all(isinstance(e, PluginError) for e in bad.errors)
    assert "plugin 'quiet' hook on_before_message_out failed" in capsys.readouterr().err
    queue.close()


def test_the_fields_hook_of_queue_plugins_does_not_run_the_metadata_hook_does():
    calls = []
    plugin = loglayer.Plugin("inputs")
    plugin.on_fields_called = lambda fields: calls.append(("fields", fields))
    plugin.on_metadata_called = lambda metadata: {**metadata, "seen": True}
    tt = TestTransport("t")
    queue = QueueTransport(tt, plugins=[plugin])
    log = loglayer.LogLayer(transports=queue)
    log.with_fields(f=1).with_metadata({"m": 1}).info("x")
    assert queue.flush(WAIT)
    assert calls == [] and tt.lines[0].metadata == {"m": 1, "seen": True}
    queue.close()


# -- process events --------------------------------------------------------------------


def _wait_for_child(pid: int) -> int:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    pytest.fail("the forked child did not finish: deadlock?")


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_after_fork_the_child_has_a_fresh_worker_and_an_empty_queue(tmp_path):
    path = tmp_path / "fork.log"
    queue = QueueTransport(FileTransport(path), batch_size=10_000, flush_interval=60)
    log = loglayer.LogLayer(transports=queue)
    log.with_metadata({"who": "parent", "i": -1}).info("warm")  # starts the worker
    assert queue.flush(WAIT)
    for i in range(50):  # pending at the fork: the worker sleeps until a flush
        log.with_metadata({"who": "parent", "i": i}).info("p")
    with warnings.catch_warnings():  # 3.12+ warns about forking a threaded process
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        code = 1
        try:
            for i in range(100):
                log.with_metadata({"who": "child", "i": i}).info("c")
            if queue.flush(WAIT) and queue.close(WAIT) and queue.dropped == 0:
                code = 0
        finally:
            os._exit(code)
    assert _wait_for_child(pid) == 0
    assert queue.flush(WAIT)
    queue.close()
    with open(path, encoding="utf-8") as f:
        lines = [json.loads(line) for line in f]
    counts = Counter((line["who"], line["i"]) for line in lines)
    expected = {("parent", i) for i in range(-1, 50)} | {("child", i) for i in range(100)}
    assert set(counts) == expected
    assert max(counts.values()) == 1, "an entry was written twice"


ATEXIT_SCRIPT = """
import sys
import loglayer
from loglayer.transports._file import FileTransport
from loglayer.transports._queue import QueueTransport

queue = QueueTransport(FileTransport(sys.argv[1]), max_size=20_000, batch_size=100_000,
                       flush_interval=60)
log = loglayer.LogLayer(transports=queue)
for i in range(10_000):
    log.with_metadata({"i": i}).info("exit drain")
# no close(), no flush(): the interpreter exits with everything pending
"""


@pytest.mark.slow
def test_pending_entries_are_drained_at_interpreter_exit(tmp_path):
    path = tmp_path / "atexit.log"
    result = subprocess.run([sys.executable, "-c", ATEXIT_SCRIPT, str(path)],
                            env=child_env(), capture_output=True, text=True,
                            timeout=max(60, 10 * EXIT_TIMEOUT))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    with open(path, encoding="utf-8") as f:
        seqs = [json.loads(line)["i"] for line in f]
    assert seqs == list(range(10_000))


# -- configuration ---------------------------------------------------------------------


@pytest.mark.parametrize(("kwargs", "error", "text"), [
    ({"max_size": 0}, ValueError, "max_size"),
    ({"max_size": 1.5}, TypeError, "max_size"),
    ({"overflow": "spill"}, ValueError, "overflow"),
    ({"batch_size": 0}, ValueError, "batch_size"),
    ({"flush_interval": 0}, ValueError, "flush_interval"),
    ({"flush_interval": "1"}, TypeError, "flush_interval"),
    ({"on_drop": 3}, TypeError, "on_drop"),
    ({"on_error": "x"}, TypeError, "on_error"),
    ({"plugins": "p"}, TypeError, "plugins"),
    ({"id": 3}, TypeError, "id"),
])
def test_bad_configuration_names_the_argument(kwargs, error, text):
    with pytest.raises(error, match=text):
        QueueTransport(TestTransport("t"), **kwargs)


def test_bad_inner_transports_are_rejected():
    with pytest.raises(ValueError, match="inner"):
        QueueTransport([])
    with pytest.raises(TypeError, match="send"):
        QueueTransport(object())
