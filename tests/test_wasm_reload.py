"""Hot reload: a changed module file is compiled off the hot path and swapped in
atomically; calls in flight finish on the old instance; a module that does not
compile or exports other hooks is rejected, keeping the old one, and reported."""

from __future__ import annotations

import gc
import os
import threading
import time

import pytest

pytestmark = pytest.mark.slow  # every test here runs a wasm engine and module
wasmtime = pytest.importorskip("wasmtime")

from loglayer import LogLayer, PluginError  # noqa: E402
from loglayer.isolation import WasmPlugin  # noqa: E402
from loglayer.isolation._wasm_host import WasmModuleError  # noqa: E402
from loglayer.testing import TestTransport  # noqa: E402

PRELUDE = r"""
  (memory (export "memory") 2)
  (func (export "alloc") (param i32) (result i32) (i32.const 65536))
"""


def data_guest(version: str, extra: str = "") -> bytes:
    """``on_before_data_out`` returns {"version": version}."""
    text = f'{{\\"version\\":\\"{version}\\"}}'
    length = len(f'{{"version":"{version}"}}')
    return wasmtime.wat2wasm(f"""(module {PRELUDE}
      (data (i32.const 0) "{text}")
      (func (export "on_before_data_out") (param i32 i32) (result i64) (i64.const {length}))
      {extra})""")


def spinning_gate(answer: str, iterations: int) -> bytes:
    """``should_send`` counts to ``iterations``, then answers."""
    return wasmtime.wat2wasm(f"""(module {PRELUDE}
      (data (i32.const 0) "{answer}")
      (func (export "should_send") (param i32 i32) (result i64) (local $i i32)
        (loop $l (br_if $l (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1)))
                                     (i32.const {iterations}))))
        (i64.const {len(answer)})))""")


def replace(path, data: bytes) -> None:
    """Write the module the way deployments should: a new file renamed over the old."""
    tmp = f"{path}.tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


_opened: list[WasmPlugin] = []


@pytest.fixture(autouse=True)
def _close_plugins():
    """Stop each test's watcher threads when the test ends."""
    yield
    while _opened:
        _opened.pop().close()


def setup(tmp_path, data: bytes, **kwargs):
    path = tmp_path / "plugin.wasm"
    path.write_bytes(data)
    errors: list[PluginError] = []
    kwargs.setdefault("reload_interval", 60.0)  # tests call reload() themselves
    plugin = WasmPlugin(path, id="live", reload=True, on_error=errors.append, **kwargs)
    if kwargs["reload_interval"] > 1:
        _opened.append(plugin)
    tt = TestTransport("tt")
    return path, plugin, LogLayer(transports=tt, plugins=[plugin]), tt, errors


def version_of(log, tt):
    log.info("x")
    return tt.last_line().data.get("version")


def test_reload_swaps_in_a_changed_module(tmp_path):
    path, plugin, log, tt, errors = setup(tmp_path, data_guest("a"))
    assert version_of(log, tt) == "a"
    replace(path, data_guest("b"))
    assert plugin.reload() is True
    assert plugin.generation == 2
    assert version_of(log, tt) == "b"
    assert errors == []


def test_the_watcher_picks_up_a_change(tmp_path):
    path, plugin, log, tt, errors = setup(tmp_path, data_guest("a"), reload_interval=0.01)
    replace(path, data_guest("b"))
    deadline = time.monotonic() + 30  # a termination bound only
    while plugin.generation == 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert version_of(log, tt) == "b"
    assert errors == []
    plugin.close()


def test_unchanged_content_is_not_reloaded(tmp_path):
    path, plugin, log, tt, errors = setup(tmp_path, data_guest("a"))
    assert plugin.reload() is False
    replace(path, data_guest("a"))  # a new file, the same module
    assert plugin.reload() is False
    assert plugin.generation == 1 and errors == []


def test_the_watcher_waits_for_a_file_to_settle(tmp_path):
    path, plugin, log, tt, errors = setup(tmp_path, data_guest("a"))
    replace(path, data_guest("b"))
    plugin._poll()  # the change is seen: wait one poll in case it is still being written
    assert plugin.generation == 1
    plugin._poll()
    assert plugin.generation == 2 and errors == []


