"""The pure-Python twin of ``cext/_core.pyx``: one behaviour, two implementations.

It is selected when the extension is not built, on interpreters other than CPython,
or when ``LOGLAYER_NO_EXTENSIONS=1``. Every rule of the pipeline lives here in plain
Python first; the compiled core mirrors it with C types, and the same test suite runs
against both.

Data flows one way: call site -> level check -> input hooks (at ``with_fields`` /
``with_metadata`` time) -> assembly -> dispatch hooks -> per transport: level, gates,
send. Plugin and transport sets are immutable snapshots; mutators build a new one
under a lock and swap the reference, so the emission path never locks.
"""

from __future__ import annotations

import operator
import sys
import threading
import time
from collections.abc import Mapping

from ._common import (
    PluginRecord,
    as_message_list,
    check_bool,
    check_key,
    check_mapping,
    context_fields,
    has_lazy,
    lazy,
    merge_by_id,
    min_level_of,
    next_id,
    on_context_fields_enabled,
    on_taps_changed,
    plugin_failed,
    plugin_list,
    resolve_lazy,
    run_dispatch_hooks,
    serialize_error_safely,
    stderr_line,
    transport_failed,
    transport_list,
    transport_slot,
)
from ._render_py import ConsoleFormat, JsonFormat
from .levels import LogLevel

