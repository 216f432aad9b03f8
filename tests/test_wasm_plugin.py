"""WasmPlugin: loading, the ABI documents, hooks through the live core, limits, threads.

Guests are written in WAT and compiled here with ``wasmtime.wat2wasm``. The suite runs
once per core: on the compiled core plugins take the fast path when it is built, on
the pure core the generic path; tests that need one path ask for it by name.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import pathlib
import threading

import pytest

pytestmark = pytest.mark.slow  # every test here runs a wasm engine and module
wasmtime = pytest.importorskip("wasmtime")

import loglayer  # noqa: E402
from loglayer import LogLayer, LogLevel, PluginError  # noqa: E402
from loglayer._common import PluginRecord  # noqa: E402
from loglayer.isolation import WasmPlugin  # noqa: E402
from loglayer.isolation import _wasm_abi as abi  # noqa: E402
from loglayer.isolation import _wasm_host as host  # noqa: E402
from loglayer.plugin import HOOK_NAMES  # noqa: E402
from loglayer.testing import TestTransport  # noqa: E402

FAST = host.FAST_PATH_UNAVAILABLE is None
PATHS = [pytest.param(False, id="generic"),
         pytest.param(True, id="fast", marks=pytest.mark.skipif(
             not FAST, reason=f"fast path unavailable: {host.FAST_PATH_UNAVAILABLE}"))]

# Memory and an allocator that puts the input at 64 KiB, growing memory to fit it.
PRELUDE = r"""
  (memory (export "memory") 2)
  (func (export "alloc") (param $len i32) (result i32)
    (local $missing i32)
    (local.set $missing
      (i32.sub (i32.shr_u (i32.add (local.get $len) (i32.const 131071)) (i32.const 16))
               (memory.size)))
    (if (i32.gt_s (local.get $missing) (i32.const 0))
      (then (drop (memory.grow (local.get $missing)))))
    (i32.const 65536))
