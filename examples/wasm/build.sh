#!/bin/sh
# Builds the example guests: redact.wasm from C (clang + lld for wasm32, no C library)
# and sampling_gate.wasm from its WAT text (wasmtime-py's wat2wasm), into $OUT (default:
# this directory). The .wasm files are build outputs, not committed.
#   CC=clang-14 PYTHON=.venv/bin/python OUT=/tmp/guests examples/wasm/build.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
CC=${CC:-clang}
PYTHON=${PYTHON:-python3}
OUT=${OUT:-$here}
mkdir -p "$OUT"
# The guest header ships inside the package; fall back to the source tree.
include=$("$PYTHON" -c 'import os, loglayer.isolation._wasm_abi as a
d = a.include_dir(); assert os.path.isfile(os.path.join(d, "loglayer_guest.h")); print(d)' \
          2>/dev/null || echo "$here/../../src/loglayer/isolation")
"$CC" --target=wasm32 -O2 -mbulk-memory -nostdlib -ffreestanding -Wall -Wextra \
    -Wl,--no-entry -Wl,--strip-all -I "$include" -o "$OUT/redact.wasm" "$here/redact.c"
"$PYTHON" -c 'import sys, wasmtime
open(sys.argv[2], "wb").write(wasmtime.wat2wasm(open(sys.argv[1]).read()))' \
    "$here/sampling_gate.wat" "$OUT/sampling_gate.wasm"
echo "built $OUT/redact.wasm and $OUT/sampling_gate.wasm"
