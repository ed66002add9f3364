//! Where the card's persistent memory lives by default: the one place that knows each platform's
//! per-user data directory.
//!
//! - Unix: `$XDG_DATA_HOME/virtual-fido-card/state.bin`, else
//!   `$HOME/.local/share/virtual-fido-card/state.bin` (XDG Base Directory specification).
//! - Windows: `%LOCALAPPDATA%\virtual-fido-card\state.bin`. Local rather than roaming
//!   (`%APPDATA%`): a roaming profile would copy the card's keys to every machine the user logs on
//!   to, and a card is one device. The directory sits in the user's profile, whose ACL gives
//!   access to the user, SYSTEM and Administrators only; files made there inherit it (Unix
//!   modes such as 0600 do not exist on Windows, see `setup::create_state_dir`).

use std::path::PathBuf;

/// Directory name under the platform data directory.
pub const APP_DIR: &str = "virtual-fido-card";
/// File name of the state image.
pub const STATE_FILE: &str = "state.bin";

/// `$XDG_DATA_HOME/virtual-fido-card/state.bin`, else `$HOME/.local/share/virtual-fido-card/state.bin`
/// (XDG Base Directory spec: an empty or relative `XDG_DATA_HOME` is ignored). `None` when neither
/// variable gives an absolute directory.
pub fn default_state_path(xdg_data_home: Option<&str>, home: Option<&str>) -> Option<PathBuf> {
    let absolute = |s: &str| {
        let p = PathBuf::from(s);
        p.is_absolute().then_some(p)
    };
    let data_dir = xdg_data_home
        .and_then(absolute)
        .or_else(|| home.and_then(absolute).map(|h| h.join(".local/share")))?;
    Some(data_dir.join(APP_DIR).join(STATE_FILE))
}

/// `%LOCALAPPDATA%\virtual-fido-card\state.bin` on Windows; `None` when `LOCALAPPDATA` is unset,
/// empty or not an absolute path.
pub fn windows_state_path(local_app_data: Option<&str>) -> Option<PathBuf> {
    let dir = PathBuf::from(local_app_data?);
    dir.is_absolute()
        .then(|| dir.join(APP_DIR).join(STATE_FILE))
}

/// Why there is no default state file, for the error that asks for `--state`.
#[cfg(windows)]
pub const NO_DEFAULT_STATE: &str = "LOCALAPPDATA is not set";
/// Why there is no default state file, for the error that asks for `--state`.
#[cfg(not(windows))]
pub const NO_DEFAULT_STATE: &str = "neither XDG_DATA_HOME nor HOME is set";

/// This platform's default state file, from this process's environment.
pub fn default_state_path_from_env() -> Option<PathBuf> {
    #[cfg(windows)]
    {
        windows_state_path(std::env::var("LOCALAPPDATA").ok().as_deref())
    }
    #[cfg(not(windows))]
    {
        let xdg = std::env::var("XDG_DATA_HOME").ok();
        let home = std::env::var("HOME").ok();
        default_state_path(xdg.as_deref(), home.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xdg_wins() {
        assert_eq!(
            default_state_path(Some("/x/data"), Some("/home/u")),
            Some(PathBuf::from("/x/data/virtual-fido-card/state.bin"))
        );
    }

    #[test]
    fn falls_back_to_home() {
        assert_eq!(
            default_state_path(None, Some("/home/u")),
            Some(PathBuf::from(
                "/home/u/.local/share/virtual-fido-card/state.bin"
            ))
        );
        assert_eq!(
            default_state_path(Some(""), Some("/home/u")),
            Some(PathBuf::from(
                "/home/u/.local/share/virtual-fido-card/state.bin"
            ))
        );
        assert_eq!(
            default_state_path(Some("relative/dir"), Some("/home/u")),
            Some(PathBuf::from(
                "/home/u/.local/share/virtual-fido-card/state.bin"
            ))
        );
    }

    #[test]
    fn windows_uses_local_app_data() {
        // An absolute path of the platform running the test (on Windows, C:\Users\u\AppData\Local).
        let local = std::env::temp_dir();
        let local = local.to_str().expect("utf-8 temp dir");
        assert_eq!(
            windows_state_path(Some(local)),
            Some(
                PathBuf::from(local)
                    .join("virtual-fido-card")
                    .join("state.bin")
            )
        );
        assert_eq!(windows_state_path(None), None);
        assert_eq!(windows_state_path(Some("")), None);
        assert_eq!(windows_state_path(Some(r"AppData\Local")), None);
    }

    #[test]
    fn nothing_usable() {
        assert_eq!(default_state_path(None, None), None);
        assert_eq!(default_state_path(Some("rel"), Some("")), None);
    }
}
