//! Attestation material for the 'packed' attestation statement format (WebAuthn Level 2 §8.2):
//! a batch attestation key, its X.509 certificate, and the root CA that signed it.
//!
//! The certificate follows WebAuthn §8.2.1 "Certificate Requirements for Packed Attestation
//! Statements": X.509 v3; subject C (ISO 3166 code), O (vendor), OU = "Authenticator
//! Attestation", CN; basicConstraints CA=false; and, because the root may serve several models,
//! the id-fido-gen-ce-aaguid extension (1.3.6.1.4.1.45724.1.1.4) holding the AAGUID, not
//! critical. The x5c array of the attestation statement carries only the batch certificate; the
//! root is what a relying party (or FIDO MDS) configures as trust anchor, so the card exports it
//! as PEM (`attestation_root_pem`).
//!
//! Each virtual card mints its own root and batch certificate when its state is first created;
//! the root private key is discarded at once, since nothing else is ever signed with it.

use std::time::Duration;

use der::asn1::{Any, OctetString, PrintableStringRef, Utf8StringRef};
use der::oid::{AssociatedOid, ObjectIdentifier};
use der::{DateTime, Encode};
use serde::{Deserialize, Serialize};
use x509_cert::builder::profile::BuilderProfile;
use x509_cert::builder::{Builder, CertificateBuilder};
use x509_cert::certificate::TbsCertificate;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, KeyUsage, KeyUsages, SubjectKeyIdentifier,
};
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{SubjectPublicKeyInfoOwned, SubjectPublicKeyInfoRef};
use x509_cert::time::{Time, Validity};
use zeroize::Zeroize;

use crate::crypto::{CredentialKey, CryptoBackend, PrivateKey};
use crate::platform::Rng;

/// id-fido-gen-ce-aaguid (FIDO Metadata / WebAuthn §8.2.1.2).
pub const ID_FIDO_GEN_CE_AAGUID: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.45724.1.1.4");

/// The subject OU WebAuthn §8.2.1 requires, verbatim.
pub const ATTESTATION_OU: &str = "Authenticator Attestation";

/// The certificates' validity, in years from `not_before`.
pub const VALIDITY_YEARS: u16 = 20;

// X.520 attribute types (RFC 4519 §2).
const OID_COUNTRY: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.6");
const OID_ORGANIZATION: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.10");
const OID_ORGANIZATIONAL_UNIT: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.11");
const OID_COMMON_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");

/// Why attestation material could not be made or used.
#[derive(Debug, thiserror::Error)]
pub enum AttestationError {
    /// A subject field breaks WebAuthn §8.2.1 or X.520 (e.g. a country that is not two letters).
    #[error("invalid attestation subject: {0}")]
    InvalidSubject(String),
    /// `not_before` (or `not_before` + 20 years) is outside what X.509 times can express.
    #[error("certificate validity starting at unix time {0} cannot be encoded")]
    InvalidValidity(u64),
    /// The stored batch key is not a valid P-256 scalar (a corrupted state image).
    #[error("the attestation private key is not a valid P-256 scalar")]
    InvalidKey,
    /// DER encoding failed.
    #[error("DER encoding: {0}")]
    Der(#[from] der::Error),
    /// Encoding the public key failed.
    #[error("public key encoding: {0}")]
    PublicKey(#[from] x509_cert::spki::Error),
    /// The certificate builder failed.
    #[error("certificate builder: {0}")]
    Builder(#[from] x509_cert::builder::Error),
    /// PEM encoding failed (an invalid label).
    #[error("PEM encoding: {0}")]
    Pem(#[from] der::pem::Error),
}

/// Who the certificates name. The batch certificate's subject is C / O / OU="Authenticator
/// Attestation" / CN; the root's is C / O / CN=`root_common_name`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttestationSubject {
    /// ISO 3166 alpha-2 code of the country where the vendor is incorporated (WebAuthn §8.2.1).
    pub country: String,
    /// Legal name of the authenticator vendor.
    pub organization: String,
    /// The batch certificate's common name (vendor's choice).
    pub common_name: String,
    /// The root CA certificate's common name.
    pub root_common_name: String,
}

impl AttestationSubject {
    /// Checks the subject against WebAuthn §8.2.1 and X.520 upper bounds.
    pub fn validate(&self) -> Result<(), AttestationError> {
        let country = self.country.as_bytes();
        if country.len() != 2 || !country.iter().all(u8::is_ascii_uppercase) {
            return Err(AttestationError::InvalidSubject(format!(
                "country {:?} is not an ISO 3166 alpha-2 code",
                self.country
            )));
        }
        for (field, value) in [
            ("organization", &self.organization),
            ("common_name", &self.common_name),
            ("root_common_name", &self.root_common_name),
        ] {
            // X.520 ub-organization-name and ub-common-name are 64 characters.
            if value.is_empty() || value.chars().count() > 64 {
                return Err(AttestationError::InvalidSubject(format!(
                    "{field} must hold 1 to 64 characters"
                )));
            }
        }
        Ok(())
    }
}

/// The batch attestation key and certificates, as kept in the card's persistent state.
///
/// `key` is zeroized when the value is dropped; `Debug` hides it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttestationMaterial {
    /// The batch attestation private key: a big-endian P-256 scalar.
    pub key: [u8; 32],
    /// The batch attestation certificate (DER); the one element of the statement's x5c.
    #[serde(with = "crate::state::bytes")]
    pub cert_der: Vec<u8>,
    /// The root CA certificate (DER) that signed `cert_der`; a trust anchor, never sent in x5c.
    #[serde(with = "crate::state::bytes")]
    pub root_cert_der: Vec<u8>,
}

impl Drop for AttestationMaterial {
    fn drop(&mut self) {
        self.key.zeroize();
    }
}

impl std::fmt::Debug for AttestationMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AttestationMaterial")
            .field("key", &"..")
            .field("cert_der", &format_args!("{} bytes", self.cert_der.len()))
            .field(
                "root_cert_der",
                &format_args!("{} bytes", self.root_cert_der.len()),
            )
            .finish()
    }
}

