//! User verification on this card: the pinUvAuthToken (CTAP 2.1 §6.5.2) and every check a
//! command makes with it, in one place.
//!
//! - [`token`]: the token's state (§6.5.2.1), permissions, permissions RP ID, flags and timers;
//! - the `pinUvAuthParam` / `pinUvAuthProtocol` checks of makeCredential and getAssertion
//!   ([`check_pin_uv_auth`], [`verify_token_for`], §6.1.2 steps 1-2 and 11, §6.2.2 steps 1-2
//!   and 6) and of the management commands ([`verify_token_for_command`]: credentialManagement
//!   §6.8, largeBlobs §6.10.2, authenticatorConfig §6.11);
//! - which protocols and permissions the card offers ([`offered_protocols`],
//!   [`supported_permissions`]) and the CTAP 2.0 token rules ([`ctap20_tokens`]).
//!
//! The PIN itself (its hash, retries, minimum length) is card state ([`crate::state::PinState`]);
//! authenticatorClientPIN ([`super::client_pin`]) sets it and hands tokens out.

pub mod token;

use ctap_types::permission;
use ctap_types::{CtapError, CtapResult};

use super::Authenticator;
use super::types::SubcommandRequest;
use crate::pin_protocol::PinProtocol;

/// The `options.uv` check of makeCredential and getAssertion: `uv = true` asks for built-in
/// user verification, which this card (no PIN pad) lacks, unless a pinUvAuthParam came with it
/// (`with_pin_uv_auth`: then it is treated as false, the PIN is the verification). The error:
/// CTAP 2.1 (§6.1.2 step 5, §6.2.2 step 4) says CTAP2_ERR_INVALID_OPTION; CTAP 2.0 said
/// CTAP2_ERR_UNSUPPORTED_OPTION, which a profile declaring only FIDO_2_0 keeps.
pub fn check_uv_option(
    auth: &Authenticator,
    uv: Option<bool>,
    with_pin_uv_auth: bool,
) -> CtapResult<()> {
    if uv != Some(true) || with_pin_uv_auth {
        Ok(())
    } else if auth.profile.is_ctap21() {
        Err(CtapError::InvalidOption)
    } else {
        Err(CtapError::UnsupportedOption)
    }
}

/// A makeCredential / getAssertion pinUvAuthParam with the offered protocol it names, checked
/// by [`check_pin_uv_auth`] and verified later by [`verify_token_for`].
#[derive(Clone, Copy, Debug)]
pub struct PinUvAuth<'a> {
    pub protocol: PinProtocol,
    pub param: &'a [u8],
}

/// The pinUvAuthParam checks shared by makeCredential and getAssertion (§6.1.2 steps 1-2,
/// §6.2.2 steps 1-2). A zero-length pinUvAuthParam asks "touch me, then tell me about your
/// PIN" (platforms use it to let the user pick an authenticator): after presence it is
/// CTAP2_ERR_PIN_INVALID when a PIN is set, CTAP2_ERR_PIN_NOT_SET otherwise. A real one needs
/// an offered pinUvAuthProtocol, and is returned with it; it is verified later, after the
/// options (§6.1.2 step 11, §6.2.2 step 6).
pub fn check_pin_uv_auth<'a>(
    auth: &mut Authenticator,
    param: Option<&'a [u8]>,
    protocol: Option<u64>,
) -> CtapResult<Option<PinUvAuth<'a>>> {
    match param {
        None => Ok(None),
        Some([]) => {
            auth.check_user_presence()?;
            if auth.store.get().pin.is_set() {
                Err(CtapError::PinInvalid)
            } else {
                Err(CtapError::PinNotSet)
            }
        }
        Some(param) => Ok(Some(PinUvAuth {
            protocol: self::protocol(auth, protocol)?,
            param,
        })),
    }
}

