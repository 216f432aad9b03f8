"""Every Python block of the documentation site (docs/**/*.md) runs, and prints what the
page says it prints.

As tests/test_readme.py does for the README, but each block runs in a fresh interpreter
(the one running the suite, so the live core is the suite's; warnings are errors) whose
working directory is an empty temporary directory: a block cannot lean on the
repository's layout or on another block, so the examples work from anywhere. A block
followed by a ```` ```text title="Output" ```` block must write exactly that text to
stdout.

A block that cannot run here says so on the page: its fence carries
``title="Not run: <reason>"``, which the site shows above the block. Those are few, and
counted below.
"""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys
from typing import NamedTuple

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

#: A fenced block at any indentation (admonitions and tabs indent theirs); the closing
#: fence has the same indentation and at least as many backticks.
FENCE = re.compile(
    r"^(?P<indent>[ \t]*)(?P<fence>`{3,})(?P<info>[^`\n]*)\n"
    r"(?P<body>.*?)^(?P=indent)(?P=fence)`*[ \t]*$",
    re.M | re.S,
)
TITLE = re.compile(r'title="(?P<title>[^"]*)"')
NOT_RUN = "Not run:"
#: At most this many Python blocks may be marked as not run, site-wide.
MAX_NOT_RUN = 6
#: Blocks that start a plugin process or a wasm engine belong to the slow tests.
SLOW_BLOCK = re.compile(r"\b(?:GrpcPlugin|WasmPlugin|subprocess)\b")
#: Settings of the environment that would change what a block prints.
CLEARED_ENV = ("FORCE_COLOR", "NO_COLOR", "LOGLAYER_LEVEL", "LOGLAYER_FORMAT",
               "LOGLAYER_GROUPS", "OTEL_EXPORTER_OTLP_ENDPOINT",
               "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL",
               "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "OTEL_RESOURCE_ATTRIBUTES",
               "OTEL_SERVICE_NAME")


class Block(NamedTuple):
    page: str      # the page's path under docs/
    line: int      # the line of the opening fence
    lang: str
    title: str
    code: str

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"


def _blocks(path: pathlib.Path) -> list[Block]:
    text = path.read_text(encoding="utf-8")
    page = path.relative_to(DOCS).as_posix()
    found = []
    for match in FENCE.finditer(text):
        info = match["info"].strip()
        lang = info.split(None, 1)[0] if info else ""
        title = TITLE.search(info)
        indent = len(match["indent"])
        body = "".join(line[indent:] for line in match["body"].splitlines(keepends=True))
        found.append(Block(page, text.count("\n", 0, match.start()) + 1, lang,
                           title["title"] if title else "", body))
    return found


PAGES = sorted(DOCS.rglob("*.md"))
ALL_BLOCKS = [block for page in PAGES for block in _blocks(page)]


def _with_outputs() -> list[tuple[Block, str | None]]:
    """Each Python block, with the text of the output block right after it, if any."""
    pairs = []
    for index, block in enumerate(ALL_BLOCKS):
        if block.lang != "python":
            continue
        expected = None
        following = ALL_BLOCKS[index + 1] if index + 1 < len(ALL_BLOCKS) else None
        if (following is not None and following.page == block.page
                and following.lang == "text" and following.title == "Output"):
            expected = following.code
        pairs.append((block, expected))
    return pairs


PYTHON = _with_outputs()
RUNNABLE = [(block, expected) for block, expected in PYTHON
            if not block.title.startswith(NOT_RUN)]


def test_the_site_has_examples():
    assert len(PAGES) >= 15
    assert len(RUNNABLE) >= 40
    assert sum(expected is not None for _, expected in RUNNABLE) >= 10


def test_blocks_not_run_are_few_and_say_why():
    not_run = [block for block, _ in PYTHON if block.title.startswith(NOT_RUN)]
    assert len(not_run) <= MAX_NOT_RUN, [block.id for block in not_run]
    for block in not_run:
        assert len(block.title[len(NOT_RUN):].strip()) >= 10, f"{block.id}: give a reason"


def test_output_blocks_follow_a_python_block():
    """An output block that follows no Python block would be checked against nothing."""
    for index, block in enumerate(ALL_BLOCKS):
        if block.lang == "text" and block.title == "Output":
            before = ALL_BLOCKS[index - 1] if index else None
            assert before is not None and before.page == block.page \
                and before.lang == "python", f"{block.id}: no Python block before it"
            assert not before.title.startswith(NOT_RUN), f"{block.id}: follows a block not run"


def _env() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in CLEARED_ENV}
    env["PYTHONIOENCODING"] = "utf-8"
    return env


@pytest.mark.parametrize(("block", "expected"), [
    pytest.param(block, expected, id=block.id,
                 marks=[pytest.mark.slow] if SLOW_BLOCK.search(block.code) else [])
    for block, expected in RUNNABLE
])
def test_block_runs(block: Block, expected: str | None, tmp_path: pathlib.Path):
    script = tmp_path / "block.py"
    script.write_text(block.code, encoding="utf-8")
    # -W error: a warning fails an example, as filterwarnings = error does a test
    done = subprocess.run([sys.executable, "-W", "error", str(script)], cwd=tmp_path,
                          env=_env(), capture_output=True, text=True, encoding="utf-8",
                          timeout=120)
    report = (f"docs/{block.id} exited with {done.returncode}\n"
              f"--- stdout ---\n{done.stdout}--- stderr ---\n{done.stderr}")
    assert done.returncode == 0, report
    if expected is not None:
        assert done.stdout == expected, report
