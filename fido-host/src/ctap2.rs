//! The CTAP2 commands every platform sends (CTAP 2.1 §6.1-§6.4, §6.6, §6.9): getInfo,
//! makeCredential, getAssertion / getNextAssertion, reset and selection, with typed requests
//! and decoded answers.

use ctap_types::cbor::{self, Value};
use ctap_types::command;
use ctap_types::params::{get_assertion as ga, get_info as gi, make_credential as mc};
use ctap_types::vocab::PUBLIC_KEY;
use ctap_types::{AuthenticatorInfo, OptionId, Version, cose, info::InfoError};

use crate::attestation::{self, AuthData};
use crate::client::{Client, ClientError};
use crate::client_pin::Token;
use crate::pin_protocol::Protocol;

/// getInfo's answer (CTAP 2.1 §6.4), the fields fido-check uses.
#[derive(Debug, Clone, PartialEq)]
pub struct Info {
    pub versions: Vec<String>,
    pub extensions: Vec<String>,
    pub aaguid: Option<[u8; 16]>,
    pub options: Vec<(String, bool)>,
    pub max_msg_size: Option<u64>,
    pub pin_protocols: Vec<u64>,
    pub raw: Value,
}

impl Info {
    pub fn parse(body: &Value) -> Result<Info, String> {
        if body.as_map().is_err() {
            return Err(format!("getInfo answer is not a map: {}", cbor::diag(body)));
        }
        let strings = |key: u8| -> Vec<String> {
            body.get_int(i128::from(key))
                .and_then(|v| v.as_array().ok())
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_text().ok())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        };
        let aaguid = match body
            .get_int(gi::AAGUID.into())
            .and_then(|v| v.as_bytes().ok())
        {
            Some(b) => Some(
                <[u8; 16]>::try_from(b)
                    .map_err(|_| format!("getInfo aaguid has {} bytes, not 16", b.len()))?,
            ),
            None => None,
        };
        let options = body
            .get_int(gi::OPTIONS.into())
            .and_then(|v| v.as_map().ok())
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.as_text().ok()?.to_owned(), v.as_bool().ok()?)))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Info {
            versions: strings(1),
            extensions: strings(2),
            aaguid,
            options,
            max_msg_size: body
                .get_int(gi::MAX_MSG_SIZE.into())
                .and_then(|v| v.as_unsigned().ok()),
            pin_protocols: body
                .get_int(gi::PIN_UV_AUTH_PROTOCOLS.into())
                .and_then(|v| v.as_array().ok())
                .map(|a| a.iter().filter_map(|v| v.as_unsigned().ok()).collect())
                .unwrap_or_default(),
            raw: body.clone(),
        })
    }

    /// The same answer read strictly into the typed [`AuthenticatorInfo`] (§6.4): every member
    /// of its type, the required ones present.
    pub fn parsed(&self) -> Result<AuthenticatorInfo, InfoError> {
        AuthenticatorInfo::from_value(&self.raw)
    }

    /// An option's value; `None` when the card does not list it.
    pub fn option(&self, name: &str) -> Option<bool> {
        self.options
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| *v)
    }

    pub fn has_extension(&self, name: &str) -> bool {
        self.extensions.iter().any(|e| e == name)
    }

    /// The PIN/UV auth protocol to use: the card's first that this client knows.
    pub fn preferred_protocol(&self) -> Option<Protocol> {
        let listed = self
            .pin_protocols
            .iter()
            .find_map(|n| Protocol::from_number(*n));
        // CTAP 2.0 cards without 0x06 support protocol 1 only (when they have clientPin).
        listed.or_else(|| {
            self.option(OptionId::ClientPin.as_str())
                .map(|_| Protocol::One)
        })
    }

    /// Whether the card speaks CTAP 2.1 (pinUvAuthToken with permissions, credMgmt 0x0A).
    pub fn is_2_1(&self) -> bool {
        self.versions.iter().any(|v| v == Version::Fido21.as_str())
    }

    /// The credentialManagement command byte, if the card has it: 0x0A for `credMgmt`, the
    /// 2.1 preview's 0x41 for `credentialMgmtPreview`.
    pub fn cred_mgmt_command(&self) -> Option<u8> {
        if self.option(OptionId::CredMgmt.as_str()) == Some(true) {
            Some(command::CREDENTIAL_MANAGEMENT)
        } else if self.option(OptionId::CredentialMgmtPreview.as_str()) == Some(true) {
            Some(command::CREDENTIAL_MANAGEMENT_PREVIEW)
        } else {
            None
        }
    }
}

