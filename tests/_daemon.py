"""What the tests' real daemons (``_otelcol.Collector``, ``_rsyslog.Rsyslog``) share:
one child process, started into an appended log, stopped with SIGTERM or killed, and a
``with`` block that stops it cleanly when the test passed and kills it when it failed
(so that the test's own failure is the one reported)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn


class Daemon:
    """A subclass sets ``name`` (for messages), ``log_path``, and defines ``start`` (with
    ``_spawn`` and ``_await``) and ``_fail`` (a ``pytest.fail`` with its logs)."""

    name = "the daemon"
    log_path: Path
    starts = 0
    _proc: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        raise NotImplementedError

    def _fail(self, message: str) -> NoReturn:
        raise NotImplementedError

    def _spawn(self, argv: Sequence[str], **popen: Any) -> subprocess.Popen[bytes]:
        """Start the process (once more), its output appended to ``log_path``."""
        if self.running:
            raise RuntimeError(f"{self.name} is already running")
        self.starts += 1
        with self.log_path.open("ab") as log:
            log.write(f"--- start {self.starts} (test harness) ---\n".encode())
            log.flush()
            self._proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=log,
                                          stderr=subprocess.STDOUT, **popen)
        return self._proc

    def _await(self, ready: Callable[[], bool], timeout: float, what: str,
               poll: float = 0.05) -> None:
        """Wait until ``ready()``; fail (killing it) when the process exits first or
        ``timeout`` seconds pass."""
        deadline = time.monotonic() + timeout
        while not ready():
            proc = self._proc
            if proc is not None and proc.poll() is not None:
                self._fail(f"{self.name} exited with {proc.returncode} before it could {what}")
            if time.monotonic() > deadline:
                self.kill()
                self._fail(f"{self.name} did not {what} within {timeout}s")
            time.sleep(poll)

    def _terminate(self, timeout: float) -> subprocess.Popen[bytes]:
        """SIGTERM, and wait for the exit (killed, and a failure, after ``timeout``)."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            raise RuntimeError(f"{self.name} is not running")
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            self._fail(f"{self.name} did not stop within {timeout}s of SIGTERM")
        return proc

    def stop(self) -> None:
        raise NotImplementedError

    def kill(self) -> None:
        """SIGKILL, and wait: an outage with no shutdown at all."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()

    def __enter__(self) -> Any:
        self.start()
        return self

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        if not self.running:
            return
        if exc_type is None:
            self.stop()
        else:  # the test's own failure is the one to see
            self.kill()