"""

ECHO = """(func (export "{name}") (param $p i32) (param $n i32) (result i64)
    (i64.or (i64.shl (i64.extend_i32_u (local.get $p)) (i64.const 32))
            (i64.extend_i32_u (local.get $n))))"""


def module(*parts: str, imports: str = "", prelude: str = PRELUDE) -> bytes:
    return wasmtime.wat2wasm("(module " + imports + prelude + "\n".join(parts) + ")")


def const_guest(**results: str | None) -> bytes:
    """Each named hook returns the given JSON text (None: the packed result 0)."""
    parts = []
    for i, (name, text) in enumerate(results.items()):
        if text is None:
            parts.append(f'(func (export "{name}") (param i32 i32) (result i64) (i64.const 0))')
            continue
        offset = 1024 * (i + 1)
        escaped = text.replace("\\", "\\\\").replace('"', '\\"')
        parts.append(f'(data (i32.const {offset}) "{escaped}")')
        parts.append(f'(func (export "{name}") (param i32 i32) (result i64) '
                     f"(i64.const {(offset << 32) | len(text.encode())}))")
    return module(*parts)


def echo_guest(*names: str) -> bytes:
    """Each named hook returns its input document unchanged."""
    return module(*(ECHO.format(name=name) for name in names))


def wasmtime_major() -> int:
    return int(importlib.metadata.version("wasmtime").split(".")[0])


def params(**overrides):
    values = dict(level=LogLevel.INFO, messages=["hello"], data={"a": 1}, metadata=None,
                  error=None, fields={"a": 1}, ctx=None, prefix=None, groups=())
    values.update(overrides)
    p = loglayer.HookParams(*values.values())
    p.transport_id = "tt"
    return p


def logger(plugin, **config):
    tt = TestTransport("tt")
    return LogLayer(transports=tt, plugins=[plugin], **config), tt


# -- loading ---------------------------------------------------------------------------

def test_loads_from_bytes_bytearray_memoryview_and_paths(tmp_path):
    wasm = const_guest(should_send="true")
    path = tmp_path / "gate.wasm"
    path.write_bytes(wasm)
    for source in (wasm, bytearray(wasm), memoryview(wasm), str(path), path):
        plugin = WasmPlugin(source)
        assert plugin.hooks == ("should_send",)
        assert plugin.should_send(params()) is True
        plugin.close()
    assert WasmPlugin(path).path == str(path)
    assert WasmPlugin(wasm).path is None


def test_plugins_from_the_same_bytes_share_the_compiled_module():
    wasm = const_guest(should_send="true")
    first, second = WasmPlugin(wasm), WasmPlugin(bytearray(wasm))
    assert first._current.gen.compiled.module is second._current.gen.compiled.module
    other = WasmPlugin(const_guest(should_send="false"))
    assert other._current.gen.compiled.module is not first._current.gen.compiled.module


def test_other_sources_raise_type_error():
    with pytest.raises(TypeError, match="path_or_bytes"):
        WasmPlugin(42)


def test_missing_file_raises_os_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        WasmPlugin(tmp_path / "absent.wasm")


@pytest.mark.parametrize("kwargs, error", [
    ({"fuel": 0}, ValueError), ({"fuel": 1.5}, TypeError), ({"fuel": True}, TypeError),
    ({"timeout": 0}, ValueError), ({"timeout": "1"}, TypeError),
    ({"memory_limit": 1000}, ValueError), ({"reload": 1}, TypeError),
    ({"reload": True}, ValueError), ({"reload_interval": 0}, ValueError),
    ({"wasi": "yes"}, TypeError), ({"wasi": {"network": True}}, ValueError),
    ({"wasi": {"argv": "a b"}}, TypeError), ({"on_error": 3}, TypeError),
    ({"id": 3}, TypeError), ({"fast_path": "no"}, TypeError),
])
def test_bad_arguments_are_refused(kwargs, error):
    with pytest.raises(error):
        WasmPlugin(const_guest(should_send="true"), **kwargs)


def test_only_exported_hooks_become_attributes():
    plugin = WasmPlugin(const_guest(on_before_data_out="{}", should_send="true"))
    assert plugin.hooks == ("on_before_data_out", "should_send")
    for name in HOOK_NAMES:
        assert hasattr(plugin, name) == (name in plugin.hooks)
    assert sorted(PluginRecord(plugin).hooks) == ["on_before_data_out", "should_send"]


def test_a_module_without_hooks_is_a_plugin_that_does_nothing():
    plugin = WasmPlugin(module())
    log, tt = logger(plugin)
    log.info("x")
    assert plugin.hooks == () and len(tt) == 1


def test_id_is_generated_when_the_plugin_is_added():
    plugin = WasmPlugin(const_guest(should_send="true"))
    assert plugin.id is None
    log, _ = logger(plugin)
    assert plugin.id and log.get_plugin(plugin.id) is plugin
    assert WasmPlugin(const_guest(should_send="true"), id="gate").id == "gate"


def test_invalid_module_is_refused():
    with pytest.raises(PluginError, match="does not compile") as info:
        WasmPlugin(b"\0asm garbage", id="bad")
    assert info.value.plugin_id == "bad" and info.value.hook == "load"
    assert isinstance(info.value.__cause__, host.WasmModuleError)


def test_missing_imports_are_all_listed():
    wasm = module(imports='(import "env" "now" (func (result i64)))'
                          '(import "wasi_snapshot_preview1" "fd_write" '
                          "(func (param i32 i32 i32 i32) (result i32)))"
                          '(import "host" "table" (table 1 funcref))')
    with pytest.raises(PluginError) as info:
        WasmPlugin(wasm)
    message = str(info.value)
    for name in ("env.now", "wasi_snapshot_preview1.fd_write", "host.table"):
        assert name in message


def test_wasi_grant_satisfies_only_wasi_imports():
    fd_write = ('(import "wasi_snapshot_preview1" "fd_write" '
                "(func (param i32 i32 i32 i32) (result i32)))")
    assert WasmPlugin(module(imports=fd_write), wasi=True).hooks == ()
    with pytest.raises(PluginError, match="env.f") as info:
        WasmPlugin(module(imports=fd_write + '(import "env" "f" (func))'), wasi=True)
    assert "fd_write" not in str(info.value)


WRITE_HELLO = r"""
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 100) "hello from the guest\n")
  (data (i32.const 200) "true")
  (func (export "alloc") (param i32) (result i32) (i32.const 65536))
  (func (export "should_send") (param i32 i32) (result i64)
    (i32.store (i32.const 0) (i32.const 100))
    (i32.store (i32.const 4) (i32.const 21))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (i64.const 858993459204))
