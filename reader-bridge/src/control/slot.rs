//! One card's side of the control endpoint: what the card's thread publishes (present, powered,
//! counters, the pending presence request) and what the endpoint asks of it (remove, insert),
//! behind one mutex and a condition variable so either side can wait for the other.
//!
//! The presence gate ([`PresenceGate`]) is shared with the card itself: a touch or a policy
//! change takes effect in the card at once; the card's thread is only woken (it may be holding
//! an answer for a client that cannot poll, [`crate::control::hold`]).

use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use fido_applet::presence::{PresenceEvent, PresenceGate, PresencePolicy};

use crate::faults::Faults;
use serde_json::{Value, json};

/// The shortest time a removed card stays out of the reader: pcscd polls vpcd's readers every
/// 400 ms, and a card back before its next poll would never be seen to leave (pcscd would
/// neither tell its clients nor power the card up again). `insert` waits out the rest.
pub const MIN_OUT: Duration = Duration::from_millis(1000);

/// What the card's thread counted since the bridge started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Command APDUs answered (GET RESPONSE and chained parts included, as vpcd sent them).
    pub apdus: u64,
    /// Power-ups by vpcd (pcscd powers the card when it sees it arrive).
    pub power_ups: u64,
    /// Warm resets.
    pub resets: u64,
    /// Connections made to vpcd (each insertion is one).
    pub connections: u64,
    /// Presence requests the card made (any policy).
    pub presence_requests: u64,
}

#[derive(Debug)]
struct State {
    /// The card is in the reader (not removed through the endpoint).
    inserted: bool,
    /// Connected to vpcd now.
    connected: bool,
    powered: bool,
    /// A handle on the vpcd socket, to cut the connection at once on `remove`.
    stream: Option<TcpStream>,
    counters: Counters,
    /// Bumped at every change, so a waiter never misses one.
    generation: u64,
    /// The pending presence request the bridge saw made, and when.
    pending_seen: Option<(u64, Instant)>,
    /// The id of the last request seen pending (its outcome is not counted again).
    last_pending_id: u64,
    /// When the card was last removed.
    removed_at: Option<Instant>,
}

/// The control state of one card (one vpcd slot).
#[derive(Debug)]
pub struct SlotControl {
    slot: u16,
    gate: PresenceGate,
    faults: Faults,
    shutdown: Arc<AtomicBool>,
    state: Mutex<State>,
    changed: Condvar,
}

impl SlotControl {
    /// The control state of card `slot`, whose card answers presence through `gate` and
    /// injects `faults` ([`crate::faults`]); the bridge stops when `shutdown` is raised.
    pub fn new(
        slot: u16,
        gate: PresenceGate,
        faults: Faults,
        shutdown: Arc<AtomicBool>,
    ) -> Arc<Self> {
        Arc::new(Self {
            slot,
            gate,
            faults,
            shutdown,
            state: Mutex::new(State {
                inserted: true,
                connected: false,
                powered: false,
                stream: None,
                counters: Counters::default(),
                generation: 0,
                pending_seen: None,
                last_pending_id: 0,
                removed_at: None,
            }),
            changed: Condvar::new(),
        })
    }

    /// The card's number (its vpcd slot with `--slots`, else its position).
    pub fn slot(&self) -> u16 {
        self.slot
    }

    /// The card's presence gate.
    pub fn gate(&self) -> &PresenceGate {
        &self.gate
    }