/// Whether tokens follow CTAP 2.0 rules (a profile without FIDO_2_1 / FIDO_2_1_PRE): a
/// pinToken from getPinToken authorizes makeCredential and getAssertion for any relying party,
/// as often as the platform likes while it lives (CTAP 2.0 §5.5.8 "pinToken"); it has no
/// permissions RP ID and is not consumed by a ceremony.
pub fn ctap20_tokens(auth: &Authenticator) -> bool {
    auth.profile.is_ctap20_only()
}

/// User presence for makeCredential and getAssertion (§6.1.2 step 14, §6.2.2 step 9): a token
/// in use (`with_token`) that carries presence stands for the tap, otherwise the user is asked.
/// Then the token is consumed (step 14.4 / 9.4: its presence, verification and permissions but
/// lbw), under CTAP 2.1 rules; a CTAP 2.0 pinToken stays.
pub fn collect_presence(auth: &mut Authenticator, with_token: bool) -> CtapResult<()> {
    let cached = with_token && auth.client_pin.token.user_present();
    if !cached {
        auth.check_user_presence()?;
    }
    if with_token && !ctap20_tokens(auth) {
        auth.client_pin.token.consume_after_presence();
    }
    Ok(())
}

/// Checks a makeCredential / getAssertion `pinUvAuthParam` against the token in use
/// (§6.1.2 step 11, §6.2.2 step 6): the MAC over `clientDataHash`, the `permission`, the
/// permissions RP ID (bound to `rp_id` if the token had none) and the userVerified flag. Every
/// failure is CTAP2_ERR_PIN_AUTH_INVALID. Under CTAP 2.0 rules ([`ctap20_tokens`]) the token is
/// not bound to an RP ID. Answers whether the user was verified: `false` without a
/// pinUvAuthParam.
pub fn verify_token_for(
    auth: &mut Authenticator,
    pin_uv: Option<PinUvAuth<'_>>,
    client_data_hash: &[u8],
    permission: u8,
    rp_id: &str,
) -> CtapResult<bool> {
    let Some(PinUvAuth { protocol, param }) = pin_uv else {
        return Ok(false);
    };
    let now = auth.platform.clock.now_ms();
    let ctap20 = ctap20_tokens(auth);
    let token = &mut auth.client_pin.token;
    token.observe(now);
    if !token.verify(protocol, client_data_hash, param) {
        return Err(CtapError::PinAuthInvalid);
    }
    if !token.has_permission(permission) {
        return Err(CtapError::PinAuthInvalid);
    }
    if !token.user_verified() {
        return Err(CtapError::PinAuthInvalid);
    }
    if !ctap20 && !token.bind_or_match_rp_id(rp_id) {
        return Err(CtapError::PinAuthInvalid);
    }
    Ok(true)
}

/// Whether the card is protected by user verification: a PIN is set, or alwaysUv asks for
/// verification on everything. authenticatorLargeBlobs writes (§6.10.2) and authenticatorConfig
/// (§6.11) need a pinUvAuthToken exactly then.
pub fn uv_protected(auth: &Authenticator) -> bool {
    let pin = &auth.store.get().pin;
    pin.is_set() || pin.always_uv
}

/// The pinUvAuthParam check of the management commands (authenticatorCredentialManagement
/// §6.8.2-§6.8.6, authenticatorLargeBlobs §6.10.2, authenticatorConfig §6.11): a pinUvAuthParam
/// is required (CTAP2_ERR_PUAT_REQUIRED), its protocol must be named
/// (CTAP2_ERR_MISSING_PARAMETER) and offered (CTAP1_ERR_INVALID_PARAMETER), and it must be
/// `authenticate(pinUvAuthToken, message)` under the token in use, which must hold
/// `permission` (CTAP2_ERR_PIN_AUTH_INVALID otherwise). The permissions RP ID is left to the
/// caller: each command has its own rule for RP-bound tokens.
pub fn verify_token_for_command(
    auth: &mut Authenticator,
    protocol_number: Option<u64>,
    param: Option<&[u8]>,
    message: &[u8],
    permission: u8,
) -> CtapResult<()> {
    let param = param.ok_or(CtapError::PuatRequired)?;
    let protocol = protocol(auth, protocol_number)?;
    let now = auth.platform.clock.now_ms();
    let token = &mut auth.client_pin.token;
    token.observe(now);
    if !token.verify(protocol, message, param) || !token.has_permission(permission) {
        return Err(CtapError::PinAuthInvalid);
    }
    Ok(())
}

