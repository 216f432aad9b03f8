"""The client side of RELP, the Reliable Event Logging Protocol of rsyslog (``imrelp``).

RELP carries syslog messages over TCP with an acknowledgement for each: the client
sends commands, each with a transaction number (txnr), and the server answers every one
with an ``rsp`` frame carrying the same txnr, in the order the commands came. A message
counts as delivered only once its ``rsp 200`` arrived; after a broken connection the
client cannot tell what the server did with the commands it had not answered yet, so it
sends them again on the next session (at least once: a message the server had processed
whose answer was lost with the connection arrives twice).

A frame (rsyslog's librelp ``doc/relp.md``)::

    TXNR SP COMMAND SP DATALEN [SP DATA] LF

``TXNR`` is 1 to 999,999,999 (after that, 1 again; 0 is for hints such as the server's
``serverclose``), ``COMMAND`` 1 to 32 letters, ``DATALEN`` the number of octets of
``DATA`` (no ``SP DATA`` when it is 0). An ``rsp``'s data is ``CODE [SP TEXT] [LF
BODY]``: 200 means done, anything else failed.

A session: the client sends ``open`` with its offers (``relp_version``,
``relp_software``, ``commands=syslog``) and waits for the answer, which must offer a
``relp_version`` and list ``syslog`` among its commands; then any number of ``syslog``
commands, at most ``window`` of them unanswered at any time; then ``close``, whose
answer ends the session (librelp answers it with an ``rsp`` of no data at all, not
``200 OK``: any answer to ``close`` will do). A server going down first sends the
``serverclose`` hint (and closes the connection, which the client must notice anyway).

This module is the protocol only: frames, their parser, and :class:`RelpSession` over a
connected socket. Which messages to send, and what to do when a session breaks, is the
syslog transport's (``_syslog.py``).
"""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
import time
from collections import OrderedDict
from typing import Any, NamedTuple

__all__ = [
    "MAX_TXNR",
    "Frame",
    "FrameParser",
    "RelpClosed",
    "RelpError",
    "RelpSession",
    "Response",
    "encode_frame",
    "parse_offers",
    "parse_response",
]

#: The largest transaction number; the one after it is 1.
MAX_TXNR = 999_999_999
#: The protocol version rsyslog's librelp speaks and offers.
RELP_VERSION = "0"
#: What this client calls itself in the ``relp_software`` offer.
SOFTWARE = "loglayer,1,https://github.com/loglayer"
#: The largest frame data accepted from a server: an answer is a status line and, for
#: ``open``, a few offers; anything near this size is a broken or hostile server.
MAX_RESPONSE_DATA = 64 * 1024
#: Linux's TCP_QUICKACK (None elsewhere).
_QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)
_MAX_COMMAND = 32
_MAX_DIGITS = 9
_READ_SIZE = 64 * 1024


class RelpError(Exception):
    """The server broke the protocol (a malformed frame, an answer to no command, an
    ``open`` refused): the session is unusable and is closed."""


class RelpClosed(ConnectionError):
    """The server ended the session: its ``serverclose`` hint, or the end of the
    connection. Commands it had not answered are to be sent again."""


class Frame(NamedTuple):
    """One RELP frame: its transaction number, command and data."""

    txnr: int
    command: str
    data: bytes


class Response(NamedTuple):
    """An ``rsp`` frame's data: the status ``code`` (200 is success), the
    human-readable ``text`` and, after the first line, the ``body``."""

    code: int
    text: str
    body: bytes

    @property
    def ok(self) -> bool:
        return self.code == 200


def encode_frame(txnr: int, command: str, data: bytes | memoryview = b"") -> bytes:
    """The bytes of one frame (``data`` empty: no data part, as the grammar says)."""
    if not 0 <= txnr <= MAX_TXNR:
        raise ValueError(f"txnr must be between 0 and {MAX_TXNR}, got {txnr!r}")
    if not (0 < len(command) <= _MAX_COMMAND and command.isascii() and command.isalpha()):
        raise ValueError(f"command must be 1 to 32 ASCII letters, got {command!r}")
    if not data:
        return b"%d %s 0\n" % (txnr, command.encode("ascii"))
    return b"%d %s %d %s\n" % (txnr, command.encode("ascii"), len(data), data)


def next_txnr(txnr: int) -> int:
    """The transaction number after ``txnr``: 1 follows ``MAX_TXNR`` (0 is for hints)."""
    return 1 if txnr >= MAX_TXNR else txnr + 1


def parse_response(data: bytes) -> Response:
    """An ``rsp`` frame's data as a :class:`Response`; :class:`RelpError` when it does
    not start with a three-digit code."""
    line, _, body = data.partition(b"\n")
    code, _, text = line.partition(b" ")
    if len(code) != 3 or not code.isdigit():
        raise RelpError(f"an rsp frame must start with a 3-digit status code, got {line[:80]!r}")
    return Response(int(code), text.decode("utf-8", "replace"), body)


