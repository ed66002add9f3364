//! User presence as the host of a contactless card sees it: the presence *gate*.
//!
//! A card has no button: the tap (power-up in the field) is the gesture, so by default every
//! presence test passes at once ([`PresencePolicy::Auto`]). To let a host's error and waiting
//! paths be tested, the gate also answers like a user who refuses ([`PresencePolicy::Deny`]:
//! CTAP2_ERR_OPERATION_DENIED, U2F 6985), who must be asked ([`PresencePolicy::Manual`]: the
//! request waits for [`PresenceGate::touch`]) or who must act in time
//! ([`PresencePolicy::Wait`]: the same, and after the given milliseconds the request times out
//! with CTAP2_ERR_USER_ACTION_TIMEOUT). CTAP 2.1 §6.1.2 step 14, §6.2.2 step 9, §6.6 and §6.9 name
//! those two errors; U2F has only "test of user presence required" (6985, Raw Message Formats
//! §4.3/§5.4), which the host answers by retrying.
//!
//! The gate is a pure state machine: it never reads a clock (callers pass the card's
//! [`crate::platform::Clock`] reading) and never blocks. Waiting is the job of whoever drives
//! the card: the NFC binding answers `91 00` UP_NEEDED to a host that polls with
//! NFCCTAP_GETRESPONSE, and for a host that does not, the driver (the reader bridge) holds the
//! answer until the gate is decided (see [`crate::nfc`]). Clones share one gate, so a driver
//! (the bridge's control endpoint, a test) keeps a handle while the card owns another — as
//! with [`crate::platform::ManualClock`].
//!
//! At most one request is pending. A command that meets an undecided request is suspended: it
//! has changed nothing yet (every presence test comes before the command's first write), so
//! the binding runs it again once the gate is decided, and that second run takes the decision.
//! Every request and its outcome is recorded as a [`PresenceEvent`] for the driver's trace.

use std::collections::VecDeque;
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// How the card answers a request for user presence.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PresencePolicy {
    /// Presence is granted: the tap is the gesture.
    #[default]
    Auto,
    /// Presence is always refused (CTAP2_ERR_OPERATION_DENIED / U2F 6985).
    Deny,
    /// A request waits until [`PresenceGate::touch`] (or a change of policy), however long.
    Manual,
    /// As `Manual`, but a request not touched within this many milliseconds times out
    /// (CTAP2_ERR_USER_ACTION_TIMEOUT; U2F keeps answering 6985).
    Wait(u64),
}

impl PresencePolicy {
    /// Whether a presence test succeeds at once under this policy.
    pub fn grants_presence(self) -> bool {
        matches!(self, Self::Auto)
    }

    /// Whether a presence test waits for the user.
    pub fn waits(self) -> bool {
        matches!(self, Self::Manual | Self::Wait(_))
    }
}

impl fmt::Display for PresencePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Auto => f.write_str("auto"),
            Self::Deny => f.write_str("deny"),
            Self::Manual => f.write_str("manual"),
            Self::Wait(ms) => write!(f, "wait {ms}"),
        }
    }
}

/// The error of parsing a [`PresencePolicy`] from text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown presence policy {0:?} (expected \"auto\", \"deny\", \"manual\" or \"wait MS\", MS a number of milliseconds)"
)]
pub struct ParsePresencePolicyError(pub String);

impl FromStr for PresencePolicy {
    type Err = ParsePresencePolicyError;

    /// `auto`, `deny`, `manual`, or `wait MS` (also `wait:MS` and `wait=MS`, for command lines).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.trim().to_ascii_lowercase();
        let err = || ParsePresencePolicyError(s.to_owned());
        match text.as_str() {
            "auto" => Ok(Self::Auto),
            "deny" => Ok(Self::Deny),
            "manual" => Ok(Self::Manual),
            _ => {
                let ms = text
                    .strip_prefix("wait")
                    .map(|rest| rest.trim_start_matches([' ', ':', '=']))
                    .filter(|ms| !ms.is_empty())
                    .ok_or_else(err)?;
                ms.parse().map(Self::Wait).map_err(|_| err())
            }
        }
    }
}

