"""Issue #15: every built-in transport keeps the transport contract
(``loglayer.testing.TransportContract``), and the contract itself can fail.

One subclass per built-in transport (and per way of using it that takes another code
path: a stream or a path, JSON or text, rotating or not), each reading back what the
transport really wrote: the stream's text, the file's lines, the records a ``logging``
handler received, the requests an HTTP log store received, the datagrams a socket in
journald's place received, the syslog messages a Unix socket in ``/dev/log``'s place or a
TCP server on loopback received. Runs on the live core; ``make test`` runs the file again
with ``LOGLAYER_NO_EXTENSIONS=1`` for the pure one.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
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
import loglayer.transports
from _logstore import LogStore
from loglayer import LogLevel, Transport
from loglayer.testing import TransportContract, WrittenEntry
from loglayer.transports import (
    BlankTransport,
    ConsoleTransport,
    FileTransport,
    HttpTransport,
    JournaldTransport,
    OtlpTransport,
    QueueTransport,
    StdlibTransport,
    StructuredTransport,
    SyslogTransport,
)
from loglayer.transports._stdlib import RESERVED_KEYS

#: The built-in transports the contract does not run against here, and why (none now).
NOT_COVERED: dict[str, str] = {}

WAIT = 60.0  # a bound on a hang, never a timing


# -- reading back what was written ------------------------------------------------------


def json_entries(lines: list[bytes] | list[str]) -> list[WrittenEntry]:
    """JSON lines (``{"time", "level", "msg", ...}``) as written entries."""
    entries = []
    for line in lines:
        doc = json.loads(line)
        assert isinstance(doc, dict), line
        doc.pop("time", None)
        entries.append(WrittenEntry(message=doc.pop("msg"), level=doc.pop("level"),
                                    error=doc.get("err"), fields=doc, raw=line))
    return entries


_CLOCK = re.compile(r"\d\d:\d\d:\d\d\.\d{3} ")
_LEVEL = re.compile(r"(TRACE|DEBUG|INFO|WARN|ERROR|FATAL) +")
_BARE_KEY = re.compile(r'[^\s="]+')
_BARE_VALUE = re.compile(r"\S+")
_DECODER = json.JSONDecoder()
_TRACEBACK = "Traceback (most recent call last):"


def _pairs(text: str) -> dict[str, Any] | None:
    """`` key=value ...`` as written by the console renderer, or None when ``text`` is
    not made of such pairs. A key or value in quotes is JSON text; the error's value
    (``err=Type: message``) runs to the end of the line."""
    pairs: dict[str, Any] = {}
    at = 0
    try:
        while at < len(text):
            if text[at] != " ":
                return None
            at += 1
            if text.startswith('"', at):
                key, at = _DECODER.raw_decode(text, at)
            else:
                match = _BARE_KEY.match(text, at)
                if match is None:
                    return None
                key, at = match.group(), match.end()
            if not text.startswith("=", at):
                return None
            at += 1
            if key == "err":
                pairs[key], at = text[at:], len(text)
            elif text.startswith(('"', "[", "{"), at):
                value, end = _DECODER.raw_decode(text, at)
                pairs[key] = value if isinstance(value, str) else text[at:end]
                at = end
            else:
                match = _BARE_VALUE.match(text, at)
                if match is None:
                    return None
                pairs[key], at = match.group(), match.end()
    except ValueError:
        return None
    return pairs


def console_entries(text: str, *, clock: bool) -> list[WrittenEntry]:
    """Console lines (``[time ]LEVEL [prefix ]message key=value ...``, then indented
    ``Multiline`` lines or a traceback) as written entries."""
    blocks: list[list[str]] = []
    for line in text.split("\n")[:-1]:
        if line.startswith("    ") and blocks:
            blocks[-1].append(line)
        else:
            blocks.append([line])
    entries = []
    for block in blocks:
        head = block[0]
        if clock:
            match = _CLOCK.match(head)
            assert match is not None, f"no time column: {head!r}"
            head = head[match.end():]
        match = _LEVEL.match(head)
        assert match is not None, f"no level: {head!r}"
        lines, traceback = [head[match.end():]], []
        for line in block[1:]:
            if traceback or line[4:].startswith(_TRACEBACK):
                traceback.append(line[4:])
            else:
                lines.append(line[4:])
        last = lines[-1]
        fields: dict[str, Any] = {}
        for at in [index for index, char in enumerate(last) if char == " "]:
            found = _pairs(last[at:])
            if found is not None:
                fields, lines[-1] = found, last[:at]
                break
        error = fields.get("err")
        if error is not None and traceback:
            error = "\n".join([error, *traceback])
        entries.append(WrittenEntry(message="\n".join(lines), level=match.group(1),
                                    fields=fields, error=error, raw="\n".join(block)))
    return entries


# -- one contract per built-in transport ------------------------------------------------


class BuiltIn(TransportContract):
    """The contract for one of loglayer's own transports (``covers``)."""

    covers: type


