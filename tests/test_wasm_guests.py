"""The example guests under examples/wasm/, built from source here.

The C redaction guest needs clang with the wasm32 target and lld (Debian: ``clang lld``;
``.ci/run`` installs them); without them its tests are skipped, saying so. The WAT
sampling gate needs nothing but wasmtime.
"""

from __future__ import annotations

import functools
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

import pytest

pytestmark = pytest.mark.slow  # every test here runs a wasm engine and module
wasmtime = pytest.importorskip("wasmtime")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from loglayer import LogLayer, LogLevel  # noqa: E402
from loglayer.isolation import WasmPlugin  # noqa: E402
from loglayer.isolation import _wasm_abi as abi  # noqa: E402
from loglayer.isolation import _wasm_host as host  # noqa: E402
from loglayer.testing import TestTransport  # noqa: E402

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples" / "wasm"
CLANG = os.environ.get("CC", "clang")
C_FLAGS = ["--target=wasm32", "-O2", "-mbulk-memory", "-nostdlib", "-ffreestanding", "-Wall",
           "-Wextra", "-Werror", "-Wl,--no-entry", "-I", abi.include_dir()]
PATHS = [pytest.param(False, id="generic"),
         pytest.param(True, id="fast", marks=pytest.mark.skipif(
             host.FAST_PATH_UNAVAILABLE is not None,
             reason=f"fast path unavailable: {host.FAST_PATH_UNAVAILABLE}"))]
SECRET_FRAGMENTS = ("password", "passwd", "secret", "token", "authorization", "api_key",
                    "apikey", "card_number", "cvv", "ssn")


@functools.cache
def _toolchain_problem() -> str | None:
    """Why C guests cannot be built here, or None when they can."""
    if shutil.which(CLANG) is None:
        return f"{CLANG} is not installed (apt-get install clang lld)"
    with tempfile.TemporaryDirectory() as build_dir:
        probe = pathlib.Path(build_dir) / "probe.c"
        probe.write_text("__attribute__((export_name(\"f\"))) int f(void) { return 1; }\n")
        result = subprocess.run([CLANG, *C_FLAGS, "-o", str(probe.with_suffix(".wasm")),
                                 str(probe)], capture_output=True, text=True)
    if result.returncode != 0:
        return f"{CLANG} cannot build wasm32 modules (needs lld): {result.stderr.strip()[:300]}"
    return None


@pytest.fixture(scope="module")
def redact_wasm(tmp_path_factory) -> bytes:
    build = tmp_path_factory.mktemp("c-guest")
    problem = _toolchain_problem()
    if problem:
        pytest.skip(problem)
    out = build / "redact.wasm"
    subprocess.run([CLANG, *C_FLAGS, "-o", str(out), str(EXAMPLES / "redact.c")], check=True)
    return out.read_bytes()


@pytest.fixture(scope="module")
def gate_wasm() -> bytes:
    return wasmtime.wat2wasm((EXAMPLES / "sampling_gate.wat").read_text())


def _ascii_lower(text: str) -> str:
    return "".join(c.lower() if c.isascii() else c for c in text)


@pytest.fixture(scope="module")
def redacting_log(redact_wasm):
    tt = TestTransport("tt")
    return LogLayer(transports=tt, plugins=[WasmPlugin(redact_wasm)]), tt


