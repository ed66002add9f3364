"""Fault injection and card-quirk personas through the real stack: python-fido2 2.2.1 -> pyscard
-> pcscd -> vpcd -> reader-bridge (`--faults FILE`, `--quirk`).

A power cut during makeCredential leaves the state of before it, a card pulled before its answer
the state of after it; either way the state file loads again and the card goes on working, and
apdu-replay reproduces the faulted session from the trace. A short-only card answering in small
pieces with T=0-style quirks still registers and signs in with python-fido2."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest
from conftest import _bridge_binary, open_device, start_bridge, stop_bridge, wait_for_card
from fido2.ctap2 import Ctap2

RP = {"id": "example.com", "name": "Example"}
ES256 = [{"type": "public-key", "alg": -7}]


def make_rk(ctap: Ctap2, name: str):
    return ctap.make_credential(
        hashlib.sha256(name.encode()).digest(), RP,
        {"id": name.encode(), "name": name, "displayName": name}, ES256,
        options={"rk": True})


def remaining(reader: str) -> int:
    device = open_device(reader)
    try:
        return Ctap2(device).get_info().remaining_disc_creds
    finally:
        device.close()


def replay(trace: Path, *extra: str) -> str:
    binary = _bridge_binary().parent / "apdu-replay"
    done = subprocess.run([str(binary), str(trace), "--seed", "13", *extra],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"replay differs:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def faulted_make_credential(pcsc_context, slot, tmp_path: Path, action: str, *extra: str,
                            name: str = "alice") -> tuple[int, int]:
    """A card (bridge options `extra`) whose first makeCredential (for user `name`) meets
    `action`: returns (remaining discoverable credentials before, after the fault), checked
    again after a restart on the same state."""
    faults = tmp_path / "faults.toml"
    faults.write_text(f'[[fault]]\non = {{ ctap = "makeCredential" }}\naction = {action}\n')
    state, trace = tmp_path / "state.bin", tmp_path / "trace.jsonl"
    bridge = start_bridge(pcsc_context, slot, state, tmp_path / "bridge.log", "--seed", "13",
                          "--trace", str(trace), "--faults", str(faults), *extra)
    try:
        before = remaining(bridge.reader)
        device = open_device(bridge.reader)
        try:
            with pytest.raises(Exception):
                make_rk(Ctap2(device), name)
        finally:
            device.close()
        # The host sees the card leave the field, and come back with a new power-up.
        wait_for_card(bridge.reader, present=False)
        wait_for_card(bridge.reader, present=True)
        after = remaining(bridge.reader)
    finally:
        stop_bridge(pcsc_context, bridge)
    assert bridge.process.returncode == 0, bridge.log_text()

    events = [json.loads(line) for line in trace.read_text().splitlines()]
    fired = [e for e in events if e["event"] == "fault"]
    assert len(fired) == 1 and fired[0]["on"] == {"ctap": "makeCredential"}, fired
    assert "all identical" in replay(trace, *extra)

    # The state file loads, holds what the card showed, and the card keeps working on it.
    again = start_bridge(pcsc_context, slot, state, tmp_path / "bridge2.log", *extra)
    try:
        assert remaining(again.reader) == after
        device = open_device(again.reader)
        try:
            make_rk(Ctap2(device), "bob")
        finally:
            device.close()
        assert remaining(again.reader) == after - 1
    finally:
        stop_bridge(pcsc_context, again)
    return before, after


def test_a_power_cut_during_make_credential_keeps_the_state_before(pcsc_context, slot, tmp_path):
    before, after = faulted_make_credential(
        pcsc_context, slot, tmp_path, "{ power_cut = { write = 1, away_ms = 1200 } }")
    assert after == before, "the cut write never landed: no credential"


def test_a_card_pulled_before_its_answer_keeps_the_state_after(pcsc_context, slot, tmp_path):
    before, after = faulted_make_credential(
        pcsc_context, slot, tmp_path, '{ remove = { at = "answer", away_ms = 1200 } }')
    assert after == before - 1, "the card made the credential; only the answer was lost"


def test_a_power_cut_in_a_chained_make_credential_cuts_its_last_link(pcsc_context, slot,
                                                                    tmp_path):
    """On a short-only card python-fido2 sends a long makeCredential as a chain: the fault's
    condition is the first link, the cut lands in the last one, where the card does the work."""
    before, after = faulted_make_credential(
        pcsc_context, slot, tmp_path, "{ power_cut = { write = 1, away_ms = 1200 } }",
        "--quirk", "short-only", name="erin-" + "x" * 200)
    assert after == before
    events = [json.loads(line) for line in (tmp_path / "trace.jsonl").read_text().splitlines()]
    at = next(i for i, e in enumerate(events) if e["event"] == "fault")
    # Other lines (presence requests) may come between: the APDUs around the fault count.
    cut = next(e for e in events[at + 1:] if e["event"] == "apdu")
    earlier = [e for e in events[:at] if e["event"] == "apdu"]
    assert cut["c"].startswith("8010") and cut["r"] == "", "the last link, unanswered"
    assert earlier[-1]["c"].startswith("9010"), "after the chain's earlier links"


QUIRKS = ["--quirk", "short-only", "--quirk", "chunk=128", "--quirk", "le-6cxx",
          "--quirk", "no-cla80-get-response", "--quirk", "delay=20"]


def test_a_quirky_short_only_persona_registers_and_signs_in(pcsc_context, slot, tmp_path):
    """python-fido2 chains its commands and fetches 128-byte pieces with GET RESPONSE (CLA 00)
    on the generic profile made short-only; the ATR's card capabilities say so."""
    trace = tmp_path / "trace.jsonl"
    bridge = start_bridge(pcsc_context, slot, tmp_path / "state.bin", tmp_path / "bridge.log",
                          "--seed", "13", "--trace", str(trace), *QUIRKS)
    try:
        # ISO/IEC 7816-4 §8.1.1.2.7: card capabilities 73 80 00 80, chaining without
        # extended Lc/Le, appended to the generic historical bytes.
        assert bridge.atr[4:16].hex().upper() == "805656464944 4F32 73800080".replace(" ", "")
        device = open_device(bridge.reader)
        try:
            ctap = Ctap2(device)
            # A long name: the request passes 255 bytes and goes as a chain of short APDUs.
            made = make_rk(ctap, "carol-" + "x" * 200)
            credential = made.auth_data.credential_data
            challenge = hashlib.sha256(b"sign in").digest()
            assertion = ctap.get_assertion(RP["id"], challenge)
            assertion.verify(challenge, credential.public_key)
        finally:
            device.close()
    finally:
        stop_bridge(pcsc_context, bridge)
    events = [json.loads(line) for line in trace.read_text().splitlines()]
    apdus = [(bytes.fromhex(e["c"]), bytes.fromhex(e["r"])) for e in events if e["event"] == "apdu"]
    assert any(c[0] == 0x90 for c, _ in apdus), "chained commands"
    assert any(c[1] == 0xC0 for c, _ in apdus), "GET RESPONSE"
    assert all(len(r) <= 130 for _, r in apdus), "128-byte pieces"
    assert "all identical" in replay(trace, *QUIRKS)


