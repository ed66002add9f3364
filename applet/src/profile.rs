//! Card profiles: what a modelled card declares and how big its buffers are, as plain data.
//!
//! A profile fills in the ATR (PC/SC part 3 §3.1.3.2.3), the authenticatorGetInfo values
//! (CTAP 2.1 §6.4), the ISO 7816 interface limits handed to the `apdu` runtime, and the subject
//! of the attestation certificates (WebAuthn §8.2.1). Facts about real cards, and which values
//! are guesses, are collected in `cards.md`.
//!
//! The types are serde-friendly so profiles can be loaded from files: in human-readable formats
//! (TOML, JSON) the AAGUID is written `"f4804184-aeeb-4851-82ac-5e273de2e0a1"` and the ATR as a
//! hex string (`"3B 85 80 01 43 32 33 30 30 46"`); binary formats keep raw bytes.

use serde::{Deserialize, Serialize};

use crate::attestation::AttestationSubject;
use crate::crypto::CREDENTIAL_ID_LEN;

/// A modelled card.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Short machine name, used on command lines (`--profile generic`).
    pub id: String,
    /// Human-readable name.
    pub name: String,
    /// The authenticator model's AAGUID (CTAP 2.1 §6.4 getInfo 0x03, WebAuthn §6.5.1 attested
    /// credential data, and the attestation certificate's id-fido-gen-ce-aaguid).
    #[serde(with = "aaguid_serde")]
    pub aaguid: [u8; 16],
    /// The ATR the reader reports (for a contactless card the reader builds it from the ATS
    /// historical bytes: see [`contactless_atr`]). Windows derives the device id from its
    /// historical bytes.
    #[serde(with = "hex_serde")]
    pub atr: Vec<u8>,
    /// getInfo 0x01 `versions`: "U2F_V2", "FIDO_2_0", "FIDO_2_1_PRE", "FIDO_2_1".
    pub versions: Vec<String>,
    /// getInfo 0x02 `extensions` this profile enables (the CTAP core only lists those it
    /// implements).
    pub extensions: Vec<String>,
    /// getInfo 0x0E `firmwareVersion`.
    pub firmware_version: u64,
    /// getInfo 0x05 `maxMsgSize`: the largest CTAP message (command byte + CBOR) accepted.
    pub max_msg_size: usize,
    /// getInfo 0x07 `maxCredentialCountInList`: largest allowList / excludeList processed.
    pub max_credential_count_in_list: usize,
    /// getInfo 0x08 `maxCredentialIdLength`. Must be at least the length of the ids this card
    /// makes ([`CREDENTIAL_ID_LEN`]).
    pub max_credential_id_length: usize,
    /// Capacity for discoverable credentials (getInfo 0x14 `remainingDiscoverableCredentials`
    /// counts down from it); a Java Card has room for tens.
    pub max_resident_credentials: usize,
    /// getInfo 0x06 `pinUvAuthProtocols`, in order of preference (1 and/or 2, CTAP 2.1 §6.5).
    pub pin_uv_auth_protocols: Vec<u8>,
    /// getInfo 0x0D `minPINLength` (at least 4, CTAP 2.1 §6.5.1).
    pub min_pin_length: usize,
    /// Whether the card accepts extended-length APDUs (ISO/IEC 7816-4 §5.1); short APDUs with
    /// chaining always work.
    pub extended_length: bool,
    /// Largest command data after chaining is reassembled (the applet's APDU buffer).
    pub max_command_data: usize,
    /// Largest response data in one response APDU before the runtime answers 61XX.
    pub max_response_chunk: usize,
    /// Subject of the attestation certificates the card mints for itself.
    pub attestation: AttestationSubject,
    /// Whether the card also speaks U2F / CTAP1 (then "U2F_V2" belongs in `versions` and is the
    /// SELECT answer, CTAP 2.1 §11.3.3).
    pub u2f: bool,
    /// getInfo 0x09 `transports` ("nfc", "usb", ...).
    pub transports: Vec<String>,
}

/// The generic profile's AAGUID, f4804184-aeeb-4851-82ac-5e273de2e0a1: a random (version 4) UUID
/// drawn once for this project. It identifies no real product and appears in no FIDO metadata,
/// so relying parties that only trust MDS-listed models will treat the card as unknown.
pub const GENERIC_AAGUID: [u8; 16] = [
    0xf4, 0x80, 0x41, 0x84, 0xae, 0xeb, 0x48, 0x51, 0x82, 0xac, 0x5e, 0x27, 0x3d, 0xe2, 0xe0, 0xa1,
];

