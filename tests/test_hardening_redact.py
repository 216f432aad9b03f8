"""Issue 17, hardening of ``redact``: it fails closed, and checks the text that is rendered.

Every test runs on both cores (the ``core`` fixture); ``make test`` runs the file a second
time with ``LOGLAYER_NO_EXTENSIONS=1``, which also swaps the compiled Cloner walk for the
pure one, so each behaviour is checked on both walks too.
"""

from __future__ import annotations

import collections.abc
import decimal
import enum
import io
import json
import pathlib
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import loglayer
import loglayer.plugins
from loglayer import ConsoleTransport, StructuredTransport, _render_py
from loglayer.plugins import redact, sprintf
from loglayer.testing import TestTransport
from loglayer.utils import Cloner
from test_cloner import compiled_walk, deep_same, pure_clone

CENSOR = "[REDACTED]"
PASSWORD = "hunter2"
CARD = "4111111111111111"
CARD_RE = r"\b\d{16}\b"


# -- values that cannot be inspected -----------------------------------------------------


class UnboundProxy:
    """An unbound proxy (werkzeug's ``LocalProxy``, ``lazy_object_proxy``) whose
    ``__class__``, attributes, ``__eq__``, ``__hash__`` and ``__str__`` all raise."""

    __slots__ = ()

    @property  # type: ignore[misc]
    def __class__(self) -> type:
        raise RuntimeError("working outside of request context")

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError("working outside of request context")

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("working outside of request context")

    def __hash__(self) -> int:
        raise RuntimeError("working outside of request context")

    def __str__(self) -> str:
        raise RuntimeError("working outside of request context")

    def __repr__(self) -> str:
        return "<UnboundProxy unbound>"


class Opaque:
    """Every attribute access raises (``__getattribute__``), ``__class__`` included."""

    def __getattribute__(self, name: str) -> Any:
        raise RuntimeError(f"no {name}")

    def __repr__(self) -> str:
        return "<Opaque>"


class BadText(str):
    """A str whose ``__eq__`` and ``__hash__`` raise."""

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("eq")

    def __hash__(self) -> int:
        raise RuntimeError("hash")


class BadKey(str):
    """A str key that hashes like the text it holds but whose ``__eq__`` raises, so
    asking whether ``BadKey("password")`` is a secret key raises."""

    __hash__ = str.__hash__

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("eq")


class BrokenMapping(collections.abc.Mapping):
    """A mapping whose items cannot be read (but whose repr can)."""

    def __getitem__(self, key: object) -> Any:
        raise RuntimeError("getitem")

    def __iter__(self):
        raise RuntimeError("iter")

    def __len__(self) -> int:
        return 1


class BrokenRecord:
    """A plain object whose ``__dict__`` raises when read."""

    def __init__(self) -> None:
        object.__setattr__(self, "password", PASSWORD)

    @property  # type: ignore[misc]
    def __dict__(self) -> dict:  # type: ignore[override]
        raise RuntimeError("dict")


HOSTILE = {
    "unbound-proxy": UnboundProxy,
    "getattribute-raises": Opaque,
    "str-eq-raises": lambda: BadText("x"),
    "mapping-items-raise": BrokenMapping,
    "record-dict-raises": BrokenRecord,
}


def _outputs(core, *plugins, **options):
    """A logger on ``core`` writing to a TestTransport and, when ``core`` is the live
    core (the renderers are built for it), to a JSON stream and a console stream."""
    tt = TestTransport("tt")
    json_out, console_out = io.StringIO(), io.StringIO()
    transports: list = [tt]
    if core.LogLayer is loglayer.LogLayer:
        transports += [StructuredTransport(stream=json_out, id="json", time_format=None),
                       ConsoleTransport(stream=console_out, colors=False, show_time=False,
                                        id="console")]
    log = core.LogLayer(transports=transports, plugins=plugins, **options)
    return log, tt, json_out, console_out


def _written(json_out: io.StringIO, console_out: io.StringIO) -> str:
    """What the renderers wrote; every JSON line is checked to be JSON."""
    for line in json_out.getvalue().splitlines():
        json.loads(line)
    return json_out.getvalue() + console_out.getvalue()


