"""loglayer.testing.TestTransport."""

import threading

from loglayer import LogLayer, LogLevel
from loglayer.testing import TestTransport


def test_not_collected_by_pytest():
    assert TestTransport.__test__ is False


def test_lines_and_helpers():
    tt = TestTransport()
    assert tt.id
    log = LogLayer(transports=tt)
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


def test_lines_is_a_snapshot():
    tt = TestTransport()
    LogLayer(transports=tt).info("a")
    lines = tt.lines
    lines.clear()
    assert len(tt) == 1


def test_thread_safe():
    tt = TestTransport("t")
    log = LogLayer(transports=tt)

    def work():
        for i in range(2000):
            log.info(i)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(tt) == 8000
