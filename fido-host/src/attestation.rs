//! What a relying party checks in a makeCredential answer: authenticator data (WebAuthn §6.1),
//! the `packed` attestation statement (WebAuthn §8.2), the attestation certificate requirements
//! (§8.2.1) and the certificate chain (RFC 5280 signatures, validity, basic constraints).
//!
//! Only what security keys use is verified: ES256 statements and ecdsa-with-SHA256 P-256
//! certificates. Anything else is reported as not verifiable, never as valid.

use std::time::SystemTime;

use der::{Decode, Encode};
use p256::ecdsa::signature::Verifier;
use x509_cert::Certificate;
use x509_cert::ext::pkix::BasicConstraints;

use ctap_types::cbor::{self, Value};
use ctap_types::cose;

/// id-fido-gen-ce-aaguid (FIDO Metadata Statement §3; WebAuthn §8.2.1).
pub const OID_FIDO_AAGUID: &str = "1.3.6.1.4.1.45724.1.1.4";
const OID_ECDSA_SHA256: &str = "1.2.840.10045.4.3.2";

/// authData flags (WebAuthn §6.1).
pub const FLAG_UP: u8 = 0x01;
pub const FLAG_UV: u8 = 0x04;
pub const FLAG_AT: u8 = 0x40;
pub const FLAG_ED: u8 = 0x80;

/// Authenticator data, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthData {
    pub rp_id_hash: [u8; 32],
    pub flags: u8,
    pub sign_count: u32,
    pub attested: Option<AttestedCredential>,
    pub extensions: Option<Value>,
}

/// Attested credential data (WebAuthn §6.5.1).
#[derive(Debug, Clone, PartialEq)]
pub struct AttestedCredential {
    pub aaguid: [u8; 16],
    pub credential_id: Vec<u8>,
    pub public_key: Value,
}

impl AuthData {
    pub fn up(&self) -> bool {
        self.flags & FLAG_UP != 0
    }
    pub fn uv(&self) -> bool {
        self.flags & FLAG_UV != 0
    }
    /// A text summary: "UP UV AT ED, signCount 3".
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        for (flag, name) in [
            (FLAG_UP, "UP"),
            (FLAG_UV, "UV"),
            (FLAG_AT, "AT"),
            (FLAG_ED, "ED"),
        ] {
            if self.flags & flag != 0 {
                parts.push(name);
            }
        }
        let mut s = format!(
            "flags {:02X} [{}], signCount {}",
            self.flags,
            parts.join(" "),
            self.sign_count
        );
        if let Some(ext) = &self.extensions {
            s.push_str(&format!(", extensions {}", cbor::diag(ext)));
        }
        s
    }
}

/// Parses authenticator data; `Err` says what is malformed.
pub fn parse_auth_data(bytes: &[u8]) -> Result<AuthData, String> {
    let head = bytes
        .get(..37)
        .ok_or_else(|| format!("authData of {} bytes is shorter than 37", bytes.len()))?;
    let mut rp_id_hash = [0u8; 32];
    rp_id_hash.copy_from_slice(&head[..32]);
    let flags = head[32];
    let sign_count = u32::from_be_bytes([head[33], head[34], head[35], head[36]]);
    let mut rest = &bytes[37..];
    let attested = if flags & FLAG_AT != 0 {
        let fixed = rest
            .get(..18)
            .ok_or("AT flag set but no attested credential data")?;
        let mut aaguid = [0u8; 16];
        aaguid.copy_from_slice(&fixed[..16]);
        let id_len = usize::from(u16::from_be_bytes([fixed[16], fixed[17]]));
        let credential_id = rest
            .get(18..18 + id_len)
            .ok_or("credential id runs past the end of authData")?
            .to_vec();
        rest = &rest[18 + id_len..];
        let (public_key, used) =
            cbor::decode_prefix(rest).map_err(|e| format!("credential public key: {e}"))?;
        rest = &rest[used..];
        Some(AttestedCredential {
            aaguid,
            credential_id,
            public_key,
        })
    } else {
        None
    };
    let extensions = if flags & FLAG_ED != 0 {
        let (ext, used) = cbor::decode_prefix(rest).map_err(|e| format!("extensions: {e}"))?;
        rest = &rest[used..];
        Some(ext)
    } else {
        None
    };
    if !rest.is_empty() {
        return Err(format!("{} bytes after the end of authData", rest.len()));
    }
    Ok(AuthData {
        rp_id_hash,
        flags,
        sign_count,
        attested,
        extensions,
    })
}

