#!/usr/bin/env bash
# Installs what the release gates need (idempotent; run as root or with sudo available):
#   - libcurl, libxml2, pkg-config, libclang: build the `hurl` library inside gatecheck
#     (libxml's build script runs bindgen, which needs libclang)
#   - llvm-tools-preview + cargo-llvm-cov: diff coverage in `cargo xtask gate`
#   - cargo-nextest: the test runner cargo-llvm-cov drives (`cargo llvm-cov nextest`)
set -euo pipefail

SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo

missing=()
for pkg in libcurl4-openssl-dev libxml2-dev pkg-config libclang-dev; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-gate-tools: apt-get install ${missing[*]}"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

rustup component list --installed 2>/dev/null | grep -q '^llvm-tools' \
  || rustup component add llvm-tools-preview

if ! cargo llvm-cov --version >/dev/null 2>&1; then
  cargo install cargo-llvm-cov --locked --version 0.9.1
fi
if ! cargo nextest --version >/dev/null 2>&1; then
  cargo install cargo-nextest --locked
fi
echo "install-gate-tools: $(cargo llvm-cov --version), $(cargo nextest --version | head -1)"
