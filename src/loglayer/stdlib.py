"""The bridge between loglayer and the standard library's ``logging``, both ways.

Facade loggers are ``logging``'s own loggers: there is one logger tree, the one
``logging.getLogger`` manages, so levels, ``disabled``, ``propagate``, handlers and
filters set by ``basicConfig``, ``dictConfig`` or ``fileConfig`` (and
``disable_existing_loggers``, ``logging.disable()``) apply to them exactly as to any
stdlib logger. The pieces:

* :func:`install` makes every logger of the tree a facade logger: the loggers that
  exist already (those of the plain ``logging.Logger`` class, and the root) become
  :class:`StdlibLogger` in place, and ``logging.setLoggerClass(StdlibLogger)`` makes the
  later ones facade loggers too. Optionally it sets up loglayer's output at the root.
* :func:`get_logger` is ``logging.getLogger`` that makes sure the logger it returns is a
  facade logger (it converts a plain ``logging.Logger`` in place).
* :class:`StdlibLogger` is the facade logger, a ``logging.Logger`` subclass whose records
  reach loglayer without a ``LogRecord`` being built when nothing else needs one.
* :class:`LogLayerHandler` is a ``logging.Handler`` that sends each record through a
  loglayer logger; on a facade logger's path it is served without building a record.
* :class:`StdlibTransport` goes the other way: a loglayer transport that hands each
  entry to a ``logging.Logger``, so existing stdlib handlers keep working.

Where an entry goes (the one rule): a call on a facade logger passes the logger's
level (``isEnabledFor``, as in the stdlib) and its filters, then climbs the tree as a
stdlib record does, to the handlers of each logger until ``propagate`` stops it.
Loglayer is reached in two ways on that climb: through a :class:`LogLayerHandler`
wherever one is attached, and, at the root, through the ready logger ``loglayer.log``
when loglayer is configured (``install(transports=...)`` or ``loglayer.configure``).
When nothing received the call, the stdlib's last-resort handler prints ``WARNING``
and above to stderr, as ``logging`` does with no configuration. A ``LogRecord`` is
built only for a logger with filters or for a handler that is not a
``LogLayerHandler`` (including the last resort).

A loop between the two directions (a ``StdlibTransport`` whose records reach loglayer
again) is broken: such a record does not go back into loglayer (a ``LogLayerHandler``
reports the first drop on stderr).

Levels map by number. Stdlib to loglayer: ``CRITICAL`` is ``FATAL``, ``WARNING`` is
``WARN``, a number between two loglayer levels maps down to the lower one, and
anything below ``DEBUG`` is ``TRACE``; a number that is not one of loglayer's six
travels with the entry as the fields ``levelno`` and ``levelname`` (its ``logging``
name), and a ``StdlibTransport`` gives it back to the record. Loglayer to stdlib:
each level keeps its number (``TRACE`` is 5, named ``"TRACE"`` on the record even when
``logging`` has no name registered for it; this module registers none).
"""

from __future__ import annotations

import io
import logging
import os
import sys
import threading
import traceback
import weakref
from collections.abc import Mapping
from types import FrameType
from typing import Any

from . import _default
from ._common import describe, stderr_line
from ._native import compiled
from ._validate import LOGGER_FIELD
from .levels import LogLevel
from .transports._stdlib import DATA_KEY, RECORD_KEYS, StdlibTransport, bridge_state

__all__ = ["LogLayerHandler", "StdlibLogger", "StdlibTransport", "get_logger", "install"]


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


#: The stdlib numbers that are loglayer levels; any other travels in the fields.
_NAMED_LEVELS = frozenset(int(level) for level in LogLevel)


def _send(log: Any, levelno: int, text: str, metadata: Any, error: BaseException | None,
          name: str) -> None:
    """Emit one entry on ``log`` with its fields plus ``logger`` = the stdlib logger name.

    A number that is not a loglayer level adds the fields ``levelno`` and ``levelname``.
    A ``FATAL`` entry (``CRITICAL`` and above) flushes the transports, as ``log.fatal``
    does: it is often the last line before the process dies.
    """
    fields = log.get_fields()
    fields[LOGGER_FIELD] = name
    if levelno not in _NAMED_LEVELS:
        fields["levelno"] = levelno
        fields["levelname"] = logging.getLevelName(levelno)
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


