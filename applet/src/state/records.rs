//! The card's state as records of a [`card_storage::records::RecordStore`]: one record per
//! resident credential and one for each other part, so that a command's commit writes only
//! the parts it changed.
//!
//! | key | value (after a one-byte record version) |
//! |---|---|
//! | `wrapping-key` | the [`WrappingKey`] (postcard) |
//! | `attestation` | `Option<AttestationMaterial>` (postcard) |
//! | `counters` | the signature counter (`u32`) and the next creation order (`u64`) (postcard) |
//! | `pin` | the [`PinState`] (postcard) |
//! | `large-blobs` | the serialized large-blob array, as is |
//! | `config` | the enterprise attestation flag (postcard `bool`) |
//! | `c/` + creation order (8 bytes, big-endian) | one [`ResidentCredential`] (postcard) |
//!
//! Every value starts with its record's version, so one kind of record can change layout
//! without touching the others: a build reads the versions it knows (an older one through an
//! explicit arm in its decoder) and refuses a newer one, naming both versions, as it refuses a
//! record it does not know at all. A resident credential is the postcard encoding of
//! [`ResidentCredential`] itself: adding a field there means bumping
//! [`CREDENTIAL_RECORD_VERSION`] and decoding the previous version through its frozen layout
//! (`legacy::CredentialV3` for version 1) in [`decode_credential`].

use card_storage::StorageError;
use card_storage::records::{Change, RecordStore};
use serde::Serialize;
use serde::de::DeserializeOwned;
use zeroize::Zeroizing;

use super::{PinState, ResidentCredential, Residents, State};
use crate::attestation::AttestationMaterial;
use crate::crypto::WrappingKey;

pub const WRAPPING_KEY: &[u8] = b"wrapping-key";
pub const ATTESTATION: &[u8] = b"attestation";
pub const COUNTERS: &[u8] = b"counters";
pub const PIN: &[u8] = b"pin";
pub const LARGE_BLOBS: &[u8] = b"large-blobs";
pub const CONFIG: &[u8] = b"config";
/// The key prefix of resident credentials.
pub const CREDENTIAL_PREFIX: &[u8] = b"c/";

/// The version of every record but the credentials'.
pub const RECORD_VERSION: u8 = 1;
/// The version of a resident credential's record.
pub const CREDENTIAL_RECORD_VERSION: u8 = 1;

/// A record: key and value.
pub type Record = (Vec<u8>, Vec<u8>);

/// A record of a part of the state other than its credentials, encoded (wiped on drop).
pub(crate) type Singleton = (&'static [u8], Zeroizing<Vec<u8>>);

/// The key of the resident credential with creation order `order`.
pub fn credential_key(order: u64) -> [u8; 10] {
    let mut key = [0u8; 10];
    key[..2].copy_from_slice(CREDENTIAL_PREFIX);
    key[2..].copy_from_slice(&order.to_be_bytes());
    key
}

/// A record value: `version` and the postcard encoding of `value`, in a buffer wiped on drop
/// (records hold the card's secrets).
pub(crate) fn encode<T: Serialize + ?Sized>(
    version: u8,
    value: &T,
) -> Result<Zeroizing<Vec<u8>>, StorageError> {
    let mut out = Zeroizing::new(vec![version]);
    card_storage::encode_postcard(value, &mut out)?;
    Ok(out)
}

/// The records of the parts of `state` other than its credentials, in a fixed order.
pub(crate) fn singletons(state: &State) -> Result<[Singleton; 6], StorageError> {
    let mut blobs = Zeroizing::new(Vec::with_capacity(state.large_blob_array.len() + 1));
    blobs.push(RECORD_VERSION);
    blobs.extend_from_slice(&state.large_blob_array);
    Ok([
        (WRAPPING_KEY, encode(RECORD_VERSION, &state.wrapping_key)?),
        (ATTESTATION, encode(RECORD_VERSION, &state.attestation)?),
        (
            COUNTERS,
            encode(
                RECORD_VERSION,
                &(state.sign_count, state.next_creation_order),
            )?,
        ),
        (PIN, encode(RECORD_VERSION, &state.pin)?),
        (LARGE_BLOBS, blobs),
        (
            CONFIG,
            encode(RECORD_VERSION, &state.enterprise_attestation)?,
        ),
    ])
}

/// The record of a resident credential.
pub(crate) fn encode_credential(
    cred: &ResidentCredential,
) -> Result<Zeroizing<Vec<u8>>, StorageError> {
    encode(CREDENTIAL_RECORD_VERSION, cred)
}

/// Every record of `state` (a snapshot: a fresh card, an upgrade). Two credentials with the
/// same creation order would share a record: refused rather than one silently lost.
pub fn all_records(state: &State) -> Result<Vec<Record>, StorageError> {
    let mut records: Vec<Record> = singletons(state)?
        .into_iter()
        .map(|(key, value)| (key.to_vec(), value.to_vec()))
        .collect();
    let mut orders: Vec<u64> = state.resident.iter().map(|c| c.creation_order).collect();
    orders.sort_unstable();
    if orders.windows(2).any(|w| w[0] == w[1]) {
        return Err(StorageError::Encode(
            "two resident credentials share a creation order".into(),
        ));
    }
    for cred in state.resident.iter() {
        records.push((
            credential_key(cred.creation_order).to_vec(),
            encode_credential(cred)?.to_vec(),
        ));
    }
    Ok(records)
}

/// The puts of `records`.
pub(crate) fn puts(records: &[Record]) -> Vec<Change<'_>> {
    records
        .iter()
        .map(|(key, value)| Change::Put { key, value })
        .collect()
}

