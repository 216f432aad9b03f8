"""``loglayer.integrations.wsgi``: Flask through its test client, and a bare WSGI app
driven the way a server drives it (issue #15).

Loggers come from the ``core`` fixture: the middleware runs on both cores.
"""

from __future__ import annotations

import re
import threading

import flask
import pytest

from loglayer import LogLevel, bind_contextvars, get_contextvars
from loglayer.integrations.wsgi import LogLayerMiddleware
from loglayer.testing import TestTransport

HEX_ID = re.compile(r"[0-9a-f]{32}")


def make_app(log, **options) -> flask.Flask:
    """A Flask app behind the middleware. Its test client is used with ``buffered=True``:
    like a server, it then reads the whole body and closes it, which is when the
    middleware logs the access entry."""
    app = flask.Flask("wsgi_test")
    app.testing = True  # exceptions propagate to the caller instead of becoming a 500

    @app.get("/hello")
    def hello():
        log.info("inside")
        return "hi"

    @app.get("/status/<int:code>")
    def status(code: int):
        return "", code

    @app.get("/boom")
    def boom():
        log.info("about to fail")
        raise RuntimeError("kaput")

    @app.get("/stream")
    def stream():
        def chunks():
            for i in range(3):
                log.info("chunk", i)
                yield f"{i}\n"

        return flask.Response(chunks())

    @app.get("/binds")
    def binds():
        bind_contextvars(user="ada")  # the app's own binding: gone after the request
        return "bound"

    app.wsgi_app = LogLayerMiddleware(app.wsgi_app, logger=log, **options)  # type: ignore[method-assign]
    return app


@pytest.fixture
def app_log(core, tt):
    return core.LogLayer(transports=tt)


def access_entries(tt: TestTransport) -> list:
    return [entry for entry in tt.lines if entry.metadata and "duration_ms" in entry.metadata]


def test_fields_are_bound_and_one_access_entry_is_logged(app_log, tt):
    response = make_app(app_log).test_client().get("/hello", buffered=True)
    assert response.status_code == 200
    request_id = response.headers["X-Request-Id"]
    assert HEX_ID.fullmatch(request_id)
    inside, access = tt.lines
    fields = {"request_id": request_id, "method": "GET", "path": "/hello"}
    assert inside.data == access.data == fields
    assert (access.level, access.messages) == (LogLevel.INFO, ["GET /hello 200"])
    assert access.metadata["status"] == 200
    assert access.metadata["duration_ms"] >= 0
    assert get_contextvars() == {}


def test_the_request_id_comes_from_the_header(app_log, tt):
    client = make_app(app_log).test_client()
    given = client.get("/hello", buffered=True, headers={"X-Request-ID": "req-7"})
    assert given.headers["X-Request-Id"] == "req-7"
    tabbed = client.get("/hello", buffered=True, headers={"X-Request-ID": "a\tb"})
    assert HEX_ID.fullmatch(tabbed.headers["X-Request-Id"])
    assert tt.lines[0].data["request_id"] == "req-7"


def test_a_non_ascii_path_is_logged_as_text(app_log, tt):
    make_app(app_log).test_client().get("/caf%C3%A9", buffered=True)
    (access,) = access_entries(tt)
    assert access.data["path"] == "/café"
    assert access.level == LogLevel.WARN  # 404


@pytest.mark.parametrize(("code", "level"), [(200, LogLevel.INFO), (301, LogLevel.INFO),
                                             (403, LogLevel.WARN), (500, LogLevel.ERROR)])
def test_the_level_follows_the_status(app_log, tt, code, level):
    make_app(app_log).test_client().get(f"/status/{code}", buffered=True)
    (access,) = access_entries(tt)
    assert (access.level, access.metadata["status"]) == (level, code)