impl AttestationMaterial {
    /// The batch private key. Fails only if `key` was corrupted (it is validated when generated).
    pub fn private_key(&self) -> Result<PrivateKey, AttestationError> {
        PrivateKey::from_bytes(&self.key).ok_or(AttestationError::InvalidKey)
    }

    /// The packed attestation signature (WebAuthn §8.2 "Signing procedure" step 2): ECDSA P-256 /
    /// SHA-256 over the concatenation of `parts` (authenticatorData || clientDataHash), ASN.1
    /// DER, computed by `crypto`. The card itself keeps the prepared key
    /// (`Authenticator::attestation_sign`); this is for one-off uses.
    pub fn sign(
        &self,
        crypto: &dyn CryptoBackend,
        parts: &[&[u8]],
    ) -> Result<Vec<u8>, AttestationError> {
        Ok(crypto
            .signer(&CredentialKey::Es256(self.private_key()?))
            .sign(parts))
    }

    /// The root CA certificate as PEM, for relying parties' trust stores.
    pub fn root_pem(&self) -> String {
        certificate_pem(&self.root_cert_der)
    }

    /// The batch attestation certificate as PEM.
    pub fn cert_pem(&self) -> String {
        certificate_pem(&self.cert_der)
    }
}

fn certificate_pem(der: &[u8]) -> String {
    // "CERTIFICATE" is a valid RFC 7468 label and certificates are far below the length limit,
    // so encoding cannot fail.
    der_to_pem("CERTIFICATE", der).expect("CERTIFICATE is a valid PEM label")
}

/// RFC 7468 PEM encoding of `der` under `label` (e.g. "CERTIFICATE"), LF line endings. Fails only
/// for a label RFC 7468 does not allow.
pub fn der_to_pem(label: &str, der: &[u8]) -> Result<String, AttestationError> {
    Ok(der::pem::encode_string(
        label,
        der::pem::LineEnding::LF,
        der,
    )?)
}

