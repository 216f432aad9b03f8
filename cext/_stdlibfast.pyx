# cython: language_level=3, binding=True
"""The facade logger's level methods, compiled (``loglayer._stdlibfast``).

``loglayer.stdlib`` defines how a facade logger behaves, in Python; this module serves
the common call faster with the same result, and hands every other call to the
Python ``_log``. The common call is a plain ``logger.info(msg, *args)`` (or with
``extra=`` when only loglayer receives it) whose level passed, on a facade logger
without filters, whose way up the tree meets only:

* ``LogLayerHandler``s without filters (the call becomes a loglayer entry directly,
  as ``StdlibLogger._send_natively`` makes it), and the ready logger at the root;
* exact ``logging.StreamHandler``s without filters whose formatter is a plain
  ``logging.Formatter`` (or none) with a ``%``-style format that uses only
  ``name``, ``levelname``, ``levelno`` and ``message``: the line is the format applied
  to those four values, which is what the formatter makes of a record, and it is
  written and flushed under the handler's lock as ``StreamHandler.emit`` does. A
  failed write reaches ``handler.handleError`` with a record built then.

No ``LogRecord`` is built on that path. Anything else (another handler, a filter,
``exc_info``, ``stack_info``, ``stacklevel``, caller capture, a custom record factory,
a message that fails to format, no handler at all) takes the Python path, which
builds the record as the stdlib does. The level check is ``isEnabledFor``'s own
(``disabled`` and the logger's ``_cache``, which ``setLevel`` and ``logging.disable``
clear).
"""

import logging
import re
from collections.abc import Mapping

from cpython.dict cimport PyDict_GetItemWithError
from cpython.object cimport PyObject

from loglayer._validate import LOGGER_FIELD
from loglayer.levels import LogLevel

cdef extern from *:
    """
    #include <stddef.h>
    /* A callable that takes any arguments and returns None, through vectorcall: what a
       facade logger's level method is, in its instance dict, while that level is off. */
    typedef struct { PyObject_HEAD vectorcallfunc vectorcall; } loglayer_disabled_call;
    static PyObject *loglayer_disabled_call_run(PyObject *self, PyObject *const *args,
                                                size_t nargsf, PyObject *kwnames) {
        (void)self; (void)args; (void)nargsf; (void)kwnames;
        Py_RETURN_NONE;
    }
    static PyObject *loglayer_disabled_call_repr(PyObject *self) {
        (void)self;
        return PyUnicode_FromString("<a level method of a level that is off>");
    }
    static PyTypeObject loglayer_disabled_call_type = {
        PyVarObject_HEAD_INIT(NULL, 0)
        .tp_name = "loglayer._stdlibfast.DisabledCall",
        .tp_basicsize = sizeof(loglayer_disabled_call),
        .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_VECTORCALL,
        .tp_vectorcall_offset = offsetof(loglayer_disabled_call, vectorcall),
        .tp_call = PyVectorcall_Call,
        .tp_repr = loglayer_disabled_call_repr,
    };
    static PyObject *loglayer_disabled_call_new(void) {
        if (PyType_Ready(&loglayer_disabled_call_type) < 0) return NULL;
        loglayer_disabled_call *self = PyObject_New(loglayer_disabled_call,
                                                    &loglayer_disabled_call_type);
        if (self != NULL) self->vectorcall = loglayer_disabled_call_run;
        return (PyObject *)self;
    }
    """
    object loglayer_disabled_call_new()

#: Takes any arguments and does nothing, as a level method does when its level is off.
#: ``loglayer.stdlib`` puts it in a facade logger's ``__dict__`` in place of the methods
#: of the levels that logger's ``isEnabledFor`` cache holds as off, and takes it out
#: when the cache is cleared: a disabled call then costs an attribute read and a C call.
disabled_call = loglayer_disabled_call_new()

cdef object _logging = logging
cdef object _LogRecord = logging.LogRecord
cdef object _StreamHandler = logging.StreamHandler
cdef object _Formatter = logging.Formatter
cdef object _PercentStyle = logging.PercentStyle
cdef dict _level_names = logging._levelToName
cdef object _Mapping = Mapping

