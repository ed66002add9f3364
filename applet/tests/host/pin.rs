//! The platform side of PIN/UV auth protocols 1 and 2 (CTAP 2.1 §6.5.6, §6.5.7), written here
//! from the specification with the RustCrypto primitives directly — not with the card's
//! `pin_protocol` module — so a bug shared by both sides cannot hide.

use aes::Aes256;
use aes::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use fido_applet::crypto::sha256;
use fido_applet::ctap::cbor::Value;
use hmac::{Hmac, KeyInit, Mac};
use p256::elliptic_curve::point::AffineCoordinates;
use sha2::{Digest, Sha256};

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
    /// ECDH with the card's COSE_Key from getKeyAgreement, then the protocol's KDF
    /// (SHA-256 for protocol 1, HKDF-SHA-256 for protocol 2).
    pub fn agree(protocol: u8, card_key: &Value, seed: u8) -> Self {
        let entries = card_key.as_map().unwrap();
        let get = |k: i64| {
            &entries
                .iter()
                .find(|(key, _)| *key == Value::int(k))
                .unwrap()
                .1
        };
        assert_eq!(get(1), &Value::int(2), "kty EC2");
        assert_eq!(get(3), &Value::int(-25), "alg ECDH-ES+HKDF-256");
        assert_eq!(get(-1), &Value::int(1), "crv P-256");
        let mut sec1 = vec![0x04];
        sec1.extend_from_slice(get(-2).as_bytes().unwrap());
        sec1.extend_from_slice(get(-3).as_bytes().unwrap());
        let card = p256::PublicKey::from_sec1_bytes(&sec1).expect("the card's key is on the curve");

        let scalar_bytes: [u8; 32] = sha256(&[b"host key ".as_slice(), &[seed]].concat());
        let secret = p256::NonZeroScalar::from_repr(scalar_bytes.into()).unwrap();
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

    /// AES-256-CBC; protocol 2 prepends a fresh IV.
    pub fn encrypt(&mut self, plain: &[u8]) -> Vec<u8> {
        assert_eq!(plain.len() % 16, 0);
        let mut iv = [0u8; 16];
        let mut out = Vec::new();
        if self.protocol == 2 {
            self.iv_counter = self.iv_counter.wrapping_add(1);
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
        assert_eq!(body.len() % 16, 0);
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

    /// newPinEnc: the PIN padded with zeros to 64 bytes, encrypted.
    pub fn padded_pin(&mut self, pin: &[u8]) -> Vec<u8> {
        let mut padded = pin.to_vec();
        padded.resize(64, 0);
        self.encrypt(&padded)
    }

    /// pinHashEnc: LEFT(SHA-256(pin), 16), encrypted.
    pub fn pin_hash_enc(&mut self, pin: &str) -> Vec<u8> {
        let hash = sha256(pin.as_bytes());
        self.encrypt(&hash[..16])
    }
}

/// authenticate(key, message) of §6.5.6 / §6.5.7.
pub fn authenticate(protocol: u8, key: &[u8], message: &[u8]) -> Vec<u8> {
    let tag = hmac(key, message);
    if protocol == 1 {
        tag[..16].to_vec()
    } else {
        tag.to_vec()
    }
}

/// HMAC-SHA-256.
pub fn hmac(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap();
    mac.update(message);
    mac.finalize().into_bytes().into()
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
}
