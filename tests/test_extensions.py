"""Guards for the compiled extensions: on CPython each must be built and in use.

A wheel or an install that silently lost an extension would still pass every
behaviour test on the pure twin, only slower. So, unless ``LOGLAYER_NO_EXTENSIONS``
asks for the pure code, each test here fails when its extension is not the one
running. And an extension that is present but broken raises at import instead of
falling back: only a module that is not there at all falls back.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys

import pytest

import loglayer
from loglayer import _native, _select

EXTENSIONS = ("_core", "_render", "utils._clonefast", "plugins._samplefast",
              "isolation._wasmfast", "_stdlibfast", "transports._syslogfast",
              "transports._journaldfast")

expected = pytest.mark.skipif(
    _native.NO_EXTENSIONS,
    reason="LOGLAYER_NO_EXTENSIONS is set or the interpreter is not CPython")


def _in_use(name: str):
    """The module the package runs for the extension ``name`` (None: the pure code)."""
    if name == "_core":
        return _select.core
    if name == "_render":
        return _select.render
    if name == "utils._clonefast":
        from loglayer.utils import _cloner
        return _cloner._fast
    if name == "plugins._samplefast":
        from loglayer.plugins import sampling
        return sampling._fast
    if name == "_stdlibfast":
        from loglayer import stdlib
        return stdlib._fast
    if name == "transports._syslogfast":
        from loglayer.transports import _syslog
        return _syslog._fast
    if name == "transports._journaldfast":
        from loglayer.transports import _journald
        return _journald._fast
    from loglayer.isolation import _wasm_host
    return _wasm_host._wasmfast


@expected
@pytest.mark.parametrize("name", EXTENSIONS)
def test_the_extension_is_built(name):
    spec = importlib.util.find_spec(f"loglayer.{name}")
    assert spec is not None, f"loglayer.{name} was not built"
    assert spec.origin.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)), spec.origin


@expected
@pytest.mark.parametrize("name", EXTENSIONS)
def test_the_extension_is_the_one_in_use(name):
    module = _in_use(name)
    assert module is not None, f"loglayer.{name} is built but the pure code runs"
    assert module is sys.modules[f"loglayer.{name}"]
    assert module.__file__.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))


@expected
def test_compiled_is_true_with_the_extensions():
    assert loglayer.COMPILED is True
    assert loglayer.LogLayer.__module__ == "loglayer._core"
    assert loglayer.ConsoleTransport.__mro__[1].__module__ == "loglayer._render"


@pytest.mark.skipif(not _native.NO_EXTENSIONS, reason="the extensions are on")
@pytest.mark.parametrize("name", EXTENSIONS)
def test_no_extension_runs_when_they_are_off(name):
    assert _in_use(name) is None or _in_use(name).__name__.endswith("_py")
    assert loglayer.COMPILED is False


def test_a_module_that_is_not_there_falls_back(monkeypatch):
    monkeypatch.setattr(_native, "NO_EXTENSIONS", False)
    assert _native.compiled("no_such_extension") is None


def test_a_broken_extension_raises_instead_of_falling_back(monkeypatch):
    def undefined_symbol(name):
        raise ImportError(f"{name}: undefined symbol: PyFoo_Bar")

    monkeypatch.setattr(_native, "NO_EXTENSIONS", False)
    monkeypatch.setattr(importlib, "import_module", undefined_symbol)
    with pytest.raises(ImportError, match="undefined symbol"):
        _native.compiled("_core")


def test_a_dependency_missing_inside_an_extension_is_not_taken_for_the_extension(
        monkeypatch):
    def missing_dependency(name):
        raise ModuleNotFoundError("No module named 'orjson'", name="orjson")

    monkeypatch.setattr(_native, "NO_EXTENSIONS", False)
    monkeypatch.setattr(importlib, "import_module", missing_dependency)
    with pytest.raises(ModuleNotFoundError, match="orjson"):
        _native.compiled("_render")


def test_the_switch_turns_every_extension_off(monkeypatch):
    monkeypatch.setattr(_native, "NO_EXTENSIONS", True)
    assert [_native.compiled(name) for name in EXTENSIONS] == [None] * len(EXTENSIONS)
