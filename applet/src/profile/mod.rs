//! Card profiles: what a modelled card declares and how big its buffers are, as typed data.
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
//! Three steps, one file each:
//!
//! - [`schema`]: the document as the user writes it ([`ProfileDocument`], strings and numbers);
//! - [`validate`]: document → [`Profile`], naming the field that is wrong ([`ProfileError`]);
//! - [`builtin`]: the compiled-in documents.
//!
//! A [`Profile`] holds the spec's identifiers as types ([`Version`], [`ExtensionId`],
//! [`Transport`], [`PinProtocol`], [`Algorithm`], [`Aaguid`], [`AttestationType`]), so an
//! unknown version, extension, transport, protocol or algorithm, or the all-zero AAGUID, cannot
//! be represented once a document has loaded. The cross-field rules (FIDO_2_1-only options,
//! buffer sizes, ...) are checked by [`Profile::validate`], which the applet runs again when it
//! is built (tests adjust a loaded profile's fields).
//!
//! In serde, a profile reads and writes as its document: in human-readable formats (TOML, JSON)
//! the AAGUID is written `"f4804184-aeeb-4851-82ac-5e273de2e0a1"` and byte strings (ATR,
//! historical bytes) as hex (`"3B 85 80 01 43 32 33 30 30 46"`); binary formats keep raw bytes.

mod builtin;
pub mod persona;
pub mod schema;
mod validate;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ctap_types::command;
use ctap_types::params::get_info as info_key;
pub use ctap_types::{ExtensionId, OptionId, Transport, Version};
use serde::{Deserialize, Serialize};

use crate::attestation::AttestationSubject;
pub use crate::crypto::Algorithm;
pub use crate::pin_protocol::PinProtocol;
pub use builtin::{GENERIC_AAGUID, GENERIC_HISTORICAL_BYTES};
pub use persona::Persona;
pub use schema::ProfileDocument;

/// A modelled card, validated.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "ProfileDocument", into = "ProfileDocument")]
pub struct Profile {
    /// Short machine name, used on command lines (`--profile generic`).
    pub id: String,
    /// Human-readable name (also the metadata statement's `description`).
    pub name: String,
    /// The authenticator model's AAGUID (CTAP 2.1 §6.4 getInfo 0x03, WebAuthn §6.5.1 attested
    /// credential data, and the attestation certificate's id-fido-gen-ce-aaguid).
    pub aaguid: Aaguid,
    /// The ATR the reader reports (for a contactless card the reader builds it from the ATS
    /// historical bytes: see [`contactless_atr`]). Windows derives the device id from its
    /// historical bytes.
    pub atr: Vec<u8>,
    /// The ATS historical bytes (at most 15) [`Profile::atr`] was computed from, when the
    /// document gave them.
    pub historical_bytes: Option<Vec<u8>>,
    /// getInfo 0x01 `versions`. A profile without FIDO_2_1 / FIDO_2_1_PRE follows CTAP 2.0 rules
    /// (see [`Profile::is_ctap20_only`]); U2F_V2 means the card also speaks CTAP1/U2F.
    pub versions: Vec<Version>,
    /// getInfo 0x02 `extensions` this profile enables; an extension left out is treated as
    /// unknown by the card (its input is ignored, it yields no output).
    pub extensions: Vec<ExtensionId>,
    /// getInfo 0x0E `firmwareVersion` (also the metadata statement's `authenticatorVersion`).
    pub firmware_version: u64,
    /// getInfo 0x05 `maxMsgSize`: the largest CTAP message (command byte + CBOR) accepted.
    pub max_msg_size: usize,
    /// getInfo 0x07 `maxCredentialCountInList`: largest allowList / excludeList processed; a
    /// longer one is CTAP2_ERR_LIMIT_EXCEEDED when getInfo declares key 0x07 (a card that does
    /// not declare it takes lists of any length).
    pub max_credential_count_in_list: usize,
    /// getInfo 0x08 `maxCredentialIdLength`: at least the length of the ids this card makes
    /// ([`crate::crypto::CREDENTIAL_ID_LEN`]).
    pub max_credential_id_length: usize,
    /// Capacity for discoverable credentials (getInfo 0x14 `remainingDiscoverableCredentials`
    /// counts down from it); a Java Card has room for tens.
    pub max_resident_credentials: usize,
    /// getInfo 0x06 `pinUvAuthProtocols`, in order of preference (CTAP 2.1 §6.5).
    pub pin_uv_auth_protocols: Vec<PinProtocol>,
    /// getInfo 0x0D `minPINLength` (4 to 63, CTAP 2.1 §6.5.1).
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
    /// getInfo 0x09 `transports` (always with "nfc").
    pub transports: Vec<Transport>,
    /// getInfo 0x04 `options`: which optional features the card has.
    pub options: ProfileOptions,
    /// getInfo 0x0A `algorithms`, in order of preference.
    pub algorithms: Vec<Algorithm>,
    /// getInfo 0x13 `certifications` (CTAP 2.1 §6.4, e.g. `FIDO = 1` for FIDO L1).
    pub certifications: BTreeMap<String, u64>,
    /// getInfo 0x0B `maxSerializedLargeBlobArray`: the large-blob store's size in bytes (at
    /// least 1024 with the `largeBlobs` option, 0 without).
    pub large_blob_size: usize,
    /// getInfo 0x0F `maxCredBlobLength` (at least 32 with the credBlob extension, 0 without).
    pub max_cred_blob_length: usize,
    /// getInfo 0x10 `maxRPIDsForSetMinPINLength` (0 without the minPinLength extension).
    pub max_rp_ids_for_set_min_pin_length: usize,
    /// NFC processing budget (CTAP 2.1 §11.3.6) in milliseconds; 0: never answer 9100.
    pub processing_budget_ms: u64,
    /// The getInfo keys (0x01-0x14) the card answers with; `None` derives them from `versions`
    /// and the enabled features ([`Profile::declares_info_key`]).
    pub get_info_keys: Option<Vec<u8>>,
    /// Which attestation statement makeCredential returns (WebAuthn §6.5.3).
    pub attestation_type: AttestationType,
    /// The RP IDs a vendor-facilitated enterprise attestation is given to (CTAP 2.1 §7.1.1).
    pub enterprise_attestation_rp_ids: Vec<String>,
    /// The ISO 7816-4 interface's quirks (6CXX for a wrong Le, GET RESPONSE's class, a fixed
    /// processing delay), handed to the `apdu` runtime with the limits above.
    pub quirks: apdu::Quirks,
    /// Free text: where the values come from and which are guesses.
    pub notes: String,
}

