"""The harness behind ``python -m loglayer.bench``: timing, reporting and the CLI.

How a scenario is measured, and why:

* Every contender of a scenario is set up in this one process and measured in
  interleaved rounds; round ``r`` starts with contender ``r mod n``. Drift on a shared
  machine (frequency scaling, a noisy neighbour) then spreads over all contenders
  instead of landing on whoever ran last, and same-run ratios stay meaningful.
* Each statement is pasted into the body of a generated loop (as ``timeit`` does), so
  no extra Python call per iteration is added; the names it uses are locals of that
  loop. One batch runs ``N`` iterations, ``N`` calibrated so a batch takes about
  ``--batch-ms``; the per-op time of a round is ``batch_ns / N``, and the figure reported
  is the median over rounds. The bare loop's own cost is measured and printed, not
  subtracted: it is the same few ns for everyone.
* The garbage collector is off during a batch and a full collection runs between
  rounds, so a collection triggered by one contender's garbage is not charged to the
  next one.
* Before timing, each statement is run once into a capturing sink and its output is
  checked (the fields are all there, the traceback is complete, a disabled call writes
  nothing): a contender that silently renders less would otherwise look fast.
* A threaded scenario (S11) releases its threads together at each batch; its figure is
  the wall time from the first thread's start to the last one's end over the entries of
  all threads. A case may end each batch with a timed ``finish`` (S12's flush), be
  settled after each batch outside the timing (S12 empties its file, S13 drains its
  queue), and cap its batches (S13: what a queue holds).
* ``--instructions`` adds instruction counts under callgrind (``_instructions``): a
  figure that a busy machine does not move, for ratios that do not drift.
* ``--shipping`` adds the shipping suite (``_shipping``): the OTLP, HTTP, syslog and
  journald transports against the OpenTelemetry SDK and the stdlib's handlers,
  delivering to a local receiver (rsyslogd for syslog); its table follows the
  scenarios'.
"""

from __future__ import annotations

import argparse
import builtins
import contextlib
import gc
import io
import json
import os
import platform
import statistics
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from ._instructions import Count, CountError, count_case, valgrind_path
from ._peers import peer_libraries
from ._scenarios import (
    LOGLAYER_ONLY,
    SCENARIOS,
    Case,
    Library,
    Scenario,
    Unavailable,
    check_output,
    loglayer_libraries,
    yours_library,
)

__all__ = ["BinaryNullSink", "CaptureSink", "NullSink", "main"]


# ---------------------------------------------------------------------------------------
# Sinks


class NullSink:
    """A text stream that discards what it is given: the cost of rendering stays in the
    figures, the cost of I/O (which would dominate and vary) does not."""

    def write(self, s: Any) -> None:
        """Discard ``s`` (str or bytes)."""

    def flush(self) -> None:
        """Nothing is buffered."""


class BinaryNullSink(NullSink, io.RawIOBase):
    """The same null sink as a binary stream, for loggers that write ``bytes``
    (structlog's BytesLogger, loglayer's StructuredTransport)."""

    def writable(self) -> bool:
        return True


