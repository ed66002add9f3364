//! authenticatorClientPIN (CTAP 2.1 §6.5.5): set and change the PIN, and trade it for a
//! pinUvAuthToken.
//!
//! | subcommand | § | |
//! |---|---|---|
//! | 0x01 getPINRetries | 6.5.5.2 | retries left, and whether a power cycle is needed |
//! | 0x02 getKeyAgreement | 6.5.5.4 | the card's ECDH public key (new at every power-up) |
//! | 0x03 setPIN | 6.5.5.5 | first PIN, only when none is set (else CTAP2_ERR_PIN_AUTH_INVALID) |
//! | 0x04 changePIN | 6.5.5.6 | needs the current PIN |
//! | 0x05 getPinToken | 6.5.5.7.1 | legacy: a token with the mc and ga permissions |
//! | 0x09 getPinUvAuthTokenUsingPinWithPermissions | 6.5.5.7.2 | a token with chosen permissions |
//!
//! The card has no built-in user verification, so 0x06 (getPinUvAuthTokenUsingUvWithPermissions)
//! and 0x07 (getUVRetries) are CTAP2_ERR_INVALID_SUBCOMMAND.
//!
//! **PIN storage.** Only `LEFT(SHA-256(PIN), 16)` is kept (§6.5.5.5 step 8), and compared in
//! constant time. **Retries.** 8 in all; 3 wrong PINs in a row need a power cycle
//! (CTAP2_ERR_PIN_AUTH_BLOCKED); at 0 the PIN is blocked until authenticatorReset. The counter
//! is decremented and committed to persistent memory *before* the PIN is compared, and restored
//! in a second transaction only after a match (§6.5.5.7 steps "decrement pinRetries by 1",
//! then "set pinRetries to maximum"): pulling the card out of the field mid-attempt, a classic
//! attack on smart-card PIN counters, still costs the attempt.

use zeroize::{Zeroize, Zeroizing};

use super::Authenticator;
use super::pin_uv_auth::token::PinUvAuthToken;
use super::pin_uv_auth::{protocol, supported_permissions};
use crate::crypto::{CryptoBackend, ct_eq, sha256};
use crate::pin_protocol::{KeyAgreementKey, PinProtocol, PlatformKey, SharedSecret};
use crate::platform::Rng;
use crate::state::State;
use ctap_types::cbor::{self, IntMap, Value};
use ctap_types::permission;
use ctap_types::{CtapError, CtapResult};

/// Subcommand numbers (CTAP 2.1 §6.5.5.1).
use ctap_types::params::client_pin::subcommand;

/// Request parameter keys (§6.5.5.1).
use ctap_types::params::client_pin::request as key;

/// Response keys (§6.5.5.1).
use ctap_types::params::client_pin::response;

/// Wrong PINs in a row before a power cycle is needed (§6.5.5.7: "3 consecutive mismatches").
pub const MAX_CONSECUTIVE_MISMATCHES: u8 = 3;
/// The longest PIN, in bytes of UTF-8 (§6.5.1: "maximum of 63 bytes").
pub const MAX_PIN_BYTES: usize = 63;
/// A PIN travels zero-padded to 64 bytes (§6.5.5.5 "paddedPin").
pub const PADDED_PIN_LEN: usize = 64;
use crate::state::pin::{MAX_PIN_RETRIES, MIN_PIN_LENGTH, PIN_HASH_LEN};

/// The transient part of authenticatorClientPIN: the key-agreement key, the pinUvAuthToken and
/// the count of wrong PINs since power-up. All of it is lost when the card leaves the field.
pub struct ClientPin {
    key_agreement: KeyAgreementKey,
    /// The pinUvAuthToken and its permissions (shared by both protocols).
    pub token: PinUvAuthToken,
    consecutive_mismatches: u8,
}

impl ClientPin {
    /// State at power-up (§6.5.4 `initialize()`); `crypto` computes the key agreement.
    pub fn new(crypto: &'static dyn CryptoBackend, rng: &mut dyn Rng) -> Self {
        Self {
            key_agreement: KeyAgreementKey::generate(crypto, rng),
            token: PinUvAuthToken::new(rng),
            consecutive_mismatches: 0,
        }
    }

