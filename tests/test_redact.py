"""loglayer.plugins.redact: secrets never reach a transport; caller objects never change."""

from __future__ import annotations

import collections
import copy
import dataclasses
import gc
import io
import json
import re
import types

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import loglayer
from loglayer import ConsoleTransport, LogLayer, StructuredTransport, data_hook
from loglayer.plugins import redact
from loglayer.testing import TestTransport
from test_cloner import deep_same  # the same deep comparison, private attributes included

CENSOR = "[REDACTED]"
#: Only ever placed under a redacted key: proves key matching.
KEY_SECRET = "hunter2-QQQ"
#: Placed anywhere inside str values: proves the patterns.
SECRET = "s3cr3t-XYZ"
KEYS = ("password", "token", "secret")
PATTERNS = (r"s3cr3t-\w+",)


@dataclasses.dataclass(frozen=True)
class Login:
    user: str
    password: str


def _outputs(*plugins, **options):
    """A logger writing to a TestTransport, a JSON stream and a console stream."""
    tt = TestTransport("tt")
    json_out, console_out = io.StringIO(), io.StringIO()
    log = LogLayer(transports=[tt, StructuredTransport(stream=json_out, id="json"),
                               ConsoleTransport(stream=console_out, colors=False,
                                                id="console")],
                   plugins=plugins, **options)
    return log, tt, json_out, console_out


