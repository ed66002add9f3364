//! The card's persistent memory: everything that must survive the card leaving the field.
//!
//! [`State`] is what the command handlers see; it is kept as records ([`records`]: one per
//! resident credential, one for each other part) in a [`card_storage::records::RecordStore`],
//! through [`StateStore`], so every change is one atomic transaction (Java Card
//! `beginTransaction` / `commitTransaction`): a command either commits all of its changes — new
//! resident credential *and* advanced signature counter — or, if it fails or the card is pulled
//! mid-write, none of them. A commit writes only the records that changed ([`Residents`]
//! journals the credentials a command touched), so its cost does not grow with the number of
//! credentials. A state of the whole-image format of earlier builds is converted on load
//! ([`legacy`]).
//!
//! Session state (the getNextAssertion queue, the power-up time, NFCCTAP_CONTROL END) is
//! deliberately *not* here; it lives in transient fields of the applet.

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::attestation::AttestationMaterial;
use crate::crypto::{Algorithm, WrappingKey};

pub mod legacy;
pub mod pin;
pub mod records;
mod residents;
mod store;

pub use pin::PinState;
pub use residents::Residents;
pub use store::{StateStore, decode_log, encode_log};

/// The card's persistent state, as the command handlers see it (see the module docs for how it
/// is kept).
#[derive(Clone)]
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
    /// One record each; [`Residents`] journals changes and keeps a transient index by relying
    /// party.
    pub resident: Residents,
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

/// A discoverable credential (CTAP 2.1 §6.1.2 step 17: "store the user entity together with the
/// credential"). Its record is its postcard encoding (see [`records`]).
#[derive(Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct ResidentCredential {
    /// The relying party id (`rp.id`), as received.
    pub rp_id: String,
    /// `rp.name`, kept for credential management.
    pub rp_name: Option<String>,
    /// `user.id`: the key that decides whether a new credential overwrites this one.
    #[serde(with = "bytes")]
    pub user_id: Vec<u8>,
    /// `user.name`; returned only after user verification (§6.2.2).
    pub user_name: Option<String>,
    /// `user.displayName`; returned only after user verification (§6.2.2).
    pub user_display_name: Option<String>,
    /// The credential id handed to the platform (also a sealed blob, see `crypto`).
    #[serde(with = "bytes")]
    pub credential_id: Vec<u8>,
    /// The private key: a P-256 scalar (big-endian) for ES256, the 32-byte seed (RFC 8032
    /// §5.1.5) for EdDSA; which one, `algorithm` says.
    pub private_key: [u8; 32],
    /// Credential flags as sealed in the id (see `crypto::WrappedCredential::flags`).
    pub flags: u8,
    /// Monotonic creation stamp; larger is newer.
    pub creation_order: u64,
    /// The credBlob extension's blob (CTAP 2.1 §12.2), at most 32 bytes.
    #[serde(with = "opt_bytes")]
    pub cred_blob: Option<Vec<u8>>,
    /// The largeBlobKey extension's key (CTAP 2.1 §12.3).
    pub large_blob_key: Option<[u8; 32]>,
    /// The credential's public-key algorithm, stored as its COSE identifier (whole-image schema
    /// 3 on; credentials of older states are ES256).
    #[zeroize(skip)]
    pub algorithm: Algorithm,
}

/// `#[serde(with = "bytes")]` for a `Vec<u8>`: serialized as one byte string rather than a
/// sequence of bytes. postcard writes both as a varint length followed by the bytes, so the
/// stored images are identical (tested below); the byte string is copied whole instead of being
/// pushed byte by byte, in encode and decode.
pub(crate) mod bytes {
    use serde::de::{Deserializer, SeqAccess, Visitor};
    use serde::ser::Serializer;

    pub fn serialize<T, S>(value: &T, serializer: S) -> Result<S::Ok, S::Error>
    where
        T: AsRef<[u8]> + ?Sized,
        S: Serializer,
    {
        serializer.serialize_bytes(value.as_ref())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        deserializer.deserialize_byte_buf(ByteBuf)
    }

    pub(super) struct ByteBuf;

    impl<'de> Visitor<'de> for ByteBuf {
        type Value = Vec<u8>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a byte string")
        }
        fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
            Ok(v.to_vec())
        }
        fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
            Ok(v)
        }
        /// Self-describing formats may hand a sequence of integers.
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
            while let Some(b) = seq.next_element::<u8>()? {
                out.push(b);
            }
            Ok(out)
        }
    }
}

