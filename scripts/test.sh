#!/usr/bin/env bash
# Runs every ftpman test. Installs and starts what the tests need (PostgreSQL, OpenSSH sshd,
# vsftpd), gives this run its own database and servers, checks formatting and lints, then runs
# the whole test suite and schemathesis against the web API.
# Usage: scripts/test.sh [extra cargo test args...]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/services.sh
source scripts/lib/test-servers.sh
source scripts/lib/api-conformance.sh

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

log "cargo fmt --check"
cargo fmt --all -- --check

log "cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings

log "cargo test"
out=$(mktemp)
trap 'rm -f "$out"; cleanup' EXIT
status=0
cargo test --workspace --no-fail-fast "$@" 2>&1 | tee "$out" || status=$?

log "schemathesis against the API's OpenAPI document"
cargo build --quiet -p ftpman-cli
run_api_conformance target/debug/ftpman target/test-venv 25 || status=1
# cargo prints one summary per test binary, the last often a crate's empty doc-test run: close
# with the total over all of them, so the final line tells how many tests really ran.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i; if ($(i+1) ~ /^ignored/) s += $i } }
     END { printf "total: %d passed, %d failed, %d skipped\n", p, f, s; if (p == 0) exit 1 }' "$out" || status=1
exit "$status"
