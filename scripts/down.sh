#!/usr/bin/env bash
# Stops what scripts/up.sh started, by the PIDs in its pidfiles: the bridge, then pcscd (only if
# scripts/stack.sh started it).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
STATE_DIR=${STACK_STATE_DIR:-/tmp/vcard-stack}
export STACK_STATE_DIR=$STATE_DIR
BRIDGE_PID=$STATE_DIR/bridge.pid
if [ -f "$BRIDGE_PID" ]; then
  pid=$(cat "$BRIDGE_PID")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then echo "down.sh: bridge $pid ignored SIGTERM; killing" >&2; kill -KILL "$pid"; fi
    echo "down.sh: stopped reader-bridge (pid $pid)"
  fi
  rm -f "$BRIDGE_PID"
fi
"$ROOT/scripts/stack.sh" stop
echo "down.sh: stopped pcscd (if scripts/stack.sh had started it)"