/// Makes a self-signed P-256 root CA and a batch attestation certificate signed by it, both valid
/// from `not_before_unix` (seconds since the epoch) for [`VALIDITY_YEARS`] years, with random
/// positive 16-byte serial numbers. All randomness (keys, serials) comes from `rng`, so a seeded
/// RNG gives byte-identical certificates; signatures use RFC 6979 nonces.
///
/// Times up to 2049 are encoded as UTCTime and later ones as GeneralizedTime (RFC 5280
/// §4.1.2.5).
pub fn generate(
    rng: &mut dyn Rng,
    aaguid: &[u8; 16],
    subject: &AttestationSubject,
    not_before_unix: u64,
) -> Result<AttestationMaterial, AttestationError> {
    subject.validate()?;
    let validity = validity(not_before_unix)?;

    let root_key = PrivateKey::generate(rng);
    let batch_key = PrivateKey::generate(rng);
    let root_signer = root_key.signing_key();

    let root_name = name(&[
        (OID_COUNTRY, &subject.country),
        (OID_ORGANIZATION, &subject.organization),
        (OID_COMMON_NAME, &subject.root_common_name),
    ])?;
    let batch_name = name(&[
        (OID_COUNTRY, &subject.country),
        (OID_ORGANIZATION, &subject.organization),
        (OID_ORGANIZATIONAL_UNIT, ATTESTATION_OU),
        (OID_COMMON_NAME, &subject.common_name),
    ])?;

    let root_profile = CertProfile {
        subject: root_name.clone(),
        issuer: root_name,
        kind: CertKind::Root,
    };
    let root_spki = SubjectPublicKeyInfoOwned::from_key(root_signer.verifying_key())?;
    let root_cert = CertificateBuilder::new(root_profile, serial(rng)?, validity, root_spki)?
        .build::<_, p256::ecdsa::DerSignature>(&root_signer)?;

    let batch_profile = CertProfile {
        subject: batch_name,
        issuer: root_cert.tbs_certificate().subject().clone(),
        kind: CertKind::Attestation { aaguid: *aaguid },
    };
    // The certificates are made once per card, with RustCrypto whatever the backend: the X.509
    // builder signs through RustCrypto's traits.
    let batch_spki = SubjectPublicKeyInfoOwned::from_key(batch_key.signing_key().verifying_key())?;
    let batch_cert = CertificateBuilder::new(batch_profile, serial(rng)?, validity, batch_spki)?
        .build::<_, p256::ecdsa::DerSignature>(&root_signer)?;

    Ok(AttestationMaterial {
        key: *batch_key.to_bytes(),
        cert_der: batch_cert.to_der()?,
        root_cert_der: root_cert.to_der()?,
    })
}

/// `not_before` and `not_before` + 20 calendar years (29 February falls back to 28 February in
/// a common year).
fn validity(not_before_unix: u64) -> Result<Validity, AttestationError> {
    let invalid = || AttestationError::InvalidValidity(not_before_unix);
    let start = DateTime::from_unix_duration(Duration::from_secs(not_before_unix))
        .map_err(|_| invalid())?;
    let year = start
        .year()
        .checked_add(VALIDITY_YEARS)
        .ok_or_else(invalid)?;
    let end = |day| {
        DateTime::new(
            year,
            start.month(),
            day,
            start.hour(),
            start.minutes(),
            start.seconds(),
        )
    };
    let end = end(start.day())
        .or_else(|_| end(28))
        .map_err(|_| invalid())?;
    Ok(Validity::new(Time::from(start), Time::from(end)))
}

/// A random positive serial number of 16 bytes (RFC 5280 §4.1.2.2: positive, at most 20 octets;
/// CA/B Forum: at least 64 random bits). The top bits are fixed to 01 so the DER INTEGER needs
/// neither a sign byte nor loses leading zeros: always 16 octets, 126 of them random bits.
fn serial(rng: &mut dyn Rng) -> Result<SerialNumber, der::Error> {
    let mut bytes = [0u8; 16];
    rng.fill_bytes(&mut bytes);
    bytes[0] = (bytes[0] & 0x3f) | 0x40;
    SerialNumber::new(&bytes)
}

/// A distinguished name with one attribute per RDN, in the given order. Country is a
/// PrintableString (X.520), everything else UTF8String (RFC 5280 §4.1.2.4).
fn name(attributes: &[(ObjectIdentifier, &str)]) -> Result<Name, AttestationError> {
    let mut rdns = Vec::with_capacity(attributes.len());
    for &(oid, value) in attributes {
        let value = if oid == OID_COUNTRY {
            Any::encode_from(&PrintableStringRef::new(value)?)?
        } else {
            Any::encode_from(&Utf8StringRef::new(value)?)?
        };
        let atv = x509_cert::attr::AttributeTypeAndValue { oid, value };
        rdns.push(RelativeDistinguishedName::try_from(vec![atv])?);
    }
    // `Name` has no public constructor from an `RdnSequence` (outside x509-cert's `hazmat`
    // feature); both share one DER encoding, so convert through it.
    Ok(<Name as der::Decode>::from_der(
        &RdnSequence::from(rdns).to_der()?,
    )?)
}

