"""``OtlpTransport`` against a real OpenTelemetry Collector (issue #11).

The codec's unit tests (``test_otlp_codec.py``) check the records it builds; these check
what a real collector (``tests/_otelcol.py``: the binary ``make deps`` builds, its file
exporter writing OTLP/JSON) says it received, over each protocol (HTTP protobuf, HTTP
JSON, gRPC) and from each core:

* every field of the mapping: times, severity, body, typed attributes, the exception
  attributes of ``with_error``, the trace context of an SDK span and of the
  ``otel_trace`` fields, the resource (``OTEL_*`` variables and ``resource=``), the scope;
* the same records as the official SDK's OTLP exporters deliver, apart from what
  differs by design;
* the ``OTEL_EXPORTER_OTLP_*`` variables configuring a transport made without arguments,
  and gzip (or no compression) on the wire, seen by a relay in front of the collector;
* delivery: ``accepted == delivered + dropped + pending`` after every step (and from
  another thread all along an outage), nothing lost when the collector is SIGKILLed
  mid-stream and comes back, a SIGKILLed producer's spool sent by the next process
  (with the collector down, and while batches were being delivered: the at-least-once
  window), a spooled entry keeping its trace context, ``close()`` giving up on a
  collector that is down and saying so.

Most tests share one collector per module and tell their records apart by a run ID at
the start of each body; the collector-outage tests run their own. The SDK, the
``otlp`` extra and the collector are required: missing, they fail the tests (``make
test`` installs the ``dev`` extra and runs ``make deps`` first).
"""

from __future__ import annotations

import base64
import collections
import math
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider

import loglayer
from _otelcol import Collector, Tap, attributes
from loglayer.plugins import otel_trace
from loglayer.testing import TestTransport
from loglayer.transports import OtlpTransport

pytestmark = pytest.mark.slow  # starts the collector process

PROTOCOLS = ["http/protobuf", "http/json", "grpc"]
WAIT = 60.0  # generous bound for background progress on a loaded machine
DEFAULT_BATCH = 512  # OtlpTransport's default max_batch_entries


@pytest.fixture(autouse=True)
def no_otel_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No ``OTEL_*`` variable of the machine running the tests reaches a transport."""
    for name in list(os.environ):
        if name.startswith("OTEL_"):
            monkeypatch.delenv(name)


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with Collector(tmp_path_factory.mktemp("otelcol")) as running:
        yield running


@pytest.fixture
def tracer() -> Any:
    provider = TracerProvider(shutdown_on_exit=False)
    yield provider.get_tracer("loglayer-tests")
    provider.shutdown()


# -- helpers ------------------------------------------------------------------------------


def endpoint_of(collector: Collector, protocol: str) -> str:
    return collector.grpc_endpoint if protocol == "grpc" else collector.http_url


def balanced(transport: OtlpTransport) -> dict[str, int]:
    """``stats()``, having checked the identity every reading must satisfy."""
    stats = transport.stats()
    assert stats["accepted"] == stats["delivered"] + stats["dropped"] + stats["pending"], stats
    return stats


def new_run() -> str:
    """A prefix for the bodies of one test's records: the shared collector holds many."""
    return f"run-{uuid.uuid4().hex}"


def of_run(run: str) -> Callable[[dict[str, Any]], bool]:
    return lambda entry: entry["record"].get("body", {}).get("stringValue", "").startswith(run)


def body(entry: dict[str, Any]) -> str:
    return str(entry["record"]["body"]["stringValue"])


def written(collector: Collector, run: str, count: int) -> list[dict[str, Any]]:
    """The ``count`` records of ``run`` the collector wrote, read right after the
    transport's ``flush()`` returned True: the collector writes a request to its file
    before it answers it, so an acknowledged record is already there."""
    found = [entry for entry in collector.records() if of_run(run)(entry)]
    assert len(found) == count, (
        f"{len(found)} of {count} records of {run} are in the collector's file; its last "
        f"records: {[entry['record'] for entry in collector.records()[-3:]]}")
    return found


def delivered(transport: OtlpTransport, count: int) -> dict[str, int]:
    """Flush, then check that exactly ``count`` entries were accepted and delivered."""
    assert transport.flush(WAIT) is True
    stats = balanced(transport)
    assert stats["accepted"] == stats["delivered"] == count, stats
    assert stats["dropped"] == 0 and stats["pending"] == 0, stats
    return stats


