"""Hostile input across every built-in transport and plugin: nothing lost, nothing
leaked, nothing forged.

Hypothesis draws messages, fields, metadata and errors from the hostile shapes of
``test_render_properties`` (unprintable and forging objects, lone surrogates, control
characters, huge and odd numbers, non-str keys, nested containers) and logs one entry
through each transport, alone and behind each plugin set. For every entry:

* the log call returns and no transport failure is reported;
* exactly one entry comes out: one line for line transports (a traceback, when there
  is one, only as indented lines below it), one valid JSON object for JSON lines, one
  record for the stdlib bridge, one call for a blank transport;
* behind ``redact``, a secret planted under a secret key, in a message and in the
  error's text appears nowhere in what was written.

Runs on the live core (``make test`` runs the suite once per core).
"""

from __future__ import annotations

import io
import json
import logging
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loglayer import (
    BlankTransport,
    ConsoleTransport,
    FileTransport,
    LogLayer,
    QueueTransport,
    StructuredTransport,
)
from loglayer._render_py import JsonFormat, render_json
from loglayer.plugins import filter as filter_plugin
from loglayer.plugins import otel_trace, redact, sampling, sprintf
from loglayer.transports import StdlibTransport
from test_render_properties import keys, texts, values

pytestmark = pytest.mark.slow

SECRET = "s3cr3t-4f9a"
SECRET_PATTERN = r"s3cr3t-[0-9a-f]+"


def _raised(text):
    try:
        raise ValueError(text)
    except ValueError as exc:
        return exc


class Collect(logging.Handler):
    """Formats each record it handles, traceback included, and keeps the text."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
        self.records = []
        self.texts = []

    def emit(self, record):
        self.records.append(record)
        self.texts.append(self.format(record))


class Stdlib:
    """StdlibTransport into a logger of its own, with a collecting handler."""

    def __init__(self, name):
        logger = logging.getLogger(f"loglayer.hostile.{name}")
        logger.propagate = False
        logger.setLevel(logging.DEBUG)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        self.handler = Collect()
        logger.addHandler(self.handler)
        self.transport = StdlibTransport(logger)

    def output(self):
        return self.handler.texts


class Lines:
    """A line transport on a text or binary stream."""

    def __init__(self, make, binary):
        self.stream = io.BytesIO() if binary else io.StringIO()
        self.transport = make(self.stream)
        self.binary = binary

    def output(self):
        value = self.stream.getvalue()
        return [value.decode("utf-8")] if self.binary else [value]


class File:
    def __init__(self, path, fmt):
        self.path = path
        self.transport = FileTransport(path, format=fmt)

    def output(self):
        self.transport.flush()
        return [self.path.read_bytes().decode("utf-8")]


class Queued(Lines):
    def __init__(self):
        super().__init__(lambda s: QueueTransport(StructuredTransport(stream=s)), True)

    def output(self):
        assert self.transport.flush(timeout=60)
        return super().output()


class Blank:
    def __init__(self):
        self.calls = []
        self.transport = BlankTransport(self.calls.append)

    def output(self):
        # the entries as the JSON line of each: what a function given them could write
        return [render_json(entry, JsonFormat()).decode("utf-8") for entry in self.calls]


TRANSPORTS = {
    "console": lambda tmp: Lines(lambda s: ConsoleTransport(s, colors=False), False),
    "structured": lambda tmp: Lines(lambda s: StructuredTransport(stream=s), True),
    "file-json": lambda tmp: File(tmp / "out.jsonl", "json"),
    "file-text": lambda tmp: File(tmp / "out.log", "text"),
    "stdlib": lambda tmp: Stdlib(tmp.name),
    "queue": lambda tmp: Queued(),
    "blank": lambda tmp: Blank(),
}
JSON_LINES = {"structured", "file-json", "queue"}

PLUGINS = {
    "none": lambda: [],
    "redact": lambda: [redact(keys=("password",), patterns=(SECRET_PATTERN,))],
    "sprintf+redact": lambda: [sprintf(), redact(keys=("password",),
                                                 patterns=(SECRET_PATTERN,))],
    "filter+sampling+otel": lambda: [filter_plugin(predicate=lambda params: True),
                                     sampling.fixed_rate(1.0, seed=1), otel_trace()],
}

messages = st.lists(st.one_of(values, texts), max_size=3)
fields = st.dictionaries(st.one_of(texts, st.sampled_from(["a", "msg", "err"])), values,
                         max_size=3)
metadata = st.one_of(st.none(), values, st.dictionaries(keys, values, max_size=4))
errors = st.one_of(st.none(), st.builds(ValueError, texts), st.builds(_raised, texts))


def _one_entry(kind, out):
    if kind == "blank":
        assert len(out) == 1
        return
    if kind == "stdlib":
        assert len(out) == 1
        return
    [text] = out
    assert text.endswith("\n")
    lines = text[:-1].split("\n")
    if kind in JSON_LINES:
        assert len(lines) == 1, lines
        assert isinstance(json.loads(lines[0]), dict)
    else:  # one line, then at most an indented traceback
        assert lines[0] and not lines[0].startswith(" "), lines
        assert all(line.startswith("    ") for line in lines[1:]), lines


@pytest.mark.parametrize("plugin_set", list(PLUGINS))
@pytest.mark.parametrize("kind", list(TRANSPORTS))
@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow])
@given(msgs=messages, bound=fields, meta=metadata, error=errors,
       secret_in_error=st.booleans())
def test_one_hostile_entry_comes_out_whole_and_redacted(tmp_path_factory, kind,
                                                        plugin_set, msgs, bound, meta,
                                                        error, secret_in_error):
    tmp = tmp_path_factory.mktemp(kind)
    sink = TRANSPORTS[kind](tmp)
    failures = []
    redacting = "redact" in plugin_set
    log = LogLayer(transports=sink.transport, plugins=PLUGINS[plugin_set](), fields=bound,
                   on_transport_error=failures.append)
    if redacting:
        msgs = [*msgs, f"token {SECRET}"]
        meta = {**meta, "password": f"hunter2-{SECRET}"} if isinstance(meta, dict) else {
            "password": f"hunter2-{SECRET}", "value": meta}
        if secret_in_error:
            error = _raised(f"bad key {SECRET}")
    builder = log.with_metadata(meta)
    if error is not None:
        builder = builder.with_error(error)
    builder.info(*msgs)
    out = sink.output()
    log.close()
    assert failures == []
    _one_entry(kind, out)
    if redacting:
        written = "\n".join(out)
        if kind == "stdlib":
            record = sink.handler.records[0]
            written += repr(record.__dict__)
        assert not re.search(SECRET_PATTERN, written), written
        assert "hunter2" not in written, written


class Unreadable(dict):
    """A dict subclass whose copy raises: with its own ``__iter__``, ``dict()`` reads
    it through ``keys()``, which raises."""

    def __iter__(self):
        raise RuntimeError("no iteration")

    def keys(self):
        raise RuntimeError("no keys")


def test_stdlib_records_survive_metadata_that_cannot_be_copied():
    sink = Stdlib("unreadable")
    failures = []
    log = LogLayer(transports=sink.transport, on_transport_error=failures.append)
    log.with_metadata(Unreadable(a=1)).info("still sent")
    assert failures == [] and len(sink.handler.records) == 1
    assert sink.handler.records[0].getMessage() == "still sent"
