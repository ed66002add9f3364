//! The control protocol: JSON Lines. A client writes one request object per line and reads one
//! response object per line, in order; errors are responses too (`"ok": false` with an
//! `"error"` sentence), so a test in any language drives the card with a socket and a JSON
//! library.
//!
//! | request | effect | response fields besides `"ok": true` |
//! |---|---|---|
//! | `{"cmd":"status"}` | | `slot`, `present`, `connected`, `powered`, `presence` (`policy`, `pending`), `faults`, `counters` |
//! | `{"cmd":"remove"}` | the card leaves the reader: the vpcd connection is closed and stays closed | `slot`, `present` |
//! | `{"cmd":"insert"}` | the card comes back (after at least [`crate::control::slot::MIN_OUT`] out, so pcscd saw it go): the bridge reconnects and pcscd powers it up | `slot`, `present`, `connected`, `powered` |
//! | `{"cmd":"tap","out_ms":1000}` | remove, wait `out_ms` (default and minimum: `MIN_OUT`), insert: a new power-up | as `insert` |
//! | `{"cmd":"presence","mode":"wait","ms":5000}` | presence policy `auto`, `deny`, `manual` or `wait` (with `ms`) | `slot`, `policy` |
//! | `{"cmd":"touch","wait_ms":0}` | approves the pending presence request; with `wait_ms`, first waits that long for one | `slot`, `request` |
//! | `{"cmd":"fault","fault":{"on":{"ins":"10"},"action":{"status":"6F00"}}}` | arms a fault ([`crate::faults`]; the same form as a `--faults` file's entries, in JSON) | `slot`, `id` |
//! | `{"cmd":"reset-faults"}` | disarms every armed fault (and releases a held answer) | `slot`, `disarmed` |
//!
//! Every request may name the card with `"slot": N`; a bridge serving one card needs none.
//! On Windows every request also carries the per-run `"token"` (see [`crate::control::endpoint`]).

use std::time::Duration;

use fido_applet::presence::PresencePolicy;
use serde_json::{Map, Value, json};

use crate::cli::CtlCommand;
use crate::control::SlotControl;
use crate::faults::FaultSpec;
use std::sync::Arc;

/// How long `remove` and `insert` wait for the card's thread and pcscd.
pub const SETTLE_TIMEOUT: Duration = Duration::from_secs(5);
/// `tap`'s default time out of the field: pcscd polls vpcd's readers every 400 ms, so a card
/// away for less might not be seen to leave.
pub const DEFAULT_TAP_OUT_MS: u64 = 1000;
/// The longest `out_ms` / `wait_ms` accepted (a typo should not hang a test for hours).
pub const MAX_WAIT_MS: u64 = 600_000;

/// The commands, for error messages.
const COMMANDS: &str = "status, remove, insert, tap, presence, touch, fault, reset-faults";

/// A failed request: `{"ok": false, "error": ...}`.
pub fn error(message: impl Into<String>) -> Value {
    json!({"ok": false, "error": message.into()})
}

fn ok(fields: Value) -> Value {
    let mut out = Map::new();
    out.insert("ok".to_owned(), Value::Bool(true));
    if let Value::Object(fields) = fields {
        out.extend(fields);
    }
    Value::Object(out)
}

/// Every card's control state: what the endpoint serves.
pub struct Controls {
    slots: Vec<Arc<SlotControl>>,
    /// On Windows, the per-run token every request must carry.
    token: Option<String>,
}

impl Controls {
    /// The endpoint of these cards; `token`, when given, must come with every request.
    pub fn new(slots: Vec<Arc<SlotControl>>, token: Option<String>) -> Self {
        Self { slots, token }
    }

    /// Answers one request line (without its newline) with one response line.
    pub fn handle_line(&self, line: &str) -> String {
        let response = match serde_json::from_str::<Value>(line) {
            Ok(request) => self.handle(&request),
            Err(e) => error(format!("a request is one JSON object per line: {e}")),
        };
        response.to_string()
    }