cdef object _TRACE = LogLevel.TRACE
cdef object _DEBUG = LogLevel.DEBUG
cdef object _INFO = LogLevel.INFO
cdef object _WARN = LogLevel.WARN
cdef object _ERROR = LogLevel.ERROR
cdef object _FATAL = LogLevel.FATAL

# Bound by loglayer.stdlib (bind): the classes served here, the handler type that is
# loglayer's, the module holding the ready logger.
cdef object _served = ()
cdef object _LogLayerHandler = None
cdef object _default = None

#: A format string -> how to render it from the four values: a tuple of pieces (str
#: literals and the indices of ``%(field)s`` specs), True for ``fmt % values``, or
#: False when a record is needed.
cdef dict _plans = {}
_SPEC = re.compile(r"%%|%\(([^)]*)\)([#0+ -]*\d*(?:\.\d+)?[a-zA-Z%])?")
_RENDERED = ("name", "levelname", "levelno", "message")
_KEYWORDS = frozenset(("exc_info", "extra", "stack_info", "stacklevel"))


def bind(served, log_layer_handler, default_module):
    """Tell this module the facade classes it serves, ``LogLayerHandler``, and the
    module that holds the ready logger (``loglayer._default``)."""
    global _served, _LogLayerHandler, _default
    _served = tuple(served)
    _LogLayerHandler = log_layer_handler
    _default = default_module


cdef object _plan_of(str fmt):
    """How ``fmt`` renders from ``name``, ``levelname``, ``levelno`` and ``message`` as
    a ``%``-style formatter renders it from a record (see ``_plans``): every field it
    names must be one of the four, and no conversion may lack a name (it would format
    the whole mapping)."""
    cached = _plans.get(fmt)
    if cached is not None:
        return cached
    plan = _parse(fmt)
    if len(_plans) < 256:  # formats are few; a program making them by the thousand pays
        _plans[fmt] = plan
    return plan


def _parse(str fmt):
    """The plan of ``fmt`` (see ``_plans``)."""
    pieces = []
    literal = []
    simple = True
    start = 0
    for match in _SPEC.finditer(fmt):
        between = fmt[start:match.start()]
        if "%" in between:  # a conversion without a name
            return False
        literal.append(between)
        start = match.end()
        name = match.group(1)
        if name is None:  # "%%"
            literal.append("%")
            continue
        conversion = match.group(2)
        if name not in _RENDERED or conversion is None or conversion.endswith("%"):
            return False
        if conversion != "s":
            simple = False
        if literal:
            pieces.append("".join(literal))
            literal = []
        pieces.append(_RENDERED.index(name))
    rest = fmt[start:]
    if "%" in rest:
        return False
    literal.append(rest)
    if any(literal):
        pieces.append("".join(literal))
    return tuple(pieces) if simple else True


cdef tuple _route_of(object handler):
    """``(handler, fmt, plan)`` for a StreamHandler whose formatter's line can be made
    without a record, else None."""
    formatter = handler.formatter
    if formatter is None:
        formatter = _logging._defaultFormatter
    if type(formatter) is not _Formatter:
        return None
    style = formatter._style
    if type(style) is not _PercentStyle:
        return None
    fmt = style._fmt
    if type(fmt) is not str:
        return None
    plan = _plan_of(<str>fmt)
    if plan is False:
        return None
    return (handler, fmt, plan)


cdef str _text(object value):
    return value if type(value) is str else str(value)


cdef object _line(object fmt, object plan, object name, long levelno, object text):
    """What the formatter makes of a record with these values (see ``_plans``)."""
    levelname = _level_names.get(levelno)
    if levelname is None:
        levelname = _logging.getLevelName(levelno)
    if plan is True:
        return fmt % {"name": name, "levelname": levelname, "levelno": levelno,
                      "message": text}
    cdef list parts = []
    for piece in <tuple>plan:
        if type(piece) is str:
            parts.append(piece)
        elif piece == 0:
            parts.append(_text(name))
        elif piece == 1:
            parts.append(_text(levelname))
        elif piece == 2:
            parts.append(str(levelno))
        else:
            parts.append(text)
    return "".join(parts)


