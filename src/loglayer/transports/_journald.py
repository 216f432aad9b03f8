"""``JournaldTransport``: entries as systemd journal entries, over journald's native socket.

The native protocol (systemd's "Native Journal Protocol"): one datagram per entry to
``/run/systemd/journal/socket``, holding fields ``NAME=value\\n``, or, for a value that
holds a newline, ``NAME\\n`` + the value's length (64-bit little-endian) + the value +
``\\n``. Journald keeps every field, binary values included, and adds the trusted ones
(``_PID``, ``_UID``, ``_COMM``, ``_SYSTEMD_UNIT``, ...) from the socket's credentials.

Two ways to send, chosen at construction:

* At the call (the default): each entry is sent on the caller's thread, one ``send`` on
  a connected socket that hands it to the kernel, which queues it for journald. It
  keeps what journald is for: the journal stamps an entry when it arrives, so an entry
  sent at the call is in order with the process's stdout and stderr lines and the
  other services' entries; an entry the call returned from survives the process being
  killed a moment later; and a send journald did not take is reported to that call.
  The kernel's queue is the buffer. What the caller pays is the encoding and the
  system call (journald's wake-up included): several microseconds.
* ``queued=True``: through the delivery engine (``_delivery.py``), as the network
  transports ship: the call only queues the entry (about a microsecond and a half), and
  a worker thread encodes and sends the datagrams, a batch at a time. The engine's
  promise holds: every accepted entry is delivered (taken by the kernel for journald),
  pending, or counted as dropped (``stats()``); a journald that is gone, restarting or
  stuck is retried with backoff while the buffer holds, ``flush()`` and ``close()`` wait
  for delivery, and an exit drains what it can. The price is what the default keeps: the
  journal stamps an entry when the worker sends it (up to ``flush_interval``, 0.2 s by
  default, after the call), and an entry still queued when the process is killed is
  lost.

An entry is one journal entry:

* ``MESSAGE``: the prefix and messages joined by one space, as a JSON line's ``msg``.
* ``PRIORITY``: the syslog severity of the level: TRACE and DEBUG 7, INFO 6, WARN 4,
  ERROR 3, FATAL 2 (another int level takes the severity of the nearest level below
  it; a level that is not an int sends none, and journald takes 6).
* ``SYSLOG_IDENTIFIER``: ``identifier``, by default the program's name (the file name
  of ``sys.argv[0]``; the package's name for ``python -m package``; the interpreter's
  name for ``python -c`` and an interactive session).
* the data, then the metadata (at the root, or as one field under its
  ``metadata_key``), one field per key, named by :func:`field_name`: the key upper-cased,
  every character but ``A-Z``, ``0-9`` and ``_`` replaced by ``_``, cut to 64
  characters; a name the journal reserves or refuses (starting with ``_``, which marks
  the fields only journald may set, or with a digit, or empty) and a name this transport
  writes itself (``MESSAGE``, ``PRIORITY``, ``SYSLOG_IDENTIFIER``, ``EXCEPTION_*``,
  ``MORE_FIELDS``) is prefixed with ``X_``. Two keys that become the same name are one
  field with two values, which the journal allows. Other journal fields pass through
  by this rule: a ``message_id`` key is the catalog's ``MESSAGE_ID``, ``errno`` is
  ``ERRNO`` (never sent otherwise: the transport does not invent one).
* values: a str as its UTF-8 text; bytes as they are (the journal is binary-safe); any
  other value as its JSON text, the JSON lines' rendering (``42``, ``true``, ``null``,
  a dict or a list as a JSON document), except that a value JSON writes as a string
  (a datetime, a UUID, an object as its ``str()``) is sent as that string, unquoted.
* the error: ``EXCEPTION_TYPE``, ``EXCEPTION_MESSAGE`` and ``EXCEPTION_TRACEBACK`` (the
  text Python prints, chained exceptions included) from the serialized error in the
  data (``entry.data[entry.error_key]``), i.e. what the hooks left of it: a redaction
  plugin's censoring holds here too. The error's own field is left out when these say
  all it held; otherwise it is sent too, as JSON.
* the journal takes at most 1024 fields in an entry and ignores a larger one whole: an
  entry stays within 1000 fields, the keys that do not fit sent together as one JSON
  object in ``MORE_FIELDS``.
* source location: the call site a logger made with ``source=True`` captured
  (``entry.source``) is sent as journald's own ``CODE_FILE``, ``CODE_LINE`` and
  ``CODE_FUNC`` fields (what ``journalctl -o verbose`` shows and ``CODE_FILE=`` matches),
  not again as a data field. Without it, data fields named ``code_file``, ``code_line``
  and ``code_func`` (a plugin may add them) become exactly those fields by the naming
  rule above.

An entry larger than the socket takes in one datagram (``EMSGSIZE``: above the socket's
send buffer, about 208 KiB by default) is written to a memfd, sealed against any change
(``F_SEAL_SHRINK``, ``F_SEAL_GROW``, ``F_SEAL_WRITE``, ``F_SEAL_SEAL``) and passed with
``SCM_RIGHTS``, as journald expects; journald maps it without copying. An entry over
768 MiB, which journald would refuse, is reported instead.

A restarted journald binds a new socket at the same path: a send that finds the old one
gone connects again and sends once more.

Nothing is lost silently. At the call, a send that fails (journald gone:
``ECONNREFUSED`` or ``ENOENT``; its queue full for ``timeout`` seconds: journald stuck)
raises ``OSError``, which the logger reports as a ``TransportError``, and is counted in
``stats()``; with ``fallback=`` the entry goes to that transport instead. After a send
timed out, later sends do not wait (a full queue fails them at once) until one goes
through, so a stuck journald costs the application one ``timeout``, not one per log
call. Queued, the same failures make the worker retry the batch from the entry that
failed (nothing is sent twice) until it goes through or ``close()``'s deadline passes,
and only an entry journald could never take (over its size limit) is dropped, counted.
As for every shipping transport, a batch that the deadline cut short counts as dropped
whole, the entries journald had already taken included: ``delivered`` never claims
more than arrived.

Threads share the socket (a datagram is sent whole, by one system call). A forked child
sends on the same socket: datagrams carry the sending process's credentials, so its
entries have its own ``_PID``; its counters start at zero.
"""

