//! U2F / CTAP1 over NFC (FIDO U2F Raw Message Formats v1.2, CTAP 2.1 §10 and §11.3) through the
//! APDU interface: SELECT and getInfo on a U2F card, REGISTER / AUTHENTICATE (check-only,
//! enforce, don't-enforce) / VERSION with their status words, and key handles shared with
//! CTAP2 in both directions.

#[allow(dead_code)] // each test file is its own crate and uses only part of the shared host
mod host;

use ctap_types::cbor::{IntMap, TextMap, Value};
use der::Decode;
use fido_applet::crypto::{CredentialPublicKey, PublicKey, sha256};
use fido_applet::platform::PresencePolicy;
use fido_applet::profile::Profile;
use fido_host::u2f;
use host::*;

const CHALLENGE: [u8; 32] = [0xC4; 32];

/// The generic card speaks U2F (CTAP 2.1 §10: authenticators SHOULD).
fn u2f_profile() -> Profile {
    let p = Profile::generic();
    assert!(p.u2f() && p.versions[0] == "U2F_V2");
    p
}

/// The generic card without U2F.
fn ctap2_only_profile() -> Profile {
    let mut p = Profile::generic();
    p.versions.retain(|v| *v != "U2F_V2");
    p.validate().expect("a valid CTAP2-only profile");
    p
}

fn app(rp: &str) -> [u8; 32] {
    sha256(rp.as_bytes())
}

struct Registration {
    public_key: PublicKey,
    key_handle: Vec<u8>,
}

fn register(t: &mut Tester, application: &[u8; 32]) -> Registration {
    let (resp, sw) = t.transmit(&u2f::register_apdu(&CHALLENGE, application));
    assert_eq!(sw, 0x9000);
    assert_eq!(resp[0], 0x05, "legacy reserved byte");
    let public = &resp[1..66];
    assert_eq!(public[0], 0x04, "uncompressed point");
    let handle_len = resp[66] as usize;
    let key_handle = resp[67..67 + handle_len].to_vec();
    let rest = &resp[67 + handle_len..];
    // The certificate is one DER SEQUENCE with a two-byte length.
    assert_eq!(rest[..2], [0x30, 0x82]);
    let cert_len = 4 + u16::from_be_bytes([rest[2], rest[3]]) as usize;
    let (cert_der, signature) = rest.split_at(cert_len);
    assert_eq!(
        cert_der,
        t.state().attestation.as_ref().unwrap().cert_der.as_slice(),
        "the batch attestation certificate"
    );
    let cert = x509_cert::Certificate::from_der(cert_der).expect("X.509");
    let spki = cert.tbs_certificate().subject_public_key_info();
    let batch = PublicKey::from_sec1(spki.subject_public_key.raw_bytes()).expect("P-256");
    let signed = [&[0x00][..], application, &CHALLENGE, &key_handle, public].concat();
    assert!(batch.verify(&signed, signature), "registration signature");
    Registration {
        public_key: PublicKey::from_sec1(public).unwrap(),
        key_handle,
    }
}

/// U2F_AUTHENTICATE; returns (flags, counter) after checking the signature, or the SW.
fn authenticate(
    t: &mut Tester,
    p1: u8,
    application: &[u8; 32],
    key_handle: &[u8],
    public_key: Option<&PublicKey>,
) -> Result<(u8, u32), u16> {
    let apdu = u2f::authenticate_apdu(p1, &CHALLENGE, application, key_handle);
    let (resp, sw) = t.transmit(&apdu);
    if sw != 0x9000 {
        assert!(resp.is_empty());
        return Err(sw);
    }
    let flags = resp[0];
    let counter = u32::from_be_bytes(resp[1..5].try_into().unwrap());
    if let Some(key) = public_key {
        let signed = [application.as_slice(), &resp[..5], &CHALLENGE].concat();
        assert!(key.verify(&signed, &resp[5..]), "authentication signature");
    }
    Ok((flags, counter))
}

/// U2F_AUTHENTICATE check-only (P1 07, §5.1): never signs; 6985 for a key handle of this card
/// and application, 6A80 otherwise.
fn check_only(t: &mut Tester, application: &[u8; 32], key_handle: &[u8]) -> Result<(u8, u32), u16> {
    authenticate(t, 0x07, application, key_handle, None)
}

#[test]
fn select_and_get_info_on_a_u2f_card() {
    let mut t = Tester::with_profile(u2f_profile());
    assert_eq!(t.select(), b"U2F_V2");
    let versions = t.info(1).unwrap();
    assert_eq!(
        versions,
        Value::Array(vec![text("U2F_V2"), text("FIDO_2_0"), text("FIDO_2_1")])
    );
    let (v, sw) = t.transmit(&hex("0003000000"));
    assert_eq!((v.as_slice(), sw), (&b"U2F_V2"[..], 0x9000));
    let (_, sw) = t.transmit(&u2f::apdu(0x03, 0, &[1]));
    assert_eq!(sw, 0x6700, "VERSION takes no data");
}