    /// Power-up (and authenticatorReset): a new key-agreement key, a new token not in use, and
    /// the consecutive-mismatch count back to zero, which lifts PIN_AUTH_BLOCKED.
    pub fn power_up(&mut self, crypto: &'static dyn CryptoBackend, rng: &mut dyn Rng) {
        *self = Self::new(crypto, rng);
    }

    /// getPINRetries' `powerCycleState`: three wrong PINs in a row since power-up.
    pub fn power_cycle_required(&self) -> bool {
        self.consecutive_mismatches >= MAX_CONSECUTIVE_MISMATCHES
    }

    /// The card's key-agreement key (hmac-secret uses it too, §12.5).
    pub fn key_agreement(&self) -> &KeyAgreementKey {
        &self.key_agreement
    }
}

/// A decoded authenticatorClientPIN request (§6.5.5.1 parameter table).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientPinRequest {
    pub pin_uv_auth_protocol: Option<u64>,
    pub subcommand: Option<u64>,
    pub key_agreement: Option<PlatformKey>,
    pub pin_uv_auth_param: Option<Vec<u8>>,
    pub new_pin_enc: Option<Vec<u8>>,
    pub pin_hash_enc: Option<Vec<u8>>,
    pub permissions: Option<u64>,
    pub rp_id: Option<String>,
}

impl ClientPinRequest {
    /// The platform's keyAgreement, for the subcommands that take one together with
    /// pinUvAuthProtocol (setPIN, changePIN, the token subcommands): either absent is
    /// CTAP2_ERR_MISSING_PARAMETER.
    fn platform_key(&self) -> CtapResult<&PlatformKey> {
        required(self.pin_uv_auth_protocol)?;
        required(self.key_agreement.as_ref())
    }

    /// Decodes the CBOR parameters: malformed CBOR and wrong types fail here, missing
    /// parameters later, per subcommand.
    pub fn decode(params: &[u8]) -> CtapResult<Self> {
        IntMap::parse_with(params, |map| {
            Ok(Self {
                pin_uv_auth_protocol: map.opt_unsigned(key::PIN_UV_AUTH_PROTOCOL)?,
                subcommand: map.opt_unsigned(key::SUBCOMMAND)?,
                key_agreement: map
                    .get(key::KEY_AGREEMENT)
                    .map(PlatformKey::decode)
                    .transpose()?,
                pin_uv_auth_param: map.opt_bytes(key::PIN_UV_AUTH_PARAM)?,
                new_pin_enc: map.opt_bytes(key::NEW_PIN_ENC)?,
                pin_hash_enc: map.opt_bytes(key::PIN_HASH_ENC)?,
                permissions: map.opt_unsigned(key::PERMISSIONS)?,
                rp_id: map.opt_text(key::RP_ID)?,
            })
        })
    }
}

/// The minimum PIN length in force: the profile's, raised by authenticatorConfig, never below 4
/// (getInfo `minPINLength`).
pub fn min_pin_length(auth: &Authenticator) -> u8 {
    min_pin_length_in_force(&auth.profile, auth.store.get().pin.min_pin_length)
}

/// The minimum PIN length in force on a card of `profile` whose authenticatorConfig minimum is
/// `configured` (a fresh card's is [`MIN_PIN_LENGTH`]).
pub fn min_pin_length_in_force(profile: &crate::profile::Profile, configured: u8) -> u8 {
    u8::try_from(profile.min_pin_length)
        .unwrap_or(u8::MAX)
        .max(configured)
        .max(MIN_PIN_LENGTH)
}

/// Processes one authenticatorClientPIN request.
pub fn process(auth: &mut Authenticator, params: &[u8]) -> CtapResult<Option<Value>> {
    let req = ClientPinRequest::decode(params)?;
    let sub = req.subcommand.ok_or(CtapError::MissingParameter)?;
    // What the profile leaves out does not exist on the card: a CTAP 2.0 card knows 0x01-0x05
    // only, so 0x09 (permissions) is an unknown subcommand there (crate::profile).
    if !u8::try_from(sub).is_ok_and(|s| auth.profile.enables_client_pin_subcommand(s)) {
        return Err(CtapError::InvalidSubcommand);
    }
    match sub {
        subcommand::GET_PIN_RETRIES => get_pin_retries(auth).map(Some),
        subcommand::GET_KEY_AGREEMENT => get_key_agreement(auth, &req).map(Some),
        subcommand::SET_PIN => set_pin(auth, &req).map(|()| None),
        subcommand::CHANGE_PIN => change_pin(auth, &req).map(|()| None),
        subcommand::GET_PIN_TOKEN => get_pin_token(auth, &req, None).map(Some),
        subcommand::GET_PIN_UV_AUTH_TOKEN_USING_PIN_WITH_PERMISSIONS => {
            let permissions = req.permissions.ok_or(CtapError::MissingParameter)?;
            get_pin_token(auth, &req, Some(permissions)).map(Some)
        }
        // No built-in user verification on this card.
        subcommand::GET_PIN_UV_AUTH_TOKEN_USING_UV_WITH_PERMISSIONS
        | subcommand::GET_UV_RETRIES => Err(CtapError::InvalidSubcommand),
        _ => Err(CtapError::InvalidSubcommand),
    }
}