    /// The card's faults (arm, reset, pending).
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Whether the bridge is stopping.
    pub fn stopping(&self) -> bool {
        self.shutdown.load(Ordering::SeqCst)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every update is a few field writes: the state is consistent after a panic elsewhere.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn update(&self, f: impl FnOnce(&mut State)) {
        let mut state = self.lock();
        f(&mut state);
        state.generation = state.generation.wrapping_add(1);
        self.changed.notify_all();
    }

    /// Waits up to `timeout` until `done` holds (checked at once and after every change);
    /// returns whether it does.
    fn wait_until(&self, timeout: Duration, done: impl Fn(&State) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        loop {
            if done(&state) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || self.stopping() {
                return false;
            }
            // Slices, so a raised shutdown flag is seen without a notification.
            let slice = left.min(Duration::from_millis(200));
            state = self
                .changed
                .wait_timeout(state, slice)
                .map(|(guard, _)| guard)
                .unwrap_or_else(|e| e.into_inner().0);
        }
    }

    /// The change counter (see [`SlotControl::wait_for_change`]).
    pub fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// Waits up to `timeout` for a change after `generation` (a touch, a policy change, a
    /// removal, shutdown).
    pub fn wait_for_change(&self, generation: u64, timeout: Duration) {
        self.wait_until(timeout, |s| s.generation != generation);
    }

    // --- the card's thread -------------------------------------------------------------------

    /// Whether the card is in the reader (not removed through the endpoint).
    pub fn is_inserted(&self) -> bool {
        self.lock().inserted
    }

    /// Blocks while the card is removed; `false` if the bridge is stopping.
    pub fn wait_until_inserted(&self) -> bool {
        while !self.stopping() {
            if self.wait_until(Duration::from_millis(200), |s| s.inserted) {
                return true;
            }
        }
        false
    }

    /// A connection to vpcd was made; `stream` is a handle for cutting it.
    pub fn connected(&self, stream: Option<TcpStream>) {
        self.update(|s| {
            s.connected = true;
            s.stream = stream;
            s.counters.connections += 1;
        });
    }

    /// The connection to vpcd ended.
    pub fn disconnected(&self) {
        self.update(|s| {
            s.connected = false;
            s.powered = false;
            s.stream = None;
        });
    }

    /// vpcd powered the card up (`reset`: a warm reset) or off.
    pub fn power(&self, on: bool, reset: bool) {
        self.update(|s| {
            s.powered = on;
            if reset {
                s.counters.resets += 1;
            } else if on {
                s.counters.power_ups += 1;
            }
        });
    }

    /// One APDU answered.
    pub fn count_apdu(&self) {
        self.lock().counters.apdus += 1;
    }

    /// Presence events the card recorded (already traced): keeps the count and when the
    /// pending request was made.
    pub fn note_presence(&self, events: &[PresenceEvent]) {
        if events.is_empty() {
            return;
        }
        self.update(|s| {
            for e in events {
                match e.outcome {
                    None => {
                        s.counters.presence_requests += 1;
                        s.last_pending_id = e.id;
                        s.pending_seen = Some((e.id, Instant::now()));
                    }
                    Some(_) => {
                        if s.last_pending_id != e.id {
                            // Decided at once (auto, deny): counted now.
                            s.counters.presence_requests += 1;
                        }
                        if s.pending_seen.is_some_and(|(id, _)| id == e.id) {
                            s.pending_seen = None;
                        }
                    }
                }
            }
        });
    }

    // --- the control endpoint ----------------------------------------------------------------

    /// Takes the card out of the reader: cuts the vpcd connection (pcscd sees the card go) and
    /// keeps it out until [`SlotControl::insert`]. Returns whether the connection was gone
    /// within `timeout`.
    pub fn remove(&self, timeout: Duration) -> bool {
        self.update(|s| {
            if s.inserted {
                s.removed_at = Some(Instant::now());
            }
            s.inserted = false;
            if let Some(stream) = s.stream.take() {
                // Wakes the card's thread: its next read sees the connection closed.
                let _ = stream.shutdown(Shutdown::Both);
            }
        });
        self.wait_until(timeout, |s| !s.connected)
    }

    /// Puts the card back: the bridge connects to vpcd again at once — once the card has been
    /// out for [`MIN_OUT`]. Waits up to `timeout` for pcscd to power it up; returns
    /// (connected, powered).
    pub fn insert(&self, timeout: Duration) -> (bool, bool) {
        let removed_at = self.lock().removed_at;
        if let Some(at) = removed_at {
            std::thread::sleep((at + MIN_OUT).saturating_duration_since(Instant::now()));
        }
        self.update(|s| s.inserted = true);
        self.wait_until(timeout, |s| s.connected && s.powered);
        let s = self.lock();
        (s.connected, s.powered)
    }

    /// Approves the pending presence request; `false` when none waits.
    pub fn touch(&self) -> bool {
        let touched = self.gate.touch();
        if touched {
            self.update(|_| {});
        }
        touched
    }

    /// Waits up to `timeout` for a presence request to be pending (undecided).
    pub fn wait_for_request(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let waiting = self
                .gate
                .pending_snapshot()
                .is_some_and(|p| p.decided.is_none());
            if waiting {
                return true;
            }
            if Instant::now() >= deadline || self.stopping() {
                return false;
            }
            // The card makes the request in its own thread without telling this one: poll.
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sets the presence policy (a waiting request may be decided by it).
    pub fn set_policy(&self, policy: PresencePolicy) {
        self.gate.set_policy(policy);
        self.update(|_| {});
    }

    /// The `status` answer's fields for this card.
    pub fn status(&self) -> Value {
        let s = self.lock();
        let c = s.counters;
        let pending = self.gate.pending_snapshot().map(|p| {
            let waited_ms = s
                .pending_seen
                .filter(|(id, _)| *id == p.id)
                .map(|(_, at)| u64::try_from(at.elapsed().as_millis()).unwrap_or(u64::MAX));
            json!({
                "id": p.id,
                "request": p.request,
                "waited_ms": waited_ms,
                "decided": p.decided.map(|o| o.as_str()),
            })
        });
        json!({
            "slot": self.slot,
            "present": s.inserted,
            "connected": s.connected,
            "powered": s.powered,
            "presence": {
                "policy": self.gate.policy().to_string(),
                "pending": pending,
            },
            "faults": {
                "pending": serde_json::to_value(self.faults.pending()).unwrap_or_default(),
            },
            "counters": {
                "apdus": c.apdus,
                "power_ups": c.power_ups,
                "resets": c.resets,
                "connections": c.connections,
                "presence_requests": c.presence_requests,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fido_applet::presence::{Answer, Outcome};

    fn slot() -> Arc<SlotControl> {
        SlotControl::new(
            3,
            PresenceGate::new(PresencePolicy::Manual),
            Faults::new(),
            Arc::new(AtomicBool::new(false)),
        )
    }

    #[test]
    fn remove_and_insert_wait_for_the_card_thread() {
        let ctl = slot();
        ctl.connected(None);
        ctl.power(true, false);
        let card = Arc::clone(&ctl);
        let thread = std::thread::spawn(move || {
            // The card's thread notices the removal and drops the connection.
            while card.is_inserted() {
                std::thread::sleep(Duration::from_millis(5));
            }
            card.disconnected();
            assert!(card.wait_until_inserted());
            card.connected(None);
            card.power(true, false);
        });
        assert!(ctl.remove(Duration::from_secs(5)));
        assert_eq!(ctl.status()["present"], false);
        assert_eq!(ctl.insert(Duration::from_secs(5)), (true, true));
        thread.join().expect("card thread");
        let status = ctl.status();
        assert_eq!(status["counters"]["connections"], 2);
        assert_eq!(status["counters"]["power_ups"], 2);
        assert_eq!(status["slot"], 3);
    }

    #[test]
    fn touch_needs_a_pending_request_and_status_shows_it() {
        let ctl = slot();
        assert!(!ctl.touch());
        assert!(!ctl.wait_for_request(Duration::from_millis(20)));
        assert_eq!(ctl.gate().request(0, "makeCredential"), Answer::Waiting);
        ctl.note_presence(&ctl.gate().take_events());
        let status = ctl.status();
        assert_eq!(status["presence"]["policy"], "manual");
        assert_eq!(status["presence"]["pending"]["request"], "makeCredential");
        assert!(status["presence"]["pending"]["waited_ms"].is_u64());
        assert!(ctl.wait_for_request(Duration::ZERO));
        let before = ctl.generation();
        assert!(ctl.touch());
        assert_ne!(ctl.generation(), before, "the card thread is woken");
        assert_eq!(
            ctl.gate().request(0, "makeCredential"),
            Answer::Decided(Outcome::Granted)
        );
        ctl.note_presence(&ctl.gate().take_events());
        assert_eq!(ctl.status()["presence"]["pending"], Value::Null);
        ctl.set_policy(PresencePolicy::Auto);
        ctl.gate().request(0, "selection");
        ctl.note_presence(&ctl.gate().take_events());
        assert_eq!(ctl.status()["counters"]["presence_requests"], 2);
        assert_eq!(ctl.status()["presence"]["policy"], "auto");
    }

    #[test]
    fn waits_end_when_the_bridge_stops() {
        let ctl = slot();
        ctl.remove(Duration::ZERO);
        ctl.shutdown.store(true, Ordering::SeqCst);
        assert!(!ctl.wait_until_inserted());
    }
}