from __future__ import annotations

import errno
import os
import re
import socket
import struct
import sys
import threading
import weakref
from array import array
from typing import Any

import orjson

from .. import _lifecycle
from .._common import describe, text_of, transport_slot
from .._native import compiled
from .._render_py import _chain_text, _get, _items, _message_text, sanitize_for_json
from .._render_py import _default as _json_default
from .._select import Transport
from .._validate import check_bool, check_key, check_number, check_type
from ..levels import LogLevel
from ..utils import to_map
from ._delivery import DeliveryTransport, Reject, Retry

__all__ = ["DEFAULT_SOCKET", "JournaldTransport", "JournalEncoder", "field_name"]

#: The compiled encoder (``cext/_journaldfast.pyx``), or None: ``JournalEncoder._encode``
#: is the definition, and runs alone with ``LOGLAYER_NO_EXTENSIONS=1``.
_fast: Any = compiled("transports._journaldfast")

#: Where journald listens for native-protocol datagrams.
DEFAULT_SOCKET = "/run/systemd/journal/socket"
#: The journal's limit on a field name's length.
_NAME_MAX = 64
#: Fields journald takes in one entry (``ENTRY_FIELD_COUNT_MAX``); ours stay well below,
#: leaving room for the trusted fields it adds.
_FIELDS_MAX = 1000
#: Journald's limit on one field (``DATA_SIZE_MAX``; an entry may hold 770 MiB): a
#: larger entry is reported, not sent to be ignored.
_ENTRY_MAX = 768 << 20
_PREFIX = "X_"
_OWN = frozenset(["MESSAGE", "PRIORITY", "SYSLOG_IDENTIFIER", "EXCEPTION_TYPE",
                  "EXCEPTION_MESSAGE", "EXCEPTION_TRACEBACK", "MORE_FIELDS"])