class TestConsoleTransport(BuiltIn):
    covers = ConsoleTransport
    not_applicable = {
        "metadata_key": "the console line shows metadata inline as key=value pairs, "
                        "whatever metadata_key says (ConsoleTransport's documented layout)",
    }

    def make_transport(self) -> Any:
        self.out = io.StringIO()
        return ConsoleTransport(self.out, colors=False)

    def read_back(self, transport: Any) -> list[WrittenEntry]:
        return console_entries(self.out.getvalue(), clock=True)


class TestStructuredTransportOnABinaryStream(BuiltIn):
    covers = StructuredTransport

    def make_transport(self) -> Any:
        self.out = io.BytesIO()
        return StructuredTransport(self.out)

    def read_back(self, transport: Any) -> list[WrittenEntry]:
        return json_entries(self.out.getvalue().splitlines())


class TestStructuredTransportOnATextStream(BuiltIn):
    covers = StructuredTransport

    def make_transport(self) -> Any:
        self.out = io.StringIO()
        return StructuredTransport(self.out, time_format="epoch_ns")

    def read_back(self, transport: Any) -> list[WrittenEntry]:
        return json_entries(self.out.getvalue().splitlines())


class TestStructuredTransportToAPath(BuiltIn):
    """The file a StructuredTransport opened itself, written in batches."""

    covers = StructuredTransport

    def make_transport(self) -> Any:
        self.path = self.tmp_path / f"structured-{uuid.uuid4().hex}.jsonl"
        return StructuredTransport(str(self.path))

    def read_back(self, transport: Any) -> list[WrittenEntry]:
        return json_entries(self.path.read_bytes().splitlines())


class TestFileTransportJson(BuiltIn):
    covers = FileTransport

    def make_transport(self) -> Any:
        self.path = self.tmp_path / f"file-{uuid.uuid4().hex}.jsonl"
        return FileTransport(self.path)

    def read_back(self, transport: Any) -> list[WrittenEntry]:
        return json_entries(self.path.read_bytes().splitlines())


class TestFileTransportText(BuiltIn):
    covers = FileTransport
    not_applicable = {
        "metadata_key": "format='text' is the console line, which shows metadata inline "
                        "as key=value pairs whatever metadata_key says",
    }

    def make_transport(self) -> Any:
        self.path = self.tmp_path / f"file-{uuid.uuid4().hex}.log"
        return FileTransport(self.path, format="text", time_format=None)

    def read_back(self, transport: Any) -> list[WrittenEntry]:
        return console_entries(self.path.read_text("utf-8"), clock=False)


class TestFileTransportRotating(BuiltIn):
    """Rotating every 64 KiB: the checks' entries spread over several files, read back
    oldest first (``path.N`` .. ``path.1``, then ``path``)."""

    covers = FileTransport

    def make_transport(self) -> Any:
        self.path = self.tmp_path / f"rotating-{uuid.uuid4().hex}.jsonl"
        return FileTransport(self.path, rotate_bytes=64 * 1024, backups=200)

    def read_back(self, transport: Any) -> list[WrittenEntry]:
        backups = sorted(self.tmp_path.glob(self.path.name + ".*"),
                         key=lambda path: -int(path.suffix[1:]))
        lines = [line for path in [*backups, self.path] for line in
                 path.read_bytes().splitlines()]
        return json_entries(lines)


