"""Django middleware, for sync and async views alike.

    # settings.py
    MIDDLEWARE = ["loglayer.integrations.django.LogLayerMiddleware", ...]

Django makes a middleware from its dotted path with no other argument, so it is
configured the Django way, by a subclass whose class attributes set the options of
:class:`loglayer.integrations.asgi.LogLayerMiddleware`::

    class RequestLogging(LogLayerMiddleware):
        logger = log                     # default: loglayer.log, at each request
        request_id_header = "x-correlation-id"

Django's own ``django.request`` line for a 4xx or 5xx response is logged while the
request's fields are bound (Django would log it once the chain has returned, without
them), so it carries the request's id.

Unhandled exceptions: Django turns a view's exception into a 500 response inside the
middleware chain and logs it itself, with its traceback, on the ``django.request``
logger, while this middleware's fields are bound. Route that logger into loglayer with
``loglayer.stdlib.LogLayerHandler`` in ``LOGGING`` and the exception is logged once,
with the request's id; this middleware logs the 500 as the access entry and does not
log the exception a second time. With ``DEBUG_PROPAGATE_EXCEPTIONS`` Django re-raises
instead of logging, and then this middleware logs it (once) and re-raises it.

A streamed response (``StreamingHttpResponse``, ``FileResponse``) is produced after the
middleware returned: each step of its body runs with the request's fields bound, and
the access entry is logged when the body is exhausted or the response is closed.
"""

from __future__ import annotations

import contextvars
from collections.abc import AsyncIterator, Callable
from contextvars import Token
from typing import Any, ClassVar

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.utils.log import log_response

from ._access import AccessLog, Exchange, bind, reset
from .wsgi import _Body

__all__ = ["LogLayerMiddleware"]


class LogLayerMiddleware:
    """Request-scoped fields and one access entry per request; configure by subclassing
    (``logger``, ``request_id_header``, ``status_level``, ``generate_id``,
    ``echo_request_id`` as class attributes)."""

    sync_capable: ClassVar[bool] = True
    async_capable: ClassVar[bool] = True

    logger: ClassVar[Any] = None
    request_id_header: ClassVar[str] = "x-request-id"
    status_level: ClassVar[Callable[[int], Any] | None] = None
    generate_id: ClassVar[Callable[[], str] | None] = None
    echo_request_id: ClassVar[bool] = True

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        cls = type(self)  # read on the class: a function attribute must not bind as a method
        self.get_response = get_response
        self._access = AccessLog(cls.logger, cls.request_id_header, cls.status_level,
                                 cls.generate_id, cls.echo_request_id)
        self._async = iscoroutinefunction(get_response)
        if self._async:
            markcoroutinefunction(self)

    def __call__(self, request: Any) -> Any:
        if self._async:
            return self._acall(request)
        exchange = self._start(request)
        context = contextvars.copy_context()
        try:
            response = context.run(self._respond, exchange, request)
        except BaseException as exc:
            context.run(exchange.finish, exc)
            raise
        return self._finish(exchange, response, context)

    async def _acall(self, request: Any) -> Any:
        exchange = self._start(request)
        token = bind(exchange.fields)
        try:
            response = await self.get_response(request)
            if response.status_code >= 400:  # as Django's handler does: see _respond
                await sync_to_async(_log_response, thread_sensitive=False)(request, response)
        except BaseException as exc:
            exchange.finish(exc)
            raise
        finally:
            reset(token)
        return self._finish(exchange, response, None)

    def _start(self, request: Any) -> Exchange:
        return self._access.start(request.method or "", request.path,
                                  request.headers.get(self._access.header))

    def _respond(self, exchange: Exchange, request: Any) -> Any:
        bind(exchange.fields)  # in the request's own context: never reset, dropped with it
        response = self.get_response(request)
        if response.status_code >= 400:
            _log_response(request, response)
        return response

    def _finish(self, exchange: Exchange, response: Any,
                context: contextvars.Context | None) -> Any:
        exchange.status = response.status_code
        header = self._access.header
        if self._access.echo_request_id and not response.has_header(header):
            response[header] = exchange.request_id
        if not getattr(response, "streaming", False):
            exchange.finish()
            return response
        if getattr(response, "is_async", False):
            response.streaming_content = _AsyncBody(response.streaming_content, exchange)
        else:
            if context is None:  # an async request whose body is a plain iterator
                context = contextvars.copy_context()
                context.run(bind, exchange.fields)
            response.streaming_content = _Body(response.streaming_content, context, exchange)
        return response


def _log_response(request: Any, response: Any) -> None:
    """Django's own ``django.request`` line for a 4xx or 5xx response, logged now.

    Django's handler logs it after the whole middleware chain has returned, outside
    the request's fields; the same call made here, while they are bound, gives the
    entry the request's id, and marks the response so that Django does not log it a
    second time. A response Django logged already (an exception's) is left alone.
    """
    log_response("%s: %s", response.reason_phrase, request.path, response=response,
                 request=request)


class _AsyncBody:
    """An async streamed body, each step awaited with the request's fields bound; the
    access entry is logged when it ends, fails, or the response is closed (Django
    registers this object's ``close`` with the response)."""

    __slots__ = ("_body", "_exchange")

    def __init__(self, body: AsyncIterator[bytes], exchange: Exchange) -> None:
        self._body = body
        self._exchange = exchange

    def __aiter__(self) -> _AsyncBody:
        return self

    async def __anext__(self) -> bytes:
        token: Token = bind(self._exchange.fields)
        try:
            return await self._body.__anext__()
        except StopAsyncIteration:
            self._exchange.finish()
            raise
        except BaseException as exc:
            self._exchange.finish(exc)
            raise
        finally:
            reset(token)

    def close(self) -> None:
        self._exchange.finish()
