"""The RELP client (``loglayer.transports._relp``), frame by frame.

Three layers: the frame codec and parser on bytes; :class:`RelpSession` against a
scripted fake server on loopback, which reads the client's frames and answers as each
test says (refusals, hints, answers to nothing, a connection cut in the middle of a
window); and the syslog transport's RELP wire against the fake server (the window,
refused messages, resending after a broken session) and against a real rsyslogd
(``imrelp``; marked slow).

Nothing here asserts how long something took; waits have generous bounds.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import loglayer
from _rsyslog import Rsyslog
from loglayer.transports import SyslogTransport
from loglayer.transports._relp import (
    MAX_TXNR,
    Frame,
    FrameParser,
    RelpClosed,
    RelpError,
    RelpSession,
    Response,
    encode_frame,
    next_txnr,
    open_offers,
    parse_offers,
    parse_response,
)

WAIT = 30.0
OPEN_ANSWER = b"200 OK\nrelp_version=0\nrelp_software=fake\ncommands=syslog"


def deadline(seconds: float = WAIT) -> float:
    return time.monotonic() + seconds


# -- frames ------------------------------------------------------------------------------


def test_a_frame_is_txnr_command_length_data_and_lf() -> None:
    assert encode_frame(1, "open", b"relp_version=0") == b"1 open 14 relp_version=0\n"
    assert encode_frame(7, "syslog", "é".encode()) == b"7 syslog 2 \xc3\xa9\n"


def test_a_frame_without_data_has_no_data_part() -> None:
    assert encode_frame(3, "close") == b"3 close 0\n"
    assert encode_frame(0, "serverclose") == b"0 serverclose 0\n"


@pytest.mark.parametrize(("txnr", "command"), [(-1, "syslog"), (MAX_TXNR + 1, "syslog"),
                                               (1, ""), (1, "sys log"), (1, "x" * 33),
                                               (1, "sÿslog")])
def test_a_frame_takes_only_a_valid_txnr_and_command(txnr: int, command: str) -> None:
    with pytest.raises(ValueError, match="txnr|command"):
        encode_frame(txnr, command, b"x")


def test_txnr_wraps_to_1_after_its_maximum_never_to_0() -> None:
    assert next_txnr(1) == 2
    assert next_txnr(MAX_TXNR - 1) == MAX_TXNR
    assert next_txnr(MAX_TXNR) == 1


def test_the_open_offers_name_the_version_the_software_and_syslog() -> None:
    offers = parse_offers(open_offers())
    assert offers["relp_version"] == ["0"]
    assert offers["commands"] == ["syslog"]
    assert offers["relp_software"][0] == "loglayer"


def test_the_parser_takes_frames_split_anywhere_and_several_at_once() -> None:
    stream = (encode_frame(1, "rsp", OPEN_ANSWER) + encode_frame(2, "rsp", b"200 OK")
              + encode_frame(0, "serverclose") + encode_frame(3, "rsp", b"500 no\nmore"))
    expected = [Frame(1, "rsp", OPEN_ANSWER), Frame(2, "rsp", b"200 OK"),
                Frame(0, "serverclose", b""), Frame(3, "rsp", b"500 no\nmore")]
    parser = FrameParser()
    assert parser.feed(stream) == expected
    one_by_one = FrameParser()
    frames = []
    for index in range(len(stream)):
        frames.extend(one_by_one.feed(stream[index:index + 1]))
    assert frames == expected


def test_data_holding_lf_and_digits_is_taken_by_its_length() -> None:
    data = b"200 OK\n1 rsp 5 fake\n"
    assert FrameParser().feed(encode_frame(9, "rsp", data)) == [Frame(9, "rsp", data)]


@pytest.mark.parametrize("stream", [
    b"x rsp 6 200 OK\n",          # txnr not a number
    b"1 rsp six 200 OK\n",        # length not a number
    b"1 r2p 6 200 OK\n",          # command not letters
    b"1 rsp 6 200 OKX",           # no LF after the data
    b"1 rsp 0 \n",                # length 0 followed by SP
    b"1 rsp 3\nabc\n",            # data without the SP
    b"1234567890 rsp 0\n",        # txnr longer than 9 digits
    b"1 " + b"r" * 33 + b" 0\n",  # command longer than 32 letters
    b" rsp 0\n",                  # empty txnr
])
def test_the_parser_refuses_what_is_not_a_frame(stream: bytes) -> None:
    with pytest.raises(RelpError):
        FrameParser().feed(stream)


def test_the_parser_refuses_a_frame_larger_than_its_limit() -> None:
    with pytest.raises(RelpError, match="larger than 100"):
        FrameParser(max_data=100).feed(b"1 rsp 101 ")


def test_a_partial_header_waits_for_more() -> None:
    parser = FrameParser()
    assert parser.feed(b"12") == []
    assert parser.feed(b"3 rs") == []
    assert parser.feed(b"p 6 200 O") == []
    assert parser.feed(b"K\n") == [Frame(123, "rsp", b"200 OK")]


def test_an_rsp_is_a_code_a_text_and_a_body() -> None:
    assert parse_response(b"200 OK") == Response(200, "OK", b"")
    assert parse_response(b"500 error: full") == Response(500, "error: full", b"")
    answer = parse_response(OPEN_ANSWER)
    assert answer.ok and answer.body == b"relp_version=0\nrelp_software=fake\ncommands=syslog"
    assert not parse_response(b"500").ok
    with pytest.raises(RelpError, match="3-digit"):
        parse_response(b"OK 200")


def test_offers_are_names_with_comma_separated_values() -> None:
    assert parse_offers(b"relp_version=0\ncommands=syslog,eventlog\nflag\n") == {
        "relp_version": ["0"], "commands": ["syslog", "eventlog"], "flag": []}


# -- a scripted server -------------------------------------------------------------------


class Peer:
    """The server's side of one connection, for a script: read the client's frames,
    answer them, hint, or cut the connection."""

    def __init__(self, conn: socket.socket) -> None:
        self.conn = conn
        self.parser = FrameParser(max_data=1 << 20)
        self.pending: list[Frame] = []
        self.received: list[Frame] = []

    def frame(self) -> Frame:
        """The client's next frame; EOFError when it closed the connection."""
        while not self.pending:
            data = self.conn.recv(65536)
            if not data:
                raise EOFError("the client closed the connection")
            self.pending.extend(self.parser.feed(data))
        frame = self.pending.pop(0)
        self.received.append(frame)
        return frame

    def send(self, data: bytes) -> None:
        self.conn.sendall(data)

    def answer(self, frame: Frame, data: bytes = b"200 OK") -> None:
        self.send(encode_frame(frame.txnr, "rsp", data))

    def accept_open(self) -> Frame:
        frame = self.frame()
        assert frame.command == "open", frame
        self.answer(frame, OPEN_ANSWER)
        return frame


