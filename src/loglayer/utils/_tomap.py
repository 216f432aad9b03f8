"""``to_map``: the one rule for turning metadata objects into a mapping.

Metadata may be any object (SPEC §2). Transports that need key/value pairs (JSON at the
root, ``key=value`` on the console) call :func:`to_map`; when it returns None the object
is not record-like and the transport keeps it whole (under a ``metadata`` key). What a
record is and which of its fields are shown is defined in ``loglayer._records``, which
the redacting ``Cloner`` follows too, so what is censored is what is shown.
"""

from __future__ import annotations

from typing import Any

from .._records import ITEMS, MAPPING, NOT_RECORD, kind_of, rendered

__all__ = ["to_map"]


def to_map(value: Any) -> dict[Any, Any] | None:
    """Return ``value`` as a dict of its fields, or None when it is not record-like.

    A ``dict`` is returned as is (not copied); another ``Mapping`` becomes
    ``dict(value)``; a dataclass instance gives its fields (shallow); a pydantic v2
    model its ``model_dump()`` (computed fields and extras included), a v1 model its
    ``dict()``; an attrs instance its attributes; a namedtuple its fields; another
    object its public (non-underscore) instance attributes from ``__dict__``, then its
    public ``__slots__`` (an object with no ``__dict__`` that declares no public slot is
    not a record). Fields, attributes and slots that are not set are left out.
    Classes, modules, functions, scalars, text, bytes, lists, tuples, sets, enum
    members, exceptions and None give None. Never raises: a conversion that fails gives
    None.
    """
    if type(value) is dict:
        return value
    try:
        return _convert(value)
    except Exception:
        return None


def _convert(value: Any) -> dict[Any, Any] | None:
    if isinstance(value, dict):
        return value
    kind = kind_of(type(value))
    if kind == MAPPING:
        return dict(value)
    if kind in (NOT_RECORD, ITEMS):
        return None
    return rendered(value, kind)
