//! ISO/IEC 7816-4 wire format and a Java Card-style card runtime.
//!
//! This crate knows nothing of FIDO: it decodes and encodes command and response APDUs
//! (ISO/IEC 7816-4 §5), reassembles command chains and serves long responses with 61xx +
//! GET RESPONSE (§5.3.3, §7.6.1), routes SELECT by AID to the installed [`Applet`]s, models
//! power-up / warm reset / deselect and keeps Java Card transient memory (Java Card 3 RE §6.1) for
//! applets. Persistent memory is the `card-storage` crate's business.
//!
//! It is sans-IO: [`Card::transmit`] takes the bytes of one command APDU and returns the bytes
//! of its response APDU. Sockets, files and clocks belong to the caller.
#![forbid(unsafe_code)]

pub mod atr;
pub mod card;
pub mod chaining;
pub mod command;
pub mod quirks;
pub mod response;
pub mod status;
pub mod transient;

pub use card::{Applet, Card, CardConfig, PowerEvent};
pub use command::{Case, Command};
pub use quirks::{GetResponseCla, Quirks, WrongLe};
pub use response::Response;
pub use status::StatusWord;
pub use transient::{ClearOn, Transient};

/// Decodes a hex string (spaces allowed) into bytes; for tests, tools and logs.
pub fn hex_decode(s: &str) -> Option<Vec<u8>> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if digits.len() % 2 != 0 {
        return None;
    }
    digits
        .chunks(2)
        .map(|pair| {
            let hi = (pair[0] as char).to_digit(16)?;
            let lo = (pair[1] as char).to_digit(16)?;
            Some((hi * 16 + lo) as u8)
        })
        .collect()
}

/// Encodes bytes as upper-case hex without separators.
pub fn hex_encode(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02X}");
    }
    out
}
