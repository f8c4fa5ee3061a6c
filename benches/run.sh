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
#   DATABASE_URL=postgres://... benches/run.sh   # the PostgreSQL backend (a fresh schema, dropped after)
#   DATABASE_URL=postgres://... NODES=3 benches/run.sh   # 2 or 3 nodes behind a local nginx
#                                                        # round robin on PORT; the kit hits nginx
set -euo pipefail
cd "$(dirname "$0")/.."
KIT_SRC="${KIT:-../shared/bench/peer}"
[ -x "$KIT_SRC/bench.sh" ] || { echo "benchmark kit not found at $KIT_SRC (set KIT=...)" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk not installed (apt-get install -y wrk)" >&2; exit 1; }
NODES="${NODES:-1}"
case "$NODES" in 1 | 2 | 3) ;; *) echo "NODES must be 1, 2 or 3" >&2; exit 1 ;; esac
if [ -n "${DATABASE_URL:-}" ]; then
  case "$DATABASE_URL" in postgres://* | postgresql://*) ;; *) echo "DATABASE_URL must be postgres://..." >&2; exit 1 ;; esac
  if [ -n "${SEED:-}" ]; then
    echo "SEED fills the SQLite file with the sqlite3 command; it does not apply to DATABASE_URL (PostgreSQL). Unset one of them." >&2
    exit 1
  fi
elif [ "$NODES" != 1 ]; then
  echo "NODES=$NODES needs DATABASE_URL=postgres://... (nodes share one PostgreSQL database)" >&2
  exit 1
fi

PORT="${PORT:-18080}"
# Access-token lifetime the server runs with (its default); growth seeding matches it.
LIFETIME=600
source benches/common.sh
SERVER=""
CLUSTER_DIR=""
cleanup() {
  if [ -n "$CLUSTER_DIR" ]; then cluster_stop; rm -rf "$CLUSTER_DIR"; fi
  if [ -n "$SERVER" ]; then kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null || true; fi
  bench_database_drop
  rm -rf "$DATA" "$KIT"
}
trap cleanup EXIT
if [ -n "${DATABASE_URL:-}" ]; then
  bench_database_setup
  echo "PostgreSQL backend: schema $SCHEMA (dropped after the run), $NODES node(s)"
fi
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
# CPU split over the kit's whole run (warm-ups included): every node, nginx and PostgreSQL (its
# postmaster and backends, found through this run's own connection), to see what saturates.
proc_stat() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null; }
# A process's CPU ticks with its reaped children's, plus those of its live children.
tree_ticks() {
  local pid=$1 total f
  [ -n "$pid" ] && [ -r "/proc/$pid/stat" ] || { echo 0; return; }
  total=$(proc_stat "$pid" | awk '{print $12 + $13 + $14 + $15}')
  for f in /proc/[0-9]*/stat; do
    total=$((total + $(sed 's/.*) //' "$f" 2>/dev/null | awk -v p="$pid" '$2 == p {t = $12 + $13} END {print t + 0}')))
  done
  echo "$total"
}
node_pids() {
  if [ -n "$CLUSTER_DIR" ]; then cat "$CLUSTER_DIR"/pids/node*.pid; else echo "$SERVER"; fi
}
POSTMASTER=""
all_cpu_ticks() {
  local nodes=0 pid
  for pid in $(node_pids); do nodes=$((nodes + $(proc_stat "$pid" | awk '{print $12 + $13}'))); done
  local nginx=0
  [ -n "$CLUSTER_DIR" ] && nginx=$(tree_ticks "$(cat "$CLUSTER_DIR/pids/nginx.pid")")
  echo "$nodes $nginx $(tree_ticks "$POSTMASTER")"
}
print_cpu_split() {
  local hz wall b a
  hz=$(getconf CLK_TCK)
  wall=$(awk -v a="$(date +%s.%N)" -v b="$2" 'BEGIN {print a - b}')
  read -r -a b <<<"$1"
  read -r -a a <<<"$(all_cpu_ticks)"
  awk -v hz="$hz" -v w="$wall" -v n="$NODES" -v pg="$POSTMASTER" -v lb="$CLUSTER_DIR" \
    -v n0="${b[0]}" -v n1="${a[0]}" -v x0="${b[1]}" -v x1="${a[1]}" -v p0="${b[2]}" -v p1="${a[2]}" 'BEGIN {
    printf "CPU over the whole kit run (%.0f s wall, warm-ups included), in cores: %d node(s) %.2f", w, n, (n1 - n0) / hz / w
    if (lb != "") printf ", nginx %.2f", (x1 - x0) / hz / w
    if (pg != "") printf ", PostgreSQL %.2f", (p1 - p0) / hz / w
    printf "\n" }'
}

