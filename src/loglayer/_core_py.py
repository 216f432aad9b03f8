"""The pure-Python twin of ``cext/_core.pyx``: one behaviour, two implementations.

It is selected when the extension is not built, on interpreters other than CPython,
or when ``LOGLAYER_NO_EXTENSIONS=1``. Every rule of the pipeline lives here in plain
Python first; the compiled core mirrors it with C types, and the same test suite runs
against both. Like the compiled kernel, it knows no transport, renderer, plugin or
configuration: ``run_hooks`` and ``allows`` are how the queue's worker and the gRPC
plugin SDK apply SPEC §4's rules, and the assembly layer wires in the default
transport, ``from_config`` and the taps.

Data flows one way: call site -> level check -> input hooks (at ``with_fields`` /
``with_metadata`` time) -> assembly -> dispatch hooks -> per transport: level, gates,
send. Plugin and transport sets are immutable snapshots; mutators build a new one
under a lock and swap the reference, so the emission path never locks.
"""

from __future__ import annotations

import contextvars
import inspect
import operator
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TextIO, cast

from ._callsite import caller_source, plumbing_files
from ._common import (
    MAX_DEFERRED,
    PluginRecord,
    as_message_list,
    context_fields,
    count_reentry,
    dropped_reentrant_entry,
    from_signal_handler,
    has_lazy,
    is_mapping,
    kernel_loaded,
    keywords_refused,
    lazy,
    merge_by_id,
    min_level_of,
    next_id,
    not_a_list,
    not_a_mapping,
    on_context_fields_enabled,
    plugin_failed,
    plugin_list,
    reentry_stats,
    resolve_lazy,
    serialize_error_safely,
    text_of,
    transport_failed,
    transport_list,
    transport_slot,
)
from ._family import LEVEL_MANAGERS, LevelNode
from ._routing import build_routing, check_group_names, empty_routing, merge_tags
from ._validate import (
    LOGGER_FIELD,
    check_bool,
    check_choice,
    check_int,
    check_key,
    check_level,
    check_mapping,
    named_fields,
)
from .errors import TransportError
from .levels import LogLevel

if TYPE_CHECKING:
    from .typing import LevelLike
    from .typing import Plugin as PluginLike
    from .typing import Transport as TransportLike

__all__ = [
    "HookParams",
    "LineSink",
    "LogBuilder",
    "LogEntry",
    "LogLayer",
    "PluginSet",
    "Transport",
    "allows",
    "lazy",
    "run_hooks",
]

# Level number -> bit in the level bitmap. TRACE (5) is bit 0, DEBUG..FATAL bits 1..5.
_ALL_LEVELS = 0b111111


def _bit(level: int) -> int:
    return 1 << (level // 10)


def _mask_from(level: int) -> int:
    """The bitmap with ``level`` and every level above it enabled."""
    return _ALL_LEVELS & ~(_bit(level) - 1)


_mutation_lock = threading.RLock()
# The level changes (LogLayer._change_levels).
_SET_LEVELS, _ENABLE_LEVELS, _DISABLE_LEVELS, _LOGGING_ON, _LOGGING_OFF = range(5)
_IDLE = 0
_DISPATCHING = 1
_DELIVERING = 2  # the entries deferred during an emission, right after it


class _DispatchState(threading.local):
    """Per thread: whether an entry is being dispatched (``mode``), and the entries
    signal handlers logged meanwhile (``deferred``: (logger, the ``_dispatch``
    arguments, the context) tuples, or an empty tuple)."""

    mode = _IDLE
    deferred: list | tuple = ()


_dispatch_state = _DispatchState()
_context_on = False


def _turn_context_fields_on() -> None:
    global _context_on
    _context_on = True


on_context_fields_enabled(_turn_context_fields_on)


# -- what the assembly layer wires in ----------------------------------------------------

_default_transport_factory = None
_config_builder = None
_taps: tuple = ()


def _set_default_transport_factory(factory) -> None:
    """Tell the kernel what ``LogLayer()`` with no transports uses (a callable)."""
    global _default_transport_factory
    _default_transport_factory = factory


def _set_config_builder(builder) -> None:
    """Tell the kernel what ``LogLayer.from_config`` calls."""
    global _config_builder
    _config_builder = builder


def _set_taps(taps) -> None:
    """Transports (a tuple) that receive every entry any logger of this core emits."""
    global _taps
    _taps = tuple(taps)


def _messages_only(method: Callable[..., None]) -> Callable[..., None]:
    """Show a level method as ``(self, *messages)``: its ``**refused`` is there only to
    answer keyword arguments with where they go (``keywords_refused``), as the compiled
    core's methods do, not to take any."""
    signature = inspect.signature(method)
    method.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[p for p in signature.parameters.values() if p.kind is not p.VAR_KEYWORD])
    return method


class Transport:
    """Convenient base class for transports.

    Subclasses implement ``send(entry)``; ``flush()`` and ``close()`` are no-ops
    here. ``enabled`` and ``level`` are read at every emission, so they may be
    changed at run time. An empty ``id`` is replaced by a generated one.
    """

    def __init__(self, id: str = "", *, level: LevelLike | None = None,
                 enabled: bool = True) -> None:
        if not isinstance(id, str):
            raise TypeError(f"id must be a str, got {type(id).__name__}")
        if not isinstance(enabled, bool):
            raise TypeError(f"enabled must be a bool, got {type(enabled).__name__}")
        self.id = id or f"transport-{next_id()}"
        self.enabled = enabled
        self.level = level

    @property
    def level(self) -> LogLevel | None:
        """The minimum level this transport takes, or None for no minimum."""
        return self._level

    @level.setter
    def level(self, value: LevelLike | None) -> None:
        self._level = None if value is None else LogLevel.parse(value)

    def send(self, entry: LogEntry) -> None:
        """Deliver one entry; subclasses implement it."""
        raise NotImplementedError(f"{type(self).__name__} must implement send(entry)")

    def flush(self) -> None:
        """Push out anything buffered. The base class buffers nothing."""

    def close(self) -> None:
        """Release resources. The base class holds none."""

    def get_logger_instance(self) -> Any:
        """The underlying library object; the base class returns the transport itself."""
        return self

    def __repr__(self) -> str:
        return f"<{type(self).__name__} id={self.id!r}>"


