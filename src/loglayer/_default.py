"""The ready logger, ``from loglayer import log``, ``configure`` to change it, and the
default transport of ``LogLayer()``, which this module wires into the kernels.

It writes to ``sys.stderr`` as it is at each write: readable lines when stderr is a
terminal, JSON lines otherwise (a service's stderr usually goes to a collector).
Two environment variables set it up at import:

* ``LOGLAYER_LEVEL``: the lowest level logged (a name or number; default ``trace``,
  everything, as for any ``LogLayer``);
* ``LOGLAYER_FORMAT``: ``console`` or ``json`` (default: by whether stderr is a TTY).

A bad value gives one warning line on stderr and the default is used: a typo in the
environment must not stop a program from starting.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import TYPE_CHECKING, Any

from . import _select
from ._common import on_kernel, plugin_list, transport_list
from ._select import JsonFormat, LineTransport, LogLayer
from ._validate import check_level
from .levels import LogLevel
from .transports import BlankTransport, ConsoleTransport

__all__ = ["configure", "log"]

_FORMATS = ("console", "json")


def _warn(message: str) -> None:
    stream = sys.stderr
    if stream is not None:
        stream.write(f"loglayer: {message}\n")


def _level_from_env() -> LogLevel:
    raw = os.environ.get("LOGLAYER_LEVEL", "")
    if not raw:
        return LogLevel.TRACE
    try:
        return LogLevel.parse(int(raw) if raw.strip().isdigit() else raw)
    except ValueError:
        _warn(f"LOGLAYER_LEVEL={raw!r} is not a level "
              f"({', '.join(m.name.lower() for m in LogLevel)}); using trace")
        return LogLevel.TRACE


def _stderr_is_tty() -> bool:
    try:
        return bool(sys.stderr is not None and sys.stderr.isatty())
    except Exception:  # a closed or odd stream
        return False


def _format_from_env() -> str:
    raw = os.environ.get("LOGLAYER_FORMAT", "")
    default = "console" if _stderr_is_tty() else "json"
    if not raw:
        return default
    value = raw.strip().lower()
    if value not in _FORMATS:
        _warn(f"LOGLAYER_FORMAT={raw!r} is not one of {', '.join(_FORMATS)}; using {default}")
        return default
    return value


def _default_transport() -> Any:
    if _format_from_env() == "console":
        return ConsoleTransport(id="default")
    return LineTransport(JsonFormat(), default_stream="stderr", id="default")


def _pure_console() -> Any:
    """The console transport of the pure renderers, for the pure kernel when the
    compiled one is live (a compiled transport takes compiled entries only)."""
    from . import _render_py

    return _render_py.LineTransport(_render_py.ConsoleFormat(False, True),
                                    default_stream="stderr")


def _wire(kernel: Any) -> None:
    """``LogLayer()`` with no transports writes readable lines to sys.stderr: the
    kernels import no transport, so the assembly tells each one as it loads."""
    kernel._set_default_transport_factory(
        ConsoleTransport if kernel is _select.core else _pure_console)


on_kernel(_wire)


#: Whether ``configure`` has been called: from then on, the calls of stdlib facade
#: loggers that reach the root of ``logging``'s tree also go to the ready logger
#: (``loglayer.stdlib``). Before it, a program that never configured loglayer gets
#: ``logging``'s own output only.
configured = False


def configure(*, transports: Any = None, plugins: Any = None, level: Any = None) -> LogLayer:
    """Change the ready logger in place, as ``logging.basicConfig`` changes the root.

    ``transports`` (one or a sequence) replaces its transports, ``plugins`` (a
    sequence) replaces its plugins, ``level`` sets its level. An argument left as None
    keeps what is there. Everything is validated before anything changes, and a bad
    argument raises ``TypeError`` or ``ValueError`` naming it. Returns the logger.

    From the first call on, the stdlib facade's calls that reach the root of
    ``logging``'s tree go to this logger too (see ``loglayer.stdlib``).
    """
    new_transports = None if transports is None else transport_list("transports", transports)
    if isinstance(plugins, (str, bytes)):  # a name: plugin_list would only say "got str"
        raise TypeError(f"plugins must be a sequence of plugins, got the "
                        f"{type(plugins).__name__} {plugins!r}; plugins are objects such as "
                        f"loglayer.plugins.sprintf(); to build one by name, use "
                        f"loglayer.registry.get_plugin(name, **options)")
    new_plugins = None if plugins is None else plugin_list(plugins)
    new_level = None if level is None else check_level("level", level)
    # Validate the lot on a scratch logger first, so a bad argument changes nothing.
    LogLayer(transports=new_transports or [BlankTransport(lambda entry: None)],
             plugins=new_plugins or ())
    log = _ready()
    if new_transports is not None:
        log.set_transports(*new_transports)
    if new_plugins is not None:
        for plugin_id in log.plugin_ids():
            log.remove_plugin(plugin_id)
        log.add_plugin(*new_plugins)
    if new_level is not None:
        log.set_level(new_level)
    global configured
    configured = True
    return log


_ready_lock = threading.Lock()


def _ready() -> LogLayer:
    """The ready logger, built on first use: its format (and the environment's warnings)
    cost nothing to a program that never logs through it."""
    try:
        return globals()["log"]
    except KeyError:
        pass
    with _ready_lock:
        ready = globals().get("log")
        if ready is None:
            ready = LogLayer(transports=_default_transport(), level=_level_from_env())
            globals()["log"] = ready
    return ready


def __getattr__(name: str) -> Any:
    """``log``, the ready logger, is built the first time it is asked for."""
    if name == "log":
        return _ready()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if TYPE_CHECKING:
    #: The ready logger.
    log: LogLayer
