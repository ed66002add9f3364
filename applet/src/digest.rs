//! SHA-256 (FIPS 180-4), HMAC-SHA-256 (RFC 2104) and constant-time comparison: the primitives
//! under both the platform's deterministic RNG ([`crate::platform::SeededRng`], an HMAC_DRBG) and
//! [`crate::crypto`], which re-exports them. A leaf module, so that `platform` (randomness) and
//! `crypto` (which draws keys from it) do not depend on each other in a loop.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

type HmacSha256 = Hmac<Sha256>;

/// SHA-256 block size: HMAC keys are padded or hashed to this length (RFC 2104 §2).
const SHA256_BLOCK_LEN: usize = 64;

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// HMAC-SHA-256 (RFC 2104) of the concatenation of `parts` under `key`; the parts save the caller
/// from concatenating (e.g. `authData || clientDataHash`).
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = hmac_with_key(key);
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// An HMAC-SHA-256 instance keyed with `key` of any length. RFC 2104 §2: a key longer than the
/// block is hashed first, a shorter one is zero-padded; done here so that keying is a total
/// function (no `Result` to unwrap).
fn hmac_with_key(key: &[u8]) -> HmacSha256 {
    let mut block = Zeroizing::new([0u8; SHA256_BLOCK_LEN]);
    if let Some(prefix) = block.get_mut(..key.len()) {
        prefix.copy_from_slice(key);
    } else {
        block[..32].copy_from_slice(&sha256(key));
    }
    <HmacSha256 as KeyInit>::new((&*block).into())
}

/// Constant-time equality of two byte strings (PIN hashes, MACs, tokens). Lengths are not
/// secret: different lengths compare unequal at once.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// The bytes of a test vector written in hex (the unit tests' known answers).
#[cfg(test)]
pub(crate) fn hex(s: &str) -> Vec<u8> {
    apdu::hex_decode(s).expect("valid hex in test vector")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_and_hmac_known_answers() {
        // FIPS 180-2 appendix B.1.
        assert_eq!(
            sha256(b"abc").to_vec(),
            hex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
        // RFC 4231 test case 2.
        assert_eq!(
            hmac_sha256(b"Jefe", &[b"what do ya want ", b"for nothing?"]).to_vec(),
            hex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        );
        // RFC 4231 test case 6: a 131-byte key, longer than the block, is hashed first.
        let key = [0xaau8; 131];
        assert_eq!(
            hmac_sha256(
                &key,
                &[b"Test Using Larger Than Block-Size Key - Hash Key First"]
            )
            .to_vec(),
            hex("60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
        );
        // A key of exactly one block is used as is.
        let block_key = [0x0bu8; 64];
        let mut reference =
            <HmacSha256 as KeyInit>::new_from_slice(&block_key).expect("any length");
        reference.update(b"x");
        assert_eq!(
            hmac_sha256(&block_key, &[b"x"]),
            <[u8; 32]>::from(reference.finalize().into_bytes())
        );
    }

    #[test]
    fn ct_eq_compares() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
        assert!(ct_eq(b"", b""));
    }
}
