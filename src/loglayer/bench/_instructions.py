"""Instruction counts under valgrind's callgrind, for ``python -m loglayer.bench
--instructions``.

Why: a time measured on a shared machine moves with its load, and even same-run ratios
drift when a neighbour comes and goes; the number of instructions a call executes does
not. It is not a time (a cache miss or a mispredicted branch counts as one instruction,
and the kernel's side of a write is not counted at all), so it complements the time
tables rather than replacing them.

How: a case is counted in two child processes of the same interpreter, with the same
environment plus ``PYTHONHASHSEED=0`` (so dict and set layouts, and the instructions
they cost, repeat). Each child sets the case up exactly as the time mode does (the same
setup function, on the null sinks) and runs the statement ``N1`` times in one child and
``N2`` times in the other, each under ``valgrind --tool=callgrind``. Instructions per
call = ``(I(N2) - I(N1)) / (N2 - N1)``: start-up, imports, set-up, the first calls that
build caches and the teardown are the same in both and cancel out. (Counting only the
loop would need callgrind's client requests to switch collection on and off, which pure
Python code cannot issue; the subtraction needs nothing.) The two children of a case run
at the same time, since a count does not depend on the load; the cases run one after
another.

Start-up under callgrind is most of a child's run, and compiling the sources is much of
start-up when bytecode is not cached (``PYTHONDONTWRITEBYTECODE``). So the children read
bytecode from a private cache (``PYTHONPYCACHEPREFIX``, a temporary directory for the
whole pass), which a native run of the case (``N1`` iterations, outside valgrind) fills
first; the counted children only read it, so both compile whatever it might lack alike.
This changes what start-up costs, which cancels out, and nothing the statement does.

A count is kept only if loglayer's own files did not change while its children ran: in a
working tree being edited, one child could read a module's cached bytecode and the other
compile the edited source, and the compilation would be counted as the statement's cost.
Such a case is counted again (at most ``ATTEMPTS`` times in all).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Count", "CountError", "child_main", "count_case", "parse_total", "per_call",
           "valgrind_path"]

#: The child's program: ``child_main`` with the arguments that follow ``-c``.
_CHILD = ("import sys; from loglayer.bench._instructions import child_main; "
          "sys.exit(child_main(sys.argv[1:]))")
#: The child's exit status when the library cannot run the scenario.
_UNAVAILABLE = 3
#: How many times a case is counted while loglayer's files keep changing under it.
ATTEMPTS = 3


class CountError(Exception):
    """A case could not be counted; the message says why."""


@dataclass(frozen=True)
class Count:
    """The instruction totals of a case's two runs, ``n1`` and ``n2`` iterations."""

    n1: int
    n2: int
    total1: int
    total2: int

    @property
    def per_call(self) -> float:
        """Instructions per iteration of the statement."""
        return per_call(self.n1, self.total1, self.n2, self.total2)


def per_call(n1: int, total1: int, n2: int, total2: int) -> float:
    """``(total2 - total1) / (n2 - n1)``: what each of the ``n2 - n1`` extra iterations
    cost, everything else being the same in both runs."""
    if n2 <= n1:
        raise ValueError(f"n2 must be larger than n1, got {n1} and {n2}")
    return (total2 - total1) / (n2 - n1)


def parse_total(lines: Iterable[str]) -> int:
    """The instruction count (``Ir``, callgrind's default first event) of a callgrind
    output file: its ``totals:`` line, or its ``summary:`` line when there is none."""
    summary = None
    for line in lines:
        if line.startswith("totals:"):
            return int(line.split()[1])
        if line.startswith("summary:"):
            summary = int(line.split()[1])
    if summary is None:
        raise ValueError("no totals: or summary: line in the callgrind output")
    return summary


def valgrind_path() -> str | None:
    """The ``valgrind`` executable on ``PATH``, or ``None``."""
    return shutil.which("valgrind")


def _why(stderr_path: str, status: int) -> str:
    """The last line the child itself wrote to stderr (valgrind's own lines start with
    ``==pid==``), or its exit status."""
    with open(stderr_path, encoding="utf-8", errors="replace") as f:
        own = [line.strip() for line in f if line.strip() and not line.startswith("==")]
    last = own[-1] if own else f"exit status {status}"
    prefix = "unavailable: "
    return last[len(prefix):] if status == _UNAVAILABLE and last.startswith(prefix) else last


