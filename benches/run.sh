#!/usr/bin/env bash
# ftpman's benchmarks, side by side with the tools a user would pick instead (curl, OpenSSH
# sftp, lftp, rclone), against the same real servers on loopback, in one run. Medians of
# REPEATS runs; ratios are throughput ftpman / tool (above 1: ftpman is faster).
#
#   benches/run.sh [SIZE_MIB=1024] [REPEATS=3]
#   WORKLOADS="1 2 3 5 6" PROTOCOLS="sftp ftp ftps" benches/run.sh ...   (a subset)
#
# Workloads: 1 one file up and down (with 4: peak RSS), 2 a tree of 2,000 files of 16 KiB down,
# 3 site to site SFTP -> FTP, 5 the scheduler with 10,000 jobs, 6 the machine's limits, 7 the web
# API over 100,000 runs and 1,000,000 run files (SQLite and PostgreSQL), 8 the 2,000-file tree
# through a job run from Python and from the CLI, 9 100,000 jobs on three nodes sharing one
# PostgreSQL (each fire once), 10 one file over SFTP with a 10 ms round trip.
# Writes benches/results/*.md and prints them.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/services.sh
source scripts/lib/test-servers.sh

size_mib=${1:-1024}
reps=${2:-3}
workloads=${WORKLOADS:-"1 2 3 5 6 7 8 9 10"}
protocols=${PROTOCOLS:-"sftp ftp ftps"}
has() { [[ " $workloads " == *" $1 "* ]]; }

for pkg in curl lftp rclone iperf3; do command -v "$pkg" >/dev/null || apt_install "$pkg"; done
command -v sftp >/dev/null || apt_install openssh-client
[ -x /usr/bin/time ] || apt_install time

log "building ftpman-bench (release)"
cargo build --release --quiet -p ftpman-benches
bench_bin=$PWD/target/release/ftpman-bench

work=$(mktemp -d /tmp/ftpman-bench.XXXXXX)
chmod 755 "$work"
trap 'stop_test_servers "$work/servers"; rm -rf "$work" "/home/${FTPMAN_TEST_USER:-x}/bench" "/home/${FTPMAN_TEST_KEY_USER:-x}/bench"' EXIT
mkdir -p "$work/servers" "$work/trash"
trash=$work/trash
start_test_servers "$work/servers" >/dev/null
S=$work/servers
pw=$FTPMAN_TEST_PASSWORD
ssh_opts="-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -i $S/id_ed25519"
# The cipher ftpman negotiates first (AES-128-GCM); OpenSSH's own default is ChaCha20-Poly1305.
# Workload 1 runs sftp and lftp both ways, so a row compares like with like.
gcm_opts="$ssh_opts -c aes128-gcm@openssh.com"
rclone_pw=$(rclone obscure "$pw")
export RCLONE_CONFIG=/dev/null
mkdir -p benches/results

for u in "$FTPMAN_TEST_USER" "$FTPMAN_TEST_KEY_USER"; do
  mkdir -p "/home/$u/bench"
  chown "$u:$u" "/home/$u/bench"
done
remote_dir() { if [ "$1" = sftp ]; then echo "/home/$FTPMAN_TEST_KEY_USER/bench"; else echo "/home/$FTPMAN_TEST_USER/bench"; fi; }
port_of() { case $1 in sftp) echo "$FTPMAN_TEST_SSH_PORT";; ftp) echo "$FTPMAN_TEST_FTP_PORT";; ftps) echo "$FTPMAN_TEST_FTPS_PORT";; esac; }
owner_of() { if [ "$1" = sftp ]; then echo "$FTPMAN_TEST_KEY_USER"; else echo "$FTPMAN_TEST_USER"; fi; }
rclone_remote() {
  case $1 in
    sftp) echo ":sftp,host=127.0.0.1,port=$FTPMAN_TEST_SSH_PORT,user=$FTPMAN_TEST_KEY_USER,key_file=$S/id_ed25519:" ;;
    ftp) echo ":ftp,host=127.0.0.1,port=$FTPMAN_TEST_FTP_PORT,user=$FTPMAN_TEST_USER,pass=$rclone_pw:" ;;
    ftps) echo ":ftp,host=127.0.0.1,port=$FTPMAN_TEST_FTPS_PORT,user=$FTPMAN_TEST_USER,pass=$rclone_pw,explicit_tls=true,no_check_certificate=true:" ;;
  esac
}
# lftp_open PROTOCOL [SSH OPTIONS]: the commands that open a session (sftp: over ssh with these
# options, by default $ssh_opts).
lftp_open() {
  local settings="set net:max-retries 1; set cmd:fail-exit yes;" port; port=$(port_of "$1")
  case $1 in
    sftp) echo "$settings set sftp:connect-program 'ssh -a -x ${2:-$ssh_opts}'; open -u $FTPMAN_TEST_KEY_USER, sftp://127.0.0.1:$port" ;;
    ftp) echo "$settings set ftp:ssl-allow no; open -u $FTPMAN_TEST_USER,$pw ftp://127.0.0.1:$port" ;;
    ftps) echo "$settings set ftp:ssl-force yes; set ftp:ssl-protect-data yes; set ssl:verify-certificate no; open -u $FTPMAN_TEST_USER,$pw ftp://127.0.0.1:$port" ;;
  esac
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

