//! The credential checks: discoverable credentials, several accounts, hmac-secret, packed
//! attestation, credential management and canonical CBOR (CTAP 2.1 §6.1, §6.2, §6.8, §8, §12.5;
//! Microsoft seeds 000, 001 and 004).

use super::*;
use fido_host::management::CredsMetadata;

pub(super) fn verify_assertion(
    made: &AuthData,
    assertion: &Assertion,
    client_data_hash: &[u8; 32],
) -> Result<(), Stop> {
    let Some(attested) = &made.attested else {
        return fail("no attested credential data");
    };
    verify_with_key(&attested.public_key, assertion, client_data_hash)
}

pub(super) fn verify_with_key(
    public_key: &Value,
    assertion: &Assertion,
    client_data_hash: &[u8; 32],
) -> Result<(), Stop> {
    let key = attestation::credential_key(public_key).map_err(Stop::Fail)?;
    let mut signed = assertion.auth_data_raw.clone();
    signed.extend_from_slice(client_data_hash);
    if !key.verify(&signed, &assertion.signature) {
        return fail("the assertion signature does not verify with the credential's public key");
    }
    if assertion.auth_data.rp_id_hash != pin_protocol::sha256(RP_ID.as_bytes()) {
        return fail("the assertion's rpIdHash is not SHA-256 of the relying party id");
    }
    Ok(())
}

/// A getAssertion for fido-check's relying party without an allowList: the card picks among
/// its discoverable credentials (CTAP 2.1 §6.2.2 step 7).
fn discoverable_assertion() -> GetAssertion {
    GetAssertion {
        rp_id: RP_ID.into(),
        client_data_hash: random32(),
        allow_list: Vec::new(),
        extensions: None,
        up: None,
    }
}

pub(super) fn check_resident_keys(ctx: &mut Ctx) -> Verdict {
    if ctx.info()?.option(OptionId::Rk.as_str()) != Some(true) {
        return fail("getInfo does not list the rk option as true");
    }
    let (att, _) = ctx.make_credential(true, "fido-check-1", None)?;
    let Some(created) = ctx.resident.last().cloned() else {
        return fail("makeCredential returned no credential");
    };
    let token = ctx.token(permission::GET_ASSERTION, Some(RP_ID))?;
    let req = discoverable_assertion();
    let assertion = ctx.client.get_assertion(&req, token.as_ref())?;
    let mut found = assertion.credential_id.as_deref() == Some(&created.credential_id[..]);
    let mut matched = assertion.clone();
    let total = assertion.number_of_credentials.unwrap_or(1);
    for _ in 1..total.min(64) {
        if found {
            break;
        }
        let next = ctx.client.get_next_assertion()?;
        if next.credential_id.as_deref() == Some(&created.credential_id[..]) {
            found = true;
            matched = next;
        }
    }
    if !found {
        return fail(
            "a discoverable getAssertion (no allowList) did not return the new credential",
        );
    }
    if matched.user_id.as_deref() != Some(&created.user_id[..]) {
        return fail("the discoverable assertion does not carry the credential's user id");
    }
    verify_assertion(&att.auth_data, &matched, &req.client_data_hash)?;
    Ok(
        "rk credential created and found by a getAssertion without allowList, with its user id"
            .into(),
    )
}

