//! The management commands, host side: authenticatorCredentialManagement (CTAP 2.1 §6.8, and
//! the FIDO_2_1_PRE prototype 0x41 of §6.12), authenticatorConfig (§6.11) and
//! authenticatorLargeBlobs (§6.10).

use ctap_types::CtapError;
use ctap_types::cbor::Value;
use ctap_types::command;
use ctap_types::params::{config, cred_mgmt, large_blobs};
use ctap_types::vocab::PUBLIC_KEY;

use crate::client::{Client, ClientError};
use crate::client_pin::Token;
use crate::pin_protocol::sha256;

/// getCredsMetadata's answer (CTAP 2.1 §6.8.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CredsMetadata {
    /// existingResidentCredentialsCount.
    pub existing: Option<u64>,
    /// maxPossibleRemainingResidentCredentialsCount.
    pub remaining: Option<u64>,
}

/// A credMgmt enumeration: its begin and get-next subcommands (with their labels in the
/// recording) and the member of the first answer that gives the total.
struct Enumeration {
    begin: (&'static str, u64),
    next: (&'static str, u64),
    total: u64,
}

/// enumerateRPs (CTAP 2.1 §6.8.3).
const RPS: Enumeration = Enumeration {
    begin: (
        "credMgmt enumerateRPsBegin",
        cred_mgmt::subcommand::ENUMERATE_RPS_BEGIN,
    ),
    next: (
        "credMgmt enumerateRPsGetNextRP",
        cred_mgmt::subcommand::ENUMERATE_RPS_GET_NEXT_RP,
    ),
    total: cred_mgmt::response::TOTAL_RPS,
};

/// enumerateCredentials (CTAP 2.1 §6.8.4).
const CREDENTIALS: Enumeration = Enumeration {
    begin: (
        "credMgmt enumerateCredentialsBegin",
        cred_mgmt::subcommand::ENUMERATE_CREDENTIALS_BEGIN,
    ),
    next: (
        "credMgmt enumerateCredentialsGetNextCredential",
        cred_mgmt::subcommand::ENUMERATE_CREDENTIALS_GET_NEXT_CREDENTIAL,
    ),
    total: cred_mgmt::response::TOTAL_CREDENTIALS,
};

/// The 32 bytes of 0xFF that begin the pinUvAuthParam message of authenticatorConfig (§6.11)
/// and authenticatorLargeBlobs (§6.10.2).
const AUTH_PREFIX: [u8; 32] = [0xFF; 32];

/// authenticatorConfig's pinUvAuthParam message (§6.11 step 4.2):
/// 32×0xFF ‖ 0x0D ‖ uint8(subCommand) ‖ subCommandParams.
pub fn config_auth_message(sub: u64, sub_params: Option<&Value>) -> Vec<u8> {
    let mut m = AUTH_PREFIX.to_vec();
    m.push(command::CONFIG);
    m.push(u8::try_from(sub).unwrap_or(u8::MAX));
    if let Some(sp) = sub_params {
        m.extend_from_slice(&sp.to_vec());
    }
    m
}

/// authenticatorLargeBlobs set's pinUvAuthParam message (§6.10.2):
/// 32×0xFF ‖ h'0C00' ‖ uint32LittleEndian(offset) ‖ SHA-256(set).
pub fn large_blob_auth_message(offset: u32, fragment: &[u8]) -> Vec<u8> {
    let mut m = AUTH_PREFIX.to_vec();
    m.extend_from_slice(&[command::LARGE_BLOBS, 0x00]);
    m.extend_from_slice(&offset.to_le_bytes());
    m.extend_from_slice(&sha256(fragment));
    m
}

impl Client {
    /// credentialManagement (CTAP 2.1 §6.8) with `command` 0x0A or 0x41. Subcommands that take
    /// a pinUvAuthParam get one from `token` over subCommand ‖ subCommandParams.
    pub fn cred_mgmt(
        &mut self,
        command: u8,
        label: &str,
        sub: u64,
        sub_params: Option<Value>,
        token: Option<&Token>,
    ) -> Result<Value, ClientError> {
        use cred_mgmt::request as key;
        let mut params = vec![(key::SUBCOMMAND, Value::Unsigned(sub))];
        // §6.8: pinUvAuthParam = authenticate(token, subCommand ‖ subCommandParams); every
        // subcommand number fits its byte.
        let mut signed = vec![u8::try_from(sub).unwrap_or(u8::MAX)];
        if let Some(sp) = &sub_params {
            signed.extend_from_slice(&sp.to_vec());
            params.push((key::SUBCOMMAND_PARAMS, sp.clone()));
        }
        if let Some(t) = token {
            params.push((
                key::PIN_UV_AUTH_PROTOCOL,
                Value::Unsigned(t.protocol.number()),
            ));
            params.push((key::PIN_UV_AUTH_PARAM, Value::Bytes(t.auth(&signed))));
        }
        Ok(self
            .ctap(label, command, Some(&Value::int_map(params)))?
            .unwrap_or(Value::Map(Vec::new())))
    }

    /// credentialManagement deleteCredential (CTAP 2.1 §6.8.5) of the credential `id`, authorized
    /// by `token` (cm permission).
    pub fn delete_credential(
        &mut self,
        command: u8,
        id: &[u8],
        token: &Token,
    ) -> Result<Value, ClientError> {
        let descriptor = Value::text_map(vec![
            ("id", Value::bytes(id)),
            ("type", Value::text(PUBLIC_KEY)),
        ]);
        let params = Value::int_map(vec![(cred_mgmt::param::CREDENTIAL_ID, descriptor)]);
        self.cred_mgmt(
            command,
            "credMgmt deleteCredential",
            cred_mgmt::subcommand::DELETE_CREDENTIAL,
            Some(params),
            Some(token),
        )
    }

    /// getCredsMetadata (CTAP 2.1 §6.8.2): how many discoverable credentials the card holds and
    /// how many more it can take, each `None` when the card leaves it out.
    pub fn creds_metadata(
        &mut self,
        command: u8,
        token: &Token,
    ) -> Result<CredsMetadata, ClientError> {
        use cred_mgmt::{response, subcommand};
        let meta = self.cred_mgmt(
            command,
            "credMgmt getCredsMetadata",
            subcommand::GET_CREDS_METADATA,
            None,
            Some(token),
        )?;
        let count = |key: u64| meta.get_int(key.into()).and_then(|v| v.as_unsigned().ok());
        Ok(CredsMetadata {
            existing: count(response::EXISTING_RESIDENT_CREDENTIALS_COUNT),
            remaining: count(response::MAX_POSSIBLE_REMAINING_RESIDENT_CREDENTIALS_COUNT),
        })
    }

    /// The rpIDHash of every relying party with discoverable credentials: enumerateRPsBegin then
    /// enumerateRPsGetNextRP until totalRPs is reached (CTAP 2.1 §6.8.3); a card with none
    /// answers CTAP2_ERR_NO_CREDENTIALS, the empty list here. An answer without an rpIDHash
    /// adds nothing; at most 256 are read whatever the card claims.
    pub fn enumerate_rps(
        &mut self,
        command: u8,
        token: &Token,
    ) -> Result<Vec<Vec<u8>>, ClientError> {
        self.enumerate(command, &RPS, None, token, |v| {
            v.get_int(cred_mgmt::response::RP_ID_HASH.into())
                .and_then(|v| v.as_bytes().ok())
                .map(<[u8]>::to_vec)
        })
    }

    /// The credential ids stored under the relying party whose SHA-256 is `rp_id_hash`:
    /// enumerateCredentialsBegin then enumerateCredentialsGetNextCredential until
    /// totalCredentials is reached (CTAP 2.1 §6.8.4). A card with none answers
    /// CTAP2_ERR_NO_CREDENTIALS (§6.8.4 step 2), which is an empty list here. A missing
    /// totalCredentials counts as the one credential of the first answer; at most 256 are read
    /// whatever the card claims.
    pub fn enumerate_credentials(
        &mut self,
        command: u8,
        rp_id_hash: &[u8],
        token: &Token,
    ) -> Result<Vec<Vec<u8>>, ClientError> {
        use cred_mgmt::{param, response};
        let params = Value::int_map(vec![(param::RP_ID_HASH, Value::bytes(rp_id_hash))]);
        self.enumerate(command, &CREDENTIALS, Some(params), token, |v| {
            v.get_int(response::CREDENTIAL_ID.into())
                .and_then(|d| d.get_text("id"))
                .and_then(|v| v.as_bytes().ok())
                .map(<[u8]>::to_vec)
        })
    }

    /// One of credMgmt's enumerations: `begin` (with `params`, authorized by `token`), then
    /// `get next` until the first answer's total is reached. A card with nothing to list answers
    /// CTAP2_ERR_NO_CREDENTIALS (§6.8.3, §6.8.4 step 2): the empty list here. A missing total
    /// counts as the one item of the first answer; at most 256 are read whatever the card
    /// claims. `item` picks an answer's item; an answer without one adds nothing.
    fn enumerate(
        &mut self,
        command: u8,
        what: &Enumeration,
        params: Option<Value>,
        token: &Token,
        item: impl Fn(&Value) -> Option<Vec<u8>>,
    ) -> Result<Vec<Vec<u8>>, ClientError> {
        let (begin_label, begin) = what.begin;
        let first = match self.cred_mgmt(command, begin_label, begin, params, Some(token)) {
            Ok(v) => v,
            Err(ClientError::Ctap(c)) if c == CtapError::NoCredentials.code() => {
                return Ok(Vec::new());
            }
            Err(e) => return Err(e),
        };
        let total = first
            .get_int(what.total.into())
            .and_then(|v| v.as_unsigned().ok())
            .unwrap_or(1);
        let mut items: Vec<Vec<u8>> = item(&first).into_iter().collect();
        let (next_label, next) = what.next;
        for _ in 1..total.min(256) {
            let answer = self.cred_mgmt(command, next_label, next, None, None)?;
            items.extend(item(&answer));
        }
        Ok(items)
    }

    /// authenticatorConfig (§6.11) subcommand `sub`, authorized by `token` (acfg permission)
    /// when given.
    pub fn config(
        &mut self,
        label: &str,
        sub: u64,
        sub_params: Option<Value>,
        token: Option<&Token>,
    ) -> Result<(), ClientError> {
        use config::request as key;
        let mut params = vec![(key::SUBCOMMAND, Value::Unsigned(sub))];
        if let Some(t) = token {
            let message = config_auth_message(sub, sub_params.as_ref());
            params.push((
                key::PIN_UV_AUTH_PROTOCOL,
                Value::Unsigned(t.protocol.number()),
            ));
            params.push((key::PIN_UV_AUTH_PARAM, Value::Bytes(t.auth(&message))));
        }
        if let Some(sp) = sub_params {
            params.push((key::SUBCOMMAND_PARAMS, sp));
        }
        self.ctap(label, command::CONFIG, Some(&Value::int_map(params)))
            .map(|_| ())
    }

    /// authenticatorLargeBlobs get (§6.10.2): `count` bytes of the serialized array from
    /// `offset`.
    pub fn large_blobs_get(&mut self, offset: u64, count: u64) -> Result<Vec<u8>, ClientError> {
        use large_blobs::{request as key, response};
        let params = Value::int_map([
            (key::GET, Value::Unsigned(count)),
            (key::OFFSET, Value::Unsigned(offset)),
        ]);
        let body = self.ctap_body("largeBlobs get", command::LARGE_BLOBS, Some(&params))?;
        body.get_int(response::CONFIG.into())
            .and_then(|v| v.as_bytes().ok())
            .map(<[u8]>::to_vec)
            .ok_or_else(|| ClientError::Malformed("largeBlobs get: no config (0x01)".into()))
    }

    /// authenticatorLargeBlobs set (§6.10.2): one fragment at `offset`; the first fragment
    /// (offset 0) carries the total `length`.
    pub fn large_blobs_set(
        &mut self,
        offset: u32,
        fragment: &[u8],
        length: Option<u64>,
        token: Option<&Token>,
    ) -> Result<(), ClientError> {
        use large_blobs::request as key;
        let mut params = vec![
            (key::SET, Value::bytes(fragment)),
            (key::OFFSET, Value::Unsigned(u64::from(offset))),
        ];
        if let Some(length) = length {
            params.push((key::LENGTH, Value::Unsigned(length)));
        }
        if let Some(t) = token {
            let message = large_blob_auth_message(offset, fragment);
            params.push((key::PIN_UV_AUTH_PARAM, Value::Bytes(t.auth(&message))));
            params.push((
                key::PIN_UV_AUTH_PROTOCOL,
                Value::Unsigned(t.protocol.number()),
            ));
        }
        self.ctap(
            "largeBlobs set",
            command::LARGE_BLOBS,
            Some(&Value::int_map(params)),
        )
        .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_messages_follow_the_spec_layout() {
        let m = config_auth_message(0x03, Some(&Value::int_map([(1, Value::Unsigned(6))])));
        assert_eq!(&m[..32], &[0xFF; 32]);
        assert_eq!(&m[32..], &[0x0D, 0x03, 0xA1, 0x01, 0x06]);
        let m = large_blob_auth_message(0x0102_0304, b"x");
        assert_eq!(&m[32..38], &[0x0C, 0x00, 0x04, 0x03, 0x02, 0x01]);
        assert_eq!(&m[38..], &sha256(b"x"));
        assert_eq!(m.len(), 32 + 2 + 4 + 32);
    }
}
