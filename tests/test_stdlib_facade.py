"""The stdlib-compatible facade, ``loglayer.stdlib.get_logger``: logging.Logger call
conventions, emitted through the ready logger ``loglayer.log``."""

from __future__ import annotations

import itertools
import logging
import pickle
import sys
import threading

import pytest

import loglayer
from loglayer import LogLevel
from loglayer.stdlib import LogLayerHandler, StdlibLogger, get_logger
from loglayer.testing import TestTransport

_names = itertools.count()


@pytest.fixture
def captured():
    """The ready logger sends to a TestTransport during the test, and the root of
    ``logging``'s tree lets every level through; both restored afterwards.

    While a test runs, pytest's capturing handlers sit on the root, so a call that
    reaches the root is a LogRecord first (see ``native`` for the route without one).
    """
    transport = TestTransport("captured")
    previous = loglayer.log.get_logger_instance("default")
    root_level = logging.root.level
    loglayer.configure(transports=transport, level="trace")
    logging.root.setLevel(1)
    try:
        yield transport
    finally:
        logging.root.setLevel(root_level)
        if previous is not None:
            loglayer.log.set_transports(previous)
        loglayer.configure(level="trace")


@pytest.fixture
def name() -> str:
    """A top-level logger name no other test uses: facade loggers live for the process."""
    return f"facade{next(_names)}"


def native(name: str) -> StdlibLogger:
    """A facade logger whose one route is a ``LogLayerHandler`` to the ready logger and
    that does not propagate: its calls reach loglayer without a LogRecord."""
    logger = get_logger(name)
    logger.propagate = False
    logger.addHandler(LogLayerHandler())
    return logger


class Counted:
    """An argument that counts how often it is formatted."""

    def __init__(self) -> None:
        self.calls = 0

    def __str__(self) -> str:
        self.calls += 1
        return "counted"


@pytest.mark.parametrize("method, level", [
    ("debug", LogLevel.DEBUG), ("info", LogLevel.INFO), ("warning", LogLevel.WARN),
    ("warn", LogLevel.WARN), ("error", LogLevel.ERROR), ("critical", LogLevel.FATAL),
    ("fatal", LogLevel.FATAL),
])
def test_each_method_emits_at_its_level_with_the_logger_name(captured, name, method, level):
    getattr(get_logger(name), method)("user %s has %d items", "ada", 3)
    [entry] = captured.lines
    assert entry.level == level
    assert entry.messages == ["user ada has 3 items"]
    assert entry.data == {"logger": name}
    assert entry.metadata is None and entry.error is None


@pytest.mark.parametrize("number, level", [
    (1, LogLevel.TRACE), (5, LogLevel.TRACE), (9, LogLevel.TRACE), (10, LogLevel.DEBUG),
    (15, LogLevel.DEBUG), (25, LogLevel.INFO), (30, LogLevel.WARN), (35, LogLevel.WARN),
    (45, LogLevel.ERROR), (50, LogLevel.FATAL), (70, LogLevel.FATAL),
])
def test_log_maps_any_number_down_to_the_nearest_level(captured, name, number, level):
    get_logger(name).log(number, "x")
    assert [entry.level for entry in captured.lines] == [level]


def test_the_ready_loggers_fields_and_context_fields_are_kept(captured, name):
    with loglayer.bound_contextvars(request_id="r-1"):
        get_logger(name).info("in a request")
    assert captured.lines[0].data == {"request_id": "r-1", "logger": name}


def test_configure_applies_to_loggers_made_before_it(captured, name):
    logger = get_logger(name)
    later = TestTransport("later")
    loglayer.configure(transports=later)
    logger.info("after configure")
    assert len(captured) == 0 and len(later) == 1


def test_formatting_happens_only_when_the_level_passes(captured, name):
    logger = native(name)
    logger.setLevel(logging.INFO)
    arg = Counted()
    logger.debug("%s", arg)
    assert arg.calls == 0
    loglayer.configure(level="error")  # the ready logger's own level counts too
    logger.warning("%s", arg)
    assert arg.calls == 0 and len(captured) == 0
    logger.error("%s and %s", arg, arg)
    assert arg.calls == 2
    assert captured.lines[0].messages == ["counted and counted"]


def test_a_single_mapping_argument_formats_by_name(captured, name):
    get_logger(name).info("%(user)s logged in", {"user": "ada"})
    assert captured.lines[0].messages == ["ada logged in"]


