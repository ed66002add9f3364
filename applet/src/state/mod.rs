//! The card's persistent memory: everything that must survive the card leaving the field.
//!
//! One versioned struct ([`State`], schema [`State::VERSION`]) stored through
//! [`card_storage::Persistent`], so every change is one atomic transaction (Java Card
//! `beginTransaction` / `commitTransaction`): a command either commits all of its changes — new
//! resident credential *and* advanced signature counter — or, if it fails or the card is pulled
//! mid-write, none of them.
//!
//! Session state (the getNextAssertion queue, the power-up time, NFCCTAP_CONTROL END) is
//! deliberately *not* here; it lives in transient fields of the applet.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Mutex, OnceLock};

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::attestation::AttestationMaterial;
use crate::crypto::{Algorithm, WrappingKey};

pub mod pin;

pub use pin::PinState;

/// Persistent state, schema version 3. Version 1 lacked the last two fields; version 2 stored
/// no algorithm with a resident credential (every one was ES256); [`State::migrate`] upgrades
/// both.
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
    /// Stored exactly as a `Vec<ResidentCredential>`; [`Residents`] adds a transient index by
    /// relying party.
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
    #[serde(with = "bytes")]
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
    resident: Vec<ResidentCredentialV2>,
    sign_count: u32,
    next_creation_order: u64,
    pin: PinState,
}

/// Schema version 2, kept only to decode an older image: [`State`] with resident credentials
/// of the version-2 layout.
#[derive(Clone, Serialize, Deserialize)]
struct StateV2 {
    wrapping_key: WrappingKey,
    attestation: Option<AttestationMaterial>,
    resident: Vec<ResidentCredentialV2>,
    sign_count: u32,
    next_creation_order: u64,
    pin: PinState,
    #[serde(with = "bytes")]
    large_blob_array: Vec<u8>,
    enterprise_attestation: bool,
}

/// A resident credential as schema versions 1 and 2 stored it: no algorithm, the key is a P-256
/// scalar (ES256, the only algorithm those builds had).
#[derive(Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
struct ResidentCredentialV2 {
    rp_id: String,
    rp_name: Option<String>,
    #[serde(with = "bytes")]
    user_id: Vec<u8>,
    user_name: Option<String>,
    user_display_name: Option<String>,
    #[serde(with = "bytes")]
    credential_id: Vec<u8>,
    private_key: [u8; 32],
    flags: u8,
    creation_order: u64,
    #[serde(with = "opt_bytes")]
    cred_blob: Option<Vec<u8>>,
    large_blob_key: Option<[u8; 32]>,
}

impl From<&ResidentCredentialV2> for ResidentCredential {
    fn from(old: &ResidentCredentialV2) -> Self {
        Self {
            rp_id: old.rp_id.clone(),
            rp_name: old.rp_name.clone(),
            user_id: old.user_id.clone(),
            user_name: old.user_name.clone(),
            user_display_name: old.user_display_name.clone(),
            credential_id: old.credential_id.clone(),
            private_key: old.private_key,
            flags: old.flags,
            creation_order: old.creation_order,
            cred_blob: old.cred_blob.clone(),
            large_blob_key: old.large_blob_key,
            algorithm: Algorithm::Es256,
        }
    }
}

/// The resident credentials of an older image in the current layout.
fn upgrade_residents(old: &[ResidentCredentialV2]) -> Residents {
    old.iter()
        .map(ResidentCredential::from)
        .collect::<Vec<_>>()
        .into()
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
    /// The credential's public-key algorithm (since schema version 3; older credentials are
    /// ES256).
    #[zeroize(skip)]
    pub algorithm: Algorithm,
}

