//! authenticatorCredentialManagement (CTAP 2.1 §6.8) and its prototype (0x41) through the APDU
//! interface: every subcommand, the cm permission and RP-bound tokens, the enumeration state
//! and its invalidation, and the error paths.

#[allow(dead_code)] // each test file is its own crate and uses only part of the shared host
mod host;

use ctap_types::cbor::{IntMap, TextMap, Value};
use fido_applet::crypto::{PublicKey, sha256};
use fido_applet::profile::{Profile, Version};
use host::*;

const CRED_MGMT: u8 = 0x0A;
const PROTOTYPE: u8 = 0x41;

/// Sends a credential-management request authorized with `token` (when given), MAC over
/// `subCommand || subCommandParams`.
fn cm(
    t: &mut Tester,
    command: u8,
    token: Option<&Token>,
    sub: u64,
    params: Option<Value>,
) -> Result<Value, u8> {
    let prefix = [sub as u8];
    let req = subcommand(sub, params, token.map(|token| (token, &prefix[..])));
    t.ctap_map(command, req)
}

fn rp_hash_params(rp: &str) -> Value {
    Value::Map(vec![(int(1), Value::bytes(sha256(rp.as_bytes()).to_vec()))])
}

fn cred_params(id: &[u8]) -> Value {
    Value::Map(vec![(int(2), descriptor(id))])
}

/// enumerateCredentialsBegin (subcommand 4) of `rp`'s credentials.
fn enumerate_begin(t: &mut Tester, token: &Token, rp: &str) -> Result<Value, u8> {
    cm(t, CRED_MGMT, Some(token), 4, Some(rp_hash_params(rp)))
}

/// deleteCredential (subcommand 6) of the credential `id`.
fn delete(t: &mut Tester, token: &Token, id: &[u8]) -> Result<Value, u8> {
    cm(t, CRED_MGMT, Some(token), 6, Some(cred_params(id)))
}

fn get(v: &Value, key: u64) -> Value {
    IntMap::new(v)
        .unwrap()
        .get(key)
        .cloned()
        .unwrap_or_else(|| panic!("member {key} in {v:?}"))
}

/// A card with credentials: a.example (two accounts), b.example (one, credProtect 3 and a
/// largeBlobKey), c.example (one); then a PIN.
fn card_with_credentials() -> (Tester, Vec<Vec<u8>>) {
    let mut t = Tester::new();
    let a1 = t.register("a.example", b"alice", None);
    let a2 = t.register("a.example", b"bob", None);
    let mut req = mc("b.example", b"carol", true);
    req.push((
        int(6),
        Value::Map(vec![
            (text("credProtect"), int(3)),
            (text("largeBlobKey"), Value::Bool(true)),
        ]),
    ));
    let (b1, _) = t.make_credential(req).unwrap().parts();
    let c1 = t.register("c.example", b"dave", None);
    t.set_pin(2, PIN).unwrap();
    (t, vec![a1, a2, b1, c1])
}

#[test]
fn get_info_declares_credential_management() {
    let mut t = Tester::new();
    assert_eq!(t.option("credMgmt"), Some(true));
    assert_eq!(t.option("credentialMgmtPreview"), None);
}

#[test]
fn metadata_counts_stored_and_remaining_credentials() {
    let (mut t, _) = card_with_credentials();
    let token = t.token(2, PIN, CM, None).unwrap();
    let v = cm(&mut t, CRED_MGMT, Some(&token), 1, None).unwrap();
    let max = t.profile.max_resident_credentials as i64;
    assert_eq!(get(&v, 1), int(4));
    assert_eq!(get(&v, 2), int(max - 4));
    // Protocol 1 tokens work the same.
    let token1 = t.token(1, PIN, CM, None).unwrap();
    assert!(cm(&mut t, CRED_MGMT, Some(&token1), 1, None).is_ok());
}

