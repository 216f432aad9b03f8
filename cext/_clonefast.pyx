"""The hot half of ``loglayer.utils.Cloner``, compiled: the check and the clone of the
shapes log data is made of (plain dicts, lists, tuples, str and scalars).

A redacting plugin runs the check on every entry, and most entries hold nothing to
censor, so the check is the cost every user pays: walking a five-key dict in Python
takes about 0.6 us, in C a tenth of that. Everything else (records, sets, mappings
that are not plain dicts, and anything nested deeper than the compiled walk goes) is
handed to the pure walk in ``_cloner.py``, with the same state, so the two agree: the pure
module stays the definition of what is censored, and this one only goes faster on
the common shapes. ``LOGLAYER_NO_EXTENSIONS=1`` turns it off, and the test suite runs
over both.
"""

cimport cython
from cpython.dict cimport PyDict_Copy, PyDict_Next, PyDict_SetItem
from cpython.list cimport PyList_Append
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.long cimport PyLong_FromVoidPtr
from cpython.object cimport Py_TYPE, PyObject, PyObject_Hash, PyTypeObject
from cpython.set cimport PySet_Contains

from loglayer._hookabi cimport data_capsule, value_capsule

cdef extern from "Python.h":
    ctypedef struct PyASCIIObject:
        Py_hash_t hash
    bint PyUnicode_CheckExact(object o)
    PyTypeObject PyBool_Type
    PyTypeObject PyComplex_Type
    PyTypeObject PyByteArray_Type
    PyTypeObject PyBytes_Type
    PyTypeObject PyFloat_Type
    PyTypeObject PyLong_Type
    PyTypeObject PyUnicode_Type
    PyObject* Py_None

import sys

__all__ = ["DataHook", "ValueHook", "Walker"]

#: Sizes of the walk (see below).
cdef enum:
    _MAX_HASHES = 8
    _INLINE_PATH = 32  # the default max_depth: deeper caps allocate their path
    # How deep the compiled walk goes itself; deeper values go to the pure walk, whose
    # recursion Python bounds (RecursionError, reported like any hook failure), so no
    # data can exhaust the C stack, and a path never holds more than this many entries.
    _C_DEPTH = 256
    _MAX_CLEAN_TEXTS = 4096  # _cloner._MAX_CLEAN_TEXTS

cdef PyTypeObject* _NONE_TYPE = <PyTypeObject*>(<object>Py_None).__class__


cdef inline bint _hash_listed(Walker walker, Py_hash_t h) noexcept:
    """Whether ``h`` is the hash of one of the walker's exact keys."""
    cdef Py_ssize_t i
    for i in range(walker.n_hashes):
        if walker.hashes[i] == h:
            return True
    return False


cdef inline int _dict_key_hit(Walker walker, PyObject* key) except -1:
    """``Walker._key_hit`` for a dict key. A str dict key has its hash cached (the dict
    computed it): a key whose hash is not listed is no exact key, which settles most
    keys with a few integer compares when there are only exact keys."""
    if not walker.has_key_tests and walker.n_hashes > 0 and PyUnicode_CheckExact(<object>key) \
            and not _hash_listed(walker, (<PyASCIIObject*>key).hash):
        return False
    return walker._key_hit(<object>key)


cdef inline bint _is_atom(PyTypeObject* cls, bint no_texts) noexcept:
    """Whether values of exactly this type are never walked: None and bools; with
    ``no_texts`` (no value matchers) also str, numbers and bytes (``_cloner._skip``)."""
    if cls == _NONE_TYPE or cls == &PyBool_Type:
        return True
    return no_texts and (cls == &PyUnicode_Type or cls == &PyLong_Type
                         or cls == &PyFloat_Type or cls == &PyBytes_Type
                         or cls == &PyComplex_Type or cls == &PyByteArray_Type)


cdef inline bint _is_number(object value) noexcept:
    """Whether ``value`` is exactly an int or a float: with value matchers, its digits
    are matched (the text every renderer writes for it)."""
    cdef PyTypeObject* cls = <PyTypeObject*>Py_TYPE(value)
    return cls == &PyLong_Type or cls == &PyFloat_Type