class TestQueueTransport(BuiltIn):
    """A queue in front of a file: the worker writes batches (``send_batch``)."""

    covers = QueueTransport

    def make_transport(self) -> Any:
        self.path = self.tmp_path / f"queued-{uuid.uuid4().hex}.jsonl"
        self.errors: list[Exception] = []
        return QueueTransport(FileTransport(self.path), on_error=self.errors.append)

    def read_back(self, transport: Any) -> list[WrittenEntry]:
        assert not self.errors, f"the inner transport failed: {self.errors!r}"
        assert transport.dropped == 0
        return json_entries(self.path.read_bytes().splitlines())


class Collect(logging.Handler):
    """Keeps each record it handles."""

    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class TestStdlibTransport(BuiltIn):
    """Into a ``logging.Logger`` of its own: the records its handler received, each
    formatted as a handler would (traceback included) when read back."""

    covers = StdlibTransport

    def make_transport(self) -> Any:
        logger = logging.getLogger("loglayer.contract")
        logger.propagate = False
        logger.setLevel(1)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        self.handler = Collect()
        logger.addHandler(self.handler)
        return StdlibTransport(logger)

    def read_back(self, transport: Any) -> list[WrittenEntry]:
        formatter = logging.Formatter("%(levelname)s %(message)s")
        entries = []
        for record in self.handler.records:
            fields = {key: value for key, value in vars(record).items()
                      if key not in RESERVED_KEYS}
            try:
                text = formatter.format(record)
            except Exception as exc:  # see test_stdlib_record_of_a_hostile_error_...
                text = f"(the record cannot be formatted: {exc!r})"
            error = None
            if record.exc_info or record.exc_text:
                error = text.split("\n", 1)[1] if "\n" in text else text
            entries.append(WrittenEntry(message=record.getMessage(), level=record.levelno,
                                        fields=fields, error=error, raw=text))
        return entries


class TestBlankTransport(BuiltIn):
    """A function given each entry, writing it as the JSON line loglayer renders."""

    covers = BlankTransport

    def make_transport(self) -> Any:
        self.lines: list[bytes] = []
        render = loglayer.StructuredTransport(io.BytesIO()).format.render
        return BlankTransport(lambda entry: self.lines.append(render(entry)))

    def read_back(self, transport: Any) -> list[WrittenEntry]:
        return json_entries(list(self.lines))


class TestHttpTransport(BuiltIn):
    """NDJSON batches POSTed to the local log store of ``tests/_logstore.py``."""

    covers = HttpTransport

    @pytest.fixture(autouse=True)
    def _store(self) -> Iterator[None]:
        with LogStore() as store:
            self.store = store
            yield

    def make_transport(self) -> Any:
        return HttpTransport(self.store.url + "/ingest", compression="none",
                             retry_initial=0.01, retry_max=0.05)

    def read_back(self, transport: Any) -> list[WrittenEntry]:
        stats = transport.stats()
        assert stats["dropped"] == 0 and stats["pending"] == 0, stats
        assert all(request.status == 200 for request in self.store.requests)
        return json_entries([line for body in self.store.bodies
                             for line in body.splitlines() if line])


_SEVERITIES = {1: LogLevel.TRACE, 5: LogLevel.DEBUG, 9: LogLevel.INFO, 13: LogLevel.WARN,
               17: LogLevel.ERROR, 21: LogLevel.FATAL}
_EXCEPTION_ATTRIBUTES = ("exception.type", "exception.message", "exception.stacktrace")


