"""The exceptions loglayer reports instead of raising into the caller."""

from __future__ import annotations

__all__ = ["LogLayerError", "PluginError", "TransportError"]


class LogLayerError(Exception):
    """Base class of the errors loglayer reports."""


class PluginError(LogLayerError):
    """A plugin hook raised (or a hosted plugin failed); ``__cause__`` is the original.

    It is handed to the plugin's ``on_error`` instead of reaching the log call.
    """

    def __init__(self, plugin_id: str, hook: str, message: str | None = None) -> None:
        self.plugin_id = plugin_id
        self.hook = hook
        super().__init__(message or f"plugin {plugin_id!r} failed in {hook}")

    def __reduce__(self) -> tuple[type[PluginError], tuple[str, str, str]]:
        # keep pickling working despite the custom __init__
        return (type(self), (self.plugin_id, self.hook, str(self)))


class TransportError(LogLayerError):
    """A transport failed to take an entry; ``__cause__`` is the original."""

    def __init__(self, transport_id: str, message: str | None = None) -> None:
        self.transport_id = transport_id
        super().__init__(message or f"transport {transport_id!r} failed")

    def __reduce__(self) -> tuple[type[TransportError], tuple[str, str]]:
        return (type(self), (self.transport_id, str(self)))
