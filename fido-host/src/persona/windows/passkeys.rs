//! Settings → Security key → Manage: the passkey list and delete, with
//! authenticatorCredentialManagement (CTAP 2.1 §6.8; the FIDO_2_1_PRE command 0x41 on cards
//! that list `credentialMgmtPreview`).

use ctap_types::permission;

use super::{RP_ID, State};
use crate::client_pin::Token;
use crate::persona::{Stop, Verdict};
use crate::pin_protocol;

/// The credential ids under [`RP_ID`] (none when the card has none).
fn enumerate(s: &mut State<'_>, command: u8, token: &Token) -> Result<Vec<Vec<u8>>, Stop> {
    let rp_hash = pin_protocol::sha256(RP_ID.as_bytes());
    Ok(s.client.enumerate_credentials(command, &rp_hash, token)?)
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
    let existing = s.client.creds_metadata(command, &token)?.existing;
    // Settings lists the relying parties, then each one's passkeys.
    s.client.enumerate_rps(command, &token)?;
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
