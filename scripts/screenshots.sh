#!/usr/bin/env bash
# Screenshots of every dashboard page at desktop and phone width, into docs/screenshots/: the
# browser test with its screenshots switched on, which fills a fresh database the way a new user
# does (SFTP, FTP and local sites against the real test servers, a job whose files include a
# hostile name, its runs, an upload, users and a token).
# Usage: scripts/screenshots.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/services.sh
source scripts/lib/test-servers.sh
command -v chromium >/dev/null || apt_install chromium chromium-driver
command -v npm >/dev/null || apt_install nodejs npm
(cd ftpman-web/tests/browser && npm ci --no-audit --no-fund --silent)
ensure_postgres
servers_dir=$(mktemp -d /tmp/ftpman-servers.XXXXXX)
chmod 755 "$servers_dir"
trap 'stop_test_servers "$servers_dir"; rm -rf "$servers_dir"' EXIT
start_test_servers "$servers_dir"
export FTPMAN_TEST_PG="postgres://postgres@127.0.0.1:5432/test"
mkdir -p docs/screenshots
FTPMAN_SCREENSHOTS="$PWD/docs/screenshots" cargo test --quiet -p ftpman-web --test web -- browser::
ls docs/screenshots
