//! PIN/UV auth protocols one and two (CTAP 2.1 §6.5.6 and §6.5.7).
//!
//! Both agree on a shared secret with ECDH P-256 against the authenticator's key-agreement key
//! (regenerated at every power-up), then encrypt with AES-256-CBC and authenticate with
//! HMAC-SHA-256. They differ in the KDF, the IV and the tag length:
//!
//! | | protocol 1 | protocol 2 |
//! |---|---|---|
//! | KDF | SHA-256(Z) | HKDF-SHA-256(salt 32×00, Z): "CTAP2 HMAC key" ‖ "CTAP2 AES key" |
//! | encrypt | AES-256-CBC, IV all zero | AES-256-CBC, random IV prefixed |
//! | authenticate | HMAC-SHA-256 truncated to 16 bytes | HMAC-SHA-256, 32 bytes |

use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use ctap_types::cbor::Value;
use ctap_types::cose::{ECDH_ES_HKDF_256, crv, key, kty};
use ctap_types::{CtapError, CtapResult};

use crate::crypto::{CryptoBackend, KeyAgreement, PrivateKey, PublicKey, ct_eq, hmac_sha256};
use crate::platform::Rng;

/// The platform's key-agreement key as decoded from its COSE_Key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlatformKey {
    pub x: [u8; 32],
    pub y: [u8; 32],
}

impl PlatformKey {
    /// Decodes a COSE_Key `{1: 2 (EC2), 3: alg, -1: 1 (P-256), -2: x, -3: y}` (§6.5.6
    /// "getPublicKey"). A wrong CBOR type is CTAP2_ERR_CBOR_UNEXPECTED_TYPE; anything else that
    /// is not an EC2 P-256 key is CTAP1_ERR_INVALID_PARAMETER (the status §6.5.5 gives for a
    /// key that decapsulate() refuses). The alg value is not checked: platforms send -25 for
    /// both protocols, and it does not change what is computed.
    pub fn decode(value: &Value) -> CtapResult<Self> {
        // Anything but a map has the wrong type; absent members are checked one by one below.
        value.as_map()?;
        let get = |k: i64| value.get_int(k.into());
        let kty = get(key::KTY).ok_or(CtapError::InvalidParameter)?.as_int()?;
        let crv = get(key::CRV).ok_or(CtapError::InvalidParameter)?.as_int()?;
        let x = get(key::X).ok_or(CtapError::InvalidParameter)?.as_bytes()?;
        let y = get(key::Y).ok_or(CtapError::InvalidParameter)?.as_bytes()?;
        if let Some(alg) = get(key::ALG) {
            alg.as_int()?;
        }
        if kty != i128::from(kty::EC2) || crv != i128::from(crv::P256) {
            return Err(CtapError::InvalidParameter);
        }
        let x: [u8; 32] = x.try_into().map_err(|_| CtapError::InvalidParameter)?;
        let y: [u8; 32] = y.try_into().map_err(|_| CtapError::InvalidParameter)?;
        Ok(Self { x, y })
    }
}

/// A PIN/UV auth protocol version.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum PinProtocol {
    V1,
    V2,
}

/// Why a protocol operation failed; the CTAP layer maps each to its status code.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ProtocolError {
    /// The platform's key is not a valid P-256 point (→ CTAP1_ERR_INVALID_PARAMETER).
    InvalidPublicKey,
    /// Ciphertext length is not a whole number of blocks (→ CTAP1_ERR_INVALID_PARAMETER).
    InvalidCiphertext,
}

impl PinProtocol {
    /// The protocol for a `pinUvAuthProtocol` request value.
    pub fn from_number(n: u64) -> Option<Self> {
        match n {
            1 => Some(Self::V1),
            2 => Some(Self::V2),
            _ => None,
        }
    }

    pub fn number(self) -> u8 {
        match self {
            Self::V1 => 1,
            Self::V2 => 2,
        }
    }

