"""Issue #11: the request bodies HttpTransport posts (ndjson, json-array, Loki,
Elasticsearch ``_bulk``, a callable), from entries of both cores, and the local log
store (``tests/_logstore.py``) its delivery tests run against."""

from __future__ import annotations

import gzip
import http.client
import importlib
import json
import time

import pytest

from _logstore import LogStore
from conftest import available_cores
from loglayer import LogLevel
from loglayer.testing import TestTransport
from loglayer.transports._http_codec import ENCODINGS, bulk_rejected, make_encoder

# 2023-11-14T22:13:20.123456789Z
T = 1_700_000_000_123_456_789
ISO = "2023-11-14T22:13:20.123Z"
ISO_2 = "2023-11-14T22:13:20.124Z"  # T + 1 ms


def entry(core, level=LogLevel.INFO, message="hello", data=None, metadata=None, fields=None,
          time_ns=T):
    """An entry of ``core`` as its logger would send it."""
    return core.LogEntry(level, [message], {} if data is None else data, metadata, None,
                         {} if fields is None else fields, None, None, time_ns, None)


def two_entries(core) -> list:
    return [entry(core, data={"svc": "api"}, metadata={"n": 1}),
            entry(core, LogLevel.WARN, "slow", time_ns=T + 1_000_000)]


LINE_1 = f'{{"time":"{ISO}","level":"info","msg":"hello","svc":"api","n":1}}'
LINE_2 = f'{{"time":"{ISO_2}","level":"warn","msg":"slow"}}'


# -- ndjson and json-array ----------------------------------------------------------------


def test_ndjson_is_one_json_line_per_entry(core):
    encoder = make_encoder("ndjson")
    assert encoder.content_type == "application/x-ndjson"
    assert encoder.encode(two_entries(core)) == f"{LINE_1}\n{LINE_2}\n".encode()


def test_ndjson_lines_are_the_cores_own_json_lines(core):
    """What a logger of each core sends, encoded, is what its JSON renderer writes."""
    tt = TestTransport()
    log = core.LogLayer(transports=[tt], fields_key="f")
    log.with_fields({"svc": "api"}).with_metadata({"user": "ü\u2028"}).error("boom", "x")
    log.info({"not": "a str"})
    render_module = "loglayer._render_py" if core.__name__.endswith("_py") else "loglayer._render"
    json_format = importlib.import_module(render_module).JsonFormat()
    assert len(tt.lines) == 2
    assert make_encoder("ndjson").encode(tt.lines) == b"".join(
        json_format.render(e) for e in tt.lines)


def test_a_batch_may_mix_the_cores_entries():
    entries = [entry(kernel, message=kernel.__name__) for kernel in available_cores()]
    lines = make_encoder("ndjson").encode(entries).splitlines()
    assert [json.loads(line)["msg"] for line in lines] == [k.__name__ for k in available_cores()]


def test_json_array_splices_the_same_objects(core):
    encoder = make_encoder("json-array")
    assert encoder.content_type == "application/json"
    assert encoder.encode(two_entries(core)) == f"[{LINE_1},{LINE_2}]".encode()


def test_an_empty_batch_is_an_empty_body_of_each_kind():
    assert make_encoder("ndjson").encode([]) == b""
    assert make_encoder("json-array").encode([]) == b"[]"
    assert make_encoder("loki").encode([]) == b'{"streams":[]}'
    assert make_encoder("elasticsearch", index="logs").encode([]) == b""


# -- Loki ---------------------------------------------------------------------------------


def test_loki_body_exact(core):
    encoder = make_encoder("loki", labels={"service": "svc", "severity": "level"})
    assert encoder.content_type == "application/json"
    expected = {"streams": [
        {"stream": {"service": "api", "severity": "info"}, "values": [[str(T), LINE_1]]},
        {"stream": {"severity": "warn"}, "values": [[str(T + 1_000_000), LINE_2]]}]}
    assert encoder.encode(two_entries(core)) == json.dumps(expected,
                                                           separators=(",", ":")).encode()


def test_loki_groups_entries_into_streams_by_label_values(core):
    encoder = make_encoder("loki", labels={"app": "app", "env": "env"})
    entries = [entry(core, message="1", data={"app": "web", "env": "prod"}, time_ns=T + 2),
               entry(core, message="2", data={"app": "db", "env": "prod"}, time_ns=T),
               entry(core, message="3", data={"app": "web", "env": "prod"}, time_ns=T + 1),
               entry(core, message="4", data={"app": "web"}, time_ns=T + 3)]
    streams = json.loads(encoder.encode(entries))["streams"]
    assert [s["stream"] for s in streams] == [{"app": "web", "env": "prod"},
                                              {"app": "db", "env": "prod"}, {"app": "web"}]
    # within a stream, sorted by time; timestamps are decimal strings of nanoseconds
    assert [[ts for ts, _ in s["values"]] for s in streams] == [
        [str(T + 1), str(T + 2)], [str(T)], [str(T + 3)]]
    assert [[json.loads(line)["msg"] for _, line in s["values"]] for s in streams] == [
        ["3", "1"], ["2"], ["4"]]


