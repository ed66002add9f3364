//! A record log in one file.
//!
//! Write points and what a power cut (or kill -9) at any byte of them leaves:
//!
//! - **Commit** (the common case): the commit's bytes are appended to `NAME` (`O_APPEND`) and
//!   `fdatasync`ed; the store acknowledges the commit only after that returned. A cut leaves
//!   the old log plus any prefix of the commit, or all of it with pages missing: the loader
//!   checks the last commit's digest and drops it, so the state is the old one (or, when the
//!   whole commit landed, the new one). The next commit rewrites the log instead of appending
//!   behind such a tail.
//! - **Rewrite** (compaction, the first commit, an upgrade from the whole-image format, the
//!   first commit after a damaged tail): the new log is written to `NAME.tmp` (created
//!   owner-only), `fsync`ed, renamed over `NAME`, and the directory is `fsync`ed so the rename
//!   is durable ([`replace_file`], the scheme the whole-image builds wrote their state with). A cut before the rename leaves the old
//!   log (and a stray `NAME.tmp`, ignored, truncated by the next rewrite); after it, the new.
//!
//! Either way a reader finds the old state or the new one, never a mix.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::StorageError;
use crate::private_file::open_private;
use crate::records::LogMedium;

/// A record log kept in the file `path`.
pub struct FileLog {
    path: PathBuf,
    /// Open for appending, after the first append since the last rewrite.
    file: Option<File>,
}

impl FileLog {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            file: None,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self, source: std::io::Error) -> StorageError {
        StorageError::Io {
            storage: self.describe(),
            source,
        }
    }
}

impl LogMedium for FileLog {
    fn read(&mut self) -> Result<Option<Vec<u8>>, StorageError> {
        match fs::read(&self.path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io(e)),
        }
    }

    fn append(&mut self, bytes: &[u8]) -> Result<(), StorageError> {
        let file = match self.file.as_mut() {
            Some(file) => file,
            None => {
                // Never creates the file: a log begins with a rewrite, which makes it owner-only.
                let file = OpenOptions::new()
                    .append(true)
                    .open(&self.path)
                    .map_err(|e| self.io(e))?;
                self.file.insert(file)
            }
        };
        if let Err(e) = file.write_all(bytes).and_then(|()| file.sync_data()) {
            // Whatever this handle did is suspect; the store rewrites the log next.
            self.file = None;
            return Err(self.io(e));
        }
        Ok(())
    }

    fn replace(&mut self, contents: &[u8]) -> Result<(), StorageError> {
        // The rename gives the path a new file: an open handle would append to the old one.
        self.file = None;
        replace_file(&self.path, contents).map_err(|e| self.io(e))
    }

    fn describe(&self) -> String {
        format!("file {}", self.path.display())
    }
}

/// Replaces the file `path` by `contents` atomically: `NAME.tmp` (owner-only) written and
/// fsynced, renamed over `path`, the directory fsynced.
fn replace_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".tmp");
    let temp = path.with_file_name(name);
    let mut file = open_private(&temp)?;
    file.write_all(contents)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&temp, path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // Directory fsync makes the rename durable; some file systems refuse to open a
        // directory for it, and then the rename is as durable as they make it.
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}
