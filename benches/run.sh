#!/usr/bin/env bash
# Side by side with node-oidc-provider (the kit in ../shared/bench/peer: the same wrk load for
# both), in one sitting: ROUNDS alternating rounds, each measuring both servers unpinned (server
# and wrk sharing every core) and pinned (the server on one core, wrk on another: per core), then
# the medians, the ratio in every round, and each figure against what one core of this machine
# can sign (`openssl speed`, P-256 and RSA-2048). Release build, plain HTTP on loopback, a fresh
# copy of the same database for every Consentry run, a fresh peer process for every peer run.
#
#   benches/run.sh                       # 3 rounds x {unpinned, pinned} x {peer, Consentry}
#   ONLY="token introspect" ROUNDS=1 benches/run.sh
#   PLACEMENTS=pinned benches/run.sh     # or unpinned
#   PEER=0 benches/run.sh                # Consentry only (one run per placement and round)
#   DURATION=15s WARMUP=5s THREADS=2 CONNS=32 benches/run.sh   (defaults: 8 s after 3 s, -t2 -c32)
#   SERVER_CPU=1 WRK_CPU=0 benches/run.sh  # the cores pinned runs use (defaults)
#   HTTPS=1 benches/run.sh               # Consentry over TLS (the peer stays on plain HTTP)
#   SEED=1000000 PEER=0 ROUNDS=1 benches/run.sh  # growth: every run starts with 1 M stored tokens
#   DATABASE_URL=postgres://... benches/run.sh   # the PostgreSQL backend (a fresh schema, dropped
#                                        # after); pinned runs put the local PostgreSQL's
#                                        # processes on the server's core too
#   DATABASE_URL=postgres://... NODES=3 PLACEMENTS=unpinned benches/run.sh  # nodes behind nginx
#   NODE_BIN=/path/to/node benches/run.sh   # the peer's Node (oidc-provider 9 wants Node >= 22)
# Results (each kit run's folder and summary.md) stay in $OUT (printed).
set -euo pipefail
cd "$(dirname "$0")/.."
KIT_SRC="${KIT:-../shared/bench/peer}"
[ -x "$KIT_SRC/bench.sh" ] || { echo "benchmark kit not found at $KIT_SRC (set KIT=...)" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk not installed (apt-get install -y wrk)" >&2; exit 1; }
ROUNDS="${ROUNDS:-3}" PLACEMENTS="${PLACEMENTS:-unpinned pinned}" PEER="${PEER:-1}"
SERVER_CPU="${SERVER_CPU:-1}" WRK_CPU="${WRK_CPU:-0}"
export DURATION="${DURATION:-8s}" WARMUP="${WARMUP:-3s}" THREADS="${THREADS:-2}" CONNS="${CONNS:-32}"
export ONLY="${ONLY:-token token_jwt discovery jwks introspect}"
NODES="${NODES:-1}"
case "$NODES" in 1 | 2 | 3) ;; *) echo "NODES must be 1, 2 or 3" >&2; exit 1 ;; esac
for p in $PLACEMENTS; do
  case "$p" in unpinned) ;; pinned) [ "$NODES" = 1 ] || { echo "pinned runs measure one node (NODES=1)" >&2; exit 1; } ;;
    *) echo "PLACEMENTS: unpinned and/or pinned" >&2; exit 1 ;; esac
done
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

PORT="${PORT:-18080}" PEER_PORT="${PEER_PORT:-3000}"
# Access-token lifetime the server runs with (its default); growth seeding matches it.
LIFETIME=600
source benches/common.sh
OUT="${OUT:-$(mktemp -d)}"
mkdir -p "$OUT"
TEMPLATE=$DATA # the database every Consentry run starts from a copy of
DATA="" SERVER="" PEER_PID="" CLUSTER_DIR=""
cleanup() {
  consentry_stop
  peer_stop
  bench_database_drop
  rm -rf "$TEMPLATE" "$KIT"
}
trap cleanup EXIT
if [ -n "${DATABASE_URL:-}" ]; then
  DATA=$TEMPLATE bench_database_setup
  echo "PostgreSQL backend: schema $SCHEMA (dropped after the run; its tokens add up over the runs), $NODES node(s)"
