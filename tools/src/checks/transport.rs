//! The transport checks: SELECT, versions and AAGUID, command chaining, GET RESPONSE, extended
//! APDUs (CTAP 2.1 §11.3, ISO 7816-4 §5.1; Microsoft seed 000 "NFC transport").

use super::*;

pub(super) fn check_select(ctx: &mut Ctx) -> Verdict {
    let (data, sw) = ctx.client.select()?;
    if sw != 0x9000 {
        return fail(format!("SELECT answered {}", sw_name(sw)));
    }
    let version = String::from_utf8_lossy(&data).into_owned();
    // CTAP 2.1 §11.3.1: a U2F-capable card answers "U2F_V2", a CTAP2-only one "FIDO_2_0".
    let (u2f, fido2) = (Version::U2fV2.as_str(), Version::Fido20.as_str());
    if version != u2f && version != fido2 {
        return fail(format!(
            "SELECT answered {version:?}; expected {u2f:?} or {fido2:?}"
        ));
    }
    Ok(format!("SELECT answered {version:?} 9000"))
}

pub(super) fn check_versions(ctx: &mut Ctx) -> Verdict {
    ctx.refresh_info()?;
    let info = ctx.info()?;
    let versions = info.versions.join(", ");
    if info
        .versions
        .iter()
        .any(|v| v == Version::Fido20.as_str() || v == Version::Fido21.as_str())
    {
        Ok(format!("versions [{versions}]"))
    } else {
        fail(format!(
            "versions [{versions}] has neither FIDO_2_0 nor FIDO_2_1"
        ))
    }
}

pub(super) fn check_aaguid(ctx: &mut Ctx) -> Verdict {
    match ctx.info()?.aaguid {
        Some(a) if a != [0; 16] => Ok(format!("AAGUID {}", fido_host::format_aaguid(&a))),
        Some(_) => fail("getInfo aaguid is all zeros"),
        None => fail("getInfo has no aaguid (0x03)"),
    }
}

/// A getAssertion of about `size` bytes that finds no credential and needs no presence: an
/// unknown extension pads it (authenticators ignore unknown extensions, CTAP 2.1 §6.2.2).
pub(super) fn long_request(size: usize) -> Vec<u8> {
    let base = GetAssertion {
        rp_id: EMPTY_RP_ID.into(),
        client_data_hash: [0x5A; 32],
        allow_list: Vec::new(),
        extensions: None,
        up: Some(false),
    };
    let mut message = vec![command::GET_ASSERTION];
    let probe = Client::get_assertion_params(&base, None).to_vec().len();
    let pad = size.saturating_sub(probe + 40).max(1);
    let req = GetAssertion {
        extensions: Some(Value::text_map(vec![(
            "fido-check-padding",
            Value::Bytes(vec![0; pad]),
        )])),
        ..base
    };
    message.extend_from_slice(&Client::get_assertion_params(&req, None).to_vec());
    message
}

/// Whether a card's answer to a long request says the message arrived damaged: a wrong length
/// or CBOR that does not decode (CTAP 2.1 §8.2), where a whole message would have been read.
fn garbled(status: u8) -> bool {
    matches!(
        CtapError::from_code(status),
        Some(
            CtapError::InvalidLength
                | CtapError::CborUnexpectedType
                | CtapError::InvalidCbor
                | CtapError::MissingParameter
        )
    )
}

pub(super) fn long_request_size(ctx: &Ctx) -> usize {
    let max = ctx
        .info
        .as_ref()
        .and_then(|i| i.max_msg_size)
        .unwrap_or(1024);
    usize::try_from(max).unwrap_or(1024).clamp(300, 600)
}

