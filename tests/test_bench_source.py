"""The benchmark's S14 (S2 plus the call site) and S15 (S3 routed by a group): every
contender sets up and renders what the scenario says; in S14 each line shows the timed
statement's own place, and the output check fails a line without it."""

from __future__ import annotations

import importlib.util

from loglayer.bench._runner import main
from loglayer.bench._scenarios import SCENARIOS, check_output

_PEERS = {"stdlib logging": "logging", "structlog": "structlog", "loguru": "loguru"}


def test_s14_every_contender_renders_the_call_site(capsys):
    status = main(["--dry-run", "--scenarios", "S14"])
    out = capsys.readouterr().out
    assert status == 0
    assert "CHECK FAILED" not in out
    section = out.split("## S14:", 1)[1]
    assert "**loglayer (pure)** (check ok)" in section
    if importlib.util.find_spec("loglayer._core") is not None:
        assert "**loglayer (compiled)** (check ok)" in section
    for name, module in _PEERS.items():
        if importlib.util.find_spec(module) is not None:
            assert f"**{name}** (check ok)" in section
    if importlib.util.find_spec("picologging") is not None:
        # it reports the caller's caller, so it is left out with that reason
        assert "- picologging: skipped (its findCaller reports the caller's caller" in section


def test_s14_check_refuses_a_line_without_the_call_site():
    (s14,) = [s for s in SCENARIOS if s.id == "S14"]
    assert check_output(s14, "INFO user logged in\n") is not None
    assert check_output(s14, "INFO <bench: x>:5 batch user logged in\n") is None


def test_s15_routes_the_tagged_entry_on_both_cores(capsys):
    status = main(["--dry-run", "--scenarios", "S15"])
    out = capsys.readouterr().out
    assert status == 0
    section = out.split("## S15:", 1)[1]
    assert "**loglayer (pure)** (check ok)" in section
    if importlib.util.find_spec("loglayer._core") is not None:
        assert "**loglayer (compiled)** (check ok)" in section
