//! CTAP 2.1 §12 "Defined Extensions": the extensions Windows, Entra ID and WebAuthn relying
//! parties use on a security key.
//!
//! | extension | § | makeCredential | getAssertion |
//! |---|---|---|---|
//! | `credProtect` | 12.1 | level 1-3 stored in the credential flags | hides credentials without UV |
//! | `credBlob` | 12.2 | up to the profile's `max_cred_blob_length` bytes with a resident credential | returns them |
//! | `largeBlobKey` | 12.3 | a 32-byte key for a resident credential (response 0x05) | returns it (response 0x07) |
//! | `minPinLength` | 12.4 | the minimum PIN length, to RPs on the list | — |
//! | `hmac-secret` | 12.5 | marks the credential | HMAC of one or two salts, encrypted |
//!
//! Requests carry the inputs in the extensions map (0x06 / 0x04) keyed by identifier; outputs of
//! all but largeBlobKey go into the authenticator data's extensions map (WebAuthn §6.1, flag ED).
//! Unknown identifiers are ignored (WebAuthn §9: "authenticators MUST ignore ... extensions they
//! do not recognise").

pub mod cred_blob;
pub mod cred_protect;
pub mod hmac_secret;
pub mod large_blob_key;
pub mod min_pin_length;

use ctap_types::cbor::Value;
use ctap_types::{CtapError, CtapResult, ExtensionId};

pub use cred_protect::CredProtect;
pub use hmac_secret::HmacSecretInput;

/// The makeCredential extension inputs this card acts on (§6.1 0x06).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MakeCredentialExtensions {
    /// `hmac-secret: true`.
    pub hmac_secret: bool,
    /// `credProtect: 1..=3`; other values are ignored.
    pub cred_protect: Option<CredProtect>,
    /// `credBlob: bytes`.
    pub cred_blob: Option<Vec<u8>>,
    /// `largeBlobKey: true`.
    pub large_blob_key: bool,
    /// `minPinLength: true`.
    pub min_pin_length: bool,
}

impl MakeCredentialExtensions {
    /// Reads the inputs from the (identifier, value) pairs of the request's extensions map. A
    /// known extension with a value of the wrong type is CTAP2_ERR_CBOR_UNEXPECTED_TYPE;
    /// `largeBlobKey: false` is CTAP2_ERR_INVALID_OPTION (§12.3).
    pub fn decode(entries: &[(String, Value)]) -> CtapResult<Self> {
        read_inputs(entries, |out: &mut Self, id, value| {
            match id {
                ExtensionId::HmacSecret => out.hmac_secret = value.as_bool()?,
                ExtensionId::CredProtect => {
                    out.cred_protect = CredProtect::from_input(value.as_unsigned()?)
                }
                ExtensionId::CredBlob => out.cred_blob = Some(value.as_bytes()?.to_vec()),
                ExtensionId::LargeBlobKey => {
                    out.large_blob_key = large_blob_key::decode_input(value)?
                }
                ExtensionId::MinPinLength => out.min_pin_length = value.as_bool()?,
            }
            Ok(())
        })
    }
}

/// The getAssertion extension inputs this card acts on (§6.2 0x04).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GetAssertionExtensions {
    /// `hmac-secret: {1: keyAgreement, 2: saltEnc, 3: saltAuth, 4: pinUvAuthProtocol}`.
    pub hmac_secret: Option<HmacSecretInput>,
    /// `credBlob: true`.
    pub cred_blob: bool,
    /// `largeBlobKey: true`.
    pub large_blob_key: bool,
}

impl GetAssertionExtensions {
    /// Reads the inputs; errors as for [`MakeCredentialExtensions::decode`], plus the
    /// hmac-secret input's own (§12.5).
    pub fn decode(entries: &[(String, Value)]) -> CtapResult<Self> {
        read_inputs(entries, |out: &mut Self, id, value| {
            match id {
                ExtensionId::HmacSecret => out.hmac_secret = Some(HmacSecretInput::decode(value)?),
                ExtensionId::CredBlob => out.cred_blob = value.as_bool()?,
                ExtensionId::LargeBlobKey => {
                    out.large_blob_key = large_blob_key::decode_input(value)?
                }
                // No getAssertion input (§12.1, §12.4: makeCredential only).
                ExtensionId::CredProtect | ExtensionId::MinPinLength => {}
            }
            Ok(())
        })
    }
}

