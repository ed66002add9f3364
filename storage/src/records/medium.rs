//! Where a record log lives: a medium that appends and replaces atomically, in memory
//! ([`crate::MemoryStorage`]), in a file ([`super::FileLog`]) or under fault injection
//! ([`FaultyLog`]: a cut at any byte of any write; [`crate::FaultyStorage`]: a failure at the
//! n-th write, nothing of it written).

use crate::StorageError;

/// A place that keeps one record log.
pub trait LogMedium: Send {
    /// The whole log, or `None` when nothing was ever written (a fresh card).
    fn read(&mut self) -> Result<Option<Vec<u8>>, StorageError>;
    /// Appends `bytes` at the end; on disk when this returns `Ok`. A power cut during it may
    /// leave any prefix of `bytes` (the loader discards a damaged last commit).
    fn append(&mut self, bytes: &[u8]) -> Result<(), StorageError>;
    /// Replaces the whole log with `contents`, atomically: a later `read` returns the old log
    /// or the new one, never a mix.
    fn replace(&mut self, contents: &[u8]) -> Result<(), StorageError>;
    /// Names the medium in error messages, e.g. `file /var/lib/card/state.bin`.
    fn describe(&self) -> String;
}

impl<M: LogMedium + ?Sized> LogMedium for Box<M> {
    fn read(&mut self) -> Result<Option<Vec<u8>>, StorageError> {
        (**self).read()
    }
    fn append(&mut self, bytes: &[u8]) -> Result<(), StorageError> {
        (**self).append(bytes)
    }
    fn replace(&mut self, contents: &[u8]) -> Result<(), StorageError> {
        (**self).replace(contents)
    }
    fn describe(&self) -> String {
        (**self).describe()
    }
}

/// Where a [`FaultyLog`] cuts the power: during its `at`-th write (appends and replaces,
/// counting from 1), after `kept` bytes of it reached the medium. A replace is atomic: it lands
/// whole when `kept` covers all of it, else not at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cut {
    pub at: usize,
    pub kept: usize,
}

/// A medium whose power is cut at a chosen byte of a chosen write, for tearing tests over any
/// medium. Without a cut it records the size of every write, so a test can enumerate the
/// write points (and every byte of each) of an uncut run.
pub struct FaultyLog<M> {
    inner: M,
    cut: Option<Cut>,
    writes: Vec<usize>,
}

impl<M: LogMedium> FaultyLog<M> {
    pub fn new(inner: M, cut: Option<Cut>) -> Self {
        Self {
            inner,
            cut,
            writes: Vec::new(),
        }
    }

    /// The sizes of the writes attempted so far, in order.
    pub fn writes(&self) -> &[usize] {
        &self.writes
    }

    /// Counts a write; `Some(kept)` when the power is cut during it.
    fn cut_now(&mut self, len: usize) -> Option<usize> {
        self.writes.push(len);
        let cut = self.cut?;
        (cut.at == self.writes.len()).then_some(cut.kept.min(len))
    }

    fn power_cut(&self) -> StorageError {
        StorageError::PowerCut {
            storage: self.inner.describe(),
            step: self.writes.len(),
        }
    }
}

impl<M: LogMedium> LogMedium for FaultyLog<M> {
    fn read(&mut self) -> Result<Option<Vec<u8>>, StorageError> {
        self.inner.read()
    }
    fn append(&mut self, bytes: &[u8]) -> Result<(), StorageError> {
        match self.cut_now(bytes.len()) {
            None => self.inner.append(bytes),
            Some(kept) => {
                if kept > 0 {
                    self.inner.append(&bytes[..kept])?;
                }
                Err(self.power_cut())
            }
        }
    }
    fn replace(&mut self, contents: &[u8]) -> Result<(), StorageError> {
        match self.cut_now(contents.len()) {
            None => self.inner.replace(contents),
            Some(kept) => {
                if kept == contents.len() {
                    // Cut after the rename, before the caller heard of it: the new log stands.
                    self.inner.replace(contents)?;
                }
                Err(self.power_cut())
            }
        }
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
}
