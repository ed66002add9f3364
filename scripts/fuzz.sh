#!/usr/bin/env bash
# Short libFuzzer runs of every cargo-fuzz target in fuzz/ (a CI smoke run; run longer locally
# with FUZZ_SECONDS=600). Installs cargo-fuzz from crates.io when missing; skips, saying so, only
# if it cannot be installed. Uses the machine's stable toolchain with RUSTC_BOOTSTRAP=1 (cargo-fuzz
# passes nightly -Z flags). Seeds come from fuzz/corpus/<target> (written by the in-process tests:
#   cargo test -p fido-applet --test bad_input -- --ignored write_fuzz_corpus);
# new inputs go to a scratch corpus, so the committed seeds stay as they are. A crash fails the
# script and leaves the input in fuzz/artifacts/<target>/.
#
#   scripts/fuzz.sh [TARGET...]      FUZZ_SECONDS=25  FUZZ_SANITIZER=none|address  FUZZ_JOBS=1
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT/fuzz"
SECONDS_PER_TARGET=${FUZZ_SECONDS:-25}
SANITIZER=${FUZZ_SANITIZER:-none}
TARGET_DIR=${FUZZ_TARGET_DIR:-${CARGO_TARGET_DIR:-$ROOT/target}/fuzz}
export RUSTC_BOOTSTRAP=1
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

if ! command -v cargo-fuzz >/dev/null 2>&1 && ! cargo fuzz --version >/dev/null 2>&1; then
  echo "cargo-fuzz is missing: cargo install cargo-fuzz --locked"
  if ! cargo install cargo-fuzz --locked; then
    echo "SKIPPED: cargo-fuzz could not be installed from crates.io; no fuzzing was done" >&2
    exit 0
  fi
fi

declare -A MAX_LEN=([apdu_decode]=70000 [chaining]=8192 [ctap_msg]=4096 [card_session]=8192 [state_loader]=16384)
if [ "$#" -gt 0 ]; then TARGETS=("$@"); else TARGETS=(apdu_decode chaining ctap_msg card_session state_loader); fi

echo "=== cargo fuzz build (sanitizer $SANITIZER, target dir $TARGET_DIR)"
cargo fuzz build -O --sanitizer "$SANITIZER" --target-dir "$TARGET_DIR"

SCRATCH=$(mktemp -d)
trap 'rm -rf "$SCRATCH"' EXIT
declare -a SUMMARY=()
FAILED=0
for t in "${TARGETS[@]}"; do
  mkdir -p "$SCRATCH/$t" "corpus/$t"
  seeds=$(find "corpus/$t" -type f | wc -l)
  echo
  echo "=== $t: ${SECONDS_PER_TARGET}s, $seeds seeds"
  log="$SCRATCH/$t.log"
  if cargo fuzz run -O --sanitizer "$SANITIZER" --target-dir "$TARGET_DIR" "$t" \
      "$SCRATCH/$t" "corpus/$t" -- \
      -max_total_time="$SECONDS_PER_TARGET" -max_len="${MAX_LEN[$t]:-4096}" \
      -rss_limit_mb=1024 -timeout=10 -print_final_stats=1 >"$log" 2>&1; then
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo '?')
    units=$(find "$SCRATCH/$t" -type f | wc -l)
    SUMMARY+=("PASS  $t: $runs executions in ${SECONDS_PER_TARGET}s, coverage $cov, $seeds seeds + $units new inputs")
  else
    tail -40 "$log"
    SUMMARY+=("FAIL  $t: see fuzz/artifacts/$t/")
    FAILED=1
  fi
done

echo
echo "=== fuzz summary"
printf '%s\n' "${SUMMARY[@]}"
exit "$FAILED"
