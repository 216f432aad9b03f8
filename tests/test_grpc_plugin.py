"""Out-of-process plugins over gRPC, with Python on both sides (``GrpcPlugin`` + ``serve``).

The plugin processes are real: ``grpc_plugins/run.py`` serves the plugins of
``grpc_plugins/sample.py``, which the tests also run in process to compare. Timing is
only ever asserted as a termination bound of at least ten times the deadline.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import pytest

pytest.importorskip("grpc", reason="the grpc extra is not installed")
pytest.importorskip("grpc_health", reason="the grpc extra is not installed")

import loglayer  # noqa: E402
from loglayer import LogLayer, LogLevel, PluginError  # noqa: E402
from loglayer.isolation import GrpcPlugin  # noqa: E402
from loglayer.isolation._grpc_host import BatchOutcome, RemoteCallError  # noqa: E402
from loglayer.isolation._grpc_wire import NOT_A_PLUGIN_MESSAGE  # noqa: E402
from loglayer.testing import TestTransport  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
RUN = HERE / "grpc_plugins" / "run.py"
sys.path.insert(0, str(HERE / "grpc_plugins"))
import sample  # noqa: E402

TIMEOUT = 1.0  # the deadline of the tests that do not measure it
HANG_TIMEOUT = 0.5  # the deadline of the hang tests


def cmd(mode: str, *args: str) -> list[str]:
    return [sys.executable, str(RUN), mode, *args]


def wait_for(predicate, limit: float = 30.0, what: str = "the condition") -> None:
    """Poll ``predicate`` until it is true; fail after ``limit`` seconds."""
    end = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > end:
            pytest.fail(f"{what} did not happen within {limit} s")
        time.sleep(0.02)


def children() -> dict[int, tuple[str, str]]:
    """This process's child processes: pid -> (state, command line)."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = pathlib.Path(f"/proc/{entry}/stat").read_text()
            cmdline = pathlib.Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == os.getpid():
            found[int(entry)] = (fields[0], cmdline.decode(errors="replace"))
    return found


def _state(pid: int) -> str | None:
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def gone(pid: int) -> bool:
    """True when ``pid`` no longer exists: dead and reaped (a zombie is not gone)."""
    return _state(pid) in (None, "X")


def dead(pid: int) -> bool:
    """True when ``pid`` is not running. An orphan's zombie counts: reaping it is the
    job of whatever process adopted it, which in a container may never do it."""
    return _state(pid) in (None, "X", "Z")


pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="the tests read /proc")


@pytest.fixture
def start():
    """``start(mode, **options)`` -> (plugin, errors); every plugin is closed afterwards."""
    made = []

    def make(mode: str, *args: str, **options) -> tuple[GrpcPlugin, list[PluginError]]:
        errors: list[PluginError] = []
        options.setdefault("timeout", TIMEOUT)
        options.setdefault("on_error", errors.append)
        options.setdefault("output", TestTransport("plugin-output"))
        plugin = GrpcPlugin(cmd(mode, *args), **options)
        made.append(plugin)
        return plugin, errors

    yield make
    for plugin in made:
        plugin.close()


@pytest.fixture(scope="module")
def redact_and_tag():
    """One Redact and one Tag plugin process, shared by the tests that do not break them."""
    plugins = (GrpcPlugin(cmd("redact"), timeout=TIMEOUT), GrpcPlugin(cmd("tag"), timeout=TIMEOUT))
    yield plugins
    for plugin in plugins:
        plugin.close()


def _exercise(log: LogLayer) -> None:
    """The same calls, against a logger whose plugins are in process or not."""
    log.with_fields(password="hunter2", user="ada").with_metadata({"token": "t", "n": 1}).info(
        "login password=hunter2 ok")
    log.with_fields(drop_me=True).info("fields dropped")
    log.with_metadata(["not", "a", "dict"]).warn("metadata as is")
    log.info("escalate this")
    log.info("secret-only")
    log.with_prefix("[svc]").with_error(ValueError("bad")).error("with error and prefix")
    log.debug("no", "data", 3, None)
    log.metadata_only({"password": "p"})
    log.raw("warn", ["raw token=abc"], metadata={"token": "x"}, fields={"k": "v"})


def _shape(entry) -> tuple:
    return (entry.level, entry.messages, entry.data, entry.metadata, entry.fields,
            entry.prefix)


@pytest.mark.slow
def test_effects_and_order_match_in_process(redact_and_tag):
    remote_redact, remote_tag = redact_and_tag
    results = []
    for plugins in ([sample.Redact(), sample.Tag()], [remote_redact, remote_tag],
                    [remote_redact, sample.Tag()], [sample.Redact(), remote_tag]):
        main, muted = TestTransport("main"), TestTransport("muted")
        _exercise(LogLayer(transports=[main, muted], plugins=plugins))
        results.append(([_shape(e) for e in main.lines], [_shape(e) for e in muted.lines]))
    in_process = results[0]
    assert len(in_process[0]) == 8 and in_process[1] == []  # "secret-only" gated; all muted
    first = in_process[0][0]
    assert first[1] == ["login password=[REDACTED] ok", "[tagged]"]
    assert first[2]["password"] == "[REDACTED]" and first[2]["tag_saw_redacted"] == "redact"
    assert first[3] == {"token": "[REDACTED]", "n": 1}
    assert in_process[0][3][0] == LogLevel.ERROR  # escalated by the level hook
    for other in results[1:]:
        assert other == in_process


