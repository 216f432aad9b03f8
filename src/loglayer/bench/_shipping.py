"""``python -m loglayer.bench --shipping``: loglayer's network transports against the
pipelines people ship logs with today.

Two pairs, each logging the same entry (S3's message and five fields) to a local
receiver:

* OTLP: ``LogLayer`` with ``OtlpTransport(protocol="http/protobuf")`` against the
  OpenTelemetry SDK's ``LoggingHandler`` on a stdlib logger, feeding
  ``BatchLogRecordProcessor`` and ``OTLPLogExporter`` (http/protobuf);
* HTTP: ``LogLayer`` with ``HttpTransport(encoding="ndjson")`` against the stdlib's
  ``QueueHandler`` + ``QueueListener`` + ``HTTPHandler``.

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
``HTTPHandler`` request. A side whose records are not all counted fails its round.
"""

from __future__ import annotations

import contextlib
import gc
import gzip
import http.server
import importlib
import itertools
import multiprocessing
import statistics
import threading
import time
import tracemalloc
import urllib.parse
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
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
OTLP, NDJSON, FORM = 0, 1, 2
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


def _serve(counts: Any, conn: Any) -> None:
    """The receiver process: serve on a free port of 127.0.0.1, send the port through
    ``conn``, and add every counted record to ``counts[kind]`` until terminated."""
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
    conn.send(server.server_address[1])
    conn.close()
    server.serve_forever(poll_interval=0.5)


class Receiver:
    """The local receiver (see the module docstring), started in a child process by
    ``multiprocessing``'s spawn method (a fresh interpreter: no thread of this one is
    forked). ``count(kind)`` reads its counters through shared memory."""

    def __init__(self, start_timeout: float = 60.0) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.counts = ctx.RawArray("q", 3)
        ours, theirs = ctx.Pipe(duplex=False)
        self.process = ctx.Process(target=_serve, args=(self.counts, theirs),
                                   name="loglayer-bench-receiver", daemon=True)
        self.process.start()
        theirs.close()
        try:
            if not ours.poll(start_timeout):
                raise RuntimeError(f"the receiver did not listen within {start_timeout:g} s")
            try:
                self.port: int = ours.recv()
            except EOFError:
                self.process.join(5)
                raise RuntimeError(f"the receiver exited before it listened (exit code "
                                   f"{self.process.exitcode})") from None
        except BaseException:
            self.close()
            raise
        finally:
            ours.close()
        self.url = f"http://127.0.0.1:{self.port}"

    def count(self, kind: int) -> int:
        """Records of ``kind`` counted so far."""
        return int(self.counts[kind])

    def wait_for(self, kind: int, target: int, timeout: float) -> bool:
        """Wait until ``target`` records of ``kind`` are counted; False on timeout."""
        deadline = time.monotonic() + timeout
        while self.counts[kind] < target:
            if time.monotonic() > deadline or not self.process.is_alive():
                return False
            time.sleep(0.0005)
        return True

    def close(self) -> None:
        """Stop the receiver process."""
        if self.process.is_alive():
            self.process.terminate()
        self.process.join(10)

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


#: ``make(url, capacity, paused) -> Side``: ``capacity`` entries must fit in its queue;
#: ``paused`` sets it up so that nothing is sent before ``flush``.
Make = Callable[[str, int, bool], Side]


@dataclass(frozen=True)
class Pipeline:
    """A contender of the suite: its name, which pair it belongs to, whether it is
    loglayer, the receiver counter its records land in, and how it is made."""

    name: str
    pair: str  # "otlp" or "http"
    loglayer: bool
    kind: int
    make: Make


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


def _loglayer_otlp(url: str, capacity: int, paused: bool) -> Side:
    from loglayer.transports import OtlpTransport

    options = _delivery_options(capacity, paused)
    transport = OtlpTransport(url + OTLP_PATH, protocol="http/protobuf", **options)
    return _loglayer_side(transport, "OtlpTransport(protocol=\"http/protobuf\"), its "
                          f"defaults (batches of 512, no compression), "
                          f"max_buffer_entries={options['max_buffer_entries']:,}")


def _loglayer_http(url: str, capacity: int, paused: bool) -> Side:
    from loglayer.transports import HttpTransport

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


def _sdk_otlp(url: str, capacity: int, paused: bool) -> Side:
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


def _stdlib_http(url: str, capacity: int, paused: bool) -> Side:
    import logging.handlers
    import queue

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


PIPELINES: tuple[Pipeline, ...] = (
    Pipeline("loglayer OtlpTransport", "otlp", True, OTLP, _loglayer_otlp),
    Pipeline("OTel SDK (LoggingHandler + BatchLogRecordProcessor + OTLPLogExporter)",
             "otlp", False, OTLP, _sdk_otlp),
    Pipeline("loglayer HttpTransport (ndjson)", "http", True, NDJSON, _loglayer_http),
    Pipeline("stdlib (QueueHandler + QueueListener + HTTPHandler)", "http", False, FORM,
             _stdlib_http),
)

_PAIRS = {"otlp": "OTLP", "http": "HTTP ndjson"}


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
    side = pipeline.make(receiver.url, n, True)
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
                    side = pipeline.make(receiver.url, capacity, False)
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
            if result.measured:
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


_COST_TARGET = ("<=", 0.2)
_THROUGHPUT_TARGET = (">=", 2.0)


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
        throughput_target = _THROUGHPUT_TARGET if pair == "otlp" else None
        out += [
            Figure(f"caller cost per log call, {label} (logging thread's CPU)", "ns",
                   value(ours, lambda s: s.caller_cpu_ns),
                   value(theirs, lambda s: s.caller_cpu_ns), _COST_TARGET),
            Figure(f"caller cost per log call, {label} (wall time of the burst)", "ns",
                   value(ours, lambda s: s.caller_wall_ns),
                   value(theirs, lambda s: s.caller_wall_ns), None),
            Figure(f"delivered records/s, {label}, after flush", "records/s",
                   value(ours, lambda s: s.delivered_per_s),
                   value(theirs, lambda s: s.delivered_per_s), throughput_target),
            Figure(f"memory per buffered entry, {label}", "bytes",
                   value(ours, lambda s: s.memory_bytes),
                   value(theirs, lambda s: s.memory_bytes), None),
        ]
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
    out = ["## Shipping: loglayer's OTLP and HTTP transports against the OTel SDK and the "
           "stdlib (`--shipping`)", ""]
    out.append(f"- Machine: {m['machine']}, {m['cpu']}, {m['nproc']} CPUs (nproc); {m['os']}")
    out.append(f"- Python: {py['implementation']} {py['version']} ({py['build']}); "
               f"loglayer core: {result.core}")
    out.append("- Versions: " + ", ".join(f"{name} {v if v else 'not installed'}"
                                          for name, v in result.versions.items()))
    out.append(
        f"- Method: every pipeline logs the same entry (S3's message and 5 fields) to one "
        f"local receiver (ThreadingHTTPServer, HTTP/1.1 keep-alive, in a child process; it "
        f"counts the records that carry the message and every field). {result.rounds} "
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
        "the first call until the receiver counted the last record. Memory per buffered "
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