class CaptureSink:
    """A sink that keeps what it is given, to check and show one rendered entry."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, s: Any) -> None:
        """Keep ``s``; bytes are decoded as UTF-8."""
        self.parts.append(s.decode("utf-8", "replace") if isinstance(s, bytes) else str(s))

    def flush(self) -> None:
        """Nothing is buffered."""

    @property
    def text(self) -> str:
        """Everything written so far."""
        return "".join(self.parts)


# ---------------------------------------------------------------------------------------
# Timing

Batch = Callable[[int], int]


def compile_case(case: Case) -> Batch:
    """Turn a case's statement into ``batch(n) -> elapsed ns`` for ``n`` iterations.

    The statement becomes the body of a ``for`` loop inside a generated function whose
    locals are the case's names, so the timed loop does only what the statement does.
    The case's ``finish``, if any, is called once after the loop, inside the timing.
    """
    names = [name for name in case.namespace if name.isidentifier()]
    body = textwrap.indent(case.stmt, " " * 8)
    finish = ["    _finish()"] if case.finish is not None else []
    src = "\n".join(
        ["def batch(_n, _ns=_ns, _clock=_clock, _range=range, _finish=_finish):"]
        + [f"    {name} = _ns[{name!r}]" for name in names]
        + ["    _t0 = _clock()", "    for _ in _range(_n):", body, *finish,
           "    return _clock() - _t0"]
    )
    scope: dict[str, Any] = {"_ns": case.namespace, "_clock": time.perf_counter_ns,
                             "_finish": case.finish, "__builtins__": builtins}
    exec(compile(src, f"<bench: {case.stmt.splitlines()[0]}>", "exec"), scope)
    return scope["batch"]


def settled(batch: Batch, settle: Callable[[], None] | None) -> Batch:
    """``batch`` followed by ``settle()`` outside its timing (or ``batch`` itself)."""
    if settle is None:
        return batch

    def run(n: int) -> int:
        elapsed = batch(n)
        settle()
        return elapsed

    return run


def threaded(batch: Batch, threads: int) -> Batch:
    """``batch`` run by ``threads`` threads at once, ``n`` iterations each (or ``batch``
    itself for one thread).

    The threads are started first and released together by a barrier; the elapsed time
    is from the first thread's start to the last one's end, each read in its own thread,
    so neither thread start-up nor the wait for the GIL after the barrier is counted. The
    first exception a thread raised is raised again here.
    """
    if threads == 1:
        return batch

    def run(n: int) -> int:
        barrier = threading.Barrier(threads)
        spans: list[tuple[int, int]] = []
        errors: list[BaseException] = []

        def work() -> None:
            barrier.wait()
            t0 = time.perf_counter_ns()
            try:
                batch(n)
            except BaseException as exc:  # handed to the caller below
                errors.append(exc)
            spans.append((t0, time.perf_counter_ns()))

        workers = [threading.Thread(target=work, name=f"loglayer-bench-{i}")
                   for i in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        if errors:
            raise errors[0]
        return max(end for _, end in spans) - min(start for start, _ in spans)

    return run


def timed(batch: Batch, n: int) -> int:
    """Run one batch of ``n`` with the garbage collector off; return its elapsed ns."""
    gc.disable()
    try:
        return batch(n)
    finally:
        gc.enable()


def calibrate(batch: Batch, target_ns: int, max_n: int | None = None) -> int:
    """The iteration count that makes one batch take about ``target_ns``, at most
    ``max_n``.

    Grows ``n`` until a batch lasts an eighth of the target (long enough for the clock
    and short enough to stay cheap), then scales; the growing batches also warm up
    caches and lazily built loggers before the first measured round.
    """
    cap = max_n if max_n is not None else 1 << 30
    threshold = max(target_ns // 8, 200_000)
    n = 1
    while True:
        elapsed = max(timed(batch, n), 1)
        if elapsed >= threshold or n >= cap:
            break
        n = min(cap, n * 100, max(n * 2, int(n * threshold * 1.2 / elapsed)))
    return max(1, min(cap, round(n * target_ns / elapsed)))


# ---------------------------------------------------------------------------------------
# Results


@dataclass
class Row:
    """One contender's figures in one scenario."""

    library: Library
    stmt: str
    note: str
    n: int = 0
    per_op_ns: list[float] = field(default_factory=list)
    sample: str = ""
    problem: str | None = None
    vs_stdlib: float | None = None
    vs_best_peer: float | None = None
    count: Count | None = None
    count_problem: str | None = None
    count_vs_stdlib: float | None = None
    count_vs_best_peer: float | None = None

    @property
    def median_ns(self) -> float:
        """The median over rounds of the per-op time."""
        return statistics.median(self.per_op_ns)

    @property
    def median_or_none(self) -> float | None:
        """The median time, or ``None`` when the row was not timed."""
        return self.median_ns if self.per_op_ns else None

    @property
    def instructions(self) -> float | None:
        """Instructions per call under callgrind, or ``None`` when not counted."""
        return self.count.per_call if self.count is not None else None

    @property
    def valid(self) -> bool:
        """Whether its output passed the check (an unchecked library always does)."""
        return self.problem is None


@dataclass
class ScenarioResult:
    """A scenario's rows, skipped contenders, and how long it took."""

    scenario: Scenario
    rows: list[Row] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0


# ---------------------------------------------------------------------------------------
# Progress


class Progress:
    """A ``\\r`` progress bar on stderr; one line per scenario when stderr is not a tty."""

    def __init__(self, total: int, stream: IO[str] | None = None) -> None:
        self.total = max(total, 1)
        self.done = 0
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.start = time.perf_counter()
        self.last_draw = 0.0
        self.width = 0

    def advance(self, label: str, k: int = 1) -> None:
        """Count ``k`` units of work as done and redraw (at most 20 times a second)."""
        self.done = min(self.total, self.done + k)
        now = time.perf_counter()
        if self.tty and (now - self.last_draw >= 0.05 or self.done == self.total):
            self.last_draw = now
            frac = self.done / self.total
            bar = "#" * int(frac * 30)
            line = (f"\r[{bar:<30}] {frac * 100:3.0f}% {now - self.start:6.1f}s  "
                    f"{label}")[:110]
            pad = max(0, self.width - len(line))
            self.width = len(line)
            self.stream.write(line + " " * pad)
            self.stream.flush()

    def announce(self, text: str) -> None:
        """Say what starts now (non-tty only: the bar says it otherwise)."""
        if not self.tty:
            pct = self.done * 100 // self.total
            self.stream.write(f"[{pct:3d}% {time.perf_counter() - self.start:6.1f}s] "
                              f"{text}\n")
            self.stream.flush()

    def finish(self) -> None:
        """Clear the bar."""
        if self.tty:
            self.stream.write("\r" + " " * self.width + "\r")
        self.stream.write(f"done in {time.perf_counter() - self.start:.1f}s\n")
        self.stream.flush()


# ---------------------------------------------------------------------------------------
# Running


@dataclass
class Settings:
    """What the CLI asked for."""

    scenarios: list[Scenario]
    libraries: list[Library]
    rounds: int
    batch_ms: float
    output: Path
    show_samples: bool
    dry_run: bool
    png: bool
    instructions: tuple[int, int] | None = None
    config: str | None = None
    shipping: tuple[int, int, int] | None = None  # calls, rounds, buffered


def _verify(lib: Library, scenario: Scenario) -> tuple[str, str | None]:
    """Set the case up on a capturing sink, run it once, check what it rendered (what
    its ``output`` returns, when the entry goes elsewhere than the sink)."""
    sink = CaptureSink()
    case = lib.setup(scenario.id, sink, sink)
    try:
        compile_case(case)(1)
        written = case.output() if case.output is not None else sink.text
    except Exception as exc:
        raise Unavailable(f"the statement raised {exc!r}") from exc
    finally:
        if case.teardown is not None:
            case.teardown()
    text = written
    if scenario.kind == "create" and not text:
        with contextlib.suppress(Exception):  # show what the creation statement made
            text = f"(creates {type(eval(case.stmt, {}, dict(case.namespace))).__qualname__})"
    problem = check_output(scenario, written) if lib.check else None
    return text, problem


