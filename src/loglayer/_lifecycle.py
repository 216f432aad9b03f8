"""Interpreter exit and ``os.fork()`` for the objects that must react to them.

Some objects hold state that the process's end or a fork would get wrong: a queue still
holds entries to drain at exit; a lock held by another thread at the fork stays locked
forever in the child; lines buffered in the parent must not be written twice. Each such
object is tracked here with the handlers it needs::

    _lifecycle.track(self, at_exit=_close_at_exit,  # a function (obj, deadline)
                     after_fork_in_child=FileTransport._after_fork_in_child)

A handler is a plain function called with the object (an unbound method fits), so the
registry can hold the object weakly: tracking never keeps an object alive, and a collected
object is forgotten. This module registers one ``atexit`` handler and one set of
``os.register_at_fork`` handlers for every tracked object, instead of one set per kind.

Order. As ``atexit`` and ``os.register_at_fork`` order their own handlers: ``at_exit``
and ``before_fork`` run newest-tracked first, ``after_fork_in_parent`` and
``after_fork_in_child`` oldest first. An object is tracked when it is made, after what it
was given, so a queue is drained before the plugins and transports it writes through are
stopped.

Exit deadline. At exit every ``at_exit(obj, deadline)`` receives the same
``deadline``: ``time.monotonic()`` when the exit handler started plus ``EXIT_TIMEOUT``.
The time one object takes is not available to the next; an object should give up by the
deadline (a queue then reports how many entries it left). The ``atexit`` handler itself is
registered when the first object with an ``at_exit`` handler is tracked, not at import:
``atexit`` runs the last registered first, so the exit work runs before the exit hooks of
what was made before that object (``weakref.finalize``'s among them, which closes files).

After the exit handler. ``atexit`` handlers registered before the first tracked object
run after it, and may still log. ``exit_started()`` tells an object that the exit work
is done (or under way), so one made that late does not wait for an exit call that will
not come; the objects that drained at exit keep working for such late entries (a queue
then sends synchronously, a batching file writes each line at once). What was stopped at
exit stays stopped: a ``GrpcPlugin``'s process is gone, so a late entry gets that plugin's
fallbacks, or, with ``fail_closed=True`` (a redaction plugin), is refused and reported
rather than written as it is. (It cannot be stopped any later: after the ``atexit``
handlers only the interpreter's finalization runs, too late for a clean shutdown.)

An exception from a handler is reported as one line on ``sys.stderr``; the other objects'
handlers still run, as they would if each had registered its own.

A leaf module: it imports only the standard library.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar

__all__ = ["EXIT_TIMEOUT", "exit_started", "track", "untrack"]

#: Seconds the exit handler gives all tracked objects together.
EXIT_TIMEOUT = 5.0

T = TypeVar("T")


class _Handlers(NamedTuple):
    """A tracked object (by weak reference) and what to call on it at each event."""

    ref: weakref.ref[Any]
    at_exit: Callable[[Any, float], object] | None
    before_fork: Callable[[Any], object] | None
    after_fork_in_parent: Callable[[Any], object] | None
    after_fork_in_child: Callable[[Any], object] | None


# The tracked objects by id(), in the order they were tracked. An entry is removed by
# its weak reference's callback when the object is collected, before its id can be
# reused; a dict's single operations are atomic, so the callback takes no lock.
_tracked: dict[int, _Handlers] = {}
# Held while the atexit handler is registered (once, by the first at_exit tracked).
_lock = threading.Lock()
_exit_registered = False
# Set when the exit handler starts: objects tracked from then on get no at_exit call.
_exit_started = False


def track(obj: T, *, at_exit: Callable[[T, float], object] | None = None,
          before_fork: Callable[[T], object] | None = None,
          after_fork_in_parent: Callable[[T], object] | None = None,
          after_fork_in_child: Callable[[T], object] | None = None) -> None:
    """Call these handlers with ``obj`` at exit and around forks while ``obj`` lives.

    ``obj`` is held weakly and must support weak references. Tracking it again replaces
    its handlers and keeps its place in the order.
    """
    global _exit_registered
    key = id(obj)
    forget = _tracked.pop  # bound now: the callback may run late in the shutdown
    ref = weakref.ref(obj, lambda _: forget(key, None))
    _tracked[key] = _Handlers(ref, at_exit, before_fork, after_fork_in_parent,
                              after_fork_in_child)
    if at_exit is not None and not _exit_registered:
        with _lock:
            if not _exit_registered:
                atexit.register(_at_exit)
                _exit_registered = True


def untrack(obj: object) -> None:
    """Stop calling ``obj``'s handlers (a closed object has nothing left to do)."""
    handlers = _tracked.get(id(obj))
    if handlers is not None and handlers.ref() is obj:
        _tracked.pop(id(obj), None)


def exit_started() -> bool:
    """Whether the exit handler has started: an ``at_exit`` handler tracked now would
    never be called, so the object must not leave work for it."""
    return _exit_started


def _live(event: str, newest_first: bool) -> list[tuple[Any, Callable[..., object]]]:
    """The live tracked objects that handle ``event``, with their handler for it."""
    found = []
    for handlers in list(_tracked.values()):
        fn = getattr(handlers, event)
        obj = handlers.ref()
        if fn is not None and obj is not None:
            found.append((obj, fn))
    if newest_first:
        found.reverse()
    return found


def _call(event: str, fn: Callable[..., object], obj: Any, *args: Any) -> None:
    try:
        fn(obj, *args)
    except Exception as exc:
        with contextlib.suppress(Exception):  # no usable stderr: nothing else to tell
            sys.stderr.write(f"loglayer: {event} of {obj!r} failed: "
                             f"{type(exc).__name__}: {exc}\n")


def _at_exit() -> None:
    global _exit_started
    _exit_started = True
    deadline = time.monotonic() + EXIT_TIMEOUT
    for obj, fn in _live("at_exit", newest_first=True):
        _call("at_exit", fn, obj, deadline)


def _before_fork() -> None:
    for obj, fn in _live("before_fork", newest_first=True):
        _call("before_fork", fn, obj)


def _after_fork_in_parent() -> None:
    for obj, fn in _live("after_fork_in_parent", newest_first=False):
        _call("after_fork_in_parent", fn, obj)


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.Lock()  # another thread may have held it at the fork
    for obj, fn in _live("after_fork_in_child", newest_first=False):
        _call("after_fork_in_child", fn, obj)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent,
                        after_in_child=_after_fork_in_child)