class FakeServer:
    """Loopback RELP server running ``scripts[n]`` for its n-th connection (the last
    script for any later one) in a thread; a script's exception fails the test."""

    def __init__(self, *scripts: Callable[[Peer], None]) -> None:
        self.scripts = scripts
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = self.listener.getsockname()[:2]
        self.peers: list[Peer] = []
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            peer = Peer(conn)
            self.peers.append(peer)
            script = self.scripts[min(len(self.peers), len(self.scripts)) - 1]
            try:
                script(peer)
            except EOFError:
                pass
            except BaseException as exc:  # reported by close()
                self.errors.append(exc)
            finally:
                conn.close()

    def close(self) -> None:
        # Closing a listening socket does not wake a thread blocked in accept() on
        # Linux; shutting it down does (accept() then fails with EINVAL).
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        self.thread.join(WAIT)
        assert not self.thread.is_alive(), "the fake server's thread did not end"
        if self.errors:
            raise self.errors[0]


@pytest.fixture
def serve() -> Iterator[Callable[..., FakeServer]]:
    servers: list[FakeServer] = []

    def make(*scripts: Callable[[Peer], None]) -> FakeServer:
        server = FakeServer(*scripts)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


def session_to(server: FakeServer, window: int = 128) -> RelpSession:
    return RelpSession(socket.create_connection(server.address, timeout=WAIT), window=window)


def until_closed(peer: Peer) -> None:
    """Answer every syslog frame with 200 and a close with its answer, until EOF."""
    while True:
        frame = peer.frame()
        peer.answer(frame, b"200 OK")
        if frame.command == "close":
            return


# -- the session against the scripted server -------------------------------------------------