def run_scenario(scenario: Scenario, settings: Settings, progress: Progress) -> ScenarioResult:
    """Set up, verify, calibrate and measure every contender of one scenario."""
    result = ScenarioResult(scenario)
    started = time.perf_counter()
    units = settings.rounds + 1
    libraries = [lib for lib in settings.libraries
                 if lib.only is None or scenario.id in lib.only]
    progress.announce(f"{scenario.id}: {len(libraries)} libraries")
    cases: list[tuple[Row, Case, Batch]] = []
    try:
        for lib in libraries:
            try:
                sample, problem = _verify(lib, scenario)
                case = lib.setup(scenario.id, NullSink(), BinaryNullSink())
            except Unavailable as exc:
                result.skipped.append((lib.name, str(exc)))
                progress.advance(f"{scenario.id} {lib.name}: skipped", units)
                continue
            except Exception as exc:  # a broken setup must not end the whole run
                result.skipped.append((lib.name, f"setup failed: {exc!r}"))
                progress.advance(f"{scenario.id} {lib.name}: setup failed", units)
                continue
            row = Row(lib, case.stmt, case.note, sample=sample, problem=problem)
            result.rows.append(row)
            try:
                batch = settled(threaded(compile_case(case), scenario.threads), case.settle)
            except SyntaxError as exc:  # a setup bug; say so instead of crashing
                result.rows.remove(row)
                result.skipped.append((lib.name, f"bad statement: {exc}"))
                progress.advance(f"{scenario.id} {lib.name}: bad statement", units)
                if case.teardown is not None:
                    case.teardown()
                continue
            cases.append((row, case, batch))

        if settings.dry_run:
            progress.advance(f"{scenario.id}: verified", units * len(cases))
            return result

        target = int(settings.batch_ms * 1_000_000)
        failed: set[int] = set()
        for idx, (row, case, batch) in enumerate(cases):
            try:
                row.n = calibrate(batch, target, case.max_n)
            except Exception as exc:
                failed.add(idx)
                result.skipped.append((row.library.name, f"raised while calibrated: {exc!r}"))
            progress.advance(f"{scenario.id} {row.library.name}: calibrated")
        gc.collect()
        for r in range(settings.rounds):
            k = r % len(cases) if cases else 0
            for idx in [*range(k, len(cases)), *range(k)]:
                row, _case, batch = cases[idx]
                if idx in failed:
                    continue
                try:
                    row.per_op_ns.append(timed(batch, row.n) / (row.n * scenario.threads))
                except Exception as exc:
                    failed.add(idx)
                    result.skipped.append((row.library.name, f"raised while timed: {exc!r}"))
                progress.advance(f"{scenario.id} {row.library.name}: "
                                 f"round {r + 1}/{settings.rounds}")
            gc.collect()
        result.rows = [row for i, (row, _c, _b) in enumerate(cases) if i not in failed]
    finally:
        for _row, case, _batch in cases:
            if case.teardown is not None:
                case.teardown()
        result.seconds = time.perf_counter() - started
    _ratios(result)
    return result


def reference_ratios(rows: Sequence[Row], value: Callable[[Row], float | None]
                     ) -> list[tuple[float | None, float | None]]:
    """Each row's ``value`` over stdlib's and over the best (lowest) peer's, in order;
    ``None`` where the row or the reference has no value.

    A ratio is the row's figure divided by the reference's, so ``0.25x`` means a quarter
    of the reference's (the form the performance targets are written in). A row whose
    output failed its check is never a reference.
    """
    figures = [value(row) for row in rows]
    refs = [(row, f) for row, f in zip(rows, figures, strict=True)
            if f is not None and row.valid]
    stdlib = next((f for row, f in refs if row.library.key == "stdlib"), None)
    best = min((f for row, f in refs if row.library.peer), default=None)
    return [(f / stdlib if f is not None and stdlib else None,
             f / best if f is not None and best else None) for f in figures]


def _ratios(result: ScenarioResult) -> None:
    """Fill in the time rows' ``vs stdlib`` and ``vs best peer``."""
    for row, (vs_stdlib, vs_best) in zip(
            result.rows, reference_ratios(result.rows, lambda r: r.median_or_none),
            strict=True):
        row.vs_stdlib, row.vs_best_peer = vs_stdlib, vs_best


def count_instructions(results: Sequence[ScenarioResult], ns: tuple[int, int],
                       config: str | None, valgrind: str) -> None:
    """Count each row's instructions per call under callgrind, one contender after
    another (see ``_instructions``), and fill in the count ratios; a scenario with an
    ``uncounted`` reason is left out, a row whose count failed says why."""
    todo = [(res, row) for res in results if not res.scenario.uncounted for row in res.rows]
    progress = Progress(len(todo))
    with tempfile.TemporaryDirectory(prefix="loglayer-bench-pycache-") as pycache:
        for res, row in todo:
            label = f"{res.scenario.id} {row.library.name}"
            progress.announce(f"{label}: callgrind, N = {ns[0]:,} and {ns[1]:,}")
            try:
                row.count = count_case(res.scenario.id, row.library.key, ns, config,
                                       valgrind, pycache)
            except CountError as exc:
                row.count_problem = str(exc)
            progress.advance(f"{label}: counted")
    progress.finish()
    for res in results:
        for row, (vs_stdlib, vs_best) in zip(
                res.rows, reference_ratios(res.rows, lambda r: r.instructions), strict=True):
            row.count_vs_stdlib, row.count_vs_best_peer = vs_stdlib, vs_best


