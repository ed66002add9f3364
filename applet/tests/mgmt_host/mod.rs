//! The test host shared by the management-command tests (cred_mgmt.rs, config.rs,
//! large_blobs.rs, u2f.rs, nfc_getresponse.rs): a virtual card driven through its APDU
//! interface, and the platform side of PIN/UV auth protocols 1 and 2 (CTAP 2.1 §6.5.6, §6.5.7)
//! written here from the specification with RustCrypto — not with the card's `pin_protocol`
//! module — so a bug shared by both sides cannot hide.
#![allow(dead_code)]

use aes::Aes256;
use aes::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use apdu::Card;
use apdu::storage::{MemoryStorage, decode_image};
use fido_applet::crypto::sha256;
use fido_applet::ctap::cbor::{self, IntMap, TextMap, Value};
use fido_applet::platform::{Clock, ManualClock, Platform, PresencePolicy, SeededRng};
use fido_applet::profile::Profile;
use fido_applet::state::State;
use fido_applet::virtual_card;
use hmac::{Hmac, KeyInit, Mac};
use p256::elliptic_curve::point::AffineCoordinates;
use sha2::{Digest, Sha256};

pub const SELECT: &str = "00A4040008A0000006472F000100";

// CTAP status codes (CTAP 2.1 §8.2).
pub const OK: u8 = 0x00;
pub const INVALID_COMMAND: u8 = 0x01;
pub const INVALID_PARAMETER: u8 = 0x02;
pub const INVALID_LENGTH: u8 = 0x03;
pub const INVALID_SEQ: u8 = 0x04;
pub const CBOR_UNEXPECTED_TYPE: u8 = 0x11;
pub const INVALID_CBOR: u8 = 0x12;
pub const MISSING_PARAMETER: u8 = 0x14;
pub const LARGE_BLOB_STORAGE_FULL: u8 = 0x18;
pub const OPERATION_DENIED: u8 = 0x27;
pub const KEEPALIVE_CANCEL: u8 = 0x2D;
pub const NO_CREDENTIALS: u8 = 0x2E;
pub const NOT_ALLOWED: u8 = 0x30;
pub const PIN_AUTH_INVALID: u8 = 0x33;
pub const PIN_NOT_SET: u8 = 0x35;
pub const PUAT_REQUIRED: u8 = 0x36;
pub const PIN_POLICY_VIOLATION: u8 = 0x37;
pub const INTEGRITY_FAILURE: u8 = 0x3D;
pub const INVALID_SUBCOMMAND: u8 = 0x3E;
pub const UNAUTHORIZED_PERMISSION: u8 = 0x40;

// Permissions (§6.5.5.7).
pub const MC: u64 = 0x01;
pub const GA: u64 = 0x02;
pub const CM: u64 = 0x04;
pub const LBW: u64 = 0x10;
pub const ACFG: u64 = 0x20;

pub const PIN: &str = "1234";

pub fn hex(s: &str) -> Vec<u8> {
    apdu::hex_decode(s).expect("test hex")
}

pub fn int(n: i64) -> Value {
    Value::int(n)
}

pub fn text(s: &str) -> Value {
    Value::text(s)
}

pub fn cdh(tag: &str) -> Vec<u8> {
    sha256(tag.as_bytes()).to_vec()
}

// --- The platform side of the PIN/UV auth protocols ------------------------------------------

/// A shared secret as the platform derives it.
pub struct HostSecret {
    pub protocol: u8,
    hmac_key: [u8; 32],
    aes_key: [u8; 32],
    /// The platform's key-agreement public key, as a COSE_Key.
    pub cose: Value,
    iv_counter: u8,
}

impl HostSecret {
    /// ECDH with the card's COSE_Key from getKeyAgreement, then the protocol's KDF.
    pub fn agree(protocol: u8, card_key: &Value, seed: u8) -> Self {
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
        let scalar: [u8; 32] = sha256(&[b"mgmt host key ".as_slice(), &[seed]].concat());
        let secret = p256::NonZeroScalar::from_repr(scalar.into()).unwrap();
        let public = p256::PublicKey::from_secret_scalar(&secret);
        let z = p256::ecdh::diffie_hellman(secret, card.as_affine());
        let z = z.raw_secret_bytes();
        let (hmac_key, aes_key) = if protocol == 1 {
            let k: [u8; 32] = Sha256::digest(z).into();
            (k, k)
        } else {
            let hk = hkdf::Hkdf::<Sha256>::new(Some(&[0u8; 32]), z);
            let mut h = [0u8; 32];
            let mut a = [0u8; 32];
            hk.expand(b"CTAP2 HMAC key", &mut h).unwrap();
            hk.expand(b"CTAP2 AES key", &mut a).unwrap();
            (h, a)
        };
        let affine = public.as_affine();
        let x: [u8; 32] = affine.x().into();
        let y: [u8; 32] = affine.y().into();
        let cose = Value::Map(vec![
            (Value::int(1), Value::int(2)),
            (Value::int(3), Value::int(-25)),
            (Value::int(-1), Value::int(1)),
            (Value::int(-2), Value::bytes(x.to_vec())),
            (Value::int(-3), Value::bytes(y.to_vec())),
        ]);
        Self {
            protocol,
            hmac_key,
            aes_key,
            cose,
            iv_counter: 0,
        }
    }

