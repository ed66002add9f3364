//! CTAP2 over the NFC binding, end to end through the APDU interface: every test builds a
//! virtual card, sends real command APDUs with `Card::transmit` and parses the response APDUs —
//! what pcscd + vpcd deliver from python-fido2, libfido2 or Windows.

#[allow(dead_code)] // each test file is its own crate and uses only part of the shared host
mod host;

use card_storage::MemoryStorage;
use ctap_types::cbor::{self, IntMap, TextMap, Value};
use ctap_types::nfc::FIDO_AID;
use fido_applet::CardBuilder;
use fido_applet::crypto::{CredentialPublicKey, PublicKey, sha256};
use fido_applet::platform::{Platform, PresencePolicy};
use fido_applet::profile::Profile;
use host::*;
use proptest::prelude::*;

/// How these tests drive the card: python-fido2's framing (short APDUs chained, P1 80) and the
/// exact SELECT answer the profile implies.
fn setup(profile: Profile, presence: PresencePolicy, seed: u64) -> Setup {
    let select_answer: &'static [u8] = if profile.u2f() {
        b"U2F_V2"
    } else {
        b"FIDO_2_0"
    };
    Setup {
        presence,
        seed,
        framing: Some(Framing::ShortChained),
        select_answer: Some(select_answer),
        ..Setup::new(profile)
    }
}

fn tester() -> Tester {
    tester_with(Profile::generic(), PresencePolicy::Auto)
}

fn tester_with(profile: Profile, presence: PresencePolicy) -> Tester {
    tester_on(profile, presence, MemoryStorage::new(), 7)
}

fn tester_on(
    profile: Profile,
    presence: PresencePolicy,
    storage: MemoryStorage,
    seed: u64,
) -> Tester {
    Tester::start(setup(profile, presence, seed), storage)
}

/// A new card object on the same persistent memory (the process restarted).
fn reload(t: &Tester, seed: u64) -> Tester {
    tester_on(
        Profile::generic(),
        PresencePolicy::Auto,
        t.storage().clone(),
        seed,
    )
}

// --- getInfo -------------------------------------------------------------------------------

#[test]
fn get_info_declares_what_the_card_does() {
    let mut t = tester();
    let profile = Profile::generic();
    let info = t.get_info();
    let m = IntMap::new(&info).unwrap();
    assert_eq!(
        m.required(1).unwrap(),
        &Value::Array(vec![text("U2F_V2"), text("FIDO_2_0"), text("FIDO_2_1")])
    );
    // The extensions of CTAP 2.1 §12 (details in tests/client_pin.rs).
    assert_eq!(
        m.required(2).unwrap(),
        &Value::Array(
            [
                "credProtect",
                "hmac-secret",
                "credBlob",
                "largeBlobKey",
                "minPinLength"
            ]
            .iter()
            .map(|e| text(e))
            .collect()
        )
    );
    assert_eq!(
        m.required(3).unwrap().as_bytes().unwrap(),
        profile.aaguid.as_bytes()
    );
    let options = TextMap::new(m.required(4).unwrap()).unwrap();
    assert_eq!(options.get("rk"), Some(&Value::Bool(true)));
    assert_eq!(options.get("up"), Some(&Value::Bool(true)));
    assert_eq!(options.get("plat"), Some(&Value::Bool(false)));
    assert_eq!(
        options.get("clientPin"),
        Some(&Value::Bool(false)),
        "no PIN set yet"
    );
    assert_eq!(options.get("pinUvAuthToken"), Some(&Value::Bool(true)));
    assert_eq!(options.get("makeCredUvNotRqd"), Some(&Value::Bool(true)));
    assert_eq!(options.get("uv"), None, "no built-in user verification");
    // The CTAP 2.1 management commands (tests/cred_mgmt.rs, config.rs, large_blobs.rs).
    for on in ["credMgmt", "authnrCfg", "largeBlobs", "setMinPINLength"] {
        assert_eq!(options.get(on), Some(&Value::Bool(true)), "{on}");
    }
    assert_eq!(options.get("alwaysUv"), Some(&Value::Bool(false)));
    assert_eq!(options.get("ep"), Some(&Value::Bool(false)), "capable, off");
    assert_eq!(
        options.get("credentialMgmtPreview"),
        None,
        "no FIDO_2_1_PRE"
    );
    assert_eq!(options.entries().len(), 12);
    assert_eq!(
        m.required(6).unwrap(),
        &Value::Array(vec![int(2), int(1)]),
        "pinUvAuthProtocols"
    );
    assert_eq!(m.required(9).unwrap(), &Value::Array(vec![text("nfc")]));
    // The generic profile offers ES256, then EdDSA (issue 14).
    assert_eq!(
        m.required(10).unwrap(),
        &Value::Array(vec![
            es256(),
            map(vec![
                (text("alg"), int(-8)),
                (text("type"), text("public-key")),
            ])
        ])
    );
    // The members that are numbers from the profile (CTAP 2.1 §6.4).
    for (key, name, value) in [
        (0x05, "maxMsgSize", profile.max_msg_size),
        (
            0x07,
            "maxCredentialCountInList",
            profile.max_credential_count_in_list,
        ),
        (
            0x08,
            "maxCredentialIdLength",
            profile.max_credential_id_length,
        ),
        (0x0B, "maxSerializedLargeBlobArray", profile.large_blob_size),
        (0x0E, "firmwareVersion", profile.firmware_version as usize),
        (
            0x10,
            "maxRPIDsForSetMinPINLength",
            profile.max_rp_ids_for_set_min_pin_length,
        ),
        (
            0x14,
            "remainingDiscoverableCredentials",
            profile.max_resident_credentials,
        ),
    ] {
        assert_eq!(m.required(key).unwrap(), &int(value as i64), "{name}");
    }
    // The raw bytes start as python-fido2 expects: status 00, a map, key 1.
    let (data, sw) = t.transmit(&hex("80100000010400"));
    assert_eq!(sw, 0x9000);
    // 17 members: 0x01-0x10, 0x14 (no built-in UV: no 0x11, 0x12; no certifications: 0x13).
    assert_eq!(&data[..3], &[0x00, 0xB1, 0x01]);
}

