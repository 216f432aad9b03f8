"""Argument checkers: one rule and one message format for every constructor.

The rule (SPEC §2): a value of the wrong TYPE raises ``TypeError``; a value of the right
type that is not allowed raises ``ValueError``. ``bool`` is a subclass of ``int``, but a
flag is never a count: an int or number argument refuses ``True``/``False`` with
``TypeError``.

The format: ``<name> must be <what is allowed>, got <what was given>``, where a
``TypeError`` gives the type's name and a ``ValueError`` the value's ``repr``::

    max_size must be an int, got str
    max_size must be at least 1, got 0
    fields_key must be a non-empty str or None, got ''

``name`` is printed as given, so a caller that locates the value otherwise passes that
instead: ``loglayer.from_config`` passes the key's path and a colon
(``plugins[1].options.rate:``), which gives ``plugins[1].options.rate: must be between 0
and 1, got 2``. Each checker returns the value it accepted (converted where it says so),
so a constructor checks and assigns in one line.

This is a leaf module (it imports only the stdlib and ``loglayer.levels``), so both
cores, the transports, the plugins and the configuration layer can all use it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal, TypeVar, overload

from .levels import LogLevel

__all__ = [
    "check_bool",
    "check_callable",
    "check_choice",
    "check_int",
    "check_key",
    "check_level",
    "check_mapping",
    "check_number",
    "check_type",
    "type_name",
]

T = TypeVar("T")


def type_name(value: object) -> str:
    """How a ``TypeError`` names what it got: the type's name, or ``None``."""
    return "None" if value is None else type(value).__name__


def _or_none(what: str, allow_none: bool) -> str:
    return f"{what} or None" if allow_none else what


def check_type(name: str, value: T, types: type | tuple[type, ...], what: str) -> T:
    """``value`` if it is an instance of ``types``, else ``TypeError``.

    ``what`` describes the allowed types for the message, e.g. ``"a str or None"``.
    """
    if not isinstance(value, types):
        raise TypeError(f"{name} must be {what}, got {type_name(value)}")
    return value


@overload
def check_bool(name: str, value: Any, allow_none: Literal[False] = False) -> bool: ...
@overload
def check_bool(name: str, value: Any, allow_none: bool) -> bool | None: ...


def check_bool(name: str, value: Any, allow_none: bool = False) -> bool | None:
    """``value`` if it is a bool (or None when ``allow_none``): a flag takes no 0 or 1."""
    if not (isinstance(value, bool) or (allow_none and value is None)):
        raise TypeError(f"{name} must be {_or_none('a bool', allow_none)}, "
                        f"got {type_name(value)}")
    return value


@overload
def check_key(name: str, value: Any, allow_none: Literal[False]) -> str: ...
@overload
def check_key(name: str, value: Any, allow_none: bool = True) -> str | None: ...


def check_key(name: str, value: Any, allow_none: bool = True) -> str | None:
    """``value`` if it is a non-empty str (a data key, a name, a path), or None when
    ``allow_none``. Another type is a ``TypeError``; ``""`` is a ``ValueError``."""
    if value is None and allow_none:
        return None
    what = _or_none("a non-empty str", allow_none)
    if not isinstance(value, str):
        raise TypeError(f"{name} must be {what}, got {type_name(value)}")
    if not value:
        raise ValueError(f"{name} must be {what}, got ''")
    return value


@overload
def check_int(name: str, value: Any, *, minimum: int | None = None,
              allow_none: Literal[False] = False) -> int: ...
@overload
def check_int(name: str, value: Any, *, minimum: int | None = None,
              allow_none: bool) -> int | None: ...