def _run_together(commands: Sequence[list[str]], env: dict[str, str], tmp: str
                  ) -> list[tuple[int, str]]:
    """Run ``commands`` at the same time; each one's exit status and stderr file."""
    runs = []
    for i, cmd in enumerate(commands):
        err = os.path.join(tmp, f"stderr.{i}.txt")
        with open(err, "w", encoding="utf-8") as stderr:
            runs.append((subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                          stdout=subprocess.DEVNULL, stderr=stderr, env=env),
                         err))
    return [(proc.wait(), err) for proc, err in runs]


def _sources_stamp() -> list[tuple[str, int, int]]:
    """Path, modification time and size of each ``.py`` and ``.so`` file of the loglayer
    package the children import (a file that vanishes while listed is left out)."""
    import loglayer

    stamp = []
    for path in Path(loglayer.__file__).parent.rglob("*"):
        if path.suffix in (".py", ".so"):
            try:
                st = path.stat()
            except OSError:
                continue
            stamp.append((str(path), st.st_mtime_ns, st.st_size))
    return sorted(stamp)


def count_case(scenario_id: str, library_key: str, ns: tuple[int, int], config: str | None,
               valgrind: str, pycache: str) -> Count:
    """Count one case (see ``_count_once``), again while loglayer's files changed
    during the count, at most ``ATTEMPTS`` times.

    ``config`` is ``--config``'s ``module:factory``, needed by library ``yours``.
    Raises ``CountError`` when a child fails or leaves no count, or when the files
    changed during every attempt.
    """
    for _ in range(ATTEMPTS):
        before = _sources_stamp()
        try:
            count = _count_once(scenario_id, library_key, ns, config, valgrind, pycache)
        except CountError:
            if _sources_stamp() == before:
                raise
            continue  # a child may have imported a file mid-edit
        if _sources_stamp() == before:
            return count
    raise CountError(f"loglayer's files changed during each of {ATTEMPTS} attempts")


def _count_once(scenario_id: str, library_key: str, ns: tuple[int, int], config: str | None,
                valgrind: str, pycache: str) -> Count:
    """A native run that fills the bytecode cache ``pycache``, then the two child runs
    under callgrind, started together, and their per-call difference."""
    env = {**os.environ, "PYTHONHASHSEED": "0", "PYTHONPYCACHEPREFIX": pycache}
    writer = {key: value for key, value in env.items() if key != "PYTHONDONTWRITEBYTECODE"}
    reader = {**env, "PYTHONDONTWRITEBYTECODE": "1"}

    def child(n: int) -> list[str]:
        return [sys.executable, "-c", _CHILD, scenario_id, library_key, str(n),
                *([config] if config else [])]

    with tempfile.TemporaryDirectory(prefix="loglayer-bench-callgrind-") as tmp:
        outs = [os.path.join(tmp, f"callgrind.{n}.out") for n in ns]
        for status, err in _run_together([child(ns[0])], writer, tmp):
            if status != 0:
                raise CountError(_why(err, status))
        counted = _run_together(
            [[valgrind, "--tool=callgrind", f"--callgrind-out-file={out}", *child(n)]
             for n, out in zip(ns, outs, strict=True)], reader, tmp)
        totals = []
        for (status, err), out in zip(counted, outs, strict=True):
            if status != 0:
                raise CountError(_why(err, status))
            try:
                with open(out, encoding="utf-8", errors="replace") as f:
                    totals.append(parse_total(f))
            except (OSError, ValueError) as exc:
                raise CountError(f"no count from callgrind: {exc}") from exc
    count = Count(ns[0], ns[1], totals[0], totals[1])
    if count.per_call <= 0:
        raise CountError(f"the {ns[1]:,}-iteration run counted no more instructions than the "
                         f"{ns[0]:,}-iteration one ({totals[1]:,} vs {totals[0]:,})")
    return count


def child_main(argv: Sequence[str]) -> int:
    """The child's side: set one case up as the time mode does and run its statement.

    ``argv`` is ``scenario_id library_key n [module:factory]``. Exits 0 after the run,
    ``_UNAVAILABLE`` (with ``unavailable: why`` on stderr) when the library cannot run
    the scenario.
    """
    from ._runner import BinaryNullSink, NullSink, _select_libraries, compile_case, timed
    from ._scenarios import Unavailable

    scenario_id, library_key, n_text, *rest = argv
    config = rest[0] if rest else None
    library = next(lib for lib in _select_libraries(library_key, config)
                   if lib.key == library_key)
    try:
        case = library.setup(scenario_id, NullSink(), BinaryNullSink())
    except Unavailable as exc:
        print(f"unavailable: {exc}", file=sys.stderr)
        return _UNAVAILABLE
    try:
        timed(compile_case(case), int(n_text))
    finally:
        if case.teardown is not None:
            case.teardown()
    return 0
