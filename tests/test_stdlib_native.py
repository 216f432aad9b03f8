"""The facade's level methods write what the stdlib writes, with or without a record.

With the compiled core, a plain call whose way up the tree meets only loglayer's
handlers and exact ``StreamHandler``s with a plain ``Formatter`` is served without a
``LogRecord`` (``loglayer._stdlibfast``); everything else builds the record. Each test
here makes the same calls, on the same line, on a facade logger and on a plain
``logging.Logger`` set up alike, and compares what reached the streams; and it checks
which calls built a record, so that a fast path that silently stopped serving (or
served a call it must not) fails here. On the pure core every call builds its record
and the outputs must match all the same.
"""

from __future__ import annotations

import io
import itertools
import logging
import sys
import threading
from typing import Any

import pytest

from loglayer import LogLayer
from loglayer import stdlib as facade
from loglayer.stdlib import LogLayerHandler, get_logger, install
from loglayer.testing import TestTransport

NATIVE = facade._fast is not None
_names = itertools.count()
_MAKE_RECORD = logging.Logger.makeRecord.__code__
_made: list[logging.Logger] = []


@pytest.fixture(autouse=True)
def _count_records() -> Any:
    """Note each ``Logger.makeRecord`` call's logger, without replacing the method (a
    replaced one would be honoured, and the fast path would not serve the call)."""
    def profile(frame: Any, event: str, arg: Any) -> None:
        if event == "call" and frame.f_code is _MAKE_RECORD:
            _made.append(frame.f_locals["self"])

    sys.setprofile(profile)
    try:
        yield
    finally:
        sys.setprofile(None)
        _made.clear()


class Pair:
    """A facade logger and a plain ``logging.Logger``, each with its own copy of the
    handlers a factory makes; records the facade builds are counted."""

    def __init__(self, make_handlers: Any, level: int = logging.DEBUG) -> None:
        install()
        suffix = next(_names)
        self.facade = get_logger(f"native{suffix}")
        self.plain = logging.Logger(f"native{suffix}")
        self.plain.parent = logging.root
        self.streams: dict[str, list[io.StringIO]] = {}
        for key, logger in (("facade", self.facade), ("plain", self.plain)):
            logger.propagate = False
            logger.setLevel(level)
            handlers = make_handlers()
            self.streams[key] = [h.stream for h in handlers if hasattr(h, "stream")]
            for handler in handlers:
                logger.addHandler(handler)

    @property
    def records(self) -> int:
        """The records ``Logger.makeRecord`` made for the facade logger so far."""
        return sum(1 for logger in _made if logger is self.facade)

    @property
    def loggers(self) -> tuple[logging.Logger, logging.Logger]:
        return self.facade, self.plain

    def outputs(self) -> tuple[list[str], list[str]]:
        return ([s.getvalue() for s in self.streams["facade"]],
                [s.getvalue() for s in self.streams["plain"]])

    def assert_same(self) -> None:
        mine, theirs = self.outputs()
        assert mine == theirs
        assert any(theirs), "the calls wrote nothing: the comparison proves nothing"


def stream_handler(fmt: str | None, stream: Any = None, **kwargs: Any) -> logging.Handler:
    handler = logging.StreamHandler(io.StringIO() if stream is None else stream)
    if fmt is not None:
        handler.setFormatter(logging.Formatter(fmt, **kwargs))
    return handler


class Shown:
    def __str__(self) -> str:
        return "shown <é>"


FORMATS = [
    "%(levelname)s %(name)s %(message)s",
    logging.BASIC_FORMAT,
    "%(levelname)-8s|%(name)10s|%(message)r",
    "[%(levelno)03d] %(message)s",
    "%%(name)s stays; %(message)s at 100%%",
    "%(message)s",
    None,  # the handler's default formatter
]


@pytest.mark.parametrize("fmt", FORMATS, ids=repr)
def test_plain_calls_write_what_the_stdlib_writes_without_a_record(fmt):
    pair = Pair(lambda: [stream_handler(fmt)])
    for logger in pair.loggers:
        logger.debug("plain")
        logger.info("args %s and %d", "a", 3)
        logger.warning("%(key)s from a mapping", {"key": "v"})
        logger.error(Shown())
        logger.critical("100% literal, no args")
        logger.fatal("fatal alias")
        logger.log(25, "custom level %s", 25)
        logger.log(15, "unnamed level")
    pair.assert_same()
    assert pair.records == (0 if NATIVE else 8)
    pair.facade.warn("the loglayer spelling, without a deprecation warning")
    assert pair.records == (0 if NATIVE else 9)