// --- makeCredential ------------------------------------------------------------------------

#[test]
fn make_credential_packed_attestation_verifies_with_the_batch_certificate() {
    use der::Decode;
    let mut t = tester();
    let reg = t.credential("example.com", b"user-1", false);
    assert_eq!(reg.fmt, "packed");
    assert_eq!(&reg.auth_data[..32], &sha256(b"example.com"));
    assert_eq!(reg.flags(), 0x41, "UP | AT, no UV, no ED");
    assert_eq!(reg.sign_count(), 1);
    assert_eq!(&reg.auth_data[37..53], Profile::generic().aaguid.as_bytes());
    assert_eq!(
        reg.credential_id.len(),
        fido_applet::crypto::CREDENTIAL_ID_LEN
    );

    let stmt = TextMap::new(&reg.att_stmt).unwrap();
    assert_eq!(stmt.required("alg").unwrap(), &int(-7));
    let sig = stmt.required("sig").unwrap().as_bytes().unwrap();
    let x5c = stmt.required("x5c").unwrap().as_array().unwrap();
    assert_eq!(x5c.len(), 1, "batch certificate only, no root");
    let cert_der = x5c[0].as_bytes().unwrap();
    let cert = x509_cert::Certificate::from_der(cert_der).expect("x509");
    let spki = cert.tbs_certificate().subject_public_key_info();
    let batch_key = PublicKey::from_sec1(spki.subject_public_key.raw_bytes()).expect("P-256 key");
    let mut signed = reg.auth_data.clone();
    signed.extend_from_slice(&cdh("register"));
    assert!(
        batch_key.verify(&signed, sig),
        "attestation signature over authData || cdh"
    );

    // The certificate carries the AAGUID extension (id-fido-gen-ce-aaguid, WebAuthn §8.2.1).
    let ext = cert
        .tbs_certificate()
        .extensions()
        .unwrap()
        .iter()
        .find(|e| e.extn_id == fido_applet::attestation::ID_FIDO_GEN_CE_AAGUID)
        .expect("AAGUID extension");
    let value = ext.extn_value.as_bytes();
    assert_eq!(
        &value[value.len() - 16..],
        Profile::generic().aaguid.as_bytes()
    );
    assert!(!ext.critical);

    // The root is not in x5c but is available for trust stores.
    let applet_root = CardBuilder::new(Profile::generic())
        .storage(t.storage().clone())
        .platform(Platform::seeded(1))
        .applet()
        .unwrap()
        .attestation_root_pem();
    assert!(applet_root.starts_with("-----BEGIN CERTIFICATE-----"));
}

/// A makeCredential request whose attestationFormatsPreference (member 0x0B, §6.1.1) is
/// `[format]`.
fn preferring_attestation(format: &str) -> Value {
    with(
        mc("example.com", b"u", false),
        0x0B,
        Value::Array(vec![text(format)]),
    )
}

#[test]
fn make_credential_honours_attestation_format_none() {
    let mut t = tester();
    let req = preferring_attestation("none");
    let reg = t.make_credential(&req).unwrap();
    assert_eq!(reg.fmt, "none");
    assert_eq!(reg.att_stmt, map(vec![]));
    // An unknown format falls back to packed.
    let req = preferring_attestation("tpm");
    assert_eq!(t.make_credential(&req).unwrap().fmt, "packed");
}

#[test]
fn a_profile_chooses_self_attestation_or_none() {
    use fido_applet::profile::AttestationType;
    // Self attestation (WebAuthn §8.2): 'packed', signed by the new credential's own key, no x5c.
    let mut profile = Profile::generic();
    profile.attestation_type = AttestationType::SelfAttestation;
    let mut t = tester_with(profile, PresencePolicy::Auto);
    let reg = t.credential("example.com", b"u", false);
    assert_eq!(reg.fmt, "packed");
    let stmt = TextMap::new(&reg.att_stmt).unwrap();
    assert_eq!(stmt.required("alg").unwrap(), &int(-7));
    assert!(
        stmt.get("x5c").is_none(),
        "self attestation carries no certificate"
    );
    let mut signed = reg.auth_data.clone();
    signed.extend_from_slice(&cdh("register"));
    let sig = stmt.required("sig").unwrap().as_bytes().unwrap();
    assert!(
        reg.public_key.verify(&signed, sig),
        "signed by the credential key"
    );

    // A profile with no attestation answers "none" whatever the request prefers.
    let mut profile = Profile::generic();
    profile.attestation_type = AttestationType::None;
    let mut t = tester_with(profile, PresencePolicy::Auto);
    let req = preferring_attestation("packed");
    let reg = t.make_credential(&req).unwrap();
    assert_eq!(reg.fmt, "none");
    assert_eq!(reg.att_stmt, map(vec![]));
}

