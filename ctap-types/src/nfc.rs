//! The CTAP NFC binding's vocabulary (CTAP 2.1 §11.3 "NFC") on top of ISO/IEC 7816-4.
//!
//! What goes over the air: SELECT by [`FIDO_AID`]; NFCCTAP_MSG (`80 10 P1 00`) carrying
//! `command byte || CBOR`, answered by `status byte || CBOR` with SW 9000; NFCCTAP_GETRESPONSE
//! (`80 11 P1 00`) polling for an answer the card announced with SW `91 00` and a status byte;
//! NFCCTAP_CONTROL (`80 12 01 00`, END). The state machines live in the applet's `nfc` module
//! (card side) and in `fido-host` (client side); this module only names the bytes.

/// The FIDO applet's AID (CTAP 2.1 §11.3.1 "Applet selection", also U2F NFC): RID
/// A0 00 00 06 47 (FIDO Alliance), PIX 2F 00 01.
pub const FIDO_AID: [u8; 8] = [0xA0, 0x00, 0x00, 0x06, 0x47, 0x2F, 0x00, 0x01];

/// The SELECT command APDU a platform sends for the FIDO applet (ISO 7816-4 SELECT by DF name,
/// P2 00 "first or only occurrence", Le 00), as python-fido2 and libfido2 send it.
pub const SELECT_FIDO: [u8; 14] = [
    0x00, 0xA4, 0x04, 0x00, 0x08, 0xA0, 0x00, 0x00, 0x06, 0x47, 0x2F, 0x00, 0x01, 0x00,
];

/// CLA of the NFC binding's proprietary commands (§11.3.2 "Framing").
pub const CLA: u8 = 0x80;

/// Instruction bytes of the NFC framing (§11.3.2 "Framing").
pub mod ins {
    /// NFCCTAP_MSG: a CTAP message (command byte || CBOR).
    pub const NFCCTAP_MSG: u8 = 0x10;
    /// NFCCTAP_GETRESPONSE: poll for (or cancel) an answer announced with `91 00`.
    pub const NFCCTAP_GETRESPONSE: u8 = 0x11;
    /// NFCCTAP_CONTROL: session control (END).
    pub const NFCCTAP_CONTROL: u8 = 0x12;
}

/// NFCCTAP_MSG P1 bit: the client supports NFCCTAP_GETRESPONSE, so the card may answer
/// `91 00` (status update) instead of holding the field (§11.3.2).
pub const MSG_GETRESPONSE_SUPPORTED: u8 = 0x80;

/// NFCCTAP_CONTROL P1 END: the platform is done with CTAP (§11.3.2).
pub const CONTROL_END: u8 = 0x01;

/// NFCCTAP_GETRESPONSE P1: poll for the answer.
pub const GETRESPONSE_POLL: u8 = 0x00;
/// NFCCTAP_GETRESPONSE P1: cancel the operation.
pub const GETRESPONSE_CANCEL: u8 = 0x11;

/// The status word of a status update: `91 00` with one status byte as data (§11.3.2).
pub const SW_STATUS_UPDATE: u16 = 0x9100;

/// The status byte of a `91 00` answer (the CTAPHID keepalive codes, §11.2.9.1.4).
pub mod status {
    /// STATUS_PROCESSING: the card is still working.
    pub const PROCESSING: u8 = 0x01;
    /// STATUS_UPNEEDED: the card waits for user presence.
    pub const UP_NEEDED: u8 = 0x02;
}

/// SELECT answer of a CTAP2-only authenticator (§11.3.1): the version string.
pub const VERSION_FIDO_2_0: &[u8] = b"FIDO_2_0";
/// SELECT answer of an authenticator that also speaks U2F (§11.3.1).
pub const VERSION_U2F_V2: &[u8] = crate::u2f::VERSION;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn select_names_the_fido_aid() {
        assert_eq!(&SELECT_FIDO[5..13], &FIDO_AID);
        assert_eq!(usize::from(SELECT_FIDO[4]), FIDO_AID.len());
    }
}
