"""The bridge between loglayer and the standard library's ``logging``, both ways.

Three pieces, for three ways of arriving with code that already uses ``logging``:

* :func:`get_logger` returns a :class:`StdlibLogger`, a ``logging.Logger`` look-alike
  (a subclass, so ``isinstance`` checks and ``logging.LoggerAdapter`` keep working)
  whose calls emit through the ready logger ``loglayer.log``, and therefore through
  whatever ``loglayer.configure`` set. Code written for ``logging.getLogger(__name__)``
  runs unchanged when handed one.
* :class:`LogLayerHandler` is a ``logging.Handler`` that sends every stdlib record
  through a loglayer logger: ``logging.basicConfig(handlers=[LogLayerHandler()])``
  routes a whole application, third-party libraries included, through loglayer's
  plugins and transports.
* :class:`StdlibTransport` goes the other way: a loglayer transport that hands each
  entry to a ``logging.Logger``, so existing stdlib handlers (files, syslog, Sentry...)
  keep working.

A loop between the two directions (a ``StdlibTransport`` whose records reach a
``LogLayerHandler``) is broken: such a record is dropped by the handler, with one
line on stderr the first time.

Levels map by number. Stdlib to loglayer: ``CRITICAL`` is ``FATAL``, ``WARNING`` is
``WARN``, a number between two loglayer levels maps down to the lower one, and
anything below ``DEBUG`` is ``TRACE``. Loglayer to stdlib: each level keeps its number
(``TRACE`` is 5, named ``"TRACE"`` on the record even when ``logging`` has no name
registered for it; this module registers none, to leave ``logging``'s global state
alone).
"""

from __future__ import annotations

import io
import logging
import os
import pickle
import sys
import threading
import traceback
from collections.abc import Mapping
from types import FrameType
from typing import Any, ClassVar

from . import _default
from ._common import describe, stderr_line
from .levels import LogLevel
from .transports._stdlib import DATA_KEY, RECORD_KEYS, StdlibTransport, bridge_state

__all__ = ["LogLayerHandler", "StdlibLogger", "StdlibTransport", "get_logger"]


def _loglayer_level(levelno: int) -> LogLevel:
    """A stdlib level number as a loglayer level: the nearest one at or below it."""
    if levelno >= logging.CRITICAL:
        return LogLevel.FATAL
    if levelno >= logging.ERROR:
        return LogLevel.ERROR
    if levelno >= logging.WARNING:
        return LogLevel.WARN
    if levelno >= logging.INFO:
        return LogLevel.INFO
    if levelno >= logging.DEBUG:
        return LogLevel.DEBUG
    return LogLevel.TRACE


def _safe_text(value: object, render: Any = str) -> str:
    try:
        return render(value)
    except Exception:
        return f"<unprintable {type(value).__name__}>"


def _unformattable(msg: object, args: object, exc: BaseException) -> str:
    """The text of a message whose ``%`` formatting failed: nothing is lost or raised."""
    return (f"{_safe_text(msg)} [could not format with args {_safe_text(args, repr)}: "
            f"{describe(exc)}]")


def _format_message(msg: object, args: tuple) -> str:
    """``msg % args`` as ``LogRecord.getMessage`` computes it, but never raising.

    A single non-empty mapping argument is used as the mapping, as the stdlib does
    (``log.info("%(user)s", {"user": "ada"})``). A formatting error does not raise
    and does not drop the entry (the stdlib prints a traceback and loses the message):
    the text is ``msg`` followed by the arguments and the error, in brackets.
    """
    try:
        text = msg if type(msg) is str else str(msg)
        if args:
            if len(args) == 1 and isinstance(args[0], Mapping) and args[0]:
                return text % args[0]
            return text % args
        return text
    except Exception as exc:
        return _unformattable(msg, args, exc)


def _record_message(record: logging.LogRecord) -> str:
    """``record.getMessage()``, or the same fallback text as the facade when it fails."""
    try:
        return record.getMessage()
    except Exception as exc:
        return _unformattable(record.msg, record.args, exc)


