//! Credential ids: a non-resident credential's key sealed under the card's master
//! [`WrappingKey`] with AES-256-GCM, bound to the relying party; and the hmac-secret
//! extension's per-credential secret derived from the same master key.
//!
//! Two formats (the first byte says which):
//!
//! | version | layout | key |
//! |---|---|---|
//! | 0x01 (before Ed25519) | `01 ‖ nonce(12) ‖ GCM(flags ‖ scalar(32)) ‖ tag(16)`, 62 bytes | ES256 |
//! | 0x02 (current) | `02 ‖ nonce(12) ‖ GCM(flags ‖ alg ‖ key(32)) ‖ tag(16)`, 63 bytes | ES256 or EdDSA |
//!
//! The additional data is `version ‖ rpIdHash` in both. Ids of version 1 keep working (they were
//! handed to relying parties and must, CTAP 2.1 §6.2.2 step 7): they open as ES256 credentials.
//!
//! AES-GCM is RustCrypto's in both backends: unsealing costs ~0.14 µs (`performance.md`), nothing
//! next to the curve, and one implementation keeps the ids the same bytes whichever backend made
//! them.

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::keys::{Algorithm, CredentialKey};
use crate::digest::hmac_sha256;
use crate::platform::Rng;

/// Length of a credential id made by [`wrap_credential`]: version (1) || nonce (12) ||
/// ciphertext of flags, algorithm and key (34) || GCM tag (16).
pub const CREDENTIAL_ID_LEN: usize = 1 + NONCE_LEN + PLAINTEXT_LEN + TAG_LEN;
/// The first byte of every credential id of the current format.
pub const CREDENTIAL_ID_VERSION: u8 = 0x02;
/// The first byte of a credential id of the first format (ES256 only, no algorithm byte).
pub const CREDENTIAL_ID_VERSION_1: u8 = 0x01;
/// Length of a version-1 credential id.
pub const CREDENTIAL_ID_V1_LEN: usize = 1 + NONCE_LEN + PLAINTEXT_V1_LEN + TAG_LEN;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const PLAINTEXT_LEN: usize = 1 + 1 + 32;
const PLAINTEXT_V1_LEN: usize = 1 + 32;

/// The algorithm byte of a version-2 id.
const ALG_ES256: u8 = 1;
const ALG_EDDSA: u8 = 2;

fn algorithm_byte(alg: Algorithm) -> u8 {
    match alg {
        Algorithm::Es256 => ALG_ES256,
        Algorithm::EdDsa => ALG_EDDSA,
    }
}

fn algorithm_of_byte(byte: u8) -> Option<Algorithm> {
    match byte {
        ALG_ES256 => Some(Algorithm::Es256),
        ALG_EDDSA => Some(Algorithm::EdDsa),
        _ => None,
    }
}

/// Domain-separation labels for the keys derived from the master [`WrappingKey`] (one key, one
/// purpose: the AES key never meets HMAC and vice versa). The AES key serves both id formats.
const LABEL_WRAP_KEY: &[u8] = b"virtual-fido-card/credential-id/aes-256-gcm/v1";
const LABEL_CRED_RANDOM: &[u8] = b"virtual-fido-card/hmac-secret/CredRandom/v1";

/// The card's master secret for credential ids: 32 random bytes kept in persistent state.
/// Zeroized on drop; `Debug` hides it.
#[derive(Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct WrappingKey([u8; 32]);

impl WrappingKey {
    /// A key from known bytes (tests, migration).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The AES-256-GCM key for credential ids.
    fn aead(&self) -> Aes256Gcm {
        let key = Zeroizing::new(hmac_sha256(&self.0, &[LABEL_WRAP_KEY]));
        <Aes256Gcm as KeyInit>::new((&*key).into())
    }
}

secret_bytes_impls! {
    /// A fresh key from the card's RNG (at first power-up and on authenticatorReset, which must
    /// invalidate every credential, CTAP 2.1 §6.6).
    WrappingKey
}

