//! The pinUvAuthToken and its state (CTAP 2.1 §6.5.2.1 "pinUvAuthToken State", §6.5.2.2
//! "pinUvAuthToken usage").
//!
//! The token is 32 random bytes, regenerated at every power-up, on authenticatorReset, on a PIN
//! change and every time one is handed out (§6.5.5.7 calls `resetPinUvAuthToken()` before
//! `beginUsingPinUvAuthToken()`). A platform proves it holds the token by sending
//! `pinUvAuthParam = authenticate(token, message)` with a command; what the token may do is
//! decided by the state kept here:
//!
//! - **permissions** (§6.5.5.7: mc 0x01, ga 0x02, cm 0x04, be 0x08, lbw 0x10, acfg 0x20) and an
//!   optional **permissions RP ID** the mc/ga permissions are bound to (bound at first use when
//!   the platform gave none);
//! - the **userVerified** flag (set when the token was obtained with the PIN) and the
//!   **userPresent** flag (never set by a PIN: a PIN proves knowledge, not presence);
//! - the **usage timers**: a token not used within [`INITIAL_USAGE_TIME_LIMIT_MS`] of its
//!   issue, or older than [`MAX_USAGE_TIME_PERIOD_MS`], stops being in use.
//!
//! makeCredential and getAssertion with user presence *consume* the token: they clear the
//! userPresent and userVerified flags and every permission but lbw (§6.1.2 step 14.4, §6.2.2
//! step 9.4), so one PIN entry authorizes one ceremony. The token lives in RAM only; a power cut
//! ends it, as it ends a contactless card's session.

use ctap_types::permission;
use zeroize::{Zeroize, Zeroizing};

use crate::pin_protocol::PinProtocol;
use crate::platform::Rng;

/// Length of a pinUvAuthToken (CTAP 2.1 §6.5.2.1: "a random 32-byte value").
pub const TOKEN_LEN: usize = 32;

/// A token that is not used within this time of being issued stops being in use
/// (§6.5.2.1 "initialUsageTimeLimit": 30 seconds by default).
pub const INITIAL_USAGE_TIME_LIMIT_MS: u64 = 30_000;

/// The userPresent flag expires after this time (§6.5.2.1 "userPresentTimeLimit").
pub const USER_PRESENT_TIME_LIMIT_MS: u64 = 30_000;

/// A token stops being in use this long after it was issued, used or not
/// (§6.5.2.1 "maxUsageTimePeriod": 10 minutes suggested).
pub const MAX_USAGE_TIME_PERIOD_MS: u64 = 600_000;

/// The pinUvAuthToken and its state (§6.5.2.1). Lives in transient memory.
pub struct PinUvAuthToken {
    token: Zeroizing<[u8; TOKEN_LEN]>,
    /// `Some` while the token is in use: what it may do and since when.
    in_use: Option<InUse>,
}

/// The state of a token in use.
#[derive(Clone, Debug, PartialEq, Eq)]
struct InUse {
    /// The protocol the token was handed out under; `pinUvAuthParam`s under the other protocol
    /// do not verify (each protocol has its own token in §6.5.4's model).
    protocol: PinProtocol,
    permissions: u8,
    rp_id: Option<String>,
    user_present: bool,
    user_verified: bool,
    issued_at_ms: u64,
    used: bool,
}

impl PinUvAuthToken {
    /// A fresh token, not in use (§6.5.4 `initialize()`: power-up).
    pub fn new(rng: &mut dyn Rng) -> Self {
        let mut token = Zeroizing::new([0u8; TOKEN_LEN]);
        rng.fill_bytes(token.as_mut());
        Self {
            token,
            in_use: None,
        }
    }

    /// `resetPinUvAuthToken()`: new random bytes; the token is no longer in use.
    pub fn reset(&mut self, rng: &mut dyn Rng) {
        rng.fill_bytes(self.token.as_mut());
        self.stop_using();
    }

    /// The token's bytes, to encrypt for the platform.
    pub fn bytes(&self) -> &[u8; TOKEN_LEN] {
        &self.token
    }

