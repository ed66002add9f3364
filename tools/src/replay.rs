//! apdu-replay: turns a trace recorded by `reader-bridge --trace` into a regression test.
//!
//! The trace is JSON Lines, one event per line:
//! `{"t_ms": 12, "slot": 0, "event": "apdu", "c": "<command hex>", "r": "<response hex>"}` and
//! `{"t_ms": 0, "slot": 0, "event": "power_on" | "power_off" | "reset"}`. (The bridge's older
//! `C: <hex>` / `R: <hex>` line pairs are read too, without times.)
//!
//! Each slot's events go to a fresh in-process card made by the caller (the same profile and
//! seed as the recording bridge, built with `fido_applet::CardBuilder` and left unpowered, as
//! the bridge's is, so the trace's first `power_on` powers it); the card's [`ManualClock`] is moved by the trace's time deltas,
//! so time-dependent rules such as authenticatorReset's 10-second window replay the same. Every
//! response is compared byte for byte; differences are described with both sides decoded.
//!
//! A `{"event": "fault", ...}` line (a fault the bridge fired, `reader_bridge::faults`) applies
//! to the slot's next exchange: the replay runs it through the same
//! `reader_bridge::faults::perform` as the bridge (a status word instead, a flipped byte, a
//! command that never reached the card, an answer lost with the card, a power cut at a storage
//! write), so the faulted exchange and the card's state after it are reproduced too.

use std::collections::BTreeMap;

use fido_host::client::sw_name;
use fido_host::ctap_types::Command;
use fido_host::ctap_types::cbor;
use fido_host::ctap_types::error::status_name;
use fido_host::ctap_types::nfc::{CLA, ins};
use reader_bridge::faults::{FaultSpec, PowerSwitch, perform};

/// One trace event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Apdu {
        command: Vec<u8>,
        response: Vec<u8>,
    },
    PowerOn,
    PowerOff,
    Reset,
    /// A fault fired on the slot's next exchange.
    Fault(Box<FaultSpec>),
}

/// A trace line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// 1-based line number in the trace file.
    pub line: usize,
    pub t_ms: u64,
    pub slot: u64,
    pub event: Event,
}

fn hex_field(obj: &serde_json::Value, key: &str, line: usize) -> Result<Vec<u8>, String> {
    let text = obj
        .get(key)
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| format!("line {line}: an \"apdu\" event needs a hex string {key:?}"))?;
    apdu::hex_decode(text).ok_or_else(|| format!("line {line}: {key:?} is not hex: {text:?}"))
}

/// Parses a trace; `Err` names the first bad line.
pub fn parse_trace(text: &str) -> Result<Vec<Entry>, String> {
    let mut entries = Vec::new();
    let mut pending_command: Option<(usize, Vec<u8>)> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        // Legacy "C: hex" / "R: hex" pairs.
        if let Some(hex) = trimmed.strip_prefix("C:") {
            let bytes = apdu::hex_decode(hex.trim())
                .ok_or_else(|| format!("line {line}: command is not hex"))?;
            if pending_command.is_some() {
                return Err(format!(
                    "line {line}: two commands without a response between"
                ));
            }
            pending_command = Some((line, bytes));
            continue;
        }
        if let Some(hex) = trimmed.strip_prefix("R:") {
            let bytes = apdu::hex_decode(hex.trim())
                .ok_or_else(|| format!("line {line}: response is not hex"))?;
            let (at, command) = pending_command
                .take()
                .ok_or_else(|| format!("line {line}: a response without a command"))?;
            entries.push(Entry {
                line: at,
                t_ms: entries.last().map_or(0, |e: &Entry| e.t_ms),
                slot: 0,
                event: Event::Apdu {
                    command,
                    response: bytes,
                },
            });
            continue;
        }
        let obj: serde_json::Value = serde_json::from_str(trimmed)
            .map_err(|e| format!("line {line}: not a JSON object: {e}"))?;
        let t_ms = obj
            .get("t_ms")
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| format!("line {line}: no \"t_ms\" (milliseconds, unsigned)"))?;
        let slot = obj
            .get("slot")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0);
        let event = match obj.get("event").and_then(serde_json::Value::as_str) {
            Some("apdu") => Event::Apdu {
                command: hex_field(&obj, "c", line)?,
                response: hex_field(&obj, "r", line)?,
            },
            // Presence requests and outcomes (reader-bridge's trace) are a record of the user,
            // not an exchange: the replayed card answers by its own --presence policy.
            Some("presence") => continue,
            Some("power_on") => Event::PowerOn,
            Some("power_off") => Event::PowerOff,
            Some("reset") => Event::Reset,
            Some("fault") => {
                let mut fault = obj.clone();
                if let Some(map) = fault.as_object_mut() {
                    for key in ["t_ms", "slot", "event", "id"] {
                        map.remove(key);
                    }
                }
                let spec: FaultSpec = serde_json::from_value(fault)
                    .map_err(|e| format!("line {line}: a fault the replay cannot read: {e}"))?;
                Event::Fault(Box::new(spec))
            }
            other => {
                return Err(format!(
                    "line {line}: unknown event {other:?} (expected apdu, power_on, power_off, reset, fault)"
                ));
            }
        };
        entries.push(Entry {
            line,
            t_ms,
            slot,
            event,
        });
    }
    if let Some((line, _)) = pending_command {
        return Err(format!("line {line}: a command without a response"));
    }
    Ok(entries)
}

