"""Card profiles through the real stack: python-fido2 2.2.1 -> pyscard -> pcscd -> vpcd -> reader-bridge.

Every built-in profile serves its ATR and AAGUID and passes registration and sign-in; its FIDO MDS3
metadata statement (`reader-bridge attestation`) has the MDS3 shape and its root verifies the batch
certificate in a makeCredential's x5c; a short-APDU-only card is reached through command chaining
and GET RESPONSE; one bridge process serves two independent cards in vpcd's two slots; a CTAP 2.0
card follows CTAP 2.0 PIN rules with python-fido2's ClientPin; the generic card speaks U2F."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import signal
import subprocess
import tomllib
from pathlib import Path

import pytest
from conftest import (
    _bridge_binary, open_device, start_bridge, stop_bridge, wait_for_card,
)
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from fido2.ctap import CtapError
from fido2.ctap2 import Ctap2

BUILTINS = ["generic", "hid-crescendo-c2300", "hid-crescendo-key", "hid-crescendo-key-v2",
            "hid-crescendo-c3000", "thales-idprime-3940"]
RP = {"id": "example.com", "name": "Example"}
AAGUID_EXTENSION = x509.ObjectIdentifier("1.3.6.1.4.1.45724.1.1.4")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def bridge_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(_bridge_binary()), *args], check=True, capture_output=True,
                          text=True, timeout=60)


def profile_toml(profile_id: str) -> dict:
    return tomllib.loads(bridge_cli("--show-profile", profile_id).stdout)


def contactless_atr(historical: bytes) -> bytes:
    """PC/SC part 3 §3.1.3.2.3: 3B 8n 80 01 <historical bytes> TCK (XOR of all bytes after 3B)."""
    atr = bytes([0x3B, 0x80 | len(historical), 0x80, 0x01]) + historical
    tck = 0
    for b in atr[1:]:
        tck ^= b
    return atr + bytes([tck])


def expected_atr(profile: dict) -> bytes:
    if "atr" in profile:
        return bytes.fromhex(profile["atr"])
    return contactless_atr(bytes.fromhex(profile["historical_bytes"]))


def attestation(profile_id: str, out: Path, *extra: str) -> dict:
    bridge_cli("attestation", "--profile", profile_id, "--out", str(out), *extra)
    return json.loads((out / "metadata.json").read_text())


def make_credential(ctap: Ctap2, name: str, resident: bool, exclude: int = 0):
    """makeCredential; `exclude` foreign credential ids make the request long enough to need
    command chaining on a short-APDU card (python-fido2 chains above 250 bytes)."""
    user = {"id": name.encode(), "name": f"{name}@example.com", "displayName": name.title() * 8}
    exclude_list = [{"type": "public-key", "id": bytes([i]) * 64} for i in range(exclude)]
    return ctap.make_credential(hashlib.sha256(b"register " + name.encode()).digest(), RP, user,
                                [{"type": "public-key", "alg": -7}],
                                exclude_list=exclude_list or None,
                                options={"rk": True} if resident else None)


def verify_chain(att_obj, root_der: bytes, aaguid: bytes, client_data_hash: bytes):
    """The packed statement (WebAuthn §8.2.2): x5c[0] is signed by the metadata's root, names the
    AAGUID, and its key signed authData || clientDataHash."""
    assert att_obj.fmt == "packed"
    x5c = att_obj.att_stmt["x5c"]
    assert len(x5c) == 1
    leaf = x509.load_der_x509_certificate(x5c[0])
    root = x509.load_der_x509_certificate(root_der)
    root.public_key().verify(leaf.signature, leaf.tbs_certificate_bytes,
                             ec.ECDSA(leaf.signature_hash_algorithm))
    assert leaf.issuer == root.subject
    assert leaf.extensions.get_extension_for_oid(AAGUID_EXTENSION).value.value[2:] == aaguid
    leaf.public_key().verify(att_obj.att_stmt["sig"], bytes(att_obj.auth_data) + client_data_hash,
                             ec.ECDSA(leaf.signature_hash_algorithm))
    return leaf


def check_mds3_shape(md: dict, profile: dict, root_pem: str) -> None:
    """Required members and types of a FIDO Metadata Statement v3.0 (§4) for a FIDO2 authenticator."""
    types = {
        "legalHeader": str, "aaguid": str, "description": str, "authenticatorVersion": int,
        "protocolFamily": str, "schema": int, "upv": list, "authenticationAlgorithms": list,
        "publicKeyAlgAndEncodings": list, "attestationTypes": list,
        "userVerificationDetails": list, "keyProtection": list, "matcherProtection": list,
        "cryptoStrength": int, "attachmentHint": list, "tcDisplay": list,
        "attestationRootCertificates": list, "authenticatorGetInfo": dict,
    }
    for key, kind in types.items():
        assert isinstance(md.get(key), kind), f"{key}: {md.get(key)!r} is not a {kind.__name__}"
    assert UUID.match(md["aaguid"]) and md["aaguid"] == profile["aaguid"]
    assert md["description"] == profile["name"]
    assert md["authenticatorVersion"] == profile["firmware_version"]
    assert md["protocolFamily"] == "fido2" and md["schema"] == 3
    assert md["upv"] and all(set(v) == {"major", "minor"} and all(isinstance(x, int) for x in v.values())
                             for v in md["upv"])
    assert {"major": 1, "minor": 0} in md["upv"]
    # One per algorithm the profile offers, in its order (FIDO Registry §3.6.1 names): ES256 on
    # every profile, EdDSA on the generic one.
    names = {-7: "secp256r1_ecdsa_sha256_raw", -8: "ed25519_eddsa_sha512_raw"}
    assert md["authenticationAlgorithms"] == [names[a] for a in profile.get("algorithms", [-7])]
    assert md["publicKeyAlgAndEncodings"] == ["cose"]
    assert md["attestationTypes"] == ["basic_full"]
    for combination in md["userVerificationDetails"]:
        assert combination and all(isinstance(m["userVerificationMethod"], str) for m in combination)
    methods = {m["userVerificationMethod"] for c in md["userVerificationDetails"] for m in c}
    assert "presence_internal" in methods and "passcode_external" in methods
    assert md["keyProtection"] == ["hardware", "secure_element"]
    assert md["matcherProtection"] == ["on_chip"]
    assert md["cryptoStrength"] == 128
    assert md["attachmentHint"] == ["external", "wireless", "nfc"]
    assert md["tcDisplay"] == []
    [root_b64] = md["attestationRootCertificates"]
    root = x509.load_der_x509_certificate(base64.b64decode(root_b64, validate=True))
    assert root == x509.load_pem_x509_certificate(root_pem.encode())
    info = md["authenticatorGetInfo"]
    assert info["versions"] == profile["versions"]
    assert info["aaguid"] == profile["aaguid"].replace("-", "")
    assert isinstance(info["options"], dict) and info["options"]["rk"] is True
    assert all(isinstance(v, bool) for v in info["options"].values())
    assert info["pinUvAuthProtocols"] == profile["pin_uv_auth_protocols"]
    assert info.get("extensions", []) == profile["extensions"]
    assert info["maxMsgSize"] == profile["max_msg_size"]


def test_list_profiles_names_every_builtin():
    lines = bridge_cli("--list-profiles").stdout.splitlines()
    assert [line.split("\t")[0] for line in lines] == BUILTINS
    for line in lines:
        profile_id, aaguid, name = line.split("\t")
        assert UUID.match(aaguid) and name


@pytest.mark.parametrize("profile_id", BUILTINS)
def test_metadata_statement_has_the_mds3_shape(profile_id, tmp_path):
    profile = profile_toml(profile_id)
    md = attestation(profile_id, tmp_path)
    check_mds3_shape(md, profile, (tmp_path / "root.pem").read_text())


@pytest.mark.parametrize("profile_id", BUILTINS)
def test_profile_registers_and_signs_in(profile_id, pcsc_context, slot, tmp_path):
    """ATR, getInfo AAGUID, makeCredential whose x5c chains to the metadata statement's root,
    getAssertion with an allowList and a discoverable one, through python-fido2."""
    profile = profile_toml(profile_id)
    aaguid = bytes.fromhex(profile["aaguid"].replace("-", ""))
    md = attestation(profile_id, tmp_path / "att", "--seed", "31")
    root_der = base64.b64decode(md["attestationRootCertificates"][0])
    trace = tmp_path / "trace.jsonl"
    bridge = start_bridge(pcsc_context, slot, tmp_path / "att" / "state.bin", tmp_path / "bridge.log",
                          "--profile", profile_id, "--trace", str(trace))
    try:
        assert bridge.atr == expected_atr(profile), f"{profile_id}: ATR {bridge.atr.hex()}"
        device = open_device(bridge.reader)
        try:
            assert device.get_atr() == expected_atr(profile)
            ctap = Ctap2(device)
            info = ctap.get_info()
            assert bytes(info.aaguid) == aaguid
            assert "FIDO_2_0" in info.versions
            if "FIDO_2_1" not in profile["versions"]:
                assert "FIDO_2_1" not in info.versions, "a CTAP 2.0 card does not claim 2.1"

            cdh = hashlib.sha256(b"register alice").digest()
            made = make_credential(ctap, "alice", resident=True, exclude=3)
            leaf = verify_chain(made, root_der, aaguid, cdh)
            batch_pem = (tmp_path / "att" / "batch.pem").read_text().encode()
            assert leaf == x509.load_pem_x509_certificate(batch_pem), "x5c[0] is the exported batch cert"
            credential = made.auth_data.credential_data
            assert bytes(credential.aaguid) == aaguid
            assert len(credential.credential_id) <= profile["max_credential_id_length"]

            for allow in ([{"type": "public-key", "id": credential.credential_id}], None):
                challenge = hashlib.sha256(b"sign in").digest()
                assertion = ctap.get_assertion(RP["id"], challenge, allow_list=allow)
                assert assertion.credential["id"] == credential.credential_id
                assertion.verify(challenge, credential.public_key)
                assert assertion.auth_data.is_user_present()
            assert assertion.user["id"] == b"alice"
        finally:
            device.close()
    finally:
        stop_bridge(pcsc_context, bridge)

    events = [json.loads(line) for line in trace.read_text().splitlines()]
    assert events and all({"t_ms", "slot", "event"} <= set(e) for e in events)
    commands = [bytes.fromhex(e["c"]) for e in events if e["event"] == "apdu"]
    if not profile["extended_length"]:
        # python-fido2 sends short APDUs: the long makeCredential went as a chain (CLA 90) and
        # the attestation came back in parts through GET RESPONSE.
        assert any(c[0] == 0x90 and c[1] == 0x10 for c in commands), "chained NFCCTAP_MSG"
        assert any(c[1] == 0xC0 for c in commands), "GET RESPONSE"
        assert all(len(bytes.fromhex(e["r"])) <= 258 for e in events if e["event"] == "apdu")


def test_a_short_apdu_card_refuses_extended_length(pcsc_context, slot, tmp_path):
    from smartcard.System import readers as pcsc_readers
    bridge = start_bridge(pcsc_context, slot, tmp_path / "state.bin", tmp_path / "bridge.log",
                          "--profile", "hid-crescendo-c2300", "--seed", "4")
    try:
        reader = next(r for r in pcsc_readers() if str(r) == bridge.reader)
        conn = reader.createConnection()
        conn.connect()
        try:
            _, sw1, sw2 = conn.transmit(list(bytes.fromhex("00A4040008A0000006472F000100")))
            assert (sw1, sw2) == (0x90, 0x00)
            _, sw1, sw2 = conn.transmit(list(bytes.fromhex("801000000000010400")))
            assert (sw1, sw2) == (0x67, 0x00), "extended NFCCTAP_MSG is refused with 6700"
        finally:
            conn.disconnect()
    finally:
        stop_bridge(pcsc_context, bridge)


# MDS3 getInfo member -> (python-fido2 Info attribute, its value when the card omits the key).
INFO_FIELDS = {
    "versions": ("versions", None),
    "extensions": ("extensions", []),
    "options": ("options", {}),
    "maxMsgSize": ("max_msg_size", 1024),
    "pinUvAuthProtocols": ("pin_uv_protocols", []),
    "maxCredentialCountInList": ("max_creds_in_list", 0),
    "maxCredentialIdLength": ("max_cred_id_length", 0),
    "transports": ("transports", []),
    "algorithms": ("algorithms", []),
    "maxSerializedLargeBlobArray": ("max_large_blob", 0),
    "forcePINChange": ("force_pin_change", False),
    "minPINLength": ("min_pin_length", 4),
    "firmwareVersion": ("firmware_version", 0),
    "maxCredBlobLength": ("max_cred_blob_length", 0),
    "maxRPIDsForSetMinPINLength": ("max_rpids_for_min_pin", 0),
    "certifications": ("certifications", {}),
    "remainingDiscoverableCredentials": ("remaining_disc_creds", None),
}


@pytest.mark.parametrize("profile_id", BUILTINS)
def test_get_info_matches_the_metadata_statement(profile_id, pcsc_context, slot, tmp_path):
    """What getInfo declares is what the profile and its metadata statement say: the same keys
    (a CTAP 2.0 card answers only the CTAP 2.0 ones) with the same values, on a fresh card."""
    md = attestation(profile_id, tmp_path / "att", "--seed", "32")
    declared = md["authenticatorGetInfo"]
    bridge = start_bridge(pcsc_context, slot, tmp_path / "att" / "state.bin", tmp_path / "bridge.log",
                          "--profile", profile_id)
    try:
        device = open_device(bridge.reader)
        try:
            info = Ctap2(device).get_info()
        finally:
            device.close()
    finally:
        stop_bridge(pcsc_context, bridge)
    assert bytes(info.aaguid).hex() == declared["aaguid"]
    for member, (attribute, absent) in INFO_FIELDS.items():
        got = getattr(info, attribute)
        if isinstance(got, (list, tuple)):
            got = [dict(x) if isinstance(x, dict) else x for x in got]
        elif isinstance(got, dict):
            got = dict(got)
        assert got == declared.get(member, absent), f"{profile_id}: getInfo {member}"


def test_two_cards_at_once_are_independent(pcsc_context, both_slots, tmp_path):
    profiles = ["hid-crescendo-key-v2", "generic"]
    readers = ["Virtual PCD 00 00", "Virtual PCD 00 01"]
    states = tmp_path / "states"
    log = tmp_path / "bridge.log"
    with open(log, "wb") as log_file:
        process = subprocess.Popen(
            [str(_bridge_binary()), "run", "--slots", "0-1", "--state", f"{states}/",
             "--profile", profiles[0], "--profile", profiles[1], "--seed", "41", "-v"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log_file)
    devices = []
    try:
        for reader, profile_id in zip(readers, profiles):
            try:
                atr = wait_for_card(reader, present=True)
            except TimeoutError as e:
                pytest.fail(f"{e}; bridge log:\n{log.read_text(errors='replace')}")
            assert atr == expected_atr(profile_toml(profile_id)), reader
        devices = [open_device(reader) for reader in readers]
        first, second = (Ctap2(d) for d in devices)
        aaguids = [bytes(c.get_info().aaguid).hex() for c in (first, second)]
        assert aaguids == [profile_toml(p)["aaguid"].replace("-", "") for p in profiles]

        # A credential made on card 0 exists on card 0 only.
        made = make_credential(first, "grace", resident=True)
        challenge = hashlib.sha256(b"c").digest()
        assert first.get_assertion(RP["id"], challenge).user["id"] == b"grace"
        with pytest.raises(CtapError) as err:
            second.get_assertion(RP["id"], challenge)
        assert err.value.code == CtapError.ERR.NO_CREDENTIALS
        with pytest.raises(CtapError) as err:
            second.get_assertion(RP["id"], challenge, allow_list=[
                {"type": "public-key", "id": made.auth_data.credential_data.credential_id}])
        assert err.value.code == CtapError.ERR.NO_CREDENTIALS
        # Resetting card 1 (fresh power-up, within 10 s) leaves card 0's credential alone.
        devices[1].close()
        devices[1] = open_device(readers[1])
        Ctap2(devices[1]).reset()
        assert first.get_assertion(RP["id"], challenge).user["id"] == b"grace"
    finally:
        for device in devices:
            device.close()
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0, log.read_text(errors="replace")
        for reader in readers:
            try:
                wait_for_card(reader, present=False)
            except TimeoutError:
                pass
    assert sorted(p.name for p in states.iterdir()) == ["state-0.bin", "state-1.bin"]


CTAP20_BUILTINS = [p for p in BUILTINS if p != "generic"]


@pytest.mark.parametrize("profile_id", CTAP20_BUILTINS)
def test_a_ctap20_card_follows_ctap20_pin_rules(profile_id, pcsc_context, slot, tmp_path):
    """What a FIDO_2_0 card declares is what it does, with python-fido2's ClientPin: no
    getPinUvAuthTokenUsingPinWithPermissions (0x09), a PIN needed for every makeCredential once
    set (CTAP2_ERR_PIN_REQUIRED), and a getPinToken token good for any RP, several times."""
    from fido2.ctap2.pin import ClientPin, PinProtocolV1

    bridge = start_bridge(pcsc_context, slot, tmp_path / "state.bin", tmp_path / "bridge.log",
                          "--profile", profile_id, "--seed", "33")
    try:
        device = open_device(bridge.reader)
        try:
            ctap = Ctap2(device)
            assert "pinUvAuthToken" not in ctap.info.options
            assert "makeCredUvNotRqd" not in ctap.info.options
            pin = ClientPin(ctap, PinProtocolV1())
            pin.set_pin("4321")
            with pytest.raises(CtapError) as err:
                ctap.client_pin(1, ClientPin.CMD.GET_TOKEN_USING_PIN, permissions=3)
            assert err.value.code == CtapError.ERR.INVALID_SUBCOMMAND
            with pytest.raises(CtapError) as err:
                make_credential(ctap, "bob", resident=False)
            assert err.value.code == CtapError.ERR.PUAT_REQUIRED  # 0x36, CTAP 2.0 PIN_REQUIRED
            # python-fido2 falls back to getPinToken (0x05) on a card without pinUvAuthToken.
            token = pin.get_pin_token("4321", ClientPin.PERMISSION.MAKE_CREDENTIAL, "example.com")
            for rp_id in ("example.com", "other.example"):
                cdh = hashlib.sha256(rp_id.encode()).digest()
                made = ctap.make_credential(
                    cdh, {"id": rp_id, "name": rp_id}, {"id": b"bob", "name": "bob"},
                    [{"type": "public-key", "alg": -7}],
                    pin_uv_param=pin.protocol.authenticate(token, cdh), pin_uv_protocol=1)
                assert made.auth_data.is_user_verified(), rp_id
                assertion = ctap.get_assertion(
                    rp_id, cdh,
                    allow_list=[{"type": "public-key",
                                 "id": made.auth_data.credential_data.credential_id}],
                    pin_uv_param=pin.protocol.authenticate(token, cdh), pin_uv_protocol=1)
                assert assertion.auth_data.is_user_verified(), rp_id
        finally:
            device.close()
    finally:
        stop_bridge(pcsc_context, bridge)


def test_the_generic_card_speaks_u2f(pcsc_context, slot, tmp_path):
    """Microsoft-compatible cards declare U2F_V2 (CTAP 2.1 §10: authenticators SHOULD support
    U2F): SELECT answers "U2F_V2", getInfo lists it, and python-fido2's Ctap1 registers and
    authenticates."""
    from fido2.ctap1 import Ctap1

    bridge = start_bridge(pcsc_context, slot, tmp_path / "state.bin", tmp_path / "bridge.log",
                          "--seed", "34")
    try:
        device = open_device(bridge.reader)
        try:
            assert Ctap2(device).info.versions == ["U2F_V2", "FIDO_2_0", "FIDO_2_1"]
            ctap1 = Ctap1(device)
            assert ctap1.get_version() == "U2F_V2"
            app = hashlib.sha256(b"https://u2f.example").digest()
            challenge = hashlib.sha256(b"u2f challenge").digest()
            reg = ctap1.register(challenge, app)
            signed = ctap1.authenticate(challenge, app, reg.key_handle)
            signed.verify(app, challenge, reg.public_key)
        finally:
            device.close()
    finally:
        stop_bridge(pcsc_context, bridge)
