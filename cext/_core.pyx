# cython: language_level=3
"""The compiled emission pipeline of loglayer (``loglayer._core``).

It keeps the behaviour of ``loglayer._core_py`` line for line, with the hot state in
C: the level bitmap is a C int, each plugin's hooks are resolved into typed slots
(tuples of ``_Hook`` records per hook, plus flags) when the plugin is added, entries
and builders come from freelists, the clock is read with one C call, and the
re-entrancy guard is a thread-specific C pointer. A logger with no dispatch hooks
never builds a params object.

Native hooks. loglayer's own compiled plugins (the ``redact`` data hook, the samplers)
are called from C with no params object and no Python call. Such a hook object has a
``__loglayer_native__`` attribute holding a ``PyCapsule``:

* named ``"loglayer.native_value"``: ``object fn(object hook, object value)``, a
  fields or metadata hook's answer for ``value``; NULL with an exception set on error;
* named ``"loglayer.native_data"``: ``object fn(object hook, dict data)``, the data
  hook's answer (None or a mapping) for the entry's current data; NULL with an
  exception set on error;
* named ``"loglayer.native_gate"``: ``int fn(object hook, int level_index)``, 1 to
  send and 0 not to, -1 with an exception set on error. ``level_index`` is the
  position of the entry's level in ``LogLevel`` (0 for TRACE ... 5 for FATAL). The
  core asks a native gate at most once per entry, at the first transport that
  reaches it, and gives the entry's other transports the same answer.

The capsule's context (``PyCapsule_SetContext``) is the hook object itself: the core
calls a hook natively only when the context is the very object it looked the capsule
up on, so a proxy forwarding attribute lookups is called the ordinary way. The hook
object stays callable the ordinary way (``hook(params)``), which is how the pure core,
the queue worker and any other caller use it. The protocol is private to loglayer:
the capsule names carry the signature, nothing else is promised.

Cold paths (validation, error reporting, ``lazy``) call the same helpers as the pure
twin, in ``loglayer._common``, so both report problems with the same words.
"""

cimport cython
from cpython.contextvars cimport get_value
from cpython.dict cimport PyDict_Copy, PyDict_Next, PyDict_SetItem
from cpython.list cimport PyList_New, PyList_SET_ITEM
from cpython.object cimport PyCFunction, PyMethodDef, PyObject, PyTypeObject
from cpython.pycapsule cimport (PyCapsule_CheckExact, PyCapsule_GetContext,
                                PyCapsule_GetPointer, PyCapsule_IsValid)
from cpython.ref cimport Py_DECREF, Py_INCREF
from cpython.tuple cimport PyTuple_GET_SIZE
from cpython.type cimport PyType_Modified
from cpython.unicode cimport PyUnicode_DATA, PyUnicode_GET_LENGTH, PyUnicode_KIND, PyUnicode_READ
from cpython.pythread cimport PyThread_tss_create, PyThread_tss_get, PyThread_tss_set

import sys
import threading
from collections.abc import Mapping

from loglayer._common import (
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
    serialize_error_safely,
    stderr_line,
    text_of,
    transport_failed,
    transport_list,
    transport_slot,
)
from loglayer.levels import LogLevel

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


cdef extern from *:
    """
    #ifdef _WIN32
    #include <windows.h>
    static long long loglayer_now_ns(void) {
        FILETIME ft;
        unsigned long long t;
        GetSystemTimePreciseAsFileTime(&ft);
        t = ((unsigned long long)ft.dwHighDateTime << 32) | ft.dwLowDateTime;
        return (long long)((t - 116444736000000000ULL) * 100ULL);
    }
    #else
    #include <time.h>
    static long long loglayer_now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (long long)ts.tv_sec * 1000000000LL + (long long)ts.tv_nsec;
    }
    #endif
    """
    long long loglayer_now_ns() nogil


cdef extern from *:
    """
    /* A dict sized for its keys up front: growing one key by key resizes it. The
       function is private CPython API, so fall back to an ordinary dict elsewhere. */
    #if defined(PYPY_VERSION) || defined(Py_LIMITED_API)
    #define loglayer_presized_dict(n) PyDict_New()
    #else
    #define loglayer_presized_dict(n) _PyDict_NewPresized(n)
    #endif
    """
    dict loglayer_presized_dict(Py_ssize_t size)


cdef extern from "Python.h":
    int METH_FASTCALL
    int METH_KEYWORDS
    object PyDescr_NewMethod(PyTypeObject* type, PyMethodDef* method)


# Level bit index (TRACE 0, DEBUG 1 ... FATAL 5) <-> level number and LogLevel member.
cdef int[6] _LEVEL_NUMBERS = [5, 10, 20, 30, 40, 50]
cdef tuple _LEVELS = tuple([LogLevel.parse(n) for n in (5, 10, 20, 30, 40, 50)])
cdef int _ALL_LEVELS = 0b111111

cdef object _OMITTED = object()
cdef object _mutation_lock = threading.RLock()
cdef object _default_transport_factory = None
cdef Py_tss_t _dispatching
cdef bint _context_on = False


def _turn_context_fields_on():
    global _context_on
    _context_on = True


on_context_fields_enabled(_turn_context_fields_on)
cdef tuple _taps = ()


def _set_taps(taps):
    global _taps
    _taps = taps


on_taps_changed(_set_taps)
if PyThread_tss_create(&_dispatching) != 0:
    raise MemoryError("loglayer: could not create the thread-specific dispatch flag")


def _set_default_transport_factory(factory):
    """Tell the core what ``LogLayer()`` with no transports should use.

    The core imports no transport; the package wires the console transport in here.
    """
    global _default_transport_factory
    _default_transport_factory = factory


cdef inline int _index_of(object level) except -1:
    """The bit index of a parsed level."""
    return <int>level // 10


cdef inline int _level_slot(object level):
    """The index of a LogLevel member in the level tables, or -1 for anything else."""
    if type(level) is not LogLevel:
        return -1
    cdef int number = <int>level
    if number == 5:
        return 0
    if number % 10 == 0 and 10 <= number <= 50:
        return number // 10
    return -1


cdef inline int _mask_from(int index):
    """The bitmap with the level at ``index`` and every level above it enabled."""
    return _ALL_LEVELS & ~((1 << index) - 1)


def _record_id(record):
    return record.id


def _slot_id(_TransportSlot slot):
    return slot.id


cdef class Transport:
    """Convenient base class for transports.

    Subclasses implement ``send(entry)``; ``flush()`` and ``close()`` are no-ops
    here. ``enabled`` and ``level`` are read at every emission, so they may be
    changed at run time. An empty ``id`` is replaced by a generated one.
    """

    cdef public object id
    cdef public bint enabled
    cdef object _level
    cdef int _min_level
    cdef object __weakref__

    def __init__(self, id="", *, level=None, enabled=True):
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
    def level(self, value):
        if value is None:
            self._level = None
            self._min_level = 0
        else:
            self._level = LogLevel.parse(value)
            self._min_level = <int>self._level

    def send(self, entry):
        raise NotImplementedError(f"{type(self).__name__} must implement send(entry)")

    def flush(self):
        """Push out anything buffered. The base class buffers nothing."""

    def close(self):
        """Release resources. The base class holds none."""

    def get_logger_instance(self):
        """The underlying library object; the base class returns the transport itself."""
        return self

    def __repr__(self):
        return f"<{type(self).__name__} id={self.id!r}>"


