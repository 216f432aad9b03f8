# cython: language_level=3
"""Reference points for the micro benchmark: the cheapest calls a C extension can offer."""

cimport cython


@cython.final
cdef class Empty:
    @cython.binding(False)
    @cython.always_allow_keywords(False)
    def noop(self, message):
        """An empty METH_O method: the floor for ``log.debug("x")``."""
