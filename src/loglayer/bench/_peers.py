"""The peers' setups: the stdlib ``logging``, structlog, loguru and picologging.

Each peer is set up the way its documentation recommends for speed, and logs with its
idiomatic statement. Every library is imported lazily, inside its setup, so a missing
peer is skipped with a note rather than failing the run. The JSON documents all carry
the same things as loglayer's: an epoch timestamp, the level, the message and the
fields (S5: the exception with its formatted traceback), serialized with orjson.
"""

from __future__ import annotations

import itertools
import queue
import sys
import traceback
from typing import Any

from ._scenarios import (
    BOUND,
    CALL_FIELDS,
    FIELDS,
    LOGLAYER_ONLY,
    MESSAGE,
    Case,
    Library,
    LogFile,
    Unavailable,
    case_id,
    kwargs_source,
    literal_source,
    queue_case,
    raise_through_frames,
    s5_statement,
)

__all__ = ["peer_libraries"]

_names = itertools.count()


def _require(module: str) -> Any:
    """Import ``module`` or raise ``Unavailable`` saying it is not installed."""
    try:
        return __import__(module)
    except ImportError as exc:
        raise Unavailable(f"{module} is not installed ({exc})") from exc


def _dist_version(dist: str) -> str:
    """The installed version of a distribution, or ``Unavailable``."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError as exc:
        raise Unavailable(f"{dist} is not installed") from exc


# ---------------------------------------------------------------------------------------
# stdlib logging


def _stdlib_json_formatter(logging: Any, orjson: Any) -> Any:
    """A ``logging.Formatter`` that renders a record and its ``extra=`` keys with orjson.

    ``extra=`` keys land as attributes of the record, so they are found the way JSON
    formatters for the stdlib find them: every attribute that a bare ``LogRecord`` does
    not have. The reserved set is computed once.
    """
    reserved = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None)))
    reserved |= {"message", "asctime"}

    class OrjsonFormatter(logging.Formatter):
        """Render time, level, message, the ``extra=`` fields and the traceback as JSON."""

        def format(self, record: Any) -> str:
            doc = {"time": record.created, "level": record.levelname,
                   "msg": record.getMessage()}
            for key, value in record.__dict__.items():
                if key not in reserved:
                    doc[key] = value
            if record.exc_info:
                doc["exc_info"] = self.formatException(record.exc_info)
            return orjson.dumps(doc).decode()

    return OrjsonFormatter()


#: S14's line format for the stdlib: the caller's place, then the message.
_CALLSITE_FORMAT = "%(levelname)s %(pathname)s:%(lineno)d %(funcName)s %(message)s"


def _stdlib_setup(sid: str, sink: Any, binary_sink: Any) -> Case:
    """stdlib: a ``Logger`` with a ``StreamHandler`` on the sink; JSON via orjson.

    S12 puts a ``FileHandler`` in its place; S13 puts a ``QueueHandler`` on the logger
    and the ``StreamHandler`` behind a ``QueueListener`` (the stdlib's documented queue
    set-up, with an unbounded ``queue.Queue(-1)``).
    """
    import logging
    import logging.handlers

    sid = case_id(sid)
    if sid in LOGLAYER_ONLY:
        raise Unavailable("no plugin pipeline")
    logger = logging.getLogger(f"loglayer.bench.stdlib.{sid}.{next(_names)}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    if sid in ("S1", "S2"):
        formatter = logging.Formatter("%(levelname)s %(message)s")
        note = 'Formatter("%(levelname)s %(message)s")'
    elif sid == "S14":
        formatter = logging.Formatter(_CALLSITE_FORMAT)
        note = f"Formatter({_CALLSITE_FORMAT!r}): findCaller, as on every call"
    else:
        formatter = _stdlib_json_formatter(logging, _require("orjson"))
        note = "Formatter subclass: record + extra= fields via orjson"
    file = LogFile("stdlib") if sid == "S12" else None
    handler = (logging.FileHandler(file.path, encoding="utf-8") if file is not None
               else logging.StreamHandler(sink))
    handler.setFormatter(formatter)
    listener = None
    if sid == "S13":
        records: queue.Queue[Any] = queue.Queue(-1)
        listener = logging.handlers.QueueListener(records, handler)
        listener.start()
        front: Any = logging.handlers.QueueHandler(records)
    else:
        front = handler
    logger.addHandler(front)

    def teardown() -> None:
        logger.removeHandler(front)
        if listener is not None:
            listener.stop()
        handler.close()

    ns: dict[str, Any] = {"logger": logger}
    s3 = f"logger.info({MESSAGE!r}, extra={literal_source(FIELDS)})"
    if file is not None:
        return file.case(s3, ns, note + "; FileHandler (flushes after every record)",
                         teardown, handler.flush)
    if listener is not None:
        return queue_case(s3, ns, note + " behind QueueListener; QueueHandler on the logger "
                          "(formats the message and copies the record in the caller)",
                          sink, records.join, teardown)
    if sid == "S1":
        stmt = f"logger.debug({MESSAGE!r})"
        note = "disabled by the logger's level"
    elif sid in ("S2", "S14"):
        stmt = f"logger.info({MESSAGE!r})"
    elif sid == "S3":
        stmt = s3
    elif sid == "S4":
        if sys.version_info >= (3, 13):
            adapter = logging.LoggerAdapter(logger, dict(BOUND), merge_extra=True)
            how = "LoggerAdapter(merge_extra=True)"
        else:
            adapter = _merging_adapter(logging)(logger, dict(BOUND))
            how = "LoggerAdapter subclass merging extra= (merge_extra is 3.13+)"
        ns = {"logger": adapter}
        stmt = f"logger.info({MESSAGE!r}, extra={literal_source(CALL_FIELDS)})"
        note += f"; {how}"
    elif sid == "S5":
        stmt = s5_statement('logger.exception("failed")', bind=False)
        ns["raise_through_frames"] = raise_through_frames
        note = "orjson Formatter subclass, traceback via formatException"
    elif sid == "S7a":
        ns["LoggerAdapter"] = logging.LoggerAdapter
        stmt = 'LoggerAdapter(logger, {"a": 1})'
        note = "LoggerAdapter creation"
    elif sid == "S7b":
        ns["LoggerAdapter"] = logging.LoggerAdapter
        stmt = "LoggerAdapter(logger, {})"
        note = "LoggerAdapter creation (getChild() returns a cached logger, not a new one)"
    else:
        teardown()
        raise Unavailable(f"no stdlib setup for {sid}")
    return Case(stmt, ns, note, teardown)


def _merging_adapter(logging: Any) -> type:
    """A ``LoggerAdapter`` that merges its bound ``extra`` with the call's, as 3.13 can."""

    class MergingAdapter(logging.LoggerAdapter):
        """Bound fields first, the call's ``extra=`` over them."""

        def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
            extra = kwargs.get("extra")
            kwargs["extra"] = {**self.extra, **extra} if extra else self.extra
            return msg, kwargs

    return MergingAdapter


