//! The one trait every place that keeps a card's state implements.

use std::ops::Range;

use crate::StorageError;

/// A place that keeps one image atomically.
pub trait Storage: Send {
    /// The last image written, or `None` when nothing was ever written (a fresh card).
    fn read(&mut self) -> Result<Option<Vec<u8>>, StorageError>;
    /// Replaces the image. Atomic: if this fails or the process dies during it, a later `read`
    /// returns either the old image or the new one, never a mix.
    fn write(&mut self, image: &[u8]) -> Result<(), StorageError>;
    /// Names the storage in error messages, e.g. `file /var/lib/card/state.bin`.
    fn describe(&self) -> String;
    /// Replaces the image `previous` (the last one read or written through this storage) with
    /// `image`, which differs from it only inside `changed`: sorted, disjoint ranges of `image`
    /// (when the length changed, they run to its end). Atomic like [`Storage::write`]. Storages
    /// that can write just the changed bytes override it; the default writes the whole image.
    fn update(
        &mut self,
        previous: &[u8],
        image: &[u8],
        changed: &[Range<usize>],
    ) -> Result<(), StorageError> {
        let _ = (previous, changed);
        self.write(image)
    }
}

impl<S: Storage + ?Sized> Storage for Box<S> {
    fn read(&mut self) -> Result<Option<Vec<u8>>, StorageError> {
        (**self).read()
    }
    fn write(&mut self, image: &[u8]) -> Result<(), StorageError> {
        (**self).write(image)
    }
    fn describe(&self) -> String {
        (**self).describe()
    }
    fn update(
        &mut self,
        previous: &[u8],
        image: &[u8],
        changed: &[Range<usize>],
    ) -> Result<(), StorageError> {
        (**self).update(previous, image, changed)
    }
}
