"""Process-wide taps: transports that receive every entry any logger emits.

``loglayer_capture`` (the pytest plugin) listens on one. A tap sees each entry after
the level filter and the dispatch hooks, whatever the logger's transports and send
gates do. The registry lives here, in the assembly layer; each kernel only holds the
current tuple, so emission tests one C-level global and no kernel knows who listens.
"""

from __future__ import annotations

import threading
from typing import Any

from ._common import loaded_kernels, on_kernel

__all__ = ["add_tap", "remove_tap"]

_lock = threading.Lock()
_taps: tuple[Any, ...] = ()


def _publish() -> None:
    for kernel in loaded_kernels():
        kernel._set_taps(_taps)


# A kernel imported later (the pure twin, when first needed) gets the current taps too.
on_kernel(lambda kernel: kernel._set_taps(_taps))


def add_tap(transport: Any) -> None:
    """Start sending every emitted entry to ``transport`` (its ``send`` only)."""
    global _taps
    if not callable(getattr(transport, "send", None)):
        raise TypeError(f"a tap needs a send(entry) method, got {type(transport).__name__}")
    with _lock:
        _taps = (*_taps, transport)
        _publish()


def remove_tap(transport: Any) -> None:
    """Stop sending entries to ``transport``; unknown taps are ignored."""
    global _taps
    with _lock:
        _taps = tuple(t for t in _taps if t is not transport)
        _publish()
