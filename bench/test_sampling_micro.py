"""Micro benchmark: what one sampler gate adds per transport (issue 5: at most 60 ns).

Run with ``PYTHONPATH=src .venv/bin/python -m pytest bench/test_sampling_micro.py -q
-p no:cacheprovider``; on a shared machine add ``--benchmark-timer=time.thread_time``
so that time spent descheduled is not counted. Read each figure against ``baseline``
(the same logger without a plugin) in the same run; nothing here asserts a timing.
Every scenario sends (nearly) every entry, so the transports do the same work as in
the baseline.

* ``always_true_gate``: the floor of any gate written in Python, that is the params
  object the core builds once a dispatch hook exists, plus one Python call per
  transport.
* ``fixed_rate_1``: ``fixed_rate(1.0)`` sends everything, so it installs no gate.
* ``table_gate``: ``per_level({"debug": 0.5})`` on info entries, a gate whose answer
  for the level is certain: one table lookup, no draw.
* ``drawing_gate``: ``fixed_rate(0.999)``, a draw per entry, remembered for the
  entry's other transports (see the two-transport group).
* ``burst``: a budget that is never exhausted: the lock and the clock per entry.
"""

from __future__ import annotations

import pytest

from loglayer import send_gate
from loglayer.plugins import sampling


def _null(core, id: str):
    class Null(core.Transport):
        def send(self, entry):
            pass

    return Null(id)


def _info(core, transports: int, *plugins):
    log = core.LogLayer(transports=[_null(core, f"null{i}") for i in range(transports)],
                        plugins=plugins)
    return log.info


SCENARIOS = {
    "baseline": lambda: (),
    "always_true_gate": lambda: (send_gate("true", lambda params: True),),
    "fixed_rate_1": lambda: (sampling.fixed_rate(1.0),),
    "table_gate": lambda: (sampling.per_level({"debug": 0.5}),),
    "drawing_gate": lambda: (sampling.fixed_rate(0.999, seed=1),),
    "burst": lambda: (sampling.burst(10**12, 3600.0),),
}


@pytest.mark.benchmark(group="one transport")
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_one_transport(benchmark, core, scenario):
    benchmark(_info(core, 1, *SCENARIOS[scenario]()), "msg")


@pytest.mark.benchmark(group="two transports")
@pytest.mark.parametrize("scenario", ["baseline", "table_gate", "drawing_gate"])
def test_two_transports(benchmark, core, scenario):
    benchmark(_info(core, 2, *SCENARIOS[scenario]()), "msg")
