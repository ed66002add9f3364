//! The card's key material as plain values, independent of the backend that computes with it:
//! the credential algorithms ([`Algorithm`]), P-256 private and public keys, Ed25519 seeds, and a
//! credential's key of either kind with its COSE public key.
//!
//! Parsing, validating and encoding live here (pure Rust, cheap); every curve operation that
//! costs a scalar multiplication goes through a [`super::CryptoBackend`].

use p256::elliptic_curve::ops::ReduceNonZero;
use p256::elliptic_curve::point::AffineCoordinates;
use p256::{FieldBytes, NonZeroScalar};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use ctap_types::cose::{self, crv, key, kty};

use crate::digest::sha256;
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
    /// EdDSA with Ed25519 (COSE -8; RFC 8032 PureEdDSA, WebAuthn §5.8.5).
    EdDsa,
}

impl Algorithm {
    /// Every algorithm this build implements.
    pub const ALL: &'static [Algorithm] = &[Algorithm::Es256, Algorithm::EdDsa];

    /// The COSE algorithm identifier.
    pub const fn cose_id(self) -> i64 {
        match self {
            Self::Es256 => cose::ES256,
            Self::EdDsa => cose::EDDSA,
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
    /// are zero or not below the order). Drawn here, not in a backend, so that a seeded card
    /// makes the same keys whichever backend computes with them.
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

    /// The RustCrypto scalar, for the pure-Rust backend and the X.509 builder.
    pub(crate) fn scalar(&self) -> &NonZeroScalar {
        &self.scalar
    }

    /// An `ecdsa::SigningKey` for APIs that want one (the X.509 builder, once per card). Costs a
    /// base-point multiplication: not for the signing hot path.
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

    /// The public key of a RustCrypto point (the pure-Rust backend).
    pub(crate) fn from_p256(point: p256::PublicKey) -> Self {
        Self { point }
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
        // COSE key type EC2, curve P-256 (RFC 9053 §2.1, §7.1); minicbor writes each integer in
        // its shortest form, as CTAP2 canonical CBOR asks.
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

    /// The RustCrypto point, for encoders inside the crate (X.509 SubjectPublicKeyInfo) and the
    /// pure-Rust backend.
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

/// An Ed25519 private key: the 32-byte seed of RFC 8032 §5.1.5 (every value is valid). Zeroized
/// on drop; `Debug` hides it.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Ed25519Seed([u8; 32]);

impl Ed25519Seed {
    /// The seed `bytes`.
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        Self(*bytes)
    }

    /// The seed bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

secret_bytes_impls! {
    /// A fresh seed: 32 bytes from the card's RNG (RFC 8032 §5.1.5 step 1).
    Ed25519Seed
}

/// A credential's private key, of one of the [`Algorithm`]s.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CredentialKey {
    /// ES256: a P-256 scalar.
    Es256(PrivateKey),
    /// EdDSA: an Ed25519 seed.
    EdDsa(Ed25519Seed),
}

impl CredentialKey {
    /// A fresh key of algorithm `alg` from the card's RNG.
    pub fn generate(alg: Algorithm, rng: &mut dyn Rng) -> Self {
        match alg {
            Algorithm::Es256 => Self::Es256(PrivateKey::generate(rng)),
            Algorithm::EdDsa => Self::EdDsa(Ed25519Seed::generate(rng)),
        }
    }

    /// The key of algorithm `alg` stored as `bytes` (a P-256 scalar or an Ed25519 seed), or
    /// `None` if they are not a valid key of that algorithm.
    pub fn from_bytes(alg: Algorithm, bytes: &[u8; 32]) -> Option<Self> {
        match alg {
            Algorithm::Es256 => PrivateKey::from_bytes(bytes).map(Self::Es256),
            Algorithm::EdDsa => Some(Self::EdDsa(Ed25519Seed::from_bytes(bytes))),
        }
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        match self {
            Self::Es256(_) => Algorithm::Es256,
            Self::EdDsa(_) => Algorithm::EdDsa,
        }
    }

    /// The stored form: the P-256 scalar or the Ed25519 seed.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        match self {
            Self::Es256(key) => key.to_bytes(),
            Self::EdDsa(seed) => Zeroizing::new(seed.0),
        }
    }
}

/// A credential's public key, as attested credential data and credentialManagement carry it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredentialPublicKey {
    /// ES256: a P-256 point.
    Es256(PublicKey),
    /// EdDSA: the 32-byte Ed25519 public key (RFC 8032 §5.1.5).
    EdDsa([u8; 32]),
}

impl CredentialPublicKey {
    /// The key's algorithm.
    pub fn algorithm(&self) -> Algorithm {
        match self {
            Self::Es256(_) => Algorithm::Es256,
            Self::EdDsa(_) => Algorithm::EdDsa,
        }
    }

