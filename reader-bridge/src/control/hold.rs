//! Holding the answer for a client that cannot poll (CTAP 2.1 §11.3; `fido_applet::nfc`, "Waiting
//! for the user").
//!
//! A client that sends NFCCTAP_MSG with P1 = 00 (libfido2, Windows) must never see `91 00`.
//! When the card waits for the user it answers such a command `91 00` UP_NEEDED for its driver
//! only; the bridge then keeps vpcd (and so the client) waiting, and polls the card itself
//! with NFCCTAP_GETRESPONSE until the answer is final: after a touch or a policy change (which
//! wake it at once), or when the card's clock times the request out (seen at the next poll,
//! every [`POLL_INTERVAL`]). If the card is removed or the bridge stops meanwhile, there is no
//! answer at all.

use std::time::Duration;

use apdu::StatusWord;
use ctap_types::nfc::{MSG_GETRESPONSE_SUPPORTED, SW_STATUS_UPDATE, ins};

use crate::control::SlotControl;

/// How often a held command's card is polled when nothing wakes the bridge earlier: the
/// granularity of a `wait MS` timeout seen by such a client.
pub const POLL_INTERVAL: Duration = Duration::from_millis(25);

/// Whether `response` to `command` is a status update the client must not see: `91 00` to an
/// NFCCTAP_MSG (the last part of a chain included) whose P1 lacks bit 0x80.
pub fn must_hold(command: &[u8], response: &[u8]) -> bool {
    let [cla, ins, p1, ..] = *command else {
        return false;
    };
    let sw = response.len().checked_sub(2).map(|i| &response[i..]);
    cla & !0x10 == 0x80
        && ins == ins::NFCCTAP_MSG
        && p1 & MSG_GETRESPONSE_SUPPORTED == 0
        && sw == Some(&SW_STATUS_UPDATE.to_be_bytes()[..])
}

/// The NFCCTAP_GETRESPONSE poll the bridge sends in the client's place, with the client's
/// length form: a short Le of 256 (the card splits a longer answer with 61xx, which the client
/// follows with GET RESPONSE as for any answer) or, after an extended command, an extended Le
/// of 65536.
pub fn poll_for(command: &[u8]) -> Vec<u8> {
    let extended = command.len() >= 7 && command[4] == 0x00;
    let mut poll = vec![0x80, ins::NFCCTAP_GETRESPONSE, 0x00, 0x00, 0x00];
    if extended {
        poll.extend_from_slice(&[0x00, 0x00]);
    }
    poll
}

/// Holds `command`'s answer: polls `transmit` until the answer is not `91 00`. `None` when the
/// card is removed first (the client gets no answer: the connection is gone); 6F00 when the
/// bridge stops first.
pub fn hold(
    command: &[u8],
    control: Option<&SlotControl>,
    mut transmit: impl FnMut(&[u8]) -> Vec<u8>,
) -> Option<Vec<u8>> {
    let poll = poll_for(command);
    tracing::debug!("holding the answer until the user's presence is decided");
    loop {
        match control {
            Some(ctl) => {
                let generation = ctl.generation();
                let gone = |ctl: &SlotControl| {
                    if ctl.stopping() {
                        Some(Some(StatusWord::UNKNOWN.to_bytes().to_vec()))
                    } else if !ctl.is_inserted() {
                        Some(None)
                    } else {
                        None
                    }
                };
                if let Some(answer) = gone(ctl) {
                    return answer;
                }
                ctl.wait_for_change(generation, POLL_INTERVAL);
                if let Some(answer) = gone(ctl) {
                    return answer;
                }
            }
            None => std::thread::sleep(POLL_INTERVAL),
        }
        let response = transmit(&poll);
        if !must_hold(command, &response) {
            return Some(response);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fido_applet::presence::{PresenceGate, PresencePolicy};
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    #[test]
    fn which_answers_are_held() {
        let update = [0x02, 0x91, 0x00];
        assert!(must_hold(&[0x80, 0x10, 0x00, 0x00, 0x01, 0x04], &update));
        assert!(must_hold(&[0x90, 0x10, 0x00, 0x00, 0x01, 0x04], &update));
        assert!(!must_hold(&[0x80, 0x10, 0x80, 0x00, 0x01, 0x04], &update));
        assert!(!must_hold(&[0x80, 0x11, 0x00, 0x00], &update));
        assert!(!must_hold(
            &[0x80, 0x10, 0x00, 0x00, 0x01, 0x04],
            &[0x90, 0x00]
        ));
        assert!(!must_hold(&[0x80, 0x10], &update));
        assert!(!must_hold(&[0x80, 0x10, 0x00, 0x00], &[]));
    }

    #[test]
    fn the_poll_keeps_the_clients_length_form() {
        assert_eq!(
            poll_for(&[0x80, 0x10, 0, 0, 1, 4, 0]),
            [0x80, 0x11, 0, 0, 0]
        );
        assert_eq!(
            poll_for(&[0x80, 0x10, 0, 0, 0, 0, 1, 4, 0, 0]),
            [0x80, 0x11, 0, 0, 0, 0, 0]
        );
    }

    #[test]
    fn polls_until_final_or_gives_up_on_removal() {
        let msg = [0x80, 0x10, 0x00, 0x00, 0x01, 0x01, 0x00];
        let mut answers = vec![vec![0x02, 0x91, 0x00], vec![0x00, 0x90, 0x00]].into_iter();
        let held = hold(&msg, None, |poll| {
            assert_eq!(poll, [0x80, 0x11, 0x00, 0x00, 0x00]);
            answers.next().expect("polled twice only")
        });
        assert_eq!(held, Some(vec![0x00, 0x90, 0x00]));

        let ctl = SlotControl::new(
            0,
            PresenceGate::new(PresencePolicy::Manual),
            crate::faults::Faults::new(),
            Arc::new(AtomicBool::new(false)),
        );
        ctl.remove(Duration::ZERO);
        assert_eq!(hold(&msg, Some(&ctl), |_| vec![0x02, 0x91, 0x00]), None);
    }
}
