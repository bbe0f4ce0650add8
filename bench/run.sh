#!/usr/bin/env bash
# Runs Strata's benchmarks against the reference tools and prints ratios.
# Usage: npm run bench [-- NAME [ARGS…]]
#   NAME: content | mirror-pull | mirror-blobs | mirror (both mirror ones)
#       | snapshotter-unpack | snapshotter-mount | snapshotter-pull | snapshotter (the three)
#       | run | memory | containers (both) | commit | fleet-placement | events | all (default)
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/scripts/setup.sh >/dev/null

# containerd (Debian's package) is the reference of snapshotter-pull and run; only those benches need it.
need_containerd() {
  if ! command -v containerd >/dev/null || ! command -v ctr >/dev/null; then
    echo "bench: installing Debian's containerd (not started as a service; the bench runs its own instance)"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends containerd >/dev/null
  fi
}

# The mirror benchmarks build their Debian image with debootstrap (only the bench needs it).
need_debootstrap() {
  if ! command -v debootstrap >/dev/null; then
    echo "bench: installing Debian's debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
  fi
}

# The run benchmark profiles the node-agent with strace (only that bench needs it).
need_strace() {
  if ! command -v strace >/dev/null; then
    echo "bench: installing Debian's strace"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends strace >/dev/null
  fi
}

which=${1:-all}
[ $# -gt 0 ] && shift
case "$which" in
  content) npx tsx bench/content-throughput.ts "$@" ;;
  mirror-pull) need_debootstrap; npx tsx bench/mirror-cold-pull.ts "$@" ;;
  mirror-blobs) need_debootstrap; npx tsx bench/mirror-blobs.ts "$@" ;;
  mirror) need_debootstrap; npx tsx bench/mirror-cold-pull.ts; npx tsx bench/mirror-blobs.ts ;;
  snapshotter-unpack) need_debootstrap; npx tsx bench/snapshotter-unpack.ts "$@" ;;
  snapshotter-mount) npx tsx bench/snapshotter-mount.ts "$@" ;;
  snapshotter-pull) need_debootstrap; need_containerd; npx tsx bench/snapshotter-pull.ts "$@" ;;
  run) need_containerd; need_strace; npx tsx bench/run-latency.ts "$@" ;;
  memory) npx tsx bench/idle-memory.ts "$@" ;;
  containers) need_containerd; need_strace; npx tsx bench/run-latency.ts; npx tsx bench/idle-memory.ts ;;
  commit) npx tsx bench/commit.ts "$@" ;;
  fleet-placement) npx tsx bench/fleet-placement.ts "$@" ;;
  events) npx tsx bench/events-latency.ts "$@" ;;
  snapshotter)
    need_debootstrap
    need_containerd
    npx tsx bench/snapshotter-unpack.ts
    npx tsx bench/snapshotter-mount.ts
    npx tsx bench/snapshotter-pull.ts
    ;;
  all)
    npx tsx bench/content-throughput.ts
    need_debootstrap
    npx tsx bench/mirror-cold-pull.ts
    npx tsx bench/mirror-blobs.ts
    need_containerd
    npx tsx bench/snapshotter-unpack.ts
    npx tsx bench/snapshotter-mount.ts
    npx tsx bench/snapshotter-pull.ts
    need_strace
    npx tsx bench/run-latency.ts
    npx tsx bench/idle-memory.ts
    npx tsx bench/commit.ts
    npx tsx bench/fleet-placement.ts
    npx tsx bench/events-latency.ts
    ;;
  *)
    echo "bench: unknown benchmark $which (known: content, mirror-pull, mirror-blobs, mirror, snapshotter-unpack, snapshotter-mount, snapshotter-pull, snapshotter, run, memory, containers, commit, fleet-placement, events, all)" >&2
    exit 2
    ;;
esac