class LineSink(Transport):
    """Base of the transports that write one rendered line per entry.

    A subclass sets ``_format`` (the object whose rendering transports may share) and
    implements ``_render(entry)`` and ``_write_line(line)``. When it does not override
    ``send`` or ``write_line``, the kernel calls those two itself: one rendering per
    format per entry.
    """

    _format: Any = None

    def _render(self, entry) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement _render")

    def _write_line(self, line) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement _write_line")

    def send(self, entry) -> None:
        """Render the entry and write the line (``write_line``)."""
        self.write_line(self._render(entry))

    def write_line(self, line) -> None:
        """Write one rendered line, converted to what the stream takes."""
        self._write_line(line)


class LogEntry:
    """What a transport receives: one log event, never reused after ``send`` returns.

    Transports must not mutate ``data``: the same dict goes to every transport.
    ``error_key`` is the logger's: the key of ``data`` that holds the serialized error.
    ``source`` is the call site (``{"file", "line", "function"}``) when the logger
    captures it (``source=True``), else None; ``groups`` the entry's group tags.
    """

    __slots__ = (
        "level",
        "messages",
        "data",
        "metadata",
        "error",
        "fields",
        "ctx",
        "prefix",
        "time_ns",
        "metadata_key",
        "error_key",
        "source",
        "groups",
    )

    def __init__(self, level, messages, data, metadata, error, fields, ctx, prefix, time_ns,
                 metadata_key, error_key="err", source=None, groups=()) -> None:
        self.level = level
        self.messages = messages
        self.data = data
        self.metadata = metadata
        self.error = error
        self.fields = fields
        self.ctx = ctx
        self.prefix = prefix
        self.time_ns = time_ns
        self.metadata_key = metadata_key
        self.error_key = error_key
        self.source = source
        self.groups = groups if type(groups) is tuple else tuple(groups)

    def __repr__(self) -> str:
        return (f"LogEntry(level={self.level!r}, messages={self.messages!r}, "
                f"data={self.data!r}, metadata={self.metadata!r}, error={self.error!r})")


class HookParams:
    """What the dispatch hooks receive. Valid only during the hook call.

    ``transport_id`` is set for ``should_send`` only. A data, message or level hook may
    set ``prefix``: the entry carries the prefix it set (redact censors it that way).
    ``groups`` are the entry's group tags (a tuple).
    """

    __slots__ = ("level", "messages", "data", "metadata", "error", "fields", "ctx", "prefix",
                 "groups", "transport_id")

    def __init__(self, level, messages, data, metadata, error, fields, ctx, prefix,
                 groups=()) -> None:
        self.level = level
        self.messages = messages
        self.data = data
        self.metadata = metadata
        self.error = error
        self.fields = fields
        self.ctx = ctx
        self.prefix = prefix
        self.groups = groups if type(groups) is tuple else tuple(groups)
        self.transport_id = None

    def __repr__(self) -> str:
        return (f"HookParams(level={self.level!r}, messages={self.messages!r}, "
                f"data={self.data!r}, transport_id={self.transport_id!r})")


class PluginSet:
    """An immutable snapshot of plugins, indexed per hook: a logger's, or the one a
    queue or a served plugin runs with ``run_hooks`` and ``allows``.

    ``PluginSet(plugins)`` looks each plugin's hooks up once; ``on_error``, when given,
    receives every hook failure instead of the plugins' own ``on_error``.
    """

    # Per hook, a tuple of (function, plugin id, on_error).
    __slots__ = ("records", "fields", "metadata", "data", "message", "level", "send",
                 "has_dispatch")

    def __init__(self, plugins=(), *, on_error=None) -> None:
        if on_error is not None and not callable(on_error):
            raise TypeError(f"on_error must be callable or None, got {type(on_error).__name__}")
        records = [PluginRecord(p, on_error) for p in plugin_list(plugins)]
        self._index(merge_by_id((), records, _record_id))

    @classmethod
    def _of(cls, records: tuple) -> PluginSet:
        plugins = cls.__new__(cls)
        plugins._index(records)
        return plugins

    def _index(self, records: tuple) -> None:
        self.records = records

        def slot(name):
            return tuple((r.hooks[name], r.id, r.on_error) for r in records if name in r.hooks)

        self.fields = slot("on_fields_called")
        self.metadata = slot("on_metadata_called")
        self.data = slot("on_before_data_out")
        self.message = slot("on_before_message_out")
        self.level = slot("transform_log_level")
        self.send = slot("should_send")
        self.has_dispatch = bool(self.data or self.message or self.level or self.send)

    def __len__(self) -> int:
        return len(self.records)

    @property
    def hooks(self) -> frozenset[str]:
        """The names of the hooks that at least one plugin of the set has."""
        return frozenset(name for name, slot in (
            ("on_fields_called", self.fields), ("on_metadata_called", self.metadata),
            ("on_before_data_out", self.data), ("on_before_message_out", self.message),
            ("transform_log_level", self.level), ("should_send", self.send)) if slot)

    def __repr__(self) -> str:
        return f"PluginSet({[record.id for record in self.records]!r})"


# -- SPEC §4: the dispatch hooks and the gates, for the logger and for run_hooks -------


