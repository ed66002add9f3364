//! Stopping when the user asks: the one place that knows each platform's way of asking.
//!
//! The handler only raises a flag; every serve loop checks it at least every 200 ms, powers its
//! card off and returns, so the process exits 0.
//!
//! - Unix: SIGINT and SIGTERM, through `signal-hook` (its handler only stores to an atomic, which
//!   is async-signal-safe).
//! - Windows has no SIGTERM; a console program is asked to stop by a console control event.
//!   The `ctrlc` crate registers a handler with `SetConsoleCtrlHandler` (this crate needs no
//!   `unsafe` of its own) for every event: Ctrl+C, Ctrl+Break, closing the console window, logoff
//!   and shutdown. For Ctrl+C and Ctrl+Break the bridge stops as on Unix. For the last three,
//!   Windows ends the process as soon as the handler returns, so the card may not be powered off
//!   first; nothing is lost, because every state write is either a commit appended and synced
//!   (a cut one is discarded on load) or a complete new file renamed over the old one (see
//!   `card_storage::records::FileLog`), and vpcd sees the card leave when the socket closes.

use std::io;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// What stops the bridge on this platform, for the log and `--help`.
#[cfg(unix)]
pub const STOP_REQUESTS: &str = "SIGINT/SIGTERM";
/// What stops the bridge on this platform, for the log and `--help`.
#[cfg(windows)]
pub const STOP_REQUESTS: &str = "Ctrl+C/Ctrl+Break";
/// What stops the bridge on this platform, for the log and `--help`.
#[cfg(not(any(unix, windows)))]
pub const STOP_REQUESTS: &str = "no request (kill the process)";

/// Raises `flag` when the user asks the process to stop. Call once per process.
#[cfg(unix)]
pub fn raise_on_stop_request(flag: &Arc<AtomicBool>) -> io::Result<()> {
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(flag))?;
    }
    Ok(())
}

/// Raises `flag` when the user asks the process to stop. Call once per process.
#[cfg(windows)]
pub fn raise_on_stop_request(flag: &Arc<AtomicBool>) -> io::Result<()> {
    let flag = Arc::clone(flag);
    ctrlc::try_set_handler(move || flag.store(true, std::sync::atomic::Ordering::SeqCst))
        .map_err(|e| io::Error::other(format!("cannot install the console control handler: {e}")))
}

/// Raises `flag` when the user asks the process to stop: this platform has no way to ask.
#[cfg(not(any(unix, windows)))]
pub fn raise_on_stop_request(_flag: &Arc<AtomicBool>) -> io::Result<()> {
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;

    #[test]
    fn sigterm_raises_the_flag() {
        let flag = Arc::new(AtomicBool::new(false));
        raise_on_stop_request(&flag).expect("install");
        // signal-hook's own raise: delivered to this process synchronously, and the handler
        // only stores to the flag, so the test process itself keeps running.
        signal_hook::low_level::raise(signal_hook::consts::SIGTERM).expect("raise");
        assert!(flag.load(Ordering::SeqCst));
    }
}