_NOT_ALLOWED = re.compile(r"[^A-Z0-9_]")
_ERROR_PARTS = frozenset(["type", "message", "traceback", "cause"])
#: What a send on a socket whose journald went away fails with (``ECONNREFUSED`` once,
#: then ``ENOTCONN``): connecting again finds a restarted journald's new socket.
_DISCONNECTED = frozenset([errno.ECONNREFUSED, errno.ENOTCONN, errno.ECONNRESET])
_JSON_OPTIONS = orjson.OPT_NON_STR_KEYS
_pack_length = struct.Struct("<Q").pack

#: Syslog severities, highest level first (``_priority_line`` walks it downwards).
_SEVERITIES = ((LogLevel.FATAL, 2), (LogLevel.ERROR, 3), (LogLevel.WARN, 4),
               (LogLevel.INFO, 6), (LogLevel.DEBUG, 7), (LogLevel.TRACE, 7))
#: A captured call site's keys and the journal fields they become.
_CODE_FIELDS = ((b"CODE_FILE", "file"), (b"CODE_LINE", "line"), (b"CODE_FUNC", "function"))
_PRIORITY_LINES = {level: b"PRIORITY=%d\n" % severity for level, severity in _SEVERITIES}

#: Field names by key: keys repeat from call to call. Cleared when it grows past this.
_NAMES_MAX = 4096
_names: dict[str, bytes] = {}


def field_name(key: str) -> str:
    """The journal field name of a data or metadata key (see the module docstring)."""
    name = _NOT_ALLOWED.sub("_", key.upper())
    if not name or name[0] == "_" or name[0].isdigit() or name in _OWN:
        name = _PREFIX + name
    return name[:_NAME_MAX]


def _name(key: Any) -> bytes:
    """``field_name(key)`` as bytes, from the cache when ``key`` is a str."""
    if type(key) is not str:
        return field_name(text_of(key)).encode()
    name = _names.get(key)
    if name is None:
        if len(_names) >= _NAMES_MAX:
            _names.clear()
        name = _names[key] = field_name(key).encode()
    return name


def _text(text: str) -> bytes:
    try:
        return text.encode()
    except UnicodeEncodeError:  # lone surrogates: written as \udcXX, as JSON lines do
        return text.encode("utf-8", "backslashreplace")


def _value(value: Any) -> bytes:
    """A field's value: str as UTF-8, bytes as they are, anything else as JSON text
    (unquoted when that is a JSON string)."""
    cls = type(value)
    if cls is str:
        return _text(value)
    if cls is bytes:
        return value
    if issubclass(cls, (bytes, bytearray, memoryview)):
        return bytes(value)
    try:
        text = orjson.dumps(value, default=_json_default, option=_JSON_OPTIONS)
    except Exception:  # a key orjson cannot take, a cycle, an int beyond 64 bits
        text = orjson.dumps(sanitize_for_json(value), option=_JSON_OPTIONS)
    return _text(orjson.loads(text)) if text[:1] == b'"' else text


def _add(parts: list, name: bytes, value: bytes) -> None:
    """One field: ``NAME=value``, or the length-prefixed form when ``value`` holds a
    newline (which would otherwise end the field)."""
    if b"\n" in value:
        parts.extend((name, b"\n", _pack_length(len(value)), value, b"\n"))
    else:
        parts.extend((name, b"=", value, b"\n"))


def _add_pairs(parts: list, pairs: list) -> None:
    """A field per ``(key, value)``: ``_add(parts, _name(key), _value(value))``, with
    the common cases (a str key already named; a str, int or float value) inline: this
    is the loop each log call runs."""
    names = _names
    extend = parts.extend
    dumps = orjson.dumps
    for key, value in pairs:
        name = names.get(key) if type(key) is str else None
        if name is None:
            name = _name(key)
        cls = type(value)
        if cls is str:
            try:
                value = value.encode()
            except UnicodeEncodeError:
                value = value.encode("utf-8", "backslashreplace")
        elif cls is int:  # JSON's text, without orjson's 64-bit limit
            try:
                extend((name, b"=", b"%d" % value, b"\n"))
                continue
            except ValueError:  # more digits than str() may write: as JSON lines do
                value = _value(value)
        elif cls is float:  # never a newline, never quoted
            extend((name, b"=", dumps(value), b"\n"))
            continue
        else:
            value = _value(value)
        if b"\n" in value:
            extend((name, b"\n", _pack_length(len(value)), value, b"\n"))
        else:
            extend((name, b"=", value, b"\n"))


