"""loglayer.utils.Cloner: deep clones with a censor, type-preserving, never mutating."""

from __future__ import annotations

import collections
import copy
import dataclasses
import datetime
import enum
import re
import threading
import types
import typing

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loglayer.utils import Cloner

SECRET = "s3cr3t-XYZ"
CENSOR = "[REDACTED]"


# -- a deep comparison that sees every attribute, private ones included ----------------


def deep_same(a: object, b: object, _seen: set | None = None) -> bool:
    """True when ``a`` and ``b`` have the same types and contents all the way down.

    Unlike ``==`` it compares objects without ``__eq__`` through all their instance
    attributes (``__dict__`` and ``__slots__``), and it stops on cycles.
    """
    seen = set() if _seen is None else _seen
    if type(a) is not type(b):
        return False
    pair = (id(a), id(b))
    if pair in seen:
        return True
    if isinstance(a, (str, bytes, int, float, complex, type(None), enum.Enum, type,
                      types.FunctionType, datetime.date)):
        return a == b
    seen.add(pair)
    if isinstance(a, collections.abc.Mapping):
        return list(a) == list(b) and all(deep_same(a[k], b[k], seen) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(deep_same(x, y, seen) for x, y in zip(a, b, strict=True))
    if isinstance(a, (set, frozenset)):
        return a == b
    state_a, state_b = _state(a), _state(b)
    if state_a is None:
        return a == b
    return deep_same(state_a, state_b, seen)


def _state(obj: object) -> dict | None:
    """Every instance attribute of ``obj`` (dict and slots), or None if it has none."""
    state = dict(getattr(obj, "__dict__", None) or {})
    for klass in type(obj).__mro__:
        slots = klass.__dict__.get("__slots__", ())
        for name in (slots,) if isinstance(slots, str) else slots:
            if name not in ("__dict__", "__weakref__") and hasattr(obj, name):
                state[name] = getattr(obj, name)
    if not state and not hasattr(obj, "__dict__"):
        return None
    return state


def clone_checked(cloner: Cloner, value: object) -> object:
    """``cloner.clone(value)``, asserting that the input was left exactly as it was."""
    if isinstance(value, types.MappingProxyType):  # deepcopy cannot copy a mappingproxy
        before: object = types.MappingProxyType(copy.deepcopy(dict(value)))
    else:
        before = copy.deepcopy(value)
    result = cloner.clone(value)
    assert deep_same(value, before), "clone() mutated its input"
    return result


# -- the shapes ------------------------------------------------------------------------

Point = collections.namedtuple("Point", "password note")


class Typed(typing.NamedTuple):
    password: str
    note: str


@dataclasses.dataclass
class Plain:
    password: str
    note: str
    inner: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Frozen:
    password: str
    note: str


@dataclasses.dataclass(frozen=True, slots=True)
class FrozenSlots:
    password: str
    note: str


@dataclasses.dataclass
class WithPostInit:
    password: str
    note: str
    calls: list = dataclasses.field(default_factory=list)

    def __post_init__(self) -> None:
        self.calls.append("init")


class Attributes:
    def __init__(self, password: str, note: str) -> None:
        self.password = password
        self.note = note
        self._private = SECRET  # not walked: to_map does not show it either


class Slotted:
    __slots__ = ("password", "note", "_hidden")

    def __init__(self, password: str, note: str) -> None:
        self.password = password
        self.note = note
        self._hidden = 1


class OwnDict(dict):
    pass


class OwnList(list):
    pass


def _pydantic_models():
    pydantic = pytest.importorskip("pydantic")

    class Model(pydantic.BaseModel):
        password: str
        note: str

    class FrozenModel(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(frozen=True, extra="allow")
        password: str
        note: str

    return Model, FrozenModel


def _pydantic_v1_model():
    v1 = pytest.importorskip("pydantic.v1")

    class ModelV1(v1.BaseModel):
        password: str
        note: str

    return ModelV1


def _attrs_classes():
    attr = pytest.importorskip("attr")

    @attr.s(auto_attribs=True)
    class Record:
        password: str
        note: str

    @attr.s(auto_attribs=True, frozen=True, slots=True)
    class FrozenRecord:
        password: str
        note: str

    return Record, FrozenRecord


def _records() -> list:
    """Record-like shapes, each built with (password, note)."""
    model, frozen_model = _pydantic_models()
    record, frozen_record = _attrs_classes()
    return [Point, Typed, Plain, Frozen, FrozenSlots, WithPostInit, Attributes, Slotted,
            model.model_construct, frozen_model.model_construct, _pydantic_v1_model(),
            record, frozen_record]


def _build(factory, password: str, note: str):
    if isinstance(factory, type) and issubclass(factory, tuple):
        return factory(password, note)
    try:
        return factory(password=password, note=note)
    except TypeError:
        return factory(password, note)


RECORD_IDS = ["namedtuple", "NamedTuple", "dataclass", "frozen-dataclass",
              "frozen-slots-dataclass", "dataclass-post-init", "__dict__", "__slots__",
              "pydantic2", "pydantic2-frozen-extra", "pydantic1", "attrs", "attrs-frozen-slots"]


@pytest.mark.parametrize("index", range(len(RECORD_IDS)), ids=RECORD_IDS)
def test_records_keep_their_type_and_get_censored(index):
    factory = _records()[index]
    cloner = Cloner(match_key="password", match_value=re.compile(r"s3cr3t-\w+"))
    value = _build(factory, "hunter2", f"note with {SECRET} inside")
    assert cloner.needs_clone(value)
    result = clone_checked(cloner, value)
    assert type(result) is type(value) and result is not value
    assert result.password == CENSOR
    assert result.note == f"note with {CENSOR} inside"
    assert value.password == "hunter2"


@pytest.mark.parametrize("index", range(len(RECORD_IDS)), ids=RECORD_IDS)
def test_clean_records_need_no_clone_and_clone_equal(index):
    factory = _records()[index]
    cloner = Cloner(match_key="password", match_value=re.compile(r"s3cr3t-\w+"))
    value = _build(factory, CENSOR, "nothing here")  # an already-censored key is clean
    assert not cloner.needs_clone(value)
    result = clone_checked(cloner, value)
    assert type(result) is type(value) and deep_same(result, value)


def test_post_init_is_not_run_again():
    value = WithPostInit("p", "n")
    result = Cloner("password").clone(value)
    assert result.calls == ["init"] and result.password == CENSOR


def test_pydantic_extra_fields_are_walked():
    _, frozen_model = _pydantic_models()
    value = frozen_model(password="p", note="n", token="abc")
    result = clone_checked(Cloner(("password", "token")), value)
    assert result.model_dump() == {"password": CENSOR, "note": "n", "token": CENSOR}


def test_private_attributes_are_not_walked():
    value = Attributes("p", "n")
    result = clone_checked(Cloner(match_value=SECRET), value)
    assert result._private == SECRET


CONTAINERS = {
    "dict": lambda s: {"password": "p", "note": s},
    "OrderedDict": lambda s: collections.OrderedDict(password="p", note=s),
    "defaultdict": lambda s: collections.defaultdict(list, password="p", note=s),
    "dict-subclass": lambda s: OwnDict(password="p", note=s),
    "mappingproxy": lambda s: types.MappingProxyType({"password": "p", "note": s}),
    "list": lambda s: [{"password": "p"}, s],
    "list-subclass": lambda s: OwnList([{"password": "p"}, s]),
    "tuple": lambda s: ({"password": "p"}, s),
    "set": lambda s: {s, "other"},
    "frozenset": lambda s: frozenset({s, "other"}),
}


@pytest.mark.parametrize("name", list(CONTAINERS))
def test_containers_keep_their_type(name):
    cloner = Cloner(match_key="password", match_value=SECRET)
    value = CONTAINERS[name](SECRET)
    assert cloner.needs_clone(value)
    result = clone_checked(cloner, value)
    assert type(result) is type(value) and result is not value
    assert SECRET not in repr(result) and "'p'" not in repr(result)
    assert CENSOR in repr(result)


def test_defaultdict_keeps_its_factory():
    value = collections.defaultdict(list, password="p")
    result = Cloner("password").clone(value)
    assert result.default_factory is list and result == {"password": CENSOR}


def test_clone_is_deep_even_when_nothing_matches():
    inner = {"a": [1, {"b": 2}]}
    value = {"x": inner, "y": (inner["a"],)}
    result = clone_checked(Cloner("password"), value)
    assert result == value
    assert result["x"] is not inner and result["x"]["a"] is not inner["a"]
    assert result["x"]["a"][1] is not inner["a"][1]


def test_share_unchanged_copies_only_the_way_to_a_change():
    untouched = {"a": [1, 2], "b": {"c": "d"}}
    changed = {"password": "p", "keep": [3]}
    value = {"untouched": untouched, "changed": changed, "n": 1}
    result = Cloner("password").clone(value, share_unchanged=True)
    assert result == {"untouched": untouched, "changed": {"password": CENSOR, "keep": [3]},
                      "n": 1}
    assert result is not value and result["changed"] is not changed
    assert result["untouched"] is untouched and result["changed"]["keep"] is changed["keep"]
    assert value["changed"]["password"] == "p"


@pytest.mark.parametrize("index", range(len(RECORD_IDS)), ids=RECORD_IDS)
def test_share_unchanged_gives_back_the_same_object_when_clean(index):
    cloner = Cloner(match_key="password", match_value=re.compile(r"s3cr3t-\w+"))
    value = _build(_records()[index], CENSOR, "clean")
    holder = [value, (value,), {"v": value}, {value.note}]
    assert cloner.clone(holder, share_unchanged=True) is holder
    dirty = _build(_records()[index], "p", "clean")
    result = cloner.clone([value, dirty], share_unchanged=True)
    assert result[0] is value and type(result[1]) is type(dirty)
    assert result[1].password == CENSOR


@pytest.mark.parametrize("leaf", [
    1, 2.5, True, None, 1j, b"bytes", bytearray(b"x"), datetime.datetime(2024, 5, 1),
    ValueError("clean"), enum.Enum("Color", "RED").RED, len, Plain, re.compile("x"),
    threading.Lock(),
])
def test_leaves_come_back_as_the_same_object(leaf):
    # A leaf whose text matches a value matcher is censored (test_hardening_redact.py).
    cloner = Cloner(match_key="password", match_value=SECRET)
    assert not cloner.needs_clone(leaf)
    assert cloner.clone(leaf) is leaf


# -- matchers --------------------------------------------------------------------------


def test_exact_str_keys_are_case_sensitive():
    cloner = Cloner("password")
    assert cloner.clone({"password": 1, "Password": 2, "passwords": 3}) == {
        "password": CENSOR, "Password": 2, "passwords": 3}


def test_regex_keys_use_search():
    cloner = Cloner(re.compile("(?i)token"))
    assert cloner.clone({"api_Token": 1, "tok": 2}) == {"api_Token": CENSOR, "tok": 2}


def test_callable_keys():
    cloner = Cloner(lambda key: key.startswith("x_"))
    assert cloner.clone({"x_a": 1, "y": 2}) == {"x_a": CENSOR, "y": 2}


def test_a_collection_of_matchers():
    cloner = Cloner(["a", re.compile("^b"), lambda key: key == "c"])
    assert cloner.clone({"a": 1, "bb": 2, "c": 3, "d": 4}) == {
        "a": CENSOR, "bb": CENSOR, "c": CENSOR, "d": 4}
    assert cloner.matches_key("bb") and not cloner.matches_key("d")


def test_non_str_keys_never_match():
    cloner = Cloner(lambda key: True)
    assert cloner.clone({1: "a", ("t",): "b"}) == {1: "a", ("t",): "b"}
    assert not cloner.needs_clone({1: "a"})


def test_a_matched_key_replaces_a_whole_container():
    cloner = Cloner("credentials", match_value=SECRET)
    assert cloner.clone({"credentials": {"user": "u", "pw": SECRET}}) == {"credentials": CENSOR}


def test_value_matchers():
    exact = Cloner(match_value="hunter2")
    assert exact.clone(["hunter2", "hunter23"]) == [CENSOR, "hunter23"]
    predicate = Cloner(match_value=lambda text: text.isdigit())
    assert predicate.clone(["123", "a1"]) == [CENSOR, "a1"]
    regex = Cloner(match_value=re.compile(r"\d{4}-\d{4}"))
    assert regex.clone("card 1234-5678 and 8765-4321.") == f"card {CENSOR} and {CENSOR}."


def test_str_subclass_values_are_matched():
    class Text(str):
        pass

    assert Cloner(match_value=SECRET).clone([Text(SECRET)]) == [CENSOR]


def test_censor_is_literal_in_regex_replacement():
    cloner = Cloner(match_value=re.compile("pw"), censor=r"\1 \g<0> \\")
    assert cloner.clone("a pw b") == r"a \1 \g<0> \\ b"


def test_custom_censor():
    assert Cloner("k", censor="***").clone({"k": "v"}) == {"k": "***"}


def test_censored_data_is_clean():
    cloner = Cloner("password", match_value=re.compile(r"s3cr3t-\w+"))
    value = {"password": "p", "note": [f"x {SECRET}"]}
    once = cloner.clone(value)
    assert not cloner.needs_clone(once)
    assert cloner.clone(once) == once


def test_predicate_errors_propagate():
    def broken(key):
        raise RuntimeError("boom")

    cloner = Cloner(broken)
    with pytest.raises(RuntimeError):
        cloner.needs_clone({"a": 1})
    with pytest.raises(RuntimeError):
        cloner.clone({"a": 1})


@pytest.mark.parametrize(("kwargs", "error", "text"), [
    ({"match_key": 1}, TypeError, "match_key must be"),
    ({"match_key": b"password"}, TypeError, "match_key must be"),
    ({"match_key": {"password": True}}, TypeError, "match_key must be"),
    ({"match_key": ["a", 2]}, TypeError, r"match_key\[1\]"),
    ({"match_key": re.compile(b"x")}, TypeError, "bytes regex"),
    ({"match_key": re.compile("a*")}, ValueError, "empty string"),
    ({"match_value": [re.compile("x?")]}, ValueError, r"match_value\[0\].*empty string"),
    ({"match_value": re.compile("RED")}, ValueError, "censor"),
    ({"match_value": CENSOR}, ValueError, "censor"),
    ({"censor": None}, TypeError, "censor must be a str"),
    ({"max_depth": 0}, ValueError, "max_depth"),
    ({"max_depth": 2.0}, TypeError, "max_depth"),
    ({"max_depth": True}, TypeError, "max_depth"),
    ({"strict": 1}, TypeError, "strict"),
])
def test_bad_options_name_the_argument(kwargs, error, text):
    with pytest.raises(error, match=text):
        Cloner(**kwargs)


def test_no_matchers_censor_nothing():
    cloner = Cloner()
    value = {"password": SECRET}
    assert not cloner.needs_clone(value)
    assert cloner.clone(value) == value


# -- cycles, depth, objects that cannot be rebuilt -------------------------------------


def test_cycles_become_a_placeholder():
    value: dict = {"name": "loop"}
    value["self"] = value
    items: list = [1]
    items.append(items)
    value["items"] = items
    cloner = Cloner("password")
    assert cloner.needs_clone(value)  # the placeholder is a change
    result = clone_checked(cloner, value)
    assert result == {"name": "loop", "self": Cloner.CIRCULAR, "items": [1, Cloner.CIRCULAR]}


def test_object_cycles_become_a_placeholder():
    node = Attributes("p", "n")
    node.next = node
    result = Cloner("password").clone(node)
    assert result.next == Cloner.CIRCULAR and result.password == CENSOR


def test_a_shared_object_is_not_a_cycle():
    shared = {"password": "p"}
    result = Cloner("password").clone([shared, shared, {"again": shared}])
    assert result == [{"password": CENSOR}] * 2 + [{"again": {"password": CENSOR}}]


def _nested(levels: int) -> dict:
    value: dict = {"password": "p"}
    for _ in range(levels - 1):
        value = {"down": value}
    return value


def test_depth_is_capped():
    cloner = Cloner("password", max_depth=3)
    assert cloner.clone(_nested(3)) == {"down": {"down": {"password": CENSOR}}}
    assert cloner.clone(_nested(5)) == {"down": {"down": {"down": Cloner.TRUNCATED}}}
    assert cloner.needs_clone(_nested(5))


def test_default_depth_never_recurses_too_far():
    value = [SECRET]
    for _ in range(5000):
        value = [value]
    cloner = Cloner(match_value=SECRET)
    assert cloner.needs_clone(value)
    result = cloner.clone(value)
    for _ in range(31):
        result = result[0]
    assert result == [Cloner.TRUNCATED]


class CopiesToItself:
    """``copy.copy`` gives the object back, so it cannot be rebuilt."""

    def __init__(self, note: str) -> None:
        self.note = note

    def __copy__(self):
        return self


class RefusesToCopy:
    def __init__(self, note: str) -> None:
        self.note = note

    def __reduce_ex__(self, protocol):
        raise TypeError("no copies")

    def __deepcopy__(self, memo):  # the test's own snapshot still works
        return RefusesToCopy(self.note)


class Unbuildable(tuple):
    """A tuple whose constructor does not take its items back."""

    def __new__(cls, a, b):
        return super().__new__(cls, (a, b))

    def __getnewargs__(self):
        return tuple(self)


@pytest.mark.parametrize("value", [
    CopiesToItself(SECRET), RefusesToCopy(SECRET), Unbuildable(SECRET, "x"),
], ids=["copies-to-itself", "refuses-copy", "constructor-refuses"])
def test_objects_that_cannot_be_rebuilt_come_back_unchanged(value):
    cloner = Cloner(match_value=SECRET)
    assert cloner.needs_clone(value)
    assert clone_checked(cloner, value) is value
    assert Cloner(match_value=SECRET, strict=True).clone(value) == CENSOR
    assert clone_checked(Cloner(match_value="other", strict=True), value) is value


def test_strict_censors_only_the_unbuildable_part():
    cloner = Cloner(match_value=SECRET, strict=True)
    result = cloner.clone({"ok": [SECRET], "bad": CopiesToItself(SECRET), "fine": "x"})
    assert result == {"ok": [CENSOR], "bad": CENSOR, "fine": "x"}


def test_unreadable_objects_are_leaves():
    class Broken:
        @property
        def __dict__(self):
            raise RuntimeError("no dict")

    value = Broken()
    cloner = Cloner(match_value=SECRET)
    assert not cloner.needs_clone(value)
    assert cloner.clone(value) is value


def test_one_cloner_on_many_threads():
    cloner = Cloner("password", match_value=re.compile(r"s3cr3t-\w+"))
    value = {"password": "p", "items": [{"note": SECRET, "n": n} for n in range(50)]}
    expected = cloner.clone(value)
    results: list = []

    def work() -> None:
        for _ in range(50):
            results.append(cloner.clone(value))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 400 and all(result == expected for result in results)


# -- properties ------------------------------------------------------------------------

# Keys and text that can never contain the secret nor the censor by accident.
_TEXT = st.text(alphabet="abcdefgh ", max_size=8)
_KEYS = st.sampled_from(["a", "b", "c", "user", "password", "nested", "token"])
_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                     _TEXT, st.just(SECRET), st.just(f"prefix {SECRET} suffix"))
JSON_LIKE = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.tuples(inner, inner),
                            st.dictionaries(_KEYS, inner, max_size=4)),
    max_leaves=25,
)


