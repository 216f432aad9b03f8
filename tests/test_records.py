"""One record rule: what ``to_map`` shows of a record is what the ``Cloner`` checks.

Transports render metadata through ``loglayer.utils.to_map`` and the ``redact`` plugin
censors it through the ``Cloner``; both read records through ``loglayer._records``. A
name the first shows and the second does not check is a secret that reaches the logs.
"""

from __future__ import annotations

import collections
import dataclasses
import io
import json
import re
import typing

import pytest

from loglayer import LogLayer, StructuredTransport
from loglayer.plugins import redact
from loglayer.testing import TestTransport
from loglayer.utils import Cloner, to_map

SECRET = "s3cret"
CENSOR = "[REDACTED]"


def checked_names(value: object) -> list[str]:
    """The field names the Cloner matches against a key matcher, in order."""
    names: list[str] = []
    Cloner(match_key=lambda name: names.append(name)).needs_clone(value)
    return names


def rendered_line(value: object, **options: object) -> str:
    """The JSON line ``value`` logged as metadata through ``redact(**options)`` gives."""
    out = io.BytesIO()
    log = LogLayer(transports=StructuredTransport(stream=out), plugins=[redact(**options)])
    log.with_metadata(value).info("x")
    return out.getvalue().decode()


# -- the shapes ------------------------------------------------------------------------


@dataclasses.dataclass
class Plain:
    user: str
    token: str
    _private: str = "p"
    shared: typing.ClassVar[str] = "class attribute"


@dataclasses.dataclass(frozen=True, slots=True)
class FrozenSlots:
    user: str
    token: str


@dataclasses.dataclass
class Unset:
    user: str
    token: str = dataclasses.field(init=False)


class Point(typing.NamedTuple):
    user: str
    token: str


class Attributes:
    kind = "class attribute"

    def __init__(self, user: str, token: str) -> None:
        self.user = user
        self.token = token
        self._hidden = SECRET


class Slotted:
    __slots__ = ("user", "token", "unset", "_hidden")

    def __init__(self, user: str, token: str) -> None:
        self.user = user
        self.token = token
        self._hidden = SECRET


class Mixed(Slotted):
    """Slots from its base and a ``__dict__`` of its own."""

    def __init__(self, user: str, token: str) -> None:
        super().__init__(user, "")
        self.token = token
        self.note = "n"


class DuckV1:
    """A pydantic v1 model as ``to_map`` recognises one: ``__fields__`` and ``dict()``."""

    __fields__: typing.ClassVar[dict] = {"user": None, "token": None}

    def __init__(self, user: str, token: str) -> None:
        self.user = user
        self.token = token

    def dict(self) -> dict:
        return {"user": self.user, "token": self.token}


