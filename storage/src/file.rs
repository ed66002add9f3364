//! A state file replaced atomically.
//!
//! A write goes through four steps ([`WriteStep`]): write the whole image into `NAME.tmp` in
//! the same directory (created only-owner-readable, see `private_file`), fsync it, rename it
//! over `NAME`, fsync the directory. A power cut or kill -9 before the rename leaves the old
//! file (and a stray `NAME.tmp`, truncated and rewritten by the next write); after it, the new
//! one. Readers never see a mix: rename is atomic on POSIX file systems.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::StorageError;
use crate::backend::Storage;
use crate::private_file::open_private;

/// The steps of one atomic file write, in order; fault injection cuts power before any of them.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum WriteStep {
    /// Create the temporary file and write the image into it.
    WriteTemp,
    /// fsync the temporary file.
    SyncTemp,
    /// Rename it over the state file.
    Rename,
    /// fsync the directory so the rename itself is durable.
    SyncDir,
}

impl WriteStep {
    pub const ALL: [WriteStep; 4] = [Self::WriteTemp, Self::SyncTemp, Self::Rename, Self::SyncDir];
}

/// A fault-injection hook, asked before each write step; returning `false` cuts the power there.
pub type FaultHook = Box<dyn FnMut(WriteStep) -> bool + Send>;

/// A state file written atomically: temporary file in the same directory, fsync, rename,
/// fsync of the directory; readable by its owner only because the file holds the card's secrets.
pub struct FileStorage {
    path: PathBuf,
    fault: Option<FaultHook>,
    steps: usize,
}

impl FileStorage {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            fault: None,
            steps: 0,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Installs a fault-injection hook (tests only, but kept in the product so that the code
    /// path under test is the real one).
    pub fn with_fault_hook(mut self, hook: FaultHook) -> Self {
        self.fault = Some(hook);
        self
    }

    fn step(&mut self, step: WriteStep) -> Result<(), StorageError> {
        self.steps += 1;
        if let Some(hook) = self.fault.as_mut() {
            if !hook(step) {
                return Err(StorageError::PowerCut {
                    storage: self.describe(),
                    step: self.steps,
                });
            }
        }
        Ok(())
    }

    fn io(&self, source: std::io::Error) -> StorageError {
        StorageError::Io {
            storage: self.describe(),
            source,
        }
    }
}

impl Storage for FileStorage {
    fn read(&mut self) -> Result<Option<Vec<u8>>, StorageError> {
        match fs::read(&self.path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io(e)),
        }
    }

    fn write(&mut self, image: &[u8]) -> Result<(), StorageError> {
        let storage = self.describe();
        let path = self.path.clone();
        replace_file(&path, image, &mut |step| self.step(step), &|source| {
            StorageError::Io {
                storage: storage.clone(),
                source,
            }
        })
    }

    fn describe(&self) -> String {
        format!("file {}", self.path.display())
    }
}

/// Replaces the file `path` by `contents` atomically: `NAME.tmp` (owner-only) written and
/// fsynced, renamed over `path`, the directory fsynced. `step` is asked before each step and
/// may cut the power there (fault injection); `io` turns an I/O error into one naming the file.
pub(crate) fn replace_file(
    path: &Path,
    contents: &[u8],
    step: &mut dyn FnMut(WriteStep) -> Result<(), StorageError>,
    io: &dyn Fn(std::io::Error) -> StorageError,
) -> Result<(), StorageError> {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".tmp");
    let temp = path.with_file_name(name);
    step(WriteStep::WriteTemp)?;
    let mut file = open_private(&temp).map_err(io)?;
    file.write_all(contents).map_err(io)?;
    step(WriteStep::SyncTemp)?;
    file.sync_all().map_err(io)?;
    drop(file);
    step(WriteStep::Rename)?;
    fs::rename(&temp, path).map_err(io)?;
    step(WriteStep::SyncDir)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // Directory fsync makes the rename durable; some file systems refuse to open a
        // directory for it, and then the rename is as durable as they make it.
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_schema::{V2, temp_dir};
    use crate::{Persistent, StorageError};

    #[test]
    fn file_storage_is_atomic_at_every_write_step_and_private() {
        let dir = temp_dir("steps");
        let path = dir.join("state.bin");
        let mut p = Persistent::open(Box::new(FileStorage::new(&path)), V2::default).unwrap();
        p.transaction(|s| {
            s.counter = 1;
            Ok::<_, StorageError>(())
        })
        .unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        for (i, cut) in WriteStep::ALL.iter().enumerate() {
            let cut = *cut;
            let storage =
                FileStorage::new(&path).with_fault_hook(Box::new(move |step| step != cut));
            let mut p = Persistent::<V2>::open(Box::new(storage), V2::default).unwrap();
            let before = p.get().counter;
            let r = p.transaction(|s| {
                s.counter += 1;
                Ok::<_, StorageError>(())
            });
            let reloaded =
                Persistent::<V2>::open(Box::new(FileStorage::new(&path)), V2::default).unwrap();
            let after = reloaded.get().counter;
            if r.is_ok() {
                assert_eq!(after, before + 1);
            } else {
                // Cut before the rename: old state. Cut after it (directory sync): the new state
                // is already in place, which is allowed: old or new, never a mix.
                assert!(
                    after == before || (after == before + 1 && i == 3),
                    "step {cut:?}"
                );
            }
        }
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_directory_is_an_error_naming_the_file() {
        let err = Persistent::<V2>::open(
            Box::new(FileStorage::new("/nonexistent-dir/x/state.bin")),
            V2::default,
        )
        .err()
        .unwrap();
        assert!(
            err.to_string().contains("/nonexistent-dir/x/state.bin"),
            "{err}"
        );
    }
}
