"""SPEC §4: plugins, their hooks, order, None and exception semantics, copy-on-write.

Loggers come from the ``core`` fixture, so hook dispatch is checked on the compiled and
the pure core in one pytest run.
"""

from __future__ import annotations

import io
import sys

import pytest

from loglayer import (
    LogLevel,
    Plugin,
    PluginError,
    data_hook,
    fields_hook,
    level_hook,
    message_hook,
    metadata_hook,
    noop_plugin,
    send_gate,
)
from loglayer.testing import TestTransport


@pytest.fixture
def log(core, tt):
    """A logger of each core in turn: hook dispatch runs on the compiled and pure cores."""
    return core.LogLayer(transports=tt)


# -- identity and management ------------------------------------------------------------


def test_plugin_without_id_gets_one_assigned(log):
    class Bare:
        pass

    bare = Bare()
    log.add_plugin(bare)
    assert isinstance(bare.id, str) and bare.id
    assert log.get_plugin(bare.id) is bare
    empty = Plugin()
    log.add_plugin(empty)
    assert empty.id and empty.id != bare.id


def test_plugin_id_must_be_a_str(log):
    class Numbered:
        id = 5

    with pytest.raises(TypeError, match="id"):
        log.add_plugin(Numbered())


def test_add_plugin_none_raises(log):
    with pytest.raises(TypeError, match="None"):
        log.add_plugin(None)


def test_add_plugin_is_all_or_nothing(log):
    with pytest.raises(TypeError):
        log.add_plugin(noop_plugin("ok"), None)
    assert log.plugin_count() == 0


def test_non_callable_hook_is_rejected(log):
    class Broken:
        id = "broken"
        should_send = True

    with pytest.raises(TypeError, match="should_send"):
        log.add_plugin(Broken())


def test_management(log):
    a, b = noop_plugin("a"), noop_plugin("b")
    log.add_plugin(a, b)
    assert log.plugin_count() == 2
    assert log.get_plugin("a") is a
    assert log.get_plugin("zzz") is None
    assert log.remove_plugin("a") is True
    assert log.remove_plugin("a") is False
    assert log.plugin_count() == 1


def test_same_id_replaces_in_place(log, tt):
    order = []
    log.add_plugin(
        data_hook("one", lambda p: order.append("one")),
        data_hook("two", lambda p: order.append("two")),
    )
    log.add_plugin(data_hook("one", lambda p: order.append("one-new")))
    log.info("x")
    assert order == ["one-new", "two"]
    assert log.plugin_count() == 2


def test_plugins_given_at_construction(core, tt):
    log = core.LogLayer(transports=tt, plugins=[data_hook("d", lambda p: {"k": 1})])
    log.info("x")
    assert tt.last_line().data == {"k": 1}


def test_base_plugin_repr_lists_hooks():
    class Mine(Plugin):
        def should_send(self, params):
            return True

    assert "should_send" in repr(Mine("m"))


def test_adapters_require_callables():
    for adapter in (fields_hook, metadata_hook, data_hook, message_hook, level_hook, send_gate):
        with pytest.raises(TypeError, match="callable"):
            adapter("x", "not callable")


def test_hooks_are_looked_up_once_when_added(log, tt):
    plugin = Plugin("late")
    log.add_plugin(plugin)
    plugin.on_before_data_out = lambda p: {"late": True}
    log.info("x")
    assert tt.last_line().data == {}


def test_instance_attribute_hooks_count(log, tt):
    plugin = Plugin("inst")
    plugin.on_before_data_out = lambda p: {"inst": True}
    log.add_plugin(plugin)
    log.info("x")
    assert tt.last_line().data == {"inst": True}


# -- input hooks ----------------------------------------------------------------------------


def test_fields_hook_chain(log):
    log.add_plugin(
        fields_hook("upper", lambda f: {k.upper(): v for k, v in f.items()}),
        fields_hook("tag", lambda f: {**f, "TAGGED": True}),
    )
    assert log.with_fields(a=1).get_fields() == {"A": 1, "TAGGED": True}


def test_fields_hook_none_drops_the_call(log):
    base = log.with_fields(keep=1)
    base.add_plugin(fields_hook("drop", lambda f: None))
    child = base.with_fields(lost=2)
    assert child.get_fields() == {"keep": 1}
    assert child is not base


def test_fields_hook_stops_at_first_none(log):
    calls = []
    log.add_plugin(
        fields_hook("drop", lambda f: None),
        fields_hook("after", lambda f: calls.append(f) or f),
    )
    log.with_fields(a=1)
    assert calls == []


