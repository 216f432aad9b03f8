"""Writing text into a growing C buffer, shared by the compiled transport encoders
(``_syslogfast``, ``_journaldfast``): inline functions only, so cimporting this needs
no module at run time.

``put_json`` writes plain values (dicts with str keys, lists, str, ints within 64 bits,
bool, None) exactly as ``orjson.dumps`` does and declines anything else, for the
caller to hand to orjson; the encoders' property tests compare the two.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.dict cimport PyDict_Next
from cpython.mem cimport PyMem_Realloc
from cpython.object cimport PyObject
from libc.string cimport memcpy


cdef extern from "Python.h":
    bint PyUnicode_IS_ASCII(object o)
    void* PyUnicode_DATA(object o)
    Py_ssize_t PyUnicode_GET_LENGTH(object o)
    object PyUnicode_AsUTF8String(object o)
    long long PyLong_AsLongLongAndOverflow(object o, int* overflow) except? -1


cdef struct Buffer:
    char* data
    Py_ssize_t size
    Py_ssize_t capacity


cdef inline int reserve(Buffer* buf, Py_ssize_t extra) except -1:
    cdef Py_ssize_t wanted = buf.size + extra
    cdef Py_ssize_t capacity
    cdef char* data
    if wanted <= buf.capacity:
        return 0
    capacity = buf.capacity * 2 if buf.capacity else 1024
    while capacity < wanted:
        capacity *= 2
    data = <char*>PyMem_Realloc(buf.data, capacity)
    if data is NULL:
        raise MemoryError()
    buf.data = data
    buf.capacity = capacity
    return 0


cdef inline int put(Buffer* buf, const char* text, Py_ssize_t size) except -1:
    if buf.size + size > buf.capacity:
        reserve(buf, size)
    memcpy(buf.data + buf.size, text, size)
    buf.size += size
    return 0


cdef inline int put_bytes(Buffer* buf, bytes data) except -1:
    return put(buf, PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data))




cdef inline int put_json_text(Buffer* buf, const char* text, Py_ssize_t size) except -1:
    """A JSON string's body as orjson writes it: ``"`` and ``\\`` escaped, the C0
    controls as ``\\b``, ``\\t``, ``\\n``, ``\\f``, ``\\r`` or ``\\u00XX``, the rest
    (DEL and non-ASCII UTF-8 included) as it is."""
    cdef Py_ssize_t i
    cdef Py_ssize_t start = 0
    cdef unsigned char c
    cdef char escape[6]
    cdef const char* hexdigits = b"0123456789abcdef"
    for i in range(size):
        c = <unsigned char>text[i]
        if c >= 32 and c != 34 and c != 92:
            continue
        put(buf, text + start, i - start)
        start = i + 1
        if c == 34:
            put(buf, b'\\"', 2)
        elif c == 92:
            put(buf, b"\\\\", 2)
        elif c == 8:
            put(buf, b"\\b", 2)
        elif c == 9:
            put(buf, b"\\t", 2)
        elif c == 10:
            put(buf, b"\\n", 2)
        elif c == 12:
            put(buf, b"\\f", 2)
        elif c == 13:
            put(buf, b"\\r", 2)
        else:
            escape[0] = 92
            escape[1] = 117  # u
            escape[2] = 48
            escape[3] = 48
            escape[4] = hexdigits[c >> 4]
            escape[5] = hexdigits[c & 15]
            put(buf, escape, 6)
    return put(buf, text + start, size - start)


cdef inline int put_json_str(Buffer* buf, str text) except -1:
    """``text`` as a JSON string: 1, or 0 when it is not UTF-8 (a lone surrogate)."""
    cdef bytes encoded
    put(buf, b'"', 1)
    if PyUnicode_IS_ASCII(text):
        put_json_text(buf, <const char*>PyUnicode_DATA(text), PyUnicode_GET_LENGTH(text))
    else:
        try:
            encoded = PyUnicode_AsUTF8String(text)
        except UnicodeEncodeError:
            return 0
        put_json_text(buf, PyBytes_AS_STRING(encoded), PyBytes_GET_SIZE(encoded))
    put(buf, b'"', 1)
    return 1


cdef enum:
    # How deep ``put_json`` follows containers before it leaves a value to orjson
    # (whose own limit, and error for a cycle, then apply).
    JSON_DEPTH = 32


cdef inline int put_json(Buffer* buf, object value, int depth) except -1:
    """``value`` as ``orjson.dumps`` writes it, for plain values only: dicts with str
    keys, lists, str, ints within 64 bits, bool and None, 1; 0 for anything else
    (a float, whose text orjson writes its own way, included), leaving what was written
    for the caller to drop."""
    cdef type cls = type(value)
    cdef Py_ssize_t position = 0
    cdef Py_ssize_t i
    cdef PyObject* name
    cdef PyObject* item
    cdef object k, v
    cdef long long number
    cdef int overflow = 0
    if cls is str:
        return put_json_str(buf, value)
    if value is True:
        return put(buf, b"true", 4) + 1
    if value is False:
        return put(buf, b"false", 5) + 1
    if value is None:
        return put(buf, b"null", 4) + 1
    if cls is int:
        number = PyLong_AsLongLongAndOverflow(value, &overflow)
        if overflow:
            return 0
        return put_int(buf, number) + 1
    if depth >= JSON_DEPTH:
        return 0
    if cls is dict:
        put(buf, b"{", 1)
        i = 0
        while PyDict_Next(value, &position, &name, &item):
            k = <object>name
            v = <object>item
            if type(k) is not str:
                return 0
            if i:
                put(buf, b",", 1)
            i += 1
            if not put_json_str(buf, k):
                return 0
            put(buf, b":", 1)
            if not put_json(buf, v, depth + 1):
                return 0
        return put(buf, b"}", 1) + 1
    if cls is list:
        put(buf, b"[", 1)
        i = 0
        while i < len(value):  # no Python code runs here: the list cannot change
            if i:
                put(buf, b",", 1)
            if not put_json(buf, (<list>value)[i], depth + 1):
                return 0
            i += 1
        return put(buf, b"]", 1) + 1
    return 0


cdef inline int put_int(Buffer* buf, long long number) except -1:
    """``repr(number)``."""
    if number < 0:
        put(buf, b"-", 1)
        return put_decimal(buf, 0ULL - <unsigned long long>number, 1)
    return put_decimal(buf, <unsigned long long>number, 1)


cdef inline int put_decimal(Buffer* buf, unsigned long long number, int width) except -1:
    """``number`` in decimal, zero-padded to ``width`` digits."""
    cdef char digits[24]
    cdef int n = 0
    while number or n < width:
        digits[23 - n] = 48 + <char>(number % 10)
        number //= 10
        n += 1
    return put(buf, digits + 24 - n, n)


cdef inline bint printable_ascii(const char* text, Py_ssize_t size):
    """No byte below a space, none from DEL up: what ``escape_text`` leaves as it is."""
    cdef Py_ssize_t i
    cdef unsigned char c
    for i in range(size):
        c = <unsigned char>text[i]
        if c < 32 or c >= 127:
            return False
    return True


cdef inline bint ascii_only(const char* text, Py_ssize_t size):
    cdef Py_ssize_t i
    for i in range(size):
        if <unsigned char>text[i] >= 128:
            return False
    return True
