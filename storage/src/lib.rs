//! A card's persistent memory: where the state is kept, how it is written atomically, and the
//! Java Card transaction semantics on top (JCRE 3 §7: atomicity and transactions).
//!
//! The card keeps its state in a [`records::RecordStore`]: records (key → value) in an
//! append-only log with commit markers and compaction, so that a commit costs the size of what
//! changed. One module per concern:
//!
//! - [`records`]: the record store, its log format, its media ([`records::LogMedium`]) and its
//!   file form ([`records::FileLog`]), whose docs give the scheme write point by write point:
//!   a commit is appended and `fdatasync`ed (a power cut or `kill -9` at any byte of it leaves
//!   a torn last commit, which the loader drops: the old state); a compaction (or the first
//!   write, or the conversion of an older state file) writes `NAME.tmp` (mode 0600), `fsync`s
//!   it, renames it over `NAME` and `fsync`s the directory (a cut before the rename leaves the
//!   old log, after it the new one). Either way a reader finds the old state or the new one.
//! - [`memory`]: [`MemoryStorage`], bytes in memory shared by its clones: a record log's medium
//!   for tests, benches, fuzzing and trace replay (and an image store).
//! - [`fault`]: [`FaultyStorage`], a power cut at the n-th write over any medium or storage;
//!   [`records::FaultyLog`] cuts at any byte of a chosen write.
//!
//! The whole-image format of earlier builds, kept to read such a state and convert it
//! ([`records::RecordStore::open_or_upgrade`]):
//!
//! - [`backend`]: the [`Storage`] trait, a place that keeps one image atomically.
//! - [`file`]: [`FileStorage`], a state file replaced atomically (temporary file, fsync, rename,
//!   directory fsync) with a fault-injection hook at each of those steps; the platform-specific
//!   part (a file only its owner may read) lives in `private_file`, shared with
//!   [`records::FileLog`].
//! - [`schema`]: [`Schema`], a state as one versioned struct, and its postcard encoding.
//! - [`image`]: the image format (magic, versions, length, payload, SHA-256) and its loader.
//! - [`transaction`]: [`Persistent`], transactions over a whole image.
//!
//! A write that fails (the card was pulled) leaves the previous state, in memory and in the
//! storage. That is what "a pulled card loses nothing that was acknowledged" means: the applet
//! answers only after its transaction's commit returned.
#![forbid(unsafe_code)]

pub mod backend;
pub mod fault;
pub mod file;
pub mod image;
pub mod memory;
mod private_file;
pub mod records;
pub mod schema;
pub mod transaction;

pub use backend::Storage;
pub use fault::FaultyStorage;
pub use file::{FaultHook, FileStorage, WriteStep};
pub use image::{decode_image, encode_image};
pub use memory::MemoryStorage;
pub use schema::{Schema, encode_postcard};
pub use transaction::Persistent;

/// Why persistent memory could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("{storage}: {source}")]
    Io {
        storage: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{storage}: not a card state image ({reason})")]
    Corrupt { storage: String, reason: String },
    #[error(
        "{storage}: {what} version {found} cannot be loaded by this build (it reads version {supported}): {reason}"
    )]
    Version {
        storage: String,
        /// What has the version: `state schema`, `record log format`, `record pin`, ...
        what: String,
        found: u16,
        supported: u16,
        reason: String,
    },
    #[error("{storage}: power cut at write step {step} (fault injection)")]
    PowerCut { storage: String, step: usize },
    #[error("state could not be serialized: {0}")]
    Encode(String),
}

/// Schemas shared by the unit tests of several modules.
#[cfg(test)]
mod test_schema {
    use serde::{Deserialize, Serialize};

    use crate::Schema;

    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
    pub struct V2 {
        pub counter: u32,
        pub names: Vec<String>,
    }

    impl Schema for V2 {
        const VERSION: u16 = 2;
        fn migrate(version: u16, payload: &[u8]) -> Result<Self, String> {
            match version {
                // Version 1 held only the counter.
                1 => postcard::from_bytes::<u32>(payload)
                    .map(|counter| V2 {
                        counter,
                        names: Vec::new(),
                    })
                    .map_err(|e| e.to_string()),
                v => Err(format!("no upgrade path from version {v}")),
            }
        }
    }

    #[derive(Clone, Serialize, Deserialize)]
    pub struct V1(pub u32);
    impl Schema for V1 {
        const VERSION: u16 = 1;
    }

    pub fn temp_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("card-storage-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
