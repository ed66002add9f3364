//! The card as vpcd sees it: [`apdu::Card`] behind vpicc's [`VSmartCard`] trait.

use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use apdu::hex_encode;
use vpicc::VSmartCard;

use crate::control::{SlotControl, hold};
use crate::faults::{Faults, Outcome, PowerSwitch, perform};
use crate::net::{self, Readiness};
use crate::trace::{PowerTrace, Tracer};
use crate::wire::response_or_6f00;

/// How often a held answer ([`crate::faults::Action::NoAnswer`]) checks whether to end.
const HOLD_POLL: Duration = Duration::from_millis(20);

/// The connection the card is served on, so a fault can take the card out of the field.
struct Link {
    stream: TcpStream,
    stop: Arc<AtomicBool>,
}

/// An [`apdu::Card`] with its ATR, answering vpcd's power events and APDUs.
///
/// vpcd's power on / power off / reset become [`apdu::Card::power_on`] / `power_off` / `reset`;
/// "get ATR" answers the profile's ATR. Every exchange is logged at debug level in hex and, with
/// a [`Tracer`], appended to the JSON Lines trace (see [`crate::trace`]).
///
/// Faults ([`crate::faults`]) are checked for every command APDU: a fired fault is traced, and
/// [`perform`] decides what the host gets. A fault that takes the card out of the field shuts
/// the vpcd connection (vpcd and pcscd see the card go) and leaves [`BridgeCard::take_absence`]
/// for the serve loop, which stays away that long before connecting again (a new power-up).
pub struct BridgeCard {
    card: apdu::Card,
    atr: Vec<u8>,
    trace: Option<Tracer>,
    powered: bool,
    faults: Faults,
    power: PowerSwitch,
    link: Option<Link>,
    absence: Option<Duration>,
    /// The card's control state (counters, presence, removal), when it has one.
    control: Option<Arc<SlotControl>>,
}

impl BridgeCard {
    /// Wraps `card`, which answers power-up with `atr`. Its storage should be under
    /// [`BridgeCard::with_power_switch`]'s switch for power-cut faults to reach it.
    pub fn new(card: apdu::Card, atr: Vec<u8>) -> Self {
        Self {
            card,
            atr,
            trace: None,
            powered: false,
            faults: Faults::new(),
            power: PowerSwitch::new(),
            link: None,
            absence: None,
            control: None,
        }
    }

    /// Reports to (and takes presence decisions and removals from) `control`.
    pub fn with_control(mut self, control: Arc<SlotControl>) -> Self {
        self.control = Some(control);
        self
    }

    /// Traces the presence events the card recorded since the last call and tells the control
    /// state about them.
    fn presence_events(&self) {
        let Some(ctl) = &self.control else {
            return;
        };
        let events = ctl.gate().take_events();
        if let Some(tracer) = &self.trace {
            for e in &events {
                tracer.presence(e);
            }
        }
        for e in &events {
            tracing::info!(
                id = e.id,
                request = e.request,
                policy = %e.policy,
                touched = e.touched,
                "presence {}",
                e.outcome.map_or("pending", |o| o.as_str())
            );
        }
        ctl.note_presence(&events);
    }

    /// Applies a power event (from vpcd, or the end of its connection) to the card, and reports
    /// it to the trace and the control endpoint.
    fn apply_power(&mut self, event: PowerTrace) {
        match event {
            PowerTrace::PowerOn => self.card.power_on(),
            PowerTrace::PowerOff => self.card.power_off(),
            PowerTrace::Reset => self.card.reset(),
        }
        self.powered = event != PowerTrace::PowerOff;
        if let Some(tracer) = &self.trace {
            tracer.power(event);
        }
        self.presence_events();
        if let Some(ctl) = &self.control {
            ctl.power(self.powered, event == PowerTrace::Reset);
        }
    }

    /// The switch the card's storage was wrapped with ([`PowerSwitch::wrap`]).
    pub fn with_power_switch(mut self, power: PowerSwitch) -> Self {
        self.power = power;
        self
    }

    /// A handle on this card's faults (arm, reset, pending), e.g. for the control endpoint.
    pub fn faults(&self) -> Faults {
        self.faults.clone()
    }

    /// The connection the card is now served on, and the bridge's stop flag: faults that
    /// take the card away shut it, a held answer ends when `stop` rises.
    pub fn attach_link(&mut self, stream: Option<TcpStream>, stop: Arc<AtomicBool>) {
        self.link = stream.map(|stream| Link { stream, stop });
    }

    /// How long the card stays out of the field after a fault removed it (taken once).
    pub fn take_absence(&mut self) -> Option<Duration> {
        self.absence.take()
    }