#[test]
fn authorization_errors() {
    let (mut t, _) = card_with_credentials();
    // No pinUvAuthParam at all.
    assert_eq!(cm(&mut t, CRED_MGMT, None, 1, None), Err(PUAT_REQUIRED));
    let token = t.token(2, PIN, CM, None).unwrap();
    // A pinUvAuthParam without its protocol, or with one the card does not offer.
    let param = token.param(&[1]);
    let req = raw_auth(1, None, &param);
    assert_eq!(t.ctap_map(CRED_MGMT, req), Err(MISSING_PARAMETER));
    let req = raw_auth(1, Some(3), &param);
    assert_eq!(t.ctap_map(CRED_MGMT, req), Err(INVALID_PARAMETER));
    // A MAC over the wrong message (another subcommand).
    let req = raw_auth(2, Some(2), &param);
    assert_eq!(t.ctap_map(CRED_MGMT, req), Err(PIN_AUTH_INVALID));
    // A token under the other protocol.
    let token1 = t.token(1, PIN, CM, None).unwrap();
    let wrong = token1.as_protocol(2);
    assert_eq!(
        cm(&mut t, CRED_MGMT, Some(&wrong), 1, None),
        Err(PIN_AUTH_INVALID)
    );
    // A token without the cm permission.
    let mc_ga = t.token(2, PIN, MC | GA, None).unwrap();
    assert_eq!(
        cm(&mut t, CRED_MGMT, Some(&mc_ga), 1, None),
        Err(PIN_AUTH_INVALID)
    );
    // Tokens expire: unused for 30 s.
    let token = t.token(2, PIN, CM, None).unwrap();
    t.clock.advance(31_000);
    assert_eq!(
        cm(&mut t, CRED_MGMT, Some(&token), 1, None),
        Err(PIN_AUTH_INVALID)
    );
}

#[test]
fn request_errors() {
    let (mut t, _) = card_with_credentials();
    let token = t.token(2, PIN, CM, None).unwrap();
    assert_eq!(t.ctap_map(CRED_MGMT, vec![]), Err(MISSING_PARAMETER));
    assert_eq!(
        t.ctap_map(CRED_MGMT, vec![(int(1), text("x"))]),
        Err(CBOR_UNEXPECTED_TYPE)
    );
    assert_eq!(
        t.ctap_map(CRED_MGMT, vec![(int(1), int(1)), (int(2), int(5))]),
        Err(CBOR_UNEXPECTED_TYPE)
    );
    assert_eq!(t.ctap(CRED_MGMT, Some(&int(1))), Err(CBOR_UNEXPECTED_TYPE));
    assert_eq!(t.ctap(CRED_MGMT, None), Err(INVALID_CBOR));
    for sub in [0, 8, 0xFF, 0x1_0000] {
        assert_eq!(
            cm(&mut t, CRED_MGMT, Some(&token), sub, None),
            Err(INVALID_SUBCOMMAND),
            "{sub}"
        );
    }
    // Begin / delete / update without their parameters.
    for sub in [4, 6, 7] {
        assert_eq!(
            cm(&mut t, CRED_MGMT, Some(&token), sub, None),
            Err(MISSING_PARAMETER),
            "{sub}"
        );
    }
}

#[test]
fn enumerate_rps_then_next_until_done() {
    let (mut t, _) = card_with_credentials();
    let token = t.token(2, PIN, CM, None).unwrap();
    let first = cm(&mut t, CRED_MGMT, Some(&token), 2, None).unwrap();
    assert_eq!(get(&first, 5), int(3), "totalRPs");
    let mut seen = Vec::new();
    let mut check = |v: &Value| {
        let rp = get(v, 3);
        let rp = TextMap::new(&rp).unwrap();
        let id = rp.required("id").unwrap().as_text().unwrap().to_owned();
        assert_eq!(rp.get("name"), Some(&text("Example")));
        assert_eq!(get(v, 4), Value::bytes(sha256(id.as_bytes()).to_vec()));
        seen.push(id);
    };
    check(&first);
    for _ in 0..2 {
        let next = cm(&mut t, CRED_MGMT, None, 3, None).unwrap();
        assert!(
            IntMap::new(&next).unwrap().get(5).is_none(),
            "totalRPs only first"
        );
        check(&next);
    }
    // Newest first: c, b, a.
    assert_eq!(seen, ["c.example", "b.example", "a.example"]);
    assert_eq!(cm(&mut t, CRED_MGMT, None, 3, None), Err(NOT_ALLOWED));
}

