//! In-memory storage: the card's memory for tests, benches, fuzzing and trace replay. It keeps
//! bytes: a record log ([`LogMedium`], what the card uses), or a whole image of an earlier build
//! that a test hands the card to convert.

use std::sync::{Arc, Mutex};

use crate::StorageError;
use crate::records::LogMedium;

/// In-memory storage. Clones share the image, so a test can drop a card and build a new one
/// from the same memory, as if the card had been pulled and tapped again.
#[derive(Clone, Default)]
pub struct MemoryStorage {
    image: Arc<Mutex<Option<Vec<u8>>>>,
}

impl MemoryStorage {
    pub fn new() -> Self {
        Self::default()
    }

    /// Memory holding `image` (e.g. a state file of an older format, to upgrade).
    pub fn with_image(image: Vec<u8>) -> Self {
        let memory = Self::new();
        memory.set_image(Some(image));
        memory
    }

    /// The current image, for tests that corrupt or inspect it.
    pub fn image(&self) -> Option<Vec<u8>> {
        self.image
            .lock()
            .map(|g| g.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// Replaces the image directly (tests: corrupt or truncate it).
    pub fn set_image(&self, image: Option<Vec<u8>>) {
        match self.image.lock() {
            Ok(mut g) => *g = image,
            Err(p) => *p.into_inner() = image,
        }
    }
}

/// The memory as a record log's medium: appends extend the bytes, a replace swaps them whole.
impl LogMedium for MemoryStorage {
    fn read(&mut self) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.image())
    }
    fn append(&mut self, bytes: &[u8]) -> Result<(), StorageError> {
        self.image
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_or_insert_with(Vec::new)
            .extend_from_slice(bytes);
        Ok(())
    }
    fn replace(&mut self, contents: &[u8]) -> Result<(), StorageError> {
        self.set_image(Some(contents.to_vec()));
        Ok(())
    }
    fn describe(&self) -> String {
        "memory".to_string()
    }
}
