"""What a record is, and which of its (name, value) pairs are shown: the one rule.

Two parts of loglayer read records, and they must agree: ``loglayer.utils.to_map`` turns
metadata into the dict transports render, and ``loglayer.utils.Cloner`` (the ``redact``
plugin) checks and censors what would be rendered. A name one shows and the other does
not check is a secret in the logs, so both ask this module.

:func:`kind_of` classifies a type once (the answer is cached per type):

* not a record: str, bytes, numbers, ranges, enum members, exceptions, classes,
  modules, functions and methods, and objects with no ``__dict__`` and no public slot;
* a mapping (``dict``, other ``Mapping`` types) or a container of items (list, tuple,
  set, frozenset and their subclasses but namedtuples): not records either, their
  readers walk them as containers;
* a record: a namedtuple, a dataclass, an attrs class, a pydantic v2 model (anything with
  a ``model_dump`` method), a pydantic v1 model (a ``__fields__`` dict and a ``dict``
  method), or any other object with a ``__dict__`` or public ``__slots__``.

:func:`rendered` gives what a transport shows of a record, in order: a namedtuple its
fields; a dataclass its fields (shallow; ``ClassVar`` and ``InitVar`` are not fields);
an attrs instance its attributes; a pydantic v2 model its ``model_dump()`` (declared
fields but the excluded ones, extras, computed fields, and what a custom serializer
makes of them), a v1 model its ``dict()``; another object its public (non-underscore)
instance attributes from ``__dict__``, then its public ``__slots__``. A field or slot
that is not set is left out.

:func:`fields` gives what the Cloner checks: the rendered names, in the same order,
then, for a pydantic model, what it stores that its dump does not show as stored: the
declared fields ``model_dump()`` leaves out, and the stored value of a field a
serializer rewrote (a model nested in other data is written as its ``str()``, which
shows what is stored). A rendered pair holds the value the record stores under that
name when the dump shows that value as it is (the same object, an equal value of the
same type, or, for a nested model, its own dump), so a nested record is walked (and
rebuilt) as itself; otherwise it holds the rendered value (a computed field, a key a
serializer makes, a value a ``field_serializer`` or ``model_serializer`` rewrote), and
is "derived": a copy of the model cannot be given a new value for it, as the copy would
render it again from what it stores.

Stdlib only: pydantic and attrs are recognised by their attributes, never imported.
"""

from __future__ import annotations

import dataclasses
import enum
import types
from collections.abc import Mapping
from typing import Any, NamedTuple

__all__ = ["ATTRS", "DATACLASS", "Fields", "ITEMS", "MAPPING", "NAMEDTUPLE", "NOT_RECORD",
           "OBJECT", "PYDANTIC1", "PYDANTIC2", "fields", "kind_of", "rendered"]

# The kinds. The record kinds come last, so ``kind >= NAMEDTUPLE`` means "a record".
NOT_RECORD = 0
MAPPING = 1
ITEMS = 2
NAMEDTUPLE = 3
DATACLASS = 4
ATTRS = 5
PYDANTIC2 = 6
PYDANTIC1 = 7
OBJECT = 8

# Types whose instances are never records: scalars, text, and things whose attributes
# are implementation details (enum members hold only ``_value_`` and the like;
# exceptions are better shown as their text than as their ``__dict__``; classes,
# modules and functions have a ``__dict__`` that is not record data).
_NEVER = (
    str, bytes, bytearray, memoryview, int, float, complex, range, enum.Enum, BaseException,
    type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.MethodType,
)

#: At most this many types are remembered; the cache then starts over, so classes
#: made at run time (``namedtuple(...)`` in a loop) are not kept alive for ever.
_MAX_CACHED = 1024

# type -> (kind, the names the kind reads: namedtuple, dataclass or attrs fields,
# declared pydantic fields, or public slots)
_SHAPES: dict[type, tuple[int, tuple[str, ...]]] = {}

_UNSET = object()


class Fields(NamedTuple):
    """What the Cloner checks of a record (see the module documentation)."""

    #: (name, value) pairs: the rendered names first, in their order.
    pairs: list[tuple[Any, Any]]
    #: How many of ``pairs`` are rendered: the others are shown by ``str()`` alone.
    shown: int
    #: For a pydantic model, the names a copy of it can hold new values for (declared
    #: fields and extras); None for the other records, whose copies can hold any.
    stored: frozenset[str] | None
    #: For a pydantic model, the indexes of the rendered pairs that hold what its dump
    #: rendered rather than what it stores (see the module documentation).
    derived: frozenset[int] = frozenset()


def kind_of(cls: type) -> int:
    """The kind of the instances of ``cls``: ``NOT_RECORD``, ``MAPPING``, ``ITEMS`` or a
    record kind (``NAMEDTUPLE`` and above)."""
    return _shape(cls)[0]


def rendered(value: Any, kind: int) -> dict:
    """The (name, value) pairs a transport shows for ``value``, a record of ``kind``.

    Raises what reading the record raises (a property, ``model_dump()``), and
    ``TypeError`` when ``model_dump()`` or ``dict()`` does not give a dict.
    """
    if kind == PYDANTIC2:
        return _a_dict(value.model_dump())
    if kind == PYDANTIC1:
        return _a_dict(value.dict())
    names = _shape(type(value))[1]
    if kind == NAMEDTUPLE:
        return dict(zip(names, value, strict=False))
    result = {}
    if kind == OBJECT:
        namespace = getattr(value, "__dict__", None)
        if isinstance(namespace, dict):
            for name, item in namespace.items():
                if type(name) is str and not name.startswith("_"):
                    result[name] = item
    for name in names:
        item = getattr(value, name, _UNSET)
        if item is not _UNSET:
            result[name] = item
    return result


