# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
# cython: binding=False, always_allow_keywords=False
"""The wasm plugin fast path: hook calls through wasmtime's C API, from Cython.

wasmtime-py's ``Func.__call__`` spends tens of microseconds per call on Python-level
type handling. This module calls ``wasmtime_func_call_unchecked`` directly, with the
GIL released for the whole guest sequence (alloc, copy in, hook, copy out, dealloc),
so a hook call costs about a microsecond and other threads, including the epoch
ticker that enforces the wall-clock deadline, keep running while a guest does.

The functions come from the ``_libwasmtime.so`` that wasmtime-py has already loaded
(dlopen with ``RTLD_NOLOAD``, then dlsym); their declarations are in
``_wasmfast.pxd``. Importing this module fails with ImportError, and the host falls
back to the generic path, when the installed wasmtime is not the pinned major
version, a symbol is missing, or a struct layout differs from wasmtime-py's.

Instances are still created by wasmtime-py (``_wasm_host._Instance``); a
:class:`FastInstance` borrows its store context, memory and function handles and keeps
it alive. Errors are described by that same object, so both paths report alike.
"""

cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.stdint cimport int32_t, int64_t, uint8_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcmp, memcpy
from posix.dlfcn cimport RTLD_NOW, dlerror, dlopen, dlsym

# Named explicitly: the extension is built as loglayer.isolation._wasmfast from cext/,
# where Cython would not pair the .pxd with this file by itself.
from _wasmfast cimport *

import ctypes
import importlib.metadata
import os

import orjson
import wasmtime
from wasmtime import _ffi

from loglayer.isolation._wasm_abi import (
    JSON_OPTIONS,
    RESULT_TYPES,
    SCHEMA_VERSION,
    FastPathUnavailable,
    GuestError,
    check_result,
    decode_result,
    error_document,
    json_default,
)
from loglayer.plugin import HOOK_NAMES

cdef extern from "<dlfcn.h>" nogil:
    enum:
        RTLD_NOLOAD

__all__ = ["FastInstance", "FastHook", "PINNED_MAJOR", "WASMTIME_VERSION"]

#: The wasmtime major version whose C API the declarations in ``_wasmfast.pxd`` match.
PINNED_MAJOR = 50
#: The installed wasmtime version.
WASMTIME_VERSION = importlib.metadata.version("wasmtime")

cdef WasmtimeApi api


cdef void* _symbol(void* handle, const char* name) except NULL:
    cdef void* address = dlsym(handle, name)
    if address == NULL:
        raise FastPathUnavailable(f"wasmtime's C library has no {name.decode()}")
    return address


cdef int _load_api() except -1:
    """Check the version and layouts, then look up every function the fast path calls."""
    if WASMTIME_VERSION.split(".")[0] != str(PINNED_MAJOR):
        raise FastPathUnavailable(f"wasmtime {WASMTIME_VERSION} is installed; the fast path is built "
                          f"for {PINNED_MAJOR}.x")
    for ours, theirs, name in (
            (sizeof(wasmtime_func_t), _ffi.wasmtime_func_t, "wasmtime_func_t"),
            (sizeof(wasmtime_memory_t), _ffi.wasmtime_memory_t, "wasmtime_memory_t"),
            (sizeof(wasmtime_val_raw_t), _ffi.wasmtime_val_raw_t, "wasmtime_val_raw_t"),
            (sizeof(wasm_byte_vec_t), _ffi.wasm_byte_vec_t, "wasm_byte_vec_t")):
        if ours != ctypes.sizeof(theirs):
            raise FastPathUnavailable(f"{name} is {ctypes.sizeof(theirs)} bytes in wasmtime "
                              f"{WASMTIME_VERSION}, {ours} in the fast path's declarations")
    path = os.fsencode(_ffi.dll._name)
    cdef void* handle = dlopen(path, RTLD_NOW | RTLD_NOLOAD)
    if handle == NULL:
        error = dlerror()
        raise FastPathUnavailable("wasmtime's C library is not loaded: "
                          + (error.decode() if error != NULL else path.decode()))
    api.func_call_unchecked = <func_call_unchecked_t>_symbol(
        handle, b"wasmtime_func_call_unchecked")
    api.context_set_fuel = <context_set_fuel_t>_symbol(handle, b"wasmtime_context_set_fuel")
    api.context_set_epoch_deadline = <context_set_epoch_deadline_t>_symbol(
        handle, b"wasmtime_context_set_epoch_deadline")
    api.memory_data = <memory_data_t>_symbol(handle, b"wasmtime_memory_data")
    api.memory_data_size = <memory_data_size_t>_symbol(handle, b"wasmtime_memory_data_size")
    api.trap_code = <trap_code_t>_symbol(handle, b"wasmtime_trap_code")
    api.trap_message = <trap_message_t>_symbol(handle, b"wasm_trap_message")
    api.trap_delete = <trap_delete_t>_symbol(handle, b"wasm_trap_delete")
    api.error_message = <error_message_t>_symbol(handle, b"wasmtime_error_message")
    api.error_delete = <error_delete_t>_symbol(handle, b"wasmtime_error_delete")
    api.byte_vec_delete = <byte_vec_delete_t>_symbol(handle, b"wasm_byte_vec_delete")
    return 0


