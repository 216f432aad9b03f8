"""The ``filter`` plugin: a send gate on the message text and on a predicate."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any, cast

from .._common import text_of
from .._validate import check_callable, check_type, type_name
from ..plugin import Plugin, noop_plugin, send_gate

__all__ = ["filter"]

Patterns = str | re.Pattern[str] | Iterable[str | re.Pattern[str]]


def filter(messages: Patterns = (), predicate: Callable[[Any], object] | None = None,
           id: str = "filter") -> Plugin:
    """A plugin that sends only the entries that match.

    Why: to keep a noisy transport to what matters (only ``payment`` entries to the
    audit sink, say) or to silence known noise, without touching the code that logs.

    An entry is sent to a transport only when both hold:

    * ``messages`` is empty, or one of its regexes is found (``re.search``) in the
      entry's message text: its messages turned to str and joined with one space,
      as transports render them (a message whose ``str()`` raises is
      ``<unprintable Type>``, as transports write it, so it never opens the gate);
    * ``predicate`` is None, or ``predicate(params)`` is truthy. ``params`` is what
      every send gate receives: ``level``, ``messages``, ``data``, ``metadata``,
      ``error``, ``fields``, ``ctx``, ``prefix`` and ``transport_id``, so a predicate
      can also decide per transport.

    ``messages``: one regex or a collection of them, as str sources or compiled
    patterns; str sources are compiled once, here. A bad regex raises ValueError.
    ``predicate``: a callable taking the params. If it raises, the core reports the
    error and sends the entry (gates fail open).
    ``id``: the plugin ID.

    With neither ``messages`` nor ``predicate`` the plugin has no gate at all and
    costs nothing.

    Examples::

        # only payment and refund entries, to every transport
        log.add_plugin(filter(messages=[r"\\bpayment\\b", r"\\brefund\\b"]))
        # the "audit" transport gets warnings and above; the others get everything
        log.add_plugin(filter(predicate=lambda p: p.transport_id != "audit"
                              or p.level >= LogLevel.WARN, id="audit-filter"))
    """
    patterns = _compile(messages)
    check_callable("predicate", predicate, allow_none=True)
    if not patterns:
        if predicate is None:
            return noop_plugin(id)
        return send_gate(id, cast(Callable[[Any], bool], predicate))

    def matches(params: Any) -> bool:
        # As the transports write them: a message whose str() raises is written as
        # "<unprintable Type>", so it is matched as that, and the gate does not fail
        # (a failing gate lets the entry through: SPEC section 4).
        text = " ".join([message if type(message) is str else text_of(message)
                         for message in params.messages])
        return any(pattern.search(text) for pattern in patterns)

    if predicate is None:
        return send_gate(id, matches)
    return send_gate(id, lambda params: matches(params) and bool(predicate(params)))


def _compile(messages: object) -> tuple[re.Pattern[str], ...]:
    if isinstance(messages, (str, re.Pattern)):
        messages = (messages,)
    if not isinstance(messages, Iterable):
        raise TypeError(f"messages must be a regex or a collection of regexes, "
                        f"got {type_name(messages)}")
    patterns = []
    for index, source in enumerate(messages):
        if isinstance(source, re.Pattern):
            check_type(f"messages[{index}]", source.pattern, str, "a str pattern")
            patterns.append(source)
        elif isinstance(source, str):
            try:
                patterns.append(re.compile(source))
            except re.error as exc:
                raise ValueError(f"messages[{index}]: bad regular expression {source!r}: "
                                 f"{exc}") from None
        else:
            check_type(f"messages[{index}]", source, (str, re.Pattern), "a str or a compiled regex")
    return tuple(patterns)
