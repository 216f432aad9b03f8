"""Where entries go: the terminal, JSON lines, or a function of yours."""

from __future__ import annotations

from ._console import ConsoleTransport

__all__ = ["ConsoleTransport"]