@cython.final
cdef class Walker:
    """The compiled check and clone of one ``Cloner``, built from its matchers.

    ``check(value)`` is ``Cloner.needs_clone``; ``clone(value, share)`` is
    ``Cloner.clone``; ``censored(value)`` is the value itself when nothing needs
    censoring, else ``clone(value, True)``: what a redacting fields or metadata hook
    returns. ``ValueHook(walker)`` and ``DataHook(walker)`` are the ``redact``
    plugin's hooks.

    ``check_other(value, depth)`` and ``clone_other(value, depth, path, hits, share) ->
    (clone, hits)`` are the pure walk's, for every shape this module does not handle.

    For a strict Cloner, a walk that raises (a value whose ``__class__``, ``__hash__`` or
    ``__eq__`` raises, a failing predicate) is done again by the pure walk, which censors
    each value it cannot inspect: a redacting hook fails closed, never open.
    """

    cdef frozenset key_exact
    cdef Py_hash_t hashes[_MAX_HASHES]
    cdef Py_ssize_t n_hashes  # -1: more exact keys than ``hashes`` holds
    cdef tuple key_tests
    cdef bint has_key_tests
    cdef bint has_keys  # any key matcher at all
    cdef bint keys_in_c  # exact keys only, all exact str: a str key is settled in C
    cdef frozenset value_exact
    cdef tuple value_searches
    cdef tuple value_regexes
    cdef tuple value_tests
    cdef bint no_texts  # no value matchers: no text (str, number, key) is matched
    cdef set clean_texts  # Cloner._clean_texts: str keys and ints whose text matches nothing
    cdef bint cache_texts
    cdef object rename  # _cloner._renamed
    cdef object censor
    cdef object repl
    cdef Py_ssize_t max_depth
    cdef object check_other
    cdef object clone_other
    cdef object circular
    cdef object truncated
    cdef bint strict
    cdef object pure_censored  # the pure walk's censored(value), clone(value, share)
    cdef object pure_clone
    cdef object data_diff  # Cloner._data_changes

    def __init__(self, cloner, check_other, clone_other, circular, truncated):
        self.key_exact = cloner._key_exact
        self.n_hashes = len(self.key_exact) if len(self.key_exact) <= _MAX_HASHES else -1
        for i, key in enumerate(self.key_exact if self.n_hashes > 0 else ()):
            self.hashes[i] = hash(key)
        self.key_tests = cloner._key_tests
        self.has_key_tests = bool(self.key_tests)
        self.has_keys = self.has_key_tests or self.n_hashes != 0
        self.keys_in_c = (self.n_hashes > 0 and not self.has_key_tests
                          and all(type(key) is str for key in self.key_exact))
        self.value_exact = cloner._value_exact
        self.value_regexes = cloner._value_regexes
        self.value_searches = tuple([regex.search for regex in self.value_regexes])
        self.value_tests = cloner._value_tests
        self.no_texts = not (self.value_exact or self.value_regexes or self.value_tests)
        self.clean_texts = cloner._clean_texts
        self.cache_texts = not self.value_tests
        from loglayer.utils._cloner import _renamed  # loaded by now: it made the cloner
        self.rename = _renamed
        self.censor = cloner.censor
        self.repl = cloner._repl
        self.max_depth = min(cloner.max_depth, sys.maxsize)  # no depth comes near either
        self.check_other = check_other
        self.clone_other = clone_other
        self.circular = circular
        self.truncated = truncated
        self.strict = cloner.strict
        self.pure_censored = cloner._pure_censored
        self.pure_clone = cloner._pure_clone
        self.data_diff = cloner._data_changes

    # -- matching ----------------------------------------------------------------------

    cdef bint _key_hit(self, object key) except -1:
        """``Cloner.matches_key``."""
        if not isinstance(key, str):
            return False
        if self.n_hashes != 0 and self._exact_key(key):
            return True
        if not self.has_key_tests:
            return False
        for test in self.key_tests:
            if test(key):
                return True
        return False

    cdef bint _value_hit(self, object text) except -1:
        """Whether the clone would change the str ``text``."""
        if self.value_exact and PySet_Contains(self.value_exact, text):
            return True
        for search in self.value_searches:
            if search(text) is not None:
                return True
        for test in self.value_tests:
            if test(text):
                return True
        return False

    cdef object _key_text(self, object key):
        """The censored text of the mapping key ``key`` when its text (``str()`` for a
        key that is not a str) matches a value matcher, else None; a str key that does
        not is remembered (``Cloner._key``)."""
        cdef bint exact = PyUnicode_CheckExact(key)
        if exact:
            if PySet_Contains(self.clean_texts, key):
                return None
            text = key
        else:
            text = _key_text_of(key)
            if text is None:
                return None
        if not self._value_hit(text):
            if exact:
                self._remember(key)
            return None
        return _new_run(self, True)._text(text)

    cdef bint _number_hit(self, object value) except -1:
        """``Cloner._number_hit``: whether the digits of an int or a float match."""
        if type(value) is int:
            if PySet_Contains(self.clean_texts, value):
                return False
            if self._value_hit(str(value)):
                return True
            self._remember(value)
            return False
        return self._value_hit(str(value))

    cdef int _remember(self, object clean) except -1:
        """``Cloner._remember``: a str key or an int whose text matched nothing."""
        if self.cache_texts:
            if len(self.clean_texts) >= _MAX_CLEAN_TEXTS:
                self.clean_texts.clear()
            self.clean_texts.add(clean)
        return 0

    cdef inline bint _is_censor(self, object value):
        return value is self.censor or (type(value) is str and value == self.censor)

    # -- the check ---------------------------------------------------------------------

    @cython.binding(False)
    @cython.always_allow_keywords(False)
    def check(self, value):
        """``Cloner.needs_clone(value)``."""
        try:
            if type(value) is dict:
                return self._check_dict(<dict>value, 1)
            return self._check(value, 0)
        except Exception:
            if not self.strict:
                raise
        return True  # strict: what cannot be checked is censored

    cdef bint _check(self, object value, Py_ssize_t depth) except -1:
        cdef PyTypeObject* cls = <PyTypeObject*>Py_TYPE(value)
        if _is_atom(cls, self.no_texts):
            return False
        if depth >= _C_DEPTH:  # deeper, the pure walk recurses under Python's limit
            return bool(self.check_other(value, depth))
        if type(value) is dict:
            return depth >= self.max_depth or self._check_dict(<dict>value, depth + 1)
        if isinstance(value, str):
            return self._value_hit(value)
        if type(value) is list or type(value) is tuple:
            return depth >= self.max_depth or self._check_items(value, depth + 1)
        if _is_number(value):  # only here with value matchers
            return self._number_hit(value)
        return bool(self.check_other(value, depth))

    cdef bint _check_items(self, object items, Py_ssize_t depth) except -1:
        for item in items:
            if not _is_atom(<PyTypeObject*>Py_TYPE(item), self.no_texts) \
                    and self._check(item, depth):
                return True
        return False

    cdef bint _exact_key(self, object key) except -1:
        """Whether the str ``key`` is one of the exact keys."""
        if self.n_hashes < 0:  # too many exact keys for the hash list
            return PySet_Contains(self.key_exact, key)
        return _hash_listed(self, PyObject_Hash(key)) and PySet_Contains(self.key_exact, key)

    cdef bint _check_dict(self, dict mapping, Py_ssize_t depth) except -1:
        cdef Py_ssize_t pos = 0
        cdef PyObject* key
        cdef PyObject* item
        cdef bint no_texts = self.no_texts
        cdef object name
        cdef object value
        while PyDict_Next(mapping, &pos, &key, &item):
            if not no_texts:
                # Held, not borrowed: matching the key's text runs Python code.
                name = <object>key
                value = <object>item
                if self._key_text(name) is not None:
                    return True
            if self.keys_in_c and PyUnicode_CheckExact(<object>key):
                # Settled in C (cached hash, then a set of exact str): no Python code
                # runs, so the borrowed item cannot go away under us.
                if _hash_listed(self, (<PyASCIIObject*>key).hash) \
                        and PySet_Contains(self.key_exact, <object>key):
                    if not self._is_censor(<object>item):
                        return True
                    continue
            elif self.has_keys:
                # Held, not borrowed: a predicate may change the dict.
                name = <object>key
                value = <object>item
                if self._key_hit(name):
                    if not self._is_censor(value):
                        return True
                    continue
            if not _is_atom(<PyTypeObject*>Py_TYPE(<object>item), no_texts):
                value = <object>item  # held across the walk, which may run Python code
                if self._check(value, depth):
                    return True
        return False

    # -- the clone ---------------------------------------------------------------------

    @cython.binding(False)
    @cython.always_allow_keywords(False)
    def censored(self, value):
        """``value`` when nothing in it needs censoring, else its clone sharing every
        unchanged part: what a redacting hook hands on."""
        return self._censored(value)

    cdef object _censored(self, object value):
        try:
            if type(value) is dict:
                if not self._check_dict(<dict>value, 1):
                    return value
            elif not self._check(value, 0):
                return value
            return _new_run(self, True).run(value, 0)
        except Exception:
            if not self.strict:
                raise
        return self.pure_censored(value)  # censors what it cannot inspect

    cdef object data_changes(self, object data):
        """The top-level keys of ``data`` whose values need censoring, with their
        censored values, or None when none do; ``data`` itself is never changed."""
        if not data:
            return None
        redacted = self._censored(data)  # shares every value that did not change
        if redacted is data:
            return None
        return self.data_diff(data, redacted)

    def clone(self, value, bint share):
        """``Cloner.clone(value, share_unchanged=share)``."""
        try:
            return _new_run(self, share).run(value, 0)
        except Exception:
            if not self.strict:
                raise
        return self.pure_clone(value, share)


