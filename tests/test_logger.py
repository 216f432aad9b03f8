"""SPEC §2: the logger, its configuration, emission, derived loggers and mutators.

Loggers come from the ``core`` fixture, so each test runs on the compiled and the pure
core in one pytest run; the default-transport test stays on the live core.
"""

from __future__ import annotations

import io
import sys

import pytest

import loglayer
from loglayer import LogLevel
from loglayer.testing import TestTransport

LEVEL_METHODS = ["trace", "debug", "info", "warn", "error", "fatal"]


@pytest.fixture
def log(core, tt):
    """A logger of each core in turn: every test here runs on the compiled and pure cores."""
    return core.LogLayer(transports=tt)


# -- construction ------------------------------------------------------------------


def test_default_transport_is_console_on_stderr_as_it_is_at_write(core, monkeypatch):
    # each kernel gets a console transport that takes its own entries
    log = core.LogLayer()
    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    log.with_fields(rid="r1").info("hello", "world")
    monkeypatch.setattr(sys, "stderr", second)
    log.warn("second")
    assert "INFO" in first.getvalue() and "hello world" in first.getvalue()
    assert "rid" in first.getvalue()
    assert "WARN" in second.getvalue() and "second" in second.getvalue()
    assert "second" not in first.getvalue()


def test_single_transport_or_sequence(core, tt):
    other = TestTransport("other")
    core.LogLayer(transports=tt).info("a")
    core.LogLayer(transports=[tt, other]).info("b")
    core.LogLayer(transports=(tt,)).info("c")
    assert [e.messages for e in tt.lines] == [["a"], ["b"], ["c"]]
    assert len(other) == 1


def test_empty_transport_sequence_is_rejected(core):
    with pytest.raises(ValueError, match="transports"):
        core.LogLayer(transports=[])


@pytest.mark.parametrize(
    "kwargs, exc, words",
    [
        ({"level": "loud"}, ValueError, "level"),
        ({"level": 7}, ValueError, "level"),
        ({"enabled": "yes"}, TypeError, "enabled"),
        ({"prefix": 3}, TypeError, "prefix"),
        ({"fields": [1, 2]}, TypeError, "fields"),
        ({"fields_key": ""}, ValueError, "fields_key"),
        ({"fields_key": 1}, TypeError, "fields_key"),
        ({"metadata_key": 2}, TypeError, "metadata_key"),
        ({"error_key": None}, TypeError, "error_key"),
        ({"error_serializer": "json"}, TypeError, "error_serializer"),
        ({"copy_msg_on_only_error": 1}, TypeError, "copy_msg_on_only_error"),
        ({"mute_fields": None}, TypeError, "mute_fields"),
        ({"mute_metadata": "no"}, TypeError, "mute_metadata"),
        ({"on_transport_error": 5}, TypeError, "on_transport_error"),
        ({"plugins": None}, TypeError, "plugins"),
        ({"plugins": [None]}, TypeError, "None"),
        ({"transports": object()}, TypeError, "send"),
        ({"transports": [object()]}, TypeError, "send"),
    ],
)
def test_bad_configuration_names_the_argument(core, kwargs, exc, words, tt):
    kwargs.setdefault("transports", tt)
    with pytest.raises(exc, match=words):
        core.LogLayer(**kwargs)


def test_nothing_is_half_built_on_bad_config(core, tt):
    plugin = loglayer.noop_plugin("")
    with pytest.raises(TypeError):
        core.LogLayer(transports=[tt, object()], plugins=[plugin])
    # a failed construction assigned nothing it was not asked to (the plugin ID is
    # assigned only when validation got that far) and sent nothing
    assert len(tt) == 0


def test_duck_typed_transport_without_id_gets_one(core):
    class Duck:
        def __init__(self):
            self.got = []

        def send(self, entry):
            self.got.append(entry)

    duck = Duck()
    log = core.LogLayer(transports=duck)
    log.info("x")
    assert duck.got[0].messages == ["x"]
    assert isinstance(duck.id, str) and duck.id
    assert log.get_logger_instance(duck.id) is duck