"""


@pytest.mark.parametrize("fast", PATHS)
def test_wasi_grants_only_what_is_named(tmp_path, fast, capfd):
    wasm = wasmtime.wat2wasm("(module " + WRITE_HELLO + ")")
    silent = WasmPlugin(wasm, wasi=True, fast_path=fast)
    assert silent.should_send(params()) is True
    assert "hello" not in capfd.readouterr().out
    out = tmp_path / "stdout.txt"
    granted = WasmPlugin(wasm, wasi={"stdout": str(out)}, fast_path=fast)
    assert granted.should_send(params()) is True
    assert out.read_text() == "hello from the guest\n"


PREOPEN_GUEST = r"""
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read"
    (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 0) "true")
  (data (i32.const 8) "false")
  (data (i32.const 32) "hello.txt")
  (data (i32.const 48) "new.txt")
  (func (export "alloc") (param i32) (result i32) (i32.const 65536))
  ;; the content of hello.txt in the first preopened directory (fd 3), or None
  (func (export "on_metadata_called") (param i32 i32) (result i64)
    (if (call $path_open (i32.const 3) (i32.const 0) (i32.const 32) (i32.const 9)
          (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 64))
      (then (return (i64.const 0))))
    (i32.store (i32.const 80) (i32.const 1024))
    (i32.store (i32.const 84) (i32.const 256))
    (drop (call $fd_read (i32.load (i32.const 64)) (i32.const 80) (i32.const 1) (i32.const 96)))
    (i64.or (i64.const 0x0000040000000000) (i64.extend_i32_u (i32.load (i32.const 96)))))
  ;; whether creating new.txt there succeeds
  (func (export "should_send") (param i32 i32) (result i64)
    (if (result i64) (call $path_open (i32.const 3) (i32.const 0) (i32.const 48) (i32.const 7)
          (i32.const 1) (i64.const 64) (i64.const 0) (i32.const 0) (i32.const 64))
      (then (i64.const 0x0000000800000005))
      (else (i64.const 4))))