cdef class _Format:
    """Base of the compiled formats: ``render(entry)`` runs in C.

    ``binary`` tells whether a rendered line is ``bytes`` (else ``str``).
    """

    cdef readonly bint binary

    cdef object _render(self, LogEntry entry):
        raise NotImplementedError

    def render(self, LogEntry entry not None):
        """The whole line for ``entry``, newline included."""
        return self._render(entry)


cdef class LineTransport(Transport):
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

    cdef object _format
    cdef _Format _compiled_format
    cdef object _stream
    cdef object _write
    cdef object _default_stream
    cdef bint _binary
    cdef bint _decode
    cdef bint _encode

    def __init__(self, format, stream=None, *, binary=False, default_stream="stdout", id="",
                 level=None, enabled=True):
        Transport.__init__(self, id, level=level, enabled=enabled)
        if not callable(getattr(format, "render", None)):
            raise TypeError(f"format must have a render(entry) method, "
                            f"got {type(format).__name__}")
        if stream is not None and not callable(getattr(stream, "write", None)):
            raise TypeError(f"stream must have a write() method, got {type(stream).__name__}")
        if default_stream not in ("stdout", "stderr"):
            raise ValueError(f"default_stream must be 'stdout' or 'stderr', "
                             f"got {default_stream!r}")
        self._format = format
        self._compiled_format = format if isinstance(format, _Format) else None
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

    def send(self, LogEntry entry not None):
        line = self._render(entry)
        if getattr(type(self), "write_line") is _LINE_WRITE_LINE:
            self._write_line(line)
        else:
            self.write_line(line)

    def write_line(self, line):
        """Write one rendered line, converted to what the stream takes."""
        self._write_line(line)

    cdef inline object _render(self, LogEntry entry):
        if self._compiled_format is not None:
            return self._compiled_format._render(entry)
        return self._format.render(entry)

    cdef int _write_line(self, object line) except -1:
        if self._decode:
            line = (<bytes?>line).decode("utf-8")
        elif self._encode:
            line = (<str?>line).encode("utf-8")
        if self._write is not None:
            self._write(line)
        else:
            stream = getattr(sys, self._default_stream)
            if stream is not None:  # no console at all (pythonw, a daemon)
                stream.write(line)
        return 0

    def flush(self):
        stream = self._stream if self._stream is not None else getattr(sys, self._default_stream)
        flush = getattr(stream, "flush", None)
        if callable(flush):
            flush()


@cython.final
@cython.freelist(64)
cdef class LogEntry:
    """What a transport receives: one log event, never reused after ``send`` returns.

    Transports must not mutate ``data``: the same dict goes to every transport.
    """

    cdef readonly object level
    cdef readonly list messages
    cdef readonly dict data
    cdef readonly object metadata
    cdef readonly object error
    cdef readonly dict fields
    cdef readonly object ctx
    cdef readonly object prefix
    cdef readonly long long time_ns
    cdef readonly object metadata_key
    # The level's index in the level tables (-1 when it is not a LogLevel member), so
    # renderers need not convert the IntEnum back to a C int.
    cdef int _slot

    def __init__(self, level, messages, data, metadata, error, fields, ctx, prefix, time_ns,
                 metadata_key):
        self._slot = _level_slot(level)
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

    def __repr__(self):
        return (f"LogEntry(level={self.level!r}, messages={self.messages!r}, "
                f"data={self.data!r}, metadata={self.metadata!r}, error={self.error!r})")


@cython.final
@cython.freelist(16)
cdef class HookParams:
    """What the dispatch hooks receive. Valid only during the hook call.

    ``transport_id`` is set for ``should_send`` only.
    """

    cdef public object level
    cdef public object messages
    cdef public object data
    cdef public object metadata
    cdef public object error
    cdef public object fields
    cdef public object ctx
    cdef public object prefix
    cdef public object transport_id

    def __init__(self, level, messages, data, metadata, error, fields, ctx, prefix):
        self.level = level
        self.messages = messages
        self.data = data
        self.metadata = metadata
        self.error = error
        self.fields = fields
        self.ctx = ctx
        self.prefix = prefix
        self.transport_id = None

    def __repr__(self):
        return (f"HookParams(level={self.level!r}, messages={self.messages!r}, "
                f"data={self.data!r}, transport_id={self.transport_id!r})")


# A new reference, or NULL with the error set: called outside a try block, which would
# cost every entry an exception-state save; the error path raises what was set.
ctypedef PyObject* (*_native_value_fn)(object hook, object value) noexcept
ctypedef PyObject* (*_native_data_fn)(object hook, dict data) noexcept
ctypedef int (*_native_gate_fn)(object hook, int level_index) noexcept  # -1: raised

#: Native gates beyond this many in one plugin set are called the ordinary way (the
#: per-entry answers are kept in the bits of one C integer).
cdef enum:
    _MAX_NATIVE_GATES = 64


@cython.final
cdef class _Hook:
    """One plugin's hook, resolved once: the bound function and how to report its errors,
    plus its C entry point when it is a native hook (see the module docstring)."""

    cdef object fn
    cdef object plugin_id
    cdef object on_error
    cdef _native_value_fn native_value
    cdef _native_data_fn native_data
    cdef _native_gate_fn native_gate


@cython.final
cdef class _PluginSet:
    """An immutable snapshot of a logger's plugins, indexed per hook."""

    cdef readonly tuple records
    cdef tuple fields
    cdef tuple metadata
    cdef tuple data
    cdef tuple message
    cdef tuple level
    cdef tuple send
    cdef bint has_dispatch
    cdef bint needs_params  # a dispatch hook is called with params (not native)


cdef tuple _hook_slot(tuple records, str name):
    cdef list hooks = []
    cdef _Hook hook
    cdef int gates = 0
    for record in records:
        fn = record.hooks.get(name)
        if fn is not None:
            hook = _Hook.__new__(_Hook)
            hook.fn = fn
            hook.plugin_id = record.id
            hook.on_error = record.on_error
            native = getattr(fn, "__loglayer_native__", None)
            # Only the object the capsule was made for is called natively: a proxy that
            # forwards attribute lookups to a native hook is called the ordinary way.
            if native is not None and PyCapsule_CheckExact(native) \
                    and PyCapsule_GetContext(native) == <void*>fn:
                if (name == "on_fields_called" or name == "on_metadata_called") and \
                        PyCapsule_IsValid(native, b"loglayer.native_value"):
                    hook.native_value = <_native_value_fn>PyCapsule_GetPointer(
                        native, b"loglayer.native_value")
                elif name == "on_before_data_out" and PyCapsule_IsValid(
                        native, b"loglayer.native_data"):
                    hook.native_data = <_native_data_fn>PyCapsule_GetPointer(
                        native, b"loglayer.native_data")
                elif (name == "should_send" and gates < _MAX_NATIVE_GATES
                        and PyCapsule_IsValid(native, b"loglayer.native_gate")):
                    hook.native_gate = <_native_gate_fn>PyCapsule_GetPointer(
                        native, b"loglayer.native_gate")
                    gates += 1
            hooks.append(hook)
    return tuple(hooks)


cdef int _raise_pending() except -1:
    """Raise the exception a native hook set when it answered -1 or NULL."""
    return -1


