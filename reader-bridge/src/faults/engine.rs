//! The fault engine of one card: armed faults, their conditions, and what a fired fault does to
//! one exchange ([`perform`], shared with `apdu-replay` so a replay does exactly what the bridge
//! did).

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use apdu::StatusWord;
use ctap_types::nfc::ins as nfc_ins;
use serde::Serialize;

use super::power::PowerSwitch;
use super::spec::{Action, Condition, FaultError, FaultSpec, RemovalPoint};

/// INS of GET RESPONSE (ISO/IEC 7816-4 §7.6.1).
const INS_GET_RESPONSE: u8 = 0xC0;

/// A fault's number on its card, from 1 in arming order; traces and `status` name it.
pub type FaultId = u64;

/// An armed fault, as `status` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PendingFault {
    pub id: FaultId,
    /// APDUs the card received since the fault was armed.
    pub apdus_seen: u64,
    /// The condition held and the fault waits for its point (a chain link, a GET RESPONSE).
    pub triggered: bool,
    #[serde(flatten)]
    pub spec: FaultSpec,
}

/// A fault that fired on an APDU.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FiredFault {
    pub id: FaultId,
    #[serde(flatten)]
    pub spec: FaultSpec,
}

#[derive(Debug)]
struct Armed {
    id: FaultId,
    spec: FaultSpec,
    seen: u64,
    triggered: bool,
}

#[derive(Debug, Default)]
struct Engine {
    next_id: FaultId,
    armed: Vec<Armed>,
    /// The last command was a chain link the card took (CLA b5 set, answered 9000).
    chain_open: bool,
    /// The last answer announced more data (61XX).
    more_data: bool,
    /// A held answer ([`Action::NoAnswer`]) should end now.
    release: bool,
}

/// The faults of one card. Clones are handles on the same engine, for the card's thread and
/// the control endpoint.
///
/// The control endpoint's API (JSON in, JSON out):
/// - [`Faults::arm`] with a [`FaultSpec`] ([`FaultSpec::from_json`] reads one) → its id;
/// - [`Faults::reset`] disarms every fault (and ends an [`Action::NoAnswer`] silence: the card
///   then leaves the field as the fault says) → how many were armed;
/// - [`Faults::pending`] → the armed faults, serializable for `status`.
#[derive(Clone, Debug, Default)]
pub struct Faults(Arc<Mutex<Engine>>);

impl Faults {
    pub fn new() -> Self {
        Self::default()
    }

    fn engine(&self) -> MutexGuard<'_, Engine> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Arms `spec` (checked first); it fires once, then disarms.
    pub fn arm(&self, spec: FaultSpec) -> Result<FaultId, FaultError> {
        spec.check()?;
        let mut engine = self.engine();
        engine.next_id += 1;
        let id = engine.next_id;
        engine.armed.push(Armed {
            id,
            spec,
            seen: 0,
            triggered: false,
        });
        Ok(id)
    }

    /// Disarms every fault; returns how many were armed.
    pub fn reset(&self) -> usize {
        let mut engine = self.engine();
        engine.release = true;
        std::mem::take(&mut engine.armed).len()
    }

    /// The armed faults, oldest first.
    pub fn pending(&self) -> Vec<PendingFault> {
        self.engine()
            .armed
            .iter()
            .map(|a| PendingFault {
                id: a.id,
                apdus_seen: a.seen,
                triggered: a.triggered,
                spec: a.spec.clone(),
            })
            .collect()
    }