/// Why a store's records do not make a state.
fn corrupt(store: &RecordStore, reason: String) -> StorageError {
    StorageError::Corrupt {
        storage: store.describe(),
        reason,
    }
}

/// Splits a record value into its version and body, refusing versions newer than `supported`.
fn versioned<'a>(
    store: &RecordStore,
    key: &[u8],
    value: &'a [u8],
    supported: u8,
) -> Result<(u8, &'a [u8]), StorageError> {
    let (&version, body) = value
        .split_first()
        .ok_or_else(|| corrupt(store, format!("record {} is empty", show(key))))?;
    if version > supported || version == 0 {
        return Err(StorageError::Version {
            storage: store.describe(),
            what: format!("record {}", show(key)),
            found: version.into(),
            supported: supported.into(),
            reason: "written by a newer build; the state is left untouched".into(),
        });
    }
    Ok((version, body))
}

/// A singleton record, decoded.
fn singleton<T: DeserializeOwned>(store: &RecordStore, key: &[u8]) -> Result<T, StorageError> {
    let value = store
        .get(key)
        .ok_or_else(|| corrupt(store, format!("record {} is missing", show(key))))?;
    let (_, body) = versioned(store, key, value, RECORD_VERSION)?;
    postcard::from_bytes(body)
        .map_err(|e| corrupt(store, format!("record {} does not decode: {e}", show(key))))
}

/// The parts of the state other than its credentials.
pub(crate) struct Singletons {
    pub wrapping_key: WrappingKey,
    pub attestation: Option<AttestationMaterial>,
    pub sign_count: u32,
    pub next_creation_order: u64,
    pub pin: PinState,
    pub large_blob_array: Vec<u8>,
    pub enterprise_attestation: bool,
}

impl Singletons {
    pub(crate) fn load(store: &RecordStore) -> Result<Self, StorageError> {
        let (sign_count, next_creation_order) = singleton(store, COUNTERS)?;
        let blobs = store
            .get(LARGE_BLOBS)
            .ok_or_else(|| corrupt(store, "record large-blobs is missing".into()))?;
        let (_, blobs) = versioned(store, LARGE_BLOBS, blobs, RECORD_VERSION)?;
        Ok(Self {
            wrapping_key: singleton(store, WRAPPING_KEY)?,
            attestation: singleton(store, ATTESTATION)?,
            sign_count,
            next_creation_order,
            pin: singleton(store, PIN)?,
            large_blob_array: blobs.to_vec(),
            enterprise_attestation: singleton(store, CONFIG)?,
        })
    }

    /// Puts these parts into `state`.
    pub(crate) fn restore(self, state: &mut State) {
        state.wrapping_key = self.wrapping_key;
        state.attestation = self.attestation;
        state.sign_count = self.sign_count;
        state.next_creation_order = self.next_creation_order;
        state.pin = self.pin;
        state.large_blob_array = self.large_blob_array;
        state.enterprise_attestation = self.enterprise_attestation;
    }
}

/// Decodes one resident credential record.
pub(crate) fn decode_credential(
    store: &RecordStore,
    key: &[u8],
    value: &[u8],
) -> Result<ResidentCredential, StorageError> {
    // Version 1 is the only one so far. When the layout changes, the older version gets an arm
    // of its own here, decoded through its frozen layout (version 1: `legacy::CredentialV3`).
    let (_version, body) = versioned(store, key, value, CREDENTIAL_RECORD_VERSION)?;
    let cred = postcard::from_bytes::<ResidentCredential>(body)
        .map_err(|e| corrupt(store, format!("record {} does not decode: {e}", show(key))))?;
    if key != credential_key(cred.creation_order) {
        return Err(corrupt(
            store,
            format!("record {} holds another credential", show(key)),
        ));
    }
    Ok(cred)
}

/// The resident credentials of the store, by creation order.
pub(crate) fn load_credentials(
    store: &RecordStore,
) -> Result<Vec<ResidentCredential>, StorageError> {
    store
        .with_prefix(CREDENTIAL_PREFIX)
        .map(|(key, value)| decode_credential(store, key, value))
        .collect()
}

/// The state held by `store`, or `None` when it holds no records (a fresh card). A record this
/// build does not know is refused: a newer build wrote it, and dropping it would lose data.
pub fn load(store: &RecordStore) -> Result<Option<State>, StorageError> {
    if store.is_empty() {
        return Ok(None);
    }
    let known = [
        WRAPPING_KEY,
        ATTESTATION,
        COUNTERS,
        PIN,
        LARGE_BLOBS,
        CONFIG,
    ];
    if let Some((key, _)) = store
        .iter()
        .find(|(key, _)| !known.contains(key) && !key.starts_with(CREDENTIAL_PREFIX))
    {
        return Err(StorageError::Corrupt {
            storage: store.describe(),
            reason: format!(
                "record {} is unknown to this build (written by a newer one?); it is left \
                 untouched",
                show(key)
            ),
        });
    }
    let mut state = State::fresh(WrappingKey::from_bytes([0; 32]));
    Singletons::load(store)?.restore(&mut state);
    state.resident = Residents::loaded(load_credentials(store)?);
    Ok(Some(state))
}

/// A record key for messages: text when it is, else hex.
fn show(key: &[u8]) -> String {
    match key.strip_prefix(CREDENTIAL_PREFIX) {
        Some(order) if order.len() == 8 => {
            let mut be = [0u8; 8];
            be.copy_from_slice(order);
            format!("c/{}", u64::from_be_bytes(be))
        }
        _ => match std::str::from_utf8(key) {
            Ok(text) if text.chars().all(|c| c.is_ascii_graphic()) => text.to_string(),
            _ => key.iter().map(|b| format!("{b:02x}")).collect(),
        },
    }
}
