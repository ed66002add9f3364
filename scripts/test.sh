#!/usr/bin/env bash
# Everything CI checks, on any Debian machine: installs the stack's packages when missing, then
#   cargo fmt --check; cargo clippy (-D warnings); no import cycle between the modules of a crate
#   (scripts/check-module-cycles.py); every file the docs name exists (scripts/check-doc-paths.py);
#   the Windows build of reader-bridge and the tools
#   (clippy for the MSVC and GNU targets: type- and lint-checked) and the GNU reader-bridge.exe
#   run under Wine against a fake vpcd (scripts/windows-smoke.sh); cargo test
#   --workspace (unit, proptest and the real-stack integration tests); pytest tests/python
#   (python-fido2 / pyscard through the stack) and examples/rp-ci (the RP CI example suite); the
#   applet's tests and a real-stack subset again with the opt-in aws-lc crypto backend (feature
#   asm-crypto);
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
SKIPPED=0
STARTED_PCSCD=0
# A step that cannot run here (and says why, loudly) exits with this: SKIP in the summary, not FAIL.
SKIP_RC=77

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
    if [ "$rc" = "$SKIP_RC" ]; then
      SUMMARY+=("SKIP  $name (could not run here: see its output)")
      SKIPPED=$((SKIPPED + 1))
    else
      SUMMARY+=("FAIL  $name (exit $rc, $((SECONDS - t0)) s)")
      FAILED=1
    fi
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

# The bridge, the tools and the state storage (its file permissions are platform code) for Windows
# (docs/windows.md): no Windows machine here, so each target is
# type- and lint-checked (clippy -D warnings, tests included), not linked nor run. The targets are
# added when missing; if rustup cannot add one (no network), the step says so and is a SKIP.
WINDOWS_TARGETS=(x86_64-pc-windows-msvc x86_64-pc-windows-gnu)
check_windows() {
  local target rc=0
  for target in "${WINDOWS_TARGETS[@]}"; do
    if ! rustup target list --installed 2>/dev/null | grep -qx "$target"; then
      echo "adding the Rust target $target"
      if ! rustup target add "$target"; then
        echo "!!! SKIP: cannot add the Rust target $target (no rustup or no network)." >&2
        echo "!!! The Windows build of reader-bridge and vcard-tools is NOT checked in this run." >&2
        return "$SKIP_RC"
      fi
    fi
    echo "--- $target"
    cargo clippy --target "$target" -p reader-bridge -p vcard-tools -p card-storage --all-targets \
      -- -D warnings || rc=$?
  done
  return "$rc"
}

# examples/rp-ci: the pytest suite a relying party copies (its own conftest: a bridge with --control).
run_rp_ci() {
  RP_CI_BRIDGE="$TARGET/debug/reader-bridge" RP_CI_START_PCSCD=0 python3 -m pytest -q examples/rp-ci
}

# The opt-in assembly crypto backend (fido-applet feature asm-crypto: aws-lc-rs, C code): clippy,
# the applet's whole test suite and known-answer tests computing with it (and the backends
# against each other: tests/algorithms.rs), then a bridge built with it (--version must name it)
# through the real stack for the python-fido2 registration / sign-in and Ed25519 tests. The
# default build (pure Rust) is rebuilt at the end so target/debug/reader-bridge stays the default.
test_asm_crypto() {
  local rc=0
  cargo clippy -p fido-applet -p reader-bridge --features asm-crypto --all-targets -- -D warnings || return $?
  cargo test -p fido-applet --features asm-crypto --no-fail-fast || rc=$?
  cargo build -p reader-bridge --features asm-crypto || return $?
  local version
  version=$("$TARGET/debug/reader-bridge" --version) || return $?
  echo "$version"
  case "$version" in
    *"crypto backend: aws-lc;"*) ;;
    *) echo "reader-bridge --version does not name the aws-lc backend" >&2; rc=1 ;;
  esac
  VCARD_BRIDGE_BIN="$TARGET/debug/reader-bridge" python3 -m pytest -q \
    tests/python/test_algorithms.py tests/python/test_ctap2.py || rc=$?
  cargo build -p reader-bridge || rc=$?
  return "$rc"
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
step "no import cycles between modules" python3 scripts/check-module-cycles.py
step "documents name existing files" python3 scripts/check-doc-paths.py
step "windows cross-check (clippy, ${WINDOWS_TARGETS[*]})" check_windows
step "cargo build (bins for the real-stack tests)" cargo build --workspace --bins
# The Windows build of reader-bridge run under Wine against a fake vpcd (SKIP when Wine cannot be had).
step "windows smoke (the .exe under Wine)" scripts/windows-smoke.sh
step "start pcscd + vpcd" start_pcscd
step "cargo test --workspace" cargo test --workspace --no-fail-fast
step "pytest tests/python" run_pytest
step "pytest examples/rp-ci" run_rp_ci
step "cargo test (asm-crypto backend)" test_asm_crypto
# A short libFuzzer smoke run of every cargo-fuzz target (longer: FUZZ_SECONDS=600 scripts/fuzz.sh).
step "cargo fuzz (smoke, ${FUZZ_SECONDS:=15} s per target)" env FUZZ_SECONDS="$FUZZ_SECONDS" scripts/fuzz.sh

echo
echo "=== summary"
printf '%s\n' "${SUMMARY[@]}"
if [ "$FAILED" = 0 ] && [ "$SKIPPED" = 0 ]; then echo "all steps passed"
elif [ "$FAILED" = 0 ]; then echo "all steps that ran passed; $SKIPPED SKIPPED (see above)"
else echo "SOME STEPS FAILED"; fi
exit "$FAILED"