/// What a non-resident credential id carries: the credential's private key and a byte of CTAP
/// state (see the `FLAG_*` constants).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WrappedCredential {
    /// The credential private key (its algorithm included).
    pub private_key: CredentialKey,
    /// Bit 0: discoverable; bits 1–2: credProtect level (CTAP 2.1 §12.1, 1..=3; 0 in
    /// credentials made before level 1 was stored, which `extensions::cred_protect::level_of`
    /// reads as 1); bit 3: created with hmac-secret. Bits 4–7 are reserved (zero).
    pub flags: u8,
}

impl WrappedCredential {
    /// Bit 0: the credential is discoverable (resident).
    pub const FLAG_DISCOVERABLE: u8 = 0x01;
    /// Bits 1–2: the credProtect level.
    pub const FLAG_CRED_PROTECT_MASK: u8 = 0x06;
    /// Shift of the credProtect level within the flags.
    pub const FLAG_CRED_PROTECT_SHIFT: u8 = 1;
    /// Bit 3: hmac-secret was requested at creation.
    pub const FLAG_HMAC_SECRET: u8 = 0x08;

    /// Packs the flags byte. `cred_protect` is the CTAP level (1..=3; makeCredential and U2F
    /// store 1 when none was asked for); higher values are masked to two bits.
    pub fn pack_flags(discoverable: bool, cred_protect: u8, hmac_secret: bool) -> u8 {
        u8::from(discoverable)
            | ((cred_protect << Self::FLAG_CRED_PROTECT_SHIFT) & Self::FLAG_CRED_PROTECT_MASK)
            | if hmac_secret {
                Self::FLAG_HMAC_SECRET
            } else {
                0
            }
    }

    /// Whether bit 0 is set.
    pub fn discoverable(&self) -> bool {
        self.flags & Self::FLAG_DISCOVERABLE != 0
    }

    /// The credProtect bits as stored (0 = made before the default level 1 was stored; use
    /// `extensions::cred_protect::level_of` for the level in force).
    pub fn cred_protect(&self) -> u8 {
        (self.flags & Self::FLAG_CRED_PROTECT_MASK) >> Self::FLAG_CRED_PROTECT_SHIFT
    }

    /// Whether bit 3 is set.
    pub fn hmac_secret(&self) -> bool {
        self.flags & Self::FLAG_HMAC_SECRET != 0
    }
}

/// The additional authenticated data of a credential id: version || rpIdHash. Binding the RP id
/// hash makes another RP's id (or one replayed across RPs) fail authentication (CTAP 2.1 §6.2.2
/// step 7: credentials in allowList that are not for this rpId must be ignored).
fn credential_aad(version: u8, rp_id_hash: &[u8; 32]) -> [u8; 33] {
    let mut aad = [0u8; 33];
    aad[0] = version;
    aad[1..].copy_from_slice(rp_id_hash);
    aad
}

/// Seals a credential into a [`CREDENTIAL_ID_LEN`]-byte credential id (CTAP 2.1 leaves the format
/// to the authenticator, §6.1.2 step 17, "credential ID ... may be an encrypted blob"):
/// `0x02 || nonce(12) || AES-256-GCM(flags || alg || key, aad = 0x02 || rpIdHash) || tag(16)`.
///
/// The nonce is random: with 96-bit random nonces, NIST SP 800-38D §8.3 allows 2^32 encryptions
/// under one key, far beyond a card's lifetime of registrations.
pub fn wrap_credential(
    key: &WrappingKey,
    rng: &mut dyn Rng,
    rp_id_hash: &[u8; 32],
    cred: &WrappedCredential,
) -> Vec<u8> {
    wrap_version(CREDENTIAL_ID_VERSION, key, rng, rp_id_hash, cred)
}