def _json_lines(out: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


# -- through a real logger ---------------------------------------------------------------


def test_metadata_keys_at_any_depth_in_every_output():
    log, tt, json_out, console_out = _outputs(redact(keys=KEYS))
    metadata = {"user": "ada", "password": KEY_SECRET,
                "req": {"headers": [{"token": KEY_SECRET, "accept": "json"}]}}
    log.with_metadata(metadata).info("login")
    expected = {"user": "ada", "password": CENSOR,
                "req": {"headers": [{"token": CENSOR, "accept": "json"}]}}
    assert tt.lines[0].metadata == expected
    line = _json_lines(json_out)[0]
    assert {key: line[key] for key in expected} == expected
    console = console_out.getvalue()
    assert KEY_SECRET not in console and "password=[REDACTED]" in console


def test_record_metadata_keeps_its_type():
    log, tt, json_out, _ = _outputs(redact(keys=KEYS))
    log.with_metadata(Login("ada", KEY_SECRET)).info("login")
    assert tt.lines[0].metadata == Login("ada", CENSOR)
    assert _json_lines(json_out)[0]["password"] == CENSOR


def test_fields_are_redacted_once_when_set():
    log, tt, json_out, console_out = _outputs(redact(keys=KEYS))
    fields = {"service": "api", "token": KEY_SECRET}
    child = log.with_fields(fields)
    assert child.get_fields() == {"service": "api", "token": CENSOR}
    child.info("hello")
    assert tt.lines[0].data == {"service": "api", "token": CENSOR}
    assert KEY_SECRET not in json_out.getvalue() + console_out.getvalue()


def test_fields_given_at_construction_are_caught_by_the_data_hook():
    log, tt, json_out, _ = _outputs(redact(keys=KEYS), fields={"secret": KEY_SECRET, "a": 1})
    log.info("hello")
    assert tt.lines[0].data == {"secret": CENSOR, "a": 1}
    assert _json_lines(json_out)[0]["secret"] == CENSOR


def test_fields_under_a_fields_key():
    log, tt, json_out, _ = _outputs(redact(keys=KEYS), fields={"password": KEY_SECRET},
                                    fields_key="ctx")
    log.info("hello")
    assert tt.lines[0].data == {"ctx": {"password": CENSOR}}
    assert _json_lines(json_out)[0]["ctx"] == {"password": CENSOR}


def test_raw_fields_and_metadata():
    log, tt, json_out, _ = _outputs(redact(keys=KEYS))
    log.raw(loglayer.LogLevel.WARN, ["raw"], metadata={"token": KEY_SECRET},
            fields={"password": KEY_SECRET})
    assert tt.lines[0].metadata == {"token": CENSOR}
    assert tt.lines[0].data == {"password": CENSOR}
    assert KEY_SECRET not in json_out.getvalue()


def test_metadata_only_is_redacted():
    log, tt, _, _ = _outputs(redact(keys=KEYS))
    log.metadata_only({"password": KEY_SECRET})
    assert tt.lines[0].metadata == {"password": CENSOR}


def test_data_added_by_an_earlier_plugin():
    extra = data_hook("extra", lambda params: {"auth": {"token": KEY_SECRET}, "n": 1})
    log, tt, json_out, console_out = _outputs(extra, redact(keys=KEYS))
    log.info("hello")
    assert tt.lines[0].data == {"auth": {"token": CENSOR}, "n": 1}
    assert KEY_SECRET not in json_out.getvalue() + console_out.getvalue()


def test_patterns_in_values_messages_and_the_serialized_error():
    log, tt, json_out, console_out = _outputs(redact(patterns=PATTERNS))
    log.with_metadata({"note": f"pasted {SECRET} here", "list": [SECRET]}).info(
        f"user typed {SECRET}", {"nested": SECRET})
    log.with_error(ValueError(f"bad {SECRET}")).error("failed")
    first, second = tt.lines
    assert first.messages == [f"user typed {CENSOR}", {"nested": CENSOR}]
    assert first.metadata == {"note": f"pasted {CENSOR} here", "list": [CENSOR]}
    assert second.data["err"]["message"] == f"bad {CENSOR}"
    assert SECRET not in json_out.getvalue()
    # The console prints the exception object itself (``Type: message``), which no
    # plugin hook can rewrite; everything else on the console is redacted.
    first_console_line = console_out.getvalue().splitlines()[0]
    assert SECRET not in first_console_line and CENSOR in first_console_line


def test_multiline_messages_keep_their_type():
    log, tt, _, console_out = _outputs(redact(patterns=PATTERNS))
    log.info(loglayer.Multiline("first", f"key {SECRET}"))
    message = tt.lines[0].messages[0]
    assert isinstance(message, loglayer.Multiline)
    assert message.lines == ("first", f"key {CENSOR}")
    assert SECRET not in console_out.getvalue()


def test_keys_and_patterns_together():
    log, tt, _, _ = _outputs(redact(keys="password", patterns=re.compile(r"\b\d{16}\b")))
    log.with_metadata({"password": "pw", "card": "pay 4111111111111111 now"}).info(
        "card 4111111111111111")
    assert tt.lines[0].metadata == {"password": CENSOR, "card": f"pay {CENSOR} now"}
    assert tt.lines[0].messages == [f"card {CENSOR}"]


def test_regex_and_callable_keys():
    plugin = redact(keys=[re.compile("(?i)api[_-]?key"), lambda key: key.endswith("_pw")])
    log, tt, _, _ = _outputs(plugin)
    log.with_metadata({"X-API-Key": "k", "db_pw": "p", "user": "u"}).info("x")
    assert tt.lines[0].metadata == {"X-API-Key": CENSOR, "db_pw": CENSOR, "user": "u"}


def test_custom_censor_and_id():
    plugin = redact(keys=KEYS, censor="***", id="scrub")
    log, tt, _, _ = _outputs(plugin)
    assert log.get_plugin("scrub") is plugin
    log.with_metadata({"password": "p"}).info("x")
    assert tt.lines[0].metadata == {"password": "***"}


def test_an_object_that_cannot_be_copied_is_censored_whole():
    class Opaque:
        def __init__(self) -> None:
            self.password = KEY_SECRET

        def __copy__(self):
            return self

    log, tt, _, _ = _outputs(redact(keys=KEYS))
    log.with_metadata({"obj": Opaque(), "ok": 1}).info("x")
    assert tt.lines[0].metadata == {"obj": CENSOR, "ok": 1}


def test_a_failing_key_predicate_censors_instead_of_leaking(capsys):
    def broken(key):
        raise RuntimeError("boom")

    log, tt, json_out, _ = _outputs(redact(keys=broken))
    log.with_metadata({"password": KEY_SECRET}).info("x")
    assert tt.lines[0].metadata == {"password": CENSOR}  # what it could not check, censored
    assert KEY_SECRET not in json_out.getvalue()
    err = capsys.readouterr().err
    assert "redact" in err and "on_metadata_called" in err and "boom" in err


def test_works_on_derived_loggers():
    log, tt, _, _ = _outputs(redact(keys=KEYS))
    log.child().with_prefix("p").with_metadata({"token": "t"}).info("x")
    assert tt.lines[0].metadata == {"token": CENSOR}


# -- no allocation, no mutation ----------------------------------------------------------


def _params(data=None, messages=None):
    return types.SimpleNamespace(data={} if data is None else data,
                                 messages=[] if messages is None else messages)


def test_nothing_to_redact_gives_back_the_same_objects():
    plugin = redact(keys=KEYS, patterns=PATTERNS)
    metadata = {"user": "alice", "attempts": 3, "req": {"id": "r-1", "path": "/login"}}
    fields = {"service": "api", "tags": ["a", "b"]}
    assert plugin.on_metadata_called(metadata) is metadata
    assert plugin.on_fields_called(fields) is fields
    assert plugin.on_before_data_out(_params(data=fields)) is None
    assert plugin.on_before_data_out(_params()) is None
    assert plugin.on_before_message_out(_params(messages=["hello", 1, {"a": "b"}])) is None
    record = Login("ada", CENSOR)  # already censored: nothing left to do
    assert plugin.on_metadata_called(record) is record


def test_nothing_to_redact_passes_the_callers_objects_through_the_pipeline():
    log, tt, _, _ = _outputs(redact(keys=KEYS, patterns=PATTERNS))
    metadata = {"user": "alice", "req": {"id": "r-1"}}
    fields = {"service": "api"}
    message = {"shape": "dict message"}
    log.with_fields(fields).with_metadata(metadata).info(message)
    entry = tt.lines[0]
    assert entry.metadata is metadata and entry.messages[0] is message
    assert entry.data == fields


def test_keys_only_installs_no_message_hook():
    assert not hasattr(redact(keys=KEYS), "on_before_message_out")
    assert hasattr(redact(patterns=PATTERNS), "on_before_message_out")


def test_hooks_only_return_the_changed_top_level_keys():
    plugin = redact(keys=KEYS)
    data = {"a": 1, "b": {"x": 1}, "c": {"password": "p"}, "token": "t", "secret": CENSOR}
    assert plugin.on_before_data_out(_params(data=data)) == {"c": {"password": CENSOR},
                                                             "token": CENSOR}


@pytest.mark.parametrize("value", [
    {"password": KEY_SECRET, "keep": [1, {"token": KEY_SECRET}], "note": f"x {SECRET}"},
    [{"secret": KEY_SECRET}, (SECRET, {"a": SECRET})],
    Login("ada", KEY_SECRET),
    collections.OrderedDict(password=KEY_SECRET, note=SECRET),
])
def test_hooks_never_mutate_the_callers_objects(value):
    plugin = redact(keys=KEYS, patterns=PATTERNS)
    before = copy.deepcopy(value)
    results = [plugin.on_metadata_called(value)]
    if isinstance(value, dict):
        results.append(plugin.on_fields_called(value))
        results.append(plugin.on_before_data_out(_params(data=value)))
    results.append(plugin.on_before_message_out(_params(messages=[value, SECRET])))
    assert deep_same(value, before)
    for result in results:
        assert result is not None and KEY_SECRET not in repr(result)
        assert SECRET not in repr(result)


def test_the_pipeline_never_mutates_the_callers_objects():
    log, tt, _, _ = _outputs(redact(keys=KEYS, patterns=PATTERNS))
    metadata = {"password": KEY_SECRET, "inner": {"token": KEY_SECRET, "n": [SECRET]}}
    fields = {"secret": KEY_SECRET, "note": SECRET}
    messages = [f"m {SECRET}", {"password": KEY_SECRET}]
    snapshot = copy.deepcopy((metadata, fields, messages))
    log.with_fields(fields).with_metadata(metadata).info(*messages)
    log.raw(loglayer.LogLevel.INFO, messages, metadata=metadata, fields=fields)
    assert deep_same((metadata, fields, messages), snapshot)
    assert len(tt.lines) == 2


# -- options ---------------------------------------------------------------------------


@pytest.mark.parametrize(("kwargs", "error", "text"), [
    ({}, ValueError, "keys or patterns"),
    ({"keys": 1}, TypeError, "keys must be"),
    ({"keys": ["password", 2]}, TypeError, r"keys\[1\]"),
    ({"keys": re.compile(".*")}, ValueError, "keys.*empty string"),
    ({"patterns": 5}, TypeError, "patterns must be"),
    ({"patterns": ["ok", 5]}, TypeError, r"patterns\[1\]"),
    ({"patterns": ["("]}, ValueError, r"patterns\[0\].*not a valid regex"),
    ({"patterns": "a*"}, ValueError, "patterns.*empty string"),
    ({"patterns": [re.compile(b"x")]}, TypeError, r"patterns\[0\].*bytes"),
    ({"patterns": "RED"}, ValueError, "patterns.*censor"),
    ({"keys": KEYS, "censor": 0}, TypeError, "censor must be a str"),
    ({"keys": KEYS, "id": 3}, TypeError, "id must be a str"),
])
def test_bad_options_name_the_argument(kwargs, error, text):
    with pytest.raises(error, match=text):
        redact(**kwargs)


def test_plugin_shape():
    plugin = redact(keys=KEYS)
    assert isinstance(plugin, loglayer.Plugin) and plugin.id == "redact"
    assert "redact" in (redact.__doc__ or "")
    log = LogLayer(transports=TestTransport("tt"), plugins=[plugin, redact(keys="x")])
    assert log.plugin_count() == 1  # same id: the second replaces the first


# -- the property ----------------------------------------------------------------------

# Neither secret can come out of these by accident: no digits, no "-", no capitals.
_TEXT = st.text(alphabet="abcdefgh _.", max_size=10)
_PLAIN_KEYS = st.sampled_from(["a", "b", "user", "id", "note", "items"])
_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-1000, 1000),
                     st.floats(allow_nan=False, allow_infinity=False), _TEXT)