def test_a_level_name_added_later_is_the_one_written():
    logging.addLevelName(23, "NOTICE23")
    pair = Pair(lambda: [stream_handler("%(levelname)s:%(levelno)s:%(message)s")])
    for logger in pair.loggers:
        logger.log(23, "noticed")
    pair.assert_same()
    assert pair.outputs()[0] == ["NOTICE23:23:noticed\n"]


@pytest.mark.parametrize("fmt", [
    "%(asctime)s %(message)s",           # a field the four values do not have
    "%(lineno)d %(funcName)s %(message)s",
    "%(process)d %(message)s",           # another field of the record
    "%(message)s %(user)s",              # a field only extra= gives
], ids=repr)
def test_formats_needing_the_record_get_one(fmt):
    pair = Pair(lambda: [stream_handler(fmt)])
    for logger in pair.loggers:
        logger.info("needs a record", extra={"user": "ada"})
        logger.info("again", extra={"user": "bob"})
    if "asctime" not in fmt:  # the time differs between the two calls
        pair.assert_same()
    assert pair.records == 2


@pytest.mark.parametrize("kwargs", [
    {"exc_info": True}, {"stack_info": True}, {"stacklevel": 1}, {"extra": {"user": "ada"}},
], ids=lambda k: next(iter(k)))
def test_calls_with_record_options_build_the_record(kwargs):
    pair = Pair(lambda: [stream_handler("%(levelname)s %(message)s")])
    try:
        raise ValueError("boom")
    except ValueError:
        for logger in pair.loggers:
            logger.error("with options", **kwargs)
    mine, theirs = pair.outputs()
    assert mine[0].splitlines()[0] == theirs[0].splitlines()[0] == "ERROR with options"
    assert pair.records == 1
    if "exc_info" in kwargs:
        assert "ValueError: boom" in mine[0]
    if "stack_info" in kwargs:
        assert "Stack (most recent call last)" in mine[0]


def test_exception_logs_the_handled_error():
    pair = Pair(lambda: [stream_handler("%(message)s")])
    try:
        raise KeyError("lost")
    except KeyError:
        for logger in pair.loggers:
            logger.exception("handled")
    mine, theirs = pair.outputs()
    assert mine == theirs and "KeyError: 'lost'" in mine[0]


def test_another_handler_class_filters_and_levels_take_the_stdlib_path():
    class Upper(logging.StreamHandler):
        def format(self, record: logging.LogRecord) -> str:
            return super().format(record).upper()

    def handlers() -> list[logging.Handler]:
        quiet = stream_handler("%(message)s")
        quiet.setLevel(logging.ERROR)
        filtered = stream_handler("%(message)s")
        filtered.addFilter(lambda record: "keep" in record.getMessage())
        return [quiet, Upper(io.StringIO()), filtered]

    pair = Pair(handlers)
    for logger in pair.loggers:
        logger.info("keep this")
        logger.info("drop this")
        logger.error("keep error")
    pair.assert_same()
    assert pair.outputs()[0] == ["keep error\n", "KEEP THIS\nDROP THIS\nKEEP ERROR\n",
                                 "keep this\nkeep error\n"]
    assert pair.records == 3


def test_a_handler_level_alone_keeps_the_fast_path():
    def handlers() -> list[logging.Handler]:
        quiet = stream_handler("%(message)s")
        quiet.setLevel(logging.ERROR)
        return [quiet, stream_handler("%(levelname)s %(message)s")]

    pair = Pair(handlers)
    for logger in pair.loggers:
        logger.info("info")
        logger.error("error")
    pair.assert_same()
    assert pair.records == (0 if NATIVE else 2)


def test_a_custom_record_factory_sees_every_call(monkeypatch):
    made = []
    original = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = original(*args, **kwargs)
        record.levelname = "CUSTOM"
        made.append(record)
        return record

    monkeypatch.setattr(logging, "_logRecordFactory", factory)
    pair = Pair(lambda: [stream_handler("%(levelname)s %(message)s")])
    for logger in pair.loggers:
        logger.info("made by the factory")
    pair.assert_same()
    assert pair.outputs()[0] == ["CUSTOM made by the factory\n"]
    assert len(made) == 2


