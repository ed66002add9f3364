//! The crypto seam: what the card computes, as a small set of traits, and the backends that
//! implement them.
//!
//! - [`CryptoBackend`]: prepared signers for credential and attestation keys (ES256 and EdDSA),
//!   the PIN protocols' key-agreement key (ECDH P-256), and the symmetric primitives of the PIN
//!   protocols (SHA-256, HMAC-SHA-256, HKDF-SHA-256, AES-256-CBC).
//! - [`Signer`]: one key, parsed once, that signs as its algorithm says.
//! - [`KeyAgreement`]: the authenticator's key-agreement key pair; reused for every ECDH of a
//!   power session (CTAP 2.1 §6.5.4 regenerates it only at power-up, after a wrong PIN and on
//!   reset), which is why an ephemeral-only ECDH API does not fit.
//!
//! Backends ([`super::Backend`], module `select`): RustCrypto (pure Rust: `p256`,
//! `ed25519-dalek`; always built) and, with the cargo feature `asm-crypto`, aws-lc-rs (assembly;
//! C code). When both are built the card picks one at run time
//! ([`crate::CardBuilder::crypto_backend`]); the default is aws-lc when it is built in. Random numbers never come from a backend: keys, seeds and
//! nonces of the CTAP layer are drawn from [`crate::platform::Rng`] so that a seeded card is
//! reproducible and credentials are interchangeable between backends. Signatures differ only in
//! ECDSA's per-signature nonce (RFC 6979 in the pure-Rust backend, random in aws-lc); both verify
//! the same way.
//!
//! SHA-256, HMAC-SHA-256, HKDF and AES-CBC have default implementations from RustCrypto, which
//! both backends keep: they are as fast as aws-lc's on these sizes (`performance.md`), and the
//! same code for both removes a source of difference.

use std::fmt;
use std::sync::{Arc, Mutex};

use aes::Aes256;
use aes::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::keys::{Algorithm, CredentialKey, CredentialPublicKey, PrivateKey, PublicKey};
use crate::digest;

/// A credential or attestation key, prepared once for signing.
pub trait Signer: Send + Sync {
    /// The public key.
    fn public_key(&self) -> CredentialPublicKey;

    /// The key's algorithm (its public key's).
    fn algorithm(&self) -> Algorithm {
        self.public_key().algorithm()
    }

    /// The signature of the concatenation of `parts` (e.g. `authData || clientDataHash`,
    /// WebAuthn §6.3.3 step 11, §8.2): ES256 is ECDSA over SHA-256 in ASN.1 DER (WebAuthn
    /// §6.5.6), EdDSA the 64-byte Ed25519 signature of the message itself (RFC 8032 §5.1.6).
    fn sign(&self, parts: &[&[u8]]) -> Vec<u8>;
}

/// The authenticator's P-256 key-agreement key pair (CTAP 2.1 §6.5.4).
pub trait KeyAgreement: Send + Sync {
    /// The public key (getKeyAgreement's COSE_Key).
    fn public_key(&self) -> PublicKey;

    /// Raw ECDH (SP 800-56A §5.7.1.2): the x-coordinate of d·Q. `peer` is a validated point on
    /// P-256 ([`PublicKey`] cannot hold anything else).
    fn agree(&self, peer: &PublicKey) -> Zeroizing<[u8; 32]>;
}

/// What the card computes. See the module documentation.
pub trait CryptoBackend: Send + Sync {
    /// `key` prepared for signing. Preparing may cost a base-point multiplication (aws-lc and
    /// ed25519-dalek compute the public key): callers that sign repeatedly with one key keep the
    /// result ([`SignerCache`]).
    fn signer(&self, key: &CredentialKey) -> Arc<dyn Signer>;

    /// The key-agreement key pair with private key `secret`.
    fn key_agreement(&self, secret: PrivateKey) -> Box<dyn KeyAgreement>;

