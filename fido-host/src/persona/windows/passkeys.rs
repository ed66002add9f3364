//! Settings → Security key → Manage: the passkey list and delete, with
//! authenticatorCredentialManagement (CTAP 2.1 §6.8; the FIDO_2_1_PRE command 0x41 on cards
//! that list `credentialMgmtPreview`).

use ctap_types::CtapError;
use ctap_types::cbor::Value;
use ctap_types::params::cred_mgmt::{param, response, subcommand};
use ctap_types::permission;

use super::{RP_ID, State};
use crate::client::ClientError;
use crate::client_pin::Token;
use crate::persona::{Stop, Verdict};
use crate::pin_protocol;

/// The credential ids under [`RP_ID`], via enumerateCredentials (§6.8.4); none when the card
/// answers CTAP2_ERR_NO_CREDENTIALS.
fn enumerate(s: &mut State<'_>, command: u8, token: &Token) -> Result<Vec<Vec<u8>>, Stop> {
    let rp_hash = pin_protocol::sha256(RP_ID.as_bytes());
    let params = Value::int_map(vec![(param::RP_ID_HASH, Value::bytes(rp_hash.as_slice()))]);
    let id_of = |v: &Value| {
        v.get_int(response::CREDENTIAL_ID.into())
            .and_then(|d| d.get_text("id"))
            .and_then(|v| v.as_bytes().ok())
            .map(<[u8]>::to_vec)
    };
    let first = match s.client.cred_mgmt(
        command,
        "credMgmt enumerateCredentialsBegin",
        subcommand::ENUMERATE_CREDENTIALS_BEGIN,
        Some(params),
        Some(token),
    ) {
        Ok(v) => v,
        Err(ClientError::Ctap(c)) if c == CtapError::NoCredentials.code() => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let total = first
        .get_int(response::TOTAL_CREDENTIALS.into())
        .and_then(|v| v.as_unsigned().ok())
        .unwrap_or(1);
    let mut ids: Vec<Vec<u8>> = id_of(&first).into_iter().collect();
    for _ in 1..total.min(256) {
        let next = s.client.cred_mgmt(
            command,
            "credMgmt enumerateCredentialsGetNextCredential",
            subcommand::ENUMERATE_CREDENTIALS_GET_NEXT_CREDENTIAL,
            None,
            None,
        )?;
        ids.extend(id_of(&next));
    }
    Ok(ids)
}

fn cred_mgmt_setup(s: &mut State<'_>) -> Result<(u8, Token), Stop> {
    let Some(command) = s.info()?.cred_mgmt_command() else {
        // Without credential management nothing can delete them short of a reset.
        let left = match s.registered.len() {
            0 => String::new(),
            n => format!("; the persona's {n} passkey(s) stay on the card under {RP_ID}"),
        };
        return Err(Stop::Skip(format!(
            "the card lists neither credMgmt nor credentialMgmtPreview: Windows Settings \
             shows no passkey list for it{left}"
        )));
    };
    match s.token(permission::CREDENTIAL_MANAGEMENT, None)? {
        Some(t) => Ok((command, t)),
        None => Err(Stop::Skip(
            "credentialManagement needs a PIN; the card has none".into(),
        )),
    }
}

pub(super) fn list_passkeys(s: &mut State<'_>) -> Verdict {
    let (command, token) = cred_mgmt_setup(s)?;
    let meta = s.client.cred_mgmt(
        command,
        "credMgmt getCredsMetadata",
        subcommand::GET_CREDS_METADATA,
        None,
        Some(&token),
    )?;
    let existing = meta
        .get_int(response::EXISTING_RESIDENT_CREDENTIALS_COUNT.into())
        .and_then(|v| v.as_unsigned().ok());
    s.client.cred_mgmt(
        command,
        "credMgmt enumerateRPsBegin",
        subcommand::ENUMERATE_RPS_BEGIN,
        None,
        Some(&token),
    )?;
    let ids = enumerate(s, command, &token)?;
    let missing = s
        .registered
        .iter()
        .filter(|r| !ids.contains(&r.credential_id))
        .count();
    if missing > 0 {
        return Err(Stop::Fail(format!(
            "{missing} registered passkey(s) not in the list"
        )));
    }
    Ok(format!(
        "{} passkey(s) under {RP_ID}; {} in all on the card",
        ids.len(),
        existing.map_or_else(|| "?".into(), |n| n.to_string())
    ))
}

pub(super) fn delete_passkeys(s: &mut State<'_>) -> Verdict {
    let (command, token) = cred_mgmt_setup(s)?;
    let ids = enumerate(s, command, &token)?;
    // Everything under the persona's own relying party was made by the persona.
    for id in &ids {
        s.client.delete_credential(command, id, &token)?;
    }
    let left = enumerate(s, command, &token)?;
    if !left.is_empty() {
        return Err(Stop::Fail(format!(
            "{} passkey(s) still listed after deleteCredential",
            left.len()
        )));
    }
    s.registered.clear();
    Ok(format!(
        "deleted {} passkey(s); the list is empty",
        ids.len()
    ))
}
