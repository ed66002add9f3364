//! The platform-specific part of file storage, kept in this one place: creating a file that
//! only its owner may read, because a state file holds the card's secrets.

use std::fs::{File, OpenOptions};
use std::path::Path;

/// Creates (or truncates) `path` for writing, readable and writable by its owner only.
pub(crate) fn open_private(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        let file = options.open(path)?;
        // A temporary file left by an earlier crash keeps its old mode: set it again.
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        Ok(file)
    }
    #[cfg(not(unix))]
    {
        options.open(path)
    }
}