cdef object _message(object msg, tuple args):
    """``LogRecord.getMessage()`` of a record made from ``msg`` and ``args``; raises
    as it would."""
    text = msg if type(msg) is str else str(msg)
    if not args:
        return text
    if len(args) == 1:
        only = args[0]
        if (type(only) is dict or (type(only) is not str and isinstance(only, _Mapping))) \
                and only:
            return text % only
    return text % args


cdef object _loglayer_level(long levelno):
    if levelno >= 50:
        return _FATAL
    if levelno >= 40:
        return _ERROR
    if levelno >= 30:
        return _WARN
    if levelno >= 20:
        return _INFO
    if levelno >= 10:
        return _DEBUG
    return _TRACE


cdef bint _captures_caller(object logger):
    """``StdlibLogger._captures_caller``: the nearest ``capture_caller`` that is set."""
    while logger is not None:
        wanted = getattr(logger, "capture_caller", None)
        if wanted is not None:
            return bool(wanted)
        logger = logger.parent
    return False


cdef int _send(object log, object logger, long levelno, object level, object text,
               object metadata) except -1:
    """``loglayer.stdlib._send`` for a call without an error."""
    fields = log.get_fields()
    fields[LOGGER_FIELD] = logger.name
    if levelno % 10 != 0 or not 10 <= levelno <= 50:
        fields["levelno"] = levelno
        fields["levelname"] = _logging.getLevelName(levelno)
    log.raw(level, [text], metadata=metadata, fields=fields)
    if level is _FATAL:
        log.flush()
    return 0


cdef int _write(object logger, tuple route, long levelno, object text, object msg,
                tuple args) except -1:
    """``handler.handle(record)`` for an exact StreamHandler, without the record."""
    handler = route[0]
    lock = handler.lock
    if lock:
        lock.acquire()
    try:
        try:
            line = _line(route[1], route[2], logger.name, levelno, text)
            stream = handler.stream
            stream.write(line + handler.terminator)
            if stream:  # StreamHandler.flush
                flush = getattr(stream, "flush", None)
                if flush is not None:
                    flush()
        except RecursionError:
            raise
        except Exception:
            path, line_number, function, stack = logger.findCaller(False, 1)
            handler.handleError(logger.makeRecord(logger.name, levelno, path, line_number,
                                                  msg, args, None, function, None, stack))
    finally:
        if lock:
            lock.release()
    return 0


cdef bint _level_on(object logger, object level) except -1:
    """``logger.isEnabledFor(level)``, from its cache when the answer is there."""
    if logger.disabled:
        return False
    cache = logger._cache
    cdef PyObject* cached = NULL
    if type(cache) is dict or isinstance(cache, dict):
        cached = PyDict_GetItemWithError(cache, level)
    if cached == NULL:
        return logger.isEnabledFor(level)
    return <object>cached