fi
DATA=$TEMPLATE add_bench_client
# Growth runs: SEED grants, each with a live access token, for the bench client (sqlite3 CLI).
# They look like tokens of the server's lifetime issued a minute ago: ids start with the issue
# time and expiry comes before that of any token the run issues, so new rows land after them in
# both the token B-tree and the expiry index, as they do on a server whose stored tokens all came
# from its own endpoint. (They stay live for LIFETIME - 60 s: each run's copy is reseeded.)
seed() {
  sqlite3 "$1/consentry.sqlite" <<SQL
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
}
if [ -n "${SEED:-}" ]; then
  command -v sqlite3 >/dev/null || { echo "SEED needs the sqlite3 command (apt-get install -y sqlite3)" >&2; exit 1; }
fi

# The kit's token_jwt case asks for resource=https://api.bench.local/ and expects an RS256 JWT,
# as the peer signs it: the same work on both sides.
cat > "$TEMPLATE/bench.toml" <<'TOML'
[resource_servers."https://api.bench.local/"]
access_token_signing_alg = "RS256"
TOML

# CPU split over a kit run (warm-ups included): every node, nginx and PostgreSQL (its postmaster
# and backends, found through this run's own connection), to see what saturates.
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
if [ -n "${DATABASE_URL:-}" ]; then
  # The postmaster: the listener of the URL's port, when the server runs on this machine.
  PG_PORT=$(sed -E 's#^[a-z]+://([^@/]*@)?[^:/?]*:?([0-9]*).*#\2#' <<<"$DATABASE_URL")
  POSTMASTER=$(ss -Hltnp "sport = :${PG_PORT:-5432}" 2>/dev/null | grep -o 'pid=[0-9]*' | head -n 1 | cut -d= -f2 || true)
fi
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
    printf "CPU over the kit run (%.0f s wall, warm-ups included), in cores: %d node(s) %.2f", w, n, (n1 - n0) / hz / w
    if (lb != "") printf ", nginx %.2f", (x1 - x0) / hz / w
    if (pg != "") printf ", PostgreSQL %.2f", (p1 - p0) / hz / w
    printf "\n" }'
}
# Pins the local PostgreSQL (the postmaster and every backend; new backends inherit it) to $1.
pin_postgres() {
  [ -n "$POSTMASTER" ] || return 0
  local pid
  for pid in $POSTMASTER $(pgrep -P "$POSTMASTER" || true); do taskset -a -p -c "$1" "$pid" >/dev/null 2>&1 || true; done
}

if [ -n "${HTTPS:-}" ]; then SCHEME=https; PLAIN=(); else SCHEME=http; PLAIN=(--http); fi
export CONSENTRY_DEMO=false CONSENTRY_LOG=warn CONSENTRY_LIFETIMES__ACCESS_TOKEN_SECS="$LIFETIME"
ALL_CPUS="0-$(($(nproc) - 1))"

