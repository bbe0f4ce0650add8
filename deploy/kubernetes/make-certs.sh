#!/usr/bin/env bash
# Writes the certificates of the layer-store's mutual TLS into DIR
# (default: tls/ beside this script), for kustomization.yaml's Secret
# strata-layer-store-tls: a small CA (ca.crt, ca.key), the layer-store's
# server certificate for its Service names (layer-store.crt, .key) and one
# client certificate (client.crt, .key; CN from STRATA_CLIENT_NAME, default
# strata-client) for a program that calls the layer-store over TCP.
# An existing CA is kept, so more client certificates can be issued later.
# Needs openssl. ECDSA P-256 keys, mode 0600.
set -euo pipefail
dir=${1:-"$(dirname "$0")/tls"}
namespace=${STRATA_NAMESPACE:-strata}
client=${STRATA_CLIENT_NAME:-strata-client}
mkdir -p "$dir"
umask 077
cd "$dir"

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

if [ ! -f ca.key ] || [ ! -f ca.crt ]; then
  key ca.key
  openssl req -x509 -new -key ca.key -sha256 -days 3650 -subj "/CN=strata-fleet-ca" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" -out ca.crt
fi

# issue NAME USAGE SAN: NAME.key and NAME.crt signed by the CA.
issue() {
  local name=$1 usage=$2 san=$3 cn=$4
  key "$name.key"
  openssl req -new -key "$name.key" -subj "/CN=$cn" -out "$name.csr"
  printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=%s\nsubjectAltName=%s\n' "$usage" "$san" > "$name.ext"
  openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -sha256 -days 365 -extfile "$name.ext" -out "$name.crt" 2>/dev/null
  rm -f "$name.csr" "$name.ext"
}

service=strata-layer-store
issue layer-store serverAuth \
  "DNS:$service,DNS:$service.$namespace,DNS:$service.$namespace.svc,DNS:$service.$namespace.svc.cluster.local,DNS:localhost,IP:127.0.0.1" \
  "$service"
issue client clientAuth "DNS:$client" "$client"
rm -f ca.srl
chmod 0644 ca.crt layer-store.crt client.crt
echo "make-certs: wrote ca, layer-store and client ($client) certificates to $dir"