/// The resident credentials: serialized exactly as the `Vec<ResidentCredential>` it wraps (so
/// the stored layout is that of schema version 2), plus a transient index of positions by
/// relying party, newest first. The index is built on the first lookup and dropped by every
/// mutable access ([`DerefMut`](std::ops::DerefMut)), so it cannot go stale: a transaction that
/// changes the credentials, a load and a rollback (which decodes a fresh value) all rebuild it,
/// while the signature counter bump of an assertion leaves it alone.
///
/// It also remembers where its encoding sits in the payload of the image the last commit wrote
/// (see [`State`]'s `encode_payload`), forgotten likewise by every mutable access, by a clone
/// and by a decode, so that a commit that did not touch the credentials copies their bytes
/// instead of encoding them again.
#[derive(Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Residents {
    list: Vec<ResidentCredential>,
    #[serde(skip)]
    index: OnceLock<HashMap<String, Vec<usize>>>,
    #[serde(skip)]
    committed_at: Mutex<Option<Range<usize>>>,
}

impl Clone for Residents {
    /// The clone is not the committed value: it keeps the index, not the committed position.
    fn clone(&self) -> Self {
        Self {
            list: self.list.clone(),
            index: self.index.clone(),
            committed_at: Mutex::new(None),
        }
    }
}

impl Residents {
    /// Positions in the list by relying party id, each list newest first.
    fn index(&self) -> &HashMap<String, Vec<usize>> {
        self.index.get_or_init(|| {
            let mut index: HashMap<String, Vec<usize>> = HashMap::new();
            for (i, c) in self.list.iter().enumerate() {
                match index.get_mut(c.rp_id.as_str()) {
                    Some(positions) => positions.push(i),
                    None => {
                        index.insert(c.rp_id.clone(), vec![i]);
                    }
                }
            }
            for positions in index.values_mut() {
                positions.sort_by_key(|&i| std::cmp::Reverse(self.list[i].creation_order));
            }
            index
        })
    }

    /// The credentials of `rp_id`, newest first.
    pub fn for_rp<'a>(&'a self, rp_id: &str) -> impl Iterator<Item = &'a ResidentCredential> + 'a {
        self.positions(rp_id)
            .iter()
            .filter_map(|&i| self.list.get(i))
    }

    /// The position in the list of the newest credential of `rp_id` that satisfies `pred`.
    pub fn position_in_rp(
        &self,
        rp_id: &str,
        mut pred: impl FnMut(&ResidentCredential) -> bool,
    ) -> Option<usize> {
        self.positions(rp_id)
            .iter()
            .copied()
            .find(|&i| self.list.get(i).is_some_and(&mut pred))
    }

    fn positions(&self, rp_id: &str) -> &[usize] {
        self.index()
            .get(rp_id)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }
}

impl From<Vec<ResidentCredential>> for Residents {
    fn from(list: Vec<ResidentCredential>) -> Self {
        Self {
            list,
            ..Self::default()
        }
    }
}

impl std::ops::Deref for Residents {
    type Target = Vec<ResidentCredential>;
    fn deref(&self) -> &Self::Target {
        &self.list
    }
}

impl std::ops::DerefMut for Residents {
    /// Any mutable access may change the credentials: the index is dropped.
    fn deref_mut(&mut self) -> &mut Self::Target {
        self.index.take();
        *self
            .committed_at
            .get_mut()
            .unwrap_or_else(|p| p.into_inner()) = None;
        &mut self.list
    }
}

impl<'a> IntoIterator for &'a Residents {
    type Item = &'a ResidentCredential;
    type IntoIter = std::slice::Iter<'a, ResidentCredential>;
    fn into_iter(self) -> Self::IntoIter {
        self.list.iter()
    }
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
    /// filled in by the applet right after (its generation can fail, `Persistent::open`'s
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

/// The fields of [`State`] before `resident`, in order, for [`State`]'s `encode_payload`
/// (postcard encodes a struct as the concatenation of its fields).
#[derive(Serialize)]
struct Head<'a> {
    wrapping_key: &'a WrappingKey,
    attestation: &'a Option<AttestationMaterial>,
}

/// The fields of [`State`] after `resident`, in order.
#[derive(Serialize)]
struct Tail<'a> {
    sign_count: u32,
    next_creation_order: u64,
    pin: &'a PinState,
    #[serde(with = "bytes")]
    large_blob_array: &'a Vec<u8>,
    enterprise_attestation: bool,
}

impl card_storage::Schema for State {
    const VERSION: u16 = 3;