def shipped(collector: Collector, protocol: str, core: Any, log_calls: Callable[..., None],
            count: int, plugins: list[Any] | None = None,
            **options: Any) -> tuple[list[dict[str, Any]], list[Any]]:
    """Log through an OtlpTransport (``log_calls(log, run, step)``, which calls
    ``step()`` after each log call to check the stats) and return the ``count`` records
    the collector wrote, with the entries as a TestTransport beside it saw them."""
    run = new_run()
    transport = OtlpTransport(endpoint_of(collector, protocol), protocol=protocol, **options)
    seen = TestTransport("seen")
    log = core.LogLayer(transports=[transport, seen], plugins=plugins or [])
    log_calls(log, run, lambda: balanced(transport))
    delivered(transport, count)
    assert transport.close() is True
    balanced(transport)
    return written(collector, run, count), seen.lines


# -- every field of the mapping ----------------------------------------------------------

SEVERITIES = [("trace", 1, "TRACE"), ("debug", 5, "DEBUG"), ("info", 9, "INFO"),
              ("warn", 13, "WARN"), ("error", 17, "ERROR"), ("fatal", 21, "FATAL")]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_times_severity_body_and_scope(collector, core, protocol):
    def calls(log, run, step):
        for method, _, _ in SEVERITIES:
            getattr(log, method)(run, method, "message")
            step()

    records, entries = shipped(collector, protocol, core, calls, len(SEVERITIES))
    by_body = {body(entry): entry for entry in records}
    for (method, number, text), entry in zip(SEVERITIES, entries, strict=True):
        arrived = by_body.pop(f"{entry.messages[0]} {method} message")
        record = arrived["record"]
        assert record["severityNumber"] == number
        assert record["severityText"] == text
        assert record["timeUnixNano"] == str(entry.time_ns)  # 64-bit ints are JSON strings
        assert int(record["observedTimeUnixNano"]) >= entry.time_ns
        assert arrived["scope"] == {"name": "loglayer", "version": loglayer.__version__}
        assert "attributes" not in record  # no data, no metadata: nothing else
        assert "traceId" not in record and "spanId" not in record  # no span
    assert by_body == {}


BIG = 2**64 + 5


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_attributes_keep_their_types(collector, core, protocol):
    metadata = {
        "text": "héllo ✓",
        "count": 42,
        "negative": -7,
        "int64_max": 2**63 - 1,
        "int64_min": -(2**63),
        "beyond_int64": BIG,
        "below_int64": -(2**63) - 1,
        "ratio": 0.25,
        "not_a_number": math.nan,
        "infinite": -math.inf,
        "cached": True,
        "off": False,
        "raw": b"\x00\xffbytes",
        "tags": ["a", 2, 3.5, False],
        "nested": {"user": {"id": "u-42", "roles": ["admin"]}, "attempt": 3},
        "nothing": None,
        "empty_list": [],
        "empty_map": {},
        "lone_surrogate": "a\udc80b",  # not UTF-8: escaped, as a JSON line writes it
    }

    def calls(log, run, step):
        log.with_fields(tenant="acme").with_metadata(metadata).info(run, "typed")
        step()

    (arrived,), _ = shipped(collector, protocol, core, calls, 1)
    assert attributes(arrived["record"]["attributes"]) == {
        "tenant": {"stringValue": "acme"},  # a field (the data) beside the metadata
        "text": {"stringValue": "héllo ✓"},
        "count": {"intValue": "42"},
        "negative": {"intValue": "-7"},
        "int64_max": {"intValue": str(2**63 - 1)},
        "int64_min": {"intValue": str(-(2**63))},
        "beyond_int64": {"stringValue": str(BIG)},
        "below_int64": {"stringValue": str(-(2**63) - 1)},
        "ratio": {"doubleValue": 0.25},
        "not_a_number": {"doubleValue": "NaN"},  # protobuf's JSON names them
        "infinite": {"doubleValue": "-Infinity"},
        "cached": {"boolValue": True},
        "off": {"boolValue": False},
        "raw": {"bytesValue": base64.b64encode(b"\x00\xffbytes").decode()},
        "tags": {"arrayValue": {"values": [{"stringValue": "a"}, {"intValue": "2"},
                                           {"doubleValue": 3.5}, {"boolValue": False}]}},
        "nested": {"kvlistValue": {"values": [
            {"key": "user", "value": {"kvlistValue": {"values": [
                {"key": "id", "value": {"stringValue": "u-42"}},
                {"key": "roles", "value": {"arrayValue": {"values": [
                    {"stringValue": "admin"}]}}}]}}},
            {"key": "attempt", "value": {"intValue": "3"}}]}},
        "nothing": {},  # an empty AnyValue
        "empty_list": {"arrayValue": {}},
        "empty_map": {"kvlistValue": {}},
        "lone_surrogate": {"stringValue": "a\\udc80b"},
    }


