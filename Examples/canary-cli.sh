#!/bin/sh
# The canary release of Documentation/getting-started.md with the vamp CLI alone: deploy sava 1.0, merge 1.1 at 0%,
# send it 10%, every request with a beta cookie, promote it to 100%, undeploy 1.0, then remove the deployment.
# Needs `vamp` and `sava` on PATH and a running vamp-server (VAMP_HOST, default http://127.0.0.1:8080), and its token
# (VAMP_TOKEN, or run it from the server's folder, where .vamp/admin-token is).
# GATEWAY_PORT is the external gateway's port (default 9050). Every step waits until its change is live.
set -eu
# The token: VAMP_TOKEN, else the admin token vamp-server wrote at its first start in the folder this runs from.
if [ -z "${VAMP_TOKEN:-}" ] && [ -r .vamp/admin-token ]; then VAMP_TOKEN="$(cat .vamp/admin-token)"; export VAMP_TOKEN; fi
cd "$(dirname "$0")"
port="${GATEWAY_PORT:-9050}"

# Waits (up to 10 s) until the gateway answers $1 (curl options in $2).
answers() {
    for _ in $(seq 100); do
        [ "$(curl -s ${2:-} "http://127.0.0.1:$port/")" = "$1" ] && return 0
        sleep 0.1
    done
    echo "the gateway does not answer '$1'" >&2
    exit 1
}

# 1. The breeds and the blueprint, with the gateway on $port; deploy the stored blueprint.
sed "s/9050/$port/" sava.yaml > "${TMPDIR:-/tmp}/sava-$$.yaml"
vamp create -f "${TMPDIR:-/tmp}/sava-$$.yaml"
rm -f "${TMPDIR:-/tmp}/sava-$$.yaml"
vamp deploy sava sava --wait
vamp list deployments
answers "sava 1.0"

# 2. The canary next to it, at 0%.
vamp merge --stdin sava --wait <<'YAML'
name: sava
clusters:
  web:
    services:
      - breed: sava:1.1
        scale: {cpu: 0.1, memory: 64MB, instances: 1}
YAML

# 3. 10% to 1.1.
vamp update-gateway sava/web/web --weights sava:1.0@90%,sava:1.1@10% --wait

# 4. Every beta tester on 1.1.
vamp update-gateway sava/web/web --route sava:1.1 --condition "has cookie beta" --strength 100% --wait
answers "sava 1.1" "-b beta=yes"

# 5. Promote: all traffic to 1.1, no condition; then undeploy 1.0.
vamp update-gateway sava/web/web --route sava:1.1 --condition null --wait
vamp update-gateway sava/web/web --weights sava:1.0@0%,sava:1.1@100% --wait
vamp undeploy sava --service sava:1.0 --wait
answers "sava 1.1"
vamp list gateways

# 6. Remove the deployment.
vamp undeploy sava --wait
