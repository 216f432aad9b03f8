"""The journal encoder and its compiled fast path write the same datagrams (issue #12).

``JournalEncoder._encode`` (Python, ``loglayer.transports._journald``) defines an
entry's native-protocol datagram; ``_journaldfast.Encoder`` (``cext/_journaldfast.pyx``)
writes the common entries itself and hands the others back. The property tests compare
them byte for byte on entries of any shape (both cores' entries, prefixes, several
messages, levels between the named ones, errors, call sites, keys that are not str,
metadata objects and ``metadata_key``, values of every kind, newlines, lone surrogates,
more fields than an entry may have); the fixed tests pin what both write.

``tests/test_journald.py`` checks what the datagrams mean (through ``encode``, the live
encoder: the compiled one, or the Python one with ``LOGLAYER_NO_EXTENSIONS=1``) and
what a real journald stores of them.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import struct
import uuid
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _journald import parse_datagram
from loglayer import LogLevel, _core_py
from loglayer._select import LogEntry
from loglayer.transports import _journald
from loglayer.transports._journald import JournalEncoder

_fast = _journald._fast
compiled_only = pytest.mark.skipif(_fast is None,
                                   reason="loglayer.transports._journaldfast is not in use")


@pytest.fixture(params=["pure", "compiled"])
def encode(request) -> Any:
    """``encode(entry)`` of this implementation, for the identifier ``app``."""
    encoder = JournalEncoder("app")
    if request.param == "compiled":
        if _fast is None:
            pytest.skip("loglayer.transports._journaldfast is not in use (tests/"
                        "test_extensions.py fails when it should be)")
        return _fast.Encoder(encoder).encode
    return encoder._encode


def entry(message: Any = "hello", data: Any = None, metadata: Any = None, *,
          level: Any = LogLevel.INFO, prefix: Any = None, messages: list | None = None,
          metadata_key: Any = None, error: Any = None, error_key: Any = "err",
          core: Any = None) -> Any:
    cls = LogEntry if core is None else core.LogEntry
    return cls(level, [message] if messages is None else messages, data, metadata, error,
               {}, {}, prefix, 1_714_572_000_123_456_789, metadata_key, error_key)


# -- what both write ---------------------------------------------------------------------------


def test_the_common_entry(encode) -> None:
    fields = {"user": "alice", "attempts": 3, "latency_ms": 12.5, "admin": False,
              "req": {"id": "r-1f3a", "path": "/login"}}
    assert encode(entry("user logged in", None, fields)) == (
        b"SYSLOG_IDENTIFIER=app\nPRIORITY=6\nMESSAGE=user logged in\nUSER=alice\n"
        b'ATTEMPTS=3\nLATENCY_MS=12.5\nADMIN=false\nREQ={"id":"r-1f3a","path":"/login"}\n')


def test_values_with_a_newline_are_length_prefixed(encode) -> None:
    datagram = encode(entry("two\nlines", {"text": "a\nb", "raw": b"x\ny", "ok": "flat"},
                            level=LogLevel.ERROR))
    assert datagram == (b"SYSLOG_IDENTIFIER=app\nPRIORITY=3\nMESSAGE\n" + struct.pack("<Q", 9)
                        + b"two\nlines\nTEXT\n" + struct.pack("<Q", 3) + b"a\nb\nRAW\n"
                        + struct.pack("<Q", 3) + b"x\ny\nOK=flat\n")


def test_names_values_and_text(encode) -> None:
    fields = dict(parse_datagram(encode(entry("grüße \udc80", {
        "user-id": 7, "_private": "p", "9lives": None, "message": True, "é": "ü",
        "big": -2**63, "nested": {"list": [1, "ü", "\n"], "none": None},
        "when": datetime.date(2024, 5, 1), "f": float("nan"), "s": "\ud800"}))))
    assert fields == {
        "SYSLOG_IDENTIFIER": b"app", "PRIORITY": b"6",
        "MESSAGE": "grüße \\udc80".encode(), "USER_ID": b"7", "X__PRIVATE": b"p",
        "X_9LIVES": b"null", "X_MESSAGE": b"true", "X__": "ü".encode(),
        "BIG": b"-9223372036854775808", "NESTED": '{"list":[1,"ü","\\n"],"none":null}'.encode(),
        "WHEN": b"2024-05-01", "F": b"null", "S": b"\\ud800"}


def test_ints_and_floats(encode) -> None:
    ints = [0, 1, -1, 7, -5, 2**31, -2**31, 2**63 - 1, -2**63]
    floats = [0.0, -0.0, 1.5, 1e16, 1e-5, 0.1, 12.5, float("inf"), -float("inf")]
    fields = parse_datagram(encode(entry("n", {f"i{n}": v for n, v in enumerate(ints)},
                                         {f"f{n}": v for n, v in enumerate(floats)})))
    assert [value for name, value in fields if name.startswith("I")] == [
        b"%d" % v for v in ints]
    assert [value for name, value in fields if name.startswith("F")] == [
        orjson.dumps(v) for v in floats]


# -- the compiled encoder writes the common entries itself ---------------------------------------


class CountingEncoder(JournalEncoder):
    """A JournalEncoder that counts the entries its ``_encode`` writes."""

    def __init__(self, identifier: str) -> None:
        self.python = 0
        super().__init__(identifier)

    def _encode(self, entry: Any) -> bytes:
        self.python += 1
        return super()._encode(entry)


@compiled_only
def test_the_compiled_encoder_hands_back_only_what_it_does_not_write() -> None:
    encoder = CountingEncoder("app")
    compiled = _fast.Encoder(encoder).encode
    common = [entry("m", {"a": 1}, {"b": [1, 2], "c": 1.5}), entry("n"),
              entry("ü\n", {"x": b"\x00"}, {"d": "é"}, prefix=""),
              entry("m", None, {"k": 1}, metadata_key="md"), entry(messages=["a", 2]),
              entry("m", prefix="p"), entry("m", {"err": None})]
    for item in common:
        assert compiled(item) == JournalEncoder("app")._encode(item)
    assert encoder.python == 0
    others = [entry("m", {"err": {"type": "E", "message": "m"}}), entry(level=35),
              entry("m", {1: "x"}), entry("m", {"n": 2**70}),
              entry("m", None, {f"k{i}": i for i in range(1200)}), entry(core=_core_py),
              entry("m", None, Point(1, 2))]
    for item in others:
        assert compiled(item) == JournalEncoder("app")._encode(item)
    assert encoder.python == len(others) - 1  # a non-str key is named by _name, in place


# -- byte for byte, on anything ------------------------------------------------------------------


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Color(enum.IntEnum):
    RED = 1


class Broken:
    def __str__(self) -> str:
        raise RuntimeError("no text")


_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=20)
_LEAVES = st.one_of(
    _TEXT, st.text(alphabet="ab\n", max_size=5), st.integers(),
    st.integers(min_value=2**62, max_value=2**70), st.floats(), st.booleans(), st.none(),
    st.binary(max_size=8),
    st.sampled_from([datetime.date(2024, 5, 1), uuid.UUID(int=7), Color.RED, Point(1, 2),
                     Broken(), (1, "a"), bytearray(b"z\n"), memoryview(b"m")]))
_VALUES = st.recursive(_LEAVES, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(_TEXT, inner, max_size=3)), max_leaves=6)
_KEYS = st.one_of(_TEXT, _TEXT, st.sampled_from(["err", "message", "_x", "9", "a b", ""]),
                  st.integers(), st.sampled_from([None, 1.5, (1, 2)]))
_MAPPINGS = st.dictionaries(_KEYS, _VALUES, max_size=5)


@st.composite
def entries(draw: Any) -> Any:
    error = draw(st.sampled_from([None, ValueError("bad")]))
    data = draw(st.one_of(st.none(), _MAPPINGS))
    if error is not None:
        data = {**(data or {}), "err": draw(st.sampled_from([
            {"type": "ValueError", "message": "bad"}, "text", None]))}
    return entry(
        messages=draw(st.one_of(st.lists(_TEXT, min_size=1, max_size=1),
                                st.lists(st.one_of(_TEXT, st.integers()), max_size=3))),
        data=data,
        metadata=draw(st.one_of(st.none(), _MAPPINGS, st.sampled_from([Point(3, 4), "x"]))),
        level=draw(st.one_of(st.sampled_from(list(LogLevel)), st.integers(-5, 80))),
        prefix=draw(st.one_of(st.none(), st.just(""), _TEXT)),
        metadata_key=draw(st.sampled_from([None, None, "", "meta"])),
        error=error, error_key=draw(st.sampled_from(["err", "err", None])),
        core=draw(st.sampled_from([None, None, None, _core_py])))


_PLAIN_LEAVES = st.one_of(_TEXT, st.integers(), st.floats(), st.booleans(), st.none(),
                          st.binary(max_size=8))
_PLAIN = st.dictionaries(_TEXT, st.recursive(_PLAIN_LEAVES, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(_TEXT, inner, max_size=3)), max_leaves=5),
    max_size=6)


@st.composite
def plain_entries(draw: Any) -> Any:
    """Entries of the shape most programs log: what the compiled encoder writes itself."""
    return entry(draw(_TEXT), draw(st.one_of(st.none(), _PLAIN)),
                 draw(st.one_of(st.none(), _PLAIN)),
                 level=draw(st.sampled_from(list(LogLevel))),
                 metadata_key=draw(st.sampled_from([None, None, "meta"])))


def outcome(call: Any) -> Any:
    """What ``call()`` returns, or the type of what it raises."""
    try:
        return call()
    except Exception as exc:
        return type(exc)


@compiled_only
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(item=entries(), identifier=st.sampled_from(["app", "two\nlines"]))
def test_compiled_and_python_write_the_same_datagrams(item: Any, identifier: str) -> None:
    encoder = JournalEncoder(identifier)
    compiled = _fast.Encoder(encoder).encode
    assert outcome(lambda: compiled(item)) == outcome(lambda: encoder._encode(item))


@compiled_only
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(item=plain_entries())
def test_compiled_and_python_write_the_same_datagrams_for_plain_entries(item: Any) -> None:
    encoder = JournalEncoder("app")
    assert _fast.Encoder(encoder).encode(item) == encoder._encode(item)