def test_loki_label_values_come_from_data_then_fields_never_metadata(core):
    encoder = make_encoder("loki", labels={"a": "a", "b": "b", "c": "c", "lvl": "level"})
    e = entry(core, LogLevel.ERROR, data={"a": "from data", "f": {"b": "nested"}},
              fields={"a": "from fields", "b": "from fields"}, metadata={"c": "metadata"})
    [stream] = json.loads(encoder.encode([e]))["streams"]
    assert stream["stream"] == {"a": "from data", "b": "from fields", "lvl": "error"}


def test_loki_label_values_are_one_line_of_text(core):
    encoder = make_encoder("loki", labels={"flag": "flag", "n": "n", "none": "none",
                                           "empty": "empty", "text": "text"})
    e = entry(core, data={"flag": True, "n": 3.5, "none": None, "empty": "",
                          "text": "a\nb\udc80"})
    [stream] = json.loads(encoder.encode([e]))["streams"]
    assert stream["stream"] == {"flag": "true", "n": "3.5", "text": "a\\nb\\udc80"}


def test_loki_entry_without_any_label_value_is_labelled_by_its_level(core):
    encoder = make_encoder("loki", labels={"service": "svc"})
    [stream] = json.loads(encoder.encode([entry(core, LogLevel.WARN)]))["streams"]
    assert stream["stream"] == {"level": "warn"}


def test_loki_labels_default_to_the_level(core):
    streams = json.loads(make_encoder("loki").encode(two_entries(core)))["streams"]
    assert [s["stream"] for s in streams] == [{"level": "info"}, {"level": "warn"}]


@pytest.mark.parametrize(("labels", "error", "message"), [
    ({"bad-name": "x"}, ValueError,
     "labels: a label name must match [a-zA-Z_][a-zA-Z0-9_]* and not start with '__' "
     "(Loki's rule), got 'bad-name'"),
    ({"1st": "x"}, ValueError, "got '1st'"),
    ({"__name__": "x"}, ValueError, "got '__name__'"),
    ({"ok\n": "x"}, ValueError, "got 'ok\\n'"),
    ({"": "x"}, ValueError, "labels: a label name must be a non-empty str, got ''"),
    ({3: "x"}, TypeError, "labels: a label name must be a non-empty str, got int"),
    ({"svc": ""}, ValueError, "labels['svc'] must be a non-empty str, got ''"),
    ({"svc": None}, TypeError, "labels['svc'] must be a non-empty str, got None"),
    ({}, ValueError, "labels must be a non-empty mapping or None, got {}"),
    ([("svc", "svc")], TypeError, "labels must be a mapping, got list"),
])
def test_loki_labels_are_checked_at_construction(labels, error, message):
    with pytest.raises(error) as info:
        make_encoder("loki", labels=labels)
    assert message in str(info.value)


# -- Elasticsearch _bulk ------------------------------------------------------------------


def test_bulk_body_exact(core):
    encoder = make_encoder("elasticsearch", index="logs-app-default")
    assert encoder.content_type == "application/x-ndjson"
    action = '{"create":{"_index":"logs-app-default"}}\n'
    assert encoder.encode(two_entries(core)) == (
        f'{action}{{"@timestamp":"{ISO}","level":"info","msg":"hello","svc":"api","n":1}}\n'
        f'{action}{{"@timestamp":"{ISO_2}","level":"warn","msg":"slow"}}\n').encode()


def test_bulk_document_keeps_a_data_key_named_at_timestamp(core):
    body = make_encoder("elasticsearch", index="logs").encode(
        [entry(core, data={"@timestamp": "mine"})])
    assert json.loads(body.splitlines()[1]) == {"@timestamp": ISO, "level": "info",
                                                "msg": "hello", "_@timestamp": "mine"}


@pytest.mark.parametrize(("index", "error", "message"), [
    (None, ValueError, "index must be the index or data stream name for encoding "
                       "'elasticsearch', got None"),
    ("", ValueError, "index must be a non-empty str, got ''"),
    ("Logs", ValueError, "index must be lowercase (Elasticsearch's rule), got 'Logs'"),
    (b"logs", TypeError, "index must be a non-empty str, got bytes"),
])
def test_bulk_index_is_required_and_checked(index, error, message):
    with pytest.raises(error) as info:
        make_encoder("elasticsearch", index=index)
    assert str(info.value) == message


def _item(status, error=None):
    result = {"_index": "logs", "status": status}
    if error is not None:
        result["error"] = error
    return {"create": result}


