//! The test host shared by the reliability suites (`tearing`, `state_machine`, `bad_input`): a
//! virtual card on any [`Storage`], driven only through APDUs, and the platform side of PIN/UV
//! auth protocol 2 (CTAP 2.1 §6.5.7) written from the specification with RustCrypto directly.
//!
//! Each suite is its own test crate and uses a different part of this module.
#![allow(dead_code)]

use aes::Aes256;
use aes::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use apdu::Card;
use apdu::storage::{MemoryStorage, Storage, StorageError, decode_image};
use fido_applet::crypto::sha256;
use fido_applet::ctap::cbor::{self, IntMap, TextMap, Value};
use fido_applet::platform::{ManualClock, Platform};
use fido_applet::profile::Profile;
use fido_applet::state::State;
use fido_applet::{AppletError, virtual_card};
use hmac::{Hmac, KeyInit, Mac};
use p256::elliptic_curve::point::AffineCoordinates;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

pub const SELECT: [u8; 14] = [
    0x00, 0xA4, 0x04, 0x00, 0x08, 0xA0, 0x00, 0x00, 0x06, 0x47, 0x2F, 0x00, 0x01, 0x00,
];

// CTAP status codes (CTAP 2.1 §8.2).
pub const OK: u8 = 0x00;
pub const INVALID_COMMAND: u8 = 0x01;
pub const INVALID_PARAMETER: u8 = 0x02;
pub const INVALID_LENGTH: u8 = 0x03;
pub const CBOR_UNEXPECTED_TYPE: u8 = 0x11;
pub const INVALID_CBOR: u8 = 0x12;
pub const MISSING_PARAMETER: u8 = 0x14;
pub const LIMIT_EXCEEDED: u8 = 0x15;
pub const UNSUPPORTED_ALGORITHM: u8 = 0x26;
pub const OPERATION_DENIED: u8 = 0x27;
pub const UNSUPPORTED_OPTION: u8 = 0x2B;
pub const INVALID_OPTION: u8 = 0x2C;
pub const NO_CREDENTIALS: u8 = 0x2E;
pub const NOT_ALLOWED: u8 = 0x30;
pub const PIN_INVALID: u8 = 0x31;
pub const PIN_BLOCKED: u8 = 0x32;
pub const PIN_AUTH_INVALID: u8 = 0x33;
pub const PIN_AUTH_BLOCKED: u8 = 0x34;
pub const PIN_NOT_SET: u8 = 0x35;
pub const PUAT_REQUIRED: u8 = 0x36;
pub const PIN_POLICY_VIOLATION: u8 = 0x37;
pub const REQUEST_TOO_LARGE: u8 = 0x39;
pub const INVALID_SUBCOMMAND: u8 = 0x3E;
pub const UNAUTHORIZED_PERMISSION: u8 = 0x40;
pub const OTHER: u8 = 0x7F;

pub const FLAG_UP: u8 = 0x01;
pub const FLAG_UV: u8 = 0x04;

/// Token permissions (§6.5.5.7).
pub const PERM_MC: u64 = 0x01;
pub const PERM_GA: u64 = 0x02;

pub const PIN: &str = "1234";

pub fn int(n: i64) -> Value {
    Value::int(n)
}

pub fn text(s: &str) -> Value {
    Value::text(s)
}

pub fn cdh(tag: &str) -> Vec<u8> {
    sha256(tag.as_bytes()).to_vec()
}

/// A makeCredential request (as a list of entries, so tests can replace members).
pub fn mc(rp: &str, user: &[u8], rk: bool) -> Vec<(Value, Value)> {
    vec![
        (int(1), Value::bytes(cdh("register"))),
        (
            int(2),
            Value::Map(vec![(text("id"), text(rp)), (text("name"), text("RP"))]),
        ),
        (
            int(3),
            Value::Map(vec![
                (text("id"), Value::bytes(user)),
                (text("name"), text("alice")),
                (text("displayName"), text("Alice")),
            ]),
        ),
        (
            int(4),
            Value::Array(vec![Value::Map(vec![
                (text("alg"), int(-7)),
                (text("type"), text("public-key")),
            ])]),
        ),
        (int(7), Value::Map(vec![(text("rk"), Value::Bool(rk))])),
    ]
}

