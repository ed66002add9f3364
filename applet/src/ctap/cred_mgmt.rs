//! authenticatorCredentialManagement (CTAP 2.1 §6.8, command 0x0A) and its FIDO_2_1_PRE
//! prototype (command 0x41, "credentialMgmtPreview"): list, delete and rename the discoverable
//! credentials — what Windows Settings and vendor tools show as "manage passkeys".
//!
//! | subcommand | § | pinUvAuthParam over | |
//! |---|---|---|---|
//! | 0x01 getCredsMetadata | 6.8.2 | `0x01` | stored and remaining discoverable credentials |
//! | 0x02 enumerateRPsBegin | 6.8.3 | `0x02` | first RP and the number of RPs |
//! | 0x03 enumerateRPsGetNextRP | 6.8.3 | — | the next RP |
//! | 0x04 enumerateCredentialsBegin | 6.8.4 | `0x04 ‖ subCommandParams` | first credential of an RP and their number |
//! | 0x05 enumerateCredentialsGetNextCredential | 6.8.4 | — | the next credential |
//! | 0x06 deleteCredential | 6.8.5 | `0x06 ‖ subCommandParams` | |
//! | 0x07 updateUserInformation | 6.8.6 | `0x07 ‖ subCommandParams` | CTAP 2.1 only, not in the prototype |
//!
//! **Authorization.** Every subcommand but the two GetNext ones needs a pinUvAuthToken with the
//! cm permission. A token bound to an RP ID (getPinUvAuthTokenUsingPinWithPermissions with
//! `rpId`) may only look at that RP: it cannot read the metadata or list the RPs, and
//! enumerateCredentialsBegin / deleteCredential / updateUserInformation must name a credential
//! of that RP (CTAP2_ERR_PIN_AUTH_INVALID otherwise). Credentials are listed whatever their
//! credProtect level — the token proves user verification, which every level accepts — and the
//! level is reported (0x0A).
//!
//! **Enumeration state** is transient (session) memory: GetNext continues only the Begin that
//! came right before it. Any other command, a deselect or a power cycle ends it, and GetNext
//! without it is CTAP2_ERR_NOT_ALLOWED.
//!
//! `subCommandParams` is authenticated over its CTAP2 canonical re-encoding (§8.1), which is what
//! conforming platforms send; a platform sending non-canonical CBOR would not verify.

use std::collections::VecDeque;

use super::pin_uv_auth;
use super::types::{
    CredentialDescriptor, MAX_STORED_NAME_LEN, SubcommandRequest, UserEntity, truncate_utf8,
};
use super::{Authenticator, to_usize, uint};
use crate::crypto::{self, CredentialKey, CryptoBackend};
use crate::extensions::{cred_protect, large_blob_key};
use crate::state::{ResidentCredential, State};
use ctap_types::cbor::{self, IntMap, Value};
use ctap_types::permission;
use ctap_types::{CtapError, CtapResult};

/// Subcommand numbers (CTAP 2.1 §6.8).
use ctap_types::params::cred_mgmt::subcommand;

/// `subCommandParams` keys (§6.8).
use ctap_types::params::cred_mgmt::param;

/// Response keys (§6.8).
use ctap_types::params::cred_mgmt::response;

/// `subCommandParams`, decoded.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SubCommandParams {
    /// 0x01 rpIDHash.
    pub rp_id_hash: Option<Vec<u8>>,
    /// 0x02 credentialID (a PublicKeyCredentialDescriptor).
    pub credential_id: Option<CredentialDescriptor>,
    /// 0x03 user (a PublicKeyCredentialUserEntity).
    pub user: Option<UserEntity>,
}

/// A decoded authenticatorCredentialManagement request.
pub type CredMgmtRequest = SubcommandRequest<SubCommandParams>;

impl SubCommandParams {
    /// Reads `subCommandParams`: malformed CBOR and wrong types fail here, missing parameters
    /// later, per subcommand.
    fn read(_sub_command: u64, params: Option<&IntMap<'_>>) -> CtapResult<Self> {
        let Some(p) = params else {
            return Ok(Self::default());
        };
        Ok(Self {
            rp_id_hash: p.opt_bytes(param::RP_ID_HASH)?,
            credential_id: p
                .get(param::CREDENTIAL_ID)
                .map(CredentialDescriptor::decode)
                .transpose()?,
            user: p.get(param::USER).map(UserEntity::decode).transpose()?,
        })
    }
}

