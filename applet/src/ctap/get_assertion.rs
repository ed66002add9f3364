//! authenticatorGetAssertion (CTAP 2.1 §6.2) and authenticatorGetNextAssertion (§6.3).
//!
//! With an allowList the platform names the credentials it accepts and the card signs with the
//! first one it recognises for this relying party. Without one the card offers its discoverable
//! credentials for the relying party, newest first: the first in the getAssertion answer together
//! with `numberOfCredentials`, the rest one by one through getNextAssertion. That continuation is
//! session state: it ends on deselect, reset, any other command, or after 30 seconds.

use super::auth_data::{self, FLAG_UP, FLAG_UV};
use super::pin_uv_auth;
use super::types::{CredentialDescriptor, Options, UserEntity, decode_extensions};
use super::{Authenticator, FoundCredential};
use crate::crypto::{self, WrappedCredential};
use crate::extensions::{
    GetAssertionExtensions, Outputs, cred_blob, cred_protect, hmac_secret, large_blob_key,
};
use ctap_types::ExtensionId;
use ctap_types::cbor::{self, IntMap, Value};
use ctap_types::params::get_assertion::request as param;
use ctap_types::permission;
use ctap_types::{CtapError, CtapResult};

/// §6.3: the getNextAssertion state expires 30 seconds after the last (Next)Assertion.
pub const NEXT_ASSERTION_TIMEOUT_MS: u64 = 30_000;

/// A decoded authenticatorGetAssertion request (§6.2 parameter table).
#[derive(Clone, Debug, PartialEq)]
pub struct GetAssertionRequest {
    /// 0x01 rpId.
    pub rp_id: String,
    /// 0x02 clientDataHash.
    pub client_data_hash: Vec<u8>,
    /// 0x03 allowList; `None` when absent (an empty list is treated the same, WebAuthn §6.3.3).
    pub allow_list: Option<Vec<CredentialDescriptor>>,
    /// 0x04 extensions (identifier, input); see [`crate::extensions`].
    pub extensions: Vec<(String, cbor::Value)>,
    /// 0x05 options.
    pub options: Options,
    /// 0x06 pinUvAuthParam.
    pub pin_uv_auth_param: Option<Vec<u8>>,
    /// 0x07 pinUvAuthProtocol.
    pub pin_uv_auth_protocol: Option<u64>,
}

impl GetAssertionRequest {
    /// Decodes the CBOR parameters; keys are read in ascending order and the first failure wins.
    pub fn decode(params: &[u8]) -> CtapResult<Self> {
        IntMap::parse_with(params, |map| {
            let rp_id = map.required(param::RP_ID)?.as_text()?.to_owned();
            let client_data_hash = map.required(param::CLIENT_DATA_HASH)?.as_bytes()?.to_vec();
            let allow_list = map
                .get(param::ALLOW_LIST)
                .map(CredentialDescriptor::decode_list)
                .transpose()?;
            let extensions = decode_extensions(map.get(param::EXTENSIONS))?;
            let options = Options::decode_param(map.get(param::OPTIONS))?;
            let pin_uv_auth_param = map.opt_bytes(param::PIN_UV_AUTH_PARAM)?;
            let pin_uv_auth_protocol = map.opt_unsigned(param::PIN_UV_AUTH_PROTOCOL)?;
            Ok(Self {
                rp_id,
                client_data_hash,
                allow_list,
                extensions,
                options,
                pin_uv_auth_param,
                pin_uv_auth_protocol,
            })
        })
    }
}

/// What getNextAssertion needs from the getAssertion that started it.
pub(crate) struct Pending {
    rp_id: String,
    rp_id_hash: [u8; 32],
    client_data_hash: Vec<u8>,
    flags: u8,
    /// Credential ids still to serve, next first.
    remaining: std::collections::VecDeque<Vec<u8>>,
    /// When the last (Next)Assertion was answered.
    last_ms: u64,
    /// The extension work each assertion of the sequence does.
    extensions: AssertionExtensions,
}

/// The extension work an assertion does for the credential it signs with (CTAP 2.1 §12).
#[derive(Default)]
pub(crate) struct AssertionExtensions {
    /// hmac-secret: the platform's salts, checked and decrypted, and the shared secret.
    hmac_secret: Option<hmac_secret::Salts>,
    /// credBlob: return the credential's blob.
    cred_blob: bool,
    /// largeBlobKey: return the credential's key (response 0x07).
    large_blob_key: bool,
}

/// The response map keys of §6.2.
use ctap_types::params::get_assertion::response as key;

