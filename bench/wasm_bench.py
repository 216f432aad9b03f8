"""WebAssembly plugin benchmark: the cost of one hook call, cold start, hot reload.

    PYTHONPATH=src .venv/bin/python bench/wasm_bench.py [--rounds 9] [--json out.json]

Per hook call, all in one run and on the same ~250-byte document:

* ``fast path``: ``WasmPlugin`` on the compiled fast path (``_wasmfast``), as the core
  calls it: encode the params, run the guest, decode and check the result;
* ``generic path``: the same plugin through wasmtime-py's ``Func.__call__``;
* ``python plugin``: an in-process Python hook with the same logic;
* ``raw wasmtime-py call``: one ``Func.__call__`` of the guest's hook on a document
  already in guest memory, no encoding, no alloc/dealloc: the floor of the generic path.

Two guests: the WAT sampling gate (``should_send``) and, when clang can build wasm32,
the C redaction guest (``on_before_data_out``). Contenders are measured in
interleaved rounds (round r starts with contender r mod n) and the median per-call
time over rounds is reported, so drift on a shared machine spreads over everyone.

Then: cold start (compile, check and instantiate a module: the ``WasmPlugin``
constructor), and hot reload (``reload()`` of a changed file: compile, check,
instantiate and swap; the swap itself is one reference assignment).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import pathlib
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
from collections.abc import Callable
from importlib.metadata import version
from typing import Any

import wasmtime

import loglayer
from loglayer.isolation import WasmPlugin
from loglayer.isolation import _wasm_abi as abi
from loglayer.isolation import _wasm_host as host

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples" / "wasm"
SECRETS = ("password", "passwd", "secret", "token", "authorization", "api_key", "apikey",
           "card_number", "cvv", "ssn")


def sample_params(transport_id: str | None = "console") -> Any:
    """The params of one typical entry; its should_send document is ~250 bytes."""
    params = loglayer.HookParams(
        loglayer.LogLevel.INFO, ["user logged in"],
        {"request_id": "r-7f3a9c", "user": "ada", "path": "/api/v1/login", "ms": 12.5},
        {"ip": "10.0.0.1", "password": "hunter2", "agent": "Mozilla/5.0 (X11; Linux)"},
        None, {}, None, None)
    params.transport_id = transport_id
    return params


class PythonGate:
    """The sampling gate's logic in Python: WARN and above, then one in four."""

    def __init__(self) -> None:
        self.seen = 0

    def should_send(self, params: Any) -> bool:
        if params.level >= 30:
            return True
        self.seen += 1
        return self.seen % 4 == 0


def _redact(value: Any, hits: list) -> Any:
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            lowered = key.lower()
            if any(fragment in lowered for fragment in SECRETS):
                out[key] = "[REDACTED]"
                hits.append(key)
            else:
                out[key] = _redact(item, hits)
        return out
    if isinstance(value, list):
        return [_redact(item, hits) for item in value]
    return value


class PythonRedact:
    """The C redaction guest's data hook in Python: the redacted data, or None."""

    def on_before_data_out(self, params: Any) -> dict | None:
        hits: list = []
        redacted = _redact(params.data, hits)
        return redacted if hits else None


def raw_call(wasm: bytes, hook: str, document: bytes) -> Callable[[], Any]:
    """One ``Func.__call__`` of ``hook`` on ``document``, already in guest memory."""
    engine = host._shared_engine()
    store = wasmtime.Store(engine)
    store.set_fuel(2**63)
    store.set_epoch_deadline(2**40)
    instance = wasmtime.Instance(store, wasmtime.Module(engine, wasm), ())
    exports = instance.exports(store)
    ptr = exports["alloc"](store, len(document))
    exports["memory"].write(store, document, ptr)
    func = exports[hook]
    size = len(document)

    def call() -> Any:
        store.set_fuel(2**63)
        return func(store, ptr, size)
    return call


def per_call_ns(contenders: dict[str, Callable[[], Any]], rounds: int,
                target_s: float = 0.2) -> dict[str, float]:
    """Median ns per call of each contender, over interleaved rounds."""
    loops = {}
    for name, fn in contenders.items():
        fn()  # warm up (and instantiate pools)
        n, elapsed = 1, 0.0
        while elapsed < target_s / 4:
            n *= 2
            elapsed = timeit.timeit(fn, number=n)
        loops[name] = max(1, int(n * target_s / elapsed))
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    names = list(contenders)
    for r in range(rounds):
        for i in range(len(names)):
            name = names[(r + i) % len(names)]
            gc.collect()
            gc.disable()
            try:
                elapsed = timeit.timeit(contenders[name], number=loops[name])
            finally:
                gc.enable()
            samples[name].append(elapsed / loops[name] * 1e9)
    return {name: statistics.median(values) for name, values in samples.items()}


