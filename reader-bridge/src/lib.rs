//! The reader bridge: puts the virtual FIDO2 card into vsmartcard's `vpcd` reader driver, so that
//! pcscd (and every PC/SC client above it) sees a contactless card in the reader "Virtual PCD".
//!
//! The card itself is sans-IO ([`apdu::Card`]); this crate owns everything that touches the
//! outside world: the vpicc TCP protocol (2-byte big-endian length + payload; one-byte payloads are
//! power off / power on / reset / get ATR), socket options, the state file location, reconnecting
//! when vpcd goes away, and shutting down on a signal. Each piece that can be is a pure function
//! or a small state machine with unit tests; `main.rs` only wires them together.

pub mod backoff;
pub mod card;
pub mod cli;
pub mod net;
pub mod paths;
pub mod serve;
pub mod wire;

pub use backoff::Backoff;
pub use card::BridgeCard;
pub use serve::{Bridge, SessionEnd};
