"""Property tests of the renderers: whatever the data, one valid JSON line / one console line.

The tests take the renderer module from the ``renderers`` fixture, so the same
properties can be checked against every implementation of ``render_json`` and
``render_console``.
"""

from __future__ import annotations

import dataclasses
import datetime
import importlib
import json
import types

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loglayer import LogEntry, LogLevel, Multiline


@pytest.fixture(scope="module", params=["loglayer._render_py"])
def renderers(request):
    """A module with JsonFormat, ConsoleFormat, render_json and render_console."""
    return importlib.import_module(request.param)


class Unprintable:
    """``str()`` raises (its repr works, for Hypothesis' reports)."""

    def __str__(self):
        raise RuntimeError("no str")

    def __repr__(self):
        return "Unprintable()"


class Sneaky:
    """Its text forges a log line."""

    def __str__(self):
        return "x\nINFO  forged\r\u2028"


# Text with the characters that break lines, drive terminals or are not UTF-8.
tricky_chars = st.sampled_from(
    ["\n", "\r", "\t", "\x00", "\x1b", "\x7f", "\x85", "\x9b", "\u2028", "\u2029",
     "\ud800", "\udc80", " ", "=", '"', "\\", "é", "\U0001f600"])
texts = st.text(st.one_of(st.characters(), tricky_chars), max_size=20)
ints = st.one_of(st.integers(), st.integers(min_value=2**63 - 2, max_value=2**66),
                 st.integers(min_value=-(2**66), max_value=-(2**63) + 2),
                 st.builds(pow, st.just(10), st.just(5000)))  # too long for str()
scalars = st.one_of(
    st.none(), st.booleans(), ints, st.floats(allow_nan=True, allow_infinity=True), texts,
    st.binary(max_size=8), st.complex_numbers(), st.just(object()), st.just(Unprintable()),
    st.just(Sneaky()), st.dates(), st.sampled_from(list(LogLevel)),
)
keys = st.one_of(texts, st.integers(), st.none(), st.tuples(st.integers()),
                 st.just(Unprintable()))
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.tuples(children, children),
        st.dictionaries(keys, children, max_size=4), st.frozensets(st.integers(), max_size=3),
    ),
    max_leaves=20,
)
messages = st.lists(st.one_of(values, texts), max_size=4)
metadata = st.one_of(st.none(), values, st.dictionaries(keys, values, max_size=5))
data = st.dictionaries(st.one_of(texts, st.sampled_from(["msg", "level", "time", "err"])),
                       values, max_size=5)
levels = st.sampled_from(list(LogLevel))
time_ns = st.integers(min_value=-(2**63), max_value=2**63 - 1)
prefixes = st.one_of(st.none(), texts)
metadata_keys = st.one_of(st.none(), st.sampled_from(["meta", "msg"]))


def make_entry(level, msgs, data, metadata, prefix, time_ns, metadata_key, error=None):
    return LogEntry(level, msgs, data, metadata, error, {}, None, prefix, time_ns, metadata_key)


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(level=levels, msgs=messages, data=data, metadata=metadata, prefix=prefixes,
       time_ns=time_ns, metadata_key=metadata_keys,
       time_format=st.sampled_from(["iso", "epoch", "epoch_ms", "epoch_ns", None]))
def test_render_json_is_always_one_valid_json_line(renderers, level, msgs, data, metadata,
                                                    prefix, time_ns, metadata_key, time_format):
    fmt = renderers.JsonFormat(time_format=time_format)
    line = renderers.render_json(
        make_entry(level, msgs, data, metadata, prefix, time_ns, metadata_key), fmt)
    assert type(line) is bytes
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    doc = json.loads(line)
    assert doc["level"] == level.name.lower()
    assert type(doc["msg"]) is str
    fixed = ["level", "msg"] if time_format is None else ["time", "level", "msg"]
    assert list(doc)[:len(fixed)] == fixed


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(level=levels, msgs=messages, data=data, metadata=metadata, prefix=prefixes,
       time_ns=time_ns, colors=st.booleans(), show_time=st.booleans(),
       error=st.sampled_from([None, ValueError("a\nb"), KeyError("\x1b[31m")]))
def test_render_console_is_always_one_line(renderers, level, msgs, data, metadata, prefix,
                                            time_ns, colors, show_time, error):
    fmt = renderers.ConsoleFormat(colors, show_time)
    text = renderers.render_console(
        make_entry(level, msgs, data, metadata, prefix, time_ns, None, error), fmt)
    assert type(text) is str
    assert text.endswith("\n") and text.count("\n") == 1  # no traceback: never raised
    first = text[:-1]
    assert len(first.splitlines()) <= 1
    if not colors:
        assert "\x1b" not in first


