# cython: language_level=3, binding=True
# cython: embedsignature=True, embedsignature.format=clinic
"""The compiled renderers and the line transport (``loglayer._render``).

The hot paths of ``loglayer._render_py`` in C: the common shapes (str keys, str
messages, no control characters, values orjson takes) are handled here; everything
unusual goes to the pure module's helpers, so both cores write the same bytes.
``LineTransport`` subclasses the kernel's ``LineSink`` (declared in
``cext/loglayer/_core.pxd``), so the kernel renders its entries in C, once per format
per entry, and writes them without a Python-level ``send`` frame.
"""

cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.dict cimport PyDict_Contains, PyDict_Next
from cpython.object cimport PyObject
from cpython.unicode cimport PyUnicode_DATA, PyUnicode_GET_LENGTH, PyUnicode_KIND, PyUnicode_READ
from libc.string cimport memcpy

from loglayer._core cimport LineSink, LogEntry, Transport

import sys

import orjson

from loglayer._common import text_of
from loglayer._multiline import Multiline
from loglayer._validate import check_bool
from loglayer.levels import LogLevel
from loglayer.utils._tomap import to_map

__all__ = ["ConsoleFormat", "JsonFormat", "LineTransport"]


# The pure renderers, the reference this module defers to for what is unusual (and
# validates its formats with): imported when first needed, not with this module, so
# ``import loglayer`` does not pay for the pure renderer and the pure kernel under it.
cdef object _pure_module = None


cdef object _pure():
    global _pure_module
    if _pure_module is None:
        from loglayer import _render_py
        _pure_module = _render_py
    return _pure_module


def _json_fallback(obj):
    """orjson's ``default``: the pure renderer's, for values orjson does not take."""
    return _pure()._default(obj)


cdef object _json_default = _json_fallback


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


