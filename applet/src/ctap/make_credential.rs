//! authenticatorMakeCredential (CTAP 2.1 §6.1): create a credential and attest to it.
//!
//! The steps follow §6.1.2 in order, because the order decides which error a malformed or
//! unsatisfiable request gets: parameter decoding, pinUvAuthParam (steps 1-2), pubKeyCredParams
//! (step 3), options (step 5), alwaysUv and makeCredUvNotRqd (steps 6-8), enterpriseAttestation
//! (step 9), the pinUvAuthParam check (step 11), excludeList (step 12), user presence (step 14),
//! extensions (step 15), then key generation (step 16), storage (step 17) and attestation
//! (step 19).

use super::auth_data::{self, AttestedCredential, FLAG_UP, FLAG_UV};
use super::client_pin;
use super::config;
use super::pin_uv_auth;
use super::types::{
    CredentialDescriptor, CredentialParameters, MAX_STORED_NAME_LEN, Options, RpEntity, UserEntity,
    decode_extensions, truncate_utf8,
};
use super::{Authenticator, to_usize};
use crate::attestation::AttestationMaterial;
use crate::crypto::{self, Algorithm, CredentialKey, Signer, WrappedCredential};
use crate::extensions::{
    MakeCredentialExtensions, Outputs, cred_blob, cred_protect, large_blob_key, min_pin_length,
};
use crate::profile::AttestationType;
use crate::state::{ResidentCredential, State};
use ctap_types::ExtensionId;
use ctap_types::cbor::{IntMap, Value};
use ctap_types::params::make_credential::request as param;
use ctap_types::permission;
use ctap_types::vocab::PUBLIC_KEY;
use ctap_types::{CtapError, CtapResult};

/// A decoded authenticatorMakeCredential request (§6.1 parameter table).
#[derive(Clone, Debug, PartialEq)]
pub struct MakeCredentialRequest {
    /// 0x01 clientDataHash.
    pub client_data_hash: Vec<u8>,
    /// 0x02 rp.
    pub rp: RpEntity,
    /// 0x03 user.
    pub user: UserEntity,
    /// 0x04 pubKeyCredParams, in the platform's order of preference.
    pub pub_key_cred_params: Vec<CredentialParameters>,
    /// 0x05 excludeList.
    pub exclude_list: Vec<CredentialDescriptor>,
    /// 0x06 extensions (identifier, input); see [`crate::extensions`].
    pub extensions: Vec<(String, Value)>,
    /// 0x07 options.
    pub options: Options,
    /// 0x08 pinUvAuthParam.
    pub pin_uv_auth_param: Option<Vec<u8>>,
    /// 0x09 pinUvAuthProtocol.
    pub pin_uv_auth_protocol: Option<u64>,
    /// 0x0A enterpriseAttestation.
    pub enterprise_attestation: Option<u64>,
    /// 0x0B attestationFormatsPreference (CTAP 2.2), most preferred first.
    pub attestation_formats_preference: Option<Vec<String>>,
}

impl MakeCredentialRequest {
    /// Decodes the CBOR parameters; keys are read in ascending order and the first failure wins.
    pub fn decode(params: &[u8]) -> CtapResult<Self> {
        IntMap::parse_with(params, |map| {
            let client_data_hash = map.required(param::CLIENT_DATA_HASH)?.as_bytes()?.to_vec();
            let rp = RpEntity::decode(map.required(param::RP)?)?;
            let user = UserEntity::decode(map.required(param::USER)?)?;
            let pub_key_cred_params = map
                .required(param::PUB_KEY_CRED_PARAMS)?
                .as_array()?
                .iter()
                .map(CredentialParameters::decode)
                .collect::<CtapResult<Vec<_>>>()?;
            let exclude_list = match map.get(param::EXCLUDE_LIST) {
                Some(v) => CredentialDescriptor::decode_list(v)?,
                None => Vec::new(),
            };
            let extensions = decode_extensions(map.get(param::EXTENSIONS))?;
            let options = Options::decode_param(map.get(param::OPTIONS))?;
            let pin_uv_auth_param = map.opt_bytes(param::PIN_UV_AUTH_PARAM)?;
            let pin_uv_auth_protocol = map.opt_unsigned(param::PIN_UV_AUTH_PROTOCOL)?;
            let enterprise_attestation = map.opt_unsigned(param::ENTERPRISE_ATTESTATION)?;
            let attestation_formats_preference =
                map.opt_text_list(param::ATTESTATION_FORMATS_PREFERENCE)?;
            Ok(Self {
                client_data_hash,
                rp,
                user,
                pub_key_cred_params,
                exclude_list,
                extensions,
                options,
                pin_uv_auth_param,
                pin_uv_auth_protocol,
                enterprise_attestation,
                attestation_formats_preference,
            })
        })
    }
}