/// An ES256 COSE_Key (`{1: 2, 3: -7, -1: 1, -2: x, -3: y}`) as a verifying key.
pub fn es256_key(cose: &Value) -> Result<p256::ecdsa::VerifyingKey, String> {
    let int = |label: i64| cose.get_int(label.into()).and_then(|v| v.as_int().ok());
    if int(cose::key::KTY) != Some(cose::kty::EC2.into()) {
        return Err(format!("COSE key is not EC2: {}", cbor::diag(cose)));
    }
    if int(cose::key::ALG) != Some(cose::ES256.into()) {
        return Err(format!(
            "COSE key algorithm is not ES256 (-7): {}",
            cbor::diag(cose)
        ));
    }
    let x = cose
        .get_int(cose::key::X.into())
        .and_then(|v| v.as_bytes().ok())
        .unwrap_or_default();
    let y = cose
        .get_int(cose::key::Y.into())
        .and_then(|v| v.as_bytes().ok())
        .unwrap_or_default();
    if x.len() != 32 || y.len() != 32 {
        return Err("COSE key coordinates are not 32 bytes".into());
    }
    let mut sec1 = vec![0x04];
    sec1.extend_from_slice(x);
    sec1.extend_from_slice(y);
    p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1)
        .map_err(|_| "COSE key is not a point on P-256".to_owned())
}

/// A credential public key a relying party can verify assertions with: ES256 (COSE EC2 on P-256)
/// or EdDSA (COSE OKP on Ed25519).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CredentialKey {
    /// ES256: ECDSA on P-256 with SHA-256 (COSE -7).
    Es256(p256::ecdsa::VerifyingKey),
    /// EdDSA: Ed25519 (COSE -8).
    EdDsa(ed25519_dalek::VerifyingKey),
}

impl CredentialKey {
    /// The COSE algorithm identifier.
    pub fn algorithm(&self) -> i64 {
        match self {
            Self::Es256(_) => cose::ES256,
            Self::EdDsa(_) => cose::EDDSA,
        }
    }

    /// Whether `signature` is this key's signature of `message` (WebAuthn §6.5.6: ES256 in
    /// ASN.1 DER; EdDSA the 64-byte RFC 8032 signature of the message itself, verified strictly).
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match self {
            Self::Es256(key) => verify_es256(key, message, signature),
            Self::EdDsa(key) => ed25519_dalek::Signature::from_slice(signature)
                .is_ok_and(|sig| key.verify_strict(message, &sig).is_ok()),
        }
    }
}

/// A credential public key from its COSE_Key: ES256 (`{1: 2, 3: -7, -1: 1, -2: x, -3: y}`,
/// [`es256_key`]) or EdDSA (`{1: 1, 3: -8, -1: 6, -2: x}`, RFC 9053 §7.2). Anything else is an
/// error naming what it is.
pub fn credential_key(cose: &Value) -> Result<CredentialKey, String> {
    let int = |label: i64| cose.get_int(label.into()).and_then(|v| v.as_int().ok());
    if int(cose::key::KTY) != Some(cose::kty::OKP.into()) {
        return es256_key(cose).map(CredentialKey::Es256);
    }
    if int(cose::key::ALG) != Some(cose::EDDSA.into()) {
        return Err(format!(
            "OKP COSE key algorithm is not EdDSA (-8): {}",
            cbor::diag(cose)
        ));
    }
    if int(cose::key::CRV) != Some(cose::crv::ED25519.into()) {
        return Err(format!(
            "OKP COSE key curve is not Ed25519 (6): {}",
            cbor::diag(cose)
        ));
    }
    let x: [u8; 32] = cose
        .get_int(cose::key::X.into())
        .and_then(|v| v.as_bytes().ok())
        .and_then(|x| x.try_into().ok())
        .ok_or("Ed25519 COSE key x is not 32 bytes")?;
    ed25519_dalek::VerifyingKey::from_bytes(&x)
        .map(CredentialKey::EdDsa)
        .map_err(|_| "COSE key x is not an Ed25519 point".to_owned())
}

/// Whether `der_sig` is an ECDSA P-256/SHA-256 signature of `message` by `key`.
pub fn verify_es256(key: &p256::ecdsa::VerifyingKey, message: &[u8], der_sig: &[u8]) -> bool {
    match p256::ecdsa::Signature::from_der(der_sig) {
        Ok(sig) => key.verify(message, &sig).is_ok(),
        Err(_) => false,
    }
}

