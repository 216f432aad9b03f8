"""The samplers' gates, compiled (``loglayer.plugins._samplefast``).

``loglayer.plugins.sampling`` defines how the samplers behave, in Python; this module
holds the same two gates as native send gates of the compiled core (the ABI is
``cext/loglayer/_hookabi.pxd``): the dispatcher asks them from C, with the
entry's level index, once per entry, so a sampler costs a table lookup and, when it
must draw, one draw: from its own generator when unseeded, from its
``random.Random(seed)`` when seeded. Called the ordinary way (``gate(params)``:
the queue worker, tests) they keep the pure gates' per-thread memory of the last
entry, so that an entry gets one decision however many transports ask.

With the same seed, a compiled and a pure sampler make the same decisions for the
same entries: both draw from ``random.Random(seed)``, at the same moments.
"""

cimport cython
from cpython.object cimport PyObject
from libc.stdint cimport uint64_t

from loglayer._hookabi cimport gate_capsule

cdef extern from "Python.h":
    bint PyCFunction_Check(object o)
    int PyCFunction_GET_FLAGS(object o)
    void* PyCFunction_GET_FUNCTION(object o)
    PyObject* PyCFunction_GET_SELF(object o)  # borrowed
    int METH_NOARGS

#: A METH_NOARGS builtin: (self, NULL) -> a new reference, NULL when it raised.
ctypedef object (*_noargs_fn)(object, PyObject*)

cdef extern from *:
    """
    #include <stdint.h>
    /* xoshiro256+ (Blackman and Vigna, public domain algorithm): the unseeded samplers'
       generator. Its low bits are weak, and a double takes the top 53 only. */
    static inline uint64_t loglayer_rotl(uint64_t x, int k) {
        return (x << k) | (x >> (64 - k));
    }
    static inline double loglayer_xoshiro_double(uint64_t *s) {
        uint64_t result = s[0] + s[3];
        uint64_t t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = loglayer_rotl(s[3], 45);
        return (double)(result >> 11) * (1.0 / 9007199254740992.0);
    }
    """
    double loglayer_xoshiro_double(uint64_t* state) nogil

cdef extern from *:
    """
    /* The clock time.monotonic() reads on these systems, without a Python call; with
       `coarse`, its coarse variant where there is one: a tick of a few milliseconds,
       read in a fifth of the time (no hardware counter is read). */
    #if defined(__linux__) || defined(__FreeBSD__) || defined(__NetBSD__) || defined(__OpenBSD__)
    #include <time.h>
    #define LOGLAYER_C_MONOTONIC 1
    static double loglayer_monotonic(int coarse) {
        struct timespec ts;
    #ifdef CLOCK_MONOTONIC_COARSE
        clock_gettime(coarse ? CLOCK_MONOTONIC_COARSE : CLOCK_MONOTONIC, &ts);
    #else
        (void)coarse;
        clock_gettime(CLOCK_MONOTONIC, &ts);
    #endif
        return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
    }
    #else
    #define LOGLAYER_C_MONOTONIC 0
    static double loglayer_monotonic(int coarse) { (void)coarse; return 0.0; }
    #endif
    """
    bint LOGLAYER_C_MONOTONIC
    double loglayer_monotonic(int coarse) nogil

import os
import time

from loglayer.levels import LogLevel

__all__ = ["BurstGate", "RateGate"]

#: The position of each level in ``LogLevel``: the core's level index.
cdef dict _INDEX = {level: index for index, level in enumerate(LogLevel)}
cdef enum:
    _LEVELS = 6


cdef class _Gate:
    """A sampler's gate. Per level, ``fixed`` is the answer (1: send, 0: drop) or -1:
    ask ``decide``, once per entry. ``last`` is a ``threading.local`` whose ``held`` is
    ``[params, decision]``: the entry memory of ``gate(params)`` calls. Subclasses fill
    ``fixed`` and call ``_start`` from ``__cinit__``."""

    cdef signed char fixed[_LEVELS]
    cdef object last
    cdef readonly object __loglayer_native__

    cdef _start(self, object last):
        self.last = last
        self.__loglayer_native__ = gate_capsule(self, _native_gate)

    cdef int decide(self, int index) except -1:
        raise NotImplementedError

    def __copy__(self):
        return self  # like the pure gate, a function: copying its plugin shares it

    def __deepcopy__(self, memo):
        return self

    def __call__(self, params):
        cdef int index = _INDEX[params.level]
        if self.fixed[index] >= 0:
            return self.fixed[index] == 1
        held = self.last.held
        if held[0] is params:
            return held[1]
        keep = self.decide(index) == 1
        held[0] = params
        held[1] = keep
        return keep


