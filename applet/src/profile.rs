//! Card profiles: what a modelled card declares and how big its buffers are, as plain data.
//!
//! A profile fills in the ATR (PC/SC part 3 §3.1.3.2.3), the authenticatorGetInfo values
//! (CTAP 2.1 §6.4), the ISO 7816 interface limits handed to the `apdu` runtime, and the subject
//! of the attestation certificates (WebAuthn §8.2.1). Profiles are TOML documents (schema in the
//! README, "Card profiles"); the built-in ones live in `applet/profiles/*.toml` and are compiled
//! in. Facts about the real cards, and which values are guesses, are in each profile's `notes`.
//!
//! The rule a profile states and the CTAP layer keeps: **what getInfo declares is what the card
//! does**. An option, extension, PIN/UV auth protocol, algorithm or CTAP version a profile leaves
//! out is refused (or, for extensions, ignored as unknown) by the card as well. The `enables_*`
//! methods answer those questions in one place.
//!
//! The types are serde-friendly: in human-readable formats (TOML, JSON) the AAGUID is written
//! `"f4804184-aeeb-4851-82ac-5e273de2e0a1"` and byte strings (ATR, historical bytes) as hex
//! (`"3B 85 80 01 43 32 33 30 30 46"`); binary formats keep raw bytes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ctap_types::{ExtensionId, Transport, Version};
use serde::{Deserialize, Serialize};

use crate::attestation::AttestationSubject;
use crate::crypto::CREDENTIAL_ID_LEN;

/// A modelled card.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Short machine name, used on command lines (`--profile generic`).
    pub id: String,
    /// Human-readable name (also the metadata statement's `description`).
    pub name: String,
    /// The authenticator model's AAGUID (CTAP 2.1 §6.4 getInfo 0x03, WebAuthn §6.5.1 attested
    /// credential data, and the attestation certificate's id-fido-gen-ce-aaguid).
    #[serde(with = "aaguid_serde")]
    pub aaguid: [u8; 16],
    /// The ATR the reader reports (for a contactless card the reader builds it from the ATS
    /// historical bytes: see [`contactless_atr`]). Windows derives the device id from its
    /// historical bytes. A profile file may give `historical_bytes` instead; the loader then
    /// computes this.
    #[serde(default, with = "hex_serde")]
    pub atr: Vec<u8>,
    /// getInfo 0x01 `versions`: "U2F_V2", "FIDO_2_0", "FIDO_2_1_PRE", "FIDO_2_1". A profile
    /// without FIDO_2_1 / FIDO_2_1_PRE follows CTAP 2.0 rules (see [`Profile::is_ctap20_only`]).
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
    /// The ATS historical bytes (at most 15) from which the contactless [`Profile::atr`] is
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
    /// and the enabled features ([`Profile::declares_info_key`]). Real CTAP 2.0 cards answer
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
    /// Free text: where the values come from and which are guesses.
    #[serde(default)]
    pub notes: String,
}

/// The attestation a card model gives (WebAuthn §6.5.3, FIDO MDS3 `attestationTypes`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttestationType {
    /// Basic attestation: 'packed' with the batch certificate chain (MDS3 `basic_full`).
    #[default]
    Basic,
    /// Self attestation: 'packed' signed with the credential key, no certificate (MDS3
    /// `basic_surrogate`).
    #[serde(rename = "self")]
    SelfAttestation,
    /// No attestation statement at all: fmt "none".
    None,
}

impl AttestationType {
    /// The FIDO MDS3 `attestationTypes` value.
    pub fn mds_name(self) -> &'static str {
        match self {
            Self::Basic => "basic_full",
            Self::SelfAttestation => "basic_surrogate",
            Self::None => "none",
        }
    }
}

/// getInfo `options` (CTAP 2.1 §6.4, 0x04) as features of the card model. Keys in a profile file
/// are the CTAP option ids (`clientPin`, `credMgmt`, ...). `up` (true: the tap is presence) and
/// `plat` (false: a roaming card) are fixed; `uv` and `bioEnroll` do not exist on a card without
/// a sensor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct ProfileOptions {
    /// Discoverable credentials.
    pub rk: bool,
    /// authenticatorClientPIN: a PIN can be set (getInfo says `clientPin: false` until it is).
    pub client_pin: bool,
    /// pinUvAuthToken with permissions (CTAP 2.1 §6.5.5.7, clientPIN 0x09). CTAP 2.1 only;
    /// without it, getPinToken (0x05) gives a CTAP 2.0 token without permissions.
    pub pin_uv_auth_token: bool,
    /// authenticatorCredentialManagement (0x0A). CTAP 2.1 only.
    pub cred_mgmt: bool,
    /// The FIDO_2_1_PRE prototype credential management command (0x41).
    pub credential_mgmt_preview: bool,
    /// authenticatorLargeBlobs (0x0C). CTAP 2.1 only; size in [`Profile::large_blob_size`].
    pub large_blobs: bool,
    /// authenticatorConfig setMinPINLength. CTAP 2.1 only; needs `authnrCfg`.
    #[serde(rename = "setMinPINLength")]
    pub set_min_pin_length: bool,
    /// makeCredential of a non-discoverable credential needs no user verification even with a
    /// PIN set (§6.1.2 step 7). CTAP 2.1 only; false means CTAP 2.0 behaviour.
    pub make_cred_uv_not_rqd: bool,
    /// Every makeCredential / getAssertion needs user verification (the fresh card's value of
    /// the option; authenticatorConfig toggleAlwaysUv changes it). CTAP 2.1 only.
    pub always_uv: bool,
    /// authenticatorConfig (0x0D). CTAP 2.1 only.
    pub authnr_cfg: bool,
    /// Enterprise attestation (CTAP 2.1 §7.1): authenticatorConfig enableEnterpriseAttestation
    /// exists and getInfo lists `ep` (false until enabled). Needs `authnrCfg`. Its value is card
    /// state, so [`Profile::declared_options`] leaves it out: the caller appends
    /// `("ep", enabled)`.
    pub ep: bool,
}

