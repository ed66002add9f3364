//! minPinLength (CTAP 2.1 §12.4): tells selected relying parties the card's minimum PIN length,
//! so an enterprise can check its policy at registration.
//!
//! Only RP IDs on the list set by authenticatorConfig's setMinPINLength (`minPinLengthRPIDs`,
//! §6.11.4; kept in [`crate::state::PinState::min_pin_length_rp_ids`], empty on a
//! fresh card) receive the output; for every other RP the input is ignored.

use ctap_types::cbor::Value;

/// makeCredential's output for `rp_id`, or `None` if it is not on the list.
pub fn output(rp_id: &str, allowed_rp_ids: &[String], min_pin_length: u8) -> Option<Value> {
    allowed_rp_ids
        .iter()
        .any(|allowed| allowed == rp_id)
        .then(|| Value::Unsigned(u64::from(min_pin_length)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_listed_rps() {
        let list = vec!["login.microsoftonline.com".to_owned()];
        assert_eq!(
            output("login.microsoftonline.com", &list, 6),
            Some(Value::Unsigned(6))
        );
        assert_eq!(output("example.com", &list, 6), None);
        assert_eq!(output("example.com", &[], 6), None);
    }
}