cdef object _value_or_raise(PyObject* answer):
    """A native hook's answer as an object (taking over its reference), or raise the
    error it set when it answered NULL; for callers already inside a try block."""
    if answer == NULL:
        _raise_pending()
    result = <object>answer
    Py_DECREF(result)
    return result


cdef bint _any_called_with_params(tuple hooks):
    cdef _Hook hook
    for hook in hooks:
        if hook.native_data == NULL and hook.native_gate == NULL:
            return True
    return False


cdef _PluginSet _plugin_set(tuple records):
    cdef _PluginSet ps = _PluginSet.__new__(_PluginSet)
    ps.records = records
    ps.fields = _hook_slot(records, "on_fields_called")
    ps.metadata = _hook_slot(records, "on_metadata_called")
    ps.data = _hook_slot(records, "on_before_data_out")
    ps.message = _hook_slot(records, "on_before_message_out")
    ps.level = _hook_slot(records, "transform_log_level")
    ps.send = _hook_slot(records, "should_send")
    ps.has_dispatch = bool(ps.data or ps.message or ps.level or ps.send)
    ps.needs_params = bool(ps.message or ps.level or _any_called_with_params(ps.data)
                           or _any_called_with_params(ps.send))
    return ps


@cython.final
cdef class _TransportSlot:
    """A transport with its ``send`` bound once; ``base`` is set when its ``enabled`` and
    ``level`` can be read from C (a ``Transport`` subclass that does not override them),
    and ``line`` when it is a ``LineTransport`` whose rendering and writing run in C."""

    cdef object transport
    cdef object id
    cdef object send
    cdef Transport base
    cdef LineTransport line


cdef _TransportSlot _transport_slot(object transport):
    transport, tid, send = transport_slot(transport)
    cdef _TransportSlot slot = _TransportSlot.__new__(_TransportSlot)
    slot.transport = transport
    slot.id = tid
    slot.send = send
    cls = type(transport)
    if (isinstance(transport, Transport)
            and getattr(cls, "enabled") is _TRANSPORT_ENABLED
            and getattr(cls, "level") is _TRANSPORT_LEVEL):
        slot.base = <Transport>transport
        if (isinstance(transport, LineTransport)
                and getattr(cls, "send") is _LINE_SEND
                and getattr(cls, "write_line") is _LINE_WRITE_LINE):
            slot.line = <LineTransport>transport
    return slot


_TRANSPORT_ENABLED = Transport.__dict__["enabled"]
_TRANSPORT_LEVEL = Transport.__dict__["level"]
_LINE_SEND = LineTransport.__dict__["send"]
_LINE_WRITE_LINE = LineTransport.__dict__["write_line"]


@cython.final
cdef class _Config:
    """Settings fixed at construction and shared by every derived logger."""

    cdef object fields_key
    cdef object metadata_key
    cdef object error_key
    cdef object error_serializer
    cdef bint copy_msg_on_only_error
    cdef object on_transport_error


cdef object _run_metadata_hooks(tuple hooks, object metadata):
    """Chain the metadata hooks; None means the metadata was dropped."""
    cdef _Hook hook
    cdef PyObject* answer
    for hook in hooks:
        if hook.native_value != NULL:
            answer = hook.native_value(hook.fn, metadata)
            if answer == NULL:
                try:
                    _raise_pending()
                except Exception as exc:
                    plugin_failed("on_metadata_called", hook.plugin_id, hook.on_error, exc)
                    return None
            metadata = <object>answer
            Py_DECREF(metadata)  # the call's own reference: the variable holds one now
        else:
            try:
                metadata = hook.fn(metadata)
            except Exception as exc:
                plugin_failed("on_metadata_called", hook.plugin_id, hook.on_error, exc)
                return None
        if metadata is None:
            return None
    return metadata


