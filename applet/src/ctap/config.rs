//! authenticatorConfig (CTAP 2.1 §6.11, command 0x0D): the owner's settings.
//!
//! | subcommand | § | effect (persistent, visible in getInfo) |
//! |---|---|---|
//! | 0x01 enableEnterpriseAttestation | 6.11.1, 7.1 | option `ep` becomes true |
//! | 0x02 toggleAlwaysUv | 6.11.2 | option `alwaysUv` flips |
//! | 0x03 setMinPINLength | 6.11.4 | `minPINLength` rises, `forcePINChange`, the minPinLength RP IDs |
//! | 0xFF vendorPrototype | 6.11.3 | not implemented: CTAP2_ERR_INVALID_SUBCOMMAND |
//!
//! **Authorization** (§6.11 steps 3-4). When the card is protected by user verification (a PIN
//! is set, or alwaysUv is on) the request needs a pinUvAuthToken with the acfg permission, and
//! `pinUvAuthParam = authenticate(token, 32×0xFF ‖ 0x0D ‖ uint8(subCommand) ‖ subCommandParams)`.
//! A card without a PIN and with alwaysUv off accepts authenticatorConfig as is: there is
//! nobody to verify yet. With alwaysUv on, every subcommand — toggleAlwaysUv too — needs a token
//! even before a PIN is set (CTAP2_ERR_PUAT_REQUIRED): the owner sets a PIN first (clientPIN
//! setPIN is never gated by alwaysUv), then switches alwaysUv off with an acfg token.
//!
//! **Enterprise attestation capability** (CTAP 2.1 §7.1) is the profile's `ep` option; it needs
//! authenticatorConfig, since enableEnterpriseAttestation is the only way to switch it on.

use super::client_pin;
use super::pin_uv_auth;
use super::types::SubcommandRequest;
use super::{Authenticator, to_usize};
use crate::state::State;
use crate::state::pin::MIN_PIN_LENGTH;
use ctap_types::cbor::IntMap;
use ctap_types::command;
use ctap_types::permission;
use ctap_types::{CtapError, CtapResult};

/// Subcommand numbers (CTAP 2.1 §6.11).
use ctap_types::params::config::subcommand;

/// setMinPINLength's `subCommandParams` keys (§6.11.4).
use ctap_types::params::config::param;

/// The message prefix of the pinUvAuthParam (§6.11 step 4.2): 32 bytes 0xFF, then the command
/// byte 0x0D.
const AUTH_PREFIX_LEN: usize = 32;

/// The longest minimum PIN length that can be set: a PIN is at most 63 bytes (§6.5.1), so no PIN
/// could satisfy a higher minimum.
pub const MAX_MIN_PIN_LENGTH: u64 = 63;

/// setMinPINLength's parameters, decoded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SetMinPinLength {
    /// 0x01 newMinPINLength.
    pub new_min_pin_length: Option<u64>,
    /// 0x02 minPinLengthRPIDs.
    pub rp_ids: Option<Vec<String>>,
    /// 0x03 forceChangePin.
    pub force_change_pin: Option<bool>,
}

/// A decoded authenticatorConfig request: setMinPINLength's parameters (empty for the other
/// subcommands) in `params`.
pub type ConfigRequest = SubcommandRequest<SetMinPinLength>;

impl SetMinPinLength {
    /// Reads setMinPINLength's `subCommandParams` (§6.11.4; wrong types:
    /// CTAP2_ERR_CBOR_UNEXPECTED_TYPE); the other subcommands take none.
    fn read(sub_command: u64, params: Option<&IntMap<'_>>) -> CtapResult<Self> {
        let Some(p) = params.filter(|_| sub_command == subcommand::SET_MIN_PIN_LENGTH) else {
            return Ok(Self::default());
        };
        Ok(Self {
            new_min_pin_length: p.opt_unsigned(param::NEW_MIN_PIN_LENGTH)?,
            rp_ids: p.opt_text_list(param::MIN_PIN_LENGTH_RP_IDS)?,
            force_change_pin: p.opt_bool(param::FORCE_CHANGE_PIN)?,
        })
    }
}

/// makeCredential `enterpriseAttestation` 1: vendor-facilitated (CTAP 2.1 §7.1.1).
pub const EA_VENDOR_FACILITATED: u64 = 1;
/// makeCredential `enterpriseAttestation` 2: platform-managed (CTAP 2.1 §7.1.2).
pub const EA_PLATFORM_MANAGED: u64 = 2;

/// The RP IDs a vendor-facilitated enterprise attestation (§7.1.1) is given to are profile
/// data: [`crate::profile::Profile::enterprise_attestation_rp_ids`], the list a vendor burns
/// into the authenticator. An RP outside it gets regular attestation.
///
/// What an enterprise attestation contains: the same "packed" statement and batch chain as a
/// regular one, with `epAtt: true`. That chain already identifies the individual card — every
/// virtual card mints its own root and batch certificate (`attestation.rs`) — which is exactly
/// the property §7.1 reserves for enterprise attestation.
pub fn vendor_facilitated_for(auth: &Authenticator, rp_id: &str) -> bool {
    auth.profile
        .enterprise_attestation_rp_ids
        .iter()
        .any(|id| id == rp_id)
}