    /// Length of `authenticate`'s output, which a `pinUvAuthParam` must have.
    pub fn tag_len(self) -> usize {
        match self {
            Self::V1 => 16,
            Self::V2 => 32,
        }
    }

    /// kdf(Z) → the shared secret, computed by `crypto`.
    pub fn kdf(self, crypto: &'static dyn CryptoBackend, z: &[u8; 32]) -> SharedSecret {
        match self {
            Self::V1 => {
                let key = crypto.sha256(z);
                SharedSecret {
                    protocol: self,
                    crypto,
                    hmac_key: key,
                    aes_key: key,
                }
            }
            Self::V2 => {
                let salt = [0u8; 32];
                SharedSecret {
                    protocol: self,
                    crypto,
                    hmac_key: *crypto.hkdf_sha256(&salt, z, b"CTAP2 HMAC key"),
                    aes_key: *crypto.hkdf_sha256(&salt, z, b"CTAP2 AES key"),
                }
            }
        }
    }

    /// authenticate(key, message) with a pinUvAuthToken (or any raw key) as the HMAC key.
    pub fn authenticate(self, key: &[u8], message: &[u8]) -> Vec<u8> {
        let mac = hmac_sha256(key, &[message]);
        mac[..self.tag_len()].to_vec()
    }

    /// verify(key, message, signature), constant-time; a signature of the wrong length fails.
    pub fn verify(self, key: &[u8], message: &[u8], signature: &[u8]) -> bool {
        if signature.len() != self.tag_len() {
            return false;
        }
        ct_eq(&self.authenticate(key, message), signature)
    }
}

/// The secret both sides derive from ECDH; zeroized on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SharedSecret {
    #[zeroize(skip)]
    protocol: PinProtocol,
    /// The backend that encrypts and authenticates under it.
    #[zeroize(skip)]
    crypto: &'static dyn CryptoBackend,
    hmac_key: [u8; 32],
    aes_key: [u8; 32],
}

impl SharedSecret {
    pub fn protocol(&self) -> PinProtocol {
        self.protocol
    }

    /// encrypt(key, plaintext); `plaintext` must be a whole number of 16-byte blocks (all CTAP
    /// plaintexts are: PINs padded to 64 bytes, tokens, salts, hmac-secret outputs).
    pub fn encrypt(&self, rng: &mut dyn Rng, plaintext: &[u8]) -> Vec<u8> {
        let mut iv = [0u8; 16];
        if self.protocol == PinProtocol::V2 {
            rng.fill_bytes(&mut iv);
        }
        let mut out = Vec::with_capacity(16 + plaintext.len() + 15);
        if self.protocol == PinProtocol::V2 {
            out.extend_from_slice(&iv);
        }
        let start = out.len();
        out.extend_from_slice(plaintext);
        // A partial last block is zero-padded (no CTAP plaintext has one).
        out.resize(start + plaintext.len().div_ceil(16) * 16, 0);
        self.crypto
            .aes256_cbc_encrypt(&self.aes_key, &iv, &mut out[start..]);
        out
    }

    /// decrypt(key, ciphertext).
    pub fn decrypt(&self, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>, ProtocolError> {
        let (iv, body) = match self.protocol {
            PinProtocol::V1 => ([0u8; 16], ciphertext),
            PinProtocol::V2 => {
                let (iv, body) = ciphertext
                    .split_at_checked(16)
                    .ok_or(ProtocolError::InvalidCiphertext)?;
                let mut fixed = [0u8; 16];
                fixed.copy_from_slice(iv);
                (fixed, body)
            }
        };
        if body.is_empty() || body.len() % 16 != 0 {
            return Err(ProtocolError::InvalidCiphertext);
        }
        let mut out = Zeroizing::new(body.to_vec());
        self.crypto.aes256_cbc_decrypt(&self.aes_key, &iv, &mut out);
        Ok(out)
    }

    /// authenticate(key, message) under this shared secret.
    pub fn authenticate(&self, message: &[u8]) -> Vec<u8> {
        let mac = self.crypto.hmac_sha256(&self.hmac_key, &[message]);
        mac[..self.protocol.tag_len()].to_vec()
    }

    /// verify(key, message, signature) under this shared secret, constant-time.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        signature.len() == self.protocol.tag_len() && ct_eq(&self.authenticate(message), signature)
    }
}