_WITH_PATTERN_SECRET = st.one_of(
    st.just(SECRET), st.builds(lambda a, b: f"{a}{SECRET}{b}", _TEXT, _TEXT))


def _tree(leaves):
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3),
            st.tuples(inner, inner),
            st.dictionaries(_PLAIN_KEYS, inner, max_size=3),
            st.builds(Login, _TEXT, inner),  # a record: its "password" field is a key
        ),
        max_leaves=12,
    )


# Anything at all may sit under a redacted key, the key secret included.
_UNDER_KEY = _tree(st.one_of(_SCALARS, st.just(KEY_SECRET), _WITH_PATTERN_SECRET))
_PLANTED = st.one_of(
    st.builds(lambda key, value: {key: value}, st.sampled_from(KEYS), _UNDER_KEY),
    _WITH_PATTERN_SECRET,
)
# Trees whose leaves are plain, or hold a secret where redact must find it.
_VALUES = _tree(st.one_of(_SCALARS, _SCALARS, _PLANTED))
_MAPS = st.dictionaries(st.one_of(_PLAIN_KEYS, st.sampled_from(KEYS)), _VALUES, max_size=4)


def _secret_free(text: str) -> bool:
    return KEY_SECRET not in text and SECRET not in text


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(metadata=st.one_of(_MAPS, _VALUES), fields=_MAPS, data=_MAPS,
       message=st.one_of(_TEXT, _WITH_PATTERN_SECRET))