def _rendered(tt: TestTransport) -> str:
    """Every entry the TestTransport got, as JSON and console lines (so both are
    checked whatever core produced the entries): by the pure renderers, the compiled
    ones' twins, which take an entry of either core."""
    json_format = _render_py.JsonFormat(time_format=None)
    console_format = _render_py.ConsoleFormat(colors=False, show_time=False)
    lines = []
    for entry in tt.lines:
        lines.append(_render_py.render_json(entry, json_format).decode())
        lines.append(_render_py.render_console(entry, console_format))
    return "".join(lines)


@pytest.fixture
def no_context_fields():
    yield
    loglayer.clear_contextvars()


@pytest.mark.parametrize("make", list(HOSTILE.values()), ids=list(HOSTILE))
def test_a_value_that_cannot_be_inspected_is_censored_in_constructor_fields(core, make):
    log, tt, json_out, console_out = _outputs(
        core, redact(keys=("password",)),
        fields={"password": PASSWORD, "odd": make(), "user": "ada"})
    log.info("hello")
    data = tt.last_line().data
    assert data["password"] == CENSOR and data["odd"] == CENSOR and data["user"] == "ada"
    assert PASSWORD not in _written(json_out, console_out) + _rendered(tt)


@pytest.mark.parametrize("make", list(HOSTILE.values()), ids=list(HOSTILE))
def test_a_value_that_cannot_be_inspected_is_censored_in_raw_fields(core, make):
    log, tt, json_out, console_out = _outputs(core, redact(keys=("password",)))
    log.raw("info", ["hello"], fields={"password": PASSWORD, "odd": [make()], "n": 1})
    data = tt.last_line().data
    assert data == {"password": CENSOR, "odd": [CENSOR], "n": 1}
    assert PASSWORD not in _written(json_out, console_out) + _rendered(tt)


@pytest.mark.parametrize("make", list(HOSTILE.values()), ids=list(HOSTILE))
def test_a_value_that_cannot_be_inspected_is_censored_in_context_fields(
        core, make, no_context_fields):
    log, tt, json_out, console_out = _outputs(core, redact(keys=("password",)))
    loglayer.bind_contextvars(password=PASSWORD, odd={"inner": make()}, request_id="r1")
    log.info("hello")
    data = tt.last_line().data
    assert data == {"password": CENSOR, "odd": {"inner": CENSOR}, "request_id": "r1"}
    assert PASSWORD not in _written(json_out, console_out) + _rendered(tt)


@pytest.mark.parametrize("make", list(HOSTILE.values()), ids=list(HOSTILE))
def test_metadata_and_fields_hooks_censor_what_they_cannot_inspect(core, make):
    log, tt, json_out, console_out = _outputs(core, redact(keys=("password",)))
    log.with_metadata({"password": PASSWORD, "odd": make(), "user": "ada"}).info("m")
    assert tt.last_line().metadata == {"password": CENSOR, "odd": CENSOR, "user": "ada"}
    log.with_fields({"password": PASSWORD, "odd": make()}).info("f")
    assert tt.last_line().data == {"password": CENSOR, "odd": CENSOR}
    assert PASSWORD not in _written(json_out, console_out) + _rendered(tt)


def test_a_key_that_cannot_be_checked_has_its_value_censored(core):
    log, tt, json_out, console_out = _outputs(core, redact(keys=("password",)))
    log.with_metadata({BadKey("password"): PASSWORD, "user": "ada"}).info("m")
    metadata = tt.last_line().metadata
    assert list(metadata.values()) == [CENSOR, "ada"]
    log.raw("info", ["r"], fields={"nested": {BadKey("password"): PASSWORD}})
    assert list(tt.last_line().data["nested"].values()) == [CENSOR]
    assert PASSWORD not in _written(json_out, console_out) + _rendered(tt)


def test_a_key_predicate_that_raises_censors_instead_of_passing(core):
    def is_secret(key: str) -> bool:
        if key == "odd":
            raise RuntimeError("predicate failed")
        return key == "password"

    log, tt, json_out, console_out = _outputs(core, redact(keys=is_secret),
                                              fields={"password": PASSWORD, "user": "ada"})
    log.with_metadata({"odd": PASSWORD, "fine": 1}).info("m")
    assert tt.last_line().metadata == {"odd": CENSOR, "fine": 1}
    assert tt.last_line().data == {"password": CENSOR, "user": "ada"}
    assert PASSWORD not in _written(json_out, console_out) + _rendered(tt)


def test_a_message_that_cannot_be_inspected_is_censored(core):
    log, tt, json_out, console_out = _outputs(core, redact(patterns=(CARD_RE,)))
    log.info("card", CARD, UnboundProxy())
    assert tt.last_line().messages == ["card", CENSOR, CENSOR]
    assert CARD not in _written(json_out, console_out) + _rendered(tt)


