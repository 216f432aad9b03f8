"""Picks the compiled kernel and renderers, or their pure-Python twins.

The compiled modules (``loglayer._core``, ``loglayer._render``) are used on CPython
when they were built; the pure twins (``loglayer._core_py``, ``loglayer._render_py``)
when ``LOGLAYER_NO_EXTENSIONS`` is set to a non-empty value, on other interpreters, or
when the extensions were not built (see ``loglayer._native.compiled``).
"""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING

from . import _core_py
from ._native import compiled

core: ModuleType
render: ModuleType
_compiled_core = compiled("_core")
if _compiled_core is None:
    from . import _render_py as render

    core = _core_py
    COMPILED = False
else:
    core = _compiled_core
    _compiled_render = compiled("_render")
    if _compiled_render is None:
        raise ImportError("loglayer._core is built but loglayer._render is not: "
                          "reinstall loglayer, or set LOGLAYER_NO_EXTENSIONS=1")
    render = _compiled_render
    COMPILED = True

#: Every kernel loaded in this process: the live one, and the pure twin, which the
#: renderers' reference code imports even when the compiled kernel is live. What the
#: assembly wires in (taps, ``from_config``) goes to each.
KERNELS: tuple[ModuleType, ...] = (core,) if core is _core_py else (core, _core_py)

if TYPE_CHECKING:  # the compiled API, as its stubs (_core.pyi, _render.pyi) describe it
    from ._core import (
        HookParams,
        LineSink,
        LogBuilder,
        LogEntry,
        LogLayer,
        PluginSet,
        Transport,
        allows,
        lazy,
        run_hooks,
    )
    from ._render import ConsoleFormat, JsonFormat, LineTransport
else:
    HookParams = core.HookParams
    LineSink = core.LineSink
    LogBuilder = core.LogBuilder
    LogEntry = core.LogEntry
    LogLayer = core.LogLayer
    PluginSet = core.PluginSet
    Transport = core.Transport
    allows = core.allows
    lazy = core.lazy
    run_hooks = core.run_hooks

    ConsoleFormat = render.ConsoleFormat
    JsonFormat = render.JsonFormat
    LineTransport = render.LineTransport

__all__ = [
    "COMPILED",
    "ConsoleFormat",
    "HookParams",
    "JsonFormat",
    "KERNELS",
    "LineSink",
    "LineTransport",
    "LogBuilder",
    "LogEntry",
    "LogLayer",
    "PluginSet",
    "Transport",
    "allows",
    "core",
    "lazy",
    "render",
    "run_hooks",
]