/// An enumeration in progress (session state, see the module documentation).
pub(crate) enum Enumeration {
    /// enumerateRPsBegin: the RP IDs still to return, next first.
    Rps(VecDeque<String>),
    /// enumerateCredentialsBegin: the credential ids still to return, next first.
    Credentials(VecDeque<Vec<u8>>),
}

/// Runs authenticatorCredentialManagement; `prototype` is the FIDO_2_1_PRE command 0x41, which
/// lacks updateUserInformation.
pub fn process(
    auth: &mut Authenticator,
    params: &[u8],
    prototype: bool,
) -> CtapResult<Option<Value>> {
    // Whatever this request is, an enumeration continues only through its own GetNext.
    let enumeration = auth.session.cred_mgmt.take();
    let req = CredMgmtRequest::decode(params, SubCommandParams::read)?;
    match req.sub_command {
        subcommand::GET_CREDS_METADATA => {
            authorize(auth, &req)?;
            refuse_rp_bound_token(auth)?;
            Ok(Some(metadata(auth)))
        }
        subcommand::ENUMERATE_RPS_BEGIN => {
            authorize(auth, &req)?;
            refuse_rp_bound_token(auth)?;
            enumerate_rps_begin(auth).map(Some)
        }
        subcommand::ENUMERATE_RPS_GET_NEXT_RP => match enumeration {
            Some(Enumeration::Rps(remaining)) => enumerate_rps_next(auth, remaining).map(Some),
            _ => Err(CtapError::NotAllowed),
        },
        subcommand::ENUMERATE_CREDENTIALS_BEGIN => {
            authorize(auth, &req)?;
            let rp_id_hash = req
                .params
                .rp_id_hash
                .as_deref()
                .ok_or(CtapError::MissingParameter)?;
            if let Some(bound) = auth.client_pin.token.rp_id() {
                if crypto::sha256(bound.as_bytes()).as_slice() != rp_id_hash {
                    return Err(CtapError::PinAuthInvalid);
                }
            }
            enumerate_credentials_begin(auth, rp_id_hash).map(Some)
        }
        subcommand::ENUMERATE_CREDENTIALS_GET_NEXT_CREDENTIAL => match enumeration {
            Some(Enumeration::Credentials(remaining)) => {
                enumerate_credentials_next(auth, remaining).map(Some)
            }
            _ => Err(CtapError::NotAllowed),
        },
        subcommand::DELETE_CREDENTIAL => {
            authorize(auth, &req)?;
            let index = named_credential(auth, &req)?;
            auth.store.transaction(|state: &mut State| {
                state.resident.remove(index);
                Ok::<(), CtapError>(())
            })?;
            Ok(None)
        }
        subcommand::UPDATE_USER_INFORMATION if !prototype => {
            authorize(auth, &req)?;
            let index = named_credential(auth, &req)?;
            let user = req.params.user.ok_or(CtapError::MissingParameter)?;
            update_user(auth, index, &user)?;
            Ok(None)
        }
        _ => Err(CtapError::InvalidSubcommand),
    }
}

/// The pinUvAuthParam over `subCommand ‖ subCommandParams` with the cm permission.
fn authorize(auth: &mut Authenticator, req: &CredMgmtRequest) -> CtapResult<()> {
    pin_uv_auth::verify_subcommand_token(auth, req, &[], permission::CREDENTIAL_MANAGEMENT)
}

/// getCredsMetadata and enumerateRPsBegin reveal every RP: a token bound to one RP may not.
fn refuse_rp_bound_token(auth: &Authenticator) -> CtapResult<()> {
    if auth.client_pin.token.rp_id().is_some() {
        return Err(CtapError::PinAuthInvalid);
    }
    Ok(())
}

/// getCredsMetadata (§6.8.2).
fn metadata(auth: &Authenticator) -> Value {
    let existing = auth.state().resident.len();
    let remaining = to_usize(auth.profile.max_resident_credentials).saturating_sub(existing);
    Value::Map(vec![
        (
            Value::Unsigned(response::EXISTING_RESIDENT_CREDENTIALS_COUNT),
            uint(existing),
        ),
        (
            Value::Unsigned(response::MAX_POSSIBLE_REMAINING_RESIDENT_CREDENTIALS_COUNT),
            uint(remaining),
        ),
    ])
}

