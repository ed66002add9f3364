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

/// Persistent state, schema version 2 (version 1 lacked the last two fields; [`State::migrate`]
/// upgrades it).
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
    /// The serialized large-blob array with its trailing 16-byte truncated SHA-256 (CTAP 2.1
    /// §6.10.1), exactly as authenticatorLargeBlobs hands it out; starts as
    /// [`initial_large_blob_array`].
    pub large_blob_array: Vec<u8>,
    /// authenticatorConfig enableEnterpriseAttestation was run (CTAP 2.1 §6.11.1, §7.1);
    /// authenticatorReset clears it.
    pub enterprise_attestation: bool,
}

/// The initial serialized large-blob array (CTAP 2.1 §6.10.1): the empty CBOR array `0x80`
/// followed by `LEFT(SHA-256(0x80), 16)`.
pub fn initial_large_blob_array() -> Vec<u8> {
    let mut array = vec![0x80];
    array.extend_from_slice(&crate::crypto::sha256(&[0x80])[..16]);
    array
}

/// Schema version 1, kept only to decode an older image (`postcard` is not self-describing, so
/// the old layout must be spelt out field by field).
#[derive(Clone, Serialize, Deserialize)]
struct StateV1 {
    wrapping_key: WrappingKey,
    attestation: Option<AttestationMaterial>,
    resident: Vec<ResidentCredential>,
    sign_count: u32,
    next_creation_order: u64,
    pin: PinState,
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
            large_blob_array: initial_large_blob_array(),
            enterprise_attestation: false,
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
    const VERSION: u16 = 2;

    /// Version 1 (before large blobs and enterprise attestation) gains the initial large-blob
    /// array and enterprise attestation off, as a fresh card has them.
    fn migrate(version: u16, payload: &[u8]) -> Result<Self, String> {
        match version {
            1 => {
                let old: StateV1 = postcard::from_bytes(payload)
                    .map_err(|e| format!("schema version 1 payload does not decode: {e}"))?;
                Ok(Self {
                    wrapping_key: old.wrapping_key,
                    attestation: old.attestation,
                    resident: old.resident,
                    sign_count: old.sign_count,
                    next_creation_order: old.next_creation_order,
                    pin: old.pin,
                    large_blob_array: initial_large_blob_array(),
                    enterprise_attestation: false,
                })
            }
            _ => Err(format!(
                "no migration from schema version {version} to {}",
                Self::VERSION
            )),
        }
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
    fn a_version_1_image_is_migrated() {
        /// A schema-version-1 card, as the previous build wrote it.
        #[derive(Clone, Serialize, Deserialize)]
        struct V1(StateV1);
        impl apdu::storage::Schema for V1 {
            const VERSION: u16 = 1;
        }
        use apdu::storage::Schema;
        let key = WrappingKey::generate(&mut SeededRng::new(3));
        let mut pin = PinState::default();
        pin.retries = 6;
        let old = V1(StateV1 {
            wrapping_key: key.clone(),
            attestation: None,
            resident: vec![credential("a.example", b"1", 4)],
            sign_count: 17,
            next_creation_order: 5,
            pin,
        });
        let image = apdu::storage::encode_image(&old).unwrap();
        let state: State = apdu::storage::decode_image(&image, "test").unwrap();
        assert!(state.wrapping_key == key);
        assert_eq!(state.resident.len(), 1);
        assert_eq!(state.sign_count, 17);
        assert_eq!(state.next_creation_order, 5);
        assert_eq!(state.pin.retries, 6);
        assert_eq!(state.large_blob_array, initial_large_blob_array());
        assert!(!state.enterprise_attestation);
        // A payload that does not decode, and versions from the future, are refused.
        assert!(State::migrate(1, &[0xFF; 3]).is_err());
        assert!(State::migrate(3, &[]).is_err());
    }

    #[test]
    fn the_initial_large_blob_array_is_the_empty_array_and_its_checksum() {
        let array = initial_large_blob_array();
        assert_eq!(array.len(), 17);
        assert_eq!(array[0], 0x80);
        // LEFT(SHA-256(0x80), 16), CTAP 2.1 §6.10.1.
        assert_eq!(
            array[1..],
            apdu::hex_decode("76be8b528d0075f7aae98d6fa57a6d3c").unwrap()
        );
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
