#!/usr/bin/env bash
# The main job (README: `npm start`): set the machine up, start the local
# stack in the background, and drive it the way a user would.
# Today the stack is NATS + the layer-store: store a blob, list it, read it
# back and check its digest. Later services add pull, run -p and commit here.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash tools/scripts/setup.sh

strata() { npx --no-install strata "$@"; }

strata up -d
echo
echo "== store a blob (busybox's binary) in the layer-store"
blob=$(command -v busybox || echo /bin/sh)
digest=$(strata content put "$blob" --label example=quickstart --label strata.gc.root=quickstart)
echo "stored $blob as $digest"
echo
echo "== list blobs labelled example=quickstart"
strata content ls --filter labels.example==quickstart
echo
echo "== read it back and compare"
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
strata content get "$digest" -o "$tmp"
cmp "$tmp" "$blob" && echo "read back $(stat -c %s "$tmp") bytes: identical"
echo
echo "The stack keeps running; stop it with: npx strata down"