enum CertKind {
    Root,
    Attestation { aaguid: [u8; 16] },
}

/// The builder profile of our two certificates (x509-cert's profiles are for the Web PKI and
/// IEEE 802.1AR, not FIDO).
struct CertProfile {
    subject: Name,
    issuer: Name,
    kind: CertKind,
}

impl BuilderProfile for CertProfile {
    fn get_issuer(&self, _subject: &Name) -> Name {
        self.issuer.clone()
    }

    fn get_subject(&self) -> Name {
        self.subject.clone()
    }

    fn build_extensions(
        &self,
        spk: SubjectPublicKeyInfoRef<'_>,
        issuer_spk: SubjectPublicKeyInfoRef<'_>,
        _tbs: &TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        // RFC 5280 §4.2.1.2: subjectKeyIdentifier, the SHA-1 of the subject public key.
        let ski = extension(false, &SubjectKeyIdentifier::try_from(spk)?)?;
        Ok(match self.kind {
            CertKind::Root => vec![
                // RFC 5280 §4.2.1.9: critical in CA certificates; path length 0 because the root
                // signs the attestation certificates directly.
                extension(
                    true,
                    &BasicConstraints {
                        ca: true,
                        path_len_constraint: Some(0),
                    },
                )?,
                // RFC 5280 §4.2.1.3: keyCertSign (and cRLSign), critical.
                extension(true, &KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign))?,
                ski,
            ],
            CertKind::Attestation { aaguid } => vec![
                // WebAuthn §8.2.1: CA component false; RFC 5280 lets us mark it critical.
                extension(
                    true,
                    &BasicConstraints {
                        ca: false,
                        path_len_constraint: None,
                    },
                )?,
                ski,
                // RFC 5280 §4.2.1.1: the root's key identifier, to build the path.
                extension(false, &AuthorityKeyIdentifier::try_from(issuer_spk)?)?,
                // WebAuthn §8.2.1: extnValue is an OCTET STRING wrapping the DER of an OCTET
                // STRING of the 16 AAGUID bytes; MUST NOT be critical.
                Extension {
                    extn_id: ID_FIDO_GEN_CE_AAGUID,
                    critical: false,
                    extn_value: OctetString::new(OctetString::new(aaguid)?.to_der()?)?,
                },
            ],
        })
    }
}

