#!/usr/bin/env bash
# Runs Strata's benchmarks against the reference tools and prints ratios.
# Usage: npm run bench [-- NAME [ARGS…]]   NAME: content (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/scripts/setup.sh >/dev/null
which=${1:-all}
[ $# -gt 0 ] && shift
case "$which" in
  content|all) npx tsx bench/content-throughput.ts "$@" ;;
  *) echo "bench: unknown benchmark $which (known: content)" >&2; exit 2 ;;
esac