    pub fn encrypt(&mut self, plain: &[u8]) -> Vec<u8> {
        let mut iv = [0u8; 16];
        let mut out = Vec::new();
        if self.protocol == 2 {
            self.iv_counter += 1;
            iv = [self.iv_counter; 16];
            out.extend_from_slice(&iv);
        }
        let mut enc = cbc::Encryptor::<Aes256>::new(&self.aes_key.into(), &iv.into());
        for chunk in plain.chunks(16) {
            let mut block: [u8; 16] = chunk.try_into().unwrap();
            enc.encrypt_block((&mut block).into());
            out.extend_from_slice(&block);
        }
        out
    }

    pub fn decrypt(&self, ct: &[u8]) -> Vec<u8> {
        let (iv, body) = if self.protocol == 2 {
            (ct[..16].try_into().unwrap(), &ct[16..])
        } else {
            ([0u8; 16], ct)
        };
        let mut dec = cbc::Decryptor::<Aes256>::new(&self.aes_key.into(), &iv.into());
        let mut out = Vec::new();
        for chunk in body.chunks(16) {
            let mut block: [u8; 16] = chunk.try_into().unwrap();
            dec.decrypt_block((&mut block).into());
            out.extend_from_slice(&block);
        }
        out
    }

    pub fn authenticate(&self, message: &[u8]) -> Vec<u8> {
        authenticate(self.protocol, &self.hmac_key, message)
    }
}

/// authenticate(key, message) of §6.5.6 / §6.5.7.
pub fn authenticate(protocol: u8, key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap();
    mac.update(message);
    let tag: [u8; 32] = mac.finalize().into_bytes().into();
    if protocol == 1 {
        tag[..16].to_vec()
    } else {
        tag.to_vec()
    }
}

/// A pinUvAuthToken the platform holds.
pub struct Token {
    pub protocol: u8,
    pub bytes: Vec<u8>,
}

impl Token {
    pub fn param(&self, message: &[u8]) -> Vec<u8> {
        authenticate(self.protocol, &self.bytes, message)
    }
}

// --- A clock that moves while the card works -------------------------------------------------

/// A clock that advances `step_ms` every time it is read: a card whose every operation takes
/// time, to reach the NFCCTAP_GETRESPONSE path deterministically.
#[derive(Clone)]
pub struct TickingClock {
    pub inner: ManualClock,
    pub step_ms: u64,
}

impl Clock for TickingClock {
    fn now_ms(&self) -> u64 {
        self.inner.advance(self.step_ms);
        self.inner.now_ms()
    }
}

// --- The test host ---------------------------------------------------------------------------

pub struct Tester {
    pub card: Card,
    pub clock: ManualClock,
    pub storage: MemoryStorage,
    pub profile: Profile,
    host_seed: u8,
}

impl Tester {
    pub fn new() -> Self {
        Self::with_profile(Profile::generic())
    }

    pub fn with_profile(profile: Profile) -> Self {
        Self::build(profile, PresencePolicy::Auto, MemoryStorage::new(), 0)
    }

    /// A card whose clock advances `step_ms` at every reading (see [`TickingClock`]).
    pub fn with_ticking_clock(profile: Profile, step_ms: u64) -> Self {
        Self::build(profile, PresencePolicy::Auto, MemoryStorage::new(), step_ms)
    }

    /// A ticking clock and a presence policy.
    pub fn with_ticking_clock_and_presence(
        profile: Profile,
        step_ms: u64,
        presence: PresencePolicy,
    ) -> Self {
        Self::build(profile, presence, MemoryStorage::new(), step_ms)
    }

    pub fn with_presence(profile: Profile, presence: PresencePolicy) -> Self {
        Self::build(profile, presence, MemoryStorage::new(), 0)
    }