def test_a_message_that_cannot_be_formatted_is_reported_as_the_stdlib_reports_it(capsys):
    pair = Pair(lambda: [stream_handler("%(message)s")])
    for logger in pair.loggers:
        logger.info("%d items", "not a number")
    assert pair.outputs() == ([""], [""])
    errors = capsys.readouterr().err
    assert errors.count("--- Logging error ---") == 2
    assert errors.count("TypeError: %d format: a real number is required") == 2


def test_a_format_that_fails_on_the_values_is_reported_as_the_stdlib_reports_it(capsys):
    pair = Pair(lambda: [stream_handler("%(message)d")])
    for logger in pair.loggers:
        logger.info("not a number")
    assert pair.outputs() == ([""], [""])
    errors = capsys.readouterr().err
    assert errors.count("--- Logging error ---") == 2
    assert errors.count("TypeError: %d format: a real number is required, not str") == 2


class Failing(io.StringIO):
    def write(self, text: str) -> int:
        raise OSError("disk full")


def test_a_failed_write_reaches_handle_error_with_the_calls_record():
    seen: list[logging.LogRecord] = []

    class Reporting(logging.StreamHandler):
        pass

    def handlers() -> list[logging.Handler]:
        handler = stream_handler("%(message)s", stream=Failing())
        handler.handleError = seen.append  # type: ignore[method-assign]
        return [handler]

    pair = Pair(handlers)
    for logger in pair.loggers:
        logger.warning("lost %s", "line")
    mine, theirs = seen
    for attribute in ("name", "levelno", "msg", "args", "lineno", "funcName", "pathname"):
        assert getattr(mine, attribute) == getattr(theirs, attribute), attribute
    assert mine.getMessage() == "lost line"
    assert mine.funcName == "test_a_failed_write_reaches_handle_error_with_the_calls_record"


class LockWatching(io.StringIO):
    """Records whether the handler's lock was held by this thread at each call."""

    def __init__(self) -> None:
        super().__init__()
        self.handler: logging.Handler | None = None
        self.held: list[tuple[str, bool]] = []

    def write(self, text: str) -> int:
        self.held.append(("write", self.handler.lock._is_owned()))  # type: ignore[union-attr]
        return super().write(text)

    def flush(self) -> None:
        self.held.append(("flush", self.handler.lock._is_owned()))  # type: ignore[union-attr]


def test_the_write_and_flush_happen_under_the_handlers_lock():
    def handlers() -> list[logging.Handler]:
        stream = LockWatching()
        handler = stream_handler("%(message)s", stream=stream)
        stream.handler = handler
        return [handler]

    pair = Pair(handlers)
    pair.facade.info("locked")
    assert pair.streams["facade"][0].held == [("write", True), ("flush", True)]
    assert pair.records == 0 if NATIVE else 1


def test_a_stream_without_flush_or_false_as_a_bool_is_handled_as_the_stdlib_does():
    class NoFlush:
        def __init__(self) -> None:
            self.parts: list[str] = []

        def write(self, text: str) -> None:
            self.parts.append(text)

    class Empty(io.StringIO):
        flushed = 0

        def __len__(self) -> int:
            return 0

        def flush(self) -> None:
            type(self).flushed += 1

    for stream_type in (NoFlush, Empty):
        pair = Pair(lambda stream_type=stream_type: [stream_handler("%(message)s",
                                                                    stream=stream_type())])
        for logger in pair.loggers:
            logger.info("kept")
    assert Empty.flushed == 0  # StreamHandler.flush skips a stream that is false


def test_threads_writing_at_once_lose_and_tear_nothing():
    pair = Pair(lambda: [stream_handler("%(name)s %(message)s")])

    def write(number: int) -> None:
        for i in range(500):
            pair.facade.info("thread %d line %d", number, i)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    lines = pair.outputs()[0][0].splitlines()
    assert sorted(lines) == sorted(f"{pair.facade.name} thread {n} line {i}"
                                   for n in range(4) for i in range(500))