@settings(max_examples=50, deadline=None)
@given(msgs=messages, data=data)
def test_console_traceback_follows_the_first_line(renderers, msgs, data):
    try:
        raise ValueError("bad\r\nthing")
    except ValueError as exc:
        error = exc
    # data["err"] is where the serialized error lives; whatever stands there is what the
    # console shows of the error (tests/test_hardening_core.py): leave it to the exception
    data.pop("err", None)
    text = renderers.render_console(
        make_entry(LogLevel.ERROR, msgs, data, None, None, 0, None, error),
        renderers.ConsoleFormat(False, False))
    first, rest = text.split("\n", 1)
    assert "err=ValueError: bad\\r\\nthing" in first
    assert rest.startswith("    Traceback (most recent call last):\n")
    assert all(line.startswith("    ") for line in rest.split("\n")[:-1])
    assert "\r" not in rest


@settings(max_examples=100, deadline=None)
@given(lines=st.lists(texts, max_size=4))
def test_multiline_lines_stay_indented(renderers, lines):
    text = renderers.render_console(
        make_entry(LogLevel.INFO, [Multiline(*lines)], {}, None, None, 0, None),
        renderers.ConsoleFormat(False, False))
    rows = text.split("\n")
    assert rows[-1] == "" and len(rows) == max(len(lines), 1) + 1
    assert all(row.startswith("    ") for row in rows[1:-1])


@settings(max_examples=300, deadline=None)
@given(time_ns=time_ns)
def test_iso_time_matches_datetime(renderers, time_ns):
    seconds, ns = divmod(time_ns, 10**9)
    moment = datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=seconds)
    expected = (f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T"
                f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}."
                f"{ns // 10**6:03d}Z")
    line = renderers.render_json(make_entry(LogLevel.INFO, [], {}, None, None, time_ns, None),
                                 renderers.JsonFormat())
    assert json.loads(line)["time"] == expected


def test_cyclic_and_self_referencing_shapes(renderers):
    cyclic: dict = {"a": 1}
    cyclic["self"] = cyclic
    looped: list = [1]
    looped.append({"back": looped})
    for value in (cyclic, looped, {"t": (looped,)}):
        e = make_entry(LogLevel.INFO, [value], {"v": value}, value, None, 0, None)
        assert json.loads(renderers.render_json(e, renderers.JsonFormat()))
        assert renderers.render_console(e, renderers.ConsoleFormat(False, True)).count("\n") == 1


# -- the compiled renderers against the pure reference ----------------------------------------


def _compiled_core():
    """The compiled kernel and renderers, as one namespace of their names."""
    try:
        kernel = importlib.import_module("loglayer._core")
        render = importlib.import_module("loglayer._render")
    except ModuleNotFoundError:
        pytest.skip("the compiled core is not built (test_extensions.py guards that)")
    return types.SimpleNamespace(**vars(kernel), **{k: getattr(render, k)
                                                    for k in render.__all__})


def _raised(message):
    try:
        raise ValueError(message)
    except ValueError as exc:
        return exc


json_options = st.fixed_dictionaries({
    "message_key": st.sampled_from(["msg", "message"]),
    "level_key": st.sampled_from(["level", "lvl"]),
    "time_key": st.sampled_from(["time", "ts"]),
    "time_format": st.sampled_from([None, "iso", "epoch", "epoch_ms", "epoch_ns"]),
})
realistic_time_ns = st.integers(min_value=0, max_value=4_102_444_800 * 10**9)
errors = st.one_of(st.none(), st.builds(ValueError, texts), st.builds(_raised, texts))


@pytest.mark.slow
@settings(max_examples=400, deadline=None)
@given(options=json_options, level=levels, msgs=messages, data=data, meta=metadata,
       prefix=prefixes, when=st.one_of(time_ns, realistic_time_ns), meta_key=metadata_keys)
def test_compiled_json_is_byte_identical(options, level, msgs, data, meta, prefix, when,
                                         meta_key):
    import loglayer._render_py as pure

    compiled = _compiled_core()
    entry_args = (level, msgs, data, meta, None, {}, None, prefix, when, meta_key)
    expected = pure.JsonFormat(**options).render(pure_entry(entry_args))
    assert compiled.JsonFormat(**options).render(compiled.LogEntry(*entry_args)) == expected


@pytest.mark.slow
@settings(max_examples=400, deadline=None)
@given(colors=st.booleans(), show_time=st.booleans(), level=levels, msgs=messages,
       data=data, meta=metadata, prefix=prefixes, when=realistic_time_ns, error=errors)