#[test]
fn exclude_list_with_a_credential_of_this_rp_is_credential_excluded() {
    let mut t = tester();
    let reg = t.credential("example.com", b"u", false);
    let excl = Value::Array(vec![descriptor(&[1; 62]), descriptor(&reg.credential_id)]);
    let req = with(mc("example.com", b"u", false), 5, excl.clone());
    assert_eq!(t.make_credential(&req).err(), Some(CREDENTIAL_EXCLUDED));
    // The same id for another RP does not match.
    let req = with(mc("other.example", b"u", false), 5, excl);
    assert!(t.make_credential(&req).is_ok());
    // Excluded even when presence is refused (§6.1.2 step 11).
    let mut deny = tester_on(
        Profile::generic(),
        PresencePolicy::Deny,
        t.storage().clone(),
        3,
    );
    let req = with(
        mc("example.com", b"u", false),
        5,
        Value::Array(vec![descriptor(&reg.credential_id)]),
    );
    assert_eq!(deny.make_credential(&req).err(), Some(CREDENTIAL_EXCLUDED));
}

#[test]
fn pub_key_cred_params_pick_the_first_supported_or_fail_exactly() {
    let mut t = tester();
    let alg = |a: i64, ty: &str| map(vec![(text("alg"), int(a)), (text("type"), text(ty))]);
    // A "public-key" entry.
    let key = |a: i64| alg(a, "public-key");
    let no_type = map(vec![(text("alg"), int(-7))]);
    let text_alg = map(vec![
        (text("alg"), text("ES256")),
        (text("type"), text("public-key")),
    ]);
    // (case, pubKeyCredParams, the algorithm chosen or the error).
    let cases: Vec<(&str, Vec<Value>, Result<i64, u8>)> = vec![
        // CTAP 2.1 §6.1.2 step 3: the first supported entry in the platform's order.
        (
            "first supported: EdDSA",
            vec![key(-257), key(-8), key(-7)],
            Ok(-8),
        ),
        ("first supported: ES256", vec![key(-7), key(-8)], Ok(-7)),
        (
            "RS256 and ES384 only: unsupported",
            vec![key(-35), key(-257)],
            Err(UNSUPPORTED_ALGORITHM),
        ),
        ("empty", vec![], Err(UNSUPPORTED_ALGORITHM)),
        (
            "ES256 with an unknown type does not count",
            vec![alg(-7, "future-key")],
            Err(UNSUPPORTED_ALGORITHM),
        ),
        (
            "ES256 after unsupported ones is chosen",
            vec![key(-257), alg(-8, "other"), key(-7)],
            Ok(-7),
        ),
        // Malformed entries.
        ("no type", vec![no_type], Err(MISSING_PARAMETER)),
        ("a text alg", vec![text_alg], Err(CBOR_UNEXPECTED_TYPE)),
        ("not a map", vec![int(-7)], Err(CBOR_UNEXPECTED_TYPE)),
    ];
    for (case, entries, expected) in cases {
        let req = with(mc("example.com", b"u", false), 4, Value::Array(entries));
        let chosen = t.make_credential(req).map(|reg| match reg.public_key {
            CredentialPublicKey::Es256(_) => -7,
            CredentialPublicKey::EdDsa(_) => -8,
        });
        assert_eq!(chosen, expected, "{case}");
    }
}

#[test]
fn algorithms_come_from_the_profile() {
    let mut t = tester();
    let info = t.get_info();
    let algorithms = IntMap::new(&info).unwrap().required(0x0A).unwrap().clone();
    let expected: Vec<Value> = Profile::generic()
        .algorithms
        .iter()
        .map(|&a| {
            map(vec![
                (text("alg"), int(a.cose_id())),
                (text("type"), text("public-key")),
            ])
        })
        .collect();
    assert_eq!(algorithms, Value::Array(expected));
    // An alg outside every COSE range is simply not offered.
    let huge = map(vec![
        (text("alg"), Value::Unsigned(u64::MAX)),
        (text("type"), text("public-key")),
    ]);
    let req = with(mc("example.com", b"u", false), 4, Value::Array(vec![huge]));
    assert_eq!(t.make_credential(&req).err(), Some(UNSUPPORTED_ALGORITHM));
}

#[test]
fn rk_option_off_refuses_discoverable_credentials() {
    let mut profile = Profile::generic();
    profile.options.rk = false;
    let mut t = tester_with(profile, PresencePolicy::Auto);
    let info = t.get_info();
    let options = TextMap::new(IntMap::new(&info).unwrap().required(4).unwrap())
        .unwrap()
        .get("rk")
        .cloned();
    assert_eq!(options, Some(Value::Bool(false)));
    assert_eq!(
        t.make_credential(mc("example.com", b"u", true)).err(),
        Some(UNSUPPORTED_OPTION)
    );
    let r = t.credential("example.com", b"u", false);
    t.get_assertion(ga("example.com", &[&r.credential_id]))
        .unwrap();
    assert_eq!(
        t.get_assertion(ga("example.com", &[])).err(),
        Some(NO_CREDENTIALS)
    );
}

