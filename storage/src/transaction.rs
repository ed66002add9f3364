//! Java Card transactions over a storage (JCRE 3 §7): the committed state changes only when
//! its new image has been written atomically.
//!
//! Cost at scale (BENCHMARKS.md): a transaction changes the committed value in place (no copy of
//! the state; an abort or a failed write restores it from the committed image), encodes it into a
//! reused buffer, hashes only from the last 16 KiB checkpoint before the first changed byte, and
//! hands the storage the changed byte ranges ([`Storage::update`]). The signature counter bump of
//! every assertion thus rewrites a few hundred bytes, not every credential: memory storage patches
//! them in place; a storage without `update` still gets the whole image. A schema may also copy
//! the bytes of parts it knows unchanged from the committed image instead of encoding them again
//! ([`Schema::encode_payload`]; the applet's state does so for its resident credentials).

use std::ops::Range;

use sha2::{Digest, Sha256};

use crate::StorageError;
use crate::backend::Storage;
use crate::image::{CHECKSUM_LEN, decode_image, encode_image, encode_unsealed};
use crate::schema::Schema;

/// The committed persistent state and the storage that keeps it.
pub struct Persistent<T: Schema> {
    value: T,
    storage: Box<dyn Storage>,
    /// The committed image, exactly as the storage holds it: the base of the next update's diff
    /// and what an aborted transaction restores `value` from.
    image: Vec<u8>,
    /// Where the next image is built (reused, so a commit does not allocate).
    scratch: Vec<u8>,
    /// `checkpoints[i]`: SHA-256 state after the first `i * CHECKPOINT` bytes of `image`; only a
    /// prefix of them may be known. A commit rehashes from the last one before its first change.
    checkpoints: Vec<Sha256>,
}

/// Distance between SHA-256 checkpoints of the committed image.
const CHECKPOINT: usize = 16 * 1024;
/// Granularity of the changed ranges handed to [`Storage::update`].
const DIFF_BLOCK: usize = 64;

impl<T: Schema> Persistent<T> {
    /// Loads the state, or commits `init()` when the storage was never written. A corrupt,
    /// truncated or wrong-version image is an error naming the storage: never a silent wipe.
    pub fn open(
        mut storage: Box<dyn Storage>,
        init: impl FnOnce() -> T,
    ) -> Result<Self, StorageError> {
        let (value, image) = match storage.read()? {
            Some(image) => (decode_image(&image, &storage.describe())?, image),
            None => {
                let value = init();
                let image = encode_image(&value)?;
                storage.write(&image)?;
                (value, image)
            }
        };
        Ok(Self {
            value,
            storage,
            image,
            scratch: Vec::new(),
            checkpoints: vec![Sha256::new()],
        })
    }

    pub fn get(&self) -> &T {
        &self.value
    }

    /// Names the storage, for messages.
    pub fn describe(&self) -> String {
        self.storage.describe()
    }

    /// Runs `f` on the state (begin); on `Ok` writes it atomically and makes it the committed
    /// state (commit); on `Err`, when the write fails, or if `f` panics, restores the committed
    /// state (abort). The committed state is never seen half-changed.
    pub fn transaction<R, E>(&mut self, f: impl FnOnce(&mut T) -> Result<R, E>) -> Result<R, E>
    where
        E: From<StorageError>,
    {
        let mut guard = Rollback {
            persistent: self,
            armed: true,
        };
        let result = f(&mut guard.persistent.value)?;
        guard.persistent.commit()?;
        guard.armed = false;
        Ok(result)
    }

    /// Encodes the (changed) value, hands the storage the bytes that differ from the committed
    /// image and, once written, makes the new image the committed one.
    fn commit(&mut self) -> Result<(), StorageError> {
        let mut next = std::mem::take(&mut self.scratch);
        let written = self.seal_and_write(&mut next);
        if written.is_ok() {
            std::mem::swap(&mut self.image, &mut next);
        }
        // Whichever image is not committed is scratch; wipe it (it holds the card's secrets).
        next.fill(0);
        self.scratch = next;
        written
    }

