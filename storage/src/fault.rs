//! Fault injection over any record log's [`LogMedium`]: the power is cut at the n-th write (an
//! append or a replace), before any of it reaches the medium: the wrapper to use for "fail at
//! the n-th write" over whatever medium, without knowing its internals.
//! [`crate::records::FaultyLog`] cuts inside a write instead, at any byte of it.

use crate::StorageError;
use crate::records::LogMedium;

/// A medium whose power is cut at the n-th write (counting from 1), for tearing tests over any
/// inner medium. The cut write leaves nothing; later writes go through.
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

    /// Counts a write; the power cut when it falls on this one.
    fn count_write(&mut self) -> Result<(), StorageError>
    where
        S: LogMedium,
    {
        self.steps += 1;
        if self.cut_at == Some(self.steps) {
            return Err(StorageError::PowerCut {
                storage: self.inner.describe(),
                step: self.steps,
            });
        }
        Ok(())
    }
}

impl<S: LogMedium> LogMedium for FaultyStorage<S> {
    fn read(&mut self) -> Result<Option<Vec<u8>>, StorageError> {
        self.inner.read()
    }
    fn append(&mut self, bytes: &[u8]) -> Result<(), StorageError> {
        self.count_write()?;
        self.inner.append(bytes)
    }
    fn replace(&mut self, contents: &[u8]) -> Result<(), StorageError> {
        self.count_write()?;
        self.inner.replace(contents)
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
}
