//! The record store: a card's persistent memory as records (key → value) in an append-only
//! log, so that a commit costs the size of what it changes, not the size of the whole state.
//!
//! - [`format`]: the log's bytes: a versioned header, then commits, each its entries (puts and
//!   deletes) and a SHA-256 digest chained to the previous commit — the commit marker.
//! - [`medium`]: [`LogMedium`], where a log lives: [`crate::MemoryStorage`], [`FaultyLog`] (a power cut at
//!   any byte of any write, for tearing tests).
//! - [`file_log`]: [`FileLog`], one file; its docs give the fsync points and the rename scheme.
//! - [`store`]: [`RecordStore`]: commits, compaction, the upgrade of a whole-image state.
//!
//! Guarantees, each tested at every write point and every byte of it (`tests/records.rs`):
//!
//! - A commit is atomic: after a power cut at any byte of it, the store loads either the state
//!   before it or the state after it; a commit that returned `Ok` is never lost.
//! - Compaction is a commit like any other (it writes the new state as a fresh log by an atomic
//!   replace), so a cut during it loses nothing either.
//! - Right after compaction the log is its live records plus 7 bytes per record and 44 bytes;
//!   between compactions it stays within twice that (or the compaction floor, 16 KiB).
//! - A log of a newer format version is refused with both versions named, and left alone; a
//!   state in today's whole-image format is converted only through an explicit upgrade
//!   ([`RecordStore::open_or_upgrade`]), written atomically.

pub mod file_log;
pub mod format;
pub mod medium;
pub mod store;

pub use file_log::FileLog;
pub use format::{Change, FORMAT_VERSION};
pub use medium::{Cut, FaultyLog, LogMedium};
pub use store::{DEFAULT_COMPACTION_FLOOR, RecordStore, Upgraded};
