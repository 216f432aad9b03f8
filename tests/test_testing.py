"""loglayer.testing.TestTransport.

TestTransport is duck-typed to any core: the tests run it under both (the ``core`` fixture).
"""

import threading

from loglayer import LogLevel
from loglayer.testing import TestTransport


def test_not_collected_by_pytest():
    assert TestTransport.__test__ is False


def test_lines_and_helpers(core):
    tt = TestTransport()
    assert tt.id
    log = core.LogLayer(transports=tt)
    assert tt.last_line() is None and tt.pop_line() is None and len(tt) == 0
    log.info("a")
    log.with_metadata({"m": 1}).warn("b")
    assert len(tt) == 2
    assert tt.last_line().messages == ["b"]
    line = tt.pop_line()
    assert line.level is LogLevel.WARN and line.metadata == {"m": 1} and line.data == {}
    assert len(tt) == 1
    tt.clear()
    assert len(tt) == 0 and tt.lines == []


def test_lines_is_a_snapshot(core):
    tt = TestTransport()
    core.LogLayer(transports=tt).info("a")
    lines = tt.lines
    lines.clear()
    assert len(tt) == 1


def test_thread_safe(core):
    tt = TestTransport("t")
    log = core.LogLayer(transports=tt)

    def work():
        for i in range(2000):
            log.info(i)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(tt) == 8000
