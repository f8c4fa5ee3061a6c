#!/usr/bin/env bash
# A real local cluster: a throw-away PostgreSQL (Debian's package, initdb in a folder, run as an
# unprivileged user: tests/pg/server.sh), three Consentry nodes over it, each serving TLS with
# its development certificate, and nginx in front (round robin, TLS to the clients and TLS to
# each node, verified against the nodes' CAs). Then walks a whole authorization-code flow
# through the balancer with curl, printing which node served each step.
#
#   cluster/run.sh              start, walk the flow, stop everything (exit status: the walk's)
#   KEEP=1 cluster/run.sh       start, walk, leave it running and print the URLs
#   cluster/run.sh stop         stop what KEEP=1 left running (nodes, nginx, PostgreSQL)
#
# Env: BIN (a built binary; default: cargo build --release), PORT (the balancer, 9443),
# NODE_PORTS ("9444 9445 9446"), CLUSTER_DIR (/tmp/consentry-cluster: logs, data, certificates).
set -euo pipefail
cd "$(dirname "$0")/.."
source cluster/lib.sh

CLUSTER_DIR=${CLUSTER_DIR:-/tmp/consentry-cluster}
FRONT_SCHEME=https
FRONT_PORT=${PORT:-9443}
read -r -a NODE_PORTS <<<"${NODE_PORTS:-9444 9445 9446}"
NODE_SCHEME=https
NODE_ARGS=()
NODE_DIRS=()
ISSUER="https://127.0.0.1:$FRONT_PORT/oidc"
KEEP=${KEEP:-}

if [ "${1:-}" = stop ]; then
  [ -d "$CLUSTER_DIR" ] || { echo "cluster: nothing at $CLUSTER_DIR"; exit 0; }
  cluster_stop
  rm -rf "$CLUSTER_DIR"
  echo "cluster: stopped, $CLUSTER_DIR removed"
  exit 0
