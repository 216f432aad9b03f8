# cython: language_level=3
"""The native-hook ABI: how loglayer's compiled plugins hand the core a C entry point.

A hook object (a plugin's bound hook, or a callable standing for one) may carry a
``__loglayer_native__`` attribute holding a ``PyCapsule``. The capsule's name says which
signature its pointer has, and its context is the hook object itself: the core calls a
hook natively only when the context is the very object it found the capsule on, so a
proxy that forwards attribute lookups is called the ordinary way. The hook object stays
callable the ordinary way (``hook(params)`` or ``hook(value)``), which is how the pure
core, the queue worker and the gRPC SDK use it.

* ``loglayer.native_value``: a fields or metadata hook's answer for ``value``;
* ``loglayer.native_data``: a data hook's answer (None or a mapping) for the entry's
  current data, with no params object;
* ``loglayer.native_gate``: a send gate's answer, 1 to send and 0 not to, for the
  level's position in ``LogLevel`` (0 for TRACE ... 5 for FATAL).

Providers write ordinary Cython functions of the ``*_fn`` types below and make their
capsule with the ``*_capsule`` functions, so Cython checks each signature. The core
reads a pointer back with the ``*_of`` functions as the ``*_call`` type: the same C
function, whose error return (NULL, or -1) the core handles itself rather than through
Cython's automatic propagation, so that the hot path needs no try block. This file is
the only place the names and the signatures are written; the protocol is private to
loglayer.
"""

from cpython.object cimport PyObject
from cpython.pycapsule cimport (PyCapsule_CheckExact, PyCapsule_GetContext,
                                PyCapsule_GetPointer, PyCapsule_IsValid, PyCapsule_New,
                                PyCapsule_SetContext)

# What a provider defines: a new reference (or an exception), or 1/0 (or -1 and an
# exception) for a gate.
ctypedef object (*native_value_fn)(object hook, object value)
ctypedef object (*native_data_fn)(object hook, dict data)
ctypedef int (*native_gate_fn)(object hook, int level_index) except -1

# The same functions as the core calls them: NULL or -1 means an exception is set.
ctypedef PyObject* (*native_value_call)(object hook, object value) noexcept
ctypedef PyObject* (*native_data_call)(object hook, dict data) noexcept
ctypedef int (*native_gate_call)(object hook, int level_index) noexcept


cdef inline object _capsule(object owner, void* function, const char* name):
    # The owner holds the capsule, so the context is not a reference.
    capsule = PyCapsule_New(function, name, NULL)
    PyCapsule_SetContext(capsule, <void*>owner)
    return capsule


cdef inline object value_capsule(object owner, native_value_fn function):
    """The ``__loglayer_native__`` of a native fields or metadata hook ``owner``."""
    return _capsule(owner, <void*>function, b"loglayer.native_value")


cdef inline object data_capsule(object owner, native_data_fn function):
    """The ``__loglayer_native__`` of a native data hook ``owner``."""
    return _capsule(owner, <void*>function, b"loglayer.native_data")


cdef inline object gate_capsule(object owner, native_gate_fn function):
    """The ``__loglayer_native__`` of a native send gate ``owner``."""
    return _capsule(owner, <void*>function, b"loglayer.native_gate")


cdef inline void* _pointer(object hook, const char* name):
    """The C function behind ``hook`` when it carries a capsule of that name made for
    it, else NULL."""
    native = getattr(hook, "__loglayer_native__", None)
    if native is None or not PyCapsule_CheckExact(native):
        return NULL
    if PyCapsule_GetContext(native) != <void*>hook or not PyCapsule_IsValid(native, name):
        return NULL
    return PyCapsule_GetPointer(native, name)


cdef inline native_value_call value_hook_of(object hook):
    return <native_value_call>_pointer(hook, b"loglayer.native_value")


cdef inline native_data_call data_hook_of(object hook):
    return <native_data_call>_pointer(hook, b"loglayer.native_data")


cdef inline native_gate_call gate_of(object hook):
    return <native_gate_call>_pointer(hook, b"loglayer.native_gate")
