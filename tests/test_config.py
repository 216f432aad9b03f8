"""loglayer._config: from_config and load_config (plain data -> LogLayer)."""

from __future__ import annotations

import io
import json
import re
import typing
from collections.abc import Callable, Iterable

import pytest

import loglayer
from loglayer import LogLevel, registry
from loglayer._config import _describe, _matches, _signature, from_config, load_config
from loglayer.testing import TestTransport


class Memory(TestTransport):
    """A TestTransport that records close(), registered as the transport "memory"."""

    instances: list[Memory] = []

    def __init__(self, id: str = "", *, fail: bool = False) -> None:
        if fail:
            raise RuntimeError("memory failed")
        super().__init__(id)
        self.closed = False
        Memory.instances.append(self)

    def close(self) -> None:
        self.closed = True


def rate_plugin(rate: float, *, id: str = "rate"):
    """A plugin factory that validates its option the way built-ins do."""
    if not 0 <= rate <= 1:
        raise ValueError("rate must be between 0 and 1")
    return loglayer.data_hook(id, lambda params: {"rate": rate})


def tag_plugin(tag: str = "t", *, level: LogLevel = LogLevel.INFO,
               tags: Iterable[str] = (), **extra: typing.Any):
    return loglayer.data_hook("tag", lambda params: {"tag": tag, **extra})


def fragile_plugin(n: int = 0):
    if n:
        raise TypeError("cannot take that")
    return loglayer.noop_plugin("fragile")


@pytest.fixture(autouse=True)
def names(monkeypatch):
    """A fresh registry with the test factories registered."""
    monkeypatch.setattr(registry, "_PLUGINS", registry._Registry(
        "plugin", registry.PLUGIN_GROUP, registry._BUILTIN_PLUGINS))
    monkeypatch.setattr(registry, "_TRANSPORTS", registry._Registry(
        "transport", registry.TRANSPORT_GROUP, registry._BUILTIN_TRANSPORTS))
    Memory.instances = []
    registry.register_transport("memory", Memory)
    registry.register_plugin("rate", rate_plugin)
    registry.register_plugin("tag", tag_plugin)
    registry.register_plugin("fragile", fragile_plugin)


def memory_config(**extra):
    return {"transports": [{"name": "memory", "options": {"id": "m"}}], **extra}


def sent(log) -> TestTransport:
    return log.get_logger_instance("m")


# -- building -------------------------------------------------------------------------------


def test_empty_config_gives_the_default_console_transport(capsys):
    log = from_config({})
    assert isinstance(log, loglayer.LogLayer)
    log.info("to the console")
    assert "to the console" in capsys.readouterr().err


def test_transports_and_plugins_by_name():
    log = from_config(memory_config(
        level="info",
        plugins=[{"name": "tag", "options": {"tag": "a"}}, {"name": "rate",
                                                             "options": {"rate": 0.5}}]))
    log.debug("filtered")
    log.info("hi")
    tt = sent(log)
    assert len(tt) == 1
    assert tt.last_line().data == {"tag": "a", "rate": 0.5}
    assert log.plugin_count() == 2


def test_builtin_transport_with_options():
    buffer = io.StringIO()
    log = from_config({"transports": [{"name": "structured", "options": {
        "stream": buffer, "time_format": None, "message_key": "message"}}]})
    log.warn("careful")
    assert json.loads(buffer.getvalue()) == {"level": "warn", "message": "careful"}


def test_builtin_plugins_by_name():
    log = from_config(memory_config(plugins=[
        {"name": "redact", "options": {"keys": ["password"]}},
        {"name": "sampling.fixed_rate", "options": {"rate": 1.0, "seed": 1}},
    ]))
    log.with_metadata({"user": "ada", "password": "hunter2"}).info("login")
    assert sent(log).last_line().metadata == {"user": "ada", "password": "[REDACTED]"}
    with pytest.raises(ValueError, match=r"^plugins\[1\]\.options\.rate: must be between 0 and 1"):
        from_config({"plugins": [{"name": "sprintf"},
                                 {"name": "sampling.fixed_rate", "options": {"rate": 2}}]})


def test_options_may_be_omitted():
    log = from_config({"transports": [{"name": "memory"}], "plugins": [{"name": "tag"}]})
    log.info("x")
    (transport,) = Memory.instances
    assert transport.last_line().data == {"tag": "t"}


