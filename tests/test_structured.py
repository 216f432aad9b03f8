"""StructuredTransport and render_json: the exact JSON line, and that data never breaks it."""

from __future__ import annotations

import dataclasses
import gc
import io
import json
import os
import subprocess
import sys
import warnings
import weakref

import pytest

import loglayer
from loglayer import BlankTransport, LogEntry, LogLayer, LogLevel, StructuredTransport
from loglayer._render_py import JsonFormat, render_json, sanitize_for_json

# 2023-11-14T22:13:20.123456789Z
T = 1_700_000_000_123_456_789


def entry(level=LogLevel.INFO, messages=("hello",), data=None, metadata=None, error=None,
          prefix=None, time_ns=T, metadata_key=None):
    return LogEntry(level, list(messages), {} if data is None else data, metadata, error, {},
                    None, prefix, time_ns, metadata_key)


def render(e, **fmt):
    return render_json(e, JsonFormat(**fmt))


def parsed(e, **fmt) -> dict:
    line = render(e, **fmt)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    return json.loads(line)


class Recorder:
    def __init__(self):
        self.writes = []

    def write(self, data):
        self.writes.append(data)


class Unprintable:
    def __str__(self):
        raise RuntimeError("no str")

    __repr__ = __str__


# -- golden lines ---------------------------------------------------------------------


def test_golden_s3_line():
    metadata = {"user": "alice", "attempts": 3, "latency_ms": 12.5, "admin": False,
                "req": {"id": "r-1f3a", "path": "/login"}}
    assert render(entry(messages=["user logged in"], metadata=metadata)) == (
        b'{"time":"2023-11-14T22:13:20.123Z","level":"info","msg":"user logged in",'
        b'"user":"alice","attempts":3,"latency_ms":12.5,"admin":false,'
        b'"req":{"id":"r-1f3a","path":"/login"}}\n')


def test_golden_data_then_metadata_with_prefix_and_several_messages():
    e = entry(LogLevel.WARN, ["disk", 91, True, None], data={"host": "a1", "n": 2},
              metadata={"path": "/var"}, prefix="[svc]")
    assert render(e, time_format="epoch_ms") == (
        b'{"time":1700000000123,"level":"warn","msg":"[svc] disk 91 True None",'
        b'"host":"a1","n":2,"path":"/var"}\n')


def test_golden_end_to_end_through_the_logger():
    out = io.StringIO()
    log = LogLayer(transports=StructuredTransport(stream=out, time_format=None),
                   fields={"svc": "auth"}, prefix="[p]")
    log.with_metadata({"user": "ada"}).info("logged", "in")
    log.warn()
    assert out.getvalue() == (
        '{"level":"info","msg":"[p] logged in","svc":"auth","user":"ada"}\n'
        '{"level":"warn","msg":"[p]","svc":"auth"}\n')


def test_every_level_name():
    names = [json.loads(render(entry(level)))["level"] for level in LogLevel]
    assert names == ["trace", "debug", "info", "warn", "error", "fatal"]


def test_a_level_outside_the_enum_is_still_rendered():
    assert parsed(entry(level=25))["level"] == "25"


# -- time -----------------------------------------------------------------------------


@pytest.mark.parametrize("time_format, expected", [
    ("iso", "2023-11-14T22:13:20.123Z"),
    ("epoch", T / 1e9),
    ("epoch_ms", 1_700_000_000_123),
    ("epoch_ns", T),
])
def test_time_formats(time_format, expected):
    doc = parsed(entry(), time_format=time_format)
    assert doc["time"] == expected
    assert type(doc["time"]) is type(expected)
    assert list(doc) == ["time", "level", "msg"]


def test_no_time():
    assert list(parsed(entry(), time_format=None)) == ["level", "msg"]


@pytest.mark.parametrize("time_ns, expected", [
    (0, "1970-01-01T00:00:00.000Z"),
    (999_999_999, "1970-01-01T00:00:00.999Z"),  # truncated, not rounded
    (951_782_400_000_000_000, "2000-02-29T00:00:00.000Z"),
    (4_107_542_399_999_000_000, "2100-02-28T23:59:59.999Z"),
    (-1, "1969-12-31T23:59:59.999Z"),
    (2**63 - 1, "2262-04-11T23:47:16.854Z"),  # the int64 range of the compiled entry
    (-(2**63), "1677-09-21T00:12:43.145Z"),
])
def test_iso_time_edges(time_ns, expected):
    assert parsed(entry(time_ns=time_ns))["time"] == expected