#[test]
fn a_card_without_u2f_answers_6d00() {
    let mut t = Tester::with_profile(ctap2_only_profile());
    assert_eq!(t.select(), b"FIDO_2_0");
    for ins in [0x01, 0x02, 0x03] {
        let (_, sw) = t.transmit(&u2f::apdu(ins, 0, &[0; 64]));
        assert_eq!(sw, 0x6D00, "INS {ins:02X}");
    }
}

#[test]
fn register_then_authenticate() {
    let mut t = Tester::with_profile(u2f_profile());
    let a = app("https://u2f.example");
    let reg = register(&mut t, &a);
    assert_eq!(reg.key_handle.len(), fido_applet::crypto::CREDENTIAL_ID_LEN);
    // check-only: ours → 6985, never a signature.
    assert_eq!(check_only(&mut t, &a, &reg.key_handle), Err(0x6985));
    let (flags, c1) =
        authenticate(&mut t, 0x03, &a, &reg.key_handle, Some(&reg.public_key)).unwrap();
    assert_eq!(flags, 0x01, "user present");
    let (flags, c2) =
        authenticate(&mut t, 0x08, &a, &reg.key_handle, Some(&reg.public_key)).unwrap();
    assert_eq!(flags, 0x01, "the tap still counts with don't-enforce");
    assert!(c2 > c1, "the counter moves");
    assert_eq!(t.state().sign_count, c2, "and is persisted");
}

#[test]
fn foreign_key_handles_are_wrong_data() {
    let mut t = Tester::with_profile(u2f_profile());
    let a = app("https://u2f.example");
    let reg = register(&mut t, &a);
    let other = app("https://evil.example");
    for p1 in [0x07, 0x03, 0x08] {
        assert_eq!(
            authenticate(&mut t, p1, &other, &reg.key_handle, None),
            Err(0x6A80),
            "another application, P1 {p1:02X}"
        );
        assert_eq!(authenticate(&mut t, p1, &a, &[0x55; 64], None), Err(0x6A80));
        assert_eq!(authenticate(&mut t, p1, &a, &[], None), Err(0x6A80));
    }
    let mut forged = reg.key_handle.clone();
    forged[20] ^= 1;
    assert_eq!(authenticate(&mut t, 0x03, &a, &forged, None), Err(0x6A80));
    // After authenticatorReset every key handle is foreign.
    t.ctap(0x07, None).unwrap();
    assert_eq!(check_only(&mut t, &a, &reg.key_handle), Err(0x6A80));
}

#[test]
fn malformed_requests() {
    let mut t = Tester::with_profile(u2f_profile());
    let a = app("https://u2f.example");
    let reg = register(&mut t, &a);
    for len in [0, 63, 65] {
        let (_, sw) = t.transmit(&u2f::apdu(0x01, 0, &vec![0; len]));
        assert_eq!(sw, 0x6700, "REGISTER with {len} bytes");
    }
    let mut data = [CHALLENGE.as_slice(), &a].concat();
    let (_, sw) = t.transmit(&u2f::apdu(0x02, 0x03, &data));
    assert_eq!(sw, 0x6700, "no key handle length");
    data.push(reg.key_handle.len() as u8 + 1);
    data.extend_from_slice(&reg.key_handle);
    let (_, sw) = t.transmit(&u2f::apdu(0x02, 0x03, &data));
    assert_eq!(sw, 0x6700, "length byte disagrees");
    assert_eq!(
        authenticate(&mut t, 0x05, &a, &reg.key_handle, None),
        Err(0x6A86)
    );
    // CLA 80 is not U2F.
    assert_eq!(t.transmit(&hex("80030000")).1, 0x6D00);
    // Other INS.
    assert_eq!(t.transmit(&hex("00040000")).1, 0x6D00);
}

#[test]
fn presence_refused() {
    let mut t = Tester::with_profile(u2f_profile());
    let a = app("https://u2f.example");
    let reg = register(&mut t, &a);
    // The same card memory with presence refused: REGISTER and enforce → 6985; check-only is
    // unchanged; don't-enforce signs without the UP flag.
    let mut deny = t.reload_with_presence(PresencePolicy::Deny);
    let register = u2f::register_apdu(&CHALLENGE, &a);
    assert_eq!(deny.transmit(&register).1, 0x6985);
    assert_eq!(
        authenticate(&mut deny, 0x03, &a, &reg.key_handle, None),
        Err(0x6985)
    );
    assert_eq!(check_only(&mut deny, &a, &reg.key_handle), Err(0x6985));
    let (flags, _) =
        authenticate(&mut deny, 0x08, &a, &reg.key_handle, Some(&reg.public_key)).unwrap();
    assert_eq!(flags, 0x00);
}

