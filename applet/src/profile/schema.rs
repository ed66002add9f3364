//! The profile document: the TOML schema users write (README, "Card profiles"), field for field.
//!
//! This is the *input* format, so identifiers are the strings a user types ("FIDO_2_1", "nfc",
//! "hmac-secret", protocol numbers, COSE numbers) and every field added after the first release
//! has a serde default, so older documents keep loading. Nothing here is checked beyond its
//! TOML type: [`super::validate`] turns a document into a typed [`super::Profile`] or names the
//! field that is wrong, and the reverse ([`ProfileDocument::from`]) writes a profile back out.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::persona::{GetResponseClass, LeRule};
use super::{AttestationType, Profile, ProfileOptions};
use crate::attestation::AttestationSubject;

/// A profile document as written (TOML, or any serde format).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileDocument {
    /// Short machine name, used on command lines (`--profile generic`).
    pub id: String,
    /// Human-readable name (also the metadata statement's `description`).
    pub name: String,
    /// The authenticator model's AAGUID (CTAP 2.1 §6.4 getInfo 0x03, WebAuthn §6.5.1 attested
    /// credential data, and the attestation certificate's id-fido-gen-ce-aaguid).
    #[serde(with = "aaguid_serde")]
    pub aaguid: [u8; 16],
    /// The ATR the reader reports (for a contactless card the reader builds it from the ATS
    /// historical bytes: see [`super::contactless_atr`]). Windows derives the device id from its
    /// historical bytes. A profile file may give `historical_bytes` instead; the loader then
    /// computes this.
    #[serde(default, with = "hex_serde")]
    pub atr: Vec<u8>,
    /// getInfo 0x01 `versions`: "U2F_V2", "FIDO_2_0", "FIDO_2_1_PRE", "FIDO_2_1". A profile
    /// without FIDO_2_1 / FIDO_2_1_PRE follows CTAP 2.0 rules (see [`super::Profile::is_ctap20_only`]).
    pub versions: Vec<String>,
    /// getInfo 0x02 `extensions` this profile enables; an extension left out is treated as
    /// unknown by the card (its input is ignored, it yields no output).
    pub extensions: Vec<String>,
    /// getInfo 0x0E `firmwareVersion` (also the metadata statement's `authenticatorVersion`).
    pub firmware_version: u64,
    /// getInfo 0x05 `maxMsgSize`: the largest CTAP message (command byte + CBOR) accepted.
    pub max_msg_size: usize,
    /// getInfo 0x07 `maxCredentialCountInList`: largest allowList / excludeList processed; a
    /// longer one is CTAP2_ERR_LIMIT_EXCEEDED when getInfo declares key 0x07 (a card that does
    /// not declare it takes lists of any length).
    pub max_credential_count_in_list: usize,
    /// getInfo 0x08 `maxCredentialIdLength`. Must be at least the length of the ids this card
    /// makes ([`crate::crypto::CREDENTIAL_ID_LEN`]).
    pub max_credential_id_length: usize,
    /// Capacity for discoverable credentials (getInfo 0x14 `remainingDiscoverableCredentials`
    /// counts down from it); a Java Card has room for tens.
    pub max_resident_credentials: usize,
    /// getInfo 0x06 `pinUvAuthProtocols`, in order of preference (1 and/or 2, CTAP 2.1 §6.5).
    pub pin_uv_auth_protocols: Vec<u8>,
    /// getInfo 0x0D `minPINLength` (at least 4, CTAP 2.1 §6.5.1).
    pub min_pin_length: usize,
    /// Whether the card accepts extended-length APDUs (ISO/IEC 7816-4 §5.1); short APDUs with
    /// chaining always work. A short-only card answers an extended APDU with 6700.
    pub extended_length: bool,
    /// Largest command data after chaining is reassembled (the applet's APDU buffer).
    pub max_command_data: usize,
    /// Largest response data in one response APDU (and per GET RESPONSE) before the runtime
    /// answers 61XX.
    pub max_response_chunk: usize,
    /// Subject of the attestation certificates the card mints for itself.
    pub attestation: AttestationSubject,
    /// Whether the card also speaks U2F / CTAP1 (then "U2F_V2" belongs in `versions` and is the
    /// SELECT answer, CTAP 2.1 §11.3.3).
    pub u2f: bool,
    /// getInfo 0x09 `transports` ("nfc", "usb", ...).
    pub transports: Vec<String>,

    // Fields below were added after the first release of the struct; each has a serde default
    // so older profile documents keep loading.
    /// The ATS historical bytes (at most 15) from which the contactless `atr` is
    /// computed. When both are given they must agree.
    #[serde(default, with = "opt_hex_serde")]
    pub historical_bytes: Option<Vec<u8>>,
    /// getInfo 0x04 `options`: which optional features the card has.
    #[serde(default)]
    pub options: ProfileOptions,
    /// getInfo 0x0A `algorithms`: COSE algorithm identifiers, in order of preference. This build
    /// implements ES256 (-7) only.
    #[serde(default = "default_algorithms")]
    pub algorithms: Vec<i64>,
    /// getInfo 0x13 `certifications` (CTAP 2.1 §6.4, e.g. `FIDO = 1` for FIDO L1). A CTAP 2.0
    /// card has no such key; record its certification in `notes`.
    #[serde(default)]
    pub certifications: BTreeMap<String, u64>,
    /// getInfo 0x0B `maxSerializedLargeBlobArray`: the large-blob store's size in bytes (at
    /// least 1024 with the `largeBlobs` option, 0 without).
    #[serde(default)]
    pub large_blob_size: usize,
    /// getInfo 0x0F `maxCredBlobLength` (at least 32 with the credBlob extension, 0 without).
    #[serde(default)]
    pub max_cred_blob_length: usize,
    /// getInfo 0x10 `maxRPIDsForSetMinPINLength` (0 without the minPinLength extension).
    #[serde(default)]
    pub max_rp_ids_for_set_min_pin_length: usize,
    /// NFC processing budget (CTAP 2.1 §11.3.6): when a client allows NFCCTAP_GETRESPONSE
    /// (NFCCTAP_MSG with P1 = 80) and a command takes longer than this many milliseconds, the
    /// card answers 9100 with a status byte and delivers the result through
    /// NFCCTAP_GETRESPONSE. 0: never (every answer comes at once, as on a CTAP 2.0 card).
    #[serde(default)]
    pub processing_budget_ms: u64,
    /// The getInfo keys (0x01-0x14) the card answers with; `None` derives them from `versions`
    /// and the enabled features ([`super::Profile::declares_info_key`]). Real CTAP 2.0 cards answer
    /// 0x01-0x06, some also 0x07 / 0x08.
    #[serde(default)]
    pub get_info_keys: Option<Vec<u8>>,
    /// Which attestation statement makeCredential returns (WebAuthn §6.5.3 attestation types):
    /// `basic` (default: 'packed' with the batch certificate in x5c), `self` ('packed' signed by
    /// the new credential's own key, no x5c) or `none`. A request may still ask for "none".
    #[serde(default)]
    pub attestation_type: AttestationType,
    /// The RP IDs a vendor-facilitated enterprise attestation is given to (CTAP 2.1 §7.1.1: the
    /// vendor's list, "burnt into" the authenticator). makeCredential with
    /// `enterpriseAttestation = 1` attests (`epAtt: true`) for an RP in this list and gives
    /// regular attestation for any other; empty (the default) means mode 1 never attests.
    /// Needs the `ep` option.
    #[serde(default)]
    pub enterprise_attestation_rp_ids: Vec<String>,
    /// What a short command whose Le is too small gets: `chain` (default: the first Le bytes
    /// and 61XX) or `6cxx` (6CXX with the exact length, ISO/IEC 7816-4 §5.6; the host repeats
    /// the command with that Le).
    #[serde(default)]
    pub wrong_le: LeRule,
    /// The class bytes GET RESPONSE is accepted with: `any` (default: 00 and 80) or `00`
    /// (CLA 80 is answered 6E00).
    #[serde(default)]
    pub get_response_cla: GetResponseClass,
    /// A fixed time every command takes before its answer, in milliseconds (0 to 60000).
    #[serde(default)]
    pub processing_delay_ms: u32,
    /// Free text: where the values come from and which are guesses.
    #[serde(default)]
    pub notes: String,
}

