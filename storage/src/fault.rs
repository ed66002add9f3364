//! Fault injection over any storage: the power is cut at the n-th write, before any of it
//! reaches the storage. Works over an image [`Storage`] and over a record log's [`LogMedium`]
//! (an append or a replace is one write): the wrapper to use for "fail at the n-th write" over
//! whatever backend, without knowing its internals. [`crate::records::FaultyLog`] cuts inside a
//! write instead, at any byte of it.

use std::ops::Range;

use crate::StorageError;
use crate::backend::Storage;
use crate::records::LogMedium;

/// Storage that cuts power at the n-th write (counting from 1), for tearing tests over any
/// inner storage or log medium. The cut write leaves nothing; later writes go through.
pub struct FaultyStorage<S> {
    inner: S,
    cut_at: Option<usize>,
    steps: usize,
}

impl<S> FaultyStorage<S> {
    /// Wraps `inner`; `cut_at`: the write (counting from 1) at which the power is cut.
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

    /// Counts a write; whether the power is cut at it.
    fn cut(&mut self) -> bool {
        self.steps += 1;
        self.cut_at == Some(self.steps)
    }

    fn power_cut(&self, storage: String) -> StorageError {
        StorageError::PowerCut {
            storage,
            step: self.steps,
        }
    }
}

impl<S: Storage> Storage for FaultyStorage<S> {
    fn read(&mut self) -> Result<Option<Vec<u8>>, StorageError> {
        Storage::read(&mut self.inner)
    }
    fn write(&mut self, image: &[u8]) -> Result<(), StorageError> {
        if self.cut() {
            return Err(self.power_cut(Storage::describe(&self.inner)));
        }
        self.inner.write(image)
    }
    fn describe(&self) -> String {
        Storage::describe(&self.inner)
    }
    /// One step, like a write.
    fn update(
        &mut self,
        previous: &[u8],
        image: &[u8],
        changed: &[Range<usize>],
    ) -> Result<(), StorageError> {
        if self.cut() {
            return Err(self.power_cut(Storage::describe(&self.inner)));
        }
        self.inner.update(previous, image, changed)
    }
}

impl<S: LogMedium> LogMedium for FaultyStorage<S> {
    fn read(&mut self) -> Result<Option<Vec<u8>>, StorageError> {
        LogMedium::read(&mut self.inner)
    }
    fn append(&mut self, bytes: &[u8]) -> Result<(), StorageError> {
        if self.cut() {
            return Err(self.power_cut(LogMedium::describe(&self.inner)));
        }
        self.inner.append(bytes)
    }
    fn replace(&mut self, contents: &[u8]) -> Result<(), StorageError> {
        if self.cut() {
            return Err(self.power_cut(LogMedium::describe(&self.inner)));
        }
        self.inner.replace(contents)
    }
    fn describe(&self) -> String {
        LogMedium::describe(&self.inner)
    }
}