# The compiled level methods (cext/_stdlibfast.pyx), put on StdlibLogger at the end of
# this module; None on the pure core, where the stdlib's own methods serve.
_fast: Any = compiled("_stdlibfast")

#: The level methods that do nothing while a level is off, by level number.
_METHODS_OF_LEVEL = {logging.DEBUG: ("debug",), logging.INFO: ("info",),
                     logging.WARNING: ("warning", "warn"),
                     logging.ERROR: ("error", "exception"),
                     logging.CRITICAL: ("critical", "fatal")}


class _LevelCache(dict):
    """A facade logger's ``isEnabledFor`` cache (the stdlib's ``Logger._cache``) that
    also makes a disabled call cheap, on the compiled core.

    The stdlib fills the cache when ``isEnabledFor`` first answers for a level, and
    clears it on every change that can alter an answer (``setLevel`` anywhere in the
    tree, ``logging.disable``). When a named level is stored as off, the logger's
    methods for it become ``OffMethod``s in the instance: C callables that answer
    from this cache at each call (nothing while the level is off, the class's method
    once it is on, so a method taken while the level was off keeps working) and pickle
    as the method they stand in for; clearing takes them out. A method the program put
    in the instance itself (``mock.patch.object``) is left alone, and a subclass of the
    facade class keeps its own methods.
    """

    __slots__ = ("_owner",)

    def __init__(self, owner: logging.Logger) -> None:
        super().__init__()
        self._owner = weakref.ref(owner)

    # The instance is read and written with getattr/setattr/delattr: a method the
    # program put there is seen as what it is, and no __dict__ is made for it.

    def __setitem__(self, level: int, enabled: bool) -> None:
        super().__setitem__(level, enabled)
        names = None if enabled else _METHODS_OF_LEVEL.get(level)
        if names:
            owner = self._owner()
            if owner is not None and type(owner) in (StdlibLogger, _StdlibRootLogger):
                for name in names:
                    current = getattr(owner, name)  # the class's method, unless replaced
                    if getattr(current, "__func__", None) is getattr(StdlibLogger, name):
                        setattr(owner, name, _fast.off_method(owner, self, level, name))

    def clear(self) -> None:
        super().clear()
        owner = self._owner()
        if owner is not None:
            for names in _METHODS_OF_LEVEL.values():
                for name in names:
                    current: Any = getattr(owner, name, None)
                    if type(current) is _fast.OffMethod and current.__self__ is owner:
                        delattr(owner, name)

    def __reduce__(self) -> tuple[Any, ...]:
        return dict, ()  # a copy of a logger's state starts with an empty cache


# Set on this thread while a facade logger hands a record it built to its handlers,
# when the caller asked for its place with ``stacklevel`` (see ``StdlibLogger._log``).
_call_state = threading.local()