    fn seal_and_write(&mut self, next: &mut Vec<u8>) -> Result<(), StorageError> {
        encode_unsealed(&self.value, Some(&self.image), next)?;
        let old = &self.image;
        let old_body = old.len().saturating_sub(CHECKSUM_LEN);
        let prefix = common_prefix(&old[..old_body], next);

        // Hash from the last checkpoint inside the unchanged prefix, recording new checkpoints.
        let known = (prefix / CHECKPOINT).min(self.checkpoints.len() - 1);
        self.checkpoints.truncate(known + 1);
        let mut hasher = self.checkpoints[known].clone();
        let mut at = known * CHECKPOINT;
        while at + CHECKPOINT <= next.len() {
            hasher.update(&next[at..at + CHECKPOINT]);
            at += CHECKPOINT;
            self.checkpoints.push(hasher.clone());
        }
        hasher.update(&next[at..]);
        let digest = hasher.finalize();
        next.extend_from_slice(&digest);

        let changed = changed_ranges(&self.image, next, prefix);
        let written = self.storage.update(&self.image, next, &changed);
        if written.is_err() {
            // The checkpoints past the prefix describe the image that was not written.
            self.checkpoints.truncate(known + 1);
        }
        written
    }

    /// Abort: the value again as committed, decoded from the committed image.
    fn rollback(&mut self) {
        match decode_image::<T>(&self.image, "committed image") {
            Ok(value) => self.value = value,
            // The image was decoded (or encoded) by this very object: failing now means memory
            // corruption, and continuing could commit a half-changed state.
            Err(err) => panic!("the committed state no longer decodes: {err}"),
        }
    }
}

impl<T: Schema> Drop for Persistent<T> {
    fn drop(&mut self) {
        // The images hold the card's secrets, as the value does.
        self.image.fill(0);
        self.scratch.fill(0);
    }
}

/// Restores the committed value unless disarmed: on `Err`, on a failed write and on a panic in
/// the transaction's closure.
struct Rollback<'a, T: Schema> {
    persistent: &'a mut Persistent<T>,
    armed: bool,
}

impl<T: Schema> Drop for Rollback<'_, T> {
    fn drop(&mut self) {
        if self.armed {
            self.persistent.rollback();
        }
    }
}

/// Length of the common prefix of `a` and `b`.
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    const CHUNK: usize = 4096;
    let len = a.len().min(b.len());
    let mut at = 0;
    while at + CHUNK <= len && a[at..at + CHUNK] == b[at..at + CHUNK] {
        at += CHUNK;
    }
    at + a[at..len]
        .iter()
        .zip(&b[at..len])
        .take_while(|(x, y)| x == y)
        .count()
}

