"""The bridge both ways: ``LogLayerHandler`` (logging -> loglayer) and ``StdlibTransport``
(loglayer -> logging), with real handler chains and real files."""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import logging.handlers
import os
import pathlib
import queue
import subprocess
import sys

import pytest

import loglayer
from loglayer import LogLayer, LogLevel
from loglayer.stdlib import LogLayerHandler, StdlibTransport
from loglayer.testing import TestTransport

_names = itertools.count()


def _private_logger(name: str) -> logging.Logger:
    """A real ``logging.Logger`` outside ``logging``'s registry, every level on.

    Outside the registry, nothing else attaches to it (pytest's log capture adds its
    handlers to every registered logger that does not propagate) and it has no parent.
    """
    return logging.Logger(f"loglayer-bridge-tests.{name}", level=1)


@pytest.fixture
def stdlib_logger():
    """A private stdlib logger (see ``_private_logger``), its handlers closed afterwards."""
    logger = _private_logger(f"n{next(_names)}")
    yield logger
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()


@pytest.fixture
def captured():
    """The ready logger sends to a TestTransport during the test; restored afterwards."""
    transport = TestTransport("captured")
    previous = loglayer.log.get_logger_instance("default")
    loglayer.configure(transports=transport, level="trace")
    try:
        yield transport
    finally:
        if previous is not None:
            loglayer.log.set_transports(previous)
        loglayer.configure(level="trace")


def _file_handler(path: pathlib.Path, fmt: str) -> logging.FileHandler:
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(fmt))
    return handler


# -- logging -> loglayer ---------------------------------------------------------------


def test_handler_turns_a_record_into_an_entry(stdlib_logger, tt, log):
    stdlib_logger.addHandler(LogLayerHandler(log))
    try:
        raise ValueError("bad input")
    except ValueError as exc:
        error = exc
        stdlib_logger.error("user %s failed", "ada", exc_info=True,
                            extra={"user": "ada", "attempt": 2})
    [entry] = tt.lines
    assert entry.level == LogLevel.ERROR
    assert entry.messages == ["user ada failed"]
    assert entry.metadata == {"user": "ada", "attempt": 2}
    assert entry.error is error
    assert entry.data["logger"] == stdlib_logger.name
    assert entry.data["err"]["type"] == "ValueError"


@pytest.mark.parametrize("number, level", [
    (1, LogLevel.TRACE), (5, LogLevel.TRACE), (logging.DEBUG, LogLevel.DEBUG),
    (logging.INFO, LogLevel.INFO), (25, LogLevel.INFO), (logging.WARNING, LogLevel.WARN),
    (logging.ERROR, LogLevel.ERROR), (logging.CRITICAL, LogLevel.FATAL), (99, LogLevel.FATAL),
])
def test_handler_maps_levels(stdlib_logger, tt, log, number, level):
    stdlib_logger.addHandler(LogLayerHandler(log))
    stdlib_logger.log(number, "x")
    assert [entry.level for entry in tt.lines] == [level]


def test_handler_keeps_the_loggers_fields_and_adds_the_name(stdlib_logger, tt):
    stdlib_logger.addHandler(LogLayerHandler(LogLayer(transports=tt, fields={"app": "shop"})))
    stdlib_logger.info("x")
    assert tt.lines[0].data == {"app": "shop", "logger": stdlib_logger.name}


def test_handler_uses_the_ready_logger_at_each_record(stdlib_logger, captured):
    stdlib_logger.addHandler(LogLayerHandler())
    stdlib_logger.warning("to the ready logger")
    later = TestTransport("later")
    loglayer.configure(transports=later)
    stdlib_logger.warning("after configure")
    assert [e.messages for e in captured.lines] == [["to the ready logger"]]
    assert [e.messages for e in later.lines] == [["after configure"]]


