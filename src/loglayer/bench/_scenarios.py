"""The scenarios of the benchmark, the types shared with the peers, and loglayer's setups.

A *setup* is a function ``setup(scenario_id, sink, binary_sink) -> Case``: it builds a
logger that writes into the given sink and returns the one statement the harness times,
as source text plus the names that statement uses. The statement is source text (not a
callable) so that the harness can paste it straight into the body of its timing loop, as
``timeit`` does: no extra Python call per iteration is added to any library's figure,
and the figure is the cost of exactly the line a user would write.

Every library builds its per-call arguments (the metadata dict, the keyword arguments)
inside the statement, as a user's call site does, from the same values defined here.
"""

from __future__ import annotations

import importlib
import io
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .._native import NO_EXTENSIONS

__all__ = [
    "BOUND",
    "CALL_FIELDS",
    "FIELDS",
    "MESSAGE",
    "SCENARIOS",
    "Case",
    "LOGLAYER_ONLY",
    "Library",
    "LogFile",
    "QUEUE_BATCH",
    "Scenario",
    "Setup",
    "Unavailable",
    "case_id",
    "check_output",
    "kwargs_source",
    "literal_source",
    "loglayer_libraries",
    "queue_case",
    "raise_through_frames",
    "s5_statement",
    "yours_library",
]

#: The message of every enabled entry except S5's.
MESSAGE = "user logged in"
#: S3's five fields: a str, an int, a float, a bool and a two-key dict.
FIELDS: dict[str, Any] = {
    "user": "alice",
    "attempts": 3,
    "latency_ms": 12.5,
    "admin": False,
    "req": {"id": "r-1f3a", "path": "/login"},
}
#: S9's fields: S3's, plus one that ``redact`` censors.
SECRET_FIELDS: dict[str, Any] = {**FIELDS, "password": "hunter2"}
#: The keys S8 and S9's ``redact`` censors.
REDACTED_KEYS = ("password", "token", "secret")
#: S4's three fields bound to the logger once, at setup.
BOUND: dict[str, Any] = {"service": "auth", "version": 2, "region": "eu-west-1"}
#: S4's one field added per call.
CALL_FIELDS: dict[str, Any] = {"attempt": 3}
#: S5's exception message, and the frames it is raised through.
ERROR_TEXT = "bad input: 42"
ERROR_FRAMES = ("_raise_level1", "_raise_level2", "_raise_level3")
#: S6b's data hook adds this field to every entry.
ADDED_FIELD: dict[str, Any] = {"service": "auth"}
#: S13's most calls per timed batch: ``QueueTransport``'s default ``max_size``, so that a
#: batch fits in loglayer's queue, and every queue holds at most this many entries.
QUEUE_BATCH = 10_000


def literal_source(values: dict[str, Any]) -> str:
    """Python source of a dict display holding ``values``, e.g. ``{'a': 1}``."""
    return repr(values)


def kwargs_source(values: dict[str, Any]) -> str:
    """Python source of keyword arguments holding ``values``, e.g. ``a=1, b='x'``."""
    return ", ".join(f"{key}={value!r}" for key, value in values.items())


def _raise_level3() -> None:
    raise ValueError(ERROR_TEXT)


def _raise_level2() -> None:
    _raise_level3()


def _raise_level1() -> None:
    _raise_level2()


#: Raise ``ValueError`` three frames down (``_raise_level1`` -> ``2`` -> ``3``), so that
#: every S5 traceback has some depth to format.
raise_through_frames = _raise_level1


def s5_statement(handler: str, *, bind: bool = True) -> str:
    """S5's statement: raise through three frames and log inside the ``except`` block.

    ``handler`` is the library's logging line; with ``bind`` the exception is bound as
    ``exc`` (for APIs that take it), otherwise the library reads it from
    ``sys.exc_info()`` itself (``logger.exception``). The raise is part of every
    library's figure alike.
    """
    clause = "except ValueError as exc:" if bind else "except ValueError:"
    return f"try:\n    raise_through_frames()\n{clause}\n    {handler}"