/// Whether this card model can do enterprise attestation (see the module documentation).
pub fn ep_capable(auth: &Authenticator) -> bool {
    auth.profile.ep_capable()
}

/// Runs authenticatorConfig.
pub fn process(auth: &mut Authenticator, params: &[u8]) -> CtapResult<()> {
    let req = ConfigRequest::decode(params, SetMinPinLength::read)?;
    let supported = match req.sub_command {
        subcommand::ENABLE_ENTERPRISE_ATTESTATION | subcommand::TOGGLE_ALWAYS_UV => true,
        subcommand::SET_MIN_PIN_LENGTH => auth.profile.options.set_min_pin_length,
        _ => false,
    };
    if !supported {
        return Err(CtapError::InvalidSubcommand);
    }
    // §6.11 steps on pinUvAuthParam: when the card "is protected by some form of user
    // verification or the alwaysUv option ID is present and true", every subcommand needs
    // one (CTAP2_ERR_PUAT_REQUIRED when absent) — toggleAlwaysUv included. With alwaysUv on
    // and no PIN the way out is setPIN, then a token with the acfg permission.
    if pin_uv_auth::uv_protected(auth) {
        let mut prefix = vec![0xFF; AUTH_PREFIX_LEN];
        prefix.push(command::CONFIG);
        pin_uv_auth::verify_subcommand_token(
            auth,
            &req,
            &prefix,
            permission::AUTHENTICATOR_CONFIG,
        )?;
    }
    match req.sub_command {
        subcommand::ENABLE_ENTERPRISE_ATTESTATION => enable_enterprise_attestation(auth),
        subcommand::TOGGLE_ALWAYS_UV => auth.store.transaction(|state: &mut State| {
            state.pin.always_uv = !state.pin.always_uv;
            Ok::<(), CtapError>(())
        }),
        _ => set_min_pin_length(auth, &req.params),
    }
}

/// enableEnterpriseAttestation (§6.11.1): CTAP1_ERR_INVALID_PARAMETER on a card that is not
/// enterprise-attestation capable; enabling it twice is fine.
fn enable_enterprise_attestation(auth: &mut Authenticator) -> CtapResult<()> {
    if !ep_capable(auth) {
        return Err(CtapError::InvalidParameter);
    }
    auth.store.transaction(|state: &mut State| {
        state.enterprise_attestation = true;
        Ok::<(), CtapError>(())
    })
}

/// setMinPINLength (§6.11.4).
///
/// - `newMinPINLength` absent keeps the current minimum; a lower one is
///   CTAP2_ERR_PIN_POLICY_VIOLATION (the minimum never decreases, short of
///   authenticatorReset), and so is one above 63 (no PIN could meet it).
/// - `minPinLengthRPIDs` replaces the list of RPs the minPinLength extension answers; more than
///   the profile's `maxRPIDsForSetMinPINLength` is CTAP2_ERR_KEY_STORE_FULL.
/// - `forceChangePin` without a PIN is CTAP2_ERR_PIN_NOT_SET. A current PIN shorter than the
///   new minimum forces a change as well.
///
/// Everything is checked before anything is written, and written in one transaction.
fn set_min_pin_length(auth: &mut Authenticator, req: &SetMinPinLength) -> CtapResult<()> {
    let current = client_pin::min_pin_length(auth);
    let new = req.new_min_pin_length.unwrap_or(u64::from(current));
    if new < u64::from(current) || new > MAX_MIN_PIN_LENGTH {
        return Err(CtapError::PinPolicyViolation);
    }
    // At most 63: fits a byte.
    let new = u8::try_from(new).map_err(|_| CtapError::PinPolicyViolation)?;
    // §6.11.4: a minPinLengthRPIDs list longer than the card can hold
    // (maxRPIDsForSetMinPINLength) is CTAP2_ERR_KEY_STORE_FULL.
    if let Some(ids) = &req.rp_ids {
        if ids.len() > to_usize(auth.profile.max_rp_ids_for_set_min_pin_length) {
            return Err(CtapError::KeyStoreFull);
        }
    }
    let pin = &auth.state().pin;
    let force = req.force_change_pin.unwrap_or(false);
    if force && !pin.is_set() {
        return Err(CtapError::PinNotSet);
    }
    let force = force || (pin.is_set() && pin.pin_code_points < new);
    let rp_ids = req.rp_ids.clone();
    auth.store.transaction(|state: &mut State| {
        state.pin.min_pin_length = new.max(MIN_PIN_LENGTH);
        if force {
            state.pin.force_pin_change = true;
        }
        if let Some(ids) = rp_ids {
            state.pin.min_pin_length_rp_ids = ids;
        }
        Ok::<(), CtapError>(())
    })
}