    /// The credential public key as a COSE_Key in CTAP2 canonical CBOR: EC2 for ES256
    /// ([`PublicKey::cose_key`]); for EdDSA the OKP key `{1: 1, 3: -8, -1: 6, -2: x}` (RFC 9053
    /// §7.2; WebAuthn §6.5.1.1), keys in canonical order.
    pub fn cose_key(&self) -> Vec<u8> {
        match self {
            Self::Es256(public) => public.cose_key(),
            Self::EdDsa(x) => {
                let mut out = Vec::with_capacity(44);
                let mut enc = minicbor::Encoder::new(&mut out);
                enc.map(4)
                    .and_then(|e| e.i64(key::KTY))
                    .and_then(|e| e.i64(kty::OKP))
                    .and_then(|e| e.i64(key::ALG))
                    .and_then(|e| e.i64(cose::EDDSA))
                    .and_then(|e| e.i64(key::CRV))
                    .and_then(|e| e.i64(crv::ED25519))
                    .and_then(|e| e.i64(key::X))
                    .and_then(|e| e.bytes(x))
                    // Vec<u8>'s writer cannot fail.
                    .expect("writing CBOR into a Vec<u8> cannot fail");
                out
            }
        }
    }

    /// Whether `signature` is this key's signature of `message` (tests and self-checks).
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match self {
            Self::Es256(public) => public.verify(message, signature),
            Self::EdDsa(x) => {
                let Ok(key) = ed25519_dalek::VerifyingKey::from_bytes(x) else {
                    return false;
                };
                let Ok(signature) = ed25519_dalek::Signature::from_slice(signature) else {
                    return false;
                };
                key.verify_strict(message, &signature).is_ok()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::SeededRng;

    fn arr32(s: &str) -> [u8; 32] {
        apdu::hex_decode(s)
            .expect("valid hex")
            .try_into()
            .expect("32 bytes")
    }

    #[test]
    fn private_key_bytes_round_trip_and_reject_invalid() {
        let key = PrivateKey::generate(&mut SeededRng::new(2));
        let again = PrivateKey::from_bytes(&key.to_bytes()).expect("valid");
        assert_eq!(key, again);
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
        assert!(PrivateKey::from_bytes(&key.to_bytes()).is_some());
    }

    #[test]
    fn public_key_encodings() {
        let key = PrivateKey::generate(&mut SeededRng::new(4));
        let public = PublicKey::from_p256(p256::PublicKey::from_secret_scalar(key.scalar()));
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

        // ES256 COSE_Key: A5 01 02 03 26 20 01 21 58 20 <x> 22 58 20 <y>.
        let cose = CredentialPublicKey::Es256(public).cose_key();
        assert_eq!(cose.len(), 77);
        assert_eq!(
            cose[..10],
            [0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21, 0x58, 0x20]
        );
        assert_eq!(cose[10..42], public.x());
        assert_eq!(cose[42..45], [0x22, 0x58, 0x20]);
        assert_eq!(cose[45..], public.y());
    }

    /// The OKP COSE_Key of an Ed25519 credential: {1: 1, 3: -8, -1: 6, -2: x}, canonical.
    #[test]
    fn eddsa_cose_key_is_the_canonical_okp_map() {
        let cose = CredentialPublicKey::EdDsa([0x11; 32]).cose_key();
        assert_eq!(
            cose[..9],
            [0xa4, 0x01, 0x01, 0x03, 0x27, 0x20, 0x06, 0x21, 0x58]
        );
        assert_eq!(cose[9], 0x20);
        assert_eq!(cose[10..], [0x11; 32]);
        assert_eq!(cose.len(), 42);
    }

    #[test]
    fn algorithms_and_credential_keys() {
        assert_eq!(Algorithm::from_cose_id(-7), Some(Algorithm::Es256));
        assert_eq!(Algorithm::from_cose_id(-8), Some(Algorithm::EdDsa));
        assert_eq!(Algorithm::from_cose_id(-35), None);
        assert!(Algorithm::try_from(-257).is_err());
        let mut rng = SeededRng::new(5);
        for &alg in Algorithm::ALL {
            let key = CredentialKey::generate(alg, &mut rng);
            assert_eq!(key.algorithm(), alg);
            assert_eq!(CredentialKey::from_bytes(alg, &key.to_bytes()), Some(key));
        }
        // Every 32 bytes are an Ed25519 seed; not every 32 bytes are a P-256 scalar.
        assert!(CredentialKey::from_bytes(Algorithm::EdDsa, &[0; 32]).is_some());
        assert!(CredentialKey::from_bytes(Algorithm::Es256, &[0; 32]).is_none());
        assert_eq!(
            format!("{:?}", Ed25519Seed::from_bytes(&[1; 32])),
            "Ed25519Seed(..)"
        );
    }
}