def any_value(value: dict) -> Any:
    """An OTLP/JSON ``AnyValue`` as the Python value it holds (proto3 JSON leaves out
    an empty key or value)."""
    if not value:
        return None
    (kind, held), = value.items()
    if kind == "intValue":
        return int(held)
    if kind == "arrayValue":
        return [any_value(item) for item in held.get("values", [])]
    if kind == "kvlistValue":
        return {pair.get("key", ""): any_value(pair.get("value", {}))
                for pair in held.get("values", [])}
    return held  # stringValue, boolValue, doubleValue, bytesValue (base64)


class TestOtlpTransport(BuiltIn):
    """OTLP/HTTP with JSON bodies, POSTed to the local log store, each log record read
    back from the request (the protobuf encoding and a real collector are
    test_otlp_transport.py's)."""

    covers = OtlpTransport

    @pytest.fixture(autouse=True)
    def _store(self) -> Iterator[None]:
        with LogStore() as store:
            self.store = store
            yield

    def make_transport(self) -> Any:
        return OtlpTransport(self.store.url + "/v1/logs", protocol="http/json",
                             compression="none", retry_initial=0.01, retry_max=0.05)

    def read_back(self, transport: Any) -> list[WrittenEntry]:
        stats = transport.stats()
        assert stats["dropped"] == 0 and stats["pending"] == 0, stats
        entries = []
        for request in self.store.requests:
            assert request.status == 200
            for resource in request.json()["resourceLogs"]:
                for scope in resource["scopeLogs"]:
                    for record in scope["logRecords"]:
                        fields = {pair.get("key", ""): any_value(pair.get("value", {}))
                                  for pair in record.get("attributes", [])}
                        error = "\n".join(str(fields.pop(name)) for name in
                                          _EXCEPTION_ATTRIBUTES if name in fields)
                        entries.append(WrittenEntry(
                            message=any_value(record.get("body", {})) or "",
                            level=_SEVERITIES[record["severityNumber"]], fields=fields,
                            error=error or None, raw=record))
        return entries


_PRIORITIES = {"7": LogLevel.DEBUG, "6": LogLevel.INFO, "4": LogLevel.WARN,
               "3": LogLevel.ERROR, "2": LogLevel.FATAL}
_EXCEPTION_FIELDS = ("EXCEPTION_TYPE", "EXCEPTION_MESSAGE", "EXCEPTION_TRACEBACK")


class DatagramSocket:
    """A Unix datagram socket in a daemon's place (journald's, syslog's ``/dev/log``),
    read by a thread (a datagram socket's queue is short: a writer would wait on a
    reader that only reads at the end). ``receive(sock)`` reads one datagram as
    ``(payload, anything)``: journald's may come as a memfd."""

    def __init__(self, path: str, receive: Any = None) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.receive = receive or (lambda sock: (sock.recv(1 << 20), None))
        self.payloads: list[bytes] = []
        self.marks: set[bytes] = set()
        self.changed = threading.Condition()
        self.thread = threading.Thread(target=self._read, name="datagram-socket",
                                       daemon=True)
        self.thread.start()

    def _read(self) -> None:
        while True:
            payload, _ = self.receive(self.sock)
            with self.changed:
                if payload.startswith(b"\0mark "):
                    self.marks.add(payload)
                    if payload == b"\0mark stop":
                        return
                else:
                    self.payloads.append(payload)
                self.changed.notify_all()

    def _mark(self, mark: bytes) -> None:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
            sender.sendto(mark, self.path)

    def sync(self) -> list[bytes]:
        """Every payload sent before this call (datagrams arrive in order)."""
        mark = b"\0mark " + uuid.uuid4().hex.encode()
        self._mark(mark)
        with self.changed:
            assert self.changed.wait_for(lambda: mark in self.marks, WAIT)
            return list(self.payloads)

    def close(self) -> None:
        self._mark(b"\0mark stop")
        self.thread.join(WAIT)
        self.sock.close()