/// The RPs with discoverable credentials, the one used for the newest credential first, each
/// with the `rp.name` stored with its newest credential.
fn relying_parties(state: &State) -> Vec<(String, Option<String>)> {
    let mut newest: Vec<&ResidentCredential> = Vec::new();
    for cred in &state.resident {
        match newest.iter_mut().find(|c| c.rp_id == cred.rp_id) {
            Some(slot) if slot.creation_order < cred.creation_order => *slot = cred,
            Some(_) => {}
            None => newest.push(cred),
        }
    }
    newest.sort_by_key(|c| std::cmp::Reverse(c.creation_order));
    newest
        .into_iter()
        .map(|c| (c.rp_id.clone(), c.rp_name.clone()))
        .collect()
}

/// `{3: rp, 4: rpIDHash}` for one RP.
fn rp_entries(rp_id: &str, name: Option<&str>) -> Vec<(Value, Value)> {
    let mut rp = vec![(Value::text("id"), Value::text(rp_id))];
    if let Some(name) = name {
        rp.push((Value::text("name"), Value::text(name)));
    }
    vec![
        (Value::Unsigned(response::RP), Value::Map(rp)),
        (
            Value::Unsigned(response::RP_ID_HASH),
            Value::bytes(crypto::sha256(rp_id.as_bytes()).to_vec()),
        ),
    ]
}

/// enumerateRPsBegin (§6.8.3): the first RP, `totalRPs`, and the rest kept for GetNextRP.
fn enumerate_rps_begin(auth: &mut Authenticator) -> CtapResult<Value> {
    let rps = relying_parties(auth.state());
    let (first_id, first_name) = rps.first().cloned().ok_or(CtapError::NoCredentials)?;
    let mut entries = rp_entries(&first_id, first_name.as_deref());
    entries.push((Value::Unsigned(response::TOTAL_RPS), uint(rps.len())));
    let remaining: VecDeque<String> = rps.into_iter().skip(1).map(|(id, _)| id).collect();
    if !remaining.is_empty() {
        auth.session.cred_mgmt = Some(Enumeration::Rps(remaining));
    }
    Ok(Value::Map(entries))
}

/// enumerateRPsGetNextRP (§6.8.3).
fn enumerate_rps_next(
    auth: &mut Authenticator,
    mut remaining: VecDeque<String>,
) -> CtapResult<Value> {
    let rp_id = remaining.pop_front().ok_or(CtapError::NotAllowed)?;
    // No other command ran since Begin, so the RP still has credentials.
    let name = relying_parties(auth.state())
        .into_iter()
        .find(|(id, _)| *id == rp_id)
        .ok_or(CtapError::NotAllowed)?
        .1;
    if !remaining.is_empty() {
        auth.session.cred_mgmt = Some(Enumeration::Rps(remaining));
    }
    Ok(Value::Map(rp_entries(&rp_id, name.as_deref())))
}

/// enumerateCredentialsBegin (§6.8.4): the newest credential of the RP, `totalCredentials`, and
/// the rest kept for GetNextCredential.
fn enumerate_credentials_begin(auth: &mut Authenticator, rp_id_hash: &[u8]) -> CtapResult<Value> {
    let crypto = auth.crypto;
    let mut creds: Vec<&ResidentCredential> = auth
        .state()
        .resident
        .iter()
        .filter(|c| crypto::sha256(c.rp_id.as_bytes()).as_slice() == rp_id_hash)
        .collect();
    creds.sort_by_key(|c| std::cmp::Reverse(c.creation_order));
    let first = creds.first().ok_or(CtapError::NoCredentials)?;
    let total = creds.len();
    let mut entries = credential_entries(crypto, first)?;
    entries.push((Value::Unsigned(response::TOTAL_CREDENTIALS), uint(total)));
    let remaining: VecDeque<Vec<u8>> = creds
        .iter()
        .skip(1)
        .map(|c| c.credential_id.clone())
        .collect();
    if !remaining.is_empty() {
        auth.session.cred_mgmt = Some(Enumeration::Credentials(remaining));
    }
    Ok(Value::Map(entries))
}

