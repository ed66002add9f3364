//! U2F (CTAP1) raw messages over NFC: FIDO U2F Raw Message Formats v1.2 §4-§6, carried as
//! ISO 7816-4 APDUs with CLA 00 (CTAP 2.1 §11.3 and §10 "Interoperating with CTAP1/U2F
//! authenticators").
//!
//! | command | APDU | request data | answer |
//! |---|---|---|---|
//! | U2F_REGISTER | `00 01 P1 00` | challenge (32) ‖ application (32) | `05 ‖ public key (65) ‖ L ‖ key handle (L) ‖ certificate ‖ signature` |
//! | U2F_AUTHENTICATE | `00 02 P1 00` | challenge ‖ application ‖ L ‖ key handle | `flags ‖ counter (4, big-endian) ‖ signature` |
//! | U2F_VERSION | `00 03 00 00` | none | `"U2F_V2"` |
//!
//! AUTHENTICATE's P1 is the control byte: 07 check-only (answers 6985 for a key handle of this
//! card and application, 6A80 otherwise — never a signature), 03 enforce user presence, 08 sign
//! without requiring it. REGISTER's P1 is ignored (platforms send 00 or 03). Errors are ISO
//! status words: 6985 presence refused, 6A80 a key handle that is not ours for this application,
//! 6700 a request of the wrong length, 6A86 an unknown control byte.
//!
//! **Interoperability (CTAP 2.1 §10).** Key handles are the card's credential ids (see
//! `crypto::wrap_credential`) sealed with the application parameter as the RP ID hash, and the
//! signature counter is the one CTAP2 uses. So a U2F registration is a non-discoverable CTAP2
//! credential: CTAP2 getAssertion finds it when the RP ID hashes to the application parameter
//! (WebAuthn's appid extension) and the key handle is in the allowList; and a CTAP2
//! non-discoverable credential answers U2F_AUTHENTICATE with `SHA-256(rpId)` as application. A
//! credential with credProtect userVerificationRequired is invisible here (U2F cannot verify the
//! user, §12.1), and a discoverable one works only while it is still stored.

use apdu::{Command, Response, StatusWord};

use std::sync::Arc;

use crate::crypto::{self, CredentialKey, CredentialPublicKey, Signer, WrappedCredential};
use crate::ctap::Authenticator;
use crate::extensions::cred_protect;
use crate::state::State;

use ctap_types::u2f::{
    CHECK_ONLY, DONT_ENFORCE_USER_PRESENCE, ENFORCE_USER_PRESENCE, INS_AUTHENTICATE, INS_REGISTER,
    INS_VERSION, VERSION,
};

/// REGISTER response's first byte, "reserved for legacy reasons" (Raw Message Formats §4.3).
const REGISTER_ID: u8 = ctap_types::u2f::REGISTER_RESERVED;
/// The byte that precedes the signed registration data (§4.3).
const REGISTER_SIGNED_PREFIX: u8 = 0x00;
/// AUTHENTICATE flags bit 0: user presence was verified (§5.4).
const FLAG_USER_PRESENT: u8 = 0x01;
/// ISO 7816-4 6581 "memory failure": the counter could not be written.
const MEMORY_FAILURE: StatusWord = StatusWord(0x6581);

/// What U2F needs from the card; the authenticator implements it over its state.
pub trait U2fBackend {
    /// The tap: whether the user is present (the card's presence gate). `false` too while a
    /// request waits for the user: U2F answers 6985 and the host retries (§4.3, §5.4).
    fn user_present(&mut self) -> bool;
    /// As `user_present`, but never making the user wait ("don't enforce user presence").
    fn user_present_without_waiting(&mut self) -> bool;
    /// A new credential key pair bound to `application`, as (key handle, private key).
    fn new_key_handle(
        &mut self,
        application: &[u8; 32],
    ) -> Result<(Vec<u8>, Arc<dyn Signer>), StatusWord>;
    /// The private key behind `key_handle` if this card made it for `application` and it may
    /// be used without user verification.
    fn open_key_handle(&self, application: &[u8; 32], key_handle: &[u8])
    -> Option<Arc<dyn Signer>>;
    /// Increments and persists the signature counter, returning the new value.
    fn next_counter(&mut self) -> Result<u32, StatusWord>;
    /// The attestation certificate (DER).
    fn attestation_certificate(&self) -> Result<Vec<u8>, StatusWord>;
    /// Signs with the attestation key (ECDSA P-256 SHA-256, DER).
    fn attestation_sign(&self, message: &[u8]) -> Result<Vec<u8>, StatusWord>;
}

