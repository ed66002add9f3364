//! CBOR request builders and response parsers for makeCredential / getAssertion.

use ctap_types::cbor::{self, IntMap, TextMap, Value};
use fido_applet::crypto::{CredentialPublicKey, PublicKey, sha256};

use fido_host::attestation::parse_auth_data;

use super::FLAG_ED;
use super::pin::Token;

pub fn int(n: i64) -> Value {
    Value::int(n)
}

pub fn text(s: &str) -> Value {
    Value::text(s)
}

pub fn map(entries: Vec<(Value, Value)>) -> Value {
    Value::Map(entries)
}

/// A clientDataHash: SHA-256 of `tag`.
pub fn cdh(tag: &str) -> Vec<u8> {
    sha256(tag.as_bytes()).to_vec()
}

/// A request as a CBOR map: a list of entries or a value.
pub trait IntoRequest {
    fn into_request(self) -> Value;
}

impl IntoRequest for Vec<(Value, Value)> {
    fn into_request(self) -> Value {
        Value::Map(self)
    }
}

impl IntoRequest for Value {
    fn into_request(self) -> Value {
        self
    }
}

impl IntoRequest for &Value {
    fn into_request(self) -> Value {
        self.clone()
    }
}

/// `{"alg": -7, "type": "public-key"}`.
pub fn es256() -> Value {
    map(vec![
        (text("alg"), int(-7)),
        (text("type"), text("public-key")),
    ])
}

/// `{"id": id, "type": "public-key"}`.
pub fn descriptor(id: &[u8]) -> Value {
    map(vec![
        (text("id"), Value::bytes(id)),
        (text("type"), text("public-key")),
    ])
}

/// A makeCredential request (as a list of entries, so tests can replace members); the
/// clientDataHash is `cdh("register")`.
pub fn mc(rp: &str, user: &[u8], rk: bool) -> Vec<(Value, Value)> {
    vec![
        (int(1), Value::bytes(cdh("register"))),
        (
            int(2),
            map(vec![
                (text("id"), text(rp)),
                (text("name"), text("Example")),
            ]),
        ),
        (
            int(3),
            map(vec![
                (text("id"), Value::bytes(user)),
                (text("name"), text("alice")),
                (text("displayName"), text("Alice")),
            ]),
        ),
        (int(4), Value::Array(vec![es256()])),
        (int(7), map(vec![(text("rk"), Value::Bool(rk))])),
    ]
}

/// A getAssertion request, with an allowList when `allow` is not empty; the clientDataHash is
/// `cdh("login")`.
pub fn ga(rp: &str, allow: &[&[u8]]) -> Vec<(Value, Value)> {
    let mut req = vec![(int(1), text(rp)), (int(2), Value::bytes(cdh("login")))];
    if !allow.is_empty() {
        let list = allow.iter().map(|id| descriptor(id)).collect();
        req.push((int(3), Value::Array(list)));
    }
    req
}

/// Adds (or replaces) request member `key`.
pub fn set(mut req: Vec<(Value, Value)>, key: i64, value: Value) -> Vec<(Value, Value)> {
    req.retain(|(k, _)| *k != int(key));
    req.push((int(key), value));
    req
}

/// Removes request member `key`.
pub fn unset(mut req: Vec<(Value, Value)>, key: i64) -> Vec<(Value, Value)> {
    req.retain(|(k, _)| *k != int(key));
    req
}

/// [`set`], as a CBOR map.
pub fn with(req: Vec<(Value, Value)>, key: i64, value: Value) -> Value {
    Value::Map(set(req, key, value))
}

/// [`unset`], as a CBOR map.
pub fn without(req: Vec<(Value, Value)>, key: i64) -> Value {
    Value::Map(unset(req, key))
}

/// Adds pinUvAuthParam / pinUvAuthProtocol for makeCredential (`param_key` 8, 9) or
/// getAssertion (6, 7), over the clientDataHash of [`mc`] / [`ga`].
pub fn with_token(req: Vec<(Value, Value)>, token: &Token, param_key: i64) -> Vec<(Value, Value)> {
    let client_data_hash = if param_key == 8 {
        cdh("register")
    } else {
        cdh("login")
    };
    let req = set(req, param_key, Value::bytes(token.param(&client_data_hash)));
    set(req, param_key + 1, int(token.protocol.into()))
}

/// Sets the extensions member `key` (makeCredential 6, getAssertion 4) to `{id: value}`.
pub fn extension(
    req: Vec<(Value, Value)>,
    key: i64,
    id: &str,
    value: Value,
) -> Vec<(Value, Value)> {
    set(req, key, Value::Map(vec![(text(id), value)]))
}

