//! The persistent part of user verification (CTAP 2.1 §6.5): the PIN hash, the retry counter and
//! the policy around them (minimum length, forcePINChange, alwaysUv). Card state, kept in
//! [`super::State`] and wiped by authenticatorReset (§6.6); the clientPIN and authenticatorConfig
//! commands change it, [`crate::ctap::client_pin`] and [`crate::ctap::config`].

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Retries of a fresh PIN (§6.5.2.2 "maximum of 8").
pub const MAX_PIN_RETRIES: u8 = 8;
/// The minimum PIN length in Unicode code points, unless the profile or authenticatorConfig
/// raises it (§6.5.1 "at least 4").
pub const MIN_PIN_LENGTH: u8 = 4;
/// Length of the stored PIN hash: LEFT(SHA-256(PIN), 16).
pub const PIN_HASH_LEN: usize = 16;

/// The persistent part of user verification: the PIN and the policy around it. Kept in
/// [`super::State`]; wiped by authenticatorReset (§6.6).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct PinState {
    /// LEFT(SHA-256(PIN), 16), or `None` when no PIN is set. Never the PIN itself.
    pub pin_hash: Option<[u8; PIN_HASH_LEN]>,
    /// The current PIN's length in code points (authenticatorConfig's setMinPINLength compares
    /// it with a new minimum to decide forcePINChange, §6.11.4).
    pub pin_code_points: u8,
    /// Attempts left (getPINRetries); 0 means blocked until reset.
    pub retries: u8,
    /// The minimum PIN length set by authenticatorConfig (§6.11.4); the profile's value is a
    /// floor under it.
    pub min_pin_length: u8,
    /// getInfo `forcePINChange`: a token is refused until the PIN is changed (§6.5.5.7).
    pub force_pin_change: bool,
    /// RP IDs that may read the minimum PIN length through the minPinLength extension (§12.4).
    pub min_pin_length_rp_ids: Vec<String>,
    /// getInfo `alwaysUv` (§6.11.2, toggled by authenticatorConfig): every makeCredential and
    /// getAssertion needs user verification.
    pub always_uv: bool,
}

impl Default for PinState {
    fn default() -> Self {
        Self {
            pin_hash: None,
            pin_code_points: 0,
            retries: MAX_PIN_RETRIES,
            min_pin_length: MIN_PIN_LENGTH,
            force_pin_change: false,
            min_pin_length_rp_ids: Vec::new(),
            always_uv: false,
        }
    }
}

impl PinState {
    /// getInfo `clientPin: true`.
    pub fn is_set(&self) -> bool {
        self.pin_hash.is_some()
    }
}