def once_ms(fn: Callable[[], Any], repeat: int) -> float:
    """Median wall time of ``fn``, in ms."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1e3)
    return statistics.median(times)


def with_custom_section(wasm: bytes, payload: bytes) -> bytes:
    """``wasm`` plus a custom section: other bytes, the same module (for reloads)."""
    name = b"loglayer-bench"
    body = bytes([len(name)]) + name + payload
    return wasm + bytes([0, len(body)]) + body


def build_c_guest(workdir: str) -> bytes | None:
    clang = os.environ.get("CC", "clang")
    if shutil.which(clang) is None:
        return None
    out = os.path.join(workdir, "redact.wasm")
    result = subprocess.run(
        [clang, "--target=wasm32", "-O2", "-mbulk-memory", "-nostdlib", "-ffreestanding",
         "-Wl,--no-entry", "-I", abi.include_dir(), "-o", out, str(EXAMPLES / "redact.c")],
        capture_output=True)
    return pathlib.Path(out).read_bytes() if result.returncode == 0 else None


def hook_table(title: str, wasm: bytes, hook: str, python_plugin: Any, params: Any,
               document: bytes, rounds: int) -> list[dict]:
    python_hook = getattr(python_plugin, hook)
    contenders: dict[str, Callable[[], Any]] = {}
    if host.FAST_PATH_UNAVAILABLE is None:
        fast = getattr(WasmPlugin(wasm, fast_path=True), hook)
        contenders["fast path"] = lambda: fast(params)
    generic = getattr(WasmPlugin(wasm, fast_path=False), hook)
    contenders["generic path"] = lambda: generic(params)
    contenders["python plugin"] = lambda: python_hook(params)
    contenders["raw wasmtime-py call"] = raw_call(wasm, hook, document)
    results = per_call_ns(contenders, rounds)
    base = results.get("python plugin")
    print(f"\n{title}: {hook}, {len(document)}-byte document")
    print(f"  {'contender':<22} {'median':>12} {'calls/s':>12} {'vs python':>10}")
    rows = []
    for name, ns in results.items():
        print(f"  {name:<22} {ns / 1000:>9.2f} us {1e9 / ns:>12,.0f} {ns / base:>9.1f}x")
        rows.append({"guest": title, "hook": hook, "contender": name, "ns": round(ns, 1)})
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)

    print(f"python {platform.python_version()} ({platform.python_implementation()}), "
          f"{platform.machine()}, {os.cpu_count()} cpu(s); wasmtime {version('wasmtime')}; "
          f"loglayer compiled core: {loglayer.COMPILED}; fast path: "
          f"{host.FAST_PATH_UNAVAILABLE or 'available'}")
    rows: list[dict] = []
    gate = wasmtime.wat2wasm((EXAMPLES / "sampling_gate.wat").read_text())
    params = sample_params()
    rows += hook_table("WAT sampling gate", gate, "should_send", PythonGate(), params,
                       abi.encode_params(params, True), args.rounds)

    with tempfile.TemporaryDirectory() as workdir:
        redact = build_c_guest(workdir)
        if redact is None:
            print("\nC redaction guest: skipped (clang cannot build wasm32 here)")
        else:
            data_params = sample_params(None)
            data_params.data = dict(data_params.data, session_token="t0k")
            rows += hook_table("C redaction guest", redact, "on_before_data_out",
                               PythonRedact(), data_params,
                               abi.encode_params(data_params, False), args.rounds)
        guest = redact or gate

        # Each module differs by a custom section: the plugin's cache of compiled
        # modules would otherwise turn every construction after the first into a hit.
        fresh = iter(with_custom_section(guest, str(i).encode()) for i in range(10**6))
        cold = once_ms(lambda: WasmPlugin(next(fresh)).close(), repeat=15)
        keeper = WasmPlugin(guest)  # while it lives, its compiled module is shared
        warm = once_ms(lambda: WasmPlugin(guest).close(), repeat=15)
        keeper.close()
        path = pathlib.Path(workdir) / "live.wasm"
        variants = [with_custom_section(guest, b"a"), with_custom_section(guest, b"b")]
        path.write_bytes(variants[0])
        live = WasmPlugin(path, reload=True, reload_interval=3600)
        swaps = []
        for i in range(15):
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(variants[(i + 1) % 2])
            os.replace(tmp, path)
            started = time.perf_counter()
            live.reload()
            swaps.append((time.perf_counter() - started) * 1e3)
        live.close()
        current = host._Current(None)
        swap_ns = timeit.timeit(lambda: setattr(current, "gen", None), number=100_000) * 1e4
    print(f"\ncold start (compile + check + instantiate, {len(guest)}-byte module): "
          f"{cold:.2f} ms")
    print(f"a second plugin from the same bytes (compiled module reused): {warm:.2f} ms")
    print(f"hot reload (reload() of a changed file, off the hot path): "
          f"{statistics.median(swaps):.2f} ms; the swap itself: {swap_ns:.0f} ns")
    rows.append({"cold_start_ms": round(cold, 3), "same_bytes_ms": round(warm, 3),
                 "reload_ms": round(statistics.median(swaps), 3),
                 "swap_ns": round(swap_ns, 1)})
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    sys.exit(main())
