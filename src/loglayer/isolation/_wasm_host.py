"""``WasmPlugin``: a plugin whose hooks run inside a WebAssembly sandbox (wasmtime).

A hook from an untrusted source (a customer, a marketplace) runs as a WebAssembly
module inside this process. It sees nothing the host does not hand it: no imports and
no WASI unless granted, and only the documents described in ``docs/wasm-abi.md``. It
cannot loop forever (fuel and a wall-clock deadline through epoch interruption) and
cannot exhaust memory (a store limit on its linear memory). Whatever the guest does,
the log call never raises: a failed call raises :class:`GuestError` into the core's
hook guard, which applies the fallback of SPEC §4 and hands a ``PluginError`` to the
plugin's ``on_error``; the instance that failed is replaced by a fresh one.

Threads: each plugin keeps a **pool of instances**. A call takes an instance from the
pool (instantiating one when the pool is empty) and puts it back when it is done, so
an instance (a wasmtime ``Store``, which must not be used by two threads at once)
serves one call at a time, the pool grows to the peak number of concurrent calls and
no further, and instances are not tied to threads: a short-lived thread leaves nothing
behind, and a thread pool of 200 threads with 4 concurrent callers keeps 4 instances.
An instance per thread would cost one instance per thread that ever logged and would
make hot reload find and replace every thread's copy. The cost of the pool is that a
guest's global state is per instance, not per logger: guests must not rely on state
kept between calls (the ABI document says so).

Hot reload (``reload=True``): a watcher thread polls the file. A changed file is
compiled and instantiated on that thread, off the hot path, then the current
*generation* (module plus pool) is replaced by one reference assignment. Calls in
flight hold their instance and finish on the old module; later calls take instances
from the new pool. A module that does not compile, is refused for its imports or
exports, or exports a different set of hooks (the core indexed the hooks when the
plugin was added) is rejected: the old module stays and the error is reported to
``on_error`` (hook ``"reload"``) or stderr.

Two call paths: the compiled fast path (``loglayer.isolation._wasmfast``, wasmtime's C
API called from Cython) when the compiled core is live and the installed wasmtime is
the pinned major version; otherwise the generic path through wasmtime-py's
``Func.__call__``, which the pure core uses too. Both send the same documents and
report the same errors.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import Any

try:
    import wasmtime
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("loglayer.isolation.WasmPlugin needs wasmtime: "
                      "pip install 'loglayer[wasm]'") from exc

from .. import _lifecycle
from .._common import describe, plugin_failed
from .._native import compiled
from .._select import COMPILED
from .._validate import check_bool, check_callable, check_int, check_number, check_type, type_name
from ..errors import PluginError
from ..plugin import HOOK_NAMES
from . import _wasm_abi as abi
from ._wasm_abi import FastPathUnavailable, GuestError

_wasmfast: Any = None
FAST_PATH_UNAVAILABLE: str | None = "the pure-Python core is live"
if COMPILED:
    try:
        _wasmfast = compiled("isolation._wasmfast")
    except FastPathUnavailable as exc:  # a wasmtime the fast path was not built for
        FAST_PATH_UNAVAILABLE = str(exc)
    else:
        FAST_PATH_UNAVAILABLE = None if _wasmfast is not None else "it was not built"

__all__ = [
    "DEFAULT_FUEL",
    "DEFAULT_MEMORY_LIMIT",
    "DEFAULT_TIMEOUT",
    "EPOCH_TICK",
    "FAST_PATH_UNAVAILABLE",
    "GuestError",
    "WasmModuleError",
    "WasmPlugin",
]

#: Fuel per hook call: about 25 ms of a tight loop on the machine this was tuned on,
#: and thousands of times what a redaction of a few kilobytes needs.
DEFAULT_FUEL = 10_000_000
#: Wall-clock deadline per hook call, in seconds.
DEFAULT_TIMEOUT = 0.1
#: Cap on each instance's linear memory, in bytes.
DEFAULT_MEMORY_LIMIT = 16 * 1024 * 1024
#: Period of the epoch ticker, in seconds: deadlines are exact to within one tick.
EPOCH_TICK = 0.005

_MASK32 = 0xFFFF_FFFF
_MASK64 = 0xFFFF_FFFF_FFFF_FFFF
_UNLIMITED = 2**40  # epoch ticks: centuries, and no overflow when added to the epoch
_WASI_MODULE = "wasi_snapshot_preview1"
_WASI_GRANTS = ("argv", "env", "stdin", "stdout", "stderr", "preopen")
# Trap codes, as wasmtime numbers them (TrapCode in wasmtime-py, the same in the C API).
_TRAP_STACK_OVERFLOW = 0
_TRAP_INTERRUPT = 10
_TRAP_OUT_OF_FUEL = 11
_REFUSED = -2  # not a trap: wasmtime refused the call
_WASM_PAGE = 65536


class WasmModuleError(Exception):
    """A module was refused: it does not compile, imports what the host does not
    provide, exports the ABI with the wrong types, declares another ABI version, or
    (on reload) exports a different set of hooks. It is the ``__cause__`` of the
    ``PluginError`` the constructor raises or a rejected reload reports."""


# -- the engine and its epoch ticker -------------------------------------------------

_engine_lock = threading.Lock()
_engine: wasmtime.Engine | None = None


def _shared_engine() -> wasmtime.Engine:
    """One engine for every plugin: fuel metering and epoch interruption are on, so
    one ticker thread serves every deadline."""
    global _engine
    with _engine_lock:
        if _engine is None:
            config = wasmtime.Config()
            config.consume_fuel = True
            config.epoch_interruption = True
            _engine = wasmtime.Engine(config)
        return _engine


class _EpochTicker:
    """A daemon thread that advances the engine's epoch every ``EPOCH_TICK`` seconds
    while at least one plugin with a timeout is alive, and stops when none is."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._thread: threading.Thread | None = None

    def acquire(self) -> None:
        with self._lock:
            self._users += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, args=(_shared_engine(),),
                                                name="loglayer-wasm-epoch", daemon=True)
                self._thread.start()

    def release(self) -> None:
        with self._lock:
            self._users -= 1

    def after_fork(self) -> None:
        self._lock = threading.Lock()
        self._thread = None
        if self._users > 0:
            self._users -= 1
            self.acquire()

    def _run(self, engine: wasmtime.Engine) -> None:
        while True:
            time.sleep(EPOCH_TICK)
            with self._lock:
                if self._users <= 0:
                    self._thread = None
                    return
            engine.increment_epoch()


