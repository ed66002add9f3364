//! authenticatorClientPIN, the pinUvAuthToken rules in makeCredential / getAssertion, and the
//! CTAP 2.1 §12 extensions, end to end through the APDU interface of a virtual card.
//!
//! The platform side of the PIN/UV auth protocols is the shared host's (`host::pin`, written from
//! the specification, §6.5.6, §6.5.7, with the RustCrypto primitives directly — not with the
//! card's `pin_protocol` module — so a bug shared by both sides cannot hide). hmac-secret outputs
//! are checked against HMAC-SHA-256 computed on the host side; only CredRandom itself (derived from the card's
//! secret master key) comes from the card's `crypto::derive_cred_random`, applied to the key read
//! out of the persistent image.

#[allow(dead_code)] // each test file is its own crate and uses only part of the shared host
mod host;

use card_storage::FaultyStorage;
use ctap_types::cbor::{IntMap, TextMap, Value};
use fido_applet::crypto::{derive_cred_random, sha256};
use fido_applet::profile::{PinProtocol, Profile};
use host::*;

fn pin_set_tester(protocol: u8) -> Tester {
    let mut t = Tester::new();
    t.set_pin(protocol, PIN.as_bytes()).unwrap();
    t
}

// --- getInfo ----------------------------------------------------------------------------------

#[test]
fn get_info_declares_pin_support_and_extensions() {
    let mut t = Tester::new();
    let info = t.get_info();
    let m = IntMap::new(&info).unwrap();
    assert_eq!(
        option(&info, "clientPin"),
        Some(false),
        "a PIN can be set; none is"
    );
    assert_eq!(option(&info, "pinUvAuthToken"), Some(true));
    assert_eq!(option(&info, "makeCredUvNotRqd"), Some(true));
    assert_eq!(option(&info, "uv"), None, "no built-in user verification");
    assert_eq!(
        m.required(6).unwrap(),
        &Value::Array(vec![int(2), int(1)]),
        "pinUvAuthProtocols"
    );
    let ext: Vec<&str> = m
        .required(2)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_text().unwrap())
        .collect();
    for e in [
        "credProtect",
        "hmac-secret",
        "credBlob",
        "largeBlobKey",
        "minPinLength",
    ] {
        assert!(ext.contains(&e), "{e} listed");
    }
    assert_eq!(
        m.required(0x0C).unwrap(),
        &Value::Bool(false),
        "forcePINChange"
    );
    assert_eq!(m.required(0x0D).unwrap(), &int(4), "minPINLength");
    assert_eq!(m.required(0x0F).unwrap(), &int(32), "maxCredBlobLength");

    t.set_pin(2, PIN.as_bytes()).unwrap();
    assert_eq!(option(&t.get_info(), "clientPin"), Some(true));
}

#[test]
fn profile_chooses_protocols_and_minimum_length() {
    let mut profile = Profile::generic();
    profile.pin_uv_auth_protocols = vec![PinProtocol::V2];
    profile.min_pin_length = 6;
    let mut t = Tester::with_profile(profile);
    let info = t.get_info();
    let m = IntMap::new(&info).unwrap();
    assert_eq!(m.required(6).unwrap(), &Value::Array(vec![int(2)]));
    assert_eq!(m.required(0x0D).unwrap(), &int(6));
    assert_eq!(
        t.client_pin(vec![(int(1), int(1)), (int(2), int(2))]),
        Err(INVALID_PARAMETER)
    );
    assert_eq!(t.set_pin(2, b"12345"), Err(PIN_POLICY_VIOLATION));
    t.set_pin(2, b"123456").unwrap();
}

// --- Subcommands ------------------------------------------------------------------------------

#[test]
fn get_pin_retries_and_key_agreement() {
    let mut t = Tester::new();
    assert_eq!(t.retries(), (8, false));
    // getPINRetries needs no protocol.
    assert!(t.client_pin(vec![(int(2), int(1))]).is_ok());
    for protocol in [1, 2] {
        let key = t.key_agreement(protocol);
        assert_eq!(key.to_vec().len(), 78);
        assert_eq!(t.key_agreement(protocol), key, "stable until power-up");
    }
    let before = t.key_agreement(2);
    t.power_cycle();
    assert_ne!(t.key_agreement(2), before, "regenerated at power-up");

    assert_eq!(t.client_pin(vec![(int(2), int(2))]), Err(MISSING_PARAMETER));
    assert_eq!(
        t.client_pin(vec![(int(1), int(3)), (int(2), int(2))]),
        Err(INVALID_PARAMETER)
    );
    assert_eq!(
        t.client_pin(vec![(int(1), int(2))]),
        Err(MISSING_PARAMETER),
        "no subcommand"
    );
    assert_eq!(
        t.client_pin(vec![(int(1), int(2)), (int(2), int(8))]),
        Err(INVALID_SUBCOMMAND)
    );
    assert_eq!(
        t.client_pin(vec![(int(1), int(2)), (int(2), int(6))]),
        Err(INVALID_SUBCOMMAND),
        "no built-in UV"
    );
    assert_eq!(
        t.client_pin(vec![(int(1), int(2)), (int(2), int(7))]),
        Err(INVALID_SUBCOMMAND)
    );
    assert_eq!(
        t.client_pin(vec![(int(1), text("2")), (int(2), int(2))]),
        Err(CBOR_UNEXPECTED_TYPE)
    );
}

#[test]
fn set_pin_both_protocols_and_only_once() {
    for protocol in [1, 2] {
        let mut t = Tester::new();
        t.set_pin(protocol, PIN.as_bytes()).unwrap();
        // CTAP 2.1 §6.5.5.5 step 3: "If a PIN has already been set, authenticator returns
        // CTAP2_ERR_PIN_AUTH_INVALID error." (This test used to expect NOT_ALLOWED, a code
        // the step does not name.)
        assert_eq!(
            t.set_pin(protocol, b"5678"),
            Err(PIN_AUTH_INVALID),
            "a PIN is already set"
        );
        assert_eq!(t.retries(), (8, false), "no retry is spent on it");
        let state = t.state();
        let expected: [u8; 16] = sha256(PIN.as_bytes())[..16].try_into().unwrap();
        assert_eq!(
            state.pin.pin_hash,
            Some(expected),
            "LEFT(SHA-256(PIN), 16) is stored"
        );
        assert!(
            !t.storage()
                .image()
                .unwrap()
                .windows(4)
                .any(|w| w == PIN.as_bytes()),
            "never the PIN"
        );
        assert_eq!(t.retries(), (8, false));
        t.token(protocol, PIN, GA, Some("example.com")).unwrap();
    }
}