@cython.freelist(16)
cdef class LogLayer:
    """A structured logger: fields, metadata and errors through plugins to transports.

    Fluent methods (``with_fields``, ``child``, ``with_prefix``, ``with_context``)
    return a new logger and leave the receiver unchanged; mutators (levels, mutes,
    plugins, transports) change only the receiver. Plugin and transport sets are
    shared copy-on-write between a logger and the loggers derived from it.
    """

    cdef _Config _config
    cdef int _levels
    cdef int _active
    cdef bint _enabled
    cdef bint _mute_fields
    cdef bint _mute_metadata
    cdef bint _has_lazy
    cdef object _prefix
    cdef dict _fields
    cdef object _ctx
    cdef _PluginSet _plugins
    cdef tuple _transports
    cdef object __weakref__

    def __init__(self, transports=_OMITTED, plugins=(), level=LogLevel.TRACE, enabled=True,
                 prefix=None, fields=None, fields_key=None, metadata_key=None, error_key="err",
                 error_serializer=None, copy_msg_on_only_error=False, mute_fields=False,
                 mute_metadata=False, on_transport_error=None):
        # Validate everything before building anything.
        cdef _Config config = _Config.__new__(_Config)
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
        slots = [_transport_slot(t) for t in transport_items]

        self._config = config
        self._levels = _mask_from(_index_of(level_value))
        self._enabled = enabled
        self._active = self._levels if enabled else 0
        self._mute_fields = mute_fields
        self._mute_metadata = mute_metadata
        self._prefix = prefix
        self._fields = field_map
        self._has_lazy = has_lazy(field_map)
        self._ctx = None
        self._plugins = _plugin_set(merge_by_id((), records, _record_id))
        self._transports = merge_by_id((), slots, _slot_id)

    def __repr__(self):
        return (f"<LogLayer levels={self._levels:#08b} enabled={self._enabled} "
                f"plugins={len(self._plugins.records)} transports={len(self._transports)}>")

    @staticmethod
    def from_config(config):
        """A new logger built from plain data: a level, and transports and plugins as
        lists of ``{"name": ..., "options": {...}}`` looked up in ``loglayer.registry``.

        See ``loglayer.load_config`` for reading the same shape from TOML or JSON. An
        unknown key or a bad option raises, naming the path of the offending key.
        """
        from loglayer._config import from_config  # the core imports no transport or plugin until asked

        return from_config(config)

    # -- derived loggers -------------------------------------------------------------

    cdef LogLayer _derive(self):
        cdef LogLayer new
        if type(self) is LogLayer:
            new = LogLayer.__new__(LogLayer)
        else:
            new = type(self).__new__(type(self))
        new._config = self._config
        new._levels = self._levels
        new._active = self._active
        new._enabled = self._enabled
        new._mute_fields = self._mute_fields
        new._mute_metadata = self._mute_metadata
        new._has_lazy = self._has_lazy
        new._prefix = self._prefix
        new._fields = self._fields
        new._ctx = self._ctx
        new._plugins = self._plugins
        new._transports = self._transports
        return new

    @cython.binding(False)
    def child(self):
        """A new logger with the same state, sharing plugins and transports copy-on-write."""
        return self._derive()

    def with_prefix(self, prefix):
        """A new logger whose prefix is ``prefix`` (replacing any prefix)."""
        if prefix is not None and not isinstance(prefix, str):
            raise TypeError(f"prefix must be a str or None, got {type(prefix).__name__}")
        cdef LogLayer new = self._derive()
        new._prefix = prefix
        return new

    def with_context(self, ctx):
        """A new logger bound to a request context; dispatch hooks see it as ``ctx``."""
        cdef LogLayer new = self._derive()
        new._ctx = ctx
        return new

    def without_fields(self, *keys):
        """A new logger without the named fields (without any when no key is given)."""
        cdef LogLayer new = self._derive()
        if keys:
            drop = set(keys)
            new._fields = {k: v for k, v in self._fields.items() if k not in drop}
        else:
            new._fields = {}
        new._has_lazy = has_lazy(new._fields)
        return new

    def get_fields(self):
        """A shallow copy of the persistent fields."""
        return PyDict_Copy(self._fields)

    # -- levels and mutes ----------------------------------------------------------

    def set_level(self, level):
        """Enable ``level`` and every level above it; disable those below."""
        self._levels = _mask_from(_index_of(LogLevel.parse(level)))
        self._active = self._levels if self._enabled else 0

    def enable_level(self, level):
        self._levels |= 1 << _index_of(LogLevel.parse(level))
        self._active = self._levels if self._enabled else 0

    def disable_level(self, level):
        self._levels &= ~(1 << _index_of(LogLevel.parse(level)))
        self._active = self._levels if self._enabled else 0

    def enable_logging(self):
        """Turn the master switch on; the per-level state is kept as it was."""
        self._enabled = True
        self._active = self._levels

    def disable_logging(self):
        """Turn the master switch off; the per-level state is kept."""
        self._enabled = False
        self._active = 0

    def is_level_enabled(self, level):
        """True when logging is enabled and ``level`` is."""
        return bool(self._active & (1 << _index_of(LogLevel.parse(level))))

    def mute_fields(self):
        self._mute_fields = True

    def unmute_fields(self):
        self._mute_fields = False

    def mute_metadata(self):
        self._mute_metadata = True

    def unmute_metadata(self):
        self._mute_metadata = False

    # -- plugins and transports ----------------------------------------------------

    def add_plugin(self, *plugins):
        """Add plugins, run after the current ones; one whose ID is present replaces it."""
        records = [PluginRecord(p) for p in plugins]
        with _mutation_lock:
            self._plugins = _plugin_set(merge_by_id(self._plugins.records, records, _record_id))

    def remove_plugin(self, id):
        with _mutation_lock:
            current = self._plugins.records
            kept = tuple([r for r in current if r.id != id])
            if len(kept) == len(current):
                return False
            self._plugins = _plugin_set(kept)
            return True

    def get_plugin(self, id):
        for record in self._plugins.records:
            if record.id == id:
                return record.plugin
        return None

    def plugin_count(self):
        return len(self._plugins.records)

    def plugin_ids(self):
        """The IDs of the plugins, in the order they run."""
        return [record.id for record in self._plugins.records]

    def add_transport(self, *transports):
        """Add transports; one whose ID is present replaces it (and is not closed)."""
        slots = [_transport_slot(t) for t in transports]
        with _mutation_lock:
            self._transports = merge_by_id(self._transports, slots, _slot_id)

    def remove_transport(self, id):
        cdef _TransportSlot slot
        with _mutation_lock:
            kept = tuple([slot for slot in self._transports if slot.id != id])
            if len(kept) == len(self._transports):
                return False
            self._transports = kept
            return True

    def set_transports(self, *transports):
        """Replace the whole transport set (the old transports are not closed)."""
        slots = [_transport_slot(t) for t in transports]
        with _mutation_lock:
            self._transports = merge_by_id((), slots, _slot_id)

    def get_logger_instance(self, id):
        """The transport's underlying logger (``get_logger_instance()``), or None."""
        cdef _TransportSlot slot
        for slot in self._transports:
            if slot.id == id:
                getter = getattr(slot.transport, "get_logger_instance", None)
                return getter() if callable(getter) else slot.transport
        return None

    def flush(self):
        """Flush every current transport; failures go to ``on_transport_error``."""
        cdef _TransportSlot slot
        for slot in self._transports:
            flush = getattr(slot.transport, "flush", None)
            if callable(flush):
                try:
                    flush()
                except Exception as exc:
                    transport_failed(self._config.on_transport_error, slot.id, exc)

    def close(self):
        """Close every current transport; failures go to ``on_transport_error``."""
        cdef _TransportSlot slot
        for slot in self._transports:
            close = getattr(slot.transport, "close", None)
            if callable(close):
                try:
                    close()
                except Exception as exc:
                    transport_failed(self._config.on_transport_error, slot.id, exc)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    # -- emission ------------------------------------------------------------------

    def exception(self, *messages):
        """Inside ``except``: log the exception being handled at ERROR."""
        if self._active & 0b10000:
            self._emit(4, list(messages), None, sys.exc_info()[1], self._ctx, None)

    @cython.binding(False)
    def with_metadata(self, metadata):
        """A builder carrying ``metadata`` (any object) for one entry."""
        cdef LogBuilder builder = LogBuilder.__new__(LogBuilder)
        builder._log = self
        builder._add_metadata(metadata)
        return builder

    @cython.binding(False)
    def with_error(self, error):
        """A builder carrying ``error`` for one entry."""
        if error is not None and not isinstance(error, BaseException):
            raise TypeError(f"with_error() needs an exception, got {type(error).__name__}")
        cdef LogBuilder builder = LogBuilder.__new__(LogBuilder)
        builder._log = self
        builder._error = error
        return builder

    def error_only(self, error, *, level=LogLevel.ERROR, copy_msg=None):
        """Log just an error; with ``copy_msg`` its ``str()`` becomes the message."""
        if not isinstance(error, BaseException):
            raise TypeError(f"error must be an exception, got {type(error).__name__}")
        cdef int index = _index_of(LogLevel.parse(level))
        if not self._active & (1 << index):
            return
        if copy_msg is None:
            copy_msg = self._config.copy_msg_on_only_error
        if copy_msg:
            try:
                messages = [str(error)]
            except Exception:
                messages = [f"<{type(error).__name__}: str() failed>"]
        else:
            messages = []
        self._emit(index, messages, None, error, self._ctx, None)

    def metadata_only(self, metadata, level=LogLevel.INFO):
        """Log just metadata; nothing is sent when metadata is muted or a hook drops it."""
        cdef int index = _index_of(LogLevel.parse(level))
        if not self._active & (1 << index) or self._mute_metadata or metadata is None:
            return
        cdef tuple hooks = self._plugins.metadata
        if hooks:
            metadata = _run_metadata_hooks(hooks, metadata)
            if metadata is None:
                return
        self._emit(index, [], metadata, None, self._ctx, None)

    def raw(self, level, messages, *, metadata=None, error=None, fields=None, ctx=None):
        """Emit with full control, through the whole pipeline.

        Metadata hooks run; fields hooks do not. ``fields`` replaces the logger's
        fields for this entry; ``ctx`` (when not None) replaces its context.
        """
        cdef int index = _index_of(LogLevel.parse(level))
        if error is not None and not isinstance(error, BaseException):
            raise TypeError(f"error must be an exception or None, got {type(error).__name__}")
        if fields is not None:
            fields = check_mapping("fields", fields)
        if not self._active & (1 << index):
            return
        if metadata is not None:
            if self._mute_metadata:
                metadata = None
            elif self._plugins.metadata:
                metadata = _run_metadata_hooks(self._plugins.metadata, metadata)
        self._emit(index, as_message_list(messages), metadata, error,
                   self._ctx if ctx is None else ctx, fields)

    cdef int _emit(self, int index, list messages, object metadata, object error, object ctx,
                   object fields) except -1:
        """Guard against re-entrant logging on this thread, then dispatch."""
        if PyThread_tss_get(&_dispatching) != NULL:
            stderr_line("a log call made while an entry was being dispatched on the same "
                        "thread was dropped (a hook or transport logged)")
            return 0
        PyThread_tss_set(&_dispatching, <void*>1)
        try:
            self._dispatch(index, messages, metadata, error, ctx, fields)
        finally:
            PyThread_tss_set(&_dispatching, NULL)
        return 0

    cdef int _dispatch(self, int index, list messages, object metadata, object error,
                       object ctx, object fields) except -1:
        """Assemble one entry and send it. The level filter has already passed."""
        cdef long long time_ns = loglayer_now_ns()
        cdef _Config config = self._config
        cdef dict field_map
        cdef dict data
        cdef bint owned
        cdef _Hook hook
        cdef HookParams params = None
        cdef PyObject* native_answer
        cdef object level = <object>_LEVELS[index]
        cdef int number = _LEVEL_NUMBERS[index]

        if fields is None:
            field_map = self._fields
            if self._has_lazy:
                field_map = resolve_lazy(field_map)
        else:
            field_map = <dict>fields
            if has_lazy(field_map):
                field_map = resolve_lazy(field_map)
        if _context_on:
            bound = get_value(context_fields)
            if bound:  # request-scoped fields, under the logger's own
                if field_map:
                    bound = PyDict_Copy(bound)
                    (<dict>bound).update(field_map)
                field_map = <dict?>bound
        if self._mute_fields:
            field_map = {}
        if config.fields_key is None:
            data = field_map
        else:
            data = {config.fields_key: field_map} if field_map else {}
        if error is not None:
            if data is field_map:
                data = PyDict_Copy(field_map)
            data[config.error_key] = serialize_error_safely(config.error_serializer, error)
        cdef list message_list = messages
        cdef _PluginSet plugins = self._plugins

        if plugins.has_dispatch:
            if plugins.needs_params:
                params = HookParams.__new__(HookParams)
                params.level = level
                params.messages = message_list
                params.data = data
                params.metadata = metadata
                params.error = error
                params.fields = field_map
                params.ctx = ctx
                params.prefix = self._prefix
            if plugins.data:
                owned = data is not field_map
                for hook in plugins.data:
                    if hook.native_data != NULL:
                        native_answer = hook.native_data(hook.fn, data)
                        if native_answer == NULL:
                            try:
                                _raise_pending()
                            except Exception as exc:
                                plugin_failed("on_before_data_out", hook.plugin_id,
                                              hook.on_error, exc)
                                continue
                        result = <object>native_answer
                        Py_DECREF(result)  # the call's own reference
                    else:
                        params.data = data
                        try:
                            result = hook.fn(params)
                        except Exception as exc:
                            plugin_failed("on_before_data_out", hook.plugin_id,
                                          hook.on_error, exc)
                            continue
                    if result is None:
                        continue
                    if not isinstance(result, Mapping):
                        plugin_failed("on_before_data_out", hook.plugin_id, hook.on_error,
                                      TypeError(f"returned {type(result).__name__}, "
                                                "not a mapping"))
                        continue
                    if not owned:
                        data = PyDict_Copy(data)
                        owned = True
                    data.update(result)
                if params is not None:
                    params.data = data
            for hook in plugins.message:
                try:
                    result = hook.fn(params)
                except Exception as exc:
                    plugin_failed("on_before_message_out", hook.plugin_id, hook.on_error, exc)
                    continue
                if result is None:
                    continue
                if not isinstance(result, (list, tuple)):
                    plugin_failed("on_before_message_out", hook.plugin_id, hook.on_error,
                                  TypeError(f"returned {type(result).__name__}, not a list"))
                    continue
                message_list = list(result)
                params.messages = message_list
            for hook in plugins.level:
                try:
                    result = hook.fn(params)
                except Exception as exc:
                    plugin_failed("transform_log_level", hook.plugin_id, hook.on_error, exc)
                    continue
                if result is None:
                    continue
                try:
                    level = LogLevel.parse(result)
                except ValueError as exc:
                    plugin_failed("transform_log_level", hook.plugin_id, hook.on_error, exc)
                    continue
                index = _index_of(level)
                number = _LEVEL_NUMBERS[index]
                params.level = level

        cdef LogEntry entry = LogEntry.__new__(LogEntry)
        entry._slot = index
        entry.level = level
        entry.messages = message_list
        entry.data = data
        entry.metadata = metadata
        entry.error = error
        entry.fields = field_map
        entry.ctx = ctx
        entry.prefix = self._prefix
        entry.time_ns = time_ns
        entry.metadata_key = config.metadata_key

        cdef tuple gates = plugins.send
        cdef unsigned long long gates_asked = 0  # native gates, one bit each
        cdef unsigned long long gates_sending = 0
        cdef unsigned long long bit
        cdef int native_number
        cdef int answer
        cdef _TransportSlot slot
        cdef Transport base
        cdef LineTransport line_transport
        cdef bint allowed
        cdef object rendered_format = None
        cdef object rendered = None
        for slot in self._transports:
            base = slot.base
            if base is not None:
                if not base.enabled or number < base._min_level:
                    continue
            else:
                if not getattr(slot.transport, "enabled", True):
                    continue
                minimum = getattr(slot.transport, "level", None)
                if minimum is not None and number < min_level_of(minimum):
                    continue
            if gates:
                if params is not None:
                    params.transport_id = slot.id
                allowed = True
                native_number = 0
                for hook in gates:
                    if hook.native_gate == NULL:
                        try:
                            if not hook.fn(params):
                                allowed = False
                                break
                        except Exception as exc:
                            plugin_failed("should_send", hook.plugin_id, hook.on_error, exc)
                        continue
                    # A native gate answers once per entry; its answer is kept for the
                    # entry's other transports.
                    bit = (<unsigned long long>1) << native_number
                    native_number += 1
                    if not (gates_asked & bit):
                        # Called outside a try block, which would cost every entry an
                        # exception-state save: the error path raises what it set.
                        answer = hook.native_gate(hook.fn, index)
                        if answer < 0:
                            try:
                                _raise_pending()
                            except Exception as exc:  # fails open; asked again next transport
                                plugin_failed("should_send", hook.plugin_id, hook.on_error,
                                              exc)
                                continue
                        gates_asked |= bit
                        if answer:
                            gates_sending |= bit
                    if not (gates_sending & bit):
                        allowed = False
                        break
                if not allowed:
                    continue
            try:
                line_transport = slot.line
                if line_transport is None:
                    slot.send(entry)
                else:
                    # Transports sharing a format share one rendering of the entry.
                    if line_transport._format is not rendered_format:
                        rendered = line_transport._render(entry)
                        rendered_format = line_transport._format
                    line_transport._write_line(rendered)
            except Exception as exc:
                transport_failed(config.on_transport_error, slot.id, exc)
        if _taps:
            for tap in _taps:
                try:
                    tap.send(entry)
                except Exception as exc:
                    transport_failed(config.on_transport_error, "tap", exc)
        return 0


