"""Hostile guests are contained: the fallback applies, a PluginError is reported, the
failed instance is replaced, the next well-behaved call works, and the host's memory
stays bounded.

One WAT module carries every misbehaviour in its ``should_send`` gate, chosen by the
log message: ``"k<digit>"`` picks a misbehaviour, ``"no"`` makes the gate say false,
anything else true. The gate finds the message at a fixed offset, which the ABI's
fixed key order allows for an INFO or ERROR entry: ``{"v":1,"level":20,"messages":["``
is 31 bytes long.
"""

from __future__ import annotations

import ast
import gc
import os
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.slow  # every test here runs a wasm engine and module
wasmtime = pytest.importorskip("wasmtime")

from loglayer import LogLayer, PluginError  # noqa: E402
from loglayer.isolation import WasmPlugin  # noqa: E402
from loglayer.isolation._wasm_abi import GuestError  # noqa: E402
from loglayer.testing import TestTransport  # noqa: E402

MIB = 1024 * 1024

HOSTILE = wasmtime.wat2wasm(r"""
(module
  (memory (export "memory") 2)
  (data (i32.const 0) "true")
  (data (i32.const 8) "false")
  (data (i32.const 16) "{not json")
  (func (export "alloc") (param i32) (result i32) (i32.const 65536))
  (func $recurse (param $depth i32) (result i32)
    (i32.add (call $recurse (i32.add (local.get $depth) (i32.const 1))) (i32.const 1)))
  (func (export "should_send") (param $doc i32) (param $len i32) (result i64)
    (if (i32.eq (i32.load8_u offset=31 (local.get $doc)) (i32.const 110))  ;; 'n'
      (then (return (i64.const 0x0000000800000005))))
    (if (i32.ne (i32.load8_u offset=31 (local.get $doc)) (i32.const 107))  ;; not 'k'
      (then (return (i64.const 4))))
    (block $trap_mid_write (block $grow_then_trap (block $recursion (block $four_gib
    (block $bad_json (block $past_memory (block $bad_pointer (block $grow_forever
    (block $loop_forever (block $fine
      (br_table $fine $loop_forever $grow_forever $bad_pointer $past_memory $bad_json
                $four_gib $recursion $grow_then_trap $trap_mid_write $fine
        (i32.sub (i32.load8_u offset=32 (local.get $doc)) (i32.const 48))))
    (return (i64.const 4)))
    ;; 1: an infinite loop
    (loop $l (br $l)) (unreachable))
    ;; 2: grow memory without bound, forever
    (loop $l (drop (memory.grow (i32.const 16))) (br $l)) (unreachable))
    ;; 3: a pointer far outside memory
    (return (i64.const 0xFFFF000000000004)))
    ;; 4: a length that runs past the end of memory
    (return (i64.or (i64.const 0x0001000000000000)
                    (i64.extend_i32_u (i32.mul (memory.size) (i32.const 65536))))))
    ;; 5: invalid JSON
    (return (i64.const 0x0000001000000009)))
    ;; 6: 4 GiB - 1 as the length
    (return (i64.const 0x00000000FFFFFFFF)))
    ;; 7: recursion until the stack overflows
    (return (i64.extend_i32_u (call $recurse (i32.const 0)))))
    ;; 8: grow until the limit refuses, then trap (as C would on a failed malloc)
    (loop $l (br_if $l (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))
    (unreachable))
    ;; 9: trap in the middle of writing the result
    (i32.store8 (i32.const 1024) (i32.const 116))
    (i32.store8 (i32.const 1025) (i32.const 114))
    (unreachable))
)
""")

KINDS = {
    "k1": ("fuel", "timeout"), "k2": ("fuel", "timeout"), "k3": ("bad_pointer",),
    "k4": ("bad_pointer",), "k5": ("bad_json",), "k6": ("bad_pointer",), "k7": ("stack",),
    "k8": ("trap",), "k9": ("trap",),
}


def hostile(fuel=200_000, timeout=5.0, **kwargs):
    errors: list[PluginError] = []
    plugin = WasmPlugin(HOSTILE, id="hostile", fuel=fuel, timeout=timeout,
                        memory_limit=4 * MIB, on_error=errors.append, **kwargs)
    tt = TestTransport("tt")
    return LogLayer(transports=tt, plugins=[plugin]), tt, errors, plugin


