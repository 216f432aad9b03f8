"""Where entries go: the terminal, JSON lines, files, a background queue, the stdlib's
handlers, an OpenTelemetry collector or an HTTP log store, syslog, the systemd journal,
or a function of yours.

The shipping transports (``OtlpTransport``, ``HttpTransport``, ``SyslogTransport``,
``JournaldTransport``) load when first named; the first two import their client
libraries (extras ``otlp``, ``http``) only when one is made."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._blank import BlankTransport
from ._console import ConsoleTransport
from ._file import FileTransport
from ._queue import QueueTransport
from ._stdlib import StdlibTransport
from ._structured import StructuredTransport

if TYPE_CHECKING:
    from ._http import HttpTransport
    from ._journald import JournaldTransport
    from ._otlp import OtlpTransport
    from ._syslog import SyslogTransport
else:
    # The shipping transports (and their delivery engine, HTTP and retry machinery)
    # load when first named, so ``import loglayer`` does not pay for them.
    _LAZY = {"HttpTransport": "._http", "JournaldTransport": "._journald",
             "OtlpTransport": "._otlp", "SyslogTransport": "._syslog"}

    def __getattr__(name: str) -> Any:
        if name in _LAZY:
            import importlib

            return getattr(importlib.import_module(_LAZY[name], __name__), name)
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(set(globals()) | set(_LAZY))

__all__ = [
    "BlankTransport",
    "ConsoleTransport",
    "FileTransport",
    "HttpTransport",
    "JournaldTransport",
    "OtlpTransport",
    "QueueTransport",
    "StdlibTransport",
    "StructuredTransport",
    "SyslogTransport",
]
