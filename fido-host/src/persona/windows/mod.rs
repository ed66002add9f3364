//! The Windows persona: what Windows 10/11 sends a contactless FIDO2 card through the smart-card
//! stack (webauthn.dll over PC/SC), written from public material — the CTAP 2.1 NFC binding
//! (§11.3), Microsoft's documentation of Microsoft-compatible security keys and of Settings →
//! Accounts → Sign-in options → Security key, and Windows' own event-log traces as collected in
//! `docs/nfc-binding.md`. Where a detail is our guess rather than documented, the comment says so.
//!
//! The run, in the order a user meets it:
//! 1. `detect`: the card is inserted; smart-card plug-and-play probes it (PIV, GIDS, GET DATA);
//!    Windows SELECTs the FIDO AID (on every insertion), probes
//!    U2F_VERSION, and sends getInfo; a card that fails CTAP2 but speaks U2F gets
//!    NFCCTAP_CONTROL END (`80 12 01 00`) and is used as a U2F key (then the FIDO2 flows stop);
//! 2. Settings: reset too late (CTAP2_ERR_NOT_ALLOWED, shown to the user as a "re-insert"
//!    message) and within 10 s of insertion; set PIN; change PIN;
//! 3. WebAuthn: registration with rk, credProtect and hmac-secret; a second account on the same
//!    relying party; a PIN-protected card refusing a registration without the PIN (Windows then
//!    asks for it); sign-in without an allow list (account picker) and with one (hmac-secret);
//! 4. Settings → Manage: list and delete passkeys with credentialManagement.
//!
//! Every step is played even when Windows would not offer it only if the card declares the
//! feature; otherwise it is skipped saying why, as Windows hides the feature.

use std::time::Duration;

use ctap_types::cbor::Value;
use ctap_types::error::status_name;
use ctap_types::nfc;
use ctap_types::{CtapError, ExtensionId, OptionId, Version, permission, u2f};

use super::{HasClient, Step, Stop, Verdict, play};
use crate::attestation;
use crate::client::{Client, ClientError, sw_name};
use crate::client_pin::Token;
use crate::ctap2::{GetAssertion, Info, MakeCredential};
use crate::nfc::{CONTROL_END, Framing, Length};
use crate::pin_protocol::{self, Protocol};

mod passkeys;
use passkeys::{delete_passkeys, list_passkeys};

/// The relying party the persona registers with. `.invalid` (RFC 2606) is never a real relying
/// party, so nothing a user owns lives there.
pub const RP_ID: &str = "windows-persona.invalid";

/// CTAP 2.1 §6.6: authenticatorReset is allowed only this long after power-up.
pub const RESET_WINDOW: Duration = Duration::from_secs(10);

/// How long the "too late" reset waits after insertion: past [`RESET_WINDOW`] with a margin.
pub const TOO_LATE: Duration = Duration::from_secs(11);

/// The U2F_VERSION probe Windows sends after SELECT: a short APDU, Le 00 (U2F Raw Message
/// Formats §6). That Windows uses the short form here is our guess (its traces show short
/// APDUs only).
pub const U2F_VERSION_PROBE: [u8; 5] = [0x00, u2f::INS_VERSION, 0x00, 0x00, 0x00];

/// What Windows' smart-card plug-and-play sends every inserted card before the FIDO stack looks
/// at it (docs/nfc-binding.md, "Host probing"): SELECT of the PIV AID (NIST SP 800-73) and of
/// the GIDS AID, and GET DATA 7F68. Windows sends more (the set and order vary by version); this
/// selection is ours. A card must answer each with a status word and stay usable.
pub const PNP_PROBES: [(&str, &[u8]); 3] = [
    (
        "SC-PnP probe: SELECT PIV AID",
        &[
            0x00, 0xA4, 0x04, 0x00, 0x05, 0xA0, 0x00, 0x00, 0x03, 0x08, 0x00,
        ],
    ),
    (
        "SC-PnP probe: SELECT GIDS AID",
        &[
            0x00, 0xA4, 0x04, 0x00, 0x0B, 0xA0, 0x00, 0x00, 0x03, 0x97, 0x42, 0x54, 0x46, 0x59,
            0x02, 0x01, 0x00,
        ],
    ),
    (
        "SC-PnP probe: GET DATA 7F68",
        &[0x00, 0xCA, 0x7F, 0x68, 0x00],
    ),
];

