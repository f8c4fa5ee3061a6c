# Sourced by benches/run.sh and benches/sustain.sh (from the repository root, KIT_SRC set):
# a release build, a fresh data folder, a private copy of the side-by-side kit, and the kit's
# `bench` client. Sets BIN (unless given: another build, for A/B runs), DATA, KIT and BENCH_AUTH;
# the caller sets its own cleanup trap.

cargo build --release --quiet
BIN="${BIN:-target/release/consentry}"
DATA=$(mktemp -d)
KIT=$(mktemp -d)
cp -r "$KIT_SRC/." "$KIT"
BENCH_AUTH=bench:bench-secret-bench-secret-bench-secret

# The kit's bench client: client_secret_basic, client_credentials, scope accounts:read.
add_bench_client() {
  "$BIN" clients add --data-dir "$DATA" --metadata '{
    "client_id": "bench", "client_secret": "'"${BENCH_AUTH#bench:}"'",
    "grant_types": ["client_credentials"], "response_types": [],
    "token_endpoint_auth_method": "client_secret_basic", "scope": "accounts:read"}' > /dev/null
}

# The server's peak RSS so far in MiB (VmHWM): the kit's RSS column is only each run's last reading.
peak_rss_mib() {
  awk '/VmHWM/{print int($2/1024)}' "/proc/$SERVER/status"
}

# Waits (up to 5 s) until the server at base URL $1 answers /healthz.
wait_healthy() {
  for _ in $(seq 50); do curl -sf -o /dev/null "$1/healthz" && return; sleep 0.1; done
}
