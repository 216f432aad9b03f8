"""The optional plugin base class and adapters that turn one function into a plugin.

A plugin is any object with an ``id`` and zero or more of the hook methods named in
``HOOK_NAMES``. The core looks each hook up once, when the plugin is added, so the
adapters below store the user's function as an instance attribute: calling the hook
is then calling the function, with no wrapper frame in between.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .levels import LogLevel

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


def _adapter(helper: str, hook: str, id: Any, fn: Any) -> Plugin:
    if not isinstance(id, str) and callable(id):  # the function first: the id is missing
        if isinstance(fn, str):
            raise TypeError(f"{helper}() takes the id first, then the function: "
                            f"{helper}({fn!r}, {_name_of(id)})")
        raise TypeError(f"{helper}() needs an id first, then the function: "
                        f"{helper}('my-id', {_name_of(id)}); the id names the plugin, for "
                        f"remove_plugin(), get_plugin() and error reports")
    if fn is None:
        raise TypeError(f"{helper}() needs the function too: {helper}({id!r}, fn), "
                        f"where {hook} is fn")
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    plugin = Plugin(id)
    setattr(plugin, hook, fn)
    return plugin


def _name_of(fn: Any) -> str:
    return getattr(fn, "__name__", None) or "fn"


# The checkers see the helpers' real contract (an id, then the function); at run time
# ``fn`` may be missing, so that ``data_hook(fn)`` says the id is missing instead of
# "missing 1 required positional argument".
if TYPE_CHECKING:
    def fields_hook(id: str,
                    fn: Callable[[dict[str, Any]], Mapping[str, Any] | None]) -> Plugin:
        """A plugin whose ``on_fields_called`` is ``fn(fields)``."""

    def metadata_hook(id: str, fn: Callable[[Any], Any]) -> Plugin:
        """A plugin whose ``on_metadata_called`` is ``fn(metadata)``."""

    def data_hook(id: str, fn: Callable[[Any], Mapping[str, Any] | None]) -> Plugin:
        """A plugin whose ``on_before_data_out`` is ``fn(params)``."""

    def message_hook(id: str, fn: Callable[[Any], Sequence[Any] | None]) -> Plugin:
        """A plugin whose ``on_before_message_out`` is ``fn(params)``."""

    def level_hook(id: str, fn: Callable[[Any], LogLevel | int | str | None]) -> Plugin:
        """A plugin whose ``transform_log_level`` is ``fn(params)``."""

    def send_gate(id: str, fn: Callable[[Any], bool]) -> Plugin:
        """A plugin whose ``should_send`` is ``fn(params)``."""
else:
    def fields_hook(id, fn=None):
        """A plugin whose ``on_fields_called`` is ``fn(fields)``."""
        return _adapter("fields_hook", "on_fields_called", id, fn)

    def metadata_hook(id, fn=None):
        """A plugin whose ``on_metadata_called`` is ``fn(metadata)``."""
        return _adapter("metadata_hook", "on_metadata_called", id, fn)

    def data_hook(id, fn=None):
        """A plugin whose ``on_before_data_out`` is ``fn(params)``."""
        return _adapter("data_hook", "on_before_data_out", id, fn)

    def message_hook(id, fn=None):
        """A plugin whose ``on_before_message_out`` is ``fn(params)``."""
        return _adapter("message_hook", "on_before_message_out", id, fn)

    def level_hook(id, fn=None):
        """A plugin whose ``transform_log_level`` is ``fn(params)``."""
        return _adapter("level_hook", "transform_log_level", id, fn)

    def send_gate(id, fn=None):
        """A plugin whose ``should_send`` is ``fn(params)``."""
        return _adapter("send_gate", "should_send", id, fn)


def noop_plugin(id: str = "") -> Plugin:
    """A plugin with no hooks, for tests of plugin management."""
    return Plugin(id)
