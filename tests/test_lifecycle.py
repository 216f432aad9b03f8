"""loglayer._lifecycle: the one registry of exit and fork handlers.

The transports and plugin hosts that use it are tested through their own behaviour
(test_queue, test_file_transport, test_structured, test_grpc_plugin, test_wasm_*); these
tests pin the helper's own promises: the order of the handlers, the shared exit deadline,
weak tracking, and that a failing handler does not stop the others.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import warnings
import weakref

import pytest

import loglayer
from loglayer import _lifecycle


class Probe:
    """A tracked object; the handlers record ``(event, name)``."""

    def __init__(self, name: str) -> None:
        self.name = name


def child_env() -> dict:
    """The environment for a subprocess that must import this very loglayer."""
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(loglayer.__file__)))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    return env


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fork_handlers_run_in_atfork_order_in_the_parent_and_the_child():
    events: list[tuple[str, str]] = []
    probes = [Probe("older"), Probe("newer")]
    for probe in probes:
        _lifecycle.track(probe, before_fork=lambda p: events.append(("before", p.name)),
                         after_fork_in_parent=lambda p: events.append(("parent", p.name)),
                         after_fork_in_child=lambda p: events.append(("child", p.name)))
    read_fd, write_fd = os.pipe()
    with warnings.catch_warnings():  # 3.12+ warns about forking a threaded process
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: report what ran, and never return into pytest
        try:
            os.write(write_fd, repr(events).encode())
        finally:
            os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        seen_in_child = pipe.read().decode()
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
    before = [("before", "newer"), ("before", "older")]
    assert events == [*before, ("parent", "older"), ("parent", "newer")]
    assert seen_in_child == repr([*before, ("child", "older"), ("child", "newer")])


EXIT_SCRIPT = """
import atexit, gc, time
from loglayer import _lifecycle

atexit.register(print, "registered before the first at_exit")

class Probe:
    def __init__(self, name):
        self.name = name
    def __repr__(self):
        return f"<Probe {self.name}>"

def at_exit(probe, deadline):
    print(probe.name, repr(deadline), round(deadline - time.monotonic(), 1), flush=True)
    if probe.name == "failing":
        raise RuntimeError("boom")

probes = [Probe(name) for name in ("failing", "kept", "collected", "last")]
for probe in probes:
    _lifecycle.track(probe, at_exit=at_exit)
closed = Probe("closed")
_lifecycle.track(closed, at_exit=at_exit)
_lifecycle.untrack(closed)
del probes[2], probe
gc.collect()
"""


@pytest.mark.slow
def test_exit_handlers_run_newest_first_with_one_deadline():
    result = subprocess.run([sys.executable, "-c", EXIT_SCRIPT], env=child_env(),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    # newest first; neither the collected nor the untracked probe; and before the
    # atexit handler registered ahead of the first tracked at_exit
    assert [line.split()[0] for line in lines] == ["last", "kept", "failing",
                                                  "registered"]
    deadlines = {line.split()[1] for line in lines[:3]}
    assert len(deadlines) == 1, "every object gets the same deadline"
    assert float(lines[0].split()[2]) == pytest.approx(_lifecycle.EXIT_TIMEOUT, abs=0.5)
    # the failing handler is reported, and the handlers after it still ran
    assert result.stderr == ("loglayer: at_exit of <Probe failing> failed: "
                             "RuntimeError: boom\n")


def test_tracking_holds_the_object_weakly():
    probe = Probe("weak")
    _lifecycle.track(probe, after_fork_in_child=lambda p: None)
    ref = weakref.ref(probe)
    del probe
    gc.collect()
    assert ref() is None
