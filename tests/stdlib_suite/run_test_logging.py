"""Run all of CPython's own ``test.test_logging`` with loglayer installed.

    python tests/stdlib_suite/run_test_logging.py [--json PATH]

loglayer is installed the way a user installs it, with its public function and
nothing else: ``loglayer.stdlib.install(transports=...)``, which makes every logger of
``logging``'s tree a facade logger and configures loglayer, so each call that reaches
the root also goes through loglayer (into a ``TestTransport`` that counts the entries
of each case). ``logging`` itself is not patched. ``install()`` is called again before
each case, as it is idempotent: a few cases put ``logging.Logger`` back as the logger
class when they end (``setLoggerClass``), and the next case must start installed.

Every case of the interpreter's module runs, in the suite's order and with its class
and module fixtures. ``cases-<major>.<minor>.txt`` (next to this file) lists every case
of that Python version, one per line, as ``Class.test_name pass`` or
``Class.test_name exclude: <reason>``. The exit status is 1 when a case marked ``pass``
fails (a skip is not a failure: it depends on the machine), when an excluded case
passes (the exclusion is stale), when the list and the suite disagree, or when fewer
than ``THRESHOLD`` of the cases that ran (not skipped) passed; 0 otherwise. It needs the
interpreter's ``test`` package (pyenv builds ship it; on Debian it is
``libpython3.X-testsuite``) and never downloads anything.
"""

from __future__ import annotations

import argparse
import json
import logging
import pathlib
import platform
import sys
import unittest

import loglayer
from loglayer import stdlib
from loglayer.testing import TestTransport

SUITE_DIR = pathlib.Path(__file__).resolve().parent
#: The least share of the cases that ran which must pass.
THRESHOLD = 0.97


def cases_file(version: tuple[int, int] | None = None) -> pathlib.Path:
    """The case list of a Python version (default: the running one)."""
    major, minor = version or sys.version_info[:2]
    return SUITE_DIR / f"cases-{major}.{minor}.txt"


def read_cases(path: pathlib.Path | None = None) -> dict[str, str | None]:
    """Case id -> None when it must pass, or the reason it is excluded.

    Blank lines and lines starting with ``#`` are ignored; anything else that is not
    ``<id> pass`` or ``<id> exclude: <reason>`` raises ``ValueError``.
    """
    path = path or cases_file()
    cases: dict[str, str | None] = {}
    for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        case_id, _, verdict = line.partition(" ")
        verdict = verdict.strip()
        if verdict == "pass":
            cases[case_id] = None
        elif verdict.startswith("exclude:") and verdict[len("exclude:"):].strip():
            cases[case_id] = verdict[len("exclude:"):].strip()
        else:
            raise ValueError(f"{path.name}:{number}: expected '<Class.test> pass' or "
                             f"'<Class.test> exclude: <reason>', got {line!r}")
        if case_id.count(".") != 1:
            raise ValueError(f"{path.name}:{number}: {case_id!r} is not Class.test_name")
    return cases


def _case_id(test: unittest.TestCase) -> str:
    return ".".join(test.id().split(".")[-2:])


class _Result(unittest.TestResult):
    """Each case's outcome (passed, failed or skipped) and detail, and how many
    loglayer entries it emitted; ``install()`` runs before each case."""

    def __init__(self, sink: TestTransport) -> None:
        super().__init__()
        self.sink = sink
        self.outcomes: dict[str, dict] = {}

    def startTest(self, test: unittest.TestCase) -> None:  # noqa: N802 (unittest's name)
        stdlib.install()
        self.sink.clear()
        super().startTest(test)

    def _record(self, test: unittest.TestCase, outcome: str, detail: str = "") -> None:
        case = self.outcomes.setdefault(_case_id(test), {"outcome": "passed", "detail": ""})
        if case["outcome"] != "failed":  # a failed subtest fails the case
            case["outcome"], case["detail"] = outcome, detail
        case["entries"] = len(self.sink)

    def addSuccess(self, test: unittest.TestCase) -> None:  # noqa: N802
        self._record(test, "passed")

    def addError(self, test: unittest.TestCase, err: object) -> None:  # noqa: N802
        if not isinstance(test, unittest.TestCase):  # a class or module fixture failed
            self.outcomes.setdefault(str(test), {"outcome": "failed", "entries": 0,
                                                 "detail": self._exc_info_to_string(err, test)})
            return
        self._record(test, "failed", self._exc_info_to_string(err, test))

    def addFailure(self, test: unittest.TestCase, err: object) -> None:  # noqa: N802
        self._record(test, "failed", self._exc_info_to_string(err, test))

    def addSubTest(self, test: unittest.TestCase, subtest: unittest.TestCase,
                   err: object) -> None:  # noqa: N802
        if err is not None:
            self._record(test, "failed", self._exc_info_to_string(err, subtest))

    def addSkip(self, test: unittest.TestCase, reason: str) -> None:  # noqa: N802
        self._record(test, "skipped", reason)

    def addExpectedFailure(self, test: unittest.TestCase, err: object) -> None:  # noqa: N802
        self._record(test, "passed")

    def addUnexpectedSuccess(self, test: unittest.TestCase) -> None:  # noqa: N802
        self._record(test, "failed", "unexpected success")


