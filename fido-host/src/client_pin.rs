//! authenticatorClientPIN, host side (CTAP 2.1 §6.5): PIN retries, key agreement, setPIN,
//! changePIN, pinUvAuthTokens with and without permissions, and the hmac-secret extension's
//! salts (§12.5), over the PIN/UV auth protocols of [`crate::pin_protocol`].

use ctap_types::ExtensionId;
use ctap_types::cbor::Value;
use ctap_types::command;
use ctap_types::params::client_pin::{request as key, response, subcommand};

use crate::client::{Client, ClientError};
use crate::pin_protocol::{self, Protocol, SharedSecret};

/// A pinUvAuthToken and the protocol it belongs to.
#[derive(Clone)]
pub struct Token {
    pub protocol: Protocol,
    pub token: Vec<u8>,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("protocol", &self.protocol)
            .finish_non_exhaustive()
    }
}

impl Token {
    /// pinUvAuthParam = authenticate(pinUvAuthToken, message).
    pub fn auth(&self, message: &[u8]) -> Vec<u8> {
        self.protocol.authenticate(&self.token, message)
    }
}

impl Client {
    /// clientPIN subcommand `sub` under `protocol`, which every subcommand names (CTAP 2.1
    /// §6.5.5), with the subcommand's own `params`; an empty answer is Null.
    fn client_pin(
        &mut self,
        label: &str,
        protocol: Protocol,
        sub: u64,
        params: Vec<(u64, Value)>,
    ) -> Result<Value, ClientError> {
        let mut all = vec![
            (
                key::PIN_UV_AUTH_PROTOCOL,
                Value::Unsigned(protocol.number()),
            ),
            (key::SUBCOMMAND, Value::Unsigned(sub)),
        ];
        all.extend(params);
        let body = self.ctap(label, command::CLIENT_PIN, Some(&Value::int_map(all)))?;
        Ok(body.unwrap_or(Value::Null))
    }

    pub fn get_retries(&mut self, protocol: Protocol) -> Result<u64, ClientError> {
        let body = self.client_pin(
            "clientPIN getPINRetries",
            protocol,
            subcommand::GET_PIN_RETRIES,
            Vec::new(),
        )?;
        body.get_int(response::PIN_RETRIES.into())
            .and_then(|v| v.as_unsigned().ok())
            .ok_or_else(|| ClientError::Malformed("getPINRetries: no pinRetries (0x03)".into()))
    }

    /// getKeyAgreement and encapsulate: a fresh shared secret with the card.
    pub fn shared_secret(&mut self, protocol: Protocol) -> Result<SharedSecret, ClientError> {
        let body = self.client_pin(
            "clientPIN getKeyAgreement",
            protocol,
            subcommand::GET_KEY_AGREEMENT,
            Vec::new(),
        )?;
        let key = body
            .get_int(response::KEY_AGREEMENT.into())
            .ok_or_else(|| {
                ClientError::Malformed("getKeyAgreement: no keyAgreement (0x01)".into())
            })?;
        Ok(pin_protocol::encapsulate(protocol, key)?)
    }

    pub fn set_pin(&mut self, protocol: Protocol, pin: &str) -> Result<(), ClientError> {
        self.send_new_pin(protocol, pin, None)
    }

    pub fn change_pin(
        &mut self,
        protocol: Protocol,
        old: &str,
        new: &str,
    ) -> Result<(), ClientError> {
        self.send_new_pin(protocol, new, Some(old))
    }

