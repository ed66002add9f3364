//! Storage helpers for the reliability suites: recording writes, fresh images, state summaries.

use card_storage::records::{Change, DEFAULT_COMPACTION_FLOOR, LogMedium, RecordStore};
use card_storage::{MemoryStorage, StorageError};
use fido_applet::state::State;
use fido_applet::state::decode_log;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::Tester;

/// Counts the writes that reach a storage, and keeps what the storage holds after each one
/// (its "images", the committed states), in order.
#[derive(Clone, Default)]
pub struct Recorder {
    pub writes: Arc<AtomicUsize>,
    pub images: Arc<std::sync::Mutex<Vec<Vec<u8>>>>,
}

/// A storage that records what goes through it (see [`Recorder`]).
pub struct Recording<S> {
    pub inner: S,
    pub recorder: Recorder,
}

impl<S: LogMedium> Recording<S> {
    fn record(&mut self) -> Result<(), StorageError> {
        self.recorder.writes.fetch_add(1, Ordering::SeqCst);
        let now = self.inner.read()?.unwrap_or_default();
        self.recorder.images.lock().unwrap().push(now);
        Ok(())
    }
}

impl<S: LogMedium> LogMedium for Recording<S> {
    fn read(&mut self) -> Result<Option<Vec<u8>>, StorageError> {
        self.inner.read()
    }
    fn append(&mut self, bytes: &[u8]) -> Result<(), StorageError> {
        self.inner.append(bytes)?;
        self.record()
    }
    fn replace(&mut self, contents: &[u8]) -> Result<(), StorageError> {
        self.inner.replace(contents)?;
        self.record()
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
}

impl Recorder {
    pub fn count(&self) -> usize {
        self.writes.load(Ordering::SeqCst)
    }
    pub fn images(&self) -> Vec<Vec<u8>> {
        self.images.lock().unwrap().clone()
    }
}

/// A fresh card's image (attestation generated), to start scenarios from.
pub fn fresh_image(seed: u64) -> Vec<u8> {
    let mem = MemoryStorage::new();
    Tester::boot(Box::new(mem.clone()), seed).expect("fresh card");
    mem.image().expect("a fresh card commits its state")
}

/// A short, comparable summary of a state (for assertion messages and semantic checks).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    pub resident: Vec<(String, Vec<u8>, u64)>,
    pub sign_count: u32,
    pub pin_set: bool,
    pub retries: u8,
    pub next_creation_order: u64,
}

pub fn summary(image: &[u8]) -> Summary {
    let state: State = decode_log(image, "test image").expect("the state decodes");
    summarize(&state)
}

/// The records a medium's bytes hold, by key: two media hold the same state exactly when
/// these agree, whatever their logs look like (appended commits, a cut tail, compaction).
pub fn records_of(bytes: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let store = RecordStore::open(Box::new(MemoryStorage::with_image(bytes.to_vec())))
        .expect("a record log");
    store
        .iter()
        .map(|(k, v)| (k.to_vec(), v.to_vec()))
        .collect()
}

/// Pads the log in `memory` with commits that change nothing (deletes of a record that does not
/// exist) until any real commit passes the compaction threshold: the next commit compacts.
pub fn pad_to_compaction(memory: &MemoryStorage) {
    let mut store = RecordStore::open(Box::new(memory.clone())).expect("a record log");
    let pad = [Change::Delete { key: b"pad" }];
    // A delete of a 3-byte key: 6 bytes of entry and 36 of commit framing; the smallest real
    // commit (the signature counter) is larger.
    let limit = (2 * store.compacted_len()).max(DEFAULT_COMPACTION_FLOOR);
    while store.log_len() + 2 * 42 <= limit {
        store.commit(&pad).expect("pad");
    }
    if store.log_len() + 42 <= limit {
        store.commit(&pad).expect("pad");
    }
    assert!(store.log_len() + 42 > limit && store.log_len() <= limit);
}

pub fn summarize(state: &State) -> Summary {
    let mut resident: Vec<(String, Vec<u8>, u64)> = state
        .resident
        .iter()
        .map(|c| (c.rp_id.clone(), c.user_id.clone(), c.creation_order))
        .collect();
    resident.sort();
    Summary {
        resident,
        sign_count: state.sign_count,
        pin_set: state.pin.is_set(),
        retries: state.pin.retries,
        next_creation_order: state.next_creation_order,
    }
}

/// Digest of an image, for short messages.
pub fn digest(image: &[u8]) -> String {
    Sha256::digest(image)[..4]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
