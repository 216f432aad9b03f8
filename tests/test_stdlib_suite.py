"""CPython's own ``test.test_logging``, all of it, run with loglayer installed.

The runner (``tests/stdlib_suite/run_test_logging.py``) runs once, in a subprocess on
the live core, and this module checks its report against the case list of the running
Python (``cases-<major>.<minor>.txt``) and the pass-rate threshold.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import subprocess
import sys

import pytest

import loglayer

SUITE_DIR = pathlib.Path(__file__).resolve().parent / "stdlib_suite"
RUNNER = SUITE_DIR / "run_test_logging.py"


def _load_runner():
    spec = importlib.util.spec_from_file_location("run_test_logging", RUNNER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


runner = _load_runner()


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> tuple[subprocess.CompletedProcess, dict]:
    if importlib.util.find_spec("test") is None or (
            importlib.util.find_spec("test.test_logging") is None):
        pytest.skip("this interpreter ships without its test package "
                    "(on Debian: the libpython3.X-testsuite package)")
    out = tmp_path_factory.mktemp("stdlib_suite") / "report.json"
    package_root = str(pathlib.Path(loglayer.__file__).resolve().parent.parent)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (package_root, os.environ.get("PYTHONPATH", "")) if p))
    result = subprocess.run([sys.executable, str(RUNNER), "--json", str(out)], env=env,
                            capture_output=True, text=True, timeout=600)
    assert out.exists(), f"the runner wrote no report:\n{result.stdout}\n{result.stderr}"
    return result, json.loads(out.read_text("utf-8"))


@pytest.mark.slow
def test_the_runner_used_the_live_core_and_install(run):
    _, report = run
    assert report["compiled"] == loglayer.COMPILED
    assert report["installed"] == "StdlibLogger"  # a new logger after the run is a facade one


@pytest.mark.slow
def test_the_case_list_is_exact_for_this_python(run):
    _, report = run
    assert report["missing_from_list"] == [], "add these to the case list"
    assert report["not_in_suite"] == [], "these are no longer in test.test_logging"
    assert len(report["cases"]) == report["total"] == len(runner.read_cases())


@pytest.mark.slow
def test_every_case_marked_pass_passes(run):
    _, report = run
    failing = {case: info["detail"] for case, info in report["cases"].items()
               if info["expected"] == "pass" and info["outcome"] == "failed"}
    assert not failing, "\n\n".join(f"{case}: {text}" for case, text in failing.items())


@pytest.mark.slow
def test_every_exclusion_is_still_needed(run):
    _, report = run
    stale = [case for case, info in report["cases"].items()
             if info["expected"] == "exclude" and info["outcome"] == "passed"]
    assert not stale, f"excluded but passing, mark them pass: {stale}"


@pytest.mark.slow
def test_the_pass_rate_is_at_the_threshold_and_printed(run):
    result, report = run
    assert report["ran"] > 0.9 * report["total"]
    assert report["pass_rate"] >= runner.THRESHOLD, report["pass_rate"]
    assert result.returncode == 0, result.stderr
    assert f"{report['passed']} passed of {report['ran']} run" in result.stdout


@pytest.mark.slow
def test_the_cases_went_through_loglayer(run):
    _, report = run
    cases = report["cases"]
    assert report["entries"] > 100
    # the levels case logs through loggers of the tree, which reach the root
    assert cases["BuiltinLevelsTest.test_flat"]["entries"] > 0
    assert cases["CustomLevelsAndFiltersTest.test_specific_filters"]["entries"] > 0


def test_the_threshold_holds_on_every_case_list():
    lists = sorted(SUITE_DIR.glob("cases-3.*.txt"))
    assert [path.name for path in lists] == [
        "cases-3.10.txt", "cases-3.11.txt", "cases-3.12.txt", "cases-3.13.txt"]
    for path in lists:
        cases = runner.read_cases(path)
        excluded = [case for case, reason in cases.items() if reason is not None]
        assert (len(cases) - len(excluded)) / len(cases) >= runner.THRESHOLD, path.name
        assert len(cases) >= 200, path.name  # the whole module, not a few classes


def test_a_python_without_a_case_list_fails_the_run(tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "SUITE_DIR", tmp_path)
    assert runner.main([]) == 1


@pytest.mark.parametrize("line", [
    "LoggerTest.test_x", "LoggerTest.test_x skip", "LoggerTest.test_x exclude:",
    "test_x pass",
])
def test_a_malformed_case_line_is_rejected(tmp_path, line):
    path = tmp_path / "cases-3.11.txt"
    path.write_text(f"# comment\n\n{line}\n", "utf-8")
    with pytest.raises(ValueError, match="cases-3.11.txt:3"):
        runner.read_cases(path)


def test_the_report_fails_below_the_threshold():
    cases = {f"C.test_{n}": {"expected": "pass", "outcome": "passed"} for n in range(96)}
    cases.update({f"C.fail_{n}": {"expected": "exclude", "outcome": "failed", "reason": "r"}
                  for n in range(4)})
    report = {"missing_from_list": [], "not_in_suite": [], "cases": cases, "ran": 100,
              "passed": 96, "pass_rate": 0.96}
    assert runner.problems_of(report) == ["96 of 100 cases that ran passed: below 97%"]
    report.update(passed=97, pass_rate=0.97)
    assert runner.problems_of(report) == []
