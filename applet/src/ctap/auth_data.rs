//! Authenticator data (WebAuthn §6.1, referenced by CTAP 2.1 §6.1 and §6.2).
//!
//! `rpIdHash (32) || flags (1) || signCount (4, big-endian) || [attestedCredentialData] ||
//! [extensions]`, where attestedCredentialData is `aaguid (16) || credentialIdLength (2) ||
//! credentialId || credentialPublicKey (COSE_Key)`.

/// User Present: a presence test was passed (the tap).
pub const FLAG_UP: u8 = 0x01;
/// User Verified: set only when the authenticator really verified the user (never yet: this card
/// has no PIN and no built-in UV).
pub const FLAG_UV: u8 = 0x04;
/// Attested credential data included (makeCredential).
pub const FLAG_AT: u8 = 0x40;
/// Extension data included.
pub const FLAG_ED: u8 = 0x80;

/// The attested credential data of a new credential.
pub struct AttestedCredential<'a> {
    pub aaguid: &'a [u8; 16],
    pub credential_id: &'a [u8],
    /// Canonical CBOR COSE_Key.
    pub cose_key: &'a [u8],
}

/// Builds authenticator data; `extensions` is canonical CBOR of the extension output map.
pub fn build(
    rp_id_hash: &[u8; 32],
    mut flags: u8,
    sign_count: u32,
    attested: Option<&AttestedCredential<'_>>,
    extensions: Option<&[u8]>,
) -> Vec<u8> {
    flags &= !(FLAG_AT | FLAG_ED);
    if attested.is_some() {
        flags |= FLAG_AT;
    }
    if extensions.is_some() {
        flags |= FLAG_ED;
    }
    let mut out = Vec::with_capacity(37 + 18 + 128);
    out.extend_from_slice(rp_id_hash);
    out.push(flags);
    out.extend_from_slice(&sign_count.to_be_bytes());
    if let Some(cred) = attested {
        out.extend_from_slice(cred.aaguid);
        // Credential ids are CREDENTIAL_ID_LEN bytes, far below u16::MAX.
        let len = u16::try_from(cred.credential_id.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(cred.credential_id);
        out.extend_from_slice(cred.cose_key);
    }
    if let Some(ext) = extensions {
        out.extend_from_slice(ext);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout() {
        let cred = AttestedCredential {
            aaguid: &[7; 16],
            credential_id: &[1, 2, 3],
            cose_key: &[0xA0],
        };
        let ad = build(&[9; 32], FLAG_UP, 0x01020304, Some(&cred), None);
        assert_eq!(&ad[..32], &[9; 32]);
        assert_eq!(ad[32], FLAG_UP | FLAG_AT);
        assert_eq!(&ad[33..37], &[1, 2, 3, 4]);
        assert_eq!(&ad[37..53], &[7; 16]);
        assert_eq!(&ad[53..55], &[0, 3]);
        assert_eq!(&ad[55..], &[1, 2, 3, 0xA0]);
        let plain = build(&[0; 32], FLAG_UP | FLAG_AT, 5, None, None);
        assert_eq!(plain.len(), 37);
        assert_eq!(plain[32], FLAG_UP);
    }
}