    /// A commit that left the resident credentials alone (the signature counter bump of every
    /// assertion) copies their bytes from the committed image instead of encoding them again:
    /// the same bytes, at a fraction of the cost. [`Residents`] knows where they are only when
    /// the committed image is the one this value was encoded into by the last commit (mutable
    /// access, clone, decode and the rollback of a failed commit, which decodes, all forget it).
    fn encode_payload(
        &self,
        committed: Option<&[u8]>,
        out: &mut Vec<u8>,
    ) -> Result<(), card_storage::StorageError> {
        use card_storage::encode_postcard;
        let Some(committed) = committed else {
            return encode_postcard(self, out);
        };
        let start = out.len();
        encode_postcard(
            &Head {
                wrapping_key: &self.wrapping_key,
                attestation: &self.attestation,
            },
            out,
        )?;
        let from = out.len() - start;
        let mut committed_at = self
            .resident
            .committed_at
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        match committed_at.clone().and_then(|r| committed.get(r)) {
            Some(bytes) => out.extend_from_slice(bytes),
            None => encode_postcard(&self.resident, out)?,
        }
        let to = out.len() - start;
        encode_postcard(
            &Tail {
                sign_count: self.sign_count,
                next_creation_order: self.next_creation_order,
                pin: &self.pin,
                large_blob_array: &self.large_blob_array,
                enterprise_attestation: self.enterprise_attestation,
            },
            out,
        )?;
        *committed_at = Some(from..to);
        drop(committed_at);
        // Tests run in debug builds: there every commit checks the copy against a full encode.
        debug_assert!(
            postcard::to_allocvec(self).is_ok_and(|full| full == out[start..]),
            "State::encode_payload differs from the postcard encoding of State"
        );
        Ok(())
    }