#[test]
fn enumeration_ends_with_any_other_command_or_session_end() {
    let (mut t, _) = card_with_credentials();
    let token = t.token(2, PIN, CM, None).unwrap();
    // Never begun.
    assert_eq!(cm(&mut t, CRED_MGMT, None, 3, None), Err(NOT_ALLOWED));
    assert_eq!(cm(&mut t, CRED_MGMT, None, 5, None), Err(NOT_ALLOWED));
    // Another command in between.
    cm(&mut t, CRED_MGMT, Some(&token), 2, None).unwrap();
    t.get_info();
    assert_eq!(cm(&mut t, CRED_MGMT, None, 3, None), Err(NOT_ALLOWED));
    // Another credential-management subcommand in between.
    cm(&mut t, CRED_MGMT, Some(&token), 2, None).unwrap();
    cm(&mut t, CRED_MGMT, Some(&token), 1, None).unwrap();
    assert_eq!(cm(&mut t, CRED_MGMT, None, 3, None), Err(NOT_ALLOWED));
    // The other kind of GetNext.
    cm(&mut t, CRED_MGMT, Some(&token), 2, None).unwrap();
    assert_eq!(cm(&mut t, CRED_MGMT, None, 5, None), Err(NOT_ALLOWED));
    assert_eq!(
        cm(&mut t, CRED_MGMT, None, 3, None),
        Err(NOT_ALLOWED),
        "ended too"
    );
    // Re-selection.
    cm(&mut t, CRED_MGMT, Some(&token), 2, None).unwrap();
    t.select();
    assert_eq!(cm(&mut t, CRED_MGMT, None, 3, None), Err(NOT_ALLOWED));
    // A malformed request ends it as well.
    cm(&mut t, CRED_MGMT, Some(&token), 2, None).unwrap();
    assert_eq!(t.ctap_map(CRED_MGMT, vec![]), Err(MISSING_PARAMETER));
    assert_eq!(cm(&mut t, CRED_MGMT, None, 3, None), Err(NOT_ALLOWED));
    // A power cycle ends the token too.
    cm(&mut t, CRED_MGMT, Some(&token), 2, None).unwrap();
    t.power_cycle();
    assert_eq!(cm(&mut t, CRED_MGMT, None, 3, None), Err(NOT_ALLOWED));
    assert_eq!(
        cm(&mut t, CRED_MGMT, Some(&token), 1, None),
        Err(PIN_AUTH_INVALID)
    );
}

#[test]
fn enumerate_credentials_of_an_rp() {
    let mut t = Tester::new();
    let (a1, r1) = t.credential("a.example", b"alice", true).parts();
    let (a2, _) = t.credential("a.example", b"bob", true).parts();
    t.set_pin(2, PIN).unwrap();
    let token = t.token(2, PIN, CM, None).unwrap();
    let first = enumerate_begin(&mut t, &token, "a.example").unwrap();
    assert_eq!(get(&first, 9), int(2), "totalCredentials");
    assert_eq!(get(&first, 7), descriptor(&a2), "newest first");
    let user = get(&first, 6);
    let user = TextMap::new(&user).unwrap();
    assert_eq!(user.get("id"), Some(&Value::bytes(b"bob".to_vec())));
    assert_eq!(user.get("name"), Some(&text("alice")));
    assert_eq!(user.get("displayName"), Some(&text("Alice")));
    // Made without credProtect: userVerificationOptional (§12.1), reported as such (§6.8.4).
    assert_eq!(get(&first, 0x0A), int(1), "credProtect default");
    assert!(
        IntMap::new(&first).unwrap().get(0x0B).is_none(),
        "no largeBlobKey"
    );
    let next = cm(&mut t, CRED_MGMT, None, 5, None).unwrap();
    assert_eq!(get(&next, 7), descriptor(&a1));
    assert!(IntMap::new(&next).unwrap().get(9).is_none());
    // The public key is the credential's: it is the one makeCredential attested.
    let auth_data = get(&r1, 2);
    let auth_data = auth_data.as_bytes().unwrap();
    let cose_start = 55 + a1.len();
    let attested = &auth_data[cose_start..cose_start + 77];
    assert_eq!(get(&next, 8).to_vec(), attested);
    assert!(
        PublicKey::from_coordinates(
            attested[10..42].try_into().unwrap(),
            attested[45..77].try_into().unwrap()
        )
        .is_some()
    );
    assert_eq!(cm(&mut t, CRED_MGMT, None, 5, None), Err(NOT_ALLOWED));
    // An RP without credentials.
    assert_eq!(
        enumerate_begin(&mut t, &token, "z.example"),
        Err(NO_CREDENTIALS)
    );
}

