"""The OpenTelemetry Collector that ``make deps`` builds receives OTLP logs and writes them.

``tools/build_otelcol.sh`` builds a minimal collector (tools/otelcol: the OTLP receiver,
the file and debug exporters) into a cache outside the clone; ``--print-path`` finds it
without building. This test runs it on loopback with the OTLP receiver on HTTP and gRPC
and the file exporter writing JSON into ``tmp_path``, POSTs one log record as an
OTLP/JSON ``ExportLogsServiceRequest`` to ``/v1/logs``, and reads the record back from
the file: the groundwork for the OTLP transport's tests against a real collector.

A missing binary fails the test rather than skipping it: CI runs ``make deps`` first, so a
missing collector is a broken build step, not an absent optional tool.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow  # starts the collector process

ROOT = Path(__file__).resolve().parents[1]
BUILD_SCRIPT = ROOT / "tools" / "build_otelcol.sh"
START_TIMEOUT = 60.0  # generous: a loaded two-core CI machine
OUTPUT_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0


def _collector_binary() -> Path:
    done = subprocess.run([str(BUILD_SCRIPT), "--print-path"], capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        pytest.fail("the OpenTelemetry Collector is not built: `make deps` builds it "
                    f"(tools/build_otelcol.sh).\n{done.stderr}", pytrace=False)
    return Path(done.stdout.strip().splitlines()[-1])


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


def _log_text(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else "(no log)"


def _records(path: Path) -> list[dict[str, Any]]:
    """Every log record in the file exporter's JSON lines, each with its resource and scope."""
    records: list[dict[str, Any]] = []
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        for resource_logs in json.loads(line).get("resourceLogs", []):
            for scope_logs in resource_logs.get("scopeLogs", []):
                for record in scope_logs.get("logRecords", []):
                    records.append({"resource": resource_logs.get("resource", {}),
                                    "scope": scope_logs.get("scope", {}),
                                    "record": record})
    return records


def _attributes(attributes: list[dict[str, Any]]) -> dict[str, Any]:
    return {attribute["key"]: attribute["value"] for attribute in attributes}


def test_collector_receives_otlp_http_logs_and_writes_them_to_a_file(tmp_path: Path) -> None:
    binary = _collector_binary()
    http_port, grpc_port = _free_port(), _free_port()
    output = tmp_path / "logs.json"
    collector_log = tmp_path / "otelcol.log"
    config = tmp_path / "otelcol.yaml"
    config.write_text(json.dumps({  # JSON is YAML
        "receivers": {"otlp": {"protocols": {
            "http": {"endpoint": f"127.0.0.1:{http_port}"},
            "grpc": {"endpoint": f"127.0.0.1:{grpc_port}"},
        }}},
        "exporters": {"file": {"path": str(output), "format": "json",
                               "flush_interval": "100ms"}},
        "service": {
            # no metrics endpoint (it would take port 8888); its own logs on stderr
            "telemetry": {"metrics": {"level": "none"}, "logs": {"level": "info"}},
            "pipelines": {"logs": {"receivers": ["otlp"], "exporters": ["file"]}},
        },
    }, indent=2))

    body = f"loglayer otelcol smoke {uuid.uuid4()}"
    request = {"resourceLogs": [{
        "resource": {"attributes": [
            {"key": "service.name", "value": {"stringValue": "loglayer-smoke"}}]},
        "scopeLogs": [{
            "scope": {"name": "loglayer.tests"},
            "logRecords": [{
                "timeUnixNano": str(time.time_ns()),
                "severityNumber": 9,
                "severityText": "INFO",
                "body": {"stringValue": body},
                "attributes": [
                    {"key": "user.id", "value": {"stringValue": "u-42"}},
                    {"key": "attempt", "value": {"intValue": "3"}},
                    {"key": "cached", "value": {"boolValue": True}},
                    {"key": "ratio", "value": {"doubleValue": 0.25}},
                ],
            }],
        }],
    }]}

    with collector_log.open("wb") as log_file, subprocess.Popen(
            [str(binary), f"--config={config}"], stdin=subprocess.DEVNULL,
            stdout=log_file, stderr=subprocess.STDOUT) as proc:
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while not (_accepts(http_port) and _accepts(grpc_port)):
                assert proc.poll() is None, (
                    f"the collector exited with {proc.returncode} before listening:\n"
                    f"{_log_text(collector_log)}")
                assert time.monotonic() < deadline, (
                    f"the collector did not listen on 127.0.0.1:{http_port} (HTTP) and "
                    f"127.0.0.1:{grpc_port} (gRPC) within {START_TIMEOUT}s:\n"
                    f"{_log_text(collector_log)}")
                time.sleep(0.1)

            post = urllib.request.Request(
                f"http://127.0.0.1:{http_port}/v1/logs", method="POST",
                data=json.dumps(request).encode(),
                headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(post, timeout=30) as response:
                assert response.status == 200
                answer = json.loads(response.read() or b"{}")
            assert "partialSuccess" not in answer or not answer["partialSuccess"], answer

            deadline = time.monotonic() + OUTPUT_TIMEOUT
            while not (output.exists() and body in output.read_text(errors="replace")):
                assert proc.poll() is None, (
                    f"the collector exited with {proc.returncode}:\n{_log_text(collector_log)}")
                assert time.monotonic() < deadline, (
                    f"{output} did not get the record within {OUTPUT_TIMEOUT}s:\n"
                    f"{_log_text(collector_log)}")
                time.sleep(0.1)
        finally:
            if proc.poll() is None:
                proc.terminate()  # SIGTERM: the collector shuts down gracefully
                try:
                    proc.wait(timeout=STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
    assert proc.returncode == 0, (
        f"the collector exited with {proc.returncode} on SIGTERM:\n{_log_text(collector_log)}")

    (entry,) = [entry for entry in _records(output)
                if entry["record"].get("body") == {"stringValue": body}]
    record = entry["record"]
    assert record["severityText"] == "INFO"
    assert record["severityNumber"] == 9
    assert _attributes(record["attributes"]) == {
        "user.id": {"stringValue": "u-42"},
        "attempt": {"intValue": "3"},  # OTLP/JSON writes 64-bit integers as strings
        "cached": {"boolValue": True},
        "ratio": {"doubleValue": 0.25},
    }
    assert _attributes(entry["resource"]["attributes"])["service.name"] == {
        "stringValue": "loglayer-smoke"}
    assert entry["scope"]["name"] == "loglayer.tests"
