//! The authenticatorGetInfo response as one typed description (CTAP 2.1 §6.4).
//!
//! The card builds an [`AuthenticatorInfo`] from its profile and state and renders the getInfo
//! answer with [`AuthenticatorInfo::to_cbor`]; the same struct is where the MDS3 metadata's
//! `authenticatorGetInfo` comes from, so the two cannot drift. A host reads any card's answer
//! with [`AuthenticatorInfo::from_cbor`].
//!
//! Every member but `versions` and `aaguid` may be absent (§6.4), so each is an `Option`;
//! `Some(vec![])` is an empty array that *is* sent. Identifier lists stay strings: a host must
//! keep what an unknown card sends; [`OptionId`], [`ExtensionId`], [`Version`] and
//! [`Transport`] give the spelling and typed look-ups.

use std::collections::BTreeMap;

use crate::cbor::{self, Value};
use crate::error::CtapError;
use crate::params::get_info as key;
use crate::vocab::{ExtensionId, OptionId, PUBLIC_KEY, Transport, Version};

/// One `PublicKeyCredentialParameters` of `algorithms` (§6.4 0x0A, WebAuthn §5.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Algorithm {
    /// `type`: "public-key".
    pub type_: String,
    /// `alg`: a COSE algorithm identifier ([`crate::cose`]).
    pub alg: i64,
}

impl Algorithm {
    /// A "public-key" credential with COSE algorithm `alg`.
    pub fn public_key(alg: i64) -> Self {
        Self {
            type_: PUBLIC_KEY.to_owned(),
            alg,
        }
    }
}

/// authenticatorGetInfo's response (CTAP 2.1 §6.4), member by member.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthenticatorInfo {
    /// 0x01 versions (required).
    pub versions: Vec<String>,
    /// 0x02 extensions.
    pub extensions: Option<Vec<String>>,
    /// 0x03 aaguid (required).
    pub aaguid: [u8; 16],
    /// 0x04 options.
    pub options: Option<BTreeMap<String, bool>>,
    /// 0x05 maxMsgSize.
    pub max_msg_size: Option<u64>,
    /// 0x06 pinUvAuthProtocols, in the authenticator's order of preference.
    pub pin_uv_auth_protocols: Option<Vec<u64>>,
    /// 0x07 maxCredentialCountInList.
    pub max_credential_count_in_list: Option<u64>,
    /// 0x08 maxCredentialIdLength.
    pub max_credential_id_length: Option<u64>,
    /// 0x09 transports.
    pub transports: Option<Vec<String>>,
    /// 0x0A algorithms, in the authenticator's order of preference.
    pub algorithms: Option<Vec<Algorithm>>,
    /// 0x0B maxSerializedLargeBlobArray.
    pub max_serialized_large_blob_array: Option<u64>,
    /// 0x0C forcePINChange.
    pub force_pin_change: Option<bool>,
    /// 0x0D minPINLength.
    pub min_pin_length: Option<u64>,
    /// 0x0E firmwareVersion.
    pub firmware_version: Option<u64>,
    /// 0x0F maxCredBlobLength.
    pub max_cred_blob_length: Option<u64>,
    /// 0x10 maxRPIDsForSetMinPINLength.
    pub max_rpids_for_set_min_pin_length: Option<u64>,
    /// 0x11 preferredPlatformUvAttempts.
    pub preferred_platform_uv_attempts: Option<u64>,
    /// 0x12 uvModality.
    pub uv_modality: Option<u64>,
    /// 0x13 certifications (certification name → level).
    pub certifications: Option<BTreeMap<String, u64>>,
    /// 0x14 remainingDiscoverableCredentials.
    pub remaining_discoverable_credentials: Option<u64>,
    /// 0x15 vendorPrototypeConfigCommands.
    pub vendor_prototype_config_commands: Option<Vec<u64>>,
}