#[test]
fn cred_protect_and_large_blob_key_are_reported() {
    let (mut t, ids) = card_with_credentials();
    let token = t.token(2, PIN, CM, None).unwrap();
    let v = enumerate_begin(&mut t, &token, "b.example").unwrap();
    assert_eq!(get(&v, 7), descriptor(&ids[2]));
    assert_eq!(get(&v, 0x0A), int(3), "userVerificationRequired is listed");
    assert_eq!(get(&v, 0x0B).as_bytes().unwrap().len(), 32);
    assert_eq!(get(&v, 9), int(1));
}

/// CTAP 2.1 §12.1: a credential made without the credProtect extension is
/// userVerificationOptional (1). It is stored with that level, and enumerateCredentials
/// (§6.8.4) returns credProtect (0x0A) for every credential.
#[test]
fn every_enumerated_credential_has_cred_protect() {
    let (mut t, _) = card_with_credentials();
    for c in t.state().resident.iter() {
        let level = (c.flags >> 1) & 3;
        let want = if c.rp_id == "b.example" { 3 } else { 1 };
        assert_eq!(level, want, "{} stores its level", c.rp_id);
    }
    let token = t.token(2, PIN, CM, None).unwrap();
    for (rp, levels) in [
        ("a.example", vec![1, 1]),
        ("b.example", vec![3]),
        ("c.example", vec![1]),
    ] {
        let first = cm(&mut t, CRED_MGMT, Some(&token), 4, Some(rp_hash_params(rp))).unwrap();
        let mut got = vec![get(&first, 0x0A)];
        for _ in 1..levels.len() {
            got.push(get(&cm(&mut t, CRED_MGMT, None, 5, None).unwrap(), 0x0A));
        }
        let want: Vec<Value> = levels.into_iter().map(int).collect();
        assert_eq!(got, want, "{rp}");
    }
}

/// Credentials persisted before the default level was stored carry level bits 0: they read as
/// userVerificationOptional (no state-format change, no migration), for credentialManagement
/// and for getAssertion alike.
#[test]
fn credentials_stored_without_a_level_read_as_level_1() {
    let (t, ids) = card_with_credentials();
    let mut t = t.edit_state(|state| {
        for i in 0..state.resident.len() {
            state.resident.update(i, |c| {
                if c.rp_id == "a.example" {
                    c.flags &= !0x06;
                }
            });
        }
    });
    assert!(
        t.state()
            .resident
            .iter()
            .any(|c| c.rp_id == "a.example" && c.flags & 0x06 == 0),
        "the old layout is on the card"
    );
    let token = t.token(2, PIN, CM, None).unwrap();
    let first = enumerate_begin(&mut t, &token, "a.example").unwrap();
    assert_eq!(get(&first, 0x0A), int(1));
    assert_eq!(
        get(&cm(&mut t, CRED_MGMT, None, 5, None).unwrap(), 0x0A),
        int(1)
    );
    // Level 1 behaviour: found without UV and without an allowList (a level-2 credential
    // would not be), and still usable through its id.
    assert!(t.get_assertion(ga("a.example", &[])).is_ok());
    assert!(t.get_assertion(ga("a.example", &[&ids[0]])).is_ok());
}

