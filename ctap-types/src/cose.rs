//! COSE identifiers as CTAP uses them: algorithm identifiers (IANA COSE Algorithms registry,
//! RFC 9053; CTAP 2.1 §6.1 `pubKeyCredParams`, §6.4 `algorithms`) and key labels (RFC 9052 §7,
//! RFC 9053 §7; the credential public key in attested credential data, the PIN protocols'
//! keyAgreement, CTAP 2.1 §6.5.6).

/// ES256: ECDSA with P-256 and SHA-256.
pub const ES256: i64 = -7;
/// EdDSA (Ed25519 in WebAuthn).
pub const EDDSA: i64 = -8;
/// ES384: ECDSA with P-384 and SHA-384.
pub const ES384: i64 = -35;
/// ES512: ECDSA with P-521 and SHA-512.
pub const ES512: i64 = -36;
/// PS256: RSASSA-PSS with SHA-256.
pub const PS256: i64 = -37;
/// RS256: RSASSA-PKCS1-v1_5 with SHA-256.
pub const RS256: i64 = -257;
/// ECDH-ES + HKDF-256: the keyAgreement key's algorithm (CTAP 2.1 §6.5.6, "getPublicKey").
pub const ECDH_ES_HKDF_256: i64 = -25;

/// The algorithm's name, for reports ("ES256"); `None` for one this table does not know.
pub fn algorithm_name(alg: i64) -> Option<&'static str> {
    Some(match alg {
        ES256 => "ES256",
        EDDSA => "EdDSA",
        ES384 => "ES384",
        ES512 => "ES512",
        PS256 => "PS256",
        RS256 => "RS256",
        ECDH_ES_HKDF_256 => "ECDH-ES+HKDF-256",
        _ => return None,
    })
}

/// COSE_Key labels (RFC 9052 §7.1 common parameters, RFC 9053 §7.1.1 EC2 parameters).
pub mod key {
    /// kty.
    pub const KTY: i64 = 1;
    /// alg.
    pub const ALG: i64 = 3;
    /// crv (EC2 / OKP).
    pub const CRV: i64 = -1;
    /// x-coordinate (EC2 / OKP).
    pub const X: i64 = -2;
    /// y-coordinate (EC2).
    pub const Y: i64 = -3;
}

/// COSE key types (RFC 9053 §7).
pub mod kty {
    /// Octet key pair (Ed25519).
    pub const OKP: i64 = 1;
    /// Elliptic curve with x and y.
    pub const EC2: i64 = 2;
}

/// COSE elliptic curves (RFC 9053 §7.1).
pub mod crv {
    pub const P256: i64 = 1;
    pub const P384: i64 = 2;
    pub const P521: i64 = 3;
    pub const ED25519: i64 = 6;
}
