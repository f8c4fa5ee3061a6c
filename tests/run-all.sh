#!/usr/bin/env bash
# Runs every test. Installs what the tests need first: Debian's chromium (browser test) and
# the Node packages of the interop tests (openid-client, playwright-core).
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

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy -D warnings"
cargo clippy --all-targets --locked -- -D warnings

echo "== cargo test"
cargo test --locked

echo "== conformance/run.sh (OpenID Foundation plans, our runner)"
./conformance/run.sh
