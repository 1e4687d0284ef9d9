#!/usr/bin/env bash
# Runs every ftpman test. Installs and starts what the tests need (PostgreSQL, OpenSSH sshd,
# vsftpd), gives this run its own database and servers, checks formatting and lints, then runs
# the whole test suite: Rust, Python (pytest on the installed package) and schemathesis against
# the web API.
# Usage: scripts/test.sh [extra cargo test args...]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/services.sh
source scripts/lib/test-servers.sh
source scripts/lib/api-conformance.sh
source scripts/lib/fuzz.sh

log "ensuring PostgreSQL"
ensure_postgres

# Each run gets its own database (and each store test its own schema inside it) and its own
# servers, so runs never collide; all of it goes when the run ends.
run_db="ftpman_test_$$_$(date +%s)"
servers_dir=$(mktemp -d /tmp/ftpman-servers.XXXXXX)
chmod 755 "$servers_dir"
cleanup() {
  stop_test_servers "$servers_dir"
  rm -rf "$servers_dir"
  pg_admin -c "DROP DATABASE IF EXISTS ${run_db} WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT
pg_admin -c "CREATE DATABASE ${run_db}" >/dev/null

log "starting sshd and vsftpd (plain, explicit FTPS, implicit FTPS) on loopback"
start_test_servers "$servers_dir"
export FTPMAN_TEST_PG="postgres://postgres@127.0.0.1:5432/${run_db}"
# Every server-backed test runs here: one that would skip for want of a server fails instead.
export FTPMAN_TEST_REQUIRE_SERVERS=1

log "ensuring Debian's Chromium and the browser tests' Playwright library"
command -v chromium >/dev/null && command -v chromedriver >/dev/null || apt_install chromium chromium-driver
command -v npm >/dev/null || apt_install nodejs npm
(cd ftpman-web/tests/browser && npm ci --no-audit --no-fund --silent)

log "cargo fmt --check"
cargo fmt --all -- --check

log "cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings

log "cargo test"
out=$(mktemp)
trap 'rm -f "$out"; cleanup' EXIT
status=0
cargo test --workspace --no-fail-fast "$@" 2>&1 | tee "$out" || status=$?
# A failed test against a real server is read next to what that server saw.
[[ $status -eq 0 ]] || show_server_logs "$servers_dir" 60
cargo build --quiet -p ftpman-cli

log "Python: ftpman-py built and installed into a fresh virtual environment, then pytest"
py_env=$(mktemp -d /tmp/ftpman-py.XXXXXX)
trap 'rm -rf "$out" "$py_env"; cleanup' EXIT
python3 -m venv "$py_env"
"$py_env/bin/pip" install -q --disable-pip-version-check pytest mypy fsspec
# The extension builds in the workspace's target folder and dev profile, reusing what cargo
# test just compiled (a release build would compile everything again).
CARGO_TARGET_DIR="$PWD/target" MATURIN_PEP517_ARGS="--profile dev" \
  "$py_env/bin/pip" install -q --disable-pip-version-check ./ftpman-py
# pytest fails when it collects nothing (exit status 5), as when it finds a failure.
py_status=0
FTPMAN_BIN="$PWD/target/debug/ftpman" PYTHONDONTWRITEBYTECODE=1 \
  "$py_env/bin/python" -m pytest -q -p no:cacheprovider ftpman-py/tests 2>&1 | tee -a "$out" || py_status=$?
[[ $py_status -eq 0 ]] || status=1

log "schemathesis against the API's OpenAPI document"
run_api_conformance target/debug/ftpman target/test-venv 25 || status=1

log "fuzz targets, 15 seconds each"
run_fuzz_smoke 15 || status=1
# cargo prints one summary per test binary, the last often a crate's empty doc-test run: close
# with the total over all of them, so the final line tells how many tests really ran.
# pytest's closing line ("14 passed in 11.3s") counts too.
awk '/^test result:/ || / in [0-9.]+s/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i; if ($(i+1) ~ /^(ignored|skipped)/) s += $i } }
     END { printf "total: %d passed, %d failed, %d skipped\n", p, f, s; if (p == 0) exit 1 }' "$out" || status=1
exit "$status"