    /// setPIN (CTAP 2.1 §6.5.5.5) or, with the `old` PIN, changePIN (§6.5.5.6): the new PIN
    /// (and the old PIN's hash) encrypted to a fresh shared secret, pinUvAuthParam over
    /// newPinEnc (|| pinHashEnc).
    fn send_new_pin(
        &mut self,
        protocol: Protocol,
        new: &str,
        old: Option<&str>,
    ) -> Result<(), ClientError> {
        let shared = self.shared_secret(protocol)?;
        let new_pin_enc = shared.encrypt(&pin_protocol::padded_pin(new))?;
        let pin_hash_enc = old
            .map(|old| shared.encrypt(&pin_protocol::pin_hash(old)))
            .transpose()?;
        let mut signed = new_pin_enc.clone();
        signed.extend(pin_hash_enc.iter().flatten());
        let auth = shared.authenticate(&signed);
        let (label, sub) = match pin_hash_enc {
            Some(_) => ("clientPIN changePIN", subcommand::CHANGE_PIN),
            None => ("clientPIN setPIN", subcommand::SET_PIN),
        };
        let mut params = vec![
            (key::KEY_AGREEMENT, shared.platform_key.clone()),
            (key::PIN_UV_AUTH_PARAM, Value::Bytes(auth)),
            (key::NEW_PIN_ENC, Value::Bytes(new_pin_enc)),
        ];
        if let Some(enc) = pin_hash_enc {
            params.push((key::PIN_HASH_ENC, Value::Bytes(enc)));
        }
        self.client_pin(label, protocol, sub, params).map(|_| ())
    }

    /// A pinUvAuthToken: with `permissions` (CTAP 2.1 subcommand 0x09, with the rpId when
    /// given), or without (getPinToken 0x05, CTAP 2.0).
    pub fn get_token(
        &mut self,
        protocol: Protocol,
        pin: &str,
        permissions: Option<(u8, Option<&str>)>,
    ) -> Result<Token, ClientError> {
        let shared = self.shared_secret(protocol)?;
        let pin_hash_enc = shared.encrypt(&pin_protocol::pin_hash(pin))?;
        let mut params = vec![
            (key::KEY_AGREEMENT, shared.platform_key.clone()),
            (key::PIN_HASH_ENC, Value::Bytes(pin_hash_enc)),
        ];
        let (label, sub) = match permissions {
            Some((perms, rp_id)) => {
                params.push((key::PERMISSIONS, Value::Unsigned(u64::from(perms))));
                if let Some(rp) = rp_id {
                    params.push((key::RP_ID, Value::text(rp)));
                }
                (
                    "clientPIN getPinUvAuthTokenUsingPinWithPermissions",
                    subcommand::GET_PIN_UV_AUTH_TOKEN_USING_PIN_WITH_PERMISSIONS,
                )
            }
            None => ("clientPIN getPinToken", subcommand::GET_PIN_TOKEN),
        };
        let body = self.client_pin(label, protocol, sub, params)?;
        let enc = body
            .get_int(response::PIN_UV_AUTH_TOKEN.into())
            .and_then(|v| v.as_bytes().ok())
            .ok_or_else(|| ClientError::Malformed("no pinUvAuthToken (0x02)".into()))?;
        let token = shared.decrypt(enc)?;
        Ok(Token { protocol, token })
    }

    /// The hmac-secret getAssertion extension input for `salts` (one or two 32-byte salts),
    /// with the shared secret needed to decrypt the output (CTAP 2.1 §12.5).
    pub fn hmac_secret_input(
        &mut self,
        protocol: Protocol,
        salts: &[[u8; 32]],
    ) -> Result<(Value, SharedSecret), ClientError> {
        let shared = self.shared_secret(protocol)?;
        let plain: Vec<u8> = salts.iter().flatten().copied().collect();
        let salt_enc = shared.encrypt(&plain)?;
        let salt_auth = shared.authenticate(&salt_enc);
        // hmac-secret input (§12.5): keyAgreement 1, saltEnc 2, saltAuth 3, pinUvAuthProtocol 4.
        let mut input = vec![
            (1, shared.platform_key.clone()),
            (2, Value::Bytes(salt_enc)),
            (3, Value::Bytes(salt_auth)),
        ];
        if protocol != Protocol::One {
            input.push((4, Value::Unsigned(protocol.number())));
        }
        Ok((
            Value::text_map(vec![(
                ExtensionId::HmacSecret.as_str(),
                Value::int_map(input),
            )]),
            shared,
        ))
    }
}