pub(super) fn check_multiple_accounts(ctx: &mut Ctx) -> Verdict {
    while ctx.resident.len() < 2 {
        let name = format!("fido-check-{}", ctx.resident.len() + 1);
        ctx.make_credential(true, &name, None)?;
    }
    let ours: Vec<Created> = ctx.resident.clone();
    let token = ctx.token(permission::GET_ASSERTION, Some(RP_ID))?;
    let req = discoverable_assertion();
    let first = ctx.client.get_assertion(&req, token.as_ref())?;
    let Some(total) = first.number_of_credentials else {
        return fail("the discoverable getAssertion has no numberOfCredentials (0x05)");
    };
    if total < ours.len() as u64 {
        return fail(format!(
            "numberOfCredentials is {total}, but {} accounts exist for the relying party",
            ours.len()
        ));
    }
    if total > ours.len() as u64 {
        ctx.notes.push(format!(
            "{} more credential(s) for {RP_ID}, left by an earlier run",
            total - ours.len() as u64
        ));
    }
    let mut assertions = vec![first];
    for _ in 1..total.min(64) {
        assertions.push(ctx.client.get_next_assertion()?);
    }
    // One more getNextAssertion must fail: the list is exhausted.
    match ctx.client.get_next_assertion() {
        Err(ClientError::Ctap(_)) => {}
        Ok(_) => return fail("getNextAssertion answered past numberOfCredentials"),
        Err(e) => return Err(e.into()),
    }
    for created in &ours {
        let Some(a) = assertions
            .iter()
            .find(|a| a.credential_id.as_deref() == Some(&created.credential_id[..]))
        else {
            return fail("getAssertion / getNextAssertion did not return every account");
        };
        if a.user_id.as_deref() != Some(&created.user_id[..]) {
            return fail("an assertion carries another account's user id");
        }
        verify_with_key(&created.public_key, a, &req.client_data_hash)?;
    }
    Ok(format!(
        "{} accounts on one relying party: numberOfCredentials {total}, getNextAssertion walked \
         them, every signature verifies",
        ours.len()
    ))
}

/// One hmac-secret getAssertion; returns the decrypted output (32 or 64 bytes).
pub(super) fn hmac_assertion(
    ctx: &mut Ctx,
    protocol: Protocol,
    credential_id: &[u8],
    salts: &[[u8; 32]],
    uv: bool,
) -> Result<Vec<u8>, Stop> {
    let token = if uv {
        let t = ctx.token(permission::GET_ASSERTION, Some(RP_ID))?;
        if t.is_none() {
            return Err(Stop::Skip("needs a PIN for the UV output".into()));
        }
        t
    } else {
        None
    };
    let (ext, shared) = ctx.client.hmac_secret_input(protocol, salts)?;
    let req = GetAssertion {
        rp_id: RP_ID.into(),
        client_data_hash: random32(),
        allow_list: vec![credential_id.to_vec()],
        extensions: Some(ext),
        up: None,
    };
    let a = ctx.client.get_assertion(&req, token.as_ref())?;
    if a.auth_data.uv() != uv {
        return fail(format!(
            "assertion {} UV where {} was asked",
            if a.auth_data.uv() { "has" } else { "lacks" },
            if uv { "UV" } else { "no UV" }
        ));
    }
    let Some(out) = a
        .auth_data
        .extensions
        .as_ref()
        .and_then(|e| e.get_text(ExtensionId::HmacSecret.as_str()))
        .and_then(|v| v.as_bytes().ok())
    else {
        return fail("the assertion's authData has no hmac-secret output");
    };
    let plain = shared
        .decrypt(out)
        .map_err(|e| Stop::Fail(format!("hmac-secret output: {e}")))?;
    if plain.len() != 32 * salts.len() {
        return fail(format!(
            "hmac-secret output has {} bytes for {} salt(s)",
            plain.len(),
            salts.len()
        ));
    }
    Ok(plain)
}