/// §6.5.5.5 step 6 and the same step of §6.5.5.6: a newPinEnc whose MAC verifies but which
/// does not decrypt (not whole AES blocks) is CTAP2_ERR_PIN_AUTH_INVALID — it used to be
/// INVALID_PARAMETER, a code these steps do not name. Nothing is stored; a changePIN whose
/// current PIN matched keeps its retries.
#[test]
fn new_pin_enc_that_does_not_decrypt_is_pin_auth_invalid() {
    for protocol in [1, 2] {
        let mut t = Tester::new();
        let s = t.secret(protocol);
        // 36 bytes: not a multiple of 16 under either protocol (protocol 2: IV + 20 bytes).
        let broken = vec![0x5A; 36];
        let param = s.authenticate(&broken);
        assert_eq!(
            t.client_pin(s.pin_request(param, broken.clone(), None)),
            Err(PIN_AUTH_INVALID),
            "setPIN, protocol {protocol}"
        );
        assert_eq!(t.state().pin.pin_hash, None);

        t.set_pin(protocol, PIN).unwrap();
        let mut s = t.secret(protocol);
        let pin_hash_enc = s.pin_hash_enc(PIN);
        let param = s.authenticate(&[broken.as_slice(), &pin_hash_enc].concat());
        assert_eq!(
            t.client_pin(s.pin_request(param, broken, Some(pin_hash_enc))),
            Err(PIN_AUTH_INVALID),
            "changePIN, protocol {protocol}"
        );
        assert_eq!(t.retries(), (8, false));
        t.token(protocol, PIN, GA, None).unwrap();
    }
}

/// A copy of the platform's COSE key moved off the curve (y with one bit flipped).
fn off_curve(cose: &Value) -> Value {
    let mut key = cose.clone();
    if let Value::Map(entries) = &mut key {
        for (k, v) in entries.iter_mut() {
            if *k == int(-3) {
                let mut y = v.as_bytes().unwrap().to_vec();
                y[31] ^= 1;
                *v = Value::bytes(y);
            }
        }
    }
    key
}

/// §6.5.5.6 steps 1, 2 and 4 (changePIN) and §6.5.5.7.1 / §6.5.5.7.2 steps 1, 2 and 6
/// (getPinToken, getPinUvAuthTokenUsingPinWithPermissions): a missing parameter is
/// CTAP2_ERR_MISSING_PARAMETER, an unknown protocol and a platform key off the curve
/// CTAP1_ERR_INVALID_PARAMETER — each before a retry is spent.
#[test]
fn change_pin_and_token_parameter_errors() {
    let mut t = Tester::new();
    t.set_pin(2, PIN).unwrap();
    let mut s = t.secret(2);
    let new_pin_enc = s.padded_pin(b"5678");
    let pin_hash_enc = s.pin_hash_enc(PIN);
    let param = s.authenticate(&[new_pin_enc.as_slice(), &pin_hash_enc].concat());
    let change = s.pin_request(param, new_pin_enc, Some(pin_hash_enc.clone()));
    let token = |sub: i64| s.token_request(sub, pin_hash_enc.clone());
    // (subcommand, a well-formed request, its required members).
    let requests = [
        ("changePIN", change, &[1, 3, 4, 5, 6][..]),
        ("getPinToken", token(5), &[1, 3, 6]),
        (
            "getPinUvAuthTokenUsingPinWithPermissions",
            set(token(9), 9, int(GA as i64)),
            &[1, 3, 6],
        ),
    ];
    for (name, req, required) in requests {
        for &missing in required {
            assert_eq!(
                t.client_pin(unset(req.clone(), missing)),
                Err(MISSING_PARAMETER),
                "{name} without {missing}"
            );
        }
        assert_eq!(
            t.client_pin(set(req.clone(), 1, int(3))),
            Err(INVALID_PARAMETER),
            "{name} protocol 3"
        );
        assert_eq!(
            t.client_pin(set(req, 3, off_curve(&s.cose))),
            Err(INVALID_PARAMETER),
            "{name} key off the curve"
        );
    }
    assert_eq!(t.retries(), (8, false), "no retry spent");
    t.token(2, PIN, GA, None).unwrap();
}

/// §6.1.2 step 11.1: makeCredential's pinUvAuthParam must verify under the token (11.1.1), the
/// token must hold mc (11.1.2) and be bound to this RP if bound at all (11.1.3); a token
/// consumed by an earlier ceremony has lost mc (step 14.4). Each is CTAP2_ERR_PIN_AUTH_INVALID.
#[test]
fn make_credential_token_checks() {
    let mut t = Tester::new();
    t.set_pin(2, PIN).unwrap();
    let token = t.token(2, PIN, MC, Some("example.com")).unwrap();
    let mut bad = token.param(&cdh("register"));
    bad[0] ^= 1;
    let req = set(
        set(mc("example.com", b"u", true), 8, Value::bytes(bad)),
        9,
        int(2),
    );
    assert_eq!(t.make_credential(req).err(), Some(PIN_AUTH_INVALID), "MAC");
    assert_eq!(
        t.make_credential(with_token(mc("other.example", b"u", true), &token, 8))
            .err(),
        Some(PIN_AUTH_INVALID),
        "bound to example.com"
    );
    t.make_credential(with_token(mc("example.com", b"u", true), &token, 8))
        .unwrap();
    assert_eq!(
        t.make_credential(with_token(mc("example.com", b"v", true), &token, 8))
            .err(),
        Some(PIN_AUTH_INVALID),
        "consumed"
    );
}

#[test]
fn set_pin_policy_and_parameter_errors() {
    let mut t = Tester::new();
    assert_eq!(
        t.set_pin(2, b"123"),
        Err(PIN_POLICY_VIOLATION),
        "3 code points"
    );
    assert_eq!(
        t.set_pin(2, "éé".as_bytes()),
        Err(PIN_POLICY_VIOLATION),
        "4 bytes but 2 code points"
    );
    assert_eq!(
        t.set_pin(2, [b'1'; 64]),
        Err(PIN_POLICY_VIOLATION),
        "64 bytes: no padding left"
    );
    assert_eq!(
        t.set_pin(2, [0xFF, 0xFE, 0x31, 0x32]),
        Err(PIN_POLICY_VIOLATION),
        "not UTF-8"
    );
    assert_eq!(
        t.set_pin(2, b"12\x0034"),
        Err(PIN_POLICY_VIOLATION),
        "NUL inside"
    );
    assert_eq!(t.state().pin.pin_hash, None);

    // newPinEnc must decrypt to exactly 64 bytes.
    let mut s = t.secret(1);
    let short = s.encrypt(&[0x31; 48]);
    let param = s.authenticate(&short);
    assert_eq!(
        t.client_pin(s.pin_request(param, short, None)),
        Err(INVALID_PARAMETER)
    );

    // A wrong pinUvAuthParam.
    let enc = s.padded_pin(b"1234");
    let mut bad = s.authenticate(&enc);
    bad[0] ^= 1;
    assert_eq!(
        t.client_pin(s.pin_request(bad, enc.clone(), None)),
        Err(PIN_AUTH_INVALID)
    );
    // A platform key that is not on the curve.
    let mut off_curve = s.cose.clone();
    if let Value::Map(entries) = &mut off_curve {
        for (k, v) in entries.iter_mut() {
            if *k == int(-3) {
                let mut y = v.as_bytes().unwrap().to_vec();
                y[31] ^= 1;
                *v = Value::bytes(y);
            }
        }
    }
    assert_eq!(
        t.client_pin(set(
            s.pin_request(s.authenticate(&enc), enc.clone(), None),
            3,
            off_curve
        )),
        Err(INVALID_PARAMETER)
    );
    // Each missing parameter.
    for missing in [1, 3, 4, 5] {
        let r = unset(
            s.pin_request(s.authenticate(&enc), enc.clone(), None),
            missing,
        );
        assert_eq!(t.client_pin(r), Err(MISSING_PARAMETER), "without {missing}");
    }
    // Protocol 3 does not exist.
    let mut r = s.pin_request(s.authenticate(&enc), enc.clone(), None);
    r[0] = (int(1), int(3));
    assert_eq!(t.client_pin(r), Err(INVALID_PARAMETER));

    // Four code points of two bytes each are a valid PIN; 63 bytes too.
    t.set_pin(2, "éééé".as_bytes()).unwrap();
    let mut t = Tester::new();
    t.set_pin(1, [b'7'; 63]).unwrap();
}

