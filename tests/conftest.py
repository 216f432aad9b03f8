"""Shared fixtures. The suite runs once per core: `loglayer` is whichever one is live."""

from __future__ import annotations

import importlib

import pytest

import loglayer
from loglayer.testing import TestTransport


def available_cores():
    """Both cores, for tests that compare them or must prove something of each."""
    cores = [importlib.import_module("loglayer._core_py")]
    try:
        cores.insert(0, importlib.import_module("loglayer._core"))
    except ImportError:  # the guard test in test_cores.py fails the run in that case
        pass
    return cores


@pytest.fixture
def tt() -> TestTransport:
    return TestTransport("tt")


@pytest.fixture
def log(tt) -> loglayer.LogLayer:
    return loglayer.LogLayer(transports=tt)


@pytest.fixture(params=available_cores(), ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def core(request):
    """Each core module in turn (compiled first when built)."""
    return request.param