def test_a_message_with_no_args_is_not_formatted(captured, name):
    get_logger(name).info("100% sure")
    assert captured.lines[0].messages == ["100% sure"]


def test_a_formatting_error_never_raises_and_keeps_everything(captured, name):
    class Unprintable:
        def __str__(self):
            raise RuntimeError("no")

    logger = native(name)
    logger.info("count: %d", "many")
    logger.info(Unprintable())
    first, second = (entry.messages[0] for entry in captured.lines)
    assert first.startswith("count: %d [could not format with args ('many',): TypeError")
    assert second.startswith("<unprintable Unprintable> [could not format")


def test_a_non_str_message_is_its_str(captured, name):
    get_logger(name).info(ValueError("as message"))
    assert captured.lines[0].messages == ["as message"]


def test_exc_info_true_an_instance_or_a_tuple_become_the_error(captured, name):
    logger = get_logger(name)
    try:
        raise KeyError("k")
    except KeyError as exc:
        caught = exc
        logger.error("true", exc_info=True)
        logger.warning("tuple", exc_info=sys.exc_info())
        logger.exception("exception()")
    logger.info("instance", exc_info=caught)
    logger.info("true outside except", exc_info=True)
    logger.info("false", exc_info=False)
    errors = [entry.error for entry in captured.lines]
    assert errors == [caught, caught, caught, caught, None, None]
    assert captured.lines[2].level == LogLevel.ERROR
    assert captured.lines[0].data["err"]["type"] == "KeyError"


def test_extra_becomes_metadata(captured, name):
    extra = {"user": "ada", "items": 3}
    get_logger(name).info("x", extra=extra)
    get_logger(name).info("no extra", extra={})
    assert captured.lines[0].metadata == {"user": "ada", "items": 3}
    assert captured.lines[1].metadata is None


def test_the_caller_is_not_captured_unless_asked(captured, name):
    get_logger(name).info("plain")
    assert captured.lines[0].metadata is None


def _log_from_helper(logger: StdlibLogger, **kwargs) -> None:
    logger.info("from helper", **kwargs)


def test_stacklevel_points_at_the_callers_caller(captured, name):
    extra = {"user": "ada", "line": "kept?"}
    _log_from_helper(get_logger(name), stacklevel=2, extra=extra)
    _log_from_helper(get_logger(name), stacklevel=1)
    outer, inner = (entry.metadata for entry in captured.lines)
    assert outer["function"] == "test_stacklevel_points_at_the_callers_caller"
    assert outer["file"] == __file__ and outer["user"] == "ada"
    assert isinstance(outer["line"], int)  # the caller's place wins over extra's key
    assert extra == {"user": "ada", "line": "kept?"}  # the caller's dict is not touched
    assert inner["function"] == "_log_from_helper"


def test_stack_info_adds_the_stack_and_the_caller(captured, name):
    get_logger(name).warning("where am I", stack_info=True)
    metadata = captured.lines[0].metadata
    assert metadata["stack"].startswith("Stack (most recent call last):\n")
    assert "test_stack_info_adds_the_stack_and_the_caller" in metadata["stack"]
    assert metadata["function"] == "test_stack_info_adds_the_stack_and_the_caller"


def test_capture_caller_is_inherited_down_the_hierarchy(captured, name):
    get_logger(name, capture_caller=True)
    get_logger(f"{name}.child").info("inherits")
    get_logger(f"{name}.quiet", capture_caller=False).info("opts out")
    inherits, opts_out = (entry.metadata for entry in captured.lines)
    assert inherits["function"] == "test_capture_caller_is_inherited_down_the_hierarchy"
    assert opts_out is None


def test_a_call_through_logging_loggeradapter_finds_the_real_caller(captured, name):
    adapter = logging.LoggerAdapter(get_logger(name), {"request": 7})
    adapter.info("adapted %s", "call", stack_info=True)
    [entry] = captured.lines
    assert entry.messages == ["adapted call"]
    assert entry.metadata["request"] == 7
    assert entry.metadata["function"] == (
        "test_a_call_through_logging_loggeradapter_finds_the_real_caller")


def test_a_loggeradapter_subclass_works_on_top(captured, name):
    class Tagged(logging.LoggerAdapter):
        def process(self, msg, kwargs):
            return f"[{self.extra['tag']}] {msg}", kwargs

    adapter = Tagged(get_logger(name), {"tag": "db"})
    adapter.warning("slow query %dms", 250)
    assert adapter.isEnabledFor(logging.WARNING)
    assert captured.lines[0].messages == ["[db] slow query 250ms"]


