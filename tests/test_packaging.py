"""The sdist, as pip sees it: complete, without generated C, and installable anywhere.

The sdist is built from a copy of this checkout, then pip builds it the way a user's pip
would (an isolated build environment with setuptools and Cython from the index). With a
compiler that always fails it must still install, as the pure core, saying so in one
line; with the real compiler it must build the compiled core from its own files. Run from
a source checkout; skipped from an installed wheel's tests and in the pure-core pass.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import socket
import subprocess
import sys
import tarfile
import zipfile

import pytest

pytestmark = pytest.mark.slow

ROOT = pathlib.Path(__file__).resolve().parent.parent
#: Building the extensions takes about a minute; an isolated build on a cold pip cache
#: downloads setuptools and Cython first.
TIMEOUT = 900
FALLBACK_LINE = "loglayer: cannot build the compiled core"

if not (ROOT / "setup.py").exists() or not (ROOT / "cext" / "_core.pyx").exists():
    pytest.skip("needs the source tree (setup.py, cext/)", allow_module_level=True)
if os.environ.get("LOGLAYER_NO_EXTENSIONS"):
    pytest.skip("packaging does not depend on the core: checked in the compiled pass only",
                allow_module_level=True)


def _index_reachable() -> bool:
    if os.environ.get("PIP_INDEX_URL") or os.environ.get("PIP_FIND_LINKS"):
        return True  # a local index or wheelhouse: pip knows where to look
    try:
        socket.create_connection(("pypi.org", 443), timeout=5).close()
    except OSError:
        return False
    return True


def _env(**extra: str) -> dict[str, str]:
    """The environment for pip: no LOGLAYER_* choice and no virtualenv of this run."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("LOGLAYER_") and k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env.update(extra)
    return env


def _run(args: list[str], cwd: pathlib.Path, **env: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, cwd=cwd, env=_env(**env), capture_output=True, text=True,
                            timeout=TIMEOUT)
    assert result.returncode == 0, (
        f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout[-4000:]}\n"
        f"{result.stderr[-4000:]}")
    return result


def _pip(python: pathlib.Path | str, *args: str) -> list[str]:
    return [str(python), "-m", "pip", "--disable-pip-version-check", *args]


#: What a working copy has that an sdist must not be built from.
_BUILT = shutil.ignore_patterns(
    ".git", ".venv", ".bench-venv", "build", "dist", "*.egg-info", "__pycache__", "*.so",
    "*.pyd", "*.o", ".cache", ".*_cache", ".hypothesis", ".benchmarks", "*.wasm",
    "build.log")
_GENERATED = shutil.ignore_patterns("*.c", "*.html")  # in cext/ only: Cython's output


def _ignore(directory: str, names: list[str]) -> set[str]:
    ignored = _BUILT(directory, names)
    if pathlib.Path(directory) == ROOT / "cext":
        ignored |= _GENERATED(directory, names)
    return ignored


@pytest.fixture(scope="module")
def sdist(tmp_path_factory) -> pathlib.Path:
    pytest.importorskip("build", reason="the dev extra's `build` makes the sdist")
    if not _index_reachable():
        pytest.skip("no package index: the isolated builds need setuptools and Cython")
    work = tmp_path_factory.mktemp("packaging")
    tree = work / "tree"
    # A copy, so the build's egg-info and the C it generates never touch the checkout.
    shutil.copytree(ROOT, tree, ignore=_ignore)
    _run([sys.executable, "-m", "build", "--sdist", "--outdir", str(work / "dist"),
          str(tree)], cwd=work)
    (path,) = (work / "dist").glob("loglayer-*.tar.gz")
    return path


def _names(sdist: pathlib.Path) -> set[str]:
    with tarfile.open(sdist) as archive:
        return {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}