/// credProtect level 2, userVerificationOptionalWithCredentialIDList (CTAP 2.1 §12.1). Windows
/// passes the relying party's credentialProtectionPolicy; level 2 is the one it applies to
/// discoverable credentials when the relying party leaves it unset (our guess).
const CRED_PROTECT_LEVEL: u64 = 2;

/// Windows' framing (docs/nfc-binding.md, from its event log): short APDUs only (no extended
/// length, even when the ATR declares it), command chaining, P1 00 on NFCCTAP_MSG (it never
/// accepts `91 00`), GET RESPONSE with CLA 80 on `61xx`.
pub fn framing() -> Framing {
    Framing {
        length: Length::Short,
        // The chained part size is not documented; 255 is our guess (the short-APDU maximum).
        chunk: 255,
        short_max: 255,
        get_response_cla: nfc::CLA,
        msg_p1: 0x00,
        poll_status_updates: false,
        max_polls: 0,
    }
}

/// The message Windows Settings shows for a CTAP error. The wording is ours, paraphrasing what
/// users report Settings saying; Microsoft does not publish the exact strings.
pub fn user_message(code: u8) -> &'static str {
    match CtapError::from_code(code) {
        Some(CtapError::NotAllowed) => {
            "To reset your security key, remove it and insert (tap) it again, then reset within \
             10 seconds."
        }
        Some(CtapError::PinInvalid) => "The PIN is incorrect. Try again.",
        Some(CtapError::PinBlocked) | Some(CtapError::PinAuthBlocked) => {
            "Your security key is locked because the wrong PIN was entered too many times. \
             Reset the security key."
        }
        Some(CtapError::PinPolicyViolation) => "The PIN doesn't meet the security key's rules.",
        Some(CtapError::PuatRequired) => "Enter your security key PIN.",
        Some(CtapError::KeyStoreFull) => "Your security key is full.",
        _ => "Something went wrong. Try again, or use a different security key.",
    }
}

/// What the run may do to the card.
#[derive(Debug, Clone)]
pub struct Options {
    /// The card's PIN when it has one; otherwise the PIN "set PIN" gives it.
    pub pin: String,
    /// The PIN "change PIN" changes to (and then back to `pin`).
    pub new_pin: String,
    /// Play the reset flows (they ERASE every credential and the PIN).
    pub allow_reset: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            pin: "1234".into(),
            new_pin: "5678".into(),
            allow_reset: false,
        }
    }
}

/// A discoverable credential the run registered.
struct Registered {
    credential_id: Vec<u8>,
    user_id: Vec<u8>,
    public_key: Value,
}

struct State<'a> {
    client: &'a mut Client,
    opts: &'a Options,
    wait: &'a mut dyn FnMut(Duration),
    info: Option<Info>,
    /// The PIN the card has now, when known.
    pin: Option<String>,
    /// Cleared when the card refuses the PIN, so no further attempts count down its retries.
    pin_usable: bool,
    registered: Vec<Registered>,
}

fn random32() -> [u8; 32] {
    // Challenges and user ids only need to differ within one run.
    pin_protocol::random_bytes::<32>().unwrap_or_else(|_| pin_protocol::sha256(b"persona"))
}

impl HasClient for State<'_> {
    fn client(&mut self) -> &mut Client {
        self.client
    }
}

