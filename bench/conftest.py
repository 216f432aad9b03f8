"""Fixtures for the micro benchmark: both cores, and the compiled reference method.

``_baseline.pyx`` is compiled on first use with pyximport (Cython is a build
dependency, so it is in the venv), into a build directory outside the tree.
"""

from __future__ import annotations

import importlib
import os
import sys
import tempfile

import pytest

BENCH_DIR = os.path.dirname(__file__)


@pytest.fixture(scope="session")
def empty_cdef():
    import pyximport

    pyximport.install(build_dir=os.path.join(tempfile.gettempdir(), "loglayer-bench-pyx"),
                      language_level=3, inplace=False)
    sys.path.insert(0, BENCH_DIR)
    try:
        return importlib.import_module("_baseline").Empty()
    finally:
        sys.path.remove(BENCH_DIR)


def _cores():
    cores = [pytest.param("loglayer._core_py", id="pure")]
    try:
        importlib.import_module("loglayer._core")
        cores.insert(0, pytest.param("loglayer._core", id="compiled"))
    except ImportError:
        pass
    return cores


@pytest.fixture(params=_cores())
def core(request):
    return importlib.import_module(request.param)