def parse_offers(body: bytes) -> dict[str, list[str]]:
    """Offers (``name=value,value`` lines, as an ``open`` and its answer carry them) as
    a dict of name to values; an offer without ``=`` has no values."""
    offers: dict[str, list[str]] = {}
    for line in body.split(b"\n"):
        if not line:
            continue
        name, has_values, values = line.decode("utf-8", "replace").partition("=")
        offers[name] = values.split(",") if has_values else []
    return offers


def open_offers() -> bytes:
    """The data of this client's ``open``: the version, the software, the command."""
    return (f"relp_version={RELP_VERSION}\nrelp_software={SOFTWARE}\n"
            f"commands=syslog").encode("ascii")


class FrameParser:
    """Cuts a byte stream into frames. ``feed`` takes what arrived and returns the
    frames it completed; a partial frame waits for the next ``feed``. Anything that
    is not a frame raises :class:`RelpError` (a RELP peer aborts on a framing error
    instead of guessing where the next frame starts)."""

    __slots__ = ("_buffer", "max_data")

    def __init__(self, max_data: int = MAX_RESPONSE_DATA) -> None:
        self._buffer = bytearray()
        self.max_data = max_data

    def feed(self, data: bytes) -> list[Frame]:
        buffer = self._buffer
        buffer += data
        frames: list[Frame] = []
        while True:
            frame = self._next()
            if frame is None:
                return frames
            frames.append(frame)

    def _next(self) -> Frame | None:
        buffer = self._buffer
        position = 0
        fields = []
        for limit in (_MAX_DIGITS, _MAX_COMMAND, _MAX_DIGITS):
            end = self._field_end(position, limit)
            if end is None:
                return None
            fields.append(bytes(buffer[position:end]))
            position = end + 1
        txnr, command, length = fields
        if not txnr.isdigit() or not length.isdigit():
            raise RelpError(f"a frame's txnr and length must be numbers, got {txnr!r} "
                            f"and {length!r}")
        if not (command.isascii() and command.isalpha()):
            raise RelpError(f"a frame's command must be letters, got {command!r}")
        size = int(length)
        if size > self.max_data:
            raise RelpError(f"a frame of {size} octets is larger than {self.max_data}")
        # The length field ends with SP when data follows, with LF (the trailer) when
        # there is none.
        separator = buffer[position - 1]
        if size == 0:
            if separator != 0x0A:
                raise RelpError("a frame of length 0 must end right after its length")
            del buffer[:position]
            return Frame(int(txnr), command.decode("ascii"), b"")
        if separator != 0x20:
            raise RelpError(f"a frame of length {size} must have data after its length")
        end = position + size
        if len(buffer) <= end:
            return None
        if buffer[end] != 0x0A:
            trailer = bytes(buffer[end:end + 1])
            raise RelpError(f"a frame's data must be followed by LF, got {trailer!r}")
        data = bytes(buffer[position:end])
        del buffer[:end + 1]
        return Frame(int(txnr), command.decode("ascii"), data)

    def _field_end(self, start: int, limit: int) -> int | None:
        """Where the header field at ``start`` ends (its SP, or the LF that ends a frame
        of length 0); None when it has not all arrived; RelpError when too long."""
        buffer = self._buffer
        for index in range(start, min(len(buffer), start + limit + 1)):
            byte = buffer[index]
            if byte == 0x20 or byte == 0x0A:
                if index == start:
                    raise RelpError("a frame has an empty header field")
                return index
        if len(buffer) > start + limit:
            raise RelpError(f"a frame header field is longer than {limit} characters: "
                            f"{bytes(buffer[start:start + limit + 1])!r}")
        return None


