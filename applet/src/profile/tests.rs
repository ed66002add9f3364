//! Unit tests of profile loading, validation and the built-in profiles.

use super::*;
use crate::crypto::CREDENTIAL_ID_LEN;
use crate::digest::hex;
use builtin::BUILTIN_SOURCES;
use schema::{aaguid_serde, hex_serde};
use serde::de::IntoDeserializer;
use serde::de::value::{Error as ValueError, StrDeserializer};

#[test]
fn contactless_atr_matches_cards_in_the_field() {
    // HID Crescendo C2300, contactless: historical bytes "C2300".
    assert_eq!(
        contactless_atr(b"C2300"),
        hex("3B 85 80 01 43 32 33 30 30 46")
    );
    // Crescendo Key, contactless: "C2300-KEY".
    assert_eq!(
        contactless_atr(b"C2300-KEY"),
        hex("3B 89 80 01 43 32 33 30 30 2D 4B 45 59 30")
    );
    // Thales IDPrime 3940 FIDO: the historical bytes of its contact ATR.
    let idprime = hex("80 31 80 65 B0 85 59 56 FB 12 0F FC 82 90 00");
    assert_eq!(
        contactless_atr(&idprime),
        hex("3B 8F 80 01 80 31 80 65 B0 85 59 56 FB 12 0F FC 82 90 00 68")
    );
    // Crescendo 2300 FIPS: "C2300-FIPS".
    assert_eq!(
        contactless_atr(b"C2300-FIPS"),
        hex("3B 8A 80 01 43 32 33 30 30 2D 46 49 50 53 68")
    );
}

#[test]
fn contactless_atr_edge_cases() {
    // No historical bytes: 3B 80 80 01 TCK with TCK = 80 ^ 80 ^ 01.
    assert_eq!(contactless_atr(&[]), vec![0x3B, 0x80, 0x80, 0x01, 0x01]);
    let long = [0x41u8; 20];
    let atr = contactless_atr(&long);
    assert_eq!(atr.len(), 4 + 15 + 1);
    assert_eq!(atr[1], 0x8F);
    assert_eq!(atr, contactless_atr(&long[..15]));
    // The XOR of all bytes after TS, TCK included, is zero (ISO/IEC 7816-3 §8.2.5).
    assert_eq!(atr[1..].iter().fold(0, |a, b| a ^ b), 0);
}

#[test]
fn generic_profile_keeps_its_identity_and_limits() {
    let p = Profile::generic();
    p.validate().expect("generic is valid");
    assert_eq!(p.id, "generic");
    assert_eq!(p.aaguid, GENERIC_AAGUID);
    assert_eq!(p.aaguid_string(), "f4804184-aeeb-4851-82ac-5e273de2e0a1");
    assert_eq!(p.versions, ["U2F_V2", "FIDO_2_0", "FIDO_2_1"]);
    assert_eq!(p.pin_uv_auth_protocols, [PinProtocol::V2, PinProtocol::V1]);
    assert_eq!(
        p.historical_bytes.as_deref(),
        Some(&GENERIC_HISTORICAL_BYTES[..])
    );
    assert_eq!(p.atr, contactless_atr(&GENERIC_HISTORICAL_BYTES));
    assert_eq!(&p.atr[..4], &[0x3B, 0x88, 0x80, 0x01]);
    assert!(p.max_credential_id_length >= CREDENTIAL_ID_LEN);
    assert_eq!(
        (p.max_msg_size, p.max_resident_credentials, p.min_pin_length),
        (2048, 100, 4)
    );
    assert!(p.u2f(), "CTAP 2.1 §10: authenticators SHOULD support U2F");
    let config = p.card_config();
    assert!(config.extended_length);
    assert_eq!(config.max_command_data, 4096);
    assert_eq!(config.max_response_chunk, 4096);
    assert_eq!(
        p.extensions,
        [
            "credProtect",
            "hmac-secret",
            "credBlob",
            "largeBlobKey",
            "minPinLength"
        ]
    );
    assert!(p.is_ctap21() && !p.is_ctap20_only());
    assert_eq!(Profile::builtin("generic"), Some(p.clone()));
    assert_eq!(Profile::builtin("nope"), None);
    assert_eq!(Profile::all()[0], p, "generic comes first");
}