@cython.final
@cython.freelist(16)
cdef class LogBuilder:
    """One entry under construction: metadata, an error, a context, then a level call."""

    cdef LogLayer _log
    cdef object _metadata
    cdef object _error
    cdef object _ctx
    cdef bint _has_ctx

    def __init__(self, LogLayer log not None):
        self._log = log

    cdef int _add_metadata(self, object metadata) except -1:
        cdef LogLayer log = self._log
        if metadata is None or log._mute_metadata:
            return 0
        cdef tuple hooks = log._plugins.metadata
        if hooks:
            metadata = _run_metadata_hooks(hooks, metadata)
            if metadata is None:
                return 0
        current = self._metadata
        if current is not None and type(current) is dict and type(metadata) is dict:
            merged = PyDict_Copy(current)
            merged.update(metadata)
            metadata = merged
        self._metadata = metadata
        return 0

    @cython.binding(False)
    def with_metadata(self, metadata):
        """Attach metadata; a second call merges when both are dicts, else replaces.

        The metadata hooks run now; a hook returning None drops this metadata and
        keeps what an earlier call attached.
        """
        self._add_metadata(metadata)
        return self

    @cython.binding(False)
    def with_error(self, error):
        """Attach an exception; it is serialized under the logger's ``error_key``."""
        if error is not None and not isinstance(error, BaseException):
            raise TypeError(f"with_error() needs an exception, got {type(error).__name__}")
        self._error = error
        return self

    def with_context(self, ctx):
        """Use ``ctx`` as this entry's request context (None included)."""
        self._ctx = ctx
        self._has_ctx = True
        return self



