//! The CTAP NFC binding (CTAP 2.1 §11.3) on top of ISO/IEC 7816-4.
//!
//! - SELECT of [`crate::FIDO_AID`] answers the version string "FIDO_2_0" (a CTAP2-only card;
//!   "U2F_V2" once U2F exists) — clients learn the CTAP2 versions from getInfo.
//! - NFCCTAP_MSG (`80 10 P1 00`, P1 = 00, or 80 when the client supports NFCCTAP_GETRESPONSE)
//!   carries `command byte || CBOR`; the answer is `status byte || CBOR` with SW 9000 — CTAP
//!   errors travel as that status byte, never as a status word.
//! - NFCCTAP_GETRESPONSE (`80 11`): this card answers every command at once and never sends
//!   9100, so there is never anything pending: 6985.
//! - NFCCTAP_CONTROL END (`80 12 01 00`): the platform is done with CTAP (Windows sends it before
//!   falling back to U2F); CTAP commands get 6985 until the applet is selected again.
//!
//! ISO status words answer only ISO-level problems. An unknown INS is 6D00, not 6E00: Windows
//! treats 6D00 to a CTAP2 probe as "no CTAP2, try U2F" but rejects the card on 6E00.

use apdu::{Applet, Command, PowerEvent, Response, StatusWord};

use crate::FidoApplet;

/// SELECT answer of a CTAP2-only authenticator (§11.3, "Applet selection").
pub const VERSION_FIDO_2_0: &[u8] = b"FIDO_2_0";

/// Instruction bytes of the NFC framing (§11.3, "Framing").
pub mod ins {
    pub const NFCCTAP_MSG: u8 = 0x10;
    pub const NFCCTAP_GETRESPONSE: u8 = 0x11;
    pub const NFCCTAP_CONTROL: u8 = 0x12;
}

/// NFCCTAP_CONTROL P1 values.
pub const CONTROL_END: u8 = 0x01;

impl Applet for FidoApplet {
    fn select(&mut self, _cmd: &Command) -> Response {
        self.ended = false;
        Response::ok(VERSION_FIDO_2_0.to_vec())
    }

    fn deselect(&mut self) {
        self.ended = false;
        self.authenticator.deselect();
    }

    fn process(&mut self, cmd: &Command) -> Response {
        // The runtime strips the chaining bit; only the interindustry (00) and proprietary (80)
        // classes of the basic channel are ours.
        if !matches!(cmd.cla, 0x00 | 0x80) {
            return StatusWord::CLA_NOT_SUPPORTED.into();
        }
        match cmd.ins {
            ins::NFCCTAP_MSG => self.nfcctap_msg(cmd),
            ins::NFCCTAP_GETRESPONSE => StatusWord::CONDITIONS_NOT_SATISFIED.into(),
            ins::NFCCTAP_CONTROL => self.nfcctap_control(cmd),
            _ => StatusWord::INS_NOT_SUPPORTED.into(),
        }
    }

    fn power_event(&mut self, event: PowerEvent) {
        self.ended = false;
        self.authenticator.power_event(event);
    }
}

impl FidoApplet {
    fn nfcctap_msg(&mut self, cmd: &Command) -> Response {
        if self.ended {
            return StatusWord::CONDITIONS_NOT_SATISFIED.into();
        }
        if !matches!(cmd.p1, 0x00 | 0x80) || cmd.p2 != 0x00 {
            return StatusWord::INCORRECT_P1P2.into();
        }
        if cmd.data.is_empty() {
            // No CTAP command byte: the APDU itself is malformed.
            return StatusWord::WRONG_LENGTH.into();
        }
        Response::ok(self.authenticator.process(&cmd.data))
    }

    fn nfcctap_control(&mut self, cmd: &Command) -> Response {
        if cmd.p1 != CONTROL_END || cmd.p2 != 0x00 {
            return StatusWord::INCORRECT_P1P2.into();
        }
        self.ended = true;
        self.authenticator.end_session();
        StatusWord::OK.into()
    }
}