@pytest.mark.slow
def test_only_described_hooks_are_exposed(redact_and_tag):
    _, tag = redact_and_tag
    assert tag.id == "tag"
    assert tag.hooks == ("on_before_data_out", "on_before_message_out")
    for name in loglayer.plugin.HOOK_NAMES:
        assert hasattr(tag, name) == (name in tag.hooks)
    assert not hasattr(tag, "dispatch_batch")  # batch=False
    log = LogLayer(transports=TestTransport("t"), plugins=[tag])
    assert log.get_plugin("tag") is tag


@pytest.mark.slow
def test_id_argument_overrides_the_described_id(start):
    plugin, _ = start("tag", id="my-tag")
    assert plugin.id == "my-tag"


@dataclasses.dataclass
class Login:
    user: str
    token: str


class Opaque:
    __slots__ = ()

    def __str__(self) -> str:
        return "<opaque>"


@pytest.mark.slow
def test_values_cross_the_wire_with_the_defined_encoding(start):
    echo, errors = start("echo")
    tt = TestTransport("t")
    log = LogLayer(transports=tt, plugins=[echo], fields={"n": 1, "big": 2**70})
    log.with_prefix("[p]").with_metadata(Login("ada", "t")).with_context(object()).with_error(
        KeyError("k")).warn("hello", 3, Opaque(), {"nested": [1, (2, 3)]})
    seen = tt.last_line().data["seen"]
    assert seen["level"] == 30 and seen["level_type"] == "LogLevel"
    assert seen["messages"] == ["hello", 3, "<opaque>", {"nested": [1, [2, 3]]}]
    assert seen["metadata"] == {"user": "ada", "token": "t"}  # a record, through to_map
    assert seen["error"]["type"] == "KeyError" and seen["error"]["message"] == "'k'"
    assert seen["fields"] == {"n": 1, "big": str(2**70)}  # beyond 64 bits: as text
    assert seen["prefix"] == "[p]"
    assert seen["ctx"] is None  # a request context does not cross
    assert seen["data_keys"] == ["big", "err", "n"]
    log.info("no prefix")
    assert tt.last_line().data["seen"]["prefix"] is None
    assert errors == []


@pytest.mark.slow
def test_hook_exception_reports_plugin_error_and_applies_fallback(start):
    faulty, errors = start("faulty")
    tt = TestTransport("t")
    log = LogLayer(transports=tt, plugins=[faulty])
    log.info("raise")
    assert tt.last_line().messages == ["raise"]
    assert "faulty" not in tt.last_line().data  # the data hook's fallback: no merge
    [err] = errors
    assert (err.plugin_id, err.hook) == ("faulty", "on_before_data_out")
    assert isinstance(err.__cause__, RemoteCallError) and err.__cause__.reason == "raised"
    assert "ValueError: no such entry" in str(err)
    log.info("fine")
    assert tt.last_line().data == {"faulty": "ok"}


@pytest.mark.slow
def test_without_on_error_a_failure_is_one_stderr_line(start, capsys):
    faulty, _ = start("faulty", on_error=None)
    LogLayer(transports=TestTransport("t"), plugins=[faulty]).info("raise")
    lines = [line for line in capsys.readouterr().err.splitlines() if "faulty" in line]
    assert len(lines) == 1
    assert "on_before_data_out" in lines[0] and "no such entry" in lines[0]


@pytest.mark.slow
def test_crash_mid_call_delivers_with_fallbacks_and_restarts(start):
    faulty, errors = start("faulty")
    tt = TestTransport("t")
    log = LogLayer(transports=tt, plugins=[faulty])
    first = faulty.pid
    socket_path = faulty._child.socket_path
    log.info("crash")  # the plugin calls os._exit(3) inside the data hook
    assert tt.last_line().messages == ["crash"] and "faulty" not in tt.last_line().data
    # the hook's failure; the supervisor's report of the exit may come before or after it
    [failed] = [e for e in errors if e.hook == "on_before_data_out"]
    assert failed.__cause__.reason in ("unavailable", "down")
    wait_for(lambda: faulty.pid not in (None, first), what="the restart")
    assert faulty.restarts == 1 and not faulty.disabled
    log.info("after")
    assert tt.last_line().data == {"faulty": "ok"}  # the restarted plugin took over
    wait_for(lambda: gone(first), what="the dead child's reaping")
    # the socket and private directory the dead child could not remove are gone too
    assert not os.path.exists(os.path.dirname(socket_path))
    assert any("exited with status 3; restarting" in str(e) for e in errors)
    assert not [c for c in children().values() if c[0] == "Z"]  # no zombies


@pytest.mark.slow
def test_sigkill_from_outside_restarts(start):
    faulty, errors = start("faulty")
    first = faulty.pid
    os.kill(first, signal.SIGKILL)
    wait_for(lambda: faulty.pid not in (None, first), what="the restart")
    assert any("killed by SIGKILL" in str(e) for e in errors)
    tt = TestTransport("t")
    LogLayer(transports=tt, plugins=[faulty]).info("x")
    assert tt.last_line().data == {"faulty": "ok"}


