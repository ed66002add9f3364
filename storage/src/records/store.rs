//! The record store: a map of records kept in a [`LogMedium`] as an append-only log.

use std::collections::BTreeMap;
use std::ops::Bound;

use crate::StorageError;
use crate::records::format::{
    self, COMMIT_OVERHEAD, Change, DIGEST_LEN, HEADER_LEN, change_len, put_len,
};
use crate::records::medium::LogMedium;

/// The records of a state written in an older format, converted by the caller.
pub type Upgraded = Vec<(Vec<u8>, Vec<u8>)>;

/// The smallest log that is ever compacted (default): below it, rewriting costs more than the
/// space it saves.
pub const DEFAULT_COMPACTION_FLOOR: usize = 16 * 1024;

/// Records (key → value) in an append-only log: a commit appends only the records it changes,
/// with its own digest as commit marker; when the log would grow past twice the size of a
/// fresh log of the live records (and past the compaction floor), the commit instead rewrites
/// the log as that fresh log, atomically. So the cost of a commit is the size of what changed
/// (amortized: each byte is written at most twice), and the log stays within 2x its live data.
pub struct RecordStore {
    medium: Box<dyn LogMedium>,
    records: BTreeMap<Vec<u8>, Vec<u8>>,
    /// Digest of the last commit in the medium.
    chain: [u8; DIGEST_LEN],
    /// Bytes of the log in the medium (up to its last valid commit).
    log_len: usize,
    /// Encoded size of the live records (their puts).
    live_len: usize,
    /// The next commit rewrites the log: none yet, a damaged tail, or a failed append.
    rewrite: bool,
    compaction_floor: usize,
    /// Where commits are encoded (reused, wiped after use: it holds the card's secrets).
    scratch: Vec<u8>,
}

impl RecordStore {
    /// Loads the log in `medium` (an empty store when there is none). A state in the
    /// whole-image format, a damaged log or one of a newer format is an error naming the
    /// medium, and the medium is left as it is.
    pub fn open(medium: Box<dyn LogMedium>) -> Result<Self, StorageError> {
        Self::open_or_upgrade(medium, |_, storage| {
            Err(StorageError::Corrupt {
                storage: storage.to_string(),
                reason: "not a record log".into(),
            })
        })
    }

    /// As [`RecordStore::open`], but a medium holding something other than a record log (a
    /// state of an older format) is handed to `upgrade` with the medium's name; it returns the
    /// state's records, which are then written as a new log, atomically, before this returns.
    /// When `upgrade` refuses, its error is returned and the medium is left as it is.
    pub fn open_or_upgrade(
        mut medium: Box<dyn LogMedium>,
        upgrade: impl FnOnce(&[u8], &str) -> Result<Upgraded, StorageError>,
    ) -> Result<Self, StorageError> {
        let contents = medium.read()?;
        let mut store = Self {
            medium,
            records: BTreeMap::new(),
            chain: format::header_digest(),
            log_len: 0,
            live_len: 0,
            rewrite: true,
            compaction_floor: DEFAULT_COMPACTION_FLOOR,
            scratch: Vec::new(),
        };
        match contents {
            None => {}
            Some(bytes) if format::is_record_log(&bytes) => {
                let loaded = format::load(&bytes, &store.medium.describe())?;
                store.records = loaded.records;
                store.chain = loaded.chain;
                store.live_len = loaded.live_len;
                store.log_len = loaded.valid_len;
                // A damaged last commit stays in the medium until the next commit rewrites it.
                store.rewrite = loaded.valid_len != bytes.len();
            }
            Some(bytes) => {
                for (key, value) in upgrade(&bytes, &store.medium.describe())? {
                    store.live_len += put_len(&key, &value);
                    if let Some(old) = store.records.insert(key.clone(), value) {
                        store.live_len -= put_len(&key, &old);
                    }
                }
                // Converted now, explicitly: the old image stays until the new log replaces it.
                store.write_snapshot()?;
            }
        }
        Ok(store)
    }

    /// Sets the compaction floor (tests and benches: a small one compacts often).
    pub fn with_compaction_floor(mut self, bytes: usize) -> Self {
        self.compaction_floor = bytes;
        self
    }

    pub fn get(&self, key: &[u8]) -> Option<&[u8]> {
        self.records.get(key).map(Vec::as_slice)
    }