fn extension<T: AssociatedOid + Encode>(critical: bool, value: &T) -> der::Result<Extension> {
    Ok(Extension {
        extn_id: T::OID,
        critical,
        extn_value: OctetString::new(value.to_der()?)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::PublicKey;
    use crate::platform::SeededRng;
    use der::Decode;
    use x509_cert::Certificate;
    use x509_cert::certificate::Version;

    const AAGUID: [u8; 16] = [
        0xf4, 0x80, 0x41, 0x84, 0xae, 0xeb, 0x48, 0x51, 0x82, 0xac, 0x5e, 0x27, 0x3d, 0xe2, 0xe0,
        0xa1,
    ];
    /// 2025-01-01T00:00:00Z.
    const NOT_BEFORE: u64 = 1_735_689_600;

    fn subject() -> AttestationSubject {
        AttestationSubject {
            country: "US".into(),
            organization: "Example Vendor".into(),
            common_name: "Example Batch".into(),
            root_common_name: "Example Root CA".into(),
        }
    }

    fn material(seed: u64, not_before: u64) -> AttestationMaterial {
        generate(&mut SeededRng::new(seed), &AAGUID, &subject(), not_before).expect("generates")
    }

    fn spki_key(cert: &Certificate) -> PublicKey {
        let spki = cert.tbs_certificate().subject_public_key_info();
        PublicKey::from_sec1(spki.subject_public_key.raw_bytes()).expect("P-256 key")
    }

    fn signed_by(cert: &Certificate, issuer: &PublicKey) -> bool {
        let tbs = cert.tbs_certificate().to_der().expect("re-encode tbs");
        issuer.verify(&tbs, cert.signature().raw_bytes())
    }

    fn text(value: Option<x509_cert::ext::pkix::name::DirectoryString>) -> String {
        value.expect("attribute present").value().into_owned()
    }

    #[test]
    fn batch_certificate_meets_webauthn_8_2_1() {
        let m = material(1, NOT_BEFORE);
        let root = Certificate::from_der(&m.root_cert_der).expect("root parses");
        let cert = Certificate::from_der(&m.cert_der).expect("cert parses");
        let tbs = cert.tbs_certificate();

        assert_eq!(tbs.version(), Version::V3);
        let subj = tbs.subject();
        assert_eq!(
            subj.country().expect("C").expect("C present").as_str(),
            "US"
        );
        assert_eq!(text(subj.organization().expect("O")), "Example Vendor");
        assert_eq!(
            text(subj.organization_unit().expect("OU")),
            "Authenticator Attestation"
        );
        assert_eq!(text(subj.common_name().expect("CN")), "Example Batch");
        assert_eq!(tbs.issuer(), root.tbs_certificate().subject());

        let (critical, bc) = tbs
            .get_extension::<BasicConstraints>()
            .expect("ok")
            .expect("present");
        assert!(critical);
        assert!(!bc.ca);

        let exts = tbs.extensions().expect("extensions");
        let aaguid_ext = exts
            .iter()
            .find(|e| e.extn_id == ID_FIDO_GEN_CE_AAGUID)
            .expect("AAGUID extension");
        assert!(!aaguid_ext.critical);
        let mut expected = vec![0x04, 0x10];
        expected.extend_from_slice(&AAGUID);
        assert_eq!(aaguid_ext.extn_value.as_bytes(), expected.as_slice());

        // The authority key id names the root's subject key id.
        let (_, aki) = tbs
            .get_extension::<AuthorityKeyIdentifier>()
            .expect("ok")
            .expect("AKI");
        let (_, root_ski) = root
            .tbs_certificate()
            .get_extension::<SubjectKeyIdentifier>()
            .expect("ok")
            .expect("SKI");
        assert_eq!(aki.key_identifier, Some(root_ski.0));

        // ecdsa-with-SHA256, no parameters (RFC 5758 §3.2).
        assert_eq!(cert.signature_algorithm().oid, ecdsa::ECDSA_SHA256_OID);
        assert!(cert.signature_algorithm().parameters.is_none());

        // Positive, 16-octet serial.
        let serial = tbs.serial_number().as_bytes();
        assert_eq!(serial.len(), 16);
        assert!(serial[0] & 0x80 == 0 && serial[0] != 0);

        // Signed by the root, and the key in the certificate is the batch key.
        assert!(signed_by(&cert, &spki_key(&root)));
        assert!(!signed_by(&cert, &spki_key(&cert)));
        let batch_signing = m.private_key().expect("valid key").signing_key();
        let point = batch_signing.verifying_key().to_sec1_point(false);
        let batch_public = PublicKey::from_sec1(point.as_bytes()).expect("a point");
        assert_eq!(spki_key(&cert), batch_public);
        for &backend in crate::crypto::Backend::BUILT_IN {
            let sig = m
                .sign(backend.ops(), &[b"authData", b"||clientDataHash"])
                .expect("signs");
            assert!(batch_public.verify(b"authData||clientDataHash", &sig));
        }
    }

    #[test]
    fn root_is_a_self_signed_ca() {
        let m = material(2, NOT_BEFORE);
        let root = Certificate::from_der(&m.root_cert_der).expect("root parses");
        let tbs = root.tbs_certificate();
        assert_eq!(tbs.version(), Version::V3);
        assert_eq!(tbs.issuer(), tbs.subject());
        assert_eq!(
            text(tbs.subject().common_name().expect("CN")),
            "Example Root CA"
        );
        assert!(signed_by(&root, &spki_key(&root)));

        let (critical, bc) = tbs
            .get_extension::<BasicConstraints>()
            .expect("ok")
            .expect("present");
        assert!(critical && bc.ca);
        let (critical, ku) = tbs
            .get_extension::<KeyUsage>()
            .expect("ok")
            .expect("present");
        assert!(critical && ku.key_cert_sign() && ku.crl_sign() && !ku.digital_signature());
        assert!(
            tbs.get_extension::<SubjectKeyIdentifier>()
                .expect("ok")
                .is_some()
        );
        assert!(
            tbs.extensions()
                .expect("extensions")
                .iter()
                .all(|e| e.extn_id != ID_FIDO_GEN_CE_AAGUID)
        );
    }

    #[test]
    fn validity_is_twenty_years_with_generalized_time_after_2049() {
        let m = material(3, NOT_BEFORE);
        let cert = Certificate::from_der(&m.cert_der).expect("parses");
        let validity = cert.tbs_certificate().validity();
        assert!(matches!(validity.not_before, Time::UtcTime(_)));
        assert!(
            matches!(validity.not_after, Time::UtcTime(_)),
            "2045 is still UTCTime"
        );
        assert_eq!(validity.not_before.to_unix_duration().as_secs(), NOT_BEFORE);
        assert_eq!(validity.not_after.to_date_time().year(), 2045);

        // 2040-02-29T12:00:00Z: the end is 2060-02-29, a GeneralizedTime.
        let leap = DateTime::new(2040, 2, 29, 12, 0, 0)
            .expect("date")
            .unix_duration()
            .as_secs();
        let cert = Certificate::from_der(&material(3, leap).cert_der).expect("parses");
        let validity = cert.tbs_certificate().validity();
        assert!(matches!(validity.not_before, Time::UtcTime(_)));
        let Time::GeneralTime(end) = validity.not_after else {
            panic!("GeneralizedTime expected")
        };
        let end = end.to_date_time();
        assert_eq!(
            (end.year(), end.month(), end.day(), end.hour()),
            (2060, 2, 29, 12)
        );

        // 2100 is a common year: a validity starting 2080-02-29 ends on 2100-02-28.
        let start_2080 = DateTime::new(2080, 2, 29, 0, 0, 0)
            .expect("date")
            .unix_duration()
            .as_secs();
        let end = validity_end(start_2080);
        assert_eq!((end.year(), end.month(), end.day()), (2100, 2, 28));
    }

    fn validity_end(not_before: u64) -> DateTime {
        validity(not_before)
            .expect("valid")
            .not_after
            .to_date_time()
    }

    #[test]
    fn rejects_bad_subjects_and_times() {
        let mut rng = SeededRng::new(4);
        for country in ["USA", "us", "", "U$"] {
            let s = AttestationSubject {
                country: country.into(),
                ..subject()
            };
            assert!(matches!(
                generate(&mut rng, &AAGUID, &s, NOT_BEFORE),
                Err(AttestationError::InvalidSubject(_))
            ));
        }
        let s = AttestationSubject {
            organization: String::new(),
            ..subject()
        };
        assert!(generate(&mut rng, &AAGUID, &s, NOT_BEFORE).is_err());
        assert!(matches!(
            generate(&mut rng, &AAGUID, &subject(), u64::MAX),
            Err(AttestationError::InvalidValidity(_))
        ));
        // 9990 + 20 is past what X.509 GeneralizedTime (four-digit years) can hold.
        let late = DateTime::new(9990, 1, 1, 0, 0, 0)
            .expect("date")
            .unix_duration()
            .as_secs();
        assert!(matches!(
            generate(&mut rng, &AAGUID, &subject(), late),
            Err(AttestationError::InvalidValidity(_))
        ));
    }

    #[test]
    fn deterministic_for_a_seed() {
        assert_eq!(material(5, NOT_BEFORE), material(5, NOT_BEFORE));
        assert_ne!(
            material(5, NOT_BEFORE).cert_der,
            material(6, NOT_BEFORE).cert_der
        );
    }

    #[test]
    fn pem_and_persistence() {
        let m = material(7, NOT_BEFORE);
        let pem = m.root_pem();
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----\n"));
        assert!(pem.ends_with("-----END CERTIFICATE-----\n"));
        let (label, der) = der::pem::decode_vec(pem.as_bytes()).expect("PEM decodes");
        assert_eq!(label, "CERTIFICATE");
        assert_eq!(der, m.root_cert_der);
        assert!(m.cert_pem().contains("BEGIN CERTIFICATE"));
        assert!(der_to_pem("bad-label-", &[1, 2]).is_err());

        let image = postcard::to_allocvec(&m).expect("serializes");
        let back: AttestationMaterial = postcard::from_bytes(&image).expect("deserializes");
        assert_eq!(back, m);
        assert!(!format!("{m:?}").contains(&format!("{:?}", m.key)));

        let mut corrupt = m.clone();
        corrupt.key = [0; 32];
        assert!(matches!(
            corrupt.sign(crate::crypto::Backend::default().ops(), &[b"x"]),
            Err(AttestationError::InvalidKey)
        ));
    }
}