def test_a_chain_of_stream_and_loglayer_handlers_keeps_the_stdlib_order():
    install()
    suffix = next(_names)
    parent = get_logger(f"chain{suffix}")
    child = get_logger(f"chain{suffix}.child")
    parent.propagate = False
    child.setLevel(logging.INFO)
    shared = io.StringIO()
    child.addHandler(stream_handler("child %(message)s", stream=shared))
    transport = TestTransport()
    parent.addHandler(LogLayerHandler(LogLayer(transports=transport)))
    parent.addHandler(stream_handler("parent %(message)s", stream=shared))
    child.info("once %s", "only")
    child.debug("below the level")
    assert shared.getvalue() == "child once only\nparent once only\n"
    (entry,) = transport.lines
    assert entry.messages == ["once only"]
    assert entry.data["logger"] == child.name


def test_a_conversion_without_a_name_is_left_to_the_formatter(capsys):
    pair = Pair(lambda: [stream_handler("%(message)s %s", validate=False)])
    for logger in pair.loggers:
        logger.info("unnamed")
    assert pair.outputs() == ([""], [""])  # the stdlib's formatter fails on it, and reports
    assert capsys.readouterr().err.count("--- Logging error ---") == 2
    assert pair.records == 1


def test_a_disabled_logger_and_logging_disable_stop_the_fast_path():
    pair = Pair(lambda: [stream_handler("%(message)s")])
    pair.facade.disabled = pair.plain.disabled = True
    for logger in pair.loggers:
        logger.critical("not written")
    pair.facade.disabled = pair.plain.disabled = False
    logging.disable(logging.WARNING)
    try:
        for logger in pair.loggers:
            logger.warning("not written either")
            logger.error("written")
    finally:
        logging.disable(logging.NOTSET)
    pair.assert_same()
    assert pair.outputs()[0] == ["written\n"]


def test_unknown_keywords_raise_type_error():
    pair = Pair(lambda: [stream_handler("%(message)s")])
    for logger in pair.loggers:
        with pytest.raises(TypeError):
            logger.info("x", colour="red")


def test_log_with_a_level_that_is_not_an_int_raises_as_the_stdlib_does():
    pair = Pair(lambda: [stream_handler("%(message)s")])
    for logger in pair.loggers:
        with pytest.raises(TypeError, match="level must be an integer"):
            logger.log("INFO", "x")


# A level that is off: its methods do nothing, cheaply, exactly while the stdlib's own
# isEnabledFor cache says the level is off.


def test_a_level_turned_back_on_anywhere_up_the_tree_writes_again():
    install()
    suffix = next(_names)
    parent = get_logger(f"levels{suffix}")
    child = get_logger(f"levels{suffix}.child")
    parent.propagate = False
    parent.setLevel(logging.INFO)
    stream = io.StringIO()
    parent.addHandler(stream_handler("%(levelname)s %(message)s", stream=stream))
    child.debug("off")
    child.warning("on")
    if NATIVE:
        assert type(child.debug) is facade._fast.OffMethod
        assert isinstance(child.warning.__self__, logging.Logger)
    parent.setLevel(logging.DEBUG)  # clears every logger's cache, the child's included
    child.debug("back on")
    logging.disable(logging.INFO)
    child.debug("off again")
    child.info("off too")
    logging.disable(logging.NOTSET)
    child.info("and back")
    assert stream.getvalue() == "WARNING on\nDEBUG back on\nINFO and back\n"


def test_a_call_at_a_level_that_is_off_takes_any_arguments_as_the_stdlib_does():
    pair = Pair(lambda: [stream_handler("%(message)s")], level=logging.ERROR)
    for logger in pair.loggers:
        for _ in range(2):  # the first call fills the cache, the second finds it
            logger.info("off", 1, 2, colour="red", exc_info=True)
    for logger in pair.loggers:
        logger.error("on")
    pair.assert_same()


def test_a_method_the_program_put_on_the_logger_is_left_alone():
    from unittest import mock

    pair = Pair(lambda: [stream_handler("%(message)s")], level=logging.ERROR)
    with mock.patch.object(pair.facade, "info") as patched:
        pair.facade.info("to the mock")
        pair.facade.info("to the mock")
        pair.facade.setLevel(logging.WARNING)
        pair.facade.info("to the mock")
    assert patched.call_count == 3
    pair.facade.setLevel(logging.INFO)
    pair.facade.info("written")
    assert pair.outputs()[0] == ["written\n"]


