"""Request-scoped fields carried by ``contextvars`` (structlog's names).

``bind_contextvars(request_id=...)`` in a request handler makes every entry logged in
that context (that thread, that asyncio task and the tasks it starts) carry the field,
whatever logger logs it. The fields merge into each entry's data under the logger's
own fields, so a logger's explicit field wins over a context field of the same name.

The value of the context variable is an immutable-by-convention dict: binding makes a
new dict, so a context that copied the old one (a task started earlier) keeps it.
Nothing is looked up at emission until something has been bound once in the process.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from ._common import context_fields, enable_context_fields

__all__ = ["bind_contextvars", "bound_contextvars", "clear_contextvars", "get_contextvars",
           "unbind_contextvars"]


def get_contextvars() -> dict[str, Any]:
    """A copy of the fields bound in the current context."""
    return dict(context_fields.get() or {})


def bind_contextvars(**fields: Any) -> None:
    """Bind ``fields`` in the current context, over any bound before."""
    enable_context_fields()
    current = context_fields.get()
    context_fields.set({**current, **fields} if current else fields)


def unbind_contextvars(*keys: str) -> None:
    """Remove ``keys`` from the fields bound in the current context."""
    current = context_fields.get()
    if current and any(key in current for key in keys):
        context_fields.set({k: v for k, v in current.items() if k not in keys} or None)


def clear_contextvars() -> None:
    """Remove every field bound in the current context."""
    context_fields.set(None)


@contextlib.contextmanager
def bound_contextvars(**fields: Any) -> Iterator[None]:
    """Bind ``fields`` for the ``with`` block, then restore what was bound before."""
    enable_context_fields()
    current = context_fields.get()
    token = context_fields.set({**current, **fields} if current else fields)
    try:
        yield
    finally:
        context_fields.reset(token)