def test_iso_cache_follows_the_second():
    fmt = JsonFormat()
    first = json.loads(render_json(entry(time_ns=T), fmt))["time"]
    same = json.loads(render_json(entry(time_ns=T + 500_000_000), fmt))["time"]
    later = json.loads(render_json(entry(time_ns=T + 86_400 * 10**9), fmt))["time"]
    assert (first, same, later) == ("2023-11-14T22:13:20.123Z", "2023-11-14T22:13:20.623Z",
                                    "2023-11-15T22:13:20.123Z")


# -- keys -----------------------------------------------------------------------------


def test_custom_keys():
    doc = parsed(entry(), message_key="message", level_key="severity", time_key="ts")
    assert list(doc) == ["ts", "severity", "message"]


def test_reserved_keys_are_never_overwritten():
    data = {"msg": "d-msg", "level": "d-level", "time": "d-time", "x": 1}
    metadata = {"msg": "m-msg", "level": "m-level"}
    doc = parsed(entry(data=data, metadata=metadata))
    assert doc == {"time": "2023-11-14T22:13:20.123Z", "level": "info", "msg": "hello",
                   "_msg": "m-msg", "_level": "m-level", "_time": "d-time", "x": 1}


def test_time_key_is_free_when_no_time_is_written():
    assert parsed(entry(data={"time": 5}), time_format=None) == {
        "level": "info", "msg": "hello", "time": 5}


def test_rename_skips_other_reserved_names():
    doc = parsed(entry(data={"msg": 1}), message_key="msg", level_key="_msg")
    assert doc["__msg"] == 1 and doc["msg"] == "hello" and doc["_msg"] == "info"


def test_non_str_keys_at_the_root_become_text():
    doc = parsed(entry(data={1: "a", None: "b", (1, 2): "c"}, metadata={2.5: "d"}))
    assert [doc["1"], doc["None"], doc["(1, 2)"], doc["2.5"]] == ["a", "b", "c", "d"]


def test_unprintable_root_key():
    doc = parsed(entry(data={Unprintable(): 1}))
    assert doc["<unprintable Unprintable>"] == 1


def test_str_subclass_key_with_reserved_text_is_renamed():
    class Key(str):
        pass

    doc = parsed(entry(data={Key("msg"): 1, Key("k"): 2}))
    assert doc["msg"] == "hello" and doc["_msg"] == 1 and doc["k"] == 2


def test_metadata_key_equal_to_data_key_overwrites_it_in_place():
    doc = parsed(entry(data={"a": 1, "b": 2}, metadata={"a": 3}))
    assert list(doc)[3:] == ["a", "b"] and doc["a"] == 3


# -- metadata -------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Point:
    x: int
    y: int


@pytest.mark.parametrize("metadata, metadata_key, expected", [
    ({"a": 1}, None, {"a": 1}),
    ({"a": 1}, "meta", {"meta": {"a": 1}}),
    ({}, "meta", {"meta": {}}),
    (Point(1, 2), None, {"x": 1, "y": 2}),
    (Point(1, 2), "meta", {"meta": {"x": 1, "y": 2}}),
    ([1, 2], None, {"metadata": [1, 2]}),
    ("text", None, {"metadata": "text"}),
    (7, "meta", {"meta": 7}),
    (None, "meta", {}),
    (None, None, {}),
])
def test_metadata_placement(metadata, metadata_key, expected):
    doc = parsed(entry(metadata=metadata, metadata_key=metadata_key), time_format=None)
    del doc["level"], doc["msg"]
    assert doc == expected


def test_metadata_key_equal_to_a_reserved_key_is_renamed():
    doc = parsed(entry(metadata={"a": 1}, metadata_key="msg"))
    assert doc["msg"] == "hello" and doc["_msg"] == {"a": 1}


def test_metadata_key_through_the_logger():
    out = io.StringIO()
    log = LogLayer(transports=StructuredTransport(out, time_format=None), metadata_key="meta")
    log.with_metadata({"a": 1}).info("x")
    log.with_metadata([1]).info("y")
    assert out.getvalue() == ('{"level":"info","msg":"x","meta":{"a":1}}\n'
                              '{"level":"info","msg":"y","meta":[1]}\n')


# -- data that JSON cannot hold -------------------------------------------------------


def test_unserialisable_values_become_text():
    doc = parsed(entry(data={"o": Point, "b": b"\x00", "s": {3}, "u": Unprintable()}))
    assert doc["o"] == str(Point)
    assert doc["b"] == "b'\\x00'"
    assert doc["s"] == "{3}"
    assert doc["u"] == "<unserializable Unprintable>"


