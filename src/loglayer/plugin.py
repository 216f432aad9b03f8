"""The optional plugin base class and adapters that turn one function into a plugin.

A plugin is any object with an ``id`` and zero or more of the hook methods named in
``HOOK_NAMES``. The core looks each hook up once, when the plugin is added, so the
adapters below store the user's function as an instance attribute: calling the hook
is then calling the function, with no wrapper frame in between.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = [
    "HOOK_NAMES",
    "Plugin",
    "data_hook",
    "fields_hook",
    "level_hook",
    "message_hook",
    "metadata_hook",
    "noop_plugin",
    "send_gate",
]

#: The hook method names, in the order they fire for one entry.
HOOK_NAMES = (
    "on_fields_called",
    "on_metadata_called",
    "on_before_data_out",
    "on_before_message_out",
    "transform_log_level",
    "should_send",
)


class Plugin:
    """Optional base class for plugins: it carries the ``id``.

    Subclasses define any of the hook methods; a hook that is not defined costs
    nothing on that hook's path. An empty ``id`` is replaced by a generated one when
    the plugin is added to a logger.
    """

    id: str = ""

    def __init__(self, id: str = "") -> None:
        if not isinstance(id, str):
            raise TypeError(f"id must be a str, got {type(id).__name__}")
        self.id = id

    def __repr__(self) -> str:
        hooks = [name for name in HOOK_NAMES if hasattr(self, name)]
        return f"<{type(self).__name__} id={self.id!r} hooks={hooks}>"


def _adapter(hook: str, id: str, fn: Callable[..., Any]) -> Plugin:
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    plugin = Plugin(id)
    setattr(plugin, hook, fn)
    return plugin


def fields_hook(id: str, fn: Callable[[dict], dict | None]) -> Plugin:
    """A plugin whose ``on_fields_called`` is ``fn(fields)``."""
    return _adapter("on_fields_called", id, fn)


def metadata_hook(id: str, fn: Callable[[Any], Any]) -> Plugin:
    """A plugin whose ``on_metadata_called`` is ``fn(metadata)``."""
    return _adapter("on_metadata_called", id, fn)


def data_hook(id: str, fn: Callable[[Any], dict | None]) -> Plugin:
    """A plugin whose ``on_before_data_out`` is ``fn(params)``."""
    return _adapter("on_before_data_out", id, fn)


def message_hook(id: str, fn: Callable[[Any], list | None]) -> Plugin:
    """A plugin whose ``on_before_message_out`` is ``fn(params)``."""
    return _adapter("on_before_message_out", id, fn)


def level_hook(id: str, fn: Callable[[Any], Any]) -> Plugin:
    """A plugin whose ``transform_log_level`` is ``fn(params)``."""
    return _adapter("transform_log_level", id, fn)


def send_gate(id: str, fn: Callable[[Any], bool]) -> Plugin:
    """A plugin whose ``should_send`` is ``fn(params)``."""
    return _adapter("should_send", id, fn)


def noop_plugin(id: str = "") -> Plugin:
    """A plugin with no hooks, for tests of plugin management."""
    return Plugin(id)