/// getPINRetries (§6.5.5.2): `{3: pinRetries, 4: powerCycleState}`.
fn get_pin_retries(auth: &Authenticator) -> CtapResult<Value> {
    Ok(Value::Map(vec![
        (
            Value::Unsigned(response::PIN_RETRIES),
            Value::Unsigned(u64::from(auth.store.get().pin.retries)),
        ),
        (
            Value::Unsigned(response::POWER_CYCLE_STATE),
            Value::Bool(auth.client_pin.power_cycle_required()),
        ),
    ]))
}

/// getKeyAgreement (§6.5.5.4): `{1: COSE_Key}` with alg -25 (ECDH-ES+HKDF-256) for both
/// protocols.
fn get_key_agreement(auth: &Authenticator, req: &ClientPinRequest) -> CtapResult<Value> {
    protocol(auth, req.pin_uv_auth_protocol)?;
    let cose = cbor::parse(&auth.client_pin.key_agreement.cose_key())?;
    Ok(Value::Map(vec![(
        Value::Unsigned(response::KEY_AGREEMENT),
        cose,
    )]))
}

/// decapsulate() with the card's key; a key off the curve is CTAP1_ERR_INVALID_PARAMETER.
fn shared_secret(
    auth: &Authenticator,
    protocol: PinProtocol,
    key: &PlatformKey,
) -> CtapResult<SharedSecret> {
    auth.client_pin
        .key_agreement
        .decapsulate(protocol, &key.x, &key.y)
        .map_err(|_| CtapError::InvalidParameter)
}

/// A parameter the subcommand requires: absent is CTAP2_ERR_MISSING_PARAMETER (§6.5.5.5
/// step 1, §6.5.5.6 step 1, §6.5.5.7.1 step 1). A subcommand checks all it requires before it
/// checks any value.
fn required<T>(value: Option<T>) -> CtapResult<T> {
    value.ok_or(CtapError::MissingParameter)
}

/// setPIN (§6.5.5.5).
fn set_pin(auth: &mut Authenticator, req: &ClientPinRequest) -> CtapResult<()> {
    let key = req.platform_key()?;
    let new_pin_enc = required(req.new_pin_enc.as_deref())?;
    let param = required(req.pin_uv_auth_param.as_deref())?;
    let protocol = protocol(auth, req.pin_uv_auth_protocol)?;
    // §6.5.5.5 step 3: "If a PIN has already been set, authenticator returns
    // CTAP2_ERR_PIN_AUTH_INVALID error." (CTAP 2.0 §5.5.5 has the same step.)
    if auth.store.get().pin.is_set() {
        return Err(CtapError::PinAuthInvalid);
    }
    let secret = shared_secret(auth, protocol, key)?;
    if !secret.verify(new_pin_enc, param) {
        return Err(CtapError::PinAuthInvalid);
    }
    let new_pin = decrypt_new_pin(&secret, new_pin_enc, min_pin_length(auth))?;
    auth.store.transaction(|state: &mut State| {
        state.pin.pin_hash = Some(new_pin.hash);
        state.pin.pin_code_points = new_pin.code_points;
        state.pin.retries = MAX_PIN_RETRIES;
        Ok::<(), CtapError>(())
    })
}