/// enumerateCredentialsGetNextCredential (§6.8.4).
fn enumerate_credentials_next(
    auth: &mut Authenticator,
    mut remaining: VecDeque<Vec<u8>>,
) -> CtapResult<Value> {
    let id = remaining.pop_front().ok_or(CtapError::NotAllowed)?;
    let crypto = auth.crypto;
    let cred = auth
        .state()
        .resident
        .iter()
        .find(|c| crypto::ct_eq(&c.credential_id, &id))
        .ok_or(CtapError::NotAllowed)?;
    let entries = credential_entries(crypto, cred)?;
    if !remaining.is_empty() {
        auth.session.cred_mgmt = Some(Enumeration::Credentials(remaining));
    }
    Ok(Value::Map(entries))
}

/// `{6: user, 7: credentialID, 8: publicKey, 0x0A: credProtect, 0x0B: largeBlobKey}` of one
/// credential. The user entity is returned whole: the cm token proves user verification.
fn credential_entries(
    crypto: &dyn CryptoBackend,
    cred: &ResidentCredential,
) -> CtapResult<Vec<(Value, Value)>> {
    let user = UserEntity::encode(
        &cred.user_id,
        cred.user_name.as_deref(),
        cred.user_display_name.as_deref(),
    );
    // A stored key that is not valid for its algorithm means a corrupted image. §6.8.4
    // publicKey: the credential's COSE_Key (EC2 for ES256, OKP for EdDSA).
    let key =
        CredentialKey::from_bytes(cred.algorithm, &cred.private_key).ok_or(CtapError::Other)?;
    let public_key = cbor::parse(&crypto.signer(&key).public_key().cose_key())?;
    let mut entries = vec![
        (Value::Unsigned(response::USER), user),
        (
            Value::Unsigned(response::CREDENTIAL_ID),
            CredentialDescriptor::encode_public_key(&cred.credential_id),
        ),
        (Value::Unsigned(response::PUBLIC_KEY), public_key),
    ];
    // §6.8.4: credProtect (0x0A) for every credential; one made without the extension is
    // userVerificationOptional (§12.1), including those stored before the default was kept.
    entries.push((
        Value::Unsigned(response::CRED_PROTECT),
        Value::Unsigned(u64::from(cred_protect::level_of(cred.flags))),
    ));
    large_blob_key::push_member(
        &mut entries,
        response::LARGE_BLOB_KEY,
        cred.large_blob_key.as_ref(),
    );
    Ok(entries)
}

/// The stored credential `subCommandParams.credentialID` names (deleteCredential §6.8.5,
/// updateUserInformation §6.8.6): absent is CTAP2_ERR_MISSING_PARAMETER, unknown
/// CTAP2_ERR_NO_CREDENTIALS, and one of another RP than the token's permissions RP ID
/// CTAP2_ERR_PIN_AUTH_INVALID. Returns its index in the store.
fn named_credential(auth: &Authenticator, req: &CredMgmtRequest) -> CtapResult<usize> {
    let descriptor = req
        .params
        .credential_id
        .as_ref()
        .ok_or(CtapError::MissingParameter)?;
    let index = auth
        .state()
        .resident
        .iter()
        .position(|c| crypto::ct_eq(&c.credential_id, &descriptor.id))
        .ok_or(CtapError::NoCredentials)?;
    if let Some(bound) = auth.client_pin.token.rp_id() {
        let rp_id = auth.state().resident.get(index).map(|c| c.rp_id.as_str());
        if rp_id != Some(bound) {
            return Err(CtapError::PinAuthInvalid);
        }
    }
    Ok(index)
}

/// updateUserInformation (§6.8.6): the user id must be the stored one
/// (CTAP1_ERR_INVALID_PARAMETER otherwise); name and displayName are replaced, and removed when
/// absent or empty.
fn update_user(auth: &mut Authenticator, index: usize, user: &UserEntity) -> CtapResult<()> {
    let stored_id = auth
        .state()
        .resident
        .get(index)
        .map(|c| c.user_id.clone())
        .ok_or(CtapError::NoCredentials)?;
    if stored_id != user.id {
        return Err(CtapError::InvalidParameter);
    }
    let clean = |v: &Option<String>| {
        v.as_deref()
            .filter(|s| !s.is_empty())
            .map(|s| truncate_utf8(s, MAX_STORED_NAME_LEN))
    };
    let name = clean(&user.name);
    let display_name = clean(&user.display_name);
    auth.store.transaction(|state: &mut State| {
        state.resident.update(index, |cred| {
            cred.user_name = name;
            cred.user_display_name = display_name;
        });
        Ok::<(), CtapError>(())
    })
}
