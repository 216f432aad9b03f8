"""SPEC §5: transports: the entry, enabled and level, errors, the Transport base.

Loggers and Transport subclasses come from the ``core`` fixture: each test runs on the
compiled and the pure core in one pytest run.
"""

from __future__ import annotations

import io
import sys

import pytest

import loglayer
from loglayer import LogLevel, TransportError
from loglayer.testing import TestTransport


@pytest.fixture
def log(core, tt):
    """A logger of each core in turn: the dispatch tests run on the compiled and pure cores."""
    return core.LogLayer(transports=tt)


def test_entry_attributes(core, tt):
    log = core.LogLayer(transports=tt, metadata_key="meta", prefix="[p]")
    err = ValueError("x")
    log.with_context("c").with_fields(f=1).with_metadata({"m": 1}).with_error(err).warn("a", 2)
    e = tt.last_line()
    assert e.level is LogLevel.WARN
    assert e.messages == ["a", 2]
    assert e.data["f"] == 1
    assert e.metadata == {"m": 1}
    assert e.error is err
    assert e.fields == {"f": 1}
    assert e.ctx == "c"
    assert e.prefix == "[p]"
    assert isinstance(e.time_ns, int) and e.time_ns > 0
    assert e.metadata_key == "meta"


def test_entries_are_fresh_per_emission(log, tt):
    log.info("a")
    log.info("b")
    first, second = tt.lines
    assert first is not second
    assert first.messages == ["a"]


def test_enabled_is_read_at_each_emission(log, tt):
    tt.enabled = False
    log.info("off")
    tt.enabled = True
    log.info("on")
    assert [e.messages for e in tt.lines] == [["on"]]


def test_transport_level_filter(log):
    warn_up = TestTransport("w", level=LogLevel.WARN)
    log.add_transport(warn_up)
    log.info("no")
    log.error("yes")
    assert [e.messages for e in warn_up.lines] == [["yes"]]
    warn_up.level = None
    log.debug("now")
    assert len(warn_up) == 2
    warn_up.level = "fatal"
    assert warn_up.level is LogLevel.FATAL
    with pytest.raises(ValueError):
        warn_up.level = "nope"


def test_duck_transport_enabled_and_level_attributes(core):
    class Duck:
        id = "duck"

        def __init__(self):
            self.got = []
            self.enabled = True
            self.level = None

        def send(self, entry):
            self.got.append(entry.messages[0])

    duck = Duck()
    log = core.LogLayer(transports=duck)
    log.info("1")
    duck.enabled = False
    log.info("2")
    duck.enabled = True
    duck.level = "error"
    log.info("3")
    log.error("4")
    duck.level = LogLevel.DEBUG
    log.trace("5")
    log.debug("6")
    assert duck.got == ["1", "4", "6"]


def test_subclass_overriding_enabled_is_honoured(core):
    class Flaky(TestTransport):
        switch = True

        @property
        def enabled(self):
            return type(self).switch

        @enabled.setter
        def enabled(self, value):
            pass

    flaky = Flaky("flaky")
    log = core.LogLayer(transports=flaky)
    log.info("a")
    Flaky.switch = False
    log.info("b")
    assert [e.messages for e in flaky.lines] == [["a"]]


def test_transport_exception_goes_to_handler_and_others_still_get_it(core, tt):
    class Broken(core.Transport):
        def send(self, entry):
            raise OSError("disk on fire")

    reported = []
    log = core.LogLayer(transports=[Broken("broken"), tt], on_transport_error=reported.append)
    log.info("x")
    assert len(tt) == 1
    [err] = reported
    assert isinstance(err, TransportError) and err.transport_id == "broken"
    assert isinstance(err.__cause__, OSError)


def test_transport_exception_without_handler_is_one_stderr_line(core, monkeypatch, tt):
    class Broken(core.Transport):
        def send(self, entry):
            raise OSError("disk on fire")

    buf = io.StringIO()
    monkeypatch.setattr(sys, "stderr", buf)
    core.LogLayer(transports=[Broken("broken"), tt]).info("x")
    lines = buf.getvalue().splitlines()
    assert len(lines) == 1 and "broken" in lines[0] and "disk on fire" in lines[0]


def test_failing_transport_error_handler_falls_back_to_stderr(core, capsys):
    class Broken(core.Transport):
        def send(self, entry):
            raise OSError("x")

    def handler(err):
        raise RuntimeError("handler down")

    core.LogLayer(transports=Broken("b"), on_transport_error=handler).info("x")
    assert "handler down" in capsys.readouterr().err


def test_transport_base_class(core):
    class Mine(core.Transport):
        def send(self, entry):
            pass

    mine = Mine()
    assert mine.id.startswith("transport-")
    assert mine.enabled is True and mine.level is None
    assert mine.get_logger_instance() is mine
    mine.flush()
    mine.close()
    assert Mine("named").id == "named"
    with pytest.raises(TypeError, match="id"):
        Mine(3)
    with pytest.raises(TypeError, match="enabled"):
        Mine(enabled="yes")
    with pytest.raises(ValueError):
        Mine(level="loud")
    with pytest.raises(NotImplementedError):
        core.Transport("plain").send(None)


def test_keyboard_interrupt_from_transport_propagates(core):
    class Stop(core.Transport):
        def send(self, entry):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        core.LogLayer(transports=Stop()).info("x")


def test_dispatch_continues_after_keyboard_interrupt(core, tt):
    class StopOnce(core.Transport):
        fired = False

        def send(self, entry):
            if not StopOnce.fired:
                StopOnce.fired = True
                raise KeyboardInterrupt

    log = core.LogLayer(transports=[StopOnce("s"), tt])
    with pytest.raises(KeyboardInterrupt):
        log.info("x")
    log.info("y")  # the re-entrancy guard was released
    assert [e.messages for e in tt.lines] == [["y"]]


def test_entries_handed_to_transports_may_be_kept(log, tt):
    for i in range(200):
        log.info(i)
    assert [e.messages[0] for e in tt.lines] == list(range(200))


def test_console_transport_is_the_public_default():
    assert loglayer.ConsoleTransport.__module__.startswith("loglayer.transports")
