#!/usr/bin/env python3
"""The Windows build of reader-bridge, run under Wine against a fake vpcd on loopback.

No Windows machine is available to the project; Wine runs the real PE binary (built for
x86_64-pc-windows-gnu) on Windows' APIs as Wine implements them: Winsock for the vpcd socket,
the Windows environment for %LOCALAPPDATA%, the console control handler, Windows file semantics
for the state file. What Wine cannot show (the real Windows kernel, the vpcd driver, Windows'
FIDO stack) stays untested: see docs/windows.md.

Usage: wine_smoke.py WINE REAL_EXE LINUX_EXE   (WINEPREFIX set by the caller)
Prints one line per check and "N passed, N failed" at the end; exits 1 if any failed.
"""

import glob
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

WINE, EXE, LINUX_EXE = sys.argv[1:4]
PREFIX = os.environ["WINEPREFIX"]
FIDO_SELECT = bytes.fromhex("00A4040008A0000006472F000100")
GET_INFO = bytes.fromhex("80100000010400")
RESULTS = []


def check(name, ok, detail=""):
    RESULTS.append(ok)
    print(f"{'PASS' if ok else 'FAIL'}  {name}" + (f": {detail}" if detail and not ok else ""))


def wine(*args, **kw):
    return subprocess.run([WINE, EXE, *args], capture_output=True, timeout=120, **kw)


def windows_path(path):
    # Wine maps the Unix root to drive Z:.
    return "Z:" + path.replace("/", "\\")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def send(conn, payload):
    conn.sendall(struct.pack(">H", len(payload)) + payload)


def recv(conn):
    def exactly(n):
        buf = b""
        while len(buf) < n:
            chunk = conn.recv(n - len(buf))
            if not chunk:
                raise EOFError("the bridge closed the connection")
            buf += chunk
        return buf

    (n,) = struct.unpack(">H", exactly(2))
    return exactly(n)


def start_bridge(vpcd, state, extra=()):
    return subprocess.Popen(
        [WINE, EXE, "-v", "run", "--vpcd", vpcd, "--state", windows_path(state), *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def stop(proc):
    if proc.poll() is None:
        proc.kill()
    try:
        _, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        return ""
    return err.decode(errors="replace")


def accept(listener, timeout=60):
    listener.settimeout(timeout)
    conn, _ = listener.accept()
    conn.settimeout(30)
    return conn


def main():
    out = wine("--list-profiles")
    linux = subprocess.run([LINUX_EXE, "--list-profiles"], capture_output=True, timeout=60)
    check(
        "--list-profiles prints what the Linux build prints",
        out.returncode == 0 and out.stdout.replace(b"\r\n", b"\n") == linux.stdout,
        out.stderr.decode(errors="replace")[-500:],
    )

    for old in glob.glob(f"{PREFIX}/drive_c/users/*/AppData/Local/virtual-fido-card"):
        for f in os.listdir(old):
            os.remove(os.path.join(old, f))
    out = wine("export-attestation")
    made = glob.glob(f"{PREFIX}/drive_c/users/*/AppData/Local/virtual-fido-card/state.bin")
    check(
        "the default state file is %LOCALAPPDATA%\\virtual-fido-card\\state.bin",
        out.returncode == 0 and b"BEGIN CERTIFICATE" in out.stdout and len(made) == 1,
        f"exit {out.returncode}, files {made}, {out.stderr.decode(errors='replace')[-300:]}",
    )

    tmp = tempfile.mkdtemp(prefix="wine-smoke-")
    state = os.path.join(tmp, "state.bin")
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    proc = start_bridge(f"127.0.0.1:{port}", state, ["--seed", "7"])
    try:
        conn = accept(listener)
        send(conn, b"\x01")  # power on
        send(conn, b"\x04")  # get ATR
        atr = recv(conn)
        check("power on and get ATR over Winsock", atr[:1] == b"\x3b", atr.hex())
        send(conn, FIDO_SELECT)
        r = recv(conn)
        check(
            "SELECT of the FIDO AID",
            r[-2:] == b"\x90\x00" and r[:-2] in (b"U2F_V2", b"FIDO_2_0"),
            r.hex(),
        )
        # Length and payload in two sends, further apart than the bridge's 200 ms idle poll:
        # the read timeout (SO_RCVTIMEO on Windows) must not cut the message in half.
        conn.sendall(struct.pack(">H", len(GET_INFO)))
        time.sleep(0.5)
        conn.sendall(GET_INFO)
        r = recv(conn)
        check(
            "getInfo split across a pause longer than the idle poll",
            r[-2:] in (b"\x90\x00",) or r[-2:-1] == b"\x61",
            r.hex(),
        )
        check("getInfo answers CTAP2_OK", r[:1] == b"\x00", r.hex())
        conn.close()
        conn = accept(listener)
        send(conn, b"\x01")
        send(conn, FIDO_SELECT)
        r = recv(conn)
        check("reconnects after vpcd drops the connection", r[-2:] == b"\x90\x00", r.hex())
        conn.close()
        check("state file written", os.path.getsize(state) > 0)
        # Ctrl+C: Wine turns SIGINT into CTRL_C_EVENT for the console control handler.
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
        err = stop(proc)
        check(
            "Ctrl+C (SIGINT under Wine) stops the bridge, exit 0",
            proc.returncode == 0 and "shutting down" in err,
            f"exit {proc.returncode}: {err[-500:]}",
        )
    except (OSError, EOFError) as e:
        check("bridge session", False, f"{e!r}: {stop(proc)[-1500:]}")
    finally:
        stop(proc)
        listener.close()

    port = free_port()
    proc = start_bridge(f"localhost:{port}", os.path.join(tmp, "s2.bin"))
    time.sleep(8)
    err = stop(proc)
    head = f"cannot connect to vpcd at localhost:{port} ("
    check(
        "a refused vpcd is reported once with its causes, and retried",
        err.count(head) == 1
        and "connection refused" in err
        and err.count(f"vpcd at localhost:{port} still unreachable") >= 2
        and "BixVReader" in err
        # The Windows build leaves out the Linux (pcscd) and WSL2 causes.
        and "pcscd" not in err,
        err[-1500:],
    )

    passed = sum(RESULTS)
    print(f"{passed} passed, {len(RESULTS) - passed} failed")
    return 0 if all(RESULTS) else 1


if __name__ == "__main__":
    sys.exit(main())
