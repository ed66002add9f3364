//! ISO/IEC 7816-4 response handling as host software does it (§5.3.4, §7.1.3): following `61xx`
//! with GET RESPONSE (CLA 00, as python-fido2 and libfido2 send it, or 80, as Windows does) and
//! re-sending on
//! `6Cxx` with the exact Le.

use apdu::Command;

use crate::transport::{Transport, TransportError};

/// Splits a response into data and status word; `None` if it has fewer than 2 bytes.
pub fn split_sw(response: &[u8]) -> Option<(&[u8], u16)> {
    let (data, sw) = response.split_at_checked(response.len().checked_sub(2)?)?;
    Some((data, u16::from_be_bytes([sw[0], sw[1]])))
}

/// How [`exchange`] treats `61xx` and `6Cxx`.
#[derive(Debug, Clone, Copy)]
pub struct Follow {
    /// Send GET RESPONSE on `61xx` until the card answers something else.
    pub get_response: bool,
    /// CLA of GET RESPONSE: 00 (ISO, python-fido2, libfido2) or 80 (Windows).
    pub get_response_cla: u8,
    /// Re-send the command with Le = XX on `6Cxx`.
    pub resend_on_6c: bool,
    /// Upper bound on follow-up commands for one APDU, so a card that always answers 61xx
    /// cannot loop forever.
    pub max_follow_ups: usize,
}

impl Default for Follow {
    fn default() -> Self {
        Self {
            get_response: true,
            get_response_cla: 0x00,
            resend_on_6c: true,
            max_follow_ups: 1024,
        }
    }
}

/// One APDU on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    pub command: Vec<u8>,
    pub response: Vec<u8>,
}

/// A command's outcome after following `61xx` / `6Cxx`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Every APDU sent and received, in order.
    pub exchanges: Vec<Exchange>,
    /// The response data of all parts, concatenated.
    pub data: Vec<u8>,
    /// The final status word (0 if the last response had fewer than 2 bytes).
    pub sw: u16,
}

/// GET RESPONSE (ISO 7816-4 §7.6.1, INS C0) with CLA `cla` and Le `le` (00 means 256).
pub const fn get_response(cla: u8, le: u8) -> [u8; 5] {
    [cla, 0xC0, 0x00, 0x00, le]
}

/// GET RESPONSE for `61xx`: Le = XX (00 means 256).
pub fn get_response_apdu(cla: u8, sw2: u8) -> Vec<u8> {
    get_response(cla, sw2).to_vec()
}

/// The command re-sent with Le = `sw2` after `6Cxx` (wrong Le; XX = the exact length). `None`
/// when the command cannot be re-encoded (not a valid APDU).
pub fn with_exact_le(command: &[u8], sw2: u8) -> Option<Vec<u8>> {
    let cmd = Command::decode(command).ok()?;
    let ne = if sw2 == 0 { 256 } else { usize::from(sw2) };
    let extended = cmd.extended;
    let mut fixed = Command::new(cmd.cla, cmd.ins, cmd.p1, cmd.p2)
        .with_data(cmd.data)
        .with_le(ne);
    if extended {
        fixed = fixed.extended();
    }
    fixed.encode()
}