#[test]
fn credential_lists_longer_than_max_credential_count_in_list_exceed_the_limit() {
    for profile in [
        Profile::generic(),
        Profile::builtin("hid-crescendo-c3000").unwrap(),
    ] {
        let max = profile.max_credential_count_in_list;
        let id = profile.id.clone();
        let mut t = tester_with(profile, PresencePolicy::Auto);
        let r = t.credential("example.com", b"u", false);
        let foreign: Vec<Vec<u8>> = (0..max).map(|i| vec![i as u8; 62]).collect();
        // Exactly the limit, the real id last: processed.
        let mut ids: Vec<&[u8]> = foreign[..max - 1].iter().map(Vec::as_slice).collect();
        ids.push(&r.credential_id);
        let a = t.get_assertion(ga("example.com", &ids)).unwrap();
        assert_eq!(a.credential_id, r.credential_id, "{id}");
        let list = |ids: &[&[u8]]| Value::Array(ids.iter().map(|i| descriptor(i)).collect());
        let exclude = with(mc("example.com", b"v", false), 5, list(&ids));
        assert_eq!(t.make_credential(&exclude).err(), Some(CREDENTIAL_EXCLUDED));
        // One more: CTAP2_ERR_LIMIT_EXCEEDED, before anything else is looked at.
        ids.insert(0, &foreign[max - 1]);
        assert_eq!(
            t.get_assertion(ga("example.com", &ids)).err(),
            Some(LIMIT_EXCEEDED),
            "{id}"
        );
        let exclude = with(mc("example.com", b"v", false), 5, list(&ids));
        assert_eq!(
            t.make_credential(&exclude).err(),
            Some(LIMIT_EXCEEDED),
            "{id}"
        );
    }
}

#[test]
fn an_undeclared_list_limit_is_not_enforced() {
    // The C2300 answers getInfo keys 0x01-0x06 only: platforms do not know its limit of 5.
    let profile = Profile::builtin("hid-crescendo-c2300").unwrap();
    assert_eq!(profile.info_keys(), [1, 2, 3, 4, 5, 6]);
    let max = profile.max_credential_count_in_list;
    let mut t = tester_with(profile, PresencePolicy::Auto);
    let info = t.get_info();
    assert_eq!(IntMap::new(&info).unwrap().get(0x07), None);
    let r = t.credential("example.com", b"u", false);
    let foreign: Vec<Vec<u8>> = (0..2 * max).map(|i| vec![i as u8; 62]).collect();
    let mut ids: Vec<&[u8]> = foreign.iter().map(Vec::as_slice).collect();
    ids.push(&r.credential_id);
    let a = t.get_assertion(ga("example.com", &ids)).unwrap();
    assert_eq!(a.credential_id, r.credential_id);
}

#[test]
fn credential_ids_longer_than_max_credential_id_length_are_not_ours() {
    let mut t = tester();
    let max = Profile::generic().max_credential_id_length;
    let r = t.credential("example.com", b"u", false);
    // The card's own id with trailing bytes: too long, skipped without being read.
    let mut long = r.credential_id.clone();
    long.resize(max + 1, 0);
    assert_eq!(
        t.get_assertion(ga("example.com", &[&long])).err(),
        Some(NO_CREDENTIALS)
    );
    let a = t
        .get_assertion(ga("example.com", &[&long, &r.credential_id]))
        .unwrap();
    assert_eq!(a.credential_id, r.credential_id);
    let exclude = with(
        mc("example.com", b"v", false),
        5,
        Value::Array(vec![descriptor(&long)]),
    );
    t.make_credential(&exclude).unwrap();
}

#[test]
fn malformed_requests_get_the_exact_cbor_errors() {
    let mut t = tester();
    // Truncated map.
    assert_eq!(t.ctap_raw(&hex("01A301")).0, INVALID_CBOR);
    // Trailing garbage after a valid map.
    let mut msg = vec![0x01];
    msg.extend_from_slice(&Value::Map(mc("example.com", b"u", false)).to_vec());
    msg.push(0x00);
    assert_eq!(t.ctap_raw(&msg).0, INVALID_CBOR);
    // Not a map.
    assert_eq!(t.ctap_raw(&hex("0180")).0, CBOR_UNEXPECTED_TYPE);
    assert_eq!(t.ctap_raw(&hex("0280")).0, CBOR_UNEXPECTED_TYPE);
    // Wrong types of parameters.
    let req = with(mc("example.com", b"u", false), 1, text("not bytes"));
    assert_eq!(t.make_credential(&req).err(), Some(CBOR_UNEXPECTED_TYPE));
    let req = with(mc("example.com", b"u", false), 2, text("example.com"));
    assert_eq!(t.make_credential(&req).err(), Some(CBOR_UNEXPECTED_TYPE));
    let req = with(
        mc("example.com", b"u", false),
        7,
        map(vec![(text("rk"), int(1))]),
    );
    assert_eq!(t.make_credential(&req).err(), Some(CBOR_UNEXPECTED_TYPE));
    let user = map(vec![(text("id"), text("user"))]);
    let req = with(mc("example.com", b"u", false), 3, user);
    assert_eq!(t.make_credential(&req).err(), Some(CBOR_UNEXPECTED_TYPE));
    let req = with(ga("example.com", &[]), 3, map(vec![]));
    assert_eq!(t.get_assertion(&req).err(), Some(CBOR_UNEXPECTED_TYPE));
    // Missing required parameters.
    for key in 1..=4 {
        let req = without(mc("example.com", b"u", false), key);
        assert_eq!(
            t.make_credential(&req).err(),
            Some(MISSING_PARAMETER),
            "key {key}"
        );
    }
    let req = with(
        mc("example.com", b"u", false),
        2,
        map(vec![(text("name"), text("x"))]),
    );
    assert_eq!(t.make_credential(&req).err(), Some(MISSING_PARAMETER));
    for key in 1..=2 {
        let req = without(ga("example.com", &[]), key);
        assert_eq!(
            t.get_assertion(&req).err(),
            Some(MISSING_PARAMETER),
            "key {key}"
        );
    }
    assert_eq!(t.ctap_raw(&[0x01]).0, INVALID_CBOR, "no parameters at all");
    // Unknown keys are ignored.
    let req = with(mc("example.com", b"u", false), 0x42, text("future"));
    assert!(t.make_credential(&req).is_ok());
}