    /// Answers one request.
    pub fn handle(&self, request: &Value) -> Value {
        let Some(req) = request.as_object() else {
            return error("a request is a JSON object, e.g. {\"cmd\":\"status\"}");
        };
        if let Some(token) = &self.token {
            let given = req.get("token").and_then(Value::as_str).unwrap_or("");
            if !constant_time_eq(given.as_bytes(), token.as_bytes()) {
                return error("missing or wrong \"token\" (see the endpoint file)");
            }
        }
        let Some(cmd) = req.get("cmd").and_then(Value::as_str) else {
            return error(format!("no \"cmd\" (one of {COMMANDS})"));
        };
        let slot = match self.slot(req) {
            Ok(slot) => slot,
            Err(e) => return error(e),
        };
        let result = match cmd {
            "status" => Ok(status(slot)),
            "remove" => remove(slot),
            "insert" => Ok(insert(slot)),
            "tap" => tap(slot, req),
            "presence" => presence(slot, req),
            "touch" => touch(slot, req),
            "fault" => fault(slot, req),
            "reset-faults" => Ok(json!({"slot": slot.slot(), "disarmed": slot.faults().reset()})),
            other => Err(format!("unknown command {other:?} (one of {COMMANDS})")),
        };
        match result {
            Ok(fields) => ok(fields),
            Err(e) => error(e),
        }
    }

