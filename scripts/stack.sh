#!/usr/bin/env bash
# The real host stack for the virtual card: pcscd with vsmartcard's vpcd reader driver.
# (Same logic as shared/e2e/stack.sh, kept here so the repository works on its own.)
#   stack.sh install   apt/pip packages (idempotent): pcscd, vsmartcard-vpcd, pcsc-tools, opensc,
#                      libpcsclite-dev + pkg-config (for the `pcsc` crate), swig (to build pyscard),
#                      python fido2 + pyscard + pytest (real clients)
#   stack.sh start     start pcscd in the background (idempotent); waits until vpcd listens on 35963
#   stack.sh stop      stop the pcscd this script started (by the PID in its pidfile)
#   stack.sh status    print readers and listening vpcd ports
#   stack.sh up        install + start
# vpcd (configured by /etc/reader.conf.d/vpcd) listens on TCP 35963 (reader "Virtual PCD 00 00") and
# 35964 ("Virtual PCD 00 01"); the bridge connects to it on 127.0.0.1.
set -euo pipefail
STATE_DIR=${STACK_STATE_DIR:-/tmp/vcard-stack}
PIDFILE=$STATE_DIR/pcscd.pid
LOG=$STATE_DIR/pcscd.log
PY_PACKAGES=(${PY_FIDO2:-fido2==2.2.1} ${PY_PYSCARD:-pyscard==2.3.1} ${PY_PYTEST:-pytest==9.2.0})

sudo_() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

install() {
  local need=()
  for p in pcscd vsmartcard-vpcd pcsc-tools opensc libpcsclite-dev pkg-config swig gcc; do
    dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
  done
  if [ ${#need[@]} -gt 0 ]; then
    echo "stack.sh: installing ${need[*]}" >&2
    sudo_ apt-get update -qq
    sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  fi
  if ! python3 - <<'PY' 2>/dev/null
import importlib.metadata as m, sys
ok = m.version("fido2") == "2.2.1" and m.version("pyscard") == "2.3.1"
import pytest, smartcard, fido2  # noqa: F401
sys.exit(0 if ok else 1)
PY
  then
    echo "stack.sh: installing ${PY_PACKAGES[*]} (pip builds pyscard)" >&2
    python3 -m pip install -q "${PY_PACKAGES[@]}"
  fi
}

# vpcd listens on 35963 (0x8C7B). Checked without connecting: vpcd takes any connection for a card.
listening() {
  if command -v ss >/dev/null; then ss -ltn 2>/dev/null | grep -q ':35963 '
  else awk '$4 == "0A" && $2 ~ /:8C7B$/ { found = 1 } END { exit !found }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
  fi
}

ours_running() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

start() {
  mkdir -p "$STATE_DIR"
  sudo_ mkdir -p /run/pcscd
  if ours_running && listening; then return 0; fi
  if listening; then echo "stack.sh: a pcscd not started by this script already serves vpcd; using it" >&2; return 0; fi
  if [ -S /run/pcscd/pcscd.comm ] && [ -f /run/pcscd/pcscd.pid ] && kill -0 "$(cat /run/pcscd/pcscd.pid)" 2>/dev/null; then
    echo "stack.sh: a pcscd without vpcd is running (pid $(cat /run/pcscd/pcscd.pid)); stop it first (is vsmartcard-vpcd installed?)" >&2
    exit 1
  fi
  # -f: stay in the foreground of our background job, so $! is pcscd itself.
  pcscd -f >"$LOG" 2>&1 &
  echo $! >"$PIDFILE"
  for _ in $(seq 1 100); do listening && return 0; sleep 0.1; done
  echo "stack.sh: pcscd did not open vpcd's port 35963; its log ($LOG):" >&2
  tail -20 "$LOG" >&2 || true
  exit 1
}

stop() {
  if [ -f "$PIDFILE" ]; then
    local pid; pid=$(cat "$PIDFILE")
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid"
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$PIDFILE"
  fi
}

status() {
  if listening; then echo "vpcd listening on 35963/35964"; else echo "vpcd not listening"; fi
  if command -v opensc-tool >/dev/null; then opensc-tool -l || true; fi
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  up) install; start ;;
  *) echo "usage: $0 install|start|stop|status|up" >&2; exit 2 ;;
esac
