# cython: language_level=3, binding=True
"""The facade logger's level methods, compiled (``loglayer._stdlibfast``).

``loglayer.stdlib`` defines how a facade logger behaves, in Python; this module serves
the same calls faster with the same result. A call whose level passed climbs the tree
as ``callHandlers`` does, reading each logger's handlers as it reaches them, and builds
the ``LogRecord`` only when the first handler that needs one comes (then every later
handler gets that record, as in the stdlib). Served without a record:

* a ``LogLayerHandler`` without filters (the call becomes a loglayer entry, as
  ``StdlibLogger._send_natively`` makes it), and the ready logger at the root;
* an exact ``logging.StreamHandler`` without filters whose formatter is a plain
  ``logging.Formatter`` (or none) with a ``%``-style format naming only ``name``,
  ``levelname``, ``levelno`` and ``message``: the line is the format applied to those
  four values, which is what the formatter makes of a record, written and flushed under
  the handler's lock as ``emit`` does; a failed write reaches ``handleError`` with a
  record built then.

Only while ``logging`` is as the stdlib made it: a method of these classes replaced on
the class (checked through the types' version tags, so the check costs an integer
comparison) or on the instance (``mock.patch.object(handler, "emit")``), a patched
``getLevelName`` or a custom record factory make those handlers take the record.
``exc_info``, ``stack_info``, ``stacklevel``, filters on the logger, ``extra`` keys a
record refuses, or a logger class of the program's own take the Python ``_log``.

A level that is off: ``loglayer.stdlib`` puts an ``OffMethod`` in the logger's
instance for that level's methods while the stdlib's ``isEnabledFor`` cache holds the
level as off; it answers from that cache at each call (so a method taken while the
level was off works once it is on) and costs a dictionary lookup.
"""

import logging
import re
import sys

cimport cython
from collections.abc import Mapping

from cpython.dict cimport PyDict_GetItemWithError
from cpython.object cimport PyObject

from loglayer._validate import LOGGER_FIELD
from loglayer.levels import LogLevel

cdef extern from "Python.h":
    PyObject** _PyObject_GetDictPtr(object obj)