def charge(amount: int) -> None:
    raise ValueError(f"card declined for {amount}")


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_an_error_becomes_the_exception_attributes(collector, core, protocol):
    def calls(log, run, step):
        try:
            charge(12)
        except ValueError as exc:
            log.with_error(exc).with_metadata({"order": "o-1"}).error(run, "charge failed")
        step()

    (arrived,), _ = shipped(collector, protocol, core, calls, 1)
    found = attributes(arrived["record"]["attributes"])
    stacktrace = found.pop("exception.stacktrace")["stringValue"]
    assert found == {"order": {"stringValue": "o-1"},
                     "exception.type": {"stringValue": "ValueError"},
                     "exception.message": {"stringValue": "card declined for 12"}}
    assert stacktrace.startswith("Traceback (most recent call last):")
    assert "in charge" in stacktrace and 'raise ValueError(f"card declined' in stacktrace
    assert stacktrace.rstrip().endswith("ValueError: card declined for 12")


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("plugins", [None, [otel_trace()]], ids=["span", "span+otel_trace"])
def test_trace_context_of_the_active_span(collector, core, protocol, tracer, plugins):
    spans = []

    def calls(log, run, step):
        with tracer.start_as_current_span("checkout") as span:
            spans.append(span.get_span_context())
            log.info(run, "in span")
            step()
        log.info(run, "after span")
        step()

    inside, after = shipped(collector, protocol, core, calls, 2, plugins=plugins)[0]
    (span,) = spans
    record = inside["record"]
    assert body(inside).endswith("in span")
    assert record["traceId"] == f"{span.trace_id:032x}"
    assert record["spanId"] == f"{span.span_id:016x}"
    assert record["flags"] == int(span.trace_flags)
    assert record["flags"] & 0x01  # sampled
    assert "attributes" not in record  # the plugin's fields said the same: left out
    assert body(after).endswith("after span")
    assert not {"traceId", "spanId", "flags"} & set(after["record"])


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_trace_context_of_the_otel_trace_fields(collector, core, protocol):
    trace_id, span_id = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"

    def calls(log, run, step):
        # what the otel_trace plugin writes, with no span active at the call
        log.with_fields(trace_id=trace_id, span_id=span_id, trace_flags=1,
                        order="o-7").info(run, "fields")
        step()

    (arrived,), _ = shipped(collector, protocol, core, calls, 1)
    record = arrived["record"]
    assert (record["traceId"], record["spanId"], record["flags"]) == (trace_id, span_id, 1)
    assert attributes(record["attributes"]) == {"order": {"stringValue": "o-7"}}


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_resource_from_the_environment_and_the_argument(collector, core, protocol,
                                                         monkeypatch):
    monkeypatch.setenv("OTEL_SERVICE_NAME", "checkout")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES",
                       "deployment.environment=staging,service.namespace=shop%20floor")

    def calls(log, run, step):
        log.info(run, "resource")
        step()

    (from_env,), _ = shipped(collector, protocol, core, calls, 1)
    assert attributes(from_env["resource"]["attributes"]) == {
        "telemetry.sdk.language": {"stringValue": "python"},
        "telemetry.sdk.name": {"stringValue": "loglayer"},
        "telemetry.sdk.version": {"stringValue": loglayer.__version__},
        "deployment.environment": {"stringValue": "staging"},
        "service.namespace": {"stringValue": "shop floor"},  # URL-decoded
        "service.name": {"stringValue": "checkout"},
    }

    (from_argument,), _ = shipped(collector, protocol, core, calls, 1, resource={
        "service.name": "billing", "service.version": "1.2.3", "host.cpus": 2,
        "region.zones": ["a", "b"]})
    found = attributes(from_argument["resource"]["attributes"])
    assert found["service.name"] == {"stringValue": "billing"}  # the argument wins
    assert found["deployment.environment"] == {"stringValue": "staging"}
    assert found["service.version"] == {"stringValue": "1.2.3"}
    assert found["host.cpus"] == {"intValue": "2"}
    assert found["region.zones"] == {"arrayValue": {"values": [{"stringValue": "a"},
                                                              {"stringValue": "b"}]}}