/// Historical bytes of the generic card (ISO/IEC 7816-4 §8.1.1): category indicator 0x80
/// (COMPACT-TLV follows), then tag 5 "card issuer's data", length 6, "VFIDO2".
pub const GENERIC_HISTORICAL_BYTES: [u8; 8] = [0x80, 0x56, b'V', b'F', b'I', b'D', b'O', b'2'];

impl Profile {
    /// The default profile: a full CTAP 2.1 contactless card that Windows, python-fido2 and
    /// libfido2 accept. Limits are plausible for a Java Card (see `cards.md`): larger than the
    /// ~1200-byte messages of real cards so that nothing legitimate is refused, and small enough
    /// that the limits are exercised by tests.
    pub fn generic() -> Self {
        Self {
            id: "generic".into(),
            name: "Virtual FIDO2 Card (generic Microsoft-compatible)".into(),
            aaguid: GENERIC_AAGUID,
            atr: contactless_atr(&GENERIC_HISTORICAL_BYTES),
            versions: vec!["FIDO_2_0".into(), "FIDO_2_1".into()],
            extensions: crate::extensions::SUPPORTED
                .iter()
                .map(|&e| e.into())
                .collect(),
            firmware_version: 1,
            max_msg_size: 2048,
            max_credential_count_in_list: 8,
            max_credential_id_length: 128,
            max_resident_credentials: 100,
            pin_uv_auth_protocols: vec![2, 1],
            min_pin_length: 4,
            extended_length: true,
            max_command_data: 4096,
            max_response_chunk: 4096,
            attestation: AttestationSubject {
                country: "US".into(),
                organization: "Virtual FIDO Card Project".into(),
                common_name: "Virtual FIDO2 Card Batch Attestation".into(),
                root_common_name: "Virtual FIDO2 Card Attestation Root CA".into(),
            },
            u2f: false,
            transports: vec!["nfc".into()],
        }
    }

    /// Every built-in profile.
    pub fn all() -> Vec<Self> {
        vec![Self::generic()]
    }

    /// The built-in profile called `id`.
    pub fn builtin(id: &str) -> Option<Self> {
        Self::all().into_iter().find(|profile| profile.id == id)
    }

    /// The AAGUID as a lower-case UUID string, 8-4-4-4-12 (RFC 9562 §4).
    pub fn aaguid_string(&self) -> String {
        format_aaguid(&self.aaguid)
    }

    /// The interface limits for the `apdu` runtime.
    pub fn card_config(&self) -> apdu::CardConfig {
        apdu::CardConfig {
            extended_length: self.extended_length,
            max_command_data: self.max_command_data,
            max_response_chunk: self.max_response_chunk,
        }
    }

    /// Checks the invariants the applet relies on, so that a profile loaded from a file fails at
    /// start-up with a message rather than misbehaving later.
    pub fn validate(&self) -> Result<(), ProfileError> {
        let fail = |field: &'static str, reason: String| {
            Err(ProfileError {
                profile: self.id.clone(),
                field,
                reason,
            })
        };
        if self.id.is_empty()
            || !self
                .id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return fail(
                "id",
                "must be non-empty lower-case letters, digits and '-'".into(),
            );
        }
        if self.aaguid == [0; 16] {
            return fail("aaguid", "the all-zero AAGUID means \"no model\"".into());
        }
        // ISO/IEC 7816-3 §8.2: TS is 3B (direct) or 3F (inverse); an ATR is at most 33 bytes.
        if !matches!(self.atr.first(), Some(0x3B | 0x3F)) || self.atr.len() > 33 {
            return fail(
                "atr",
                "must start with 3B or 3F and be at most 33 bytes".into(),
            );
        }
        const KNOWN_VERSIONS: [&str; 4] = ["U2F_V2", "FIDO_2_0", "FIDO_2_1_PRE", "FIDO_2_1"];
        if let Some(unknown) = self
            .versions
            .iter()
            .find(|v| !KNOWN_VERSIONS.contains(&v.as_str()))
        {
            return fail("versions", format!("unknown version {unknown:?}"));
        }
        if !self.versions.iter().any(|v| v.starts_with("FIDO_2")) {
            return fail("versions", "a CTAP2 card lists FIDO_2_0 or later".into());
        }
        if self.u2f != self.versions.iter().any(|v| v == "U2F_V2") {
            return fail(
                "versions",
                "U2F_V2 must be listed exactly when u2f is true".into(),
            );
        }
        let protocols = &self.pin_uv_auth_protocols;
        if protocols.is_empty()
            || protocols.iter().any(|p| !matches!(p, 1 | 2))
            || (protocols.len() == 2 && protocols[0] == protocols[1])
            || protocols.len() > 2
        {
            return fail(
                "pin_uv_auth_protocols",
                "one or both of 1 and 2, no repeats".into(),
            );
        }
        if !(4..=63).contains(&self.min_pin_length) {
            return fail("min_pin_length", "CTAP 2.1 PINs are 4 to 63 bytes".into());
        }
        if self.max_credential_id_length < CREDENTIAL_ID_LEN {
            return fail(
                "max_credential_id_length",
                format!("this card's credential ids are {CREDENTIAL_ID_LEN} bytes"),
            );
        }
        if self.max_credential_count_in_list == 0 {
            return fail("max_credential_count_in_list", "must be at least 1".into());
        }
        if self.max_msg_size < 1024 {
            return fail(
                "max_msg_size",
                "below 1024 bytes common requests do not fit".into(),
            );
        }
        if self.max_command_data < self.max_msg_size {
            return fail(
                "max_command_data",
                "must hold a message of max_msg_size bytes".into(),
            );
        }
        if !(1..=apdu::card::MAX_RESPONSE_DATA).contains(&self.max_response_chunk) {
            return fail(
                "max_response_chunk",
                format!("must be 1 to {} bytes", apdu::card::MAX_RESPONSE_DATA),
            );
        }
        if self.transports.is_empty() {
            return fail("transports", "list at least one transport".into());
        }
        if let Err(err) = self.attestation.validate() {
            return fail("attestation", err.to_string());
        }
        Ok(())
    }
}

