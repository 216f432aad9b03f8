"""loglayer: structured logging with a compiled emission pipeline and plain-Python plugins.

    from loglayer import LogLayer
    log = LogLayer()
    log.with_fields(request_id="r-1").with_metadata({"user": "ada"}).info("logged in")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import registry
from ._config import from_config, load_config
from ._context import (
    bind_contextvars,
    bound_contextvars,
    clear_contextvars,
    get_contextvars,
    unbind_contextvars,
)
from ._default import configure
from ._multiline import Multiline
from ._select import COMPILED, HookParams, LogBuilder, LogEntry, LogLayer, Transport, lazy
from ._version import __version__ as __version__
from .errors import LogLayerError, PluginError, TransportError
from .levels import LogLevel
from .plugin import (
    Plugin,
    data_hook,
    fields_hook,
    level_hook,
    message_hook,
    metadata_hook,
    noop_plugin,
    send_gate,
)
from .transports import (
    BlankTransport,
    ConsoleTransport,
    FileTransport,
    QueueTransport,
    StructuredTransport,
)

__all__ = [
    "BlankTransport",
    "COMPILED",
    "ConsoleTransport",
    "FileTransport",
    "HookParams",
    "LogBuilder",
    "LogEntry",
    "LogLayer",
    "LogLayerError",
    "LogLevel",
    "Multiline",
    "Plugin",
    "PluginError",
    "QueueTransport",
    "StructuredTransport",
    "Transport",
    "TransportError",
    "bind_contextvars",
    "bound_contextvars",
    "clear_contextvars",
    "configure",
    "data_hook",
    "fields_hook",
    "from_config",
    "get_contextvars",
    "lazy",
    "level_hook",
    "load_config",
    "log",
    "message_hook",
    "metadata_hook",
    "noop_plugin",
    "registry",
    "send_gate",
    "unbind_contextvars",
]

if TYPE_CHECKING:
    from ._default import log
else:
    def __getattr__(name: str) -> Any:
        """``log``, the ready logger, is built on first use (see ``loglayer._default``)."""
        if name == "log":
            from . import _default

            return _default.log
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(set(globals()) | {"log"})