/// A parsed makeCredential response.
pub struct Registration {
    /// The whole response.
    pub response: Value,
    pub fmt: String,
    pub auth_data: Vec<u8>,
    pub att_stmt: Value,
    pub credential_id: Vec<u8>,
    /// The credential public key: EC2 P-256 for ES256, OKP Ed25519 for EdDSA.
    pub public_key: CredentialPublicKey,
    /// The authenticator-data extensions (flag ED).
    pub extensions: Option<Value>,
    pub large_blob_key: Option<Vec<u8>>,
}

impl Registration {
    pub fn parse(v: &Value) -> Self {
        let m = IntMap::new(v).unwrap();
        let fmt = m.required(1).unwrap().as_text().unwrap().to_owned();
        let auth_data = m.required(2).unwrap().as_bytes().unwrap().to_vec();
        let att_stmt = m.required(3).unwrap().clone();
        // WebAuthn §6.5.1: attested credential data (AT), then the extensions map when flag ED
        // is set; nothing may follow.
        let parsed = parse_auth_data(&auth_data).expect("authData parses");
        let extensions = parsed.extensions;
        let attested = parsed.attested.expect("attested credential data");
        let (credential_id, cose) = (attested.credential_id, attested.public_key);
        // The COSE key and the extensions in CTAP2 canonical CBOR: their re-encoding is the tail.
        let tail = [
            cose.to_vec(),
            extensions.iter().flat_map(Value::to_vec).collect(),
        ]
        .concat();
        assert!(
            auth_data.ends_with(&tail),
            "canonical COSE key and extensions"
        );
        let cm = IntMap::new(&cose).unwrap();
        let coord = |k: i64| -> [u8; 32] {
            let entries = cose.as_map().unwrap();
            let v = &entries.iter().find(|(key, _)| *key == int(k)).unwrap().1;
            v.as_bytes().unwrap().try_into().unwrap()
        };
        let member = |k: i64| -> Value {
            let entries = cose.as_map().unwrap();
            entries
                .iter()
                .find(|(key, _)| *key == int(k))
                .unwrap()
                .1
                .clone()
        };
        let public_key = match cm.required(3).unwrap().as_int().unwrap() {
            -7 => {
                // {1: 2 (EC2), 3: -7, -1: 1 (P-256), -2: x, -3: y} (RFC 9053 §7.1.1).
                assert_eq!(cose.as_map().unwrap().len(), 5);
                assert_eq!(cm.required(1).unwrap(), &int(2), "kty EC2");
                assert_eq!(member(-1), int(1), "crv P-256");
                CredentialPublicKey::Es256(
                    PublicKey::from_coordinates(&coord(-2), &coord(-3)).expect("point"),
                )
            }
            -8 => {
                // {1: 1 (OKP), 3: -8, -1: 6 (Ed25519), -2: x} (RFC 9053 §7.2).
                assert_eq!(cose.as_map().unwrap().len(), 4);
                assert_eq!(cm.required(1).unwrap(), &int(1), "kty OKP");
                assert_eq!(member(-1), int(6), "crv Ed25519");
                CredentialPublicKey::EdDsa(coord(-2))
            }
            other => panic!("credential algorithm {other}"),
        };
        let large_blob_key = m.get(5).map(|v| v.as_bytes().unwrap().to_vec());
        Self {
            response: v.clone(),
            fmt,
            auth_data,
            att_stmt,
            credential_id,
            public_key,
            extensions,
            large_blob_key,
        }
    }

    /// The credential id and the whole response.
    pub fn parts(self) -> (Vec<u8>, Value) {
        (self.credential_id, self.response)
    }

    pub fn flags(&self) -> u8 {
        self.auth_data[32]
    }

    pub fn sign_count(&self) -> u32 {
        u32::from_be_bytes(self.auth_data[33..37].try_into().unwrap())
    }

    /// The attestation statement's certificate chain, x5c (WebAuthn §8.2).
    pub fn x5c(&self) -> Value {
        let stmt = TextMap::new(&self.att_stmt).unwrap();
        stmt.required("x5c").expect("x5c").clone()
    }

    pub fn extension(&self, id: &str) -> Option<Value> {
        self.extensions
            .as_ref()
            .and_then(|e| TextMap::new(e).unwrap().get(id).cloned())
    }
}

/// A parsed getAssertion / getNextAssertion response.
pub struct Assertion {
    pub credential_id: Vec<u8>,
    pub auth_data: Vec<u8>,
    pub signature: Vec<u8>,
    pub user: Option<Value>,
    pub number_of_credentials: Option<u64>,
    pub large_blob_key: Option<Vec<u8>>,
}