#[test]
fn change_pin_checks_the_current_pin_and_ends_tokens() {
    for protocol in [1, 2] {
        let mut t = Tester::new();
        assert_eq!(t.change_pin(protocol, PIN, b"5678"), Err(PIN_NOT_SET));
        t.set_pin(protocol, PIN.as_bytes()).unwrap();
        let token = t.token(protocol, PIN, GA, Some("example.com")).unwrap();

        assert_eq!(t.change_pin(protocol, "0000", b"5678"), Err(PIN_INVALID));
        assert_eq!(t.retries(), (7, false), "a wrong current PIN costs a retry");
        assert_eq!(
            t.change_pin(protocol, PIN, b"567"),
            Err(PIN_POLICY_VIOLATION),
            "new PIN too short"
        );
        assert_eq!(
            t.retries(),
            (8, false),
            "the current PIN matched: retries restored"
        );
        t.change_pin(protocol, PIN, b"5678").unwrap();

        assert_eq!(
            t.token(protocol, PIN, GA, None).err(),
            Some(PIN_INVALID),
            "old PIN gone"
        );
        t.token(protocol, "5678", GA, None).unwrap();
        // The token obtained before the change no longer works.
        let r = t.credential("example.com", b"u", false);
        let req = with_token(ga("example.com", &[&r.credential_id]), &token, 6);
        assert_eq!(t.get_assertion(req).err(), Some(PIN_AUTH_INVALID));
    }
}

#[test]
fn change_pin_with_a_bad_auth_param_costs_nothing() {
    let mut t = pin_set_tester(2);
    let mut s = t.secret(2);
    let new_pin_enc = s.padded_pin(b"5678");
    let pin_hash_enc = s.pin_hash_enc(PIN);
    let param = s.authenticate(&new_pin_enc); // must cover newPinEnc || pinHashEnc
    let r = t.client_pin(s.pin_request(param, new_pin_enc, Some(pin_hash_enc)));
    assert_eq!(r, Err(PIN_AUTH_INVALID));
    assert_eq!(t.retries(), (8, false));
}

#[test]
fn get_pin_token_legacy_grants_mc_and_ga() {
    let mut t = pin_set_tester(1);
    let token = t.pin_token(1, PIN).unwrap();
    let r = t
        .make_credential(with_token(mc("example.com", b"u", true), &token, 8))
        .unwrap();
    assert_eq!(r.flags() & (FLAG_UP | FLAG_UV), FLAG_UP | FLAG_UV);
    // makeCredential consumed it; a new one for getAssertion.
    let token = t.pin_token(1, PIN).unwrap();
    let a = t
        .get_assertion(with_token(ga("example.com", &[]), &token, 6))
        .unwrap();
    assert_eq!(a.flags() & FLAG_UV, FLAG_UV);

    // permissions or rpId with getPinToken are refused.
    let mut s = t.secret(1);
    let pin_hash_enc = s.pin_hash_enc(PIN);
    let r = t.client_pin(set(s.token_request(5, pin_hash_enc), 9, int(1)));
    assert_eq!(r, Err(INVALID_PARAMETER));
}

#[test]
fn permissions_are_checked() {
    let mut t = Tester::new();
    assert_eq!(t.token(2, PIN, GA, None).err(), Some(PIN_NOT_SET));
    t.set_pin(2, PIN.as_bytes()).unwrap();
    assert_eq!(t.token(2, PIN, 0, None).err(), Some(INVALID_PARAMETER));
    // be (no fingerprint sensor), pcmr (CTAP 2.2) and undefined bits; cm, lbw and acfg are
    // granted (tests/cred_mgmt.rs, large_blobs.rs, config.rs) because the generic profile has
    // their commands.
    for p in [0x08, 0x40, 0x80, 0x100] {
        assert_eq!(
            t.token(2, PIN, p | GA, None).err(),
            Some(UNAUTHORIZED_PERMISSION),
            "{p:#x}"
        );
    }
    assert_eq!(t.retries(), (8, false), "refused before the PIN is tried");
    // Without permissions the subcommand is incomplete.
    let mut s = t.secret(2);
    let pin_hash_enc = s.pin_hash_enc(PIN);
    let r = t.client_pin(s.token_request(9, pin_hash_enc));
    assert_eq!(r, Err(MISSING_PARAMETER));
    t.token(2, PIN, MC | GA, Some("example.com")).unwrap();
}

// --- Retries and blocking ---------------------------------------------------------------------