# ---------------------------------------------------------------------------------------
# Shared types


class Unavailable(Exception):
    """A library cannot run a scenario (not installed, no such API, not applicable).

    The message is shown as the skip note under the scenario's table.
    """


@dataclass
class Case:
    """One library's statement in one scenario, ready to be timed.

    ``stmt`` is Python source (one or more lines) run once per iteration; the keys of
    ``namespace`` are the names it uses. ``note`` is shown under the table, and
    ``teardown`` undoes what the setup installed (handlers on global loggers).

    The optional hooks serve the scenarios whose entries do not simply land in the sink:

    * ``finish`` runs once at the end of every batch, inside the timing (S12: the final
      flush, so an end-to-end figure includes what a buffered writer still holds);
    * ``settle`` runs after every batch, outside the timing (S12 empties the file, S13
      drains the queue), so that what a batch leaves behind neither grows without bound
      nor is charged to the next contender;
    * ``max_n`` caps the iterations of one batch (S13: what one queue may hold);
    * ``output`` returns what one run of the statement wrote, for the output check, when
      that is not simply what the sink received (S12 reads its file, S13 drains first).
    """

    stmt: str
    namespace: dict[str, Any]
    note: str = ""
    teardown: Callable[[], None] | None = None
    finish: Callable[[], None] | None = None
    settle: Callable[[], None] | None = None
    max_n: int | None = None
    output: Callable[[], str] | None = None


#: ``setup(scenario_id, sink, binary_sink) -> Case``; raises ``Unavailable`` to skip.
Setup = Callable[[str, Any, Any], Case]


@dataclass(frozen=True)
class Library:
    """A contender: its display name, its ``--libraries`` key, and how to set it up.

    ``peer`` marks the libraries that are not loglayer; the best peer of a scenario is
    the fastest of them. ``version`` returns a version string, or raises ``Unavailable``.
    ``only``, when set, are the scenarios the library runs in (it is left out of the
    others without a note); ``reference_for`` is the key of the library whose plugin
    cost this one measures the baseline of.
    """

    name: str
    key: str
    peer: bool
    setup: Setup
    version: Callable[[], str]
    check: bool = True
    only: frozenset[str] | None = None
    reference_for: str | None = None