fn default_algorithms() -> Vec<i64> {
    vec![ctap_types::cose::ES256]
}

impl From<Profile> for ProfileDocument {
    fn from(profile: Profile) -> Self {
        Self::from(&profile)
    }
}

impl From<&Profile> for ProfileDocument {
    /// The document that loads back into `profile` (every field written out).
    fn from(profile: &Profile) -> Self {
        fn names<T: std::fmt::Display>(items: &[T]) -> Vec<String> {
            items.iter().map(ToString::to_string).collect()
        }
        Self {
            id: profile.id.clone(),
            name: profile.name.clone(),
            aaguid: *profile.aaguid.as_bytes(),
            atr: profile.atr.clone(),
            versions: names(&profile.versions),
            extensions: names(&profile.extensions),
            firmware_version: profile.firmware_version,
            max_msg_size: profile.max_msg_size,
            max_credential_count_in_list: profile.max_credential_count_in_list,
            max_credential_id_length: profile.max_credential_id_length,
            max_resident_credentials: profile.max_resident_credentials,
            pin_uv_auth_protocols: profile
                .pin_uv_auth_protocols
                .iter()
                .map(|p| p.number())
                .collect(),
            min_pin_length: profile.min_pin_length,
            extended_length: profile.extended_length,
            max_command_data: profile.max_command_data,
            max_response_chunk: profile.max_response_chunk,
            attestation: profile.attestation.clone(),
            u2f: profile.u2f(),
            transports: names(&profile.transports),
            historical_bytes: profile.historical_bytes.clone(),
            options: profile.options.clone(),
            algorithms: profile.algorithms.iter().map(|a| a.cose_id()).collect(),
            certifications: profile.certifications.clone(),
            large_blob_size: profile.large_blob_size,
            max_cred_blob_length: profile.max_cred_blob_length,
            max_rp_ids_for_set_min_pin_length: profile.max_rp_ids_for_set_min_pin_length,
            processing_budget_ms: profile.processing_budget_ms,
            get_info_keys: profile.get_info_keys.clone(),
            attestation_type: profile.attestation_type,
            enterprise_attestation_rp_ids: profile.enterprise_attestation_rp_ids.clone(),
            wrong_le: profile.quirks.wrong_le.into(),
            get_response_cla: profile.quirks.get_response_cla.into(),
            processing_delay_ms: profile.quirks.processing_delay_ms,
            notes: profile.notes.clone(),
        }
    }
}