def loop_overhead_ns(batch_ms: float) -> float:
    """Per-iteration cost of the bare timing loop (included in every figure)."""
    batch = compile_case(Case("pass", {}))
    n = calibrate(batch, int(batch_ms * 1_000_000))
    return statistics.median(timed(batch, n) / n for _ in range(5))


# ---------------------------------------------------------------------------------------
# Environment


def machine_info() -> dict[str, Any]:
    """The machine: architecture, CPU model, usable CPUs, OS."""
    cpu = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip().lower() in ("model name", "cpu model", "hardware", "model"):
                    cpu = value.strip()
                    if key.strip().lower() != "model":  # "model" is a number on x86
                        break
    except OSError:
        pass
    if not cpu or cpu.isdigit():
        cpu = platform.processor() or "unknown"
    try:
        nproc = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        nproc = os.cpu_count() or 0
    return {"machine": platform.machine(), "cpu": cpu, "nproc": nproc,
            "os": platform.platform()}


def python_info() -> dict[str, str]:
    """The interpreter: implementation, version, build."""
    return {"implementation": platform.python_implementation(),
            "version": platform.python_version(),
            "build": " ".join(sys.version.split())}


def _module_version(dist: str) -> str | None:
    """An installed distribution's version, or ``None``."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def library_versions(libraries: Sequence[Library]) -> dict[str, str | None]:
    """Each contender's version (``None`` when unavailable), plus orjson and matplotlib;
    a reference row has its library's version, so it is not listed again."""
    versions: dict[str, str | None] = {}
    for lib in libraries:
        if lib.reference_for is not None:
            continue
        try:
            versions[lib.name] = lib.version()
        except Unavailable:
            versions[lib.name] = None
        except Exception as exc:  # a half-written package must not end the run
            versions[lib.name] = f"unknown ({exc!r})"
    for dist in ("orjson", "matplotlib"):
        versions[dist] = _module_version(dist)
    return versions


# ---------------------------------------------------------------------------------------
# Reports


def _fmt_ns(ns: float) -> str:
    return f"{ns:,.1f}" if ns < 100 else f"{ns:,.0f}"


def _fmt_ratio(ratio: float | None) -> str:
    return "—" if ratio is None else f"{ratio:.2f}x"


def markdown(results: Sequence[ScenarioResult], meta: dict[str, Any]) -> str:
    """The report: a header with the machine and versions, then one table per scenario."""
    m, py, s = meta["machine"], meta["python"], meta["settings"]
    out = ["# loglayer throughput benchmark", ""]
    out.append(f"- Machine: {m['machine']}, {m['cpu']}, {m['nproc']} CPUs (nproc); {m['os']}")
    out.append(f"- Python: {py['implementation']} {py['version']} ({py['build']})")
    versions = ", ".join(f"{name} {v if v else 'not available'}"
                         for name, v in meta["versions"].items())
    out.append(f"- Versions: {versions}")
    out.append(
        f"- Method: {s['rounds']} interleaved rounds (order rotated each round), batches of "
        f"~{s['batch_ms']:g} ms, median of batch_ns / N over rounds; GC off during batches; "
        f"null sink. The bare loop costs {meta['loop_overhead_ns']:.1f} ns/op, included "
        f"in every figure.")
    out.append("- `vs X` = this row's median time / X's (0.25x = a quarter of X's time; "
               "lower is faster); best peer = the fastest of stdlib, structlog, loguru, "
               "picologging in that table. All figures come from this one run.")
    for res in results:
        out += ["", f"### {res.scenario.title}", ""]
        rows = [row for row in res.rows if row.per_op_ns]
        if rows:
            out.append("| Library | median (ns) | ops/s | vs stdlib | vs best peer |")
            out.append("|:--|--:|--:|--:|--:|")
            for row in rows:
                flag = "" if row.valid else " ⚠"
                out.append(f"| {row.library.name}{flag} | {_fmt_ns(row.median_ns)} | "
                           f"{1e9 / row.median_ns:,.0f} | {_fmt_ratio(row.vs_stdlib)} | "
                           f"{_fmt_ratio(row.vs_best_peer)} |")
        else:
            out.append("_No library ran in this scenario._")
        notes = [res.scenario.note] if res.scenario.note else []
        notes += [f"{row.library.name}: {row.note}" for row in res.rows if row.note]
        notes += [f"{row.library.name}: ⚠ output check failed ({row.problem}); not used "
                  f"as a reference" for row in res.rows if not row.valid]
        notes += [f"{name}: skipped ({why})" for name, why in res.skipped]
        if res.scenario.id in LOGLAYER_ONLY:
            notes += _plugin_overhead(res, lambda r: r.median_or_none, "ns",
                                      "its time, same rounds")
        if notes:
            out.append("")
            out += [f"- {note}" for note in notes]
    return "\n".join(out) + "\n"


