"""SPEC §1: levels."""

import logging

import pytest

from loglayer import LogLevel


def test_numbers_match_stdlib():
    assert [int(m) for m in LogLevel] == [5, 10, 20, 30, 40, 50]
    assert LogLevel.DEBUG == logging.DEBUG
    assert LogLevel.INFO == logging.INFO
    assert LogLevel.WARN == logging.WARNING
    assert LogLevel.ERROR == logging.ERROR
    assert LogLevel.FATAL == logging.CRITICAL


@pytest.mark.parametrize(
    "value, expected",
    [
        (LogLevel.WARN, LogLevel.WARN),
        (30, LogLevel.WARN),
        ("warn", LogLevel.WARN),
        ("WARNING", LogLevel.WARN),
        ("Critical", LogLevel.FATAL),
        ("fatal", LogLevel.FATAL),
        (" info ", LogLevel.INFO),
        ("trace", LogLevel.TRACE),
        (logging.DEBUG, LogLevel.DEBUG),
    ],
)
def test_parse_accepts_members_ints_and_names(value, expected):
    assert LogLevel.parse(value) is expected


@pytest.mark.parametrize("bad", ["verbose", 15, 0, None, 2.5, True, b"info", ""])
def test_parse_rejects_anything_else_naming_the_value(bad):
    with pytest.raises(ValueError, match=repr(bad).replace("(", r"\(").replace(".", r"\.")):
        LogLevel.parse(bad)
