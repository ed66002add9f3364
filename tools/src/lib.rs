//! PC/SC helpers shared by the vendor tools: choosing a reader, parsing APDUs typed by a user,
//! waiting for a card. The host-side CTAP code they use (transports, ISO response handling,
//! the NFC binding client, the CTAP2 client, PIN protocols, attestation verification) is the
//! `fido-host` library.

use std::ffi::{CStr, CString};
use std::process::ExitCode;

use apdu::hex_decode;

pub mod checks;
pub mod replay;
pub mod report;

pub use fido_host::iso::{Exchange, Follow, Outcome, exchange, split_sw};
pub use fido_host::pcsc::PcscCard;
pub use fido_host::{Transport, attestation, format_aaguid};

/// The service PC/SC clients talk to on this platform, for error messages: pcsc-lite's daemon,
/// or Windows' Smart Card service (winscard).
#[cfg(windows)]
pub const PCSC_SERVICE: &str = "the Smart Card service (SCardSvr)";
/// The service PC/SC clients talk to on this platform, for error messages: pcsc-lite's daemon,
/// or Windows' Smart Card service (winscard).
#[cfg(not(windows))]
pub const PCSC_SERVICE: &str = "pcscd";

/// A tool's exit status: 0 when the run passed, 1 when it ran and something failed, 2 when it
/// could not run (then the error goes to standard error after `prefix`).
pub fn exit_status(outcome: Result<bool, impl std::fmt::Display>, prefix: &str) -> ExitCode {
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("{prefix}: {e}");
            ExitCode::from(2)
        }
    }
}

/// Errors choosing a reader or parsing input.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ToolError {
    #[error("no PC/SC reader found (is {PCSC_SERVICE} running?)")]
    NoReaders,
    #[error("no reader matches {wanted:?}; readers: {available}")]
    NoMatch { wanted: String, available: String },
    #[error("{wanted:?} matches several readers: {matches}; be more specific")]
    Ambiguous { wanted: String, matches: String },
    #[error("not an APDU in hex: {0:?}")]
    BadHex(String),
    #[error("APDU shorter than 4 bytes: {0:?}")]
    TooShort(String),
}

