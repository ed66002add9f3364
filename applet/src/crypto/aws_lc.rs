//! The assembly backend (cargo feature `asm-crypto`): aws-lc-rs, i.e. AWS-LC's P-256 and
//! Ed25519 in assembly. It compiles C code, so it is never the default build.
//!
//! - ECDSA: an `EcdsaKeyPair` parsed once from the scalar (an RFC 5915 `ECPrivateKey` without
//!   the optional public key, which AWS-LC then computes: one base-point multiplication; the
//!   card's [`super::SignerCache`] keeps prepared keys). Signs a SHA-256 digest computed over the
//!   message parts; the nonce is AWS-LC's own random one (FIPS 186-5 §6.4.1), not RFC 6979, so a
//!   seeded card's ES256 signatures are not reproducible with this backend (they verify the same).
//! - ECDH: `agreement::PrivateKey`, which unlike an ephemeral key may be used for every
//!   key agreement of a power session, as clientPIN needs.
//! - Ed25519: `Ed25519KeyPair` from the seed (deterministic, RFC 8032).

use std::sync::Arc;

use aws_lc_rs::agreement::{self, ECDH_P256, UnparsedPublicKey};
use aws_lc_rs::digest::{Context, SHA256};
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair};
use zeroize::Zeroizing;

use super::backend::{CryptoBackend, KeyAgreement, Signer};
use super::keys::{CredentialKey, CredentialPublicKey, PrivateKey, PublicKey};

/// The aws-lc-rs backend.
#[derive(Clone, Copy, Debug, Default)]
pub struct AwsLc;

/// RFC 5915 `ECPrivateKey ::= SEQUENCE { version INTEGER (1), privateKey OCTET STRING (32) }`
/// (parameters and public key omitted: the curve is given by the algorithm).
fn rfc5915(scalar: &[u8; 32]) -> Zeroizing<[u8; 39]> {
    let mut der = Zeroizing::new([0u8; 39]);
    der[..7].copy_from_slice(&[0x30, 0x25, 0x02, 0x01, 0x01, 0x04, 0x20]);
    der[7..].copy_from_slice(scalar);
    der
}

impl CryptoBackend for AwsLc {
    fn signer(&self, key: &CredentialKey) -> Arc<dyn Signer> {
        match key {
            CredentialKey::Es256(key) => {
                let der = rfc5915(&key.to_bytes());
                // A PrivateKey is a valid scalar (0 < d < n), which AWS-LC accepts.
                let pair =
                    EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_ASN1_SIGNING, &*der)
                        .expect("a valid P-256 scalar is a valid ECPrivateKey");
                let public = PublicKey::from_sec1(pair.public_key().as_ref())
                    .expect("AWS-LC's public key is a point on P-256");
                Arc::new(EcdsaSigner { pair, public })
            }
            CredentialKey::EdDsa(seed) => {
                // Every 32-byte seed is an Ed25519 private key (RFC 8032 §5.1.5).
                let pair = Ed25519KeyPair::from_seed_unchecked(seed.as_bytes())
                    .expect("any 32 bytes are an Ed25519 seed");
                let mut public = [0u8; 32];
                public.copy_from_slice(pair.public_key().as_ref());
                Arc::new(Ed25519Signer { pair, public })
            }
        }
    }

    fn key_agreement(&self, secret: PrivateKey) -> Box<dyn KeyAgreement> {
        let key = agreement::PrivateKey::from_private_key(&ECDH_P256, &*secret.to_bytes())
            .expect("a valid P-256 scalar is a valid ECDH key");
        let public = key
            .compute_public_key()
            .ok()
            .and_then(|p| PublicKey::from_sec1(p.as_ref()))
            .expect("AWS-LC's public key is a point on P-256");
        Box::new(EcdhKey { key, public })
    }
}

struct EcdsaSigner {
    pair: EcdsaKeyPair,
    public: PublicKey,
}

impl Signer for EcdsaSigner {
    fn public_key(&self) -> CredentialPublicKey {
        CredentialPublicKey::Es256(self.public)
    }

    fn sign(&self, parts: &[&[u8]]) -> Vec<u8> {
        let mut hasher = Context::new(&SHA256);
        for part in parts {
            hasher.update(part);
        }
        self.pair
            .sign_digest(&hasher.finish())
            // Fails only on an internal AWS-LC error (allocation); the key and digest are valid.
            .expect("AWS-LC signs a SHA-256 digest with a valid P-256 key")
            .as_ref()
            .to_vec()
    }
}

struct Ed25519Signer {
    pair: Ed25519KeyPair,
    public: [u8; 32],
}

impl Signer for Ed25519Signer {
    fn public_key(&self) -> CredentialPublicKey {
        CredentialPublicKey::EdDsa(self.public)
    }

    fn sign(&self, parts: &[&[u8]]) -> Vec<u8> {
        let message = parts.concat();
        self.pair.sign(&message).as_ref().to_vec()
    }
}

struct EcdhKey {
    key: agreement::PrivateKey,
    public: PublicKey,
}

impl KeyAgreement for EcdhKey {
    fn public_key(&self) -> PublicKey {
        self.public
    }

    fn agree(&self, peer: &PublicKey) -> Zeroizing<[u8; 32]> {
        let peer = UnparsedPublicKey::new(&ECDH_P256, peer.to_uncompressed());
        let mut out = Zeroizing::new([0u8; 32]);
        agreement::agree(&self.key, peer, (), |z| {
            out.copy_from_slice(z);
            Ok(())
        })
        // The peer is a validated P-256 point: agreement fails only on an internal error.
        .expect("ECDH with a point on P-256");
        out
    }
}