_ticker = _EpochTicker()
# A forked child has no ticker thread: let the next acquire() start one.
_lifecycle.track(_ticker, after_fork_in_child=_EpochTicker.after_fork)


# -- compiling and checking a module -------------------------------------------------

class _Limits:
    """The per-call budget of one plugin, in the units wasmtime takes."""

    __slots__ = ("fuel", "timeout", "ticks", "memory")

    def __init__(self, fuel: int | None, timeout: float | None, memory: int | None) -> None:
        self.fuel = _MASK64 if fuel is None else fuel
        self.timeout = timeout
        # One tick may pass just after the deadline is set, hence the extra tick.
        self.ticks = _UNLIMITED if timeout is None else math.ceil(timeout / EPOCH_TICK) + 1
        self.memory = memory


# Compiled modules by the SHA-256 of their bytes, while some plugin uses them: compiling
# costs tens of milliseconds, and plugins built from the same bytes can share the code.
_modules: weakref.WeakValueDictionary[bytes, wasmtime.Module] = weakref.WeakValueDictionary()


class _Compiled:
    """A compiled module whose imports and exports passed the checks."""

    __slots__ = ("module", "digest", "hooks", "has_dealloc", "has_version", "has_initialize",
                 "linker")

    def __init__(self, data: bytes, wasi: dict | None) -> None:
        engine = _shared_engine()
        self.digest = hashlib.sha256(data).digest()
        module = _modules.get(self.digest)
        if module is None:
            try:
                module = wasmtime.Module(engine, data)
            except wasmtime.WasmtimeError as exc:
                raise WasmModuleError(f"the module does not compile: {_first_line(exc)}") \
                    from None
            _modules[self.digest] = module
        self.module = module
        missing = [f"{imp.module}.{imp.name}" for imp in module.imports
                   if wasi is None or imp.module != _WASI_MODULE]
        if missing:
            hint = "" if wasi is not None else " (WASI is not granted: pass wasi=True for it)"
            raise WasmModuleError("the module imports what the host does not provide"
                                  f"{hint}: {', '.join(missing)}")
        exports = {e.name: e.type for e in module.exports}
        i32, i64 = wasmtime.ValType.i32(), wasmtime.ValType.i64()
        memory = exports.get("memory")
        if not isinstance(memory, wasmtime.MemoryType):
            raise WasmModuleError("the module does not export its linear memory as 'memory'")
        if memory.is_64 or memory.is_shared:
            raise WasmModuleError("'memory' must be a 32-bit, unshared memory")
        _check_func(exports, "alloc", [i32], [i32], required=True)
        self.has_dealloc = _check_func(exports, "dealloc", [i32, i32], [])
        self.has_version = _check_func(exports, "loglayer_abi_version", [], [i32])
        self.has_initialize = _check_func(exports, "_initialize", [], [])
        self.hooks = tuple(name for name in HOOK_NAMES
                           if _check_func(exports, name, [i32, i32], [i64]))
        self.linker = None
        if wasi is not None:
            self.linker = wasmtime.Linker(engine)
            self.linker.define_wasi()