    /// A command APDU arrived: counts it for every armed fault and returns the one that fires
    /// on it, if any (disarmed from now on). At most one fault fires per APDU, the oldest; a
    /// later one whose condition held too waits for the next APDU its condition holds on (for
    /// `apdu = N`: the next APDU), so two faults on the same INS fire on two successive ones.
    pub fn on_command(&self, apdu: &[u8]) -> Option<FiredFault> {
        let mut engine = self.engine();
        engine.release = false;
        let (chain_open, more_data) = (engine.chain_open, engine.more_data);
        let mut fire = None;
        for (i, armed) in engine.armed.iter_mut().enumerate() {
            armed.seen += 1;
            let condition_apdu = !armed.triggered;
            if condition_apdu {
                armed.triggered = matches(&armed.spec.on, armed.seen, apdu, chain_open);
                if !armed.triggered {
                    continue;
                }
            }
            let at_point = match &armed.spec.action {
                // Between two links or pieces: never the condition's own APDU.
                Action::Remove(r) if r.at == RemovalPoint::Chain => !condition_apdu && chain_open,
                Action::Remove(r) if r.at == RemovalPoint::GetResponse => {
                    !condition_apdu && more_data && ins(apdu) == Some(INS_GET_RESPONSE)
                }
                // The command's work happens at its last link: a removal after the work, or a
                // power cut during it, waits for the link that completes the chain.
                Action::Remove(_) | Action::PowerCut(_) => !is_chain_link(apdu),
                _ => true,
            };
            if at_point {
                if fire.is_none() {
                    fire = Some(i);
                } else if !waits_for_a_later_point(&armed.spec.action) {
                    // An older fault took this APDU: wait for the condition to hold again,
                    // rather than fire on whatever APDU comes next.
                    armed.triggered = false;
                }
            }
        }
        let armed = engine.armed.remove(fire?);
        Some(FiredFault {
            id: armed.id,
            spec: armed.spec,
        })
    }

    /// The card answered `response` to `apdu`: follows chains and long answers for the
    /// removal points.
    pub fn on_answer(&self, apdu: &[u8], response: &[u8]) {
        let sw = response
            .len()
            .checked_sub(2)
            .map(|at| StatusWord::from_bytes(response[at], response[at + 1]));
        let mut engine = self.engine();
        engine.chain_open = is_chain_link(apdu)
            && sw == Some(StatusWord::OK)
            && ins(apdu) != Some(INS_GET_RESPONSE);
        engine.more_data = sw.is_some_and(StatusWord::is_more_data);
    }

    /// The card left the field or lost power: no chain or answer continues.
    pub fn on_power_loss(&self) {
        let mut engine = self.engine();
        engine.chain_open = false;
        engine.more_data = false;
    }

    /// Whether a held answer should end now ([`Faults::reset`] was called since the APDU).
    pub fn released(&self) -> bool {
        self.engine().release
    }
}

fn ins(apdu: &[u8]) -> Option<u8> {
    apdu.get(1).copied()
}

/// Whether the action fires strictly after its condition's APDU (between two chain links or
/// two GET RESPONSE pieces), so a point taken by another fault leaves it waiting for the next.
fn waits_for_a_later_point(action: &Action) -> bool {
    matches!(action, Action::Remove(r) if r.at != RemovalPoint::Answer)
}

/// A command APDU announcing more links (CLA b5, ISO/IEC 7816-4 §5.3.3).
fn is_chain_link(apdu: &[u8]) -> bool {
    apdu.first().is_some_and(|cla| cla & 0x10 != 0)
}

fn matches(condition: &Condition, seen: u64, apdu: &[u8], chain_open: bool) -> bool {
    match condition {
        // At or after: a fault whose APDU another fault took fires on the next one.
        Condition::Apdu(n) => seen >= n.get(),
        Condition::Ins(i) => ins(apdu) == Some(*i),
        Condition::Ctap(command) => {
            // NFCCTAP_MSG (CTAP 2.1 §11.3): CLA 80 (90 on a chain link), INS 10; the command
            // byte is the first data byte of the chain's first link.
            if chain_open || apdu.first().is_none_or(|cla| cla & !0x10 != 0x80) {
                return false;
            }
            match apdu::Command::decode(apdu) {
                Ok(cmd) => {
                    cmd.ins == nfc_ins::NFCCTAP_MSG && cmd.data.first() == Some(&command.byte())
                }
                Err(_) => false,
            }
        }
    }
}

/// What the host gets for one command APDU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// These bytes, `delay_ms` late.
    Answer { bytes: Vec<u8>, delay_ms: u64 },
    /// Nothing; the card stays silent, and leaves the field after `remove_after_ms` (or when
    /// released) for `away_ms`.
    Silent {
        remove_after_ms: Option<u64>,
        away_ms: u64,
    },
    /// Nothing: the card leaves the field for `away_ms` (a power cut, when `cut_at_write`).
    Removed {
        away_ms: u64,
        cut_at_write: Option<usize>,
    },
}

impl Outcome {
    /// The bytes the host receives (none when the card went silent or away).
    pub fn host_bytes(&self) -> &[u8] {
        match self {
            Self::Answer { bytes, .. } => bytes,
            _ => &[],
        }
    }
}