/// makeCredential's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Attestation {
    pub fmt: String,
    pub auth_data_raw: Vec<u8>,
    pub auth_data: AuthData,
    pub att_stmt: Value,
}

impl Attestation {
    pub fn credential_id(&self) -> Option<&[u8]> {
        self.auth_data
            .attested
            .as_ref()
            .map(|a| a.credential_id.as_slice())
    }
}

/// getAssertion's / getNextAssertion's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Assertion {
    pub credential_id: Option<Vec<u8>>,
    pub auth_data_raw: Vec<u8>,
    pub auth_data: AuthData,
    pub signature: Vec<u8>,
    pub user_id: Option<Vec<u8>>,
    pub number_of_credentials: Option<u64>,
}

/// makeCredential parameters.
#[derive(Debug, Clone)]
pub struct MakeCredential {
    pub client_data_hash: [u8; 32],
    pub rp_id: String,
    pub user_id: Vec<u8>,
    pub user_name: String,
    pub rk: bool,
    pub extensions: Option<Value>,
    pub exclude_list: Vec<Vec<u8>>,
    /// pubKeyCredParams' algorithms (COSE), most preferred first; empty asks for ES256 only.
    pub algorithms: Vec<i64>,
}

/// getAssertion parameters.
#[derive(Debug, Clone)]
pub struct GetAssertion {
    pub rp_id: String,
    pub client_data_hash: [u8; 32],
    pub allow_list: Vec<Vec<u8>>,
    pub extensions: Option<Value>,
    /// `options.up`; `None` leaves the default (true).
    pub up: Option<bool>,
}

/// The request members makeCredential (CTAP 2.1 §6.1) and getAssertion (§6.2) share after their
/// own first ones, in the same order in both: the credential list (excludeList / allowList),
/// extensions, options, pinUvAuthParam and pinUvAuthProtocol. Their keys differ.
struct SharedKeys {
    credentials: u64,
    extensions: u64,
    options: u64,
    pin_uv_auth_param: u64,
    pin_uv_auth_protocol: u64,
}

const MAKE_CREDENTIAL_KEYS: SharedKeys = SharedKeys {
    credentials: mc::request::EXCLUDE_LIST,
    extensions: mc::request::EXTENSIONS,
    options: mc::request::OPTIONS,
    pin_uv_auth_param: mc::request::PIN_UV_AUTH_PARAM,
    pin_uv_auth_protocol: mc::request::PIN_UV_AUTH_PROTOCOL,
};

const GET_ASSERTION_KEYS: SharedKeys = SharedKeys {
    credentials: ga::request::ALLOW_LIST,
    extensions: ga::request::EXTENSIONS,
    options: ga::request::OPTIONS,
    pin_uv_auth_param: ga::request::PIN_UV_AUTH_PARAM,
    pin_uv_auth_protocol: ga::request::PIN_UV_AUTH_PROTOCOL,
};

impl SharedKeys {
    /// Appends the shared members that have something to say: the credential descriptors (none
    /// when empty), the extensions, one option, and with a token its pinUvAuthParam over the
    /// clientDataHash and its protocol.
    fn push(
        &self,
        params: &mut Vec<(u64, Value)>,
        credentials: &[Vec<u8>],
        extensions: Option<&Value>,
        option: Option<(OptionId, bool)>,
        token: Option<&Token>,
        client_data_hash: &[u8],
    ) {
        if !credentials.is_empty() {
            params.push((
                self.credentials,
                Value::Array(credentials.iter().map(|id| descriptor(id)).collect()),
            ));
        }
        if let Some(ext) = extensions {
            params.push((self.extensions, ext.clone()));
        }
        if let Some((id, value)) = option {
            params.push((
                self.options,
                Value::text_map(vec![(id.as_str(), Value::Bool(value))]),
            ));
        }
        if let Some(t) = token {
            params.push((
                self.pin_uv_auth_param,
                Value::Bytes(t.auth(client_data_hash)),
            ));
            params.push((
                self.pin_uv_auth_protocol,
                Value::Unsigned(t.protocol.number()),
            ));
        }
    }
}

