//! The authenticator's cryptography, behind one seam.
//!
//! - [`keys`]: the key material as plain values ([`Algorithm`], P-256 [`PrivateKey`] and
//!   [`PublicKey`], [`Ed25519Seed`], a credential's [`CredentialKey`] and
//!   [`CredentialPublicKey`]) with their encodings; no curve arithmetic.
//! - [`backend`]: the seam itself: [`CryptoBackend`] (signers, the PIN protocols' key agreement
//!   and symmetric primitives), [`Signer`], [`KeyAgreement`] and the [`SignerCache`].
//! - [`select`]: the [`Backend`] choice: which backends are built in, by name, the default.
//! - `rustcrypto`: the pure-Rust backend (always built; the default without `asm-crypto`).
//! - `aws_lc`: the aws-lc-rs backend (cargo feature `asm-crypto`; then the default).
//! - [`wrap`]: credential ids (AES-256-GCM sealed keys, versioned) and hmac-secret's derived
//!   per-credential secret.
//!
//! The CTAP layer sees only these types and the traits; which backend computes is chosen when
//! the card is built ([`crate::CardBuilder::crypto_backend`]). SHA-256 and HMAC-SHA-256 are
//! re-exported from [`crate::digest`] (the platform's DRBG needs them below this module).

/// What every 32-byte secret newtype (`struct T([u8; 32])`: [`WrappingKey`], [`Ed25519Seed`])
/// has: `generate` (documented by the doc comment given; the bytes are filled in place, so no
/// copy of them is left behind), constant-time equality, and a `Debug` that hides the bytes.
macro_rules! secret_bytes_impls {
    ($(#[doc = $doc:literal])+ $ty:ident) => {
        impl $ty {
            $(#[doc = $doc])+
            pub fn generate(rng: &mut dyn $crate::platform::Rng) -> Self {
                let mut secret = Self([0u8; 32]);
                rng.fill_bytes(&mut secret.0);
                secret
            }
        }

        impl PartialEq for $ty {
            /// Constant time.
            fn eq(&self, other: &Self) -> bool {
                $crate::digest::ct_eq(&self.0, &other.0)
            }
        }

        impl Eq for $ty {}

        impl std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($ty), "(..)"))
            }
        }
    };
}

pub mod backend;
pub mod keys;
pub mod select;
pub mod wrap;

mod rustcrypto;

#[cfg(feature = "asm-crypto")]
mod aws_lc;

pub use crate::digest::{ct_eq, hmac_sha256, sha256};
pub use backend::{CryptoBackend, KeyAgreement, Signer, SignerCache};
pub use keys::{Algorithm, CredentialKey, CredentialPublicKey, Ed25519Seed, PrivateKey, PublicKey};
pub use select::{Backend, ParseBackendError};
pub use wrap::{
    CREDENTIAL_ID_LEN, CREDENTIAL_ID_VERSION, WrappedCredential, WrappingKey, derive_cred_random,
    unwrap_credential, wrap_credential,
};