cdef extern from *:
    """
    #include <stddef.h>
    #include <string.h>

    /* The version tag CPython gives a type and changes whenever an attribute of it, or
       of a base, is set or deleted; 0 while none is assigned. */
    static unsigned int loglayer_type_tag(PyObject *type) {
        PyTypeObject *t = (PyTypeObject *)type;
        if (!PyType_HasFeature(t, Py_TPFLAGS_VALID_VERSION_TAG)) return 0;
        return t->tp_version_tag;
    }

    /* A level method of a facade logger while its level is off (see the module). */
    typedef struct {
        PyObject_HEAD
        vectorcallfunc vectorcall;
        PyObject *logger;  /* the logger whose method this stands in for */
        PyObject *cache;   /* its isEnabledFor cache when this was made */
        PyObject *level;   /* the level number */
        PyObject *name;    /* the method's name */
    } loglayer_off_method;

    static PyObject *loglayer_off_method_call(PyObject *self_, PyObject *const *args,
                                              size_t nargsf, PyObject *kwnames) {
        loglayer_off_method *self = (loglayer_off_method *)self_;
        PyObject *answer = PyDict_GetItemWithError(self->cache, self->level);
        if (answer == Py_False) Py_RETURN_NONE;
        if (answer == NULL && PyErr_Occurred()) return NULL;
        /* on again, or not known yet: the class's method */
        PyObject *method = _PyType_Lookup(Py_TYPE(self->logger), self->name);
        if (method == NULL) {
            PyErr_Format(PyExc_AttributeError, "%R has no method %R", self->logger,
                         self->name);
            return NULL;
        }
        Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
        Py_ssize_t total = nargs + (kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames));
        PyObject *small[8];
        PyObject **stack = small;
        if (total + 1 > 8) {
            stack = PyMem_Malloc((total + 1) * sizeof(PyObject *));
            if (stack == NULL) return PyErr_NoMemory();
        }
        stack[0] = self->logger;
        if (total) memcpy(stack + 1, args, total * sizeof(PyObject *));
        Py_INCREF(method);
        PyObject *result = PyObject_Vectorcall(method, stack, nargs + 1, kwnames);
        Py_DECREF(method);
        if (stack != small) PyMem_Free(stack);
        return result;
    }

    static int loglayer_off_method_traverse(PyObject *self_, visitproc visit, void *arg) {
        loglayer_off_method *self = (loglayer_off_method *)self_;
        Py_VISIT(self->logger);
        Py_VISIT(self->cache);
        return 0;
    }

    static int loglayer_off_method_clear(PyObject *self_) {
        loglayer_off_method *self = (loglayer_off_method *)self_;
        Py_CLEAR(self->logger);
        Py_CLEAR(self->cache);
        return 0;
    }

    static void loglayer_off_method_dealloc(PyObject *self_) {
        loglayer_off_method *self = (loglayer_off_method *)self_;
        PyObject_GC_UnTrack(self_);
        loglayer_off_method_clear(self_);
        Py_CLEAR(self->level);
        Py_CLEAR(self->name);
        PyObject_GC_Del(self_);
    }

    static PyObject *loglayer_off_method_repr(PyObject *self_) {
        loglayer_off_method *self = (loglayer_off_method *)self_;
        return PyUnicode_FromFormat("<level method %U of %R while level %R is off>",
                                    self->name, self->logger, self->level);
    }

    static PyObject *loglayer_off_method_self(PyObject *self_, void *closure) {
        (void)closure;
        PyObject *logger = ((loglayer_off_method *)self_)->logger;
        if (logger == NULL) Py_RETURN_NONE;
        Py_INCREF(logger);
        return logger;
    }

    static PyObject *loglayer_off_method_name(PyObject *self_, void *closure) {
        (void)closure;
        PyObject *name = ((loglayer_off_method *)self_)->name;
        Py_INCREF(name);
        return name;
    }

    static PyObject *loglayer_off_method_func(PyObject *self_, void *closure) {
        (void)closure;
        loglayer_off_method *self = (loglayer_off_method *)self_;
        PyObject *method = self->logger == NULL ? NULL
            : _PyType_Lookup(Py_TYPE(self->logger), self->name);
        if (method == NULL) Py_RETURN_NONE;
        Py_INCREF(method);
        return method;
    }

    /* Pickled as what it stands in for: getattr(logger, name). */
    static PyObject *loglayer_off_method_reduce(PyObject *self_, PyObject *unused) {
        (void)unused;
        loglayer_off_method *self = (loglayer_off_method *)self_;
        PyObject *getattr = PyDict_GetItemString(PyEval_GetBuiltins(), "getattr");
        if (getattr == NULL) return NULL;
        return Py_BuildValue("O(OO)", getattr, self->logger, self->name);
    }

    static PyGetSetDef loglayer_off_method_getset[] = {
        {"__self__", loglayer_off_method_self, NULL, NULL, NULL},
        {"__name__", loglayer_off_method_name, NULL, NULL, NULL},
        {"__func__", loglayer_off_method_func, NULL, NULL, NULL},
        {NULL, NULL, NULL, NULL, NULL}
    };

    static PyMethodDef loglayer_off_method_methods[] = {
        {"__reduce__", loglayer_off_method_reduce, METH_NOARGS, NULL},
        {NULL, NULL, 0, NULL}
    };

    static PyTypeObject loglayer_off_method_type = {
        PyVarObject_HEAD_INIT(NULL, 0)
        .tp_name = "loglayer._stdlibfast.OffMethod",
        .tp_basicsize = sizeof(loglayer_off_method),
        .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_VECTORCALL | Py_TPFLAGS_HAVE_GC,
        .tp_vectorcall_offset = offsetof(loglayer_off_method, vectorcall),
        .tp_call = PyVectorcall_Call,
        .tp_repr = loglayer_off_method_repr,
        .tp_traverse = loglayer_off_method_traverse,
        .tp_clear = loglayer_off_method_clear,
        .tp_dealloc = loglayer_off_method_dealloc,
        .tp_getset = loglayer_off_method_getset,
        .tp_methods = loglayer_off_method_methods,
    };

    static PyObject *loglayer_off_method_new(PyObject *logger, PyObject *cache,
                                             PyObject *level, PyObject *name) {
        if (PyType_Ready(&loglayer_off_method_type) < 0) return NULL;
        loglayer_off_method *self = PyObject_GC_New(loglayer_off_method,
                                                    &loglayer_off_method_type);
        if (self == NULL) return NULL;
        self->vectorcall = loglayer_off_method_call;
        Py_INCREF(logger); self->logger = logger;
        Py_INCREF(cache); self->cache = cache;
        Py_INCREF(level); self->level = level;
        Py_INCREF(name); self->name = name;
        PyObject_GC_Track((PyObject *)self);
        return (PyObject *)self;
    }

    static PyObject *loglayer_off_method_class(void) {
        if (PyType_Ready(&loglayer_off_method_type) < 0) return NULL;
        Py_INCREF(&loglayer_off_method_type);
        return (PyObject *)&loglayer_off_method_type;
    }
    """
    unsigned int loglayer_type_tag(object type)
    object loglayer_off_method_new(object logger, object cache, object level, object name)
    object loglayer_off_method_class()


