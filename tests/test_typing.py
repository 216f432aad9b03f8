"""What type checkers see of loglayer: the typed example passes ``mypy --strict`` and
``pyright --strict``, and the wrong calls in ``tests/typing/negative.py`` are rejected,
each on the line marked ``# rejected`` and nowhere else.

The checkers read loglayer from ``src`` as they would read an installed package: its
types (the stubs of the compiled modules, ``loglayer.typing``, the annotations) are used,
its own code is not reported on (``make lint`` checks that). Marked slow: each checker
run takes seconds.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow

HERE = pathlib.Path(__file__).resolve().parent / "typing"
EXAMPLE = HERE / "example.py"
NEGATIVE = HERE / "negative.py"
SRC = HERE.parent.parent / "src"


def _rejected_lines() -> set[int]:
    lines = NEGATIVE.read_text("utf-8").splitlines()
    marked = {number for number, line in enumerate(lines, 1) if line.endswith("# rejected")}
    assert len(marked) >= 10
    return marked


def _mypy(path: pathlib.Path, cache: pathlib.Path) -> tuple[int, str]:
    if importlib.util.find_spec("mypy") is None:
        pytest.skip("mypy (the dev extra) is not installed")
    from mypy import api

    out, err, status = api.run(["--config-file", str(HERE / "mypy.ini"), "--cache-dir",
                                str(cache), "--no-error-summary", "--hide-error-context",
                                str(path)])
    return status, out + err


def _pyright(paths: list[pathlib.Path]) -> list[dict]:
    pyright = shutil.which("pyright", path=os.path.dirname(sys.executable))
    if pyright is None:
        pytest.skip("pyright (the dev extra) is not installed")
    done = subprocess.run([pyright, "--outputjson", "--pythonpath", sys.executable,
                           "--project", str(HERE / "pyrightconfig.json"),
                           *map(str, paths)], capture_output=True, text=True, timeout=300)
    return json.loads(done.stdout)["generalDiagnostics"]


def test_the_example_runs():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH",
                                                                                  "")]))
    done = subprocess.run([sys.executable, str(EXAMPLE)], capture_output=True, text=True,
                          timeout=60, env=env)
    assert done.returncode == 0, done.stderr


def test_mypy_strict_passes_the_example(tmp_path):
    status, output = _mypy(EXAMPLE, tmp_path)
    assert status == 0, output


def test_mypy_rejects_each_wrong_call(tmp_path):
    status, output = _mypy(NEGATIVE, tmp_path)
    assert status == 1, output
    found = {int(m.group(1)) for m in re.finditer(r"negative\.py:(\d+): error:", output)}
    assert found == _rejected_lines(), output


def test_pyright_strict_passes_the_example_and_rejects_each_wrong_call():
    diagnostics = _pyright([EXAMPLE, NEGATIVE])
    errors = [d for d in diagnostics if d["severity"] == "error"]
    in_example = [d for d in errors if pathlib.Path(d["file"]).name == "example.py"]
    assert in_example == [], in_example
    found = {d["range"]["start"]["line"] + 1 for d in errors
             if pathlib.Path(d["file"]).name == "negative.py"}
    assert found == _rejected_lines(), errors
