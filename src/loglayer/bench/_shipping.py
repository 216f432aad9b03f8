"""``python -m loglayer.bench --shipping``: loglayer's network transports against the
pipelines people ship logs with today.

Pairs, each logging the same entry (S3's message and five fields) to a local receiver:

* OTLP: ``LogLayer`` with ``OtlpTransport(protocol="http/protobuf")`` against the
  OpenTelemetry SDK's ``LoggingHandler`` on a stdlib logger, feeding
  ``BatchLogRecordProcessor`` and ``OTLPLogExporter`` (http/protobuf);
* HTTP: ``LogLayer`` with ``HttpTransport(encoding="ndjson")`` against the stdlib's
  ``QueueHandler`` + ``QueueListener`` + ``HTTPHandler``;
* syslog over UDP and over TCP: ``SyslogTransport`` against the stdlib's
  ``SysLogHandler`` (``SOCK_DGRAM``, ``SOCK_STREAM``), both to a real ``rsyslogd``
  (started for the suite, one input per side) and counted in the files it writes;
  syslog over RELP, acknowledged, loglayer alone (no stdlib peer speaks RELP);
* journald: ``JournaldTransport`` against the stdlib's ``SysLogHandler`` on a local
  datagram socket (as to ``/dev/log``), both to sockets of the receiver process; the
  transport twice, ``queued=True`` (the delivery engine's worker sends) and as it is
  by default (each entry sent at the call), both against the one stdlib side.
  python-systemd's ``JournalHandler`` would be the better peer, but it writes only to
  ``/run/systemd/journal/socket``, where the suite cannot count what arrives; it is not
  used. The stdlib handlers get a format that carries the five fields too
  (``%(message)s user=%(user)s ...``), so that both sides send the same data.

The figures, and why they are taken this way:

* Caller cost per log call: a burst of ``calls`` log statements, pasted into a loop
  as the harness does (``_runner.compile_case``), timed on the logging thread. The
  headline figure is that thread's CPU time per call (``time.thread_time_ns``): the
  workers run during the burst and, under the GIL, take turns with the caller, so the
  wall time per call (shown too) also holds whatever share of its worker the caller
  waited through. Every queue is configured to hold the whole burst, so nothing
  blocks or drops and no side is timed while it waits for room.
* Delivered records/s: from the burst's first call until the receiver has counted
  every record of it, after ``flush()`` / ``force_flush()`` / the listener's queue
  drained. Taken in the same rounds as the caller cost.
* Memory per buffered entry: with the sender paused (a batch size and interval that
  never trigger a send; the stdlib's listener not started), ``buffered`` entries are
  logged under ``tracemalloc``; what stays allocated, divided by their number, is the
  memory one waiting entry costs. They are then delivered and counted like the rest.

Every side is set up once and measured in interleaved rounds (round ``r`` starts
with side ``r mod n``), so drift on a shared machine spreads over all of them; the
figures are medians over rounds and the ratios compare figures of this one run.

The receiver is a ``ThreadingHTTPServer`` (HTTP/1.1, keep-alive) in a child process
of its own, so that decoding what it receives does not compete for the benchmark's
GIL. It answers ``/v1/logs`` with an empty ``ExportLogsServiceResponse`` and
everything else with an empty 200, and counts the records that carry the message
and every field: OTLP log records (gunzipped when sent so), ndjson lines, and one per
``HTTPHandler`` request; the same process reads two local datagram sockets (the
journald pair) and counts the datagrams that carry them. The syslog pairs' receiver
is ``rsyslogd -n`` (when installed; else those pairs are skipped with a note), with
a UDP, a TCP (``SysLogHandler``'s NUL-terminated messages: ``AddtlFrameDelimiter="0"``)
and a RELP input per side, each writing ``%msg%`` lines to a file whose lines holding
the message are counted. A side whose records are not all counted fails its round.
"""

from __future__ import annotations

import contextlib
import gc
import gzip
import http.server
import importlib
import itertools
import multiprocessing
import os
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import threading
import time
import tracemalloc
import urllib.parse
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._runner import Progress, compile_case, machine_info, python_info
from ._scenarios import FIELDS, MESSAGE, Case, Unavailable, literal_source

__all__ = [
    "Receiver",
    "ShippingResult",
    "missing_requirements",
    "run_shipping",
    "shipping_json",
    "shipping_markdown",
]

#: The receiver's counters, one per kind of record it counts.
OTLP, NDJSON, FORM, JOURNAL, DEVLOG = 0, 1, 2, 3, 4
_COUNTERS = 5
#: Records counted in rsyslogd's output files: one input (and file) per side.
RSYSLOG_INPUTS = ("udp_ours", "udp_stdlib", "tcp_ours", "tcp_stdlib", "relp_ours")
SYSLOG_UDP, SYSLOG_UDP_STDLIB, SYSLOG_TCP, SYSLOG_TCP_STDLIB, SYSLOG_RELP = range(
    10, 10 + len(RSYSLOG_INPUTS))
OTLP_PATH = "/v1/logs"
NDJSON_PATH = "/ndjson"
FORM_PATH = "/form"
#: How long a flush plus the receiver's count may take before a round fails.
DELIVERY_TIMEOUT = 120.0
#: The size loglayer's delivery engine and the SDK's processor give their queues when
#: the burst is smaller: loglayer's default buffer.
MIN_CAPACITY = 20_000