# -- emission ------------------------------------------------------------------------


@pytest.mark.parametrize("method", LEVEL_METHODS)
def test_each_level_method(log, tt, method):
    getattr(log, method)("m", 1, None)
    line = tt.last_line()
    assert line.level is LogLevel[method.upper()]
    assert line.messages == ["m", 1, None]


def test_warning_is_an_alias_of_warn(log, tt):
    log.warning("w")
    log.with_metadata({"a": 1}).warning("w2")
    assert [line.level for line in tt.lines] == [LogLevel.WARN, LogLevel.WARN]


def test_messages_are_the_original_objects(log, tt):
    obj = object()
    log.info(obj, 3.5)
    assert tt.last_line().messages[0] is obj


def test_no_messages(log, tt):
    log.info()
    assert tt.last_line().messages == []


def test_level_methods_reject_keywords(log):
    with pytest.raises(TypeError):
        log.info("x", extra=1)


def test_fatal_flushes_and_does_not_exit(log, tt):
    flushed = []
    tt.flush = lambda: flushed.append(True)
    log.fatal("bye")
    log.with_metadata({"a": 1}).fatal("bye again")
    assert flushed == [True, True]
    assert len(tt) == 2


def test_exception_logs_the_handled_exception(log, tt):
    try:
        raise KeyError("k")
    except KeyError as exc:
        log.exception("failed", 1)
        caught = exc
    line = tt.last_line()
    assert line.level is LogLevel.ERROR
    assert line.error is caught
    assert line.messages == ["failed", 1]
    assert line.data["err"]["type"] == "KeyError"


def test_exception_outside_except_logs_without_error(log, tt):
    log.exception("nothing")
    assert tt.last_line().error is None


# -- the builder -----------------------------------------------------------------------


def test_with_metadata_returns_a_builder(core, log, tt):
    builder = log.with_metadata({"a": 1})
    assert isinstance(builder, core.LogBuilder)
    builder.info("x")
    assert tt.last_line().metadata == {"a": 1}


@pytest.mark.parametrize("metadata", [{"a": 1}, [1, 2], "text", 42, object()])
def test_metadata_of_any_shape_travels_raw(log, tt, metadata):
    log.with_metadata(metadata).info("x")
    assert tt.last_line().metadata is metadata


def test_second_with_metadata_merges_dicts(log, tt):
    first = {"a": 1, "b": 1}
    second = {"b": 2, "c": 3}
    log.with_metadata(first).with_metadata(second).info("x")
    assert tt.last_line().metadata == {"a": 1, "b": 2, "c": 3}
    assert first == {"a": 1, "b": 1} and second == {"b": 2, "c": 3}


def test_second_with_metadata_replaces_non_dicts(log, tt):
    log.with_metadata({"a": 1}).with_metadata([1]).info("x")
    assert tt.last_line().metadata == [1]
    log.with_metadata("s").with_metadata({"a": 1}).info("y")
    assert tt.last_line().metadata == {"a": 1}


def test_with_error_on_logger_and_builder(log, tt):
    err = ValueError("bad")
    log.with_error(err).error("x")
    assert tt.last_line().error is err
    log.with_metadata({"m": 1}).with_error(err).warn("y")
    line = tt.last_line()
    assert line.error is err and line.metadata == {"m": 1} and line.level is LogLevel.WARN


def test_with_error_rejects_non_exceptions(log):
    with pytest.raises(TypeError, match="exception"):
        log.with_error("not an exception")
    with pytest.raises(TypeError, match="exception"):
        log.with_metadata({}).with_error(3)


def test_builder_with_context_overrides_for_one_entry(log, tt):
    bound = log.with_context("request-ctx")
    bound.with_metadata({"a": 1}).with_context("other").info("x")
    assert tt.last_line().ctx == "other"
    bound.with_metadata({"a": 1}).with_context(None).info("x")
    assert tt.last_line().ctx is None
    bound.with_metadata({"a": 1}).info("x")
    assert tt.last_line().ctx == "request-ctx"