pub(super) fn check_chaining(ctx: &mut Ctx) -> Verdict {
    let message = long_request(long_request_size(ctx));
    let mut statuses = Vec::new();
    for chunk in [240usize, 250] {
        let saved = ctx.client.framing;
        ctx.client.framing = Framing {
            length: Length::Short,
            chunk,
            short_max: chunk,
            ..saved
        };
        let reply = ctx.client.ctap_raw(
            &format!(
                "getAssertion, {} bytes in {chunk}-byte chained APDUs",
                message.len()
            ),
            &message,
        );
        ctx.client.framing = saved;
        let reply = reply?;
        if garbled(reply.status) {
            return fail(format!(
                "the reassembled {}-byte message was refused with {} (0x{:02X}): chaining lost or \
                 garbled data",
                message.len(),
                status_name(reply.status),
                reply.status
            ));
        }
        statuses.push(reply.status);
    }
    if statuses
        .iter()
        .any(|s| *s != CtapError::NoCredentials.code())
    {
        ctx.notes.push(format!(
            "expected CTAP2_ERR_NO_CREDENTIALS for a relying party without credentials; got {}",
            statuses
                .iter()
                .map(|s| status_name(*s))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok(format!(
        "{}-byte message in chains of 240 (CLA 90 … 80, as libfido2) and 250 bytes (python-fido2) \
         reassembled; answered {}",
        message.len(),
        status_name(statuses.first().copied().unwrap_or(0))
    ))
}

/// getInfo in one NFCCTAP_MSG APDU (P1 00), short or extended, with the last byte of Le set to
/// `le` (00: as much as fits).
pub(super) fn get_info_apdu(length: Length, le: u8) -> Vec<u8> {
    let framing = Framing {
        length,
        ..Framing::default()
    };
    let mut apdu = fido_host::nfc::frame(&framing, &[command::GET_INFO]).concat();
    if let Some(last) = apdu.last_mut() {
        *last = le;
    }
    apdu
}

pub(super) fn check_get_response(ctx: &mut Ctx) -> Verdict {
    let (reference, sw) = ctx.client.apdu(
        "getInfo (reference, Le=00)",
        &get_info_apdu(Length::Short, 0x00),
    )?;
    if sw != 0x9000 {
        return fail(format!("getInfo answered {}", sw_name(sw)));
    }
    let mut done = Vec::new();
    for cla in [0x00u8, 0x80] {
        let saved = ctx.client.framing;
        ctx.client.framing.get_response_cla = cla;
        let result = ctx.client.apdu(
            &format!("getInfo with Le=10, GET RESPONSE CLA {cla:02X}"),
            &get_info_apdu(Length::Short, 0x10),
        );
        ctx.client.framing = saved;
        let (data, sw) = result?;
        let op = ctx.client.log().last().cloned();
        let parts = op.as_ref().map_or(0, |o| o.exchanges.len());
        if parts <= 1 {
            if data == reference && sw == 0x9000 {
                return Err(Stop::NotApplicable(format!(
                    "the card answered all {} bytes of getInfo to Le=10 without 61xx, so GET \
                     RESPONSE could not be exercised",
                    data.len()
                )));
            }
            return fail(format!(
                "getInfo with Le=10 answered {} bytes, SW {}",
                data.len(),
                sw_name(sw)
            ));
        }
        if sw != 0x9000 || data != reference {
            return fail(format!(
                "GET RESPONSE with CLA {cla:02X}: reassembled {} bytes with SW {}, expected the \
                 {} bytes of getInfo",
                data.len(),
                sw_name(sw),
                reference.len()
            ));
        }
        done.push(format!("CLA {cla:02X} in {parts} parts"));
    }
    Ok(format!(
        "{}-byte getInfo reassembled with GET RESPONSE {}",
        reference.len(),
        done.join(" and ")
    ))
}

/// Whether the ATR's historical bytes declare extended Lc/Le (card capabilities, compact-TLV
/// tag 7, third software function byte bit b7; ISO 7816-4 §8.1.1.2.7). `None` when the ATR
/// cannot be parsed or says nothing.
pub fn atr_declares_extended(atr: &[u8]) -> Option<bool> {
    let t0 = *atr.get(1)?;
    let k = usize::from(t0 & 0x0F);
    let mut y = t0 >> 4;
    let mut i = 2;
    loop {
        let count = (y & 0x0F).count_ones() as usize;
        let has_td = y & 0x08 != 0;
        i += count;
        if !has_td {
            break;
        }
        y = *atr.get(i - 1)? >> 4;
    }
    let hist = atr.get(i..i + k)?;
    let (&category, mut rest) = hist.split_first()?;
    match category {
        0x80 => {}
        0x00 => rest = rest.get(..rest.len().checked_sub(3)?)?,
        _ => return None,
    }
    while let Some((&tl, tail)) = rest.split_first() {
        let (tag, len) = (tl >> 4, usize::from(tl & 0x0F));
        let value = tail.get(..len)?;
        if tag == 7 {
            return value.get(2).map(|b| b & 0x40 != 0);
        }
        rest = &tail[len..];
    }
    None
}

pub(super) fn check_extended(ctx: &mut Ctx) -> Verdict {
    let atr = ctx.client.atr().map_err(Stop::Fail)?;
    let declared = atr_declares_extended(&atr);
    let (reference, _) = ctx
        .client
        .apdu("getInfo (short)", &get_info_apdu(Length::Short, 0x00))?;
    let (data, sw) = ctx.client.apdu(
        "getInfo as an extended APDU",
        &get_info_apdu(Length::Extended, 0x00),
    )?;
    let works = sw == 0x9000 && data == reference;
    match (works, declared) {
        (false, Some(true)) => fail(format!(
            "the ATR declares extended Lc/Le but an extended getInfo answered {} bytes, SW {}",
            data.len(),
            sw_name(sw)
        )),
        (false, _) => Err(Stop::NotApplicable(format!(
            "not declared in the ATR and not supported (extended getInfo answered SW {}); short \
             APDUs with chaining are used",
            sw_name(sw)
        ))),
        (true, _) => {
            let message = long_request(long_request_size(ctx));
            let saved = ctx.client.framing;
            ctx.client.framing.length = Length::ExtendedWhenLong;
            let reply = ctx.client.ctap_raw(
                &format!("getAssertion, {} bytes in one extended APDU", message.len()),
                &message,
            );
            ctx.client.framing = saved;
            let reply = reply?;
            if garbled(reply.status) {
                return fail(format!(
                    "a {}-byte extended APDU was refused with {}",
                    message.len(),
                    status_name(reply.status)
                ));
            }
            Ok(format!(
                "extended APDUs work ({}); a {}-byte message in one APDU answered {}",
                match declared {
                    Some(true) => "declared in the ATR",
                    _ => "not declared in the ATR",
                },
                message.len(),
                status_name(reply.status)
            ))
        }
    }
}
