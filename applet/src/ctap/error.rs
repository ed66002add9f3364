//! CTAP status codes (CTAP 2.1 §8.2 "Status codes"): the table is [`ctap_types::error`], shared
//! with the host side. What stays here is the one mapping from this card's storage layer into
//! CTAP: a persistent write that failed.

use std::ops::{Deref, DerefMut};

use card_storage::StorageError;

use crate::state::{State, StateStore};

use ctap_types::CtapError;

/// An error type a failed persistent write can turn into.
pub trait FromStorageError {
    fn from_storage_error(err: StorageError) -> Self;
}

/// A persistent write that failed (the card left the field mid-write) aborted the transaction;
/// nothing was committed, and CTAP has no closer code than `CTAP1_ERR_OTHER`.
impl FromStorageError for CtapError {
    fn from_storage_error(err: StorageError) -> Self {
        tracing::error!(error = %err, "persistent write failed; the command changed nothing");
        CtapError::Other
    }
}

impl FromStorageError for StorageError {
    fn from_storage_error(err: StorageError) -> Self {
        err
    }
}

/// The card's persistent state as the command handlers use it: [`StateStore`] whose
/// transactions may fail with a [`CtapError`] (the status-code table lives in `ctap-types`,
/// which knows nothing of this card's storage, so the conversion is made here).
pub struct CardStore(StateStore);

impl CardStore {
    /// Runs `f` as one transaction of [`StateStore::transaction`]; a failed write becomes
    /// `E` through [`FromStorageError`].
    pub fn transaction<R, E: FromStorageError>(
        &mut self,
        f: impl FnOnce(&mut State) -> Result<R, E>,
    ) -> Result<R, E> {
        enum Failed<E> {
            Handler(E),
            Write(StorageError),
        }
        impl<E> From<StorageError> for Failed<E> {
            fn from(err: StorageError) -> Self {
                Failed::Write(err)
            }
        }
        self.0
            .transaction(|state| f(state).map_err(Failed::Handler))
            .map_err(|failed| match failed {
                Failed::Handler(e) => e,
                Failed::Write(err) => E::from_storage_error(err),
            })
    }
}

impl From<StateStore> for CardStore {
    fn from(store: StateStore) -> Self {
        Self(store)
    }
}

impl Deref for CardStore {
    type Target = StateStore;
    fn deref(&self) -> &StateStore {
        &self.0
    }
}

impl DerefMut for CardStore {
    fn deref_mut(&mut self) -> &mut StateStore {
        &mut self.0
    }
}
