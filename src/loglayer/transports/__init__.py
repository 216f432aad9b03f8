"""Where entries go: the terminal, JSON lines, or a function of yours."""

from __future__ import annotations

from ._blank import BlankTransport
from ._console import ConsoleTransport
from ._structured import StructuredTransport

__all__ = ["BlankTransport", "ConsoleTransport", "StructuredTransport"]