/// A response that differs from the recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// 1-based number of the exchange in the trace.
    pub exchange: usize,
    pub line: usize,
    pub slot: u64,
    pub command: Vec<u8>,
    pub recorded: Vec<u8>,
    pub replayed: Vec<u8>,
}

/// The outcome of a replay.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReplayReport {
    pub exchanges: usize,
    pub power_events: usize,
    pub differences: Vec<Difference>,
}

impl ReplayReport {
    pub fn identical(&self) -> bool {
        self.differences.is_empty()
    }

    /// "412 exchanges, all identical" or "412 exchanges, 3 differ (first: exchange 17, line 35)".
    pub fn summary(&self) -> String {
        match self.differences.first() {
            None => format!("{} exchanges, all identical", self.exchanges),
            Some(first) => format!(
                "{} exchanges, {} differ (first: exchange {}, trace line {})",
                self.exchanges,
                self.differences.len(),
                first.exchange,
                first.line
            ),
        }
    }
}

/// Advances a card's clock by the given milliseconds.
pub type AdvanceClock = Box<dyn FnMut(u64)>;

/// Replays `entries`; `make_card` builds the fresh card for a slot, with a function that moves
/// its clock forward (`fido_applet::platform::ManualClock::advance`). A power-cut fault in the
/// trace finds no storage to cut here: use [`replay_with_power`].
pub fn replay(
    entries: &[Entry],
    mut make_card: impl FnMut() -> Result<(apdu::Card, AdvanceClock), String>,
) -> Result<ReplayReport, String> {
    replay_with_power(entries, || {
        let (card, clock) = make_card()?;
        Ok((card, clock, PowerSwitch::new()))
    })
}

/// A slot's card during a replay.
struct Replayed {
    card: apdu::Card,
    clock: AdvanceClock,
    last_t: u64,
    power: PowerSwitch,
    fault: Option<Box<FaultSpec>>,
}