# measure NAME CMD... : runs CMD reps times; appends "NAME<TAB>median seconds<TAB>max RSS KiB" to $results
measure() {
  local name=$1 cmd=$2 check=${3:-true} times=() rss=()
  for _ in $(seq 1 "$reps"); do
    eval "${PREPARE:-true}"
    sync
    if ! /usr/bin/time -f "%e %M" -o "$work/time" bash -c "$cmd" > "$work/out" 2>&1; then
      echo "FAILED: $name: $(tail -n 3 "$work/out")" >&2
      continue
    fi
    if ! eval "$check"; then echo "WRONG RESULT: $name" >&2; continue; fi
    read -r secs kib < "$work/time"
    times+=("$secs"); rss+=("$kib")
  done
  [ ${#times[@]} -gt 0 ] || return 0
  printf '%s\t%s\t%s\n' "$name" "$(printf '%s\n' "${times[@]}" | median)" "$(printf '%s\n' "${rss[@]}" | sort -n | tail -n 1)" >> "$results"
}

# table TITLE : prints the rows of $results whose name starts with a group, with ratios to ftpman
table() {
  awk -F'\t' -v mib="$2" '
    { split($1, p, "|"); group = p[1]; tool = p[2]; key[NR] = group; tl[NR] = tool; t[NR] = $2; m[NR] = $3
      if (tool == "ftpman") base[group] = $2 }
    END {
      print "| case | tool | seconds | MiB/s | peak RSS MiB | ftpman / tool |"
      print "|---|---|---:|---:|---:|---:|"
      for (i = 1; i <= NR; i++) {
        r = (tl[i] == "ftpman" || base[key[i]] == "") ? "-" : sprintf("%.2fx", t[i] / base[key[i]])
        rate = (mib > 0 && t[i] > 0) ? sprintf("%.0f", mib / t[i]) : "-"
        printf "| %s | %s | %s | %s | %.1f | %s |\n", key[i], tl[i], t[i], rate, m[i] / 1024, r
      }
    }' "$results"
}

header() {
  echo "$(date -u +%Y-%m-%d), commit $(git rev-parse --short HEAD), $(nproc) cores, $(free -g | awk '/Mem/ {print $2}') GiB, loopback; median of ${reps}."
  echo "Servers: $(/usr/sbin/sshd -V 2>&1 | head -n1 | cut -d, -f1), vsftpd $(dpkg-query -W -f '${Version}' vsftpd 2>/dev/null)."
  echo "Peers: $(curl -V | head -n1 | cut -d' ' -f1-2), $(ssh -V 2>&1 | cut -d, -f1), lftp $(lftp --version | head -n1 | awk '{print $4}'), $(rclone version | head -n1)."
}

# --- Workload 1 (and 4): one file up and down --------------------------------------------------
if has 1; then
  log "workload 1: one ${size_mib} MiB file up and down"
  head -c "$((size_mib * 1024 * 1024))" /dev/urandom > "$work/src.bin"
  chmod 644 "$work/src.bin"
  expected=$(stat -c %s "$work/src.bin")
  results=$work/w1.tsv; : > "$results"
  for proto in $protocols; do
    rdir=$(remote_dir "$proto"); port=$(port_of "$proto")
    cp "$work/src.bin" "$rdir/remote.bin"; chown "$(owner_of "$proto"):" "$rdir/remote.bin"
    # down: into the disk, where ftpman syncs the file before it reports it done and the peers
    # do not; down, ram: into /dev/shm, the transfer without the disk.
    for case in down down-ram up; do
      dir=${case%-ram}
      if [ "$case" = down ]; then
        lf=$work/down.bin; rf=$rdir/remote.bin; PREPARE="rm -f $lf"; check='[ "$(stat -c %s '"$lf"')" = '"$expected"' ]'
        g="$proto down"
      elif [ "$case" = down-ram ]; then
        [ -d /dev/shm ] || continue
        lf=/dev/shm/ftpman-bench-down.bin; rf=$rdir/remote.bin; PREPARE="rm -f $lf"; check='[ "$(stat -c %s '"$lf"')" = '"$expected"' ]'
        g="$proto down, ram"
      else
        lf=$work/src.bin; rf=$rdir/up.bin; PREPARE="rm -f $rf"; check='[ "$(stat -c %s '"$rf"')" = '"$expected"' ]'
        g="$proto up"
      fi
      measure "$g|ftpman" "$bench_bin copy $proto $dir $lf $rf" "$check"
      case $proto in
        sftp) curl_url="sftp://$FTPMAN_TEST_KEY_USER@127.0.0.1:$port$rf"; curl_opt="-k --key $S/id_ed25519 --pubkey $S/id_ed25519.pub" ;;
        ftp) curl_url="ftp://127.0.0.1:$port/$rf"; curl_opt="--user $FTPMAN_TEST_USER:$pw" ;;
        ftps) curl_url="ftp://127.0.0.1:$port/$rf"; curl_opt="--ssl-reqd -k --user $FTPMAN_TEST_USER:$pw" ;;
      esac
      # The same commands both ways, with the ends swapped.
      if [ "$dir" = down ]; then
        curl_io="-o $lf"; sftp_cmd="get $rf $lf"; lftp_cmd="get $rf -o $lf"; rclone_ends="'$(rclone_remote "$proto")$rf' $lf"
      else
        curl_io="-T $lf"; sftp_cmd="put $lf $rf"; lftp_cmd="put $lf -o $rf"; rclone_ends="$lf '$(rclone_remote "$proto")$rf'"
      fi
      measure "$g|curl" "curl -sS $curl_opt $curl_io $curl_url" "$check"
      if [ "$proto" = sftp ]; then
        echo "$sftp_cmd" > "$work/batch"
        measure "$g|sftp" "sftp -q $ssh_opts -P $port -b $work/batch $FTPMAN_TEST_KEY_USER@127.0.0.1" "$check"
        measure "$g|sftp, aes128-gcm" "sftp -q $gcm_opts -P $port -b $work/batch $FTPMAN_TEST_KEY_USER@127.0.0.1" "$check"
      fi
      measure "$g|lftp" "lftp -c \"$(lftp_open "$proto"); $lftp_cmd\"" "$check"
      [ "$proto" = sftp ] && measure "$g|lftp, aes128-gcm" "lftp -c \"$(lftp_open "$proto" "$gcm_opts"); $lftp_cmd\"" "$check"
      measure "$g|rclone" "rclone copyto $rclone_ends" "$check"
      # The file over several connections (FTP only down: it writes no segments): ftpman's
      # segments beside the one stream of the best peer above, with the same cipher (the same
      # measurement, repeated in this group for its ratio), and lftp's own segmented download.
      if [ "$proto" = sftp ] || [ "$dir" = down ]; then
        sg="$g, segments"
        measure "$sg|ftpman" "$bench_bin segmented $proto $dir $lf $rf" "$check"
        peer="curl"; [ "$proto" = sftp ] && peer="sftp, aes128-gcm"
        awk -F'\t' -v from="$g|$peer" -v to="$sg|$peer" 'BEGIN {OFS = FS} $1 == from {$1 = to; print}' "$results" >> "$results.copy"
        cat "$results.copy" >> "$results"; rm -f "$results.copy"
        [ "$dir" = down ] && measure "$sg|lftp pget -n 4" "lftp -c \"$(lftp_open "$proto" "$gcm_opts"); pget -n 4 $rf -o $lf\"" "$check"
      fi
    done
    rm -f "$rdir/remote.bin" "$rdir/up.bin" /dev/shm/ftpman-bench-down.bin
  done
  PREPARE=true
  { echo "# Workload 1: one ${size_mib} MiB file"; echo; header;
    echo "down: into ext4 under /tmp; ftpman syncs the file to the disk before it reports it done, the peers leave it in the page cache. down, ram: into /dev/shm. sftp and lftp run with OpenSSH's default cipher (ChaCha20-Poly1305) and, in the rows marked aes128-gcm, with the cipher ftpman negotiates."; echo; table w1 "$size_mib"; } > benches/results/w1-one-file.md
  cat benches/results/w1-one-file.md
