"""The OTLP logs encoding: what ``OtlpTransport`` sends, and the settings it sends it with.

The transport calls four things here, on two threads:

* :func:`resolve_settings` once, when it is built: the endpoint, protocol, headers,
  resource, timeout and compression from its arguments and the ``OTEL_*`` environment
  variables, read the way the official Python SDK (1.45) reads them.
* :func:`capture_trace_context` in ``send()``, on the caller's thread: the active
  OpenTelemetry span's IDs. An entry does not carry the span, and the batch is encoded
  later on the worker thread, where that span is no longer current, so its IDs are
  taken at the call and travel with the entry.
* :func:`build_request`, :func:`encode` and :func:`content_type` on the worker: one
  ``ExportLogsServiceRequest`` per batch, as protobuf or OTLP/JSON bytes.
* :func:`rejected_count` on the answer: the records a collector refused in a partial
  success.

The request is built from the ``opentelemetry-proto`` message classes (the ``otlp``
extra), so the wire format is the one the collector compiles from the same ``.proto``
files. This module imports them at its top; only the transport imports this module, and
only when an OTLP transport is built, so ``import loglayer`` never needs them.

One entry is one ``LogRecord``:

* ``time_unix_nano``: the entry's emission time; ``observed_time_unix_nano``: the time
  the batch is encoded (when the record was "observed" by the exporting side).
* ``severity_number`` / ``severity_text``: TRACE 1, DEBUG 5, INFO 9, WARN 13, ERROR 17,
  FATAL 21, each the first number of its OTLP band, and the level's name. A level that
  is another int takes the band of the nearest level below it (25 is INFO, 9; 60 is
  FATAL, 21; anything below TRACE is TRACE, 1) and its own name (or number) as text; a
  level that is not an int is ``SEVERITY_NUMBER_UNSPECIFIED`` (0).
* ``body``: the message text as a string, the prefix and messages joined by one space,
  exactly as a JSON line's ``msg``.
* ``attributes``: exactly the keys a JSON line holds besides its time, level and message
  (the data, then the metadata at the root or under its ``metadata_key``), with their
  types (see :func:`build_request`), except the error and the trace IDs, which become
  the fields OpenTelemetry defines for them:
* the error: ``exception.type``, ``exception.message`` and ``exception.stacktrace``
  (the semantic conventions' names), from the serialized error in the data, i.e. what
  the hooks left of it (``redact`` censoring a message censors it here too), or from
  the exception when the data holds none. The error key itself is left out when these
  three say all it held; a data key of the same name wins, as in the SDK.
* the call site a logger made with ``source=True`` captured (``entry.source``):
  ``code.file.path``, ``code.line.number`` and ``code.function.name``, the stable names
  of the semantic conventions since 1.30 (2025; ``code.filepath``, ``code.lineno`` and
  ``code.function`` before them), in place of the data key that holds it. The function
  is its bare name, as ``logging``'s ``funcName`` gives it.
* ``trace_id`` / ``span_id`` / ``flags``: from :func:`capture_trace_context`, else from
  the ``trace_id``, ``span_id`` and ``trace_flags`` data fields the ``otel_trace``
  plugin writes (with its default keys), which are then left out of the attributes.

The batch has one ``ResourceLogs`` (the settings' resource) and one ``ScopeLogs`` with
the scope ``loglayer`` at loglayer's version.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import enum
import os
import re
import sys
import uuid
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from .. import _render_py
from .._common import describe, is_mapping, stderr_line, text_of
from .._errorfmt import serialize_error
from .._validate import (
    check_bool,
    check_choice,
    check_int,
    check_key,
    check_mapping,
    check_number,
    check_type,
    type_name,
)
from .._version import __version__
from ..levels import LogLevel
from ..utils._tomap import to_map

__all__ = [
    "PROTOCOLS",
    "COMPRESSIONS",
    "OtlpSettings",
    "TraceContext",
    "build_request",
    "capture_trace_context",
    "content_type",
    "encode",
    "rejected_count",
    "resolve_settings",
]

#: The protocols :func:`resolve_settings` accepts, as ``OTEL_EXPORTER_OTLP_PROTOCOL`` names them.
PROTOCOLS = ("http/protobuf", "http/json", "grpc")
#: The compressions :func:`resolve_settings` accepts.
COMPRESSIONS = ("gzip", "none")

#: ``(trace_id, span_id, trace_flags)`` as ints: what :func:`capture_trace_context`
#: returns and :func:`build_request` takes with each entry. A plain tuple, because it is
#: made on the caller's thread for every entry.
TraceContext = tuple[int, int, int]

_DEFAULT_HTTP_ENDPOINT = "http://localhost:4318"
_LOGS_PATH = "v1/logs"
_DEFAULT_GRPC_ENDPOINT = "http://localhost:4317"
_DEFAULT_TIMEOUT = 10.0
_DEFAULT_PROTOCOL = "http/protobuf"

_CONTENT_TYPES = {"http/protobuf": "application/x-protobuf", "http/json": "application/json",
                  "grpc": "application/grpc"}

_SCOPE_NAME = "loglayer"

# The OTLP severity number of each level: the first of its band of four.
_SEVERITY = {LogLevel.TRACE: 1, LogLevel.DEBUG: 5, LogLevel.INFO: 9, LogLevel.WARN: 13,
             LogLevel.ERROR: 17, LogLevel.FATAL: 21}
_SEVERITY_TEXT = {level: level.name for level in LogLevel}
_LEVELS_DOWN = sorted(LogLevel, reverse=True)

_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1
_UINT64_MAX = (1 << 64) - 1

# How deep attribute values are followed; deeper containers become "[Truncated]". A
# nested map costs three protobuf message levels (AnyValue, KeyValueList, KeyValue), and
# protobuf's own Python decoder (upb) refuses messages nested beyond 100 levels, so a
# receiver written with it must be able to read what this writes.
_MAX_DEPTH = 20

# The data fields the otel_trace plugin writes, with its default keys.
_TRACE_ID_KEY = "trace_id"
_SPAN_ID_KEY = "span_id"
_TRACE_FLAGS_KEY = "trace_flags"
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")

# The keys of the default error serializer's dict; a serialized error holding only these
# is said in full by the exception.* attributes.
_ERROR_PARTS = frozenset(["type", "message", "traceback", "cause"])

_ABSENT: Any = object()


# -- settings ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class OtlpSettings:
    """Where and how an ``OtlpTransport`` sends: made by :func:`resolve_settings`.

    ``endpoint`` is the URL requests are posted to for HTTP (``.../v1/logs``), or the
    gRPC target (``host:port``). ``insecure`` says whether the connection is plaintext:
    for HTTP, whether the URL is ``http://``; for gRPC, whether the channel is opened
    without TLS. ``headers`` are sent with every request (names in lower case).
    ``resource`` holds the resource attributes of every batch. ``timeout`` is in
    seconds. The dicts are the settings' own: do not change them.
    """

    endpoint: str
    protocol: str
    headers: dict[str, str]
    resource: dict[str, Any]
    timeout: float
    compression: str
    insecure: bool


def resolve_settings(endpoint: str | None = None, *, protocol: str | None = None,
                     headers: Mapping[str, str] | None = None,
                     resource: Mapping[str, Any] | None = None,
                     timeout: float | None = None, compression: str | None = None,
                     insecure: bool | None = None,
                     environ: Mapping[str, str] = os.environ) -> OtlpSettings:
    """The settings of an OTLP transport: each argument, else its ``OTEL_*`` variable.

    Why the variables: an application configured for OpenTelemetry (by its deployment,
    an operator, a sidecar) sends its logs where its traces go without loglayer being
    told again. They are read as the official Python SDK 1.45 reads them, so one set of
    variables configures both; for each setting the ``OTEL_EXPORTER_OTLP_LOGS_*``
    variable wins over the ``OTEL_EXPORTER_OTLP_*`` one, and an argument wins over both.
    An empty variable counts as unset (the specification's rule). ``environ`` is where
    the variables are read (``os.environ``; tests pass a dict).

    * ``protocol``: ``"http/protobuf"`` (the default, as the specification says; the
      SDK's own auto-configuration defaults to gRPC), ``"http/json"`` or ``"grpc"``;
      ``OTEL_EXPORTER_OTLP_[LOGS_]PROTOCOL``.
    * ``endpoint``: for HTTP, the full URL requests are posted to. The
      ``OTEL_EXPORTER_OTLP_LOGS_ENDPOINT`` variable is used as it is; the generic
      ``OTEL_EXPORTER_OTLP_ENDPOINT`` is a base URL to which ``/v1/logs`` is appended.
      The default is ``http://localhost:4318/v1/logs``. For gRPC, either variable (the
      logs one first) or the argument is a URL or a target; a URL's ``host:port`` is
      the target (``localhost:4317`` by default).
    * ``insecure`` (gRPC; for HTTP the URL's scheme decides and the argument is not
      used): a plaintext channel. An ``https://`` endpoint is always TLS;
      otherwise the argument, else ``OTEL_EXPORTER_OTLP_[LOGS_]INSECURE`` (``true`` in
      any case means insecure), else whether the endpoint is an ``http://`` URL. As in
      the SDK, a bare ``host:port`` endpoint therefore means TLS unless told otherwise.
    * ``headers``: ``OTEL_EXPORTER_OTLP_[LOGS_]HEADERS`` as ``k=v,k2=v2`` with
      URL-encoded values (a pair with unencoded spaces is taken as written, as the SDK
      takes it), then the argument's headers on top; names are lower-cased. The SDK's
      gRPC exporter drops the variable's headers when headers are passed; here they are
      merged for both protocols, as the SDK's HTTP exporter does.
    * ``resource``: ``telemetry.sdk.language`` ``"python"``, ``telemetry.sdk.name``
      ``"loglayer"`` and ``telemetry.sdk.version``, then ``OTEL_RESOURCE_ATTRIBUTES``
      (``k=v,...``, values URL-decoded), then ``OTEL_SERVICE_NAME`` as ``service.name``,
      then the argument (values: str, bool, int, float, or a list or tuple of those).
      Without a ``service.name`` it is ``unknown_service:<executable name>``, the SDK's
      default. The SDK's random ``service.instance.id`` is not added: set it in
      ``OTEL_RESOURCE_ATTRIBUTES`` where instances must be told apart.
    * ``timeout``: seconds per request, ``OTEL_EXPORTER_OTLP_[LOGS_]TIMEOUT`` also in
      **seconds**, as the Python SDK reads it (the specification says milliseconds;
      following the SDK keeps one value meaning the same for both), default 10.
    * ``compression``: ``"gzip"`` or ``"none"`` (the default);
      ``OTEL_EXPORTER_OTLP_[LOGS_]COMPRESSION``, in any case.

    An argument of the wrong type is a ``TypeError``, a wrong value a ``ValueError``;
    so is an unknown protocol or an endpoint that is not an ``http(s)://`` URL in a
    variable. A variable the SDK tolerates (a malformed header or resource pair, a
    timeout that is not a positive number, a compression other than gzip or none) is
    ignored as the SDK ignores it, with one line on stderr saying so.
    """
    check_type("environ", environ, Mapping, "a mapping")
    check_key("endpoint", endpoint)
    check_bool("insecure", insecure, allow_none=True)
    check_number("timeout", timeout, above=0, finite=True, allow_none=True)
    if protocol is None:
        protocol = _protocol_from(environ)
    else:
        check_choice("protocol", protocol, PROTOCOLS)
    if compression is None:
        compression = _compression_from(environ)
    else:
        check_choice("compression", compression, COMPRESSIONS)
    merged_headers = _headers_from(environ)
    if headers is not None:
        merged_headers.update(_checked_headers(headers))
    if protocol == "grpc":
        target, insecure = _grpc_target(endpoint, insecure, environ)
    else:
        target = _http_endpoint(endpoint, environ)
        insecure = urlsplit(target).scheme == "http"
    return OtlpSettings(
        endpoint=target,
        protocol=protocol,
        headers=merged_headers,
        resource=_resource(resource, environ),
        timeout=_timeout_from(environ) if timeout is None else float(timeout),
        compression=compression,
        insecure=insecure,
    )


def _env(environ: Mapping[str, str], suffix: str) -> tuple[str, str] | None:
    """``(name, value)`` of ``OTEL_EXPORTER_OTLP_LOGS_<suffix>``, else of
    ``OTEL_EXPORTER_OTLP_<suffix>``; None when both are unset or empty."""
    for name in (f"OTEL_EXPORTER_OTLP_LOGS_{suffix}", f"OTEL_EXPORTER_OTLP_{suffix}"):
        value = environ.get(name)
        if value:
            return name, value
    return None


def _protocol_from(environ: Mapping[str, str]) -> str:
    found = _env(environ, "PROTOCOL")
    if found is None:
        return _DEFAULT_PROTOCOL
    name, value = found
    value = value.strip()
    if value not in PROTOCOLS:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, PROTOCOLS))}, "
                         f"got {value!r}")
    return value


def _compression_from(environ: Mapping[str, str]) -> str:
    found = _env(environ, "COMPRESSION")
    if found is None:
        return "none"
    name, value = found
    value = value.strip().lower()
    if value not in COMPRESSIONS:
        stderr_line(f"{name}={value!r} is not a compression loglayer supports "
                    f"(gzip, none): sending uncompressed")
        return "none"
    return value


def _timeout_from(environ: Mapping[str, str]) -> float:
    found = _env(environ, "TIMEOUT")
    if found is None:
        return _DEFAULT_TIMEOUT
    name, value = found
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds < float("inf"):
        stderr_line(f"{name}={value!r} is not a positive number of seconds: "
                    f"using {_DEFAULT_TIMEOUT:g}")
        return _DEFAULT_TIMEOUT
    return seconds


def _http_endpoint(endpoint: str | None, environ: Mapping[str, str]) -> str:
    """The URL to post to: the argument or the logs variable as they are, else the
    generic variable (or the default) with ``/v1/logs`` appended."""
    if endpoint is not None:
        return _checked_url("endpoint", endpoint)
    name = "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"
    value = environ.get(name)
    if value:
        return _checked_url(name, value)
    base = _checked_url("OTEL_EXPORTER_OTLP_ENDPOINT",
                        environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or _DEFAULT_HTTP_ENDPOINT)
    return base.removesuffix("/") + "/" + _LOGS_PATH


def _checked_url(name: str, url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{name} must be an http:// or https:// URL, got {url!r}")
    return url


def _grpc_target(endpoint: str | None, insecure: bool | None,
                 environ: Mapping[str, str]) -> tuple[str, bool]:
    """The gRPC target and whether its channel is plaintext (see resolve_settings)."""
    if endpoint is None:
        endpoint = (environ.get("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT")
                    or environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or _DEFAULT_GRPC_ENDPOINT)
    parts = urlsplit(endpoint)
    if parts.scheme == "https":
        insecure = False
    elif insecure is None:
        found = _env(environ, "INSECURE")
        insecure = (found[1].strip().lower() == "true" if found is not None
                    else parts.scheme == "http")
    return (parts.netloc or endpoint), insecure


# A header name: an HTTP token (printable ASCII but space and "(),/:;<=>?@[\]{}).
_HEADER_NAME = re.compile(r"[!#-'*+\-.0-9A-Z^-z|~]+")
# A URL-encoded value: printable ASCII but space, '"', ",", ";" and "\" (W3C baggage).
_ENCODED_VALUE = re.compile(r"[!#-+\--:<-\[\]-~]*")
# What the SDK also accepts, as written: the same with spaces.
_SPACED_VALUE = re.compile(r"[ !#-+\--:<-\[\]-~]*")
_PAIR_SEPARATOR = re.compile(r"[ \t]*,[ \t]*")


def _headers_from(environ: Mapping[str, str]) -> dict[str, str]:
    """The headers of ``OTEL_EXPORTER_OTLP_[LOGS_]HEADERS``, parsed as the SDK parses
    them: comma-separated ``name=value`` pairs; a value without spaces is URL-decoded
    (and so is the name), one with spaces is taken as written; names are lower-cased."""
    found = _env(environ, "HEADERS")
    if found is None:
        return {}
    variable, text = found
    headers = {}
    for pair in _PAIR_SEPARATOR.split(text):
        pair = pair.strip()
        if not pair:
            continue
        name, equals, value = pair.partition("=")
        name, value = name.strip(" \t"), value.strip(" \t")
        if not (equals and _HEADER_NAME.fullmatch(name) and _SPACED_VALUE.fullmatch(value)):
            stderr_line(f"{variable}: {pair!r} is not a name=value pair: ignored")
            continue
        if _ENCODED_VALUE.fullmatch(value):
            name, value = unquote(name).strip(), unquote(value).strip()
        if _unsafe_header(name) or _unsafe_header(value):
            stderr_line(f"{variable}: {pair!r} decodes to a line break: ignored")
            continue
        headers[name.lower()] = value
    return headers


def _unsafe_header(text: str) -> bool:
    """Whether ``text`` holds a character that would end or forge a header line."""
    return "\r" in text or "\n" in text or "\0" in text


def _checked_headers(headers: Any) -> dict[str, str]:
    checked = {}
    for name, value in check_mapping("headers", headers).items():
        check_key("headers keys", name, allow_none=False)
        check_type(f"headers[{name!r}]", value, str, "a str")
        if _unsafe_header(name) or _unsafe_header(value):
            raise ValueError(f"headers[{name!r}] must hold no CR, LF or NUL, got {value!r}")
        checked[name.lower()] = value
    return checked


_RESOURCE_SCALARS = (str, bool, int, float)


def _resource(resource: Any, environ: Mapping[str, str]) -> dict[str, Any]:
    attributes: dict[str, Any] = {"telemetry.sdk.language": "python",
                                  "telemetry.sdk.name": "loglayer",
                                  "telemetry.sdk.version": __version__}
    text = environ.get("OTEL_RESOURCE_ATTRIBUTES")
    if text:
        for pair in text.split(","):
            key, equals, value = pair.partition("=")
            key = key.strip()
            if not (equals and key):
                stderr_line(f"OTEL_RESOURCE_ATTRIBUTES: {pair!r} is not a key=value pair: "
                            f"ignored")
                continue
            attributes[key] = unquote(value.strip())
    service = environ.get("OTEL_SERVICE_NAME")
    if service:
        attributes["service.name"] = service
    if resource is not None:
        for key, value in check_mapping("resource", resource).items():
            check_key("resource keys", key, allow_none=False)
            items = value if isinstance(value, (list, tuple)) else (value,)
            for item in items:
                check_type(f"resource[{key!r}]", item, _RESOURCE_SCALARS,
                           "a str, bool, int, float or a list or tuple of them")
            attributes[key] = list(value) if isinstance(value, (list, tuple)) else value
    if not attributes.get("service.name"):
        executable = os.path.basename(sys.executable) if sys.executable else ""
        attributes["service.name"] = (f"unknown_service:{executable}" if executable
                                      else "unknown_service")
    return attributes


# -- trace context -----------------------------------------------------------------------

# (get_current_span, Context) of opentelemetry-api once looked up; False when it is not
# installed. Looked up at the first capture, not at import: the transport works without it.
_trace_api: Any = None


def _load_trace_api() -> Any:
    global _trace_api
    try:
        from opentelemetry.context import Context
        from opentelemetry.trace import get_current_span
    except ImportError:
        _trace_api = False
    else:
        _trace_api = (get_current_span, Context)
    return _trace_api


def capture_trace_context(ctx: Any = None) -> TraceContext | None:
    """``(trace_id, span_id, trace_flags)`` of the active span, or None.

    Call it where the entry is logged (in the transport's ``send()``), pass the result
    to :func:`build_request` with the entry. Which span: the one in ``ctx`` when it is
    an OpenTelemetry ``Context`` (the entry's ``ctx``, set with ``log.with_context``),
    else the current one, as the ``otel_trace`` plugin chooses. None when
    ``opentelemetry-api`` is not installed, when there is no valid span, or when the
    tracer's span fails to answer (this runs inside a log call and never raises).
    """
    api = _trace_api
    if api is None:
        api = _load_trace_api()
    if api is False:
        return None
    get_current_span, context_type = api
    try:
        span_context = get_current_span(ctx if isinstance(ctx, context_type) else None
                                        ).get_span_context()
        if not span_context.is_valid:
            return None
        return (span_context.trace_id, span_context.span_id, int(span_context.trace_flags))
    except Exception:
        return None


# -- the request -------------------------------------------------------------------------


def build_request(entries: Iterable[tuple[Any, TraceContext | None]], settings: OtlpSettings,
                  observed_time_ns: int) -> ExportLogsServiceRequest:
    """One ``ExportLogsServiceRequest`` holding ``entries``, in their order.

    ``entries`` are ``(entry, trace)`` pairs: a ``LogEntry`` of either core and what
    :func:`capture_trace_context` returned for it (or None). ``observed_time_ns`` is
    every record's ``observed_time_unix_nano``: now, in ns since the epoch.

    Attribute values keep their types: a str is a ``string_value`` (lone surrogates,
    which are not UTF-8, written as ``\\udcXX``, as JSON lines write them); a bool a
    ``bool_value``; an int an ``int_value`` when it fits 64 bits, else its decimal
    text; a float a ``double_value`` (NaN and the infinities included); bytes and
    bytearray a ``bytes_value``; a list or tuple an ``array_value``; a dict or another
    mapping a ``kvlist_value`` (keys made str); None an empty value. As in a JSON line,
    a dataclass instance is the map of its fields, an enum member its value, a
    ``datetime``, ``date`` or ``time`` its ISO text and a ``UUID`` its text; any other
    object is its ``str()`` (``<unprintable T>`` when that fails), and metadata that is
    a record (``to_map``) is merged or nested as its fields. A container met again
    inside itself is ``"[Circular]"``, one nested deeper than 20 levels
    ``"[Truncated]"``.

    Never raises because of an entry: a value that cannot be encoded becomes a string,
    and an entry that cannot be read at all becomes a record whose body says why.
    """
    check_type("settings", settings, OtlpSettings, "an OtlpSettings")
    check_int("observed_time_ns", observed_time_ns, minimum=0)
    request = ExportLogsServiceRequest()
    resource_logs = request.resource_logs.add()
    _fill_attributes(resource_logs.resource.attributes, settings.resource)
    scope_logs = resource_logs.scope_logs.add()
    scope_logs.scope.name = _SCOPE_NAME
    scope_logs.scope.version = __version__
    records = scope_logs.log_records
    for entry, trace in entries:
        record = records.add()
        try:
            _fill_record(record, entry, trace, observed_time_ns)
        except Exception as exc:
            record.Clear()
            record.observed_time_unix_nano = observed_time_ns
            record.body.string_value = _render_py._utf8_text(
                f"[loglayer could not encode this entry: {describe(exc)}]")
    return request


def _fill_record(record: Any, entry: Any, trace: TraceContext | None, observed: int) -> None:
    time_ns = entry.time_ns
    if type(time_ns) is int and 0 <= time_ns <= _UINT64_MAX:
        record.time_unix_nano = time_ns
    record.observed_time_unix_nano = observed
    record.severity_number, record.severity_text = _severity(entry.level)
    record.body.string_value = _render_py._utf8_text(
        _render_py._message_text(entry.messages, entry.prefix))
    attributes = _attributes(entry)
    _take_trace(record, attributes, trace)
    _fill_attributes(record.attributes, attributes)


def _severity(level: Any) -> tuple[int, str]:
    """The OTLP severity number and text of ``level`` (see the module docstring)."""
    number = _SEVERITY.get(level) if type(level) is LogLevel else None
    if number is not None:
        return number, _SEVERITY_TEXT[level]
    text = _render_py._utf8_text(_render_py._level_name(level).upper())
    if not issubclass(type(level), int):
        return 0, text
    number = int.__int__(level)
    for known in _LEVELS_DOWN:
        if number >= known:
            return _SEVERITY[known], text
    return _SEVERITY[LogLevel.TRACE], text


def _key(key: Any) -> str:
    return _render_py._utf8_text(key if type(key) is str else text_of(key))


def _attributes(entry: Any) -> dict[str, Any]:
    """What a JSON line holds besides time, level and message, with the serialized
    error turned into the exception.* attributes (see the module docstring)."""
    attributes: dict[str, Any] = {}
    data = entry.data
    if data:
        pairs = _render_py._items(data)
        if pairs is None:
            attributes["data"] = _render_py._default(data)
        else:
            for key, value in pairs:
                attributes[_key(key)] = value
    error = entry.error
    error_key = getattr(entry, "error_key", "err")
    serialized = attributes.get(error_key, _ABSENT) if type(error_key) is str else _ABSENT
    if error is not None or _is_serialized_error(serialized):
        exception, said_in_full = _exception_attributes(error, serialized)
        if said_in_full and serialized is not _ABSENT:
            del attributes[error_key]
    else:
        exception = {}
    metadata = entry.metadata
    if metadata is not None:
        mapped = metadata if type(metadata) is dict else to_map(metadata)
        metadata_key = entry.metadata_key
        if mapped is None:
            attributes[_key(metadata_key or "metadata")] = metadata
        elif metadata_key:
            attributes[_key(metadata_key)] = mapped
        else:
            pairs = _render_py._items(mapped)
            if pairs is None:
                attributes["metadata"] = _render_py._default(mapped)
            else:
                for key, value in pairs:
                    attributes[_key(key)] = value
    for key, value in exception.items():  # as in the SDK, the entry's own keys win
        attributes.setdefault(key, value)
    source = getattr(entry, "source", None)
    if type(source) is dict:
        for key in [key for key, value in attributes.items() if value is source]:
            del attributes[key]
        for name, key in _CODE_ATTRIBUTES:
            if key in source:
                attributes.setdefault(name, source[key])
    return attributes


#: A captured call site's keys and the semantic-convention attributes they become.
_CODE_ATTRIBUTES = (("code.file.path", "file"), ("code.line.number", "line"),
                    ("code.function.name", "function"))


def _is_serialized_error(value: Any) -> bool:
    """Whether ``value`` has the default serializer's shape: an entry with no exception
    (one rebuilt from elsewhere) may still carry its serialized error."""
    return (issubclass(type(value), dict)
            and type(_render_py._get(value, "type")) is str
            and type(_render_py._get(value, "message")) is str)


def _exception_attributes(error: Any, serialized: Any) -> tuple[dict[str, str], bool]:
    """The exception.* attributes, and whether they say all ``serialized`` held.

    From ``serialized`` (the data's, which hooks may have censored) when the data holds
    it, else from ``error``. A dict gives its ``type``, ``message`` and the traceback
    text of its ``cause`` chain; a str is the message; another value says nothing but
    the exception's type.
    """
    if serialized is _ABSENT:
        if not issubclass(type(error), BaseException):
            return {"exception.type": type(error).__name__,
                    "exception.message": _render_py._utf8_text(text_of(error))}, True
        serialized = serialize_error(error)
    cls = type(serialized)
    attributes = {}
    if issubclass(cls, dict):
        name = _render_py._get(serialized, "type")
        message = _render_py._get(serialized, "message")
        if type(name) is str:
            attributes["exception.type"] = _render_py._utf8_text(name)
        elif error is not None:
            attributes["exception.type"] = _error_type(error)
        if type(message) is str:
            attributes["exception.message"] = _render_py._utf8_text(message)
        stacktrace = _render_py._chain_text(error, serialized)
        if stacktrace is not None:
            attributes["exception.stacktrace"] = _render_py._utf8_text(stacktrace)
        pairs = _render_py._items(serialized)
        said_in_full = (type(name) is str and type(message) is str and pairs is not None
                        and all(key in _ERROR_PARTS for key, _ in pairs))
        return attributes, said_in_full
    if error is not None:
        attributes["exception.type"] = _error_type(error)
    if issubclass(cls, str):
        attributes["exception.message"] = _render_py._utf8_text(str.__str__(serialized))
        return attributes, True
    return attributes, False


def _error_type(error: Any) -> str:
    """The qualified type name of ``error``, as the error serializer writes it."""
    if issubclass(type(error), BaseException):
        return _render_py._utf8_text(serialize_error(error)["type"])
    return type(error).__name__


def _hex_id(value: Any, digits: int) -> int:
    """The ID written as ``digits`` hex digits in ``value``; 0 when it is not one."""
    if type(value) is str and len(value) == digits and _HEX_DIGITS.issuperset(value):
        return int(value, 16)
    return 0


def _take_trace(record: Any, attributes: dict[str, Any], trace: TraceContext | None) -> None:
    """Set the record's trace fields from ``trace``, else from the otel_trace fields of
    the data; the data's fields are left out when they say what the record says."""
    data_trace = _hex_id(attributes.get(_TRACE_ID_KEY), 32)
    data_span = _hex_id(attributes.get(_SPAN_ID_KEY), 16)
    data_flags = attributes.get(_TRACE_FLAGS_KEY, _ABSENT)
    if type(data_flags) is not int or not 0 <= data_flags <= 0xFF:
        data_flags = _ABSENT
    if trace is not None:
        trace_id, span_id, flags = trace
    elif data_trace:
        trace_id, span_id, flags = data_trace, data_span, 0 if data_flags is _ABSENT else data_flags
    else:
        return
    if trace_id:
        record.trace_id = trace_id.to_bytes(16, "big")
    if span_id:
        record.span_id = span_id.to_bytes(8, "big")
    record.flags = flags & 0xFF
    if data_trace and data_trace == trace_id \
            and (_SPAN_ID_KEY not in attributes or data_span == span_id) \
            and (_TRACE_FLAGS_KEY not in attributes or data_flags == flags):
        attributes.pop(_TRACE_ID_KEY)
        attributes.pop(_SPAN_ID_KEY, None)
        attributes.pop(_TRACE_FLAGS_KEY, None)


# -- values ------------------------------------------------------------------------------


def _fill_attributes(target: Any, attributes: Mapping[str, Any]) -> None:
    """Append ``attributes`` to a repeated ``KeyValue`` field."""
    for key, value in attributes.items():
        pair = target.add()
        pair.key = key
        try:
            _fill(pair.value, value, 0, set())
        except Exception:  # a type test or conversion a hostile class makes fail
            pair.value.Clear()
            pair.value.string_value = _render_py._utf8_text(_render_py._default(value))


def _fill(target: AnyValue, value: Any, depth: int, path: set[int]) -> None:
    """Set the empty ``AnyValue`` ``target`` to ``value`` (the rules of build_request).

    ``path`` holds the ids of the containers being filled around this value, so a
    container inside itself is seen. Types are asked of ``type(value)``, never of the
    object, whose ``__class__`` a proxy may make raise.
    """
    cls = type(value)
    if cls is str:
        target.string_value = value if value.isascii() else _render_py._utf8_text(value)
    elif value is None:
        target.SetInParent()
    elif cls is bool:
        target.bool_value = value
    elif issubclass(cls, int):
        number = int.__int__(value)
        if _INT64_MIN <= number <= _INT64_MAX:
            target.int_value = number
        else:
            target.string_value = _render_py._default(number)
    elif issubclass(cls, float):
        target.double_value = float.__float__(value)
    elif issubclass(cls, str):
        target.string_value = _render_py._utf8_text(str.__str__(value))
    elif issubclass(cls, (bytes, bytearray)):
        target.bytes_value = bytes(memoryview(value))
    elif issubclass(cls, (list, tuple)) or is_mapping(value):
        _fill_container(target, value, depth, path)
    elif cls in (datetime.datetime, datetime.date, datetime.time):
        target.string_value = value.isoformat()
    elif cls is uuid.UUID:
        target.string_value = str(value)
    elif issubclass(cls, enum.Enum):
        _fill_nested(target, value, depth, path, _render_py._enum_value)
    elif dataclasses.is_dataclass(cls):
        _fill_nested(target, value, depth, path, _render_py._dataclass_fields)
    else:
        target.string_value = _render_py._utf8_text(_render_py._default(value))


def _fill_nested(target: AnyValue, value: Any, depth: int, path: set[int], unwrap: Any) -> None:
    """Fill ``target`` with what ``unwrap(value)`` gives, one level deeper."""
    if depth >= _MAX_DEPTH:
        target.string_value = "[Truncated]"
        return
    ident = id(value)
    if ident in path:
        target.string_value = "[Circular]"
        return
    try:
        inner = unwrap(value)
    except Exception:
        target.string_value = _render_py._utf8_text(_render_py._default(value))
        return
    path.add(ident)
    try:
        _fill(target, inner, depth + 1, path)
    finally:
        path.discard(ident)


def _fill_container(target: AnyValue, value: Any, depth: int, path: set[int]) -> None:
    """An ``array_value`` or a ``kvlist_value``, from a snapshot of ``value``'s items."""
    if depth >= _MAX_DEPTH:
        target.string_value = "[Truncated]"
        return
    ident = id(value)
    if ident in path:
        target.string_value = "[Circular]"
        return
    path.add(ident)
    try:
        if issubclass(type(value), (list, tuple)):
            items = list(value)
            values = target.array_value.values
            target.array_value.SetInParent()
            for item in items:
                _fill(values.add(), item, depth + 1, path)
        else:
            pairs = _render_py._items(value)
            if pairs is None:
                raise TypeError("its items cannot be read")
            if not all(type(key) is str for key, _ in pairs):
                pairs = list({_key(key): item for key, item in pairs}.items())
            values = target.kvlist_value.values
            target.kvlist_value.SetInParent()
            for key, item in pairs:
                pair = values.add()
                pair.key = key if key.isascii() else _render_py._utf8_text(key)
                _fill(pair.value, item, depth + 1, path)
    except Exception:  # iteration that fails, a value protobuf refuses: the text
        target.Clear()
        target.string_value = _render_py._utf8_text(_render_py._default(value))
    finally:
        path.discard(ident)


# -- bytes -------------------------------------------------------------------------------


def encode(request: ExportLogsServiceRequest, protocol: str) -> bytes:
    """The request body for ``protocol``: protobuf for ``"http/protobuf"`` and
    ``"grpc"``, OTLP/JSON for ``"http/json"``.

    OTLP/JSON is protobuf's JSON mapping (lowerCamelCase names, enums as numbers,
    64-bit integers as decimal strings, bytes as base64) with the one exception the
    OTLP specification makes: ``traceId`` and ``spanId`` are hex strings.
    """
    check_choice("protocol", protocol, PROTOCOLS)
    if protocol != "http/json":
        return request.SerializeToString()
    body = json_format.MessageToDict(request, use_integers_for_enums=True)
    for resource_logs in body.get("resourceLogs", ()):
        for scope_logs in resource_logs.get("scopeLogs", ()):
            for record in scope_logs.get("logRecords", ()):
                for name in ("traceId", "spanId"):
                    if name in record:
                        record[name] = base64.b64decode(record[name]).hex()
    return orjson.dumps(body)


def content_type(protocol: str) -> str:
    """The ``Content-Type`` of a request body for ``protocol``."""
    return _CONTENT_TYPES[check_choice("protocol", protocol, PROTOCOLS)]


def rejected_count(response: bytes, protocol: str) -> tuple[int, str]:
    """``(rejected log records, the collector's error message)`` of a successful answer.

    A collector that accepted only part of a batch says so in the answer's
    ``partial_success``; an empty body, or one without it, is ``(0, "")``. ``response``
    is protobuf for ``"http/protobuf"`` and ``"grpc"``, OTLP/JSON for ``"http/json"``.
    A body that is not an ``ExportLogsServiceResponse`` is a ``ValueError`` (the
    records were still accepted: a success status says so).
    """
    check_choice("protocol", protocol, PROTOCOLS)
    check_type("response", response, (bytes, bytearray, memoryview), "bytes")
    answer = ExportLogsServiceResponse()
    body = bytes(response)
    try:
        if protocol == "http/json":
            if body.strip():
                json_format.Parse(body, answer, ignore_unknown_fields=True)
        else:
            answer.ParseFromString(body)
    except (DecodeError, json_format.ParseError, UnicodeDecodeError) as exc:
        raise ValueError(f"response must be an ExportLogsServiceResponse in {protocol}, "
                         f"got {type_name(response)} that fails to parse: "
                         f"{describe(exc)}") from None
    partial = answer.partial_success
    return int(partial.rejected_log_records), partial.error_message
