//! authenticatorReset (CTAP 2.1 §6.6): back to factory state.
//!
//! Allowed only within 10 seconds of power-up (on a contactless card: of entering the field), so
//! malware on a host the card is left on cannot wipe it later, and only with user presence. It
//! deletes every resident credential, zeroes the signature counter and replaces the wrapping key
//! — so every non-resident credential id handed out before stops unwrapping (and every
//! hmac-secret, derived from that key, changes). It also clears the PIN, its retries and the
//! user-verification policy (alwaysUv back to the profile's default, the minimum PIN length and
//! its RP list), empties the large-blob array (§6.10.1 initial value), disables enterprise
//! attestation (§7.1), and regenerates the key-agreement key and the pinUvAuthToken (§6.5.4).
//! The attestation material stays: it identifies the model, not the owner.

use super::Authenticator;
use crate::crypto::WrappingKey;
use crate::state::PinState;
use crate::state::{State, initial_large_blob_array};
use ctap_types::{CtapError, CtapResult};

/// How long after power-up authenticatorReset is accepted (§6.6).
pub const RESET_WINDOW_MS: u64 = 10_000;

pub fn process(auth: &mut Authenticator) -> CtapResult<()> {
    // The window is judged when the request arrived: a reset waiting for the user's touch
    // (crate::presence) is not refused for the time the user took.
    let arrived = auth.arrived_ms;
    match auth.powered_at_ms {
        Some(at) if arrived.saturating_sub(at) <= RESET_WINDOW_MS => {}
        _ => return Err(CtapError::NotAllowed),
    }
    auth.check_user_presence()?;
    let wrapping_key = WrappingKey::generate(&mut *auth.platform.rng);
    let always_uv = auth.profile.options.always_uv;
    auth.store.transaction(|state: &mut State| {
        state.wrapping_key = wrapping_key;
        state.resident.clear();
        state.sign_count = 0;
        state.pin = PinState::default();
        state.pin.always_uv = always_uv;
        state.large_blob_array = initial_large_blob_array();
        state.enterprise_attestation = false;
        Ok::<(), CtapError>(())
    })?;
    auth.session.large_blob_write = None;
    auth.client_pin
        .power_up(auth.crypto, &mut *auth.platform.rng);
    auth.forget_signers();
    Ok(())
}