#[test]
fn three_wrong_pins_need_a_power_cycle_and_eight_block_for_good() {
    let mut t = pin_set_tester(2);
    let key_before = t.key_agreement(2);
    assert_eq!(t.token(2, "0000", GA, None).err(), Some(PIN_INVALID));
    assert_ne!(
        t.key_agreement(2),
        key_before,
        "a mismatch regenerates the key-agreement key"
    );
    assert_eq!(t.token(2, "0000", GA, None).err(), Some(PIN_INVALID));
    assert_eq!(t.token(2, "0000", GA, None).err(), Some(PIN_AUTH_BLOCKED));
    assert_eq!(t.retries(), (5, true));
    // Even the right PIN is refused, and costs nothing, until the card is powered again.
    assert_eq!(t.token(2, PIN, GA, None).err(), Some(PIN_AUTH_BLOCKED));
    assert_eq!(t.change_pin(2, PIN, b"5678"), Err(PIN_AUTH_BLOCKED));
    assert_eq!(t.retries(), (5, true));

    t.power_cycle();
    assert_eq!(t.retries(), (5, false));
    t.token(2, PIN, GA, None).unwrap();
    assert_eq!(t.retries(), (8, false), "a right PIN restores the retries");

    // Eight wrong PINs in a row, power cycling after every third.
    let mut answers = Vec::new();
    for i in 0..8 {
        if i > 0 && i % 3 == 0 {
            t.power_cycle();
        }
        answers.push(t.token(1, "9999", GA, None).err().unwrap());
    }
    assert_eq!(
        answers,
        [
            PIN_INVALID,
            PIN_INVALID,
            PIN_AUTH_BLOCKED,
            PIN_INVALID,
            PIN_INVALID,
            PIN_AUTH_BLOCKED,
            PIN_INVALID,
            PIN_BLOCKED
        ]
    );
    assert_eq!(t.retries().0, 0);
    t.power_cycle();
    assert_eq!(
        t.token(2, PIN, GA, None).err(),
        Some(PIN_BLOCKED),
        "blocked for good"
    );
    assert_eq!(t.change_pin(2, PIN, b"5678"), Err(PIN_BLOCKED));
    // The persistent state says so too, across a reload.
    let mut t = t.reload();
    assert_eq!(t.retries().0, 0);

    // authenticatorReset (within 10 s of power-up) is the only way out.
    t.ctap(0x07, None).unwrap();
    assert_eq!(t.retries(), (8, false));
    assert_eq!(option(&t.get_info(), "clientPin"), Some(false));
    t.set_pin(2, b"4321").unwrap();
}

#[test]
fn a_power_cut_after_the_decrement_still_costs_the_attempt() {
    let t = pin_set_tester(2);

    // The restoring write (the 2nd) fails: the card answers CTAP1_ERR_OTHER and the attempt
    // stays counted, although the PIN was right.
    let mut cut = t.reload_with(Box::new(|s| Box::new(FaultyStorage::new(s, Some(2)))));
    assert_eq!(cut.token(2, PIN, GA, None).err(), Some(OTHER));
    drop(cut);
    let mut after = t.reload();
    assert_eq!(after.retries(), (7, false));

    // The decrement itself (the 1st write) fails: nothing was compared, nothing counted, no
    // token handed out.
    let mut cut = t.reload_with(Box::new(|s| Box::new(FaultyStorage::new(s, Some(1)))));
    assert_eq!(cut.token(2, "0000", GA, None).err(), Some(OTHER));
    assert_eq!(cut.retries(), (7, false), "no mismatch was registered");
    drop(cut);
    let mut after = t.reload();
    assert_eq!(after.retries(), (7, false));
    after.token(2, PIN, GA, None).unwrap();
    assert_eq!(after.retries(), (8, false));
}

// --- The token in makeCredential / getAssertion -----------------------------------------------

#[test]
fn zero_length_pin_uv_auth_param_probes_the_pin_state() {
    let mut t = Tester::new();
    assert_eq!(t.zero_length_probes(), [Some(PIN_NOT_SET); 2]);
    t.set_pin(2, PIN.as_bytes()).unwrap();
    assert_eq!(t.zero_length_probes(), [Some(PIN_INVALID); 2]);
    assert_eq!(t.retries(), (8, false), "a probe costs no retry");
}

#[test]
fn with_a_pin_set_discoverable_credentials_need_a_token() {
    let mut t = pin_set_tester(2);
    assert_eq!(
        t.make_credential(mc("example.com", b"u", true)).err(),
        Some(PUAT_REQUIRED)
    );
    // makeCredUvNotRqd: a non-discoverable credential can be made without, and is not UV.
    let r = t.credential("example.com", b"u", false);
    assert_eq!(r.flags() & (FLAG_UP | FLAG_UV), FLAG_UP);
    let a = t
        .get_assertion(ga("example.com", &[&r.credential_id]))
        .unwrap();
    assert_eq!(
        a.flags() & (FLAG_UP | FLAG_UV),
        FLAG_UP,
        "UV only when really performed"
    );

    let token = t.token(2, PIN, MC, Some("example.com")).unwrap();
    let r = t
        .make_credential(with_token(mc("example.com", b"u", true), &token, 8))
        .unwrap();
    assert_eq!(r.flags() & (FLAG_UP | FLAG_UV), FLAG_UP | FLAG_UV);

    // With a token, name and displayName come back (UV performed); without, only the id.
    let token = t.token(2, PIN, GA, Some("example.com")).unwrap();
    let a = t
        .get_assertion(with_token(ga("example.com", &[]), &token, 6))
        .unwrap();
    assert_eq!(a.flags() & FLAG_UV, FLAG_UV);
    assert!(
        TextMap::new(a.user.as_ref().unwrap())
            .unwrap()
            .get("name")
            .is_some()
    );
    let a = t.get_assertion(ga("example.com", &[])).unwrap();
    assert!(
        TextMap::new(a.user.as_ref().unwrap())
            .unwrap()
            .get("name")
            .is_none()
    );
    assert_eq!(a.credential_id, r.credential_id);
}

#[test]
fn token_permissions_rp_binding_and_protocol() {
    let mut t = pin_set_tester(2);
    let r = t.credential("example.com", b"u", false);
    let allow = [r.credential_id.as_slice()];

    // ga-only token for makeCredential.
    let token = t.token(2, PIN, GA, Some("example.com")).unwrap();
    assert_eq!(
        t.make_credential(with_token(mc("example.com", b"u", true), &token, 8))
            .err(),
        Some(PIN_AUTH_INVALID)
    );
    // Bound to another RP.
    let token = t.token(2, PIN, GA, Some("other.com")).unwrap();
    assert_eq!(
        t.get_assertion(with_token(ga("example.com", &allow), &token, 6))
            .err(),
        Some(PIN_AUTH_INVALID)
    );
    // Unbound: the first use binds it.
    let token = t.token(2, PIN, GA, None).unwrap();
    let silent =
        |req: Vec<(Value, Value)>| set(req, 5, Value::Map(vec![(text("up"), Value::Bool(false))]));
    t.get_assertion(silent(with_token(ga("example.com", &allow), &token, 6)))
        .unwrap();
    assert_eq!(
        t.get_assertion(with_token(ga("other.com", &[]), &token, 6))
            .err(),
        Some(PIN_AUTH_INVALID)
    );
    // A silent assertion consumes nothing; one with presence consumes the token.
    let a = t
        .get_assertion(with_token(ga("example.com", &allow), &token, 6))
        .unwrap();
    assert_eq!(a.flags() & (FLAG_UP | FLAG_UV), FLAG_UP | FLAG_UV);
    assert_eq!(
        t.get_assertion(with_token(ga("example.com", &allow), &token, 6))
            .err(),
        Some(PIN_AUTH_INVALID)
    );

    // A protocol-2 token presented as protocol 1.
    let token = t.token(2, PIN, GA, None).unwrap();
    let v1 = token.as_protocol(1);
    assert_eq!(
        t.get_assertion(with_token(ga("example.com", &allow), &v1, 6))
            .err(),
        Some(PIN_AUTH_INVALID)
    );
    // A wrong MAC; a missing protocol; an unknown protocol.
    let mut req = with_token(ga("example.com", &allow), &token, 6);
    req = set(req, 6, Value::bytes(vec![0; 32]));
    assert_eq!(t.get_assertion(req).err(), Some(PIN_AUTH_INVALID));
    let req = with_token(ga("example.com", &allow), &token, 6);
    let no_protocol: Vec<_> = req.iter().filter(|(k, _)| *k != int(7)).cloned().collect();
    assert_eq!(t.get_assertion(no_protocol).err(), Some(MISSING_PARAMETER));
    assert_eq!(
        t.get_assertion(set(req.clone(), 7, int(3))).err(),
        Some(INVALID_PARAMETER)
    );
    // Still good after all that.
    t.get_assertion(req).unwrap();
}

