"""A real systemd-journald for the journald tests, run privately, and a reader of the
native protocol.

::

    with Journald() as journald:
        transport = JournaldTransport(journald.socket_path, identifier="t1")
        ...
        (entry,) = journald.wait_for(1, identifier="t1")   # journalctl -o json, parsed
        journald.stop(); journald.start()                   # a restart, same socket path
        journald.pause(); journald.resume()                 # SIGSTOP / SIGCONT: stuck

How it runs: ``unshare --mount`` gives the daemon a mount namespace of its own, where
a tmpfs hides the machine's ``/run`` and three directories of the test are bound in
(under a short temporary directory of its own, removed at the end: a socket's path
must fit in 107 bytes, which pytest's ``tmp_path`` may not):
``run`` on ``/run/systemd`` (journald binds its sockets in ``/run/systemd/journal``,
so the native socket is ``run/journal/socket`` for the test), ``journal`` on
``/run/log/journal`` (the volatile journal files) and ``etc`` on ``/etc/systemd``
(its ``journald.conf``: volatile storage, no rate limit, no kernel log, nothing
forwarded). Then ``systemd-journald`` is executed there, unchanged, as it runs on a
host: the entries it stores went through its own native-socket parser, and
``journalctl --directory`` reads them back as JSON. Nothing outside the test's
directory is touched, and no systemd (PID 1) is needed. The daemon's main instance
is used rather than a namespace instance (``systemd-journald <namespace>``) because a
namespace instance exits after 30 s without clients.

A root user runs ``unshare --mount``; another user gets a user namespace too
(``--map-root-user``), where the kernel allows it. When the daemon is not installed
the test fails (``make deps`` installs it: ``tools/install_deps.sh``); its own log is
in every failure message.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, NoReturn

import pytest

__all__ = ["Journald", "journald_binary", "parse_datagram", "value_bytes"]

START_TIMEOUT = 60.0  # generous: a loaded two-core CI machine
STOP_TIMEOUT = 30.0
WAIT_TIMEOUT = 60.0
_LOG_TAIL = 6000  # characters of the daemon's log shown in a failure
_BINARIES = ("/lib/systemd/systemd-journald", "/usr/lib/systemd/systemd-journald")
_CONFIG = """\
[Journal]
Storage=volatile
RuntimeMaxUse=256M
RateLimitBurst=0
ReadKMsg=no
ForwardToSyslog=no
ForwardToKMsg=no
ForwardToConsole=no
ForwardToWall=no
"""


def journald_binary() -> str:
    """The daemon's path; fails the test (not skips) when systemd is not installed."""
    for path in _BINARIES:
        if os.access(path, os.X_OK):
            return path
    pytest.fail("systemd-journald is not installed: `make deps` installs the systemd "
                "package (tools/install_deps.sh)", pytrace=False)


def parse_datagram(payload: bytes) -> list[tuple[str, bytes]]:
    """The fields of one native-protocol datagram, in order, as journald reads them:
    ``NAME=value\\n``, or ``NAME\\n`` + a 64-bit little-endian length + value + ``\\n``."""
    fields = []
    at = 0
    while at < len(payload):
        end = payload.index(b"\n", at)
        line = payload[at:end]
        if b"=" in line:
            name, _, value = line.partition(b"=")
            at = end + 1
        else:
            name = line
            (size,) = struct.unpack_from("<Q", payload, end + 1)
            start = end + 9
            value = payload[start:start + size]
            assert payload[start + size:start + size + 1] == b"\n", "no newline after a value"
            at = start + size + 1
        fields.append((name.decode("ascii"), value))
    return fields


def value_bytes(value: Any) -> bytes:
    """A field's value as ``journalctl -o json`` writes it (text, or a list of byte
    values for one that is not printable UTF-8), as bytes."""
    return bytes(value) if isinstance(value, list) else value.encode()


class Journald:
    """One private ``systemd-journald`` (see the module docstring)."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="loglayer-journald-"))
        self.run_dir = self.root / "run"
        self.journal_dir = self.root / "journal"
        self.etc_dir = self.root / "etc"
        for directory in (self.run_dir, self.journal_dir, self.etc_dir):
            directory.mkdir(parents=True, exist_ok=True)
        (self.etc_dir / "journald.conf").write_text(_CONFIG)
        self.socket_path = str(self.run_dir / "journal" / "socket")
        self.log_path = self.root / "journald.log"
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Journald:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def start(self) -> None:
        """Start the daemon and wait until its native socket takes datagrams."""
        binary = journald_binary()
        script = ("set -e\n"
                  "mount -t tmpfs tmpfs /run\n"
                  "mkdir -p /run/systemd /run/log/journal\n"
                  f"mount --bind '{self.run_dir}' /run/systemd\n"
                  f"mount --bind '{self.journal_dir}' /run/log/journal\n"
                  f"mount --bind '{self.etc_dir}' /etc/systemd\n"
                  f"exec '{binary}'\n")
        unshare = ["unshare", "--mount", "--propagation", "private"]
        if os.geteuid() != 0:
            unshare[1:1] = ["--user", "--map-root-user"]
        env = {**os.environ, "SYSTEMD_LOG_TARGET": "console", "SYSTEMD_LOG_LEVEL": "info"}
        with open(self.log_path, "ab") as log:
            log.write(b"--- start\n")
            log.flush()
            self.process = subprocess.Popen([*unshare, "sh", "-c", script], stdout=log,
                                            stderr=subprocess.STDOUT, env=env,
                                            stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT
        while not self._listening():
            if self.process.poll() is not None:
                self._fail(f"systemd-journald exited with status {self.process.returncode} "
                           "at start")
            if time.monotonic() > deadline:
                self._fail(f"systemd-journald did not listen within {START_TIMEOUT} s")
            time.sleep(0.02)

    def _listening(self) -> bool:
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            probe.connect(self.socket_path)
        except OSError:
            return False
        finally:
            probe.close()
        return True

    def stop(self) -> None:
        """SIGTERM (journald writes out and exits), SIGKILL if it does not."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGCONT)  # in case it was paused
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT)

    def pause(self) -> None:
        """SIGSTOP: journald stops reading; its socket's queue fills."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def entries(self, identifier: str | None = None) -> list[dict[str, Any]]:
        """Every entry in the journal (of ``identifier``, when given), oldest first, as
        ``journalctl -o json --all`` writes them (``--all``: values over 4096 bytes
        too, which it writes as null otherwise)."""
        directories = [path for path in self.journal_dir.iterdir() if path.is_dir()]
        if not directories:
            return []
        command = ["journalctl", "--directory", str(directories[0]), "--output", "json",
                   "--all", "--no-pager"]
        if identifier is not None:
            command += ["--identifier", identifier]
        done = subprocess.run(command, capture_output=True, check=False)
        if done.returncode != 0:
            self._fail(f"journalctl failed ({done.returncode}): {done.stderr.decode()}")
        return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]

    def wait_for(self, count: int, identifier: str,
                 timeout: float = WAIT_TIMEOUT) -> list[dict[str, Any]]:
        """The entries of ``identifier`` once there are at least ``count``."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.entries(identifier)
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                self._fail(f"{len(found)} of {count} entries of {identifier!r} in the "
                           f"journal after {timeout} s")
            time.sleep(0.05)

    def _fail(self, message: str) -> NoReturn:
        try:
            log = self.log_path.read_text(errors="replace")[-_LOG_TAIL:]
        except OSError as exc:
            log = f"(no log: {exc})"
        pytest.fail(f"{message}\n--- systemd-journald's log:\n{log}", pytrace=False)