# ---------------------------------------------------------------------------------------
# structlog


def _structlog_setup(sid: str, sink: Any, binary_sink: Any) -> Case:
    """structlog, its documented fast setup, without touching its global configuration.

    ``make_filtering_bound_logger`` (a disabled level is a no-op method), processors
    ``add_log_level``, ``format_exc_info``, ``TimeStamper(fmt=None)`` (a Unix epoch
    float, like the other JSON contenders) and ``JSONRenderer(serializer=orjson.dumps)``
    into a ``BytesLogger``. ``wrap_logger`` instead of ``configure`` keeps each scenario's
    setup private. The proxy it returns is materialized with ``bind()``, as structlog's
    performance notes recommend for a logger used in a hot loop. ``merge_contextvars`` is
    left out: nobody else merges context variables here. Plain text (S1, S2) uses
    ``KeyValueRenderer`` into a ``WriteLogger``: the fastest of structlog's own text
    renderers (``ConsoleRenderer(colors=False)`` pads and orders, and is slower).
    """
    structlog = _require("structlog")
    import logging

    sid = case_id(sid)
    if sid in LOGLAYER_ONLY:
        raise Unavailable("no plugin pipeline")
    if sid == "S13":
        raise Unavailable("no queue handler of its own; it would hand its entries to the "
                          "stdlib's QueueHandler")
    wrapper = structlog.make_filtering_bound_logger(logging.INFO)
    p = structlog.processors
    file = None
    if sid == "S12":
        file = LogFile("structlog")
        binary_sink = open(file.path, "ab")  # noqa: SIM115 - closed by the case's teardown
    if sid in ("S1", "S2"):
        proxy = structlog.wrap_logger(
            structlog.WriteLogger(sink),
            processors=[p.add_log_level, p.KeyValueRenderer()],
            wrapper_class=wrapper, cache_logger_on_first_use=True)
        note = "KeyValueRenderer into WriteLogger"
    elif sid == "S14":
        site = p.CallsiteParameter
        proxy = structlog.wrap_logger(
            structlog.WriteLogger(sink),
            processors=[p.add_log_level,
                        p.CallsiteParameterAdder({site.PATHNAME, site.LINENO,
                                                  site.FUNC_NAME}),
                        p.KeyValueRenderer()],
            wrapper_class=wrapper, cache_logger_on_first_use=True)
        note = ("CallsiteParameterAdder({PATHNAME, LINENO, FUNC_NAME}), KeyValueRenderer "
                "into WriteLogger")
    else:
        orjson = _require("orjson")
        proxy = structlog.wrap_logger(
            structlog.BytesLogger(binary_sink),
            processors=[p.add_log_level, p.format_exc_info, p.TimeStamper(fmt=None),
                        p.JSONRenderer(serializer=orjson.dumps)],
            wrapper_class=wrapper, cache_logger_on_first_use=True)
        note = "JSONRenderer(orjson.dumps) into BytesLogger"
    log = proxy.bind()
    if sid == "S1":
        return Case(f"log.debug({MESSAGE!r})", {"log": log}, "make_filtering_bound_logger")
    if sid in ("S2", "S14"):
        return Case(f"log.info({MESSAGE!r})", {"log": log}, note)
    if sid == "S3":
        return Case(f"log.info({MESSAGE!r}, {kwargs_source(FIELDS)})", {"log": log}, note)
    if file is not None:
        return file.case(f"log.info({MESSAGE!r}, {kwargs_source(FIELDS)})", {"log": log},
                         note + ' on open(path, "ab") (flushes after every entry)',
                         binary_sink.close)
    if sid == "S4":
        return Case(f"log.info({MESSAGE!r}, {kwargs_source(CALL_FIELDS)})",
                    {"log": log.bind(**BOUND)}, note + "; bind(**3 fields) at setup")
    if sid == "S5":
        return Case(s5_statement('log.exception("failed")', bind=False),
                    {"log": log, "raise_through_frames": raise_through_frames},
                    note + "; format_exc_info")
    if sid == "S7a":
        return Case("log.bind(a=1)", {"log": log})
    if sid == "S7b":
        return Case("log.bind()", {"log": log})
    raise Unavailable(f"no structlog setup for {sid}")