#[test]
fn tokens_expire_and_end_at_power_up() {
    let mut t = pin_set_tester(2);
    let r = t.credential("example.com", b"u", false);
    let allow = [r.credential_id.as_slice()];
    let token = t.token(2, PIN, GA, None).unwrap();
    t.clock.advance(30_001);
    assert_eq!(
        t.get_assertion(with_token(ga("example.com", &allow), &token, 6))
            .err(),
        Some(PIN_AUTH_INVALID),
        "unused for 30 s"
    );

    let token = t.token(2, PIN, GA, None).unwrap();
    t.power_cycle();
    assert_eq!(
        t.get_assertion(with_token(ga("example.com", &allow), &token, 6))
            .err(),
        Some(PIN_AUTH_INVALID),
        "power-up"
    );
}

#[test]
fn uv_option_without_built_in_uv() {
    let mut t = pin_set_tester(2);
    let uv = Value::Map(vec![(text("uv"), Value::Bool(true))]);
    assert_eq!(
        t.make_credential(set(mc("example.com", b"u", false), 7, uv.clone()))
            .err(),
        Some(INVALID_OPTION)
    );
    // With a pinUvAuthParam the uv option is moot.
    let token = t.token(2, PIN, MC, None).unwrap();
    let req = with_token(set(mc("example.com", b"u", false), 7, uv), &token, 8);
    assert_eq!(t.make_credential(req).unwrap().flags() & FLAG_UV, FLAG_UV);
}

#[test]
fn always_uv_requires_a_token_for_everything() {
    let t = pin_set_tester(2);
    let mut t = t.edit_state(|s| s.pin.always_uv = true);
    let info = t.get_info();
    assert_eq!(option(&info, "alwaysUv"), Some(true));
    assert_eq!(option(&info, "makeCredUvNotRqd"), Some(false));
    assert_eq!(
        t.make_credential(mc("example.com", b"u", false)).err(),
        Some(PUAT_REQUIRED)
    );
    assert_eq!(
        t.get_assertion(ga("example.com", &[])).err(),
        Some(PUAT_REQUIRED)
    );
    let token = t.token(2, PIN, MC, None).unwrap();
    t.make_credential(with_token(mc("example.com", b"u", false), &token, 8))
        .unwrap();
}

#[test]
fn force_pin_change_refuses_tokens_until_a_new_pin() {
    let t = pin_set_tester(2);
    let mut t = t.edit_state(|s| s.pin.force_pin_change = true);
    assert_eq!(
        IntMap::new(&t.get_info()).unwrap().required(0x0C).unwrap(),
        &Value::Bool(true)
    );
    assert_eq!(t.token(2, PIN, GA, None).err(), Some(PIN_POLICY_VIOLATION));
    assert_eq!(t.retries(), (8, false), "the PIN was right");
    assert_eq!(
        t.change_pin(2, PIN, PIN.as_bytes()),
        Err(PIN_POLICY_VIOLATION),
        "must differ"
    );
    t.change_pin(2, PIN, b"9876").unwrap();
    assert_eq!(
        IntMap::new(&t.get_info()).unwrap().required(0x0C).unwrap(),
        &Value::Bool(false)
    );
    t.token(2, "9876", GA, None).unwrap();
}

// --- Extensions -------------------------------------------------------------------------------

/// hmac-secret through getAssertion: returns the decrypted output.
fn hmac_secret(
    t: &mut Tester,
    protocol: u8,
    salts: &[u8],
    allow: &[&[u8]],
    token: Option<&Token>,
) -> Result<(Assertion, Vec<u8>), u8> {
    let mut s = t.secret(protocol);
    let salt_enc = s.encrypt(salts);
    let input = s.hmac_secret_input(&salt_enc);
    let mut req = extension(ga("example.com", allow), 4, "hmac-secret", input);
    if let Some(token) = token {
        req = with_token(req, token, 6);
    }
    let a = t.get_assertion(req)?;
    let out = a
        .extension("hmac-secret")
        .expect("hmac-secret output")
        .as_bytes()
        .unwrap()
        .to_vec();
    Ok((a, s.decrypt(&out)))
}

#[test]
fn hmac_secret_known_answers_with_and_without_uv() {
    for protocol in [1u8, 2] {
        let mut t = pin_set_tester(protocol);
        let token = t.token(protocol, PIN, MC, None).unwrap();
        let req = extension(
            mc("example.com", b"u", false),
            6,
            "hmac-secret",
            Value::Bool(true),
        );
        let r = t.make_credential(with_token(req, &token, 8)).unwrap();
        assert_eq!(r.extension("hmac-secret"), Some(Value::Bool(true)));
        let id = r.credential_id.clone();

        let wrapping_key = t.state().wrapping_key;
        let salt1 = [0x5Au8; 32];
        let salt2 = [0xA5u8; 32];
        let two = [salt1, salt2].concat();
        for uv in [false, true] {
            let cred_random = derive_cred_random(&wrapping_key, &id, uv);
            let expected = [hmac(&cred_random, &salt1), hmac(&cred_random, &salt2)].concat();
            let token = uv.then(|| t.token(protocol, PIN, GA, None).unwrap());
            let (a, out) = hmac_secret(&mut t, protocol, &two, &[&id], token.as_ref()).unwrap();
            assert_eq!(a.flags() & FLAG_UV != 0, uv);
            assert_eq!(out, expected, "two salts, uv={uv}, protocol {protocol}");
            let token = uv.then(|| t.token(protocol, PIN, GA, None).unwrap());
            let (_, out) = hmac_secret(&mut t, protocol, &salt1, &[&id], token.as_ref()).unwrap();
            assert_eq!(out, expected[..32], "one salt: the same first output");
        }
        assert_ne!(
            derive_cred_random(&wrapping_key, &id, true),
            derive_cred_random(&wrapping_key, &id, false)
        );
    }
}