fi

# --- Workload 2: a tree of 2,000 files of 16 KiB, down ----------------------------------------
# Into the disk, and into a RAM disk (/dev/shm) to read the tools apart from the file system.
# A rep's copy is moved aside, not deleted, until the whole run ends: ext4 without a journal
# (this VM's disk) will not reuse an inode freed in the last minute or five and scans past each
# one, so deleting 2,000 files before a rep, or before the next workload, made every tool's
# file creations slower.
if has 2; then
  log "workload 2: 2,000 files of 16 KiB in a tree"
  results=$work/w2.tsv; : > "$results"
  reps_w1=$reps; reps=$(( reps < 5 ? 5 : reps ))
  for proto in $(echo "$protocols" | tr ' ' '\n' | grep -v ftps); do
    rdir=$(remote_dir "$proto")/tree; port=$(port_of "$proto")
    for i in $(seq 0 1999); do
      d="$rdir/d$((i % 10))/e$((i % 7))"; mkdir -p "$d"; head -c 16384 /dev/urandom > "$d/f$i.bin"
    done
    chown -R "$(owner_of "$proto"):" "$rdir"
    for place in disk ram; do
      if [ "$place" = ram ]; then
        [ -d /dev/shm ] || continue
        base=$(mktemp -d /dev/shm/ftpman-bench.XXXXXX)
      else
        base=$work
      fi
      dest=$base/tree; spent=$base/spent; mkdir -p "$spent"
      PREPARE="[ -d $dest ] && mv $dest $spent/\$RANDOM\$RANDOM; mkdir -p $dest"
      check='[ "$(find '"$dest"' -type f | wc -l)" = 2000 ]'
      g="$proto tree, $place"
      measure "$g|ftpman" "$bench_bin tree $proto $rdir $dest 8" "$check"
      [ "$proto" = sftp ] && echo "get -r $rdir/. $dest" > "$work/batch" && measure "$g|sftp" "sftp -q $ssh_opts -P $port -b $work/batch $FTPMAN_TEST_KEY_USER@127.0.0.1" "$check"
      measure "$g|lftp" "lftp -c \"$(lftp_open "$proto"); mirror $rdir $dest\"" "$check"
      measure "$g|rclone" "rclone copy '$(rclone_remote "$proto")$rdir' $dest" "$check"
      if [ "$place" = ram ]; then rm -rf "$base"; else mv "$dest" "$trash/$proto-tree"; mv "$spent" "$trash/$proto-spent"; fi
    done
    mv "$rdir" "$trash/$proto-source"
  done
  PREPARE=true
  { echo "# Workload 2: 2,000 files of 16 KiB (31 MiB) in a tree, downloaded"; echo; header;
    echo "ftpman: one job, 8 files at once (--parallel 8), each file written under a temporary name, synced, renamed into place, its folder synced (syncs shared among the files waiting, see transports.md) and recorded in the ledger; peers with their defaults (rclone: 4 transfers). disk: into ext4 under /tmp; ram: into /dev/shm."; echo; table w2 31.25; } > benches/results/w2-many-files.md
  reps=$reps_w1
  cat benches/results/w2-many-files.md