def instructions_markdown(results: Sequence[ScenarioResult], ns: tuple[int, int]) -> str:
    """The instruction counts: the method, then one table per counted scenario, laid out
    like the time tables."""
    out = ["## Instructions per call (callgrind)", ""]
    out.append(
        f"- Method: each library of each scenario runs in two child processes of this "
        f"interpreter under `valgrind --tool=callgrind` (PYTHONHASHSEED=0), set up as for "
        f"the timing, running the statement N1 = {ns[0]:,} and N2 = {ns[1]:,} times; "
        f"instructions/call = (I(N2) - I(N1)) / (N2 - N1), so start-up and set-up cancel "
        f"out. A count, not a time: a busy machine does not move it, so its ratios are "
        f"steady, but a cache miss counts as one instruction and the kernel's side of a "
        f"write is not counted.")
    out.append("- `vs X` = this row's count / X's (lower is fewer instructions).")
    for res in results:
        out += ["", f"### {res.scenario.title}", ""]
        if res.scenario.uncounted:
            out.append(f"_Not counted: {res.scenario.uncounted}._")
            continue
        rows = [row for row in res.rows if row.count is not None]
        if rows:
            out.append("| Library | instructions/call | vs stdlib | vs best peer |")
            out.append("|:--|--:|--:|--:|")
            for row in rows:
                flag = "" if row.valid else " ⚠"
                out.append(f"| {row.library.name}{flag} | {row.instructions:,.0f} | "
                           f"{_fmt_ratio(row.count_vs_stdlib)} | "
                           f"{_fmt_ratio(row.count_vs_best_peer)} |")
        else:
            out.append("_No library was counted in this scenario._")
        notes = [f"{row.library.name}: not counted ({row.count_problem})"
                 for row in res.rows if row.count_problem]
        if res.scenario.id in LOGLAYER_ONLY:
            notes += _plugin_overhead(res, lambda r: r.instructions, "instructions",
                                      "its count")
        if notes:
            out.append("")
            out += [f"- {note}" for note in notes]
    return "\n".join(out) + "\n"


def _plugin_overhead(res: ScenarioResult, value: Callable[[Row], float | None], unit: str,
                     ratio_of: str) -> list[str]:
    """A plugin scenario's cost over the same logger without the plugins, per core, in
    ``value``'s ``unit`` (both rows are timed in the same interleaved rounds)."""
    figures = {row.library.key: (row, value(row)) for row in res.rows}
    notes = []
    for ref, base in figures.values():
        row, figure = figures.get(ref.library.reference_for or "", (None, None))
        if row is not None and figure is not None and base:
            notes.append(f"{row.library.name}: the plugins cost {figure - base:+,.0f} {unit} "
                         f"over the same logger without them ({figure / base:.2f}x "
                         f"{ratio_of})")
    return notes


def samples_markdown(results: Sequence[ScenarioResult], limit: int = 1500) -> str:
    """Each contender's statement, one rendered entry, and its check, per scenario."""
    out = ["# Samples (one entry per library, rendered into a capturing sink)", ""]
    for res in results:
        out += [f"## {res.scenario.title}", ""]
        for row in res.rows:
            verdict = ("not checked" if not row.library.check
                       else "check ok" if row.valid else f"CHECK FAILED: {row.problem}")
            out.append(f"**{row.library.name}** ({verdict})")
            out += ["", "```python", row.stmt, "```"]
            text = row.sample if row.sample else "(nothing written)"
            if len(text) > limit:
                text = text[:limit] + f"... [{len(row.sample)} chars in all]"
            out += ["```", text.rstrip("\n"), "```", ""]
        for name, why in res.skipped:
            out.append(f"- {name}: skipped ({why})")
        out.append("")
    return "\n".join(out)


def to_json(results: Sequence[ScenarioResult], meta: dict[str, Any]) -> dict[str, Any]:
    """Every figure of the run, with the machine, versions and settings; the instruction
    counts beside the times when ``--instructions`` ran."""
    counted = meta["settings"].get("instructions_n") is not None
    scenarios: list[dict[str, Any]] = []
    for res in results:
        rows = []
        for row in res.rows:
            timed_ok = bool(row.per_op_ns)
            rows.append({
                "library": row.library.name,
                "key": row.library.key,
                "peer": row.library.peer,
                "median_ns": row.median_ns if timed_ok else None,
                "ops_per_s": 1e9 / row.median_ns if timed_ok else None,
                "vs_stdlib": row.vs_stdlib,
                "vs_best_peer": row.vs_best_peer,
                "min_ns": min(row.per_op_ns) if timed_ok else None,
                "max_ns": max(row.per_op_ns) if timed_ok else None,
                "per_round_ns": row.per_op_ns,
                "iterations_per_batch": row.n,
                "statement": row.stmt,
                "note": row.note,
                "check_ok": row.valid,
                "check_problem": row.problem,
            })
            if counted:
                rows[-1].update({
                    "instructions_per_call": row.instructions,
                    "instructions_vs_stdlib": row.count_vs_stdlib,
                    "instructions_vs_best_peer": row.count_vs_best_peer,
                    "instructions_runs": None if row.count is None else {
                        "n": [row.count.n1, row.count.n2],
                        "instructions": [row.count.total1, row.count.total2]},
                    "instructions_problem": row.count_problem,
                })
        scenarios.append({
            "id": res.scenario.id,
            "title": res.scenario.title,
            "threads": res.scenario.threads,
            "seconds": round(res.seconds, 3),
            "rows": rows,
            "skipped": [{"library": n, "reason": why} for n, why in res.skipped],
        })
        if counted and res.scenario.uncounted:
            scenarios[-1]["instructions_not_counted"] = res.scenario.uncounted
    return {**meta, "scenarios": scenarios}


