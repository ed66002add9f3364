"""CTAP2 through the real stack: python-fido2 2.2.1 -> pyscard -> pcscd -> vpcd -> reader-bridge.

Registration with a verified 'packed' attestation chain, sign-in with an allowList, several
accounts per RP walked with getNextAssertion, state across a bridge restart, and reset
(CTAP 2.1 §6.1, §6.2, §6.3, §6.6)."""

from __future__ import annotations

import hashlib
import subprocess
import time

import pytest
from conftest import ORIGIN, RP, PinPrompt, _bridge_binary, open_device, start_bridge, stop_bridge
from cryptography import x509
from fido2.attestation import AttestationVerifier
from fido2.client import DefaultClientDataCollector, Fido2Client
from fido2.ctap import CtapError
from fido2.ctap2 import Ctap2
from fido2.server import Fido2Server
from fido2.webauthn import (
    AttestationConveyancePreference,
    PublicKeyCredentialUserEntity,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

AAGUID_EXTENSION = x509.ObjectIdentifier("1.3.6.1.4.1.45724.1.1.4")


def root_certificate_der(state) -> bytes:
    pem = subprocess.run([str(_bridge_binary()), "export-attestation", "--state", str(state)],
                         check=True, capture_output=True, timeout=30).stdout
    return x509.load_pem_x509_certificate(pem).public_bytes(encoding=_der())


def _der():
    from cryptography.hazmat.primitives.serialization import Encoding
    return Encoding.DER


class CardRoot(AttestationVerifier):
    """python-fido2's attestation verifier, trusting the card's exported root."""

    def __init__(self, root_der: bytes):
        super().__init__()
        self.root_der = root_der

    def ca_lookup(self, attestation_result, auth_data):
        return self.root_der


def client_for(device) -> Fido2Client:
    return Fido2Client(device, client_data_collector=DefaultClientDataCollector(ORIGIN),
                       user_interaction=PinPrompt(None))


def register(client, server, name: str, resident: bool):
    user = PublicKeyCredentialUserEntity(id=name.encode(), name=name, display_name=name.title())
    options, state = server.register_begin(
        user,
        resident_key_requirement=ResidentKeyRequirement.REQUIRED if resident else ResidentKeyRequirement.DISCOURAGED,
        user_verification=UserVerificationRequirement.DISCOURAGED)
    result = client.make_credential(options.public_key)
    auth_data = server.register_complete(state, result)
    return result, auth_data.credential_data


def test_register_with_verified_packed_attestation_then_sign_in(bridge, device):
    info = Ctap2(device).get_info()
    verifier = CardRoot(root_certificate_der(bridge.state))
    server = Fido2Server(RP, attestation=AttestationConveyancePreference.DIRECT, verify_attestation=verifier)
    client = client_for(device)

    result, credential = register(client, server, "alice", resident=False)
    attestation = result.response.attestation_object
    assert attestation.fmt == "packed"
    x5c = attestation.att_stmt["x5c"]
    assert len(x5c) == 1, "x5c carries the chain up to, not including, the root"
    leaf = x509.load_der_x509_certificate(x5c[0])
    assert leaf.extensions.get_extension_for_oid(AAGUID_EXTENSION).value.value[2:] == bytes(info.aaguid)
    ou = leaf.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value
    assert ou == "Authenticator Attestation"
    assert attestation.auth_data.credential_data.aaguid == info.aaguid
    assert attestation.auth_data.is_user_present() and not attestation.auth_data.is_user_verified()

    counters = []
    for _ in range(2):
        options, state = server.authenticate_begin([credential], user_verification=UserVerificationRequirement.DISCOURAGED)
        response = client.get_assertion(options.public_key).get_response(0)
        server.authenticate_complete(state, [credential], response)
        counters.append(response.response.authenticator_data.counter)
    assert counters[1] > counters[0] > attestation.auth_data.counter

    # A credential id from another RP is simply not found.
    other = Ctap2(device)
    with pytest.raises(CtapError) as err:
        other.get_assertion("other.example", hashlib.sha256(b"c").digest(),
                            allow_list=[{"type": "public-key", "id": credential.credential_id}])
    assert err.value.code == CtapError.ERR.NO_CREDENTIALS


def test_several_accounts_per_rp_are_walked_newest_first(device):
    server = Fido2Server(RP, attestation=AttestationConveyancePreference.NONE)
    client = client_for(device)
    credentials = [register(client, server, name, resident=True)[1] for name in ("alice", "bob", "carol")]
    # Same RP and user id again: overwrites, does not add.
    credentials[0] = register(client, server, "alice", resident=True)[1]

    ctap = Ctap2(device)
    first = ctap.get_assertion(RP.id, hashlib.sha256(b"challenge").digest())
    assert first.number_of_credentials == 3
    rest = [ctap.get_next_assertion() for _ in range(2)]
    users = [a.user["id"] for a in [first, *rest]]
    assert users == [b"alice", b"carol", b"bob"], "newest first; alice was re-registered last"
    for assertion in [first, *rest]:
        # Without UV and with several accounts only the user id is returned (CTAP 2.1 §6.2.2).
        assert set(assertion.user) == {"id"}
    with pytest.raises(CtapError) as err:
        ctap.get_next_assertion()
    assert err.value.code == CtapError.ERR.NOT_ALLOWED

    # The WebAuthn-level flow verifies every one of them.
    options, state = server.authenticate_begin(user_verification=UserVerificationRequirement.DISCOURAGED)
    selection = client.get_assertion(options.public_key)
    assert len(selection.get_assertions()) == 3
    for i in range(3):
        server.authenticate_complete(state, credentials, selection.get_response(i))


def test_state_survives_a_bridge_restart(pcsc_context, slot, tmp_path):
    state_file = tmp_path / "state.bin"
    log = tmp_path / "bridge.log"
    server = Fido2Server(RP, attestation=AttestationConveyancePreference.NONE)
    first = start_bridge(pcsc_context, slot, state_file, log)
    try:
        device = open_device(first.reader)
        _, resident = register(client_for(device), server, "dora", resident=True)
        _, plain = register(client_for(device), server, "erin", resident=False)
        device.close()
    finally:
        stop_bridge(pcsc_context, first)
    assert first.process.returncode == 0

    second = start_bridge(pcsc_context, slot, state_file, log)
    try:
        device = open_device(second.reader)
        ctap = Ctap2(device)
        found = ctap.get_assertion(RP.id, hashlib.sha256(b"x").digest())
        assert found.user["id"] == b"dora"
        assert found.credential["id"] == resident.credential_id
        options, state = server.authenticate_begin([plain], user_verification=UserVerificationRequirement.DISCOURAGED)
        response = client_for(device).get_assertion(options.public_key).get_response(0)
        server.authenticate_complete(state, [plain], response)
        device.close()
    finally:
        stop_bridge(pcsc_context, second)


def test_reset_only_within_ten_seconds_of_power_up(bridge):
    device = open_device(bridge.reader)
    server = Fido2Server(RP, attestation=AttestationConveyancePreference.NONE)
    _, credential = register(client_for(device), server, "frank", resident=True)
    remaining = Ctap2(device).get_info().remaining_disc_creds
    time.sleep(10.5)
    with pytest.raises(CtapError) as err:
        Ctap2(device).reset()
    assert err.value.code == CtapError.ERR.NOT_ALLOWED
    assert Ctap2(device).get_assertion(RP.id, hashlib.sha256(b"y").digest()).user["id"] == b"frank"

    # Windows powers the card down and up again (a new tap) before it sends reset.
    device.close()
    device = open_device(bridge.reader)
    ctap = Ctap2(device)
    ctap.reset()
    assert ctap.get_info().remaining_disc_creds == remaining + 1
    with pytest.raises(CtapError) as err:
        ctap.get_assertion(RP.id, hashlib.sha256(b"z").digest())
    assert err.value.code == CtapError.ERR.NO_CREDENTIALS
    with pytest.raises(CtapError) as err:
        ctap.get_assertion(RP.id, hashlib.sha256(b"z").digest(),
                           allow_list=[{"type": "public-key", "id": credential.credential_id}])
    assert err.value.code == CtapError.ERR.NO_CREDENTIALS, "reset rotates the wrapping key"
    device.close()


def test_a_card_that_refuses_presence(pcsc_context, slot, tmp_path):
    card = start_bridge(pcsc_context, slot, tmp_path / "state.bin", tmp_path / "bridge.log",
                        "--presence", "deny")
    try:
        device = open_device(card.reader)
        with pytest.raises(CtapError) as err:
            Ctap2(device).make_credential(hashlib.sha256(b"c").digest(), {"id": RP.id, "name": RP.name},
                                          {"id": b"u", "name": "u"}, [{"type": "public-key", "alg": -7}])
        assert err.value.code == CtapError.ERR.OPERATION_DENIED
        device.close()
    finally:
        stop_bridge(pcsc_context, card)