/// Known-answer and agreement tests, run against every backend built in.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::SeededRng;

    fn hex(s: &str) -> Vec<u8> {
        apdu::hex_decode(s).expect("valid hex in test vector")
    }

    fn arr32(s: &str) -> [u8; 32] {
        hex(s).try_into().expect("32 bytes")
    }

    /// RFC 6979 appendix A.2.5 (P-256, SHA-256, message "sample"): the public key in every
    /// backend; the signature itself in the pure-Rust one (RFC 6979 nonces; aws-lc's are random),
    /// and every backend's signature verifies.
    #[test]
    fn ecdsa_known_answer() {
        let key = PrivateKey::from_bytes(&arr32(
            "c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721",
        ))
        .expect("valid scalar");
        let x = arr32("60fed4ba255a9d31c961eb74c6356d68c049b8923b61fa6ce669622e60f29fb6");
        let y = arr32("7903fe1008b8bc99a41ae9e95628bc64f2f1b20c2d7e9f5177a3c294d4462299");
        for &backend in Backend::BUILT_IN {
            let signer = backend.ops().signer(&CredentialKey::Es256(key.clone()));
            assert_eq!(signer.algorithm(), Algorithm::Es256);
            let CredentialPublicKey::Es256(public) = signer.public_key() else {
                panic!("an ES256 key")
            };
            assert_eq!((public.x(), public.y()), (x, y), "{backend}");
            let sig = signer.sign(&[b"sam", b"ple"]);
            assert_eq!(sig[0], 0x30, "DER SEQUENCE");
            assert!(sig.len() <= 72);
            assert!(public.verify(b"sample", &sig), "{backend}");
            assert!(!public.verify(b"samplf", &sig), "{backend}");
            if backend == Backend::RustCrypto {
                let sig = p256::ecdsa::Signature::from_der(&sig).expect("DER");
                assert_eq!(
                    sig.to_bytes().to_vec(),
                    hex(concat!(
                        "efd48b2aacb6a8fd1140dd9cd45e81d69d2c877b56aaf991c34d0ea84eaf3716",
                        "f7cb1c942d657c41d436c7a1b6e29f65f3e900dbb9aff4064dc4ab2f843acda8"
                    ))
                );
            }
        }
    }

    /// RFC 8032 §7.1 TEST 1 (empty message) and TEST 2 (one byte): Ed25519 is deterministic, so
    /// every backend gives exactly these public keys and signatures.
    #[test]
    fn ed25519_known_answers() {
        let vectors = [
            (
                "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
                "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
                "",
                concat!(
                    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155",
                    "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
                ),
            ),
            (
                "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
                "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
                "72",
                concat!(
                    "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da",
                    "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"
                ),
            ),
        ];
        for &backend in Backend::BUILT_IN {
            for (seed, public, message, signature) in vectors {
                let key = CredentialKey::EdDsa(Ed25519Seed::from_bytes(&arr32(seed)));
                let signer = backend.ops().signer(&key);
                assert_eq!(signer.algorithm(), Algorithm::EdDsa);
                let expected_public = CredentialPublicKey::EdDsa(arr32(public));
                assert_eq!(signer.public_key(), expected_public, "{backend}");
                let message = hex(message);
                let sig = signer.sign(&[&message]);
                assert_eq!(sig, hex(signature), "{backend}");
                assert!(expected_public.verify(&message, &sig));
                assert!(!expected_public.verify(b"other", &sig));
            }
        }
    }

    /// Keys are interchangeable: every backend derives the same public key from the same
    /// private key, and verifies (through the shared public-key code) what every other signed.
    #[test]
    fn backends_agree_on_keys_and_signatures() {
        let mut rng = SeededRng::new(11);
        for &alg in Algorithm::ALL {
            let key = CredentialKey::generate(alg, &mut rng);
            let publics: Vec<CredentialPublicKey> = Backend::BUILT_IN
                .iter()
                .map(|b| b.ops().signer(&key).public_key())
                .collect();
            assert!(publics.windows(2).all(|w| w[0] == w[1]), "{alg:?}");
            for &backend in Backend::BUILT_IN {
                let sig = backend.ops().signer(&key).sign(&[b"authData", b"hash"]);
                assert!(
                    publics[0].verify(b"authDatahash", &sig),
                    "{backend} {alg:?}"
                );
            }
        }
    }

    /// ECDH agrees within and across backends, and the key-agreement key can be used again
    /// (clientPIN uses one key for every exchange of a power session).
    #[test]
    fn ecdh_agrees_across_backends_and_is_reusable() {
        let mut rng = SeededRng::new(3);
        let a = PrivateKey::generate(&mut rng);
        let b = PrivateKey::generate(&mut rng);
        let mut secrets = Vec::new();
        for &backend in Backend::BUILT_IN {
            let ka = backend.ops().key_agreement(a.clone());
            let kb = backend.ops().key_agreement(b.clone());
            let z = ka.agree(&kb.public_key());
            assert_eq!(*z, *kb.agree(&ka.public_key()), "{backend}");
            assert_eq!(*z, *ka.agree(&kb.public_key()), "{backend}: reused");
            secrets.push((*z, ka.public_key()));
        }
        assert!(secrets.windows(2).all(|w| w[0] == w[1]));
    }

    /// The symmetric primitives every backend offers: RFC 4231 case 2, RFC 5869 case 1 (first
    /// 32 bytes), and an AES-256-CBC round trip against NIST SP 800-38A F.2.5 (first block).
    #[test]
    fn symmetric_known_answers() {
        for &backend in Backend::BUILT_IN {
            let ops = backend.ops();
            assert_eq!(
                ops.hmac_sha256(b"Jefe", &[b"what do ya want for nothing?"])
                    .to_vec(),
                hex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
            );
            let okm = ops.hkdf_sha256(
                &hex("000102030405060708090a0b0c"),
                &[0x0b; 22],
                &hex("f0f1f2f3f4f5f6f7f8f9"),
            );
            assert_eq!(
                okm.to_vec(),
                hex("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf")
            );
            let key = arr32("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4");
            let iv: [u8; 16] = hex("000102030405060708090a0b0c0d0e0f")
                .try_into()
                .expect("16 bytes");
            let plain = hex("6bc1bee22e409f96e93d7e117393172a");
            let mut data = plain.clone();
            ops.aes256_cbc_encrypt(&key, &iv, &mut data);
            assert_eq!(data, hex("f58c4c04d6e5f1ba779eabfb5f7bfbd6"));
            ops.aes256_cbc_decrypt(&key, &iv, &mut data);
            assert_eq!(data, plain);
            assert_eq!(
                ops.sha256(b"abc").to_vec(),
                hex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
            );
        }
    }

    #[test]
    fn backend_names_parse_and_the_default_comes_first() {
        for &backend in Backend::BUILT_IN {
            assert_eq!(backend.name().parse::<Backend>(), Ok(backend));
        }
        assert_eq!(Backend::default(), Backend::BUILT_IN[0]);
        #[cfg(feature = "asm-crypto")]
        assert_eq!(Backend::default().name(), "aws-lc");
        #[cfg(not(feature = "asm-crypto"))]
        assert_eq!(Backend::default(), Backend::RustCrypto);
        assert!("openssl".parse::<Backend>().is_err());
        // Seeded cards must repeat their answers: RFC 6979 ECDSA.
        assert_eq!(Backend::for_seeded(true), Backend::RustCrypto);
        assert_eq!(Backend::for_seeded(false), Backend::default());
    }

    /// The cache hands back the prepared signer for the same name and key, never for another
    /// key under the same name, and keeps at most CAPACITY.
    #[test]
    fn the_signer_cache_keeps_prepared_keys() {
        let cache = SignerCache::new();
        let ops = Backend::default().ops();
        let mut rng = SeededRng::new(4);
        let a = CredentialKey::generate(Algorithm::Es256, &mut rng);
        let b = CredentialKey::generate(Algorithm::EdDsa, &mut rng);
        let first = cache.signer(ops, b"id-a", &a);
        let again = cache.signer(ops, b"id-a", &a);
        assert!(std::sync::Arc::ptr_eq(&first, &again));
        let other = cache.signer(ops, b"id-a", &b);
        assert_eq!(other.algorithm(), Algorithm::EdDsa);
        assert!(!std::sync::Arc::ptr_eq(&first, &other));
        for i in 0..20u8 {
            cache.signer(ops, &[i], &a);
        }
        assert_eq!(cache.len(), SignerCache::CAPACITY);
        cache.clear();
        assert!(cache.is_empty());
    }
}
