//! authenticatorGetInfo (CTAP 2.1 §6.4): what this card is and can do.
//!
//! Everything listed here is something the card really implements: platforms decide what to send
//! from this answer, so claiming an option or extension that is not implemented breaks them (a
//! `clientPin` key makes python-fido2 and Windows start PIN flows). The answer is one typed
//! [`AuthenticatorInfo`], built by [`authenticator_info`] from the profile and the card's state,
//! and rendered with [`AuthenticatorInfo::to_value`]; the reader bridge's MDS3 metadata statement
//! is rendered from the same struct for a fresh card ([`CardState::fresh`]), so the two cannot
//! disagree.
//!
//! Which keys and options appear is the profile's call ([`Profile::declares_info_key`],
//! [`Profile::declared_options`]); the values that change with the card's state are:
//!
//! - `versions` gains "U2F_V2" on a U2F card, unless alwaysUv is on (CTAP 2.1 §6.11.2: with
//!   alwaysUv the card refuses CTAP1/U2F, which cannot verify the user);
//! - options `clientPin` (a PIN is set), `alwaysUv` (authenticatorConfig toggles it; then
//!   `makeCredUvNotRqd` is false, §6.4), `ep` (enterprise attestation capable: present, and true
//!   once enableEnterpriseAttestation ran, §7.1);
//! - `forcePINChange`, `minPINLength` (authenticatorConfig setMinPINLength, §6.11.4),
//!   `remainingDiscoverableCredentials`.

use std::collections::BTreeMap;

use ctap_types::info::Algorithm as InfoAlgorithm;
use ctap_types::params::get_info as key;
use ctap_types::{AuthenticatorInfo, OptionId, Version};

use super::Authenticator;
use super::client_pin;
use crate::profile::Profile;
use ctap_types::CtapResult;
use ctap_types::cbor::Value;

/// The card state getInfo reports; everything else comes from the profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CardState {
    /// A PIN is set (option `clientPin: true`).
    pub pin_set: bool,
    /// alwaysUv is on (§6.11.2).
    pub always_uv: bool,
    /// `forcePINChange` (§6.5.5.7).
    pub force_pin_change: bool,
    /// The minimum PIN length in force (`minPINLength`).
    pub min_pin_length: u8,
    /// enableEnterpriseAttestation ran (option `ep: true`, §7.1).
    pub enterprise_attestation: bool,
    /// Discoverable credentials stored (`remainingDiscoverableCredentials` counts them off).
    pub resident_credentials: usize,
}

impl CardState {
    /// A new card of `profile`, as it leaves the factory or after authenticatorReset: no PIN,
    /// alwaysUv at the profile's value, no enterprise attestation, no credentials.
    pub fn fresh(profile: &Profile) -> Self {
        Self {
            pin_set: false,
            always_uv: profile.options.always_uv,
            force_pin_change: false,
            min_pin_length: client_pin::min_pin_length_in_force(
                profile,
                crate::state::pin::MIN_PIN_LENGTH,
            ),
            enterprise_attestation: false,
            resident_credentials: 0,
        }
    }

    /// The state of `auth`'s card now.
    fn of(auth: &Authenticator) -> Self {
        let state = auth.state();
        Self {
            pin_set: state.pin.is_set(),
            always_uv: state.pin.always_uv,
            force_pin_change: state.pin.force_pin_change,
            min_pin_length: client_pin::min_pin_length(auth),
            enterprise_attestation: state.enterprise_attestation,
            resident_credentials: state.resident.len(),
        }
    }
}

/// Whether CTAP1/U2F is available now: the profile has it and alwaysUv is off (§6.11.2).
pub fn u2f_enabled(auth: &Authenticator) -> bool {
    auth.profile.u2f() && !auth.state().pin.always_uv
}