def _error_of(exc_info: Any) -> BaseException | None:
    """The exception instance of a normalised ``exc_info`` tuple, if there is one."""
    if exc_info and isinstance(exc_info, tuple) and len(exc_info) > 1:
        error = exc_info[1]
        if isinstance(error, BaseException):
            return error
    return None


def _caller_metadata(metadata: dict | None, pathname: str, lineno: int, func: str | None,
                     stack: str | None) -> dict:
    """``metadata`` plus the caller's place (and the stack when there is one), as a new dict."""
    out = {} if metadata is None else dict(metadata)
    out["file"] = pathname
    out["line"] = lineno
    out["function"] = func
    if stack:
        out["stack"] = stack
    return out


def _send(log: Any, levelno: int, text: str, metadata: Any, error: BaseException | None,
          name: str) -> None:
    """Emit one entry on ``log`` with its fields plus ``logger`` = the stdlib logger name.

    A ``FATAL`` entry (``CRITICAL`` and above) flushes the transports, as ``log.fatal``
    does: it is often the last line before the process dies.
    """
    fields = log.get_fields()
    fields["logger"] = name
    level = _loglayer_level(levelno)
    log.raw(level, [text], metadata=metadata, error=error, fields=fields)
    if level is LogLevel.FATAL:
        log.flush()


def _send_record(log: Any, record: logging.LogRecord, caller: bool) -> None:
    """Emit a stdlib record on ``log``: its ``extra`` attributes become the metadata.

    ``caller`` adds the record's file, line and function; the stack is added whenever
    the record carries one (the caller asked for it with ``stack_info=True``).
    """
    if not log.is_level_enabled(_loglayer_level(record.levelno)):
        return  # before getMessage(): a filtered record costs no formatting
    metadata = {key: value for key, value in record.__dict__.items()
                if key not in RECORD_KEYS}
    if caller:
        metadata = _caller_metadata(metadata, record.pathname, record.lineno,
                                    record.funcName, record.stack_info)
    elif record.stack_info:
        metadata["stack"] = record.stack_info
    _send(log, record.levelno, _record_message(record), metadata or None,
          _error_of(record.exc_info), record.name)


def _check_level(level: Any) -> int:
    """A level for ``setLevel``: an int, or a level name.

    Names registered with ``logging`` are taken as the stdlib takes them; loglayer's
    own names (case-insensitive, ``"trace"``, ``"warn"``, ``"fatal"`` included) are
    accepted too. Errors use the stdlib's types and words.
    """
    if isinstance(level, int):
        return level
    if isinstance(level, str):
        number = logging.getLevelName(level)
        if isinstance(number, int):
            return number
        try:
            return int(LogLevel.parse(level))
        except ValueError:
            raise ValueError(f"Unknown level: {level!r}") from None
    raise TypeError(f"Level not an integer or a valid string: {level!r}")


