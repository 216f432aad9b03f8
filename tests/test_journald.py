"""``JournaldTransport`` (issue #12): the native protocol it writes, and a real
systemd-journald reading it.

Fast tests, on both cores: the datagram of an entry (``JournalEncoder``, read back by
``parse_datagram``, which follows journald's own parsing), and the transport sending
to a datagram socket the test binds and reads (the memfd path, its seals, failures,
the fallback, a receiver that restarts or stops reading).

Slow tests: a real ``systemd-journald`` in a private mount namespace
(``tests/_journald.py``), and what ``journalctl -o json`` says it stored: field names,
priorities, the identifier, a 1 MiB value with newlines (passed in a memfd), non-ASCII
text, nested values, the error, many fields, a forked child's ``_PID``, threads, and
nothing lost unreported when journald restarts or stops reading.
"""

from __future__ import annotations

import array
import datetime
import errno
import fcntl
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import loglayer
from _journald import Journald, parse_datagram, value_bytes
from loglayer import LogLevel, TransportError
from loglayer.plugins import redact
from loglayer.testing import TestTransport
from loglayer.transports import JournaldTransport
from loglayer.transports._journald import JournalEncoder, field_name

if not sys.platform.startswith("linux"):
    pytest.skip("the systemd journal (and memfd) are Linux's", allow_module_level=True)

#: What journald takes as a field name a client may set (``journal_field_valid``).
VALID_NAME = re.compile(r"[A-Z][A-Z0-9_]{0,63}")
ALL_SEALS = fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE | fcntl.F_SEAL_SEAL


def entry_of(core, call: Callable[[Any], Any], **config: Any) -> Any:
    """The entry a logger of ``core`` sends for ``call(log)``."""
    tt = TestTransport("tt")
    call(core.LogLayer(transports=[tt], **config))
    return tt.last_line()


def fields_of(core, call: Callable[[Any], Any], **config: Any) -> list[tuple[str, bytes]]:
    """The fields of the datagram a ``JournaldTransport`` sends for ``call(log)``."""
    return parse_datagram(JournalEncoder("test").encode(entry_of(core, call, **config)))


def field_map(fields: list[tuple[str, bytes]]) -> dict[str, bytes]:
    names = [name for name, _ in fields]
    assert len(names) == len(set(names)), names
    return dict(fields)


# -- the datagram ----------------------------------------------------------------------------


def test_identifier_priority_and_message_come_first_then_data_then_metadata(core):
    fields = fields_of(core, lambda log: log.with_fields(svc="api")
                       .with_metadata({"user": "alice", "attempts": 3}).info("hi"))
    assert fields == [("SYSLOG_IDENTIFIER", b"test"), ("PRIORITY", b"6"), ("MESSAGE", b"hi"),
                      ("SVC", b"api"), ("USER", b"alice"), ("ATTEMPTS", b"3")]


@pytest.mark.parametrize(("level", "severity"), [
    (LogLevel.TRACE, b"7"), (LogLevel.DEBUG, b"7"), (LogLevel.INFO, b"6"),
    (LogLevel.WARN, b"4"), (LogLevel.ERROR, b"3"), (LogLevel.FATAL, b"2")])
def test_priority_is_the_syslog_severity_of_the_level(core, level, severity):
    fields = field_map(fields_of(core, lambda log: getattr(log, level.name.lower())("m")))
    assert fields["PRIORITY"] == severity


@pytest.mark.parametrize(("level", "line"), [
    (25, b"PRIORITY=6\n"), (45, b"PRIORITY=3\n"), (99, b"PRIORITY=2\n"), (1, b"PRIORITY=7\n"),
    ("custom", b"")])
def test_priority_of_a_level_outside_the_table(core, level, line):
    """Another int takes the nearest level below; a non-int sends no PRIORITY."""
    entry = core.LogEntry(level, ["m"], {}, None, None, {}, {}, None, 0, None, "err")
    assert JournalEncoder("t").encode(entry) == b"SYSLOG_IDENTIFIER=t\n" + line + b"MESSAGE=m\n"