@given(JSON_LIKE)
def test_property_secrets_never_survive_and_input_is_untouched(value):
    cloner = Cloner(("password", "token"), re.compile(r"s3cr3t-\w+"))
    result = clone_checked(cloner, value)
    assert SECRET not in repr(result)
    assert not cloner.needs_clone(result)


@given(JSON_LIKE)
def test_property_needs_clone_false_means_clone_is_equal(value):
    cloner = Cloner(("password", "token"), re.compile(r"s3cr3t-\w+"))
    if not cloner.needs_clone(value):
        assert deep_same(cloner.clone(value), value)
    else:
        assert not deep_same(cloner.clone(value), value)


@given(JSON_LIKE)
def test_property_sharing_gives_the_same_result_as_a_deep_clone(value):
    cloner = Cloner(("password", "token"), re.compile(r"s3cr3t-\w+"))
    before = copy.deepcopy(value)
    shared = cloner.clone(value, share_unchanged=True)
    assert deep_same(value, before)
    assert deep_same(shared, cloner.clone(value))
    assert (shared is value) == (not cloner.needs_clone(value))


# -- the compiled walk agrees with the pure one ------------------------------------------

compiled_walk = pytest.mark.skipif(Cloner()._walker is None,
                                   reason="the compiled walk (utils._clonefast) is not in use")


