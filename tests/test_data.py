"""SPEC §3: data assembly.

Loggers come from the ``core`` fixture: each test runs on the compiled and the pure core.
"""

import pytest

import loglayer
from loglayer.testing import TestTransport


def test_fields_at_the_root_by_default(core, tt):
    core.LogLayer(transports=tt, fields={"a": 1}).info("x")
    assert tt.last_line().data == {"a": 1}


def test_fields_under_fields_key(core, tt):
    log = core.LogLayer(transports=tt, fields={"a": 1}, fields_key="ctx")
    log.info("x")
    assert tt.last_line().data == {"ctx": {"a": 1}}
    assert tt.last_line().fields == {"a": 1}


def test_fields_key_omitted_when_there_are_no_fields(core, tt):
    core.LogLayer(transports=tt, fields_key="ctx").info("x")
    assert tt.last_line().data == {}


def test_data_is_always_a_dict(core, tt):
    core.LogLayer(transports=tt).info("x")
    assert tt.last_line().data == {}


def test_error_under_error_key(core, tt):
    log = core.LogLayer(transports=tt, fields={"a": 1}, error_key="failure")
    log.with_error(ValueError("bad")).error("x")
    data = tt.last_line().data
    assert data["a"] == 1
    assert data["failure"]["type"] == "ValueError"
    assert data["failure"]["message"] == "bad"
    assert "traceback" not in data["failure"]  # never raised, so no traceback


def test_error_with_fields_key(core, tt):
    log = core.LogLayer(transports=tt, fields={"a": 1}, fields_key="ctx")
    log.with_error(ValueError("bad")).error("x")
    data = tt.last_line().data
    assert data["ctx"] == {"a": 1} and data["err"]["type"] == "ValueError"
    log2 = core.LogLayer(transports=tt, fields_key="ctx")
    log2.with_error(ValueError("bad")).error("x")
    assert set(tt.last_line().data) == {"err"}


def test_default_error_serializer_has_traceback_and_cause(core, tt):
    log = core.LogLayer(transports=tt)
    try:
        try:
            raise KeyError("inner")
        except KeyError as inner:
            raise RuntimeError("outer") from inner
    except RuntimeError as exc:
        log.with_error(exc).error("x")
    err = tt.last_line().data["err"]
    assert err["type"] == "RuntimeError" and err["message"] == "outer"
    assert "Traceback" in err["traceback"] and "raise RuntimeError" in err["traceback"]
    assert err["cause"]["type"] == "KeyError"


def test_custom_error_serializer(core, tt):
    log = core.LogLayer(transports=tt, error_serializer=lambda e: f"E:{e}")
    log.with_error(ValueError("v")).error("x")
    assert tt.last_line().data["err"] == "E:v"


def test_failing_error_serializer_still_logs(core, tt):
    def broken(exc):
        raise RuntimeError("serializer down")

    log = core.LogLayer(transports=tt, error_serializer=broken)
    log.with_error(ValueError("v")).error("x")
    err = tt.last_line().data["err"]
    assert err["type"] == "ValueError" and "serializer down" in err["message"]


def test_metadata_is_not_merged_into_data(core, tt):
    log = core.LogLayer(transports=tt, fields={"a": 1}, metadata_key="meta")
    log.with_metadata({"m": 2}).info("x")
    line = tt.last_line()
    assert line.data == {"a": 1}
    assert line.metadata == {"m": 2}
    assert line.metadata_key == "meta"


def test_core_never_mutates_caller_dicts(core, tt):
    fields = {"a": 1}
    metadata = {"m": 1}
    log = core.LogLayer(transports=tt, fields=fields,
                        plugins=[loglayer.data_hook("d", lambda p: {"added": 1})])
    log.with_fields(fields).with_metadata(metadata).with_error(ValueError()).info("x")
    assert fields == {"a": 1} and metadata == {"m": 1}
    assert tt.last_line().data["added"] == 1


def test_core_never_alters_messages_prefix_travels_apart(core, tt):
    core.LogLayer(transports=tt, prefix="[svc]").info("hello")
    line = tt.last_line()
    assert line.messages == ["hello"] and line.prefix == "[svc]"


def test_time_ns_is_captured_at_emission(core, tt):
    import time

    before = time.time_ns()
    core.LogLayer(transports=tt).info("x")
    after = time.time_ns()
    assert before - 1_000_000 <= tt.last_line().time_ns <= after + 1_000_000


@pytest.mark.parametrize("shape", [
    {"deep": {"er": {"still": [1, 2, {"x": None}]}}},
    [1, "a", None],
    ("t", 1),
    42,
    "plain",
    None,
])
def test_entries_hold_metadata_of_any_shape(core, shape):
    tt = TestTransport()
    core.LogLayer(transports=tt).with_metadata(shape).info("x")
    assert tt.last_line().metadata == shape
