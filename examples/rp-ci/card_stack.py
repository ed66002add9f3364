"""The card side of the suite, without pytest: the bridge's control endpoint client, waiting
for a card in a PC/SC reader and stopping a bridge. Copy it with conftest.py (this project's own tests/python import it
from here too, so there is one copy to keep right).
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
from pathlib import Path

from smartcard.scard import (
    SCARD_E_TIMEOUT,
    SCARD_S_SUCCESS,
    SCARD_SCOPE_USER,
    SCARD_STATE_EMPTY,
    SCARD_STATE_PRESENT,
    SCARD_STATE_UNAWARE,
    SCardEstablishContext,
    SCardGetStatusChange,
    SCardReleaseContext,
)


def wait_for_card(reader: str, present: bool, timeout_s: float = 15) -> bytes:
    """Waits (SCardGetStatusChange, bounded) for a card in `reader`, or for none; returns the
    card's ATR (b"" once the reader is empty). Raises TimeoutError when nothing changed."""
    hresult, ctx = SCardEstablishContext(SCARD_SCOPE_USER)
    if hresult != SCARD_S_SUCCESS:
        raise RuntimeError(f"cannot reach pcscd: {hresult:#x}")
    try:
        deadline = time.monotonic() + timeout_s
        states = [(reader, SCARD_STATE_UNAWARE)]
        while True:
            left_ms = max(0, int((deadline - time.monotonic()) * 1000))
            hresult, new_states = SCardGetStatusChange(ctx, left_ms, states)
            if hresult == SCARD_E_TIMEOUT:
                raise TimeoutError(
                    f"{reader}: no {'card' if present else 'removal'} in {timeout_s} s")
            if hresult != SCARD_S_SUCCESS:
                raise RuntimeError(f"SCardGetStatusChange: {hresult:#x}")
            _name, event, atr = new_states[0]
            if present and event & SCARD_STATE_PRESENT:
                return bytes(atr)
            if not present and event & SCARD_STATE_EMPTY:
                return b""
            states = [(reader, event)]
    finally:
        SCardReleaseContext(ctx)


def stop_bridge_process(process: subprocess.Popen, reader: str, timeout_s: float = 15) -> None:
    """Stops a reader-bridge by its PID (SIGTERM; killed after 10 s) and waits (at most
    `timeout_s`) until pcscd saw its card leave `reader`."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    try:
        wait_for_card(reader, present=False, timeout_s=timeout_s)
    except TimeoutError:
        pass


class Control:
    """The bridge's control endpoint: one JSON request per line, one JSON response per line."""

    def __init__(self, path: Path):
        self.path = path

    def __call__(self, cmd: str, **fields) -> dict:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(30)
            s.connect(str(self.path))
            s.sendall((json.dumps({"cmd": cmd, **fields}) + "\n").encode())
            data = b""
            while not data.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        return json.loads(data)

    def ok(self, cmd: str, **fields) -> dict:
        """Sends a command that must succeed."""
        response = self(cmd, **fields)
        assert response.get("ok") is True, response
        return response

    def wait_for_presence_request(self, timeout_s: float = 10) -> dict:
        """Waits until the card waits for a touch; returns the pending request."""
        deadline = time.monotonic() + timeout_s
        while True:
            pending = self.ok("status")["presence"]["pending"]
            if pending and pending["decided"] is None:
                return pending
            assert time.monotonic() < deadline, "the card never asked for presence"
            time.sleep(0.02)
