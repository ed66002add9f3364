//! The WebAuthn dictionaries CTAP2 requests carry (CTAP 2.1 §6.1 and §6.2, WebAuthn §5.4), decoded
//! into types with the exact status codes of [`ctap_types::cbor`].

use ctap_types::CtapResult;
use ctap_types::cbor::{IntMap, TextMap, Value};
use ctap_types::params::subcommand_envelope as envelope;
use ctap_types::vocab::OptionId;

/// The only credential type WebAuthn defines.
use ctap_types::vocab::PUBLIC_KEY;

/// CTAP 2.1 §6.1.2 step 17 lets an authenticator truncate `rp.name`, `user.name` and
/// `user.displayName` to 64 bytes; storing more would only cost a card's scarce memory.
pub const MAX_STORED_NAME_LEN: usize = 64;

/// `PublicKeyCredentialRpEntity`.
#[derive(Clone, Debug, PartialEq)]
pub struct RpEntity {
    pub id: String,
    pub name: Option<String>,
}

impl RpEntity {
    pub fn decode(value: &Value) -> CtapResult<Self> {
        let map = TextMap::new(value)?;
        let id = map.required("id")?.as_text()?.to_owned();
        let name = map.opt_text("name")?.map(str::to_owned);
        Ok(Self { id, name })
    }
}

/// `PublicKeyCredentialUserEntity`.
#[derive(Clone, Debug, PartialEq)]
pub struct UserEntity {
    pub id: Vec<u8>,
    pub name: Option<String>,
    pub display_name: Option<String>,
}

impl UserEntity {
    pub fn decode(value: &Value) -> CtapResult<Self> {
        let map = TextMap::new(value)?;
        let id = map.required("id")?.as_bytes()?.to_vec();
        let name = map.opt_text("name")?.map(str::to_owned);
        let display_name = map.opt_text("displayName")?.map(str::to_owned);
        Ok(Self {
            id,
            name,
            display_name,
        })
    }

    /// Encodes `{"id": .., "name": .., "displayName": ..}` for a response, each name only when
    /// present (getAssertion §6.2.2 "user", credentialManagement §6.8.4 "user").
    pub fn encode(id: &[u8], name: Option<&str>, display_name: Option<&str>) -> Value {
        let mut entity = vec![(Value::text("id"), Value::bytes(id))];
        if let Some(name) = name {
            entity.push((Value::text("name"), Value::text(name)));
        }
        if let Some(display_name) = display_name {
            entity.push((Value::text("displayName"), Value::text(display_name)));
        }
        Value::Map(entity)
    }
}

/// `PublicKeyCredentialDescriptor` (allowList, excludeList entries).
#[derive(Clone, Debug, PartialEq)]
pub struct CredentialDescriptor {
    pub type_: String,
    pub id: Vec<u8>,
}

impl CredentialDescriptor {
    pub fn decode(value: &Value) -> CtapResult<Self> {
        let map = TextMap::new(value)?;
        let type_ = map.required("type")?.as_text()?.to_owned();
        let id = map.required("id")?.as_bytes()?.to_vec();
        // "transports" is a hint for the platform; it is not checked.
        Ok(Self { type_, id })
    }

    /// Descriptors of unknown types are skipped, not refused (WebAuthn §5.8.3).
    pub fn is_public_key(&self) -> bool {
        self.type_ == PUBLIC_KEY
    }

    /// Decodes an allowList / excludeList.
    pub fn decode_list(value: &Value) -> CtapResult<Vec<Self>> {
        value.as_array()?.iter().map(Self::decode).collect()
    }

    /// Encodes `{"id": .., "type": "public-key"}` for a response.
    pub fn encode_public_key(id: &[u8]) -> Value {
        Value::Map(vec![
            (Value::text("id"), Value::bytes(id)),
            (Value::text("type"), Value::text(PUBLIC_KEY)),
        ])
    }
}

/// `PublicKeyCredentialParameters` (pubKeyCredParams entries).
#[derive(Clone, Debug, PartialEq)]
pub struct CredentialParameters {
    pub type_: String,
    pub alg: i128,
}

impl CredentialParameters {
    pub fn decode(value: &Value) -> CtapResult<Self> {
        let map = TextMap::new(value)?;
        let alg = map.required("alg")?.as_int()?;
        let type_ = map.required("type")?.as_text()?.to_owned();
        Ok(Self { type_, alg })
    }
}

/// The `options` map of makeCredential / getAssertion: each known key must be a boolean
/// (CTAP2_ERR_CBOR_UNEXPECTED_TYPE otherwise); unknown keys are "treated as absent" (§6.1.2
/// step 5).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Options {
    pub rk: Option<bool>,
    pub up: Option<bool>,
    pub uv: Option<bool>,
}

impl Options {
    /// The options parameter, all absent when the request has none.
    pub fn decode_param(value: Option<&Value>) -> CtapResult<Self> {
        value.map_or(Ok(Self::default()), Self::decode)
    }

    pub fn decode(value: &Value) -> CtapResult<Self> {
        let map = TextMap::new(value)?;
        let get = |key: &str| map.get(key).map(Value::as_bool).transpose();
        Ok(Self {
            rk: get(OptionId::Rk.as_str())?,
            up: get(OptionId::Up.as_str())?,
            uv: get(OptionId::Uv.as_str())?,
        })
    }
}