pub(super) fn check_hmac_secret(ctx: &mut Ctx) -> Verdict {
    if !ctx.info()?.has_extension(ExtensionId::HmacSecret.as_str()) {
        return fail("getInfo extensions do not list hmac-secret");
    }
    let protocol = ctx.protocol()?;
    let (att, _) = ctx.make_credential(
        false,
        "fido-check-hmac",
        Some(Value::text_map(vec![(
            ExtensionId::HmacSecret.as_str(),
            Value::Bool(true),
        )])),
    )?;
    let enabled = att
        .auth_data
        .extensions
        .as_ref()
        .and_then(|e| e.get_text(ExtensionId::HmacSecret.as_str()))
        .and_then(|v| v.as_bool().ok());
    if enabled != Some(true) {
        return fail(
            "makeCredential authData does not carry the extension output hmac-secret: true",
        );
    }
    let id = att.credential_id().unwrap_or_default().to_vec();
    let (salt1, salt2) = (random32(), random32());
    let first = hmac_assertion(ctx, protocol, &id, &[salt1, salt2], false)?;
    let (o1, o2) = first.split_at(32);
    if o1 == o2 {
        return fail("the two salts gave the same output");
    }
    let again = hmac_assertion(ctx, protocol, &id, &[salt1, salt2], false)?;
    if again != first {
        return fail("the outputs changed between two assertions with the same salts");
    }
    let single = hmac_assertion(ctx, protocol, &id, &[salt1], false)?;
    if single != o1 {
        return fail("one salt gave a different output than the same salt in a pair");
    }
    let mut summary = vec!["two salts give two outputs, stable across assertions".to_owned()];
    let other = ctx
        .info()?
        .pin_protocols
        .iter()
        .filter_map(|n| Protocol::from_number(*n))
        .find(|p| *p != protocol);
    if let Some(other) = other {
        let via_other = hmac_assertion(ctx, other, &id, &[salt1, salt2], false)?;
        if via_other != first {
            return fail(format!(
                "PIN/UV protocol {} gave other outputs than protocol {}",
                other.number(),
                protocol.number()
            ));
        }
        summary.push(format!(
            "same with protocols {} and {}",
            protocol.number(),
            other.number()
        ));
    }
    if ctx.pin.is_none() {
        return Err(Stop::Skip(format!(
            "{}; the UV/non-UV split needs a PIN: pass --pin",
            summary.join(", ")
        )));
    }
    let with_uv = hmac_assertion(ctx, protocol, &id, &[salt1, salt2], true)?;
    if with_uv[..32] == first[..32] || with_uv[32..] == first[32..] {
        return fail("outputs with UV equal those without UV (CredRandomWithUV must differ)");
    }
    summary.push("UV and non-UV outputs differ".into());
    Ok(summary.join(", "))
}

pub(super) fn check_attestation(ctx: &mut Ctx) -> Verdict {
    let expected = ctx
        .info()?
        .aaguid
        .ok_or_else(|| Stop::Fail("getInfo has no AAGUID to compare with".into()))?;
    let (att, client_data_hash) = ctx.make_credential(false, "fido-check-attestation", None)?;
    let verdict = attestation::verify_packed(
        &att.fmt,
        &att.att_stmt,
        &att.auth_data_raw,
        &client_data_hash,
        &expected,
        ctx.opts.trust_root.as_ref(),
        ctx.opts.now.unwrap_or_else(SystemTime::now),
    );
    ctx.notes.extend(verdict.notes.iter().cloned());
    let x5c_len = att
        .att_stmt
        .get_text("x5c")
        .and_then(|v| v.as_array().ok())
        .map_or(0, <[Value]>::len);
    if verdict.problems.is_empty() {
        Ok(format!(
            "packed, ES256, x5c of {x5c_len} certificate(s): signature, certificate requirements, \
             AAGUID extension and chain valid{}",
            if verdict.rooted {
                ", verified to the root"
            } else {
                " (root not in x5c and no --trust-root: not verified to a root)"
            }
        ))
    } else {
        fail(verdict.problems.join("; "))
    }
}

