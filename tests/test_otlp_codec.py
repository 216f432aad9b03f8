"""The OTLP codec (loglayer.transports._otlp_codec): settings from OTEL_* variables, one
LogRecord per entry, the protobuf and OTLP/JSON bodies, the collector's answer; and the
same records and settings as the official OpenTelemetry SDK makes of the same input."""

from __future__ import annotations

import base64
import dataclasses
import datetime
import enum
import json
import math
import os
import re
import sys
import uuid
from collections import OrderedDict
from types import MappingProxyType

import pytest

pytest.importorskip("opentelemetry.proto")

from google.protobuf import json_format  # noqa: E402
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (  # noqa: E402
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)

from loglayer import _core_py, _render_py  # noqa: E402
from loglayer.levels import LogLevel  # noqa: E402
from loglayer.plugins import otel_trace, redact  # noqa: E402
from loglayer.testing import TestTransport  # noqa: E402
from loglayer.transports import _otlp_codec as codec  # noqa: E402

OBSERVED = 1_700_000_000_123_456_789
SETTINGS = codec.resolve_settings(environ={})
TRACE = (0x0AF7651916CD43DD8448EB211C80319C, 0xB7AD6B7169203331, 1)


# -- helpers ------------------------------------------------------------------------------


def logger(core, **config):
    """(logger of ``core``, its TestTransport)."""
    tt = TestTransport("tt")
    return core.LogLayer(transports=tt, **config), tt


def request_of(pairs, settings=SETTINGS) -> ExportLogsServiceRequest:
    """build_request's answer, after a round trip through the wire format: what a
    collector decodes (this also proves the bytes parse)."""
    built = codec.build_request(pairs, settings, OBSERVED)
    return ExportLogsServiceRequest.FromString(built.SerializeToString())


def record_of(entry, trace=None):
    request = request_of([(entry, trace)])
    (resource_logs,) = request.resource_logs
    (scope_logs,) = resource_logs.scope_logs
    (record,) = scope_logs.log_records
    return record


def value_of(any_value):
    """An AnyValue as Python: str, bool, int, float, bytes, list, dict, or None."""
    kind = any_value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [value_of(item) for item in any_value.array_value.values]
    if kind == "kvlist_value":
        return {pair.key: value_of(pair.value) for pair in any_value.kvlist_value.values}
    return getattr(any_value, kind)


def attributes_of(record) -> dict:
    keys = [pair.key for pair in record.attributes]
    assert len(keys) == len(set(keys)), f"repeated attribute keys: {keys}"
    return {pair.key: value_of(pair.value) for pair in record.attributes}


def kinds_of(record) -> dict:
    return {pair.key: pair.value.WhichOneof("value") for pair in record.attributes}


def one_entry(core, *, call=lambda log: log.info("m"), **config):
    log, tt = logger(core, **config)
    call(log)
    return tt.last_line()


# -- the record's own fields --------------------------------------------------------------


@pytest.mark.parametrize(("level", "number"), [
    (LogLevel.TRACE, 1), (LogLevel.DEBUG, 5), (LogLevel.INFO, 9), (LogLevel.WARN, 13),
    (LogLevel.ERROR, 17), (LogLevel.FATAL, 21)])
def test_severity_of_each_level(core, level, number):
    log, tt = logger(core)
    getattr(log, level.name.lower())("m")
    record = record_of(tt.last_line())
    assert record.severity_number == number
    assert record.severity_text == level.name


class StdLevel(enum.IntEnum):
    WARNING = 30


@pytest.mark.parametrize(("level", "number", "text"), [
    (25, 9, "25"), (45, 17, "45"), (60, 21, "60"), (11, 5, "11"), (3, 1, "3"), (0, 1, "0"),
    (-7, 1, "-7"), (StdLevel.WARNING, 13, "WARNING"), ("loud", 0, "LOUD"), (None, 0, "NONE"),
    (2.5, 0, "2.5")])
def test_other_levels_take_the_band_below(core, level, number, text):
    entry = core.LogEntry(level, ["m"], None, None, None, {}, None, None, 5, None, "err")
    record = record_of(entry)
    assert (record.severity_number, record.severity_text) == (number, text)


def test_times(core):
    entry = one_entry(core)
    record = record_of(entry)
    assert record.time_unix_nano == entry.time_ns > 0
    assert record.observed_time_unix_nano == OBSERVED


@pytest.mark.parametrize("time_ns", [-1, 1 << 64, "soon", None, 1.5])
def test_a_time_outside_uint64_is_unknown(time_ns):
    """(The compiled core's entries cannot even hold these.)"""
    entry = _core_py.LogEntry(LogLevel.INFO, ["m"], None, None, None, {}, None, None, time_ns,
                          None, "err")
    record = record_of(entry)
    assert record.time_unix_nano == 0  # OTLP: unknown
    assert record.body.string_value == "m"


class Unprintable:
    def __str__(self):
        raise RuntimeError("no text")


@pytest.mark.parametrize(("prefix", "messages", "body"), [
    (None, ("hello",), "hello"),
    (None, ("a", 1, 2.5, None), "a 1 2.5 None"),
    ("[svc]", ("hello", "world"), "[svc] hello world"),
    ("", ("x",), "x"),
    (None, (), ""),
    (None, (Unprintable(), "after"), "<unprintable Unprintable> after"),
    (None, ("line\nbreak \udc80",), "line\nbreak \\udc80"),
])
def test_body_is_the_json_message_text(core, prefix, messages, body):
    log, tt = logger(core, prefix=prefix)
    log.info(*messages)
    entry = tt.last_line()
    record = record_of(entry)
    assert record.body.WhichOneof("value") == "string_value"
    assert record.body.string_value == body
    line = json.loads(_render_py.render_json(entry, _render_py.JsonFormat()))
    assert record.body.string_value == line["msg"]


def test_resource_and_scope(core):
    settings = codec.resolve_settings(resource={"service.name": "shop", "deployment.id": 7},
                                      environ={})
    (resource_logs,) = request_of([(one_entry(core), None)], settings).resource_logs
    resource = {pair.key: value_of(pair.value) for pair in resource_logs.resource.attributes}
    assert resource == {"telemetry.sdk.language": "python", "telemetry.sdk.name": "loglayer",
                        "telemetry.sdk.version": _version(), "service.name": "shop",
                        "deployment.id": 7}
    (scope_logs,) = resource_logs.scope_logs
    assert (scope_logs.scope.name, scope_logs.scope.version) == ("loglayer", _version())


def _version() -> str:
    import loglayer

    return loglayer.__version__