# A cdef class's __init__ is a slot wrapper, which has no signature; so each public
# class's docstring starts with its signature and "--", the form CPython turns into
# __text_signature__ (what inspect.signature and help() read) and leaves out of __doc__.
cdef class LineTransport(LineSink):
    """LineTransport(format, stream=None, *, binary=False, default_stream='stdout', id='', level=None, enabled=True)
--

A transport that writes one rendered line per entry to a stream.

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
        # A line that does not convert (a custom format's lone surrogate, or bytes that
        # are not UTF-8) is written with backslash escapes rather than lost.
        if self._decode:
            if type(line) is bytes:
                line = (<bytes>line).decode("utf-8", "backslashreplace")
            else:
                line = bytes.decode(line, "utf-8", "backslashreplace")
        elif self._encode:
            if type(line) is str:
                line = (<str>line).encode("utf-8", "backslashreplace")
            else:
                line = str.encode(line, "utf-8", "backslashreplace")
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


#: What ConsoleFormat._data_pairs answers when another thread changed the dict.
cdef object _CHANGED = object()
cdef object _dumps = orjson.dumps
cdef tuple _JSON_LEVEL_NAMES = tuple([level.name.lower() for level in _LEVELS])
cdef tuple _MILLIS = tuple([f"{ms:03d}" for ms in range(1000)])  # as _render_py's
cdef long long _NS_PER_SECOND = 1000000000
cdef long long _NS_PER_MS = 1000000


cdef bint _needs_escape(str text):
    """True when ``text`` holds a character that could end or forge a console line, or
    that UTF-8 cannot encode: C0 and C1 controls, DEL, the two Unicode line separators,
    lone surrogates (``loglayer._common.CONTROL``)."""
    cdef Py_ssize_t i, n = PyUnicode_GET_LENGTH(text)
    cdef int kind = PyUnicode_KIND(text)
    cdef void* data = PyUnicode_DATA(text)
    cdef Py_UCS4 c
    for i in range(n):
        c = PyUnicode_READ(kind, data, i)
        if c < 0x7F:  # ASCII, the common case: one more test
            if c < 0x20:
                return True
        elif c < 0xA0 or c == 0x2028 or c == 0x2029 or 0xD800 <= c < 0xE000:
            return True
    return False


cdef inline str _escaped(str text):
    return _pure()._escape(text) if _needs_escape(text) else text


cdef bint _is_bare(str text):
    """A console value written without quotes: non-empty, no space, '=', '"', control
    character or lone surrogate."""
    cdef Py_ssize_t i, n = PyUnicode_GET_LENGTH(text)
    if n == 0:
        return False
    cdef int kind = PyUnicode_KIND(text)
    cdef void* data = PyUnicode_DATA(text)
    cdef Py_UCS4 c
    for i in range(n):
        c = PyUnicode_READ(kind, data, i)
        if c < 0x7F:  # ASCII, the common case
            if c <= 0x20 or c == 0x3D or c == 0x22:
                return False
        elif c < 0xA0 or c == 0x2028 or c == 0x2029 or 0xD800 <= c < 0xE000:
            return False
    return True


cdef inline str _as_text(object obj):
    return obj if type(obj) is str else text_of(obj)


cdef inline str _key_text(object key):
    """A console key: bare when it can be, else JSON-quoted (``_render_py._console_key``)."""
    cdef str text = _as_text(key)
    return text if _is_bare(text) else _pure()._json_text(text)


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


cdef extern from "Python.h":
    bint PyUnicode_IS_COMPACT_ASCII(object text)
    Py_ssize_t PyDict_GET_SIZE(object mapping)


cdef extern from *:
    """
    #include <stdint.h>
    #include <string.h>
    #if defined(__SSE2__) || defined(_M_X64) || (defined(_M_IX86_FP) && _M_IX86_FP >= 2)
    #include <emmintrin.h>
    #define LOGLAYER_BLOCK 16
    /* Whether a 16-byte block holds a byte from 7F up: 7F itself, or a top bit set. */
    static int loglayer_block_high(const unsigned char* p) {
        __m128i v = _mm_loadu_si128((const __m128i*)p);
        return _mm_movemask_epi8(_mm_or_si128(v, _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7F))));
    }
    #else
    #define LOGLAYER_BLOCK 8
    /* The same for 8 bytes: adding 01 to a byte sets its top bit only from 7F up, and a
       carry into the next byte only comes from FF, whose top bit is set already. */
    static int loglayer_block_high(const unsigned char* p) {
        uint64_t w;
        memcpy(&w, p, 8);
        return ((w | (w + 0x0101010101010101ULL)) & 0x8080808080808080ULL) != 0;
    }
    #endif
    /* Whether UTF-8 JSON text holds a character orjson leaves raw that ends a line for
       some readers: DEL (7F), a C1 control (C2 80..C2 9F), U+2028 or U+2029 (E2 80 A8,
       E2 80 A9). Whole blocks are skipped while every byte is below 7F; a block that is
       not is looked at byte by byte. The last block may overlap the one before. */
    static int loglayer_json_unsafe(const unsigned char* p, Py_ssize_t n) {
        Py_ssize_t i = 0, j, end;
        unsigned char c;
        for (;;) {
            while (i + LOGLAYER_BLOCK <= n && !loglayer_block_high(p + i))
                i += LOGLAYER_BLOCK;
            if (i >= n)
                return 0;
            if (i + LOGLAYER_BLOCK <= n) {
                end = i + LOGLAYER_BLOCK;
            } else {
                if (n >= LOGLAYER_BLOCK && !loglayer_block_high(p + n - LOGLAYER_BLOCK))
                    return 0;
                end = n;
            }
            for (j = i; j < end; j++) {
                c = p[j];
                if (c < 0x7F)
                    continue;
                if (c == 0x7F)
                    return 1;
                if (c == 0xC2 && j + 1 < n && p[j + 1] >= 0x80 && p[j + 1] <= 0x9F)
                    return 1;
                if (c == 0xE2 && j + 2 < n && p[j + 1] == 0x80
                        && (p[j + 2] == 0xA8 || p[j + 2] == 0xA9))
                    return 1;
            }
            if (end == n)
                return 0;
            i = end;
        }
    }
    """
    bint loglayer_json_unsafe(const unsigned char* text, Py_ssize_t size) noexcept


cdef inline char* _put(char* out, const char* text, Py_ssize_t size) noexcept:
    memcpy(out, text, size)
    return out + size


cdef inline char* _put_bytes(char* out, bytes part) noexcept:
    return _put(out, PyBytes_AS_STRING(part), PyBytes_GET_SIZE(part))


cdef inline char* _put_digits(char* out, unsigned long long value, int width) noexcept:
    """``value`` in decimal, zero-padded to at least ``width`` digits."""
    cdef char[24] reversed_digits
    cdef int count = 0
    while value or count < width:
        reversed_digits[count] = <char>(48 + value % 10)
        value //= 10
        count += 1
    while count:
        count -= 1
        out[0] = reversed_digits[count]
        out += 1
    return out


cdef inline bint _plain_json_text(str text) noexcept:
    """True when orjson would write ``text`` as it is between quotes: compact ASCII with
    no control character, DEL, quote or backslash."""
    if not PyUnicode_IS_COMPACT_ASCII(text):
        return False
    cdef const unsigned char* chars = <const unsigned char*>PyUnicode_DATA(text)
    cdef Py_ssize_t i, n = PyUnicode_GET_LENGTH(text)
    cdef unsigned char c
    for i in range(n):
        c = chars[i]
        if c < 0x20 or c >= 0x7F or c == 0x22 or c == 0x5C:
            return False
    return True


cdef bint _disjoint(dict first, dict second):
    """True when no key of one dict is a key of the other."""
    if len(first) > len(second):
        first, second = second, first
    cdef Py_ssize_t position = 0
    cdef PyObject* key
    cdef PyObject* value
    while PyDict_Next(first, &position, &key, &value):
        if PyDict_Contains(second, <object>key):
            return False
    return True


cdef inline bint _holds_any(dict items, tuple keys):
    for key in keys:
        if PyDict_Contains(items, key):
            return True
    return False


cdef inline Py_ssize_t _inner_size(bytes document):
    """The length of a JSON object's members, without its braces (0 for ``{}``)."""
    return PyBytes_GET_SIZE(document) - 2


