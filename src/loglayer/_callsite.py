"""Call-site capture for ``LogLayer(source=True)``: which frames are loglayer's own.

An entry's source is the first frame, walking out from the emission, whose code is not
loglayer's plumbing: the pure core's level methods and builder, the stdlib facade and
``logging`` (so ``logging.getLogger(...).info()`` through the facade or a
``LogLayerHandler`` points at its caller), and the writer adapter (so ``print(file=w)``
points at the ``print``). The compiled core's level methods are C functions and push no
frame at all. ``with_stacklevel(n)`` then skips ``n`` more frames that are not
plumbing, for wrappers of the user's own.

The set of plumbing files is built the first time a logger asks for sources, so a
program that never does pays nothing, not even the ``logging`` import. Both cores use
this module: the pure core walks the frames with :func:`caller_source`, the compiled
core with the same set in C.
"""

from __future__ import annotations

import os
import sys
import threading
from types import FrameType
from typing import Any

__all__ = ["caller_source", "plumbing_files"]

_files: frozenset[str] | None = None
_lock = threading.Lock()

#: loglayer's modules whose frames lie between a user's log call and the core.
_OWN = ("_core_py.py", "_writer.py", "stdlib.py")


def plumbing_files() -> frozenset[str]:
    """The ``co_filename`` of every module whose frames an entry's source skips."""
    global _files
    if _files is None:
        with _lock:
            if _files is None:
                import logging

                here = os.path.dirname(os.path.abspath(__file__))
                names = {os.path.join(here, name) for name in _OWN}
                names.add(os.path.abspath(logging.__file__))
                # the same paths as the interpreter spells them (a relative sys.path
                # entry, a symlinked checkout): whatever co_filename the loaded
                # modules carry
                for module_name in ("loglayer._core_py", "loglayer._writer",
                                    "loglayer.stdlib", "logging"):
                    module = sys.modules.get(module_name)
                    file = getattr(module, "__file__", None)
                    if file:
                        names.add(file)
                _files = frozenset(names)
    return _files


def caller_source(skip: int) -> dict[str, Any] | None:
    """``{"file", "line", "function"}`` of the emission site, ``skip`` frames further out.

    The walk starts at this function's caller; frames of :func:`plumbing_files` are
    passed over and not counted. When the stack ends first, the outermost frame that is
    not plumbing answers (None when there is none).
    """
    files = _files if _files is not None else plumbing_files()
    frame: FrameType | None = sys._getframe(1)
    found = None
    while frame is not None:
        code = frame.f_code
        if code.co_filename not in files:
            found = frame
            if skip <= 0:
                break
            skip -= 1
        frame = frame.f_back
    if found is None:
        return None
    code = found.f_code
    return {"file": code.co_filename, "line": found.f_lineno, "function": code.co_name}
