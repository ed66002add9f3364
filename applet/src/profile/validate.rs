//! Validation: a [`ProfileDocument`] becomes a [`Profile`] here, or the loader learns which field
//! is wrong and why ([`ProfileError`]).
//!
//! Two layers. [`Profile::try_from`] reads each identifier into its type (an unknown version,
//! extension, transport, PIN/UV auth protocol or COSE algorithm, or the all-zero AAGUID, stops
//! here) and computes the ATR from the historical bytes; [`Profile::validate`] then checks the
//! rules that tie fields together (CTAP 2.1-only features on a FIDO_2_1 card, buffer sizes,
//! getInfo keys, ...). The applet runs `validate` again when it is built, because tests adjust a
//! loaded profile's fields.

use super::schema::ProfileDocument;
use super::{
    Aaguid, Algorithm, ExtensionId, OptionId, PinProtocol, Profile, ProfileError, Transport,
    Version, contactless_atr, format_hex_spaced, info_key,
};
use crate::crypto::CREDENTIAL_ID_LEN;

impl TryFrom<ProfileDocument> for Profile {
    type Error = ProfileError;

    fn try_from(doc: ProfileDocument) -> Result<Self, ProfileError> {
        let id = doc.id.clone();
        let fail = |field: &'static str, reason: String| ProfileError {
            profile: id.clone(),
            field,
            reason,
        };
        let mut atr = doc.atr;
        if atr.is_empty() {
            match &doc.historical_bytes {
                Some(historical) if historical.len() <= 15 => atr = contactless_atr(historical),
                // Too long: validate() says so.
                Some(_) => {}
                None => return Err(fail("atr", "give `atr` or `historical_bytes`".into())),
            }
        }
        let aaguid = Aaguid::new(doc.aaguid)
            .ok_or_else(|| fail("aaguid", "the all-zero AAGUID means \"no model\"".into()))?;
        let versions = typed(&doc.versions, |v| Version::parse(v))
            .map_err(|v| fail("versions", format!("unknown version {v:?}")))?;
        if doc.u2f != versions.contains(&Version::U2fV2) {
            return Err(fail(
                "versions",
                "U2F_V2 must be listed exactly when u2f is true".into(),
            ));
        }
        let pin_uv_auth_protocols = typed(&doc.pin_uv_auth_protocols, |&n| {
            PinProtocol::from_number(u64::from(n))
        })
        .map_err(|_| {
            fail(
                "pin_uv_auth_protocols",
                "one or both of 1 and 2, no repeats".into(),
            )
        })?;
        let transports = typed(&doc.transports, |t| Transport::parse(t)).map_err(|t| {
            fail(
                "transports",
                format!("unknown transport {t:?} (WebAuthn §5.8.4)"),
            )
        })?;
        let extensions = typed(&doc.extensions, |e| ExtensionId::parse(e)).map_err(|e| {
            let known: Vec<&str> = ExtensionId::ALL.iter().map(|k| k.as_str()).collect();
            fail(
                "extensions",
                format!("unknown extension {e:?} (known: {known:?})"),
            )
        })?;
        let algorithms = typed(&doc.algorithms, |&a| Algorithm::from_cose_id(a)).map_err(|a| {
            fail(
                "algorithms",
                format!("COSE algorithm {a} is not implemented (only ES256, -7)"),
            )
        })?;
        let profile = Profile {
            id: doc.id,
            name: doc.name,
            aaguid,
            atr,
            historical_bytes: doc.historical_bytes,
            versions,
            extensions,
            firmware_version: doc.firmware_version,
            max_msg_size: doc.max_msg_size,
            max_credential_count_in_list: doc.max_credential_count_in_list,
            max_credential_id_length: doc.max_credential_id_length,
            max_resident_credentials: doc.max_resident_credentials,
            pin_uv_auth_protocols,
            min_pin_length: doc.min_pin_length,
            extended_length: doc.extended_length,
            max_command_data: doc.max_command_data,
            max_response_chunk: doc.max_response_chunk,
            attestation: doc.attestation,
            transports,
            options: doc.options,
            algorithms,
            certifications: doc.certifications,
            large_blob_size: doc.large_blob_size,
            max_cred_blob_length: doc.max_cred_blob_length,
            max_rp_ids_for_set_min_pin_length: doc.max_rp_ids_for_set_min_pin_length,
            processing_budget_ms: doc.processing_budget_ms,
            get_info_keys: doc.get_info_keys,
            attestation_type: doc.attestation_type,
            enterprise_attestation_rp_ids: doc.enterprise_attestation_rp_ids,
            quirks: apdu::Quirks {
                wrong_le: doc.wrong_le.into(),
                get_response_cla: doc.get_response_cla.into(),
                processing_delay_ms: doc.processing_delay_ms,
            },
            notes: doc.notes,
        };
        profile.validate()?;
        Ok(profile)
    }
}