/// A real card as the tests expect it.
struct RealCard {
    id: &'static str,
    aaguid: &'static str,
    /// The ATR seen in the field, or computed from the profile's (guessed) historical bytes.
    atr: &'static str,
    transports: &'static [&'static str],
    extensions: &'static [&'static str],
    short_only: bool,
}

const REAL_CARDS: &[RealCard] = &[
    RealCard {
        id: "hid-crescendo-c2300",
        aaguid: "aeb6569c-f8fb-4950-ac60-24ca2bbe2e52",
        atr: "3B 85 80 01 43 32 33 30 30 46",
        transports: &["nfc"],
        extensions: &["hmac-secret"],
        short_only: true,
    },
    RealCard {
        id: "hid-crescendo-key",
        aaguid: "692db549-7ae5-44d5-a1e5-dd20a493b723",
        atr: "3B 89 80 01 43 32 33 30 30 2D 4B 45 59 30",
        transports: &["usb", "nfc"],
        extensions: &["hmac-secret"],
        short_only: true,
    },
    RealCard {
        id: "hid-crescendo-key-v2",
        aaguid: "2d3bec26-15ee-4f5d-88b2-53622490270b",
        atr: "3B 89 80 01 43 33 30 30 30 2D 4B 45 59 32",
        transports: &["usb", "nfc"],
        extensions: &["credProtect", "hmac-secret"],
        short_only: false,
    },
    RealCard {
        id: "hid-crescendo-c3000",
        aaguid: "c80dbd9a-533f-4a17-b941-1a2f1c7cedff",
        atr: "3B 85 80 01 43 33 30 30 30 44",
        transports: &["nfc"],
        extensions: &["credProtect", "hmac-secret"],
        short_only: false,
    },
    RealCard {
        id: "thales-idprime-3940",
        aaguid: "b50d5e0a-7f81-4959-9b12-f45407407503",
        atr: "3B 8F 80 01 80 31 80 65 B0 85 59 56 FB 12 0F FC 82 90 00 68",
        transports: &["nfc"],
        extensions: &["hmac-secret"],
        short_only: false,
    },
];

