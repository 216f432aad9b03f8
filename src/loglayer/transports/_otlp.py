"""``OtlpTransport``: entries as OpenTelemetry log records, to a collector over OTLP.

Encoding uses the official ``opentelemetry-proto`` classes (extra ``otlp``) on the
delivery engine's worker thread; the caller's thread only captures the active span (a
log call's trace context is the call's, not the worker's). The mapping to the OTel logs
data model and the ``OTEL_*`` settings are in ``_otlp_codec``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from ._delivery import DeliveryTransport, Reject, Retry
from ._http import HttpWire

__all__ = ["OtlpTransport"]

_MiB = 1 << 20
_LOGS_EXPORT = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"


def _codec() -> Any:
    try:
        from . import _otlp_codec
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(
            f"OtlpTransport needs opentelemetry-proto ({exc.name} is missing): "
            "pip install 'loglayer[otlp]'") from None
    return _otlp_codec


def _pairs(items: list) -> list:
    """The queue's items as ``(entry, trace)`` pairs (an item without a capture is an
    entry alone), the trace as the ints ``build_request`` takes."""
    return [(item[0], _trace_of(item[1])) if type(item) is tuple else (item, None)
            for item in items]


def _capturer(capture_trace_context: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """The ``capture`` of the engine: the active span's IDs at the log call, as the
    queue keeps them (None: no span). ``capture_trace_context`` is the codec's, looked
    up once when the transport is made: this runs on the caller's thread at every call.

    The IDs are kept as hex text, not ints: with a spool the capture is written to disk
    as JSON, whose encoder holds no int beyond 64 bits, and a 128-bit trace ID came back
    from it as decimal text the encoder could not use (the whole record was lost).
    """

    def capture(entry: Any) -> Any:
        trace = capture_trace_context(entry.ctx)
        if trace is None:
            return None
        trace_id, span_id, flags = trace
        return (f"{trace_id:032x}", f"{span_id:016x}", flags)

    return capture


def _trace_of(captured: Any) -> Any:
    """What ``capture`` kept (in memory, or read back from the spool) as the
    ``(trace_id, span_id, flags)`` ints of ``_otlp_codec.TraceContext``; None (the
    record is sent without it) when it is not that shape, as a spool written by
    another version could hold: one bad capture must not cost the batch."""
    if type(captured) is not tuple or len(captured) != 3:
        return None
    trace_id, span_id, flags = captured
    try:
        return (int(trace_id, 16), int(span_id, 16), int(flags))
    except (TypeError, ValueError):
        return None


class _GrpcWire:
    """OTLP/gRPC: one ``LogsService/Export`` call per batch on a long-lived channel.

    Transient status codes (the OTLP specification's list, with RESOURCE_EXHAUSTED
    always) are retried, after the server's ``RetryInfo`` delay when it sent one; any
    other code rejects the batch.
    """

    def __init__(self, settings: Any) -> None:
        import grpc

        self._grpc = grpc
        self.settings = settings
        self.metadata = tuple((key.lower(), value) for key, value in settings.headers.items())
        self.compression = (grpc.Compression.Gzip if settings.compression == "gzip"
                            else grpc.Compression.NoCompression)
        self.transient = frozenset([grpc.StatusCode.CANCELLED,
                                    grpc.StatusCode.DEADLINE_EXCEEDED,
                                    grpc.StatusCode.ABORTED, grpc.StatusCode.OUT_OF_RANGE,
                                    grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DATA_LOSS,
                                    grpc.StatusCode.RESOURCE_EXHAUSTED])
        self._channel: Any = None
        self._export: Any = None

    def encode(self, items: list) -> bytes:
        codec = _codec()
        request = codec.build_request(_pairs(items), self.settings, time.time_ns())
        return codec.encode(request, "grpc")

    def send(self, payload: bytes, count: int, timeout: float) -> tuple[int, str]:
        grpc = self._grpc
        if self._export is None:
            target = self.settings.endpoint
            self._channel = (grpc.insecure_channel(target) if self.settings.insecure
                             else grpc.secure_channel(target, grpc.ssl_channel_credentials()))
            self._export = self._channel.unary_unary(_LOGS_EXPORT)
        try:
            answer = self._export(payload, timeout=timeout, metadata=self.metadata,
                                  compression=self.compression)
        except grpc.RpcError as exc:
            code = exc.code() if callable(getattr(exc, "code", None)) else None
            details = exc.details() if callable(getattr(exc, "details", None)) else ""
            text = f"gRPC {getattr(code, 'name', code)}: {details}"
            if code in self.transient:
                raise Retry(text, _retry_delay(exc)) from None
            raise Reject(text) from None
        return _codec().rejected_count(answer or b"", "grpc")

    def close(self) -> None:
        channel, self._channel, self._export = self._channel, None, None
        if channel is not None:
            channel.close()

    def after_fork_in_child(self) -> None:
        # The parent's channel is unusable here and must not be closed by the child.
        self._channel = self._export = None


def _retry_delay(exc: Any) -> float | None:
    """The ``google.rpc.RetryInfo`` delay in a failed call's status details, if any."""
    try:
        trailers = exc.trailing_metadata() or ()
        raw = next((value for key, value in trailers if key == "grpc-status-details-bin"),
                   None)
        if raw is None:
            return None
        from google.rpc import error_details_pb2, status_pb2  # type: ignore[import-untyped]
    except Exception:
        return None
    status = status_pb2.Status.FromString(raw)
    for detail in status.details:
        if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            info = error_details_pb2.RetryInfo()
            detail.Unpack(info)
            return info.retry_delay.seconds + info.retry_delay.nanos / 1e9
    return None


