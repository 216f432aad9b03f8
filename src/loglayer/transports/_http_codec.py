"""Request bodies for shipping log entries over HTTP: what ``HttpTransport`` posts.

``make_encoder(encoding, labels=..., index=...)`` returns an :class:`Encoder`, which
turns one batch of entries into one request body and names its ``Content-Type``:

* ``"ndjson"``: one JSON line per entry, each exactly the line ``StructuredTransport``
  writes (``{"time", "level", "msg", ...data}`` and a newline), for Vector, Fluent Bit,
  Logstash's ``json_lines`` codec and most HTTP collectors. ``application/x-ndjson``.
* ``"json-array"``: the same objects as one JSON array, for receivers that take a single
  JSON document. ``application/json``.
* ``"loki"``: Grafana Loki's push API (``POST /loki/api/v1/push``), see
  :class:`_LokiEncoder`. ``application/json``.
* ``"elasticsearch"``: Elasticsearch's (and OpenSearch's) ``_bulk`` API, see
  :class:`_BulkEncoder`; :func:`bulk_rejected` reads its answer. ``application/x-ndjson``.
* a callable ``encoder(entries) -> bytes``: your own body; its ``content_type``
  attribute, if it has one, else ``application/octet-stream``.

Every JSON object is rendered once by the live core's ``JsonFormat``, the renderer the
other JSON transports use, and spliced as bytes: no encoding re-parses a line. The
compiled renderer takes only the compiled core's entries; an entry of the pure core (a
logger built from ``loglayer._core_py`` while the compiled core is live) goes through the
pure renderer, which writes the same bytes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from operator import itemgetter
from typing import Any, Protocol

import orjson

from .. import _render_py
from .._common import escape_text, text_of
from .._select import JsonFormat, LogEntry
from .._validate import check_key, check_mapping, type_name
from ..levels import LogLevel

__all__ = ["ENCODINGS", "Encoder", "bulk_rejected", "make_encoder"]

#: The named encodings ``make_encoder`` accepts (besides a callable).
ENCODINGS = ("ndjson", "json-array", "loki", "elasticsearch")

#: Loki's (and Prometheus's) rule for a label name.
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")

#: The field name that means the entry's level in ``labels``.
_LEVEL_FIELD = "level"

_LEVEL_NAMES = {level: level.name.lower() for level in LogLevel}

_MISSING = object()

_by_time = itemgetter(0)


class Encoder(Protocol):
    """Turns one batch of entries into one request body."""

    #: The request's ``Content-Type``.
    content_type: str

    def encode(self, entries: list) -> bytes:
        """The body for ``entries``, in their order."""
        ...


class _Renderer:
    """Renders entries to JSON lines (bytes ending in a newline), each with the
    renderer that takes its core's entries (see the module docstring)."""

    __slots__ = ("_live", "_pure")

    def __init__(self, time_key: str = "time") -> None:
        self._live: Callable[[Any], bytes] = JsonFormat(time_key=time_key).render
        self._pure: Callable[[Any], bytes] = _render_py.JsonFormat(time_key=time_key).render

    def lines(self, entries: list) -> list[bytes]:
        live, pure = self._live, self._pure
        return [live(entry) if isinstance(entry, LogEntry) else pure(entry)
                for entry in entries]


class _NdjsonEncoder:
    """One JSON line per entry."""

    __slots__ = ("_render",)

    content_type = "application/x-ndjson"

    def __init__(self) -> None:
        self._render = _Renderer()

    def encode(self, entries: list) -> bytes:
        return b"".join(self._render.lines(entries))


class _JsonArrayEncoder:
    """The JSON lines, without their newlines, as one JSON array."""

    __slots__ = ("_render",)

    content_type = "application/json"

    def __init__(self) -> None:
        self._render = _Renderer()

    def encode(self, entries: list) -> bytes:
        return b"[" + b",".join([line[:-1] for line in self._render.lines(entries)]) + b"]"