class RelpSession:
    """One RELP session on a connected stream socket (TCP, or TLS already wrapped).

    ``open`` runs the handshake. ``send_syslog([(message, token), ...])`` sends
    messages and remembers each ``token`` under its message's txnr; ``responses``
    waits for answers and returns ``(token, Response)`` pairs in the order of the
    commands; ``check`` returns those already there without waiting. ``close`` ends the
    session politely, ``abort`` at once. At most ``window`` messages are unanswered:
    ``room`` says how many more may be sent now. Every method raises ``OSError`` (the
    connection broke; :class:`RelpClosed` when the server ended it) or
    :class:`RelpError`; after either, only ``abort`` is left. ``TimeoutError`` means
    the deadline passed first, and the session stays usable.
    """

    def __init__(self, sock: socket.socket, *, window: int = 128) -> None:
        self.sock = sock
        self.window = window
        self.parser = FrameParser()
        self.txnr = 0
        self.unanswered: OrderedDict[int, Any] = OrderedDict()
        self.offers: dict[str, list[str]] = {}
        self.closed_by_server = False
        self.reason = ""
        self._ready: list[tuple[Any, Response]] = []

    @property
    def room(self) -> int:
        return max(self.window - len(self.unanswered), 0)

    def _commands(self, command: str, items: list[tuple[bytes | memoryview, Any]],
                  deadline: float) -> None:
        """Send one ``command`` per ``(data, token)`` of ``items``, in one write."""
        if self.closed_by_server:
            raise RelpClosed(self.reason)
        # Before anything is noted as sent: a deadline already passed leaves the session
        # as it was (a TimeoutError), not with commands waiting for answers never asked.
        timeout = _remaining(deadline)
        frames = []
        unanswered = self.unanswered
        txnr = self.txnr
        for data, token in items:
            txnr = next_txnr(txnr)
            unanswered[txnr] = token
            frames.append(encode_frame(txnr, command, data))
        self.txnr = txnr
        sock = self.sock
        sock.settimeout(timeout)
        try:
            sock.sendall(b"".join(frames))
        except TimeoutError:
            # part of a frame may be written: the stream cannot go on from there
            raise RelpError("a write timed out partway; the session is cut mid-frame") from None

    def open(self, deadline: float) -> dict[str, list[str]]:
        """Send ``open`` and read the server's answer: its offers, which must include a
        ``relp_version`` and the ``syslog`` command (else :class:`RelpError`)."""
        self._commands("open", [(open_offers(), _OPEN)], deadline)
        [(_, response)] = self.responses(deadline)  # the one command sent so far
        if not response.ok:
            raise RelpError(f"the server refused the session: {response.code} "
                            f"{response.text}".rstrip())
        offers = parse_offers(response.body)
        if "relp_version" not in offers:
            raise RelpError("the server's answer to open offers no relp_version")
        if "syslog" not in offers.get("commands", []):
            raise RelpError("the server does not take the syslog command "
                            f"(its commands: {offers.get('commands', [])})")
        self.offers = offers
        return offers

    def send_syslog(self, items: list[tuple[bytes | memoryview, Any]],
                    deadline: float) -> None:
        """Send a ``syslog`` command for each ``(message, token)`` of ``items`` (in one
        write); each answer comes back from ``responses`` with its token. The caller
        keeps within ``room``."""
        self._commands("syslog", items, deadline)

    def responses(self, deadline: float) -> list[tuple[Any, Response]]:
        """Wait until at least one command is answered (or none is waiting) and return
        every answer that arrived, as ``(token, Response)`` in command order.

        Answers that came before a ``serverclose`` or the connection's end are returned
        first; the next call raises :class:`RelpClosed`."""
        while not self._ready:
            if self.closed_by_server:
                raise RelpClosed(self.reason)
            if not self.unanswered:
                return []
            self._read(deadline)
        ready, self._ready = self._ready, []
        return ready

    def _read(self, deadline: float) -> None:
        sock = self.sock
        sock.settimeout(_remaining(deadline))
        data = sock.recv(_READ_SIZE)
        if not data:
            self._ended("the server closed the connection")
            return
        if _QUICKACK is not None:
            # Acknowledge the answers at once: librelp writes an rsp per command, and
            # while this side has nothing to send, a delayed ACK holds its next small
            # write back (Nagle) for up to 40 ms. Linux clears the flag as it goes.
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
        for frame in self.parser.feed(data):
            self._take(frame)

    def _take(self, frame: Frame) -> None:
        if frame.txnr == 0:  # a hint; the only one a server sends is serverclose
            if frame.command == "serverclose":
                self._ended("the server closed the session (serverclose)")
            return
        if frame.command != "rsp":
            raise RelpError(f"the server sent a {frame.command!r} command; a client "
                            "takes only rsp frames and hints")
        token = self.unanswered.pop(frame.txnr, _MISSING)
        if token is _MISSING:
            raise RelpError(f"the server answered txnr {frame.txnr}, which is not waiting "
                            "for an answer")
        if token is _CLOSE:  # librelp answers close with an empty rsp: nothing to read
            return
        self._ready.append((token, parse_response(frame.data)))

    def _ended(self, reason: str) -> None:
        self.closed_by_server = True
        self.reason = reason

    def close(self, deadline: float) -> None:
        """Send ``close`` once nothing is unanswered, wait for its answer (or the
        connection's end), and close the socket. Answers that arrive meanwhile are
        dropped: call it when nothing is waiting for one."""
        try:
            if not self.closed_by_server:
                self._commands("close", [(b"", _CLOSE)], deadline)
                while _CLOSE in self.unanswered.values() and not self.closed_by_server:
                    self._read(deadline)
        finally:
            self.abort()

    def abort(self) -> None:
        """Close the socket without a word (a broken or unwanted session)."""
        with contextlib.suppress(OSError):
            self.sock.close()

    def check(self, deadline: float) -> list[tuple[Any, Response]]:
        """``responses`` without the wait: the answers that already arrived. When none
        did and the server has left (``serverclose``, the connection's end), raises
        :class:`RelpClosed`, so that nothing more is written into a finished session."""
        sock = self.sock
        pending = isinstance(sock, ssl.SSLSocket) and sock.pending()
        if pending or select.select([sock], [], [], 0)[0]:
            self._read(deadline)
        ready, self._ready = self._ready, []
        if not ready and self.closed_by_server:
            raise RelpClosed(self.reason)
        return ready


_OPEN = object()
_CLOSE = object()
_MISSING = object()


def _remaining(deadline: float) -> float:
    """Seconds left before ``deadline``; a passed deadline raises ``TimeoutError``."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("the deadline passed")
    return left