fi

# --- Workload 3: site to site, SFTP -> FTP --------------------------------------------------
if has 3; then
  log "workload 3: site to site, SFTP -> FTP, ${size_mib} MiB"
  results=$work/w3.tsv; : > "$results"
  sdir=$(remote_dir sftp); fdir=$(remote_dir ftp)
  head -c "$((size_mib * 1024 * 1024))" /dev/urandom > "$sdir/s2s.bin"; chown "$FTPMAN_TEST_KEY_USER:" "$sdir/s2s.bin"
  expected=$(stat -c %s "$sdir/s2s.bin")
  PREPARE="rm -f $fdir/s2s.bin $work/stage.bin"
  check='[ "$(stat -c %s '"$fdir/s2s.bin"')" = '"$expected"' ]'
  g="sftp->ftp"
  measure "$g|ftpman" "$bench_bin s2s sftp $sdir/s2s.bin ftp $fdir/s2s.bin" "$check"
  echo "get $sdir/s2s.bin $work/stage.bin" > "$work/batch"
  measure "$g|sftp+curl" "sftp -q $ssh_opts -P $FTPMAN_TEST_SSH_PORT -b $work/batch $FTPMAN_TEST_KEY_USER@127.0.0.1 && curl -sS --user $FTPMAN_TEST_USER:$pw -T $work/stage.bin ftp://127.0.0.1:$FTPMAN_TEST_FTP_PORT/$fdir/s2s.bin" "$check"
  measure "$g|lftp" "lftp -c \"$(lftp_open sftp); get $sdir/s2s.bin -o $work/stage.bin\" && lftp -c \"$(lftp_open ftp); put $work/stage.bin -o $fdir/s2s.bin\"" "$check"
  measure "$g|rclone" "rclone copyto '$(rclone_remote sftp)$sdir/s2s.bin' '$(rclone_remote ftp)$fdir/s2s.bin'" "$check"
  PREPARE=true
  rm -f "$sdir/s2s.bin" "$fdir/s2s.bin"
  { echo "# Workload 3: site to site, SFTP -> FTP, ${size_mib} MiB"; echo; header;
    echo "ftpman streams from one server to the other; sftp+curl and lftp stage the file on disk; rclone streams too."; echo; table w3 "$size_mib"; } > benches/results/w3-site-to-site.md
  cat benches/results/w3-site-to-site.md
