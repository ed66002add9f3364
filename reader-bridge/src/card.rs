//! The card as vpcd sees it: [`apdu::Card`] behind vpicc's [`VSmartCard`] trait.

use std::io::Write;

use apdu::hex_encode;
use vpicc::VSmartCard;

use crate::wire::response_or_6f00;

/// An [`apdu::Card`] with its ATR, answering vpcd's power events and APDUs.
///
/// vpcd's power on / power off / reset become [`apdu::Card::power_on`] / `power_off` / `reset`;
/// "get ATR" answers the profile's ATR. Every exchange is logged at debug level in hex and, with
/// a trace sink, appended as `C: <hex>` / `R: <hex>` lines.
pub struct BridgeCard {
    card: apdu::Card,
    atr: Vec<u8>,
    trace: Option<Box<dyn Write + Send>>,
    powered: bool,
}

impl BridgeCard {
    /// Wraps `card`, which answers power-up with `atr`.
    pub fn new(card: apdu::Card, atr: Vec<u8>) -> Self {
        Self {
            card,
            atr,
            trace: None,
            powered: false,
        }
    }

    /// Appends each exchange to `sink` as `C: <hex>` and `R: <hex>` lines.
    pub fn with_trace(mut self, sink: Box<dyn Write + Send>) -> Self {
        self.trace = Some(sink);
        self
    }

    /// The card inside, e.g. to inspect an applet in tests.
    pub fn card_mut(&mut self) -> &mut apdu::Card {
        &mut self.card
    }

    /// Whether vpcd has powered the card up (and not powered it off since).
    pub fn is_powered(&self) -> bool {
        self.powered
    }

    /// The connection to vpcd is gone: the card left the field. Powers it off if it was on, so
    /// session state (selection, chains, pending responses) does not outlive the session.
    pub fn connection_lost(&mut self) {
        if self.powered {
            tracing::debug!("connection lost: powering the card off");
            self.card.power_off();
            self.powered = false;
        }
    }

    fn trace_line(&mut self, tag: &str, bytes: &[u8]) {
        if let Some(sink) = self.trace.as_mut() {
            let line = format!("{tag}: {}\n", hex_encode(bytes));
            if let Err(e) = sink.write_all(line.as_bytes()).and_then(|()| sink.flush()) {
                tracing::warn!("cannot write the trace file ({e}); tracing stops");
                self.trace = None;
            }
        }
    }
}

impl VSmartCard for BridgeCard {
    fn atr(&self) -> &[u8] {
        tracing::debug!(atr = %hex_encode(&self.atr), "get ATR");
        &self.atr
    }

    fn power_on(&mut self) {
        tracing::debug!("power on");
        self.card.power_on();
        self.powered = true;
    }

    fn power_off(&mut self) {
        tracing::debug!("power off");
        self.card.power_off();
        self.powered = false;
    }

    fn reset(&mut self) {
        tracing::debug!("reset");
        self.card.reset();
        self.powered = true;
    }

    fn execute(&mut self, command: &[u8]) -> Vec<u8> {
        tracing::debug!("C: {}", hex_encode(command));
        self.trace_line("C", command);
        let response = response_or_6f00(self.card.transmit(command));
        tracing::debug!("R: {}", hex_encode(&response));
        self.trace_line("R", &response);
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use apdu::{Applet, Card, CardConfig, Command, Response};
    use std::sync::{Arc, Mutex};

    struct Fixed;
    impl Applet for Fixed {
        fn select(&mut self, _cmd: &Command) -> Response {
            Response::ok(b"HI".to_vec())
        }
        fn process(&mut self, _cmd: &Command) -> Response {
            Response::ok(vec![0x11; 300])
        }
    }

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn bridge_card() -> BridgeCard {
        let mut card = Card::new(CardConfig::default());
        card.install(&[0xF0, 1, 2, 3, 4], Box::new(Fixed));
        BridgeCard::new(card, vec![0x3B, 0x80, 0x80, 0x01, 0x01])
    }

    #[test]
    fn power_events_and_atr() {
        let mut card = bridge_card();
        assert_eq!(card.atr(), [0x3B, 0x80, 0x80, 0x01, 0x01]);
        assert!(!card.is_powered());
        card.power_on();
        assert!(card.is_powered() && card.card_mut().is_powered());
        assert_eq!(
            card.execute(&[0, 0xA4, 4, 0, 5, 0xF0, 1, 2, 3, 4]),
            b"HI\x90\x00"
        );
        card.reset();
        assert!(card.card_mut().selected_aid().is_none(), "reset deselects");
        card.power_off();
        assert!(!card.is_powered() && !card.card_mut().is_powered());
    }

    #[test]
    fn connection_lost_powers_off_and_clears_selection() {
        let mut card = bridge_card();
        card.power_on();
        card.execute(&[0, 0xA4, 4, 0, 5, 0xF0, 1, 2, 3, 4]);
        assert!(card.card_mut().selected_aid().is_some());
        card.connection_lost();
        assert!(!card.card_mut().is_powered());
        assert!(card.card_mut().selected_aid().is_none());
    }

    #[test]
    fn trace_lines_and_get_response() {
        let sink = Shared::default();
        let mut card = bridge_card().with_trace(Box::new(sink.clone()));
        card.power_on();
        card.execute(&[0, 0xA4, 4, 0, 5, 0xF0, 1, 2, 3, 4]);
        let first = card.execute(&[0x80, 0x10, 0, 0, 0]);
        assert_eq!(first.len(), 258);
        assert_eq!(first[256..], [0x61, 44]);
        let rest = card.execute(&[0x80, 0xC0, 0, 0, 44]);
        assert_eq!(rest.len(), 46);
        assert_eq!(rest[44..], [0x90, 0x00]);
        let text = String::from_utf8(sink.0.lock().expect("lock").clone()).expect("utf8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 6);
        assert_eq!(lines[0], "C: 00A4040005F001020304");
        assert_eq!(lines[1], "R: 48499000");
        assert_eq!(lines[4], "C: 80C000002C");
        assert!(lines[5].starts_with("R: 1111") && lines[5].ends_with("9000"));
    }
}