class TestJournaldTransport(BuiltIn):
    """Datagrams of journald's native protocol, received by a socket at the path
    journald would listen on and parsed as journald parses them."""

    covers = JournaldTransport
    # syslog severities: DEBUG and TRACE are both 7 (debug)
    level_aliases = {LogLevel.TRACE: LogLevel.DEBUG}

    @pytest.fixture(autouse=True)
    def _socket(self) -> Iterator[None]:
        if not sys.platform.startswith("linux"):
            pytest.skip("the systemd journal is Linux's")
        from test_journald import receive

        directory = tempfile.mkdtemp(prefix="ll-contract-")  # a socket path is short
        self.journal = DatagramSocket(os.path.join(directory, "socket"), receive)
        yield
        self.journal.close()
        shutil.rmtree(directory, ignore_errors=True)

    def make_transport(self) -> Any:
        return JournaldTransport(self.journal.path, identifier="contract")

    def field_name(self, key: str) -> str:
        return key.upper()

    def read_back(self, transport: Any) -> list[WrittenEntry]:
        from _journald import parse_datagram

        assert transport.stats()["failed"] == 0, transport.stats()
        entries = []
        for payload in self.journal.sync():
            fields = {name: value.decode("utf-8", "backslashreplace")
                      for name, value in parse_datagram(payload)}
            fields.pop("SYSLOG_IDENTIFIER")
            error = "\n".join(fields[name] for name in _EXCEPTION_FIELDS if name in fields)
            entries.append(WrittenEntry(
                message=fields.pop("MESSAGE"), level=_PRIORITIES.get(fields.pop("PRIORITY")),
                fields=fields, error=error or None, raw=payload))
        return entries


# Syslog: the messages a receiver in rsyslog's place got, parsed as RFC 5424 (or 3164)
# says. Severities: TRACE and DEBUG are both 7 (debug), FATAL is 2 (critical).
_SEVERITIES_SYSLOG = {7: LogLevel.DEBUG, 6: LogLevel.INFO, 4: LogLevel.WARN,
                      3: LogLevel.ERROR, 2: LogLevel.FATAL}
_SD_ID = "contract@32473"
_RFC5424_HEAD = re.compile(r"<(\d{1,3})>1 \S+ \S+ \S+ \S+ \S+ ")
_RFC3164_HEAD = re.compile(r"<(\d{1,3})>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \S+ [^\s\[]+\[\d+\]: ")


def sd_element(text: str, at: int) -> tuple[dict[str, str], int]:
    """The SD-PARAMs of the SD-ELEMENT ``[id name="value" ...]`` at ``text[at]``, values
    unescaped (RFC 5424 §6.3.3: ``\\"``, ``\\\\``, ``\\]``), and where it ends.
    IndexError or ValueError when it is not whole."""
    if text[at] != "[":
        raise ValueError(f"no SD-ELEMENT at {at}")
    at = min(i for i in (text.find(" ", at), text.find("]", at)) if i >= 0)
    params: dict[str, str] = {}
    while text[at] == " ":
        equals = text.index("=", at)
        name, at = text[at + 1:equals], equals + 1
        if text[at] != '"':
            raise ValueError(f"no opening quote at {at}")
        at += 1
        chars = []
        while text[at] != '"':
            if text[at] == "\\" and text[at + 1] in '"\\]':
                at += 1
            chars.append(text[at])
            at += 1
        params[name] = "".join(chars)
        at += 1
    if text[at] != "]":
        raise ValueError(f"no closing bracket at {at}")
    return params, at + 1


def syslog_entry(raw: bytes, *, one_line: bool) -> WrittenEntry:
    """One syslog message (RFC 5424, or 3164 with the element after the text) as a
    written entry. ``one_line``: the transport escaped line breaks (``\\n``), as it
    does over datagrams: they are unescaped, as a reader of the log would."""
    text = raw.decode("utf-8", "backslashreplace")
    fields: dict[str, str] = {}
    head = _RFC5424_HEAD.match(text)
    if head is not None:
        at = head.end()
        if text.startswith("-", at):
            at += 1
        else:
            fields, at = sd_element(text, at)
        message = text[at + 1:].removeprefix("\ufeff")  # after the space: the MSG
    else:
        head = _RFC3164_HEAD.match(text)
        assert head is not None, f"neither RFC 5424 nor 3164: {raw[:200]!r}"
        message = text[head.end():]
        element = message.find(" [" + _SD_ID)
        if element >= 0:
            with contextlib.suppress(IndexError, ValueError):  # an element cut short
                fields, _ = sd_element(message, element + 1)
            message = message[:element]
    if one_line:
        message = message.replace("\\n", "\n")
    return WrittenEntry(message=message, level=_SEVERITIES_SYSLOG[int(head.group(1)) % 8],
                        fields=fields, error=fields.get("err"), raw=raw)