/// Processes one U2F command APDU.
pub fn process(cmd: &Command, backend: &mut dyn U2fBackend) -> Response {
    if cmd.cla != 0x00 {
        return StatusWord::CLA_NOT_SUPPORTED.into();
    }
    let result = match cmd.ins {
        INS_REGISTER => register(cmd, backend),
        INS_AUTHENTICATE => authenticate(cmd, backend),
        INS_VERSION if cmd.data.is_empty() => Ok(VERSION.to_vec()),
        INS_VERSION => Err(StatusWord::WRONG_LENGTH),
        _ => Err(StatusWord::INS_NOT_SUPPORTED),
    };
    match result {
        Ok(data) => Response::ok(data),
        Err(sw) => sw.into(),
    }
}

/// Splits `challenge ‖ application ‖ rest`.
fn split_params(data: &[u8]) -> Option<([u8; 32], [u8; 32], &[u8])> {
    let (challenge, rest) = data.split_first_chunk::<32>()?;
    let (application, rest) = rest.split_first_chunk::<32>()?;
    Some((*challenge, *application, rest))
}

/// U2F_REGISTER (Raw Message Formats §4.1-§4.3).
fn register(cmd: &Command, backend: &mut dyn U2fBackend) -> Result<Vec<u8>, StatusWord> {
    let Some((challenge, application, [])) = split_params(&cmd.data) else {
        return Err(StatusWord::WRONG_LENGTH);
    };
    if !backend.user_present() {
        return Err(StatusWord::CONDITIONS_NOT_SATISFIED);
    }
    let (key_handle, key) = backend.new_key_handle(&application)?;
    // Credential ids are 63 bytes; a longer one would not fit the length byte.
    let handle_len = u8::try_from(key_handle.len()).map_err(|_| StatusWord::UNKNOWN)?;
    // U2F keys are P-256 (Raw Message Formats §4.3: a 65-byte uncompressed point).
    let CredentialPublicKey::Es256(public) = key.public_key() else {
        return Err(StatusWord::UNKNOWN);
    };
    let public = public.to_uncompressed();
    let mut signed = Vec::with_capacity(1 + 32 + 32 + key_handle.len() + public.len());
    signed.push(REGISTER_SIGNED_PREFIX);
    signed.extend_from_slice(&application);
    signed.extend_from_slice(&challenge);
    signed.extend_from_slice(&key_handle);
    signed.extend_from_slice(&public);
    let signature = backend.attestation_sign(&signed)?;
    let certificate = backend.attestation_certificate()?;
    let mut out = Vec::with_capacity(
        2 + public.len() + key_handle.len() + certificate.len() + signature.len(),
    );
    out.push(REGISTER_ID);
    out.extend_from_slice(&public);
    out.push(handle_len);
    out.extend_from_slice(&key_handle);
    out.extend_from_slice(&certificate);
    out.extend_from_slice(&signature);
    Ok(out)
}