@dataclass(frozen=True)
class Scenario:
    """A scenario: its id, the table title, and what its rendered output must contain.

    ``case_of`` names the scenario whose case the setups build for it (S11 runs S3's
    case; see ``case_id``), and ``threads`` how many threads run the statement at once.
    ``uncounted`` says why ``--instructions`` leaves it out (empty: it is counted).
    """

    id: str
    title: str
    kind: str  # "disabled", "text", "callsite", "json", "error" or "create"
    expect: dict[str, Any] = field(default_factory=dict)
    note: str = ""
    case_of: str = ""
    threads: int = 1
    uncounted: str = ""


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("S1", "S1: disabled `debug()` while the level is INFO", "disabled"),
    Scenario("S2", f"S2: plain text line (`info({MESSAGE!r})`)", "text"),
    Scenario(
        "S14",
        "S14: S2 with the call site (file, line, function) in the line: loglayer "
        "`source=True`, structlog `CallsiteParameterAdder`, stdlib "
        "`%(pathname)s:%(lineno)d %(funcName)s`, loguru `{file.path}:{line} {function}`",
        "callsite",
        note="the capture's own cost is this row minus the library's S2 row; the stdlib "
             "and loguru find the caller on every call, S2 included, so for them S14 "
             "adds only the formatting of the three values",
    ),
    Scenario(
        "S3",
        "S3: `info` with 5 fields (str, int, float, bool, 2-key dict) rendered as JSON",
        "json",
        FIELDS,
    ),
    Scenario(
        "S4",
        "S4: logger bound with 3 fields, plus 1 field per call, rendered as JSON",
        "json",
        {**BOUND, **CALL_FIELDS},
    ),
    Scenario(
        "S5",
        "S5: `error` with an exception and its traceback, in the `except` block "
        "(raised through 3 frames; the raise is timed too), rendered as JSON",
        "error",
        note="every iteration raises from the same place, so a library that caches "
             "rendered frames per code location is served from its cache; the peers "
             "format the traceback from scratch each time",
    ),
    Scenario(
        "S6",
        "S6: S3 through 5 plugins (4 without hooks + 1 data hook that returns None, "
        "i.e. no change); loglayer only",
        "json",
        FIELDS,
    ),
    Scenario(
        "S6b",
        f"S6b: S3 through 1 data hook that adds a field (returns `{ADDED_FIELD!r}`); "
        "loglayer only",
        "json",
        {**FIELDS, **ADDED_FIELD},
        note="target: 1.3x the time of the no-plugin row",
    ),
    Scenario(
        "S8",
        f"S8: S3 through `redact(keys={REDACTED_KEYS!r})`, with nothing to redact; "
        "loglayer only",
        "json",
        FIELDS,
    ),
    Scenario(
        "S9",
        "S9: S3 plus a `password` field, through the same `redact`: one value censored; "
        "loglayer only",
        "json",
        {**FIELDS, "password": "[REDACTED]"},
        note="the no-plugin row runs S3's statement, as the target is stated against S3; "
             "this row's statement builds and renders one field more",
    ),
    Scenario(
        "S10",
        "S10: S3 through a sampler that draws for every entry "
        "(`sampling.fixed_rate(0.9999, seed=1)`); loglayer only",
        "json",
        FIELDS,
    ),
    Scenario(
        "S15",
        "S15: S3 from a logger tagged `with_group(\"db\")`, routed by "
        "`groups={\"db\": {\"transports\": [its transport]}}`; loglayer only",
        "json",
        FIELDS,
        note="the routing's cost is this row over the no-plugin row (S3's statement on a "
             "logger without groups, which does no routing work at all)",
    ),
    Scenario("S7a", "S7a: derived logger with one field (`with_fields(a=1)` / `bind(a=1)`)",
             "create"),
    Scenario("S7b", "S7b: derived logger with nothing added (`child()` / `bind()`)",
             "create"),
    Scenario(
        "S11",
        "S11: S3 from 2 threads at once on one logger; time per entry = wall time of both "
        "threads / entries of both (ops/s = their aggregate entries/s)",
        "json",
        FIELDS,
        note="both threads run S3's statement on the same logger and sink, released together "
             "at each batch; under CPython's GIL one thread runs at a time, so this is S3 "
             "plus what contention costs (GIL hand-offs, the handlers' locks), not a "
             "parallel speed-up",
        case_of="S3",
        threads=2,
        uncounted="valgrind runs one thread at a time, so the contention S11 measures does "
                  "not happen under it",
    ),
    Scenario(
        "S12",
        "S12: S3's entry end to end into a file, with each library's own file handler "
        "(each batch ends with a flush, timed)",
        "json",
        FIELDS,
        note="each library writes into a file of its own in a fresh temporary directory "
             "(removed afterwards); the file is emptied between batches, outside the "
             "timing; the check reads the file's first line",
    ),
    Scenario(
        "S13",
        "S13: S3's entry through a queue, rendered by a worker thread: the caller's time "
        "per log call",
        "json",
        FIELDS,
        note=f"what is measured is the logging thread's time per call, as for S3; the JSON "
             f"rendering into the null sink happens on each library's worker thread. The "
             f"workers run during the batch and share the GIL, so their share of the CPU "
             f"while the caller logs lands in the caller's figure, as in a real program. A "
             f"batch is at most {QUEUE_BATCH:,} calls, and every queue is drained after each "
             f"batch, outside the timing: memory stays bounded, nothing is dropped (a drop "
             f"fails the row), and no backlog is charged to the next contender",
        uncounted="the worker thread's share would be counted too, in amounts that depend "
                  "on when it drains",
    ),
)


