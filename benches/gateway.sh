#!/usr/bin/env bash
# The gateway's overhead, as a number: the same GET to a local origin (benches/origin.rs, one
# thread, a small JSON answer) measured three ways with the same wrk load, in one sitting:
#   direct   wrk → origin
#   check    wrk → Consentry's gateway, a route the token lacks the scope for: the whole token
#            check (RFC 6750 / RFC 9068 JWT, its database row), then 403; nothing forwarded
#   gateway  wrk → Consentry's gateway → origin (token check, signed identity, forwarding)
# The overhead beyond the token check is the server's CPU per request (from /proc) of
# gateway − check, and the latency of gateway − (check + direct), p50 and mean: on a small host,
# latencies swing with how long idle cores take to wake (the gateway path has two more socket
# hops), while CPU per request holds still. Release build, plain HTTP on loopback, a fresh
# database.
#
#   benches/gateway.sh                          # 10 s per case, 1 wrk thread, 8 connections, 3 rounds
#   ROUNDS=5 CONNS=1 benches/gateway.sh           # one request at a time: latency, not throughput
#   DURATION=30s THREADS=2 CONNS=32 benches/gateway.sh
#   BIN=/tmp/consentry-before benches/gateway.sh  # another server build, not rebuilt
#   ORIGIN=path benches/gateway.sh              # an origin already built (benches/origin.rs)
#   WRK="taskset -c 0 wrk" SERVE="taskset -c 1" benches/gateway.sh  # pinned (see the bench README)
#   AWAKE=1 benches/gateway.sh                  # a SCHED_IDLE spinner on each core, so no idle
#                                               # core sleeps: on a VM whose idle vCPUs halt,
#                                               # shows how much of each figure is waking them
#                                               # (the spinners yield at once to real work)
#   NGINX=1 benches/gateway.sh                  # also nginx (one worker) as a reference proxy:
#                                               # its 403 and its keep-alive proxy_pass, measured
#                                               # the same way (apt-get install -y nginx-light)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "wrk not installed (apt-get install -y wrk)" >&2; exit 1; }
PORT="${PORT:-18083}" ORIGIN_PORT="${ORIGIN_PORT:-18093}"
DURATION="${DURATION:-10s}" THREADS="${THREADS:-1}" CONNS="${CONNS:-8}" ROUNDS="${ROUNDS:-3}"
WRK="${WRK:-wrk}" SERVE="${SERVE:-}"
[ -n "${BIN:-}" ] || cargo build --release --quiet
BIN="${BIN:-target/release/consentry}"
[ -n "${ORIGIN:-}" ] ||
  ORIGIN=$(cargo bench --no-run --bench origin 2>&1 | sed -n 's/.*(\(target\/[^)]*\/origin-[0-9a-f]*\)).*/\1/p' | tail -n 1)
[ -x "$ORIGIN" ] || { echo "could not build benches/origin.rs" >&2; exit 1; }
DATA=$(mktemp -d)
SERVER="" ORIGIN_PID="" NGINX_PID="" SPINNERS=""
cleanup() {
  for pid in $SERVER $ORIGIN_PID $NGINX_PID $SPINNERS; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true; done
  rm -rf "$DATA"
}
trap cleanup EXIT

if [ -n "${AWAKE:-}" ]; then
  for core in $(seq 0 $(($(nproc) - 1))); do
    taskset -c "$core" chrt --idle 0 sh -c 'while :; do :; done' &
    SPINNERS="$SPINNERS $!"
  done
fi
$SERVE "$ORIGIN" "$ORIGIN_PORT" &
ORIGIN_PID=$!
UPSTREAM="http://127.0.0.1:$ORIGIN_PORT"
NGINX_BASE=""
if [ -n "${NGINX:-}" ]; then
  NGINX_BIN=$(command -v nginx || echo /usr/sbin/nginx)
  [ -x "$NGINX_BIN" ] || { echo "NGINX=1 needs nginx (apt-get install -y nginx-light)" >&2; exit 1; }
  NGINX_PORT="${NGINX_PORT:-18094}"
  mkdir -p "$DATA/nginx"
  cat > "$DATA/nginx/nginx.conf" <<NGINX
