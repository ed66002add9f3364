//! The platform (host) side of the PIN/UV auth protocols one and two (CTAP 2.1 §6.5.6, §6.5.7),
//! written from the specification with RustCrypto directly, independently of the card's
//! implementation, so that a bug shared by both sides cannot hide.
//!
//! `encapsulate(peerCoseKey)`: a fresh P-256 key pair, ECDH with the authenticator's
//! key-agreement key, `kdf(Z)`; the platform's public key goes back in the request as a COSE_Key
//! `{1: 2, 3: -25, -1: 1, -2: x, -3: y}`.
//!
//! | | protocol 1 | protocol 2 |
//! |---|---|---|
//! | kdf(Z) | SHA-256(Z) | HKDF-SHA-256(salt = 32 zero bytes, Z, "CTAP2 HMAC key") ‖ (…, "CTAP2 AES key") |
//! | encrypt | AES-256-CBC, IV = 0 | random IV ‖ AES-256-CBC |
//! | authenticate | first 16 bytes of HMAC-SHA-256 | HMAC-SHA-256 (32 bytes) |

use aes::Aes256;
use aes::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use hmac::{Hmac, KeyInit, Mac};
use p256::elliptic_curve::point::AffineCoordinates;
use sha2::{Digest, Sha256};

use ctap_types::cbor::Value;
use ctap_types::cose;
use ctap_types::pin_uv_auth_protocol;

type CbcEnc = cbc::Encryptor<Aes256>;
type CbcDec = cbc::Decryptor<Aes256>;

/// A PIN/UV auth protocol version (getInfo 0x06 lists the card's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    One,
    Two,
}

impl Protocol {
    pub fn from_number(n: u64) -> Option<Protocol> {
        match u8::try_from(n).ok()? {
            pin_uv_auth_protocol::ONE => Some(Protocol::One),
            pin_uv_auth_protocol::TWO => Some(Protocol::Two),
            _ => None,
        }
    }

    pub fn number(self) -> u64 {
        u64::from(match self {
            Protocol::One => pin_uv_auth_protocol::ONE,
            Protocol::Two => pin_uv_auth_protocol::TWO,
        })
    }

    /// authenticate(key, message) with a pinUvAuthToken as the key.
    pub fn authenticate(self, key: &[u8], message: &[u8]) -> Vec<u8> {
        let mac = hmac_sha256(key, message);
        match self {
            Protocol::One => mac[..16].to_vec(),
            Protocol::Two => mac.to_vec(),
        }
    }
}

/// Why a protocol step failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PinProtocolError {
    #[error(
        "the card's key-agreement key is not a COSE_Key {{1: 2, 3: -25, -1: 1, -2: x, -3: y}}: {0}"
    )]
    BadCoseKey(String),
    #[error("the card's key-agreement key is not a point on P-256")]
    NotOnCurve,
    #[error("ciphertext of {0} bytes is not a whole number of AES blocks")]
    BadCiphertext(usize),
    #[error("the OS random number generator failed: {0}")]
    Random(String),
}

pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    // HMAC takes keys of any length (RFC 2104 §2), so keying cannot fail.
    let mut mac = match <Hmac<Sha256> as KeyInit>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => return [0; 32],
    };
    mac.update(message);
    mac.finalize().into_bytes().into()
}

pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// Random bytes from the OS.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], PinProtocolError> {
    let mut out = [0u8; N];
    getrandom::fill(&mut out).map_err(|e| PinProtocolError::Random(e.to_string()))?;
    Ok(out)
}

/// The secret shared with the card after one key agreement.
#[derive(Clone)]
pub struct SharedSecret {
    pub protocol: Protocol,
    hmac_key: [u8; 32],
    aes_key: [u8; 32],
    /// The platform's key-agreement public key, as the COSE_Key the request carries.
    pub platform_key: Value,
}

impl std::fmt::Debug for SharedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedSecret")
            .field("protocol", &self.protocol)
            .finish_non_exhaustive()
    }
}