/// Why a getInfo answer is not one (host side).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InfoError {
    /// The bytes are not CTAP2 canonical CBOR (§8).
    #[error("getInfo is not CTAP2 canonical CBOR: {0}")]
    Cbor(CtapError),
    /// A member the specification requires is absent.
    #[error("getInfo lacks the required member {0}")]
    Missing(&'static str),
    /// A member has the wrong CBOR type or an impossible value.
    #[error("getInfo member {0} has the wrong type or value")]
    Invalid(&'static str),
}

fn texts(items: &[String]) -> Value {
    Value::Array(items.iter().map(|s| Value::text(s.as_str())).collect())
}

fn uints(items: &[u64]) -> Value {
    Value::Array(items.iter().map(|&n| Value::Unsigned(n)).collect())
}

/// A map with text keys (options, certifications), each value through `value`.
fn text_keyed_map<T: Copy>(entries: &BTreeMap<String, T>, value: impl Fn(T) -> Value) -> Value {
    Value::Map(
        entries
            .iter()
            .map(|(k, &v)| (Value::text(k.as_str()), value(v)))
            .collect(),
    )
}

/// The name CTAP 2.1 §6.4 gives getInfo member `key` (the name JSON renderings of the
/// response use, e.g. MDS3's `authenticatorGetInfo`); `None` for a key §6.4 does not define.
pub fn member_name(key: u8) -> Option<&'static str> {
    Some(match key {
        key::VERSIONS => "versions",
        key::EXTENSIONS => "extensions",
        key::AAGUID => "aaguid",
        key::OPTIONS => "options",
        key::MAX_MSG_SIZE => "maxMsgSize",
        key::PIN_UV_AUTH_PROTOCOLS => "pinUvAuthProtocols",
        key::MAX_CREDENTIAL_COUNT_IN_LIST => "maxCredentialCountInList",
        key::MAX_CREDENTIAL_ID_LENGTH => "maxCredentialIdLength",
        key::TRANSPORTS => "transports",
        key::ALGORITHMS => "algorithms",
        key::MAX_SERIALIZED_LARGE_BLOB_ARRAY => "maxSerializedLargeBlobArray",
        key::FORCE_PIN_CHANGE => "forcePINChange",
        key::MIN_PIN_LENGTH => "minPINLength",
        key::FIRMWARE_VERSION => "firmwareVersion",
        key::MAX_CRED_BLOB_LENGTH => "maxCredBlobLength",
        key::MAX_RPIDS_FOR_SET_MIN_PIN_LENGTH => "maxRPIDsForSetMinPINLength",
        key::PREFERRED_PLATFORM_UV_ATTEMPTS => "preferredPlatformUvAttempts",
        key::UV_MODALITY => "uvModality",
        key::CERTIFICATIONS => "certifications",
        key::REMAINING_DISCOVERABLE_CREDENTIALS => "remainingDiscoverableCredentials",
        key::VENDOR_PROTOTYPE_CONFIG_COMMANDS => "vendorPrototypeConfigCommands",
        _ => return None,
    })
}

impl AuthenticatorInfo {
    /// Whether `versions` lists `v`.
    pub fn has_version(&self, v: Version) -> bool {
        self.versions.iter().any(|s| s == v.as_str())
    }

    /// Whether `extensions` lists `e`.
    pub fn has_extension(&self, e: ExtensionId) -> bool {
        self.extensions
            .as_ref()
            .is_some_and(|list| list.iter().any(|s| s == e.as_str()))
    }

    /// Whether `transports` lists `t`.
    pub fn has_transport(&self, t: Transport) -> bool {
        self.transports
            .as_ref()
            .is_some_and(|list| list.iter().any(|s| s == t.as_str()))
    }

    /// The value of option `id`: `None` when absent (§6.4 gives each option's default).
    pub fn option(&self, id: OptionId) -> Option<bool> {
        self.options.as_ref()?.get(id.as_str()).copied()
    }

