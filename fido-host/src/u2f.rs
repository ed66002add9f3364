//! U2F (CTAP1) over NFC, host side (CTAP 2.1 §11.2, FIDO U2F Raw Message Formats): building
//! U2F_REGISTER / U2F_AUTHENTICATE / U2F_VERSION APDUs and reading their answers, with the
//! signatures checked.

use ctap_types::u2f;
use der::Decode;
use x509_cert::Certificate;

use crate::attestation::verify_es256;

/// A U2F command APDU in extended-length form, as python-fido2's `Ctap1` builds it
/// (Raw Message Formats §2: CLA 00, Lc and Le in three / two bytes).
pub fn apdu(ins: u8, p1: u8, data: &[u8]) -> Vec<u8> {
    let mut apdu = vec![0x00, ins, p1, 0x00, 0x00];
    apdu.extend_from_slice(&(data.len().min(65535) as u16).to_be_bytes());
    apdu.extend_from_slice(data);
    apdu.extend_from_slice(&[0x00, 0x00]);
    apdu
}

/// U2F_REGISTER (§4.1): challenge parameter ‖ application parameter; P1 03 (enforce presence,
/// as python-fido2 sends it).
pub fn register_apdu(challenge: &[u8; 32], application: &[u8; 32]) -> Vec<u8> {
    apdu(
        u2f::INS_REGISTER,
        u2f::ENFORCE_USER_PRESENCE,
        &[challenge.as_slice(), application].concat(),
    )
}

/// U2F_AUTHENTICATE (§5.1) with control byte `control` (check-only 07, enforce 03, don't
/// enforce 08).
pub fn authenticate_apdu(
    control: u8,
    challenge: &[u8; 32],
    application: &[u8; 32],
    key_handle: &[u8],
) -> Vec<u8> {
    let mut data = [challenge.as_slice(), application].concat();
    data.push(key_handle.len().min(255) as u8);
    data.extend_from_slice(key_handle);
    apdu(u2f::INS_AUTHENTICATE, control, &data)
}

/// A U2F_REGISTER answer (§4.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// The user public key, an uncompressed P-256 point (65 bytes).
    pub public_key: Vec<u8>,
    pub key_handle: Vec<u8>,
    /// The attestation certificate, DER.
    pub certificate: Vec<u8>,
    pub signature: Vec<u8>,
}

impl Registration {
    /// Splits a REGISTER answer: 05 ‖ public key (65) ‖ L ‖ key handle (L) ‖ certificate (one
    /// DER SEQUENCE) ‖ signature.
    pub fn parse(data: &[u8]) -> Result<Self, String> {
        let (&reserved, rest) = data.split_first().ok_or("empty REGISTER answer")?;
        if reserved != u2f::REGISTER_RESERVED {
            return Err(format!(
                "REGISTER answer starts with {reserved:02X}, not 05"
            ));
        }
        let (public_key, rest) = rest.split_at_checked(65).ok_or("no public key")?;
        if public_key[0] != 0x04 {
            return Err("the public key is not an uncompressed point".into());
        }
        let (&len, rest) = rest.split_first().ok_or("no key handle length")?;
        let (key_handle, rest) = rest
            .split_at_checked(usize::from(len))
            .ok_or("key handle shorter than its length")?;
        let cert =
            Certificate::from_der_partial(rest).map_err(|e| format!("no DER certificate: {e}"))?;
        let cert_len = rest.len() - cert.1.len();
        let (certificate, signature) = rest.split_at(cert_len);
        Ok(Self {
            public_key: public_key.to_vec(),
            key_handle: key_handle.to_vec(),
            certificate: certificate.to_vec(),
            signature: signature.to_vec(),
        })
    }

    /// Whether the registration signature over 00 ‖ application ‖ challenge ‖ key handle ‖
    /// public key verifies with the attestation certificate's key (§4.3).
    pub fn verifies(&self, challenge: &[u8; 32], application: &[u8; 32]) -> bool {
        let Ok(cert) = Certificate::from_der(&self.certificate) else {
            return false;
        };
        let spki = cert.tbs_certificate().subject_public_key_info();
        let Ok(key) =
            p256::ecdsa::VerifyingKey::from_sec1_bytes(spki.subject_public_key.raw_bytes())
        else {
            return false;
        };
        let signed = [
            &[0x00][..],
            application,
            challenge,
            &self.key_handle,
            &self.public_key,
        ]
        .concat();
        verify_es256(&key, &signed, &self.signature)
    }
}

/// A U2F_AUTHENTICATE answer (§5.4): user presence byte, counter, signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authentication {
    pub flags: u8,
    pub counter: u32,
    pub signature: Vec<u8>,
}

impl Authentication {
    pub fn parse(data: &[u8]) -> Result<Self, String> {
        let (head, signature) = data
            .split_at_checked(5)
            .ok_or("AUTHENTICATE answer too short")?;
        Ok(Self {
            flags: head[0],
            counter: u32::from_be_bytes([head[1], head[2], head[3], head[4]]),
            signature: signature.to_vec(),
        })
    }

    /// Whether the signature over application ‖ flags ‖ counter ‖ challenge verifies with the
    /// registered `public_key` (§5.4).
    pub fn verifies(
        &self,
        public_key: &[u8],
        challenge: &[u8; 32],
        application: &[u8; 32],
    ) -> bool {
        let Ok(key) = p256::ecdsa::VerifyingKey::from_sec1_bytes(public_key) else {
            return false;
        };
        let mut signed = application.to_vec();
        signed.push(self.flags);
        signed.extend_from_slice(&self.counter.to_be_bytes());
        signed.extend_from_slice(challenge);
        verify_es256(&key, &signed, &self.signature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apdus_carry_the_raw_message_layout() {
        let r = register_apdu(&[1; 32], &[2; 32]);
        assert_eq!(&r[..7], &[0x00, 0x01, 0x03, 0x00, 0x00, 0x00, 64]);
        assert_eq!(r.len(), 7 + 64 + 2);
        let a = authenticate_apdu(u2f::CHECK_ONLY, &[1; 32], &[2; 32], &[9; 3]);
        assert_eq!(&a[..7], &[0x00, 0x02, 0x07, 0x00, 0x00, 0x00, 68]);
        assert_eq!(&a[7 + 64..7 + 68], &[3, 9, 9, 9]);
    }

    #[test]
    fn malformed_answers_are_errors() {
        assert!(Registration::parse(&[]).is_err());
        assert!(Registration::parse(&[0x04; 80]).is_err());
        let mut short_handle = vec![0x05, 0x04];
        short_handle.extend_from_slice(&[0; 64]);
        short_handle.push(10);
        assert!(Registration::parse(&short_handle).is_err());
        assert!(Authentication::parse(&[1, 0, 0]).is_err());
        let a = Authentication::parse(&[1, 0, 0, 0, 7, 0x30]).expect("parses");
        assert_eq!(
            (a.flags, a.counter, a.signature.as_slice()),
            (1, 7, &[0x30][..])
        );
        assert!(!a.verifies(&[0x04; 65], &[0; 32], &[0; 32]));
    }
}