@pytest.mark.slow
def test_hang_applies_deadline_fallback_within_bound(start):
    faulty, errors = start("faulty", timeout=HANG_TIMEOUT, shutdown_timeout=HANG_TIMEOUT)
    tt = TestTransport("t")
    log = LogLayer(transports=tt, plugins=[faulty])
    began = time.monotonic()
    log.info("hang")  # the data hook (and the gate) would sleep 30 s
    elapsed = time.monotonic() - began
    assert elapsed < 10 * HANG_TIMEOUT
    assert tt.last_line().messages == ["hang"]  # delivered: no merge, the gate failed open
    hooks = [(e.hook, e.__cause__.reason) for e in errors if e.hook != "process"]
    assert hooks[0] == ("on_before_data_out", "deadline")
    assert "should_send" in [hook for hook, _ in hooks]
    began = time.monotonic()
    child = log.with_fields(hang=True)  # the fields hook sleeps: the call is dropped
    assert time.monotonic() - began < 10 * HANG_TIMEOUT
    assert child.get_fields() == {}
    log.info("fine")  # a hang in one call does not block the next ones
    assert tt.last_line().data == {"faulty": "ok"}


@pytest.mark.slow
@pytest.mark.parametrize("mode, words", [
    ("garbage", "unrecognized handshake line 'hello, I am not a plugin'"),
    ("badcore", "core protocol '9'"),
    ("netrpc", "speaks 'netrpc'; only 'grpc'"),
    ("wrongcookie", "before the handshake"),
    ("silent", "no handshake line on stdout within 1 s"),
])
def test_bad_starts_raise_a_clear_plugin_error(mode, words):
    before = set(children())
    began = time.monotonic()
    with pytest.raises(PluginError) as info:
        GrpcPlugin(cmd(mode), start_timeout=1.0)
    assert time.monotonic() - began < 10 * 1.0
    assert words in str(info.value)
    assert info.value.hook == "start"
    if mode == "wrongcookie":  # go-plugin's message, quoted from the child's stderr
        assert NOT_A_PLUGIN_MESSAGE.splitlines()[0] in str(info.value)
    assert set(children()) <= before  # the child was stopped and reaped


@pytest.mark.slow
def test_missing_program_and_early_exit_raise_plugin_error():
    with pytest.raises(PluginError, match="not found or not executable"):
        GrpcPlugin(["/nonexistent/plugin-binary"])
    with pytest.raises(PluginError, match=r"exited with status 4 before the handshake.*boom"):
        GrpcPlugin([sys.executable, "-c", "import sys; sys.stderr.write('boom\\n'); sys.exit(4)"])


def test_constructor_validates_before_starting():
    before = set(children())
    with pytest.raises(ValueError, match="timeout"):
        GrpcPlugin(cmd("tag"), timeout=0)
    with pytest.raises(ValueError, match="restart"):
        GrpcPlugin(cmd("tag"), restart="sometimes")
    with pytest.raises(ValueError, match="max_restarts"):
        GrpcPlugin(cmd("tag"), max_restarts=-1)
    with pytest.raises(ValueError, match="cmd"):
        GrpcPlugin([])
    with pytest.raises(TypeError, match=r"cmd\[0\]"):
        GrpcPlugin([1])
    with pytest.raises(TypeError, match="on_error"):
        GrpcPlugin(cmd("tag"), on_error="no")
    assert set(children()) <= before


@pytest.mark.slow
def test_stderr_lines_and_hclog_json_reach_the_output_transports_only(start):
    out = TestTransport("out")
    plugin, _ = start("hclog", output=out)
    tt = TestTransport("t")
    LogLayer(transports=tt, plugins=[plugin, sample.Tag()]).info("x")
    wait_for(lambda: len(out) >= 2, what="the stderr lines")
    hclog, plain = out.lines[:2]
    assert hclog.level == LogLevel.ERROR and hclog.messages == ["disk is full"]
    assert hclog.metadata == {"module": "store", "timestamp": "2024-01-01T00:00:00Z", "free": 0}
    assert hclog.fields["stream"] == "stderr" and hclog.fields["pid"] == plugin.pid
    assert plain.level == LogLevel.WARN and plain.messages == ["a plain stderr line"]
    assert all("[tagged]" not in e.messages for e in out.lines)  # no plugin ran on them
    assert len(tt) == 1


@pytest.mark.slow
def test_grpc_stdio_stream_surfaces_prints(start):
    out = TestTransport("out")
    plugin, _ = start("faulty", output=out)
    LogLayer(transports=TestTransport("t"), plugins=[plugin]).info("print")
    wait_for(lambda: len(out) >= 2, what="the printed lines")
    lines = {(e.fields["stream"], e.messages[0], e.level) for e in out.lines}
    assert ("stdout", "hello from the plugin", LogLevel.INFO) in lines
    assert ("stderr", "to stderr", LogLevel.WARN) in lines


def test_a_print_reaches_the_stdio_stream_as_one_chunk_per_line():
    """print() writes the text and its newline in two calls: the plugin side sends whole
    lines, so a host that stops reading between them never shows a line without its end;
    a partial line goes on flush(), and nothing goes to the original stream meanwhile."""
    import io

    from loglayer.isolation._grpc_serve import _StdioWriter

    class Hub:
        def __init__(self):
            self.chunks = []

        def put(self, channel, data):
            self.chunks.append(data)
            return True

    hub, original = Hub(), io.StringIO()
    writer = _StdioWriter(hub, 2, original)
    print("to stderr", file=writer)
    print("a", "b", sep="\n", end="", file=writer)
    assert hub.chunks == [b"to stderr\n", b"a\n"]
    writer.flush()
    assert hub.chunks == [b"to stderr\n", b"a\n", b"b"]
    assert original.getvalue() == ""