cdef class _WalkerHook:
    """A redacting hook of one walker, callable the ordinary way and carrying the
    capsule the compiled core calls it through (``cext/loglayer/_hookabi.pxd``).
    Immutable, so a copy is the hook itself, as for the function it stands for."""

    cdef Walker walker
    cdef readonly object __loglayer_native__

    def __cinit__(self, Walker walker not None):
        self.walker = walker

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self


@cython.final
cdef class ValueHook(_WalkerHook):
    """A redacting ``on_fields_called`` / ``on_metadata_called``: ``walker.censored``."""

    def __cinit__(self, Walker walker not None):
        self.__loglayer_native__ = value_capsule(self, _native_value)

    def __call__(self, value):
        return self.walker._censored(value)


cdef object _native_value(object hook, object value):
    return (<ValueHook>hook).walker._censored(value)


@cython.final
cdef class DataHook(_WalkerHook):
    """A redacting ``on_before_data_out``: the censored values of the top-level data keys
    that need it, or None. The core calls it with the entry's data and no params."""

    def __cinit__(self, Walker walker not None):
        self.__loglayer_native__ = data_capsule(self, _native_data)

    def __call__(self, params):
        return self.walker.data_changes(params.data)


cdef object _native_data(object hook, dict data):
    return (<DataHook>hook).walker.data_changes(data)


