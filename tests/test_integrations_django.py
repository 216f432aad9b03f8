"""``loglayer.integrations.django``: Django through its test clients, sync and async,
with a ``LOGGING`` dict that routes ``django.request`` into loglayer (issue #15).

Django is configured once per process, by the ``django_settings`` fixture: this module
is its URLconf, its middleware is :class:`RequestLogging` below, and ``LOGGING`` sends
the ``django.request`` records through ``loglayer.stdlib.LogLayerHandler``. Each test
points the middleware and that handler at a logger of the ``core`` fixture, so both
cores serve the requests.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from collections.abc import AsyncIterator, Iterator

import django
import pytest
from django.conf import settings
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.test import AsyncClient, Client
from django.urls import path

from loglayer import LogLevel, bind_contextvars, get_contextvars
from loglayer.integrations.django import LogLayerMiddleware
from loglayer.stdlib import LogLayerHandler
from loglayer.testing import TestTransport

HEX_ID = re.compile(r"[0-9a-f]{32}")


class RequestLogging(LogLayerMiddleware):
    """Configured the Django way, by class attributes; each test sets ``logger``."""

    logger = None


# -- the views (this module is the URLconf) ---------------------------------------

def the_log():
    return RequestLogging.logger


def hello(request: HttpRequest) -> HttpResponse:
    the_log().info("inside", get_contextvars().get("request_id"))
    return HttpResponse("hi")


def status(request: HttpRequest, code: int) -> HttpResponse:
    return HttpResponse(status=code)


def boom(request: HttpRequest) -> HttpResponse:
    the_log().info("about to fail")
    raise RuntimeError("kaput")


def stream(request: HttpRequest) -> StreamingHttpResponse:
    def chunks() -> Iterator[bytes]:
        for i in range(3):
            the_log().info("chunk", i)
            yield f"{i}\n".encode()

    return StreamingHttpResponse(chunks())


def binds(request: HttpRequest) -> HttpResponse:
    bind_contextvars(user="ada")
    return HttpResponse("bound")


async def async_hello(request: HttpRequest) -> HttpResponse:
    the_log().info("async inside", get_contextvars().get("request_id"))
    return HttpResponse("async hi")


async def async_stream(request: HttpRequest) -> StreamingHttpResponse:
    async def chunks() -> AsyncIterator[bytes]:
        for i in range(2):
            the_log().info("async chunk", i)
            yield f"{i}\n".encode()

    return StreamingHttpResponse(chunks())


#: Filled by the concurrency tests.
GATE: dict = {}


def gated(request: HttpRequest) -> HttpResponse:
    GATE["barrier"].wait()  # every request is inside the view at once
    the_log().info("seen", request.headers["x-request-id"])
    return HttpResponse(get_contextvars()["request_id"])


async def async_gated(request: HttpRequest) -> HttpResponse:
    GATE["arrived"] += 1
    if GATE["arrived"] == GATE["expected"]:
        GATE["event"].set()
    await GATE["event"].wait()
    the_log().info("seen", request.headers["x-request-id"])
    return HttpResponse(get_contextvars()["request_id"])


urlpatterns = [
    path("hello", hello),
    path("status/<int:code>", status),
    path("boom", boom),
    path("stream", stream),
    path("binds", binds),
    path("async-hello", async_hello),
    path("async-stream", async_stream),
    path("gated", gated),
    path("async-gated", async_gated),
]


# -- fixtures -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def django_settings():
    if not settings.configured:
        settings.configure(
            DEBUG=False,
            SECRET_KEY="not-a-secret",
            ALLOWED_HOSTS=["testserver"],
            ROOT_URLCONF=__name__,
            MIDDLEWARE=[f"{__name__}.RequestLogging"],
            INSTALLED_APPS=[],
            DATABASES={},
            USE_TZ=True,
            LOGGING={
                "version": 1,
                "disable_existing_loggers": False,  # the rest of the suite's loggers
                "handlers": {"loglayer": {"class": "loglayer.stdlib.LogLayerHandler"}},
                "loggers": {"django.request": {"handlers": ["loglayer"], "level": "INFO",
                                               "propagate": False}},
            },
        )
        django.setup()
    return settings


@pytest.fixture
def app_log(core, tt, django_settings, monkeypatch):
    """A logger of the ``core`` fixture, used by the middleware and by the handler that
    ``LOGGING`` put on ``django.request``."""
    log = core.LogLayer(transports=tt)
    monkeypatch.setattr(RequestLogging, "logger", log)
    (handler,) = [h for h in logging.getLogger("django.request").handlers
                  if isinstance(h, LogLayerHandler)]
    monkeypatch.setattr(handler, "log", log)
    return log


def access_entries(tt: TestTransport) -> list:
    return [entry for entry in tt.lines if isinstance(entry.metadata, dict)
            and "duration_ms" in entry.metadata]


# -- tests ------------------------------------------------------------------------------

def test_fields_are_bound_and_one_access_entry_is_logged(app_log, tt):
    response = Client().get("/hello")
    assert response.status_code == 200
    request_id = response.headers["x-request-id"]
    assert HEX_ID.fullmatch(request_id)
    inside, access = tt.lines
    fields = {"request_id": request_id, "method": "GET", "path": "/hello"}
    assert inside.data == access.data == fields
    assert inside.messages == ["inside", request_id]
    assert (access.level, access.messages) == (LogLevel.INFO, ["GET /hello 200"])
    assert access.metadata["status"] == 200
    assert access.metadata["duration_ms"] >= 0
    assert get_contextvars() == {}


def test_the_request_id_comes_from_the_header(app_log, tt):
    response = Client().get("/hello", headers={"X-Request-ID": "dj-1"})
    assert response.headers["x-request-id"] == "dj-1"
    assert {e.data["request_id"] for e in tt.lines} == {"dj-1"}


def test_a_404_is_a_warning_and_django_request_carries_the_request_id(app_log, tt):
    Client().get("/status/404", headers={"x-request-id": "dj-404"})
    django_entry, access = tt.lines
    # Django logs its own "Not Found" line on django.request, inside the request's scope
    assert django_entry.messages == ["Not Found: /status/404"]
    assert django_entry.data["logger"] == "django.request"
    assert django_entry.data["request_id"] == "dj-404"
    assert (access.level, access.metadata["status"]) == (LogLevel.WARN, 404)


def test_a_view_exception_is_logged_once_with_its_traceback(app_log, tt):
    """Django turns the exception into a 500 and logs it on ``django.request``, which
    LOGGING routes into loglayer: that is the one entry with the traceback, and it
    carries the request's id. The test client re-raises the exception, as Django's
    ``raise_request_exception`` does."""
    with pytest.raises(RuntimeError, match="kaput"):
        Client().get("/boom", headers={"x-request-id": "dj-boom"})
    failed = [e for e in tt.lines if e.error is not None]
    assert len(failed) == 1
    (entry,) = failed
    assert isinstance(entry.error, RuntimeError)
    assert entry.level == LogLevel.ERROR
    assert entry.data["request_id"] == "dj-boom"
    assert "raise RuntimeError" in entry.data["err"]["traceback"]
    (access,) = access_entries(tt)
    assert (access.level, access.messages) == (LogLevel.ERROR, ["GET /boom 500"])
    assert {e.data["request_id"] for e in tt.lines} == {"dj-boom"}
    assert get_contextvars() == {}


def test_with_propagated_exceptions_the_middleware_logs_it_once_and_re_raises(app_log, tt,
                                                                              settings_ctx):
    with settings_ctx(DEBUG_PROPAGATE_EXCEPTIONS=True), pytest.raises(RuntimeError):
        Client().get("/boom", headers={"x-request-id": "dj-prop"})
    (failed,) = [e for e in tt.lines if e.error is not None]
    assert (failed.level, failed.messages) == (LogLevel.ERROR, ["GET /boom 500"])
    assert failed.data["request_id"] == "dj-prop"
    assert get_contextvars() == {}


@pytest.fixture
def settings_ctx(django_settings):
    from django.test import override_settings

    return override_settings


def test_a_streamed_body_runs_with_the_request_fields(app_log, tt):
    response = Client().get("/stream", headers={"x-request-id": "dj-s"})
    assert access_entries(tt) == []  # not finished until the body is
    assert b"".join(response.streaming_content) == b"0\n1\n2\n"
    response.close()
    assert [e.messages for e in tt.lines] == [["chunk", 0], ["chunk", 1], ["chunk", 2],
                                              ["GET /stream 200"]]
    assert {e.data["request_id"] for e in tt.lines} == {"dj-s"}
    assert get_contextvars() == {}


def test_a_streamed_body_closed_early_is_logged_once(app_log, tt):
    response = Client().get("/stream")
    next(iter(response.streaming_content))
    response.close()
    response.close()
    assert [e.messages for e in tt.lines] == [["chunk", 0], ["GET /stream 200"]]


def test_what_the_view_binds_stays_in_its_request(app_log, tt):
    Client().get("/binds")
    Client().get("/hello")
    assert get_contextvars() == {}
    assert "user" not in tt.lines[-1].data


def test_async_requests(app_log, tt):
    async def main():
        client = AsyncClient()
        plain = await client.get("/async-hello", headers={"x-request-id": "dj-a"})
        streamed = await client.get("/async-stream", headers={"x-request-id": "dj-as"})
        body = b"".join([part async for part in streamed.streaming_content])
        await asyncio.to_thread(streamed.close)
        return plain, body, get_contextvars()

    plain, body, context_after = asyncio.run(main())
    assert plain.content == b"async hi"
    assert plain.headers["x-request-id"] == "dj-a"
    assert body == b"0\n1\n"
    assert context_after == {}
    assert [(e.messages, e.data["request_id"]) for e in tt.lines] == [
        (["async inside", "dj-a"], "dj-a"), (["GET /async-hello 200"], "dj-a"),
        (["async chunk", 0], "dj-as"), (["async chunk", 1], "dj-as"),
        (["GET /async-stream 200"], "dj-as")]


def test_concurrent_requests_in_threads_never_see_each_others_id(app_log, tt, monkeypatch):
    threads = 8
    monkeypatch.setitem(GATE, "barrier", threading.Barrier(threads, timeout=60))
    answers: dict[int, bytes] = {}

    def call(n: int) -> None:
        answers[n] = Client().get("/gated", headers={"x-request-id": f"t-{n}"}).content

    workers = [threading.Thread(target=call, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert answers == {n: f"t-{n}".encode() for n in range(threads)}
    seen = [e for e in tt.lines if e.messages[0] == "seen"]
    assert len(seen) == threads
    for entry in seen:
        assert entry.data["request_id"] == entry.messages[1]


def test_concurrent_async_requests_never_see_each_others_id(app_log, tt, monkeypatch):
    requests = 12

    async def main() -> list:
        monkeypatch.setitem(GATE, "event", asyncio.Event())
        monkeypatch.setitem(GATE, "arrived", 0)
        monkeypatch.setitem(GATE, "expected", requests)
        client = AsyncClient()
        return await asyncio.wait_for(asyncio.gather(*(
            client.get("/async-gated", headers={"x-request-id": f"a-{n}"})
            for n in range(requests))), 60)

    responses = asyncio.run(main())
    assert [r.content for r in responses] == [f"a-{n}".encode() for n in range(requests)]
    seen = [e for e in tt.lines if e.messages[0] == "seen"]
    assert len(seen) == requests
    for entry in seen:
        assert entry.data["request_id"] == entry.messages[1]
    assert sorted(e.data["request_id"] for e in access_entries(tt)) == sorted(
        f"a-{n}" for n in range(requests))