    /// The getInfo response map: only the present members, keys per §6.4.
    pub fn to_value(&self) -> Value {
        let mut map: Vec<(u8, Value)> = vec![
            (key::VERSIONS, texts(&self.versions)),
            (key::AAGUID, Value::bytes(self.aaguid.to_vec())),
        ];
        let mut put = |k: u8, v: Option<Value>| {
            if let Some(v) = v {
                map.push((k, v));
            }
        };
        put(key::EXTENSIONS, self.extensions.as_deref().map(texts));
        put(
            key::OPTIONS,
            self.options
                .as_ref()
                .map(|o| text_keyed_map(o, Value::Bool)),
        );
        let uint = |n: Option<u64>| n.map(Value::Unsigned);
        put(key::MAX_MSG_SIZE, uint(self.max_msg_size));
        put(
            key::PIN_UV_AUTH_PROTOCOLS,
            self.pin_uv_auth_protocols.as_deref().map(uints),
        );
        put(
            key::MAX_CREDENTIAL_COUNT_IN_LIST,
            uint(self.max_credential_count_in_list),
        );
        put(
            key::MAX_CREDENTIAL_ID_LENGTH,
            uint(self.max_credential_id_length),
        );
        put(key::TRANSPORTS, self.transports.as_deref().map(texts));
        put(
            key::ALGORITHMS,
            self.algorithms.as_ref().map(|algs| {
                Value::Array(
                    algs.iter()
                        .map(|a| {
                            Value::text_map([
                                ("alg", Value::int(a.alg)),
                                ("type", Value::text(a.type_.as_str())),
                            ])
                        })
                        .collect(),
                )
            }),
        );
        put(
            key::MAX_SERIALIZED_LARGE_BLOB_ARRAY,
            uint(self.max_serialized_large_blob_array),
        );
        put(
            key::FORCE_PIN_CHANGE,
            self.force_pin_change.map(Value::Bool),
        );
        put(key::MIN_PIN_LENGTH, uint(self.min_pin_length));
        put(key::FIRMWARE_VERSION, uint(self.firmware_version));
        put(key::MAX_CRED_BLOB_LENGTH, uint(self.max_cred_blob_length));
        put(
            key::MAX_RPIDS_FOR_SET_MIN_PIN_LENGTH,
            uint(self.max_rpids_for_set_min_pin_length),
        );
        put(
            key::PREFERRED_PLATFORM_UV_ATTEMPTS,
            uint(self.preferred_platform_uv_attempts),
        );
        put(key::UV_MODALITY, uint(self.uv_modality));
        put(
            key::CERTIFICATIONS,
            self.certifications
                .as_ref()
                .map(|c| text_keyed_map(c, Value::Unsigned)),
        );
        put(
            key::REMAINING_DISCOVERABLE_CREDENTIALS,
            uint(self.remaining_discoverable_credentials),
        );
        put(
            key::VENDOR_PROTOTYPE_CONFIG_COMMANDS,
            self.vendor_prototype_config_commands.as_deref().map(uints),
        );
        Value::int_map(map.into_iter().map(|(k, v)| (u64::from(k), v)))
    }

    /// The getInfo response in CTAP2 canonical CBOR (§8.1), without the status byte.
    pub fn to_cbor(&self) -> Vec<u8> {
        self.to_value().to_vec()
    }

    /// Reads a getInfo response (without the status byte): CTAP2 canonical CBOR (§8.1), a map,
    /// the required members present, every present member of its type. Unknown keys are
    /// ignored (§8.2: newer authenticators add members).
    pub fn from_cbor(bytes: &[u8]) -> Result<Self, InfoError> {
        let value = cbor::parse(bytes).map_err(InfoError::Cbor)?;
        Self::from_value(&value)
    }

