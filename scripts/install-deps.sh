#!/usr/bin/env bash
# Installs everything the test suite and the demo need on a fresh Debian/Ubuntu machine
# (idempotent; root or sudo). Called by `make test`; safe to run again.
#   - openssh-server/client, iproute2, nftables: the deployctl test bed (hosts in namespaces)
#   - nginx, haproxy, socat (haproxy's runtime API), wrk, openssl, curl, sudo: load balancers,
#     load through them, HTTPS checks and privileged files in the deployctl tests
#   - shellcheck: `make lint` checks every shell script of the repository
#   - python3: a socket-activated worker written in another language (zdrun tests)
#   - tcsh: a non-POSIX login shell that deployctl must refuse at connect (deployctl tests)
#   - chromium: renders `deployctl report` headless in the deployctl tests (screenshot, DOM)
#   - strace: the durability test traces the write paths (fsync before rename) of a run
#   - cross-check targets for the runtime crate (Windows, macOS)
#   - the gate tools (hurl's C libraries, llvm-tools, cargo-llvm-cov, cargo-nextest)
set -euo pipefail
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
here=$(cd "$(dirname "$0")" && pwd)

need=()
for pkg in openssh-server openssh-client iproute2 nftables nginx haproxy socat wrk python3 curl procps sudo openssl iputils-ping shellcheck tcsh chromium strace; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "install-deps: apt-get install ${need[*]}"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

installed_targets=$(rustup target list --installed)
for t in x86_64-pc-windows-gnu x86_64-apple-darwin; do
  grep -qx "$t" <<<"$installed_targets" || rustup target add "$t"
done

"$here/install-gate-tools.sh"
echo "install-deps: done"