def pure_clone(cloner: Cloner, value: object, share: bool = False) -> object:
    """``clone`` through the pure walk alone, whatever the live one is."""
    from loglayer.utils._cloner import _Clone

    walk = _Clone(cloner, share)
    return walk._dict(value, 0) if type(value) is dict else walk.run(value)


class Key(str):
    """A str subclass: a key the compiled walk cannot settle by its cached hash alone."""


#: One of each way to match: exact keys and regex values; regex keys only (str values
#: are then never inspected); a predicate key and an exact value; a low depth cap with
#: strict; more exact keys than the compiled walk compares by hash.
COMPARED_CLONERS = [
    Cloner(("password", "token"), re.compile(r"s3cr3t-\w+")),
    Cloner(re.compile("(?i)pass")),
    Cloner(lambda key: key == "user", SECRET),
    Cloner(("password",), max_depth=2, strict=True),
    Cloner([f"key{i}" for i in range(12)] + ["password"]),
]

_RECORD_KEYS = st.sampled_from(["password", "note"])
MIXED = st.recursive(
    st.one_of(_SCALARS, st.builds(Key, _KEYS), st.builds(Key, st.just(SECRET))),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.tuples(inner, inner),
        st.dictionaries(st.one_of(_KEYS, st.builds(Key, _KEYS), st.integers()), inner,
                        max_size=4),
        st.builds(Point, inner, inner),
        st.builds(Plain, inner, inner),
        st.builds(OwnDict, st.dictionaries(_KEYS, inner, max_size=3)),
        st.frozensets(_TEXT, max_size=3),
    ),
    max_leaves=20,
)