def test_bulk_rejected_counts_failed_items_and_names_the_first():
    response = {"took": 3, "errors": True, "items": [
        _item(201),
        _item(400, {"type": "document_parsing_exception", "reason": "failed to parse [n]"}),
        _item(201),
        _item(429, {"type": "es_rejected_execution_exception", "reason": "queue full"})]}
    expected = (2, "item 1: 400 document_parsing_exception: failed to parse [n]")
    assert bulk_rejected(response) == expected
    assert bulk_rejected(json.dumps(response).encode()) == expected
    assert bulk_rejected(json.dumps(response)) == expected


def test_bulk_rejected_is_zero_when_nothing_failed():
    assert bulk_rejected({"errors": False, "items": [_item(201)]}) == (0, None)
    assert bulk_rejected(b'{"errors":false}') == (0, None)
    assert bulk_rejected({"errors": True, "items": [_item(201), _item(200)]}) == (0, None)


@pytest.mark.parametrize(("response", "error", "message"), [
    (b"<html>", ValueError, "response must be a _bulk response's JSON, got invalid JSON"),
    (b"[1]", ValueError, "response must be a JSON object, got list"),
    (3, TypeError, "response must be a mapping, bytes or a str, got int"),
    ({"errors": True}, ValueError,
     "response['items'] must be a list when errors is true, got None"),
    ({"errors": True, "items": [_item(201), {"create": {}}]}, ValueError,
     "response['items'][1] must be an action holding an int status, got {'create': {}}"),
    ({"errors": True, "items": ["x"]}, ValueError, "response['items'][0] must be"),
])
def test_bulk_rejected_refuses_what_is_not_a_bulk_answer(response, error, message):
    with pytest.raises(error) as info:
        bulk_rejected(response)
    assert str(info.value).startswith(message)


# -- a callable ---------------------------------------------------------------------------


def test_callable_encoder_is_called_with_the_batch(core):
    seen = []

    def encode(entries):
        seen.append(entries)
        return bytearray(b"%d entries" % len(entries))

    encoder = make_encoder(encode)
    batch = two_entries(core)
    assert encoder.content_type == "application/octet-stream"
    assert encoder.encode(batch) == b"2 entries"
    assert seen == [batch]


def test_callable_encoder_content_type_attribute():
    class Csv:
        content_type = "text/csv"

        def __call__(self, entries):
            return b"a,b\n"

    assert make_encoder(Csv()).content_type == "text/csv"


def test_callable_encoder_must_return_bytes():
    def text(entries):
        return "not bytes"

    encoder = make_encoder(text)
    with pytest.raises(TypeError, match=r"^encoding <function .*text.*> must return bytes, "
                                        r"got str$"):
        encoder.encode([])


def test_callable_encoder_content_type_must_be_a_str():
    def encode(entries):
        return b""

    encode.content_type = 5  # type: ignore[attr-defined]
    with pytest.raises(TypeError, match=r"^encoding.content_type must be a non-empty str, "
                                        r"got int$"):
        make_encoder(encode)


# -- choosing an encoding -----------------------------------------------------------------


def test_unknown_encoding_names_the_choices():
    with pytest.raises(ValueError) as info:
        make_encoder("xml")
    assert str(info.value) == ("encoding must be one of 'ndjson', 'json-array', 'loki', "
                               "'elasticsearch' or a callable, got 'xml'")
    assert ENCODINGS == ("ndjson", "json-array", "loki", "elasticsearch")


def test_encoding_of_the_wrong_type():
    with pytest.raises(TypeError, match=r"^encoding must be a str or a callable, got bytes$"):
        make_encoder(b"ndjson")  # type: ignore[arg-type]


@pytest.mark.parametrize("encoding", ["ndjson", "json-array", "elasticsearch", len])
def test_labels_are_for_loki_only(encoding):
    index = "logs" if encoding == "elasticsearch" else None
    with pytest.raises(ValueError, match=r"^labels must be None for encoding .* \(labels are "
                                         r"for 'loki'\), got \{'a': 'b'\}$"):
        make_encoder(encoding, labels={"a": "b"}, index=index)


@pytest.mark.parametrize("encoding", ["ndjson", "json-array", "loki", len])
def test_index_is_for_elasticsearch_only(encoding):
    with pytest.raises(ValueError, match=r"^index must be None for encoding .* \(index is "
                                         r"for 'elasticsearch'\), got 'logs'$"):
        make_encoder(encoding, index="logs")


# -- the log store ------------------------------------------------------------------------