@pytest.mark.parametrize(("key", "value", "check"), [
    ("level", "warning", lambda log, tt: not log.is_level_enabled(LogLevel.INFO)
     and log.is_level_enabled(LogLevel.WARN)),
    ("level", 40, lambda log, tt: not log.is_level_enabled(LogLevel.WARN)),
    ("enabled", False, lambda log, tt: not log.is_level_enabled(LogLevel.FATAL)),
    ("prefix", "[api]", lambda log, tt: tt.last_line().prefix == "[api]"),
    ("name", "billing", lambda log, tt: tt.last_line().data == {"logger": "billing"}),
    ("fields", {"svc": "a"}, lambda log, tt: tt.last_line().data == {"svc": "a"}),
    ("fields_key", "ctx", lambda log, tt: _fields_data(log, tt) == {"ctx": {"a": 1}}),
    ("metadata_key", "meta", lambda log, tt: tt.last_line().metadata_key == "meta"),
    ("error_key", "problem", lambda log, tt: "problem" in _error_data(log, tt)),
    ("copy_msg_on_only_error", True,
     lambda log, tt: _only_error_messages(log, tt) == ["bad thing"]),
    ("mute_fields", True, lambda log, tt: tt.last_line().data == {}),
    ("mute_metadata", True, lambda log, tt: tt.last_line().metadata is None),
])
def test_simple_keys_reach_the_logger(key, value, check):
    extra = {"fields": {"k": 1}} if key == "mute_fields" else {}
    log = from_config(memory_config(**{key: value}, **extra))
    log.with_metadata({"m": 1}).fatal("hello")
    assert check(log, sent(log))


def _fields_data(log, tt):
    log.with_fields(a=1).info("f")
    return tt.last_line().data


def _error_data(log, tt):
    log.with_error(ValueError("x")).error("e")
    return tt.last_line().data


def _only_error_messages(log, tt):
    log.error_only(ValueError("bad thing"))
    return tt.last_line().messages


def test_config_may_be_any_mapping():
    from types import MappingProxyType
    log = from_config(MappingProxyType(memory_config(level="error")))
    assert not log.is_level_enabled(LogLevel.WARN)


def test_transports_may_be_a_tuple():
    log = from_config({"transports": ({"name": "memory", "options": {"id": "m"}},)})
    assert sent(log) is Memory.instances[0]


# -- errors name the path of the offending key ------------------------------------------------


@pytest.mark.parametrize(("config", "error", "message"), [
    ([], TypeError, "config must be a mapping, got list"),
    ({"levle": "info"}, ValueError, "levle: unknown key; expected one of: level, transports, "
                                    "plugins, "),
    ({"level": "loud"}, ValueError, "level: must be a log level (trace, debug, info, warn, "
                                   "error, fatal, warning, critical, or 5, 10, 20, 30, 40, 50), "
                                   "got 'loud'"),
    ({"level": True}, TypeError, "level: must be a LogLevel, an int or a str, got bool"),
    ({"enabled": "yes"}, TypeError, "enabled: must be a bool, got str"),
    ({"mute_metadata": 1}, TypeError, "mute_metadata: must be a bool, got int"),
    ({"prefix": 3}, TypeError, "prefix: must be a str or None, got int"),
    ({"name": ""}, ValueError, "name: must be a non-empty str or None, got ''"),
    ({"fields": [1]}, TypeError, "fields: must be a mapping, got list"),
    ({"fields": {1: "a"}}, TypeError, "fields.1: must be a str key, got int"),
    ({"fields_key": ""}, ValueError, "fields_key: must be a non-empty str or None, got ''"),
    ({"metadata_key": 5}, TypeError, "metadata_key: must be a non-empty str or None, got int"),
    ({"error_key": None}, TypeError, "error_key: must be a non-empty str, got None"),
    ({"transports": []}, ValueError, "transports: must not be empty"),
    ({"transports": "memory"}, TypeError, "transports: must be a list of"),
    ({"transports": {"name": "memory"}}, TypeError, "transports: must be a list of"),
    ({"plugins": 5}, TypeError, "plugins: must be a list of"),
    ({"plugins": ["tag"]}, TypeError, 'plugins[0]: must be a mapping like {"name": ...'),
    ({"plugins": [{"options": {}}]}, ValueError, "plugins[0].name: missing; every plugin "
                                                 "needs a name"),
    ({"plugins": [{"name": 1}]}, TypeError, "plugins[0].name: must be a str, got int"),
    ({"plugins": [{"name": "tag", "opts": {}}]}, ValueError,
     "plugins[0].opts: unknown key; expected one of: name, options"),
    ({"plugins": [{"name": "tag", "options": []}]}, TypeError,
     "plugins[0].options: must be a mapping, got list"),
    ({"plugins": [{"name": "tag", "options": {1: 2}}]}, TypeError,
     "plugins[0].options.1: must be a str key, got int"),
    ({"plugins": [{"name": "tag"}, {"name": "nope"}]}, ValueError,
     "plugins[1].name: unknown plugin 'nope'; known plugins: filter, fragile, "),
    ({"transports": [{"name": "nope"}]}, ValueError,
     "transports[0].name: unknown transport 'nope'; known transports: blank, console, "
     "file, http, journald, memory, otlp, queue, stdlib, structured, syslog"),
])
def test_structure_errors(config, error, message):
    with pytest.raises(error) as info:
        from_config(config)
    assert str(info.value).startswith(message), str(info.value)