#[test]
fn rp_bound_tokens_see_only_their_rp() {
    let (mut t, ids) = card_with_credentials();
    let token = t.token(2, PIN, CM, Some("a.example")).unwrap();
    // getCredsMetadata, enumerateRPsBegin, and another RP's enumerateCredentialsBegin.
    for (sub, params) in [(1, None), (2, None), (4, Some(rp_hash_params("c.example")))] {
        assert_eq!(
            cm(&mut t, CRED_MGMT, Some(&token), sub, params),
            Err(PIN_AUTH_INVALID),
            "subcommand {sub}"
        );
    }
    let v = enumerate_begin(&mut t, &token, "a.example").unwrap();
    assert_eq!(get(&v, 9), int(2));
    assert_eq!(
        delete(&mut t, &token, &ids[3]),
        Err(PIN_AUTH_INVALID),
        "c.example's credential"
    );
    delete(&mut t, &token, &ids[0]).unwrap();
    assert_eq!(t.state().resident.len(), 3);
}

#[test]
fn delete_credential() {
    let (mut t, ids) = card_with_credentials();
    let token = t.token(2, PIN, CM, None).unwrap();
    delete(&mut t, &token, &ids[3]).unwrap();
    let v = cm(&mut t, CRED_MGMT, Some(&token), 1, None).unwrap();
    assert_eq!(get(&v, 1), int(3));
    assert_eq!(
        delete(&mut t, &token, &ids[3]),
        Err(NO_CREDENTIALS),
        "already gone"
    );
    assert_eq!(delete(&mut t, &token, b"nope"), Err(NO_CREDENTIALS));
    // The deleted credential no longer signs, even named in an allowList.
    let ga_token = t.token(2, PIN, GA, None).unwrap();
    let req = with_token(ga("c.example", &[&ids[3]]), &ga_token, 6);
    assert_eq!(t.ctap_map(0x02, req), Err(NO_CREDENTIALS));
    // The RP list shrinks with it (a new token: getting one ends the previous).
    let token = t.token(2, PIN, CM, None).unwrap();
    let first = cm(&mut t, CRED_MGMT, Some(&token), 2, None).unwrap();
    assert_eq!(get(&first, 5), int(2));
    // Persisted.
    assert_eq!(t.reload().state().resident.len(), 3);
}

#[test]
fn update_user_information() {
    let (mut t, ids) = card_with_credentials();
    let token = t.token(2, PIN, CM, None).unwrap();
    let user = |id: &[u8], name: Option<&str>, display: Option<&str>| {
        let mut u = vec![(text("id"), Value::bytes(id))];
        if let Some(n) = name {
            u.push((text("name"), text(n)));
        }
        if let Some(d) = display {
            u.push((text("displayName"), text(d)));
        }
        Value::Map(u)
    };
    let params = |cred: &[u8], u: Value| Value::Map(vec![(int(2), descriptor(cred)), (int(3), u)]);
    cm(
        &mut t,
        CRED_MGMT,
        Some(&token),
        7,
        Some(params(&ids[0], user(b"alice", Some("alice@new"), None))),
    )
    .unwrap();
    let stored = t
        .state()
        .resident
        .iter()
        .find(|c| c.credential_id == ids[0])
        .map(|c| (c.user_name.clone(), c.user_display_name.clone()))
        .unwrap();
    assert_eq!(
        stored,
        (Some("alice@new".into()), None),
        "absent displayName removed"
    );
    // Another account's user id is refused.
    assert_eq!(
        cm(
            &mut t,
            CRED_MGMT,
            Some(&token),
            7,
            Some(params(&ids[0], user(b"bob", Some("x"), None)))
        ),
        Err(INVALID_PARAMETER)
    );
    // A credential id without a user.
    assert_eq!(
        cm(
            &mut t,
            CRED_MGMT,
            Some(&token),
            7,
            Some(cred_params(&ids[0]))
        ),
        Err(MISSING_PARAMETER)
    );
    // getAssertion with UV now returns the new name.
    let ga_token = t.token(2, PIN, GA, None).unwrap();
    let req = with_token(ga("a.example", &[&ids[0]]), &ga_token, 6);
    let v = t.ctap_map(0x02, req).unwrap();
    let u = get(&v, 4);
    assert_eq!(
        TextMap::new(&u).unwrap().get("name"),
        Some(&text("alice@new"))
    );
}

