//! hmac-secret (CTAP 2.1 §12.5): a per-credential PRF the platform can evaluate on salts of its
//! choice. Windows derives the key that unlocks the machine offline from it, so its outputs must
//! be stable for the life of the credential and exactly as §12.5 defines them.
//!
//! - makeCredential `hmac-secret: true` marks the credential (bit 3 of its flags) and answers
//!   `hmac-secret: true`.
//! - Each marked credential has two secrets, CredRandomWithUV and CredRandomWithoutUV. They are
//!   derived, not stored ([`crate::crypto::derive_cred_random`]: HMAC under the card's master
//!   key of the credential id), so non-resident credentials need no storage and
//!   authenticatorReset (new master key) destroys them with everything else.
//! - getAssertion `hmac-secret: {1: keyAgreement, 2: saltEnc, 3: saltAuth, 4: pinUvAuthProtocol}`:
//!   the platform agrees a shared secret with the card's key-agreement key under protocol 1
//!   (default) or 2, sends `saltEnc = encrypt(salt1 [|| salt2])` and
//!   `saltAuth = authenticate(saltEnc)`. The card answers
//!   `encrypt(HMAC-SHA-256(CredRandom, salt1) [|| HMAC-SHA-256(CredRandom, salt2)])`, with
//!   CredRandomWithUV if and only if user verification was performed in this getAssertion.
//!
//! Errors: an unoffered protocol or a key off the curve is CTAP1_ERR_INVALID_PARAMETER, a bad
//! saltAuth CTAP2_ERR_PIN_AUTH_INVALID, salts that are not 32 or 64 bytes
//! CTAP1_ERR_INVALID_PARAMETER; a missing member CTAP2_ERR_MISSING_PARAMETER.

use zeroize::Zeroizing;

use crate::crypto::{WrappingKey, derive_cred_random, hmac_sha256};
use crate::pin_protocol::{KeyAgreementKey, PinProtocol, PlatformKey, SharedSecret};
use crate::platform::Rng;
use ctap_types::cbor::{IntMap, Value};
use ctap_types::{CtapError, CtapResult};

/// Length of one salt and of one output.
pub const SALT_LEN: usize = 32;

/// The getAssertion input (§12.5 "authenticatorGetAssertion additional behaviors").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HmacSecretInput {
    /// 0x01 keyAgreement: the platform's COSE_Key.
    pub key_agreement: PlatformKey,
    /// 0x02 saltEnc.
    pub salt_enc: Vec<u8>,
    /// 0x03 saltAuth.
    pub salt_auth: Vec<u8>,
    /// 0x04 pinUvAuthProtocol; protocol 1 when absent.
    pub pin_uv_auth_protocol: Option<u64>,
}

impl HmacSecretInput {
    /// Decodes the input map.
    pub fn decode(value: &Value) -> CtapResult<Self> {
        let map = IntMap::new(value)?;
        let key_agreement = map.get(1).map(PlatformKey::decode).transpose()?;
        let salt_enc = map.opt_bytes(2)?;
        let salt_auth = map.opt_bytes(3)?;
        let pin_uv_auth_protocol = map.opt_unsigned(4)?;
        match (key_agreement, salt_enc, salt_auth) {
            (Some(key_agreement), Some(salt_enc), Some(salt_auth)) => Ok(Self {
                key_agreement,
                salt_enc,
                salt_auth,
                pin_uv_auth_protocol,
            }),
            _ => Err(CtapError::MissingParameter),
        }
    }
}

/// The platform's salts, checked and decrypted once per getAssertion, and the shared secret to
/// encrypt the outputs with.
pub struct Salts {
    secret: SharedSecret,
    salts: Zeroizing<Vec<u8>>,
}

impl Salts {
    /// Agrees the shared secret with `key_agreement` (the card's current key), verifies saltAuth
    /// and decrypts saltEnc. `offered` are the protocols the card offers.
    pub fn open(
        key_agreement: &KeyAgreementKey,
        offered: &[PinProtocol],
        input: &HmacSecretInput,
    ) -> CtapResult<Self> {
        let protocol = PinProtocol::from_number(input.pin_uv_auth_protocol.unwrap_or(1))
            .filter(|p| offered.contains(p))
            .ok_or(CtapError::InvalidParameter)?;
        let secret = key_agreement
            .decapsulate(protocol, &input.key_agreement.x, &input.key_agreement.y)
            .map_err(|_| CtapError::InvalidParameter)?;
        if !secret.verify(&input.salt_enc, &input.salt_auth) {
            return Err(CtapError::PinAuthInvalid);
        }
        let salts = secret
            .decrypt(&input.salt_enc)
            .map_err(|_| CtapError::InvalidParameter)?;
        if salts.len() != SALT_LEN && salts.len() != 2 * SALT_LEN {
            return Err(CtapError::InvalidParameter);
        }
        Ok(Self { secret, salts })
    }