def test_a_subclass_keeps_its_own_level_methods():
    install()
    seen: list[str] = []

    class Counting(facade.StdlibLogger):
        def debug(self, msg: object, *args: object, **kwargs: Any) -> None:
            seen.append(str(msg))
            super().debug(msg, *args, **kwargs)

    logger = Counting(f"subclass{next(_names)}", logging.INFO)
    logger.parent = logging.root
    logger.debug("first")
    logger.debug("second")
    assert seen == ["first", "second"]


# Regressions found in review: behaviours of the stdlib the compiled level methods lose.


def _clearable(plain: logging.Logger) -> None:
    """Make ``plain``'s own ``setLevel`` clear its ``isEnabledFor`` cache, as it does for
    a logger of the tree (Pair's plain logger is outside logging's manager, so nothing
    would ever clear its cache and it would keep a level off that the facade turns on)."""
    manager = logging.Manager(logging.root)
    manager.loggerDict[plain.name] = plain
    plain.manager = manager  # type: ignore[assignment]


def test_a_level_method_taken_while_its_level_is_off_logs_once_the_level_is_on():
    # cb = logger.debug, functools.partial(logger.debug, ...), callback=logger.info: the
    # stdlib's bound method checks the level at each call; so must a stand-in.
    import functools

    pair = Pair(lambda: [stream_handler("%(message)s")], level=logging.INFO)
    _clearable(pair.plain)
    taken = []
    for logger in pair.loggers:
        logger.debug("off")  # the cache now holds DEBUG as off
        taken.append((logger, logger.debug, functools.partial(logger.debug, "partial %s")))
    for logger, debug, partial in taken:
        logger.setLevel(logging.DEBUG)
        debug("taken while off, called while on")
        partial("on")
    pair.assert_same()


def test_a_level_method_patched_while_its_level_is_off_is_live_after_the_patch():
    # mock.patch.object (and pytest's monkeypatch) put back what was in the instance:
    # a stand-in the cache clear in between could not take out.
    from unittest import mock

    pair = Pair(lambda: [stream_handler("%(message)s")], level=logging.INFO)
    _clearable(pair.plain)
    for logger in pair.loggers:
        logger.debug("off")
        with mock.patch.object(logger, "debug"):
            logger.setLevel(logging.DEBUG)
        logger.debug("written after the patch")
    pair.assert_same()


def test_a_level_method_taken_while_its_level_is_off_pickles():
    import pickle

    pair = Pair(lambda: [stream_handler("%(message)s")], level=logging.INFO)
    pair.facade.debug("off")
    restored = pickle.loads(pickle.dumps(pair.facade.debug))  # the stdlib's pickles by name
    pair.facade.setLevel(logging.DEBUG)
    restored("written")
    assert pair.outputs()[0] == ["written\n"]


def test_exception_calls_error_as_the_stdlib_does():
    # Logger.exception is self.error(msg, *args, exc_info=exc_info, **kwargs): a patched
    # or overridden error() sees exception() calls.
    from unittest import mock

    pair = Pair(lambda: [stream_handler("%(message)s")])
    seen = []
    for logger in pair.loggers:
        with mock.patch.object(logger, "error") as error:
            logger.exception("handled %s", 1)
        seen.append(error.call_args_list)
    assert seen[0] == seen[1] == [mock.call("handled %s", 1, exc_info=True)]


def test_a_subclass_overriding_error_sees_exception_calls():
    install()
    seen: list[str] = []

    class Counting(facade.StdlibLogger):
        def error(self, msg: object, *args: object, **kwargs: Any) -> None:
            seen.append(str(msg))
            super().error(msg, *args, **kwargs)

    logger = Counting(f"subclass{next(_names)}")
    logger.parent = logging.root
    logger.addHandler(logging.NullHandler())
    logger.exception("through error")
    assert seen == ["through error"]


def _emit_patched(self: logging.StreamHandler, record: logging.LogRecord) -> None:
    self.stream.write(f"patched emit {record.getMessage()}\n")


