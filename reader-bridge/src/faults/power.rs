//! The power-cut fault's hold on the card's persistent memory: a wrapper over any
//! [`card_storage::records::LogMedium`] (the trait only, so it works over whatever medium the
//! card keeps its record log in: each append or replace is one write) that the fault engine arms
//! for one command.
//!
//! It is `card_storage::FaultyStorage`'s cut (the tearing point of `applet/tests/tearing.rs`:
//! the n-th write fails with [`StorageError::PowerCut`] and leaves the backend as it was) made
//! armable at run time: the card keeps this wrapper for its whole life, and
//! [`PowerSwitch::arm`] counts writes from the start of the command the fault fired on. Once
//! the power is cut, every later write of that command fails as well — a card without power
//! writes nothing — until [`PowerSwitch::disarm`].

use std::sync::{Arc, Mutex, PoisonError};

use card_storage::StorageError;
use card_storage::records::LogMedium;

#[derive(Debug, Default)]
struct State {
    /// Cut at this write (1-based, counted from `arm`).
    cut_at: Option<usize>,
    writes: usize,
    /// The write step the power was cut at.
    cut: Option<usize>,
}

/// Arms and reads a power cut over the storages it [`PowerSwitch::wrap`]s. Clones share it.
#[derive(Clone, Debug, Default)]
pub struct PowerSwitch(Arc<Mutex<State>>);

impl PowerSwitch {
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Cuts the power at the `nth` write from now (1 = the next one).
    pub fn arm(&self, nth: usize) {
        *self.state() = State {
            cut_at: Some(nth),
            writes: 0,
            cut: None,
        };
    }

    /// Ends the command: returns the write step the power was cut at, if it was.
    pub fn disarm(&self) -> Option<usize> {
        std::mem::take(&mut *self.state()).cut
    }

    /// `inner` under this switch.
    pub fn wrap<S: LogMedium>(&self, inner: S) -> SwitchedStorage<S> {
        SwitchedStorage {
            inner,
            switch: self.clone(),
        }
    }

    /// Counts one write; `Err` when it is (or comes after) the cut one.
    fn write_step(&self, storage: &dyn LogMedium) -> Result<(), StorageError> {
        let mut state = self.state();
        if state.cut_at.is_none() {
            return Ok(());
        }
        state.writes += 1;
        if state.cut.is_none() && Some(state.writes) == state.cut_at {
            state.cut = Some(state.writes);
        }
        if state.cut.is_some() {
            return Err(StorageError::PowerCut {
                storage: storage.describe(),
                step: state.writes,
            });
        }
        Ok(())
    }
}

/// A storage whose writes a [`PowerSwitch`] can cut.
pub struct SwitchedStorage<S> {
    inner: S,
    switch: PowerSwitch,
}

impl<S: LogMedium> LogMedium for SwitchedStorage<S> {
    fn read(&mut self) -> Result<Option<Vec<u8>>, StorageError> {
        self.inner.read()
    }

    fn append(&mut self, bytes: &[u8]) -> Result<(), StorageError> {
        self.switch.write_step(&self.inner)?;
        self.inner.append(bytes)
    }

    /// One step, like an append.
    fn replace(&mut self, contents: &[u8]) -> Result<(), StorageError> {
        self.switch.write_step(&self.inner)?;
        self.inner.replace(contents)
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use card_storage::MemoryStorage;

    #[test]
    fn cuts_the_nth_write_and_every_later_one_until_disarmed() {
        let memory = MemoryStorage::new();
        let switch = PowerSwitch::new();
        let mut storage = switch.wrap(memory.clone());
        storage.replace(b"a").expect("unarmed");
        switch.arm(2);
        storage.append(b"b").expect("first write of the command");
        assert!(matches!(
            storage.append(b"c"),
            Err(StorageError::PowerCut { step: 2, .. })
        ));
        assert!(storage.replace(b"d").is_err(), "no power");
        assert_eq!(
            memory.image(),
            Some(b"ab".to_vec()),
            "the cut write left nothing"
        );
        assert_eq!(switch.disarm(), Some(2));
        storage.replace(b"e").expect("powered again");
        switch.arm(5);
        storage.append(b"f").expect("fewer writes than the cut");
        assert_eq!(switch.disarm(), None);
        assert_eq!(storage.read().expect("read"), Some(b"ef".to_vec()));
    }
}