# ---------------------------------------------------------------------------------------
# loguru


def _loguru_json(orjson: Any) -> tuple[Any, Any]:
    """loguru's documented JSON recipe: a patcher serializes, the format prints it.

    The patcher stores the orjson document in ``record["extra"]["serialized"]`` and the
    format function returns ``"{extra[serialized]}\\n"``. A format *function* gets no
    automatic ``{exception}``, so the patcher puts the formatted traceback inside the
    document, as the other contenders do.
    """

    def patch(record: Any) -> None:
        doc = {"time": record["time"].timestamp(), "level": record["level"].name,
               "msg": record["message"]}
        doc.update(record["extra"])
        exc = record["exception"]
        if exc is not None:
            doc["exception"] = "".join(
                traceback.format_exception(exc.type, exc.value, exc.traceback))
        record["extra"]["serialized"] = orjson.dumps(doc).decode()

    def fmt(record: Any) -> str:
        return "{extra[serialized]}\n"

    return patch, fmt


def _loguru_setup(sid: str, sink: Any, binary_sink: Any) -> Case:
    """loguru: its global logger, reconfigured for this scenario and restored after.

    loguru has one global logger, so its handlers are removed first (the default one on
    stderr included) and the scenario's handler is removed at teardown. The handler is
    added with ``colorize=False, backtrace=False, diagnose=False``: loguru's advice for
    production (``diagnose`` inspects variables in every frame and is much slower).
    """
    _require("loguru")
    from loguru import logger

    sid = case_id(sid)
    if sid in LOGLAYER_ONLY:
        raise Unavailable("no plugin pipeline")
    logger.remove()
    if sid in ("S7a", "S7b"):
        stmt = "logger.bind(a=1)" if sid == "S7a" else "logger.bind()"
        return Case(stmt, {"logger": logger})
    log = logger
    file = LogFile("loguru") if sid == "S12" else None
    if sid in ("S1", "S2", "S14"):
        fmt = ("{level} {file.path}:{line} {function} {message}" if sid == "S14"
               else "{level} {message}")
        handler_id = logger.add(sink, format=fmt, level="INFO",
                                colorize=False, backtrace=False, diagnose=False)
        note = f"format={fmt!r}"
    else:
        orjson = _require("orjson")
        patch, fmt = _loguru_json(orjson)
        handler_id = logger.add(file.path if file is not None else sink, format=fmt,
                                level="INFO", colorize=False, backtrace=False, diagnose=False,
                                enqueue=sid == "S13")
        log = logger.patch(patch)
        note = "patcher + format function, orjson"

    def teardown() -> None:
        logger.remove(handler_id)

    ns: dict[str, Any] = {"logger": log}
    s3 = f"logger.info({MESSAGE!r}, {kwargs_source(FIELDS)})"
    if file is not None:
        return file.case(s3, ns, note + "; logger.add(path): its file sink, line-buffered "
                         "(one write per entry)", teardown)
    if sid == "S13":

        def drain() -> None:
            logger.complete()  # waits for the writer thread; its awaitable is for asyncio

        return queue_case(s3, ns, note + "; enqueue=True (formats in the caller, pickles the "
                          "message into a multiprocessing SimpleQueue; logger.complete() "
                          "drains)", sink, drain, teardown)
    if sid == "S1":
        stmt = f"logger.debug({MESSAGE!r})"
        note = "handler level INFO"
    elif sid in ("S2", "S14"):
        stmt = f"logger.info({MESSAGE!r})"
    elif sid == "S3":
        stmt = s3
        note += "; fields as keyword arguments (into record['extra'])"
    elif sid == "S4":
        ns = {"logger": log.bind(**BOUND)}
        stmt = f"logger.info({MESSAGE!r}, {kwargs_source(CALL_FIELDS)})"
        note += "; bind(**3 fields) at setup"
    elif sid == "S5":
        stmt = s5_statement('logger.exception("failed")', bind=False)
        ns["raise_through_frames"] = raise_through_frames
        note += "; traceback formatted into the document by the patcher"
    else:
        teardown()
        raise Unavailable(f"no loguru setup for {sid}")
    return Case(stmt, ns, note, teardown)


