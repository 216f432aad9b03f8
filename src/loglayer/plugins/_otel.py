"""The ``otel_trace`` plugin: OpenTelemetry trace and span IDs on every entry.

``opentelemetry-api`` is optional (the ``otel`` extra). This module imports it only
when :func:`otel_trace` is called, so ``loglayer.plugins`` imports without it.
"""

from __future__ import annotations

from typing import Any

from .._validate import check_key
from ..plugin import Plugin, data_hook

__all__ = ["otel_trace"]


def otel_trace(*, trace_id_key: str = "trace_id", span_id_key: str = "span_id",
               trace_flags_key: str = "trace_flags", id: str = "otel_trace") -> Plugin:
    """A plugin that adds the active span's trace ID, span ID and flags to the data.

    Why: with these three fields a log backend links each entry to its trace, and
    the trace view shows the logs written while the span was active.

    Which span: when the entry's ``ctx`` (set with ``log.with_context(ctx)``) is an
    OpenTelemetry ``Context``, the span in that context; otherwise the current span
    (``opentelemetry.trace.get_current_span()``). Nothing is added when that span's
    context is invalid (no span, or a span without IDs).

    The fields: the trace ID as 32 lowercase hex digits, the span ID as 16, and the
    trace flags as an int (bit 0x01 set when the trace is sampled). The keys are
    ``trace_id_key``, ``span_id_key`` and ``trace_flags_key``; they must be distinct,
    non-empty strs. ``id`` is the plugin ID.

    Raises ImportError when ``opentelemetry-api`` is not installed
    (``pip install 'loglayer[otel]'``).

    Example::

        log = LogLayer(plugins=[otel_trace()])
        with tracer.start_as_current_span("checkout"):
            log.info("charged")   # data: trace_id, span_id, trace_flags
    """
    keys = {"trace_id_key": trace_id_key, "span_id_key": span_id_key,
            "trace_flags_key": trace_flags_key}
    for name, key in keys.items():
        check_key(name, key, allow_none=False)
    if len(set(keys.values())) < len(keys):
        raise ValueError(f"trace_id_key, span_id_key and trace_flags_key must differ, got "
                         f"{trace_id_key!r}, {span_id_key!r}, {trace_flags_key!r}")
    try:
        from opentelemetry.context import Context
        from opentelemetry.trace import get_current_span
    except ImportError as exc:
        raise ImportError("otel_trace() needs opentelemetry-api: install the otel extra "
                          "with pip install 'loglayer[otel]'") from exc

    def on_before_data_out(params: Any) -> dict[str, Any] | None:
        ctx = params.ctx
        span = get_current_span(ctx if isinstance(ctx, Context) else None)
        span_context = span.get_span_context()
        if not span_context.is_valid:
            return None
        return {trace_id_key: f"{span_context.trace_id:032x}",
                span_id_key: f"{span_context.span_id:016x}",
                trace_flags_key: int(span_context.trace_flags)}

    return data_hook(id, on_before_data_out)
