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

/// Appends `member: key` to a response map when the credential has a key to return: the
/// makeCredential (§6.1 0x05), getAssertion (§6.2 0x07) and credentialManagement (§6.8.4 0x0B)
/// responses each carry it as a byte string under their own member number.
pub fn push_member(map: &mut Vec<(Value, Value)>, member: u64, key: Option<&[u8; KEY_LEN]>) {
    if let Some(key) = key {
        map.push((Value::Unsigned(member), Value::bytes(key.as_slice())));
    }
}

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