def test_property_secrets_never_reach_any_output(metadata, fields, data, message):
    before = copy.deepcopy((metadata, fields, data))
    log, tt, json_out, console_out = _outputs(
        data_hook("extra", lambda params: data), redact(keys=KEYS, patterns=PATTERNS))
    log.with_fields(fields).with_metadata(metadata).info(message)
    log.with_fields(fields).warn(message, metadata)
    assert len(tt.lines) == 2
    assert len(_json_lines(json_out)) == 2
    assert _secret_free(json_out.getvalue())
    assert _secret_free(console_out.getvalue())
    for entry in tt.lines:
        assert _secret_free(repr((entry.messages, entry.data, entry.metadata)))
    assert deep_same((metadata, fields, data), before)


def test_a_later_data_hook_sees_the_redacted_data():
    seen = []
    spy = data_hook("spy", lambda params: seen.append(dict(params.data)))
    log = LogLayer(transports=TestTransport("tt"), fields={"token": KEY_SECRET, "n": 1},
                   plugins=[redact(keys=("token",)), spy])
    log.info("hello")
    assert seen == [{"token": "[REDACTED]", "n": 1}]


def test_the_plugin_can_be_copied_and_pickled():
    import pickle

    plugin = redact(keys=("password",), patterns=PATTERNS, id="r")
    for twin in (copy.copy(plugin), copy.deepcopy(plugin), pickle.loads(pickle.dumps(plugin))):
        tt = TestTransport("tt")
        LogLayer(transports=tt, plugins=[twin]).with_metadata(
            {"password": KEY_SECRET}).info(f"see {SECRET}")
        assert tt.last_line().metadata == {"password": CENSOR}
        assert tt.last_line().messages == [f"see {CENSOR}"]
        assert twin.id == "r"


