"""Every Python code block in the README runs."""

from __future__ import annotations

import pathlib
import re

import pytest

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_readme_has_examples():
    assert len(BLOCKS) >= 2


#: Blocks that start a gRPC plugin process or a wasm engine belong to the slow tests.
SLOW_BLOCK = re.compile(r"\b(?:GrpcPlugin|WasmPlugin|subprocess)\b")


@pytest.mark.parametrize("index", [
    pytest.param(i, marks=pytest.mark.slow) if SLOW_BLOCK.search(block) else i
    for i, block in enumerate(BLOCKS)
])
def test_readme_block_runs(index, monkeypatch):
    # Paths in the blocks (examples/...) are the repository's, wherever pytest started.
    monkeypatch.chdir(README.parent)
    exec(compile(BLOCKS[index], f"README.md block {index}", "exec"), {"__name__": "readme"})