def assert_contained(log, tt, errors, message, kinds):
    """The hostile call falls back (a gate fails open: the entry is sent), reports one
    PluginError, and the next well-behaved calls on the same plugin work."""
    errors.clear()
    tt.clear()
    log.info(message)
    assert [e.messages for e in tt.lines] == [[message]]
    assert len(errors) == 1, errors
    err = errors[0]
    assert (err.plugin_id, err.hook) == ("hostile", "should_send")
    assert isinstance(err.__cause__, GuestError)
    assert err.__cause__.kind in kinds, err.__cause__
    errors.clear()
    tt.clear()
    log.info("no")
    log.info("fine")
    assert [e.messages for e in tt.lines] == [["fine"]]
    assert errors == []


@pytest.mark.parametrize("message", sorted(KINDS))
def test_each_hostile_guest_is_contained(message):
    log, tt, errors, _ = hostile()
    assert_contained(log, tt, errors, message, KINDS[message])


def test_memory_use_is_named_in_the_report():
    log, tt, errors, _ = hostile()
    for message in ("k8", "k2"):
        errors.clear()
        log.info(message)
        text = str(errors[0].__cause__)
        size = int(text.split("guest memory: ")[1].split()[0])
        assert 3 * MIB < size <= 4 * MIB and "a limit of 4194304" in text


def test_an_infinite_loop_stops_at_the_wall_clock_deadline():
    timeout = 0.2
    log, tt, errors, _ = hostile(fuel=None, timeout=timeout)
    started = time.monotonic()
    log.info("k1")
    elapsed = time.monotonic() - started
    assert errors[0].__cause__.kind == "timeout"
    assert elapsed < 10 * timeout  # a termination bound, not a timing claim
    assert_contained(log, tt, errors, "k1", ("timeout",))


def test_an_infinite_loop_stops_when_its_fuel_runs_out():
    log, tt, errors, _ = hostile(fuel=1_000_000, timeout=None)
    assert_contained(log, tt, errors, "k1", ("fuel",))


def test_fallbacks_of_other_hooks_apply():
    wasm = wasmtime.wat2wasm(r"""
    (module
      (memory (export "memory") 2)
      (func (export "alloc") (param i32) (result i32) (i32.const 65536))
      (func (export "on_fields_called") (param i32 i32) (result i64) (unreachable))
      (func (export "on_metadata_called") (param i32 i32) (result i64) (loop $l (br $l))
        (unreachable))
      (func (export "on_before_data_out") (param i32 i32) (result i64)
        (i64.const 0xFFFFFFFF00000010))
      (func (export "on_before_message_out") (param i32 i32) (result i64) (unreachable))
      (func (export "transform_log_level") (param i32 i32) (result i64) (unreachable)))
    """)
    errors = []
    tt = TestTransport("tt")
    log = LogLayer(transports=tt, fields={"a": 1}, plugins=[
        WasmPlugin(wasm, id="h", fuel=100_000, on_error=errors.append)])
    child = log.with_fields(b=2)
    assert child.get_fields() == {"a": 1}
    child.with_metadata({"m": 1}).warn("x")
    entry = tt.last_line()
    assert (entry.data, entry.metadata, entry.messages, int(entry.level)) == (
        {"a": 1}, None, ["x"], 30)
    assert [e.hook for e in errors] == ["on_fields_called", "on_metadata_called",
                                        "on_before_data_out", "on_before_message_out",
                                        "transform_log_level"]


@pytest.mark.parametrize("alloc, dealloc, kind", [
    ("(i32.const -16)", "", "bad_pointer"),
    ("(unreachable)", "", "trap"),
    ("(i32.const 65536)", "(unreachable)", "trap"),
])
def test_a_hostile_allocator_is_contained(alloc, dealloc, kind):
    wasm = wasmtime.wat2wasm(f"""
    (module
      (memory (export "memory") 2)
      (data (i32.const 0) "true")
      (func (export "alloc") (param i32) (result i32) {alloc})
      (func (export "dealloc") (param i32 i32) {dealloc})
      (func (export "should_send") (param i32 i32) (result i64) (i64.const 4)))
    """)
    errors = []
    tt = TestTransport("tt")
    log = LogLayer(transports=tt, plugins=[WasmPlugin(wasm, on_error=errors.append)])
    log.info("x")
    assert len(tt) == 1
    assert [e.__cause__.kind for e in errors] == [kind]


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def hostile_calls_growth() -> tuple[int, int, list]:
    """RSS growth over 10,000 hostile calls after a warm-up, the plugin's pool size
    after them, and the messages of the last two entries (a gate saying no, then yes)."""
    log, tt, errors, plugin = hostile(fuel=20_000, timeout=5.0)
    cycle = ["k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8", "k9", "fine"]
    for i in range(500):
        log.info(cycle[i % len(cycle)])
    tt.clear()
    errors.clear()
    before = _rss()
    for i in range(10_000):
        log.info(cycle[i % len(cycle)])
        if i % 1000 == 999:
            tt.clear()
            errors.clear()
    grown = _rss() - before
    log.info("no")
    log.info("fine")
    return grown, len(plugin._current.gen.pool), [e.messages for e in tt.lines][-1:]