def test_compiled_console_is_identical(colors, show_time, level, msgs, data, meta, prefix,
                                       when, error):
    import loglayer._render_py as pure

    compiled = _compiled_core()
    entry_args = (level, msgs, data, meta, error, {}, None, prefix, when, None)
    expected = pure.ConsoleFormat(colors, show_time).render(pure_entry(entry_args))
    got = compiled.ConsoleFormat(colors, show_time).render(compiled.LogEntry(*entry_args))
    assert got == expected


def pure_entry(entry_args):
    return importlib.import_module("loglayer._core_py").LogEntry(*entry_args)


def test_compiled_renderers_end_to_end_match_the_pure_ones():
    """The same calls through each core's logger and its transports write the same bytes."""
    import io

    outputs = []
    for kernel, render in (("loglayer._core_py", "loglayer._render_py"),
                           ("loglayer._core", "loglayer._render")):
        try:
            module = types.SimpleNamespace(LogLayer=importlib.import_module(kernel).LogLayer,
                                           **vars(importlib.import_module(render)))
        except ModuleNotFoundError:
            pytest.skip("the compiled core is not built")
        json_sink, text_sink = io.BytesIO(), io.StringIO()
        log = module.LogLayer(transports=[
            module.LineTransport(module.JsonFormat(time_format="epoch_ns"), json_sink,
                                 binary=True, id="json"),
            module.LineTransport(module.ConsoleFormat(False, True), text_sink, id="text"),
        ], fields={"svc": "api"}, prefix="[p]")
        fixed = module.LogLayer(transports=log.get_logger_instance("json"))
        for i in range(50):
            log.with_fields(i=i).with_metadata({"n": i, "nested": {"x": [i]}}).info("m", i)
            log.with_error(_raised(f"e{i}")).error("failed\nforged")
        fixed.info("fixed")
        outputs.append((json_sink.getvalue(), text_sink.getvalue()))
    pure_out, compiled_out = outputs
    # the clock differs between the two runs: compare with the time columns masked
    import re

    def mask(text):
        return re.sub(rb'"time":\d+', b'"time":0', text)

    assert mask(pure_out[0]) == mask(compiled_out[0])
    strip = re.compile(r"^\d\d:\d\d:\d\d\.\d{3} ", re.M)
    assert strip.sub("", pure_out[1]) == strip.sub("", compiled_out[1])
    # both runs logged through real loggers: 50 info + 50 error lines + "fixed" as JSON,
    # the 100 entries of ``log`` on the console (each starting with its time)
    assert pure_out[0].count(b"\n") == 101
    assert len(strip.findall(pure_out[1])) == 100


# -- the spliced compiled JSON line against the merging reference --------------------------


class Key(str):
    """A str subclass as a key: equal to the plain str, so it collides like one."""


@dataclasses.dataclass
class Record:
    user: str
    msg: object = None


pooled_keys = st.sampled_from(["a", "b", "user", "msg", "message", "level", "lvl", "time",
                               "ts", "metadata", "meta", "_msg", "err", "é", "\ud800"])
any_keys = st.one_of(pooled_keys, pooled_keys.map(Key), st.integers(min_value=0, max_value=3))
pooled_data = st.dictionaries(st.one_of(pooled_keys, pooled_keys.map(Key)), values, max_size=4)
pooled_metadata = st.one_of(
    st.none(), values, st.dictionaries(any_keys, values, max_size=4),
    st.builds(Record, texts, values))


@pytest.mark.slow
@settings(max_examples=800, deadline=None)
@given(options=json_options, level=levels, msgs=messages, data=pooled_data,
       meta=pooled_metadata, prefix=prefixes, when=st.one_of(time_ns, realistic_time_ns),
       meta_key=st.one_of(st.none(), pooled_keys), error=errors)
def test_spliced_json_equals_the_merging_renderer(options, level, msgs, data, meta, prefix,
                                                  when, meta_key, error):
    """The compiled renderer writes its own head and splices orjson's rendering of the
    data and metadata; the pure one merges them into one dict first. Keys shared between
    the two, reserved keys, str subclasses, non-str keys, unicode, lone surrogates and
    values orjson refuses must all come out byte for byte the same."""
    import loglayer._render_py as pure

    compiled = _compiled_core()
    entry_args = (level, msgs, data, meta, error, {}, None, prefix, when, meta_key)
    expected = pure.render_json(pure_entry(entry_args), pure.JsonFormat(**options))
    assert compiled.JsonFormat(**options).render(compiled.LogEntry(*entry_args)) == expected