    /// Reads an already decoded getInfo response; see [`AuthenticatorInfo::from_cbor`].
    pub fn from_value(value: &Value) -> Result<Self, InfoError> {
        let map = value
            .as_map()
            .map_err(|_| InfoError::Invalid("(response)"))?;
        let uint = |k: u8| member(map, k, unsigned);
        let uint_list = |k: u8| member(map, k, |v| list(v, unsigned));
        let text_list = |k: u8| member(map, k, |v| list(v, text));
        let versions = text_list(key::VERSIONS)?.ok_or(InfoError::Missing("versions"))?;
        let aaguid = member(map, key::AAGUID, |v| {
            <[u8; 16]>::try_from(v.as_bytes().ok()?).ok()
        })?
        .ok_or(InfoError::Missing("aaguid"))?;
        let options = member(map, key::OPTIONS, |v| text_keyed(v, |b| b.as_bool().ok()))?;
        let algorithms = member(map, key::ALGORITHMS, |v| {
            list(v, |entry| {
                let alg = entry.get_text("alg")?.as_int().ok()?;
                let type_ = entry.get_text("type")?.as_text().ok()?;
                Some(Algorithm {
                    type_: type_.to_owned(),
                    alg: i64::try_from(alg).ok()?,
                })
            })
        })?;
        let certifications = member(map, key::CERTIFICATIONS, |v| text_keyed(v, unsigned))?;
        Ok(Self {
            versions,
            extensions: text_list(key::EXTENSIONS)?,
            aaguid,
            options,
            max_msg_size: uint(key::MAX_MSG_SIZE)?,
            pin_uv_auth_protocols: uint_list(key::PIN_UV_AUTH_PROTOCOLS)?,
            max_credential_count_in_list: uint(key::MAX_CREDENTIAL_COUNT_IN_LIST)?,
            max_credential_id_length: uint(key::MAX_CREDENTIAL_ID_LENGTH)?,
            transports: text_list(key::TRANSPORTS)?,
            algorithms,
            max_serialized_large_blob_array: uint(key::MAX_SERIALIZED_LARGE_BLOB_ARRAY)?,
            force_pin_change: member(map, key::FORCE_PIN_CHANGE, |v| v.as_bool().ok())?,
            min_pin_length: uint(key::MIN_PIN_LENGTH)?,
            firmware_version: uint(key::FIRMWARE_VERSION)?,
            max_cred_blob_length: uint(key::MAX_CRED_BLOB_LENGTH)?,
            max_rpids_for_set_min_pin_length: uint(key::MAX_RPIDS_FOR_SET_MIN_PIN_LENGTH)?,
            preferred_platform_uv_attempts: uint(key::PREFERRED_PLATFORM_UV_ATTEMPTS)?,
            uv_modality: uint(key::UV_MODALITY)?,
            certifications,
            remaining_discoverable_credentials: uint(key::REMAINING_DISCOVERABLE_CREDENTIALS)?,
            vendor_prototype_config_commands: uint_list(key::VENDOR_PROTOTYPE_CONFIG_COMMANDS)?,
        })
    }
}

// The readers of `from_value`: each answers `None` for a value of another shape, which
// `member` reports as `InfoError::Invalid` naming the member.

/// Member `key` of the response map if present, read by `read`; an error names the member as
/// §6.4 does ([`member_name`]).
fn member<T>(
    map: &[(Value, Value)],
    key: u8,
    read: impl Fn(&Value) -> Option<T>,
) -> Result<Option<T>, InfoError> {
    let name = member_name(key).unwrap_or("(unknown member)");
    map.iter()
        .find(|(k, _)| *k == Value::Unsigned(u64::from(key)))
        .map(|(_, v)| read(v).ok_or(InfoError::Invalid(name)))
        .transpose()
}

/// An array, every item read by `item`.
fn list<T>(value: &Value, item: impl Fn(&Value) -> Option<T>) -> Option<Vec<T>> {
    value.as_array().ok()?.iter().map(item).collect()
}

/// A map with text keys, every value read by `item` (options, certifications).
fn text_keyed<T>(value: &Value, item: impl Fn(&Value) -> Option<T>) -> Option<BTreeMap<String, T>> {
    value
        .as_map()
        .ok()?
        .iter()
        .map(|(k, v)| Some((k.as_text().ok()?.to_owned(), item(v)?)))
        .collect()
}

fn text(value: &Value) -> Option<String> {
    value.as_text().ok().map(str::to_owned)
}

