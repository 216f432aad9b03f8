"""Types to annotate code that uses loglayer: what a transport and a plugin are, the
entry and the params they receive, the shapes of levels and hook functions.

    from loglayer.typing import HookParams, LogEntry, Transport

    class Printer:                      # no base class needed: a Transport is a shape
        def send(self, entry: LogEntry, /) -> None:
            print(entry.level.name, *entry.messages)

    def request_id(params: HookParams) -> dict[str, str]:
        return {"request_id": "r-1"}

**Required and optional members.** A logger calls ``send(entry)``; everything else it
reads from a transport with ``getattr`` and a default: an ``id`` (one is generated and
set when missing), ``enabled`` (true), ``level`` (no minimum), ``flush()`` and
``close()`` (nothing to do). A Protocol cannot mark members optional, so there are two:
:class:`Transport` asks for ``send`` alone and is what ``LogLayer(transports=...)``
accepts; :class:`FullTransport` adds the optional members with their types, for code
that calls them (or a transport that wants a checker to verify it has them).

A plugin is an object with an ``id`` and any of six hook methods, each optional and
looked up once, when the plugin is added. So :class:`Plugin` asks for ``id`` only: a
checker then rejects what is surely not a plugin (``add_plugin(42)``, a name, a bare
function) but cannot know which hooks a plugin means to have. To have a hook method's
signature checked, declare that the class implements the hook's protocol
(``class Tag(loglayer.Plugin, DataPlugin)``): a wrong signature is then an error in
the class. The ``*Hook`` aliases type the functions the ``loglayer.*_hook`` helpers take.

``HookParams`` and ``LogEntry`` are the live core's classes (compiled or pure), for
annotations and ``isinstance``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias, runtime_checkable

from .levels import LogLevel

if TYPE_CHECKING:
    from ._core import HookParams, LogEntry

__all__ = [
    "DataHook",
    "DataPlugin",
    "FieldsHook",
    "FieldsPlugin",
    "FullTransport",
    "HookParams",
    "LevelHook",
    "LevelLike",
    "LevelPlugin",
    "LogEntry",
    "MessageHook",
    "MessagePlugin",
    "MetadataHook",
    "MetadataPlugin",
    "Plugin",
    "SendGate",
    "SendGatePlugin",
    "Transport",
]

#: A level as loglayer takes it: a member, its number (``20``) or its name (``"info"``).
LevelLike: TypeAlias = LogLevel | int | str

#: ``on_fields_called(fields)``: new fields to merge, or None to drop the call.
FieldsHook: TypeAlias = Callable[[dict[str, Any]], Mapping[str, Any] | None]
#: ``on_metadata_called(metadata)``: the metadata to keep, or None to drop it.
MetadataHook: TypeAlias = Callable[[Any], Any]
#: ``on_before_data_out(params)``: items to merge into the entry's data, or None.
DataHook: TypeAlias = Callable[["HookParams"], Mapping[str, Any] | None]
#: ``on_before_message_out(params)``: the messages that replace the entry's, or None.
MessageHook: TypeAlias = Callable[["HookParams"], Sequence[Any] | None]
#: ``transform_log_level(params)``: the entry's new level, or None to keep it.
LevelHook: TypeAlias = Callable[["HookParams"], LevelLike | None]
#: ``should_send(params)``: whether the entry goes to ``params.transport_id``.
SendGate: TypeAlias = Callable[["HookParams"], bool]


@runtime_checkable
class Transport(Protocol):
    """What a logger needs of a transport: ``send(entry)``, called once per entry that
    passes the transport's level and gates. Its return value is ignored; what it raises
    goes to the logger's ``on_transport_error``."""

    def send(self, entry: LogEntry, /) -> object:
        """Deliver one entry; do not keep or change ``entry.data`` after returning."""
        ...


@runtime_checkable
class FullTransport(Transport, Protocol):
    """A transport with the members a logger uses when they are there, as loglayer's
    own transports (and ``loglayer.Transport`` subclasses) have them."""

    @property
    def id(self) -> str:
        """The transport's name in its logger (``remove_transport``, error reports)."""
        ...

    @property
    def enabled(self) -> bool:
        """False skips the transport; read at each entry."""
        ...

    @property
    def level(self) -> LevelLike | None:
        """The lowest level the transport takes, or None for all; read at each entry."""
        ...

    def flush(self) -> object:
        """Push out what is buffered (``LogLayer.flush()``, a FATAL entry)."""
        ...

    def close(self) -> object:
        """Release resources (``LogLayer.close()``)."""
        ...


@runtime_checkable
class Plugin(Protocol):
    """What ``add_plugin`` and ``plugins=`` take: an object with an ``id`` (an empty one
    is replaced by a generated one) and any of the six hooks, each optional; see the
    ``*Plugin`` protocols to have a hook's signature checked."""

    @property
    def id(self) -> str:
        """The plugin's name in its logger: a second plugin with the same id replaces it."""
        ...


class FieldsPlugin(Plugin, Protocol):
    """A plugin with ``on_fields_called``, run by ``with_fields``."""

    def on_fields_called(self, fields: dict[str, Any], /) -> Mapping[str, Any] | None:
        """The fields to merge (None drops the ``with_fields`` call)."""
        ...


class MetadataPlugin(Plugin, Protocol):
    """A plugin with ``on_metadata_called``, run by ``with_metadata``."""

    def on_metadata_called(self, metadata: Any, /) -> Any:
        """The metadata to keep (None drops it)."""
        ...


class DataPlugin(Plugin, Protocol):
    """A plugin with ``on_before_data_out``, run for each entry."""

    def on_before_data_out(self, params: HookParams, /) -> Mapping[str, Any] | None:
        """Items to merge into the entry's data, or None."""
        ...


class MessagePlugin(Plugin, Protocol):
    """A plugin with ``on_before_message_out``, run for each entry."""

    def on_before_message_out(self, params: HookParams, /) -> Sequence[Any] | None:
        """The messages that replace the entry's, or None."""
        ...


class LevelPlugin(Plugin, Protocol):
    """A plugin with ``transform_log_level``, run for each entry."""

    def transform_log_level(self, params: HookParams, /) -> LevelLike | None:
        """The entry's new level, or None to keep it."""
        ...


class SendGatePlugin(Plugin, Protocol):
    """A plugin with ``should_send``, asked per entry and transport."""

    def should_send(self, params: HookParams, /) -> bool:
        """Whether the entry goes to ``params.transport_id``."""
        ...


def __getattr__(name: str) -> Any:
    """``HookParams`` and ``LogEntry``: the live core's classes, looked up on first use
    (this module imports no core, so the kernels may name it in their annotations)."""
    if name in ("HookParams", "LogEntry"):
        from . import _select

        return getattr(_select, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