#[test]
fn real_cards_are_modelled_as_fido_metadata_describes_them() {
    for card in REAL_CARDS {
        let RealCard {
            id,
            aaguid,
            atr,
            transports,
            extensions,
            short_only,
        } = *card;
        let p = Profile::builtin(id).unwrap_or_else(|| panic!("{id} is built in"));
        p.validate().expect(id);
        assert_eq!(p.aaguid_string(), aaguid, "{id}");
        assert_eq!(p.atr, hex(atr), "{id}: ATR");
        assert_eq!(p.versions, ["U2F_V2", "FIDO_2_0"], "{id}");
        assert!(p.u2f() && p.is_ctap20_only(), "{id}");
        assert_eq!(p.pin_uv_auth_protocols, [PinProtocol::V1], "{id}");
        assert_eq!(p.extensions, extensions, "{id}");
        assert_eq!(p.transports, transports, "{id}");
        assert!(p.options.rk && p.options.client_pin, "{id}");
        assert_eq!(
            p.options,
            ProfileOptions::default(),
            "{id}: rk + clientPin only"
        );
        assert_eq!(p.algorithms, [Algorithm::Es256], "{id}");
        assert_eq!(p.max_credential_count_in_list, 5, "{id}");
        assert_eq!(p.extended_length, !short_only, "{id}");
        if short_only {
            assert!(p.max_response_chunk <= 256, "{id}");
        }
        assert!(!p.notes.trim().is_empty(), "{id} says what is guessed");
        // CTAP 2.0 rules.
        for cmd in [
            command::CREDENTIAL_MANAGEMENT,
            command::SELECTION,
            command::LARGE_BLOBS,
            command::CONFIG,
            command::BIO_ENROLLMENT,
            command::CREDENTIAL_MANAGEMENT_PREVIEW,
        ] {
            assert!(!p.enables_command(cmd), "{id}: command {cmd:#04x}");
        }
        assert!(p.enables_command(command::CLIENT_PIN));
        assert!(p.enables_client_pin_subcommand(0x05));
        assert!(
            !p.enables_client_pin_subcommand(0x09),
            "{id}: no permissions"
        );
        assert!(p.enables_pin_uv_auth_protocol(1) && !p.enables_pin_uv_auth_protocol(2));
        assert!(!p.info_keys().contains(&info_key::TRANSPORTS), "{id}");
        assert_eq!(
            p.declared_options(false, false),
            [
                (OptionId::Plat, false),
                (OptionId::Rk, true),
                (OptionId::ClientPin, false),
                (OptionId::Up, true)
            ],
            "{id}"
        );
    }
    // Where MDS lists the limits, getInfo carries them.
    for id in ["hid-crescendo-key-v2", "hid-crescendo-c3000"] {
        let p = Profile::builtin(id).expect(id);
        assert_eq!(p.info_keys(), [1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(p.max_credential_id_length, 80);
    }
    assert_eq!(
        Profile::builtin("hid-crescendo-c2300")
            .expect("c2300")
            .info_keys(),
        [1, 2, 3, 4, 5, 6]
    );
}

#[test]
fn every_builtin_is_valid_unique_and_has_its_source() {
    let all = Profile::all();
    assert_eq!(all.len(), BUILTIN_SOURCES.len());
    for (i, p) in all.iter().enumerate() {
        p.validate().expect(&p.id);
        assert!(
            all[..i]
                .iter()
                .all(|q| q.id != p.id && q.aaguid != p.aaguid)
        );
        let text = Profile::builtin_source(&p.id).expect("source");
        assert_eq!(&Profile::from_toml_str(text).expect("parses"), p);
    }
    assert_eq!(Profile::builtin_source("nope"), None);
}

#[test]
fn generic_declares_the_full_ctap21_feature_set() {
    let p = Profile::generic();
    let options = p.declared_options(false, false);
    let names: Vec<&str> = options.iter().map(|(n, _)| n.as_str()).collect();
    for name in [
        "rk",
        "clientPin",
        "up",
        "plat",
        "credMgmt",
        "authnrCfg",
        "largeBlobs",
        "pinUvAuthToken",
        "setMinPINLength",
        "makeCredUvNotRqd",
        "alwaysUv",
    ] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }
    assert!(options.contains(&(OptionId::ClientPin, false)));
    assert!(
        p.declared_options(true, true)
            .contains(&(OptionId::ClientPin, true))
    );
    assert!(
        p.declared_options(true, true)
            .contains(&(OptionId::AlwaysUv, true))
    );
    for cmd in [0x01, 0x02, 0x04, 0x06, 0x07, 0x08, 0x0A, 0x0B, 0x0C, 0x0D] {
        assert!(p.enables_command(cmd), "{cmd:#04x}");
    }
    assert!(!p.enables_command(0x09) && !p.enables_command(0x41) && !p.enables_command(0x55));
    assert!(p.enables_client_pin_subcommand(0x09));
    assert!(!p.enables_client_pin_subcommand(0x06), "no built-in UV");
    assert!(
        p.options.ep && !names.contains(&"ep"),
        "ep is card state, appended by the caller"
    );
    assert!(p.enables_pin_uv_auth_protocol(2));
    // ES256 first, then EdDSA (issue 14); nothing else.
    assert_eq!(p.algorithms, [Algorithm::Es256, Algorithm::EdDsa]);
    assert!(p.enables_algorithm(-7) && p.enables_algorithm(-8) && !p.enables_algorithm(-35));
    // Derived getInfo keys: everything but built-in UV (0x11, 0x12) and certifications.
    let expected: Vec<u8> = (1..=20)
        .filter(|k| ![0x11, 0x12, 0x13].contains(k))
        .collect();
    assert_eq!(p.info_keys(), expected);
}

#[test]
fn generic_restricted_to_ctap20_is_a_valid_ctap20_card() {
    let p = Profile::generic().restricted_to_ctap20();
    p.validate().expect("valid");
    assert_eq!(p.versions, ["U2F_V2", "FIDO_2_0"]);
    assert!(p.is_ctap20_only());
    assert_eq!(p.pin_uv_auth_protocols, [PinProtocol::V1]);
    assert_eq!(p.extensions, ["credProtect", "hmac-secret"]);
    assert_eq!(p.info_keys(), [1, 2, 3, 4, 5, 6]);
    assert!(!p.enables_command(command::CREDENTIAL_MANAGEMENT));
    assert_eq!(p.aaguid, GENERIC_AAGUID, "same model otherwise");
    for real in Profile::all() {
        real.restricted_to_ctap20().validate().expect("valid");
    }
}

#[test]
fn derived_info_keys_follow_versions() {
    let mut p = Profile::generic();
    p.get_info_keys = None;
    p.certifications.insert("FIDO".into(), 1);
    assert!(p.declares_info_key(info_key::CERTIFICATIONS));
    let mut pre = minimal();
    pre.versions = vec![Version::Fido20, Version::Fido21Pre];
    pre.validate().expect("valid");
    assert_eq!(pre.info_keys(), (1..=10).collect::<Vec<u8>>());
    let mut old = minimal();
    old.extensions.clear();
    assert_eq!(old.info_keys(), [1, 3, 4, 5, 6]);
}

/// A small valid CTAP 2.0 profile document.
const MINIMAL: &str = r#"
    id = "my-card"
    name = "My Card"
    aaguid = "00112233-4455-6677-8899-aabbccddeeff"
    historical_bytes = "4D 59"
    versions = ["FIDO_2_0"]
    u2f = false
    extensions = ["hmac-secret"]
    firmware_version = 7
    max_msg_size = 1200
    max_credential_count_in_list = 4
    max_credential_id_length = 64
    max_resident_credentials = 10
    pin_uv_auth_protocols = [1]
    min_pin_length = 6
    extended_length = false
    max_command_data = 1200
    max_response_chunk = 200
    transports = ["nfc"]

    [attestation]
    country = "DE"
    organization = "Example GmbH"
    common_name = "My Card Batch"
    root_common_name = "My Card Root"
"#;

fn minimal() -> Profile {
    Profile::from_toml_str(MINIMAL).expect("minimal parses")
}

#[test]
fn a_minimal_document_gets_defaults() {
    let p = minimal();
    assert_eq!(p.atr, contactless_atr(b"MY"));
    assert_eq!(p.options, ProfileOptions::default());
    assert_eq!(p.algorithms, [Algorithm::Es256]);
    assert_eq!(p.large_blob_size, 0);
    assert_eq!(p.processing_budget_ms, 0);
    assert_eq!(p.get_info_keys, None);
    assert!(p.certifications.is_empty() && p.notes.is_empty());
    assert!(p.is_ctap20_only());
    let config = p.card_config();
    assert!(!config.extended_length);
    assert_eq!(config.max_response_chunk, 200);
}

#[test]
fn atr_may_be_given_directly_and_must_agree() {
    let direct = MINIMAL.replace(
        "historical_bytes = \"4D 59\"",
        "atr = \"3B 82 80 01 4D 59 17\"",
    );
    let p = Profile::from_toml_str(&direct).expect("direct ATR");
    assert_eq!(p.atr, contactless_atr(b"MY"));
    assert_eq!(p.historical_bytes, None);

    let both = MINIMAL.replace(
        "historical_bytes = \"4D 59\"",
        "historical_bytes = \"4D 59\"\natr = \"3B 82 80 01 4D 59 17\"",
    );
    Profile::from_toml_str(&both).expect("agreeing");

    let wrong_tck = direct.replace("17\"", "18\"");
    let err = Profile::from_toml_str(&wrong_tck).expect_err("bad TCK");
    assert!(err.to_string().contains("wrong TCK: expected 17"), "{err}");

    let disagree = both.replace("historical_bytes = \"4D 59\"", "historical_bytes = \"4D\"");
    let err = Profile::from_toml_str(&disagree).expect_err("disagree");
    assert!(
        err.to_string().contains("does not match historical_bytes"),
        "{err}"
    );

    let neither = MINIMAL.replace("historical_bytes = \"4D 59\"", "");
    let err = Profile::from_toml_str(&neither).expect_err("no ATR");
    assert!(
        err.to_string().contains("give `atr` or `historical_bytes`"),
        "{err}"
    );

    let long = MINIMAL.replace("\"4D 59\"", &format!("\"{}\"", "41 ".repeat(16)));
    let err = Profile::from_toml_str(&long).expect_err("too long");
    assert!(err.to_string().contains("at most 15"), "{err}");
}

#[test]
fn attestation_type_defaults_to_basic_and_reads_self_and_none() {
    assert_eq!(
        Profile::from_toml_str(MINIMAL)
            .expect("minimal")
            .attestation_type,
        AttestationType::Basic
    );
    for (name, want, mds) in [
        ("self", AttestationType::SelfAttestation, "basic_surrogate"),
        ("none", AttestationType::None, "none"),
        ("basic", AttestationType::Basic, "basic_full"),
    ] {
        let text = format!("attestation_type = \"{name}\"\n{MINIMAL}");
        let p = Profile::from_toml_str(&text).expect(name);
        assert_eq!(p.attestation_type, want);
        assert_eq!(p.attestation_type.mds_name(), mds);
    }
    assert!(Profile::from_toml_str(&format!("attestation_type = \"attca\"\n{MINIMAL}")).is_err());
}

#[test]
fn enterprise_attestation_rp_ids_default_empty_and_load() {
    assert!(minimal().enterprise_attestation_rp_ids.is_empty());
    let generic = Profile::builtin_source("generic").expect("generic");
    let text = generic.replacen(
        "\n[options]",
        "\nenterprise_attestation_rp_ids = [\"corp.example\", \"login.corp.example\"]\n[options]",
        1,
    );
    let p = Profile::from_toml_str(&text).expect("loads");
    assert_eq!(
        p.enterprise_attestation_rp_ids,
        ["corp.example", "login.corp.example"]
    );
    for p in Profile::all() {
        p.validate().expect("built-in");
    }
}

#[test]
fn parse_errors_say_where() {
    let err =
        Profile::from_toml_str(&format!("{MINIMAL}\nfrobnicate = 1\n")).expect_err("unknown key");
    let text = err.to_string();
    assert!(text.contains("frobnicate"), "{text}");
    assert!(matches!(err, ProfileLoadError::Parse { .. }));

    let err =
        Profile::from_toml_str(&MINIMAL.replace("00112233-", "0011223-")).expect_err("bad AAGUID");
    assert!(err.to_string().contains("is not a UUID"), "{err}");
    assert!(err.to_string().contains("line"), "{err}");

    let err = Profile::from_toml_str(&format!("{MINIMAL}\n[options]\nuv = true\n"))
        .expect_err("no such option");
    assert!(err.to_string().contains("uv"), "{err}");

    let err = Profile::from_toml_str("id = ").expect_err("not TOML");
    assert!(matches!(err, ProfileLoadError::Parse { .. }));
}

#[test]
fn load_names_the_file() {
    let dir = std::env::temp_dir().join(format!("profile-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let good = dir.join("good.toml");
    std::fs::write(&good, MINIMAL).expect("write");
    assert_eq!(Profile::load(&good).expect("loads"), minimal());

    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        MINIMAL.replace("min_pin_length = 6", "min_pin_length = 2"),
    )
    .expect("write");
    let err = Profile::load(&bad).expect_err("invalid");
    let text = err.to_string();
    assert!(text.contains(&*bad.to_string_lossy()), "{text}");
    assert!(text.contains("min_pin_length"), "{text}");

    let missing = dir.join("missing.toml");
    let err = Profile::load(&missing).expect_err("missing");
    assert!(matches!(err, ProfileLoadError::Io { .. }));
    assert!(err.to_string().contains(&*missing.to_string_lossy()));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn validate_catches_broken_profiles() {
    type Breaker = fn(&mut Profile);
    let broken: Vec<(&str, Breaker)> = vec![
        ("id", |p| p.id = "Has Space".into()),
        ("name", |p| p.name = " ".into()),
        ("atr", |p| p.atr = vec![0x00]),
        ("atr", |p| p.historical_bytes = Some(b"XX".to_vec())),
        ("atr", |p| {
            p.historical_bytes = None;
            p.atr.push(0);
        }),
        ("versions", |p| p.versions = vec![Version::U2fV2]),
        ("versions", |p| p.versions.push(Version::Fido21)),
        ("pin_uv_auth_protocols", |p| {
            p.pin_uv_auth_protocols = vec![PinProtocol::V1, PinProtocol::V1]
        }),
        ("pin_uv_auth_protocols", |p| {
            p.pin_uv_auth_protocols = vec![]
        }),
        ("min_pin_length", |p| p.min_pin_length = 3),
        ("max_credential_id_length", |p| {
            p.max_credential_id_length = 32
        }),
        ("max_credential_count_in_list", |p| {
            p.max_credential_count_in_list = 0
        }),
        ("max_msg_size", |p| p.max_msg_size = 100),
        ("max_command_data", |p| p.max_command_data = 1024),
        ("max_command_data", |p| p.max_command_data = 70_000),
        ("max_response_chunk", |p| p.max_response_chunk = 0),
        ("max_response_chunk", |p| p.extended_length = false),
        ("max_resident_credentials", |p| {
            p.max_resident_credentials = 0
        }),
        ("transports", |p| p.transports.clear()),
        ("transports", |p| p.transports = vec![Transport::Usb]),
        ("transports", |p| p.transports.push(Transport::Nfc)),
        ("attestation", |p| p.attestation.country = "USA".into()),
        ("options", |p| p.options.pin_uv_auth_token = false),
        ("options", |p| {
            p.options.client_pin = false;
        }),
        ("options", |p| p.options.credential_mgmt_preview = true),
        ("options", |p| {
            p.options.authnr_cfg = false;
        }),
        ("options", |p| {
            p.options.authnr_cfg = false;
            p.options.set_min_pin_length = false;
            p.extensions.retain(|&e| e != ExtensionId::MinPinLength);
            p.max_rp_ids_for_set_min_pin_length = 0;
        }),
        ("large_blob_size", |p| p.large_blob_size = 0),
        ("large_blob_size", |p| p.large_blob_size = 512),
        ("extensions", |p| {
            p.extensions.push(ExtensionId::CredProtect)
        }),
        ("extensions", |p| {
            p.options.large_blobs = false;
            p.large_blob_size = 0;
        }),
        ("extensions", |p| {
            p.options.set_min_pin_length = false;
        }),
        ("max_cred_blob_length", |p| p.max_cred_blob_length = 16),
        ("algorithms", |p| p.algorithms.clear()),
        ("algorithms", |p| p.algorithms.push(Algorithm::Es256)),
        ("certifications", |p| {
            p.certifications.insert("FIDO".into(), 0);
        }),
        ("processing_budget_ms", |p| p.processing_budget_ms = 60_001),
        ("get_info_keys", |p| p.get_info_keys = Some(vec![1, 2])),
        ("get_info_keys", |p| p.get_info_keys = Some(vec![1, 3, 3])),
        ("get_info_keys", |p| p.get_info_keys = Some(vec![1, 3, 21])),
        ("get_info_keys", |p| {
            p.get_info_keys = Some(vec![1, 3, 0x11])
        }),
        ("enterprise_attestation_rp_ids", |p| {
            p.options.ep = false;
            p.enterprise_attestation_rp_ids = vec!["corp.example".into()];
        }),
        ("enterprise_attestation_rp_ids", |p| {
            p.enterprise_attestation_rp_ids = vec!["a.example".into(), "a.example".into()];
        }),
        ("enterprise_attestation_rp_ids", |p| {
            p.enterprise_attestation_rp_ids = vec!["Corp.Example".into()];
        }),
        ("enterprise_attestation_rp_ids", |p| {
            p.enterprise_attestation_rp_ids = vec!["".into()];
        }),
        ("enterprise_attestation_rp_ids", |p| {
            p.enterprise_attestation_rp_ids = vec!["corp example".into()];
        }),
    ];
    for (field, breaker) in broken {
        let mut p = Profile::generic();
        breaker(&mut p);
        let err = p.validate().expect_err(field);
        assert_eq!(err.field, field, "{err}");
    }
    // CTAP 2.1-only features on a CTAP 2.0 card.
    let broken_20: Vec<(&str, Breaker)> = vec![
        ("pin_uv_auth_protocols", |p| {
            p.pin_uv_auth_protocols = vec![PinProtocol::V2, PinProtocol::V1]
        }),
        ("options", |p| p.options.cred_mgmt = true),
        ("options", |p| p.options.make_cred_uv_not_rqd = true),
        ("options", |p| p.options.ep = true),
        ("extensions", |p| p.extensions.push(ExtensionId::CredBlob)),
        ("certifications", |p| {
            p.certifications.insert("FIDO".into(), 1);
        }),
        ("processing_budget_ms", |p| p.processing_budget_ms = 100),
        ("max_rp_ids_for_set_min_pin_length", |p| {
            p.max_rp_ids_for_set_min_pin_length = 2
        }),
    ];
    for (field, breaker) in broken_20 {
        let mut p = minimal();
        breaker(&mut p);
        let err = p.validate().expect_err(field);
        assert_eq!(err.field, field, "{err}");
    }
    // U2F consistently disabled is fine.
    let mut p = Profile::generic();
    p.versions.retain(|&v| v != Version::U2fV2);
    p.validate().expect("valid");
    // So is a certification on a CTAP 2.1 card, and a card without a PIN or extensions.
    p.certifications.insert("FIDO".into(), 2);
    p.validate().expect("valid");
    let mut p = minimal();
    p.options.client_pin = false;
    p.extensions.clear();
    p.validate().expect("valid");
    assert!(!p.enables_command(command::CLIENT_PIN));
    assert!(!p.enables_client_pin_subcommand(0x01));
    assert!(!p.declares_info_key(info_key::EXTENSIONS));
}

/// Values a [`Profile`] cannot hold (unknown identifiers, the all-zero AAGUID, U2F without
/// U2F_V2) are refused when the document loads, naming the field as `validate` does for the rest.
#[test]
fn loading_refuses_values_a_profile_cannot_hold() {
    let generic = Profile::builtin_source("generic").expect("generic");
    let broken = [
        (
            "aaguid",
            "aaguid = \"f4804184-aeeb-4851-82ac-5e273de2e0a1\"",
            "aaguid = \"00000000-0000-0000-0000-000000000000\"",
        ),
        (
            "versions",
            "versions = [\"U2F_V2\", \"FIDO_2_0\", \"FIDO_2_1\"]",
            "versions = [\"U2F_V2\", \"FIDO_3\"]",
        ),
        ("versions", "u2f = true", "u2f = false"),
        (
            "pin_uv_auth_protocols",
            "pin_uv_auth_protocols = [2, 1]",
            "pin_uv_auth_protocols = [3]",
        ),
        (
            "transports",
            "transports = [\"nfc\"]",
            "transports = [\"nfc\", \"carrier-pigeon\"]",
        ),
        (
            "extensions",
            "extensions = [\"credProtect\"",
            "extensions = [\"hmac-secret-mc\", \"credProtect\"",
        ),
        (
            "algorithms",
            "algorithms = [-7, -8]",
            "algorithms = [-7, -35]",
        ),
    ];
    for (field, good, bad) in broken {
        assert!(generic.contains(good), "{good}");
        let err = Profile::from_toml_str(&generic.replacen(good, bad, 1)).expect_err(bad);
        match err {
            ProfileLoadError::Invalid { source, .. } => assert_eq!(source.field, field, "{bad}"),
            other => panic!("{bad}: {other}"),
        }
    }
    let err = Profile::from_toml_str(&generic.replacen("[2, 1]", "[1, 1]", 1)).expect_err("1, 1");
    assert!(err.to_string().contains("pin_uv_auth_protocols"), "{err}");
    let err =
        Profile::from_toml_str(&generic.replacen("[-7, -8]", "[-7, -7]", 1)).expect_err("-7 twice");
    assert!(err.to_string().contains("algorithms"), "{err}");
}

#[test]
fn aaguid_text_round_trips() {
    let text = format_aaguid(&GENERIC_AAGUID);
    assert_eq!(parse_aaguid(&text), Some(GENERIC_AAGUID));
    assert_eq!(parse_aaguid(&text.to_uppercase()), Some(GENERIC_AAGUID));
    assert_eq!(parse_aaguid(&text.replace('-', "")), Some(GENERIC_AAGUID));
    assert_eq!(parse_aaguid("aeb6569c-f8fb-4950-ac60-24ca2bbe2e5"), None);
    assert_eq!(parse_aaguid("aeb6569cf-8fb-4950-ac60-24ca2bbe2e52"), None);
    assert_eq!(parse_aaguid("zeb6569c-f8fb-4950-ac60-24ca2bbe2e52"), None);
    assert_eq!(parse_aaguid("+eb6569cf8fb4950ac6024ca2bbe2e52"), None);
    assert_eq!(parse_aaguid(""), None);
}

#[test]
fn human_readable_fields_deserialize_from_strings() {
    let de: StrDeserializer<'_, ValueError> =
        "aeb6569c-f8fb-4950-ac60-24ca2bbe2e52".into_deserializer();
    let aaguid = aaguid_serde::deserialize(de).expect("parses");
    assert_eq!(
        format_aaguid(&aaguid),
        "aeb6569c-f8fb-4950-ac60-24ca2bbe2e52"
    );
    let de: StrDeserializer<'_, ValueError> = "not-a-uuid".into_deserializer();
    assert!(aaguid_serde::deserialize(de).is_err());

    let de: StrDeserializer<'_, ValueError> = "3B 85 80 01 43 32 33 30 30 46".into_deserializer();
    assert_eq!(
        hex_serde::deserialize(de).expect("parses"),
        contactless_atr(b"C2300")
    );
    assert_eq!(format_hex_spaced(&[0x3B, 0x0A]), "3B 0A");
}

#[test]
fn binary_and_toml_round_trips() {
    for p in Profile::all() {
        let bytes = postcard::to_allocvec(&p).expect("serializes");
        let back: Profile = postcard::from_bytes(&bytes).expect("deserializes");
        assert_eq!(back, p);
        let text = toml::to_string(&p).expect("TOML");
        assert_eq!(
            Profile::from_toml_str(&text).expect("reparses"),
            p,
            "{text}"
        );
    }
}