def test_a_batch_keeps_its_order(core):
    log, tt = logger(core)
    for index in range(5):
        log.info(f"m{index}")
    request = request_of([(entry, None) for entry in tt.lines])
    records = request.resource_logs[0].scope_logs[0].log_records
    assert [record.body.string_value for record in records] == [f"m{i}" for i in range(5)]


# -- attributes ---------------------------------------------------------------------------


class Color(enum.Enum):
    RED = "red"


@dataclasses.dataclass
class Point:
    x: int
    y: list


@pytest.mark.parametrize(("value", "kind", "expected"), [
    ("text", "string_value", "text"),
    ("", "string_value", ""),
    (True, "bool_value", True),
    (False, "bool_value", False),
    (0, "int_value", 0),
    (-(1 << 63), "int_value", -(1 << 63)),
    ((1 << 63) - 1, "int_value", (1 << 63) - 1),
    (1 << 63, "string_value", str(1 << 63)),
    (-(1 << 63) - 1, "string_value", str(-(1 << 63) - 1)),
    pytest.param(10 ** 5000, "string_value", "<unserializable int>", id="int-too-long-for-str"),
    (2.5, "double_value", 2.5),
    (float("inf"), "double_value", float("inf")),
    (b"\x00\xff", "bytes_value", b"\x00\xff"),
    (bytearray(b"ab"), "bytes_value", b"ab"),
    ([1, "a", None, [True]], "array_value", [1, "a", None, [True]]),
    ((1, 2), "array_value", [1, 2]),
    ([], "array_value", []),
    ({"a": {"b": 1}}, "kvlist_value", {"a": {"b": 1}}),
    ({}, "kvlist_value", {}),
    (MappingProxyType({"a": 1}), "kvlist_value", {"a": 1}),
    (OrderedDict(a=1), "kvlist_value", {"a": 1}),
    ({1: "one", None: 2}, "kvlist_value", {"1": "one", "None": 2}),
    ({1: "int", "1": "str"}, "kvlist_value", {"1": "str"}),
    (None, None, None),
    (LogLevel.WARN, "int_value", 30),
    (Color.RED, "string_value", "red"),
    (Point(1, [2]), "kvlist_value", {"x": 1, "y": [2]}),
    (datetime.datetime(2024, 5, 1, 12, 0, 0, 123000, tzinfo=datetime.timezone.utc),
     "string_value", "2024-05-01T12:00:00.123000+00:00"),
    (datetime.date(2024, 5, 1), "string_value", "2024-05-01"),
    (uuid.UUID(int=1), "string_value", "00000000-0000-0000-0000-000000000001"),
    ({1, 2} - {1, 2}, "string_value", "set()"),
    (Unprintable(), "string_value", "<unserializable Unprintable>"),
    ("a\udc80b", "string_value", "a\\udc80b"),
])
def test_attribute_types_are_kept(core, value, kind, expected):
    entry = one_entry(core, call=lambda log: log.with_fields({"v": value}).info("m"))
    record = record_of(entry)
    assert kinds_of(record) == {"v": kind}
    got = attributes_of(record)["v"]
    assert got == expected and type(got) is type(expected)


def test_none_is_a_present_empty_value(core):
    entry = one_entry(core, call=lambda log: log.with_fields({"v": None}).info("m"))
    (pair,) = codec.build_request([(entry, None)], SETTINGS, OBSERVED) \
        .resource_logs[0].scope_logs[0].log_records[0].attributes
    assert pair.HasField("value") and pair.value.WhichOneof("value") is None


def test_nan_is_a_double(core):
    entry = one_entry(core, call=lambda log: log.with_fields({"v": float("nan")}).info("m"))
    assert math.isnan(attributes_of(record_of(entry))["v"])


def test_attributes_are_what_a_json_line_holds(core):
    """Data, fields and metadata: the keys and values a JSON line holds besides its time,
    level and message (also a key named like those three: OTLP has no reserved keys)."""
    log, tt = logger(core)
    metadata = {"user": {"id": 7, "tags": ["a", "b"]}, "ratio": 0.5, "ok": True, "none": None}
    log.with_fields({"request_id": "r-1", "level": "mine", "msg": 2}) \
        .with_metadata(metadata).warn("hello")
    entry = tt.last_line()
    line = json.loads(_render_py.render_json(entry, _render_py.JsonFormat()))
    for key in ("time", "level", "msg"):
        line.pop(key)
    line["level"] = line.pop("_level")
    line["msg"] = line.pop("_msg")
    assert attributes_of(record_of(entry)) == line


def test_metadata_key_nests_the_metadata(core):
    entry = one_entry(core, metadata_key="meta",
                      call=lambda log: log.with_metadata({"a": 1}).info("m"))
    assert attributes_of(record_of(entry)) == {"meta": {"a": 1}}


@dataclasses.dataclass
class User:
    name: str
    admin: bool


def test_record_metadata_is_merged_by_its_fields(core):
    entry = one_entry(core, call=lambda log: log.with_metadata(User("ada", True)).info("m"))
    assert attributes_of(record_of(entry)) == {"name": "ada", "admin": True}


@pytest.mark.parametrize(("metadata", "expected"), [
    ([1, 2], [1, 2]), (42, 42), ("text", "text")])
def test_metadata_that_is_no_record_goes_under_metadata(core, metadata, expected):
    entry = one_entry(core, call=lambda log: log.with_metadata(metadata).info("m"))
    assert attributes_of(record_of(entry)) == {"metadata": expected}


def test_cycles_are_cut(core):
    loop: list = [1]
    loop.append(loop)
    mapping: dict = {"a": 1}
    mapping["self"] = mapping
    point = Point(1, [])
    point.y.append(point)
    shared = [1]
    entry = one_entry(core, call=lambda log: log.with_fields(
        {"loop": loop, "map": mapping, "point": point, "twice": [shared, shared]}).info("m"))
    attributes = attributes_of(record_of(entry))
    assert attributes["loop"] == [1, "[Circular]"]
    assert attributes["map"] == {"a": 1, "self": "[Circular]"}
    assert attributes["point"] == {"x": 1, "y": ["[Circular]"]}
    assert attributes["twice"] == [[1], [1]]  # the same list twice is no cycle


@pytest.mark.parametrize("wrap", [lambda inner: {"k": inner}, lambda inner: [inner]],
                         ids=["maps", "lists"])
def test_deep_values_are_truncated_and_still_decode(core, wrap):
    value: object = "bottom"
    for _ in range(200):
        value = wrap(value)
    entry = one_entry(core, call=lambda log: log.with_fields({"deep": value}).info("m"))
    found = attributes_of(record_of(entry))["deep"]  # record_of decodes the bytes
    depth = 0
    while isinstance(found, (dict, list)):
        found = found["k"] if isinstance(found, dict) else found[0]
        depth += 1
    assert (depth, found) == (20, "[Truncated]")