@pytest.mark.slow
def test_restarted_child_must_describe_the_same_hooks(start, tmp_path):
    plugin, errors = start("hookschange", str(tmp_path / "starts"))
    first = plugin.pid
    os.kill(first, signal.SIGKILL)
    wait_for(lambda: plugin.disabled, what="the plugin being disabled")
    disabled = [e for e in errors if "disabled" in str(e)]
    assert len(disabled) == 1 and "describes hooks" in str(disabled[0])
    tt = TestTransport("t")
    before = len(errors)
    log = LogLayer(transports=tt, plugins=[plugin])
    log.with_fields(password="p").info("password=x")  # a no-op now: values pass through
    assert tt.last_line().data == {"password": "p"}
    assert tt.last_line().messages == ["password=x"]
    assert len(errors) == before
    wait_for(lambda: not [c for c in children().values() if "hookschange" in c[1]],
             what="the mismatched child's exit")


@pytest.mark.slow
def test_too_many_restarts_disable_with_one_error(start):
    plugin, errors = start("faulty", max_restarts=2)
    for _ in range(2):
        pid = plugin.pid
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda pid=pid: plugin.pid not in (None, pid), what="the restart")
    os.kill(plugin.pid, signal.SIGKILL)
    wait_for(lambda: plugin.disabled, what="the plugin being disabled")
    disabled = [e for e in errors if "disabled" in str(e)]
    assert len(disabled) == 1 and "max_restarts=2" in str(disabled[0])
    before = len(errors)
    tt = TestTransport("t")
    LogLayer(transports=tt, plugins=[plugin]).info("x")
    assert len(tt) == 1 and len(errors) == before


@pytest.mark.slow
def test_restart_never_disables_at_the_first_exit(start):
    plugin, errors = start("faulty", restart="never")
    os.kill(plugin.pid, signal.SIGKILL)
    wait_for(lambda: plugin.disabled, what="the plugin being disabled")
    assert plugin.restarts == 0
    assert "restart='never'" in str(errors[-1])


@pytest.mark.slow
def test_close_shuts_down_cleanly_and_is_idempotent(start):
    plugin, errors = start("redact")
    child = plugin._child
    plugin.close()
    assert child.proc.returncode == 0  # it stopped on Shutdown, it was not killed
    assert plugin.disabled and plugin.pid is None
    plugin.close()
    tt = TestTransport("t")
    LogLayer(transports=tt, plugins=[plugin]).with_fields(a=1).info("x")
    assert tt.last_line().data == {"a": 1} and errors == []


@pytest.mark.slow
def test_serve_stops_cleanly_on_sigterm(start):
    plugin, errors = start("faulty")
    first = plugin.pid
    os.kill(first, signal.SIGTERM)
    wait_for(lambda: plugin.pid not in (None, first), what="the restart")
    assert any(f"pid {first} exited with status 0" in str(e) for e in errors)


@pytest.mark.slow
def test_an_open_batch_stream_does_not_hold_up_a_clean_stop(start):
    """The batch stream never ends by itself: the host closes it before asking the plugin
    to stop, and a stopping plugin ends the streams still open, rather than waiting out
    its grace period (which, longer than this shutdown_timeout, would end in a kill)."""
    from loglayer.isolation._grpc_serve import _STOP_GRACE
    from loglayer.isolation.proto import grpc_controller_pb2, grpc_controller_pb2_grpc

    # Any bound under the plugin's grace proves the stream did not hold the stop up;
    # the widest one leaves a loaded machine the most time for a clean exit.
    plugin, errors = start("redact", batch=True, shutdown_timeout=_STOP_GRACE - 0.25)
    plugin.dispatch_batch(_entries("a"))  # opens the stream
    child = plugin._child
    plugin.close()
    assert child.proc.returncode == 0  # it stopped on Shutdown, it was not killed
    plugin, errors = start("redact", batch=True, restart="never")
    plugin.dispatch_batch(_entries("a"))
    child = plugin._child
    # Shutdown from a host that leaves its stream open: the plugin ends the stream itself
    grpc_controller_pb2_grpc.GRPCControllerStub(child.channel).Shutdown(
        grpc_controller_pb2.Empty(), timeout=TIMEOUT)
    assert child.exited.wait(_STOP_GRACE - 0.25)
    assert child.proc.returncode == 0


def test_a_batch_stream_without_a_thread_makes_a_unary_call(monkeypatch):
    """From 3.12 no thread starts at interpreter exit, where a queue drains its last
    entries through the plugin: the stream (gRPC's request thread, our reader) cannot
    open there, so the batch goes as a unary call, which needs none, and the half-opened
    call is cancelled. The real exit is test_grpc_fail_closed's exit-drain test."""
    import threading

    from loglayer.isolation._grpc_host import _BatchStream

    def no_thread(self):
        raise RuntimeError("can't create new thread at interpreter shutdown")

    cancelled = []

    class Call:
        def cancel(self):
            cancelled.append(True)

    stream = _BatchStream(lambda requests: Call(),
                          lambda request, timeout: ("unary", request, timeout), pid=1)
    monkeypatch.setattr(threading.Thread, "start", no_thread)
    assert stream("batch", timeout=2.0) == ("unary", "batch", 2.0)
    assert cancelled == [True]
    assert stream._call is None  # the next batch tries the stream again
    monkeypatch.undo()


@pytest.mark.slow
def test_serve_command_line_without_a_host():
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOGLAYER_PLUGIN")}
    env["PYTHONPATH"] = os.pathsep.join([str(HERE / "grpc_plugins"),
                                         *filter(None, [env.get("PYTHONPATH")])])
    alone = subprocess.run([sys.executable, "-m", "loglayer.isolation.serve", "sample:Redact"],
                           capture_output=True, text=True, env=env, timeout=60)
    assert (alone.returncode, alone.stderr) == (1, NOT_A_PLUGIN_MESSAGE)
    usage = subprocess.run([sys.executable, "-m", "loglayer.isolation.serve"],
                           capture_output=True, text=True, env=env, timeout=60)
    assert usage.returncode == 2 and "module:factory" in usage.stderr