#[test]
fn hmac_secret_errors_and_credentials_without_it() {
    let mut t = Tester::new();
    let plain = t.credential("example.com", b"u", false);
    let req = extension(
        mc("example.com", b"v", false),
        6,
        "hmac-secret",
        Value::Bool(true),
    );
    let marked = t.make_credential(req).unwrap();

    // A credential made without hmac-secret answers no output.
    let mut s = t.secret(2);
    let salt_enc = s.encrypt(&[1; 32]);
    let good = s.hmac_secret_input(&salt_enc);
    let a = t
        .get_assertion(extension(
            ga("example.com", &[&plain.credential_id]),
            4,
            "hmac-secret",
            good.clone(),
        ))
        .unwrap();
    assert_eq!(a.extension("hmac-secret"), None);
    assert_eq!(a.flags() & FLAG_ED, 0);
    let a = t
        .get_assertion(extension(
            ga("example.com", &[&marked.credential_id]),
            4,
            "hmac-secret",
            good,
        ))
        .unwrap();
    assert_eq!(
        a.extension("hmac-secret")
            .unwrap()
            .as_bytes()
            .unwrap()
            .len(),
        16 + 32
    );

    let allow = [marked.credential_id.as_slice()];
    let cose = s.cose.clone();
    let input = |auth: Vec<u8>, enc: Vec<u8>, protocol: i64| {
        Value::Map(vec![
            (int(1), cose.clone()),
            (int(2), Value::bytes(enc)),
            (int(3), Value::bytes(auth)),
            (int(4), int(protocol)),
        ])
    };
    let mut bad_auth = s.authenticate(&salt_enc);
    bad_auth[3] ^= 1;
    let ga_with = |t: &mut Tester, v: Value| {
        t.get_assertion(extension(ga("example.com", &allow), 4, "hmac-secret", v))
    };
    assert_eq!(
        ga_with(&mut t, input(bad_auth, salt_enc.clone(), 2)).err(),
        Some(PIN_AUTH_INVALID)
    );
    let odd = s.encrypt(&[1; 48]);
    assert_eq!(
        ga_with(&mut t, input(s.authenticate(&odd), odd, 2)).err(),
        Some(INVALID_PARAMETER),
        "48-byte salt"
    );
    assert_eq!(
        ga_with(
            &mut t,
            input(s.authenticate(&salt_enc), salt_enc.clone(), 3)
        )
        .err(),
        Some(INVALID_PARAMETER)
    );
    let missing = Value::Map(vec![
        (int(1), s.cose.clone()),
        (int(2), Value::bytes(salt_enc)),
    ]);
    assert_eq!(ga_with(&mut t, missing).err(), Some(MISSING_PARAMETER));
}

#[test]
fn cred_protect_hides_credentials_without_uv() {
    let mut t = pin_set_tester(2);
    let make = |t: &mut Tester, user: &[u8], level: i64| {
        let token = t.token(2, PIN, MC, None).unwrap();
        let req = extension(mc("example.com", user, true), 6, "credProtect", int(level));
        let r = t.make_credential(with_token(req, &token, 8)).unwrap();
        assert_eq!(r.extension("credProtect"), Some(int(level)));
        r
    };
    let l1 = make(&mut t, b"one", 1);
    let l2 = make(&mut t, b"two", 2);
    let l3 = make(&mut t, b"three", 3);

    // Without UV and without an allowList only level 1 is offered.
    let a = t.get_assertion(ga("example.com", &[])).unwrap();
    assert_eq!(a.credential_id, l1.credential_id);
    assert_eq!(a.number_of_credentials, None);
    // With an allowList level 2 is found, level 3 never without UV.
    let a = t
        .get_assertion(ga("example.com", &[&l2.credential_id]))
        .unwrap();
    assert_eq!(a.credential_id, l2.credential_id);
    assert_eq!(
        t.get_assertion(ga("example.com", &[&l3.credential_id]))
            .err(),
        Some(NO_CREDENTIALS)
    );
    // With UV all three, newest first.
    let token = t.token(2, PIN, GA, None).unwrap();
    let a = t
        .get_assertion(with_token(ga("example.com", &[]), &token, 6))
        .unwrap();
    assert_eq!(a.credential_id, l3.credential_id);
    assert_eq!(a.number_of_credentials, Some(3));
    let token = t.token(2, PIN, GA, None).unwrap();
    let a = t
        .get_assertion(with_token(
            ga("example.com", &[&l3.credential_id]),
            &token,
            6,
        ))
        .unwrap();
    assert_eq!(a.credential_id, l3.credential_id);

    // A level-3 credential in the excludeList excludes only with UV.
    let exclude = Value::Array(vec![Value::Map(vec![
        (text("id"), Value::bytes(l3.credential_id.clone())),
        (text("type"), text("public-key")),
    ])]);
    let r = t
        .make_credential(set(mc("example.com", b"new", false), 5, exclude.clone()))
        .unwrap();
    assert!(!r.credential_id.is_empty());
    let token = t.token(2, PIN, MC, None).unwrap();
    let req = with_token(set(mc("example.com", b"new", false), 5, exclude), &token, 8);
    assert_eq!(t.make_credential(req).err(), Some(CREDENTIAL_EXCLUDED));

    // Non-discoverable credentials carry the level in their id.
    let token = t.token(2, PIN, MC, None).unwrap();
    let req = extension(mc("example.com", b"nr", false), 6, "credProtect", int(3));
    let nr = t.make_credential(with_token(req, &token, 8)).unwrap();
    assert_eq!(
        t.get_assertion(ga("example.com", &[&nr.credential_id]))
            .err(),
        Some(NO_CREDENTIALS)
    );
}

#[test]
fn cred_blob_is_stored_with_resident_credentials() {
    let mut t = Tester::new();
    let blob = vec![0xB1; 32];
    let req = extension(
        mc("example.com", b"u", true),
        6,
        "credBlob",
        Value::bytes(blob.clone()),
    );
    let r = t.make_credential(req).unwrap();
    assert_eq!(r.extension("credBlob"), Some(Value::Bool(true)));
    let req = extension(
        mc("example.com", b"v", true),
        6,
        "credBlob",
        Value::bytes(vec![0; 33]),
    );
    assert_eq!(
        t.make_credential(req).unwrap().extension("credBlob"),
        Some(Value::Bool(false)),
        "too long"
    );
    let req = extension(
        mc("example.com", b"w", false),
        6,
        "credBlob",
        Value::bytes(vec![1]),
    );
    let nr = t.make_credential(req).unwrap();
    assert_eq!(
        nr.extension("credBlob"),
        Some(Value::Bool(false)),
        "not resident"
    );

    let req =
        |allow: &[&[u8]]| extension(ga("example.com", allow), 4, "credBlob", Value::Bool(true));
    let a = t.get_assertion(req(&[&r.credential_id])).unwrap();
    assert_eq!(a.extension("credBlob"), Some(Value::bytes(blob)));
    let a = t.get_assertion(req(&[&nr.credential_id])).unwrap();
    assert_eq!(a.extension("credBlob"), Some(Value::bytes(vec![])));
    let a = t
        .get_assertion(ga("example.com", &[&r.credential_id]))
        .unwrap();
    assert_eq!(a.extension("credBlob"), None, "only when asked");
}