/// `#[serde(with = "opt_bytes")]`: [`bytes`] for an `Option<Vec<u8>>` (same postcard bytes as
/// the plain `Option<Vec<u8>>`).
pub(crate) mod opt_bytes {
    use serde::de::{Deserializer, Visitor};
    use serde::ser::Serializer;

    struct Bytes<'a>(&'a [u8]);

    impl serde::Serialize for Bytes<'_> {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            serializer.serialize_bytes(self.0)
        }
    }

    pub fn serialize<S: Serializer>(
        value: &Option<Vec<u8>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(v) => serializer.serialize_some(&Bytes(v)),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Vec<u8>>, D::Error> {
        deserializer.deserialize_option(OptionVisitor)
    }

    struct OptionVisitor;

    impl<'de> Visitor<'de> for OptionVisitor {
        type Value = Option<Vec<u8>>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an optional byte string")
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            super::bytes::deserialize(d).map(Some)
        }
    }
}

impl State {
    /// A fresh card: a new wrapping key, no credentials, counter zero. Attestation material is
    /// filled in by the applet right after (its generation can fail, `StateStore::open`'s
    /// initializer cannot).
    pub fn fresh(wrapping_key: WrappingKey) -> Self {
        Self {
            wrapping_key,
            attestation: None,
            resident: Residents::default(),
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
        self.resident.for_rp(rp_id).collect()
    }

    /// The resident credential of `rp_id` with this credential id (compared in constant time).
    pub fn find_resident(&self, rp_id: &str, credential_id: &[u8]) -> Option<&ResidentCredential> {
        self.resident
            .for_rp(rp_id)
            .find(|c| crate::crypto::ct_eq(&c.credential_id, credential_id))
    }

    /// Advances the global signature counter and returns the new value. It saturates rather
    /// than wrapping: a counter that went back to zero would look like a cloned authenticator.
    pub fn next_sign_count(&mut self) -> u32 {
        self.sign_count = self.sign_count.saturating_add(1);
        self.sign_count
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::SeededRng;
    use card_storage::records::RecordStore;
    use card_storage::{FaultyStorage, MemoryStorage, StorageError};

    pub(super) fn credential(rp_id: &str, user: &[u8], order: u64) -> ResidentCredential {
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
            algorithm: Algorithm::Es256,
        }
    }

    fn fresh() -> State {
        State::fresh(WrappingKey::generate(&mut SeededRng::new(5)))
    }

    /// Every record of a state, by key: what two states must agree on to be the same.
    fn records_of(state: &State) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut all = records::all_records(state).unwrap();
        all.sort();
        all
    }

