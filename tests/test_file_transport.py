"""FileTransport: O_APPEND line writes, rotation that loses no line, clear errors.

Runs once per core, like the whole suite; subprocesses inherit
``LOGLAYER_NO_EXTENSIONS`` and so use the same core.
"""

from __future__ import annotations

import errno
import gzip
import json
import os
import re
import subprocess
import sys
import threading
import time

import pytest

import loglayer
from loglayer import TransportError
from loglayer.transports._file import FileTransport, _next_rollover
from loglayer.transports._queue import QueueTransport

WAIT = 30.0


def child_env() -> dict:
    """The environment for a subprocess that must import this very loglayer."""
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(loglayer.__file__)))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    return env


def read_lines(path) -> list[str]:
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        return f.read().splitlines()


def rotated_files(path) -> list[str]:
    """The backups of ``path``, oldest first, then ``path`` itself."""
    directory, name = os.path.split(str(path))
    backups = []
    for entry in os.listdir(directory):
        match = re.fullmatch(re.escape(name) + r"\.(\d+)(\.gz)?", entry)
        if match:
            backups.append((int(match.group(1)), os.path.join(directory, entry)))
    return [p for _, p in sorted(backups, reverse=True)] + [str(path)]


# -- lines -----------------------------------------------------------------------------


def test_json_lines(tmp_path):
    path = tmp_path / "app.log"
    ft = FileTransport(path)
    log = loglayer.LogLayer(transports=ft, fields={"svc": "api"})
    log.with_metadata({"user": "ada"}).info("logged", "in")
    log.error("bad")
    ft.close()
    lines = [json.loads(line) for line in read_lines(path)]
    assert [(line["level"], line["msg"]) for line in lines] == [("info", "logged in"),
                                                                ("error", "bad")]
    assert lines[0]["svc"] == "api" and lines[0]["user"] == "ada"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", lines[0]["time"])
    assert ft.path == str(path)


def test_appends_to_an_existing_file(tmp_path):
    path = tmp_path / "app.log"
    path.write_text("old line\n")
    ft = FileTransport(path, time_format=None)
    loglayer.LogLayer(transports=ft).info("new")
    ft.close()
    assert read_lines(path) == ["old line", '{"level":"info","msg":"new"}']


