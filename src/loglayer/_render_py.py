"""The pure renderers: one JSON line (``render_json``) or one console line (``render_console``).

These functions are the reference for the compiled core, which reproduces them byte for
byte, so they are written to port directly: every decision that does not depend on the
entry is taken once, in the format objects' constructors (key renames, level labels,
colour codes); the per-entry code is plain loops and dict/str operations with no regex
and no closures. The cold paths (values orjson rejects) go through
:func:`sanitize_for_json`, which both cores call.

JSON line, keys in this order: time (unless ``time_format`` is None), level, message,
then ``entry.data`` items, then the metadata (a dict, or what ``to_map`` makes of it, at
the root or under ``entry.metadata_key``; anything else under ``metadata_key`` or
``"metadata"``). A data or metadata key equal to the time/level/message key is written
as ``"_" + key`` (more underscores while that is still one of those keys), so the three
are never overwritten. NaN and the infinities are ``null`` (JSON has no such numbers);
DEL, the C1 controls, U+2028 and U+2029 are ``\\uXXXX`` escapes, so no reader splits
the line.

Console line::

    [HH:MM:SS.mmm ]LEVEL [prefix ]message[ key=value ...]
        <traceback, each line indented by 4 spaces>

Control characters (U+0000-U+001F, U+007F-U+009F, U+2028, U+2029) and lone surrogates
in the prefix, messages, bare keys and values and traceback lines are escaped (``\\n``,
``\\r``, ``\\t``, ``\\xNN``, ``\\uNNNN``), so one entry is one line plus its indented
traceback (``Multiline`` messages excepted, their continuation lines being indented),
and the line always encodes as UTF-8. A key or str value that is empty or holds a space,
``=``, ``"`` or such a character is JSON-quoted, so the pairs split back as written.
The error is shown from the serialized error in the data (see :func:`_error_parts`), so
what a hook censored there is censored here too. A dict another thread changes while
it is rendered is rendered from a snapshot; one whose items cannot be read at all is
written as its text under ``data`` / ``metadata``.

Console colours (``ConsoleFormat(colors=True)``), each followed by the reset ``ESC[0m``:
time dim ``ESC[2m``; levels TRACE dim ``ESC[2m``, DEBUG blue ``ESC[34m``, INFO green
``ESC[32m``, WARN yellow ``ESC[33m``, ERROR red ``ESC[31m``, FATAL bold red ``ESC[1;31m``
(the padding after a level name is outside the colour); keys cyan ``ESC[36m`` (the
``=`` is not coloured).
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import sys
import time
import uuid
from typing import Any

import orjson

from ._common import CONTROL, escape_text, text_of
from ._core_py import LineSink
from ._errorfmt import (
    _CAUSE_MESSAGE,
    _CONTEXT_MESSAGE,
    MAX_CHAIN_DEPTH,
    format_traceback,
    serialize_error,
)
from ._multiline import Multiline
from ._validate import check_bool, check_key
from .levels import LogLevel
from .utils._tomap import to_map

__all__ = [
    "ConsoleFormat",
    "JsonFormat",
    "LineTransport",
    "TIME_FORMATS",
    "render_console",
    "render_json",
    "sanitize_for_json",
]

#: The accepted ``time_format`` values besides None (no time key).
TIME_FORMATS = ("iso", "epoch", "epoch_ms", "epoch_ns")

# JsonFormat._time_mode values.
_TIME_NONE = 0
_TIME_ISO = 1
_TIME_EPOCH = 2
_TIME_EPOCH_MS = 3
_TIME_EPOCH_NS = 4
_TIME_MODES = {None: _TIME_NONE, "iso": _TIME_ISO, "epoch": _TIME_EPOCH,
               "epoch_ms": _TIME_EPOCH_MS, "epoch_ns": _TIME_EPOCH_NS}

_NS_PER_SECOND = 1_000_000_000
_NS_PER_MS = 1_000_000
_SECONDS_PER_DAY = 86_400

# Milliseconds 0..999 as text, indexed by the millisecond.
_MILLIS = tuple([f"{ms:03d}" for ms in range(1000)])
_MILLIS_Z = tuple([f"{ms:03d}Z" for ms in range(1000)])

_OPTIONS = orjson.OPT_APPEND_NEWLINE

# Level number -> name, for the JSON "level" value.
_JSON_LEVELS = {level: level.name.lower() for level in LogLevel}

_RESET = "\x1b[0m"
_DIM = "\x1b[2m"
_CYAN = "\x1b[36m"
_LEVEL_COLORS = {
    LogLevel.TRACE: "\x1b[2m",
    LogLevel.DEBUG: "\x1b[34m",
    LogLevel.INFO: "\x1b[32m",
    LogLevel.WARN: "\x1b[33m",
    LogLevel.ERROR: "\x1b[31m",
    LogLevel.FATAL: "\x1b[1;31m",
}

# Characters that could end or forge a console line, drive a terminal or fail to encode
# (see loglayer._common.CONTROL), and how _escape writes them.
_CONTROL = CONTROL
_escape = escape_text

# orjson escapes C0 controls in strings but leaves DEL, the C1 controls and the line
# separators raw; in JSON text they can only occur inside strings, where a \\uNNNN
# escape is valid JSON. (Lone surrogates never reach orjson's output: it refuses them.)
_JSON_UNSAFE_CODES = [*range(0x7F, 0xA0), 0x2028, 0x2029]
_JSON_UNSAFE_ESCAPES = {code: f"\\u{code:04x}" for code in _JSON_UNSAFE_CODES}
_JSON_UNSAFE = frozenset([chr(code) for code in _JSON_UNSAFE_ESCAPES])

_MULTILINE_JOIN = "\n    "
_SNAPSHOT_TRIES = 8
_TRACEBACK_INDENT = "    "

# What orjson serializes natively, for sanitize_for_json.
_INT_MIN = -(1 << 63)
_INT_MAX = (1 << 64) - 1
_NATIVE_SCALARS = frozenset([datetime.datetime, datetime.date, datetime.time, uuid.UUID])
_CONTAINERS = (dict, list, tuple, set, frozenset)
_MAX_DEPTH = 32


# -- formats ---------------------------------------------------------------------------


class JsonFormat:
    """How ``render_json`` names its three fixed keys and writes the time.

    ``time_format``: ``"iso"`` (``2024-05-01T12:00:00.123Z``, UTC, milliseconds
    truncated), ``"epoch"`` (float seconds), ``"epoch_ms"`` / ``"epoch_ns"`` (int), or
    None for no time key. The keys must be non-empty and distinct.
    """

    #: A rendered line is bytes.
    binary = True

    __slots__ = ("message_key", "level_key", "time_key", "time_format", "_time_mode",
                 "_reserved", "_renames", "_iso_cache")

    def __init__(self, message_key: str = "msg", level_key: str = "level",
                 time_key: str = "time", time_format: str | None = "iso") -> None:
        check_key("message_key", message_key, allow_none=False)
        check_key("level_key", level_key, allow_none=False)
        check_key("time_key", time_key, allow_none=False)
        if time_format is not None and not isinstance(time_format, str):
            raise TypeError(f"time_format must be a str or None, got {type(time_format).__name__}")
        if time_format not in _TIME_MODES:
            raise ValueError(f"time_format must be one of {', '.join(TIME_FORMATS)} or None, "
                             f"got {time_format!r}")
        if len({message_key, level_key, time_key}) != 3:
            raise ValueError("message_key, level_key and time_key must be distinct, got "
                             f"{message_key!r}, {level_key!r}, {time_key!r}")
        self.message_key = message_key
        self.level_key = level_key
        self.time_key = time_key
        self.time_format = time_format
        self._time_mode = _TIME_MODES[time_format]
        reserved = [message_key, level_key]
        if self._time_mode != _TIME_NONE:
            reserved.append(time_key)
        # A data/metadata key equal to a reserved key is written under its rename.
        renames = {}
        for key in reserved:
            alias = "_" + key
            while alias in reserved:
                alias = "_" + alias
            renames[key] = alias
        self._reserved = tuple(reserved)
        self._renames = renames
        # (second, "YYYY-MM-DDTHH:MM:SS.") for the last second rendered; one tuple, so a
        # concurrent reader sees a matching pair.
        self._iso_cache: tuple[int | None, str] = (None, "")

    def __repr__(self) -> str:
        return (f"JsonFormat(message_key={self.message_key!r}, level_key={self.level_key!r}, "
                f"time_key={self.time_key!r}, time_format={self.time_format!r})")

    def render(self, entry: Any) -> bytes:
        """The whole JSON line for ``entry``, newline included."""
        return render_json(entry, self)


class ConsoleFormat:
    """How ``render_console`` lays out a line: colours, the time column, the error key.

    ``error_key`` is the data key holding the serialized error: while the entry carries
    an exception it is shown as ``err=Type: message`` instead of the serialized dict,
    and its traceback below the line; when a hook changed the serialized error (redact
    censoring it), both are taken from it instead of the exception. None (the default)
    takes the key from each entry, which carries its logger's.
    """

    #: A rendered line is str.
    binary = False

    __slots__ = ("colors", "show_time", "error_key", "_levels", "_time_open", "_time_close",
                 "_key_open", "_key_close", "_clock_cache")

    def __init__(self, colors: bool, show_time: bool, error_key: str | None = None) -> None:
        self.colors = check_bool("colors", colors)
        self.show_time = check_bool("show_time", show_time)
        self.error_key = check_key("error_key", error_key)
        levels = {}
        for level in LogLevel:
            pad = " " * (5 - len(level.name)) + " "
            if colors:
                levels[level] = _LEVEL_COLORS[level] + level.name + _RESET + pad
            else:
                levels[level] = level.name + pad
        self._levels = levels
        self._time_open = _DIM if colors else ""
        self._time_close = _RESET + " " if colors else " "
        self._key_open = " " + _CYAN if colors else " "
        self._key_close = _RESET + "=" if colors else "="
        # (second, "[dim]HH:MM:SS.") for the last second rendered.
        self._clock_cache: tuple[int | None, str] = (None, "")

    def __repr__(self) -> str:
        return (f"ConsoleFormat(colors={self.colors!r}, show_time={self.show_time!r}, "
                f"error_key={self.error_key!r})")

    def render(self, entry: Any) -> str:
        """The whole console line for ``entry`` (and its traceback), newline included."""
        return render_console(entry, self)


class LineTransport(LineSink):
    """A transport that writes one rendered line per entry to a stream.

    ``format`` is an object with ``render(entry)`` returning the whole line (``bytes``
    or ``str``, as its ``binary`` attribute says). The line is converted to what the
    stream takes (``binary=True`` for a stream of bytes) and handed to exactly one
    ``write()`` call, so a reader of the stream never sees half an entry.
    ``stream=None`` means ``sys.<default_stream>`` as it is at each write; a given
    stream's ``write`` is looked up once, here.

    When a subclass does not override ``send`` or ``write_line``, the kernel renders
    once per format per entry (and, compiled, in C without a ``send`` frame).
    """

    def __init__(self, format: Any, stream: Any = None, *, binary: bool = False,
                 default_stream: str = "stdout", id: str = "", level: Any = None,
                 enabled: bool = True) -> None:
        super().__init__(id, level=level, enabled=enabled)
        if not callable(getattr(format, "render", None)):
            raise TypeError(f"format must have a render(entry) method, "
                            f"got {type(format).__name__}")
        if stream is not None and not callable(getattr(stream, "write", None)):
            raise TypeError(f"stream must have a write() method, got {type(stream).__name__}")
        if default_stream not in ("stdout", "stderr"):
            raise ValueError(f"default_stream must be 'stdout' or 'stderr', "
                             f"got {default_stream!r}")
        self._format = format
        self._stream = stream
        self._write = None if stream is None else stream.write
        self._binary = check_bool("binary", binary)
        self._default_stream = default_stream
        produces_bytes = bool(getattr(format, "binary", False))
        self._decode = produces_bytes and not self._binary
        self._encode = self._binary and not produces_bytes

    @property
    def format(self) -> Any:
        """The format that renders each entry."""
        return self._format

    @property
    def stream(self) -> Any:
        """The stream written to: the one given, else ``sys.<default_stream>`` as it is now."""
        return self._stream if self._stream is not None else getattr(sys, self._default_stream)

    def _render(self, entry: Any) -> Any:
        return self._format.render(entry)

    def _write_line(self, line: Any) -> None:
        # A line that does not convert (a custom format's lone surrogate, or bytes that
        # are not UTF-8) is written with backslash escapes rather than lost.
        if self._decode:
            line = bytes.decode(line, "utf-8", "backslashreplace")
        elif self._encode:
            line = str.encode(line, "utf-8", "backslashreplace")
        if self._write is not None:
            self._write(line)
        else:
            stream = getattr(sys, self._default_stream)
            if stream is not None:  # no console at all (pythonw, a daemon)
                stream.write(line)

    def flush(self) -> None:
        stream = self._stream if self._stream is not None else getattr(sys, self._default_stream)
        flush = getattr(stream, "flush", None)
        if callable(flush):
            flush()


# -- shared helpers --------------------------------------------------------------------


def _default(obj: object) -> str:
    """orjson's ``default``: an unserialisable value is written as its ``str()``."""
    try:
        return str(obj)
    except Exception:
        return f"<unserializable {type(obj).__name__}>"


