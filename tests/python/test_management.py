"""CTAP 2.1 management and legacy through the real stack: python-fido2 2.2.1 -> pyscard -> pcscd ->
vpcd -> reader-bridge.

credentialManagement (§6.8), authenticatorConfig (§6.11) with enterprise attestation (§7.1),
largeBlobs (§6.10) and the largeBlob client extension, NFCCTAP_GETRESPONSE status updates
(§11.3), and U2F / CTAP1 over NFC with key handles shared with CTAP2 (§10) — each with
python-fido2's own classes (CredentialManagement, Config, LargeBlobs, Ctap1), an independent
implementation of the platform side."""

from __future__ import annotations

import dataclasses
import hashlib
import os

import pytest
from conftest import ES256, ORIGIN, PIN, RP, PinPrompt, cdh, custom_profile, user
from fido2 import cbor
from fido2.client import DefaultClientDataCollector, Fido2Client
from fido2.ctap import STATUS, CtapError
from fido2.ctap1 import ApduError, Ctap1
from fido2.ctap2 import Config, Ctap2, CredentialManagement, LargeBlobs
from fido2.ctap2.extensions import LargeBlobExtension
from fido2.ctap2.pin import ClientPin, PinProtocolV1, PinProtocolV2
from fido2.server import Fido2Server
from fido2.utils import websafe_decode
from fido2.webauthn import (
    PublicKeyCredentialUserEntity,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

P = ClientPin.PERMISSION


def pin_token(ctap: Ctap2, permissions, rp_id: str | None = None, protocol=PinProtocolV2):
    pin = ClientPin(ctap, protocol())
    return pin.protocol, pin.get_pin_token(PIN, permissions, rp_id)


def make_resident(ctap: Ctap2, rp: str, name: str, **kwargs):
    protocol, token = pin_token(ctap, P.MAKE_CREDENTIAL, rp)
    return ctap.make_credential(cdh(b"mc"), {"id": rp, "name": rp.upper()}, user(name), ES256,
                                options={"rk": True},
                                pin_uv_param=protocol.authenticate(token, cdh(b"mc")),
                                pin_uv_protocol=protocol.VERSION, **kwargs)


# --- credentialManagement ----------------------------------------------------------------------

@pytest.mark.parametrize("protocol", [PinProtocolV1, PinProtocolV2], ids=["v1", "v2"])
def test_credential_management(device, protocol):
    ctap = Ctap2(device)
    assert CredentialManagement.is_supported(ctap.info)
    assert ctap.info.options["credMgmt"] is True
    ClientPin(ctap).set_pin(PIN)
    made = {}
    for rp, name in [("a.example", "alice"), ("a.example", "bob"), ("b.example", "carol")]:
        made[name] = make_resident(ctap, rp, name).auth_data.credential_data

    proto, token = pin_token(ctap, P.CREDENTIAL_MGMT, protocol=protocol)
    cm = CredentialManagement(ctap, proto, token)
    meta = cm.get_metadata()
    assert meta[CredentialManagement.RESULT.EXISTING_CRED_COUNT] == 3
    remaining = ctap.get_info().remaining_disc_creds
    assert meta[CredentialManagement.RESULT.MAX_REMAINING_COUNT] == remaining

    rps = cm.enumerate_rps()
    assert sorted(r[CredentialManagement.RESULT.RP]["id"] for r in rps) == ["a.example", "b.example"]
    for r in rps:
        rp_id = r[CredentialManagement.RESULT.RP]["id"]
        assert r[CredentialManagement.RESULT.RP]["name"] == rp_id.upper()
        assert r[CredentialManagement.RESULT.RP_ID_HASH] == hashlib.sha256(rp_id.encode()).digest()

    creds = cm.enumerate_creds(hashlib.sha256(b"a.example").digest())
    assert [c[CredentialManagement.RESULT.USER]["name"] for c in creds] == ["bob", "alice"]
    for c in creds:
        name = c[CredentialManagement.RESULT.USER]["name"]
        assert c[CredentialManagement.RESULT.CREDENTIAL_ID]["id"] == made[name].credential_id
        assert c[CredentialManagement.RESULT.PUBLIC_KEY] == made[name].public_key
    assert cm.enumerate_creds(hashlib.sha256(b"nobody.example").digest()) == []

    alice = {"type": "public-key", "id": made["alice"].credential_id}
    cm.update_user_info(alice, {"id": b"alice", "name": "alice@corp", "displayName": "Alice C."})
    creds = cm.enumerate_creds(hashlib.sha256(b"a.example").digest())
    assert creds[1][CredentialManagement.RESULT.USER] == {
        "id": b"alice", "name": "alice@corp", "displayName": "Alice C."}

    cm.delete_cred(alice)
    assert cm.get_metadata()[CredentialManagement.RESULT.EXISTING_CRED_COUNT] == 2
    with pytest.raises(CtapError) as err:
        cm.delete_cred(alice)
    assert err.value.code == CtapError.ERR.NO_CREDENTIALS

    # The enumeration state does not survive another command.
    cm.enumerate_rps_begin()
    ctap.get_info()
    with pytest.raises(CtapError) as err:
        cm.enumerate_rps_next()
    assert err.value.code == CtapError.ERR.NOT_ALLOWED

    # An RP-bound token sees its RP only.
    proto, token = pin_token(ctap, P.CREDENTIAL_MGMT, "b.example", protocol=protocol)
    bound = CredentialManagement(ctap, proto, token)
    with pytest.raises(CtapError) as err:
        bound.get_metadata()
    assert err.value.code == CtapError.ERR.PIN_AUTH_INVALID
    assert len(bound.enumerate_creds(hashlib.sha256(b"b.example").digest())) == 1
    with pytest.raises(CtapError) as err:
        bound.enumerate_creds(hashlib.sha256(b"a.example").digest())
    assert err.value.code == CtapError.ERR.PIN_AUTH_INVALID

    # A token without the cm permission.
    proto, token = pin_token(ctap, P.GET_ASSERTION, "a.example", protocol=protocol)
    with pytest.raises(CtapError) as err:
        CredentialManagement(ctap, proto, token).get_metadata()
    assert err.value.code == CtapError.ERR.PIN_AUTH_INVALID


# --- authenticatorConfig and enterprise attestation -------------------------------------------

def test_config_and_enterprise_attestation(device):
    ctap = Ctap2(device)
    info = ctap.get_info()
    assert Config.is_supported(info)
    assert info.options["setMinPINLength"] is True
    assert info.options["alwaysUv"] is False
    assert info.options["ep"] is False
    assert info.max_rpids_for_min_pin > 0

    # Before a PIN is set authenticatorConfig needs no token.
    Config(ctap).toggle_always_uv()
    options = ctap.get_info().options
    assert options["alwaysUv"] is True
    assert options["makeCredUvNotRqd"] is False
    with pytest.raises(CtapError) as err:
        ctap.make_credential(cdh(b"mc"), {"id": RP.id}, user("x"), ES256)
    assert err.value.code == CtapError.ERR.PUAT_REQUIRED
    # alwaysUv on protects the card (§6.11): switching it off takes a PIN and an acfg token.
    with pytest.raises(CtapError) as err:
        Config(ctap).toggle_always_uv()
    assert err.value.code == CtapError.ERR.PUAT_REQUIRED
    ClientPin(ctap).set_pin(PIN)
    proto, token = pin_token(ctap, P.AUTHENTICATOR_CFG)
    Config(ctap, proto, token).toggle_always_uv()
    assert ctap.get_info().options["alwaysUv"] is False

    with pytest.raises(CtapError) as err:
        Config(ctap).toggle_always_uv()
    assert err.value.code == CtapError.ERR.PUAT_REQUIRED

    proto, token = pin_token(ctap, P.AUTHENTICATOR_CFG)
    config = Config(ctap, proto, token)
    config.set_min_pin_length(6, rp_ids=["example.com"])
    info = ctap.get_info()
    assert info.min_pin_length == 6
    assert info.force_pin_change is True, "the 4-digit PIN is now too short"
    with pytest.raises(CtapError) as err:
        ClientPin(ctap).get_pin_token(PIN, P.MAKE_CREDENTIAL)
    assert err.value.code == CtapError.ERR.PIN_POLICY_VIOLATION
    ClientPin(ctap).change_pin(PIN, "471100")
    assert ctap.get_info().force_pin_change is False

    pin = ClientPin(ctap, PinProtocolV2())
    config = Config(ctap, pin.protocol, pin.get_pin_token("471100", P.AUTHENTICATOR_CFG))
    with pytest.raises(CtapError) as err:
        config.set_min_pin_length(5)
    assert err.value.code == CtapError.ERR.PIN_POLICY_VIOLATION

    # The minPinLength extension answers the listed RP.
    token = pin.get_pin_token("471100", P.MAKE_CREDENTIAL, RP.id)
    made = ctap.make_credential(cdh(b"mc"), {"id": RP.id}, user("m"), ES256,
                                extensions={"minPinLength": True},
                                pin_uv_param=pin.protocol.authenticate(token, cdh(b"mc")),
                                pin_uv_protocol=2)
    assert made.auth_data.extensions == {"minPinLength": 6}

    # Enterprise attestation: refused until enabled, then mode 2 yields epAtt.
    def make(ep):
        token = pin.get_pin_token("471100", P.MAKE_CREDENTIAL, "corp.example")
        return ctap.make_credential(cdh(b"ep"), {"id": "corp.example"}, user("e"), ES256,
                                    enterprise_attestation=ep,
                                    pin_uv_param=pin.protocol.authenticate(token, cdh(b"ep")),
                                    pin_uv_protocol=2)

    with pytest.raises(CtapError) as err:
        make(2)
    assert err.value.code == CtapError.ERR.INVALID_PARAMETER
    config = Config(ctap, pin.protocol, pin.get_pin_token("471100", P.AUTHENTICATOR_CFG))
    config.enable_enterprise_attestation()
    assert ctap.get_info().options["ep"] is True
    attested = make(2)
    assert attested.ep_att is True
    assert attested.fmt == "packed" and "x5c" in attested.att_stmt
    assert not make(1).ep_att, "no RP is configured for vendor-facilitated attestation"


# --- largeBlobs --------------------------------------------------------------------------------

def test_large_blobs_array_and_the_large_blob_extension(device):
    ctap = Ctap2(device)
    info = ctap.get_info()
    assert LargeBlobs.is_supported(info)
    assert info.max_large_blob >= 1024
    assert LargeBlobs(ctap).read_blob_array() == []

    ClientPin(ctap).set_pin(PIN)
    # Writing needs the lbw permission once a PIN is set.
    with pytest.raises(CtapError) as err:
        LargeBlobs(ctap).write_blob_array([{1: b"x", 2: b"n" * 12, 3: 1}])
    assert err.value.code == CtapError.ERR.PUAT_REQUIRED

    proto, token = pin_token(ctap, P.LARGE_BLOB_WRITE)
    blobs = LargeBlobs(ctap, proto, token)
    key = os.urandom(32)
    data = os.urandom(300) + b"A" * 2500  # compresses to fit; two fragments before compression
    blobs.put_blob(key, data)
    assert blobs.get_blob(key) == data
    other = os.urandom(32)
    blobs.put_blob(other, b"second")
    assert LargeBlobs(ctap).get_blob(key) == data
    assert LargeBlobs(ctap).get_blob(other) == b"second"
    # A raw array that fills more than one maxFragmentLength fragment.
    big = [{1: os.urandom(info.max_msg_size - 200), 2: b"n" * 12, 3: 1}]
    blobs.write_blob_array(big)
    assert LargeBlobs(ctap).read_blob_array() == big
    # Too large for the store.
    with pytest.raises(CtapError) as err:
        blobs.write_blob_array([{1: os.urandom(info.max_large_blob), 2: b"n" * 12, 3: 1}])
    assert err.value.code == CtapError.ERR.LARGE_BLOB_STORAGE_FULL
    blobs.delete_blob(key)
    assert LargeBlobs(ctap).get_blob(key) is None

    client = Fido2Client(device, client_data_collector=DefaultClientDataCollector(ORIGIN),
                         user_interaction=PinPrompt(PIN), extensions=[LargeBlobExtension()])
    server = Fido2Server(RP)
    options, state = server.register_begin(
        PublicKeyCredentialUserEntity(id=b"blobby", name="blobby", display_name="Blobby"),
        resident_key_requirement=ResidentKeyRequirement.REQUIRED,
        user_verification=UserVerificationRequirement.REQUIRED)
    request = dataclasses.replace(options.public_key, extensions={"largeBlob": {"support": "required"}})
    result = client.make_credential(request)
    assert result.client_extension_results["largeBlob"]["supported"] is True
    credential = server.register_complete(state, result).credential_data

    def assertion(extensions):
        options, state = server.authenticate_begin([credential],
                                                   user_verification=UserVerificationRequirement.REQUIRED)
        request = dataclasses.replace(options.public_key, extensions=extensions)
        response = client.get_assertion(request).get_response(0)
        server.authenticate_complete(state, [credential], response)
        return response.client_extension_results["largeBlob"]

    assert assertion({"largeBlob": {"write": b"certificate for blobby"}})["written"] is True
    # Client extension outputs are JSON-ready: the blob comes base64url-encoded.
    blob = assertion({"largeBlob": {"read": True}})["blob"]
    assert websafe_decode(blob) == b"certificate for blobby"


# --- NFCCTAP_GETRESPONSE -----------------------------------------------------------------------

def test_slow_answers_come_through_nfcctap_getresponse(bridge_with, tmp_path):
    # A 1 ms processing budget: the debug build's signatures take longer, so the card answers
    # 9100 and python-fido2 polls with 80 11 00 00.
    profile = custom_profile(tmp_path, "slow-generic", processing_budget_ms=1)
    bridge, device = bridge_with("--profile", str(profile), "--trace", str(tmp_path / "trace.jsonl"))
    ctap = Ctap2(device)
    statuses = []
    made = ctap.make_credential(cdh(b"slow"), {"id": RP.id}, user("slow"), ES256,
                                on_keepalive=statuses.append)
    assert STATUS.UPNEEDED in statuses, "the card held the answer behind 9100"
    got = ctap.get_assertion(RP.id, cdh(b"ga"),
                             [{"type": "public-key", "id": made.auth_data.credential_data.credential_id}],
                             on_keepalive=statuses.append)
    assert got.auth_data.rp_id_hash == hashlib.sha256(RP.id.encode()).digest()
    trace = (tmp_path / "trace.jsonl").read_text().lower()
    assert "9100" in trace and "80110000" in trace
    # libfido2 and Windows send P1 = 00: never 9100, whatever the budget.
    device.use_nfcctap_getresponse = False
    statuses.clear()
    ctap.make_credential(cdh(b"fast"), {"id": RP.id}, user("fast"), ES256, on_keepalive=statuses.append)
    assert statuses == []


def test_cancel_through_nfcctap_getresponse(bridge_with, tmp_path):
    profile = custom_profile(tmp_path, "slow-generic", processing_budget_ms=1)
    bridge, device = bridge_with("--profile", str(profile))
    request = bytes([0x01]) + cbor.encode({
        1: cdh(b"cancel"), 2: {"id": RP.id}, 3: user("c"), 4: ES256})
    resp, sw1, sw2 = device._chain_apdus(0x80, 0x10, 0x80, 0x00, request)
    assert (sw1, sw2) == (0x91, 0x00) and resp in (b"\x01", b"\x02")
    resp, sw1, sw2 = device._chain_apdus(0x80, 0x11, 0x11, 0x00)
    assert (resp, sw1, sw2) == (bytes([CtapError.ERR.KEEPALIVE_CANCEL]), 0x90, 0x00)
    resp, sw1, sw2 = device._chain_apdus(0x80, 0x11, 0x00, 0x00)
    assert (sw1, sw2) == (0x69, 0x85), "nothing held any more"


# --- U2F / CTAP1 -------------------------------------------------------------------------------

def test_ctap1_register_authenticate_and_ctap2_interop(bridge_with, tmp_path):
    profile = custom_profile(tmp_path, "generic-u2f", u2f="true",
                             versions='["U2F_V2", "FIDO_2_0", "FIDO_2_1"]')
    bridge, device = bridge_with("--profile", str(profile))
    ctap2 = Ctap2(device)
    assert "U2F_V2" in ctap2.info.versions
    ctap1 = Ctap1(device)
    assert ctap1.get_version() == "U2F_V2"

    app = hashlib.sha256(RP.id.encode()).digest()
    reg = ctap1.register(cdh(b"client"), app)
    reg.verify(app, cdh(b"client"))
    # check-only: 6985 for our key handle, 6A80 for anything else.
    with pytest.raises(ApduError) as err:
        ctap1.authenticate(cdh(b"c"), app, reg.key_handle, check_only=True)
    assert err.value.code == 0x6985
    with pytest.raises(ApduError) as err:
        ctap1.authenticate(cdh(b"c"), hashlib.sha256(b"other").digest(), reg.key_handle,
                           check_only=True)
    assert err.value.code == 0x6A80
    first = ctap1.authenticate(cdh(b"c1"), app, reg.key_handle)
    first.verify(app, cdh(b"c1"), reg.public_key)
    assert first.user_presence & 1

    # CTAP 2.1 §10: the same key handle signs a CTAP2 assertion (rpIdHash = application), on
    # the same counter.
    got = ctap2.get_assertion(RP.id, cdh(b"ga"), [{"type": "public-key", "id": reg.key_handle}])
    assert got.credential["id"] == reg.key_handle
    assert got.auth_data.counter > first.counter
    # And a CTAP2 credential answers U2F.
    made = ctap2.make_credential(cdh(b"mc"), {"id": RP.id}, user("u"), ES256)
    cred_id = made.auth_data.credential_data.credential_id
    signed = ctap1.authenticate(cdh(b"c2"), app, cred_id)
    assert signed.counter > got.auth_data.counter

    # alwaysUv turns U2F off (6986) and takes U2F_V2 out of getInfo.
    Config(ctap2).toggle_always_uv()
    assert "U2F_V2" not in ctap2.get_info().versions
    with pytest.raises(ApduError) as err:
        ctap1.authenticate(cdh(b"c3"), app, reg.key_handle, check_only=True)
    assert err.value.code == 0x6986
