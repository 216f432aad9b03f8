"""Entry point of ``python -m loglayer.bench``; see ``loglayer.bench._runner``."""

from __future__ import annotations

import sys

from ._runner import main

if __name__ == "__main__":
    sys.exit(main())