worker_processes 1;
daemon off;
pid $DATA/nginx/nginx.pid;
error_log $DATA/nginx/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  upstream origin { server 127.0.0.1:$ORIGIN_PORT; keepalive 32; }
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location = /denied { return 403; }
    location = /accounts {
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Authorization "";
    }
  }
}
NGINX
  # nginx reads inherited listening sockets from an NGINX variable: not ours.
  $SERVE env -u NGINX "$NGINX_BIN" -p "$DATA/nginx" -c "$DATA/nginx/nginx.conf" &
  NGINX_PID=$!
  NGINX_BASE="http://127.0.0.1:$NGINX_PORT"
fi
cat > "$DATA/gateway.toml" <<TOML
[outbound]
allow_private = true

[[gateway.routes]]
method = "GET"
path = "/accounts"
scopes = ["accounts:read"]
upstream = "$UPSTREAM"

[[gateway.routes]]
method = "GET"
path = "/denied"
scopes = ["accounts:write"]
upstream = "$UPSTREAM"
TOML
AUTH=bench:bench-secret-bench-secret-bench-secret
"$BIN" clients add --data-dir "$DATA" --metadata '{
  "client_id": "bench", "client_secret": "'"${AUTH#bench:}"'",
  "grant_types": ["client_credentials"], "response_types": [],
  "token_endpoint_auth_method": "client_secret_basic", "scope": "accounts:read"}' > /dev/null
BASE="http://127.0.0.1:$PORT/oidc"
CONSENTRY_DEMO=false CONSENTRY_LOG=warn CONSENTRY_LIFETIMES__ACCESS_TOKEN_SECS=3600 \
  $SERVE "$BIN" serve --http --data-dir "$DATA" --config "$DATA/gateway.toml" \
  --listen "127.0.0.1:$PORT" --issuer "$BASE" > "$DATA/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 50); do curl -sf -o /dev/null "http://127.0.0.1:$PORT/healthz" && break; sleep 0.1; done
AT=$(curl -sf -u "$AUTH" -d grant_type=client_credentials -d scope=accounts:read "$BASE/token" |
  sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
[ -n "$AT" ] || { echo "no access token; server log: $DATA/server.log" >&2; cat "$DATA/server.log" >&2; exit 1; }
status() { curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $AT" "$1"; }
CHECKS=("200 $UPSTREAM/accounts" "403 $BASE/gateway/denied" "200 $BASE/gateway/accounts")
[ -n "$NGINX_BASE" ] && CHECKS+=("403 $NGINX_BASE/denied" "200 $NGINX_BASE/accounts")
for want in "${CHECKS[@]}"; do
  got=$(status "${want#* }")
  [ "$got" = "${want%% *}" ] || { echo "${want#* } answered $got, not ${want%% *}" >&2; exit 1; }
done

# nginx's one worker, whose CPU is counted (the master only supervises it).
[ -z "$NGINX_BASE" ] || NGINX_WORKER=$(pgrep -P "$NGINX_PID" | head -n 1)
# wrk's latency figures in µs.
micros() { awk '{v = $1 + 0; if ($1 ~ /us$/) print v; else if ($1 ~ /ms$/) print v * 1000; else if ($1 ~ /s$/) print v * 1000000; else print v}'; }
# A process's CPU time so far (user + system), in clock ticks.
ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
TICK=$(getconf CLK_TCK)
# run NAME URL PID: one case, its latencies and the CPU per request of the process PID serving it.
run() {
  local name=$1 url=$2 pid=$3 out="$DATA/$1.txt"
  $WRK -t"$THREADS" -c"$CONNS" -d2s -H "Authorization: Bearer $AT" "$url" > /dev/null # warm-up
  local before after n cpu
  before=$(ticks "$pid")
  $WRK -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -H "Authorization: Bearer $AT" "$url" > "$out"
  after=$(ticks "$pid")
  n=$(awk '/requests in/ {print $1}' "$out")
  cpu=$(awk -v t=$((after - before)) -v hz="$TICK" -v n="$n" 'BEGIN {printf "%.0f", t * 1000000 / hz / n}')
  local rps p50 p99 mean
  rps=$(awk '/^Requests\/sec/ {print $2}' "$out")
  mean=$(awk '$1 == "Latency" {print $2; exit}' "$out" | micros)
  p50=$(awk '$1 == "50%" {print $2}' "$out" | micros)
  p99=$(awk '$1 == "99%" {print $2}' "$out" | micros)
  printf '| %-11s | %10s | %8.0f | %8.0f | %8.0f | %8s |\n' "$name" "$rps" "$mean" "$p50" "$p99" "$cpu"
  echo "$mean $p50 $cpu" > "$DATA/$name.lat"
}
echo "wrk -t$THREADS -c$CONNS -d$DURATION, $ROUNDS alternating rounds, plain HTTP on loopback ($(nproc) cores shared by wrk, Consentry and the origin${AWAKE:+; idle cores kept awake by SCHED_IDLE spinners})"
echo "| round | case        |      req/s |  mean µs |   p50 µs |   p99 µs | CPU µs/req |"
echo "|------:|-------------|-----------:|---------:|---------:|---------:|---------:|"
: > "$DATA/rounds"
for round in $(seq "$ROUNDS"); do
  for case in direct check gateway ${NGINX_BASE:+nginx-403 nginx-proxy}; do
    printf '| %5s ' "$round"
    case $case in
      direct) run direct "$UPSTREAM/accounts" "$ORIGIN_PID" ;;
      check) run check "$BASE/gateway/denied" "$SERVER" ;;
      gateway) run gateway "$BASE/gateway/accounts" "$SERVER" ;;
      nginx-403) run nginx-403 "$NGINX_BASE/denied" "$NGINX_WORKER" ;;
      nginx-proxy) run nginx-proxy "$NGINX_BASE/accounts" "$NGINX_WORKER" ;;
    esac
  done
  echo "$(cat "$DATA/direct.lat") $(cat "$DATA/check.lat") $(cat "$DATA/gateway.lat")" >> "$DATA/rounds"
  [ -z "$NGINX_BASE" ] || echo "$(cat "$DATA/direct.lat") $(cat "$DATA/nginx-403.lat") $(cat "$DATA/nginx-proxy.lat")" >> "$DATA/nginx-rounds"
