"""The syslog encoder and its compiled fast path write the same bytes (issue #12).

``SyslogFormatter._frames`` (Python, ``loglayer.transports._syslog``) defines a batch's
messages in octet-counted framing; ``_syslogfast.Encoder`` (``cext/_syslogfast.pyx``)
writes the common entries itself and hands the others back to ``render``. Every test
here runs over both (the ``frames`` fixture), and the property tests compare them byte
for byte on entries of any shape: both cores' entries, prefixes, several messages,
control characters and lone surrogates, values of every kind, keys that are not str,
metadata objects and ``metadata_key``, levels between the named ones, every format and
structured-data mode, and limits that cut. ``split_octet_counted`` likewise.

``tests/test_syslog.py`` checks what the messages mean (through ``message()``, which
runs the live encoder: the compiled one, or the Python one with
``LOGLAYER_NO_EXTENSIONS=1``) and what rsyslog reads of them.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import math
import os
import random
import re
import struct
import time
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loglayer import LogLevel, _core_py
from loglayer._select import LogEntry
from loglayer.transports import _syslog
from loglayer.transports._syslog import SyslogFormatter, _split_octet_counted, octet_counted

_fast = _syslog._fast
PID = str(os.getpid())


def _compiled_frames(formatter: SyslogFormatter) -> Any:
    return _fast.Encoder(formatter).frames


@pytest.fixture(params=["pure", "compiled"])
def frames(request) -> Any:
    """``frames(formatter)``: the formatter's batch encoder of this implementation."""
    if request.param == "compiled":
        if _fast is None:
            pytest.skip("loglayer.transports._syslogfast is not in use (tests/"
                        "test_extensions.py fails when it should be)")
        return _compiled_frames
    return lambda formatter: formatter._frames


def formatter(**options: Any) -> SyslogFormatter:
    return SyslogFormatter(**{"hostname": "host", "app_name": "app", **options})


def entry(message: Any = "hello", data: Any = None, metadata: Any = None, *,
          level: Any = LogLevel.INFO, prefix: Any = None, time_ns: int = 1_714_572_000_123_456_789,
          metadata_key: Any = None, messages: list | None = None, core: Any = None) -> Any:
    cls = LogEntry if core is None else core.LogEntry
    return cls(level, [message] if messages is None else messages, data, metadata, None, {}, {},
               prefix, time_ns, metadata_key, "err")


def unframed(payload: bytes) -> list[bytes]:
    return [payload[start:stop] for _, start, stop in _split_octet_counted(payload)]


# -- what both write -------------------------------------------------------------------------


def test_the_common_entry(frames) -> None:
    fields = {"user": "alice", "attempts": 3, "latency_ms": 12.5, "admin": False,
              "req": {"id": "r-1f3a", "path": "/login"}}
    payload, cut = frames(formatter(procid="42"))([entry("user logged in", None, fields)],
                                                  PID, 8192)
    local = time.localtime(1_714_572_000)
    offset = local.tm_gmtoff // 60
    zone = f"{'-' if offset < 0 else '+'}{abs(offset) // 60:02d}:{abs(offset) % 60:02d}"
    message = (f"<14>1 {time.strftime('%Y-%m-%dT%H:%M:%S', local)}.123456{zone} host app 42 "
               '- [loglayer@32473 user="alice" attempts="3" latency_ms="12.5" admin="false" '
               'req="{\\"id\\":\\"r-1f3a\\",\\"path\\":\\"/login\\"}"] user logged in').encode()
    assert payload == b"%d %s" % (len(message), message)
    assert cut == [False]


def test_data_then_metadata_escaped_and_non_ascii_with_the_bom(frames) -> None:
    payload, _ = frames(formatter(procid="1"))(
        [entry("grüße\nzwei", {"q": 'a"b\\c]d'}, {"n": None, "t": True, "é": "ü"})], PID, None)
    [message] = unframed(payload)
    assert message.endswith(b' - [loglayer@32473 q="a\\"b\\\\c\\]d" n="null" t="true" '
                            b'_="\xc3\xbc"] \xef\xbb\xbfgr\xc3\xbc\xc3\x9fe\nzwei')


