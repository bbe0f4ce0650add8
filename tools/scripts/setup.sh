#!/usr/bin/env bash
# Installs what Strata needs on a fresh Debian machine: the Debian packages
# of the real parts (NATS, runc, the distribution registry, skopeo, busybox
# for test images) and the npm dependencies. Idempotent; run as root.
set -euo pipefail
cd "$(dirname "$0")/../.."

packages=(nats-server runc docker-registry skopeo busybox-static iproute2 iptables zstd attr)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm dependencies"
  npm ci --no-audit --no-fund --loglevel=error
fi
# The generated API (libs/api/src/gen) comes from proto/ on every install;
# regenerate in case proto/ changed since.
node tools/scripts/gen-proto.mjs

# --- container-runtime: the per-container monitor (strata-monitor, C) --------
# Built with gcc/make into libs/container-runtime/native/build (gitignored);
# make rebuilds it only when the source is newer than the binary.
for p in gcc make libc6-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || {
    echo "setup: installing Debian packages to build strata-monitor: gcc make libc6-dev"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends gcc make libc6-dev >/dev/null
    break
  }
done
make -s -C libs/container-runtime/native
