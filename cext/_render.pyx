# cython: language_level=3
"""The compiled renderers and the line transport (``loglayer._render``).

The hot paths of ``loglayer._render_py`` in C: the common shapes (str keys, str
messages, no control characters, values orjson takes) are handled here; everything
unusual goes to the pure module's helpers, so both cores write the same bytes.
``LineTransport`` subclasses the kernel's ``LineSink`` (declared in
``cext/loglayer/_core.pxd``), so the kernel renders its entries in C, once per format
per entry, and writes them without a Python-level ``send`` frame.
"""

cimport cython
from cpython.unicode cimport PyUnicode_DATA, PyUnicode_GET_LENGTH, PyUnicode_KIND, PyUnicode_READ

from loglayer._core cimport LineSink, LogEntry, Transport

import sys

import orjson

from loglayer import _render_py as _pure
from loglayer._common import check_bool, text_of
from loglayer._multiline import Multiline
from loglayer.levels import LogLevel
from loglayer.utils._tomap import to_map

__all__ = ["ConsoleFormat", "JsonFormat", "LineTransport"]


cdef extern from *:
    """
    /* A dict sized for its keys up front: growing one key by key resizes it. The
       function is private CPython API, so fall back to an ordinary dict elsewhere. */
    #if defined(PYPY_VERSION) || defined(Py_LIMITED_API)
    #define loglayer_presized_dict(n) PyDict_New()
    #else
    #define loglayer_presized_dict(n) _PyDict_NewPresized(n)
    #endif
    """
    dict loglayer_presized_dict(Py_ssize_t size)


# Level bit index (TRACE 0, DEBUG 1 ... FATAL 5) <-> LogLevel member, as in the kernel.
cdef tuple _LEVELS = tuple([LogLevel.parse(n) for n in (5, 10, 20, 30, 40, 50)])


cdef class _Format:
    """Base of the compiled formats: ``render(entry)`` runs in C.

    ``binary`` tells whether a rendered line is ``bytes`` (else ``str``).
    """

    cdef readonly bint binary

    cdef object _render(self, LogEntry entry):
        raise NotImplementedError

    def render(self, LogEntry entry not None):
        """The whole line for ``entry``, newline included."""
        return self._render(entry)


cdef class LineTransport(LineSink):
    """A transport that writes one rendered line per entry to a stream.

    ``format`` is an object with ``render(entry)`` returning the whole line (``bytes``
    or ``str``, as its ``binary`` attribute says). The line is converted to what the
    stream takes (``binary=True`` for a stream of bytes) and handed to exactly one
    ``write()`` call, so a reader of the stream never sees half an entry.
    ``stream=None`` means ``sys.<default_stream>`` as it is at each write; a given
    stream's ``write`` is looked up once, here.

    When a subclass does not override ``send`` or ``write_line``, the kernel renders
    in C, once per format per entry, and writes without a Python-level ``send`` frame.
    """

    cdef _Format _compiled_format
    cdef object _stream
    cdef object _write
    cdef object _default_stream
    cdef bint _binary
    cdef bint _decode
    cdef bint _encode

    def __init__(self, format, stream=None, *, binary=False, default_stream="stdout", id="",
                 level=None, enabled=True):
        Transport.__init__(self, id, level=level, enabled=enabled)
        if not callable(getattr(format, "render", None)):
            raise TypeError(f"format must have a render(entry) method, "
                            f"got {type(format).__name__}")
        if stream is not None and not callable(getattr(stream, "write", None)):
            raise TypeError(f"stream must have a write() method, got {type(stream).__name__}")
        if default_stream not in ("stdout", "stderr"):
            raise ValueError(f"default_stream must be 'stdout' or 'stderr', "
                             f"got {default_stream!r}")
        self._format = format
        self._compiled_format = format if isinstance(format, _Format) else None
        self._stream = stream
        self._write = None if stream is None else stream.write
        self._binary = check_bool("binary", binary)
        self._default_stream = default_stream
        produces_bytes = bool(getattr(format, "binary", False))
        self._decode = produces_bytes and not self._binary
        self._encode = self._binary and not produces_bytes

    @property
    def format(self):
        """The format that renders each entry."""
        return self._format

    @property
    def stream(self):
        """The stream written to: the one given, else ``sys.<default_stream>`` as it is now."""
        return self._stream if self._stream is not None else getattr(sys, self._default_stream)

    cdef object _render(self, LogEntry entry):
        if self._compiled_format is not None:
            return self._compiled_format._render(entry)
        return self._format.render(entry)

    cdef int _write_line(self, object line) except -1:
        if self._decode:
            line = (<bytes?>line).decode("utf-8")
        elif self._encode:
            line = (<str?>line).encode("utf-8")
        if self._write is not None:
            self._write(line)
        else:
            stream = getattr(sys, self._default_stream)
            if stream is not None:  # no console at all (pythonw, a daemon)
                stream.write(line)
        return 0

    def flush(self):
        stream = self._stream if self._stream is not None else getattr(sys, self._default_stream)
        flush = getattr(stream, "flush", None)
        if callable(flush):
            flush()


