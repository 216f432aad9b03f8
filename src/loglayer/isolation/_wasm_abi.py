"""The document format between the host and a WebAssembly plugin (ABI version 1).

Each hook call hands the guest one JSON document and reads back one JSON document
holding the hook's return value in Python terms. The full contract, with the call
sequence and the guest's exports, is in ``docs/wasm-abi.md``; this module is the
host's side of the documents, shared by the generic path (wasmtime-py) and the
compiled fast path (``_wasmfast``), so both send the same bytes.

Input documents are JSON objects whose first key is ``"v"``, the schema version,
followed by the hook's arguments in a fixed order:

* ``on_fields_called``: ``{"v":1,"fields":{...}}``
* ``on_metadata_called``: ``{"v":1,"metadata":<any>}``
* dispatch hooks (``on_before_data_out``, ``on_before_message_out``,
  ``transform_log_level``): ``{"v":1,"level":30,"messages":[...],"data":{...},
  "metadata":<any>,"error":null|{"type":..,"message":..},"prefix":null|"...",
  "groups":[...]}``
* ``should_send``: the same, plus ``"transport_id":"..."`` last.

``groups`` are the entry's group tags (``LogLayer.with_group``), an empty array when it
has none. A guest sees them and cannot change them: routing by group happens in the
host after the hooks, on the entry the host assembled from the guest's results.

``fields`` are not sent separately to dispatch hooks: they are already part of
``data`` as it was assembled (at the root or under ``fields_key``), and muted fields
stay out of the sandbox. ``ctx`` is never sent: it is an arbitrary host object, and a
sandboxed guest sees nothing the host does not hand it.

Values that JSON cannot hold are converted, never refused: record-like objects
(dataclasses, pydantic and attrs models, namedtuples, ...) become objects through
:func:`loglayer.utils.to_map`, exceptions ``{"type","message"}``, anything else its
``str()``. Non-string keys become strings.

Results: the guest's document is decoded with orjson; JSON ``null`` (or the packed
result 0) means ``None``. Each hook accepts only the result types the core can use
(see :data:`RESULT_TYPES`); anything else is a :class:`GuestError` of kind
``"bad_result"``, so the fallback table applies and the plugin's ``on_error`` hears
about it, instead of, say, a gate that returned ``{}`` silently dropping entries.
"""

from __future__ import annotations

import os
from typing import Any

import orjson

from ..plugin import HOOK_NAMES
from ..utils import to_map

__all__ = [
    "FastPathUnavailable",
    "ABI_VERSION",
    "DISPATCH_HOOKS",
    "GuestError",
    "HOOK_NAMES",
    "INPUT_HOOKS",
    "JSON_OPTIONS",
    "RESULT_TYPES",
    "SCHEMA_VERSION",
    "check_result",
    "decode_result",
    "encode",
    "encode_fields",
    "encode_metadata",
    "encode_params",
    "error_document",
    "include_dir",
    "json_default",
]

#: The version a guest may declare through its ``loglayer_abi_version()`` export: the
#: exports, their signatures, the call sequence and the packing of results.
ABI_VERSION = 1
#: The value of ``"v"`` in every input document: the keys and their meaning.
SCHEMA_VERSION = 1

#: Hooks that receive one plain value (no params object).
INPUT_HOOKS = ("on_fields_called", "on_metadata_called")
#: Hooks that receive the params object of one emission.
DISPATCH_HOOKS = ("on_before_data_out", "on_before_message_out", "transform_log_level",
                  "should_send")

#: orjson options for a document with non-string dict keys, which become strings
#: instead of failing the call. Documents are first encoded without them: the option
#: roughly doubles orjson's cost, and the output is the same when every key is a str.
JSON_OPTIONS = orjson.OPT_NON_STR_KEYS

#: Per hook, the Python types its decoded result may have (``None`` is always allowed).
RESULT_TYPES: dict[str, tuple[type, ...]] = {
    "on_fields_called": (dict,),
    "on_metadata_called": (dict, list, str, int, float, bool),
    "on_before_data_out": (dict,),
    "on_before_message_out": (list,),
    "transform_log_level": (int, str),
    "should_send": (bool,),
}


def include_dir() -> str:
    """The directory holding ``loglayer_guest.h``, the C header for guest authors
    (pass it to the compiler with ``-I``)."""
    return os.path.dirname(os.path.abspath(__file__))


