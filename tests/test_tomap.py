"""loglayer.utils.to_map: record-like objects to dicts, everything else to None."""

from __future__ import annotations

import collections
import dataclasses
import enum
import fractions
import types
import typing

import pytest

from loglayer.utils import to_map


def test_dict_is_returned_as_is():
    value = {"a": 1}
    assert to_map(value) is value

    class Sub(dict):
        pass

    sub = Sub(a=1)
    assert to_map(sub) is sub


def test_other_mappings_are_copied():
    proxy = types.MappingProxyType({"a": 1})
    assert to_map(proxy) == {"a": 1} and type(to_map(proxy)) is dict
    assert to_map(collections.ChainMap({"a": 1}, {"b": 2})) == {"a": 1, "b": 2}


@dataclasses.dataclass
class Plain:
    a: int
    b: list
    _private: int = 0
    c: typing.ClassVar[int] = 9


@dataclasses.dataclass(frozen=True)
class Frozen:
    x: int
    y: str


@dataclasses.dataclass(slots=True)
class Slotted:
    p: int


def test_dataclasses_are_shallow():
    inner = [1]
    result = to_map(Plain(1, inner))
    assert result == {"a": 1, "b": [1], "_private": 0}
    assert result["b"] is inner
    assert to_map(Frozen(1, "a")) == {"x": 1, "y": "a"}
    assert to_map(Slotted(3)) == {"p": 3}


def test_a_dataclass_class_is_not_a_record():
    assert to_map(Plain) is None


def test_namedtuples():
    Point = collections.namedtuple("Point", "x y")

    class Typed(typing.NamedTuple):
        a: int

    assert to_map(Point(1, 2)) == {"x": 1, "y": 2}
    assert to_map(Typed(5)) == {"a": 5}
    assert to_map((1, 2)) is None


def test_plain_objects_give_public_attributes():
    class Obj:
        kind = "class attribute, not included"

        def __init__(self):
            self.a = 1
            self._hidden = 2

    assert to_map(Obj()) == {"a": 1}


def test_slots_give_set_public_slots():
    class Base:
        __slots__ = ("a", "_b")

    class Child(Base):
        __slots__ = "c"

    obj = Child()
    obj.a = 1
    obj._b = 2
    assert to_map(obj) == {"a": 1}
    obj.c = 3
    assert to_map(obj) == {"a": 1, "c": 3}


def test_an_object_with_only_private_slots_is_not_a_record():
    assert to_map(fractions.Fraction(1, 3)) is None


class Color(enum.Enum):
    RED = 1


@pytest.mark.parametrize("value", [
    None, 1, 1.5, True, 2j, "text", b"bytes", bytearray(b"x"), [1], (1, 2), {1}, frozenset(),
    range(3), Color.RED, ValueError("x"), object(), len, lambda: 1, print, types, int,
    test_dataclasses_are_shallow, "".join,
])
def test_not_records(value):
    assert to_map(value) is None


def test_bound_method_is_not_a_record():
    assert to_map(Plain(1, []).__repr__) is None


def test_never_raises():
    class BadMapping(collections.abc.Mapping):
        def __getitem__(self, key):
            raise KeyError(key)

        def __iter__(self):
            raise RuntimeError("no iteration")

        def __len__(self):
            return 1

    class BadDict:
        @property
        def __dict__(self):
            raise RuntimeError("no dict")

    class BadDump:
        def model_dump(self):
            raise RuntimeError("no dump")

    class NotADict:
        def model_dump(self):
            return [1, 2]

    class BadSlot:
        __slots__ = ("a",)

        def __getattribute__(self, name):
            raise RuntimeError("no attributes")

    for value in (BadMapping(), BadDict(), BadDump(), NotADict(), BadSlot()):
        assert to_map(value) is None


def test_duck_typed_pydantic_and_attrs():
    class V2:
        def model_dump(self):
            return {"v": 2}

    class V1:
        __fields__ = {"v": None}

        def dict(self):
            return {"v": 1}

    class Attribute:
        def __init__(self, name):
            self.name = name

    class Attrs:
        __attrs_attrs__ = (Attribute("a"), Attribute("b"))

        def __init__(self):
            self.a, self.b, self._c = 1, 2, 3

    assert to_map(V2()) == {"v": 2}
    assert to_map(V1()) == {"v": 1}
    assert to_map(Attrs()) == {"a": 1, "b": 2}


def test_pydantic():
    pydantic = pytest.importorskip("pydantic")

    class Model(pydantic.BaseModel):
        name: str
        tags: list[str] = []

    assert to_map(Model(name="a", tags=["x"])) == {"name": "a", "tags": ["x"]}


def test_pydantic_v1_models():
    v1 = pytest.importorskip("pydantic.v1")

    class Model(v1.BaseModel):
        name: str

    assert to_map(Model(name="a")) == {"name": "a"}


def test_attrs():
    attr = pytest.importorskip("attr")

    @attr.s(auto_attribs=True, frozen=True)
    class Record:
        a: int
        b: str = "x"

    assert to_map(Record(1)) == {"a": 1, "b": "x"}


def test_metadata_objects_reach_the_transports_as_mappings():
    import io
    import json

    from loglayer import LogLayer, StructuredTransport

    out = io.StringIO()
    LogLayer(transports=StructuredTransport(out, time_format=None)).with_metadata(
        Frozen(1, "a")).info("x")
    assert json.loads(out.getvalue()) == {"level": "info", "msg": "x", "x": 1, "y": "a"}
