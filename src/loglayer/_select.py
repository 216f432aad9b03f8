"""Picks the compiled core, or its pure-Python twin.

The compiled core (``loglayer._core``) is used on CPython when it was built. The
pure twin (``loglayer._core_py``) is used when ``LOGLAYER_NO_EXTENSIONS`` is set to a
non-empty value, on other interpreters, or when the extension is missing.
"""

from __future__ import annotations

from ._native import NO_EXTENSIONS

if NO_EXTENSIONS:
    from . import _core_py as core

    COMPILED = False
else:
    try:
        from . import _core as core  # type: ignore[no-redef]

        COMPILED = True
    except ImportError:
        from . import _core_py as core  # type: ignore[no-redef]

        COMPILED = False

LogLayer = core.LogLayer
LogBuilder = core.LogBuilder
LogEntry = core.LogEntry
ConsoleFormat = core.ConsoleFormat
HookParams = core.HookParams
JsonFormat = core.JsonFormat
LineTransport = core.LineTransport
Transport = core.Transport
lazy = core.lazy

__all__ = [
    "COMPILED",
    "ConsoleFormat",
    "HookParams",
    "JsonFormat",
    "LineTransport",
    "LogBuilder",
    "LogEntry",
    "LogLayer",
    "Transport",
    "lazy",
]
