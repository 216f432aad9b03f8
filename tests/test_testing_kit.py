"""The plugin author's kit in loglayer.testing: install, assert_no_mutation,
assert_panic_recovered, new_mock."""

from __future__ import annotations

import dataclasses
import re
import textwrap
import threading

import pytest

import loglayer
from loglayer import LogLevel, Plugin, PluginError
from loglayer import testing as kit
from loglayer.testing import (
    TestTransport,
    assert_no_mutation,
    assert_panic_recovered,
    install,
    new_mock,
)

# The dev extra installs attrs and pydantic; without them only their cases are skipped.
try:
    import attrs
except ImportError:
    attrs = None
try:
    import pydantic
except ImportError:
    pydantic = None


def optional(module, name: str, make, arity: int = 1):
    """The parametrize case ``make()`` builds, or a skipped one without ``module``."""
    if module is None:
        return pytest.param(*[None] * arity,
                            marks=pytest.mark.skip(reason=f"{name} is not installed"))
    return pytest.param(*make()) if arity > 1 else pytest.param(make())


# -- install -----------------------------------------------------------------------------------


def test_install_gives_a_logger_with_the_plugin_and_a_test_transport():
    plugin = loglayer.data_hook("add", lambda params: {"added": True})
    log, transport = install(plugin)
    assert isinstance(log, loglayer.LogLayer) and isinstance(transport, TestTransport)
    assert log.get_plugin("add") is plugin
    log.trace("hi")
    assert transport.last_line().data == {"added": True}


def test_install_passes_config_to_the_logger():
    log, transport = install(loglayer.noop_plugin("n"), level="warn", fields={"svc": "a"},
                             prefix="[p]")
    log.info("dropped")
    log.warn("kept")
    (line,) = transport.lines
    assert line.data == {"svc": "a"} and line.prefix == "[p]"


def test_install_validates_like_the_constructor():
    with pytest.raises(ValueError, match="level"):
        install(loglayer.noop_plugin("n"), level="loud")
    with pytest.raises(TypeError):
        install(loglayer.noop_plugin("n"), transports=TestTransport())


# -- new_mock ----------------------------------------------------------------------------------


def test_new_mock_discards_everything(capsys):
    log = new_mock()
    assert isinstance(log, loglayer.LogLayer)
    log.with_fields(a=1).with_metadata({"m": 1}).info("hi")
    log.with_error(ValueError("x")).error("bad")
    log.fatal("still nothing")
    assert capsys.readouterr() == ("", "")


def test_new_mock_still_runs_the_pipeline():
    seen = []
    log = new_mock(plugins=[loglayer.data_hook("spy", lambda p: seen.append(p.messages))],
                   level="info")
    log.debug("filtered")
    log.info("hi")
    assert seen == [["hi"]]


# -- assert_no_mutation ------------------------------------------------------------------------


class Box:
    """Compares by identity, so only an attribute-by-attribute check can tell."""

    def __init__(self, items):
        self.items = items


class Slotted:
    __slots__ = ("value", "unset")

    def __init__(self, value):
        self.value = value


@dataclasses.dataclass
class Point:
    x: int
    tags: list


if pydantic is not None:
    class User(pydantic.BaseModel):
        name: str
        roles: list[str] = []


if attrs is not None:
    @attrs.define
    class Account:
        owner: str
        limits: dict


def copying_hook(value):
    return {"copied": value}


@pytest.mark.parametrize("value", [
    {"user": {"name": "ada", "roles": ["admin"]}},
    [1, [2, 3], (4, {"five": 5})],
    "text", 3, None, {1, 2}, b"bytes",
    Box({"k": [1, 2]}), Slotted({"a": 1}), Point(1, ["t"]),
    ValueError("message"), LogLevel.INFO, loglayer.Plugin, print,
    optional(pydantic, "pydantic", lambda: User(name="ada", roles=["admin"])),
    optional(attrs, "attrs", lambda: Account("ada", {"daily": 10})),
])
def test_no_mutation_passes_and_returns_the_result(value):
    assert assert_no_mutation(copying_hook, value) == {"copied": value}