_load_api()

cdef object _dumps = orjson.dumps
cdef object _loads = orjson.loads
cdef object _JSONDecodeError = orjson.JSONDecodeError
cdef object _json_default = json_default
cdef object _json_options = JSON_OPTIONS
cdef object _schema_version = SCHEMA_VERSION
# A gate's answer is nearly always one of these: they are recognised in the guest's
# memory and decoded without building a bytes object or calling orjson.
cdef bytes _TRUE = b"true"
cdef bytes _FALSE = b"false"

cdef enum:
    # Results up to this size are copied out into the instance's own buffer.
    SCRATCH_SIZE = 4096
    HOOK_COUNT = 6

cdef enum Status:
    OK
    TRAPPED
    REFUSED
    BAD_ALLOC
    BAD_RESULT
    NO_HOST_MEMORY

cdef enum Kind:
    FIELDS
    METADATA
    DISPATCH
    SEND


cdef size_t _address(object ctypes_object) except? 0:
    return <size_t>ctypes.addressof(ctypes_object)


@cython.final
cdef class FastInstance:
    """One instance, called through the C API. ``owner`` is the wasmtime-py
    ``_Instance`` it was built from: it owns the store and describes failures."""

    cdef readonly object owner
    cdef wasmtime_context_t* ctx
    cdef wasmtime_memory_t memory
    cdef wasmtime_func_t alloc_fn
    cdef wasmtime_func_t dealloc_fn
    cdef bint has_dealloc
    cdef wasmtime_func_t hooks[HOOK_COUNT]
    cdef bint has_hook[HOOK_COUNT]
    cdef uint64_t fuel
    cdef uint64_t ticks
    # What went wrong in the last run(), read back once the GIL is held again.
    cdef wasm_trap_t* trap
    cdef wasmtime_error_t* error
    cdef uint64_t bad_ptr
    cdef uint64_t bad_len
    cdef char scratch[SCRATCH_SIZE]

    def __init__(self, owner):
        cdef int i
        self.owner = owner
        self.ctx = <wasmtime_context_t*><size_t>ctypes.cast(owner.store._context(),
                                                             ctypes.c_void_p).value
        memcpy(&self.memory, <void*>_address(owner.memory._memory), sizeof(wasmtime_memory_t))
        memcpy(&self.alloc_fn, <void*>_address(owner.alloc._func), sizeof(wasmtime_func_t))
        self.has_dealloc = owner.dealloc is not None
        if self.has_dealloc:
            memcpy(&self.dealloc_fn, <void*>_address(owner.dealloc._func),
                   sizeof(wasmtime_func_t))
        for i in range(HOOK_COUNT):
            func = owner.funcs[i]
            self.has_hook[i] = func is not None
            if func is not None:
                memcpy(&self.hooks[i], <void*>_address(func._func), sizeof(wasmtime_func_t))
        self.fuel = owner.limits.fuel
        self.ticks = owner.limits.ticks

    def __dealloc__(self):
        self._forget_failure()

    def call(self, int index, bytes payload):
        """Run hook ``HOOK_NAMES[index]`` on ``payload``: the result document or None.
        The same contract as the generic ``_Instance.call``."""
        if not 0 <= index < HOOK_COUNT or not self.has_hook[index]:
            raise ValueError(f"the module does not export hook number {index}")
        return self.invoke(index, payload)

    cdef object invoke(self, int index, bytes payload):
        cdef const char* src = PyBytes_AS_STRING(payload)
        cdef size_t size = <size_t>PyBytes_GET_SIZE(payload)
        cdef char* out = NULL
        cdef size_t out_len = 0
        cdef Status status
        if size > 0x7FFFFFFF:
            raise GuestError("bad_pointer", f"a {size}-byte document does not fit in a guest")
        # No Python runs inside the guest: it has no imports but WASI's, which are
        # wasmtime's own Rust functions, so the GIL can be released for the whole call.
        with nogil:
            status = self.run(index, src, size, &out, &out_len)
        if status == OK:
            if out == NULL:
                return None
            if out == self.scratch:
                if out_len == 4 and memcmp(out, b"true", 4) == 0:
                    return _TRUE
                if out_len == 5 and memcmp(out, b"false", 5) == 0:
                    return _FALSE
            try:
                return PyBytes_FromStringAndSize(out, <Py_ssize_t>out_len)
            finally:
                if out != self.scratch:
                    free(out)
        raise self.failure(status, size)

    cdef inline Status call_raw(self, const wasmtime_func_t* func, wasmtime_val_raw_t* values,
                                size_t count) noexcept nogil:
        cdef wasm_trap_t* trap = NULL
        cdef wasmtime_error_t* error = api.func_call_unchecked(self.ctx, func, values, count,
                                                               &trap)
        if error != NULL:
            self.error = error
            return REFUSED
        if trap != NULL:
            self.trap = trap
            return TRAPPED
        return OK

    cdef Status run(self, int index, const char* src, size_t size, char** out,
                    size_t* out_len) noexcept nogil:
        """The ABI's call sequence; on failure the details are left in the instance."""
        cdef wasmtime_val_raw_t values[2]
        cdef Status status
        cdef uint64_t ptr, packed, result_ptr, result_len
        cdef char* buffer
        cdef wasmtime_error_t* error = api.context_set_fuel(self.ctx, self.fuel)
        if error != NULL:
            self.error = error
            return REFUSED
        api.context_set_epoch_deadline(self.ctx, self.ticks)

        values[0].i32 = <int32_t>size
        status = self.call_raw(&self.alloc_fn, values, 1)
        if status != OK:
            return status
        ptr = <uint32_t>values[0].i32
        if ptr + size > api.memory_data_size(self.ctx, &self.memory):
            self.bad_ptr = ptr
            self.bad_len = size
            return BAD_ALLOC
        memcpy(api.memory_data(self.ctx, &self.memory) + ptr, src, size)

        values[0].i32 = <int32_t>ptr
        values[1].i32 = <int32_t>size
        status = self.call_raw(&self.hooks[index], values, 2)
        if status != OK:
            return status
        packed = <uint64_t>values[0].i64

        if packed != 0:
            result_ptr = <uint32_t>(packed >> 32)
            result_len = <uint32_t>packed
            # The guest may have grown (and so moved) its memory: look again.
            if result_ptr + result_len > api.memory_data_size(self.ctx, &self.memory):
                self.bad_ptr = result_ptr
                self.bad_len = result_len
                return BAD_RESULT
            if result_len <= SCRATCH_SIZE:
                buffer = self.scratch
            else:
                buffer = <char*>malloc(result_len)
                if buffer == NULL:
                    return NO_HOST_MEMORY
            memcpy(buffer, api.memory_data(self.ctx, &self.memory) + result_ptr, result_len)
            out[0] = buffer
            out_len[0] = result_len
            if self.has_dealloc:
                values[0].i32 = <int32_t>result_ptr
                values[1].i32 = <int32_t>result_len
                status = self.call_raw(&self.dealloc_fn, values, 2)
                if status != OK:
                    self.drop_output(out)
                    return status
        if self.has_dealloc:
            values[0].i32 = <int32_t>ptr
            values[1].i32 = <int32_t>size
            status = self.call_raw(&self.dealloc_fn, values, 2)
            if status != OK:
                self.drop_output(out)
                return status
        return OK

    cdef inline void drop_output(self, char** out) noexcept nogil:
        if out[0] != NULL and out[0] != self.scratch:
            free(out[0])
        out[0] = NULL

    cdef object failure(self, Status status, size_t size):
        """The GuestError for a failed run(), built by the owner as the generic path
        builds it; frees wasmtime's trap or error object."""
        cdef uint8_t code = 0
        cdef int trap_code = -1
        if status == TRAPPED:
            if api.trap_code(self.trap, &code):
                trap_code = code
            message = self._take_message()
            return self.owner.trap_error(trap_code, message)
        if status == REFUSED:
            return GuestError("error", f"wasmtime refused the call: {self._take_message()}")
        if status == BAD_ALLOC:
            return self.owner.bad_pointer(f"alloc({size}) returned {self.bad_ptr:#x}",
                                          self.bad_ptr, self.bad_len)
        if status == BAD_RESULT:
            return self.owner.bad_pointer("the hook returned", self.bad_ptr, self.bad_len)
        return MemoryError("no host memory to copy the guest's result")

    cdef str _take_message(self):
        cdef wasm_byte_vec_t message
        message.size = 0
        message.data = NULL
        if self.trap != NULL:
            api.trap_message(self.trap, &message)
        elif self.error != NULL:
            api.error_message(self.error, &message)
        try:
            text = message.data[:message.size].decode("utf-8", "replace").rstrip("\0")
        finally:
            if message.data != NULL:
                api.byte_vec_delete(&message)
            self._forget_failure()
        lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
        return lines[len(lines) - 1] if lines else "unknown failure"

    cdef void _forget_failure(self) noexcept:
        if self.trap != NULL:
            api.trap_delete(self.trap)
            self.trap = NULL
        if self.error != NULL:
            api.error_delete(self.error)
            self.error = NULL