def test_the_factorys_error_gets_the_option_path():
    with pytest.raises(ValueError) as info:
        from_config({"plugins": [{"name": "tag"}, {"name": "rate", "options": {"rate": 2}}]})
    assert str(info.value) == "plugins[1].options.rate: must be between 0 and 1"
    assert str(info.value.__cause__) == "rate must be between 0 and 1"


def test_a_factory_error_not_about_one_option():
    with pytest.raises(TypeError, match=r"^plugins\[0\]\.options: cannot take that$"):
        from_config({"plugins": [{"name": "fragile", "options": {"n": 1}}]})


def test_a_builtin_transports_own_check_gets_the_path():
    with pytest.raises(TypeError, match=r"^transports\[0\]\.options\.stream: must be None, "
                                        r"a path, or an object with a write\(\) method"):
        from_config({"transports": [{"name": "structured", "options": {"stream": 5}}]})


@pytest.mark.parametrize(("options", "error", "message"), [
    ({"rate": "0.5"}, TypeError, "plugins[0].options.rate: must be float, got str"),
    ({"rate": True}, TypeError, "plugins[0].options.rate: must be float, got bool"),
    ({"rate": 0.5, "id": 7}, TypeError, "plugins[0].options.id: must be str, got int"),
    ({"rate": 0.5, "seed": 1}, ValueError,
     "plugins[0].options.seed: unknown option for plugin 'rate'; expected one of: rate, id"),
    ({}, ValueError, "plugins[0].options.rate: missing, plugin 'rate' requires it"),
])
def test_options_are_checked_against_the_signature(options, error, message):
    with pytest.raises(error) as info:
        from_config({"plugins": [{"name": "rate", "options": options}]})
    assert str(info.value) == message


def test_an_int_is_a_float():
    log = from_config(memory_config(plugins=[{"name": "rate", "options": {"rate": 1}}]))
    log.info("x")
    assert sent(log).last_line().data == {"rate": 1}


def test_class_factories_are_checked_through_init():
    with pytest.raises(ValueError, match=r"^transports\[0\]\.options\.colour: unknown option "
                                         r"for transport 'console'; expected one of: stream, "
                                         r"colors, show_time"):
        from_config({"transports": [{"name": "console", "options": {"colour": True}}]})
    with pytest.raises(TypeError, match=r"^transports\[0\]\.options\.colors: must be "
                                        r"bool \| None, got str$"):
        from_config({"transports": [{"name": "console", "options": {"colors": "yes"}}]})


def test_var_keyword_factories_take_any_option_but_still_check_named_ones():
    log = from_config(memory_config(plugins=[{"name": "tag", "options": {"anything": 1}}]))
    log.info("x")
    assert sent(log).last_line().data == {"tag": "t", "anything": 1}
    with pytest.raises(TypeError, match=r"^plugins\[0\]\.options\.tag: must be str, got int$"):
        from_config({"plugins": [{"name": "tag", "options": {"tag": 1}}]})


def test_enum_options_accept_names():
    from_config({"plugins": [{"name": "tag", "options": {"level": "warn", "tags": ["a"]}}]})
    with pytest.raises(TypeError, match=r"options\.level: must be LogLevel, got list"):
        from_config({"plugins": [{"name": "tag", "options": {"level": []}}]})


def test_built_transports_are_closed_when_a_later_one_fails():
    with pytest.raises(ValueError, match=r"^transports\[1\]\.name: unknown transport"):
        from_config({"transports": [{"name": "memory"}, {"name": "nope"}]})
    assert [t.closed for t in Memory.instances] == [True]


def test_built_transports_are_closed_when_a_factory_raises_something_else():
    with pytest.raises(RuntimeError, match="memory failed"):
        from_config({"transports": [{"name": "memory"},
                                    {"name": "memory", "options": {"fail": True}}]})
    assert [t.closed for t in Memory.instances] == [True]


