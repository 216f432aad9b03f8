"""Issue 17, hardening of the assembly layer: configuration errors say what to do.

Each error names the argument or the key path it is about, keeps its broad type
(``TypeError``, ``ValueError``, ``OSError``), and suggests the fix when there is an
obvious one. The logger tests run on both cores (the ``core`` fixture); the rest binds
to the live core and runs again under ``LOGLAYER_NO_EXTENSIONS=1``.
"""

from __future__ import annotations

import errno
import io
import json
import sys

import pytest

import loglayer
from loglayer import from_config, load_config
from loglayer.testing import TestTransport

BY_NAME = "loglayer.from_config({'transports': [{'name': 'console'}]})"


# -- transports given by name to the constructor ---------------------------------------


@pytest.mark.parametrize("given", ["console", b"console", {"name": "console"}])
def test_a_transport_name_is_refused_with_a_pointer_to_from_config(core, given):
    with pytest.raises(TypeError) as info:
        core.LogLayer(transports=given)
    message = str(info.value)
    assert message.startswith("transports must be a transport or a sequence of transports")
    assert BY_NAME in message and "'c'" not in message


@pytest.mark.parametrize("given", ["console", {"name": "console"}])
def test_a_transport_name_in_a_list_is_refused_the_same_way(core, given):
    with pytest.raises(TypeError) as info:
        core.LogLayer(transports=[TestTransport(), given])
    assert "send(entry)" in str(info.value) and BY_NAME in str(info.value)
    log = core.LogLayer(transports=TestTransport())
    with pytest.raises(TypeError, match="from_config"):
        log.add_transport("console")


# -- from_config: streams, files, depth --------------------------------------------------


@pytest.mark.parametrize("stream", [io.StringIO(), sys.stderr, sys.stdout],
                         ids=["StringIO", "stderr", "stdout"])
@pytest.mark.parametrize("name", ["console", "structured"])
def test_a_transport_takes_an_explicit_stream_from_config(name, stream):
    log = from_config({"transports": [{"name": name, "options": {"stream": stream,
                                                                 "id": "out"}}]})
    assert log.get_logger_instance("out").stream is stream


def test_a_stream_option_that_is_no_stream_names_what_is_wanted():
    with pytest.raises(TypeError, match=r"^transports\[0\]\.options\.stream: must be a stream "
                                        r"\(an object with a write method\) or None, got int$"):
        from_config({"transports": [{"name": "console", "options": {"stream": 5}}]})


def test_the_console_transport_from_config_writes_to_its_stream():
    buffer = io.StringIO()
    log = from_config({"transports": [{"name": "console", "options": {
        "stream": buffer, "colors": False}}]})
    log.info("hello")
    assert "hello" in buffer.getvalue()


def test_a_file_that_cannot_be_opened_names_its_key_and_keeps_its_type(tmp_path):
    missing = tmp_path / "no" / "such" / "dir" / "app.log"
    config = {"transports": [{"name": "console", "options": {"stream": io.StringIO()}},
                             {"name": "file", "options": {"path": str(missing)}}]}
    with pytest.raises(FileNotFoundError) as info:
        from_config(config)
    assert str(info.value).startswith("transports[1].options.path: ")
    assert info.value.errno == errno.ENOENT
    assert isinstance(info.value.__cause__, FileNotFoundError)
    path = tmp_path / "logging.json"
    path.write_text(json.dumps(config | {"transports": config["transports"][1:]}))
    with pytest.raises(FileNotFoundError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}: transports[0].options.path: ")


def test_a_config_nested_too_deeply_is_a_value_error_naming_the_path():
    deep: dict = {}
    inner = deep
    for _ in range(150):
        inner["a"] = {}
        inner = inner["a"]
    with pytest.raises(ValueError, match=r"^fields\.d\.a\.a\.a.*: nested more than 100 "
                                         r"levels deep"):
        from_config({"fields": {"d": deep}})
    looped: dict = {"name": "sprintf"}
    looped["options"] = {"self": looped}  # a mapping that contains itself
    with pytest.raises(ValueError, match=r"^plugins\[0\]\.options\.self\.options\.self"):
        from_config({"plugins": [looped]})


@pytest.mark.parametrize("suffix", [".json", ".toml"])
@pytest.mark.parametrize("levels", [150, 100_000])
def test_a_config_file_nested_too_deeply_is_a_value_error_naming_the_file(
        tmp_path, levels, suffix):
    path = tmp_path / f"deep{suffix}"
    if suffix == ".json":
        path.write_text('{"fields": {"d": ' + '{"a": ' * levels + "1" + "}" * levels + "}}")
    else:
        path.write_text("fields = { d = " + "{ a = " * levels + "1" + " }" * levels + " }")
    with pytest.raises(ValueError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and "nested" in message
    assert not isinstance(info.value, RecursionError)


# -- configure ---------------------------------------------------------------------------


@pytest.mark.parametrize(("options", "error", "message"), [
    ({"level": "bogus"}, ValueError, r"^level must be a log level .* got 'bogus'$"),
    ({"level": True}, TypeError, r"^level must be a LogLevel, an int or a str, got bool$"),
    ({"transports": "console"}, TypeError, r"^transports must be a transport .*from_config"),
    ({"plugins": "redact"}, TypeError, r"^plugins must be a sequence of plugins, got the str "
                                       r"'redact'; .*get_plugin"),
])
def test_configure_names_the_bad_argument(options, error, message):
    before = (loglayer.log.get_logger_instance("default"), loglayer.log.plugin_ids(),
              loglayer.log.is_level_enabled(loglayer.LogLevel.TRACE))
    with pytest.raises(error, match=message):
        loglayer.configure(**options)
    after = (loglayer.log.get_logger_instance("default"), loglayer.log.plugin_ids(),
             loglayer.log.is_level_enabled(loglayer.LogLevel.TRACE))
    assert before == after  # nothing changed


def test_a_factory_that_needs_a_missing_extra_names_its_entry(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_opentelemetry(name, *args, **kwargs):
        if name.startswith("opentelemetry"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_opentelemetry)
    with pytest.raises(ImportError, match=r"^plugins\[1\]: otel_trace\(\) needs "
                                          r"opentelemetry-api") as info:
        from_config({"plugins": [{"name": "sprintf"}, {"name": "otel_trace"}]})
    assert isinstance(info.value.__cause__, ImportError)
