"""Thread safety: no lock on the emission path, copy-on-write mutations.

Loggers come from the ``core`` fixture: each test runs on the compiled and the pure core.
"""

from __future__ import annotations

import threading

import loglayer
from loglayer.testing import TestTransport


def test_logging_while_plugins_change_loses_and_duplicates_nothing(core):
    tt = TestTransport("t")
    log = core.LogLayer(transports=tt, plugins=[loglayer.data_hook("stable", lambda p: {"s": 1})])
    writers, per_writer = 4, 3000
    stop = threading.Event()
    errors = []

    def writer(n):
        try:
            bound = log.with_fields(writer=n)
            for i in range(per_writer):
                bound.info(i)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def churn(n):
        k = 0
        while not stop.is_set():
            log.add_plugin(loglayer.data_hook(f"churn-{n}-{k % 5}", lambda p: None),
                           loglayer.send_gate(f"gate-{n}", lambda p: True))
            log.remove_plugin(f"churn-{n}-{(k + 2) % 5}")
            log.add_transport(TestTransport(f"extra-{n}"))
            log.remove_transport(f"extra-{n}")
            k += 1

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(writers)]
    churners = [threading.Thread(target=churn, args=(n,)) for n in range(2)]
    for t in churners + threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    for t in churners:
        t.join()
    assert errors == []
    seen = {}
    for entry in tt.lines:
        assert entry.data["s"] == 1
        seen.setdefault(entry.data["writer"], []).append(entry.messages[0])
    assert sorted(seen) == list(range(writers))
    for n in range(writers):
        assert seen[n] == list(range(per_writer)), f"writer {n} lost or reordered entries"


def test_concurrent_derivation_and_level_changes(core):
    tt = TestTransport("t")
    log = core.LogLayer(transports=tt)
    barrier = threading.Barrier(4)

    def work(n):
        barrier.wait()
        for i in range(500):
            child = log.child().with_fields(n=n, i=i)
            child.set_level("warn")
            child.warn("w")
            child.info("filtered")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(tt) == 2000
    assert log.is_level_enabled("trace")


def test_reentrancy_guard_is_per_thread(core):
    """A hook that waits while another thread logs must not make that thread's entry drop."""
    tt = TestTransport("t")
    entered = threading.Event()
    release = threading.Event()

    def slow_gate(params):
        if params.messages[0] == "slow":
            entered.set()
            release.wait(5)
        return True

    log = core.LogLayer(transports=tt, plugins=[loglayer.send_gate("slow", slow_gate)])
    t = threading.Thread(target=log.info, args=("slow",))
    t.start()
    assert entered.wait(5)
    log.info("fast")
    release.set()
    t.join()
    assert sorted(e.messages[0] for e in tt.lines) == ["fast", "slow"]