/// The attestation statement formats this card can produce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttestationFormat {
    /// "packed" (WebAuthn §8.2): batch attestation with x5c, or self attestation.
    Packed,
    /// "none" (WebAuthn §8.7).
    None,
}

impl AttestationFormat {
    fn from_name(name: &str) -> Option<Self> {
        match name {
            "packed" => Some(Self::Packed),
            "none" => Some(Self::None),
            _ => None,
        }
    }

    /// The first format of the platform's preference list that this card supports, else
    /// "packed" (CTAP 2.2 §6.1.2: the authenticator SHOULD honour the order, and falls back to its
    /// default when it supports none of them).
    fn choose(preference: Option<&[String]>) -> Self {
        preference
            .unwrap_or_default()
            .iter()
            .find_map(|name| Self::from_name(name))
            .unwrap_or(Self::Packed)
    }
}

/// The response map keys of §6.1.
use ctap_types::params::make_credential::response as key;

/// Runs authenticatorMakeCredential.
pub fn process(auth: &mut Authenticator, params: &[u8]) -> CtapResult<Value> {
    let req = MakeCredentialRequest::decode(params)?;
    auth.check_credential_list(&req.exclude_list)?;

    // Steps 1-2: a zero-length pinUvAuthParam is the "select this authenticator" probe; a real
    // one needs an offered pinUvAuthProtocol.
    let pin_uv = pin_uv_auth::check_pin_uv_auth(
        auth,
        req.pin_uv_auth_param.as_deref(),
        req.pin_uv_auth_protocol,
    )?;

    // Step 3: the first entry of pubKeyCredParams, in the platform's order of preference, whose
    // algorithm this card supports: one the profile offers (getInfo `algorithms`); none is
    // CTAP2_ERR_UNSUPPORTED_ALGORITHM. Entries of other types are skipped; malformed entries
    // were refused while decoding.
    let algorithm = choose_algorithm(&req.pub_key_cred_params, |alg| {
        auth.profile.enables_algorithm(alg.cose_id())
    })
    .ok_or(CtapError::UnsupportedAlgorithm)?;

    // Step 5: options. rk needs discoverable credentials (getInfo `rk`,
    // CTAP2_ERR_UNSUPPORTED_OPTION without); up must not be false (makeCredential always tests
    // presence); uv needs built-in user verification, which a card without a PIN pad lacks
    // (with a pinUvAuthParam it is treated as false: the PIN is the verification).
    let rk = req.options.rk.unwrap_or(false);
    if rk && !auth.profile.options.rk {
        return Err(CtapError::UnsupportedOption);
    }
    if req.options.up == Some(false) {
        return Err(CtapError::InvalidOption);
    }
    pin_uv_auth::check_uv_option(auth, req.options.uv, pin_uv.is_some())?;
    let ext = MakeCredentialExtensions::decode(&auth.enabled_extensions(&req.extensions))?;

    // Steps 6-8: once a PIN is set, a discoverable credential needs a pinUvAuthToken; a
    // non-discoverable one does too unless the card declares makeCredUvNotRqd (a CTAP 2.1
    // option: a CTAP 2.0 card answers CTAP2_ERR_PIN_REQUIRED, the same code 0x36, to every
    // makeCredential without pinAuth once a PIN is set, CTAP 2.0 §5.1 step 7); alwaysUv asks
    // for UV on everything.
    let pin = &auth.store.get().pin;
    let uv_not_rqd = auth.profile.options.make_cred_uv_not_rqd && auth.profile.is_ctap21();
    if pin_uv.is_none() && (pin.always_uv || (pin.is_set() && (rk || !uv_not_rqd))) {
        return Err(CtapError::PuatRequired);
    }

    // Step 9: enterprise attestation (§7.1). 9.1: a card that is not enterprise-attestation
    // capable, or where authenticatorConfig has not enabled it, answers
    // CTAP1_ERR_INVALID_PARAMETER; 9.2: a value other than 1 or 2 is CTAP2_ERR_INVALID_OPTION.
    // Mode 1 (vendor-facilitated) attests for the RP IDs the vendor configured (profile data),
    // regular attestation for the others; mode 2 (platform-managed) trusts the platform's
    // vetting.
    let enterprise = match req.enterprise_attestation {
        None => false,
        Some(mode) => {
            if !config::ep_capable(auth) || !auth.store.get().enterprise_attestation {
                return Err(CtapError::InvalidParameter);
            }
            match mode {
                config::EA_VENDOR_FACILITATED => config::vendor_facilitated_for(auth, &req.rp.id),
                config::EA_PLATFORM_MANAGED => true,
                _ => return Err(CtapError::InvalidOption),
            }
        }
    };

    // Step 11: the pinUvAuthParam proves a token with the mc permission for this RP; then (and
    // only then) the user was verified.
    let uv = pin_uv_auth::verify_token_for(
        auth,
        pin_uv,
        &req.client_data_hash,
        permission::MAKE_CREDENTIAL,
        &req.rp.id,
    )?;

    let rp_id_hash = crypto::sha256(req.rp.id.as_bytes());

    // Step 12: a listed credential of this card bound to this RP means "already registered" —
    // except that a userVerificationRequired credential (credProtect 3) is not admitted to
    // without UV (§12.1). Presence is still collected first so the answer does not leak without
    // a tap, and the result is CREDENTIAL_EXCLUDED whether or not presence was given.
    let excluded = req
        .exclude_list
        .iter()
        .filter(|d| d.is_public_key())
        .filter_map(|d| auth.find_credential(&req.rp.id, &rp_id_hash, &d.id))
        .any(|c| cred_protect::excludes(cred_protect::level_of(c.flags), uv));
    if excluded {
        let _ = auth.check_user_presence();
        return Err(CtapError::CredentialExcluded);
    }

    // Step 15: extensions (§12); unknown ones are ignored (WebAuthn §9). largeBlobKey needs a
    // discoverable credential (CTAP2_ERR_INVALID_OPTION otherwise).
    let large_blob_key = if ext.large_blob_key {
        Some(large_blob_key::generate(&mut *auth.platform.rng, rk)?)
    } else {
        None
    };
    let cred_blob = ext
        .cred_blob
        .as_deref()
        .filter(|blob| cred_blob::accepts(blob, rk, auth.profile.max_cred_blob_length));
    // §12.1: without a credProtect input the credential is userVerificationOptional (1), and
    // is stored so, so that credentialManagement reports the level of every credential.
    let cred_protect = ext
        .cred_protect
        .map_or(cred_protect::DEFAULT_LEVEL, |level| level.level());
    let mut outputs = Outputs::default();
    if let Some(level) = ext.cred_protect {
        outputs.push(
            ExtensionId::CredProtect.as_str(),
            Value::Unsigned(u64::from(level.level())),
        );
    }
    if ext.hmac_secret {
        outputs.push(ExtensionId::HmacSecret.as_str(), Value::Bool(true));
    }
    if ext.cred_blob.is_some() {
        outputs.push(
            ExtensionId::CredBlob.as_str(),
            cred_blob::make_credential_output(cred_blob.is_some()),
        );
    }
    if ext.min_pin_length {
        let state = auth.store.get();
        if let Some(out) = min_pin_length::output(
            &req.rp.id,
            &state.pin.min_pin_length_rp_ids,
            client_pin::min_pin_length(auth),
        ) {
            outputs.push(ExtensionId::MinPinLength.as_str(), out);
        }
    }

    // Step 14: user presence (the tap), unless the token carries presence; a token's cached
    // presence, verification and permissions (but lbw) are consumed either way.
    pin_uv_auth::collect_presence(auth, pin_uv.is_some())?;
    let flags = if uv { FLAG_UP | FLAG_UV } else { FLAG_UP };

    // Step 16: a new key of the chosen algorithm, sealed into the credential id (with the
    // algorithm) and this RP's hash. Its signer computes the public key, and is kept for the
    // assertions (and the self attestation) that follow.
    let private_key = CredentialKey::generate(algorithm, &mut *auth.platform.rng);
    let cred_flags = WrappedCredential::pack_flags(rk, cred_protect, ext.hmac_secret);
    let wrapped = WrappedCredential {
        private_key,
        flags: cred_flags,
    };
    let credential_id = crypto::wrap_credential(
        &auth.store.get().wrapping_key,
        &mut *auth.platform.rng,
        &rp_id_hash,
        &wrapped,
    );
    let private_key = wrapped.private_key;
    let signer = auth.signer(&credential_id, &private_key);
    let cose_key = signer.public_key().cose_key();

    // Step 17 and the signature counter: one transaction, so a full key store or a failed
    // write changes nothing.
    let capacity = to_usize(auth.profile.max_resident_credentials);
    let resident = rk.then(|| ResidentCredential {
        rp_id: req.rp.id.clone(),
        rp_name: req
            .rp
            .name
            .as_deref()
            .map(|n| truncate_utf8(n, MAX_STORED_NAME_LEN)),
        user_id: req.user.id.clone(),
        user_name: req
            .user
            .name
            .as_deref()
            .map(|n| truncate_utf8(n, MAX_STORED_NAME_LEN)),
        user_display_name: req
            .user
            .display_name
            .as_deref()
            .map(|n| truncate_utf8(n, MAX_STORED_NAME_LEN)),
        credential_id: credential_id.clone(),
        private_key: *private_key.to_bytes(),
        flags: cred_flags,
        creation_order: 0,
        cred_blob: cred_blob.map(<[u8]>::to_vec),
        large_blob_key,
        algorithm,
    });
    let sign_count = auth.store.transaction(|state: &mut State| {
        if let Some(cred) = resident {
            store_resident(state, cred, capacity)?;
        }
        Ok::<u32, CtapError>(state.next_sign_count())
    })?;

    let attested = AttestedCredential {
        aaguid: auth.profile.aaguid.as_bytes(),
        credential_id: &credential_id,
        cose_key: &cose_key,
    };
    let extension_data = outputs.encode();
    let auth_data = auth_data::build(
        &rp_id_hash,
        flags,
        sign_count,
        Some(&attested),
        extension_data.as_deref(),
    );

    // Step 19: the attestation statement.
    // The request's preference, then the card model's attestation type (profile).
    let attestation_type = auth.profile().attestation_type;
    let format = match attestation_type {
        AttestationType::None => AttestationFormat::None,
        _ => AttestationFormat::choose(req.attestation_formats_preference.as_deref()),
    };
    let (fmt, att_stmt) = match format {
        AttestationFormat::None => ("none", Value::Map(Vec::new())),
        AttestationFormat::Packed => {
            let mut signed = auth_data.clone();
            signed.extend_from_slice(&req.client_data_hash);
            let batch = match attestation_type {
                AttestationType::Basic => auth.attestation().map(|material| {
                    let signature = auth.attestation_sign(&signed).ok_or(CtapError::Other)?;
                    Ok::<_, CtapError>((material, signature))
                }),
                _ => None,
            }
            .transpose()?;
            ("packed", packed_statement(batch, &*signer, &signed))
        }
    };
    let mut response = vec![
        (Value::Unsigned(key::FMT), Value::text(fmt)),
        (Value::Unsigned(key::AUTH_DATA), Value::Bytes(auth_data)),
        (Value::Unsigned(key::ATT_STMT), att_stmt),
    ];
    // epAtt (§6.1 0x04): an enterprise attestation is a full ("packed" with x5c) statement.
    if enterprise
        && format == AttestationFormat::Packed
        && attestation_type == AttestationType::Basic
        && auth.attestation().is_some()
    {
        response.push((Value::Unsigned(key::EP_ATT), Value::Bool(true)));
    }
    large_blob_key::push_member(&mut response, key::LARGE_BLOB_KEY, large_blob_key.as_ref());
    Ok(Value::Map(response))
}

