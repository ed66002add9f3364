//! credBlob (CTAP 2.1 §12.2): a small opaque blob stored with a discoverable credential and
//! returned with its assertions.
//!
//! makeCredential `credBlob: bytes` stores the blob if the credential is resident and the blob
//! is at most the profile's `max_cred_blob_length` bytes (getInfo `maxCredBlobLength`, at least
//! [`MIN_MAX_CRED_BLOB_LENGTH`]), and answers `credBlob: true`; otherwise nothing is
//! stored and the answer is `credBlob: false`. getAssertion `credBlob: true` answers the stored
//! blob (an empty byte string when there is none). Non-resident credential ids are sealed blobs
//! of fixed size, so they carry no credBlob.

use ctap_types::cbor::Value;

/// The smallest getInfo `maxCredBlobLength` (§6.4 0x0F) a card with credBlob may declare
/// (§12.2: at least 32); the card's value is the profile's `max_cred_blob_length`.
pub const MIN_MAX_CRED_BLOB_LENGTH: usize = 32;

/// Whether makeCredential stores `blob` with the new credential, on a card whose
/// `maxCredBlobLength` is `max_len`.
pub fn accepts(blob: &[u8], resident: bool, max_len: usize) -> bool {
    resident && blob.len() <= max_len
}

/// makeCredential's output for the decision of [`accepts`].
pub fn make_credential_output(stored: bool) -> Value {
    Value::Bool(stored)
}

/// getAssertion's output: the stored blob, or an empty byte string.
pub fn get_assertion_output(stored: Option<&[u8]>) -> Value {
    Value::bytes(stored.unwrap_or_default().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        assert!(accepts(&[0; 32], true, 32));
        assert!(!accepts(&[0; 33], true, 32));
        assert!(accepts(&[0; 64], true, 64));
        assert!(!accepts(&[0; 65], true, 64));
        assert!(!accepts(&[0; 1], false, 32));
        assert!(accepts(&[], true, 32));
        assert_eq!(get_assertion_output(None), Value::Bytes(vec![]));
        assert_eq!(get_assertion_output(Some(&[7])), Value::Bytes(vec![7]));
    }
}
