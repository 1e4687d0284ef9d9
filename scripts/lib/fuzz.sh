# Short runs of every fuzz target (cargo fuzz, libFuzzer; fuzz/fuzz_targets/), each from the
# corpus in fuzz/corpus/ with new inputs kept out of the repository. A crash fails the run and
# leaves its input in fuzz/artifacts/. The stable toolchain builds them with RUSTC_BOOTSTRAP
# (cargo fuzz asks for nightly flags) and no sanitizer: the targets check for panics, wrong
# results and hangs, which is what safe Rust can get wrong. Sourced by scripts/test.sh.

run_fuzz_smoke() {
  local seconds=$1 status=0 t work
  command -v cargo-fuzz >/dev/null || cargo install --quiet --locked cargo-fuzz
  (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz build --dev -s none --target-dir ../target/fuzz) || return 1
  work=$(mktemp -d /tmp/ftpman-fuzz.XXXXXX)
  for t in $(cd fuzz && cargo fuzz list); do
    mkdir -p "$work/$t"
    # Every input that once crashed a target is run again first (fuzz/regressions/).
    local seeds=("corpus/$t")
    [ -d "fuzz/regressions/$t" ] && seeds+=("regressions/$t")
    if (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run --dev -s none --target-dir ../target/fuzz "$t" \
          "$work/$t" "${seeds[@]}" -- -max_total_time="$seconds" -timeout=10) > "$work/$t.log" 2>&1; then
      echo "fuzz $t: $(grep -o 'Done [0-9]* runs' "$work/$t.log" | tail -1), no crash"
    else
      echo "fuzz $t FAILED:"; tail -40 "$work/$t.log"; status=1
    fi
  done
  rm -rf "$work"
  return "$status"
}