GZIP_MAGIC = b"\x1f\x8b\x08"  # a gzip stream's first bytes (deflate)


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize(("compression", "source"), [
    ("gzip", "argument"), ("none", "argument"), ("none", "environment")])
def test_compression_on_the_wire(collector, monkeypatch, protocol, compression, source):
    """What goes over the wire (a relay in front of the collector keeps the bytes) is a
    gzip stream or the plain message, as configured by the argument or by
    ``OTEL_EXPORTER_OTLP_LOGS_COMPRESSION``, and the collector reads it either way."""
    port = collector.grpc_port if protocol == "grpc" else collector.http_port
    with Tap(port) as tap:
        endpoint = (f"http://127.0.0.1:{tap.port}" if protocol == "grpc"
                    else f"http://127.0.0.1:{tap.port}/v1/logs")
        if source == "environment":
            monkeypatch.setenv("OTEL_EXPORTER_OTLP_LOGS_COMPRESSION", compression)
            transport = OtlpTransport(endpoint, protocol=protocol)
        else:
            transport = OtlpTransport(endpoint, protocol=protocol, compression=compression)
        assert transport.settings.compression == compression
        run = new_run()
        log = loglayer.LogLayer(transports=[transport])
        for i in range(20):
            log.with_metadata({"i": i}).info(run, "compressed", i)
            balanced(transport)
        delivered(transport, 20)
        assert transport.close() is True
        sent = tap.sent()
    records = written(collector, run, 20)
    assert sorted(int(attributes(e["record"]["attributes"])["i"]["intValue"])
                  for e in records) == list(range(20))
    if compression == "gzip":
        assert GZIP_MAGIC in sent
        assert run.encode() not in sent  # no body went out as it is
        if protocol != "grpc":  # HTTP/1.1 headers are plain text (gRPC's are HPACK)
            assert b"\r\ncontent-encoding: gzip\r\n" in sent.lower()
    else:
        assert run.encode() in sent
        assert b"content-encoding" not in sent.lower()


def sdk_exporter(protocol: str, collector: Collector) -> Any:
    """The official SDK's OTLP log exporter for ``protocol``, aimed at ``collector``."""
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
        return OTLPLogExporter(endpoint=collector.grpc_endpoint, insecure=True)
    from opentelemetry.exporter.otlp.proto.http._log_exporter import (
        OTLPLogExporter as HttpExporter,
    )
    return HttpExporter(endpoint=collector.http_url)


