"""Import time of loglayer against structlog and loguru, measured in one run.

    .venv/bin/python tools/import_time.py [--rounds 15]

Each round imports each library once in a fresh interpreter with ``-X importtime`` and
reads the cumulative microseconds of its top-level package; rounds interleave the
libraries, so a busy machine slows them alike. Prints the medians as the Markdown
table the README's Benchmark section shows.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys

LIBRARIES = ("loglayer", "structlog", "loguru")


def import_us(module: str) -> int:
    """The cumulative import time of ``module`` in a fresh interpreter, in microseconds."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import {module}"],
                          capture_output=True, text=True, check=True, env=dict(os.environ))
    for line in reversed(done.stderr.splitlines()):
        parts = [part.strip() for part in line.split("|")]
        if len(parts) == 3 and parts[2] == module:
            return int(parts[1])
    raise RuntimeError(f"no import time for {module} in:\n{done.stderr[-2000:]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    options = parser.parse_args(argv)
    for module in LIBRARIES:  # warm the bytecode caches once, untimed
        import_us(module)
    times: dict[str, list[int]] = {module: [] for module in LIBRARIES}
    for _ in range(options.rounds):
        for module in LIBRARIES:
            times[module].append(import_us(module))
    import loglayer

    print(f"{platform.python_implementation()} {platform.python_version()}, "
          f"{platform.machine()}, {platform.system()}; loglayer core: "
          f"{'compiled' if loglayer.COMPILED else 'pure'}; median of {options.rounds}")
    print("| library | `import` (ms, median) | min | max |")
    print("| --- | ---: | ---: | ---: |")
    for module in LIBRARIES:
        values = times[module]
        print(f"| {module} | {statistics.median(values) / 1000:.1f} | "
              f"{min(values) / 1000:.1f} | {max(values) / 1000:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
