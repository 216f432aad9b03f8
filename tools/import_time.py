"""Import time of loglayer against structlog and loguru, measured in one run.

    .venv/bin/python tools/import_time.py [--rounds 15] [--tree LABEL=SRC ...]

Each round imports each library once in a fresh interpreter with ``-X importtime`` and
reads the cumulative microseconds of its top-level package (with bytecode caches, as
installed packages have them); rounds interleave the libraries, so a busy machine slows
them alike. Prints the medians as the Markdown table the README's Benchmark section shows.
``--tree`` adds a row for loglayer imported from another source tree (``PYTHONPATH=SRC``,
e.g. a ``git archive`` of an earlier commit with its extensions built in place), measured
in the same interleaved rounds.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys

LIBRARIES = ("loglayer", "structlog", "loguru")


def import_us(module: str, source: str | None = None) -> int:
    """The cumulative import time of ``module`` in a fresh interpreter, in microseconds;
    ``source`` goes in front of ``PYTHONPATH``."""
    env = dict(os.environ)
    # Bytecode caches are written (by the untimed first round) and read, as an installed
    # package's are: without them a source tree would be timed compiling itself.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if source is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [source, env.get("PYTHONPATH")]))
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import {module}"],
                          capture_output=True, text=True, check=True, env=env)
    for line in reversed(done.stderr.splitlines()):
        parts = [part.strip() for part in line.split("|")]
        if len(parts) == 3 and parts[2] == module:
            return int(parts[1])
    raise RuntimeError(f"no import time for {module} in:\n{done.stderr[-2000:]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--tree", action="append", default=[], metavar="LABEL=SRC",
                        help="also loglayer from the source tree SRC, shown as LABEL")
    options = parser.parse_args(argv)
    rows: dict[str, tuple[str, str | None]] = {module: (module, None) for module in LIBRARIES}
    for tree in options.tree:
        label, _, source = tree.partition("=")
        rows[f"loglayer ({label})"] = ("loglayer", source)
    for module, source in rows.values():  # warm the bytecode caches once, untimed
        import_us(module, source)
    times: dict[str, list[int]] = {row: [] for row in rows}
    for _ in range(options.rounds):
        for row, (module, source) in rows.items():
            times[row].append(import_us(module, source))
    import loglayer

    print(f"{platform.python_implementation()} {platform.python_version()}, "
          f"{platform.machine()}, {platform.system()}; loglayer core: "
          f"{'compiled' if loglayer.COMPILED else 'pure'}; median of {options.rounds}")
    print("| library | `import` (ms, median) | min | max |")
    print("| --- | ---: | ---: | ---: |")
    for row, values in times.items():
        print(f"| {row} | {statistics.median(values) / 1000:.1f} | "
              f"{min(values) / 1000:.1f} | {max(values) / 1000:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