def mutate_nested(value):
    value["user"]["name"] = "ADA"
    return value


def test_mutation_of_a_nested_dict_shows_a_diff():
    with pytest.raises(AssertionError) as info:
        assert_no_mutation(mutate_nested, {"user": {"name": "ada", "age": 36}})
    message = str(info.value)
    assert message.startswith("mutate_nested mutated its argument:")
    assert "-value['user']['name']: 'ada'" in message
    assert "+value['user']['name']: 'ADA'" in message
    assert "value['user']['age']: 36" in message  # context
    assert "--- before the hook" in message and "+++ after the hook" in message


@pytest.mark.parametrize(("value", "mutate", "removed", "added"), [
    ([1, 2], lambda v: v.append(3), None, "+value[2]: 3"),
    ({"a": 1}, lambda v: v.pop("a"), "-value['a']: 1", "+value: {}"),
    ({"s": {1}}, lambda v: v["s"].add(2), "-value['s']: {1}", "+value['s']: {1, 2}"),
    ({"b": bytearray(b"x")}, lambda v: v["b"].extend(b"y"), "-value['b']: bytearray(b'x')",
     "+value['b']: bytearray(b'xy')"),
    (Box([1]), lambda v: setattr(v, "items", []), "-value.items[0]: 1", "+value.items: []"),
    (Box([1]), lambda v: setattr(v, "extra", 1), None, "+value.extra: 1"),
    (Slotted("a"), lambda v: setattr(v, "unset", 1), "-value.unset: <unset>",
     "+value.unset: 1"),
    (Point(1, []), lambda v: v.tags.append("t"), None, "+value.tags[0]: 't'"),
    (ValueError("a"), lambda v: setattr(v, "args", ("b",)), "-value.args[0]: 'a'",
     "+value.args[0]: 'b'"),
    optional(pydantic, "pydantic", lambda: (
        User(name="ada"), lambda v: v.roles.append("root"), None, "+value.roles[0]: 'root'"),
        arity=4),
    optional(attrs, "attrs", lambda: (
        Account("ada", {"daily": 10}), lambda v: v.limits.update(daily=0),
        "-value.limits['daily']: 10", "+value.limits['daily']: 0"), arity=4),
])
def test_mutations_are_caught(value, mutate, removed, added):
    with pytest.raises(AssertionError) as info:
        assert_no_mutation(mutate, value)
    message = str(info.value)
    assert added in message
    if removed is not None:
        assert removed in message


def test_object_header_names_the_class():
    with pytest.raises(AssertionError, match=re.escape(f"value: <{__name__}.Box>")):
        assert_no_mutation(lambda v: v.items.clear(), Box([1]))


def test_cycles_are_handled():
    value: dict = {"name": "loop"}
    value["self"] = value
    assert_no_mutation(copying_hook, value)
    with pytest.raises(AssertionError) as info:
        assert_no_mutation(lambda v: v.update(name="changed"), value)
    assert "value['self']: <cycle>" in str(info.value)


def test_hook_params_of_each_core(core):
    params = core.HookParams(LogLevel.INFO, ["m"], {"token": "s3cret"}, {"user": "ada"},
                             None, {}, None, None)
    assert assert_no_mutation(lambda p: {"n": len(p.data)}, params) == {"n": 1}
    with pytest.raises(AssertionError) as info:
        assert_no_mutation(lambda p: p.data.update(token="[REDACTED]"), params)
    message = str(info.value)
    assert f"value: <{core.__name__}.HookParams>" in message
    assert "-value.data['token']: 's3cret'" in message
    assert "+value.data['token']: '[REDACTED]'" in message


def test_opaque_objects_are_treated_as_unchanged():
    opaque = object()
    assert assert_no_mutation(copying_hook, {"o": opaque}) == {"copied": {"o": opaque}}