@cython.final
cdef class _Run:
    """The state of one clone: the containers on the current path (to spot cycles), as
    a C stack of addresses, and how many censors were written (for ``strict``). A
    record or another shape the pure walk handles gets the same state, through
    ``clone_other``. Made by ``_new_run``."""

    cdef Walker walker
    cdef bint share
    cdef Py_ssize_t hits
    cdef void** path
    cdef Py_ssize_t used
    cdef void* inline_path[_INLINE_PATH]

    def __dealloc__(self):
        if self.path != NULL and self.path != self.inline_path:
            PyMem_Free(self.path)

    cdef object run(self, object value, Py_ssize_t depth):
        cdef Walker walker = self.walker
        if _is_atom(<PyTypeObject*>Py_TYPE(value), walker.no_texts):
            return value
        if depth >= _C_DEPTH:
            return self._pure(value, depth)
        if type(value) is dict:
            return self._dict(<dict>value, depth)
        if isinstance(value, str):
            return self._text(value)
        if type(value) is list or type(value) is tuple:
            return self._sequence(value, depth)
        if _is_number(value):  # only here with value matchers: its digits
            if not walker._number_hit(value):
                return value
            return self._text(str(value))
        return self._pure(value, depth)

    cdef object _pure(self, object value, Py_ssize_t depth):
        """``value`` cloned by the pure walk, with this run's path and hits."""
        path = [PyLong_FromVoidPtr(self.path[i]) for i in range(self.used)]  # id()s
        result, self.hits = self.walker.clone_other(value, depth, path, self.hits,
                                                    self.share)
        return result

    cdef object _enter(self, object value, Py_ssize_t depth):
        """None when ``value`` may be walked (it is pushed on the path), else its
        placeholder. The path holds one container per level, so never more than
        ``max_depth`` nor ``_C_DEPTH`` of them."""
        cdef Py_ssize_t i
        for i in range(self.used):
            if self.path[i] == <void*>value:
                return self.walker.circular
        if depth >= self.walker.max_depth:
            self.hits += 1  # what is cut off was never inspected
            return self.walker.truncated
        self.path[self.used] = <void*>value
        self.used += 1
        return None


    cdef object _sequence(self, object value, Py_ssize_t depth):
        placeholder = self._enter(value, depth)
        if placeholder is not None:
            return placeholder
        cdef bint no_texts = self.walker.no_texts
        cdef list items = []
        cdef bint same = True
        for item in value:
            new = item if _is_atom(<PyTypeObject*>Py_TYPE(item), no_texts) \
                else self.run(item, depth + 1)
            if new is not item:
                same = False
            PyList_Append(items, new)
        self.used -= 1
        if self.share and same:
            return value
        return items if type(value) is list else tuple(items)

    cdef object _dict(self, dict value, Py_ssize_t depth):
        placeholder = self._enter(value, depth)
        if placeholder is not None:
            return placeholder
        cdef Walker walker = self.walker
        cdef bint no_texts = walker.no_texts
        cdef dict result = None if self.share else {}
        cdef dict renames = None  # position -> censored text of the key
        cdef Py_ssize_t pos = 0
        cdef Py_ssize_t index = -1
        cdef PyObject* key_ptr
        cdef PyObject* item_ptr
        cdef object name
        cdef object item
        cdef object new
        while PyDict_Next(value, &pos, &key_ptr, &item_ptr):
            name = <object>key_ptr
            item = <object>item_ptr
            index += 1
            if not no_texts:
                new = walker._key_text(name)
                if new is not None:
                    self.hits += 1
                    if renames is None:
                        renames = {}
                    renames[index] = new
                    if result is None:
                        result = PyDict_Copy(value)
            if walker.has_keys and _dict_key_hit(walker, key_ptr):
                if walker._is_censor(item):
                    new = item
                else:
                    self.hits += 1
                    new = walker.censor
            elif _is_atom(<PyTypeObject*>Py_TYPE(item), no_texts):
                new = item
            elif type(item) is dict and depth + 1 < _C_DEPTH:
                new = self._dict(<dict>item, depth + 1)
            else:
                new = self.run(item, depth + 1)
            if new is not item or not self.share:
                if result is None:
                    result = PyDict_Copy(value)
                PyDict_SetItem(result, name, new)
        self.used -= 1
        if renames is not None:
            return walker.rename(list(result.items()), renames)
        return value if result is None else result

    cdef object _text(self, object text):
        cdef Walker walker = self.walker
        if walker.value_exact and PySet_Contains(walker.value_exact, text):
            self.hits += 1
            return walker.censor
        for test in walker.value_tests:
            if test(text):
                self.hits += 1
                return walker.censor
        result = text
        for regex in walker.value_regexes:
            result = regex.sub(walker.repl, result)
        if result == text:
            return text  # the very same object, so an unchanged str is shared
        self.hits += 1
        return result


cdef object _key_text_of(object key):
    """``_cloner._text_of`` for a mapping key that is not exactly a str."""
    try:
        text = repr(key) if type(key) is bytes or type(key) is bytearray else str(key)
    except Exception:
        return None
    return text if PyUnicode_CheckExact(text) else str.__str__(text)


cdef _Run _new_run(Walker walker, bint share):
    cdef _Run run = _Run.__new__(_Run)
    run.walker = walker
    run.share = share
    cdef Py_ssize_t capacity = min(walker.max_depth, <Py_ssize_t>_C_DEPTH)
    if capacity <= _INLINE_PATH:
        run.path = run.inline_path
    else:
        run.path = <void**>PyMem_Malloc(capacity * sizeof(void*))
        if run.path == NULL:
            raise MemoryError()
    return run