def _v2_model():
    pydantic = pytest.importorskip("pydantic")

    class Model(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(extra="allow")
        user: str
        hidden: str = pydantic.Field(default="h", exclude=True)

        @pydantic.computed_field
        @property
        def token(self) -> str:
            return SECRET

    return Model


def _v1_model():
    v1 = pytest.importorskip("pydantic.v1")

    class ModelV1(v1.BaseModel):
        user: str
        token: str

    return ModelV1


def _attrs_classes():
    attr = pytest.importorskip("attr")

    @attr.s(auto_attribs=True)
    class Record:
        user: str
        token: str

    @attr.s(auto_attribs=True, frozen=True, slots=True)
    class FrozenRecord:
        user: str
        token: str

    return Record, FrozenRecord


def _samples() -> dict[str, object]:
    record, frozen_record = _attrs_classes()
    return {
        "dataclass": Plain("ada", SECRET),
        "dataclass-frozen-slots": FrozenSlots("ada", SECRET),
        "dataclass-unset-field": Unset("ada"),
        "namedtuple": collections.namedtuple("Pair", "user token")("ada", SECRET),
        "NamedTuple": Point("ada", SECRET),
        "plain-object": Attributes("ada", SECRET),
        "slotted-object": Slotted("ada", SECRET),
        "dict-and-slots": Mixed("ada", SECRET),
        "pydantic1-duck": DuckV1("ada", SECRET),
        "pydantic1": _v1_model()(user="ada", token=SECRET),
        "pydantic2": _v2_model()(user="ada", extra_token=SECRET),
        "attrs": record("ada", SECRET),
        "attrs-frozen-slots": frozen_record("ada", SECRET),
    }


SAMPLE_IDS = ["dataclass", "dataclass-frozen-slots", "dataclass-unset-field", "namedtuple",
              "NamedTuple", "plain-object", "slotted-object", "dict-and-slots",
              "pydantic1-duck", "pydantic1", "pydantic2", "attrs", "attrs-frozen-slots"]


# -- the regression: a pydantic computed field -----------------------------------------


def test_a_computed_field_is_censored_at_the_root():
    model = _v2_model()(user="ada")
    line = rendered_line(model, keys=["token"])
    assert SECRET not in line
    assert json.loads(line)["token"] == CENSOR and json.loads(line)["user"] == "ada"


def test_a_computed_field_is_censored_in_the_entry():
    model = _v2_model()(user="ada")
    transport = TestTransport()
    LogLayer(transports=transport, plugins=[redact(keys=["token"])]).with_metadata(
        model).info("x")
    assert SECRET not in json.dumps(to_map(transport.last_line().metadata))
    assert model.token == SECRET  # the caller's model is left alone


def test_a_computed_field_is_censored_when_nested():
    model = _v2_model()(user="ada")
    assert SECRET not in rendered_line({"user": model, "list": [model]}, keys=["token"])


def test_a_computed_field_is_censored_by_patterns():
    model = _v2_model()(user="ada")
    assert SECRET not in rendered_line(model, patterns=[re.escape(SECRET)])


def test_a_censored_computed_field_makes_the_clone_a_dict_of_the_rendered_items():
    model = _v2_model()(user="ada", note="n")
    for share in (False, True):
        result = Cloner("token").clone(model, share_unchanged=share)
        assert type(result) is dict
        # to_map's items, in its order; the excluded field stays out, as it is not shown
        assert result == {"user": "ada", "note": "n", "token": CENSOR}
        assert list(result) == list(to_map(model))
    assert Cloner("token", strict=True).censored(model) == {
        "user": "ada", "note": "n", "token": CENSOR}
    assert model.token == SECRET and model.user == "ada"


def test_a_censored_stored_field_keeps_the_model():
    model = _v2_model()(user="ada", note="n")
    result = Cloner(("user", "note", "hidden")).clone(model)
    assert type(result) is type(model)
    assert (result.user, result.note, result.hidden) == (CENSOR, CENSOR, CENSOR)
    assert result.token == SECRET and model.user == "ada"


def test_a_clean_model_is_shared():
    model = _v2_model()(user="ada")
    cloner = Cloner("password")
    assert not cloner.needs_clone(model)
    assert cloner.censored(model) is model


def test_an_excluded_field_is_censored_where_str_shows_it():
    # Nested in other data a model is written as its str(), which shows excluded fields.
    model = _v2_model()(user="ada", hidden="hunter2")
    assert "hidden" not in to_map(model)
    assert "hunter2" in str(model)
    assert "hunter2" not in rendered_line({"user": model}, keys=["hidden"])


def test_a_key_only_a_serializer_makes_is_censored():
    pydantic = pytest.importorskip("pydantic")

    class Renamed(pydantic.BaseModel):
        api_token: str = pydantic.Field(serialization_alias="apiToken")

        @pydantic.model_serializer(mode="wrap")
        def _by_alias(self, handler: typing.Any) -> dict:
            return {"apiToken": self.api_token, "kind": "renamed"}

    model = Renamed(api_token=SECRET)
    assert to_map(model) == {"apiToken": SECRET, "kind": "renamed"}
    assert "apiToken" in checked_names(model)
    assert Cloner("apiToken").clone(model) == {"apiToken": CENSOR, "kind": "renamed"}
    assert SECRET not in rendered_line(model, keys=["apiToken"])


# -- to_map and the Cloner see the same names ------------------------------------------


@pytest.mark.parametrize("name", SAMPLE_IDS)
def test_the_cloner_checks_every_name_to_map_shows(name):
    value = _samples()[name]
    shown = list(to_map(value))
    checked = checked_names(value)
    assert checked[:len(shown)] == shown
    # Only pydantic's excluded fields, which str() still shows, are checked beyond them.
    assert checked[len(shown):] == (["hidden"] if name == "pydantic2" else [])


@pytest.mark.parametrize("name", SAMPLE_IDS)
def test_every_name_to_map_shows_is_censored(name):
    value = _samples()[name]
    shown = to_map(value)
    censored = Cloner(list(shown), strict=True).clone(value)
    assert to_map(censored) == dict.fromkeys(shown, CENSOR)
    assert SECRET not in rendered_line(value, keys=list(shown))


def test_the_names_of_each_kind():
    samples = _samples()
    assert list(to_map(samples["dataclass"])) == ["user", "token", "_private"]
    assert list(to_map(samples["dataclass-unset-field"])) == ["user"]
    assert list(to_map(samples["plain-object"])) == ["user", "token"]
    assert list(to_map(samples["slotted-object"])) == ["user", "token"]
    assert list(to_map(samples["dict-and-slots"])) == ["note", "user", "token"]
    assert list(to_map(samples["pydantic2"])) == ["user", "extra_token", "token"]


# -- the classification ----------------------------------------------------------------


def test_kinds_are_cached_per_type_in_a_bounded_cache():
    from loglayer import _records

    assert _records.kind_of(Plain) == _records.DATACLASS and Plain in _records._SHAPES
    assert _records.kind_of(int) == _records.NOT_RECORD
    for index in range(_records._MAX_CACHED + 10):  # classes made at run time
        _records.kind_of(collections.namedtuple(f"Made{index}", "a"))
    assert len(_records._SHAPES) <= _records._MAX_CACHED


def test_types_that_cannot_be_hashed_are_classified():
    from loglayer._records import OBJECT, kind_of

    class Meta(type):
        def __eq__(cls, other: object) -> bool:
            return cls is other

        __hash__ = None  # type: ignore[assignment]

    class Odd(metaclass=Meta):
        def __init__(self) -> None:
            self.token = SECRET

    with pytest.raises(TypeError):
        hash(Odd)
    assert kind_of(Odd) == OBJECT
    assert to_map(Odd()) == {"token": SECRET}
