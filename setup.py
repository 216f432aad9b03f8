"""Builds the compiled core; all other metadata lives in pyproject.toml.

The extension is skipped, and the pure-Python twin used instead, when
LOGLAYER_NO_EXTENSIONS=1 or when the interpreter is not CPython.
"""

import os
import platform
import sys

from setuptools import Extension, setup

ext_modules = []
if os.environ.get("LOGLAYER_NO_EXTENSIONS") or platform.python_implementation() != "CPython":
    print("loglayer: building the pure-Python core only", file=sys.stderr)
else:
    from Cython.Build import cythonize

    # cext/loglayer/ holds the declarations other extensions cimport (the kernel's
    # types, the native-hook ABI), laid out under the names they have at run time.
    extensions = [Extension("loglayer._core", ["cext/_core.pyx"]),
                  Extension("loglayer._render", ["cext/_render.pyx"]),
                  Extension("loglayer.utils._clonefast", ["cext/_clonefast.pyx"]),
                  Extension("loglayer.plugins._samplefast", ["cext/_samplefast.pyx"])]
    if sys.platform != "win32":  # the wasm fast path loads wasmtime's C API with dlopen
        extensions.append(Extension("loglayer.isolation._wasmfast", ["cext/_wasmfast.pyx"]))
    ext_modules = cythonize(
        extensions,
        compiler_directives={
            "language_level": 3,
            "boundscheck": False,
            "wraparound": False,
            "initializedcheck": False,
            "cdivision": True,
            "embedsignature": True,
        },
        include_path=["cext"],
        annotate=bool(os.environ.get("LOGLAYER_ANNOTATE")),
    )
    print("loglayer: building the compiled core (loglayer._core, loglayer._render) and "
          f"{len(ext_modules) - 2} fast paths", file=sys.stderr)

setup(ext_modules=ext_modules)