def test_open_sends_the_offers_with_txnr_1_and_reads_the_servers(serve) -> None:
    def script(peer: Peer) -> None:
        peer.accept_open()
        until_closed(peer)

    server = serve(script)
    session = session_to(server)
    offers = session.open(deadline())
    assert offers["commands"] == ["syslog"] and offers["relp_software"] == ["fake"]
    session.close(deadline())
    opening = server.peers[0].received[0]
    assert opening.txnr == 1 and opening.command == "open"
    assert parse_offers(opening.data)["relp_version"] == ["0"]


@pytest.mark.parametrize(("answer", "match"), [
    (b"500 required command not supported by client", "refused the session: 500"),
    (b"200 OK\ncommands=syslog", "no relp_version"),
    (b"200 OK\nrelp_version=0\ncommands=eventlog", "does not take the syslog command"),
])
def test_an_open_the_server_refuses_or_cannot_serve_is_an_error(serve, answer: bytes,
                                                                 match: str) -> None:
    def script(peer: Peer) -> None:
        peer.answer(peer.frame(), answer)

    session = session_to(serve(script))
    with pytest.raises(RelpError, match=match):
        session.open(deadline())
    session.abort()


def test_syslog_frames_carry_increasing_txnrs_and_answers_come_back_with_tokens(serve) -> None:
    def script(peer: Peer) -> None:
        peer.accept_open()
        frames = [peer.frame() for _ in range(3)]
        for frame, answer in zip(frames, [b"200 OK", b"500 queue full", b"200 OK"],
                                 strict=True):
            peer.answer(frame, answer)
        until_closed(peer)

    server = serve(script)
    session = session_to(server)
    session.open(deadline())
    session.send_syslog([(b"<14>1 - h a - - - one", "a"), (b"two", "b"),
                         (memoryview(b"three"), "c")], deadline())
    answers: list[tuple[Any, Response]] = []
    while len(answers) < 3:
        answers.extend(session.responses(deadline()))
    assert [(token, response.code) for token, response in answers] == [
        ("a", 200), ("b", 500), ("c", 200)]
    assert answers[1][1].text == "queue full"
    assert session.responses(deadline()) == []  # nothing is waiting
    session.close(deadline())
    received = server.peers[0].received
    assert [(frame.txnr, frame.command, frame.data) for frame in received] == [
        (1, "open", open_offers()), (2, "syslog", b"<14>1 - h a - - - one"),
        (3, "syslog", b"two"), (4, "syslog", b"three"), (5, "close", b"")]


def test_room_is_the_window_less_what_is_unanswered(serve) -> None:
    release = threading.Event()

    def script(peer: Peer) -> None:
        peer.accept_open()
        frames = [peer.frame() for _ in range(3)]
        release.wait(WAIT)
        for frame in frames:
            peer.answer(frame)
        until_closed(peer)

    session = session_to(serve(script), window=3)
    session.open(deadline())
    assert session.room == 3
    session.send_syslog([(b"1", 1), (b"2", 2)], deadline())
    assert session.room == 1
    session.send_syslog([(b"3", 3)], deadline())
    assert session.room == 0
    assert session.check(deadline()) == []
    release.set()
    answered = []
    while len(answered) < 3:
        answered.extend(token for token, _ in session.responses(deadline()))
    assert answered == [1, 2, 3] and session.room == 3
    session.close(deadline())


def test_an_answer_to_no_command_breaks_the_session(serve) -> None:
    def script(peer: Peer) -> None:
        peer.accept_open()
        peer.frame()
        peer.send(encode_frame(77, "rsp", b"200 OK"))
        time.sleep(0.2)

    session = session_to(serve(script))
    session.open(deadline())
    session.send_syslog([(b"x", 1)], deadline())
    with pytest.raises(RelpError, match="txnr 77"):
        session.responses(deadline())
    session.abort()


def test_a_command_from_the_server_breaks_the_session(serve) -> None:
    def script(peer: Peer) -> None:
        peer.accept_open()
        peer.frame()
        peer.send(encode_frame(5, "syslog", b"hello"))
        time.sleep(0.2)

    session = session_to(serve(script))
    session.open(deadline())
    session.send_syslog([(b"x", 1)], deadline())
    with pytest.raises(RelpError, match="'syslog' command"):
        session.responses(deadline())
    session.abort()