def test_the_data_hook_fails_closed_when_the_walk_fails_as_a_whole(core, monkeypatch):
    plugin = redact(keys=("password",))

    def broken(value: object) -> object:
        raise RuntimeError("walk failed")

    # The last resort of the hook: a walk that raises is never expected of a strict
    # Cloner, but if one does, every top-level key not proven clean is censored.
    cloner = plugin.cloner
    changes = cloner._data_changes({"password": PASSWORD, "odd": UnboundProxy(), "n": 1,
                                    "user": "ada"}, CENSOR)
    assert changes == {"password": CENSOR, "odd": CENSOR}
    monkeypatch.setattr(type(plugin), "on_before_data_out",
                        type(plugin).on_before_data_out)  # the pure hook, not the compiled one
    object.__setattr__(cloner, "_censored", broken)
    params = type("P", (), {"data": {"password": PASSWORD, "user": "ada"}})()
    assert type(plugin).on_before_data_out(plugin, params) == {"password": CENSOR}


def test_strict_cloner_censors_what_it_cannot_inspect_non_strict_passes_it_on():
    value = {"a": UnboundProxy(), "b": [Opaque(), "ok"], "c": BrokenMapping()}
    strict = Cloner("password", strict=True)
    assert strict.needs_clone(value)
    assert strict.censored(value) == {"a": CENSOR, "b": [CENSOR, "ok"], "c": CENSOR}
    assert strict.clone(value) == {"a": CENSOR, "b": [CENSOR, "ok"], "c": CENSOR}
    lenient = Cloner("password")
    mapping = BrokenMapping()
    assert lenient.clone({"c": mapping})["c"] is mapping  # a leaf, as before
    with pytest.raises(RuntimeError):
        lenient.clone({"a": UnboundProxy()})


def test_each_censored_failure_is_reported_under_its_hook(core):
    errors: list = []
    plugin = redact(keys=("password",))
    plugin.on_error = errors.append
    log, tt, _, _ = _outputs(core, plugin, fields={"odd": UnboundProxy()})
    log.with_metadata({"odd": Opaque()}).info("m")
    hooks = [err.hook for err in errors]
    assert hooks == ["on_metadata_called", "on_before_data_out"]
    assert all(isinstance(err, loglayer.PluginError) and err.plugin_id == "redact"
               and isinstance(err.__cause__, RuntimeError) for err in errors)
    assert tt.last_line().data == {"odd": CENSOR}


# -- pydantic: what a serializer renders is what is checked ---------------------------


def _serializer_models() -> dict[str, Any]:
    """Models whose rendering a serializer or a computed field makes; each holds
    PASSWORD or CARD somewhere its dump or its str() shows it."""
    pydantic = pytest.importorskip("pydantic")

    class WrapRewrites(pydantic.BaseModel):
        """A wrap model_serializer writes a private secret into a declared field."""

        user: str
        _card: str = pydantic.PrivateAttr(default=CARD)

        @pydantic.model_serializer(mode="wrap")
        def _dump(self, handler: Any) -> dict:
            data = handler(self)
            data["user"] = f"{self.user} paid with {self._card}"
            return data

    class PlainKey(pydantic.BaseModel):
        """A plain model_serializer makes a key of its own, with the secret under it."""

        api_token: str

        @pydantic.model_serializer(mode="plain")
        def _dump(self) -> dict:
            return {"auth": {"password": self.api_token}, "kind": "plain"}

    class PlainText(pydantic.BaseModel):
        """A plain model_serializer that gives no dict: rendered as str(), the fields."""

        user: str
        password: str

        @pydantic.model_serializer(mode="plain")
        def _dump(self) -> str:
            return f"{self.user}:{self.password}"

    class FieldRewrites(pydantic.BaseModel):
        """A field_serializer turns a clean stored value into a secret-bearing dict."""

        user: str

        @pydantic.field_serializer("user")
        def _user(self, value: str) -> dict:
            return {"name": value, "password": PASSWORD}

    class Computed(pydantic.BaseModel):
        note: str

        @pydantic.computed_field  # type: ignore[prop-decorator]
        @property
        def password(self) -> str:
            return PASSWORD

    return {"wrap-rewrites": WrapRewrites(user="ada"),
            "plain-key": PlainKey(api_token=PASSWORD),
            "plain-text": PlainText(user="ada", password=PASSWORD),
            "field-rewrites": FieldRewrites(user="ada"),
            "computed": Computed(note="n")}


