//! The platform side of PIN/UV auth protocols 1 and 2 (CTAP 2.1 §6.5.6, §6.5.7) for the tests:
//! a thin adapter over `fido_host::pin_protocol`, which is written from the specification with
//! RustCrypto directly — not with the card's `pin_protocol` module — so a bug shared by both
//! sides cannot hide. The adapter keeps the tests reproducible: the platform key comes from a
//! seed and protocol 2's IVs from a counter, so every trace is the same on every run.

use ctap_types::cbor::Value;
use fido_applet::crypto::sha256;
use fido_host::pin_protocol::{self, Protocol, SharedSecret};

fn protocol_of(number: u8) -> Protocol {
    Protocol::from_number(number.into()).expect("PIN/UV auth protocol 1 or 2")
}

/// A shared secret as the platform derives it.
pub struct HostSecret {
    pub protocol: u8,
    secret: SharedSecret,
    /// The platform's key-agreement public key, as a COSE_Key.
    pub cose: Value,
    iv_counter: u8,
}

impl HostSecret {
    /// ECDH with the card's COSE_Key from getKeyAgreement, then the protocol's KDF
    /// (SHA-256 for protocol 1, HKDF-SHA-256 for protocol 2).
    pub fn agree(protocol: u8, card_key: &Value, seed: u8) -> Self {
        assert_eq!(
            card_key.get_int(3),
            Some(&Value::int(-25)),
            "alg ECDH-ES+HKDF-256"
        );
        let private_key = sha256(&[b"host key ".as_slice(), &[seed]].concat());
        let secret =
            pin_protocol::encapsulate_with_key(protocol_of(protocol), card_key, private_key)
                .expect("the card's key agreement key is a P-256 COSE_Key");
        Self {
            protocol,
            cose: secret.platform_key.clone(),
            secret,
            iv_counter: 0,
        }
    }

    /// AES-256-CBC; protocol 2 prepends a fresh IV.
    pub fn encrypt(&mut self, plain: &[u8]) -> Vec<u8> {
        assert_eq!(plain.len() % 16, 0);
        if self.protocol == 2 {
            self.iv_counter = self.iv_counter.wrapping_add(1);
        }
        self.secret.encrypt_with_iv(plain, [self.iv_counter; 16])
    }

    pub fn decrypt(&self, ct: &[u8]) -> Vec<u8> {
        self.secret.decrypt(ct).expect("whole AES blocks")
    }

    pub fn authenticate(&self, message: &[u8]) -> Vec<u8> {
        self.secret.authenticate(message)
    }

    /// newPinEnc: the PIN padded with zeros to 64 bytes, encrypted.
    pub fn padded_pin(&mut self, pin: &[u8]) -> Vec<u8> {
        let mut padded = pin.to_vec();
        padded.resize(64, 0);
        self.encrypt(&padded)
    }

    /// pinHashEnc: LEFT(SHA-256(pin), 16), encrypted.
    pub fn pin_hash_enc(&mut self, pin: &str) -> Vec<u8> {
        self.encrypt(&pin_protocol::pin_hash(pin))
    }

    /// A getPinToken (`sub` 5, §6.5.5.7.1) or getPinUvAuthTokenUsingPinWithPermissions (`sub` 9,
    /// §6.5.5.7.2) request with this platform key, without permissions or rpId:
    /// `{1: protocol, 2: subCommand, 3: keyAgreement, 6: pinHashEnc}`.
    pub fn token_request(&self, sub: i64, pin_hash_enc: Vec<u8>) -> Vec<(Value, Value)> {
        vec![
            (Value::int(1), Value::int(self.protocol.into())),
            (Value::int(2), Value::int(sub)),
            (Value::int(3), self.cose.clone()),
            (Value::int(6), Value::bytes(pin_hash_enc)),
        ]
    }

    /// The hmac-secret extension input (§12.5) for the encrypted salts `salt_enc`:
    /// `{1: keyAgreement, 2: saltEnc, 3: saltAuth, 4: pinUvAuthProtocol}`.
    pub fn hmac_secret_input(&self, salt_enc: &[u8]) -> Value {
        Value::Map(vec![
            (Value::int(1), self.cose.clone()),
            (Value::int(2), Value::bytes(salt_enc)),
            (Value::int(3), Value::bytes(self.authenticate(salt_enc))),
            (Value::int(4), Value::int(self.protocol.into())),
        ])
    }

    /// A setPIN request (§6.5.5.5), or changePIN (§6.5.5.6) when `pin_hash_enc` is given, with
    /// this platform key and the pinUvAuthParam `param` as given (tests send wrong ones):
    /// `{1: protocol, 2: subCommand, 3: keyAgreement, 4: pinUvAuthParam, 5: newPinEnc,
    /// 6: pinHashEnc}`.
    pub fn pin_request(
        &self,
        param: Vec<u8>,
        new_pin_enc: Vec<u8>,
        pin_hash_enc: Option<Vec<u8>>,
    ) -> Vec<(Value, Value)> {
        let sub = if pin_hash_enc.is_some() { 4 } else { 3 };
        let mut req = vec![
            (Value::int(1), Value::int(self.protocol.into())),
            (Value::int(2), Value::int(sub)),
            (Value::int(3), self.cose.clone()),
            (Value::int(4), Value::bytes(param)),
            (Value::int(5), Value::bytes(new_pin_enc)),
        ];
        if let Some(hash) = pin_hash_enc {
            req.push((Value::int(6), Value::bytes(hash)));
        }
        req
    }
}

/// authenticate(key, message) of §6.5.6 / §6.5.7.
pub fn authenticate(protocol: u8, key: &[u8], message: &[u8]) -> Vec<u8> {
    protocol_of(protocol).authenticate(key, message)
}

/// HMAC-SHA-256.
pub fn hmac(key: &[u8], message: &[u8]) -> [u8; 32] {
    pin_protocol::hmac_sha256(key, message)
}

/// A pinUvAuthToken the platform holds.
#[derive(Clone)]
pub struct Token {
    pub protocol: u8,
    pub bytes: Vec<u8>,
}

impl Token {
    /// pinUvAuthParam = authenticate(token, message).
    pub fn param(&self, message: &[u8]) -> Vec<u8> {
        authenticate(self.protocol, &self.bytes, message)
    }

    /// The same token bytes presented under `protocol` (a token the card did not issue so).
    pub fn as_protocol(&self, protocol: u8) -> Token {
        Token {
            protocol,
            bytes: self.bytes.clone(),
        }
    }
}
