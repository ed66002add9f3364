//! The authenticator's cryptography behind one small surface: SHA-256, HMAC-SHA-256 (from
//! [`crate::digest`], re-exported), P-256 ECDSA (ES256, COSE alg -7) and ECDH, and the
//! AES-256-GCM credential-id wrapping.
//!
//! Everything above this module sees only [`PrivateKey`], [`PublicKey`], [`WrappingKey`] and
//! plain byte arrays, so an assembly backend (`aws-lc-rs`, see `performance.md`) could replace the
//! pure-Rust RustCrypto one behind a cargo feature without touching the CTAP layer.
//!
//! Performance notes (`performance.md`): signing goes straight from the stored scalar with
//! `ecdsa::hazmat::sign_prehashed_rfc6979`, because building an `ecdsa::SigningKey` recomputes the
//! public key, a wasted base-point multiplication that doubles getAssertion's cost.

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use p256::elliptic_curve::ops::ReduceNonZero;
use p256::elliptic_curve::point::AffineCoordinates;
use p256::{FieldBytes, NistP256, NonZeroScalar};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use ctap_types::cose::{self, crv, key, kty};

pub use crate::digest::{ct_eq, hmac_sha256, sha256};
use crate::platform::Rng;

/// A public-key credential algorithm this build implements (COSE, CTAP 2.1 §6.4 `algorithms`;
/// §6.1.2 step 3). A profile can offer only these; any other COSE number is refused when the
/// document loads. Stored with every resident credential (as its COSE identifier, so the stored
/// form does not depend on the order of the variants).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub enum Algorithm {
    /// ES256: ECDSA with P-256 and SHA-256 (COSE -7).
    Es256,
}

impl Algorithm {
    /// Every algorithm this build implements.
    pub const ALL: &'static [Algorithm] = &[Algorithm::Es256];

    /// The COSE algorithm identifier.
    pub const fn cose_id(self) -> i64 {
        match self {
            Self::Es256 => cose::ES256,
        }
    }

    /// The algorithm with COSE identifier `id`, if this build implements it.
    pub fn from_cose_id(id: i64) -> Option<Self> {
        Self::ALL.iter().copied().find(|a| a.cose_id() == id)
    }
}

impl From<Algorithm> for i64 {
    fn from(alg: Algorithm) -> i64 {
        alg.cose_id()
    }
}

impl TryFrom<i64> for Algorithm {
    type Error = String;
    fn try_from(id: i64) -> Result<Self, String> {
        Self::from_cose_id(id).ok_or_else(|| format!("COSE algorithm {id} is not implemented"))
    }
}

/// A P-256 private key: a non-zero scalar below the group order. Zeroized on drop; its `Debug`
/// never prints the secret.
#[derive(Clone)]
pub struct PrivateKey {
    scalar: NonZeroScalar,
}

impl PrivateKey {
    /// Candidates drawn before giving up on rejection sampling. A candidate is rejected with
    /// probability ~2^-32, so reaching the limit means the RNG is broken (see
    /// [`PrivateKey::generate`]).
    const MAX_KEYGEN_ATTEMPTS: usize = 64;

    /// A fresh key from `rng` (FIPS 186-5 §A.2.2, rejection sampling: draw 32 bytes, retry if they
    /// are zero or not below the order).
    ///
    /// If the RNG keeps producing invalid candidates (all 0x00 or all 0xFF: a broken RNG) the last
    /// draw is reduced modulo n−1 and incremented instead of looping forever; the card then
    /// stays responsive, and a broken RNG is a fault no key generation method can repair.
    pub fn generate(rng: &mut dyn Rng) -> Self {
        let mut bytes = Zeroizing::new([0u8; 32]);
        for _ in 0..Self::MAX_KEYGEN_ATTEMPTS {
            rng.fill_bytes(&mut *bytes);
            if let Some(key) = Self::from_bytes(&bytes) {
                return key;
            }
        }
        let wide: &FieldBytes = (&*bytes).into();
        Self {
            scalar: NonZeroScalar::reduce_nonzero(wide),
        }
    }

    /// The key whose big-endian scalar is `bytes`, or `None` if it is 0 or not below the order.
    pub fn from_bytes(bytes: &[u8; 32]) -> Option<Self> {
        let repr: &FieldBytes = bytes.into();
        NonZeroScalar::from_repr(*repr)
            .into_option()
            .map(|scalar| Self { scalar })
    }