SERIALIZED = ["wrap-rewrites", "plain-key", "plain-text", "field-rewrites", "computed"]


@pytest.mark.parametrize("name", SERIALIZED)
def test_a_serializer_s_output_is_redacted_in_every_renderer(core, name):
    model = _serializer_models()[name]
    log, tt, json_out, console_out = _outputs(
        core, redact(keys=("password",), patterns=(CARD_RE,)))
    log.with_metadata(model).info("root")
    log.with_metadata({"nested": model, "listed": [model]}).info("nested")
    log.with_fields(model=model).info("fields")
    log.raw("info", ["raw"], fields={"model": model})
    written = _written(json_out, console_out) + _rendered(tt)
    assert PASSWORD not in written and CARD not in written
    assert _rendered(tt).count(CENSOR) >= 8  # censored, not dropped: 4 entries x 2 renderers


def test_a_field_serializer_that_masks_keeps_the_model_and_censors_what_str_shows(core):
    pydantic = pytest.importorskip("pydantic")

    class Payment(pydantic.BaseModel):
        card: str

        @pydantic.field_serializer("card")
        def _mask(self, value: str) -> str:
            return "*" * 12 + value[-4:]

    model = Payment(card=CARD)
    log, tt, json_out, console_out = _outputs(core, redact(patterns=(CARD_RE,)))
    log.with_metadata(model).info("root")
    metadata = tt.last_line().metadata
    assert type(metadata) is Payment and metadata.card == CENSOR  # the type is kept
    log.with_metadata({"nested": model}).info("nested")  # nested: written as str(model)
    written = _written(json_out, console_out) + _rendered(tt)
    assert CARD not in written
    assert model.card == CARD  # the caller's model is untouched


def test_a_faithful_nested_model_keeps_its_type(core):
    pydantic = pytest.importorskip("pydantic")

    class Inner(pydantic.BaseModel):
        password: str
        note: str

    class Outer(pydantic.BaseModel):
        inner: Inner
        tags: list[str]

    model = Outer(inner=Inner(password=PASSWORD, note="n"), tags=["a"])
    log, tt, _, _ = _outputs(core, redact(keys=("password",)))
    log.with_metadata(model).info("x")
    result = tt.last_line().metadata
    assert type(result) is Outer and type(result.inner) is Inner
    assert result.inner.password == CENSOR and result.tags == ["a"]


# -- patterns see the text that is rendered -------------------------------------------


class Level(enum.Enum):
    CARD = CARD


class Token:
    """A leaf (no public attributes) whose own ``__str__`` shows a secret."""

    __slots__ = ("_card",)

    def __init__(self) -> None:
        self._card = CARD

    def __str__(self) -> str:
        return f"token for {self._card}"


class Account:
    """A record whose fields are clean but whose ``str()``, written when it is nested in
    other data, shows a secret."""

    def __init__(self) -> None:
        self.user = "ada"
        self._card = CARD

    def __str__(self) -> str:
        return f"{self.user} ({self._card})"


TEXTS = {
    "int": lambda: int(CARD),
    "float": lambda: float(CARD),
    "decimal": lambda: decimal.Decimal(CARD),
    "path": lambda: pathlib.PurePosixPath("/cards") / CARD,
    "enum": lambda: Level.CARD,
    "exception": lambda: ValueError(f"declined {CARD}"),
    "bytes": lambda: CARD.encode(),
    "own-str-leaf": Token,
    "own-str-record": Account,
}


@pytest.mark.parametrize("make", list(TEXTS.values()), ids=list(TEXTS))
def test_patterns_see_the_text_of_values_that_are_not_str(core, make):
    log, tt, json_out, console_out = _outputs(core, redact(patterns=(CARD_RE,)))
    log.with_metadata({"value": make(), "list": [make()]}).info("metadata")
    log.with_fields(value=make()).info("fields")
    log.raw("info", ["raw"], fields={"value": make()})
    log.info("message", make())
    written = _written(json_out, console_out) + _rendered(tt)
    assert CARD not in written
    assert _rendered(tt).count(CENSOR) >= 2 * 5
    assert make() is not None and CARD in str(make()) or CARD in repr(make())  # untouched