def test_serverclose_returns_the_answers_before_it_then_closes(serve) -> None:
    def script(peer: Peer) -> None:
        peer.accept_open()
        first, second = peer.frame(), peer.frame()
        peer.answer(first)
        peer.send(encode_frame(0, "serverclose"))
        del second  # never answered

    session = session_to(serve(script))
    session.open(deadline())
    session.send_syslog([(b"one", "one"), (b"two", "two")], deadline())
    answers = session.responses(deadline())
    while not session.closed_by_server:  # the hint may come in a later read
        with pytest.raises(RelpClosed):
            answers += session.responses(deadline())
    assert [token for token, _ in answers] == ["one"]
    assert list(session.unanswered.values()) == ["two"]
    with pytest.raises(RelpClosed, match="serverclose"):
        session.responses(deadline())
    with pytest.raises(RelpClosed):
        session.send_syslog([(b"three", "three")], deadline())
    session.abort()


def test_check_sees_a_serverclose_before_anything_more_is_written(serve) -> None:
    hinted = threading.Event()

    def script(peer: Peer) -> None:
        peer.accept_open()
        peer.send(encode_frame(0, "serverclose"))
        hinted.set()

    server = serve(script)
    session = session_to(server)
    session.open(deadline())
    assert hinted.wait(WAIT)
    stop = deadline()
    while True:
        try:
            session.check(deadline())
        except RelpClosed:
            break
        assert time.monotonic() < stop, "check() never saw the serverclose"
        time.sleep(0.01)
    session.abort()
    assert [frame.command for frame in server.peers[0].received] == ["open"]


def test_the_end_of_the_connection_is_relpclosed(serve) -> None:
    def script(peer: Peer) -> None:
        peer.accept_open()
        peer.frame()  # and the connection closes, unanswered

    session = session_to(serve(script))
    session.open(deadline())
    session.send_syslog([(b"x", 1)], deadline())
    with pytest.raises(RelpClosed, match="closed the connection"):
        session.responses(deadline())
    session.abort()


def test_no_answer_by_the_deadline_is_a_timeout_and_the_session_stays(serve) -> None:
    release = threading.Event()

    def script(peer: Peer) -> None:
        peer.accept_open()
        frame = peer.frame()
        release.wait(WAIT)
        peer.answer(frame)
        until_closed(peer)

    session = session_to(serve(script))
    session.open(deadline())
    session.send_syslog([(b"x", "x")], deadline())
    with pytest.raises(TimeoutError):
        session.responses(time.monotonic() + 0.05)
    release.set()
    assert [token for token, _ in session.responses(deadline())] == ["x"]
    session.close(deadline())


def test_a_deadline_already_passed_sends_nothing_and_notes_nothing(serve) -> None:
    def script(peer: Peer) -> None:
        peer.accept_open()
        until_closed(peer)

    server = serve(script)
    session = session_to(server)
    session.open(deadline())
    with pytest.raises(TimeoutError):
        session.send_syslog([(b"late", "late")], time.monotonic() - 1)
    assert (session.txnr, dict(session.unanswered), session.room) == (1, {}, 128)
    session.send_syslog([(b"on time", "on time")], deadline())
    assert [token for token, _ in session.responses(deadline())] == ["on time"]
    session.close(deadline())
    assert [(f.txnr, f.data) for f in server.peers[0].received if f.command == "syslog"] == [
        (2, b"on time")]


@pytest.mark.parametrize("answer", [b"200 OK", b""], ids=["200", "empty, as librelp"])
def test_close_sends_close_and_waits_for_its_answer(serve, answer: bytes) -> None:
    def script(peer: Peer) -> None:
        peer.accept_open()
        frame = peer.frame()
        assert (frame.command, frame.data) == ("close", b"")
        peer.answer(frame, answer)
        peer.send(encode_frame(0, "serverclose"))

    server = serve(script)
    session = session_to(server)
    session.open(deadline())
    session.close(deadline())
    assert session.sock.fileno() == -1
    assert server.peers[0].received[-1].txnr == 2


# -- the transport's RELP wire against the scripted server -------------------------------


def relp_transport(address: Any, **options: Any) -> SyslogTransport:
    options = {"flush_interval": 0.01, "retry_initial": 0.01, "retry_max": 0.05,
               "timeout": 5.0, **options}
    return SyslogTransport(address, protocol="relp", app_name="relptest", **options)


