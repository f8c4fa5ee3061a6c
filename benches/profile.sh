#!/usr/bin/env bash
# Where a request's time goes, per core: starts Consentry pinned to one core (SERVER_CPU, default
# 1) with a fresh database and the kit's bench client, loads one endpoint with the kit's wrk
# script from another core (WRK_CPU, default 0; wrk -t2 -c32), measures the server's CPU per
# request from /proc over the run and records it with `perf record --call-graph dwarf`, then
# prints the parts of a request: each part's share of the samples and its microseconds.
#
#   benches/profile.sh                    # token (ES256, stored) and introspection, 6 s each
#   ONLY=token DURATION=10 benches/profile.sh
#   ONLY=token_jwt benches/profile.sh     # token with the kit's resource: an RS256 JWT
#   BIN=/tmp/consentry-before benches/profile.sh   # another build, not rebuilt
# Needs wrk and perf (apt-get install -y wrk linux-perf); perf data stays in the printed folder.
set -euo pipefail
cd "$(dirname "$0")/.."
KIT_SRC="${KIT:-../shared/bench/peer}"
[ -x "$KIT_SRC/bench.sh" ] || { echo "benchmark kit not found at $KIT_SRC (set KIT=...)" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk not installed (apt-get install -y wrk)" >&2; exit 1; }
command -v perf >/dev/null || { echo "perf not installed (apt-get install -y linux-perf)" >&2; exit 1; }
ONLY="${ONLY:-token introspect}" DURATION="${DURATION:-6}"
SERVER_CPU="${SERVER_CPU:-1}" WRK_CPU="${WRK_CPU:-0}" PORT="${PORT:-18082}"
source benches/common.sh
OUT=$(mktemp -d)
SERVER=""
cleanup() {
  if [ -n "$SERVER" ]; then kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null || true; fi
  rm -rf "$DATA" "$KIT"
}
trap cleanup EXIT
add_bench_client
# As in benches/run.sh: the kit's token_jwt case asks for this resource and an RS256 JWT.
cat > "$DATA/bench.toml" <<'TOML'
[resource_servers."https://api.bench.local/"]
access_token_signing_alg = "RS256"
TOML
export CONSENTRY_DEMO=false CONSENTRY_LOG=warn
taskset -c "$SERVER_CPU" "$BIN" serve --http --data-dir "$DATA" --config "$DATA/bench.toml" \
  --listen "127.0.0.1:$PORT" --issuer "http://127.0.0.1:$PORT/oidc" > "$DATA/server.log" 2>&1 &
SERVER=$!
BASE="http://127.0.0.1:$PORT/oidc"
wait_healthy "$BASE"
export AUTH_B64
AUTH_B64=$(printf '%s' "$BENCH_AUTH" | base64 -w0)
DISCO=$(curl -sf "$BASE/.well-known/openid-configuration")
endpoint() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1" <<<"$DISCO"; }
ticks() { sed 's/.*) //' "/proc/$SERVER/stat" | awk '{print $12 + $13}'; }

for e in $ONLY; do
  case $e in
    token) url=$(endpoint token_endpoint) lua=lua/token.lua ;;
    token_jwt) url=$(endpoint token_endpoint) lua=lua/token_jwt.lua ;;
    introspect)
      url=$(endpoint introspection_endpoint) lua=lua/introspect.lua
      TOKEN=$(curl -sf -u "$BENCH_AUTH" -d 'grant_type=client_credentials&scope=accounts:read' \
        "$(endpoint token_endpoint)" | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
      export TOKEN ;;
    *) echo "ONLY: token, token_jwt and/or introspect" >&2; exit 1 ;;
  esac
  (cd "$KIT" && taskset -c "$WRK_CPU" wrk -t2 -c32 -d2s -s "$lua" "$url" > /dev/null)
  before=$(ticks)
  perf record -q -F 999 --call-graph dwarf,16384 -p "$SERVER" -o "$OUT/$e.data" -- sleep "$DURATION" \
    > /dev/null 2>&1 &
  recorder=$!
  (cd "$KIT" && taskset -c "$WRK_CPU" wrk -t2 -c32 -d"${DURATION}s" -s "$lua" "$url" > "$OUT/$e.wrk")
  after=$(ticks)
  wait "$recorder" || true
  perf report -i "$OUT/$e.data" --children --sort sym --stdio -g none 2> /dev/null > "$OUT/$e.report"
  echo
  echo "### $e, pinned to core $SERVER_CPU"
  python3 benches/profile_parts.py "$e" "$OUT/$e.report" "$OUT/$e.wrk" "$((after - before))" "$(getconf CLK_TCK)"
done
echo
echo "perf data in $OUT (perf report -i $OUT/<endpoint>.data)"
