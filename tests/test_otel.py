"""loglayer.plugins.otel_trace with a real OpenTelemetry SDK tracer."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import threading

import pytest

import loglayer
from loglayer import LogLayer
from loglayer.plugins import otel_trace
from loglayer.testing import TestTransport

KEYS = ("trace_id", "span_id", "trace_flags")


@pytest.fixture
def otel():
    """(tracer, opentelemetry.trace, opentelemetry.context) from a real SDK provider."""
    trace = pytest.importorskip("opentelemetry.trace")
    context = pytest.importorskip("opentelemetry.context")
    sdk_trace = pytest.importorskip("opentelemetry.sdk.trace")
    provider = sdk_trace.TracerProvider(shutdown_on_exit=False)
    yield provider.get_tracer("loglayer-tests"), trace, context
    provider.shutdown()


@pytest.fixture
def pair() -> tuple[LogLayer, TestTransport]:
    tt = TestTransport("tt")
    return LogLayer(transports=tt, plugins=[otel_trace()]), tt


def _expected(trace, span) -> dict:
    span_context = span.get_span_context()
    return {"trace_id": trace.format_trace_id(span_context.trace_id),
            "span_id": trace.format_span_id(span_context.span_id),
            "trace_flags": int(span_context.trace_flags)}


def test_adds_the_current_span(otel, pair):
    tracer, trace, _ = otel
    log, tt = pair
    with tracer.start_as_current_span("checkout") as span:
        log.info("charged")
    data = tt.last_line().data
    assert data == _expected(trace, span)
    assert len(data["trace_id"]) == 32 and len(data["span_id"]) == 16
    assert data["trace_id"] == data["trace_id"].lower()
    assert int(data["trace_id"], 16) == span.get_span_context().trace_id
    assert type(data["trace_flags"]) is int
    assert data["trace_flags"] & 0x01  # the W3C "sampled" bit


def test_nested_spans_share_the_trace(otel, pair):
    tracer, trace, _ = otel
    log, tt = pair
    with tracer.start_as_current_span("outer") as outer:
        with tracer.start_as_current_span("inner") as inner:
            log.info("inside")
        log.info("outside")
    first, second = (line.data for line in tt.lines)
    assert first == _expected(trace, inner) and second == _expected(trace, outer)
    assert first["trace_id"] == second["trace_id"]
    assert first["span_id"] != second["span_id"]


def test_nothing_without_a_span(otel, pair):
    log, tt = pair
    log.with_fields(a=1).info("no span")
    assert tt.last_line().data == {"a": 1}


def test_an_explicit_context_wins_over_the_current_span(otel, pair):
    tracer, trace, context = otel
    log, tt = pair
    with tracer.start_as_current_span("request") as request_span:
        ctx = context.get_current()
    with tracer.start_as_current_span("background"):
        log.with_context(ctx).info("bound logger")
        log.with_metadata({"k": 1}).with_context(ctx).info("one entry")
        log.info("current")
    bound, one_entry, current = (line.data for line in tt.lines)
    assert bound == one_entry == _expected(trace, request_span)
    assert current["span_id"] != bound["span_id"]


def test_a_context_made_with_set_span_in_context(otel, pair):
    tracer, trace, _ = otel
    log, tt = pair
    span = tracer.start_span("manual")
    try:
        log.with_context(trace.set_span_in_context(span)).info("x")
    finally:
        span.end()
    assert tt.last_line().data == _expected(trace, span)


def test_an_explicit_context_without_a_span_adds_nothing(otel, pair):
    tracer, _, context = otel
    log, tt = pair
    empty = context.Context()
    with tracer.start_as_current_span("current"):
        log.with_context(empty).info("x")
    assert tt.last_line().data == {}


def test_a_ctx_that_is_not_an_otel_context_falls_back_to_the_current_span(otel, pair):
    tracer, trace, _ = otel
    log, tt = pair
    with tracer.start_as_current_span("current") as span:
        log.with_context({"request_id": "r-1"}).info("x")
    assert tt.last_line().data == _expected(trace, span)


def test_a_context_carried_to_another_thread(otel, pair):
    tracer, trace, context = otel
    log, tt = pair
    with tracer.start_as_current_span("handler") as span:
        worker = threading.Thread(target=log.with_context(context.get_current()).info,
                                  args=("from a worker",))
        worker.start()
        worker.join()
    assert tt.last_line().data == _expected(trace, span)


def test_an_unsampled_span_has_the_sampled_bit_clear(otel):
    _, trace, _ = otel
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

    provider = TracerProvider(sampler=ALWAYS_OFF, shutdown_on_exit=False)
    tt = TestTransport("tt")
    log = LogLayer(transports=tt, plugins=[otel_trace()])
    with provider.get_tracer("off").start_as_current_span("dropped") as span:
        assert not span.is_recording()
        log.info("x")
    provider.shutdown()
    assert tt.last_line().data == _expected(trace, span)
    assert not tt.last_line().data["trace_flags"] & 0x01


def test_custom_keys_and_existing_data(otel):
    tracer, trace, _ = otel
    tt = TestTransport("tt")
    plugin = otel_trace(trace_id_key="traceId", span_id_key="spanId",
                        trace_flags_key="traceFlags", id="trace")
    fields = {"service": "api"}
    log = LogLayer(transports=tt, plugins=[plugin], fields=fields)
    with tracer.start_as_current_span("op") as span:
        log.info("x")
    expected = _expected(trace, span)
    assert tt.last_line().data == {"service": "api", "traceId": expected["trace_id"],
                                   "spanId": expected["span_id"],
                                   "traceFlags": expected["trace_flags"]}
    assert fields == {"service": "api"}
    assert log.get_plugin("trace") is plugin


@pytest.mark.parametrize(("options", "error", "name"), [
    ({"trace_id_key": ""}, ValueError, "trace_id_key"),
    ({"span_id_key": 1}, TypeError, "span_id_key"),
    ({"trace_flags_key": None}, TypeError, "trace_flags_key"),
    ({"span_id_key": "trace_id"}, ValueError, "span_id_key"),
    ({"id": 1}, TypeError, "id"),
])
def test_bad_options_name_the_argument(options, error, name):
    with pytest.raises(error, match=name):
        otel_trace(**options)


def test_without_opentelemetry_calling_it_names_the_extra(monkeypatch):
    for name in ("opentelemetry", "opentelemetry.context", "opentelemetry.trace"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError, match=r"loglayer\[otel\]"):
        otel_trace()


@pytest.mark.slow
def test_loglayer_plugins_imports_without_opentelemetry():
    src = str(pathlib.Path(loglayer.__file__).resolve().parent.parent)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        filter(None, [src, os.environ.get("PYTHONPATH")])))
    code = (
        "import sys\n"
        "for name in ('opentelemetry', 'opentelemetry.context', 'opentelemetry.trace'):\n"
        "    sys.modules[name] = None  # as if opentelemetry-api were not installed\n"
        "import loglayer.plugins as plugins\n"
        "try:\n"
        "    plugins.otel_trace()\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "loglayer[otel]" in result.stdout