def messages(peer: Peer) -> list[bytes]:
    return [frame.data.rsplit(b" ", 1)[-1] for frame in peer.received
            if frame.command == "syslog"]


def test_the_wire_keeps_at_most_a_window_unanswered(serve) -> None:
    seen = []  # how many frames were unanswered at the server, each time it answered

    def script(peer: Peer) -> None:
        peer.accept_open()
        unanswered: list[Frame] = []
        while True:
            frame = peer.frame()
            if frame.command == "close":
                for waiting in [*unanswered, frame]:
                    peer.answer(waiting)
                return
            unanswered.append(frame)
            # answer what came once nothing more is on its way (an answer per frame
            # would never let the client fill its window)
            if not peer.pending and not select.select([peer.conn], [], [], 0.02)[0]:
                seen.append(len(unanswered))
                for waiting in unanswered:
                    peer.answer(waiting)
                unanswered.clear()

    server = serve(script)
    transport = relp_transport(server.address, relp_window=5, max_batch_entries=200,
                               flush_interval=60)
    log = loglayer.LogLayer(transports=transport)
    for index in range(200):
        log.info(f"m{index}")
    assert transport.close(WAIT)
    assert transport.stats()["delivered"] == 200
    assert max(seen) == 5 and sum(seen) == 200
    # the window is refilled once half of it is free, not an entry per answer
    assert min(seen[:-1]) >= 3
    assert messages(server.peers[0]) == [f"m{index}".encode() for index in range(200)]


def test_a_refused_message_is_dropped_and_counted_the_others_delivered(serve) -> None:
    def script(peer: Peer) -> None:
        peer.accept_open()
        while True:
            frame = peer.frame()
            refuse = frame.command == "syslog" and frame.data.endswith(b"bad")
            peer.answer(frame, b"500 not today" if refuse else b"200 OK")
            if frame.command == "close":
                return

    errors: list[Exception] = []
    transport = relp_transport(serve(script).address, on_error=errors.append)
    log = loglayer.LogLayer(transports=transport)
    log.info("good")
    log.info("bad")
    log.info("good")
    assert transport.close(WAIT)
    stats = transport.stats()
    assert (stats["delivered"], stats["dropped"], stats["pending"]) == (2, 1, 0)
    assert any("500 not today" in str(error) for error in errors)


def test_unanswered_messages_are_sent_again_after_the_session_breaks(serve) -> None:
    def cut_after_answering_two(peer: Peer) -> None:
        peer.accept_open()
        frames = [peer.frame() for _ in range(5)]
        peer.answer(frames[0])
        peer.answer(frames[1])
        # the other three stay unanswered: the connection ends here

    def answer_all(peer: Peer) -> None:
        peer.accept_open()
        until_closed(peer)

    server = serve(cut_after_answering_two, answer_all)
    transport = relp_transport(server.address, max_batch_entries=5, flush_interval=60)
    log = loglayer.LogLayer(transports=transport)
    for index in range(5):
        log.info(f"m{index}")
    assert transport.close(WAIT)
    stats = transport.stats()
    assert stats["delivered"] == 5 and stats["dropped"] == 0
    assert stats["unacknowledged"] == 3 and stats["resent"] == 3
    assert stats["reconnects"] == 1
    first, second = server.peers
    assert messages(first) == [b"m0", b"m1", b"m2", b"m3", b"m4"]
    assert messages(second) == [b"m2", b"m3", b"m4"]
    assert [frame.txnr for frame in second.received[:4]] == [1, 2, 3, 4]


def test_the_wires_counters_start_from_zero_in_a_forked_child(serve) -> None:
    """``stats()`` in a forked child count since the fork: the wire's counters too (the
    child's first session is its first connection, not a reconnect)."""
    def cut_after_answering_one(peer: Peer) -> None:
        peer.accept_open()
        peer.answer(peer.frame())
        peer.frame()  # left unanswered: the connection ends here

    def answer_all(peer: Peer) -> None:
        peer.accept_open()
        until_closed(peer)

    server = serve(cut_after_answering_one, answer_all)
    transport = relp_transport(server.address, max_batch_entries=2, flush_interval=60)
    log = loglayer.LogLayer(transports=transport)
    log.info("a")
    log.info("b")
    assert transport.flush(WAIT)
    stats = transport.stats()
    assert (stats["reconnects"], stats["unacknowledged"], stats["resent"]) == (1, 1, 1)
    wire = transport._delivery.shipper.wire
    wire.after_fork_in_child()  # what the engine calls in the child
    assert wire.stats() == {"truncated": 0, "reconnects": 0, "unacknowledged": 0,
                            "resent": 0}
    assert wire.session is None and wire.current is None and not wire.down
    assert transport.close(WAIT)


