"""A real OpenTelemetry Collector for the OTLP tests, run as a child process on loopback.

::

    with Collector(tmp_path) as collector:
        transport = OtlpTransport(collector.http_url)           # or grpc_endpoint
        ...
        (entry,) = collector.wait_for_records(1, match=lambda e: ...)
        entry["resource"], entry["scope"], entry["record"]     # OTLP/JSON, as written
        collector.kill()                                        # SIGKILL: an outage
        collector.start()                                       # back, on the same ports

The binary is the minimal collector ``make deps`` builds (``tools/build_otelcol.sh``:
the OTLP receiver, the file and debug exporters). A missing binary fails the test rather
than skipping it: CI runs ``make deps`` first, so a missing collector is a broken build
step, not an absent optional tool.

The receiver listens on two free loopback ports, HTTP and gRPC, chosen once: ``start()``
after ``stop()`` or ``kill()`` listens on the same ones, so a client configured before an
outage reaches the collector after it. Each start writes its own output file
(``logs-<start>.json``; the file exporter truncates its file when it starts) and
``records()`` reads them all, in order. The exporter is configured with a rotation size
it never reaches, because only then does it write each request straight to the file:
without rotation it writes through a buffer flushed every ``flush_interval``, and a
record the collector had acknowledged could vanish with a SIGKILLed process. With it, a
record is in the file before its request is answered (the pipeline has no queue or
batch processor), which is what lets the outage tests count every record.

The collector's own log (all starts, one file) is in every failure message.

``Tap`` is a TCP relay to put in front of one of its ports: it passes every byte through
and keeps what the clients sent, so a test can see what went over the wire (a gzip
stream, a header) while the real collector still has to read it.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import pytest

from _daemon import Daemon

__all__ = ["Collector", "Tap", "attributes", "collector_binary"]

ROOT = Path(__file__).resolve().parents[1]
BUILD_SCRIPT = ROOT / "tools" / "build_otelcol.sh"
START_TIMEOUT = 60.0  # generous: a loaded two-core CI machine
STOP_TIMEOUT = 30.0
WAIT_TIMEOUT = 60.0
_LOG_TAIL = 6000  # characters of the collector's log shown in a failure


def collector_binary() -> Path:
    """The built collector; fails the test (not skips) when ``make deps`` has not run."""
    done = subprocess.run([str(BUILD_SCRIPT), "--print-path"], capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        pytest.fail("the OpenTelemetry Collector is not built: `make deps` builds it "
                    f"(tools/build_otelcol.sh).\n{done.stderr}", pytrace=False)
    return Path(done.stdout.strip().splitlines()[-1])


def attributes(pairs: list[dict[str, Any]]) -> dict[str, Any]:
    """OTLP/JSON ``[{"key": k, "value": v}, ...]`` as ``{k: v}``."""
    return {pair["key"]: pair["value"] for pair in pairs}


def _free_ports(count: int) -> list[int]:
    """``count`` distinct ports the kernel had free (held together, so none repeats)."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


