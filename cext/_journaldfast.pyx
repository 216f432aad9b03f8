"""Journal entries in the native protocol, compiled (``loglayer.transports._journaldfast``).

``loglayer.transports._journald`` defines the datagram of an entry
(``JournalEncoder._encode``); this module writes the same bytes, in one buffer, for
the entries most programs log: the compiled core's ``LogEntry`` at a named level,
with a str message, no error in its data and no captured call site, data and metadata
in plain dicts with str keys, and values that are str, bytes, ints within 64 bits,
floats, bool, None, or dicts and lists of such (JSON text, written as orjson writes
it). Any other entry is handed back to ``_encode``, which is the definition; a field
name the transport has not seen yet is made by its ``_name``, as are the texts of
values of other types by its ``_value``. ``tests/test_journald_encoders.py`` checks
byte for byte that both write the same datagrams.

It runs on the caller's thread when entries are sent at the call, on the worker when
queued, and may run on several threads at once: everything it keeps is in
dictionaries shared with the Python encoder, and each call writes into a buffer of
its own.
"""

cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.dict cimport PyDict_Next
from cpython.mem cimport PyMem_Free
from cpython.object cimport PyObject
from libc.string cimport memchr

from loglayer._core cimport LogEntry
from loglayer._textbuf cimport (
    Buffer,
    PyLong_AsLongLongAndOverflow,
    PyUnicode_AsUTF8String,
    PyUnicode_DATA,
    PyUnicode_GET_LENGTH,
    PyUnicode_IS_ASCII,
    put,
    put_bytes,
    put_int,
    put_json,
)

import orjson


cdef inline int put_length(Buffer* buf, unsigned long long size) except -1:
    """The 64-bit little-endian length of the binary-safe field form."""
    cdef char bytes8[8]
    cdef int i
    for i in range(8):
        bytes8[i] = <char>((size >> (8 * i)) & 0xFF)
    return put(buf, bytes8, 8)


cdef inline int put_field(Buffer* buf, bytes name, const char* value,
                          Py_ssize_t size) except -1:
    """``NAME=value\\n``, or ``NAME\\n`` + length + value + ``\\n`` when the value holds
    a newline (``_add``)."""
    put_bytes(buf, name)
    if memchr(value, 10, size) is NULL:
        put(buf, b"=", 1)
    else:
        put(buf, b"\n", 1)
        put_length(buf, size)
    put(buf, value, size)
    return put(buf, b"\n", 1)


class _HandBack(Exception):
    """An entry this encoder does not write: ``_encode`` does."""