def test_a_number_keeps_its_type_when_clean(core):
    log, tt, _, _ = _outputs(core, redact(patterns=(CARD_RE,)))
    values = {"n": 42, "x": 2.5, "ok": True, "none": None, "d": decimal.Decimal("1.5")}
    log.with_metadata(values).info("m", 7)
    assert tt.last_line().metadata is values
    assert tt.last_line().messages == ["m", 7]


def test_a_key_that_is_a_secret_is_renamed(core):
    log, tt, json_out, console_out = _outputs(core, redact(patterns=(CARD_RE,)))
    metadata = {CARD: "visa", "nested": {f"card:{CARD}": 1, int(CARD): 2}, "user": "ada"}
    log.with_metadata(metadata).info("m")
    assert tt.last_line().metadata == {CENSOR: "visa", "nested": {
        f"card:{CENSOR}": 1, CENSOR: 2}, "user": "ada"}
    assert CARD in metadata and int(CARD) in metadata["nested"]  # the caller's dict
    assert CARD not in _written(json_out, console_out) + _rendered(tt)


def test_renamed_keys_never_collide(core):
    other = "4222222222222222"
    log, tt, _, _ = _outputs(core, redact(patterns=(CARD_RE,)))
    log.with_metadata({CENSOR: 0, CARD: 1, other: 2}).info("m")
    assert tt.last_line().metadata == {CENSOR: 0, f"{CENSOR} (2)": 1, f"{CENSOR} (3)": 2}


def test_a_secret_top_level_data_key_has_its_value_censored(core):
    # A data hook can only merge into the data: it cannot rename a key of the fields
    # given at construction, to raw(fields=) or bound in the context. The value is
    # censored; the key is documented as not rewritable there (with_fields renames it).
    log, tt, _, _ = _outputs(core, redact(patterns=(CARD_RE,)), fields={CARD: "visa"})
    log.info("x")
    assert tt.last_line().data == {CARD: CENSOR}
    log, tt, _, _ = _outputs(core, redact(patterns=(CARD_RE,)))
    log.with_fields({CARD: "visa"}).info("y")
    assert tt.last_line().data == {CENSOR: "visa"}


@pytest.mark.parametrize("order", ["redact-first", "sprintf-first"])
def test_plugin_order_does_not_matter_for_sprintf(core, order):
    plugins = [redact(patterns=(CARD_RE,)), sprintf()]
    if order == "sprintf-first":
        plugins.reverse()
    log, tt, json_out, console_out = _outputs(core, *plugins)
    log.info("card %d", int(CARD))
    assert tt.last_line().messages == [f"card {CENSOR}"]
    log.info("card %s%s charged", CARD[:8], CARD[8:])  # split over two arguments
    assert tt.last_line().messages == [f"card {CENSOR} charged"]
    log.info("%s of %d", "3", 10)  # nothing to censor: sprintf's own work
    assert tt.last_line().messages == ["3 of 10"]
    assert CARD not in _written(json_out, console_out) + _rendered(tt)


def test_a_secret_split_over_messages_is_censored_without_sprintf(core):
    log, tt, _, _ = _outputs(core, redact(patterns=(r"card \d{16}",)))
    log.info("card", CARD)
    assert tt.last_line().messages == [CENSOR]
    log.info("card", "1234")
    assert tt.last_line().messages == ["card", "1234"]


def test_patterns_over_keys_remember_clean_texts_in_a_bounded_set():
    from loglayer.utils import _cloner

    cloner = Cloner(match_value=re.compile(CARD_RE))
    for index in range(_cloner._MAX_CLEAN_TEXTS + 10):
        assert not cloner.needs_clone({f"key{index}": 1})
    assert 0 < len(cloner._clean_texts) <= _cloner._MAX_CLEAN_TEXTS
    assert cloner.needs_clone({CARD: 1}) and CARD not in cloner._clean_texts
    assert not cloner.needs_clone([7]) and 7 in cloner._clean_texts
    assert cloner.needs_clone([int(CARD)]) and int(CARD) not in cloner._clean_texts
    assert not Cloner(match_value=lambda text: False).needs_clone({"k": 7})
    assert not Cloner(match_value=lambda text: False)._clean_texts  # predicates: never


_TEXT_KEYS = st.one_of(st.sampled_from(["a", "user", "password", CARD, f"card:{CARD}", CENSOR]),
                       st.integers(min_value=10**15, max_value=10**16 + 5))