@pytest.mark.parametrize("budget", [1, 0])
def test_the_status_update_budget_is_a_quirk_too(budget, pcsc_context, slot, tmp_path):
    """`--quirk budget=MS` on the generic profile: with 1 ms every makeCredential outlasts it,
    so python-fido2 gets 9100 and polls with NFCCTAP_GETRESPONSE (CTAP 2.1 §11.3); with 0 the
    card never answers 9100."""
    trace = tmp_path / "trace.jsonl"
    bridge = start_bridge(pcsc_context, slot, tmp_path / "state.bin", tmp_path / "bridge.log",
                          "--seed", "13", "--trace", str(trace), "--quirk", f"budget={budget}")
    try:
        device = open_device(bridge.reader)
        try:
            made = make_rk(Ctap2(device), "dave")
            assert made.auth_data.credential_data is not None
        finally:
            device.close()
    finally:
        stop_bridge(pcsc_context, bridge)
    events = [json.loads(line) for line in trace.read_text().splitlines()]
    apdus = [(e["c"], e["r"]) for e in events if e["event"] == "apdu"]
    updates = [r for _, r in apdus if r.endswith("9100")]
    polls = [c for c, _ in apdus if c.startswith("80110000")]
    if budget:
        assert updates and polls, apdus
    else:
        assert not updates and not polls, apdus
