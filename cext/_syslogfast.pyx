"""Syslog messages in octet-counted frames, compiled (``loglayer.transports._syslogfast``).

``loglayer.transports._syslog`` defines the messages (``SyslogFormatter.render``) and
their framing (RFC 6587 octet counting); this module writes the same bytes for the
entries most programs log, a batch at a time, into one buffer: an RFC 5424 message
whose structured data is ``"fields"`` (or ``None``), from the compiled core's
``LogEntry`` with a str message, data and metadata in plain dicts with str keys and
values that are str, int, float, bool, None or anything ``orjson`` writes as a JSON
document. Any other entry (another format, ``structured_data="json"``, a message
to cut, a metadata object, a key that is not a str...) is handed back to the
formatter's ``render``, in place, so a batch is framed in order whatever it holds.

Per entry that saves the Python calls of ``render``: the header's constant part is
kept per process ID, the timestamp's text per second, each SD-NAME per key, and
the message, the SD-ELEMENT and the frame are written in one pass, escaping as they
are copied. ``tests/test_syslog_encoders.py`` checks byte for byte that both write
the same messages.
"""

cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.dict cimport PyDict_Next
from cpython.mem cimport PyMem_Free
from cpython.object cimport PyObject

from loglayer._core cimport LogEntry
from loglayer._textbuf cimport (
    Buffer,
    PyLong_AsLongLongAndOverflow,
    PyUnicode_AsUTF8String,
    PyUnicode_DATA,
    PyUnicode_GET_LENGTH,
    PyUnicode_IS_ASCII,
    ascii_only,
    printable_ascii,
    put,
    put_bytes,
    put_decimal,
    put_int,
    put_json,
    reserve,
)

import orjson

cdef extern from "Python.h":
    object PyObject_Repr(object o)

cdef extern from "math.h":
    double rint(double x) nogil
    double fabs(double x) nogil

#: How many keys an encoder keeps the SD-NAME of (as the formatter does).
cdef Py_ssize_t NAMES_KEPT = 4096
cdef long long NS_PER_SECOND = 1000000000
cdef const char* BOM = b"\xef\xbb\xbf"


cdef int put_escaped(Buffer* buf, const char* text, Py_ssize_t size) except -1:
    """A PARAM-VALUE: ``"``, ``\\`` and ``]`` preceded by a backslash (``sd_escape``)."""
    cdef Py_ssize_t i
    cdef Py_ssize_t start = 0
    cdef char c
    for i in range(size):
        c = text[i]
        if c == 34 or c == 92 or c == 93:  # " \ ]
            put(buf, text + start, i - start)
            put(buf, b"\\", 1)
            start = i
    return put(buf, text + start, size - start)


cdef int escape_from(Buffer* buf, Py_ssize_t start) except -1:
    """``put_escaped`` on what ``buf`` holds from ``start``, in place."""
    cdef Py_ssize_t count = 0
    cdef Py_ssize_t i, end = buf.size
    cdef char* data
    cdef char c
    for i in range(start, end):
        c = buf.data[i]
        if c == 34 or c == 92 or c == 93:
            count += 1
    if not count:
        return 0
    reserve(buf, count)
    data = buf.data
    buf.size = end + count
    i = end
    while count:  # from the end: each byte moves right by the escapes before it
        i -= 1
        c = data[i]
        data[i + count] = c
        if c == 34 or c == 92 or c == 93:
            count -= 1
            data[i + count] = 92
    return 0


cdef double[23] POW10 = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
                         1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22]
cdef unsigned long long[16] INT_POW10 = [
    1ULL, 10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL, 1000000ULL, 10000000ULL,
    100000000ULL, 1000000000ULL, 10000000000ULL, 100000000000ULL, 1000000000000ULL,
    10000000000000ULL, 100000000000000ULL, 1000000000000000ULL]
cdef double TWO_TO_53 = 9007199254740992.0


