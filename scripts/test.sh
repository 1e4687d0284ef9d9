#!/usr/bin/env bash
# Runs every ftpman test. Installs and starts what the tests need (PostgreSQL), gives this run
# its own database, checks formatting and lints, then runs the whole test suite.
# Usage: scripts/test.sh [extra cargo test args...]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/services.sh

log "ensuring PostgreSQL"
ensure_postgres

# Each run gets its own database (and each store test its own schema inside it), so runs never
# collide; the database is dropped when the run ends.
run_db="ftpman_test_$$_$(date +%s)"
pg_admin -c "CREATE DATABASE ${run_db}" >/dev/null
trap 'pg_admin -c "DROP DATABASE IF EXISTS ${run_db} WITH (FORCE)" >/dev/null 2>&1 || true' EXIT
export FTPMAN_TEST_PG="postgres://postgres@127.0.0.1:5432/${run_db}"

log "cargo fmt --check"
cargo fmt --all -- --check

log "cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings

log "cargo test"
out=$(mktemp)
trap 'rm -f "$out"; pg_admin -c "DROP DATABASE IF EXISTS ${run_db} WITH (FORCE)" >/dev/null 2>&1 || true' EXIT
status=0
cargo test --workspace --no-fail-fast "$@" 2>&1 | tee "$out" || status=$?
# cargo prints one summary per test binary, the last often a crate's empty doc-test run: close
# with the total over all of them, so the final line tells how many tests really ran.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i; if ($(i+1) ~ /^ignored/) s += $i } }
     END { printf "total: %d passed, %d failed, %d skipped\n", p, f, s; if (p == 0) exit 1 }' "$out" || status=1
exit "$status"