cdef object _call(object logger, object level, object msg, tuple args, object exc_info,
                  object extra, object stack_info, object stacklevel):
    """``Logger.<level>(msg, *args, ...)`` once the method picked ``level``."""
    if not _level_on(logger, level):
        return None
    if (exc_info or stack_info or stacklevel is not None or type(level) is not int
            or type(logger) not in _served or logger.filters):
        return logger._log(level, msg, args, exc_info, extra, stack_info, stacklevel)
    cdef long levelno
    try:
        levelno = level
    except OverflowError:
        return logger._log(level, msg, args, exc_info, extra, stack_info, stacklevel)

    # the way up the tree, as StdlibLogger._routes (None: the ready logger)
    cdef list routes = []
    cdef bint found = False
    cdef bint to_loglayer = False
    cdef bint to_streams = False
    node = logger
    while True:
        for handler in node.handlers:
            found = True
            if levelno >= handler.level:
                kind = type(handler)
                if kind is _LogLayerHandler:
                    if handler.filters or handler.capture_caller:
                        return logger._log(level, msg, args, exc_info, extra, stack_info,
                                           stacklevel)
                    routes.append(handler)
                    to_loglayer = True
                else:
                    route = None
                    if kind is _StreamHandler and not extra and not handler.filters:
                        route = _route_of(handler)
                    if route is None:
                        return logger._log(level, msg, args, exc_info, extra, stack_info,
                                           stacklevel)
                    routes.append(route)
                    to_streams = True
        parent = node.parent
        if parent is None:
            if _default.configured:
                routes.append(None)
                to_loglayer = True
            break
        if not node.propagate:
            break
        node = parent
    if not found and not to_loglayer:  # the last resort's turn: it takes a record
        return logger._log(level, msg, args, exc_info, extra, stack_info, stacklevel)
    if not routes:
        return None
    if ((to_streams and _logging._logRecordFactory is not _LogRecord)
            or (to_loglayer and _captures_caller(logger))):
        return logger._log(level, msg, args, exc_info, extra, stack_info, stacklevel)

    metadata = None
    if extra:
        metadata = extra if type(extra) is dict else dict(extra)
    loglayer_level = _loglayer_level(levelno)
    text = None
    for route in routes:
        if type(route) is not tuple:
            log = None if route is None else route.log  # LogLayerHandler._target
            if log is None:
                log = _default.log
            if not log.is_level_enabled(loglayer_level):
                continue  # before formatting: a filtered call costs no formatting
        if text is None:
            try:
                text = _message(msg, args)
            except Exception:
                pass
            if text is None:
                # nothing was sent yet: the Python path reports it as the stdlib does
                # (outside the except clause, so its report has no chained error)
                return logger._log(level, msg, args, exc_info, extra, stack_info,
                                   stacklevel)
        if type(route) is tuple:
            _write(logger, <tuple>route, levelno, text, msg, args)
        else:
            _send(log, logger, levelno, loglayer_level, text, metadata)
    return None


# The level methods take what the stdlib's take: while the level is off, anything (the
# stdlib checks the keywords only in _log); once on, the keywords of StdlibLogger._log.

cdef object _call_with(object logger, object level, object msg, tuple args, dict kwargs):
    if not kwargs:
        return _call(logger, level, msg, args, None, None, False, None)
    if not _level_on(logger, level):
        return None
    for key in kwargs:
        if key not in _KEYWORDS:
            return logger._log(level, msg, args, **kwargs)  # raises the stdlib's TypeError
    return _call(logger, level, msg, args, kwargs.get("exc_info"), kwargs.get("extra"),
                 kwargs.get("stack_info", False), kwargs.get("stacklevel"))


def debug(self, msg, *args, **kwargs):
    """Log ``msg % args`` at ``DEBUG``; see ``logging.Logger.debug``."""
    return _call_with(self, 10, msg, args, kwargs)


def info(self, msg, *args, **kwargs):
    """Log ``msg % args`` at ``INFO``; see ``logging.Logger.info``."""
    return _call_with(self, 20, msg, args, kwargs)


def warning(self, msg, *args, **kwargs):
    """Log ``msg % args`` at ``WARNING``; see ``logging.Logger.warning``."""
    return _call_with(self, 30, msg, args, kwargs)


def warn(self, msg, *args, **kwargs):
    """``warning()``, without the stdlib's deprecation warning."""
    return _call_with(self, 30, msg, args, kwargs)


def error(self, msg, *args, **kwargs):
    """Log ``msg % args`` at ``ERROR``; see ``logging.Logger.error``."""
    return _call_with(self, 40, msg, args, kwargs)


def exception(self, msg, *args, exc_info=True, **kwargs):
    """Log ``msg % args`` at ``ERROR`` with the exception being handled."""
    kwargs["exc_info"] = exc_info
    return _call_with(self, 40, msg, args, kwargs)


def critical(self, msg, *args, **kwargs):
    """Log ``msg % args`` at ``CRITICAL``; see ``logging.Logger.critical``."""
    return _call_with(self, 50, msg, args, kwargs)


def log(self, level, msg, *args, **kwargs):
    """Log ``msg % args`` at the integer ``level``; see ``logging.Logger.log``."""
    if not isinstance(level, int):
        if _logging.raiseExceptions:
            raise TypeError("level must be an integer")
        return None
    return _call_with(self, level, msg, args, kwargs)