def test_handler_formats_nothing_the_loglayer_level_filters(stdlib_logger, tt):
    class Counted:
        calls = 0

        def __str__(self):
            Counted.calls += 1
            return "counted"

    stdlib_logger.addHandler(LogLayerHandler(LogLayer(transports=tt, level="warn")))
    stdlib_logger.info("%s", Counted())
    assert Counted.calls == 0 and len(tt) == 0


def test_handler_level_applies(stdlib_logger, tt, log):
    stdlib_logger.addHandler(LogLayerHandler(log, level="WARNING"))
    stdlib_logger.info("dropped")
    stdlib_logger.warning("kept")
    assert [e.messages for e in tt.lines] == [["kept"]]


def test_a_message_that_cannot_be_formatted_never_raises(stdlib_logger, tt, log, capsys):
    stdlib_logger.addHandler(LogLayerHandler(log))
    stdlib_logger.info("%d items", "many")
    [entry] = tt.lines
    assert entry.messages[0].startswith("%d items [could not format with args ('many',)")
    assert capsys.readouterr().err == ""  # no "--- Logging error ---" either


def test_stack_info_and_capture_caller(stdlib_logger, tt, log):
    stdlib_logger.addHandler(LogLayerHandler(log, capture_caller=True))
    stdlib_logger.info("here", stack_info=True)
    metadata = tt.lines[0].metadata
    assert metadata["function"] == "test_stack_info_and_capture_caller"
    assert metadata["file"] == __file__ and isinstance(metadata["line"], int)
    assert metadata["stack"].startswith("Stack (most recent call last):")


def test_a_critical_record_flushes_the_transports(stdlib_logger):
    class Flushing(TestTransport):
        flushes = 0

        def flush(self):
            Flushing.flushes += 1

    stdlib_logger.addHandler(LogLayerHandler(LogLayer(transports=Flushing())))
    stdlib_logger.error("no flush")
    stdlib_logger.critical("flushed")
    assert Flushing.flushes == 1


def test_handler_validates_its_arguments():
    with pytest.raises(TypeError, match="log must be a LogLayer"):
        LogLayerHandler(object())
    with pytest.raises(TypeError, match="capture_caller"):
        LogLayerHandler(capture_caller=1)


@pytest.mark.slow
def test_basic_config_routes_a_whole_application_third_parties_included(tmp_path):
    """A real application process: its own loggers, ``logging.captureWarnings`` and
    asyncio's own debug log all reach loglayer's plugins and transports."""
    code = """
import asyncio, logging, warnings
import loglayer
from loglayer.stdlib import LogLayerHandler

log = loglayer.LogLayer(
    transports=loglayer.StructuredTransport(),
    plugins=[loglayer.data_hook("env", lambda params: {"env": "test"})])
logging.basicConfig(handlers=[LogLayerHandler(log)], level=logging.DEBUG)
logging.captureWarnings(True)

async def main():
    await asyncio.sleep(0)

asyncio.run(main(), debug=True)
logging.getLogger("thirdparty.db").info("connected to %s", "db1", extra={"pool": 3})
warnings.warn("old api", UserWarning)
logging.warning("root %s", "call")
log.flush()
"""
    env = dict(os.environ, PYTHONPATH=str(pathlib.Path(loglayer.__file__).parent.parent))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=env, cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    docs = [json.loads(line) for line in result.stdout.splitlines()]
    by_logger = {doc["logger"]: doc for doc in docs}
    assert all(doc["env"] == "test" for doc in docs)
    assert by_logger["thirdparty.db"]["msg"] == "connected to db1"
    assert by_logger["thirdparty.db"]["pool"] == 3
    assert by_logger["py.warnings"]["level"] == "warn"
    assert "old api" in by_logger["py.warnings"]["msg"]
    assert by_logger["root"]["msg"] == "root call"
    assert by_logger["asyncio"]["level"] == "debug"
    assert result.stderr == ""


# -- loglayer -> logging ---------------------------------------------------------------


