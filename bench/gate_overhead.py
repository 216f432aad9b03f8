"""What a send gate adds per transport (issue 5: a sampler at most 60 ns), interleaved.

    PYTHONPATH=src .venv/bin/python bench/gate_overhead.py [--rounds 41] [--calls 20000]

``log.info("msg")`` into one or two transports whose ``send`` does nothing, on the live
core, for each gate: none (the baseline), a Python gate that always answers True (the
floor of any gate written in Python), and the three samplers tuned so that they send
every entry and still do their work: ``per_level({"debug": 0.5})`` on info entries (a
table lookup), ``fixed_rate(0.999)`` and ``fixed_rate(0.999, seed=1)`` (a draw per
entry: from the compiled gate's own generator, and from ``random.Random(1)``) and
``burst(10**12, 3600)`` (the clock and the count per entry).

Each round times a batch of calls of every variant, in an order rotated per round,
so a burst of load on this shared machine hits all variants alike; the figure is the
median over the rounds, and the overhead is that median minus the baseline's, divided
by the number of transports. Nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import gc
import platform
import statistics
import time

import loglayer
from loglayer import send_gate
from loglayer.plugins import sampling

VARIANTS = {
    "baseline (no gate)": lambda: (),
    "Python gate returning True": lambda: (send_gate("true", lambda params: True),),
    "per_level table lookup": lambda: (sampling.per_level({"debug": 0.5}),),
    "fixed_rate drawing, unseeded": lambda: (sampling.fixed_rate(0.999),),
    "fixed_rate drawing, seeded": lambda: (sampling.fixed_rate(0.999, seed=1),),
    "burst, clock + count": lambda: (sampling.burst(10**12, 3600.0),),
}


class Null(loglayer.Transport):
    """A transport that drops every entry."""

    def send(self, entry) -> None:
        pass


def measure(transports: int, rounds: int, calls: int) -> dict[str, float]:
    """Median ns per call of each variant, with ``transports`` null transports."""
    infos = {}
    for name, plugins in VARIANTS.items():
        log = loglayer.LogLayer(transports=[Null(f"null{i}") for i in range(transports)],
                                plugins=plugins())
        infos[name] = log.info
    samples: dict[str, list[float]] = {name: [] for name in infos}
    names = list(infos)
    loop = range(calls)
    gc.disable()
    try:
        for index in range(rounds):
            order = names[index % len(names):] + names[:index % len(names)]
            for name in order:
                info = infos[name]
                start = time.perf_counter_ns()
                for _ in loop:
                    info("msg")
                samples[name].append((time.perf_counter_ns() - start) / calls)
    finally:
        gc.enable()
    return {name: statistics.median(values) for name, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=41)
    parser.add_argument("--calls", type=int, default=20_000)
    args = parser.parse_args()
    core = "compiled" if loglayer.COMPILED else "pure"
    print(f"loglayer {loglayer.__version__} ({core} core), CPython "
          f"{platform.python_version()}, {platform.machine()}; {args.rounds} interleaved "
          f"rounds of {args.calls} calls, median per call\n")
    print("| gate | transports | ns per call | added per transport |")
    print("|:--|--:|--:|--:|")
    for transports in (1, 2):
        medians = measure(transports, args.rounds, args.calls)
        base = medians["baseline (no gate)"]
        for name, value in medians.items():
            added = "—" if value is base else f"{(value - base) / transports:+.0f} ns"
            print(f"| {name} | {transports} | {value:.0f} | {added} |")


if __name__ == "__main__":
    main()