cdef object _dumps = orjson.dumps
cdef object _json_default = _pure._default
cdef object _JSON_OPTIONS = _pure._OPTIONS
cdef tuple _JSON_LEVEL_NAMES = tuple([level.name.lower() for level in _LEVELS])
cdef tuple _MILLIS = _pure._MILLIS
cdef tuple _MILLIS_Z = _pure._MILLIS_Z
cdef long long _NS_PER_SECOND = 1000000000
cdef long long _NS_PER_MS = 1000000


cdef bint _needs_escape(str text):
    """True when ``text`` holds a character that could end or forge a console line:
    C0 and C1 controls, DEL, and the two Unicode line separators."""
    cdef Py_ssize_t i, n = PyUnicode_GET_LENGTH(text)
    cdef int kind = PyUnicode_KIND(text)
    cdef void* data = PyUnicode_DATA(text)
    cdef Py_UCS4 c
    for i in range(n):
        c = PyUnicode_READ(kind, data, i)
        if c < 0x20 or 0x7F <= c < 0xA0 or c == 0x2028 or c == 0x2029:
            return True
    return False


cdef inline str _escaped(str text):
    return _pure._escape(text) if _needs_escape(text) else text


cdef bint _is_bare(str text):
    """A console value written without quotes: non-empty, no space, '=', '"' or control."""
    cdef Py_ssize_t i, n = PyUnicode_GET_LENGTH(text)
    if n == 0:
        return False
    cdef int kind = PyUnicode_KIND(text)
    cdef void* data = PyUnicode_DATA(text)
    cdef Py_UCS4 c
    for i in range(n):
        c = PyUnicode_READ(kind, data, i)
        if (c <= 0x20 or c == 0x3D or c == 0x22 or 0x7F <= c < 0xA0 or c == 0x2028
                or c == 0x2029):
            return False
    return True


cdef inline str _as_text(object obj):
    return obj if type(obj) is str else text_of(obj)


cdef str _message_text(list messages, object prefix):
    """The prefix (when non-empty) and the messages as text, joined by one space."""
    cdef list parts
    if prefix:
        parts = [_as_text(prefix)]
    elif len(messages) == 1:
        return _as_text(messages[0])
    else:
        parts = []
    for message in messages:
        parts.append(_as_text(message))
    return " ".join(parts)


