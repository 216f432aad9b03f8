"""The ``sprintf`` plugin: printf-style formatting of the messages."""

from __future__ import annotations

from typing import Any

from ..plugin import Plugin, message_hook

__all__ = ["sprintf"]


def sprintf(id: str = "sprintf") -> Plugin:
    """A plugin that formats ``messages[0] % tuple(messages[1:])``, printf-style.

    Why: code moving from the stdlib writes ``log.info("user %s logged in from %s",
    user, ip)``. Without this plugin the messages are joined with spaces
    (``user %s logged in from %s ada 10.0.0.1``); with it the entry has the one
    message ``user ada logged in from 10.0.0.1``.

    It applies when there are at least two messages and the first is a str. When the
    formatting fails (too few or too many arguments, a bad conversion, an argument
    that cannot be converted), the messages are left as they are: the entry is still
    logged, with the template and the arguments side by side. Use ``%%`` for a literal
    percent sign in a template that takes arguments.

    ``id``: the plugin ID.

    Example::

        log = LogLayer(plugins=[sprintf()])
        log.info("%d of %d done", 3, 10)        # message: "3 of 10 done"
    """
    return message_hook(id, _format)


def _format(params: Any) -> list[str] | None:
    messages = params.messages
    if len(messages) < 2 or not isinstance(messages[0], str):
        return None
    try:
        return [messages[0] % tuple(messages[1:])]
    except Exception:  # any formatting failure: keep the messages as they were
        return None
