"""loglayer.plugins.filter: a send gate on message regexes and a predicate."""

from __future__ import annotations

import re

import pytest

from loglayer import LogLayer, LogLevel, PluginError
from loglayer.plugins import filter
from loglayer.testing import TestTransport


def _logger(plugin, *transports) -> tuple[LogLayer, TestTransport]:
    tt = TestTransport("tt")
    return LogLayer(transports=transports or tt, plugins=[plugin]), tt


def _texts(tt: TestTransport) -> list[str]:
    return [" ".join(map(str, line.messages)) for line in tt.lines]


def test_only_entries_whose_text_matches_a_pattern_are_sent():
    log, tt = _logger(filter(messages=[r"^payment\b", re.compile("refund", re.IGNORECASE)]))
    log.info("payment accepted")
    log.info("prepayment scheduled")
    log.info("REFUND issued")
    log.error("disk full")
    assert _texts(tt) == ["payment accepted", "REFUND issued"]


def test_the_text_is_the_messages_joined_with_one_space():
    log, tt = _logger(filter(messages=r"order 42 shipped"))
    log.info("order", 42, "shipped")
    log.info("order", 43, "shipped")
    assert _texts(tt) == ["order 42 shipped"]


def test_an_entry_without_messages_matches_only_a_pattern_for_empty_text():
    log, tt = _logger(filter(messages=["x"]))
    log.metadata_only({"k": 1})
    assert len(tt) == 0
    log, tt = _logger(filter(messages=["^$"]))
    log.metadata_only({"k": 1})
    assert len(tt) == 1


def test_a_predicate_alone():
    log, tt = _logger(filter(predicate=lambda p: p.level >= LogLevel.WARN))
    log.info("quiet")
    log.warn("loud")
    assert _texts(tt) == ["loud"]


def test_patterns_and_predicate_must_both_hold():
    plugin = filter(messages=["db"], predicate=lambda p: p.data.get("shard") == 1)
    log, tt = _logger(plugin)
    log.with_fields(shard=1).info("db timeout")
    log.with_fields(shard=2).info("db timeout")
    log.with_fields(shard=1).info("cache miss")
    assert _texts(tt) == ["db timeout"]
    assert tt.last_line().data == {"shard": 1}


def test_the_predicate_can_decide_per_transport():
    audit, console = TestTransport("audit"), TestTransport("console")
    plugin = filter(predicate=lambda p: p.transport_id != "audit" or "payment" in p.messages)
    log = LogLayer(transports=[audit, console], plugins=[plugin])
    log.info("payment")
    log.info("login")
    assert _texts(audit) == ["payment"]
    assert _texts(console) == ["payment", "login"]


def test_the_predicate_sees_the_context():
    log, tt = _logger(filter(predicate=lambda p: p.ctx != "health-check"))
    log.with_context("health-check").info("ping")
    log.with_context("request-1").info("GET /")
    assert _texts(tt) == ["GET /"]


def test_a_raising_predicate_fails_open_and_is_reported(capsys):
    def predicate(params):
        raise RuntimeError("bad predicate")

    log, tt = _logger(filter(predicate=predicate, id="f"))
    log.info("still sent")
    assert _texts(tt) == ["still sent"]
    err = capsys.readouterr().err
    assert "'f'" in err and "should_send" in err


def test_a_raising_predicate_reaches_on_error():
    errors: list[PluginError] = []
    plugin = filter(predicate=lambda p: 1 / 0)
    plugin.on_error = errors.append
    log, tt = _logger(plugin)
    log.info("sent")
    assert len(tt) == 1
    assert errors[0].hook == "should_send" and errors[0].plugin_id == "filter"
    assert isinstance(errors[0].__cause__, ZeroDivisionError)


def test_no_patterns_and_no_predicate_sends_everything_with_no_gate():
    plugin = filter()
    assert not hasattr(plugin, "should_send")
    log, tt = _logger(plugin)
    log.debug("a")
    assert len(tt) == 1


def test_patterns_are_compiled_once(monkeypatch):
    plugin = filter(messages=["timeout"])
    log, tt = _logger(plugin)

    def no_compiling(*args, **kwargs):
        raise AssertionError("compiled at emission")

    monkeypatch.setattr(re, "compile", no_compiling)
    monkeypatch.setattr(re, "search", no_compiling)
    log.info("timeout")
    log.info("ok")
    assert _texts(tt) == ["timeout"]


@pytest.mark.parametrize(("options", "error", "name"), [
    ({"messages": ["(unclosed"]}, ValueError, r"messages\[0\]"),
    ({"messages": ["ok", "[z-a]"]}, ValueError, r"messages\[1\]"),
    ({"messages": [3]}, TypeError, r"messages\[0\]"),
    ({"messages": [re.compile(b"bytes")]}, TypeError, r"messages\[0\]"),
    ({"messages": 3}, TypeError, "messages"),
    ({"predicate": "not callable"}, TypeError, "predicate"),
    ({"id": 5}, TypeError, "id"),
])
def test_bad_options_name_the_argument(options, error, name):
    with pytest.raises(error, match=name):
        filter(**options)


def test_id_is_configurable():
    assert filter(messages="x").id == "filter"
    assert filter(messages="x", id="only-x").id == "only-x"
