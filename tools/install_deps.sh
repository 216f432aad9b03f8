#!/usr/bin/env bash
# Installs the Debian packages the test suite builds with, and nothing when they are
# already there: protoc (the cross-language gRPC tests generate Go stubs; Go itself,
# 1.26 or newer, comes with the machine and fetches go-plugin through the module proxy),
# and clang/lld (the WebAssembly guests are compiled from C source). The journald tests run systemd's own systemd-journald and
# journalctl (package systemd; no systemd as PID 1 needed). CI runs on a fresh machine,
# so the project installs them.
set -euo pipefail

packages=(
  protobuf-compiler
  clang
  lld
  rsyslog
  rsyslog-gnutls
  rsyslog-relp
  systemd
)

missing=()
for package in "${packages[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all present (${packages[*]})"
  exit 0
fi

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "deps: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