if [ -n "${HTTPS:-}" ]; then SCHEME=https; PLAIN=(); else SCHEME=http; PLAIN=(--http); fi
export CONSENTRY_DEMO=false CONSENTRY_LOG=warn CONSENTRY_LIFETIMES__ACCESS_TOKEN_SECS="$LIFETIME"
if [ "$NODES" = 1 ]; then
  "$BIN" serve "${PLAIN[@]}" --data-dir "$DATA" --config "$DATA/bench.toml" \
    --listen "127.0.0.1:$PORT" --issuer "$SCHEME://127.0.0.1:$PORT/oidc" > "$DATA/server.log" 2>&1 &
  SERVER=$!
  # The kit reads discovery with curl: trust the dev CA the server generates (HTTPS runs).
  [ "$SCHEME" = https ] && export CURL_CA_BUNDLE="$DATA/keys/ca.pem"
else
  # NODES nodes on the next ports, the first in $DATA, behind nginx on PORT (cluster/lib.sh):
  # the same scheme from wrk to nginx and from nginx to the nodes.
  source cluster/lib.sh
  CLUSTER_DIR=$(mktemp -d)
  cluster_prepare_dir
  NODE_SCHEME=$SCHEME FRONT_SCHEME=$SCHEME FRONT_PORT=$PORT
  ISSUER="$SCHEME://127.0.0.1:$PORT/oidc"
  NODE_PORTS=() NODE_DIRS=("$DATA")
  for ((i = 1; i <= NODES; i++)); do NODE_PORTS+=($((PORT + i))); done
  for ((i = 2; i <= NODES; i++)); do NODE_DIRS+=("$CLUSTER_DIR/node$i"); done
  NODE_ARGS=(--config "$DATA/bench.toml")
  cluster_check_ports "$PORT" "${NODE_PORTS[@]}"
  cluster_nodes_start "$CONSENTRY_DATABASE_URL"
  LB_ACCESS_LOG=off cluster_lb_start
  SERVER=$(cat "$CLUSTER_DIR/pids/node1.pid")
  [ "$SCHEME" = https ] && export CURL_CA_BUNDLE="$CLUSTER_DIR/lb/front.pem"
  echo "$NODES nodes on ports ${NODE_PORTS[*]} behind nginx on $SCHEME://127.0.0.1:$PORT (the kit's server CPU and RSS columns are node 1's)"
fi
wait_healthy "$SCHEME://127.0.0.1:$PORT"
if [ -n "${CONSENTRY_DATABASE_URL:-}" ]; then
  # The postmaster: the listener of the URL's port, when the server runs on this machine.
  PG_PORT=$(sed -E 's#^[a-z]+://([^@/]*@)?[^:/?]*:?([0-9]*).*#\2#' <<<"$DATABASE_URL")
  POSTMASTER=$(ss -Hltnp "sport = :${PG_PORT:-5432}" 2>/dev/null | grep -o 'pid=[0-9]*' | head -n 1 | cut -d= -f2 || true)
fi
CPU_BEFORE=$(all_cpu_ticks)
WALL_BEFORE=$(date +%s.%N)

(cd "$KIT" && SERVER_PID=$SERVER AUTH=$BENCH_AUTH \
  BASE="$SCHEME://127.0.0.1:$PORT/oidc" ./bench.sh)
echo
echo "server peak RSS over all runs (VmHWM): $(peak_rss_mib) MiB"
echo "database rows after the run: $(bench_access_token_rows) access tokens"
print_cpu_split "$CPU_BEFORE" "$WALL_BEFORE"
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