class StdlibLogger(logging.Logger):
    """A ``logging.Logger`` whose calls emit through the ready logger ``loglayer.log``.

    Get one with :func:`get_logger`. It takes the ``logging.Logger`` call conventions
    unchanged: ``debug``/``info``/``warning``/``warn``/``error``/``exception``/
    ``critical``/``fatal``/``log(level, ...)`` with ``msg, *args, exc_info=None,
    stack_info=False, stacklevel=1, extra=None``. Each call becomes one loglayer entry:

    * the message is ``msg % args``, formatted only once the level passes (this
      logger's level, ``logging.disable()`` and the ready logger's own level), so a
      filtered call costs no formatting. A formatting error never raises and loses
      nothing: the text is ``msg`` followed, in brackets, by the arguments and the
      error (the stdlib would print a traceback and drop the message);
    * ``exc_info`` (True for the exception being handled, an exception instance, or a
      ``(type, value, traceback)`` tuple) puts the exception in ``entry.error``;
      ``exception()`` is ``error(..., exc_info=True)``;
    * ``extra`` becomes the entry's metadata (a dict);
    * the logger name is the field ``logger``, next to the ready logger's own fields;
    * ``critical``/``fatal`` flush the transports, as loglayer's ``fatal`` does;
    * the caller's place is captured only when asked for, as it costs a stack walk:
      with ``stack_info=True`` (which also adds the formatted stack as ``stack``), an
      explicit ``stacklevel``, or ``capture_caller=True`` on this logger or an
      ancestor. It goes into the metadata keys ``file``, ``line`` and ``function``,
      over any keys of ``extra`` with those names.

    Levels follow the stdlib's dotted hierarchy, kept apart from ``logging``'s own
    registry: a logger whose level is ``NOTSET`` (the default, the root's included)
    takes its parent's, so by default the ready logger's level alone decides.
    ``isEnabledFor`` is true when this hierarchy, ``logging.disable()`` and the
    ready logger all let the level through. ``warn`` is an alias of ``warning``
    without the stdlib's deprecation warning: it is loglayer's own spelling.

    Handlers and filters behave as on a ``logging.Logger``, on top of the loglayer
    entry: handlers attached to this logger or its ancestors (through ``propagate``)
    receive a ``LogRecord`` for each call, built as the stdlib builds it (so ``extra``
    keys that clash with record attributes raise ``KeyError`` there, as in the
    stdlib); a filter on this logger that rejects the record drops the loglayer entry
    too, and attributes a filter adds join the metadata. With no handler in the chain
    and no filter (the usual case) no record is built. The stdlib's last-resort
    stderr handler is never used: loglayer is the output. Do not attach a
    ``LogLayerHandler`` to one of these loggers: the entry would be emitted twice.
    """

    #: The root of the facade hierarchy (set below, once it exists). It shadows
    #: ``logging.Logger.root`` (a ``RootLogger``) on purpose: the facade has its own tree.
    root: ClassVar[StdlibLogger]  # type: ignore[assignment]

    def __init__(self, name: str, level: int | str = logging.NOTSET, *,
                 capture_caller: bool | None = None) -> None:
        super().__init__(name)
        self.level = _check_level(level)
        #: Capture the caller's file, line and function on every call; None inherits
        #: the parent's setting (the root's default is False).
        self.capture_caller = capture_caller

    # -- levels and the hierarchy -------------------------------------------------

    def setLevel(self, level: int | str) -> None:
        """Set this logger's level; ``NOTSET`` makes it follow its parent again."""
        self.level = _check_level(level)

    def isEnabledFor(self, level: int) -> bool:
        """Whether a call at ``level`` (a stdlib number) would be emitted."""
        if self.disabled or self.manager.disable >= level:
            return False
        if level < self.getEffectiveLevel():
            return False
        return _default.log.is_level_enabled(_loglayer_level(level))

    def getChild(self, suffix: str) -> StdlibLogger:
        """The facade logger named ``<this name>.<suffix>`` (just ``suffix`` on the root)."""
        if self is not self.root:
            suffix = f"{self.name}.{suffix}"
        return get_logger(suffix)

    def getChildren(self) -> set[StdlibLogger]:
        """The facade loggers whose parent is this one."""
        with _registry_lock:
            return {logger for logger in _loggers.values() if logger.parent is self}

    def _captures_caller(self) -> bool:
        logger: StdlibLogger | None = self
        while logger is not None:
            if logger.capture_caller is not None:
                return logger.capture_caller
            logger = logger.parent  # type: ignore[assignment]
        return False

    # -- calls --------------------------------------------------------------------

    def debug(self, msg: object, *args: object, **kwargs: Any) -> None:
        if self.isEnabledFor(logging.DEBUG):
            self._log(logging.DEBUG, msg, args, **kwargs)

    def info(self, msg: object, *args: object, **kwargs: Any) -> None:
        if self.isEnabledFor(logging.INFO):
            self._log(logging.INFO, msg, args, **kwargs)

    def warning(self, msg: object, *args: object, **kwargs: Any) -> None:
        if self.isEnabledFor(logging.WARNING):
            self._log(logging.WARNING, msg, args, **kwargs)

    warn = warning

    def error(self, msg: object, *args: object, **kwargs: Any) -> None:
        if self.isEnabledFor(logging.ERROR):
            self._log(logging.ERROR, msg, args, **kwargs)

    def exception(self, msg: object, *args: object, exc_info: Any = True,
                  **kwargs: Any) -> None:
        """``error()`` with the exception being handled (or the given ``exc_info``)."""
        self.error(msg, *args, exc_info=exc_info, **kwargs)

    def critical(self, msg: object, *args: object, **kwargs: Any) -> None:
        if self.isEnabledFor(logging.CRITICAL):
            self._log(logging.CRITICAL, msg, args, **kwargs)

    fatal = critical

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        """Log at ``level``, a stdlib level number.

        A level that is not an int raises ``TypeError`` when
        ``logging.raiseExceptions`` is true (the default) and is ignored otherwise,
        as with the stdlib.
        """
        if not isinstance(level, int):
            if logging.raiseExceptions:
                raise TypeError("level must be an integer")
            return
        if self.isEnabledFor(level):
            self._log(level, msg, args, **kwargs)

    def _log(self, level: int, msg: object, args: Any, exc_info: Any = None,
             extra: Mapping[str, object] | None = None, stack_info: bool = False,
             stacklevel: int | None = None) -> None:
        """Emit one call whose level has passed. ``stacklevel=None``: not asked for."""
        if exc_info:
            if isinstance(exc_info, BaseException):
                exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
            elif not isinstance(exc_info, tuple):
                exc_info = sys.exc_info()
        else:
            exc_info = None
        caller = bool(stack_info) or stacklevel is not None or self._captures_caller()
        if self.filters or self.hasHandlers():
            pathname, lineno, func, stack = self.findCaller(stack_info, stacklevel or 1)
            record = self.makeRecord(self.name, level, pathname, lineno, msg, args, exc_info,
                                     func, extra, stack)
            kept = self.filter(record)
            if not kept:
                return
            if isinstance(kept, logging.LogRecord):  # a filter may return a new record
                record = kept
            _send_record(_default.log, record, caller)
            self.callHandlers(record)
            return
        metadata = (extra if type(extra) is dict else dict(extra)) if extra else None
        if caller:
            pathname, lineno, func, stack = self.findCaller(stack_info, stacklevel or 1)
            metadata = _caller_metadata(metadata, pathname, lineno, func, stack)
        _send(_default.log, level, _format_message(msg, args), metadata, _error_of(exc_info),
              self.name)

    def findCaller(self, stack_info: bool = False,
                   stacklevel: int = 1) -> tuple[str, int, str, str | None]:
        """The file, line, function (and, with ``stack_info``, the stack) of a caller.

        ``stacklevel=1`` is the code that called the logging method; each step up
        skips the frames of this module and of ``logging`` itself (so a call through
        a ``logging.LoggerAdapter`` or ``logging.info()`` points at its real caller),
        as in Python 3.11+.
        """
        frame: FrameType = sys._getframe(0)
        remaining = max(stacklevel, 1)
        while remaining > 0:
            previous = frame.f_back
            if previous is None:
                break
            frame = previous
            if not _is_internal_frame(frame):
                remaining -= 1
        stack = None
        if stack_info:
            with io.StringIO() as buffer:
                buffer.write("Stack (most recent call last):\n")
                traceback.print_stack(frame, file=buffer)
                stack = buffer.getvalue().removesuffix("\n")
        code = frame.f_code
        return code.co_filename, frame.f_lineno, code.co_name, stack

    def callHandlers(self, record: logging.LogRecord) -> None:
        """Hand ``record`` to the handlers of this logger and its ancestors.

        As the stdlib does (``propagate`` stops the climb, a handler's level filters),
        except that nothing falls back to the stdlib's last-resort stderr handler.
        """
        logger: logging.Logger | None = self
        while logger is not None:
            for handler in logger.handlers:
                if record.levelno >= handler.level:
                    handler.handle(record)
            logger = logger.parent if logger.propagate else None

    def __reduce__(self) -> tuple:
        # A logger pickles by name, so it unpickles as the same object.
        if self is not self.root and _loggers.get(self.name) is not self:
            raise pickle.PicklingError("logger cannot be pickled")
        return get_logger, (self.name,)