# ---------------------------------------------------------------------------------------
# picologging


def _pico_json_formatter(picologging: Any, orjson: Any) -> Any:
    """A picologging ``Formatter`` rendering a dict passed as the single log argument.

    picologging drops ``extra=``, so the fields travel as the call's one argument
    (``logger.info(msg, fields)``, which becomes ``record.args``). The message has no
    ``%`` placeholders, so ``record.msg`` is the message as is.
    """

    class PicoJsonFormatter(picologging.Formatter):
        """Render time, level, message, the args dict and the traceback as JSON."""

        def format(self, record: Any) -> str:
            doc = {"time": record.created, "level": record.levelname, "msg": record.msg}
            args = record.args
            if isinstance(args, dict):
                doc.update(args)
            if record.exc_info:
                doc["exc_info"] = self.formatException(record.exc_info)
            return orjson.dumps(doc).decode()

    return PicoJsonFormatter()


def _picologging_setup(sid: str, sink: Any, binary_sink: Any) -> Case:
    """picologging: the stdlib API in C, with a ``StreamHandler`` on the sink."""
    picologging = _require("picologging")
    if sid == "S11":
        raise Unavailable("deadlocks with two threads (picologging issue #207): a thread "
                          "waits for the handler's C lock holding the GIL, while the lock's "
                          "holder needs the GIL for the Python JSON Formatter")
    sid = case_id(sid)
    if sid in LOGLAYER_ONLY:
        raise Unavailable("no plugin pipeline")
    if sid in ("S7a", "S7b"):
        raise Unavailable("picologging has no LoggerAdapter or bind()")
    if sid == "S14":
        raise Unavailable("its findCaller reports the caller's caller: %(lineno)d and "
                          "%(funcName)s name the frame one call further out than the "
                          "logging call (picologging 0.9.3)")
    if sid == "S13":
        raise Unavailable("its QueueHandler rebuilds the record without its args, and "
                          "picologging carries the fields in the args since it drops extra=")
    logger = picologging.getLogger(f"loglayer.bench.picologging.{sid}.{next(_names)}")
    logger.propagate = False
    logger.setLevel(picologging.INFO)
    file = LogFile("picologging") if sid == "S12" else None
    handler = (picologging.FileHandler(file.path, encoding="utf-8") if file is not None
               else picologging.StreamHandler(sink))
    if sid in ("S1", "S2"):
        handler.setFormatter(picologging.Formatter("%(levelname)s %(message)s"))
        note = 'Formatter("%(levelname)s %(message)s")'
    else:
        orjson = _require("orjson")
        handler.setFormatter(_pico_json_formatter(picologging, orjson))
        note = "fields passed as one args dict (picologging drops extra=); orjson Formatter"
    logger.addHandler(handler)

    def teardown() -> None:
        logger.removeHandler(handler)

    ns: dict[str, Any] = {"logger": logger}
    s3 = f"logger.info({MESSAGE!r}, {literal_source(FIELDS)})"
    if file is not None:

        def close() -> None:
            teardown()
            handler.close()

        return file.case(s3, ns, note + "; FileHandler", close, handler.flush)
    if sid == "S1":
        stmt = f"logger.debug({MESSAGE!r})"
        note = "disabled by the logger's level"
    elif sid == "S2":
        stmt = f"logger.info({MESSAGE!r})"
    elif sid == "S3":
        stmt = s3
    elif sid == "S4":
        ns["bound"] = dict(BOUND)
        stmt = f"logger.info({MESSAGE!r}, {{**bound, {literal_source(CALL_FIELDS)[1:-1]}}})"
        note += "; no bind/adapter: the 3 bound fields are merged per call"
    elif sid == "S5":
        stmt = s5_statement('logger.exception("failed")', bind=False)
        ns["raise_through_frames"] = raise_through_frames
        note = "orjson Formatter, traceback via formatException"
    else:
        teardown()
        raise Unavailable(f"no picologging setup for {sid}")
    return Case(stmt, ns, note, teardown)


def peer_libraries() -> list[Library]:
    """The peers, in table order: stdlib, structlog, loguru, picologging."""
    import platform

    return [
        Library("stdlib logging", "stdlib", True, _stdlib_setup,
                lambda: f"Python {platform.python_version()}"),
        Library("structlog", "structlog", True, _structlog_setup,
                lambda: _dist_version("structlog")),
        Library("loguru", "loguru", True, _loguru_setup, lambda: _dist_version("loguru")),
        Library("picologging", "picologging", True, _picologging_setup,
                lambda: _dist_version("picologging")),
    ]
