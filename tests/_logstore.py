"""A local HTTP log store for the HTTP transport's tests: records every request and
answers from a script, so a test can stage outages, throttling, slow and dropped answers.

::

    with LogStore() as store:
        store.respond(503)                                  # the first request
        store.respond(429, headers={"Retry-After": "1"})    # the second
        ...                                                 # then respond_forever's (200)
        post_logs_to(store.url + "/ingest")
        store.wait_for(lambda: len(store.requests) == 3)
        assert [r.status for r in store.requests] == [503, 429, 200]

The server is a ``ThreadingHTTPServer`` speaking HTTP/1.1 with keep-alive on 127.0.0.1,
in daemon threads; ``connections`` counts the TCP connections it accepted, so a test can
prove a client reused one. ``stop()`` closes the listening socket and every open
connection (a client sees the outage at once, not on its next keep-alive request);
``start()`` listens again on the same port. Everything is safe to call from any thread.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import http.server
import json
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["LogStore", "Request"]


@dataclasses.dataclass(frozen=True)
class Request:
    """One request the store received, and what it answered (None: it dropped the
    connection instead)."""

    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    raw: bytes  # the body as sent
    body: bytes  # the body, gunzipped when Content-Encoding is gzip
    status: int | None

    def json(self) -> Any:
        return json.loads(self.body)

    def lines(self) -> list[Any]:
        """The body's JSON lines, parsed (NDJSON, ``_bulk``)."""
        return [json.loads(line) for line in self.body.splitlines() if line]


@dataclasses.dataclass(frozen=True)
class _Reply:
    status: int
    body: bytes
    headers: dict[str, str]
    delay: float
    drop: bool = False


def _reply(status: int, body: bytes | str | dict | list, headers: dict[str, str] | None,
           delay: float) -> _Reply:
    headers = dict(headers or {})
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
        headers.setdefault("Content-Type", "application/json")
    elif isinstance(body, str):
        body = body.encode()
    return _Reply(status, body, headers, delay)


class LogStore:
    """The store; see the module docstring. ``port=0`` takes a free port."""

    def __init__(self, port: int = 0) -> None:
        self._lock = threading.Lock()
        self._requests: list[Request] = []
        self._script: list[_Reply] = []
        self._default = _reply(200, b"", None, 0.0)
        self._connections = 0
        self._open: set[socket.socket] = set()
        self._port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> LogStore:
        """Listen (again) on the store's port, the same one after the first start."""
        if self._server is not None:
            raise RuntimeError("the LogStore is already running")
        server = _Server(("127.0.0.1", self._port), _handler(self))
        self._port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="logstore",
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop answering: close the listening socket and every open connection."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.shutdown()
        server.server_close()
        thread.join()
        with self._lock:
            connections, self._open = list(self._open), set()
        for connection in connections:
            with contextlib.suppress(OSError):  # the client closed it already
                connection.shutdown(socket.SHUT_RDWR)
        self._server = self._thread = None

    def __enter__(self) -> LogStore:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- what a test reads -------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``, no trailing slash."""
        return f"http://127.0.0.1:{self._port}"

    @property
    def requests(self) -> list[Request]:
        """A snapshot of the requests received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    @property
    def bodies(self) -> list[bytes]:
        """The decoded bodies of ``requests``."""
        return [request.body for request in self.requests]

    @property
    def connections(self) -> int:
        """How many TCP connections the store accepted, over all its starts."""
        with self._lock:
            return self._connections

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
        """Poll ``predicate`` until it returns something true, and return that;
        ``AssertionError`` after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            result = predicate()
            if result:
                return result
            if time.monotonic() >= deadline:
                raise AssertionError(f"not true after {timeout} s: {predicate!r}; "
                                     f"requests: {self.requests!r}")
            time.sleep(0.01)

    # -- the script ----------------------------------------------------------------------

    def respond(self, status: int = 200, *, body: bytes | str | dict | list = b"",
                headers: dict[str, str] | None = None, delay: float = 0.0) -> None:
        """Answer the next unscripted request so: ``status``, ``body`` (a dict or list
        is sent as JSON), ``headers``, after ``delay`` seconds."""
        with self._lock:
            self._script.append(_reply(status, body, headers, delay))

    def respond_forever(self, status: int = 200, *, body: bytes | str | dict | list = b"",
                        headers: dict[str, str] | None = None, delay: float = 0.0) -> None:
        """Answer every request the script does not cover so (200, empty, at first)."""
        with self._lock:
            self._default = _reply(status, body, headers, delay)

    def close_connection_after_next(self) -> None:
        """Read the next unscripted request, then close its connection unanswered."""
        with self._lock:
            self._script.append(_Reply(0, b"", {}, 0.0, drop=True))

    # -- the handler's side ----------------------------------------------------------

    def _accepted(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections += 1
            self._open.add(connection)

    def _closed(self, connection: socket.socket) -> None:
        with self._lock:
            self._open.discard(connection)

    def _record(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> _Reply:
        """Record the request and return the script's reply to it; a body that says it
        is gzip and is not is recorded as sent and answered 400 (as a server would),
        leaving the script as it was, rather than failing the handler unrecorded."""
        invalid = None
        body = raw
        if headers.get("content-encoding") == "gzip":
            try:
                body = gzip.decompress(raw)
            except (OSError, EOFError) as exc:
                invalid = _reply(400, f"the body is not valid gzip: {exc}", None, 0.0)
        with self._lock:
            if invalid is not None:
                reply = invalid
            else:
                reply = self._script.pop(0) if self._script else self._default
            self._requests.append(Request(method, path, headers, raw, body,
                                          None if reply.drop else reply.status))
        return reply


def _handler(store: LogStore) -> type[http.server.BaseHTTPRequestHandler]:
    """The request handler class of ``store``'s server."""

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive

        def setup(self) -> None:
            super().setup()
            store._accepted(self.connection)

        def finish(self) -> None:
            store._closed(self.connection)
            super().finish()

        def _answer(self) -> None:
            headers = {name.lower(): value for name, value in self.headers.items()}
            reply = store._record(self.command, self.path, headers, self._read_body(headers))
            if reply.drop:
                self.close_connection = True
                return
            time.sleep(reply.delay)
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            if reply.status not in (204, 304):  # these never carry a length (RFC 9110)
                self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)

        def _read_body(self, headers: dict[str, str]) -> bytes:
            if headers.get("transfer-encoding", "").lower() == "chunked":
                chunks = []
                while size := int(self.rfile.readline().split(b";")[0], 16):
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
                    pass
                return b"".join(chunks)
            return self.rfile.read(int(headers.get("content-length", 0)))

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: the test reads store.requests

    return Handler


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Silent for a connection the client or ``stop()`` closed under a handler."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)