fn unsigned(value: &Value) -> Option<u64> {
    value.as_unsigned().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cose;

    fn full() -> AuthenticatorInfo {
        AuthenticatorInfo {
            versions: vec![
                Version::U2fV2.as_str().into(),
                Version::Fido20.as_str().into(),
                Version::Fido21.as_str().into(),
            ],
            extensions: Some(vec![
                ExtensionId::CredProtect.as_str().into(),
                ExtensionId::HmacSecret.as_str().into(),
            ]),
            aaguid: [0x11; 16],
            options: Some(BTreeMap::from([
                ("rk".to_owned(), true),
                ("up".to_owned(), true),
                ("plat".to_owned(), false),
                ("clientPin".to_owned(), false),
                ("setMinPINLength".to_owned(), true),
            ])),
            max_msg_size: Some(1200),
            pin_uv_auth_protocols: Some(vec![2, 1]),
            max_credential_count_in_list: Some(8),
            max_credential_id_length: Some(128),
            transports: Some(vec!["nfc".into(), "usb".into()]),
            algorithms: Some(vec![Algorithm::public_key(cose::ES256)]),
            max_serialized_large_blob_array: Some(1024),
            force_pin_change: Some(false),
            min_pin_length: Some(4),
            firmware_version: Some(0x0102),
            max_cred_blob_length: Some(32),
            max_rpids_for_set_min_pin_length: Some(1),
            preferred_platform_uv_attempts: Some(3),
            uv_modality: Some(0x200),
            certifications: Some(BTreeMap::from([("FIDO".to_owned(), 1)])),
            remaining_discoverable_credentials: Some(25),
            vendor_prototype_config_commands: Some(vec![0xFF]),
        }
    }

    #[test]
    fn every_member_round_trips_in_canonical_form() {
        let info = full();
        let bytes = info.to_cbor();
        assert_eq!(AuthenticatorInfo::from_cbor(&bytes), Ok(info.clone()));
        assert!(cbor::check_canonical(&bytes).is_ok());
        let map = cbor::parse(&bytes).unwrap();
        assert_eq!(map.as_map().unwrap().len(), 21);
        assert!((1..=0x15).all(|k| member_name(k).is_some()));
        assert_eq!(member_name(0x16), None);
        assert!(info.has_version(Version::Fido21));
        assert!(!info.has_version(Version::Fido21Pre));
        assert!(info.has_extension(ExtensionId::HmacSecret));
        assert!(info.has_transport(Transport::Nfc));
        assert_eq!(info.option(OptionId::SetMinPinLength), Some(true));
        assert_eq!(info.option(OptionId::AlwaysUv), None);
    }

    #[test]
    fn absent_members_are_not_sent_and_empty_ones_are() {
        let mut info = AuthenticatorInfo {
            versions: vec!["FIDO_2_0".into()],
            aaguid: [7; 16],
            ..Default::default()
        };
        // {1: ["FIDO_2_0"], 3: h'0707…'}
        let bytes = info.to_cbor();
        assert_eq!(
            &bytes[..12],
            &[
                0xA2, 0x01, 0x81, 0x68, b'F', b'I', b'D', b'O', b'_', b'2', b'_', b'0'
            ]
        );
        assert_eq!(AuthenticatorInfo::from_cbor(&bytes), Ok(info.clone()));
        info.extensions = Some(vec![]);
        let bytes = info.to_cbor();
        assert_eq!(bytes[0], 0xA3);
        assert_eq!(AuthenticatorInfo::from_cbor(&bytes), Ok(info));
    }

    #[test]
    fn a_bad_answer_is_refused_with_the_member_named() {
        let ok = full().to_value();
        let without = |k: u64| {
            let Value::Map(entries) = &ok else {
                unreachable!()
            };
            Value::Map(
                entries
                    .iter()
                    .filter(|(key, _)| *key != Value::Unsigned(k))
                    .cloned()
                    .collect(),
            )
        };
        let with = |k: u64, v: Value| {
            let Value::Map(mut entries) = without(k) else {
                unreachable!()
            };
            entries.push((Value::Unsigned(k), v));
            Value::Map(entries)
        };
        assert_eq!(
            AuthenticatorInfo::from_value(&without(1)),
            Err(InfoError::Missing("versions"))
        );
        assert_eq!(
            AuthenticatorInfo::from_value(&without(3)),
            Err(InfoError::Missing("aaguid"))
        );
        assert_eq!(
            AuthenticatorInfo::from_value(&with(3, Value::bytes(vec![0; 15]))),
            Err(InfoError::Invalid("aaguid"))
        );
        assert_eq!(
            AuthenticatorInfo::from_value(&with(5, Value::text("1200"))),
            Err(InfoError::Invalid("maxMsgSize"))
        );
        assert_eq!(
            AuthenticatorInfo::from_value(&with(4, Value::text_map([("rk", Value::int(1))]))),
            Err(InfoError::Invalid("options"))
        );
        assert_eq!(
            AuthenticatorInfo::from_value(&Value::Array(vec![])),
            Err(InfoError::Invalid("(response)"))
        );
        // Unknown members (a CTAP 2.2 card) are ignored.
        assert!(AuthenticatorInfo::from_value(&with(0x17, Value::Bool(true))).is_ok());
        // Not canonical: {3: …, 1: …} in the wrong order.
        let mut bytes = vec![0xA2, 0x03, 0x50];
        bytes.extend_from_slice(&[0; 16]);
        bytes.extend_from_slice(&[0x01, 0x80]);
        assert_eq!(
            AuthenticatorInfo::from_cbor(&bytes),
            Err(InfoError::Cbor(CtapError::InvalidCbor))
        );
    }
}