def run(cases: dict[str, str | None]) -> dict:
    """Run every case of ``test.test_logging`` installed, and return the report."""
    sink = TestTransport("test_logging")
    stdlib.install(transports=sink, level="trace")
    import test.test_logging as suite

    tests = unittest.TestLoader().loadTestsFromModule(suite)
    in_suite = [_case_id(test) for test in _flatten(tests)]
    result = _Result(sink)
    tests.run(result)
    outcomes = result.outcomes
    for case_id, info in outcomes.items():
        info["expected"] = "exclude" if cases.get(case_id) else "pass"
        info["reason"] = cases.get(case_id)
    ran = [info for info in outcomes.values() if info["outcome"] != "skipped"]
    passed = sum(info["outcome"] == "passed" for info in ran)
    return {
        "python": platform.python_version(),
        "compiled": loglayer.COMPILED,
        "installed": type(logging.getLogger("run_test_logging.probe")).__name__,
        "missing_from_list": sorted(set(in_suite) - set(cases)),
        "not_in_suite": sorted(set(cases) - set(in_suite)),
        "total": len(in_suite),
        "ran": len(ran),
        "passed": passed,
        "pass_rate": passed / len(ran) if ran else 0.0,
        "entries": sum(info.get("entries", 0) for info in outcomes.values()),
        "cases": outcomes,
    }


def _flatten(tests: unittest.TestSuite) -> list[unittest.TestCase]:
    found: list[unittest.TestCase] = []
    for test in tests:
        if isinstance(test, unittest.TestSuite):
            found.extend(_flatten(test))
        else:
            found.append(test)
    return found


def problems_of(report: dict) -> list[str]:
    """Why the run fails, one line each; empty when it passes."""
    lines = [f"{case}: in the suite but not in the case list"
             for case in report["missing_from_list"]]
    lines += [f"{case}: in the case list but not in the suite" for case in report["not_in_suite"]]
    for case, info in report["cases"].items():
        if info["expected"] == "pass" and info["outcome"] == "failed":
            lines.append(f"{case}: marked pass but failed\n{info['detail']}")
        elif info["expected"] == "exclude" and info["outcome"] == "passed":
            lines.append(f"{case}: excluded ({info['reason']}) but passes; mark it pass")
    if report["pass_rate"] < THRESHOLD:
        lines.append(f"{report['passed']} of {report['ran']} cases that ran passed: "
                     f"below {THRESHOLD:.0%}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=pathlib.Path, help="also write the report here")
    args = parser.parse_args(argv)
    path = cases_file()
    if not path.exists():
        print(f"no case list for Python {sys.version_info[0]}.{sys.version_info[1]}: "
              f"{path.name}", file=sys.stderr)
        return 1
    report = run(read_cases(path))
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2), "utf-8")
    excluded = sum(info["expected"] == "exclude" for info in report["cases"].values())
    core = "compiled" if report["compiled"] else "pure"
    print(f"test.test_logging on Python {report['python']}, {core} core, installed: "
          f"{report['passed']} passed of {report['ran']} run ({report['pass_rate']:.1%}), "
          f"{report['total'] - report['ran']} skipped, {excluded} excluded, "
          f"{report['entries']} loglayer entries")
    problems = problems_of(report)
    for line in problems:
        print(line, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