def bar_chart(results: Sequence[ScenarioResult], meta: dict[str, Any], path: Path) -> str | None:
    """Draw one horizontal bar subplot per scenario (median ns); ``None`` or why not."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib import ticker
    except ImportError as exc:
        return f"matplotlib is not installed ({exc}); no chart written"
    shown = [res for res in results if any(row.per_op_ns for row in res.rows)]
    if not shown:
        return "nothing was timed; no chart written"
    cols = 2 if len(shown) > 2 else 1
    nrows = (len(shown) + cols - 1) // cols
    most = max(len([r for r in res.rows if r.per_op_ns]) for res in shown)
    fig, axes = plt.subplots(nrows, cols, squeeze=False,
                             figsize=(7.5 * cols, nrows * (0.9 + 0.38 * most)))
    for ax, res in zip(axes.flat, shown, strict=False):  # more axes than plots
        rows = [row for row in res.rows if row.per_op_ns]
        names = [row.library.name + ("" if row.valid else " (!)") for row in rows]
        values = [row.median_ns for row in rows]
        colors = ["tab:blue" if row.library.key.startswith("loglayer")
                  else "tab:purple" if row.library.key == "yours" else "tab:gray"
                  for row in rows]
        ax.barh(names, values, color=colors)
        ax.invert_yaxis()
        ax.set_title(textwrap.fill(res.scenario.title, 80), fontsize=8, loc="left")
        ax.xaxis.set_major_formatter(ticker.StrMethodFormatter("{x:,.0f}"))
        ax.set_xlabel("median ns per call (lower is better)", fontsize=8)
        ax.tick_params(labelsize=8)
        for y, value in enumerate(values):
            ax.text(value, y, " " + _fmt_ns(value), va="center", fontsize=7)
        ax.set_xlim(0, max(values) * 1.25)
    for ax in list(axes.flat)[len(shown):]:
        ax.set_visible(False)
    m, py = meta["machine"], meta["python"]
    fig.suptitle(f"loglayer benchmark — {m['cpu']} ({m['machine']}, {m['nproc']} CPUs), "
                 f"{py['implementation']} {py['version']}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None


# ---------------------------------------------------------------------------------------
# CLI

_EPILOG = """\
scenarios:
  S1   disabled debug() while the level is INFO
  S2   a plain text line
  S3   info with 5 fields (str, int, float, bool, 2-key dict) rendered as JSON
  S4   a logger bound with 3 fields, plus 1 per call, as JSON
  S5   error with an exception and its traceback, in the except block
  S6   S3 through 5 plugins (4 without hooks, 1 data hook returning None); loglayer only
  S6b  S3 through 1 data hook returning {"service": "auth"}; loglayer only
  S8   S3 through redact(keys=3 names) with nothing to redact; loglayer only
  S9   S3 plus a password field through the same redact; loglayer only
  S10  S3 through a sampler that draws for every entry; loglayer only
  (S8-S10 run the compiled core only: the plugins' fast paths are process-wide)
  S7a  derived-logger creation with one field: with_fields(a=1) / bind(a=1) /
       LoggerAdapter(logger, {"a": 1})
  S7b  derived-logger creation with nothing added: child() / bind() / LoggerAdapter
  (S7 selects both S7a and S7b)
  S11  S3 from 2 threads at once on one logger: time per entry over both threads
  S12  S3's entry into a real file through each library's own file handler, flush
       included
  S13  S3's entry through a queue (QueueTransport / QueueHandler+QueueListener /
       loguru enqueue=True): the caller's time per call
  S14  S2 with the caller's file, line and function in the line (source=True /
       CallsiteParameterAdder / %(pathname)s %(lineno)d %(funcName)s)
  S15  S3 from a logger tagged with_group("db") and routed by groups=; loglayer only

libraries:
  loglayer (= loglayer-compiled + loglayer-pure), stdlib, structlog, loguru,
  picologging. A library that is not installed, or has no API for a scenario, is
  skipped with a note. Both loglayer cores run in this one process: loglayer._core
  (Cython) and loglayer._core_py (pure Python), whatever LOGLAYER_NO_EXTENSIONS says.

--config module:factory
  Imports `module` and calls `factory(sink)` once per scenario; it must return your
  own loglayer LogLayer (your transports, plugins, level) writing into `sink`, a
  file-like object whose write() accepts str or bytes and discards them. It runs as
  library "yours" in S1 (log.debug(msg), whatever your level is), S2 (log.info(msg)),
  S3 (log.with_metadata({5 keys}).info(msg)), S4 (log.with_fields({3 keys}) once, then
  .with_metadata({"attempt": 3}).info(msg)), S5 (log.with_error(exc).error(msg) in
  the except block) and S11 (S3's statement from two threads). Its output is shown
  with --show-samples but not checked.
  The module is imported from the current directory or sys.path.

--instructions
  After the timing, counts each row's instructions per call under valgrind's
  callgrind: two child processes per library and scenario (same interpreter and
  environment, PYTHONHASHSEED=0) set the case up as the timing does and run the
  statement N1 and N2 times (--instructions-n, default 300,900); the count is
  (I(N2) - I(N1)) / (N2 - N1), so start-up and set-up cancel out. It does not move on
  a busy machine, and repeats within a few instructions per call, so larger N only
  lengthen the run (a child spends seconds starting under valgrind, and S5's
  statements cost close to a million instructions each). S11 and S13 (threads) are
  not counted. The tables follow the time tables, and the counts go into latest.json
  beside the times. Needs valgrind (exit status 2 without it); S1-S5 for all
  libraries take a few minutes.

--shipping
  Also runs the shipping suite (loglayer.bench._shipping), after the scenarios:
  LogLayer with OtlpTransport(protocol="http/protobuf") against the OpenTelemetry
  SDK's LoggingHandler + BatchLogRecordProcessor + OTLPLogExporter (http/protobuf),
  LogLayer with HttpTransport(encoding="ndjson") against the stdlib's
  QueueHandler + QueueListener + HTTPHandler, SyslogTransport over UDP and TCP
  against the stdlib's SysLogHandler and over RELP alone (to an rsyslogd the suite
  starts, counted in its files), and JournaldTransport against SysLogHandler on a
  local socket, all sending to one local receiver (a child process). Figures: the
  caller's cost per log call (the logging thread's CPU time, and wall time) in bursts
  of --shipping-calls that every queue holds whole, delivered records/s (first call
  until the receiver counted the last record, after a flush), and memory per buffered
  entry (tracemalloc, --shipping-buffered entries logged with the sender paused). One
  table, `figure | loglayer | peer | ratio | target`, after the scenarios' tables; its
  figures go into latest.json under "shipping". `--scenarios none` runs the suite
  alone; --dry-run skips it.

