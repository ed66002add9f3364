//! The CTAP 2.1 vocabulary, defined once for the card (`fido-applet`), the host library
//! (`fido-host`), the reader bridge, the tools, the tests, the benches and the fuzz targets.
//!
//! Everything here carries the specification's names (CTAP 2.1 Proposed Standard, with the
//! section cited on each item) so that a reader can grep the spec for it:
//!
//! - [`nfc`]: the FIDO AID and the NFC binding's APDU vocabulary (§11.3);
//! - [`u2f`]: the U2F raw-message instruction and control bytes (§11.2 / U2F NFC);
//! - [`command`]: the authenticator API's command bytes (§6);
//! - [`params`]: request and response parameter keys and subcommands, one module per command;
//! - [`permission`], [`pin_uv_auth_protocol`]: pinUvAuthToken permissions, protocol numbers (§6.5);
//! - [`vocab`]: option ids, extension ids, versions and transports (§6.4, §12);
//! - [`cose`]: COSE algorithms and key labels (RFC 9052/9053 as CTAP uses them);
//! - [`error`]: the status codes (§8.2);
//! - [`cbor`]: the CTAP2 canonical CBOR codec (§8);
//! - [`info`]: the typed authenticatorGetInfo response (§6.4).
#![forbid(unsafe_code)]

pub mod cbor;
pub mod command;
pub mod cose;
pub mod error;
pub mod info;
pub mod nfc;
pub mod params;
pub mod u2f;
pub mod vocab;

pub use command::Command;
pub use error::{CTAP2_OK, CtapError, CtapResult};
pub use info::AuthenticatorInfo;
pub use nfc::FIDO_AID;
pub use vocab::{ExtensionId, OptionId, Transport, Version};

/// pinUvAuthToken permissions (CTAP 2.1 §6.5.5.7, "Permissions"): the bits of the
/// `permissions` parameter of getPinUvAuthTokenUsing{Pin,Uv}WithPermissions.
pub mod permission {
    /// mc: makeCredential.
    pub const MAKE_CREDENTIAL: u8 = 0x01;
    /// ga: getAssertion.
    pub const GET_ASSERTION: u8 = 0x02;
    /// cm: credentialManagement.
    pub const CREDENTIAL_MANAGEMENT: u8 = 0x04;
    /// be: bioEnrollment.
    pub const BIO_ENROLLMENT: u8 = 0x08;
    /// lbw: largeBlobWrite.
    pub const LARGE_BLOB_WRITE: u8 = 0x10;
    /// acfg: authenticatorConfig.
    pub const AUTHENTICATOR_CONFIG: u8 = 0x20;
}

/// PIN/UV auth protocol numbers (CTAP 2.1 §6.5.6, §6.5.7): the values of `pinUvAuthProtocol`
/// and of getInfo's `pinUvAuthProtocols`.
pub mod pin_uv_auth_protocol {
    /// PIN/UV auth protocol One (§6.5.6).
    pub const ONE: u8 = 1;
    /// PIN/UV auth protocol Two (§6.5.7).
    pub const TWO: u8 = 2;
}
