#!/usr/bin/env bash
# Benchmarks Consentry with the shared side-by-side kit (../shared/bench/peer/bench.sh: the same
# wrk load it applies to node-oidc-provider). Builds release, starts Consentry over plain HTTP on
# loopback with a fresh database and the kit's `bench` client, runs the load, prints the table.
#
#   benches/run.sh                       # token, token_jwt, discovery, jwks, introspect
#   ONLY="token discovery" benches/run.sh
#   DURATION=15s THREADS=2 CONNS=32 benches/run.sh   (the kit's defaults)
#   HTTPS=1 benches/run.sh               # the same over TLS (the generated dev CA is trusted)
#   SEED=1000000 benches/run.sh          # growth: start with 1 M stored grants and access tokens
set -euo pipefail
cd "$(dirname "$0")/.."
KIT_SRC="${KIT:-../shared/bench/peer}"
[ -x "$KIT_SRC/bench.sh" ] || { echo "benchmark kit not found at $KIT_SRC (set KIT=...)" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk not installed (apt-get install -y wrk)" >&2; exit 1; }

PORT="${PORT:-18080}"
# Access-token lifetime the server runs with (its default); growth seeding matches it.
LIFETIME=600
source benches/common.sh
trap 'kill "$SERVER" 2>/dev/null || true; rm -rf "$DATA" "$KIT"' EXIT
add_bench_client
# Growth runs: SEED grants, each with a live access token, for the bench client (sqlite3 CLI).
# They look like tokens of the server's lifetime issued a minute ago: ids start with the issue
# time and expiry comes before that of any token the run issues, so new rows land after them in
# both the token B-tree and the expiry index, as they do on a server whose stored tokens all came
# from its own endpoint. (They stay live for LIFETIME - 60 s, longer than a run.)
if [ -n "${SEED:-}" ]; then
  command -v sqlite3 >/dev/null || { echo "SEED needs the sqlite3 command (apt-get install -y sqlite3)" >&2; exit 1; }
  started=$(date +%s)
  sqlite3 "$DATA/consentry.sqlite" <<SQL
PRAGMA journal_mode=WAL;
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $SEED)
INSERT INTO grants (id, client_id, scopes, created_at, expires_at)
  SELECT 'seed-grant-' || i, 'bench', 'accounts:read', unixepoch(), unixepoch() + 86400 FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $SEED)
INSERT INTO access_tokens (jti, grant_id, client_id, scopes, expires_at, token_hash)
  SELECT printf('%011x%08x', unixepoch() - 60, i) || lower(hex(randomblob(16))), 'seed-grant-' || i,
         'bench', 'accounts:read', unixepoch() - 60 + $LIFETIME, lower(hex(randomblob(32))) FROM n;
COMMIT;
SQL
  echo "seeded $SEED grants and access tokens in $(( $(date +%s) - started )) s; database $(du -h "$DATA/consentry.sqlite" | cut -f1)"
fi

# The kit's token_jwt case asks for resource=https://api.bench.local/ and expects an RS256 JWT,
# as the peer signs it: the same work on both sides.
cat > "$DATA/bench.toml" <<'TOML'
[resource_servers."https://api.bench.local/"]
access_token_signing_alg = "RS256"
TOML
if [ -n "${HTTPS:-}" ]; then SCHEME=https; PLAIN=(); else SCHEME=http; PLAIN=(--http); fi
CONSENTRY_DEMO=false CONSENTRY_LOG=warn CONSENTRY_LIFETIMES__ACCESS_TOKEN_SECS="$LIFETIME" "$BIN" serve "${PLAIN[@]}" --data-dir "$DATA" --config "$DATA/bench.toml" \
  --listen "127.0.0.1:$PORT" --issuer "$SCHEME://127.0.0.1:$PORT/oidc" > "$DATA/server.log" 2>&1 &
SERVER=$!
# The kit reads discovery with curl: trust the dev CA the server generates (HTTPS runs).
[ "$SCHEME" = https ] && export CURL_CA_BUNDLE="$DATA/keys/ca.pem"
wait_healthy "$SCHEME://127.0.0.1:$PORT"

(cd "$KIT" && SERVER_PID=$SERVER AUTH=$BENCH_AUTH \
  BASE="$SCHEME://127.0.0.1:$PORT/oidc" ./bench.sh)
echo
echo "server peak RSS over all runs (VmHWM): $(peak_rss_mib) MiB"
echo "database rows after the run: $(sqlite3 "$DATA/consentry.sqlite" 'select count(*) from access_tokens' 2>/dev/null || echo '?') access tokens"
cat "$KIT"/results/*/summary.md

# RS256 tokens against what RSA-2048 signing allows here: OpenSSL's own signing rate on every
# core, right after the run, scaled to the cores wrk left the server.
JSONL=$(ls "$KIT"/results/*/summary.jsonl 2>/dev/null | head -1)
if [ -n "$JSONL" ] && grep -q '"endpoint": "token_jwt"' "$JSONL" && command -v openssl >/dev/null; then
  CORES=$(nproc)
  SIGNS=$(openssl speed -seconds 5 -multi "$CORES" rsa2048 2>/dev/null | awk '/^rsa 2048/ {print $(NF-1)}')
  python3 - "$JSONL" "$SIGNS" "$CORES" <<'PY'
import json, sys
path, signs, cores = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
row = next(json.loads(l) for l in open(path) if '"token_jwt"' in l)
left = cores - row["wrk_cpu_pct"] / 100
allowed = signs / cores * left
print(f"\nRSA-2048: openssl speed signs {signs:.0f}/s on {cores} cores; wrk left {left:.2f} cores "
      f"-> {allowed:.0f} signs/s allowed; token_jwt {row['rps']:.0f} req/s = {row['rps'] / allowed * 100:.0f} %")
PY
fi