output:
  A markdown table per scenario on stdout, a progress bar on stderr,
  DIR/latest.json (every figure, versions, machine) and DIR/latest.png (needs
  matplotlib). Exit status 1 if a library's rendered output failed its check, or a
  shipping pipeline failed (its records were not all counted by the receiver).
"""


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m loglayer.bench",
        description="Throughput of loglayer (compiled and pure cores) against the stdlib "
                    "logging, structlog, loguru and picologging, in one process, in "
                    "interleaved rounds, into a null sink.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenarios", default="all",
                        help="comma-separated scenario ids, e.g. S1,S3,S7 (default: all; "
                             "none: no scenario, e.g. with --shipping)")
    parser.add_argument("--libraries", default="all",
                        help="comma-separated libraries, e.g. loglayer,stdlib "
                             "(default: all)")
    parser.add_argument("--rounds", type=int, default=None,
                        help="measured rounds per scenario (default 15; 5 with --quick)")
    parser.add_argument("--batch-ms", type=float, default=None,
                        help="target duration of one batch in ms (default 30; 10 with "
                             "--quick)")
    parser.add_argument("--quick", action="store_true",
                        help="fewer rounds and shorter batches: a rough run in seconds")
    parser.add_argument("--output", default=os.path.join("bench", "results"), metavar="DIR",
                        help="where latest.json and latest.png go (default: "
                             "bench/results, relative to the current directory)")
    parser.add_argument("--config", metavar="MODULE:FACTORY",
                        help="also benchmark your own LogLayer, built by FACTORY(sink)")
    parser.add_argument("--show-samples", action="store_true",
                        help="print each library's statement and one rendered entry")
    parser.add_argument("--dry-run", action="store_true",
                        help="set up and check every case, print the samples, time nothing")
    parser.add_argument("--no-png", action="store_true", help="do not draw the chart")
    parser.add_argument("--instructions", action="store_true",
                        help="also count instructions per call under valgrind's callgrind")
    parser.add_argument("--instructions-n", default="300,900", metavar="N1,N2",
                        help="the two iteration counts of --instructions (default 300,900)")
    parser.add_argument("--no-dropin", action="store_true",
                        help="leave out the drop-in rows (the stdlib facade against the "
                             "stdlib and picologging, set up alike), which run by default")
    parser.add_argument("--shipping", action="store_true",
                        help="also run the shipping suite: OTLP, HTTP, syslog and journald "
                             "transports against the OTel SDK and the stdlib's handlers "
                             "(see below)")
    parser.add_argument("--shipping-calls", type=int, default=None, metavar="N",
                        help="log calls per burst of the shipping suite (default 10,000; "
                             "2,000 with --quick)")
    parser.add_argument("--shipping-rounds", type=int, default=None, metavar="N",
                        help="bursts per pipeline of the shipping suite (default 7; 3 with "
                             "--quick)")
    parser.add_argument("--shipping-buffered", type=int, default=None, metavar="N",
                        help="entries buffered for the memory figure of the shipping suite "
                             "(default 10,000; 2,000 with --quick)")
    args = parser.parse_args(argv)
    if args.rounds is not None and args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if args.batch_ms is not None and args.batch_ms <= 0:
        parser.error("--batch-ms must be positive")
    for name in ("shipping_calls", "shipping_rounds", "shipping_buffered"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    try:
        args.instructions_n = _parse_ns(args.instructions_n)
    except ValueError as exc:
        parser.error(f"--instructions-n: {exc}")
    return args


def _parse_ns(spec: str) -> tuple[int, int]:
    """``"N1,N2"`` as two iteration counts with 1 <= N1 < N2."""
    parts = [part.strip() for part in spec.split(",")]
    if len(parts) != 2 or not all(part.isdigit() for part in parts):
        raise ValueError(f"expected two counts N1,N2, got {spec!r}")
    n1, n2 = int(parts[0]), int(parts[1])
    if not 1 <= n1 < n2:
        raise ValueError(f"expected 1 <= N1 < N2, got {n1} and {n2}")
    return n1, n2


def _select_scenarios(spec: str) -> list[Scenario]:
    if spec.strip().lower() == "all":
        return list(SCENARIOS)
    if spec.strip().lower() == "none":  # e.g. the shipping suite alone
        return []
    by_id = {s.id.lower(): s for s in SCENARIOS}
    wanted: list[Scenario] = []
    for token in filter(None, (t.strip().lower() for t in spec.split(","))):
        matches = [by_id[token]] if token in by_id else [
            s for s in SCENARIOS if s.id.lower().startswith(token) and token[-1].isdigit()]
        if not matches:
            raise ValueError(f"unknown scenario {token!r}; known: "
                             + ", ".join(s.id for s in SCENARIOS) + " (S7 = S7a,S7b)")
        wanted += [s for s in matches if s not in wanted]
    return sorted(wanted, key=SCENARIOS.index)


_ALIASES = {"loglayer": ("loglayer-compiled", "loglayer-pure", "loglayer-compiled-reference",
                         "loglayer-pure-reference"),
            "logging": ("stdlib",),
            "compiled": ("loglayer-compiled", "loglayer-compiled-reference"),
            "pure": ("loglayer-pure", "loglayer-pure-reference")}


def _select_libraries(spec: str, config: str | None) -> list[Library]:
    known = loglayer_libraries() + peer_libraries()
    if spec.strip().lower() == "all":
        chosen = known
    else:
        by_key = {lib.key: lib for lib in known}
        keys: list[str] = []
        for token in filter(None, (t.strip().lower() for t in spec.split(","))):
            if token == "yours":
                continue  # added by --config
            expanded = _ALIASES.get(token, (token,))
            for key in expanded:
                if key not in by_key:
                    raise ValueError(f"unknown library {token!r}; known: loglayer, "
                                     + ", ".join(by_key))
                if key not in keys:
                    keys.append(key)
        chosen = [lib for lib in known if lib.key in keys]
    if config:
        chosen = [yours_library(config), *chosen]
    return chosen


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; return the exit status (1 if an output check failed)."""
    args = _parse_args(argv)
    try:
        scenarios = _select_scenarios(args.scenarios)
        libraries = _select_libraries(args.libraries, args.config)
    except ValueError as exc:
        print(f"python -m loglayer.bench: error: {exc}", file=sys.stderr)
        return 2
    settings = Settings(
        scenarios=scenarios, libraries=libraries,
        rounds=args.rounds or (5 if args.quick else 15),
        batch_ms=args.batch_ms or (10.0 if args.quick else 30.0),
        output=Path(args.output), show_samples=args.show_samples or args.dry_run,
        dry_run=args.dry_run, png=not args.no_png,
        instructions=args.instructions_n if args.instructions and not args.dry_run else None,
        config=args.config,
        shipping=None if not args.shipping or args.dry_run else (
            args.shipping_calls or (2_000 if args.quick else 10_000),
            args.shipping_rounds or (3 if args.quick else 7),
            args.shipping_buffered or (2_000 if args.quick else 10_000)))
    if settings.shipping is not None:
        from ._shipping import missing_requirements

        missing = missing_requirements()
        if missing:
            print(f"python -m loglayer.bench: error: --shipping needs {missing}, which is "
                  f"not installed (pip install 'loglayer[otlp]')", file=sys.stderr)
            return 2
    valgrind = valgrind_path()
    if settings.instructions is not None and valgrind is None:
        print("python -m loglayer.bench: error: --instructions needs valgrind, which is not "
              "installed (e.g. apt-get install valgrind)", file=sys.stderr)
        return 2

    meta: dict[str, Any] = {
        "generated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": [os.path.basename(sys.executable), "-m", "loglayer.bench",
                    *(sys.argv[1:] if argv is None else argv)],
        "machine": machine_info(),
        "python": python_info(),
        "versions": library_versions(libraries),
        "settings": {"rounds": settings.rounds, "batch_ms": settings.batch_ms,
                     "quick": args.quick, "scenarios": [s.id for s in scenarios],
                     "libraries": [lib.name for lib in libraries],
                     "instructions_n": settings.instructions,
                     "shipping": None if settings.shipping is None else dict(zip(
                         ("calls", "rounds", "buffered"), settings.shipping, strict=True))},
    }
    progress = Progress(len(scenarios) * len(libraries) * (settings.rounds + 1))
    meta["loop_overhead_ns"] = (0.0 if settings.dry_run or not scenarios
                                else loop_overhead_ns(settings.batch_ms))
    results = [run_scenario(s, settings, progress) for s in scenarios]
    if scenarios:
        progress.finish()
    if settings.instructions is not None and valgrind is not None:
        count_instructions(results, settings.instructions, settings.config, valgrind)
    shipping = None
    if settings.shipping is not None:
        from ._shipping import run_shipping  # imports the shipping transports' clients

        shipping = run_shipping(*settings.shipping)
    dropin = None
    if not (args.no_dropin or settings.dry_run):
        from ._dropin import run_dropin  # last: it installs the facade in this process

        dropin = run_dropin(rounds=settings.rounds, batch_ms=settings.batch_ms)

    if settings.show_samples:
        print(samples_markdown(results))
    failed = any(not row.valid for res in results for row in res.rows)
    if settings.dry_run:
        return 1 if failed else 0

    if scenarios:
        print(markdown(results, meta))
    if settings.instructions is not None:
        print(instructions_markdown(results, settings.instructions))
    report = to_json(results, meta)
    if shipping is not None:
        from ._shipping import shipping_json, shipping_markdown

        print(shipping_markdown(shipping))
        report["shipping"] = shipping_json(shipping)
        failed = failed or any(side.problem is not None for side in shipping.sides)
    if dropin is not None:
        from ._dropin import dropin_json, dropin_markdown

        print(dropin_markdown(dropin))
        report["dropin"] = dropin_json(dropin)
    settings.output.mkdir(parents=True, exist_ok=True)
    json_path = settings.output / "latest.json"
    json_path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    written = [str(json_path)]
    if settings.png and scenarios:  # the shipping suite has no chart
        why_not = bar_chart(results, meta, settings.output / "latest.png")
        if why_not:
            print(f"note: {why_not}", file=sys.stderr)
        else:
            written.append(str(settings.output / "latest.png"))
    print(f"wrote {', '.join(written)}", file=sys.stderr)
    return 1 if failed else 0