/// What a card of `profile` in `state` answers to getInfo.
pub fn authenticator_info(profile: &Profile, state: &CardState) -> AuthenticatorInfo {
    let u2f = profile.u2f() && !state.always_uv;
    let declared = |k: u8| profile.declares_info_key(k);
    let when = |k: u8, value: u64| declared(k).then_some(value);
    let mut options: BTreeMap<String, bool> = profile
        .declared_options(state.pin_set, state.always_uv)
        .into_iter()
        // §6.4: with alwaysUv on, makeCredUvNotRqd MUST be false.
        .map(|(name, on)| {
            let on = on && !(name == OptionId::MakeCredUvNotRqd && state.always_uv);
            (name.as_str().to_owned(), on)
        })
        .collect();
    if profile.ep_capable() {
        options.insert(
            OptionId::Ep.as_str().to_owned(),
            state.enterprise_attestation,
        );
    }
    let remaining = profile
        .max_resident_credentials
        .saturating_sub(state.resident_credentials);
    let as_u64 = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
    AuthenticatorInfo {
        versions: profile
            .versions
            .iter()
            .filter(|&&v| u2f || v != Version::U2fV2)
            .map(|v| v.as_str().to_owned())
            .collect(),
        extensions: listed(declared(key::EXTENSIONS), &profile.extensions, |e| {
            e.as_str().to_owned()
        }),
        aaguid: *profile.aaguid.as_bytes(),
        options: declared(key::OPTIONS).then_some(options),
        max_msg_size: when(key::MAX_MSG_SIZE, as_u64(profile.max_msg_size)),
        pin_uv_auth_protocols: listed(
            declared(key::PIN_UV_AUTH_PROTOCOLS),
            &profile.pin_uv_auth_protocols,
            |p| u64::from(p.number()),
        ),
        max_credential_count_in_list: when(
            key::MAX_CREDENTIAL_COUNT_IN_LIST,
            as_u64(profile.max_credential_count_in_list),
        ),
        max_credential_id_length: when(
            key::MAX_CREDENTIAL_ID_LENGTH,
            as_u64(profile.max_credential_id_length),
        ),
        transports: listed(declared(key::TRANSPORTS), &profile.transports, |t| {
            t.as_str().to_owned()
        }),
        algorithms: listed(declared(key::ALGORITHMS), &profile.algorithms, |a| {
            InfoAlgorithm::public_key(a.cose_id())
        }),
        max_serialized_large_blob_array: when(
            key::MAX_SERIALIZED_LARGE_BLOB_ARRAY,
            as_u64(profile.large_blob_size),
        ),
        force_pin_change: declared(key::FORCE_PIN_CHANGE).then_some(state.force_pin_change),
        min_pin_length: when(key::MIN_PIN_LENGTH, u64::from(state.min_pin_length)),
        firmware_version: when(key::FIRMWARE_VERSION, profile.firmware_version),
        max_cred_blob_length: when(
            key::MAX_CRED_BLOB_LENGTH,
            as_u64(profile.max_cred_blob_length),
        ),
        max_rpids_for_set_min_pin_length: when(
            key::MAX_RPIDS_FOR_SET_MIN_PIN_LENGTH,
            as_u64(profile.max_rp_ids_for_set_min_pin_length),
        ),
        // Built-in user verification only: never declared by a card profile.
        preferred_platform_uv_attempts: None,
        uv_modality: None,
        certifications: declared(key::CERTIFICATIONS).then(|| profile.certifications.clone()),
        remaining_discoverable_credentials: when(
            key::REMAINING_DISCOVERABLE_CREDENTIALS,
            as_u64(remaining),
        ),
        vendor_prototype_config_commands: None,
    }
}

/// A list member of getInfo: when `declared`, each of the profile's `items` in its getInfo form.
fn listed<T, U>(declared: bool, items: &[T], form: impl Fn(&T) -> U) -> Option<Vec<U>> {
    declared.then(|| items.iter().map(form).collect())
}

/// Builds the getInfo response.
pub fn process(auth: &Authenticator) -> CtapResult<Value> {
    Ok(authenticator_info(&auth.profile, &CardState::of(auth)).to_value())
}
