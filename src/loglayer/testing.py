"""Helpers for testing code that logs, and plugins.

``TestTransport`` keeps every entry it receives, so a test can assert on exactly what
the pipeline produced.
"""

from __future__ import annotations

import threading

from ._select import LogEntry, Transport

__all__ = ["TestTransport"]


class TestTransport(Transport):
    """Keeps each entry in ``lines``; thread-safe.

    Each line is the entry itself, with ``level``, ``messages`` (the original
    objects), ``data`` (always a dict), ``metadata``, ``error``, ``ctx``, ``prefix``,
    ``fields`` and ``time_ns``.
    """

    __test__ = False  # not a pytest test class, despite the name

    def __init__(self, id: str = "", *, level=None, enabled: bool = True) -> None:
        super().__init__(id, level=level, enabled=enabled)
        self._lock = threading.Lock()
        self._lines: list[LogEntry] = []

    @property
    def lines(self) -> list[LogEntry]:
        """A snapshot of the entries received so far, oldest first."""
        with self._lock:
            return list(self._lines)

    def send(self, entry: LogEntry) -> None:
        with self._lock:
            self._lines.append(entry)

    def last_line(self) -> LogEntry | None:
        """The newest entry, or None when there is none."""
        with self._lock:
            return self._lines[-1] if self._lines else None

    def pop_line(self) -> LogEntry | None:
        """Remove and return the newest entry, or None when there is none."""
        with self._lock:
            return self._lines.pop() if self._lines else None

    def clear(self) -> None:
        with self._lock:
            self._lines.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._lines)
