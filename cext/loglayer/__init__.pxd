# Marks this folder as the ``loglayer`` package for ``cimport``: the declarations here
# are found as ``loglayer._core`` and ``loglayer._hookabi`` (setup.py puts ``cext`` on
# Cython's include path), the names the compiled modules have at run time.