class FastPathUnavailable(ImportError):
    """Raised by the compiled fast path at import when the installed wasmtime does not
    match what it was built against; the host then uses the generic path."""


class GuestError(Exception):
    """A WebAssembly guest failed a hook call; the core reports it as a PluginError.

    ``kind`` says how, so handlers and tests can tell the cases apart:

    * ``"fuel"``: the call used up its fuel (CPU budget);
    * ``"timeout"``: the wall-clock deadline passed (epoch interruption);
    * ``"stack"``: the guest overflowed its stack;
    * ``"trap"``: any other trap (``unreachable``, an out-of-bounds access, ...);
    * ``"bad_pointer"``: ``alloc`` or the hook returned a pointer or length outside
      the guest's memory;
    * ``"bad_json"``: the result is not valid JSON;
    * ``"bad_result"``: valid JSON of a type the hook cannot return;
    * ``"error"``: wasmtime refused the call for another reason.

    After any of them the instance that failed is thrown away and a fresh one takes
    its place, since the guest's state may be half-updated.
    """

    def __init__(self, kind: str, message: str) -> None:
        self.kind = kind
        super().__init__(message)

    def __reduce__(self):  # keep pickling working despite the custom __init__
        return (type(self), (self.kind, str(self)))


def error_document(error: BaseException) -> dict[str, str]:
    """An exception as the small ``{"type", "message"}`` object guests receive."""
    try:
        message = str(error)
    except Exception:
        message = f"<str() failed: {type(error).__name__}>"
    return {"type": type(error).__name__, "message": message}


def json_default(value: Any) -> Any:
    """orjson's fallback for values JSON cannot hold; never raises.

    Record-like objects become objects (``to_map``), exceptions their
    :func:`error_document`, sets and tuples lists, and anything else its ``str()``.
    """
    if isinstance(value, BaseException):
        return error_document(value)
    if isinstance(value, (set, frozenset)):
        return list(value)
    mapped = to_map(value)
    if mapped is not None:
        return mapped
    try:
        return str(value)
    except Exception:
        return f"<{type(value).__name__}>"


def encode(document: Any) -> bytes:
    """One input document as JSON bytes, with the ABI's conversions."""
    try:
        return orjson.dumps(document, json_default)
    except TypeError:  # a non-str key (orjson.JSONEncodeError is a TypeError)
        return orjson.dumps(document, json_default, JSON_OPTIONS)


def encode_fields(fields: Any) -> bytes:
    """The input of ``on_fields_called``."""
    return encode({"v": SCHEMA_VERSION, "fields": fields})


def encode_metadata(metadata: Any) -> bytes:
    """The input of ``on_metadata_called``."""
    return encode({"v": SCHEMA_VERSION, "metadata": metadata})


def encode_params(params: Any, with_transport: bool) -> bytes:
    """The input of a dispatch hook, from the core's params object.

    ``with_transport`` adds ``transport_id`` (``should_send`` only).
    """
    error = params.error
    document = {
        "v": SCHEMA_VERSION,
        "level": params.level,
        "messages": params.messages,
        "data": params.data,
        "metadata": params.metadata,
        "error": None if error is None else error_document(error),
        "prefix": params.prefix,
        "groups": getattr(params, "groups", None) or (),  # hand-made params may lack it
    }
    if with_transport:
        document["transport_id"] = params.transport_id
    return encode(document)


def decode_result(payload: bytes | None) -> Any:
    """The guest's result document as a Python value; ``None`` stays ``None``.

    Raises :class:`GuestError` (``"bad_json"``) when the bytes are not JSON.
    """
    if payload is None:
        return None
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        preview = bytes(payload[:40])
        raise GuestError("bad_json", f"the guest returned invalid JSON ({len(payload)} "
                                     f"bytes, starting {preview!r}): {exc}") from None


def check_result(hook: str, value: Any) -> Any:
    """``value`` when ``hook`` may return it, else :class:`GuestError` (``"bad_result"``)."""
    if value is None or type(value) in RESULT_TYPES[hook]:
        return value
    raise GuestError("bad_result", f"{hook} returned a JSON {_json_kind(value)}, which that "
                                   "hook cannot return")


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"