    /// Traces every exchange and power event through `tracer`.
    pub fn with_trace(mut self, tracer: Tracer) -> Self {
        self.trace = Some(tracer);
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
            self.apply_power(PowerTrace::PowerOff);
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
        self.apply_power(PowerTrace::PowerOn);
    }

    fn power_off(&mut self) {
        tracing::debug!("power off");
        self.apply_power(PowerTrace::PowerOff);
    }

    fn reset(&mut self) {
        tracing::debug!("reset");
        self.apply_power(PowerTrace::Reset);
    }

    fn execute(&mut self, command: &[u8]) -> Vec<u8> {
        tracing::debug!("C: {}", hex_encode(command));
        let fired = self.faults.on_command(command);
        if let Some(fired) = &fired {
            tracing::warn!("fault {} fires: {}", fired.id, fired.spec);
            if let Some(tracer) = &self.trace {
                tracer.fault(fired);
            }
        }
        // The persona's fixed processing time (apdu::Quirks::processing_delay_ms).
        let delay = self.card.config().quirks.processing_delay_ms;
        if delay > 0 {
            std::thread::sleep(Duration::from_millis(u64::from(delay)));
        }
        let action = fired.as_ref().map(|f| &f.spec.action);
        let outcome = perform(&mut self.card, &self.power, command, action);
        let mut response = match &outcome {
            Outcome::Answer { bytes, delay_ms } => {
                if *delay_ms > 0 {
                    std::thread::sleep(Duration::from_millis(*delay_ms));
                }
                response_or_6f00(bytes.clone())
            }
            _ => Vec::new(),
        };
        if hold::must_hold(command, &response) {
            // The card waits for the user and the client cannot poll: hold the answer
            // (control::hold). No answer at all when the card is removed meanwhile.
            self.presence_events();
            let card = &mut self.card;
            response = hold::hold(command, self.control.as_deref(), |poll| {
                response_or_6f00(card.transmit(poll))
            })
            .unwrap_or_default();
        }
        if let Some(ctl) = &self.control {
            ctl.count_apdu();
        }
        self.presence_events();
        tracing::debug!("R: {}", hex_encode(&response));
        if let Some(tracer) = &self.trace {
            tracer.apdu(command, &response);
        }
        match outcome {
            Outcome::Answer { .. } => self.faults.on_answer(command, &response),
            Outcome::Silent {
                remove_after_ms,
                away_ms,
            } => {
                self.hold(remove_after_ms.map(Duration::from_millis));
                self.leave_field(Duration::from_millis(away_ms));
            }
            Outcome::Removed {
                away_ms,
                cut_at_write,
            } => {
                if let Some(step) = cut_at_write {
                    tracing::warn!("power cut at storage write {step}: the card leaves the field");
                }
                self.leave_field(Duration::from_millis(away_ms));
            }
        }
        // After a removal this goes nowhere: the connection is shut, vpicc's send fails and
        // the serve loop ends the session.
        response
    }
}

impl BridgeCard {
    /// Keeps the answer back: until `limit` (if any), the bridge stops, the faults are reset,
    /// or the connection ends (vpcd went away, or the card was removed through the control
    /// endpoint, which shuts it).
    fn hold(&self, limit: Option<Duration>) {
        let start = Instant::now();
        // Without a connection (unit tests) there is nobody to keep waiting.
        let Some(link) = &self.link else {
            return;
        };
        loop {
            let over = limit.is_some_and(|l| start.elapsed() >= l);
            // Removed through the control endpoint: the connection is gone.
            let removed = self.control.as_ref().is_some_and(|c| !c.is_inserted());
            if link.stop.load(Ordering::SeqCst) || over || removed || self.faults.released() {
                return;
            }
            // vpcd sends nothing while it waits for this answer: the peek sleeps HOLD_POLL,
            // and sees the connection close.
            match net::wait_for_message(&link.stream, HOLD_POLL) {
                Ok(Readiness::Idle) => {}
                Ok(Readiness::Message) => std::thread::sleep(HOLD_POLL),
                Ok(Readiness::Closed) | Err(_) => return,
            }
        }
    }

