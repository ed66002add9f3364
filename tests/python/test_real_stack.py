"""python-fido2 and pyscard through pcscd + vpcd + reader-bridge."""

from __future__ import annotations

import signal
import stat

import pytest
from fido2.ctap2 import Ctap2
from fido2.pcsc import CtapPcscDevice

from conftest import connect, transmit

SELECT_FIDO = bytes.fromhex("00A4040008A0000006472F000100")
VERSIONS = (b"U2F_V2", b"FIDO_2_0")


def test_python_fido2_finds_the_card(bridge):
    devices = [d for d in CtapPcscDevice.list_devices("Virtual PCD") if repr(d) == f"CtapPcscDevice({bridge.reader})"]
    assert len(devices) == 1, f"python-fido2 sees the card in {bridge.reader}; log:\n{bridge.log_text()}"
    device = devices[0]
    assert device.get_atr() == bridge.atr


def test_python_fido2_get_info(bridge):
    device = next(d for d in CtapPcscDevice.list_devices(bridge.reader))
    info = Ctap2(device).get_info()
    assert "FIDO_2_0" in info.versions or "FIDO_2_1" in info.versions
    assert len(bytes(info.aaguid)) == 16


def test_select_then_host_probing_then_select(bridge):
    conn = connect(bridge.reader)
    data, sw = transmit(conn, SELECT_FIDO.hex())
    assert sw == 0x9000 and data in VERSIONS
    for apdu in ("00A4040005A00000030800", "00A404000BA00000039742544659020100", "00CA7F6800",
                 "00A40000023F00", "00A40000022F01"):
        _, probe_sw = transmit(conn, apdu)
        assert probe_sw in (0x6A82, 0x6D00, 0x6A86), f"{apdu} -> {probe_sw:04X}"
    again, sw = transmit(conn, SELECT_FIDO.hex())
    assert (again, sw) == (data, 0x9000)


@pytest.mark.parametrize("cla", [0x00, 0x80])
def test_get_response_cla(bridge, cla):
    conn = connect(bridge.reader)
    full, sw = transmit(conn, SELECT_FIDO.hex())
    assert sw == 0x9000
    head, sw = transmit(conn, "00A4040008A0000006472F000101")
    assert (len(head), sw >> 8) == (1, 0x61)
    tail, sw = transmit(conn, f"{cla:02X}C00000{sw & 0xFF:02X}")
    assert sw == 0x9000
    assert head + tail == full


def test_state_file_mode_and_sigterm(bridge):
    mode = stat.S_IMODE(bridge.state.stat().st_mode)
    assert mode == 0o600, oct(mode)
    assert bridge.stop(signal.SIGTERM) == 0
