# Real servers for the transport tests, on loopback high ports: OpenSSH sshd (SFTP; a password
# user and a key user) and three vsftpd instances (plain FTP, explicit FTPS with
# require_ssl_reuse=YES, implicit FTPS), with host keys, client keys and a certificate made for
# this run, and an SMTP listener (aiosmtpd) that keeps every message in a maildir.
# `start_test_servers DIR` exports FTPMAN_TEST_* variables describing them;
# `stop_test_servers DIR` ends them. Sourced by scripts/test.sh and the benchmarks.

FTPMAN_TEST_USER=ftpman-pw
FTPMAN_TEST_KEY_USER=ftpman-key

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

ensure_server_packages() {
  local missing=()
  [ -x /usr/sbin/sshd ] || missing+=(openssh-server)
  [ -x /usr/sbin/vsftpd ] || missing+=(vsftpd)
  command -v openssl >/dev/null || missing+=(openssl)
  command -v ssh-keygen >/dev/null || missing+=(openssh-client)
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    apt_install "${missing[@]}"
  fi
}

ensure_test_user() {
  local user=$1
  if ! id "$user" >/dev/null 2>&1; then
    useradd --create-home --shell /bin/bash "$user"
  fi
}

start_test_servers() {
  local dir=$1
  ensure_server_packages
  mkdir -p "$dir" /run/sshd /var/run/vsftpd/empty
  ensure_test_user "$FTPMAN_TEST_USER"
  ensure_test_user "$FTPMAN_TEST_KEY_USER"
  local password="pw-$(openssl rand -hex 12)"
  echo "${FTPMAN_TEST_USER}:${password}" | chpasswd
  # A key-only user: no password, but not "locked" ('!'), which sshd without PAM refuses outright.
  usermod -p '*' "$FTPMAN_TEST_KEY_USER"
  # Both users share one group so either can read the other's test folders.
  chmod 755 "/home/${FTPMAN_TEST_USER}" "/home/${FTPMAN_TEST_KEY_USER}"

  # --- SSH: host key, client keys in the formats users bring -----------------------------
  ssh-keygen -q -t ed25519 -N '' -f "$dir/ssh_host_ed25519_key"
  ssh-keygen -q -t ed25519 -N '' -C ftpman-test -f "$dir/id_ed25519"                 # OpenSSH format
  ssh-keygen -q -t ed25519 -N 'key-passphrase-1' -f "$dir/id_ed25519_enc"           # encrypted
  ssh-keygen -q -t rsa -b 2048 -m PEM -N '' -f "$dir/id_rsa_pem"                    # PEM (PKCS#1)
  ssh-keygen -q -t ecdsa -b 256 -m PKCS8 -N '' -f "$dir/id_ecdsa_pkcs8"             # PKCS#8
  mkdir -p "$dir/authorized_keys"
  cat "$dir"/id_ed25519.pub "$dir"/id_ed25519_enc.pub "$dir"/id_rsa_pem.pub "$dir"/id_ecdsa_pkcs8.pub \
    > "$dir/authorized_keys/${FTPMAN_TEST_KEY_USER}"
  chmod 600 "$dir"/id_* "$dir/ssh_host_ed25519_key"
  local ssh_port; ssh_port=$(free_port)
  cat > "$dir/sshd_config" <<CONF
Port ${ssh_port}
ListenAddress 127.0.0.1
HostKey ${dir}/ssh_host_ed25519_key
PidFile ${dir}/sshd.pid
UsePAM no
PasswordAuthentication yes
KbdInteractiveAuthentication no
PubkeyAuthentication yes
AuthorizedKeysFile ${dir}/authorized_keys/%u
StrictModes no
MaxSessions 64
MaxStartups 100:30:200
LogLevel VERBOSE
Subsystem sftp internal-sftp
CONF
  /usr/sbin/sshd -D -e -f "$dir/sshd_config" 2> "$dir/sshd.log" &
  echo $! > "$dir/sshd.launcher.pid"
  # A second sshd for fault injection: tests kill its sessions without disturbing the others.
  local fault_ssh_port; fault_ssh_port=$(free_port)
  sed -e "s/^Port .*/Port ${fault_ssh_port}/" -e "s|^PidFile .*|PidFile ${dir}/sshd-fault.pid|" \
    "$dir/sshd_config" > "$dir/sshd_config_fault"
  /usr/sbin/sshd -D -e -f "$dir/sshd_config_fault" 2> "$dir/sshd-fault.log" &
  echo $! > "$dir/sshd-fault.launcher.pid"

  # --- TLS certificate for FTPS (an end-entity certificate, as rustls requires) -----------
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=localhost" \
    -addext "basicConstraints=critical,CA:FALSE" \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -addext "keyUsage=digitalSignature,keyEncipherment" -addext "extendedKeyUsage=serverAuth" \
    -keyout "$dir/ftps.key" -out "$dir/ftps.crt" 2>/dev/null
  local cert_sha256
  cert_sha256=$(openssl x509 -in "$dir/ftps.crt" -noout -fingerprint -sha256 | cut -d= -f2)

  # --- vsftpd: plain, explicit FTPS, implicit FTPS ------------------------------------------
  local ftp_port ftps_port ftpsi_port fault_ftp_port
  ftp_port=$(free_port); ftps_port=$(free_port); ftpsi_port=$(free_port); fault_ftp_port=$(free_port)
  # Passive data ports lie below the system's ephemeral range: a port the system hands out
  # for an outgoing connection (or a test's port it believes closed) is then never a server's
  # data port, so no connection can land on another session's transfer.
  local ephemeral_low _high
  read -r ephemeral_low _high < /proc/sys/net/ipv4/ip_local_port_range
  local span=$((ephemeral_low - 10000 - 400))
  (( span > 0 )) || span=1
  local base=$((10000 + RANDOM % span))
  write_vsftpd_conf "$dir/vsftpd-plain.conf" "$ftp_port" "$base" "$((base + 99))" NO NO "$dir"
  write_vsftpd_conf "$dir/vsftpd-explicit.conf" "$ftps_port" "$((base + 100))" "$((base + 199))" YES NO "$dir"
  write_vsftpd_conf "$dir/vsftpd-implicit.conf" "$ftpsi_port" "$((base + 200))" "$((base + 299))" YES YES "$dir"
  write_vsftpd_conf "$dir/vsftpd-fault.conf" "$fault_ftp_port" "$((base + 300))" "$((base + 399))" NO NO "$dir"
  local name
  for name in plain explicit implicit fault; do
    /usr/sbin/vsftpd "$dir/vsftpd-${name}.conf" > "$dir/vsftpd-${name}.out" 2>&1 &
    echo $! > "$dir/vsftpd-${name}.pid"
  done

  # --- SMTP: aiosmtpd writing every message into a maildir -----------------------------
  python3 -c 'import aiosmtpd' 2>/dev/null || python3 -m pip install -q --root-user-action=ignore aiosmtpd >&2
  local smtp_port; smtp_port=$(free_port)
  mkdir -p "$dir/maildir/tmp" "$dir/maildir/new" "$dir/maildir/cur"
  python3 -m aiosmtpd -n -l "127.0.0.1:${smtp_port}" -c aiosmtpd.handlers.Mailbox "$dir/maildir" \
    > "$dir/smtp.log" 2>&1 &
  echo $! > "$dir/smtp.pid"

  wait_port "$ssh_port" sshd "$dir/sshd.log"
  wait_port "$smtp_port" aiosmtpd "$dir/smtp.log"
  wait_port "$ftp_port" vsftpd-plain "$dir/vsftpd-plain.out"
  wait_port "$ftps_port" vsftpd-explicit "$dir/vsftpd-explicit.out"
  wait_port "$ftpsi_port" vsftpd-implicit "$dir/vsftpd-implicit.out"
  wait_port "$fault_ftp_port" vsftpd-fault "$dir/vsftpd-fault.out"
  wait_port "$fault_ssh_port" sshd-fault "$dir/sshd-fault.log"

  export FTPMAN_TEST_SERVERS_DIR="$dir"
  export FTPMAN_TEST_SSH_PORT=$ssh_port
  export FTPMAN_TEST_FTP_PORT=$ftp_port
  export FTPMAN_TEST_FTPS_PORT=$ftps_port
  export FTPMAN_TEST_FTPS_IMPLICIT_PORT=$ftpsi_port
  export FTPMAN_TEST_FAULT_SSH_PORT=$fault_ssh_port
  export FTPMAN_TEST_FAULT_FTP_PORT=$fault_ftp_port
  export FTPMAN_TEST_SMTP_PORT=$smtp_port
  export FTPMAN_TEST_MAILDIR=$dir/maildir
  export FTPMAN_TEST_USER FTPMAN_TEST_KEY_USER
  export FTPMAN_TEST_PASSWORD=$password
  export FTPMAN_TEST_CERT_SHA256=$cert_sha256
  FTPMAN_TEST_SSH_HOST_KEY=$(ssh-keygen -l -E sha256 -f "$dir/ssh_host_ed25519_key.pub" | awk '{print $2}')
  export FTPMAN_TEST_SSH_HOST_KEY
  env | grep '^FTPMAN_TEST_' | grep -v PASSWORD > "$dir/servers.env"
}