/// The authenticator's key-agreement key pair (CTAP 2.1 §6.5.4 `initialize()` / `regenerate()`:
/// new at every power-up, after a wrong PIN and on authenticatorReset), held by the crypto
/// backend, which uses it for every key agreement until it is replaced.
pub struct KeyAgreementKey {
    crypto: &'static dyn CryptoBackend,
    key: Box<dyn KeyAgreement>,
    public: PublicKey,
}

impl KeyAgreementKey {
    /// A new key pair: the private key drawn from the card's RNG, the pair built by `crypto`.
    pub fn generate(crypto: &'static dyn CryptoBackend, rng: &mut dyn Rng) -> Self {
        let key = crypto.key_agreement(PrivateKey::generate(rng));
        let public = key.public_key();
        Self {
            crypto,
            key,
            public,
        }
    }

    /// The public key's affine coordinates (x, y).
    pub fn public_coordinates(&self) -> ([u8; 32], [u8; 32]) {
        (self.public.x(), self.public.y())
    }

    /// The COSE_Key returned by getKeyAgreement: {1: 2, 3: -25, -1: 1, -2: x, -3: y}, canonical.
    pub fn cose_key(&self) -> Vec<u8> {
        self.public.cose_key_for(ECDH_ES_HKDF_256)
    }

    /// decapsulate(peer): ECDH with the platform's key (refused unless it is a point on P-256,
    /// §6.5.6), then the protocol's KDF.
    pub fn decapsulate(
        &self,
        protocol: PinProtocol,
        x: &[u8],
        y: &[u8],
    ) -> Result<SharedSecret, ProtocolError> {
        let x: &[u8; 32] = x.try_into().map_err(|_| ProtocolError::InvalidPublicKey)?;
        let y: &[u8; 32] = y.try_into().map_err(|_| ProtocolError::InvalidPublicKey)?;
        let peer = PublicKey::from_coordinates(x, y).ok_or(ProtocolError::InvalidPublicKey)?;
        let z = self.key.agree(&peer);
        Ok(protocol.kdf(self.crypto, &z))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Backend;
    use crate::platform::SeededRng;

    fn ops() -> &'static dyn CryptoBackend {
        Backend::default().ops()
    }

    /// The card's key agreement in one backend and the platform's in another derive the same
    /// secret, for both protocols.
    #[test]
    fn backends_interoperate() {
        let mut rng = SeededRng::new(9);
        for &card_backend in Backend::BUILT_IN {
            for &host_backend in Backend::BUILT_IN {
                for protocol in [PinProtocol::V1, PinProtocol::V2] {
                    let card = KeyAgreementKey::generate(card_backend.ops(), &mut rng);
                    let host = KeyAgreementKey::generate(host_backend.ops(), &mut rng);
                    let (cx, cy) = card.public_coordinates();
                    let (hx, hy) = host.public_coordinates();
                    let ours = card.decapsulate(protocol, &hx, &hy).unwrap();
                    let theirs = host.decapsulate(protocol, &cx, &cy).unwrap();
                    let ct = theirs.encrypt(&mut rng, &[7u8; 32]);
                    assert_eq!(ours.decrypt(&ct).unwrap().as_slice(), &[7u8; 32]);
                    assert!(ours.verify(b"m", &theirs.authenticate(b"m")));
                }
            }
        }
    }

