//! credProtect (CTAP 2.1 §12.1): how much user verification a credential needs before the card
//! reveals it.
//!
//! The level is chosen at makeCredential and kept in the credential's flags (bits 1-2 of
//! [`crate::crypto::WrappedCredential::flags`], sealed inside the credential id and copied into
//! a resident credential's record). getAssertion enforces it:
//!
//! | level | without UV | with UV |
//! |---|---|---|
//! | 1 userVerificationOptional | found | found |
//! | 2 userVerificationOptionalWithCredentialIDList | found only through the allowList | found |
//! | 3 userVerificationRequired | never found | found |
//!
//! A hidden credential behaves exactly as an unknown one (CTAP2_ERR_NO_CREDENTIALS), so a
//! stolen card tells nobody which accounts it holds.

/// The extension identifier.
pub const ID: &str = "credProtect";

/// A credProtect level (§12.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum CredProtect {
    UserVerificationOptional = 1,
    UserVerificationOptionalWithCredentialIdList = 2,
    UserVerificationRequired = 3,
}

impl CredProtect {
    /// The level of a makeCredential input; values other than 1-3 are ignored (no output, no
    /// protection), as §12.1 defines only these.
    pub fn from_input(n: u64) -> Option<Self> {
        match n {
            1 => Some(Self::UserVerificationOptional),
            2 => Some(Self::UserVerificationOptionalWithCredentialIdList),
            3 => Some(Self::UserVerificationRequired),
            _ => None,
        }
    }

    /// The level as stored in credential flags (0 = none requested, which behaves as 1).
    pub fn level(self) -> u8 {
        self as u8
    }
}

/// getAssertion's rule (§6.2.2 step 7, §12.1): may a credential with stored level `level` be
/// used, given whether UV was performed and whether it was named in the allowList?
pub fn allows(level: u8, uv: bool, in_allow_list: bool) -> bool {
    match level {
        3 => uv,
        2 => uv || in_allow_list,
        _ => true,
    }
}

/// makeCredential's excludeList rule (§6.1.2 step 11): a userVerificationRequired credential
/// only excludes when UV was performed; otherwise the card pretends not to know it.
pub fn excludes(level: u8, uv: bool) -> bool {
    level != 3 || uv
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visibility_table() {
        for level in [0, 1] {
            assert!(allows(level, false, false));
            assert!(allows(level, false, true));
        }
        assert!(!allows(2, false, false));
        assert!(allows(2, false, true));
        assert!(allows(2, true, false));
        assert!(!allows(3, false, true));
        assert!(allows(3, true, false));
        assert!(excludes(2, false));
        assert!(!excludes(3, false));
        assert!(excludes(3, true));
    }

    #[test]
    fn inputs() {
        assert_eq!(CredProtect::from_input(2).map(CredProtect::level), Some(2));
        assert_eq!(CredProtect::from_input(0), None);
        assert_eq!(CredProtect::from_input(4), None);
    }
}
