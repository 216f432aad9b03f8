"""Issue 17 for the queue, file and structured transports: nothing lost, nothing leaked.

Each test pins one failure that used to lose, glue, leak or hang:

* a burst larger than a default ``QueueTransport`` lost a third of itself at exit;
* an ``atexit`` handler registered before the first queue logged after its exit drain
  and the entry was refused (the same for a file ``StructuredTransport`` opened);
* an exit drain that timed out reported the entries pending at its start, not those
  it lost, and did not count them;
* a queue's ``plugins=[redact(...)]`` left metadata unredacted, and a metadata dict
  changed after the log call was written in its later state;
* a short write or a killed writer left half a line that the next line was glued to,
  and a rotation that could not rename lost every later line;
* a fork while another thread was inside a write of a file ``StructuredTransport``
  opened hung the child.

Runs once per core, like the whole suite (``make test`` runs it again with
``LOGLAYER_NO_EXTENSIONS=1``); subprocesses inherit that variable and so use the same
core. Waits are generous bounds on termination, never timings being asserted.
"""

from __future__ import annotations

import collections
import errno
import io
import json
import os
import shutil
import subprocess
import sys
import threading
import time

import pytest

import loglayer
from conftest import available_cores
from loglayer import FileTransport, LogLevel, PluginError, QueueTransport, StructuredTransport
from loglayer.plugins import redact
from loglayer.testing import TestTransport
from loglayer.transports import _file

WAIT = 30.0
#: Subprocess timeout: far above every deadline these scripts configure (5 s at most).
SUBPROCESS_TIMEOUT = 120


def child_env() -> dict:
    """The environment for a subprocess that must import this very loglayer."""
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(loglayer.__file__)))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    return env


def run_script(script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", script, *args], env=child_env(),
                          capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT)


