"""``GrpcPlugin(fail_closed=True)``: an entry a redaction plugin could not check is
refused and reported, never written as it is (issue #17).

The plugin processes are the real ones of ``test_grpc_plugin.py`` (``grpc_plugins/run.py``
serving ``sample.py``'s plugins), started with its ``start`` fixture. Each leak path is
also run without ``fail_closed``, to show the default fallbacks are unchanged and that
the test does reach the path it guards.
"""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import textwrap
import time

import pytest

pytest.importorskip("grpc", reason="the grpc extra is not installed")
pytest.importorskip("grpc_health", reason="the grpc extra is not installed")

import loglayer  # noqa: E402
import test_grpc_plugin  # noqa: E402
from loglayer.isolation import GrpcPlugin  # noqa: E402
from loglayer.isolation._grpc_host import RemoteCallError, _accepted  # noqa: E402
from loglayer.testing import TestTransport  # noqa: E402
from loglayer.transports import QueueTransport  # noqa: E402
from test_grpc_plugin import HANG_TIMEOUT, RUN, _entries, dead, wait_for  # noqa: E402

#: test_grpc_plugin's fixture, ``start(mode, **options) -> (plugin, errors)``, which
#: closes every plugin it started; the tests here ask for it by name.
start = test_grpc_plugin.start

pytestmark = [
    pytest.mark.slow,  # every test here starts a plugin process
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the tests read /proc"),
]

BAD_ANSWER = pathlib.Path(__file__).resolve().parent / "grpc_plugins" / "bad_answer.py"
SECRET_MESSAGE = "login password=hunter2"
REDACTED_MESSAGE = "login password=[REDACTED]"


def refusals(errors: list) -> list:
    """The reported refusals among a plugin's errors."""
    return [e for e in errors if isinstance(e.__cause__, RemoteCallError)
            and e.__cause__.reason == "refused"]


def kill(plugin: GrpcPlugin) -> None:
    """SIGKILL the plugin's process and wait until it is dead."""
    pid = plugin.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: dead(pid), what="the plugin process's death")


def test_killed_redaction_plugin_fail_closed_writes_nothing_and_reports(core, start):
    plugin, errors = start("redact", fail_closed=True, restart="never")
    tt = TestTransport("t")
    log = core.LogLayer(transports=tt, plugins=[plugin])
    log.with_metadata({"token": "s3cr3t"}).info(SECRET_MESSAGE)
    [entry] = tt.lines  # while the process runs, the entry is redacted and sent
    assert entry.messages == [REDACTED_MESSAGE] and entry.metadata == {"token": "[REDACTED]"}
    assert errors == []
    kill(plugin)
    log.with_metadata({"token": "s3cr3t"}).info(SECRET_MESSAGE)
    assert tt.lines == [entry]  # the second entry was not written at all
    [refused] = refusals(errors)  # one report for the entry
    assert refused.hook == "should_send" and "fail_closed: the entry was not sent" in str(
        refused)


def test_killed_redaction_plugin_by_default_passes_entries_through(core, start):
    """The documented default, unchanged: the fallbacks apply and the entry is sent."""
    plugin, errors = start("redact", restart="never")
    tt = TestTransport("t")
    log = core.LogLayer(transports=tt, plugins=[plugin])
    kill(plugin)
    log.info(SECRET_MESSAGE)
    [entry] = tt.lines
    assert entry.messages == [SECRET_MESSAGE]
    assert refusals(errors) == []


def spy() -> tuple[list, loglayer.Plugin]:
    """An in-process metadata hook that records the metadata it is given."""
    seen: list = []
    return seen, loglayer.metadata_hook("spy", lambda metadata: seen.append(metadata)
                                        or metadata)


def test_closed_plugin_fail_closed_refuses_every_entry_and_call(core, start):
    plugin, errors = start("redact", fail_closed=True)
    main, other = TestTransport("main"), TestTransport("other")
    seen, later = spy()
    log = core.LogLayer(transports=[main, other], plugins=[plugin, later])
    plugin.close()
    log.with_metadata({"token": "s3cr3t"}).info(SECRET_MESSAGE)
    log.info("a second entry")
    assert main.lines == [] and other.lines == []
    assert seen == []  # the metadata was dropped: no later hook got it
    assert len(refusals(errors)) == 2  # once per entry, not once per transport
    assert all("the plugin is closed" in str(e) for e in refusals(errors))
    errors.clear()
    child = log.with_fields(password="hunter2")  # fields nothing checked are dropped
    assert child.get_fields() == {}
    [dropped] = errors
    assert dropped.hook == "on_fields_called" and "the plugin is closed" in str(dropped)


