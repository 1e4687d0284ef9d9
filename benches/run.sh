#!/usr/bin/env bash
# Transfer benchmark: one file up and down over SFTP, FTP and explicit FTPS, with ftpman and the
# tools a user would pick instead (curl, OpenSSH sftp, lftp), all against the same real servers
# on loopback, in one run. Reports median seconds, peak RSS, and throughput ratios ftpman/peer.
#
#   benches/run.sh [SIZE_MIB=1024] [REPEATS=3]
#
# Writes the table to benches/results/transfers.md as well as to standard output.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/services.sh
source scripts/lib/test-servers.sh

size_mib=${1:-1024}
reps=${2:-3}

for tool in curl sftp lftp; do
  command -v "$tool" >/dev/null || apt_install "$tool"
done
[ -x /usr/bin/time ] || apt_install time

log "building ftpman-bench (release)"
cargo build --release --quiet -p ftpman-benches
bench_bin=$PWD/target/release/ftpman-bench

work=$(mktemp -d /tmp/ftpman-bench.XXXXXX)
chmod 755 "$work"
trap 'stop_test_servers "$work/servers"; rm -rf "$work" /home/${FTPMAN_TEST_USER}/bench /home/${FTPMAN_TEST_KEY_USER}/bench' EXIT
mkdir -p "$work/servers"
start_test_servers "$work/servers" >/dev/null
S=$work/servers

for u in "$FTPMAN_TEST_USER" "$FTPMAN_TEST_KEY_USER"; do
  mkdir -p "/home/$u/bench"
  chown "$u:$u" "/home/$u/bench"
done

log "making a ${size_mib} MiB test file"
head -c "$((size_mib * 1024 * 1024))" /dev/urandom > "$work/src.bin"
chmod 644 "$work/src.bin"
for u in "$FTPMAN_TEST_USER" "$FTPMAN_TEST_KEY_USER"; do
  cp "$work/src.bin" "/home/$u/bench/remote.bin"
  chown "$u:$u" "/home/$u/bench/remote.bin"
done
expected=$(stat -c %s "$work/src.bin")

pw=$FTPMAN_TEST_PASSWORD
ssh_opts="-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -i $S/id_ed25519"

# remote_dir PROTO -> the remote folder of that protocol's user
remote_dir() { if [ "$1" = sftp ]; then echo "/home/$FTPMAN_TEST_KEY_USER/bench"; else echo "/home/$FTPMAN_TEST_USER/bench"; fi; }
port_of() { case $1 in sftp) echo "$FTPMAN_TEST_SSH_PORT";; ftp) echo "$FTPMAN_TEST_FTP_PORT";; ftps) echo "$FTPMAN_TEST_FTPS_PORT";; esac; }

# command_for TOOL PROTO DIRECTION LOCAL REMOTE -> the command line that moves one file
command_for() {
  local tool=$1 proto=$2 dir=$3 local_file=$4 remote=$5 port; port=$(port_of "$proto")
  case $tool in
    ftpman) echo "$bench_bin copy $proto $dir $local_file $remote" ;;
    curl)
      local url tls=""
      case $proto in
        sftp) url="sftp://$FTPMAN_TEST_KEY_USER@127.0.0.1:$port$remote"; tls="-k --key $S/id_ed25519 --pubkey $S/id_ed25519.pub" ;;
        ftp) url="ftp://127.0.0.1:$port/$remote" ;;
        ftps) url="ftp://127.0.0.1:$port/$remote"; tls="--ssl-reqd -k" ;;
      esac
      local auth=""; [ "$proto" = sftp ] || auth="--user $FTPMAN_TEST_USER:$pw"
      if [ "$dir" = down ]; then echo "curl -sS $tls $auth -o $local_file $url"; else echo "curl -sS $tls $auth -T $local_file $url"; fi ;;
    sftp)
      [ "$proto" = sftp ] || return 1
      if [ "$dir" = down ]; then echo "get $remote $local_file" > "$work/batch"; else echo "put $local_file $remote" > "$work/batch"; fi
      echo "sftp -q $ssh_opts -P $port -b $work/batch $FTPMAN_TEST_KEY_USER@127.0.0.1" ;;
    lftp)
      local open_cmd settings="set net:max-retries 1; set cmd:fail-exit yes;"
      case $proto in
        sftp) settings="$settings set sftp:connect-program 'ssh -a -x $ssh_opts';"
              open_cmd="open -u $FTPMAN_TEST_KEY_USER, sftp://127.0.0.1:$port" ;;
        ftp) settings="$settings set ftp:ssl-allow no;"; open_cmd="open -u $FTPMAN_TEST_USER,$pw ftp://127.0.0.1:$port" ;;
        ftps) settings="$settings set ftp:ssl-force yes; set ftp:ssl-protect-data yes; set ssl:verify-certificate no;"
              open_cmd="open -u $FTPMAN_TEST_USER,$pw ftp://127.0.0.1:$port" ;;
      esac
      if [ "$dir" = down ]; then echo "lftp -c \"$settings $open_cmd; get $remote -o $local_file\"";
      else echo "lftp -c \"$settings $open_cmd; put $local_file -o $remote\""; fi ;;
  esac
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