def run_hooks(plugins: PluginSet, params: HookParams, data_owned: bool = False) -> None:
    """Run ``plugins``' data, message and level hooks over one entry, in place.

    ``params`` carries the entry and is updated as the hooks run: data hook results
    merge into ``params.data`` (into a copy unless ``data_owned``), a message hook's
    list replaces ``params.messages``, the last level hook that answers sets
    ``params.level``. A failing hook is reported (``PluginError``) and its fallback
    applies, exactly as when a logger dispatches.
    """
    if plugins.data:
        data = params.data
        if type(data) is not dict:
            data = dict(data)
            data_owned = True
        for fn, pid, on_error in plugins.data:
            params.data = data
            try:
                result = fn(params)
            except Exception as exc:
                plugin_failed("on_before_data_out", pid, on_error, exc)
                continue
            if result is None:
                continue
            if type(result) is not dict:
                if not is_mapping(result):
                    plugin_failed("on_before_data_out", pid, on_error, not_a_mapping(result))
                    continue
                try:  # another Mapping: read it once, here, where a failure is the hook's
                    result = dict(result)
                except Exception as exc:
                    plugin_failed("on_before_data_out", pid, on_error, exc)
                    continue
            if not data_owned:
                if not data and type(result) is dict:
                    data = result  # the common "add a field" hook: nothing to merge into
                    continue
                data = dict(data)
                data_owned = True
            data.update(result)
        params.data = data
    for fn, pid, on_error in plugins.message:
        try:
            result = fn(params)
        except Exception as exc:
            plugin_failed("on_before_message_out", pid, on_error, exc)
            continue
        if result is None:
            continue
        if not issubclass(type(result), (list, tuple)):  # by type: see is_mapping
            plugin_failed("on_before_message_out", pid, on_error, not_a_list(result))
            continue
        try:
            params.messages = list(result)
        except Exception as exc:  # a list or tuple subclass whose iteration fails
            plugin_failed("on_before_message_out", pid, on_error, exc)
    for fn, pid, on_error in plugins.level:
        try:
            result = fn(params)
        except Exception as exc:
            plugin_failed("transform_log_level", pid, on_error, exc)
            continue
        if result is None:
            continue
        try:
            params.level = LogLevel.parse(result)
        except Exception as exc:  # not a level (or an object whose comparison raises)
            plugin_failed("transform_log_level", pid, on_error, exc)


def allows(plugins: PluginSet, params: HookParams, transport_id) -> bool:
    """Whether every gate of ``plugins`` lets the entry in ``params`` go to
    ``transport_id``; a failing gate lets it through (and is reported)."""
    params.transport_id = transport_id
    for fn, pid, on_error in plugins.send:
        try:
            if not fn(params):
                return False
        except Exception as exc:  # fail open
            plugin_failed("should_send", pid, on_error, exc)
    return True


_record_id = operator.attrgetter("id")
_slot_id = operator.itemgetter(1)


def _slot(transport, where: str = "") -> tuple:
    """(transport, id, send, line): ``line`` is the transport when it is a ``LineSink``
    that overrides neither ``send`` nor ``write_line``, so the dispatcher can share one
    rendering between transports of the same format."""
    transport, tid, send = transport_slot(transport, where)
    cls = type(transport)
    line = transport if (isinstance(transport, LineSink)
                         and cls.send is LineSink.send
                         and cls.write_line is LineSink.write_line) else None
    return (transport, tid, send, line)


class _Config:
    """Settings fixed at construction and shared by every derived logger."""

    __slots__ = ("fields_key", "metadata_key", "error_key", "error_serializer",
                 "copy_msg_on_only_error", "on_transport_error", "source_key")
    fields_key: str | None
    metadata_key: str | None
    error_key: str
    error_serializer: Callable[[BaseException], Any] | None
    copy_msg_on_only_error: bool
    on_transport_error: Callable[[TransportError], Any] | None
    source_key: str | None  # None: no call-site capture


def _run_metadata_hooks(hooks: tuple, metadata):
    """Chain the metadata hooks; None means the metadata was dropped."""
    for fn, pid, on_error in hooks:
        try:
            metadata = fn(metadata)
        except Exception as exc:
            plugin_failed("on_metadata_called", pid, on_error, exc)
            return None
        if metadata is None:
            return None
    return metadata