def test_transport_writes_through_a_real_file_handler(stdlib_logger, tmp_path):
    path = tmp_path / "app.log"
    stdlib_logger.addHandler(_file_handler(
        path, "%(levelname)s|%(name)s|%(message)s|%(user)s|%(request_id)s|%(loglayer_data)s"))
    log = LogLayer(transports=StdlibTransport(stdlib_logger), prefix="[svc]")
    log.with_fields(request_id="r-1").with_metadata({"user": "ada"}).info("hello", 42)
    log.with_fields(request_id="r-2").with_metadata({"user": "bob"}).trace("details")
    log.with_fields(request_id="r-3").with_metadata({"user": "cy"}).fatal("down")
    stdlib_logger.handlers[0].close()
    lines = path.read_text("utf-8").splitlines()
    assert lines == [
        f"INFO|{stdlib_logger.name}|[svc] hello 42|ada|r-1|{{'request_id': 'r-1'}}",
        f"TRACE|{stdlib_logger.name}|[svc] details|bob|r-2|{{'request_id': 'r-2'}}",
        f"CRITICAL|{stdlib_logger.name}|[svc] down|cy|r-3|{{'request_id': 'r-3'}}",
    ]


def test_transport_passes_the_error_as_exc_info(stdlib_logger, tmp_path):
    path = tmp_path / "errors.log"
    stdlib_logger.addHandler(_file_handler(path, "%(levelname)s %(message)s"))
    log = LogLayer(transports=StdlibTransport(stdlib_logger))
    try:
        raise ZeroDivisionError("division by zero")
    except ZeroDivisionError:
        log.exception("failed")
    stdlib_logger.handlers[0].close()
    text = path.read_text("utf-8")
    assert text.startswith("ERROR failed\nTraceback (most recent call last):")
    assert "ZeroDivisionError: division by zero" in text


class Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_keys_that_clash_with_record_attributes_stay_under_the_loglayer_keys(stdlib_logger):
    recorder = Recorder()
    stdlib_logger.addHandler(recorder)
    log = LogLayer(transports=StdlibTransport(stdlib_logger), fields={"name": "field"})
    metadata = {"msg": "m", "message": "m2", "user": "ada", "loglayer_data": "spoof"}
    log.with_metadata(metadata).info("real message")
    [record] = recorder.records
    assert record.name == stdlib_logger.name and record.getMessage() == "real message"
    assert record.user == "ada"
    assert record.loglayer_data == {"name": "field"}
    assert record.loglayer_metadata == metadata
    assert record.loglayer_metadata is not metadata  # handlers get their own copy
    assert record.exc_info is None  # the call's place, not loglayer's frames:
    assert record.funcName == (
        "test_keys_that_clash_with_record_attributes_stay_under_the_loglayer_keys")
    assert record.pathname == __file__


def test_metadata_key_and_record_like_metadata(stdlib_logger):
    @dataclasses.dataclass
    class Order:
        order_id: int
        total: float

    recorder = Recorder()
    stdlib_logger.addHandler(recorder)
    plain = LogLayer(transports=StdlibTransport(stdlib_logger))
    keyed = LogLayer(transports=StdlibTransport(stdlib_logger), metadata_key="meta")
    plain.with_metadata(Order(7, 9.5)).info("dataclass")
    keyed.with_metadata({"user": "ada"}).info("keyed")
    plain.with_metadata(42).info("scalar")
    dataclass_record, keyed_record, scalar_record = recorder.records
    assert (dataclass_record.order_id, dataclass_record.total) == (7, 9.5)
    assert keyed_record.meta == {"user": "ada"} and not hasattr(keyed_record, "user")
    assert scalar_record.loglayer_metadata == 42


def test_the_target_loggers_level_and_the_transports_own_level(stdlib_logger):
    recorder = Recorder()
    stdlib_logger.addHandler(recorder)
    stdlib_logger.setLevel(logging.WARNING)
    log = LogLayer(transports=StdlibTransport(stdlib_logger))
    log.info("below the logger's level")
    log.warn("kept")
    log.set_transports(StdlibTransport(stdlib_logger, level="error"))
    log.warn("below the transport's level")
    assert [r.getMessage() for r in recorder.records] == ["kept"]


