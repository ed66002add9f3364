//! The card's persistent memory: everything that must survive the card leaving the field.
//!
//! One versioned struct ([`State`], schema [`State::VERSION`]) stored through
//! [`apdu::storage::Persistent`], so every change is one atomic transaction (Java Card
//! `beginTransaction` / `commitTransaction`): a command either commits all of its changes — new
//! resident credential *and* advanced signature counter — or, if it fails or the card is pulled
//! mid-write, none of them.
//!
//! Session state (the getNextAssertion queue, the power-up time, NFCCTAP_CONTROL END) is
//! deliberately *not* here; it lives in transient fields of the applet.

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::attestation::AttestationMaterial;
use crate::crypto::WrappingKey;
use crate::ctap::client_pin::PinState;

/// Persistent state, schema version 1.
#[derive(Clone, Serialize, Deserialize)]
pub struct State {
    /// Key that seals non-resident credential ids (and every id this card hands out). Replaced by
    /// authenticatorReset, which is what makes every earlier credential id stop working
    /// (CTAP 2.1 §6.6).
    pub wrapping_key: WrappingKey,
    /// Batch attestation key and certificates. Generated on first start from the profile's
    /// AAGUID and subject; kept across authenticatorReset (attestation identifies the model, not
    /// the owner).
    pub attestation: Option<AttestationMaterial>,
    /// Discoverable (resident) credentials, in no particular order; `creation_order` sorts them.
    pub resident: Vec<ResidentCredential>,
    /// The global signature counter (CTAP 2.1 §6.1 "signCount"; WebAuthn §6.1.1): one counter
    /// for all credentials, so a relying party never learns how often other sites were used.
    pub sign_count: u32,
    /// The next `creation_order` to hand out; never reused, so "newest first" stays exact even
    /// after a credential is overwritten.
    pub next_creation_order: u64,
    /// The PIN (its hash only), retries and the user-verification policy (CTAP 2.1 §6.5).
    pub pin: PinState,
}

/// A discoverable credential (CTAP 2.1 §6.1.2 step 17: "store the user entity together with the
/// credential").
#[derive(Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct ResidentCredential {
    /// The relying party id (`rp.id`), as received.
    pub rp_id: String,
    /// `rp.name`, kept for credential management.
    pub rp_name: Option<String>,
    /// `user.id`: the key that decides whether a new credential overwrites this one.
    pub user_id: Vec<u8>,
    /// `user.name`; returned only after user verification (§6.2.2).
    pub user_name: Option<String>,
    /// `user.displayName`; returned only after user verification (§6.2.2).
    pub user_display_name: Option<String>,
    /// The credential id handed to the platform (also a sealed blob, see `crypto`).
    pub credential_id: Vec<u8>,
    /// The P-256 private scalar.
    pub private_key: [u8; 32],
    /// Credential flags as sealed in the id (see `crypto::WrappedCredential::flags`).
    pub flags: u8,
    /// Monotonic creation stamp; larger is newer.
    pub creation_order: u64,
    /// The credBlob extension's blob (CTAP 2.1 §12.2), at most 32 bytes.
    pub cred_blob: Option<Vec<u8>>,
    /// The largeBlobKey extension's key (CTAP 2.1 §12.3).
    pub large_blob_key: Option<[u8; 32]>,
}

impl State {
    /// A fresh card: a new wrapping key, no credentials, counter zero. Attestation material is
    /// filled in by the applet right after (its generation can fail, `Persistent::open`'s
    /// initializer cannot).
    pub fn fresh(wrapping_key: WrappingKey) -> Self {
        Self {
            wrapping_key,
            attestation: None,
            resident: Vec::new(),
            sign_count: 0,
            next_creation_order: 0,
            pin: PinState::default(),
        }
    }

    /// Resident credentials of one relying party, newest first (§6.2.2 step 7 orders the
    /// discoverable credentials by most recent creation).
    pub fn resident_for_rp<'a>(&'a self, rp_id: &str) -> Vec<&'a ResidentCredential> {
        let mut found: Vec<&ResidentCredential> =
            self.resident.iter().filter(|c| c.rp_id == rp_id).collect();
        found.sort_by_key(|c| std::cmp::Reverse(c.creation_order));
        found
    }

    /// Advances the global signature counter and returns the new value. It saturates rather
    /// than wrapping: a counter that went back to zero would look like a cloned authenticator.
    pub fn next_sign_count(&mut self) -> u32 {
        self.sign_count = self.sign_count.saturating_add(1);
        self.sign_count
    }
}

impl apdu::storage::Schema for State {
    const VERSION: u16 = 1;

    fn migrate(version: u16, _payload: &[u8]) -> Result<Self, String> {
        Err(format!(
            "no migration from schema version {version} to {}",
            Self::VERSION
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::SeededRng;
    use apdu::storage::{MemoryStorage, Persistent};

    fn credential(rp_id: &str, user: &[u8], order: u64) -> ResidentCredential {
        ResidentCredential {
            rp_id: rp_id.into(),
            rp_name: None,
            user_id: user.to_vec(),
            user_name: Some("n".into()),
            user_display_name: None,
            credential_id: vec![order as u8; 4],
            private_key: [order as u8; 32],
            flags: crate::crypto::WrappedCredential::FLAG_DISCOVERABLE,
            creation_order: order,
            cred_blob: None,
            large_blob_key: None,
        }
    }

    #[test]
    fn resident_credentials_of_an_rp_come_newest_first() {
        let mut state = State::fresh(WrappingKey::generate(&mut SeededRng::new(1)));
        state.resident = vec![
            credential("a.example", b"1", 5),
            credential("b.example", b"2", 9),
            credential("a.example", b"3", 7),
            credential("a.example", b"4", 1),
        ];
        let order: Vec<u64> = state
            .resident_for_rp("a.example")
            .iter()
            .map(|c| c.creation_order)
            .collect();
        assert_eq!(order, vec![7, 5, 1]);
        assert!(state.resident_for_rp("c.example").is_empty());
    }

    #[test]
    fn the_counter_saturates() {
        let mut state = State::fresh(WrappingKey::generate(&mut SeededRng::new(1)));
        assert_eq!(state.next_sign_count(), 1);
        state.sign_count = u32::MAX;
        assert_eq!(state.next_sign_count(), u32::MAX);
    }

    #[test]
    fn state_round_trips_through_persistent_memory() {
        let storage = MemoryStorage::new();
        let mut p = Persistent::open(Box::new(storage.clone()), || {
            State::fresh(WrappingKey::generate(&mut SeededRng::new(2)))
        })
        .unwrap();
        p.transaction(|s: &mut State| {
            s.resident.push(credential("a.example", b"1", 0));
            s.sign_count = 42;
            Ok::<(), apdu::storage::StorageError>(())
        })
        .unwrap();
        let again = Persistent::<State>::open(Box::new(storage), || unreachable!()).unwrap();
        assert_eq!(again.get().sign_count, 42);
        assert_eq!(again.get().resident.len(), 1);
        assert_eq!(again.get().resident[0].user_name.as_deref(), Some("n"));
        assert!(again.get().wrapping_key == p.get().wrapping_key);
    }
}