def json_lines(path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


class Gate:
    """An inner transport whose first batch holds the worker until ``release`` is set."""

    def __init__(self, id: str = "gate") -> None:
        self.id = id
        self.entries: list = []
        self.entered = threading.Event()
        self.release = threading.Event()

    def send(self, entry) -> None:
        raise AssertionError("send_batch() exists")

    def send_batch(self, entries) -> None:
        self.entered.set()
        assert self.release.wait(WAIT)
        self.entries.extend(entries)


def wait_until(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.001)


# -- item 2: the default queue is lossless -----------------------------------------------


BURST_SCRIPT = """
import sys
import loglayer

queue = loglayer.QueueTransport(loglayer.FileTransport(sys.argv[1], time_format=None))
log = loglayer.LogLayer(transports=queue)
for i in range(20_000):
    log.info(i)
# normal interpreter exit: the queue is drained then
"""


@pytest.mark.slow
def test_a_burst_twice_the_default_queue_is_written_whole_at_exit(tmp_path):
    path = tmp_path / "burst.log"
    result = run_script(BURST_SCRIPT, str(path))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert [line["msg"] for line in json_lines(path)] == [str(i) for i in range(20_000)]


def test_by_default_a_full_queue_makes_the_caller_wait_instead_of_dropping():
    gate = Gate()
    queue = QueueTransport(gate, max_size=10, batch_size=1)  # default overflow
    log = loglayer.LogLayer(transports=queue)
    log.info("first")
    assert gate.entered.wait(WAIT)  # the worker holds "first"; nothing else drains

    def release_when_full() -> None:
        wait_until(lambda: len(queue._queue) >= 10, "a full queue")
        gate.release.set()

    releaser = threading.Thread(target=release_when_full)
    releaser.start()
    for i in range(25):  # the 11th waits for room until the releaser lets the worker go
        log.info(i)
    releaser.join(WAIT)
    assert queue.close(WAIT)
    assert queue.dropped == 0
    assert [entry.messages[0] for entry in gate.entries] == ["first", *range(25)]


def test_a_block_that_times_out_drops_counts_and_reports_and_does_not_wait_again():
    gate = Gate()
    reported: list[int] = []
    queue = QueueTransport(gate, max_size=1, batch_size=1, block_timeout=0.05,
                           on_drop=reported.append)
    log = loglayer.LogLayer(transports=queue)
    try:
        log.info("first")
        assert gate.entered.wait(WAIT)
        log.info("queued")  # fills the queue
        log.info("timed out")  # waits block_timeout, then is dropped
        log.info("stalled")  # the worker took nothing since: dropped without a wait
        assert queue.dropped == 2
    finally:
        gate.release.set()
    assert queue.close(WAIT)
    assert [entry.messages[0] for entry in gate.entries] == ["first", "queued"]
    assert sum(reported) == 2


def test_block_timeout_zero_drops_a_full_queue_at_once(capsys):
    gate = Gate()
    queue = QueueTransport(gate, max_size=1, batch_size=1, block_timeout=0, id="q")
    log = loglayer.LogLayer(transports=queue)
    try:
        log.info("first")
        assert gate.entered.wait(WAIT)
        for i in range(3):
            log.info(i)
        assert queue.dropped == 2
    finally:
        gate.release.set()
    assert queue.close(WAIT)
    err = capsys.readouterr().err
    assert "queue transport 'q' dropped 2 entries" in err
    assert "overflow='block', block_timeout=0.0" in err


@pytest.mark.parametrize(("value", "error"), [
    (-1, ValueError), (float("inf"), ValueError), (float("nan"), ValueError),
    ("5", TypeError), (True, TypeError), (None, TypeError),
])
def test_block_timeout_is_validated(value, error):
    with pytest.raises(error, match="block_timeout"):
        QueueTransport(TestTransport("t"), block_timeout=value)


# -- items 5 and 8: the exit drain ---------------------------------------------------------


LATE_SCRIPT = """
import atexit
import sys


def late():  # registered before loglayer exists: runs after its exit drain
    log.info("late")
    log.with_metadata({"k": 1}).warn("late with metadata")


atexit.register(late)

import loglayer

kind, path = sys.argv[1], sys.argv[2]
if kind == "queue-file":
    transport = loglayer.QueueTransport(loglayer.FileTransport(path, time_format=None))
elif kind == "queue-structured":
    transport = loglayer.QueueTransport(loglayer.StructuredTransport(path, time_format=None))
else:
    transport = loglayer.StructuredTransport(path, time_format=None)
log = loglayer.LogLayer(transports=transport)
for i in range(300):
    log.info("early", i)
"""


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["queue-file", "queue-structured", "structured"])
def test_an_atexit_handler_older_than_the_transport_still_logs(tmp_path, kind):
    path = tmp_path / "late.log"
    result = run_script(LATE_SCRIPT, kind, str(path))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = json_lines(path)
    assert [line["msg"] for line in lines] == (
        [f"early {i}" for i in range(300)] + ["late", "late with metadata"])
    assert lines[-1]["k"] == 1


QUEUE_MADE_LATE_SCRIPT = """
import atexit
import sys


def late():  # runs after the exit drain of the queue below
    queue = loglayer.QueueTransport(loglayer.FileTransport(sys.argv[2], time_format=None))
    loglayer.LogLayer(transports=queue).info("from a queue made after the drain")


atexit.register(late)

import loglayer

log = loglayer.LogLayer(transports=loglayer.QueueTransport(
    loglayer.FileTransport(sys.argv[1], time_format=None)))
log.info("first queue")
"""


@pytest.mark.slow
def test_a_queue_made_after_the_exit_drain_sends_synchronously(tmp_path):
    first, second = tmp_path / "first.log", tmp_path / "second.log"
    result = run_script(QUEUE_MADE_LATE_SCRIPT, str(first), str(second))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert [line["msg"] for line in json_lines(first)] == ["first queue"]
    assert [line["msg"] for line in json_lines(second)] == ["from a queue made after the drain"]