def case_id(sid: str) -> str:
    """The scenario whose case a setup builds for ``sid`` (S3 for S11, else ``sid``).

    Setups are asked for the scenario itself, so that one that cannot run it (a
    library that deadlocks with two threads) can say so, and map it with this first.
    """
    return next((s.case_of for s in SCENARIOS if s.id == sid and s.case_of), sid)


#: Scenarios of loglayer's plugin pipeline, which the peers have no counterpart for; each
#: is reported as its cost over loglayer's S3 in the same run.
LOGLAYER_ONLY = frozenset({"S6", "S6b", "S8", "S9", "S10", "S15"})


# ---------------------------------------------------------------------------------------
# Checking what a setup rendered


def _contains(doc: Any, key: str, value: Any) -> bool:
    """Whether ``key: value`` (same type and value) occurs anywhere in a JSON document."""
    if isinstance(doc, dict):
        if key in doc and type(doc[key]) is type(value) and doc[key] == value:
            return True
        return any(_contains(v, key, value) for v in doc.values())
    if isinstance(doc, list):
        return any(_contains(v, key, value) for v in doc)
    return False


def _strings(doc: Any) -> str:
    """Every string in a JSON document, joined, for substring checks."""
    if isinstance(doc, str):
        return doc
    if isinstance(doc, dict):
        return "\n".join(_strings(v) for v in doc.values())
    if isinstance(doc, list):
        return "\n".join(_strings(v) for v in doc)
    return ""


#: What S14's line must show of the call site: the harness compiles each statement into
#: a function ``batch`` of a file named ``<bench: statement>`` (see ``compile_case``).
CALLSITE_FILE = "<bench: "
CALLSITE_FUNCTION = "batch"


def check_output(scenario: Scenario, text: str) -> str | None:
    """Check one statement's rendered output; return ``None`` if fine, else the problem.

    The checks make sure that every contender really renders what the scenario says (a
    setup that silently dropped the fields would otherwise win): S1 writes nothing; S2
    writes one line holding the message; JSON scenarios write one JSON document holding
    the message and every expected field with its type; S5 writes one JSON document
    holding the exception's message and the three frames it was raised through.
    """
    if scenario.kind == "disabled":
        return None if text == "" else f"a disabled call wrote {len(text)} chars"
    if scenario.kind == "create":
        return None
    if not text.strip():
        return "nothing was written"
    if scenario.kind in ("text", "callsite"):
        if MESSAGE not in text:
            return "the message is missing"
        if text.strip().count("\n"):
            return "more than one line was written"
        if scenario.kind == "callsite" and not (CALLSITE_FILE in text
                                                and CALLSITE_FUNCTION in text):
            return (f"the call site is missing: no {CALLSITE_FILE!r} (file) and "
                    f"{CALLSITE_FUNCTION!r} (function)")
        return None
    lines = text.strip().splitlines()
    if len(lines) != 1:
        return f"{len(lines)} lines were written, expected one JSON document"
    try:
        doc = json.loads(lines[0])
    except ValueError as exc:
        return f"not JSON ({exc})"
    strings = _strings(doc)
    if scenario.kind == "error":
        missing = [s for s in (ERROR_TEXT, *ERROR_FRAMES) if s not in strings]
        if missing:
            return "the traceback is incomplete: missing " + ", ".join(missing)
        return None
    if MESSAGE not in strings:
        return "the message is missing"
    missing = [k for k, v in scenario.expect.items() if not _contains(doc, k, v)]
    if missing:
        return "fields missing or mistyped: " + ", ".join(missing)
    return None


# ---------------------------------------------------------------------------------------
# Files (S12) and queues (S13), the same for every library


