//! Storage helpers for the reliability suites: recording writes, fresh images, state summaries.

use card_storage::{MemoryStorage, Storage, StorageError, decode_image};
use fido_applet::state::State;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::Tester;

/// Counts the writes that reach a storage, and keeps every image written, in order.
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

impl<S: Storage> Storage for Recording<S> {
    fn read(&mut self) -> Result<Option<Vec<u8>>, StorageError> {
        self.inner.read()
    }
    fn write(&mut self, image: &[u8]) -> Result<(), StorageError> {
        self.inner.write(image)?;
        self.recorder.writes.fetch_add(1, Ordering::SeqCst);
        self.recorder.images.lock().unwrap().push(image.to_vec());
        Ok(())
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
    let state: State = decode_image(image, "test image").expect("the image decodes");
    summarize(&state)
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