def test_a_value_that_cannot_be_copied():
    with pytest.raises(TypeError, match="cannot deep-copy a dict"):
        assert_no_mutation(copying_hook, {"lock": threading.Lock()})


def test_the_hooks_own_exception_propagates():
    def boom(value):
        raise KeyError("inside")

    with pytest.raises(KeyError, match="inside"):
        assert_no_mutation(boom, {})


def test_through_a_real_logger_the_callers_dict_is_intact():
    """The way a plugin author uses it: the plugin's hook on the caller's metadata."""

    class Redact(Plugin):
        def on_metadata_called(self, metadata):
            return {k: "***" if k == "password" else v for k, v in metadata.items()}

    metadata = {"user": "ada", "password": "hunter2"}
    assert assert_no_mutation(Redact("r").on_metadata_called, metadata) == {
        "user": "ada", "password": "***"}


# -- assert_panic_recovered --------------------------------------------------------------------


def boom(*args):
    raise RuntimeError("hook failed")


EMITTERS = {
    "on_fields_called": lambda log: log.with_fields(a=1),
    "on_metadata_called": lambda log: log.with_metadata({"m": 1}).info("x"),
    "on_before_data_out": lambda log: log.info("x"),
    "on_before_message_out": lambda log: log.info("x"),
    "transform_log_level": lambda log: log.info("x"),
    "should_send": lambda log: log.info("x"),
}


@pytest.mark.parametrize("hook", sorted(EMITTERS))
def test_each_hook_failure_is_recovered_and_reported(hook, capsys):
    def build():
        plugin = Plugin("failing")
        setattr(plugin, hook, boom)
        return plugin

    err = assert_panic_recovered(build, EMITTERS[hook])
    assert isinstance(err, PluginError)
    assert err.plugin_id == "failing" and err.hook == hook
    assert isinstance(err.__cause__, RuntimeError)
    assert capsys.readouterr().err == ""  # reported to on_error, not to stderr


def test_the_plugins_own_on_error_still_runs():
    received = []

    class Reporting(Plugin):
        def on_before_data_out(self, params):
            raise ValueError("nope")

        def on_error(self, err):
            received.append(err)

    err = assert_panic_recovered(lambda: Reporting("rep"), lambda log: log.info("x"))
    assert received == [err]


def test_the_plugin_itself_is_not_changed():
    plugin = loglayer.data_hook("", boom)
    err = assert_panic_recovered(lambda: plugin, lambda log: log.info("x"))
    assert err.plugin_id  # generated
    assert not hasattr(plugin, "on_error")


def test_a_hook_that_does_not_raise_fails_the_assertion():
    with pytest.raises(AssertionError, match="no PluginError reached on_error"):
        assert_panic_recovered(lambda: loglayer.data_hook("ok", lambda p: None),
                               lambda log: log.info("x"))


def test_emit_that_never_runs_the_hook_fails_the_assertion():
    with pytest.raises(AssertionError, match="no PluginError reached on_error"):
        assert_panic_recovered(lambda: loglayer.data_hook("d", boom),
                               lambda log: log.with_fields(a=1))


def test_a_log_call_that_raises_fails_the_assertion():
    def emit(log):
        log.info("x")
        raise OSError("the emit function itself failed")

    with pytest.raises(AssertionError, match="the log call raised instead of recovering: "
                                             "OSError"):
        assert_panic_recovered(lambda: loglayer.data_hook("d", boom), emit)


# -- the documented example --------------------------------------------------------------------


def test_the_module_docstring_example_runs():
    doc = kit.__doc__
    example = textwrap.dedent(doc[doc.index("::\n") + 3:])
    namespace: dict = {"__name__": "example"}
    exec(compile(example, "loglayer.testing example", "exec"), namespace)
    tests = [fn for name, fn in namespace.items() if name.startswith("test_")]
    assert len(tests) == 3
    for test in tests:
        test()