def test_one_line_escapes_the_message_and_the_values(frames) -> None:
    payload, _ = frames(formatter(procid="1", one_line=True))(
        [entry("a\nb\x7f\u2028", {"v": "x\ty", "j": {"k": "\x85"}})], PID, None)
    [message] = unframed(payload)
    assert message.endswith(b'[loglayer@32473 v="x\\\\ty" j="{\\"k\\":\\"\\\\x85\\"}"] '
                            b"a\\nb\\x7f\\u2028")


def test_the_process_id_is_the_batchs_unless_procid_is_given(frames) -> None:
    encode = frames(formatter())
    assert b" host app 123 - - hello" in encode([entry()], "123", None)[0]
    assert b" host app 456 - - hello" in encode([entry()], "456", None)[0]
    assert b" host app p - - hello" in frames(formatter(procid="p"))([entry()], "123", None)[0]


def test_a_message_over_the_limit_is_cut_and_flagged_in_place(frames) -> None:
    batch = [entry("short"), entry("ü" * 600, {"k": "v"}), entry("after")]
    payload, cut = frames(formatter())(batch, PID, 512)
    assert cut == [False, True, False]
    first, long, last = unframed(payload)
    assert len(long) <= 512 and long.endswith("ü".encode())
    assert first.endswith(b" short") and last.endswith(b" after")


def test_an_empty_batch(frames) -> None:
    assert frames(formatter())([], PID, None) == (b"", [])


# -- the compiled encoder writes the common entries itself ----------------------------------