def check_int(name: str, value: Any, *, minimum: int | None = None,
              allow_none: bool = False) -> int | None:
    """``value`` if it is an int (not a bool) of at least ``minimum``, or None when
    ``allow_none``."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be {_or_none('an int', allow_none)}, "
                        f"got {type_name(value)}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value!r}")
    return value


@overload
def check_number(name: str, value: Any, *, above: float | None = None,
                 minimum: float | None = None, maximum: float | None = None,
                 finite: bool = False, allow_none: Literal[False] = False) -> float: ...
@overload
def check_number(name: str, value: Any, *, above: float | None = None,
                 minimum: float | None = None, maximum: float | None = None,
                 finite: bool = False, allow_none: bool) -> float | None: ...


def check_number(name: str, value: Any, *, above: float | None = None,
                 minimum: float | None = None, maximum: float | None = None,
                 finite: bool = False, allow_none: bool = False) -> float | None:
    """``value`` as a float if it is an int or a float (not a bool) in range, or None
    when ``allow_none``.

    ``above`` is an exclusive lower bound, ``minimum`` and ``maximum`` inclusive ones;
    ``finite`` refuses infinities. NaN fails every bound.
    """
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be {_or_none('a number', allow_none)}, "
                        f"got {type_name(value)}")
    if above is not None and not value > above:
        raise ValueError(f"{name} must be above {above}, got {value!r}")
    if not ((minimum is None or value >= minimum) and (maximum is None or value <= maximum)):
        bounds = (f"at most {maximum}" if minimum is None else f"at least {minimum}"
                  if maximum is None else f"between {minimum} and {maximum}")
        raise ValueError(f"{name} must be {bounds}, got {value!r}")
    if finite and not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return float(value)


def check_mapping(name: str, value: Any) -> dict:
    """A shallow copy of ``value`` as a dict, if it is a mapping.

    The copy is what the logger keeps, so a caller's later changes do not reach it.
    """
    if not isinstance(value, Mapping):
        raise TypeError(f"{name} must be a mapping, got {type_name(value)}")
    return dict(value)


def check_callable(name: str, value: T, allow_none: bool = False) -> T:
    """``value`` if it is callable, or None when ``allow_none``."""
    if not (callable(value) or (allow_none and value is None)):
        raise TypeError(f"{name} must be {_or_none('callable', allow_none)}, "
                        f"got {type_name(value)}")
    return value


def check_choice(name: str, value: T, choices: tuple[Any, ...]) -> T:
    """``value`` if it equals one of ``choices`` and has its type.

    A value of a type no choice has (``3`` where the choices are strs) is a
    ``TypeError``; one of the right type that is not a choice is a ``ValueError``.
    """
    def fits(choice: Any) -> bool:
        kind = type(choice)
        return isinstance(value, kind) and (kind is bool or not isinstance(value, bool))

    if any(fits(choice) and value == choice for choice in choices):
        return value
    allowed = ", ".join(repr(choice) for choice in choices)
    if not any(fits(choice) for choice in choices):
        raise TypeError(f"{name} must be one of {allowed}, got {type_name(value)}")
    raise ValueError(f"{name} must be one of {allowed}, got {value!r}")


_LEVEL_NAMES = ", ".join(member.name.lower() for member in LogLevel)
_LEVEL_NUMBERS = ", ".join(str(int(member)) for member in LogLevel)


def check_level(name: str, value: Any) -> LogLevel:
    """``value`` as a ``LogLevel``: a member, its number, or its name in any case
    (``"warning"`` and ``"critical"`` included), as ``LogLevel.parse`` reads it.

    Anything but a ``LogLevel``, an int or a str (a bool included) is a ``TypeError``;
    an unknown name or number is a ``ValueError``.
    """
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise TypeError(f"{name} must be a LogLevel, an int or a str, got {type_name(value)}")
    try:
        return LogLevel.parse(value)
    except ValueError:
        raise ValueError(f"{name} must be a log level ({_LEVEL_NAMES}, warning, critical, or "
                         f"{_LEVEL_NUMBERS}), got {value!r}") from None


#: The field that names the logger an entry came from: ``LogLayer(name=...)`` sets it,
#: the stdlib facade sets it to the ``logging`` logger's name, and ``StdlibTransport``
#: names its records after it.
LOGGER_FIELD = "logger"


def named_fields(name: Any, fields: dict) -> dict:
    """``fields`` (the constructor's copy) with ``name`` as the ``logger`` field.

    ``name`` is a non-empty str or None (no name). A ``fields`` mapping that already
    names another logger is a ``ValueError``: which one is meant is not for us to guess.
    """
    if check_key("name", name) is None:
        return fields
    if fields.get(LOGGER_FIELD, name) != name:
        raise ValueError(f"name is {name!r} but fields[{LOGGER_FIELD!r}] is "
                         f"{fields[LOGGER_FIELD]!r}: give the name once")
    fields[LOGGER_FIELD] = name
    return fields