/// An authenticator model's AAGUID (WebAuthn §6.5.1): 16 bytes, never all zero (the all-zero
/// AAGUID means "no model", which a card profile is not).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Aaguid([u8; 16]);

impl Aaguid {
    /// The AAGUID `bytes`, or `None` for the all-zero one.
    pub const fn new(bytes: [u8; 16]) -> Option<Self> {
        let mut i = 0;
        while i < 16 {
            if bytes[i] != 0 {
                return Some(Self(bytes));
            }
            i += 1;
        }
        None
    }

    /// The 16 bytes, as authenticator data and getInfo carry them.
    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl std::fmt::Display for Aaguid {
    /// A lower-case UUID string, 8-4-4-4-12 (RFC 9562 §4).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&format_aaguid(&self.0))
    }
}

impl PartialEq<[u8; 16]> for Aaguid {
    fn eq(&self, other: &[u8; 16]) -> bool {
        self.0 == *other
    }
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
    /// `(OptionId::Ep, enabled)`.
    pub ep: bool,
}

impl ProfileOptions {
    /// Whether the profile turns option `id` on (`false` for the options it has no field for:
    /// plat, up, uv, bioEnroll...).
    pub fn is_on(&self, id: OptionId) -> bool {
        match id {
            OptionId::Rk => self.rk,
            OptionId::ClientPin => self.client_pin,
            OptionId::PinUvAuthToken => self.pin_uv_auth_token,
            OptionId::CredMgmt => self.cred_mgmt,
            OptionId::CredentialMgmtPreview => self.credential_mgmt_preview,
            OptionId::LargeBlobs => self.large_blobs,
            OptionId::SetMinPinLength => self.set_min_pin_length,
            OptionId::MakeCredUvNotRqd => self.make_cred_uv_not_rqd,
            OptionId::AlwaysUv => self.always_uv,
            OptionId::AuthnrCfg => self.authnr_cfg,
            OptionId::Ep => self.ep,
            _ => false,
        }
    }

    /// The first of `ids` the profile turns on.
    fn first_on(&self, ids: &[OptionId]) -> Option<OptionId> {
        ids.iter().copied().find(|&id| self.is_on(id))
    }
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

    /// TOML → [`ProfileDocument`] (a parse error names the line and column) → [`Profile`] (an
    /// invalid value names the field).
    fn parse(text: &str, origin: &str) -> Result<Self, ProfileLoadError> {
        let document: ProfileDocument =
            toml::from_str(text).map_err(|e| ProfileLoadError::Parse {
                origin: origin.to_owned(),
                message: e.to_string().trim_end().to_owned(),
            })?;
        Profile::try_from(document).map_err(|source| ProfileLoadError::Invalid {
            origin: origin.to_owned(),
            source,
        })
    }

