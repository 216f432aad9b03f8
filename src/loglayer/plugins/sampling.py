"""Samplers: send gates that let through only part of the log volume.

Three factories, each returning a plugin whose ``should_send`` hook is the gate:

- :func:`fixed_rate` keeps each entry with one probability;
- :func:`per_level` keeps each entry with a probability chosen by its level;
- :func:`burst` keeps at most ``n`` entries per window of ``per_seconds``.

Use them to cut the volume of chatty levels or hot code paths without losing the
entries that matter::

    from loglayer import LogLayer, LogLevel
    from loglayer.plugins import sampling

    log = LogLayer(plugins=[sampling.per_level({LogLevel.DEBUG: 0.1, LogLevel.INFO: 0.5})])

How they behave, and why:

* **Errors are kept.** Levels in ``keep_levels`` (error and fatal by default) always
  pass, and a ``burst`` does not count them against its budget. Pass
  ``keep_levels=()`` to sample every level.
* **One decision per entry.** The core asks a gate once per (entry, transport). A
  sampler decides when the first transport asks and gives the entry's other
  transports the same answer, so an entry reaches all of a logger's transports or
  none of them (other gates and each transport's level still apply), and ``burst``
  counts entries, not deliveries. The decision is remembered per thread with the
  params object it was made for: the core builds one params object per entry and
  dispatches one entry at a time on a thread, so "the params object last seen on
  this thread" identifies the entry exactly, however many threads log at once. Bare
  ``id()`` numbers would not do, because the next entry may reuse the address of a
  freed params object; instead the sampler holds a reference to the last params
  object of each thread until that thread's next sampled entry.
* **Certain decisions cost one lookup.** A level that is kept, or whose rate is 0 or
  1, is answered from a table, with no random draw and nothing remembered. A sampler
  that sends every entry (rate 1, or every level kept) has no gate at all and costs
  nothing, so a rate read from configuration can be left at 1.
* **Independent unless seeded.** Each sampler owns its generator. Without ``seed``
  it is seeded from ``os.urandom``, so two samplers never share a sequence (a
  ``random.Random``, or in the compiled gates a xoshiro256+ generator, which draws
  without a Python call); with ``seed`` it is ``random.Random(seed)`` in both, and
  the decisions for a given sequence of entries are reproducible and the same.
* **Samplers compose.** Each instance gets its own ID (``sampling.fixed_rate-1``,
  ``sampling.burst-2``, ...), so adding a second sampler adds a second gate instead of
  replacing the first. An entry is sent only when every gate agrees: two samplers at
  0.5 keep about a quarter of the entries. Pass ``id=`` to give a sampler a fixed ID,
  for example to replace it later with ``add_plugin``.
* **Thread-safe.** ``random.Random`` draws are atomic, the per-entry memory is per
  thread, and ``burst`` counts under a lock.
* **Compiled when built.** The same gates exist compiled
  (``loglayer.plugins._samplefast``), and are used unless ``LOGLAYER_NO_EXTENSIONS``
  is set: the compiled core asks them from C, once per entry, with no params object,
  so a gate adds a few tens of nanoseconds. Seeded, both make the same decisions.
"""

from __future__ import annotations

import itertools
import math
import random
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .._native import compiled
from .._validate import (
    check_callable,
    check_int,
    check_level,
    check_number,
    check_type,
    type_name,
)
from ..levels import LogLevel
from ..plugin import Plugin, send_gate

# The same gates, compiled: the core asks them from C (see _samplefast.pyx).
_fast: Any = compiled("plugins._samplefast")

__all__ = ["burst", "fixed_rate", "per_level"]

#: A level as ``LogLevel.parse`` accepts it: a member, its number, or its name.
Level = LogLevel | int | str

_KEEP_DEFAULT: tuple[LogLevel, ...] = (LogLevel.ERROR, LogLevel.FATAL)
_ids = itertools.count(1)