def test_sdist_holds_the_license_cython_sources_and_the_suite(sdist):
    names = _names(sdist)
    for needed in ("LICENSE", "setup.py", "pyproject.toml", "MANIFEST.in",
                   "cext/_core.pyx", "cext/_render.pyx", "cext/loglayer/_core.pxd",
                   "cext/loglayer/_hookabi.pxd", "tests/conftest.py",
                   "tests/stdlib_suite/cases-3.11.txt", "tests/stdlib_suite/run_test_logging.py",
                   "tests/grpc_plugins/sample.py", "tests/test_packaging.py",
                   "tools/check_wheel.py", "examples/grpc/redact_plugin.py",
                   "examples/wasm/redact.c", "src/loglayer/__init__.py",
                   "src/loglayer/py.typed"):
        assert needed in names, f"the sdist lacks {needed}"
    tracked_tests = {p.relative_to(ROOT).as_posix() for p in (ROOT / "tests").rglob("*.py")
                     if "__pycache__" not in p.parts}
    assert tracked_tests <= names, sorted(tracked_tests - names)
    generated = sorted(n for n in names if n.startswith("cext/") and n.endswith(".c"))
    assert not generated, f"the sdist ships generated C: {generated}"


def _venv(where: pathlib.Path) -> pathlib.Path:
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True, timeout=TIMEOUT)
    return where / ("Scripts" if sys.platform == "win32" else "bin") / "python"


def _which_core(python: pathlib.Path, cwd: pathlib.Path) -> str:
    code = "import loglayer, loglayer._select as s; print(loglayer.COMPILED, s.core.__name__)"
    return _run([str(python), "-c", code], cwd=cwd).stdout.strip()


@pytest.mark.skipif(sys.platform == "win32", reason="CC is how distutils picks a compiler "
                    "on Unix only")
def test_without_a_compiler_the_sdist_installs_the_pure_core(sdist, tmp_path):
    # pip wheel, not pip install: the same build, and the wheel is kept to look into.
    built = _run(_pip(sys.executable, "wheel", "-v", "--no-deps", "--wheel-dir",
                      str(tmp_path / "wheels"), str(sdist)), cwd=tmp_path,
                 CC="/bin/false", CXX="/bin/false")
    output = built.stdout + built.stderr
    lines = [line.strip() for line in output.splitlines() if FALLBACK_LINE in line]
    assert len(lines) == 1, output[-4000:]
    assert "LOGLAYER_REQUIRE_EXTENSIONS=1" in lines[0]
    assert "LOGLAYER_NO_EXTENSIONS=1" in lines[0]

    (wheel,) = (tmp_path / "wheels").glob("loglayer-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names), names
    assert not [n for n in names if n.endswith((".so", ".pyd", ".c", ".pyx"))]

    python = _venv(tmp_path / "venv")
    _run(_pip(python, "install", "-q", str(wheel)), cwd=tmp_path)
    assert _which_core(python, tmp_path) == "False loglayer._core_py"


def test_with_a_compiler_the_sdist_builds_the_compiled_core(sdist, tmp_path):
    if shutil.which(os.environ.get("CC", "cc")) is None and sys.platform != "win32":
        pytest.skip("no C compiler here")
    built = _run(_pip(sys.executable, "wheel", "-v", "--no-deps", "--wheel-dir",
                      str(tmp_path / "wheels"), str(sdist)), cwd=tmp_path,
                 LOGLAYER_REQUIRE_EXTENSIONS="1")
    assert FALLBACK_LINE not in built.stdout + built.stderr
    (wheel,) = (tmp_path / "wheels").glob("loglayer-*.whl")
    check = _run([sys.executable, str(ROOT / "tools" / "check_wheel.py"), str(wheel)],
                 cwd=tmp_path)
    assert "compiled core present" in check.stdout

    python = _venv(tmp_path / "venv")
    _run(_pip(python, "install", "-q", str(wheel)), cwd=tmp_path)
    assert _which_core(python, tmp_path) == "True loglayer._core"