    /// The platform's half of the protocol, as python-fido2 and Windows do it.
    fn platform_side(
        rng: &mut dyn Rng,
        protocol: PinProtocol,
        authenticator: &KeyAgreementKey,
    ) -> (SharedSecret, [u8; 32], [u8; 32]) {
        let platform = KeyAgreementKey::generate(ops(), rng);
        let (ax, ay) = authenticator.public_coordinates();
        let secret = platform.decapsulate(protocol, &ax, &ay).unwrap();
        let (px, py) = platform.public_coordinates();
        (secret, px, py)
    }

    #[test]
    fn both_sides_derive_the_same_secret_and_round_trip() {
        let mut rng = SeededRng::new(7);
        for protocol in [PinProtocol::V1, PinProtocol::V2] {
            let card = KeyAgreementKey::generate(ops(), &mut rng);
            let (host, px, py) = platform_side(&mut rng, protocol, &card);
            let ours = card.decapsulate(protocol, &px, &py).unwrap();
            let pin = [0x31u8; 64];
            let ct = host.encrypt(&mut rng, &pin);
            assert_eq!(ct.len(), if protocol == PinProtocol::V2 { 80 } else { 64 });
            assert_eq!(ours.decrypt(&ct).unwrap().as_slice(), &pin);
            let tag = host.authenticate(b"message");
            assert_eq!(tag.len(), protocol.tag_len());
            assert!(ours.verify(b"message", &tag));
            assert!(!ours.verify(b"messagf", &tag));
            assert!(!ours.verify(b"message", &tag[..tag.len() - 1]));
        }
    }

    #[test]
    fn protocol_two_uses_a_fresh_iv_and_protocol_one_none() {
        let mut rng = SeededRng::new(1);
        let z = [9u8; 32];
        let v2 = PinProtocol::V2.kdf(ops(), &z);
        assert_ne!(
            v2.encrypt(&mut rng, &[0; 16]),
            v2.encrypt(&mut rng, &[0; 16])
        );
        let v1 = PinProtocol::V1.kdf(ops(), &z);
        assert_eq!(
            v1.encrypt(&mut rng, &[0; 16]),
            v1.encrypt(&mut rng, &[0; 16])
        );
        // Protocol 1's key is SHA-256(Z) (CTAP 2.1 §6.5.6).
        let expected = crate::crypto::sha256(&z);
        assert_eq!(v1.hmac_key, expected);
        assert_ne!(v2.hmac_key, v2.aes_key);
    }

    #[test]
    fn bad_points_and_ciphertexts_are_refused() {
        let mut rng = SeededRng::new(2);
        let card = KeyAgreementKey::generate(ops(), &mut rng);
        assert_eq!(
            card.decapsulate(PinProtocol::V2, &[1; 32], &[2; 32]).err(),
            Some(ProtocolError::InvalidPublicKey)
        );
        assert_eq!(
            card.decapsulate(PinProtocol::V2, &[1; 31], &[2; 32]).err(),
            Some(ProtocolError::InvalidPublicKey)
        );
        let s = PinProtocol::V2.kdf(ops(), &[3; 32]);
        assert_eq!(
            s.decrypt(&[0; 16]).err(),
            Some(ProtocolError::InvalidCiphertext)
        );
        assert_eq!(
            s.decrypt(&[0; 33]).err(),
            Some(ProtocolError::InvalidCiphertext)
        );
        assert_eq!(
            PinProtocol::V1.kdf(ops(), &[3; 32]).decrypt(&[]).err(),
            Some(ProtocolError::InvalidCiphertext)
        );
    }

    #[test]
    fn cose_key_is_canonical_ecdh_es_hkdf_256() {
        let mut rng = SeededRng::new(3);
        let key = KeyAgreementKey::generate(ops(), &mut rng).cose_key();
        // {1: 2, 3: -25, -1: 1, -2: x, -3: y}: -25 takes two bytes (38 18), so 78 in all.
        assert_eq!(
            &key[..10],
            &[0xA5, 0x01, 0x02, 0x03, 0x38, 0x18, 0x20, 0x01, 0x21, 0x58]
        );
        assert_eq!(key.len(), 78);
    }
}