@pytest.fixture
def connect():
    """Opens HTTP/1.1 connections to a store (``connect(store)``), closed after the test."""
    opened: list[http.client.HTTPConnection] = []

    def open_to(store: LogStore) -> http.client.HTTPConnection:
        port = int(store.url.rsplit(":", 1)[1])
        opened.append(http.client.HTTPConnection("127.0.0.1", port, timeout=5))
        return opened[-1]

    yield open_to
    for connection in opened:
        connection.close()


def _post(connection: http.client.HTTPConnection, body: bytes = b"{}",
          headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    connection.request("POST", "/ingest", body=body, headers=headers or {})
    response = connection.getresponse()
    return response.status, dict(response.getheaders()), response.read()


def test_store_serves_its_script_then_the_default(connect):
    with LogStore() as store:
        store.respond(429, headers={"Retry-After": "1"})
        store.respond(400, body=b"bad")
        connection = connect(store)
        status, headers, body = _post(connection, b'{"a":1}')
        assert (status, headers["Retry-After"], body) == (429, "1", b"")
        assert _post(connection)[::2] == (400, b"bad")
        assert _post(connection)[::2] == (200, b"")
        store.respond_forever(503, body={"error": "down"})
        status, headers, body = _post(connection)
        assert (status, headers["Content-Type"], json.loads(body)) == (
            503, "application/json", {"error": "down"})
        request = store.requests[0]
        assert (request.method, request.path, request.body, request.json()) == (
            "POST", "/ingest", b'{"a":1}', {"a": 1})
        assert request.headers["content-length"] == "7"
        assert [r.status for r in store.requests] == [429, 400, 200, 503]


def test_store_decodes_gzip_bodies(connect):
    lines = b'{"msg":"a"}\n{"msg":"b"}\n'
    zipped_lines = gzip.compress(lines)
    with LogStore() as store:
        connection = connect(store)
        _post(connection, zipped_lines, {"Content-Encoding": "gzip"})
        _post(connection, lines)
        [zipped, plain] = store.requests
        assert (zipped.raw, zipped.headers["content-encoding"]) == (zipped_lines, "gzip")
        assert plain.raw == lines
        assert store.bodies == [lines, lines]
        assert zipped.lines() == [{"msg": "a"}, {"msg": "b"}]


def test_store_reads_a_chunked_body(connect):
    with LogStore() as store:
        connection = connect(store)
        connection.request("POST", "/", body=iter([b"ab", b"cde"]), encode_chunked=True)
        assert connection.getresponse().status == 200
        assert store.bodies == [b"abcde"]


def test_store_counts_keep_alive_connections_with_http_client(connect):
    with LogStore() as store:
        connection = connect(store)
        for _ in range(3):
            assert _post(connection)[0] == 200
        assert (len(store.requests), store.connections) == (3, 1)
        _post(connect(store))
        assert store.connections == 2


def test_store_counts_keep_alive_connections_with_urllib3(connect):
    urllib3 = pytest.importorskip("urllib3")
    with LogStore() as store, urllib3.PoolManager(maxsize=1) as pool:
        for _ in range(3):
            assert pool.request("POST", store.url + "/ingest", body=b"{}").status == 200
        assert (len(store.requests), store.connections) == (3, 1)


def test_store_delays_an_answer(connect):
    with LogStore() as store:
        store.respond(200, delay=0.3)
        start = time.monotonic()
        assert _post(connect(store))[0] == 200
        assert time.monotonic() - start >= 0.3


def test_store_drops_a_connection_unanswered(connect):
    with LogStore() as store:
        store.close_connection_after_next()
        connection = connect(store)
        with pytest.raises(http.client.RemoteDisconnected):
            _post(connection, b"lost?")
        assert _post(connection)[0] == 200  # http.client reconnects
        assert [(r.body, r.status) for r in store.requests] == [(b"lost?", None), (b"{}", 200)]
        assert store.connections == 2


def test_store_stops_and_starts_again_on_the_same_port(connect):
    store = LogStore().start()
    url = store.url
    kept_alive = connect(store)
    assert _post(kept_alive)[0] == 200
    store.stop()
    with pytest.raises(ConnectionRefusedError):
        _post(connect(store))
    with pytest.raises((ConnectionError, http.client.HTTPException)):
        _post(kept_alive)  # the open connection was closed too
    store.start()
    try:
        assert store.url == url
        assert _post(connect(store))[0] == 200
        assert len(store.requests) == 2
    finally:
        store.stop()


def test_store_wait_for_polls_until_true_or_fails(connect):
    with LogStore() as store:
        assert store.wait_for(lambda: store.requests == [], timeout=0.1) is True
        connection = connect(store)
        _post(connection)
        assert store.wait_for(lambda: store.requests, timeout=1)[0].status == 200
        start = time.monotonic()
        with pytest.raises(AssertionError, match="not true after 0.05 s"):
            store.wait_for(lambda: len(store.requests) > 1, timeout=0.05)
        assert time.monotonic() - start < 1