fi

# --- Workload 5: the scheduler ------------------------------------------------------------
if has 5; then
  log "workload 5: 10,000 jobs firing every minute (130 s), then 10,000 idle jobs (65 s)"
  busy=$($bench_bin scheduler 10000 130 '* * * * *')
  idle=$($bench_bin scheduler 10000 65 '0 0 1 1 *')
  field() { echo "$1" | tr ' ' '\n' | awk -F= -v k="$2" '$1 == k {print $2}'; }
  { echo "# Workload 5: the scheduler, 10,000 enabled jobs, embedded SQLite"; echo; header; echo
    echo "| case | fires | executed | lateness p50 ms | lateness p99 ms | lateness max ms | CPU s per minute | peak RSS MiB |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|"
    for pair in "every minute|$busy" "nothing due|$idle"; do
      name=${pair%%|*}; r=${pair#*|}
      printf '| %s | %s | %s | %s | %s | %s | %s | %.0f |\n' "$name" "$(field "$r" fires)" "$(field "$r" executed)" \
        "$(field "$r" lateness_p50_ms)" "$(field "$r" lateness_p99_ms)" "$(field "$r" lateness_max_ms)" \
        "$(field "$r" cpu_s_per_min)" "$(awk -v k="$(field "$r" peak_rss_kib)" 'BEGIN{print k/1024}')"
    done
    echo; echo "Lateness: a run's creation time minus the instant it was scheduled for. The fires of one instant are queued in one transaction that stamps them all with its start, so p50, p99 and max agree; execution follows as workers free up."
  } > benches/results/w5-scheduler.md
  cat benches/results/w5-scheduler.md
fi

# --- Workload 6: the machine's limits -----------------------------------------------------
if has 6; then
  log "workload 6: loopback TCP and cipher throughput"
  iperf3 -s -1 -B 127.0.0.1 -p 5299 >/dev/null 2>&1 &
  sleep 0.5
  tcp=$(iperf3 -c 127.0.0.1 -p 5299 -t 3 -J | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/8/2**20))')
  cipher() { openssl speed -seconds 2 -evp "$1" 2>/dev/null | tail -n 1 | awk '{print int($(NF-1) * 1000 / 2^20)}'; }
  { echo "# Workload 6: this machine's limits"; echo; header; echo
    echo "| limit | MiB/s |"; echo "|---|---:|"
    echo "| loopback TCP, one stream (iperf3) | $tcp |"
    echo "| AES-128-GCM, one core, 8 KiB blocks (openssl) | $(cipher aes-128-gcm) |"
    echo "| ChaCha20-Poly1305, one core, 8 KiB blocks (openssl) | $(cipher chacha20-poly1305) |"
  } > benches/results/w6-limits.md
  cat benches/results/w6-limits.md
fi