#[test]
fn options_up_uv_rk_are_checked() {
    let mut t = tester();
    // An options map of booleans.
    let options =
        |o: &[(&str, bool)]| map(o.iter().map(|&(k, v)| (text(k), Value::Bool(v))).collect());
    let mc_options = |o: &[(&str, bool)]| with(mc("example.com", b"u", false), 7, options(o));
    for (o, expected) in [
        (&[("up", false)][..], Err(INVALID_OPTION)),
        (&[("uv", true)], Err(INVALID_OPTION)),
        (&[("uv", false), ("up", true)], Ok(())),
    ] {
        assert_eq!(
            t.make_credential(mc_options(o)).map(drop),
            expected,
            "makeCredential {o:?}"
        );
    }
    let reg = t.credential("example.com", b"u", false);
    let ga = |o: &[(&str, bool)]| with(ga("example.com", &[&reg.credential_id]), 5, options(o));
    for (o, expected) in [
        (("rk", true), UNSUPPORTED_OPTION),
        (("uv", true), INVALID_OPTION),
    ] {
        assert_eq!(
            t.get_assertion(ga(&[o])).err(),
            Some(expected),
            "getAssertion {o:?}"
        );
    }
    // up = false: a silent probe without the UP flag.
    let silent = t.get_assertion(ga(&[("up", false)])).unwrap();
    assert_eq!(silent.flags() & 0x01, 0);
    assert!(silent.verifies(&reg.public_key, &cdh("login")));
    // A CTAP 2.0-only profile answers uv = true with UNSUPPORTED_OPTION.
    let profile = Profile::generic().restricted_to_ctap20();
    let mut t20 = tester_with(profile, PresencePolicy::Auto);
    let req = mc_options(&[("uv", true)]);
    assert_eq!(t20.make_credential(&req).err(), Some(UNSUPPORTED_OPTION));
}

#[test]
fn pin_uv_auth_param_without_a_pin_set() {
    let mut t = tester();
    let req = with(mc("example.com", b"u", false), 8, Value::bytes(vec![]));
    assert_eq!(
        t.make_credential(&req).err(),
        Some(PIN_NOT_SET),
        "touch probe"
    );
    let req = with(mc("example.com", b"u", false), 8, Value::bytes(vec![1; 16]));
    assert_eq!(t.make_credential(&req).err(), Some(MISSING_PARAMETER));
    let mut r = mc("example.com", b"u", false);
    r.push((int(8), Value::bytes(vec![1; 16])));
    assert_eq!(
        t.make_credential(with(r.clone(), 9, int(3))).err(),
        Some(INVALID_PARAMETER),
        "no PIN/UV auth protocol 3"
    );
    // Protocol 1 exists, but no token was ever handed out (tests/client_pin.rs has the rest).
    assert_eq!(
        t.make_credential(with(r, 9, int(1))).err(),
        Some(PIN_AUTH_INVALID)
    );
    let req = with(mc("example.com", b"u", false), 0x0A, int(1));
    assert_eq!(
        t.make_credential(&req).err(),
        Some(INVALID_PARAMETER),
        "no enterprise attestation"
    );
}

// --- getAssertion --------------------------------------------------------------------------

#[test]
fn get_assertion_with_allow_list_signs_and_counts() {
    let mut t = tester();
    let reg = t.credential("example.com", b"u", false);
    let login = cdh("login");
    let mut last = reg.sign_count();
    for _ in 0..3 {
        let req = Value::Map(ga("example.com", &[&[0xAB; 62], &reg.credential_id]));
        let a = t.get_assertion(&req).unwrap();
        assert_eq!(a.credential_id, reg.credential_id);
        assert_eq!(&a.auth_data[..32], &sha256(b"example.com"));
        assert_eq!(a.auth_data.len(), 37);
        assert_eq!(a.flags(), 0x01, "UP only");
        assert!(a.verifies(&reg.public_key, &login));
        assert!(!a.verifies(&reg.public_key, &cdh("other")));
        assert!(a.sign_count() > last, "counter increases");
        last = a.sign_count();
        assert!(a.user.is_none(), "non-discoverable: no user");
        assert!(a.number_of_credentials.is_none());
    }
}

#[test]
fn forged_or_foreign_credential_ids_are_not_found() {
    let mut t = tester();
    let reg = t.credential("example.com", b"u", false);
    let req = Value::Map(ga("other.example", &[&reg.credential_id]));
    assert_eq!(t.get_assertion(&req).err(), Some(NO_CREDENTIALS));
    let mut forged = reg.credential_id.clone();
    forged[20] ^= 1;
    let req = Value::Map(ga("example.com", &[&forged, &[], &[0; 1000]]));
    assert_eq!(t.get_assertion(&req).err(), Some(NO_CREDENTIALS));
    // No discoverable credentials for the RP either.
    assert_eq!(
        t.get_assertion(ga("example.com", &[])).err(),
        Some(NO_CREDENTIALS)
    );
    // getNextAssertion without a getAssertion before it.
    assert_eq!(t.get_next_assertion().err(), Some(NOT_ALLOWED));
}