/// kdf(Z) for `protocol`.
pub fn kdf(protocol: Protocol, z: &[u8; 32]) -> ([u8; 32], [u8; 32]) {
    match protocol {
        Protocol::One => {
            let k = sha256(z);
            (k, k)
        }
        Protocol::Two => {
            let hk = hkdf::Hkdf::<Sha256>::new(Some(&[0u8; 32]), z);
            let mut hmac_key = [0u8; 32];
            let mut aes_key = [0u8; 32];
            // 32 bytes is far below HKDF-SHA-256's output limit: expand cannot fail.
            let _ = hk.expand(b"CTAP2 HMAC key", &mut hmac_key);
            let _ = hk.expand(b"CTAP2 AES key", &mut aes_key);
            (hmac_key, aes_key)
        }
    }
}

/// The authenticator's key-agreement public key from its COSE_Key (getKeyAgreement 0x01).
pub fn peer_key(cose: &Value) -> Result<p256::PublicKey, PinProtocolError> {
    let bad = |why: &str| PinProtocolError::BadCoseKey(why.to_owned());
    let int = |label: i64| cose.get_int(label.into()).and_then(|v| v.as_int().ok());
    if int(cose::key::KTY) != Some(cose::kty::EC2.into()) {
        return Err(bad("kty is not 2 (EC2)"));
    }
    if int(cose::key::CRV) != Some(cose::crv::P256.into()) {
        return Err(bad("crv is not 1 (P-256)"));
    }
    let bytes = |label: i64| cose.get_int(label.into()).and_then(|v| v.as_bytes().ok());
    let x = bytes(cose::key::X).ok_or_else(|| bad("no x"))?;
    let y = bytes(cose::key::Y).ok_or_else(|| bad("no y"))?;
    if x.len() != 32 || y.len() != 32 {
        return Err(bad("x or y is not 32 bytes"));
    }
    let mut sec1 = vec![0x04];
    sec1.extend_from_slice(x);
    sec1.extend_from_slice(y);
    p256::PublicKey::from_sec1_bytes(&sec1).map_err(|_| PinProtocolError::NotOnCurve)
}

/// encapsulate(peerCoseKey): a fresh platform key, ECDH, kdf.
pub fn encapsulate(
    protocol: Protocol,
    peer_cose: &Value,
) -> Result<SharedSecret, PinProtocolError> {
    let scalar = loop {
        let bytes = random_bytes::<32>()?;
        let repr: p256::FieldBytes = bytes.into();
        if let Some(s) = p256::NonZeroScalar::from_repr(repr).into_option() {
            break s;
        }
    };
    encapsulate_with(protocol, peer_cose, scalar)
}

/// encapsulate(peerCoseKey) with a given platform private key: tests make their requests (and
/// so their traces) reproducible with it.
pub fn encapsulate_with_key(
    protocol: Protocol,
    peer_cose: &Value,
    private_key: [u8; 32],
) -> Result<SharedSecret, PinProtocolError> {
    let scalar = p256::NonZeroScalar::from_repr(private_key.into())
        .into_option()
        .ok_or_else(|| PinProtocolError::BadCoseKey("the platform key is not a scalar".into()))?;
    encapsulate_with(protocol, peer_cose, scalar)
}

fn encapsulate_with(
    protocol: Protocol,
    peer_cose: &Value,
    scalar: p256::NonZeroScalar,
) -> Result<SharedSecret, PinProtocolError> {
    let peer = peer_key(peer_cose)?;
    let shared = p256::ecdh::diffie_hellman(scalar, peer.as_affine());
    let mut z = [0u8; 32];
    z.copy_from_slice(shared.raw_secret_bytes());
    let (hmac_key, aes_key) = kdf(protocol, &z);
    let public = p256::PublicKey::from_secret_scalar(&scalar);
    let affine = public.as_affine();
    let (x, y): ([u8; 32], [u8; 32]) = (affine.x().into(), affine.y().into());
    // CTAP 2.1 §6.5.6 getPublicKey: {1: 2 (EC2), 3: -25 (ECDH-ES+HKDF-256), -1: 1 (P-256), -2: x, -3: y}.
    let platform_key = Value::Map(vec![
        (Value::int(cose::key::KTY), Value::int(cose::kty::EC2)),
        (
            Value::int(cose::key::ALG),
            Value::int(cose::ECDH_ES_HKDF_256),
        ),
        (Value::int(cose::key::CRV), Value::int(cose::crv::P256)),
        (Value::int(cose::key::X), Value::bytes(x.to_vec())),
        (Value::int(cose::key::Y), Value::bytes(y.to_vec())),
    ]);
    Ok(SharedSecret {
        protocol,
        hmac_key,
        aes_key,
        platform_key,
    })
}