@pytest.mark.slow
def test_context_manager_closes(start):
    with GrpcPlugin(cmd("tag"), timeout=TIMEOUT) as plugin:
        pid = plugin.pid
    wait_for(lambda: gone(pid), what="the child's exit")


_HOST_SCRIPT = textwrap.dedent("""
    import os, sys, time
    from loglayer.isolation import GrpcPlugin
    plugin = GrpcPlugin(sys.argv[1:])
    print(plugin.pid, plugin._child.socket_path, flush=True)
    if os.environ["HOW"] == "exit":
        sys.exit(0)  # without close(): the exit handler stops the child
    time.sleep(60)
""")


@pytest.mark.slow
@pytest.mark.parametrize("how", ["killed", "exit"])
def test_child_does_not_outlive_its_host(how):
    host = subprocess.Popen([sys.executable, "-c", _HOST_SCRIPT, *cmd("tag")],
                            stdout=subprocess.PIPE, env={**os.environ, "HOW": how})
    try:
        pid, socket_path = host.stdout.readline().split()
        if how == "killed":
            host.kill()
        host.wait(30)
        wait_for(lambda: dead(int(pid)), what="the orphaned child's death")
        if how == "killed":  # nobody was left to remove the socket: tidy up
            shutil.rmtree(os.path.dirname(socket_path), ignore_errors=True)
    finally:
        host.kill()
        host.wait()
        host.stdout.close()


@pytest.mark.slow
def test_thousand_calls_with_a_kill_every_hundred_lose_nothing(start):
    plugin, errors = start("faulty", max_restarts=20)
    tt = TestTransport("t")
    log = LogLayer(transports=tt, plugins=[plugin])
    for i in range(1000):
        if i and i % 100 == 0:
            pid = plugin.pid
            os.kill(pid, signal.SIGKILL)
            if i < 900:
                wait_for(lambda pid=pid: plugin.pid not in (None, pid), what="the restart")
        log.info("n", i)
    assert [e.messages[1] for e in tt.lines] == list(range(1000))
    assert plugin.restarts >= 8 and not plugin.disabled
    assert sum(1 for e in tt.lines if e.data.get("faulty") == "ok") >= 800


def _entries(*messages: str) -> list:
    tt = TestTransport("collect")
    log = LogLayer(transports=tt)
    for message in messages:
        log.with_fields(password="p", user="u").info(message)
    return tt.lines


@pytest.mark.slow
def test_dispatch_batch_runs_every_dispatch_hook_per_entry(start):
    plugin, errors = start("redact", batch=True)
    entries = _entries("token=abc", "escalate", "secret-only")
    outcomes = plugin.dispatch_batch(entries, ["main", "muted"])
    assert all(isinstance(o, BatchOutcome) for o in outcomes)
    assert outcomes[0].messages == ["token=[REDACTED]"]
    assert outcomes[0].data == {"password": "[REDACTED]", "user": "u", "redacted_by": "redact",
                                "seen_level": 20}
    assert entries[0].data == {"password": "p", "user": "u"}  # the entry is not mutated
    assert outcomes[1].level == LogLevel.ERROR and outcomes[0].level == LogLevel.INFO
    assert [o.send for o in outcomes] == [(True, False), (True, False), (False, False)]
    assert plugin.dispatch_batch([], ["main"]) == []
    assert errors == []


@pytest.mark.slow
def test_dispatch_batch_reports_per_entry_failures_and_survives_a_crash(start):
    plugin, errors = start("faulty", batch=True)
    outcomes = plugin.dispatch_batch(_entries("a", "raise", "b"), ["t"])
    assert [o.data.get("faulty") for o in outcomes] == ["ok", None, "ok"]
    assert [(e.hook, "no such entry" in str(e)) for e in errors] == [
        ("on_before_data_out", True)]
    errors.clear()
    outcomes = plugin.dispatch_batch(_entries("a", "crash"), ["t"])
    assert [o.send for o in outcomes] == [(True,), (True,)]  # the fallback: fail open
    assert [o.data for o in outcomes] == [{"password": "p", "user": "u"}] * 2
    assert [e.hook for e in errors if e.hook != "process"] == ["dispatch_batch"]


@pytest.mark.slow
def test_grpc_plugin_as_a_queue_transport_plugin(redact_and_tag):
    from loglayer.transports._queue import QueueTransport

    redact, _ = redact_and_tag
    inner = TestTransport("inner")
    queue = QueueTransport(inner, plugins=[redact], flush_interval=0.05)
    log = LogLayer(transports=queue)
    log.with_fields(token="t").info("password=x")
    log.info("secret-only")
    assert queue.flush(timeout=30)
    [entry] = inner.lines
    assert entry.messages == ["password=[REDACTED]"]
    assert entry.data["token"] == "[REDACTED]"
    queue.close()


