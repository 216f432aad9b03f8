"""LineTransport: one rendered line per entry, one write() per line, shared renderings."""

from __future__ import annotations

import io
import sys

import pytest

from loglayer import LogLayer
from loglayer._select import LineTransport
from loglayer.testing import TestTransport


class CountingFormat:
    """Renders ``level message`` and counts how often it was asked to."""

    def __init__(self, binary=False):
        self.binary = binary
        self.renders = 0

    def render(self, entry):
        self.renders += 1
        text = f"{entry.level.name} {' '.join(map(str, entry.messages))}\n"
        return text.encode() if self.binary else text


class Recorder:
    def __init__(self):
        self.writes = []

    def write(self, data):
        self.writes.append(data)


def test_one_write_per_entry():
    sink = Recorder()
    log = LogLayer(transports=LineTransport(CountingFormat(), sink))
    log.info("a", 1)
    log.warn("b")
    assert sink.writes == ["INFO a 1\n", "WARN b\n"]


@pytest.mark.parametrize("format_binary, stream_binary, expected", [
    (False, False, "INFO x\n"),
    (True, False, "INFO x\n"),
    (False, True, b"INFO x\n"),
    (True, True, b"INFO x\n"),
])
def test_line_is_converted_to_what_the_stream_takes(format_binary, stream_binary, expected):
    sink = Recorder()
    LogLayer(transports=LineTransport(CountingFormat(format_binary), sink,
                                      binary=stream_binary)).info("x")
    assert sink.writes == [expected]


def test_no_stream_means_the_current_sys_stream(monkeypatch):
    first, second = io.StringIO(), io.StringIO()
    log = LogLayer(transports=LineTransport(CountingFormat(), default_stream="stderr"))
    monkeypatch.setattr(sys, "stderr", first)
    log.info("one")
    monkeypatch.setattr(sys, "stderr", second)
    log.info("two")
    assert first.getvalue() == "INFO one\n" and second.getvalue() == "INFO two\n"


def test_transports_sharing_a_format_share_one_rendering():
    fmt = CountingFormat()
    a, b = Recorder(), Recorder()
    log = LogLayer(transports=[LineTransport(fmt, a, id="a"), TestTransport("t"),
                               LineTransport(fmt, b, id="b")])
    log.info("x")
    log.info("y")
    assert fmt.renders == 2
    assert a.writes == b.writes == ["INFO x\n", "INFO y\n"]


def test_subclass_overriding_send_is_called():
    class Tagged(LineTransport):
        def send(self, entry):
            self.write_line("tagged " + self.format.render(entry))

    sink = Recorder()
    LogLayer(transports=Tagged(CountingFormat(), sink)).info("x")
    assert sink.writes == ["tagged INFO x\n"]


def test_subclass_overriding_write_line_is_called():
    class Upper(LineTransport):
        def write_line(self, line):
            super().write_line(line.upper())

    sink = Recorder()
    LogLayer(transports=Upper(CountingFormat(), sink)).info("x")
    assert sink.writes == ["INFO X\n"]


def test_render_failure_is_a_transport_error(tt):
    class Broken:
        binary = False

        def render(self, entry):
            raise ValueError("cannot render")

    reported = []
    log = LogLayer(transports=[LineTransport(Broken(), Recorder(), id="broken"), tt],
                   on_transport_error=reported.append)
    log.info("x")
    assert len(tt) == 1 and reported[0].transport_id == "broken"


def test_bad_arguments():
    with pytest.raises(TypeError, match="format"):
        LineTransport(object())
    with pytest.raises(TypeError, match="stream"):
        LineTransport(CountingFormat(), stream=3)
    with pytest.raises(ValueError, match="default_stream"):
        LineTransport(CountingFormat(), default_stream="stdin")
    with pytest.raises(TypeError, match="binary"):
        LineTransport(CountingFormat(), binary="yes")


def test_flush_reaches_the_stream():
    flushed = []

    class Flushing(Recorder):
        def flush(self):
            flushed.append(True)

    transport = LineTransport(CountingFormat(), Flushing())
    LogLayer(transports=transport).flush()
    assert flushed == [True]
    assert transport.stream is not None and isinstance(transport.format, CountingFormat)