def test_lone_surrogates_become_escapes_everywhere(core):
    log, tt = logger(core, prefix="p\udc81")
    log.with_fields({"k\udc80": "v\udc80", "nested": {"n\ud800": ["x\udfff"]}}) \
        .with_metadata({"m": "\ud83d"}).info("msg\udc82")
    record = record_of(tt.last_line())
    assert record.body.string_value == "p\\udc81 msg\\udc82"
    assert attributes_of(record) == {"k\\udc80": "v\\udc80",
                                     "nested": {"n\\ud800": ["x\\udfff"]}, "m": "\\ud83d"}


class BadItems(dict):
    def items(self):
        raise RuntimeError("no items")

    def __iter__(self):
        raise RuntimeError("no iteration")


class BadList(list):
    def __iter__(self):
        raise RuntimeError("no iteration")


class BadClass:
    @property
    def __class__(self):
        raise RuntimeError("no class")

    def __str__(self):
        return "bad class"


class SneakyStr(str):
    def __str__(self):
        raise RuntimeError("no str")


class SneakyInt(int):
    def __int__(self):
        raise RuntimeError("no int")

    def __index__(self):
        raise RuntimeError("no index")


class BadKey:
    def __str__(self):
        raise RuntimeError("no key text")

    def __hash__(self):
        return 1


def test_hostile_values_become_text(core):
    fields = {"dict": BadItems(a=1), "list": BadList([1, 2]), "class": BadClass(),
              "str": SneakyStr("plain"), "int": SneakyInt(5), "key": {BadKey(): 1},
              "unprintable": Unprintable()}
    entry = one_entry(core, call=lambda log: log.with_fields(fields).info("m"))
    attributes = attributes_of(record_of(entry))
    assert attributes == {"dict": {"a": 1},  # read from the dict's storage, not items()
                          "list": "[1, 2]", "class": "bad class", "str": "plain", "int": 5,
                          "key": {"<unprintable BadKey>": 1},
                          "unprintable": "<unserializable Unprintable>"}


class Exploding:
    """An entry whose every attribute fails."""

    def __getattr__(self, name):
        raise RuntimeError(f"no {name}")


def test_an_unreadable_entry_does_not_lose_the_batch(core):
    good = one_entry(core)
    request = request_of([(good, None), (Exploding(), None), (good, TRACE)])
    records = request.resource_logs[0].scope_logs[0].log_records
    assert [record.body.string_value for record in records] == [
        "m", "[loglayer could not encode this entry: RuntimeError: no time_ns]", "m"]
    assert records[1].observed_time_unix_nano == OBSERVED
    assert not records[1].attributes and not records[1].trace_id
    assert records[2].trace_id == TRACE[0].to_bytes(16, "big")


# -- the error ----------------------------------------------------------------------------


class ShopError(Exception):
    pass


def _raise(exc: BaseException) -> BaseException:
    try:
        raise exc
    except BaseException as caught:
        return caught


def _out_of_stock() -> None:
    raise ShopError("out of stock")


def _raised_in_an_expression() -> BaseException:
    """A ShopError whose traceback has a line Python 3.11+ marks with ``^^^^``."""
    try:
        return [None, _out_of_stock()][0]  # type: ignore[func-returns-value]
    except ShopError as caught:
        return caught


def test_error_becomes_exception_attributes(core):
    error = _raise(ShopError("out of stock"))
    entry = one_entry(core, call=lambda log: log.with_fields({"sku": 1})
                      .with_error(error).error("failed"))
    attributes = attributes_of(record_of(entry))
    assert set(attributes) == {"sku", "exception.type", "exception.message",
                               "exception.stacktrace"}  # no "err"
    assert attributes["exception.type"] == f"{__name__}.ShopError"
    assert attributes["exception.message"] == "out of stock"
    stacktrace = attributes["exception.stacktrace"]
    assert stacktrace.startswith("Traceback (most recent call last):\n")
    assert stacktrace.endswith(f"{__name__}.ShopError: out of stock\n")
    assert "in _raise" in stacktrace


def test_error_chain_is_in_the_stacktrace(core):
    try:
        try:
            raise KeyError("inner")
        except KeyError as inner:
            raise ShopError("outer") from inner
    except ShopError as exc:
        error = exc
    entry = one_entry(core, call=lambda log: log.with_error(error).error("failed"))
    stacktrace = attributes_of(record_of(entry))["exception.stacktrace"]
    assert stacktrace.index("KeyError: 'inner'") < stacktrace.index(
        "direct cause of the following exception") < stacktrace.index("ShopError: outer")


def test_unraised_error_has_no_stacktrace(core):
    entry = one_entry(core, error_key="failure",
                      call=lambda log: log.with_error(ValueError("bad")).error("failed"))
    assert attributes_of(record_of(entry)) == {"exception.type": "ValueError",
                                               "exception.message": "bad"}


def test_censored_error_stays_censored(core):
    """redact censors the serialized error in the data; the exception object still
    holds the secret, and must not be read."""
    error = _raise(ValueError("token secret-123 refused"))
    entry = one_entry(core, plugins=[redact(patterns=[r"secret-\d+"])],
                      call=lambda log: log.with_error(error).error("failed"))
    attributes = attributes_of(record_of(entry))
    assert attributes["exception.message"] == "token [REDACTED] refused"
    assert "secret-123" not in repr(attributes)
    assert "[REDACTED]" in attributes["exception.stacktrace"]


def test_error_missing_from_the_data_is_taken_from_the_exception(core):
    error = _raise(ShopError("bad"))
    entry = core.LogEntry(LogLevel.ERROR, ["m"], {"a": 1}, None, error, {}, None, None, 5,
                          None, "err")
    attributes = attributes_of(record_of(entry))
    assert attributes.pop("exception.stacktrace").endswith("ShopError: bad\n")
    assert attributes == {"a": 1, "exception.type": f"{__name__}.ShopError",
                          "exception.message": "bad"}
    odd = core.LogEntry(LogLevel.ERROR, ["m"], None, None, "not an exception", {}, None, None,
                        5, None, "err")
    assert attributes_of(record_of(odd)) == {"exception.type": "str",
                                             "exception.message": "not an exception"}