    /// The big-endian scalar, in a buffer that is zeroized when dropped.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        let mut repr: FieldBytes = self.scalar.into();
        let mut out = Zeroizing::new([0u8; 32]);
        out.copy_from_slice(&repr);
        repr.as_mut_slice().zeroize();
        out
    }

    /// The public key Q = d·G (one base-point multiplication; cache it if you need it often).
    pub fn public_key(&self) -> PublicKey {
        PublicKey {
            point: p256::PublicKey::from_secret_scalar(&self.scalar),
        }
    }

    /// An ECDSA P-256 / SHA-256 signature of `message` in ASN.1 DER (`Ecdsa-Sig-Value`), the form
    /// WebAuthn §6.5.6 / §8.2 and U2F expect for ES256. Nonces are deterministic (RFC 6979).
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.sign_parts(&[message])
    }

    /// As [`PrivateKey::sign`], over the concatenation of `parts` (e.g. `authData ||
    /// clientDataHash`, WebAuthn §8.2 step 2) without building it.
    pub fn sign_parts(&self, parts: &[&[u8]]) -> Vec<u8> {
        let mut hasher = Sha256::new();
        for part in parts {
            hasher.update(part);
        }
        self.sign_prehashed(&hasher.finalize().into())
    }

    /// An ECDSA signature over a SHA-256 digest the caller computed.
    pub fn sign_prehashed(&self, digest: &[u8; 32]) -> Vec<u8> {
        let (signature, _recovery_id) =
            ecdsa::hazmat::sign_prehashed_rfc6979::<NistP256, Sha256>(&self.scalar, digest, &[]);
        signature.to_der().as_bytes().to_vec()
    }

    /// Raw ECDH (SP 800-56A §5.7.1.2): the x-coordinate of d·Q. CTAP 2.1 §6.5.6 and §6.5.7 feed
    /// this `Z` to their KDFs (SHA-256 for PIN/UV protocol 1, HKDF for protocol 2).
    pub fn ecdh(&self, peer: &PublicKey) -> Zeroizing<[u8; 32]> {
        let shared = p256::ecdh::diffie_hellman(self.scalar, peer.point.as_affine());
        let mut out = Zeroizing::new([0u8; 32]);
        out.copy_from_slice(shared.raw_secret_bytes());
        out
    }

    /// An `ecdsa::SigningKey` for APIs that want one (the X.509 builder). Costs a base-point
    /// multiplication: not for the signing hot path.
    pub(crate) fn signing_key(&self) -> p256::ecdsa::SigningKey {
        p256::ecdsa::SigningKey::from(self.scalar)
    }
}

impl Drop for PrivateKey {
    fn drop(&mut self) {
        self.scalar.zeroize();
    }
}

impl ZeroizeOnDrop for PrivateKey {}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PrivateKey(..)")
    }
}

impl PartialEq for PrivateKey {
    /// Constant time.
    fn eq(&self, other: &Self) -> bool {
        self.scalar.ct_eq(&other.scalar).into()
    }
}

impl Eq for PrivateKey {}

/// A P-256 public key (never the identity point).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PublicKey {
    point: p256::PublicKey,
}

impl PublicKey {
    /// A public key from its SEC1 encoding (uncompressed `04 || x || y` or compressed), or `None`
    /// if it is malformed or not on the curve.
    pub fn from_sec1(bytes: &[u8]) -> Option<Self> {
        p256::PublicKey::from_sec1_bytes(bytes)
            .ok()
            .map(|point| Self { point })
    }

    /// A public key from affine coordinates (a COSE_Key's -2 and -3), or `None` if the point is
    /// not on the curve (CTAP 2.1 §6.5.6 requires the check on the platform's key).
    pub fn from_coordinates(x: &[u8; 32], y: &[u8; 32]) -> Option<Self> {
        let mut sec1 = [0u8; 65];
        sec1[0] = 0x04;
        sec1[1..33].copy_from_slice(x);
        sec1[33..].copy_from_slice(y);
        Self::from_sec1(&sec1)
    }

