//! The host side of CTAP 2.1 over NFC / ISO 7816, in the layers python-fido2 and libfido2 use:
//!
//! - [`transport`]: APDU bytes in, response bytes out — PC/SC ([`pcsc`], feature `pcsc`) or an
//!   in-process `apdu::Card`;
//! - [`iso`]: ISO 7816-4 response handling (GET RESPONSE on `61xx`, Le on `6Cxx`);
//! - [`nfc`]: the CTAP NFC binding, client side (§11.3): SELECT, NFCCTAP_MSG framing, status
//!   update polling — every choice configurable, since platforms differ;
//! - [`client`]: the CTAP2 client that records every exchange; [`ctap2`] (getInfo,
//!   makeCredential, getAssertion, reset, selection), [`client_pin`] (PIN/UV auth tokens,
//!   hmac-secret), [`management`] (credentialManagement, authenticatorConfig, largeBlobs) add
//!   its commands;
//! - [`pin_protocol`]: PIN/UV auth protocols 1 and 2, platform side (§6.5.6, §6.5.7);
//! - [`attestation`]: authenticator data and `packed` attestation verification;
//! - [`u2f`]: U2F raw messages.
//!
//! It depends on no part of our authenticator (`fido-applet`): it judges any card.
#![forbid(unsafe_code)]

pub mod attestation;
pub mod client;
pub mod client_pin;
pub mod ctap2;
pub mod iso;
pub mod management;
pub mod nfc;
#[cfg(feature = "pcsc")]
pub mod pcsc;
pub mod persona;
pub mod pin_protocol;
pub mod transport;
pub mod u2f;

pub use client::{Client, ClientError, Op, Reply};
pub use ctap_types;
pub use transport::{Transport, TransportError, VirtualCard};

/// An AAGUID as a lower-case UUID string, 8-4-4-4-12.
pub fn format_aaguid(aaguid: &[u8; 16]) -> String {
    let h = apdu::hex_encode(aaguid).to_ascii_lowercase();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}