def _snapshot(mapping: Any, name: str) -> list:
    """``mapping``'s items (copied in C for a dict, so no other thread changes them
    meanwhile); its text under ``name`` when they cannot be read."""
    if type(mapping) is dict:
        return list(dict.items(mapping))
    items = _items(mapping)
    return items if items is not None else [(name, _json_default(mapping))]


def _priority_line(level: Any) -> bytes:
    """``PRIORITY=n\\n`` for a level outside the table; nothing for a non-int level."""
    if not issubclass(type(level), int):
        return b""
    number = int.__int__(level)
    for known, severity in _SEVERITIES:
        if number >= known:
            return b"PRIORITY=%d\n" % severity
    return b"PRIORITY=7\n"


def _error_fields(error: Any, serialized: Any) -> tuple[list[tuple[bytes, str]], bool]:
    """The ``EXCEPTION_*`` fields of a serialized error, and whether they say all it
    held. Only the default serializer's shape (a dict with a str ``type`` and
    ``message``) gives any; another value stays an ordinary field."""
    if not issubclass(type(serialized), dict):
        return [], False
    name, message = _get(serialized, "type"), _get(serialized, "message")
    if type(name) is not str or type(message) is not str:
        return [], False
    fields = [(b"EXCEPTION_TYPE", name), (b"EXCEPTION_MESSAGE", message)]
    traceback = _chain_text(error, serialized)
    if traceback is not None:
        fields.append((b"EXCEPTION_TRACEBACK", traceback))
    pairs = _items(serialized)
    said_in_full = (pairs is not None and all(key in _ERROR_PARTS for key, _ in pairs)
                    and (traceback is not None or "cause" not in serialized))
    return fields, said_in_full


class JournalEncoder:
    """Turns entries into native-protocol datagrams for one ``SYSLOG_IDENTIFIER``.

    ``encode(entry)`` is the datagram of ``entry`` (see the module docstring for the
    fields): the compiled encoder (``_journaldfast.Encoder``) when it is built, which
    writes the same bytes for the common entries and hands the others to ``_encode``;
    else ``_encode``, the definition.
    """

    __slots__ = ("_head", "encode")

    def __init__(self, identifier: str) -> None:
        parts: list[bytes] = []
        _add(parts, b"SYSLOG_IDENTIFIER", _text(identifier))
        self._head = b"".join(parts)
        self.encode: Any = self._encode if _fast is None else _fast.Encoder(self).encode

    def _encode(self, entry: Any) -> bytes:
        """The datagram of ``entry``, in Python."""
        messages = entry.messages
        prefix = entry.prefix
        if not prefix and len(messages) == 1 and type(messages[0]) is str:
            message = messages[0]
        else:
            message = _message_text(messages, prefix)
        level = entry.level
        parts = [self._head, _PRIORITY_LINES[level] if type(level) is LogLevel
                 else _priority_line(level)]
        _add(parts, b"MESSAGE", _text(message))
        data = entry.data
        metadata = entry.metadata
        pairs = _snapshot(data, "data") if data else []
        errors: list = []
        if pairs:
            error_key = entry.error_key
            serialized = _get(data, error_key) if type(error_key) is str else None
            if serialized is not None:
                errors, said_in_full = _error_fields(entry.error, serialized)
                for name, text in errors:
                    _add(parts, name, _text(text))
                if said_in_full:
                    pairs = [pair for pair in pairs if pair[0] != error_key]
        code = 0
        source = getattr(entry, "source", None)
        if type(source) is dict:
            for name, key in _CODE_FIELDS:
                if key in source:
                    _add(parts, name, _text(text_of(source[key])))
                    code += 1
            pairs = [pair for pair in pairs if pair[1] is not source]
        if metadata is not None:
            mapped = metadata if type(metadata) is dict else to_map(metadata)
            metadata_key = entry.metadata_key
            if mapped is None:
                pairs.append((metadata_key or "metadata", metadata))
            elif metadata_key:
                pairs.append((metadata_key, mapped))
            elif pairs:
                pairs.extend(_snapshot(mapped, "metadata"))
            else:
                pairs = _snapshot(mapped, "metadata")
        # after the identifier, priority, message, exception and code fields
        room = _FIELDS_MAX - 3 - len(errors) - code
        if len(pairs) > room:  # the journal would ignore the whole entry
            more = {key if type(key) is str else text_of(key): value
                    for key, value in pairs[room - 1:]}
            pairs = pairs[:room - 1]
            _add(parts, b"MORE_FIELDS", _value(more))
        _add_pairs(parts, pairs)
        return b"".join(parts)