@cython.final
cdef class FastHook:
    """One exported hook on the fast path; ``call`` is the bound method the core
    indexes. It encodes the argument, takes an instance from the current generation's
    pool, runs the guest, decodes and checks the result, and puts the instance back
    (or, on any failure, replaces it with a fresh one and raises)."""

    cdef object current
    cdef str name
    cdef int index
    cdef Kind kind
    cdef tuple allowed

    def __init__(self, current, str name):
        self.current = current
        self.name = name
        self.index = HOOK_NAMES.index(name)
        self.allowed = RESULT_TYPES[name]
        if name == "on_fields_called":
            self.kind = FIELDS
        elif name == "on_metadata_called":
            self.kind = METADATA
        elif name == "should_send":
            self.kind = SEND
        else:
            self.kind = DISPATCH

    def call(self, arg):
        cdef bytes payload = self.encode(arg)
        cdef FastInstance instance
        gen = self.current.gen
        cdef list pool = gen.pool
        try:
            instance = pool.pop()
        except IndexError:
            instance = gen.spawn()
        try:
            result = self.decode(instance.invoke(self.index, payload))
        except BaseException:
            gen.refill()
            raise
        pool.append(instance)
        return result

    def encode_document(self, arg):
        """The input document for ``arg``: the bytes ``_wasm_abi`` would produce."""
        return self.encode(arg)

    cdef bytes encode(self, arg):
        cdef dict document
        if self.kind == FIELDS:
            document = {"v": _schema_version, "fields": arg}
        elif self.kind == METADATA:
            document = {"v": _schema_version, "metadata": arg}
        else:
            error = arg.error
            document = {
                "v": _schema_version,
                "level": arg.level,
                "messages": arg.messages,
                "data": arg.data,
                "metadata": arg.metadata,
                "error": None if error is None else error_document(error),
                "prefix": arg.prefix,
                "groups": getattr(arg, "groups", None) or (),
            }
            if self.kind == SEND:
                document["transport_id"] = arg.transport_id
        try:
            return _dumps(document, _json_default)
        except TypeError:  # a non-str key: see _wasm_abi.encode
            return _dumps(document, _json_default, _json_options)

    cdef object decode(self, raw):
        if raw is None:
            return None
        cdef bint invalid = False
        if raw is _TRUE:
            value = True
        elif raw is _FALSE:
            value = False
        else:
            try:
                value = _loads(raw)
            except _JSONDecodeError:
                invalid = True
            if invalid:
                return decode_result(raw)  # raises the GuestError with its message
        if value is None or type(value) in self.allowed:
            return value
        return check_result(self.name, value)  # raises