fn descriptor(id: &[u8]) -> Value {
    Value::text_map(vec![
        ("id", Value::bytes(id)),
        ("type", Value::text(PUBLIC_KEY)),
    ])
}

impl Client {
    pub fn get_info(&mut self) -> Result<Info, ClientError> {
        let body = self.ctap_body("getInfo", command::GET_INFO, None)?;
        Info::parse(&body).map_err(ClientError::Malformed)
    }

    /// The makeCredential request's CBOR (§6.1): the requested algorithms (ES256 when none),
    /// the rp id as its name, the user name as its display name.
    pub fn make_credential_params(req: &MakeCredential, token: Option<&Token>) -> Value {
        let mut params = vec![
            (
                mc::request::CLIENT_DATA_HASH,
                Value::bytes(req.client_data_hash),
            ),
            (
                mc::request::RP,
                Value::text_map(vec![
                    ("id", Value::text(&req.rp_id)),
                    ("name", Value::text(&req.rp_id)),
                ]),
            ),
            (
                mc::request::USER,
                Value::text_map(vec![
                    ("id", Value::bytes(req.user_id.as_slice())),
                    ("name", Value::text(&req.user_name)),
                    ("displayName", Value::text(&req.user_name)),
                ]),
            ),
            (
                mc::request::PUB_KEY_CRED_PARAMS,
                Value::Array(
                    if req.algorithms.is_empty() {
                        &[cose::ES256][..]
                    } else {
                        &req.algorithms
                    }
                    .iter()
                    .map(|&alg| {
                        Value::text_map(vec![
                            ("alg", Value::int(alg)),
                            ("type", Value::text(PUBLIC_KEY)),
                        ])
                    })
                    .collect(),
                ),
            ),
        ];
        MAKE_CREDENTIAL_KEYS.push(
            &mut params,
            &req.exclude_list,
            req.extensions.as_ref(),
            req.rk.then_some((OptionId::Rk, true)),
            token,
            &req.client_data_hash,
        );
        Value::int_map(params)
    }

    pub fn make_credential(
        &mut self,
        req: &MakeCredential,
        token: Option<&Token>,
    ) -> Result<Attestation, ClientError> {
        let params = Self::make_credential_params(req, token);
        let label = if req.rk {
            "makeCredential (rk)"
        } else {
            "makeCredential"
        };
        let body = self.ctap_body(label, command::MAKE_CREDENTIAL, Some(&params))?;
        let fmt = body
            .get_int(mc::response::FMT.into())
            .and_then(|v| v.as_text().ok())
            .ok_or_else(|| ClientError::Malformed("makeCredential: no fmt (0x01)".into()))?
            .to_owned();
        let auth_data_raw = body
            .get_int(mc::response::AUTH_DATA.into())
            .and_then(|v| v.as_bytes().ok())
            .ok_or_else(|| ClientError::Malformed("makeCredential: no authData (0x02)".into()))?
            .to_vec();
        let auth_data =
            attestation::parse_auth_data(&auth_data_raw).map_err(ClientError::Malformed)?;
        if auth_data.attested.is_none() {
            return Err(ClientError::Malformed(
                "makeCredential: authData without attested credential data".into(),
            ));
        }
        let att_stmt = body
            .get_int(mc::response::ATT_STMT.into())
            .cloned()
            .unwrap_or(Value::Null);
        Ok(Attestation {
            fmt,
            auth_data_raw,
            auth_data,
            att_stmt,
        })
    }

    /// getInfo decoded strictly into the typed [`AuthenticatorInfo`] (§6.4): every member of
    /// its type, the required ones present.
    pub fn authenticator_info(&mut self) -> Result<AuthenticatorInfo, ClientError> {
        let info = self.get_info()?;
        info.parsed()
            .map_err(|e| ClientError::Malformed(e.to_string()))
    }