results=$work/results.tsv
: > "$results"
for proto in sftp ftp ftps; do
  for dir in down up; do
    for tool in ftpman curl sftp lftp; do
      [ "$tool" = sftp ] && [ "$proto" != sftp ] && continue
      times=(); rss=()
      for _ in $(seq 1 "$reps"); do
        rdir=$(remote_dir "$proto")
        if [ "$dir" = down ]; then local_file=$work/down.bin; remote=$rdir/remote.bin; rm -f "$local_file"
        else local_file=$work/src.bin; remote=$rdir/up.bin; rm -f "$remote"; fi
        cmd=$(command_for "$tool" "$proto" "$dir" "$local_file" "$remote")
        sync
        if ! /usr/bin/time -f "%e %M" -o "$work/time" bash -c "$cmd" > "$work/out" 2>&1; then
          echo "FAILED: $tool $proto $dir: $(tail -n 3 "$work/out")" >&2
          continue
        fi
        if [ "$dir" = down ]; then got=$(stat -c %s "$work/down.bin"); else got=$(stat -c %s "$remote"); fi
        if [ "$got" != "$expected" ]; then echo "WRONG SIZE: $tool $proto $dir: $got" >&2; continue; fi
        read -r secs kib < "$work/time"
        times+=("$secs"); rss+=("$kib")
      done
      [ ${#times[@]} -gt 0 ] || continue
      t=$(printf '%s\n' "${times[@]}" | median)
      m=$(printf '%s\n' "${rss[@]}" | sort -n | tail -n 1)
      printf '%s\t%s\t%s\t%s\t%s\n' "$proto" "$dir" "$tool" "$t" "$m" >> "$results"
    done
  done
done

mkdir -p benches/results
out=benches/results/transfers.md
{
  echo "# Transfer benchmark"
  echo
  echo "$(date -u +%Y-%m-%d), $(nproc) cores, $(free -g | awk '/Mem/ {print $2}') GiB, loopback; file ${size_mib} MiB; median of ${reps}."
  echo "Servers: $(/usr/sbin/sshd -V 2>&1 | head -n1), vsftpd $(dpkg-query -W -f '${Version}' vsftpd 2>/dev/null)."
  echo "Peers: $(curl -V | head -n1 | cut -d' ' -f1-2), $(ssh -V 2>&1 | cut -d, -f1), lftp $(lftp --version | head -n1 | awk '{print $4}')."
  echo
  echo "| protocol | direction | tool | seconds | MiB/s | peak RSS MiB | ftpman / tool (throughput) |"
  echo "|---|---|---|---:|---:|---:|---:|"
  while IFS=$'\t' read -r proto dir tool t kib; do
    base=$(awk -F'\t' -v p="$proto" -v d="$dir" '$1==p && $2==d && $3=="ftpman" {print $4}' "$results")
    ratio=$(awk -v a="$t" -v b="$base" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')
    mibs=$(awk -v s="$size_mib" -v t="$t" 'BEGIN { if (t > 0) printf "%.0f", s / t; else print "n/a" }')
    printf '| %s | %s | %s | %s | %s | %.1f | %s |\n' "$proto" "$dir" "$tool" "$t" "$mibs" "$(awk -v k="$kib" 'BEGIN{print k/1024}')" "$([ "$tool" = ftpman ] && echo "-" || echo "${ratio}x")"
  done < "$results"
} | tee "$out"