impl State<'_> {
    fn info(&self) -> Result<&Info, Stop> {
        self.info
            .as_ref()
            .ok_or_else(|| Stop::Skip("no getInfo answer".into()))
    }

    fn refresh_info(&mut self) -> Result<&Info, Stop> {
        self.info = Some(self.client.get_info()?);
        self.info()
    }

    fn pin_set(&self) -> bool {
        self.info
            .as_ref()
            .and_then(|i| i.option(OptionId::ClientPin.as_str()))
            == Some(true)
    }

    fn protocol(&self) -> Result<Protocol, Stop> {
        // Windows' choice between protocols 1 and 2 is not documented; the card's first listed
        // one is our guess.
        self.info()?
            .preferred_protocol()
            .ok_or_else(|| Stop::Fail("the card lists no PIN/UV auth protocol (1 or 2)".into()))
    }

    /// A pinUvAuthToken as Windows gets one after the user types the PIN: with permissions on
    /// a CTAP 2.1 card (`pinUvAuthToken` option), getPinToken on a 2.0 card; `None` on a card
    /// without a PIN.
    fn token(&mut self, perms: u8, rp: Option<&str>) -> Result<Option<Token>, Stop> {
        if !self.pin_set() {
            return Ok(None);
        }
        let Some(pin) = self.pin.clone() else {
            return Err(Stop::Skip(
                "the card has a PIN the persona does not know".into(),
            ));
        };
        if !self.pin_usable {
            // Each wrong PIN counts down the card's retries (§6.5.5.7); one is enough.
            return Err(Stop::Skip(
                "the card refused the PIN earlier; no further attempts".into(),
            ));
        }
        let protocol = self.protocol()?;
        let with_permissions = self.info()?.option(OptionId::PinUvAuthToken.as_str()) == Some(true);
        match self
            .client
            .get_token(protocol, &pin, with_permissions.then_some((perms, rp)))
        {
            Ok(t) => Ok(Some(t)),
            Err(ClientError::Ctap(c)) if c == CtapError::PinInvalid.code() => {
                self.pin_usable = false;
                Err(Stop::Fail(format!(
                    "the card refused the PIN; Windows shows \"{}\"",
                    user_message(c)
                )))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The card taken out and put back: power cycle and Windows' SELECT on insertion.
    fn reinsert(&mut self) -> Result<(), Stop> {
        self.client.power_cycle()?;
        let (_, sw) = self.client.select()?;
        if sw != 0x9000 {
            return Err(Stop::Fail(format!(
                "SELECT after insertion answered {}",
                sw_name(sw)
            )));
        }
        Ok(())
    }

    fn extensions(&self) -> Result<Option<Value>, Stop> {
        let info = self.info()?;
        let mut ext = Vec::new();
        if info.has_extension(ExtensionId::CredProtect.as_str()) {
            ext.push((
                ExtensionId::CredProtect.as_str(),
                Value::Unsigned(CRED_PROTECT_LEVEL),
            ));
        }
        if info.has_extension(ExtensionId::HmacSecret.as_str()) {
            ext.push((ExtensionId::HmacSecret.as_str(), Value::Bool(true)));
        }
        Ok((!ext.is_empty()).then(|| Value::text_map(ext)))
    }

    fn register(&mut self, user: &str) -> Verdict {
        let token = self.token(permission::MAKE_CREDENTIAL, Some(RP_ID))?;
        let extensions = self.extensions()?;
        let user_id = random32()[..16].to_vec();
        let req = MakeCredential {
            client_data_hash: random32(),
            rp_id: RP_ID.into(),
            user_id: user_id.clone(),
            user_name: user.into(),
            rk: true,
            extensions: extensions.clone(),
            exclude_list: Vec::new(),
            algorithms: Vec::new(),
        };
        let att = self.client.make_credential(&req, token.as_ref())?;
        let Some(attested) = att.auth_data.attested.clone() else {
            return Err(Stop::Fail("no attested credential data".into()));
        };
        self.registered.push(Registered {
            credential_id: attested.credential_id.clone(),
            user_id,
            public_key: attested.public_key.clone(),
        });
        if token.is_some() && !att.auth_data.uv() {
            return Err(Stop::Fail("registered with the PIN but UV is 0".into()));
        }
        let mut said = vec![format!(
            "{}-byte credential id, {}",
            attested.credential_id.len(),
            att.auth_data.describe()
        )];
        let out = att.auth_data.extensions.as_ref();
        let requested = |id: ExtensionId| {
            extensions
                .as_ref()
                .and_then(|e| e.get_text(id.as_str()))
                .is_some()
        };
        if requested(ExtensionId::HmacSecret) {
            let v = out.and_then(|e| e.get_text(ExtensionId::HmacSecret.as_str()));
            if v.and_then(|v| v.as_bool().ok()) != Some(true) {
                return Err(Stop::Fail(
                    "hmac-secret requested but the authenticator data does not say hmac-secret: true"
                        .into(),
                ));
            }
            said.push("hmac-secret: true".into());
        } else {
            said.push("no hmac-secret (not listed): Windows offline unlock unavailable".into());
        }
        if requested(ExtensionId::CredProtect) {
            let v = out
                .and_then(|e| e.get_text(ExtensionId::CredProtect.as_str()))
                .and_then(|v| v.as_unsigned().ok());
            if v != Some(CRED_PROTECT_LEVEL) {
                return Err(Stop::Fail(format!(
                    "credProtect {CRED_PROTECT_LEVEL} requested, the card answered {v:?}"
                )));
            }
            said.push(format!("credProtect: {CRED_PROTECT_LEVEL}"));
        } else {
            said.push("credProtect not listed: Windows does not send it".into());
        }
        Ok(said.join("; "))
    }
}

/// A flow: its step name, its title, and how it is played.
type Flow = (&'static str, &'static str, fn(&mut State<'_>) -> Verdict);

/// Plays the Windows persona against the card behind `client`. `wait` lets time pass (a real
/// sleep for a real card; a test advances its card's clock). The client's framing is Windows'
/// for the run and restored after it.
pub fn run(client: &mut Client, opts: &Options, wait: &mut dyn FnMut(Duration)) -> Vec<Step> {
    let saved = client.framing;
    client.framing = framing();
    let mut s = State {
        client,
        opts,
        wait,
        info: None,
        pin: None,
        pin_usable: true,
        registered: Vec::new(),
    };
    let mut steps = Vec::new();
    let detected = play(
        &mut s,
        &mut steps,
        "detect",
        "Card inserted: SELECT, U2F version probe, getInfo",
        detect,
    );
    if detected == super::StepStatus::Pass {
        let flows: [Flow; 11] = [
            (
                "settings-reset-too-late",
                "Settings → Reset, more than 10 s after insertion",
                reset_too_late,
            ),
            (
                "settings-reset",
                "Settings → Reset, right after insertion",
                reset_in_window,
            ),
            ("settings-set-pin", "Settings → Add PIN", set_pin),
            ("settings-change-pin", "Settings → Change PIN", change_pin),
            (
                "webauthn-register",
                "WebAuthn registration: rk, credProtect, hmac-secret",
                register_first,
            ),
            (
                "webauthn-register-second-account",
                "WebAuthn registration: a second account on the same site",
                register_second,
            ),
            (
                "webauthn-pin-protected",
                "WebAuthn on a PIN-protected card: no PIN, then Windows asks for it",
                pin_protected,
            ),
            (
                "webauthn-sign-in-discoverable",
                "WebAuthn sign-in without an allow list (account picker)",
                sign_in_discoverable,
            ),
            (
                "webauthn-sign-in-allow-list",
                "WebAuthn sign-in with an allow list and hmac-secret",
                sign_in_allow_list,
            ),
            (
                "settings-list-passkeys",
                "Settings → Manage → passkeys: list",
                list_passkeys,
            ),
            (
                "settings-delete-passkeys",
                "Settings → Manage → passkeys: delete",
                delete_passkeys,
            ),
        ];
        for (name, title, f) in flows {
            play(&mut s, &mut steps, name, title, f);
        }
    }
    s.client.framing = saved;
    steps
}

fn detect(s: &mut State<'_>) -> Verdict {
    // Insertion: the card is powered up. A transport that cannot power-cycle is used as it is.
    let _ = s.client.power_cycle();
    let mut probes = Vec::new();
    for (label, apdu) in PNP_PROBES {
        let (_, sw) = s.client.apdu(label, apdu)?;
        if sw == 0 {
            return Err(Stop::Fail(format!("{label}: no status word in the answer")));
        }
        probes.push(format!("{sw:04X}"));
    }
    let (data, sw) = s.client.select()?;
    if sw != 0x9000 {
        return Err(Stop::Fail(format!(
            "SELECT of the FIDO AID answered {}: Windows does not see a security key",
            sw_name(sw)
        )));
    }
    let mut said = vec![
        format!("plug-and-play probes answered {}", probes.join(" ")),
        format!("SELECT answered {:?}", String::from_utf8_lossy(&data)),
    ];
    let (version, sw) = s.client.apdu("U2F_VERSION probe", &U2F_VERSION_PROBE)?;
    let u2f = sw == 0x9000 && version == u2f::VERSION;
    said.push(if u2f {
        "U2F_V2".into()
    } else {
        format!("no U2F ({})", sw_name(sw))
    });
    match s.client.get_info() {
        Ok(info) => {
            let fido2 = info
                .versions
                .iter()
                .any(|v| v == Version::Fido20.as_str() || v == Version::Fido21.as_str());
            said.push(format!("getInfo versions {}", info.versions.join(", ")));
            s.info = Some(info);
            if fido2 {
                Ok(said.join("; "))
            } else {
                Err(Stop::Fail(format!(
                    "getInfo lists neither FIDO_2_0 nor FIDO_2_1 ({})",
                    said.join("; ")
                )))
            }
        }
        Err(e) => {
            if u2f {
                // Windows gives up on CTAP2 and uses the card as a U2F key (docs/nfc-binding.md).
                let _ = s
                    .client
                    .apdu("NFCCTAP_CONTROL END (U2F fallback)", &CONTROL_END);
                return Err(Stop::Fail(format!(
                    "getInfo failed ({e}): Windows falls back to U2F, no FIDO2 flows"
                )));
            }
            Err(Stop::Fail(format!(
                "getInfo failed ({e}) and no U2F either"
            )))
        }
    }
}

fn not_allowed_reset() -> Stop {
    Stop::Skip(
        "not played: reset erases the card (Options::allow_reset; fido-check --allow-reset)".into(),
    )
}

fn reset_too_late(s: &mut State<'_>) -> Verdict {
    if !s.opts.allow_reset {
        return Err(not_allowed_reset());
    }
    s.reinsert()?;
    (s.wait)(TOO_LATE);
    match s.client.reset() {
        Err(ClientError::Ctap(c)) if c == CtapError::NotAllowed.code() => Ok(format!(
            "{} {} s after insertion; Windows shows \"{}\"",
            status_name(c),
            TOO_LATE.as_secs(),
            user_message(c)
        )),
        Err(ClientError::Ctap(c)) => Err(Stop::Fail(format!(
            "answered {} where CTAP 2.1 §6.6 names CTAP2_ERR_NOT_ALLOWED; Windows shows \"{}\"",
            status_name(c),
            user_message(c)
        ))),
        Ok(()) => {
            s.pin = None;
            s.refresh_info()?;
            Err(Stop::Fail(format!(
                "the card reset {} s after insertion (CTAP 2.1 §6.6: only within 10 s)",
                TOO_LATE.as_secs()
            )))
        }
        Err(e) => Err(e.into()),
    }
}

fn reset_in_window(s: &mut State<'_>) -> Verdict {
    if !s.opts.allow_reset {
        return Err(not_allowed_reset());
    }
    // "Tap the card on the reader twice": the user re-inserts, Windows resets at once.
    s.reinsert()?;
    if let Err(e) = s.client.reset() {
        let hint = e
            .ctap_code()
            .map(|c| format!("; Windows shows \"{}\"", user_message(c)))
            .unwrap_or_default();
        return Err(Stop::Fail(format!(
            "reset right after insertion: {e}{hint}"
        )));
    }
    s.pin = None;
    s.pin_usable = true;
    s.registered.clear();
    if s.refresh_info()?.option(OptionId::ClientPin.as_str()) == Some(true) {
        return Err(Stop::Fail("getInfo still reports a PIN after reset".into()));
    }
    Ok("CTAP2_OK right after insertion; the PIN is gone".into())
}

fn set_pin(s: &mut State<'_>) -> Verdict {
    let state = s.refresh_info()?.option(OptionId::ClientPin.as_str());
    match state {
        None => Err(Stop::Fail(
            "getInfo lists no clientPin option: Windows Settings cannot protect the key with a PIN"
                .into(),
        )),
        Some(true) => {
            s.pin = Some(s.opts.pin.clone());
            Err(Stop::Skip(
                "the card already has a PIN: Windows offers Change PIN instead (the given PIN is used)"
                    .into(),
            ))
        }
        Some(false) => {
            let protocol = s.protocol()?;
            if let Err(e) = s.client.set_pin(protocol, &s.opts.pin) {
                let hint = e
                    .ctap_code()
                    .map(|c| format!("; Windows shows \"{}\"", user_message(c)))
                    .unwrap_or_default();
                return Err(Stop::Fail(format!("setPIN: {e}{hint}")));
            }
            s.pin = Some(s.opts.pin.clone());
            if s.refresh_info()?.option(OptionId::ClientPin.as_str()) != Some(true) {
                return Err(Stop::Fail(
                    "after setPIN getInfo does not say clientPin: true".into(),
                ));
            }
            Ok(format!(
                "PIN set with protocol {}; getInfo says clientPin: true",
                protocol.number()
            ))
        }
    }
}

fn change_pin(s: &mut State<'_>) -> Verdict {
    let (Some(old), true) = (s.pin.clone(), s.pin_usable) else {
        return Err(Stop::Skip("no PIN known to change".into()));
    };
    let protocol = s.protocol()?;
    let new = s.opts.new_pin.clone();
    for (from, to) in [(&old, &new), (&new, &old)] {
        if let Err(e) = s.client.change_pin(protocol, from, to) {
            if e.ctap_code() == Some(CtapError::PinInvalid.code()) {
                s.pin_usable = false;
            }
            let hint = e
                .ctap_code()
                .map(|c| format!("; Windows shows \"{}\"", user_message(c)))
                .unwrap_or_default();
            return Err(Stop::Fail(format!("changePIN: {e}{hint}")));
        }
        s.pin = Some(to.clone());
        // Windows proves the new PIN works by getting a token with it (our guess: Settings
        // reports success on changePIN's CTAP2_OK alone); the persona checks the card kept it.
        s.token(permission::MAKE_CREDENTIAL, Some(RP_ID))?;
    }
    Ok("changed to a new PIN and back; a token with each new PIN".into())
}

fn register_first(s: &mut State<'_>) -> Verdict {
    s.register("windows-persona-1")
}

fn register_second(s: &mut State<'_>) -> Verdict {
    s.register("windows-persona-2")
}

fn pin_protected(s: &mut State<'_>) -> Verdict {
    if !s.pin_set() {
        return Err(Stop::Skip("the card has no PIN".into()));
    }
    let req = MakeCredential {
        client_data_hash: random32(),
        rp_id: RP_ID.into(),
        user_id: random32()[..16].to_vec(),
        user_name: "windows-persona-no-pin".into(),
        rk: true,
        extensions: None,
        exclude_list: Vec::new(),
        algorithms: Vec::new(),
    };
    // CTAP 2.1 §6.1.2 step 6 (2.0: §5.1 step 6): a discoverable credential on a card with a
    // PIN needs a pinUvAuthParam; the answer CTAP2_ERR_PUAT_REQUIRED (2.0: PIN_REQUIRED, the
    // same code) makes Windows ask the user for the PIN.
    match s.client.make_credential(&req, None) {
        Err(ClientError::Ctap(c)) if c == CtapError::PuatRequired.code() => {
            let token = s.token(permission::MAKE_CREDENTIAL, Some(RP_ID))?;
            if token.is_none() {
                return Err(Stop::Fail("no token with the PIN".into()));
            }
            Ok(format!(
                "{} without the PIN (Windows: \"{}\"); a token with the PIN",
                status_name(c),
                user_message(c)
            ))
        }
        Ok(att) => {
            if let Some(a) = att.auth_data.attested {
                s.registered.push(Registered {
                    credential_id: a.credential_id,
                    user_id: req.user_id,
                    public_key: a.public_key,
                });
            }
            Err(Stop::Fail(
                "a discoverable credential was made without the PIN on a PIN-protected card".into(),
            ))
        }
        Err(e) => Err(Stop::Fail(format!(
            "{e} where CTAP 2.1 §6.1.2 names CTAP2_ERR_PUAT_REQUIRED"
        ))),
    }
}

fn verify(reg: &Registered, a: &crate::ctap2::Assertion, cdh: &[u8; 32]) -> Result<(), Stop> {
    let key = attestation::credential_key(&reg.public_key).map_err(Stop::Fail)?;
    let mut signed = a.auth_data_raw.clone();
    signed.extend_from_slice(cdh);
    if key.verify(&signed, &a.signature) {
        Ok(())
    } else {
        Err(Stop::Fail("the assertion signature does not verify".into()))
    }
}

fn sign_in_discoverable(s: &mut State<'_>) -> Verdict {
    if s.registered.len() < 2 {
        return Err(Stop::Skip("the two registrations did not succeed".into()));
    }
    let token = s.token(permission::GET_ASSERTION, Some(RP_ID))?;
    let req = GetAssertion {
        rp_id: RP_ID.into(),
        client_data_hash: random32(),
        allow_list: Vec::new(),
        extensions: None,
        up: None,
    };
    let first = s.client.get_assertion(&req, token.as_ref())?;
    let n = first.number_of_credentials.unwrap_or(1);
    let mut assertions = vec![first];
    for _ in 1..n.min(16) {
        assertions.push(s.client.get_next_assertion()?);
    }
    for reg in &s.registered {
        let Some(a) = assertions
            .iter()
            .find(|a| a.user_id.as_deref() == Some(reg.user_id.as_slice()))
        else {
            return Err(Stop::Fail(format!(
                "the account picker would miss an account: {n} assertion(s), not every registered user"
            )));
        };
        verify(reg, a, &req.client_data_hash)?;
        if token.is_some() && !a.auth_data.uv() {
            return Err(Stop::Fail("signed in with the PIN but UV is 0".into()));
        }
    }
    Ok(format!(
        "numberOfCredentials {n}; every account offered, signatures verify"
    ))
}

fn sign_in_allow_list(s: &mut State<'_>) -> Verdict {
    let Some(reg) = s.registered.first() else {
        return Err(Stop::Skip("no registration succeeded".into()));
    };
    let (id, user) = (reg.credential_id.clone(), reg.user_id.clone());
    let token = s.token(permission::GET_ASSERTION, Some(RP_ID))?;
    let hmac = s.info()?.has_extension(ExtensionId::HmacSecret.as_str());
    let (extensions, shared) = if hmac {
        let (ext, shared) = s.client.hmac_secret_input(s.protocol()?, &[random32()])?;
        (Some(ext), Some(shared))
    } else {
        (None, None)
    };
    let req = GetAssertion {
        rp_id: RP_ID.into(),
        client_data_hash: random32(),
        allow_list: vec![id.clone()],
        extensions,
        up: None,
    };
    let a = s.client.get_assertion(&req, token.as_ref())?;
    if a.credential_id
        .as_deref()
        .is_some_and(|c| c != id.as_slice())
    {
        return Err(Stop::Fail("the assertion names another credential".into()));
    }
    let Some(reg) = s.registered.iter().find(|r| r.user_id == user) else {
        return Err(Stop::Skip("no registration".into()));
    };
    verify(reg, &a, &req.client_data_hash)?;
    let mut said = vec!["the allowed credential signed; the signature verifies".to_owned()];
    if let Some(shared) = shared {
        let out = a
            .auth_data
            .extensions
            .as_ref()
            .and_then(|e| e.get_text(ExtensionId::HmacSecret.as_str()))
            .and_then(|v| v.as_bytes().ok())
            .ok_or_else(|| Stop::Fail("hmac-secret asked, no hmac-secret output".into()))?;
        let plain = shared
            .decrypt(out)
            .map_err(|e| Stop::Fail(format!("hmac-secret output: {e}")))?;
        if plain.len() != 32 {
            return Err(Stop::Fail(format!(
                "hmac-secret output decrypts to {} bytes, not 32",
                plain.len()
            )));
        }
        said.push("hmac-secret gave 32 bytes".into());
    }
    Ok(said.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn getinfo_goes_out_as_windows_sends_it() {
        // docs/nfc-binding.md, from Windows' event log: getInfo is 80 10 00 00 01 04 00.
        let apdus = crate::nfc::frame(&framing(), &[ctap_types::command::GET_INFO]);
        assert_eq!(apdus, vec![vec![0x80, 0x10, 0x00, 0x00, 0x01, 0x04, 0x00]]);
        // A long message is chained in short APDUs, never one extended APDU.
        let long = crate::nfc::frame(&framing(), &[0x01; 600]);
        assert!(long.iter().all(|a| a[4] != 0 && a.len() <= 261));
        assert_eq!(long[0][0], 0x90);
        assert_eq!(framing().follow().get_response_cla, 0x80);
    }

    #[test]
    fn the_too_late_reset_has_its_own_message() {
        let late = user_message(CtapError::NotAllowed.code());
        assert!(late.contains("10 seconds"), "{late}");
        assert_ne!(late, user_message(CtapError::Other.code()));
    }
}
