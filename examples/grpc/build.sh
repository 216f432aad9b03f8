#!/bin/sh
# Build the Go examples: the redaction plugin, its panicking variant and the Go host.
#
#   examples/grpc/build.sh [OUTDIR]        (default: .cache/go at the repository root)
#
# Offline, against Debian's packages (golang-go, golang-github-hashicorp-go-plugin-dev,
# golang-google-grpc-dev, golang-goprotobuf-dev, protobuf-compiler), in GOPATH mode:
# OUTDIR/gopath/src holds the Go stubs generated from the package's loglayer_plugin.proto
# (import path "loglayerpb") and a copy of go/, and the binaries land in OUTDIR/bin. A
# stamp of every input (sources, proto, this script, the Go version) makes a second run
# with nothing changed a no-op.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:-$root/.cache/go}
proto_dir=$root/src/loglayer/isolation/proto
binaries="redact-plugin panic-plugin loglayer-host"

stamp=$( (cat "$0" "$proto_dir/loglayer_plugin.proto"
          find "$here/go" -type f -name '*.go' | LC_ALL=C sort | xargs cat
          go version; protoc --version) | sha256sum | cut -d' ' -f1)
fresh=yes
for binary in $binaries; do
    [ -x "$out/bin/$binary" ] || fresh=no
done
if [ "$fresh" = yes ] && [ "$(cat "$out/stamp" 2>/dev/null)" = "$stamp" ]; then
    exit 0
fi

rm -rf "$out/gopath" "$out/stamp"
mkdir -p "$out/gopath/src/loglayerpb" "$out/bin"
cp -R "$here/go/." "$out/gopath/src/"
protoc -I "$proto_dir" \
    --go_out="plugins=grpc,Mloglayer_plugin.proto=loglayerpb:$out/gopath/src/loglayerpb" \
    "$proto_dir/loglayer_plugin.proto"
GO111MODULE=off GOPATH="$out/gopath:/usr/share/gocode" GOCACHE="$out/gocache" GOFLAGS= \
    GOPROXY=off
export GO111MODULE GOPATH GOCACHE GOFLAGS GOPROXY
for binary in $binaries; do
    go build -o "$out/bin/$binary" "loglayerexample/$binary"
done
echo "$stamp" > "$out/stamp"