    /// Version 1 (before large blobs and enterprise attestation) gains the initial large-blob
    /// array and enterprise attestation off, as a fresh card has them. In versions 1 and 2 every
    /// resident credential was ES256 (the only algorithm those builds implemented): version 3
    /// stores that with each.
    fn migrate(version: u16, payload: &[u8]) -> Result<Self, String> {
        match version {
            1 => {
                let old: StateV1 = postcard::from_bytes(payload)
                    .map_err(|e| format!("schema version 1 payload does not decode: {e}"))?;
                Ok(Self {
                    wrapping_key: old.wrapping_key.clone(),
                    attestation: old.attestation.clone(),
                    resident: upgrade_residents(&old.resident),
                    sign_count: old.sign_count,
                    next_creation_order: old.next_creation_order,
                    pin: old.pin.clone(),
                    large_blob_array: initial_large_blob_array(),
                    enterprise_attestation: false,
                })
            }
            2 => {
                let old: StateV2 = postcard::from_bytes(payload)
                    .map_err(|e| format!("schema version 2 payload does not decode: {e}"))?;
                Ok(Self {
                    wrapping_key: old.wrapping_key.clone(),
                    attestation: old.attestation.clone(),
                    resident: upgrade_residents(&old.resident),
                    sign_count: old.sign_count,
                    next_creation_order: old.next_creation_order,
                    pin: old.pin.clone(),
                    large_blob_array: old.large_blob_array.clone(),
                    enterprise_attestation: old.enterprise_attestation,
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
    use card_storage::{MemoryStorage, Persistent};

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
            algorithm: Algorithm::Es256,
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
        ]
        .into();
        let order: Vec<u64> = state
            .resident_for_rp("a.example")
            .iter()
            .map(|c| c.creation_order)
            .collect();
        assert_eq!(order, vec![7, 5, 1]);
        assert!(state.resident_for_rp("c.example").is_empty());
    }

    #[test]
    fn the_index_follows_every_change_of_the_credentials() {
        let mut state = State::fresh(WrappingKey::generate(&mut SeededRng::new(1)));
        state.resident.push(credential("a.example", b"1", 1));
        assert_eq!(state.resident_for_rp("a.example").len(), 1);
        // Each kind of mutable access drops the index built by the lookup before it.
        state.resident.push(credential("a.example", b"2", 2));
        assert_eq!(state.resident_for_rp("a.example")[0].user_id, b"2");
        state.resident[0].rp_id = "b.example".into();
        assert_eq!(state.resident_for_rp("a.example").len(), 1);
        assert_eq!(state.resident_for_rp("b.example").len(), 1);
        let id = state.resident[1].credential_id.clone();
        assert!(state.find_resident("a.example", &id).is_some());
        assert!(state.find_resident("b.example", &id).is_none());
        state.resident.remove(1);
        assert!(state.find_resident("a.example", &id).is_none());
        for c in state.resident.iter_mut() {
            c.rp_id = "c.example".into();
        }
        assert!(state.resident_for_rp("b.example").is_empty());
        assert_eq!(state.resident_for_rp("c.example").len(), 1);
        state.resident.clear();
        assert!(state.resident_for_rp("c.example").is_empty());
    }

    #[test]
    fn images_are_byte_for_byte_those_of_plain_vectors_and_old_ones_load() {
        // The layout as it was written before `bytes`/`opt_bytes` and `Residents`: plain
        // `Vec<u8>`s serialized as sequences.
        #[derive(Serialize, Deserialize)]
        struct PlainCredential {
            rp_id: String,
            rp_name: Option<String>,
            user_id: Vec<u8>,
            user_name: Option<String>,
            user_display_name: Option<String>,
            credential_id: Vec<u8>,
            private_key: [u8; 32],
            flags: u8,
            creation_order: u64,
            cred_blob: Option<Vec<u8>>,
            large_blob_key: Option<[u8; 32]>,
            algorithm: i64,
        }
        #[derive(Serialize, Deserialize)]
        struct PlainAttestation {
            key: [u8; 32],
            cert_der: Vec<u8>,
            root_cert_der: Vec<u8>,
        }
        #[derive(Serialize, Deserialize)]
        struct PlainState {
            wrapping_key: WrappingKey,
            attestation: Option<PlainAttestation>,
            resident: Vec<PlainCredential>,
            sign_count: u32,
            next_creation_order: u64,
            pin: PinState,
            large_blob_array: Vec<u8>,
            enterprise_attestation: bool,
        }
        let plain = |rp: &str, user: &[u8], order: u64, blob: Option<Vec<u8>>| PlainCredential {
            rp_id: rp.into(),
            rp_name: Some("RP".into()),
            user_id: user.to_vec(),
            user_name: Some("n".into()),
            user_display_name: None,
            credential_id: (0..200u8).map(|b| b ^ order as u8).collect(),
            private_key: [order as u8; 32],
            flags: 1,
            creation_order: order,
            cred_blob: blob,
            large_blob_key: Some([7; 32]),
            algorithm: -7,
        };
        let old = PlainState {
            wrapping_key: WrappingKey::generate(&mut SeededRng::new(4)),
            attestation: Some(PlainAttestation {
                key: [3; 32],
                cert_der: (0..=255u8).cycle().take(700).collect(),
                root_cert_der: vec![0x30; 300],
            }),
            resident: vec![
                plain("a.example", b"alice", 1, None),
                plain("b.example", &[0xFF; 64], 2, Some(vec![])),
                plain("a.example", b"", 3, Some((0..32).collect())),
            ],
            sign_count: 99,
            next_creation_order: 4,
            pin: PinState::default(),
            large_blob_array: (0..1000u32).map(|i| i as u8).collect(),
            enterprise_attestation: true,
        };
        let old_payload = postcard::to_allocvec(&old).unwrap();
        // An image written by the previous build loads...
        let state: State = postcard::from_bytes(&old_payload).unwrap();
        assert_eq!(state.resident.len(), 3);
        assert_eq!(state.resident[1].user_id, vec![0xFF; 64]);
        assert_eq!(state.resident[1].cred_blob.as_deref(), Some(&[][..]));
        assert_eq!(
            state.resident[2].cred_blob,
            Some((0..32).collect::<Vec<u8>>())
        );
        assert_eq!(state.resident[0].cred_blob, None);
        assert_eq!(
            state.resident[0].credential_id,
            old.resident[0].credential_id
        );
        let attestation = state.attestation.as_ref().unwrap();
        assert_eq!(
            attestation.cert_der,
            old.attestation.as_ref().unwrap().cert_der
        );
        assert_eq!(attestation.root_cert_der, vec![0x30; 300]);
        assert_eq!(state.large_blob_array, old.large_blob_array);
        assert_eq!(state.sign_count, 99);
        // ...and this build writes exactly the same bytes.
        assert_eq!(postcard::to_allocvec(&state).unwrap(), old_payload);
        // The same through the versioned, checksummed image.
        let image = card_storage::encode_image(&state).unwrap();
        let again: State = card_storage::decode_image(&image, "test").unwrap();
        assert_eq!(postcard::to_allocvec(&again).unwrap(), old_payload);
        assert_eq!(again.resident_for_rp("a.example").len(), 2);
    }

    #[test]
    fn commits_that_copy_the_credentials_write_exactly_the_full_image() {
        let storage = MemoryStorage::new();
        let mut p = Persistent::open(Box::new(storage.clone()), || {
            State::fresh(WrappingKey::generate(&mut SeededRng::new(5)))
        })
        .unwrap();
        type Edit = Box<dyn Fn(&mut State)>;
        let edits: Vec<Edit> = vec![
            Box::new(|s| s.resident.push(credential("a.example", b"1", 1))),
            Box::new(|s| {
                s.next_sign_count();
            }),
            Box::new(|s| {
                s.next_sign_count();
            }),
            // What precedes the credentials grows: their bytes move.
            Box::new(|s| {
                s.attestation = Some(AttestationMaterial {
                    key: [1; 32],
                    cert_der: vec![0x30; 400],
                    root_cert_der: vec![0x31; 300],
                })
            }),
            Box::new(|s| s.sign_count = 1 << 30),
            Box::new(|s| s.resident[0].user_name = Some("renamed".into())),
            Box::new(|s| s.large_blob_array = vec![9; 100]),
            Box::new(|s| s.resident.push(credential("b.example", b"2", 2))),
            Box::new(|s| {
                s.resident.remove(0);
            }),
            Box::new(|s| s.pin.retries = 3),
            Box::new(|s| s.attestation = None),
            Box::new(|_| {}),
        ];
        for (i, edit) in edits.iter().enumerate() {
            p.transaction(|s: &mut State| {
                edit(s);
                Ok::<_, card_storage::StorageError>(())
            })
            .unwrap();
            let full = card_storage::encode_image(p.get()).unwrap();
            assert_eq!(storage.image().unwrap(), full, "edit {i}");
        }
        // An aborted transaction, then a counter bump: still exact.
        let _ = p.transaction(|s: &mut State| {
            s.resident.clear();
            Err::<(), _>(card_storage::StorageError::Encode("abort".into()))
        });
        assert_eq!(p.get().resident.len(), 1);
        p.transaction(|s: &mut State| Ok::<_, card_storage::StorageError>(s.next_sign_count()))
            .unwrap();
        assert_eq!(
            storage.image().unwrap(),
            card_storage::encode_image(p.get()).unwrap()
        );
        let again = Persistent::<State>::open(Box::new(storage), || unreachable!()).unwrap();
        assert_eq!(again.get().pin.retries, 3);
        assert_eq!(again.get().resident_for_rp("b.example").len(), 1);
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
        impl card_storage::Schema for V1 {
            const VERSION: u16 = 1;
        }
        use card_storage::Schema;
        let key = WrappingKey::generate(&mut SeededRng::new(3));
        let mut pin = PinState::default();
        pin.retries = 6;
        let old = V1(StateV1 {
            wrapping_key: key.clone(),
            attestation: None,
            resident: vec![credential_v2("a.example", b"1", 4)],
            sign_count: 17,
            next_creation_order: 5,
            pin,
        });
        let image = card_storage::encode_image(&old).unwrap();
        let state: State = card_storage::decode_image(&image, "test").unwrap();
        assert!(state.wrapping_key == key);
        assert_eq!(state.resident.len(), 1);
        assert_eq!(state.sign_count, 17);
        assert_eq!(state.next_creation_order, 5);
        assert_eq!(state.pin.retries, 6);
        assert_eq!(state.large_blob_array, initial_large_blob_array());
        assert!(!state.enterprise_attestation);
        // A payload that does not decode, and versions from the future, are refused.
        assert!(State::migrate(1, &[0xFF; 3]).is_err());
        assert!(State::migrate(4, &[]).is_err());
        assert_eq!(state.resident[0].algorithm, Algorithm::Es256);
    }

    /// A resident credential as schema versions 1 and 2 wrote it.
    fn credential_v2(rp_id: &str, user: &[u8], order: u64) -> ResidentCredentialV2 {
        ResidentCredentialV2 {
            rp_id: rp_id.into(),
            rp_name: Some("RP".into()),
            user_id: user.to_vec(),
            user_name: Some("n".into()),
            user_display_name: Some("d".into()),
            credential_id: vec![order as u8; 62],
            private_key: [order as u8; 32],
            flags: crate::crypto::WrappedCredential::FLAG_DISCOVERABLE,
            creation_order: order,
            cred_blob: Some(vec![1, 2, 3]),
            large_blob_key: Some([9; 32]),
        }
    }

    /// A version-2 card (every resident credential ES256, none stored with its algorithm)
    /// loads, each credential now saying ES256 and otherwise unchanged, and is written back as
    /// version 3.
    #[test]
    fn a_version_2_image_is_migrated() {
        #[derive(Clone, Serialize, Deserialize)]
        struct V2(StateV2);
        impl card_storage::Schema for V2 {
            const VERSION: u16 = 2;
        }
        use card_storage::Schema;
        let key = WrappingKey::generate(&mut SeededRng::new(8));
        let mut pin = PinState::default();
        pin.retries = 5;
        let old = V2(StateV2 {
            wrapping_key: key.clone(),
            attestation: None,
            resident: vec![
                credential_v2("a.example", b"1", 1),
                credential_v2("b.example", b"2", 2),
            ],
            sign_count: 41,
            next_creation_order: 3,
            pin,
            large_blob_array: vec![0x80, 1, 2],
            enterprise_attestation: true,
        });
        let image = card_storage::encode_image(&old).unwrap();
        let state: State = card_storage::decode_image(&image, "test").unwrap();
        assert!(state.wrapping_key == key);
        assert_eq!(state.sign_count, 41);
        assert_eq!(state.next_creation_order, 3);
        assert_eq!(state.pin.retries, 5);
        assert_eq!(state.large_blob_array, vec![0x80, 1, 2]);
        assert!(state.enterprise_attestation);
        assert_eq!(state.resident.len(), 2);
        for (new, old) in state.resident.iter().zip(&old.0.resident) {
            assert_eq!(new.algorithm, Algorithm::Es256);
            assert_eq!(new.rp_id, old.rp_id);
            assert_eq!(new.rp_name, old.rp_name);
            assert_eq!(new.user_id, old.user_id);
            assert_eq!(new.user_name, old.user_name);
            assert_eq!(new.user_display_name, old.user_display_name);
            assert_eq!(new.credential_id, old.credential_id);
            assert_eq!(new.private_key, old.private_key);
            assert_eq!(new.flags, old.flags);
            assert_eq!(new.creation_order, old.creation_order);
            assert_eq!(new.cred_blob, old.cred_blob);
            assert_eq!(new.large_blob_key, old.large_blob_key);
        }
        assert_eq!(state.resident_for_rp("b.example").len(), 1);
        // Written back, the image is version 3 and loads as it is.
        let again = card_storage::encode_image(&state).unwrap();
        let reloaded: State = card_storage::decode_image(&again, "test").unwrap();
        assert_eq!(reloaded.resident.len(), 2);
        assert_eq!(State::VERSION, 3);
        assert!(State::migrate(2, &[0xFF; 3]).is_err());
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
            Ok::<(), card_storage::StorageError>(())
        })
        .unwrap();
        let again = Persistent::<State>::open(Box::new(storage), || unreachable!()).unwrap();
        assert_eq!(again.get().sign_count, 42);
        assert_eq!(again.get().resident.len(), 1);
        assert_eq!(again.get().resident[0].user_name.as_deref(), Some("n"));
        assert!(again.get().wrapping_key == p.get().wrapping_key);
    }
}