def test_error_without_the_exception_object(core):
    """An entry rebuilt from elsewhere carries the serialized error but no exception."""
    serialized = {"type": "app.Timeout", "message": "slow",
                  "traceback": "Traceback (most recent call last):\napp.Timeout: slow\n"}
    entry = core.LogEntry(LogLevel.ERROR, ["m"], {"err": serialized, "a": 1}, None, None, {},
                          None, None, 5, None, "err")
    assert attributes_of(record_of(entry)) == {
        "a": 1, "exception.type": "app.Timeout", "exception.message": "slow",
        "exception.stacktrace": serialized["traceback"]}
    plain = core.LogEntry(LogLevel.INFO, ["m"], {"err": {"code": 3}}, None, None, {}, None,
                          None, 5, None, "err")
    assert attributes_of(record_of(plain)) == {"err": {"code": 3}}  # no error: a field


def test_custom_serializers(core):
    as_text = one_entry(core, error_serializer=lambda exc: f"E:{exc}",
                        call=lambda log: log.with_error(ValueError("x")).error("m"))
    assert attributes_of(record_of(as_text)) == {"exception.type": "ValueError",
                                                 "exception.message": "E:x"}
    rich = one_entry(core, error_serializer=lambda exc: {"type": "V", "message": "x",
                                                         "code": 42},
                     call=lambda log: log.with_error(ValueError("x")).error("m"))
    assert attributes_of(record_of(rich)) == {  # what exception.* cannot say is kept
        "err": {"type": "V", "message": "x", "code": 42},
        "exception.type": "V", "exception.message": "x"}
    odd = one_entry(core, error_serializer=lambda exc: [1, 2],
                    call=lambda log: log.with_error(ValueError("x")).error("m"))
    assert attributes_of(record_of(odd)) == {"err": [1, 2], "exception.type": "ValueError"}


def test_the_entrys_own_exception_keys_win(core):
    """As in the SDK, where the record's attributes win over those of its exception."""
    entry = one_entry(core, call=lambda log: log.with_fields({"exception.type": "mine"})
                      .with_error(ValueError("x")).error("m"))
    attributes = attributes_of(record_of(entry))
    assert attributes["exception.type"] == "mine"
    assert attributes["exception.message"] == "x"


# -- trace context ------------------------------------------------------------------------


def test_captured_trace_sets_the_ids(core):
    record = record_of(one_entry(core), TRACE)
    assert record.trace_id == bytes.fromhex("0af7651916cd43dd8448eb211c80319c")
    assert record.span_id == bytes.fromhex("b7ad6b7169203331")
    assert record.flags == 1


def test_no_trace_leaves_the_ids_empty(core):
    record = record_of(one_entry(core))
    assert (record.trace_id, record.span_id, record.flags) == (b"", b"", 0)


@pytest.fixture
def tracer():
    sdk_trace = pytest.importorskip("opentelemetry.sdk.trace")
    provider = sdk_trace.TracerProvider(shutdown_on_exit=False)
    yield provider.get_tracer("loglayer-tests")
    provider.shutdown()


def test_otel_trace_fields_become_the_ids(core, tracer):
    log, tt = logger(core, plugins=[otel_trace()])
    with tracer.start_as_current_span("checkout") as span:
        log.with_fields({"order": 1}).info("m")
    span_context = span.get_span_context()
    record = record_of(tt.last_line())
    assert record.trace_id == span_context.trace_id.to_bytes(16, "big")
    assert record.span_id == span_context.span_id.to_bytes(8, "big")
    assert record.flags == int(span_context.trace_flags)
    assert record.flags & 0x01  # sampled (0x02, W3C "random", is set by newer SDKs)
    assert attributes_of(record) == {"order": 1}


def test_captured_trace_wins_and_other_ids_are_kept(core):
    other = {"trace_id": "1" * 32, "span_id": "2" * 16, "trace_flags": 0}
    entry = one_entry(core, call=lambda log: log.with_fields(other).info("m"))
    record = record_of(entry, TRACE)
    assert record.trace_id == TRACE[0].to_bytes(16, "big")
    assert attributes_of(record) == other
    same = {"trace_id": f"{TRACE[0]:032X}", "span_id": f"{TRACE[1]:016x}", "trace_flags": 1}
    entry = one_entry(core, call=lambda log: log.with_fields(same).info("m"))
    assert attributes_of(record_of(entry, TRACE)) == {}
    other_span = dict(same, span_id="3" * 16)  # same trace, another span: kept
    entry = one_entry(core, call=lambda log: log.with_fields(other_span).info("m"))
    assert attributes_of(record_of(entry, TRACE)) == other_span
    other_flags = dict(same, trace_flags=0)
    entry = one_entry(core, call=lambda log: log.with_fields(other_flags).info("m"))
    assert attributes_of(record_of(entry, TRACE)) == other_flags


@pytest.mark.parametrize("fields", [
    {"trace_id": "xyz"}, {"trace_id": "0" * 32, "span_id": "1" * 16},
    {"trace_id": "0x" + "1" * 30}, {"trace_id": " " + "1" * 31}, {"trace_id": 5},
    {"span_id": "1" * 16}])
def test_malformed_trace_fields_stay_attributes(core, fields):
    entry = one_entry(core, call=lambda log: log.with_fields(fields).info("m"))
    record = record_of(entry)
    assert record.trace_id == b""
    assert attributes_of(record) == fields


def test_trace_fields_without_flags(core):
    fields = {"trace_id": "a" * 32, "trace_flags": 999}
    record = record_of(one_entry(core, call=lambda log: log.with_fields(fields).info("m")))
    assert record.trace_id == b"\xaa" * 16 and record.span_id == b"" and record.flags == 0
    assert attributes_of(record) == {"trace_id": "a" * 32, "trace_flags": 999}


def test_capture_trace_context(tracer):
    from opentelemetry import context, trace

    assert codec.capture_trace_context() is None
    with tracer.start_as_current_span("outer") as span:
        span_context = span.get_span_context()
        captured = codec.capture_trace_context()
        assert captured == (span_context.trace_id, span_context.span_id,
                            int(span_context.trace_flags))
        assert type(captured) is tuple
    assert codec.capture_trace_context() is None
    # a Context given (the entry's ctx) is used instead of the current one
    ctx = trace.set_span_in_context(span)
    assert codec.capture_trace_context(ctx) == captured
    assert codec.capture_trace_context({"not": "a Context"}) is None
    assert isinstance(ctx, context.Context)


def test_capture_survives_a_broken_span():
    from opentelemetry import trace

    class Broken(trace.NonRecordingSpan):
        def get_span_context(self):
            raise RuntimeError("broken")

    with trace.use_span(Broken(trace.INVALID_SPAN_CONTEXT)):
        assert codec.capture_trace_context() is None


