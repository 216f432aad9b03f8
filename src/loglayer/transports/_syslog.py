"""``SyslogTransport``: entries as syslog messages to rsyslog, syslog-ng or any syslog
receiver, over UDP, TCP, TLS, RELP or a local socket. No dependency beyond the stdlib.

The message (:class:`SyslogFormatter`) is RFC 5424 (``<PRI>1 TIMESTAMP HOSTNAME
APP-NAME PROCID MSGID STRUCTURED-DATA MSG``) or RFC 3164 (``<PRI>Mmm dd hh:mm:ss
HOSTNAME TAG[PID]: MSG``). How it travels is a *wire* of the delivery engine
(``_delivery.py``), one per kind of transport:

* ``_DatagramWire`` (``udp``, ``unix``): one datagram per entry. A datagram has no
  acknowledgement: an entry counts as delivered once the kernel took it.
* ``_StreamWire`` (``tcp``, ``tls``): RFC 6587 octet counting (``LEN SP MSG``), exact in
  bytes, so a newline in a message is data, not the end of a frame. TCP has no
  acknowledgement from the receiving program either; what it has is the receiving
  host's TCP acknowledging bytes, and on Linux the wire reads that (``TCP_INFO``'s
  ``bytes_acked`` against the bytes it wrote; over TLS, which adds bytes of its own,
  ``SIOCOUTQ`` too): a batch counts as delivered once the receiver's TCP
  acknowledged its last byte, and when the connection breaks, the entries whose bytes
  it never acknowledged are known exactly. They are counted in
  ``stats()["unacknowledged"]`` and dropped (the default), or, with
  ``resend_unacknowledged=True``, sent again on the next connection (at least once: an
  entry cut by the break may have been partly received, which a receiver discards, but
  nothing acknowledged is sent twice). Over TLS the unit is a TLS record (entries are
  written in records of at most 16 KiB, and a record the receiver did not get whole is
  unreadable to it). What TCP cannot tell is whether the receiving program read what
  its host acknowledged: an rsyslogd stopped while acknowledged bytes still sat unread
  in its socket loses them without a trace. Only RELP closes that gap. Elsewhere than on
  Linux, a batch counts as delivered once written, and only the entries of a write that
  failed are counted as unacknowledged.
* ``_RelpWire`` (``relp``, ``_relp.py``): every entry is one ``syslog`` command with its
  own transaction number; an entry counts as delivered only when the server's ``rsp
  200`` for it arrived (any other answer drops it, counted). A batch is sent as a
  window of at most ``relp_window`` unanswered commands, refilled as answers arrive.
  When the session breaks, the unanswered entries of the batch are sent again on the
  next session (``stats()["resent"]``): nothing is lost, and an entry arrives twice only
  when the server processed it but its answer was lost with the connection: at most
  ``relp_window`` entries per break.

Every wire cuts a message longer than ``max_message_bytes`` (the MSG part, at a UTF-8
character boundary; the structured data too when the header and it alone do not fit)
and counts it in ``stats()["truncated"]``: a datagram over a receiver's limit may be
dropped whole, and rsyslog takes a TCP frame longer than its ``maxMessageSize`` (8 KiB
by default) for a framing error and garbles the messages after it.

Across the engine's retries a wire keeps what it knows of the batch it was given (the
engine sends the same payload object again after a ``Retry``): an entry already
delivered is never sent again, and ``send`` returns only when every entry of the batch
is delivered or lost for good, with the lost ones as the refused count. Every ``Retry``
a wire raises says which entries of the batch were delivered so far (its
``delivered``: answered ``rsp 200`` over RELP, acknowledged by the receiver's TCP over
TCP and TLS, taken by the kernel for a datagram), and the engine counts them at once:
when ``close()``'s deadline cuts a batch short, only its other entries are given up
(dropped, or left in the spool). ``delivered`` never claims more than arrived, and no
longer less either.

The wires' counters, added to the engine's ``stats()``: ``truncated`` (messages cut to
``max_message_bytes``); for TCP, TLS and RELP, ``reconnects`` (connections, or RELP
sessions, made after a failure: after one broke, or after attempts to make one failed,
so a first connection that came only after failed attempts counts too),
``unacknowledged`` (entries written to a connection or session that broke before their
acknowledgement or answer came) and ``resent`` (entries written again on a later one:
those unacknowledged entries, when they are sent again). The engine's ``retried`` is
another measure: the entries of each attempt that failed and was made again, including
attempts that could not connect and so wrote nothing; an rsyslogd that is down before
the first connection makes ``retried`` grow while ``unacknowledged`` and ``resent`` stay
at 0, and ``reconnects`` counts 1 once it is back.

The payload the engine hands from ``encode`` to ``send`` is the batch in octet-counted
framing (each message preceded by its length and a space) for every wire: it is what
TCP and TLS write, and the datagram and RELP wires cut it back into messages, so
that ``encode`` and the engine's byte limits see the same bytes for all protocols.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import select
import socket
import ssl
import struct
import sys
import time
from os import PathLike
from typing import Any

import orjson

from .._common import describe, escape_text, text_of
from .._native import compiled
from .._render_py import _items, sanitize_for_json
from .._validate import check_bool, check_choice, check_int, check_key, check_type
from ..levels import LogLevel
from ..utils import to_map
from . import _relp
from ._delivery import DeliveryTransport, Retry

__all__ = ["FACILITIES", "SyslogFormatter", "SyslogTransport", "severity"]

#: The compiled encoder and framing (``cext/_syslogfast.pyx``), or None: the Python
#: code here is the definition, and runs alone with ``LOGLAYER_NO_EXTENSIONS=1``.
_fast: Any = compiled("transports._syslogfast")

_MiB = 1 << 20

#: Facility names (RFC 5424 §6.2.1, with the names syslog.h and rsyslog use).
FACILITIES = {
    "kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6,
    "news": 7, "uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11, "ntp": 12,
    "security": 13, "console": 14, "solaris-cron": 15, "local0": 16, "local1": 17,
    "local2": 18, "local3": 19, "local4": 20, "local5": 21, "local6": 22, "local7": 23,
}
PROTOCOLS = ("udp", "tcp", "tls", "relp", "unix")
FORMATS = ("rfc5424", "rfc3164")
STRUCTURED_DATA = ("fields", "json", None)
#: The port each network protocol's receivers listen on by default: 514 (UDP, and TCP
#: by custom), 6514 (RFC 5425), 2514 (rsyslog's documentation for imrelp).
DEFAULT_PORTS = {"udp": 514, "tcp": 514, "tls": 6514, "relp": 2514}
DEFAULT_SOCKET = "/dev/log"
#: The longest message sent by default: 2048 octets over UDP (RFC 5426: every receiver
#: SHOULD take them), else 8192 (RFC 5425's SHOULD for TLS, and rsyslog's default
#: ``maxMessageSize``).
DEFAULT_MESSAGE_BYTES = {"udp": 2048, "unix": 8192, "tcp": 8192, "tls": 8192, "relp": 8192}
#: The smallest limit: the longest header RFC 5424 allows (every field at its maximum
#: length) and a BOM fit in it, so only the MSG and the structured data are cut.
MIN_MESSAGE_BYTES = 512

NILVALUE = "-"
_BOM = b"\xef\xbb\xbf"
_HOSTNAME_MAX = 255
_APP_NAME_MAX = 48
_PROCID_MAX = 128
_MSGID_MAX = 32
_SD_NAME_MAX = 32
_TAG_MAX = 32  # RFC 3164's TAG
_TLS_RECORD = 16 * 1024  # the largest TLS plaintext record
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
           "Dec")
_NS_PER_SECOND = 1_000_000_000
_JSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


def severity(level: Any) -> int:
    """The syslog severity of a level: TRACE and DEBUG 7 (debug), INFO 6
    (informational), WARN 4 (warning), ERROR 3 (error), FATAL 2 (critical); a number
    between two levels takes the lower level's severity."""
    number = int(level)
    if number >= LogLevel.FATAL:
        return 2
    if number >= LogLevel.ERROR:
        return 3
    if number >= LogLevel.WARN:
        return 4
    if number >= LogLevel.INFO:
        return 6
    return 7


