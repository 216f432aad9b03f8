"""WSGI middleware (Flask, Bottle, Pyramid, any PEP 3333 application).

    from loglayer.integrations.wsgi import LogLayerMiddleware

    app.wsgi_app = LogLayerMiddleware(app.wsgi_app, logger=log)   # Flask

Each request runs in its own copy of the server thread's context (``contextvars``):
the application's call and every step of its response body (a streamed body is
produced after the application returned) run in it, so entries logged while the
body is produced carry the request's fields, and the server's context is never
changed: nothing the request bound can leak into the next request on that thread.
The access entry is logged when the body is exhausted or closed, or when the
application or its body raises.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ._access import AccessLog, Exchange, bind

__all__ = ["LogLayerMiddleware"]

StartResponse = Callable[..., Callable[[bytes], object]]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def _status_code(status: str) -> int | None:
    try:
        return int(status.split(None, 1)[0])
    except (ValueError, IndexError, AttributeError):
        return None


class LogLayerMiddleware:
    """Request-scoped fields and one access entry per request of a WSGI app.

    The options are those of :class:`loglayer.integrations.asgi.LogLayerMiddleware`.
    An exception raised by the application or by its body is logged once, as that
    request's entry at ERROR with its traceback, and re-raised.
    """

    def __init__(self, app: WSGIApp, logger: Any = None,
                 request_id_header: str = "x-request-id", *,
                 status_level: Callable[[int], Any] | None = None,
                 generate_id: Callable[[], str] | None = None,
                 echo_request_id: bool = True) -> None:
        self.app = app
        self._access = AccessLog(logger, request_id_header, status_level, generate_id,
                                 echo_request_id)
        self._environ_key = "HTTP_" + self._access.header.upper().replace("-", "_")
        self._title = "-".join(part.capitalize() for part in self._access.header.split("-"))

    def __call__(self, environ: dict[str, Any], start_response: StartResponse
                 ) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        with contextlib.suppress(UnicodeError):  # PEP 3333: latin-1-decoded bytes
            path = path.encode("latin-1").decode("utf-8")
        exchange = self._access.start(environ.get("REQUEST_METHOD", ""), path,
                                      environ.get(self._environ_key))
        context = contextvars.copy_context()
        header, title = self._access.header, self._title
        echo = self._access.echo_request_id

        def start_and_note(status: str, headers: list[tuple[str, str]],
                           exc_info: Any = None) -> Callable[[bytes], object]:
            exchange.status = _status_code(status)
            if echo and not any(name.lower() == header for name, _ in headers):
                headers = [*headers, (title, exchange.request_id)]
            if exc_info is None:
                return start_response(status, headers)
            return start_response(status, headers, exc_info)

        try:
            body = context.run(self._call, exchange, environ, start_and_note)
        except BaseException as exc:
            context.run(exchange.finish, exc)
            raise
        return _Body(body, context, exchange)

    def _call(self, exchange: Exchange, environ: dict[str, Any],
              start_response: StartResponse) -> Iterable[bytes]:
        bind(exchange.fields)  # in the request's own context: never reset, dropped with it
        return self.app(environ, start_response)


class _Body:
    """The application's body, each step run in the request's context; the access
    entry is logged when it ends, fails or is closed."""

    __slots__ = ("_body", "_iterator", "_context", "_exchange")

    def __init__(self, body: Iterable[bytes], context: contextvars.Context,
                 exchange: Exchange) -> None:
        self._body = body
        self._iterator: Iterator[bytes] | None = None
        self._context = context
        self._exchange = exchange

    def __iter__(self) -> _Body:
        if self._iterator is None:
            self._iterator = self._context.run(iter, self._body)
        return self

    def __next__(self) -> bytes:
        if self._iterator is None:
            self.__iter__()
        assert self._iterator is not None
        try:
            return self._context.run(next, self._iterator)
        except StopIteration:
            self._context.run(self._exchange.finish)
            raise
        except BaseException as exc:
            self._context.run(self._exchange.finish, exc)
            raise

    def close(self) -> None:
        close = getattr(self._body, "close", None)
        try:
            if close is not None:
                self._context.run(close)
        except BaseException as exc:
            self._context.run(self._exchange.finish, exc)
            raise
        self._context.run(self._exchange.finish)