/// The ranges of `new` that differ from `old`, which agree on their first `prefix` bytes: in
/// blocks of [`DIFF_BLOCK`] when the length is unchanged, else everything from the prefix on.
fn changed_ranges(old: &[u8], new: &[u8], prefix: usize) -> Vec<Range<usize>> {
    if old.len() != new.len() {
        return std::iter::once(prefix.min(new.len())..new.len()).collect();
    }
    let mut ranges: Vec<Range<usize>> = Vec::new();
    let mut at = prefix - prefix % DIFF_BLOCK;
    while at < new.len() {
        let end = (at + DIFF_BLOCK).min(new.len());
        if old[at..end] != new[at..end] {
            match ranges.last_mut() {
                Some(last) if last.end == at => last.end = end,
                _ => ranges.push(at..end),
            }
        }
        at = end;
    }
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_schema::V2;
    use crate::{FaultyStorage, MemoryStorage};

    #[test]
    fn a_fresh_storage_commits_init_and_reloads_it() {
        let mem = MemoryStorage::new();
        let mut p = Persistent::open(Box::new(mem.clone()), || V2 {
            counter: 7,
            names: vec![],
        })
        .unwrap();
        p.transaction(|s| {
            s.counter += 1;
            Ok::<_, StorageError>(())
        })
        .unwrap();
        let again = Persistent::<V2>::open(Box::new(mem), V2::default).unwrap();
        assert_eq!(again.get().counter, 8);
    }

    #[test]
    fn an_error_in_the_transaction_changes_nothing() {
        let mem = MemoryStorage::new();
        let mut p = Persistent::open(Box::new(mem.clone()), V2::default).unwrap();
        let before = mem.image();
        let r: Result<(), StorageError> = p.transaction(|s| {
            s.counter = 99;
            Err(StorageError::Encode("refused".into()))
        });
        assert!(r.is_err());
        assert_eq!(p.get().counter, 0);
        assert_eq!(mem.image(), before);
    }

    #[test]
    fn a_power_cut_during_the_write_keeps_the_old_state() {
        let mem = MemoryStorage::new();
        Persistent::open(Box::new(mem.clone()), V2::default).unwrap();
        let mut p = Persistent::<V2>::open(
            Box::new(FaultyStorage::new(mem.clone(), Some(1))),
            V2::default,
        )
        .unwrap();
        let r = p.transaction(|s| {
            s.counter = 5;
            Ok::<_, StorageError>(())
        });
        assert!(matches!(r, Err(StorageError::PowerCut { .. })));
        assert_eq!(p.get().counter, 0);
        assert_eq!(
            Persistent::<V2>::open(Box::new(mem), V2::default)
                .unwrap()
                .get()
                .counter,
            0
        );
    }

    #[test]
    fn incremental_commits_leave_exactly_the_full_image() {
        // Large enough for many checkpoints and diff blocks; changes at the start, middle and
        // end, same-length and length-changing, and no change at all.
        let mem = MemoryStorage::new();
        let mut p = Persistent::open(Box::new(mem.clone()), || V2 {
            counter: 0,
            names: (0..3000).map(|i| format!("name number {i}")).collect(),
        })
        .unwrap();
        type Edit = Box<dyn Fn(&mut V2)>;
        let edits: Vec<Edit> = vec![
            Box::new(|s| s.counter += 1),
            Box::new(|s| s.names[0] = "zeroth name entry".into()),
            Box::new(|s| s.names[1500] = "middle name entry".into()),
            Box::new(|s| s.names[2999].push('!')),
            Box::new(|s| s.names.push("appended".into())),
            Box::new(|s| {
                s.names.remove(10);
            }),
            Box::new(|_| {}),
            Box::new(|s| s.counter = 1 << 20),
        ];
        for (i, edit) in edits.iter().enumerate() {
            p.transaction(|s| {
                edit(s);
                Ok::<_, StorageError>(())
            })
            .unwrap();
            assert_eq!(
                mem.image().unwrap(),
                encode_image(p.get()).unwrap(),
                "edit {i}"
            );
            let reloaded = Persistent::<V2>::open(Box::new(mem.clone()), V2::default).unwrap();
            assert_eq!(reloaded.get(), p.get(), "edit {i}");
        }
    }

    #[test]
    fn a_storage_replaced_behind_the_back_gets_the_whole_image() {
        let mem = MemoryStorage::new();
        let mut p = Persistent::open(Box::new(mem.clone()), V2::default).unwrap();
        mem.set_image(Some(
            encode_image(&V2 {
                counter: 5,
                names: vec!["other".into()],
            })
            .unwrap(),
        ));
        p.transaction(|s| {
            s.counter = 1;
            Ok::<_, StorageError>(())
        })
        .unwrap();
        assert_eq!(mem.image().unwrap(), encode_image(p.get()).unwrap());
    }

    #[test]
    fn a_panic_in_the_transaction_changes_nothing() {
        let mem = MemoryStorage::new();
        let mut p = Persistent::open(Box::new(mem.clone()), || V2 {
            counter: 3,
            names: vec!["a".into()],
        })
        .unwrap();
        let before = mem.image();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _: Result<(), StorageError> = p.transaction(|s| {
                s.counter = 99;
                s.names.clear();
                panic!("bug in a command");
            });
        }));
        assert!(r.is_err());
        assert_eq!(p.get().counter, 3);
        assert_eq!(p.get().names, vec!["a".to_string()]);
        assert_eq!(mem.image(), before);
        // And it still commits.
        p.transaction(|s| {
            s.counter += 1;
            Ok::<_, StorageError>(())
        })
        .unwrap();
        assert_eq!(mem.image().unwrap(), encode_image(p.get()).unwrap());
    }

    #[test]
    fn a_failed_write_restores_the_value_and_the_next_commit_is_whole() {
        let mem = MemoryStorage::new();
        Persistent::open(Box::new(mem.clone()), V2::default).unwrap();
        let mut p = Persistent::<V2>::open(
            Box::new(FaultyStorage::new(mem.clone(), Some(2))),
            V2::default,
        )
        .unwrap();
        for _ in 0..3 {
            let _ = p.transaction(|s| {
                s.counter += 1;
                s.names.push(format!("n{}", s.counter));
                Ok::<_, StorageError>(())
            });
        }
        assert_eq!(p.get().counter, 2, "the second commit was cut");
        assert_eq!(mem.image().unwrap(), encode_image(p.get()).unwrap());
    }

    #[test]
    fn changed_ranges_cover_every_difference() {
        let old = vec![0u8; 1000];
        let mut new = old.clone();
        new[5] = 1;
        new[300] = 1;
        new[301] = 1;
        new[999] = 1;
        let ranges = changed_ranges(&old, &new, common_prefix(&old, &new));
        assert_eq!(ranges, vec![0..64, 256..320, 960..1000]);
        let longer = [old.as_slice(), &[1, 2]].concat();
        assert_eq!(changed_ranges(&old, &longer, 1000), vec![1000..1002]);
        assert!(changed_ranges(&old, &old, 1000).is_empty());
    }
}