"""


@pytest.mark.parametrize("fast", PATHS)
def test_a_preopened_directory_is_readable_and_read_only(tmp_path, fast):
    (tmp_path / "hello.txt").write_text('"granted"')
    wasm = wasmtime.wat2wasm("(module " + PREOPEN_GUEST + ")")
    nothing = WasmPlugin(wasm, wasi=True, fast_path=fast)
    assert nothing.on_metadata_called({}) is None
    granted = WasmPlugin(wasm, wasi={"preopen": {"/data": tmp_path}}, fast_path=fast)
    assert granted.on_metadata_called({}) == "granted"
    assert granted.should_send(params()) is False
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hello.txt"]


@pytest.mark.parametrize("wat, match", [
    ("", "does not export its linear memory"),
    ('(memory (export "memory") 1)', "does not export 'alloc'"),
    ('(memory (export "memory") 1) (func (export "alloc") (param i64) (result i32) '
     "(i32.const 0))", "'alloc' must be a function"),
    (PRELUDE + '(func (export "should_send") (param i32 i32) (result i32) (i32.const 0))',
     "'should_send' must be a function"),
    (PRELUDE + '(func (export "dealloc") (param i32))', "'dealloc' must be a function"),
    (PRELUDE + '(func (export "loglayer_abi_version") (result i32) (i32.const 2))',
     "ABI version 2"),
    ('(memory (export "memory") 300)' + PRELUDE.replace('(memory (export "memory") 2)', ""),
     "does not instantiate"),
])
def test_modules_that_break_the_abi_are_refused(wat, match):
    with pytest.raises(PluginError, match=match):
        WasmPlugin(wasmtime.wat2wasm(f"(module {wat})"))


def test_abi_version_1_is_accepted():
    wasm = module('(func (export "loglayer_abi_version") (result i32) (i32.const 1))')
    assert WasmPlugin(wasm).hooks == ()


def test_start_function_and_initialize_run_within_limits():
    wasm = module('(global $g (mut i32) (i32.const 0))',
                  '(func $start (global.set $g (i32.const 1))) (start $start)',
                  '(func (export "_initialize") (global.set $g (i32.const 2)))')
    assert WasmPlugin(wasm).hooks == ()
    looping = module('(func $start (loop $l (br $l))) (start $start)')
    with pytest.raises(PluginError, match="does not instantiate"):
        WasmPlugin(looping, fuel=10_000)


# -- hooks through the core ------------------------------------------------------------

@pytest.mark.parametrize("fast", PATHS)
def test_each_hook_returns_python_values(fast):
    plugin = WasmPlugin(const_guest(
        on_fields_called='{"f":"wasm"}', on_metadata_called='{"m":[1,2.5,null]}',
        on_before_data_out='{"d":true}', on_before_message_out='["from", "wasm"]',
        transform_log_level="40", should_send="true"), fast_path=fast)
    log, tt = logger(plugin)
    log.with_fields(f="caller").with_metadata({"m": 0}).info("hi")
    entry = tt.last_line()
    assert entry.fields == {"f": "wasm"}
    assert entry.metadata == {"m": [1, 2.5, None]}
    assert entry.data == {"f": "wasm", "d": True}
    assert entry.messages == ["from", "wasm"]
    assert entry.level == LogLevel.ERROR


@pytest.mark.parametrize("fast", PATHS)
def test_none_results_mean_none(fast):
    plugin = WasmPlugin(const_guest(on_metadata_called=None, on_before_data_out="null",
                                    transform_log_level=None), fast_path=fast)
    log, tt = logger(plugin, fields={"a": 1})
    log.with_metadata({"m": 1}).warn("x")
    entry = tt.last_line()
    assert entry.metadata is None and entry.data == {"a": 1} and entry.level == LogLevel.WARN
    log.metadata_only({"m": 1})
    assert len(tt) == 1


@pytest.mark.parametrize("fast", PATHS)
def test_gate_false_drops_the_entry(fast):
    log, tt = logger(WasmPlugin(const_guest(should_send="false"), fast_path=fast))
    log.error("x")
    assert len(tt) == 0


@pytest.mark.parametrize("fast", PATHS)
def test_guest_sees_the_documented_dispatch_document(fast):
    log, tt = logger(WasmPlugin(echo_guest("on_before_data_out"), fast_path=fast),
                     fields={"user": "ada"}, prefix="[app]")
    error = ValueError("boom")
    log.with_metadata({"ip": "10.0.0.1"}).with_error(error).warn("a", 2)
    data = tt.last_line().data
    assert list(data) == ["user", "err", "v", "level", "messages", "data", "metadata",
                          "error", "prefix", "groups"]
    assert data["v"] == abi.SCHEMA_VERSION
    assert data["level"] == 30 and data["messages"] == ["a", 2]
    assert data["data"]["user"] == "ada" and data["data"]["err"]["type"] == "ValueError"
    assert data["metadata"] == {"ip": "10.0.0.1"}
    assert data["error"] == {"type": "ValueError", "message": "boom"}
    assert data["prefix"] == "[app]" and data["groups"] == []


@pytest.mark.parametrize("fast", PATHS)
def test_guest_sees_the_groups_and_its_rewrite_keeps_them(core, fast):
    """A guest reads the entry's groups in its document; the entry the host builds from
    the guest's results keeps them, and is routed by them (#15)."""
    rewrite = WasmPlugin(const_guest(on_before_message_out='["rewritten"]',
                                     transform_log_level='"error"'), fast_path=fast)
    echo = WasmPlugin(echo_guest("on_before_data_out"), fast_path=fast)
    db, other = TestTransport("db"), TestTransport("other")
    log = core.LogLayer(transports=[db, other], plugins=[rewrite, echo],
                        groups={"db": {"transports": ["db"], "level": "error"}},
                        ungrouped=["other"])
    log.with_group("db").info("tagged")
    log.with_metadata({"m": 1}).with_group("db", "audit").info("builder")
    log.info("untagged")
    tagged, builder = db.lines
    # what the guest was handed: the tags, as an array after the prefix
    assert tagged.data["groups"] == ["db"] and builder.data["groups"] == ["db", "audit"]
    assert list(tagged.data)[-2:] == ["prefix", "groups"]
    # the rewritten entry (messages, and a level that now meets the group's) keeps them
    assert tagged.messages == ["rewritten"] and tagged.level == LogLevel.ERROR
    assert (tagged.groups, builder.groups) == (("db",), ("db", "audit"))
    [untagged] = other.lines
    assert untagged.data["groups"] == [] and untagged.groups == ()