_root = StdlibLogger("root")
StdlibLogger.root = _root
_loggers: dict[str, StdlibLogger] = {}
_registry_lock = threading.Lock()
_INTERNAL_FILES = frozenset(os.path.normcase(code.co_filename) for code in (
    StdlibLogger._log.__code__, logging.Logger.makeRecord.__code__))


def _is_internal_frame(frame: FrameType) -> bool:
    """A frame of this module, of ``logging``, or of the import machinery."""
    filename = os.path.normcase(frame.f_code.co_filename)
    return filename in _INTERNAL_FILES or ("importlib" in filename and "_bootstrap" in filename)


def get_logger(name: str | None = None, *, capture_caller: bool | None = None) -> StdlibLogger:
    """The facade logger called ``name``: the same object for the same name.

    ``None``, ``""`` and ``"root"`` give the root of the hierarchy. A dotted name's
    ancestors are created with it, so ``get_logger("a.b").parent`` is
    ``get_logger("a")``. ``capture_caller`` (when not None) sets that logger's option
    of the same name (see :class:`StdlibLogger`); on the root it applies to every
    logger that does not set its own. A name that is not a str raises ``TypeError``.
    """
    if name is None or name == "" or name == _root.name:
        logger = _root
    elif not isinstance(name, str):
        raise TypeError("A logger name must be a string")
    else:
        found = _loggers.get(name)
        logger = found if found is not None else _create(name)
    if capture_caller is not None:
        logger.capture_caller = capture_caller
    return logger