/// Stores a resident credential: the same RP and user id replaces the old one (§6.1.2 step 17:
/// "If a credential for the same rp.id and account ID already exists, overwrite it"), a new
/// account needs a free slot.
fn store_resident(
    state: &mut State,
    mut cred: ResidentCredential,
    capacity: usize,
) -> CtapResult<()> {
    cred.creation_order = state.next_creation_order;
    state.next_creation_order = state.next_creation_order.saturating_add(1);
    let existing = state
        .resident
        .position_in_rp(&cred.rp_id, |c| c.user_id == cred.user_id);
    match existing {
        Some(i) => {
            state.resident.replace(i, cred);
        }
        None if state.resident.len() >= capacity => return Err(CtapError::KeyStoreFull),
        None => state.resident.push(cred),
    }
    Ok(())
}

/// The 'packed' statement (WebAuthn §8.2): basic attestation when `batch` gives the batch
/// material and its signature (alg -7: the batch key is P-256 whatever the credential's
/// algorithm), self attestation otherwise: signed by the credential key itself, with the
/// credential's algorithm (-7 or -8) and no x5c (§8.2 "If self attestation is in use").
fn packed_statement(
    batch: Option<(&AttestationMaterial, Vec<u8>)>,
    credential: &dyn Signer,
    signed: &[u8],
) -> Value {
    match batch {
        Some((material, signature)) => Value::Map(vec![
            (Value::text("alg"), Value::int(Algorithm::Es256.cose_id())),
            (Value::text("sig"), Value::Bytes(signature)),
            (
                Value::text("x5c"),
                Value::Array(vec![Value::bytes(material.cert_der.clone())]),
            ),
        ]),
        None => Value::Map(vec![
            (
                Value::text("alg"),
                Value::int(credential.algorithm().cose_id()),
            ),
            (Value::text("sig"), Value::Bytes(credential.sign(&[signed]))),
        ]),
    }
}