/// changePIN (§6.5.5.6).
fn change_pin(auth: &mut Authenticator, req: &ClientPinRequest) -> CtapResult<()> {
    let key = req.platform_key()?;
    let pin_hash_enc = required(req.pin_hash_enc.as_deref())?;
    let new_pin_enc = required(req.new_pin_enc.as_deref())?;
    let param = required(req.pin_uv_auth_param.as_deref())?;
    let protocol = protocol(auth, req.pin_uv_auth_protocol)?;
    check_pin_usable(auth)?;
    let secret = shared_secret(auth, protocol, key)?;
    let mut message = Vec::with_capacity(new_pin_enc.len() + pin_hash_enc.len());
    message.extend_from_slice(new_pin_enc);
    message.extend_from_slice(pin_hash_enc);
    if !secret.verify(&message, param) {
        return Err(CtapError::PinAuthInvalid);
    }
    verify_pin_hash_enc(auth, &secret, pin_hash_enc)?;
    let new_pin = decrypt_new_pin(&secret, new_pin_enc, min_pin_length(auth))?;
    let state = &auth.store.get().pin;
    if state.force_pin_change && state.pin_hash.is_some_and(|h| ct_eq(&h, &new_pin.hash)) {
        // §6.5.5.6: a forced change must pick a different PIN.
        return Err(CtapError::PinPolicyViolation);
    }
    auth.store.transaction(|state: &mut State| {
        state.pin.pin_hash = Some(new_pin.hash);
        state.pin.pin_code_points = new_pin.code_points;
        state.pin.retries = MAX_PIN_RETRIES;
        state.pin.force_pin_change = false;
        Ok::<(), CtapError>(())
    })?;
    // A PIN change ends every token handed out under the old PIN (§6.5.5.6 last step).
    auth.client_pin.token.reset(&mut *auth.platform.rng);
    Ok(())
}

/// getPinToken (§6.5.5.7.1, `permissions == None`) and getPinUvAuthTokenUsingPinWithPermissions
/// (§6.5.5.7.2).
fn get_pin_token(
    auth: &mut Authenticator,
    req: &ClientPinRequest,
    permissions: Option<u64>,
) -> CtapResult<Value> {
    let key = req.platform_key()?;
    let pin_hash_enc = required(req.pin_hash_enc.as_deref())?;
    let protocol = protocol(auth, req.pin_uv_auth_protocol)?;
    let (permissions, rp_id) = match permissions {
        // Legacy getPinToken takes neither, and grants mc and ga (§6.5.5.7.1). CTAP 2.0 has
        // no such parameters: a CTAP 2.0 card ignores them like any unknown key.
        None => {
            if !auth.profile.is_ctap20_only() && (req.permissions.is_some() || req.rp_id.is_some())
            {
                return Err(CtapError::InvalidParameter);
            }
            (
                permission::MAKE_CREDENTIAL | permission::GET_ASSERTION,
                None,
            )
        }
        Some(0) => return Err(CtapError::InvalidParameter),
        Some(requested) => {
            let supported = u64::from(supported_permissions(auth));
            if requested & !supported != 0 {
                return Err(CtapError::UnauthorizedPermission);
            }
            // `requested` has only bits of a u8 now.
            (
                u8::try_from(requested).map_err(|_| CtapError::UnauthorizedPermission)?,
                req.rp_id.clone(),
            )
        }
    };
    check_pin_usable(auth)?;
    let secret = shared_secret(auth, protocol, key)?;
    verify_pin_hash_enc(auth, &secret, pin_hash_enc)?;
    if auth.store.get().pin.force_pin_change {
        return Err(CtapError::PinPolicyViolation);
    }
    let now = auth.platform.clock.now_ms();
    let token = &mut auth.client_pin.token;
    token.reset(&mut *auth.platform.rng);
    token.begin_using(protocol, false, permissions, rp_id, now);
    let encrypted = secret.encrypt(&mut *auth.platform.rng, token.bytes());
    Ok(Value::Map(vec![(
        Value::Unsigned(response::PIN_UV_AUTH_TOKEN),
        Value::bytes(encrypted),
    )]))
}

/// The checks before a PIN may be tried: one is set (CTAP2_ERR_PIN_NOT_SET), it is not blocked
/// (CTAP2_ERR_PIN_BLOCKED), and no power cycle is pending (CTAP2_ERR_PIN_AUTH_BLOCKED).
fn check_pin_usable(auth: &Authenticator) -> CtapResult<()> {
    let pin = &auth.store.get().pin;
    if !pin.is_set() {
        return Err(CtapError::PinNotSet);
    }
    if pin.retries == 0 {
        return Err(CtapError::PinBlocked);
    }
    if auth.client_pin.power_cycle_required() {
        return Err(CtapError::PinAuthBlocked);
    }
    Ok(())
}