@pytest.mark.parametrize(("time_format", "pattern"), [
    ("iso", r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z "),
    ("epoch", r"\d+\.\d+ "),
    ("epoch_ms", r"\d{13} "),
    ("epoch_ns", r"\d{19} "),
    (None, ""),
])
def test_text_lines(tmp_path, time_format, pattern):
    path = tmp_path / "app.txt"
    ft = FileTransport(path, format="text", time_format=time_format)
    log = loglayer.LogLayer(transports=ft)
    log.with_metadata({"k": "v"}).warn("careful\nnow")
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("failed")
    ft.close()
    lines = read_lines(path)
    assert re.fullmatch(pattern + r"WARN  careful\\nnow k=v", lines[0])
    assert re.fullmatch(pattern + r"ERROR failed err=ValueError: boom", lines[1])
    assert lines[2] == "    Traceback (most recent call last):"


def test_a_format_object(tmp_path):
    class Upper:
        def render(self, entry):
            return " ".join(str(m) for m in entry.messages).upper() + "\n"

    path = tmp_path / "custom.log"
    ft = FileTransport(path, format=Upper())
    loglayer.LogLayer(transports=ft).info("hi", 1)
    ft.close()
    assert read_lines(path) == ["HI 1"]


def test_each_line_is_one_write(tmp_path, monkeypatch):
    path = tmp_path / "app.log"
    ft = FileTransport(path)
    log = loglayer.LogLayer(transports=ft)
    writes = []
    real_write = os.write

    def counting_write(fd, data):
        writes.append(bytes(data))
        return real_write(fd, data)

    with monkeypatch.context() as patch:
        patch.setattr(os, "write", counting_write)
        log.info("one")
        log.info("two")
        ft.send_batch([])
    assert [w.count(b"\n") for w in writes] == [1, 1]
    ft.close()


def test_send_batch_writes_a_batch_at_once(tmp_path, monkeypatch):
    path = tmp_path / "app.log"
    ft = FileTransport(path)
    seen = []
    log = loglayer.LogLayer(transports=loglayer.BlankTransport(seen.append))
    for i in range(10):
        log.info(i)
    writes = []
    real_write = os.write

    def counting_write(fd, data):
        writes.append(len(data))
        return real_write(fd, data)

    with monkeypatch.context() as patch:
        patch.setattr(os, "write", counting_write)
        ft.send_batch(seen)
    assert len(writes) == 1
    assert [json.loads(line)["msg"] for line in read_lines(path)] == [str(i) for i in range(10)]
    ft.close()


def test_a_short_write_is_completed(tmp_path, monkeypatch):
    path = tmp_path / "app.log"
    ft = FileTransport(path)
    log = loglayer.LogLayer(transports=ft)
    real_write = os.write

    def half_write(fd, data):
        data = bytes(data)
        return real_write(fd, data[: max(1, len(data) // 2)])

    with monkeypatch.context() as patch:
        patch.setattr(os, "write", half_write)
        log.info("x" * 100)
    ft.close()
    assert json.loads(read_lines(path)[0])["msg"] == "x" * 100


# -- errors ----------------------------------------------------------------------------


def test_a_missing_directory_fails_at_construction_naming_the_path(tmp_path):
    path = tmp_path / "nope" / "app.log"
    with pytest.raises(FileNotFoundError) as info:
        FileTransport(path)
    assert str(path) in str(info.value)


def test_a_directory_is_not_a_log_file(tmp_path):
    with pytest.raises(OSError) as info:
        FileTransport(tmp_path)
    assert str(tmp_path) in str(info.value)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="needs a user that file permissions apply to")
def test_an_unwritable_file_fails_at_construction(tmp_path):
    path = tmp_path / "ro.log"
    path.write_text("")
    path.chmod(0o400)
    with pytest.raises(PermissionError, match=re.escape(str(path))):
        FileTransport(path)


@pytest.mark.parametrize(("path", "kwargs", "error", "text"), [
    ("", {}, ValueError, "path"),
    ("a\0b.log", {}, ValueError, "a\\\\x00b.log"),
    (3, {}, TypeError, "path"),
    ("x.log", {"format": "xml"}, ValueError, "format"),
    ("x.log", {"rotate_bytes": 0}, ValueError, "rotate_bytes"),
    ("x.log", {"rotate_bytes": True}, TypeError, "rotate_bytes"),
    ("x.log", {"rotate_when": "weekly"}, ValueError, "rotate_when"),
    ("x.log", {"rotate_when": -1}, ValueError, "rotate_when"),
    ("x.log", {"backups": 0}, ValueError, "backups"),
    ("x.log", {"compress": 1}, TypeError, "compress"),
    ("x.log", {"time_format": "rfc"}, ValueError, "time_format"),
])
def test_bad_configuration(tmp_path, monkeypatch, path, kwargs, error, text):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(error, match=text):
        FileTransport(path, **kwargs)


def test_a_full_disk_is_a_transport_error_not_a_crash(tmp_path, monkeypatch):
    path = tmp_path / "full.log"
    ft = FileTransport(path, id="file")
    errors = []
    log = loglayer.LogLayer(transports=ft, on_transport_error=errors.append)

    def disk_full(fd, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with monkeypatch.context() as patch:
        patch.setattr(os, "write", disk_full)
        log.info("lost")
    assert len(errors) == 1
    assert isinstance(errors[0], TransportError) and errors[0].transport_id == "file"
    assert errors[0].__cause__.errno == errno.ENOSPC
    log.info("space again")  # the transport is still usable
    ft.close()
    assert [json.loads(line)["msg"] for line in read_lines(path)] == ["space again"]


def test_a_full_disk_behind_a_queue_goes_to_its_on_error(tmp_path, monkeypatch):
    ft = FileTransport(tmp_path / "full.log", id="file")
    errors = []
    queue = QueueTransport(ft, on_error=errors.append)
    log = loglayer.LogLayer(transports=queue)

    def disk_full(fd, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with monkeypatch.context() as patch:
        patch.setattr(os, "write", disk_full)
        log.info("lost")
        assert queue.flush(WAIT)
    assert [e.transport_id for e in errors] == ["file"]
    assert errors[0].__cause__.errno == errno.ENOSPC
    queue.close()


def test_send_after_close_is_a_transport_error(tmp_path):
    ft = FileTransport(tmp_path / "app.log")
    errors = []
    log = loglayer.LogLayer(transports=ft, on_transport_error=errors.append)
    ft.close()
    ft.close()  # idempotent
    log.info("late")
    assert len(errors) == 1 and isinstance(errors[0].__cause__, ValueError)
    assert "closed" in str(errors[0].__cause__)


# -- rotation --------------------------------------------------------------------------


def test_size_rotation_keeps_every_line_in_order(tmp_path):
    path = tmp_path / "app.log"
    ft = FileTransport(path, rotate_bytes=600, backups=100, time_format=None)
    log = loglayer.LogLayer(transports=ft)
    for i in range(200):
        log.with_metadata({"seq": i}).info("line", "x" * (i % 17))
    ft.close()
    files = rotated_files(path)
    assert len(files) > 5
    for name in files:
        assert os.path.getsize(name) <= 600
    seqs = [json.loads(line)["seq"] for name in files for line in read_lines(name)]
    assert seqs == list(range(200))
    assert not os.path.exists(f"{path}.rotated")


def test_a_line_longer_than_rotate_bytes_goes_whole_into_a_fresh_file(tmp_path):
    path = tmp_path / "app.log"
    ft = FileTransport(path, rotate_bytes=50, time_format=None)
    log = loglayer.LogLayer(transports=ft)
    log.info("short")
    log.info("y" * 200)
    log.info("after")
    ft.close()
    contents = [read_lines(name) for name in rotated_files(path)]
    assert [[json.loads(line)["msg"] for line in lines] for lines in contents] == [
        ["short"], ["y" * 200], ["after"]]


def test_only_backups_old_files_are_kept_and_they_are_the_newest(tmp_path):
    path = tmp_path / "app.log"
    ft = FileTransport(path, rotate_bytes=300, backups=2, time_format=None)
    log = loglayer.LogLayer(transports=ft)
    for i in range(100):
        log.with_metadata({"seq": i}).info("line")
    ft.close()
    files = rotated_files(path)
    assert [os.path.basename(f) for f in files] == ["app.log.2", "app.log.1", "app.log"]
    seqs = [json.loads(line)["seq"] for name in files for line in read_lines(name)]
    assert seqs == list(range(100 - len(seqs), 100))


def test_compressed_rotation(tmp_path):
    path = tmp_path / "app.log"
    ft = FileTransport(path, rotate_bytes=500, backups=100, compress=True)
    log = loglayer.LogLayer(transports=ft)
    for i in range(100):
        log.with_metadata({"seq": i}).info("line")
    ft.close()
    files = rotated_files(path)
    assert all(name.endswith(".gz") for name in files[:-1]) and len(files) > 3
    seqs = [json.loads(line)["seq"] for name in files for line in read_lines(name)]
    assert seqs == list(range(100))
    leftovers = [n for n in os.listdir(tmp_path) if "rotated" in n or n.endswith(".tmp")]
    assert leftovers == []


def test_time_rotation(tmp_path):
    path = tmp_path / "app.log"
    ft = FileTransport(path, rotate_when=0.2, time_format=None)
    log = loglayer.LogLayer(transports=ft)
    log.info("before")
    time.sleep(0.25)  # past the next multiple of 0.2 s
    log.info("after")
    ft.close()
    assert read_lines(f"{path}.1") == ['{"level":"info","msg":"before"}']
    assert read_lines(path) == ['{"level":"info","msg":"after"}']


def test_time_rotation_leaves_an_empty_file_alone(tmp_path):
    path = tmp_path / "app.log"
    ft = FileTransport(path, rotate_when=0.2, time_format=None)
    time.sleep(0.25)
    loglayer.LogLayer(transports=ft).info("first")
    ft.close()
    assert not os.path.exists(f"{path}.1")
    assert read_lines(path) == ['{"level":"info","msg":"first"}']


def test_next_rollover():
    now = time.time()
    midnight = _next_rollover("midnight", now)
    assert now < midnight <= now + 86_400 + 3_600
    assert time.localtime(midnight)[3:6] == (0, 0, 0)
    hourly = _next_rollover("hourly", now)
    assert now < hourly <= now + 3_600 * 2
    assert time.localtime(hourly)[4:6] == (0, 0)
    assert _next_rollover(60, 125.0) == 180.0


WRITER_SCRIPT = """
import sys
import loglayer
from loglayer.transports._file import FileTransport
from loglayer.transports._queue import QueueTransport

path, writer, count, rotate, compress, queued = sys.argv[1:7]
ft = FileTransport(path, rotate_bytes=int(rotate), backups=1000, compress=compress == "1")
transport = QueueTransport(ft, max_size=int(count), batch_size=64) if queued == "1" else ft
log = loglayer.LogLayer(transports=transport)
print("ready", flush=True)
sys.stdin.readline()  # start together with the other writers
for i in range(int(count)):
    log.with_metadata({"w": writer, "seq": i}).info("line", "x" * (i % 61))
log.close()
"""


@pytest.mark.slow
@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_rotation_under_concurrent_threads_and_processes_loses_no_line(tmp_path, compress):
    path = tmp_path / "shared.log"
    per_process, per_thread, threads_n = 3000, 1500, 4
    rotate = 8192
    flag = "1" if compress else "0"
    # One process writes line by line, the other through a QueueTransport (batches).
    children = [
        subprocess.Popen([sys.executable, "-c", WRITER_SCRIPT, str(path), f"p{n}",
                          str(per_process), str(rotate), flag, str(n)],
                         env=child_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for n in (0, 1)
    ]
    ft = FileTransport(path, rotate_bytes=rotate, backups=1000, compress=compress)
    log = loglayer.LogLayer(transports=ft)
    for child in children:
        assert child.stdout.readline() == "ready\n"

    def write(writer: str) -> None:
        for i in range(per_thread):
            log.with_metadata({"w": writer, "seq": i}).info("line", "x" * (i % 61))

    threads = [threading.Thread(target=write, args=(f"t{n}",)) for n in range(threads_n)]
    for child in children:
        child.stdin.write("go\n")
        child.stdin.flush()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT * 4)
    for child in children:
        _, err = child.communicate(timeout=WAIT * 4)
        assert child.returncode == 0, err
        assert err == ""
    ft.close()

    files = rotated_files(path)
    assert len(files) > 10, "the test did not rotate"
    by_writer: dict[str, list[int]] = {}
    for name in files:
        for line in read_lines(name):
            record = json.loads(line)  # a torn or interleaved line would not parse
            assert record["msg"] == "line " + "x" * (record["seq"] % 61)
            by_writer.setdefault(record["w"], []).append(record["seq"])
    expected = {f"p{n}": per_process for n in (0, 1)}
    expected.update({f"t{n}": per_thread for n in range(threads_n)})
    assert {w: len(s) for w, s in by_writer.items()} == expected
    for writer, seqs in by_writer.items():  # exactly once, oldest file first
        assert seqs == list(range(expected[writer])), writer
