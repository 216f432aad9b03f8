"""A pytest plugin: the ``loglayer_capture`` fixture, loglayer's counterpart of ``caplog``.

Installed with loglayer (the ``pytest11`` entry point ``loglayer``), so any test can
ask for it::

    def test_login(loglayer_capture):
        login("ada")
        assert loglayer_capture.find(level="info", message="logged in", user="ada")

It captures every entry emitted through loglayer during the test, by any logger: the
ready logger ``loglayer.log``, loggers made or derived before the test, and the calls
of ``loglayer.stdlib`` facade loggers that reach loglayer (once it is configured; use
pytest's ``caplog`` for what goes to ``logging``'s handlers). It listens on a
process-wide tap, so it sees each entry after the level filter and the plugins,
whatever the logger's transports and send gates do, and it leaves the transports
alone: output still goes where it went. The fixture is never autouse; a test that
does not ask for it changes nothing.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from ._render_py import _message_text
from ._taps import add_tap, remove_tap
from .levels import LogLevel

__all__ = ["LogCapture", "loglayer_capture"]


class LogCapture:
    """The entries captured so far, with helpers to look for one.

    Thread-safe: entries logged from other threads during the test are captured too.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[Any] = []

    def send(self, entry: Any) -> None:
        """Called by the tap for each entry; keeps it."""
        with self._lock:
            self._entries.append(entry)

    @property
    def lines(self) -> list[Any]:
        """The entries, oldest first: each has ``level``, ``messages``, ``data``,
        ``metadata``, ``error``, ``prefix``... as a transport receives it."""
        with self._lock:
            return list(self._entries)

    @property
    def messages(self) -> list[str]:
        """Each entry's text: its prefix and messages joined by one space, as rendered."""
        return [_message_text(entry.messages, entry.prefix) for entry in self.lines]

    def find(self, level: Any = None, message: str | re.Pattern[str] | None = None,
             **data_items: Any) -> list[Any]:
        """The entries that match every criterion given, oldest first.

        ``level``: exactly this level (a ``LogLevel``, number or name such as
        ``"warning"``). ``message``: a str found in the entry's text, or a compiled
        regular expression that ``search``-es it. Each keyword: a key whose value equals
        the given one in the entry's data (fields and error), or else in its metadata
        when that is a dict.
        """
        wanted = None if level is None else LogLevel.parse(level)
        found = []
        for entry in self.lines:
            if wanted is not None and entry.level != wanted:
                continue
            if message is not None:
                text = _message_text(entry.messages, entry.prefix)
                if isinstance(message, re.Pattern):
                    if message.search(text) is None:
                        continue
                elif message not in text:
                    continue
            if data_items and not all(_has_item(entry, key, value)
                                      for key, value in data_items.items()):
                continue
            found.append(entry)
        return found

    def clear(self) -> None:
        """Forget the entries captured so far."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __repr__(self) -> str:
        return f"<LogCapture entries={len(self)}>"


_MISSING = object()


def _has_item(entry: Any, key: str, value: Any) -> bool:
    data = entry.data
    if data and data.get(key, _MISSING) == value:
        return True
    metadata = entry.metadata
    return type(metadata) is dict and metadata.get(key, _MISSING) == value


@pytest.fixture
def loglayer_capture() -> Iterator[LogCapture]:
    """Capture every loglayer entry emitted during the test (see :class:`LogCapture`)."""
    capture = LogCapture()
    add_tap(capture)
    try:
        yield capture
    finally:
        remove_tap(capture)