/// Reads a command's extension inputs into `T` with `read`, entry by entry in request order
/// (the first error wins); identifiers this build does not know are skipped.
fn read_inputs<T: Default>(
    entries: &[(String, Value)],
    mut read: impl FnMut(&mut T, ExtensionId, &Value) -> CtapResult<()>,
) -> CtapResult<T> {
    let mut out = T::default();
    for (id, value) in entries {
        if let Some(id) = ExtensionId::parse(id) {
            read(&mut out, id, value)?;
        }
    }
    Ok(out)
}

/// Collects extension outputs for the authenticator data.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outputs(Vec<(&'static str, Value)>);

impl Outputs {
    /// Adds one output.
    pub fn push(&mut self, id: &'static str, value: Value) {
        self.0.push((id, value));
    }

    /// Whether there is no output (then the ED flag stays clear).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The extensions map in CTAP2 canonical CBOR, or `None` when there is no output.
    pub fn encode(&self) -> Option<Vec<u8>> {
        if self.0.is_empty() {
            return None;
        }
        let map = self
            .0
            .iter()
            .map(|(id, v)| (Value::text(*id), v.clone()))
            .collect();
        Some(Value::Map(map).to_vec())
    }
}

/// An error for an extension input that is present but not usable in this request.
pub(crate) fn invalid_option() -> CtapError {
    CtapError::InvalidOption
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A profile may enable any [`ExtensionId`] (profile validation reads them into that type),
    /// so every one must be implemented here. The match has no wildcard: an identifier added to
    /// ctap-types stops this from compiling until it is implemented.
    #[test]
    fn every_ctap_extension_id_is_implemented() {
        for &id in ExtensionId::ALL {
            let entries = vec![(id.as_str().to_owned(), Value::Bool(true))];
            let made = MakeCredentialExtensions::decode(&entries);
            match id {
                ExtensionId::HmacSecret => assert!(made.unwrap().hmac_secret),
                ExtensionId::LargeBlobKey => assert!(made.unwrap().large_blob_key),
                ExtensionId::MinPinLength => assert!(made.unwrap().min_pin_length),
                // Their inputs are a level and bytes: a boolean has the wrong type.
                ExtensionId::CredProtect | ExtensionId::CredBlob => {
                    assert_eq!(made, Err(CtapError::CborUnexpectedType), "{id}")
                }
            }
        }
    }

    #[test]
    fn make_credential_inputs() {
        let entries = vec![
            ("hmac-secret".to_owned(), Value::Bool(true)),
            ("credProtect".to_owned(), Value::Unsigned(3)),
            ("credBlob".to_owned(), Value::bytes(vec![1, 2])),
            ("largeBlobKey".to_owned(), Value::Bool(true)),
            ("minPinLength".to_owned(), Value::Bool(true)),
            ("unknown".to_owned(), Value::Null),
        ];
        let ext = MakeCredentialExtensions::decode(&entries).unwrap();
        assert!(ext.hmac_secret && ext.large_blob_key && ext.min_pin_length);
        assert_eq!(
            ext.cred_protect,
            Some(CredProtect::UserVerificationRequired)
        );
        assert_eq!(ext.cred_blob, Some(vec![1, 2]));

        let bad = vec![("hmac-secret".to_owned(), Value::Unsigned(1))];
        assert_eq!(
            MakeCredentialExtensions::decode(&bad),
            Err(CtapError::CborUnexpectedType)
        );
        let off = vec![("largeBlobKey".to_owned(), Value::Bool(false))];
        assert_eq!(
            MakeCredentialExtensions::decode(&off),
            Err(CtapError::InvalidOption)
        );
        let level = vec![("credProtect".to_owned(), Value::Unsigned(7))];
        assert_eq!(
            MakeCredentialExtensions::decode(&level)
                .unwrap()
                .cred_protect,
            None
        );
    }

    #[test]
    fn outputs_are_a_canonical_map() {
        let mut out = Outputs::default();
        assert_eq!(out.encode(), None);
        out.push("hmac-secret", Value::Bool(true));
        out.push("credProtect", Value::Unsigned(2));
        // {"credProtect": 2, "hmac-secret": true}: shorter key first.
        let mut expected = vec![0xA2, 0x6B];
        expected.extend_from_slice(b"credProtect");
        expected.push(0x02);
        expected.push(0x6B);
        expected.extend_from_slice(b"hmac-secret");
        expected.push(0xF5);
        assert_eq!(out.encode().unwrap(), expected);
    }
}
