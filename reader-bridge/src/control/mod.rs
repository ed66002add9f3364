//! The runtime control endpoint (`reader-bridge run --control PATH`, `reader-bridge ctl`): a test
//! drives the card while a host talks to it — takes it out of the reader and puts it back,
//! taps it (a new power-up), sets how user presence is answered and touches it.
//!
//! - [`protocol`]: the requests and responses (JSON Lines) and what each command does;
//! - [`endpoint`]: where they are served (a 0600 Unix socket; loopback + token on Windows) and
//!   the client `ctl` uses;
//! - [`slot`]: one card's control state, shared by the card's thread and the endpoint;
//! - [`hold`]: the answer held for a client that cannot poll while the card waits for a touch.
//!
//! A removed card is what vpcd sees when a card leaves the field: the bridge closes its vpcd
//! connection for that slot (vpcd then reports no card, and pcscd tells its clients) and does
//! not connect again until `insert`.

pub mod endpoint;
pub mod hold;
pub mod protocol;
pub mod slot;

pub use endpoint::Endpoint;
pub use protocol::Controls;
pub use slot::{Counters, SlotControl};