def test_capture_without_opentelemetry_api(monkeypatch):
    monkeypatch.setattr(codec, "_trace_api", None)
    monkeypatch.setitem(sys.modules, "opentelemetry.trace", None)  # import fails
    assert codec.capture_trace_context() is None
    assert codec._trace_api is False  # looked up once


# -- settings -----------------------------------------------------------------------------

LOGS = "OTEL_EXPORTER_OTLP_LOGS_"
ALL = "OTEL_EXPORTER_OTLP_"


@pytest.mark.parametrize(("environ", "args", "endpoint"), [
    ({}, {}, "http://localhost:4318/v1/logs"),
    ({ALL + "ENDPOINT": "http://c:4318"}, {}, "http://c:4318/v1/logs"),
    ({ALL + "ENDPOINT": "http://c:4318/"}, {}, "http://c:4318/v1/logs"),
    ({ALL + "ENDPOINT": "https://c/base"}, {}, "https://c/base/v1/logs"),
    ({LOGS + "ENDPOINT": "http://l:1/custom"}, {}, "http://l:1/custom"),
    ({LOGS + "ENDPOINT": "http://l:1/custom", ALL + "ENDPOINT": "http://c"}, {},
     "http://l:1/custom"),
    ({LOGS + "ENDPOINT": "", ALL + "ENDPOINT": "http://c"}, {}, "http://c/v1/logs"),
    ({LOGS + "ENDPOINT": "http://l", ALL + "ENDPOINT": "http://c"},
     {"endpoint": "https://arg/x"}, "https://arg/x"),
])
def test_http_endpoint_precedence(environ, args, endpoint):
    settings = codec.resolve_settings(environ=environ, **args)
    assert settings.endpoint == endpoint
    assert settings.insecure is endpoint.startswith("http://")


@pytest.mark.parametrize(("environ", "args", "target", "insecure"), [
    ({}, {}, "localhost:4317", True),
    ({ALL + "ENDPOINT": "http://c:4317"}, {}, "c:4317", True),
    ({ALL + "ENDPOINT": "https://c:4317/ignored"}, {}, "c:4317", False),
    ({LOGS + "ENDPOINT": "http://l:1", ALL + "ENDPOINT": "http://c:2"}, {}, "l:1", True),
    ({ALL + "ENDPOINT": "c:4317"}, {}, "c:4317", False),  # no scheme: TLS, as in the SDK
    ({ALL + "ENDPOINT": "c:4317", ALL + "INSECURE": "TRUE"}, {}, "c:4317", True),
    ({ALL + "ENDPOINT": "c:4317", ALL + "INSECURE": "true", LOGS + "INSECURE": "false"}, {},
     "c:4317", False),
    ({ALL + "INSECURE": "false"}, {}, "localhost:4317", False),
    ({ALL + "INSECURE": "false"}, {"insecure": True}, "localhost:4317", True),
    ({}, {"endpoint": "https://s:443", "insecure": True}, "s:443", False),
    ({}, {"endpoint": "dns:///c:4317", "insecure": True}, "dns:///c:4317", True),
])
def test_grpc_target_and_insecure(environ, args, target, insecure):
    settings = codec.resolve_settings(protocol="grpc", environ=environ, **args)
    assert (settings.endpoint, settings.insecure) == (target, insecure)


@pytest.mark.parametrize(("environ", "args", "expected"), [
    ({}, {}, "http/protobuf"),
    ({ALL + "PROTOCOL": "grpc"}, {}, "grpc"),
    ({ALL + "PROTOCOL": " http/json "}, {}, "http/json"),
    ({ALL + "PROTOCOL": "grpc", LOGS + "PROTOCOL": "http/json"}, {}, "http/json"),
    ({LOGS + "PROTOCOL": "grpc"}, {"protocol": "http/protobuf"}, "http/protobuf"),
])
def test_protocol_precedence(environ, args, expected):
    assert codec.resolve_settings(environ=environ, **args).protocol == expected


@pytest.mark.parametrize(("environ", "args", "expected"), [
    ({}, {}, 10.0),
    ({ALL + "TIMEOUT": "2.5"}, {}, 2.5),  # seconds, as the Python SDK reads it
    ({ALL + "TIMEOUT": "2", LOGS + "TIMEOUT": "7"}, {}, 7.0),
    ({LOGS + "TIMEOUT": "7"}, {"timeout": 1}, 1.0),
])
def test_timeout_precedence(environ, args, expected):
    timeout = codec.resolve_settings(environ=environ, **args).timeout
    assert timeout == expected and type(timeout) is float


@pytest.mark.parametrize(("environ", "args", "expected"), [
    ({}, {}, "none"),
    ({ALL + "COMPRESSION": "GZIP "}, {}, "gzip"),
    ({ALL + "COMPRESSION": "gzip", LOGS + "COMPRESSION": "none"}, {}, "none"),
    ({LOGS + "COMPRESSION": "gzip"}, {"compression": "none"}, "none"),
])
def test_compression_precedence(environ, args, expected):
    assert codec.resolve_settings(environ=environ, **args).compression == expected


@pytest.mark.parametrize(("environ", "args", "expected"), [
    ({}, {}, {}),
    ({ALL + "HEADERS": "api-key=abc,X-Tenant=t1"}, {}, {"api-key": "abc", "x-tenant": "t1"}),
    ({ALL + "HEADERS": "a=1", LOGS + "HEADERS": "b=2"}, {}, {"b": "2"}),  # whole variable
    ({ALL + "HEADERS": " a = x%3Dy%2Cz , b=c=d "}, {}, {"a": "x=y,z", "b": "c=d"}),
    ({ALL + "HEADERS": "authorization=Bearer%20tok"}, {}, {"authorization": "Bearer tok"}),
    ({ALL + "HEADERS": "authorization=Bearer tok%20"}, {}, {"authorization": "Bearer tok%20"}),
    ({ALL + "HEADERS": "a=1,,b="}, {}, {"a": "1", "b": ""}),
    ({ALL + "HEADERS": "a=1,b=2"}, {"headers": {"B": "arg", "c": "3"}},
     {"a": "1", "b": "arg", "c": "3"}),
])
def test_headers(environ, args, expected):
    assert codec.resolve_settings(environ=environ, **args).headers == expected


def test_bad_header_pairs_are_skipped_and_said(capsys):
    environ = {ALL + "HEADERS": "good=1,novalue,bad key=2,(x)=3,crlf=a%0D%0Ab,ok=%41"}
    assert codec.resolve_settings(environ=environ).headers == {"good": "1", "ok": "A"}
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"loglayer: {ALL}HEADERS: 'novalue' is not a name=value pair: ignored",
        f"loglayer: {ALL}HEADERS: 'bad key=2' is not a name=value pair: ignored",
        f"loglayer: {ALL}HEADERS: '(x)=3' is not a name=value pair: ignored",
        f"loglayer: {ALL}HEADERS: 'crlf=a%0D%0Ab' decodes to a line break: ignored"]


