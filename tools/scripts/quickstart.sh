#!/usr/bin/env bash
# The main job (README: `npm start`): set the machine up, start the local
# stack in the background, and drive it the way a user would.
# Today the stack is NATS, the layer-store and the registry-mirror: build a
# busybox image, push it into the mirror with skopeo (a client nobody here
# wrote), pull it back, pull it with `strata pull`, inspect it, and look at
# its blobs in the layer-store.
# Later services add pull, run -p and commit here.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash tools/scripts/setup.sh

strata() { npx --no-install strata "$@"; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

strata up -d
mirror=127.0.0.1:${STRATA_MIRROR_PORT:-5050}

echo
echo "== build a busybox image (from Debian's busybox-static) as an OCI layout"
digest=$(npx --no-install tsx tools/scripts/build-busybox-layout.ts "$work/layout" 1.35)
echo "built $digest in $work/layout"

echo
echo "== push it into the mirror's local repository with skopeo"
skopeo copy --quiet --dest-tls-verify=false "oci:$work/layout:1.35" "docker://$mirror/local/busybox:1.35"
skopeo inspect --tls-verify=false "docker://$mirror/local/busybox:1.35" | head -20

echo
echo "== pull it back out and compare the blobs"
skopeo copy --quiet --src-tls-verify=false "docker://$mirror/local/busybox:1.35" "oci:$work/back:1.35"
for blob in "$work"/layout/blobs/sha256/*; do
  cmp -s "$blob" "$work/back/blobs/sha256/$(basename "$blob")" || { echo "blob $(basename "$blob") differs" >&2; exit 1; }
done
echo "every blob is byte-identical"

echo
echo "== pull it through Strata's Images API, then look at it as docker would"
strata pull "$mirror/local/busybox:1.35"
strata images
strata image inspect "$mirror/local/busybox:1.35" | head -40
strata history "$mirror/local/busybox:1.35"

echo
echo "== the blobs live once in the layer-store"
strata content ls

echo
echo "The stack keeps running; stop it with: npx strata down"
