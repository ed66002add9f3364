#!/usr/bin/env bash
# Installs what is missing, starts pcscd with vpcd, builds and starts the reader bridge in the
# background, waits for the card and shows it. Stop everything with scripts/down.sh.
#   VCARD_STATE=PATH     the card's state file (default: the bridge's own default,
#                        $XDG_DATA_HOME/virtual-fido-card/state.bin or ~/.local/share/...)
#   VCARD_PROFILE=ID     card profile (reader-bridge --list-profiles)
#   VCARD_SLOT=0|1       vpcd slot: 0 = port 35963 "Virtual PCD 00 00", 1 = 35964 "Virtual PCD 00 01"
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
STATE_DIR=${STACK_STATE_DIR:-/tmp/vcard-stack}
export STACK_STATE_DIR=$STATE_DIR
SLOT=${VCARD_SLOT:-0}
case "$SLOT" in 0|1) ;; *) echo "up.sh: VCARD_SLOT must be 0 or 1" >&2; exit 2 ;; esac
PORT=$((35963 + SLOT))
READER="Virtual PCD 00 0$SLOT"
BRIDGE_PID=$STATE_DIR/bridge.pid
BRIDGE_LOG=$STATE_DIR/bridge.log
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}

# scripts/stack.sh reproduces shared/e2e/stack.sh (the tested reference) so the repository works
# on its own; both keep pcscd's PID in the same pidfile.
STACK=$ROOT/scripts/stack.sh
"$STACK" install
"$STACK" start

echo "up.sh: building reader-bridge and apdu-send (release)"
cargo build --release -q -p reader-bridge -p vcard-tools
BRIDGE=$TARGET/release/reader-bridge
APDU_SEND=$TARGET/release/apdu-send

mkdir -p "$STATE_DIR"
if [ -f "$BRIDGE_PID" ] && kill -0 "$(cat "$BRIDGE_PID")" 2>/dev/null; then
  echo "up.sh: the bridge is already running (pid $(cat "$BRIDGE_PID")); scripts/down.sh stops it"
else
  args=(run --vpcd "127.0.0.1:$PORT")
  [ -n "${VCARD_STATE:-}" ] && args+=(--state "$VCARD_STATE")
  [ -n "${VCARD_PROFILE:-}" ] && args+=(--profile "$VCARD_PROFILE")
  nohup "$BRIDGE" "${args[@]}" >"$BRIDGE_LOG" 2>&1 </dev/null &
  echo $! >"$BRIDGE_PID"
  echo "up.sh: started reader-bridge (pid $(cat "$BRIDGE_PID"), log $BRIDGE_LOG)"
fi

# Wait for pcscd to see the card (SCardGetStatusChange inside apdu-send --wait).
if ! "$APDU_SEND" --reader "$READER" --wait 15; then
  echo "up.sh: the card did not appear in \"$READER\"; bridge log:" >&2
  tail -20 "$BRIDGE_LOG" >&2 || true
  exit 1
fi

echo
echo "== opensc-tool -l"
opensc-tool -l
IDX=$(opensc-tool -l | awk -v r="$READER" 'index($0, r) { print $1; exit }')
echo "== ATR (opensc-tool -r $IDX -a)"
opensc-tool -r "$IDX" -a
echo "== SELECT of the FIDO applet (A0000006472F0001)"
"$APDU_SEND" --reader "$READER" 00A4040008A0000006472F000100 || true
echo
echo "The virtual FIDO2 card is in \"$READER\". Use it from any PC/SC client, e.g.:"
echo "  python3 -c 'from fido2.pcsc import CtapPcscDevice; print(list(CtapPcscDevice.list_devices(\"Virtual PCD\")))'"
echo "Logs: $BRIDGE_LOG (more detail: RUST_LOG=debug). Stop it all with: scripts/down.sh"