/// U2F_AUTHENTICATE (Raw Message Formats §5.1-§5.4).
fn authenticate(cmd: &Command, backend: &mut dyn U2fBackend) -> Result<Vec<u8>, StatusWord> {
    let Some((challenge, application, rest)) = split_params(&cmd.data) else {
        return Err(StatusWord::WRONG_LENGTH);
    };
    let Some((&handle_len, key_handle)) = rest.split_first() else {
        return Err(StatusWord::WRONG_LENGTH);
    };
    if key_handle.len() != usize::from(handle_len) {
        return Err(StatusWord::WRONG_LENGTH);
    }
    if !matches!(
        cmd.p1,
        CHECK_ONLY | ENFORCE_USER_PRESENCE | DONT_ENFORCE_USER_PRESENCE
    ) {
        return Err(StatusWord::INCORRECT_P1P2);
    }
    let key = backend
        .open_key_handle(&application, key_handle)
        .ok_or(StatusWord::WRONG_DATA)?;
    if cmd.p1 == CHECK_ONLY {
        // §5.1: a key handle of this token for this application is answered with "test of
        // user presence required", never with a signature.
        return Err(StatusWord::CONDITIONS_NOT_SATISFIED);
    }
    // On a contactless card the tap that powered it is the presence gesture: "don't enforce"
    // still reports it when the gate grants it at once, and never waits for the user.
    let present = if cmd.p1 == ENFORCE_USER_PRESENCE {
        backend.user_present()
    } else {
        backend.user_present_without_waiting()
    };
    if cmd.p1 == ENFORCE_USER_PRESENCE && !present {
        return Err(StatusWord::CONDITIONS_NOT_SATISFIED);
    }
    let flags = if present { FLAG_USER_PRESENT } else { 0 };
    let counter = backend.next_counter()?.to_be_bytes();
    let signature = key.sign(&[&application, &[flags], &counter, &challenge]);
    let mut out = Vec::with_capacity(1 + counter.len() + signature.len());
    out.push(flags);
    out.extend_from_slice(&counter);
    out.extend_from_slice(&signature);
    Ok(out)
}

impl U2fBackend for Authenticator {
    fn user_present(&mut self) -> bool {
        self.check_user_presence().is_ok()
    }

    fn user_present_without_waiting(&mut self) -> bool {
        Authenticator::user_present_without_waiting(self)
    }

    fn new_key_handle(
        &mut self,
        application: &[u8; 32],
    ) -> Result<(Vec<u8>, Arc<dyn Signer>), StatusWord> {
        let wrapped = WrappedCredential {
            // U2F stays P-256 (ES256), whatever else the card offers.
            private_key: CredentialKey::generate(crypto::Algorithm::Es256, &mut *self.platform.rng),
            // A U2F key handle is a non-discoverable credential without extensions:
            // userVerificationOptional like any other (CTAP 2.1 §12.1).
            flags: WrappedCredential::pack_flags(false, cred_protect::DEFAULT_LEVEL, false),
        };
        let key_handle = crypto::wrap_credential(
            &self.store.get().wrapping_key,
            &mut *self.platform.rng,
            application,
            &wrapped,
        );
        let signer = self.signer(&key_handle, &wrapped.private_key);
        Ok((key_handle, signer))
    }

    fn open_key_handle(
        &self,
        application: &[u8; 32],
        key_handle: &[u8],
    ) -> Option<Arc<dyn Signer>> {
        let state = self.store.get();
        let wrapped = crypto::unwrap_credential(&state.wrapping_key, application, key_handle)?;
        // A U2F key handle is a P-256 key: an EdDSA credential's id is not one (6A80, "bad key
        // handle", Raw Message Formats §5.2).
        if !matches!(wrapped.private_key, CredentialKey::Es256(_)) {
            return None;
        }
        let flags = if wrapped.discoverable() {
            state
                .resident
                .iter()
                .find(|c| {
                    crypto::ct_eq(&c.credential_id, key_handle)
                        && crypto::sha256(c.rp_id.as_bytes()) == *application
                })?
                .flags
        } else {
            wrapped.flags
        };
        let level = cred_protect::level_of(flags);
        // U2F names the key handle (like an allowList) and never verifies the user.
        cred_protect::allows(level, false, true)
            .then(|| self.signer(key_handle, &wrapped.private_key))
    }

    fn next_counter(&mut self) -> Result<u32, StatusWord> {
        self.store
            .transaction(|state: &mut State| {
                Ok::<u32, card_storage::StorageError>(state.next_sign_count())
            })
            .map_err(|err| {
                tracing::error!(%err, "U2F: the signature counter could not be written");
                MEMORY_FAILURE
            })
    }

    fn attestation_certificate(&self) -> Result<Vec<u8>, StatusWord> {
        self.attestation()
            .map(|m| m.cert_der.clone())
            .ok_or(StatusWord::UNKNOWN)
    }

    fn attestation_sign(&self, message: &[u8]) -> Result<Vec<u8>, StatusWord> {
        self.attestation_sign(message).ok_or(StatusWord::UNKNOWN)
    }
}
