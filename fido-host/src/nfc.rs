//! The client side of the CTAP NFC binding (CTAP 2.1 §11.3): SELECT of the FIDO AID, a CTAP
//! message in NFCCTAP_MSG (short APDUs chained with CLA 90, or extended APDUs), the answer
//! collected with GET RESPONSE, and `91 00` status updates polled with NFCCTAP_GETRESPONSE.
//!
//! Platforms differ in each of these choices, and cards have been seen to work with one and not
//! another, so [`Framing`] makes every one configurable; [`Framing::python_fido2`] and
//! [`Framing::libfido2`] are the two reference hosts.

use ctap_types::nfc::{self, ins};

use crate::iso::{self, Exchange, Follow};
use crate::transport::{Transport, TransportError};

/// When NFCCTAP_MSG goes in an extended-length APDU (ISO 7816-4 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Length {
    /// Short APDUs only; messages over `chunk` bytes are chained (CLA 90 on all but the last).
    Short,
    /// Short APDUs up to 255 bytes, one extended APDU for longer messages.
    ExtendedWhenLong,
    /// Every message in one extended APDU (Le 0000).
    Extended,
}

/// How a host frames CTAP messages over NFC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Framing {
    pub length: Length,
    /// Bytes per chained short APDU (python-fido2 250, libfido2 240).
    pub chunk: usize,
    /// The longest message sent in one short APDU; longer ones are chained in `chunk`-byte
    /// parts (python-fido2 and libfido2: their chunk size; fido-check: 255).
    pub short_max: usize,
    /// CLA of GET RESPONSE after `61xx`: 00 (python-fido2, libfido2) or 80 (Windows).
    pub get_response_cla: u8,
    /// NFCCTAP_MSG P1: 80 tells the card the client supports NFCCTAP_GETRESPONSE (python-fido2),
    /// 00 that it does not (libfido2, Windows); only with 80 may the card answer `91 00`.
    pub msg_p1: u8,
    /// Poll NFCCTAP_GETRESPONSE while the card answers `91 00` (§11.3.2); otherwise `91 00` is
    /// returned to the caller as it came.
    pub poll_status_updates: bool,
    /// Upper bound on polls for one message, so a card that always answers `91 00` cannot hold
    /// the host forever.
    pub max_polls: usize,
}

impl Framing {
    /// python-fido2 (`CtapPcscDevice`): short APDUs chained in 250-byte parts, P1 80, GET
    /// RESPONSE with CLA 00, status updates polled.
    pub const fn python_fido2() -> Self {
        Self {
            length: Length::Short,
            chunk: 250,
            short_max: 250,
            get_response_cla: 0x00,
            msg_p1: nfc::MSG_GETRESPONSE_SUPPORTED,
            poll_status_updates: true,
            max_polls: 1024,
        }
    }

    /// libfido2 (`fido_nfc_tx`, `rx_msg`): short APDUs chained in 240-byte parts, P1 00, GET
    /// RESPONSE with CLA 00 and Le = SW2, no status-update polling.
    pub const fn libfido2() -> Self {
        Self {
            length: Length::Short,
            chunk: 240,
            short_max: 240,
            get_response_cla: 0x00,
            msg_p1: 0x00,
            poll_status_updates: false,
            max_polls: 0,
        }
    }

    /// The follow-up rules of ISO exchanges under this framing.
    pub fn follow(&self) -> Follow {
        Follow {
            get_response_cla: self.get_response_cla,
            ..Follow::default()
        }
    }
}

/// fido-check's framing: one short APDU up to 255 bytes, longer messages chained in 240-byte
/// parts, P1 00, GET RESPONSE with CLA 00.
impl Default for Framing {
    fn default() -> Self {
        Self {
            short_max: 255,
            ..Self::libfido2()
        }
    }
}

/// SELECT of the FIDO applet by AID, with Le, as Windows and python-fido2 send it (§11.3.1).
pub const SELECT: [u8; 14] = nfc::SELECT_FIDO;

/// NFCCTAP_GETRESPONSE P1 00: poll for an answer announced with `91 00`.
pub const POLL: [u8; 4] = [
    nfc::CLA,
    ins::NFCCTAP_GETRESPONSE,
    nfc::GETRESPONSE_POLL,
    0x00,
];

/// NFCCTAP_CONTROL END (§11.3.2).
pub const CONTROL_END: [u8; 4] = [nfc::CLA, ins::NFCCTAP_CONTROL, nfc::CONTROL_END, 0x00];

/// The APDUs carrying one NFCCTAP_MSG under `framing`.
pub fn frame(framing: &Framing, message: &[u8]) -> Vec<Vec<u8>> {
    let (p1, cla) = (framing.msg_p1, nfc::CLA);
    let extended = match framing.length {
        Length::Short => false,
        Length::ExtendedWhenLong => message.len() > 255,
        Length::Extended => true,
    };
    if extended {
        let len = message.len().min(65535) as u16;
        let mut apdu = vec![cla, ins::NFCCTAP_MSG, p1, 0x00, 0x00];
        apdu.extend_from_slice(&len.to_be_bytes());
        apdu.extend_from_slice(message);
        apdu.extend_from_slice(&[0x00, 0x00]);
        return vec![apdu];
    }
    let single = match framing.length {
        Length::Short => framing.short_max.min(255),
        _ => 255,
    };
    let parts: Vec<&[u8]> = if message.len() <= single {
        vec![message]
    } else {
        message.chunks(framing.chunk.clamp(1, 255)).collect()
    };
    let last = parts.len().saturating_sub(1);
    parts
        .iter()
        .enumerate()
        .map(|(i, part)| {
            // ISO 7816-4 §5.1.1: CLA bit b5 (0x10) marks all but the last command of a chain.
            let cla = if i == last { cla } else { cla | 0x10 };
            let mut apdu = vec![cla, ins::NFCCTAP_MSG, p1, 0x00, part.len() as u8];
            apdu.extend_from_slice(part);
            if i == last {
                apdu.push(0x00);
            }
            apdu
        })
        .collect()
}