#[test]
fn discoverable_credentials_come_newest_first_then_through_get_next_assertion() {
    let mut t = tester();
    let mut regs = Vec::new();
    for user in [b"alice", b"bobby", b"carol"] {
        regs.push(t.credential("example.com", user, true));
    }
    t.credential("other.example", b"zed", true);
    let cdh = cdh("login");

    let first = t.get_assertion(ga("example.com", &[])).unwrap();
    assert_eq!(first.number_of_credentials, Some(3));
    assert_eq!(first.user_id(), b"carol");
    assert_eq!(first.credential_id, regs[2].credential_id);
    assert!(first.verifies(&regs[2].public_key, &cdh));
    // Without UV only the user id: name and displayName are identifying information.
    assert_eq!(
        TextMap::new(first.user.as_ref().unwrap())
            .unwrap()
            .entries()
            .len(),
        1
    );

    let second = t.get_next_assertion().unwrap();
    assert_eq!(second.user_id(), b"bobby");
    assert!(second.number_of_credentials.is_none());
    assert!(second.verifies(&regs[1].public_key, &cdh));
    assert!(second.sign_count() > first.sign_count());
    let third = t.get_next_assertion().unwrap();
    assert_eq!(third.user_id(), b"alice");
    assert!(third.verifies(&regs[0].public_key, &cdh));
    assert_eq!(t.get_next_assertion().err(), Some(NOT_ALLOWED));

    // Any other command ends the continuation.
    t.get_assertion(ga("example.com", &[])).unwrap();
    t.get_info();
    assert_eq!(t.get_next_assertion().err(), Some(NOT_ALLOWED));
    // So does re-selecting the applet.
    t.get_assertion(ga("example.com", &[])).unwrap();
    t.select();
    assert_eq!(t.get_next_assertion().err(), Some(NOT_ALLOWED));
    // And 30 seconds of silence.
    t.get_assertion(ga("example.com", &[])).unwrap();
    t.clock.advance(30_001);
    assert_eq!(t.get_next_assertion().err(), Some(NOT_ALLOWED));

    // A single account: no numberOfCredentials, user id present.
    let only = t.get_assertion(ga("other.example", &[])).unwrap();
    assert_eq!(only.number_of_credentials, None);
    assert_eq!(only.user_id(), b"zed");
    // A resident credential named in an allowList also returns its user.
    let listed = t
        .get_assertion(ga("example.com", &[&regs[0].credential_id]))
        .unwrap();
    assert_eq!(listed.user_id(), b"alice");
}

#[test]
fn same_user_id_overwrites_and_the_old_id_stops_working() {
    let mut t = tester();
    let old = t.credential("example.com", b"alice", true);
    let new = t.credential("example.com", b"alice", true);
    assert_ne!(old.credential_id, new.credential_id);
    let info = t.get_info();
    let remaining = IntMap::new(&info)
        .unwrap()
        .required(20)
        .unwrap()
        .as_unsigned()
        .unwrap();
    assert_eq!(
        remaining,
        Profile::generic().max_resident_credentials as u64 - 1
    );
    let a = t.get_assertion(ga("example.com", &[])).unwrap();
    assert_eq!(a.number_of_credentials, None);
    assert_eq!(a.credential_id, new.credential_id);
    let req = Value::Map(ga("example.com", &[&old.credential_id]));
    assert_eq!(t.get_assertion(&req).err(), Some(NO_CREDENTIALS));
}

#[test]
fn key_store_full_at_capacity() {
    let mut profile = Profile::generic();
    profile.max_resident_credentials = 2;
    let mut t = tester_with(profile, PresencePolicy::Auto);
    t.credential("example.com", b"a", true);
    t.credential("example.com", b"b", true);
    let image = t.storage().image();
    assert_eq!(
        t.make_credential(mc("example.com", b"c", true)).err(),
        Some(KEY_STORE_FULL)
    );
    assert_eq!(
        t.storage().image(),
        image,
        "a failed command changes nothing"
    );
    // Overwriting and non-resident credentials still work.
    t.credential("example.com", b"a", true);
    t.credential("example.com", b"c", false);
    let info = t.get_info();
    assert_eq!(IntMap::new(&info).unwrap().required(20).unwrap(), &int(0));
}

// --- reset, presence, persistence ------------------------------------------------------------

#[test]
fn reset_within_ten_seconds_wipes_everything() {
    let mut t = tester();
    let resident = t.credential("example.com", b"a", true);
    let plain = t.credential("example.com", b"b", false);
    t.clock.advance(9_000);
    assert_eq!(t.reset(), Ok(()));
    for id in [&resident.credential_id, &plain.credential_id] {
        let req = Value::Map(ga("example.com", &[id]));
        assert_eq!(t.get_assertion(&req).err(), Some(NO_CREDENTIALS));
    }
    assert_eq!(
        t.get_assertion(ga("example.com", &[])).err(),
        Some(NO_CREDENTIALS)
    );
    let reg = t.credential("example.com", b"a", false);
    assert_eq!(reg.sign_count(), 1, "counter restarted");
    // The attestation material is kept: same batch certificate.
    assert_eq!(reg.x5c(), resident.x5c());
}

