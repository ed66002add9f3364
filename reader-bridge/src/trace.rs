//! APDU traces as JSON Lines, one object per exchange or power event, flushed per line so a
//! trace can be read (`tail -f`, `apdu-replay`) while the card runs:
//!
//! ```text
//! {"t_ms":12,"slot":0,"event":"power_on"}
//! {"t_ms":15,"slot":0,"event":"apdu","c":"00A4040008A0000006472F0001","r":"4649444F5F325F309000"}
//! {"t_ms":90,"slot":0,"event":"power_off"}
//! ```
//!
//! `t_ms` counts milliseconds since the bridge started; `slot` is the card's number (its vpcd slot
//! with `--slots`, its position among the `--vpcd` options otherwise); `event` is `apdu`,
//! `power_on`, `power_off`, `reset`, `fault` or `presence`; `c` / `r` are the command and
//! response APDUs in upper-case hex (`r` is empty when a fault left the command unanswered). A
//! `fault` line precedes the exchange a fault fired on and carries it (`id`, `on`, `action`, as
//! in [`crate::faults`]). Several cards of one process write to one file, a whole line at a time.
//!
//! A `presence` line records a user-presence request of the card and, in a later line with the
//! same `id`, its outcome (`fido_applet::presence`):
//!
//! ```text
//! {"t_ms":40,"slot":0,"event":"presence","id":1,"request":"makeCredential","outcome":"pending","policy":"manual","touched":false}
//! {"t_ms":900,"slot":0,"event":"presence","id":1,"request":"makeCredential","outcome":"granted","policy":"manual","touched":true}
//! ```
//!
//! `outcome` is `pending` (the request waits for the user), `granted`, `denied`, `timeout`,
//! `cancelled` (the host cancelled) or `abandoned` (another command, a reset or power loss);
//! a request decided at once (`auto`, `deny`) has only its outcome line. Each line is written
//! before the `apdu` line of the exchange in which it happened.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use apdu::hex_encode;
use fido_applet::presence::PresenceEvent;

use crate::faults::FiredFault;

/// A power event as traced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerTrace {
    PowerOn,
    PowerOff,
    Reset,
}

impl PowerTrace {
    /// The `event` value.
    pub fn name(self) -> &'static str {
        match self {
            Self::PowerOn => "power_on",
            Self::PowerOff => "power_off",
            Self::Reset => "reset",
        }
    }
}

/// The shared trace file of one bridge process.
#[derive(Clone)]
pub struct TraceSink {
    out: Arc<Mutex<Option<Box<dyn Write + Send>>>>,
    start: Instant,
}

impl TraceSink {
    /// Traces into `out`; `t_ms` counts from now.
    pub fn new(out: Box<dyn Write + Send>) -> Self {
        Self {
            out: Arc::new(Mutex::new(Some(out))),
            start: Instant::now(),
        }
    }

    /// The tracer of card `slot`.
    pub fn for_slot(&self, slot: u16) -> Tracer {
        Tracer {
            sink: self.clone(),
            slot,
        }
    }

    fn write_line(&self, line: &str) {
        // A poisoned lock means another card's thread panicked mid-write; the file is still
        // usable, at worst with one torn line.
        let mut guard = self
            .out
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(out) = guard.as_mut() {
            if let Err(e) = out
                .write_all(line.as_bytes())
                .and_then(|()| out.write_all(b"\n"))
                .and_then(|()| out.flush())
            {
                tracing::warn!("cannot write the trace file ({e}); tracing stops");
                *guard = None;
            }
        }
    }

    fn t_ms(&self) -> u128 {
        self.start.elapsed().as_millis()
    }
}

/// Writes one card's events into a [`TraceSink`].
#[derive(Clone)]
pub struct Tracer {
    sink: TraceSink,
    slot: u16,
}

impl Tracer {
    /// One command / response exchange.
    pub fn apdu(&self, command: &[u8], response: &[u8]) {
        let line = apdu_line(self.sink.t_ms(), self.slot, command, response);
        self.sink.write_line(&line);
    }

    /// A fault fired on the next exchange.
    pub fn fault(&self, fired: &FiredFault) {
        let line = fault_line(self.sink.t_ms(), self.slot, fired);
        self.sink.write_line(&line);
    }

    /// A presence request or its outcome.
    pub fn presence(&self, event: &PresenceEvent) {
        let line = presence_line(self.sink.t_ms(), self.slot, event);
        self.sink.write_line(&line);
    }

    /// A power event.
    pub fn power(&self, event: PowerTrace) {
        let line = power_line(self.sink.t_ms(), self.slot, event);
        self.sink.write_line(&line);
    }
}

/// The JSON line of an exchange. Every value is a number, a fixed name or hex, so no escaping is
/// needed and the keys keep this order.
pub fn apdu_line(t_ms: u128, slot: u16, command: &[u8], response: &[u8]) -> String {
    format!(
        r#"{{"t_ms":{t_ms},"slot":{slot},"event":"apdu","c":"{}","r":"{}"}}"#,
        hex_encode(command),
        hex_encode(response)
    )
}