/// [`replay`], with each card's storage under a [`PowerSwitch`] (`switch.wrap(storage)`), so
/// the trace's power-cut faults cut the replayed card's writes as they cut the bridge's.
pub fn replay_with_power(
    entries: &[Entry],
    mut make_card: impl FnMut() -> Result<(apdu::Card, AdvanceClock, PowerSwitch), String>,
) -> Result<ReplayReport, String> {
    let mut cards: BTreeMap<u64, Replayed> = BTreeMap::new();
    let mut report = ReplayReport::default();
    for entry in entries {
        let slot = match cards.entry(entry.slot) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(e) => {
                let (card, clock, power) = make_card()?;
                e.insert(Replayed {
                    card,
                    clock,
                    last_t: entry.t_ms,
                    power,
                    fault: None,
                })
            }
        };
        let (card, clock, last_t) = (&mut slot.card, &mut slot.clock, &mut slot.last_t);
        // Time moves forward only: a trace whose clock steps back keeps the card's time.
        clock(entry.t_ms.saturating_sub(*last_t));
        *last_t = (*last_t).max(entry.t_ms);
        match &entry.event {
            Event::PowerOn => {
                report.power_events += 1;
                card.power_on();
            }
            Event::PowerOff => {
                report.power_events += 1;
                card.power_off();
            }
            Event::Reset => {
                report.power_events += 1;
                card.reset();
            }
            Event::Fault(spec) => slot.fault = Some(spec.clone()),
            Event::Apdu { command, response } => {
                report.exchanges += 1;
                let fault = slot.fault.take();
                let action = fault.as_ref().map(|f| &f.action);
                let replayed = perform(card, &slot.power, command, action)
                    .host_bytes()
                    .to_vec();
                if &replayed != response {
                    report.differences.push(Difference {
                        exchange: report.exchanges,
                        line: entry.line,
                        slot: entry.slot,
                        command: command.clone(),
                        recorded: response.clone(),
                        replayed,
                    });
                }
            }
        }
    }
    Ok(report)
}

/// What a command APDU is, in words: "NFCCTAP_MSG getAssertion {…}", "SELECT A0000006472F0001".
pub fn describe_command(command: &[u8]) -> String {
    let Ok(cmd) = apdu::Command::decode(command) else {
        return format!("{} (not a valid APDU)", apdu::hex_encode(command));
    };
    match (cmd.cla & 0xEF, cmd.ins) {
        (0x00, 0xA4) => format!("SELECT {}", apdu::hex_encode(&cmd.data)),
        (0x00 | 0x80, 0xC0) => format!("GET RESPONSE (CLA {:02X}, Le {})", cmd.cla, cmd.ne()),
        (CLA, ins::NFCCTAP_MSG) => {
            let chained = if cmd.cla & 0x10 != 0 {
                " (chained part)"
            } else {
                ""
            };
            match cmd.data.split_first() {
                Some((&c, rest)) if cmd.cla & 0x10 == 0 => {
                    let name = Command::try_from(c)
                        .map(Command::short_name)
                        .unwrap_or("unknown CTAP command");
                    if rest.is_empty() {
                        format!("NFCCTAP_MSG {name} (0x{c:02X})")
                    } else {
                        format!("NFCCTAP_MSG {name} (0x{c:02X}) {}", cbor::diag_bytes(rest))
                    }
                }
                _ => format!("NFCCTAP_MSG{chained}, {} bytes", cmd.data.len()),
            }
        }
        (CLA, ins::NFCCTAP_GETRESPONSE) => "NFCCTAP_GETRESPONSE".into(),
        (CLA, ins::NFCCTAP_CONTROL) => format!("NFCCTAP_CONTROL P1={:02X}", cmd.p1),
        _ => format!(
            "CLA {:02X} INS {:02X} P1 {:02X} P2 {:02X}, {} data bytes",
            cmd.cla,
            cmd.ins,
            cmd.p1,
            cmd.p2,
            cmd.data.len()
        ),
    }
}