def test_unprintable_message():
    assert parsed(entry(messages=[Unprintable(), "x"]))["msg"] == "<unprintable Unprintable> x"


def test_control_characters_in_json_are_escaped_by_json():
    line = render(entry(messages=["a\nb\r\x00"], data={"k\n": "v\t"}))
    assert line.count(b"\n") == 1
    assert json.loads(line)["msg"] == "a\nb\r\x00"


def test_cycles_become_circular():
    cyclic = {"a": 1}
    cyclic["self"] = cyclic
    looped = [1]
    looped.append(looped)
    doc = parsed(entry(data={"d": cyclic, "l": looped}))
    assert doc["d"] == {"a": 1, "self": "[Circular]"}
    assert doc["l"] == [1, "[Circular]"]


def test_a_shared_value_is_not_a_cycle():
    shared = {"n": 1}
    doc = parsed(entry(data={"a": [shared, shared], "bad": {1: 2}}))
    assert doc["a"] == [{"n": 1}, {"n": 1}] and doc["bad"] == {"1": 2}


def test_deep_nesting_is_truncated():
    deep: list = []
    node = deep
    for _ in range(1000):
        child: list = []
        node.append(child)
        node = child
    doc = parsed(entry(data={"deep": deep}))
    depth, node = 0, doc["deep"]
    while isinstance(node, list):
        node, depth = node[0], depth + 1
    assert node == "[Truncated]" and depth == 31


def test_nested_non_str_keys_and_huge_ints():
    huge = 10**30
    doc = parsed(entry(data={"n": {1: {None: "x"}}, "big": huge, "neg": -(2**63) - 1,
                             "ok": 2**64 - 1}))
    assert doc["n"] == {"1": {"None": "x"}}
    assert doc["big"] == str(huge) and doc["neg"] == str(-(2**63) - 1)
    assert doc["ok"] == 2**64 - 1


def test_int_too_large_for_str():
    doc = parsed(entry(data={"n": 10**5000}))
    assert doc["n"] == "<unserializable int>"


def test_lone_surrogates():
    doc = parsed(entry(messages=["a\ud800"], data={"k\udc80": "v\udfff", "x": 1}))
    assert doc["msg"] == "a\\ud800" and doc["k\\udc80"] == "v\\udfff" and doc["x"] == 1


def test_the_fallback_keeps_what_orjson_writes_natively():
    import datetime
    import enum
    import uuid

    class Color(enum.Enum):
        RED = {"r": 255}

    ident = uuid.UUID(int=1)
    doc = parsed(entry(data={"bad": {1: 1}, "when": datetime.date(2024, 1, 2), "id": ident,
                             "color": Color.RED, "p": Point(1, 2), "f": 1.5, "t": (1, 2)}))
    assert doc == {"time": "2023-11-14T22:13:20.123Z", "level": "info", "msg": "hello",
                   "bad": {"1": 1}, "when": "2024-01-02", "id": str(ident),
                   "color": {"r": 255}, "p": {"x": 1, "y": 2}, "f": 1.5, "t": [1, 2]}


def test_sanitize_for_json_directly():
    class FloatLike(float):
        pass

    class BadList(list):
        def __iter__(self):
            raise RuntimeError("no")

    value = {"s": {1}, "f": FloatLike(2.5), "b": BadList([1]), 3: None}
    assert sanitize_for_json(value) == {"s": [1], "f": "2.5", "b": "[1]", "3": None}


def test_data_never_makes_the_log_call_fail():
    out = io.StringIO()
    errors = []
    log = LogLayer(transports=StructuredTransport(out), on_transport_error=errors.append)
    cyclic: dict = {}
    cyclic["c"] = cyclic
    log.with_metadata({"c": cyclic, 1: Unprintable(), "n": 10**40}).info(Unprintable())
    assert errors == []
    doc = json.loads(out.getvalue())
    assert doc["c"] == {"c": "[Circular]"} and doc["1"] == "<unserializable Unprintable>"


# -- JsonFormat validation ------------------------------------------------------------


@pytest.mark.parametrize("kwargs, error, word", [
    ({"message_key": 1}, TypeError, "message_key"),
    ({"level_key": ""}, ValueError, "level_key"),
    ({"time_key": None}, TypeError, "time_key"),
    ({"time_format": "rfc"}, ValueError, "time_format"),
    ({"time_format": 1}, TypeError, "time_format"),
    ({"message_key": "level"}, ValueError, "distinct"),
])
def test_format_validation(kwargs, error, word):
    with pytest.raises(error, match=word):
        JsonFormat(**kwargs)
    with pytest.raises(error, match=word):
        StructuredTransport(io.StringIO(), **kwargs)