def _header_field(value: str, limit: int, forbidden: str = "") -> str:
    """A header field: printable US-ASCII only (RFC 5424's PRINTUSASCII, ``!`` to
    ``~``), anything else (and ``forbidden``) replaced by ``_``, at most ``limit``
    characters; the NILVALUE ``-`` when empty."""
    value = "".join(char if "!" <= char <= "~" and char not in forbidden else "_"
                    for char in value[:limit])
    return value or NILVALUE


#: A valid SD-NAME: 1 to 32 printable US-ASCII characters but ``=``, SP, ``]``, ``"``.
_VALID_SD_NAME = re.compile(r'[!#-<>-\\^-~]{1,32}').fullmatch
#: How many keys a formatter keeps the SD-NAME of (keys are usually a program's few).
_NAMES_KEPT = 4096


def sd_name(key: str) -> str:
    """An SD-NAME (RFC 5424 §6.3.3) from a key: the characters it may not hold
    (anything but printable US-ASCII, and ``=``, space, ``]``, ``"``) dropped, at most 32
    characters; ``_`` when nothing is left."""
    if _VALID_SD_NAME(key):  # the common case, without a loop over the characters
        return key
    name = "".join(char for char in key if "!" <= char <= "~" and char not in '= ]"')
    return name[:_SD_NAME_MAX] or "_"


def sd_escape(value: str) -> str:
    """A PARAM-VALUE with ``"``, ``\\`` and ``]`` escaped by a backslash (§6.3.3)."""
    if '"' not in value and "\\" not in value and "]" not in value:
        return value
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def _default(value: Any) -> str:
    return text_of(value)


def _param_value(value: Any) -> str:
    """A data or metadata value as the text of an SD-PARAM: a string as it is, a bool
    and None as JSON writes them, a number as text, anything else as its JSON (a
    nested mapping or list), or the text of a JSON string (a date, a UUID)."""
    cls = type(value)
    if cls is str:
        return value
    if cls is bool:
        return "true" if value else "false"
    if value is None:
        return "null"
    if cls is int or cls is float:
        with contextlib.suppress(ValueError):  # an int past str()'s digit limit: below
            return repr(value)
    try:
        text = orjson.dumps(value, default=_default, option=_JSON_OPTIONS)
    except Exception:  # a key orjson cannot take, a cycle, a huge int: sanitized
        text = orjson.dumps(sanitize_for_json(value), option=_JSON_OPTIONS)
    if text.startswith(b'"'):
        return str(orjson.loads(text))
    return text.decode("utf-8")


def _fields(entry: Any) -> list[tuple[str, Any]]:
    """The entry's data, then its metadata, as (key, value) pairs, the way the JSON line
    shows them: metadata merged at the top, or under the logger's ``metadata_key``; a
    non-mapping metadata object as its ``to_map`` fields, or under ``metadata``."""
    pairs: list[tuple[str, Any]] = []
    data = entry.data
    if data:
        items = _items(data)
        pairs.extend([("data", text_of(data))] if items is None else items)
    metadata = entry.metadata
    if metadata is not None:
        mapped = metadata if type(metadata) is dict else to_map(metadata)
        key = entry.metadata_key
        if mapped is None or key:
            pairs.append((key or "metadata", metadata if mapped is None else mapped))
        else:
            items = _items(mapped)
            pairs.extend([("metadata", text_of(mapped))] if items is None else items)
    return [(key if type(key) is str else text_of(key), value) for key, value in pairs]


def _message_text(entry: Any) -> str:
    """The prefix and the messages, joined by a space (the JSON line's ``msg``)."""
    messages = entry.messages
    prefix = entry.prefix
    parts = [prefix] if prefix else []
    parts.extend(messages)
    if len(parts) == 1 and type(parts[0]) is str:
        return parts[0]
    return " ".join(part if type(part) is str else text_of(part) for part in parts)


def _utf8(text: str) -> bytes:
    """``text`` as UTF-8; a lone surrogate (not encodable) as a ``\\udcNN`` escape."""
    return text.encode("utf-8", "backslashreplace")


def _cut_utf8(data: bytes, size: int) -> bytes:
    """At most ``size`` bytes of UTF-8 ``data``, never ending inside a character."""
    if len(data) <= size:
        return data
    while size > 0 and data[size] & 0xC0 == 0x80:  # a continuation byte: back up
        size -= 1
    return data[:size]