class SyslogContract(BuiltIn):
    covers = SyslogTransport
    level_aliases = {LogLevel.TRACE: LogLevel.DEBUG}
    options: dict[str, Any] = {}

    def make_transport(self) -> Any:
        return SyslogTransport(self.address, app_name="contract", hostname="contract-host",
                               sd_id=_SD_ID, **self.options)

    def read_back(self, transport: Any) -> list[WrittenEntry]:
        stats = transport.stats()
        assert stats["dropped"] == 0 and stats["pending"] == 0, stats
        one_line = transport.formatter.one_line
        return [syslog_entry(raw, one_line=one_line) for raw in self.received(stats)]


class TestSyslogTransportUnix(SyslogContract):
    """RFC 5424 datagrams on a Unix socket in ``/dev/log``'s place (UDP is the same
    wire, but loses datagrams a slow reader did not take in time)."""

    options = {"protocol": "unix"}

    @pytest.fixture(autouse=True)
    def _socket(self) -> Iterator[None]:
        directory = tempfile.mkdtemp(prefix="ll-contract-")  # a socket path is short
        self.log_socket = DatagramSocket(os.path.join(directory, "log"))
        self.address = self.log_socket.path
        yield
        self.log_socket.close()
        shutil.rmtree(directory, ignore_errors=True)

    def received(self, stats: dict) -> list[bytes]:
        return self.log_socket.sync()


class TestSyslogTransportRfc3164(TestSyslogTransportUnix):
    """RFC 3164 (BSD syslog) on the Unix socket: the fields follow the text."""

    options = {"protocol": "unix", "format": "rfc3164"}


class StreamReceiver:
    """A TCP server on loopback in rsyslog's place: each connection read by a thread
    and cut into RFC 6587 octet-counted frames."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.05)
        self.address = self.server.getsockname()
        self.frames: list[bytes] = []
        self.changed = threading.Condition()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._accept, name="syslog-accept",
                                         daemon=True)]
        self.threads[0].start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                connection, _ = self.server.accept()
            except TimeoutError:
                continue
            thread = threading.Thread(target=self._read, args=(connection,),
                                      name="syslog-connection", daemon=True)
            self.threads.append(thread)
            thread.start()

    def _read(self, connection: socket.socket) -> None:
        buffer = bytearray()
        connection.settimeout(0.05)
        with connection:
            while not self.stop.is_set():
                try:
                    chunk = connection.recv(1 << 16)
                except TimeoutError:
                    continue
                if not chunk:
                    return
                buffer += chunk
                while (space := buffer.find(b" ")) >= 0:
                    end = space + 1 + int(buffer[:space])
                    if len(buffer) < end:
                        break
                    with self.changed:
                        self.frames.append(bytes(buffer[space + 1:end]))
                        self.changed.notify_all()
                    del buffer[:end]

    def wait(self, count: int) -> list[bytes]:
        """The frames received, once there are ``count`` of them."""
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.frames) >= count, WAIT), (
                f"{count} entries delivered, {len(self.frames)} received")
            return list(self.frames)

    def close(self) -> None:
        self.stop.set()
        for thread in list(self.threads):
            thread.join(WAIT)
        self.server.close()


class TestSyslogTransportTcp(SyslogContract):
    """RFC 5424 over TCP, octet-counted: line breaks travel as they are."""

    options = {"protocol": "tcp"}

    @pytest.fixture(autouse=True)
    def _server(self) -> Iterator[None]:
        self.receiver = StreamReceiver()
        self.address = self.receiver.address
        yield
        self.receiver.close()

    def received(self, stats: dict) -> list[bytes]:
        # delivered: acknowledged by loopback's TCP, so in the receiver's socket
        return self.receiver.wait(stats["delivered"])


BUILT_INS = [cls for cls in list(globals().values())
             if isinstance(cls, type) and issubclass(cls, BuiltIn) and cls is not BuiltIn]


# -- the contract as a whole ----------------------------------------------------------


def test_every_built_in_transport_runs_the_contract():
    covered = {cls.covers.__name__ for cls in BUILT_INS}
    names = set(loglayer.transports.__all__)
    assert covered | set(NOT_COVERED) == names, (
        f"without a contract here: {sorted(names - covered - set(NOT_COVERED))}")
    assert not covered & set(NOT_COVERED)


class _Example:
    """The logfmt example of ``TransportContract``'s docstring, as code."""

    @staticmethod
    def namespace() -> dict[str, Any]:
        doc = TransportContract.__doc__ or ""
        code = textwrap.dedent(doc.split("and its contract::\n", 1)[1])
        namespace: dict[str, Any] = {"__name__": "contract_example"}
        exec(compile(code, "TransportContract docstring", "exec"), namespace)
        return namespace