    /// The affine x-coordinate, big-endian.
    pub fn x(&self) -> [u8; 32] {
        self.point.as_affine().x().into()
    }

    /// The affine y-coordinate, big-endian.
    pub fn y(&self) -> [u8; 32] {
        self.point.as_affine().y().into()
    }

    /// SEC1 uncompressed encoding `04 || x || y` (the U2F registration response's user public key,
    /// FIDO U2F Raw Message Formats §4.3).
    pub fn to_uncompressed(&self) -> [u8; 65] {
        let mut out = [0u8; 65];
        out[0] = 0x04;
        out[1..33].copy_from_slice(&self.x());
        out[33..].copy_from_slice(&self.y());
        out
    }

    /// The COSE_Key of this key for ES256 (WebAuthn §6.5.1.1 example; RFC 9053 §7.1.1) in CTAP2
    /// canonical CBOR (CTAP 2.1 §8): `{1: 2, 3: -7, -1: 1, -2: x, -3: y}`, keys in that order.
    pub fn cose_key(&self) -> Vec<u8> {
        self.cose_key_for(cose::ES256)
    }

    /// The COSE_Key of this key with algorithm `alg` (the same map as [`PublicKey::cose_key`];
    /// the PIN protocols' key agreement says -25, ECDH-ES+HKDF-256, CTAP 2.1 §6.5.6).
    pub fn cose_key_for(&self, alg: i64) -> Vec<u8> {
        let mut out = Vec::with_capacity(77);
        let mut enc = minicbor::Encoder::new(&mut out);
        // Vec<u8>'s writer error type is `Infallible`, and the encoder only fails on write errors.
        self.encode_cose_key(&mut enc, alg)
            .expect("writing CBOR into a Vec<u8> cannot fail");
        out
    }

    /// Writes the COSE_Key (as [`PublicKey::cose_key_for`]) into an encoder, for callers that
    /// build a larger CBOR structure.
    pub fn encode_cose_key<W: minicbor::encode::Write>(
        &self,
        enc: &mut minicbor::Encoder<W>,
        alg: i64,
    ) -> Result<(), minicbor::encode::Error<W::Error>> {
        // COSE key type EC2, algorithm ES256, curve P-256 (RFC 9053 §2.1, §7.1); minicbor writes
        // each integer in its shortest form, as CTAP2 canonical CBOR asks.
        enc.map(5)?
            .i64(key::KTY)?
            .i64(kty::EC2)?
            .i64(key::ALG)?
            .i64(alg)?
            .i64(key::CRV)?
            .i64(crv::P256)?
            .i64(key::X)?
            .bytes(&self.x())?
            .i64(key::Y)?
            .bytes(&self.y())?;
        Ok(())
    }

    /// The RustCrypto point, for encoders inside the crate (X.509 SubjectPublicKeyInfo).
    pub(crate) fn as_p256(&self) -> &p256::PublicKey {
        &self.point
    }

    /// Whether `der_signature` is a valid ECDSA P-256 / SHA-256 signature of `message` (tests and
    /// self-checks; the authenticator itself never verifies).
    pub fn verify(&self, message: &[u8], der_signature: &[u8]) -> bool {
        let Ok(signature) = p256::ecdsa::Signature::from_der(der_signature) else {
            return false;
        };
        ecdsa::hazmat::verify_prehashed(&self.point.to_projective(), &sha256(message), &signature)
            .is_ok()
    }
}

/// Length of a credential id made by [`wrap_credential`]: version (1) || nonce (12) ||
/// ciphertext of flags and scalar (33) || GCM tag (16).
pub const CREDENTIAL_ID_LEN: usize = 1 + NONCE_LEN + PLAINTEXT_LEN + TAG_LEN;
/// The first byte of every credential id of the current format.
pub const CREDENTIAL_ID_VERSION: u8 = 0x01;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const PLAINTEXT_LEN: usize = 1 + 32;

/// Domain-separation labels for the keys derived from the master [`WrappingKey`] (one key, one
/// purpose: the AES key never meets HMAC and vice versa).
const LABEL_WRAP_KEY: &[u8] = b"virtual-fido-card/credential-id/aes-256-gcm/v1";
const LABEL_CRED_RANDOM: &[u8] = b"virtual-fido-card/hmac-secret/CredRandom/v1";

