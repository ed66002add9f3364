"""Spec-exact error codes and defaults (issue 13) through the real stack: python-fido2 2.2.1 ->
pyscard -> pcscd -> vpcd -> reader-bridge.

Each test pins one answer the CTAP 2.1 PS names, as a platform sees it; docs/conformance.md
lists them with the in-process test of the same row."""

from __future__ import annotations

import hashlib

import pytest
from conftest import ES256, PIN, cdh, custom_profile, user
from fido2.ctap import CtapError
from fido2.ctap2 import Config, Ctap2, CredentialManagement
from fido2.ctap2.pin import ClientPin, PinProtocolV2

P = ClientPin.PERMISSION


def token(ctap: Ctap2, permissions, rp_id: str | None = None):
    pin = ClientPin(ctap, PinProtocolV2())
    return pin.protocol, pin.get_pin_token(PIN, permissions, rp_id)


def ctap_error(call) -> int:
    with pytest.raises(CtapError) as err:
        call()
    return err.value.code


def test_set_pin_when_a_pin_is_set_is_pin_auth_invalid(device):
    """§6.5.5.5 step 3: "If a PIN has already been set, authenticator returns
    CTAP2_ERR_PIN_AUTH_INVALID error." The PIN is unchanged and no retry is spent."""
    ctap = Ctap2(device)
    ClientPin(ctap).set_pin(PIN)
    assert ctap_error(lambda: ClientPin(ctap).set_pin("5678")) == CtapError.ERR.PIN_AUTH_INVALID
    assert ClientPin(ctap).get_pin_retries()[0] == 8
    token(ctap, P.GET_ASSERTION, "example.com")  # the first PIN still works


def test_enterprise_attestation_value_other_than_1_or_2_is_invalid_option(device):
    """§6.1.2 step 9: not enabled -> CTAP1_ERR_INVALID_PARAMETER (9.1), enabled but a value other
    than 1 or 2 -> CTAP2_ERR_INVALID_OPTION (9.2)."""
    ctap = Ctap2(device)

    def make(ep):
        return ctap.make_credential(cdh(b"ep"), {"id": "corp.example"}, user("e"), ES256,
                                    enterprise_attestation=ep)

    assert ctap_error(lambda: make(3)) == CtapError.ERR.INVALID_PARAMETER
    Config(ctap).enable_enterprise_attestation()
    assert ctap.get_info().options["ep"] is True
    for value in (0, 3):
        assert ctap_error(lambda: make(value)) == CtapError.ERR.INVALID_OPTION, value
    assert make(2).ep_att is True


def test_toggle_always_uv_without_pin_uv_auth_param_while_always_uv_is_on(device):
    """§6.11: with alwaysUv present and true an absent pinUvAuthParam is CTAP2_ERR_PUAT_REQUIRED,
    also for toggleAlwaysUv on a card without a PIN; a PIN and an acfg token switch it off."""
    ctap = Ctap2(device)
    Config(ctap).toggle_always_uv()  # no PIN, alwaysUv off: not protected, no token needed
    assert ctap.get_info().options["alwaysUv"] is True
    assert ctap.get_info().options["clientPin"] is False
    assert ctap_error(lambda: Config(ctap).toggle_always_uv()) == CtapError.ERR.PUAT_REQUIRED
    assert ctap.get_info().options["alwaysUv"] is True
    ClientPin(ctap).set_pin(PIN)
    proto, tok = token(ctap, P.AUTHENTICATOR_CFG)
    Config(ctap, proto, tok).toggle_always_uv()
    assert ctap.get_info().options["alwaysUv"] is False


def test_set_min_pin_length_with_too_many_rp_ids_is_key_store_full(device):
    """§6.11.4: more minPinLengthRPIDs than the card holds (maxRPIDsForSetMinPINLength) is
    CTAP2_ERR_KEY_STORE_FULL, and nothing of the request is applied."""
    ctap = Ctap2(device)
    info = ctap.get_info()
    ids = [f"rp{i}.example" for i in range(info.max_rpids_for_min_pin + 1)]
    code = ctap_error(lambda: Config(ctap).set_min_pin_length(8, rp_ids=ids))
    assert code == CtapError.ERR.KEY_STORE_FULL
    assert ctap.get_info().min_pin_length == info.min_pin_length
    Config(ctap).set_min_pin_length(rp_ids=ids[:-1])


def test_every_enumerated_credential_reports_cred_protect(device):
    """§12.1: a credential made without credProtect is userVerificationOptional (1);
    enumerateCredentials (§6.8.4) returns credProtect (0x0A) for every credential."""
    ctap = Ctap2(device)
    ClientPin(ctap).set_pin(PIN)
    for name, ext in [("plain", None), ("level2", {"credProtect": 2})]:
        proto, tok = token(ctap, P.MAKE_CREDENTIAL, "cp.example")
        ctap.make_credential(cdh(b"mc"), {"id": "cp.example"}, user(name), ES256,
                             options={"rk": True}, extensions=ext,
                             pin_uv_param=proto.authenticate(tok, cdh(b"mc")),
                             pin_uv_protocol=proto.VERSION)
    proto, tok = token(ctap, P.CREDENTIAL_MGMT)
    creds = CredentialManagement(ctap, proto, tok).enumerate_creds(
        hashlib.sha256(b"cp.example").digest())
    levels = {c[CredentialManagement.RESULT.USER]["name"]:
              c.get(CredentialManagement.RESULT.CRED_PROTECT) for c in creds}
    assert levels == {"plain": 1, "level2": 2}


def test_vendor_facilitated_enterprise_attestation_follows_the_profile(bridge_with, tmp_path):
    """§7.1.1: mode 1 attests for the RP IDs in the profile's enterprise_attestation_rp_ids,
    regular attestation elsewhere; §7.1.2: mode 2 attests for any RP."""
    profile = custom_profile(tmp_path, "ep-vendor",
                             enterprise_attestation_rp_ids='["corp.example"]')
    _, device = bridge_with("--profile", str(profile))
    ctap = Ctap2(device)
    Config(ctap).enable_enterprise_attestation()

    def make(rp, ep):
        return ctap.make_credential(cdh(b"ep"), {"id": rp}, user("e"), ES256,
                                    enterprise_attestation=ep)

    listed = make("corp.example", 1)
    assert listed.ep_att is True
    assert listed.fmt == "packed" and "x5c" in listed.att_stmt
    outside = make("other.example", 1)
    assert not outside.ep_att
    assert outside.fmt == "packed" and "x5c" in outside.att_stmt, "regular attestation"
    assert make("other.example", 2).ep_att is True
