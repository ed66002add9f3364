//! The metadata statement describes the card as it answers: for every built-in profile (and the
//! generic one with alwaysUv on, where the card drops U2F_V2 and makeCredUvNotRqd), the getInfo a
//! fresh card sends over the NFC binding is decoded and compared, member by member, with the
//! statement's `authenticatorGetInfo` and the fields derived from it (`upv`,
//! `authenticationAlgorithms`, `userVerificationDetails`).

use ctap_types::nfc::FIDO_AID;
use ctap_types::{AuthenticatorInfo, OptionId, Version};
use fido_applet::CardBuilder;
use fido_applet::platform::ManualClock;
use fido_applet::profile::{Algorithm, Profile};
use reader_bridge::metadata::{authenticator_get_info, statement};
use serde_json::json;

/// Sends `apdu`, following 61XX with GET RESPONSE; returns data and status word.
fn transmit(card: &mut apdu::Card, apdu: &[u8]) -> (Vec<u8>, u16) {
    let mut out = Vec::new();
    let mut resp = card.transmit(apdu);
    loop {
        let (data, sw) = resp.split_at(resp.len() - 2);
        out.extend_from_slice(data);
        let sw = u16::from_be_bytes([sw[0], sw[1]]);
        if sw >> 8 != 0x61 {
            return (out, sw);
        }
        resp = card.transmit(&[0x00, 0xC0, 0x00, 0x00, sw as u8]);
    }
}

/// The getInfo a fresh card of `profile` answers over NFC (CTAP 2.1 §11.3: SELECT, then
/// NFCCTAP_MSG with authenticatorGetInfo).
fn card_info(profile: &Profile) -> AuthenticatorInfo {
    let mut card = CardBuilder::new(profile.clone())
        .seed(7)
        .clock(ManualClock::new(0))
        .build()
        .expect("card starts");
    let mut select = vec![0x00, 0xA4, 0x04, 0x00, FIDO_AID.len() as u8];
    select.extend_from_slice(&FIDO_AID);
    select.push(0x00);
    assert_eq!(transmit(&mut card, &select).1, 0x9000);
    let (answer, sw) = transmit(&mut card, &[0x80, 0x10, 0x00, 0x00, 0x01, 0x04, 0x00]);
    assert_eq!(sw, 0x9000, "{}", profile.id);
    assert_eq!(answer.first(), Some(&0x00), "{}: CTAP2_OK", profile.id);
    AuthenticatorInfo::from_cbor(&answer[1..]).expect("getInfo decodes")
}

fn profiles() -> Vec<Profile> {
    let mut all = Profile::all();
    let mut always_uv = Profile::generic();
    always_uv.id = "generic-always-uv".into();
    always_uv.options.always_uv = true;
    always_uv.validate().expect("valid");
    all.push(always_uv);
    all
}

#[test]
fn every_profiles_statement_matches_its_cards_get_info() {
    for profile in profiles() {
        let id = &profile.id;
        let info = card_info(&profile);
        let s = statement(&profile, &[0x30, 0x00]);
        let exported = s["authenticatorGetInfo"].as_object().expect("object");
        let from_card = authenticator_get_info(&info);
        let from_card = from_card.as_object().expect("object");
        let mut names: Vec<&String> = exported.keys().chain(from_card.keys()).collect();
        names.sort();
        names.dedup();
        for name in names {
            assert_eq!(exported.get(name), from_card.get(name), "{id}: {name}");
        }
        assert_eq!(s["aaguid"], profile.aaguid_string(), "{id}");
        assert_eq!(
            exported["aaguid"],
            apdu::hex_encode(&info.aaguid).to_lowercase()
        );

        // upv follows the versions the card lists.
        let upv = s["upv"].as_array().expect("upv");
        let has = |minor: u64| upv.contains(&json!({"major": 1, "minor": minor}));
        assert_eq!(
            has(1),
            info.has_version(Version::Fido21) || info.has_version(Version::Fido21Pre),
            "{id}: upv 1.1"
        );
        assert_eq!(has(0), info.has_version(Version::Fido20), "{id}: upv 1.0");
        // authenticationAlgorithms: one per algorithm the card offers, in its order: ES256 on
        // every card, and EdDSA on the generic one (issue 14); real cards keep their metadata.
        let algs = s["authenticationAlgorithms"].as_array().expect("array");
        assert_eq!(algs.len(), profile.algorithms.len(), "{id}");
        let expected_names: Vec<&str> = profile
            .algorithms
            .iter()
            .map(|a| match a {
                Algorithm::Es256 => "secp256r1_ecdsa_sha256_raw",
                Algorithm::EdDsa => "ed25519_eddsa_sha512_raw",
            })
            .collect();
        assert_eq!(algs, &expected_names, "{id}");
        if id.starts_with("hid-") || id.starts_with("thales-") {
            assert_eq!(profile.algorithms, [Algorithm::Es256], "{id}: ES256 only");
        }
        // userVerificationDetails: a PIN method exactly when the card has clientPin.
        let uv = s["userVerificationDetails"].as_array().expect("array");
        let pin = info.option(OptionId::ClientPin).is_some();
        assert_eq!(uv.len(), if pin { 3 } else { 1 }, "{id}");
        if let (true, Some(min)) = (pin, info.min_pin_length) {
            assert_eq!(uv[1][0]["caDesc"]["minLength"], min, "{id}");
        }
    }
}

#[test]
fn always_uv_statement_drops_u2f_and_make_cred_uv_not_rqd_like_the_card() {
    let profile = profiles().pop().expect("always-uv profile");
    let info = card_info(&profile);
    assert!(
        !info.has_version(Version::U2fV2),
        "§6.11.2: no U2F under alwaysUv"
    );
    assert_eq!(info.option(OptionId::MakeCredUvNotRqd), Some(false), "§6.4");
    assert_eq!(info.option(OptionId::AlwaysUv), Some(true));
    let s = statement(&profile, &[0x30, 0x00]);
    let exported = &s["authenticatorGetInfo"];
    assert_eq!(exported["versions"], json!(["FIDO_2_0", "FIDO_2_1"]));
    assert_eq!(exported["options"]["makeCredUvNotRqd"], false);
    assert_eq!(exported["options"]["alwaysUv"], true);
}
