//! A virtual contactless FIDO2 security key: a CTAP 2.1 authenticator written as a Java
//! Card-style applet.
//!
//! The applet is sans-IO. [`FidoApplet`] implements [`apdu::Applet`]: the `apdu` runtime hands it
//! whole command APDUs (chaining and GET RESPONSE are the runtime's job) and it answers with
//! response APDUs. Randomness, time and user presence come in through [`platform::Platform`];
//! persistent memory through [`card_storage::records::LogMedium`] (its state as records, see
//! [`state`]).
//!
//! - [`nfc`]: the CTAP NFC binding (CTAP 2.1 §11.3): SELECT, NFCCTAP_MSG, NFCCTAP_GETRESPONSE
//!   (status updates), NFCCTAP_CONTROL.
//! - [`ctap`]: the authenticator API (CTAP 2.1 §6), one module per command, including the
//!   management commands (credential management, large blobs, config).
//! - [`u2f`]: U2F / CTAP1 raw messages over NFC, sharing credentials and the counter with CTAP2.
//! - [`state`]: the persistent state and its schema.
//! - [`pin_protocol`], [`ctap::client_pin`], [`extensions`]: PIN/UV auth protocols 1 and 2,
//!   authenticatorClientPIN and the pinUvAuthToken, the CTAP 2.1 §12 extensions.
//! - `platform`, [`crypto`], `attestation`, `profile`: host services, the crypto seam and its
//!   backends (pure Rust; aws-lc-rs with the `asm-crypto` feature), batch attestation and the
//!   card models.
//! - [`card_builder`]: [`CardBuilder`], the one way to assemble a card (profile, storage,
//!   platform → an `apdu::Card` with this applet installed).
#![forbid(unsafe_code)]

pub mod attestation;
pub mod card_builder;
pub mod crypto;
pub mod ctap;
pub mod digest;
pub mod extensions;
pub mod nfc;
pub mod pin_protocol;
pub mod platform;
pub mod presence;
pub mod profile;
pub mod state;
pub mod u2f;

use card_storage::StorageError;
use card_storage::records::LogMedium;

use crate::ctap::Authenticator;
use crate::platform::Platform;
use crate::profile::Profile;

pub use card_builder::CardBuilder;

/// Why the applet could not be created.
#[derive(Debug, thiserror::Error)]
pub enum AppletError {
    /// The persistent state could not be read or written (the message names the storage).
    #[error("card state: {0}")]
    Storage(#[from] StorageError),
    /// The batch attestation material could not be generated on first start.
    #[error("attestation material could not be generated: {0}")]
    Attestation(#[from] attestation::AttestationError),
    /// The card profile breaks an invariant the applet relies on.
    #[error(transparent)]
    Profile(#[from] profile::ProfileError),
}

/// The FIDO applet: the CTAP NFC binding in front of the CTAP2 authenticator.
pub struct FidoApplet {
    pub(crate) authenticator: Authenticator,
    /// NFCCTAP_CONTROL END was received: CTAP commands are refused until the next SELECT.
    pub(crate) ended: bool,
    /// An answer held behind `91 00` for NFCCTAP_GETRESPONSE, or a command waiting for user
    /// presence (see [`nfc`]).
    pub(crate) held: Option<nfc::Held>,
    /// A U2F command answered 6985 while its presence request waits: its retry keeps the
    /// request (see [`nfc`]).
    pub(crate) u2f_waiting: Option<apdu::Command>,
}

impl FidoApplet {
    /// Loads the card's state from `storage`, or initializes a fresh card there (new wrapping
    /// key, attestation material generated from the profile's AAGUID and subject); the default
    /// crypto backend ([`crypto::Backend::default`]) computes.
    pub fn new(
        profile: Profile,
        storage: Box<dyn LogMedium>,
        platform: Platform,
    ) -> Result<Self, AppletError> {
        Self::with_backend(profile, storage, platform, crypto::Backend::default())
    }

    /// As [`FidoApplet::new`], computing with `backend`.
    pub fn with_backend(
        profile: Profile,
        storage: Box<dyn LogMedium>,
        platform: Platform,
        backend: crypto::Backend,
    ) -> Result<Self, AppletError> {
        profile.validate()?;
        Ok(Self {
            authenticator: Authenticator::new(profile, storage, platform, backend)?,
            ended: false,
            held: None,
            u2f_waiting: None,
        })
    }

    /// The attestation root certificate (PEM), for relying parties' trust stores.
    pub fn attestation_root_pem(&self) -> String {
        self.authenticator.attestation_root_pem()
    }

    /// The CTAP2 authenticator behind the NFC binding.
    pub fn authenticator(&self) -> &Authenticator {
        &self.authenticator
    }
}