@pytest.mark.slow
def test_batch_plugin_in_a_queue_takes_one_call_per_batch(start):
    """GrpcPlugin(batch=True) inside QueueTransport: its hooks run once per batch on the
    worker thread, in its place among the queue's plugins, with its gate per transport."""
    from loglayer.transports import QueueTransport

    plugin, errors = start("redact", batch=True)
    batch_calls, unary_calls = [], []
    dispatch_batch, call = plugin.dispatch_batch, plugin._call

    def counting_batch(entries, transport_ids=()):
        batch_calls.append(len(entries))
        return dispatch_batch(entries, transport_ids)

    def counting_call(hook, *args, **kwargs):
        unary_calls.append(hook)
        return call(hook, *args, **kwargs)

    plugin.dispatch_batch = counting_batch
    plugin._call = counting_call
    main, muted = TestTransport("main"), TestTransport("muted")
    after = loglayer.data_hook("after", lambda p: {"after_saw": p.data.get("redacted_by")})
    queue = QueueTransport([main, muted], plugins=[plugin, after], batch_size=100,
                           flush_interval=0.05)
    log = LogLayer(transports=queue)
    for i in range(250):
        log.with_fields(token="t", i=i).info(f"password=x{i}")
    log.info("escalate now")
    log.info("secret-only")
    assert queue.flush(timeout=60)
    queue.close()
    assert len(main) == 251 and len(muted) == 0  # the plugin's gate refuses "muted"
    first = main.lines[0]
    assert first.messages == ["password=[REDACTED]"] and first.data["token"] == "[REDACTED]"
    assert first.data["after_saw"] == "redact"  # the later plugin saw the batch results
    assert main.lines[-1].level == LogLevel.ERROR and main.lines[-1].messages == ["escalate now"]
    assert [e.data["i"] for e in main.lines[:250]] == list(range(250))
    assert sum(batch_calls) == 252  # every entry went through the plugin exactly once
    assert len(batch_calls) < 252 // 2 and max(batch_calls) > 1  # in batches, not one by one
    assert set(unary_calls) == {"dispatch_batch"}  # no per-entry RPC
    assert [e for e in errors if e.hook != "process"] == []


@pytest.mark.slow
def test_dispatch_batch_encodes_entries_like_unary_calls(start):
    plugin, errors = start("echo", batch=True)
    tt = TestTransport("collect")
    LogLayer(transports=tt, fields={"a": 1}).with_metadata({"m": 2}).info("plain")
    LogLayer(transports=tt, fields={"a": 1}, fields_key="ctx").with_prefix("[p]").with_error(
        KeyError("k")).warn("nested")
    plain, nested = (outcome.data["seen"] for outcome in plugin.dispatch_batch(tt.lines))
    assert plain["fields"] == {"a": 1} and plain["metadata"] == {"m": 2}
    assert plain["error"] is None and plain["prefix"] is None and plain["level"] == 20
    assert nested["fields"] == {"a": 1} and nested["data_keys"] == ["ctx", "err"]
    assert nested["error"]["type"] == "KeyError" and nested["prefix"] == "[p]"
    assert errors == []


@pytest.mark.slow
def test_batches_share_one_stream_which_a_missed_deadline_replaces(start):
    """Batches go over one DispatchBatches stream; a batch that misses its deadline gets
    the fallback within the bound, and the next batch gets a new stream, never the late
    answer."""
    plugin, errors = start("faulty", batch=True, timeout=HANG_TIMEOUT,
                           shutdown_timeout=HANG_TIMEOUT)
    stream = plugin._conn.batch_stream
    assert stream is not None  # a Python plugin describes batch_stream
    assert [o.data["faulty"] for o in plugin.dispatch_batch(_entries("a"), ["t"])] == ["ok"]
    opened = stream._call
    assert [o.data["faulty"] for o in plugin.dispatch_batch(_entries("b"), ["t"])] == ["ok"]
    assert stream._call is opened  # the same stream for the next batch
    began = time.monotonic()
    [outcome] = plugin.dispatch_batch(_entries("hang"), ["t"])  # the data hook sleeps 30 s
    assert time.monotonic() - began < 10 * HANG_TIMEOUT
    assert outcome.data == {"password": "p", "user": "u"} and outcome.send == (True,)
    assert [(e.hook, e.__cause__.reason) for e in errors if e.hook != "process"] == [
        ("dispatch_batch", "deadline")]
    assert stream._call is None  # shut: the late answer has nowhere to go
    outcomes = plugin.dispatch_batch(_entries("c", "d"), ["t"])
    assert [o.data["faulty"] for o in outcomes] == ["ok", "ok"]
    assert stream._call is not None and stream._call is not opened


@pytest.mark.slow
def test_a_batch_the_stream_refuses_is_an_error_and_the_stream_goes_on(start):
    from loglayer.isolation._grpc_wire import pb

    plugin, errors = start("redact", batch=True)
    assert plugin.dispatch_batch(_entries("token=x"))[0].messages == ["token=[REDACTED]"]
    opened = plugin._conn.batch_stream._call
    with pytest.raises(RemoteCallError, match="DispatchBatch: JSONDecodeError") as info:
        plugin._call("dispatch_batch", pb.Batch(entries=b"[[20,"), timeout=TIMEOUT)
    assert info.value.reason == "raised"
    assert plugin.dispatch_batch(_entries("token=y"))[0].messages == ["token=[REDACTED]"]
    assert plugin._conn.batch_stream._call is opened
    assert errors == []


@pytest.mark.slow
def test_a_batch_finding_the_stream_busy_makes_a_unary_call(start):
    """Batches from several threads do not queue behind one another on the stream."""
    plugin, errors = start("redact", batch=True)
    stream = plugin._conn.batch_stream
    with stream._lock:  # as if another thread's batch were in flight on the stream
        outcomes = plugin.dispatch_batch(_entries("token=x", "escalate"), ["main", "muted"])
    assert [o.messages for o in outcomes] == [["token=[REDACTED]"], ["escalate"]]
    assert [o.level for o in outcomes] == [LogLevel.INFO, LogLevel.ERROR]
    assert [o.send for o in outcomes] == [(True, False), (True, False)]
    assert stream._call is None  # the unary call did not open the stream
    assert errors == []