def test_a_serverclose_mid_batch_resends_only_the_unanswered(serve) -> None:
    def hint_after_one(peer: Peer) -> None:
        peer.accept_open()
        first, _ = peer.frame(), peer.frame()
        peer.answer(first)
        peer.send(encode_frame(0, "serverclose"))

    def answer_all(peer: Peer) -> None:
        peer.accept_open()
        until_closed(peer)

    server = serve(hint_after_one, answer_all)
    transport = relp_transport(server.address, max_batch_entries=2, flush_interval=60)
    log = loglayer.LogLayer(transports=transport)
    log.info("a")
    log.info("b")
    assert transport.close(WAIT)
    assert transport.stats()["delivered"] == 2
    assert messages(server.peers[1]) == [b"b"]


def test_a_server_that_is_down_is_retried_until_it_answers(serve) -> None:
    probe = socket.create_server(("127.0.0.1", 0))
    address = probe.getsockname()[:2]
    probe.close()  # nothing listens there now
    transport = relp_transport(address)
    log = loglayer.LogLayer(transports=transport)
    log.info("waiting")
    stop = deadline()
    while transport.stats()["retried"] == 0:
        assert time.monotonic() < stop
        time.sleep(0.01)
    assert not transport.close(0.2)
    assert transport.stats()["dropped"] == 1


# -- against rsyslog -------------------------------------------------------------------


@pytest.mark.slow
def test_a_session_with_rsyslogs_imrelp(tmp_path) -> None:
    with Rsyslog(tmp_path) as rsyslog:
        sock = socket.create_connection(rsyslog.address("relp"), timeout=WAIT)
        session = RelpSession(sock, window=16)
        offers = session.open(deadline())
        assert "syslog" in offers["commands"]
        assert offers["relp_software"][0].startswith("librelp") or any(
            "librelp" in value for value in offers["relp_software"])
        answered = 0
        for chunk in range(20):  # 300 messages through a window of 16
            items = [(f"<13>1 - host relpframes - - - n{chunk * 15 + index}".encode(), index)
                     for index in range(15)]
            session.send_syslog(items, deadline())
            while session.unanswered:
                for _, response in session.responses(deadline()):
                    assert response.code == 200, response
                    answered += 1
        session.close(deadline())
        assert answered == 300
        records = rsyslog.wait_for_records("relp", 300)
        assert [record["msg"] for record in records] == [f"n{index}" for index in range(300)]
        assert {record["app"] for record in records} == {"relpframes"}


@pytest.mark.slow
def test_rsyslog_stopping_ends_the_session(tmp_path) -> None:
    with Rsyslog(tmp_path) as rsyslog:
        session = RelpSession(socket.create_connection(rsyslog.address("relp"), timeout=WAIT))
        session.open(deadline())
        rsyslog.stop()  # the daemon has exited: its serverclose and end are on the wire
        with pytest.raises(ConnectionError):  # RelpClosed, or a reset
            session.check(deadline())
        session.abort()
        rsyslog.start()


def test_entries_answered_before_the_close_deadline_count_as_delivered(serve) -> None:
    release = threading.Event()

    def answer_two_then_stall(peer: Peer) -> None:
        peer.accept_open()
        frames = [peer.frame() for _ in range(5)]
        peer.answer(frames[0])
        peer.answer(frames[1])
        release.wait(WAIT)  # the other three stay unanswered until the test ends

    server = serve(answer_two_then_stall)
    transport = relp_transport(server.address, max_batch_entries=5, flush_interval=60,
                               timeout=0.2)
    log = loglayer.LogLayer(transports=transport)
    for index in range(5):
        log.info(f"m{index}")
    try:
        assert not transport.close(1.0)
        stats = transport.stats()
        assert (stats["delivered"], stats["dropped"], stats["pending"]) == (2, 3, 0)
    finally:
        release.set()