/// §6.8.3: enumerateRPsBegin on a card without discoverable credentials is
/// CTAP2_ERR_NO_CREDENTIALS; §6.8.4: so is enumerateCredentialsBegin for an RP without any;
/// §6.8.6: updateUserInformation of an unknown credential is CTAP2_ERR_NO_CREDENTIALS.
#[test]
fn nothing_to_enumerate_or_update_is_no_credentials() {
    let mut t = Tester::new();
    // A non-discoverable credential is not listed.
    t.credential("a.example", b"alice", false);
    t.set_pin(2, PIN).unwrap();
    let token = t.token(2, PIN, CM, None).unwrap();
    // enumerateRPsBegin, enumerateCredentialsBegin.
    for (sub, params) in [(2, None), (4, Some(rp_hash_params("a.example")))] {
        assert_eq!(
            cm(&mut t, CRED_MGMT, Some(&token), sub, params),
            Err(NO_CREDENTIALS),
            "subcommand {sub}"
        );
    }
    let params = Value::Map(vec![
        (int(2), descriptor(b"unknown credential")),
        (
            int(3),
            Value::Map(vec![(text("id"), Value::bytes(b"alice".to_vec()))]),
        ),
    ]);
    assert_eq!(
        cm(&mut t, CRED_MGMT, Some(&token), 7, Some(params)),
        Err(NO_CREDENTIALS)
    );
    let meta = cm(&mut t, CRED_MGMT, Some(&token), 1, None).unwrap();
    assert_eq!(get(&meta, 1), int(0));
}

#[test]
fn no_pin_means_no_token() {
    let mut t = Tester::new();
    t.register("a.example", b"alice", None);
    assert_eq!(cm(&mut t, CRED_MGMT, None, 1, None), Err(PUAT_REQUIRED));
    assert_eq!(t.token(2, PIN, CM, None).err(), Some(PIN_NOT_SET));
}

#[test]
fn the_prototype_command_needs_fido_2_1_pre() {
    let (mut t, _) = card_with_credentials();
    let token = t.token(2, PIN, CM, None).unwrap();
    assert_eq!(
        cm(&mut t, PROTOTYPE, Some(&token), 1, None),
        Err(INVALID_COMMAND)
    );

    let mut profile = Profile::generic();
    profile.versions.push(Version::Fido21Pre);
    profile.options.credential_mgmt_preview = true;
    let mut t = Tester::with_profile(profile);
    assert_eq!(t.option("credentialMgmtPreview"), Some(true));
    let a = t.register("a.example", b"alice", None);
    t.set_pin(2, PIN).unwrap();
    let token = t.token(2, PIN, CM, None).unwrap();
    let v = cm(&mut t, PROTOTYPE, Some(&token), 1, None).unwrap();
    assert_eq!(get(&v, 1), int(1));
    let v = cm(&mut t, PROTOTYPE, Some(&token), 2, None).unwrap();
    assert_eq!(get(&v, 5), int(1));
    let v = cm(
        &mut t,
        PROTOTYPE,
        Some(&token),
        4,
        Some(rp_hash_params("a.example")),
    )
    .unwrap();
    assert_eq!(get(&v, 7), descriptor(&a));
    // updateUserInformation is CTAP 2.1 only.
    let params = Value::Map(vec![
        (int(2), descriptor(&a)),
        (
            int(3),
            Value::Map(vec![(text("id"), Value::bytes(b"alice".to_vec()))]),
        ),
    ]);
    assert_eq!(
        cm(&mut t, PROTOTYPE, Some(&token), 7, Some(params)),
        Err(INVALID_SUBCOMMAND)
    );
    cm(&mut t, PROTOTYPE, Some(&token), 6, Some(cred_params(&a))).unwrap();
    assert!(t.state().resident.is_empty());
}

#[test]
fn a_ctap20_card_has_no_credential_management() {
    let mut t = Tester::with_profile(Profile::generic().restricted_to_ctap20());
    assert_eq!(t.option("credMgmt"), None);
    assert_eq!(cm(&mut t, CRED_MGMT, None, 1, None), Err(INVALID_COMMAND));
}
