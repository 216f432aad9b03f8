"""The benchmark's plugin scenarios (S6, S8-S10) render what they claim, next to a
no-plugin reference. Only the set-up and the output checks run here (``--dry-run``);
timings belong to the benchmark, never to a test."""

from __future__ import annotations

import pytest

import loglayer
from loglayer.bench._runner import main


@pytest.mark.skipif(not loglayer.COMPILED, reason="S8-S10 run on the compiled core only")
def test_plugin_scenarios_pass_their_output_checks(capsys):
    status = main(["--dry-run", "--scenarios", "S6,S8,S9,S10", "--libraries", "compiled"])
    out = capsys.readouterr().out
    assert status == 0
    for title in ("## S6:", "## S8:", "## S9:", "## S10:"):
        section = out.split(title, 1)[1].split("\n## ", 1)[0]
        assert "**loglayer (compiled)** (check ok)" in section
        assert "**loglayer (compiled), no plugin** (not checked)" in section
    s9 = out.split("## S9:", 1)[1].split("\n## ", 1)[0]
    plugin_sample = s9.split("**loglayer (compiled), no plugin**", 1)[0]
    rendered = [line for line in plugin_sample.splitlines() if line.startswith('{"time"')]
    assert len(rendered) == 1
    assert '"password":"[REDACTED]"' in rendered[0] and "hunter2" not in rendered[0]