def test_builder_constructor_takes_a_logger(core, log, tt):
    core.LogBuilder(log).with_metadata({"k": 1}).info("direct")
    assert tt.last_line().metadata == {"k": 1}
    with pytest.raises(TypeError):
        core.LogBuilder(None)


# -- error_only, metadata_only, raw ---------------------------------------------------


def test_error_only_without_message(log, tt):
    err = RuntimeError("boom")
    log.error_only(err)
    line = tt.last_line()
    assert line.level is LogLevel.ERROR and line.messages == [] and line.error is err


def test_error_only_copy_msg_and_level(log, tt):
    err = RuntimeError("boom")
    log.error_only(err, level=LogLevel.WARN, copy_msg=True)
    line = tt.last_line()
    assert line.level is LogLevel.WARN and line.messages == ["boom"]


def test_error_only_config_flag(core, tt):
    log = core.LogLayer(transports=tt, copy_msg_on_only_error=True)
    log.error_only(RuntimeError("boom"))
    assert tt.last_line().messages == ["boom"]
    log.error_only(RuntimeError("quiet"), copy_msg=False)
    assert tt.last_line().messages == []


def test_error_only_with_unprintable_exception(log, tt):
    class Unprintable(Exception):
        def __str__(self):
            raise RuntimeError("no str")

    log.error_only(Unprintable(), copy_msg=True)
    line = tt.last_line()
    assert "Unprintable" in line.messages[0]
    assert line.data["err"]["type"].endswith("Unprintable")


def test_metadata_only(log, tt):
    log.metadata_only({"a": 1})
    line = tt.last_line()
    assert line.level is LogLevel.INFO and line.messages == [] and line.metadata == {"a": 1}
    log.metadata_only({"b": 2}, level="warn")
    assert tt.last_line().level is LogLevel.WARN


def test_metadata_only_sends_nothing_when_muted_or_dropped(log, tt):
    log.mute_metadata()
    log.metadata_only({"a": 1})
    assert len(tt) == 0
    log.unmute_metadata()
    log.add_plugin(loglayer.metadata_hook("drop", lambda m: None))
    log.metadata_only({"a": 1})
    assert len(tt) == 0


def test_raw_goes_through_the_pipeline(log, tt):
    seen = {}

    def on_fields(fields):
        seen["fields_hook"] = True
        return fields

    log.add_plugin(
        loglayer.fields_hook("f", on_fields),
        loglayer.metadata_hook("m", lambda m: {**m, "hooked": True}),
        loglayer.data_hook("d", lambda p: {"from_data_hook": 1}),
    )
    err = ValueError("v")
    log.raw("warn", ["a", "b"], metadata={"x": 1}, error=err, fields={"f": 1}, ctx="c")
    line = tt.last_line()
    assert line.level is LogLevel.WARN
    assert line.messages == ["a", "b"]
    assert line.metadata == {"x": 1, "hooked": True}
    assert line.error is err
    assert line.ctx == "c"
    assert line.data["f"] == 1 and line.data["from_data_hook"] == 1
    assert "fields_hook" not in seen


def test_raw_fields_override_the_loggers_fields(core, tt):
    log = core.LogLayer(transports=tt, fields={"base": 1})
    log.raw(LogLevel.INFO, ["x"], fields={"only": 2})
    assert tt.last_line().data == {"only": 2}
    log.raw(LogLevel.INFO, ["x"])
    assert tt.last_line().data == {"base": 1}


def test_raw_respects_the_level_filter(core, tt):
    log = core.LogLayer(transports=tt, level="error")
    log.raw("info", ["x"])
    assert len(tt) == 0


def test_raw_single_message_string(log, tt):
    log.raw("info", "just one")
    assert tt.last_line().messages == ["just one"]


def test_raw_bad_arguments(log):
    with pytest.raises(ValueError):
        log.raw("loud", ["x"])
    with pytest.raises(TypeError, match="fields"):
        log.raw("info", ["x"], fields=[1])
    with pytest.raises(TypeError, match="error"):
        log.raw("info", ["x"], error="nope")