class StdlibLogger(logging.Logger):
    """A ``logging.Logger`` whose calls also reach loglayer, without a ``LogRecord``
    when nothing else needs one.

    It is a ``logging.Logger`` in every respect (levels and the ``isEnabledFor`` cache,
    ``disabled``, ``propagate``, handlers, filters, ``makeRecord``, ``findCaller``,
    pickling by name): get one with :func:`get_logger`, or from ``logging.getLogger``
    after :func:`install`. What it adds is the route into loglayer (see the module's
    one rule): a :class:`LogLayerHandler` on its path up the tree, and the ready logger
    at the root when loglayer is configured, receive each call as a loglayer entry:

    * the message is ``msg % args``, formatted once, after the level passed. A
      formatting error never raises and loses nothing: the text is ``msg`` followed, in
      brackets, by the arguments and the error;
    * ``exc_info`` puts the exception in ``entry.error``; ``extra`` becomes the
      entry's metadata; the logger's name is the field ``logger``;
    * ``critical``/``fatal`` flush the transports, as loglayer's ``fatal`` does;
    * the caller's place (the metadata keys ``file``, ``line``, ``function``) costs a
      stack walk and is captured only when asked for: ``stack_info=True`` (which also
      adds the stack as ``stack``), an explicit ``stacklevel``, ``capture_caller=True``
      on this logger or an ancestor, or on the ``LogLayerHandler``.

    When the call also goes to another handler (or this logger has filters), the
    ``LogRecord`` is built as the stdlib builds it and loglayer's entry is made from
    it, so attributes a filter adds join the metadata. ``warn`` is an alias of
    ``warning`` without the stdlib's deprecation warning: it is loglayer's spelling.
    """

    #: Capture the caller's file, line and function on every call; None inherits the
    #: parent's setting (a logger that is not a facade logger counts as None).
    capture_caller: bool | None = None

    def __init__(self, name: str, level: int | str = logging.NOTSET, *,
                 capture_caller: bool | None = None) -> None:
        super().__init__(name, _check_level(level))
        if _fast is not None:
            self._cache = _LevelCache(self)
        if capture_caller is not None:
            self.capture_caller = capture_caller

    def setLevel(self, level: int | str) -> None:
        """Set this logger's level: a number, a ``logging`` level name or a loglayer
        one (``"trace"``, ``"warn"``, ``"fatal"``); ``NOTSET`` follows the parent."""
        super().setLevel(_check_level(level))

    def warn(self, msg: object, *args: object, **kwargs: Any) -> None:
        """``warning()``, without the stdlib's deprecation warning."""
        if self.isEnabledFor(logging.WARNING):
            self._log(logging.WARNING, msg, args, **kwargs)

    def getChild(self, suffix: str) -> StdlibLogger:
        """The facade logger named ``<this name>.<suffix>`` (just ``suffix`` on the root)."""
        if self.parent is not None:
            suffix = f"{self.name}.{suffix}"
        return get_logger(suffix)

    def _captures_caller(self) -> bool:
        logger: logging.Logger | None = self
        while logger is not None:
            wanted = getattr(logger, "capture_caller", None)
            if wanted is not None:
                return bool(wanted)
            logger = logger.parent
        return False

    def _log(self, level: int, msg: object, args: Any, exc_info: Any = None,
             extra: Mapping[str, object] | None = None, stack_info: bool = False,
             stacklevel: int | None = None) -> None:
        """Emit one call whose level has passed. ``stacklevel=None``: not asked for.

        The fast route: with no filter on this logger and only ``LogLayerHandler``s
        (or nothing but the configured ready logger) on the way up, the entries are
        sent straight to loglayer. Anything else builds the ``LogRecord`` as
        ``logging.Logger._log`` does and hands it on.
        """
        if not self.filters:
            routes = self._routes(level)
            if routes:
                self._send_natively(routes, level, msg, args, exc_info, extra, stack_info,
                                    stacklevel)
                return
            if routes is not None:  # every route's level filtered the call out
                return
        _call_state.caller = stacklevel is not None
        try:
            super()._log(level, msg, args, exc_info, extra, stack_info,
                         1 if stacklevel is None else stacklevel)
        finally:
            _call_state.caller = False

    def _routes(self, level: int) -> list[Any] | None:
        """The loglayer routes a call at ``level`` takes, or None when it needs a record.

        A route is a ``LogLayerHandler`` (whose level passes) or ``None`` for the ready
        logger. ``[]``: there are handlers, and none of them takes the call.
        """
        routes: list[Any] = []
        found = False
        logger: logging.Logger = self
        while True:
            for handler in logger.handlers:
                found = True
                if level >= handler.level:
                    if type(handler) is not LogLayerHandler or handler.filters:
                        return None
                    routes.append(handler)
            parent = logger.parent
            if parent is None or not logger.propagate:
                break
            logger = parent
        if logger.parent is None and _default.configured:
            routes.append(None)
        elif not found:
            return None  # the last resort's turn: it takes a record
        return routes

    def _send_natively(self, routes: list[Any], level: int, msg: object, args: Any,
                       exc_info: Any, extra: Mapping[str, object] | None, stack_info: bool,
                       stacklevel: int | None) -> None:
        if exc_info:
            if isinstance(exc_info, BaseException):
                exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
            elif not isinstance(exc_info, tuple):
                exc_info = sys.exc_info()
        error = _error_of(exc_info) if exc_info else None
        metadata = (extra if type(extra) is dict else dict(extra)) if extra else None
        asked = bool(stack_info) or stacklevel is not None or self._captures_caller()
        loglayer_level = _loglayer_level(level)
        text: str | None = None
        place: dict | None = None
        for route in routes:
            if route is None:
                log, caller = _default.log, asked
            else:
                log, caller = route._target(), asked or route.capture_caller
            if not log.is_level_enabled(loglayer_level):
                continue  # before formatting: a filtered call costs no formatting
            if text is None:
                text = _format_message(msg, args)
            if caller:
                if place is None:
                    pathname, lineno, func, stack = self.findCaller(stack_info, stacklevel or 1)
                    place = _caller_metadata(metadata, pathname, lineno, func, stack)
                _send(log, level, text, place, error, self.name)
            else:
                _send(log, level, text, metadata, error, self.name)

    def callHandlers(self, record: logging.LogRecord) -> None:
        """Hand ``record`` to the handlers of this logger and its ancestors.

        As the stdlib does (``propagate`` stops the climb, a handler's level filters,
        the last-resort handler when nothing took it), plus the ready logger at the
        root when loglayer is configured. A record that came out of a
        ``StdlibTransport`` does not go back into the ready logger.
        """
        found = 0
        logger: logging.Logger = self
        while True:
            for handler in logger.handlers:
                found += 1
                if record.levelno >= handler.level:
                    handler.handle(record)
            parent = logger.parent
            if parent is None or not logger.propagate:
                break
            logger = parent
        if logger.parent is None and _default.configured:
            found += 1
            _to_ready_logger(self, record)
        if found == 0:
            if logging.lastResort:
                if record.levelno >= logging.lastResort.level:
                    logging.lastResort.handle(record)
            elif logging.raiseExceptions and not self.manager.emittedNoHandlerWarning:
                sys.stderr.write(f'No handlers could be found for logger "{self.name}"\n')
                self.manager.emittedNoHandlerWarning = True

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