/// What one NFCCTAP_MSG exchange gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MsgOutcome {
    /// Every APDU on the wire, in order.
    pub exchanges: Vec<Exchange>,
    /// The answer's data (CTAP: status byte ‖ CBOR on 9000).
    pub data: Vec<u8>,
    /// The final status word; 0 when the last response had fewer than 2 bytes.
    pub sw: u16,
    /// The status bytes of the `91 00` updates polled through (§11.3.2: 01 processing, 02
    /// user presence needed).
    pub status_updates: Vec<u8>,
}

/// Sends one CTAP message in NFCCTAP_MSG under `framing` and returns the card's answer. A
/// chained part not acknowledged with 9000 ends the exchange with that status word.
pub fn send_message<T: Transport + ?Sized>(
    transport: &mut T,
    framing: &Framing,
    message: &[u8],
) -> Result<MsgOutcome, (TransportError, Vec<Exchange>)> {
    let apdus = frame(framing, message);
    let follow = framing.follow();
    let mut exchanges = Vec::new();
    let mut status_updates = Vec::new();
    let count = apdus.len();
    let mut last = (Vec::new(), 0u16);
    for (i, apdu) in apdus.iter().enumerate() {
        match iso::exchange(transport, apdu, follow) {
            Ok(outcome) => {
                exchanges.extend(outcome.exchanges);
                last = (outcome.data, outcome.sw);
                if i + 1 < count && outcome.sw != 0x9000 {
                    break;
                }
            }
            Err(e) => {
                exchanges.push(Exchange {
                    command: apdu.clone(),
                    response: Vec::new(),
                });
                return Err((e, exchanges));
            }
        }
    }
    let mut polls = 0;
    while framing.poll_status_updates
        && last.1 == nfc::SW_STATUS_UPDATE
        && polls < framing.max_polls
    {
        polls += 1;
        status_updates.extend(last.0.first().copied());
        match iso::exchange(transport, &POLL, follow) {
            Ok(outcome) => {
                exchanges.extend(outcome.exchanges);
                last = (outcome.data, outcome.sw);
            }
            Err(e) => {
                exchanges.push(Exchange {
                    command: POLL.to_vec(),
                    response: Vec::new(),
                });
                return Err((e, exchanges));
            }
        }
    }
    Ok(MsgOutcome {
        exchanges,
        data: last.0,
        sw: last.1,
        status_updates,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_chained_and_extended_framing() {
        let framing = Framing::default();
        let short = frame(&framing, &[4]);
        assert_eq!(short, vec![vec![0x80, 0x10, 0, 0, 1, 4, 0]]);
        let long = vec![0xAB; 500];
        let chained = frame(&framing, &long);
        assert_eq!(chained.len(), 3);
        assert_eq!(chained[0][0], 0x90);
        assert_eq!(chained[0][4], 240);
        assert_eq!(chained[0].len(), 5 + 240);
        assert_eq!(chained[2][0], 0x80);
        assert_eq!(chained[2][4], 20);
        assert_eq!(*chained[2].last().expect("Le"), 0);
        let when_long = Framing {
            length: Length::ExtendedWhenLong,
            ..framing
        };
        let ext = frame(&when_long, &long);
        assert_eq!(ext.len(), 1);
        assert_eq!(&ext[0][..7], &[0x80, 0x10, 0, 0, 0, 0x01, 0xF4]);
        assert_eq!(ext[0].len(), 7 + 500 + 2);
        assert_eq!(frame(&when_long, &[4]), short);
        let always = Framing {
            length: Length::Extended,
            ..framing
        };
        assert_eq!(
            frame(&always, &[4]),
            vec![vec![0x80, 0x10, 0, 0, 0, 0, 1, 4, 0, 0]]
        );
    }

    #[test]
    fn python_fido2_chains_250_bytes_with_p1_80() {
        let apdus = frame(&Framing::python_fido2(), &[0x11; 300]);
        assert_eq!(apdus.len(), 2);
        assert_eq!(&apdus[0][..5], &[0x90, 0x10, 0x80, 0x00, 250]);
        assert_eq!(&apdus[1][..5], &[0x80, 0x10, 0x80, 0x00, 50]);
    }

    struct Slow {
        polls_left: usize,
        sent: Vec<Vec<u8>>,
    }

    impl Transport for Slow {
        fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
            self.sent.push(apdu.to_vec());
            if self.polls_left > 0 {
                self.polls_left -= 1;
                return Ok(vec![0x02, 0x91, 0x00]);
            }
            Ok(vec![0x00, 0x90, 0x00])
        }
    }

    #[test]
    fn status_updates_are_polled_only_when_configured() {
        let mut card = Slow {
            polls_left: 3,
            sent: Vec::new(),
        };
        let out = send_message(&mut card, &Framing::python_fido2(), &[0x04]).expect("answer");
        assert_eq!((out.data.as_slice(), out.sw), (&[0x00][..], 0x9000));
        assert_eq!(out.status_updates, vec![0x02, 0x02, 0x02]);
        assert_eq!(card.sent[1], POLL.to_vec());
        let mut card = Slow {
            polls_left: 1,
            sent: Vec::new(),
        };
        let out = send_message(&mut card, &Framing::libfido2(), &[0x04]).expect("answer");
        assert_eq!(out.sw, 0x9100);
        assert_eq!(card.sent.len(), 1);
    }
}