/// A profile that breaks an invariant (see [`Profile::validate`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("profile {profile:?}: {field}: {reason}")]
pub struct ProfileError {
    /// The profile's id.
    pub profile: String,
    /// The offending field.
    pub field: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

/// The ATR a PC/SC reader reports for an ISO/IEC 14443-4 Type A card (PC/SC part 3 §3.1.3.2.3):
/// `3B 8n 80 01 <n historical bytes> TCK`, with `n` the number of historical bytes (from the
/// ATS) and TCK the XOR of every byte after 3B.
///
/// T0's low nibble counts at most 15 historical bytes, so longer input is cut to its first 15
/// (a reader could not report more either).
pub fn contactless_atr(historical: &[u8]) -> Vec<u8> {
    let historical = historical.get(..15).unwrap_or(historical);
    let mut atr = Vec::with_capacity(historical.len() + 5);
    // T0 = 8n: TD1 follows, n historical bytes. TD1 = 80: TD2 follows, T=0. TD2 = 01: T=1.
    // The length is at most 15, so it fits the low nibble.
    atr.extend_from_slice(&[0x3B, 0x80 | (historical.len() as u8), 0x80, 0x01]);
    atr.extend_from_slice(historical);
    let tck = atr.iter().skip(1).fold(0u8, |acc, b| acc ^ b);
    atr.push(tck);
    atr
}

/// Formats an AAGUID as a lower-case UUID string, 8-4-4-4-12.
pub fn format_aaguid(aaguid: &[u8; 16]) -> String {
    let mut out = String::with_capacity(36);
    for (i, byte) in aaguid.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

/// Parses an AAGUID written as a UUID (8-4-4-4-12, either case) or as 32 hex digits.
pub fn parse_aaguid(text: &str) -> Option<[u8; 16]> {
    let text = text.trim();
    let hex: String = if text.len() == 36 {
        let dashes_ok = text
            .char_indices()
            .all(|(i, c)| (c == '-') == matches!(i, 8 | 13 | 18 | 23));
        if !dashes_ok {
            return None;
        }
        text.chars().filter(|&c| c != '-').collect()
    } else {
        text.to_owned()
    };
    if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    apdu::hex_decode(&hex)?.try_into().ok()
}

/// Formats bytes as upper-case hex pairs separated by spaces, as ATRs are usually written.
fn format_hex_spaced(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `#[serde(with)]` for the AAGUID: a UUID string in human-readable formats, 16 bytes otherwise.
mod aaguid_serde {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(aaguid: &[u8; 16], serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(&super::format_aaguid(aaguid))
        } else {
            aaguid.serialize(serializer)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<[u8; 16], D::Error> {
        if deserializer.is_human_readable() {
            let text = String::deserialize(deserializer)?;
            super::parse_aaguid(&text).ok_or_else(|| {
                D::Error::custom(format!("AAGUID {text:?} is not a UUID (8-4-4-4-12 hex)"))
            })
        } else {
            <[u8; 16]>::deserialize(deserializer)
        }
    }
}

/// `#[serde(with)]` for byte strings such as the ATR: hex (spaces allowed) in human-readable
/// formats, bytes otherwise.
mod hex_serde {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(&super::format_hex_spaced(bytes))
        } else {
            bytes.serialize(serializer)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        if deserializer.is_human_readable() {
            let text = String::deserialize(deserializer)?;
            apdu::hex_decode(&text)
                .ok_or_else(|| D::Error::custom(format!("{text:?} is not a hex byte string")))
        } else {
            Vec::<u8>::deserialize(deserializer)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::IntoDeserializer;
    use serde::de::value::{Error as ValueError, StrDeserializer};

    #[test]
    fn contactless_atr_matches_cards_in_the_field() {
        // HID Crescendo C2300, contactless: historical bytes "C2300".
        assert_eq!(
            contactless_atr(b"C2300"),
            apdu::hex_decode("3B 85 80 01 43 32 33 30 30 46").expect("hex")
        );
        // Crescendo Key, contactless: "C2300-KEY".
        assert_eq!(
            contactless_atr(b"C2300-KEY"),
            apdu::hex_decode("3B 89 80 01 43 32 33 30 30 2D 4B 45 59 30").expect("hex")
        );
        // Thales IDPrime 3940 FIDO: the historical bytes of its contact ATR.
        let idprime =
            apdu::hex_decode("80 31 80 65 B0 85 59 56 FB 12 0F FC 82 90 00").expect("hex");
        assert_eq!(
            contactless_atr(&idprime),
            apdu::hex_decode("3B 8F 80 01 80 31 80 65 B0 85 59 56 FB 12 0F FC 82 90 00 68")
                .expect("hex")
        );
        // Crescendo 2300 FIPS: "C2300-FIPS".
        assert_eq!(
            contactless_atr(b"C2300-FIPS"),
            apdu::hex_decode("3B 8A 80 01 43 32 33 30 30 2D 46 49 50 53 68").expect("hex")
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
    fn generic_profile() {
        let p = Profile::generic();
        p.validate().expect("generic is valid");
        assert_eq!(p.id, "generic");
        assert_eq!(p.aaguid_string(), "f4804184-aeeb-4851-82ac-5e273de2e0a1");
        assert_eq!(p.versions, ["FIDO_2_0", "FIDO_2_1"]);
        assert_eq!(p.pin_uv_auth_protocols, [2, 1]);
        assert_eq!(p.atr, contactless_atr(&GENERIC_HISTORICAL_BYTES));
        assert_eq!(&p.atr[..4], &[0x3B, 0x88, 0x80, 0x01]);
        assert!(p.max_credential_id_length >= CREDENTIAL_ID_LEN);
        let config = p.card_config();
        assert!(config.extended_length);
        assert_eq!(config.max_command_data, 4096);
        assert_eq!(Profile::builtin("generic"), Some(p.clone()));
        assert_eq!(Profile::builtin("nope"), None);
        assert!(Profile::all().iter().all(|p| p.validate().is_ok()));
        let ids: Vec<_> = Profile::all().into_iter().map(|p| p.id).collect();
        assert!(ids.contains(&"generic".to_owned()));
    }

    #[test]
    fn validate_catches_broken_profiles() {
        type Breaker = fn(&mut Profile);
        let broken: Vec<(&str, Breaker)> = vec![
            ("id", |p| p.id = "Has Space".into()),
            ("aaguid", |p| p.aaguid = [0; 16]),
            ("atr", |p| p.atr = vec![0x00]),
            ("versions", |p| p.versions = vec!["FIDO_3".into()]),
            ("versions", |p| p.versions = vec!["U2F_V2".into()]),
            ("versions", |p| p.u2f = true),
            ("pin_uv_auth_protocols", |p| {
                p.pin_uv_auth_protocols = vec![3]
            }),
            ("pin_uv_auth_protocols", |p| {
                p.pin_uv_auth_protocols = vec![1, 1]
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
            ("max_response_chunk", |p| p.max_response_chunk = 0),
            ("transports", |p| p.transports.clear()),
            ("attestation", |p| p.attestation.country = "USA".into()),
        ];
        for (field, breaker) in broken {
            let mut p = Profile::generic();
            breaker(&mut p);
            let err = p.validate().expect_err(field);
            assert_eq!(err.field, field, "{err}");
        }
        // U2F consistently enabled is fine.
        let mut p = Profile::generic();
        p.u2f = true;
        p.versions.insert(0, "U2F_V2".into());
        p.validate().expect("valid");
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

        let de: StrDeserializer<'_, ValueError> =
            "3B 85 80 01 43 32 33 30 30 46".into_deserializer();
        assert_eq!(
            hex_serde::deserialize(de).expect("parses"),
            contactless_atr(b"C2300")
        );
        assert_eq!(format_hex_spaced(&[0x3B, 0x0A]), "3B 0A");
    }

    #[test]
    fn binary_round_trip() {
        let p = Profile::generic();
        let bytes = postcard::to_allocvec(&p).expect("serializes");
        let back: Profile = postcard::from_bytes(&bytes).expect("deserializes");
        assert_eq!(back, p);
    }
}
