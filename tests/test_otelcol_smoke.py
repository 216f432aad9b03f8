"""The OpenTelemetry Collector that ``make deps`` builds receives OTLP logs and writes them.

``tools/build_otelcol.sh`` builds a minimal collector (tools/otelcol: the OTLP receiver,
the file and debug exporters) into a cache outside the clone; ``--print-path`` finds it
without building. This test runs it on loopback with the OTLP receiver on HTTP and gRPC
and the file exporter writing JSON into ``tmp_path`` (``tests/_otelcol.py``), POSTs one
log record as an OTLP/JSON ``ExportLogsServiceRequest`` to ``/v1/logs``, and reads the
record back from the file: the groundwork for the OTLP transport's tests against a real
collector (``test_otlp_transport.py``).

A missing binary fails the test rather than skipping it: CI runs ``make deps`` first, so a
missing collector is a broken build step, not an absent optional tool.
"""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from _otelcol import Collector, attributes

pytestmark = pytest.mark.slow  # starts the collector process


def test_collector_receives_otlp_http_logs_and_writes_them_to_a_file(tmp_path: Path) -> None:
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

    with Collector(tmp_path) as collector:
        post = urllib.request.Request(
            collector.http_url, method="POST", data=json.dumps(request).encode(),
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(post, timeout=30) as response:
            assert response.status == 200
            answer = json.loads(response.read() or b"{}")
        assert "partialSuccess" not in answer or not answer["partialSuccess"], answer
        collector.wait_for_records(
            1, match=lambda entry: entry["record"].get("body") == {"stringValue": body})
        collector.stop()  # SIGTERM: fails unless the collector exits with status 0

    (entry,) = [entry for entry in collector.records()
                if entry["record"].get("body") == {"stringValue": body}]
    record = entry["record"]
    assert record["severityText"] == "INFO"
    assert record["severityNumber"] == 9
    assert attributes(record["attributes"]) == {
        "user.id": {"stringValue": "u-42"},
        "attempt": {"intValue": "3"},  # OTLP/JSON writes 64-bit integers as strings
        "cached": {"boolValue": True},
        "ratio": {"doubleValue": 0.25},
    }
    assert attributes(entry["resource"]["attributes"])["service.name"] == {
        "stringValue": "loglayer-smoke"}
    assert entry["scope"]["name"] == "loglayer.tests"