def test_dispatch_batch_and_the_stream_answer_alike():
    """In process: the two batch RPCs of ``serve`` give the same answers, and a batch that
    does not have the documented shape is an error status for one, ``error`` for the
    other."""
    from loglayer._common import PluginRecord
    from loglayer.isolation._grpc_serve import _HookServicer
    from loglayer.isolation._grpc_wire import encode_batch, loads, pb

    class Context:
        code = details = None

        def set_code(self, code):
            self.code = code

        def set_details(self, details):
            self.details = details

    servicer = _HookServicer(PluginRecord(sample.Faulty()))
    good = encode_batch(_entries("a", "raise"), ["t"])
    bad = pb.Batch(entries=b'[[20, ["m"]]]')  # a row of 2 values, not 7
    context = Context()
    unary = [servicer.DispatchBatch(batch, context) for batch in (good, bad)]
    streamed = list(servicer.DispatchBatches(iter([good, bad, good]), Context()))
    assert streamed[0] == streamed[2] == unary[0] and not unary[0].error
    assert loads(unary[0].outcomes) == [
        {"data": {"faulty": "ok"}, "send": [True]},
        {"send": [True], "failures": [{"hook": "on_before_data_out",
                                       "message": "ValueError: no such entry"}]}]
    assert unary[1] == pb.BatchResult() and "DispatchBatch: ValueError" in context.details
    assert streamed[1].error == context.details and not streamed[1].outcomes


def test_non_str_keys_cross_as_text():
    from loglayer.isolation._grpc_wire import decode_batch, dumps, pb

    assert dumps({1: "a", "b": {(2, 3): None}}) == b'{"1":"a","b":{"(2, 3)":null}}'
    tt = TestTransport("collect")
    LogLayer(transports=tt).with_metadata({7: "seven"}).info("m")
    [params] = decode_batch(pb.Batch(entries=dumps([
        (20, ["m"], {1: "x"}, tt.last_line().metadata, None, None, None)])))
    assert params.data == params.fields == {"1": "x"} and params.metadata == {"7": "seven"}
    # the hooks get the in-process HookParams, every attribute filled
    assert type(params) is loglayer.HookParams
    assert (params.level, params.messages, params.error, params.ctx, params.prefix,
            params.groups, params.transport_id) == (20, ["m"], None, None, None, (), None)


@pytest.mark.parametrize("answer, words", [
    ({"not": "a list"}, "expected 2 outcomes"),
    ([None], "expected 2 outcomes"),
    ([None, "text"], "malformed"),
    ([None, {"data": [1]}], "malformed"),
    ([None, {"messages": "x"}], "malformed"),
    ([None, {"send": [True, False]}], "gate decisions"),
    ([None, {"level": 7}], "malformed"),
])
def test_malformed_batch_answers_are_bad_responses(answer, words):
    from loglayer.isolation._grpc_host import _apply_batch

    entries = _entries("a", "b")
    with pytest.raises(RemoteCallError, match=words) as info:
        _apply_batch(entries, answer, 1)
    assert info.value.reason == "bad-response"


@pytest.mark.parametrize("line, expected", [
    (b"1|1|unix|/tmp/x/plugin.sock|grpc|\n", ("unix", "/tmp/x/plugin.sock")),
    (b"1|1|tcp|127.0.0.1:1234|grpc\r\n", ("tcp", "127.0.0.1:1234")),
    (b"1|1|unix|/s|grpc|short-extra|true\n", ("unix", "/s")),  # not a certificate
])
def test_handshake_lines_go_plugin_accepts(line, expected):
    from loglayer.isolation._grpc_host import _parse_handshake

    assert _parse_handshake(line) == expected


@pytest.mark.parametrize("line, words", [
    (b"1|1|unix\n", "unrecognized handshake line"),
    (b"2|1|unix|/s|grpc|\n", "core protocol '2'"),
    (b"1|7|unix|/s|grpc|\n", "loglayer plugin protocol '7'"),
    (b"1|1|pipe|/s|grpc|\n", "unsupported plugin address"),
    (b"1|1|unix|/s\n", "speaks 'netrpc'"),
    (b"1|1|unix|/s|grpc|" + b"M" * 60 + b"\n", "TLS certificate"),
])
def test_handshake_lines_rejected_with_a_reason(line, words):
    from loglayer.isolation._grpc_host import _parse_handshake, _StartError

    with pytest.raises(_StartError, match=words):
        _parse_handshake(line)


@pytest.mark.slow
def test_the_example_redaction_plugin():
    example = HERE.parent / "examples" / "grpc" / "redact_plugin.py"
    with GrpcPlugin([sys.executable, str(example)], timeout=TIMEOUT) as redact:
        tt = TestTransport("t")
        log = LogLayer(transports=tt, plugins=[redact])
        log.with_fields(token="abc").with_metadata({"user": "ada", "Password": "x"}).info(
            "login secret=s3 ok")
    entry = tt.last_line()
    assert entry.messages == ["login secret=[REDACTED] ok"]
    assert entry.data == {"token": "[REDACTED]"}
    assert entry.metadata == {"user": "ada", "Password": "[REDACTED]"}


