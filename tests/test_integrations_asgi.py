"""``loglayer.integrations.asgi``: Starlette through its own TestClient and through
httpx's ASGI transport for concurrent requests (issue #15).

Loggers come from the ``core`` fixture: the middleware runs on both cores.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading

import httpx2 as httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from loglayer import LogLevel, get_contextvars
from loglayer.integrations.asgi import LogLayerMiddleware
from loglayer.testing import TestTransport

HEX_ID = re.compile(r"[0-9a-f]{32}")


def make_app(log, **options) -> Starlette:
    async def hello(request: Request) -> Response:
        log.info("inside", get_contextvars().get("request_id"))
        return PlainTextResponse("hi")

    async def status(request: Request) -> Response:
        return Response(status_code=int(request.path_params["code"]))

    async def boom(request: Request) -> Response:
        log.info("about to fail")
        raise RuntimeError("kaput")

    async def stream(request: Request) -> Response:
        async def chunks():
            for i in range(3):
                log.info("chunk", i)
                yield f"{i}\n".encode()

        return StreamingResponse(chunks())

    def sync_view(request: Request) -> Response:  # run in Starlette's thread pool
        log.info("sync", get_contextvars().get("request_id"))
        return PlainTextResponse("sync")

    app = Starlette(routes=[Route("/hello", hello), Route("/status/{code}", status),
                            Route("/boom", boom), Route("/stream", stream),
                            Route("/sync", sync_view)])
    app.add_middleware(LogLayerMiddleware, logger=log, **options)
    return app


@pytest.fixture
def app_log(core, tt):
    return core.LogLayer(transports=tt)


def access_entries(tt: TestTransport) -> list:
    return [entry for entry in tt.lines if entry.metadata and "duration_ms" in entry.metadata]


def test_fields_are_bound_and_one_access_entry_is_logged(app_log, tt):
    with TestClient(make_app(app_log)) as client:
        response = client.get("/hello")
    assert response.status_code == 200
    inside, access = tt.lines
    request_id = response.headers["x-request-id"]
    assert HEX_ID.fullmatch(request_id)
    fields = {"request_id": request_id, "method": "GET", "path": "/hello"}
    assert inside.data == fields
    assert inside.messages == ["inside", request_id]
    assert access.data == fields
    assert access.level == LogLevel.INFO
    assert access.messages == ["GET /hello 200"]
    assert access.metadata["status"] == 200
    assert isinstance(access.metadata["duration_ms"], float)
    assert access.metadata["duration_ms"] >= 0
    assert get_contextvars() == {}


def test_the_request_id_comes_from_the_header_when_it_is_sensible(app_log, tt):
    with TestClient(make_app(app_log)) as client:
        given = client.get("/hello", headers={"X-Request-ID": "req-42"})
        spaced = client.get("/hello", headers={"x-request-id": "two words"})
        huge = client.get("/hello", headers={"x-request-id": "x" * 500})
    assert given.headers["x-request-id"] == "req-42"
    assert {e.data["request_id"] for e in tt.lines[:2]} == {"req-42"}
    for response in (spaced, huge):
        assert HEX_ID.fullmatch(response.headers["x-request-id"])
    assert len({e.data["request_id"] for e in tt.lines}) == 3


def test_a_custom_header_and_id_and_no_echo(app_log, tt):
    app = make_app(app_log, request_id_header="X-Correlation-ID",
                   generate_id=lambda: "generated", echo_request_id=False)
    with TestClient(app) as client:
        first = client.get("/hello", headers={"x-correlation-id": "corr-1"})
        second = client.get("/hello", headers={"x-request-id": "ignored"})
    assert "x-correlation-id" not in first.headers
    assert [e.data["request_id"] for e in access_entries(tt)] == ["corr-1", "generated"]
    assert second.status_code == 200


@pytest.mark.parametrize(("code", "level"), [(201, LogLevel.INFO), (302, LogLevel.INFO),
                                             (404, LogLevel.WARN), (422, LogLevel.WARN),
                                             (503, LogLevel.ERROR)])
def test_the_level_follows_the_status(app_log, tt, code, level):
    with TestClient(make_app(app_log), follow_redirects=False) as client:
        assert client.get(f"/status/{code}").status_code == code
    (access,) = access_entries(tt)
    assert (access.level, access.metadata["status"]) == (level, code)
    assert access.messages == [f"GET /status/{code} {code}"]


def test_the_status_levels_are_configurable(app_log, tt):
    quiet_404 = lambda status: "debug" if status == 404 else "info"  # noqa: E731
    with TestClient(make_app(app_log, status_level=quiet_404)) as client:
        client.get("/status/404")
        client.get("/missing-route")
    assert [e.level for e in access_entries(tt)] == [LogLevel.DEBUG, LogLevel.DEBUG]


def test_an_unhandled_exception_is_logged_once_with_its_traceback_and_re_raised(app_log, tt):
    with TestClient(make_app(app_log)) as client, pytest.raises(RuntimeError, match="kaput"):
        client.get("/boom", headers={"x-request-id": "r-boom"})
    failed = [e for e in tt.lines if e.error is not None]
    assert len(failed) == 1
    (entry,) = failed
    assert isinstance(entry.error, RuntimeError)
    assert entry.level == LogLevel.ERROR
    assert entry.messages == ["GET /boom 500"]
    assert entry.metadata["status"] == 500
    assert "raise RuntimeError" in entry.data["err"]["traceback"]
    assert [e.messages for e in tt.lines] == [["about to fail"], ["GET /boom 500"]]
    assert {e.data["request_id"] for e in tt.lines} == {"r-boom"}
    assert get_contextvars() == {}


def test_a_streamed_body_is_logged_inside_the_request_and_the_context_cleared(app_log, tt):
    with TestClient(make_app(app_log)) as client:
        response = client.get("/stream", headers={"x-request-id": "r-stream"})
    assert response.text == "0\n1\n2\n"
    assert [e.messages for e in tt.lines] == [["chunk", 0], ["chunk", 1], ["chunk", 2],
                                              ["GET /stream 200"]]
    assert {e.data["request_id"] for e in tt.lines} == {"r-stream"}
    assert get_contextvars() == {}


def test_lifespan_and_non_http_scopes_pass_through(app_log, tt):
    started = []

    async def app(scope, receive, send):
        assert scope["type"] == "lifespan"
        while True:
            message = await receive()
            started.append(message["type"])
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return

    with TestClient(LogLayerMiddleware(app, app_log)):
        pass
    assert started == ["lifespan.startup", "lifespan.shutdown"]
    assert len(tt) == 0


def test_bad_options_are_refused_when_the_middleware_is_made(app_log):
    async def app(scope, receive, send):  # pragma: no cover - never called
        pass

    with pytest.raises(TypeError, match="logger"):
        LogLayerMiddleware(app, logger="not a logger")
    with pytest.raises(TypeError, match="status_level"):
        LogLayerMiddleware(app, app_log, status_level=404)
    with pytest.raises(TypeError, match="request_id_header"):
        LogLayerMiddleware(app, app_log, request_id_header="")


def test_a_failing_status_level_never_fails_the_response(app_log, tt, capsys):
    def broken(status: int) -> LogLevel:
        raise ValueError("no level for you")

    with TestClient(make_app(app_log, status_level=broken)) as client:
        assert client.get("/hello").text == "hi"
    assert "no level for you" in capsys.readouterr().err


REQUESTS = 20


def test_concurrent_asyncio_requests_never_see_each_others_id(app_log, tt):
    """Every request waits inside the application until all of them are in it, so they
    all overlap; each must still see only its own id."""
    arrived = 0
    all_in = asyncio.Event()

    async def endpoint(request: Request) -> Response:
        nonlocal arrived
        arrived += 1
        if arrived == REQUESTS:
            all_in.set()
        await all_in.wait()
        app_log.info("seen", request.headers["x-request-id"])
        return PlainTextResponse(get_contextvars()["request_id"])

    app = LogLayerMiddleware(Starlette(routes=[Route("/", endpoint)]), app_log)

    async def main() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await asyncio.wait_for(asyncio.gather(*(
                client.get("/", headers={"x-request-id": f"req-{n}"})
                for n in range(REQUESTS))), 60)

    responses = asyncio.run(main())
    assert [r.text for r in responses] == [f"req-{n}" for n in range(REQUESTS)]
    seen = [e for e in tt.lines if e.messages[0] == "seen"]
    assert len(seen) == REQUESTS
    for entry in seen:
        assert entry.data["request_id"] == entry.messages[1]
    assert sorted(e.data["request_id"] for e in access_entries(tt)) == sorted(
        f"req-{n}" for n in range(REQUESTS))


def test_concurrent_sync_endpoints_in_threads_never_see_each_others_id(app_log, tt):
    threads = 8
    barrier = threading.Barrier(threads, timeout=60)

    def endpoint(request: Request) -> Response:  # Starlette runs it in a worker thread
        barrier.wait()
        app_log.info("seen", request.headers["x-request-id"])
        return PlainTextResponse(get_contextvars()["request_id"])

    app = LogLayerMiddleware(Starlette(routes=[Route("/", endpoint)]), app_log)

    async def main() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await asyncio.gather(*(client.get("/", headers={"x-request-id": f"t-{n}"})
                                          for n in range(threads)))

    responses = asyncio.run(main())
    assert [r.text for r in responses] == [f"t-{n}" for n in range(threads)]
    seen = [e for e in tt.lines if e.messages[0] == "seen"]
    assert sorted(e.data["request_id"] for e in seen) == sorted(f"t-{n}"
                                                                for n in range(threads))
    for entry in seen:
        assert entry.data["request_id"] == entry.messages[1]


def test_the_binding_is_undone_in_the_callers_task_even_on_error(app_log, tt):
    """Called directly (no test client between), so the context checked after the call
    is the very one the middleware bound its fields in."""

    async def app(scope, receive, send):
        if scope["path"] == "/fail":
            raise KeyError("gone")
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    middleware = LogLayerMiddleware(app, app_log)
    sent = []

    async def receive():  # pragma: no cover - the app never reads the body
        return {"type": "http.request", "body": b""}

    async def send(message):
        sent.append(message)

    async def main() -> list[dict]:
        seen = []
        for path in ("/ok", "/fail"):
            scope = {"type": "http", "method": "POST", "path": path,
                     "headers": [(b"x-request-id", b"direct")]}
            with contextlib.suppress(KeyError):
                await middleware(scope, receive, send)
            seen.append(get_contextvars())
        return seen

    assert asyncio.run(main()) == [{}, {}]
    assert sent[0]["headers"] == [(b"x-request-id", b"direct")]
    assert [(e.messages, e.level) for e in tt.lines] == [(["POST /ok 204"], LogLevel.INFO),
                                                         (["POST /fail 500"], LogLevel.ERROR)]
    assert isinstance(tt.lines[1].error, KeyError)