#[test]
fn reset_after_ten_seconds_is_not_allowed_until_the_next_power_up() {
    let mut t = tester();
    let reg = t.credential("example.com", b"a", false);
    t.clock.advance(10_001);
    assert_eq!(t.reset(), Err(NOT_ALLOWED));
    let req = Value::Map(ga("example.com", &[&reg.credential_id]));
    assert!(t.get_assertion(&req).is_ok(), "nothing was wiped");
    // A new tap (power cycle) opens the window again.
    t.card.power_off();
    t.card.power_on();
    t.select();
    assert_eq!(t.reset(), Ok(()));
    assert_eq!(t.get_assertion(&req).err(), Some(NO_CREDENTIALS));
}

#[test]
fn presence_denied_is_operation_denied() {
    let mut ok = tester();
    let reg = ok.credential("example.com", b"a", false);
    let mut t = tester_on(
        Profile::generic(),
        PresencePolicy::Deny,
        ok.storage().clone(),
        9,
    );
    assert_eq!(
        t.make_credential(mc("example.com", b"b", true)).err(),
        Some(OPERATION_DENIED)
    );
    let req = Value::Map(ga("example.com", &[&reg.credential_id]));
    assert_eq!(t.get_assertion(&req).err(), Some(OPERATION_DENIED));
    assert_eq!(t.reset(), Err(OPERATION_DENIED));
    assert_eq!(
        t.ctap(0x0B, None).err(),
        Some(OPERATION_DENIED),
        "authenticatorSelection"
    );
    // A silent probe needs no presence.
    let req = with(
        ga("example.com", &[&reg.credential_id]),
        5,
        map(vec![(text("up"), Value::Bool(false))]),
    );
    assert!(t.get_assertion(&req).is_ok());
    assert_eq!(ok.ctap(0x0B, None), Ok(Value::Null));
}

/// §6.1.2 step 1.2 and §6.2.2 step 1.2: the zero-length pinUvAuthParam probe asks for user
/// interaction first; when the user declines it is CTAP2_ERR_OPERATION_DENIED, not the PIN
/// state answer of step 1.3.
#[test]
fn zero_length_probe_with_presence_denied_is_operation_denied() {
    let mut t = tester_with(Profile::generic(), PresencePolicy::Deny);
    assert_eq!(t.zero_length_probes(), [Some(OPERATION_DENIED); 2]);
}

#[test]
fn state_survives_recreating_the_card_from_the_same_storage() {
    let mut t = tester();
    let resident = t.credential("example.com", b"a", true);
    let plain = t.credential("example.com", b"b", false);
    let count = plain.sign_count();
    let mut t2 = reload(&t, 99);
    drop(t);
    let a = t2
        .get_assertion(ga("example.com", &[&plain.credential_id]))
        .unwrap();
    assert!(a.verifies(&plain.public_key, &cdh("login")));
    assert_eq!(a.sign_count(), count + 1, "counter persisted");
    let d = t2.get_assertion(ga("example.com", &[])).unwrap();
    assert_eq!(d.credential_id, resident.credential_id);
    let again = t2.credential("example.com", b"c", false);
    assert_eq!(again.att_stmt.as_map().unwrap().len(), 3);
    assert_eq!(
        again.x5c(),
        resident.x5c(),
        "attestation material persisted"
    );
}

// --- the NFC binding -----------------------------------------------------------------------

#[test]
fn ctap_errors_travel_inside_9000_and_iso_errors_as_status_words() {
    let mut t = tester();
    assert_eq!(&SELECT[5..13], &FIDO_AID);
    assert_eq!(
        t.transmit(&hex("801000000155")),
        (vec![INVALID_COMMAND], 0x9000)
    );
    assert_eq!(
        t.transmit(&hex("80100000020100")),
        (vec![CBOR_UNEXPECTED_TYPE], 0x9000)
    );
    assert_eq!(
        t.transmit(&hex("80100000")).1,
        0x6700,
        "no CTAP command byte"
    );
    assert_eq!(
        t.transmit(&hex("80100100010400")).1,
        0x6A86,
        "P1 other than 00/80"
    );
    assert_eq!(t.transmit(&hex("80100001010400")).1, 0x6A86);
    assert_eq!(t.transmit(&hex("80FF0000")).1, 0x6D00, "unknown INS");
    assert_eq!(
        t.transmit(&hex("00010300")).1,
        0x6700,
        "U2F_REGISTER without its 64 bytes"
    );
    assert_eq!(t.transmit(&hex("A0100000010400")).1, 0x6E00, "CLA");
    assert_eq!(
        t.transmit(&hex("80110000")).1,
        0x6985,
        "nothing pending for NFCCTAP_GETRESPONSE"
    );
    assert_eq!(t.transmit(&hex("80111100")).1, 0x6985);
    // CLA 00 is accepted as well as 80.
    assert_eq!(t.transmit(&hex("001000000104")).1, 0x9000);
}

#[test]
fn nfcctap_control_end_stops_ctap_until_reselected() {
    let mut t = tester();
    t.credential("example.com", b"a", true);
    t.credential("example.com", b"b", true);
    t.get_assertion(ga("example.com", &[])).unwrap();
    assert_eq!(t.transmit(&hex("80120100")), (vec![], 0x9000));
    assert_eq!(t.transmit(&hex("80100000010400")).1, 0x6985);
    assert_eq!(t.transmit(&hex("80120200")).1, 0x6A86);
    t.select();
    assert_eq!(
        t.get_next_assertion().err(),
        Some(NOT_ALLOWED),
        "session ended"
    );
    t.get_info();
}

