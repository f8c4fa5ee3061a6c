# shellcheck shell=bash
# Sourced by benches/run.sh and benches/sustain.sh (from the repository root, KIT_SRC set):
# a release build, a fresh data folder, a private copy of the side-by-side kit, and the kit's
# `bench` client. Sets BIN (unless given: another build, for A/B runs), DATA, KIT and BENCH_AUTH;
# the caller sets its own cleanup trap. With PostgreSQL (bench_database_setup), the server and
# `clients add` use a fresh schema through CONSENTRY_DATABASE_URL.

[ -n "${BIN:-}" ] || cargo build --release --quiet
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

# PostgreSQL runs (DATABASE_URL=postgres://...): a fresh schema for this run, reached through the
# URL's search_path, so runs never see each other's rows. Sets SCHEMA and exports
# CONSENTRY_DATABASE_URL, which `serve` and `clients add` read, and a data key in $DATA/keys;
# bench_database_drop removes the schema.
bench_database_setup() {
  command -v psql >/dev/null || { echo "DATABASE_URL needs the psql command (apt-get install -y postgresql-client)" >&2; exit 1; }
  SCHEMA="bench_$(date -u +%Y%m%d%H%M%S)_$$"
  psql "$DATABASE_URL" -X -q -v ON_ERROR_STOP=1 -c "create schema $SCHEMA" ||
    { echo "cannot create schema $SCHEMA in DATABASE_URL" >&2; exit 1; }
  local sep='?'
  [[ "$DATABASE_URL" == *\?* ]] && sep='&'
  export CONSENTRY_DATABASE_URL="$DATABASE_URL${sep}options=-c%20search_path%3D$SCHEMA"
  # The operator's data key (with PostgreSQL no command makes one), where `serve` and
  # `clients add` look for it: the data folder's keys/data.key.
  mkdir -p "$DATA/keys"
  "$BIN" keys new-data-key "$DATA/keys/data.key" >/dev/null
}

bench_database_drop() {
  [ -n "${SCHEMA:-}" ] || return 0
  psql "$DATABASE_URL" -X -q -c "drop schema if exists $SCHEMA cascade" >/dev/null 2>&1 ||
    echo "could not drop schema $SCHEMA" >&2
}

# Stored access tokens: from PostgreSQL's schema or the SQLite file.
bench_access_token_rows() {
  if [ -n "${CONSENTRY_DATABASE_URL:-}" ]; then
    psql "$CONSENTRY_DATABASE_URL" -X -A -t -c 'select count(*) from access_tokens' 2>/dev/null || echo '?'
  else
    sqlite3 "$DATA/consentry.sqlite" 'select count(*) from access_tokens' 2>/dev/null || echo '?'
  fi
}