    /// authenticatorSelection (§6.9): the card asks for a touch and answers CTAP2_OK.
    pub fn selection(&mut self) -> Result<(), ClientError> {
        self.ctap("authenticatorSelection", command::SELECTION, None)
            .map(|_| ())
    }

    fn parse_assertion(body: &Value) -> Result<Assertion, ClientError> {
        let auth_data_raw = body
            .get_int(ga::response::AUTH_DATA.into())
            .and_then(|v| v.as_bytes().ok())
            .ok_or_else(|| ClientError::Malformed("assertion: no authData (0x02)".into()))?
            .to_vec();
        let auth_data =
            attestation::parse_auth_data(&auth_data_raw).map_err(ClientError::Malformed)?;
        Ok(Assertion {
            credential_id: body
                .get_int(ga::response::CREDENTIAL.into())
                .and_then(|d| d.get_text("id"))
                .and_then(|v| v.as_bytes().ok())
                .map(<[u8]>::to_vec),
            auth_data_raw,
            auth_data,
            signature: body
                .get_int(ga::response::SIGNATURE.into())
                .and_then(|v| v.as_bytes().ok())
                .ok_or_else(|| ClientError::Malformed("assertion: no signature (0x03)".into()))?
                .to_vec(),
            user_id: body
                .get_int(ga::response::USER.into())
                .and_then(|u| u.get_text("id"))
                .and_then(|v| v.as_bytes().ok())
                .map(<[u8]>::to_vec),
            number_of_credentials: body
                .get_int(ga::response::NUMBER_OF_CREDENTIALS.into())
                .and_then(|v| v.as_unsigned().ok()),
        })
    }

    /// The getAssertion request's CBOR (also used by the transport check for long messages).
    pub fn get_assertion_params(req: &GetAssertion, token: Option<&Token>) -> Value {
        let mut params = vec![
            (ga::request::RP_ID, Value::text(&req.rp_id)),
            (
                ga::request::CLIENT_DATA_HASH,
                Value::bytes(req.client_data_hash),
            ),
        ];
        GET_ASSERTION_KEYS.push(
            &mut params,
            &req.allow_list,
            req.extensions.as_ref(),
            req.up.map(|up| (OptionId::Up, up)),
            token,
            &req.client_data_hash,
        );
        Value::int_map(params)
    }

    pub fn get_assertion(
        &mut self,
        req: &GetAssertion,
        token: Option<&Token>,
    ) -> Result<Assertion, ClientError> {
        let params = Self::get_assertion_params(req, token);
        let body = self.ctap_body("getAssertion", command::GET_ASSERTION, Some(&params))?;
        Self::parse_assertion(&body)
    }

    pub fn get_next_assertion(&mut self) -> Result<Assertion, ClientError> {
        let body = self.ctap_body("getNextAssertion", command::GET_NEXT_ASSERTION, None)?;
        Self::parse_assertion(&body)
    }

    pub fn reset(&mut self) -> Result<(), ClientError> {
        self.ctap("authenticatorReset", command::RESET, None)
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_parsing() {
        let body = Value::int_map(vec![
            (
                1,
                Value::Array(vec![Value::text("FIDO_2_0"), Value::text("FIDO_2_1")]),
            ),
            (2, Value::Array(vec![Value::text("hmac-secret")])),
            (3, Value::bytes([0x11; 16])),
            (
                4,
                Value::text_map(vec![
                    ("rk", Value::Bool(true)),
                    ("clientPin", Value::Bool(false)),
                ]),
            ),
            (
                6,
                Value::Array(vec![Value::Unsigned(2), Value::Unsigned(1)]),
            ),
        ]);
        let info = Info::parse(&body).expect("parses");
        assert!(info.is_2_1());
        assert!(info.has_extension("hmac-secret"));
        assert_eq!(info.option("clientPin"), Some(false));
        assert_eq!(info.option("credMgmt"), None);
        assert_eq!(info.preferred_protocol(), Some(Protocol::Two));
        assert_eq!(info.aaguid, Some([0x11; 16]));
        assert!(Info::parse(&Value::Null).is_err());
        let bad_aaguid = Value::int_map(vec![(3, Value::bytes([1; 3]))]);
        assert!(Info::parse(&bad_aaguid).is_err());
    }
}
