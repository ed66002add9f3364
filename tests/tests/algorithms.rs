//! Ed25519 (COSE -8) credentials through pcscd + vpcd + the reader-bridge binary, with
//! `fido-host`'s Rust client over PC/SC: the second client besides python-fido2
//! (tests/python/test_algorithms.py) to verify the card's EdDSA attestation and assertions.

use std::time::SystemTime;

use fido_applet::crypto::sha256;
use fido_host::Client;
use fido_host::attestation::{self, CredentialKey};
use fido_host::ctap_types::cose;
use fido_host::ctap2::{GetAssertion, MakeCredential};
use fido_host::pcsc::PcscCard;
use integration_tests::stack_bridge;

fn request(user: &[u8], rk: bool, algorithms: Vec<i64>) -> MakeCredential {
    MakeCredential {
        client_data_hash: sha256(b"register"),
        rp_id: "example.com".into(),
        user_id: user.to_vec(),
        user_name: "ed".into(),
        rk,
        extensions: None,
        exclude_list: Vec::new(),
        algorithms,
    }
}

#[test]
fn eddsa_credentials_verify_with_fido_host_over_pcsc() {
    let Some((ctx, slot, bridge)) = stack_bridge(&["--seed", "21"]) else {
        return;
    };
    let card = ctx
        .connect(&slot.reader, pcsc::ShareMode::Shared, pcsc::Protocols::ANY)
        .expect("connect");
    let mut client = Client::new(Box::new(PcscCard::new(card)));
    let (_, sw) = client.select().expect("SELECT");
    assert_eq!(sw, 0x9000);
    let info = client.get_info().expect("getInfo");
    let aaguid = info.aaguid.expect("AAGUID");

    for rk in [false, true] {
        let req = request(b"ed", rk, vec![cose::EDDSA, cose::ES256]);
        let att = client.make_credential(&req, None).expect("makeCredential");
        let attested = att.auth_data.attested.as_ref().expect("attested data");
        let key = attestation::credential_key(&attested.public_key).expect("a credential key");
        assert!(matches!(key, CredentialKey::EdDsa(_)), "{key:?}");
        // Packed, signed by the P-256 batch key (alg -7), certificate requirements met.
        let verdict = attestation::verify_packed(
            &att.fmt,
            &att.att_stmt,
            &att.auth_data_raw,
            &req.client_data_hash,
            &aaguid,
            None,
            SystemTime::now(),
        );
        assert!(verdict.problems.is_empty(), "{verdict:?}");

        let ga = GetAssertion {
            rp_id: "example.com".into(),
            client_data_hash: sha256(b"login"),
            allow_list: vec![attested.credential_id.clone()],
            extensions: None,
            up: None,
        };
        let assertion = client.get_assertion(&ga, None).expect("getAssertion");
        let signed = [assertion.auth_data_raw.as_slice(), &ga.client_data_hash].concat();
        assert!(key.verify(&signed, &assertion.signature), "rk {rk}");
        assert!(!key.verify(b"something else", &assertion.signature));
    }

    // ES256 first: an ES256 credential, verified the same way.
    let req = request(b"es", false, vec![cose::ES256, cose::EDDSA]);
    let att = client.make_credential(&req, None).expect("makeCredential");
    let attested = att.auth_data.attested.as_ref().expect("attested data");
    let key = attestation::credential_key(&attested.public_key).expect("a credential key");
    assert_eq!(key.algorithm(), cose::ES256);
    // The PC/SC connection is closed while the card is still in the reader: closed after the
    // bridge stopped, pcscd would keep the slot's reader in a state the next card of this slot
    // cannot be powered in.
    drop(client);
    drop(bridge);
}