    fn build(
        profile: Profile,
        presence: PresencePolicy,
        storage: MemoryStorage,
        step_ms: u64,
    ) -> Self {
        let clock = ManualClock::new(0);
        let platform = Platform {
            rng: Box::new(SeededRng::new(42)),
            clock: Box::new(TickingClock {
                inner: clock.clone(),
                step_ms,
            }),
            presence,
        };
        let card =
            virtual_card(profile.clone(), Box::new(storage.clone()), platform).expect("card");
        let mut t = Self {
            card,
            clock,
            storage,
            profile,
            host_seed: 0,
        };
        t.select();
        t
    }

    /// A new card object on the same persistent memory (the process restarted).
    pub fn reload(&self) -> Tester {
        self.reload_with_presence(PresencePolicy::Auto)
    }

    /// As [`Tester::reload`], with another presence policy.
    pub fn reload_with_presence(&self, presence: PresencePolicy) -> Tester {
        Self::build(self.profile.clone(), presence, self.storage.clone(), 0)
    }

    /// The committed persistent state, read from the storage image.
    pub fn state(&self) -> State {
        decode_image(&self.storage.image().expect("image"), "memory").expect("state decodes")
    }

    /// Sends one APDU; returns data and SW (no GET RESPONSE handling: responses here fit).
    pub fn transmit(&mut self, apdu: &[u8]) -> (Vec<u8>, u16) {
        let mut out = Vec::new();
        let mut resp = self.card.transmit(apdu);
        loop {
            let split = resp.len() - 2;
            let sw = u16::from_be_bytes([resp[split], resp[split + 1]]);
            out.extend_from_slice(&resp[..split]);
            if sw >> 8 != 0x61 {
                return (out, sw);
            }
            resp = self
                .card
                .transmit(&[0x00, 0xC0, 0x00, 0x00, (sw & 0xFF) as u8]);
        }
    }

    pub fn select(&mut self) -> Vec<u8> {
        let (data, sw) = self.transmit(&hex(SELECT));
        assert_eq!(sw, 0x9000);
        data
    }

    pub fn power_cycle(&mut self) {
        self.card.power_off();
        self.card.power_on();
        self.select();
    }

    /// One extended-length NFCCTAP_MSG with P1 `p1`.
    pub fn nfcctap_msg(&mut self, p1: u8, message: &[u8]) -> (Vec<u8>, u16) {
        let mut apdu = vec![0x80, 0x10, p1, 0x00, 0x00];
        apdu.extend_from_slice(&(message.len() as u16).to_be_bytes());
        apdu.extend_from_slice(message);
        apdu.extend_from_slice(&[0x00, 0x00]);
        self.transmit(&apdu)
    }

    /// Parses `status || CBOR` into the CBOR body or the status.
    pub fn ctap_answer(data: &[u8]) -> Result<Value, u8> {
        let (&status, body) = data.split_first().expect("status byte");
        if status != OK {
            assert!(body.is_empty(), "errors carry no CBOR");
            return Err(status);
        }
        if body.is_empty() {
            return Ok(Value::Null);
        }
        let value = cbor::parse(body).expect("CBOR");
        assert_eq!(value.to_vec(), body, "canonical CBOR");
        Ok(value)
    }

    pub fn ctap(&mut self, command: u8, params: Option<&Value>) -> Result<Value, u8> {
        let mut message = vec![command];
        if let Some(p) = params {
            message.extend_from_slice(&p.to_vec());
        }
        let (data, sw) = self.nfcctap_msg(0x00, &message);
        assert_eq!(sw, 0x9000, "CTAP answers travel in 9000");
        Self::ctap_answer(&data)
    }

    pub fn ctap_map(&mut self, command: u8, entries: Vec<(Value, Value)>) -> Result<Value, u8> {
        self.ctap(command, Some(&Value::Map(entries)))
    }

    pub fn get_info(&mut self) -> Value {
        self.ctap(0x04, None).unwrap()
    }

    /// getInfo option `name`, if declared.
    pub fn option(&mut self, name: &str) -> Option<bool> {
        let info = self.get_info();
        let m = IntMap::new(&info).unwrap();
        let options = TextMap::new(m.required(4).unwrap()).unwrap();
        options.get(name).map(|v| v.as_bool().unwrap())
    }

    /// getInfo member `key`.
    pub fn info(&mut self, key: u64) -> Option<Value> {
        let info = self.get_info();
        IntMap::new(&info).unwrap().get(key).cloned()
    }

    pub fn client_pin(&mut self, entries: Vec<(Value, Value)>) -> Result<Value, u8> {
        self.ctap_map(0x06, entries)
    }

    pub fn secret(&mut self, protocol: u8) -> HostSecret {
        let v = self
            .client_pin(vec![(int(1), int(protocol.into())), (int(2), int(2))])
            .unwrap();
        let card_key = IntMap::new(&v).unwrap().required(1).unwrap().clone();
        self.host_seed = self.host_seed.wrapping_add(1);
        HostSecret::agree(protocol, &card_key, self.host_seed)
    }

