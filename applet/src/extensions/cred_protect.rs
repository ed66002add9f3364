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

    /// The level as stored in credential flags.
    pub fn level(self) -> u8 {
        self as u8
    }
}

/// The level a credential is created with when makeCredential carries no credProtect input:
/// §12.1, "userVerificationOptional ... This reflects the default behavior for credentials";
/// it is stored as 1 like any other level, so credentialManagement reports it (0x0A).
pub const DEFAULT_LEVEL: u8 = CredProtect::UserVerificationOptional as u8;

/// The credProtect level of credential flags (bits 1-2 of
/// [`crate::crypto::WrappedCredential::flags`]). Credentials made before the default was
/// stored carry 0 there ("none requested"); they read as [`DEFAULT_LEVEL`], which is how they
/// always behaved, so persisted state needs no migration.
pub fn level_of(flags: u8) -> u8 {
    use crate::crypto::WrappedCredential as W;
    match (flags & W::FLAG_CRED_PROTECT_MASK) >> W::FLAG_CRED_PROTECT_SHIFT {
        0 => DEFAULT_LEVEL,
        level => level,
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
    fn stored_levels_default_to_1() {
        use crate::crypto::WrappedCredential as W;
        assert_eq!(
            level_of(W::pack_flags(true, 0, true)),
            1,
            "stored without a level"
        );
        for level in 1..=3 {
            assert_eq!(level_of(W::pack_flags(false, level, false)), level);
        }
    }

    #[test]
    fn inputs() {
        assert_eq!(CredProtect::from_input(2).map(CredProtect::level), Some(2));
        assert_eq!(CredProtect::from_input(0), None);
        assert_eq!(CredProtect::from_input(4), None);
    }
}
