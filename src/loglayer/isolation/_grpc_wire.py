"""What crosses the wire between a ``GrpcPlugin`` host and a served plugin.

Both sides import this module: the go-plugin handshake constants (the magic cookie, the
protocol versions, the environment variables go-plugin hosts set) and the one encoding of
hook arguments and results that ``loglayer_plugin.proto`` describes. Values travel as JSON
(``orjson``): JSON-like values as they are, record-like objects through
:func:`loglayer.utils.to_map`, anything else as its ``str()``. Errors travel serialized
(``{"type", "message", "traceback"?, "cause"?}``); ``ctx`` never crosses. An entry's
``groups`` cross so that hooks see them, but routing by group stays with the host.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from .._errorfmt import serialize_error
from .._select import HookParams
from ..levels import LogLevel
from ..utils import to_map
from .proto import loglayer_plugin_pb2 as pb

__all__ = [
    "APP_PROTOCOL_VERSION",
    "CORE_PROTOCOL_VERSION",
    "ENV_MAX_PORT",
    "ENV_MIN_PORT",
    "ENV_PROTOCOL_VERSIONS",
    "ENV_UNIX_SOCKET_DIR",
    "HEALTH_SERVICE",
    "LEVELS",
    "MAGIC_COOKIE_KEY",
    "MAGIC_COOKIE_VALUE",
    "NOT_A_PLUGIN_MESSAGE",
    "SOCKET_DIR_PREFIX",
    "decode_batch",
    "decode_params",
    "dumps",
    "encode_batch",
    "encode_params",
    "loads",
    "pb",
]

#: The handshake's magic cookie: a host sets it in the child's environment, a plugin
#: refuses to run without it. It says "this process was started by a loglayer host",
#: nothing more: it is not a secret. Go plugins use the same key and value.
MAGIC_COOKIE_KEY = "LOGLAYER_PLUGIN_MAGIC_COOKIE"
MAGIC_COOKIE_VALUE = "7d1c5e0a9b3f4e26a8c2d6f1b0e9a4c3"

#: go-plugin's own protocol version: the first field of the handshake line.
CORE_PROTOCOL_VERSION = 1
#: The version of ``loglayer_plugin.proto``: the second field of the handshake line.
APP_PROTOCOL_VERSION = 1

#: The ``grpc.health.v1`` service name a go-plugin plugin reports SERVING.
HEALTH_SERVICE = "plugin"

#: How the private directories of ``serve``'s Unix sockets are named (a host removes a
#: dead plugin's directory, which the plugin could not).
SOCKET_DIR_PREFIX = "loglayer-plugin-"

# Environment variables go-plugin hosts set for their plugins.
ENV_PROTOCOL_VERSIONS = "PLUGIN_PROTOCOL_VERSIONS"
ENV_MIN_PORT = "PLUGIN_MIN_PORT"
ENV_MAX_PORT = "PLUGIN_MAX_PORT"
ENV_UNIX_SOCKET_DIR = "PLUGIN_UNIX_SOCKET_DIR"

#: What a go-plugin plugin prints (to stderr, exiting with status 1) when it is run
#: without the magic cookie, for example by hand from a shell.
NOT_A_PLUGIN_MESSAGE = (
    "This binary is a plugin. These are not meant to be executed directly.\n"
    "Please execute the program that consumes these plugins, which will\n"
    "load any plugins automatically\n"
)

#: Level numbers to levels, without ``LogLevel.parse``'s checks (for the hot paths).
LEVELS = {int(level): level for level in LogLevel}

# Keys that are not str are encoded as text, but orjson's option for it makes every dict
# encode at half speed, so ``dumps`` asks for it only when a document needs it.
_NON_STR_KEYS = orjson.OPT_NON_STR_KEYS
_INT64 = range(-(2**63), 2**64)  # what orjson accepts: int64 and uint64
_MAX_DEPTH = 64


def _default(value: Any) -> Any:
    """orjson's fallback: records as mappings, collections as lists, the rest as text."""
    mapped = to_map(value)
    if mapped is not None:
        return mapped
    if isinstance(value, (set, frozenset)):
        return list(value)
    if isinstance(value, BaseException):
        return serialize_error(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


def _plain(value: Any, depth: int = 0) -> Any:
    """``value`` as plain JSON types, for what orjson refused (huge ints, cycles, depth)."""
    if depth > _MAX_DEPTH:
        return "[too deep]"
    if value is None or isinstance(value, (bool, float, str)):
        return value
    if isinstance(value, int):
        return int(value) if value in _INT64 else str(value)
    if isinstance(value, Mapping):
        return {k if isinstance(k, str) else str(k): _plain(v, depth + 1)
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item, depth + 1) for item in value]
    converted = _default(value)
    if isinstance(converted, str):
        return converted
    return _plain(converted, depth + 1)


