#!/usr/bin/env bash
# Installs what Strata needs on a fresh Debian machine: the Debian packages
# of the real parts (NATS, runc, the distribution registry, skopeo, busybox
# for test images) and the npm dependencies. Idempotent; run as root.
set -euo pipefail
cd "$(dirname "$0")/../.."

packages=(nats-server runc docker-registry skopeo busybox-static iproute2 iptables procps zstd attr gcc make libc6-dev openssl docker-compose)
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

# The docker CLI (Debian's docker.io client) for the Docker API's tests:
# only usr/bin/docker is taken from the package, so no dockerd is installed
# or started.
docker_cli=/opt/strata/docker-cli/docker
if [ ! -x "$docker_cli" ]; then
  echo "setup: extracting the docker CLI from Debian's docker.io package"
  cache=/var/cache/strata/docker-io
  mkdir -p "$cache" "$(dirname "$docker_cli")"
  download() { (cd "$cache" && rm -f docker.io_*.deb && apt-get download -qq -o APT::Sandbox::User=root docker.io); }
  download || { apt-get update -qq && download; }
  extract=$(mktemp -d)
  dpkg-deb -x "$cache"/docker.io_*.deb "$extract"
  install -m 0755 "$extract/usr/bin/docker" "$docker_cli"
  rm -rf "$extract"
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm dependencies"
  npm ci --no-audit --no-fund --loglevel=error
fi
# The generated API (libs/api/src/gen) comes from proto/ on every install;
# regenerate in case proto/ changed since.
node tools/scripts/gen-proto.mjs

# The `strata` command runs from a bundle (apps/cli/dist, gitignored) when it
# is newer than its sources; rebuilt here after the generated API.
node tools/scripts/build-cli.mjs

# The per-container monitor (strata-monitor, C): make rebuilds it into
# libs/container-runtime/native/build (gitignored) when the source is newer.
make -s -C libs/container-runtime/native