def _func(exports: Mapping[str, object], name: str) -> wasmtime.Func:
    """The function export ``name``, which ``_Compiled`` checked is one."""
    func = exports[name]
    assert isinstance(func, wasmtime.Func)
    return func


def _check_func(exports: dict, name: str, params: list, results: list,
                required: bool = False) -> bool:
    """Whether ``name`` is exported, refusing it when its type is not the ABI's."""
    ty = exports.get(name)
    if ty is None:
        if required:
            raise WasmModuleError(f"the module does not export '{name}'")
        return False
    if not isinstance(ty, wasmtime.FuncType) or ty.params != params or ty.results != results:
        want = f"({', '.join(map(str, params))}) -> ({', '.join(map(str, results))})"
        raise WasmModuleError(f"export '{name}' must be a function {want}, got {ty}")
    return True


def _take_trap(trap: wasmtime.Trap) -> tuple[int, str]:
    """The code (-1: none) and message of a trap caught from wasmtime-py, freeing it now.

    wasmtime-py raises a ``Trap`` from inside a generator (``enter_wasm``) whose frame
    keeps it in a local, and that frame is in the trap's own traceback: a reference
    cycle. Left alone, the cycle keeps wasmtime's trap object (with its backtrace: a
    stack overflow's runs to thousands of frames) and, through the traceback's frames,
    the store that trapped, until the cyclic collector's next full collection, which
    native memory does nothing to hasten: the pure core's RSS climbed by ~50 MiB per
    1000 stack-overflow traps. Dropping the traceback breaks the cycle; closing the
    trap frees wasmtime's object at once, as the fast path does. Callers raise their
    own error outside the ``except`` block, so the error does not keep the trap as its
    ``__context__``.
    """
    code = trap.trap_code
    failure = (-1 if code is None else code.value, trap.message)
    trap.__traceback__ = None
    trap.close()
    return failure


def _clear_frames(tb: TracebackType | None) -> None:
    """Drop the locals of the finished frames in a traceback (``traceback.clear_frames``
    without importing ``traceback``); the traceback still prints."""
    while tb is not None:
        with contextlib.suppress(RuntimeError):  # the frame still executing
            tb.tb_frame.clear()
        tb = tb.tb_next


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _guest_error(code: int, message: str, limits: _Limits) -> GuestError:
    """The error for a trap, by its wasmtime trap code (-1: none)."""
    if code == _TRAP_OUT_OF_FUEL:
        return GuestError("fuel", f"the guest used up its fuel ({limits.fuel} units)")
    if code == _TRAP_INTERRUPT:
        return GuestError("timeout", f"the guest ran past its {limits.timeout} s deadline")
    if code == _TRAP_STACK_OVERFLOW:
        return GuestError("stack", "the guest overflowed its stack")
    return GuestError("trap", f"the guest trapped: {_trap_reason(message)}")