def test_fields_hook_exception_drops_the_call(log, capsys):
    log.add_plugin(fields_hook("boom", lambda f: 1 / 0))
    assert log.with_fields(a=1).get_fields() == {}
    assert "boom" in capsys.readouterr().err


def test_fields_hook_receives_no_ctx(log):
    seen = []
    log.add_plugin(fields_hook("f", lambda *args: seen.append(args) or args[0]))
    log.with_context("c").with_fields(a=1)
    assert seen == [({"a": 1},)]


def test_metadata_hook_chain_and_drop(log, tt):
    log.add_plugin(
        metadata_hook("add", lambda m: {**m, "added": 1}),
        metadata_hook("mark", lambda m: {**m, "marked": 2}),
    )
    log.with_metadata({"a": 0}).info("x")
    assert tt.last_line().metadata == {"a": 0, "added": 1, "marked": 2}


def test_metadata_hook_none_drops_metadata_keeps_earlier(log, tt):
    log.add_plugin(metadata_hook("drop-secret", lambda m: None if "secret" in m else m))
    log.with_metadata({"ok": 1}).with_metadata({"secret": 2}).info("x")
    assert tt.last_line().metadata == {"ok": 1}
    log.with_metadata({"secret": 1}).info("y")
    assert tt.last_line().metadata is None
    assert tt.last_line().messages == ["y"]


def test_metadata_hook_exception_drops_metadata(log, tt, capsys):
    log.add_plugin(metadata_hook("boom", lambda m: 1 / 0))
    log.with_metadata({"a": 1}).info("x")
    assert tt.last_line().metadata is None
    assert "boom" in capsys.readouterr().err


# -- dispatch hooks -------------------------------------------------------------------------


def test_params_attributes(log, tt):
    seen = {}

    def grab(params):
        for name in ("level", "messages", "data", "metadata", "error", "fields", "ctx",
                     "prefix"):
            seen[name] = getattr(params, name)

    err = ValueError("e")
    log.add_plugin(data_hook("grab", grab))
    log.with_prefix("[p]").with_context("c").with_fields(f=1).with_metadata({"m": 1}) \
        .with_error(err).warn("msg")
    assert seen["level"] is LogLevel.WARN
    assert seen["messages"] == ["msg"]
    assert seen["data"]["f"] == 1 and seen["data"]["err"]["type"] == "ValueError"
    assert seen["metadata"] == {"m": 1}
    assert seen["error"] is err
    assert seen["fields"] == {"f": 1}
    assert seen["ctx"] == "c"
    assert seen["prefix"] == "[p]"


def test_ctx_is_none_without_with_context(log):
    seen = []
    log.add_plugin(data_hook("d", lambda p: seen.append(p.ctx)))
    log.info("x")
    assert seen == [None]


def test_data_hooks_merge_in_order_and_see_earlier_merges(log, tt):
    seen = []

    def second(params):
        seen.append(dict(params.data))
        return {"b": 2, "a": "overridden"}

    log.add_plugin(data_hook("first", lambda p: {"a": 1}), data_hook("second", second))
    log.with_fields(f=0).info("x")
    assert seen == [{"f": 0, "a": 1}]
    assert tt.last_line().data == {"f": 0, "a": "overridden", "b": 2}


def test_data_hook_none_and_exception_leave_data(log, tt, capsys):
    log.add_plugin(data_hook("none", lambda p: None), data_hook("boom", lambda p: 1 / 0),
                   data_hook("bad-type", lambda p: [1, 2]))
    log.with_fields(f=1).info("x")
    assert tt.last_line().data == {"f": 1}
    err = capsys.readouterr().err
    assert "boom" in err and "bad-type" in err


def test_data_hook_merge_never_touches_the_loggers_fields(log, tt):
    child = log.with_fields(f=1)
    child.add_plugin(data_hook("d", lambda p: {"x": 1}))
    child.info("a")
    assert child.get_fields() == {"f": 1}
    assert tt.last_line().data == {"f": 1, "x": 1}


def test_message_hooks_chain(log, tt):
    seen = []

    def second(params):
        seen.append(list(params.messages))
        return params.messages + ["!"]

    log.add_plugin(message_hook("first", lambda p: ["[x] " + p.messages[0]]),
                   message_hook("second", second))
    log.info("hello")
    assert seen == [["[x] hello"]]
    assert tt.last_line().messages == ["[x] hello", "!"]


def test_message_hook_none_exception_and_bad_type(log, tt, capsys):
    log.add_plugin(message_hook("none", lambda p: None), message_hook("boom", lambda p: 1 / 0),
                   message_hook("str", lambda p: "not a list"),
                   message_hook("tuple", lambda p: ("from", "tuple")))
    log.info("hello")
    assert tt.last_line().messages == ["from", "tuple"]
    err = capsys.readouterr().err
    assert "boom" in err and "'str'" in err