impl Assertion {
    pub fn parse(v: &Value) -> Self {
        let m = IntMap::new(v).unwrap();
        let cred = TextMap::new(m.required(1).unwrap()).unwrap();
        assert_eq!(cred.required("type").unwrap(), &text("public-key"));
        let auth_data = m.required(2).unwrap().as_bytes().unwrap().to_vec();
        assert_eq!(
            auth_data[32] & FLAG_ED != 0,
            auth_data.len() > 37,
            "ED flag matches"
        );
        Self {
            credential_id: cred.required("id").unwrap().as_bytes().unwrap().to_vec(),
            auth_data,
            signature: m.required(3).unwrap().as_bytes().unwrap().to_vec(),
            user: m.get(4).cloned(),
            number_of_credentials: m.get(5).map(|n| n.as_unsigned().unwrap()),
            large_blob_key: m.get(7).map(|v| v.as_bytes().unwrap().to_vec()),
        }
    }

    pub fn flags(&self) -> u8 {
        self.auth_data[32]
    }

    pub fn sign_count(&self) -> u32 {
        u32::from_be_bytes(self.auth_data[33..37].try_into().unwrap())
    }

    /// The user id, when the answer names the user.
    pub fn user_id_opt(&self) -> Option<Vec<u8>> {
        self.user.as_ref().map(|u| {
            TextMap::new(u)
                .unwrap()
                .required("id")
                .unwrap()
                .as_bytes()
                .unwrap()
                .to_vec()
        })
    }

    /// The user id; the answer must name the user.
    pub fn user_id(&self) -> Vec<u8> {
        self.user_id_opt().expect("user")
    }

    pub fn verifies(&self, key: &CredentialPublicKey, cdh: &[u8]) -> bool {
        let mut signed = self.auth_data.clone();
        signed.extend_from_slice(cdh);
        key.verify(&signed, &self.signature)
    }

    pub fn extension(&self, id: &str) -> Option<Value> {
        if self.auth_data.len() <= 37 {
            return None;
        }
        let ext = cbor::parse(&self.auth_data[37..]).unwrap();
        TextMap::new(&ext).unwrap().get(id).cloned()
    }
}

/// getInfo option `name` (member 4), if declared.
pub fn option(info: &Value, name: &str) -> Option<bool> {
    let m = IntMap::new(info).unwrap();
    TextMap::new(m.required(4).unwrap())
        .unwrap()
        .get(name)
        .map(|v| v.as_bool().unwrap())
}

/// The message authenticatorConfig's pinUvAuthParam covers before the subCommandParams:
/// `32×0xFF || 0x0D || subCommand` (§6.11).
pub fn config_prefix(sub: u64) -> Vec<u8> {
    fido_host::management::config_auth_message(sub, None)
}

/// The message a largeBlobs write's pinUvAuthParam covers:
/// `32×0xFF || 0x0C 0x00 || uint32LittleEndian(offset) || SHA-256(set)` (§6.10.2).
pub fn large_blob_message(offset: u32, set: &[u8]) -> Vec<u8> {
    fido_host::management::large_blob_auth_message(offset, set)
}

/// A serialized large-blob array (§6.10.2): the CBOR array of `entries`, then the first 16
/// bytes of its SHA-256.
pub fn large_blob_array(entries: Vec<Value>) -> Vec<u8> {
    let mut data = Value::Array(entries).to_vec();
    data.extend_from_slice(&sha256(&data)[..16]);
    data
}

/// `{1: subCommand, 3: pinUvAuthProtocol, 4: pinUvAuthParam}` with the protocol (or none) and
/// the param as given: the shape of [`subcommand`] for authorizations that are wrong on purpose.
pub fn raw_auth(sub: i64, protocol: Option<i64>, param: &[u8]) -> Vec<(Value, Value)> {
    let mut req = vec![(int(1), int(sub))];
    if let Some(p) = protocol {
        req.push((int(3), int(p)));
    }
    req.push((int(4), Value::bytes(param)));
    req
}

/// `{1: subCommand, 2: subCommandParams, 3: pinUvAuthProtocol, 4: pinUvAuthParam}`, the shape of
/// authenticatorCredentialManagement (§6.8) and authenticatorConfig (§6.11) requests. With
/// `auth = Some((token, prefix))` the pinUvAuthParam is the token's MAC over
/// `prefix || subCommandParams` (credentialManagement: prefix = subCommand; config:
/// [`config_prefix`]).
pub fn subcommand(
    sub: u64,
    params: Option<Value>,
    auth: Option<(&Token, &[u8])>,
) -> Vec<(Value, Value)> {
    let mut req = vec![(int(1), Value::Unsigned(sub))];
    if let Some((token, prefix)) = auth {
        let mut message = prefix.to_vec();
        if let Some(p) = &params {
            message.extend_from_slice(&p.to_vec());
        }
        req.push((int(3), int(token.protocol.into())));
        req.push((int(4), Value::bytes(token.param(&message))));
    }
    if let Some(p) = params {
        req.push((int(2), p));
    }
    req
}