/// A getAssertion request, with an allowList when `allow` is not empty.
pub fn ga(rp: &str, allow: &[&[u8]]) -> Vec<(Value, Value)> {
    let mut req = vec![(int(1), text(rp)), (int(2), Value::bytes(cdh("login")))];
    if !allow.is_empty() {
        let list = allow
            .iter()
            .map(|id| {
                Value::Map(vec![
                    (text("id"), Value::bytes(*id)),
                    (text("type"), text("public-key")),
                ])
            })
            .collect();
        req.push((int(3), Value::Array(list)));
    }
    req
}

/// Adds (or replaces) request member `key`.
pub fn set(mut req: Vec<(Value, Value)>, key: i64, value: Value) -> Vec<(Value, Value)> {
    req.retain(|(k, _)| *k != int(key));
    req.push((int(key), value));
    req
}

/// Removes request member `key`.
pub fn unset(mut req: Vec<(Value, Value)>, key: i64) -> Vec<(Value, Value)> {
    req.retain(|(k, _)| *k != int(key));
    req
}

// --- The platform side of PIN/UV auth protocol 2 (§6.5.7) -------------------------------------

/// A shared secret as the platform derives it.
pub struct HostSecret {
    hmac_key: [u8; 32],
    aes_key: [u8; 32],
    /// The platform's key-agreement public key, as a COSE_Key.
    pub cose: Value,
    iv_counter: u8,
}

impl HostSecret {
    /// ECDH with the card's COSE_Key from getKeyAgreement, then HKDF-SHA-256.
    pub fn agree(card_key: &Value, seed: u8) -> Self {
        let entries = card_key.as_map().unwrap();
        let get = |k: i64| {
            &entries
                .iter()
                .find(|(key, _)| *key == Value::int(k))
                .unwrap()
                .1
        };
        let mut sec1 = vec![0x04];
        sec1.extend_from_slice(get(-2).as_bytes().unwrap());
        sec1.extend_from_slice(get(-3).as_bytes().unwrap());
        let card = p256::PublicKey::from_sec1_bytes(&sec1).expect("the card's key is on the curve");
        let scalar: [u8; 32] = sha256(&[b"reliability host ".as_slice(), &[seed]].concat());
        let secret = p256::NonZeroScalar::from_repr(scalar.into()).unwrap();
        let public = p256::PublicKey::from_secret_scalar(&secret);
        let z = p256::ecdh::diffie_hellman(secret, card.as_affine());
        let hk = hkdf::Hkdf::<Sha256>::new(Some(&[0u8; 32]), z.raw_secret_bytes());
        let mut hmac_key = [0u8; 32];
        let mut aes_key = [0u8; 32];
        hk.expand(b"CTAP2 HMAC key", &mut hmac_key).unwrap();
        hk.expand(b"CTAP2 AES key", &mut aes_key).unwrap();
        let affine = public.as_affine();
        let x: [u8; 32] = affine.x().into();
        let y: [u8; 32] = affine.y().into();
        let cose = Value::Map(vec![
            (int(1), int(2)),
            (int(3), int(-25)),
            (int(-1), int(1)),
            (int(-2), Value::bytes(x.to_vec())),
            (int(-3), Value::bytes(y.to_vec())),
        ]);
        Self {
            hmac_key,
            aes_key,
            cose,
            iv_counter: 0,
        }
    }

    pub fn encrypt(&mut self, plain: &[u8]) -> Vec<u8> {
        assert_eq!(plain.len() % 16, 0);
        self.iv_counter = self.iv_counter.wrapping_add(1);
        let iv = [self.iv_counter; 16];
        let mut out = iv.to_vec();
        let mut enc = cbc::Encryptor::<Aes256>::new(&self.aes_key.into(), &iv.into());
        for chunk in plain.chunks(16) {
            let mut block: [u8; 16] = chunk.try_into().unwrap();
            enc.encrypt_block((&mut block).into());
            out.extend_from_slice(&block);
        }
        out
    }

    pub fn decrypt(&self, ct: &[u8]) -> Vec<u8> {
        let iv: [u8; 16] = ct[..16].try_into().unwrap();
        let mut dec = cbc::Decryptor::<Aes256>::new(&self.aes_key.into(), &iv.into());
        let mut out = Vec::new();
        for chunk in ct[16..].chunks(16) {
            let mut block: [u8; 16] = chunk.try_into().unwrap();
            dec.decrypt_block((&mut block).into());
            out.extend_from_slice(&block);
        }
        out
    }

    pub fn authenticate(&self, message: &[u8]) -> Vec<u8> {
        hmac(&self.hmac_key, message).to_vec()
    }