# -- derived loggers ---------------------------------------------------------------------


def test_with_fields_returns_a_new_logger(log, tt):
    child = log.with_fields(a=1)
    assert child is not log
    assert log.get_fields() == {}
    assert child.get_fields() == {"a": 1}
    child.info("x")
    assert tt.last_line().data == {"a": 1}


def test_with_fields_mapping_and_keywords(log):
    child = log.with_fields({"a": 1, "b": 1}, b=2, c=3)
    assert child.get_fields() == {"a": 1, "b": 2, "c": 3}


def test_with_fields_accepts_any_mapping(log):
    import types

    child = log.with_fields(types.MappingProxyType({"a": 1}))
    assert child.get_fields() == {"a": 1}


def test_with_fields_rejects_non_mappings(log):
    for bad in ([("a", 1)], "ab", 3):
        with pytest.raises(TypeError, match="mapping"):
            log.with_fields(bad)


def test_with_fields_positional_only_and_arity(log):
    with pytest.raises(TypeError):
        log.with_fields({"a": 1}, {"b": 2})
    # "mapping" is positional-only, so it can be a field name
    assert log.with_fields(mapping=1).get_fields() == {"mapping": 1}


def test_with_fields_does_not_mutate_the_callers_mapping(log):
    given = {"a": 1}
    log.with_fields(given, b=2)
    log.with_fields(given).with_fields(c=3)
    assert given == {"a": 1}


def test_with_fields_layers_over_parent_fields(log):
    parent = log.with_fields(a=1, b=1)
    child = parent.with_fields(b=2)
    assert parent.get_fields() == {"a": 1, "b": 1}
    assert child.get_fields() == {"a": 1, "b": 2}


def test_without_fields(log):
    full = log.with_fields(a=1, b=2, c=3)
    assert full.without_fields("a", "c").get_fields() == {"b": 2}
    assert full.without_fields().get_fields() == {}
    assert full.without_fields("missing").get_fields() == {"a": 1, "b": 2, "c": 3}
    assert full.get_fields() == {"a": 1, "b": 2, "c": 3}


def test_get_fields_is_a_shallow_copy(log, tt):
    child = log.with_fields(a=[1])
    copy = child.get_fields()
    copy["b"] = 2
    copy["a"].append(2)
    assert child.get_fields() == {"a": [1, 2]}


def test_child_is_independent_for_levels_and_mutes(log, tt):
    child = log.child()
    child.set_level("error")
    child.mute_fields()
    log.info("parent")
    child.info("child")
    assert [e.messages for e in tt.lines] == [["parent"]]
    assert log.is_level_enabled("info")


def test_child_copies_level_and_mute_state(core, tt):
    log = core.LogLayer(transports=tt, level="warn")
    log.mute_metadata()
    child = log.child()
    assert not child.is_level_enabled("info")
    child.with_metadata({"a": 1}).warn("x")
    assert tt.last_line().metadata is None


def test_with_prefix_replaces_the_prefix(core, tt):
    log = core.LogLayer(transports=tt, prefix="[a]")
    log.info("x")
    assert tt.last_line().prefix == "[a]"
    log.with_prefix("[b]").info("x")
    line = tt.last_line()
    assert line.prefix == "[b]" and line.messages == ["x"]
    with pytest.raises(TypeError, match="prefix"):
        log.with_prefix(3)


def test_with_context_binds_ctx(log, tt):
    ctx = object()
    log.with_context(ctx).info("x")
    assert tt.last_line().ctx is ctx
    log.info("y")
    assert tt.last_line().ctx is None


def test_derived_loggers_keep_the_subclass(core, tt):
    class MyLog(core.LogLayer):
        pass

    log = MyLog(transports=tt)
    assert type(log.child()) is MyLog
    assert type(log.with_fields(a=1)) is MyLog


# -- lazy --------------------------------------------------------------------------------