def test_the_docstring_example_keeps_the_contract():
    contract = _Example.namespace()["TestLogfmtTransport"]
    assert contract.run() == {
        **dict.fromkeys(TransportContract.CHECKS, "passed"),
        "metadata_key": "not applicable: logfmt is flat: metadata is written inline",
        "tracebacks": "not applicable: one line per entry: the error is its type and "
                      "message",
    }


class Careless(Transport):
    """A transport with the mistakes the contract is there to catch: it joins messages
    with commas, forgets the prefix, places only dict metadata and ignores
    ``metadata_key``, never writes the error, calls ``str()`` on everything unguarded,
    writes a line in pieces (which threads may or may not interleave in a given run),
    and refuses a second ``close()``."""

    def __init__(self) -> None:
        super().__init__("careless")
        self.out = io.StringIO()
        self.closed = False

    def send(self, entry: Any) -> None:
        doc = {"level": entry.level.name, "msg": ",".join(map(str, entry.messages))}
        doc.update(entry.data)
        doc.pop("err", None)
        if isinstance(entry.metadata, dict):
            doc.update({str(key): str(value) for key, value in entry.metadata.items()})
        line = json.dumps(doc, default=str) + "\n"
        for at in range(0, len(line), 64):
            self.out.write(line[at:at + 64])

    def close(self) -> None:
        if self.closed:
            raise RuntimeError("already closed")
        self.closed = True


class CarelessContract(TransportContract):
    not_applicable = {"multiline": "(a reason)"}

    def make_transport(self) -> Any:
        self.transport = Careless()
        return self.transport

    def read_back(self, transport: Any) -> list[WrittenEntry]:
        entries = []
        for line in transport.out.getvalue().splitlines():
            try:
                doc = json.loads(line)
            except ValueError:
                doc = {"msg": line, "level": "INFO"}
            entries.append(WrittenEntry(message=str(doc.pop("msg", "")), level=doc.pop(
                "level", None), fields=doc, error=doc.get("err"), raw=line))
        return entries


def test_the_contract_fails_a_transport_that_breaks_it():
    with pytest.raises(AssertionError) as failed:
        CarelessContract.run()
    report = str(failed.value)
    failing = re.findall(r"^(\w+) \(test_", report, re.M)
    expected = ["messages", "prefix", "metadata", "metadata_key", "errors", "tracebacks",
                "hostile", "flush_close"]
    assert failing in (expected, [*expected, "threads"]), report
    assert "multiline" not in failing  # declared not applicable: not run
    assert "took,42,ms,,1.5,None,True" in report  # each failure says what it saw
    assert "the logger reported" in report  # a str() that raised: a TransportError
    assert "flush_close (test_flush_and_close_may_be_called_twice): RuntimeError: already " \
           "closed" in report


