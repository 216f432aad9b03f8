"""Micro benchmark of the core (issue: compiled emission pipeline).

Run with ``make bench-micro``. Each loglayer figure is read against reference
points measured in the same run: an empty METH_O method on a cdef class, and the
stdlib's disabled ``debug``. Nothing here asserts a timing.
"""

from __future__ import annotations

import gc
import logging
import tracemalloc

import pytest

import loglayer


class NullTransport:
    """A transport whose ``send`` does nothing (duck-typed: no base class involved)."""

    id = "null"

    def send(self, entry):
        pass


def _null_for(core):
    class Null(core.Transport):
        def send(self, entry):
            pass

    return Null("null")


@pytest.mark.benchmark(group="disabled")
def test_reference_empty_cdef_method(benchmark, empty_cdef):
    benchmark(empty_cdef.noop, "x")


@pytest.mark.benchmark(group="disabled")
def test_reference_stdlib_disabled_debug(benchmark):
    logger = logging.getLogger("bench.disabled")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    benchmark(logger.debug, "x")


@pytest.mark.benchmark(group="disabled")
def test_disabled_debug(benchmark, core):
    log = core.LogLayer(transports=_null_for(core), level="info")
    benchmark(log.debug, "x")


@pytest.mark.benchmark(group="info-noop")
def test_info_noop_transport(benchmark, core):
    log = core.LogLayer(transports=_null_for(core))
    benchmark(log.info, "msg", 1, 2)


@pytest.mark.benchmark(group="info-noop")
def test_info_duck_noop_transport(benchmark, core):
    log = core.LogLayer(transports=NullTransport())
    benchmark(log.info, "msg", 1, 2)


@pytest.mark.benchmark(group="info-noop")
def test_info_bound_fields(benchmark, core):
    log = core.LogLayer(transports=_null_for(core)).with_fields(a=1, b="two", c=3.0)
    benchmark(log.info, "msg")


@pytest.mark.benchmark(group="plugins")
def test_one_plugin_with_data_hook(benchmark, core):
    log = core.LogLayer(transports=_null_for(core))
    log.add_plugin(loglayer.data_hook("d", lambda p: None))
    benchmark(log.info, "msg")


@pytest.mark.benchmark(group="plugins")
def test_five_plugins_one_with_data_hook(benchmark, core):
    log = core.LogLayer(transports=_null_for(core))
    log.add_plugin(*[loglayer.noop_plugin(f"n{i}") for i in range(4)],
                   loglayer.data_hook("d", lambda p: None))
    benchmark(log.info, "msg")


@pytest.mark.benchmark(group="derive")
def test_with_fields_one(benchmark, core):
    log = core.LogLayer(transports=_null_for(core))
    benchmark(lambda: log.with_fields(a=1))


@pytest.mark.benchmark(group="derive")
def test_child(benchmark, core):
    log = core.LogLayer(transports=_null_for(core)).with_fields(a=1)
    benchmark(log.child)


@pytest.mark.benchmark(group="derive")
def test_reference_lambda_call(benchmark):
    """What the lambda wrapper in test_with_fields_one costs by itself."""
    benchmark(lambda: None)


def test_memory_is_flat_over_a_million_emissions(core, capsys):
    """Reports (not asserts) tracemalloc growth over 1,000,000 emissions."""
    log = core.LogLayer(transports=_null_for(core)).with_fields(a=1)
    log.add_plugin(loglayer.data_hook("d", lambda p: None))
    for _ in range(10_000):
        log.with_metadata({"k": 1}).info("warm", 1)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for _ in range(1_000_000):
        log.with_metadata({"k": 1}).info("msg", 1)
    gc.collect()
    after, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    with capsys.disabled():
        print(f"\n[{core.__name__}] tracemalloc over 1,000,000 emissions: "
              f"growth {after - before} B, peak {peak - before} B")