cdef int put_float(Buffer* buf, double value) except -1:
    """``repr(value)`` for the floats it writes in fixed notation (1e-4 <= |value| <
    1e16) with at most 15 or 16 significant digits: 1, or 0 to leave it to ``repr``.

    ``repr`` writes the fewest fraction digits that read back as ``value`` (and, of
    those, the closest). Here the candidates for k fraction digits are the integers n
    next to ``|value| * 10**k``; n < 2**53 and 10**k (k <= 22) are exact doubles, so
    ``n / 10**k == |value|`` (one rounding) says exactly whether n reads back. The
    first k with a candidate that reads back is repr's, if that candidate is the only
    one; any doubt (two candidates, a product past 2**53) leaves it to ``repr``."""
    cdef double magnitude = fabs(value)
    cdef double scale, nearest
    cdef int k, found = -1
    cdef unsigned long long digits, whole, fraction
    if not (magnitude >= 1e-4 and magnitude < 1e16):  # NaN too
        return 0
    for k in range(23):
        scale = POW10[k]
        nearest = rint(magnitude * scale)
        if nearest + 1.0 >= TWO_TO_53:
            return 0
        if (nearest - 1.0) / scale == magnitude or (nearest + 1.0) / scale == magnitude:
            return 0
        if nearest / scale == magnitude:
            found = k
            break
    if found < 0:
        return 0
    digits = <unsigned long long>nearest
    if found < 16:
        whole = digits // INT_POW10[found]
        fraction = digits % INT_POW10[found]
    else:
        whole = 0
        fraction = digits
    if value < 0:
        put(buf, b"-", 1)
    put_decimal(buf, whole, 1)
    put(buf, b".", 1)
    put_decimal(buf, fraction, found if found else 1)
    return 1


