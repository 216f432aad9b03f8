"""The benchmark's S6b, S11, S12 and S13 set up and render what they claim (``--dry-run``),
and the harness pieces they rely on (threads released together, a timed finish, a
settle after each batch, a cap on batch sizes) do what they say. Timings belong to the
benchmark, never to a test."""

from __future__ import annotations

import importlib.util
import tempfile

import pytest

from loglayer.bench._runner import (
    BinaryNullSink,
    NullSink,
    calibrate,
    compile_case,
    main,
    settled,
    threaded,
)
from loglayer.bench._scenarios import QUEUE_BATCH, Case, loglayer_libraries

_PEERS = {"stdlib logging": "logging", "structlog": "structlog", "loguru": "loguru",
          "picologging": "picologging"}
#: Peers that cannot run a scenario (no counterpart, or a deadlock): skipped with a note.
_NO_COUNTERPART = {"S11": {"picologging"}, "S13": {"structlog", "picologging"}}


def _section(out: str, sid: str) -> str:
    return out.split(f"## {sid}:", 1)[1].split("\n## ", 1)[0]


def _rendered(section: str, library: str) -> list[str]:
    """The JSON lines shown as ``library``'s sample in a samples section."""
    sample = section.split(f"**{library}**", 1)[1].split("\n**", 1)[0]
    return [line for line in sample.splitlines() if line.startswith("{")]


@pytest.fixture
def private_tmp(tmp_path, monkeypatch):
    """A temporary directory of the test's own for ``tempfile``, so that S12's log
    directories can be seen to be removed."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def test_new_scenarios_pass_their_output_checks(capsys, private_tmp):
    status = main(["--dry-run", "--scenarios", "S6b,S11,S12,S13"])
    out = capsys.readouterr().out
    assert status == 0
    assert "CHECK FAILED" not in out
    compiled = importlib.util.find_spec("loglayer._core") is not None
    for sid in ("S6b", "S11", "S12", "S13"):
        section = _section(out, sid)
        assert "**loglayer (pure)** (check ok)" in section
        if compiled:
            assert "**loglayer (compiled)** (check ok)" in section
        if sid == "S6b":
            continue
        for name, module in _PEERS.items():
            if name in _NO_COUNTERPART.get(sid, ()):
                assert f"- {name}: skipped (" in section
            elif importlib.util.find_spec(module) is not None:
                assert f"**{name}** (check ok)" in section
    s6b = _section(out, "S6b")
    for library in ("loglayer (pure)", "loglayer (compiled)") if compiled else (
            "loglayer (pure)",):
        lines = _rendered(s6b, library)
        assert len(lines) == 1 and '"service":"auth"' in lines[0]
        assert "**" + library + ", no plugin** (not checked)" in s6b
    assert not list(private_tmp.glob("loglayer-bench-*"))  # S12's files are gone


def test_threaded_batch_runs_every_thread_and_reports_the_wall_time():
    calls: list[int] = []
    case = Case("calls.append(1)", {"calls": calls})
    elapsed = threaded(compile_case(case), 2)(500)
    assert len(calls) == 1000
    assert elapsed > 0


def test_a_thread_that_raises_fails_the_batch():
    case = Case("1 / 0", {})
    with pytest.raises(ZeroDivisionError):
        threaded(compile_case(case), 2)(1)


def test_finish_is_timed_once_per_batch_and_settle_runs_after_it():
    events: list[str] = []
    case = Case("events.append('call')", {"events": events},
                finish=lambda: events.append("finish"),
                settle=lambda: events.append("settle"))
    settled(compile_case(case), case.settle)(3)
    assert events == ["call", "call", "call", "finish", "settle"]


def test_calibration_never_exceeds_a_cases_cap():
    case = Case("pass", {})
    assert calibrate(compile_case(case), 50_000_000, max_n=64) <= 64


@pytest.mark.parametrize("variant", ["loglayer (compiled)", "loglayer (pure)"])
def test_a_full_s13_batch_fits_loglayers_queue_and_is_drained(variant):
    """A batch of ``QUEUE_BATCH`` calls drops nothing (the drain raises on a drop), and
    the drain leaves the queue empty for the next batch."""
    library = next(lib for lib in loglayer_libraries() if lib.name == variant)
    try:
        case = library.setup("S13", NullSink(), BinaryNullSink())
    except Exception as exc:  # Unavailable: this core is not built here
        pytest.skip(str(exc))
    try:
        assert case.max_n == QUEUE_BATCH and case.settle is not None
        batch = settled(compile_case(case), case.settle)
        batch(QUEUE_BATCH)
        batch(QUEUE_BATCH)
    finally:
        assert case.teardown is not None
        case.teardown()
