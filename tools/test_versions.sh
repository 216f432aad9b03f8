#!/usr/bin/env bash
# `make test-versions`: the whole suite on each supported CPython, both cores, each from
# its own built wheel, the way `make test` runs it on the default interpreter.
#
#   tools/test_versions.sh [VERSION...]      default: 3.10 3.11 3.12 3.13
#
# Per version: a venv cached in $LOGLAYER_VERSIONS_DIR (default .versions/, ignored by
# git) with the build tools and the dev extra; a fresh copy of one snapshot, taken at
# the start, of the tree (the working tree's tracked and untracked, not ignored files,
# or the commit $LOGLAYER_VERSIONS_REF names, e.g. HEAD); the wheel built there with the compiled core required and checked; then
# pytest from that copy, compiled core and pure core. Nothing is built in the clone
# itself, so the .venv `make test` uses is left alone. Every run goes through, then the
# exit status says whether any failed. $PYTEST_ARGS is passed on (e.g. -m "not slow").
#
# Interpreters: pyenv's when it has the version (`pyenv install 3.12`), else python3.X
# on PATH; a version that cannot be found fails the run rather than being skipped.
set -uo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
versions=("$@")
[ ${#versions[@]} -gt 0 ] || versions=(3.10 3.11 3.12 3.13)
root=${LOGLAYER_VERSIONS_DIR:-$repo/.versions}
ref=${LOGLAYER_VERSIONS_REF:-}
# word-split the way a shell would, so PYTEST_ARGS='-m "not slow"' is two arguments
eval "pytest_args=(${PYTEST_ARGS:-})"
mkdir -p "$root"
root=$(cd "$root" && pwd)

interpreter() {
  local v=$1 prefix
  if command -v pyenv >/dev/null 2>&1 && prefix=$(pyenv prefix "$v" 2>/dev/null) \
      && [ -x "$prefix/bin/python$v" ]; then
    echo "$prefix/bin/python$v"
  elif command -v "python$v" >/dev/null 2>&1 && "python$v" -c "" 2>/dev/null; then
    command -v "python$v"
  else
    return 1
  fi
}

# One snapshot for every version, taken before the first build: the tree (or the
# commit) may move on while the runs go.
snapshot() {
  local dest=$root/snapshot
  rm -rf "$dest" && mkdir -p "$dest" || return 1
  if [ -n "$ref" ]; then
    git -C "$repo" archive "$ref" | tar -x -C "$dest"
  else
    (cd "$repo" && git ls-files -z --cached --others --exclude-standard \
      | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
      | tar --null -T - -cf -) | tar -x -C "$dest"
  fi
}

# venv, tree, wheel; prints why on failure
prepare() {
  local v=$1 py venv=$root/venv-$v tree=$root/tree-$v
  py=$(interpreter "$v") || { echo "no python$v found (pyenv install $v)"; return 1; }
  if [ ! -f "$venv/.ready" ] || [ ! -x "$venv/bin/python" ]; then
    rm -rf "$venv"
    "$py" -m venv "$venv" || return 1
    "$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip \
      "setuptools>=77" "Cython>=3.0" wheel build || return 1
    touch "$venv/.ready"
  fi
  rm -rf "$tree" && cp -a "$root/snapshot" "$tree" || { echo "cannot copy to $tree"; return 1; }
  local pip=("$venv/bin/python" -m pip install -q --disable-pip-version-check)
  (
    cd "$tree" || exit 1
    LOGLAYER_REQUIRE_EXTENSIONS=1 "$venv/bin/python" -m build --wheel --no-isolation \
      --outdir dist . > build.log 2>&1 || { tail -40 build.log; exit 1; }
    grep "loglayer: built" build.log || { echo "no 'loglayer: built' line"; exit 1; }
    "$venv/bin/python" tools/check_wheel.py dist/*.whl || exit 1
    wheel=$(ls dist/*.whl)
    "${pip[@]}" --force-reinstall --no-deps "$wheel" || exit 1
    "${pip[@]}" "$wheel[dev]" || exit 1
  )
}

if [ -n "$ref" ]; then
  ref=$(git -C "$repo" rev-parse --verify "$ref^{commit}") || exit 1
fi
snapshot || { echo "cannot copy the tree to $root/snapshot"; exit 1; }
echo "testing ${ref:-the working tree of $repo} on CPython ${versions[*]}"
results=()
failed=0
for v in "${versions[@]}"; do
  echo "===== CPython $v ====="
  if ! prepare "$v"; then
    results+=("$v: setup failed")
    failed=1
    continue
  fi
  for core in compiled pure; do
    echo "== $v, $core core =="
    log=$root/pytest-$v-$core.log
    env_core=()
    [ "$core" = pure ] && env_core=(LOGLAYER_NO_EXTENSIONS=1)
    (cd "$root/tree-$v" && env "${env_core[@]}" "$root/venv-$v/bin/python" -m pytest -q \
      -p no:cacheprovider "${pytest_args[@]}") 2>&1 | tee "$log"
    status=${PIPESTATUS[0]}
    summary=$(grep -E '(passed|failed|error|skipped|deselected).* in [0-9.]+s' "$log" \
      | tail -1 | tr -d '=' | xargs)
    results+=("$v $core: ${summary:-no summary} (exit $status)")
    [ "$status" -eq 0 ] || failed=1
  done
done

echo "===== summary ====="
printf '%s\n' "${results[@]}"
exit "$failed"
