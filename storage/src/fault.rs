//! Fault injection over any storage: the power is cut at the n-th write.

use std::ops::Range;

use crate::StorageError;
use crate::backend::Storage;

/// Storage that cuts power at the n-th write step (counting from 1) of any write, for tearing
/// tests over any inner storage. For [`crate::MemoryStorage`] a write has one step.
pub struct FaultyStorage<S> {
    inner: S,
    cut_at: Option<usize>,
    steps: usize,
}

impl<S: Storage> FaultyStorage<S> {
    pub fn new(inner: S, cut_at: Option<usize>) -> Self {
        Self {
            inner,
            cut_at,
            steps: 0,
        }
    }

    /// Write calls attempted so far.
    pub fn steps(&self) -> usize {
        self.steps
    }
}

impl<S: Storage> Storage for FaultyStorage<S> {
    fn read(&mut self) -> Result<Option<Vec<u8>>, StorageError> {
        self.inner.read()
    }
    fn write(&mut self, image: &[u8]) -> Result<(), StorageError> {
        self.steps += 1;
        if self.cut_at == Some(self.steps) {
            return Err(StorageError::PowerCut {
                storage: self.inner.describe(),
                step: self.steps,
            });
        }
        self.inner.write(image)
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
    /// One step, like a write.
    fn update(
        &mut self,
        previous: &[u8],
        image: &[u8],
        changed: &[Range<usize>],
    ) -> Result<(), StorageError> {
        self.steps += 1;
        if self.cut_at == Some(self.steps) {
            return Err(StorageError::PowerCut {
                storage: self.inner.describe(),
                step: self.steps,
            });
        }
        self.inner.update(previous, image, changed)
    }
}