@pytest.mark.parametrize(("environ", "args", "service"), [
    ({"OTEL_RESOURCE_ATTRIBUTES": "service.name=from-attrs"}, {}, "from-attrs"),
    ({"OTEL_RESOURCE_ATTRIBUTES": "service.name=from-attrs", "OTEL_SERVICE_NAME": "svc"}, {},
     "svc"),
    ({"OTEL_SERVICE_NAME": "svc"}, {"resource": {"service.name": "arg"}}, "arg"),
    ({"OTEL_SERVICE_NAME": ""}, {}, None),
    ({}, {"resource": {"service.name": ""}}, None),
])
def test_service_name_precedence(environ, args, service):
    default = f"unknown_service:{os.path.basename(sys.executable)}"
    resource = codec.resolve_settings(environ=environ, **args).resource
    assert resource["service.name"] == (service or default)


def test_resource_attributes_from_the_environment(capsys):
    environ = {"OTEL_RESOURCE_ATTRIBUTES":
               " deployment.environment = prod ,team=a%2Cb,broken, k=v=w,=x,telemetry.sdk.name=x"}
    resource = codec.resolve_settings(environ=environ, resource={"n": 1, "l": ["a", "b"]}) \
        .resource
    assert resource == {"telemetry.sdk.language": "python", "telemetry.sdk.name": "x",
                        "telemetry.sdk.version": _version(), "deployment.environment": "prod",
                        "team": "a,b", "k": "v=w", "n": 1, "l": ["a", "b"],
                        "service.name": f"unknown_service:{os.path.basename(sys.executable)}"}
    assert capsys.readouterr().err.splitlines() == [
        "loglayer: OTEL_RESOURCE_ATTRIBUTES: 'broken' is not a key=value pair: ignored",
        "loglayer: OTEL_RESOURCE_ATTRIBUTES: '=x' is not a key=value pair: ignored"]


def test_no_executable_name(monkeypatch):
    monkeypatch.setattr(sys, "executable", "")
    assert codec.resolve_settings(environ={}).resource["service.name"] == "unknown_service"


@pytest.mark.parametrize(("name", "value", "said"), [
    ("TIMEOUT", "soon", "is not a positive number of seconds: using 10"),
    ("TIMEOUT", "-1", "is not a positive number of seconds: using 10"),
    ("TIMEOUT", "inf", "is not a positive number of seconds: using 10"),
    ("COMPRESSION", "deflate", "is not a compression loglayer supports (gzip, none): "
                               "sending uncompressed"),
])
def test_tolerated_variables_fall_back_and_say_so(capsys, name, value, said):
    settings = codec.resolve_settings(environ={LOGS + name: value})
    assert (settings.timeout, settings.compression) == (10.0, "none")
    assert capsys.readouterr().err == f"loglayer: {LOGS}{name}={value!r} {said}\n"


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"endpoint": 5}, TypeError, "endpoint must be a non-empty str or None, got int"),
    ({"endpoint": ""}, ValueError, "endpoint must be a non-empty str or None, got ''"),
    ({"endpoint": "localhost:4318"}, ValueError,
     "endpoint must be an http:// or https:// URL, got 'localhost:4318'"),
    ({"protocol": "http"}, ValueError,
     "protocol must be one of 'http/protobuf', 'http/json', 'grpc', got 'http'"),
    ({"protocol": 1}, TypeError, "protocol must be one of 'http/protobuf', 'http/json', "
                                 "'grpc', got int"),
    ({"compression": "deflate"}, ValueError,
     "compression must be one of 'gzip', 'none', got 'deflate'"),
    ({"timeout": 0}, ValueError, "timeout must be above 0, got 0"),
    ({"timeout": float("inf")}, ValueError, "timeout must be finite, got inf"),
    ({"timeout": "5"}, TypeError, "timeout must be a number or None, got str"),
    ({"insecure": "yes"}, TypeError, "insecure must be a bool or None, got str"),
    ({"headers": [("a", "b")]}, TypeError, "headers must be a mapping, got list"),
    ({"headers": {1: "b"}}, TypeError, "headers keys must be a non-empty str, got int"),
    ({"headers": {"a": 1}}, TypeError, "headers['a'] must be a str, got int"),
    ({"headers": {"a": "x\r\ny: z"}}, ValueError,
     "headers['a'] must hold no CR, LF or NUL, got 'x\\r\\ny: z'"),
    ({"resource": {"a": object()}}, TypeError, "resource['a'] must be a str, bool, int, "
                                               "float or a list or tuple of them, got object"),
    ({"resource": {"a": [[1]]}}, TypeError, "resource['a'] must be a str, bool, int, "
                                            "float or a list or tuple of them, got list"),
    ({"resource": {"": 1}}, ValueError, "resource keys must be a non-empty str, got ''"),
    ({"environ": None}, TypeError, "environ must be a mapping, got None"),
])
def test_bad_arguments(kwargs, error, message):
    kwargs.setdefault("environ", {})
    with pytest.raises(error) as info:
        codec.resolve_settings(**kwargs)
    assert str(info.value) == message


@pytest.mark.parametrize(("environ", "message"), [
    ({LOGS + "PROTOCOL": "http/xml"}, f"{LOGS}PROTOCOL must be one of 'http/protobuf', "
                                      f"'http/json', 'grpc', got 'http/xml'"),
    ({ALL + "ENDPOINT": "collector:4318"},
     f"{ALL}ENDPOINT must be an http:// or https:// URL, got 'collector:4318'"),
    ({LOGS + "ENDPOINT": "ftp://x"},
     f"{LOGS}ENDPOINT must be an http:// or https:// URL, got 'ftp://x'"),
])
def test_bad_variables(environ, message):
    with pytest.raises(ValueError) as info:
        codec.resolve_settings(environ=environ)
    assert str(info.value) == message


def test_build_request_arguments():
    with pytest.raises(TypeError, match="^settings must be an OtlpSettings, got dict$"):
        codec.build_request([], {}, OBSERVED)
    with pytest.raises(ValueError, match="^observed_time_ns must be at least 0, got -1$"):
        codec.build_request([], SETTINGS, -1)


# -- the settings against the SDK's exporters ---------------------------------------------

