"""pytest's ``caplog`` sees facade loggers and ``StdlibTransport`` records (issue #16)."""

from __future__ import annotations

import itertools
import logging
import sys

import pytest

from loglayer import LogLayer
from loglayer.stdlib import StdlibTransport, get_logger

_names = itertools.count()


@pytest.fixture
def name() -> str:
    return f"caplogged{next(_names)}"


def _raise() -> None:
    raise ValueError("bad input")


def test_caplog_records_facade_calls_with_level_message_extra_exception_and_place(
        caplog, name):
    logger = get_logger(name)
    caplog.set_level(logging.INFO, logger=name)
    logger.debug("below the level caplog set")
    logger.info("user %s logged in", "ada", extra={"user": "ada", "attempts": 3})
    try:
        _raise()
    except ValueError:
        logger.exception("lookup failed")
        failed_line = sys._getframe().f_lineno - 1
    info, error = caplog.records
    assert (info.name, info.levelno, info.getMessage()) == (name, logging.INFO,
                                                            "user ada logged in")
    assert info.user == "ada" and info.attempts == 3
    assert info.pathname == __file__ and info.funcName == (
        "test_caplog_records_facade_calls_with_level_message_extra_exception_and_place")
    assert error.levelname == "ERROR" and error.exc_info[0] is ValueError
    assert error.lineno == failed_line
    assert "ValueError: bad input" in caplog.text
    assert caplog.record_tuples == [(name, logging.INFO, "user ada logged in"),
                                    (name, logging.ERROR, "lookup failed")]


def test_caplog_at_level_and_set_level_work_on_facade_loggers(caplog, name):
    logger = get_logger(name)
    logger.setLevel(logging.WARNING)
    logger.info("hidden")
    with caplog.at_level(logging.DEBUG, logger=name):
        assert logger.getEffectiveLevel() == logging.DEBUG
        logger.debug("seen at DEBUG")
    assert logger.level == logging.WARNING  # restored by caplog
    logger.info("hidden again")
    caplog.set_level(logging.INFO, logger=name)
    logger.info("seen at INFO")
    assert caplog.messages == ["seen at DEBUG", "seen at INFO"]


def test_caplog_records_stdlib_transport_entries_with_the_callers_place_and_name(caplog, name):
    caplog.set_level(logging.DEBUG)
    log = LogLayer(transports=StdlibTransport(name)).with_fields(request_id="r-1")

    def charge() -> None:
        log.with_metadata({"amount": 12}).warn("card declined")
        log.with_fields(logger=f"{name}.payments").error("gave up")

    charge()
    warned, failed = caplog.records
    assert (warned.name, warned.levelno, warned.getMessage()) == (
        name, logging.WARNING, "card declined")
    assert warned.request_id == "r-1" and warned.amount == 12
    assert warned.pathname == __file__ and warned.funcName == "charge"
    assert warned.lineno == charge.__code__.co_firstlineno + 1
    assert failed.name == f"{name}.payments"  # the emitting logger's name
    assert failed.lineno == charge.__code__.co_firstlineno + 2
    assert f"test_caplog.py:{warned.lineno} card declined" in caplog.text


def test_a_named_loglayer_logger_names_its_records(caplog, name):
    caplog.set_level(logging.DEBUG)
    log = LogLayer(transports=StdlibTransport(name), name=f"{name}.billing")
    log.child().with_fields(order=7).info("invoiced")
    [record] = caplog.records
    assert record.name == f"{name}.billing" and record.order == 7
    assert log.name == f"{name}.billing"
    assert caplog.record_tuples == [(f"{name}.billing", logging.INFO, "invoiced")]


def test_caplog_records_stdlib_transport_exceptions(caplog, name):
    caplog.set_level(logging.DEBUG)
    log = LogLayer(transports=StdlibTransport(name))
    try:
        _raise()
    except ValueError as exc:
        log.with_error(exc).error("failed")
    [record] = caplog.records
    assert record.exc_info[0] is ValueError and "in _raise" in caplog.text


def test_a_facade_logger_through_a_loglayer_logger_into_caplog(caplog, name):
    """logging -> loglayer (LogLayerHandler) -> logging (StdlibTransport): the record
    caplog sees names the facade logger and the original call's place."""
    from loglayer.stdlib import LogLayerHandler

    target = f"{name}.sink"
    caplog.set_level(logging.DEBUG, logger=target)
    source = get_logger(f"{name}.source")
    source.propagate = False
    source.setLevel(logging.DEBUG)
    source.addHandler(LogLayerHandler(LogLayer(transports=StdlibTransport(target))))
    source.info("through loglayer")
    [record] = caplog.records
    assert record.name == f"{name}.source" and record.getMessage() == "through loglayer"
    assert record.funcName == "test_a_facade_logger_through_a_loglayer_logger_into_caplog"