    /// `beginUsingPinUvAuthToken(userIsPresent)` with the permissions and permissions RP ID of
    /// the request; starts the usage timers at `now_ms`.
    pub fn begin_using(
        &mut self,
        protocol: PinProtocol,
        user_is_present: bool,
        permissions: u8,
        rp_id: Option<String>,
        now_ms: u64,
    ) {
        self.in_use = Some(InUse {
            protocol,
            permissions,
            rp_id,
            user_present: user_is_present,
            user_verified: true,
            issued_at_ms: now_ms,
            used: false,
        });
    }

    /// `stopUsingPinUvAuthToken()`: no permissions, no RP ID, flags false, timers stopped.
    pub fn stop_using(&mut self) {
        if let Some(mut state) = self.in_use.take() {
            state.rp_id.zeroize();
        }
    }

    /// `pinUvAuthTokenUsageTimerObserver()`: applies the time limits at `now_ms`. Called before
    /// every use.
    pub fn observe(&mut self, now_ms: u64) {
        let Some(state) = self.in_use.as_mut() else {
            return;
        };
        let age = now_ms.saturating_sub(state.issued_at_ms);
        if age > USER_PRESENT_TIME_LIMIT_MS {
            state.user_present = false;
        }
        let expired =
            age > MAX_USAGE_TIME_PERIOD_MS || (!state.used && age > INITIAL_USAGE_TIME_LIMIT_MS);
        if expired {
            self.stop_using();
        }
    }

    /// Whether a token is in use (after [`PinUvAuthToken::observe`]).
    pub fn in_use(&self) -> bool {
        self.in_use.is_some()
    }

    /// `verify(pinUvAuthToken, message, pinUvAuthParam)` under `protocol`, constant-time. False
    /// when no token is in use or it was issued under the other protocol. A successful
    /// verification counts as the token's first use (it stops the initial usage timer).
    pub fn verify(&mut self, protocol: PinProtocol, message: &[u8], param: &[u8]) -> bool {
        let Some(state) = self.in_use.as_mut() else {
            return false;
        };
        if state.protocol != protocol {
            return false;
        }
        let ok = protocol.verify(self.token.as_ref(), message, param);
        if ok {
            state.used = true;
        }
        ok
    }

    /// Whether the token in use has every bit of `permission`.
    pub fn has_permission(&self, permission: u8) -> bool {
        self.in_use
            .as_ref()
            .is_some_and(|s| permission != 0 && s.permissions & permission == permission)
    }

    /// The permissions of the token in use (0 when none is).
    pub fn permissions(&self) -> u8 {
        self.in_use.as_ref().map_or(0, |s| s.permissions)
    }

    /// The permissions RP ID, if the token in use has one.
    pub fn rp_id(&self) -> Option<&str> {
        self.in_use.as_ref().and_then(|s| s.rp_id.as_deref())
    }

    /// §6.1.2 step 11.3 / 11.5, §6.2.2 step 6.3 / 6.5: a token bound to another RP ID fails;
    /// an unbound token gets bound to `rp_id`. Returns false on a mismatch (or no token).
    pub fn bind_or_match_rp_id(&mut self, rp_id: &str) -> bool {
        let Some(state) = self.in_use.as_mut() else {
            return false;
        };
        match &state.rp_id {
            Some(bound) => bound == rp_id,
            None => {
                state.rp_id = Some(rp_id.to_owned());
                true
            }
        }
    }

    /// `getUserPresentFlagValue()`.
    pub fn user_present(&self) -> bool {
        self.in_use.as_ref().is_some_and(|s| s.user_present)
    }

    /// `getUserVerifiedFlagValue()`.
    pub fn user_verified(&self) -> bool {
        self.in_use.as_ref().is_some_and(|s| s.user_verified)
    }

    /// `clearUserPresentFlag()`.
    pub fn clear_user_present(&mut self) {
        if let Some(state) = self.in_use.as_mut() {
            state.user_present = false;
        }
    }

    /// `clearUserVerifiedFlag()`.
    pub fn clear_user_verified(&mut self) {
        if let Some(state) = self.in_use.as_mut() {
            state.user_verified = false;
        }
    }