impl SharedSecret {
    /// For tests: a shared secret from known keys.
    pub fn from_keys(protocol: Protocol, hmac_key: [u8; 32], aes_key: [u8; 32]) -> SharedSecret {
        SharedSecret {
            protocol,
            hmac_key,
            aes_key,
            platform_key: Value::Null,
        }
    }

    /// encrypt(key, plaintext); the plaintext is zero-padded to whole blocks (CTAP plaintexts are
    /// whole blocks already).
    pub fn encrypt(&self, plaintext: &[u8]) -> Result<Vec<u8>, PinProtocolError> {
        let iv = match self.protocol {
            Protocol::One => [0u8; 16],
            Protocol::Two => random_bytes::<16>()?,
        };
        Ok(self.encrypt_with_iv(plaintext, iv))
    }

    /// encrypt with a given IV for protocol two (protocol one's IV is always zero): tests make
    /// their requests reproducible with it.
    pub fn encrypt_with_iv(&self, plaintext: &[u8], iv: [u8; 16]) -> Vec<u8> {
        let iv = match self.protocol {
            Protocol::One => [0u8; 16],
            Protocol::Two => iv,
        };
        let mut out = Vec::new();
        if self.protocol == Protocol::Two {
            out.extend_from_slice(&iv);
        }
        let mut enc = CbcEnc::new(&self.aes_key.into(), &iv.into());
        for chunk in plaintext.chunks(16) {
            let mut block = [0u8; 16];
            block[..chunk.len()].copy_from_slice(chunk);
            let mut block = block.into();
            enc.encrypt_block(&mut block);
            out.extend_from_slice(&block);
        }
        out
    }

    /// decrypt(key, ciphertext).
    pub fn decrypt(&self, ciphertext: &[u8]) -> Result<Vec<u8>, PinProtocolError> {
        let (iv, body) = match self.protocol {
            Protocol::One => ([0u8; 16], ciphertext),
            Protocol::Two => {
                let (iv, body) = ciphertext
                    .split_at_checked(16)
                    .ok_or(PinProtocolError::BadCiphertext(ciphertext.len()))?;
                let mut fixed = [0u8; 16];
                fixed.copy_from_slice(iv);
                (fixed, body)
            }
        };
        if body.is_empty() || body.len() % 16 != 0 {
            return Err(PinProtocolError::BadCiphertext(ciphertext.len()));
        }
        let mut dec = CbcDec::new(&self.aes_key.into(), &iv.into());
        let mut out = Vec::with_capacity(body.len());
        for chunk in body.chunks(16) {
            let mut block = [0u8; 16];
            block.copy_from_slice(chunk);
            let mut block = block.into();
            dec.decrypt_block(&mut block);
            out.extend_from_slice(&block);
        }
        Ok(out)
    }

    /// authenticate(sharedSecret, message).
    pub fn authenticate(&self, message: &[u8]) -> Vec<u8> {
        self.protocol.authenticate(&self.hmac_key, message)
    }
}

/// The PIN padded to 64 bytes with zeros (CTAP 2.1 §6.5.5.5 setPIN step "paddedPin").
pub fn padded_pin(pin: &str) -> Vec<u8> {
    let mut out = pin.as_bytes().to_vec();
    out.resize(64.max(out.len()), 0);
    out
}

