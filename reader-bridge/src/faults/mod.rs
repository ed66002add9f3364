//! Fault injection: scripted, deterministic, recorded (README, "Fault injection").
//!
//! A fault fires once on a condition — the Nth APDU, the next APDU with an INS, the next CTAP
//! command of a kind — and then disarms. Its action answers a status word instead, delays the
//! answer, never answers, removes the card (before the answer, between two links of a chain or
//! two GET RESPONSE pieces), cuts the power at the Nth storage write of the command, or flips a
//! byte of the answer. Faults are armed at start (`--faults FILE`, TOML: [`FaultFile`]) or at
//! run time through the control endpoint, per card:
//!
//! ```
//! use reader_bridge::faults::{FaultSpec, Faults};
//! let faults = Faults::new(); // one per card: BridgeCard::faults() hands out its own
//! let id = faults
//!     .arm(FaultSpec::from_json(r#"{"on": {"ins": "10"}, "action": {"status": "6F00"}}"#).unwrap())
//!     .unwrap();
//! let status = serde_json::to_string(&faults.pending()).unwrap();
//! assert!(status.contains(r#""id":1"#) && id == 1);
//! assert_eq!(faults.reset(), 1);
//! ```
//!
//! One module per concern: [`spec`] (the data: conditions, actions, the file), [`engine`]
//! (arming, conditions, and [`perform`], what a fault does to one exchange — the bridge and
//! `apdu-replay` both run it, so a replayed trace reproduces the faulted exchange), [`power`]
//! (the power cut over the card's storage, any `card_storage::records::LogMedium`).
//!
//! Every fault that fires is written to the trace before its exchange (`"event":"fault"`, with
//! the fault as JSON); an exchange without an answer is traced with `"r":""`.

pub mod engine;
pub mod power;
pub mod spec;

pub use engine::{FaultId, Faults, FiredFault, Outcome, PendingFault, perform};
pub use power::{PowerSwitch, SwitchedStorage};
pub use spec::{Action, Condition, FaultError, FaultFile, FaultSpec, RemovalPoint};