def _create(name: str) -> StdlibLogger:
    """Register ``name`` and any missing ancestors, shallowest first."""
    with _registry_lock:
        parent = _root
        parts = name.split(".")
        for depth in range(1, len(parts) + 1):
            dotted = ".".join(parts[:depth])
            if not dotted:  # a name starting with dots hangs under the root
                continue
            logger = _loggers.get(dotted)
            if logger is None:
                logger = StdlibLogger(dotted)
                logger.parent = parent
                _loggers[dotted] = logger
            parent = logger
        return parent


class LogLayerHandler(logging.Handler):
    """A ``logging.Handler`` that sends every stdlib record through a loglayer logger.

    ``log`` is the loglayer logger (default: the ready logger ``loglayer.log``, looked
    up at each record, so ``loglayer.configure`` applies). For each record:

    * the level maps to loglayer's (``CRITICAL`` is ``FATAL``, below ``DEBUG`` is
      ``TRACE``), and the logger's level filter applies before any formatting;
    * ``record.getMessage()`` is the message; when it fails, the text is ``msg``
      followed by the arguments and the error, and nothing raises;
    * the record's ``extra`` attributes (those a fresh ``LogRecord`` does not have)
      become the metadata, a dict; the stack (``stack_info=True``) is added as
      ``stack``, and with ``capture_caller=True`` the record's ``file``, ``line`` and
      ``function`` too;
    * ``exc_info`` becomes the entry's error; the logger name is the field ``logger``;
    * a ``CRITICAL`` record flushes the logger's transports, as loglayer's ``fatal`` does.

    A record that came out of a :class:`StdlibTransport` (one carrying
    ``loglayer_data``, or handled while a StdlibTransport is sending on this thread) is
    dropped, which breaks a loop between the two; the first drop is reported on stderr.
    """

    def __init__(self, log: Any = None, level: int | str = logging.NOTSET, *,
                 capture_caller: bool = False) -> None:
        if log is not None and not callable(getattr(log, "raw", None)):
            raise TypeError(f"log must be a LogLayer or None, got {type(log).__name__}")
        if not isinstance(capture_caller, bool):
            raise TypeError(f"capture_caller must be a bool, got {type(capture_caller).__name__}")
        super().__init__(level)
        self.log = log
        self.capture_caller = capture_caller
        self._loop_reported = False

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(bridge_state, "sending", False) or DATA_KEY in record.__dict__:
            if not self._loop_reported:
                self._loop_reported = True
                stderr_line("LogLayerHandler dropped a record that came from a StdlibTransport "
                            "(logging and loglayer feed each other); further ones are dropped "
                            "without a word")
            return
        try:
            _send_record(self.log if self.log is not None else _default.log, record,
                         self.capture_caller)
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)
