"""Whether the compiled extensions may be used, decided once for the whole package.

They are used on CPython when they were built. ``LOGLAYER_NO_EXTENSIONS`` set to a
non-empty value turns all of them off (the test suite runs once each way); other
interpreters never use them. A leaf module, so that any module can ask without
importing the core.
"""

from __future__ import annotations

import os
import platform

NO_EXTENSIONS = bool(os.environ.get("LOGLAYER_NO_EXTENSIONS")) or (
    platform.python_implementation() != "CPython"
)