def _trap_reason(message: str) -> str:
    """The useful line of a wasmtime trap message (it ends with the cause)."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "trap"


def _wasi_grants(wasi: Any) -> dict | None:
    """The validated WASI grants: None (no WASI), ``{}`` (WASI, nothing granted) or
    a dict of the named grants."""
    if wasi is False or wasi is None:
        return None
    if wasi is True:
        return {}
    check_type("wasi", wasi, Mapping, "a bool or a mapping of grants")
    unknown = sorted(set(wasi) - set(_WASI_GRANTS))
    if unknown:
        raise ValueError(f"wasi: unknown grants {unknown}; the grants are {list(_WASI_GRANTS)} "
                         "(WASI preview 1 offers no network access to grant)")
    grants = dict(wasi)
    if "argv" in grants:
        argv = grants["argv"]
        if isinstance(argv, str) or not isinstance(argv, Iterable):
            raise TypeError(f"wasi['argv'] must be a sequence of str, got {type_name(argv)}")
        for index, arg in enumerate(argv):
            check_type(f"wasi['argv'][{index}]", arg, str, "a str")
    if "env" in grants:
        check_type("wasi['env']", grants["env"], Mapping, "a mapping of str to str")
    for key in ("stdin", "stdout", "stderr"):
        if key in grants:
            check_type(f"wasi[{key!r}]", grants[key], (str, os.PathLike), "a path or 'inherit'")
    if "preopen" in grants:
        check_type("wasi['preopen']", grants["preopen"], Mapping,
                   "a mapping of guest paths to host directories")
    return grants


def _wasi_config(grants: dict) -> wasmtime.WasiConfig:
    """A fresh WASI context granting exactly ``grants`` (a store consumes its own)."""
    config = wasmtime.WasiConfig()
    if "argv" in grants:
        config.argv = list(grants["argv"])
    if "env" in grants:
        config.env = [(str(k), str(v)) for k, v in grants["env"].items()]
    if "stdin" in grants:
        if grants["stdin"] == "inherit":
            config.inherit_stdin()
        else:
            config.stdin_file = os.fspath(grants["stdin"])
    for stream in ("stdout", "stderr"):
        if stream in grants:
            if grants[stream] == "inherit":
                getattr(config, f"inherit_{stream}")()
            else:
                setattr(config, f"{stream}_file", os.fspath(grants[stream]))
    for guest_path, host_path in grants.get("preopen", {}).items():
        config.preopen_dir(os.fspath(host_path), guest_path, False)
    return config


# -- instances -----------------------------------------------------------------------

class _Instance:
    """One instantiation of a module in its own store, called through wasmtime-py.

    The fast path wraps one of these and calls the same functions through the C API;
    this object then only keeps the store alive and describes failures.
    """

    __slots__ = ("store", "memory", "alloc", "dealloc", "funcs", "limits")
    store: wasmtime.Store
    memory: wasmtime.Memory
    alloc: wasmtime.Func
    dealloc: wasmtime.Func | None
    funcs: tuple[wasmtime.Func | None, ...]  # by HOOK_NAMES index; None: not exported
    limits: _Limits

    def __init__(self, compiled: _Compiled, limits: _Limits, wasi: dict | None) -> None:
        store = wasmtime.Store(_shared_engine())
        store.set_limits(memory_size=-1 if limits.memory is None else limits.memory,
                         table_elements=100_000, instances=1, tables=8, memories=1)
        # A new store has no fuel and a deadline of "now": the start function needs both.
        store.set_fuel(limits.fuel)
        store.set_epoch_deadline(limits.ticks)
        version = abi.ABI_VERSION
        failure: tuple[int, str] | None = None
        try:
            if wasi is None:
                instance = wasmtime.Instance(store, compiled.module, ())
            else:
                assert compiled.linker is not None  # _Compiled makes one when WASI is granted
                store.set_wasi(_wasi_config(wasi))
                instance = compiled.linker.instantiate(store, compiled.module)
            exports = instance.exports(store)
            if compiled.has_initialize:
                _func(exports, "_initialize")(store)
            if compiled.has_version:
                version = _func(exports, "loglayer_abi_version")(store)
        except wasmtime.Trap as trap:
            failure = _take_trap(trap)
        if failure is not None:  # raised out here, for the reason _take_trap gives
            raise WasmModuleError(f"the module does not instantiate: "
                                  f"{_guest_error(*failure, limits)}")
        if version != abi.ABI_VERSION:
            raise WasmModuleError(f"the module speaks ABI version {version}; this host "
                                  f"speaks version {abi.ABI_VERSION}")
        memory = exports["memory"]
        assert isinstance(memory, wasmtime.Memory)  # _Compiled checked the export's type
        self.store = store
        self.memory = memory
        self.alloc = _func(exports, "alloc")
        self.dealloc = _func(exports, "dealloc") if compiled.has_dealloc else None
        self.funcs = tuple(_func(exports, name) if name in compiled.hooks else None
                           for name in HOOK_NAMES)
        self.limits = limits

    def call(self, index: int, payload: bytes) -> bytes | None:
        """Run hook ``HOOK_NAMES[index]`` on ``payload``; the result document or None.

        The sequence is the ABI's: alloc the input, copy it in, call the hook, check
        and copy the result out, dealloc the result then the input.
        """
        store = self.store
        memory = self.memory
        dealloc = self.dealloc
        store.set_fuel(self.limits.fuel)
        store.set_epoch_deadline(self.limits.ticks)
        try:
            size = len(payload)
            ptr = self.alloc(store, size) & _MASK32
            if ptr + size > memory.data_len(store):
                raise self.bad_pointer(f"alloc({size}) returned {ptr:#x}", ptr, size)
            memory.write(store, payload, ptr)
            hook = self.funcs[index]
            assert hook is not None  # only the hooks the module exports are called
            packed = hook(store, ptr, size) & _MASK64
            result = None
            if packed:
                out_ptr, out_len = packed >> 32, packed & _MASK32
                if out_ptr + out_len > memory.data_len(store):
                    raise self.bad_pointer("the hook returned", out_ptr, out_len)
                result = bytes(memory.read(store, out_ptr, out_ptr + out_len))
                if dealloc is not None:
                    dealloc(store, out_ptr, out_len)
            if dealloc is not None:
                dealloc(store, ptr, size)
            return result
        except wasmtime.Trap as trap:
            code, message = _take_trap(trap)
        except wasmtime.WasmtimeError as err:
            code, message = _REFUSED, _first_line(err)
        # Raised out here, so that the error does not keep wasmtime-py's exception (and,
        # through its traceback, the store) as its __context__: see _take_trap.
        if code == _REFUSED:
            raise GuestError("error", f"wasmtime refused the call: {message}")
        raise self.trap_error(code, message)

    def memory_size(self) -> int:
        """The guest's linear memory, in bytes."""
        return self.memory.data_len(self.store)

    def bad_pointer(self, what: str, ptr: int, length: int) -> GuestError:
        """The error for a pointer/length pair outside the guest's memory."""
        return GuestError("bad_pointer", f"{what} {length} bytes at {ptr:#x}, outside the "
                                         f"guest's {self.memory_size()}-byte memory")

    def trap_error(self, code: int, message: str) -> GuestError:
        """The error for a trap, by its wasmtime trap code (-1: none)."""
        limits = self.limits
        error = _guest_error(code, message, limits)
        # How close the guest came to its memory cap tells a runaway allocation apart.
        limit = "no limit" if limits.memory is None else f"a limit of {limits.memory}"
        error.args = (f"{error.args[0]} (guest memory: {self.memory_size()} bytes, {limit})",)
        return error


