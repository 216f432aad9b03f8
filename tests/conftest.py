"""Shared fixtures.

Two ways the suite covers both cores:

* ``core`` (session-scoped, like multidict's conftest) is parametrized over the two core
  modules, ``compiled`` (``loglayer._core``) and ``pure`` (``loglayer._core_py``), so a
  plain ``pytest`` runs every test that asks for it on each. The behaviour tests of the
  logger, its builder, dispatch, data assembly, derived loggers and plugin hooks build
  their loggers from ``core``.
* Tests that bind to the live core (transports and plugins with compiled fast paths, the
  ready logger, the stdlib facade, configuration) import from ``loglayer``; ``make test``
  runs the suite a second time with ``LOGLAYER_NO_EXTENSIONS=1`` for those.

``loglayer.testing.TestTransport`` works with either core: a core only needs ``id`` and
``send`` (plus the optional ``enabled``/``level``) of a transport.
"""

from __future__ import annotations

import importlib
import os
import platform
from types import ModuleType

import pytest

import loglayer
from loglayer._native import NO_EXTENSIONS
from loglayer.testing import TestTransport


def _import_compiled() -> tuple[ModuleType | None, str]:
    """The compiled core module, or None and the import error."""
    try:
        return importlib.import_module("loglayer._core"), ""
    except ImportError as exc:  # the guard tests in test_cores.py fail the run in that case
        return None, f"the compiled core loglayer._core is not importable: {exc}"


_COMPILED, _IMPORT_ERROR = _import_compiled()
_PURE = importlib.import_module("loglayer._core_py")


def available_cores() -> list[ModuleType]:
    """Every importable core (compiled first), for tests that compare the two modules.

    Unlike the ``core`` fixture this ignores ``LOGLAYER_NO_EXTENSIONS``: comparing the
    modules side by side does not depend on which one is live.
    """
    return [_PURE] if _COMPILED is None else [_COMPILED, _PURE]


if NO_EXTENSIONS and os.environ.get("LOGLAYER_NO_EXTENSIONS"):
    _NO_COMPILED_REASON = "LOGLAYER_NO_EXTENSIONS is set: this run covers the pure core only"
elif NO_EXTENSIONS:
    _NO_COMPILED_REASON = (f"the compiled core is for CPython only, not "
                           f"{platform.python_implementation()}")
elif _COMPILED is None:
    _NO_COMPILED_REASON = _IMPORT_ERROR
else:
    _NO_COMPILED_REASON = ""

_CORE_PARAMS = [
    pytest.param(None, id="compiled", marks=pytest.mark.skip(reason=_NO_COMPILED_REASON))
    if _NO_COMPILED_REASON
    else pytest.param(_COMPILED, id="compiled"),
    pytest.param(_PURE, id="pure"),
]


@pytest.fixture(scope="session", params=_CORE_PARAMS)
def core(request) -> ModuleType:
    """Each core module in turn: ``compiled`` (skipped when unavailable), then ``pure``.

    Use ``core.LogLayer``, ``core.LogBuilder``, ``core.Transport``, ``core.HookParams``
    to build what the test exercises; levels, plugins, errors and ``lazy`` are shared.
    """
    return request.param


@pytest.fixture
def tt() -> TestTransport:
    return TestTransport("tt")


@pytest.fixture
def log(tt) -> loglayer.LogLayer:
    """A logger of the live core; modules that test the core override this with ``core``."""
    return loglayer.LogLayer(transports=tt)