/// Seals `cred` in the format of `version`: `flags || alg || key` for version 2,
/// `flags || key` (ES256 only) for version 1, which only the tests still make (as builds
/// before Ed25519 did) to check that old ids keep working.
fn wrap_version(
    version: u8,
    key: &WrappingKey,
    rng: &mut dyn Rng,
    rp_id_hash: &[u8; 32],
    cred: &WrappedCredential,
) -> Vec<u8> {
    let mut plaintext = Zeroizing::new(Vec::with_capacity(PLAINTEXT_LEN));
    plaintext.push(cred.flags);
    if version != CREDENTIAL_ID_VERSION_1 {
        plaintext.push(algorithm_byte(cred.private_key.algorithm()));
    }
    plaintext.extend_from_slice(&*cred.private_key.to_bytes());
    seal(key, rng, version, rp_id_hash, &mut plaintext)
}

/// `version || nonce(12) || AES-256-GCM(plaintext, aad = version || rpIdHash) || tag(16)` under a
/// fresh random nonce: the one sealing both credential id versions share. Encrypts `plaintext`
/// in place.
fn seal(
    key: &WrappingKey,
    rng: &mut dyn Rng,
    version: u8,
    rp_id_hash: &[u8; 32],
    plaintext: &mut [u8],
) -> Vec<u8> {
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill_bytes(&mut nonce);
    let tag = key
        .aead()
        .encrypt_inout_detached(
            &Nonce::from(nonce),
            &credential_aad(version, rp_id_hash),
            plaintext.into(),
        )
        // AES-GCM only fails for plaintexts over 2^36 bytes or AAD over 2^61; ours are 33 or 34
        // bytes.
        .expect("AES-GCM accepts a credential's plaintext");

    let mut id = Vec::with_capacity(1 + NONCE_LEN + plaintext.len() + TAG_LEN);
    id.push(version);
    id.extend_from_slice(&nonce);
    id.extend_from_slice(plaintext);
    id.extend_from_slice(&tag);
    id
}

/// Opens a credential id made by [`wrap_credential`] (or by a build before Ed25519: version 1,
/// ES256) for the RP whose id hashes to `rp_id_hash`. `None` for anything else: wrong length or
/// version, a forged, altered or truncated id, another RP's id, an id from another card (or
/// from before a reset), an unknown algorithm. Never panics on any input.
pub fn unwrap_credential(
    key: &WrappingKey,
    rp_id_hash: &[u8; 32],
    id: &[u8],
) -> Option<WrappedCredential> {
    let (&version, rest) = id.split_first()?;
    let (nonce, rest) = rest.split_first_chunk::<NONCE_LEN>()?;
    let (ciphertext, tag) = rest.split_at_checked(rest.len().checked_sub(TAG_LEN)?)?;
    let tag: &[u8; TAG_LEN] = tag.try_into().ok()?;
    let expected_len = match version {
        CREDENTIAL_ID_VERSION => PLAINTEXT_LEN,
        CREDENTIAL_ID_VERSION_1 => PLAINTEXT_V1_LEN,
        _ => return None,
    };
    if ciphertext.len() != expected_len {
        return None;
    }

    let mut buffer = Zeroizing::new(ciphertext.to_vec());
    key.aead()
        .decrypt_inout_detached(
            &Nonce::from(*nonce),
            &credential_aad(version, rp_id_hash),
            buffer.as_mut_slice().into(),
            &Tag::from(*tag),
        )
        .ok()?;

    let (&flags, rest) = buffer.split_first()?;
    let (alg, key_bytes) = if version == CREDENTIAL_ID_VERSION_1 {
        (Algorithm::Es256, rest)
    } else {
        let (&alg, key_bytes) = rest.split_first()?;
        (algorithm_of_byte(alg)?, key_bytes)
    };
    let key_bytes: &[u8; 32] = key_bytes.try_into().ok()?;
    Some(WrappedCredential {
        private_key: CredentialKey::from_bytes(alg, key_bytes)?,
        flags,
    })
}