class _LastEntry(threading.local):
    """Per thread, ``held`` is ``[params of the last entry decided, its decision]``."""

    def __init__(self) -> None:
        self.held: list[Any] = [None, False]


def fixed_rate(rate: float, *, seed: int | str | bytes | None = None,
               keep_levels: Level | Iterable[Level] = _KEEP_DEFAULT,
               id: str | None = None) -> Plugin:
    """A sampler that keeps each entry with probability ``rate``.

    ``rate``: from 0 (drop all but ``keep_levels``) to 1 (keep all).
    ``seed``: makes the decisions reproducible; omit it in production.
    ``keep_levels``: levels that always pass (error and fatal by default).
    ``id``: the plugin ID; by default a unique ``sampling.fixed_rate-<n>``.

    Example: ``LogLayer(plugins=[sampling.fixed_rate(0.25)])`` keeps about one entry
    in four, and every error.
    """
    rate = _check_rate("rate", rate)
    keep = _check_levels(keep_levels)
    table = _rate_table(keep, lambda level: rate)
    return _sampler(id, "fixed_rate", table, _rate_gate(table, seed))


def per_level(rates: Mapping[Level, float], *, seed: int | str | bytes | None = None,
              default: float = 1.0, keep_levels: Level | Iterable[Level] = _KEEP_DEFAULT,
              id: str | None = None) -> Plugin:
    """A sampler whose rate depends on the entry's level.

    ``rates``: a mapping of level (member, number or name) to a rate from 0 to 1.
    ``default``: the rate of the levels not in ``rates`` (1 by default: keep them).
    ``seed``, ``keep_levels``, ``id``: as for :func:`fixed_rate`; the default ID is
    ``sampling.per_level-<n>``. A level may not be both kept and given a rate below
    1: leave it out of ``keep_levels`` to sample it.

    Example: ``sampling.per_level({"debug": 0.05, "info": 0.5})`` keeps one debug
    entry in twenty, half the info entries, and every warning, error and fatal.
    """
    check_type("rates", rates, Mapping, "a mapping of level to rate")
    default = _check_rate("default", default)
    keep = _check_levels(keep_levels)
    by_level: dict[LogLevel, float] = {}
    for key, value in rates.items():
        level = check_level(f"rates[{key!r}]", key)
        name = f"rates[{level.name.lower()}]"
        by_level[level] = _check_rate(name, value)
        if level in keep and by_level[level] < 1.0:
            raise ValueError(f"{name}: {level.name.lower()} is in keep_levels, which keeps every "
                             f"such entry; leave it out of keep_levels to sample it")
    table = _rate_table(keep, lambda level: by_level.get(level, default))
    return _sampler(id, "per_level", table, _rate_gate(table, seed))


def burst(n: int, per_seconds: float, *, keep_levels: Level | Iterable[Level] = _KEEP_DEFAULT,
          clock: Callable[[], float] = time.monotonic, id: str | None = None) -> Plugin:
    """A sampler that keeps at most ``n`` entries per ``per_seconds``.

    A window opens with the first entry that arrives when no window is open, and
    lasts ``per_seconds``; the first ``n`` entries in it pass and the rest are
    dropped. Use it to stop a failing loop from flooding the logs while still
    showing that it happened.

    ``n``: entries allowed per window, at least 1.
    ``per_seconds``: the window length in seconds, more than 0.
    ``keep_levels``: levels that always pass and do not count (error and fatal by
    default).
    ``clock``: returns seconds as a float; ``time.monotonic`` by default (tests
    inject a fake one). With the default clock and a window of a second or more, the
    compiled gate reads the system's coarse monotonic clock, whose tick is a few
    milliseconds: a window may close up to one tick early, for a clock read that
    costs a fifth as much.
    ``id``: the plugin ID; by default a unique ``sampling.burst-<n>``.

    Example: ``sampling.burst(100, 1.0)`` lets through 100 entries a second.
    """
    check_int("n", n, minimum=1)
    seconds = check_number("per_seconds", per_seconds, above=0, finite=True)
    check_callable("clock", clock)
    keep = _check_levels(keep_levels)
    kept = {level: level in keep for level in LogLevel}
    return _sampler(id, "burst", kept, _burst_gate(kept, n, seconds, clock))