/// Picks a reader: the exact name if one matches, else the only one containing `wanted`, else
/// (without `wanted`) the first reader.
pub fn select_reader(readers: &[CString], wanted: Option<&str>) -> Result<CString, ToolError> {
    let names = || {
        readers
            .iter()
            .map(|r| format!("{:?}", r.to_string_lossy()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let Some(wanted) = wanted else {
        return readers.first().cloned().ok_or(ToolError::NoReaders);
    };
    if readers.is_empty() {
        return Err(ToolError::NoReaders);
    }
    if let Some(exact) = readers.iter().find(|r| r.to_string_lossy() == wanted) {
        return Ok(exact.clone());
    }
    let matching: Vec<&CString> = readers
        .iter()
        .filter(|r| r.to_string_lossy().contains(wanted))
        .collect();
    match matching.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(ToolError::NoMatch {
            wanted: wanted.to_owned(),
            available: names(),
        }),
        many => Err(ToolError::Ambiguous {
            wanted: wanted.to_owned(),
            matches: many
                .iter()
                .map(|r| format!("{:?}", r.to_string_lossy()))
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// Parses one APDU written in hex; spaces, colons and a `0x` prefix are allowed.
pub fn parse_apdu(text: &str) -> Result<Vec<u8>, ToolError> {
    let trimmed = text.trim();
    let body = trimmed
        .strip_prefix("0x")
        .or_else(|| trimmed.strip_prefix("0X"))
        .unwrap_or(trimmed);
    let cleaned: String = body.chars().filter(|c| *c != ':').collect();
    let bytes = hex_decode(&cleaned).ok_or_else(|| ToolError::BadHex(text.to_owned()))?;
    if bytes.len() < 4 {
        return Err(ToolError::TooShort(text.to_owned()));
    }
    Ok(bytes)
}

/// The readers the PC/SC service knows, as owned names.
pub fn list_readers(ctx: &pcsc::Context) -> Result<Vec<CString>, pcsc::Error> {
    match ctx.list_readers_owned() {
        Ok(readers) => Ok(readers),
        Err(pcsc::Error::NoReadersAvailable) => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Whether a reader currently holds a card, and the card's ATR.
pub fn reader_card(ctx: &pcsc::Context, reader: &CStr) -> Result<Option<Vec<u8>>, pcsc::Error> {
    let mut states = [pcsc::ReaderState::new(reader, pcsc::State::UNAWARE)];
    ctx.get_status_change(std::time::Duration::from_millis(0), &mut states)?;
    let state = &states[0];
    Ok(state
        .event_state()
        .contains(pcsc::State::PRESENT)
        .then(|| state.atr().to_vec()))
}

/// Waits (SCardGetStatusChange) up to `timeout` for a card in `reader`; returns its ATR, or
/// `None` on timeout.
pub fn wait_for_card(
    ctx: &pcsc::Context,
    reader: &CStr,
    timeout: std::time::Duration,
) -> Result<Option<Vec<u8>>, pcsc::Error> {
    let deadline = std::time::Instant::now() + timeout;
    let mut states = [pcsc::ReaderState::new(reader, pcsc::State::UNAWARE)];
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match ctx.get_status_change(left, &mut states) {
            Ok(()) => {}
            Err(pcsc::Error::Timeout) => return Ok(None),
            Err(e) => return Err(e),
        }
        if states[0].event_state().contains(pcsc::State::PRESENT) {
            return Ok(Some(states[0].atr().to_vec()));
        }
        if left.is_zero() {
            return Ok(None);
        }
        states[0].sync_current_state();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn readers(names: &[&str]) -> Vec<CString> {
        names
            .iter()
            .map(|n| CString::new(*n).expect("no NUL"))
            .collect()
    }

    #[test]
    fn reader_selection() {
        let all = readers(&[
            "Virtual PCD 00 00",
            "Virtual PCD 00 01",
            "ACS ACR122U 01 00",
        ]);
        assert_eq!(
            select_reader(&all, None).expect("first").to_str().ok(),
            Some("Virtual PCD 00 00")
        );
        assert_eq!(
            select_reader(&all, Some("Virtual PCD 00 01"))
                .expect("exact")
                .to_str()
                .ok(),
            Some("Virtual PCD 00 01")
        );
        assert_eq!(
            select_reader(&all, Some("ACR122"))
                .expect("unique substring")
                .to_str()
                .ok(),
            Some("ACS ACR122U 01 00")
        );
        assert!(matches!(
            select_reader(&all, Some("Virtual PCD")),
            Err(ToolError::Ambiguous { .. })
        ));
        assert!(matches!(
            select_reader(&all, Some("Yubico")),
            Err(ToolError::NoMatch { .. })
        ));
        assert_eq!(select_reader(&[], None), Err(ToolError::NoReaders));
        assert_eq!(select_reader(&[], Some("x")), Err(ToolError::NoReaders));
    }

    #[test]
    fn apdu_parsing() {
        assert_eq!(
            parse_apdu("00A40400 08 A0000006472F0001").expect("ok"),
            hex_decode("00A4040008A0000006472F0001").expect("hex")
        );
        assert_eq!(
            parse_apdu("0x00:ca:7f:68").expect("ok"),
            vec![0x00, 0xCA, 0x7F, 0x68]
        );
        assert!(matches!(parse_apdu("00A"), Err(ToolError::BadHex(_))));
        assert!(matches!(parse_apdu("zz00a404"), Err(ToolError::BadHex(_))));
        assert!(matches!(parse_apdu("00A4"), Err(ToolError::TooShort(_))));
    }
}
