"""Credential algorithms through the real stack: python-fido2 2.2.1 -> pyscard -> pcscd -> vpcd ->
reader-bridge (issue 14).

The generic card offers ES256 and EdDSA (getInfo `algorithms`) and takes the first of the
platform's pubKeyCredParams it supports (CTAP 2.1 §6.1.2 step 3): a platform preferring EdDSA gets
an Ed25519 credential (COSE OKP key), whose packed attestation is still signed by the P-256 batch
key (alg -7) and whose assertions python-fido2's cose classes verify. A real card's profile keeps
exactly its metadata: ES256 only."""

from __future__ import annotations

from conftest import RP, cdh, open_device, start_bridge, stop_bridge, user
from cryptography import x509
from fido2.attestation import PackedAttestation
from fido2.cose import ES256, EdDSA
from fido2.ctap2 import Ctap2

EDDSA_FIRST = [{"type": "public-key", "alg": -8}, {"type": "public-key", "alg": -7}]


def test_generic_card_makes_and_uses_ed25519_credentials(device):
    ctap = Ctap2(device)
    info = ctap.get_info()
    assert [a["alg"] for a in info.algorithms] == [-7, -8], "ES256, then EdDSA"

    for resident in (False, True):
        made = ctap.make_credential(cdh(b"mc"), {"id": RP.id}, user(f"ed{int(resident)}"), EDDSA_FIRST,
                                    options={"rk": resident})
        credential = made.auth_data.credential_data
        key = credential.public_key
        assert isinstance(key, EdDSA)
        # COSE OKP: kty 1, alg -8, crv 6 (Ed25519), x of 32 bytes (RFC 9053 §7.2).
        assert (key[1], key[3], key[-1], len(key[-2])) == (1, -8, 6, 32)

        # Packed attestation with the batch certificate: alg -7 whatever the credential's algorithm.
        assert made.fmt == "packed"
        assert made.att_stmt["alg"] == -7
        leaf = x509.load_der_x509_certificate(made.att_stmt["x5c"][0])
        ES256.from_cryptography_key(leaf.public_key()).verify(bytes(made.auth_data) + cdh(b"mc"),
                                                                made.att_stmt["sig"])
        PackedAttestation().verify(made.att_stmt, made.auth_data, cdh(b"mc"))

        # Assertions: with an allowList, and (resident) the discoverable one.
        allows = [[{"type": "public-key", "id": credential.credential_id}]]
        if resident:
            allows.append(None)
        for allow in allows:
            assertion = ctap.get_assertion(RP.id, cdh(b"ga"), allow_list=allow)
            assert assertion.credential["id"] == credential.credential_id
            assert len(assertion.signature) == 64, "an Ed25519 signature"
            key.verify(bytes(assertion.auth_data) + cdh(b"ga"), assertion.signature)
            assertion.verify(cdh(b"ga"), key)


def test_a_real_card_profile_picks_es256(pcsc_context, slot, tmp_path):
    bridge = start_bridge(pcsc_context, slot, tmp_path / "state.bin", tmp_path / "bridge.log",
                          "--profile", "thales-idprime-3940", "--seed", "8")
    try:
        device = open_device(bridge.reader)
        try:
            ctap = Ctap2(device)
            # Its getInfo lists no algorithm but ES256 (this model's answers omit the member).
            assert [a["alg"] for a in ctap.get_info().algorithms or []] in ([], [-7])
            made = ctap.make_credential(cdh(b"mc"), {"id": RP.id}, user("es"), EDDSA_FIRST)
            key = made.auth_data.credential_data.public_key
            assert isinstance(key, ES256)
            assertion = ctap.get_assertion(
                RP.id, cdh(b"ga"),
                allow_list=[{"type": "public-key", "id": made.auth_data.credential_data.credential_id}])
            assertion.verify(cdh(b"ga"), key)
        finally:
            device.close()
    finally:
        stop_bridge(pcsc_context, bridge)
