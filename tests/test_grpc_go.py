"""The proof with real peers: HashiCorp's go-plugin on the other side, in both directions.

``examples/grpc/build.sh`` builds, with the Go module proxy, a redaction plugin
(``redact-plugin``), its variant that panics on demand (``panic-plugin``) and a go-plugin
host (``loglayer-host``) into ``.cache/go``; a second build with nothing changed is a
no-op. The Go plugins call ``plugin.Serve`` with ``plugin.DefaultGRPCServer``; the host
uses ``plugin.NewClient`` with ``plugin.ProtocolGRPC``. The version of go-plugin tested is
the one ``examples/grpc/go/loglayerexample/go.mod`` pins (``GO_PLUGIN_VERSION`` below).
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys
import time

import pytest

pytestmark = [
    pytest.mark.slow,  # every test here builds or runs a Go binary
    pytest.mark.skipif(shutil.which("go") is None,
                       reason="Go is not installed (`make deps` installs it)"),
]
pytest.importorskip("grpc", reason="the grpc extra is not installed")

from loglayer import LogLayer, LogLevel  # noqa: E402
from loglayer.isolation import GrpcPlugin  # noqa: E402
from loglayer.isolation._grpc_wire import NOT_A_PLUGIN_MESSAGE  # noqa: E402
from loglayer.testing import TestTransport  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
BUILD = ROOT / "examples" / "grpc" / "build.sh"
OUT = ROOT / ".cache" / "go"
TIMEOUT = 1.0
GO_PLUGIN_VERSION = "v1.8.0"


def test_the_go_examples_pin_the_tested_go_plugin_release():
    go_mod = (ROOT / "examples" / "grpc" / "go" / "loglayerexample" / "go.mod").read_text()
    assert f"github.com/hashicorp/go-plugin {GO_PLUGIN_VERSION}\n" in go_mod


@pytest.fixture(scope="session")
def go_bin() -> pathlib.Path:
    """The built Go binaries (built now unless they are up to date)."""
    if shutil.which("protoc") is None:
        pytest.fail("protoc is not installed (`make deps` installs protobuf-compiler)")
    done = subprocess.run(["bash", str(BUILD), str(OUT)], capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, f"the Go build failed:\n{done.stdout}\n{done.stderr}"
    return OUT / "bin"


def wait_for(predicate, limit: float = 30.0) -> None:
    end = time.monotonic() + limit
    while not predicate():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.02)


def test_go_plugin_refuses_to_run_without_the_cookie_with_our_message(go_bin):
    done = subprocess.run([str(go_bin / "redact-plugin")], capture_output=True, text=True,
                          timeout=60, env={k: v for k, v in os.environ.items()
                                           if not k.startswith("LOGLAYER_PLUGIN")})
    assert done.returncode == 1
    assert done.stderr.endswith(NOT_A_PLUGIN_MESSAGE)  # serve() prints go-plugin's words


def test_go_plugin_hooks_take_effect_under_the_python_host(go_bin):
    out, errors = TestTransport("out"), []
    with GrpcPlugin(go_bin / "redact-plugin", timeout=TIMEOUT, output=out,
                    on_error=errors.append) as plugin:
        assert plugin.id == "redact-go"
        assert plugin.hooks == ("on_metadata_called", "on_before_data_out",
                                "on_before_message_out")
        tt = TestTransport("t")
        log = LogLayer(transports=tt, plugins=[plugin])
        log.with_fields(password="hunter2", user="ada").with_metadata(
            {"token": "abc", "nested": {"secret": 1}}).info("login password=hunter2", 7)
        entry = tt.last_line()
        assert entry.messages == ["login password=[REDACTED]", 7]
        assert entry.data == {"password": "[REDACTED]", "user": "ada"}
        assert entry.metadata == {"token": "[REDACTED]", "nested": {"secret": "[REDACTED]"}}
        log.info("nothing secret")
        assert tt.last_line().messages == ["nothing secret"] and tt.last_line().data == {}
        # go-plugin's hclog JSON on stderr becomes a log entry with its level and pairs
        wait_for(lambda: any(e.messages == ["redaction plugin starting"] for e in out.lines))
        started = next(e for e in out.lines if e.messages == ["redaction plugin starting"])
        assert started.level == LogLevel.INFO and started.metadata["module"] == "redact-go"
    assert errors == []


def test_go_plugin_panic_is_survived_and_restarted(go_bin):
    out, errors = TestTransport("out"), []
    with GrpcPlugin(go_bin / "panic-plugin", timeout=TIMEOUT, output=out,
                    on_error=errors.append) as plugin:
        tt = TestTransport("t")
        log = LogLayer(transports=tt, plugins=[plugin])
        first = plugin.pid
        log.info("panic!")  # the Go process dies of an unrecovered panic in the handler
        assert tt.last_line().messages == ["panic!"]  # delivered, with the fallback
        assert any(e.hook == "on_before_message_out" for e in errors)
        wait_for(lambda: plugin.pid not in (None, first))
        log.info("after password=x")
        assert tt.last_line().messages == ["after password=[REDACTED]"]
        assert any("exited with status 2; restarting" in str(e) for e in errors)
        assert any(e.messages[0].startswith("panic: redact: asked to panic") for e in out.lines)


def test_go_plugin_batch(go_bin):
    with GrpcPlugin(go_bin / "redact-plugin", timeout=TIMEOUT, batch=True,
                    output=TestTransport("out")) as plugin:
        tt = TestTransport("collect")
        LogLayer(transports=tt).with_fields(token="t").info("secret=s")
        [outcome] = plugin.dispatch_batch(tt.lines * 1, ["a", "b"])
        assert outcome.messages == ["secret=[REDACTED]"]
        assert outcome.data == {"token": "[REDACTED]"} and outcome.send == (True, True)


def test_go_host_launches_a_python_plugin(go_bin):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "tests" / "grpc_plugins"), *filter(None, [env.get("PYTHONPATH")])])
    done = subprocess.run([str(go_bin / "loglayer-host"), sys.executable, "-m",
                           "loglayer.isolation.serve", "sample:Redact"],
                          capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    answers = json.loads(done.stdout)
    assert answers["id"] == "redact" and answers["batch"] is True
    assert answers["on_fields_called"] == {"password": "[REDACTED]", "user": "ada"}
    assert answers["on_metadata_called"] == {"token": "[REDACTED]", "user": "ada"}
    assert answers["on_before_data_out"] == {"password": "[REDACTED]",
                                             "redacted_by": "redact", "seen_level": 20}
    assert answers["on_before_message_out"] == ["login password=[REDACTED] escalate"]
    assert answers["transform_log_level"] == 40
    assert answers["should_send"] is True
    assert answers["dispatch_batch"] == [
        {"messages": ["a token=[REDACTED]"], "send": [True]},
        {"data": {"redacted_by": "redact", "seen_level": 30}, "messages": [], "send": [True]},
        {"messages": ["plain"], "send": [True]}]
    # go-plugin's Kill asked for Shutdown, and the Python plugin exited in time
    assert "failed to exit gracefully" not in done.stderr
    assert "error closing client" not in done.stderr


def test_go_host_sends_groups_a_python_plugin_sees(go_bin):
    """The Go stubs generated from loglayer_plugin.proto carry an entry's groups: in
    Params for each hook, and in a batch's groups document, one array per entry."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "tests" / "grpc_plugins"), *filter(None, [env.get("PYTHONPATH")])])
    done = subprocess.run([str(go_bin / "loglayer-host"), sys.executable, "-m",
                           "loglayer.isolation.serve", "sample:Echo"],
                          capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    answers = json.loads(done.stdout)
    assert answers["on_before_data_out"]["seen"]["groups"] == ["db"]
    assert [outcome["data"]["seen"]["groups"] for outcome in answers["dispatch_batch"]] == [
        ["db"], [], ["db", "auth"]]


def test_go_plugin_stdout_and_stderr_reach_the_hosts_output(go_bin):
    """Lines a Go plugin prints travel over go-plugin's GRPCStdio stream (Serve redirects
    os.Stdout and os.Stderr into it) and become entries of the host's ``output``."""
    out = TestTransport("out")
    with GrpcPlugin(go_bin / "redact-plugin", timeout=TIMEOUT, output=out) as plugin:
        log = LogLayer(transports=TestTransport("t"), plugins=[plugin])
        log.info("print!")

        def printed() -> dict:
            return {e.messages[0]: e for e in out.lines
                    if e.messages and str(e.messages[0]).startswith("redact: plain")}
        wait_for(lambda: len(printed()) == 2)
        lines = printed()
        stdout, stderr = lines["redact: plain stdout line"], lines["redact: plain stderr line"]
        assert (stdout.level, stdout.data["stream"]) == (LogLevel.INFO, "stdout")
        assert (stderr.level, stderr.data["stream"]) == (LogLevel.WARN, "stderr")
        assert stdout.data["plugin"] == "redact-go" and stdout.data["pid"] == plugin.pid


def test_the_python_host_stops_a_go_plugin_through_its_controller(go_bin):
    """close() asks go-plugin's GRPCController for Shutdown: the Go plugin exits by
    itself with status 0, not killed (a kill would show as -9)."""
    with GrpcPlugin(go_bin / "redact-plugin", timeout=TIMEOUT, output=TestTransport("out"),
                    shutdown_timeout=30.0) as plugin:
        LogLayer(transports=TestTransport("t"), plugins=[plugin]).info("x")
        child = plugin._child
    assert child.proc.returncode == 0


def test_a_python_plugins_prints_reach_the_go_host_over_grpc_stdio(go_bin):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "tests" / "grpc_plugins"), *filter(None, [env.get("PYTHONPATH")])])
    done = subprocess.run([str(go_bin / "loglayer-host"), "-message", "print",
                           sys.executable, "-m", "loglayer.isolation.serve", "sample:Faulty"],
                          capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    answers = json.loads(done.stdout)
    assert answers["on_before_data_out"] == {"faulty": "ok"}
    # on_before_data_out saw "print" (the batch's entries have messages of their own)
    assert answers["plugin_stdout"] == "hello from the plugin\n"
    assert answers["plugin_stderr"] == "to stderr\n"
    assert "failed to exit gracefully" not in done.stderr