# write_vsftpd_conf FILE PORT PASV_MIN PASV_MAX SSL IMPLICIT DIR
write_vsftpd_conf() {
  cat > "$1" <<CONF
listen=YES
listen_ipv6=NO
listen_address=127.0.0.1
listen_port=$2
background=NO
seccomp_sandbox=NO
anonymous_enable=NO
local_enable=YES
write_enable=YES
local_umask=022
force_dot_files=YES
pasv_enable=YES
pasv_min_port=$3
pasv_max_port=$4
pasv_address=127.0.0.1
port_enable=YES
connect_from_port_20=NO
secure_chroot_dir=/var/run/vsftpd/empty
pam_service_name=vsftpd
xferlog_enable=YES
log_ftp_protocol=YES
vsftpd_log_file=$7/vsftpd-$(basename "$1" .conf).log
max_per_ip=200
max_clients=400
delete_failed_uploads=NO
ssl_enable=$5
implicit_ssl=$6
rsa_cert_file=$7/ftps.crt
rsa_private_key_file=$7/ftps.key
require_ssl_reuse=YES
force_local_logins_ssl=$5
force_local_data_ssl=$5
ssl_tlsv1=NO
ssl_sslv2=NO
ssl_sslv3=NO
CONF
}

# show_server_logs DIR LINES: the last LINES lines of each server's log, for a failed run.
show_server_logs() {
  local dir=$1 lines=$2 f
  for f in "$dir"/vsftpd-vsftpd-*.log "$dir"/sshd*.log "$dir"/smtp.log; do
    [[ -s $f ]] || continue
    echo "==> last ${lines} lines of $(basename "$f")"
    tail -n "$lines" "$f"
  done
}

wait_port() {
  local port=$1 name=$2 logf=$3
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/${port}") 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  echo "${name} did not start on 127.0.0.1:${port}; its log:" >&2
  cat "$logf" >&2 || true
  return 1
}

stop_test_servers() {
  local dir=$1 f
  for f in "$dir"/sshd*.pid "$dir"/vsftpd-*.pid "$dir"/smtp.pid; do
    [ -f "$f" ] || continue
    local pid; pid=$(cat "$f" 2>/dev/null) || continue
    pkill -P "$pid" 2>/dev/null || true
    kill "$pid" 2>/dev/null || true
  done
  # Whatever is left (every server's command line names this folder) goes for good.
  sleep 0.2
  pkill -KILL -f "$dir" 2>/dev/null || true
}