@cython.final
cdef class JsonFormat(_Format):
    """JsonFormat(message_key='msg', level_key='level', time_key='time', time_format='iso')
--

How a JSON line names its three fixed keys and writes the time.

    The compiled twin of ``loglayer._render_py.JsonFormat``; it is validated by it, and
    renders the same bytes. The line is written into one bytes object: the head it owns
    (time, level, message) straight from C, then orjson's rendering of the entry's data
    and metadata spliced in without building a merged dict. orjson renders every value
    that came from the caller. A key that would land on another (a reserved key, or a
    key the data and the metadata share), a non-str key, a message or value orjson
    refuses: each sends the entry to the pure module's exact path, which says how such
    lines look.
    """

    cdef readonly object message_key
    cdef readonly object level_key
    cdef readonly object time_key
    cdef readonly object time_format
    cdef object _reference
    cdef int _time_mode
    cdef dict _renames
    cdef tuple _reserved
    # '{' and the time key with its colon (just '{' without a time key), the level key
    # and value per level slot with its leading comma (none without a time key), and
    # the message key with its comma and colon: the bytes every line of this format has.
    cdef bytes _open
    cdef tuple _level_parts
    cdef bytes _message_part
    cdef long long _iso_second
    cdef bytes _iso_head

    def __init__(self, message_key="msg", level_key="level", time_key="time",
                 time_format="iso"):
        reference = _pure().JsonFormat(message_key, level_key, time_key, time_format)
        self._reference = reference
        self.binary = True
        self.message_key = reference.message_key
        self.level_key = reference.level_key
        self.time_key = reference.time_key
        self.time_format = reference.time_format
        self._time_mode = reference._time_mode
        self._renames = reference._renames
        self._reserved = reference._reserved
        timed = self._time_mode != 0
        self._open = b"{" + (_dumps(self.time_key) + b":" if timed else b"")
        self._level_parts = tuple([(b"," if timed else b"") + _dumps(self.level_key) + b":"
                                   + _dumps(name) for name in _JSON_LEVEL_NAMES])
        self._message_part = b"," + _dumps(self.message_key) + b":"
        self._iso_second = -1
        self._iso_head = None

    def __repr__(self):
        return (f"JsonFormat(message_key={self.message_key!r}, level_key={self.level_key!r}, "
                f"time_key={self.time_key!r}, time_format={self.time_format!r})")

    cdef inline object _root_key(self, object key):
        if type(key) is not str:
            key = text_of(key)
        renamed = self._renames.get(key)
        return key if renamed is None else renamed

    cdef Py_ssize_t _time_into(self, char* out, long long time_ns) except -1:
        """Write the time value as JSON (a quoted ISO string, or a number) into ``out``,
        which has room for 40 bytes; return how many were written. A ``long long`` of
        nanoseconds ends in 2262, so an ISO time is always 26 bytes."""
        cdef long long seconds
        cdef char* start = out
        cdef bytes number
        mode = self._time_mode
        if mode == 1:  # "YYYY-MM-DDTHH:MM:SS.mmmZ"
            seconds = time_ns // _NS_PER_SECOND
            if seconds != self._iso_second:
                self._iso_head = (<str>_pure()._iso_head(seconds)).encode("ascii")
                self._iso_second = seconds
            out[0] = 34
            out = _put_bytes(out + 1, self._iso_head)
            out = _put_digits(out, (time_ns % _NS_PER_SECOND) // _NS_PER_MS, 3)
            out[0] = 90
            out[1] = 34
            return out + 2 - start
        if mode == 2:  # float seconds, as orjson writes a float
            number = _dumps(time_ns / 1e9)
            return _put_bytes(out, number) - start
        return _put_digits(out, <unsigned long long>(time_ns // _NS_PER_MS if mode == 3
                                                    else time_ns), 1) - start

    cdef object _render(self, LogEntry entry):
        cdef int slot = entry._slot
        if slot < 0 or entry.time_ns < 0:
            return _pure().render_json(entry, self._reference)
        cdef dict data = entry.data
        cdef object metadata = entry.metadata
        cdef object mapped = None
        cdef bytes data_json = None
        cdef bytes metadata_json = None
        cdef bytes message_json = None
        cdef char[40] time_json
        cdef Py_ssize_t time_size = 0
        cdef str text = _message_text(entry.messages, entry.prefix)
        cdef bint plain = _plain_json_text(text)
        try:
            if data:
                if _holds_any(data, self._reserved):
                    return _pure()._render_json_exact(entry, self._reference)
                data_json = _dumps(data, _json_default)
            if metadata is not None:
                mapped = metadata if type(metadata) is dict else to_map(metadata)
                metadata_key = entry.metadata_key
                if mapped is None or metadata_key:
                    key = self._root_key(metadata_key or "metadata")
                    if data and PyDict_Contains(data, key):
                        return _pure()._render_json_exact(entry, self._reference)
                    metadata_json = _dumps({key: metadata if mapped is None else mapped},
                                           _json_default)
                elif mapped:
                    if type(mapped) is not dict:  # its items as dict.update would see them
                        mapped = dict(mapped)
                    if _holds_any(<dict>mapped, self._reserved) or (
                            data and not _disjoint(data, <dict>mapped)):
                        return _pure()._render_json_exact(entry, self._reference)
                    metadata_json = _dumps(mapped, _json_default)
            if not plain:
                message_json = _dumps(text)
            if self._time_mode:
                time_size = self._time_into(time_json, entry.time_ns)
        except Exception:  # a non-str key, a lone surrogate, a value orjson refuses...
            return _pure()._render_json_exact(entry, self._reference)

        cdef bytes level_part = <bytes>self._level_parts[slot]
        cdef Py_ssize_t text_size = PyUnicode_GET_LENGTH(text) + 2 if plain else \
            PyBytes_GET_SIZE(message_json)
        cdef Py_ssize_t size = (PyBytes_GET_SIZE(self._open) + PyBytes_GET_SIZE(level_part)
                                + PyBytes_GET_SIZE(self._message_part) + text_size
                                + time_size + 2)
        if data_json is not None and _inner_size(data_json):
            size += 1 + _inner_size(data_json)
        else:
            data_json = None
        if metadata_json is not None and _inner_size(metadata_json):
            size += 1 + _inner_size(metadata_json)
        else:
            metadata_json = None
        cdef bytes line = PyBytes_FromStringAndSize(NULL, size)
        cdef char* out = PyBytes_AS_STRING(line)
        out = _put_bytes(out, self._open)
        out = _put(out, time_json, time_size)
        out = _put_bytes(out, level_part)
        out = _put_bytes(out, self._message_part)
        # what comes before is ASCII this format wrote; so is a plain message
        cdef Py_ssize_t scan_from = out - PyBytes_AS_STRING(line)
        if plain:
            out[0] = 34
            out = _put(out + 1, <const char*>PyUnicode_DATA(text), PyUnicode_GET_LENGTH(text))
            out[0] = 34
            out += 1
        else:
            out = _put_bytes(out, message_json)
        if data_json is not None:
            out[0] = 44
            out = _put(out + 1, PyBytes_AS_STRING(data_json) + 1, _inner_size(data_json))
        if metadata_json is not None:
            out[0] = 44
            out = _put(out + 1, PyBytes_AS_STRING(metadata_json) + 1,
                       _inner_size(metadata_json))
        out[0] = 125
        out[1] = 10
        if plain:
            scan_from += text_size
        if loglayer_json_unsafe(<const unsigned char*>PyBytes_AS_STRING(line) + scan_from,
                                size - scan_from):
            return _pure()._json_safe(line)
        return line


@cython.final
cdef class ConsoleFormat(_Format):
    """ConsoleFormat(colors, show_time, error_key=None)
--

How a console line is laid out: colours, the time column, the error key.

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
        reference = _pure().ConsoleFormat(colors, show_time, error_key)
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
        if type(value) is str:
            if _is_bare(<str>value):
                return <str>value
        elif isinstance(value, str):  # a subclass: its characters, as an exact str
            value = str.__str__(value)
            if _is_bare(<str>value):
                return <str>value
        elif value is None:
            return "null"
        elif value is True:
            return "true"
        elif value is False:
            return "false"
        elif type(value) is int and -9223372036854775808 <= value <= 18446744073709551615:
            return str(value)
        return _pure()._json_text(value)

    cdef str _pair(self, object key, object value):
        return self._key_open + _key_text(key) + self._key_close + self._value(value)

    cdef str _messages(self, list messages):
        cdef list parts
        if len(messages) == 1 and type(messages[0]) is str:
            return _escaped(<str>messages[0])
        parts = []
        for message in messages:
            if type(message) is str:
                parts.append(_escaped(<str>message))
            elif issubclass(type(message), Multiline):
                # by its type: isinstance() would also ask the object's own __class__,
                # which a hostile __getattribute__ makes raise
                parts.append(_pure()._multiline_text(message))
            else:
                parts.append(_escaped(text_of(message)))
        return " ".join(parts)

    cdef object _render(self, LogEntry entry):
        cdef int slot = entry._slot
        if slot < 0 or entry.time_ns < 0:
            return _pure().render_console(entry, self._reference)
        cdef list parts = []
        cdef long long seconds
        if self.show_time:
            seconds = entry.time_ns // _NS_PER_SECOND
            if seconds != self._clock_second:
                self._clock_head = self._time_open + _pure()._clock_head(seconds)
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
        shown = None  # the error's (value text, traceback text), see _render_py._error_parts
        if PyDict_GET_SIZE(entry.data):
            shown = self._data_pairs(parts, entry.data, error, error_key)
            if shown is _CHANGED:
                return _pure().render_console(entry, self._reference)
        if error_key is not None and shown is None:  # not in the data (a hook removed it)
            shown = _pure()._error_parts(error, _pure()._ABSENT)
            parts.append(self._key_open + _key_text(error_key) + self._key_close
                         + <str>(<tuple>shown)[0])
        metadata = entry.metadata
        if metadata is not None:
            mapped = metadata if type(metadata) is dict else to_map(metadata)
            if mapped is None:
                parts.append(self._key_open + "metadata" + self._key_close
                             + self._value(metadata))
            elif type(mapped) is not dict:  # a subclass may override items()
                parts.append(_pure()._console_metadata(metadata, self._reference))
            elif self._metadata_pairs(parts, <dict>mapped):
                return _pure().render_console(entry, self._reference)
        parts.append("\n")
        if shown is not None and (<tuple>shown)[1] is not None:
            parts.append(_pure()._indented((<tuple>shown)[1]))
        return "".join(parts)

    # The items are read with PyDict_Next, which stays safe while Python code that runs
    # for a key or value lets another thread change the dict; a change in its size
    # (which could make the walk skip or repeat items) sends the entry to the pure
    # renderer, which renders from a snapshot.

    cdef object _data_pairs(self, list parts, dict data, object error, object error_key):
        """Append `` key=value`` per item of ``data``, the one under ``error_key`` as the
        error; return the error's parts when it was there, else None, or ``_CHANGED``."""
        cdef Py_ssize_t position = 0
        cdef Py_ssize_t size = PyDict_GET_SIZE(data)
        cdef PyObject* key_ref
        cdef PyObject* value_ref
        shown = None
        while PyDict_Next(data, &position, &key_ref, &value_ref):
            key = <object>key_ref  # our own references, before any Python code runs
            value = <object>value_ref
            key = _as_text(key)
            if error_key is not None and key == error_key:
                shown = _pure()._error_parts(error, value)
                parts.append(self._key_open + _key_text(key) + self._key_close
                             + <str>(<tuple>shown)[0])
                error_key = None
            else:
                parts.append(self._pair(key, value))
            if PyDict_GET_SIZE(data) != size:
                return _CHANGED
        return shown

    cdef bint _metadata_pairs(self, list parts, dict mapped) except -1:
        """Append `` key=value`` per item of ``mapped``; True when its size changed."""
        cdef Py_ssize_t position = 0
        cdef Py_ssize_t size = PyDict_GET_SIZE(mapped)
        cdef PyObject* key_ref
        cdef PyObject* value_ref
        while PyDict_Next(mapped, &position, &key_ref, &value_ref):
            key = <object>key_ref
            value = <object>value_ref
            parts.append(self._pair(key, value))
            if PyDict_GET_SIZE(mapped) != size:
                return True
        return False