def test_level_hook_last_non_none_wins(log, tt):
    log.add_plugin(level_hook("a", lambda p: LogLevel.ERROR), level_hook("b", lambda p: None),
                   level_hook("c", lambda p: "warn"), level_hook("d", lambda p: None))
    log.info("x")
    assert tt.last_line().level is LogLevel.WARN


def test_level_hook_exception_and_invalid_value_leave_level(log, tt, capsys):
    log.add_plugin(level_hook("boom", lambda p: 1 / 0), level_hook("bad", lambda p: 17))
    log.info("x")
    assert tt.last_line().level is LogLevel.INFO
    err = capsys.readouterr().err
    assert "boom" in err and "bad" in err


def test_level_hook_cannot_rescue_filtered_entries(core, tt):
    log = core.LogLayer(transports=tt, level="error",
                        plugins=[level_hook("up", lambda p: LogLevel.FATAL)])
    log.info("x")
    assert len(tt) == 0


def test_transport_level_uses_the_final_level(log):
    errors_only = TestTransport("errors", level="error")
    log.add_transport(errors_only)
    log.add_plugin(level_hook("promote", lambda p: LogLevel.ERROR if "!" in p.messages[0]
                              else None))
    log.info("calm")
    log.info("urgent!")
    assert [e.messages for e in errors_only.lines] == [["urgent!"]]


def test_should_send_per_transport(log, tt):
    other = TestTransport("other")
    log.add_transport(other)
    seen = []

    def gate(params):
        seen.append(params.transport_id)
        return params.transport_id == "other"

    log.add_plugin(send_gate("gate", gate))
    log.info("x")
    assert seen == ["tt", "other"]
    assert len(tt) == 0 and len(other) == 1


def test_every_gate_must_agree(log, tt):
    log.add_plugin(send_gate("yes", lambda p: True), send_gate("no", lambda p: False))
    log.info("x")
    assert len(tt) == 0


def test_gate_exception_fails_open(log, tt, capsys):
    log.add_plugin(send_gate("boom", lambda p: 1 / 0))
    log.info("x")
    assert len(tt) == 1
    assert "boom" in capsys.readouterr().err


def test_gates_see_the_final_entry(log, tt):
    seen = []
    log.add_plugin(
        data_hook("d", lambda p: {"d": 1}),
        message_hook("m", lambda p: ["changed"]),
        level_hook("l", lambda p: LogLevel.WARN),
        send_gate("g", lambda p: seen.append((p.level, p.messages, p.data)) or True),
    )
    log.info("x")
    assert seen == [(LogLevel.WARN, ["changed"], {"d": 1})]


def test_hook_order_over_one_entry(log, tt):
    order = []

    class All(Plugin):
        def on_fields_called(self, fields):
            order.append("fields")
            return fields

        def on_metadata_called(self, metadata):
            order.append("metadata")
            return metadata

        def on_before_data_out(self, params):
            order.append("data")

        def on_before_message_out(self, params):
            order.append("message")

        def transform_log_level(self, params):
            order.append("level")

        def should_send(self, params):
            order.append("send")
            return True

    log.add_plugin(All("all"))
    log.with_fields(a=1).with_metadata({"m": 1}).info("x")
    assert order == ["fields", "metadata", "data", "message", "level", "send"]


# -- errors ---------------------------------------------------------------------------------


def test_on_error_receives_plugin_error(log, tt):
    reported = []

    class Faulty(Plugin):
        def on_before_data_out(self, params):
            raise ValueError("inside")

        def on_error(self, err):
            reported.append(err)

    log.add_plugin(Faulty("faulty"))
    log.info("x")
    assert len(tt) == 1
    [err] = reported
    assert isinstance(err, PluginError)
    assert err.plugin_id == "faulty" and err.hook == "on_before_data_out"
    assert isinstance(err.__cause__, ValueError)


def test_without_on_error_one_line_to_current_stderr(log, monkeypatch):
    log.add_plugin(data_hook("noisy", lambda p: 1 / 0))
    buf = io.StringIO()
    monkeypatch.setattr(sys, "stderr", buf)
    log.info("x")
    lines = buf.getvalue().splitlines()
    assert len(lines) == 1
    assert "noisy" in lines[0] and "on_before_data_out" in lines[0]


def test_failing_on_error_falls_back_to_stderr(log, capsys):
    class Faulty(Plugin):
        def should_send(self, params):
            raise ValueError("gate")

        def on_error(self, err):
            raise RuntimeError("reporter down")

    log.add_plugin(Faulty("faulty"))
    log.info("x")
    err = capsys.readouterr().err
    assert "reporter down" in err and "should_send" in err