def comparable(entry: dict[str, Any]) -> dict[str, Any]:
    """A record the collector wrote, without what differs by design between the SDK's
    exporter and this transport (see the test below)."""
    record = dict(entry["record"])
    record.pop("observedTimeUnixNano")
    found = attributes(record.pop("attributes", []))
    stack = found.pop("exception.stacktrace", None)
    if stack is not None:  # the SDK's has the ^^^^ lines Python 3.11+ draws; ours not
        found["exception.stacktrace"] = re.sub(r"(?m)^ *[~^]+ *\n", "",
                                               stack["stringValue"])
    return {"resource": entry["resource"], "scope": entry["scope"], "record": record,
            "attributes": found}


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_the_sdks_exporter_and_this_transport_deliver_the_same_records(
        collector, core, protocol, tracer):
    """The same log records, sent once by ``OtlpTransport`` and once through the
    official SDK (``LoggerProvider``, ``SimpleLogRecordProcessor`` and its OTLP
    exporter for the protocol), reach the collector as the same records: resource,
    scope, times, severity, body, trace context and typed attributes.

    Different by design, and left out of the comparison:

    * ``observedTimeUnixNano``: this transport's is the send time (the SDK's, the time
      of the emit call); each is checked not to precede the record's time;
    * the ``^^^^`` marker lines of ``exception.stacktrace`` that the SDK's
      ``traceback.format_exception`` draws on Python 3.11+ (the rest of the text is the
      same);
    * the order of the attributes (no meaning in OTLP; the SDK puts the exception's
      first).
    """
    from opentelemetry import trace
    from opentelemetry._logs import SeverityNumber
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
    from opentelemetry.sdk.resources import Resource

    run = new_run()
    transport = OtlpTransport(endpoint_of(collector, protocol), protocol=protocol,
                              resource={"service.name": "parity", "deployment.tier": 2})
    seen = TestTransport("seen")
    log = core.LogLayer(transports=[transport, seen])
    data = {"s": "text", "i": -3, "big": 2**63 - 1, "f": 0.25, "t": True,
            "raw": b"\x00\x01", "list": [1, "two", [3.0]], "map": {"k": {"n": [False]}}}
    try:
        charge(7)
    except ValueError as exc:
        error = exc
    with tracer.start_as_current_span("checkout") as span:
        log.with_fields(data).info(run, "placed", 2)
    log.with_metadata({"m": 1}).with_error(error).error(run, "failed")
    delivered(transport, 2)
    assert transport.close() is True
    ours = written(collector, run, 2)

    provider = LoggerProvider(resource=Resource(transport.settings.resource),
                              shutdown_on_exit=False)
    provider.add_log_record_processor(SimpleLogRecordProcessor(sdk_exporter(protocol,
                                                                            collector)))
    sdk_logger = provider.get_logger("loglayer", loglayer.__version__)
    placed, failed = seen.lines
    sdk_logger.emit(timestamp=placed.time_ns, context=trace.set_span_in_context(span),
                    severity_text="INFO", severity_number=SeverityNumber.INFO,
                    body=f"{run} placed 2", attributes=data)
    sdk_logger.emit(timestamp=failed.time_ns, severity_text="ERROR",
                    severity_number=SeverityNumber.ERROR, body=f"{run} failed",
                    attributes={"m": 1}, exception=error)
    provider.shutdown()  # the processor exported each record at its emit
    sdk = [entry for entry in written(collector, run, 4) if entry not in ours]

    assert len(sdk) == 2
    for our_entry, sdk_entry in zip(ours, sdk, strict=True):
        for entry in (our_entry, sdk_entry):
            record = entry["record"]
            assert int(record["observedTimeUnixNano"]) >= int(record["timeUnixNano"])
        assert comparable(our_entry) == comparable(sdk_entry)
    assert ours[0]["record"]["traceId"] == f"{span.get_span_context().trace_id:032x}"
    assert "exception.stacktrace" in comparable(ours[1])["attributes"]


