"""ASGI middleware (Starlette, FastAPI, Quart, any ASGI 3 application).

    from starlette.applications import Starlette
    from loglayer.integrations.asgi import LogLayerMiddleware

    app = Starlette(routes=...)
    app.add_middleware(LogLayerMiddleware, logger=log)   # or LogLayerMiddleware(app, ...)

HTTP requests only; lifespan and websocket connections pass through untouched. The
fields are bound in the task that runs the application, so the tasks it starts and the
sync endpoints a framework runs in a thread pool (with a copy of the context) carry
them too, and the whole response, streamed or not, is sent inside the request's
scope: the binding is undone when the application returns, whatever happened.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from ._access import AccessLog, bind, reset

__all__ = ["LogLayerMiddleware"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class LogLayerMiddleware:
    """Request-scoped fields and one access entry per HTTP request of an ASGI app.

    ``logger``: the loglayer logger for the access entries (default: the ready logger
    ``loglayer.log``, looked up at each request). ``request_id_header``: the header a
    request id is taken from (and, with ``echo_request_id``, returned in).
    ``status_level``: status -> level for the access entry (default: 5xx ERROR, 4xx
    WARN, others INFO). ``generate_id``: makes an id when the request brings none
    usable (default: a UUID4's 32 hex digits). An exception raised by the application
    is logged once, as that request's entry at ERROR with its traceback, and re-raised.
    """

    def __init__(self, app: ASGIApp, logger: Any = None,
                 request_id_header: str = "x-request-id", *,
                 status_level: Callable[[int], Any] | None = None,
                 generate_id: Callable[[], str] | None = None,
                 echo_request_id: bool = True) -> None:
        self.app = app
        self._access = AccessLog(logger, request_id_header, status_level, generate_id,
                                 echo_request_id)
        self._header = self._access.header.encode("latin-1")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        for name, value in scope.get("headers") or ():
            if name.lower() == self._header:
                incoming = value.decode("latin-1")
                break
        exchange = self._access.start(scope.get("method", ""), scope.get("path", ""),
                                      incoming)
        header = self._header
        echo = self._access.echo_request_id

        async def send_and_note(message: Message) -> None:
            if message.get("type") == "http.response.start":
                exchange.status = int(message.get("status", 200))
                if echo:
                    headers = list(message.get("headers") or ())
                    if not any(name.lower() == header for name, _ in headers):
                        headers.append((header, exchange.request_id.encode("latin-1")))
                        message = {**message, "headers": headers}
            await send(message)

        token = bind(exchange.fields)
        try:
            await self.app(scope, receive, send_and_note)
        except BaseException as exc:
            exchange.finish(exc)
            raise
        finally:
            exchange.finish()  # no-op after an exception: it was logged above
            reset(token)