def test_lazy_is_called_per_emission_that_passes(core, tt):
    calls = []

    def value():
        calls.append(1)
        return len(calls)

    log = core.LogLayer(transports=tt, level="info").with_fields(n=core.lazy(value))
    log.debug("filtered")
    assert calls == []
    log.info("a")
    log.info("b")
    assert [e.data["n"] for e in tt.lines] == [1, 2]


def test_lazy_runs_before_dispatch_hooks(core, tt):
    order = []

    def value():
        order.append("lazy")
        return 1

    def hook(params):
        order.append(("hook", params.data["n"]))

    log = core.LogLayer(transports=tt, plugins=[loglayer.data_hook("d", hook)])
    log.with_fields(n=core.lazy(value)).info("x")
    assert order == ["lazy", ("hook", 1)]


def test_lazy_failure_gives_placeholder_and_still_sends(core, tt):
    def boom():
        raise RuntimeError("no")

    log = core.LogLayer(transports=tt, fields={"v": core.lazy(boom)})
    log.info("x")
    assert tt.last_line().data == {"v": "[LazyEvalError]"}


def test_lazy_requires_a_callable(core):
    with pytest.raises(TypeError):
        core.lazy(3)


def test_lazy_in_raw_fields(core, log, tt):
    log.raw("info", ["x"], fields={"v": core.lazy(lambda: 7)})
    assert tt.last_line().data == {"v": 7}


# -- levels --------------------------------------------------------------------------------


def test_default_level_enables_everything(log, tt):
    for method in LEVEL_METHODS:
        getattr(log, method)("x")
    assert len(tt) == 6


def test_set_level(log, tt):
    log.set_level(LogLevel.WARN)
    for method in LEVEL_METHODS:
        getattr(log, method)(method)
    assert [e.messages[0] for e in tt.lines] == ["warn", "error", "fatal"]


def test_enable_and_disable_single_levels(log, tt):
    log.set_level("error")
    log.enable_level("debug")
    log.disable_level("fatal")
    assert [log.is_level_enabled(m) for m in LEVEL_METHODS] == [
        False, True, False, False, True, False,
    ]


def test_master_switch_keeps_per_level_state(log, tt):
    log.set_level("warn")
    log.disable_logging()
    assert not log.is_level_enabled("error")
    log.error("x")
    log.with_metadata({"a": 1}).error("x")
    assert len(tt) == 0
    log.enable_logging()
    assert log.is_level_enabled("error") and not log.is_level_enabled("info")


def test_enabled_false_at_construction(core, tt):
    log = core.LogLayer(transports=tt, enabled=False)
    log.fatal("x")
    assert len(tt) == 0
    log.enable_logging()
    log.fatal("x")
    assert len(tt) == 1


def test_level_mutators_reject_bad_levels(log):
    for mutator in (log.set_level, log.enable_level, log.disable_level, log.is_level_enabled):
        with pytest.raises(ValueError):
            mutator("nope")


def test_filtered_builder_calls_send_nothing(core, tt):
    log = core.LogLayer(transports=tt, level="error")
    log.with_metadata({"a": 1}).info("x")
    log.with_error(ValueError()).warn("x")
    log.metadata_only({"a": 1}, level="debug")
    log.error_only(ValueError(), level="info")
    assert len(tt) == 0


# -- mutes ---------------------------------------------------------------------------------


def test_mute_fields(core, tt):
    log = core.LogLayer(transports=tt, fields={"a": 1})
    log.mute_fields()
    log.info("x")
    assert tt.last_line().data == {}
    log.unmute_fields()
    log.info("y")
    assert tt.last_line().data == {"a": 1}


def test_mute_fields_at_construction(core, tt):
    log = core.LogLayer(transports=tt, fields={"a": 1}, mute_fields=True)
    log.info("x")
    assert tt.last_line().data == {}


