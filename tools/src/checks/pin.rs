//! The PIN checks: authenticatorReset, clientPIN setPIN / getPinToken / changePIN and user
//! verification (CTAP 2.1 §6.5, §6.6; Microsoft seeds 002 and 003).

use super::*;

pub(super) fn check_reset(ctx: &mut Ctx) -> Verdict {
    if !ctx.opts.allow_reset {
        return Err(Stop::NotApplicable(
            "not run: pass --allow-reset (erases every credential and the PIN)".into(),
        ));
    }
    // Windows resets right after the user taps the card: power-cycle, then reset at once.
    ctx.client.power_cycle()?;
    let (_, sw) = ctx.client.select()?;
    if sw != 0x9000 {
        return fail(format!("SELECT after power-up answered {}", sw_name(sw)));
    }
    ctx.client.reset()?;
    ctx.refresh_info()?;
    ctx.pin = None;
    ctx.pin_usable = true;
    if ctx.info()?.option(OptionId::ClientPin.as_str()) == Some(true) {
        return fail("getInfo still reports a PIN (clientPin true) after authenticatorReset");
    }
    Ok("authenticatorReset right after power-up answered CTAP2_OK; the PIN is gone".into())
}

pub(super) fn check_client_pin(ctx: &mut Ctx) -> Verdict {
    let state = ctx.info()?.option(OptionId::ClientPin.as_str());
    let protocols: Vec<Protocol> = ctx
        .info()?
        .pin_protocols
        .iter()
        .filter_map(|n| Protocol::from_number(*n))
        .collect();
    let Some(state) = state else {
        return fail("getInfo lists no clientPin option: the card has no PIN support");
    };
    let Some(pin) = ctx.opts.pin.clone() else {
        return Err(Stop::Skip(if state {
            "the card has a PIN: pass --pin to verify it".into()
        } else {
            "the card has no PIN yet: pass --pin to set one".into()
        }));
    };
    let protocol = ctx.protocol()?;
    let mut summary = Vec::new();
    if !state {
        match ctx.client.set_pin(protocol, &pin) {
            Ok(()) => {}
            Err(ClientError::Ctap(c)) if c == CtapError::PinPolicyViolation.code() => {
                return fail(format!(
                    "setPIN refused --pin as too short or too long (CTAP2_ERR_PIN_POLICY_VIOLATION; \
                     minPINLength {:?})",
                    ctx.info()?
                        .raw
                        .get_int(get_info::MIN_PIN_LENGTH.into())
                        .and_then(|v| v.as_unsigned().ok())
                ));
            }
            Err(e) => return Err(e.into()),
        }
        summary.push(format!("PIN set with protocol {}", protocol.number()));
        ctx.refresh_info()?;
        if ctx.info()?.option(OptionId::ClientPin.as_str()) != Some(true) {
            return fail("after setPIN, getInfo does not report clientPin true");
        }
    }
    let retries = ctx.client.get_retries(protocol)?;
    if state && retries <= 1 {
        ctx.pin_usable = false;
        return fail(format!(
            "only {retries} PIN retries left: fido-check will not risk blocking the card"
        ));
    }
    ctx.pin = Some(pin.clone());
    let ps = if protocols.is_empty() {
        vec![protocol]
    } else {
        protocols
    };
    for p in ps {
        match ctx.client.get_token(p, &pin, None) {
            Ok(t) if !t.token.is_empty() && t.token.len() % 16 == 0 => {
                summary.push(format!("token with protocol {}", p.number()))
            }
            Ok(t) => return fail(format!("the pinUvAuthToken has {} bytes", t.token.len())),
            Err(ClientError::Ctap(c)) if c == CtapError::PinInvalid.code() => {
                ctx.pin_usable = false;
                return fail(format!(
                    "--pin is not this card's PIN (CTAP2_ERR_PIN_INVALID; {} retries were left)",
                    retries
                ));
            }
            Err(e) => return fail(format!("getPinToken with protocol {}: {e}", p.number())),
        }
    }
    summary.push(format!("{retries} retries"));
    Ok(summary.join("; "))
}

pub(super) fn check_user_verification(ctx: &mut Ctx) -> Verdict {
    if ctx.pin.is_none() {
        return Err(Stop::Skip(
            "needs a PIN (cards verify users with the client PIN): pass --pin".into(),
        ));
    }
    let (att, _) = ctx.make_credential(false, "fido-check-uv", None)?;
    if !att.auth_data.uv() {
        return fail(format!(
            "makeCredential with pinUvAuthParam: authData {} has UV=0",
            att.auth_data.describe()
        ));
    }
    let id = att.credential_id().unwrap_or_default().to_vec();
    let (req, assertion) = ctx.get_assertion_of(id)?;
    if !assertion.auth_data.uv() || !assertion.auth_data.up() {
        return fail(format!(
            "getAssertion with pinUvAuthParam: authData {} lacks UV or UP",
            assertion.auth_data.describe()
        ));
    }
    verify_assertion(&att.auth_data, &assertion, &req.client_data_hash)?;
    Ok("makeCredential and getAssertion with a PIN token: UP=1 UV=1, signature verifies".into())
}

pub(super) fn check_pin_change(ctx: &mut Ctx) -> Verdict {
    let Some(pin) = ctx.pin.clone() else {
        return Err(Stop::Skip("needs a PIN: pass --pin".into()));
    };
    if !ctx.pin_usable {
        return Err(Stop::Skip("the PIN was refused earlier".into()));
    }
    let protocol = ctx.protocol()?;
    let suffix = apdu::hex_encode(&random32()[..3]);
    let temp = format!("fc{suffix}");
    ctx.client.change_pin(protocol, &pin, &temp)?;
    ctx.pin = Some(temp.clone());
    ctx.notes.push(format!("temporary PIN {temp}"));
    let with_temp = ctx.client.get_token(protocol, &temp, None);
    let back = ctx.client.change_pin(protocol, &temp, &pin);
    if let Err(e) = back {
        return fail(format!(
            "changing the PIN back failed ({e}): THE CARD'S PIN IS NOW {temp:?}"
        ));
    }
    ctx.pin = Some(pin.clone());
    if let Err(e) = with_temp {
        return fail(format!(
            "no token with the temporary PIN after changePIN: {e}"
        ));
    }
    ctx.client.get_token(protocol, &pin, None)?;
    Ok(format!(
        "changePIN to a temporary PIN (token obtained with it) and back; the original PIN works \
         (protocol {})",
        protocol.number()
    ))
}
