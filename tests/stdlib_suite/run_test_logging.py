"""Run CPython's own ``test.test_logging`` logger cases against loglayer's stdlib facade.

    python tests/stdlib_suite/run_test_logging.py [--json PATH]

The cases of ``LoggerTest``, ``ChildLoggerTest`` and ``LoggerAdapterTest`` run with
``logging`` patched so that every logger they build is a facade logger
(``loglayer.stdlib.StdlibLogger``): ``logging.getLogger`` is ``loglayer.stdlib.get_logger``,
``logging.root`` is the facade root (``LoggerAdapterTest`` adapts ``logging.root``, and
``logging.warning()`` logs through it), and ``logging.Logger`` is ``StdlibLogger``
(``LoggerTest.setUp`` builds ``logging.Logger(name='blah')``). The ready logger
``loglayer.log`` sends to a TestTransport, and the number of entries each case emitted
through loglayer is reported, so a pass is known to have gone through the facade.

``cases.txt`` (next to this file) lists every case of those classes, one per line, as
``Class.test_name pass`` or ``Class.test_name exclude: <reason>``. The cases marked
``pass`` run first, then the excluded ones. The exit status is 1 when a case marked
``pass`` does not pass, when an excluded case passes (the exclusion is stale), or when
the list and the suite disagree (a case missing from the list, or listed but gone);
0 otherwise. It needs the interpreter's ``test`` package (pyenv builds ship it; on
Debian it is ``libpython3.X-testsuite``) and never downloads anything.
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

CLASSES = ("LoggerTest", "ChildLoggerTest", "LoggerAdapterTest")
CASES_FILE = pathlib.Path(__file__).resolve().with_name("cases.txt")


def read_cases(path: pathlib.Path = CASES_FILE) -> dict[str, str | None]:
    """Case id -> None when it must pass, or the reason it is excluded.

    Blank lines and lines starting with ``#`` are ignored; anything else that is not
    ``<id> pass`` or ``<id> exclude: <reason>`` raises ``ValueError``.
    """
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


def _run_case(case: unittest.TestCase) -> tuple[str, str]:
    """(outcome, detail): outcome is passed, failed or skipped."""
    result = unittest.TestResult()
    case.run(result)
    problems = result.errors + result.failures + result.unexpectedSuccesses
    if problems:
        return "failed", "\n".join(str(text) for _, text in problems)
    if result.skipped:
        return "skipped", result.skipped[0][1]
    return "passed", ""


def run(cases: dict[str, str | None]) -> dict:
    """Run the cases listed (marked ones first) and return the report."""
    import test.test_logging as suite  # the interpreter's own, imported before patching

    loader = unittest.TestLoader()
    in_suite = [f"{name}.{method}" for name in CLASSES
                for method in loader.getTestCaseNames(getattr(suite, name))]
    sink = TestTransport("test_logging")
    loglayer.configure(transports=sink, level="trace")
    logging.getLogger = stdlib.get_logger
    logging.root = stdlib.get_logger()
    logging.Logger = stdlib.StdlibLogger

    report: dict = {
        "python": platform.python_version(),
        "compiled": loglayer.COMPILED,
        "missing_from_list": sorted(set(in_suite) - set(cases)),
        "not_in_suite": sorted(set(cases) - set(in_suite)),
        "cases": {},
    }
    ordered = ([c for c in in_suite if c in cases and cases[c] is None]
               + [c for c in in_suite if c in cases and cases[c] is not None])
    for case_id in ordered:
        class_name, method = case_id.split(".")
        sink.clear()
        outcome, detail = _run_case(getattr(suite, class_name)(method))
        report["cases"][case_id] = {
            "expected": "pass" if cases[case_id] is None else "exclude",
            "reason": cases[case_id],
            "outcome": outcome,
            "detail": detail,
            "entries": len(sink),
            "entries_with_error": sum(entry.error is not None for entry in sink.lines),
        }
    return report


def problems_of(report: dict) -> list[str]:
    """Why the run fails, one line each; empty when it passes."""
    lines = [f"{case}: in the suite but not in cases.txt" for case in report["missing_from_list"]]
    lines += [f"{case}: in cases.txt but not in the suite" for case in report["not_in_suite"]]
    for case, info in report["cases"].items():
        if info["expected"] == "pass" and info["outcome"] != "passed":
            lines.append(f"{case}: marked pass but {info['outcome']}\n{info['detail']}")
        elif info["expected"] == "exclude" and info["outcome"] == "passed":
            lines.append(f"{case}: excluded ({info['reason']}) but passes; mark it pass")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=pathlib.Path, help="also write the report here")
    args = parser.parse_args(argv)
    report = run(read_cases())
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2), "utf-8")
    outcomes = [info for info in report["cases"].values()]
    passed = sum(info["expected"] == "pass" and info["outcome"] == "passed" for info in outcomes)
    excluded = sum(info["expected"] == "exclude" for info in outcomes)
    core = "compiled" if report["compiled"] else "pure"
    print(f"test.test_logging on Python {report['python']}, {core} core: "
          f"{passed} passed, {excluded} excluded")
    problems = problems_of(report)
    for line in problems:
        print(line, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