SDK_CASES = [
    {},
    {ALL + "ENDPOINT": "http://c:4318/"},
    {ALL + "ENDPOINT": "http://c:4318", LOGS + "ENDPOINT": "https://l/v9/custom"},
    {ALL + "HEADERS": "A=1,b=x%20y", LOGS + "HEADERS": "c=Bearer tok,D=%3D"},
    {ALL + "HEADERS": "a=1"},
    {ALL + "TIMEOUT": "3", ALL + "COMPRESSION": "gzip"},
    {ALL + "TIMEOUT": "3", LOGS + "TIMEOUT": "4.5", LOGS + "COMPRESSION": "GZIP"},
]


@pytest.mark.parametrize("environ", SDK_CASES)
def test_http_settings_are_the_sdks(monkeypatch, environ):
    http_exporter = pytest.importorskip("opentelemetry.exporter.otlp.proto.http._log_exporter")
    from opentelemetry.exporter.otlp.proto.http import _OTLP_HTTP_HEADERS

    for name in list(os.environ):
        if name.startswith("OTEL_"):
            monkeypatch.delenv(name)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    client = http_exporter.OTLPLogExporter()._client
    ours = codec.resolve_settings()  # reads os.environ, like the SDK
    assert ours.endpoint == client._endpoint
    assert ours.timeout == client._timeout
    assert ours.compression == client._compression.value
    own = {name.lower() for name in _OTLP_HTTP_HEADERS} | {"content-encoding"}
    sdk_headers = {name: value for name, value in client._headers.items()
                   if name.lower() not in own}
    assert ours.headers == sdk_headers


@pytest.mark.parametrize("environ", [
    {}, {ALL + "ENDPOINT": "https://c:4317"}, {LOGS + "ENDPOINT": "http://l:1"},
    {ALL + "ENDPOINT": "c:4317", LOGS + "INSECURE": "true"},
    {ALL + "ENDPOINT": "c:4317", ALL + "INSECURE": "True"},
    {ALL + "HEADERS": "a=1,b=x%20y", ALL + "TIMEOUT": "3", LOGS + "TIMEOUT": "6"}])
def test_grpc_settings_are_the_sdks(monkeypatch, environ):
    grpc_exporter = pytest.importorskip("opentelemetry.exporter.otlp.proto.grpc._log_exporter")
    for name in list(os.environ):
        if name.startswith("OTEL_"):
            monkeypatch.delenv(name)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    exporter = grpc_exporter.OTLPLogExporter()
    try:
        ours = codec.resolve_settings(protocol="grpc")
        assert (ours.endpoint, ours.insecure) == (exporter._endpoint, exporter._insecure)
        assert ours.timeout == exporter._timeout
        assert tuple(ours.headers.items()) == exporter._headers
    finally:
        exporter.shutdown()