def redact_reference(value):
    """What the C guest is meant to do, in Python (keys match ignoring ASCII case)."""
    if isinstance(value, dict):
        return {k: "[REDACTED]" if any(f in _ascii_lower(k) for f in SECRET_FRAGMENTS)
                else redact_reference(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_reference(v) for v in value]
    return value


def test_c_guest_has_no_imports_and_exports_the_abi(redact_wasm):
    module = wasmtime.Module(wasmtime.Engine(), redact_wasm)
    assert module.imports == []
    names = {e.name for e in module.exports}
    assert {"memory", "alloc", "dealloc", "loglayer_abi_version", "on_metadata_called",
            "on_before_data_out"} <= names


@pytest.mark.parametrize("fast", PATHS)
def test_c_guest_redacts_metadata_and_data(redact_wasm, fast):
    errors = []
    tt = TestTransport("tt")
    plugin = WasmPlugin(redact_wasm, id="redact", fast_path=fast, on_error=errors.append)
    log = LogLayer(transports=tt, plugins=[plugin])
    metadata = {"user": "ada", "Password": "hunter2",
                "nested": {"authorization": "Bearer x", "list": [{"api_key": 1}, "ok"]},
                "text": "a \"quoted\" token: value", "n": -1.5e3, "none": None}
    log.with_fields(request_id="r1", session_token="t0k").with_metadata(metadata).info("x")
    entry = tt.last_line()
    assert entry.metadata == redact_reference(metadata)
    assert entry.data == {"request_id": "r1", "session_token": "[REDACTED]"}
    assert metadata["Password"] == "hunter2"  # the caller's dict is untouched
    assert errors == []


@pytest.mark.parametrize("fast", PATHS)
def test_c_guest_leaves_clean_data_alone(redact_wasm, fast):
    tt = TestTransport("tt")
    log = LogLayer(transports=tt, fields={"a": [1, {"b": "c"}]},
                   plugins=[WasmPlugin(redact_wasm, fast_path=fast)])
    log.with_metadata(["not", "a", "dict"]).info("x")
    entry = tt.last_line()
    assert entry.data == {"a": [1, {"b": "c"}]} and entry.metadata == ["not", "a", "dict"]


@pytest.mark.parametrize("fast", PATHS)
def test_c_guest_handles_documents_larger_than_its_first_arena(redact_wasm, fast):
    tt = TestTransport("tt")
    # Fuel scales with the document: half a megabyte needs more than the default.
    plugin = WasmPlugin(redact_wasm, fast_path=fast, fuel=200_000_000, timeout=30.0)
    log = LogLayer(transports=tt, plugins=[plugin])
    big = {f"k{i}": "x" * 100 for i in range(5000)} | {"secret": "s"}
    for _ in range(3):  # the arena is reused once each call has given its memory back
        log.with_metadata(big).info("x")
        assert tt.last_line().metadata == redact_reference(big)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**53, 2**53) | st.text(max_size=12)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(["user", "Token", "id", "my_password", "x", "SSN",
                                       "note", "é", "a\"b"]) | st.text(max_size=6),
                      inner, max_size=4),
    max_leaves=20)


@settings(max_examples=150, deadline=None)
@given(metadata=st.dictionaries(st.text(max_size=8), json_values, max_size=5))
def test_c_guest_never_leaks_and_keeps_everything_else(redacting_log, metadata):
    log, tt = redacting_log
    log.with_metadata(metadata).info("x")
    assert tt.last_line().metadata == redact_reference(metadata)


def test_build_script_builds_both_guests(tmp_path):
    problem = _toolchain_problem()
    if problem:
        pytest.skip(problem)
    env = dict(os.environ, OUT=str(tmp_path / "out"), PYTHON=sys.executable, CC=CLANG)
    subprocess.run(["sh", str(EXAMPLES / "build.sh")], check=True, env=env,
                   capture_output=True)
    for name in ("redact.wasm", "sampling_gate.wasm"):
        assert WasmPlugin(tmp_path / "out" / name).hooks


@pytest.mark.parametrize("fast", PATHS)
def test_sampling_gate_keeps_warnings_and_one_in_four_below(gate_wasm, fast):
    tt = TestTransport("tt")
    log = LogLayer(transports=tt, plugins=[WasmPlugin(gate_wasm, fast_path=fast)])
    for i in range(40):
        log.info("info", i)
    for i in range(10):
        log.warn("warn", i)
        log.error("error", i)
    levels = [e.level for e in tt.lines]
    assert levels.count(LogLevel.WARN) == 10 and levels.count(LogLevel.ERROR) == 10
    assert [e.messages[1] for e in tt.lines if e.level == LogLevel.INFO] == [3, 7, 11, 15, 19,
                                                                           23, 27, 31, 35, 39]


def test_sampling_gate_counts_per_transport_call(gate_wasm):
    # should_send runs once per transport: with two transports each INFO entry makes
    # two gate calls, and the one-in-four sample counts calls, not entries.
    first, second = TestTransport("a"), TestTransport("b")
    log = LogLayer(transports=[first, second], plugins=[WasmPlugin(gate_wasm)])
    for _ in range(8):
        log.info("x")
    assert len(first) + len(second) == 4
