//! authenticatorGetInfo (CTAP 2.1 §6.4): what this card is and can do.
//!
//! Everything listed here is something the card really implements: platforms decide what to send
//! from this answer, so claiming an option or extension that is not implemented breaks them (a
//! `clientPin` key makes python-fido2 and Windows start PIN flows). Values the profile declares
//! but this build cannot do yet (U2F_V2, extensions) are filtered out.

use super::cbor::Value;
use super::client_pin;
use super::error::CtapResult;
use super::types::PUBLIC_KEY;
use super::{Authenticator, ES256, to_usize, uint};
use crate::extensions::cred_blob;

/// Extensions this build implements (CTAP 2.1 §12).
pub const SUPPORTED_EXTENSIONS: &[&str] = crate::extensions::SUPPORTED;

/// CTAP2 versions this build implements; U2F_V2 joins when the U2F binding exists.
pub const SUPPORTED_VERSIONS: &[&str] = &["FIDO_2_0", "FIDO_2_1_PRE", "FIDO_2_1"];

/// The response map keys of §6.4.
mod key {
    pub const VERSIONS: u64 = 0x01;
    pub const EXTENSIONS: u64 = 0x02;
    pub const AAGUID: u64 = 0x03;
    pub const OPTIONS: u64 = 0x04;
    pub const MAX_MSG_SIZE: u64 = 0x05;
    pub const PIN_UV_AUTH_PROTOCOLS: u64 = 0x06;
    pub const MAX_CREDENTIAL_COUNT_IN_LIST: u64 = 0x07;
    pub const MAX_CREDENTIAL_ID_LENGTH: u64 = 0x08;
    pub const TRANSPORTS: u64 = 0x09;
    pub const ALGORITHMS: u64 = 0x0A;
    pub const FORCE_PIN_CHANGE: u64 = 0x0C;
    pub const MIN_PIN_LENGTH: u64 = 0x0D;
    pub const FIRMWARE_VERSION: u64 = 0x0E;
    pub const MAX_CRED_BLOB_LENGTH: u64 = 0x0F;
    pub const REMAINING_DISCOVERABLE_CREDENTIALS: u64 = 0x14;
}

/// Builds the getInfo response.
pub fn process(auth: &Authenticator) -> CtapResult<Value> {
    let profile = &auth.profile;
    let versions: Vec<Value> = profile
        .versions
        .iter()
        .filter(|v| SUPPORTED_VERSIONS.contains(&v.as_str()))
        .map(|v| Value::text(v.as_str()))
        .collect();
    let extensions: Vec<Value> = profile
        .extensions
        .iter()
        .filter(|e| SUPPORTED_EXTENSIONS.contains(&e.as_str()))
        .map(|e| Value::text(e.as_str()))
        .collect();
    let transports: Vec<Value> = if profile.transports.is_empty() {
        vec![Value::text("nfc")]
    } else {
        profile
            .transports
            .iter()
            .map(|t| Value::text(t.as_str()))
            .collect()
    };
    let pin = &auth.state().pin;
    // rk: discoverable credentials; up: presence by tap; plat: a roaming card. clientPin: a PIN
    // can be set (true once it is); pinUvAuthToken: tokens with permissions (§6.5.5.7);
    // makeCredUvNotRqd: a non-discoverable credential needs no PIN (§6.1.2 step 7). No "uv":
    // a card has no built-in user verification.
    let mut options = vec![
        (Value::text("rk"), Value::Bool(true)),
        (Value::text("up"), Value::Bool(true)),
        (Value::text("plat"), Value::Bool(false)),
        (Value::text("clientPin"), Value::Bool(pin.is_set())),
        (Value::text("pinUvAuthToken"), Value::Bool(true)),
        (Value::text("makeCredUvNotRqd"), Value::Bool(!pin.always_uv)),
    ];
    if pin.always_uv {
        options.push((Value::text("alwaysUv"), Value::Bool(true)));
    }
    let protocols: Vec<Value> = client_pin::offered_protocols(auth)
        .into_iter()
        .map(|p| Value::Unsigned(u64::from(p.number())))
        .collect();
    let used = auth.state().resident.len();
    let remaining = to_usize(profile.max_resident_credentials).saturating_sub(used);

    let int = |k: u64| Value::Unsigned(k);
    let mut map = vec![(int(key::VERSIONS), Value::Array(versions))];
    if !extensions.is_empty() {
        map.push((int(key::EXTENSIONS), Value::Array(extensions)));
    }
    map.extend([
        (int(key::AAGUID), Value::bytes(profile.aaguid.to_vec())),
        (int(key::OPTIONS), Value::Map(options)),
        (int(key::MAX_MSG_SIZE), uint(profile.max_msg_size)),
        (int(key::PIN_UV_AUTH_PROTOCOLS), Value::Array(protocols)),
        (
            int(key::MAX_CREDENTIAL_COUNT_IN_LIST),
            uint(profile.max_credential_count_in_list),
        ),
        (
            int(key::MAX_CREDENTIAL_ID_LENGTH),
            uint(profile.max_credential_id_length),
        ),
        (int(key::TRANSPORTS), Value::Array(transports)),
        (
            int(key::ALGORITHMS),
            Value::Array(vec![Value::Map(vec![
                (Value::text("alg"), Value::int(ES256 as i64)),
                (Value::text("type"), Value::text(PUBLIC_KEY)),
            ])]),
        ),
        (
            int(key::FORCE_PIN_CHANGE),
            Value::Bool(pin.force_pin_change),
        ),
        (
            int(key::MIN_PIN_LENGTH),
            uint(client_pin::min_pin_length(auth)),
        ),
        (int(key::FIRMWARE_VERSION), uint(profile.firmware_version)),
        (
            int(key::REMAINING_DISCOVERABLE_CREDENTIALS),
            uint(remaining),
        ),
    ]);
    if auth.extension_enabled(cred_blob::ID) {
        map.push((
            int(key::MAX_CRED_BLOB_LENGTH),
            uint(cred_blob::MAX_CRED_BLOB_LENGTH),
        ));
    }
    Ok(Value::Map(map))
}