/// `#[serde(with)]` for the AAGUID: a UUID string in human-readable formats, 16 bytes otherwise.
pub(super) mod aaguid_serde {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(aaguid: &[u8; 16], serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(&super::super::format_aaguid(aaguid))
        } else {
            aaguid.serialize(serializer)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<[u8; 16], D::Error> {
        if deserializer.is_human_readable() {
            let text = String::deserialize(deserializer)?;
            super::super::parse_aaguid(&text).ok_or_else(|| {
                D::Error::custom(format!("AAGUID {text:?} is not a UUID (8-4-4-4-12 hex)"))
            })
        } else {
            <[u8; 16]>::deserialize(deserializer)
        }
    }
}

/// `#[serde(with)]` for byte strings such as the ATR: hex (spaces allowed) in human-readable
/// formats, bytes otherwise.
pub(super) mod hex_serde {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(&super::super::format_hex_spaced(bytes))
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

/// `#[serde(with)]` for optional byte strings such as the historical bytes.
pub(super) mod opt_hex_serde {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    #[serde(transparent)]
    struct Hex(#[serde(with = "super::hex_serde")] Vec<u8>);

    pub fn serialize<S: Serializer>(
        bytes: &Option<Vec<u8>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        bytes.as_ref().map(|b| Hex(b.clone())).serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Vec<u8>>, D::Error> {
        Ok(Option::<Hex>::deserialize(deserializer)?.map(|h| h.0))
    }
}