done
# The overhead the gateway adds beyond the token check, two ways, per round and as the median
# of the rounds. CPU: the server's CPU per forwarded request minus per checked one (the same
# check runs in both), the steadiest figure on a shared host. Latency: the gateway's p50 and
# mean against what the two parts take on their own, the check's plus the origin's direct.
# Beside them, how far the check alone moves between rounds: a difference inside that spread
# is not measurable with this load on this host.
# With NGINX=1 the same for nginx, a reference for what proxying alone costs on this host: its
# proxy_pass against its own 403 plus the direct call.
summarise() {
  awk -v what="$1" -v check="$2" '
  function median(a, n,   i, j, t) {
    for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  {
    dm = $1; dp = $2; cm = $4; cp = $5; cc = $6; gm = $7; gp = $8; gc = $9
    n++; cpu[n] = gc - cc; p50[n] = gp - cp - dp; mean[n] = gm - cm - dm
    printf "%s, round %d: CPU beyond %s %.0f µs (%.0f against %.0f); latency vs %s + direct: p50 %+.0f µs, mean %+.0f µs\n", what, n, check, gc - cc, gc, cc, check, p50[n], mean[n]
    if (n == 1 || cp < cplo) cplo = cp; if (n == 1 || cp > cphi) cphi = cp
    if (n == 1 || cm < cmlo) cmlo = cm; if (n == 1 || cm > cmhi) cmhi = cm
  }
  END {
    printf "%s, median of %d rounds: CPU beyond %s %.0f µs; latency vs %s + direct: p50 %+.0f µs, mean %+.0f µs\n", what, n, check, median(cpu, n), check, median(p50, n), median(mean, n)
    printf "%s, %s alone between rounds: p50 %.0f-%.0f µs (spread %.0f), mean %.0f-%.0f µs (spread %.0f)\n", what, check, cplo, cphi, cphi - cplo, cmlo, cmhi, cmhi - cmlo
  }' "$3"
}
summarise gateway "the check" "$DATA/rounds"
[ -z "$NGINX_BASE" ] || summarise nginx "its 403" "$DATA/nginx-rounds"