    pub fn padded_pin(&mut self, pin: &[u8]) -> Vec<u8> {
        let mut padded = pin.to_vec();
        padded.resize(64, 0);
        self.encrypt(&padded)
    }

    pub fn pin_hash_enc(&mut self, pin: &str) -> Vec<u8> {
        let hash = sha256(pin.as_bytes());
        self.encrypt(&hash[..16])
    }
}

pub fn hmac(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap();
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// A pinUvAuthToken (protocol 2) the platform holds.
#[derive(Clone)]
pub struct Token(pub Vec<u8>);

impl Token {
    pub fn param(&self, client_data_hash: &[u8]) -> Vec<u8> {
        hmac(&self.0, client_data_hash).to_vec()
    }
}

/// Adds pinUvAuthParam / pinUvAuthProtocol 2 for makeCredential (`param_key` 8) or
/// getAssertion (6).
pub fn with_token(req: Vec<(Value, Value)>, token: &Token, param_key: i64) -> Vec<(Value, Value)> {
    let hash = if param_key == 8 {
        cdh("register")
    } else {
        cdh("login")
    };
    let req = set(req, param_key, Value::bytes(token.param(&hash)));
    set(req, param_key + 1, int(2))
}

// --- Storage helpers --------------------------------------------------------------------------

/// Counts the writes that reach a storage, and keeps every image written, in order.
#[derive(Clone, Default)]
pub struct Recorder {
    pub writes: Arc<AtomicUsize>,
    pub images: Arc<std::sync::Mutex<Vec<Vec<u8>>>>,
}

/// A storage that records what goes through it (see [`Recorder`]).
pub struct Recording<S> {
    pub inner: S,
    pub recorder: Recorder,
}

impl<S: Storage> Storage for Recording<S> {
    fn read(&mut self) -> Result<Option<Vec<u8>>, StorageError> {
        self.inner.read()
    }
    fn write(&mut self, image: &[u8]) -> Result<(), StorageError> {
        self.inner.write(image)?;
        self.recorder.writes.fetch_add(1, Ordering::SeqCst);
        self.recorder.images.lock().unwrap().push(image.to_vec());
        Ok(())
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
}

impl Recorder {
    pub fn count(&self) -> usize {
        self.writes.load(Ordering::SeqCst)
    }
    pub fn images(&self) -> Vec<Vec<u8>> {
        self.images.lock().unwrap().clone()
    }
}

/// A fresh card's image (attestation generated), to start scenarios from.
pub fn fresh_image(seed: u64) -> Vec<u8> {
    let mem = MemoryStorage::new();
    Host::boot(Box::new(mem.clone()), seed).expect("fresh card");
    mem.image().expect("a fresh card commits its state")
}

/// A short, comparable summary of a state (for assertion messages and semantic checks).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    pub resident: Vec<(String, Vec<u8>, u64)>,
    pub sign_count: u32,
    pub pin_set: bool,
    pub retries: u8,
    pub next_creation_order: u64,
}

pub fn summary(image: &[u8]) -> Summary {
    let state: State = decode_image(image, "test image").expect("the image decodes");
    summarize(&state)
}

pub fn summarize(state: &State) -> Summary {
    let mut resident: Vec<(String, Vec<u8>, u64)> = state
        .resident
        .iter()
        .map(|c| (c.rp_id.clone(), c.user_id.clone(), c.creation_order))
        .collect();
    resident.sort();
    Summary {
        resident,
        sign_count: state.sign_count,
        pin_set: state.pin.is_set(),
        retries: state.pin.retries,
        next_creation_order: state.next_creation_order,
    }
}

// --- The host ---------------------------------------------------------------------------------

/// A parsed makeCredential answer.
pub struct Registration {
    pub auth_data: Vec<u8>,
    pub credential_id: Vec<u8>,
}

impl Registration {
    pub fn parse(v: &Value) -> Self {
        let m = IntMap::new(v).unwrap();
        let auth_data = m.required(2).unwrap().as_bytes().unwrap().to_vec();
        let id_len = u16::from_be_bytes([auth_data[53], auth_data[54]]) as usize;
        let credential_id = auth_data[55..55 + id_len].to_vec();
        Self {
            auth_data,
            credential_id,
        }
    }
    pub fn flags(&self) -> u8 {
        self.auth_data[32]
    }
}

/// A parsed getAssertion answer.
pub struct Assertion {
    pub credential_id: Vec<u8>,
    pub auth_data: Vec<u8>,
    pub user_id: Option<Vec<u8>>,
    pub number_of_credentials: Option<u64>,
}

impl Assertion {
    pub fn parse(v: &Value) -> Self {
        let m = IntMap::new(v).unwrap();
        let cred = TextMap::new(m.required(1).unwrap()).unwrap();
        let user_id = m.get(4).map(|u| {
            TextMap::new(u)
                .unwrap()
                .required("id")
                .unwrap()
                .as_bytes()
                .unwrap()
                .to_vec()
        });
        Self {
            credential_id: cred.required("id").unwrap().as_bytes().unwrap().to_vec(),
            auth_data: m.required(2).unwrap().as_bytes().unwrap().to_vec(),
            user_id,
            number_of_credentials: m.get(5).map(|n| n.as_unsigned().unwrap()),
        }
    }
    pub fn flags(&self) -> u8 {
        self.auth_data[32]
    }
    pub fn sign_count(&self) -> u32 {
        u32::from_be_bytes(self.auth_data[33..37].try_into().unwrap())
    }
}

/// A card in the field and the host talking to it.
pub struct Host {
    pub card: Card,
    pub clock: ManualClock,
    host_seed: u8,
    /// Every APDU sent through [`Host::transmit`], for fuzz corpus seeds.
    pub trace: Vec<Vec<u8>>,
}

impl Host {
    /// Builds the card on `storage` (loading its state: the power-up), powers it and selects the
    /// FIDO applet.
    pub fn boot(storage: Box<dyn Storage>, seed: u64) -> Result<Host, AppletError> {
        let (platform, clock) = Platform::seeded_with_clock(seed);
        let card = virtual_card(Profile::generic(), storage, platform)?;
        let mut host = Host {
            card,
            clock,
            host_seed: 0,
            trace: Vec::new(),
        };
        host.select();
        Ok(host)
    }

    pub fn select(&mut self) {
        let (data, sw) = self.transmit(&SELECT);
        // The generic card speaks U2F ("U2F_V2"); with alwaysUv on it answers as a CTAP2-only
        // card ("FIDO_2_0", CTAP 2.1 §6.11.2).
        assert_eq!(sw, 0x9000);
        assert!(
            data == b"U2F_V2" || data == b"FIDO_2_0",
            "SELECT answered {data:02X?}"
        );
    }

    pub fn power_cycle(&mut self) {
        self.card.power_off();
        self.card.power_on();
        self.select();
    }

    /// Sends one APDU and collects a long answer with GET RESPONSE.
    pub fn transmit(&mut self, apdu: &[u8]) -> (Vec<u8>, u16) {
        let mut out = Vec::new();
        self.trace.push(apdu.to_vec());
        let mut resp = self.card.transmit(apdu);
        loop {
            let split = resp.len() - 2;
            let sw = u16::from_be_bytes([resp[split], resp[split + 1]]);
            out.extend_from_slice(&resp[..split]);
            if sw >> 8 != 0x61 {
                return (out, sw);
            }
            let get_response = [0x00, 0xC0, 0x00, 0x00, (sw & 0xFF) as u8];
            self.trace.push(get_response.to_vec());
            resp = self.card.transmit(&get_response);
        }
    }

    /// One CTAP message in one extended NFCCTAP_MSG; returns the raw answer data and SW.
    pub fn nfcctap_msg(&mut self, message: &[u8]) -> (Vec<u8>, u16) {
        let mut apdu = vec![0x80, 0x10, 0x00, 0x00, 0x00];
        apdu.extend_from_slice(&(message.len() as u16).to_be_bytes());
        apdu.extend_from_slice(message);
        apdu.extend_from_slice(&[0x00, 0x00]);
        self.transmit(&apdu)
    }

    /// One CTAP message; returns the status byte and the CBOR body bytes.
    pub fn ctap_raw(&mut self, message: &[u8]) -> (u8, Vec<u8>) {
        let (data, sw) = self.nfcctap_msg(message);
        assert_eq!(sw, 0x9000, "CTAP answers travel in 9000");
        let (&status, body) = data.split_first().expect("status byte");
        if status != OK {
            assert!(body.is_empty(), "errors carry no CBOR");
        }
        (status, body.to_vec())
    }

    pub fn ctap(&mut self, command: u8, params: Option<&Value>) -> Result<Value, u8> {
        let mut message = vec![command];
        if let Some(p) = params {
            message.extend_from_slice(&p.to_vec());
        }
        match self.ctap_raw(&message) {
            (OK, body) if body.is_empty() => Ok(Value::Null),
            (OK, body) => Ok(cbor::parse(&body).expect("the answer is CBOR")),
            (status, _) => Err(status),
        }
    }

    pub fn client_pin(&mut self, entries: Vec<(Value, Value)>) -> Result<Value, u8> {
        self.ctap(0x06, Some(&Value::Map(entries)))
    }

    pub fn get_info(&mut self) -> Value {
        self.ctap(0x04, None).expect("getInfo")
    }

    /// getPINRetries: (pinRetries, powerCycleState).
    pub fn retries(&mut self) -> (u64, bool) {
        let v = self
            .client_pin(vec![(int(1), int(2)), (int(2), int(1))])
            .expect("getPINRetries");
        let m = IntMap::new(&v).unwrap();
        (
            m.required(3).unwrap().as_unsigned().unwrap(),
            m.get(4).map(|b| b.as_bool().unwrap()).unwrap_or(false),
        )
    }

    pub fn secret(&mut self) -> HostSecret {
        let v = self
            .client_pin(vec![(int(1), int(2)), (int(2), int(2))])
            .expect("getKeyAgreement");
        let key = IntMap::new(&v).unwrap().required(1).unwrap().clone();
        self.host_seed = self.host_seed.wrapping_add(1);
        HostSecret::agree(&key, self.host_seed)
    }

    pub fn set_pin(&mut self, pin: &[u8]) -> Result<(), u8> {
        let mut s = self.secret();
        let new_pin_enc = s.padded_pin(pin);
        let param = s.authenticate(&new_pin_enc);
        self.client_pin(vec![
            (int(1), int(2)),
            (int(2), int(3)),
            (int(3), s.cose.clone()),
            (int(4), Value::bytes(param)),
            (int(5), Value::bytes(new_pin_enc)),
        ])
        .map(|_| ())
    }

    pub fn change_pin(&mut self, current: &str, new: &[u8]) -> Result<(), u8> {
        let mut s = self.secret();
        let new_pin_enc = s.padded_pin(new);
        let pin_hash_enc = s.pin_hash_enc(current);
        let param = s.authenticate(&[new_pin_enc.as_slice(), &pin_hash_enc].concat());
        self.client_pin(vec![
            (int(1), int(2)),
            (int(2), int(4)),
            (int(3), s.cose.clone()),
            (int(4), Value::bytes(param)),
            (int(5), Value::bytes(new_pin_enc)),
            (int(6), Value::bytes(pin_hash_enc)),
        ])
        .map(|_| ())
    }

    /// getPinUvAuthTokenUsingPinWithPermissions (protocol 2).
    pub fn token(&mut self, pin: &str, permissions: u64, rp_id: Option<&str>) -> Result<Token, u8> {
        let mut s = self.secret();
        let mut req = vec![
            (int(1), int(2)),
            (int(2), int(9)),
            (int(3), s.cose.clone()),
            (int(6), Value::bytes(s.pin_hash_enc(pin))),
            (int(9), Value::Unsigned(permissions)),
        ];
        if let Some(rp) = rp_id {
            req.push((int(10), text(rp)));
        }
        let v = self.client_pin(req)?;
        let enc = IntMap::new(&v)
            .unwrap()
            .required(2)
            .unwrap()
            .as_bytes()
            .unwrap()
            .to_vec();
        Ok(Token(s.decrypt(&enc)))
    }

    pub fn make_credential(&mut self, req: Vec<(Value, Value)>) -> Result<Registration, u8> {
        self.ctap(0x01, Some(&Value::Map(req)))
            .map(|v| Registration::parse(&v))
    }

    pub fn get_assertion(&mut self, req: Vec<(Value, Value)>) -> Result<Assertion, u8> {
        self.ctap(0x02, Some(&Value::Map(req)))
            .map(|v| Assertion::parse(&v))
    }

    pub fn get_next_assertion(&mut self) -> Result<Assertion, u8> {
        self.ctap(0x08, None).map(|v| Assertion::parse(&v))
    }

    pub fn reset(&mut self) -> Result<(), u8> {
        self.ctap(0x07, None).map(|_| ())
    }
}

/// Digest of an image, for short messages.
pub fn digest(image: &[u8]) -> String {
    Sha256::digest(image)[..4]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
