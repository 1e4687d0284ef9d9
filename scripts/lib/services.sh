# Shared helpers for scripts/test.sh and the benchmarks: start the services tests need,
# installing them with apt-get when missing. Everything listens on loopback only.

log() { printf '\n==> %s\n' "$*" >&2; }

apt_install() {
  if [ -z "${FTPMAN_APT_UPDATED:-}" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    export FTPMAN_APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}

pg_admin() {
  psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p 5432 -U postgres -d postgres "$@"
}

# PostgreSQL on 127.0.0.1:5432 with trust auth for loopback connections (a test machine only).
ensure_postgres() {
  if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null && pg_admin -c 'SELECT 1' >/dev/null 2>&1; then
    return 0
  fi
  if ! command -v pg_ctlcluster >/dev/null 2>&1 || [ -z "$(ls /etc/postgresql 2>/dev/null)" ]; then
    log "installing PostgreSQL"
    apt_install postgresql postgresql-client
  fi
  local version
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  local hba="/etc/postgresql/${version}/main/pg_hba.conf"
  if ! grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
    # Loopback trust for the test database user, ahead of the packaged rules.
    sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
  fi
  pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null \
    || pg_ctlcluster --skip-systemctl-redirect "$version" main reload 2>/dev/null || true
  for _ in $(seq 1 60); do
    if pg_isready -q -h 127.0.0.1 -p 5432 && pg_admin -c 'SELECT 1' >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.5
  done
  echo "PostgreSQL did not come up on 127.0.0.1:5432" >&2
  return 1
}