#: The type of the stand-ins (see the module).
OffMethod = loglayer_off_method_class()


def off_method(logger, cache, level, name):
    """The stand-in for ``logger.<name>`` while ``cache`` holds ``level`` as off."""
    if type(cache) is not dict and not isinstance(cache, dict):
        raise TypeError(f"cache must be a dict, got {type(cache).__name__}")
    if type(name) is not str:
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    return loglayer_off_method_new(logger, cache, level, name)


cdef object _logging = logging
cdef object _LogRecord = logging.LogRecord
cdef object _StreamHandler = logging.StreamHandler
cdef object _Formatter = logging.Formatter
cdef object _PercentStyle = logging.PercentStyle
cdef object _Logger = logging.Logger
cdef object _RootLogger = logging.RootLogger
cdef object _getLevelName = logging.getLevelName
cdef dict _level_names = logging._levelToName
cdef object _Mapping = Mapping

cdef object _TRACE = LogLevel.TRACE
cdef object _DEBUG = LogLevel.DEBUG
cdef object _INFO = LogLevel.INFO
cdef object _WARN = LogLevel.WARN
cdef object _ERROR = LogLevel.ERROR
cdef object _FATAL = LogLevel.FATAL

#: The methods whose replacement, on an instance, makes a handler, formatter, style or
#: logger take the record (they are the ones the stdlib would call on the way).
cdef tuple _HANDLER_METHODS = ("handle", "filter", "emit", "format", "flush", "acquire",
                               "release")
cdef tuple _FORMATTER_METHODS = ("format", "formatMessage", "usesTime")
cdef tuple _STYLE_METHODS = ("format", "_format", "usesTime")
cdef tuple _LOGGER_METHODS = ("handle", "filter", "callHandlers", "isEnabledFor",
                              "makeRecord", "findCaller")
cdef tuple _LOGLAYER_HANDLER_METHODS = ("handle", "filter", "emit")

# Bound by loglayer.stdlib (bind).
cdef object _served = ()
cdef object _LogLayerHandler = None
cdef object _default = None
cdef object _to_ready_logger = None
cdef object _report_failed_write = None
cdef frozenset _refused_extra = frozenset()


cdef class _Watched:
    """A class whose methods the fast path stands in for, as the stdlib made them."""
    cdef object cls
    cdef tuple names
    cdef tuple originals
    cdef unsigned int tag

    cdef bint pristine(self) except -1:
        """Whether none of ``names`` was replaced since; an integer comparison while
        nothing in the class changed."""
        cdef unsigned int tag = loglayer_type_tag(self.cls)
        if tag != 0 and tag == self.tag:
            return True
        for name, original in zip(self.names, self.originals):
            if getattr(self.cls, name, None) is not original:
                return False
        self.tag = loglayer_type_tag(self.cls)  # the lookups above gave it one
        return True