@cython.final
cdef class Encoder:
    """``frames(entries, pid, max_bytes)`` for one ``SyslogFormatter``: the same bytes
    as its ``_frames``, which is the definition (see the module docstring)."""

    cdef object formatter
    cdef object render  # formatter.render: every entry this encoder hands back
    cdef object message_text, param_value, escape_text, utf8, sd_name, dumps, default
    cdef object json_options
    cdef bint native  # RFC 5424 with structured data "fields" or None: written here
    cdef bint fields  # the data and metadata as an SD-ELEMENT
    cdef bint one_line
    cdef dict pri  # level -> b"<PRI>1 "
    cdef dict names  # key -> its SD-NAME, bytes
    cdef bytes element_open  # b"[" + SD-ID
    cdef object procid  # the formatter's, or None: the process ID
    cdef bytes host_app  # b" HOSTNAME APP-NAME "
    cdef bytes msgid  # b" MSGID "
    # Per second and process ID: b"2024-05-01T14:00:00." and b"+02:00 host app pid - "
    cdef long long second
    cdef object second_pid
    cdef bytes stamp
    cdef bytes after_fraction

    def __init__(self, formatter):
        from loglayer._common import escape_text
        from loglayer.transports import _syslog

        self.formatter = formatter
        self.render = formatter.render
        self.message_text = _syslog._message_text
        self.param_value = _syslog._param_value
        self.escape_text = escape_text
        self.utf8 = _syslog._utf8
        self.sd_name = _syslog.sd_name
        self.dumps = orjson.dumps
        self.default = _syslog._default
        self.json_options = _syslog._JSON_OPTIONS
        structured_data = formatter.structured_data
        self.fields = structured_data == "fields"
        self.native = formatter.format == "rfc5424" and (self.fields or structured_data is None)
        self.one_line = formatter.one_line
        self.pri = {}
        self.names = {}
        self.element_open = ("[" + formatter.sd_id).encode("ascii")
        self.procid = formatter.procid
        self.host_app = f" {formatter.hostname} {formatter.app_name} ".encode("ascii")
        self.msgid = f" {formatter.msgid} ".encode("ascii")
        self.second = -1
        self.second_pid = None
        self.stamp = b""
        self.after_fraction = b""

    def frames(self, list entries not None, str pid not None, max_bytes):
        """The entries' messages, each preceded by its length in bytes and a space, and
        a list saying which were cut to ``max_bytes`` (None: no limit)."""
        cdef Buffer out
        cdef Buffer message
        cdef Py_ssize_t limit = -1 if max_bytes is None else max_bytes
        cdef Py_ssize_t index = 0
        cdef int written
        cut = [False] * len(entries)
        out.data = NULL
        out.size = out.capacity = 0
        message.data = NULL
        message.size = message.capacity = 0
        try:
            reserve(&out, 256 * len(entries) + 64)
            for entry in entries:
                written = 0
                message.size = 0
                if self.native and type(entry) is LogEntry:
                    try:
                        written = self._message(<LogEntry>entry, pid, limit, &message)
                    except Exception:  # render says it again, or does it its way
                        written = 0
                if not written:
                    text, was_cut = self.render(entry, pid, max_bytes)
                    cut[index] = was_cut
                    message.size = 0
                    put_bytes(&message, text)
                put_decimal(&out, message.size, 1)
                put(&out, b" ", 1)
                put(&out, message.data, message.size)
                index += 1
            return PyBytes_FromStringAndSize(out.data, out.size), cut
        finally:
            PyMem_Free(out.data)
            PyMem_Free(message.data)

    cdef int _message(self, LogEntry entry, str pid, Py_ssize_t limit,
                      Buffer* buf) except -1:
        """Write ``entry``'s message to ``buf``: 1, or 0 to hand it to ``render``."""
        cdef long long time_ns = entry.time_ns
        cdef long long seconds
        cdef bytes pri
        cdef object text
        cdef object encoded = None
        cdef const char* data
        cdef Py_ssize_t size
        cdef bint bom
        cdef object prefix = entry.prefix
        cdef list messages = entry.messages
        if time_ns < 0:
            return 0
        # the MSG, first: what decides whether render must do it
        if (prefix is None or (type(prefix) is str and not prefix)) and messages is not None \
                and len(messages) == 1 and type(messages[0]) is str:
            text = messages[0]
        else:
            text = self.message_text(entry)
        if self.one_line and not (PyUnicode_IS_ASCII(text) and printable_ascii(
                <const char*>PyUnicode_DATA(text), PyUnicode_GET_LENGTH(text))):
            text = self.escape_text(text)
        if PyUnicode_IS_ASCII(text):
            bom = False
        else:
            try:
                encoded = PyUnicode_AsUTF8String(text)
                bom = True
            except UnicodeEncodeError:  # a lone surrogate: escaped, as render does
                encoded = self.utf8(text)
                bom = not ascii_only(PyBytes_AS_STRING(encoded), PyBytes_GET_SIZE(encoded))
        # the header
        pri = self.pri.get(entry.level)
        if pri is None:
            pri = (self.formatter._pri_of(entry.level) + "1 ").encode("ascii")
            self.pri[entry.level] = pri
        put_bytes(buf, pri)
        seconds = time_ns // NS_PER_SECOND
        if seconds != self.second or pid != self.second_pid:
            self._new_second(seconds, pid)
        put_bytes(buf, self.stamp)
        put_decimal(buf, <unsigned long long>((time_ns % NS_PER_SECOND) // 1000), 6)
        put_bytes(buf, self.after_fraction)
        # STRUCTURED-DATA
        if not self.fields or not self._element(entry, buf):
            put(buf, b"- ", 2)
        else:
            put(buf, b"] ", 2)
        # MSG
        if encoded is None:
            data = <const char*>PyUnicode_DATA(text)
            size = PyUnicode_GET_LENGTH(text)
        else:
            data = PyBytes_AS_STRING(encoded)
            size = PyBytes_GET_SIZE(encoded)
        if limit >= 0 and buf.size + size + (3 if bom else 0) > limit:
            return 0  # to be cut: render knows how
        if bom:
            put(buf, BOM, 3)
        put(buf, data, size)
        return 1

    cdef int _new_second(self, long long seconds, str pid) except -1:
        _, local, offset = self.formatter._second(seconds)
        procid = self.procid if self.procid else pid
        stamp = (local + ".").encode("ascii")
        after = (offset + self.host_app.decode("ascii") + procid).encode("ascii") + self.msgid
        # no Python code runs between these stores: a batch on another thread (the
        # formatter's message()) never sees a mixed pair
        self.stamp = stamp
        self.after_fraction = after
        self.second = seconds
        self.second_pid = pid
        return 0

    cdef int _element(self, LogEntry entry, Buffer* buf) except -1:
        """The SD-ELEMENT of the entry's data and metadata, without its closing ``]``:
        1, or 0 when there is nothing to write (NILVALUE). Raises ``_HandBack`` for
        an entry ``render`` must write."""
        cdef dict data = entry.data
        cdef object metadata = entry.metadata
        cdef object key = entry.metadata_key
        cdef int count = 0
        cdef Py_ssize_t position = 0
        cdef PyObject* name
        cdef PyObject* value
        cdef object k, v  # owned references: a callback may change the dict meanwhile
        if data:
            if type(data) is not dict:
                raise _HandBack()
            while PyDict_Next(data, &position, &name, &value):
                k = <object>name
                v = <object>value
                if count == 0:
                    put_bytes(buf, self.element_open)
                self._param(buf, k, v)
                count += 1
        if metadata is not None:
            if type(metadata) is not dict:
                raise _HandBack()
            if key is not None and type(key) is not str:
                raise _HandBack()
            if key:
                if count == 0:
                    put_bytes(buf, self.element_open)
                self._param(buf, key, metadata)
                count += 1
            else:
                position = 0
                while PyDict_Next(metadata, &position, &name, &value):
                    k = <object>name
                    v = <object>value
                    if count == 0:
                        put_bytes(buf, self.element_open)
                    self._param(buf, k, v)
                    count += 1
        return 1 if count else 0

    cdef int _param(self, Buffer* buf, object key, object value) except -1:
        """`` NAME="value"``, the value as ``_param_value`` writes it, escaped."""
        cdef object text
        cdef bytes name
        cdef bytes encoded
        cdef type cls = type(value)
        cdef long long number
        cdef int overflow = 0
        cdef Py_ssize_t start
        if type(key) is not str:
            raise _HandBack()
        name = self.names.get(key)
        if name is None:
            name = self.sd_name(key).encode("ascii")
            if len(self.names) < NAMES_KEPT:
                self.names[key] = name
        put(buf, b" ", 1)
        put_bytes(buf, name)
        put(buf, b'="', 2)
        if cls is str:
            text = value
        elif value is True:
            put(buf, b'true"', 5)
            return 0
        elif value is False:
            put(buf, b'false"', 6)
            return 0
        elif value is None:
            put(buf, b'null"', 5)
            return 0
        elif cls is int:
            number = PyLong_AsLongLongAndOverflow(value, &overflow)
            if overflow:
                text = PyObject_Repr(value)  # or its ValueError: render raises it too
            else:
                put_int(buf, number)
                put(buf, b'"', 1)
                return 0
        elif cls is float:
            if put_float(buf, value):
                put(buf, b'"', 1)
                return 0
            text = PyObject_Repr(value)  # ASCII: nothing to escape
        elif cls is dict or cls is list:
            start = buf.size
            if put_json(buf, value, 0):
                if not self.one_line or printable_ascii(buf.data + start, buf.size - start):
                    escape_from(buf, start)
                    put(buf, b'"', 1)
                    return 0
                text = PyBytes_FromStringAndSize(buf.data + start, buf.size - start).decode(
                    "utf-8")
                buf.size = start
            else:
                buf.size = start
                text = None
        else:
            text = self.param_value(value)
        if text is None:  # a dict or a list put_json left to orjson
            try:
                encoded = self.dumps(value, self.default, self.json_options)
            except Exception:
                encoded = None
            if encoded is None or PyBytes_AS_STRING(encoded)[0] == 34:  # a JSON string
                text = self.param_value(value)
            elif self.one_line and not printable_ascii(PyBytes_AS_STRING(encoded),
                                                       PyBytes_GET_SIZE(encoded)):
                text = encoded.decode("utf-8")
            else:
                put_escaped(buf, PyBytes_AS_STRING(encoded), PyBytes_GET_SIZE(encoded))
                put(buf, b'"', 1)
                return 0
        if self.one_line and not (PyUnicode_IS_ASCII(text) and printable_ascii(
                <const char*>PyUnicode_DATA(text), PyUnicode_GET_LENGTH(text))):
            text = self.escape_text(text)
        if PyUnicode_IS_ASCII(text):
            put_escaped(buf, <const char*>PyUnicode_DATA(text), PyUnicode_GET_LENGTH(text))
        else:
            try:
                encoded = PyUnicode_AsUTF8String(text)
            except UnicodeEncodeError:
                encoded = self.utf8(text)
            put_escaped(buf, PyBytes_AS_STRING(encoded), PyBytes_GET_SIZE(encoded))
        put(buf, b'"', 1)
        return 0


class _HandBack(Exception):
    """An entry this encoder does not write: ``render`` does."""


def split_octet_counted(bytes payload not None):
    """Where each frame of an octet-counted ``payload`` starts, where its message
    starts and where it ends (``_syslog._split_octet_counted``, which says why a
    malformed payload fails)."""
    cdef const char* data = PyBytes_AS_STRING(payload)
    cdef Py_ssize_t end = PyBytes_GET_SIZE(payload)
    cdef Py_ssize_t position = 0
    cdef Py_ssize_t cursor
    cdef Py_ssize_t length
    cdef list frames = []
    while position < end:
        cursor = position
        length = 0
        while cursor < end and 48 <= data[cursor] <= 57 and cursor - position < 18:
            length = length * 10 + (data[cursor] - 48)
            cursor += 1
        if cursor == position or cursor >= end or data[cursor] != 32 \
                or length > end - cursor - 1:
            from loglayer.transports._syslog import _split_octet_counted
            return _split_octet_counted(payload)  # its error, or its reading
        frames.append((position, cursor + 1, cursor + 1 + length))
        position = cursor + 1 + length
    return frames


# -- writing without giving up the GIL ---------------------------------------------------
#
# A socket method of Python's releases the GIL around its system call; taking it back
# waits for the thread holding it to give it up (up to the switch interval, 5 ms),
# and a logging program's threads hold it most of the time. The stream wire's worker
# writes and looks at its connection with calls that do not block, so here they keep
# the GIL: each costs its system call, not a turn of the GIL.

cdef extern from "<sys/socket.h>" nogil:
    ssize_t c_send "send" (int fd, const void* buf, size_t n, int flags)
    int MSG_DONTWAIT
    int MSG_NOSIGNAL

cdef extern from "<poll.h>" nogil:
    struct pollfd:
        int fd
        short events
        short revents
    int c_poll "poll" (pollfd* fds, unsigned long nfds, int timeout)
    short POLLIN

from cpython.exc cimport PyErr_SetFromErrno
from libc.string cimport memcpy
from libc.errno cimport EAGAIN, EINTR, errno

cdef extern from "<errno.h>" nogil:
    int EWOULDBLOCK


def send_now(int fd, const unsigned char[:] data not None, Py_ssize_t offset=0):
    """Write ``data[offset:]`` to the stream socket ``fd`` as far as its buffer takes it
    now; return how many bytes were written (0 when the buffer is full; an OSError for
    anything else)."""
    cdef Py_ssize_t size = data.shape[0]
    cdef ssize_t written
    if offset < 0 or offset > size:
        raise ValueError(f"offset {offset} is outside the {size} bytes")
    if offset == size:
        return 0
    while True:
        written = c_send(fd, &data[offset], <size_t>(size - offset),
                         MSG_DONTWAIT | MSG_NOSIGNAL)
        if written >= 0:
            return written
        if errno == EINTR:
            continue
        if errno == EAGAIN or errno == EWOULDBLOCK:
            return 0
        PyErr_SetFromErrno(OSError)


def readable_now(int fd):
    """Whether a read from ``fd`` would not block now (data, or the peer's end)."""
    cdef pollfd entry
    cdef int ready
    entry.fd = fd
    entry.events = POLLIN
    entry.revents = 0
    while True:
        ready = c_poll(&entry, 1, 0)
        if ready >= 0:
            return ready > 0
        if errno != EINTR:
            PyErr_SetFromErrno(OSError)


cdef extern from "<sys/socket.h>" nogil:
    int c_getsockopt "getsockopt" (int fd, int level, int name, void* value,
                                   unsigned int* size)

cdef extern from "<netinet/in.h>" nogil:
    int IPPROTO_TCP

cdef extern from "<netinet/tcp.h>" nogil:
    int TCP_INFO

cdef extern from "<time.h>" nogil:
    struct timespec:
        long tv_sec
        long tv_nsec
    int nanosleep(const timespec* wanted, timespec* left)


#: Where ``tcpi_rtt`` (the smoothed round trip, µs) is in Linux's ``struct tcp_info``.
cdef Py_ssize_t RTT_OFFSET = 68


def acked_soon(int fd, unsigned long long target, Py_ssize_t offset, int looks,
               long pause_ns):
    """Whether the receiver's TCP acknowledged ``target`` bytes (``tcpi_bytes_acked``,
    read at ``offset`` of ``TCP_INFO``), asking up to ``looks`` times, ``pause_ns``
    apart, keeping the GIL: a loopback or LAN acknowledgement comes within a fraction of
    a millisecond, sooner than a thread that gave up the GIL gets it back from threads
    that log (the interpreter's switch interval, 5 ms). A connection whose round trip
    is longer than the looks last is asked once."""
    cdef unsigned char info[256]
    cdef unsigned int size
    cdef unsigned long long acked
    cdef unsigned int rtt_us
    cdef timespec pause
    cdef int look
    if offset < 0 or offset + 8 > 256:
        raise ValueError(f"offset {offset} is outside TCP_INFO")
    if pause_ns < 0 or pause_ns >= 1000000000:
        raise ValueError(f"pause_ns must be in [0, 1e9), got {pause_ns}")
    pause.tv_sec = 0
    pause.tv_nsec = pause_ns
    for look in range(looks):
        if look:
            nanosleep(&pause, NULL)
        size = 256
        if c_getsockopt(fd, IPPROTO_TCP, TCP_INFO, info, &size) != 0:
            PyErr_SetFromErrno(OSError)
        if size < offset + 8 or size < RTT_OFFSET + 4:
            return False  # a kernel without the counters
        memcpy(&acked, &info[offset], 8)
        if acked >= target:
            return True
        memcpy(&rtt_us, &info[RTT_OFFSET], 4)
        if <long long>rtt_us * 1000 > <long long>looks * pause_ns:
            return False  # a remote receiver: waiting here would hold the GIL for nothing
    return False