/// §6.1.2 step 3: the algorithm of the first `public-key` entry, in the platform's order, that
/// this build implements and `offered` accepts.
fn choose_algorithm(
    params: &[CredentialParameters],
    offered: impl Fn(Algorithm) -> bool,
) -> Option<Algorithm> {
    params
        .iter()
        .filter(|p| p.type_ == PUBLIC_KEY)
        .filter_map(|p| i64::try_from(p.alg).ok().and_then(Algorithm::from_cose_id))
        .find(|&alg| offered(alg))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_supported_algorithm_in_the_platforms_order_wins() {
        let p = |list: &[(&str, i128)]| {
            list.iter()
                .map(|&(t, alg)| CredentialParameters {
                    type_: t.into(),
                    alg,
                })
                .collect::<Vec<_>>()
        };
        let all = |_: Algorithm| true;
        let es256_only = |a: Algorithm| a == Algorithm::Es256;
        let both = p(&[(PUBLIC_KEY, -8), (PUBLIC_KEY, -7)]);
        assert_eq!(choose_algorithm(&both, all), Some(Algorithm::EdDsa));
        assert_eq!(choose_algorithm(&both, es256_only), Some(Algorithm::Es256));
        let es256_first = p(&[(PUBLIC_KEY, -7), (PUBLIC_KEY, -8)]);
        assert_eq!(choose_algorithm(&es256_first, all), Some(Algorithm::Es256));
        // Unknown algorithms and other types are skipped; none left is None (UNSUPPORTED_ALGORITHM).
        let rsa_then_eddsa = p(&[(PUBLIC_KEY, -257), ("other", -7), (PUBLIC_KEY, -8)]);
        assert_eq!(
            choose_algorithm(&rsa_then_eddsa, all),
            Some(Algorithm::EdDsa)
        );
        assert_eq!(choose_algorithm(&rsa_then_eddsa, es256_only), None);
        assert_eq!(choose_algorithm(&p(&[(PUBLIC_KEY, i128::MAX)]), all), None);
        assert_eq!(choose_algorithm(&[], all), None);
    }

    #[test]
    fn attestation_format_preference() {
        let p = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(AttestationFormat::choose(None), AttestationFormat::Packed);
        assert_eq!(
            AttestationFormat::choose(Some(&p(&["none"]))),
            AttestationFormat::None
        );
        assert_eq!(
            AttestationFormat::choose(Some(&p(&["tpm", "none", "packed"]))),
            AttestationFormat::None
        );
        assert_eq!(
            AttestationFormat::choose(Some(&p(&["tpm"]))),
            AttestationFormat::Packed
        );
    }
}