def test_mute_metadata(log, tt):
    log.mute_metadata()
    log.with_metadata({"a": 1}).info("x")
    assert tt.last_line().metadata is None
    log.unmute_metadata()
    log.with_metadata({"a": 1}).info("y")
    assert tt.last_line().metadata == {"a": 1}


def test_mute_metadata_at_construction(core, tt):
    log = core.LogLayer(transports=tt, mute_metadata=True)
    log.raw("info", ["x"], metadata={"a": 1})
    assert tt.last_line().metadata is None


# -- transports management -----------------------------------------------------------------


def test_transport_management(log, tt):
    extra = TestTransport("extra")
    log.add_transport(extra)
    log.info("both")
    assert len(tt) == 1 and len(extra) == 1
    assert log.get_logger_instance("extra") is extra
    assert log.get_logger_instance("missing") is None
    assert log.remove_transport("extra") is True
    assert log.remove_transport("extra") is False
    log.info("one")
    assert len(extra) == 1 and len(tt) == 2


def test_add_transport_with_same_id_replaces_in_place(log, tt):
    first = TestTransport("x")
    second = TestTransport("x")
    log.add_transport(first)
    log.add_transport(second)
    log.info("m")
    assert len(first) == 0 and len(second) == 1


def test_set_transports_replaces_the_set(log, tt):
    a, b = TestTransport("a"), TestTransport("b")
    log.set_transports(a, b)
    log.info("m")
    assert len(tt) == 0 and len(a) == 1 and len(b) == 1


def test_replaced_transports_are_not_closed(log, tt):
    closed = []
    tt.close = lambda: closed.append("tt")
    log.set_transports(TestTransport("other"))
    assert closed == []


def test_get_logger_instance_uses_the_transports_method(core, log):
    class Wrapper(core.Transport):
        def __init__(self):
            super().__init__("wrapped")
            self.inner = object()

        def send(self, entry):
            pass

        def get_logger_instance(self):
            return self.inner

    wrapper = Wrapper()
    log.add_transport(wrapper)
    assert log.get_logger_instance("wrapped") is wrapper.inner


def test_add_transport_rejects_objects_without_send(log):
    with pytest.raises(TypeError, match="send"):
        log.add_transport(object())
    with pytest.raises(TypeError):
        log.add_transport(None)


def test_flush_and_close_and_context_manager(core, tt):
    calls = []
    tt.flush = lambda: calls.append("flush")
    tt.close = lambda: calls.append("close")
    with core.LogLayer(transports=tt) as log:
        log.info("x")
        log.flush()
    assert calls == ["flush", "close"]


def test_flush_and_close_failures_are_reported(core, tt):
    reported = []
    tt.flush = lambda: 1 / 0
    tt.close = lambda: 1 / 0
    log = core.LogLayer(transports=tt, on_transport_error=reported.append)
    log.flush()
    log.close()
    assert [type(e.__cause__) for e in reported] == [ZeroDivisionError, ZeroDivisionError]


def test_a_name_is_the_logger_field_of_every_entry_and_of_derived_loggers(core, tt):
    log = core.LogLayer(transports=tt, name="billing", fields={"region": "eu"})
    log.child().with_fields(order=7).info("invoiced")
    assert tt.lines[-1].data == {"region": "eu", "logger": "billing", "order": 7}
    assert log.name == log.child().name == "billing"
    assert core.LogLayer(transports=tt).name is None
    assert core.LogLayer(transports=tt, fields={"logger": "same"}, name="same").name == "same"


@pytest.mark.parametrize(("name", "error", "words"), [
    (3, TypeError, "name must be a non-empty str or None, got int"),
    ("", ValueError, "name must be a non-empty str or None, got ''"),
])
def test_a_bad_name_is_refused_by_name(core, tt, name, error, words):
    with pytest.raises(error, match=words):
        core.LogLayer(transports=tt, name=name)


def test_a_name_that_disagrees_with_the_fields_is_refused(core, tt):
    with pytest.raises(ValueError, match="name is 'a' but fields\\['logger'\\] is 'b'"):
        core.LogLayer(transports=tt, name="a", fields={"logger": "b"})
