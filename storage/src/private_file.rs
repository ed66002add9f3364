//! The platform-specific part of file storage, kept in this one place: creating a file that
//! only its owner may read, because a state file holds the card's secrets.
//!
//! - Unix: mode 0600, set at creation and again on an existing file.
//! - Windows has no mode bits: a new file inherits the access control list of its directory. The
//!   bridge's default directory is under `%LOCALAPPDATA%`, in the user's profile, whose ACL gives
//!   access to the user, SYSTEM and Administrators only; a state file kept elsewhere gets that
//!   place's ACL, so keep it in the profile. Setting an explicit owner-only ACL would need the
//!   Win32 security API (`unsafe` FFI), which this project does not use. Only compiled for Windows
//!   here (`scripts/test.sh`), never run: see docs/windows.md.

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
        // The directory's inherited ACL applies (see the module docs).
        options.open(path)
    }
}
