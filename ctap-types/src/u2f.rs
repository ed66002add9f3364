//! U2F raw messages over NFC (CTAP 2.1 §11.2 / FIDO U2F Raw Message Formats, U2F NFC
//! protocol): ISO 7816-4 APDUs with CLA 00 sent to the FIDO applet.

/// U2F_REGISTER (Raw Message Formats §4).
pub const INS_REGISTER: u8 = 0x01;
/// U2F_AUTHENTICATE (Raw Message Formats §5).
pub const INS_AUTHENTICATE: u8 = 0x02;
/// U2F_VERSION (Raw Message Formats §6).
pub const INS_VERSION: u8 = 0x03;

/// AUTHENTICATE control byte (P1): check only whether the key handle is the card's (§5.1).
pub const CHECK_ONLY: u8 = 0x07;
/// AUTHENTICATE control byte (P1): enforce user presence and sign (§5.1).
pub const ENFORCE_USER_PRESENCE: u8 = 0x03;
/// AUTHENTICATE control byte (P1): sign without requiring presence (§5.1).
pub const DONT_ENFORCE_USER_PRESENCE: u8 = 0x08;

/// The U2F_VERSION answer (Raw Message Formats §6.3), also the SELECT answer of a U2F card.
pub const VERSION: &[u8] = b"U2F_V2";

/// REGISTER response's first byte, "reserved for legacy reasons" (Raw Message Formats §4.3).
pub const REGISTER_RESERVED: u8 = 0x05;