#[test]
fn large_blob_key_for_resident_credentials() {
    let mut t = Tester::new();
    let req = extension(
        mc("example.com", b"u", true),
        6,
        "largeBlobKey",
        Value::Bool(true),
    );
    let r = t.make_credential(req).unwrap();
    let key = r.large_blob_key.clone().expect("largeBlobKey (0x05)");
    assert_eq!(key.len(), 32);
    assert_eq!(r.extensions, None, "not an authenticator-data extension");
    let req = extension(ga("example.com", &[]), 4, "largeBlobKey", Value::Bool(true));
    let a = t.get_assertion(req).unwrap();
    assert_eq!(a.large_blob_key, Some(key), "getAssertion 0x07");
    assert_eq!(
        t.get_assertion(ga("example.com", &[]))
            .unwrap()
            .large_blob_key,
        None
    );

    // (case, rk, the largeBlobKey input): each INVALID_OPTION.
    for (case, rk, input) in [("needs rk", false, true), ("false is invalid", true, false)] {
        let req = mc("example.com", b"v", rk);
        let req = extension(req, 6, "largeBlobKey", Value::Bool(input));
        assert_eq!(t.make_credential(req).err(), Some(INVALID_OPTION), "{case}");
    }
}

#[test]
fn min_pin_length_only_for_listed_rps() {
    let t = Tester::new();
    let mut t = t.edit_state(|s| {
        s.pin.min_pin_length = 6;
        s.pin.min_pin_length_rp_ids = vec!["login.example.com".into()];
    });
    let ask = |rp: &str| extension(mc(rp, b"u", false), 6, "minPinLength", Value::Bool(true));
    assert_eq!(
        t.make_credential(ask("login.example.com"))
            .unwrap()
            .extension("minPinLength"),
        Some(int(6))
    );
    assert_eq!(
        t.make_credential(ask("example.com"))
            .unwrap()
            .extension("minPinLength"),
        None
    );
    assert_eq!(
        IntMap::new(&t.get_info()).unwrap().required(0x0D).unwrap(),
        &int(6)
    );
    assert_eq!(t.set_pin(2, b"12345"), Err(PIN_POLICY_VIOLATION));
}

#[test]
fn reset_wipes_the_pin_and_the_hmac_secrets() {
    let mut t = pin_set_tester(2);
    let before = t.state().wrapping_key;
    t.ctap(0x07, None).unwrap();
    let state = t.state();
    assert_eq!(state.pin.pin_hash, None);
    assert_eq!(state.pin.retries, 8);
    assert_ne!(
        derive_cred_random(&before, b"id", false),
        derive_cred_random(&state.wrapping_key, b"id", false)
    );
    assert_eq!(t.token(2, PIN, GA, None).err(), Some(PIN_NOT_SET));
}

#[test]
fn hmac_secret_follows_get_next_assertion() {
    let mut t = Tester::new();
    let mut ids = Vec::new();
    for user in [b"first".as_slice(), b"second"] {
        let req = extension(
            mc("example.com", user, true),
            6,
            "hmac-secret",
            Value::Bool(true),
        );
        ids.push(t.make_credential(req).unwrap().credential_id);
    }
    let wrapping_key = t.state().wrapping_key;
    let salt = [0x33u8; 32];
    let mut s = t.secret(2);
    let salt_enc = s.encrypt(&salt);
    let input = s.hmac_secret_input(&salt_enc);
    let first = t
        .get_assertion(extension(ga("example.com", &[]), 4, "hmac-secret", input))
        .unwrap();
    assert_eq!(first.number_of_credentials, Some(2));
    let next = Assertion::parse(&t.ctap(0x08, None).unwrap());
    // Newest first; each output is the HMAC of the salt under that credential's CredRandom.
    for (assertion, id) in [(&first, &ids[1]), (&next, &ids[0])] {
        assert_eq!(&assertion.credential_id, id);
        let out = s.decrypt(
            assertion
                .extension("hmac-secret")
                .unwrap()
                .as_bytes()
                .unwrap(),
        );
        assert_eq!(
            out,
            hmac(&derive_cred_random(&wrapping_key, id, false), &salt)
        );
    }
}

// --- CTAP 2.0 cards (profiles without FIDO_2_1): what getInfo declares is what they do --------

/// The built-in models of real CTAP 2.0 cards.
const CTAP20_CARDS: [&str; 5] = [
    "hid-crescendo-c2300",
    "hid-crescendo-key",
    "hid-crescendo-key-v2",
    "hid-crescendo-c3000",
    "thales-idprime-3940",
];

fn ctap20_tester(id: &str) -> Tester {
    let mut t = Tester::with_profile(Profile::builtin(id).expect("built-in profile"));
    t.set_pin(1, PIN.as_bytes()).unwrap();
    t
}

#[test]
fn ctap20_cards_have_no_permissions_subcommand() {
    for id in CTAP20_CARDS {
        let mut t = ctap20_tester(id);
        assert_eq!(option(&t.get_info(), "pinUvAuthToken"), None, "{id}");
        assert_eq!(
            t.token(1, PIN, MC | GA, Some("example.com")).err(),
            Some(INVALID_SUBCOMMAND),
            "{id}: getPinUvAuthTokenUsingPinWithPermissions is CTAP 2.1"
        );
        assert_eq!(
            t.retries(),
            (8, false),
            "{id}: refused before the PIN is tried"
        );
        // 0x06 / 0x07 (built-in UV) and unknown subcommands, as on every card.
        for sub in [6, 7, 8, 0x0A] {
            assert_eq!(
                t.client_pin(vec![(int(1), int(1)), (int(2), int(sub))])
                    .err(),
                Some(INVALID_SUBCOMMAND),
                "{id}: {sub}"
            );
        }
        t.pin_token(1, PIN).expect("getPinToken");
    }
    // The generic card cut down to CTAP 2.0 as well; the generic card itself has it.
    let mut t = Tester::with_profile(Profile::generic().restricted_to_ctap20());
    t.set_pin(1, PIN.as_bytes()).unwrap();
    assert_eq!(t.token(1, PIN, MC, None).err(), Some(INVALID_SUBCOMMAND));
    pin_set_tester(1).token(1, PIN, MC, None).unwrap();
}