def test_prefix_and_messages_are_joined_like_a_json_lines_msg(core):
    fields = field_map(fields_of(core, lambda log: log.with_prefix("[db]").info("a", 2, None)))
    assert fields["MESSAGE"] == b"[db] a 2 None"


@pytest.mark.parametrize(("key", "name"), [
    ("user", "USER"),
    ("user-id", "USER_ID"),
    ("http.status code", "HTTP_STATUS_CODE"),
    ("_private", "X__PRIVATE"),  # _ starts the fields only journald may set
    ("9lives", "X_9LIVES"),  # the journal refuses a name starting with a digit
    ("", "X_"),
    ("grüße", "GR_SSE"),  # upper-cased first: ß is SS, Ü is not A-Z
    ("ünïcode", "X__N_CODE"),
    ("message", "X_MESSAGE"),  # the transport's own fields are not overwritten
    ("priority", "X_PRIORITY"),
    ("syslog_identifier", "X_SYSLOG_IDENTIFIER"),
    ("exception_type", "X_EXCEPTION_TYPE"),
    ("more_fields", "X_MORE_FIELDS"),
    ("message_id", "MESSAGE_ID"),  # other journal fields pass through
    ("code_line", "CODE_LINE"),
    ("errno", "ERRNO"),
    ("k" * 80, "K" * 64),
    ("_" + "k" * 80, "X__" + "K" * 61),
])
def test_field_names(key, name):
    assert field_name(key) == name


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_every_key_gets_a_name_journald_takes(key):
    name = field_name(key)
    assert VALID_NAME.fullmatch(name), name


def test_non_str_keys_are_named_by_their_text(core):
    fields = field_map(fields_of(core, lambda log: log.with_metadata({1: "a", None: "b"})
                                 .info("m")))
    assert (fields["X_1"], fields["NONE"]) == (b"a", b"b")


def test_keys_that_get_one_name_are_one_field_with_both_values(core):
    fields = fields_of(core, lambda log: log.with_metadata({"user-id": 1, "user_id": 2})
                       .info("m"))
    assert [pair for pair in fields if pair[0] == "USER_ID"] == [("USER_ID", b"1"),
                                                                ("USER_ID", b"2")]


class Shown:
    def __str__(self) -> str:
        return "shown"


@pytest.mark.parametrize(("value", "sent"), [
    ("plain", b"plain"),
    ("grüße ✓ 日本", "grüße ✓ 日本".encode()),
    ("\udc80", b"\\udc80"),  # a lone surrogate, as JSON lines write it
    (b"\xff\x00raw", b"\xff\x00raw"),  # binary-safe: bytes as they are
    (bytearray(b"ba"), b"ba"),
    (42, b"42"),
    (-1.5, b"-1.5"),
    (True, b"true"),
    (None, b"null"),
    (float("nan"), b"null"),
    (2 ** 70, b"1180591620717411303424"),
    ({"a": [1, "ü"], "b": None}, '{"a":[1,"ü"],"b":null}'.encode()),
    ([1, 2], b"[1,2]"),
    ((1, 2), b"[1,2]"),
    ({1: "non-str key"}, b'{"1":"non-str key"}'),
    (datetime.datetime(2024, 5, 1, 12, 30), b"2024-05-01T12:30:00"),  # unquoted
    (uuid.UUID(int=1), b"00000000-0000-0000-0000-000000000001"),
    (Shown(), b"shown"),
])
def test_values(core, value, sent):
    fields = field_map(fields_of(core, lambda log: log.with_metadata({"v": value}).info("m")))
    assert fields["V"] == sent


def test_an_int_beyond_the_str_digits_limit_is_sent_as_json_lines_write_it(core):
    """Found by the transport contract (#15): ``b"%d" % value`` raised ``ValueError``
    for an int with more digits than ``sys.get_int_max_str_digits()`` allows, and the
    whole entry was lost (a ``TransportError``)."""
    fields = field_map(fields_of(core, lambda log: log.with_metadata(
        {"huge": 10 ** 5000, "n": 7}).info("m")))
    assert (fields["HUGE"], fields["N"]) == (b"<unserializable int>", b"7")