# Starts Consentry on a fresh copy of the template database, on the cores $1 (a taskset list).
consentry_start() {
  local cpus=$1
  DATA=$(mktemp -d)
  cp -a "$TEMPLATE/." "$DATA"
  [ -n "${SEED:-}" ] && seed "$DATA"
  pin_postgres "$cpus"
  if [ "$NODES" = 1 ]; then
    taskset -c "$cpus" "$BIN" serve "${PLAIN[@]}" --data-dir "$DATA" --config "$DATA/bench.toml" \
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
  fi
  wait_healthy "$SCHEME://127.0.0.1:$PORT"
}
consentry_stop() {
  if [ -n "$CLUSTER_DIR" ]; then cluster_stop; rm -rf "$CLUSTER_DIR"; CLUSTER_DIR=""; fi
  if [ -n "$SERVER" ]; then kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null || true; fi
  SERVER=""
  [ -n "$DATA" ] && rm -rf "$DATA"
  DATA=""
  unset CURL_CA_BUNDLE
}
peer_start() {
  (cd "$KIT" && PORT=$PEER_PORT SERVER_CPUS=$1 exec ./run.sh > "$OUT/peer.log" 2>&1) &
  PEER_PID=$!
  for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$PEER_PORT/.well-known/openid-configuration" && return; sleep 0.1; done
  echo "the peer did not start: $OUT/peer.log" >&2
  exit 1
}
peer_stop() {
  if [ -n "$PEER_PID" ]; then kill "$PEER_PID" 2>/dev/null && wait "$PEER_PID" 2>/dev/null || true; fi
  PEER_PID=""
}
# One kit run against the server already started: results/<time>/ renamed to $OUT/$1.
kit_run() {
  local label=$1 wrk_cpus=$2 base=$3 pid=$4 auth=$5 dir
  (cd "$KIT" && SERVER_PID=$pid AUTH=$auth BASE=$base WRK_CPUS=$wrk_cpus ./bench.sh) > "$OUT/$label.log" 2>&1 ||
    { cat "$OUT/$label.log" >&2; exit 1; }
  dir=$(ls -td "$KIT"/results/*/ | head -n 1)
  mv "$dir" "$OUT/$label"
}
measure_consentry() {
  local label="consentry-$1-r$2" cpus=$ALL_CPUS wrk="" before wall
  [ "$1" = pinned ] && cpus=$SERVER_CPU wrk=$WRK_CPU
  consentry_start "$cpus"
  before=$(all_cpu_ticks) wall=$(date +%s.%N)
  kit_run "$label" "$wrk" "$SCHEME://127.0.0.1:$PORT/oidc" "$SERVER" "$BENCH_AUTH"
  {
    echo "peak RSS (VmHWM): $(peak_rss_mib) MiB, of which at the end private (RssAnon) $(awk '/RssAnon/{print int($2/1024)}' "/proc/$SERVER/status") MiB"
    echo "database rows after the run: $(bench_access_token_rows) access tokens"
    print_cpu_split "$before" "$wall"
  } > "$OUT/$label/server.txt"
  peak_rss_mib > "$OUT/$label/peak_rss_mib"
  consentry_stop
  pin_postgres "$ALL_CPUS"
  echo "  Consentry, $1: $(tr '\n' ' ' < "$OUT/$label/server.txt")"
}
measure_peer() {
  local label="peer-$1-r$2" cpus="" wrk=""
  [ "$1" = pinned ] && cpus=$SERVER_CPU wrk=$WRK_CPU
  peer_start "$cpus"
  kit_run "$label" "$wrk" "http://127.0.0.1:$PEER_PORT" "$PEER_PID" "bench:bench-secret-bench-secret-bench-secret"
  peer_stop
  echo "  peer, $1: done"
}

if [ "$PEER" = 1 ]; then
  echo "installing the peer (npm ci in a copy of the kit)"
  (cd "$KIT" && npm ci --no-audit --no-fund > "$OUT/npm.log" 2>&1) || { cat "$OUT/npm.log" >&2; exit 1; }
fi
echo "results in $OUT; $ROUNDS round(s) of: $PLACEMENTS; wrk -t$THREADS -c$CONNS, $DURATION after $WARMUP; endpoints: $ONLY"
for ((round = 1; round <= ROUNDS; round++)); do
  echo "round $round"
  for placement in $PLACEMENTS; do
    # Alternate who goes first, so a drift of the host falls on both sides.
    if [ "$PEER" = 1 ] && ((round % 2 == 1)); then measure_peer "$placement" "$round"; fi
    measure_consentry "$placement" "$round"
    if [ "$PEER" = 1 ] && ((round % 2 == 0)); then measure_peer "$placement" "$round"; fi
  done
done

# What one core of this machine can sign: the physical limit of the token paths. The best of
# three runs: one run alone read 19 % low in a sitting where the next three agreed within 2 %.
echo "openssl speed on core $SERVER_CPU (P-256, RSA-2048), best of three"
for i in 1 2 3; do
  taskset -c "$SERVER_CPU" openssl speed -seconds 3 ecdsap256 rsa2048 2>/dev/null
done > "$OUT/openssl-speed.txt"
P256=$(awk '/ecdsa \(nistp256\)/ {if ($(NF-1) > best) best = $(NF-1)} END {print best}' "$OUT/openssl-speed.txt")
RSA=$(awk '/^rsa 2048/ {if ($(NF-1) > best) best = $(NF-1)} END {print best}' "$OUT/openssl-speed.txt")
{
  echo "date: $(date -u +%FT%TZ); host: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
  backend="SQLite${SEED:+, $SEED seeded tokens}"
  [ -n "${DATABASE_URL:-}" ] && backend="PostgreSQL, $NODES node(s)"
  echo "server: $(git rev-parse --short HEAD 2>/dev/null || echo '?') ($BIN); backend: $backend; scheme: $SCHEME"
  python3 benches/side_by_side.py "$OUT" "$P256" "$RSA" "$(nproc)"
} | tee "$OUT/report.md"
