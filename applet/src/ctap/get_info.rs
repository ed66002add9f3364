//! authenticatorGetInfo (CTAP 2.1 §6.4): what this card is and can do.
//!
//! Everything listed here is something the card really implements: platforms decide what to send
//! from this answer, so claiming an option or extension that is not implemented breaks them (a
//! `clientPin` key makes python-fido2 and Windows start PIN flows). Which keys and options
//! appear is the profile's call ([`crate::profile::Profile::declares_info_key`],
//! [`crate::profile::Profile::declared_options`]); the values that change with the card's state
//! come from here:
//!
//! - `versions` gains "U2F_V2" on a U2F card, unless alwaysUv is on (CTAP 2.1 §6.11.2: with
//!   alwaysUv the card refuses CTAP1/U2F, which cannot verify the user);
//! - options `clientPin` (a PIN is set), `alwaysUv` (authenticatorConfig toggles it; then
//!   `makeCredUvNotRqd` is false, §6.4), `ep` (enterprise attestation capable: present, and true
//!   once enableEnterpriseAttestation ran, §7.1);
//! - `forcePINChange`, `minPINLength` (authenticatorConfig setMinPINLength, §6.11.4),
//!   `remainingDiscoverableCredentials`.

use super::cbor::Value;
use super::client_pin;
use super::config;
use super::error::CtapResult;
use super::types::PUBLIC_KEY;
use super::{Authenticator, to_usize, uint};
use crate::profile::info_key as key;

/// Extensions this build implements (CTAP 2.1 §12).
pub const SUPPORTED_EXTENSIONS: &[&str] = crate::extensions::SUPPORTED;

/// Versions this build implements.
pub const SUPPORTED_VERSIONS: &[&str] = crate::profile::KNOWN_VERSIONS;

/// Whether CTAP1/U2F is available now: the profile has it and alwaysUv is off (§6.11.2).
pub fn u2f_enabled(auth: &Authenticator) -> bool {
    auth.profile.u2f && !auth.state().pin.always_uv
}

/// Builds the getInfo response.
pub fn process(auth: &Authenticator) -> CtapResult<Value> {
    let profile = &auth.profile;
    let u2f = u2f_enabled(auth);
    let versions: Vec<Value> = profile
        .versions
        .iter()
        .filter(|v| SUPPORTED_VERSIONS.contains(&v.as_str()))
        .filter(|v| u2f || v.as_str() != "U2F_V2")
        .map(|v| Value::text(v.as_str()))
        .collect();
    let extensions: Vec<Value> = profile
        .extensions
        .iter()
        .filter(|e| SUPPORTED_EXTENSIONS.contains(&e.as_str()))
        .map(|e| Value::text(e.as_str()))
        .collect();
    let transports: Vec<Value> = profile
        .transports
        .iter()
        .map(|t| Value::text(t.as_str()))
        .collect();
    let algorithms: Vec<Value> = profile
        .algorithms
        .iter()
        .map(|&alg| {
            Value::Map(vec![
                (Value::text("alg"), Value::int(alg)),
                (Value::text("type"), Value::text(PUBLIC_KEY)),
            ])
        })
        .collect();
    let pin = &auth.state().pin;
    let mut options: Vec<(Value, Value)> = profile
        .declared_options(pin.is_set(), pin.always_uv)
        .into_iter()
        .map(|(name, on)| {
            // §6.4: with alwaysUv on, makeCredUvNotRqd MUST be false.
            let on = on && !(name == "makeCredUvNotRqd" && pin.always_uv);
            (Value::text(name), Value::Bool(on))
        })
        .collect();
    if config::ep_capable(auth) {
        options.push((
            Value::text("ep"),
            Value::Bool(auth.state().enterprise_attestation),
        ));
    }
    let protocols: Vec<Value> = client_pin::offered_protocols(auth)
        .into_iter()
        .map(|p| Value::Unsigned(u64::from(p.number())))
        .collect();
    let used = auth.state().resident.len();
    let remaining = to_usize(profile.max_resident_credentials).saturating_sub(used);
    let certifications: Vec<(Value, Value)> = profile
        .certifications
        .iter()
        .map(|(name, level)| (Value::text(name.as_str()), Value::Unsigned(*level)))
        .collect();

    let mut map = Vec::new();
    for k in profile.info_keys() {
        let value = match k {
            key::VERSIONS => Value::Array(versions.clone()),
            key::EXTENSIONS => Value::Array(extensions.clone()),
            key::AAGUID => Value::bytes(profile.aaguid.to_vec()),
            key::OPTIONS => Value::Map(options.clone()),
            key::MAX_MSG_SIZE => uint(profile.max_msg_size),
            key::PIN_UV_AUTH_PROTOCOLS => Value::Array(protocols.clone()),
            key::MAX_CREDENTIAL_COUNT_IN_LIST => uint(profile.max_credential_count_in_list),
            key::MAX_CREDENTIAL_ID_LENGTH => uint(profile.max_credential_id_length),
            key::TRANSPORTS => Value::Array(transports.clone()),
            key::ALGORITHMS => Value::Array(algorithms.clone()),
            key::MAX_SERIALIZED_LARGE_BLOB_ARRAY => uint(profile.large_blob_size),
            key::FORCE_PIN_CHANGE => Value::Bool(pin.force_pin_change),
            key::MIN_PIN_LENGTH => uint(client_pin::min_pin_length(auth)),
            key::FIRMWARE_VERSION => uint(profile.firmware_version),
            key::MAX_CRED_BLOB_LENGTH => uint(profile.max_cred_blob_length),
            key::MAX_RPIDS_FOR_SET_MIN_PIN_LENGTH => {
                uint(profile.max_rp_ids_for_set_min_pin_length)
            }
            key::CERTIFICATIONS => Value::Map(certifications.clone()),
            key::REMAINING_DISCOVERABLE_CREDENTIALS => uint(remaining),
            // Keys this build has no value for (built-in UV only) are never declared.
            _ => continue,
        };
        map.push((Value::Unsigned(u64::from(k)), value));
    }
    Ok(Value::Map(map))
}
