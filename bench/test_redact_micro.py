"""Micro benchmark of the ``redact`` plugin on the S3 emission (issue 5).

S3: one INFO entry with a small nested metadata dict, rendered as JSON (epoch time)
to a stream that discards the bytes. Three variants, on whichever core is live:
without redact (the reference), with ``redact`` and nothing to redact, and with one
key to redact. The issue's targets: at most +15% with no match, at most 2x with one
match. Nothing here asserts a timing; read the medians and their ratios.

    PYTHONPATH=src .venv/bin/python -m pytest bench/test_redact_micro.py -q -p no:cacheprovider
"""

from __future__ import annotations

import io

import pytest

import loglayer
from loglayer.plugins import redact

S3_METADATA = {"user": "alice", "attempts": 3, "latency_ms": 12.5, "admin": False,
               "req": {"id": "r-1f3a", "path": "/login"}}
S3_WITH_SECRET = {**S3_METADATA, "password": "x"}


class NullStream(io.RawIOBase):
    """A binary stream that accepts and drops every write."""

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        return len(data)


def _logger(*plugins) -> loglayer.LogLayer:
    transport = loglayer.StructuredTransport(stream=NullStream(), time_format="epoch")
    return loglayer.LogLayer(transports=transport, plugins=plugins)


def _emit(log: loglayer.LogLayer, metadata: dict):
    def s3() -> None:
        log.with_metadata(metadata).info("user logged in")

    return s3


@pytest.mark.benchmark(group="redact-s3")
def test_s3_without_redact(benchmark):
    benchmark(_emit(_logger(), S3_METADATA))


@pytest.mark.benchmark(group="redact-s3")
def test_s3_redact_nothing_to_redact(benchmark):
    benchmark(_emit(_logger(redact(keys=("password", "token", "secret"))), S3_METADATA))


@pytest.mark.benchmark(group="redact-s3")
def test_s3_redact_one_match(benchmark):
    benchmark(_emit(_logger(redact(keys=("password", "token", "secret"))), S3_WITH_SECRET))