class OtlpTransport(DeliveryTransport):
    """Ships entries as OpenTelemetry log records to an OTLP endpoint (a collector).

    ``protocol`` is ``"http/protobuf"`` (the default), ``"http/json"`` or ``"grpc"``.
    ``endpoint``, ``headers``, ``timeout`` (seconds), ``compression`` (``"gzip"`` or
    ``"none"``) and the resource (``service.name`` and more) come from the arguments,
    else from the standard ``OTEL_EXPORTER_OTLP_*``, ``OTEL_SERVICE_NAME`` and
    ``OTEL_RESOURCE_ATTRIBUTES`` variables, as the official SDK reads them; ``resource``
    is a mapping of extra resource attributes. ``insecure`` (gRPC only) asks for a
    plaintext channel to a bare ``host:port``.

    Each entry becomes one LogRecord: its time, the severity (TRACE 1, DEBUG 5, INFO 9,
    WARN 13, ERROR 17, FATAL 21) and its name, the message as the body, the data and
    metadata as typed attributes, the error as ``exception.type``/``.message``/
    ``.stacktrace``, and the trace and span IDs of the span active at the log call
    (or of the ``otel_trace`` plugin's fields). The scope is ``loglayer``.

    Delivery (batching, retries, overflow, the spool, ``stats()``, ``flush``/``close``)
    is the engine's: see ``loglayer.transports._delivery``. Defaults here: batches of
    at most 512 records or 4 MiB (a collector's default gRPC message limit), sent at
    least every second.
    """

    def __init__(self, endpoint: str | None = None, *, protocol: str | None = None,
                 headers: Mapping[str, str] | None = None,
                 resource: Mapping[str, Any] | None = None, timeout: float | None = None,
                 compression: str | None = None, insecure: bool | None = None,
                 id: str = "", level: Any = None, **delivery_options: Any) -> None:
        codec = _codec()
        settings = codec.resolve_settings(endpoint, protocol=protocol, headers=headers,
                                          resource=resource, timeout=timeout,
                                          compression=compression, insecure=insecure)
        self.settings = settings
        wire: Any
        if settings.protocol == "grpc":
            wire = _GrpcWire(settings)
        else:
            protocol_name = settings.protocol

            def encode(items: list) -> bytes:
                request = codec.build_request(_pairs(items), settings, time.time_ns())
                return codec.encode(request, protocol_name)

            def check(status: int, body: bytes) -> tuple[int, str]:
                return codec.rejected_count(body, protocol_name)

            wire = HttpWire(settings.endpoint, encoder=encode,
                            content_type=codec.content_type(protocol_name),
                            headers=settings.headers, compression=settings.compression,
                            check=check)
        options = {"max_batch_entries": 512, "max_batch_bytes": 4 * _MiB,
                   "timeout": settings.timeout, **delivery_options}
        super().__init__(wire, id=id, level=level,
                         capture=_capturer(codec.capture_trace_context), **options)

    def __repr__(self) -> str:
        return (f"<OtlpTransport id={self.id!r} endpoint={self.settings.endpoint!r} "
                f"protocol={self.settings.protocol!r}>")
