"""``to_map``: the one rule for turning metadata objects into a mapping.

Metadata may be any object (SPEC §2). Transports that need key/value pairs (JSON at the
root, ``key=value`` on the console) call :func:`to_map`; when it returns None the object
is not record-like and the transport keeps it whole (under a ``metadata`` key).
"""

from __future__ import annotations

import dataclasses
import enum
import types
from collections.abc import Mapping
from typing import Any

__all__ = ["to_map"]

# Values that are never records: scalars, text, plain sequences and sets, and things
# whose attributes are implementation details (enum members hold only ``_value_`` and
# the like; exceptions are better shown as their text than as their ``__dict__``).
_NOT_RECORDS = (
    str, bytes, bytearray, memoryview, int, float, complex, list, set, frozenset, range,
    enum.Enum, BaseException,
)
# Objects with a ``__dict__`` that is not record data.
_NOT_INSTANCES = (
    type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.MethodType,
)


def to_map(value: Any) -> dict | None:
    """Return ``value`` as a dict of its fields, or None when it is not record-like.

    In order: a ``dict`` is returned as is (not copied); another ``Mapping`` becomes
    ``dict(value)``; a dataclass instance gives its fields (shallow); a pydantic v2
    model its ``model_dump()``, a v1 model its ``dict()``; an attrs instance its
    attributes; a namedtuple its ``_asdict()``; another object its public
    (non-underscore) instance attributes from ``__dict__``, or else from its
    ``__slots__`` (only the slots that are set; an object that declares no public slot
    is not a record). Classes, modules, functions, scalars, text, bytes, lists,
    tuples, sets, enum members, exceptions and None give None. Never raises: a
    conversion that fails gives None.
    """
    if type(value) is dict:
        return value
    try:
        return _convert(value)
    except Exception:
        return None


def _convert(value: Any) -> dict | None:
    if isinstance(value, dict):
        return value
    if value is None or isinstance(value, _NOT_RECORDS):
        return None
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, _NOT_INSTANCES):
        return None
    cls = type(value)
    if dataclasses.is_dataclass(cls):
        result = {}
        for field in dataclasses.fields(value):
            result[field.name] = getattr(value, field.name)
        return result
    model_dump = getattr(value, "model_dump", None)
    if model_dump is not None and callable(model_dump):
        return _as_dict(model_dump())
    if hasattr(cls, "__fields__") and callable(getattr(value, "dict", None)):
        return _as_dict(value.dict())
    attributes = getattr(cls, "__attrs_attrs__", None)
    if attributes is not None:
        result = {}
        for attribute in attributes:
            result[attribute.name] = getattr(value, attribute.name)
        return result
    if isinstance(value, tuple):
        as_dict = getattr(value, "_asdict", None)
        return dict(as_dict()) if as_dict is not None else None
    try:
        namespace = vars(value)
    except TypeError:  # no __dict__
        return _from_slots(value, cls)
    result = {}
    for key, item in namespace.items():
        if not (type(key) is str and key.startswith("_")):
            result[key] = item
    return result


def _as_dict(result: Any) -> dict | None:
    return result if isinstance(result, dict) else None


_UNSET = object()


def _from_slots(value: Any, cls: type) -> dict | None:
    """The set, public slots of ``value`` along its class's MRO; None if it declares none."""
    result = {}
    declared = False
    for klass in cls.__mro__:
        slots = klass.__dict__.get("__slots__", ())
        if isinstance(slots, str):
            slots = (slots,)
        for name in slots:
            if type(name) is not str or name.startswith("_"):
                continue
            declared = True
            item = getattr(value, name, _UNSET)
            if item is not _UNSET:
                result[name] = item
    return result if declared else None
