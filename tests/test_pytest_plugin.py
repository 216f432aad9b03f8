"""The pytest plugin's ``loglayer_capture`` fixture.

``LogCapture`` is tested here directly; the fixture itself in a real pytest run in a
subprocess (``pytest -p loglayer.pytest_plugin``), since only a root conftest may load
plugins into this run.
"""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys
import textwrap
import threading

import pytest

import loglayer
from loglayer import LogLayer, LogLevel
from loglayer._taps import add_tap, remove_tap
from loglayer.pytest_plugin import LogCapture
from loglayer.testing import TestTransport


@pytest.fixture
def capture():
    capture = LogCapture()
    add_tap(capture)
    try:
        yield capture
    finally:
        remove_tap(capture)


def test_lines_and_messages(capture):
    log = LogLayer(transports=TestTransport(), prefix="[db]")
    log.info("connected", 2)
    log.with_prefix(None).with_metadata({"k": 1}).warn("slow")
    assert [entry.messages for entry in capture.lines] == [["connected", 2], ["slow"]]
    assert capture.messages == ["[db] connected 2", "slow"]
    assert len(capture) == 2 and repr(capture) == "<LogCapture entries=2>"


def test_find_by_level_message_and_data(capture):
    log = LogLayer(transports=TestTransport()).with_fields(service="billing")
    log.with_metadata({"user": "ada"}).info("charged card 42")
    log.warn("card declined")
    log.with_metadata({"user": "bob"}).error("charge failed")
    assert [e.messages for e in capture.find(level="warning")] == [["card declined"]]
    assert len(capture.find(level=LogLevel.INFO)) == 1 and len(capture.find(level=40)) == 1
    assert len(capture.find(message="charge")) == 2
    assert [e.messages for e in capture.find(message=re.compile(r"card \d+"))] == [
        ["charged card 42"]]
    assert len(capture.find(service="billing")) == 3  # from the data
    assert [e.messages for e in capture.find(user="bob")] == [["charge failed"]]  # metadata
    assert capture.find(level="error", user="ada") == []
    assert capture.find(missing=None) == []
    with pytest.raises(ValueError):
        capture.find(level="loudest")


def test_clear(capture):
    loglayer.LogLayer(transports=TestTransport()).info("x")
    capture.clear()
    assert capture.lines == [] and capture.messages == []


def test_capture_from_many_threads(capture):
    log = LogLayer(transports=TestTransport())

    def worker(n: int) -> None:
        for i in range(200):
            log.info(n, i)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(capture) == 800
    assert sorted(capture.messages) == sorted(f"{n} {i}" for n in range(4) for i in range(200))


INNER_TESTS = """
import logging

import loglayer
from loglayer import LogLayer, _taps
from loglayer.stdlib import get_logger, install
from loglayer.testing import TestTransport

OWN = TestTransport("own")
DERIVED_BEFORE = LogLayer(transports=OWN).with_fields(service="billing")


def test_the_live_core():
    assert loglayer.COMPILED is {compiled}


def test_captures_every_logger(loglayer_capture):
    DERIVED_BEFORE.with_metadata({{"user": "ada"}}).warn("charged", 3)
    loglayer.log.info("ready logger")
    install(level="trace")  # loglayer configured: facade calls that reach the root go to it
    get_logger("app.web").error("facade %s", "call")
    assert loglayer_capture.messages == ["charged 3", "ready logger", "facade call"]
    assert loglayer_capture.find(level="warn", service="billing", user="ada")
    assert loglayer_capture.find(level="error", logger="app.web")
    assert [entry.messages for entry in OWN.lines] == [["charged", 3]]  # output unchanged


def test_a_failing_test_still_removes_the_tap(loglayer_capture):
    loglayer.log.info("before failing")
    assert False, "fails on purpose"


def test_without_the_fixture_output_is_normal(capsys):
    assert _taps._taps == ()
    loglayer.log.info("plain output")
    assert "plain output" in capsys.readouterr().err
"""


@pytest.mark.slow
def test_the_fixture_in_a_real_pytest_run(tmp_path):
    (tmp_path / "test_inner.py").write_text(
        textwrap.dedent(INNER_TESTS).format(compiled=loglayer.COMPILED), "utf-8")
    (tmp_path / "pytest.ini").write_text("[pytest]\nfilterwarnings = error\n", "utf-8")
    package_root = str(pathlib.Path(loglayer.__file__).resolve().parent.parent)
    env = dict(os.environ, PYTEST_DISABLE_PLUGIN_AUTOLOAD="1", PYTHONPATH=os.pathsep.join(
        p for p in (package_root, os.environ.get("PYTHONPATH", "")) if p))
    env.pop("LOGLAYER_LEVEL", None)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "loglayer.pytest_plugin", "-p",
         "no:cacheprovider", "-q", "test_inner.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    summary = result.stdout.strip().splitlines()[-1]
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 failed, 3 passed" in summary, result.stdout
    assert "fails on purpose" in result.stdout

