//! largeBlobKey (CTAP 2.1 §12.3): a per-credential 32-byte key with which the platform encrypts
//! the credential's entry in the large-blob array (§6.10).
//!
//! Only discoverable credentials get one (the key is stored with the credential): makeCredential
//! with `largeBlobKey: true` and `rk` not true is CTAP2_ERR_INVALID_OPTION, and so is the input
//! `false` anywhere. The key is not an authenticator-data extension output: makeCredential
//! returns it as response member 0x05 and getAssertion as 0x07.

use crate::platform::Rng;
use ctap_types::CtapResult;
use ctap_types::cbor::Value;

/// Length of a largeBlobKey.
pub const KEY_LEN: usize = 32;

/// makeCredential response member carrying the key (§6.1 "largeBlobKey (0x05)").
pub const MAKE_CREDENTIAL_RESPONSE_KEY: u64 =
    ctap_types::params::make_credential::response::LARGE_BLOB_KEY;

/// getAssertion response member carrying the key (§6.2 "largeBlobKey (0x07)").
pub const GET_ASSERTION_RESPONSE_KEY: u64 =
    ctap_types::params::get_assertion::response::LARGE_BLOB_KEY;

/// The input must be `true` (§12.3).
pub fn decode_input(value: &Value) -> CtapResult<bool> {
    if value.as_bool()? {
        Ok(true)
    } else {
        Err(super::invalid_option())
    }
}

/// makeCredential: a key for a resident credential, CTAP2_ERR_INVALID_OPTION otherwise.
pub fn generate(rng: &mut dyn Rng, resident: bool) -> CtapResult<[u8; KEY_LEN]> {
    if !resident {
        return Err(super::invalid_option());
    }
    let mut key = [0u8; KEY_LEN];
    rng.fill_bytes(&mut key);
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::SeededRng;
    use ctap_types::CtapError;

    #[test]
    fn only_true_and_only_resident() {
        assert_eq!(decode_input(&Value::Bool(true)), Ok(true));
        assert_eq!(
            decode_input(&Value::Bool(false)),
            Err(CtapError::InvalidOption)
        );
        assert_eq!(
            decode_input(&Value::Unsigned(1)),
            Err(CtapError::CborUnexpectedType)
        );
        let mut rng = SeededRng::new(1);
        assert_eq!(generate(&mut rng, false), Err(CtapError::InvalidOption));
        let a = generate(&mut rng, true).unwrap();
        assert_ne!(a, generate(&mut rng, true).unwrap());
    }
}