def test_resource_is_the_sdks_but_for_its_own_names(monkeypatch):
    """The SDK's Resource.create() from the same variables, except by design:
    telemetry.sdk.name/version name loglayer, and no random service.instance.id."""
    resources = pytest.importorskip("opentelemetry.sdk.resources")
    for name in list(os.environ):
        if name.startswith("OTEL_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "a=1,b=x%20y,service.name=attrs")
    for service in (None, "svc"):
        if service:
            monkeypatch.setenv("OTEL_SERVICE_NAME", service)
        sdk = dict(resources.Resource.create().attributes)
        ours = codec.resolve_settings(resource={"c": True}).resource
        sdk.update({"c": True})
        assert sdk.pop("service.instance.id")
        assert sdk.pop("telemetry.sdk.name") == "opentelemetry"
        sdk.pop("telemetry.sdk.version")
        assert ours.pop("telemetry.sdk.name") == "loglayer"
        assert ours.pop("telemetry.sdk.version") == _version()
        assert ours == sdk
    monkeypatch.delenv("OTEL_SERVICE_NAME")
    monkeypatch.delenv("OTEL_RESOURCE_ATTRIBUTES")
    assert codec.resolve_settings().resource["service.name"] == \
        resources.Resource.create().attributes["service.name"]


# -- bytes --------------------------------------------------------------------------------


def test_protobuf_body(core):
    request = codec.build_request([(one_entry(core), TRACE)], SETTINGS, OBSERVED)
    body = codec.encode(request, "http/protobuf")
    assert body == request.SerializeToString()
    assert codec.encode(request, "grpc") == body
    assert ExportLogsServiceRequest.FromString(body) == request


def test_json_body_is_otlp_json(core):
    log, tt = logger(core)
    log.with_fields({"n": 5, "f": 1.5, "b": b"\x01", "l": [True], "none": None}).warn("hi")
    request = codec.build_request([(tt.last_line(), TRACE)], SETTINGS, OBSERVED)
    body = json.loads(codec.encode(request, "http/json"))
    (resource_logs,) = body["resourceLogs"]
    assert {"key": "service.name", "value": {"stringValue": SETTINGS.resource["service.name"]}} \
        in resource_logs["resource"]["attributes"]
    (scope_logs,) = resource_logs["scopeLogs"]
    assert scope_logs["scope"] == {"name": "loglayer", "version": _version()}
    (record,) = scope_logs["logRecords"]
    assert record["traceId"] == "0af7651916cd43dd8448eb211c80319c"  # hex, not base64
    assert record["spanId"] == "b7ad6b7169203331"
    assert record["flags"] == 1
    assert record["severityNumber"] == 13  # an integer, not "SEVERITY_NUMBER_WARN"
    assert record["severityText"] == "WARN"
    assert record["timeUnixNano"] == str(tt.last_line().time_ns)
    assert record["observedTimeUnixNano"] == str(OBSERVED)
    assert record["body"] == {"stringValue": "hi"}
    assert record["attributes"] == [
        {"key": "n", "value": {"intValue": "5"}},
        {"key": "f", "value": {"doubleValue": 1.5}},
        {"key": "b", "value": {"bytesValue": base64.b64encode(b"\x01").decode()}},
        {"key": "l", "value": {"arrayValue": {"values": [{"boolValue": True}]}}},
        {"key": "none", "value": {}}]


def test_json_body_parses_back_with_the_ids_as_hex(core):
    """The JSON body is the protobuf JSON mapping but for the hex IDs: with them put back
    as base64, protobuf's own parser reads the same request."""
    request = codec.build_request([(one_entry(core), TRACE), (one_entry(core), None)],
                                  SETTINGS, OBSERVED)
    body = json.loads(codec.encode(request, "http/json"))
    records = body["resourceLogs"][0]["scopeLogs"][0]["logRecords"]
    assert "traceId" not in records[1] and "spanId" not in records[1]
    for name in ("traceId", "spanId"):
        assert re.fullmatch("[0-9a-f]+", records[0][name])
        records[0][name] = base64.b64encode(bytes.fromhex(records[0][name])).decode()
    assert json_format.ParseDict(body, ExportLogsServiceRequest()) == request


def test_json_body_of_non_finite_doubles_and_unicode(core):
    fields = {"nan": float("nan"), "inf": float("-inf"), "text": "é\u2028\udc80"}
    request = codec.build_request(
        [(one_entry(core, call=lambda log: log.with_fields(fields).info("ü")), None)],
        SETTINGS, OBSERVED)
    record = json.loads(codec.encode(request, "http/json"))[
        "resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]
    assert record["body"] == {"stringValue": "ü"}
    assert [pair["value"] for pair in record["attributes"]] == [
        {"doubleValue": "NaN"}, {"doubleValue": "-Infinity"},
        {"stringValue": "é\u2028\\udc80"}]


def test_content_types():
    assert codec.content_type("http/protobuf") == "application/x-protobuf"
    assert codec.content_type("http/json") == "application/json"
    assert codec.content_type("grpc") == "application/grpc"
    with pytest.raises(ValueError, match="^protocol must be one of"):
        codec.content_type("json")
    with pytest.raises(ValueError, match="^protocol must be one of"):
        codec.encode(ExportLogsServiceRequest(), "http")


def test_rejected_count():
    answer = ExportLogsServiceResponse()
    answer.partial_success.rejected_log_records = 3
    answer.partial_success.error_message = "too old"
    body = answer.SerializeToString()
    assert codec.rejected_count(body, "http/protobuf") == (3, "too old")
    assert codec.rejected_count(bytearray(body), "grpc") == (3, "too old")
    assert codec.rejected_count(b"", "http/protobuf") == (0, "")
    assert codec.rejected_count(b"", "http/json") == (0, "")
    assert codec.rejected_count(b" \n", "http/json") == (0, "")
    assert codec.rejected_count(b"{}", "http/json") == (0, "")
    assert codec.rejected_count(
        b'{"partialSuccess": {"rejectedLogRecords": "2", "errorMessage": "bad"}}',
        "http/json") == (2, "bad")
    assert codec.rejected_count(  # numbers, proto names and unknown fields are read too
        b'{"partial_success": {"rejected_log_records": 4}, "extra": 1}', "http/json") \
        == (4, "")
    assert codec.rejected_count(b'{"partialSuccess": {}}', "http/json") == (0, "")


@pytest.mark.parametrize(("body", "protocol"), [
    (b"\xff\xff", "http/protobuf"), (b"not json", "http/json"), (b"\xff", "http/json"),
    (b'{"partialSuccess": {"rejectedLogRecords": "x"}}', "http/json")])
def test_rejected_count_of_garbage(body, protocol):
    with pytest.raises(ValueError, match="^response must be an ExportLogsServiceResponse"):
        codec.rejected_count(body, protocol)


def test_rejected_count_arguments():
    with pytest.raises(TypeError, match="^response must be bytes, got str$"):
        codec.rejected_count("", "http/json")


# -- the same records as the SDK's encoder ------------------------------------------------


def test_records_are_the_sdks(core, tracer):
    """Entries encoded here, and the same log records emitted through the SDK's logger
    and encoded by its own encoder (``encode_logs``, what its OTLP exporters send),
    decode to the same request.

    Different by design, and so left out of the comparison:

    * ``exception.stacktrace``: the SDK's is ``traceback.format_exception``, with the
      ``^^^^`` marker lines Python 3.11+ draws; loglayer's traceback text has none. The
      rest of the text is the same.
    * the order of the attributes (no meaning in OTLP): the SDK puts the exception's
      first.
    """
    sdk_logs = pytest.importorskip("opentelemetry.sdk._logs")
    from opentelemetry import trace
    from opentelemetry._logs import SeverityNumber
    from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
    from opentelemetry.sdk._logs.export import (
        InMemoryLogRecordExporter,
        SimpleLogRecordProcessor,
    )
    from opentelemetry.sdk.resources import Resource

    settings = codec.resolve_settings(resource={"service.name": "shop"}, environ={})
    error = _raised_in_an_expression()
    data = {"s": "text", "i": -3, "big": (1 << 63) - 1, "f": 0.25, "t": True, "none": None,
            "raw": b"\x00\x01", "list": [1, "two", [3.0]], "map": {"k": {"n": [False]}}}
    log, tt = logger(core, prefix="[shop]")
    with tracer.start_as_current_span("checkout") as span:
        log.with_fields(data).info("placed", 2)
        traced = (tt.last_line(), codec.capture_trace_context())
    log.with_metadata({"m": 1}).with_error(error).error("failed")
    plain = (tt.last_line(), None)
    ours = request_of([traced, plain], settings)

    provider = sdk_logs.LoggerProvider(resource=Resource(settings.resource),
                                       shutdown_on_exit=False)
    exporter = InMemoryLogRecordExporter()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    sdk_logger = provider.get_logger("loglayer", _version())
    sdk_logger.emit(timestamp=traced[0].time_ns, observed_timestamp=OBSERVED,
                    context=trace.set_span_in_context(span), severity_text="INFO",
                    severity_number=SeverityNumber.INFO, body="[shop] placed 2",
                    attributes=data)
    sdk_logger.emit(timestamp=plain[0].time_ns, observed_timestamp=OBSERVED,
                    severity_text="ERROR", severity_number=SeverityNumber.ERROR,
                    body="[shop] failed", attributes={"m": 1}, exception=error)
    sdk = encode_logs(exporter.get_finished_logs())
    provider.shutdown()
    sdk = ExportLogsServiceRequest.FromString(sdk.SerializeToString())

    our_records = ours.resource_logs[0].scope_logs[0].log_records
    sdk_records = sdk.resource_logs[0].scope_logs[0].log_records
    assert len(our_records) == len(sdk_records) == 2
    for our_record, sdk_record in zip(our_records, sdk_records, strict=True):
        our_attributes, sdk_attributes = attributes_of(our_record), attributes_of(sdk_record)
        assert kinds_of(our_record) == kinds_of(sdk_record)
        our_stack = our_attributes.pop("exception.stacktrace", None)
        sdk_stack = sdk_attributes.pop("exception.stacktrace", None)
        if sdk_stack is not None:
            markers = re.compile(r"^ *[~^]+ *\n", re.MULTILINE)
            assert our_stack == markers.sub("", sdk_stack)
            assert our_stack != sdk_stack or sys.version_info < (3, 11)
        assert our_attributes == sdk_attributes
        del our_record.attributes[:]
        del sdk_record.attributes[:]
    assert our_records[0].trace_id == span.get_span_context().trace_id.to_bytes(16, "big")
    assert our_records[1].trace_id == b""
    assert ours == sdk  # every other field, the resource and the scope included