/// The JSON line of a fired fault: `t_ms`, `slot`, `event` first, then the fault.
pub fn fault_line(t_ms: u128, slot: u16, fired: &FiredFault) -> String {
    let fault = serde_json::to_string(fired).unwrap_or_else(|_| "{}".to_owned());
    let rest = fault.strip_prefix('{').unwrap_or("}");
    let sep = if rest == "}" { "" } else { "," };
    format!(r#"{{"t_ms":{t_ms},"slot":{slot},"event":"fault"{sep}{rest}"#)
}

/// The JSON line of a presence event (names are fixed ASCII words: no escaping needed).
pub fn presence_line(t_ms: u128, slot: u16, event: &PresenceEvent) -> String {
    format!(
        r#"{{"t_ms":{t_ms},"slot":{slot},"event":"presence","id":{},"request":"{}","outcome":"{}","policy":"{}","touched":{}}}"#,
        event.id,
        event.request,
        event.outcome.map_or("pending", |o| o.as_str()),
        event.policy,
        event.touched
    )
}

/// The JSON line of a power event.
pub fn power_line(t_ms: u128, slot: u16, event: PowerTrace) -> String {
    format!(
        r#"{{"t_ms":{t_ms},"slot":{slot},"event":"{}"}}"#,
        event.name()
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A `Write` that collects into a shared buffer.
    #[derive(Clone, Default)]
    pub struct Shared(pub Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    struct Broken;
    impl Write for Broken {
        fn write(&mut self, _buf: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk full"))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_are_json_with_the_agreed_keys() {
        let line = apdu_line(1234, 1, &[0x00, 0xA4], &[0x90, 0x00]);
        assert_eq!(
            line,
            r#"{"t_ms":1234,"slot":1,"event":"apdu","c":"00A4","r":"9000"}"#
        );
        let v: serde_json::Value = serde_json::from_str(&line).expect("JSON");
        assert_eq!(v["t_ms"], 1234);
        assert_eq!(v["c"], "00A4");
        for (event, name) in [
            (PowerTrace::PowerOn, "power_on"),
            (PowerTrace::PowerOff, "power_off"),
            (PowerTrace::Reset, "reset"),
        ] {
            let v: serde_json::Value =
                serde_json::from_str(&power_line(5, 0, event)).expect("JSON");
            assert_eq!(v, serde_json::json!({"t_ms": 5, "slot": 0, "event": name}));
        }
    }

    #[test]
    fn fault_lines_carry_the_fault() {
        let fired = FiredFault {
            id: 2,
            spec: crate::faults::FaultSpec::from_json(
                r#"{"on":{"ins":"10"},"action":{"status":"6F00"}}"#,
            )
            .expect("fault"),
        };
        let line = fault_line(7, 1, &fired);
        assert_eq!(
            line,
            r#"{"t_ms":7,"slot":1,"event":"fault","id":2,"on":{"ins":"10"},"action":{"status":"6F00"}}"#
        );
    }

    #[test]
    fn presence_lines() {
        use fido_applet::presence::{Outcome, PresencePolicy};
        let event = PresenceEvent {
            id: 4,
            request: "makeCredential",
            outcome: None,
            policy: PresencePolicy::Wait(300),
            touched: false,
        };
        let v: serde_json::Value =
            serde_json::from_str(&presence_line(7, 1, &event)).expect("JSON");
        assert_eq!(
            v,
            serde_json::json!({"t_ms": 7, "slot": 1, "event": "presence", "id": 4,
                "request": "makeCredential", "outcome": "pending", "policy": "wait 300",
                "touched": false})
        );
        let done = PresenceEvent {
            outcome: Some(Outcome::Granted),
            touched: true,
            ..event
        };
        let v: serde_json::Value = serde_json::from_str(&presence_line(9, 1, &done)).expect("JSON");
        assert_eq!(
            (v["outcome"].as_str(), v["touched"].as_bool()),
            (Some("granted"), Some(true))
        );
    }

    #[test]
    fn cards_share_one_file_line_by_line() {
        let buf = Shared::default();
        let sink = TraceSink::new(Box::new(buf.clone()));
        let (a, b) = (sink.for_slot(0), sink.for_slot(1));
        a.power(PowerTrace::PowerOn);
        b.apdu(&[1, 2], &[0x6D, 0x00]);
        a.power(PowerTrace::PowerOff);
        let text = String::from_utf8(buf.0.lock().expect("lock").clone()).expect("utf-8");
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON line"))
            .collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[1]["slot"], 1);
        assert_eq!(lines[1]["r"], "6D00");
        assert!(lines[0]["t_ms"].as_u64() <= lines[2]["t_ms"].as_u64());
    }

    #[test]
    fn a_failing_file_stops_tracing_without_failing_the_card() {
        let sink = TraceSink::new(Box::new(Broken));
        let t = sink.for_slot(0);
        t.power(PowerTrace::PowerOn);
        t.apdu(&[0], &[0x90, 0]);
        assert!(sink.out.lock().expect("lock").is_none());
    }
}
