"""``python -m loglayer.bench --instructions``: the callgrind output parser, the per-call
subtraction, the child-process plumbing (with a stand-in for valgrind that runs the
child natively and writes a made-up total), and one real run under valgrind (slow)."""

from __future__ import annotations

import json
import math
import os
import shutil
import stat
import sys
import textwrap

import pytest

from loglayer.bench import _instructions
from loglayer.bench._instructions import Count, CountError, count_case, parse_total, per_call
from loglayer.bench._runner import main

_CALLGRIND_OUT = """\
# callgrind format
version: 1
creator: callgrind-3.19.0
pid: 4242
cmd:  /usr/bin/python3 -c pass
part: 1

desc: I1 cache:
timeframe (BB): 1234
positions: line
events: Ir
summary: 744739829

fn=(1) main
0 12

totals: 744739829
"""


def test_parse_total_reads_the_totals_line():
    assert parse_total(_CALLGRIND_OUT.splitlines()) == 744_739_829


def test_parse_total_falls_back_to_the_summary_line():
    lines = [line for line in _CALLGRIND_OUT.splitlines() if not line.startswith("totals:")]
    lines[lines.index("summary: 744739829")] = "summary: 1000"
    assert parse_total(lines) == 1000


def test_parse_total_without_a_count_says_so():
    with pytest.raises(ValueError, match="no totals"):
        parse_total(["events: Ir", "fn=(1) main"])


def test_per_call_is_the_difference_over_the_extra_iterations():
    # start-up 700M, 9,521 instructions per call
    count = Count(1000, 3000, 700_000_000 + 1000 * 9521, 700_000_000 + 3000 * 9521)
    assert count.per_call == 9521.0
    assert per_call(300, 10_000, 900, 13_000) == 5.0


def test_per_call_needs_more_iterations_in_the_second_run():
    with pytest.raises(ValueError):
        per_call(3000, 1, 1000, 2)


def _fake_valgrind(tmp_path, per_iteration: int) -> str:
    """An executable standing in for valgrind: it runs the child command natively (so
    the child's set-up and run are exercised) and writes a callgrind file whose total
    is 5,000,000 + per_iteration * n."""
    script = tmp_path / "valgrind"
    script.write_text(textwrap.dedent(f"""\
        #!{sys.executable}
        import subprocess, sys
        out = next(a.split("=", 1)[1] for a in sys.argv if a.startswith("--callgrind-out-file="))
        cmd = [a for a in sys.argv[1:] if not a.startswith("--")]
        status = subprocess.call(cmd)
        n = int(cmd[-1])
        with open(out, "w") as f:
            f.write("events: Ir\\nsummary: 1\\ntotals: %d\\n" % (5_000_000 + {per_iteration} * n))
        sys.exit(status)
        """))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


def test_count_case_runs_both_children_and_subtracts(tmp_path):
    valgrind = _fake_valgrind(tmp_path, 1234)
    count = count_case("S1", "loglayer-pure", (10, 30), None, valgrind, str(tmp_path / "pyc"))
    assert (count.n1, count.n2) == (10, 30)
    assert count.total2 - count.total1 == 20 * 1234
    assert count.per_call == 1234.0


def test_count_case_reports_a_library_that_cannot_run_the_scenario(tmp_path):
    valgrind = _fake_valgrind(tmp_path, 1)
    with pytest.raises(CountError, match="no plugin pipeline"):
        count_case("S6", "stdlib", (10, 30), None, valgrind, str(tmp_path / "pyc"))


def _changing_sources(monkeypatch, stamps: list[int]) -> list[int]:
    """Make ``_sources_stamp`` return ``stamps`` one by one, and ``_count_once`` a count
    (or raise, for a stamp below zero before it); returns the calls' log."""
    calls: list[int] = []
    it = iter(stamps)
    monkeypatch.setattr(_instructions, "_sources_stamp", lambda: next(it))

    def count_once(*args):
        calls.append(1)
        if len(calls) == 1 and stamps[0] < 0:
            raise CountError("ImportError: mid-edit")
        return Count(10, 30, 100, 300)

    monkeypatch.setattr(_instructions, "_count_once", count_once)
    return calls


def test_a_count_is_taken_again_when_the_sources_changed_under_it(monkeypatch):
    calls = _changing_sources(monkeypatch, [1, 2, 2, 2])
    assert count_case("S1", "stdlib", (10, 30), None, "valgrind", "pyc").per_call == 10.0
    assert len(calls) == 2


def test_a_child_failing_while_the_sources_changed_is_retried(monkeypatch):
    calls = _changing_sources(monkeypatch, [-1, 2, 2, 2])
    assert count_case("S1", "stdlib", (10, 30), None, "valgrind", "pyc").per_call == 10.0
    assert len(calls) == 2


def test_sources_that_keep_changing_fail_the_count(monkeypatch):
    _changing_sources(monkeypatch, list(range(2 * _instructions.ATTEMPTS)))
    with pytest.raises(CountError, match="changed during each"):
        count_case("S1", "stdlib", (10, 30), None, "valgrind", "pyc")


def test_instructions_without_valgrind_exit_2(monkeypatch, capsys):
    monkeypatch.setattr(_instructions.shutil, "which", lambda name: None)
    assert main(["--instructions", "--scenarios", "S1", "--libraries", "pure"]) == 2
    assert "needs valgrind" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")
def test_a_real_count_under_valgrind(tmp_path, capsys):
    status = main(["--instructions", "--instructions-n", "20,60", "--scenarios", "S1",
                   "--libraries", "pure", "--rounds", "1", "--batch-ms", "1", "--no-png",
                   "--output", os.fspath(tmp_path)])
    out = capsys.readouterr().out
    assert status == 0
    assert "## Instructions per call (callgrind)" in out
    row = json.loads((tmp_path / "latest.json").read_text())["scenarios"][0]["rows"][0]
    assert row["instructions_problem"] is None
    assert math.isfinite(row["instructions_per_call"]) and row["instructions_per_call"] > 0
    assert row["instructions_runs"]["n"] == [20, 60]