    /// The encrypted output for a credential whose CredRandom is `cred_random`.
    pub fn output(&self, rng: &mut dyn Rng, cred_random: &[u8; 32]) -> Vec<u8> {
        let mut plain = Zeroizing::new(Vec::with_capacity(self.salts.len()));
        for salt in self.salts.chunks(SALT_LEN) {
            plain.extend_from_slice(&hmac_sha256(cred_random, &[salt]));
        }
        self.secret.encrypt(rng, &plain)
    }
}

/// CredRandomWithUV (`uv == true`) or CredRandomWithoutUV of the credential `credential_id`.
pub fn cred_random(key: &WrappingKey, credential_id: &[u8], uv: bool) -> Zeroizing<[u8; 32]> {
    Zeroizing::new(derive_cred_random(key, credential_id, uv))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::SeededRng;

    fn platform_input(
        rng: &mut SeededRng,
        card: &KeyAgreementKey,
        protocol: PinProtocol,
        salts: &[u8],
    ) -> (HmacSecretInput, SharedSecret) {
        let platform = KeyAgreementKey::generate(crate::crypto::Backend::default().ops(), rng);
        let (cx, cy) = card.public_coordinates();
        let secret = platform.decapsulate(protocol, &cx, &cy).unwrap();
        let salt_enc = secret.encrypt(rng, salts);
        let salt_auth = secret.authenticate(&salt_enc);
        let (x, y) = platform.public_coordinates();
        let input = HmacSecretInput {
            key_agreement: PlatformKey { x, y },
            salt_enc,
            salt_auth,
            pin_uv_auth_protocol: Some(u64::from(protocol.number())),
        };
        (input, secret)
    }

    /// Known answer: the output is HMAC-SHA-256(CredRandom, salt) per salt, computed here
    /// independently with the `hmac` crate.
    #[test]
    fn outputs_match_hmac_of_each_salt() {
        use hmac::{Hmac, KeyInit, Mac};
        let mut rng = SeededRng::new(5);
        let card = KeyAgreementKey::generate(crate::crypto::Backend::default().ops(), &mut rng);
        let cred_random = [0x42u8; 32];
        for protocol in [PinProtocol::V1, PinProtocol::V2] {
            let mut salts = vec![0x11u8; 32];
            salts.extend_from_slice(&[0x22u8; 32]);
            let (input, host) = platform_input(&mut rng, &card, protocol, &salts);
            let opened = Salts::open(&card, &[PinProtocol::V1, PinProtocol::V2], &input).unwrap();
            let out = host
                .decrypt(&opened.output(&mut rng, &cred_random))
                .unwrap();
            for (i, salt) in [[0x11u8; 32], [0x22u8; 32]].iter().enumerate() {
                let mut mac =
                    <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&cred_random).unwrap();
                mac.update(salt);
                let expected: [u8; 32] = mac.finalize().into_bytes().into();
                assert_eq!(&out[i * 32..(i + 1) * 32], &expected);
            }
        }
    }

    #[test]
    fn errors() {
        let mut rng = SeededRng::new(6);
        let card = KeyAgreementKey::generate(crate::crypto::Backend::default().ops(), &mut rng);
        let both = [PinProtocol::V1, PinProtocol::V2];
        let (mut input, _) = platform_input(&mut rng, &card, PinProtocol::V2, &[1; 32]);
        assert!(Salts::open(&card, &both, &input).is_ok());
        assert!(matches!(
            Salts::open(&card, &[PinProtocol::V1], &input),
            Err(CtapError::InvalidParameter)
        ));
        input.salt_auth[0] ^= 1;
        assert!(matches!(
            Salts::open(&card, &both, &input),
            Err(CtapError::PinAuthInvalid)
        ));
        let (bad_len, _) = platform_input(&mut rng, &card, PinProtocol::V1, &[1; 48]);
        assert!(matches!(
            Salts::open(&card, &both, &bad_len),
            Err(CtapError::InvalidParameter)
        ));
        let (mut default_v1, _) = platform_input(&mut rng, &card, PinProtocol::V1, &[1; 32]);
        default_v1.pin_uv_auth_protocol = None;
        assert!(Salts::open(&card, &both, &default_v1).is_ok());
        assert!(matches!(
            Salts::open(&card, &[PinProtocol::V2], &default_v1),
            Err(CtapError::InvalidParameter)
        ));
        let missing = Value::Map(vec![(Value::Unsigned(2), Value::bytes(vec![0; 32]))]);
        assert_eq!(
            HmacSecretInput::decode(&missing),
            Err(CtapError::MissingParameter)
        );
    }
}