impl Default for ProfileOptions {
    /// What a Microsoft-compatible CTAP 2.0 card has: discoverable credentials and a PIN.
    fn default() -> Self {
        Self {
            rk: true,
            client_pin: true,
            pin_uv_auth_token: false,
            cred_mgmt: false,
            credential_mgmt_preview: false,
            large_blobs: false,
            set_min_pin_length: false,
            make_cred_uv_not_rqd: false,
            always_uv: false,
            authnr_cfg: false,
            ep: false,
        }
    }
}

fn default_algorithms() -> Vec<i64> {
    vec![ES256]
}

/// COSE ES256 (ECDSA P-256 with SHA-256), the one algorithm this build implements.
pub use ctap_types::cose::ES256;

/// COSE algorithms this build can declare.
pub const IMPLEMENTED_ALGORITHMS: &[i64] = &[ES256];

/// Extension identifiers a profile may enable (CTAP 2.1 §12).
pub const KNOWN_EXTENSIONS: &[&str] = &[
    ExtensionId::CredProtect.as_str(),
    ExtensionId::HmacSecret.as_str(),
    ExtensionId::CredBlob.as_str(),
    ExtensionId::LargeBlobKey.as_str(),
    ExtensionId::MinPinLength.as_str(),
];

/// Transport names of WebAuthn §5.8.4 (AuthenticatorTransport).
pub const KNOWN_TRANSPORTS: &[&str] = &[
    Transport::Usb.as_str(),
    Transport::Nfc.as_str(),
    Transport::Ble.as_str(),
    Transport::SmartCard.as_str(),
    Transport::Hybrid.as_str(),
    Transport::Internal.as_str(),
];

/// CTAP versions a profile may list.
pub const KNOWN_VERSIONS: &[&str] = &[
    Version::U2fV2.as_str(),
    Version::Fido20.as_str(),
    Version::Fido21Pre.as_str(),
    Version::Fido21.as_str(),
];

/// getInfo keys (CTAP 2.1 §6.4).
pub use ctap_types::params::get_info as info_key;

/// CTAP command bytes a profile can switch on or off (CTAP 2.1 §6, §6.12 prototypes).
pub use ctap_types::command;

/// The built-in profiles, as TOML compiled into the binary. The first is the default.
const BUILTIN_SOURCES: &[(&str, &str)] = &[
    ("generic", include_str!("../profiles/generic.toml")),
    (
        "hid-crescendo-c2300",
        include_str!("../profiles/hid-crescendo-c2300.toml"),
    ),
    (
        "hid-crescendo-key",
        include_str!("../profiles/hid-crescendo-key.toml"),
    ),
    (
        "hid-crescendo-key-v2",
        include_str!("../profiles/hid-crescendo-key-v2.toml"),
    ),
    (
        "hid-crescendo-c3000",
        include_str!("../profiles/hid-crescendo-c3000.toml"),
    ),
    (
        "thales-idprime-3940",
        include_str!("../profiles/thales-idprime-3940.toml"),
    ),
];

/// The generic profile's AAGUID, f4804184-aeeb-4851-82ac-5e273de2e0a1: a random (version 4) UUID
/// drawn once for this project. It identifies no real product and appears in no FIDO metadata,
/// so relying parties that only trust MDS-listed models will treat the card as unknown.
pub const GENERIC_AAGUID: [u8; 16] = [
    0xf4, 0x80, 0x41, 0x84, 0xae, 0xeb, 0x48, 0x51, 0x82, 0xac, 0x5e, 0x27, 0x3d, 0xe2, 0xe0, 0xa1,
];

/// Historical bytes of the generic card (ISO/IEC 7816-4 §8.1.1): category indicator 0x80
/// (COMPACT-TLV follows), then tag 5 "card issuer's data", length 6, "VFIDO2".
pub const GENERIC_HISTORICAL_BYTES: [u8; 8] = [0x80, 0x56, b'V', b'F', b'I', b'D', b'O', b'2'];

