"""Every test id named in SPEC_COVERAGE.md must exist."""

from __future__ import annotations

import ast
import pathlib
import re

HERE = pathlib.Path(__file__).resolve().parent
COVERAGE = HERE / "SPEC_COVERAGE.md"
IDS = sorted(set(re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", COVERAGE.read_text("utf-8"))))


def _test_functions(path: pathlib.Path) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"))
    return {node.name for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.name.startswith("test_")}


def test_coverage_map_names_tests():
    assert len(IDS) > 50


def test_every_listed_id_exists():
    missing = []
    cache: dict[str, set[str]] = {}
    for filename, name in IDS:
        path = HERE.parent / filename
        if filename not in cache:
            cache[filename] = _test_functions(path) if path.exists() else set()
        if name not in cache[filename]:
            missing.append(f"{filename}::{name}")
    assert not missing, f"SPEC_COVERAGE.md names tests that do not exist: {missing}"