/// How a presence request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The user is present: the policy is `auto`, the request was touched, or the policy was
    /// switched to `auto` while it waited.
    Granted,
    /// The policy is (or became) `deny`.
    Denied,
    /// `wait MS` ran out.
    TimedOut,
    /// The host cancelled the waiting command (NFCCTAP_GETRESPONSE cancel, CTAP 2.1 §11.3).
    Cancelled,
    /// The command went away undecided: another command, a deselect, a reset or power loss.
    Abandoned,
}

impl Outcome {
    /// The name used in traces and status reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Granted => "granted",
            Self::Denied => "denied",
            Self::TimedOut => "timeout",
            Self::Cancelled => "cancelled",
            Self::Abandoned => "abandoned",
        }
    }
}

/// What a presence test gets from the gate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// Decided: the command continues (granted) or fails with the outcome's error.
    Decided(Outcome),
    /// Undecided: the command must be suspended and run again once the gate is decided.
    Waiting,
}

/// One line of the gate's record: a request was made, or ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PresenceEvent {
    /// The request's number (from 1, per gate).
    pub id: u64,
    /// What asked: a CTAP command's short name ("makeCredential") or "U2F_REGISTER" /
    /// "U2F_AUTHENTICATE".
    pub request: &'static str,
    /// `None`: the request was made and waits; `Some`: how it ended.
    pub outcome: Option<Outcome>,
    /// The policy when the event happened ("auto", "wait 5000", ...), for the trace.
    pub policy: PresencePolicy,
    /// The gate's decision came from a touch.
    pub touched: bool,
}

/// The request waiting for the user, as a driver sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingRequest {
    pub id: u64,
    pub request: &'static str,
    /// When it was made, on the card's clock.
    pub since_ms: u64,
    /// When it times out, on the card's clock (`wait MS`); `None` under `manual`.
    pub deadline_ms: Option<u64>,
    /// Decided but not yet taken by the command's second run.
    pub decided: Option<Outcome>,
}

/// At most this many events are kept for a driver that does not drain them.
const MAX_EVENTS: usize = 256;

#[derive(Debug, Default)]
struct GateState {
    policy: PresencePolicy,
    pending: Option<PendingRequest>,
    last_id: u64,
    events: VecDeque<PresenceEvent>,
}

impl GateState {
    fn record(&mut self, id: u64, request: &'static str, outcome: Option<Outcome>, touched: bool) {
        if self.events.len() == MAX_EVENTS {
            self.events.pop_front();
        }
        self.events.push_back(PresenceEvent {
            id,
            request,
            outcome,
            policy: self.policy,
            touched,
        });
    }

    fn new_id(&mut self) -> u64 {
        self.last_id = self.last_id.wrapping_add(1);
        self.last_id
    }

    /// Decides the pending request if it is still undecided.
    fn decide(&mut self, outcome: Outcome, touched: bool) -> bool {
        let Some(p) = self.pending.as_mut().filter(|p| p.decided.is_none()) else {
            return false;
        };
        p.decided = Some(outcome);
        let (id, request) = (p.id, p.request);
        self.record(id, request, Some(outcome), touched);
        true
    }

    fn expire(&mut self, now_ms: u64) {
        let due = self
            .pending
            .as_ref()
            .is_some_and(|p| p.decided.is_none() && p.deadline_ms.is_some_and(|d| now_ms >= d));
        if due {
            self.decide(Outcome::TimedOut, false);
        }
    }
}

/// The user-presence gate (see the module documentation). Cheap to clone; clones share state.
#[derive(Clone, Debug, Default)]
pub struct PresenceGate {
    inner: Arc<Mutex<GateState>>,
}

impl PresenceGate {
    /// A gate answering by `policy`.
    pub fn new(policy: PresencePolicy) -> Self {
        let gate = Self::default();
        gate.lock().policy = policy;
        gate
    }