# -- raw METH_FASTCALL entry points -----------------------------------------------------
#
# Cython wraps ``def f(self, *messages)`` in a varargs entry point that builds a tuple
# and checks for keywords before the body runs: about 27 ns more than a METH_O call,
# which is more than the whole disabled-level path should cost. The level methods and
# ``with_fields`` are therefore C functions installed into the type's dict as
# METH_FASTCALL method descriptors. A disabled call is one bit test; an enabled one
# builds the message list straight from the argument array, and ``with_fields`` reads
# keyword names without building a kwargs dict.

cdef inline list _list_from(PyObject** args, Py_ssize_t count):
    cdef list out = PyList_New(count)
    cdef Py_ssize_t i
    for i in range(count):
        Py_INCREF(<object>args[i])
        PyList_SET_ITEM(out, i, <object>args[i])
    return out


cdef inline PyObject* _return_none():
    Py_INCREF(None)
    return <PyObject*>None


cdef inline PyObject* _log_at(PyObject* self, PyObject** args, Py_ssize_t nargs,
                              int index) except NULL:
    cdef LogLayer log = <LogLayer>self
    if log._active & (1 << index):
        log._emit(index, _list_from(args, nargs), None, None, log._ctx, None)
        if index == 5:
            log.flush()
    return _return_none()


cdef inline PyObject* _build_at(PyObject* self, PyObject** args, Py_ssize_t nargs,
                                int index) except NULL:
    cdef LogBuilder builder = <LogBuilder>self
    cdef LogLayer log = builder._log
    if log._active & (1 << index):
        log._emit(index, _list_from(args, nargs), builder._metadata, builder._error,
                  builder._ctx if builder._has_ctx else log._ctx, None)
        if index == 5:
            log.flush()
    return _return_none()


cdef PyObject* _log_trace(PyObject* s, PyObject** a, Py_ssize_t n) except NULL:
    return _log_at(s, a, n, 0)

cdef PyObject* _log_debug(PyObject* s, PyObject** a, Py_ssize_t n) except NULL:
    return _log_at(s, a, n, 1)

cdef PyObject* _log_info(PyObject* s, PyObject** a, Py_ssize_t n) except NULL:
    return _log_at(s, a, n, 2)

cdef PyObject* _log_warn(PyObject* s, PyObject** a, Py_ssize_t n) except NULL:
    return _log_at(s, a, n, 3)

cdef PyObject* _log_error(PyObject* s, PyObject** a, Py_ssize_t n) except NULL:
    return _log_at(s, a, n, 4)

cdef PyObject* _log_fatal(PyObject* s, PyObject** a, Py_ssize_t n) except NULL:
    return _log_at(s, a, n, 5)

cdef PyObject* _build_trace(PyObject* s, PyObject** a, Py_ssize_t n) except NULL:
    return _build_at(s, a, n, 0)

cdef PyObject* _build_debug(PyObject* s, PyObject** a, Py_ssize_t n) except NULL:
    return _build_at(s, a, n, 1)

cdef PyObject* _build_info(PyObject* s, PyObject** a, Py_ssize_t n) except NULL:
    return _build_at(s, a, n, 2)

cdef PyObject* _build_warn(PyObject* s, PyObject** a, Py_ssize_t n) except NULL:
    return _build_at(s, a, n, 3)

cdef PyObject* _build_error(PyObject* s, PyObject** a, Py_ssize_t n) except NULL:
    return _build_at(s, a, n, 4)

cdef PyObject* _build_fatal(PyObject* s, PyObject** a, Py_ssize_t n) except NULL:
    return _build_at(s, a, n, 5)


cdef bint _values_have_lazy(dict values):
    cdef Py_ssize_t pos = 0
    cdef PyObject* key
    cdef PyObject* value
    while PyDict_Next(values, &pos, &key, &value):
        if type(<object>value) is lazy:
            return True
    return False


cdef PyObject* _log_with_fields(PyObject* s, PyObject** args, Py_ssize_t nargs,
                                PyObject* kwnames) except NULL:
    cdef object new = _with_fields(<LogLayer>s, args, nargs, kwnames)
    Py_INCREF(new)  # the caller of a METH_FASTCALL function owns the result
    return <PyObject*>new


cdef LogLayer _with_fields(LogLayer log, PyObject** args, Py_ssize_t nargs, PyObject* kwnames):
    cdef tuple names = () if kwnames == NULL else <tuple><object>kwnames
    cdef Py_ssize_t nkw = PyTuple_GET_SIZE(names)
    cdef Py_ssize_t i
    cdef object mapping = None
    cdef dict added
    cdef dict merged
    cdef _Hook hook
    cdef LogLayer new
    if nargs > 1:
        raise TypeError(f"with_fields() takes at most 1 positional argument ({nargs} given)")
    if nargs == 1:
        mapping = <object>args[0]
        if mapping is not None and type(mapping) is not dict and not isinstance(mapping, Mapping):
            raise TypeError(f"with_fields() needs a mapping, got {type(mapping).__name__}")
    cdef tuple hooks = log._plugins.fields
    if not hooks:
        new = log._derive()
        if (mapping is None or not mapping) and nkw == 0:
            return new
        merged = PyDict_Copy(log._fields)
        if mapping is not None:
            merged.update(mapping)
        for i in range(nkw):
            PyDict_SetItem(merged, names[i], <object>args[nargs + i])
        new._fields = merged
        new._has_lazy = log._has_lazy or _values_have_lazy(merged)
        return new
    # With fields hooks: they see the new fields as one dict.
    if mapping is None:
        added = {}
    elif nkw:
        added = dict(mapping)
    else:
        added = None
    for i in range(nkw):
        added[names[i]] = <object>args[nargs + i]
    cdef object new_fields = mapping if added is None else added
    for hook in hooks:
        try:
            if hook.native_value != NULL:
                result = _value_or_raise(hook.native_value(hook.fn, new_fields))
            else:
                result = hook.fn(new_fields)
        except Exception as exc:
            plugin_failed("on_fields_called", hook.plugin_id, hook.on_error, exc)
            return log._derive()
        if result is None:
            return log._derive()
        if not isinstance(result, Mapping):
            plugin_failed("on_fields_called", hook.plugin_id, hook.on_error,
                          TypeError(f"returned {type(result).__name__}, not a mapping"))
            return log._derive()
        new_fields = result
    new = log._derive()
    if new_fields:
        merged = PyDict_Copy(log._fields)
        merged.update(new_fields)
        new._fields = merged
        new._has_lazy = log._has_lazy or has_lazy(new_fields)
    return new