def _program_name() -> str:
    """The default ``SYSLOG_IDENTIFIER`` (see the module docstring)."""
    argv0 = sys.argv[0] if sys.argv else ""
    name = os.path.basename(argv0)
    if name == "__main__.py":  # python -m package
        name = os.path.basename(os.path.dirname(argv0))
    if not name or name in ("-c", "-"):
        name = os.path.basename(sys.executable) or "python"
    return name


class JournaldTransport(Transport):
    """Sends each entry to the systemd journal as it is logged (see the module
    docstring for the fields, the large-entry path and the failure rules).

    ``socket_path``: journald's native socket (a namespace's is
    ``/run/systemd/journal.<namespace>/socket``). It is checked at construction: when
    journald is not there, this raises ``OSError`` naming ``socket_path``, or, with
    ``fallback`` (any transport), every entry goes to ``fallback`` instead
    (``using_fallback`` is then True). ``fallback`` also takes each entry journald did
    not take later on; its own ``level`` and ``enabled`` are not consulted, and
    ``flush()`` and ``close()`` reach it.

    ``identifier``: the ``SYSLOG_IDENTIFIER`` (``journalctl -t``), by default the
    program's name. ``timeout``: seconds a send may wait while journald's queue is
    full (None: as long as it takes, as ``sd_journal_send`` does).

    ``queued``: False (the default) sends each entry at the call, on the caller's
    thread; True queues it for a worker thread, through the delivery engine (see the
    module docstring for what each keeps). Queued, the engine's options apply
    (``max_buffer_entries``, ``overflow``, ``flush_interval``, ``max_batch_entries``,
    ``on_drop``, ``on_error``... see ``loglayer.transports._delivery``; defaults here:
    batches of at most 512 entries, sent at least every 0.2 seconds), ``flush(timeout)``
    and ``close(timeout)`` wait for delivery and return whether everything was
    delivered, and ``stats()`` is the engine's (``accepted``, ``delivered``, ``dropped``,
    ``retried``, ``pending``, ``buffered_bytes``) with ``memfd`` and ``reconnects``
    (sockets connected again after journald went away). ``fallback`` then takes the
    entries only when journald was absent at construction.
    """

    def __init__(self, socket_path: Any = DEFAULT_SOCKET, *, identifier: str | None = None,
                 fallback: Any = None, timeout: float | None = 1.0, queued: bool = False,
                 id: str = "", level: Any = None, enabled: bool = True,  # noqa: A002
                 **delivery_options: Any) -> None:
        super().__init__(id, level=level, enabled=enabled)
        check_type("socket_path", socket_path, (str, bytes, os.PathLike), "a path")
        path = os.fspath(socket_path)
        if not path:
            raise ValueError(f"socket_path must be a non-empty path, got {path!r}")
        identifier = check_key("identifier", identifier)
        timeout = check_number("timeout", timeout, above=0, finite=True, allow_none=True)
        check_bool("queued", queued)
        if delivery_options and not queued:
            raise TypeError(f"{', '.join(sorted(delivery_options))}: the delivery engine's "
                            "options are for queued=True")
        self._fallback_send = None
        if fallback is not None:
            try:
                self._fallback_send = transport_slot(fallback)[2]
            except TypeError as exc:
                raise TypeError(f"fallback: {exc}") from None
        self.socket_path = path
        self.identifier = identifier if identifier is not None else _program_name()
        self.timeout = timeout
        self.fallback = fallback
        self._encoder = JournalEncoder(self.identifier)
        self._lock = threading.Lock()
        self._failed = self._to_fallback = self._memfd = 0
        self._congested = False
        self._closed = False
        self.queued = queued
        self._sock: socket.socket | None = None
        self._engine: _JournalQueue | None = None
        try:
            self._sock = sock = _connected_socket(path, timeout)
        except OSError as exc:
            if fallback is None:
                raise type(exc)(exc.errno, f"socket_path: journald is not listening at "
                                f"{path!r} ({exc.strerror or describe(exc)}); pass "
                                "fallback= to send entries to another transport where "
                                "there is no journal") from None
        else:
            if queued:
                options = {"max_batch_entries": 512, "flush_interval": 0.2,
                           **delivery_options}
                try:
                    self._engine = engine = _JournalQueue(
                        _JournalWire(path, sock, self._encoder, timeout), id=self.id,
                        **options)
                except BaseException:
                    sock.close()
                    raise
                # The log call goes straight to the engine's queue, without a frame of
                # its own (the core binds a transport's send once, when it is added).
                self.send = engine._delivery.enqueue  # type: ignore[method-assign]
            else:
                # A transport dropped without close() closes its socket; not at exit,
                # where atexit handlers that run later may still log. (Queued, the
                # engine's worker closes it when it ends.)
                weakref.finalize(self, sock.close).atexit = False
        _lifecycle.track(self, after_fork_in_child=JournaldTransport._after_fork_in_child)

    @property
    def using_fallback(self) -> bool:
        """True when journald was absent at construction: entries go to ``fallback``."""
        return self._sock is None and not self._closed

    def send(self, entry: Any) -> None:
        sock = self._sock
        if sock is None:
            self._send_to_fallback(entry, None)
            return
        payload = self._encoder.encode(entry)
        try:
            sock.send(payload, socket.MSG_DONTWAIT if self._congested else 0)
        except OSError as exc:
            self._send_again(sock, entry, payload, exc)
            return
        if self._congested:
            self._congested = False

    def _send_again(self, sock: socket.socket, entry: Any, payload: bytes,
                    exc: OSError) -> None:
        """What ``send`` does when the datagram was not taken: find a restarted
        journald's new socket, pass a large entry in a memfd, or report the failure."""
        error: OSError | None = exc
        if exc.errno in _DISCONNECTED:  # journald restarted, or is gone
            try:
                sock.connect(self.socket_path)
                sock.send(payload, socket.MSG_DONTWAIT if self._congested else 0)
                error = None
            except OSError as again:
                error = again
        if error is not None and error.errno in (errno.EMSGSIZE, errno.ENOBUFS):
            try:
                self._send_memfd(sock, payload)
                error = None
            except OSError as again:
                error = again
        if error is not None:
            self._failed_send(entry, error)
        elif self._congested:
            self._congested = False

    def _send_memfd(self, sock: socket.socket, payload: bytes) -> None:
        _send_memfd(sock, payload, socket.MSG_DONTWAIT if self._congested else 0)
        with self._lock:
            self._memfd += 1

    def _failed_send(self, entry: Any, exc: OSError) -> None:
        """Count a send journald did not take; hand the entry to the fallback or raise."""
        code = exc.errno
        if code in (errno.EAGAIN, errno.EWOULDBLOCK):
            self._congested = True  # later sends fail at once until one goes through
            waited = f" for {self.timeout} s" if self.timeout is not None else ""
            reason = f"its queue stayed full{waited} (is journald stuck?)"
        else:
            reason = describe(exc)
        with self._lock:
            self._failed += 1
        if self._fallback_send is not None:
            self._send_to_fallback(entry, exc)
            return
        raise OSError(code, f"journald at {self.socket_path!r} did not take the entry: "
                      f"{reason}") from exc

    def _send_to_fallback(self, entry: Any, cause: BaseException | None) -> None:
        send = self._fallback_send
        if self._closed or send is None:
            raise ValueError("send to a closed JournaldTransport") from cause
        with self._lock:
            self._to_fallback += 1
        send(entry)

    def stats(self) -> dict[str, int]:
        """Counters since the transport was made (in a forked child: since the fork):
        ``failed``, sends journald did not take; ``fallback``, entries given to the
        fallback; ``memfd``, entries too large for a datagram, passed in a memfd.
        Queued: the delivery engine's counters, ``accepted == delivered + dropped +
        pending``, with ``memfd`` and ``reconnects`` (see the class docstring)."""
        engine = self._engine
        if engine is not None:
            return engine.stats()
        with self._lock:
            return {"failed": self._failed, "fallback": self._to_fallback,
                    "memfd": self._memfd}

    def flush(self, timeout: float | None = None) -> bool:  # type: ignore[override]
        """At the call, nothing is buffered here (the kernel holds what was sent);
        queued, wait at most ``timeout`` seconds (None: as long as it takes) until what
        was accepted before is delivered or dropped. Then flushes the fallback. False
        when the wait timed out."""
        engine = self._engine
        done = True if engine is None else engine.flush(timeout)
        if self.fallback is not None:
            self.fallback.flush()
        return done

    def close(self, timeout: float | None = 5.0) -> bool:  # type: ignore[override]
        """Close the socket, and the fallback. Queued, first deliver what can be
        delivered within ``timeout`` seconds (the rest is dropped, counted, and one line
        reports it); False when something was left."""
        self._closed = True
        engine = self._engine
        done = True if engine is None else engine.close(timeout)  # closes the socket
        sock, self._sock = self._sock, None
        if sock is not None and engine is None:
            sock.close()
        if self.fallback is not None:
            self.fallback.close()
        return done

    def _after_fork_in_child(self) -> None:
        self._lock = threading.Lock()
        self._failed = self._to_fallback = self._memfd = 0

    def __repr__(self) -> str:
        queued = " queued" if self.queued else ""
        return f"<JournaldTransport id={self.id!r} socket_path={self.socket_path!r}{queued}>"


