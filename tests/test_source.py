"""Call-site capture: ``LogLayer(source=True, source_key=...)`` and ``with_stacklevel``.

Each test logs on a line it knows (``here()`` gives the next line's number) and checks
the entry's ``source`` and ``data[source_key]``: the emission site, never a frame of
loglayer itself, whichever way the call reaches the core (level methods, builder chains,
``raw``, the writer, the stdlib facade and handler).
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
from typing import Any

import pytest

import loglayer
from loglayer import LogLevel
from loglayer.testing import TestTransport

THIS_FILE = __file__


def here() -> int:
    """The number of the line after the caller's."""
    return sys._getframe(1).f_lineno + 1


def site(line: int, function: str) -> dict[str, Any]:
    return {"file": THIS_FILE, "line": line, "function": function}


def make(core, **config: Any) -> tuple[Any, TestTransport]:
    tt = TestTransport("tt")
    return core.LogLayer(transports=tt, source=True, **config), tt


def test_off_by_default_no_source_anywhere(core):
    tt = TestTransport("tt")
    log = core.LogLayer(transports=tt, fields={"a": 1})
    log.info("m")
    entry = tt.last_line()
    assert entry.source is None
    assert entry.data == {"a": 1}


def test_level_method_reports_its_own_line(core):
    log, tt = make(core)
    line = here()
    log.info("m")
    entry = tt.last_line()
    assert entry.source == site(line, "test_level_method_reports_its_own_line")
    assert entry.data == {"source": entry.source}


@pytest.mark.parametrize("call", [
    lambda log: log.with_metadata({"k": 1}).warn("m"),
    lambda log: log.with_error(ValueError("x")).with_metadata({"k": 1}).error("m"),
    lambda log: log.with_metadata({"k": 1}).with_context("c").fatal("m"),
    lambda log: log.raw(LogLevel.INFO, ["m"], metadata={"k": 1}),
    lambda log: log.error_only(ValueError("x")),
    lambda log: log.metadata_only({"k": 1}),
    lambda log: log.child().with_fields(a=1).with_prefix("p").debug("m"),
], ids=["builder", "builder-error", "builder-fatal", "raw", "error_only", "metadata_only",
        "derived"])
def test_every_entry_point_reports_the_caller(core, call):
    log, tt = make(core)
    call(log)
    # the call is the lambda's (defined above), never a frame of loglayer's
    source = tt.last_line().source
    assert source["file"] == THIS_FILE
    assert source["function"] == "<lambda>"
    assert source["line"] == call.__code__.co_firstlineno


def test_builder_chain_points_at_the_chain(core):
    log, tt = make(core)
    line = here()
    log.with_metadata({"k": 1}).with_error(ValueError("x")).error("m")
    assert tt.last_line().source == site(line, "test_builder_chain_points_at_the_chain")


def test_exception_reports_the_except_block(core):
    log, tt = make(core)
    try:
        raise ValueError("boom")
    except ValueError:
        line = here()
        log.exception("failed")
    assert tt.last_line().source == site(line, "test_exception_reports_the_except_block")


def _helper(log: Any, depth: int) -> None:
    log.with_stacklevel(depth).info("from the helper")


def _outer_helper(log: Any) -> None:
    _helper(log, 2)


def test_with_stacklevel_skips_the_wrappers(core):
    log, tt = make(core)
    _helper(log, 0)
    assert tt.last_line().source["function"] == "_helper"
    line = here()
    _helper(log, 1)
    assert tt.last_line().source == site(line, "test_with_stacklevel_skips_the_wrappers")
    line = here()
    _outer_helper(log)
    assert tt.last_line().source == site(line, "test_with_stacklevel_skips_the_wrappers")


def test_stacklevels_add_up_and_the_receiver_is_unchanged(core):
    log, tt = make(core)
    wrapped = log.with_stacklevel(1)

    def inner() -> None:
        wrapped.with_stacklevel(1).info("m")

    def middle() -> None:
        inner()

    line = here()
    middle()
    assert tt.last_line().source == site(
        line, "test_stacklevels_add_up_and_the_receiver_is_unchanged")
    line = here()
    log.info("m")
    assert tt.last_line().source["line"] == line


def test_a_stacklevel_past_the_stack_gives_the_outermost_frame(core):
    log, tt = make(core)
    log.with_stacklevel(10_000).info("m")
    frame = sys._getframe()
    while frame.f_back is not None:
        frame = frame.f_back
    source = tt.last_line().source
    assert (source["file"], source["function"]) == (frame.f_code.co_filename,
                                                    frame.f_code.co_name)


def test_source_key_and_fields_key(core):
    log, tt = make(core, source_key="where", fields_key="ctx", fields={"a": 1})
    line = here()
    log.info("m")
    entry = tt.last_line()
    expected = site(line, "test_source_key_and_fields_key")
    assert entry.data == {"ctx": {"a": 1}, "where": expected}
    assert entry.fields == {"a": 1}


def test_the_logger_fields_are_not_mutated(core):
    fields = {"a": 1}
    log, tt = make(core, fields=fields)
    log.info("m")
    log.info("m")
    assert fields == {"a": 1}
    assert log.get_fields() == {"a": 1}
    assert tt.lines[0].data is not tt.lines[1].data
    assert "source" not in tt.lines[0].fields