class _Generation:
    """One loaded module and its pool of idle instances.

    Hot reload replaces the whole generation; instances in use by calls in flight
    go back to the pool of the generation they came from, which is then dropped.
    """

    __slots__ = ("compiled", "limits", "wasi", "fast", "pool")

    def __init__(self, compiled: _Compiled, limits: _Limits, wasi: dict | None,
                 fast: bool) -> None:
        self.compiled = compiled
        self.limits = limits
        self.wasi = wasi
        self.fast = fast
        self.pool: list = []

    def spawn(self) -> Any:
        """A fresh instance, for the generic or the fast path."""
        instance = _Instance(self.compiled, self.limits, self.wasi)
        return _wasmfast.FastInstance(instance) if self.fast else instance

    def refill(self) -> None:
        """Add a fresh instance to the pool: in place of one that failed (its state may
        be half-updated), or to warm a new generation. If instantiating fails, the
        next call that finds the pool empty tries again."""
        with contextlib.suppress(Exception):
            self.pool.append(self.spawn())


class _Current:
    """The generation calls use now; hot reload swaps ``gen``. Hook objects hold this
    holder rather than the plugin, so they form no reference cycle with it."""

    __slots__ = ("gen",)

    def __init__(self, gen: _Generation) -> None:
        self.gen = gen


