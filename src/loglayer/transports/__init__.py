"""Where entries go: the terminal, JSON lines, files, a background queue, the stdlib's
handlers, an OpenTelemetry collector or an HTTP log store, or a function of yours.

The shipping transports (``OtlpTransport``, ``HttpTransport``) import their client
libraries (extras ``otlp``, ``http``) only when one is made."""

from __future__ import annotations

from ._blank import BlankTransport
from ._console import ConsoleTransport
from ._file import FileTransport
from ._http import HttpTransport
from ._otlp import OtlpTransport
from ._queue import QueueTransport
from ._stdlib import StdlibTransport
from ._structured import StructuredTransport

__all__ = [
    "BlankTransport",
    "ConsoleTransport",
    "FileTransport",
    "HttpTransport",
    "OtlpTransport",
    "QueueTransport",
    "StdlibTransport",
    "StructuredTransport",
]