__all__ = [
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

# Level number -> bit in the level bitmap. TRACE (5) is bit 0, DEBUG..FATAL bits 1..5.
_ALL_LEVELS = 0b111111


def _bit(level: int) -> int:
    return 1 << (level // 10)


def _mask_from(level: int) -> int:
    """The bitmap with ``level`` and every level above it enabled."""
    return _ALL_LEVELS & ~(_bit(level) - 1)


_OMITTED = object()
_mutation_lock = threading.RLock()
_dispatch_state = threading.local()
_default_transport_factory = None
_context_on = False


def _turn_context_fields_on() -> None:
    global _context_on
    _context_on = True


on_context_fields_enabled(_turn_context_fields_on)
_taps: tuple = ()


def _set_taps(taps: tuple) -> None:
    global _taps
    _taps = taps


on_taps_changed(_set_taps)


def _set_default_transport_factory(factory) -> None:
    """Tell the core what ``LogLayer()`` with no transports should use.

    The core imports no transport; the package wires the console transport in here.
    """
    global _default_transport_factory
    _default_transport_factory = factory


class Transport:
    """Convenient base class for transports.

    Subclasses implement ``send(entry)``; ``flush()`` and ``close()`` are no-ops
    here. ``enabled`` and ``level`` are read at every emission, so they may be
    changed at run time. An empty ``id`` is replaced by a generated one.
    """

    def __init__(self, id: str = "", *, level=None, enabled: bool = True) -> None:
        if not isinstance(id, str):
            raise TypeError(f"id must be a str, got {type(id).__name__}")
        if not isinstance(enabled, bool):
            raise TypeError(f"enabled must be a bool, got {type(enabled).__name__}")
        self.id = id or f"transport-{next_id()}"
        self.enabled = enabled
        self.level = level

    @property
    def level(self):
        """The minimum level this transport takes, or None for no minimum."""
        return self._level

    @level.setter
    def level(self, value) -> None:
        self._level = None if value is None else LogLevel.parse(value)

    def send(self, entry) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement send(entry)")

    def flush(self) -> None:
        """Push out anything buffered. The base class buffers nothing."""

    def close(self) -> None:
        """Release resources. The base class holds none."""

    def get_logger_instance(self):
        """The underlying library object; the base class returns the transport itself."""
        return self

    def __repr__(self) -> str:
        return f"<{type(self).__name__} id={self.id!r}>"


class LineTransport(Transport):
    """A transport that writes one rendered line per entry to a stream.

    ``format`` is an object with ``render(entry)`` returning the whole line (``bytes``
    or ``str``, as its ``binary`` attribute says). The line is converted to what the
    stream takes (``binary=True`` for a stream of bytes) and handed to exactly one
    ``write()`` call, so a reader of the stream never sees half an entry.
    ``stream=None`` means ``sys.<default_stream>`` as it is at each write; a given
    stream's ``write`` is looked up once, here.

    The compiled core recognises this class: when a subclass does not override
    ``send``, it renders in C, once per format per entry, and writes without a
    Python-level ``send`` frame.
    """

    def __init__(self, format, stream=None, *, binary: bool = False,
                 default_stream: str = "stdout", id: str = "", level=None,
                 enabled: bool = True) -> None:
        super().__init__(id, level=level, enabled=enabled)
        if not callable(getattr(format, "render", None)):
            raise TypeError(f"format must have a render(entry) method, "
                            f"got {type(format).__name__}")
        if stream is not None and not callable(getattr(stream, "write", None)):
            raise TypeError(f"stream must have a write() method, got {type(stream).__name__}")
        if default_stream not in ("stdout", "stderr"):
            raise ValueError(f"default_stream must be 'stdout' or 'stderr', "
                             f"got {default_stream!r}")
        self._format = format
        self._stream = stream
        self._write = None if stream is None else stream.write
        self._binary = check_bool("binary", binary)
        self._default_stream = default_stream
        produces_bytes = bool(getattr(format, "binary", False))
        self._decode = produces_bytes and not self._binary
        self._encode = self._binary and not produces_bytes

    @property
    def format(self):
        """The format that renders each entry."""
        return self._format

    @property
    def stream(self):
        """The stream written to: the one given, else ``sys.<default_stream>`` as it is now."""
        return self._stream if self._stream is not None else getattr(sys, self._default_stream)

    def send(self, entry) -> None:
        self.write_line(self._format.render(entry))

    def write_line(self, line) -> None:
        """Write one rendered line, converted to what the stream takes."""
        if self._decode:
            line = line.decode("utf-8")
        elif self._encode:
            line = line.encode("utf-8")
        if self._write is not None:
            self._write(line)
        else:
            stream = getattr(sys, self._default_stream)
            if stream is not None:  # no console at all (pythonw, a daemon)
                stream.write(line)

    def flush(self) -> None:
        stream = self._stream if self._stream is not None else getattr(sys, self._default_stream)
        flush = getattr(stream, "flush", None)
        if callable(flush):
            flush()


class LogEntry:
    """What a transport receives: one log event, never reused after ``send`` returns.

    Transports must not mutate ``data``: the same dict goes to every transport.
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
    )

    def __init__(self, level, messages, data, metadata, error, fields, ctx, prefix, time_ns,
                 metadata_key) -> None:
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

    def __repr__(self) -> str:
        return (f"LogEntry(level={self.level!r}, messages={self.messages!r}, "
                f"data={self.data!r}, metadata={self.metadata!r}, error={self.error!r})")


class HookParams:
    """What the dispatch hooks receive. Valid only during the hook call.

    ``transport_id`` is set for ``should_send`` only.
    """

    __slots__ = ("level", "messages", "data", "metadata", "error", "fields", "ctx", "prefix",
                 "transport_id")

    def __init__(self, level, messages, data, metadata, error, fields, ctx, prefix) -> None:
        self.level = level
        self.messages = messages
        self.data = data
        self.metadata = metadata
        self.error = error
        self.fields = fields
        self.ctx = ctx
        self.prefix = prefix
        self.transport_id = None

    def __repr__(self) -> str:
        return (f"HookParams(level={self.level!r}, messages={self.messages!r}, "
                f"data={self.data!r}, transport_id={self.transport_id!r})")


class _PluginSet:
    """An immutable snapshot: per hook, a tuple of (function, plugin id, on_error)."""

    __slots__ = ("records", "fields", "metadata", "data", "message", "level", "send",
                 "has_dispatch")

    def __init__(self, records: tuple) -> None:
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


_record_id = operator.attrgetter("id")
_slot_id = operator.itemgetter(1)


def _slot(transport) -> tuple:
    """(transport, id, send, line): ``line`` is the transport when it is a
    ``LineTransport`` that overrides neither ``send`` nor ``write_line``, so the
    dispatcher can share one rendering between transports of the same format."""
    transport, tid, send = transport_slot(transport)
    cls = type(transport)
    line = transport if (isinstance(transport, LineTransport)
                         and cls.send is LineTransport.send
                         and cls.write_line is LineTransport.write_line) else None
    return (transport, tid, send, line)


class _Config:
    """Settings fixed at construction and shared by every derived logger."""

    __slots__ = ("fields_key", "metadata_key", "error_key", "error_serializer",
                 "copy_msg_on_only_error", "on_transport_error")


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
    plugins, transports) change only the receiver. Plugin and transport sets are
    shared copy-on-write between a logger and the loggers derived from it.
    """

    __slots__ = ("_config", "_levels", "_enabled", "_active", "_mute_fields", "_mute_metadata",
                 "_prefix", "_fields", "_has_lazy", "_ctx", "_plugins", "_transports",
                 "__weakref__")

    def __init__(self, transports=_OMITTED, plugins=(), level=LogLevel.TRACE, enabled=True,
                 prefix=None, fields=None, fields_key=None, metadata_key=None, error_key="err",
                 error_serializer=None, copy_msg_on_only_error=False, mute_fields=False,
                 mute_metadata=False, on_transport_error=None) -> None:
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
        try:
            level_value = LogLevel.parse(level)
        except ValueError as exc:
            raise ValueError(f"level: {exc}") from None
        enabled = check_bool("enabled", enabled)
        mute_fields = check_bool("mute_fields", mute_fields)
        mute_metadata = check_bool("mute_metadata", mute_metadata)
        if prefix is not None and not isinstance(prefix, str):
            raise TypeError(f"prefix must be a str or None, got {type(prefix).__name__}")
        field_map = {} if fields is None else check_mapping("fields", fields)
        records = [PluginRecord(p) for p in plugin_list(plugins)]
        if transports is _OMITTED:
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
        self._ctx = None
        self._plugins = _PluginSet(merge_by_id((), records, _record_id))
        self._transports = merge_by_id((), slots, _slot_id)

    def __repr__(self) -> str:
        return (f"<LogLayer levels={self._levels:#08b} enabled={self._enabled} "
                f"plugins={len(self._plugins.records)} transports={len(self._transports)}>")

    @staticmethod
    def from_config(config):
        """A new logger built from plain data: a level, and transports and plugins as
        lists of ``{"name": ..., "options": {...}}`` looked up in ``loglayer.registry``.

        See ``loglayer.load_config`` for reading the same shape from TOML or JSON. An
        unknown key or a bad option raises, naming the path of the offending key.
        """
        from ._config import from_config  # the core imports no transport or plugin until asked

        return from_config(config)

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
        return new

    def child(self) -> LogLayer:
        """A new logger with the same state, sharing plugins and transports copy-on-write."""
        return self._derive()

    def with_prefix(self, prefix) -> LogLayer:
        """A new logger whose prefix is ``prefix`` (replacing any prefix)."""
        if prefix is not None and not isinstance(prefix, str):
            raise TypeError(f"prefix must be a str or None, got {type(prefix).__name__}")
        new = self._derive()
        new._prefix = prefix
        return new

    def with_context(self, ctx) -> LogLayer:
        """A new logger bound to a request context; dispatch hooks see it as ``ctx``."""
        new = self._derive()
        new._ctx = ctx
        return new

    def with_fields(self, mapping=None, /, **fields) -> LogLayer:
        """A new logger with these fields merged over the current ones.

        The fields hooks see the new fields first; one returning None drops the call
        (the new logger keeps the existing fields).
        """
        if mapping is not None:
            if not isinstance(mapping, Mapping):
                raise TypeError(f"with_fields() needs a mapping, got {type(mapping).__name__}")
            if fields:
                new_fields = dict(mapping)
                new_fields.update(fields)
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
                if not isinstance(result, Mapping):
                    plugin_failed("on_fields_called", pid, on_error,
                                   TypeError(f"returned {type(result).__name__}, not a mapping"))
                    return self._derive()
                new_fields = result
        new = self._derive()
        if new_fields:
            merged = dict(self._fields)
            merged.update(new_fields)
            new._fields = merged
            new._has_lazy = self._has_lazy or has_lazy(new_fields)
        return new

    def without_fields(self, *keys) -> LogLayer:
        """A new logger without the named fields (without any when no key is given)."""
        new = self._derive()
        if keys:
            drop = set(keys)
            new._fields = {k: v for k, v in self._fields.items() if k not in drop}
        else:
            new._fields = {}
        new._has_lazy = has_lazy(new._fields)
        return new

    def get_fields(self) -> dict:
        """A shallow copy of the persistent fields."""
        return dict(self._fields)

    # -- levels and mutes ----------------------------------------------------------

    def set_level(self, level) -> None:
        """Enable ``level`` and every level above it; disable those below."""
        self._levels = _mask_from(LogLevel.parse(level))
        self._active = self._levels if self._enabled else 0

    def enable_level(self, level) -> None:
        self._levels |= _bit(LogLevel.parse(level))
        self._active = self._levels if self._enabled else 0

    def disable_level(self, level) -> None:
        self._levels &= ~_bit(LogLevel.parse(level))
        self._active = self._levels if self._enabled else 0

    def enable_logging(self) -> None:
        """Turn the master switch on; the per-level state is kept as it was."""
        self._enabled = True
        self._active = self._levels

    def disable_logging(self) -> None:
        """Turn the master switch off; the per-level state is kept."""
        self._enabled = False
        self._active = 0

    def is_level_enabled(self, level) -> bool:
        """True when logging is enabled and ``level`` is."""
        return bool(self._active & _bit(LogLevel.parse(level)))

    def mute_fields(self) -> None:
        self._mute_fields = True

    def unmute_fields(self) -> None:
        self._mute_fields = False

    def mute_metadata(self) -> None:
        self._mute_metadata = True

    def unmute_metadata(self) -> None:
        self._mute_metadata = False

    # -- plugins and transports ----------------------------------------------------

    def add_plugin(self, *plugins) -> None:
        """Add plugins, run after the current ones; one whose ID is present replaces it."""
        records = [PluginRecord(p) for p in plugins]
        with _mutation_lock:
            self._plugins = _PluginSet(merge_by_id(self._plugins.records, records, _record_id))

    def remove_plugin(self, id: str) -> bool:
        with _mutation_lock:
            current = self._plugins.records
            kept = tuple(r for r in current if r.id != id)
            if len(kept) == len(current):
                return False
            self._plugins = _PluginSet(kept)
            return True

    def get_plugin(self, id: str):
        for record in self._plugins.records:
            if record.id == id:
                return record.plugin
        return None

    def plugin_count(self) -> int:
        return len(self._plugins.records)

    def plugin_ids(self) -> list:
        """The IDs of the plugins, in the order they run."""
        return [record.id for record in self._plugins.records]

    def add_transport(self, *transports) -> None:
        """Add transports; one whose ID is present replaces it (and is not closed)."""
        slots = [_slot(t) for t in transports]
        with _mutation_lock:
            self._transports = merge_by_id(self._transports, slots, _slot_id)

    def remove_transport(self, id: str) -> bool:
        with _mutation_lock:
            kept = tuple(s for s in self._transports if s[1] != id)
            if len(kept) == len(self._transports):
                return False
            self._transports = kept
            return True

    def set_transports(self, *transports) -> None:
        """Replace the whole transport set (the old transports are not closed)."""
        slots = [_slot(t) for t in transports]
        with _mutation_lock:
            self._transports = merge_by_id((), slots, _slot_id)

    def get_logger_instance(self, id: str):
        """The transport's underlying logger (``get_logger_instance()``), or None."""
        for transport, tid, _, _ in self._transports:
            if tid == id:
                getter = getattr(transport, "get_logger_instance", None)
                return getter() if callable(getter) else transport
        return None

    def flush(self) -> None:
        """Flush every current transport; failures go to ``on_transport_error``."""
        for transport, tid, _, _ in self._transports:
            flush = getattr(transport, "flush", None)
            if callable(flush):
                try:
                    flush()
                except Exception as exc:
                    transport_failed(self._config.on_transport_error, tid, exc)

    def close(self) -> None:
        """Close every current transport; failures go to ``on_transport_error``."""
        for transport, tid, _, _ in self._transports:
            close = getattr(transport, "close", None)
            if callable(close):
                try:
                    close()
                except Exception as exc:
                    transport_failed(self._config.on_transport_error, tid, exc)

    def __enter__(self) -> LogLayer:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- emission ------------------------------------------------------------------

    def trace(self, *messages) -> None:
        if self._active & 0b1:
            self._emit(LogLevel.TRACE, messages, None, None, self._ctx)

    def debug(self, *messages) -> None:
        if self._active & 0b10:
            self._emit(LogLevel.DEBUG, messages, None, None, self._ctx)

    def info(self, *messages) -> None:
        if self._active & 0b100:
            self._emit(LogLevel.INFO, messages, None, None, self._ctx)

    def warn(self, *messages) -> None:
        if self._active & 0b1000:
            self._emit(LogLevel.WARN, messages, None, None, self._ctx)

    warning = warn

    def error(self, *messages) -> None:
        if self._active & 0b10000:
            self._emit(LogLevel.ERROR, messages, None, None, self._ctx)

    def fatal(self, *messages) -> None:
        """Log at FATAL and flush the transports. It never exits the process."""
        if self._active & 0b100000:
            self._emit(LogLevel.FATAL, messages, None, None, self._ctx)
            self.flush()

    def exception(self, *messages) -> None:
        """Inside ``except``: log the exception being handled at ERROR."""
        if self._active & 0b10000:
            self._emit(LogLevel.ERROR, messages, None, sys.exc_info()[1], self._ctx)

    def with_metadata(self, metadata) -> LogBuilder:
        """A builder carrying ``metadata`` (any object) for one entry."""
        return LogBuilder(self).with_metadata(metadata)

    def with_error(self, error) -> LogBuilder:
        """A builder carrying ``error`` for one entry."""
        return LogBuilder(self).with_error(error)

    def error_only(self, error, *, level=LogLevel.ERROR, copy_msg=None) -> None:
        """Log just an error; with ``copy_msg`` its ``str()`` becomes the message."""
        if not isinstance(error, BaseException):
            raise TypeError(f"error must be an exception, got {type(error).__name__}")
        level = LogLevel.parse(level)
        if not self._active & _bit(level):
            return
        if copy_msg is None:
            copy_msg = self._config.copy_msg_on_only_error
        if copy_msg:
            try:
                messages = (str(error),)
            except Exception:
                messages = (f"<{type(error).__name__}: str() failed>",)
        else:
            messages = ()
        self._emit(level, messages, None, error, self._ctx)

    def metadata_only(self, metadata, level=LogLevel.INFO) -> None:
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

    def raw(self, level, messages, *, metadata=None, error=None, fields=None, ctx=None) -> None:
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

    def _emit(self, level, messages, metadata, error, ctx, fields=None) -> None:
        """Assemble one entry and dispatch it. The level filter has already passed."""
        if getattr(_dispatch_state, "active", False):
            stderr_line("a log call made while an entry was being dispatched on the same thread "
                    "was dropped (a hook or transport logged)")
            return
        _dispatch_state.active = True
        try:
            time_ns = time.time_ns()
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
            messages = list(messages)
            plugins = self._plugins
            params = None
            if plugins.has_dispatch:
                params = HookParams(level, messages, data, metadata, error, fields, ctx,
                                    self._prefix)
                run_dispatch_hooks(plugins.data, plugins.message, plugins.level, params,
                                   data is not fields)
                level, messages, data = params.level, params.messages, params.data
            entry = LogEntry(level, messages, data, metadata, error, fields, ctx, self._prefix,
                             time_ns, config.metadata_key)
            gates = plugins.send
            rendered_format = rendered = None
            for transport, tid, send, line_transport in self._transports:
                if not getattr(transport, "enabled", True):
                    continue
                minimum = getattr(transport, "level", None)
                if minimum is not None and level < min_level_of(minimum):
                    continue
                if gates:
                    params.transport_id = tid
                    allowed = True
                    for fn, pid, on_error in gates:
                        try:
                            if not fn(params):
                                allowed = False
                                break
                        except Exception as exc:
                            plugin_failed("should_send", pid, on_error, exc)
                    if not allowed:
                        continue
                try:
                    if line_transport is None:
                        send(entry)
                    else:
                        # Transports sharing a format share one rendering of the entry.
                        if line_transport._format is not rendered_format:
                            rendered = line_transport._format.render(entry)
                            rendered_format = line_transport._format
                        line_transport.write_line(rendered)
                except Exception as exc:
                    transport_failed(config.on_transport_error, tid, exc)
            for tap in _taps:
                try:
                    tap.send(entry)
                except Exception as exc:
                    transport_failed(config.on_transport_error, "tap", exc)
        finally:
            _dispatch_state.active = False


class LogBuilder:
    """One entry under construction: metadata, an error, a context, then a level call."""

    __slots__ = ("_log", "_metadata", "_error", "_ctx", "_has_ctx")

    def __init__(self, log: LogLayer) -> None:
        if not isinstance(log, LogLayer):
            raise TypeError(f"LogBuilder() needs a LogLayer, got {type(log).__name__}")
        self._log = log
        self._metadata = None
        self._error = None
        self._ctx = None
        self._has_ctx = False

    def with_metadata(self, metadata) -> LogBuilder:
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

    def with_error(self, error) -> LogBuilder:
        """Attach an exception; it is serialized under the logger's ``error_key``."""
        if error is not None and not isinstance(error, BaseException):
            raise TypeError(f"with_error() needs an exception, got {type(error).__name__}")
        self._error = error
        return self

    def with_context(self, ctx) -> LogBuilder:
        """Use ``ctx`` as this entry's request context (None included)."""
        self._ctx = ctx
        self._has_ctx = True
        return self

    def _send(self, level, messages) -> None:
        log = self._log
        log._emit(level, messages, self._metadata, self._error,
                  self._ctx if self._has_ctx else log._ctx)

    def trace(self, *messages) -> None:
        if self._log._active & 0b1:
            self._send(LogLevel.TRACE, messages)

    def debug(self, *messages) -> None:
        if self._log._active & 0b10:
            self._send(LogLevel.DEBUG, messages)

    def info(self, *messages) -> None:
        if self._log._active & 0b100:
            self._send(LogLevel.INFO, messages)

    def warn(self, *messages) -> None:
        if self._log._active & 0b1000:
            self._send(LogLevel.WARN, messages)

    warning = warn

    def error(self, *messages) -> None:
        if self._log._active & 0b10000:
            self._send(LogLevel.ERROR, messages)

    def fatal(self, *messages) -> None:
        if self._log._active & 0b100000:
            self._send(LogLevel.FATAL, messages)
            self._log.flush()