class CountingFormatter(SyslogFormatter):
    """A formatter that counts the entries its ``render`` writes."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.rendered = 0

    def render(self, entry: Any, pid: str, max_bytes: int | None) -> tuple[bytes, bool]:
        self.rendered += 1
        return super().render(entry, pid, max_bytes)


@pytest.mark.skipif(_fast is None, reason="loglayer.transports._syslogfast is not in use")
def test_the_compiled_encoder_hands_back_only_what_it_does_not_write() -> None:
    common = [entry("m", {"a": 1}, {"b": [1, 2], "c": 1.5}), entry("n", None, None),
              entry("ü", None, {"d": "é"}, prefix=""), entry("m", None, {}, metadata_key="md")]
    fmt = CountingFormatter(hostname="h", app_name="a")
    assert _fast.Encoder(fmt).frames(common, PID, 8192)[0] == fmt._frames(common, PID, 8192)[0]
    assert fmt.rendered == len(common)  # all by _frames, none by the encoder
    others = [entry("m", prefix="p"), entry(messages=["a", "b"]), entry("m", {1: "x"}),
              entry("m", None, Point(1, 2)), entry("x" * 9000),
              entry(core=_core_py)]
    fmt.rendered = 0
    assert _fast.Encoder(fmt).frames(others, PID, 8192)[0] == fmt._frames(others, PID, 8192)[0]
    # a prefix and several messages are joined by _message_text, not render
    assert fmt.rendered == 2 * len(others) - 2
    legacy = CountingFormatter(format="rfc3164", hostname="h", app_name="a")
    _fast.Encoder(legacy).frames(common, PID, None)
    assert legacy.rendered == len(common)


# -- byte for byte, on anything ------------------------------------------------------------------


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Color(enum.IntEnum):
    RED = 1


class Shouting:
    def __str__(self) -> str:
        return 'LOUD "]\n'


class Broken:
    def __str__(self) -> str:
        raise RuntimeError("no text")


_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=30)
_LEAVES = st.one_of(
    _TEXT, st.integers(), st.integers(min_value=2**64, max_value=2**80),
    st.floats(), st.booleans(), st.none(), st.binary(max_size=8),
    st.sampled_from([datetime.date(2024, 5, 1), datetime.datetime(2024, 5, 1, 14, 0),
                     uuid.UUID(int=7), decimal.Decimal("1.5"), Color.RED, Point(1, 2),
                     Shouting(), Broken(), (1, "a"), frozenset([1])]))
_VALUES = st.recursive(_LEAVES, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(_TEXT, inner, max_size=3)), max_leaves=6)
_KEYS = st.one_of(_TEXT, _TEXT, st.integers(), st.sampled_from([None, 1.5, (1, 2)]))
_MAPPINGS = st.dictionaries(_KEYS, _VALUES, max_size=5)
_METADATA = st.one_of(st.none(), _MAPPINGS, st.sampled_from([Point(3, 4), "text", 42]))


@st.composite
def entries(draw: Any) -> Any:
    messages = draw(st.one_of(st.lists(_TEXT, min_size=1, max_size=1),
                              st.lists(st.one_of(_TEXT, st.integers(), st.none()),
                                       max_size=3)))
    return entry(
        messages=messages,
        data=draw(st.one_of(st.none(), _MAPPINGS)),
        metadata=draw(_METADATA),
        level=draw(st.one_of(st.sampled_from(list(LogLevel)),
                             st.integers(min_value=-5, max_value=80))),
        prefix=draw(st.one_of(st.none(), st.just(""), _TEXT)),
        time_ns=draw(st.one_of(st.integers(min_value=0, max_value=2**62),
                               st.integers(min_value=-10**12, max_value=10**12))),
        metadata_key=draw(st.sampled_from([None, None, "", "meta"])),
        core=draw(st.sampled_from([None, None, None, _core_py])))


_OPTIONS = st.fixed_dictionaries({
    "format": st.sampled_from(["rfc5424", "rfc5424", "rfc3164"]),
    "structured_data": st.sampled_from(["fields", "fields", None, "json"]),
    "one_line": st.booleans(),
    "procid": st.sampled_from([None, "42"]),
    "msgid": st.sampled_from([None, "ID47"]),
    "sd_id": st.sampled_from(["loglayer@32473", "x@1"]),
})


def outcome(call: Any) -> Any:
    """What ``call()`` returns, or the type of what it raises."""
    try:
        return call()
    except Exception as exc:
        return type(exc)


@pytest.mark.skipif(_fast is None, reason="loglayer.transports._syslogfast is not in use")
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=st.lists(entries(), max_size=4), options=_OPTIONS,
       max_bytes=st.sampled_from([None, 512, 700, 8192]))
def test_compiled_and_python_write_the_same_bytes(batch: list, options: dict,
                                                  max_bytes: int | None) -> None:
    fmt = SyslogFormatter(hostname="host", app_name="app", **options)
    compiled = _fast.Encoder(fmt).frames
    assert outcome(lambda: compiled(batch, PID, max_bytes)) == outcome(
        lambda: fmt._frames(batch, PID, max_bytes))


_PLAIN_LEAVES = st.one_of(_TEXT, st.integers(), st.integers(min_value=-2**70, max_value=2**70),
                         st.floats(), st.booleans(), st.none())
_PLAIN_VALUES = st.recursive(_PLAIN_LEAVES, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(_TEXT, inner, max_size=3)), max_leaves=5)
_PLAIN = st.dictionaries(_TEXT, _PLAIN_VALUES, max_size=6)


@st.composite
def plain_entries(draw: Any) -> Any:
    """Entries of the shape most programs log: what the compiled encoder writes itself."""
    return entry(draw(_TEXT), draw(st.one_of(st.none(), _PLAIN)),
                 draw(st.one_of(st.none(), _PLAIN)),
                 level=draw(st.sampled_from(list(LogLevel))),
                 time_ns=draw(st.integers(min_value=0, max_value=2**62)),
                 metadata_key=draw(st.sampled_from([None, None, "meta"])))


@pytest.mark.skipif(_fast is None, reason="loglayer.transports._syslogfast is not in use")
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=st.lists(plain_entries(), max_size=4), options=_OPTIONS,
       max_bytes=st.sampled_from([None, None, 512, 8192]))
def test_compiled_and_python_write_the_same_bytes_for_plain_entries(
        batch: list, options: dict, max_bytes: int | None) -> None:
    fmt = SyslogFormatter(hostname="host", app_name="app", **options)
    compiled = _fast.Encoder(fmt).frames
    assert outcome(lambda: compiled(batch, PID, max_bytes)) == outcome(
        lambda: fmt._frames(batch, PID, max_bytes))


def _nested_values() -> list[Any]:
    deep: Any = "bottom"
    for _ in range(40):
        deep = [deep]
    cycle: list = []
    cycle.append(cycle)
    return [
        {}, [], {"": ""}, [[]], {"a": {"b": {"c": [1, None, True, False]}}},
        {"s": "".join(map(chr, range(0x21))) + '"\\]\x7f\x85\u2028é😀'},
        ["\udc80"], {"k": "\ud800x"}, {1: "non-str key"}, {"n": {2: 3}},
        [2**63 - 1, -2**63, 2**63, -2**63 - 1, 2**64, 10**30],
        {"f": 1.5}, [1e16, 0.1], deep, cycle, (1, 2), {"t": (1, 2)},
        {"d": datetime.date(2024, 5, 1)}, [Point(1, 2)], {"b": b"\x00"},
    ]


@pytest.mark.skipif(_fast is None, reason="loglayer.transports._syslogfast is not in use")
@pytest.mark.parametrize("one_line", [False, True])
def test_nested_values_are_written_as_orjson_writes_them(one_line: bool) -> None:
    batch = [entry("n", None, {"v": value}) for value in _nested_values()]
    fmt = formatter(procid="1", one_line=one_line)
    assert _fast.Encoder(fmt).frames(batch, PID, None) == fmt._frames(batch, PID, None)


def test_ints_are_written_as_repr_writes_them(frames) -> None:
    values = [0, 1, -1, 7, -42, 2**31, -2**31, 2**63 - 1, -2**63, 2**63, -2**63 - 1, 10**30,
              -10**30]
    payload, _ = frames(formatter(procid="1"))(
        [entry("i", {f"v{i}": v for i, v in enumerate(values)})], PID, None)
    assert re.findall(rb' v\d+="([^"]*)"', payload) == [repr(v).encode() for v in values]


@pytest.mark.skipif(_fast is None, reason="loglayer.transports._syslogfast is not in use")
@pytest.mark.parametrize("zone", ["UTC0", "IST-5:30", "NST3:30"])
def test_compiled_and_python_write_the_same_timestamps(monkeypatch, zone: str) -> None:
    monkeypatch.setenv("TZ", zone)
    time.tzset()
    try:
        stamps = (0, 999_999_999, 1_000_000_000, 1_714_572_000_000_001_000,
                  1_714_572_000_999_999_999, 1_714_572_001_000_000_000)
        batch = [entry(time_ns=t) for t in stamps]
        fmt = formatter()
        assert _fast.Encoder(fmt).frames(batch, PID, None) == fmt._frames(batch, PID, None)
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def _floats() -> list[float]:
    """Floats around every edge of the compiled writer's fixed-notation path: random bit
    patterns, short decimals, powers of ten and their neighbours, 1e-4, 1e16, 2**53."""
    rng = random.Random(12)
    values = [struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0]
              for _ in range(4000)]
    values += [rng.randint(-10**rng.randint(1, 17), 10**rng.randint(1, 17))
               / 10**rng.randint(0, 20) for _ in range(8000)]
    values += [rng.uniform(-1e6, 1e6) for _ in range(2000)]
    edges = [1e-4, 1e16, 2.0**53, 0.1, 0.5, 12.5, 1.0, 9.5, 1e15, 123456789012345.6,
             0.30000000000000004, 5e-324, 1.7976931348623157e308, 0.0, float("inf"),
             float("nan"), 1e22, 1e23]
    for edge in edges + [10.0**k for k in range(-6, 18)]:
        for step in range(-3, 4):
            value = edge
            for _ in range(abs(step)):
                value = math.nextafter(value, math.inf if step > 0 else -math.inf)
            values += [value, -value]
    return values


def test_floats_are_written_as_repr_writes_them(frames) -> None:
    values = _floats()
    batch = [entry("f", None, {f"v{i}": v for i, v in enumerate(values[start:start + 50])})
             for start in range(0, len(values), 50)]
    payload, _ = frames(formatter(procid="1"))(batch, PID, None)
    written = [re.findall(rb' v\d+="([^"]*)"', message) for message in unframed(payload)]
    assert [value for group in written for value in group] == [repr(v).encode() for v in values]


# -- framing ---------------------------------------------------------------------------------------


@pytest.fixture(params=["pure", "compiled"])
def split(request) -> Any:
    if request.param == "compiled":
        if _fast is None:
            pytest.skip("loglayer.transports._syslogfast is not in use")
        return _fast.split_octet_counted
    return _split_octet_counted


@given(st.lists(st.binary(max_size=300), max_size=6))
def test_split_finds_each_frame(messages: list[bytes]) -> None:
    payload = octet_counted(messages)
    for split in [_split_octet_counted] + ([] if _fast is None else [_fast.split_octet_counted]):
        assert [payload[start:stop] for _, start, stop in split(payload)] == messages


@pytest.mark.parametrize("payload", [b"", b"3 abc", b"3 abc10 0123456789", b"0 "])
def test_split_reads_well_formed_payloads(split, payload: bytes) -> None:
    assert split(payload) == _split_octet_counted(payload)


@pytest.mark.skipif(_fast is None, reason="loglayer.transports._syslogfast is not in use")
@given(st.binary(max_size=40))
def test_split_reads_any_payload_as_python_does(payload: bytes) -> None:
    assert outcome(lambda: _fast.split_octet_counted(payload)) == outcome(
        lambda: _split_octet_counted(payload))


# -- the stream wire's batch and its socket calls that keep the GIL --------------------------


def test_a_batch_written_whole_knows_where_each_entry_ends() -> None:
    """``write_all`` leaves the ends to be worked out from the payload when first asked;
    they are those the entry-by-entry path records."""
    messages = [b"a", b"bc", "é".encode(), b""]
    payload = octet_counted(messages)
    whole = _syslog._Batch(payload, True, [False, True, False, False])
    assert whole.untouched()
    whole.write_all(1000)
    assert not whole.untouched() and whole.sent() == [0, 1, 2, 3]
    one_by_one = _syslog._Batch(payload, True, None)
    end = 1000
    for index, frame in enumerate(one_by_one.frames):
        end += len(frame)
        one_by_one.ends[index] = end
    assert whole.ends == one_by_one.ends == [1003, 1007, 1011, 1013]
    whole.done(1)
    whole.done_sent()
    assert whole.finished() and whole.delivered() == [0, 1, 2, 3]


def test_done_sent_settles_only_the_written_entries() -> None:
    batch = _syslog._Batch(octet_counted([b"x"] * 4), True, None)
    batch.state[1] = batch.state[2] = _syslog._SENT
    batch.lose(3, "refused")
    batch.done_sent()
    assert batch.delivered() == [1, 2] and batch.unfinished == 1 and batch.lost == 1


@pytest.mark.skipif(_fast is None, reason="loglayer.transports._syslogfast is not in use")
def test_send_now_writes_what_the_buffer_takes_and_never_waits() -> None:
    import socket

    ours, theirs = socket.socketpair()
    with ours, theirs:
        ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        assert not _fast.readable_now(theirs.fileno())
        assert _fast.send_now(ours.fileno(), b"hello") == 5
        assert _fast.readable_now(theirs.fileno()) and theirs.recv(5) == b"hello"
        data = bytes(range(256)) * 4096  # 1 MiB: more than both buffers hold
        written = _fast.send_now(ours.fileno(), data)
        assert 0 < written < len(data)
        while True:  # the buffer fills: 0, not a wait
            more = _fast.send_now(ours.fileno(), data, written)
            if not more:
                break
            written += more
        received = bytearray()
        while len(received) < written:
            received += theirs.recv(1 << 20)
        assert bytes(received) == data[:written]
        assert _fast.send_now(ours.fileno(), data, len(data)) == 0
        with pytest.raises(ValueError, match="offset"):
            _fast.send_now(ours.fileno(), data, len(data) + 1)
        theirs.close()
        assert _fast.readable_now(ours.fileno())  # the peer's end reads as ready
        with pytest.raises(BrokenPipeError):
            _fast.send_now(ours.fileno(), b"x")


@pytest.mark.skipif(_fast is None, reason="loglayer.transports._syslogfast is not in use")
def test_acked_soon_reads_the_bytes_the_receivers_tcp_acknowledged() -> None:
    import socket

    offset = _syslog._BYTES_ACKED_OFFSET
    with socket.create_server(("127.0.0.1", 0)) as server, \
            socket.create_connection(server.getsockname()) as ours:
        theirs, _ = server.accept()
        with theirs:
            start = _syslog._Connection(ours).stream
            ours.sendall(b"x" * 1000)
            # loopback acknowledges within the looks (1 s at most here)
            assert _fast.acked_soon(ours.fileno(), start + 1000, offset, 1000, 1_000_000)
            assert not _fast.acked_soon(ours.fileno(), start + 1001, offset, 3, 1000)
            assert theirs.recv(2000) == b"x" * 1000
            with pytest.raises(ValueError, match="offset"):
                _fast.acked_soon(ours.fileno(), 0, 250, 1, 1000)
            with pytest.raises(ValueError, match="pause_ns"):
                _fast.acked_soon(ours.fileno(), 0, offset, 1, 1_000_000_000)