    fn lock(&self) -> MutexGuard<'_, GateState> {
        // The state stays consistent across a panic elsewhere (every update is a few field
        // writes), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The policy.
    pub fn policy(&self) -> PresencePolicy {
        self.lock().policy
    }

    /// Changes the policy. A request still waiting is decided by the new policy when it
    /// decides at once (`auto`: granted, `deny`: denied); under `wait MS` its deadline counts
    /// from when it was made.
    pub fn set_policy(&self, policy: PresencePolicy) {
        let mut g = self.lock();
        g.policy = policy;
        match policy {
            PresencePolicy::Auto => {
                g.decide(Outcome::Granted, false);
            }
            PresencePolicy::Deny => {
                g.decide(Outcome::Denied, false);
            }
            PresencePolicy::Manual => {
                if let Some(p) = g.pending.as_mut() {
                    p.deadline_ms = None;
                }
            }
            PresencePolicy::Wait(ms) => {
                if let Some(p) = g.pending.as_mut() {
                    p.deadline_ms = Some(p.since_ms.saturating_add(ms));
                }
            }
        }
    }

    /// A presence test by `request` at `now_ms`. Takes the decision of a decided pending
    /// request (the suspended command's second run); otherwise decides by the policy, or makes
    /// (or keeps) the pending request and answers [`Answer::Waiting`].
    pub fn request(&self, now_ms: u64, request: &'static str) -> Answer {
        let mut g = self.lock();
        g.expire(now_ms);
        if let Some(outcome) = g.pending.as_ref().and_then(|p| p.decided) {
            g.pending = None;
            return Answer::Decided(outcome);
        }
        if g.pending.is_some() {
            return Answer::Waiting;
        }
        let id = g.new_id();
        let outcome = match g.policy {
            PresencePolicy::Auto => Outcome::Granted,
            PresencePolicy::Deny => Outcome::Denied,
            PresencePolicy::Manual | PresencePolicy::Wait(_) => {
                let deadline_ms = match g.policy {
                    PresencePolicy::Wait(ms) => Some(now_ms.saturating_add(ms)),
                    _ => None,
                };
                g.pending = Some(PendingRequest {
                    id,
                    request,
                    since_ms: now_ms,
                    deadline_ms,
                    decided: None,
                });
                g.record(id, request, None, false);
                return Answer::Waiting;
            }
        };
        g.record(id, request, Some(outcome), false);
        Answer::Decided(outcome)
    }

    /// A presence test that must not wait (U2F AUTHENTICATE "don't enforce presence"): granted
    /// under `auto`, refused otherwise; never makes a pending request.
    pub fn request_without_waiting(&self, request: &'static str) -> bool {
        let mut g = self.lock();
        let id = g.new_id();
        let granted = g.policy.grants_presence();
        let outcome = if granted {
            Outcome::Granted
        } else {
            Outcome::Denied
        };
        g.record(id, request, Some(outcome), false);
        granted
    }

    /// The user touches: approves the pending request. `false` (and nothing remembered) when
    /// no request is waiting — a touch counts only for a request the user can see.
    pub fn touch(&self) -> bool {
        self.lock().decide(Outcome::Granted, true)
    }

    /// Times the pending request out if its deadline has passed at `now_ms`.
    pub fn expire(&self, now_ms: u64) {
        self.lock().expire(now_ms);
    }

    /// The pending request, after timing it out if due at `now_ms`.
    pub fn pending(&self, now_ms: u64) -> Option<PendingRequest> {
        let mut g = self.lock();
        g.expire(now_ms);
        g.pending.clone()
    }

    /// The pending request as it is (no clock needed: for drivers that only report it).
    pub fn pending_snapshot(&self) -> Option<PendingRequest> {
        self.lock().pending.clone()
    }

    /// Whether a pending request has been decided (after timing it out if due at `now_ms`).
    pub fn is_decided(&self, now_ms: u64) -> bool {
        let mut g = self.lock();
        g.expire(now_ms);
        g.pending.as_ref().is_some_and(|p| p.decided.is_some())
    }