    /// The card leaves the field for `away`: the connection to vpcd is shut (pcscd sees the
    /// card go), and the serve loop reconnects after `away`.
    fn leave_field(&mut self, away: Duration) {
        self.faults.on_power_loss();
        self.absence = Some(away);
        if let Some(link) = self.link.take() {
            if let Err(e) = link.stream.shutdown(Shutdown::Both) {
                tracing::warn!("cannot shut the vpcd connection for a removal: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::TraceSink;
    use crate::trace::tests::Shared;
    use apdu::{Applet, Card, CardConfig, Command, Response};

    struct Fixed;
    impl Applet for Fixed {
        fn select(&mut self, _cmd: &Command) -> Response {
            Response::ok(b"HI".to_vec())
        }
        fn process(&mut self, _cmd: &Command) -> Response {
            Response::ok(vec![0x11; 300])
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
        let mut card = bridge_card().with_trace(TraceSink::new(Box::new(sink.clone())).for_slot(3));
        card.power_on();
        card.execute(&[0, 0xA4, 4, 0, 5, 0xF0, 1, 2, 3, 4]);
        let first = card.execute(&[0x80, 0x10, 0, 0, 0]);
        assert_eq!(first.len(), 258);
        assert_eq!(first[256..], [0x61, 44]);
        let rest = card.execute(&[0x80, 0xC0, 0, 0, 44]);
        assert_eq!(rest.len(), 46);
        assert_eq!(rest[44..], [0x90, 0x00]);
        card.reset();
        card.connection_lost();
        card.connection_lost();
        let text = String::from_utf8(sink.0.lock().expect("lock").clone()).expect("utf8");
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON object per line"))
            .collect();
        let events: Vec<&str> = lines
            .iter()
            .map(|l| l["event"].as_str().expect("event"))
            .collect();
        assert_eq!(
            events,
            ["power_on", "apdu", "apdu", "apdu", "reset", "power_off"],
            "a lost connection powers off once"
        );
        assert!(lines.iter().all(|l| l["slot"] == 3));
        assert_eq!(lines[1]["c"], "00A4040005F001020304");
        assert_eq!(lines[1]["r"], "48499000");
        assert_eq!(lines[3]["c"], "80C000002C");
        let r = lines[3]["r"].as_str().expect("hex");
        assert!(r.starts_with("1111") && r.ends_with("9000"));
    }

    #[test]
    fn faults_are_traced_before_their_exchange_and_removals_leave_the_field() {
        use crate::faults::FaultSpec;
        let sink = Shared::default();
        let mut card = bridge_card().with_trace(TraceSink::new(Box::new(sink.clone())).for_slot(0));
        let faults = card.faults();
        faults
            .arm(
                FaultSpec::from_json(r#"{"on":{"apdu":2},"action":{"status":"6A80"}}"#)
                    .expect("fault"),
            )
            .expect("arm");
        faults
            .arm(
                FaultSpec::from_json(r#"{"on":{"ins":"10"},"action":{"remove":{"away_ms":7}}}"#)
                    .expect("fault"),
            )
            .expect("arm");
        card.power_on();
        assert_eq!(
            card.execute(&[0, 0xA4, 4, 0, 5, 0xF0, 1, 2, 3, 4]),
            b"HI\x90\x00"
        );
        assert_eq!(card.execute(&[0x80, 0x10, 0, 0, 0]), [0x6A, 0x80], "APDU 2");
        assert_eq!(card.take_absence(), None);
        assert!(
            card.execute(&[0x80, 0x10, 0, 0, 0]).is_empty(),
            "removed before answering"
        );
        assert_eq!(card.take_absence(), Some(Duration::from_millis(7)));
        assert!(faults.pending().is_empty());
        let text = String::from_utf8(sink.0.lock().expect("lock").clone()).expect("utf8");
        let events: Vec<String> = text
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).expect("JSON");
                format!(
                    "{}{}",
                    v["event"].as_str().unwrap_or(""),
                    v["r"].as_str().map(|r| format!(":{r}")).unwrap_or_default()
                )
            })
            .collect();
        assert_eq!(
            events,
            [
                "power_on",
                "apdu:48499000",
                "fault",
                "apdu:6A80",
                "fault",
                "apdu:"
            ]
        );
    }

    #[test]
    fn a_silent_card_ends_its_silence_when_the_connection_closes() {
        use crate::faults::FaultSpec;
        use std::net::TcpListener;
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let ours = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let (vpcd, _) = listener.accept().expect("accept");
        let mut card = bridge_card();
        card.attach_link(Some(ours), Arc::new(AtomicBool::new(false)));
        card.faults()
            .arm(
                FaultSpec::from_json(r#"{"on":{"apdu":1},"action":{"no_answer":{"away_ms":5}}}"#)
                    .expect("fault"),
            )
            .expect("arm");
        let closer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(150));
            drop(vpcd);
        });
        let start = Instant::now();
        card.power_on();
        assert!(
            card.execute(&[0x80, 0x10, 0, 0, 0]).is_empty(),
            "never answered"
        );
        assert!(
            start.elapsed() >= Duration::from_millis(100),
            "{:?}",
            start.elapsed()
        );
        assert_eq!(card.take_absence(), Some(Duration::from_millis(5)));
        closer.join().expect("closer");
    }
}