def stack_overflow_growth(batch: int = 500) -> tuple[int, int, list]:
    """RSS growth over a second batch of stack-overflow traps after a first, with the
    cyclic garbage collector off; the wasmtime stores alive after them; the error kinds.

    A failed instance must be freed by reference counting, the moment the host drops
    it, as the fast path frees it: wasmtime-py's Trap sits in a reference cycle, and
    while the pure path let it, each trapped store (and the trap's backtrace, thousands
    of frames deep) waited for a full collection, which native memory never prompts.
    With the collector off that is a line (~200 MiB per 1000 calls) instead of a
    plateau, whenever the collector would have happened to run.
    """
    gc.disable()
    log, tt, errors, _ = hostile()
    kinds: set[str] = set()

    def run() -> None:
        for i in range(batch):
            log.info("k7")
            if i % 100 == 99:
                kinds.update(e.__cause__.kind for e in errors)
                tt.clear()
                errors.clear()

    run()
    before = _rss()
    run()
    grown = _rss() - before
    stores = sum(type(o) is wasmtime.Store for o in gc.get_objects())
    return grown, stores, sorted(kinds)


def _in_fresh_interpreter(call: str) -> object:
    """The value of ``test_wasm_hostile.<call>``, computed in a fresh interpreter: in
    the suite's own process, threads other tests left running (queue workers
    finishing, servers) allocate meanwhile and their memory would count as the plugin's."""
    script = ("import sys; sys.path.insert(0, sys.argv[1]); "
              f"import test_wasm_hostile as t; print(repr(t.{call}))")
    done = subprocess.run([sys.executable, "-c", script, os.path.dirname(__file__)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return ast.literal_eval(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs Linux /proc")
def test_host_memory_stays_bounded_across_10000_hostile_calls():
    grown, pool, last = _in_fresh_interpreter("hostile_calls_growth()")
    assert grown < 64 * MIB, f"host memory grew by {grown / MIB:.1f} MiB"
    assert pool == 1
    assert last == [["fine"]]


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs Linux /proc")
def test_trapped_instances_are_freed_without_the_garbage_collector():
    grown, stores, kinds = _in_fresh_interpreter("stack_overflow_growth()")
    assert kinds == ["stack"]
    # Fixed: under 1 MiB; when each trapped store waited for the collector: ~100 MiB.
    assert grown < 16 * MIB, f"500 stack overflows grew host memory by {grown / MIB:.1f} MiB"
    assert stores == 1  # the pool's one instance; every failed one is gone


@pytest.mark.parametrize("name, signature", [
    ("fd_write", "(param i32 i32 i32 i32) (result i32)"),
    ("path_open", "(param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)"),
])
def test_wasi_imports_are_refused_without_a_grant(name, signature):
    wasm = wasmtime.wat2wasm(f"""
    (module
      (import "wasi_snapshot_preview1" "{name}" (func {signature}))
      (memory (export "memory") 1)
      (func (export "alloc") (param i32) (result i32) (i32.const 0)))
    """)
    with pytest.raises(PluginError) as info:
        WasmPlugin(wasm, id="sneaky")
    assert f"wasi_snapshot_preview1.{name}" in str(info.value)
    assert info.value.hook == "load" and info.value.plugin_id == "sneaky"


def test_path_open_finds_no_directory_even_with_wasi():
    # WASI granted without preopens: the guest has no directory to open a path in.
    wasm = wasmtime.wat2wasm(r"""
    (module
      (import "wasi_snapshot_preview1" "path_open"
        (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
      (memory (export "memory") 2)
      (data (i32.const 0) "true")
      (data (i32.const 8) "false")
      (data (i32.const 32) "etc/passwd")
      (func (export "alloc") (param i32) (result i32) (i32.const 65536))
      (func (export "should_send") (param i32 i32) (result i64)
        ;; fd 3 would be the first preopened directory
        (if (result i64) (i32.eqz (call $path_open (i32.const 3) (i32.const 0) (i32.const 32)
                 (i32.const 10) (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0)
                 (i32.const 64)))
          (then (i64.const 4))
          (else (i64.const 0x0000000800000005)))))
    """)
    tt = TestTransport("tt")
    log = LogLayer(transports=tt, plugins=[WasmPlugin(wasm, wasi=True)])
    log.info("x")
    assert len(tt) == 0  # the open failed, so the gate said false