/// Runs authenticatorGetAssertion.
pub fn process(auth: &mut Authenticator, params: &[u8]) -> CtapResult<Value> {
    let req = GetAssertionRequest::decode(params)?;
    auth.check_credential_list(req.allow_list.as_deref().unwrap_or_default())?;

    // Steps 1-2: a zero-length pinUvAuthParam is the "select this authenticator" probe; a real
    // one needs an offered pinUvAuthProtocol.
    let pin_uv = pin_uv_auth::check_pin_uv_auth(
        auth,
        req.pin_uv_auth_param.as_deref(),
        req.pin_uv_auth_protocol,
    )?;

    // Step 4: options. "rk" has no meaning here (CTAP2_ERR_UNSUPPORTED_OPTION). "uv" asks for
    // built-in user verification, which a card without a PIN pad lacks; with a pinUvAuthParam
    // it is treated as false (the PIN is the verification). up defaults to true, and
    // up = false is a silent probe ("is this credential here?") without the UP flag.
    if req.options.rk.is_some() {
        return Err(CtapError::UnsupportedOption);
    }
    pin_uv_auth::check_uv_option(auth, req.options.uv, pin_uv.is_some())?;
    let up = req.options.up.unwrap_or(true);
    let ext = GetAssertionExtensions::decode(&auth.enabled_extensions(&req.extensions))?;

    // Step 5, alwaysUv (§6.11.2): every assertion with presence needs a pinUvAuthToken.
    if auth.store.get().pin.always_uv && up && pin_uv.is_none() {
        return Err(CtapError::PuatRequired);
    }

    // Step 6: the pinUvAuthParam proves a token with the ga permission for this RP; then (and
    // only then) the user was verified.
    let uv = pin_uv_auth::verify_token_for(
        auth,
        pin_uv,
        &req.client_data_hash,
        permission::GET_ASSERTION,
        &req.rp_id,
    )?;

    // Step 7: locate the applicable credentials; credProtect hides some of them without UV
    // (§12.1), exactly as if they did not exist.
    let rp_id_hash = crypto::sha256(req.rp_id.as_bytes());
    let allow_list = req.allow_list.as_deref().filter(|l| !l.is_empty());
    let visible =
        |c: &FoundCredential, listed: bool| cred_protect::allows(cred_protect_level(c), uv, listed);
    let (first, rest) = match allow_list {
        // The first listed credential this card recognises for this RP; the others are not
        // looked at (§6.2.2 step 7.1: with an allowList one assertion is returned).
        Some(list) => {
            let found = list
                .iter()
                .filter(|d| d.is_public_key())
                .filter_map(|d| auth.find_credential(&req.rp_id, &rp_id_hash, &d.id))
                .find(|c| visible(c, true));
            (found, Vec::new())
        }
        // The RP's discoverable credentials come from the resident index, newest first; only
        // the first is unsealed now, the rest wait for getNextAssertion.
        None => {
            let mut ids = auth
                .state()
                .resident_for_rp(&req.rp_id)
                .into_iter()
                .filter(|c| cred_protect::allows(cred_protect::level_of(c.flags), uv, false))
                .map(|c| c.credential_id.clone());
            let first = ids.next();
            let rest: Vec<Vec<u8>> = ids.collect();
            let first = first.and_then(|id| auth.resident_credential(&req.rp_id, &id));
            (first, rest)
        }
    };
    let credential = first.ok_or(CtapError::NoCredentials)?;

    // Step 10: extensions. hmac-secret's salts are checked once for the whole sequence.
    let extensions = AssertionExtensions {
        hmac_secret: ext
            .hmac_secret
            .as_ref()
            .map(|input| {
                let offered = pin_uv_auth::offered_protocols(auth);
                hmac_secret::Salts::open(auth.client_pin.key_agreement(), &offered, input)
            })
            .transpose()?,
        cred_blob: ext.cred_blob,
        large_blob_key: ext.large_blob_key,
    };

    // Step 9: user presence, unless the platform asked for a silent probe. A token's cached
    // presence would do instead of a test; either way the token's presence, verification and
    // permissions (but lbw) are then consumed.
    let mut flags = 0;
    if up {
        pin_uv_auth::collect_presence(auth, pin_uv.is_some())?;
        flags |= FLAG_UP;
    }
    if uv {
        flags |= FLAG_UV;
    }

    let number_of_credentials = (!rest.is_empty()).then_some(rest.len() + 1);
    let response = assertion_response(
        auth,
        &credential,
        &rp_id_hash,
        &req.client_data_hash,
        flags,
        number_of_credentials,
        &extensions,
    )?;
    if !rest.is_empty() {
        auth.session.next_assertions = Some(Pending {
            rp_id: req.rp_id,
            rp_id_hash,
            client_data_hash: req.client_data_hash,
            flags,
            remaining: rest.into(),
            last_ms: auth.platform.clock.now_ms(),
            extensions,
        });
    }
    Ok(response)
}