STUCK_SCRIPT = """
import atexit
import threading

import loglayer
from loglayer import _lifecycle

_lifecycle.EXIT_TIMEOUT = 0.5
entered = threading.Event()


class Stuck:
    id = "stuck"

    def send(self, entry):
        raise AssertionError("send_batch() exists")

    def send_batch(self, entries):
        entered.set()
        threading.Event().wait()  # never returns: the worker is stuck in this batch


drops = []


def after_the_drain():  # registered before the queue: runs after its exit drain
    log.info("after the drain")  # the stuck worker holds the inner transport
    print("dropped", queue.dropped, "on_drop", sum(drops), flush=True)


atexit.register(after_the_drain)
queue = loglayer.QueueTransport(Stuck(), batch_size=10, flush_interval=60,
                                block_timeout=0.5, on_drop=drops.append, id="q")
log = loglayer.LogLayer(transports=queue)
for i in range(100):
    log.info(i)
assert entered.wait(30)
"""


@pytest.mark.slow
def test_an_exit_drain_that_times_out_counts_and_reports_what_it_lost():
    result = run_script(STUCK_SCRIPT)
    assert result.returncode == 0, result.stderr
    # The worker took one batch of 10 and hangs in it; the 90 behind it are lost.
    assert ("queue transport 'q': gave up draining at the exit deadline (0.5 s for "
            "everything): 90 entries were not sent (counted in dropped); a batch of 10 "
            "entries was still being sent") in result.stderr
    # ... and the late entry, which could not get to the stuck inner transport either.
    assert result.stdout.split() == ["dropped", "91", "on_drop", "91"]


# -- item 13: the queue's plugins and what it snapshots -----------------------------------


def test_a_queue_redact_plugin_censors_metadata_data_and_messages_on_the_worker():
    out = io.BytesIO()
    queue = QueueTransport(StructuredTransport(out, time_format=None), plugins=[
        redact(keys=("password", "token"), patterns=(r"sk-[a-z0-9]+",))])
    log = loglayer.LogLayer(transports=queue).with_fields(token="t-secret")
    metadata = {"user": "ada", "password": "hunter2", "nested": {"password": "p2"}}
    log.with_metadata(metadata).info("key sk-abc123")
    assert queue.flush(WAIT)
    line = out.getvalue().decode()
    for secret in ("hunter2", "p2", "t-secret", "sk-abc123"):
        assert secret not in line
    assert json.loads(line)["user"] == "ada"
    assert metadata["password"] == "hunter2"  # the caller's dict is left alone
    queue.close()


class Recorded(loglayer.Plugin):
    """A metadata hook that records its calls and threads, then hands on a result."""

    def __init__(self, id: str, answer) -> None:
        super().__init__(id)
        self.answer = answer
        self.calls: list = []
        self.threads: set[int] = set()
        self.errors: list = []

    def on_metadata_called(self, metadata):
        self.calls.append(dict(metadata))
        self.threads.add(threading.get_ident())
        return self.answer(metadata)

    def on_error(self, err) -> None:
        self.errors.append(err)


def _fail_on_request(metadata):
    if metadata.get("fail"):
        raise RuntimeError("hook broke")
    return metadata


def test_queue_metadata_hooks_chain_drop_and_report_as_in_a_logger():
    adder = Recorded("adder", lambda m: {**m, "seen": True})
    dropper = Recorded("dropper", lambda m: None if m.get("drop") else m)
    failer = Recorded("failer", _fail_on_request)
    last = Recorded("last", lambda m: m)
    tt = TestTransport("t")
    queue = QueueTransport(tt, plugins=[adder, dropper, failer, last])
    log = loglayer.LogLayer(transports=queue)
    log.with_metadata({"a": 1}).info("kept")
    log.with_metadata({"drop": True}).info("dropped by None")
    log.with_metadata({"fail": True}).info("dropped by a failure")
    log.info("no metadata")
    assert queue.flush(WAIT)
    assert [(e.messages[0], e.metadata) for e in tt.lines] == [
        ("kept", {"a": 1, "seen": True}),
        ("dropped by None", None),
        ("dropped by a failure", None),
        ("no metadata", None),
    ]
    # The chain stops at the first None; the entry itself is still sent.
    assert last.calls == [{"a": 1, "seen": True}]
    assert len(adder.calls) == 3  # never called without metadata
    [err] = failer.errors
    assert isinstance(err, PluginError)
    assert (err.plugin_id, err.hook) == ("failer", "on_metadata_called")
    assert isinstance(err.__cause__, RuntimeError)
    assert threading.get_ident() not in adder.threads  # it ran on the worker
    queue.close()