cdef int _native_gate(object gate, int index) except -1:
    cdef _Gate known = <_Gate>gate
    if known.fixed[index] >= 0:
        return known.fixed[index]
    return known.decide(index)


@cython.final
cdef class RateGate(_Gate):
    """``fixed_rate`` / ``per_level``: per level, always, never, or a draw against a
    rate. ``table`` maps every ``LogLevel`` to True, False or a probability.

    ``draw`` is a seeded ``random.Random(seed).random``, so that a seeded sampler makes
    the same decisions as the pure one; None for an unseeded sampler, which draws from
    its own xoshiro256+ generator seeded from ``os.urandom``: a few nanoseconds a draw,
    and no float object.
    """

    cdef double rates[_LEVELS]
    cdef object draw
    cdef _noargs_fn draw_c  # draw's C function when it takes no arguments, else NULL
    cdef object draw_self
    cdef uint64_t state[4]  # the generator of an unseeded gate (draw is None)

    def __cinit__(self, dict table not None, draw, last not None):
        for level, index in _INDEX.items():
            rate = table[level]
            if rate is True or rate is False:
                self.fixed[index] = 1 if rate else 0
            else:
                self.fixed[index] = -1
                self.rates[index] = rate
        self.draw = draw
        self.draw_c = NULL
        if draw is None:
            seed = os.urandom(32)
            for i in range(4):
                self.state[i] = int.from_bytes(seed[8 * i:8 * i + 8], "little")
            if not (self.state[0] | self.state[1] | self.state[2] | self.state[3]):
                self.state[0] = 1  # the one state the generator cannot leave
        elif PyCFunction_Check(draw) and PyCFunction_GET_FLAGS(draw) == METH_NOARGS:
            # A builtin method such as Random.random: called straight, as the
            # interpreter would, without the generic call protocol in between.
            self.draw_c = <_noargs_fn>PyCFunction_GET_FUNCTION(draw)
            self.draw_self = <object>PyCFunction_GET_SELF(draw)  # our own reference
        self._start(last)

    cdef int decide(self, int index) except -1:
        cdef object value
        if self.draw is None:
            return 1 if loglayer_xoshiro_double(self.state) < self.rates[index] else 0
        if self.draw_c != NULL:
            value = self.draw_c(self.draw_self, NULL)
        else:
            value = self.draw()
        return 1 if <double>value < self.rates[index] else 0


@cython.final
cdef class BurstGate(_Gate):
    """``burst``: at most ``n`` entries per window of ``per_seconds``, levels in
    ``kept`` (every ``LogLevel`` to a bool) always pass and are not counted. ``clock``
    returns seconds; ``time.monotonic`` is read from C where it is ``clock_gettime``,
    and for windows of a second or more from its coarse variant: a window then ends
    up to one tick (a few milliseconds) early, a fraction of a percent of it.

    No lock: the window and the count are read and updated with no Python code in
    between, after the clock was read, so the GIL makes each decision atomic.
    """

    cdef Py_ssize_t n
    cdef Py_ssize_t count
    cdef double per_seconds
    cdef double window_end
    cdef object clock  # None: the C monotonic clock
    cdef bint coarse  # read the coarse monotonic clock (windows of a second or more)

    def __cinit__(self, dict kept not None, Py_ssize_t n, double per_seconds, clock not None,
                  last not None):
        for level, index in _INDEX.items():
            self.fixed[index] = 1 if kept[level] else -1
        self.n = n
        self.count = 0
        self.per_seconds = per_seconds
        self.window_end = float("-inf")
        self.clock = None if (clock is time.monotonic and LOGLAYER_C_MONOTONIC) else clock
        self.coarse = per_seconds >= 1.0
        self._start(last)

    cdef int decide(self, int index) except -1:
        cdef double now
        now = loglayer_monotonic(self.coarse) if self.clock is None else <double>self.clock()
        if now >= self.window_end:
            self.window_end = now + self.per_seconds
            self.count = 0
        if self.count < self.n:
            self.count += 1
            return 1
        return 0
