# cython: language_level=3, binding=True
# cython: embedsignature=True, embedsignature.format=clinic
"""The compiled kernel of loglayer (``loglayer._core``): the emission pipeline.

It keeps the behaviour of ``loglayer._core_py`` line for line, with the hot state in
C: the level bitmap is a C int, each plugin's hooks are resolved into typed slots
(tuples of ``_Hook`` records per hook, plus flags) when the plugin is added, entries
and builders come from freelists, the clock is read with one C call, and the
re-entrancy guard is a thread-specific C pointer. A logger with no dispatch hooks
never builds a params object.

The kernel knows no transport, renderer, plugin or configuration. Its declarations
are in ``cext/loglayer/_core.pxd``: ``loglayer._render`` subclasses ``LineSink`` to
render and write lines in C, and the queue's worker and the gRPC plugin SDK run
plugins with ``run_hooks`` and ``allows``, the same code the logger dispatches with,
so SPEC §4's rules are written here and in the pure twin only. The assembly layer
above tells the kernel what ``LogLayer()`` with no transports uses, what
``LogLayer.from_config`` builds with, and which taps see every entry.

Native hooks: loglayer's own compiled plugins (the ``redact`` hooks, the samplers)
are called from C with no params object and no Python call, through the capsule ABI
declared in ``cext/loglayer/_hookabi.pxd``. The core asks a native gate at most once
per entry, at the first transport that reaches it, and gives the entry's other
transports the same answer.

Cold paths (validation, error reporting, ``lazy``) call the same helpers as the pure
twin, in ``loglayer._common`` and ``loglayer._validate``, so both report problems with
the same words.
"""

cimport cython
from cpython.contextvars cimport get_value
from cpython.dict cimport PyDict_Copy, PyDict_Next, PyDict_SetItem
from cpython.list cimport PyList_New, PyList_SET_ITEM
from cpython.object cimport PyCFunction, PyMethodDef, PyObject, PyTypeObject
from cpython.ref cimport Py_DECREF, Py_INCREF
from cpython.tuple cimport PyTuple_GET_SIZE
from cpython.type cimport PyType_Modified
from cpython.pythread cimport PyThread_tss_create, PyThread_tss_get, PyThread_tss_set

from loglayer._hookabi cimport data_hook_of, gate_of, value_hook_of

import sys
import threading
from collections.abc import Mapping
from contextvars import copy_context