def test_metadata_is_snapshotted_when_the_entry_is_logged():
    gate = Gate()
    queue = QueueTransport(gate, batch_size=1)
    log = loglayer.LogLayer(transports=queue)
    plain = {"state": "at the call", "gone": 1}
    ordered = collections.OrderedDict(step=1)
    try:
        log.info("first")
        assert gate.entered.wait(WAIT)  # the worker is held: the entries below wait
        log.with_metadata(plain).info("plain")
        log.metadata_only(ordered, level=LogLevel.WARN)
        plain["state"] = "changed later"
        del plain["gone"]
        plain["added"] = True
        ordered["step"] = 2
    finally:
        gate.release.set()
    assert queue.close(WAIT)
    by_message = {entry.messages[0] if entry.messages else "": entry for entry in gate.entries}
    assert by_message["plain"].metadata == {"state": "at the call", "gone": 1}
    snapshot = by_message[""].metadata
    assert snapshot == {"step": 1} and type(snapshot) is collections.OrderedDict


@pytest.mark.parametrize("with_plugin", [False, True])
def test_a_rebuilt_entry_stays_an_entry_of_its_own_core(with_plugin):
    # A compiled renderer takes only compiled entries, and a queue may carry the entries
    # of either core (the benchmark runs both in one process): a copy keeps the class.
    plugins = [loglayer.data_hook("add", lambda params: {"added": 1})] if with_plugin else []
    for core in available_cores():
        tt = TestTransport("t")
        queue = QueueTransport(tt, plugins=plugins)
        core.LogLayer(transports=queue).with_metadata({"k": 1}).info("x")
        assert queue.flush(WAIT)
        [entry] = tt.lines
        assert type(entry) is core.LogEntry, core.__name__
        assert entry.metadata == {"k": 1}
        queue.close()


# -- item 4: torn lines and rotation failures ----------------------------------------------


def _file_transports(path):
    return {
        "file": lambda: FileTransport(path, time_format=None),
        "file-rotating": lambda: FileTransport(path, time_format=None, rotate_bytes=1 << 20),
        "structured": lambda: StructuredTransport(path, time_format=None),
    }