# -- streams --------------------------------------------------------------------------


def test_one_write_per_entry_text_stream():
    sink = Recorder()
    log = LogLayer(transports=StructuredTransport(sink, time_format=None))
    log.info("a")
    log.with_metadata({"k": 1}).warn("b")
    assert sink.writes == ['{"level":"info","msg":"a"}\n', '{"level":"warn","msg":"b","k":1}\n']


def test_binary_stream_gets_bytes():
    out = io.BytesIO()
    LogLayer(transports=StructuredTransport(out, time_format=None)).info("é")
    assert out.getvalue() == '{"level":"info","msg":"é"}\n'.encode()


def test_buffered_binary_file(tmp_path):
    path = tmp_path / "b.log"
    with open(path, "wb") as f:
        log = LogLayer(transports=StructuredTransport(f, time_format=None))
        log.info("x")
        log.close()
        assert not f.closed  # not opened by the transport
    assert path.read_bytes() == b'{"level":"info","msg":"x"}\n'


def test_default_stream_is_stdout_at_each_write(monkeypatch):
    first, second = io.StringIO(), io.StringIO()
    log = LogLayer(transports=StructuredTransport(time_format=None))
    monkeypatch.setattr(sys, "stdout", first)
    log.info("1")
    monkeypatch.setattr(sys, "stdout", second)
    log.info("2")
    assert first.getvalue() == '{"level":"info","msg":"1"}\n'
    assert second.getvalue() == '{"level":"info","msg":"2"}\n'


def test_no_stdout_at_all(monkeypatch):
    monkeypatch.setattr(sys, "stdout", None)
    errors = []
    log = LogLayer(transports=StructuredTransport(), on_transport_error=errors.append)
    log.info("x")
    log.flush()
    assert errors == []


@pytest.mark.parametrize("stream", [1, object(), b"/tmp/x", ["a"]])
def test_bad_stream(stream):
    with pytest.raises(TypeError, match="stream"):
        StructuredTransport(stream)


def test_unwritable_path(tmp_path):
    missing = tmp_path / "no" / "such" / "dir" / "x.log"
    with pytest.raises(OSError, match="x.log"):
        StructuredTransport(missing)
    with pytest.raises(OSError):
        StructuredTransport(tmp_path)  # a directory
    with pytest.raises(ValueError, match="stream"):
        StructuredTransport(str(tmp_path / "a\0b"))


def test_stream_write_errors_are_reported_not_raised():
    class Broken:
        def write(self, data):
            raise OSError("disk full")

    errors = []
    LogLayer(transports=StructuredTransport(Broken(), id="s"),
             on_transport_error=errors.append).info("x")
    assert [e.transport_id for e in errors] == ["s"]
    assert isinstance(errors[0].__cause__, OSError)


def test_flush_and_close_of_a_passed_stream():
    class Flushing(io.StringIO):
        flushes = 0

        def flush(self):
            self.flushes += 1
            super().flush()

    out = Flushing()
    t = StructuredTransport(out)
    t.flush()
    t.close()
    assert out.flushes == 2 and not out.closed
    out.close()
    t.close()  # a closed stream is left alone


# -- files opened from a path ---------------------------------------------------------


def lines_of(path) -> list[dict]:
    with open(path, "rb") as f:
        return [json.loads(line) for line in f]


def test_path_is_appended_to_and_batched_until_flush(tmp_path):
    path = tmp_path / "app.log"
    path.write_bytes(b'{"old":1}\n')
    t = StructuredTransport(str(path), time_format=None)
    assert t.path == str(path)
    log = LogLayer(transports=t)
    for i in range(5):
        log.info("line", i)
    assert path.read_bytes() == b'{"old":1}\n'  # still buffered
    log.flush()
    assert [d.get("msg") for d in lines_of(path)] == [None] + [f"line {i}" for i in range(5)]
    log.close()


def test_pathlike_and_batch_thresholds(tmp_path):
    path = tmp_path / "n.log"
    t = StructuredTransport(path, time_format=None)
    log = LogLayer(transports=t)
    for i in range(150):
        log.info(i)
    assert len(lines_of(path)) == 100  # one full batch written
    log.with_metadata({"big": "x" * 70_000}).info("big")
    assert len(lines_of(path)) == 151  # 64 KiB reached
    t.close()


