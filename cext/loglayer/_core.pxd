# cython: language_level=3
"""The kernel's declarations, for the compiled modules that build on it.

``loglayer._render`` subclasses ``LineSink`` here, so that the kernel renders a line
transport's entry in C, once per format, and writes it without a Python-level ``send``
frame. Anything else that runs plugins over entries (the queue's worker, the gRPC
plugin SDK) uses the Python-level ``run_hooks`` and ``allows``, which are the same
rules as the logger's own dispatch.
"""

from loglayer._hookabi cimport native_data_call, native_gate_call, native_value_call


cdef class Transport:
    cdef public object id
    cdef public bint enabled
    cdef object _level
    cdef int _min_level
    cdef object __weakref__


cdef class LineSink(Transport):
    # Entries of transports sharing one format object share one rendering.
    cdef object _format
    cdef object _render(self, LogEntry entry)
    cdef int _write_line(self, object line) except -1


cdef class LogEntry:
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
    cdef readonly object error_key
    cdef readonly object source
    cdef readonly tuple groups
    # The level's index in the level tables (-1 when it is not a LogLevel member), so
    # renderers need not convert the IntEnum back to a C int.
    cdef int _slot


cdef class HookParams:
    cdef public object level
    cdef public object messages
    cdef public object data
    cdef public object metadata
    cdef public object error
    cdef public object fields
    cdef public object ctx
    cdef public object prefix
    cdef public object groups
    cdef public object transport_id


cdef class _Hook:
    cdef object fn
    cdef object plugin_id
    cdef object on_error
    cdef native_value_call native_value
    cdef native_data_call native_data
    cdef native_gate_call native_gate


cdef class PluginSet:
    cdef readonly tuple records
    cdef tuple fields
    cdef tuple metadata
    cdef tuple data
    cdef tuple message
    cdef tuple level
    cdef tuple send
    cdef bint has_dispatch
    cdef bint needs_params  # a dispatch hook is called with params (not natively)


cdef class _TransportSlot:
    cdef object transport
    cdef object id
    cdef object send
    cdef Transport base
    cdef LineSink line