def test_transport_targets():
    registered = logging.getLogger("loglayer-bridge-tests.registered")
    by_name = StdlibTransport(registered.name, id="named")
    assert by_name.get_logger_instance() is registered
    assert StdlibTransport().get_logger_instance() is logging.getLogger()
    log = LogLayer(transports=by_name)
    assert log.get_logger_instance("named") is registered
    with pytest.raises(TypeError, match="logging.Logger"):
        StdlibTransport(42)


def test_flush_reaches_the_handlers(stdlib_logger):
    class Flushed(logging.Handler):
        flushes = 0

        def emit(self, record):
            pass

        def flush(self):
            Flushed.flushes += 1

    stdlib_logger.addHandler(Flushed())
    LogLayer(transports=StdlibTransport(stdlib_logger)).fatal("flushes")
    assert Flushed.flushes == 1


# -- both ways -------------------------------------------------------------------------


def test_stdlib_through_loglayer_plugins_back_into_a_stdlib_file(stdlib_logger, tmp_path):
    """An application logger -> LogLayerHandler -> loglayer plugins -> StdlibTransport ->
    another stdlib logger's FileHandler: the file shows what the plugins did."""
    sink = _private_logger("sink")
    path = tmp_path / "out.log"
    sink.addHandler(_file_handler(path, "%(levelname)s %(logger)s %(env)s %(message)s"))
    log = LogLayer(transports=StdlibTransport(sink),
                   plugins=[loglayer.data_hook("env", lambda params: {"env": "prod"})])
    stdlib_logger.addHandler(LogLayerHandler(log))
    try:
        stdlib_logger.warning("disk at %d%%", 91)
        stdlib_logger.debug("tick")
    finally:
        for handler in list(sink.handlers):
            sink.removeHandler(handler)
            handler.close()
    assert path.read_text("utf-8").splitlines() == [
        f"WARNING {stdlib_logger.name} prod disk at 91%",
        f"DEBUG {stdlib_logger.name} prod tick",
    ]


def test_a_loop_between_the_two_is_broken_on_the_same_thread(stdlib_logger, tmp_path, capsys):
    path = tmp_path / "loop.log"
    stdlib_logger.addHandler(_file_handler(path, "%(message)s"))
    log = LogLayer(transports=StdlibTransport(stdlib_logger))
    stdlib_logger.addHandler(LogLayerHandler(log))  # records go back into `log`
    log.info("from loglayer")
    log.info("again")
    stdlib_logger.warning("from logging")
    stdlib_logger.handlers[0].close()
    # the stdlib record is written directly, then once more after its trip through loglayer
    assert path.read_text("utf-8").splitlines() == [
        "from loglayer", "again", "from logging", "from logging"]
    err = capsys.readouterr().err
    assert err.count("LogLayerHandler dropped a record") == 1
    assert "while an entry was being dispatched" not in err


def test_a_loop_through_another_thread_is_broken_by_the_record_marker(stdlib_logger):
    """StdlibTransport -> QueueHandler -> QueueListener's thread -> LogLayerHandler -> the
    same loglayer logger: nothing on that thread says "inside a StdlibTransport", the
    record itself does."""
    counted = TestTransport("counted")
    log = LogLayer(transports=[StdlibTransport(stdlib_logger), counted])
    records: queue.SimpleQueue = queue.SimpleQueue()
    handler = LogLayerHandler(log)
    listener = logging.handlers.QueueListener(records, handler)
    stdlib_logger.addHandler(logging.handlers.QueueHandler(records))
    listener.start()
    try:
        log.info("once")
    finally:
        listener.stop()  # drains the queue and joins the thread
    assert [entry.messages for entry in counted.lines] == [["once"]]
    assert handler._loop_reported