def _params_encoder(with_transport: bool) -> Callable[[Any], bytes]:
    def encode(params: Any) -> bytes:
        return abi.encode_params(params, with_transport)
    return encode


_ENCODERS: dict[str, Callable[[Any], bytes]] = {
    "on_fields_called": abi.encode_fields,
    "on_metadata_called": abi.encode_metadata,
    "on_before_data_out": _params_encoder(False),
    "on_before_message_out": _params_encoder(False),
    "transform_log_level": _params_encoder(False),
    "should_send": _params_encoder(True),
}


class _Hook:
    """One exported hook on the generic path; ``call`` is what the core calls."""

    __slots__ = ("_current", "_name", "_index", "_encode")

    def __init__(self, current: _Current, name: str) -> None:
        self._current = current
        self._name = name
        self._index = HOOK_NAMES.index(name)
        self._encode = _ENCODERS[name]

    def call(self, arg: Any) -> Any:
        payload = self._encode(arg)
        gen = self._current.gen
        pool = gen.pool
        try:
            instance = pool.pop()
        except IndexError:
            instance = gen.spawn()
        try:
            result = abi.check_result(self._name,
                                      abi.decode_result(instance.call(self._index, payload)))
        except BaseException as exc:
            # The failed instance goes now, as on the fast path: neither this frame nor
            # the frames of the failed call, which the error's traceback keeps, hold its
            # store and linear memory for as long as the report is kept.
            del instance
            _clear_frames(exc.__traceback__)
            gen.refill()
            raise
        pool.append(instance)
        return result


# -- the plugin ----------------------------------------------------------------------