cdef PyMethodDef[16] _fast_methods
cdef int _fast_method_count = 0


cdef _install(type cls, const char* name, void* function, int flags, const char* doc):
    """Put a METH_FASTCALL C function into ``cls`` as the method ``name``."""
    global _fast_method_count
    cdef PyMethodDef* method = &_fast_methods[_fast_method_count]
    _fast_method_count += 1
    method.ml_name = name
    method.ml_meth = <PyCFunction>function
    method.ml_flags = flags
    method.ml_doc = doc
    descriptor = PyDescr_NewMethod(<PyTypeObject*>cls, method)
    (<dict><object>(<PyTypeObject*>cls).tp_dict)[descriptor.__name__] = descriptor
    PyType_Modified(cls)


_install(LogLayer, b"trace", <void*>_log_trace, METH_FASTCALL,
         b"trace($self, /, *messages)\n--\n\nLog the messages at TRACE.")
_install(LogLayer, b"debug", <void*>_log_debug, METH_FASTCALL,
         b"debug($self, /, *messages)\n--\n\nLog the messages at DEBUG.")
_install(LogLayer, b"info", <void*>_log_info, METH_FASTCALL,
         b"info($self, /, *messages)\n--\n\nLog the messages at INFO.")
_install(LogLayer, b"warn", <void*>_log_warn, METH_FASTCALL,
         b"warn($self, /, *messages)\n--\n\nLog the messages at WARN.")
_install(LogLayer, b"warning", <void*>_log_warn, METH_FASTCALL,
         b"warning($self, /, *messages)\n--\n\nAlias of warn.")
_install(LogLayer, b"error", <void*>_log_error, METH_FASTCALL,
         b"error($self, /, *messages)\n--\n\nLog the messages at ERROR.")
_install(LogLayer, b"fatal", <void*>_log_fatal, METH_FASTCALL,
         b"fatal($self, /, *messages)\n--\n\n"
         b"Log at FATAL and flush the transports. It never exits the process.")
_install(LogLayer, b"with_fields", <void*>_log_with_fields, METH_FASTCALL | METH_KEYWORDS,
         b"with_fields($self, mapping=None, /, **fields)\n--\n\n"
         b"A new logger with these fields merged over the current ones.\n\n"
         b"The fields hooks see the new fields first; one returning None drops the call\n"
         b"(the new logger keeps the existing fields).")
_install(LogBuilder, b"trace", <void*>_build_trace, METH_FASTCALL,
         b"trace($self, /, *messages)\n--\n\nSend the entry at TRACE.")
_install(LogBuilder, b"debug", <void*>_build_debug, METH_FASTCALL,
         b"debug($self, /, *messages)\n--\n\nSend the entry at DEBUG.")
_install(LogBuilder, b"info", <void*>_build_info, METH_FASTCALL,
         b"info($self, /, *messages)\n--\n\nSend the entry at INFO.")
_install(LogBuilder, b"warn", <void*>_build_warn, METH_FASTCALL,
         b"warn($self, /, *messages)\n--\n\nSend the entry at WARN.")
_install(LogBuilder, b"warning", <void*>_build_warn, METH_FASTCALL,
         b"warning($self, /, *messages)\n--\n\nAlias of warn.")
_install(LogBuilder, b"error", <void*>_build_error, METH_FASTCALL,
         b"error($self, /, *messages)\n--\n\nSend the entry at ERROR.")
_install(LogBuilder, b"fatal", <void*>_build_fatal, METH_FASTCALL,
         b"fatal($self, /, *messages)\n--\n\n"
         b"Send the entry at FATAL and flush the transports. It never exits the process.")


# -- compiled renderers ----------------------------------------------------------------
#
# The hot paths of ``loglayer._render_py`` in C: the common shapes (str keys, str
# messages, no control characters, values orjson takes) are handled here; everything
# unusual goes to the pure module's helpers, so both cores write the same bytes.

import orjson

from loglayer import _render_py as _pure
from loglayer._multiline import Multiline
from loglayer.utils._tomap import to_map


cdef object _dumps = orjson.dumps
cdef object _json_default = _pure._default
cdef object _JSON_OPTIONS = _pure._OPTIONS
cdef tuple _JSON_LEVEL_NAMES = tuple([level.name.lower() for level in _LEVELS])
cdef tuple _MILLIS = _pure._MILLIS
cdef tuple _MILLIS_Z = _pure._MILLIS_Z
cdef long long _NS_PER_SECOND = 1000000000
cdef long long _NS_PER_MS = 1000000


cdef bint _needs_escape(str text):
    """True when ``text`` holds a character that could end or forge a console line:
    C0 and C1 controls, DEL, and the two Unicode line separators."""
    cdef Py_ssize_t i, n = PyUnicode_GET_LENGTH(text)
    cdef int kind = PyUnicode_KIND(text)
    cdef void* data = PyUnicode_DATA(text)
    cdef Py_UCS4 c
    for i in range(n):
        c = PyUnicode_READ(kind, data, i)
        if c < 0x20 or 0x7F <= c < 0xA0 or c == 0x2028 or c == 0x2029:
            return True
    return False


cdef inline str _escaped(str text):
    return _pure._escape(text) if _needs_escape(text) else text


cdef bint _is_bare(str text):
    """A console value written without quotes: non-empty, no space, '=', '"' or control."""
    cdef Py_ssize_t i, n = PyUnicode_GET_LENGTH(text)
    if n == 0:
        return False
    cdef int kind = PyUnicode_KIND(text)
    cdef void* data = PyUnicode_DATA(text)
    cdef Py_UCS4 c
    for i in range(n):
        c = PyUnicode_READ(kind, data, i)
        if (c <= 0x20 or c == 0x3D or c == 0x22 or 0x7F <= c < 0xA0 or c == 0x2028
                or c == 0x2029):
            return False
    return True


cdef inline str _as_text(object obj):
    return obj if type(obj) is str else text_of(obj)


cdef str _message_text(list messages, object prefix):
    """The prefix (when non-empty) and the messages as text, joined by one space."""
    cdef list parts
    if prefix:
        parts = [_as_text(prefix)]
    elif len(messages) == 1:
        return _as_text(messages[0])
    else:
        parts = []
    for message in messages:
        parts.append(_as_text(message))
    return " ".join(parts)