/// The outcome of verifying a packed attestation: it is valid when `problems` is empty.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Verdict {
    pub problems: Vec<String>,
    pub notes: Vec<String>,
    /// Whether the chain was verified to a root (self-signed in x5c, or the trust root).
    pub rooted: bool,
}

impl Verdict {
    fn problem(&mut self, s: impl Into<String>) {
        self.problems.push(s.into());
    }
    fn note(&mut self, s: impl Into<String>) {
        self.notes.push(s.into());
    }
}

fn subject(cert: &Certificate) -> String {
    cert.tbs_certificate().subject().to_string()
}

fn cert_key(cert: &Certificate) -> Result<p256::ecdsa::VerifyingKey, String> {
    let spki = cert.tbs_certificate().subject_public_key_info();
    p256::ecdsa::VerifyingKey::from_sec1_bytes(spki.subject_public_key.raw_bytes()).map_err(|_| {
        format!(
            "the key of '{}' is not a P-256 key (algorithm {}); fido-check verifies P-256 only",
            subject(cert),
            spki.algorithm.oid
        )
    })
}

/// Whether `cert` carries a valid ecdsa-with-SHA256 signature by `issuer_key`.
fn signed_by(cert: &Certificate, issuer_key: &p256::ecdsa::VerifyingKey) -> Result<(), String> {
    let alg = cert.signature_algorithm().oid.to_string();
    if alg != OID_ECDSA_SHA256 {
        return Err(format!(
            "'{}' is signed with {alg}; fido-check verifies ecdsa-with-SHA256 only",
            subject(cert)
        ));
    }
    let tbs = cert
        .tbs_certificate()
        .to_der()
        .map_err(|e| format!("cannot re-encode '{}': {e}", subject(cert)))?;
    if verify_es256(issuer_key, &tbs, cert.signature().raw_bytes()) {
        Ok(())
    } else {
        Err(format!(
            "the signature of '{}' does not verify",
            subject(cert)
        ))
    }
}

fn basic_constraints(cert: &Certificate) -> Result<Option<(bool, BasicConstraints)>, String> {
    cert.tbs_certificate()
        .get_extension::<BasicConstraints>()
        .map_err(|e| format!("basicConstraints of '{}': {e}", subject(cert)))
}

/// The AAGUID in the certificate's id-fido-gen-ce-aaguid extension: `Ok(None)` when absent,
/// `Ok(Some((critical, aaguid)))`, or `Err` when it is malformed.
pub fn cert_aaguid(cert: &Certificate) -> Result<Option<(bool, [u8; 16])>, String> {
    let Some(exts) = cert.tbs_certificate().extensions() else {
        return Ok(None);
    };
    let Some(ext) = exts
        .iter()
        .find(|e| e.extn_id.to_string() == OID_FIDO_AAGUID)
    else {
        return Ok(None);
    };
    // extnValue wraps the DER of an OCTET STRING of 16 bytes.
    let inner = der::asn1::OctetString::from_der(ext.extn_value.as_bytes())
        .map_err(|e| format!("AAGUID extension is not an OCTET STRING: {e}"))?;
    let bytes: [u8; 16] = inner.as_bytes().try_into().map_err(|_| {
        format!(
            "AAGUID extension holds {} bytes, not 16",
            inner.as_bytes().len()
        )
    })?;
    Ok(Some((ext.critical, bytes)))
}