/// Sends `command` and follows `61xx` (GET RESPONSE) and `6Cxx` (re-send with the right Le) as
/// `follow` says.
pub fn exchange<T: Transport + ?Sized>(
    transport: &mut T,
    command: &[u8],
    follow: Follow,
) -> Result<Outcome, TransportError> {
    let mut exchanges = Vec::new();
    let mut data = Vec::new();
    let mut next = command.to_vec();
    let mut follow_ups = 0;
    loop {
        let response = transport.transmit(&next)?;
        let parsed = split_sw(&response).map(|(d, sw)| (d.to_vec(), sw));
        exchanges.push(Exchange {
            command: next.clone(),
            response,
        });
        let Some((part, sw)) = parsed else {
            return Ok(Outcome {
                exchanges,
                data,
                sw: 0,
            });
        };
        data.extend_from_slice(&part);
        let [sw1, sw2] = sw.to_be_bytes();
        let follow_up = match sw1 {
            0x61 if follow.get_response => Some(get_response_apdu(follow.get_response_cla, sw2)),
            0x6C if follow.resend_on_6c && follow_ups == 0 => with_exact_le(command, sw2),
            _ => None,
        };
        match follow_up {
            Some(apdu) if follow_ups < follow.max_follow_ups => {
                follow_ups += 1;
                next = apdu;
            }
            _ => {
                return Ok(Outcome {
                    exchanges,
                    data,
                    sw,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// A card that answers from a script and records what it was sent.
    struct Scripted {
        responses: VecDeque<Vec<u8>>,
        sent: Vec<Vec<u8>>,
    }

    impl Scripted {
        fn new(responses: &[&[u8]]) -> Self {
            Self {
                responses: responses.iter().map(|r| r.to_vec()).collect(),
                sent: Vec::new(),
            }
        }
    }

    impl Transport for Scripted {
        fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
            self.sent.push(command.to_vec());
            self.responses
                .pop_front()
                .ok_or_else(|| TransportError("scripted card ran out of responses".into()))
        }
    }

    #[test]
    fn split_status_word() {
        assert_eq!(split_sw(&[0x90, 0x00]), Some((&[][..], 0x9000)));
        assert_eq!(split_sw(&[1, 2, 0x61, 0x05]), Some((&[1u8, 2][..], 0x6105)));
        assert_eq!(split_sw(&[0x90]), None);
        assert_eq!(split_sw(&[]), None);
    }

    #[test]
    fn follows_61xx_with_get_response() {
        let mut card = Scripted::new(&[&[1, 2, 0x61, 0x03], &[3, 4, 5, 0x90, 0x00]]);
        let outcome =
            exchange(&mut card, &[0x80, 0x10, 0, 0, 1, 4, 2], Follow::default()).expect("exchange");
        assert_eq!(outcome.data, vec![1, 2, 3, 4, 5]);
        assert_eq!(outcome.sw, 0x9000);
        assert_eq!(card.sent[1], vec![0x00, 0xC0, 0x00, 0x00, 0x03]);
        assert_eq!(outcome.exchanges.len(), 2);
    }

    #[test]
    fn get_response_with_cla_80_and_disabled() {
        let mut card = Scripted::new(&[&[1, 0x61, 0x00], &[2, 0x90, 0x00]]);
        let follow = Follow {
            get_response_cla: 0x80,
            ..Follow::default()
        };
        let outcome = exchange(&mut card, &[0, 1, 0, 0], follow).expect("exchange");
        assert_eq!(card.sent[1], vec![0x80, 0xC0, 0x00, 0x00, 0x00]);
        assert_eq!(outcome.data, vec![1, 2]);

        let mut card = Scripted::new(&[&[1, 0x61, 0x00]]);
        let follow = Follow {
            get_response: false,
            ..Follow::default()
        };
        let outcome = exchange(&mut card, &[0, 1, 0, 0], follow).expect("exchange");
        assert_eq!(outcome.sw, 0x6100);
        assert_eq!(card.sent.len(), 1);
    }

    #[test]
    fn resends_once_on_6cxx() {
        let mut card = Scripted::new(&[&[0x6C, 0x04], &[9, 9, 9, 9, 0x90, 0x00]]);
        let outcome = exchange(
            &mut card,
            &[0x00, 0xCA, 0x7F, 0x68, 0x00],
            Follow::default(),
        )
        .expect("ok");
        assert_eq!(card.sent[1], vec![0x00, 0xCA, 0x7F, 0x68, 0x04]);
        assert_eq!(outcome.data, vec![9; 4]);
        // A second 6Cxx is reported, not chased.
        let mut card = Scripted::new(&[&[0x6C, 0x04], &[0x6C, 0x02]]);
        let outcome = exchange(&mut card, &[0, 0xCA, 0, 0, 0], Follow::default()).expect("ok");
        assert_eq!(outcome.sw, 0x6C02);
        assert_eq!(card.sent.len(), 2);
    }

    #[test]
    fn endless_61xx_is_bounded() {
        let endless: Vec<&[u8]> = vec![&[0x61, 0x01]; 10];
        let mut card = Scripted::new(&endless);
        let follow = Follow {
            max_follow_ups: 3,
            ..Follow::default()
        };
        let outcome = exchange(&mut card, &[0, 1, 0, 0], follow).expect("ok");
        assert_eq!(card.sent.len(), 4);
        assert_eq!(outcome.sw, 0x6101);
    }

    #[test]
    fn short_response_ends_the_exchange() {
        let mut card = Scripted::new(&[&[0x90]]);
        let outcome = exchange(&mut card, &[0, 1, 0, 0], Follow::default()).expect("ok");
        assert_eq!(outcome.sw, 0);
        assert_eq!(outcome.exchanges[0].response, vec![0x90]);
    }

    #[test]
    fn transport_errors_propagate() {
        let mut card = Scripted::new(&[&[0x61, 0x02]]);
        assert!(exchange(&mut card, &[0, 1, 0, 0], Follow::default()).is_err());
    }

    #[test]
    fn exact_le_reencodes() {
        assert_eq!(
            with_exact_le(&[0x00, 0xB0, 0x00, 0x00, 0x10], 0x20),
            Some(vec![0x00, 0xB0, 0x00, 0x00, 0x20])
        );
        assert_eq!(
            with_exact_le(&[0x00, 0xB0, 0x00, 0x00], 0x00),
            Some(vec![0x00, 0xB0, 0x00, 0x00, 0x00])
        );
        assert_eq!(with_exact_le(&[0x00, 0xB0], 1), None);
    }
}