def _read_source(source: Any) -> tuple[bytes, str | None, tuple | None]:
    """The module's bytes, and its path and file signature when it was given a path
    (the signature is taken first, so a change made while reading is seen later)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), None, None
    if isinstance(source, (str, os.PathLike)):
        path = os.fsdecode(os.fspath(source))
        signature = _file_signature(path)
        with open(path, "rb") as f:
            return f.read(), path, signature
    raise TypeError("path_or_bytes must be bytes, bytearray, memoryview, or a str or "
                    f"PathLike path, got {type(source).__name__}")


def _file_signature(path: str) -> tuple:
    st = os.stat(path)
    return (st.st_mtime_ns, st.st_size, st.st_ino, st.st_ctime_ns)


def _watch(plugin_ref: weakref.ref, stop: threading.Event, interval: float) -> None:
    """The reload watcher: polls until the plugin is closed or collected."""
    while not stop.wait(interval):
        plugin = plugin_ref()
        if plugin is None:
            return
        try:
            plugin._poll()
        except Exception as exc:  # keep watching: the next poll may succeed
            plugin._report(exc, f"reload of {plugin.path} failed, the previous module "
                                f"stays: {describe(exc)}")
        del plugin


class WasmPlugin:
    """A plugin whose hooks are the exports of a sandboxed WebAssembly module.

    ``path_or_bytes`` is the module (bytes, bytearray or memoryview) or a path to it.
    The constructor compiles it, checks its imports and exports against the ABI
    (``docs/wasm-abi.md``) and instantiates it once; any problem raises
    ``PluginError`` (hook ``"load"``) with a :class:`WasmModuleError` as its cause,
    listing every import the host does not provide. The hooks the module exports
    become attributes of this object (and only those), so the core indexes exactly
    the exported hooks when the plugin is added.

    Limits, per hook call: ``fuel`` (wasmtime fuel units; None: unmetered),
    ``timeout`` (seconds of wall clock, enforced by epoch interruption to within
    ``EPOCH_TICK``; None: none) and ``memory_limit`` (bytes of linear memory; None:
    wasmtime's own cap). ``wasi=False`` grants nothing; ``wasi=True`` links WASI
    preview 1 with no arguments, environment, standard streams or directories; a
    mapping grants exactly what it names: ``argv`` (list of str), ``env`` (mapping),
    ``stdin`` / ``stdout`` / ``stderr`` (a file path, or ``"inherit"``) and
    ``preopen`` (guest path -> host directory, read-only). There is no network.

    ``reload=True`` (path sources only) watches the file every ``reload_interval``
    seconds and swaps a changed module in (see the module docstring); ``reload()``
    checks at once. ``on_error`` receives each ``PluginError``: hook failures from
    the core, rejected reloads from the watcher. ``fast_path=None`` uses the compiled
    fast path when it is available, ``False`` never, ``True`` requires it.
    ``close()`` stops the watcher; a plugin left to the garbage collector stops too.
    """

    def __init__(self, path_or_bytes: bytes | bytearray | memoryview | str | os.PathLike, *,
                 id: str | None = None, fuel: int | None = DEFAULT_FUEL,
                 timeout: float | None = DEFAULT_TIMEOUT,
                 memory_limit: int | None = DEFAULT_MEMORY_LIMIT, reload: bool = False,
                 wasi: bool | Mapping[str, Any] = False, reload_interval: float = 1.0,
                 on_error: Callable[[PluginError], Any] | None = None,
                 fast_path: bool | None = None) -> None:
        check_type("id", id, (str, type(None)), "a str or None")
        check_int("fuel", fuel, minimum=1, allow_none=True)
        check_number("timeout", timeout, minimum=1e-3, allow_none=True)
        check_int("memory_limit", memory_limit, minimum=_WASM_PAGE, allow_none=True)
        check_bool("reload", reload)
        check_number("reload_interval", reload_interval, minimum=1e-3)
        check_callable("on_error", on_error, allow_none=True)
        check_bool("fast_path", fast_path, allow_none=True)
        if fast_path and _wasmfast is None:
            raise ImportError(f"the wasm fast path is unavailable: {FAST_PATH_UNAVAILABLE}")
        grants = _wasi_grants(wasi)
        data, path, signature = _read_source(path_or_bytes)
        if reload and path is None:
            raise ValueError("reload=True needs a module loaded from a path")

        self.id = id
        self.on_error = on_error
        self._path = path
        self._wasi = grants
        self._limits = _Limits(fuel, None if timeout is None else float(timeout), memory_limit)
        self._fast = _wasmfast is not None if fast_path is None else fast_path
        self._reload_lock = threading.Lock()
        self._signature = signature
        self._pending: tuple | None = None
        self._loads = 1
        try:
            gen = self._build(data)
        except WasmModuleError as exc:
            pid = id or "wasm"
            raise PluginError(pid, "load", f"plugin {pid!r}: {exc}") from exc
        self._hooks = gen.compiled.hooks
        self._current = _Current(gen)
        for name in self._hooks:
            hook = (_wasmfast.FastHook(self._current, name) if self._fast
                    else _Hook(self._current, name))
            setattr(self, name, hook.call)

        self._stop = threading.Event()
        if self._limits.timeout is not None:
            _ticker.acquire()
            self._finalizer = weakref.finalize(self, _close, self._stop, True)
        else:
            self._finalizer = weakref.finalize(self, _close, self._stop, False)
        if reload:
            assert path is not None  # refused above otherwise
            threading.Thread(target=_watch, args=(weakref.ref(self), self._stop, reload_interval),
                             name=f"loglayer-wasm-reload-{os.path.basename(path)}",
                             daemon=True).start()

    @property
    def hooks(self) -> tuple[str, ...]:
        """The hooks the module exports, in the order the core runs them."""
        return self._hooks

    @property
    def fast_path(self) -> bool:
        """Whether calls go through the compiled fast path."""
        return self._fast

    @property
    def generation(self) -> int:
        """How many modules this plugin has loaded: 1, plus one per hot reload."""
        return self._loads

    @property
    def path(self) -> str | None:
        """The module file, when it was loaded from one."""
        return self._path

    def close(self) -> None:
        """Stop the reload watcher and release the epoch ticker. Idempotent; hooks
        keep working (without their wall-clock deadline once no plugin holds the
        ticker)."""
        self._finalizer()

    def reload(self) -> bool:
        """Check the module file now and swap a changed module in.

        Returns True when a new module was swapped in; False when the file is
        unchanged or the new module was rejected (and reported).
        """
        if self._path is None:
            raise ValueError("reload() needs a module loaded from a path")
        return self._check(settle=False)

    def _poll(self) -> None:
        """One watcher tick: reload once a changed file has stopped changing."""
        self._check(settle=True)

    def _check(self, settle: bool) -> bool:
        path = self._path
        assert path is not None  # reload() and the watcher need a path; both check it
        with self._reload_lock:
            try:
                signature = _file_signature(path)
                if signature == self._signature:
                    return False
                if settle and signature != self._pending:
                    # Wait one poll for a writer that is still writing.
                    self._pending = signature
                    return False
                with open(path, "rb") as f:
                    data = f.read()
                if _file_signature(path) != signature:
                    return False
            except OSError as exc:
                failure = ("unreadable", type(exc), exc.errno)
                if self._signature != failure:  # report a missing file once, not every poll
                    self._signature = failure
                    self._report(exc, f"cannot read {self._path}, the previous module "
                                      f"stays: {exc}")
                return False
            self._signature = signature
            self._pending = None
            current = self._current.gen
            if hashlib.sha256(data).digest() == current.compiled.digest:
                return False
            try:
                gen = self._build(data)
                if gen.compiled.hooks != self._hooks:
                    raise WasmModuleError(
                        f"the new module exports the hooks {list(gen.compiled.hooks)} instead "
                        f"of {list(self._hooks)}; hooks are fixed when the plugin is added")
            except WasmModuleError as exc:
                self._report(exc, f"reload of {self._path} rejected, the previous module "
                                  f"stays: {exc}")
                return False
            # Warm the new pool to the old one's size, off the hot path.
            for _ in range(min(len(current.pool), 8) - len(gen.pool)):
                gen.refill()
            self._current.gen = gen
            self._loads += 1
            return True

    def _build(self, data: bytes) -> _Generation:
        """Compile, check and instantiate once: a generation ready to take calls."""
        gen = _Generation(_Compiled(data, self._wasi), self._limits, self._wasi, self._fast)
        try:
            gen.pool.append(gen.spawn())
        except (wasmtime.WasmtimeError, wasmtime.Trap) as exc:
            raise WasmModuleError(f"the module does not instantiate: {_first_line(exc)}") from None
        return gen

    def _report(self, exc: BaseException, what: str) -> None:
        plugin_failed("reload", self.id or "wasm", self.on_error, exc, what)

    def __repr__(self) -> str:
        source = self._path or "<bytes>"
        return (f"<WasmPlugin id={self.id!r} module={source!r} hooks={list(self._hooks)} "
                f"fast_path={self._fast}>")


def _close(stop: threading.Event, holds_ticker: bool) -> None:
    stop.set()
    if holds_ticker:
        _ticker.release()