def test_levels_follow_the_hierarchy_as_in_the_stdlib(name):
    parent = get_logger(name)
    middle = get_logger(f"{name}.a")
    child = get_logger(f"{name}.a.b")
    assert child.getEffectiveLevel() == logging.root.level  # the tree is logging's
    parent.setLevel(1)
    assert child.isEnabledFor(1)
    parent.setLevel(logging.ERROR)
    assert child.getEffectiveLevel() == logging.ERROR
    assert child.isEnabledFor(logging.ERROR) and not child.isEnabledFor(logging.WARNING)
    middle.setLevel(logging.CRITICAL)
    assert child.getEffectiveLevel() == logging.CRITICAL
    child.setLevel(logging.DEBUG)
    assert child.isEnabledFor(logging.DEBUG) and not parent.isEnabledFor(logging.DEBUG)
    child.setLevel(logging.NOTSET)
    assert child.getEffectiveLevel() == logging.CRITICAL
    assert child.level == logging.NOTSET
    try:
        logging.disable(logging.CRITICAL)  # the stdlib's global switch applies
        assert not child.isEnabledFor(logging.CRITICAL)
    finally:
        logging.disable(logging.NOTSET)
    assert child.isEnabledFor(logging.CRITICAL)
    child.disabled = True
    assert not child.isEnabledFor(logging.CRITICAL)


def test_the_ready_loggers_level_filters_its_entries_not_is_enabled_for(captured, name):
    logger = get_logger(name)
    loglayer.configure(level="warn")
    assert logger.isEnabledFor(logging.INFO)  # the stdlib's levels alone decide this
    logger.info("below the ready logger's level")
    logger.warning("kept")
    assert [entry.messages for entry in captured.lines] == [["kept"]]


@pytest.mark.parametrize("given, number", [
    ("INFO", logging.INFO), ("WARNING", logging.WARNING), ("trace", 5), ("warn", 30),
    ("Fatal", 50), (LogLevel.ERROR, 40), (7, 7),
])
def test_set_level_takes_numbers_and_names(name, given, number):
    logger = get_logger(name)
    logger.setLevel(given)
    assert logger.getEffectiveLevel() == number


def test_set_level_rejects_what_the_stdlib_rejects(name):
    logger = get_logger(name)
    with pytest.raises(TypeError, match=r"Level not an integer or a valid string: None"):
        logger.setLevel(None)
    with pytest.raises(ValueError, match="Unknown level: 'LOUDEST'"):
        logger.setLevel("LOUDEST")


def test_log_with_a_level_that_is_not_an_int(captured, name, monkeypatch):
    logger = get_logger(name)
    with pytest.raises(TypeError, match="level must be an integer"):
        logger.log("10", "x")
    monkeypatch.setattr(logging, "raiseExceptions", False)
    logger.log("10", "x")
    assert len(captured) == 0


def test_unknown_keyword_arguments_raise_as_in_the_stdlib(captured, name):
    with pytest.raises(TypeError):
        get_logger(name).info("x", user="ada")


def test_get_logger_names_and_the_hierarchy(name):
    root = get_logger()
    assert get_logger("") is root and get_logger("root") is root
    assert root.name == "root" and root.parent is None
    top, web = get_logger(name), get_logger(f"{name}.web")
    logger = get_logger(f"{name}.web.views")
    assert logger is get_logger(f"{name}.web.views") is logging.getLogger(f"{name}.web.views")
    assert top is logging.getLogger(name) and root is logging.getLogger()
    assert isinstance(logger, logging.Logger) and isinstance(logger, StdlibLogger)
    assert logger.name == f"{name}.web.views"
    assert logger.parent is web and web.parent is top
    assert get_logger(name).parent is root
    assert logger.root is root and logger.propagate is True
    assert get_logger(name).getChild("web.views") is logger
    assert root.getChild(name) is get_logger(name)
    assert isinstance(get_logger(name).getChild("plain.child"), StdlibLogger)
    assert get_logger(f".{name}dot").parent is root
    assert repr(logger) == f"<StdlibLogger {name}.web.views (WARNING)>"


@pytest.mark.parametrize("bad", [b"bytes", 3, object()])
def test_a_name_that_is_not_a_str_raises(bad):
    with pytest.raises(TypeError, match="name must be a str or None, got"):
        get_logger(bad)