class _LokiEncoder:
    """Loki's push API body: ``{"streams": [{"stream": {labels}, "values": [[ns, line],
    ...]}, ...]}``.

    ``labels`` maps a Loki label name to the field whose value it takes: the entry's
    ``data`` (what the JSON line shows at its root, so persistent fields and
    ``with_fields`` values there), then its ``fields`` (the same fields when the logger
    nests them under ``fields_key``); the field ``"level"`` means the level's name
    (``"info"``). Metadata and the request context are not looked up: they vary per
    entry, and a label per value would make a stream per entry, which Loki's index is
    not built for. A value is written as text (``true``/``false`` for a bool, as in
    the line); a label whose value is missing, None or empty is left out. Entries with
    the same label values share one stream, streams in the order their first entry
    came. Loki refuses a stream without labels (the whole push fails), so an entry none
    of whose labels has a value is labelled ``level`` with its level's name.

    A stream's values are sorted by time (stably), as a Loki without out-of-order
    writes requires; each is the entry's time in nanoseconds as a decimal string and
    its JSON line as a string.
    """

    __slots__ = ("_labels", "_render")

    content_type = "application/json"

    def __init__(self, labels: Mapping[str, str]) -> None:
        self._labels = tuple(labels.items())
        self._render = _Renderer()

    def encode(self, entries: list) -> bytes:
        streams: dict[tuple[tuple[str, str], ...], list[tuple[int, bytes]]] = {}
        for entry, line in zip(entries, self._render.lines(entries), strict=True):
            key = self._stream_of(entry)
            values = streams.get(key)
            if values is None:
                values = streams[key] = []
            values.append((entry.time_ns, line))
        return orjson.dumps({"streams": [
            {"stream": dict(key),
             "values": [[str(time_ns), line[:-1].decode()]
                        for time_ns, line in sorted(values, key=_by_time)]}
            for key, values in streams.items()]})

    def _stream_of(self, entry: Any) -> tuple[tuple[str, str], ...]:
        """The entry's label pairs, in the order ``labels`` gives them."""
        pairs = []
        for label, field in self._labels:
            if field == _LEVEL_FIELD:
                text = _level_name(entry.level)
            else:
                text = _label_text(_field_value(entry, field))
            if text:
                pairs.append((label, text))
        if not pairs:
            pairs.append((_LEVEL_FIELD, _level_name(entry.level)))
        return tuple(pairs)


class _BulkEncoder:
    """Elasticsearch's ``_bulk`` body: per entry, the action line
    ``{"create":{"_index":<index>}}`` and the document line; newline-terminated, as
    ``_bulk`` requires.

    ``create`` rather than ``index``: a data stream (how Elasticsearch stores logs)
    accepts only ``create``, and on a plain index ``create`` with the generated ids
    does what ``index`` does. The document is the JSON line with its time key named
    ``@timestamp`` (ISO 8601, UTC, milliseconds), the field a data stream requires and
    Kibana's default time field, rather than the line's ``time`` plus a second copy of
    the time.
    """

    __slots__ = ("_action", "_render")

    content_type = "application/x-ndjson"

    def __init__(self, index: str) -> None:
        self._action = orjson.dumps({"create": {"_index": index}}) + b"\n"
        self._render = _Renderer(time_key="@timestamp")

    def encode(self, entries: list) -> bytes:
        # The action line before each document: joining [b"", line1, line2, ...] with it.
        return self._action.join([b"", *self._render.lines(entries)])


class _CallableEncoder:
    """Your function's body: ``encoder(entries)`` must return bytes."""

    __slots__ = ("_encoder", "content_type")

    def __init__(self, encoder: Callable[[list], bytes]) -> None:
        self._encoder = encoder
        content_type = getattr(encoder, "content_type", None)
        self.content_type = ("application/octet-stream" if content_type is None else
                             check_key("encoding.content_type", content_type, allow_none=False))

    def encode(self, entries: list) -> bytes:
        body = self._encoder(entries)
        if not isinstance(body, (bytes, bytearray, memoryview)):
            raise TypeError(f"encoding {self._encoder!r} must return bytes, "
                            f"got {type_name(body)}")
        return bytes(body)


def make_encoder(encoding: str | Callable[[list], bytes] = "ndjson", *,
                 labels: Mapping[str, str] | None = None,
                 index: str | None = None) -> Encoder:
    """The encoder for ``encoding``: one of :data:`ENCODINGS` or a callable.

    ``labels`` (``"loki"`` only) maps Loki label names to field names, ``{"level":
    "level"}`` when None; label names must follow Loki's rule (``[a-zA-Z_][a-zA-Z0-9_]*``,
    not starting with ``__``, which Loki reserves). ``index`` (``"elasticsearch"``,
    required there) is the index or data stream written to. Everything is checked here,
    so a bad option fails at construction instead of at every batch.
    """
    if callable(encoding):
        name = "a callable"
    elif isinstance(encoding, str):
        if encoding not in ENCODINGS:
            raise ValueError(f"encoding must be one of {', '.join(map(repr, ENCODINGS))} "
                             f"or a callable, got {encoding!r}")
        name = repr(encoding)
    else:
        raise TypeError(f"encoding must be a str or a callable, got {type_name(encoding)}")
    if labels is not None and encoding != "loki":
        raise ValueError(f"labels must be None for encoding {name} (labels are for 'loki'), "
                         f"got {labels!r}")
    if index is not None and encoding != "elasticsearch":
        raise ValueError(f"index must be None for encoding {name} (index is for "
                         f"'elasticsearch'), got {index!r}")
    if encoding == "ndjson":
        return _NdjsonEncoder()
    if encoding == "json-array":
        return _JsonArrayEncoder()
    if encoding == "loki":
        return _LokiEncoder(_check_labels(labels))
    if isinstance(encoding, str):  # "elasticsearch", the last one
        return _BulkEncoder(_check_index(index))
    return _CallableEncoder(encoding)