def test_built_transports_are_closed_when_the_logger_cannot_be_built():
    with pytest.raises(ValueError):
        from_config({"transports": [{"name": "memory", "options": {"id": "a"}},
                                    {"name": "memory", "options": {"id": "b"}}],
                     "plugins": [{"name": "tag"}, {"name": "nope"}]})
    assert Memory.instances == []  # plugins come first: nothing was opened
    registry.register_plugin("not-a-plugin", lambda: None)
    with pytest.raises(TypeError):
        from_config({"transports": [{"name": "memory"}], "plugins": [{"name": "not-a-plugin"}]})
    assert [t.closed for t in Memory.instances] == [True]


def test_a_broken_installed_plugin_is_an_import_error_with_the_path(monkeypatch):
    monkeypatch.setattr(registry, "_PLUGINS", registry._Registry(
        "plugin", registry.PLUGIN_GROUP, {"gone": "loglayer_no_such_module:factory"}))
    with pytest.raises(ImportError, match=r"^plugins\[0\]\.name: plugin 'gone' from loglayer "
                                          r"\(built-in, loglayer_no_such_module:factory\) "
                                          r"failed to load"):
        from_config({"plugins": [{"name": "gone"}]})


# -- the signature and type-hint helpers -------------------------------------------------------


@pytest.mark.parametrize(("value", "hint", "ok"), [
    (1, int, True), (True, int, False), (1, float, True), (1.5, float, True),
    (False, float, False), ("a", float, False), ("a", str, True), (None, str | None, True),
    # factories written with the typing spellings must be checked too
    (None, typing.Optional[int], True), (1, typing.Optional[int], True),  # noqa: UP045
    ("x", typing.Union[int, float], False),  # noqa: UP007
    ("a", typing.Literal["a", "b"], True),
    ("c", typing.Literal["a", "b"], False), ([1], list[str], True), ({}, list[str], False),
    ((1,), Iterable[str], True), (print, Callable[[int], int], True),
    (1, Callable[[int], int], False), ("x", typing.Any, True), ("x", object, True),
    (None, None, True), (1, None, False), ("warn", LogLevel, True),
    (LogLevel.WARN, LogLevel, True), (1.5, LogLevel, False),
    ("x", typing.TypeVar("T"), True),
])
def test_matches(value, hint, ok):
    assert _matches(value, hint) is ok


@pytest.mark.parametrize(("hint", "text"), [
    # one rendering on every version, however the union is spelled: on 3.10,
    # get_type_hints turns `x: bool | None = None` into Optional[bool]
    (bool | None, "bool | None"), (typing.Optional[bool], "bool | None"),  # noqa: UP045
    (typing.Union[int, str], "int | str"), (int | str | None, "int | str | None"),  # noqa: UP007
    # on 3.10 `list[str]` passes isinstance(..., type)
    (list[str], "list[str]"), (list[str] | None, "list[str] | None"),
    (typing.Literal["a", "b"], "Literal['a', 'b']"), (LogLevel, "LogLevel"),
    (typing.TextIO | None, "a stream (an object with a write method) or None"),
])
def test_describe(hint, text):
    assert _describe(hint) == text


def test_an_implicitly_optional_hint_reads_the_same_on_every_version():
    def factory(flag: bool | None = None):
        return loglayer.noop_plugin("f")

    registry.register_plugin("implicit", factory)
    with pytest.raises(TypeError, match=r"^plugins\[0\]\.options\.flag: must be "
                                        r"bool \| None, got str$"):
        from_config({"plugins": [{"name": "implicit", "options": {"flag": "yes"}}]})


class Unsigned:
    """A factory whose signature cannot be read: its options go to it unchecked."""

    __signature__ = "not a signature"

    def __call__(self, **options):
        if options.get("n", 0) < 0:
            raise ValueError("n must be positive")
        return loglayer.noop_plugin("unsigned")


def test_a_factory_without_a_signature_is_called_unchecked():
    assert _signature(Unsigned()) == (None, {})
    registry.register_plugin("unsigned", Unsigned())
    log = from_config({"plugins": [{"name": "unsigned", "options": {"anything": 1}}]})
    assert log.get_plugin("unsigned") is not None
    with pytest.raises(ValueError, match=r"^plugins\[0\]\.options\.n: must be positive$"):
        from_config({"plugins": [{"name": "unsigned", "options": {"n": -1}}]})


