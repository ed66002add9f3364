"""The runtime control endpoint and user presence through the real stack: pcscd + vpcd + the
reader-bridge binary started with --control, driven over its Unix socket in JSON lines (as a
test in any language would) and with `reader-bridge ctl`; the host is python-fido2 or raw
pyscard APDUs."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import threading
import time
from contextlib import contextmanager

import pytest
from fido2.ctap import CtapError
from fido2.ctap2 import Ctap2

from conftest import (
    ES256, Control, _bridge_binary, cdh, connect, open_device, start_bridge,
    stop_bridge, transmit, user, wait_for_card,
)

SELECT_FIDO = "00A4040008A0000006472F000100"
UP_NEEDED = 0x02
RP = {"id": "example.com", "name": "Example"}


@pytest.fixture
def controlled(pcsc_context, slot, tmp_path):
    """A bridge with a control endpoint and a trace; yields (bridge, control, trace path)."""
    sock = tmp_path / "ctl.sock"
    trace = tmp_path / "trace.jsonl"
    bridge = start_bridge(pcsc_context, slot, tmp_path / "state.bin", tmp_path / "bridge.log",
                          "--seed", "17", "--control", str(sock), "--trace", str(trace))
    try:
        yield bridge, Control(sock), trace
    finally:
        stop_bridge(pcsc_context, bridge)
    assert not sock.exists(), "the bridge removes its socket when it stops"


def presence_lines(trace) -> list[dict]:
    lines = [json.loads(line) for line in trace.read_text().splitlines()]
    return [line for line in lines if line["event"] == "presence"]


@contextmanager
def selected(reader: str):
    """A raw connection to the card in `reader` with the FIDO applet selected; disconnected at
    the end."""
    conn = connect(reader)
    try:
        assert transmit(conn, SELECT_FIDO)[1] == 0x9000
        yield conn
    finally:
        conn.disconnect()


def make_credential(ctap2: Ctap2, name: str = "alice"):
    return ctap2.make_credential(cdh(name.encode()), RP, user(name), ES256)


def in_thread(fn):
    """Runs fn in a thread; returns a function that joins it and returns (result, error)."""
    out = {}

    def run():
        try:
            out["result"] = fn()
        except Exception as e:  # noqa: BLE001 - handed to the test
            out["error"] = e

    thread = threading.Thread(target=run, daemon=True)
    thread.start()

    def join(timeout=30):
        thread.join(timeout)
        assert not thread.is_alive(), "the host call did not return"
        return out.get("result"), out.get("error")

    return join


def test_the_socket_is_private_and_status_reports_the_card(controlled):
    bridge, ctl, _ = controlled
    mode = os.stat(ctl.path).st_mode
    assert stat.S_ISSOCK(mode)
    assert stat.S_IMODE(mode) == 0o600, oct(mode)
    status = ctl.ok("status")
    assert status["slot"] is not None
    assert status["present"] is True and status["connected"] is True
    assert status["presence"] == {"policy": "auto", "pending": None}
    assert status["counters"]["power_ups"] >= 1
    assert "pending" in status["faults"]
    # Errors are JSON too.
    assert ctl("fly")["ok"] is False
    assert ctl("fault", fault={"sw": "6F00"})["ok"] is False


def test_faults_armed_and_reset_through_the_endpoint(controlled):
    bridge, ctl, trace = controlled
    armed = ctl.ok("fault", fault={"on": {"ins": "10"}, "action": {"status": "6F00"}})
    assert [f["id"] for f in ctl.ok("status")["faults"]["pending"]] == [armed["id"]]
    with selected(bridge.reader) as conn:
        assert transmit(conn, "80100000010400")[1] == 0x6F00, "the fault fired on getInfo"
        sw = transmit(conn, "80100000010400")[1]
        assert sw == 0x9000 or sw >> 8 == 0x61, f"once: {sw:04X}"
    assert ctl.ok("status")["faults"]["pending"] == []
    ctl.ok("fault", fault={"on": {"apdu": 100}, "action": {"status": "6A80"}})
    assert ctl.ok("reset-faults")["disarmed"] == 1
    assert ctl.ok("status")["faults"]["pending"] == []
    events = [json.loads(line)["event"] for line in trace.read_text().splitlines()]
    assert "fault" in events


def test_remove_insert_and_tap_as_pcscd_sees_them(pcsc_context, controlled):
    bridge, ctl, _ = controlled
    ctap2 = Ctap2(open_device(bridge.reader))
    ctap2.get_info()
    before = ctl.ok("status")["counters"]

    assert ctl.ok("remove") == {"ok": True, "slot": ctl.ok("status")["slot"], "present": False}
    wait_for_card(bridge.reader, present=False, timeout_s=5)
    status = ctl.ok("status")
    assert (status["present"], status["connected"], status["powered"]) == (False, False, False)
    time.sleep(1.0)
    with pytest.raises(TimeoutError):
        wait_for_card(bridge.reader, present=True, timeout_s=0.5)

    inserted = ctl.ok("insert")
    assert inserted["connected"] is True and inserted["powered"] is True, inserted
    assert wait_for_card(bridge.reader, present=True, timeout_s=5) == bridge.atr
    after_insert = ctl.ok("status")["counters"]
    assert after_insert["connections"] == before["connections"] + 1
    assert after_insert["power_ups"] > before["power_ups"]

    tapped = ctl.ok("tap", out_ms=1000)
    assert tapped["powered"] is True, tapped
    after_tap = ctl.ok("status")["counters"]
    assert after_tap["connections"] == after_insert["connections"] + 1
    assert after_tap["power_ups"] > after_insert["power_ups"]
    # The card works after the tap (a new connection: the old handle saw the removal).
    device = open_device(bridge.reader)
    try:
        assert Ctap2(device).get_info().aaguid
    finally:
        device.close()
    assert ctl.ok("status")["counters"]["apdus"] > after_tap["apdus"]


def test_deny_gives_operation_denied(controlled):
    bridge, ctl, trace = controlled
    assert ctl.ok("presence", mode="deny")["policy"] == "deny"
    device = open_device(bridge.reader)
    try:
        with pytest.raises(CtapError) as e:
            make_credential(Ctap2(device))
        assert e.value.code == CtapError.ERR.OPERATION_DENIED
    finally:
        device.close()
    outcomes = [(p["request"], p["outcome"]) for p in presence_lines(trace)]
    assert ("makeCredential", "denied") in outcomes


def test_manual_touch_with_status_updates_python_fido2(controlled):
    """python-fido2 sets P1 = 80 and polls NFCCTAP_GETRESPONSE while the card answers 91 00."""
    bridge, ctl, trace = controlled
    ctl.ok("presence", mode="manual")
    device = open_device(bridge.reader)
    try:
        ctap2 = Ctap2(device)
        assert ctl("touch")["ok"] is False, "nothing pending: refused"
        statuses = []
        join = in_thread(lambda: ctap2.make_credential(
            cdh(b"alice"), RP, user("alice"), ES256, on_keepalive=statuses.append))
        touched = ctl.ok("touch", wait_ms=10000)
        assert touched["request"] == "makeCredential"
        result, error = join()
        assert error is None, error
        assert result.auth_data.flags & 0x01, "UP"
        assert UP_NEEDED in statuses, "the card said it waits for the user"
    finally:
        device.close()
    lines = presence_lines(trace)
    assert [(p["outcome"], p["touched"]) for p in lines if p["request"] == "makeCredential"] == [
        ("pending", False), ("granted", True)]


def test_getresponse_polling_with_raw_apdus(controlled):
    bridge, ctl, _ = controlled
    ctl.ok("presence", mode="manual")
    with selected(bridge.reader) as conn:
        # authenticatorSelection (0x0B) tests presence: NFCCTAP_MSG with P1 = 80.
        assert transmit(conn, "80108000010B00") == (bytes([UP_NEEDED]), 0x9100)
        for _ in range(3):
            assert transmit(conn, "8011000000") == (bytes([UP_NEEDED]), 0x9100)
        pending = ctl.ok("status")["presence"]["pending"]
        assert pending["request"] == "selection" and pending["decided"] is None
        ctl.ok("touch")
        assert transmit(conn, "8011000000") == (b"\x00", 0x9000)
        assert transmit(conn, "8011000000")[1] == 0x6985, "answered once"
        # Cancel while waiting.
        assert transmit(conn, "80108000010B00")[1] == 0x9100
        assert transmit(conn, "8011110000") == (b"\x2d", 0x9000)
        assert ctl.ok("status")["presence"]["pending"] is None


def test_manual_touch_held_for_a_client_that_does_not_poll(controlled):
    """P1 = 00: the card must not answer 91 00; the bridge holds the answer until the touch."""
    bridge, ctl, _ = controlled
    ctl.ok("presence", mode="manual")
    device = open_device(bridge.reader)
    device.use_nfcctap_getresponse = False
    try:
        ctap2 = Ctap2(device)
        t0 = time.monotonic()
        join = in_thread(lambda: make_credential(ctap2))
        # The request is pending while the host's transmit is still waiting for its answer.
        ctl.wait_for_presence_request()
        time.sleep(0.5)
        ctl.ok("touch")
        result, error = join()
        assert error is None, error
        assert result.auth_data.flags & 0x01, "UP"
        assert time.monotonic() - t0 >= 0.5, "the answer waited for the touch"
    finally:
        device.close()


@pytest.mark.parametrize("status_updates", [True, False])
def test_wait_times_out_with_user_action_timeout(controlled, status_updates):
    bridge, ctl, trace = controlled
    assert ctl.ok("presence", mode="wait", ms=400)["policy"] == "wait 400"
    device = open_device(bridge.reader)
    device.use_nfcctap_getresponse = status_updates
    try:
        t0 = time.monotonic()
        with pytest.raises(CtapError) as e:
            make_credential(Ctap2(device))
        elapsed = time.monotonic() - t0
        assert e.value.code == CtapError.ERR.USER_ACTION_TIMEOUT
        assert 0.35 <= elapsed < 5, elapsed
    finally:
        device.close()
    assert [p["outcome"] for p in presence_lines(trace)][-2:] == ["pending", "timeout"]


def test_u2f_answers_6985_until_touched(controlled):
    bridge, ctl, _ = controlled
    ctl.ok("presence", mode="manual")
    with selected(bridge.reader) as conn:
        register = "00010300" + "40" + "C4" * 32 + "A5" * 32 + "00"
        assert transmit(conn, register)[1] == 0x6985
        assert transmit(conn, register)[1] == 0x6985, "the retry still waits"
        assert ctl.ok("status")["presence"]["pending"]["request"] == "U2F_REGISTER"
        ctl.ok("touch")
        data, sw = transmit(conn, register)
        if sw >> 8 == 0x61:  # the answer is longer than 256 bytes: GET RESPONSE
            while sw >> 8 == 0x61:
                more, sw = transmit(conn, f"00C00000{sw & 0xFF:02X}")
                data += more
        assert sw == 0x9000 and data[0] == 0x05


def test_removed_while_a_request_waits(pcsc_context, controlled):
    bridge, ctl, trace = controlled
    ctl.ok("presence", mode="manual")
    device = open_device(bridge.reader)
    device.use_nfcctap_getresponse = False
    join = in_thread(lambda: make_credential(Ctap2(device)))
    try:
        ctl.wait_for_presence_request()
        ctl.ok("remove")
        _, error = join()
        assert error is not None, "the host saw the card go"
        wait_for_card(bridge.reader, present=False, timeout_s=5)
    finally:
        try:
            device.close()
        except Exception:  # noqa: BLE001 - the card is gone
            pass
    assert presence_lines(trace)[-1]["outcome"] == "abandoned"
    ctl.ok("presence", mode="auto")
    assert ctl.ok("insert")["powered"] is True
    wait_for_card(bridge.reader, present=True, timeout_s=5)
    device = open_device(bridge.reader)
    try:
        # Nothing was stored by the abandoned request: the card has no credential for the RP.
        with pytest.raises(CtapError) as e:
            Ctap2(device).get_assertion(RP["id"], cdh(b"x"))
        assert e.value.code == CtapError.ERR.NO_CREDENTIALS
    finally:
        device.close()


def test_ctl_command_line(controlled, tmp_path):
    bridge, ctl, _ = controlled

    def run(*args):
        return subprocess.run([str(_bridge_binary()), "ctl", "--control", str(ctl.path), *args],
                              capture_output=True, text=True, timeout=30)

    out = run("status")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["presence"]["policy"] == "auto"
    out = run("presence", "wait", "1500")
    assert out.returncode == 0 and json.loads(out.stdout)["policy"] == "wait 1500"
    out = run("touch")
    assert out.returncode == 1 and "no presence request" in json.loads(out.stdout)["error"]
    out = run("fault", '{"on": {"apdu": 50}, "action": {"status": "6F00"}}')
    assert out.returncode == 0 and json.loads(out.stdout)["id"] == 1, out.stdout
    out = run("reset-faults")
    assert out.returncode == 0 and json.loads(out.stdout)["disarmed"] == 1
    out = run("fault", "not json")
    assert out.returncode == 2 and "JSON" in out.stderr
    out = run("status", "--slot", "9")
    assert out.returncode == 1 and "no card in slot 9" in out.stdout
    missing = subprocess.run([str(_bridge_binary()), "ctl", "--control",
                              str(tmp_path / "nothing.sock"), "status"],
                             capture_output=True, text=True, timeout=30)
    assert missing.returncode == 2 and "cannot reach" in missing.stderr


def test_a_second_bridge_refuses_a_live_socket_and_a_file(pcsc_context, controlled, tmp_path):
    bridge, ctl, _ = controlled
    for path in (ctl.path, tmp_path / "state.bin"):
        out = subprocess.run([str(_bridge_binary()), "run", "--vpcd", "127.0.0.1:1",
                              "--state", str(tmp_path / "other.bin"), "--control", str(path)],
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 1, out.stderr
        assert "--control" in out.stderr
    assert ctl.ok("status")["present"] is True, "the live bridge is untouched"


def test_several_cards_each_command_names_its_slot(pcsc_context, both_slots, tmp_path):
    sock = tmp_path / "ctl.sock"
    log = tmp_path / "bridge.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [str(_bridge_binary()), "run", "--slots", "0-1", "--state", f"{tmp_path}/",
             "--seed", "5", "--control", str(sock)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=out)
    readers = ["Virtual PCD 00 00", "Virtual PCD 00 01"]
    try:
        for reader in readers:
            wait_for_card(reader, present=True)
        ctl = Control(sock)
        deadline = time.monotonic() + 10
        while not sock.exists():
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        refused = ctl("status")
        assert refused["ok"] is False and "slots 0, 1" in refused["error"], refused
        assert [ctl.ok("status", slot=n)["slot"] for n in (0, 1)] == [0, 1]

        # Presence and removal are per card.
        ctl.ok("presence", mode="manual", slot=0)
        assert ctl.ok("status", slot=1)["presence"]["policy"] == "auto"
        ctl.ok("remove", slot=1)
        wait_for_card(readers[1], present=False, timeout_s=5)
        wait_for_card(readers[0], present=True, timeout_s=1)
        assert ctl.ok("status", slot=0)["present"] is True
        assert ctl.ok("insert", slot=1)["powered"] is True
        wait_for_card(readers[1], present=True, timeout_s=5)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)
        for reader in readers:
            try:
                wait_for_card(reader, present=False, timeout_s=5)
            except TimeoutError:
                pass