#[test]
fn request_larger_than_max_msg_size_is_request_too_large() {
    let mut t = tester();
    let max = Profile::generic().max_msg_size;
    let mut msg = vec![0x01];
    msg.resize(max + 1, 0);
    assert_eq!(t.ctap_raw(&msg).0, REQUEST_TOO_LARGE);
    t.framing = Framing::Extended;
    assert_eq!(t.ctap_raw(&msg).0, REQUEST_TOO_LARGE);
}

#[test]
fn chained_short_and_extended_apdus_work_end_to_end() {
    for framing in [Framing::ShortChained, Framing::Extended] {
        let mut t = tester();
        t.framing = framing;
        // A request over 255 bytes (long excludeList) and a response over 256 bytes (packed
        // attestation with its certificate).
        let excl: Vec<Value> = (0..6u8).map(|i| descriptor(&[i; 62])).collect();
        let req = with(mc("example.com", b"u", false), 5, Value::Array(excl));
        assert!(req.to_vec().len() > 255);
        let reg = t.make_credential(&req).unwrap();
        assert_eq!(reg.fmt, "packed");
        let a = t
            .get_assertion(ga("example.com", &[&reg.credential_id]))
            .unwrap();
        assert!(a.verifies(&reg.public_key, &cdh("login")), "{framing:?}");
    }
    // libfido2 / Windows style: P1 = 00, GET RESPONSE with CLA 80.
    let mut t = tester();
    let msg = {
        let mut m = vec![0x01];
        m.extend_from_slice(&Value::Map(mc("example.com", b"u", false)).to_vec());
        m
    };
    let mut apdu = vec![0x80, 0x10, 0x00, 0x00, msg.len() as u8];
    apdu.extend_from_slice(&msg);
    apdu.push(0x00);
    let mut resp = t.card.transmit(&apdu);
    let mut data = Vec::new();
    loop {
        let n = resp.len() - 2;
        data.extend_from_slice(&resp[..n]);
        match (resp[n], resp[n + 1]) {
            (0x61, le) => resp = t.card.transmit(&[0x80, 0xC0, 0x00, 0x00, le]),
            (0x90, 0x00) => break,
            sw => panic!("unexpected SW {sw:02X?}"),
        }
    }
    assert_eq!(data[0], OK);
    assert!(data.len() > 256);
}

// --- robustness ------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_after_the_command_byte_never_panic(
        command in prop::sample::select(vec![0x01u8, 0x02, 0x04, 0x07, 0x08, 0x0B, 0x06, 0x99]),
        body in prop::collection::vec(any::<u8>(), 0..600),
    ) {
        let mut t = tester();
        let mut msg = vec![command];
        msg.extend_from_slice(&body);
        let (data, sw) = t.nfcctap_msg(&msg);
        prop_assert_eq!(sw, 0x9000);
        prop_assert!(!data.is_empty());
        if data[0] == OK {
            if data.len() > 1 {
                prop_assert!(cbor::parse(&data[1..]).is_ok());
            }
        } else {
            prop_assert_eq!(data.len(), 1);
        }
        // The card still works afterwards.
        t.get_info();
    }

    #[test]
    fn mutated_valid_requests_never_panic(
        flips in prop::collection::vec((0usize..400, any::<u8>()), 1..6),
        command in prop::sample::select(vec![0x01u8, 0x02]),
    ) {
        let mut t = tester();
        let reg = t.credential("example.com", b"u", true);
        let req = if command == 0x01 {
            with(mc("example.com", b"u", true), 5, Value::Array(vec![descriptor(&[3; 62])]))
        } else {
            Value::Map(ga("example.com", &[&reg.credential_id]))
        };
        let mut msg = vec![command];
        msg.extend_from_slice(&req.to_vec());
        for (pos, byte) in flips {
            let len = msg.len();
            msg[1 + pos % (len - 1)] = byte;
        }
        let (data, sw) = t.nfcctap_msg(&msg);
        prop_assert_eq!(sw, 0x9000);
        prop_assert!(!data.is_empty());
    }
}

// --- persistent memory failures ----------------------------------------------------------------

#[test]
fn a_failed_write_changes_nothing_and_is_ctap1_err_other() {
    use card_storage::FaultyStorage;
    // Writes: 1 = fresh state, 2 = attestation material, 3 = the first makeCredential.
    let memory = MemoryStorage::new();
    let faulty = FaultyStorage::new(memory.clone(), Some(3));
    let mut t = Tester::on_storage_with(
        setup(Profile::generic(), PresencePolicy::Auto, 11),
        memory.clone(),
        Box::new(move |_| Box::new(faulty)),
    );
    let before = memory.image();
    assert_eq!(
        t.make_credential(mc("example.com", b"a", true)).err(),
        Some(0x7F)
    );
    assert_eq!(memory.image(), before);
    assert_eq!(
        t.get_assertion(ga("example.com", &[])).err(),
        Some(NO_CREDENTIALS)
    );
    // The next write succeeds, and the counter starts where it was.
    let reg = t.credential("example.com", b"a", true);
    assert_eq!(reg.sign_count(), 1);
}