@pytest.mark.parametrize("fast", PATHS)
def test_guest_sees_the_documented_input_documents(fast):
    plugin = WasmPlugin(echo_guest("on_fields_called", "on_metadata_called"), fast_path=fast)
    log, tt = logger(plugin)
    log.with_fields(k="v").with_metadata([1, "two"]).info("x")
    entry = tt.last_line()
    assert entry.fields == {"v": 1, "fields": {"k": "v"}}
    assert entry.metadata == {"v": 1, "metadata": [1, "two"]}


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Opaque:
    __slots__ = ()

    def __str__(self) -> str:
        return "opaque!"


@pytest.mark.parametrize("fast", PATHS)
def test_values_json_cannot_hold_are_converted(fast):
    plugin = WasmPlugin(echo_guest("on_metadata_called"), fast_path=fast)
    log, tt = logger(plugin)
    log.with_metadata({"point": Point(1, 2), "set": {3}, "err": KeyError("k"),
                       "obj": Opaque(), 7: "seven", "level": LogLevel.WARN}).info("x")
    sent = tt.last_line().metadata["metadata"]
    assert sent == {"point": {"x": 1, "y": 2}, "set": [3],
                    "err": {"type": "KeyError", "message": "'k'"}, "obj": "opaque!",
                    "7": "seven", "level": 30}


def test_should_send_document_names_the_transport():
    doc = abi.encode_params(params(), True)
    assert doc.endswith(b',"prefix":null,"groups":[],"transport_id":"tt"}')
    assert abi.encode_params(params(groups=("db", "auth")), False).endswith(
        b',"prefix":null,"groups":["db","auth"]}')
    assert b"transport_id" not in abi.encode_params(params(), False)
    assert abi.encode_fields({"a": 1}) == b'{"v":1,"fields":{"a":1}}'
    assert abi.encode_metadata(None) == b'{"v":1,"metadata":null}'


@pytest.mark.skipif(not FAST, reason=f"fast path unavailable: {host.FAST_PATH_UNAVAILABLE}")
def test_fast_path_encodes_the_same_bytes_as_the_abi_module():
    from loglayer.isolation import _wasmfast

    current = host._Current(None)
    samples = [params(), params(metadata=Point(1, 2), error=OSError("x"), prefix="p"),
               params(data={1: "non-str key"}, messages=[Opaque(), None, 1.5]),
               params(groups=("db", "auth"))]
    for name in HOOK_NAMES[2:]:
        hook = _wasmfast.FastHook(current, name)
        for p in samples:
            assert hook.encode_document(p) == abi.encode_params(p, name == "should_send")
    fields = _wasmfast.FastHook(current, "on_fields_called")
    metadata = _wasmfast.FastHook(current, "on_metadata_called")
    for value in ({"a": 1}, {2: Point(3, 4)}, [1], "s", None):
        assert metadata.encode_document(value) == abi.encode_metadata(value)
        assert fields.encode_document(value) == abi.encode_fields(value)


@pytest.mark.skipif(not FAST, reason=f"fast path unavailable: {host.FAST_PATH_UNAVAILABLE}")
def test_fast_and_generic_instances_return_the_same_documents():
    fast = WasmPlugin(echo_guest("on_metadata_called"), fast_path=True)._current.gen.spawn()
    generic = fast.owner
    assert isinstance(generic, host._Instance)
    index = HOOK_NAMES.index("on_metadata_called")
    for document in (b'{"v":1,"metadata":null}', b"true", b"false", b"x" * 10_000):
        assert fast.call(index, document) == generic.call(index, document) == document
    with pytest.raises(ValueError, match="hook number 5"):
        fast.call(5, b"{}")