def test_closed_plugin_by_default_passes_entries_through(core, start):
    plugin, errors = start("redact")
    tt = TestTransport("t")
    seen, later = spy()
    log = core.LogLayer(transports=tt, plugins=[plugin, later])
    plugin.close()
    log.with_metadata({"token": "s3cr3t"}).info(SECRET_MESSAGE)
    assert seen == [{"token": "s3cr3t"}]
    [entry] = tt.lines
    assert entry.messages == [SECRET_MESSAGE] and entry.metadata == {"token": "s3cr3t"}
    assert log.with_fields(password="hunter2").get_fields() == {"password": "hunter2"}
    assert errors == []


def test_an_entry_a_hook_failed_on_is_refused_and_the_next_one_sent(core, start):
    """An error answer and a missed deadline refuse that entry only; the refused entry's
    gate does not wait for the child (its own gate would sleep on "hang")."""
    plugin, errors = start("faulty", fail_closed=True, timeout=HANG_TIMEOUT,
                           shutdown_timeout=HANG_TIMEOUT)
    tt = TestTransport("t")
    log = core.LogLayer(transports=tt, plugins=[plugin])
    log.info("raise")
    log.info("fine")
    began = time.monotonic()
    log.info("hang")
    assert time.monotonic() - began < 10 * HANG_TIMEOUT
    log.info("after")
    assert [(e.messages[0], e.data) for e in tt.lines] == [
        ("fine", {"faulty": "ok"}), ("after", {"faulty": "ok"})]
    hooks = [(e.hook, e.__cause__.reason) for e in errors if e.hook != "process"]
    assert hooks == [("on_before_data_out", "raised"), ("should_send", "refused"),
                     ("on_before_data_out", "deadline"), ("should_send", "refused")]


@pytest.mark.parametrize("fail_closed", [True, False])
def test_an_answer_the_logger_rejects_refuses_the_entry(core, fail_closed):
    """A data hook answering a list: the logger merges nothing, so by default the entry
    goes out as it is; with fail_closed it is refused."""
    errors: list = []
    tt = TestTransport("t")
    with GrpcPlugin([sys.executable, str(BAD_ANSWER)], fail_closed=fail_closed,
                    on_error=errors.append, output=TestTransport("plugin-output")) as plugin:
        log = core.LogLayer(transports=tt, plugins=[plugin])
        log.info("bad")
        log.info("good")
    assert [(e.messages[0], e.data) for e in tt.lines] == (
        [] if fail_closed else [("bad", {})]) + [("good", {"checked": True})]
    assert errors[0].hook == "on_before_data_out"
    assert len(refusals(errors)) == (1 if fail_closed else 0)


def test_fail_closed_plugin_always_has_a_gate(start):
    tag, _ = start("tag", fail_closed=True)
    assert "should_send" not in tag.hooks  # what the child describes
    assert callable(tag.should_send)
    plain, _ = start("tag")
    assert not hasattr(plain, "should_send")


@pytest.mark.parametrize("hook, answer", [
    ("on_before_data_out", ["a", "list"]),
    ("on_before_data_out", "text"),
    ("on_before_message_out", {"a": "mapping"}),
    ("transform_log_level", 7),
])
def test_an_answer_the_logger_would_reject_is_a_failure(hook, answer):
    with pytest.raises(RemoteCallError, match="the logger would reject") as info:
        _accepted(hook, answer)
    assert info.value.reason == "bad-response"


def test_constructor_validates_fail_closed():
    with pytest.raises(TypeError, match="fail_closed must be a bool, got int"):
        GrpcPlugin([sys.executable, str(RUN), "redact"], fail_closed=1)


