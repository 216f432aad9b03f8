"""CPython's own ``test.test_logging`` logger cases, run against the stdlib facade.

The runner (``tests/stdlib_suite/run_test_logging.py``) runs once, in a subprocess on
the live core, and this module checks its report against ``cases.txt``.
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
    if importlib.util.find_spec("test.test_logging") is None:
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
def test_the_runner_used_the_live_core(run):
    _, report = run
    assert report["compiled"] == loglayer.COMPILED


@pytest.mark.slow
def test_the_case_list_is_up_to_date(run):
    _, report = run
    assert report["missing_from_list"] == [], "add these to cases.txt"
    assert report["not_in_suite"] == [], "these are no longer in test.test_logging"


@pytest.mark.slow
def test_every_case_marked_pass_passes(run):
    _, report = run
    failing = {case: f"{info['outcome']}\n{info['detail']}"
               for case, info in report["cases"].items()
               if info["expected"] == "pass" and info["outcome"] != "passed"}
    assert not failing, "\n\n".join(f"{case}: {text}" for case, text in failing.items())


@pytest.mark.slow
def test_every_exclusion_is_still_needed(run):
    _, report = run
    stale = [case for case, info in report["cases"].items()
             if info["expected"] == "exclude" and info["outcome"] == "passed"]
    assert not stale, f"excluded but passing, mark them pass: {stale}"


@pytest.mark.slow
def test_the_runner_exits_cleanly_and_prints_the_counts(run):
    result, report = run
    cases = runner.read_cases()
    passed = sum(reason is None for reason in cases.values())
    assert result.returncode == 0, result.stderr
    assert f"{passed} passed, {len(cases) - passed} excluded" in result.stdout
    assert len(report["cases"]) == len(cases)


@pytest.mark.slow
def test_the_cases_went_through_loglayer(run):
    _, report = run
    cases = report["cases"]
    for case in ("LoggerTest.test_exception", "LoggerAdapterTest.test_exception",
                 "LoggerAdapterTest.test_exception_excinfo"):
        assert cases[case]["entries_with_error"] == 1, case
    assert cases["LoggerTest.test_find_caller_with_stacklevel"]["entries"] == 5
    assert cases["LoggerAdapterTest.test_nested"]["entries"] == 1


def test_most_cases_pass():
    cases = runner.read_cases()
    excluded = {case: reason for case, reason in cases.items() if reason is not None}
    assert len(cases) - len(excluded) >= 20, excluded


@pytest.mark.parametrize("line", [
    "LoggerTest.test_x", "LoggerTest.test_x skip", "LoggerTest.test_x exclude:",
    "test_x pass",
])
def test_a_malformed_case_line_is_rejected(tmp_path, line):
    path = tmp_path / "cases.txt"
    path.write_text(f"# comment\n\n{line}\n", "utf-8")
    with pytest.raises(ValueError, match="cases.txt:3"):
        runner.read_cases(path)