@pytest.mark.parametrize(("variables", "protocol"), [
    ({"OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": "{http_url}"}, "http/protobuf"),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "{http_base}"}, "http/protobuf"),  # + /v1/logs
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "{http_base}",
      "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, "http/json"),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "{grpc_endpoint}",
      "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "grpc"),
    ({"OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": "{grpc_endpoint}",
      "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "grpc"),
    # the logs variable wins over the generic one (which points nowhere)
    ({"OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": "{grpc_endpoint}",
      "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9",
      "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL": "grpc",
      "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, "grpc"),
], ids=["logs-endpoint", "endpoint", "endpoint-json", "endpoint-grpc", "logs-endpoint-grpc",
        "logs-wins"])
def test_the_otel_variables_configure_a_transport_made_without_arguments(
        collector, core, monkeypatch, variables, protocol):
    for name, value in variables.items():
        monkeypatch.setenv(name, value.format(http_url=collector.http_url,
                                              http_base=collector.http_base,
                                              grpc_endpoint=collector.grpc_endpoint))
    run = new_run()
    transport = OtlpTransport()
    assert transport.settings.protocol == protocol
    log = core.LogLayer(transports=[transport])
    log.info(run, "configured by the environment")
    balanced(transport)
    delivered(transport, 1)
    assert transport.close() is True
    (entry,) = written(collector, run, 1)
    assert body(entry) == f"{run} configured by the environment"


def test_grpc_to_a_bare_target_with_insecure(collector, core):
    """A ``host:port`` target is TLS unless ``insecure=True`` says otherwise (the SDK's
    rule); with it the plaintext receiver gets the records."""
    run = new_run()
    target = f"127.0.0.1:{collector.grpc_port}"
    transport = OtlpTransport(target, protocol="grpc", insecure=True)
    assert (transport.settings.endpoint, transport.settings.insecure) == (target, True)
    core.LogLayer(transports=[transport]).info(run, "plaintext")
    delivered(transport, 1)
    assert transport.close() is True
    (entry,) = written(collector, run, 1)
    assert body(entry) == f"{run} plaintext"


# -- outages ------------------------------------------------------------------------------


class StatsReader:
    """A thread reading ``stats()`` as fast as it can while a test runs, keeping every
    reading where ``accepted != delivered + dropped + pending``."""

    def __init__(self, transport: OtlpTransport) -> None:
        self.transport = transport
        self.readings = 0
        self.unbalanced: list[dict[str, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            stats = self.transport.stats()
            self.readings += 1
            if stats["accepted"] != stats["delivered"] + stats["dropped"] + stats["pending"]:
                self.unbalanced.append(stats)
            time.sleep(0.0005)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not happen within {WAIT}s"
        time.sleep(0.02)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_collector_killed_mid_stream_loses_nothing(tmp_path, core, protocol):
    """SIGKILL the collector while a thread logs, start it again on the same ports once
    the transport has seen a send fail: with the default options every entry logged
    arrives, and ``stats()``, read all along by another thread, always balances.

    The at-least-once window: the collector writes a request to its file before it
    answers, so a kill between the two leaves a batch written but not acknowledged, and
    the transport sends it again. The worker sends one batch at a time, so that one batch
    (at most ``max_batch_entries``, consecutive entries) is the only one that may arrive
    twice, and no entry more than twice; usually none does. ``delivered`` counts
    acknowledgements, so it equals the number logged either way.
    """
    with Collector(tmp_path) as outage:
        run = new_run()
        transport = OtlpTransport(endpoint_of(outage, protocol), protocol=protocol)
        log = core.LogLayer(transports=[transport])
        reader = StatsReader(transport)
        stop = threading.Event()
        logged = []

        def produce() -> None:
            while not stop.is_set():
                log.with_metadata({"i": len(logged)}).info(run, len(logged))
                logged.append(True)
                time.sleep(0.001)

        producer = threading.Thread(target=produce)
        producer.start()
        try:
            outage.wait_for_records(1, match=of_run(run))
            outage.kill()
            at_kill = len(logged)
            # down until a send failed, and while the thread goes on logging
            wait_until(lambda: balanced(transport)["retried"] > 0, "a failed send")
            wait_until(lambda: len(logged) > at_kill + 100, "logging during the outage")
            outage.start()
            at_start = len(logged)
            wait_until(lambda: len(logged) > at_start + 100, "logging after the restart")
            assert transport.flush(WAIT) is True
        finally:
            stop.set()
            producer.join()
            reader.stop()
        assert reader.readings > 0
        assert reader.unbalanced == [], reader.unbalanced[:3]
        sent = len(logged)
        assert transport.flush(WAIT) is True
        stats = balanced(transport)
        assert stats["delivered"] == stats["accepted"] == sent, stats
        assert stats["dropped"] == 0 and stats["pending"] == 0, stats
        assert transport.close() is True

        counts = collections.Counter(body(entry) for entry in outage.records()
                                     if of_run(run)(entry))
    assert set(counts) == {f"{run} {i}" for i in range(sent)}  # every one arrived
    twice = sorted(int(text.rsplit(" ", 1)[1]) for text, n in counts.items() if n > 1)
    assert max(counts.values()) <= 2, counts.most_common(3)
    assert len(twice) <= DEFAULT_BATCH
    if twice:  # one batch: consecutive entries
        assert twice == list(range(twice[0], twice[-1] + 1))


SPOOL_PRODUCER = textwrap.dedent("""
    import sys, time
    from loglayer import LogLayer
    from loglayer.transports import OtlpTransport
    endpoint, protocol, spool, run = sys.argv[1:5]
    transport = OtlpTransport(endpoint, protocol=protocol, spool_dir=spool,
                              max_buffer_entries={buffer})
    log = LogLayer(transports=[transport])
    for i in range({total}):
        log.with_metadata({{"i": i}}).info(run, i)
        if i == {first} - 1:
            print("accepted", transport.stats()["accepted"], flush=True)
        if i >= {first}:
            time.sleep(0.0002)  # still logging when the kill comes
    print("accepted", transport.stats()["accepted"], flush=True)
    time.sleep(600)
""")
SPOOL_FIRST = 1500
SPOOL_TOTAL = 4000


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("buffer", [20_000, 200], ids=["in-memory-too", "spilled"])
def test_a_sigkilled_producers_spool_is_sent_by_the_next_process(tmp_path, protocol,
                                                                 buffer):
    """A process logs through ``OtlpTransport(spool_dir=...)`` to a collector that is
    down, says how many entries it accepted, and is SIGKILLed mid-stream. A transport
    made on the same directory with the collector up sends every entry it accepted.

    The spool is at least once: the batch a process had sent but whose acknowledgement
    had not reached the spool's cursor is sent again by the next one. Here that window
    is empty, as the collector never answered the first process (nothing reached it),
    so every entry arrives exactly once, in order; a record torn by the kill is never
    sent (``torn``), and only entries after the last count printed can be that one.
    With a buffer of 200 entries most of them went to the spool only ("spilled", to be
    read back by the worker later); with the default one each is in memory too.
    The producer runs the live core (the suite runs again with LOGLAYER_NO_EXTENSIONS=1).
    """
    collector = Collector(tmp_path / "otelcol")  # not started: the collector is down
    endpoint = endpoint_of(collector, protocol)
    spool = tmp_path / "spool"
    run = new_run()
    stderr = tmp_path / "producer.err"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    with stderr.open("wb") as errors:
        producer = subprocess.Popen(
            [sys.executable, "-c", SPOOL_PRODUCER.format(first=SPOOL_FIRST, total=SPOOL_TOTAL,
                                                         buffer=buffer), endpoint,
             protocol, str(spool), run], stdout=subprocess.PIPE, stderr=errors, text=True,
            env=env)
    try:
        assert producer.stdout is not None
        line = producer.stdout.readline()
        assert line == f"accepted {SPOOL_FIRST}\n", (line, stderr.read_text())
        producer.send_signal(signal.SIGKILL)  # while it logs the rest
    finally:
        producer.kill()
        producer.wait(WAIT)
        assert producer.stdout is not None
        producer.stdout.close()
    assert producer.returncode == -signal.SIGKILL

    with collector:
        again = OtlpTransport(endpoint, protocol=protocol, spool_dir=spool)
        recovered = balanced(again)["accepted"]
        assert SPOOL_FIRST <= recovered <= SPOOL_TOTAL
        assert again.flush(WAIT) is True
        stats = balanced(again)
        assert stats["delivered"] == recovered and stats["pending"] == 0, stats
        assert stats["dropped"] == 0 and stats["torn"] in (0, 1), stats
        assert again.close() is True
        records = written(collector, run, recovered)
    assert [body(entry) for entry in records] == [f"{run} {i}" for i in range(recovered)]
    for i in (0, recovered - 1):  # the spooled record kept the entry's level and data
        record = records[i]["record"]
        assert record["severityText"] == "INFO"
        assert attributes(record["attributes"]) == {"i": {"intValue": str(i)}}
        assert int(record["timeUnixNano"]) <= int(record["observedTimeUnixNano"])


LIVE_PRODUCER = textwrap.dedent("""
    import sys, time
    from loglayer import LogLayer
    from loglayer.transports import OtlpTransport
    endpoint, protocol, spool, run, progress, batch = sys.argv[1:7]
    transport = OtlpTransport(endpoint, protocol=protocol, spool_dir=spool,
                              resource={"test.process": "first"},
                              max_batch_entries=int(batch), flush_interval=0.05)
    log = LogLayer(transports=[transport])
    with open(progress, "w") as out:
        i = 0
        while True:  # until SIGKILL
            log.with_metadata({"i": i}).info(run, i)
            out.write(f"{i}\\n")  # one write(2) per line: whole, or not there
            out.flush()
            i += 1
            time.sleep(0.0005)
""")
LIVE_BATCH = 100


def last_line_number(path: Any) -> int:
    """The number on the last whole line of the producer's progress file."""
    lines = path.read_text().split("\n")
    lines.pop()  # "" after the last newline, or a line the kill cut short
    return int(lines[-1])


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_producer_sigkilled_while_delivering_loses_nothing_it_accepted(
        collector, tmp_path, protocol):
    """A process logs through ``OtlpTransport(spool_dir=...)`` to a running collector
    (small batches, sent every 50 ms) and writes down each entry once its log call
    returned; it is SIGKILLed while batches are on their way. A transport made on the
    same directory sends what the spool kept. Each record says which process sent it
    (a resource attribute).

    Every entry whose log call returned arrives (0..L, L the last number written down,
    and at most the one entry logged after it), with no gap. The first process delivered
    a prefix, in order, once each; the second sends the rest of the spool, in order,
    once each. The at-least-once window: the two overlap by the batch the first process
    had sent but whose acknowledgement had not reached the spool's cursor when it died,
    so at most one batch (``max_batch_entries`` = 100 here), the last entries the first
    one delivered, arrives twice; nothing else does.
    """
    endpoint = endpoint_of(collector, protocol)
    spool = tmp_path / "spool"
    progress = tmp_path / "progress"
    run = new_run()
    stderr = tmp_path / "producer.err"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    with stderr.open("wb") as errors:
        producer = subprocess.Popen(
            [sys.executable, "-c", LIVE_PRODUCER, endpoint, protocol, str(spool), run,
             str(progress), str(LIVE_BATCH)],
            stdout=subprocess.DEVNULL, stderr=errors, env=env)
    try:
        # several batches delivered, more on their way: then the kill
        collector.wait_for_records(3 * LIVE_BATCH, match=of_run(run))
        assert producer.poll() is None, stderr.read_text()
        producer.send_signal(signal.SIGKILL)
    finally:
        producer.kill()
        producer.wait(WAIT)
    assert producer.returncode == -signal.SIGKILL, stderr.read_text()
    last = last_line_number(progress)

    again = OtlpTransport(endpoint, protocol=protocol, spool_dir=spool,
                          resource={"test.process": "second"}, max_batch_entries=LIVE_BATCH)
    recovered = balanced(again)["accepted"]
    delivered(again, recovered)
    stats = balanced(again)
    assert stats["torn"] in (0, 1), stats  # the record the kill may have cut
    assert again.close() is True

    by_process: dict[str, list[int]] = {"first": [], "second": []}
    for entry in collector.records():
        if of_run(run)(entry):
            process = attributes(entry["resource"]["attributes"])["test.process"]
            by_process[process["stringValue"]].append(
                int(attributes(entry["record"]["attributes"])["i"]["intValue"]))
    first, second = by_process["first"], by_process["second"]
    arrived = sorted(set(first) | set(second))
    total = len(arrived)
    assert arrived == list(range(total))  # no gap
    assert total - 1 in (last, last + 1), (total, last)  # every accepted entry
    assert first == list(range(len(first)))  # delivered in order, once each
    assert second == list(range(total - recovered, total))  # the spool's rest, once each
    twice = set(first) & set(second)
    assert len(twice) <= LIVE_BATCH, (len(first), total - recovered)
    assert len(first) >= 3 * LIVE_BATCH


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_spooled_entry_keeps_its_trace_context(tmp_path, core, protocol, tracer):
    """The span active at the call travels through the spool with its entry: the
    128-bit trace ID is written to disk as JSON and read back by the next transport."""
    collector = Collector(tmp_path / "otelcol")  # down while the first transport runs
    endpoint = endpoint_of(collector, protocol)
    run = new_run()
    first = OtlpTransport(endpoint, protocol=protocol, spool_dir=tmp_path / "spool")
    log = core.LogLayer(transports=[first])
    with tracer.start_as_current_span("checkout") as span:
        log.with_metadata({"order": "o-9"}).warn(run, "spooled in a span")
    balanced(first)
    assert first.close(timeout=1.0) is False  # left in the spool
    assert balanced(first)["pending"] == 1

    with collector:
        again = OtlpTransport(endpoint, protocol=protocol, spool_dir=tmp_path / "spool")
        delivered(again, 1)
        assert again.close() is True
        (entry,) = written(collector, run, 1)
    record = entry["record"]
    context = span.get_span_context()
    assert record["traceId"] == f"{context.trace_id:032x}"
    assert record["spanId"] == f"{context.span_id:016x}"
    assert record["flags"] == int(context.trace_flags)
    assert (record["severityNumber"], body(entry)) == (13, f"{run} spooled in a span")
    assert attributes(record["attributes"]) == {"order": {"stringValue": "o-9"}}


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_close_with_the_collector_down_gives_up_and_reports(tmp_path, core, protocol,
                                                           capsys):
    collector = Collector(tmp_path)  # never started: nothing listens on its ports
    transport = OtlpTransport(endpoint_of(collector, protocol), protocol=protocol,
                              id="down")
    log = core.LogLayer(transports=[transport])
    for i in range(3):
        log.info("lost", i)
        balanced(transport)
    started = time.monotonic()
    assert transport.close(timeout=0.5) is False
    assert time.monotonic() - started < WAIT  # terminates (a bound 120x the deadline)
    stats = balanced(transport)
    assert (stats["accepted"], stats["delivered"], stats["dropped"], stats["pending"]) == (
        3, 0, 3, 0), stats
    err = capsys.readouterr().err
    (line,) = [text for text in err.splitlines() if "'down' closed" in text]
    for count in ("3 entries accepted", "0 delivered", "3 dropped", "0 pending"):
        assert count in line, line