# --- Workload 8: one job from Python and from the CLI -------------------------------------
if has 8; then
  log "workload 8: the 2,000-file SFTP tree through run_job from Python and ftpman job run"
  cargo build --release --quiet -p ftpman-cli
  py_env=$work/py; python3 -m venv "$py_env"
  CARGO_TARGET_DIR="$PWD/target" "$py_env/bin/pip" install -q --disable-pip-version-check ./ftpman-py
  rdir=$(remote_dir sftp)/pytree
  for i in $(seq 0 1999); do
    d="$rdir/d$((i % 10))/e$((i % 7))"; mkdir -p "$d"; head -c 16384 /dev/urandom > "$d/f$i.bin"
  done
  chown -R "$(owner_of sftp):" "$rdir"
  export ENCRYPTION_KEY=NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ=
  w8db="sqlite://$work/w8.db"; dest=$work/w8-tree
  w8_setup() {
    rm -rf "$dest" "$work"/w8.db*; mkdir -p "$dest"
    "$PWD/target/release/ftpman" --db "$w8db" site add src --url "sftp://$FTPMAN_TEST_KEY_USER@127.0.0.1:$FTPMAN_TEST_SSH_PORT$rdir" \
      --key-file "$S/id_ed25519" --host-key "$FTPMAN_TEST_SSH_HOST_KEY" --max-connections 8 >/dev/null
    "$PWD/target/release/ftpman" --db "$w8db" site add dst --url "file://$dest" >/dev/null
    "$PWD/target/release/ftpman" --db "$w8db" job add tree --from src:/ --to dst:/ --recursive --parallel 8 >/dev/null
  }
  results=$work/w8.tsv; : > "$results"
  reps_w1=$reps; reps=$(( reps < 5 ? 5 : reps ))
  check='[ "$(find '"$dest"' -type f | wc -l)" = 2000 ]'
  PREPARE=w8_setup
  measure "tree|cli" "$PWD/target/release/ftpman --db $w8db job run tree" "$check"
  measure "tree|python" "$py_env/bin/python -c \"import ftpman; r = ftpman.Manager('$w8db').run_job('tree'); assert r.transferred == 2000, r\"" "$check"
  PREPARE=true; reps=$reps_w1
  cli_s=$(awk -F'\t' '$1 == "tree|cli" {print $2}' "$results")
  py_s=$(awk -F'\t' '$1 == "tree|python" {print $2}' "$results")
  { echo "# Workload 8: 2,000 files of 16 KiB over SFTP through one job, from Python and from the CLI"; echo; header; echo
    echo "| how | seconds (median) | peak RSS MiB | Python / CLI |"; echo "|---|---:|---:|---:|"
    awk -F'\t' -v cli="$cli_s" '{ split($1, p, "|"); printf "| %s | %s | %.1f | %s |\n", p[2], $2, $3 / 1024, (p[2] == "python" && cli > 0) ? sprintf("%.3f", $2 / cli) : "-" }' "$results"
    echo; echo "Each repeat on a fresh SQLite database: \`ftpman job run tree\` (release) against \`python -c 'ftpman.Manager(db).run_job(\"tree\")'\` (the wheel built in release), interpreter start and import included. Target: Python within 5% of the CLI."
  } > benches/results/w8-python.md
  unset ENCRYPTION_KEY
  cat benches/results/w8-python.md
  mv "$rdir" "$trash/pytree"
fi

