//! A card's persistent memory: where the state is kept and how a commit is written atomically,
//! what the applet's Java Card transactions rest on (JCRE 3 §7: atomicity and transactions).
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
//!   for tests, benches, fuzzing and trace replay.
//! - [`fault`]: [`FaultyStorage`], a power cut at the n-th write over any medium;
//!   [`records::FaultyLog`] cuts at any byte of a chosen write.
//!
//! The whole-image format of earlier builds (the whole state in one checksummed image, replaced
//! atomically on every commit) is kept only to read such a state and convert it
//! ([`records::RecordStore::open_or_upgrade`]):
//!
//! - [`schema`]: [`Schema`], a state as one versioned struct, and its postcard encoding.
//! - [`image`]: the image format (magic, versions, length, payload, SHA-256) and its loader.
//!
//! A write that fails (the card was pulled) leaves the previous state, in memory and in the
//! storage. That is what "a pulled card loses nothing that was acknowledged" means: the applet
//! answers only after its transaction's commit returned.
#![forbid(unsafe_code)]

pub mod fault;
pub mod image;
pub mod memory;
mod private_file;
pub mod records;
pub mod schema;

pub use fault::FaultyStorage;
pub use image::{decode_image, encode_image};
pub use memory::MemoryStorage;
pub use schema::{Schema, encode_postcard};

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

impl StorageError {
    /// For a refused version ([`StorageError::Version`]): the version found and the one this
    /// build reads, in that order; `None` for every other error.
    pub fn versions(&self) -> Option<(u16, u16)> {
        match self {
            Self::Version {
                found, supported, ..
            } => Some((*found, *supported)),
            _ => None,
        }
    }
}