    /// The creation orders of `credentials`, in their order.
    fn orders<'a>(credentials: impl IntoIterator<Item = &'a ResidentCredential>) -> Vec<u64> {
        credentials.into_iter().map(|c| c.creation_order).collect()
    }

    fn reload(memory: &MemoryStorage) -> StateStore {
        StateStore::open(Box::new(memory.clone()), || {
            unreachable!("a card was stored")
        })
        .unwrap()
    }

    #[test]
    fn resident_credentials_of_an_rp_come_newest_first() {
        let mut state = fresh();
        state.resident = vec![
            credential("a.example", b"1", 5),
            credential("b.example", b"2", 9),
            credential("a.example", b"3", 7),
            credential("a.example", b"4", 1),
        ]
        .into();
        assert_eq!(orders(state.resident_for_rp("a.example")), vec![7, 5, 1]);
        assert!(state.resident_for_rp("c.example").is_empty());
    }

    #[test]
    fn the_index_follows_every_change_of_the_credentials() {
        let mut state = fresh();
        state.resident.push(credential("a.example", b"1", 1));
        assert_eq!(state.resident_for_rp("a.example").len(), 1);
        // A push keeps the index built by the lookup before it; every other change drops it.
        state.resident.push(credential("a.example", b"2", 2));
        assert_eq!(state.resident_for_rp("a.example")[0].user_id, b"2");
        assert_eq!(state.resident_for_rp("a.example").len(), 2);
        assert!(state.resident.update(0, |c| c.rp_id = "b.example".into()));
        assert_eq!(state.resident_for_rp("a.example").len(), 1);
        assert_eq!(state.resident_for_rp("b.example").len(), 1);
        let id = state.resident[1].credential_id.clone();
        assert!(state.find_resident("a.example", &id).is_some());
        assert!(state.find_resident("b.example", &id).is_none());
        assert!(state.resident.remove(1).is_some());
        assert!(state.find_resident("a.example", &id).is_none());
        assert!(state.resident.replace(0, credential("c.example", b"3", 3)));
        assert!(state.resident_for_rp("b.example").is_empty());
        assert_eq!(state.resident_for_rp("c.example").len(), 1);
        // An order handed out by hand, older than the newest: the index is rebuilt.
        state.resident.push(credential("c.example", b"0", 0));
        assert_eq!(orders(state.resident_for_rp("c.example")), vec![3, 0]);
        state.resident.clear();
        assert!(state.resident_for_rp("c.example").is_empty());
        assert!(state.resident.remove(0).is_none());
        assert!(!state.resident.update(0, |_| {}));
    }

    #[test]
    fn commits_write_only_what_changed_and_reload_exactly() {
        let memory = MemoryStorage::new();
        let mut store = StateStore::open(Box::new(memory.clone()), fresh).unwrap();
        type Edit = Box<dyn Fn(&mut State)>;
        let edits: Vec<(Edit, usize)> = vec![
            (
                Box::new(|s| s.resident.push(credential("a.example", b"1", 1))),
                1,
            ),
            (
                Box::new(|s| {
                    s.next_sign_count();
                }),
                1,
            ),
            (
                Box::new(|s| {
                    s.attestation = Some(AttestationMaterial {
                        key: [1; 32],
                        cert_der: vec![0x30; 400],
                        root_cert_der: vec![0x31; 300],
                    })
                }),
                1,
            ),
            (
                Box::new(|s| {
                    s.resident
                        .update(0, |c| c.user_name = Some("renamed".into()));
                }),
                1,
            ),
            (Box::new(|s| s.large_blob_array = vec![9; 100]), 1),
            (
                Box::new(|s| {
                    s.resident.push(credential("b.example", b"2", 2));
                    s.resident.push(credential("b.example", b"3", 3));
                    s.next_creation_order = 4;
                }),
                3,
            ),
            (
                Box::new(|s| {
                    s.resident.remove(0);
                }),
                1,
            ),
            (
                Box::new(|s| {
                    s.resident.replace(1, credential("b.example", b"3", 4));
                }),
                2,
            ),
            (Box::new(|s| s.pin.retries = 3), 1),
            (Box::new(|s| s.enterprise_attestation = true), 1),
            (
                Box::new(|s| s.wrapping_key = WrappingKey::from_bytes([7; 32])),
                1,
            ),
            (Box::new(|_| {}), 0),
            (
                Box::new(|s| {
                    s.resident.push(credential("c.example", b"5", 5));
                    s.resident.remove(2);
                }),
                0,
            ),
            (Box::new(|s| s.resident.clear()), 2),
        ];
        for (i, (edit, records_written)) in edits.iter().enumerate() {
            let before = memory.image().unwrap().len();
            store
                .transaction(|s: &mut State| {
                    edit(s);
                    Ok::<_, StorageError>(())
                })
                .unwrap();
            let grown = memory.image().unwrap().len() - before;
            // A commit is its entries plus 36 bytes of length and digest; no commit, no bytes.
            let expected_min = if *records_written == 0 { 0 } else { 36 };
            assert!(grown >= expected_min, "edit {i}: {grown} bytes");
            assert!(
                grown <= 36 + records_written * 1200,
                "edit {i}: {grown} bytes for {records_written} records"
            );
            assert_eq!(
                records_of(reload(&memory).get()),
                records_of(store.get()),
                "edit {i}"
            );
        }
        assert!(reload(&memory).get().resident.is_empty());
    }

    #[test]
    fn an_aborted_transaction_restores_the_committed_state_exactly() {
        let memory = MemoryStorage::new();
        let mut store = StateStore::open(Box::new(memory.clone()), fresh).unwrap();
        store
            .transaction(|s: &mut State| {
                for order in 0..5 {
                    s.resident
                        .push(credential("a.example", &[order as u8], order));
                }
                s.next_creation_order = 5;
                Ok::<_, StorageError>(())
            })
            .unwrap();
        let committed = records_of(store.get());
        let list = orders(store.get().resident.iter());
        let image = memory.image();
        let r = store.transaction(|s: &mut State| {
            s.resident.remove(1);
            s.resident.update(2, |c| c.rp_id = "moved.example".into());
            s.resident.push(credential("b.example", b"x", 9));
            s.resident.remove(0);
            s.resident.replace(0, credential("c.example", b"y", 10));
            s.pin.retries = 1;
            s.large_blob_array.clear();
            s.attestation = None;
            s.next_sign_count();
            Err::<(), _>(StorageError::Encode("refused".into()))
        });
        assert!(r.is_err());
        assert_eq!(records_of(store.get()), committed);
        assert_eq!(
            orders(store.get().resident.iter()),
            list,
            "positions too (credential management enumerates by them)"
        );
        assert_eq!(store.get().resident_for_rp("a.example").len(), 5);
        assert_eq!(memory.image(), image);

        // A list put in place whole is aborted (reloaded) and committed (compared) too.
        let r = store.transaction(|s: &mut State| {
            s.resident = vec![credential("z.example", b"z", 77)].into();
            Err::<(), _>(StorageError::Encode("refused".into()))
        });
        assert!(r.is_err());
        assert_eq!(records_of(store.get()), committed);
        store
            .transaction(|s: &mut State| {
                s.resident = vec![credential("z.example", b"z", 77)].into();
                Ok::<_, StorageError>(())
            })
            .unwrap();
        assert_eq!(records_of(reload(&memory).get()), records_of(store.get()));
        assert_eq!(reload(&memory).get().resident.len(), 1);
    }

    #[test]
    fn a_panic_or_a_failed_write_changes_nothing() {
        let memory = MemoryStorage::new();
        drop(StateStore::open(Box::new(memory.clone()), fresh).unwrap());
        // The first write through this store is cut.
        let mut store = StateStore::open(
            Box::new(FaultyStorage::new(memory.clone(), Some(1))),
            || unreachable!(),
        )
        .unwrap();
        let committed = records_of(store.get());
        let r = store.transaction(|s: &mut State| {
            s.resident.push(credential("a.example", b"1", 0));
            s.next_sign_count();
            Ok::<_, StorageError>(())
        });
        assert!(matches!(r, Err(StorageError::PowerCut { .. })));
        assert_eq!(records_of(store.get()), committed);
        assert_eq!(records_of(reload(&memory).get()), committed);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _: Result<(), StorageError> = store.transaction(|s: &mut State| {
                s.resident.push(credential("a.example", b"1", 0));
                panic!("bug in a command");
            });
        }));
        assert!(r.is_err());
        assert_eq!(records_of(store.get()), committed);
        // And it still commits: the next write goes through.
        store
            .transaction(|s: &mut State| {
                s.resident.push(credential("a.example", b"1", 0));
                Ok::<_, StorageError>(())
            })
            .unwrap();
        assert_eq!(reload(&memory).get().resident.len(), 1);
    }

    #[test]
    fn unknown_records_newer_record_versions_and_shared_orders_are_refused() {
        let memory = MemoryStorage::new();
        drop(StateStore::open(Box::new(memory.clone()), fresh).unwrap());
        let good = memory.image();
        let mut records = RecordStore::open(Box::new(memory.clone())).unwrap();
        records
            .commit(&[card_storage::records::Change::Put {
                key: b"from-the-future",
                value: &[1],
            }])
            .unwrap();
        let err = StateStore::open(Box::new(memory.clone()), fresh)
            .err()
            .unwrap();
        assert!(err.to_string().contains("from-the-future"), "{err}");

        memory.set_image(good);
        let mut records = RecordStore::open(Box::new(memory.clone())).unwrap();
        let mut newer = records.get(records::PIN).unwrap().to_vec();
        newer[0] = records::RECORD_VERSION + 1;
        records
            .commit(&[card_storage::records::Change::Put {
                key: records::PIN,
                value: &newer,
            }])
            .unwrap();
        let err = StateStore::open(Box::new(memory.clone()), fresh)
            .err()
            .unwrap();
        assert_eq!(err.versions(), Some((2, 1)), "{err}");
        assert!(err.to_string().contains("record pin"), "{err}");

        let mut state = fresh();
        state.resident = vec![credential("a", b"1", 3), credential("b", b"2", 3)].into();
        assert!(records::all_records(&state).is_err());
    }

    /// The algorithm is stored as its COSE identifier; an unknown identifier does not load.
    #[test]
    fn the_algorithm_is_stored_as_its_cose_identifier() {
        let mut cred = credential("a.example", b"1", 1);
        cred.algorithm = Algorithm::Es256;
        let bytes = postcard::to_allocvec(&cred).unwrap();
        // -7 as a zigzag varint is 13, the last byte.
        assert_eq!(bytes.last(), Some(&13));
        let mut unknown = bytes.clone();
        // -9 (zigzag 17): not an algorithm this build implements.
        *unknown.last_mut().unwrap() = 17;
        assert!(postcard::from_bytes::<ResidentCredential>(&unknown).is_err());
    }

    #[test]
    fn the_counter_saturates() {
        let mut state = fresh();
        assert_eq!(state.next_sign_count(), 1);
        state.sign_count = u32::MAX;
        assert_eq!(state.next_sign_count(), u32::MAX);
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
}