pub(super) fn check_cred_mgmt(ctx: &mut Ctx) -> Verdict {
    let Some(command) = ctx.info()?.cred_mgmt_command() else {
        return Err(Stop::NotApplicable(
            "getInfo lists neither credMgmt nor credentialMgmtPreview".into(),
        ));
    };
    if ctx.pin.is_none() {
        return Err(Stop::Skip("needs a PIN: pass --pin".into()));
    }
    let Some(token) = ctx.token(permission::CREDENTIAL_MANAGEMENT, None)? else {
        return Err(Stop::Skip("needs a PIN: pass --pin".into()));
    };
    let CredsMetadata {
        existing,
        remaining,
    } = ctx.client.creds_metadata(command, &token)?;
    if existing.is_none() || remaining.is_none() {
        return fail(
            "getCredsMetadata lacks existingResidentCredentialsCount or maxPossibleRemainingResidentCredentialsCount",
        );
    }
    let rp_hash = pin_protocol::sha256(RP_ID.as_bytes());
    let hashes = ctx.client.enumerate_rps(command, &token)?;
    if !hashes.iter().any(|h| h[..] == rp_hash[..]) {
        return fail(format!("enumerateRPs did not list {RP_ID}"));
    }
    let creds = ctx
        .client
        .enumerate_credentials(command, &rp_hash, &token)?;
    for created in &ctx.resident {
        if !creds.iter().any(|c| c == &created.credential_id) {
            return fail("enumerateCredentials did not list a credential fido-check created");
        }
    }
    // Everything under fido-check's own relying party was made by fido-check (now or in an
    // earlier run that could not clean up).
    for id in &creds {
        ctx.client.delete_credential(command, id, &token)?;
    }
    let deleted = creds.len();
    ctx.resident.clear();
    // CTAP2_ERR_NO_CREDENTIALS (§6.8.4 step 2) reads as the empty list.
    let left = ctx
        .client
        .enumerate_credentials(command, &rp_hash, &token)?;
    if !left.is_empty() {
        return fail(format!(
            "{} credential(s) still listed after deleteCredential",
            left.len()
        ));
    }
    Ok(format!(
        "metadata ({} stored, {} more possible), enumerateRPs and enumerateCredentials list \
         fido-check's {deleted} credential(s); all deleted and gone",
        existing.unwrap_or(0),
        remaining.unwrap_or(0)
    ))
}

pub(super) fn check_canonical(ctx: &mut Ctx) -> Verdict {
    let bodies = &ctx.client.bodies;
    let mut bad = Vec::new();
    for (label, body) in bodies {
        if let Err(e) = cbor::check_canonical(body) {
            bad.push(format!("{label}: {e}"));
        }
    }
    if bad.is_empty() {
        Ok(format!("{} CBOR answers, all canonical", bodies.len()))
    } else {
        fail(bad.join("; "))
    }
}

/// EdDSA where getInfo `algorithms` lists -8: a credential asked for with EdDSA only has an
/// OKP Ed25519 key (RFC 9053 §7.2), and its assertion signature verifies. Skipped when the card
/// does not offer EdDSA (ES256-only cards are the norm).
pub(super) fn check_eddsa(ctx: &mut Ctx) -> Verdict {
    let offered = ctx
        .info()?
        .raw
        .get_int(i128::from(get_info::ALGORITHMS))
        .and_then(|v| v.as_array().ok())
        .is_some_and(|algs| {
            algs.iter().any(|a| {
                a.get_text("alg").and_then(|v| v.as_int().ok())
                    == Some(fido_host::ctap_types::cose::EDDSA.into())
            })
        });
    if !offered {
        return Err(Stop::Skip(
            "getInfo algorithms do not list EdDSA (-8): the card offers no Ed25519 credentials"
                .into(),
        ));
    }
    let (att, _) = ctx.make_credential_for(
        false,
        "fido-check-eddsa",
        None,
        vec![fido_host::ctap_types::cose::EDDSA],
    )?;
    let Some(attested) = &att.auth_data.attested else {
        return fail("no attested credential data");
    };
    match attestation::credential_key(&attested.public_key) {
        Ok(key) if key.algorithm() == fido_host::ctap_types::cose::EDDSA => {}
        Ok(key) => {
            return fail(format!(
                "asked for EdDSA only, the card made a credential of algorithm {}",
                key.algorithm()
            ));
        }
        Err(e) => return fail(e),
    }
    let id = attested.credential_id.clone();
    let (req, assertion) = ctx.get_assertion_of(id)?;
    verify_assertion(&att.auth_data, &assertion, &req.client_data_hash)?;
    Ok("EdDSA credential: OKP Ed25519 key; its assertion signature verifies".into())
}
