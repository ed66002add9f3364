//! The pure-Rust backend: RustCrypto `p256` (ECDSA, ECDH) and `ed25519-dalek` (Ed25519). No C
//! code; the default build has only this one.
//!
//! ECDSA signs straight from the stored scalar with `ecdsa::hazmat::sign_prehashed_rfc6979`
//! (`performance.md`): building an `ecdsa::SigningKey` recomputes the public key, a wasted
//! base-point multiplication that doubled getAssertion's cost. The public key is computed only
//! when asked for (makeCredential), once.

use std::sync::{Arc, OnceLock};

use ed25519_dalek::ed25519::signature::MultipartSigner;
use p256::NistP256;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::backend::{CryptoBackend, KeyAgreement, Signer};
use super::keys::{CredentialKey, CredentialPublicKey, PrivateKey, PublicKey};

/// The pure-Rust backend.
#[derive(Clone, Copy, Debug, Default)]
pub struct RustCrypto;

impl CryptoBackend for RustCrypto {
    fn signer(&self, key: &CredentialKey) -> Arc<dyn Signer> {
        match key {
            CredentialKey::Es256(key) => Arc::new(EcdsaSigner {
                key: key.clone(),
                public: OnceLock::new(),
            }),
            CredentialKey::EdDsa(seed) => Arc::new(Ed25519Signer(
                ed25519_dalek::SigningKey::from_bytes(seed.as_bytes()),
            )),
        }
    }

    fn key_agreement(&self, secret: PrivateKey) -> Box<dyn KeyAgreement> {
        let public = public_key(&secret);
        Box::new(EcdhKey { secret, public })
    }
}

/// Q = d·G.
fn public_key(key: &PrivateKey) -> PublicKey {
    PublicKey::from_p256(p256::PublicKey::from_secret_scalar(key.scalar()))
}

/// ES256 from the scalar; the public key is computed on first use.
struct EcdsaSigner {
    key: PrivateKey,
    public: OnceLock<PublicKey>,
}

impl Signer for EcdsaSigner {
    fn public_key(&self) -> CredentialPublicKey {
        CredentialPublicKey::Es256(*self.public.get_or_init(|| public_key(&self.key)))
    }

    fn sign(&self, parts: &[&[u8]]) -> Vec<u8> {
        let mut hasher = Sha256::new();
        for part in parts {
            hasher.update(part);
        }
        let digest: [u8; 32] = hasher.finalize().into();
        let (signature, _recovery_id) = ecdsa::hazmat::sign_prehashed_rfc6979::<NistP256, Sha256>(
            self.key.scalar(),
            &digest,
            &[],
        );
        signature.to_der().as_bytes().to_vec()
    }
}

/// Ed25519 (the dalek signing key holds the expanded public key it hashes into every signature).
struct Ed25519Signer(ed25519_dalek::SigningKey);

impl Signer for Ed25519Signer {
    fn public_key(&self) -> CredentialPublicKey {
        CredentialPublicKey::EdDsa(self.0.verifying_key().to_bytes())
    }

    fn sign(&self, parts: &[&[u8]]) -> Vec<u8> {
        self.0.multipart_sign(parts).to_bytes().to_vec()
    }
}

/// The key-agreement key pair.
struct EcdhKey {
    secret: PrivateKey,
    public: PublicKey,
}

impl KeyAgreement for EcdhKey {
    fn public_key(&self) -> PublicKey {
        self.public
    }

    fn agree(&self, peer: &PublicKey) -> Zeroizing<[u8; 32]> {
        let shared = p256::ecdh::diffie_hellman(*self.secret.scalar(), peer.as_p256().as_affine());
        let mut out = Zeroizing::new([0u8; 32]);
        out.copy_from_slice(shared.raw_secret_bytes());
        out
    }
}