@cython.final
cdef class Encoder:
    """``encode(entry)`` for one ``JournalEncoder``: the same datagram as its
    ``_encode``, which is the definition (see the module docstring)."""

    cdef object python  # the JournalEncoder's _encode: every entry handed back
    cdef bytes head  # SYSLOG_IDENTIFIER's field
    cdef dict priorities  # LogLevel -> b"PRIORITY=n\n"
    cdef dict names  # the transport's key -> field name cache (shared)
    cdef object name_of, value_of, message_text, level_type, dumps
    cdef Py_ssize_t room  # data and metadata fields an entry may have

    def __init__(self, encoder):
        from loglayer._render_py import _message_text
        from loglayer.levels import LogLevel
        from loglayer.transports import _journald

        self.python = encoder._encode
        self.head = encoder._head
        self.priorities = dict(_journald._PRIORITY_LINES)
        self.names = _journald._names
        self.name_of = _journald._name
        self.value_of = _journald._value
        self.message_text = _message_text
        self.level_type = LogLevel
        self.dumps = orjson.dumps
        # after the identifier, priority and message (no exception or code fields here)
        self.room = _journald._FIELDS_MAX - 3

    def encode(self, entry):
        """The datagram of ``entry``."""
        cdef Buffer buf
        if type(entry) is not LogEntry:
            return self.python(entry)
        buf.data = NULL
        buf.size = buf.capacity = 0
        try:
            try:
                self._write(<LogEntry>entry, &buf)
            except Exception:  # _encode does it, or says what is wrong the same way
                return self.python(entry)
            return PyBytes_FromStringAndSize(buf.data, buf.size)
        finally:
            PyMem_Free(buf.data)

    cdef int _write(self, LogEntry entry, Buffer* buf) except -1:
        cdef object level = entry.level
        cdef object prefix = entry.prefix
        cdef list messages = entry.messages
        cdef dict data = entry.data
        cdef object metadata = entry.metadata
        cdef object key = entry.metadata_key
        cdef object error_key = entry.error_key
        cdef bytes priority
        cdef Py_ssize_t count = 0
        cdef Py_ssize_t position = 0
        cdef PyObject* name
        cdef PyObject* value
        cdef object k, v
        cdef object text
        if type(level) is not self.level_type or type(entry.source) is dict:
            raise _HandBack()
        priority = self.priorities[level]
        if data:
            if type(data) is not dict:
                raise _HandBack()
            if type(error_key) is str and data.get(error_key) is not None:
                raise _HandBack()  # the EXCEPTION_* fields
            count = len(data)
        if metadata is not None:
            if type(metadata) is not dict or (key is not None and type(key) is not str):
                raise _HandBack()
            count += 1 if key else len(metadata)
        if count > self.room:
            raise _HandBack()  # MORE_FIELDS
        if (prefix is None or (type(prefix) is str and not prefix)) and messages is not None \
                and len(messages) == 1 and type(messages[0]) is str:
            text = messages[0]
        elif prefix is None or type(prefix) is str:
            text = self.message_text(messages, prefix)
        else:
            raise _HandBack()
        put_bytes(buf, self.head)
        put_bytes(buf, priority)
        self._text_field(buf, b"MESSAGE", text)
        if data:
            while PyDict_Next(data, &position, &name, &value):
                k = <object>name
                v = <object>value
                self._field(buf, k, v)
        if metadata is not None:
            if key:
                self._field(buf, key, metadata)
            else:
                position = 0
                while PyDict_Next(metadata, &position, &name, &value):
                    k = <object>name
                    v = <object>value
                    self._field(buf, k, v)
        return 0

    cdef int _text_field(self, Buffer* buf, bytes name, str text) except -1:
        """A str value as UTF-8 (a lone surrogate as ``\\udcNN``, as ``_text`` does)."""
        cdef bytes encoded
        if PyUnicode_IS_ASCII(text):
            return put_field(buf, name, <const char*>PyUnicode_DATA(text),
                             PyUnicode_GET_LENGTH(text))
        try:
            encoded = PyUnicode_AsUTF8String(text)
        except UnicodeEncodeError:
            encoded = text.encode("utf-8", "backslashreplace")
        return put_field(buf, name, PyBytes_AS_STRING(encoded), PyBytes_GET_SIZE(encoded))

    cdef int _field(self, Buffer* buf, object key, object value) except -1:
        """One data or metadata field (``_add_pairs``)."""
        cdef bytes name = None
        cdef bytes encoded
        cdef type cls = type(value)
        cdef long long number
        cdef int overflow = 0
        cdef Py_ssize_t start
        if type(key) is str:
            name = self.names.get(key)
        if name is None:
            name = self.name_of(key)
        if cls is str:
            return self._text_field(buf, name, value)
        if cls is bytes:
            return put_field(buf, name, PyBytes_AS_STRING(value), PyBytes_GET_SIZE(value))
        if cls is int:
            number = PyLong_AsLongLongAndOverflow(value, &overflow)
            if overflow:
                raise _HandBack()  # its digits, or the error of too many: _encode's
            put_bytes(buf, name)
            put(buf, b"=", 1)
            put_int(buf, number)
            return put(buf, b"\n", 1)
        if cls is float:
            encoded = self.dumps(value)  # orjson's text, which never holds a newline
            return put_field(buf, name, PyBytes_AS_STRING(encoded), PyBytes_GET_SIZE(encoded))
        if value is True:
            return put_field(buf, name, b"true", 4)
        if value is False:
            return put_field(buf, name, b"false", 5)
        if value is None:
            return put_field(buf, name, b"null", 4)
        if cls is dict or cls is list:
            put_bytes(buf, name)
            put(buf, b"=", 1)
            start = buf.size
            if put_json(buf, value, 0):  # JSON text: a newline in it is escaped
                return put(buf, b"\n", 1)
            buf.size = start - 1 - PyBytes_GET_SIZE(name)
        encoded = self.value_of(value)
        return put_field(buf, name, PyBytes_AS_STRING(encoded), PyBytes_GET_SIZE(encoded))