KINDS = ["file", "file-rotating", "structured"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_file_left_in_the_middle_of_a_line_gets_a_fresh_line(tmp_path, kind):
    path = tmp_path / "torn.log"
    path.write_bytes(b'{"a":1}\n{"killed":"mid-wr')  # a writer killed during a write
    transport = _file_transports(path)[kind]()
    log = loglayer.LogLayer(transports=transport)
    log.error("next")
    log.error("and the one after")
    transport.close()
    assert path.read_bytes().decode().splitlines() == [
        '{"a":1}', '{"killed":"mid-wr', '{"level":"error","msg":"next"}',
        '{"level":"error","msg":"and the one after"}']


@pytest.mark.parametrize("kind", KINDS)
def test_a_file_that_ends_with_a_newline_gets_no_empty_line(tmp_path, kind):
    path = tmp_path / "whole.log"
    path.write_bytes(b'{"a":1}\n')
    transport = _file_transports(path)[kind]()
    loglayer.LogLayer(transports=transport).error("next")
    transport.close()
    assert path.read_bytes() == b'{"a":1}\n{"level":"error","msg":"next"}\n'


@pytest.mark.parametrize("kind", KINDS)
def test_a_write_that_fails_half_way_is_followed_by_a_fresh_line(tmp_path, monkeypatch,
                                                                  kind):
    path = tmp_path / "short.log"
    transport = _file_transports(path)[kind]()
    errors: list = []
    log = loglayer.LogLayer(transports=transport, on_transport_error=errors.append)
    log.error("whole")
    real_write = os.write
    calls = []

    def cut_short(fd, data):  # 10 bytes reach the disk, then it is full
        calls.append(len(data))
        if len(calls) == 1:
            return real_write(fd, bytes(data)[:10])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with monkeypatch.context() as patch:
        patch.setattr(os, "write", cut_short)
        log.error("cut")
    assert len(errors) == 1 and errors[0].__cause__.errno == errno.ENOSPC
    if kind == "structured":
        assert "1 of 1 buffered lines were not written" in str(errors[0].__cause__)
    log.error("after")
    transport.close()
    assert path.read_bytes().decode().splitlines() == [
        '{"level":"error","msg":"whole"}', '{"level":"',
        '{"level":"error","msg":"after"}']


SIZE_LIMIT_SCRIPT = """
import resource
import signal
import sys

import loglayer

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
kind, path = sys.argv[1], sys.argv[2]
if kind == "structured":
    transport = loglayer.StructuredTransport(path, time_format=None)
else:
    transport = loglayer.FileTransport(path, time_format=None,
                                       rotate_bytes=(1 << 20) if kind == "file-rotating" else None)
errors = []
log = loglayer.LogLayer(transports=transport, on_transport_error=errors.append)
soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
resource.setrlimit(resource.RLIMIT_FSIZE, (300, hard))
log.error("a" * 100)  # fits
log.error("b" * 400)  # the kernel writes up to 300 bytes, then refuses the rest
resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
log.error("after")
transport.close()
print(len(errors), errors[0].__cause__.errno if errors else None)
"""


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="needs RLIMIT_FSIZE")
@pytest.mark.parametrize("kind", KINDS)
def test_a_write_cut_by_a_file_size_limit_is_followed_by_a_fresh_line(tmp_path, kind):
    path = tmp_path / "limited.log"
    result = run_script(SIZE_LIMIT_SCRIPT, kind, str(path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1", str(errno.EFBIG)]
    data = path.read_bytes()
    assert len(data.split(b"\n", 2)[1]) > 0, "the limit did not cut the second line"
    lines = data.decode().splitlines()
    assert len(lines) == 3
    assert json.loads(lines[0])["msg"] == "a" * 100
    assert lines[1].startswith('{"level":"error","msg":"bbb') and len(lines[1]) < 300
    assert json.loads(lines[2]) == {"level": "error", "msg": "after"}


def test_a_rotation_that_cannot_rename_keeps_writing_and_reports_once(tmp_path, monkeypatch,
                                                                     capsys):
    monkeypatch.setattr(_file, "ROTATION_RETRY", 0.0)  # retry at every write: still once
    path = tmp_path / "app.log"
    blocker = tmp_path / "app.log.1"  # the only backup's name is taken by a directory
    blocker.mkdir()
    (blocker / "keep").write_text("x")
    transport = FileTransport(path, time_format=None, rotate_bytes=200, backups=1, id="f")
    errors: list = []
    log = loglayer.LogLayer(transports=transport, on_transport_error=errors.append)
    for i in range(30):
        log.info("line", i)
    transport.send_batch([])
    assert errors == []
    assert [line["msg"] for line in json_lines(path)] == [f"line {i}" for i in range(30)]
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "file transport 'f'" in err and "rotation failed" in err
    assert "no line is lost" in err

    (blocker / "keep").unlink()
    blocker.rmdir()
    log.info("rotates again")
    transport.close()
    assert os.path.isfile(tmp_path / "app.log.1")
    assert json_lines(path)[-1]["msg"] == "rotates again"
    assert len(json_lines(tmp_path / "app.log.1")) == 30
    assert capsys.readouterr().err == ""


def test_a_compression_that_fails_keeps_the_lines_and_leaves_no_partial_file(
        tmp_path, monkeypatch, capsys):
    def disk_full(source, target, length=0):
        target.write(b"partial output")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(shutil, "copyfileobj", disk_full)  # _file imports it to compress
    path = tmp_path / "app.log"
    transport = FileTransport(path, time_format=None, rotate_bytes=200, compress=True,
                              id="f")
    errors: list = []
    log = loglayer.LogLayer(transports=transport, on_transport_error=errors.append)
    for i in range(30):
        log.info("line", i)
    transport.close()
    assert errors == []
    names = sorted(os.listdir(tmp_path))
    assert not [name for name in names if name.endswith(".tmp")], names
    rotated = [name for name in names if name.startswith("app.log.rotated-")]
    assert len(rotated) == 1  # kept under its temporary name, not lost
    messages = [line["msg"] for name in (*rotated, "app.log")
                for line in json_lines(tmp_path / name)]
    assert messages == [f"line {i}" for i in range(30)]
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "rotation failed" in err


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="needs a user that directory permissions apply to")
def test_a_read_only_directory_keeps_the_lines_in_the_current_file(tmp_path, capsys):
    directory = tmp_path / "logs"
    directory.mkdir()
    path = directory / "app.log"
    transport = FileTransport(path, time_format=None, rotate_bytes=200)
    log = loglayer.LogLayer(transports=transport)
    directory.chmod(0o555)
    try:
        for i in range(30):
            log.info("line", i)
    finally:
        directory.chmod(0o755)
    transport.close()
    assert [line["msg"] for line in json_lines(path)] == [f"line {i}" for i in range(30)]
    assert capsys.readouterr().err.count("rotation failed") == 1


# -- item 11: a fork while another thread is inside a write -------------------------------


FORK_SCRIPT = """
import fcntl
import os
import struct
import sys
import termios
import threading
import time
import warnings

import loglayer

kind, fifo = sys.argv[1], sys.argv[2]
os.mkfifo(fifo)
reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
if kind == "structured":
    transport = loglayer.StructuredTransport(fifo, time_format=None)
else:
    transport = loglayer.FileTransport(fifo, time_format=None)
log = loglayer.LogLayer(transports=transport)


def pending():
    return struct.unpack("i", fcntl.ioctl(reader, termios.FIONREAD, b"\\0" * 4))[0]


# An ERROR is written at once: 1 MB does not fit the pipe, so the thread stays inside
# the write, holding whatever the transport locks around it, until someone reads.
writer = threading.Thread(target=log.error, args=("x" * 1_000_000,), daemon=True)
writer.start()
deadline = time.monotonic() + 30
while not pending():
    assert time.monotonic() < deadline, "the writer never wrote"
    time.sleep(0.001)

with warnings.catch_warnings():  # 3.12+ warns about forking a threaded process
    warnings.simplefilter("ignore", DeprecationWarning)
    pid = os.fork()
if pid == 0:
    code = 1
    try:
        log.error("child")
        transport.close()
        code = 0
    finally:
        os._exit(code)

data = []
status = None
deadline = time.monotonic() + 30
while time.monotonic() < deadline:
    try:
        data.append(os.read(reader, 1 << 16))
    except BlockingIOError:
        time.sleep(0.001)
    if status is None:
        done, raw = os.waitpid(pid, os.WNOHANG)
        if done:
            status = os.waitstatus_to_exitcode(raw)
    if status is not None and not writer.is_alive() and not pending():
        break
if status is None:
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    print("the child hung")
    sys.exit(1)
received = b"".join(data)
print(status, b'{"level":"error","msg":"child"}' in received, len(received) > 1_000_000)
"""


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "fork") or not hasattr(os, "mkfifo"),
                    reason="needs os.fork and os.mkfifo")
@pytest.mark.parametrize("kind", ["structured", "file"])
def test_a_fork_while_another_thread_writes_does_not_hang_the_child(tmp_path, kind):
    result = run_script(FORK_SCRIPT, kind, str(tmp_path / "pipe"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.split() == ["0", "True", "True"]
