"""The ready logger (`from loglayer import log`) and `configure`."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pytest

import loglayer
from loglayer import LogLevel, configure, log
from loglayer.testing import TestTransport


def _run(code: str, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items()
                   if k not in ("LOGLAYER_LEVEL", "LOGLAYER_FORMAT")}
    environment.update(env)
    return subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True,
                          text=True, timeout=60)


@pytest.mark.slow
def test_log_works_with_no_setup_json_when_stderr_is_not_a_tty():
    result = _run("from loglayer import log; log.with_fields(a=1).info('hello', 2)")
    assert result.returncode == 0, result.stderr
    [line] = result.stderr.splitlines()
    doc = json.loads(line)
    assert doc["level"] == "info" and doc["msg"] == "hello 2" and doc["a"] == 1


@pytest.mark.slow
def test_format_and_level_from_the_environment():
    result = _run("from loglayer import log; log.info('quiet'); log.warn('loud')",
                  LOGLAYER_FORMAT="console", LOGLAYER_LEVEL="warning")
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "WARN" in lines[0] and "loud" in lines[0]
    assert not lines[0].lstrip().startswith("{")


@pytest.mark.slow
@pytest.mark.parametrize("env, warning", [
    ({"LOGLAYER_LEVEL": "loudest"}, "LOGLAYER_LEVEL"),
    ({"LOGLAYER_FORMAT": "xml"}, "LOGLAYER_FORMAT"),
])
def test_bad_environment_values_warn_once_and_use_the_default(env, warning):
    result = _run("from loglayer import log; log.debug('still logged')", **env)
    assert result.returncode == 0
    lines = result.stderr.splitlines()
    assert sum(warning in line for line in lines) == 1
    assert any("still logged" in line for line in lines)


def test_default_logger_follows_sys_stderr(monkeypatch):
    buf = io.StringIO()
    monkeypatch.setattr(sys, "stderr", buf)
    log.info("captured")
    assert "captured" in buf.getvalue()


@pytest.fixture
def restore_default():
    transports_before = log.get_logger_instance("default")
    plugins_before = [log.get_plugin(pid) for pid in log.plugin_ids()]
    yield
    log.set_transports(transports_before)
    for pid in log.plugin_ids():
        log.remove_plugin(pid)
    log.add_plugin(*plugins_before)
    log.set_level(LogLevel.TRACE)


def test_configure_changes_the_default_logger_in_place(restore_default):
    tt = TestTransport("captured")
    same = configure(transports=tt, level="info",
                     plugins=[loglayer.data_hook("tag", lambda p: {"tagged": True})])
    assert same is log
    log.debug("filtered")
    log.info("kept")
    [entry] = tt.lines
    assert entry.messages == ["kept"] and entry.data == {"tagged": True}


def test_configure_leaves_what_is_not_given(restore_default):
    tt = TestTransport("captured")
    configure(transports=[tt])
    configure(level="error")
    log.error("e")
    assert len(tt) == 1
    configure(plugins=[])
    assert log.plugin_ids() == []


def test_configure_validates_before_changing_anything(restore_default):
    tt = TestTransport("captured")
    configure(transports=tt)
    with pytest.raises(TypeError):
        configure(transports=[object()], level="info")
    with pytest.raises(ValueError):
        configure(level="nope")
    with pytest.raises(TypeError):
        configure(plugins=[None])
    log.trace("unchanged")
    assert len(tt) == 1


def test_plugin_ids_in_order():
    tt = TestTransport()
    logger = loglayer.LogLayer(transports=tt)
    logger.add_plugin(loglayer.noop_plugin("b"), loglayer.noop_plugin("a"))
    assert logger.plugin_ids() == ["b", "a"]