/// The card's master secret for credential ids: 32 random bytes kept in persistent state.
/// Zeroized on drop; `Debug` hides it.
#[derive(Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct WrappingKey([u8; 32]);

impl WrappingKey {
    /// A fresh key from the card's RNG (at first power-up and on authenticatorReset, which must
    /// invalidate every credential, CTAP 2.1 §6.6).
    pub fn generate(rng: &mut dyn Rng) -> Self {
        let mut key = Self([0u8; 32]);
        rng.fill_bytes(&mut key.0);
        key
    }

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

impl PartialEq for WrappingKey {
    /// Constant time.
    fn eq(&self, other: &Self) -> bool {
        ct_eq(&self.0, &other.0)
    }
}

impl Eq for WrappingKey {}

impl std::fmt::Debug for WrappingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WrappingKey(..)")
    }
}

/// What a non-resident credential id carries: the credential's private key and a byte of CTAP
/// state (see the `FLAG_*` constants).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WrappedCredential {
    /// The credential private key.
    pub private_key: PrivateKey,
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
fn credential_aad(rp_id_hash: &[u8; 32]) -> [u8; 33] {
    let mut aad = [0u8; 33];
    aad[0] = CREDENTIAL_ID_VERSION;
    aad[1..].copy_from_slice(rp_id_hash);
    aad
}

/// Seals a credential into a [`CREDENTIAL_ID_LEN`]-byte credential id (CTAP 2.1 leaves the format
/// to the authenticator, §6.1.2 step 17, "credential ID ... may be an encrypted blob"):
/// `0x01 || nonce(12) || AES-256-GCM(flags || scalar, aad = 0x01 || rpIdHash) || tag(16)`.
///
/// The nonce is random: with 96-bit random nonces, NIST SP 800-38D §8.3 allows 2^32 encryptions
/// under one key, far beyond a card's lifetime of registrations.
pub fn wrap_credential(
    key: &WrappingKey,
    rng: &mut dyn Rng,
    rp_id_hash: &[u8; 32],
    cred: &WrappedCredential,
) -> Vec<u8> {
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill_bytes(&mut nonce);

    let mut buffer = Zeroizing::new([0u8; PLAINTEXT_LEN]);
    buffer[0] = cred.flags;
    buffer[1..].copy_from_slice(&*cred.private_key.to_bytes());

    let tag = key
        .aead()
        .encrypt_inout_detached(
            &Nonce::from(nonce),
            &credential_aad(rp_id_hash),
            buffer.as_mut_slice().into(),
        )
        // AES-GCM only fails for plaintexts over 2^36 bytes or AAD over 2^61; ours are 33 bytes.
        .expect("AES-GCM accepts a 33-byte plaintext");

    let mut id = Vec::with_capacity(CREDENTIAL_ID_LEN);
    id.push(CREDENTIAL_ID_VERSION);
    id.extend_from_slice(&nonce);
    id.extend_from_slice(&*buffer);
    id.extend_from_slice(&tag);
    id
}

