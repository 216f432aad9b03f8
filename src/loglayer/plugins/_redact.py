"""The ``redact`` plugin: censor secrets in fields, metadata, data and messages.

It is built on :class:`loglayer.utils.Cloner` with ``strict=True``, and follows the
Cloner's rule for speed: each hook first checks, without allocating, whether anything
needs censoring, and hands back the caller's own object (or None, "no change", for the
dispatch hooks) when nothing does. Only an entry that holds a secret pays for a copy.
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Iterable, Mapping
from typing import Any

from .._common import describe, plugin_failed, text_of
from .._validate import check_type, type_name
from ..plugin import Plugin
from ..utils._cloner import Cloner, Matcher, compile_matchers
from ..utils._cloner import _fast as _clonefast

__all__ = ["redact"]

Patterns = str | re.Pattern[str] | Iterable[str | re.Pattern[str]]


def redact(keys: Matcher = (), patterns: Patterns = (), censor: str = "[REDACTED]",
           id: str = "redact") -> Plugin:
    """A plugin that replaces secrets with ``censor`` before anything is logged.

    ``keys``: the value under a matching key is replaced as a whole, at any depth, in
    dicts and in the fields of records (dataclasses, pydantic and attrs models,
    namedtuples, plain objects). A str matches a key exactly (case-sensitive); a
    compiled regex matches keys it finds a match in (``re.compile("(?i)token")``); a
    callable is a predicate on the key. One of these or a collection of them.

    ``patterns``: regexes (str sources or compiled) searched in the text of everything
    that is written: str values at any depth, the text of other values (numbers,
    ``Decimal``, ``Path``, enum members, exceptions, bytes, objects with their own
    ``__str__``, records nested in other data), mapping keys (a matching key is renamed
    to its censored text), and the messages. Each match is replaced by ``censor``, the
    rest of the text is kept. A pattern may not match the empty string, nor the censor.

    Where it applies:

    * ``with_fields`` (``on_fields_called``) and ``with_metadata`` / ``metadata_only`` /
      ``raw(metadata=...)`` (``on_metadata_called``): the caller's objects are never
      changed; a copy is passed on, only when something matched;
    * each emission (``on_before_data_out``): the assembled data (fields given at
      construction or to ``raw``, fields bound with ``bind_contextvars``, the serialized
      error, what earlier data hooks added) is checked; the top-level keys whose values
      need censoring are returned, to be merged over the data. A data hook can only
      merge: a top-level key of that data that is itself a secret keeps its name and
      has its value censored. Add ``redact`` after the plugins whose data it must see;
    * messages and the prefix (``on_before_message_out``, only when ``patterns`` are
      given): each message is redacted as a value, then the text they are rendered as, so
      a secret split over two messages is found: joined by spaces, and, for a printf
      template with arguments, formatted as ``sprintf`` does, so ``redact`` and
      ``sprintf`` may come in either order (a censored printf text is returned
      formatted). Another plugin that rewrites messages must come before ``redact``.
      With ``keys`` alone messages are not inspected: pass structured values as
      metadata, not as messages.

    It fails closed: a value it cannot inspect (reading its ``__class__``, contents,
    ``__hash__`` or ``__eq__`` raises, as an unbound ``LocalProxy`` does; a ``keys``
    predicate that raises) is replaced by ``censor`` (under a key it cannot check, the
    value), and the failure is reported as a ``PluginError`` to the plugin's
    ``on_error`` (or a line on stderr) under the hook that met it; the entry is still
    logged. An object it cannot copy that holds a secret is replaced by ``censor`` as a
    whole.

    The prefix is censored with the messages (``patterns`` only). Not covered: the
    exception object itself, which travels unchanged as ``entry.error`` (the serialized
    error in the data is redacted, and that is what the built-in transports write, the
    console's summary and traceback and the stdlib record's traceback text included).
    Raises ``TypeError`` or ``ValueError`` naming the argument for a bad option.

        log = LogLayer(plugins=[redact(keys=("password", "token"),
                                       patterns=(r"\\b\\d{16}\\b",))])
        log.with_metadata({"user": "ada", "password": "hunter2"}).info("card 4111111111111111")
        # metadata {"user": "ada", "password": "[REDACTED]"}, message "card [REDACTED]"
    """
    check_type("censor", censor, str, "a str")
    exact, key_regexes, key_tests = compile_matchers("keys", keys)
    regexes = _compile_patterns(patterns, censor)
    if not (exact or key_regexes or key_tests or regexes):
        raise ValueError("redact() needs keys or patterns; with neither it redacts nothing")
    cloner = Cloner(match_key=[*exact, *key_regexes, *key_tests], match_value=regexes,
                    censor=censor, strict=True)
    return _Redact(cloner, id, bool(regexes))


def _compile_patterns(patterns: Patterns, censor: str) -> tuple[re.Pattern[str], ...]:
    """The patterns as compiled regexes; errors name ``patterns`` or ``patterns[i]``."""
    if isinstance(patterns, (str, re.Pattern)):
        items, single = [patterns], True
    elif isinstance(patterns, Iterable) and not isinstance(patterns, (bytes, bytearray, Mapping)):
        items, single = list(patterns), False
    else:
        raise TypeError("patterns must be a regex (a str or a compiled pattern) or a "
                        f"collection of them, got {type_name(patterns)}")
    regexes = []
    for index, item in enumerate(items):
        where = "patterns" if single else f"patterns[{index}]"
        if isinstance(item, str):
            try:
                item = re.compile(item)
            except re.error as exc:
                raise ValueError(f"{where}: {item!r} is not a valid regex: {exc}") from None
        else:
            check_type(where, item, re.Pattern, "a str or a compiled regex")
        compile_matchers(where, item)  # a str regex that cannot match the empty string
        if item.search(censor):
            raise ValueError(f"{where}: the regex {item.pattern!r} matches the censor "
                             f"{censor!r} itself")
        regexes.append(item)
    return tuple(regexes)


#: What ``_Redact.__init__`` sets: rebuilt, not copied, by ``__reduce__``.
_DERIVED = frozenset({"id", "cloner", "_patterns", "_cloners", "on_fields_called",
                      "on_metadata_called", "on_before_data_out", "on_before_message_out"})

#: The hooks, each with a Cloner of its own that reports under the hook's name.
_HOOKS = ("on_fields_called", "on_metadata_called", "on_before_data_out",
          "on_before_message_out")


class _Redact(Plugin):
    """The plugin ``redact()`` returns; see there. Immutable, so safe on any thread."""

    def __init__(self, cloner: Cloner, id: str, patterns: bool) -> None:
        super().__init__(id)
        self.cloner = cloner
        self._patterns = patterns
        # One Cloner per hook, the same but for whom it tells of a value it censored
        # because it could not inspect it (it fails closed, so the hook itself does not
        # fail, and the core would say nothing).
        self._cloners = {hook: cloner._reporting(functools.partial(self._report, hook))
                         for hook in _HOOKS}
        fields, metadata = self._cloners["on_fields_called"], self._cloners["on_metadata_called"]
        # The fields and metadata hooks are the Cloner's own ``censored`` (compiled when
        # the fast path is built): the value itself, or a redacted copy when something
        # matched, with no Python frame of the plugin's in between.
        self.on_fields_called = fields._censored
        self.on_metadata_called = metadata._censored
        if cloner._walker is not None:  # the compiled hooks, which the core calls from C
            self.on_fields_called = _clonefast.ValueHook(fields._walker)
            self.on_metadata_called = _clonefast.ValueHook(metadata._walker)
            # the compiled hook stands in for the method below, on this instance only
            self.on_before_data_out = _clonefast.DataHook(  # type: ignore[method-assign]
                self._cloners["on_before_data_out"]._walker)
        if patterns:
            # Only then can a message need redacting: installing the hook for keys alone
            # would cost every entry a call for nothing (hooks are indexed at add time).
            self.on_before_message_out = self._redact_messages

    def __reduce__(self) -> tuple:
        """Copy and pickle rebuild the plugin from its Cloner (the hooks are derived),
        then restore what else was set on it (``on_error``, for example)."""
        state = {name: value for name, value in vars(self).items()
                 if name not in _DERIVED}
        return (_Redact, (self.cloner, self.id, self._patterns), state)

    def on_before_data_out(self, params: Any) -> dict | None:
        """The redacted values of the top-level data keys that need it, or None.

        The core merges the result over the data (SPEC §4), so only the keys whose
        values changed are returned; the data itself is never touched.
        """
        data = params.data
        if not data:
            return None
        cloner = self._cloners["on_before_data_out"]
        try:
            redacted = cloner._censored(data)  # shares every value that did not change
        except Exception:  # never expected of a strict Cloner; fail closed all the same
            redacted = cloner.censor
        if redacted is data:
            return None
        return cloner._data_changes(data, redacted)

    def _report(self, hook: str, exc: Exception) -> None:
        """Say that ``hook`` censored a value it could not inspect (``exc`` is why): to
        the plugin's ``on_error`` as a ``PluginError``, else one line on stderr, as the
        core reports a hook that fails."""
        plugin_failed(hook, self.id, getattr(self, "on_error", None), exc,
                      f"censored a value it could not inspect: {describe(exc)}")

    def _redact_messages(self, params: Any) -> list | None:
        """``on_before_message_out``: the messages with what the patterns find censored,
        or None when there is nothing to censor; a prefix that needs it is censored in
        ``params.prefix`` (the core takes the prefix back from the params).

        Each message is censored as a value (a str, the text of a number or another
        leaf, the values of a container). Then the text the messages will be rendered
        as is checked, so a match across two messages is caught too: the messages
        joined by one space (as transports render them), and, when they are a printf
        template and its arguments, the formatted text (as ``sprintf`` renders them,
        whether it runs before or after this hook). When one of those still needs
        censoring, the messages become that one text, censored. Last the prefix, alone
        and followed by the message text, as it is written: a match across the two
        makes the messages the censored whole, and the prefix empty.
        """
        cloner = self._cloners["on_before_message_out"]
        try:
            messages = _redacted_messages(cloner, params.messages)
            prefix = getattr(params, "prefix", None)  # hand-made params may lack one
            if not prefix:
                return messages
            text = prefix if type(prefix) is str else text_of(prefix)
            redacted = cloner._censored(text)
            if redacted is not text:
                params.prefix = text = redacted
            current = params.messages if messages is None else messages
            whole = text + " " + " ".join([message if type(message) is str
                                           else text_of(message) for message in current])
            redacted = cloner._censored(whole)
            if redacted is not whole:
                params.prefix = None
                return [redacted]
            return messages
        except Exception as exc:  # the core's fallback would keep the messages: fail closed
            self._report("on_before_message_out", exc)
            with contextlib.suppress(Exception):
                if getattr(params, "prefix", None):
                    params.prefix = cloner.censor
            return [cloner.censor]


def _redacted_messages(cloner: Cloner, messages: list) -> list | None:
    """The messages of ``_Redact._redact_messages``, without the prefix."""
    censored = cloner._censored
    result = None
    for index, message in enumerate(messages):
        redacted = censored(message)
        if redacted is not message:
            if result is None:
                result = list(messages)
            result[index] = redacted
    if len(messages) < 2:
        return result
    if isinstance(messages[0], str):
        # What sprintf makes of them, from the messages as they came: a secret split
        # between the template and an argument, or over two arguments, is whole there.
        try:
            formatted = messages[0] % tuple(messages[1:])
        except Exception:  # sprintf would leave them as they are, and so does this
            formatted = None
        if type(formatted) is str:
            redacted = censored(formatted)
            if redacted is not formatted:
                return [redacted]
    current = messages if result is None else result
    joined = " ".join([message if type(message) is str else text_of(message)
                       for message in current])
    redacted = censored(joined)
    if redacted is not joined:
        return [redacted]
    return result
