#!/usr/bin/env bash
# Build the minimal OpenTelemetry Collector of tools/otelcol (OTLP receiver, file and debug
# exporters) that the OTLP tests run, once, into a cache OUTSIDE the repository:
#
#   tools/build_otelcol.sh                 build unless up to date; the last line printed
#                                          is the binary's path
#   tools/build_otelcol.sh --print-path    print the path of an up-to-date binary without
#                                          building; exit 1 (and say so) when there is none
#
# The binary lands in ${XDG_CACHE_HOME:-$HOME/.cache}/loglayer/otelcol-<release>-<hash>/,
# where <hash> covers every input: go.mod, go.sum, the Go sources, the Go version and the
# build settings below. A fresh clone (CI) whose sources match finds it there and does not
# build; a changed input names another directory, so a stale binary is never used. When up
# to date the script prints one line, the path. Old directories are left in place (about
# 35 MB each; delete ~/.cache/loglayer/otelcol-* freely).
#
# The modules come from the Go module proxy (go.sum pins them) into Go's own module and
# build caches (go env GOMODCACHE GOCACHE), also outside the repository. The first build
# takes a few minutes on two cores. It needs Go >= the `go` line of tools/otelcol/go.mod:
# the `go` on PATH when new enough, else /usr/local/go/bin/go (Debian's golang-go, which
# tools/install_deps.sh installs for the GOPATH-mode plugin build, is too old for it).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
src=$root/tools/otelcol
name=otelcol-loglayer

mode=build
case "${1:-}" in
    "") ;;
    --print-path) mode=print ;;
    *) echo "usage: $0 [--print-path]" >&2; exit 2 ;;
esac

say() { echo "otelcol: $*" >&2; }

# The collector release, read from go.mod so that the two cannot disagree.
release=$(awk '$1 == "go.opentelemetry.io/collector/otelcol" { sub(/^v/, "", $2); print $2 }' \
    "$src/go.mod")
[ -n "$release" ] || { say "cannot read $src/go.mod"; exit 1; }

# A Go toolchain at least as new as go.mod asks for (no toolchain downloads: see below).
# shellcheck source=tools/find_go.sh
. "$root/tools/find_go.sh"
gobin=$(find_go "$src/go.mod") || {
    say "needs Go >= the go line of tools/otelcol/go.mod;" \
        "none found on PATH, at /usr/local/go or in \$GO"
    exit 1
}

# The build's environment, fixed here so a developer's settings cannot change the binary:
# a static binary, the module graph exactly as go.mod/go.sum say, no go.work from above,
# no automatic toolchain download, no VCS stamp (the repository's commit is not an input).
export CGO_ENABLED=0 GOWORK=off GOTOOLCHAIN=local GOFLAGS="-mod=readonly -buildvcs=false"
build_flags=(-trimpath -ldflags "-s -w")

stamp=$( {
    echo "release $release"
    (cd "$src" && find . -maxdepth 1 -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) \
        | LC_ALL=C sort | xargs sha256sum)
    "$gobin" version
    echo "env CGO_ENABLED=$CGO_ENABLED GOFLAGS=$GOFLAGS $("$gobin" env GOOS GOARCH | tr '\n' ' ')"
    echo "flags ${build_flags[*]}"
} )
hash=$(printf '%s\n' "$stamp" | sha256sum | cut -c1-16)
cache=${XDG_CACHE_HOME:-$HOME/.cache}/loglayer
dir=$cache/otelcol-$release-$hash
binary=$dir/$name

up_to_date() {
    [ -x "$binary" ] && [ "$(cat "$dir/stamp" 2>/dev/null)" = "$stamp" ]
}

if [ "$mode" = print ]; then
    if up_to_date; then
        echo "$binary"
        exit 0
    fi
    say "no up-to-date collector at $binary; \`make deps\` (or tools/build_otelcol.sh) builds it"
    exit 1
fi

if up_to_date; then
    echo "$binary"
    exit 0
fi

mkdir -p "$dir"
# One build at a time per cache (two checkouts or two `make deps` at once): the second
# waits, then finds the first one's binary.
if command -v flock >/dev/null 2>&1; then
    exec 9>"$cache/otelcol.lock"
    flock 9
    if up_to_date; then
        echo "$binary"
        exit 0
    fi
fi

tmp=$(mktemp "$dir/.$name.XXXXXX")
trap 'rm -f "$tmp" "$tmp.stamp"' EXIT

say "building the collector $release with $("$gobin" version | cut -d' ' -f3) into $dir"
started=$(date +%s)
# Fetch the modules first, with a few tries: a failed download is worth retrying, a
# failed compile is not.
for attempt in 1 2 3; do
    if (cd "$src" && "$gobin" mod download); then
        break
    fi
    if [ "$attempt" = 3 ]; then
        say "downloading the modules from the Go module proxy failed"
        exit 1
    fi
    say "module download failed (try $attempt of 3); retrying"
    sleep $((attempt * 5))
done
fetched=$(date +%s)
(cd "$src" && "$gobin" build "${build_flags[@]}" -o "$tmp" .)
"$tmp" --version >/dev/null  # it runs, and says its version

# The binary first, then the stamp that vouches for it, each renamed into place.
chmod 0755 "$tmp"
mv -f "$tmp" "$binary"
printf '%s\n' "$stamp" > "$tmp.stamp"
mv -f "$tmp.stamp" "$dir/stamp"
say "built in $(( $(date +%s) - started ))s (modules $(( fetched - started ))s," \
    "compile $(( $(date +%s) - fetched ))s), $(du -h "$binary" | cut -f1)"
echo "$binary"