def _sampler(id: str | None, kind: str, table: Mapping[LogLevel, object],
             gate: Callable[[Any], bool]) -> Plugin:
    """The plugin, with ``gate`` as its ``should_send`` unless every entry is sent anyway."""
    plugin_id = _plugin_id(id, kind)
    if all(decision is True for decision in table.values()):
        return Plugin(plugin_id)
    return send_gate(plugin_id, gate)


def _rate_gate(table: dict[LogLevel, bool | float], seed: object) -> Callable[[Any], bool]:
    last = _LastEntry()
    if _fast is not None:  # unseeded, the compiled gate draws from its own generator
        return _fast.RateGate(table, None if seed is None else _random(seed), last)
    draw = _random(seed)

    def should_send(params: Any) -> bool:
        rate = table[params.level]
        if rate is True or rate is False:
            return rate
        held = last.held
        if held[0] is params:
            return held[1]
        keep = draw() < rate
        held[0] = params
        held[1] = keep
        return keep

    return should_send


def _burst_gate(kept: dict[LogLevel, bool], n: int, per_seconds: float,
                clock: Callable[[], float]) -> Callable[[Any], bool]:
    last = _LastEntry()
    if _fast is not None:  # no window can count past sys.maxsize entries
        return _fast.BurstGate(kept, min(n, sys.maxsize), per_seconds, clock, last)
    lock = threading.Lock()
    acquire, release = lock.acquire, lock.release
    window_end = -math.inf
    count = 0

    def should_send(params: Any) -> bool:
        nonlocal window_end, count
        if kept[params.level]:
            return True
        held = last.held
        if held[0] is params:
            return held[1]
        acquire()  # cheaper than ``with lock`` on the hot path
        try:
            now = clock()
            if now >= window_end:
                window_end = now + per_seconds
                count = 0
            keep = count < n
            if keep:
                count += 1
        finally:
            release()
        held[0] = params
        held[1] = keep
        return keep

    return should_send


def _rate_table(keep: frozenset[LogLevel],
                rate_of: Callable[[LogLevel], float]) -> dict[LogLevel, bool | float]:
    """Per level: True (always send), False (never) or the probability to draw against."""
    table: dict[LogLevel, bool | float] = {}
    for level in LogLevel:
        rate = 1.0 if level in keep else rate_of(level)
        table[level] = True if rate == 1.0 else False if rate == 0.0 else rate
    return table


def _check_rate(name: str, rate: object) -> float:
    return check_number(name, rate, minimum=0, maximum=1)


def _check_levels(levels: object) -> frozenset[LogLevel]:
    if isinstance(levels, (str, int)):
        return frozenset((check_level("keep_levels", levels),))
    if not isinstance(levels, Iterable):
        raise TypeError(f"keep_levels must be a level or a collection of levels, "
                        f"got {type_name(levels)}")
    return frozenset(check_level(f"keep_levels[{index}]", level)
                     for index, level in enumerate(levels))


def _random(seed: object) -> Callable[[], float]:
    """The ``random()`` of a new generator: from os.urandom, or from ``seed``."""
    if seed is None:
        return random.Random().random
    if isinstance(seed, bool) or not isinstance(seed, (int, str, bytes, bytearray)):
        raise TypeError(f"seed must be an int, str or bytes, got {type_name(seed)}")
    return random.Random(seed).random


def _plugin_id(id: str | None, kind: str) -> str:
    if id is None:
        return f"sampling.{kind}-{next(_ids)}"
    return check_type("id", id, str, "a str or None")
