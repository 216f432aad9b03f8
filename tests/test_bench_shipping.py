"""``python -m loglayer.bench --shipping`` with tiny counts: every figure is produced and
the receiver counted every record each pipeline sent (the syslog pairs at a real
rsyslogd, which ``make deps`` installs); the receiver counts only records that carry
the message and the fields. Timings belong to the benchmark, never to a test."""

from __future__ import annotations

import gzip
import json
import socket
import urllib.request

import pytest

pytest.importorskip("urllib3")
pytest.importorskip("opentelemetry.proto")
pytest.importorskip("opentelemetry.sdk._logs")
pytest.importorskip("opentelemetry.exporter.otlp.proto.http._log_exporter")

from loglayer.bench._runner import main  # noqa: E402
from loglayer.bench._scenarios import FIELDS, MESSAGE  # noqa: E402
from loglayer.bench._shipping import (  # noqa: E402
    DEVLOG,
    FORM,
    FORM_PATH,
    JOURNAL,
    NDJSON,
    NDJSON_PATH,
    OTLP,
    OTLP_PATH,
    PIPELINES,
    SYSLOG_TCP,
    SYSLOG_TCP_STDLIB,
    Receiver,
)

_PAIRS = ("OTLP", "HTTP ndjson", "syslog over UDP", "syslog over TCP", "syslog over RELP",
          "journald queued", "journald at the call")
_FIGURES = [
    f"{what}, {pair}{detail}"
    for pair in _PAIRS
    for what, detail in (
        ("caller cost per log call", " (logging thread's CPU)"),
        ("caller cost per log call", " (wall time of the burst)"),
        ("delivered records/s",
         ", acknowledged" if pair == "syslog over RELP" else ", after flush"),
        ("memory per buffered entry", ""))
    if what != "memory per buffered entry" or pair in ("OTLP", "HTTP ndjson")
]


# The stdlib's HTTPHandler opens a connection per record and leaves it for the
# garbage collector to close, which warns under pytest; that is the peer as shipped.
@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_the_suite_produces_every_figure_and_delivers_every_record(tmp_path, capsys):
    status = main(["--shipping", "--scenarios", "none", "--shipping-calls", "30",
                   "--shipping-rounds", "2", "--shipping-buffered", "25", "--no-png",
                   "--output", str(tmp_path)])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "| figure | loglayer | peer | ratio | target |" in out
    assert "⚠" not in out
    rows = {line.split(" | ")[0].lstrip("| "): line for line in out.splitlines()
            if line.startswith("| ") and " | " in line}
    for title in _FIGURES:
        cells = [cell.strip() for cell in rows[title].strip("|").split("|")]
        assert cells[1] != "—", rows[title]
        if "RELP" not in title:  # RELP has no stdlib peer: loglayer's figure only
            assert cells[2] != "—" and cells[3].endswith("x"), rows[title]
    for title in ("caller cost per log call, OTLP (logging thread's CPU)",
                  "caller cost per log call, HTTP ndjson (logging thread's CPU)",
                  "caller cost per log call, syslog over TCP (logging thread's CPU)"):
        assert "≤ 0.2x" in rows[title]
    assert "≤ 0.3x" in rows["caller cost per log call, journald queued (logging thread's CPU)"]
    assert "≥ 2x" in rows["delivered records/s, OTLP, after flush"]
    assert "≥ 3x" in rows["delivered records/s, syslog over TCP, after flush"]

    report = json.loads((tmp_path / "latest.json").read_text(encoding="utf-8"))
    shipping = report["shipping"]
    assert report["scenarios"] == []
    assert [f["figure"] for f in shipping["figures"]] == _FIGURES
    assert len(shipping["pipelines"]) == len(PIPELINES) == 12
    for pipeline, spec in zip(shipping["pipelines"], PIPELINES, strict=True):
        assert pipeline["skipped"] is None and pipeline["problem"] is None, pipeline
        # the warm-up (30), two bursts of 30, and for a buffered pipeline the memory's
        # 1 + 25
        assert pipeline["expected"] == 30 + 2 * 30 + (26 if spec.memory else 0)
        assert pipeline["counted"] == pipeline["expected"], pipeline["name"]
        assert len(pipeline["caller_cpu_ns"]) == len(pipeline["delivered_per_s"]) == 2
        assert (pipeline["memory_bytes_per_entry"] or 0) > 0 or not spec.memory


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()
        return int(response.status)


def test_the_receiver_counts_only_records_with_the_message_and_fields():
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
        ExportLogsServiceRequest,
    )

    request = ExportLogsServiceRequest()
    records = request.resource_logs.add().scope_logs.add().log_records
    for body, keys in ((MESSAGE, FIELDS), (MESSAGE, ["user"]), ("other", FIELDS)):
        record = records.add()
        record.body.string_value = body
        for key in keys:
            record.attributes.add(key=key).value.string_value = "x"
    full = json.dumps({"msg": MESSAGE, **FIELDS})
    ndjson = "\n".join([full, full, json.dumps({"msg": MESSAGE})]).encode()
    with Receiver(syslog=False) as receiver:
        assert _post(receiver.url + OTLP_PATH, request.SerializeToString(),
                     {"Content-Type": "application/x-protobuf"}) == 200
        assert _post(receiver.url + NDJSON_PATH, gzip.compress(ndjson),
                     {"Content-Encoding": "gzip"}) == 200
        form = f"msg={MESSAGE}&user={FIELDS['user']}".replace(" ", "+").encode()
        assert _post(receiver.url + FORM_PATH, form, {}) == 200
        assert _post(receiver.url + FORM_PATH, b"msg=other", {}) == 200
        assert _post(receiver.url + "/anything", b"", {}) == 200
        assert receiver.wait_for(FORM, 1, 10)
        assert [receiver.count(kind) for kind in (OTLP, NDJSON, FORM)] == [1, 2, 1]
        fields = " ".join(f"{key.upper()}=x" for key in FIELDS)
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            for path in (receiver.journal_socket, receiver.devlog_socket):
                sock.sendto(f"MESSAGE={MESSAGE} USER=x".encode(), path)  # fields missing
                sock.sendto(f"MESSAGE=other {fields}".encode(), path)
                sock.sendto(f"MESSAGE={MESSAGE} {fields}".encode(), path)
        assert receiver.wait_for(JOURNAL, 1, 10) and receiver.wait_for(DEVLOG, 1, 10)
        assert [receiver.count(kind) for kind in (JOURNAL, DEVLOG)] == [1, 1]


def test_rsyslogd_records_are_counted_per_input_when_they_hold_the_message():
    with Receiver() as receiver:
        assert receiver.rsyslog is not None, receiver.rsyslog_missing
        frames = b"".join(b"%d %s" % (len(m), m) for m in (
            b"<14>1 - h a - - - " + MESSAGE.encode(), b"<14>1 - h a - - - other",
            b"<14>1 - h a - - - " + MESSAGE.encode() + b" again"))
        with socket.create_connection(receiver.rsyslog.address("tcp_ours")) as sock:
            sock.sendall(frames)
        with socket.create_connection(receiver.rsyslog.address("tcp_stdlib")) as sock:
            sock.sendall(b"<14>bench: " + MESSAGE.encode() + b" user=alice\0")
        assert receiver.wait_for(SYSLOG_TCP, 2, 30)
        assert receiver.wait_for(SYSLOG_TCP_STDLIB, 1, 30)
        assert (receiver.count(SYSLOG_TCP), receiver.count(SYSLOG_TCP_STDLIB)) == (2, 1)
