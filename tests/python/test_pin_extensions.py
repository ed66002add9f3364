"""clientPIN, pinUvAuthTokens and the extensions Windows needs, through the real stack:
python-fido2 2.2.1 -> pyscard -> pcscd -> vpcd -> reader-bridge (CTAP 2.1 §6.5, §12).

python-fido2 is an independent implementation of the platform side of PIN/UV auth protocols 1 and
2 and of hmac-secret, so these tests check interoperability, not just self-consistency."""

from __future__ import annotations

import dataclasses

import pytest
from conftest import ES256, ORIGIN, PIN, RP, PinPrompt, cdh, open_device, user
from fido2.client import DefaultClientDataCollector, Fido2Client
from fido2.ctap import CtapError
from fido2.ctap2 import Ctap2
from fido2.ctap2.extensions import HmacSecretExtension
from fido2.ctap2.pin import ClientPin, PinProtocolV1, PinProtocolV2
from fido2.server import Fido2Server
from fido2.webauthn import (
    AttestationConveyancePreference,
    PublicKeyCredentialUserEntity,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

MC = ClientPin.PERMISSION.MAKE_CREDENTIAL
GA = ClientPin.PERMISSION.GET_ASSERTION
FLAG_UV = 0x04


def client_for(device, pin: str | None) -> tuple[Fido2Client, PinPrompt]:
    prompt = PinPrompt(pin)
    client = Fido2Client(device, client_data_collector=DefaultClientDataCollector(ORIGIN),
                         user_interaction=prompt,
                         extensions=[HmacSecretExtension(allow_hmac_secret=True)])
    return client, prompt


@pytest.mark.parametrize("protocol", [PinProtocolV1, PinProtocolV2], ids=["v1", "v2"])
def test_set_change_pin_and_tokens_with_permissions(device, protocol):
    ctap = Ctap2(device)
    info = ctap.get_info()
    assert info.options["clientPin"] is False
    assert info.options["pinUvAuthToken"] is True
    assert info.pin_uv_protocols == [2, 1]
    assert info.min_pin_length == 4
    for ext in ("hmac-secret", "credProtect", "credBlob", "largeBlobKey", "minPinLength"):
        assert ext in info.extensions

    pin = ClientPin(ctap, protocol())
    with pytest.raises(CtapError) as err:
        pin.get_pin_token(PIN, GA, RP.id)
    assert err.value.code == CtapError.ERR.PIN_NOT_SET
    pin.set_pin(PIN)
    assert ctap.get_info().options["clientPin"] is True
    assert pin.get_pin_retries() == (8, False)
    with pytest.raises(CtapError) as err:
        pin.set_pin("9999")
    # CTAP 2.1 §6.5.5.5 step 3 (this used to expect NOT_ALLOWED, which the step does not name).
    assert err.value.code == CtapError.ERR.PIN_AUTH_INVALID

    # A token with the mc permission makes a verified discoverable credential.
    token = pin.get_pin_token(PIN, MC, RP.id)
    param = pin.protocol.authenticate(token, cdh(b"mc"))
    made = ctap.make_credential(cdh(b"mc"), {"id": RP.id}, user("alice"), ES256,
                                options={"rk": True}, pin_uv_param=param,
                                pin_uv_protocol=pin.protocol.VERSION)
    assert made.auth_data.flags & FLAG_UV
    # Used once with presence, the token is spent.
    with pytest.raises(CtapError) as err:
        ctap.make_credential(cdh(b"mc"), {"id": RP.id}, user("bob"), ES256, options={"rk": True},
                             pin_uv_param=param, pin_uv_protocol=pin.protocol.VERSION)
    assert err.value.code == CtapError.ERR.PIN_AUTH_INVALID
    # Without a token a discoverable credential is refused once a PIN is set.
    with pytest.raises(CtapError) as err:
        ctap.make_credential(cdh(b"mc"), {"id": RP.id}, user("bob"), ES256, options={"rk": True})
    assert err.value.code == CtapError.ERR.PUAT_REQUIRED

    # A ga token bound to another RP does not sign for this one; one for this RP does.
    token = pin.get_pin_token(PIN, GA, "other.example")
    with pytest.raises(CtapError) as err:
        ctap.get_assertion(RP.id, cdh(b"ga"), pin_uv_param=pin.protocol.authenticate(token, cdh(b"ga")),
                           pin_uv_protocol=pin.protocol.VERSION)
    assert err.value.code == CtapError.ERR.PIN_AUTH_INVALID
    token = pin.get_pin_token(PIN, GA, RP.id)
    assertion = ctap.get_assertion(RP.id, cdh(b"ga"),
                                   pin_uv_param=pin.protocol.authenticate(token, cdh(b"ga")),
                                   pin_uv_protocol=pin.protocol.VERSION)
    assert assertion.auth_data.flags & FLAG_UV
    assert assertion.user["name"] == "alice", "UV performed: name returned"
    # Permissions this card cannot grant (bio enrollment: a card has no sensor).
    with pytest.raises(CtapError) as err:
        pin.get_pin_token(PIN, ClientPin.PERMISSION.BIO_ENROLL)
    assert err.value.code == CtapError.ERR.UNAUTHORIZED_PERMISSION

    # Change the PIN (what Windows Settings does); the old one stops working.
    with pytest.raises(CtapError) as err:
        pin.change_pin("0000", "8888")
    assert err.value.code == CtapError.ERR.PIN_INVALID
    assert pin.get_pin_retries()[0] == 7
    pin.change_pin(PIN, "8888")
    assert pin.get_pin_retries() == (8, False)
    with pytest.raises(CtapError) as err:
        pin.get_pin_token(PIN, GA, RP.id)
    assert err.value.code == CtapError.ERR.PIN_INVALID
    pin.get_pin_token("8888", GA, RP.id)


def test_wrong_pins_block_until_power_cycle(bridge, device):
    ctap = Ctap2(device)
    pin = ClientPin(ctap)
    pin.set_pin(PIN)
    codes = []
    for _ in range(3):
        with pytest.raises(CtapError) as err:
            pin.get_pin_token("0000", GA, RP.id)
        codes.append(err.value.code)
    assert codes == [CtapError.ERR.PIN_INVALID, CtapError.ERR.PIN_INVALID,
                     CtapError.ERR.PIN_AUTH_BLOCKED]
    with pytest.raises(CtapError) as err:
        pin.get_pin_token(PIN, GA, RP.id)
    assert err.value.code == CtapError.ERR.PIN_AUTH_BLOCKED
    assert pin.get_pin_retries() == (5, True)

    # Reconnecting powers the card off and on again (the card left the field and came back).
    device.close()
    again = open_device(bridge.reader)
    try:
        pin = ClientPin(Ctap2(again))
        assert pin.get_pin_retries() == (5, False)
        pin.get_pin_token(PIN, GA, RP.id)
        assert pin.get_pin_retries() == (8, False)
    finally:
        again.close()


def hmac_outputs(client, server, credentials, salts: dict, uv: UserVerificationRequirement):
    options, state = server.authenticate_begin(credentials, user_verification=uv)
    request = dataclasses.replace(options.public_key, extensions={"hmacGetSecret": salts})
    selection = client.get_assertion(request)
    response = selection.get_response(0)
    server.authenticate_complete(state, credentials, response)
    out = response.client_extension_results.hmac_get_secret
    assert out is not None, "hmac-secret output"
    return out, response


@pytest.mark.parametrize("resident", [False, True], ids=["server-side", "discoverable"])
def test_hmac_secret_with_and_without_uv(device, resident):
    ctap = Ctap2(device)
    ClientPin(ctap).set_pin(PIN)
    client, prompt = client_for(device, PIN)
    server = Fido2Server(RP, attestation=AttestationConveyancePreference.NONE)
    options, state = server.register_begin(
        PublicKeyCredentialUserEntity(id=b"hello", name="hello", display_name="Hello"),
        resident_key_requirement=ResidentKeyRequirement.REQUIRED if resident else ResidentKeyRequirement.DISCOURAGED,
        user_verification=UserVerificationRequirement.REQUIRED)
    request = dataclasses.replace(options.public_key, extensions={"hmacCreateSecret": True})
    result = client.make_credential(request)
    assert result.client_extension_results.hmac_create_secret is True
    credentials = [server.register_complete(state, result).credential_data]

    salt1, salt2 = b"\x11" * 32, b"\x22" * 32
    both = {"salt1": salt1, "salt2": salt2}
    asked = prompt.asked
    uv1, r = hmac_outputs(client, server, credentials, both, UserVerificationRequirement.REQUIRED)
    assert r.response.authenticator_data.flags & FLAG_UV
    assert prompt.asked > asked, "the PIN was asked for"
    uv2, _ = hmac_outputs(client, server, credentials, both, UserVerificationRequirement.REQUIRED)
    assert (uv1.output1, uv1.output2) == (uv2.output1, uv2.output2), "stable across assertions"
    assert len(uv1.output1) == 32 and len(uv1.output2) == 32 and uv1.output1 != uv1.output2

    plain1, r = hmac_outputs(client, server, credentials, both, UserVerificationRequirement.DISCOURAGED)
    assert not r.response.authenticator_data.flags & FLAG_UV
    plain2, _ = hmac_outputs(client, server, credentials, both, UserVerificationRequirement.DISCOURAGED)
    assert (plain1.output1, plain1.output2) == (plain2.output1, plain2.output2)
    assert plain1.output1 != uv1.output1 and plain1.output2 != uv1.output2, \
        "CredRandomWithUV differs from CredRandomWithoutUV"

    # One salt gives the same output as in first position; a salt's output does not depend on
    # its position.
    one, _ = hmac_outputs(client, server, credentials, {"salt1": salt2},
                          UserVerificationRequirement.DISCOURAGED)
    assert one.output1 == plain1.output2 and not one.output2


def test_cred_protect_hides_credentials_without_uv(device):
    ctap = Ctap2(device)
    pin = ClientPin(ctap)
    pin.set_pin(PIN)
    ids = {}
    for name, level in (("optional", 1), ("with-list", 2), ("required", 3)):
        token = pin.get_pin_token(PIN, MC, RP.id)
        made = ctap.make_credential(cdh(b"mc"), {"id": RP.id}, user(name), ES256, options={"rk": True},
                                    extensions={"credProtect": level},
                                    pin_uv_param=pin.protocol.authenticate(token, cdh(b"mc")),
                                    pin_uv_protocol=pin.protocol.VERSION)
        assert made.auth_data.extensions == {"credProtect": level}
        ids[name] = made.auth_data.credential_data.credential_id

    # Without UV and without an allowList only the level-1 credential is offered.
    plain = ctap.get_assertion(RP.id, cdh(b"ga"))
    assert plain.user["id"] == b"optional" and plain.number_of_credentials is None
    # With an allowList level 2 is offered; level 3 never without UV.
    listed = ctap.get_assertion(RP.id, cdh(b"ga"), [{"type": "public-key", "id": ids["with-list"]}])
    assert listed.credential["id"] == ids["with-list"]
    with pytest.raises(CtapError) as err:
        ctap.get_assertion(RP.id, cdh(b"ga"), [{"type": "public-key", "id": ids["required"]}])
    assert err.value.code == CtapError.ERR.NO_CREDENTIALS
    # With UV all three, newest first.
    token = pin.get_pin_token(PIN, GA, RP.id)
    verified = ctap.get_assertion(RP.id, cdh(b"ga"), pin_uv_param=pin.protocol.authenticate(token, cdh(b"ga")),
                                  pin_uv_protocol=pin.protocol.VERSION)
    assert verified.number_of_credentials == 3
    assert verified.user["id"] == b"required"


def test_cred_blob_and_large_blob_key(device):
    ctap = Ctap2(device)
    info = ctap.get_info()
    assert info.max_cred_blob_length == 32
    made = ctap.make_credential(cdh(b"mc"), {"id": RP.id}, user("blob"), ES256, options={"rk": True},
                                extensions={"credBlob": b"\x42" * 32, "largeBlobKey": True})
    assert made.auth_data.extensions == {"credBlob": True}
    assert len(made.large_blob_key) == 32
    got = ctap.get_assertion(RP.id, cdh(b"ga"), extensions={"credBlob": True, "largeBlobKey": True})
    assert got.auth_data.extensions == {"credBlob": b"\x42" * 32}
    assert got.large_blob_key == made.large_blob_key