    pub fn set_pin(&mut self, protocol: u8, pin: &str) -> Result<(), u8> {
        let mut s = self.secret(protocol);
        let mut padded = pin.as_bytes().to_vec();
        padded.resize(64, 0);
        let new_pin_enc = s.encrypt(&padded);
        let param = s.authenticate(&new_pin_enc);
        self.client_pin(vec![
            (int(1), int(protocol.into())),
            (int(2), int(3)),
            (int(3), s.cose.clone()),
            (int(4), Value::bytes(param)),
            (int(5), Value::bytes(new_pin_enc)),
        ])
        .map(|_| ())
    }

    pub fn change_pin(&mut self, protocol: u8, current: &str, new: &str) -> Result<(), u8> {
        let mut s = self.secret(protocol);
        let mut padded = new.as_bytes().to_vec();
        padded.resize(64, 0);
        let new_pin_enc = s.encrypt(&padded);
        let pin_hash_enc = s.encrypt(&sha256(current.as_bytes())[..16]);
        let param = s.authenticate(&[new_pin_enc.as_slice(), &pin_hash_enc].concat());
        self.client_pin(vec![
            (int(1), int(protocol.into())),
            (int(2), int(4)),
            (int(3), s.cose.clone()),
            (int(4), Value::bytes(param)),
            (int(5), Value::bytes(new_pin_enc)),
            (int(6), Value::bytes(pin_hash_enc)),
        ])
        .map(|_| ())
    }

    /// getPinUvAuthTokenUsingPinWithPermissions.
    pub fn token(
        &mut self,
        protocol: u8,
        pin: &str,
        permissions: u64,
        rp_id: Option<&str>,
    ) -> Result<Token, u8> {
        let mut s = self.secret(protocol);
        let pin_hash_enc = s.encrypt(&sha256(pin.as_bytes())[..16]);
        let mut req = vec![
            (int(1), int(protocol.into())),
            (int(2), int(9)),
            (int(3), s.cose.clone()),
            (int(6), Value::bytes(pin_hash_enc)),
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
        Ok(Token {
            protocol,
            bytes: s.decrypt(&enc),
        })
    }

    /// makeCredential; returns the credential id and the whole response.
    pub fn make_credential(&mut self, req: Vec<(Value, Value)>) -> Result<(Vec<u8>, Value), u8> {
        let v = self.ctap_map(0x01, req)?;
        let auth_data = IntMap::new(&v)
            .unwrap()
            .required(2)
            .unwrap()
            .as_bytes()
            .unwrap()
            .to_vec();
        let id_len = u16::from_be_bytes([auth_data[53], auth_data[54]]) as usize;
        Ok((auth_data[55..55 + id_len].to_vec(), v))
    }

    /// A discoverable credential for `rp` / `user` (the card has no PIN, or `token` is given).
    pub fn register(&mut self, rp: &str, user: &[u8], token: Option<&Token>) -> Vec<u8> {
        let mut req = mc(rp, user, true);
        if let Some(t) = token {
            req.push((int(8), Value::bytes(t.param(&cdh("register")))));
            req.push((int(9), int(t.protocol.into())));
        }
        self.make_credential(req).expect("makeCredential").0
    }
}

/// A makeCredential request.
pub fn mc(rp: &str, user: &[u8], rk: bool) -> Vec<(Value, Value)> {
    vec![
        (int(1), Value::bytes(cdh("register"))),
        (
            int(2),
            Value::Map(vec![
                (text("id"), text(rp)),
                (text("name"), text("Example")),
            ]),
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

/// A getAssertion request.
pub fn ga(rp: &str, allow: &[&[u8]]) -> Vec<(Value, Value)> {
    let mut req = vec![(int(1), text(rp)), (int(2), Value::bytes(cdh("login")))];
    if !allow.is_empty() {
        let list = allow.iter().map(|id| descriptor(id)).collect();
        req.push((int(3), Value::Array(list)));
    }
    req
}

/// `{"id": id, "type": "public-key"}`.
pub fn descriptor(id: &[u8]) -> Value {
    Value::Map(vec![
        (text("id"), Value::bytes(id)),
        (text("type"), text("public-key")),
    ])
}

/// Adds (or replaces) request member `key`.
pub fn set(mut req: Vec<(Value, Value)>, key: i64, value: Value) -> Vec<(Value, Value)> {
    req.retain(|(k, _)| *k != int(key));
    req.push((int(key), value));
    req
}
