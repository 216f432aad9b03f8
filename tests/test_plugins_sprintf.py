"""loglayer.plugins.sprintf: printf-style messages, through a real LogLayer."""

from __future__ import annotations

import pytest

from loglayer import LogLayer, message_hook
from loglayer.plugins import sprintf
from loglayer.testing import TestTransport


@pytest.fixture
def pair() -> tuple[LogLayer, TestTransport]:
    tt = TestTransport("tt")
    return LogLayer(transports=tt, plugins=[sprintf()]), tt


def test_formats_the_first_message_with_the_rest(pair):
    log, tt = pair
    log.info("user %s logged in from %s", "ada", "10.0.0.1")
    log.warn("%d of %d done (%.1f%%)", 3, 10, 30.0)
    assert [line.messages for line in tt.lines] == [
        ["user ada logged in from 10.0.0.1"], ["3 of 10 done (30.0%)"]]


def test_one_argument_that_is_a_tuple_or_a_dict_is_one_value(pair):
    log, tt = pair
    log.info("got %s", (1, 2))
    log.info("got %r", {"a": 1})
    assert [line.messages for line in tt.lines] == [["got (1, 2)"], ["got {'a': 1}"]]


@pytest.mark.parametrize("messages", [
    (),
    ("only %s",),
    (42, "x"),
    (None, 1),
])
def test_fewer_than_two_messages_or_a_non_str_first_are_untouched(pair, messages):
    log, tt = pair
    log.info(*messages)
    assert tt.last_line().messages == list(messages)


@pytest.mark.parametrize("messages", [
    ("%s and %s", "one"),             # too few arguments
    ("no placeholder", "extra"),      # too many
    ("%d apples", "three"),           # a bad conversion
    ("%(name)s", "positional"),       # a mapping key without a mapping
    ("50%z off", 1),                  # an unsupported format character
])
def test_a_formatting_error_leaves_the_messages_unchanged(pair, messages, capsys):
    log, tt = pair
    log.info(*messages)
    assert tt.last_line().messages == list(messages)
    assert capsys.readouterr().err == ""  # not a plugin failure


def test_an_argument_whose_str_raises_leaves_the_messages_unchanged(pair):
    class Broken:
        def __str__(self):
            raise RuntimeError("no str")

    log, tt = pair
    broken = Broken()
    log.with_metadata({"k": 1}).info("value %s", broken)
    assert tt.last_line().messages == ["value %s", broken]


def test_the_caller_s_objects_are_not_changed(pair):
    log, tt = pair
    args = ["%s-%s", "a", "b"]
    log.info(*args)
    assert args == ["%s-%s", "a", "b"]
    assert tt.last_line().messages == ["a-b"]


def test_runs_after_earlier_message_hooks_and_feeds_later_ones():
    tt = TestTransport("tt")
    add_name = message_hook("add-name", lambda p: [*p.messages, "ada"])
    shout = message_hook("shout", lambda p: [p.messages[0] + "!"])
    log = LogLayer(transports=tt, plugins=[add_name, sprintf(), shout])
    log.info("hello %s")
    assert tt.last_line().messages == ["hello ada!"]


def test_id_is_configurable():
    assert sprintf().id == "sprintf"
    assert sprintf(id="fmt").id == "fmt"
    with pytest.raises(TypeError, match="id"):
        sprintf(id=1)