def dumps(value: Any) -> bytes:
    """``value`` as JSON bytes; None as ``b""`` (the protocol's "no value"). Never raises
    for a value a hook could see: what orjson refuses is converted first."""
    if value is None:
        return b""
    try:  # with str keys only (nearly always) the fast encoding gives the same bytes
        return orjson.dumps(value, default=_default)
    except (orjson.JSONEncodeError, RecursionError):
        pass  # a key that is not a str, or a value orjson refuses: the slower ways below
    try:
        return orjson.dumps(value, default=_default, option=_NON_STR_KEYS)
    except (orjson.JSONEncodeError, RecursionError):
        try:
            return orjson.dumps(_plain(value), option=_NON_STR_KEYS)
        except (orjson.JSONEncodeError, RecursionError):
            return orjson.dumps(str(value))


def loads(raw: bytes) -> Any:
    """The value of a JSON field; ``b""`` is None. Raises ``orjson.JSONDecodeError``."""
    return orjson.loads(raw) if raw else None


def _error_value(error: Any) -> Any:
    """The error as it crosses: serialized when it is an exception."""
    return serialize_error(error) if isinstance(error, BaseException) else error


def encode_params(params: Any) -> pb.Params:
    """A dispatch hook's ``params`` as a ``Params`` message (one JSON field each)."""
    error = params.error
    prefix = params.prefix
    return pb.Params(
        level=int(params.level),
        messages=dumps(list(params.messages)),
        data=dumps(params.data),
        metadata=dumps(params.metadata),
        error=b"" if error is None else dumps(_error_value(error)),
        fields=dumps(params.fields),
        prefix=prefix or "",
        has_prefix=prefix is not None,
        transport_id=params.transport_id or "",
        groups=getattr(params, "groups", None) or (),
    )


def encode_batch(entries: Iterable[Any], transport_ids: Iterable[str] = ()) -> pb.Batch:
    """Entry-like objects as a ``Batch``: one row per entry in its ``entries`` document,
    their group tags in ``groups`` (left empty when no entry has any).

    ``fields`` is sent as null when it is the entry's ``data`` itself (no ``fields_key``,
    no error: most entries), which saves encoding and decoding it twice. The rows are built
    in one loop here rather than by a call per entry: a batch exists for speed. An entry
    without a ``groups`` attribute (entry-like objects made by hand) has none."""
    rows: list[tuple] = []
    append = rows.append
    tags: list[Any] = []
    add_tags = tags.append
    tagged = False
    for entry in entries:
        error = entry.error
        data = entry.data
        fields = entry.fields
        append((entry.level, entry.messages, data, entry.metadata,
                None if error is None else _error_value(error),
                None if fields is data else fields, entry.prefix))
        groups = getattr(entry, "groups", None) or ()
        if groups:
            tagged = True
        add_tags(groups)
    return pb.Batch(entries=dumps(rows), transport_ids=transport_ids,
                    groups=dumps(tags) if tagged else b"")


def decode_params(message: pb.Params) -> Any:
    """A ``Params`` message as the ``HookParams`` a plugin's dispatch hook receives: as
    in process, except that ``error`` is the serialized error (a dict) or None and
    ``ctx`` is None, since a request context does not cross processes."""
    params = HookParams(
        LEVELS.get(message.level) or LogLevel.parse(message.level),
        loads(message.messages) or [],
        loads(message.data) or {},
        loads(message.metadata),
        loads(message.error),
        loads(message.fields) or {},
        None,
        message.prefix if message.has_prefix else None,
        tuple(message.groups),
    )
    params.transport_id = message.transport_id or None
    return params


def _batch_groups(raw: bytes, count: int) -> list[tuple[str, ...]] | None:
    """A batch's ``groups`` document as one tuple of tags per entry; None when it is
    empty (no entry has a group). ValueError or TypeError when it has another shape."""
    if not raw:
        return None
    document = loads(raw)
    if type(document) is not list or len(document) != count:
        raise ValueError(f"groups: expected an array of {count} arrays")
    groups = []
    for tags in document:
        if type(tags) is not list or not all(type(tag) is str for tag in tags):
            raise TypeError(f"groups: expected arrays of strings, got {tags!r:.100}")
        groups.append(tuple(tags))
    return groups


def decode_batch(message: pb.Batch) -> list[Any]:
    """A ``Batch``'s entries as the ``params`` of each entry, in order, with their groups.

    Raises ``ValueError`` or ``TypeError`` when the documents do not have the documented
    shape. The ``HookParams`` are filled attribute by attribute rather than through
    ``HookParams(...)``: the same attributes, without an ``__init__`` call per entry."""
    batch: list[HookParams] = []
    append = batch.append
    new = HookParams.__new__
    levels = LEVELS
    rows = loads(message.entries) or []
    if type(rows) is not list:
        raise TypeError(f"entries: expected an array, got {type(rows).__name__}")
    groups = _batch_groups(message.groups, len(rows))
    for level, messages, data, metadata, error, fields, prefix in rows:
        if data is None:
            data = {}
        params = new(HookParams)
        params.level = levels.get(level) or LogLevel.parse(level)
        params.messages = messages or []
        params.data = data
        params.metadata = metadata
        params.error = error
        params.fields = data if fields is None else fields
        params.ctx = None
        params.prefix = prefix
        params.groups = () if groups is None else groups[len(batch)]
        params.transport_id = None
        append(params)
    return batch