@pytest.mark.parametrize("exc_type", [KeyboardInterrupt, SystemExit])
@pytest.mark.parametrize("hook", ["fields", "metadata", "data", "message", "level", "send"])
def test_base_exceptions_propagate(log, exc_type, hook):
    def raiser(*args):
        raise exc_type()

    adapter = {"fields": fields_hook, "metadata": metadata_hook, "data": data_hook,
               "message": message_hook, "level": level_hook, "send": send_gate}[hook]
    log.add_plugin(adapter("raiser", raiser))
    with pytest.raises(exc_type):
        log.with_fields(a=1).with_metadata({"b": 1}).info("x")


def test_plugin_error_pickles():
    import pickle

    err = PluginError("p", "should_send", "msg")
    copy = pickle.loads(pickle.dumps(err))
    assert (copy.plugin_id, copy.hook, str(copy)) == ("p", "should_send", "msg")


# -- re-entrancy ----------------------------------------------------------------------------


def test_hook_that_logs_does_not_recurse(log, tt, capsys):
    def logging_hook(params):
        log.info("inner")

    log.add_plugin(data_hook("reentrant", logging_hook))
    log.info("outer")
    assert [e.messages for e in tt.lines] == [["outer"]]
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "dropped" in err


def test_transport_that_logs_does_not_recurse(core, capsys):
    class Echo(core.Transport):
        def __init__(self):
            super().__init__("echo")
            self.got = []

        def send(self, entry):
            self.got.append(entry.messages)
            self.log.warn("from inside")

    echo = Echo()
    log = core.LogLayer(transports=echo)
    echo.log = log
    log.info("outer")
    log.info("again")
    assert echo.got == [["outer"], ["again"]]
    assert capsys.readouterr().err.count("dropped") == 2


# -- copy-on-write --------------------------------------------------------------------------


@pytest.mark.parametrize("derive", [
    lambda log: log.child(),
    lambda log: log.with_fields(a=1),
    lambda log: log.with_prefix("p"),
    lambda log: log.with_context("c"),
])
def test_derived_loggers_share_then_fork(core, derive, tt):
    parent = core.LogLayer(transports=tt, plugins=[noop_plugin("shared")])
    child = derive(parent)
    assert child.get_plugin("shared") is parent.get_plugin("shared")
    child.add_plugin(noop_plugin("child-only"))
    parent.add_plugin(noop_plugin("parent-only"))
    assert child.get_plugin("parent-only") is None
    assert parent.get_plugin("child-only") is None
    child.remove_plugin("shared")
    assert parent.get_plugin("shared") is not None
    other = TestTransport("child-transport")
    child.add_transport(other)
    parent.info("p")
    assert len(other) == 0


def test_plugin_added_to_parent_before_derivation_runs_in_child(core, tt):
    parent = core.LogLayer(transports=tt)
    parent.add_plugin(data_hook("d", lambda p: {"from": "parent"}))
    parent.child().info("x")
    assert tt.last_line().data == {"from": "parent"}


# -- pre-indexing ---------------------------------------------------------------------------


def test_hooks_are_pre_indexed_on_both_cores(core):
    class Counting:
        lookups = 0

        def __getattribute__(self, name):
            type(self).lookups += 1
            return object.__getattribute__(self, name)

        def on_fields_called(self, fields):
            return fields

        def on_metadata_called(self, metadata):
            return metadata

        def on_before_data_out(self, params):
            return None

        def on_before_message_out(self, params):
            return None

        def transform_log_level(self, params):
            return None

        def should_send(self, params):
            return True

        def on_error(self, err):
            pass

    plugin = Counting()
    plugin.id = "counting"
    tt = TestTransport()
    log = core.LogLayer(transports=tt)
    log.add_plugin(plugin)
    log.add_plugin(noop_plugin("added-later"))  # rebuilding the set must not look again
    Counting.lookups = 0
    for i in range(1000):
        log.with_fields(i=i).with_metadata({"i": i}).info("x", i)
    assert len(tt) == 1000
    assert Counting.lookups == 0


def test_plugin_without_a_hook_is_never_called_for_it(log, tt):
    class OnlyGate(Plugin):
        def should_send(self, params):
            return True

        armed = False

        def __getattr__(self, name):  # a lookup of a missing hook lands here
            if type(self).armed:
                raise AssertionError(f"looked up {name} at emission")
            raise AttributeError(name)

    log.add_plugin(OnlyGate("gate"))
    OnlyGate.armed = True
    log.with_fields(a=1).with_metadata({"m": 1}).info("x")
    assert len(tt) == 1
