"""Builds the compiled core; all other metadata lives in pyproject.toml.

The pure-Python twin ships in every build, so the extensions are an optimisation, never
a requirement to install:

* ``LOGLAYER_NO_EXTENSIONS=1`` skips them; so does an interpreter other than CPython.
* When they cannot be built (no C compiler, Cython missing, a platform Cython or the
  compiler cannot target), the build prints one line saying so and installs the pure
  core alone. All or none: a kernel without its renderers would not import.
* ``LOGLAYER_REQUIRE_EXTENSIONS=1`` makes that failure an error instead (``make wheel``
  and the wheel jobs set it, so a broken build never ships as a pure wheel).

The C is generated from ``cext/*.pyx`` at build time and never shipped: Cython is a
build requirement, and the sdist holds only the Cython sources.
"""

import os
import platform
import re
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

# distutils' CCompilerError, DistutilsExecError and DistutilsPlatformError, under the
# names setuptools gives them (distutils itself left the standard library in 3.12)
from setuptools.errors import CCompilerError, ExecError, PlatformError

NO_EXTENSIONS = bool(os.environ.get("LOGLAYER_NO_EXTENSIONS"))
REQUIRE_EXTENSIONS = bool(os.environ.get("LOGLAYER_REQUIRE_EXTENSIONS"))
#: What a failed build of one extension raises: no compiler or a compiler that fails,
#: a platform the toolchain does not support, a missing tool or file.
BUILD_ERRORS = (CCompilerError, ExecError, PlatformError, OSError, ValueError)

CYTHON_DIRECTIVES = {
    "language_level": 3,
    "boundscheck": False,
    "wraparound": False,
    "initializedcheck": False,
    "cdivision": True,
    "embedsignature": True,
}


def say(message: str) -> None:
    print(f"loglayer: {message}", file=sys.stderr, flush=True)


def fall_back(reason: str) -> None:
    """The one line a build without the extensions prints (or the error it raises)."""
    if REQUIRE_EXTENSIONS:
        sys.exit(f"loglayer: LOGLAYER_REQUIRE_EXTENSIONS is set and the compiled core "
                 f"cannot be built: {reason}")
    say(f"cannot build the compiled core ({reason}); installing the pure-Python core, "
        f"which behaves the same, only slower (LOGLAYER_REQUIRE_EXTENSIONS=1 makes this "
        f"an error, LOGLAYER_NO_EXTENSIONS=1 skips the attempt)")


def one_line(exc: BaseException) -> str:
    """The reason, short: a failed compiler's whole command line is already printed."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    failed = re.search(r"Command '\['([^']*)'.*returned non-zero exit status (-?\d+)", text)
    if failed:
        return f"{failed[1]} exited with status {failed[2]}"
    return text if len(text) <= 160 else text[:157] + "..."


class OptionalBuildExt(build_ext):
    """Cythonizes at build time, then builds every extension or none of them."""

    def run(self) -> None:
        try:
            from Cython.Build import cythonize
        except ImportError:
            self.extensions = []
            fall_back("Cython is not installed")
            return
        # cext/loglayer/ holds the declarations other extensions cimport (the kernel's
        # types, the native-hook ABI), laid out under the names they have at run time.
        generated = cythonize(
            self.extensions,
            compiler_directives=CYTHON_DIRECTIVES,
            include_path=["cext"],
            annotate=bool(os.environ.get("LOGLAYER_ANNOTATE")),
        )
        # The C sources go into the extensions finalize_options prepared (a fresh
        # Extension would lack what setuptools set on them there).
        for ext, compiled_from in zip(self.extensions, generated, strict=True):
            ext.sources = compiled_from.sources
        try:
            super().run()
        except BUILD_ERRORS as exc:  # the compiler could not even be set up
            self._discard_built()
            fall_back(one_line(exc))
            return
        say(f"built the compiled core (loglayer._core, loglayer._render) and "
            f"{len(self.extensions) - 2} fast paths")

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except BUILD_ERRORS as exc:
            raise _ExtensionFailed(f"{ext.name}: {one_line(exc)}") from exc

    def _discard_built(self) -> None:
        """Removes the extensions built before one failed, so none of them installs."""
        for ext in self.extensions:
            path = self.get_ext_fullpath(ext.name)
            if os.path.exists(path):
                os.remove(path)
        self.extensions = []


class _ExtensionFailed(CCompilerError):
    """One extension failed; ``OptionalBuildExt.run`` turns it into the fallback."""


def extensions() -> list:
    if NO_EXTENSIONS and REQUIRE_EXTENSIONS:
        sys.exit("loglayer: LOGLAYER_NO_EXTENSIONS and LOGLAYER_REQUIRE_EXTENSIONS are "
                 "both set; unset one")
    if NO_EXTENSIONS:
        say("LOGLAYER_NO_EXTENSIONS is set: building the pure-Python core only")
        return []
    if platform.python_implementation() != "CPython":
        if REQUIRE_EXTENSIONS:
            sys.exit(f"loglayer: LOGLAYER_REQUIRE_EXTENSIONS is set, but the compiled "
                     f"core is for CPython, not {platform.python_implementation()}")
        say(f"building the pure-Python core only: the compiled core is for CPython, "
            f"not {platform.python_implementation()}")
        return []
    # The wheels ship without debug information: it is most of an unstripped .so's size.
    link_args = ["-s"] if sys.platform.startswith("linux") else []
    found = [Extension("loglayer._core", ["cext/_core.pyx"]),
             Extension("loglayer._render", ["cext/_render.pyx"]),
             Extension("loglayer.utils._clonefast", ["cext/_clonefast.pyx"]),
             Extension("loglayer.plugins._samplefast", ["cext/_samplefast.pyx"]),
             Extension("loglayer._stdlibfast", ["cext/_stdlibfast.pyx"]),
             Extension("loglayer.transports._syslogfast", ["cext/_syslogfast.pyx"]),
             Extension("loglayer.transports._journaldfast", ["cext/_journaldfast.pyx"])]
    if sys.platform != "win32":  # the wasm fast path loads wasmtime's C API with dlopen
        found.append(Extension("loglayer.isolation._wasmfast", ["cext/_wasmfast.pyx"]))
    for ext in found:
        ext.extra_link_args = link_args
    return found


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
