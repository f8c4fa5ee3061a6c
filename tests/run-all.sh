#!/usr/bin/env bash
# Runs every test. Installs what the tests need first: Debian's chromium (browser test),
# the Node packages of the interop tests (openid-client, playwright-core) and the Python
# ones (Authlib).
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v chromium >/dev/null 2>&1; then
  echo "== installing chromium (Debian packages chromium, chromium-driver)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
fi
if ! command -v node >/dev/null 2>&1; then
  echo "== installing Node.js (Debian packages nodejs, npm)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi

echo "== npm ci (tests/interop)"
npm ci --prefix tests/interop --no-audit --no-fund --loglevel=error

echo "== pip install (tests/interop_py)"
# Authlib for the Python interop test, in a venv the test finds; rebuilt only when it is
# missing or requirements.txt changed since it was made.
py_venv=tests/interop_py/.venv
if ! cmp -s tests/interop_py/requirements.txt "$py_venv/requirements.installed"; then
  if ! python3 -m venv --help >/dev/null 2>&1; then
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv >/dev/null
  fi
  rm -rf "$py_venv"
  python3 -m venv "$py_venv"
  "$py_venv/bin/pip" install --quiet --disable-pip-version-check -r tests/interop_py/requirements.txt
  cp tests/interop_py/requirements.txt "$py_venv/requirements.installed"
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy -D warnings"
cargo clippy --all-targets --locked -- -D warnings

echo "== fuzz (bounded)"
# Each fuzz target for FUZZ_SECONDS seconds (8 by default: about a minute on 2 cores); the
# cargo test below runs each for a few cases only. README.md, "Fuzzing", says how to run longer.
FUZZ_SECONDS="${FUZZ_SECONDS:-8}" cargo test --locked --test it fuzz:: -- --nocapture

echo "== PostgreSQL (Debian's package, a server of its own in a temporary folder)"
# For the multi-node tests, and for the integration suite's second run below.
pg_dir="$(mktemp -d /tmp/consentry-pg.XXXXXX)"
chmod 755 "$pg_dir"
stop_pg() { tests/pg/server.sh stop "$pg_dir" >/dev/null 2>&1 || true; rm -rf "$pg_dir"; }
trap stop_pg EXIT
eval "$(tests/pg/server.sh start "$pg_dir")"

echo "== cargo test"
cargo test --locked

echo "== cargo test --test it, on PostgreSQL"
# The same integration suite, every in-process server on a schema of its own (the cluster
# tests, cluster:: and cluster_ops::, already ran on PostgreSQL above).
# Left out: the tests of SQLite's own file and threads (a kill mid-write read back from the
# file, a full data disk, the WAL checkpoint thread, its online backup; the move from SQLite
# into PostgreSQL ran above).
IT_BACKEND=postgres cargo test --locked --test it -- --skip cluster:: --skip cluster_ops:: --skip store_ops:: \
  --skip pg_writes:: --skip data_key:: --skip schema_parity:: \
  --skip crash_grants::a_kill_during_issuance_leaves_every_grant_usable \
  --skip resilience::readyz_answers_503_disk_full_when_the_data_disk_is_full \
  --skip supervision::a_panicking_wal_checkpoint_thread_is_counted_reported_and_restarted_while_the_server_serves

echo "== conformance/run.sh (OpenID Foundation plans, our runner)"
./conformance/run.sh