def test_error_entries_are_written_at_once(tmp_path):
    path = tmp_path / "e.log"
    log = LogLayer(transports=StructuredTransport(path, time_format=None))
    log.info("a")
    log.error("b")
    assert [d["msg"] for d in lines_of(path)] == ["a", "b"]
    log.close()


def test_an_old_buffer_is_written_by_the_next_entry(tmp_path):
    path = tmp_path / "age.log"
    t = StructuredTransport(path, time_format="epoch_ns")
    t.send(entry(time_ns=T))
    t.send(entry(time_ns=T + 999_999_999))
    assert path.read_bytes() == b""
    t.send(entry(time_ns=T + 1_000_000_000))
    assert len(lines_of(path)) == 3
    t.close()


def test_close_writes_closes_and_refuses_more(tmp_path):
    path = tmp_path / "c.log"
    t = StructuredTransport(path, id="f")
    errors = []
    log = LogLayer(transports=t, on_transport_error=errors.append)
    log.info("a")
    log.close()
    assert len(lines_of(path)) == 1
    log.info("b")
    assert len(errors) == 1 and isinstance(errors[0].__cause__, ValueError)
    t.close()
    t.flush()
    assert len(lines_of(path)) == 1


def test_garbage_collection_writes_the_buffer(tmp_path):
    path = tmp_path / "gc.log"
    t = StructuredTransport(path)
    ref = weakref.ref(t)
    LogLayer(transports=t).info("kept")
    del t
    gc.collect()
    assert ref() is None
    assert [d["msg"] for d in lines_of(path)] == ["kept"]


@pytest.mark.slow
def test_interpreter_exit_writes_the_buffer(tmp_path):
    path = tmp_path / "exit.log"
    src = os.path.dirname(os.path.dirname(os.path.abspath(loglayer.__file__)))
    code = (
        "import loglayer\n"
        f"log = loglayer.LogLayer(transports=loglayer.StructuredTransport({str(path)!r}))\n"
        "for i in range(250):\n"
        "    log.info('line', i)\n"
        "child = loglayer.LogLayer(transports=loglayer.StructuredTransport("
        f"{str(path)!r}, message_key='m'))\n"
        "child.info('from a second transport')\n"
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=60)
    docs = lines_of(path)
    assert sorted(d["msg"] for d in docs if "msg" in d) == sorted(
        f"line {i}" for i in range(250))
    assert [d["m"] for d in docs if "m" in d] == ["from a second transport"]


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_does_not_write_the_parents_buffer(tmp_path):
    path = tmp_path / "fork.log"
    t = StructuredTransport(path, time_format=None)
    log = LogLayer(transports=t)
    log.info("parent")
    with warnings.catch_warnings():  # 3.12+ warns about fork() with threads alive
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            log.info("child")
            t.close()
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    t.close()
    assert sorted(d["msg"] for d in lines_of(path)) == ["child", "parent"]


# -- BlankTransport -------------------------------------------------------------------


def test_blank_transport_calls_the_function():
    seen = []
    log = LogLayer(transports=BlankTransport(seen.append, id="b"))
    log.with_metadata({"a": 1}).info("x")
    assert [(e.messages, e.metadata) for e in seen] == [(["x"], {"a": 1})]
    assert log.get_logger_instance("b").id == "b"


def test_blank_transport_needs_a_callable():
    with pytest.raises(TypeError, match="fn"):
        BlankTransport("not callable")


def test_blank_transport_errors_are_reported():
    def boom(entry):
        raise RuntimeError("x")

    errors = []
    LogLayer(transports=BlankTransport(boom, id="b"), on_transport_error=errors.append).info("x")
    assert [e.transport_id for e in errors] == ["b"]


def test_transports_are_exported():
    assert {"StructuredTransport", "BlankTransport", "Multiline"} <= set(loglayer.__all__)
    assert isinstance(StructuredTransport(), loglayer.Transport)
    assert isinstance(BlankTransport(print), loglayer.Transport)


def test_the_line_carries_the_level_a_level_hook_set():
    import io
    import json

    import loglayer

    out = io.StringIO()
    log = loglayer.LogLayer(
        transports=loglayer.StructuredTransport(out, time_format=None),
        plugins=[loglayer.level_hook("up", lambda p: "fatal" if p.level < 20 else None)])
    log.trace("a")
    log.info("b")
    log.debug("c")
    assert [json.loads(line)["level"] for line in out.getvalue().splitlines()] == [
        "fatal", "info", "fatal"]