class Collector(Daemon):
    """The collector binary with the OTLP receiver on loopback and the file exporter
    writing OTLP/JSON into ``directory`` (see the module docstring). A context manager:
    entering starts it, leaving stops it (gracefully, when still running)."""

    name = "the collector"

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.binary = collector_binary()
        self.http_port, self.grpc_port = _free_ports(2)
        self.log_path = self.directory / "otelcol.log"

    # -- where clients send ------------------------------------------------------------

    @property
    def http_url(self) -> str:
        """The OTLP/HTTP logs URL (``OTEL_EXPORTER_OTLP_LOGS_ENDPOINT`` style)."""
        return f"http://127.0.0.1:{self.http_port}/v1/logs"

    @property
    def http_base(self) -> str:
        """The OTLP/HTTP base URL (``OTEL_EXPORTER_OTLP_ENDPOINT`` style)."""
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def grpc_endpoint(self) -> str:
        """The OTLP/gRPC endpoint; ``http://`` makes the SDK's rules pick plaintext."""
        return f"http://127.0.0.1:{self.grpc_port}"

    # -- the process -------------------------------------------------------------------

    def start(self) -> None:
        """Start the collector (again, on the same ports) and wait until both of its
        ports accept connections."""
        if self.running:
            raise RuntimeError("the collector is already running")
        config = self.directory / f"otelcol-{self.starts + 1}.yaml"
        config.write_text(json.dumps(self._config(self._output(self.starts + 1)), indent=2))
        self._spawn([str(self.binary), f"--config={config}"])
        self._await(lambda: _accepts(self.http_port) and _accepts(self.grpc_port),
                    START_TIMEOUT, f"listen on 127.0.0.1:{self.http_port} (HTTP) and "
                    f"127.0.0.1:{self.grpc_port} (gRPC)")

    def stop(self) -> None:
        """SIGTERM, and wait: the collector shuts down gracefully (exit status 0)."""
        proc = self._terminate(STOP_TIMEOUT)
        if proc.returncode != 0:
            self._fail(f"the collector exited with {proc.returncode} on SIGTERM")

    # -- what it wrote -----------------------------------------------------------------

    def records(self) -> list[dict[str, Any]]:
        """Every log record the file exporter wrote, across all starts, in order: each
        a dict of its ``resource``, ``scope`` and ``record`` in OTLP/JSON."""
        found: list[dict[str, Any]] = []
        for start in range(1, self.starts + 1):
            path = self._output(start)
            if not path.exists():
                continue
            text = path.read_text(errors="replace")
            lines = text.split("\n")
            last = lines.pop()  # "" when the file ends with its newline
            for line in lines:
                if line.strip():
                    found.extend(self._records_of(json.loads(line)))
            # An unterminated last line: while the collector runs, a request being
            # written (read next time); after a kill, a request written without its
            # newline, or one the SIGKILL cut short, which was never answered (skipped).
            if last.strip() and not (start == self.starts and self.running):
                with contextlib.suppress(ValueError):
                    found.extend(self._records_of(json.loads(last)))
        return found

    def wait_for_records(self, n: int, timeout: float = WAIT_TIMEOUT,
                         match: Callable[[dict[str, Any]], bool] | None = None,
                         ) -> list[dict[str, Any]]:
        """The records (those ``match`` accepts, or all) once there are at least ``n``;
        fails with the collector's log when ``timeout`` seconds pass first."""
        deadline = time.monotonic() + timeout
        while True:
            found = [entry for entry in self.records() if match is None or match(entry)]
            if len(found) >= n:
                return found
            if self._proc is not None and self._proc.poll() is not None:
                self._fail(f"the collector exited with {self._proc.returncode} while "
                           f"{n} records were awaited ({len(found)} arrived)")
            if time.monotonic() > deadline:
                self._fail(f"{len(found)} of {n} records arrived within {timeout}s")
            time.sleep(0.05)

    def log(self) -> str:
        """The collector's own log (its stderr), every start, the tail only."""
        if not self.log_path.exists():
            return "(no log)"
        text = self.log_path.read_text(errors="replace")
        return text if len(text) <= _LOG_TAIL else "...\n" + text[-_LOG_TAIL:]

    # -- internals ---------------------------------------------------------------------

    def _output(self, start: int) -> Path:
        return self.directory / f"logs-{start}.json"

    def _config(self, output: Path) -> dict[str, Any]:
        """The configuration (JSON is YAML) of one start."""
        return {
            "receivers": {"otlp": {"protocols": {
                "http": {"endpoint": f"127.0.0.1:{self.http_port}"},
                "grpc": {"endpoint": f"127.0.0.1:{self.grpc_port}"},
            }}},
            "exporters": {"file": {
                "path": str(output), "format": "json",
                # never reached: its presence makes every request a direct write
                "rotation": {"max_megabytes": 1024, "max_backups": 1},
            }},
            "service": {
                # no metrics endpoint (it would take port 8888); its own logs on stderr
                "telemetry": {"metrics": {"level": "none"}, "logs": {"level": "info"}},
                "pipelines": {"logs": {"receivers": ["otlp"], "exporters": ["file"]}},
            },
        }

    @staticmethod
    def _records_of(request: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"resource": resource_logs.get("resource", {}),
                 "scope": scope_logs.get("scope", {}),
                 "record": record}
                for resource_logs in request.get("resourceLogs", [])
                for scope_logs in resource_logs.get("scopeLogs", [])
                for record in scope_logs.get("logRecords", [])]

    def _fail(self, message: str) -> NoReturn:
        pytest.fail(f"{message}.\nThe collector's log ({self.log_path}):\n{self.log()}",
                    pytrace=False)


class Tap:
    """A TCP relay from a free loopback port to ``127.0.0.1:upstream``, keeping a copy
    of every byte the clients sent (``sent()``). A context manager; leaving it closes
    the listening socket and every relayed connection."""

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._server.getsockname()[1])
        self._sent = bytearray()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._threads = [threading.Thread(target=self._accept, name="tap-accept")]
        self._threads[0].start()

    def sent(self) -> bytes:
        """Everything the clients sent so far, connections one after another."""
        with self._lock:
            return bytes(self._sent)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:  # closed
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream))
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
                pumps = [threading.Thread(target=self._pump, args=(client, upstream, True)),
                         threading.Thread(target=self._pump, args=(upstream, client, False))]
                self._threads += pumps
            for pump in pumps:
                pump.start()

    def _pump(self, source: socket.socket, target: socket.socket, keep: bool) -> None:
        try:
            while data := source.recv(1 << 16):
                if keep:
                    with self._lock:
                        self._sent += data
                target.sendall(data)
        except OSError:  # either side went away
            pass
        for sock in (source, target):  # one side done: the relayed connection is over
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._server.shutdown(socket.SHUT_RDWR)
        self._threads[0].join(STOP_TIMEOUT)  # accepts no more: the lists are final
        self._server.close()
        with self._lock:
            sockets, threads = list(self._sockets), self._threads[1:]
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            thread.join(STOP_TIMEOUT)
        for sock in sockets:
            sock.close()

    def __enter__(self) -> Tap:
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()