class LogLayer:
    """A structured logger: fields, metadata and errors through plugins to transports.

    Fluent methods (``with_fields``, ``child``, ``with_prefix``, ``with_context``)
    return a new logger and leave the receiver unchanged; mutators (levels, mutes,
    plugins, transports) change only the receiver, except that a level change also
    reaches the loggers ``level_manager`` ties it to ("global", "one_way", "linked";
    see ``loglayer._family``). Plugin and transport sets are shared copy-on-write
    between a logger and the loggers derived from it.
    """

    __slots__ = ("_config", "_levels", "_enabled", "_active", "_mute_fields", "_mute_metadata",
                 "_prefix", "_fields", "_has_lazy", "_ctx", "_plugins", "_transports",
                 "_depth", "_levelnode", "_groups", "_routing", "__weakref__")

    def __init__(self, transports: TransportLike | Sequence[TransportLike] | None = None,
                 plugins: Iterable[PluginLike] = (), level: LevelLike = LogLevel.TRACE,
                 enabled: bool = True, prefix: str | None = None,
                 fields: Mapping[str, object] | None = None, fields_key: str | None = None,
                 metadata_key: str | None = None, error_key: str = "err",
                 error_serializer: Callable[[BaseException], Any] | None = None,
                 copy_msg_on_only_error: bool = False, mute_fields: bool = False,
                 mute_metadata: bool = False,
                 on_transport_error: Callable[[TransportError], Any] | None = None,
                 source: bool = False, source_key: str = "source",
                 level_manager: str = "copy", groups: Mapping[str, Any] | None = None,
                 active_groups: Iterable[str] | None = None,
                 ungrouped: str | Sequence[str] = "all", name: str | None = None) -> None:
        # Validate everything before building anything.
        config = _Config()
        config.fields_key = check_key("fields_key", fields_key)
        config.metadata_key = check_key("metadata_key", metadata_key)
        config.error_key = check_key("error_key", error_key, allow_none=False)
        if error_serializer is not None and not callable(error_serializer):
            raise TypeError("error_serializer must be callable or None, "
                            f"got {type(error_serializer).__name__}")
        config.error_serializer = error_serializer
        config.copy_msg_on_only_error = check_bool("copy_msg_on_only_error",
                                                    copy_msg_on_only_error)
        if on_transport_error is not None and not callable(on_transport_error):
            raise TypeError("on_transport_error must be callable or None, "
                            f"got {type(on_transport_error).__name__}")
        config.on_transport_error = on_transport_error
        source_key = check_key("source_key", source_key, allow_none=False)
        config.source_key = source_key if check_bool("source", source) else None
        if source:
            plumbing_files()  # built now, not at the first entry
        level_manager = check_choice("level_manager", level_manager, LEVEL_MANAGERS)
        routing = build_routing(groups, active_groups, ungrouped)
        level_value = check_level("level", level)
        enabled = check_bool("enabled", enabled)
        mute_fields = check_bool("mute_fields", mute_fields)
        mute_metadata = check_bool("mute_metadata", mute_metadata)
        if prefix is not None and not isinstance(prefix, str):
            raise TypeError(f"prefix must be a str or None, got {type(prefix).__name__}")
        field_map = named_fields(name, {} if fields is None
                                 else check_mapping("fields", fields))
        records = [PluginRecord(p) for p in plugin_list(plugins)]
        if transports is None:  # the default: what the assembly set (a console)
            if _default_transport_factory is None:
                raise ValueError("transports: no default transport is available; pass one")
            transport_items = [_default_transport_factory()]
        else:
            transport_items = transport_list("transports", transports)
        slots = [_slot(t) for t in transport_items]

        self._config = config
        self._levels = _mask_from(level_value)
        self._enabled = enabled
        self._active = self._levels if enabled else 0
        self._mute_fields = mute_fields
        self._mute_metadata = mute_metadata
        self._prefix = prefix
        self._fields = field_map
        self._has_lazy = has_lazy(field_map)
        self._ctx: object = None
        self._depth = 0
        self._plugins = PluginSet._of(merge_by_id((), records, _record_id))
        self._transports = merge_by_id((), slots, _slot_id)
        # None with level_manager="copy"; else this logger's place in its family
        # (loglayer._family): level changes are written into every logger they reach,
        # so the emission path reads _active alone whatever the manager.
        self._levelnode = None if level_manager == "copy" else LevelNode(level_manager, self)
        self._groups: tuple[str, ...] = ()
        # a loglayer._routing.Routing, shared copy-on-write; None: nothing to route
        self._routing = routing

    def __repr__(self) -> str:
        return (f"<LogLayer levels={self._levels:#08b} enabled={self._enabled} "
                f"plugins={len(self._plugins.records)} transports={len(self._transports)}>")

    @staticmethod
    def from_config(config: Mapping[str, Any]) -> LogLayer:
        """A new logger built from plain data: ``loglayer.from_config(config)``."""
        if _config_builder is None:
            raise RuntimeError("from_config: import loglayer to build loggers from data")
        return _config_builder(config)

    @staticmethod
    def reentry_stats() -> dict[str, int]:
        """How many log calls made while their own thread was dispatching an entry were
        ``dropped`` (a hook or transport logged, SPEC §4) or ``deferred`` until that
        emission returned (a signal handler logged), in this process, by either core."""
        return reentry_stats()

    # -- derived loggers -------------------------------------------------------------

    def _derive(self) -> LogLayer:
        new = object.__new__(type(self))
        new._config = self._config
        new._levels = self._levels
        new._enabled = self._enabled
        new._active = self._active
        new._mute_fields = self._mute_fields
        new._mute_metadata = self._mute_metadata
        new._prefix = self._prefix
        new._fields = self._fields
        new._has_lazy = self._has_lazy
        new._ctx = self._ctx
        new._plugins = self._plugins
        new._transports = self._transports
        new._depth = self._depth
        new._groups = self._groups
        new._routing = self._routing
        node = self._levelnode
        new._levelnode = None
        if node is not None:
            # the family's current state and the node together, under its lock, so no
            # change made meanwhile is missed
            with node.lock:
                new._levels = self._levels
                new._enabled = self._enabled
                new._active = self._active
                new._levelnode = node.derive(new)
        return new

    def child(self) -> LogLayer:
        """A new logger with the same state, sharing plugins and transports copy-on-write."""
        return self._derive()

    def with_prefix(self, prefix: str | None) -> LogLayer:
        """A new logger whose prefix is ``prefix`` (replacing any prefix)."""
        if prefix is not None and not isinstance(prefix, str):
            raise TypeError(f"prefix must be a str or None, got {type(prefix).__name__}")
        new = self._derive()
        new._prefix = prefix
        return new

    def with_context(self, ctx: object) -> LogLayer:
        """A new logger bound to a request context; dispatch hooks see it as ``ctx``."""
        new = self._derive()
        new._ctx = ctx
        return new

    def with_fields(self, mapping: Mapping[str, object] | None = None, /,
                    **fields: object) -> LogLayer:
        """A new logger with these fields merged over the current ones.

        The fields hooks see the new fields first; one returning None drops the call
        (the new logger keeps the existing fields).
        """
        new_fields: Mapping
        if mapping is not None:
            if not isinstance(mapping, Mapping):
                raise TypeError(f"with_fields() needs a mapping, got {type(mapping).__name__}")
            if fields:
                copied = dict(mapping)
                copied.update(fields)
                new_fields = copied
            else:
                new_fields = mapping
        else:
            new_fields = fields
        hooks = self._plugins.fields
        if hooks:
            for fn, pid, on_error in hooks:
                try:
                    result = fn(new_fields)
                except Exception as exc:
                    plugin_failed("on_fields_called", pid, on_error, exc)
                    return self._derive()
                if result is None:
                    return self._derive()
                if type(result) is not dict:
                    if not is_mapping(result):
                        plugin_failed("on_fields_called", pid, on_error,
                                      not_a_mapping(result))
                        return self._derive()
                    try:  # read it once, here, where a failure is the hook's
                        result = dict(result)
                    except Exception as exc:
                        plugin_failed("on_fields_called", pid, on_error, exc)
                        return self._derive()
                new_fields = result
        new = self._derive()
        if new_fields:
            merged = dict(self._fields)
            merged.update(new_fields)
            new._fields = merged
            new._has_lazy = self._has_lazy or has_lazy(new_fields)
        return new

    def with_stacklevel(self, n: int) -> LogLayer:
        """A new logger whose entries' source is ``n`` more frames out from the call.

        For a helper that logs on its callers' behalf: ``log.with_stacklevel(1)`` inside
        it reports the line that called the helper. Levels add up along derivations.
        Only loggers made with ``source=True`` capture a source.
        """
        n = check_int("with_stacklevel() n", n, minimum=0)
        new = self._derive()
        new._depth = self._depth + n
        return new

    def with_group(self, *names: str) -> LogLayer:
        """A new logger whose entries are also tagged with these groups (see
        ``loglayer._routing`` for where tagged entries go)."""
        new = self._derive()
        new._groups = merge_tags(self._groups, check_group_names("with_group()", names))
        return new

    def without_fields(self, *keys: str) -> LogLayer:
        """A new logger without the named fields (without any when no key is given)."""
        new = self._derive()
        if keys:
            drop = set(keys)
            new._fields = {k: v for k, v in self._fields.items() if k not in drop}
        else:
            new._fields = {}
        new._has_lazy = has_lazy(new._fields)
        return new

    def get_fields(self) -> dict[str, Any]:
        """A shallow copy of the persistent fields."""
        return dict(self._fields)

    @property
    def name(self) -> str | None:
        """The logger's name: its ``logger`` field (``LogLayer(name=...)``), if a str."""
        value = self._fields.get(LOGGER_FIELD)
        return value if type(value) is str else None

    # -- levels and mutes ----------------------------------------------------------

    # Each level mutator changes this logger, and the loggers its level_manager says
    # the change reaches (loglayer._family).

    def set_level(self, level: LevelLike) -> None:
        """Enable ``level`` and every level above it; disable those below."""
        self._change_levels(_SET_LEVELS, _mask_from(LogLevel.parse(level)))

    def enable_level(self, level: LevelLike) -> None:
        """Enable ``level`` alone; the other levels keep their state."""
        self._change_levels(_ENABLE_LEVELS, _bit(LogLevel.parse(level)))

    def disable_level(self, level: LevelLike) -> None:
        """Disable ``level`` alone; the other levels keep their state."""
        self._change_levels(_DISABLE_LEVELS, _bit(LogLevel.parse(level)))

    def enable_logging(self) -> None:
        """Turn the master switch on; the per-level state is kept as it was."""
        self._change_levels(_LOGGING_ON, 0)

    def disable_logging(self) -> None:
        """Turn the master switch off; the per-level state is kept."""
        self._change_levels(_LOGGING_OFF, 0)

    def _apply_levels(self, change: int, bits: int) -> None:
        if change == _SET_LEVELS:
            self._levels = bits
        elif change == _ENABLE_LEVELS:
            self._levels |= bits
        elif change == _DISABLE_LEVELS:
            self._levels &= ~bits
        else:
            self._enabled = change == _LOGGING_ON
        self._active = self._levels if self._enabled else 0

    def _change_levels(self, change: int, bits: int) -> None:
        """Apply one level change here and to every logger it reaches, under the
        family's lock; readers never lock."""
        node = self._levelnode
        if node is None:
            self._apply_levels(change, bits)
            return
        with node.lock:
            for target in node.reached():
                target._apply_levels(change, bits)

    def is_level_enabled(self, level: LevelLike) -> bool:
        """True when logging is enabled and ``level`` is."""
        return bool(self._active & _bit(LogLevel.parse(level)))

    def mute_fields(self) -> None:
        """Leave the persistent fields out of entries until ``unmute_fields()``."""
        self._mute_fields = True

    def unmute_fields(self) -> None:
        """Put the persistent fields back into entries."""
        self._mute_fields = False

    def mute_metadata(self) -> None:
        """Drop metadata from entries until ``unmute_metadata()``."""
        self._mute_metadata = True

    def unmute_metadata(self) -> None:
        """Keep metadata in entries again."""
        self._mute_metadata = False

    # -- plugins and transports ----------------------------------------------------

    def add_plugin(self, *plugins: PluginLike) -> None:
        """Add plugins, run after the current ones; one whose ID is present replaces it."""
        records = [PluginRecord(p) for p in plugins]
        with _mutation_lock:
            self._plugins = PluginSet._of(merge_by_id(self._plugins.records, records, _record_id))

    def remove_plugin(self, id: str) -> bool:
        """Remove the plugin with this ID; False when there was none."""
        with _mutation_lock:
            current = self._plugins.records
            kept = tuple(r for r in current if r.id != id)
            if len(kept) == len(current):
                return False
            self._plugins = PluginSet._of(kept)
            return True

    def get_plugin(self, id: str) -> PluginLike | None:
        """The plugin with this ID, or None."""
        for record in self._plugins.records:
            if record.id == id:
                return record.plugin
        return None

    def plugin_count(self) -> int:
        """How many plugins this logger runs."""
        return len(self._plugins.records)

    def plugin_ids(self) -> list[str]:
        """The IDs of the plugins, in the order they run."""
        return [record.id for record in self._plugins.records]

    def add_transport(self, *transports: TransportLike) -> None:
        """Add transports; one whose ID is present replaces it (and is not closed)."""
        slots = [_slot(t, "add_transport()") for t in transports]
        with _mutation_lock:
            self._transports = merge_by_id(self._transports, slots, _slot_id)

    def remove_transport(self, id: str) -> bool:
        """Remove the transport with this ID (not closed); False when there was none."""
        with _mutation_lock:
            kept = tuple(s for s in self._transports if s[1] != id)
            if len(kept) == len(self._transports):
                return False
            self._transports = kept
            return True

    def set_transports(self, *transports: TransportLike) -> None:
        """Replace the whole transport set (the old transports are not closed)."""
        slots = [_slot(t, "set_transports()") for t in transports]
        with _mutation_lock:
            self._transports = merge_by_id((), slots, _slot_id)

    # -- groups: copy-on-write, as plugins are (loglayer._routing) ------------------

    def add_group(self, name: str, transports: Sequence[str], *,
                  level: LevelLike | None = None, enabled: bool = True) -> None:
        """Define (or replace) the group ``name``: the transport IDs it routes to, the
        minimum level of its entries, and whether it is on."""
        with _mutation_lock:
            current = empty_routing() if self._routing is None else self._routing
            self._routing = current.adding(name, transports, level, enabled)

    def remove_group(self, name: str) -> bool:
        """Forget the group ``name``; False when there was none."""
        return self._route_change("removing", name)

    def enable_group(self, name: str) -> bool:
        """Turn the group ``name`` on; False when there is none."""
        return self._route_change("changing", name, enabled=True)

    def disable_group(self, name: str) -> bool:
        """Turn the group ``name`` off; False when there is none."""
        return self._route_change("changing", name, enabled=False)

    def set_group_level(self, name: str, level: LevelLike | None) -> bool:
        """Set the minimum level of the group ``name`` (None: no minimum); False when
        there is none."""
        if level is not None:
            level = check_level("set_group_level() level", level)
        return self._route_change("changing", name, level=level)

    def set_active_groups(self, names: Iterable[str] | None) -> None:
        """Route only through these groups (None: through every group)."""
        with _mutation_lock:
            current = empty_routing() if self._routing is None else self._routing
            self._routing = current.activating(names)

    def get_groups(self) -> dict[str, dict[str, Any]]:
        """The groups, ``{name: {"transports": [...], "level": ..., "enabled": ...}}``."""
        return {} if self._routing is None else self._routing.describe()

    def _route_change(self, how: str, name: str, **changes: Any) -> bool:
        with _mutation_lock:
            if self._routing is None:
                return False
            changed = getattr(self._routing, how)(name, **changes)
            if changed is None:
                return False
            self._routing = changed
            return True

    def get_logger_instance(self, id: str) -> Any:
        """The transport's underlying logger (``get_logger_instance()``), or None."""
        for transport, tid, _, _ in self._transports:
            if tid == id:
                getter = getattr(transport, "get_logger_instance", None)
                return getter() if callable(getter) else transport
        return None

    def flush(self) -> None:
        """Flush every current transport; failures go to ``on_transport_error``."""
        for transport, tid, _, _ in self._transports:
            try:  # looking flush up may fail too (a property)
                flush = getattr(transport, "flush", None)
                if callable(flush):
                    flush()
            except Exception as exc:
                transport_failed(self._config.on_transport_error, tid, exc)

    def close(self) -> None:
        """Close every current transport; failures go to ``on_transport_error``."""
        for transport, tid, _, _ in self._transports:
            try:  # looking close up may fail too (a property)
                close = getattr(transport, "close", None)
                if callable(close):
                    close()
            except Exception as exc:
                transport_failed(self._config.on_transport_error, tid, exc)

    def __enter__(self) -> LogLayer:
        """The logger itself, for ``with LogLayer(...) as log:``."""
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Close the transports (``close()``) at the end of the ``with`` block."""
        self.close()

    def writer(self, level: LevelLike = LogLevel.INFO) -> TextIO:
        """A write-only text file that logs each line written to it at ``level``.

        For ``print(file=...)``, ``contextlib.redirect_stdout`` or a thread copying a
        subprocess's output: one entry per line, a partial line kept until its newline
        or ``flush()``, blank lines skipped. Closing it leaves the logger open.
        """
        from ._writer import LogWriter

        return cast("TextIO", LogWriter(self, level))

    # -- emission ------------------------------------------------------------------

    @_messages_only
    def trace(self, *messages: object, **refused: object) -> None:
        """Log the messages at TRACE."""
        if refused:
            raise keywords_refused("trace", refused)
        if self._active & 0b1:
            self._emit(LogLevel.TRACE, messages, None, None, self._ctx)

    @_messages_only
    def debug(self, *messages: object, **refused: object) -> None:
        """Log the messages at DEBUG."""
        if refused:
            raise keywords_refused("debug", refused)
        if self._active & 0b10:
            self._emit(LogLevel.DEBUG, messages, None, None, self._ctx)

    @_messages_only
    def info(self, *messages: object, **refused: object) -> None:
        """Log the messages at INFO."""
        if refused:
            raise keywords_refused("info", refused)
        if self._active & 0b100:
            self._emit(LogLevel.INFO, messages, None, None, self._ctx)

    @_messages_only
    def warn(self, *messages: object, **refused: object) -> None:
        """Log the messages at WARN."""
        if refused:
            raise keywords_refused("warn", refused)
        if self._active & 0b1000:
            self._emit(LogLevel.WARN, messages, None, None, self._ctx)

    warning = warn

    @_messages_only
    def error(self, *messages: object, **refused: object) -> None:
        """Log the messages at ERROR."""
        if refused:
            raise keywords_refused("error", refused)
        if self._active & 0b10000:
            self._emit(LogLevel.ERROR, messages, None, None, self._ctx)

    @_messages_only
    def fatal(self, *messages: object, **refused: object) -> None:
        """Log at FATAL and flush the transports. It never exits the process."""
        if refused:
            raise keywords_refused("fatal", refused)
        if self._active & 0b100000 and not self._emit(LogLevel.FATAL, messages, None, None,
                                                      self._ctx):
            self.flush()

    @_messages_only
    def exception(self, *messages: object, **refused: object) -> None:
        """Inside ``except``: log the exception being handled at ERROR."""
        if refused:
            raise keywords_refused("exception", refused)
        if self._active & 0b10000:
            self._emit(LogLevel.ERROR, messages, None, sys.exc_info()[1], self._ctx)

    def with_metadata(self, metadata: object) -> LogBuilder:
        """A builder carrying ``metadata`` (any object) for one entry."""
        return LogBuilder(self).with_metadata(metadata)

    def with_error(self, error: BaseException | None) -> LogBuilder:
        """A builder carrying ``error`` for one entry."""
        return LogBuilder(self).with_error(error)

    def error_only(self, error: BaseException, *, level: LevelLike = LogLevel.ERROR,
                   copy_msg: bool | None = None) -> None:
        """Log just an error; with ``copy_msg`` its ``str()`` becomes the message."""
        if not isinstance(error, BaseException):
            raise TypeError(f"error must be an exception, got {type(error).__name__}")
        level = LogLevel.parse(level)
        if not self._active & _bit(level):
            return
        if copy_msg is None:
            copy_msg = self._config.copy_msg_on_only_error
        messages: tuple[str, ...]
        if copy_msg:
            try:
                messages = (str(error),)
            except Exception:
                messages = (f"<{type(error).__name__}: str() failed>",)
        else:
            messages = ()
        self._emit(level, messages, None, error, self._ctx)

    def metadata_only(self, metadata: object, level: LevelLike = LogLevel.INFO) -> None:
        """Log just metadata; nothing is sent when metadata is muted or a hook drops it."""
        level = LogLevel.parse(level)
        if not self._active & _bit(level) or self._mute_metadata or metadata is None:
            return
        hooks = self._plugins.metadata
        if hooks:
            metadata = _run_metadata_hooks(hooks, metadata)
            if metadata is None:
                return
        self._emit(level, (), metadata, None, self._ctx)

    def raw(self, level: LevelLike, messages: Sequence[object] | object, *,
            metadata: object = None, error: BaseException | None = None,
            fields: Mapping[str, object] | None = None, ctx: object = None) -> None:
        """Emit with full control, through the whole pipeline.

        Metadata hooks run; fields hooks do not. ``fields`` replaces the logger's
        fields for this entry; ``ctx`` (when not None) replaces its context.
        """
        level = LogLevel.parse(level)
        if error is not None and not isinstance(error, BaseException):
            raise TypeError(f"error must be an exception or None, got {type(error).__name__}")
        if fields is not None:
            fields = check_mapping("fields", fields)
        if not self._active & _bit(level):
            return
        if metadata is not None:
            if self._mute_metadata:
                metadata = None
            elif self._plugins.metadata:
                metadata = _run_metadata_hooks(self._plugins.metadata, metadata)
        self._emit(level, as_message_list(messages), metadata, error,
                   self._ctx if ctx is None else ctx, fields)

    def _emit(self, level, messages, metadata, error, ctx, fields=None, tags=None) -> bool:
        """Dispatch one entry unless this thread is dispatching one already (SPEC §4:
        see ``_reentered``). The level filter has already passed. True when the entry
        was deferred: it is sent (and, at FATAL, flushed) once the emission it
        interrupted returns."""
        source_key = self._config.source_key
        source = None if source_key is None else caller_source(self._depth)
        state = _dispatch_state
        if state.mode:
            return _reentered(self, level, messages, metadata, error, ctx, fields, source,
                              tags)
        state.mode = _DISPATCHING
        try:
            self._dispatch(level, messages, metadata, error, ctx, fields, time.time_ns(),
                           source, tags)
        finally:
            state.mode = _IDLE
            if state.deferred:  # a signal handler logged meanwhile
                _deliver_deferred(state)
        return False

    def _dispatch(self, level, messages, metadata, error, ctx, fields, time_ns,
                  source=None, tags=None) -> None:
        """Assemble one entry and send it; ``time_ns`` is when it was logged; ``tags``
        are a builder's groups, added to the logger's."""
        config = self._config
        if fields is None:
            fields = self._fields
            if self._has_lazy:
                fields = resolve_lazy(fields)
        elif has_lazy(fields):
            fields = resolve_lazy(fields)
        if _context_on:
            bound = context_fields.get()
            if bound:  # request-scoped fields, under the logger's own
                if fields:
                    bound = dict(bound)
                    bound.update(fields)
                fields = bound
        if self._mute_fields:
            fields = {}
        if config.fields_key is None:
            data = fields
        else:
            data = {config.fields_key: fields} if fields else {}
        if error is not None:
            if data is fields:
                data = dict(fields)
            data[config.error_key] = serialize_error_safely(config.error_serializer, error)
        if source is not None:
            if data is fields:
                data = dict(fields)
            data[config.source_key] = source
        messages = list(messages)
        plugins = self._plugins
        params = None
        prefix = self._prefix
        groups = self._groups if tags is None else merge_tags(self._groups, tags)
        if plugins.has_dispatch:
            params = HookParams(level, messages, data, metadata, error, fields, ctx, prefix,
                                groups)
            run_hooks(plugins, params, data is not fields)
            # a hook may replace the prefix (redact censors it), as it may the messages
            level, messages, data = params.level, params.messages, params.data
            prefix = params.prefix
            if type(prefix) is not str and prefix is not None:
                prefix = text_of(prefix)  # what a hook set, as text
        entry = LogEntry(level, messages, data, metadata, error, fields, ctx, prefix,
                         time_ns, config.metadata_key, config.error_key, source, groups)
        # Send gates count in has_dispatch: when there are any, params was built.
        gate_params = params if plugins.send else None
        rendered_format = rendered = None
        # Groups (loglayer._routing): the IDs of the transports the entry may reach, by
        # its final level; None, for every transport, when the logger routes nothing.
        routing = self._routing
        reachable = None if routing is None else routing.targets(groups, level)
        for transport, tid, send, line_transport in self._transports:
            if reachable is not None and tid not in reachable:
                continue
            try:  # SPEC §5: a transport's failure, here its enabled or level, is its own
                if not getattr(transport, "enabled", True):
                    continue
                minimum = getattr(transport, "level", None)
                if minimum is not None and level < min_level_of(minimum):
                    continue
            except Exception as exc:
                transport_failed(config.on_transport_error, tid, exc)
                continue
            if gate_params is not None and not allows(plugins, gate_params, tid):
                continue
            try:
                if line_transport is None:
                    send(entry)
                else:
                    # Transports sharing a format share one rendering of the entry.
                    if line_transport._format is not rendered_format:
                        rendered = line_transport._render(entry)
                        rendered_format = line_transport._format
                    line_transport._write_line(rendered)
            except Exception as exc:
                transport_failed(config.on_transport_error, tid, exc)
        for tap in _taps:
            try:
                tap.send(entry)
            except Exception as exc:
                transport_failed(config.on_transport_error, "tap", exc)


def _reentered(log: LogLayer, level, messages, metadata, error, ctx, fields, source,
               tags) -> bool:
    """A log call made while this thread dispatches an entry (SPEC §4 re-entrancy).

    From a signal handler that interrupted the dispatch, the entry is deferred: kept,
    with the time it was logged and its context, and dispatched right after the
    interrupted emission (True). From anything else (a hook or transport logging) it
    is dropped, with one line on stderr. See ``loglayer._common.from_signal_handler``
    for how the two are told apart; both are counted (``LogLayer.reentry_stats()``).
    """
    state = _dispatch_state
    if (state.mode == _DISPATCHING and len(state.deferred) < MAX_DEFERRED
            and from_signal_handler()):
        deferred = state.deferred
        if type(deferred) is not list:  # the class' empty tuple: this thread's first
            deferred = state.deferred = []
        deferred.append((log, (level, messages, metadata, error, ctx, fields, time.time_ns(),
                               source, tags), contextvars.copy_context()))
        count_reentry("deferred")
        return True
    dropped_reentrant_entry()
    return False


def _deliver_deferred(state: _DispatchState) -> None:
    """Dispatch the entries signal handlers logged during this thread's emission, in
    order, each in the context it was logged in; log calls they cause are dropped."""
    deferred, state.deferred = state.deferred, ()
    state.mode = _DELIVERING
    sent = 0
    try:
        for log, arguments, context in deferred:
            context.run(log._dispatch, *arguments)
            sent += 1
            if arguments[0] == LogLevel.FATAL:
                log.flush()
    finally:
        state.mode = _IDLE
        for _ in range(sent, len(deferred)):  # a KeyboardInterrupt on the way
            count_reentry("dropped")


class LogBuilder:
    """One entry under construction: metadata, an error, a context, then a level call."""

    __slots__ = ("_log", "_metadata", "_error", "_ctx", "_has_ctx", "_groups")

    def __init__(self, log: LogLayer) -> None:
        if not isinstance(log, LogLayer):
            raise TypeError(f"LogBuilder() needs a LogLayer, got {type(log).__name__}")
        self._log = log
        self._metadata: object = None
        self._error: BaseException | None = None
        self._ctx: object = None
        self._has_ctx = False
        self._groups: tuple[str, ...] | None = None  # this entry's tags beyond the logger's

    def with_metadata(self, metadata: object) -> LogBuilder:
        """Attach metadata; a second call merges when both are dicts, else replaces.

        The metadata hooks run now; a hook returning None drops this metadata and
        keeps what an earlier call attached.
        """
        log = self._log
        if metadata is None or log._mute_metadata:
            return self
        hooks = log._plugins.metadata
        if hooks:
            metadata = _run_metadata_hooks(hooks, metadata)
            if metadata is None:
                return self
        current = self._metadata
        if current is not None and type(current) is dict and type(metadata) is dict:
            merged = dict(current)
            merged.update(metadata)
            metadata = merged
        self._metadata = metadata
        return self

    def with_error(self, error: BaseException | None) -> LogBuilder:
        """Attach an exception; it is serialized under the logger's ``error_key``."""
        if error is not None and not isinstance(error, BaseException):
            raise TypeError(f"with_error() needs an exception, got {type(error).__name__}")
        self._error = error
        return self

    def with_context(self, ctx: object) -> LogBuilder:
        """Use ``ctx`` as this entry's request context (None included)."""
        self._ctx = ctx
        self._has_ctx = True
        return self

    def with_group(self, *names: str) -> LogBuilder:
        """Tag this entry with these groups too (the logger's tags stay)."""
        tags = check_group_names("with_group()", names)
        self._groups = tags if self._groups is None else merge_tags(self._groups, tags)
        return self

    def _send(self, level, messages) -> bool:
        log = self._log
        return log._emit(level, messages, self._metadata, self._error,
                         self._ctx if self._has_ctx else log._ctx, None, self._groups)

    @_messages_only
    def trace(self, *messages: object, **refused: object) -> None:
        """Send the entry at TRACE."""
        if refused:
            raise keywords_refused("trace", refused)
        if self._log._active & 0b1:
            self._send(LogLevel.TRACE, messages)

    @_messages_only
    def debug(self, *messages: object, **refused: object) -> None:
        """Send the entry at DEBUG."""
        if refused:
            raise keywords_refused("debug", refused)
        if self._log._active & 0b10:
            self._send(LogLevel.DEBUG, messages)

    @_messages_only
    def info(self, *messages: object, **refused: object) -> None:
        """Send the entry at INFO."""
        if refused:
            raise keywords_refused("info", refused)
        if self._log._active & 0b100:
            self._send(LogLevel.INFO, messages)

    @_messages_only
    def warn(self, *messages: object, **refused: object) -> None:
        """Send the entry at WARN."""
        if refused:
            raise keywords_refused("warn", refused)
        if self._log._active & 0b1000:
            self._send(LogLevel.WARN, messages)

    warning = warn

    @_messages_only
    def error(self, *messages: object, **refused: object) -> None:
        """Send the entry at ERROR."""
        if refused:
            raise keywords_refused("error", refused)
        if self._log._active & 0b10000:
            self._send(LogLevel.ERROR, messages)

    @_messages_only
    def fatal(self, *messages: object, **refused: object) -> None:
        """Send the entry at FATAL and flush the transports. It never exits the process."""
        if refused:
            raise keywords_refused("fatal", refused)
        if self._log._active & 0b100000 and not self._send(LogLevel.FATAL, messages):
            self._log.flush()


# Last: the assembly's setups (default transport, from_config, taps) run on this kernel.
kernel_loaded(sys.modules[__name__])