_TEXT_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
              st.just(int(CARD)), st.just(CARD), st.text(alphabet="ab1 ", max_size=6),
              st.just(decimal.Decimal(CARD)), st.builds(Token)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.tuples(inner, inner),
                            st.dictionaries(_TEXT_KEYS, inner, max_size=4)),
    max_leaves=15)
_TEXT_CLONERS = [Cloner("password", re.compile(CARD_RE), strict=True),
                 Cloner(match_value=CARD), Cloner("password")]


@compiled_walk
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_TEXT_VALUES, st.sampled_from(range(len(_TEXT_CLONERS))))
def test_property_both_walks_agree_on_texts(value, index):
    cloner = _TEXT_CLONERS[index]
    assert cloner.needs_clone(value) == cloner._pure_needs_clone(value)
    for share in (False, True):
        assert deep_same(cloner.clone(value, share_unchanged=share),
                         pure_clone(cloner, value, share))
    censored = cloner.censored(value)
    if index == 0:
        assert CARD not in repr(censored) and str(int(CARD)) not in str(censored)


def test_from_config_warns_about_a_plugin_that_writes_after_redact():
    if "hardening_tagger" not in loglayer.registry.plugin_names():
        loglayer.registry.register_plugin("hardening_tagger", lambda: loglayer.data_hook(
            "tagger", lambda params: {"note": CARD}))
    config = {"transports": [{"name": "blank", "options": {"fn": lambda entry: None}}],
              "plugins": [{"name": "redact", "options": {"patterns": [CARD_RE]}},
                          {"name": "sprintf"}, {"name": "hardening_tagger"}]}
    with pytest.warns(UserWarning, match=r"plugins\[2\] \('hardening_tagger'\) has "
                                         r"on_before_data_out .* after plugins\[0\]"):
        loglayer.from_config(config)
    config["plugins"].reverse()  # the tagger first: nothing to say
    loglayer.from_config(config)


# -- the same class of bug in the other plugins ------------------------------------------


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no text")


def test_filter_matches_an_unprintable_message_as_written_instead_of_failing_open(
        core, capsys):
    tt = TestTransport()
    log = core.LogLayer(transports=tt, plugins=[loglayer.plugins.filter(messages=r"payment")])
    log.info("cache", Unprintable())
    assert len(tt.lines) == 0  # the gate did not fail, so it did not let the entry through
    log.info("payment", Unprintable())
    assert len(tt.lines) == 1
    assert "filter" not in capsys.readouterr().err


def test_the_input_hooks_fallback_is_closed_when_a_hook_fails_as_a_whole(core, capsys):
    # SPEC section 4: a fields or metadata hook that raises drops the call or the
    # metadata. redact never raises there (it censors what it cannot inspect), but a
    # redacting hook that did would still not leak: nothing reaches a transport.
    def broken(value: object) -> object:
        raise RuntimeError("hook failed")

    tt = TestTransport()
    log = core.LogLayer(transports=tt, plugins=[loglayer.metadata_hook("m", broken),
                                                loglayer.fields_hook("f", broken)])
    log.with_metadata({"password": PASSWORD}).info("m")
    assert tt.last_line().metadata is None
    child = log.with_fields(password=PASSWORD)
    child.info("f")
    assert tt.last_line().data == {} and child.get_fields() == {}
    log.metadata_only({"password": PASSWORD})
    assert len(tt.lines) == 2  # metadata_only with its metadata dropped sends nothing
    assert PASSWORD not in _rendered(tt)
    assert capsys.readouterr().err.count("hook failed") == 3


def test_the_prefix_is_censored_with_the_messages(core):
    log, tt, json_out, console_out = _outputs(core, redact(patterns=(CARD_RE,)))
    log.with_prefix(f"[card {CARD}]").info("charged")
    assert tt.last_line().prefix == f"[card {CENSOR}]"
    assert tt.last_line().messages == ["charged"]
    split = _outputs(core, redact(patterns=(r"card \d{16}",)))
    split[0].with_prefix("card").info(CARD, "charged")  # the match spans prefix and message
    assert not split[1].last_line().prefix
    assert split[1].last_line().messages == [f"{CENSOR} charged"]
    assert CARD not in _written(json_out, console_out) + _written(split[2], split[3])
    assert CARD not in _rendered(tt) + _rendered(split[1])
    log.with_prefix("[api]").info("clean")
    assert (tt.last_line().prefix, tt.last_line().messages) == ("[api]", ["clean"])