def test_hooks_see_the_source_in_data(core):
    seen = []
    log, tt = make(core, plugins=[loglayer.data_hook("d", lambda p: seen.append(
        dict(p.data["source"])))])
    line = here()
    log.info("m")
    assert seen == [site(line, "test_hooks_see_the_source_in_data")]


def test_threads_each_get_their_own_site(core):
    log, tt = make(core)

    def worker(n: int) -> None:
        for _ in range(50):
            log.with_metadata({"n": n}).info("m")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(tt) == 200
    assert {entry.source["function"] for entry in tt.lines} == {"worker"}


def test_writer_lines_point_at_the_print(core):
    log, tt = make(core)
    writer = log.writer()
    line = here()
    print("hello", file=writer)
    assert tt.last_line().messages == ["hello"]
    assert tt.last_line().source == site(line, "test_writer_lines_point_at_the_print")
    with contextlib.redirect_stdout(writer):
        line = here()
        print("again")
    assert tt.last_line().source == site(line, "test_writer_lines_point_at_the_print")


def test_both_cores_give_the_same_source():
    from conftest import available_cores

    sources = []
    for module in available_cores():
        log, tt = make(module)
        for _ in range(1):
            log.with_metadata({"k": 1}).info("m")  # the same line for each core
        sources.append(tt.last_line().source)
    assert all(source == sources[0] for source in sources)


@pytest.mark.parametrize(("config", "error", "text"), [
    ({"source": 1}, TypeError, "source must be a bool, got int"),
    ({"source": True, "source_key": ""}, ValueError, "source_key must be a non-empty str, "
                                                      "got ''"),
    ({"source_key": 3}, TypeError, "source_key must be a non-empty str, got int"),
])
def test_bad_options_name_the_argument(core, config, error, text):
    with pytest.raises(error) as caught:
        core.LogLayer(transports=TestTransport("t"), **config)
    assert str(caught.value) == text


@pytest.mark.parametrize(("value", "error", "text"), [
    (-1, ValueError, "with_stacklevel() n must be at least 0, got -1"),
    ("1", TypeError, "with_stacklevel() n must be an int, got str"),
    (True, TypeError, "with_stacklevel() n must be an int, got bool"),
])
def test_bad_stacklevel_names_the_argument(core, value, error, text):
    log, _ = make(core)
    with pytest.raises(error) as caught:
        log.with_stacklevel(value)
    assert str(caught.value) == text


# -- through logging: the facade and the handler (the live core) ---------------------------


@pytest.fixture
def stdlib_logger():
    from loglayer.stdlib import LogLayerHandler

    tt = TestTransport("tt")
    log = loglayer.LogLayer(transports=tt, source=True)
    logger = logging.getLogger("loglayer.tests.source")
    handler = LogLayerHandler(log)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        yield logger, tt
    finally:
        logger.removeHandler(handler)


def test_a_logging_call_through_the_handler_reports_the_caller(stdlib_logger):
    logger, tt = stdlib_logger
    line = here()
    logger.warning("careful %s", "now")
    assert tt.last_line().source == site(
        line, "test_a_logging_call_through_the_handler_reports_the_caller")


def test_a_facade_logger_reports_the_caller(stdlib_logger):
    from loglayer.stdlib import get_logger

    _, tt = stdlib_logger
    facade = get_logger("loglayer.tests.source")
    line = here()
    facade.info("through the facade")
    assert tt.last_line().source == site(line, "test_a_facade_logger_reports_the_caller")


# -- the shipping transports' own fields ------------------------------------------------------


def test_journald_sends_code_fields_not_a_source_field(core):
    pytest.importorskip("fcntl")
    from loglayer.transports._journald import JournalEncoder

    log, tt = make(core)
    line = here()
    log.info("m")
    datagram = JournalEncoder("t").encode(tt.last_line())
    assert f"CODE_FILE={THIS_FILE}\n".encode() in datagram
    assert f"CODE_LINE={line}\n".encode() in datagram
    assert b"CODE_FUNC=test_journald_sends_code_fields_not_a_source_field\n" in datagram
    assert b"SOURCE" not in datagram


def test_otlp_gets_the_semantic_convention_attributes(core):
    pytest.importorskip("opentelemetry.proto")
    from loglayer.transports import _otlp_codec as codec

    log, tt = make(core, fields={"a": 1})
    line = here()
    log.info("m")
    attributes = codec._attributes(tt.last_line())
    assert attributes == {"a": 1, "code.file.path": THIS_FILE, "code.line.number": line,
                          "code.function.name": "test_otlp_gets_the_semantic_convention_"
                                                "attributes"}


def test_from_config_takes_source_and_source_key():
    log = loglayer.from_config({"source": True, "source_key": "at"})
    tt = TestTransport("tt")
    log.set_transports(tt)
    line = here()
    log.info("m")
    assert tt.last_line().data == {"at": site(line,
                                              "test_from_config_takes_source_and_source_key")}
    with pytest.raises(TypeError, match=r"^source: must be a bool, got str$"):
        loglayer.from_config({"source": "yes"})