from loglayer._common import (
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
from loglayer._callsite import plumbing_files
from loglayer._family import LEVEL_MANAGERS, LevelNode
from loglayer._routing import build_routing, check_group_names, empty_routing, merge_tags
from loglayer._validate import (
    LOGGER_FIELD,
    check_bool,
    check_choice,
    check_int,
    check_key,
    check_level,
    check_mapping,
    named_fields,
)
from loglayer.levels import LogLevel

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
    #include <frameobject.h>
    /* The emission site for LogLayer(source=True): walking out from the innermost
       Python frame (this kernel's level methods push none), the first frame whose
       co_filename is not in ``plumbing`` (a frozenset), then ``skip`` more such frames;
       the outermost one when the stack ends first. A new dict {file, line, function},
       None when there is no such frame, NULL with an exception set on failure. */
    static PyObject* loglayer_caller(PyObject* plumbing, Py_ssize_t skip, PyObject* kfile,
                                     PyObject* kline, PyObject* kfunc) {
        PyFrameObject* frame = PyEval_GetFrame();
        PyFrameObject* found = NULL;
        PyObject* result;
        Py_XINCREF(frame);
        while (frame != NULL) {
            PyCodeObject* code = PyFrame_GetCode(frame);
            int internal = PySet_Contains(plumbing, code->co_filename);
            Py_DECREF(code);
            if (internal < 0) {
                Py_DECREF(frame);
                Py_XDECREF(found);
                return NULL;
            }
            if (!internal) {
                Py_XDECREF(found);
                Py_INCREF(frame);
                found = frame;
                if (skip <= 0) {
                    break;
                }
                skip--;
            }
            PyFrameObject* back = PyFrame_GetBack(frame);
            Py_DECREF(frame);
            frame = back;
        }
        Py_XDECREF(frame);
        if (found == NULL) {
            Py_RETURN_NONE;
        }
        PyCodeObject* code = PyFrame_GetCode(found);
        PyObject* line = PyLong_FromLong(PyFrame_GetLineNumber(found));
        Py_DECREF(found);
        result = line == NULL ? NULL : PyDict_New();
        if (result != NULL && (PyDict_SetItem(result, kfile, code->co_filename) < 0
                               || PyDict_SetItem(result, kline, line) < 0
                               || PyDict_SetItem(result, kfunc, code->co_name) < 0)) {
            Py_CLEAR(result);
        }
        Py_XDECREF(line);
        Py_DECREF(code);
        return result;
    }
    """
    object loglayer_caller(object plumbing, Py_ssize_t skip, object kfile, object kline,
                           object kfunc)


cdef extern from "Python.h":
    int METH_FASTCALL
    int METH_KEYWORDS
    object PyDescr_NewMethod(PyTypeObject* type, PyMethodDef* method)


# Level bit index (TRACE 0, DEBUG 1 ... FATAL 5) <-> level number and LogLevel member.
cdef int[6] _LEVEL_NUMBERS = [5, 10, 20, 30, 40, 50]
cdef tuple _LEVELS = tuple([LogLevel.parse(n) for n in (5, 10, 20, 30, 40, 50)])
cdef int _ALL_LEVELS = 0b111111

cdef object _mutation_lock = threading.RLock()
# What this thread is doing: NULL nothing; _DISPATCHING an entry; _DEFERRED an entry,
# and signal handlers logged meanwhile (_deferred.entries holds theirs); _DELIVERING
# those deferred entries, right after the emission they interrupted.
cdef Py_tss_t _dispatching
cdef void* _DISPATCHING = <void*>1
cdef void* _DEFERRED = <void*>2
cdef void* _DELIVERING = <void*>3
# Entries deferred so far, by any thread: an emission that sees it unchanged at its end
# knows, without asking the thread-specific state again, that it has none to deliver.
cdef unsigned long long _deferrals = 0
cdef bint _context_on = False
# What call-site capture skips (loglayer._callsite.plumbing_files), set by the first
# logger made with source=True; and the keys of the source dict.
cdef object _plumbing = None
cdef str _KEY_FILE = "file"
cdef str _KEY_LINE = "line"
cdef str _KEY_FUNCTION = "function"

if PyThread_tss_create(&_dispatching) != 0:
    raise MemoryError("loglayer: could not create the thread-specific dispatch flag")


def _turn_context_fields_on():
    global _context_on
    _context_on = True


on_context_fields_enabled(_turn_context_fields_on)


# -- what the assembly layer wires in ----------------------------------------------------

cdef object _default_transport_factory = None
cdef object _config_builder = None
cdef tuple _taps = ()


def _set_default_transport_factory(factory):
    """Tell the kernel what ``LogLayer()`` with no transports uses (a callable)."""
    global _default_transport_factory
    _default_transport_factory = factory


def _set_config_builder(builder):
    """Tell the kernel what ``LogLayer.from_config`` calls."""
    global _config_builder
    _config_builder = builder


def _set_taps(taps):
    """Transports (a tuple) that receive every entry any logger of this core emits."""
    global _taps
    _taps = tuple(taps)


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


cdef inline int _parsed_index(object level) except -1:
    """The bit index of any level spelling ``LogLevel.parse`` takes; a member costs no
    Python call."""
    cdef int slot = _level_slot(level)
    return slot if slot >= 0 else _index_of(LogLevel.parse(level))


cdef inline int _mask_from(int index):
    """The bitmap with the level at ``index`` and every level above it enabled."""
    return _ALL_LEVELS & ~((1 << index) - 1)


def _record_id(record):
    return record.id


def _slot_id(_TransportSlot slot):
    return slot.id


# A cdef class's __init__ is a slot wrapper, which has no signature; so each public
# class's docstring starts with its signature and "--", the form CPython turns into
# __text_signature__ (what inspect.signature and help() read) and leaves out of __doc__.
cdef class Transport:
    """Transport(id='', *, level=None, enabled=True)
--

Convenient base class for transports.

    Subclasses implement ``send(entry)``; ``flush()`` and ``close()`` are no-ops
    here. ``enabled`` and ``level`` are read at every emission, so they may be
    changed at run time. An empty ``id`` is replaced by a generated one.
    """

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
        """Deliver one entry; subclasses implement it."""
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


cdef class LineSink(Transport):
    """Base of the transports that write one rendered line per entry.

    A subclass sets ``_format`` (the object whose rendering transports may share) and
    implements the C methods ``_render(entry)`` and ``_write_line(line)``. When it does
    not override ``send`` or ``write_line``, the kernel calls those C methods itself:
    one rendering per format per entry, and no Python-level ``send`` frame.
    """

    cdef object _render(self, LogEntry entry):
        raise NotImplementedError(f"{type(self).__name__} must implement _render")

    cdef int _write_line(self, object line) except -1:
        raise NotImplementedError(f"{type(self).__name__} must implement _write_line")

    def send(self, LogEntry entry not None):
        """Render the entry and write the line (``write_line``)."""
        line = self._render(entry)
        if getattr(type(self), "write_line") is _SINK_WRITE_LINE:
            self._write_line(line)
        else:
            self.write_line(line)

    def write_line(self, line):
        """Write one rendered line, converted to what the stream takes."""
        self._write_line(line)


@cython.final
@cython.freelist(64)
cdef class LogEntry:
    """LogEntry(level, messages, data, metadata, error, fields, ctx, prefix, time_ns, metadata_key, error_key='err', source=None, groups=())
--

What a transport receives: one log event, never reused after ``send`` returns.

    Transports must not mutate ``data``: the same dict goes to every transport.
    ``error_key`` is the logger's: the key of ``data`` that holds the serialized error.
    ``source`` is the call site (``{"file", "line", "function"}``) when the logger
    captures it (``source=True``), else None; ``groups`` the entry's group tags.
    """

    def __init__(self, level, messages, data, metadata, error, fields, ctx, prefix, time_ns,
                 metadata_key, error_key="err", source=None, groups=()):
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
        self.error_key = error_key
        self.source = source
        self.groups = tuple(groups)

    def __repr__(self):
        return (f"LogEntry(level={self.level!r}, messages={self.messages!r}, "
                f"data={self.data!r}, metadata={self.metadata!r}, error={self.error!r})")


@cython.final
@cython.freelist(16)
cdef class HookParams:
    """HookParams(level, messages, data, metadata, error, fields, ctx, prefix, groups=())
--

What the dispatch hooks receive. Valid only during the hook call.

    ``transport_id`` is set for ``should_send`` only. A data, message or level hook may
    set ``prefix``: the entry carries the prefix it set (redact censors it that way).
    ``groups`` are the entry's group tags (a tuple).
    """

    def __init__(self, level, messages, data, metadata, error, fields, ctx, prefix,
                 groups=()):
        self.level = level
        self.messages = messages
        self.data = data
        self.metadata = metadata
        self.error = error
        self.fields = fields
        self.ctx = ctx
        self.prefix = prefix
        self.groups = tuple(groups)
        self.transport_id = None

    def __repr__(self):
        return (f"HookParams(level={self.level!r}, messages={self.messages!r}, "
                f"data={self.data!r}, transport_id={self.transport_id!r})")


#: Native gates beyond this many in one plugin set are called the ordinary way (the
#: per-entry answers are kept in the bits of one C integer).
cdef enum:
    _MAX_NATIVE_GATES = 64


@cython.final
cdef class _Hook:
    """One plugin's hook, resolved once: the bound function and how to report its errors,
    plus its C entry point when it is a native hook (see the module docstring)."""


@cython.final
cdef class PluginSet:
    """PluginSet(plugins=(), *, on_error=None)
--

An immutable snapshot of plugins, indexed per hook: a logger's, or the one a
    queue or a served plugin runs with ``run_hooks`` and ``allows``.

    ``PluginSet(plugins)`` looks each plugin's hooks up once; ``on_error``, when given,
    receives every hook failure instead of the plugins' own ``on_error``.
    """

    def __init__(self, plugins=(), *, on_error=None):
        if on_error is not None and not callable(on_error):
            raise TypeError(f"on_error must be callable or None, got {type(on_error).__name__}")
        records = [PluginRecord(p, on_error) for p in plugin_list(plugins)]
        _index_plugins(self, merge_by_id((), records, _record_id))

    def __len__(self):
        return len(self.records)

    @property
    def hooks(self):
        """The names of the hooks that at least one plugin of the set has."""
        return frozenset([name for name, slot in (
            ("on_fields_called", self.fields), ("on_metadata_called", self.metadata),
            ("on_before_data_out", self.data), ("on_before_message_out", self.message),
            ("transform_log_level", self.level), ("should_send", self.send)) if slot])

    def __repr__(self):
        return f"PluginSet({[record.id for record in self.records]!r})"


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
            if name == "on_fields_called" or name == "on_metadata_called":
                hook.native_value = value_hook_of(fn)
            elif name == "on_before_data_out":
                hook.native_data = data_hook_of(fn)
            elif name == "should_send" and gates < _MAX_NATIVE_GATES:
                hook.native_gate = gate_of(fn)
                if hook.native_gate != NULL:
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


cdef PluginSet _index_plugins(PluginSet ps, tuple records):
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


cdef PluginSet _plugin_set(tuple records):
    return _index_plugins(PluginSet.__new__(PluginSet), records)


# -- SPEC §4: the dispatch hooks and the gates, for the logger and for run_hooks -------

cdef dict _run_data_hooks(PluginSet plugins, HookParams params, dict data, bint owned):
    """The entry's data after the data hooks: each result merges in order, into a copy
    unless ``owned`` (the caller's dict is never changed). ``params`` may be None only
    when every data hook is native; otherwise its ``data`` is kept current."""
    cdef _Hook hook
    cdef PyObject* native_answer
    for hook in plugins.data:
        if hook.native_data != NULL:
            # Called outside a try block, which would cost every entry an exception-state
            # save: the error path raises what the hook set.
            native_answer = hook.native_data(hook.fn, data)
            if native_answer == NULL:
                try:
                    _raise_pending()
                except Exception as exc:
                    plugin_failed("on_before_data_out", hook.plugin_id, hook.on_error, exc)
                    continue
            result = <object>native_answer
            Py_DECREF(result)  # the call's own reference
        else:
            params.data = data
            try:
                result = hook.fn(params)
            except Exception as exc:
                plugin_failed("on_before_data_out", hook.plugin_id, hook.on_error, exc)
                continue
        if result is None:
            continue
        if type(result) is not dict:
            if not is_mapping(result):  # by type: isinstance would ask the object
                plugin_failed("on_before_data_out", hook.plugin_id, hook.on_error,
                              not_a_mapping(result))
                continue
            try:  # another Mapping: read it once, here, where a failure is the hook's
                result = dict(result)
            except Exception as exc:
                plugin_failed("on_before_data_out", hook.plugin_id, hook.on_error, exc)
                continue
        if not owned:
            if not data and type(result) is dict:
                data = <dict>result  # the common "add a field" hook: nothing to merge into
                continue
            data = PyDict_Copy(data)
            owned = True
        data.update(result)
    if params is not None:
        params.data = data
    return data


cdef list _run_message_hooks(PluginSet plugins, HookParams params, list messages):
    """The messages after the message hooks; each list answered replaces them."""
    cdef _Hook hook
    for hook in plugins.message:
        try:
            result = hook.fn(params)
        except Exception as exc:
            plugin_failed("on_before_message_out", hook.plugin_id, hook.on_error, exc)
            continue
        if result is None:
            continue
        if not issubclass(type(result), (list, tuple)):  # by type: see is_mapping
            plugin_failed("on_before_message_out", hook.plugin_id, hook.on_error,
                          not_a_list(result))
            continue
        try:
            answer = list(result)
        except Exception as exc:  # a list or tuple subclass whose iteration fails
            plugin_failed("on_before_message_out", hook.plugin_id, hook.on_error, exc)
            continue
        messages = answer
        params.messages = messages
    return messages


cdef int _run_level_hooks(PluginSet plugins, HookParams params, int index) except -1:
    """The level's index after the level hooks: the last one that answers wins."""
    cdef _Hook hook
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
        except Exception as exc:  # not a level (or an object whose comparison raises)
            plugin_failed("transform_log_level", hook.plugin_id, hook.on_error, exc)
            continue
        index = _index_of(level)
        params.level = level
    return index


cdef struct _GateMemo:
    # Native gates' answers for one entry, one bit per gate: asked, and said send.
    unsigned long long asked
    unsigned long long sending


cdef bint _gates_allow(PluginSet plugins, HookParams params, int index,
                       _GateMemo* memo) except -1:
    """Every gate's answer for one (entry, transport); a failing gate lets it through.

    With ``memo``, a native gate is called natively, once per entry: its answer is kept
    in ``memo`` for the entry's other transports. Without it, every gate is called
    the ordinary way, ``gate(params)``."""
    cdef _Hook hook
    cdef unsigned long long bit
    cdef int native_number = 0
    cdef int answer
    for hook in plugins.send:
        if hook.native_gate == NULL or memo == NULL:
            try:
                if not hook.fn(params):
                    return False
            except Exception as exc:  # fail open
                plugin_failed("should_send", hook.plugin_id, hook.on_error, exc)
            continue
        bit = (<unsigned long long>1) << native_number
        native_number += 1
        if not (memo.asked & bit):
            # Outside a try block, as for data hooks; a failure is asked again at the
            # entry's next transport.
            answer = hook.native_gate(hook.fn, index)
            if answer < 0:
                try:
                    _raise_pending()
                except Exception as exc:  # fail open
                    plugin_failed("should_send", hook.plugin_id, hook.on_error, exc)
                    continue
            memo.asked |= bit
            if answer:
                memo.sending |= bit
        if not (memo.sending & bit):
            return False
    return True


def run_hooks(PluginSet plugins not None, HookParams params not None, bint data_owned=False):
    """Run ``plugins``' data, message and level hooks over one entry, in place.

    ``params`` carries the entry and is updated as the hooks run: data hook results
    merge into ``params.data`` (into a copy unless ``data_owned``), a message hook's
    list replaces ``params.messages``, the last level hook that answers sets
    ``params.level``. A failing hook is reported (``PluginError``) and its fallback
    applies, exactly as when a logger dispatches.
    """
    data = params.data
    if plugins.data:
        if type(data) is not dict:
            data = dict(data)
            data_owned = True
        _run_data_hooks(plugins, params, <dict>data, data_owned)
    if plugins.message:
        messages = params.messages
        if type(messages) is not list:
            messages = list(messages)
        _run_message_hooks(plugins, params, <list>messages)
    if plugins.level:
        _run_level_hooks(plugins, params, _index_of(LogLevel.parse(params.level)))


def allows(PluginSet plugins not None, HookParams params not None, transport_id):
    """Whether every gate of ``plugins`` lets the entry in ``params`` go to
    ``transport_id``; a failing gate lets it through (and is reported)."""
    params.transport_id = transport_id
    return _gates_allow(plugins, params, 0, NULL)


@cython.final
cdef class _TransportSlot:
    """A transport with its ``send`` bound once; ``base`` is set when its ``enabled`` and
    ``level`` can be read from C (a ``Transport`` subclass that does not override them),
    and ``line`` when it is a ``LineSink`` whose rendering and writing run in C."""


cdef _TransportSlot _transport_slot(object transport, str where=""):
    transport, tid, send = transport_slot(transport, where)
    cdef _TransportSlot slot = _TransportSlot.__new__(_TransportSlot)
    slot.transport = transport
    slot.id = tid
    slot.send = send
    cls = type(transport)
    if (isinstance(transport, Transport)
            and getattr(cls, "enabled") is _TRANSPORT_ENABLED
            and getattr(cls, "level") is _TRANSPORT_LEVEL):
        slot.base = <Transport>transport
        if (isinstance(transport, LineSink)
                and getattr(cls, "send") is _SINK_SEND
                and getattr(cls, "write_line") is _SINK_WRITE_LINE):
            slot.line = <LineSink>transport
    return slot


_TRANSPORT_ENABLED = Transport.__dict__["enabled"]
_TRANSPORT_LEVEL = Transport.__dict__["level"]
_SINK_SEND = LineSink.__dict__["send"]
_SINK_WRITE_LINE = LineSink.__dict__["write_line"]


@cython.final
cdef class _Config:
    """Settings fixed at construction and shared by every derived logger."""

    cdef object fields_key
    cdef object metadata_key
    cdef object error_key
    cdef object error_serializer
    cdef bint copy_msg_on_only_error
    cdef object on_transport_error
    cdef object source_key  # None: no call-site capture


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
    """LogLayer(transports=None, plugins=(), level=LogLevel.TRACE, enabled=True, prefix=None, fields=None, fields_key=None, metadata_key=None, error_key='err', error_serializer=None, copy_msg_on_only_error=False, mute_fields=False, mute_metadata=False, on_transport_error=None, source=False, source_key='source', level_manager='copy', groups=None, active_groups=None, ungrouped='all', name=None)
--

A structured logger: fields, metadata and errors through plugins to transports.

    Fluent methods (``with_fields``, ``child``, ``with_prefix``, ``with_context``)
    return a new logger and leave the receiver unchanged; mutators (levels, mutes,
    plugins, transports) change only the receiver, except that a level change also
    reaches the loggers ``level_manager`` ties it to ("global", "one_way", "linked";
    see ``loglayer._family``). Plugin and transport sets are shared copy-on-write
    between a logger and the loggers derived from it.
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
    cdef PluginSet _plugins
    cdef tuple _transports
    cdef Py_ssize_t _depth
    # None with level_manager="copy"; else this logger's place in its family
    # (loglayer._family): level changes are written into every logger they reach, so
    # the emission path reads _active alone whatever the manager.
    cdef object _levelnode
    cdef tuple _groups  # the tags of this logger's entries (with_group)
    cdef object _routing  # a loglayer._routing.Routing, shared copy-on-write; or None
    cdef object __weakref__

    def __init__(self, transports=None, plugins=(), level=LogLevel.TRACE, enabled=True,
                 prefix=None, fields=None, fields_key=None, metadata_key=None, error_key="err",
                 error_serializer=None, copy_msg_on_only_error=False, mute_fields=False,
                 mute_metadata=False, on_transport_error=None, source=False,
                 source_key="source", level_manager="copy", groups=None, active_groups=None,
                 ungrouped="all", name=None):
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
        source_key = check_key("source_key", source_key, allow_none=False)
        config.source_key = source_key if check_bool("source", source) else None
        if source:
            global _plumbing
            _plumbing = plumbing_files()
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
        self._depth = 0
        self._plugins = _plugin_set(merge_by_id((), records, _record_id))
        self._transports = merge_by_id((), slots, _slot_id)
        self._levelnode = None if level_manager == "copy" else LevelNode(level_manager, self)
        self._groups = ()
        self._routing = routing

    def __repr__(self):
        return (f"<LogLayer levels={self._levels:#08b} enabled={self._enabled} "
                f"plugins={len(self._plugins.records)} transports={len(self._transports)}>")

    @staticmethod
    def from_config(config):
        """A new logger built from plain data: ``loglayer.from_config(config)``."""
        if _config_builder is None:
            raise RuntimeError("from_config: import loglayer to build loggers from data")
        return _config_builder(config)

    @staticmethod
    def reentry_stats():
        """How many log calls made while their own thread was dispatching an entry were
        ``dropped`` (a hook or transport logged, SPEC §4) or ``deferred`` until that
        emission returned (a signal handler logged), in this process, by either core."""
        return reentry_stats()

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
        new._depth = self._depth
        new._groups = self._groups
        new._routing = self._routing
        if self._levelnode is not None:
            _join_family(self, new)
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

    def with_stacklevel(self, n):
        """A new logger whose entries' source is ``n`` more frames out from the call.

        For a helper that logs on its callers' behalf: ``log.with_stacklevel(1)`` inside
        it reports the line that called the helper. Levels add up along derivations.
        Only loggers made with ``source=True`` capture a source.
        """
        n = check_int("with_stacklevel() n", n, minimum=0)
        cdef LogLayer new = self._derive()
        new._depth = self._depth + n
        return new

    def with_group(self, *names):
        """A new logger whose entries are also tagged with these groups (see
        ``loglayer._routing`` for where tagged entries go)."""
        cdef LogLayer new = self._derive()
        new._groups = merge_tags(self._groups, check_group_names("with_group()", names))
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

    @property
    def name(self):
        """The logger's name: its ``logger`` field (``LogLayer(name=...)``), if a str."""
        value = self._fields.get(LOGGER_FIELD)
        return value if type(value) is str else None

    # -- levels and mutes ----------------------------------------------------------

    # Each level mutator changes this logger, and the loggers its level_manager says
    # the change reaches (loglayer._family).

    def set_level(self, level):
        """Enable ``level`` and every level above it; disable those below."""
        _change_levels(self, _SET_LEVELS, _mask_from(_parsed_index(level)))

    def enable_level(self, level):
        """Enable ``level`` alone; the other levels keep their state."""
        _change_levels(self, _ENABLE_LEVELS, 1 << _parsed_index(level))

    def disable_level(self, level):
        """Disable ``level`` alone; the other levels keep their state."""
        _change_levels(self, _DISABLE_LEVELS, 1 << _parsed_index(level))

    def enable_logging(self):
        """Turn the master switch on; the per-level state is kept as it was."""
        _change_levels(self, _LOGGING_ON, 0)

    def disable_logging(self):
        """Turn the master switch off; the per-level state is kept."""
        _change_levels(self, _LOGGING_OFF, 0)

    def is_level_enabled(self, level):
        """True when logging is enabled and ``level`` is."""
        return bool(self._active & (1 << _parsed_index(level)))

    def mute_fields(self):
        """Leave the persistent fields out of entries until ``unmute_fields()``."""
        self._mute_fields = True

    def unmute_fields(self):
        """Put the persistent fields back into entries."""
        self._mute_fields = False

    def mute_metadata(self):
        """Drop metadata from entries until ``unmute_metadata()``."""
        self._mute_metadata = True

    def unmute_metadata(self):
        """Keep metadata in entries again."""
        self._mute_metadata = False

    # -- plugins and transports ----------------------------------------------------

    def add_plugin(self, *plugins):
        """Add plugins, run after the current ones; one whose ID is present replaces it."""
        records = [PluginRecord(p) for p in plugins]
        with _mutation_lock:
            self._plugins = _plugin_set(merge_by_id(self._plugins.records, records, _record_id))

    def remove_plugin(self, id):
        """Remove the plugin with this ID; False when there was none."""
        with _mutation_lock:
            current = self._plugins.records
            kept = tuple([r for r in current if r.id != id])
            if len(kept) == len(current):
                return False
            self._plugins = _plugin_set(kept)
            return True

    def get_plugin(self, id):
        """The plugin with this ID, or None."""
        for record in self._plugins.records:
            if record.id == id:
                return record.plugin
        return None

    def plugin_count(self):
        """How many plugins this logger runs."""
        return len(self._plugins.records)

    def plugin_ids(self):
        """The IDs of the plugins, in the order they run."""
        return [record.id for record in self._plugins.records]

    def add_transport(self, *transports):
        """Add transports; one whose ID is present replaces it (and is not closed)."""
        slots = [_transport_slot(t, "add_transport()") for t in transports]
        with _mutation_lock:
            self._transports = merge_by_id(self._transports, slots, _slot_id)

    def remove_transport(self, id):
        """Remove the transport with this ID (not closed); False when there was none."""
        cdef _TransportSlot slot
        with _mutation_lock:
            kept = tuple([slot for slot in self._transports if slot.id != id])
            if len(kept) == len(self._transports):
                return False
            self._transports = kept
            return True

    def set_transports(self, *transports):
        """Replace the whole transport set (the old transports are not closed)."""
        slots = [_transport_slot(t, "set_transports()") for t in transports]
        with _mutation_lock:
            self._transports = merge_by_id((), slots, _slot_id)

    # -- groups: copy-on-write, as plugins are (loglayer._routing) ------------------

    def add_group(self, name, transports, *, level=None, enabled=True):
        """Define (or replace) the group ``name``: the transport IDs it routes to, the
        minimum level of its entries, and whether it is on."""
        with _mutation_lock:
            current = empty_routing() if self._routing is None else self._routing
            self._routing = current.adding(name, transports, level, enabled)

    def remove_group(self, name):
        """Forget the group ``name``; False when there was none."""
        return self._route_change("removing", name)

    def enable_group(self, name):
        """Turn the group ``name`` on; False when there is none."""
        return self._route_change("changing", name, enabled=True)

    def disable_group(self, name):
        """Turn the group ``name`` off; False when there is none."""
        return self._route_change("changing", name, enabled=False)

    def set_group_level(self, name, level):
        """Set the minimum level of the group ``name`` (None: no minimum); False when
        there is none."""
        if level is not None:
            level = check_level("set_group_level() level", level)
        return self._route_change("changing", name, level=level)

    def set_active_groups(self, names):
        """Route only through these groups (None: through every group)."""
        with _mutation_lock:
            current = empty_routing() if self._routing is None else self._routing
            self._routing = current.activating(names)

    def get_groups(self):
        """The groups, ``{name: {"transports": [...], "level": ..., "enabled": ...}}``."""
        return {} if self._routing is None else self._routing.describe()

    def _route_change(self, how, name, **changes):
        with _mutation_lock:
            if self._routing is None:
                return False
            changed = getattr(self._routing, how)(name, **changes)
            if changed is None:
                return False
            self._routing = changed
            return True

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
            try:  # looking flush up may fail too (a property)
                flush = getattr(slot.transport, "flush", None)
                if callable(flush):
                    flush()
            except Exception as exc:
                transport_failed(self._config.on_transport_error, slot.id, exc)

    def close(self):
        """Close every current transport; failures go to ``on_transport_error``."""
        cdef _TransportSlot slot
        for slot in self._transports:
            try:  # looking close up may fail too (a property)
                close = getattr(slot.transport, "close", None)
                if callable(close):
                    close()
            except Exception as exc:
                transport_failed(self._config.on_transport_error, slot.id, exc)

    def __enter__(self):
        """The logger itself, for ``with LogLayer(...) as log:``."""
        return self

    def __exit__(self, *exc_info):
        """Close the transports (``close()``) at the end of the ``with`` block."""
        self.close()

    def writer(self, level=LogLevel.INFO):
        """A write-only text file that logs each line written to it at ``level``.

        For ``print(file=...)``, ``contextlib.redirect_stdout`` or a thread copying a
        subprocess's output: one entry per line, a partial line kept until its newline
        or ``flush()``, blank lines skipped. Closing it leaves the logger open.
        """
        from loglayer._writer import LogWriter

        return LogWriter(self, level)

    # -- emission ------------------------------------------------------------------

    # exception(): a C function installed below, as the level methods are

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
        cdef int index = _parsed_index(level)
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
        self._emit(index, messages, None, error, self._ctx, None, None)

    def metadata_only(self, metadata, level=LogLevel.INFO):
        """Log just metadata; nothing is sent when metadata is muted or a hook drops it."""
        cdef int index = _parsed_index(level)
        if not self._active & (1 << index) or self._mute_metadata or metadata is None:
            return
        cdef tuple hooks = self._plugins.metadata
        if hooks:
            metadata = _run_metadata_hooks(hooks, metadata)
            if metadata is None:
                return
        self._emit(index, [], metadata, None, self._ctx, None, None)

    def raw(self, level, messages, *, metadata=None, error=None, fields=None, ctx=None):
        """Emit with full control, through the whole pipeline.

        Metadata hooks run; fields hooks do not. ``fields`` replaces the logger's
        fields for this entry; ``ctx`` (when not None) replaces its context.
        """
        cdef int index = _parsed_index(level)
        if error is not None and not isinstance(error, BaseException):
            raise TypeError(f"error must be an exception or None, got {type(error).__name__}")
        if fields is not None:
            fields = (PyDict_Copy(fields) if type(fields) is dict
                      else check_mapping("fields", fields))
        if not self._active & (1 << index):
            return
        if metadata is not None:
            if self._mute_metadata:
                metadata = None
            elif self._plugins.metadata:
                metadata = _run_metadata_hooks(self._plugins.metadata, metadata)
        self._emit(index, (<list>messages)[:] if type(messages) is list
                   else as_message_list(messages), metadata, error,
                   self._ctx if ctx is None else ctx, fields, None)

    cdef int _emit(self, int index, list messages, object metadata, object error, object ctx,
                   object fields, tuple tags) except -1:
        """Dispatch one entry unless this thread is dispatching one already (SPEC §4:
        see ``_reentered``). The level filter has already passed. 1 when the entry was
        deferred: it is sent (and, at FATAL, flushed) once the emission it interrupted
        returns; else 0."""
        cdef object source = None
        if self._config.source_key is not None:
            source = loglayer_caller(_plumbing, self._depth, _KEY_FILE, _KEY_LINE,
                                     _KEY_FUNCTION)
        cdef void* state = PyThread_tss_get(&_dispatching)
        if state != NULL:
            return _reentered(self, index, messages, metadata, error, ctx, fields, source,
                              tags, state)
        cdef unsigned long long deferrals = _deferrals
        PyThread_tss_set(&_dispatching, _DISPATCHING)
        try:
            self._dispatch(index, messages, metadata, error, ctx, fields, loglayer_now_ns(),
                           source, tags)
        finally:
            # C from here to the end: no signal handler can run in between
            if _deferrals == deferrals or PyThread_tss_get(&_dispatching) == _DISPATCHING:
                PyThread_tss_set(&_dispatching, NULL)
            else:  # a signal handler logged meanwhile
                _deliver_deferred()
        return 0

    cdef int _dispatch(self, int index, list messages, object metadata, object error,
                       object ctx, object fields, long long time_ns,
                       object source, tuple tags) except -1:
        """Assemble one entry and send it; ``time_ns`` is when it was logged; ``tags``
        are a builder's groups, added to the logger's."""
        cdef _Config config = self._config
        cdef dict field_map
        cdef dict data
        cdef HookParams params = None
        cdef object level = <object>_LEVELS[index]

        if fields is None:
            field_map = self._fields
            if self._has_lazy:
                field_map = resolve_lazy(field_map)
        else:
            field_map = <dict>fields
            if _values_have_lazy(field_map):
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
        if source is not None:
            if data is field_map:
                data = PyDict_Copy(field_map)
            data[config.source_key] = source
        cdef list message_list = messages
        cdef PluginSet plugins = self._plugins
        cdef tuple groups = self._groups if tags is None else merge_tags(self._groups, tags)

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
                params.groups = groups
            if plugins.data:
                data = _run_data_hooks(plugins, params, data, data is not field_map)
            if plugins.message:
                message_list = _run_message_hooks(plugins, params, message_list)
            if plugins.level:
                index = _run_level_hooks(plugins, params, index)
                level = <object>_LEVELS[index]

        cdef LogEntry entry = LogEntry.__new__(LogEntry)
        entry._slot = index
        entry.level = level
        entry.messages = message_list
        entry.data = data
        entry.metadata = metadata
        entry.error = error
        entry.fields = field_map
        entry.ctx = ctx
        # a hook may replace the prefix (redact censors it), as it may the messages
        if params is None:
            entry.prefix = self._prefix
        else:
            prefix = params.prefix
            if type(prefix) is not str and prefix is not None:
                prefix = text_of(prefix)  # what a hook set, as text
            entry.prefix = prefix
        entry.time_ns = time_ns
        entry.metadata_key = config.metadata_key
        entry.error_key = config.error_key
        if source is not None:  # a new entry's object fields start as None
            entry.source = source
        entry.groups = groups

        cdef int number = _LEVEL_NUMBERS[index]
        cdef bint gated = len(plugins.send) != 0
        cdef _GateMemo memo
        memo.asked = 0
        memo.sending = 0
        cdef _TransportSlot slot
        cdef Transport base
        cdef LineSink sink
        cdef object rendered_format = None
        cdef object rendered = None
        # Groups (loglayer._routing): the IDs of the transports the entry may reach, by
        # its final level; None, for every transport, when the logger routes nothing.
        cdef object reachable = None
        if self._routing is not None:
            reachable = self._routing.targets(groups, number)
        for slot in self._transports:
            if reachable is not None and slot.id not in <frozenset>reachable:
                continue
            base = slot.base
            if base is not None:
                if not base.enabled or number < base._min_level:
                    continue
            else:
                try:  # SPEC §5: a transport's failure, here its enabled or level, is its own
                    if not getattr(slot.transport, "enabled", True):
                        continue
                    minimum = getattr(slot.transport, "level", None)
                    if minimum is not None and number < min_level_of(minimum):
                        continue
                except Exception as exc:
                    transport_failed(config.on_transport_error, slot.id, exc)
                    continue
            if gated:
                if params is not None:
                    params.transport_id = slot.id
                if not _gates_allow(plugins, params, index, &memo):
                    continue
            try:
                sink = slot.line
                if sink is None:
                    slot.send(entry)
                else:
                    # Transports sharing a format share one rendering of the entry.
                    if sink._format is not rendered_format:
                        rendered = sink._render(entry)
                        rendered_format = sink._format
                    sink._write_line(rendered)
            except Exception as exc:
                transport_failed(config.on_transport_error, slot.id, exc)
        if _taps:
            for tap in _taps:
                try:
                    tap.send(entry)
                except Exception as exc:
                    transport_failed(config.on_transport_error, "tap", exc)
        return 0


cdef enum:
    _SET_LEVELS
    _ENABLE_LEVELS
    _DISABLE_LEVELS
    _LOGGING_ON
    _LOGGING_OFF


cdef inline void _apply_levels(LogLayer log, int change, int bits):
    if change == _SET_LEVELS:
        log._levels = bits
    elif change == _ENABLE_LEVELS:
        log._levels |= bits
    elif change == _DISABLE_LEVELS:
        log._levels &= ~bits
    else:
        log._enabled = change == _LOGGING_ON
    log._active = log._levels if log._enabled else 0


cdef int _change_levels(LogLayer log, int change, int bits) except -1:
    """Apply one level change to ``log`` and to every logger it reaches (SPEC §8 level
    managers), under the family's lock; readers never lock."""
    node = log._levelnode
    if node is None:
        _apply_levels(log, change, bits)
        return 0
    with node.lock:
        for target in node.reached():
            _apply_levels(<LogLayer>target, change, bits)
    return 0


cdef int _join_family(LogLayer parent, LogLayer new) except -1:
    """Give ``new`` (derived from ``parent``) its node and the family's current level
    state, under the family's lock, so no change made meanwhile is missed."""
    node = parent._levelnode
    with node.lock:
        new._levels = parent._levels
        new._enabled = parent._enabled
        new._active = parent._active
        new._levelnode = node.derive(new)
    return 0


class _Deferred(threading.local):
    """Per thread: the entries signal handlers logged during the current emission, as
    (logger, the ``_dispatch`` arguments, the context) tuples; an empty tuple when none."""

    entries = ()


cdef object _deferred = _Deferred()


cdef int _reentered(LogLayer log, int index, list messages, object metadata, object error,
                    object ctx, object fields, object source, tuple tags,
                    void* state) except -1:
    """A log call made while this thread dispatches an entry (SPEC §4 re-entrancy).

    From a signal handler that interrupted the dispatch, the entry is deferred: kept,
    with the time it was logged and its context, and dispatched right after the
    interrupted emission (1). From anything else (a hook or transport logging) it is
    dropped, with one line on stderr (0). See ``loglayer._common.from_signal_handler``
    for how the two are told apart; both are counted (``LogLayer.reentry_stats()``).
    """
    cdef long long time_ns = loglayer_now_ns()
    if (state != _DELIVERING and len(_deferred.entries) < MAX_DEFERRED
            and from_signal_handler()):
        if not _deferred.entries:
            _deferred.entries = []
        _deferred.entries.append((log, (index, messages, metadata, error, ctx, fields,
                                        time_ns, source, tags), copy_context()))
        PyThread_tss_set(&_dispatching, _DEFERRED)
        global _deferrals
        _deferrals += 1
        count_reentry("deferred")
        return 1
    dropped_reentrant_entry()
    return 0


def _dispatch_deferred(LogLayer log, int index, list messages, object metadata,
                       object error, object ctx, object fields, long long time_ns,
                       object source, tuple tags):
    log._dispatch(index, messages, metadata, error, ctx, fields, time_ns, source, tags)


cdef int _deliver_deferred() except -1:
    """Dispatch the entries signal handlers logged during this thread's emission, in
    order, each in the context it was logged in; log calls they cause are dropped."""
    entries = _deferred.entries
    _deferred.entries = ()
    PyThread_tss_set(&_dispatching, _DELIVERING)
    cdef Py_ssize_t sent = 0
    cdef LogLayer log
    try:
        for item in entries:
            log = <LogLayer>item[0]
            arguments = <tuple>item[1]
            (<object>item[2]).run(_dispatch_deferred, log, *arguments)
            sent += 1
            if <int>arguments[0] == 5:
                log.flush()
    finally:
        PyThread_tss_set(&_dispatching, NULL)
        for _ in range(sent, len(entries)):  # a KeyboardInterrupt on the way
            count_reentry("dropped")
    return 0


@cython.final
@cython.freelist(16)
cdef class LogBuilder:
    """LogBuilder(log)
--

One entry under construction: metadata, an error, a context, then a level call."""

    cdef LogLayer _log
    cdef object _metadata
    cdef object _error
    cdef object _ctx
    cdef bint _has_ctx
    cdef tuple _groups  # None, or this entry's tags beyond the logger's

    def __init__(self, log):
        if not isinstance(log, LogLayer):
            raise TypeError(f"LogBuilder() needs a LogLayer, got {type(log).__name__}")
        self._log = <LogLayer>log

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

    def with_group(self, *names):
        """Tag this entry with these groups too (the logger's tags stay)."""
        tags = check_group_names("with_group()", names)
        self._groups = tags if self._groups is None else merge_tags(self._groups, tags)
        return self



# -- raw METH_FASTCALL entry points -----------------------------------------------------
#
# Cython wraps ``def f(self, *messages)`` in a varargs entry point that builds a tuple
# and checks for keywords before the body runs: about 27 ns more than a METH_O call,
# which is more than the whole disabled-level path should cost. The level methods and
# ``with_fields`` are therefore C functions installed into the type's dict as
# METH_FASTCALL method descriptors. A disabled call is one bit test; an enabled one
# builds the message list straight from the argument array, and ``with_fields`` reads
# keyword names without building a kwargs dict. The level methods take keyword names
# too, only to refuse them with a message that says where they go (``keywords_refused``).

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


cdef tuple _METHOD_NAMES = ("trace", "debug", "info", "warn", "error", "fatal")


cdef int _refuse_keywords(int index, PyObject* kwnames) except -1:
    """Raise the error that says where keyword arguments to a level method go."""
    raise keywords_refused(_METHOD_NAMES[index], <tuple><object>kwnames)


cdef inline PyObject* _log_at(PyObject* self, PyObject** args, Py_ssize_t nargs,
                              PyObject* kwnames, int index) except NULL:
    cdef LogLayer log = <LogLayer>self
    cdef int deferred
    if kwnames != NULL and PyTuple_GET_SIZE(<tuple><object>kwnames):
        _refuse_keywords(index, kwnames)
    if log._active & (1 << index):
        deferred = log._emit(index, _list_from(args, nargs), None, None, log._ctx, None,
                             None)
        if index == 5 and not deferred:
            log.flush()
    return _return_none()


cdef inline PyObject* _build_at(PyObject* self, PyObject** args, Py_ssize_t nargs,
                                PyObject* kwnames, int index) except NULL:
    cdef LogBuilder builder = <LogBuilder>self
    cdef LogLayer log = builder._log
    cdef int deferred
    if kwnames != NULL and PyTuple_GET_SIZE(<tuple><object>kwnames):
        _refuse_keywords(index, kwnames)
    if log._active & (1 << index):
        deferred = log._emit(index, _list_from(args, nargs), builder._metadata,
                             builder._error, builder._ctx if builder._has_ctx else log._ctx,
                             None, builder._groups)
        if index == 5 and not deferred:
            log.flush()
    return _return_none()


cdef PyObject* _log_trace(PyObject* s, PyObject** a, Py_ssize_t n,
                          PyObject* k) except NULL:
    return _log_at(s, a, n, k, 0)

cdef PyObject* _log_debug(PyObject* s, PyObject** a, Py_ssize_t n,
                          PyObject* k) except NULL:
    return _log_at(s, a, n, k, 1)

cdef PyObject* _log_info(PyObject* s, PyObject** a, Py_ssize_t n,
                          PyObject* k) except NULL:
    return _log_at(s, a, n, k, 2)

cdef PyObject* _log_warn(PyObject* s, PyObject** a, Py_ssize_t n,
                          PyObject* k) except NULL:
    return _log_at(s, a, n, k, 3)

cdef PyObject* _log_error(PyObject* s, PyObject** a, Py_ssize_t n,
                          PyObject* k) except NULL:
    return _log_at(s, a, n, k, 4)

cdef PyObject* _log_fatal(PyObject* s, PyObject** a, Py_ssize_t n,
                          PyObject* k) except NULL:
    return _log_at(s, a, n, k, 5)

cdef PyObject* _log_exception(PyObject* s, PyObject** a, Py_ssize_t n,
                              PyObject* k) except NULL:
    cdef LogLayer log = <LogLayer>s
    if k != NULL and PyTuple_GET_SIZE(<tuple><object>k):
        raise keywords_refused("exception", <tuple><object>k)
    if log._active & 0b10000:
        log._emit(4, _list_from(a, n), None, sys.exc_info()[1], log._ctx, None, None)
    return _return_none()

cdef PyObject* _build_trace(PyObject* s, PyObject** a, Py_ssize_t n,
                          PyObject* k) except NULL:
    return _build_at(s, a, n, k, 0)

cdef PyObject* _build_debug(PyObject* s, PyObject** a, Py_ssize_t n,
                          PyObject* k) except NULL:
    return _build_at(s, a, n, k, 1)

cdef PyObject* _build_info(PyObject* s, PyObject** a, Py_ssize_t n,
                          PyObject* k) except NULL:
    return _build_at(s, a, n, k, 2)

cdef PyObject* _build_warn(PyObject* s, PyObject** a, Py_ssize_t n,
                          PyObject* k) except NULL:
    return _build_at(s, a, n, k, 3)

cdef PyObject* _build_error(PyObject* s, PyObject** a, Py_ssize_t n,
                          PyObject* k) except NULL:
    return _build_at(s, a, n, k, 4)

cdef PyObject* _build_fatal(PyObject* s, PyObject** a, Py_ssize_t n,
                          PyObject* k) except NULL:
    return _build_at(s, a, n, k, 5)


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
        # worded as the interpreter words it for the pure core's method
        raise TypeError(f"LogLayer.with_fields() takes from 1 to 2 positional arguments but "
                        f"{nargs + 1} were given")
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
        if type(result) is not dict:
            if not is_mapping(result):
                plugin_failed("on_fields_called", hook.plugin_id, hook.on_error,
                              not_a_mapping(result))
                return log._derive()
            try:  # read it once, here, where a failure is the hook's
                result = dict(result)
            except Exception as exc:
                plugin_failed("on_fields_called", hook.plugin_id, hook.on_error, exc)
                return log._derive()
        new_fields = result
    new = log._derive()
    if new_fields:
        merged = PyDict_Copy(log._fields)
        merged.update(new_fields)
        new._fields = merged
        new._has_lazy = log._has_lazy or has_lazy(new_fields)
    return new


cdef PyMethodDef[24] _fast_methods
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


_install(LogLayer, b"trace", <void*>_log_trace, METH_FASTCALL | METH_KEYWORDS,
         b"trace($self, /, *messages)\n--\n\nLog the messages at TRACE.")
_install(LogLayer, b"debug", <void*>_log_debug, METH_FASTCALL | METH_KEYWORDS,
         b"debug($self, /, *messages)\n--\n\nLog the messages at DEBUG.")
_install(LogLayer, b"info", <void*>_log_info, METH_FASTCALL | METH_KEYWORDS,
         b"info($self, /, *messages)\n--\n\nLog the messages at INFO.")
_install(LogLayer, b"warn", <void*>_log_warn, METH_FASTCALL | METH_KEYWORDS,
         b"warn($self, /, *messages)\n--\n\nLog the messages at WARN.")
_install(LogLayer, b"warning", <void*>_log_warn, METH_FASTCALL | METH_KEYWORDS,
         b"warning($self, /, *messages)\n--\n\nLog the messages at WARN.")
_install(LogLayer, b"error", <void*>_log_error, METH_FASTCALL | METH_KEYWORDS,
         b"error($self, /, *messages)\n--\n\nLog the messages at ERROR.")
_install(LogLayer, b"fatal", <void*>_log_fatal, METH_FASTCALL | METH_KEYWORDS,
         b"fatal($self, /, *messages)\n--\n\n"
         b"Log at FATAL and flush the transports. It never exits the process.")
_install(LogLayer, b"exception", <void*>_log_exception, METH_FASTCALL | METH_KEYWORDS,
         b"exception($self, /, *messages)\n--\n\n"
         b"Inside ``except``: log the exception being handled at ERROR.")
_install(LogLayer, b"with_fields", <void*>_log_with_fields, METH_FASTCALL | METH_KEYWORDS,
         b"with_fields($self, mapping=None, /, **fields)\n--\n\n"
         b"A new logger with these fields merged over the current ones.\n\n"
         b"The fields hooks see the new fields first; one returning None drops the call\n"
         b"(the new logger keeps the existing fields).")
_install(LogBuilder, b"trace", <void*>_build_trace, METH_FASTCALL | METH_KEYWORDS,
         b"trace($self, /, *messages)\n--\n\nSend the entry at TRACE.")
_install(LogBuilder, b"debug", <void*>_build_debug, METH_FASTCALL | METH_KEYWORDS,
         b"debug($self, /, *messages)\n--\n\nSend the entry at DEBUG.")
_install(LogBuilder, b"info", <void*>_build_info, METH_FASTCALL | METH_KEYWORDS,
         b"info($self, /, *messages)\n--\n\nSend the entry at INFO.")
_install(LogBuilder, b"warn", <void*>_build_warn, METH_FASTCALL | METH_KEYWORDS,
         b"warn($self, /, *messages)\n--\n\nSend the entry at WARN.")
_install(LogBuilder, b"warning", <void*>_build_warn, METH_FASTCALL | METH_KEYWORDS,
         b"warning($self, /, *messages)\n--\n\nSend the entry at WARN.")
_install(LogBuilder, b"error", <void*>_build_error, METH_FASTCALL | METH_KEYWORDS,
         b"error($self, /, *messages)\n--\n\nSend the entry at ERROR.")
_install(LogBuilder, b"fatal", <void*>_build_fatal, METH_FASTCALL | METH_KEYWORDS,
         b"fatal($self, /, *messages)\n--\n\n"
         b"Send the entry at FATAL and flush the transports. It never exits the process.")


# Last: the assembly's setups (default transport, from_config, taps) run on this kernel.
kernel_loaded(sys.modules[__name__])