class _JournalWire:
    """The delivery engine's wire for ``queued=True``: ``encode`` makes a batch's
    datagrams (the payload the engine weighs is their concatenation), ``send`` sends
    them in order on the worker. Across the engine's retries of a batch it remembers
    how many were taken, so none is sent twice; each datagram is its own delivery (the
    kernel took it for journald), and only one journald can never take is refused."""

    def __init__(self, path: str | bytes, sock: socket.socket, encoder: JournalEncoder,
                 timeout: float | None) -> None:
        self.path = path
        self.sock: socket.socket | None = sock
        self.encoder = encoder
        self.timeout = timeout
        # what encode made last: the payload, its datagrams (None: the entry could not
        # be encoded), and how many could not; the engine sends what it encoded last
        self.encoded: tuple[bytes | None, list, int, str] = (None, [], 0, "")
        # the batch being sent: [payload, datagrams, next to send, refused, reason]
        self.current: list | None = None
        self.counters = {"memfd": 0, "reconnects": 0}

    def encode(self, entries: list) -> bytes:
        encode = self.encoder.encode
        datagrams: list[bytes | None] = []
        bad, reason = 0, ""
        for entry in entries:
            try:
                datagrams.append(encode(entry))
            except Exception as exc:  # that entry only, not its batch
                datagrams.append(None)
                bad += 1
                reason = f"an entry could not be encoded: {describe(exc)}"
        payload = b"".join([datagram for datagram in datagrams if datagram is not None])
        self.encoded = (payload, datagrams, bad, reason)
        return payload

    def send(self, payload: bytes, count: int, timeout: float) -> tuple[int, str]:
        batch = self.current
        if batch is None or batch[0] is not payload:
            encoded, datagrams, bad, reason = self.encoded
            if encoded is not payload:  # not the engine's way: nothing to send it from
                raise Reject("a payload this wire did not encode last")
            batch = self.current = [payload, datagrams, 0, bad, reason]
        datagrams = batch[1]
        index = batch[2]
        total = len(datagrams)
        sock = self.sock
        try:
            while index < total:
                datagram = datagrams[index]
                if datagram is not None:
                    try:
                        if sock is None:
                            raise ConnectionRefusedError(errno.ECONNREFUSED, "not connected")
                        sock.send(datagram)
                    except OSError as exc:
                        refusal = self._again(datagram, exc)
                        sock = self.sock
                        if refusal:
                            batch[3] += 1
                            batch[4] = refusal
                index += 1
        finally:
            batch[2] = index
        self.current = None
        return batch[3], batch[4]

    def _again(self, datagram: bytes, exc: OSError) -> str:
        """What ``send`` does when the datagram was not taken: connect again (journald
        restarted: a new socket at the path), pass a large entry in a memfd; "" when it
        then went through, the reason when journald can never take it; else ``Retry``."""
        code = exc.errno
        if code in _DISCONNECTED or self.sock is None:
            self.close()
            try:
                sock = _connected_socket(self.path, self.timeout)
            except OSError as again:
                raise Retry(f"journald is not listening at {self.path!r}: "
                            f"{describe(again)}") from None
            self.sock = sock
            self.counters["reconnects"] += 1
            try:
                sock.send(datagram)
                return ""
            except OSError as again:
                exc, code = again, again.errno
        sock = self.sock
        assert sock is not None
        if code in (errno.EMSGSIZE, errno.ENOBUFS):
            try:
                _send_memfd(sock, datagram, 0)
            except OSError as again:
                if len(datagram) > _ENTRY_MAX:
                    return f"journald did not take the entry: {describe(again)}"
                exc, code = again, again.errno
            else:
                self.counters["memfd"] += 1
                return ""
        if code in (errno.EAGAIN, errno.EWOULDBLOCK):
            waited = f" for {self.timeout} s" if self.timeout is not None else ""
            raise Retry(f"journald at {self.path!r}: its queue stayed full{waited} (is "
                        "journald stuck?)")
        raise Retry(f"journald at {self.path!r} did not take the entry: {describe(exc)}")

    def stats(self) -> dict[str, int]:
        return dict(self.counters)

    def close(self) -> None:
        sock, self.sock = self.sock, None
        if sock is not None:
            sock.close()

    def after_fork_in_child(self) -> None:
        # the connected datagram socket is the child's too (its entries carry its own
        # credentials): kept, as at the call; the parent's batch is the parent's
        self.current = None
        self.encoded = (None, [], 0, "")
        self.counters = {"memfd": 0, "reconnects": 0}