_LOGLAYER_STMT = f"log.with_metadata({literal_source(FIELDS)}).info({MESSAGE!r})"
_STDLIB_STMT = f"logger.info({MESSAGE!r}, extra={literal_source(FIELDS)})"


def missing_requirements() -> str | None:
    """What the suite cannot run without and is not installed (None: all there):
    opentelemetry-proto (the receiver decodes OTLP, OtlpTransport encodes it) and
    urllib3 (loglayer's HTTP client). The peers are optional: a missing one is skipped
    with a note."""
    missing = []
    for module, dist in (("opentelemetry.proto.collector.logs.v1.logs_service_pb2",
                          "opentelemetry-proto"), ("urllib3", "urllib3")):
        try:
            importlib.import_module(module)
        except ImportError:
            missing.append(dist)
    return ", ".join(missing) or None


# ---------------------------------------------------------------------------------------
# The receiver


def _read_datagrams(sock: socket.socket, counts: Any, kind: int, lock: threading.Lock,
                    marks: list[bytes]) -> None:
    """Count the datagrams arriving at ``sock`` that carry every one of ``marks``
    (compared in lower case: journald's field names are upper case)."""
    while True:
        data = sock.recv(1 << 20).lower()
        if all(mark in data for mark in marks):
            with lock:
                counts[kind] += 1


