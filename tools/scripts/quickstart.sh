#!/usr/bin/env bash
# The main job (README: `npm start`): set the machine up, start the local
# stack in the background, and drive it the way a user would.
# The stack is NATS, the layer-store, the registry-mirror, the snapshotter
# and the node-agent: build a busybox image, push it into the mirror with
# skopeo (a client nobody here wrote), pull it back, pull it with `strata
# pull` (which also unpacks it on this host), inspect it; then run a web
# server image with a published port and fetch its page from the host;
# delete a page inside it and commit the container as a new image, whose
# container answers 404 for that page; and look at the blobs in the
# layer-store.
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
echo "== build a web server image (busybox httpd and a page) and push it into the mirror"
npx --no-install tsx tools/scripts/build-busybox-layout.ts "$work/web" 1.0 web >/dev/null
skopeo copy --quiet --dest-tls-verify=false "oci:$work/web:1.0" "docker://$mirror/local/web:1.0"

echo
echo "== run it with a published port, and fetch the page from the host"
web_port=${STRATA_WEB_PORT:-8080}
strata rm -f strata-quickstart-web >/dev/null 2>&1 || true
strata run -d --name strata-quickstart-web -p "$web_port:80" "$mirror/local/web:1.0"
strata ps
page=$(node -e 'fetch(process.argv[1]).then(async (r) => { if (!r.ok) throw new Error(`HTTP ${r.status}`); process.stdout.write(await r.text()); })' "http://127.0.0.1:$web_port/")
echo "$page"
grep -q "Hello from a Strata container" <<<"$page" || { echo "the page did not come from the container" >&2; exit 1; }
strata exec strata-quickstart-web cat /etc/hostname
strata logs --tail 3 strata-quickstart-web
echo
echo "== delete a page inside the container and commit the change as a new image"
strata exec strata-quickstart-web rm /var/www/about.html
strata rm -f strata-quickstart-web02 >/dev/null 2>&1 || true
strata commit -m "remove the about page" -a "Strata quickstart" strata-quickstart-web "$mirror/local/web02:1.1"
strata history "$mirror/local/web02:1.1"
web02_port=${STRATA_WEB02_PORT:-8081}
strata run -d --name strata-quickstart-web02 -p "$web02_port:80" "$mirror/local/web02:1.1"
status() { node -e 'fetch(process.argv[1]).then((r) => process.stdout.write(String(r.status)))' "$1"; }
strata rm -f strata-quickstart-web >/dev/null
strata run -d --name strata-quickstart-web -p "$web_port:80" "$mirror/local/web:1.0" >/dev/null
original=$(status "http://127.0.0.1:$web_port/about.html")
committed=$(status "http://127.0.0.1:$web02_port/about.html")
echo "about.html: $original from a new container of the original image, $committed from the committed image's"
[ "$original" = 200 ] && [ "$committed" = 404 ] && [ "$(status "http://127.0.0.1:$web02_port/")" = 200 ] || { echo "the committed image does not carry the change" >&2; exit 1; }
echo
echo "== the docker CLI (Debian's docker.io client) drives the same node-agent through its Docker Engine API socket"
docker_cli() { DOCKER_HOST=unix://${STRATA_RUN_DIR:-/run/strata}/docker.sock DOCKER_CONFIG="$work/docker" /opt/strata/docker-cli/docker "$@"; }
docker_cli version --format 'server {{.Server.Version}}, API {{.Server.APIVersion}}'
docker_cli ps
docker_cli exec strata-quickstart-web02 ls /var/www
strata rm -f strata-quickstart-web strata-quickstart-web02

echo
echo "== the blobs live once in the layer-store"
strata content ls

echo
echo "The stack keeps running; stop it with: npx strata down"