@cython.final
cdef class JsonFormat(_Format):
    """How a JSON line names its three fixed keys and writes the time.

    The compiled twin of ``loglayer._render_py.JsonFormat``; it is validated by it, and
    renders the same bytes.
    """

    cdef readonly object message_key
    cdef readonly object level_key
    cdef readonly object time_key
    cdef readonly object time_format
    cdef object _reference
    cdef int _time_mode
    cdef dict _renames
    cdef long long _iso_second
    cdef object _iso_head

    def __init__(self, message_key="msg", level_key="level", time_key="time",
                 time_format="iso"):
        reference = _pure.JsonFormat(message_key, level_key, time_key, time_format)
        self._reference = reference
        self.binary = True
        self.message_key = reference.message_key
        self.level_key = reference.level_key
        self.time_key = reference.time_key
        self.time_format = reference.time_format
        self._time_mode = reference._time_mode
        self._renames = reference._renames
        self._iso_second = -1
        self._iso_head = None

    def __repr__(self):
        return (f"JsonFormat(message_key={self.message_key!r}, level_key={self.level_key!r}, "
                f"time_key={self.time_key!r}, time_format={self.time_format!r})")

    cdef object _iso_time(self, long long time_ns):
        cdef long long seconds = time_ns // _NS_PER_SECOND
        if seconds != self._iso_second:
            self._iso_head = _pure._iso_head(seconds)
            self._iso_second = seconds
        return self._iso_head + <str>_MILLIS_Z[(time_ns % _NS_PER_SECOND) // _NS_PER_MS]

    cdef inline object _root_key(self, object key):
        if type(key) is not str:
            key = text_of(key)
        renamed = self._renames.get(key)
        return key if renamed is None else renamed

    cdef object _render(self, LogEntry entry):
        cdef int slot = entry._slot
        if slot < 0 or entry.time_ns < 0:
            return _pure.render_json(entry, self._reference)
        metadata = entry.metadata
        cdef dict data = entry.data
        cdef Py_ssize_t size = 3 + len(data)
        if type(metadata) is dict:
            size += len(<dict>metadata)
        cdef dict root = loglayer_presized_dict(size)
        cdef dict mapped
        cdef int mode = self._time_mode
        if mode == 1:
            root[self.time_key] = self._iso_time(entry.time_ns)
        elif mode == 2:
            root[self.time_key] = entry.time_ns / 1e9
        elif mode == 3:
            root[self.time_key] = entry.time_ns // _NS_PER_MS
        elif mode == 4:
            root[self.time_key] = entry.time_ns
        root[self.level_key] = _JSON_LEVEL_NAMES[slot]
        root[self.message_key] = _message_text(entry.messages, entry.prefix)
        # Data and metadata go in with dict.update. Had any key landed on a key already
        # there (a reserved key, or a data key the metadata repeats), the dict would be
        # shorter than the keys put in: then the pure module's exact path, which renames
        # reserved keys, builds the line. A non-str key is left as it is here; orjson
        # refuses it, and the exact path builds the line too.
        cdef Py_ssize_t expected = len(root)
        if data:
            root.update(data)
            expected += len(data)
        if metadata is not None:
            mapped = metadata if type(metadata) is dict else to_map(metadata)
            metadata_key = entry.metadata_key
            if mapped is None:
                root[self._root_key(metadata_key or "metadata")] = metadata
            elif metadata_key:
                root[self._root_key(metadata_key)] = mapped
            else:
                root.update(mapped)
                expected += len(mapped) - 1
            expected += 1
        if len(root) != expected:
            return _pure._render_json_exact(entry, self._reference)
        try:
            return _dumps(root, _json_default, _JSON_OPTIONS)
        except Exception:
            return _pure._render_json_exact(entry, self._reference)


@cython.final
cdef class ConsoleFormat(_Format):
    """How a console line is laid out: colours, the time column, the error key.

    The compiled twin of ``loglayer._render_py.ConsoleFormat``; it is validated by it,
    and renders the same text.
    """

    cdef readonly bint colors
    cdef readonly bint show_time
    cdef readonly object error_key
    cdef object _reference
    cdef tuple _labels
    cdef str _time_open
    cdef str _time_close
    cdef str _key_open
    cdef str _key_close
    cdef long long _clock_second
    cdef object _clock_head

    def __init__(self, colors, show_time, error_key=None):
        reference = _pure.ConsoleFormat(colors, show_time, error_key)
        self._reference = reference
        self.binary = False
        self.colors = reference.colors
        self.show_time = reference.show_time
        self.error_key = reference.error_key
        self._labels = tuple([reference._levels[int(level)] for level in _LEVELS])
        self._time_open = reference._time_open
        self._time_close = reference._time_close
        self._key_open = reference._key_open
        self._key_close = reference._key_close
        self._clock_second = -1
        self._clock_head = None

    def __repr__(self):
        return (f"ConsoleFormat(colors={self.colors!r}, show_time={self.show_time!r}, "
                f"error_key={self.error_key!r})")

    cdef str _value(self, object value):
        if isinstance(value, str):
            if _is_bare(<str>value):
                return value
        elif value is None:
            return "null"
        elif value is True:
            return "true"
        elif value is False:
            return "false"
        elif type(value) is int and -9223372036854775808 <= value <= 18446744073709551615:
            return str(value)
        return _pure._json_text(value)

    cdef str _pair(self, object key, object value):
        return self._key_open + _escaped(_as_text(key)) + self._key_close + self._value(value)

    cdef str _messages(self, list messages):
        cdef list parts
        if len(messages) == 1 and type(messages[0]) is str:
            return _escaped(<str>messages[0])
        parts = []
        for message in messages:
            if type(message) is str:
                parts.append(_escaped(<str>message))
            elif isinstance(message, Multiline):
                parts.append(_pure._MULTILINE_JOIN.join(
                    [_escaped(line) for line in (<object>message).lines]))
            else:
                parts.append(_escaped(text_of(message)))
        return " ".join(parts)

    cdef object _render(self, LogEntry entry):
        cdef int slot = entry._slot
        if slot < 0 or entry.time_ns < 0:
            return _pure.render_console(entry, self._reference)
        cdef list parts = []
        cdef long long seconds
        if self.show_time:
            seconds = entry.time_ns // _NS_PER_SECOND
            if seconds != self._clock_second:
                self._clock_head = self._time_open + _pure._clock_head(seconds)
                self._clock_second = seconds
            parts.append(self._clock_head
                         + <str>_MILLIS[(entry.time_ns % _NS_PER_SECOND) // _NS_PER_MS]
                         + self._time_close)
        parts.append(self._labels[slot])
        prefix = entry.prefix
        if prefix:
            parts.append(_escaped(_as_text(prefix)) + " ")
        parts.append(self._messages(entry.messages))
        error = entry.error
        error_key = None
        if error is not None:
            error_key = self.error_key if self.error_key is not None else entry.error_key
        if entry.data:
            for key, value in (<dict>entry.data).items():
                key = _as_text(key)
                if error_key is not None and key == error_key:
                    parts.append(self._key_open + _escaped(key) + self._key_close
                                 + _pure._error_summary(error))
                    error_key = None
                else:
                    parts.append(self._pair(key, value))
        if error_key is not None:
            parts.append(self._key_open + _escaped(error_key) + self._key_close
                         + _pure._error_summary(error))
        metadata = entry.metadata
        if metadata is not None:
            mapped = metadata if type(metadata) is dict else to_map(metadata)
            if mapped is None:
                parts.append(self._key_open + "metadata" + self._key_close
                             + self._value(metadata))
            else:
                for key, value in mapped.items():
                    parts.append(self._pair(key, value))
        parts.append("\n")
        if isinstance(error, BaseException) and error.__traceback__ is not None:
            parts.append(_pure._indented_traceback(error))
        return "".join(parts)