def test_unresolvable_hints_are_skipped():
    def factory(x: NotDefinedAnywhere = 1):  # noqa: F821
        return loglayer.noop_plugin("u")

    registry.register_plugin("unresolved", factory)
    log = from_config(memory_config(plugins=[{"name": "unresolved", "options": {"x": "s"}}]))
    assert log.get_plugin("u") is not None


# -- files ---------------------------------------------------------------------------------------

TOML = """\
level = "info"
prefix = "[api]"
fields = { service = "api" }

[[transports]]
name = "memory"
options = { id = "m" }

[[plugins]]
name = "tag"
options = { tag = "from-toml" }
"""


def test_load_toml(tmp_path):
    path = tmp_path / "logging.toml"
    path.write_text(TOML)
    log = load_config(path)
    log.debug("filtered")
    log.info("hi")
    line = sent(log).last_line()
    assert len(sent(log)) == 1
    assert line.prefix == "[api]"
    assert line.data == {"service": "api", "tag": "from-toml"}


def test_load_json(tmp_path):
    path = tmp_path / "logging.JSON"
    path.write_text(json.dumps(memory_config(level="warn", plugins=[{"name": "tag"}])))
    log = load_config(str(path))
    log.info("filtered")
    log.warn("kept")
    assert [line.messages for line in sent(log).lines] == [["kept"]]


def test_load_config_errors_name_the_file_and_the_key(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[[plugins]]\nname = "rate"\noptions = { rate = 3 }\n')
    with pytest.raises(ValueError) as info:
        load_config(path)
    assert str(info.value) == f"{path}: plugins[0].options.rate: must be between 0 and 1"


def test_load_config_wrong_type_stays_a_type_error(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"enabled": "yes"}')
    with pytest.raises(TypeError, match=re.escape(f"{path}: enabled: must be a bool")):
        load_config(path)
    path.write_text("[1, 2]")
    with pytest.raises(TypeError, match=re.escape(f"{path}: config must be a mapping")):
        load_config(path)


@pytest.mark.parametrize(("name", "text", "kind"), [
    ("broken.toml", "level = ", "TOML"),
    ("broken.json", "{level", "JSON"),
    ("latin.toml", b"prefix = '\xff'", "TOML"),
])
def test_load_config_unparsable(tmp_path, name, text, kind):
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    with pytest.raises(ValueError, match=re.escape(f"{path}: not valid {kind}: ")):
        load_config(path)


@pytest.mark.parametrize("name", ["logging.yaml", "logging"])
def test_load_config_unknown_format(tmp_path, name):
    path = tmp_path / name
    path.write_text("level: info")
    with pytest.raises(ValueError, match=r"unsupported config format .*use one of: .toml, .json"):
        load_config(path)


def test_load_config_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_config(tmp_path / "missing.toml")


def test_a_queue_wraps_transports_and_plugins_named_in_the_config(tmp_path):
    path = tmp_path / "app.log"
    log = from_config({"transports": [{"name": "queue", "options": {
        "inner": [{"name": "file", "options": {"path": str(path)}}],
        "plugins": [{"name": "redact", "options": {"keys": ["password"]}}]}}]})
    log.with_metadata({"password": "hunter2", "user": "ada"}).info("signed in")
    log.close()
    line = json.loads(path.read_text())
    assert (line["password"], line["user"], line["msg"]) == ("[REDACTED]", "ada", "signed in")


def test_a_single_inner_entry_is_accepted_and_errors_name_its_path():
    with pytest.raises(ValueError, match=r"^transports\[0\]\.options\.inner\.name: unknown "):
        from_config({"transports": [{"name": "queue", "options": {"inner": {"name": "x"}}}]})
    with pytest.raises(TypeError, match=r"^transports\[0\]\.options\.plugins\[0\]: must be a "):
        from_config({"transports": [{"name": "queue", "options": {
            "inner": {"name": "blank", "options": {"fn": print}}, "plugins": ["redact"]}}]})


def test_a_failing_queue_closes_the_inner_transports_it_built(tmp_path, monkeypatch):
    closed = []
    from loglayer.transports import FileTransport
    monkeypatch.setattr(FileTransport, "close", lambda self: closed.append(self.path))
    with pytest.raises(TypeError, match=r"^transports\[0\]\.options\.max_size: "):
        from_config({"transports": [{"name": "queue", "options": {
            "inner": {"name": "file", "options": {"path": str(tmp_path / "a.log")}},
            "max_size": "many"}}]})
    assert closed == [str(tmp_path / "a.log")]
