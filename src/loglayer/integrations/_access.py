"""What the three middlewares share: the settings, the request's fields and its entry.

One :class:`Exchange` per request holds the fields bound for it, the clock, the status
and whether its entry was logged. ``finish`` logs that entry once, however the request
ends (a response, an exception, a streamed body exhausted or closed), with the
request's fields bound around the log call: a body closed by the server is closed
outside the request's context, and its entry must still carry them.

The entry: message ``"<METHOD> <path> <status>"``, metadata ``{"status",
"duration_ms"}``, the level chosen by ``status_level(status)`` (5xx ERROR, 4xx WARN,
others INFO by default). An unhandled exception is that same entry, at ERROR, with
the exception as its error (its traceback serialized with it): one entry per request,
the exception logged once.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from contextvars import Token
from typing import Any

from .._common import context_fields, enable_context_fields
from ..levels import LogLevel

__all__ = ["AccessLog", "Exchange", "bind", "default_status_level"]

#: An incoming request id is used when it is 1 to 128 visible ASCII characters; any
#: other value (empty, huge, with spaces or control characters) is replaced by a new
#: id, so a client cannot put arbitrary text into every entry of its request.
_SENSIBLE_ID = re.compile(r"[\x21-\x7e]{1,128}")

#: The status of a request that ended before a response started: the client went away
#: (the task was cancelled), as nginx's 499.
CLIENT_CLOSED = 499


def default_status_level(status: int) -> LogLevel:
    """ERROR for a 5xx status, WARN for a 4xx, INFO for any other."""
    if status >= 500:
        return LogLevel.ERROR
    if status >= 400:
        return LogLevel.WARN
    return LogLevel.INFO


def new_request_id() -> str:
    """A random id: 32 hexadecimal digits (a UUID4)."""
    return uuid.uuid4().hex


def bind(fields: dict[str, Any]) -> Token:
    """Bind ``fields`` over the context's current ones; ``context_fields.reset(token)``
    undoes it (``loglayer.bound_contextvars`` without the ``with`` block)."""
    enable_context_fields()
    current = context_fields.get()
    return context_fields.set({**current, **fields} if current else fields)


def reset(token: Token) -> None:
    context_fields.reset(token)


class AccessLog:
    """The settings of one middleware, checked when it is made."""

    __slots__ = ("logger", "header", "status_level", "generate_id", "echo_request_id")

    def __init__(self, logger: Any, request_id_header: str,
                 status_level: Callable[[int], Any] | None,
                 generate_id: Callable[[], str] | None, echo_request_id: bool) -> None:
        if logger is not None and not callable(getattr(logger, "raw", None)):
            raise TypeError(f"logger must be a LogLayer or None, got {type(logger).__name__}")
        if not isinstance(request_id_header, str) or not request_id_header.strip():
            raise TypeError("request_id_header must be a non-empty str, got "
                            f"{type(request_id_header).__name__}")
        if status_level is not None and not callable(status_level):
            raise TypeError("status_level must be callable (status -> level) or None, got "
                            f"{type(status_level).__name__}")
        if generate_id is not None and not callable(generate_id):
            raise TypeError(f"generate_id must be callable or None, got "
                            f"{type(generate_id).__name__}")
        if not isinstance(echo_request_id, bool):
            raise TypeError(f"echo_request_id must be a bool, got "
                            f"{type(echo_request_id).__name__}")
        self.logger = logger
        self.header = request_id_header.strip().lower()
        self.status_level = status_level or default_status_level
        self.generate_id = generate_id or new_request_id
        self.echo_request_id = echo_request_id

    def start(self, method: str, path: str, incoming_id: str | None) -> Exchange:
        """The exchange of a request that starts now."""
        if incoming_id is not None and _SENSIBLE_ID.fullmatch(incoming_id):
            request_id = incoming_id
        else:
            request_id = str(self.generate_id())
        return Exchange(self, {"request_id": request_id, "method": method, "path": path})


class Exchange:
    """One request: its fields, its clock, its status, and its one entry."""

    __slots__ = ("access", "fields", "started", "status", "done")

    def __init__(self, access: AccessLog, fields: dict[str, Any]) -> None:
        self.access = access
        self.fields = fields
        self.started = time.perf_counter_ns()
        self.status: int | None = None
        self.done = False

    @property
    def request_id(self) -> str:
        return self.fields["request_id"]

    def finish(self, error: BaseException | None = None) -> None:
        """Log the request's entry, once; never raises (the response must not fail
        because its log entry did)."""
        if self.done:
            return
        self.done = True
        elapsed_ms = round((time.perf_counter_ns() - self.started) / 1e6, 3)
        status = self.status
        if status is None:  # no response started
            status = 500 if error is None or isinstance(error, Exception) else CLIENT_CLOSED
        logged_error = error if isinstance(error, Exception) else None
        token = bind(self.fields)
        try:
            log = self.access.logger
            if log is None:
                from .. import _default

                log = _default.log
            if logged_error is not None:
                level: Any = LogLevel.ERROR
            else:
                level = self.access.status_level(status)
            fields = self.fields
            log.raw(level, [f"{fields['method']} {fields['path']} {status}"],
                    metadata={"status": status, "duration_ms": elapsed_ms},
                    error=logged_error)
        except Exception as exc:
            from .._common import describe, stderr_line

            stderr_line(f"LogLayerMiddleware could not log the request: {describe(exc)}")
        finally:
            reset(token)