def test_an_unhandled_exception_is_logged_once_with_its_traceback_and_re_raised(app_log, tt):
    client = make_app(app_log).test_client()
    with pytest.raises(RuntimeError, match="kaput"):
        client.get("/boom", buffered=True, headers={"x-request-id": "r-boom"})
    (failed,) = [e for e in tt.lines if e.error is not None]
    assert (failed.level, failed.messages) == (LogLevel.ERROR, ["GET /boom 500"])
    assert "raise RuntimeError" in failed.data["err"]["traceback"]
    assert {e.data["request_id"] for e in tt.lines} == {"r-boom"}
    assert get_contextvars() == {}


def test_a_streamed_body_runs_in_the_request_context(app_log, tt):
    response = make_app(app_log).test_client().get("/stream", buffered=True,
                                                   headers={"x-request-id": "r-s"})
    assert response.text == "0\n1\n2\n"
    assert [e.messages for e in tt.lines] == [["chunk", 0], ["chunk", 1], ["chunk", 2],
                                              ["GET /stream 200"]]
    assert {e.data["request_id"] for e in tt.lines} == {"r-s"}
    assert get_contextvars() == {}


def test_what_the_app_binds_stays_in_its_request(app_log, tt):
    client = make_app(app_log).test_client()
    client.get("/binds", buffered=True)
    client.get("/hello", buffered=True)
    assert get_contextvars() == {}
    assert "user" not in tt.lines[-1].data


def test_driven_like_a_server_the_body_is_logged_at_its_end_or_close(app_log, tt):
    """The server iterates the body after the app returned, in its own context, and may
    close it early (the client went away): the entry comes once, at the end or close."""

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])

        def body():
            for _ in range(3):
                app_log.info("part", get_contextvars().get("request_id"))
                yield b"x"

        return body()

    middleware = LogLayerMiddleware(app, app_log)
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "HTTP_X_REQUEST_ID": "srv"}
    headers: list = []
    body = middleware(environ, lambda status, h, exc_info=None: headers.extend(h))
    assert headers == [("Content-Type", "text/plain"), ("X-Request-Id", "srv")]
    assert get_contextvars() == {}  # the server's context was never touched
    iterator = iter(body)
    assert next(iterator) == b"x"
    assert get_contextvars() == {}
    assert access_entries(tt) == []
    body.close()  # closed after one part
    body.close()
    assert [e.messages for e in tt.lines] == [["part", "srv"], ["GET / 200"]]
    assert tt.lines[-1].data["request_id"] == "srv"


def test_a_body_that_fails_midway_is_logged_once_and_re_raised(app_log, tt):
    def app(environ, start_response):
        start_response("200 OK", [])
        yield b"first"
        raise OSError("disk gone")

    body = LogLayerMiddleware(app, app_log)({"REQUEST_METHOD": "GET", "PATH_INFO": "/f"},
                                            lambda *args: None)
    with pytest.raises(OSError, match="disk gone"):
        list(body)
    body.close()
    (entry,) = tt.lines
    assert (entry.level, entry.messages, type(entry.error)) == (LogLevel.ERROR,
                                                                 ["GET /f 200"], OSError)


def test_concurrent_requests_in_threads_never_see_each_others_id(app_log, tt):
    threads = 8
    barrier = threading.Barrier(threads, timeout=60)
    app = flask.Flask("concurrent")

    @app.get("/")
    def index():
        barrier.wait()  # every request is inside the app at once
        app_log.info("seen", flask.request.headers["x-request-id"])
        return get_contextvars()["request_id"]

    app.wsgi_app = LogLayerMiddleware(app.wsgi_app, app_log)  # type: ignore[method-assign]
    answers: dict[int, str] = {}

    def call(n: int) -> None:
        answers[n] = app.test_client().get("/", buffered=True,
                                           headers={"x-request-id": f"t-{n}"}).text

    workers = [threading.Thread(target=call, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert answers == {n: f"t-{n}" for n in range(threads)}
    seen = [e for e in tt.lines if e.messages[0] == "seen"]
    assert len(seen) == threads
    for entry in seen:
        assert entry.data["request_id"] == entry.messages[1]
