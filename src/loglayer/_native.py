"""Whether the compiled extensions may be used, decided once for the whole package.

They are used on CPython when they were built. ``LOGLAYER_NO_EXTENSIONS`` set to a
non-empty value turns all of them off (the test suite runs once each way); other
interpreters never use them. A leaf module, so that any module can ask without
importing the core.
"""

from __future__ import annotations

import importlib
import os
import sys
from types import ModuleType

__all__ = ["NO_EXTENSIONS", "compiled"]

NO_EXTENSIONS = bool(os.environ.get("LOGLAYER_NO_EXTENSIONS")) or (
    sys.implementation.name != "cpython"  # what platform.python_implementation() reads
)


def compiled(name: str) -> ModuleType | None:
    """The compiled module ``loglayer.<name>``, or None when the extensions are off or
    that one was not built.

    Only a module that is not there falls back. One that is there but fails to load (an
    undefined symbol, a build for another interpreter) raises, so a broken build is
    never taken for an install without a compiler; ``tests/test_extensions.py`` fails
    when CPython should have built one and did not.
    """
    if NO_EXTENSIONS:
        return None
    qualified = f"loglayer.{name}"
    try:
        return importlib.import_module(qualified)
    except ModuleNotFoundError as exc:
        if exc.name != qualified:
            raise
        return None