cdef _Watched _watch(object cls, tuple names):
    cdef _Watched watched = _Watched.__new__(_Watched)
    watched.cls = cls
    watched.names = names
    watched.originals = tuple([getattr(cls, name, None) for name in names])
    watched.tag = 0
    return watched


cdef _Watched _stream_class = _watch(_StreamHandler, _HANDLER_METHODS)
cdef _Watched _formatter_class = _watch(_Formatter, _FORMATTER_METHODS)
cdef _Watched _style_class = _watch(_PercentStyle, _STYLE_METHODS)
cdef _Watched _record_class = _watch(_LogRecord, ("__init__", "getMessage"))
cdef _Watched _loglayer_handler_class = None
cdef dict _logger_classes = {}  # served class -> its _Watched


def bind(served, log_layer_handler, default_module, to_ready_logger, report_failed_write,
         refused_extra):
    """Tell this module the facade classes it serves, ``LogLayerHandler``, the module
    that holds the ready logger (``loglayer._default``), how a record reaches the ready
    logger, how a failed write is reported, and the ``extra`` keys a record refuses."""
    global _served, _LogLayerHandler, _default, _to_ready_logger, _report_failed_write
    global _refused_extra, _loglayer_handler_class
    _served = tuple(served)
    _LogLayerHandler = log_layer_handler
    _default = default_module
    _to_ready_logger = to_ready_logger
    _report_failed_write = report_failed_write
    _refused_extra = frozenset(refused_extra)
    _loglayer_handler_class = _watch(log_layer_handler, _LOGLAYER_HANDLER_METHODS)
    for cls in _served:
        _logger_classes[cls] = _watch(cls, _LOGGER_METHODS)


cdef dict _own(object obj):
    """``obj``'s instance ``__dict__``, or None when it has none."""
    cdef PyObject** slot = _PyObject_GetDictPtr(obj)
    if slot == NULL or slot[0] == NULL:
        return None
    return <dict>slot[0]


cdef inline object _get(object obj, dict own, object name):
    """``obj.<name>`` for an attribute no class of ``obj`` makes a descriptor: from its
    instance dict, else from its class."""
    cdef PyObject* value = PyDict_GetItemWithError(own, name)
    if value != NULL:
        return <object>value
    return getattr(obj, name)


cdef bint _replaced(dict own, tuple names) except -1:
    """Whether the instance holds one of ``names`` itself."""
    for name in names:
        if name in own:
            return True
    return False


#: A format string -> how to render it from the four values: a tuple of pieces (str
#: literals and the indices of ``%(field)s`` specs), True for ``fmt % values``, or
#: False when a record is needed.
cdef dict _plans = {}
_SPEC = re.compile(r"%%|%\(([^)]*)\)([#0+ -]*\d*(?:\.\d+)?[a-zA-Z%])?")
_RENDERED = ("name", "levelname", "levelno", "message")
_KEYWORDS = frozenset(("exc_info", "extra", "stack_info", "stacklevel"))


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


cdef object _record(object logger, long levelno, object msg, tuple args, object extra):
    """The record ``Logger._log`` makes for this call."""
    try:
        path, line_number, function, stack = logger.findCaller(False, 1)
    except ValueError:
        path, line_number, function, stack = "(unknown file)", 0, "(unknown function)", None
    return logger.makeRecord(logger.name, levelno, path, line_number, msg, args, None,
                             function, extra, stack)


cdef dict _exact_own(object obj, object cls, tuple names):
    """``obj``'s instance dict when ``obj`` is exactly a ``cls`` that replaces none of
    ``names`` on the instance; None when its own methods may differ from the class's."""
    if type(obj) is not cls:
        return None
    own = _own(obj)
    if own is None or _replaced(own, names):
        return None
    return own