def _level_name(level: object) -> str:
    """The name of a level outside the table (the core only sends LogLevel members)."""
    try:
        name = getattr(level, "name", None)
    except Exception:  # a hostile __getattribute__: its text
        name = None
    return name if type(name) is str else text_of(level)


def _message_text(messages: Any, prefix: object) -> str:
    """The prefix (when non-empty) and the messages as text, joined by one space."""
    if prefix:
        parts = [prefix if type(prefix) is str else text_of(prefix)]
    elif len(messages) == 1:
        message = messages[0]
        return message if type(message) is str else text_of(message)
    else:
        parts = []
    for message in messages:
        parts.append(message if type(message) is str else text_of(message))
    return " ".join(parts)


# -- JSON ------------------------------------------------------------------------------


def _civil_date(days: int) -> tuple[int, int, int]:
    """(year, month, day) of the proleptic Gregorian date ``days`` after 1970-01-01.

    Integer arithmetic over 400-year eras with years starting in March, so leap days
    fall at the end of a year; exact for any int, with no platform ``gmtime`` limits.
    """
    shifted = days + 719_468  # days from 0000-03-01
    era = shifted // 146_097
    day_of_era = shifted - era * 146_097
    year_of_era = (day_of_era - day_of_era // 1460 + day_of_era // 36_524
                   - day_of_era // 146_096) // 365
    day_of_year = day_of_era - (365 * year_of_era + year_of_era // 4 - year_of_era // 100)
    month_index = (5 * day_of_year + 2) // 153  # 0 = March
    day = day_of_year - (153 * month_index + 2) // 5 + 1
    month = month_index + 3 if month_index < 10 else month_index - 9
    year = year_of_era + era * 400 + (1 if month <= 2 else 0)
    return year, month, day


def _iso_head(seconds: int) -> str:
    """``YYYY-MM-DDTHH:MM:SS.`` (UTC) for a Unix time in seconds."""
    days, rest = divmod(seconds, _SECONDS_PER_DAY)
    year, month, day = _civil_date(days)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{year:04d}-{month:02d}-{day:02d}T{hours:02d}:{minutes:02d}:{secs:02d}."


def _iso_time(fmt: JsonFormat, time_ns: int) -> str:
    seconds, ns = divmod(time_ns, _NS_PER_SECOND)
    cache = fmt._iso_cache
    if cache[0] == seconds:
        head = cache[1]
    else:
        head = _iso_head(seconds)
        fmt._iso_cache = (seconds, head)
    return head + _MILLIS_Z[ns // _NS_PER_MS]


def _root_key(key: object, renames: dict) -> str:
    """A key for the root object: a str, renamed when it is a reserved key."""
    if type(key) is not str:
        key = text_of(key)
    return renames.get(key, key)


def _merge_exact(root: dict, items: dict, renames: dict, name: str) -> None:
    """Copy ``items`` into ``root`` key by key: keys made str, reserved keys renamed.

    The items are a snapshot (another thread may change the dict while the line is
    rendered); when they cannot be read at all, their text goes under ``name``.
    """
    pairs = _items(items)
    if pairs is None:
        root[_root_key(name, renames)] = _default(items)
        return
    for key, value in pairs:
        if type(key) is not str:
            key = text_of(key)
        if key in renames:
            key = renames[key]
        root[key] = value


def _json_root(entry: Any, fmt: JsonFormat, exact: bool) -> dict:
    """The object ``render_json`` writes, keys in their documented order.

    With ``exact`` false, a data or metadata dict holding no reserved key is merged with
    one ``dict.update``, leaving any non-str key as it is; orjson then rejects the
    object and ``render_json`` builds it again with ``exact`` true, which converts every
    key. Both give the same object whenever the first is serialisable.
    """
    level = entry.level
    name = _JSON_LEVELS.get(level)
    if name is None:
        name = _level_name(level).lower()
    messages = entry.messages
    prefix = entry.prefix
    if not prefix and len(messages) == 1 and type(messages[0]) is str:
        text = messages[0]
    else:
        text = _message_text(messages, prefix)
    mode = fmt._time_mode
    if mode == _TIME_NONE:
        root: dict = {fmt.level_key: name, fmt.message_key: text}
    else:
        time_ns = entry.time_ns
        if mode == _TIME_ISO:
            stamp = _iso_time(fmt, time_ns)
        elif mode == _TIME_EPOCH:
            stamp = time_ns / 1e9
        elif mode == _TIME_EPOCH_MS:
            stamp = time_ns // _NS_PER_MS
        else:
            stamp = time_ns
        root = {fmt.time_key: stamp, fmt.level_key: name, fmt.message_key: text}
    renames = fmt._renames
    reserved = fmt._reserved
    data = entry.data
    if data:
        if exact:
            _merge_exact(root, data, renames, "data")
        else:
            for key in reserved:
                if key in data:
                    _merge_exact(root, data, renames, "data")
                    break
            else:
                root.update(data)
    metadata = entry.metadata
    if metadata is not None:
        mapped = metadata if type(metadata) is dict else to_map(metadata)
        metadata_key = entry.metadata_key
        if mapped is None:
            root[_root_key(metadata_key or "metadata", renames)] = metadata
        elif metadata_key:
            root[_root_key(metadata_key, renames)] = mapped
        elif exact:
            _merge_exact(root, mapped, renames, "metadata")
        else:
            for key in reserved:
                if key in mapped:
                    _merge_exact(root, mapped, renames, "metadata")
                    break
            else:
                root.update(mapped)
    return root


def render_json(entry: Any, fmt: JsonFormat) -> bytes:
    """One JSON object for ``entry``, as UTF-8 bytes ending in ``b"\\n"``. Never raises
    because of the entry's data: values orjson rejects are written as text, NaN and the
    infinities as ``null`` (JSON has no such numbers), and the characters that end a
    line for some readers (DEL, C1 controls, U+2028, U+2029) as ``\\uXXXX`` escapes."""
    try:
        line = orjson.dumps(_json_root(entry, fmt, False), default=_default, option=_OPTIONS)
    except Exception:
        return _render_json_exact(entry, fmt)
    return line if line.isascii() and b"\x7f" not in line else _json_safe(line)


def _render_json_exact(entry: Any, fmt: JsonFormat) -> bytes:
    """The cold path: every key converted, then, if orjson still refuses, sanitized."""
    root = _json_root(entry, fmt, True)
    try:
        line = orjson.dumps(root, default=_default, option=_OPTIONS)
    except Exception:
        line = orjson.dumps(sanitize_for_json(root), option=_OPTIONS)
    return _json_safe(line)


def _json_safe(line: bytes) -> bytes:
    """``line`` (orjson's UTF-8) with DEL, the C1 controls, U+2028 and U+2029 written as
    ``\\uXXXX``: orjson leaves them raw, and line-oriented readers (``str.splitlines``,
    JavaScript, some log shippers) end a line at U+0085, U+2028 or U+2029. In JSON text
    they can only stand inside strings, where the escape means the same character."""
    if line.isascii() and b"\x7f" not in line:
        return line
    text = line.decode("utf-8")
    if _JSON_UNSAFE.isdisjoint(text):
        return line
    return text.translate(_JSON_UNSAFE_ESCAPES).encode("utf-8")


def sanitize_for_json(value: Any) -> Any:
    """A copy of ``value`` that orjson always accepts; the cold path of both renderers.

    dicts, lists, tuples, sets and frozensets are walked (sets become lists) down to
    depth 32, below which a container becomes ``"[Truncated]"``; a container met again
    inside itself becomes ``"[Circular]"``. Non-str keys become ``str(key)``. Values
    orjson writes natively are kept (str, in-range int, float, bool, None, and exact
    ``datetime``/``date``/``time``/``UUID``); dataclass instances and enum members are
    walked as orjson would write them (their fields, their value); anything else,
    including ints beyond 64 bits, becomes its ``str()`` (or ``<unserializable T>``).
    Lone surrogates, which are not UTF-8, are written as ``\\udcXX`` escapes.
    """
    return _sanitize(value, 0, set())


def _sanitize(value: Any, depth: int, path: set) -> Any:
    # Types are tested with issubclass(type(value), ...): isinstance would also consult
    # value.__class__, which a proxy object may make raise.
    cls = type(value)
    if value is None or cls is float:
        return value
    if issubclass(cls, str):
        return _utf8_text(value)
    if issubclass(cls, int):
        return value if _INT_MIN <= value <= _INT_MAX else _utf8_text(_default(value))
    if issubclass(cls, _CONTAINERS):
        return _sanitize_container(value, depth, path)
    if cls in _NATIVE_SCALARS:
        return value
    if issubclass(cls, enum.Enum):
        return _sanitize_nested(value, depth, path, _enum_value)
    if dataclasses.is_dataclass(cls):
        return _sanitize_nested(value, depth, path, _dataclass_fields)
    return _utf8_text(_default(value))


def _utf8_text(text: str) -> str:
    """``text`` with lone surrogates (which orjson rejects) written as ``\\udcXX``."""
    if str.isascii(text):
        return text
    try:
        str.encode(text, "utf-8")
    except UnicodeEncodeError:
        return str.encode(text, "utf-8", "backslashreplace").decode("utf-8")
    return text


def _enum_value(member: enum.Enum) -> Any:
    return member.value


def _dataclass_fields(instance: Any) -> dict:
    return {field.name: getattr(instance, field.name) for field in dataclasses.fields(instance)}


def _sanitize_nested(value: Any, depth: int, path: set, unwrap: Any) -> Any:
    """Sanitize what ``unwrap(value)`` gives, one level deeper; its text if that fails."""
    if depth >= _MAX_DEPTH:
        return "[Truncated]"
    try:
        inner = unwrap(value)
    except Exception:
        return _utf8_text(_default(value))
    return _sanitize(inner, depth + 1, path)


def _sanitize_container(value: Any, depth: int, path: set) -> Any:
    if depth >= _MAX_DEPTH:
        return "[Truncated]"
    ident = id(value)
    if ident in path:
        return "[Circular]"
    path.add(ident)
    try:
        if issubclass(type(value), dict):
            result = {}
            for key, item in value.items():
                key = _utf8_text(key if type(key) is str else text_of(key))
                result[key] = _sanitize(item, depth + 1, path)
            return result
        return [_sanitize(item, depth + 1, path) for item in value]
    except Exception:  # a container subclass whose iteration fails
        return _utf8_text(_default(value))
    finally:
        path.discard(ident)


# -- console ---------------------------------------------------------------------------


def _clock_head(seconds: int) -> str:
    """``HH:MM:SS.`` in local time (UTC when the platform cannot convert ``seconds``)."""
    try:
        local = time.localtime(seconds)
        hours, minutes, secs = local.tm_hour, local.tm_min, local.tm_sec
    except (OverflowError, OSError, ValueError):
        hours, rest = divmod(seconds % _SECONDS_PER_DAY, 3600)
        minutes, secs = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}."


def _clock_text(fmt: ConsoleFormat, time_ns: int) -> str:
    seconds, ns = divmod(time_ns, _NS_PER_SECOND)
    cache = fmt._clock_cache
    if cache[0] == seconds:
        head = cache[1]
    else:
        head = fmt._time_open + _clock_head(seconds)
        fmt._clock_cache = (seconds, head)
    return head + _MILLIS[ns // _NS_PER_MS] + fmt._time_close


def _console_message(messages: Any) -> str:
    """The messages as escaped text joined by one space; ``Multiline`` kept on lines."""
    if len(messages) == 1:
        message = messages[0]
        if type(message) is str:
            return _escape(message)
    parts = []
    for message in messages:
        if type(message) is str:
            parts.append(_escape(message))
        elif issubclass(type(message), Multiline):
            parts.append(_multiline_text(message))
        else:
            parts.append(_escape(text_of(message)))
    return " ".join(parts)


def _multiline_text(message: Multiline) -> str:
    """A ``Multiline``'s lines, each escaped, joined by a newline and an indent; its
    ``str()`` on one line when its lines cannot be read (a hostile subclass)."""
    try:
        return _MULTILINE_JOIN.join([_escape(line if type(line) is str else text_of(line))
                                     for line in message.lines])
    except Exception:
        return _escape(text_of(message))


def _json_text(value: Any) -> str:
    """Compact JSON for ``value``, with the line separators orjson leaves raw escaped."""
    try:
        raw = orjson.dumps(value, default=_default)
    except Exception:
        raw = orjson.dumps(sanitize_for_json(value))
    text = raw.decode()
    if _JSON_UNSAFE.isdisjoint(text):
        return text
    return text.translate(_JSON_UNSAFE_ESCAPES)


def _is_bare(text: str) -> bool:
    """Whether ``text`` (an exact str) can be written without quotes on the console:
    non-empty, with no space, ``=``, ``"``, control character or lone surrogate, so
    ``key=value`` pairs always split back the way they were written."""
    return (text != "" and " " not in text and "=" not in text and '"' not in text
            and (text.isprintable() or _CONTROL.isdisjoint(text)))


def _console_key(key: object) -> str:
    """A key as text: bare when it can be (see :func:`_is_bare`), else JSON-quoted."""
    if type(key) is not str:
        key = text_of(key)
    return key if _is_bare(key) else _json_text(key)


def _console_value(value: Any) -> str:
    """A str bare when it can be (see :func:`_is_bare`); anything else as compact JSON."""
    cls = type(value)
    if cls is not str and issubclass(cls, str):
        value = str.__str__(value)  # its characters, whatever the subclass overrides
    if type(value) is str and _is_bare(value):
        return value
    return _json_text(value)


# -- console: the error ------------------------------------------------------------------
#
# The console shows an entry's error as ``err=Type: message`` and, when it was raised,
# its traceback below the line. JSON shows the serialized error in the data, which hooks
# may have changed (redact censors it there), so the console takes the text from the
# same place: from the exception while the data holds exactly what loglayer's default
# serializer makes of it (or nothing), else from the data.

#: No serialized error in the data.
_ABSENT: Any = object()


def _raised(error: Any) -> bool:
    """Whether ``error`` is an exception with a traceback (never raises)."""
    if not issubclass(type(error), BaseException):
        return False
    try:
        return error.__traceback__ is not None
    except Exception:  # a hostile __getattribute__
        return False


def _get(mapping: dict, key: str) -> Any:
    """``mapping.get(key)``; None when a dict subclass' lookup fails."""
    try:
        return mapping.get(key)
    except Exception:
        return None


def _as_written(error: BaseException, serialized: Any) -> bool:
    """Whether ``serialized`` is what the default serializer makes of ``error``."""
    if not issubclass(type(serialized), dict):
        return False
    try:
        return bool(serialized == serialize_error(error))
    except Exception:
        return False


def _chain_text(error: BaseException, serialized: dict) -> str | None:
    """The traceback Python would print, built from a serialized error's ``traceback``
    texts along its ``cause`` chain (with the separators the live chain has); None when
    the serialized error holds no traceback text."""
    links: list[Any] = []
    node: Any = serialized
    while issubclass(type(node), dict) and len(links) <= MAX_CHAIN_DEPTH:
        links.append(node)
        node = _get(node, "cause")
    if not any(type(_get(link, "traceback")) is str for link in links):
        return None
    separators = []  # between each link and the one it was caused by
    exc: Any = error
    for _ in links:
        try:
            caused = exc.__cause__ is not None
            exc = exc.__cause__ if caused else exc.__context__
        except Exception:
            caused, exc = True, None
        separators.append(_CAUSE_MESSAGE if caused else _CONTEXT_MESSAGE)
    parts = []
    for index in range(len(links) - 1, -1, -1):
        link = links[index]
        text = _get(link, "traceback")
        if type(text) is not str:  # a link that was never raised: its last line
            name, message = _get(link, "type"), _get(link, "message")
            text = f"{text_of(name)}: {text_of(message)}" if message else text_of(name)
        parts.append(text if text.endswith("\n") else text + "\n")
        if index:
            parts.append(separators[index - 1])
    return "".join(parts)


def _error_parts(error: Any, serialized: Any) -> tuple[str, str | None]:
    """What text shows of ``error``: the value after ``err=`` (escaped) and the traceback
    text (not yet indented; None when none is shown). ``serialized`` is the entry's
    ``data[error_key]``, or ``_ABSENT``.

    From the exception when the data holds no serialized error, or exactly what the
    default serializer makes of it: ``Type: message``, and the traceback when it was
    raised. Otherwise from the data, as JSON shows it: a dict's ``message`` after the
    exception's type name, a str as it is, another shape as a value; the traceback from
    the ``traceback`` texts of the dict and its ``cause`` chain, or, when the data has
    none, the exception's own only while its message is still shown whole (a censored
    message must not be printed there).
    """
    name = type(error).__name__
    if serialized is _ABSENT or _as_written(error, serialized):
        message = text_of(error)
        summary = _escape(name + ": " + message if message else name)
        return summary, format_traceback(error) if _raised(error) else None
    cls = type(serialized)
    traceback = None
    if issubclass(cls, dict):
        message = _get(serialized, "message")
        if type(message) is str:
            summary = _escape(name + ": " + message if message else name)
        else:
            summary = _console_value(serialized)
        traceback = _chain_text(error, serialized)
    elif issubclass(cls, str):
        summary = _escape(str.__str__(serialized))
    else:
        summary = _console_value(serialized)
    if traceback is None and _raised(error):
        message = text_of(error)
        if _escape(message) in summary:
            traceback = format_traceback(error)
    return summary, traceback


def _error_summary(error: Any) -> str:
    """``Type: message`` (just ``Type`` when the message is empty), escaped."""
    return _error_parts(error, _ABSENT)[0]


def _indented(traceback: str | None) -> str:
    """``traceback`` with each line escaped and indented by four spaces ("" for None)."""
    if not traceback:
        return ""
    lines = traceback.split("\n")
    if not lines[-1]:
        lines.pop()
    return "".join([_TRACEBACK_INDENT + _escape(line) + "\n" for line in lines])


# -- console: the line -------------------------------------------------------------------


def _items(mapping: Any) -> list | None:
    """A snapshot of ``mapping``'s items, or None when they cannot be read.

    For a dict (or a subclass) the copy is made in C, from its storage: no Python code
    runs meanwhile, so another thread cannot change it halfway (a retry covers a
    collector's finalizer doing so). For another mapping, its ``items()``.
    """
    for _ in range(_SNAPSHOT_TRIES):
        try:
            if issubclass(type(mapping), dict):
                return list(dict.items(mapping))
            return list(mapping.items())
        except RuntimeError:  # changed while copied
            continue
        except Exception:
            return None
    return None


def _data_pairs(items: Any, fmt: ConsoleFormat, error: Any, error_key: str | None
                ) -> tuple[str, tuple[str, str | None] | None]:
    """`` key=value`` for each (key, value) of ``items``, the one under ``error_key`` as
    the error; and the error's parts (see :func:`_error_parts`) when it was there."""
    key_open = fmt._key_open
    key_close = fmt._key_close
    shown = None
    pairs = ""
    for key, value in items:
        if type(key) is not str:
            key = text_of(key)
        if key == error_key:
            shown = _error_parts(error, value)
            pairs += key_open + _console_key(key) + key_close + shown[0]
            error_key = None
        else:
            pairs += key_open + _console_key(key) + key_close + _console_value(value)
    return pairs, shown


def _metadata_pairs(items: Any, fmt: ConsoleFormat) -> str:
    key_open = fmt._key_open
    key_close = fmt._key_close
    return "".join([key_open + _console_key(key) + key_close + _console_value(value)
                    for key, value in items])


def render_console(entry: Any, fmt: ConsoleFormat) -> str:
    """One human-readable line for ``entry`` ending in ``"\\n"``, then the indented
    traceback when the entry's error was raised. Never raises because of the data."""
    level = entry.level
    line = fmt._levels.get(level)
    if line is None:
        name = _escape(_level_name(level).upper())
        line = name + " " * (5 - len(name)) + " "
    if fmt.show_time:
        line = _clock_text(fmt, entry.time_ns) + line
    prefix = entry.prefix
    if prefix:
        line += _escape(prefix if type(prefix) is str else text_of(prefix)) + " "
    messages = entry.messages
    if len(messages) == 1 and type(messages[0]) is str:
        message = messages[0]
        line += message if message.isprintable() else _escape(message)
    else:
        line += _console_message(messages)
    error = entry.error
    error_key = None
    if error is not None:
        error_key = fmt.error_key
        if error_key is None:
            error_key = getattr(entry, "error_key", "err")
    data = entry.data
    shown = None
    if data:
        try:
            pairs, shown = _data_pairs(data.items(), fmt, error, error_key)
        except Exception:  # another thread changed it meanwhile, or its items() failed
            items = _items(data)
            if items is None:
                pairs = fmt._key_open + "data" + fmt._key_close + _console_value(data)
            else:
                pairs, shown = _data_pairs(items, fmt, error, error_key)
        line += pairs
    if error_key is not None and shown is None:
        # the error is not in the data (a hook removed it): from the exception
        shown = _error_parts(error, _ABSENT)
        line += fmt._key_open + _console_key(error_key) + fmt._key_close + shown[0]
    metadata = entry.metadata
    if metadata is not None:
        line += _console_metadata(metadata, fmt)
    line += "\n"
    if shown is not None and shown[1] is not None:
        line += _indented(shown[1])
    return line


def _console_metadata(metadata: Any, fmt: ConsoleFormat) -> str:
    """`` key=value`` pairs for the metadata: its items when it maps, else ``metadata=``
    (also when its items cannot be read)."""
    mapped = metadata if type(metadata) is dict else to_map(metadata)
    if mapped is not None:
        try:
            return _metadata_pairs(mapped.items(), fmt)
        except Exception:  # another thread changed it meanwhile, or its items() failed
            items = _items(mapped)
            if items is not None:
                return _metadata_pairs(items, fmt)
    return fmt._key_open + "metadata" + fmt._key_close + _console_value(metadata)
