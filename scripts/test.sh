#!/usr/bin/env bash
# Everything CI checks, on any Debian machine: installs the stack's packages when missing, then
#   cargo fmt --check; cargo clippy (-D warnings); cargo test --workspace (unit, proptest and the
#   real-stack integration tests); pytest tests/python (python-fido2 / pyscard through the stack);
#   a short cargo-fuzz smoke run of every fuzz target (scripts/fuzz.sh, FUZZ_SECONDS per target).
# pcscd is started for the tests and, if this script started it, stopped at the end (by PID).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export STACK_STATE_DIR=${STACK_STATE_DIR:-/tmp/vcard-stack}
PCSCD_PID=$STACK_STATE_DIR/pcscd.pid
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

declare -a SUMMARY=()
FAILED=0
STARTED_PCSCD=0

cleanup() {
  if [ "$STARTED_PCSCD" = 1 ]; then scripts/stack.sh stop || true; fi
}
trap cleanup EXIT

step() {
  local name=$1; shift
  local t0=$SECONDS
  echo
  echo "=== $name: $*"
  if "$@"; then
    SUMMARY+=("PASS  $name ($((SECONDS - t0)) s)")
  else
    local rc=$?
    SUMMARY+=("FAIL  $name (exit $rc, $((SECONDS - t0)) s)")
    FAILED=1
  fi
}

start_pcscd() {
  if [ -f "$PCSCD_PID" ] && kill -0 "$(cat "$PCSCD_PID")" 2>/dev/null; then
    echo "pcscd (pid $(cat "$PCSCD_PID")) from an earlier scripts/stack.sh start: reusing it"
    scripts/stack.sh start || return $?
  else
    scripts/stack.sh start || return $?
    if [ -f "$PCSCD_PID" ]; then STARTED_PCSCD=1; echo "started pcscd (pid $(cat "$PCSCD_PID"))"; fi
  fi
}

run_pytest() {
  local rc=0
  VCARD_BRIDGE_BIN="$TARGET/debug/reader-bridge" python3 -m pytest -q tests/python || rc=$?
  if [ "$rc" = 5 ]; then echo "pytest collected no tests, but tests/python has tests: failing" >&2; fi
  return "$rc"
}

step "install stack packages" scripts/stack.sh install
step "cargo fmt --check" cargo fmt --all --check
step "cargo clippy" cargo clippy --workspace --all-targets -- -D warnings
step "cargo build (bins for the real-stack tests)" cargo build --workspace --bins
step "start pcscd + vpcd" start_pcscd
step "cargo test --workspace" cargo test --workspace --no-fail-fast
step "pytest tests/python" run_pytest
# A short libFuzzer smoke run of every cargo-fuzz target (longer: FUZZ_SECONDS=600 scripts/fuzz.sh).
step "cargo fuzz (smoke, ${FUZZ_SECONDS:=15} s per target)" env FUZZ_SECONDS="$FUZZ_SECONDS" scripts/fuzz.sh

echo
echo "=== summary"
printf '%s\n' "${SUMMARY[@]}"
if [ "$FAILED" = 0 ]; then echo "all steps passed"; else echo "SOME STEPS FAILED"; fi
exit "$FAILED"
