#!/usr/bin/env bash
# Sustained token load: is the database bounded? Starts a release build over plain HTTP with a
# fresh database, short access-token lifetimes and the kit's `bench` client, drives the token
# endpoint with wrk for MINUTES, and every SAMPLE seconds prints the stored access tokens, the
# database and WAL sizes. With the expiry sweeper the row count levels off at about
# rate × (lifetime + sweep interval) and the file stops growing (freed pages are reused).
#
#   benches/sustain.sh                       # 6 minutes, 60 s tokens, a sample every 20 s
#   MINUTES=10 LIFETIME=120 benches/sustain.sh
set -euo pipefail
cd "$(dirname "$0")/.."
KIT_SRC="${KIT:-../shared/bench/peer}"
[ -f "$KIT_SRC/lua/token.lua" ] || { echo "benchmark kit not found at $KIT_SRC (set KIT=...)" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk not installed (apt-get install -y wrk)" >&2; exit 1; }
command -v sqlite3 >/dev/null || { echo "sqlite3 not installed (apt-get install -y sqlite3)" >&2; exit 1; }
PORT="${PORT:-18082}" MINUTES="${MINUTES:-6}" LIFETIME="${LIFETIME:-60}" SAMPLE="${SAMPLE:-20}"

source benches/common.sh
trap 'kill "$SERVER" "$WRK" 2>/dev/null || true; rm -rf "$DATA" "$KIT"' EXIT
add_bench_client
CONSENTRY_DEMO=false CONSENTRY_LOG=warn CONSENTRY_LIFETIMES__ACCESS_TOKEN_SECS="$LIFETIME" \
  "$BIN" serve --http --data-dir "$DATA" --listen "127.0.0.1:$PORT" \
  --issuer "http://127.0.0.1:$PORT/oidc" > "$DATA/server.log" 2>&1 &
SERVER=$!
wait_healthy "http://127.0.0.1:$PORT"

DB="$DATA/consentry.sqlite"
mib() { echo $(( $(stat -c %s "$1" 2>/dev/null || echo 0) / 1048576 )); }
echo "token load for $MINUTES min, access tokens live $LIFETIME s, expired rows swept every 10 s"
(cd "$KIT" && AUTH_B64=$(printf '%s' "$BENCH_AUTH" | base64 -w0) \
  wrk -t2 -c32 -d"${MINUTES}m" --latency -s lua/token.lua "http://127.0.0.1:$PORT/oidc/token" \
  > "$DATA/wrk.txt" 2>&1) &
WRK=$!
started=$(date +%s)
printf '%8s %14s %12s %10s %10s\n' elapsed access_tokens expired db_MiB wal_MiB
while kill -0 "$WRK" 2>/dev/null; do
  sleep "$SAMPLE"
  now=$(date +%s)
  counts=$(sqlite3 -readonly "$DB" \
    "SELECT count(*), (SELECT count(*) FROM access_tokens WHERE expires_at < $now) FROM access_tokens" \
    2>/dev/null || echo "?|?")
  printf '%7ss %14s %12s %10s %10s\n' $(( now - started )) "${counts%%|*}" "${counts##*|}" \
    "$(mib "$DB")" "$(mib "$DB-wal")"
done
wait "$WRK" || true
echo
grep -E "Requests/sec|Latency|99%|Non-2xx|Socket errors|requests in" "$DATA/wrk.txt" || cat "$DATA/wrk.txt"
echo "server peak RSS: $(peak_rss_mib) MiB"
