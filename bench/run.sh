#!/usr/bin/env bash
# Runs Strata's benchmarks against the reference tools and prints ratios.
# Usage: npm run bench [-- NAME [ARGS…]]
#   NAME: content | mirror-pull | mirror-blobs | mirror (both mirror ones) | all (default)
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/scripts/setup.sh >/dev/null

# The mirror benchmarks build their Debian image with debootstrap (only the bench needs it).
need_debootstrap() {
  if ! command -v debootstrap >/dev/null; then
    echo "bench: installing Debian's debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
  fi
}

which=${1:-all}
[ $# -gt 0 ] && shift
case "$which" in
  content) npx tsx bench/content-throughput.ts "$@" ;;
  mirror-pull) need_debootstrap; npx tsx bench/mirror-cold-pull.ts "$@" ;;
  mirror-blobs) need_debootstrap; npx tsx bench/mirror-blobs.ts "$@" ;;
  mirror) need_debootstrap; npx tsx bench/mirror-cold-pull.ts; npx tsx bench/mirror-blobs.ts ;;
  all)
    npx tsx bench/content-throughput.ts
    need_debootstrap
    npx tsx bench/mirror-cold-pull.ts
    npx tsx bench/mirror-blobs.ts
    ;;
  *) echo "bench: unknown benchmark $which (known: content, mirror-pull, mirror-blobs, mirror, all)" >&2; exit 2 ;;
esac
