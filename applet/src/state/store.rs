//! Java Card transactions over the card's records (JCRE 3 §7, atomicity and transactions): a
//! command changes [`State`] in place; its commit writes the records of what changed as one
//! atomic commit of the record store; an error, a failed write or a panic restores the
//! committed state instead. The committed state is never seen half-changed.
//!
//! Cost: a commit encodes the small parts (PIN state, counters, configuration, wrapping key,
//! attestation, large-blob array: a few kilobytes at most) and compares them with their
//! records, and encodes only the resident credentials the command touched
//! ([`super::Residents`] journals them); the record store appends just those records. Nothing
//! scales with the number of credentials but a rare compaction (amortized) and the lookup of a
//! removed credential.

use card_storage::StorageError;
use card_storage::records::{Change, LogMedium, RecordStore};
use zeroize::Zeroizing;

use super::records::{self, Singletons};
use super::{State, legacy};

/// A change of a commit: a record's key and its new value (`None`: deleted).
type Pending = (Vec<u8>, Option<Zeroizing<Vec<u8>>>);

/// The card's committed state and the records that keep it.
pub struct StateStore {
    value: State,
    records: RecordStore,
}

impl StateStore {
    /// Loads the state from `medium`, converting a state of the whole-image format into records
    /// first (written atomically before this returns), or commits `init()` when the medium was
    /// never written. A damaged log, a newer format or an unknown record is an error naming the
    /// medium, which is then left untouched: never a silent wipe.
    pub fn open(
        medium: Box<dyn LogMedium>,
        init: impl FnOnce() -> State,
    ) -> Result<Self, StorageError> {
        Self::from_records(RecordStore::open_or_upgrade(medium, legacy::upgrade)?, init)
    }

    /// As [`StateStore::open`], on an opened record store (benches: a small compaction floor).
    pub fn from_records(
        mut records: RecordStore,
        init: impl FnOnce() -> State,
    ) -> Result<Self, StorageError> {
        let value = match records::load(&records)? {
            Some(mut state) => {
                state.resident.committed();
                state
            }
            None => {
                let mut state = init();
                let all = records::all_records(&state)?;
                records.commit(&records::puts(&all))?;
                state.resident.committed();
                state
            }
        };
        Ok(Self { value, records })
    }

    /// The committed state.
    pub fn get(&self) -> &State {
        &self.value
    }

    /// The records, for inspection (sizes, benches).
    pub fn records(&self) -> &RecordStore {
        &self.records
    }

    /// Names the medium, for messages.
    pub fn describe(&self) -> String {
        self.records.describe()
    }

    /// Runs `f` on the state (begin); on `Ok` writes what it changed as one atomic commit and
    /// makes it the committed state (commit); on `Err`, when the write fails, or if `f` panics,
    /// restores the committed state (abort).
    pub fn transaction<R, E>(&mut self, f: impl FnOnce(&mut State) -> Result<R, E>) -> Result<R, E>
    where
        E: From<StorageError>,
    {
        let mut guard = Rollback {
            store: self,
            armed: true,
        };
        let result = f(&mut guard.store.value)?;
        guard.store.commit()?;
        guard.armed = false;
        Ok(result)
    }

    /// Writes the records that differ from the committed ones, as one commit.
    fn commit(&mut self) -> Result<(), StorageError> {
        let state = &self.value;
        let mut owned: Vec<Pending> = Vec::new();
        for (key, value) in records::singletons(state)? {
            if self.records.get(key) != Some(value.as_slice()) {
                owned.push((key.to_vec(), Some(value)));
            }
        }
        if state.resident.is_tracked() {
            for (order, cred) in state.resident.touched() {
                let key = records::credential_key(order).to_vec();
                match cred {
                    Some(cred) => owned.push((key, Some(records::encode_credential(cred)?))),
                    None if self.records.contains(&key) => owned.push((key, None)),
                    None => {}
                }
            }
        } else {
            // A list put in place whole: compare every credential with its record.
            let mut keep = std::collections::BTreeSet::new();
            for cred in state.resident.iter() {
                let key = records::credential_key(cred.creation_order).to_vec();
                let value = records::encode_credential(cred)?;
                if !keep.insert(key.clone()) {
                    return Err(StorageError::Encode(
                        "two resident credentials share a creation order".into(),
                    ));
                }
                if self.records.get(&key) != Some(value.as_slice()) {
                    owned.push((key, Some(value)));
                }
            }
            for (key, _) in self.records.with_prefix(records::CREDENTIAL_PREFIX) {
                if !keep.contains(key) {
                    owned.push((key.to_vec(), None));
                }
            }
        }
        let changes: Vec<Change<'_>> = owned
            .iter()
            .map(|(key, value)| match value {
                Some(value) => Change::Put { key, value },
                None => Change::Delete { key },
            })
            .collect();
        self.records.commit(&changes)?;
        self.value.resident.committed();
        Ok(())
    }

    /// Abort: the state again as committed.
    fn rollback(&mut self) {
        let restored = Singletons::load(&self.records).map(|s| s.restore(&mut self.value));
        let restored = restored.and_then(|()| {
            if self.value.resident.is_tracked() {
                self.value.resident.undo();
            } else {
                self.value.resident =
                    super::Residents::loaded(records::load_credentials(&self.records)?);
            }
            Ok(())
        });
        if let Err(err) = restored {
            // These records were loaded or written by this very store: failing now means
            // memory corruption, and continuing could commit a half-changed state.
            panic!("the committed state no longer decodes: {err}");
        }
    }
}

/// The state kept in the bytes of a medium (a record log, or a whole image of an earlier build,
/// converted), e.g. a state file read by a tool or a test. `storage` names it in errors.
pub fn decode_log(bytes: &[u8], storage: &str) -> Result<State, StorageError> {
    let memory = card_storage::MemoryStorage::with_image(bytes.to_vec());
    let store = RecordStore::open_or_upgrade(Box::new(memory), legacy::upgrade)?;
    records::load(&store)?.ok_or_else(|| StorageError::Corrupt {
        storage: storage.to_string(),
        reason: "the record log holds no state".into(),
    })
}

/// A record log holding exactly `state` (one commit of all its records): what a card's medium
/// holds after a compaction; tests and benches prepare cards with it.
pub fn encode_log(state: &State) -> Result<Vec<u8>, StorageError> {
    let memory = card_storage::MemoryStorage::new();
    let mut store = RecordStore::open(Box::new(memory.clone()))?;
    store.commit(&records::puts(&records::all_records(state)?))?;
    drop(store);
    memory
        .image()
        .ok_or_else(|| StorageError::Encode("nothing written".into()))
}

/// Restores the committed state unless disarmed: on `Err`, on a failed write and on a panic in
/// the transaction's closure.
struct Rollback<'a> {
    store: &'a mut StateStore,
    armed: bool,
}

impl Drop for Rollback<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.store.rollback();
        }
    }
}