class LogFile:
    """S12's log file, ``bench.log`` in a fresh temporary directory of its own."""

    def __init__(self, library: str) -> None:
        self.directory = tempfile.mkdtemp(prefix=f"loglayer-bench-{library}-")
        self.path = os.path.join(self.directory, "bench.log")

    def read(self) -> str:
        """What the file holds (nothing if it was never created)."""
        try:
            with open(self.path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def empty(self) -> None:
        """Cut the file to nothing; every library appends, so its next line goes first."""
        if os.path.exists(self.path):
            os.truncate(self.path, 0)

    def case(self, stmt: str, namespace: dict[str, Any], note: str, close: Callable[[], None],
             flush: Callable[[], None] | None = None) -> Case:
        """S12's case: ``flush`` ends every batch (timed), the file is emptied between
        batches, and ``close`` then the directory's removal are the teardown."""

        def teardown() -> None:
            try:
                close()
            finally:
                shutil.rmtree(self.directory, ignore_errors=True)

        return Case(stmt, namespace, note, teardown, finish=flush, settle=self.empty,
                    output=self.read)


def queue_case(stmt: str, namespace: dict[str, Any], note: str, sink: Any,
               drain: Callable[[], None], close: Callable[[], None]) -> Case:
    """S13's case: batches of at most ``QUEUE_BATCH`` calls, ``drain`` (wait until the
    worker has written every queued entry) after each, and ``close`` as the teardown.
    Its output is the sink's text once drained (the sink is the capturing one then)."""

    def output() -> str:
        drain()
        return str(sink.text)

    return Case(stmt, namespace, note, close, settle=drain, max_n=QUEUE_BATCH, output=output)


# ---------------------------------------------------------------------------------------
# loglayer


def _loglayer_version() -> str:
    """loglayer's version (installed distribution, else ``__version__``)."""
    try:
        from importlib.metadata import PackageNotFoundError, version

        return version("loglayer")
    except (ImportError, PackageNotFoundError):
        pass
    try:
        import loglayer

        return str(getattr(loglayer, "__version__", "source tree"))
    except Exception as exc:  # the package may be mid-edit: report, do not crash
        raise Unavailable(f"cannot import loglayer: {exc!r}") from exc


def _import_loglayer(*names: str) -> Any:
    """The ``loglayer`` package, checked to export ``names``, or ``Unavailable``.

    Only the names a scenario uses are required, so a scenario runs as soon as what it
    needs exists.
    """
    try:
        import loglayer
    except Exception as exc:  # ImportError, or a package init that is mid-edit
        raise Unavailable(f"cannot import loglayer: {exc!r}") from exc
    missing = [name for name in names if not hasattr(loglayer, name)]
    if missing:
        raise Unavailable(f"loglayer does not export {', '.join(missing)}")
    return loglayer


def _load_core(variant: str) -> tuple[Any, Any]:
    """The requested kernel and render modules, imported directly so both variants run
    in one process.

    The package picks one pair at import (``LOGLAYER_NO_EXTENSIONS``); the benchmark
    wants both side by side, so it imports ``loglayer._core`` and ``loglayer._render``
    (Cython) or ``loglayer._core_py`` and ``loglayer._render_py`` (the pure twins).
    """
    names = (("loglayer._core", "loglayer._render") if variant == "compiled"
             else ("loglayer._core_py", "loglayer._render_py"))
    try:
        return tuple(importlib.import_module(name) for name in names)  # type: ignore[return-value]
    except ImportError as exc:
        hint = " (extension not built?)" if variant == "compiled" else ""
        raise Unavailable(f"cannot import {' and '.join(names)}{hint}: {exc}") from exc


def _transports(render: Any, ll: Any) -> tuple[Any, Any]:
    """(console factory, structured factory) for the ``render`` module of one variant.

    The public ConsoleTransport and StructuredTransport are LineTransports of the render
    module the package selected. For the other variant the benchmark builds the same
    thing from that module's own LineTransport and formats: ``StructuredTransport(
    stream=s, time_format="epoch")`` is ``LineTransport(JsonFormat(time_format="epoch"),
    s)``.
    """
    if issubclass(ll.StructuredTransport, render.LineTransport):
        return (lambda sink: ll.ConsoleTransport(stream=sink, colors=False, show_time=False),
                lambda sink: ll.StructuredTransport(stream=sink, time_format="epoch"))
    return (lambda sink: render.LineTransport(render.ConsoleFormat(False, False), sink,
                                              default_stream="stderr"),
            lambda sink: render.LineTransport(
                render.JsonFormat(time_format="epoch"), sink,
                binary=isinstance(sink, (io.RawIOBase, io.BufferedIOBase))))


def _data_hook_no_change(params: Any) -> None:
    """S6's data hook: it runs on every entry and asks for no change."""
    return None


def _data_hook_add_service(params: Any) -> dict[str, Any]:
    """S6b's data hook, the common "add a field" plugin: ``service`` on every entry."""
    return {"service": "auth"}


def _loglayer_setup(variant: str) -> Setup:
    """The setup of loglayer with the ``compiled`` or ``pure`` core."""

    def setup(sid: str, sink: Any, binary_sink: Any) -> Case:
        sid = case_id(sid)
        if sid in ("S1", "S2", "S7a", "S7b", "S14"):
            ll = _import_loglayer("LogLevel", "ConsoleTransport")
        elif sid in ("S6", "S6b"):
            ll = _import_loglayer("StructuredTransport", "noop_plugin", "data_hook")
        elif sid in LOGLAYER_ONLY:
            if sid not in _BOTH_CORES and variant != _PLUGINS_VARIANT:
                raise Unavailable(_MIXED_CORES[variant])
            ll = _import_loglayer("StructuredTransport")
        elif sid == "S12":
            ll = _import_loglayer("FileTransport")
        elif sid == "S13":
            ll = _import_loglayer("StructuredTransport", "QueueTransport")
        else:
            ll = _import_loglayer("StructuredTransport")
        core, render = _load_core(variant)
        LogLayer = core.LogLayer
        s3 = f"log.with_metadata({literal_source(FIELDS)}).info({MESSAGE!r})"
        if sid == "S12":
            # The variant's own renderer, as for its StructuredTransport; with the live
            # core this is what format="json", time_format="epoch" builds.
            file = LogFile("loglayer")
            transport = ll.FileTransport(file.path,
                                         format=render.JsonFormat(time_format="epoch"))
            return file.case(s3, {"log": LogLayer(transports=transport)},
                             'FileTransport(path, format=JsonFormat(time_format="epoch")): '
                             "one os.write per entry, nothing buffered", transport.close)
        console, structured = _transports(render, ll)
        if sid == "S13":
            queue = ll.QueueTransport(structured(binary_sink))

            def drain() -> None:
                queue.flush()
                if queue.dropped:
                    raise RuntimeError(f"QueueTransport dropped {queue.dropped} entries")

            return queue_case(s3, {"log": LogLayer(transports=queue)},
                              'QueueTransport(StructuredTransport(binary stream, '
                              'time_format="epoch")), its defaults (deque, max_size 10,000)',
                              sink, drain, queue.close)
        if sid in ("S7a", "S7b"):
            # Creation touches no transport; the console one is the plainest.
            log = LogLayer(transports=console(sink), level=ll.LogLevel.INFO)
            return Case("log.with_fields(a=1)" if sid == "S7a" else "log.child()",
                        {"log": log})
        if sid == "S14":
            log = LogLayer(transports=console(sink), level=ll.LogLevel.INFO, source=True)
            return Case(f"log.info({MESSAGE!r})", {"log": log},
                        "ConsoleTransport(colors=False, show_time=False); source=True")
        if sid in ("S1", "S2"):
            log = LogLayer(transports=console(sink), level=ll.LogLevel.INFO)
            method = "debug" if sid == "S1" else "info"
            return Case(f"log.{method}({MESSAGE!r})", {"log": log},
                        "ConsoleTransport(colors=False, show_time=False)")
        # JSON lines are bytes: like structlog's BytesLogger, the transport gets the
        # binary null sink, as StructuredTransport(sys.stdout.buffer) would in real use.
        log = LogLayer(transports=structured(binary_sink))
        note = 'StructuredTransport(binary stream, time_format="epoch")'
        if sid == "S3":
            return Case(s3, {"log": log}, note)
        if sid == "S4":
            bound = log.with_fields(dict(BOUND))
            return Case(
                f"log.with_metadata({literal_source(CALL_FIELDS)}).info({MESSAGE!r})",
                {"log": bound}, note + "; fields bound once with with_fields({3 keys})")
        if sid == "S5":
            return Case(s5_statement('log.with_error(exc).error("failed")'),
                        {"log": log, "raise_through_frames": raise_through_frames}, note)
        if sid == "S6":
            log.add_plugin(
                ll.noop_plugin("n1"), ll.noop_plugin("n2"), ll.noop_plugin("n3"),
                ll.noop_plugin("n4"), ll.data_hook("d", _data_hook_no_change),
            )
            return Case(s3, {"log": log}, note + "; noop_plugin x4 + data_hook returning None")
        if sid == "S6b":
            log.add_plugin(ll.data_hook("service", _data_hook_add_service))
            return Case(s3, {"log": log},
                        note + f"; data_hook returning {ADDED_FIELD!r} (a new dict per call)")
        if sid in ("S8", "S9"):
            from loglayer.plugins import redact

            log.add_plugin(redact(keys=REDACTED_KEYS))
            fields = FIELDS if sid == "S8" else SECRET_FIELDS
            return Case(f"log.with_metadata({literal_source(fields)}).info({MESSAGE!r})",
                        {"log": log}, note + f"; redact(keys={REDACTED_KEYS!r})")
        if sid == "S15":
            target = structured(binary_sink)
            routed = LogLayer(transports=target, groups={"db": {"transports": [target.id]}},
                              ungrouped="none").with_group("db")
            return Case(s3, {"log": routed}, note + '; groups={"db": ...}, with_group("db")')
        if sid == "S10":
            from loglayer.plugins import sampling

            log.add_plugin(sampling.fixed_rate(0.9999, seed=1))
            return Case(s3, {"log": log}, note + "; sampling.fixed_rate(0.9999, seed=1)")
        raise Unavailable(f"no loglayer setup for {sid}")

    return setup


#: The plugin scenarios both cores run in: S6's and S6b's plugins are plain Python.
_BOTH_CORES = frozenset({"S6", "S6b", "S15"})
#: Which core the built-in plugins match in this process: their fast paths (redact's
#: walk, the samplers' gates) are chosen once per process, like the package's core, so
#: S8-S10 run only with the core they match; the other row would mix the two.
_PLUGINS_VARIANT = "pure" if NO_EXTENSIONS else "compiled"
_MIXED_CORES = {
    "pure": "the plugins use their compiled fast paths in this process; run with "
            "LOGLAYER_NO_EXTENSIONS=1 for the pure figures",
    "compiled": "LOGLAYER_NO_EXTENSIONS is set, so the plugins are pure in this process",
}


def _reference_setup(variant: str) -> Setup:
    """The baseline of a plugin scenario: the same logger and statement as S3, with no
    plugin, timed in the same interleaved rounds as the plugin row, so the plugins' cost
    is read against a reference measured alongside it, not minutes apart."""
    setup = _loglayer_setup(variant)

    def reference(sid: str, sink: Any, binary_sink: Any) -> Case:
        case = setup("S3", sink, binary_sink)
        return Case(case.stmt, case.namespace, case.note + "; no plugin (the reference)")

    return reference


def _reference_scenarios(variant: str) -> frozenset[str]:
    """The plugin scenarios ``variant``'s plugin row runs in, so its reference does too."""
    return LOGLAYER_ONLY if variant == _PLUGINS_VARIANT else _BOTH_CORES


def loglayer_libraries() -> list[Library]:
    """loglayer with each core: ``loglayer (compiled)`` and ``loglayer (pure)``, and
    each core's no-plugin reference for the plugin scenarios."""
    return [
        Library("loglayer (compiled)", "loglayer-compiled", False,
                _loglayer_setup("compiled"), _loglayer_version),
        Library("loglayer (pure)", "loglayer-pure", False,
                _loglayer_setup("pure"), _loglayer_version),
        Library("loglayer (compiled), no plugin", "loglayer-compiled-reference", False,
                _reference_setup("compiled"), _loglayer_version, check=False,
                only=_reference_scenarios("compiled"), reference_for="loglayer-compiled"),
        Library("loglayer (pure), no plugin", "loglayer-pure-reference", False,
                _reference_setup("pure"), _loglayer_version, check=False,
                only=_reference_scenarios("pure"), reference_for="loglayer-pure"),
    ]


# ---------------------------------------------------------------------------------------
# --config module:factory


#: The scenarios a user's own logger is run in (the others need a specific setup).
YOURS_SCENARIOS = ("S1", "S2", "S3", "S4", "S5")


def load_factory(spec: str) -> Callable[[Any], Any]:
    """Import ``module:factory`` and return the factory; ``ValueError`` says what is wrong."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"--config expects module:factory, got {spec!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"--config: cannot import {module_name!r}: {exc}") from exc
    factory: Any = module
    for part in attr.split("."):
        try:
            factory = getattr(factory, part)
        except AttributeError as exc:
            raise ValueError(f"--config: {module_name!r} has no attribute {attr!r}") from exc
    if not callable(factory):
        raise ValueError(f"--config: {spec} is not callable")
    return factory


def yours_library(spec: str) -> Library:
    """The user's own logger from ``--config module:factory``, as library ``yours``.

    ``factory(sink)`` is called once per scenario (and once more for the rendered
    sample) and must return a loglayer ``LogLayer`` that writes into ``sink``; the sink
    accepts both ``str`` and ``bytes``. The statements are loglayer's (S1 calls
    ``debug`` whatever the user's level is). Its output is shown with
    ``--show-samples`` but not checked, since its format is the user's.
    """
    factory = load_factory(spec)

    def setup(sid: str, sink: Any, binary_sink: Any) -> Case:
        sid = case_id(sid)
        if sid not in YOURS_SCENARIOS:
            raise Unavailable(f"--config loggers run in {', '.join(YOURS_SCENARIOS)} and S11 "
                              "(S3 from two threads) only")
        try:
            log = factory(sink)
        except Exception as exc:
            raise Unavailable(f"{spec}(sink) raised {exc!r}") from exc
        note = f"--config {spec}"
        if sid == "S1":
            return Case(f"log.debug({MESSAGE!r})", {"log": log}, note)
        if sid == "S2":
            return Case(f"log.info({MESSAGE!r})", {"log": log}, note)
        if sid == "S3":
            return Case(f"log.with_metadata({literal_source(FIELDS)}).info({MESSAGE!r})",
                        {"log": log}, note)
        if sid == "S4":
            return Case(
                f"log.with_metadata({literal_source(CALL_FIELDS)}).info({MESSAGE!r})",
                {"log": log.with_fields(dict(BOUND))}, note + "; with_fields({3 keys}) at setup")
        return Case(s5_statement('log.with_error(exc).error("failed")'),
                    {"log": log, "raise_through_frames": raise_through_frames}, note)

    return Library("yours", "yours", False, setup, _loglayer_version, check=False)