    fn slot(&self, req: &Map<String, Value>) -> Result<&SlotControl, String> {
        let served = || {
            self.slots
                .iter()
                .map(|s| s.slot().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        match req.get("slot") {
            None | Some(Value::Null) => match self.slots.as_slice() {
                [only] => Ok(only),
                _ => Err(format!(
                    "this bridge serves the cards in slots {}: name one with \"slot\"",
                    served()
                )),
            },
            Some(v) => {
                let n = v
                    .as_u64()
                    .ok_or_else(|| format!("\"slot\" is a card number, not {v}"))?;
                self.slots
                    .iter()
                    .find(|s| u64::from(s.slot()) == n)
                    .map(|s| &**s)
                    .ok_or_else(|| format!("no card in slot {n} (this bridge serves {})", served()))
            }
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn millis(req: &Map<String, Value>, key: &str, default: u64) -> Result<u64, String> {
    match req.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => match v.as_u64() {
            Some(ms) if ms <= MAX_WAIT_MS => Ok(ms),
            _ => Err(format!(
                "{key:?} is a number of milliseconds from 0 to {MAX_WAIT_MS}, not {v}"
            )),
        },
    }
}

fn status(slot: &SlotControl) -> Value {
    slot.status()
}

fn fault(slot: &SlotControl, req: &Map<String, Value>) -> Result<Value, String> {
    let spec = req
        .get("fault")
        .filter(|f| f.is_object())
        .ok_or("\"fault\" is the fault as a JSON object, e.g. {\"on\":{\"ins\":\"10\"},\"action\":{\"status\":\"6F00\"}}")?;
    let spec = FaultSpec::from_json(&spec.to_string()).map_err(|e| e.to_string())?;
    let id = slot.faults().arm(spec).map_err(|e| e.to_string())?;
    Ok(json!({"slot": slot.slot(), "id": id}))
}

fn remove(slot: &SlotControl) -> Result<Value, String> {
    if !slot.remove(SETTLE_TIMEOUT) {
        return Err(format!(
            "the card in slot {} did not leave the reader within {} s",
            slot.slot(),
            SETTLE_TIMEOUT.as_secs()
        ));
    }
    Ok(json!({"slot": slot.slot(), "present": false}))
}

fn insert(slot: &SlotControl) -> Value {
    let (connected, powered) = slot.insert(SETTLE_TIMEOUT);
    json!({"slot": slot.slot(), "present": true, "connected": connected, "powered": powered})
}

fn tap(slot: &SlotControl, req: &Map<String, Value>) -> Result<Value, String> {
    let out_ms = millis(req, "out_ms", DEFAULT_TAP_OUT_MS)?;
    remove(slot)?;
    std::thread::sleep(Duration::from_millis(out_ms));
    Ok(insert(slot))
}

fn presence(slot: &SlotControl, req: &Map<String, Value>) -> Result<Value, String> {
    let mode = req
        .get("mode")
        .and_then(Value::as_str)
        .ok_or("\"mode\" is one of \"auto\", \"deny\", \"manual\", \"wait\" (with \"ms\")")?;
    let has_ms = req.get("ms").is_some();
    let policy = match mode {
        "wait" if !has_ms => return Err("\"wait\" needs \"ms\", the time the user has".into()),
        "wait" => PresencePolicy::Wait(millis(req, "ms", 0)?),
        _ if has_ms => return Err(format!("\"ms\" goes with \"wait\", not {mode:?}")),
        _ => mode.parse::<PresencePolicy>().map_err(|e| e.to_string())?,
    };
    slot.set_policy(policy);
    Ok(json!({"slot": slot.slot(), "policy": policy.to_string()}))
}

fn touch(slot: &SlotControl, req: &Map<String, Value>) -> Result<Value, String> {
    let wait_ms = millis(req, "wait_ms", 0)?;
    if wait_ms > 0 {
        slot.wait_for_request(Duration::from_millis(wait_ms));
    }
    let request = slot.gate().pending_snapshot().map(|p| p.request);
    if !slot.touch() {
        return Err(format!(
            "no presence request is pending on the card in slot {} (a touch is not remembered; \
             wait for one with \"wait_ms\")",
            slot.slot()
        ));
    }
    Ok(json!({"slot": slot.slot(), "request": request}))
}

/// The request `reader-bridge ctl` sends for `command` (to the card in `slot`, when named).
pub fn request_for(command: &CtlCommand, slot: Option<u16>) -> Result<Value, String> {
    let mut request = match command {
        CtlCommand::Status => json!({"cmd": "status"}),
        CtlCommand::Remove => json!({"cmd": "remove"}),
        CtlCommand::Insert => json!({"cmd": "insert"}),
        CtlCommand::Tap { out_ms } => json!({"cmd": "tap", "out_ms": out_ms}),
        CtlCommand::Presence { mode, ms: None } => json!({"cmd": "presence", "mode": mode}),
        CtlCommand::Presence { mode, ms: Some(ms) } => {
            json!({"cmd": "presence", "mode": mode, "ms": ms})
        }
        CtlCommand::Touch { wait } => json!({"cmd": "touch", "wait_ms": wait.unwrap_or(0)}),
        CtlCommand::Fault { spec } => {
            let fault: Value = serde_json::from_str(spec)
                .map_err(|e| format!("the fault is a JSON object: {e}"))?;
            json!({"cmd": "fault", "fault": fault})
        }
        CtlCommand::ResetFaults => json!({"cmd": "reset-faults"}),
    };
    if let (Some(slot), Value::Object(map)) = (slot, &mut request) {
        map.insert("slot".to_owned(), json!(slot));
    }
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use fido_applet::presence::{Answer, Outcome, PresenceGate};
    use std::sync::atomic::AtomicBool;

    fn controls(slots: &[u16], token: Option<&str>) -> Controls {
        let shutdown = Arc::new(AtomicBool::new(false));
        let slots = slots
            .iter()
            .map(|&n| {
                SlotControl::new(
                    n,
                    PresenceGate::default(),
                    crate::faults::Faults::new(),
                    Arc::clone(&shutdown),
                )
            })
            .collect();
        Controls::new(slots, token.map(str::to_owned))
    }

    fn ask(c: &Controls, line: &str) -> Value {
        serde_json::from_str(&c.handle_line(line)).expect("a JSON response")
    }

    #[test]
    fn ctl_commands_become_requests() {
        let r = request_for(&CtlCommand::Tap { out_ms: 5 }, Some(1)).expect("request");
        assert_eq!(r, json!({"cmd": "tap", "out_ms": 5, "slot": 1}));
        let r = request_for(
            &CtlCommand::Presence {
                mode: "wait".to_owned(),
                ms: Some(9),
            },
            None,
        )
        .expect("request");
        assert_eq!(r, json!({"cmd": "presence", "mode": "wait", "ms": 9}));
        let r = request_for(&CtlCommand::Touch { wait: None }, None).expect("request");
        assert_eq!(r, json!({"cmd": "touch", "wait_ms": 0}));
        let fault = CtlCommand::Fault {
            spec: r#"{"sw":"6F00"}"#.to_owned(),
        };
        assert_eq!(
            request_for(&fault, None).expect("request")["fault"]["sw"],
            "6F00"
        );
        let bad = CtlCommand::Fault {
            spec: "sw=6F00".to_owned(),
        };
        assert!(request_for(&bad, None).is_err());
    }

    #[test]
    fn errors_are_json_too() {
        let c = controls(&[0], None);
        for (line, says) in [
            ("not json", "one JSON object per line"),
            ("[1]", "a JSON object"),
            ("{}", "no \"cmd\""),
            (r#"{"cmd":"fly"}"#, "unknown command"),
            (r#"{"cmd":"status","slot":7}"#, "no card in slot 7"),
            (r#"{"cmd":"status","slot":"x"}"#, "a card number"),
            (r#"{"cmd":"presence"}"#, "\"mode\""),
            (
                r#"{"cmd":"presence","mode":"maybe"}"#,
                "unknown presence policy",
            ),
            (r#"{"cmd":"presence","mode":"wait"}"#, "needs \"ms\""),
            (
                r#"{"cmd":"presence","mode":"auto","ms":5}"#,
                "goes with \"wait\"",
            ),
            (
                r#"{"cmd":"presence","mode":"wait","ms":-1}"#,
                "milliseconds",
            ),
            (r#"{"cmd":"touch"}"#, "no presence request is pending"),
            (r#"{"cmd":"tap","out_ms":99999999}"#, "milliseconds"),
            (r#"{"cmd":"fault"}"#, "\"fault\" is the fault"),
            (r#"{"cmd":"fault","fault":{"on":{"ins":"10"}}}"#, "action"),
        ] {
            let r = ask(&c, line);
            assert_eq!(r["ok"], false, "{line}");
            let e = r["error"].as_str().expect("an error sentence");
            assert!(e.contains(says), "{line}: {e}");
        }
    }

    #[test]
    fn presence_and_touch() {
        let c = controls(&[0], None);
        let r = ask(&c, r#"{"cmd":"presence","mode":"wait","ms":2500}"#);
        assert_eq!(r, json!({"ok": true, "slot": 0, "policy": "wait 2500"}));
        let r = ask(&c, r#"{"cmd":"presence","mode":"manual"}"#);
        assert_eq!(r["policy"], "manual");
        let gate = c.slots[0].gate().clone();
        assert_eq!(gate.request(0, "getAssertion"), Answer::Waiting);
        let r = ask(&c, r#"{"cmd":"touch"}"#);
        assert_eq!(r, json!({"ok": true, "slot": 0, "request": "getAssertion"}));
        assert_eq!(
            gate.request(0, "getAssertion"),
            Answer::Decided(Outcome::Granted)
        );
        // A touch that waits for the request to come.
        let card = gate.clone();
        let later = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            card.request(0, "makeCredential")
        });
        let r = ask(&c, r#"{"cmd":"touch","wait_ms":5000}"#);
        assert_eq!(r["request"], "makeCredential", "{r}");
        later.join().expect("thread");
        let status = ask(&c, r#"{"cmd":"status"}"#);
        assert_eq!(status["ok"], true);
        assert_eq!(status["presence"]["policy"], "manual");
        assert_eq!(status["faults"]["pending"], json!([]));
    }

    #[test]
    fn faults_are_armed_listed_and_reset() {
        let c = controls(&[0], None);
        let r = ask(
            &c,
            r#"{"cmd":"fault","fault":{"on":{"ins":"10"},"action":{"status":"6F00"}}}"#,
        );
        assert_eq!(r, json!({"ok": true, "slot": 0, "id": 1}));
        let pending = &ask(&c, r#"{"cmd":"status"}"#)["faults"]["pending"];
        assert_eq!(pending.as_array().map(Vec::len), Some(1), "{pending}");
        assert_eq!(pending[0]["id"], 1);
        let r = ask(&c, r#"{"cmd":"reset-faults"}"#);
        assert_eq!(r, json!({"ok": true, "slot": 0, "disarmed": 1}));
        assert_eq!(
            ask(&c, r#"{"cmd":"status"}"#)["faults"]["pending"],
            json!([])
        );
    }

    #[test]
    fn several_cards_need_a_slot_and_windows_needs_the_token() {
        let c = controls(&[0, 1], None);
        let r = ask(&c, r#"{"cmd":"status"}"#);
        assert!(r["error"].as_str().unwrap().contains("slots 0, 1"));
        assert_eq!(ask(&c, r#"{"cmd":"status","slot":1}"#)["slot"], 1);

        let c = controls(&[0], Some("s3cret"));
        assert_eq!(ask(&c, r#"{"cmd":"status"}"#)["ok"], false);
        assert_eq!(ask(&c, r#"{"cmd":"status","token":"s3creT"}"#)["ok"], false);
        assert_eq!(ask(&c, r#"{"cmd":"status","token":"s3cret"}"#)["ok"], true);
    }
}
