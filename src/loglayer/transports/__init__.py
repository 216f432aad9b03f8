"""Where entries go: the terminal, JSON lines, files, a background queue, the stdlib's
handlers, or a function of yours."""

from __future__ import annotations

from ._blank import BlankTransport
from ._console import ConsoleTransport
from ._file import FileTransport
from ._queue import QueueTransport
from ._stdlib import StdlibTransport
from ._structured import StructuredTransport

__all__ = [
    "BlankTransport",
    "ConsoleTransport",
    "FileTransport",
    "QueueTransport",
    "StdlibTransport",
    "StructuredTransport",
]