/// The extension inputs of makeCredential (key 0x06) and getAssertion (key 0x04): a map keyed by
/// extension identifier (CTAP 2.1 §12), empty when absent. Each extension reads its own input
/// ([`crate::extensions`]); entries with non-text keys name no extension and are dropped, but the
/// parameter itself must be a map (CTAP2_ERR_CBOR_UNEXPECTED_TYPE).
pub fn decode_extensions(value: Option<&Value>) -> CtapResult<Vec<(String, Value)>> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    let entries = value.as_map()?;
    Ok(entries
        .iter()
        .filter_map(|(k, v)| match k {
            Value::Text(name) => Some((name.clone(), v.clone())),
            _ => None,
        })
        .collect())
}

/// Truncates to at most `max` bytes without splitting a UTF-8 sequence.
pub fn truncate_utf8(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default().to_owned()
}

/// A request of the subcommand-style commands, authenticatorCredentialManagement (CTAP 2.1
/// §6.8) and authenticatorConfig (§6.11): `{1: subCommand, 2: subCommandParams,
/// 3: pinUvAuthProtocol, 4: pinUvAuthParam}`, with `subCommandParams` decoded by the command
/// into `P`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubcommandRequest<P> {
    /// 0x01 subCommand.
    pub sub_command: u64,
    /// 0x02 subCommandParams, decoded by the command.
    pub params: P,
    /// 0x02 as the canonical CBOR the pinUvAuthParam covers (`None` when absent).
    pub params_cbor: Option<Vec<u8>>,
    /// 0x03 pinUvAuthProtocol.
    pub pin_uv_auth_protocol: Option<u64>,
    /// 0x04 pinUvAuthParam.
    pub pin_uv_auth_param: Option<Vec<u8>>,
}

impl<P> SubcommandRequest<P> {
    /// Decodes the request: malformed CBOR and wrong types of the envelope fail first
    /// (CTAP2_ERR_INVALID_CBOR, CTAP2_ERR_CBOR_UNEXPECTED_TYPE; no subCommand:
    /// CTAP2_ERR_MISSING_PARAMETER), then `read` decodes `subCommandParams` (when present) for
    /// the subcommand.
    pub fn decode(
        request: &[u8],
        read: impl FnOnce(u64, Option<&IntMap<'_>>) -> CtapResult<P>,
    ) -> CtapResult<Self> {
        IntMap::parse_with(request, |map| {
            let sub_command = map.required(envelope::SUBCOMMAND)?.as_unsigned()?;
            let (sub_params, params_cbor) = match map.get(envelope::SUBCOMMAND_PARAMS) {
                Some(v) => (Some(IntMap::new(v)?), Some(v.to_vec())),
                None => (None, None),
            };
            let pin_uv_auth_protocol = map.opt_unsigned(envelope::PIN_UV_AUTH_PROTOCOL)?;
            let pin_uv_auth_param = map.opt_bytes(envelope::PIN_UV_AUTH_PARAM)?;
            Ok(Self {
                sub_command,
                params: read(sub_command, sub_params.as_ref())?,
                params_cbor,
                pin_uv_auth_protocol,
                pin_uv_auth_param,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ctap_types::CtapError;
    use ctap_types::cbor::parse;

    #[test]
    fn truncation_keeps_utf8_whole() {
        assert_eq!(truncate_utf8("abc", 2), "ab");
        assert_eq!(truncate_utf8("aé", 2), "a");
        assert_eq!(truncate_utf8("aé", 3), "aé");
    }

    #[test]
    fn descriptor_errors() {
        let ok =
            parse(&apdu::hex_decode("A2 626964 4101 6474797065 6A7075626C69632D6B6579").unwrap())
                .unwrap();
        assert!(CredentialDescriptor::decode(&ok).unwrap().is_public_key());
        let no_type = parse(&apdu::hex_decode("A1 626964 4101").unwrap()).unwrap();
        assert_eq!(
            CredentialDescriptor::decode(&no_type),
            Err(CtapError::MissingParameter)
        );
        let text_id = parse(&apdu::hex_decode("A2 626964 6101 6474797065 6178").unwrap()).unwrap();
        assert_eq!(
            CredentialDescriptor::decode(&text_id),
            Err(CtapError::CborUnexpectedType)
        );
        assert_eq!(
            CredentialDescriptor::decode(&Value::int(1)),
            Err(CtapError::CborUnexpectedType)
        );
    }

    #[test]
    fn options_must_be_booleans() {
        let v = parse(&apdu::hex_decode("A2 627570 F4 63787878 01").unwrap()).unwrap();
        assert_eq!(
            Options::decode(&v).unwrap(),
            Options {
                up: Some(false),
                ..Options::default()
            }
        );
        let bad = parse(&apdu::hex_decode("A1 627276 01").unwrap()).unwrap();
        assert!(
            Options::decode(&bad).is_ok(),
            "unknown key with odd value is ignored"
        );
        let bad = parse(&apdu::hex_decode("A1 62726B 01").unwrap()).unwrap();
        assert_eq!(Options::decode(&bad), Err(CtapError::CborUnexpectedType));
    }
}