def test_loggers_pickle_as_the_same_object(name):
    for logger in (get_logger(), get_logger(name), get_logger(f"{name}.x")):
        assert pickle.loads(pickle.dumps(logger)) is logger
    with pytest.raises(pickle.PicklingError):
        pickle.dumps(StdlibLogger(f"{name}.unregistered"))


def test_concurrent_get_logger_gives_one_logger_per_name(name):
    found: list[StdlibLogger] = []
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        found.append(get_logger(f"{name}.a.b.c"))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(found) == 8 and all(logger is found[0] for logger in found)
    assert found[0] is logging.getLogger(f"{name}.a.b.c")


def library_code(logger: logging.Logger) -> None:
    """Code written for ``logging.getLogger(__name__)``, using the usual idioms."""
    logger.debug("starting with %d workers", 4)
    if logger.isEnabledFor(logging.INFO):
        logger.info("config: %(path)s", {"path": "/etc/app"})
    logger.getChild("db").warning("slow query", extra={"ms": 250})
    try:
        {}["missing"]
    except KeyError:
        logger.exception("lookup failed for %r", "missing")
    logging.LoggerAdapter(logger, {"job": 1}).error("job %s failed", "sync")
    logger.log(logging.CRITICAL, "giving up")


class Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_code_written_for_logging_runs_unchanged_with_the_same_output(captured, name):
    real = logging.getLogger(f"loglayer-tests.{name}")
    recorder = Recorder()
    real.addHandler(recorder)
    real.setLevel(logging.DEBUG)
    real.propagate = False
    try:
        library_code(real)
    finally:
        real.removeHandler(recorder)
    library_code(get_logger(name))
    stdlib_view = [(r.levelno, r.getMessage(), r.name.removeprefix("loglayer-tests."),
                    r.exc_info[1] if r.exc_info else None) for r in recorder.records]
    facade_view = [(int(e.level), e.messages[0], e.data["logger"], e.error)
                   for e in captured.lines]
    assert [row[:3] for row in facade_view] == [row[:3] for row in stdlib_view]
    assert [type(row[3]) for row in facade_view] == [type(row[3]) for row in stdlib_view]
    assert captured.lines[2].metadata == {"ms": 250}
    assert captured.lines[4].metadata == {"job": 1}


def test_attached_handlers_receive_records_as_on_a_logging_logger(captured, name, capsys):
    parent, child = get_logger(name), get_logger(f"{name}.child")
    recorder = Recorder()
    parent.addHandler(recorder)
    try:
        assert child.hasHandlers()
        child.info("hello %s", "ada", extra={"user": "ada"})
        [record] = recorder.records
        assert (record.name, record.msg, record.args) == (f"{name}.child", "hello %s", ("ada",))
        assert record.user == "ada"
        assert record.pathname == __file__
        assert record.funcName == "test_attached_handlers_receive_records_as_on_a_logging_logger"
        [entry] = captured.lines  # and the entry went through loglayer as usual
        assert entry.messages == ["hello ada"] and entry.metadata == {"user": "ada"}
        recorder.setLevel(logging.ERROR)
        child.warning("below the handler's level")  # no last-resort output either
        assert len(recorder.records) == 1 and len(captured) == 2
        child.propagate = False  # the ready logger is reached at the root, like a handler
        assert not child.hasHandlers()
        child.error("not propagated")  # nothing takes it: the stdlib's last resort
        assert len(recorder.records) == 1 and len(captured) == 2
    finally:
        parent.removeHandler(recorder)
        child.propagate = True
    assert capsys.readouterr().err == "not propagated\n"


def test_filters_on_a_logger_apply_to_the_entry_too(captured, name):
    logger = get_logger(name)

    def only_important(record: logging.LogRecord) -> bool:
        record.checked = True
        return "important" in record.getMessage()

    logger.addFilter(only_important)
    try:
        logger.info("noise")
        logger.info("important %s", "news")
    finally:
        logger.removeFilter(only_important)
    [entry] = captured.lines
    assert entry.messages == ["important news"] and entry.metadata == {"checked": True}


def test_critical_flushes_the_transports_as_fatal_does(captured, name):
    class Flushing(TestTransport):
        flushes = 0

        def flush(self):
            Flushing.flushes += 1

    loglayer.configure(transports=Flushing("flushing"))
    get_logger(name).error("no flush")
    assert Flushing.flushes == 0
    get_logger(name).critical("flushed")
    assert Flushing.flushes == 1