/// Checks `pinHashEnc` against the stored PIN hash (§6.5.5.7.2 steps 8-10).
///
/// The retry counter is decremented and committed first: if that write fails, nothing is
/// compared (CTAP1_ERR_OTHER). A mismatch — including a `pinHashEnc` that does not decrypt to
/// 16 bytes — regenerates the key-agreement key and answers PIN_BLOCKED (no retries left),
/// PIN_AUTH_BLOCKED (third mismatch in a row) or PIN_INVALID. A match restores the counter in a
/// second transaction.
fn verify_pin_hash_enc(
    auth: &mut Authenticator,
    secret: &SharedSecret,
    pin_hash_enc: &[u8],
) -> CtapResult<()> {
    let retries = auth.store.transaction(|state: &mut State| {
        state.pin.retries = state.pin.retries.saturating_sub(1);
        Ok::<u8, CtapError>(state.pin.retries)
    })?;
    let stored = auth.store.get().pin.pin_hash;
    let matches = match (secret.decrypt(pin_hash_enc), stored) {
        (Ok(given), Some(stored)) => given.len() == PIN_HASH_LEN && ct_eq(&given, &stored),
        _ => false,
    };
    if !matches {
        auth.client_pin.key_agreement =
            KeyAgreementKey::generate(auth.crypto, &mut *auth.platform.rng);
        if retries == 0 {
            return Err(CtapError::PinBlocked);
        }
        auth.client_pin.consecutive_mismatches =
            auth.client_pin.consecutive_mismatches.saturating_add(1);
        if auth.client_pin.power_cycle_required() {
            return Err(CtapError::PinAuthBlocked);
        }
        return Err(CtapError::PinInvalid);
    }
    auth.client_pin.consecutive_mismatches = 0;
    auth.store.transaction(|state: &mut State| {
        state.pin.retries = MAX_PIN_RETRIES;
        Ok::<(), CtapError>(())
    })
}

/// A new PIN that passed the policy: its stored hash and its length in code points.
struct NewPin {
    hash: [u8; PIN_HASH_LEN],
    code_points: u8,
}

impl Drop for NewPin {
    fn drop(&mut self) {
        self.hash.zeroize();
    }
}

/// Decrypts `newPinEnc` and applies the PIN policy (§6.5.5.5 steps 6-9, §6.5.5.6 the same
/// steps): a `newPinEnc` that does not decrypt (not whole cipher blocks, or no IV under protocol
/// 2) is CTAP2_ERR_PIN_AUTH_INVALID ("If an error results, it returns
/// CTAP2_ERR_PIN_AUTH_INVALID"); the plaintext must be 64 bytes (CTAP1_ERR_INVALID_PARAMETER
/// otherwise); the PIN is what precedes the zero padding and must be UTF-8 of at least `min_len`
/// code points and at most 63 bytes, with no NUL inside (CTAP2_ERR_PIN_POLICY_VIOLATION
/// otherwise).
fn decrypt_new_pin(secret: &SharedSecret, new_pin_enc: &[u8], min_len: u8) -> CtapResult<NewPin> {
    let padded = secret
        .decrypt(new_pin_enc)
        .map_err(|_| CtapError::PinAuthInvalid)?;
    if padded.len() != PADDED_PIN_LEN {
        return Err(CtapError::InvalidParameter);
    }
    let end = padded.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    let pin = padded.get(..end).ok_or(CtapError::PinPolicyViolation)?;
    if pin.len() > MAX_PIN_BYTES || pin.contains(&0) {
        return Err(CtapError::PinPolicyViolation);
    }
    let text = std::str::from_utf8(pin).map_err(|_| CtapError::PinPolicyViolation)?;
    let code_points = text.chars().count();
    if code_points < usize::from(min_len) {
        return Err(CtapError::PinPolicyViolation);
    }
    let digest = Zeroizing::new(sha256(pin));
    let mut hash = [0u8; PIN_HASH_LEN];
    hash.copy_from_slice(&digest[..PIN_HASH_LEN]);
    // At most 63 code points: it fits.
    Ok(NewPin {
        hash,
        code_points: u8::try_from(code_points).unwrap_or(u8::MAX),
    })
}