    /// `clearPinUvAuthTokenPermissionsExceptLbw()`.
    pub fn clear_permissions_except_lbw(&mut self) {
        if let Some(state) = self.in_use.as_mut() {
            state.permissions &= permission::LARGE_BLOB_WRITE;
        }
    }

    /// What makeCredential and getAssertion do after collecting user presence with a token
    /// (§6.1.2 step 14.4, §6.2.2 step 9.4): the cached UP and UV are consumed, and so are all
    /// permissions but lbw. No-op when no token is in use.
    pub fn consume_after_presence(&mut self) {
        self.clear_user_present();
        self.clear_user_verified();
        self.clear_permissions_except_lbw();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::SeededRng;

    fn token() -> (PinUvAuthToken, SeededRng) {
        let mut rng = SeededRng::new(11);
        (PinUvAuthToken::new(&mut rng), rng)
    }

    #[test]
    fn verifies_only_while_in_use_and_under_its_protocol() {
        let (mut t, mut rng) = token();
        let param = PinProtocol::V2.authenticate(t.bytes(), b"cdh");
        assert!(!t.verify(PinProtocol::V2, b"cdh", &param), "not in use yet");
        t.begin_using(PinProtocol::V2, false, permission::GET_ASSERTION, None, 0);
        assert!(t.verify(PinProtocol::V2, b"cdh", &param));
        assert!(!t.verify(PinProtocol::V2, b"cdx", &param));
        let v1 = PinProtocol::V1.authenticate(t.bytes(), b"cdh");
        assert!(
            !t.verify(PinProtocol::V1, b"cdh", &v1),
            "issued under protocol 2"
        );
        let old = *t.bytes();
        t.reset(&mut rng);
        assert_ne!(old, *t.bytes());
        assert!(!t.in_use());
        assert!(!t.verify(PinProtocol::V2, b"cdh", &param));
    }

    #[test]
    fn permissions_and_rp_binding() {
        let (mut t, _) = token();
        t.begin_using(
            PinProtocol::V1,
            false,
            0x03 | permission::LARGE_BLOB_WRITE,
            None,
            0,
        );
        assert!(t.has_permission(permission::MAKE_CREDENTIAL));
        assert!(t.has_permission(permission::GET_ASSERTION));
        assert!(!t.has_permission(permission::CREDENTIAL_MANAGEMENT));
        assert!(!t.has_permission(0));
        assert!(t.user_verified());
        assert!(!t.user_present());
        assert!(t.bind_or_match_rp_id("example.com"));
        assert_eq!(t.rp_id(), Some("example.com"));
        assert!(!t.bind_or_match_rp_id("evil.com"));
        assert!(t.bind_or_match_rp_id("example.com"));
        t.consume_after_presence();
        assert!(!t.user_verified());
        assert_eq!(t.permissions(), permission::LARGE_BLOB_WRITE);
        assert!(t.in_use());
    }

    #[test]
    fn timers() {
        let (mut t, _) = token();
        t.begin_using(PinProtocol::V2, true, 1, None, 1_000);
        t.observe(1_000 + INITIAL_USAGE_TIME_LIMIT_MS);
        assert!(t.in_use() && t.user_present());
        t.observe(1_001 + INITIAL_USAGE_TIME_LIMIT_MS);
        assert!(
            !t.in_use(),
            "never used within the initial usage time limit"
        );

        t.begin_using(PinProtocol::V2, true, 1, None, 0);
        let param = PinProtocol::V2.authenticate(t.bytes(), b"m");
        assert!(t.verify(PinProtocol::V2, b"m", &param));
        t.observe(USER_PRESENT_TIME_LIMIT_MS + 1);
        assert!(t.in_use(), "used: only the max usage period ends it");
        assert!(!t.user_present());
        t.observe(MAX_USAGE_TIME_PERIOD_MS + 1);
        assert!(!t.in_use());
        assert!(!t.user_verified());
        assert_eq!(t.permissions(), 0);
    }
}