/// [`verify_token_for_command`] for the subcommand-style commands, over
/// `prefix ‖ uint8(subCommand) ‖ subCommandParams`: authenticatorCredentialManagement signs with
/// no prefix (§6.8), authenticatorConfig with 32×0xFF ‖ 0x0D (§6.11 step 4.2). A subcommand
/// number past a byte is one neither command has (CTAP2_ERR_INVALID_SUBCOMMAND).
pub fn verify_subcommand_token<P>(
    auth: &mut Authenticator,
    req: &SubcommandRequest<P>,
    prefix: &[u8],
    permission: u8,
) -> CtapResult<()> {
    let mut message = prefix.to_vec();
    message.push(u8::try_from(req.sub_command).map_err(|_| CtapError::InvalidSubcommand)?);
    if let Some(params) = &req.params_cbor {
        message.extend_from_slice(params);
    }
    verify_token_for_command(
        auth,
        req.pin_uv_auth_protocol,
        req.pin_uv_auth_param.as_deref(),
        &message,
        permission,
    )
}

/// Every permission this build can grant: mc and ga, cm (authenticatorCredentialManagement and
/// its prototype), lbw (authenticatorLargeBlobs) and acfg (authenticatorConfig). be is absent:
/// a card has no fingerprint sensor, so no authenticatorBioEnrollment.
pub const SUPPORTED_PERMISSIONS: u8 = permission::MAKE_CREDENTIAL
    | permission::GET_ASSERTION
    | permission::CREDENTIAL_MANAGEMENT
    | permission::LARGE_BLOB_WRITE
    | permission::AUTHENTICATOR_CONFIG;

/// The permissions this card grants: mc and ga always; cm, lbw and acfg only when the profile
/// enables the command they authorize (§6.5.5.7.2: cm without credMgmt, lbw without
/// largeBlobs, acfg without authnrCfg, be without bioEnroll are
/// CTAP2_ERR_UNAUTHORIZED_PERMISSION).
pub fn supported_permissions(auth: &Authenticator) -> u8 {
    use ctap_types::command as cmd;
    let p = &auth.profile;
    let mut bits = permission::MAKE_CREDENTIAL | permission::GET_ASSERTION;
    if p.enables_command(cmd::CREDENTIAL_MANAGEMENT)
        || p.enables_command(cmd::CREDENTIAL_MANAGEMENT_PREVIEW)
    {
        bits |= permission::CREDENTIAL_MANAGEMENT;
    }
    if p.enables_command(cmd::LARGE_BLOBS) {
        bits |= permission::LARGE_BLOB_WRITE;
    }
    if p.enables_command(cmd::CONFIG) {
        bits |= permission::AUTHENTICATOR_CONFIG;
    }
    bits & SUPPORTED_PERMISSIONS
}

/// The protocols this card offers (getInfo `pinUvAuthProtocols`, from the profile), in order
/// of preference.
pub fn offered_protocols(auth: &Authenticator) -> Vec<PinProtocol> {
    auth.profile.pin_uv_auth_protocols.clone()
}

/// The protocol a request names: absent is CTAP2_ERR_MISSING_PARAMETER, one this card does not
/// offer CTAP1_ERR_INVALID_PARAMETER (§6.5.5.1, §6.1.2 step 2.2, §6.2.2 step 2.2).
pub fn protocol(auth: &Authenticator, number: Option<u64>) -> CtapResult<PinProtocol> {
    let number = number.ok_or(CtapError::MissingParameter)?;
    PinProtocol::from_number(number)
        .filter(|p| offered_protocols(auth).contains(p))
        .ok_or(CtapError::InvalidParameter)
}
