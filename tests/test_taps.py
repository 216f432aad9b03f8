"""Process-wide taps: every entry any logger emits, for capture in tests.

Loggers come from the ``core`` fixture: both cores feed the same process-wide taps.
"""

from __future__ import annotations

import pytest

import loglayer
from loglayer._taps import add_tap, remove_tap
from loglayer.testing import TestTransport


def test_a_tap_sees_every_logger_after_hooks_whatever_the_gates(core):
    tap = TestTransport("tap")
    own = TestTransport("own")
    log = core.LogLayer(transports=own, level="info",
                        plugins=[loglayer.send_gate("closed", lambda p: False),
                                 loglayer.message_hook("m", lambda p: ["hooked"])])
    derived_before = log.with_fields(a=1)
    add_tap(tap)
    try:
        derived_before.info("x")
        core.LogLayer(transports=TestTransport()).warn("other logger")
        log.debug("filtered by level")
    finally:
        remove_tap(tap)
    log.info("after removal")
    assert [e.messages for e in tap.lines] == [["hooked"], ["other logger"]]
    assert tap.lines[0].data == {"a": 1}
    assert len(own) == 0


def test_a_failing_tap_is_reported_and_never_raises(core, capsys):
    class Broken:
        def send(self, entry):
            raise RuntimeError("tap down")

    broken = Broken()
    add_tap(broken)
    try:
        core.LogLayer(transports=TestTransport()).info("x")
    finally:
        remove_tap(broken)
    assert "tap down" in capsys.readouterr().err


def test_a_tap_needs_send():
    with pytest.raises(TypeError, match="send"):
        add_tap(object())