def bulk_rejected(response: Mapping[str, Any] | bytes | str) -> tuple[int, str | None]:
    """How many documents a ``_bulk`` response rejected, and why the first was.

    ``_bulk`` answers 200 even when some documents failed: then ``errors`` is true and
    each failed item of ``items`` has a status of 300 or more and an ``error``. A
    per-item 429 (the cluster's back-pressure) counts too; the reason, ``"item <n>:
    <status> <type>: <reason>"`` (``n`` counting from 0 in the batch), shows it.
    ``response`` is the body (bytes or str) or its parsed JSON. A body that is not a
    ``_bulk`` answer is a ``ValueError``: nothing can be said about the batch.
    """
    if isinstance(response, (bytes, bytearray, memoryview, str)):
        try:
            response = orjson.loads(response)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"response must be a _bulk response's JSON, got invalid JSON "
                             f"({exc})") from None
        if not isinstance(response, dict):
            raise ValueError(f"response must be a JSON object, got {type_name(response)}")
    elif not isinstance(response, Mapping):
        raise TypeError(f"response must be a mapping, bytes or a str, "
                        f"got {type_name(response)}")
    if response.get("errors") is not True:
        return 0, None
    items = response.get("items")
    if not isinstance(items, list):
        raise ValueError(f"response['items'] must be a list when errors is true, "
                         f"got {type_name(items)}")
    count = 0
    first = None
    for number, item in enumerate(items):
        result = next(iter(item.values()), None) if isinstance(item, dict) else None
        if not isinstance(result, dict) or type(result.get("status")) is not int:
            raise ValueError(f"response['items'][{number}] must be an action holding an "
                             f"int status, got {item!r}")
        status = result["status"]
        if status >= 300:
            count += 1
            if first is None:
                first = f"item {number}: {status} {_error_text(result.get('error'))}"
    return count, first


def _check_labels(labels: Mapping[str, str] | None) -> dict[str, str]:
    """``labels`` as a dict, every label name and field name checked."""
    if labels is None:
        return {_LEVEL_FIELD: _LEVEL_FIELD}
    checked = check_mapping("labels", labels)
    if not checked:
        raise ValueError("labels must be a non-empty mapping or None, got {}")
    for label, field in checked.items():
        check_key("labels: a label name", label, allow_none=False)
        if _LABEL_NAME.fullmatch(label) is None or label.startswith("__"):
            raise ValueError("labels: a label name must match [a-zA-Z_][a-zA-Z0-9_]* and not "
                             f"start with '__' (Loki's rule), got {label!r}")
        check_key(f"labels[{label!r}]", field, allow_none=False)
    return checked


def _check_index(index: str | None) -> str:
    """``index``, required and lowercase as Elasticsearch requires."""
    if index is None:
        raise ValueError("index must be the index or data stream name for encoding "
                         "'elasticsearch', got None")
    check_key("index", index, allow_none=False)
    if index != index.lower():
        raise ValueError(f"index must be lowercase (Elasticsearch's rule), got {index!r}")
    return index


def _field_value(entry: Any, field: str) -> Any:
    """``field`` of ``entry.data``, else of ``entry.fields``, else ``_MISSING``."""
    for source in (entry.data, entry.fields):
        if isinstance(source, dict):
            value = source.get(field, _MISSING)
            if value is not _MISSING:
                return value
    return _MISSING


def _label_text(value: Any) -> str:
    """A label value as Loki takes it: text on one line, valid UTF-8; "" for none."""
    if value is _MISSING or value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return escape_text(value if type(value) is str else text_of(value))


def _level_name(level: Any) -> str:
    name = _LEVEL_NAMES.get(level)
    return name if name is not None else escape_text(text_of(level))


def _error_text(error: Any) -> str:
    """A ``_bulk`` item's error as ``type: reason``."""
    if isinstance(error, dict):
        return f"{error.get('type', 'error')}: {error.get('reason', '')}"
    return "error" if error is None else text_of(error)