def fields(value: Any, kind: int) -> Fields:
    """What the Cloner checks of ``value``, a record of ``kind``: every name
    :func:`rendered` gives, then what a model stores that its dump does not show as
    stored (see the module documentation).

    Raises what reading the record raises, except a pydantic model whose dump fails:
    to_map then shows it as its ``str()``, so its stored fields are still given.
    """
    if kind not in (PYDANTIC2, PYDANTIC1):
        items = list(rendered(value, kind).items())
        return Fields(items, len(items), None)
    try:
        shown = rendered(value, kind)
    except Exception:
        shown = {}
    declared = _shape(type(value))[1]
    if kind == PYDANTIC2:
        extra = getattr(value, "__pydantic_extra__", None)
        extras = list(extra) if isinstance(extra, dict) else []
    else:  # v1 keeps the fields and the extras in __dict__
        extras = [name for name in getattr(value, "__dict__", ()) if name not in declared
                  and type(name) is str and not name.startswith("_")]
    stored = frozenset(declared).union(extras)
    pairs: list[tuple[Any, Any]] = []
    derived = []
    rewritten = []  # (name, stored value) of the fields the dump shows otherwise
    for name, item in shown.items():
        own = getattr(value, name, _UNSET) if name in stored else _UNSET
        if own is not _UNSET:
            if _renders_as(own, item):
                pairs.append((name, own))
                continue
            rewritten.append((name, own))
        derived.append(len(pairs))
        pairs.append((name, item))
    for name in (*declared, *extras):
        if name not in shown:
            item = getattr(value, name, _UNSET)
            if item is not _UNSET:
                pairs.append((name, item))
    pairs.extend(rewritten)
    return Fields(pairs, len(shown), stored, frozenset(derived))


def _renders_as(own: Any, dumped: Any) -> bool:
    """Whether a model's dump shows its stored value ``own`` as ``dumped`` unchanged, so
    that checking ``own`` checks what is rendered. False when in doubt (an ``__eq__``
    that raises): both are then checked."""
    if dumped is own:
        return True
    try:
        if type(dumped) is type(own):
            return bool(dumped == own)
        kind = kind_of(type(own))
        if kind in (PYDANTIC2, PYDANTIC1) and type(dumped) is dict:
            return bool(rendered(own, kind) == dumped)  # a nested model, dumped as it dumps
    except Exception:
        pass
    return False


def _a_dict(result: Any) -> dict:
    if not isinstance(result, dict):
        raise TypeError(f"a model dump gave a {type(result).__name__}, not a dict")
    return result


def _shape(cls: type) -> tuple[int, tuple[str, ...]]:
    """(kind, names) of ``cls``, from the cache when it may be cached."""
    meta = type(cls)
    if meta is not type and (meta.__hash__ is not type.__hash__
                             or meta.__eq__ is not type.__eq__):
        # A metaclass with its own equality could make two classes one cache entry.
        return _classify(cls)
    shape = _SHAPES.get(cls)
    if shape is None:
        shape = _classify(cls)
        if len(_SHAPES) >= _MAX_CACHED:
            _SHAPES.clear()
        _SHAPES[cls] = shape
    return shape


def _classify(cls: type) -> tuple[int, tuple[str, ...]]:
    try:
        return _read_shape(cls)
    except Exception:  # a class whose attributes cannot be read
        return NOT_RECORD, ()


def _read_shape(cls: type) -> tuple[int, tuple[str, ...]]:
    if issubclass(cls, _NEVER):
        return NOT_RECORD, ()
    if issubclass(cls, dict) or _is_mapping(cls):
        return MAPPING, ()
    if issubclass(cls, tuple):
        names = getattr(cls, "_fields", None)
        if isinstance(names, tuple) and all(type(name) is str for name in names):
            return NAMEDTUPLE, names
        return ITEMS, ()
    if issubclass(cls, (list, set, frozenset)):
        return ITEMS, ()
    if dataclasses.is_dataclass(cls):
        return DATACLASS, tuple(field.name for field in dataclasses.fields(cls))
    if callable(getattr(cls, "model_dump", None)):
        return PYDANTIC2, _declared(getattr(cls, "model_fields", None))
    declared = getattr(cls, "__fields__", None)
    if isinstance(declared, dict) and callable(getattr(cls, "dict", None)):
        return PYDANTIC1, _declared(declared)
    attributes = getattr(cls, "__attrs_attrs__", None)
    if attributes is not None:
        return ATTRS, tuple(attribute.name for attribute in attributes)
    slots = _public_slots(cls)
    if slots or any("__dict__" in klass.__dict__ for klass in cls.__mro__):
        return OBJECT, slots
    return NOT_RECORD, ()


def _is_mapping(cls: type) -> bool:
    try:
        return issubclass(cls, Mapping)
    except TypeError:  # the ABC check caches the class, which then must be hashable
        return Mapping in cls.__mro__


def _declared(model_fields: Any) -> tuple[str, ...]:
    """The declared field names of a pydantic model class."""
    if not isinstance(model_fields, dict):
        return ()
    return tuple(name for name in model_fields if type(name) is str)


def _public_slots(cls: type) -> tuple[str, ...]:
    """The public slot names declared along the MRO of ``cls``, each once."""
    names: dict[str, None] = {}
    for klass in cls.__mro__:
        slots = klass.__dict__.get("__slots__", ())
        if isinstance(slots, str):
            slots = (slots,)
        for name in slots:
            if type(name) is str and not name.startswith("_"):
                names[name] = None
    return tuple(names)