#[test]
fn u2f_registrations_work_with_ctap2_get_assertion() {
    // CTAP 2.1 §10: the U2F application parameter is the rpIdHash.
    let mut t = Tester::with_profile(u2f_profile());
    let reg = register(&mut t, &app("example.com"));
    let before = t.state().sign_count;
    let v = t
        .ctap_map(0x02, ga("example.com", &[&reg.key_handle]))
        .unwrap();
    let m = IntMap::new(&v).unwrap();
    let cred = TextMap::new(m.required(1).unwrap()).unwrap();
    assert_eq!(cred.get("id"), Some(&Value::bytes(reg.key_handle.clone())));
    let auth_data = m.required(2).unwrap().as_bytes().unwrap();
    assert_eq!(auth_data[..32], app("example.com"));
    let counter = u32::from_be_bytes(auth_data[33..37].try_into().unwrap());
    assert_eq!(counter, before + 1, "one counter for U2F and CTAP2");
    let signed = [auth_data, &cdh("login")].concat();
    assert!(
        reg.public_key
            .verify(&signed, m.required(3).unwrap().as_bytes().unwrap())
    );
    // Another RP does not find it.
    assert_eq!(
        t.ctap_map(0x02, ga("other.example", &[&reg.key_handle])),
        Err(NO_CREDENTIALS)
    );
}

#[test]
fn ctap2_credentials_work_with_u2f_authenticate() {
    let mut t = Tester::with_profile(u2f_profile());
    let a = app("example.com");
    // Non-discoverable, and discoverable.
    for rk in [false, true] {
        let reg = t.credential("example.com", b"u", rk);
        let CredentialPublicKey::Es256(key) = reg.public_key else {
            panic!("an ES256 credential");
        };
        let id = reg.credential_id;
        assert_eq!(check_only(&mut t, &a, &id), Err(0x6985), "rk {rk}");
        authenticate(&mut t, 0x03, &a, &id, Some(&key)).unwrap();
    }
    // credProtect userVerificationRequired: U2F cannot verify the user, so it is not there.
    let mut req = mc("example.com", b"v", false);
    req.push((int(6), Value::Map(vec![(text("credProtect"), int(3))])));
    let (id, _) = t.make_credential(req).unwrap().parts();
    assert_eq!(check_only(&mut t, &a, &id), Err(0x6A80));
    assert_eq!(authenticate(&mut t, 0x03, &a, &id, None), Err(0x6A80));
    // A discoverable credential that was overwritten stops working.
    let (old, _) = t.credential("example.com", b"w", true).parts();
    t.credential("example.com", b"w", true);
    assert_eq!(check_only(&mut t, &a, &old), Err(0x6A80));
}

#[test]
fn always_uv_turns_u2f_off() {
    let mut t = Tester::with_profile(u2f_profile());
    let a = app("example.com");
    let reg = register(&mut t, &a);
    t.ctap_map(0x0D, vec![(int(1), int(2))]).unwrap();
    assert_eq!(t.select(), b"FIDO_2_0");
    assert_eq!(
        t.info(1),
        Some(Value::Array(vec![text("FIDO_2_0"), text("FIDO_2_1")]))
    );
    assert_eq!(check_only(&mut t, &a, &reg.key_handle), Err(0x6986));
    assert_eq!(t.transmit(&hex("0003000000")).1, 0x6986);
    // alwaysUv on protects the card (CTAP 2.1 §6.11): switching it off takes a PIN and a
    // token with the acfg permission.
    assert_eq!(t.ctap_map(0x0D, vec![(int(1), int(2))]), Err(PUAT_REQUIRED));
    t.set_pin(2, PIN).unwrap();
    let token = t.token(2, PIN, ACFG, None).unwrap();
    let prefix = config_prefix(2);
    t.ctap_map(0x0D, subcommand(2, None, Some((&token, &prefix[..]))))
        .unwrap();
    assert_eq!(t.select(), b"U2F_V2");
    assert_eq!(check_only(&mut t, &a, &reg.key_handle), Err(0x6985));
}

#[test]
fn u2f_works_after_nfcctap_control_end() {
    // Windows sends NFCCTAP_CONTROL END before it falls back to U2F.
    let mut t = Tester::with_profile(u2f_profile());
    let (_, sw) = t.transmit(&hex("80120100"));
    assert_eq!(sw, 0x9000);
    assert_eq!(t.nfcctap_msg_p1(0, &[0x04]).1, 0x6985, "CTAP is off");
    let reg = register(&mut t, &app("example.com"));
    authenticate(
        &mut t,
        0x03,
        &app("example.com"),
        &reg.key_handle,
        Some(&reg.public_key),
    )
    .unwrap();
}

#[test]
fn short_apdus_with_get_response() {
    // REGISTER's answer is longer than 256 bytes: a short APDU gets it through 61xx.
    let mut t = Tester::with_profile(u2f_profile());
    let data = [CHALLENGE.as_slice(), &app("example.com")].concat();
    let mut apdu = vec![0x00, 0x01, 0x03, 0x00, 64];
    apdu.extend_from_slice(&data);
    apdu.push(0x00);
    let first = t.card.transmit(&apdu);
    assert_eq!(first.len(), 258);
    assert_eq!(first[256], 0x61);
    let (resp, sw) = t.transmit(&apdu);
    assert_eq!(sw, 0x9000);
    assert!(resp.len() > 256);
}