def test_a_value_with_a_newline_is_sent_with_its_length(core):
    payload = JournalEncoder("t").encode(entry_of(
        core, lambda log: log.with_metadata({"text": "a\nb", "after": "x"}).info("one\ntwo")))
    assert b"MESSAGE\n" + struct.pack("<Q", 7) + b"one\ntwo\n" in payload
    assert payload.endswith(b"TEXT\n" + struct.pack("<Q", 3) + b"a\nb\nAFTER=x\n")
    fields = field_map(parse_datagram(payload))
    assert (fields["MESSAGE"], fields["TEXT"]) == (b"one\ntwo", b"a\nb")


def test_a_nested_value_with_a_newline_is_json_text_on_one_line(core):
    fields = field_map(fields_of(core, lambda log: log.with_metadata({"d": {"t": "a\nb"}})
                                 .info("m")))
    assert fields["D"] == b'{"t":"a\\nb"}'


def test_metadata_under_its_key_is_one_json_field(core):
    fields = field_map(fields_of(core, lambda log: log.with_metadata({"a": 1, "b": [2]})
                                 .info("m"), metadata_key="meta"))
    assert json.loads(fields["META"]) == {"a": 1, "b": [2]}


def test_fields_under_fields_key_are_one_json_field(core):
    fields = field_map(fields_of(core, lambda log: log.with_fields(a=1).info("m"),
                                 fields_key="ctx"))
    assert json.loads(fields["CTX"]) == {"a": 1}


def raise_chained() -> None:
    try:
        raise KeyError("inner")
    except KeyError as exc:
        raise ValueError("token secret-42 refused") from exc


def logged_error(core, **config: Any) -> dict[str, bytes]:
    try:
        raise_chained()
    except ValueError as exc:
        error = exc
    return field_map(fields_of(core, lambda log: log.with_error(error).error("failed"),
                               **config))


def test_the_error_is_sent_as_exception_fields(core):
    fields = logged_error(core)
    assert fields["EXCEPTION_TYPE"] == b"ValueError"
    assert fields["EXCEPTION_MESSAGE"] == b"token secret-42 refused"
    traceback = fields["EXCEPTION_TRACEBACK"].decode()
    assert traceback.startswith("Traceback (most recent call last):\n")
    assert "KeyError: 'inner'\n\nThe above exception was the direct cause" in traceback
    assert traceback.endswith("ValueError: token secret-42 refused\n")
    assert "ERR" not in fields  # said in full by the three fields
    assert "ERRNO" not in fields  # never invented


def test_redaction_of_the_error_holds_in_its_fields(core):
    fields = logged_error(core, plugins=[redact(patterns=[r"secret-\d+"])])
    assert fields["EXCEPTION_MESSAGE"] == b"token [REDACTED] refused"
    assert b"secret-42" not in b"".join(fields.values())


def test_an_error_the_fields_do_not_say_in_full_is_sent_too(core):
    fields = field_map(fields_of(
        core, lambda log: log.with_error(OSError(2, "gone")).error("failed"),
        error_serializer=lambda exc: {"type": "OSError", "message": "gone", "errno": 2}))
    assert (fields["EXCEPTION_TYPE"], fields["EXCEPTION_MESSAGE"]) == (b"OSError", b"gone")
    assert json.loads(fields["ERR"]) == {"type": "OSError", "message": "gone", "errno": 2}
    assert "ERRNO" not in fields


def test_an_error_of_another_shape_is_an_ordinary_field(core):
    fields = field_map(fields_of(core, lambda log: log.with_error(ValueError("x")).error("m"),
                                 error_serializer=lambda exc: "just text"))
    assert fields["ERR"] == b"just text"
    assert "EXCEPTION_TYPE" not in fields