/// Opens a credential id made by [`wrap_credential`] for the RP whose id hashes to
/// `rp_id_hash`. `None` for anything else: wrong length or version, a forged, altered or
/// truncated id, another RP's id, an id from another card (or from before a reset). Never panics
/// on any input.
pub fn unwrap_credential(
    key: &WrappingKey,
    rp_id_hash: &[u8; 32],
    id: &[u8],
) -> Option<WrappedCredential> {
    if id.len() != CREDENTIAL_ID_LEN {
        return None;
    }
    let (&version, rest) = id.split_first()?;
    if version != CREDENTIAL_ID_VERSION {
        return None;
    }
    let (nonce, rest) = rest.split_first_chunk::<NONCE_LEN>()?;
    let (ciphertext, tag) = rest.split_first_chunk::<PLAINTEXT_LEN>()?;
    let tag: &[u8; TAG_LEN] = tag.try_into().ok()?;

    let mut buffer = Zeroizing::new(*ciphertext);
    key.aead()
        .decrypt_inout_detached(
            &Nonce::from(*nonce),
            &credential_aad(rp_id_hash),
            buffer.as_mut_slice().into(),
            &Tag::from(*tag),
        )
        .ok()?;

    let (&flags, scalar) = buffer.split_first()?;
    let scalar: &[u8; 32] = scalar.try_into().ok()?;
    Some(WrappedCredential {
        private_key: PrivateKey::from_bytes(scalar)?,
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
    use crate::platform::SeededRng;
    use proptest::prelude::{any, prop_assert, proptest};

    fn hex(s: &str) -> Vec<u8> {
        apdu::hex_decode(s).expect("valid hex in test vector")
    }

    fn arr32(s: &str) -> [u8; 32] {
        hex(s).try_into().expect("32 bytes")
    }

    #[test]
    fn signature_verifies_and_is_der() {
        let mut rng = SeededRng::new(1);
        let key = PrivateKey::generate(&mut rng);
        let public = key.public_key();
        let sig = key.sign(b"hello");
        assert_eq!(sig[0], 0x30, "DER SEQUENCE");
        assert!(sig.len() <= 72);
        assert!(public.verify(b"hello", &sig));
        assert!(!public.verify(b"hellO", &sig));
        assert!(!public.verify(b"hello", &sig[..sig.len() - 1]));
        let other = PrivateKey::generate(&mut rng).public_key();
        assert!(!other.verify(b"hello", &sig));
        // sign_parts hashes the concatenation.
        let parts = key.sign_parts(&[b"hel", b"lo"]);
        assert_eq!(parts, sig, "RFC 6979 nonces are deterministic");
        assert!(public.verify(b"hello", &parts));
    }

    /// RFC 6979 appendix A.2.5, P-256 with SHA-256, message "sample".
    #[test]
    fn rfc6979_known_answer() {
        let key = PrivateKey::from_bytes(&arr32(
            "c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721",
        ))
        .expect("valid scalar");
        let public = key.public_key();
        assert_eq!(
            public.x(),
            arr32("60fed4ba255a9d31c961eb74c6356d68c049b8923b61fa6ce669622e60f29fb6")
        );
        assert_eq!(
            public.y(),
            arr32("7903fe1008b8bc99a41ae9e95628bc64f2f1b20c2d7e9f5177a3c294d4462299")
        );
        let sig = p256::ecdsa::Signature::from_der(&key.sign(b"sample")).expect("DER");
        assert_eq!(
            sig.to_bytes().to_vec(),
            hex(concat!(
                "efd48b2aacb6a8fd1140dd9cd45e81d69d2c877b56aaf991c34d0ea84eaf3716",
                "f7cb1c942d657c41d436c7a1b6e29f65f3e900dbb9aff4064dc4ab2f843acda8"
            ))
        );
    }

    #[test]
    fn private_key_bytes_round_trip_and_reject_invalid() {
        let key = PrivateKey::generate(&mut SeededRng::new(2));
        let again = PrivateKey::from_bytes(&key.to_bytes()).expect("valid");
        assert_eq!(key, again);
        assert_eq!(key.public_key(), again.public_key());
        assert!(PrivateKey::from_bytes(&[0u8; 32]).is_none());
        assert!(PrivateKey::from_bytes(&[0xffu8; 32]).is_none());
        // The group order n itself is rejected.
        let n = arr32("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");
        assert!(PrivateKey::from_bytes(&n).is_none());
        assert_eq!(format!("{key:?}"), "PrivateKey(..)");
    }

    /// A broken RNG (always 0xFF, never a valid scalar) still yields a key instead of hanging.
    #[test]
    fn keygen_survives_broken_rng() {
        struct Stuck;
        impl Rng for Stuck {
            fn fill_bytes(&mut self, dest: &mut [u8]) {
                dest.fill(0xff);
            }
        }
        let key = PrivateKey::generate(&mut Stuck);
        assert!(key.public_key().verify(b"m", &key.sign(b"m")));
    }

    #[test]
    fn ecdh_agrees() {
        let mut rng = SeededRng::new(3);
        let a = PrivateKey::generate(&mut rng);
        let b = PrivateKey::generate(&mut rng);
        assert_eq!(*a.ecdh(&b.public_key()), *b.ecdh(&a.public_key()));
    }

    #[test]
    fn public_key_encodings() {
        let public = PrivateKey::generate(&mut SeededRng::new(4)).public_key();
        let sec1 = public.to_uncompressed();
        assert_eq!(sec1[0], 0x04);
        assert_eq!(sec1[1..33], public.x());
        assert_eq!(sec1[33..], public.y());
        assert_eq!(PublicKey::from_sec1(&sec1), Some(public));
        assert_eq!(
            PublicKey::from_coordinates(&public.x(), &public.y()),
            Some(public)
        );
        // Off the curve.
        let mut bad_y = public.y();
        bad_y[31] ^= 1;
        assert_eq!(PublicKey::from_coordinates(&public.x(), &bad_y), None);
        assert_eq!(PublicKey::from_sec1(&[0x00]), None);
        assert_eq!(PublicKey::from_sec1(&[]), None);
    }

    #[test]
    fn cose_key_is_canonical_es256_map() {
        let public = PrivateKey::generate(&mut SeededRng::new(5)).public_key();
        let cose = public.cose_key();
        // Fixed prefix: A5 01 02 03 26 20 01 21 58 20 <x> 22 58 20 <y>.
        assert_eq!(cose.len(), 77);
        assert_eq!(
            cose[..10],
            [0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21, 0x58, 0x20]
        );
        assert_eq!(cose[42..45], [0x22, 0x58, 0x20]);

        let mut dec = minicbor::Decoder::new(&cose);
        assert_eq!(dec.map().expect("map"), Some(5));
        assert_eq!(dec.i64().expect("key"), 1);
        assert_eq!(dec.i64().expect("kty"), 2);
        assert_eq!(dec.i64().expect("key"), 3);
        assert_eq!(dec.i64().expect("alg"), -7);
        assert_eq!(dec.i64().expect("key"), -1);
        assert_eq!(dec.i64().expect("crv"), 1);
        assert_eq!(dec.i64().expect("key"), -2);
        assert_eq!(dec.bytes().expect("x"), public.x());
        assert_eq!(dec.i64().expect("key"), -3);
        assert_eq!(dec.bytes().expect("y"), public.y());
        assert_eq!(dec.position(), cose.len());
    }

    fn sample() -> (WrappingKey, SeededRng, [u8; 32], WrappedCredential) {
        let mut rng = SeededRng::new(6);
        let key = WrappingKey::generate(&mut rng);
        let cred = WrappedCredential {
            private_key: PrivateKey::generate(&mut rng),
            flags: WrappedCredential::pack_flags(true, 2, true),
        };
        (key, rng, sha256(b"example.com"), cred)
    }

    #[test]
    fn wrap_unwrap_round_trip() {
        let (key, mut rng, rp, cred) = sample();
        let id = wrap_credential(&key, &mut rng, &rp, &cred);
        assert_eq!(id.len(), CREDENTIAL_ID_LEN);
        assert_eq!(CREDENTIAL_ID_LEN, 62);
        assert_eq!(id[0], CREDENTIAL_ID_VERSION);
        let opened = unwrap_credential(&key, &rp, &id).expect("opens");
        assert_eq!(opened, cred);
        assert!(opened.discoverable());
        assert_eq!(opened.cred_protect(), 2);
        assert!(opened.hmac_secret());

        // The same credential wrapped twice gives different ids (fresh nonce).
        let id2 = wrap_credential(&key, &mut rng, &rp, &cred);
        assert_ne!(id, id2);
        assert_eq!(unwrap_credential(&key, &rp, &id2), Some(cred));
    }

    #[test]
    fn unwrap_rejects_forgeries() {
        let (key, mut rng, rp, cred) = sample();
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

    #[test]
    fn flags_pack() {
        assert_eq!(WrappedCredential::pack_flags(false, 0, false), 0);
        assert_eq!(WrappedCredential::pack_flags(true, 0, false), 0x01);
        assert_eq!(WrappedCredential::pack_flags(false, 3, false), 0x06);
        assert_eq!(WrappedCredential::pack_flags(false, 1, true), 0x0a);
        let cred = WrappedCredential {
            private_key: PrivateKey::generate(&mut SeededRng::new(8)),
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
        ) {
            let key = WrappingKey::from_bytes([1; 32]);
            let mut id = vec![CREDENTIAL_ID_VERSION];
            id.extend_from_slice(&tail);
            prop_assert!(unwrap_credential(&key, &[0; 32], &id).is_none());
        }
    }
}
