"""``JournaldTransport(queued=True)`` (issue #12): the call queues, the delivery engine's
worker sends the same datagrams.

Fast tests, on both cores, against a datagram socket the test binds and reads: the
datagrams are the ones sent at the call, in order; ``stats()`` accounts for every
accepted entry (``accepted == delivered + dropped + pending`` at each step); a journald
that is gone or restarts is retried and nothing is lost or sent twice; a stuck one
costs what ``close()``'s deadline says, counted; the memfd path; an entry journald can
never take, or that cannot be encoded, is dropped alone, counted; the options.

Slow tests: a real ``systemd-journald`` (``tests/_journald.py``) stores what the worker
sent, across a restart of the daemon mid-stream, and from a forked child.

Nothing here asserts how long something took; waits have generous bounds.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

import loglayer
from _journald import Journald, parse_datagram
from loglayer.testing import TestTransport
from loglayer.transports import JournaldTransport
from loglayer.transports import _journald as journald_module

if not sys.platform.startswith("linux"):
    pytest.skip("the systemd journal (and memfd) are Linux's", allow_module_level=True)

WAIT = 30.0


def balanced(transport: JournaldTransport) -> dict[str, int]:
    """``transport.stats()``, checked to account for every accepted entry."""
    stats = transport.stats()
    assert stats["accepted"] == stats["delivered"] + stats["dropped"] + stats["pending"], stats
    return stats


@pytest.fixture
def short_dir() -> Iterator[str]:
    """A directory with a short path: a socket's path must fit in 107 bytes."""
    path = tempfile.mkdtemp(prefix="ll-jq-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def bound(path: str) -> socket.socket:
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(path)
    receiver.settimeout(WAIT)
    return receiver


@pytest.fixture
def receiver(short_dir) -> Iterator[socket.socket]:
    sock = bound(os.path.join(short_dir, "socket"))
    yield sock
    sock.close()


def messages(receiver: socket.socket, count: int) -> list[bytes]:
    """The MESSAGE of each of the next ``count`` datagrams."""
    return [dict(parse_datagram(receiver.recv(1 << 20)))["MESSAGE"] for _ in range(count)]


class Reader(threading.Thread):
    """Reads ``count`` datagrams' MESSAGEs as they come, as journald does: a datagram
    socket holds only a few unread datagrams (``net.unix.max_dgram_qlen``) before a
    sender waits, so a flush() cannot finish before somebody reads."""

    def __init__(self, receiver: socket.socket, count: int) -> None:
        super().__init__(daemon=True)
        self.receiver = receiver
        self.count = count
        self.got: list[bytes] = []
        self.start()

    def run(self) -> None:
        self.got = messages(self.receiver, self.count)

    def result(self) -> list[bytes]:
        self.join(WAIT)
        assert not self.is_alive(), f"received {len(self.got)} of {self.count}"
        return self.got


def test_the_worker_sends_the_datagrams_sent_at_the_call(core, receiver) -> None:
    path = receiver.getsockname()
    at_call = JournaldTransport(path, identifier="app")
    queued = JournaldTransport(path, identifier="app", queued=True)

    def log_all(transport: JournaldTransport) -> None:
        log = core.LogLayer(transports=[transport])
        log.with_metadata({"n": 1, "text": "a\nb", "nested": {"k": [1, "ü"]}}).warn("first")
        log.with_fields(request="r1").info("second")
        log.error("third")

    log_all(at_call)
    sent_at_call = [receiver.recv(1 << 20) for _ in range(3)]
    log_all(queued)
    assert queued.flush(WAIT) is True
    assert [receiver.recv(1 << 20) for _ in range(3)] == sent_at_call
    assert balanced(queued) == {"accepted": 3, "delivered": 3, "dropped": 0, "retried": 0,
                                "pending": 0, "buffered_bytes": 0, "memfd": 0,
                                "reconnects": 0}
    assert queued.close() is True
    at_call.close()


def test_the_call_only_queues(core, receiver) -> None:
    """With the worker's batch not due (a long interval, a large batch), nothing is sent
    until flush(): the call returned having queued the entry."""
    transport = JournaldTransport(receiver.getsockname(), queued=True, flush_interval=3600.0,
                                  max_batch_entries=1000)
    log = core.LogLayer(transports=[transport])
    for i in range(20):
        log.info(f"m{i}")
    receiver.setblocking(False)
    with pytest.raises(BlockingIOError):
        receiver.recv(1 << 20)
    assert balanced(transport)["pending"] == 20
    receiver.settimeout(WAIT)
    reader = Reader(receiver, 20)
    assert transport.flush(WAIT)
    assert reader.result() == [f"m{i}".encode() for i in range(20)]
    assert balanced(transport)["delivered"] == 20
    transport.close()


def test_close_delivers_what_was_queued(core, receiver) -> None:
    transport = JournaldTransport(receiver.getsockname(), queued=True, flush_interval=3600.0)
    log = core.LogLayer(transports=[transport])
    for i in range(5):
        log.info(f"m{i}")
    assert transport.close(WAIT) is True
    assert messages(receiver, 5) == [f"m{i}".encode() for i in range(5)]
    assert balanced(transport)["delivered"] == 5
    errors: list[Exception] = []
    core.LogLayer(transports=[transport], on_transport_error=errors.append).info("late")
    assert len(errors) == 1 and "closed" in str(errors[0].__cause__)


def test_a_gone_journald_is_retried_until_it_is_back(core, short_dir) -> None:
    """journald stops (its socket is gone): the batch is retried with backoff, nothing
    dropped; a new socket at the path takes the entries, each once, in order."""
    path = os.path.join(short_dir, "socket")
    first = bound(path)
    transport = JournaldTransport(path, queued=True, retry_initial=0.01, retry_max=0.05)
    log = core.LogLayer(transports=[transport])
    log.info("before")
    assert transport.flush(WAIT)
    assert messages(first, 1) == [b"before"]
    first.close()
    os.unlink(path)
    for i in range(10):
        log.info(f"while gone {i}")
    assert not transport.flush(0.5)  # not deliverable yet
    stats = balanced(transport)
    assert stats["retried"] > 0 and stats["dropped"] == 0 and stats["pending"] == 10
    with bound(path) as restarted:
        reader = Reader(restarted, 10)
        assert transport.flush(WAIT)
        assert reader.result() == [f"while gone {i}".encode() for i in range(10)]
        restarted.setblocking(False)
        with pytest.raises(BlockingIOError):  # nothing twice
            restarted.recv(1 << 20)
    stats = balanced(transport)
    assert (stats["delivered"], stats["dropped"], stats["reconnects"]) == (11, 0, 1)
    transport.close()


def test_a_stuck_journald_costs_what_close_says(core, receiver) -> None:
    """Nobody reads: the socket's queue fills, each attempt waits ``timeout`` and is
    retried; close()'s deadline drops the rest, counted. What was taken arrives, once
    and in order: at least what ``delivered`` says (the batch the deadline cut counts
    as dropped whole, the engine's rule: delivered never claims more than arrived)."""
    transport = JournaldTransport(receiver.getsockname(), queued=True, timeout=0.2,
                                  retry_initial=0.01, retry_max=0.05)
    log = core.LogLayer(transports=[transport])
    for i in range(500):
        log.info(f"m{i}")
    assert not transport.flush(1.0)
    assert balanced(transport)["retried"] > 0
    assert transport.close(0.5) is False
    stats = balanced(transport)
    assert stats["pending"] == 0 and stats["dropped"] > 0
    receiver.setblocking(False)
    received = []
    with pytest.raises(BlockingIOError):
        while True:
            received.append(dict(parse_datagram(receiver.recv(1 << 20)))["MESSAGE"])
    assert stats["delivered"] <= len(received) <= stats["delivered"] + 512
    assert received == [f"m{i}".encode() for i in range(len(received))]


def test_a_large_entry_goes_in_a_memfd(core, receiver) -> None:
    transport = JournaldTransport(receiver.getsockname(), queued=True)
    big = "x" * (1 << 20)
    core.LogLayer(transports=[transport]).with_metadata({"big": big}).info("large")
    assert transport.flush(WAIT)
    from test_journald import receive

    payload, seals = receive(receiver)
    assert seals is not None and dict(parse_datagram(payload))["BIG"] == big.encode()
    assert balanced(transport)["memfd"] == 1
    transport.close()


def test_an_entry_journald_can_never_take_is_dropped_alone(core, receiver,
                                                           monkeypatch) -> None:
    monkeypatch.setattr(journald_module, "_ENTRY_MAX", 300 << 10)
    drops: list[int] = []
    transport = JournaldTransport(receiver.getsockname(), queued=True, on_drop=drops.append,
                                  on_error=lambda exc: None)
    log = core.LogLayer(transports=[transport])
    log.info("one")
    log.with_metadata({"big": "y" * (400 << 10)}).info("too large")
    log.info("two")
    assert transport.flush(WAIT)
    assert messages(receiver, 2) == [b"one", b"two"]
    stats = balanced(transport)
    assert (stats["delivered"], stats["dropped"], stats["memfd"]) == (2, 1, 0)
    assert drops == [1]
    transport.close()


def test_an_entry_that_cannot_be_encoded_is_dropped_alone(core, receiver,
                                                          monkeypatch) -> None:
    value = journald_module._value

    class Unencodable:
        pass

    def failing(item: Any) -> bytes:
        if isinstance(item, Unencodable):
            raise RuntimeError("no")
        return value(item)

    monkeypatch.setattr(journald_module, "_value", failing)
    errors: list[Exception] = []
    transport = JournaldTransport(receiver.getsockname(), queued=True,
                                  on_error=errors.append)
    log = core.LogLayer(transports=[transport])
    log.info("a")
    log.with_metadata({"v": Unencodable()}).info("bad")
    log.info("b")
    assert transport.flush(WAIT)
    assert messages(receiver, 2) == [b"a", b"b"]
    assert balanced(transport)["dropped"] == 1
    assert "could not be encoded: RuntimeError: no" in str(errors[0])
    transport.close()


def test_threads_share_the_queue_and_nothing_is_lost(core, receiver) -> None:
    transport = JournaldTransport(receiver.getsockname(), queued=True)
    log = core.LogLayer(transports=[transport])
    reader = Reader(receiver, 800)

    def worker(n: int) -> None:
        for i in range(200):
            log.info(f"{n}-{i}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert transport.flush(WAIT)
    got = reader.result()
    assert sorted(got) == sorted(f"{n}-{i}".encode() for n in range(4) for i in range(200))
    for n in range(4):  # each thread's entries in its order
        mine = [m for m in got if m.startswith(f"{n}-".encode())]
        assert mine == [f"{n}-{i}".encode() for i in range(200)]
    assert balanced(transport)["delivered"] == 800
    transport.close()


def test_without_journald_entries_go_to_the_fallback_at_the_call(core, short_dir) -> None:
    tt = TestTransport("fallback")
    transport = JournaldTransport(os.path.join(short_dir, "none"), queued=True, fallback=tt)
    assert transport.using_fallback
    core.LogLayer(transports=[transport]).info("one")
    assert [entry.messages for entry in tt.lines] == [["one"]]
    assert transport.stats() == {"failed": 0, "fallback": 1, "memfd": 0}
    assert transport.close() is True


@pytest.mark.parametrize(("options", "error", "message"), [
    ({"queued": 1}, TypeError, "queued must be a bool, got int"),
    ({"max_buffer_entries": 10}, TypeError,
     "max_buffer_entries: the delivery engine's options are for queued=True"),
    ({"queued": True, "flush_interval": 0}, ValueError, "flush_interval must be above 0"),
    ({"queued": True, "batch": 3}, TypeError, "batch"),
])
def test_options_are_checked(receiver, options, error, message) -> None:
    with pytest.raises(error, match=message):
        JournaldTransport(receiver.getsockname(), **options)


def test_repr_and_configuration_by_name(receiver) -> None:
    transport = JournaldTransport(receiver.getsockname(), queued=True, id="j")
    path = receiver.getsockname()
    assert repr(transport) == f"<JournaldTransport id='j' socket_path={path!r} queued>"
    transport.close()
    log = loglayer.from_config({"transports": [{"name": "journald", "options": {
        "socket_path": receiver.getsockname(), "identifier": "cfg", "queued": True,
        "flush_interval": 0.05}}]})
    log.info("by name")
    assert messages(receiver, 1) == [b"by name"]
    log.close()


# -- a real systemd-journald ---------------------------------------------------------------


def identifier_for(core: Any, name: str) -> str:
    return f"q{name}-{core.__name__.rsplit('.', 1)[-1]}-{uuid.uuid4().hex[:8]}"


@pytest.mark.slow
def test_journald_stores_what_the_worker_sent_across_a_restart(core) -> None:
    """journald stopped mid-stream and started again: every entry is stored once."""
    with Journald() as journald:
        ident = identifier_for(core, "restart")
        transport = JournaldTransport(journald.socket_path, identifier=ident, queued=True,
                                      retry_initial=0.05, retry_max=0.2)
        log = core.LogLayer(transports=[transport])
        for i in range(100):
            log.with_metadata({"n": i}).info("entry")
        assert transport.flush(WAIT)
        journald.wait_for(100, ident)
        journald.stop()
        for i in range(100, 200):
            log.with_metadata({"n": i}).info("entry")
        journald.start()
        for i in range(200, 300):
            log.with_metadata({"n": i}).info("entry")
        assert transport.flush(60.0)
        stored = journald.wait_for(300, ident)
        assert sorted(int(entry["N"]) for entry in stored) == list(range(300))
        stats = balanced(transport)
        assert (stats["delivered"], stats["dropped"]) == (300, 0)
        assert transport.close() is True


FORK_SCRIPT = textwrap.dedent("""
    import importlib, os
    from loglayer.transports import JournaldTransport
    core = importlib.import_module({core!r})
    transport = JournaldTransport({path!r}, identifier={ident!r}, queued=True)
    log = core.LogLayer(transports=[transport])
    log.info("parent before")
    pid = os.fork()
    if pid == 0:
        log.info("child")
        transport.flush(30)
        print(os.getpid(), transport.stats()["delivered"], flush=True)
        os._exit(0)
    os.waitpid(pid, 0)
    log.info("parent after")
    transport.close(30)
    print(os.getpid(), transport.stats()["delivered"], flush=True)
""")


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_queues_and_sends_its_own(core) -> None:
    with Journald() as journald:
        ident = identifier_for(core, "fork")
        script = FORK_SCRIPT.format(core=core.__name__, path=journald.socket_path,
                                    ident=ident)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        done = subprocess.run([sys.executable, "-c", script], capture_output=True,
                              text=True, env=env, timeout=120)
        assert done.returncode == 0, done.stderr
        child_line, parent_line = done.stdout.splitlines()
        child_pid, child_delivered = child_line.split()
        parent_pid, parent_delivered = parent_line.split()
        assert (child_delivered, parent_delivered) == ("1", "2")
        stored = journald.wait_for(3, ident)
        assert sorted((entry["MESSAGE"], entry["_PID"]) for entry in stored) == [
            ("child", child_pid), ("parent after", parent_pid),
            ("parent before", parent_pid)]