def test_an_entry_stays_within_the_journals_field_limit(core):
    metadata = {f"k{i}": i for i in range(1500)}
    fields = fields_of(core, lambda log: log.with_metadata(metadata).info("m"))
    assert len(fields) == 1000
    names = [name for name, _ in fields]
    more = json.loads(dict(fields)["MORE_FIELDS"])
    sent = {name for name in names if name.startswith("K")}
    assert len(sent) + len(more) == 1500
    assert {f"K{i}" for i in range(1500) if f"k{i}" not in more} == sent


def test_source_location_fields_come_from_data(core):
    """A LogEntry has no source location; data named code_* gives the CODE_* fields."""
    fields = field_map(fields_of(core, lambda log: log.with_fields(
        code_file="app.py", code_line=12, code_func="main").info("m")))
    assert (fields["CODE_FILE"], fields["CODE_LINE"], fields["CODE_FUNC"]) == (
        b"app.py", b"12", b"main")
    assert "CODE_FILE" not in field_map(fields_of(core, lambda log: log.info("m")))


def test_an_identifier_with_a_newline_is_sent_with_its_length(core):
    entry = entry_of(core, lambda log: log.info("m"))
    fields = parse_datagram(JournalEncoder("two\nlines").encode(entry))
    assert fields[0] == ("SYSLOG_IDENTIFIER", b"two\nlines")


# -- the transport, against a socket the test reads ----------------------------------------------


