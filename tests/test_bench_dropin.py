"""The drop-in rows of the benchmark (``loglayer.bench._dropin``): what each contender
writes is checked; no figure is asserted."""

from __future__ import annotations

import json
import re

import pytest

from loglayer.bench import _dropin


@pytest.fixture(scope="module")
def result() -> _dropin.DropinResult:
    return _dropin.run_dropin(rounds=1, batch_ms=1)


def test_every_contender_ran_every_row(result):
    ran = {name for (_row, name) in result.ns}
    expected = set(_dropin.CONTENDERS) - set(result.unavailable)
    assert ran == expected and "loglayer facade" in ran and "stdlib logging" in ran
    assert {row for (row, _name) in result.ns} == set(_dropin.ROWS)


def test_the_statements_are_the_same_call(result):
    for row in _dropin.ROWS:
        assert result.statements[(row, "loglayer facade")] == (
            result.statements[(row, "stdlib logging")])


def test_each_contender_wrote_what_the_row_asks(result):
    for name in set(_dropin.CONTENDERS) - set(result.unavailable):
        assert result.samples[("D1", name)] == ""  # disabled: nothing written
        assert re.fullmatch(r"INFO loglayer\.bench\.dropin\.\S+ user logged in\n",
                            result.samples[("D2", name)]), name
        doc = json.loads(result.samples[("D3", name)])
        assert doc["user"] == "alice" and doc["req"] == {"id": "r-1f3a", "path": "/login"}


def test_the_table_has_the_rows_and_the_targets(result):
    text = _dropin.dropin_markdown(result)
    assert text.count("\n| D") == 3
    assert "target 0.2x" in text
    if "picologging" in result.unavailable:  # 3.13: picologging has no release for it
        assert "picologging did not run: " in text and "target 0.35x" not in text
    else:
        assert "target 0.35x" in text


@pytest.mark.parametrize("kwargs, word", [({"rounds": 0}, "rounds"), ({"batch_ms": 0}, "batch_ms")])
def test_bad_arguments_are_named(kwargs, word):
    with pytest.raises(ValueError, match=word):
        _dropin.run_dropin(**kwargs)


def test_the_json_report_has_every_row_with_its_ratios_and_targets(result):
    report = _dropin.dropin_json(result)
    assert set(report["rows"]) == set(_dropin.ROWS)
    d2 = report["rows"]["D2"]
    assert d2["targets"] == {"stdlib logging": 0.2, "picologging": 0.6}
    assert d2["ns"]["loglayer facade"] > 0
    assert d2["ratios"]["stdlib logging"] == result.ratio("D2", "stdlib logging")
    json.dumps(report)  # plain data
