"""Drop-in: facade loggers are ``logging``'s own loggers (issue #16).

The tests that need a program as a user runs it (no pytest handlers on the root, the
stdlib's last resort in play) run a short script in a subprocess on the live core;
the others run in-process, on loggers that do not propagate to pytest's handlers.
"""

from __future__ import annotations

import itertools
import logging
import logging.config
import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

import loglayer
from loglayer import LogLayer, LogLevel
from loglayer.stdlib import LogLayerHandler, StdlibLogger, StdlibTransport, get_logger, install
from loglayer.testing import TestTransport

_names = itertools.count()
PACKAGE_ROOT = str(pathlib.Path(loglayer.__file__).resolve().parent.parent)


@pytest.fixture
def name() -> str:
    """A top-level logger name no other test uses: loggers live for the process."""
    return f"dropin{next(_names)}"


@pytest.fixture
def installed():
    """``install()`` for the test; the logger class is put back afterwards (the loggers
    it converted stay facade loggers, which behave as stdlib ones unless loglayer is
    configured)."""
    previous = logging.getLoggerClass()
    install()
    try:
        yield
    finally:
        logging.setLoggerClass(previous)


def run_program(source: str, tmp_path: pathlib.Path) -> subprocess.CompletedProcess:
    """Run ``source`` as a program on the live core; its output is returned."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (PACKAGE_ROOT, os.environ.get("PYTHONPATH", "")) if p))
    for variable in ("LOGLAYER_LEVEL", "LOGLAYER_FORMAT"):
        env.pop(variable, None)
    if not loglayer.COMPILED:
        env["LOGLAYER_NO_EXTENSIONS"] = "1"
    script = tmp_path / "program.py"
    script.write_text(textwrap.dedent(source), "utf-8")
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result


class Recorder(logging.Handler):
    def __init__(self, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


# -- one tree --------------------------------------------------------------------------


def test_install_makes_the_existing_loggers_and_the_root_facade_loggers(installed, name):
    logging.setLoggerClass(logging.Logger)
    before = logging.getLogger(f"{name}.made.before")
    before.setLevel(logging.ERROR)
    handler = Recorder()
    before.addHandler(handler)

    class Custom(logging.Logger):
        pass

    logging.setLoggerClass(Custom)
    custom = logging.getLogger(f"{name}.custom")
    assert type(before) is logging.Logger and type(custom) is Custom
    install()
    install()  # idempotent
    assert type(before) is StdlibLogger  # the same object, converted in place
    assert before.level == logging.ERROR and before.handlers == [handler]
    assert type(custom) is Custom  # another class is left as it is
    assert isinstance(logging.root, StdlibLogger) and isinstance(logging.root, logging.RootLogger)
    assert logging.getLoggerClass() is StdlibLogger
    after = logging.getLogger(f"{name}.made.after")
    assert type(after) is StdlibLogger
    for logger_name in (f"{name}.made.before", f"{name}.made.after", f"{name}.x.y"):
        assert logging.getLogger(logger_name) is get_logger(logger_name)
    assert get_logger() is logging.root is logging.getLogger()


def test_get_logger_without_install_converts_only_the_logger_it_returns(name):
    previous = logging.getLoggerClass()
    logging.setLoggerClass(logging.Logger)
    try:
        plain = logging.getLogger(f"{name}.plain")
        child = logging.getLogger(f"{name}.plain.child")
        facade = get_logger(f"{name}.plain.child")
    finally:
        logging.setLoggerClass(previous)
    assert facade is child and type(facade) is StdlibLogger
    assert type(plain) is logging.Logger and facade.parent is plain


def test_set_logger_class_alone_works_from_the_first_call(tmp_path):
    result = run_program("""
        import logging, sys
        from loglayer.stdlib import StdlibLogger
        logging.setLoggerClass(StdlibLogger)
        logger = logging.getLogger("app")
        assert type(logger) is StdlibLogger and type(logging.root) is logging.RootLogger
        logger.warning("first call")
        logger.info("below the root's WARNING")
        logging.basicConfig(stream=sys.stdout, format="%(name)s:%(funcName)s:%(message)s")
        def where():
            logger.error("after basicConfig")
        where()
    """, tmp_path)
    assert result.stderr == "first call\n"
    assert result.stdout == "app:where:after basicConfig\n"


# -- stdlib configuration applies as to any stdlib logger -------------------------------


def test_no_configuration_prints_what_the_stdlib_prints(tmp_path):
    source = """
        import logging
        from loglayer.stdlib import get_logger, install
        {install}
        logger = {get}("app")
        logger.debug("debug"); logger.info("info"); logger.warning("warning %s", 1)
        logger.error("error"); logger.critical("critical")
        logging.getLogger("app.sub").info("sub info"); logging.getLogger("app.sub").error("sub")
    """
    stdlib = run_program(source.format(install="", get="logging.getLogger"), tmp_path)
    facade = run_program(source.format(install="install()", get="get_logger"), tmp_path)
    assert stdlib.stderr == "warning 1\nerror\ncritical\nsub\n"
    assert facade.stderr == stdlib.stderr and facade.stdout == stdlib.stdout == ""


def test_basic_config_level_and_file_reach_facade_loggers_made_before_it(tmp_path):
    result = run_program("""
        import logging
        from loglayer.stdlib import get_logger, install
        install()
        early = get_logger("app.early")
        logging.basicConfig(filename="app.log", level=logging.WARNING,
                            format="%(levelname)s %(name)s %(funcName)s %(message)s")
        def handler():
            early.info("filtered")
            early.warning("kept %s", "here")
            logging.getLogger("app.late").error("late")
        handler()
    """, tmp_path)
    assert result.stderr == ""
    assert (tmp_path / "app.log").read_text("utf-8") == (
        "WARNING app.early handler kept here\nERROR app.late handler late\n")


def test_dict_config_levels_handlers_filters_and_disable_existing_loggers(tmp_path):
    result = run_program("""
        import logging, logging.config
        from loglayer.stdlib import get_logger, install
        install()
        old = get_logger("old")  # made before the configuration, not named in it
        app = get_logger("app")
        logging.config.dictConfig({
            "version": 1,
            "filters": {"no_noise": {"()": "logging.Filter", "name": "app.db"}},
            "formatters": {"plain": {"format": "%(name)s %(levelname)s %(message)s"}},
            "handlers": {"out": {"class": "logging.StreamHandler", "stream": "ext://sys.stdout",
                                 "formatter": "plain", "filters": ["no_noise"]}},
            "loggers": {"app": {"level": "WARNING", "handlers": ["out"], "propagate": False}},
        })
        assert old.disabled and not app.disabled and app.level == logging.WARNING
        old.critical("old is disabled")
        app.info("below WARNING")
        app.warning("filtered out by the handler's filter")
        get_logger("app.db").warning("db %s", "slow")
        logging.disable(logging.ERROR)
        get_logger("app.db").error("disabled globally")
        logging.disable(logging.NOTSET)
        get_logger("app.db").error("enabled again")
    """, tmp_path)
    assert result.stdout == "app.db WARNING db slow\napp.db ERROR enabled again\n"
    assert result.stderr == ""


def test_file_config_applies_to_facade_loggers(tmp_path):
    (tmp_path / "logging.ini").write_text(textwrap.dedent("""
        [loggers]
        keys=root,app
        [handlers]
        keys=out
        [formatters]
        keys=plain
        [logger_root]
        level=CRITICAL
        handlers=
        [logger_app]
        level=INFO
        handlers=out
        qualname=app
        propagate=0
        [handler_out]
        class=StreamHandler
        args=(sys.stdout,)
        formatter=plain
        [formatter_plain]
        format=%(levelname)s:%(name)s:%(message)s
    """), "utf-8")
    result = run_program("""
        import logging.config
        from loglayer.stdlib import get_logger, install
        install()
        before = get_logger("before")
        logging.config.fileConfig("logging.ini")
        before.critical("disabled: fileConfig disables existing loggers")
        get_logger("app.web").debug("below INFO")
        get_logger("app.web").info("served")
    """, tmp_path)
    assert result.stdout == "INFO:app.web:served\n" and result.stderr == ""


def test_a_handler_on_a_facade_logger_prints_each_call_once(tmp_path):
    result = run_program("""
        import logging, sys
        from loglayer.stdlib import get_logger
        logger = get_logger("app")
        logger.addHandler(logging.StreamHandler(sys.stdout))
        logger.warning("once")
        logger.error("and once %s", "more")
    """, tmp_path)
    assert result.stdout == "once\nand once more\n" and result.stderr == ""


def test_configured_loglayer_receives_what_reaches_the_root_next_to_its_handlers(tmp_path):
    result = run_program("""
        import json, logging, sys
        import loglayer
        from loglayer.stdlib import get_logger, install
        install(loglayer.StructuredTransport(sys.stdout), root_level="INFO")
        logging.basicConfig(stream=sys.stderr, format="%(levelname)s %(message)s")
        get_logger("app").info("to both", extra={"user": "ada"})
        quiet = get_logger("quiet")
        quiet.propagate = False
        quiet.warning("stops before the root: neither, so the last resort")
    """, tmp_path)
    [line] = result.stdout.splitlines()
    assert '"to both"' in line and '"user": "ada"' in line.replace('":"', '": "')
    assert result.stderr == (
        "INFO to both\nstops before the root: neither, so the last resort\n")


# -- one rule: a LogRecord only for a handler that needs one ----------------------------


@pytest.fixture
def record_count():
    """How many LogRecords were built during the test (through the public factory)."""
    built = []
    factory = logging.getLogRecordFactory()

    def counting(*args, **kwargs):
        built.append(args[0])
        return factory(*args, **kwargs)

    logging.setLogRecordFactory(counting)
    try:
        yield built
    finally:
        logging.setLogRecordFactory(factory)


@pytest.mark.parametrize("kind", ["facade", "stdlib"])
def test_a_record_is_built_only_when_a_handler_needs_one(record_count, name, kind):
    tt = TestTransport("routed")
    if kind == "facade":
        logger = get_logger(name)
    else:
        logging.setLoggerClass(logging.Logger)
        logger = logging.getLogger(name)
        assert type(logger) is logging.Logger
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(LogLayerHandler(LogLayer(transports=tt)))
    logger.info("one %s", "entry", extra={"user": "ada"})
    assert [entry.messages for entry in tt.lines] == [["one entry"]]
    assert tt.lines[0].metadata == {"user": "ada"}
    assert len(record_count) == (0 if kind == "facade" else 1)
    recorder = Recorder()
    logger.addHandler(recorder)
    logger.info("now a handler needs it")
    assert len(record_count) == (1 if kind == "facade" else 2)
    assert len(recorder.records) == 1 and len(tt) == 2
    assert tt.lines[1].messages == ["now a handler needs it"]


def test_handlers_get_the_record_the_stdlib_would_build(name):
    plain_logger = logging.Logger(f"{name}-plain")  # outside the tree: no propagation
    facade = StdlibLogger(f"{name}-facade")
    records = []
    for logger in (plain_logger, facade):
        recorder = Recorder()
        logger.addHandler(recorder)
        logger.setLevel(logging.DEBUG)
        try:
            raise KeyError("k")
        except KeyError:
            logger.error("failed %s", "op", exc_info=True, stack_info=True,
                         extra={"user": "ada"})
        records.append(recorder.records[0])
    plain, built = records
    for attribute in ("levelno", "levelname", "msg", "args", "pathname", "filename",
                      "module", "funcName", "lineno", "stack_info", "user"):
        assert getattr(built, attribute) == getattr(plain, attribute), attribute
    assert built.name == f"{name}-facade"
    assert built.exc_info[0] is KeyError and built.exc_info[1] is not plain.exc_info[1]
    assert built.pathname == __file__
    assert built.funcName == "test_handlers_get_the_record_the_stdlib_would_build"


def test_loglayer_and_a_handler_each_get_the_call_once(name):
    tt = TestTransport("both")
    logger = get_logger(name)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    recorder = Recorder()
    logger.addHandler(recorder)
    logger.addHandler(LogLayerHandler(LogLayer(transports=tt), capture_caller=True))
    logger.warning("once each", extra={"k": 1})
    [record] = recorder.records
    [entry] = tt.lines
    assert record.getMessage() == entry.messages[0] == "once each"
    assert entry.metadata["k"] == 1 and entry.metadata["line"] == record.lineno
    assert entry.data == {"logger": name}


def test_filters_and_handler_levels_apply_on_the_native_route(name):
    tt = TestTransport("native")
    logger = get_logger(name)
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    route = LogLayerHandler(LogLayer(transports=tt), level=logging.WARNING)
    logger.addHandler(route)
    logger.info("below the handler's level")
    logger.warning("kept")
    route.addFilter(lambda record: "secret" not in record.getMessage())
    logger.error("a secret")
    logger.error("public")
    assert [entry.messages[0] for entry in tt.lines] == ["kept", "public"]


# -- custom levels ------------------------------------------------------------------------


@pytest.fixture
def notice():
    logging.addLevelName(25, "NOTICE")
    try:
        yield 25
    finally:
        logging.addLevelName(25, "Level 25")


@pytest.mark.parametrize("kind", ["facade", "handler on a stdlib logger"])
def test_a_custom_level_keeps_its_number_and_name_through_both_bridges(notice, name, kind):
    target = logging.Logger(f"{name}-target")  # outside the tree
    recorder = Recorder()
    target.addHandler(recorder)
    tt = TestTransport("custom")
    log = LogLayer(transports=[tt, StdlibTransport(target)])
    if kind == "facade":
        source = get_logger(f"{name}-source")
        source.propagate = False
    else:
        source = logging.Logger(f"{name}-source")
    source.setLevel(logging.DEBUG)
    source.addHandler(LogLayerHandler(log))
    source.log(notice, "a notice")
    source.log(logging.WARNING, "a warning")
    notice_entry, warning_entry = tt.lines
    assert notice_entry.level == LogLevel.INFO  # LogLevel stays the six named levels
    assert notice_entry.data == {"logger": f"{name}-source", "levelno": 25,
                                 "levelname": "NOTICE"}
    assert warning_entry.data == {"logger": f"{name}-source"}
    assert [(r.levelno, r.levelname, r.name) for r in recorder.records] == [
        (25, "NOTICE", f"{name}-source"), (30, "WARNING", f"{name}-source")]


def test_a_level_hook_that_changes_the_level_wins_over_the_carried_number(notice, name):
    target = logging.Logger(f"{name}-target")
    recorder = Recorder()
    target.addHandler(recorder)
    log = LogLayer(transports=StdlibTransport(target),
                   plugins=[loglayer.level_hook("up", lambda params: LogLevel.ERROR)])
    source = get_logger(name)
    source.propagate = False
    source.setLevel(logging.DEBUG)
    source.addHandler(LogLayerHandler(log))
    source.log(notice, "raised by a plugin")
    assert [r.levelno for r in recorder.records] == [logging.ERROR]


# -- install's arguments ------------------------------------------------------------------


def test_install_validates_before_changing_anything():
    previous = logging.getLoggerClass()
    with pytest.raises(ValueError, match="root_level"):
        install(root_level="LOUDEST")
    with pytest.raises(TypeError, match="transports"):
        install(transports=[object()])
    assert logging.getLoggerClass() is previous