/// LEFT(SHA-256(PIN), 16).
pub fn pin_hash(pin: &str) -> [u8; 16] {
    let full = sha256(pin.as_bytes());
    let mut out = [0u8; 16];
    out.copy_from_slice(&full[..16]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_two_kdf_separates_keys_and_one_does_not() {
        let z = [7u8; 32];
        let (h1, a1) = kdf(Protocol::One, &z);
        assert_eq!(h1, a1);
        assert_eq!(h1, sha256(&z));
        let (h2, a2) = kdf(Protocol::Two, &z);
        assert_ne!(h2, a2);
        // RFC 5869 structure: HKDF-Expand's first block is HMAC(PRK, info || 0x01).
        let prk = hmac_sha256(&[0u8; 32], &z);
        assert_eq!(h2, hmac_sha256(&prk, b"CTAP2 HMAC key\x01"));
        assert_eq!(a2, hmac_sha256(&prk, b"CTAP2 AES key\x01"));
    }

    #[test]
    fn encrypt_decrypt_round_trip_and_iv() {
        for protocol in [Protocol::One, Protocol::Two] {
            let s = SharedSecret::from_keys(protocol, [1; 32], [2; 32]);
            let pt = [0x42u8; 64];
            let ct = s.encrypt(&pt).expect("encrypt");
            let expected_len = if protocol == Protocol::Two { 80 } else { 64 };
            assert_eq!(ct.len(), expected_len);
            assert_eq!(s.decrypt(&ct).expect("decrypt"), pt.to_vec());
            assert!(s.decrypt(&ct[..ct.len() - 1]).is_err());
            assert!(s.decrypt(&[]).is_err());
        }
        assert_eq!(Protocol::One.authenticate(b"k", b"m").len(), 16);
        assert_eq!(Protocol::Two.authenticate(b"k", b"m").len(), 32);
    }

    #[test]
    fn platform_and_authenticator_derive_the_same_secret() {
        // The authenticator's key-agreement key from a known scalar, as getKeyAgreement sends it.
        let card_scalar = p256::NonZeroScalar::from_repr([7u8; 32].into())
            .into_option()
            .expect("a scalar");
        let card_public = p256::PublicKey::from_secret_scalar(&card_scalar);
        let affine = card_public.as_affine();
        let (x, y): ([u8; 32], [u8; 32]) = (affine.x().into(), affine.y().into());
        let card_cose = Value::Map(vec![
            (Value::int(1), Value::int(2)),
            (Value::int(3), Value::int(-25)),
            (Value::int(-1), Value::int(1)),
            (Value::int(-2), Value::bytes(x.to_vec())),
            (Value::int(-3), Value::bytes(y.to_vec())),
        ]);
        for protocol in [Protocol::One, Protocol::Two] {
            let host = encapsulate_with_key(protocol, &card_cose, [9u8; 32]).expect("agrees");
            let again = encapsulate_with_key(protocol, &card_cose, [9u8; 32]).expect("agrees");
            assert_eq!(
                host.platform_key, again.platform_key,
                "a given key is reproducible"
            );
            // The authenticator's side: ECDH with the platform's COSE_Key, then kdf (§6.5.6).
            let platform = peer_key(&host.platform_key).expect("the platform key is on P-256");
            let z = p256::ecdh::diffie_hellman(card_scalar, platform.as_affine());
            let z: [u8; 32] = z
                .raw_secret_bytes()
                .as_slice()
                .try_into()
                .expect("32 bytes");
            let (hmac_key, aes_key) = kdf(protocol, &z);
            let card = SharedSecret::from_keys(protocol, hmac_key, aes_key);
            let ct = host.encrypt_with_iv(&[0x42; 32], [3; 16]);
            assert_eq!(card.decrypt(&ct).expect("decrypts"), vec![0x42; 32]);
            assert_eq!(card.authenticate(b"m"), host.authenticate(b"m"));
            let random = encapsulate(protocol, &card_cose).expect("agrees");
            assert_ne!(
                random.platform_key, host.platform_key,
                "a fresh key each time"
            );
        }
        assert!(encapsulate_with_key(Protocol::One, &card_cose, [0; 32]).is_err());
    }

    #[test]
    fn pin_encodings() {
        assert_eq!(padded_pin("1234").len(), 64);
        assert_eq!(&padded_pin("1234")[..5], b"1234\0");
        assert_eq!(pin_hash("1234")[..4], sha256(b"1234")[..4]);
    }

    #[test]
    fn peer_key_validation() {
        assert!(peer_key(&Value::Null).is_err());
        let off_curve = Value::Map(vec![
            (Value::Unsigned(1), Value::Unsigned(2)),
            (Value::int(-1), Value::Unsigned(1)),
            (Value::int(-2), Value::bytes([1; 32])),
            (Value::int(-3), Value::bytes([1; 32])),
        ]);
        assert_eq!(peer_key(&off_curve), Err(PinProtocolError::NotOnCurve));
    }
}
