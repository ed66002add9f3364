//! Credential algorithms and crypto backends through the APDU interface (issue 14): Ed25519
//! (COSE -8) credentials end to end, the choice among pubKeyCredParams (CTAP 2.1 §6.1.2 step 3),
//! which attestation key signs what, U2F staying P-256, credentialManagement's OKP keys, and
//! cards computing with one backend reading what another wrote.

#[allow(dead_code)] // each test file is its own crate and uses only part of the shared host
mod host;

use card_storage::MemoryStorage;
use ctap_types::cbor::{IntMap, TextMap, Value};
use der::Decode;
use fido_applet::crypto::{Algorithm, Backend, CredentialPublicKey, PublicKey, sha256};
use fido_applet::profile::{AttestationType, Profile};
use fido_host::u2f;
use host::*;

const EDDSA: i64 = ctap_types::cose::EDDSA;
const ES256: i64 = ctap_types::cose::ES256;

/// pubKeyCredParams of `algs`, in this order.
fn params(algs: &[i64]) -> Value {
    Value::Array(
        algs.iter()
            .map(|&a| {
                map(vec![
                    (text("alg"), int(a)),
                    (text("type"), text("public-key")),
                ])
            })
            .collect(),
    )
}

/// A makeCredential request asking for `algs`, preferred first.
fn mc_for(rp: &str, user: &[u8], rk: bool, algs: &[i64]) -> Vec<(Value, Value)> {
    set(mc(rp, user, rk), 4, params(algs))
}

fn tester_on(profile: Profile, backend: Backend, storage: MemoryStorage) -> Tester {
    Tester::start(
        Setup {
            backend,
            ..Setup::new(profile)
        },
        storage,
    )
}

/// A card of `profile` (default backend, in memory) and an Ed25519 credential made on it.
fn eddsa_credential(profile: Profile, rp: &str, user: &[u8], rk: bool) -> (Tester, Registration) {
    let mut t = tester_on(profile, Backend::default(), MemoryStorage::new());
    let reg = t.make_credential(mc_for(rp, user, rk, &[EDDSA])).unwrap();
    (t, reg)
}

/// The batch attestation key from the statement's x5c[0].
fn batch_key(att_stmt: &Value) -> PublicKey {
    let stmt = TextMap::new(att_stmt).unwrap();
    let x5c = stmt.required("x5c").unwrap().as_array().unwrap();
    let cert = x509_cert::Certificate::from_der(x5c[0].as_bytes().unwrap()).expect("x509");
    let spki = cert.tbs_certificate().subject_public_key_info();
    PublicKey::from_sec1(spki.subject_public_key.raw_bytes()).expect("P-256 key")
}

/// The generic card makes Ed25519 credentials when the platform prefers them: OKP key in
/// authData, packed attestation still signed by the P-256 batch key (alg -7), assertions signed
/// with Ed25519, for non-resident and resident credentials, in every backend.
#[test]
fn eddsa_credentials_end_to_end() {
    for &backend in Backend::BUILT_IN {
        let mut t = tester_on(Profile::generic(), backend, MemoryStorage::new());
        for rk in [false, true] {
            let reg = t
                .make_credential(mc_for("example.com", b"ed", rk, &[EDDSA, ES256]))
                .unwrap();
            let CredentialPublicKey::EdDsa(_) = reg.public_key else {
                panic!("{backend}: an Ed25519 key, got {:?}", reg.public_key)
            };
            let stmt = TextMap::new(&reg.att_stmt).unwrap();
            assert_eq!(stmt.required("alg").unwrap(), &int(ES256), "batch key");
            let sig = stmt.required("sig").unwrap().as_bytes().unwrap();
            let signed = [reg.auth_data.as_slice(), &cdh("register")].concat();
            assert!(batch_key(&reg.att_stmt).verify(&signed, sig), "{backend}");

            // With an allowList, and (resident) without one.
            let a = t
                .get_assertion(ga("example.com", &[&reg.credential_id]))
                .unwrap();
            assert_eq!(a.signature.len(), 64, "an Ed25519 signature");
            assert!(a.verifies(&reg.public_key, &cdh("login")), "{backend}");
            if rk {
                let a = t.get_assertion(ga("example.com", &[])).unwrap();
                assert!(a.verifies(&reg.public_key, &cdh("login")), "{backend}");
                let stored = t.state();
                let cred = stored.resident.iter().next().expect("stored");
                assert_eq!(cred.algorithm, Algorithm::EdDsa);
            }
        }
    }
}

