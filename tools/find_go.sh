# Sourced by the Go builds (tools/build_otelcol.sh, examples/grpc/build.sh).
#
#   find_go GO_MOD    prints a Go toolchain at least as new as GO_MOD's `go` line: $GO,
#                     the `go` on PATH, or /usr/local/go/bin/go, the first new enough;
#                     prints nothing and fails when there is none. Toolchains are never
#                     downloaded (the builds set GOTOOLCHAIN=local).
find_go() {
    local need candidate have
    need=$(awk '$1 == "go" { print $2; exit }' "$1")
    [ -n "$need" ] || return 1
    for candidate in "${GO:-}" "$(command -v go || true)" /usr/local/go/bin/go; do
        [ -n "$candidate" ] && [ -x "$candidate" ] || continue
        have=$("$candidate" env GOVERSION 2>/dev/null) || continue
        have=${have#go}
        if [ "$(printf '%s\n%s\n' "$need" "$have" | sort -V | head -n1)" = "$need" ]; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}