class SharedState(Transport):
    """Writes each entry with the metadata of the entry sent before it when it is not
    on the main thread: state kept between calls, the kind of mistake that shows only
    when several threads log, made deterministic here."""

    def __init__(self) -> None:
        super().__init__("shared-state")
        self.out = io.StringIO()
        self.last: Any = None

    def send(self, entry: Any) -> None:
        metadata = entry.metadata
        if threading.current_thread() is not threading.main_thread():
            metadata, self.last = self.last, metadata
        out = loglayer.StructuredTransport(self.out, time_format=None)
        out.send(loglayer.LogEntry(entry.level, entry.messages, entry.data, metadata,
                                   entry.error, entry.fields, entry.ctx, entry.prefix,
                                   entry.time_ns, entry.metadata_key))


class SharedStateContract(TransportContract):
    def make_transport(self) -> Any:
        return SharedState()

    def read_back(self, transport: Any) -> list[WrittenEntry]:
        return json_entries(transport.out.getvalue().splitlines())


def test_the_threads_check_fails_entries_whose_fields_are_not_their_own():
    with pytest.raises(AssertionError) as failed:
        SharedStateContract.run()
    report = str(failed.value)
    assert re.findall(r"^(\w+) \(test_", report, re.M) == ["threads"], report
    assert "no field 'writer' (for the key 'writer') was written" in report or \
        "'writer' was logged as" in report, report


@pytest.mark.parametrize(("declared", "message"), [
    ({"metadata_keys": "typo"}, "names no check: 'metadata_keys'"),
    ({"metadata_key": ""}, "must be the reason, a non-empty str"),
    ({"metadata_key": None}, "must be the reason, a non-empty str"),
])
def test_not_applicable_must_name_a_check_and_give_a_reason(declared, message):
    with pytest.raises(TypeError, match=re.escape(message)):
        type("Contract", (TransportContract,), {"not_applicable": declared})


def test_a_check_that_does_not_apply_is_reported_by_pytest_with_its_reason(tmp_path):
    (tmp_path / "test_example.py").write_text(textwrap.dedent("""
        import io
        import json

        from loglayer import StructuredTransport
        from loglayer.testing import TransportContract, WrittenEntry


        class TestJsonLines(TransportContract):
            not_applicable = {"threads": "this sink is for one thread only",
                              "hostile": "sanitized upstream"}

            def make_transport(self):
                self.out = io.BytesIO()
                return StructuredTransport(self.out)

            def read_back(self, transport):
                docs = [json.loads(line) for line in self.out.getvalue().splitlines()]
                return [WrittenEntry(message=doc.pop("msg"), level=doc.pop("level"),
                                     error=doc.get("err"), fields=doc) for doc in docs]
    """))
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
         "-W", "error", "test_example.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "10 passed, 2 skipped" in result.stdout, result.stdout
    assert ("not applicable to TestJsonLines: this sink is for one thread only"
            in result.stdout), result.stdout
    assert "not applicable to TestJsonLines: sanitized upstream" in result.stdout


# -- what the contract found ------------------------------------------------------------


class _HostileError(Exception):
    """Every attribute lookup raises (a broken proxy), ``__notes__`` included."""

    def __getattribute__(self, name: str) -> Any:
        raise RuntimeError(f"no {name}")


def test_stdlib_record_of_a_hostile_error_is_written_by_a_formatting_handler(capsys):
    logger = logging.getLogger("loglayer.contract.hostile-error")
    logger.propagate = False
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger.addHandler(handler)
    failures: list[Exception] = []
    log = loglayer.LogLayer(transports=StdlibTransport(logger),
                            on_transport_error=failures.append)
    try:
        try:
            raise _HostileError("boom")
        except _HostileError as exc:
            log.with_error(exc).error("failed")
    finally:
        logger.removeHandler(handler)
    capsys.readouterr()  # logging's "--- Logging error ---" report, when it fails
    assert failures == []
    assert stream.getvalue().startswith("ERROR failed\n"), stream.getvalue()
    assert "_HostileError: boom" in stream.getvalue()