/// Profiles of real cards offer exactly what their metadata says: ES256 only, so a platform
/// preferring EdDSA gets ES256, and one asking for EdDSA alone gets
/// CTAP2_ERR_UNSUPPORTED_ALGORITHM (§6.1.2 step 3).
#[test]
fn real_card_profiles_pick_es256() {
    for id in ["hid-crescendo-c2300", "thales-idprime-3940"] {
        let profile = Profile::builtin(id).expect("built in");
        assert_eq!(profile.algorithms, [Algorithm::Es256], "{id}");
        let mut t = tester_on(profile, Backend::default(), MemoryStorage::new());
        let reg = t
            .make_credential(mc_for("example.com", b"u", false, &[EDDSA, ES256]))
            .unwrap();
        assert!(
            matches!(reg.public_key, CredentialPublicKey::Es256(_)),
            "{id}"
        );
        assert_eq!(
            t.make_credential(mc_for("example.com", b"u", false, &[EDDSA]))
                .err(),
            Some(UNSUPPORTED_ALGORITHM),
            "{id}"
        );
    }
}

/// Self attestation signs with the credential's own key and algorithm: -8 for Ed25519.
#[test]
fn self_attestation_of_an_eddsa_credential_says_minus_8() {
    let mut profile = Profile::generic();
    profile.attestation_type = AttestationType::SelfAttestation;
    let (_, reg) = eddsa_credential(profile, "example.com", b"u", false);
    let stmt = TextMap::new(&reg.att_stmt).unwrap();
    assert_eq!(stmt.required("alg").unwrap(), &int(EDDSA));
    assert!(stmt.get("x5c").is_none());
    let sig = stmt.required("sig").unwrap().as_bytes().unwrap();
    let signed = [reg.auth_data.as_slice(), &cdh("register")].concat();
    assert!(reg.public_key.verify(&signed, sig));
}

/// U2F stays P-256: an Ed25519 credential's id is not a U2F key handle (6A80, FIDO U2F Raw
/// Message Formats §5.2 "bad key handle").
#[test]
fn an_eddsa_credential_is_not_a_u2f_key_handle() {
    let (mut t, reg) = eddsa_credential(Profile::generic(), "example.com", b"u", false);
    let application = sha256(b"example.com");
    let apdu = u2f::authenticate_apdu(0x03, &[0x11; 32], &application, &reg.credential_id);
    let (_, sw) = t.transmit(&apdu);
    assert_eq!(sw, 0x6A80);
}

/// credentialManagement's enumerateCredentials returns the Ed25519 public key as a COSE OKP
/// key, {1: 1, 3: -8, -1: 6, -2: x} (CTAP 2.1 §6.8.4 publicKey).
#[test]
fn credential_management_returns_the_okp_key() {
    let (mut t, reg) = eddsa_credential(Profile::generic(), "a.example", b"alice", true);
    let CredentialPublicKey::EdDsa(x) = reg.public_key else {
        panic!("an Ed25519 key")
    };
    t.set_pin(2, PIN).unwrap();
    let token = t.token(2, PIN, CM, None).unwrap();
    let params = Value::Map(vec![(int(1), Value::bytes(sha256(b"a.example").to_vec()))]);
    let req = subcommand(4, Some(params), Some((&token, &[4u8][..])));
    let answer = t.ctap_map(0x0A, req).unwrap();
    let key = IntMap::new(&answer).unwrap().required(8).unwrap().clone();
    assert_eq!(
        key,
        Value::Map(vec![
            (int(1), int(1)),
            (int(3), int(EDDSA)),
            (int(-1), int(6)),
            (int(-2), Value::bytes(x.to_vec())),
        ])
    );
}

/// The state file and every credential are interchangeable between backends: a card that
/// registered (ES256 and EdDSA, resident and not, with and without a PIN) computing with one
/// backend is loaded by a card computing with another, which signs for every credential and
/// accepts the PIN.
#[test]
fn backends_read_each_others_state_and_credentials() {
    for &first in Backend::BUILT_IN {
        for &second in Backend::BUILT_IN {
            let storage = MemoryStorage::new();
            let mut t = tester_on(Profile::generic(), first, storage.clone());
            let mut regs = Vec::new();
            for (user, rk, algs) in [
                (&b"a"[..], false, &[ES256][..]),
                (b"b", true, &[ES256]),
                (b"c", false, &[EDDSA]),
                (b"d", true, &[EDDSA]),
            ] {
                regs.push(
                    t.make_credential(mc_for("example.com", user, rk, algs))
                        .unwrap(),
                );
            }
            t.set_pin(2, PIN).unwrap();
            drop(t);

            let mut t = tester_on(Profile::generic(), second, storage);
            for reg in &regs {
                // A token's permissions are spent by an assertion with presence (§6.2.2 step 9).
                let token = t.token(2, PIN, GA, Some("example.com")).unwrap();
                let req = with_token(ga("example.com", &[&reg.credential_id]), &token, 6);
                let a = t.get_assertion(req).unwrap();
                assert!(
                    a.verifies(&reg.public_key, &cdh("login")),
                    "{first} → {second}"
                );
            }
            // The discoverable ones, newest first.
            let token = t.token(2, PIN, GA, Some("example.com")).unwrap();
            let a = t
                .get_assertion(with_token(ga("example.com", &[]), &token, 6))
                .unwrap();
            assert!(a.verifies(&regs[3].public_key, &cdh("login")));
        }
    }
}