class SyslogFormatter:
    """Turns an entry into one syslog message (bytes, without framing).

    ``one_line`` escapes line breaks and other control characters in the MSG and the
    parameter values (``\\n``, ``\\r``, ``\\xNN``, as loglayer's text lines do): for
    receivers that end a message at a newline (UDP and local sockets are often relayed
    to one, and RFC 3164 has no other framing). RFC 3164 messages are always one line.
    See :class:`SyslogTransport` for the other arguments.
    """

    __slots__ = ("format", "facility", "hostname", "app_name", "procid", "msgid",
                 "structured_data", "sd_id", "one_line", "_json", "_stamp", "_pri",
                 "_names", "frames")

    def __init__(self, *, format: str = "rfc5424", facility: int = 1,  # noqa: A002
                 hostname: str | None = None, app_name: str | None = None,
                 procid: str | None = None, msgid: str | None = None,
                 structured_data: str | None = "fields", sd_id: str = "loglayer@32473",
                 one_line: bool = False) -> None:
        self.format = format
        self.facility = facility
        self.hostname = _header_field(socket.gethostname() if hostname is None else hostname,
                                      _HOSTNAME_MAX)
        app = _default_app_name() if app_name is None else app_name
        if format == "rfc3164":
            self.app_name = _header_field(app, _TAG_MAX, "[]:")
        else:
            self.app_name = _header_field(app, _APP_NAME_MAX)
        brackets = "[]" if format == "rfc3164" else ""  # they enclose 3164's PID
        self.procid = None if procid is None else _header_field(procid, _PROCID_MAX, brackets)
        self.msgid = NILVALUE if msgid is None else _header_field(msgid, _MSGID_MAX)
        self.structured_data = structured_data
        self.sd_id = sd_id
        self.one_line = one_line or format == "rfc3164"
        self._json: Any = None
        if structured_data == "json":
            from ._http_codec import _Renderer

            self._json = _Renderer()
        # (second, the timestamp's text before the fraction, after it) for the last
        # second seen; one tuple, so that a reader sees a matching pair.
        self._stamp: tuple[int | None, str, str] = (None, "", "")
        self._pri: dict[Any, str] = {}  # level -> "<PRI>"
        self._names: dict[str, str] = {}  # key -> its SD-NAME, for the keys seen first
        #: ``frames(entries, pid, max_bytes) -> (payload, cut)``: the entries' messages
        #: in RFC 6587 octet-counted framing, each cut to ``max_bytes``, and which were
        #: cut. The compiled encoder (``_syslogfast.Encoder``) when it is built, which
        #: writes the same bytes and hands the entries it does not take back to
        #: ``render``; else ``_frames``, the definition.
        self.frames: Any = self._frames if _fast is None else _fast.Encoder(self).frames

    def message(self, entry: Any, max_bytes: int | None = None) -> tuple[bytes, bool]:
        """The message for ``entry`` and whether it was cut to ``max_bytes``."""
        payload, cut = self.frames([entry], str(os.getpid()), max_bytes)
        return payload[payload.index(b" ") + 1:], cut[0]

    def _frames(self, entries: list, pid: str,
                max_bytes: int | None) -> tuple[bytes, list[bool]]:
        """``frames`` in Python: each entry's ``render``, framed."""
        render = self.render
        rendered = [render(entry, pid, max_bytes) for entry in entries]
        return (octet_counted([message for message, _ in rendered]),
                [cut for _, cut in rendered])

    def _pri_of(self, level: Any) -> str:
        """``<PRI>`` for ``level``, kept per level."""
        pri = self._pri.get(level)
        if pri is None:
            pri = self._pri[level] = f"<{self.facility * 8 + severity(level)}>"
        return pri

    def render(self, entry: Any, pid: str, max_bytes: int | None) -> tuple[bytes, bool]:
        """One entry's message (unframed) and whether it was cut to ``max_bytes``;
        ``pid`` is the process ID to use when ``procid`` was not given (the wire reads
        it once per batch: it changes in a forked child)."""
        level = entry.level
        pri = self._pri.get(level)
        if pri is None:
            pri = self._pri_of(level)
        procid = self.procid or pid
        fields = _fields(entry) if self.structured_data == "fields" else []
        if self.format == "rfc3164":
            head = (f"{pri}{self._time_3164(entry.time_ns)} {self.hostname} "
                    f"{self.app_name}[{procid}]: ")
            text = self._text(entry)
            if fields:
                text += " " + self._element(fields)
            return self._fit(_utf8(head), _utf8(text), max_bytes, None)
        head = (f"{pri}1 {self._time_5424(entry.time_ns)} {self.hostname} {self.app_name} "
                f"{procid} {self.msgid} ")
        msg = _utf8(self._text(entry))
        if not msg.isascii():
            msg = _BOM + msg  # RFC 5424 §6.4: a UTF-8 MSG starts with the BOM
        element = self._element(fields) if fields else NILVALUE
        full = _utf8(head + element + " ")
        if max_bytes is None or len(full) + len(msg) <= max_bytes:
            return full + msg, False
        return self._fit(full, msg, max_bytes, _utf8(head + NILVALUE + " "))

    def _fit(self, head: bytes, msg: bytes, max_bytes: int | None,
             bare_head: bytes | None) -> tuple[bytes, bool]:
        """``head + msg`` within ``max_bytes``: the MSG cut first, then (RFC 5424) the
        structured data left out when the header and it alone are too long."""
        if max_bytes is None or len(head) + len(msg) <= max_bytes:
            return head + msg, False
        if len(head) > max_bytes and bare_head is not None:
            head = bare_head
        return head + _cut_utf8(msg, max(max_bytes - len(head), 0)), True

    def _text(self, entry: Any) -> str:
        if self._json is not None:
            return self._json.lines([entry])[0][:-1].decode("utf-8")
        text = _message_text(entry)
        return escape_text(text) if self.one_line else text

    def _element(self, fields: list[tuple[str, Any]]) -> str:
        """One SD-ELEMENT: ``[SD-ID name="value" ...]``."""
        one_line = self.one_line
        names = self._names
        params = []
        for key, value in fields:  # sd_name and sd_escape, their common cases inlined
            text = value if type(value) is str else _param_value(value)
            if one_line:
                text = escape_text(text)
            if '"' in text or "\\" in text or "]" in text:
                text = sd_escape(text)
            name = names.get(key)
            if name is None:
                name = sd_name(key)
                if len(names) < _NAMES_KEPT:
                    names[key] = name
            params.append(f' {name}="{text}"')
        return f"[{self.sd_id}{''.join(params)}]"

    def _time_5424(self, time_ns: int) -> str:
        """RFC 5424's TIMESTAMP in local time with its offset, to the microsecond:
        ``2024-05-01T14:00:00.123456+02:00``."""
        seconds, fraction = divmod(time_ns, _NS_PER_SECOND)
        stamp = self._stamp
        if stamp[0] != seconds:
            stamp = self._second(seconds)
        return f"{stamp[1]}.{fraction // 1000:06d}{stamp[2]}"

    def _second(self, seconds: int) -> tuple[int, str, str]:
        """``(seconds, its local time to the second, its UTC offset)``, the parts of
        RFC 5424's TIMESTAMP that change once a second, kept for the last second."""
        local = time.localtime(seconds)
        offset = local.tm_gmtoff // 60
        sign = "-" if offset < 0 else "+"
        hours, minutes = divmod(abs(offset), 60)
        stamp = (seconds, time.strftime("%Y-%m-%dT%H:%M:%S", local),
                 f"{sign}{hours:02d}:{minutes:02d}")
        self._stamp = stamp
        return stamp

    def _time_3164(self, time_ns: int) -> str:
        """RFC 3164's TIMESTAMP in local time: ``May  1 14:00:00`` (English month, the
        day padded with a space)."""
        local = time.localtime(time_ns // _NS_PER_SECOND)
        return (f"{_MONTHS[local.tm_mon - 1]} {local.tm_mday:2d} "
                f"{local.tm_hour:02d}:{local.tm_min:02d}:{local.tm_sec:02d}")


def _default_app_name() -> str:
    """The program's name: the script's file name without ``.py``, else ``python``."""
    argv = getattr(sys, "argv", None)
    script = argv[0] if argv else ""
    name = os.path.basename(script)
    if name.endswith(".py"):
        name = name[:-3]
    return name if name and name not in ("-c", "-m", "__main__") else "python"


# -- framing ----------------------------------------------------------------------------


def octet_counted(messages: list[bytes]) -> bytes:
    """RFC 6587 octet-counting: each message preceded by its length in bytes and a
    space."""
    return b"".join([b"%d %s" % (len(message), message) for message in messages])


def _split_octet_counted(payload: bytes) -> list[tuple[int, int, int]]:
    """Where each frame of an octet-counted ``payload`` starts, where its message
    starts and where it ends (``split_octet_counted``, compiled when it is built)."""
    frames = []
    position = 0
    end = len(payload)
    while position < end:
        space = payload.index(b" ", position)
        start = space + 1
        stop = start + int(payload[position:space])
        frames.append((position, start, stop))
        position = stop
    return frames


split_octet_counted = _split_octet_counted if _fast is None else _fast.split_octet_counted


# -- the wires --------------------------------------------------------------------------

# The state of each entry of a batch, across the engine's retries.
_TODO = 0  # to be written (again)
_SENT = 1  # written on the current connection, not acknowledged yet
_DONE = 2  # delivered
_LOST = 3  # lost for good (unacknowledged on a broken connection, or refused)


class _Batch:
    """What a wire knows of one payload: each entry's message (as a slice of the payload
    for the datagram and RELP wires, with its length prefix for TCP and TLS), its state,
    and, for a written entry, where it ends in the connection's byte stream.

    The slices and the ends are made when first needed: a batch that TCP writes whole
    at its first attempt and that is acknowledged needs neither."""

    __slots__ = ("payload", "framed", "_frames", "cut", "state", "_ends", "base", "written",
                 "lost", "reason", "unfinished", "cursor")

    def __init__(self, payload: bytes, framed: bool, cut: list[bool] | None) -> None:
        self.payload = payload
        self.framed = framed
        self._frames: list[memoryview] | None = None
        # truncated by encode (not known for a payload encode did not make: none)
        self.cut = cut if cut is not None else [False] * len(self.frames)
        count = len(self.cut)
        self.state = [_TODO] * count
        # Where each written entry ends: a list, or None while every entry was written
        # by write_all, whose ends follow from the payload and ``base``.
        self._ends: list[int] | None = [sys.maxsize] * count
        self.base = 0
        self.written = [False] * count  # sent at least once (a second time is a resend)
        self.lost = 0
        self.reason = ""
        self.unfinished = count  # neither delivered nor lost
        self.cursor = 0  # no entry before it is to be written

    @property
    def frames(self) -> list[memoryview]:
        frames = self._frames
        if frames is None:
            view = memoryview(self.payload)
            framed = self.framed
            frames = self._frames = [view[frame if framed else start:stop]
                                     for frame, start, stop in
                                     split_octet_counted(self.payload)]
        return frames

    @property
    def ends(self) -> list[int]:
        ends = self._ends
        if ends is None:
            base = self.base
            ends = self._ends = [base + stop for _frame, _start, stop in
                                 split_octet_counted(self.payload)]
        return ends

    def untouched(self) -> bool:
        """Whether no entry was written yet."""
        return True not in self.written

    def write_all(self, base: int) -> None:
        """Every entry of the batch is being written (the first time, or again after a
        connection broke before any was acknowledged), in order, as the payload is, at
        ``base`` in the connection's stream."""
        count = len(self.state)
        self.state = [_SENT] * count
        self.written = [True] * count
        self.cursor = count
        self.base = base
        self._ends = None

    def done_sent(self) -> None:
        """Every written entry not acknowledged yet is delivered."""
        state = self.state
        sent = state.count(_SENT)
        if sent == len(state):
            self.state = [_DONE] * sent
            self.unfinished -= sent
        elif sent:
            for index in self.sent():
                self.done(index)

    def todo(self, limit: int | None = None) -> list[int]:
        """The entries to be written, in order (at most ``limit``): a scan from the
        cursor, so that a window refilled after every answer costs the window, not the
        batch."""
        state = self.state
        count = len(state)
        index = self.cursor
        while index < count and state[index] != _TODO:
            index += 1
        self.cursor = index
        found: list[int] = []
        while index < count and (limit is None or len(found) < limit):
            if state[index] == _TODO:
                found.append(index)
            index += 1
        return found

    def sent(self) -> list[int]:
        return [index for index, state in enumerate(self.state) if state == _SENT]

    def delivered(self) -> list[int]:
        """The entries delivered so far: a ``Retry``'s partial verdict, so that the
        engine counts them even when a deadline ends the batch before the rest."""
        return [index for index, state in enumerate(self.state) if state == _DONE]

    def finished(self) -> bool:
        return not self.unfinished

    def done(self, index: int) -> None:
        """Entry ``index`` (written, or not yet finished) is delivered."""
        if self.state[index] < _DONE:
            self.unfinished -= 1
        self.state[index] = _DONE

    def again(self, index: int) -> None:
        """Entry ``index`` is to be written again (its connection broke)."""
        self.state[index] = _TODO
        self.cursor = min(self.cursor, index)

    def lose(self, index: int, reason: str) -> None:
        if self.state[index] < _DONE:
            self.unfinished -= 1
        self.state[index] = _LOST
        self.lost += 1
        self.reason = reason

    def result(self) -> tuple[int, str]:
        return self.lost, self.reason


class _WireBase:
    """The batch bookkeeping every syslog wire shares: ``encode`` renders the entries,
    each cut to ``limit`` bytes, in octet-counted framing; ``_batch(payload)`` is the
    state of the payload being sent (the one of the last call when the engine sends it
    again). A cut entry is counted in ``truncated`` once it is first sent."""

    framed = False  # whether a batch's frames keep their length prefix

    def __init__(self, formatter: SyslogFormatter, limit: int) -> None:
        self.formatter = formatter
        self.limit = limit
        self.current: _Batch | None = None
        self.counters: dict[str, int] = {"truncated": 0}
        # Set when a connection broke or could not be made: the next one made is a
        # reconnect (the first connection too, when attempts before it failed).
        self.down = False
        # The payload last encoded and which of its entries were cut: the engine sends
        # what it encoded last (it encodes a batch's halves only to send them).
        self._cut: tuple[bytes | None, list[bool]] = (None, [])

    def encode(self, entries: list) -> bytes:
        payload, cut = self.formatter.frames(entries, str(os.getpid()), self.limit)
        self._cut = (payload, cut)
        return payload

    def _batch(self, payload: bytes) -> _Batch:
        current = self.current
        if current is None or current.payload is not payload:
            cut = self._cut[1] if self._cut[0] is payload else None
            current = self.current = _Batch(payload, self.framed, cut)
        return current

    def _first_write(self, batch: _Batch, index: int) -> None:
        """Note that entry ``index`` is being written (again: a resend)."""
        if batch.written[index]:
            self._count("resent")
            return
        batch.written[index] = True
        if batch.cut[index]:
            self._count("truncated")

    def _count(self, key: str, amount: int = 1) -> None:
        self.counters[key] += amount

    def _connected(self) -> None:
        """A connection (a RELP session) was made: a reconnect when one was down."""
        if self.down:
            self._count("reconnects")
            self.down = False

    def _forget(self) -> None:
        """After ``os.fork()`` in the child: no batch, and counters from zero (the
        engine's ``stats()`` in a child count since the fork; so do the wire's)."""
        self.current = None
        self.down = False
        self.counters = dict.fromkeys(self.counters, 0)

    def stats(self) -> dict[str, int]:
        return dict(self.counters)


class _DatagramWire(_WireBase):
    """UDP (to a host and port) or a local datagram socket (a path such as
    ``/dev/log``): one datagram per entry, cut to ``max_bytes`` (counted)."""

    def __init__(self, formatter: SyslogFormatter, protocol: str, address: Any,
                 limit: int) -> None:
        super().__init__(formatter, limit)
        self.protocol = protocol
        self.address = address
        self.sock: socket.socket | None = None
        self.target: Any = None

    def _open(self) -> socket.socket:
        if self.protocol == "unix":
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            try:
                sock.connect(os.fspath(self.address))
            except OSError:
                sock.close()
                raise
            self.target = None
        else:
            host, port = self.address
            family, kind, proto, _, target = socket.getaddrinfo(
                host, port, type=socket.SOCK_DGRAM)[0]
            sock = socket.socket(family, kind, proto)
            self.target = target
        return sock

    def send(self, payload: bytes, count: int, timeout: float) -> tuple[int, str]:
        batch = self._batch(payload)
        for index in batch.todo():
            try:
                sock = self.sock
                if sock is None:
                    sock = self.sock = self._open()
                sock.settimeout(timeout)
                frame = batch.frames[index]
                if self.target is None:
                    sock.send(frame)
                else:
                    sock.sendto(frame, self.target)
            except OSError as exc:
                if exc.errno == errno.EMSGSIZE:  # larger than the socket takes at all
                    batch.lose(index, f"a message of {len(batch.frames[index])} bytes is "
                               f"too large for the socket: {describe(exc)}")
                    continue
                self.close()
                where = (self.address if self.protocol == "unix"
                         else f"{self.address[0]}:{self.address[1]}")
                raise Retry(f"sending to {where} over {self.protocol.upper()}: "
                            f"{describe(exc)}", delivered=batch.delivered()) from None
            batch.done(index)
            if batch.cut[index]:
                self._count("truncated")
        return batch.result()

    def close(self) -> None:
        sock, self.sock = self.sock, None
        if sock is not None:
            sock.close()

    def after_fork_in_child(self) -> None:
        self.close()
        self._forget()


class _Connection:
    """A connected stream socket (TCP, or TLS over it) and what the wire reads of the
    kernel's acknowledgement counters for it (Linux; ``exact`` is False elsewhere)."""

    __slots__ = ("sock", "exact", "counted", "stream")

    def __init__(self, sock: socket.socket) -> None:
        # Under TLS this is the SSLSocket: it owns the TCP socket's descriptor (wrapping
        # detached the plain socket object), so the kernel's counters are read through it.
        self.sock = sock
        # Plain TCP: where the stream ends is counted here (``stream``, in ``acked()``'s
        # terms: its reading before the first byte, plus every byte written since),
        # which spares a kernel call per write; TLS adds bytes of its own, so there it
        # is read from the kernel (``written()``).
        self.counted = not isinstance(sock, ssl.SSLSocket)
        try:
            self.stream = self.acked()
            self.unacked()
            self.exact = True
        except (OSError, AttributeError, ImportError, struct.error):  # not Linux
            self.stream = 0
            self.exact = False

    def send_all(self, data: bytes, timeout: float) -> None:
        """``sock.sendall(data)`` within ``timeout`` seconds. Compiled, over plain TCP,
        what the kernel takes at once is written without giving up the GIL
        (``_syslogfast.send_now``; ``settimeout`` gives it up too, so it is left for
        the rest): taking the GIL back after a socket call waits for the threads that
        log, up to the interpreter's switch interval."""
        sock = self.sock
        rest: bytes | memoryview = data
        if _fast is not None and self.counted:
            sent = _fast.send_now(sock.fileno(), data)
            if sent == len(data):
                return
            rest = memoryview(data)[sent:]
        sock.settimeout(timeout)
        sock.sendall(rest)

    def unacked(self) -> int:
        """Bytes written that the receiver's TCP has not acknowledged (``SIOCOUTQ``)."""
        import fcntl
        import termios

        out = fcntl.ioctl(self.sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0")
        return int(struct.unpack("i", out)[0])

    def acked(self) -> int:
        """Bytes the receiver's TCP acknowledged since the connection opened (Linux's
        ``tcpi_bytes_acked``, which also counts the SYN: only differences are used)."""
        info = self.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
        return int(struct.unpack_from("=Q", info, _BYTES_ACKED_OFFSET)[0])

    def written(self) -> int:
        """Where the connection's byte stream ends now, in ``acked()``'s terms: the two
        counters read while no acknowledgement came between them (one arriving between
        the reads would move bytes from one to the other and make the sum short)."""
        acked = self.acked()
        while True:
            unacked = self.unacked()
            again = self.acked()
            if again == acked:
                return acked + unacked
            acked = again

    def ended(self) -> bool:
        """Whether the receiver closed or reset the connection (read without waiting;
        anything it sent is discarded: a syslog receiver has nothing to say)."""
        sock = self.sock
        if self.counted:  # plain TCP (compiled: a look that keeps the GIL)
            if not (select.select([sock], [], [], 0)[0] if _fast is None
                    else _fast.readable_now(sock.fileno())):
                return False
        elif (not (isinstance(sock, ssl.SSLSocket) and sock.pending())
              and not select.select([sock], [], [], 0)[0]):
            return False
        sock.settimeout(0)
        try:
            return not sock.recv(4096)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
            return False
        except OSError:
            return True

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


#: Where ``tcpi_bytes_acked`` is in Linux's ``struct tcp_info`` (since Linux 4.1).
_BYTES_ACKED_OFFSET = 120
#: How the compiled wire first waits for a batch's acknowledgement keeping the GIL
#: (``_syslogfast.acked_soon``): 20 looks 50 µs apart, at most 1 ms.
_LOOKS = 20
_LOOK_PAUSE_NS = 50_000


def _connect(host: str, port: int, tls_context: ssl.SSLContext | None,
             deadline: float) -> socket.socket:
    """A TCP connection to ``host:port``, with TLS on it when ``tls_context`` is given
    (the handshake done by ``deadline``)."""
    raw = socket.create_connection((host, port), timeout=_left(deadline))
    try:
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls_context is None:
            return raw
        raw.settimeout(_left(deadline))
        return tls_context.wrap_socket(raw, server_hostname=host)
    except BaseException:
        raw.close()
        raise


def _left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("the deadline passed")
    return left


class _StreamWire(_WireBase):
    """TCP or TLS with octet-counted framing; see the module docstring for what counts
    as delivered and what a broken connection costs."""

    framed = True

    def __init__(self, formatter: SyslogFormatter, protocol: str, address: tuple[str, int],
                 limit: int, tls_context: ssl.SSLContext | None, resend: bool) -> None:
        super().__init__(formatter, limit)
        self.protocol = protocol
        self.host, self.port = address
        self.tls_context = tls_context
        self.resend = resend
        self.connection: _Connection | None = None
        self.counters.update(reconnects=0, unacknowledged=0, resent=0)

    def _where(self) -> str:
        return f"{self.host}:{self.port} over {self.protocol.upper()}"

    def send(self, payload: bytes, count: int, timeout: float) -> tuple[int, str]:
        deadline = time.monotonic() + timeout
        batch = self._batch(payload)
        try:
            while not batch.finished():
                self._attempt(batch, deadline)
        except Retry as exc:  # with what was acknowledged before the failure
            exc.delivered = batch.delivered()
            raise
        return batch.result()

    def _attempt(self, batch: _Batch, deadline: float) -> None:
        connection = self._connection(batch, deadline)
        try:
            self._write(connection, batch, deadline)
        except OSError as exc:  # a timeout too: the stream may be cut mid-frame
            self._broken(batch, describe(exc))
            raise Retry(f"{self._where()}: writing failed: {describe(exc)}") from None
        try:
            self._confirm(connection, batch, deadline)
        except TimeoutError:  # the connection stays: the next attempt waits on
            self._acknowledged(connection, batch)
            raise Retry(f"{self._where()}: the receiver did not acknowledge the "
                        "batch within the timeout") from None
        except OSError as exc:
            self._broken(batch, describe(exc))
            raise Retry(f"{self._where()}: the connection broke: "
                        f"{describe(exc)}") from None

    def _connection(self, batch: _Batch, deadline: float) -> _Connection:
        """The open connection, or a new one when there is none or the receiver ended
        it (a Retry when it cannot be made)."""
        connection = self.connection
        if connection is not None:
            if not connection.ended():
                return connection
            self._broken(batch, "the receiver closed the connection")
        try:
            sock = _connect(self.host, self.port, self.tls_context, deadline)
        except (OSError, ssl.SSLError) as exc:
            self.down = True
            raise Retry(f"connecting to {self._where()}: {describe(exc)}") from None
        self._connected()
        self.connection = connection = _Connection(sock)
        return connection

    def _write(self, connection: _Connection, batch: _Batch, deadline: float) -> None:
        """Write the entries not written yet: one write over TCP, records of at most
        16 KiB over TLS, noting where each entry ends in the stream."""
        todo = batch.todo()
        if not todo:
            return
        sock = connection.sock
        # before anything is marked written: a deadline that already passed has cut
        # nothing, and the connection stays
        timeout = deadline - time.monotonic()
        if timeout <= 0:
            raise Retry(f"{self._where()}: the timeout passed before the batch was written")
        if self.tls_context is None and len(todo) == len(batch.state):
            # the whole batch (a first attempt, or one after nothing was acknowledged):
            # the payload as it is, in one write
            if batch.untouched():
                truncated = batch.cut.count(True)
                if truncated:
                    self._count("truncated", truncated)
            else:
                for index in todo:
                    self._first_write(batch, index)
            batch.write_all(connection.stream)
            connection.stream += len(batch.payload)
            connection.send_all(batch.payload, timeout)
        elif self.tls_context is None:
            ends = batch.ends
            frames = batch.frames
            end = connection.stream
            for index in todo:
                self._first_write(batch, index)
                batch.state[index] = _SENT
                end += len(frames[index])
                ends[index] = end
            connection.stream = end
            connection.send_all(b"".join([frames[index] for index in todo]), timeout)
        else:
            frames = batch.frames
            ends = batch.ends
            for index in todo:
                self._first_write(batch, index)
                batch.state[index] = _SENT
                ends[index] = sys.maxsize  # not known to be written yet
            sock.settimeout(timeout)
            for chunk in _records(todo, frames):
                sock.sendall(b"".join([frames[index] for index in chunk]))
                if connection.exact:
                    end = connection.written()
                    for index in chunk:
                        ends[index] = end
        if not connection.exact:  # no acknowledgement to wait for: written is delivered
            for index in todo:
                batch.done(index)

    def _confirm(self, connection: _Connection, batch: _Batch, deadline: float) -> None:
        """Wait until the receiver's TCP acknowledged every byte written (its end of the
        connection noticed meanwhile: an ``OSError``)."""
        if not connection.exact:
            return
        if _fast is not None and connection.counted and _fast.acked_soon(
                connection.sock.fileno(), connection.stream, _BYTES_ACKED_OFFSET,
                _LOOKS, _LOOK_PAUSE_NS):
            batch.done_sent()
            return
        pause = 0.0001
        while connection.unacked():
            if connection.ended():
                raise ConnectionResetError("the receiver closed the connection")
            left = _left(deadline)
            select.select([connection.sock], [], [], min(pause, left))
            pause = min(pause * 1.5, 0.05)
        batch.done_sent()

    def _acknowledged(self, connection: _Connection, batch: _Batch) -> None:
        """Mark delivered the entries written whose last byte the receiver's TCP has
        acknowledged (nothing where that cannot be read): what a ``Retry`` reports as
        delivered so far when the rest of the batch is not acknowledged in time."""
        if not connection.exact:
            return
        try:
            acked = connection.acked()
        except OSError:
            return
        for index in batch.sent():
            if batch.ends[index] <= acked:
                batch.done(index)

    def _broken(self, batch: _Batch, reason: str) -> None:
        """The connection is gone: entries it acknowledged are delivered, the others
        are written again on the next one, or lost (``resend_unacknowledged``)."""
        connection, self.connection = self.connection, None
        if connection is None:
            return
        self.down = True
        self._acknowledged(connection, batch)
        connection.close()
        for index in batch.sent():
            self._count("unacknowledged")
            if self.resend:
                batch.again(index)
            else:
                batch.lose(index, f"written to a connection that broke before the "
                           f"receiver acknowledged it ({reason})")

    def close(self) -> None:
        connection, self.connection = self.connection, None
        if connection is not None:
            connection.close()

    def after_fork_in_child(self) -> None:
        self.close()  # the parent's connection stays open in the parent
        self._forget()


def _records(todo: list[int], frames: list[memoryview]) -> list[list[int]]:
    """``todo`` in runs of at most one TLS record's worth of bytes (an entry larger than
    a record alone)."""
    runs: list[list[int]] = []
    run: list[int] = []
    size = 0
    for index in todo:
        length = len(frames[index])
        if run and size + length > _TLS_RECORD:
            runs.append(run)
            run, size = [], 0
        run.append(index)
        size += length
    if run:
        runs.append(run)
    return runs


class _RelpWire(_WireBase):
    """RELP: each entry one ``syslog`` command, delivered on its ``rsp 200``; see the
    module docstring and ``_relp.py``."""

    def __init__(self, formatter: SyslogFormatter, address: tuple[str, int], limit: int,
                 tls_context: ssl.SSLContext | None, window: int) -> None:
        super().__init__(formatter, limit)
        self.host, self.port = address
        self.tls_context = tls_context
        self.window = window
        self.session: _relp.RelpSession | None = None
        self.counters.update(reconnects=0, unacknowledged=0, resent=0)

    def _where(self) -> str:
        return f"{self.host}:{self.port} over RELP"

    def send(self, payload: bytes, count: int, timeout: float) -> tuple[int, str]:
        deadline = time.monotonic() + timeout
        batch = self._batch(payload)
        try:
            while not batch.finished():
                session = self._session(batch, deadline)
                try:
                    self._exchange(session, batch, deadline)
                except TimeoutError:
                    raise Retry(f"{self._where()}: no answer within the timeout") from None
                except (OSError, _relp.RelpError) as exc:
                    self._broken(batch)
                    raise Retry(f"{self._where()}: the session broke: "
                                f"{describe(exc)}") from None
        except Retry as exc:  # with what rsyslog answered before the failure
            exc.delivered = batch.delivered()
            raise
        return batch.result()

    def _session(self, batch: _Batch, deadline: float) -> _relp.RelpSession:
        session = self.session
        if session is not None:
            return session
        try:
            sock = _connect(self.host, self.port, self.tls_context, deadline)
        except (OSError, ssl.SSLError) as exc:
            self.down = True
            raise Retry(f"connecting to {self._where()}: {describe(exc)}") from None
        session = _relp.RelpSession(sock, window=self.window)
        try:
            session.open(deadline)
        except (OSError, _relp.RelpError) as exc:
            session.abort()
            self.down = True
            raise Retry(f"opening a session with {self._where()}: {describe(exc)}") from None
        self._connected()
        self.session = session
        return session

    def _exchange(self, session: _relp.RelpSession, batch: _Batch, deadline: float) -> None:
        """Send the batch's entries, at most a window of them unanswered, and take the
        answers, until every entry is answered.

        The window is refilled once half of it is free, not after every answer: rsyslog
        answers a command at a time as it takes them, and sending one command per answer
        costs a write and a read per entry on both sides (about a tenth of the rate)."""
        self._answers(batch, session.check(deadline))
        while True:
            room = session.room
            todo = batch.todo(room) if room * 2 >= session.window else []
            if todo:
                for index in todo:
                    self._first_write(batch, index)
                    batch.state[index] = _SENT
                session.send_syslog([(batch.frames[index], (batch, index))
                                     for index in todo], deadline)
            if batch.finished():
                return
            # something is unanswered (this batch's, or a batch given up on holding the
            # window): wait for answers
            self._answers(batch, session.responses(deadline))

    def _answers(self, batch: _Batch, answers: list[tuple[Any, _relp.Response]]) -> None:
        for (owner, index), response in answers:
            if owner is not batch:  # a batch the engine gave up on: its fate is counted
                continue
            if response.ok:
                batch.done(index)
            else:
                batch.lose(index, f"the RELP server refused it: {response.code} "
                           f"{response.text}".rstrip())

    def _broken(self, batch: _Batch) -> None:
        """The session is gone: its unanswered entries are sent again on the next."""
        session, self.session = self.session, None
        if session is not None:
            session.abort()
        self.down = True
        for index in batch.sent():
            self._count("unacknowledged")
            batch.again(index)

    def close(self) -> None:
        session, self.session = self.session, None
        if session is not None:
            with contextlib.suppress(OSError, _relp.RelpError):
                session.close(time.monotonic() + _CLOSE_WAIT)

    def after_fork_in_child(self) -> None:
        session, self.session = self.session, None
        if session is not None:
            session.abort()  # no close command: the session is the parent's
        self._forget()


#: How long ``close`` waits for the answer to RELP's ``close``.
_CLOSE_WAIT = 1.0


# -- the transport ----------------------------------------------------------------------


class SyslogTransport(DeliveryTransport):
    """Ships entries as syslog messages to a syslog receiver (rsyslog, syslog-ng).

    ``protocol``: ``"udp"``, ``"tcp"`` (RFC 6587 octet counting), ``"tls"`` (RFC 5425;
    ``tls_context`` is an ``ssl.SSLContext``, by default ``ssl.create_default_context()``,
    which checks the server's certificate and name), ``"relp"`` (rsyslog's acknowledged
    protocol; TLS too when ``tls_context`` is given) or ``"unix"`` (a local datagram
    socket). ``address`` is ``(host, port)``, by default ``("127.0.0.1", port)`` with
    the protocol's usual port (514 for UDP and TCP, 6514 for TLS, 2514 for RELP), or a
    path for ``"unix"`` (by default ``/dev/log``).

    ``format``: ``"rfc5424"`` or ``"rfc3164"``. The PRI is ``facility * 8 + severity``
    (``facility`` a name such as ``"local0"`` or its number; the severity from the level:
    TRACE and DEBUG 7, INFO 6, WARN 4, ERROR 3, FATAL 2). The header's ``hostname``
    (default: the machine's), ``app_name`` (default: the script's name), ``procid``
    (default: the process ID) and ``msgid`` (default: none, ``-``) are printable ASCII
    (other characters become ``_``) within RFC 5424's lengths; the timestamp is the
    entry's, in local time with its offset, to the microsecond.

    ``structured_data``: ``"fields"`` writes the data and metadata as one SD-ELEMENT
    ``[sd_id name="value" ...]`` (names stripped of the characters §6.3.3 forbids,
    values escaped, nested values as JSON); ``"json"`` sends the entry's JSON line (as
    ``StructuredTransport`` writes it) as the MSG instead; ``None`` sends the message
    only. With RFC 3164, which has no structured data, the element follows the message.
    A MSG that is not ASCII is UTF-8 preceded by the BOM (RFC 5424 §6.4).

    A message never breaks framing: over TCP, TLS and RELP its length is counted in
    bytes; over UDP and a local socket, and always with RFC 3164, line breaks and other
    control characters are escaped (``\\n``), since such messages are often relayed to
    receivers that end a message at a newline. A message longer than
    ``max_message_bytes`` (by default 2048 over UDP, RFC 5426's size every receiver
    should take, else 8192, rsyslog's default ``maxMessageSize``; at least 512) is cut
    at a UTF-8 character boundary and counted in ``stats()["truncated"]``: rsyslog
    takes a longer TCP frame for a framing error and garbles the messages after it.
    Raise it to what your receiver accepts.

    What counts as delivered, per protocol, and what a broken connection or session
    costs, is in the module docstring of ``loglayer.transports._syslog``; in short: UDP
    and local sockets never know; TCP and TLS know what the receiver's host
    acknowledged (Linux), count what a broken connection left unacknowledged in
    ``stats()["unacknowledged"]`` and drop it, or send it again with
    ``resend_unacknowledged=True`` (at least once); RELP counts an entry only on the
    server's answer and sends unanswered entries again after a reconnect, at most
    ``relp_window`` of them in flight. ``stats()`` adds ``truncated`` and, for TCP, TLS
    and RELP, ``reconnects`` (connections made after a failure, a first one after failed
    attempts included), ``unacknowledged`` (entries written to a connection that broke
    before they were acknowledged) and ``resent`` (those written again) to the engine's
    counters. Reconnecting waits the engine's backoff. When ``close()`` gives up on a
    batch, the entries of it the receiver already acknowledged count as delivered.

    Delivery (batching, retries, overflow, the spool, ``flush``/``close``) is the
    engine's: see ``loglayer.transports._delivery`` for every option. Defaults here:
    batches of at most 512 entries, sent at least every 0.2 seconds.
    """

    def __init__(self, address: Any = None, *, protocol: str = "udp",
                 format: str = "rfc5424", app_name: str | None = None,  # noqa: A002
                 hostname: str | None = None, facility: Any = "user",
                 procid: Any = None, msgid: str | None = None,
                 structured_data: str | None = "fields", sd_id: str = "loglayer@32473",
                 tls_context: ssl.SSLContext | None = None,
                 resend_unacknowledged: bool = False, max_message_bytes: int | None = None,
                 relp_window: int = 128, id: str = "", level: Any = None,  # noqa: A002
                 **delivery_options: Any) -> None:
        check_choice("protocol", protocol, PROTOCOLS)
        check_choice("format", format, FORMATS)
        check_choice("structured_data", structured_data, STRUCTURED_DATA)
        address = _checked_address(protocol, address)
        facility_number = _checked_facility(facility)
        check_key("app_name", app_name)
        check_key("hostname", hostname)
        check_key("msgid", msgid)
        if procid is not None:
            check_type("procid", procid, (str, int), "a str, an int or None")
            procid = check_key("procid", str(procid))
        _check_sd_id(sd_id)
        check_bool("resend_unacknowledged", resend_unacknowledged)
        if resend_unacknowledged and protocol not in ("tcp", "tls", "relp"):
            raise ValueError("resend_unacknowledged is for protocol 'tcp', 'tls' or "
                             f"'relp', got protocol={protocol!r}")
        check_int("relp_window", relp_window, minimum=1)
        check_int("max_message_bytes", max_message_bytes, minimum=MIN_MESSAGE_BYTES,
                  allow_none=True)
        limit = (DEFAULT_MESSAGE_BYTES[protocol] if max_message_bytes is None
                 else max_message_bytes)
        if tls_context is not None:
            check_type("tls_context", tls_context, ssl.SSLContext, "an ssl.SSLContext or None")
            if protocol not in ("tls", "relp"):
                raise ValueError("tls_context is for protocol 'tls' or 'relp', got "
                                 f"protocol={protocol!r}")
        elif protocol == "tls":
            tls_context = ssl.create_default_context()
        formatter = SyslogFormatter(format=format, facility=facility_number,
                                    hostname=hostname, app_name=app_name, procid=procid,
                                    msgid=msgid, structured_data=structured_data,
                                    sd_id=sd_id, one_line=protocol in ("udp", "unix"))
        wire: Any
        if protocol in ("udp", "unix"):
            wire = _DatagramWire(formatter, protocol, address, limit)
        elif protocol == "relp":
            wire = _RelpWire(formatter, address, limit, tls_context, relp_window)
        else:
            wire = _StreamWire(formatter, protocol, address, limit, tls_context,
                               resend_unacknowledged)
        self.address = address
        self.protocol = protocol
        self.formatter = formatter
        options = {"max_batch_entries": 512, "flush_interval": 0.2, **delivery_options}
        super().__init__(wire, id=id, level=level, **options)

    def __repr__(self) -> str:
        return (f"<SyslogTransport id={self.id!r} protocol={self.protocol!r} "
                f"address={self.address!r}>")


def _checked_address(protocol: str, address: Any) -> Any:
    """``address`` for ``protocol``: a path (``unix``) or ``(host, port)``, with the
    protocol's default when None."""
    if protocol == "unix":
        if address is None:
            return DEFAULT_SOCKET
        check_type("address", address, (str, PathLike), "a path (str or os.PathLike) or None")
        return check_key("address", os.fspath(address))
    if address is None:
        return ("127.0.0.1", DEFAULT_PORTS[protocol])
    # a list too: what a configuration file (JSON, TOML, YAML) gives for a pair
    check_type("address", address, (tuple, list), "a (host, port) tuple or None")
    if len(address) != 2:
        raise ValueError(f"address must be a (host, port) tuple, got {address!r}")
    host, port = address
    check_key("address[0] (the host)", host, allow_none=False)
    check_int("address[1] (the port)", port, minimum=1)
    if port > 65535:
        raise ValueError(f"address[1] (the port) must be at most 65535, got {port!r}")
    return (host, port)


def _checked_facility(facility: Any) -> int:
    """A facility name of :data:`FACILITIES` or its number (0 to 23)."""
    if isinstance(facility, str):
        if facility not in FACILITIES:
            raise ValueError(f"facility must be one of {', '.join(FACILITIES)} or 0 to 23, "
                             f"got {facility!r}")
        return FACILITIES[facility]
    number = check_int("facility", facility, minimum=0)
    if number > 23:
        raise ValueError(f"facility must be at most 23, got {facility!r}")
    return number


def _check_sd_id(sd_id: Any) -> None:
    """``sd_id`` must be an SD-NAME: 1 to 32 printable ASCII characters other than
    ``=``, space, ``]`` and ``"`` (RFC 5424 §6.3.2; a name of your own should end in
    ``@`` and an IANA enterprise number, as the default does)."""
    check_key("sd_id", sd_id, allow_none=False)
    if len(sd_id) > _SD_NAME_MAX or sd_name(sd_id) != sd_id:
        raise ValueError("sd_id must be 1 to 32 printable ASCII characters other than "
                         f"'=', ' ', ']' and '\"', got {sd_id!r}")
