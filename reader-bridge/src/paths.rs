//! Where the card's persistent memory lives by default.

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

/// [`default_state_path`] from this process's environment.
pub fn default_state_path_from_env() -> Option<PathBuf> {
    let xdg = std::env::var("XDG_DATA_HOME").ok();
    let home = std::env::var("HOME").ok();
    default_state_path(xdg.as_deref(), home.as_deref())
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
    fn nothing_usable() {
        assert_eq!(default_state_path(None, None), None);
        assert_eq!(default_state_path(Some("rel"), Some("")), None);
    }
}