/// Each item read into its type, or the first one that has none.
fn typed<S: Clone, T>(items: &[S], parse: impl Fn(&S) -> Option<T>) -> Result<Vec<T>, S> {
    items
        .iter()
        .map(|item| parse(item).ok_or_else(|| item.clone()))
        .collect()
}

impl Profile {
    /// Checks the invariants the applet relies on, so that a profile loaded from a file fails at
    /// start-up with a message rather than misbehaving later.
    pub fn validate(&self) -> Result<(), ProfileError> {
        let fail = |field: &'static str, reason: String| {
            Err(ProfileError {
                profile: self.id.clone(),
                field,
                reason,
            })
        };
        if self.id.is_empty()
            || !self
                .id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return fail(
                "id",
                "must be non-empty lower-case letters, digits and '-'".into(),
            );
        }
        if self.name.trim().is_empty() {
            return fail("name", "must not be empty".into());
        }
        if let Err(reason) = self.check_atr() {
            return fail("atr", reason);
        }
        if has_duplicates(&self.versions) {
            return fail("versions", "lists a version twice".into());
        }
        if !self.versions.iter().any(|v| *v != Version::U2fV2) {
            return fail("versions", "a CTAP2 card lists FIDO_2_0 or later".into());
        }
        let protocols = &self.pin_uv_auth_protocols;
        if protocols.is_empty() || has_duplicates(protocols) {
            return fail(
                "pin_uv_auth_protocols",
                "one or both of 1 and 2, no repeats".into(),
            );
        }
        if protocols.contains(&PinProtocol::V2) && !self.is_ctap21() {
            return fail(
                "pin_uv_auth_protocols",
                "protocol 2 is CTAP 2.1: list FIDO_2_1 or offer protocol 1 only".into(),
            );
        }
        if !(4..=63).contains(&self.min_pin_length) {
            return fail("min_pin_length", "CTAP 2.1 PINs are 4 to 63 bytes".into());
        }
        if self.max_credential_id_length < CREDENTIAL_ID_LEN {
            return fail(
                "max_credential_id_length",
                format!("this card's credential ids are {CREDENTIAL_ID_LEN} bytes"),
            );
        }
        if self.max_credential_count_in_list == 0 {
            return fail("max_credential_count_in_list", "must be at least 1".into());
        }
        if self.max_msg_size < 1024 {
            return fail(
                "max_msg_size",
                "below 1024 bytes common requests do not fit".into(),
            );
        }
        if self.max_command_data < self.max_msg_size {
            return fail(
                "max_command_data",
                "must hold a message of max_msg_size bytes".into(),
            );
        }
        if self.max_command_data > 65535 {
            return fail(
                "max_command_data",
                "an APDU command carries at most 65535 bytes".into(),
            );
        }
        if !(1..=apdu::card::MAX_RESPONSE_DATA).contains(&self.max_response_chunk) {
            return fail(
                "max_response_chunk",
                format!("must be 1 to {} bytes", apdu::card::MAX_RESPONSE_DATA),
            );
        }
        if !self.extended_length && self.max_response_chunk > 256 {
            return fail(
                "max_response_chunk",
                "a short-APDU card answers at most 256 bytes at a time".into(),
            );
        }
        if self.options.rk && self.max_resident_credentials == 0 {
            return fail(
                "max_resident_credentials",
                "a card with the rk option stores at least one".into(),
            );
        }
        if self.transports.is_empty() {
            return fail("transports", "list at least one transport".into());
        }
        if !self.transports.contains(&Transport::Nfc) || has_duplicates(&self.transports) {
            return fail(
                "transports",
                "this virtual card is contactless: list \"nfc\", each transport once".into(),
            );
        }
        if let Err((field, reason)) = self.check_options() {
            return fail(field, reason);
        }
        if let Err((field, reason)) = self.check_extensions() {
            return fail(field, reason);
        }
        if self.algorithms.is_empty() || has_duplicates(&self.algorithms) {
            return fail("algorithms", "list at least one, each once".into());
        }
        if !self.certifications.is_empty() && !self.is_ctap21() {
            return fail(
                "certifications",
                "getInfo certifications (0x13) are CTAP 2.1; record a CTAP 2.0 card's in notes"
                    .into(),
            );
        }
        if self
            .certifications
            .iter()
            .any(|(name, level)| name.is_empty() || *level == 0)
        {
            return fail(
                "certifications",
                "each entry is a non-empty name and a level of at least 1".into(),
            );
        }
        if self.processing_budget_ms > 0 && !self.is_ctap21() {
            return fail(
                "processing_budget_ms",
                "status updates (9100, NFCCTAP_GETRESPONSE) are CTAP 2.1: use 0".into(),
            );
        }
        if self.processing_budget_ms > 60_000 {
            return fail(
                "processing_budget_ms",
                "at most 60000 ms (hosts time out long before)".into(),
            );
        }
        if self.quirks.processing_delay_ms > apdu::quirks::MAX_PROCESSING_DELAY_MS {
            return fail(
                "processing_delay_ms",
                format!(
                    "at most {} ms (hosts time out long before)",
                    apdu::quirks::MAX_PROCESSING_DELAY_MS
                ),
            );
        }
        if let Some(historical) = &self.historical_bytes {
            if apdu::atr::declares_extended_length(historical)
                .is_some_and(|declared| declared != self.extended_length)
            {
                return fail(
                    "historical_bytes",
                    format!(
                        "the card capabilities (ISO/IEC 7816-4 §8.1.1.2.7) say extended Lc/Le {}, \
                         extended_length says {}",
                        if self.extended_length { "no" } else { "yes" },
                        self.extended_length
                    ),
                );
            }
        }
        if let Err(reason) = self.check_info_keys() {
            return fail("get_info_keys", reason);
        }
        if let Err(reason) = self.check_enterprise_attestation_rp_ids() {
            return fail("enterprise_attestation_rp_ids", reason);
        }
        if let Err(err) = self.attestation.validate() {
            return fail("attestation", err.to_string());
        }
        Ok(())
    }

    fn check_atr(&self) -> Result<(), String> {
        let atr = &self.atr;
        if self.historical_bytes.as_ref().is_some_and(|h| h.len() > 15) {
            return Err("historical_bytes: at most 15 bytes (T0 counts them in a nibble)".into());
        }
        // ISO/IEC 7816-3 §8.2: TS is 3B (direct) or 3F (inverse); an ATR is at most 33 bytes.
        if !matches!(atr.first(), Some(0x3B | 0x3F)) || atr.len() > 33 || atr.len() < 2 {
            return Err("must start with 3B or 3F and be 2 to 33 bytes".into());
        }
        if let Some(historical) = &self.historical_bytes {
            let expected = contactless_atr(historical);
            if *atr != expected {
                return Err(format!(
                    "does not match historical_bytes, which give {}",
                    format_hex_spaced(&expected)
                ));
            }
        }
        // The contactless form 3B 8n 80 01 <n bytes> TCK: check the length and TCK, which are
        // easy to get wrong when an ATR is copied by hand.
        if atr.len() >= 4 && atr[0] == 0x3B && atr[1] & 0xF0 == 0x80 && atr[2..4] == [0x80, 0x01] {
            let n = usize::from(atr[1] & 0x0F);
            if atr.len() != 5 + n {
                return Err(format!(
                    "T0 = {:02X} announces {n} historical bytes: the ATR must be {} bytes",
                    atr[1],
                    5 + n
                ));
            }
            if atr[1..].iter().fold(0u8, |acc, b| acc ^ b) != 0 {
                let tck = atr[1..atr.len() - 1].iter().fold(0u8, |acc, b| acc ^ b);
                return Err(format!("wrong TCK: expected {tck:02X}"));
            }
        }
        Ok(())
    }

    fn check_options(&self) -> Result<(), (&'static str, String)> {
        let o = &self.options;
        if !self.is_ctap21() {
            let ctap21_only = o.first_on(&[
                OptionId::PinUvAuthToken,
                OptionId::CredMgmt,
                OptionId::LargeBlobs,
                OptionId::SetMinPinLength,
                OptionId::MakeCredUvNotRqd,
                OptionId::AlwaysUv,
                OptionId::AuthnrCfg,
                OptionId::Ep,
            ]);
            if let Some(id) = ctap21_only {
                return Err(("options", format!("{id} is CTAP 2.1: list FIDO_2_1")));
            }
        }
        if o.credential_mgmt_preview && !self.lists_version(Version::Fido21Pre) {
            return Err((
                "options",
                "credentialMgmtPreview is FIDO_2_1_PRE: list it".into(),
            ));
        }
        if self.is_ctap21() && o.client_pin && !o.pin_uv_auth_token {
            return Err((
                "options",
                "a CTAP 2.1 card with clientPin has pinUvAuthToken (CTAP 2.1 §6.4)".into(),
            ));
        }
        if !o.client_pin {
            let needs_pin = o.first_on(&[
                OptionId::PinUvAuthToken,
                OptionId::CredMgmt,
                OptionId::CredentialMgmtPreview,
                OptionId::AuthnrCfg,
                OptionId::AlwaysUv,
                OptionId::SetMinPinLength,
            ]);
            if let Some(id) = needs_pin {
                return Err((
                    "options",
                    format!("{id} needs user verification, which a card has only with clientPin"),
                ));
            }
        }
        if o.ep && !o.authnr_cfg {
            return Err((
                "options",
                "ep is enabled through authenticatorConfig: enable authnrCfg".into(),
            ));
        }
        if o.set_min_pin_length && !o.authnr_cfg {
            return Err((
                "options",
                "setMinPINLength is an authenticatorConfig subcommand: enable authnrCfg".into(),
            ));
        }
        if o.large_blobs != (self.large_blob_size > 0) {
            return Err((
                "large_blob_size",
                "at least 1024 with the largeBlobs option, 0 without".into(),
            ));
        }
        if o.large_blobs && self.large_blob_size < 1024 {
            return Err((
                "large_blob_size",
                "maxSerializedLargeBlobArray is at least 1024 (CTAP 2.1 §6.4)".into(),
            ));
        }
        Ok(())
    }

    fn check_extensions(&self) -> Result<(), (&'static str, String)> {
        if has_duplicates(&self.extensions) {
            return Err(("extensions", "lists an extension twice".into()));
        }
        for ext in [
            ExtensionId::CredBlob,
            ExtensionId::LargeBlobKey,
            ExtensionId::MinPinLength,
        ] {
            if self.enables_extension(ext) && !self.is_ctap21() {
                return Err(("extensions", format!("{ext} is CTAP 2.1: list FIDO_2_1")));
            }
        }
        if self.enables_extension(ExtensionId::LargeBlobKey) && !self.options.large_blobs {
            return Err((
                "extensions",
                "largeBlobKey needs the largeBlobs option (CTAP 2.1 §12.3)".into(),
            ));
        }
        if self.enables_extension(ExtensionId::MinPinLength) && !self.options.set_min_pin_length {
            return Err((
                "extensions",
                "minPinLength needs the setMinPINLength option (CTAP 2.1 §12.4)".into(),
            ));
        }
        let cred_blob = self.enables_extension(ExtensionId::CredBlob);
        if cred_blob && self.max_cred_blob_length < 32
            || !cred_blob && self.max_cred_blob_length > 0
        {
            return Err((
                "max_cred_blob_length",
                "at least 32 with the credBlob extension, 0 without (CTAP 2.1 §6.4)".into(),
            ));
        }
        let min_pin = self.enables_extension(ExtensionId::MinPinLength);
        if !min_pin && self.max_rp_ids_for_set_min_pin_length > 0 {
            return Err((
                "max_rp_ids_for_set_min_pin_length",
                "0 without the minPinLength extension".into(),
            ));
        }
        Ok(())
    }

    /// The vendor-facilitated list (§7.1.1) needs an enterprise-attestation capable card, and
    /// holds RP IDs as makeCredential compares them: valid domain strings (WebAuthn §4 "RP ID"),
    /// lower case (so that a mixed-case entry cannot silently never match), each once.
    fn check_enterprise_attestation_rp_ids(&self) -> Result<(), String> {
        let ids = &self.enterprise_attestation_rp_ids;
        if ids.is_empty() {
            return Ok(());
        }
        if !self.options.ep {
            return Err("vendor-facilitated enterprise attestation needs the ep option".into());
        }
        if has_duplicates(ids) {
            return Err("lists an RP ID twice".into());
        }
        let valid = |id: &str| {
            !id.is_empty()
                && id.len() <= 253
                && !id.starts_with('.')
                && !id.ends_with('.')
                && !id.contains("..")
                && id
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        };
        match ids.iter().find(|id| !valid(id)) {
            Some(bad) => Err(format!(
                "{bad:?} is not an RP ID (a lower-case domain: letters, digits, '-', '.')"
            )),
            None => Ok(()),
        }
    }

    fn check_info_keys(&self) -> Result<(), String> {
        let Some(keys) = &self.get_info_keys else {
            return Ok(());
        };
        if has_duplicates(keys) {
            return Err("lists a key twice".into());
        }
        if let Some(k) = keys
            .iter()
            .find(|&&k| !(info_key::VERSIONS..=info_key::LAST).contains(&k))
        {
            return Err(format!("key {k} is not a CTAP 2.1 getInfo key (1 to 20)"));
        }
        for required in [info_key::VERSIONS, info_key::AAGUID] {
            if !keys.contains(&required) {
                return Err(format!("key {required} (versions, aaguid) is mandatory"));
            }
        }
        if let Some(k) = keys.iter().find(|&&k| !self.info_key_applies(k)) {
            return Err(format!(
                "key {k} describes a feature this profile does not have"
            ));
        }
        Ok(())
    }
}

fn has_duplicates<T: PartialEq>(items: &[T]) -> bool {
    items
        .iter()
        .enumerate()
        .any(|(i, a)| items[..i].contains(a))
}
