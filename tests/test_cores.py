"""SPEC §6: compiled and pure cores, one behaviour."""

from __future__ import annotations

import importlib
import importlib.machinery
import inspect
import os
import platform
import subprocess
import sys

import pytest

import loglayer
import loglayer._core_py
from conftest import available_cores
from loglayer.testing import TestTransport


def test_extension_loaded_when_expected():
    """The guard: on CPython without LOGLAYER_NO_EXTENSIONS, the compiled core must be live."""
    expected = platform.python_implementation() == "CPython" and not os.environ.get(
        "LOGLAYER_NO_EXTENSIONS"
    )
    if expected:
        assert loglayer.COMPILED, "the compiled core was expected but did not load"
        assert loglayer.LogLayer.__module__ == "loglayer._core"
    else:
        assert not loglayer.COMPILED
        assert loglayer.LogLayer.__module__ == "loglayer._core_py"


def test_compiled_core_is_importable_on_cpython():
    if platform.python_implementation() != "CPython":
        pytest.skip("the extension is built for CPython only")
    core = importlib.import_module("loglayer._core")
    assert isinstance(core.__loader__, importlib.machinery.ExtensionFileLoader), core.__file__
    # real Cython extension types, not a compiled copy of the Python classes: a Python
    # class (compiled or not) either gives its instances a __dict__ or declares __slots__;
    # a cdef class does neither, its fields live in the C struct. The pure twin's classes
    # show the check tells the two apart.
    for name in ("LogLayer", "LogBuilder", "LogEntry", "HookParams", "Transport"):
        compiled, pure = getattr(core, name), getattr(loglayer._core_py, name)
        assert compiled.__module__ == "loglayer._core", name
        assert "__slots__" not in vars(compiled) and compiled.__dictoffset__ == 0, name
        assert "__slots__" in vars(pure) or pure.__dictoffset__ != 0, name


@pytest.mark.slow
def test_env_var_selects_the_pure_core():
    code = "import loglayer; print(loglayer.COMPILED, loglayer.LogLayer.__module__)"
    env = dict(os.environ, LOGLAYER_NO_EXTENSIONS="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "loglayer._core_py"]


def test_both_cores_share_the_public_helpers():
    cores = available_cores()
    assert {c.lazy for c in cores} == {loglayer.lazy}
    for core in cores:
        assert set(core.__all__) == {"HookParams", "LineSink", "LogBuilder", "LogEntry",
                                     "LogLayer", "PluginSet", "Transport", "allows", "lazy",
                                     "run_hooks"}


def _run_scenario(core):
    tt = TestTransport("t")
    errors = []
    log = core.LogLayer(transports=tt, fields={"base": 1}, prefix="[p]",
                        on_transport_error=errors.append)
    log.add_plugin(
        loglayer.fields_hook("f", lambda f: {**f, "hooked": True}),
        loglayer.metadata_hook("m", lambda m: m if not isinstance(m, dict) or "drop" not in m
                               else None),
        loglayer.data_hook("d", lambda p: {"n_messages": len(p.messages)}),
        loglayer.message_hook("msg", lambda p: [str(m).upper() for m in p.messages]),
        loglayer.level_hook("lvl", lambda p: "error" if "boom" in p.messages[0].lower()
                            else None),
        loglayer.send_gate("g", lambda p: p.messages[0] != "SKIP"),
    )
    child = log.with_fields(a=1).with_prefix("[c]")
    child.info("hello", 2)
    child.with_metadata({"m": 1}).with_metadata({"drop": 1}).warn("two")
    child.with_error(ValueError("v")).debug("boom")
    child.info("skip")
    child.metadata_only([1, 2])
    child.error_only(KeyError("k"), copy_msg=True)
    child.raw("trace", ["raw"], fields={"r": 1}, ctx="c")
    child.set_level("warn")
    child.info("filtered")
    return [
        (int(e.level), e.messages, {k: v for k, v in e.data.items() if k != "err"},
         e.data.get("err", {}).get("type"), e.metadata, e.prefix, e.ctx, e.fields)
        for e in tt.lines
    ], errors


def test_cores_agree_on_a_full_scenario():
    cores = available_cores()
    expected = ["loglayer._core_py"]
    if platform.python_implementation() == "CPython":
        expected.insert(0, "loglayer._core")  # the guard above: it must be importable
    assert [c.__name__ for c in cores] == expected
    if len(cores) < 2:
        pytest.skip("only the pure core exists on this interpreter: nothing to compare")
    compiled, pure = (_run_scenario(core) for core in cores)
    assert pure == compiled
    assert len(compiled[0]) == 6


_PUBLIC_CLASSES = ("LogLayer", "LogBuilder", "Transport", "LineSink", "LogEntry", "HookParams",
                   "PluginSet")


def _public_methods(cls: type) -> list[str]:
    return sorted(name for name in dir(cls) if not name.startswith("_")
                  and callable(getattr(cls, name)) and not isinstance(getattr(cls, name), type))


def _parameters(obj) -> list[tuple[str, str]]:
    """(name, kind) of each parameter but ``self``, which the compiled methods declare
    positional-only."""
    params = list(inspect.signature(obj).parameters.values())
    if params and params[0].name == "self":
        params = params[1:]
    return [(p.name, p.kind.name) for p in params]


def test_the_compiled_core_has_the_signatures_and_docstrings_of_the_pure_core():
    """help(), IDEs and inspect.signature see the same API on both cores: every public
    class and method has a signature, with the pure core's parameters and docstring."""
    cores = available_cores()
    if len(cores) < 2:
        pytest.skip("only the pure core exists on this interpreter: nothing to compare")
    compiled, pure = cores
    for name in _PUBLIC_CLASSES:
        ccls, pcls = getattr(compiled, name), getattr(pure, name)
        assert _parameters(ccls) == _parameters(pcls), name
        if name != "LineSink":  # how to subclass it differs: C methods vs Python ones
            assert inspect.getdoc(ccls) == inspect.getdoc(pcls), name
        assert _public_methods(ccls) == _public_methods(pcls), name
        for method in _public_methods(pcls):
            cm, pm = getattr(ccls, method), getattr(pcls, method)
            assert _parameters(cm) == _parameters(pm), f"{name}.{method}"
            assert inspect.getdoc(cm) == inspect.getdoc(pm), f"{name}.{method}"


def test_defaults_in_the_signatures_are_the_real_ones():
    for core in available_cores():
        params = inspect.signature(core.LogLayer).parameters
        assert params["transports"].default is None
        assert params["level"].default is loglayer.LogLevel.TRACE
        assert params["error_key"].default == "err"