cdef bint _stream_natively(object logger, object handler, long levelno, object msg,
                           tuple args) except -1:
    """``handler.handle(record)`` for an exact StreamHandler, without the record; False
    (nothing done) when this handler needs the record."""
    hown = _own(handler)
    if hown is None or _replaced(hown, _HANDLER_METHODS) or _get(handler, hown, "filters"):
        return False
    formatter = _get(handler, hown, "formatter")
    if formatter is None:
        formatter = _logging._defaultFormatter
    own = _exact_own(formatter, _Formatter, _FORMATTER_METHODS)
    if own is None:
        return False
    style = _get(formatter, own, "_style")
    own = _exact_own(style, _PercentStyle, _STYLE_METHODS)
    if own is None:
        return False
    fmt = _get(style, own, "_fmt")
    if type(fmt) is not str:
        return False
    plan = _plan_of(<str>fmt)
    if plan is False:
        return False
    try:
        text = _message(msg, args)  # per handler, as each formatter asks the record
    except Exception:
        return False  # the record's handler reports it as the stdlib does
    lock = _get(handler, hown, "lock")
    if lock:
        lock.acquire()
    try:
        try:
            line = _line(fmt, plan, logger.name, levelno, text)
            stream = _get(handler, hown, "stream")
            stream.write(line + _get(handler, hown, "terminator"))
            if stream:  # StreamHandler.flush
                flush = getattr(stream, "flush", None)
                if flush is not None:
                    flush()
        except RecursionError:
            raise
        except Exception as error:
            failed = error
        else:
            failed = None
        if failed is not None:
            _report_failed_write(handler, _record(logger, levelno, msg, args, None), failed)
    finally:
        if lock:
            lock.release()
    return True


cdef bint _level_on(object logger, dict own, object level) except -1:
    """``logger.isEnabledFor(level)``, from its cache when the answer is there; ``own``
    is the logger's instance dict (None: read its attributes)."""
    if (logger.disabled if own is None else _get(logger, own, "disabled")):
        return False
    cache = logger._cache if own is None else _get(logger, own, "_cache")
    cdef PyObject* cached = NULL
    if type(cache) is dict or isinstance(cache, dict):
        cached = PyDict_GetItemWithError(cache, level)
    if cached == NULL:
        return logger.isEnabledFor(level)
    return <object>cached


@cython.final
@cython.freelist(4)
cdef class _Call:
    """One call on its way up the tree: what is known so far."""
    cdef object logger
    cdef long levelno
    cdef object msg
    cdef tuple args
    cdef object extra
    cdef object record
    cdef object text       # the message for loglayer, formatted once
    cdef int captures      # -1: not asked yet
    cdef bint formatted    # a StreamHandler's Formatter was served: it sets .message

    cdef bint to_loglayer(self, object log) except -1:
        """Send the call to ``log`` as an entry; False when it needs the record."""
        if self.captures < 0:
            self.captures = _captures_caller(self.logger)
        if self.captures:
            return False
        level = _loglayer_level(self.levelno)
        if not log.is_level_enabled(level):
            return True  # before formatting: a filtered call costs no formatting
        if self.text is None:
            try:
                self.text = _message(self.msg, self.args)
            except Exception:
                return False  # the record's fallback text, as LogLayerHandler makes it
        metadata = None
        if self.extra:
            metadata = self.extra if type(self.extra) is dict else dict(self.extra)
        _send(log, self.logger, self.levelno, level, self.text, metadata)
        return True

    cdef object the_record(self):
        if self.record is None:
            self.record = _record(self.logger, self.levelno, self.msg, self.args,
                                  self.extra)
            if self.formatted:  # what the formatters served before left on it
                self.record.message = self.record.getMessage()
        return self.record