/// The WebAuthn §8.2.1 requirements on the attestation certificate.
fn check_attestation_cert(cert: &Certificate, aaguid: &[u8; 16], v: &mut Verdict) {
    let tbs = cert.tbs_certificate();
    if tbs.version() != x509_cert::Version::V3 {
        v.problem("attestation certificate is not X.509 version 3 (WebAuthn §8.2.1)");
    }
    let name = tbs.subject();
    match name.country() {
        Ok(Some(c)) if c.as_str().len() == 2 => {}
        _ => v.problem("attestation certificate subject has no two-letter C (WebAuthn §8.2.1)"),
    }
    match name.organization() {
        Ok(Some(o)) if !o.value().is_empty() => {}
        _ => v.problem("attestation certificate subject has no O (WebAuthn §8.2.1)"),
    }
    match name.organization_unit() {
        Ok(Some(ou)) if ou.value() == "Authenticator Attestation" => {}
        Ok(Some(ou)) => v.problem(format!(
            "attestation certificate subject OU is {:?}, not \"Authenticator Attestation\" \
             (WebAuthn §8.2.1)",
            ou.value()
        )),
        _ => v.problem("attestation certificate subject has no OU (WebAuthn §8.2.1)"),
    }
    match name.common_name() {
        Ok(Some(cn)) if !cn.value().is_empty() => {}
        _ => v.problem("attestation certificate subject has no CN (WebAuthn §8.2.1)"),
    }
    match basic_constraints(cert) {
        Ok(Some((_, bc))) if bc.ca => {
            v.problem("attestation certificate has basicConstraints CA=true (WebAuthn §8.2.1)")
        }
        Ok(Some(_)) => {}
        Ok(None) => v.problem(
            "attestation certificate has no basicConstraints extension (CA must be false, \
             WebAuthn §8.2.1)",
        ),
        Err(e) => v.problem(e),
    }
    match cert_aaguid(cert) {
        Ok(Some((true, _))) => {
            v.problem("the AAGUID extension 1.3.6.1.4.1.45724.1.1.4 is critical (must not be)")
        }
        Ok(Some((false, cert_aaguid))) if &cert_aaguid == aaguid => v.note(format!(
            "AAGUID extension {} matches authData and getInfo",
            crate::format_aaguid(aaguid)
        )),
        Ok(Some((false, other))) => v.problem(format!(
            "AAGUID extension {} differs from the authenticator's AAGUID {}",
            crate::format_aaguid(&other),
            crate::format_aaguid(aaguid)
        )),
        Ok(None) => {
            v.problem("attestation certificate has no AAGUID extension 1.3.6.1.4.1.45724.1.1.4")
        }
        Err(e) => v.problem(e),
    }
}

fn check_validity(cert: &Certificate, now: SystemTime, v: &mut Verdict) {
    let validity = cert.tbs_certificate().validity();
    let not_before = validity.not_before.to_system_time();
    let not_after = validity.not_after.to_system_time();
    if now < not_before || now > not_after {
        v.problem(format!(
            "'{}' is not valid now (validity {} .. {})",
            subject(cert),
            validity.not_before,
            validity.not_after
        ));
    }
}

/// Parses a PEM certificate (the `--trust-root` file).
pub fn parse_pem_certificate(pem: &str) -> Result<Certificate, String> {
    use der::DecodePem;
    Certificate::from_pem(pem.as_bytes()).map_err(|e| format!("not a PEM certificate: {e}"))
}

/// Whether `child` names `parent` (`role` in the problem: "the next certificate", "the
/// --trust-root") as its issuer and carries its signature. `None` when the issuer is another
/// certificate (a problem, and nothing more to say of the pair); else whether the signature
/// verifies with `parent`'s key (a problem when not).
fn issued_by(
    child: &Certificate,
    parent: &Certificate,
    role: &str,
    v: &mut Verdict,
) -> Option<bool> {
    if child.tbs_certificate().issuer() != parent.tbs_certificate().subject() {
        v.problem(format!(
            "'{}' is issued by '{}', not by {role} '{}'",
            subject(child),
            child.tbs_certificate().issuer(),
            subject(parent)
        ));
        return None;
    }
    match cert_key(parent).and_then(|k| signed_by(child, &k)) {
        Ok(()) => Some(true),
        Err(e) => {
            v.problem(e);
            Some(false)
        }
    }
}

