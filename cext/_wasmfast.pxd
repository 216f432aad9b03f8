# cython: language_level=3
"""The subset of wasmtime's C API (major version 50) that the fast path calls.

The ``wasmtime`` wheel ships ``_libwasmtime.so`` but no C headers, so the types are
declared here from the 50.x headers (``wasmtime/func.h``, ``store.h``, ``memory.h``,
``trap.h``, ``error.h``, ``val.h`` and ``wasm.h``) and the functions are looked up
with dlsym at import. Layouts that matter (``wasmtime_func_t``,
``wasmtime_memory_t``, ``wasmtime_val_raw_t``) are checked at import against
wasmtime-py's own ctypes declarations of the same version; any mismatch disables the
fast path. These declarations change with wasmtime's major version, which is why the
package pins ``wasmtime>=50,<51``.
"""

from libc.stdint cimport int32_t, int64_t, uint8_t, uint32_t, uint64_t


cdef extern from "<stdbool.h>":
    # C's bool: a function returning it only sets the low byte of the return register.
    ctypedef bint c_bool "bool"


# Opaque handles: only pointers to them are used.
ctypedef void wasmtime_context_t
ctypedef void wasmtime_error_t
ctypedef void wasm_trap_t

# wasm.h: wasm_byte_vec_t (also wasm_name_t and wasm_message_t).
ctypedef struct wasm_byte_vec_t:
    size_t size
    char* data

# extern.h: a function, by store and an index private to wasmtime.
ctypedef struct wasmtime_func_t:
    uint64_t store_id
    void* private_

# extern.h: a memory; the first two fields are an anonymous struct of their own, so
# the third starts at offset 16 (the struct is 24 bytes, not 16).
ctypedef struct wasmtime_memory_head_t:
    uint64_t store_id
    uint32_t private1

ctypedef struct wasmtime_memory_t:
    wasmtime_memory_head_t head
    uint32_t private2

# val.h: the untyped value slots of wasmtime_func_call_unchecked.
ctypedef union wasmtime_val_raw_t:
    int32_t i32
    int64_t i64
    float f32
    double f64
    uint8_t v128[16]
    uint32_t anyref
    uint32_t externref
    uint32_t exnref
    void* funcref

# func.h
ctypedef wasmtime_error_t* (*func_call_unchecked_t)(
    wasmtime_context_t* store, const wasmtime_func_t* func, wasmtime_val_raw_t* args_and_results,
    size_t args_and_results_len, wasm_trap_t** trap) noexcept nogil
# store.h
ctypedef wasmtime_error_t* (*context_set_fuel_t)(wasmtime_context_t* store,
                                                 uint64_t fuel) noexcept nogil
ctypedef void (*context_set_epoch_deadline_t)(wasmtime_context_t* store,
                                              uint64_t ticks_beyond_current) noexcept nogil
# memory.h
ctypedef uint8_t* (*memory_data_t)(const wasmtime_context_t* store,
                                   const wasmtime_memory_t* memory) noexcept nogil
ctypedef size_t (*memory_data_size_t)(const wasmtime_context_t* store,
                                      const wasmtime_memory_t* memory) noexcept nogil
# trap.h, wasm.h
ctypedef c_bool (*trap_code_t)(const wasm_trap_t* trap, uint8_t* code) noexcept nogil
ctypedef void (*trap_message_t)(const wasm_trap_t* trap, wasm_byte_vec_t* out) noexcept nogil
ctypedef void (*trap_delete_t)(wasm_trap_t* trap) noexcept nogil
# error.h
ctypedef void (*error_message_t)(const wasmtime_error_t* error,
                                 wasm_byte_vec_t* message) noexcept nogil
ctypedef void (*error_delete_t)(wasmtime_error_t* error) noexcept nogil
ctypedef void (*byte_vec_delete_t)(wasm_byte_vec_t* vec) noexcept nogil


ctypedef struct WasmtimeApi:
    func_call_unchecked_t func_call_unchecked
    context_set_fuel_t context_set_fuel
    context_set_epoch_deadline_t context_set_epoch_deadline
    memory_data_t memory_data
    memory_data_size_t memory_data_size
    trap_code_t trap_code
    trap_message_t trap_message
    trap_delete_t trap_delete
    error_message_t error_message
    error_delete_t error_delete
    byte_vec_delete_t byte_vec_delete
