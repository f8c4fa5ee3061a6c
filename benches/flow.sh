#!/usr/bin/env bash
# Full authorization-code flow under load: starts a release build over plain HTTP on loopback
# with a fresh database and the demo client and user, then runs benches/flow.rs against it
# (authorize → login → consent → token → userinfo per flow, each flow a new browser).
#
#   benches/flow.sh                        # 4 concurrent flows, 20 s after a 3 s warm-up
#   CONCURRENCY=8 DURATION=30 benches/flow.sh
#   HTTPS=1 benches/flow.sh                # the same over TLS
#   BIN=/tmp/consentry-before benches/flow.sh   # another build of the server, not rebuilt (A/B)
#   PROFILE=quick-release benches/flow.sh  # build and load with the quick-release profile
#   PERF=/tmp/flow.data benches/flow.sh    # also `perf record -g` the server over the run
#   ID_TOKEN_ALG=ES256 benches/flow.sh     # a client registered for ES256 ID tokens (the demo
#                                          # client gets the OpenID default, RS256)
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${PORT:-18081}"
PROFILE="${PROFILE:-release}"
[ -n "${BIN:-}" ] || cargo build --profile "$PROFILE" --quiet
BIN="${BIN:-target/$PROFILE/consentry}"
cargo bench --profile "$PROFILE" --no-run --quiet --bench flow 2>/dev/null
DATA=$(mktemp -d)
RECORDER=""
trap 'kill "$SERVER" ${RECORDER:+"$RECORDER"} 2>/dev/null || true; rm -rf "$DATA"' EXIT
CLIENT=()
if [ -n "${ID_TOKEN_ALG:-}" ]; then
  SECRET=flow-client-secret-0123456789abcdefghij
  "$BIN" clients add --data-dir "$DATA" --metadata '{
    "client_id": "flow", "client_secret": "'"$SECRET"'", "redirect_uris": ["https://localhost:3000/callback"],
    "grant_types": ["authorization_code"], "response_types": ["code"],
    "token_endpoint_auth_method": "client_secret_basic", "scope": "openid profile email",
    "id_token_signed_response_alg": "'"$ID_TOKEN_ALG"'"}' > /dev/null
  CLIENT=(--client-id flow --client-secret "$SECRET" --redirect-uri https://localhost:3000/callback)
fi
if [ -n "${HTTPS:-}" ]; then SCHEME=https; PLAIN=(); else SCHEME=http; PLAIN=(--http); fi
CONSENTRY_DEMO=true CONSENTRY_LOG=warn "$BIN" serve "${PLAIN[@]}" --data-dir "$DATA" \
  --listen "127.0.0.1:$PORT" --issuer "$SCHEME://127.0.0.1:$PORT/oidc" > "$DATA/server.log" 2>&1 &
SERVER=$!
CA=()
[ "$SCHEME" = https ] && CA=(--ca "$DATA/keys/ca.pem")
for _ in $(seq 100); do
  curl -sf -o /dev/null ${CA:+--cacert "$DATA/keys/ca.pem"} "$SCHEME://127.0.0.1:$PORT/healthz" && break
  sleep 0.1
done
if [ -n "${PERF:-}" ]; then
  perf record -q -F 999 -g -p "$SERVER" -o "$PERF" > /dev/null 2>&1 &
  RECORDER=$!
fi
cargo bench --profile "$PROFILE" --quiet --bench flow -- --base "$SCHEME://127.0.0.1:$PORT/oidc" --server-pid "$SERVER" \
  --concurrency "${CONCURRENCY:-4}" --duration "${DURATION:-20}" --warmup "${WARMUP:-3}" "${CA[@]}" "${CLIENT[@]}"
if [ -n "$RECORDER" ]; then kill -INT "$RECORDER"; wait "$RECORDER" || true; RECORDER=""; fi