    /// SHA-256 (FIPS 180-4).
    fn sha256(&self, data: &[u8]) -> [u8; 32] {
        digest::sha256(data)
    }

    /// HMAC-SHA-256 (RFC 2104) of the concatenation of `parts`.
    fn hmac_sha256(&self, key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
        digest::hmac_sha256(key, parts)
    }

    /// HKDF-SHA-256 (RFC 5869) of `ikm` with `salt` and `info`, 32 bytes of output.
    fn hkdf_sha256(&self, salt: &[u8], ikm: &[u8], info: &[u8]) -> Zeroizing<[u8; 32]> {
        let mut out = Zeroizing::new([0u8; 32]);
        // 32 bytes is far below HKDF-SHA-256's 8160-byte limit: expand cannot fail.
        let _ = Hkdf::<Sha256>::new(Some(salt), ikm).expand(info, &mut *out);
        out
    }

    /// AES-256-CBC encryption in place, without padding: `data` is a whole number of 16-byte
    /// blocks (the caller checks; a trailing partial block is left as it is).
    fn aes256_cbc_encrypt(&self, key: &[u8; 32], iv: &[u8; 16], data: &mut [u8]) {
        let mut enc = cbc::Encryptor::<Aes256>::new(key.into(), iv.into());
        for chunk in data.chunks_exact_mut(16) {
            let block: &mut [u8; 16] = chunk.try_into().expect("chunks_exact_mut(16)");
            enc.encrypt_block(block.into());
        }
    }

    /// AES-256-CBC decryption in place, without padding (as [`CryptoBackend::aes256_cbc_encrypt`]).
    fn aes256_cbc_decrypt(&self, key: &[u8; 32], iv: &[u8; 16], data: &mut [u8]) {
        let mut dec = cbc::Decryptor::<Aes256>::new(key.into(), iv.into());
        for chunk in data.chunks_exact_mut(16) {
            let block: &mut [u8; 16] = chunk.try_into().expect("chunks_exact_mut(16)");
            dec.decrypt_block(block.into());
        }
    }
}

/// The few signers the card used last, so that signing with the same key again (the attestation
/// key; a credential used again) does not prepare it again: with aws-lc and ed25519-dalek that
/// preparation is a base-point multiplication, as costly as the signature itself.
///
/// Entries are found by a name (a credential id, or a fixed name for the attestation key) and
/// kept only if the key matches too (compared in constant time), so an entry can never sign for
/// another key. Transient: nothing here outlives the process.
pub struct SignerCache {
    entries: Mutex<Vec<CacheEntry>>,
}

struct CacheEntry {
    name: Vec<u8>,
    key: CredentialKey,
    signer: Arc<dyn Signer>,
}

impl SignerCache {
    /// How many signers are kept.
    pub const CAPACITY: usize = 8;

    /// An empty cache.
    pub fn new() -> Self {
        Self {
            entries: Mutex::new(Vec::with_capacity(Self::CAPACITY)),
        }
    }

    /// The signer of `key` known as `name`, prepared by `backend` unless it is kept.
    pub fn signer(
        &self,
        backend: &dyn CryptoBackend,
        name: &[u8],
        key: &CredentialKey,
    ) -> Arc<dyn Signer> {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(i) = entries.iter().position(|e| e.name == name && e.key == *key) {
            let entry = entries.remove(i);
            let signer = Arc::clone(&entry.signer);
            entries.insert(0, entry);
            return signer;
        }
        let signer = backend.signer(key);
        entries.insert(
            0,
            CacheEntry {
                name: name.to_vec(),
                key: key.clone(),
                signer: Arc::clone(&signer),
            },
        );
        entries.truncate(Self::CAPACITY);
        signer
    }

    /// Forgets every signer (authenticatorReset).
    pub fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    /// How many signers are kept now.
    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for SignerCache {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for SignerCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SignerCache({} kept)", self.len())
    }
}