@pytest.mark.slow
@compiled_walk
@settings(max_examples=300, deadline=None)
@given(MIXED, st.sampled_from(range(len(COMPARED_CLONERS))))
def test_property_compiled_walk_agrees_with_the_pure_walk(value, index):
    cloner = COMPARED_CLONERS[index]
    before = copy.deepcopy(value)
    assert cloner.needs_clone(value) == cloner._pure_needs_clone(value)
    assert deep_same(cloner.clone(value), pure_clone(cloner, value))
    censored, pure_censored = cloner.censored(value), cloner._pure_censored(value)
    assert deep_same(censored, pure_censored)
    assert (censored is value) == (pure_censored is value)
    assert deep_same(value, before)


@compiled_walk
def test_compiled_walk_agrees_on_cycles_through_records():
    cloner = COMPARED_CLONERS[0]
    inner: dict = {"password": "x", "items": []}
    holder = Plain(inner, [inner])
    inner["items"].append(holder)  # dict -> list -> record -> dict: a cycle across both
    inner["self"] = inner
    for share in (False, True):
        assert deep_same(cloner.clone(inner, share_unchanged=share),
                         pure_clone(cloner, inner, share))
    assert cloner.needs_clone(inner) and cloner._pure_needs_clone(inner)


def test_str_subclass_keys_match_like_str_keys():
    cloner = Cloner(("password",))
    value = {Key("password"): "x", "note": {Key("other"): "y"}}
    assert cloner.needs_clone(value)
    assert cloner.clone(value) == {"password": CENSOR, "note": {"other": "y"}}