    /// This profile cut down to CTAP 2.0 (for tests of CTAP 2.0 behaviour): versions U2F_V2 (if
    /// listed) and FIDO_2_0, PIN/UV auth protocol 1, no CTAP 2.1 options, extensions, getInfo
    /// keys, certifications or status updates. The result passes [`Profile::validate`] when the
    /// original did.
    pub fn restricted_to_ctap20(mut self) -> Self {
        self.versions
            .retain(|v| matches!(v, Version::U2fV2 | Version::Fido20));
        if !self.lists_version(Version::Fido20) {
            self.versions.push(Version::Fido20);
        }
        self.pin_uv_auth_protocols = vec![PinProtocol::V1];
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
            .retain(|e| matches!(e, ExtensionId::HmacSecret | ExtensionId::CredProtect));
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
        self.aaguid.to_string()
    }

    /// Whether the card also speaks U2F / CTAP1 (U2F_V2 is listed; it is then the SELECT
    /// answer, CTAP 2.1 §11.3.3).
    pub fn u2f(&self) -> bool {
        self.lists_version(Version::U2fV2)
    }

    /// The interface limits for the `apdu` runtime.
    pub fn card_config(&self) -> apdu::CardConfig {
        apdu::CardConfig {
            extended_length: self.extended_length,
            max_command_data: self.max_command_data,
            max_response_chunk: self.max_response_chunk,
            quirks: self.quirks.clone(),
        }
    }

    /// Whether `versions` lists `version`.
    pub fn lists_version(&self, version: Version) -> bool {
        self.versions.contains(&version)
    }

    /// Whether the profile declares FIDO_2_1.
    pub fn is_ctap21(&self) -> bool {
        self.lists_version(Version::Fido21)
    }

    /// A CTAP 2.0 card: neither FIDO_2_1 nor FIDO_2_1_PRE. Such a card follows CTAP 2.0 rules:
    /// no credential management, large blobs, config or selection commands, no permissions on
    /// PIN tokens (clientPIN subcommands 0x01-0x05 only), PIN/UV auth protocol 1 only,
    /// CTAP2_ERR_UNSUPPORTED_OPTION for `uv`.
    pub fn is_ctap20_only(&self) -> bool {
        !self.is_ctap21() && !self.lists_version(Version::Fido21Pre)
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
                self.lists_version(Version::Fido21Pre) && o.credential_mgmt_preview
            }
            // No fingerprint sensor on these cards.
            command::BIO_ENROLLMENT | command::BIO_ENROLLMENT_PREVIEW => false,
            _ => false,
        }
    }

    /// Whether the card can do enterprise attestation (CTAP 2.1 §7.1): the `ep` option, which
    /// authenticatorConfig enableEnterpriseAttestation switches on.
    pub fn ep_capable(&self) -> bool {
        self.options.ep && self.enables_command(command::CONFIG)
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
    pub fn enables_extension(&self, id: ExtensionId) -> bool {
        self.extensions.contains(&id)
    }

    /// Whether PIN/UV auth protocol `n` is offered.
    pub fn enables_pin_uv_auth_protocol(&self, n: u64) -> bool {
        self.pin_uv_auth_protocols
            .iter()
            .any(|&p| u64::from(p.number()) == n)
    }

    /// Whether COSE algorithm `alg` is offered for new credentials.
    pub fn enables_algorithm(&self, alg: i64) -> bool {
        self.algorithms.iter().any(|a| a.cose_id() == alg)
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
        } else if self.lists_version(Version::Fido21Pre) {
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
            info_key::MAX_CRED_BLOB_LENGTH => self.enables_extension(ExtensionId::CredBlob),
            info_key::MAX_RPIDS_FOR_SET_MIN_PIN_LENGTH => {
                self.enables_extension(ExtensionId::MinPinLength)
            }
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
    pub fn declared_options(&self, pin_set: bool, always_uv: bool) -> Vec<(OptionId, bool)> {
        let o = &self.options;
        let mut out = vec![(OptionId::Plat, false), (OptionId::Rk, o.rk)];
        if o.client_pin {
            out.push((OptionId::ClientPin, pin_set));
        }
        out.push((OptionId::Up, true));
        if self.enables_command(command::CREDENTIAL_MANAGEMENT) {
            out.push((OptionId::CredMgmt, true));
        }
        if self.enables_command(command::CREDENTIAL_MANAGEMENT_PREVIEW) {
            out.push((OptionId::CredentialMgmtPreview, true));
        }
        if self.enables_command(command::CONFIG) {
            out.push((OptionId::AuthnrCfg, true));
        }
        if self.enables_command(command::LARGE_BLOBS) {
            out.push((OptionId::LargeBlobs, true));
        }
        if o.pin_uv_auth_token && self.is_ctap21() {
            out.push((OptionId::PinUvAuthToken, true));
        }
        if o.set_min_pin_length && self.is_ctap21() {
            out.push((OptionId::SetMinPinLength, true));
        }
        if o.make_cred_uv_not_rqd && self.is_ctap21() {
            out.push((OptionId::MakeCredUvNotRqd, true));
        }
        if self.is_ctap21() && (o.always_uv || o.authnr_cfg) {
            out.push((OptionId::AlwaysUv, always_uv));
        }
        out
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
pub(crate) fn format_hex_spaced(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(" ")
}