# --- Workload 7: the web API over a long history ------------------------------------------
if has 7; then
  log "workload 7: GET /api/v1/runs and /api/v1/summary over 100,000 runs and 1,000,000 run files"
  ensure_postgres
  api_db="ftpman_bench_api_$$"
  pg_admin -c "DROP DATABASE IF EXISTS ${api_db}" >/dev/null 2>&1
  pg_admin -c "CREATE DATABASE ${api_db}" >/dev/null
  api_sqlite=$($bench_bin api "sqlite://$work/api.db" 100000 10 200)
  api_pg=$($bench_bin api "postgres://postgres@127.0.0.1:5432/${api_db}" 100000 10 200)
  pg_admin -c "DROP DATABASE IF EXISTS ${api_db} WITH (FORCE)" >/dev/null 2>&1 || true
  field() { echo "$1" | tr ' ' '\n' | awk -F= -v k="$2" '$1 == k {print $2}'; }
  { echo "# Workload 7: the web API, 100,000 runs and 1,000,000 run files in the store"; echo; header; echo
    echo "| store | runs?limit=50 p50 ms | p95 ms | a page deep in the history p50 ms | summary p50 ms | summary p95 ms | a run's files (200) p50 ms |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
    for pair in "SQLite (embedded)|$api_sqlite" "PostgreSQL (loopback)|$api_pg"; do
      name=${pair%%|*}; r=${pair#*|}
      printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$name" "$(field "$r" runs_p50_ms)" "$(field "$r" runs_p95_ms)" \
        "$(field "$r" runs_deep_p50_ms)" "$(field "$r" summary_p50_ms)" "$(field "$r" summary_p95_ms)" "$(field "$r" files_p50_ms)"
    done
    echo; echo "The dashboard's pages with the same history (milliseconds, median of 50 loads each; the page's HTML, as the browser's first request):"; echo
    echo "| page | SQLite (embedded) | PostgreSQL (loopback) |"; echo "|---|---:|---:|"
    run_page() { echo "$1" | tr ' ' '\n' | awk -F= '$1 ~ /^page_runs_[0-9]+_p50_ms$/ {print $2}'; }
    for row in "dashboard|page__p50_ms" "runs|page_runs_p50_ms" "runs, failed only|page_runs_status_failed_p50_ms" \
      "runs of one job, 7 days|page_runs_job_job_07_since_7d_p50_ms" "a run (its files)|RUN" "jobs|page_jobs_p50_ms" \
      "a job (its history)|page_jobs_job_07_p50_ms" "the job form|page_jobs_new_p50_ms" "sites|page_sites_p50_ms" \
      "logs|page_logs_p50_ms" "logs, warnings of a day|page_logs_level_warn_since_1d_p50_ms" "settings|page_settings_p50_ms"; do
      label=${row%%|*}; key=${row#*|}
      if [ "$key" = RUN ]; then a=$(run_page "$api_sqlite"); b=$(run_page "$api_pg")
      else a=$(field "$api_sqlite" "$key"); b=$(field "$api_pg" "$key"); fi
      printf '| %s | %s | %s |\n' "$label" "$a" "$b"
    done
    echo; echo "Target for pages: under 300 ms each (reported, not asserted)."
    echo; echo "200 requests each after 3 to warm up, one at a time, over loopback HTTP with a bearer token, in the same process as the server (\`ftpman-bench api\`). Target: under 50 ms at the median for the runs page and the summary."
  } > benches/results/w7-api.md
  cat benches/results/w7-api.md
fi

# --- Workload 9: 100,000 jobs on three nodes sharing one PostgreSQL ----------------------
if has 9; then
  cluster_jobs=${CLUSTER_JOBS:-100000}
  log "workload 9: ${cluster_jobs} jobs on three nodes sharing one PostgreSQL"
  ensure_postgres
  db="ftpman_bench_cluster_$$"
  pg_admin -c "CREATE DATABASE $db" >/dev/null
  url="postgres://postgres@127.0.0.1:5432/$db"
  seeded=$($bench_bin cluster-seed "$url" "$cluster_jobs" "$work/cluster")
  # PostgreSQL's processes' CPU seconds (utime + stime, in clock ticks of 1/100 s).
  pg_cpu() { for p in $(pgrep -x postgres); do cut -d' ' -f14,15 "/proc/$p/stat" 2>/dev/null || true; done | awk '{s += $1 + $2} END {print s / 100}'; }
  # nodes SECONDS PHASE: three node processes for SECONDS; their lines in $work/PHASE-N, and
  # the CPU PostgreSQL used meanwhile (sampled while the nodes' connections are still open).
  nodes() {
    local secs=$1 phase=$2 pg0 pg1
    local pids=()
    pg0=$(pg_cpu)
    for n in 1 2 3; do
      /usr/bin/time -f "%M" -o "$work/$phase-$n.rss" "$bench_bin" cluster-node "$url" "node-$n" "$secs" > "$work/$phase-$n" 2>"$work/$phase-$n.err" &
      pids+=($!)
    done
    sleep $((secs - 2)); pg1=$(pg_cpu)
    wait "${pids[@]}"
    echo "$pg0 $pg1" > "$work/$phase-pg"
  }
  # Nothing due: every job's cron is once a year.
  nodes 65 idle
  # Busy: spread over the hour (M * * * *, M = id mod 60), about JOBS/60 fires a minute, edited
  # in one statement as an operator's change would reach every node.
  pg_admin -d "$db" -c "UPDATE jobs SET schedule_expr = (id % 60) || ' * * * *', updated_at = (EXTRACT(EPOCH FROM now()) * 1000)::BIGINT" >/dev/null
  start=$(date -u +%s)
  from=$(( (start / 60 + 2) * 60 )); to=$((from + 180))
  nodes $((to - start + 20)) busy
  checked=$($bench_bin cluster-check "$url" "$(date -u -d @$from +%FT%TZ)" "$(date -u -d @$to +%FT%TZ)")
  pg_admin -c "DROP DATABASE $db WITH (FORCE)" >/dev/null
  field() { echo "$1" | tr ' ' '\n' | awk -F= -v k="$2" '$1 == k {print $2}'; }
  { echo "# Workload 9: ${cluster_jobs} jobs on three nodes sharing one PostgreSQL"; echo; header
    echo "PostgreSQL $(psql -V | awk '{print $3}') on the same machine; $(field "$seeded" seed_seconds) s to seed the jobs."; echo
    echo "| phase | node | CPU s per minute | after its first 15 s | CPU s to start | peak RSS MiB |"
    echo "|---|---|---:|---:|---:|---:|"
    for phase in idle busy; do
      for n in 1 2 3; do
        r=$(cat "$work/$phase-$n")
        printf '| %s | node-%s | %s | %s | %s | %.0f |\n' "$phase" "$n" "$(field "$r" cpu_s_per_min)" "$(field "$r" steady_cpu_s_per_min)" \
          "$(field "$r" start_cpu_s)" "$(awk '{print $1/1024}' "$work/$phase-$n.rss")"
      done
      read -r pg0 pg1 < "$work/$phase-pg"
      secs=65; [ "$phase" = busy ] && secs=$((to - start + 20))
      printf '| %s | PostgreSQL | %.2f | - | - | - |\n' "$phase" "$(awk -v a="$pg0" -v b="$pg1" -v s="$secs" 'BEGIN {print (b - a) * 60 / (s - 2)}')"
    done
    echo
    echo "Fires from $(date -u -d @$from +%H:%M) to $(date -u -d @$to +%H:%M) UTC (three minutes, every job's fire in them):"; echo
    echo "| expected | fired once | missed | twice | executed | lateness p50 ms | lateness p99 ms | lateness max ms | runs by node |"
    echo "|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$(field "$checked" expected)" "$(field "$checked" fired_once)" \
      "$(field "$checked" missed)" "$(field "$checked" twice)" "$(field "$checked" executed)" "$(field "$checked" lateness_p50_ms)" \
      "$(field "$checked" lateness_p99_ms)" "$(field "$checked" lateness_max_ms)" "$(field "$checked" by_node)"
  } > benches/results/w9-cluster.md
  cat benches/results/w9-cluster.md
  [ "$(field "$checked" missed)" = 0 ] && [ "$(field "$checked" twice)" = 0 ] || { echo "workload 9: fires missed or run twice" >&2; exit 1; }
fi

# --- Workload 10: one file over SFTP with a round trip ------------------------------------
if has 10; then
  rtt_ms=${RTT_MS:-10}
  log "workload 10: one ${size_mib} MiB file over SFTP with a ${rtt_ms} ms round trip"
  proxy_port=$((20000 + RANDOM % 20000))
  "$bench_bin" delay-proxy "$proxy_port" "$FTPMAN_TEST_SSH_PORT" "$((rtt_ms / 2))" > /dev/null 2>&1 &
  proxy_pid=$!
  sleep 1
  [ -f "$work/src.bin" ] || { head -c "$((size_mib * 1024 * 1024))" /dev/urandom > "$work/src.bin"; chmod 644 "$work/src.bin"; }
  expected=$(stat -c %s "$work/src.bin")
  results=$work/w10.tsv; : > "$results"
  rdir=$(remote_dir sftp)
  cp "$work/src.bin" "$rdir/remote.bin"; chown "$(owner_of sftp):" "$rdir/remote.bin"
  lftp_far=$(FTPMAN_TEST_SSH_PORT=$proxy_port lftp_open sftp "$gcm_opts")
  for dir in down up; do
    if [ "$dir" = down ]; then
      lf=/dev/shm/ftpman-bench-down.bin; rf=$rdir/remote.bin; PREPARE="rm -f $lf"; check='[ "$(stat -c %s '"$lf"')" = '"$expected"' ]'
      sftp_cmd="get $rf $lf"; lftp_cmd="pget -n 4 $rf -o $lf"; lftp_name="lftp pget -n 4, aes128-gcm"
    else
      lf=$work/src.bin; rf=$rdir/up.bin; PREPARE="rm -f $rf"; check='[ "$(stat -c %s '"$rf"')" = '"$expected"' ]'
      sftp_cmd="put $lf $rf"; lftp_cmd="put $lf -o $rf"; lftp_name="lftp, aes128-gcm"
    fi
    g="sftp $dir, ${rtt_ms} ms"
    # "ftpman": as a job moves a large file (in segments); "one connection": copy_file alone.
    measure "$g|ftpman" "FTPMAN_TEST_SSH_PORT=$proxy_port $bench_bin segmented sftp $dir $lf $rf" "$check"
    measure "$g|ftpman, one connection" "FTPMAN_TEST_SSH_PORT=$proxy_port $bench_bin copy sftp $dir $lf $rf" "$check"
    echo "$sftp_cmd" > "$work/batch"
    measure "$g|sftp, aes128-gcm" "sftp -q $gcm_opts -P $proxy_port -b $work/batch $FTPMAN_TEST_KEY_USER@127.0.0.1" "$check"
    measure "$g|$lftp_name" "lftp -c \"$lftp_far; $lftp_cmd\"" "$check"
  done
  PREPARE=true
  kill "$proxy_pid" 2>/dev/null || true
  rm -f "$rdir/remote.bin" "$rdir/up.bin" /dev/shm/ftpman-bench-down.bin
  { echo "# Workload 10: one ${size_mib} MiB file over SFTP with a ${rtt_ms} ms round trip"; echo; header
    echo "Every tool reaches sshd through \`ftpman-bench delay-proxy\`, which holds each byte $((rtt_ms / 2)) ms each way on loopback; all with AES-128-GCM. down: into /dev/shm."
    echo; table w10 "$size_mib"; } > benches/results/w10-round-trip.md
  cat benches/results/w10-round-trip.md
fi
