"""Picks the compiled kernel and renderers, or their pure-Python twins.

The compiled modules (``loglayer._core``, ``loglayer._render``) are used on CPython
when they were built; the pure twins (``loglayer._core_py``, ``loglayer._render_py``)
when ``LOGLAYER_NO_EXTENSIONS`` is set to a non-empty value, on other interpreters, or
when the extensions were not built (see ``loglayer._native.compiled``).
"""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING

from ._native import compiled

core: ModuleType
render: ModuleType
_compiled_core = compiled("_core")
if _compiled_core is None:
    # The pure twins only here: with the compiled core live, they are imported when
    # the compiled renderers first need their reference code, if ever.
    from . import _core_py as core
    from . import _render_py as render

    COMPILED = False
else:
    core = _compiled_core
    _compiled_render = compiled("_render")
    if _compiled_render is None:
        raise ImportError("loglayer._core is built but loglayer._render is not: "
                          "reinstall loglayer, or set LOGLAYER_NO_EXTENSIONS=1")
    render = _compiled_render
    COMPILED = True

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