/// Why a profile document could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ProfileLoadError {
    /// The file could not be read.
    #[error("cannot read the profile file {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The document is not valid TOML or does not fit the schema (the message has the line
    /// and column).
    #[error("profile {origin}: {message}")]
    Parse { origin: String, message: String },
    /// The document parsed but breaks an invariant (see [`Profile::validate`]).
    #[error("profile {origin}: {source}")]
    Invalid {
        origin: String,
        #[source]
        source: ProfileError,
    },
}

impl Profile {
    /// The default profile: a full CTAP 2.1 contactless card (`applet/profiles/generic.toml`).
    pub fn generic() -> Self {
        Self::builtin("generic").unwrap_or_else(|| unreachable!("generic.toml is built in"))
    }

    /// Every built-in profile, the generic one first.
    pub fn all() -> Vec<Self> {
        builtins().to_vec()
    }

    /// The built-in profile called `id`.
    pub fn builtin(id: &str) -> Option<Self> {
        builtins().iter().find(|profile| profile.id == id).cloned()
    }

    /// The TOML document of the built-in profile `id`, e.g. to start a custom profile from.
    pub fn builtin_source(id: &str) -> Option<&'static str> {
        BUILTIN_SOURCES
            .iter()
            .find(|(name, _)| *name == id)
            .map(|(_, text)| *text)
    }

    /// Parses and validates a profile document (schema in the README). The ATR may be given
    /// directly (`atr`) or as the contactless card's historical bytes (`historical_bytes`).
    pub fn from_toml_str(text: &str) -> Result<Self, ProfileLoadError> {
        Self::parse(text, "document")
    }

    /// Loads and validates the profile file at `path`; errors name the file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ProfileLoadError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ProfileLoadError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, &format!("file {}", path.display()))
    }

    fn parse(text: &str, origin: &str) -> Result<Self, ProfileLoadError> {
        let mut profile: Profile = toml::from_str(text).map_err(|e| ProfileLoadError::Parse {
            origin: origin.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        if profile.atr.is_empty() {
            match &profile.historical_bytes {
                Some(historical) if historical.len() <= 15 => {
                    profile.atr = contactless_atr(historical);
                }
                // Too long: validate() says so.
                Some(_) => {}
                None => {
                    return Err(ProfileLoadError::Invalid {
                        origin: origin.to_owned(),
                        source: ProfileError {
                            profile: profile.id,
                            field: "atr",
                            reason: "give `atr` or `historical_bytes`".into(),
                        },
                    });
                }
            }
        }
        profile
            .validate()
            .map_err(|source| ProfileLoadError::Invalid {
                origin: origin.to_owned(),
                source,
            })?;
        Ok(profile)
    }

    /// This profile cut down to CTAP 2.0 (for tests of CTAP 2.0 behaviour): versions U2F_V2 (if
    /// listed) and FIDO_2_0, PIN/UV auth protocol 1, no CTAP 2.1 options, extensions, getInfo
    /// keys, certifications or status updates. The result passes [`Profile::validate`] when the
    /// original did.
    pub fn restricted_to_ctap20(mut self) -> Self {
        self.versions.retain(|v| v == "U2F_V2" || v == "FIDO_2_0");
        if !self.lists_version("FIDO_2_0") {
            self.versions.push("FIDO_2_0".into());
        }
        self.pin_uv_auth_protocols = vec![1];
        let o = &mut self.options;
        o.pin_uv_auth_token = false;
        o.cred_mgmt = false;
        o.credential_mgmt_preview = false;
        o.large_blobs = false;
        o.set_min_pin_length = false;
        o.make_cred_uv_not_rqd = false;
        o.always_uv = false;
        o.authnr_cfg = false;
        o.ep = false;
        self.enterprise_attestation_rp_ids.clear();
        self.extensions
            .retain(|e| e == "hmac-secret" || e == "credProtect");
        self.large_blob_size = 0;
        self.max_cred_blob_length = 0;
        self.max_rp_ids_for_set_min_pin_length = 0;
        self.certifications.clear();
        self.processing_budget_ms = 0;
        self.get_info_keys = None;
        self
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

    fn lists_version(&self, version: &str) -> bool {
        self.versions.iter().any(|v| v == version)
    }

    /// Whether the profile declares FIDO_2_1.
    pub fn is_ctap21(&self) -> bool {
        self.lists_version("FIDO_2_1")
    }

    /// A CTAP 2.0 card: neither FIDO_2_1 nor FIDO_2_1_PRE. Such a card follows CTAP 2.0 rules:
    /// no credential management, large blobs, config or selection commands, no permissions on
    /// PIN tokens (clientPIN subcommands 0x01-0x05 only), PIN/UV auth protocol 1 only,
    /// CTAP2_ERR_UNSUPPORTED_OPTION for `uv`.
    pub fn is_ctap20_only(&self) -> bool {
        !self.is_ctap21() && !self.lists_version("FIDO_2_1_PRE")
    }

    /// Whether the card implements CTAP command `cmd` (CTAP 2.1 §6): the card answers
    /// CTAP1_ERR_INVALID_COMMAND to the others.
    pub fn enables_command(&self, cmd: u8) -> bool {
        let o = &self.options;
        match cmd {
            command::MAKE_CREDENTIAL
            | command::GET_ASSERTION
            | command::GET_INFO
            | command::RESET
            | command::GET_NEXT_ASSERTION => true,
            command::CLIENT_PIN => o.client_pin,
            command::SELECTION => self.is_ctap21(),
            command::CREDENTIAL_MANAGEMENT => self.is_ctap21() && o.cred_mgmt,
            command::LARGE_BLOBS => self.is_ctap21() && o.large_blobs,
            command::CONFIG => self.is_ctap21() && o.authnr_cfg,
            command::CREDENTIAL_MANAGEMENT_PREVIEW => {
                self.lists_version("FIDO_2_1_PRE") && o.credential_mgmt_preview
            }
            // No fingerprint sensor on these cards.
            command::BIO_ENROLLMENT | command::BIO_ENROLLMENT_PREVIEW => false,
            _ => false,
        }
    }

    /// Whether authenticatorClientPIN subcommand `sub` (CTAP 2.1 §6.5.5) exists on this card:
    /// 0x01-0x05 with clientPin; 0x09 (getPinUvAuthTokenUsingPinWithPermissions) only with
    /// `pinUvAuthToken`; 0x06 / 0x07 need built-in UV, which no card profile has. The others
    /// are CTAP2_ERR_INVALID_SUBCOMMAND.
    pub fn enables_client_pin_subcommand(&self, sub: u8) -> bool {
        self.options.client_pin
            && match sub {
                0x01..=0x05 => true,
                0x09 => self.options.pin_uv_auth_token && self.is_ctap21(),
                _ => false,
            }
    }

    /// Whether extension `id` is enabled; a disabled one is treated as unknown (ignored).
    pub fn enables_extension(&self, id: &str) -> bool {
        self.extensions.iter().any(|e| e == id)
    }

    /// Whether PIN/UV auth protocol `n` is offered.
    pub fn enables_pin_uv_auth_protocol(&self, n: u64) -> bool {
        self.pin_uv_auth_protocols
            .iter()
            .any(|&p| u64::from(p) == n)
    }

    /// Whether COSE algorithm `alg` is offered for new credentials.
    pub fn enables_algorithm(&self, alg: i64) -> bool {
        self.algorithms.contains(&alg)
    }

    /// Whether getInfo carries key `key` (CTAP 2.1 §6.4). With an explicit `get_info_keys`
    /// list, exactly those; otherwise derived from the versions and features: a CTAP 2.0 card
    /// answers 0x01-0x06, a FIDO_2_1_PRE one also 0x07-0x0A, a CTAP 2.1 card every key whose
    /// feature it has.
    pub fn declares_info_key(&self, key: u8) -> bool {
        if let Some(keys) = &self.get_info_keys {
            return keys.contains(&key);
        }
        let limit = if self.is_ctap21() {
            info_key::LAST
        } else if self.lists_version("FIDO_2_1_PRE") {
            info_key::ALGORITHMS
        } else {
            info_key::PIN_UV_AUTH_PROTOCOLS
        };
        key >= info_key::VERSIONS && key <= limit && self.info_key_applies(key)
    }

    /// Whether the card has the feature getInfo key `key` describes.
    fn info_key_applies(&self, key: u8) -> bool {
        match key {
            info_key::MAX_SERIALIZED_LARGE_BLOB_ARRAY => self.options.large_blobs,
            info_key::FORCE_PIN_CHANGE | info_key::MIN_PIN_LENGTH => self.options.client_pin,
            info_key::MAX_CRED_BLOB_LENGTH => self.enables_extension("credBlob"),
            info_key::MAX_RPIDS_FOR_SET_MIN_PIN_LENGTH => self.enables_extension("minPinLength"),
            // Built-in user verification only.
            info_key::PREFERRED_PLATFORM_UV_ATTEMPTS | info_key::UV_MODALITY => false,
            info_key::CERTIFICATIONS => !self.certifications.is_empty(),
            info_key::EXTENSIONS => !self.extensions.is_empty(),
            info_key::PIN_UV_AUTH_PROTOCOLS => !self.pin_uv_auth_protocols.is_empty(),
            _ => (info_key::VERSIONS..=info_key::LAST).contains(&key),
        }
    }

    /// The getInfo keys this card answers with, ascending.
    pub fn info_keys(&self) -> Vec<u8> {
        (info_key::VERSIONS..=info_key::LAST)
            .filter(|&k| self.declares_info_key(k))
            .collect()
    }

    /// getInfo `options` (0x04) as this card declares them, in the order CTAP 2.1 §6.4 lists
    /// them. `pin_set` and `always_uv` are the card's state (a fresh card: false and
    /// `options.always_uv`). Options the card lacks are absent; `makeCredUvNotRqd` is listed
    /// only when true, `alwaysUv` whenever the card can have it.
    pub fn declared_options(&self, pin_set: bool, always_uv: bool) -> Vec<(&'static str, bool)> {
        let o = &self.options;
        let mut out = vec![("plat", false), ("rk", o.rk)];
        if o.client_pin {
            out.push(("clientPin", pin_set));
        }
        out.push(("up", true));
        if self.enables_command(command::CREDENTIAL_MANAGEMENT) {
            out.push(("credMgmt", true));
        }
        if self.enables_command(command::CREDENTIAL_MANAGEMENT_PREVIEW) {
            out.push(("credentialMgmtPreview", true));
        }
        if self.enables_command(command::CONFIG) {
            out.push(("authnrCfg", true));
        }
        if self.enables_command(command::LARGE_BLOBS) {
            out.push(("largeBlobs", true));
        }
        if o.pin_uv_auth_token && self.is_ctap21() {
            out.push(("pinUvAuthToken", true));
        }
        if o.set_min_pin_length && self.is_ctap21() {
            out.push(("setMinPINLength", true));
        }
        if o.make_cred_uv_not_rqd && self.is_ctap21() {
            out.push(("makeCredUvNotRqd", true));
        }
        if self.is_ctap21() && (o.always_uv || o.authnr_cfg) {
            out.push(("alwaysUv", always_uv));
        }
        out
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
        if self.name.trim().is_empty() {
            return fail("name", "must not be empty".into());
        }
        if self.aaguid == [0; 16] {
            return fail("aaguid", "the all-zero AAGUID means \"no model\"".into());
        }
        if let Err(reason) = self.check_atr() {
            return fail("atr", reason);
        }
        if let Some(unknown) = self
            .versions
            .iter()
            .find(|v| !KNOWN_VERSIONS.contains(&v.as_str()))
        {
            return fail("versions", format!("unknown version {unknown:?}"));
        }
        if has_duplicates(&self.versions) {
            return fail("versions", "lists a version twice".into());
        }
        if !self.versions.iter().any(|v| v.starts_with("FIDO_2")) {
            return fail("versions", "a CTAP2 card lists FIDO_2_0 or later".into());
        }
        if self.u2f != self.lists_version("U2F_V2") {
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
        if protocols.contains(&2) && !self.is_ctap21() {
            return fail(
                "pin_uv_auth_protocols",
                "protocol 2 is CTAP 2.1: list FIDO_2_1 or offer protocol 1 only".into(),
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
        if self.max_command_data > 65535 {
            return fail(
                "max_command_data",
                "an APDU command carries at most 65535 bytes".into(),
            );
        }
        if !(1..=apdu::card::MAX_RESPONSE_DATA).contains(&self.max_response_chunk) {
            return fail(
                "max_response_chunk",
                format!("must be 1 to {} bytes", apdu::card::MAX_RESPONSE_DATA),
            );
        }
        if !self.extended_length && self.max_response_chunk > 256 {
            return fail(
                "max_response_chunk",
                "a short-APDU card answers at most 256 bytes at a time".into(),
            );
        }
        if self.options.rk && self.max_resident_credentials == 0 {
            return fail(
                "max_resident_credentials",
                "a card with the rk option stores at least one".into(),
            );
        }
        if self.transports.is_empty() {
            return fail("transports", "list at least one transport".into());
        }
        if let Some(unknown) = self
            .transports
            .iter()
            .find(|t| !KNOWN_TRANSPORTS.contains(&t.as_str()))
        {
            return fail(
                "transports",
                format!("unknown transport {unknown:?} (WebAuthn §5.8.4)"),
            );
        }
        if !self.transports.iter().any(|t| t == "nfc") || has_duplicates(&self.transports) {
            return fail(
                "transports",
                "this virtual card is contactless: list \"nfc\", each transport once".into(),
            );
        }
        if let Err((field, reason)) = self.check_options() {
            return fail(field, reason);
        }
        if let Err((field, reason)) = self.check_extensions() {
            return fail(field, reason);
        }
        if self.algorithms.is_empty() || has_duplicates(&self.algorithms) {
            return fail("algorithms", "list at least one, each once".into());
        }
        if let Some(alg) = self
            .algorithms
            .iter()
            .find(|a| !IMPLEMENTED_ALGORITHMS.contains(a))
        {
            return fail(
                "algorithms",
                format!("COSE algorithm {alg} is not implemented (only ES256, -7)"),
            );
        }
        if !self.certifications.is_empty() && !self.is_ctap21() {
            return fail(
                "certifications",
                "getInfo certifications (0x13) are CTAP 2.1; record a CTAP 2.0 card's in notes"
                    .into(),
            );
        }
        if self
            .certifications
            .iter()
            .any(|(name, level)| name.is_empty() || *level == 0)
        {
            return fail(
                "certifications",
                "each entry is a non-empty name and a level of at least 1".into(),
            );
        }
        if self.processing_budget_ms > 0 && !self.is_ctap21() {
            return fail(
                "processing_budget_ms",
                "status updates (9100, NFCCTAP_GETRESPONSE) are CTAP 2.1: use 0".into(),
            );
        }
        if self.processing_budget_ms > 60_000 {
            return fail(
                "processing_budget_ms",
                "at most 60000 ms (hosts time out long before)".into(),
            );
        }
        if let Err(reason) = self.check_info_keys() {
            return fail("get_info_keys", reason);
        }
        if let Err(reason) = self.check_enterprise_attestation_rp_ids() {
            return fail("enterprise_attestation_rp_ids", reason);
        }
        if let Err(err) = self.attestation.validate() {
            return fail("attestation", err.to_string());
        }
        Ok(())
    }

    fn check_atr(&self) -> Result<(), String> {
        let atr = &self.atr;
        if self.historical_bytes.as_ref().is_some_and(|h| h.len() > 15) {
            return Err("historical_bytes: at most 15 bytes (T0 counts them in a nibble)".into());
        }
        // ISO/IEC 7816-3 §8.2: TS is 3B (direct) or 3F (inverse); an ATR is at most 33 bytes.
        if !matches!(atr.first(), Some(0x3B | 0x3F)) || atr.len() > 33 || atr.len() < 2 {
            return Err("must start with 3B or 3F and be 2 to 33 bytes".into());
        }
        if let Some(historical) = &self.historical_bytes {
            let expected = contactless_atr(historical);
            if *atr != expected {
                return Err(format!(
                    "does not match historical_bytes, which give {}",
                    format_hex_spaced(&expected)
                ));
            }
        }
        // The contactless form 3B 8n 80 01 <n bytes> TCK: check the length and TCK, which are
        // easy to get wrong when an ATR is copied by hand.
        if atr.len() >= 4 && atr[0] == 0x3B && atr[1] & 0xF0 == 0x80 && atr[2..4] == [0x80, 0x01] {
            let n = usize::from(atr[1] & 0x0F);
            if atr.len() != 5 + n {
                return Err(format!(
                    "T0 = {:02X} announces {n} historical bytes: the ATR must be {} bytes",
                    atr[1],
                    5 + n
                ));
            }
            if atr[1..].iter().fold(0u8, |acc, b| acc ^ b) != 0 {
                let tck = atr[1..atr.len() - 1].iter().fold(0u8, |acc, b| acc ^ b);
                return Err(format!("wrong TCK: expected {tck:02X}"));
            }
        }
        Ok(())
    }

    fn check_options(&self) -> Result<(), (&'static str, String)> {
        let o = &self.options;
        let ctap21_only = [
            ("pinUvAuthToken", o.pin_uv_auth_token),
            ("credMgmt", o.cred_mgmt),
            ("largeBlobs", o.large_blobs),
            ("setMinPINLength", o.set_min_pin_length),
            ("makeCredUvNotRqd", o.make_cred_uv_not_rqd),
            ("alwaysUv", o.always_uv),
            ("authnrCfg", o.authnr_cfg),
            ("ep", o.ep),
        ];
        if !self.is_ctap21() {
            if let Some((name, _)) = ctap21_only.iter().find(|(_, on)| *on) {
                return Err(("options", format!("{name} is CTAP 2.1: list FIDO_2_1")));
            }
        }
        if o.credential_mgmt_preview && !self.lists_version("FIDO_2_1_PRE") {
            return Err((
                "options",
                "credentialMgmtPreview is FIDO_2_1_PRE: list it".into(),
            ));
        }
        if self.is_ctap21() && o.client_pin && !o.pin_uv_auth_token {
            return Err((
                "options",
                "a CTAP 2.1 card with clientPin has pinUvAuthToken (CTAP 2.1 §6.4)".into(),
            ));
        }
        let needs_pin = [
            ("pinUvAuthToken", o.pin_uv_auth_token),
            ("credMgmt", o.cred_mgmt),
            ("credentialMgmtPreview", o.credential_mgmt_preview),
            ("authnrCfg", o.authnr_cfg),
            ("alwaysUv", o.always_uv),
            ("setMinPINLength", o.set_min_pin_length),
        ];
        if !o.client_pin {
            if let Some((name, _)) = needs_pin.iter().find(|(_, on)| *on) {
                return Err((
                    "options",
                    format!("{name} needs user verification, which a card has only with clientPin"),
                ));
            }
        }
        if o.ep && !o.authnr_cfg {
            return Err((
                "options",
                "ep is enabled through authenticatorConfig: enable authnrCfg".into(),
            ));
        }
        if o.set_min_pin_length && !o.authnr_cfg {
            return Err((
                "options",
                "setMinPINLength is an authenticatorConfig subcommand: enable authnrCfg".into(),
            ));
        }
        if o.large_blobs != (self.large_blob_size > 0) {
            return Err((
                "large_blob_size",
                "at least 1024 with the largeBlobs option, 0 without".into(),
            ));
        }
        if o.large_blobs && self.large_blob_size < 1024 {
            return Err((
                "large_blob_size",
                "maxSerializedLargeBlobArray is at least 1024 (CTAP 2.1 §6.4)".into(),
            ));
        }
        Ok(())
    }

    fn check_extensions(&self) -> Result<(), (&'static str, String)> {
        if let Some(unknown) = self
            .extensions
            .iter()
            .find(|e| !KNOWN_EXTENSIONS.contains(&e.as_str()))
        {
            return Err((
                "extensions",
                format!("unknown extension {unknown:?} (known: {KNOWN_EXTENSIONS:?})"),
            ));
        }
        if has_duplicates(&self.extensions) {
            return Err(("extensions", "lists an extension twice".into()));
        }
        for ext in ["credBlob", "largeBlobKey", "minPinLength"] {
            if self.enables_extension(ext) && !self.is_ctap21() {
                return Err(("extensions", format!("{ext} is CTAP 2.1: list FIDO_2_1")));
            }
        }
        if self.enables_extension("largeBlobKey") && !self.options.large_blobs {
            return Err((
                "extensions",
                "largeBlobKey needs the largeBlobs option (CTAP 2.1 §12.3)".into(),
            ));
        }
        if self.enables_extension("minPinLength") && !self.options.set_min_pin_length {
            return Err((
                "extensions",
                "minPinLength needs the setMinPINLength option (CTAP 2.1 §12.4)".into(),
            ));
        }
        let cred_blob = self.enables_extension("credBlob");
        if cred_blob && self.max_cred_blob_length < 32
            || !cred_blob && self.max_cred_blob_length > 0
        {
            return Err((
                "max_cred_blob_length",
                "at least 32 with the credBlob extension, 0 without (CTAP 2.1 §6.4)".into(),
            ));
        }
        let min_pin = self.enables_extension("minPinLength");
        if !min_pin && self.max_rp_ids_for_set_min_pin_length > 0 {
            return Err((
                "max_rp_ids_for_set_min_pin_length",
                "0 without the minPinLength extension".into(),
            ));
        }
        Ok(())
    }

    /// The vendor-facilitated list (§7.1.1) needs an enterprise-attestation capable card, and
    /// holds RP IDs as makeCredential compares them: valid domain strings (WebAuthn §4 "RP ID"),
    /// lower case (so that a mixed-case entry cannot silently never match), each once.
    fn check_enterprise_attestation_rp_ids(&self) -> Result<(), String> {
        let ids = &self.enterprise_attestation_rp_ids;
        if ids.is_empty() {
            return Ok(());
        }
        if !self.options.ep {
            return Err("vendor-facilitated enterprise attestation needs the ep option".into());
        }
        if has_duplicates(ids) {
            return Err("lists an RP ID twice".into());
        }
        let valid = |id: &str| {
            !id.is_empty()
                && id.len() <= 253
                && !id.starts_with('.')
                && !id.ends_with('.')
                && !id.contains("..")
                && id
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        };
        match ids.iter().find(|id| !valid(id)) {
            Some(bad) => Err(format!(
                "{bad:?} is not an RP ID (a lower-case domain: letters, digits, '-', '.')"
            )),
            None => Ok(()),
        }
    }

    fn check_info_keys(&self) -> Result<(), String> {
        let Some(keys) = &self.get_info_keys else {
            return Ok(());
        };
        if has_duplicates(keys) {
            return Err("lists a key twice".into());
        }
        if let Some(k) = keys
            .iter()
            .find(|&&k| !(info_key::VERSIONS..=info_key::LAST).contains(&k))
        {
            return Err(format!("key {k} is not a CTAP 2.1 getInfo key (1 to 20)"));
        }
        for required in [info_key::VERSIONS, info_key::AAGUID] {
            if !keys.contains(&required) {
                return Err(format!("key {required} (versions, aaguid) is mandatory"));
            }
        }
        if let Some(k) = keys.iter().find(|&&k| !self.info_key_applies(k)) {
            return Err(format!(
                "key {k} describes a feature this profile does not have"
            ));
        }
        Ok(())
    }
}

fn has_duplicates<T: PartialEq>(items: &[T]) -> bool {
    items
        .iter()
        .enumerate()
        .any(|(i, a)| items[..i].contains(a))
}

/// The built-in profiles, parsed once.
fn builtins() -> &'static [Profile] {
    static BUILTINS: OnceLock<Vec<Profile>> = OnceLock::new();
    BUILTINS.get_or_init(|| {
        BUILTIN_SOURCES
            .iter()
            .map(|(name, text)| {
                // Compiled-in data, checked by the unit tests: a failure here is a build error
                // that slipped through, not bad input.
                Profile::parse(text, &format!("built-in {name}.toml"))
                    .unwrap_or_else(|e| panic!("{e}"))
            })
            .collect()
    })
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

/// `#[serde(with)]` for optional byte strings such as the historical bytes.
mod opt_hex_serde {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::IntoDeserializer;
    use serde::de::value::{Error as ValueError, StrDeserializer};

    fn hex(s: &str) -> Vec<u8> {
        apdu::hex_decode(s).expect("hex")
    }

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
        assert_eq!(p.pin_uv_auth_protocols, [2, 1]);
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
        assert!(p.u2f, "CTAP 2.1 §10: authenticators SHOULD support U2F");
        let config = p.card_config();
        assert!(config.extended_length);
        assert_eq!(config.max_command_data, 4096);
        assert_eq!(config.max_response_chunk, 4096);
        assert_eq!(p.extensions, KNOWN_EXTENSIONS);
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
            assert!(p.u2f && p.is_ctap20_only(), "{id}");
            assert_eq!(p.pin_uv_auth_protocols, [1], "{id}");
            assert_eq!(p.extensions, extensions, "{id}");
            assert_eq!(p.transports, transports, "{id}");
            assert!(p.options.rk && p.options.client_pin, "{id}");
            assert_eq!(
                p.options,
                ProfileOptions::default(),
                "{id}: rk + clientPin only"
            );
            assert_eq!(p.algorithms, [ES256], "{id}");
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
                    ("plat", false),
                    ("rk", true),
                    ("clientPin", false),
                    ("up", true)
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
        let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
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
        assert!(options.contains(&("clientPin", false)));
        assert!(
            p.declared_options(true, true)
                .contains(&("clientPin", true))
        );
        assert!(p.declared_options(true, true).contains(&("alwaysUv", true)));
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
        assert!(p.enables_algorithm(-7) && !p.enables_algorithm(-8));
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
        assert_eq!(p.pin_uv_auth_protocols, [1]);
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
        pre.versions = vec!["FIDO_2_0".into(), "FIDO_2_1_PRE".into()];
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
        assert_eq!(p.algorithms, [ES256]);
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
        assert!(
            Profile::from_toml_str(&format!("attestation_type = \"attca\"\n{MINIMAL}")).is_err()
        );
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
        let err = Profile::from_toml_str(&format!("{MINIMAL}\nfrobnicate = 1\n"))
            .expect_err("unknown key");
        let text = err.to_string();
        assert!(text.contains("frobnicate"), "{text}");
        assert!(matches!(err, ProfileLoadError::Parse { .. }));

        let err = Profile::from_toml_str(&MINIMAL.replace("00112233-", "0011223-"))
            .expect_err("bad AAGUID");
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
            ("aaguid", |p| p.aaguid = [0; 16]),
            ("atr", |p| p.atr = vec![0x00]),
            ("atr", |p| p.historical_bytes = Some(b"XX".to_vec())),
            ("atr", |p| {
                p.historical_bytes = None;
                p.atr.push(0);
            }),
            ("versions", |p| p.versions = vec!["FIDO_3".into()]),
            ("versions", |p| p.versions = vec!["U2F_V2".into()]),
            ("versions", |p| p.versions.push("FIDO_2_1".into())),
            ("versions", |p| p.u2f = false),
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
            ("max_command_data", |p| p.max_command_data = 70_000),
            ("max_response_chunk", |p| p.max_response_chunk = 0),
            ("max_response_chunk", |p| p.extended_length = false),
            ("max_resident_credentials", |p| {
                p.max_resident_credentials = 0
            }),
            ("transports", |p| p.transports.clear()),
            ("transports", |p| p.transports = vec!["usb".into()]),
            ("transports", |p| p.transports.push("carrier-pigeon".into())),
            ("transports", |p| p.transports.push("nfc".into())),
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
                p.extensions.retain(|e| e != "minPinLength");
                p.max_rp_ids_for_set_min_pin_length = 0;
            }),
            ("large_blob_size", |p| p.large_blob_size = 0),
            ("large_blob_size", |p| p.large_blob_size = 512),
            ("extensions", |p| p.extensions.push("hmac-secret-mc".into())),
            ("extensions", |p| p.extensions.push("credProtect".into())),
            ("extensions", |p| {
                p.options.large_blobs = false;
                p.large_blob_size = 0;
            }),
            ("extensions", |p| {
                p.options.set_min_pin_length = false;
            }),
            ("max_cred_blob_length", |p| p.max_cred_blob_length = 16),
            ("algorithms", |p| p.algorithms.clear()),
            ("algorithms", |p| p.algorithms.push(-8)),
            ("algorithms", |p| p.algorithms.push(-7)),
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
                p.pin_uv_auth_protocols = vec![2, 1]
            }),
            ("options", |p| p.options.cred_mgmt = true),
            ("options", |p| p.options.make_cred_uv_not_rqd = true),
            ("options", |p| p.options.ep = true),
            ("extensions", |p| p.extensions.push("credBlob".into())),
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
        p.u2f = false;
        p.versions.retain(|v| v != "U2F_V2");
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
}