fi
[ $# = 0 ] || cluster_die "usage: $0 [stop]"

if [ -d "$CLUSTER_DIR/pids" ] && [ -n "$(cluster_live_pids)" ]; then
  cluster_die "a cluster is already running from $CLUSTER_DIR (cluster/run.sh stop)"
fi
cluster_check_ports "$FRONT_PORT" "${NODE_PORTS[@]}"
command -v curl >/dev/null || cluster_die "curl is needed"
command -v openssl >/dev/null || cluster_die "openssl is needed"

if [ -z "${BIN:-}" ]; then
  echo "== building the release binary"
  cargo build --release --quiet
  BIN=target/release/consentry
fi
BIN=$(realpath "$BIN")

STARTED=""
cleanup() {
  local rc=$?
  if [ -n "$STARTED" ] && { [ "$rc" != 0 ] || [ -z "$KEEP" ]; }; then
    if [ "$rc" != 0 ] && [ -n "$KEEP" ]; then
      echo "cluster: failed; left running for a look (logs under $CLUSTER_DIR; cluster/run.sh stop)" >&2
      return
    fi
    echo "== stopping the nodes, nginx and PostgreSQL"
    cluster_stop
    rm -rf "$CLUSTER_DIR"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rm -rf "$CLUSTER_DIR"
cluster_prepare_dir
STARTED=1

echo "== PostgreSQL (tests/pg/server.sh) in $CLUSTER_DIR/pg"
cluster_pg_start
echo "   listening on 127.0.0.1:$PGPORT, role $PGUSER (no superuser), database $PGDATABASE"

echo "== ${#NODE_PORTS[@]} nodes over it, issuer $ISSUER"
cluster_nodes_start "$PG_TEST_DATABASE_URL"
for i in "${!NODE_PORTS[@]}"; do
  echo "   node $((i + 1)): $(cluster_node_url "$i") pid $(cat "$CLUSTER_DIR/pids/node$((i + 1)).pid"), data $(cluster_node_dir "$i")"
done
echo "   secret files copied from node 1 to the others: $(cluster_shared_present)"

echo "== nginx round robin on https://127.0.0.1:$FRONT_PORT (TLS to each node, verified against their CAs)"
cluster_lb_start
FRONT_CA=$CLUSTER_DIR/lb/front.pem
BASE="https://127.0.0.1:$FRONT_PORT"

# ---- the walk -------------------------------------------------------------------------------
CLIENT=demo-client:demo-client-secret-0123456789abcdefghij
REDIRECT=https://localhost:3000/callback
VERIFIER=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk
CHALLENGE=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM
WALK=$CLUSTER_DIR/walk
mkdir -p "$WALK"
JAR=$WALK/cookies
NODES_SEEN=()
STEP=0

# step NAME EXPECTED_STATUS curl-arguments...: one request through the balancer; sets BODY,
# STATUS and LOCATION, prints the node that served it; fails on another status.
step() {
  local name=$1 want=$2 node
  shift 2
  STEP=$((STEP + 1))
  STATUS=$(curl -sS --cacert "$FRONT_CA" -b "$JAR" -c "$JAR" -D "$WALK/$STEP.headers" \
    -o "$WALK/$STEP.body" -w '%{http_code}' "$@") || cluster_die "step $STEP ($name): curl failed"
  BODY=$(cat "$WALK/$STEP.body")
  node=$(tr -d '\r' <"$WALK/$STEP.headers" | sed -n 's/^[Xx]-[Nn]ode: //p' | tail -n 1)
  LOCATION=$(tr -d '\r' <"$WALK/$STEP.headers" | sed -n 's/^[Ll]ocation: //p' | tail -n 1)
  printf '  %2d. %-38s HTTP %s  served by %s\n' "$STEP" "$name" "$STATUS" "${node:-?}"
  NODES_SEEN+=("${node:-?}")
  if [ "$STATUS" != "$want" ]; then
    echo "      expected HTTP $want; body: ${BODY:0:400}" >&2
    exit 1
  fi
}

json() { python3 -c 'import json,sys; v=json.load(sys.stdin); [v:=v[k] for k in sys.argv[1:]]; print(v)' "$@" <<<"$BODY"; }
hidden() { sed -n 's/.*name="'"$1"'" value="\([^"]*\)".*/\1/p' <<<"$BODY" | head -n 1; }
param() { sed -n 's/.*[?&]'"$1"'=\([^&#]*\).*/\1/p' <<<"$2"; }

echo "== a whole flow through the balancer ($BASE)"
step "discovery" 200 "$BASE/oidc/.well-known/openid-configuration"
[ "$(json issuer)" = "$ISSUER" ] || cluster_die "discovery names issuer $(json issuer), not $ISSUER"
AUTH=$(json authorization_endpoint)
TOKEN=$(json token_endpoint)
USERINFO=$(json userinfo_endpoint)
INTROSPECT=$(json introspection_endpoint)
REVOKE=$(json revocation_endpoint)

step "authorization request" 303 -G "$AUTH" --data-urlencode client_id=demo-client \
  --data-urlencode response_type=code --data-urlencode "scope=openid profile email offline_access" \
  --data-urlencode redirect_uri=$REDIRECT --data-urlencode state=cluster-state \
  --data-urlencode nonce=cluster-nonce --data-urlencode prompt=consent \
  --data-urlencode code_challenge=$CHALLENGE --data-urlencode code_challenge_method=S256
INTERACTION=$LOCATION
[[ "$INTERACTION" == /interaction/* ]] || cluster_die "the authorization request sent the browser to ${INTERACTION:-nowhere}"

step "login page" 200 "$BASE$INTERACTION"
CSRF=$(hidden csrf_token)
[ -n "$CSRF" ] || cluster_die "no csrf_token on the login page"
step "login (demo / demo-password)" 303 "$BASE$INTERACTION/login" --data-urlencode "csrf_token=$CSRF" \
  --data-urlencode username=demo --data-urlencode password=demo-password
[ "$LOCATION" = "$INTERACTION" ] || cluster_die "login sent the browser to $LOCATION"

step "consent page" 200 "$BASE$INTERACTION"
CSRF=$(hidden csrf_token)
[ -n "$CSRF" ] || cluster_die "no csrf_token on the consent page"
step "consent (approve)" 303 "$BASE$INTERACTION/consent" --data-urlencode "csrf_token=$CSRF" \
  --data-urlencode decision=approve
# Any further hop on the provider (none today) is followed; the last one reaches the client.
while [[ "$LOCATION" == /* || "$LOCATION" == "$BASE"/* ]]; do
  [[ "$LOCATION" == /* ]] && LOCATION=$BASE$LOCATION
  step "redirect" 303 "$LOCATION"
done
[[ "$LOCATION" == "$REDIRECT"\?* ]] || cluster_die "consent sent the browser to $LOCATION"
CODE=$(param code "$LOCATION")
[ "$(param state "$LOCATION")" = cluster-state ] || cluster_die "state lost: $LOCATION"
[ -n "$CODE" ] || cluster_die "no code in $LOCATION"
echo "      callback: ${LOCATION%%\?*}?code=…&state=cluster-state&iss=…"

step "code exchange (/oidc/token)" 200 -u "$CLIENT" "$TOKEN" -d grant_type=authorization_code \
  --data-urlencode "code=$CODE" --data-urlencode redirect_uri=$REDIRECT -d code_verifier=$VERIFIER
ACCESS=$(json access_token)
REFRESH=$(json refresh_token)
[ -n "$REFRESH" ] || cluster_die "no refresh token"
[ -n "$(json id_token)" ] || cluster_die "no ID token"
echo "      token_type $(json token_type), expires_in $(json expires_in), scope \"$(json scope)\", id_token and refresh_token present"

step "userinfo (/oidc/me)" 200 -H "Authorization: Bearer $ACCESS" "$USERINFO"
echo "      sub $(json sub), name \"$(json name)\", email $(json email)"

step "refresh (/oidc/token)" 200 -u "$CLIENT" "$TOKEN" -d grant_type=refresh_token \
  --data-urlencode "refresh_token=$REFRESH"
NEW_ACCESS=$(json access_token)
NEW_REFRESH=$(json refresh_token)
[ "$NEW_REFRESH" != "$REFRESH" ] || echo "      (the refresh token was not rotated)"

step "introspection of the new token" 200 -u "$CLIENT" "$INTROSPECT" --data-urlencode "token=$NEW_ACCESS"
[ "$(json active)" = True ] || cluster_die "the refreshed access token is not active: $BODY"
echo "      active, client_id $(json client_id), sub $(json sub)"

step "revocation (/oidc/token/revocation)" 200 -u "$CLIENT" "$REVOKE" --data-urlencode "token=$NEW_ACCESS"
step "introspection after revocation" 200 -u "$CLIENT" "$INTROSPECT" --data-urlencode "token=$NEW_ACCESS"
[ "$(json active)" = False ] || cluster_die "the revoked access token is still active: $BODY"
echo "      inactive (revoked on one node, seen at once on the others)"

mapfile -t DISTINCT < <(printf '%s\n' "${NODES_SEEN[@]}" | sort -u)
echo "== $STEP steps served by ${#DISTINCT[@]} nodes: ${DISTINCT[*]}"
[ "${#DISTINCT[@]}" -ge "${#NODE_PORTS[@]}" ] || cluster_die "round robin did not reach every node"
echo "== the flow completed across the cluster"

if [ -n "$KEEP" ]; then
  cat <<EOF
== left running (KEEP=1); stop with: cluster/run.sh stop
   issuer:      $ISSUER
   discovery:   $ISSUER/.well-known/openid-configuration
   CA cert:     $FRONT_CA   (curl --cacert $FRONT_CA ...)
   nodes:       $(for i in "${!NODE_PORTS[@]}"; do printf '%s ' "$(cluster_node_url "$i")"; done)(logs: $CLUSTER_DIR/node*/node.log)
   balancer:    $CLUSTER_DIR/lb/nginx.conf, access log $CLUSTER_DIR/lb/access.log
   PostgreSQL:  source $CLUSTER_DIR/pg/env.sh; psql
   demo client: demo-client / demo-client-secret-0123456789abcdefghij, redirect $REDIRECT
   demo user:   demo / demo-password
EOF
fi
