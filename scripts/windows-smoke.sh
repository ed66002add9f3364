#!/usr/bin/env bash
# Runs the Windows build of reader-bridge under Wine against a fake vpcd on loopback
# (tests/windows/wine_smoke.py): Winsock, %LOCALAPPDATA%, the console control handler and Windows
# file semantics, as Wine implements them. No Windows machine is available; this is the closest
# check the package registries allow (Debian's wine64 and mingw-w64). See docs/windows.md.
#
# Installs wine64 and gcc-mingw-w64-x86-64-win32 (Debian) and the Rust target
# x86_64-pc-windows-gnu when missing; exits 77 (SKIP in scripts/test.sh), saying why, when it
# cannot. Needs the Linux build of reader-bridge (cargo build) for comparison.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
SKIP_RC=77
WIN_TARGET=x86_64-pc-windows-gnu
WORK=$TARGET/wine
export WINEPREFIX=$WORK/prefix WINEDEBUG=-all

skip() {
  echo "!!! SKIP: $*" >&2
  echo "!!! The Windows build of reader-bridge is NOT run under Wine in this run." >&2
  exit "$SKIP_RC"
}

sudo_() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi; }

need=()
for p in wine64 gcc-mingw-w64-x86-64-win32; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]}"
  install_pkgs() { sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; }
  install_pkgs || { sudo_ apt-get update -qq && install_pkgs; } || skip "cannot install ${need[*]} (no apt, no root or no network)"
fi
WINE=
for w in /usr/lib/wine/wine64 "$(command -v wine64 || true)" "$(command -v wine || true)"; do
  if [ -n "$w" ] && [ -x "$w" ]; then WINE=$w; break; fi
done
[ -n "$WINE" ] || skip "no wine64 binary found"
if ! rustup target list --installed 2>/dev/null | grep -qx "$WIN_TARGET"; then
  rustup target add "$WIN_TARGET" || skip "cannot add the Rust target $WIN_TARGET"
fi
[ -x "$TARGET/debug/reader-bridge" ] || cargo build -p reader-bridge

cargo build --target "$WIN_TARGET" -p reader-bridge
mkdir -p "$WORK/bin"
cp "$TARGET/$WIN_TARGET/debug/reader-bridge.exe" "$WORK/bin/"
x86_64-w64-mingw32-gcc -shared -O2 -o "$WORK/bin/bcryptprimitives.dll" \
  tests/windows/bcryptprimitives.c tests/windows/bcryptprimitives.def -ladvapi32

rc=0
python3 tests/windows/wine_smoke.py "$WINE" "$WORK/bin/reader-bridge.exe" "$TARGET/debug/reader-bridge" || rc=$?
# Wine's server for this prefix lingers a few seconds after the last program; end it now.
WINESERVER=$(dirname "$WINE")/wineserver
[ -x "$WINESERVER" ] || WINESERVER=$(command -v wineserver || true)
[ -z "$WINESERVER" ] || "$WINESERVER" -k 2>/dev/null || true
exit "$rc"