def test_dispatch_batch_refuses_what_it_could_not_process(start):
    plugin, errors = start("faulty", batch=True, fail_closed=True)
    outcomes = plugin.dispatch_batch(_entries("a", "raise", "b"), ["t", "u"])
    assert [o.send for o in outcomes] == [(True, True), (False, False), (True, True)]
    [refused] = refusals(errors)
    assert refused.hook == "dispatch_batch" and "1 of 3 entries were not sent" in str(refused)
    errors.clear()
    outcomes = plugin.dispatch_batch(_entries("a", "crash"), ["t"])  # the call fails
    assert [o.send for o in outcomes] == [(False,), (False,)]
    assert len(refusals(errors)) == 1  # one report for the batch
    plugin.close()
    errors.clear()
    outcomes = plugin.dispatch_batch(_entries("a"), ["t"])
    assert [o.send for o in outcomes] == [(False,)]
    [refused] = refusals(errors)
    assert "the plugin is closed" in str(refused)


def test_queue_with_a_closed_batch_plugin_writes_nothing(core, start):
    """QueueTransport's batch stage: the closed plugin answers with refusals instead of
    raising, which the queue would take for "send everything unchanged"."""
    plugin, errors = start("redact", batch=True, fail_closed=True)
    inner = TestTransport("inner")
    queue = QueueTransport(inner, plugins=[plugin], flush_interval=0.05)
    log = core.LogLayer(transports=queue)
    log.with_metadata({"token": "s3cr3t"}).info(SECRET_MESSAGE)
    assert queue.flush(timeout=30)
    assert [e.messages for e in inner.lines] == [[REDACTED_MESSAGE]]
    plugin.close()
    log.with_metadata({"token": "s3cr3t"}).info(SECRET_MESSAGE)
    assert queue.flush(timeout=30)
    queue.close()
    assert len(inner.lines) == 1
    assert len(refusals(errors)) == 1


def test_queue_with_a_per_entry_plugin_refuses_the_entries_a_hook_failed_on(core, start):
    """In a queue the gates run after the hooks of the whole batch: the entries a hook
    failed on are still the ones refused."""
    plugin, errors = start("faulty", fail_closed=True)
    inner = TestTransport("inner")
    queue = QueueTransport(inner, plugins=[plugin], flush_interval=0.05, batch_size=10)
    log = core.LogLayer(transports=queue)
    for message in ("a", "raise", "b", "raise", "c"):
        log.info(message)
    assert queue.flush(timeout=30)
    queue.close()
    assert [(e.messages[0], e.data) for e in inner.lines] == [
        (name, {"faulty": "ok"}) for name in ("a", "b", "c")]
    assert len(refusals(errors)) == 2


_EXIT_SCRIPT = """\
import atexit
import sys

from loglayer import LogLayer
from loglayer.isolation import GrpcPlugin
from loglayer.transports import QueueTransport, StructuredTransport

log = None


def late():
    # Registered before anything loglayer tracks at exit: runs after the queue's exit
    # drain and after the plugin was closed.
    log.with_metadata({{"token": "META-SECRET"}}).info("late password=LATE-SECRET")


atexit.register(late)
plugin = GrpcPlugin([sys.executable, {run!r}, "redact"], batch=True,
                    fail_closed={fail_closed}, timeout=5.0)
log = LogLayer(transports=QueueTransport(StructuredTransport(sys.stdout), plugins=[plugin]))
log.info("early password=EARLY-SECRET")
"""


@pytest.mark.parametrize("fail_closed", [True, False])
def test_an_entry_logged_after_the_exit_drain_is_refused(fail_closed):
    """The exit order: the queue drains, the plugin closes, then an ``atexit`` handler
    registered before them logs; the queue sends that entry through the closed plugin."""
    script = _EXIT_SCRIPT.format(run=str(RUN), fail_closed=fail_closed)
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(script)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "early password=[REDACTED]" in done.stdout  # drained at exit, redacted
    assert "EARLY-SECRET" not in done.stdout + done.stderr
    if fail_closed:
        assert "LATE-SECRET" not in done.stdout + done.stderr
        assert "META-SECRET" not in done.stdout + done.stderr
        assert "fail_closed: 1 entries were not sent" in done.stderr
        assert "the plugin is closed" in done.stderr
    else:  # the leak this mode exists for, still the default
        assert "late password=LATE-SECRET" in done.stdout