/// A response in words: status word with its name and, for an NFCCTAP_MSG answer, the CTAP
/// status and the CBOR in diagnostic notation.
pub fn describe_response(command: &[u8], response: &[u8]) -> String {
    let Some((data, sw)) = crate::split_sw(response) else {
        return format!("{} (no status word)", apdu::hex_encode(response));
    };
    let sw_text = format!("SW {}", sw_name(sw));
    if data.is_empty() {
        return sw_text;
    }
    let is_ctap = command.len() >= 2 && command[0] & 0xEF == CLA && command[1] == ins::NFCCTAP_MSG;
    let [sw1, _] = sw.to_be_bytes();
    if is_ctap && (sw == 0x9000 || sw1 == 0x61) {
        let (status, body) = (data[0], &data[1..]);
        let body_text = if body.is_empty() {
            String::new()
        } else if sw == 0x9000 {
            format!(" {}", cbor::diag_bytes(body))
        } else {
            format!(
                " and the first {} bytes of CBOR (the rest follows by GET RESPONSE): {}",
                body.len(),
                apdu::hex_encode(body)
            )
        };
        return format!(
            "{sw_text}; CTAP {} (0x{status:02X}){body_text}",
            status_name(status)
        );
    }
    if command.get(1) == Some(&0xA4) {
        if let Ok(text) = std::str::from_utf8(data) {
            return format!("{sw_text}; data {text:?}");
        }
    }
    format!(
        "{sw_text}; {} data bytes {}",
        data.len(),
        apdu::hex_encode(data)
    )
}

/// The first `max` differences, both sides decoded.
pub fn describe_differences(report: &ReplayReport, max: usize) -> String {
    let mut out = String::new();
    for d in report.differences.iter().take(max) {
        out.push_str(&format!(
            "exchange {} (trace line {}, slot {}): {}\n  command   {}\n  recorded  {}\n            {}\n  replayed  {}\n            {}\n",
            d.exchange,
            d.line,
            d.slot,
            describe_command(&d.command),
            apdu::hex_encode(&d.command),
            apdu::hex_encode(&d.recorded),
            describe_response(&d.command, &d.recorded),
            apdu::hex_encode(&d.replayed),
            describe_response(&d.command, &d.replayed),
        ));
    }
    if report.differences.len() > max {
        out.push_str(&format!(
            "… and {} more difference(s)\n",
            report.differences.len() - max
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_json_lines_and_legacy_pairs() {
        let text = r#"{"t_ms": 0, "slot": 0, "event": "power_on"}
{"t_ms": 5, "slot": 0, "event": "apdu", "c": "00A4040008A0000006472F000100", "r": "4649444F5F325F309000"}

{"t_ms": 9, "slot": 1, "event": "reset"}
"#;
        let entries = parse_trace(text).expect("parses");
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[1].line, 2);
        assert_eq!(entries[2].slot, 1);
        assert!(matches!(entries[1].event, Event::Apdu { .. }));
        let legacy = parse_trace("C: 00A4\nR: 6A82\n").expect("legacy");
        assert_eq!(
            legacy[0].event,
            Event::Apdu {
                command: vec![0x00, 0xA4],
                response: vec![0x6A, 0x82]
            }
        );
    }

    #[test]
    fn bad_lines_are_named() {
        assert!(parse_trace("{nope").expect_err("bad").starts_with("line 1"));
        let e = parse_trace("\n{\"t_ms\": 1, \"event\": \"apdu\", \"c\": \"zz\", \"r\": \"9000\"}")
            .expect_err("bad hex");
        assert!(e.starts_with("line 2"), "{e}");
        assert!(parse_trace("{\"t_ms\": 1, \"event\": \"warp\"}").is_err());
        assert!(parse_trace("C: 00A4\n").is_err());
    }

    #[test]
    fn describes_ctap_answers() {
        let cmd = [0x80, 0x10, 0x00, 0x00, 0x01, 0x04, 0x00];
        let resp = [0x00, 0xA1, 0x01, 0x80, 0x90, 0x00];
        let text = describe_response(&cmd, &resp);
        assert!(text.contains("CTAP CTAP2_OK (0x00) {1: []}"), "{text}");
        assert!(
            describe_response(&cmd, &[0x27, 0x90, 0x00]).contains("CTAP2_ERR_OPERATION_DENIED")
        );
        assert!(describe_response(&cmd, &[0x6D, 0x00]).starts_with("SW 6D00"));
        assert_eq!(describe_command(&cmd), "NFCCTAP_MSG getInfo (0x04)");
        assert!(describe_command(&[0x00, 0xA4, 0x04, 0x00, 0x01, 0xA0]).starts_with("SELECT A0"));
        assert!(describe_response(&cmd, &[0x01]).contains("no status word"));
    }
}