@cython.final
cdef class JsonFormat(_Format):
    """How a JSON line names its three fixed keys and writes the time.

    The compiled twin of ``loglayer._render_py.JsonFormat``; it is validated by it, and
    renders the same bytes.
    """

    cdef readonly object message_key
    cdef readonly object level_key
    cdef readonly object time_key
    cdef readonly object time_format
    cdef object _reference
    cdef int _time_mode
    cdef dict _renames
    cdef long long _iso_second
    cdef object _iso_head

    def __init__(self, message_key="msg", level_key="level", time_key="time",
                 time_format="iso"):
        reference = _pure.JsonFormat(message_key, level_key, time_key, time_format)
        self._reference = reference
        self.binary = True
        self.message_key = reference.message_key
        self.level_key = reference.level_key
        self.time_key = reference.time_key
        self.time_format = reference.time_format
        self._time_mode = reference._time_mode
        self._renames = reference._renames
        self._iso_second = -1
        self._iso_head = None

    def __repr__(self):
        return (f"JsonFormat(message_key={self.message_key!r}, level_key={self.level_key!r}, "
                f"time_key={self.time_key!r}, time_format={self.time_format!r})")

    cdef object _iso_time(self, long long time_ns):
        cdef long long seconds = time_ns // _NS_PER_SECOND
        if seconds != self._iso_second:
            self._iso_head = _pure._iso_head(seconds)
            self._iso_second = seconds
        return self._iso_head + <str>_MILLIS_Z[(time_ns % _NS_PER_SECOND) // _NS_PER_MS]

    cdef inline object _root_key(self, object key):
        if type(key) is not str:
            key = text_of(key)
        renamed = self._renames.get(key)
        return key if renamed is None else renamed

    cdef object _render(self, LogEntry entry):
        cdef int slot = entry._slot
        if slot < 0 or entry.time_ns < 0:
            return _pure.render_json(entry, self._reference)
        metadata = entry.metadata
        cdef dict data = entry.data
        cdef Py_ssize_t size = 3 + len(data)
        if type(metadata) is dict:
            size += len(<dict>metadata)
        cdef dict root = loglayer_presized_dict(size)
        cdef dict mapped
        cdef int mode = self._time_mode
        if mode == 1:
            root[self.time_key] = self._iso_time(entry.time_ns)
        elif mode == 2:
            root[self.time_key] = entry.time_ns / 1e9
        elif mode == 3:
            root[self.time_key] = entry.time_ns // _NS_PER_MS
        elif mode == 4:
            root[self.time_key] = entry.time_ns
        root[self.level_key] = _JSON_LEVEL_NAMES[slot]
        root[self.message_key] = _message_text(entry.messages, entry.prefix)
        # Data and metadata go in with dict.update. Had any key landed on a key already
        # there (a reserved key, or a data key the metadata repeats), the dict would be
        # shorter than the keys put in: then the pure module's exact path, which renames
        # reserved keys, builds the line. A non-str key is left as it is here; orjson
        # refuses it, and the exact path builds the line too.
        cdef Py_ssize_t expected = len(root)
        if data:
            root.update(data)
            expected += len(data)
        if metadata is not None:
            mapped = metadata if type(metadata) is dict else to_map(metadata)
            metadata_key = entry.metadata_key
            if mapped is None:
                root[self._root_key(metadata_key or "metadata")] = metadata
            elif metadata_key:
                root[self._root_key(metadata_key)] = mapped
            else:
                root.update(mapped)
                expected += len(mapped) - 1
            expected += 1
        if len(root) != expected:
            return _pure._render_json_exact(entry, self._reference)
        try:
            return _dumps(root, _json_default, _JSON_OPTIONS)
        except Exception:
            return _pure._render_json_exact(entry, self._reference)


@cython.final
cdef class ConsoleFormat(_Format):
    """How a console line is laid out: colours, the time column, the error key.

    The compiled twin of ``loglayer._render_py.ConsoleFormat``; it is validated by it,
    and renders the same text.
    """

    cdef readonly bint colors
    cdef readonly bint show_time
    cdef readonly object error_key
    cdef object _reference
    cdef tuple _labels
    cdef str _time_open
    cdef str _time_close
    cdef str _key_open
    cdef str _key_close
    cdef long long _clock_second
    cdef object _clock_head

    def __init__(self, colors, show_time, error_key="err"):
        reference = _pure.ConsoleFormat(colors, show_time, error_key)
        self._reference = reference
        self.binary = False
        self.colors = reference.colors
        self.show_time = reference.show_time
        self.error_key = reference.error_key
        self._labels = tuple([reference._levels[int(level)] for level in _LEVELS])
        self._time_open = reference._time_open
        self._time_close = reference._time_close
        self._key_open = reference._key_open
        self._key_close = reference._key_close
        self._clock_second = -1
        self._clock_head = None

    def __repr__(self):
        return (f"ConsoleFormat(colors={self.colors!r}, show_time={self.show_time!r}, "
                f"error_key={self.error_key!r})")

    cdef str _value(self, object value):
        if isinstance(value, str):
            if _is_bare(<str>value):
                return value
        elif value is None:
            return "null"
        elif value is True:
            return "true"
        elif value is False:
            return "false"
        elif type(value) is int and -9223372036854775808 <= value <= 18446744073709551615:
            return str(value)
        return _pure._json_text(value)

    cdef str _pair(self, object key, object value):
        return self._key_open + _escaped(_as_text(key)) + self._key_close + self._value(value)

    cdef str _messages(self, list messages):
        cdef list parts
        if len(messages) == 1 and type(messages[0]) is str:
            return _escaped(<str>messages[0])
        parts = []
        for message in messages:
            if type(message) is str:
                parts.append(_escaped(<str>message))
            elif isinstance(message, Multiline):
                parts.append(_pure._MULTILINE_JOIN.join(
                    [_escaped(line) for line in (<object>message).lines]))
            else:
                parts.append(_escaped(text_of(message)))
        return " ".join(parts)

    cdef object _render(self, LogEntry entry):
        cdef int slot = entry._slot
        if slot < 0 or entry.time_ns < 0:
            return _pure.render_console(entry, self._reference)
        cdef list parts = []
        cdef long long seconds
        if self.show_time:
            seconds = entry.time_ns // _NS_PER_SECOND
            if seconds != self._clock_second:
                self._clock_head = self._time_open + _pure._clock_head(seconds)
                self._clock_second = seconds
            parts.append(self._clock_head
                         + <str>_MILLIS[(entry.time_ns % _NS_PER_SECOND) // _NS_PER_MS]
                         + self._time_close)
        parts.append(self._labels[slot])
        prefix = entry.prefix
        if prefix:
            parts.append(_escaped(_as_text(prefix)) + " ")
        parts.append(self._messages(entry.messages))
        error = entry.error
        error_key = self.error_key if error is not None else None
        if entry.data:
            for key, value in (<dict>entry.data).items():
                key = _as_text(key)
                if error_key is not None and key == error_key:
                    parts.append(self._key_open + _escaped(key) + self._key_close
                                 + _pure._error_summary(error))
                    error_key = None
                else:
                    parts.append(self._pair(key, value))
        if error_key is not None:
            parts.append(self._key_open + _escaped(error_key) + self._key_close
                         + _pure._error_summary(error))
        metadata = entry.metadata
        if metadata is not None:
            mapped = metadata if type(metadata) is dict else to_map(metadata)
            if mapped is None:
                parts.append(self._key_open + "metadata" + self._key_close
                             + self._value(metadata))
            else:
                for key, value in mapped.items():
                    parts.append(self._pair(key, value))
        parts.append("\n")
        if isinstance(error, BaseException) and error.__traceback__ is not None:
            parts.append(_pure._indented_traceback(error))
        return "".join(parts)
