"""The drop-in rows: the stdlib facade with loglayer installed against the stdlib and
picologging, with the same configuration, in one run (issue #16).

``python -m loglayer.bench`` runs them after its scenarios (``--no-dropin`` leaves them
out); alone::

    python -m loglayer.bench._dropin [--rounds N] [--batch-ms MS]

Three rows, each the same statement on three loggers set up alike (a logger at
``INFO`` that does not propagate, as ``basicConfig(level=INFO)`` leaves the root):

* ``D1``: a disabled ``logger.debug(...)``;
* ``D2``: ``logger.info(...)`` to a ``StreamHandler`` with
  ``Formatter("%(levelname)s %(name)s %(message)s")`` on a null sink: the facade takes
  the handler as any stdlib logger does (it builds the ``LogRecord``);
* ``D3``: ``logger.info(..., extra={5 fields})`` rendered as JSON: on the facade a
  ``LogLayerHandler`` to a loglayer JSON line transport (no ``LogRecord``); on the stdlib
  a ``StreamHandler`` with an orjson ``Formatter`` subclass; on picologging, which drops
  ``extra=``, the fields as the one argument, with an orjson ``Formatter`` subclass.

Rounds interleave the contenders; each figure is the median ns per call. The ratios
are the facade's time over each peer's, beside the issue's targets.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
from dataclasses import dataclass, field
from typing import Any

from ._peers import _pico_json_formatter, _stdlib_json_formatter
from ._runner import CaptureSink, NullSink, calibrate, compile_case, timed
from ._scenarios import FIELDS, MESSAGE, Case, Unavailable, literal_source

__all__ = ["CONTENDERS", "ROWS", "TARGETS", "DropinResult", "dropin_json", "dropin_markdown",
           "run_dropin"]

#: Row id -> its title.
ROWS = {
    "D1": "disabled `logger.debug()` under level INFO",
    "D2": '`logger.info("msg")` to a `StreamHandler` with '
          '`Formatter("%(levelname)s %(name)s %(message)s")`',
    "D3": '`logger.info("msg", extra={5 fields})` rendered as JSON (loglayer: a JSON '
          "transport behind `LogLayerHandler`)",
}
CONTENDERS = ("loglayer facade", "stdlib logging", "picologging")
#: (row, peer) -> the most the facade's time may be, as a multiple of the peer's.
TARGETS = {("D1", "picologging"): 0.5, ("D2", "picologging"): 0.6,
           ("D2", "stdlib logging"): 0.2, ("D3", "picologging"): 0.35}
_LINE_FORMAT = "%(levelname)s %(name)s %(message)s"
_names = itertools.count()


def _facade_case(row: str, sink: Any) -> Case:
    import logging

    from .. import LogLayer
    from .._select import JsonFormat, LineTransport
    from ..stdlib import LogLayerHandler, get_logger, install

    install()
    logger = get_logger(f"loglayer.bench.dropin.{row}.{next(_names)}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    if row == "D3":
        handler: Any = LogLayerHandler(LogLayer(transports=LineTransport(JsonFormat(), sink)))
    else:
        handler = logging.StreamHandler(sink)
        handler.setFormatter(logging.Formatter(_LINE_FORMAT))
    logger.addHandler(handler)
    return _case(row, logger, f"extra={literal_source(FIELDS)}",
                 lambda: logger.removeHandler(handler))


def _stdlib_case(row: str, sink: Any) -> Case:
    import logging

    import orjson

    # a plain logging.Logger even when install() made the tree's loggers facade ones
    logger = logging.Logger(f"loglayer.bench.dropin.stdlib.{row}.{next(_names)}")
    logger.parent = logging.root
    logger.propagate = False
    logger.setLevel(logging.INFO)
    handler = logging.StreamHandler(sink)
    handler.setFormatter(_stdlib_json_formatter(logging, orjson) if row == "D3"
                         else logging.Formatter(_LINE_FORMAT))
    logger.addHandler(handler)
    return _case(row, logger, f"extra={literal_source(FIELDS)}", None)


def _picologging_case(row: str, sink: Any) -> Case:
    try:
        import picologging
    except ImportError as exc:
        raise Unavailable("picologging is not installed (the bench extra)") from exc
    import orjson

    logger = picologging.getLogger(f"loglayer.bench.dropin.pico.{row}.{next(_names)}")
    logger.propagate = False
    logger.setLevel(picologging.INFO)
    handler = picologging.StreamHandler(sink)
    handler.setFormatter(_pico_json_formatter(picologging, orjson) if row == "D3"
                         else picologging.Formatter(_LINE_FORMAT))
    logger.addHandler(handler)
    return _case(row, logger, literal_source(FIELDS), lambda: logger.removeHandler(handler))


def _case(row: str, logger: Any, fields_argument: str, teardown: Any) -> Case:
    if row == "D1":
        stmt = f"logger.debug({MESSAGE!r})"
    elif row == "D2":
        stmt = f"logger.info({MESSAGE!r})"
    else:
        stmt = f"logger.info({MESSAGE!r}, {fields_argument})"
    return Case(stmt, {"logger": logger}, teardown=teardown)


_SETUPS = {"loglayer facade": _facade_case, "stdlib logging": _stdlib_case,
           "picologging": _picologging_case}


@dataclass
class DropinResult:
    """Median ns per call for each (row, contender), the statements, what each wrote
    once, and why a contender did not run."""

    ns: dict[tuple[str, str], float] = field(default_factory=dict)
    statements: dict[tuple[str, str], str] = field(default_factory=dict)
    samples: dict[tuple[str, str], str] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)

    def ratio(self, row: str, peer: str) -> float | None:
        """The facade's time over ``peer``'s in ``row``, if both ran."""
        mine, theirs = self.ns.get((row, "loglayer facade")), self.ns.get((row, peer))
        return None if mine is None or not theirs else mine / theirs


def run_dropin(rounds: int = 9, batch_ms: float = 20.0) -> DropinResult:
    """Run the three rows, ``rounds`` interleaved rounds each; see the module."""
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, got {rounds}")
    if batch_ms <= 0:
        raise ValueError(f"batch_ms must be positive, got {batch_ms}")
    result = DropinResult()
    for row in ROWS:
        batches = {}
        for name, setup in _SETUPS.items():
            capture = CaptureSink()
            try:
                check = setup(row, capture)
            except Unavailable as exc:
                result.unavailable[name] = str(exc)
                continue
            compile_case(check)(1)
            result.samples[(row, name)] = capture.text
            if check.teardown is not None:
                check.teardown()
            case = setup(row, NullSink())
            result.statements[(row, name)] = case.stmt
            batch = compile_case(case)
            batches[name] = (batch, calibrate(batch, int(batch_ms * 1e6)), case)
        samples: dict[str, list[float]] = {name: [] for name in batches}
        for _ in range(rounds):
            for name, (batch, n, _case) in batches.items():
                samples[name].append(timed(batch, n) / n)
        for name, (_batch, _n, case) in batches.items():
            result.ns[(row, name)] = statistics.median(samples[name])
            if case.teardown is not None:
                case.teardown()
    return result


def dropin_markdown(result: DropinResult) -> str:
    """The rows as a Markdown table: ns per call, and the facade's ratios with targets."""
    lines = ["| row | loglayer facade | stdlib logging | picologging | facade / stdlib "
             "| facade / picologging |", "|---|---|---|---|---|---|"]
    for row, title in ROWS.items():
        cells = [f"{row}: {title}"]
        for name in CONTENDERS:
            ns = result.ns.get((row, name))
            cells.append("n/a" if ns is None else f"{ns:,.0f} ns")
        for peer in ("stdlib logging", "picologging"):
            ratio = result.ratio(row, peer)
            target = TARGETS.get((row, peer))
            text = "n/a" if ratio is None else f"{ratio:.2f}x"
            if target is not None and ratio is not None:
                text += f" (target {target}x: {'met' if ratio <= target else 'missed'})"
            cells.append(text)
        lines.append("| " + " | ".join(cells) + " |")
    for name, why in result.unavailable.items():
        lines.append(f"\n{name} did not run: {why}")
    return "\n".join(lines) + "\n"


def dropin_json(result: DropinResult) -> dict[str, Any]:
    """The rows as plain data for the benchmark's JSON report."""
    rows: dict[str, Any] = {}
    for row, title in ROWS.items():
        ratios = {peer: result.ratio(row, peer) for peer in CONTENDERS[1:]}
        rows[row] = {
            "title": title,
            "ns": {name: result.ns.get((row, name)) for name in CONTENDERS},
            "statements": {name: result.statements.get((row, name)) for name in CONTENDERS},
            "ratios": ratios,
            "targets": {peer: TARGETS[(row, peer)] for peer in CONTENDERS[1:]
                        if (row, peer) in TARGETS},
        }
    return {"rows": rows, "unavailable": dict(result.unavailable)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--batch-ms", type=float, default=20.0)
    args = parser.parse_args(argv)
    import platform

    import loglayer

    result = run_dropin(args.rounds, args.batch_ms)
    core = "compiled" if loglayer.COMPILED else "pure"
    print(f"Python {platform.python_version()}, loglayer {core} core")
    print(dropin_markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
