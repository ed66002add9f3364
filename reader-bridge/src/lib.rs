//! The reader bridge: puts the virtual FIDO2 card into vsmartcard's `vpcd` reader driver, so that
//! pcscd (and every PC/SC client above it) sees a contactless card in the reader "Virtual PCD".
//!
//! The card itself is sans-IO ([`apdu::Card`]); this crate owns everything that touches the
//! outside world: the vpicc TCP protocol (2-byte big-endian length + payload; one-byte payloads are
//! power off / power on / reset / get ATR), socket options, the state file location, reconnecting
//! when vpcd goes away, and shutting down when asked (a signal, or a console control event on
//! Windows: [`shutdown`]). It also serves several cards at once (one
//! thread per vpcd slot, [`plan`]), writes JSON Lines APDU traces ([`trace`]), resolves card
//! profiles ([`setup`]) and writes FIDO MDS3 metadata statements ([`metadata`]). Each piece that
//! can be is a pure function or a small state machine with unit tests; `main.rs` only wires them
//! together.

pub mod backoff;
pub mod card;
pub mod cli;
pub mod control;
pub mod faults;
pub mod hint;
pub mod metadata;
pub mod net;
pub mod paths;
pub mod plan;
pub mod serve;
pub mod setup;
pub mod shutdown;
pub mod trace;
pub mod wire;

pub use backoff::Backoff;
pub use card::BridgeCard;
pub use serve::{Bridge, SessionEnd};
pub use trace::{TraceSink, Tracer};