    pub fn contains(&self, key: &[u8]) -> bool {
        self.records.contains_key(key)
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// All records, by key.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.records
            .iter()
            .map(|(k, v)| (k.as_slice(), v.as_slice()))
    }

    /// The records whose key starts with `prefix`, by key.
    pub fn with_prefix<'a>(
        &'a self,
        prefix: &'a [u8],
    ) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + 'a {
        self.records
            .range::<[u8], _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(move |(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.as_slice(), v.as_slice()))
    }

    /// Bytes of the log in the medium.
    pub fn log_len(&self) -> usize {
        self.log_len
    }

    /// Bytes of a freshly compacted log of the live records.
    pub fn compacted_len(&self) -> usize {
        HEADER_LEN + COMMIT_OVERHEAD + self.live_len
    }

    /// Names the medium, for messages.
    pub fn describe(&self) -> String {
        self.medium.describe()
    }

    /// Applies `changes` (in order; a later change of the same key wins) as one atomic commit:
    /// `Ok` once they are in the medium; on `Err` neither the records nor the medium's state
    /// changed (a power cut may have left an unacknowledged tail, which the loader discards).
    pub fn commit(&mut self, changes: &[Change<'_>]) -> Result<(), StorageError> {
        if changes.is_empty() {
            return Ok(());
        }
        let undo = self.apply(changes);
        let frame_len = COMMIT_OVERHEAD + changes.iter().map(change_len).sum::<usize>();
        let limit = (2 * self.compacted_len()).max(self.compaction_floor);
        let written = if self.rewrite || self.log_len + frame_len > limit {
            self.write_snapshot()
        } else {
            self.append(changes)
        };
        if written.is_err() {
            self.undo(undo);
        }
        written
    }

    /// Applies `changes` to the records; returns what undoes them, newest first.
    fn apply(&mut self, changes: &[Change<'_>]) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
        let mut undo = Vec::with_capacity(changes.len());
        for change in changes {
            let key = change.key();
            let old = match change {
                Change::Put { value, .. } => {
                    self.live_len += put_len(key, value);
                    self.records.insert(key.to_vec(), value.to_vec())
                }
                Change::Delete { .. } => self.records.remove(key),
            };
            if let Some(old) = &old {
                self.live_len -= put_len(key, old);
            }
            undo.push((key.to_vec(), old));
        }
        undo
    }

    fn undo(&mut self, undo: Vec<(Vec<u8>, Option<Vec<u8>>)>) {
        for (key, old) in undo.into_iter().rev() {
            if let Some(old) = &old {
                self.live_len += put_len(&key, old);
            }
            let now = match old {
                Some(old) => self.records.insert(key.clone(), old),
                None => self.records.remove(&key),
            };
            if let Some(now) = now {
                self.live_len -= put_len(&key, &now);
            }
        }
    }

    /// Appends one commit of `changes`.
    fn append(&mut self, changes: &[Change<'_>]) -> Result<(), StorageError> {
        let mut frame = std::mem::take(&mut self.scratch);
        frame.clear();
        let result = format::encode_commit(&self.chain, changes.iter().copied(), &mut frame)
            .and_then(|digest| {
                self.medium.append(&frame)?;
                Ok(digest)
            });
        let len = frame.len();
        frame.fill(0);
        self.scratch = frame;
        match result {
            Ok(digest) => {
                self.chain = digest;
                self.log_len += len;
                Ok(())
            }
            Err(e) => {
                // The medium may now end in part of this commit: rewrite it next time.
                self.rewrite = true;
                Err(e)
            }
        }
    }

    /// Rewrites the log as one commit of the live records (compaction).
    fn write_snapshot(&mut self) -> Result<(), StorageError> {
        let mut log = Vec::with_capacity(self.compacted_len());
        let result = format::encode_snapshot(&self.records, &mut log).and_then(|digest| {
            self.medium.replace(&log)?;
            Ok(digest)
        });
        let len = log.len();
        log.fill(0);
        let digest = result?;
        self.chain = digest;
        self.log_len = len;
        self.rewrite = false;
        Ok(())
    }
}

impl Drop for RecordStore {
    fn drop(&mut self) {
        // Values hold the card's secrets.
        for value in self.records.values_mut() {
            value.fill(0);
        }
    }
}
