"""Fail unless each wheel holds the compiled kernel and renderers with their stubs, the
Cloner, sampler and wasm fast paths and the guest header, the license, and no Cython
sources or generated C."""

import sys
import zipfile


def check(path: str) -> list[str]:
    names = zipfile.ZipFile(path).namelist()
    problems = []
    for kernel in ("loglayer/_core", "loglayer/_render"):
        if not any(n.startswith(kernel + ".") and n.endswith((".so", ".pyd")) for n in names):
            problems.append(f"no compiled {kernel} extension")
        if kernel + ".pyi" not in names:
            problems.append(f"no {kernel}.pyi for type checkers")
    for fast_path in ("loglayer/utils/_clonefast", "loglayer/plugins/_samplefast"):
        if not any(n.startswith(fast_path + ".") for n in names):
            problems.append(f"no compiled {fast_path} fast path")
    if not path.endswith(("win32.whl", "win_amd64.whl")) and not any(
            n.startswith("loglayer/isolation/_wasmfast.") for n in names):
        problems.append("no compiled loglayer/isolation/_wasmfast fast path")
    if "loglayer/isolation/loglayer_guest.h" not in names:
        problems.append("no loglayer/isolation/loglayer_guest.h for guest authors")
    problems += [f"ships source {n}" for n in names if n.endswith((".pyx", ".pxd", ".c"))]
    if "loglayer/py.typed" not in names:
        problems.append("no loglayer/py.typed")
    if not any(n.endswith(".dist-info/licenses/LICENSE") for n in names):
        problems.append("no LICENSE in the dist-info's licenses/")
    return problems


def main(paths: list[str]) -> int:
    if not paths:
        print("check_wheel: no wheel given", file=sys.stderr)
        return 2
    failed = False
    for path in paths:
        problems = check(path)
        for problem in problems:
            print(f"check_wheel: {path}: {problem}", file=sys.stderr)
        failed |= bool(problems)
        if not problems:
            print(f"check_wheel: {path}: compiled core present, no .pyx/.c inside")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