/// Verifies a `packed` attestation statement (WebAuthn §8.2 verification procedure) with a full
/// certificate chain: the signature over authData ‖ clientDataHash with x5c[0], the §8.2.1
/// certificate requirements, the AAGUID extension against `expected_aaguid` (getInfo's), each
/// certificate signed by the next, validity at `now`, and the root (self-signed in x5c, or
/// `trust_root`).
pub fn verify_packed(
    fmt: &str,
    att_stmt: &Value,
    auth_data: &[u8],
    client_data_hash: &[u8],
    expected_aaguid: &[u8; 16],
    trust_root: Option<&Certificate>,
    now: SystemTime,
) -> Verdict {
    let mut v = Verdict::default();
    if fmt != "packed" {
        v.problem(format!("attestation format is {fmt:?}, not \"packed\""));
        return v;
    }
    let parsed = match parse_auth_data(auth_data) {
        Ok(p) => p,
        Err(e) => {
            v.problem(format!("authData: {e}"));
            return v;
        }
    };
    let Some(attested) = &parsed.attested else {
        v.problem("authData has no attested credential data (AT flag clear)");
        return v;
    };
    if &attested.aaguid != expected_aaguid {
        v.problem(format!(
            "authData AAGUID {} differs from getInfo's {}",
            crate::format_aaguid(&attested.aaguid),
            crate::format_aaguid(expected_aaguid)
        ));
    }
    let alg = att_stmt.get_text("alg").and_then(|v| v.as_int().ok());
    let sig = att_stmt.get_text("sig").and_then(|v| v.as_bytes().ok());
    let x5c = att_stmt.get_text("x5c").and_then(|v| v.as_array().ok());
    let Some(sig) = sig else {
        v.problem("attStmt has no sig");
        return v;
    };
    let Some(x5c) = x5c else {
        v.problem("attStmt has no x5c: self attestation, not a certificate chain");
        return v;
    };
    if alg != Some(cose::ES256.into()) {
        v.problem(format!(
            "attStmt alg is {alg:?}; fido-check verifies ES256 (-7) only"
        ));
        return v;
    }
    let mut certs = Vec::new();
    for (i, c) in x5c.iter().enumerate() {
        let Ok(der_bytes) = c.as_bytes() else {
            v.problem(format!("x5c[{i}] is not a byte string"));
            return v;
        };
        match Certificate::from_der(der_bytes) {
            Ok(cert) => certs.push(cert),
            Err(e) => {
                v.problem(format!("x5c[{i}] is not a DER certificate: {e}"));
                return v;
            }
        }
    }
    let Some(leaf) = certs.first() else {
        v.problem("x5c is empty");
        return v;
    };
    let mut signed = auth_data.to_vec();
    signed.extend_from_slice(client_data_hash);
    match cert_key(leaf) {
        Ok(key) if verify_es256(&key, &signed, sig) => {
            v.note("signature over authData || clientDataHash verifies with x5c[0]")
        }
        Ok(_) => v.problem("the attestation signature does not verify with x5c[0]'s key"),
        Err(e) => v.problem(e),
    }
    check_attestation_cert(leaf, &attested.aaguid, &mut v);
    for cert in &certs {
        check_validity(cert, now, &mut v);
    }
    for pair in certs.windows(2) {
        let [child, parent] = pair else { continue };
        let Some(signed) = issued_by(child, parent, "the next certificate", &mut v) else {
            continue;
        };
        if signed {
            v.note(format!(
                "'{}' is signed by '{}'",
                subject(child),
                subject(parent)
            ));
        }
        match basic_constraints(parent) {
            Ok(Some((_, bc))) if bc.ca => {}
            _ => v.problem(format!(
                "'{}' signs certificates but has no basicConstraints CA=true",
                subject(parent)
            )),
        }
    }
    let Some(last) = certs.last() else {
        return v;
    };
    let self_signed = last.tbs_certificate().issuer() == last.tbs_certificate().subject()
        && cert_key(last).and_then(|k| signed_by(last, &k)).is_ok();
    match (self_signed, trust_root) {
        (true, None) => {
            v.rooted = true;
            v.note(format!(
                "chain ends at the self-signed root '{}' (included in x5c)",
                subject(last)
            ))
        }
        (true, Some(root)) => {
            if last.to_der().ok() == root.to_der().ok() {
                v.rooted = true;
                v.note("x5c's root is the --trust-root certificate");
            } else {
                v.problem(format!(
                    "x5c ends at the self-signed '{}', which is not the --trust-root '{}'",
                    subject(last),
                    subject(root)
                ));
            }
        }
        (false, Some(root)) => {
            check_validity(root, now, &mut v);
            if issued_by(last, root, "the --trust-root", &mut v) == Some(true) {
                v.rooted = true;
                v.note(format!(
                    "'{}' is signed by the --trust-root '{}': the chain is complete",
                    subject(last),
                    subject(root)
                ));
            }
        }
        (false, None) => v.note(format!(
            "x5c ends at '{}', issued by '{}', which is not in x5c: the chain was verified up to \
             the root but not to it (pass --trust-root with the vendor's / FIDO MDS root)",
            subject(last),
            last.tbs_certificate().issuer()
        )),
    }
    v
}