@pytest.mark.parametrize(("target", "name", "new"), [
    (logging.StreamHandler, "emit", _emit_patched),
    (logging.StreamHandler, "flush", lambda self: self.stream.write("[flush]")),
    (logging.Handler, "handle", lambda self, record: False),
    (logging.Handler, "format", lambda self, record: "patched Handler.format"),
    (logging.Formatter, "format", lambda self, record: "patched Formatter.format"),
    (logging.Formatter, "formatMessage", lambda self, record: "patched formatMessage"),
    (logging.PercentStyle, "format", lambda self, record: "patched PercentStyle.format"),
    (logging.LogRecord, "getMessage", lambda self: "patched getMessage"),
    (logging.Logger, "handle", lambda self, record: None),
    (logging.Filterer, "filter", lambda self, record: False),
    (logging, "getLevelName", lambda level: "PATCHED"),
], ids=lambda value: getattr(value, "__name__", None) if isinstance(value, type) else None)
def test_a_method_of_logging_patched_by_the_program_is_honoured(target, name, new):
    from unittest import mock

    pair = Pair(lambda: [stream_handler("%(levelname)s %(message)s")])
    with mock.patch.object(target, name, new):
        for logger in pair.loggers:
            logger.info("original")
    mine, theirs = pair.outputs()
    assert mine == theirs


def _renaming(make_record: Any) -> Any:
    def renamed(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        record.levelname = "RENAMED"
        return record

    return renamed


def _set_on_handler(name: str, make: Any) -> Any:
    return lambda logger: setattr(logger.handlers[0], name, make(logger.handlers[0]))


@pytest.mark.parametrize("override", [
    _set_on_handler("emit", lambda h: lambda record: h.stream.write("instance emit\n")),
    _set_on_handler("format", lambda h: lambda record: "instance format"),
    _set_on_handler("filter", lambda h: lambda record: False),
    _set_on_handler("handle", lambda h: lambda record: False),
    _set_on_handler("flush", lambda h: lambda: h.stream.write("[flush]")),
    lambda logger: setattr(logger.handlers[0].formatter, "format", lambda record: "fmt"),
    lambda logger: setattr(logger, "handle", lambda record: None),
    lambda logger: setattr(logger, "filter", lambda record: False),
    lambda logger: setattr(logger, "callHandlers", lambda record: None),
    lambda logger: setattr(logger, "makeRecord", _renaming(logger.makeRecord)),
], ids=["handler.emit", "handler.format", "handler.filter", "handler.handle",
        "handler.flush", "formatter.format", "logger.handle", "logger.filter",
        "logger.callHandlers", "logger.makeRecord"])
def test_a_method_the_program_put_on_a_handler_or_logger_is_honoured(override):
    pair = Pair(lambda: [stream_handler("%(levelname)s %(message)s")])
    for logger in pair.loggers:
        override(logger)
        logger.info("original")
    mine, theirs = pair.outputs()
    assert mine == theirs


def test_a_failed_write_reports_the_callers_stack_as_the_stdlib_does(capsys):
    pair = Pair(lambda: [stream_handler("%(message)s", stream=Failing())])
    stacks = []
    for logger in pair.loggers:
        def the_calling_function(logger: logging.Logger = logger) -> None:
            logger.warning("lost")

        the_calling_function()
        stacks.append(capsys.readouterr().err.split("Call stack:\n", 1)[1])
    mine, theirs = stacks
    assert "the_calling_function" in theirs
    assert "the_calling_function" in mine


def test_each_stream_handler_formats_the_message_as_the_stdlib_does():
    # Formatter.format calls record.getMessage() once per handler: an argument's
    # __str__ runs once per handler, not once per call.
    class Counter:
        def __init__(self) -> None:
            self.calls = 0

        def __str__(self) -> str:
            self.calls += 1
            return f"str #{self.calls}"

    pair = Pair(lambda: [stream_handler("%(message)s"), stream_handler("%(message)s")])
    for logger in pair.loggers:
        logger.info("%s", Counter())
    pair.assert_same()


def test_a_write_that_changes_the_handlers_affects_the_rest_of_the_call_as_in_the_stdlib():
    # Logger.callHandlers reads each handler (and its level) when it reaches it.
    class Adjusting(io.StringIO):
        target: logging.Handler | None = None

        def write(self, text: str) -> int:
            if self.target is not None:
                self.target.setLevel(logging.ERROR)
            return super().write(text)

    pair = Pair(lambda: [stream_handler("%(message)s", stream=Adjusting()),
                         stream_handler("second %(message)s")])
    for logger in pair.loggers:
        logger.handlers[0].stream.target = logger.handlers[1]
        logger.info("once")
    pair.assert_same()