/// Runs authenticatorGetNextAssertion (§6.3).
pub fn process_next(auth: &mut Authenticator) -> CtapResult<Value> {
    let now = auth.platform.clock.now_ms();
    let mut pending = auth
        .session
        .next_assertions
        .take()
        .ok_or(CtapError::NotAllowed)?;
    if now.saturating_sub(pending.last_ms) > NEXT_ASSERTION_TIMEOUT_MS {
        return Err(CtapError::NotAllowed);
    }
    let id = pending.remaining.pop_front().ok_or(CtapError::NotAllowed)?;
    // The list was taken while no other command could run, so the credential is still there;
    // if it is not, the state is stale and the continuation ends.
    let credential = auth
        .resident_credential(&pending.rp_id, &id)
        .ok_or(CtapError::NotAllowed)?;
    let response = assertion_response(
        auth,
        &credential,
        &pending.rp_id_hash,
        &pending.client_data_hash,
        pending.flags,
        None,
        &pending.extensions,
    )?;
    if !pending.remaining.is_empty() {
        pending.last_ms = now;
        auth.session.next_assertions = Some(pending);
    }
    Ok(response)
}

/// The credProtect level of a found credential.
fn cred_protect_level(credential: &FoundCredential) -> u8 {
    cred_protect::level_of(credential.flags)
}

/// Signs `authData || clientDataHash` with the credential and builds the response map.
fn assertion_response(
    auth: &mut Authenticator,
    credential: &FoundCredential,
    rp_id_hash: &[u8; 32],
    client_data_hash: &[u8],
    flags: u8,
    number_of_credentials: Option<usize>,
    extensions: &AssertionExtensions,
) -> CtapResult<Value> {
    let uv = flags & FLAG_UV != 0;
    // A resident credential's credBlob and largeBlobKey came with it (no search of the stored
    // credentials here: a non-resident credential has neither).
    let state = auth.store.get();
    let mut outputs = Outputs::default();
    if let Some(salts) = &extensions.hmac_secret {
        if credential.flags & WrappedCredential::FLAG_HMAC_SECRET != 0 {
            // CredRandomWithUV if and only if UV was performed (§12.5).
            let cred_random = hmac_secret::cred_random(&state.wrapping_key, &credential.id, uv);
            outputs.push(
                ExtensionId::HmacSecret.as_str(),
                Value::Bytes(salts.output(&mut *auth.platform.rng, &cred_random)),
            );
        }
    }
    if extensions.cred_blob {
        outputs.push(
            ExtensionId::CredBlob.as_str(),
            cred_blob::get_assertion_output(credential.cred_blob.as_deref()),
        );
    }
    let large_blob_key = if extensions.large_blob_key {
        credential.large_blob_key
    } else {
        None
    };
    let extension_data = outputs.encode();
    let sign_count = auth.next_sign_count()?;
    let auth_data = auth_data::build(
        rp_id_hash,
        flags,
        sign_count,
        None,
        extension_data.as_deref(),
    );
    // WebAuthn §6.3.3 step 11: the signature over authData || clientDataHash, with the
    // credential's algorithm (ES256: ECDSA over SHA-256, DER; EdDSA: Ed25519).
    let signature = auth
        .signer(&credential.id, &credential.key)
        .sign(&[&auth_data, client_data_hash]);

    let mut map = vec![
        (
            Value::Unsigned(key::CREDENTIAL),
            CredentialDescriptor::encode_public_key(&credential.id),
        ),
        (Value::Unsigned(key::AUTH_DATA), Value::Bytes(auth_data)),
        (Value::Unsigned(key::SIGNATURE), Value::Bytes(signature)),
    ];
    // §6.2.2 "user": a discoverable credential always returns the user id (the RP needs it to
    // know who signed in); name and displayName are user-identifiable information that MUST NOT
    // be returned unless the authenticator verified the user, which this card cannot do yet.
    // Non-discoverable credentials return no user: the RP already knows it.
    if let Some(user) = &credential.user {
        let uv_performed = flags & auth_data::FLAG_UV != 0;
        let (name, display_name) = if uv_performed {
            (user.name.as_deref(), user.display_name.as_deref())
        } else {
            (None, None)
        };
        let entity = UserEntity::encode(&user.id, name, display_name);
        map.push((Value::Unsigned(key::USER), entity));
    }
    if let Some(n) = number_of_credentials {
        map.push((Value::Unsigned(key::NUMBER_OF_CREDENTIALS), super::uint(n)));
    }
    large_blob_key::push_member(&mut map, key::LARGE_BLOB_KEY, large_blob_key.as_ref());
    Ok(Value::Map(map))
}