/// Runs one command APDU through `card` under `action` (the fault that fired on it, if any):
/// the deterministic part of a fault, the same in the bridge and in `apdu-replay`. Waiting and
/// removing the card from the field are the caller's.
pub fn perform(
    card: &mut apdu::Card,
    power: &PowerSwitch,
    apdu: &[u8],
    action: Option<&Action>,
) -> Outcome {
    let answer = |bytes| Outcome::Answer { bytes, delay_ms: 0 };
    let Some(action) = action else {
        return answer(card.transmit(apdu));
    };
    match action {
        Action::Status(sw) => answer(sw.to_be_bytes().to_vec()),
        Action::DelayMs(ms) => Outcome::Answer {
            bytes: card.transmit(apdu),
            delay_ms: *ms,
        },
        Action::NoAnswer(s) => Outcome::Silent {
            remove_after_ms: s.remove_after_ms,
            away_ms: s.away_ms,
        },
        Action::Remove(r) => {
            if r.at == RemovalPoint::Answer {
                // The card did the work; the answer is lost with the field.
                let _ = card.transmit(apdu);
            }
            Outcome::Removed {
                away_ms: r.away_ms,
                cut_at_write: None,
            }
        }
        Action::PowerCut(p) => {
            power.arm(p.write.get());
            let bytes = card.transmit(apdu);
            match power.disarm() {
                Some(step) => Outcome::Removed {
                    away_ms: p.away_ms,
                    cut_at_write: Some(step),
                },
                None => answer(bytes),
            }
        }
        Action::Flip(f) => {
            let mut bytes = card.transmit(apdu);
            if let Some(last) = bytes.len().checked_sub(1) {
                bytes[f.byte.min(last)] ^= f.mask;
            }
            answer(bytes)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::spec::{Flip, PowerCut, Removal, Silence};
    use apdu::{Applet, Card, CardConfig, Command, Response};
    use std::num::{NonZeroU64, NonZeroUsize};

    fn spec(on: Condition, action: Action) -> FaultSpec {
        FaultSpec {
            slot: None,
            on,
            action,
        }
    }

    /// Arms `on` -> `action`; its id.
    fn arm(faults: &Faults, on: Condition, action: Action) -> FaultId {
        faults.arm(spec(on, action)).expect("arm")
    }

    /// A removal at `at`, out of the field for `away_ms`.
    fn remove(at: RemovalPoint, away_ms: u64) -> Action {
        Action::Remove(Removal { at, away_ms })
    }

    const MAKE_CREDENTIAL: Condition = Condition::Ctap(ctap_types::Command::MakeCredential);

    fn apdu_n(n: u64) -> Condition {
        Condition::Apdu(NonZeroU64::new(n).expect("nonzero"))
    }

    const GET_INFO: [u8; 7] = [0x80, 0x10, 0x00, 0x00, 0x01, 0x04, 0x00];
    const MAKE_CREDENTIAL_LINK: [u8; 7] = [0x90, 0x10, 0x00, 0x00, 0x02, 0x01, 0xA0];
    const LAST_LINK: [u8; 6] = [0x80, 0x10, 0x00, 0x00, 0x01, 0xA0];

    #[test]
    fn conditions_fire_once_then_disarm() {
        let faults = Faults::new();
        let a = arm(&faults, apdu_n(2), Action::Status(0x6F00));
        let b = arm(&faults, Condition::Ins(0xC0), Action::Status(0x6A80));
        let c = arm(
            &faults,
            Condition::Ctap(ctap_types::Command::GetInfo),
            Action::DelayMs(5),
        );
        assert_eq!((a, b, c), (1, 2, 3));
        assert_eq!(faults.pending().len(), 3);
        assert_eq!(faults.on_command(&[0x00, 0xA4, 0x04, 0x00]), None);
        assert_eq!(
            faults.on_command(&[0x00, 0xB0, 0, 0]).map(|f| f.id),
            Some(1)
        );
        assert_eq!(faults.on_command(&[0x00, 0xB0, 0, 0]), None, "disarmed");
        assert_eq!(faults.on_command(&GET_INFO).map(|f| f.id), Some(3));
        assert_eq!(faults.on_command(&GET_INFO), None);
        assert_eq!(
            faults.on_command(&[0x00, 0xC0, 0, 0]).map(|f| f.id),
            Some(2)
        );
        assert!(faults.pending().is_empty());
    }

    #[test]
    fn one_fault_per_apdu_the_next_fires_after() {
        let faults = Faults::new();
        arm(&faults, apdu_n(1), Action::Status(0x6F00));
        arm(&faults, apdu_n(1), Action::Status(0x6A80));
        let first = faults.on_command(&GET_INFO).expect("fires");
        assert_eq!(first.spec.action, Action::Status(0x6F00));
        let second = faults.on_command(&GET_INFO).expect("fires next");
        assert_eq!(second.spec.action, Action::Status(0x6A80));
        // Two faults on one INS fire on two successive APDUs with it, not on others between.
        arm(&faults, Condition::Ins(0x10), Action::Status(0x6F00));
        arm(&faults, Condition::Ins(0x10), Action::Status(0x6A80));
        assert!(faults.on_command(&GET_INFO).is_some());
        assert_eq!(faults.on_command(&[0x00, 0xA4, 0x04, 0x00]), None);
        let later = faults.on_command(&GET_INFO).expect("the next INS 10");
        assert_eq!(later.spec.action, Action::Status(0x6A80));
    }

    #[test]
    fn ctap_condition_ignores_chain_continuations_and_other_commands() {
        let faults = Faults::new();
        arm(&faults, MAKE_CREDENTIAL, Action::Status(0x6F00));
        assert_eq!(faults.on_command(&GET_INFO), None);
        faults.on_answer(&GET_INFO, &[0x00, 0x90, 0x00]);
        // A chain continuation starting with byte 01 is not a makeCredential.
        faults.on_command(&[0x90, 0x10, 0x00, 0x00, 0x01, 0x04]);
        faults.on_answer(&[0x90, 0x10, 0x00, 0x00, 0x01, 0x04], &[0x90, 0x00]);
        assert_eq!(
            faults.on_command(&[0x80, 0x10, 0x00, 0x00, 0x01, 0x01]),
            None
        );
        faults.on_answer(&[0x80, 0x10, 0x00, 0x00, 0x01, 0x01], &[0x00, 0x90, 0x00]);
        assert!(faults.on_command(&MAKE_CREDENTIAL_LINK).is_some());
    }

    #[test]
    fn removal_points_wait_for_the_next_link_or_piece() {
        let faults = Faults::new();
        arm(&faults, MAKE_CREDENTIAL, remove(RemovalPoint::Chain, 10));
        assert_eq!(faults.on_command(&MAKE_CREDENTIAL_LINK), None, "first link");
        assert!(faults.pending()[0].triggered);
        faults.on_answer(&MAKE_CREDENTIAL_LINK, &[0x90, 0x00]);
        assert!(faults.on_command(&LAST_LINK).is_some(), "between the links");

        arm(
            &faults,
            Condition::Ins(0x10),
            remove(RemovalPoint::GetResponse, 10),
        );
        assert_eq!(faults.on_command(&GET_INFO), None);
        faults.on_answer(&GET_INFO, &[0x00, 0x61, 0x20]);
        assert!(faults.on_command(&[0x00, 0xC0, 0x00, 0x00, 0x00]).is_some());
    }

    #[test]
    fn a_power_cut_or_a_removal_after_the_work_waits_for_the_last_link() {
        let faults = Faults::new();
        arm(
            &faults,
            MAKE_CREDENTIAL,
            Action::PowerCut(PowerCut {
                write: NonZeroUsize::MIN,
                away_ms: 1,
            }),
        );
        assert_eq!(
            faults.on_command(&MAKE_CREDENTIAL_LINK),
            None,
            "a middle link"
        );
        faults.on_answer(&MAKE_CREDENTIAL_LINK, &[0x90, 0x00]);
        assert_eq!(faults.on_command(&MAKE_CREDENTIAL_LINK), None, "another");
        faults.on_answer(&MAKE_CREDENTIAL_LINK, &[0x90, 0x00]);
        assert!(
            faults.on_command(&LAST_LINK).is_some(),
            "the link that completes it"
        );
        faults.on_power_loss();
        // Two such faults on one condition: the second waits for the condition to hold again,
        // it does not fire on the next APDU whatever it is.
        for _ in 0..2 {
            arm(
                &faults,
                Condition::Ctap(ctap_types::Command::GetInfo),
                remove(RemovalPoint::Answer, 1),
            );
        }
        assert!(faults.on_command(&GET_INFO).is_some());
        assert_eq!(
            faults.on_command(&[0x00, 0xA4, 0x04, 0x00]),
            None,
            "a SELECT"
        );
        assert!(faults.on_command(&GET_INFO).is_some(), "the next getInfo");
        // An unchained command is its own last link.
        arm(
            &faults,
            Condition::Ins(0x10),
            remove(RemovalPoint::Answer, 1),
        );
        assert!(faults.on_command(&GET_INFO).is_some());
    }

    #[test]
    fn reset_disarms_and_releases() {
        let faults = Faults::new();
        arm(&faults, apdu_n(9), Action::DelayMs(1));
        assert!(!faults.released());
        assert_eq!(faults.reset(), 1);
        assert!(faults.released() && faults.pending().is_empty());
        assert_eq!(faults.on_command(&GET_INFO), None);
        assert!(!faults.released(), "a new command starts a new wait");
        let err = faults
            .arm(spec(apdu_n(1), Action::Flip(Flip { byte: 0, mask: 0 })))
            .expect_err("checked");
        assert!(err.to_string().contains("nothing"));
    }

    /// A card whose applet counts commands and answers the count (and 300 bytes for INS 02).
    struct Counter(u8);
    impl Applet for Counter {
        fn select(&mut self, _cmd: &Command) -> Response {
            Response::ok(vec![])
        }
        fn process(&mut self, cmd: &Command) -> Response {
            self.0 += 1;
            match cmd.ins {
                0x02 => Response::ok(vec![self.0; 300]),
                _ => Response::ok(vec![self.0]),
            }
        }
    }

    fn card() -> Card {
        let mut card = Card::new(CardConfig::default());
        card.install(&[0xF0, 1, 2, 3, 4], Box::new(Counter(0)));
        card.power_on();
        card.transmit(&[0x00, 0xA4, 0x04, 0x00, 0x05, 0xF0, 1, 2, 3, 4]);
        card
    }

    #[test]
    fn actions_are_deterministic() {
        let run = || {
            let mut card = card();
            let power = PowerSwitch::new();
            let cmd = [0x00, 0x01, 0x00, 0x00];
            let mut out = Vec::new();
            for action in [
                None,
                Some(Action::Status(0x6F00)),
                Some(Action::DelayMs(7)),
                Some(Action::Flip(Flip {
                    byte: 0,
                    mask: 0x80,
                })),
                Some(Action::Flip(Flip {
                    byte: 99,
                    mask: 0x01,
                })),
                Some(Action::NoAnswer(Silence::default())),
                Some(remove(RemovalPoint::Answer, 3)),
                Some(remove(RemovalPoint::Chain, 3)),
                Some(Action::PowerCut(PowerCut {
                    write: NonZeroUsize::MIN,
                    away_ms: 4,
                })),
                None,
            ] {
                out.push(perform(&mut card, &power, &cmd, action.as_ref()));
            }
            out
        };
        let outcomes = run();
        assert_eq!(outcomes, run(), "same faults, same exchange");
        let bytes: Vec<&[u8]> = outcomes.iter().map(Outcome::host_bytes).collect();
        assert_eq!(bytes[0], [1, 0x90, 0x00]);
        assert_eq!(bytes[1], [0x6F, 0x00], "the card did not see it");
        assert_eq!(
            outcomes[2],
            Outcome::Answer {
                bytes: vec![2, 0x90, 0x00],
                delay_ms: 7
            }
        );
        assert_eq!(bytes[3], [0x83, 0x90, 0x00]);
        assert_eq!(bytes[4], [4, 0x90, 0x01], "past the end: the last byte");
        assert!(matches!(
            outcomes[5],
            Outcome::Silent {
                remove_after_ms: None,
                ..
            }
        ));
        assert_eq!(
            outcomes[6],
            Outcome::Removed {
                away_ms: 3,
                cut_at_write: None
            }
        );
        // The applet has no storage, so the power cut finds no write to cut: answered (the
        // count shows the removal at the answer ran the command, the one between links not).
        assert_eq!(bytes[8], [6, 0x90, 0x00]);
        assert_eq!(bytes[9], [7, 0x90, 0x00]);
    }
}