/// The hmac-secret extension's per-credential secret (CTAP 2.1 §12.5: CredRandomWithUV and
/// CredRandomWithoutUV, "two random 32-byte values ... associated with the credential").
///
/// Derived, not stored: HMAC-SHA-256 under the master key of a domain-separation label, the UV
/// choice and the credential id. The id holds a fresh random nonce, so each credential gets
/// independent values, and non-resident credentials need no storage.
pub fn derive_cred_random(key: &WrappingKey, credential_id: &[u8], with_uv: bool) -> [u8; 32] {
    hmac_sha256(
        &key.0,
        &[LABEL_CRED_RANDOM, &[u8::from(with_uv)], credential_id],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::sha256;
    use crate::platform::SeededRng;
    use proptest::prelude::{any, prop_assert, proptest};

    fn sample_of(alg: Algorithm) -> (WrappingKey, SeededRng, [u8; 32], WrappedCredential) {
        let mut rng = SeededRng::new(6);
        let key = WrappingKey::generate(&mut rng);
        let cred = WrappedCredential {
            private_key: CredentialKey::generate(alg, &mut rng),
            flags: WrappedCredential::pack_flags(true, 2, true),
        };
        (key, rng, sha256(b"example.com"), cred)
    }

    fn sample() -> (WrappingKey, SeededRng, [u8; 32], WrappedCredential) {
        sample_of(Algorithm::Es256)
    }

    #[test]
    fn wrap_unwrap_round_trip() {
        for &alg in Algorithm::ALL {
            let (key, mut rng, rp, cred) = sample_of(alg);
            let id = wrap_credential(&key, &mut rng, &rp, &cred);
            assert_eq!(id.len(), CREDENTIAL_ID_LEN);
            assert_eq!(CREDENTIAL_ID_LEN, 63);
            assert_eq!(id[0], CREDENTIAL_ID_VERSION);
            let opened = unwrap_credential(&key, &rp, &id).expect("opens");
            assert_eq!(opened, cred);
            assert_eq!(opened.private_key.algorithm(), alg);
            assert!(opened.discoverable());
            assert_eq!(opened.cred_protect(), 2);
            assert!(opened.hmac_secret());

            // The same credential wrapped twice gives different ids (fresh nonce).
            let id2 = wrap_credential(&key, &mut rng, &rp, &cred);
            assert_ne!(id, id2);
            assert_eq!(unwrap_credential(&key, &rp, &id2), Some(cred));
        }
    }

    /// Ids handed out before Ed25519 (version 1, 62 bytes, no algorithm byte) still open, as
    /// ES256; with the version byte changed to 2 (other AAD, other length) they do not.
    #[test]
    fn version_1_ids_still_open_as_es256() {
        let (key, mut rng, rp, cred) = sample();
        let old = wrap_version(CREDENTIAL_ID_VERSION_1, &key, &mut rng, &rp, &cred);
        assert_eq!(old.len(), CREDENTIAL_ID_V1_LEN);
        assert_eq!(old.len(), 62);
        let opened = unwrap_credential(&key, &rp, &old).expect("a version-1 id opens");
        assert_eq!(opened, cred);
        assert_eq!(opened.private_key.algorithm(), Algorithm::Es256);
        let mut relabelled = old.clone();
        relabelled[0] = CREDENTIAL_ID_VERSION;
        assert!(unwrap_credential(&key, &rp, &relabelled).is_none());
        assert!(unwrap_credential(&key, &sha256(b"other.example"), &old).is_none());
    }

    /// A version-2 id whose algorithm byte is unknown does not open, even when authentic.
    #[test]
    fn an_unknown_algorithm_byte_does_not_open() {
        let (key, mut rng, rp, _) = sample();
        let mut buffer = [0u8; PLAINTEXT_LEN];
        buffer[1] = 9;
        buffer[2..].copy_from_slice(&[1; 32]);
        let id = seal(&key, &mut rng, CREDENTIAL_ID_VERSION, &rp, &mut buffer);
        assert!(unwrap_credential(&key, &rp, &id).is_none());
    }

    #[test]
    fn unwrap_rejects_forgeries() {
        for &alg in Algorithm::ALL {
            let (key, mut rng, rp, cred) = sample_of(alg);
            let id = wrap_credential(&key, &mut rng, &rp, &cred);

            // Another RP.
            assert!(unwrap_credential(&key, &sha256(b"evil.example"), &id).is_none());
            // Another card (or the same card after authenticatorReset).
            let other_key = WrappingKey::generate(&mut rng);
            assert!(unwrap_credential(&other_key, &rp, &id).is_none());
            // Truncated and extended.
            assert!(unwrap_credential(&key, &rp, &id[..id.len() - 1]).is_none());
            assert!(unwrap_credential(&key, &rp, &[id.as_slice(), &[0]].concat()).is_none());
            assert!(unwrap_credential(&key, &rp, &[]).is_none());
            // Every single-bit flip (version, nonce, ciphertext, tag) is caught.
            for byte in 0..id.len() {
                for bit in 0..8 {
                    let mut forged = id.clone();
                    forged[byte] ^= 1 << bit;
                    assert!(
                        unwrap_credential(&key, &rp, &forged).is_none(),
                        "flip {byte}:{bit}"
                    );
                }
            }
        }
    }

    #[test]
    fn flags_pack() {
        assert_eq!(WrappedCredential::pack_flags(false, 0, false), 0);
        assert_eq!(WrappedCredential::pack_flags(true, 0, false), 0x01);
        assert_eq!(WrappedCredential::pack_flags(false, 3, false), 0x06);
        assert_eq!(WrappedCredential::pack_flags(false, 1, true), 0x0a);
        let cred = WrappedCredential {
            private_key: CredentialKey::generate(Algorithm::Es256, &mut SeededRng::new(8)),
            flags: 0x04,
        };
        assert!(!cred.discoverable());
        assert_eq!(cred.cred_protect(), 2);
        assert!(!cred.hmac_secret());
    }

    #[test]
    fn cred_random_is_per_credential_and_per_uv() {
        let (key, mut rng, rp, cred) = sample();
        let id1 = wrap_credential(&key, &mut rng, &rp, &cred);
        let id2 = wrap_credential(&key, &mut rng, &rp, &cred);
        let uv = derive_cred_random(&key, &id1, true);
        assert_eq!(uv, derive_cred_random(&key, &id1, true));
        assert_ne!(uv, derive_cred_random(&key, &id1, false));
        assert_ne!(uv, derive_cred_random(&key, &id2, true));
        let other_key = WrappingKey::from_bytes([9; 32]);
        assert_ne!(uv, derive_cred_random(&other_key, &id1, true));
    }

    #[test]
    fn wrapping_key_persists_and_hides() {
        let key = WrappingKey::from_bytes([7; 32]);
        assert_eq!(format!("{key:?}"), "WrappingKey(..)");
        let image = postcard::to_allocvec(&key).expect("serializes");
        let back: WrappingKey = postcard::from_bytes(&image).expect("deserializes");
        assert_eq!(back, key);
        assert_ne!(back, WrappingKey::from_bytes([8; 32]));
    }

    proptest! {
        #[test]
        fn unwrap_never_panics(
            id in proptest::collection::vec(any::<u8>(), 0..200),
            rp in any::<[u8; 32]>(),
        ) {
            let key = WrappingKey::from_bytes([1; 32]);
            prop_assert!(unwrap_credential(&key, &rp, &id).is_none());
        }

        #[test]
        fn unwrap_never_panics_on_well_shaped_ids(
            tail in proptest::collection::vec(any::<u8>(), CREDENTIAL_ID_LEN - 1),
            version in 1u8..=2,
        ) {
            let key = WrappingKey::from_bytes([1; 32]);
            let mut id = vec![version];
            id.extend_from_slice(&tail);
            prop_assert!(unwrap_credential(&key, &[0; 32], &id).is_none());
            prop_assert!(unwrap_credential(&key, &[0; 32], &id[..CREDENTIAL_ID_V1_LEN]).is_none());
        }
    }
}