def _serve(counts: Any, conn: Any, directory: str) -> None:
    """The receiver process: serve HTTP on a free port of 127.0.0.1 and read the
    datagram sockets ``journal.sock`` and ``devlog.sock`` in ``directory``; send the
    addresses through ``conn``, and add every counted record to ``counts[kind]`` until
    terminated."""
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
        ExportLogsServiceRequest,
        ExportLogsServiceResponse,
    )

    lock = threading.Lock()
    otlp_reply = ExportLogsServiceResponse().SerializeToString()
    keys = frozenset(FIELDS)
    line_marks = [MESSAGE.encode()] + [f'"{key}"'.encode() for key in FIELDS]
    form_marks = [urllib.parse.urlencode({"msg": MESSAGE}).encode()] + [
        urllib.parse.urlencode({key: value}).encode()
        for key, value in FIELDS.items() if isinstance(value, str)]

    def otlp_records(body: bytes) -> int:
        request = ExportLogsServiceRequest.FromString(body)
        return sum(1 for resource in request.resource_logs for scope in resource.scope_logs
                   for record in scope.log_records
                   if record.body.string_value == MESSAGE
                   and keys <= {kv.key for kv in record.attributes})

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.headers.get("Content-Encoding", "").lower() == "gzip":
                body = gzip.decompress(body)
            path = self.path.split("?", 1)[0]
            reply, content_type = b"", "text/plain"
            kind = -1
            if path == OTLP_PATH:
                kind, count = OTLP, otlp_records(body)
                reply, content_type = otlp_reply, "application/x-protobuf"
            elif path == NDJSON_PATH:
                kind = NDJSON
                count = sum(1 for line in body.splitlines()
                            if all(mark in line for mark in line_marks))
            elif path == FORM_PATH:
                kind, count = FORM, int(all(mark in body for mark in form_marks))
            if kind >= 0:
                with lock:
                    counts[kind] += count
            self._answer(reply, content_type)

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            self._answer(b"", "text/plain")

        do_PUT = do_GET

        def _answer(self, body: bytes, content_type: str) -> None:
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: one line per request would swamp stderr."""

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    datagram_marks = [MESSAGE.lower().encode()] + [key.lower().encode() for key in FIELDS]
    paths = {}
    for name, kind in (("journal", JOURNAL), ("devlog", DEVLOG)):
        path = os.path.join(directory, f"{name}.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        # a burst of datagrams waits in the socket while this process catches up
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 20)
        paths[name] = path
        threading.Thread(target=_read_datagrams, args=(sock, counts, kind, lock,
                                                       datagram_marks), daemon=True).start()
    conn.send({"port": server.server_address[1], **paths})
    conn.close()
    server.serve_forever(poll_interval=0.5)


def _free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _listening(ports: list[int]) -> bool:
    """Whether each of ``ports`` has a listening TCP socket on 127.0.0.1 (read from
    ``/proc/net/tcp``: a probe connection would be a message in rsyslogd's log)."""
    wanted = {f"0100007F:{port:04X}" for port in ports}
    with open("/proc/net/tcp") as table:
        next(table)
        listening = {fields[1] for fields in map(str.split, table) if fields[3] == "0A"}
    return wanted <= listening


class Rsyslogd:
    """``rsyslogd -n`` on loopback with one input per syslog side (``RSYSLOG_INPUTS``),
    each writing ``%msg%`` lines to a file of its own; ``count(name)`` counts the
    lines holding the message, reading each file from where it stopped."""

    def __init__(self, directory: Path, start_timeout: float) -> None:
        binary = shutil.which("rsyslogd") or next(
            (path for path in ("/usr/sbin/rsyslogd",) if os.path.exists(path)), None)
        if binary is None:
            raise Unavailable("rsyslogd is not installed (make deps installs rsyslog and "
                              "rsyslog-relp)")
        if not os.path.exists("/proc/net/tcp"):
            raise Unavailable("no /proc/net/tcp to see rsyslogd listen (not Linux)")
        directory.mkdir(parents=True)
        self.directory = directory
        self.ports = {name: _free_port(socket.SOCK_DGRAM if name.startswith("udp")
                                       else socket.SOCK_STREAM) for name in RSYSLOG_INPUTS}
        self.files = {name: directory / f"{name}.log" for name in RSYSLOG_INPUTS}
        self.read = {name: (0, 0) for name in RSYSLOG_INPUTS}  # (offset, count)
        self.lock = threading.Lock()
        self.mark = MESSAGE.encode()
        rulesets = "".join(
            f'ruleset(name="{name}") {{ action(type="omfile" file="{self.files[name]}" '
            f'template="msgline") }}\n' for name in RSYSLOG_INPUTS)
        ports = self.ports
        (directory / "rsyslog.conf").write_text(f"""\
global(workDirectory="{directory}" maxMessageSize="64k")
module(load="imudp")
module(load="imtcp" maxSessions="100")
module(load="imrelp")
template(name="msgline" type="string" string="%msg%\\n")
{rulesets}
input(type="imudp" address="127.0.0.1" port="{ports['udp_ours']}" ruleset="udp_ours"
      rcvBufSize="64m")
input(type="imudp" address="127.0.0.1" port="{ports['udp_stdlib']}" ruleset="udp_stdlib"
      rcvBufSize="64m")
input(type="imtcp" address="127.0.0.1" port="{ports['tcp_ours']}" ruleset="tcp_ours")
input(type="imtcp" address="127.0.0.1" port="{ports['tcp_stdlib']}" ruleset="tcp_stdlib"
      AddtlFrameDelimiter="0")
input(type="imrelp" address="127.0.0.1" port="{ports['relp_ours']}" ruleset="relp_ours")
""")
        self.log = open(directory / "rsyslogd.log", "wb")  # noqa: SIM115 - closed in close()
        self.process = subprocess.Popen(
            [binary, "-n", "-f", str(directory / "rsyslog.conf"),
             "-i", str(directory / "rsyslogd.pid")],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True)
        streams = [ports[name] for name in ("tcp_ours", "tcp_stdlib", "relp_ours")]
        deadline = time.monotonic() + start_timeout
        while not _listening(streams):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.close()
                log = (directory / "rsyslogd.log").read_text(errors="replace")[-2000:]
                raise Unavailable(f"rsyslogd did not start: {log}")
            time.sleep(0.02)

    def address(self, name: str) -> tuple[str, int]:
        return ("127.0.0.1", self.ports[name])

    def count(self, name: str) -> int:
        """Lines holding the message that rsyslogd wrote for input ``name``."""
        with self.lock:
            offset, count = self.read[name]
            try:
                with open(self.files[name], "rb") as file:
                    file.seek(offset)
                    data = file.read()
            except FileNotFoundError:
                return 0
            end = data.rfind(b"\n") + 1  # a line being written waits for the next read
            count += data.count(self.mark, 0, end)
            self.read[name] = (offset + end, count)
            return count

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


class Receiver:
    """The local receiver (see the module docstring), started in a child process by
    ``multiprocessing``'s spawn method (a fresh interpreter: no thread of this one is
    forked). ``count(kind)`` reads its counters through shared memory."""

    def __init__(self, start_timeout: float = 60.0, syslog: bool = True) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.counts = ctx.RawArray("q", _COUNTERS)
        self.directory = tempfile.mkdtemp(prefix="loglayer-bench-")
        self.rsyslog: Rsyslogd | None = None
        self.rsyslog_missing = "not started"
        ours, theirs = ctx.Pipe(duplex=False)
        self.process = ctx.Process(target=_serve,
                                   args=(self.counts, theirs, self.directory),
                                   name="loglayer-bench-receiver", daemon=True)
        self.process.start()
        theirs.close()
        try:
            if not ours.poll(start_timeout):
                raise RuntimeError(f"the receiver did not listen within {start_timeout:g} s")
            try:
                addresses: dict[str, Any] = ours.recv()
            except EOFError:
                self.process.join(5)
                raise RuntimeError(f"the receiver exited before it listened (exit code "
                                   f"{self.process.exitcode})") from None
            if syslog:
                try:
                    self.rsyslog = Rsyslogd(Path(self.directory) / "rsyslog", start_timeout)
                except Unavailable as exc:
                    self.rsyslog_missing = str(exc)
        except BaseException:
            self.close()
            raise
        finally:
            ours.close()
        self.port: int = addresses["port"]
        self.journal_socket: str = addresses["journal"]
        self.devlog_socket: str = addresses["devlog"]
        self.url = f"http://127.0.0.1:{self.port}"

    def count(self, kind: int) -> int:
        """Records of ``kind`` counted so far."""
        if kind >= SYSLOG_UDP:
            if self.rsyslog is None:
                return 0
            return self.rsyslog.count(RSYSLOG_INPUTS[kind - SYSLOG_UDP])
        return int(self.counts[kind])

    def wait_for(self, kind: int, target: int, timeout: float) -> bool:
        """Wait until ``target`` records of ``kind`` are counted; False on timeout."""
        deadline = time.monotonic() + timeout
        while self.count(kind) < target:
            if time.monotonic() > deadline or not self.process.is_alive():
                return False
            time.sleep(0.0005 if kind < SYSLOG_UDP else 0.001)
        return True

    def close(self) -> None:
        """Stop the receiver process and rsyslogd; remove their files."""
        if self.rsyslog is not None:
            self.rsyslog.close()
        if self.process.is_alive():
            self.process.terminate()
        self.process.join(10)
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> Receiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------------------------------
# The sides


@dataclass
class Side:
    """One pipeline, set up against the receiver: the statement a caller writes, how
    to deliver what it buffered, and how to take it down."""

    stmt: str
    namespace: dict[str, Any]
    flush: Callable[[], None]
    close: Callable[[], None]
    note: str


#: ``make(receiver, capacity, paused) -> Side``: ``capacity`` entries must fit in its
#: queue; ``paused`` sets it up so that nothing is sent before ``flush``.
Make = Callable[["Receiver", int, bool], Side]


@dataclass(frozen=True)
class Pipeline:
    """A contender of the suite: its name, which pair it belongs to, whether it is
    loglayer, the receiver counter its records land in, and how it is made."""

    name: str
    pair: str  # a key of _PAIRS
    loglayer: bool
    kind: int
    make: Make
    memory: bool = True  # whether memory per buffered entry is measured


def _loglayer_side(transport: Any, note: str) -> Side:
    import loglayer

    log = loglayer.LogLayer(transports=[transport])

    def flush() -> None:
        if not transport.flush(DELIVERY_TIMEOUT):
            raise RuntimeError("flush() timed out")
        stats = transport.stats()
        if stats["dropped"]:
            raise RuntimeError(f"{type(transport).__name__} dropped {stats['dropped']} "
                               f"entries: {stats}")

    return Side(_LOGLAYER_STMT, {"log": log}, flush, lambda: transport.close(5.0), note)


def _delivery_options(capacity: int, paused: bool) -> dict[str, Any]:
    """The engine's options for a burst of ``capacity``: the defaults, with a buffer
    large enough; paused, batches and an interval that never send on their own."""
    options: dict[str, Any] = {"max_buffer_entries": capacity}
    if paused:
        options.update(max_buffer_entries=2 * capacity, max_batch_entries=2 * capacity,
                       flush_interval=3600.0)
    return options


def _loglayer_otlp(receiver: Receiver, capacity: int, paused: bool) -> Side:
    from loglayer.transports import OtlpTransport

    url = receiver.url

    options = _delivery_options(capacity, paused)
    transport = OtlpTransport(url + OTLP_PATH, protocol="http/protobuf", **options)
    return _loglayer_side(transport, "OtlpTransport(protocol=\"http/protobuf\"), its "
                          f"defaults (batches of 512, no compression), "
                          f"max_buffer_entries={options['max_buffer_entries']:,}")


def _loglayer_http(receiver: Receiver, capacity: int, paused: bool) -> Side:
    from loglayer.transports import HttpTransport

    url = receiver.url

    options = _delivery_options(capacity, paused)
    transport = HttpTransport(url + NDJSON_PATH, encoding="ndjson", **options)
    return _loglayer_side(transport, "HttpTransport(encoding=\"ndjson\"), its defaults "
                          "(batches of 1,000, gzip), "
                          f"max_buffer_entries={options['max_buffer_entries']:,}")


_names = itertools.count()


def _stdlib_logger(handler: Any) -> Any:
    """A fresh stdlib logger at INFO with ``handler`` only (nothing propagates)."""
    import logging

    logger = logging.getLogger(f"loglayer.bench.shipping.{next(_names)}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    return logger


def _sdk_otlp(receiver: Receiver, capacity: int, paused: bool) -> Side:
    url = receiver.url
    try:
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
        from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
        from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
    except ImportError as exc:
        raise Unavailable(f"the OpenTelemetry SDK or its OTLP/HTTP exporter is not "
                          f"installed ({exc})") from exc
    options: dict[str, Any] = {"max_queue_size": capacity}
    if paused:
        options = {"max_queue_size": 2 * capacity, "max_export_batch_size": 2 * capacity,
                   "schedule_delay_millis": 3_600_000}
    provider = LoggerProvider()
    provider.add_log_record_processor(
        BatchLogRecordProcessor(OTLPLogExporter(endpoint=url + OTLP_PATH), **options))
    with warnings.catch_warnings():  # the SDK's handler is deprecated, not yet replaced
        warnings.simplefilter("ignore", DeprecationWarning)
        handler = LoggingHandler(logger_provider=provider)
    logger = _stdlib_logger(handler)

    def flush() -> None:
        if not provider.force_flush(int(DELIVERY_TIMEOUT * 1000)):
            raise RuntimeError("force_flush() failed")

    def close() -> None:
        logger.removeHandler(handler)
        provider.shutdown()

    return Side(_STDLIB_STMT, {"logger": logger}, flush, close,
                "LoggingHandler on a stdlib logger -> BatchLogRecordProcessor(max_queue_size="
                f"{options['max_queue_size']:,}, otherwise defaults: batches of 512) -> "
                "OTLPLogExporter (http/protobuf, no compression)")


def _stdlib_http(receiver: Receiver, capacity: int, paused: bool) -> Side:
    import logging.handlers
    import queue

    url = receiver.url

    records: queue.Queue[Any] = queue.Queue(-1)
    sender = logging.handlers.HTTPHandler(url.removeprefix("http://"), FORM_PATH,
                                          method="POST")
    listener = logging.handlers.QueueListener(records, sender)
    front = logging.handlers.QueueHandler(records)
    logger = _stdlib_logger(front)
    started = not paused
    if started:
        listener.start()

    def flush() -> None:
        nonlocal started
        if not started:
            listener.start()
            started = True
        records.join()

    def close() -> None:
        logger.removeHandler(front)
        if started:
            listener.stop()
        sender.close()

    return Side(_STDLIB_STMT, {"logger": logger}, flush, close,
                "QueueHandler(Queue(-1), unbounded) on a stdlib logger -> QueueListener -> "
                "HTTPHandler(method=\"POST\"): one form-encoded request per record")


#: The stdlib handlers' format for the syslog and journald pairs: the message and the
#: five fields, as loglayer's side sends them.
_FIELDS_FORMAT = "%(message)s " + " ".join(f"{key}=%({key})s" for key in FIELDS)


def _rsyslogd(receiver: Receiver) -> Rsyslogd:
    if receiver.rsyslog is None:
        raise Unavailable(f"no rsyslogd to receive: {receiver.rsyslog_missing}")
    return receiver.rsyslog


def _loglayer_syslog(protocol: str, name: str) -> Make:
    def make(receiver: Receiver, capacity: int, paused: bool) -> Side:
        from loglayer.transports import SyslogTransport

        options = _delivery_options(capacity, paused)
        transport = SyslogTransport(_rsyslogd(receiver).address(name), protocol=protocol,
                                    app_name="bench", **options)
        return _loglayer_side(transport, f"SyslogTransport(protocol=\"{protocol}\"), its "
                              "defaults (RFC 5424, the fields as structured data, batches "
                              f"of 512), max_buffer_entries={options['max_buffer_entries']:,}")

    return make


def _stdlib_side(handler: Any, note: str) -> Side:
    """A stdlib logger on ``handler``, which sends at the call (nothing to flush)."""
    import logging

    handler.setFormatter(logging.Formatter(_FIELDS_FORMAT))
    logger = _stdlib_logger(handler)

    def close() -> None:
        logger.removeHandler(handler)
        handler.close()

    return Side(_STDLIB_STMT, {"logger": logger}, handler.flush, close, note)


def _stdlib_syslog(socktype: socket.SocketKind, name: str) -> Make:
    def make(receiver: Receiver, capacity: int, paused: bool) -> Side:
        import logging.handlers

        handler = logging.handlers.SysLogHandler(_rsyslogd(receiver).address(name),
                                                 socktype=socktype)
        handler.ident = "bench: "  # a TAG, so that rsyslog's MSG is the message
        kind = "SOCK_DGRAM" if socktype == socket.SOCK_DGRAM else "SOCK_STREAM"
        return _stdlib_side(handler, f"SysLogHandler(socktype={kind}) on a stdlib logger, "
                            f"format {_FIELDS_FORMAT!r}; it sends at the call")

    return make


def _loglayer_journald_queued(receiver: Receiver, capacity: int, paused: bool) -> Side:
    from loglayer.transports import JournaldTransport

    options = _delivery_options(capacity, paused)
    transport = JournaldTransport(receiver.journal_socket, identifier="bench", queued=True,
                                  **options)
    return _loglayer_side(transport, "JournaldTransport(socket_path=<the receiver's "
                          "socket>, queued=True): the journal's native protocol, sent by "
                          "the delivery engine's worker (batches of 512), "
                          f"max_buffer_entries={options['max_buffer_entries']:,}")


def _loglayer_journald(receiver: Receiver, capacity: int, paused: bool) -> Side:
    import loglayer
    from loglayer.transports import JournaldTransport

    transport = JournaldTransport(receiver.journal_socket, identifier="bench")
    log = loglayer.LogLayer(transports=[transport])

    def flush() -> None:  # it sends at the call: only check that journald took all
        stats = transport.stats()
        if stats["failed"]:
            raise RuntimeError(f"JournaldTransport failed {stats['failed']} sends: {stats}")

    def close() -> None:
        transport.close()

    return Side(_LOGLAYER_STMT, {"log": log}, flush, close,
                "JournaldTransport(socket_path=<the receiver's socket>): the journal's "
                "native protocol, sent at the call")


def _stdlib_devlog(receiver: Receiver, capacity: int, paused: bool) -> Side:
    import logging.handlers

    handler = logging.handlers.SysLogHandler(receiver.devlog_socket)
    return _stdlib_side(handler, "SysLogHandler(<the receiver's socket>), as to /dev/log "
                        "(python-systemd's JournalHandler sends only to "
                        f"/run/systemd/journal/socket), format {_FIELDS_FORMAT!r}")


PIPELINES: tuple[Pipeline, ...] = (
    Pipeline("loglayer OtlpTransport", "otlp", True, OTLP, _loglayer_otlp),
    Pipeline("OTel SDK (LoggingHandler + BatchLogRecordProcessor + OTLPLogExporter)",
             "otlp", False, OTLP, _sdk_otlp),
    Pipeline("loglayer HttpTransport (ndjson)", "http", True, NDJSON, _loglayer_http),
    Pipeline("stdlib (QueueHandler + QueueListener + HTTPHandler)", "http", False, FORM,
             _stdlib_http),
    Pipeline("loglayer SyslogTransport (UDP)", "syslog-udp", True, SYSLOG_UDP,
             _loglayer_syslog("udp", "udp_ours"), memory=False),
    Pipeline("stdlib SysLogHandler (UDP)", "syslog-udp", False, SYSLOG_UDP_STDLIB,
             _stdlib_syslog(socket.SOCK_DGRAM, "udp_stdlib"), memory=False),
    Pipeline("loglayer SyslogTransport (TCP)", "syslog-tcp", True, SYSLOG_TCP,
             _loglayer_syslog("tcp", "tcp_ours"), memory=False),
    Pipeline("stdlib SysLogHandler (TCP)", "syslog-tcp", False, SYSLOG_TCP_STDLIB,
             _stdlib_syslog(socket.SOCK_STREAM, "tcp_stdlib"), memory=False),
    Pipeline("loglayer SyslogTransport (RELP, acknowledged)", "syslog-relp", True,
             SYSLOG_RELP, _loglayer_syslog("relp", "relp_ours"), memory=False),
    Pipeline("loglayer JournaldTransport (queued=True)", "journald", True, JOURNAL,
             _loglayer_journald_queued, memory=False),
    Pipeline("stdlib SysLogHandler (local datagram socket)", "journald", False, DEVLOG,
             _stdlib_devlog, memory=False),
    Pipeline("loglayer JournaldTransport (sent at the call, the default)", "journald-call",
             True, JOURNAL, _loglayer_journald, memory=False),
)

_PAIRS = {"otlp": "OTLP", "http": "HTTP ndjson", "syslog-udp": "syslog over UDP",
          "syslog-tcp": "syslog over TCP", "syslog-relp": "syslog over RELP",
          "journald": "journald queued", "journald-call": "journald at the call"}
#: A pair without a peer of its own, and the pair whose peer it is measured against.
_PEER_OF = {"journald-call": "journald"}


# ---------------------------------------------------------------------------------------
# Measuring


@dataclass
class SideResult:
    """One pipeline's figures: per-round lists, the memory per buffered entry, how
    many records it logged and how many the receiver counted, and what went wrong."""

    pipeline: Pipeline
    note: str = ""
    caller_cpu_ns: list[float] = field(default_factory=list)
    caller_wall_ns: list[float] = field(default_factory=list)
    delivered_per_s: list[float] = field(default_factory=list)
    memory_bytes: float | None = None
    expected: int = 0
    counted: int = 0
    skipped: str | None = None
    problem: str | None = None

    @property
    def measured(self) -> bool:
        """Whether its figures stand: it ran, and the receiver counted every record."""
        return self.skipped is None and self.problem is None


@dataclass
class ShippingResult:
    """The suite's results, its settings, and the versions of what it ran."""

    sides: list[SideResult]
    calls: int
    rounds: int
    buffered: int
    versions: dict[str, str | None]
    core: str
    seconds: float = 0.0


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def _deliver(side: Side, pipeline: Pipeline, receiver: Receiver, before: int, n: int,
             result: SideResult) -> None:
    """Flush ``side``, wait until the receiver has counted the ``n`` records logged
    since its count was ``before``, and add them to ``result``'s tallies."""
    side.flush()
    delivered = receiver.wait_for(pipeline.kind, before + n, DELIVERY_TIMEOUT)
    result.expected += n
    result.counted += receiver.count(pipeline.kind) - before
    if not delivered:
        raise RuntimeError(f"the receiver counted {receiver.count(pipeline.kind) - before:,} "
                           f"of {n:,} records within {DELIVERY_TIMEOUT:g} s")


def _round(side: Side, batch: Any, pipeline: Pipeline, receiver: Receiver, n: int,
           result: SideResult) -> None:
    """One burst of ``n`` calls: the caller's CPU and wall time per call (GC off, as
    in the harness's batches), then delivered records/s once the receiver counted
    them all."""
    before = receiver.count(pipeline.kind)
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter_ns()
        cpu = time.thread_time_ns()
        wall = batch(n)
        cpu = time.thread_time_ns() - cpu
    finally:
        gc.enable()
    _deliver(side, pipeline, receiver, before, n, result)
    total = time.perf_counter_ns() - start
    result.caller_cpu_ns.append(cpu / n)
    result.caller_wall_ns.append(wall / n)
    result.delivered_per_s.append(n * 1e9 / total)


def _memory(pipeline: Pipeline, receiver: Receiver, n: int, result: SideResult) -> None:
    """Memory per buffered entry with the sender paused (see the module docstring)."""
    side = pipeline.make(receiver, n, True)
    try:
        batch = compile_case(Case(side.stmt, side.namespace))
        before = receiver.count(pipeline.kind)
        batch(1)  # starts the worker and loads what the first call loads
        gc.collect()
        tracemalloc.start()
        try:
            batch(n)
            gc.collect()
            held = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
        _deliver(side, pipeline, receiver, before, n + 1, result)
        result.memory_bytes = held / n
    finally:
        side.close()


def run_shipping(calls: int, rounds: int, buffered: int) -> ShippingResult:
    """Run the suite: every pipeline set up against one receiver, a warm-up burst
    each, ``rounds`` interleaved bursts of ``calls``, then the memory of ``buffered``
    paused entries per pipeline, with a progress bar on stderr. A pipeline that cannot
    run (not installed) or fails keeps its note or problem and loses its figures; the
    others go on."""
    import loglayer

    started = time.perf_counter()
    results = [SideResult(p) for p in PIPELINES]
    progress = Progress(len(PIPELINES) * (rounds + 2))
    capacity = max(calls, MIN_CAPACITY)
    live: list[tuple[SideResult, Side, Any]] = []
    with Receiver() as receiver:
        try:
            for result in results:
                pipeline = result.pipeline
                progress.announce(f"shipping: {pipeline.name}: warm-up")
                try:
                    side = pipeline.make(receiver, capacity, False)
                except Unavailable as exc:
                    result.skipped = str(exc)
                    progress.advance(f"shipping {pipeline.name}: skipped", rounds + 2)
                    continue
                result.note = side.note
                live.append((result, side, compile_case(Case(side.stmt, side.namespace))))
                try:
                    warm = min(calls, 1000)
                    before = receiver.count(pipeline.kind)
                    live[-1][2](warm)
                    _deliver(side, pipeline, receiver, before, warm, result)
                except Exception as exc:
                    result.problem = f"warm-up failed: {exc!r}"
                progress.advance(f"shipping {pipeline.name}: warmed up")
            for r in range(rounds):
                k = r % len(live) if live else 0
                for result, side, batch in live[k:] + live[:k]:
                    if result.measured:
                        try:
                            _round(side, batch, result.pipeline, receiver, calls, result)
                        except Exception as exc:
                            result.problem = f"round {r + 1} failed: {exc!r}"
                    progress.advance(f"shipping {result.pipeline.name}: "
                                     f"round {r + 1}/{rounds}")
        finally:
            for _result, side, _batch in live:
                with contextlib.suppress(Exception):
                    side.close()
        for result in results:
            if result.measured and result.pipeline.memory:
                progress.announce(f"shipping: {result.pipeline.name}: memory of "
                                  f"{buffered:,} buffered entries")
                try:
                    _memory(result.pipeline, receiver, buffered, result)
                except Exception as exc:
                    result.problem = f"memory measurement failed: {exc!r}"
            progress.advance(f"shipping {result.pipeline.name}: memory")
    progress.finish()
    core = "compiled" if loglayer.COMPILED else "pure"
    return ShippingResult(results, calls, rounds, buffered, _versions(), core,
                          time.perf_counter() - started)


def _versions() -> dict[str, str | None]:
    """The versions of what the suite runs (``None``: not installed)."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    versions: dict[str, str | None] = {}
    for dist in ("loglayer", "opentelemetry-sdk", "opentelemetry-exporter-otlp-proto-http",
                 "opentelemetry-proto", "protobuf", "urllib3", "requests"):
        try:
            versions[dist] = version(dist)
        except PackageNotFoundError:
            versions[dist] = None
    versions["stdlib logging"] = f"Python {platform.python_version()}"
    binary = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"
    try:
        first = subprocess.run([binary, "-v"], capture_output=True, text=True, timeout=30,
                               check=False).stdout.splitlines()[0]
        versions["rsyslogd"] = first.split()[1]
    except (OSError, IndexError, subprocess.SubprocessError):
        versions["rsyslogd"] = None
    return versions


# ---------------------------------------------------------------------------------------
# Reports


@dataclass(frozen=True)
class Figure:
    """One line of the table: loglayer's figure, its peer's, and the target on their
    ratio (loglayer / peer): ``("<=", 0.2)``, ``(">=", 2.0)``, or None (reported)."""

    title: str
    unit: str
    loglayer: float | None
    peer: float | None
    target: tuple[str, float] | None

    @property
    def ratio(self) -> float | None:
        if self.loglayer is None or not self.peer:
            return None
        return self.loglayer / self.peer

    @property
    def met(self) -> bool | None:
        """Whether the target is met (None: no target, or no ratio)."""
        ratio = self.ratio
        if self.target is None or ratio is None:
            return None
        sign, bound = self.target
        return ratio <= bound if sign == "<=" else ratio >= bound


#: The targets on the ratios, per pair (issues #11 and #12); a pair not named: reported.
_COST_TARGETS: dict[str, tuple[str, float]] = {
    "otlp": ("<=", 0.2), "http": ("<=", 0.2), "syslog-tcp": ("<=", 0.2),
    "journald": ("<=", 0.3)}
_THROUGHPUT_TARGETS: dict[str, tuple[str, float]] = {"otlp": (">=", 2.0),
                                                     "syslog-tcp": (">=", 3.0)}


def figures(result: ShippingResult) -> list[Figure]:
    """The table's lines, from the sides' medians (a failed side has none)."""
    by_pair: dict[str, dict[bool, SideResult]] = {}
    for side in result.sides:
        by_pair.setdefault(side.pipeline.pair, {})[side.pipeline.loglayer] = side

    def value(side: SideResult | None, pick: Callable[[SideResult], Any]) -> float | None:
        if side is None or not side.measured:
            return None
        got = pick(side)
        return _median(got) if isinstance(got, list) else got

    out: list[Figure] = []
    for pair, label in _PAIRS.items():
        ours, theirs = by_pair[pair].get(True), by_pair[pair].get(False)
        if theirs is None and pair in _PEER_OF:
            theirs = by_pair[_PEER_OF[pair]].get(False)
        delivered = "acknowledged" if pair == "syslog-relp" else "after flush"
        out += [
            Figure(f"caller cost per log call, {label} (logging thread's CPU)", "ns",
                   value(ours, lambda s: s.caller_cpu_ns),
                   value(theirs, lambda s: s.caller_cpu_ns), _COST_TARGETS.get(pair)),
            Figure(f"caller cost per log call, {label} (wall time of the burst)", "ns",
                   value(ours, lambda s: s.caller_wall_ns),
                   value(theirs, lambda s: s.caller_wall_ns), None),
            Figure(f"delivered records/s, {label}, {delivered}", "records/s",
                   value(ours, lambda s: s.delivered_per_s),
                   value(theirs, lambda s: s.delivered_per_s),
                   _THROUGHPUT_TARGETS.get(pair)),
        ]
        if any(p.pair == pair and p.memory for p in PIPELINES):
            out.append(Figure(f"memory per buffered entry, {label}", "bytes",
                              value(ours, lambda s: s.memory_bytes),
                              value(theirs, lambda s: s.memory_bytes), None))
    return out


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    return f"{value:,.0f} {unit}"


def _fmt_target(figure: Figure) -> str:
    if figure.target is None:
        return "report"
    sign, bound = figure.target
    verdict = {True: " ✓", False: " ✗ missed", None: ""}[figure.met]
    return f"{'≤' if sign == '<=' else '≥'} {bound:g}x{verdict}"


def shipping_markdown(result: ShippingResult) -> str:
    """The suite's section: machine, Python, versions and method, the table, then one
    note per pipeline (its set-up, or what went wrong)."""
    m, py = machine_info(), python_info()
    out = ["## Shipping: loglayer's OTLP, HTTP, syslog and journald transports against the "
           "OTel SDK and the stdlib (`--shipping`)", ""]
    out.append(f"- Machine: {m['machine']}, {m['cpu']}, {m['nproc']} CPUs (nproc); {m['os']}")
    out.append(f"- Python: {py['implementation']} {py['version']} ({py['build']}); "
               f"loglayer core: {result.core}")
    out.append("- Versions: " + ", ".join(f"{name} {v if v else 'not installed'}"
                                          for name, v in result.versions.items()))
    out.append(
        f"- Method: every pipeline logs the same entry (S3's message and 5 fields) to one "
        f"local receiver (ThreadingHTTPServer, HTTP/1.1 keep-alive, in a child process; it "
        f"counts the records that carry the message and every field; the same process "
        f"counts the journald pair's datagrams; the syslog pairs go to rsyslogd, one input "
        f"per side, counted in the files it writes). {result.rounds} "
        f"interleaved rounds, median over rounds. A round is a burst of {result.calls:,} "
        f"calls on the logging thread (GC off during the burst), then flush() / "
        f"force_flush() / the listener's queue drained, until the receiver counted all "
        f"{result.calls:,}. Every queue holds the whole burst (loglayer max_buffer_entries "
        f"and the SDK's max_queue_size = {max(result.calls, MIN_CAPACITY):,}, the stdlib's "
        f"Queue unbounded), so no caller blocks and nothing is dropped; the workers run "
        f"during the burst, as in a program.")
    out.append(
        "- Caller cost = the logging thread's CPU time per call (time.thread_time_ns); the "
        "wall time per call beside it also holds the GIL turns the caller waited through "
        "while its worker encoded and sent. Delivered records/s = burst size / time from "
        "the first call until the receiver counted the last record (over RELP, until "
        "rsyslogd answered the last one; the stdlib's handlers send at the call). Memory "
        "per buffered "
        f"entry = tracemalloc's growth over {result.buffered:,} entries logged with the "
        f"sender paused, / {result.buffered:,}.")
    out.append("- ratio = loglayer / peer (cost and memory: lower is better; records/s: "
               "higher is better). All figures come from this one run.")
    out += ["", "| figure | loglayer | peer | ratio | target |", "|:--|--:|--:|--:|:--|"]
    for figure in figures(result):
        ratio = figure.ratio
        out.append(f"| {figure.title} | {_fmt(figure.loglayer, figure.unit)} | "
                   f"{_fmt(figure.peer, figure.unit)} | "
                   f"{'—' if ratio is None else f'{ratio:.2f}x'} | {_fmt_target(figure)} |")
    out.append("")
    for side in result.sides:
        pair = _PAIRS[side.pipeline.pair]
        role = "loglayer" if side.pipeline.loglayer else "peer"
        if side.skipped is not None:
            out.append(f"- {pair} {role}: {side.pipeline.name}: skipped ({side.skipped})")
            continue
        text = side.note if side.problem is None else f"{side.note}; ⚠ {side.problem}"
        out.append(f"- {pair} {role}: {side.pipeline.name}: {text}; the receiver counted "
                   f"{side.counted:,} of the {side.expected:,} records it sent")
    out.append(f"- the suite took {result.seconds:.1f} s")
    return "\n".join(out) + "\n"


def shipping_json(result: ShippingResult) -> dict[str, Any]:
    """Every figure and per-round value of the suite, for ``latest.json``."""
    return {
        "calls": result.calls,
        "rounds": result.rounds,
        "buffered": result.buffered,
        "core": result.core,
        "versions": result.versions,
        "seconds": round(result.seconds, 3),
        "figures": [{"figure": f.title, "unit": f.unit, "loglayer": f.loglayer,
                     "peer": f.peer, "ratio": f.ratio,
                     "target": None if f.target is None else f"{f.target[0]} {f.target[1]}",
                     "met": f.met} for f in figures(result)],
        "pipelines": [{"name": s.pipeline.name, "pair": s.pipeline.pair,
                       "loglayer": s.pipeline.loglayer, "note": s.note,
                       "skipped": s.skipped, "problem": s.problem,
                       "expected": s.expected, "counted": s.counted,
                       "caller_cpu_ns": s.caller_cpu_ns, "caller_wall_ns": s.caller_wall_ns,
                       "delivered_per_s": s.delivered_per_s,
                       "memory_bytes_per_entry": s.memory_bytes} for s in result.sides],
    }