def test_serve_stays_callable_when_its_module_is_imported(monkeypatch):
    import importlib

    import loglayer.isolation
    from loglayer.isolation import _grpc_serve

    importlib.import_module("loglayer.isolation.serve")  # as autodoc or walk_packages do
    served = []
    monkeypatch.setattr(_grpc_serve, "serve",
                        lambda plugin, **options: served.append((plugin, options)))
    loglayer.isolation.serve("plugin", max_workers=2)
    assert served == [("plugin", {"max_workers": 2})]


# -- groups (#15): the tags cross to the plugin, routing stays with the host ------------

def _routed(core, *plugins, db_level=None):
    """A logger whose group "db" routes to transport "db" and whose untagged entries go
    to "other", with ``plugins``."""
    db, other = TestTransport("db"), TestTransport("other")
    log = core.LogLayer(transports=[db, other], plugins=list(plugins), ungrouped=["other"],
                        groups={"db": {"transports": ["db"], "level": db_level}})
    return log, db, other


@pytest.mark.slow
def test_a_plugin_sees_the_groups_and_the_entry_it_changed_still_routes_by_them(core, start):
    echo, errors = start("echo")
    log, db, other = _routed(core, echo)
    log.with_group("db").info("tagged")
    log.with_metadata({"m": 1}).with_group("db", "audit").info("builder")
    log.info("untagged")
    tagged, builder = db.lines
    # the hook saw the tags as a tuple, as in process, and changed the entry's data
    assert tagged.data["seen"]["groups"] == ["db"] and tagged.data["seen"]["groups_type"] == (
        "tuple")
    assert builder.data["seen"]["groups"] == ["db", "audit"]
    # the entry the logger built from the hook's answer keeps its tags, and was routed
    assert (tagged.groups, builder.groups) == (("db",), ("db", "audit"))
    [untagged] = other.lines
    assert untagged.messages == ["untagged"] and untagged.data["seen"]["groups"] == []
    assert untagged.groups == ()
    assert errors == []


@pytest.mark.slow
def test_a_level_a_plugin_raised_meets_the_groups_level(core, redact_and_tag):
    """Group levels filter on the final level: the remote level hook runs first."""
    redact, _ = redact_and_tag
    log, db, other = _routed(core, redact, db_level="error")
    db_log = log.with_group("db")
    db_log.info("plain")  # below the group's level: no transport
    db_log.info("escalate password=x")  # raised to error by the plugin: reaches "db"
    [entry] = db.lines
    assert entry.level == LogLevel.ERROR and entry.groups == ("db",)
    assert entry.messages == ["escalate password=[REDACTED]"]
    assert other.lines == []


@pytest.mark.slow
def test_dispatch_batch_carries_each_entrys_groups(core, start):
    from loglayer.isolation._grpc_wire import encode_batch

    echo, errors = start("echo", batch=True)
    tt = TestTransport("collect")
    log = core.LogLayer(transports=tt, groups={"db": {"transports": ["collect"]}})
    log.with_group("db").info("a")
    log.info("b")
    log.with_group("db").with_group("auth").info("c")
    outcomes = echo.dispatch_batch(tt.lines)
    assert [o.data["seen"]["groups"] for o in outcomes] == [["db"], [], ["db", "auth"]]
    assert encode_batch(tt.lines[1:2]).groups == b""  # no entry tagged: the field is empty
    assert errors == []


@pytest.mark.slow
def test_a_queue_with_a_batch_plugin_keeps_the_groups_of_the_entries_it_rebuilt(core, start):
    from loglayer.transports import QueueTransport

    echo, errors = start("echo", batch=True)
    inner = TestTransport("inner")
    queue = QueueTransport(inner, plugins=[echo], flush_interval=0.05)
    log = core.LogLayer(transports=[queue, TestTransport("other")], ungrouped=["other"],
                        groups={"db": {"transports": [queue.id]}})
    log.with_group("db").info("queued")
    log.info("not queued")
    assert queue.flush(timeout=30)
    queue.close()
    [entry] = inner.lines
    assert entry.data["seen"]["groups"] == ["db"] and entry.groups == ("db",)
    assert [e for e in errors if e.hook != "process"] == []


def test_groups_cross_in_params_and_batches(core):
    from loglayer.isolation._grpc_wire import (
        decode_batch,
        decode_params,
        encode_batch,
        encode_params,
    )

    params = core.HookParams(LogLevel.INFO, ["m"], {}, None, None, {}, None, None,
                             ("db", "auth"))
    message = encode_params(params)
    assert list(message.groups) == ["db", "auth"]
    assert decode_params(message).groups == ("db", "auth")
    assert decode_params(encode_params(core.HookParams(LogLevel.INFO, ["m"], {}, None, None,
                                                       {}, None, None))).groups == ()
    tt = TestTransport("collect")
    log = core.LogLayer(transports=tt, groups={"db": {"transports": ["collect"]}})
    log.with_group("db").info("a")
    log.info("b")
    assert [p.groups for p in decode_batch(encode_batch(tt.lines))] == [("db",), ()]


@pytest.mark.parametrize("groups, error", [
    (b'[["db"]]', ValueError),  # one array for two entries
    (b'{"db": 1}', ValueError),
    (b'[["db"], "auth"]', TypeError),
    (b'[["db"], [1]]', TypeError),
])
def test_a_batch_whose_groups_have_another_shape_is_refused(groups, error):
    from loglayer.isolation._grpc_wire import decode_batch, encode_batch

    batch = encode_batch(_entries("a", "b"))
    batch.groups = groups
    with pytest.raises(error, match="groups"):
        decode_batch(batch)