#[test]
fn ctap20_pin_tokens_authorize_any_rp_until_power_off() {
    let mut t = ctap20_tester("hid-crescendo-c2300");
    let token = t.pin_token(1, PIN).unwrap();
    // One pinToken: several ceremonies, several relying parties, UV every time (CTAP 2.0 has
    // no permissions, no permissions RP ID, and a ceremony does not consume the token).
    let a = t
        .make_credential(with_token(mc("a.example", b"u1", true), &token, 8))
        .unwrap();
    assert_eq!(a.flags() & FLAG_UV, FLAG_UV);
    let b = t
        .make_credential(with_token(mc("b.example", b"u2", false), &token, 8))
        .unwrap();
    assert_eq!(b.flags() & FLAG_UV, FLAG_UV, "not bound to a.example");
    let ga_a = t
        .get_assertion(with_token(ga("a.example", &[]), &token, 6))
        .unwrap();
    assert_eq!(ga_a.credential_id, a.credential_id);
    assert_eq!(ga_a.flags() & (FLAG_UP | FLAG_UV), FLAG_UP | FLAG_UV);
    let ga_b = t
        .get_assertion(with_token(ga("b.example", &[&b.credential_id]), &token, 6))
        .unwrap();
    assert_eq!(ga_b.flags() & FLAG_UV, FLAG_UV);
    // A wrong MAC is still refused.
    let bad = set(
        set(mc("a.example", b"u3", false), 8, Value::bytes(vec![0; 16])),
        9,
        int(1),
    );
    assert_eq!(t.make_credential(bad).err(), Some(PIN_AUTH_INVALID));
    // A new token replaces the old one, and power-up ends it.
    let token2 = t.pin_token(1, PIN).unwrap();
    assert_eq!(
        t.make_credential(with_token(mc("a.example", b"u3", false), &token, 8))
            .err(),
        Some(PIN_AUTH_INVALID)
    );
    t.power_cycle();
    assert_eq!(
        t.make_credential(with_token(mc("a.example", b"u3", false), &token2, 8))
            .err(),
        Some(PIN_AUTH_INVALID)
    );

    // CTAP 2.0 has no permissions / rpId parameters: getPinToken ignores them there, while a
    // CTAP 2.1 card refuses them on getPinToken (§6.5.5.7.1).
    let legacy_with_extras = |t: &mut Tester, protocol: u8| {
        let mut s = t.secret(protocol);
        let pin_hash_enc = s.pin_hash_enc(PIN);
        t.client_pin(vec![
            (int(1), int(protocol.into())),
            (int(2), int(5)),
            (int(3), s.cose.clone()),
            (int(6), Value::bytes(pin_hash_enc)),
            (int(9), int(1)),
            (int(10), text("a.example")),
        ])
        .map(|_| ())
    };
    legacy_with_extras(&mut t, 1).unwrap();
    let mut generic = pin_set_tester(2);
    assert_eq!(
        legacy_with_extras(&mut generic, 2).err(),
        Some(INVALID_PARAMETER)
    );

    // On a CTAP 2.1 card the same legacy token is bound and consumed by its first ceremony.
    let token = generic.pin_token(2, PIN).unwrap();
    generic
        .make_credential(with_token(mc("a.example", b"u1", false), &token, 8))
        .unwrap();
    assert_eq!(
        generic
            .make_credential(with_token(mc("a.example", b"u2", false), &token, 8))
            .err(),
        Some(PIN_AUTH_INVALID)
    );
}

#[test]
fn ctap20_cards_need_the_pin_for_every_make_credential() {
    for id in CTAP20_CARDS {
        let mut t = Tester::with_profile(Profile::builtin(id).unwrap());
        assert_eq!(option(&t.get_info(), "makeCredUvNotRqd"), None, "{id}");
        // No PIN yet: nobody to verify.
        let before = t.credential("example.com", b"u0", false);
        assert_eq!(before.flags() & FLAG_UV, 0);
        t.set_pin(1, PIN.as_bytes()).unwrap();
        // CTAP 2.0 §5.1 step 7: CTAP2_ERR_PIN_REQUIRED (0x36), discoverable or not.
        for rk in [false, true] {
            assert_eq!(
                t.make_credential(mc("example.com", b"u1", rk)).err(),
                Some(PUAT_REQUIRED),
                "{id} rk={rk}"
            );
        }
        let token = t.pin_token(1, PIN).unwrap();
        let r = t
            .make_credential(with_token(mc("example.com", b"u1", false), &token, 8))
            .unwrap();
        assert_eq!(r.flags() & FLAG_UV, FLAG_UV);
        // getAssertion without pinAuth still works, without UV (CTAP 2.0 §5.2 step 5).
        for id_ in [&r.credential_id, &before.credential_id] {
            let a = t.get_assertion(ga("example.com", &[id_])).unwrap();
            assert_eq!(a.flags() & (FLAG_UP | FLAG_UV), FLAG_UP, "{id}");
        }
    }
    // A CTAP 2.1 card with makeCredUvNotRqd makes non-discoverable credentials without a token.
    let mut t = pin_set_tester(2);
    t.credential("example.com", b"u", false);
    assert_eq!(
        t.make_credential(mc("example.com", b"u", true)).err(),
        Some(PUAT_REQUIRED)
    );
    // Without it, a CTAP 2.1 card behaves as a CTAP 2.0 one here.
    let mut profile = Profile::generic();
    profile.options.make_cred_uv_not_rqd = false;
    let mut t = Tester::with_profile(profile);
    assert_eq!(option(&t.get_info(), "makeCredUvNotRqd"), None);
    t.credential("example.com", b"u", false);
    t.set_pin(2, PIN.as_bytes()).unwrap();
    assert_eq!(
        t.make_credential(mc("example.com", b"u", false)).err(),
        Some(PUAT_REQUIRED)
    );
}

#[test]
fn cred_blob_length_comes_from_the_profile() {
    let mut profile = Profile::generic();
    profile.max_cred_blob_length = 64;
    profile.validate().unwrap();
    let mut t = Tester::with_profile(profile);
    let info = t.get_info();
    assert_eq!(IntMap::new(&info).unwrap().get(0x0F), Some(&int(64)));
    let blob = |n: usize, user: &[u8]| {
        extension(
            mc("example.com", user, true),
            6,
            "credBlob",
            Value::bytes(vec![0xB1; n]),
        )
    };
    let r = t.make_credential(blob(64, b"u")).unwrap();
    assert_eq!(r.extension("credBlob"), Some(Value::Bool(true)));
    let r65 = t.make_credential(blob(65, b"v")).unwrap();
    assert_eq!(r65.extension("credBlob"), Some(Value::Bool(false)));
    let a = t
        .get_assertion(extension(
            ga("example.com", &[&r.credential_id]),
            4,
            "credBlob",
            Value::Bool(true),
        ))
        .unwrap();
    assert_eq!(a.extension("credBlob"), Some(Value::bytes(vec![0xB1; 64])));
    // The generic card: 32.
    let mut t = Tester::new();
    assert_eq!(
        IntMap::new(&t.get_info()).unwrap().get(0x0F),
        Some(&int(32))
    );
}