@pytest.mark.skipif(not FAST, reason=f"fast path unavailable: {host.FAST_PATH_UNAVAILABLE}")
def test_fast_and_generic_paths_give_the_same_entries():
    wasm = echo_guest("on_before_data_out", "on_metadata_called")
    results = []
    for fast in (False, True):
        log, tt = logger(WasmPlugin(wasm, fast_path=fast), fields={"a": 1})
        log.with_metadata({"m": [1, {"n": None}]}).with_error(OSError("e")).info("x", 1)
        entry = tt.last_line()
        results.append((entry.data, entry.metadata))
    assert results[0] == results[1]


def test_path_choice_follows_the_core():
    plugin = WasmPlugin(const_guest(should_send="true"))
    assert plugin.fast_path == FAST
    if loglayer.COMPILED and wasmtime_major() == 50:
        assert FAST, f"the fast path did not load on the compiled core: " \
                     f"{host.FAST_PATH_UNAVAILABLE}"
    else:
        assert not FAST
        with pytest.raises(ImportError, match="fast path is unavailable"):
            WasmPlugin(const_guest(should_send="true"), fast_path=True)


@pytest.mark.parametrize("fast", PATHS)
def test_results_of_the_wrong_type_fall_back_and_report(fast):
    errors = []
    plugin = WasmPlugin(const_guest(should_send="{}", on_before_data_out="[1]",
                                    transform_log_level="true"),
                        id="typed", on_error=errors.append, fast_path=fast)
    log, tt = logger(plugin, fields={"a": 1})
    log.info("x")
    entry = tt.last_line()
    assert entry is not None and entry.data == {"a": 1} and entry.level == LogLevel.INFO
    assert sorted(e.hook for e in errors) == ["on_before_data_out", "should_send",
                                              "transform_log_level"]
    for err in errors:
        assert err.plugin_id == "typed"
        assert isinstance(err.__cause__, abi.GuestError)
        assert err.__cause__.kind == "bad_result"


def test_plugin_error_without_on_error_goes_to_stderr(capsys):
    log, tt = logger(WasmPlugin(const_guest(should_send="nope"), id="loud"))
    log.info("x")
    assert len(tt) == 1
    err = capsys.readouterr().err
    assert "loud" in err and "should_send" in err


# -- threads ---------------------------------------------------------------------------

@pytest.mark.parametrize("fast", PATHS)
def test_many_threads_share_a_pool_of_instances(fast):
    plugin = WasmPlugin(echo_guest("on_metadata_called"), fast_path=fast)
    log, tt = logger(plugin)
    barrier = threading.Barrier(8)

    def work(n):
        barrier.wait()
        for i in range(50):
            log.with_metadata({"thread": n, "i": i}).info("x")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seen = sorted((e.metadata["metadata"]["thread"], e.metadata["metadata"]["i"])
                  for e in tt.lines)
    assert seen == [(n, i) for n in range(8) for i in range(50)]
    assert 1 <= len(plugin._current.gen.pool) <= 8


def test_close_is_idempotent_and_hooks_keep_working():
    plugin = WasmPlugin(const_guest(should_send="true"))
    plugin.close()
    plugin.close()
    assert plugin.should_send(params()) is True


def test_repr_names_the_module_and_hooks(tmp_path):
    path = tmp_path / "g.wasm"
    path.write_bytes(const_guest(should_send="true"))
    text = repr(WasmPlugin(path, id="g"))
    assert "g.wasm" in text and "should_send" in text and "'g'" in text


def test_guest_header_ships_inside_the_package():
    header = pathlib.Path(abi.include_dir()) / "loglayer_guest.h"
    assert header.is_file()
    text = header.read_text()
    assert "LG_ABI_VERSION 1" in text and 'export_name(#name)' in text
    assert abi.ABI_VERSION == 1
