"""Throughput benchmark of loglayer against its peers: ``python -m loglayer.bench``.

Every scenario (a disabled call, a plain text line, five fields as JSON, bound fields,
an exception with its traceback, the plugin pipeline, derived-logger creation) is run
for loglayer (compiled and pure cores) and for the stdlib ``logging``, structlog,
loguru and picologging when they are installed, all in one process, in interleaved
rounds, rendering fully into a sink that discards what it is given. The result is a
markdown table per scenario, ``bench/results/latest.json`` and a bar chart.

``python -m loglayer.bench --help`` lists the options; the harness lives in
``loglayer.bench._runner``, the peers' setups in ``_peers`` and loglayer's in
``_scenarios``.
"""

from __future__ import annotations

from ._runner import main

__all__ = ["main"]