def test_censored_is_the_value_or_a_shared_clone():
    cloner = Cloner(("password",))
    clean = {"a": [1, 2], "b": {"c": 3}}
    assert cloner.censored(clean) is clean
    dirty = {"a": clean["a"], "b": {"password": "x"}}
    result = cloner.censored(dirty)
    assert result == {"a": [1, 2], "b": {"password": CENSOR}}
    assert result["a"] is clean["a"] and dirty["b"] == {"password": "x"}


@pytest.mark.parametrize("duplicate", [copy.copy, copy.deepcopy,
                                       lambda c: __import__("pickle").loads(
                                           __import__("pickle").dumps(c))])
def test_copies_and_pickles_censor_the_same(duplicate):
    cloner = Cloner(("password",), re.compile(r"s3cr3t-\w+"), censor="***", max_depth=3)
    value = {"password": "x", "note": f"a {SECRET}", "deep": {"a": {"b": {"c": 1}}}}
    twin = duplicate(cloner)
    assert (twin.censor, twin.max_depth) == ("***", 3)
    assert twin.clone(value) == cloner.clone(value)
    assert twin.needs_clone(value) and twin.censored({"ok": 1}) == {"ok": 1}


@compiled_walk
@pytest.mark.parametrize("max_depth", [31, 32, 33, 100])  # around the compiled walk's inline path
def test_compiled_walk_agrees_on_deep_values(max_depth):
    cloner = Cloner(("password",), max_depth=max_depth, strict=True)
    value: object = {"password": "x"}
    for level in range(80):
        value = {"next": value} if level % 2 else [value, {"password": "y"}]
    assert cloner.needs_clone(value) == cloner._pure_needs_clone(value)
    for share in (False, True):
        assert deep_same(cloner.clone(value, share_unchanged=share),
                         pure_clone(cloner, value, share))


def test_a_predicate_that_changes_the_dict_is_safe():
    data: dict = {}

    def drop_nested(key: str) -> bool:
        if key == "n":
            data["n"] = None  # drops the only reference to the value being checked
        return False

    cloner = Cloner(match_key=drop_nested)
    data["n"] = {"xxx": ["yyyyy"]}
    assert cloner.needs_clone(data) is False


def test_values_nested_past_the_recursion_limit_raise_recursion_error():
    cloner = Cloner(("password",), max_depth=10**9)
    value: object = {"password": "x"}
    for _ in range(20_000):
        value = [value] if isinstance(value, dict) else {"next": value}
    with pytest.raises(RecursionError):
        cloner.needs_clone(value)
    with pytest.raises(RecursionError):
        cloner.clone(value)


@pytest.mark.parametrize("name", ["censor", "max_depth", "strict", "_key_exact"])
def test_settings_are_fixed_once_made(name):
    cloner = Cloner(("password",))
    with pytest.raises(AttributeError, match="make a new Cloner"):
        setattr(cloner, name, "***" if name == "censor" else 1)
    assert cloner.clone({"password": "x"}) == {"password": CENSOR}
