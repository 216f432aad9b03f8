#!/usr/bin/env bash
# Build the Go examples: the redaction plugin, its panicking variant and the Go host.
#
#   examples/grpc/build.sh [OUTDIR]        (default: .cache/go at the repository root)
#
# A Go module (go/loglayerexample: go.mod and go.sum pin HashiCorp's go-plugin, gRPC and
# protobuf, and the two protoc plugins as `tool` dependencies), built with the Go module
# proxy into Go's own module cache. OUTDIR/src is a copy of the module with the Go stubs
# generated from the package's loglayer_plugin.proto (package loglayerexample/loglayerpb),
# OUTDIR/tools holds protoc-gen-go and protoc-gen-go-grpc, and the binaries land in
# OUTDIR/bin. A stamp of every input (sources, go.mod, go.sum, proto, this script, the Go
# and protoc versions) makes a second run with nothing changed a no-op.
#
# Needs Go >= the `go` line of go.mod (the `go` on PATH when new enough, else
# /usr/local/go/bin/go, or $GO) and protoc (Debian's protobuf-compiler).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:-$root/.cache/go}
module=$here/go/loglayerexample
proto_dir=$root/src/loglayer/isolation/proto
binaries=(redact-plugin panic-plugin loglayer-host)

say() { echo "grpc examples: $*" >&2; }

# shellcheck source=tools/find_go.sh
. "$root/tools/find_go.sh"
gobin=$(find_go "$module/go.mod") || {
    say "needs Go >= the go line of $module/go.mod; none found on PATH, at /usr/local/go" \
        "or in \$GO"
    exit 1
}

# The module graph exactly as go.mod/go.sum say, no go.work from above, no toolchain
# download, no VCS stamp.
export GOWORK=off GOTOOLCHAIN=local GOFLAGS="-mod=readonly -buildvcs=false"
export GOCACHE=$out/gocache

stamp=$( { cat "${BASH_SOURCE[0]}" "$proto_dir/loglayer_plugin.proto" "$module/go.mod" \
               "$module/go.sum"
           (cd "$module" && find . -type f -name '*.go' | LC_ALL=C sort | xargs cat)
           "$gobin" version; protoc --version; } | sha256sum | cut -d' ' -f1)
fresh=yes
for binary in "${binaries[@]}"; do
    [ -x "$out/bin/$binary" ] || fresh=no
done
if [ "$fresh" = yes ] && [ "$(cat "$out/stamp" 2>/dev/null)" = "$stamp" ]; then
    exit 0
fi

rm -rf "$out/src" "$out/stamp"
mkdir -p "$out/src" "$out/bin" "$out/tools"
cp -R "$module/." "$out/src/"
cd "$out/src"
"$gobin" build -trimpath -o "$out/tools/" google.golang.org/protobuf/cmd/protoc-gen-go \
    google.golang.org/grpc/cmd/protoc-gen-go-grpc
mkdir -p loglayerpb
import_path=Mloglayer_plugin.proto=loglayerexample/loglayerpb
PATH="$out/tools:$PATH" protoc -I "$proto_dir" \
    --go_out=loglayerpb --go_opt=paths=source_relative --go_opt="$import_path" \
    --go-grpc_out=loglayerpb --go-grpc_opt=paths=source_relative --go-grpc_opt="$import_path" \
    "$proto_dir/loglayer_plugin.proto"
for binary in "${binaries[@]}"; do
    "$gobin" build -trimpath -o "$out/bin/$binary" "./$binary"
done
echo "$stamp" > "$out/stamp"