@pytest.fixture
def short_dir() -> Iterator[str]:
    """A directory with a short path: a socket's path must fit in 107 bytes."""
    path = tempfile.mkdtemp(prefix="ll-journald-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def bound(path: str) -> socket.socket:
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(path)
    return receiver


@pytest.fixture
def receiver(short_dir) -> Iterator[socket.socket]:
    sock = bound(os.path.join(short_dir, "socket"))
    yield sock
    sock.close()


def receive(receiver: socket.socket) -> tuple[bytes, int | None]:
    """One datagram's payload, as journald reads it: its bytes, or those of the memfd
    passed with it (then with that file's seals)."""
    data, ancillary, _, _ = receiver.recvmsg(1 << 20, socket.CMSG_SPACE(4))
    if not ancillary:
        return data, None
    ((level, kind, raw),) = ancillary
    assert (level, kind, data) == (socket.SOL_SOCKET, socket.SCM_RIGHTS, b"")
    fd = array.array("i", raw)[0]
    try:
        seals = fcntl.fcntl(fd, fcntl.F_GET_SEALS)
        size = os.fstat(fd).st_size
        return os.pread(fd, size, 0), seals
    finally:
        os.close(fd)


def test_each_entry_is_one_datagram(core, receiver):
    transport = JournaldTransport(receiver.getsockname(), identifier="app")
    log = core.LogLayer(transports=[transport])
    log.with_metadata({"n": 1}).warn("first")
    log.info("second")
    first, second = receive(receiver), receive(receiver)
    assert first == (b"SYSLOG_IDENTIFIER=app\nPRIORITY=4\nMESSAGE=first\nN=1\n", None)
    assert second == (b"SYSLOG_IDENTIFIER=app\nPRIORITY=6\nMESSAGE=second\n", None)
    assert transport.stats() == {"failed": 0, "fallback": 0, "memfd": 0}
    transport.close()


def test_an_entry_too_large_for_a_datagram_goes_in_a_sealed_memfd(core, receiver):
    transport = JournaldTransport(receiver.getsockname(), identifier="app")
    big = ("line\n" * 209716)[:1 << 20]  # 1 MiB with newlines
    core.LogLayer(transports=[transport]).with_metadata({"big": big}).info("large")
    payload, seals = receive(receiver)
    assert seals == ALL_SEALS
    assert field_map(parse_datagram(payload))["BIG"] == big.encode()
    assert transport.stats()["memfd"] == 1
    transport.close()


def test_an_absent_socket_fails_at_construction_naming_socket_path(short_dir):
    path = os.path.join(short_dir, "none")
    with pytest.raises(FileNotFoundError) as info:
        JournaldTransport(path)
    assert str(info.value).startswith(f"[Errno {errno.ENOENT}] socket_path: journald is not "
                                      f"listening at {path!r} (No such file or directory); "
                                      "pass fallback=")


def test_a_socket_nobody_reads_fails_at_construction(short_dir):
    path = os.path.join(short_dir, "stale")
    bound(path).close()  # the file stays, nothing is bound to it
    with pytest.raises(ConnectionRefusedError, match="socket_path: journald is not listening"):
        JournaldTransport(path)


@pytest.mark.parametrize(("options", "error", "message"), [
    ({"socket_path": 5}, TypeError, "socket_path must be a path, got int"),
    ({"socket_path": ""}, ValueError, "socket_path must be a non-empty path, got ''"),
    ({"identifier": ""}, ValueError, "identifier must be a non-empty str or None, got ''"),
    ({"identifier": 3}, TypeError, "identifier must be a non-empty str or None, got int"),
    ({"timeout": 0}, ValueError, "timeout must be above 0, got 0"),
    ({"timeout": "1"}, TypeError, "timeout must be a number or None, got str"),
    ({"fallback": "console"}, TypeError, "fallback: a transport must be an object with a "
                                         "send(entry) method"),
])
def test_arguments_are_checked(options, error, message):
    with pytest.raises(error) as info:
        JournaldTransport(**options)
    assert str(info.value).startswith(message), str(info.value)


def test_without_journald_entries_go_to_the_fallback(core, short_dir):
    tt = TestTransport("fallback")
    transport = JournaldTransport(os.path.join(short_dir, "none"), fallback=tt)
    assert transport.using_fallback
    log = core.LogLayer(transports=[transport])
    log.info("one")
    log.warn("two")
    assert [entry.messages for entry in tt.lines] == [["one"], ["two"]]
    assert transport.stats() == {"failed": 0, "fallback": 2, "memfd": 0}
    transport.close()
    assert not transport.using_fallback


def test_a_send_journald_does_not_take_is_reported(core, receiver):
    transport = JournaldTransport(receiver.getsockname())
    errors: list[Exception] = []
    log = core.LogLayer(transports=[transport], on_transport_error=errors.append)
    receiver.close()  # journald is gone; its socket file stays
    log.info("lost")
    (error,) = errors
    assert isinstance(error, TransportError)
    cause = error.__cause__
    assert isinstance(cause, OSError) and cause.errno == errno.ECONNREFUSED
    assert str(cause).startswith(f"[Errno {errno.ECONNREFUSED}] journald at "
                                 f"{transport.socket_path!r} did not take the entry: ")
    assert transport.stats()["failed"] == 1


def test_a_send_journald_does_not_take_goes_to_the_fallback(core, receiver):
    tt = TestTransport("fallback")
    transport = JournaldTransport(receiver.getsockname(), fallback=tt)
    errors: list[Exception] = []
    log = core.LogLayer(transports=[transport], on_transport_error=errors.append)
    receiver.close()
    log.info("rerouted")
    assert errors == []
    assert [entry.messages for entry in tt.lines] == [["rerouted"]]
    assert transport.stats() == {"failed": 1, "fallback": 1, "memfd": 0}
    assert not transport.using_fallback  # journald is tried again at the next entry


def test_a_restarted_journald_is_found_at_the_same_path(core, receiver):
    path = receiver.getsockname()
    transport = JournaldTransport(path, identifier="app")
    errors: list[Exception] = []
    log = core.LogLayer(transports=[transport], on_transport_error=errors.append)
    log.info("before")
    assert receive(receiver)[0].endswith(b"MESSAGE=before\n")
    receiver.close()
    os.unlink(path)
    with bound(path) as restarted:
        log.info("after")
        assert receive(restarted)[0].endswith(b"MESSAGE=after\n")
    assert errors == []


def test_a_full_queue_costs_one_timeout_then_sends_fail_at_once(core, receiver):
    """Nobody reads: the first send that finds the queue full waits ``timeout`` and
    fails; the later ones fail at once (without that, the 100 sends after it would take
    100 s) until one is taken again. Every send is either received or counted."""
    transport = JournaldTransport(receiver.getsockname(), timeout=1.0)
    errors: list[Exception] = []
    log = core.LogLayer(transports=[transport], on_transport_error=errors.append)
    sent = 0
    while not errors:
        assert sent < 100_000, "the queue never filled"
        log.info("fill")
        sent += 1
    started = time.monotonic()
    for _ in range(100):
        log.info("fill")
        sent += 1
    assert time.monotonic() - started < 40  # a termination bound: 100 waits would be 100 s
    assert len(errors) == 101 == transport.stats()["failed"]
    assert all(isinstance(error.__cause__, OSError) and "its queue stayed full for 1.0 s"
               in str(error.__cause__) for error in errors)
    receiver.setblocking(False)
    received = 0
    with pytest.raises(BlockingIOError):
        while True:
            receiver.recv(4096)
            received += 1
    assert received == sent - 101
    receiver.setblocking(True)
    log.info("taken again")
    assert receive(receiver)[0].endswith(b"MESSAGE=taken again\n")
    assert len(errors) == 101
    transport.close()


def test_close_closes_the_socket_and_the_fallback(core, receiver):
    closed: list[str] = []

    class Fallback(TestTransport):
        def close(self) -> None:
            closed.append(self.id)

    transport = JournaldTransport(receiver.getsockname(), fallback=Fallback("fb"))
    errors: list[Exception] = []
    log = core.LogLayer(transports=[transport], on_transport_error=errors.append)
    transport.close()
    log.info("late")
    assert closed == ["fb"]
    (error,) = errors
    assert str(error.__cause__) == "send to a closed JournaldTransport"


def test_the_default_identifier_is_the_programs_name(monkeypatch, short_dir):
    absent = os.path.join(short_dir, "none")

    def identifier(argv: list[str]) -> str:
        monkeypatch.setattr(sys, "argv", argv)
        return JournaldTransport(absent, fallback=TestTransport()).identifier

    interpreter = os.path.basename(sys.executable)
    assert identifier(["/usr/local/bin/billing-worker", "--fast"]) == "billing-worker"
    assert identifier(["/srv/app/tool.py"]) == "tool.py"
    assert identifier(["/srv/app/mypkg/__main__.py"]) == "mypkg"  # python -m mypkg
    assert identifier(["-c"]) == interpreter
    assert identifier([""]) == interpreter
    assert identifier([]) == interpreter
    assert JournaldTransport(absent, identifier="given",
                             fallback=TestTransport()).identifier == "given"


def test_the_transport_is_built_by_name(receiver):
    log = loglayer.from_config({"transports": [{"name": "journald", "options": {
        "socket_path": receiver.getsockname(), "identifier": "cfg"}}]})
    log.info("by name")
    assert receive(receiver) == (b"SYSLOG_IDENTIFIER=cfg\nPRIORITY=6\nMESSAGE=by name\n", None)
    log.close()


# -- a real systemd-journald ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def journald() -> Iterator[Journald]:
    """One daemon for the tests that neither stop nor pause it; each test logs under an
    identifier of its own."""
    with Journald() as daemon:
        yield daemon


def identifier_for(core, name: str) -> str:
    return f"{name}-{core.__name__.rsplit('.', 1)[-1]}-{uuid.uuid4().hex[:8]}"


@pytest.mark.slow
def test_journald_stores_every_field(core, journald):
    ident = identifier_for(core, "fields")
    transport = JournaldTransport(journald.socket_path, identifier=ident)
    log = core.LogLayer(transports=[transport])
    try:
        raise_chained()
    except ValueError as exc:
        error = exc
    log.with_fields(request_id="r-1").with_metadata({
        "user-id": 7, "_private": "p", "9lives": "n", "message": "mine", "text": "a\nb",
        "nested": {"list": [1, "ü"], "none": None}, "raw": b"\xff\x00",
        "grüße": "日本語 ✓", "latency_ms": 12.5, "ok": True,
    }).with_error(error).warn("hello wörld\nsecond line")
    (stored,) = journald.wait_for(1, ident)
    assert stored["SYSLOG_IDENTIFIER"] == ident
    assert stored["_TRANSPORT"] == "journal"
    assert stored["_PID"] == str(os.getpid())
    assert stored["PRIORITY"] == "4"
    assert stored["MESSAGE"] == "hello wörld\nsecond line"
    assert stored["REQUEST_ID"] == "r-1"
    assert stored["USER_ID"] == "7"
    assert stored["X__PRIVATE"] == "p"
    assert stored["X_9LIVES"] == "n"
    assert stored["X_MESSAGE"] == "mine"
    assert stored["TEXT"] == "a\nb"
    assert json.loads(stored["NESTED"]) == {"list": [1, "ü"], "none": None}
    assert value_bytes(stored["RAW"]) == b"\xff\x00"
    assert stored["GR_SSE"] == "日本語 ✓"
    assert (stored["LATENCY_MS"], stored["OK"]) == ("12.5", "true")
    assert stored["EXCEPTION_TYPE"] == "ValueError"
    assert stored["EXCEPTION_MESSAGE"] == "token secret-42 refused"
    assert stored["EXCEPTION_TRACEBACK"].endswith("ValueError: token secret-42 refused\n")
    assert "The above exception was the direct cause" in stored["EXCEPTION_TRACEBACK"]
    assert not {"ERR", "ERRNO", "CODE_FILE"} & set(stored)
    transport.close()


@pytest.mark.slow
def test_journald_stores_the_priority_of_each_level(core, journald):
    ident = identifier_for(core, "levels")
    transport = JournaldTransport(journald.socket_path, identifier=ident)
    log = core.LogLayer(transports=[transport])
    for level in LogLevel:
        getattr(log, level.name.lower())(level.name)
    stored = journald.wait_for(6, ident)
    assert [(entry["MESSAGE"], entry["PRIORITY"]) for entry in stored] == [
        ("TRACE", "7"), ("DEBUG", "7"), ("INFO", "6"), ("WARN", "4"), ("ERROR", "3"),
        ("FATAL", "2")]
    transport.close()


@pytest.mark.slow
def test_journald_takes_a_1mib_value_with_newlines_from_a_memfd(core, journald):
    ident = identifier_for(core, "large")
    transport = JournaldTransport(journald.socket_path, identifier=ident)
    big = ("0123456789abcde\n" * 65536)  # 1 MiB, newlines included
    core.LogLayer(transports=[transport]).with_metadata({"big": big}).info("large")
    (stored,) = journald.wait_for(1, ident)
    assert transport.stats()["memfd"] == 1
    assert stored["MESSAGE"] == "large"
    assert len(stored["BIG"]) == 1 << 20
    assert stored["BIG"] == big
    transport.close()


@pytest.mark.slow
def test_journald_keeps_an_entry_of_many_fields(core, journald):
    """Journald ignores an entry of more than 1024 fields whole (shown with a raw
    datagram); the transport's entry stays within the limit and arrives."""
    ident = identifier_for(core, "many")
    raw = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    fields = b"".join(b"F%d=%d\n" % (i, i) for i in range(1100))
    raw.sendto(b"SYSLOG_IDENTIFIER=%s-raw\nMESSAGE=raw\n" % ident.encode() + fields,
               journald.socket_path)
    raw.close()
    transport = JournaldTransport(journald.socket_path, identifier=ident)
    metadata = {f"k{i}": i for i in range(1500)}
    core.LogLayer(transports=[transport]).with_metadata(metadata).info("many")
    (stored,) = journald.wait_for(1, ident)
    more = json.loads(stored["MORE_FIELDS"])
    assert {key for key in stored if key.startswith("K")} | {key.upper() for key in more} \
        == {f"K{i}" for i in range(1500)}
    assert journald.entries(f"{ident}-raw") == []  # sent before the entry that arrived
    transport.close()


FORK_SCRIPT = textwrap.dedent("""
    import importlib, os
    from loglayer.transports import JournaldTransport
    core = importlib.import_module({core!r})
    transport = JournaldTransport({path!r}, identifier={ident!r})
    log = core.LogLayer(transports=[transport])
    log.info("parent before")
    pid = os.fork()
    if pid == 0:
        log.info("child")
        print(os.getpid(), transport.stats(), flush=True)
        os._exit(0)
    os.waitpid(pid, 0)
    log.info("parent after")
    print(os.getpid(), flush=True)
""")


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_sends_on_the_same_socket_with_its_own_pid(core, journald):
    ident = identifier_for(core, "fork")
    script = FORK_SCRIPT.format(core=core.__name__, path=journald.socket_path, ident=ident)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    child_line, parent_pid = done.stdout.splitlines()
    child_pid, child_stats = child_line.split(" ", 1)
    assert child_stats == "{'failed': 0, 'fallback': 0, 'memfd': 0}"
    stored = journald.wait_for(3, ident)
    assert sorted((entry["MESSAGE"], entry["_PID"]) for entry in stored) == [
        ("child", child_pid), ("parent after", parent_pid), ("parent before", parent_pid)]


@pytest.mark.slow
def test_threads_share_the_transport_and_nothing_is_lost(core, journald):
    ident = identifier_for(core, "threads")
    transport = JournaldTransport(journald.socket_path, identifier=ident, timeout=30.0)
    errors: list[Exception] = []
    log = core.LogLayer(transports=[transport], on_transport_error=errors.append)

    def worker(n: int) -> None:
        for i in range(250):
            log.with_metadata({"thread": n, "i": i}).info("t")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    stored = journald.wait_for(1000, ident)
    assert sorted((int(entry["THREAD"]), int(entry["I"])) for entry in stored) == [
        (n, i) for n in range(4) for i in range(250)]
    transport.close()


@pytest.mark.slow
def test_a_journald_restart_loses_only_what_was_reported(core):
    with Journald() as journald:
        ident = identifier_for(core, "restart")
        transport = JournaldTransport(journald.socket_path, identifier=ident)
        errors: list[Exception] = []
        log = core.LogLayer(transports=[transport], on_transport_error=errors.append)
        log.info("before")
        journald.wait_for(1, ident)
        journald.stop()
        log.info("while stopped")
        assert len(errors) == 1 and isinstance(errors[0], TransportError)
        assert "did not take the entry" in str(errors[0].__cause__)
        journald.start()
        log.info("after")
        stored = journald.wait_for(2, ident)
        assert [entry["MESSAGE"] for entry in stored] == ["before", "after"]
        assert len(errors) == 1 and transport.stats()["failed"] == 1
        transport.close()


@pytest.mark.slow
def test_a_stuck_journald_loses_only_what_was_reported(core):
    """SIGSTOP: journald reads nothing; the queue fills, a send waits ``timeout`` and
    fails, later ones fail at once. After SIGCONT the journal holds exactly the entries
    that were not reported."""
    with Journald() as journald:
        ident = identifier_for(core, "stuck")
        transport = JournaldTransport(journald.socket_path, identifier=ident, timeout=0.5)
        errors: list[Exception] = []
        log = core.LogLayer(transports=[transport], on_transport_error=errors.append)
        journald.pause()
        sent = 0
        while not errors:
            assert sent < 100_000, "the queue never filled"
            log.with_metadata({"n": sent}).info("entry")
            sent += 1
        for _ in range(20):
            log.with_metadata({"n": sent}).info("entry")
            sent += 1
        journald.resume()
        failed = transport.stats()["failed"]
        assert failed == len(errors) >= 21
        stored = journald.wait_for(sent - failed, ident)
        time.sleep(0.5)  # nothing more arrives: the failed sends were never queued
        stored = journald.entries(ident)
        assert len(stored) == sent - failed
        assert len({entry["N"] for entry in stored}) == sent - failed
        transport.close()