    /// Milliseconds until the pending undecided request times out at `now_ms`: `None` when
    /// nothing waits or it waits without a deadline.
    pub fn remaining_ms(&self, now_ms: u64) -> Option<u64> {
        let g = self.lock();
        let p = g.pending.as_ref().filter(|p| p.decided.is_none())?;
        p.deadline_ms.map(|d| d.saturating_sub(now_ms))
    }

    /// Drops the pending request (decided or not). An undecided one is recorded with
    /// `outcome` (cancelled or abandoned); a decided one was recorded when decided.
    pub fn drop_pending(&self, outcome: Outcome) {
        let mut g = self.lock();
        if let Some(p) = g.pending.take() {
            if p.decided.is_none() {
                g.record(p.id, p.request, Some(outcome), false);
            }
        }
    }

    /// Takes the events recorded since the last call (oldest first).
    pub fn take_events(&self) -> Vec<PresenceEvent> {
        self.lock().events.drain(..).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_text_round_trips() {
        for policy in [
            PresencePolicy::Auto,
            PresencePolicy::Deny,
            PresencePolicy::Manual,
            PresencePolicy::Wait(1500),
        ] {
            assert_eq!(policy.to_string().parse::<PresencePolicy>(), Ok(policy));
        }
        assert_eq!(" DENY ".parse::<PresencePolicy>(), Ok(PresencePolicy::Deny));
        assert_eq!("wait:20".parse(), Ok(PresencePolicy::Wait(20)));
        assert_eq!("wait=0".parse(), Ok(PresencePolicy::Wait(0)));
        for bad in ["maybe", "wait", "wait x", "wait -1", ""] {
            assert!(bad.parse::<PresencePolicy>().is_err(), "{bad:?}");
        }
        assert!(PresencePolicy::Auto.grants_presence());
        assert!(!PresencePolicy::Manual.grants_presence());
        assert!(PresencePolicy::Wait(1).waits() && !PresencePolicy::Deny.waits());
    }

    #[test]
    fn auto_and_deny_decide_at_once_and_are_recorded() {
        let gate = PresenceGate::new(PresencePolicy::Auto);
        assert_eq!(
            gate.request(0, "makeCredential"),
            Answer::Decided(Outcome::Granted)
        );
        gate.set_policy(PresencePolicy::Deny);
        assert_eq!(gate.request(0, "reset"), Answer::Decided(Outcome::Denied));
        assert!(!gate.touch(), "nothing pending");
        let events = gate.take_events();
        assert_eq!(events.len(), 2);
        assert_eq!(
            (events[0].id, events[0].request, events[0].outcome),
            (1, "makeCredential", Some(Outcome::Granted))
        );
        assert_eq!(events[1].outcome, Some(Outcome::Denied));
        assert!(gate.take_events().is_empty(), "drained");
    }

    #[test]
    fn manual_waits_for_a_touch_then_the_rerun_takes_it() {
        let gate = PresenceGate::new(PresencePolicy::Manual);
        assert_eq!(gate.request(10, "getAssertion"), Answer::Waiting);
        assert_eq!(gate.request(20, "getAssertion"), Answer::Waiting);
        assert!(!gate.is_decided(1_000_000), "manual never times out");
        assert_eq!(gate.remaining_ms(1_000_000), None);
        let p = gate.pending(30).expect("pending");
        assert_eq!((p.id, p.since_ms, p.deadline_ms), (1, 10, None));
        assert!(gate.touch());
        assert!(!gate.touch(), "already decided");
        assert!(gate.is_decided(40));
        assert_eq!(
            gate.request(50, "getAssertion"),
            Answer::Decided(Outcome::Granted)
        );
        assert!(gate.pending(60).is_none(), "the decision was taken once");
        let events = gate.take_events();
        assert_eq!(events.len(), 2, "{events:?}");
        assert_eq!(events[0].outcome, None);
        assert!(events[1].touched && events[1].outcome == Some(Outcome::Granted));
        // The next request waits again.
        assert_eq!(gate.request(70, "getAssertion"), Answer::Waiting);
        assert_eq!(gate.pending(70).map(|p| p.id), Some(2));
    }

    #[test]
    fn wait_times_out_on_the_card_clock() {
        let gate = PresenceGate::new(PresencePolicy::Wait(100));
        assert_eq!(gate.request(1000, "makeCredential"), Answer::Waiting);
        assert_eq!(gate.remaining_ms(1040), Some(60));
        assert!(!gate.is_decided(1099));
        assert!(gate.is_decided(1100));
        assert!(!gate.touch(), "too late");
        assert_eq!(
            gate.request(1200, "makeCredential"),
            Answer::Decided(Outcome::TimedOut)
        );
        let last = gate.take_events().pop().expect("events");
        assert_eq!(last.outcome, Some(Outcome::TimedOut));
        assert_eq!(last.policy, PresencePolicy::Wait(100));
    }

    #[test]
    fn a_policy_change_decides_a_waiting_request() {
        let gate = PresenceGate::new(PresencePolicy::Manual);
        assert_eq!(gate.request(0, "selection"), Answer::Waiting);
        gate.set_policy(PresencePolicy::Deny);
        assert_eq!(
            gate.request(1, "selection"),
            Answer::Decided(Outcome::Denied)
        );
        assert_eq!(
            gate.request(2, "selection"),
            Answer::Decided(Outcome::Denied)
        );

        gate.set_policy(PresencePolicy::Manual);
        assert_eq!(gate.request(3, "selection"), Answer::Waiting);
        gate.set_policy(PresencePolicy::Auto);
        assert_eq!(
            gate.request(4, "selection"),
            Answer::Decided(Outcome::Granted)
        );

        // manual -> wait: the deadline counts from the request.
        gate.set_policy(PresencePolicy::Manual);
        assert_eq!(gate.request(100, "selection"), Answer::Waiting);
        gate.set_policy(PresencePolicy::Wait(50));
        assert!(!gate.is_decided(149));
        assert!(gate.is_decided(150));
    }

    #[test]
    fn dropping_records_cancel_or_abandon_once() {
        let gate = PresenceGate::new(PresencePolicy::Manual);
        assert_eq!(gate.request(0, "makeCredential"), Answer::Waiting);
        gate.drop_pending(Outcome::Cancelled);
        assert!(gate.pending(0).is_none());
        gate.drop_pending(Outcome::Abandoned);
        let outcomes: Vec<_> = gate.take_events().iter().map(|e| e.outcome).collect();
        assert_eq!(outcomes, [None, Some(Outcome::Cancelled)]);

        // A decided request dropped before its rerun is not recorded twice.
        assert_eq!(gate.request(0, "makeCredential"), Answer::Waiting);
        assert!(gate.touch());
        gate.drop_pending(Outcome::Abandoned);
        let outcomes: Vec<_> = gate.take_events().iter().map(|e| e.outcome).collect();
        assert_eq!(outcomes, [None, Some(Outcome::Granted)]);
    }

    #[test]
    fn without_waiting_never_pends() {
        let gate = PresenceGate::new(PresencePolicy::Manual);
        assert!(!gate.request_without_waiting("U2F_AUTHENTICATE"));
        assert!(gate.pending(0).is_none());
        gate.set_policy(PresencePolicy::Auto);
        assert!(gate.request_without_waiting("U2F_AUTHENTICATE"));
    }

    #[test]
    fn clones_share_the_gate_and_events_are_bounded() {
        let card = PresenceGate::new(PresencePolicy::Manual);
        let driver = card.clone();
        assert_eq!(card.request(0, "reset"), Answer::Waiting);
        assert!(driver.touch());
        assert_eq!(card.request(0, "reset"), Answer::Decided(Outcome::Granted));
        driver.set_policy(PresencePolicy::Auto);
        for _ in 0..(MAX_EVENTS + 10) {
            card.request(0, "selection");
        }
        assert_eq!(driver.take_events().len(), MAX_EVENTS);
    }
}