cdef object _call(object logger, object level, object msg, tuple args, object exc_info,
                  object extra, object stack_info, object stacklevel):
    """``Logger.<level>(msg, *args, ...)`` once the method picked ``level``."""
    cls = type(logger)
    own = _own(logger) if cls in _served else None
    if not _level_on(logger, own, level):
        return None
    watched = _logger_classes.get(cls)
    if (exc_info or stack_info or stacklevel is not None or type(level) is not int
            or watched is None or not (<_Watched>watched).pristine()
            or _logging.getLevelName is not _getLevelName):
        return logger._log(level, msg, args, exc_info, extra, stack_info, stacklevel)
    if own is None or _replaced(own, _LOGGER_METHODS) or _get(logger, own, "filters"):
        return logger._log(level, msg, args, exc_info, extra, stack_info, stacklevel)
    if extra and not _refused_extra.isdisjoint(extra):
        # makeRecord refuses these keys: the Python path says so before any handler
        return logger._log(level, msg, args, exc_info, extra, stack_info, stacklevel)
    cdef _Call call = _Call.__new__(_Call)
    try:
        call.levelno = level
    except OverflowError:
        return logger._log(level, msg, args, exc_info, extra, stack_info, stacklevel)
    call.logger = logger
    call.msg = msg
    call.args = args
    call.extra = extra
    call.captures = -1
    cdef bint streams = (_logging._logRecordFactory is _LogRecord and not extra
                         and _stream_class.pristine() and _formatter_class.pristine()
                         and _style_class.pristine() and _record_class.pristine())
    cdef bint loglayer = _loglayer_handler_class.pristine()
    cdef long levelno = call.levelno
    cdef int found = 0

    # Logger.callHandlers, reading each logger's handlers as it reaches them
    node = logger
    while True:
        own = _own(node) if type(node) in _served or type(node) is _Logger \
            or type(node) is _RootLogger else None
        for handler in (node.handlers if own is None else _get(node, own, "handlers")):
            found += 1
            if levelno < handler.level:
                continue
            if call.record is None:
                kind = type(handler)
                if kind is _StreamHandler:
                    if streams and _stream_natively(logger, handler, levelno, msg, args):
                        call.formatted = True
                        continue
                elif kind is _LogLayerHandler and loglayer:
                    hown = _own(handler)
                    if hown is not None and not _replaced(hown, _LOGLAYER_HANDLER_METHODS) \
                            and not _get(handler, hown, "filters") \
                            and not _get(handler, hown, "capture_caller"):
                        log = _get(handler, hown, "log")  # LogLayerHandler._target
                        if call.to_loglayer(_default.log if log is None else log):
                            continue
            handler.handle(call.the_record())
        parent = node.parent if own is None else _get(node, own, "parent")
        if parent is None:
            if _default.configured:  # the ready logger, as StdlibLogger.callHandlers
                found += 1
                if call.record is not None or not call.to_loglayer(_default.log):
                    _to_ready_logger(logger, call.the_record())
            break
        if not (node.propagate if own is None else _get(node, own, "propagate")):
            break
        node = parent
    if found == 0:  # the last resort
        resort = _logging.lastResort
        if resort:
            if levelno >= resort.level:
                resort.handle(call.the_record())
        elif _logging.raiseExceptions and not logger.manager.emittedNoHandlerWarning:
            sys.stderr.write(f'No handlers could be found for logger "{logger.name}"\n')
            logger.manager.emittedNoHandlerWarning = True
    return None


# The level methods take what the stdlib's take: while the level is off, anything (the
# stdlib checks the keywords only in _log); once on, the keywords of StdlibLogger._log.

cdef object _call_with(object logger, object level, object msg, tuple args, dict kwargs):
    if not kwargs:
        return _call(logger, level, msg, args, None, None, False, None)
    if len(kwargs) == 1 and "extra" in kwargs:  # the common keyword, checked in _call
        return _call(logger, level, msg, args, None, kwargs["extra"], False, None)
    if not _level_on(logger, None, level):
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
    """``self.error(msg, *args, exc_info=exc_info, ...)``: the exception being handled,
    through ``error`` as in the stdlib."""
    return self.error(msg, *args, exc_info=exc_info, **kwargs)


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