def _to_ready_logger(logger: StdlibLogger, record: logging.LogRecord) -> None:
    """Hand a record that reached the root to the ready logger (loglayer configured),
    unless it came out of a ``StdlibTransport``."""
    if not (DATA_KEY in record.__dict__ or getattr(bridge_state, "sending", False)):
        caller = (getattr(_call_state, "caller", False) or bool(record.stack_info)
                  or logger._captures_caller())
        _send_record(_default.log, record, caller)


def _report_failed_write(handler: logging.Handler, record: logging.LogRecord,
                         error: BaseException) -> None:
    """``handler.handleError(record)`` for a write the compiled path made: raised again
    here, so the report shows the caller's stack from a Python frame, as ``emit``'s
    does."""
    try:
        raise error
    except Exception:
        handler.handleError(record)


class _StdlibRootLogger(StdlibLogger, logging.RootLogger):
    """The class ``logging.root`` takes when it becomes a facade logger."""


_INTERNAL_FILES = frozenset(os.path.normcase(code.co_filename) for code in (
    StdlibLogger._log.__code__, logging.Logger.makeRecord.__code__))


def _is_internal_frame(frame: FrameType) -> bool:
    """A frame of this module, of ``logging``, or of the import machinery."""
    filename = os.path.normcase(frame.f_code.co_filename)
    return filename in _INTERNAL_FILES or ("importlib" in filename and "_bootstrap" in filename)


def _adopt(logger: logging.Logger) -> logging.Logger:
    """Make a plain ``logging.Logger`` (or the plain root) a facade logger, in place.

    The same object keeps its level, handlers, filters and everything else; a logger
    of any other class is left as it is.
    """
    kind = type(logger)
    if kind is logging.Logger:
        logger.__class__ = StdlibLogger
    elif kind is logging.RootLogger:
        logger.__class__ = _StdlibRootLogger
    else:
        return logger
    if _fast is not None:
        logger._cache = _LevelCache(logger)  # type: ignore[attr-defined]
    return logger