class _JournalQueue(DeliveryTransport):
    """The delivery engine behind ``JournaldTransport(queued=True)``."""


# The engine's reports (stderr lines, on_error) name the kind of transport: the one the
# user made.
_JournalQueue.__name__ = _JournalQueue.__qualname__ = "JournaldTransport"


def _send_memfd(sock: socket.socket, payload: bytes, flags: int) -> None:
    """Pass ``payload`` to journald in a sealed memfd (an entry too large for one
    datagram), as journald expects. Linux only, as journald is: imported here."""
    import fcntl

    if len(payload) > _ENTRY_MAX:
        raise OSError(errno.EMSGSIZE, f"the entry is {len(payload)} bytes; journald "
                      f"refuses entries over {_ENTRY_MAX >> 20} MiB")
    seals = fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE | fcntl.F_SEAL_SEAL
    fd = os.memfd_create("loglayer-journal", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        view = memoryview(payload)
        while view:
            view = view[os.write(fd, view):]
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, seals)
        sock.sendmsg([], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array("i", [fd]))], flags)
    finally:
        os.close(fd)


def _connected_socket(path: str | bytes, timeout: float | None) -> socket.socket:
    """A datagram socket connected to journald's: connecting fails at once when no
    socket is bound at ``path`` (it sends nothing), and a connected socket sends
    without the path being looked up again for every entry. The wait for room in
    journald's queue is the kernel's ``SO_SNDTIMEO``: the socket stays blocking, one
    system call per entry."""
    if not hasattr(socket, "AF_UNIX"):  # Windows: no journal there either
        raise OSError(errno.EAFNOSUPPORT, "this platform has no Unix sockets")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        if timeout is not None:
            seconds = int(timeout)
            micros = max(int((timeout - seconds) * 1_000_000), 0 if seconds else 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO,
                            struct.pack("@ll", seconds, micros))
        sock.connect(path)
    except BaseException:
        sock.close()
        raise
    return sock