def test_nothing_to_redact_allocates_no_copy_per_entry():
    import tracemalloc

    from loglayer import BlankTransport, metadata_hook

    metadata = {"user": "alice", "attempts": 3, "latency_ms": 12.5, "admin": False,
                "req": {"id": "r-1f3a", "path": "/login"}}

    def peak(*plugins) -> int:
        log = LogLayer(transports=BlankTransport(lambda entry: None), plugins=list(plugins))
        # warm freelists and caches: CPython 3.10 gives a function its attribute and
        # global caches (opcache) on its 1024th call
        for _ in range(1_100):
            log.with_metadata(metadata).info("user logged in")
        # No collection while measuring: a full one empties the free lists, and what is
        # allocated again would count as kept (and a reference cycle an entry made shows)
        gc.disable()
        tracemalloc.start()
        try:
            start, _ = tracemalloc.get_traced_memory()
            for _ in range(2_000):
                log.with_metadata(metadata).info("user logged in")
            current, top = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
            gc.enable()
        assert current - start < 1024  # nothing kept either
        return top - start

    bare = peak()
    extra = peak(redact(keys=KEYS)) - bare
    copying = peak(metadata_hook("copy", lambda value: dict(value))) - bare
    assert extra < copying, f"{extra} bytes more at the peak, a copying hook {copying}"
    if redact(keys=KEYS).cloner._walker is not None:
        assert extra == 0  # the compiled check allocates nothing at all


def test_a_copy_keeps_what_was_set_on_the_plugin():
    import pickle

    plugin = redact(keys=("password",))
    plugin.on_error = print
    plugin.note = "kept"
    for twin in (copy.copy(plugin), copy.deepcopy(plugin), pickle.loads(pickle.dumps(plugin))):
        assert twin.on_error is print and twin.note == "kept"
        assert twin.on_metadata_called({"password": "x"}) == {"password": CENSOR}


def test_a_failing_key_predicate_in_the_data_hook_is_reported(capsys):
    def broken(key):
        raise RuntimeError("boom")

    tt = TestTransport("tt")
    log = LogLayer(transports=tt, fields={"user": "ada"}, plugins=[redact(keys=broken)])
    log.info("x")
    assert tt.lines[0].messages == ["x"]  # the entry is delivered, with the data hook's fallback
    err = capsys.readouterr().err
    assert "on_before_data_out" in err and "boom" in err