def get_logger(name: str | None = None, *, capture_caller: bool | None = None) -> StdlibLogger:
    """``logging.getLogger(name)``, made a facade logger: the same object for the same name.

    ``None``, ``""`` and ``"root"`` give the root. The logger is ``logging``'s own, so
    ``logging.getLogger(name) is get_logger(name)``; when it was a plain
    ``logging.Logger`` it becomes a :class:`StdlibLogger` in place (its ancestors are
    left as they are: only its handlers and ``propagate`` matter on the way up). A
    logger of another class (set with ``logging.setLoggerClass``) is returned as it
    is. ``capture_caller`` (when not None) sets that logger's option of the same name
    (see :class:`StdlibLogger`). A name that is not a str raises ``TypeError``.
    """
    if name is not None and not isinstance(name, str):
        raise TypeError(f"name must be a str or None, got {type(name).__name__}")
    logger = _adopt(logging.getLogger(name))
    if capture_caller is not None:
        if not isinstance(capture_caller, bool):
            raise TypeError(f"capture_caller must be a bool or None, "
                            f"got {type(capture_caller).__name__}")
        logger.capture_caller = capture_caller  # type: ignore[attr-defined]
    return logger  # type: ignore[return-value]


def install(transports: Any = None, *, plugins: Any = None, level: Any = None,
            root_level: int | str | None = None) -> None:
    """Make every ``logging`` logger a facade logger: one tree. Idempotent.

    What it changes:

    * the loggers that exist already, the root included, become :class:`StdlibLogger`
      in place (same objects, same levels, handlers, filters, ``disabled``); loggers
      of a class other than ``logging.Logger`` are left as they are;
    * ``logging.setLoggerClass(StdlibLogger)``, so later ``logging.getLogger`` calls
      make facade loggers (a class set before with ``setLoggerClass`` is replaced;
      install first, or subclass ``StdlibLogger``);
    * ``transports``, ``plugins`` and ``level`` are passed to ``loglayer.configure``
      when any is given: the ready logger then receives every call that reaches the
      root, next to the root's own handlers. With none of them (and no
      ``loglayer.configure`` call), output is ``logging``'s alone, last resort included;
    * ``root_level`` (a level number or name), when given, is set on the root logger.

    Nothing else in ``logging`` is patched. Errors name the bad argument, and a bad
    argument changes nothing.
    """
    if root_level is not None:
        try:
            root_number = _check_level(root_level)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"root_level: {exc}") from None
    if transports is not None or plugins is not None or level is not None:
        _default.configure(transports=transports, plugins=plugins, level=level)
    with _install_lock:
        logging.setLoggerClass(StdlibLogger)
        for logger in list(logging.Logger.manager.loggerDict.values()):
            if isinstance(logger, logging.Logger):
                _adopt(logger)
        _adopt(logging.root)
    if root_level is not None:
        logging.root.setLevel(root_number)


_install_lock = threading.Lock()


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

    On the path of a :class:`StdlibLogger` call, this handler is served without a
    ``LogRecord`` when no other handler and no filter needs one: the call becomes the
    same entry directly (the handler's own filters, if any, make it take the record).

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

    def _target(self) -> Any:
        """The loglayer logger this handler sends to, as it is now."""
        return self.log if self.log is not None else _default.log

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(bridge_state, "sending", False) or DATA_KEY in record.__dict__:
            if not self._loop_reported:
                self._loop_reported = True
                stderr_line("LogLayerHandler dropped a record that came from a StdlibTransport "
                            "(logging and loglayer feed each other); further ones are dropped "
                            "without a word")
            return
        try:
            _send_record(self._target(), record, self.capture_caller)
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)


# The level methods, compiled: the same calls, served without a LogRecord when nothing
# needs one, also by StreamHandlers with a plain formatter (see cext/_stdlibfast.pyx).
if _fast is not None:
    _fast.bind((StdlibLogger, _StdlibRootLogger), LogLayerHandler, _default,
               _to_ready_logger, _report_failed_write, RECORD_KEYS)
    StdlibLogger.debug = _fast.debug  # type: ignore[method-assign]
    StdlibLogger.info = _fast.info  # type: ignore[method-assign]
    StdlibLogger.warning = _fast.warning  # type: ignore[method-assign]
    StdlibLogger.warn = _fast.warn  # type: ignore[method-assign]
    StdlibLogger.error = _fast.error  # type: ignore[method-assign]
    StdlibLogger.exception = _fast.exception  # type: ignore[method-assign]
    StdlibLogger.critical = StdlibLogger.fatal = _fast.critical  # type: ignore[method-assign]
    StdlibLogger.log = _fast.log  # type: ignore[method-assign]