@pytest.mark.parametrize("new, reason", [
    (b"\0asm\1\0\0\0 truncated", "does not compile"),
    (b"", "does not compile"),
    (wasmtime.wat2wasm(f"(module {PRELUDE})"), "exports the hooks []"),
    (data_guest("b", '(func (export "should_send") (param i32 i32) (result i64) '
                     "(i64.const 0))"), "hooks are fixed"),
    (wasmtime.wat2wasm('(module (import "env" "f" (func))' + PRELUDE + ")"), "env.f"),
])
def test_a_rejected_module_keeps_the_old_one_and_is_reported(tmp_path, new, reason):
    path, plugin, log, tt, errors = setup(tmp_path, data_guest("a"))
    replace(path, new)
    assert plugin.reload() is False
    assert version_of(log, tt) == "a"
    assert len(errors) == 1
    err = errors[0]
    assert (err.plugin_id, err.hook) == ("live", "reload")
    assert reason in str(err) and isinstance(err.__cause__, WasmModuleError)
    # A good module afterwards is taken as usual.
    replace(path, data_guest("c"))
    assert plugin.reload() is True and version_of(log, tt) == "c"


def test_a_rejected_reload_without_on_error_goes_to_stderr(tmp_path, capsys):
    path = tmp_path / "p.wasm"
    path.write_bytes(data_guest("a"))
    plugin = WasmPlugin(path, id="quiet", reload=True, reload_interval=60.0)
    _opened.append(plugin)
    replace(path, b"junk")
    assert plugin.reload() is False
    err = capsys.readouterr().err
    assert "quiet" in err and "reload" in err and "does not compile" in err


def test_a_deleted_file_is_reported_and_the_old_module_kept(tmp_path):
    path, plugin, log, tt, errors = setup(tmp_path, data_guest("a"))
    path.unlink()
    assert plugin.reload() is False
    assert version_of(log, tt) == "a"
    assert [e.hook for e in errors] == ["reload"]
    assert isinstance(errors[0].__cause__, FileNotFoundError)


def test_reload_needs_a_path():
    plugin = WasmPlugin(data_guest("a"))
    with pytest.raises(ValueError, match="path"):
        plugin.reload()


def test_calls_in_flight_finish_on_the_old_instance(tmp_path):
    path, plugin, log, tt, errors = setup(tmp_path, spinning_gate("true", 450_000_000),
                                          fuel=None, timeout=None)
    old_pool = plugin._current.gen.pool
    results = []

    def slow_call():
        log.info("in flight")
        results.append(len(tt))

    thread = threading.Thread(target=slow_call)
    thread.start()
    deadline = time.monotonic() + 30
    while old_pool and time.monotonic() < deadline:
        time.sleep(0.001)  # until the call has taken the old module's only instance
    replace(path, spinning_gate("false", 1))
    assert plugin.reload() is True
    swapped_while_in_flight = thread.is_alive()
    log.info("after the swap")  # the new module's gate drops it
    thread.join()
    assert swapped_while_in_flight
    assert results == [1]
    assert [e.messages for e in tt.lines] == [["in flight"]]
    assert errors == []


def test_swap_while_four_threads_call_the_hook(tmp_path):
    path, plugin, log, tt, errors = setup(tmp_path, data_guest("v0"), reload_interval=0.005)
    stop = threading.Event()
    calls = [0] * 4

    def caller(n):
        while not stop.is_set():
            log.info("x")
            calls[n] += 1

    threads = [threading.Thread(target=caller, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    try:
        for version in range(1, 13):
            replace(path, data_guest(f"v{version}"))
            plugin.reload()  # the watcher races to do the same; either one swaps
            time.sleep(0.02)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert errors == []
    versions = [e.data.get("version") for e in tt.lines]
    assert len(versions) == sum(calls) and all(c > 0 for c in calls)
    assert None not in versions, "a call failed and fell back"
    assert {f"v{n}" for n in range(13)} >= set(versions) and len(set(versions)) > 1
    assert version_of(log, tt) == "v12"
    plugin.close()


def _watchers() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("loglayer-wasm-reload-")}


def _wait_until_stopped(thread: threading.Thread) -> None:
    thread.join(30)  # a termination bound only
    assert not thread.is_alive()


def test_the_watcher_stops_on_close_and_when_the_plugin_is_collected(tmp_path):
    before = _watchers()
    path, plugin, log, tt, errors = setup(tmp_path, data_guest("a"), reload_interval=0.01)
    (watcher,) = _watchers() - before
    plugin.close()
    _wait_until_stopped(watcher)

    before = _watchers()
    path, plugin, log, tt, errors = setup(tmp_path, data_guest("a"), reload_interval=0.01)
    (watcher,) = _watchers() - before
    del plugin, log
    gc.collect()
    _wait_until_stopped(watcher)
