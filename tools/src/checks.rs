//! The Microsoft-compatibility checks of fido-check, each tied to the requirement it comes from:
//! the Microsoft documents in `shared/seeds/` (000: what makes a key Microsoft-compatible; 001:
//! the vendor requirements and attestation; 002/003: PIN creation, change and reset from
//! Windows; 004: AAGUIDs and attestation enforcement) and the CTAP 2.1 / WebAuthn sections.
//!
//! Every check records the operations (APDUs and decoded answers) that decided it. The run never
//! resets the card or deletes anything it did not create unless `allow_reset`; the credentials it
//! makes are discoverable ones on the relying party [`RP_ID`] (deleted at the end through
//! credential management when the card has it) and non-discoverable ones, which leave nothing
//! on the card.

use std::time::SystemTime;

use x509_cert::Certificate;

use crate::attestation::{self, AuthData};
use crate::cbor::{self, Value};
use crate::ctap_client::{
    Client, ClientError, Framing, GetAssertion, Info, MakeCredential, Op, Token, permission,
};
use crate::pin_protocol::{self, Protocol};

/// The relying party fido-check registers its credentials with. `.invalid` (RFC 2606) can never
/// be a real relying party, so nothing a user owns lives there.
pub const RP_ID: &str = "fido-check.invalid";
/// A relying party that never has credentials (for requests that must find none).
pub const EMPTY_RP_ID: &str = "fido-check-empty.invalid";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pass,
    Fail,
    Skip,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Skip => "SKIP",
        }
    }
}

/// One check's outcome.
#[derive(Debug, Clone)]
pub struct CheckResult {
    pub id: &'static str,
    pub title: &'static str,
    /// Where the requirement comes from: seed document file names and spec sections.
    pub source: &'static str,
    /// Whether the verdict counts: a required check must pass for exit status 0. A skip whose
    /// reason makes the check not applicable (e.g. a feature the card does not declare) does
    /// not count either.
    pub required: bool,
    pub status: Status,
    pub summary: String,
    pub notes: Vec<String>,
    pub evidence: Vec<Op>,
}

impl CheckResult {
    /// Whether this result keeps the run from passing.
    pub fn blocks(&self) -> bool {
        self.status == Status::Fail || (self.required && self.status == Status::Skip)
    }
}

/// Options of a run.
#[derive(Debug, Clone)]
pub struct Options {
    pub pin: Option<String>,
    pub allow_reset: bool,
    pub trust_root: Option<Certificate>,
    pub now: SystemTime,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            pin: None,
            allow_reset: false,
            trust_root: None,
            now: SystemTime::now(),
        }
    }
}

/// The whole run.
#[derive(Debug, Clone)]
pub struct Run {
    pub atr: Vec<u8>,
    pub aaguid: Option<String>,
    pub versions: Vec<String>,
    pub results: Vec<CheckResult>,
    /// Things fido-check created and could not remove.
    pub leftovers: Vec<String>,
}

impl Run {
    pub fn passed(&self) -> bool {
        !self.results.iter().any(CheckResult::blocks)
    }

    pub fn counts(&self) -> (usize, usize, usize) {
        let count = |s| self.results.iter().filter(|r| r.status == s).count();
        (
            count(Status::Pass),
            count(Status::Fail),
            count(Status::Skip),
        )
    }
}

/// Why a check did not pass.
enum Stop {
    Fail(String),
    /// A required check that could not run (counts against the card).
    Skip(String),
    /// Not applicable to this card (does not count).
    NotApplicable(String),
}

impl From<ClientError> for Stop {
    fn from(e: ClientError) -> Self {
        Stop::Fail(e.to_string())
    }
}

type Verdict = Result<String, Stop>;

fn fail<T>(why: impl Into<String>) -> Result<T, Stop> {
    Err(Stop::Fail(why.into()))
}

/// A discoverable credential this run created.
#[derive(Debug, Clone)]
struct Created {
    credential_id: Vec<u8>,
    user_id: Vec<u8>,
    public_key: Value,
}

struct Ctx<'a> {
    client: &'a mut Client,
    opts: &'a Options,
    info: Option<Info>,
    /// The PIN the card has now, when known.
    pin: Option<String>,
    /// Cleared after a wrong PIN, so a mistyped --pin cannot block the card.
    pin_usable: bool,
    resident: Vec<Created>,
    notes: Vec<String>,
    leftovers: Vec<String>,
}

fn random32() -> [u8; 32] {
    pin_protocol::random_bytes::<32>().unwrap_or_else(|_| {
        // Only used for challenges and user ids; uniqueness within one run is what matters.
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        pin_protocol::sha256(&nanos.to_be_bytes())
    })
}

impl Ctx<'_> {
    fn info(&self) -> Result<&Info, Stop> {
        self.info
            .as_ref()
            .ok_or_else(|| Stop::Skip("no getInfo answer".into()))
    }

    fn protocol(&self) -> Result<Protocol, Stop> {
        self.info()?.preferred_protocol().ok_or_else(|| {
            Stop::Fail("the card lists no PIN/UV auth protocol this tool knows (1, 2)".into())
        })
    }

    fn refresh_info(&mut self) -> Result<(), Stop> {
        self.info = Some(self.client.get_info()?);
        Ok(())
    }

    /// Whether the card has a PIN set that we do not know (then UV-protected operations cannot
    /// run).
    fn pin_blocked(&self) -> bool {
        let set = self
            .info
            .as_ref()
            .and_then(|i| i.option("clientPin"))
            .unwrap_or(false);
        set && (self.pin.is_none() || !self.pin_usable)
    }

    /// A pinUvAuthToken for `perms` on [`RP_ID`], or `None` when the card has no PIN (then
    /// operations run without one). CTAP 2.1 cards get permissions; 2.0 cards getPinToken.
    fn token(&mut self, perms: u8, rp: Option<&str>) -> Result<Option<Token>, Stop> {
        if self.pin_blocked() {
            return Err(Stop::Skip(
                "the card has a PIN: pass --pin to run this check".into(),
            ));
        }
        let Some(pin) = self.pin.clone() else {
            return Ok(None);
        };
        let protocol = self.protocol()?;
        let with_permissions = self.info()?.option("pinUvAuthToken") == Some(true);
        let permissions = with_permissions.then_some((perms, rp));
        match self.client.get_token(protocol, &pin, permissions) {
            Ok(t) => Ok(Some(t)),
            Err(ClientError::Ctap(0x31)) => {
                self.pin_usable = false;
                fail("the card refused the PIN (CTAP2_ERR_PIN_INVALID); no further PIN attempts")
            }
            Err(e) => Err(e.into()),
        }
    }

    fn make_credential(
        &mut self,
        rk: bool,
        user: &str,
        extensions: Option<Value>,
    ) -> Result<(crate::ctap_client::Attestation, [u8; 32]), Stop> {
        let token = self.token(permission::MAKE_CREDENTIAL, Some(RP_ID))?;
        let client_data_hash = random32();
        let user_id = random32()[..16].to_vec();
        let req = MakeCredential {
            client_data_hash,
            rp_id: RP_ID.into(),
            user_id: user_id.clone(),
            user_name: user.into(),
            rk,
            extensions,
            exclude_list: Vec::new(),
        };
        let att = self.client.make_credential(&req, token.as_ref())?;
        if rk {
            if let Some(a) = &att.auth_data.attested {
                self.resident.push(Created {
                    credential_id: a.credential_id.clone(),
                    user_id,
                    public_key: a.public_key.clone(),
                });
            }
        }
        Ok((att, client_data_hash))
    }
}

/// Runs every check against the card behind `client`.
pub fn run(client: &mut Client, opts: &Options) -> Run {
    let atr = client.atr().unwrap_or_default();
    let mut ctx = Ctx {
        client,
        opts,
        info: None,
        pin: None,
        pin_usable: true,
        resident: Vec::new(),
        notes: Vec::new(),
        leftovers: Vec::new(),
    };
    let mut results = Vec::new();
    let mut step = |ctx: &mut Ctx,
                    id: &'static str,
                    title: &'static str,
                    source: &'static str,
                    required: bool,
                    f: &dyn Fn(&mut Ctx) -> Verdict| {
        let mark = ctx.client.mark();
        ctx.notes.clear();
        let verdict = f(ctx);
        let (status, summary, required) = match verdict {
            Ok(s) => (Status::Pass, s, required),
            Err(Stop::Fail(s)) => (Status::Fail, s, required),
            Err(Stop::Skip(s)) => (Status::Skip, s, required),
            Err(Stop::NotApplicable(s)) => (Status::Skip, s, false),
        };
        results.push(CheckResult {
            id,
            title,
            source,
            required,
            status,
            summary,
            notes: std::mem::take(&mut ctx.notes),
            evidence: ctx.client.ops_since(mark),
        });
        status
    };

    let selected = step(
        &mut ctx,
        "select",
        "FIDO applet selectable",
        "001 (FIDO2 certified authenticator); CTAP 2.1 §11.3.1",
        true,
        &check_select,
    );
    if selected != Status::Pass {
        return Run {
            atr,
            aaguid: None,
            versions: Vec::new(),
            results,
            leftovers: Vec::new(),
        };
    }
    step(
        &mut ctx,
        "versions",
        "FIDO_2_0 or FIDO_2_1 in getInfo versions",
        "001 (FIDO 2.0 or FIDO 2.1; no U2F-only); CTAP 2.1 §6.4",
        true,
        &check_versions,
    );
    step(
        &mut ctx,
        "aaguid",
        "AAGUID present in getInfo",
        "004 (key restrictions by AAGUID); 001 (partner list by AAGUID); CTAP 2.1 §6.4",
        true,
        &check_aaguid,
    );
    step(
        &mut ctx,
        "nfc-chaining",
        "Command chaining with short APDUs",
        "CTAP 2.1 §11.3.4 (fragmentation); ISO 7816-4 §5.3.3",
        true,
        &check_chaining,
    );
    step(
        &mut ctx,
        "nfc-get-response",
        "GET RESPONSE with CLA 00 and 80 on 61xx",
        "CTAP 2.1 §11.3.4; Windows webauthn.dll and libfido2 send CLA 80",
        true,
        &check_get_response,
    );
    step(
        &mut ctx,
        "nfc-extended-length",
        "Extended-length APDUs where declared",
        "CTAP 2.1 §11.3.4; ISO 7816-4 §8.1.1.2.7 (card capabilities)",
        true,
        &check_extended,
    );
    step(
        &mut ctx,
        "reset",
        "authenticatorReset within 10 s of power-up",
        "000, 002, 003 (reset from Windows Settings); CTAP 2.1 §6.6",
        false,
        &check_reset,
    );
    step(
        &mut ctx,
        "client-pin",
        "clientPIN: set or verify the PIN",
        "000 #2 (client PIN); 001 (ClientPIN); 002 (PIN creation); CTAP 2.1 §6.5",
        true,
        &check_client_pin,
    );
    step(
        &mut ctx,
        "user-verification",
        "User verification: PIN token gives UV=1",
        "001 (user verification for all sign-ins); CTAP 2.1 §6.1.2, §6.2.2, §6.5.5.7",
        true,
        &check_user_verification,
    );
    step(
        &mut ctx,
        "resident-keys",
        "Resident (discoverable) credentials",
        "000 #1 (resident key); 001 (resident keys); CTAP 2.1 §6.1, §6.2",
        true,
        &check_resident_keys,
    );
    step(
        &mut ctx,
        "multiple-accounts",
        "Several accounts per relying party",
        "000 #4 (multiple accounts per RP); CTAP 2.1 §6.2.2, §6.3",
        true,
        &check_multiple_accounts,
    );
    step(
        &mut ctx,
        "hmac-secret",
        "hmac-secret: two salts, stable, UV/non-UV split",
        "000 #3 and 003 (offline Windows unlock); 001 (HMAC secret); CTAP 2.1 §12.5",
        true,
        &check_hmac_secret,
    );
    step(
        &mut ctx,
        "attestation",
        "Packed attestation with a valid certificate chain",
        "001 (attestation requirements); 004 (enforce attestation, AAGUID); WebAuthn §8.2, §8.2.1",
        true,
        &check_attestation,
    );
    step(
        &mut ctx,
        "pin-change",
        "PIN change (to a temporary PIN and back)",
        "002, 003 (change PIN from Windows Settings); CTAP 2.1 §6.5.5.6",
        true,
        &check_pin_change,
    );
    step(
        &mut ctx,
        "credential-management",
        "Credential management: enumerate and delete",
        "CTAP 2.1 §6.8 (Windows Settings manages credentials with it)",
        false,
        &check_cred_mgmt,
    );
    if !ctx.resident.is_empty() {
        ctx.leftovers.push(format!(
            "{} discoverable credential(s) created by fido-check remain on the card under \
             relying party {RP_ID} (user names fido-check-*): they could not be deleted",
            ctx.resident.len()
        ));
    }
    step(
        &mut ctx,
        "canonical-cbor",
        "Answers in CTAP2 canonical CBOR",
        "CTAP 2.1 §8 (python-fido2 and Windows reject other encodings)",
        true,
        &check_canonical,
    );

    let aaguid = ctx
        .info
        .as_ref()
        .and_then(|i| i.aaguid)
        .map(|a| crate::format_aaguid(&a));
    let versions = ctx
        .info
        .as_ref()
        .map(|i| i.versions.clone())
        .unwrap_or_default();
    Run {
        atr,
        aaguid,
        versions,
        results,
        leftovers: ctx.leftovers,
    }
}

fn check_select(ctx: &mut Ctx) -> Verdict {
    let (data, sw) = ctx.client.select()?;
    if sw != 0x9000 {
        return fail(format!(
            "SELECT answered {}",
            crate::ctap_client::sw_name(sw)
        ));
    }
    let version = String::from_utf8_lossy(&data).into_owned();
    if version != "U2F_V2" && version != "FIDO_2_0" {
        return fail(format!(
            "SELECT answered {version:?}; expected \"U2F_V2\" or \"FIDO_2_0\""
        ));
    }
    Ok(format!("SELECT answered {version:?} 9000"))
}

fn check_versions(ctx: &mut Ctx) -> Verdict {
    ctx.refresh_info()?;
    let info = ctx.info()?;
    let versions = info.versions.join(", ");
    if info
        .versions
        .iter()
        .any(|v| v == "FIDO_2_0" || v == "FIDO_2_1")
    {
        Ok(format!("versions [{versions}]"))
    } else {
        fail(format!(
            "versions [{versions}] has neither FIDO_2_0 nor FIDO_2_1"
        ))
    }
}

fn check_aaguid(ctx: &mut Ctx) -> Verdict {
    match ctx.info()?.aaguid {
        Some(a) if a != [0; 16] => Ok(format!("AAGUID {}", crate::format_aaguid(&a))),
        Some(_) => fail("getInfo aaguid is all zeros"),
        None => fail("getInfo has no aaguid (0x03)"),
    }
}

/// A getAssertion of about `size` bytes that finds no credential and needs no presence: an
/// unknown extension pads it (authenticators ignore unknown extensions, CTAP 2.1 §6.2.2).
fn long_request(size: usize) -> Vec<u8> {
    let base = GetAssertion {
        rp_id: EMPTY_RP_ID.into(),
        client_data_hash: [0x5A; 32],
        allow_list: Vec::new(),
        extensions: None,
        up: Some(false),
    };
    let mut message = vec![crate::ctap_client::cmd::GET_ASSERTION];
    let probe = cbor::encode(&Client::get_assertion_params(&base, None)).len();
    let pad = size.saturating_sub(probe + 40).max(1);
    let req = GetAssertion {
        extensions: Some(Value::text_map(vec![(
            "fido-check-padding",
            Value::Bytes(vec![0; pad]),
        )])),
        ..base
    };
    message.extend_from_slice(&cbor::encode(&Client::get_assertion_params(&req, None)));
    message
}

fn long_request_size(ctx: &Ctx) -> usize {
    let max = ctx
        .info
        .as_ref()
        .and_then(|i| i.max_msg_size)
        .unwrap_or(1024);
    usize::try_from(max).unwrap_or(1024).clamp(300, 600)
}

fn check_chaining(ctx: &mut Ctx) -> Verdict {
    let message = long_request(long_request_size(ctx));
    let mut statuses = Vec::new();
    for chunk in [240usize, 250] {
        let saved = ctx.client.framing;
        ctx.client.framing = Framing {
            extended: false,
            chunk,
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
        if matches!(reply.status, 0x03 | 0x11 | 0x12 | 0x14) {
            return fail(format!(
                "the reassembled {}-byte message was refused with {} (0x{:02X}): chaining lost or \
                 garbled data",
                message.len(),
                crate::ctap_client::ctap_status_name(reply.status),
                reply.status
            ));
        }
        statuses.push(reply.status);
    }
    if statuses.iter().any(|s| *s != 0x2E) {
        ctx.notes.push(format!(
            "expected CTAP2_ERR_NO_CREDENTIALS for a relying party without credentials; got {}",
            statuses
                .iter()
                .map(|s| crate::ctap_client::ctap_status_name(*s))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok(format!(
        "{}-byte message in chains of 240 (CLA 90 … 80, as libfido2) and 250 bytes (python-fido2) \
         reassembled; answered {}",
        message.len(),
        crate::ctap_client::ctap_status_name(statuses.first().copied().unwrap_or(0))
    ))
}

fn check_get_response(ctx: &mut Ctx) -> Verdict {
    let (reference, sw) = ctx.client.apdu(
        "getInfo (reference, Le=00)",
        &[0x80, 0x10, 0x00, 0x00, 0x01, 0x04, 0x00],
    )?;
    if sw != 0x9000 {
        return fail(format!(
            "getInfo answered {}",
            crate::ctap_client::sw_name(sw)
        ));
    }
    let mut done = Vec::new();
    for cla in [0x00u8, 0x80] {
        let saved = ctx.client.framing;
        ctx.client.framing.get_response_cla = cla;
        let result = ctx.client.apdu(
            &format!("getInfo with Le=10, GET RESPONSE CLA {cla:02X}"),
            &[0x80, 0x10, 0x00, 0x00, 0x01, 0x04, 0x10],
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
                crate::ctap_client::sw_name(sw)
            ));
        }
        if sw != 0x9000 || data != reference {
            return fail(format!(
                "GET RESPONSE with CLA {cla:02X}: reassembled {} bytes with SW {}, expected the \
                 {} bytes of getInfo",
                data.len(),
                crate::ctap_client::sw_name(sw),
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

fn check_extended(ctx: &mut Ctx) -> Verdict {
    let atr = ctx.client.atr().map_err(Stop::Fail)?;
    let declared = atr_declares_extended(&atr);
    let (reference, _) = ctx.client.apdu(
        "getInfo (short)",
        &[0x80, 0x10, 0x00, 0x00, 0x01, 0x04, 0x00],
    )?;
    let (data, sw) = ctx.client.apdu(
        "getInfo as an extended APDU",
        &[0x80, 0x10, 0x00, 0x00, 0x00, 0x00, 0x01, 0x04, 0x00, 0x00],
    )?;
    let works = sw == 0x9000 && data == reference;
    match (works, declared) {
        (false, Some(true)) => fail(format!(
            "the ATR declares extended Lc/Le but an extended getInfo answered {} bytes, SW {}",
            data.len(),
            crate::ctap_client::sw_name(sw)
        )),
        (false, _) => Err(Stop::NotApplicable(format!(
            "not declared in the ATR and not supported (extended getInfo answered SW {}); short \
             APDUs with chaining are used",
            crate::ctap_client::sw_name(sw)
        ))),
        (true, _) => {
            let message = long_request(long_request_size(ctx));
            let saved = ctx.client.framing;
            ctx.client.framing.extended = true;
            let reply = ctx.client.ctap_raw(
                &format!("getAssertion, {} bytes in one extended APDU", message.len()),
                &message,
            );
            ctx.client.framing = saved;
            let reply = reply?;
            if matches!(reply.status, 0x03 | 0x11 | 0x12 | 0x14) {
                return fail(format!(
                    "a {}-byte extended APDU was refused with {}",
                    message.len(),
                    crate::ctap_client::ctap_status_name(reply.status)
                ));
            }
            Ok(format!(
                "extended APDUs work ({}); a {}-byte message in one APDU answered {}",
                match declared {
                    Some(true) => "declared in the ATR",
                    _ => "not declared in the ATR",
                },
                message.len(),
                crate::ctap_client::ctap_status_name(reply.status)
            ))
        }
    }
}

fn check_reset(ctx: &mut Ctx) -> Verdict {
    if !ctx.opts.allow_reset {
        return Err(Stop::NotApplicable(
            "not run: pass --allow-reset (erases every credential and the PIN)".into(),
        ));
    }
    // Windows resets right after the user taps the card: power-cycle, then reset at once.
    ctx.client.power_cycle()?;
    let (_, sw) = ctx.client.select()?;
    if sw != 0x9000 {
        return fail(format!(
            "SELECT after power-up answered {}",
            crate::ctap_client::sw_name(sw)
        ));
    }
    ctx.client.reset()?;
    ctx.refresh_info()?;
    ctx.pin = None;
    ctx.pin_usable = true;
    if ctx.info()?.option("clientPin") == Some(true) {
        return fail("getInfo still reports a PIN (clientPin true) after authenticatorReset");
    }
    Ok("authenticatorReset right after power-up answered CTAP2_OK; the PIN is gone".into())
}

fn check_client_pin(ctx: &mut Ctx) -> Verdict {
    let state = ctx.info()?.option("clientPin");
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
            Err(ClientError::Ctap(0x37)) => {
                return fail(format!(
                    "setPIN refused --pin as too short or too long (CTAP2_ERR_PIN_POLICY_VIOLATION; \
                     minPINLength {:?})",
                    ctx.info()?.raw.get_int(0x0D).and_then(Value::as_u64)
                ));
            }
            Err(e) => return Err(e.into()),
        }
        summary.push(format!("PIN set with protocol {}", protocol.number()));
        ctx.refresh_info()?;
        if ctx.info()?.option("clientPin") != Some(true) {
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
            Err(ClientError::Ctap(0x31)) => {
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

fn check_user_verification(ctx: &mut Ctx) -> Verdict {
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
    let token = ctx.token(permission::GET_ASSERTION, Some(RP_ID))?;
    let req = GetAssertion {
        rp_id: RP_ID.into(),
        client_data_hash: random32(),
        allow_list: vec![id],
        extensions: None,
        up: None,
    };
    let assertion = ctx.client.get_assertion(&req, token.as_ref())?;
    if !assertion.auth_data.uv() || !assertion.auth_data.up() {
        return fail(format!(
            "getAssertion with pinUvAuthParam: authData {} lacks UV or UP",
            assertion.auth_data.describe()
        ));
    }
    verify_assertion(&att.auth_data, &assertion, &req.client_data_hash)?;
    Ok("makeCredential and getAssertion with a PIN token: UP=1 UV=1, signature verifies".into())
}

fn verify_assertion(
    made: &AuthData,
    assertion: &crate::ctap_client::Assertion,
    client_data_hash: &[u8; 32],
) -> Result<(), Stop> {
    let Some(attested) = &made.attested else {
        return fail("no attested credential data");
    };
    verify_with_key(&attested.public_key, assertion, client_data_hash)
}

fn verify_with_key(
    public_key: &Value,
    assertion: &crate::ctap_client::Assertion,
    client_data_hash: &[u8; 32],
) -> Result<(), Stop> {
    let key = attestation::es256_key(public_key).map_err(Stop::Fail)?;
    let mut signed = assertion.auth_data_raw.clone();
    signed.extend_from_slice(client_data_hash);
    if !attestation::verify_es256(&key, &signed, &assertion.signature) {
        return fail("the assertion signature does not verify with the credential's public key");
    }
    if assertion.auth_data.rp_id_hash != pin_protocol::sha256(RP_ID.as_bytes()) {
        return fail("the assertion's rpIdHash is not SHA-256 of the relying party id");
    }
    Ok(())
}

fn check_resident_keys(ctx: &mut Ctx) -> Verdict {
    if ctx.info()?.option("rk") != Some(true) {
        return fail("getInfo does not list the rk option as true");
    }
    let (att, _) = ctx.make_credential(true, "fido-check-1", None)?;
    let Some(created) = ctx.resident.last().cloned() else {
        return fail("makeCredential returned no credential");
    };
    let token = ctx.token(permission::GET_ASSERTION, Some(RP_ID))?;
    let req = GetAssertion {
        rp_id: RP_ID.into(),
        client_data_hash: random32(),
        allow_list: Vec::new(),
        extensions: None,
        up: None,
    };
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

fn check_multiple_accounts(ctx: &mut Ctx) -> Verdict {
    while ctx.resident.len() < 2 {
        let name = format!("fido-check-{}", ctx.resident.len() + 1);
        ctx.make_credential(true, &name, None)?;
    }
    let ours: Vec<Created> = ctx.resident.clone();
    let token = ctx.token(permission::GET_ASSERTION, Some(RP_ID))?;
    let req = GetAssertion {
        rp_id: RP_ID.into(),
        client_data_hash: random32(),
        allow_list: Vec::new(),
        extensions: None,
        up: None,
    };
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
fn hmac_assertion(
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
        .and_then(|e| e.get_text("hmac-secret"))
        .and_then(Value::as_bytes)
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

fn check_hmac_secret(ctx: &mut Ctx) -> Verdict {
    if !ctx.info()?.has_extension("hmac-secret") {
        return fail("getInfo extensions do not list hmac-secret");
    }
    let protocol = ctx.protocol()?;
    let (att, _) = ctx.make_credential(
        false,
        "fido-check-hmac",
        Some(Value::text_map(vec![("hmac-secret", Value::Bool(true))])),
    )?;
    let enabled = att
        .auth_data
        .extensions
        .as_ref()
        .and_then(|e| e.get_text("hmac-secret"))
        .and_then(Value::as_bool);
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

fn check_attestation(ctx: &mut Ctx) -> Verdict {
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
        ctx.opts.now,
    );
    ctx.notes.extend(verdict.notes.iter().cloned());
    let x5c_len = att
        .att_stmt
        .get_text("x5c")
        .and_then(Value::as_array)
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

fn check_pin_change(ctx: &mut Ctx) -> Verdict {
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

fn check_cred_mgmt(ctx: &mut Ctx) -> Verdict {
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
    let meta = ctx.client.cred_mgmt(
        command,
        "credMgmt getCredsMetadata",
        0x01,
        None,
        Some(&token),
    )?;
    let existing = meta.get_int(1).and_then(Value::as_u64);
    let remaining = meta.get_int(2).and_then(Value::as_u64);
    if existing.is_none() || remaining.is_none() {
        return fail(
            "getCredsMetadata lacks existingResidentCredentialsCount or maxPossibleRemainingResidentCredentialsCount",
        );
    }
    let rp_hash = pin_protocol::sha256(RP_ID.as_bytes());
    let first = ctx.client.cred_mgmt(
        command,
        "credMgmt enumerateRPsBegin",
        0x02,
        None,
        Some(&token),
    )?;
    let total_rps = first.get_int(5).and_then(Value::as_u64).unwrap_or(0);
    let mut hashes = vec![
        first
            .get_int(4)
            .and_then(Value::as_bytes)
            .map(<[u8]>::to_vec),
    ];
    for _ in 1..total_rps.min(256) {
        let next =
            ctx.client
                .cred_mgmt(command, "credMgmt enumerateRPsGetNextRP", 0x03, None, None)?;
        hashes.push(
            next.get_int(4)
                .and_then(Value::as_bytes)
                .map(<[u8]>::to_vec),
        );
    }
    if !hashes.iter().flatten().any(|h| h[..] == rp_hash[..]) {
        return fail(format!("enumerateRPs did not list {RP_ID}"));
    }
    let params = Value::int_map(vec![(1, Value::bytes(&rp_hash))]);
    let creds = enumerate_credentials(ctx, command, &params, &token)?;
    for created in &ctx.resident {
        if !creds.iter().any(|c| c == &created.credential_id) {
            return fail("enumerateCredentials did not list a credential fido-check created");
        }
    }
    // Everything under fido-check's own relying party was made by fido-check (now or in an
    // earlier run that could not clean up).
    for id in &creds {
        let p = Value::int_map(vec![(
            2,
            Value::text_map(vec![
                ("id", Value::bytes(id)),
                ("type", Value::text("public-key")),
            ]),
        )]);
        ctx.client.cred_mgmt(
            command,
            "credMgmt deleteCredential",
            0x06,
            Some(p),
            Some(&token),
        )?;
    }
    let deleted = creds.len();
    ctx.resident.clear();
    match enumerate_credentials(ctx, command, &params, &token) {
        Err(Stop::Fail(e)) if e.contains("NO_CREDENTIALS") => {}
        Ok(left) if left.is_empty() => {}
        Ok(left) => {
            return fail(format!(
                "{} credential(s) still listed after deleteCredential",
                left.len()
            ));
        }
        Err(e) => return Err(e),
    }
    Ok(format!(
        "metadata ({} stored, {} more possible), enumerateRPs and enumerateCredentials list \
         fido-check's {deleted} credential(s); all deleted and gone",
        existing.unwrap_or(0),
        remaining.unwrap_or(0)
    ))
}

fn enumerate_credentials(
    ctx: &mut Ctx,
    command: u8,
    params: &Value,
    token: &Token,
) -> Result<Vec<Vec<u8>>, Stop> {
    let first = ctx.client.cred_mgmt(
        command,
        "credMgmt enumerateCredentialsBegin",
        0x04,
        Some(params.clone()),
        Some(token),
    )?;
    let total = first.get_int(9).and_then(Value::as_u64).unwrap_or(0);
    let id = |v: &Value| {
        v.get_int(7)
            .and_then(|d| d.get_text("id"))
            .and_then(Value::as_bytes)
            .map(<[u8]>::to_vec)
    };
    let mut ids: Vec<Vec<u8>> = id(&first).into_iter().collect();
    for _ in 1..total.min(256) {
        let next = ctx.client.cred_mgmt(
            command,
            "credMgmt enumerateCredentialsGetNextCredential",
            0x05,
            None,
            None,
        )?;
        ids.extend(id(&next));
    }
    Ok(ids)
}

fn check_canonical(ctx: &mut Ctx) -> Verdict {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctap_client::{Link, VirtualLink};
    use card_storage::MemoryStorage;
    use fido_applet::platform::Platform;
    use fido_applet::profile::Profile;

    /// A scripted card: answers each command with what `respond` says.
    struct Scripted<F: FnMut(&[u8]) -> Vec<u8>> {
        respond: F,
        atr: Vec<u8>,
    }

    impl<F: FnMut(&[u8]) -> Vec<u8>> Link for Scripted<F> {
        fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, String> {
            Ok((self.respond)(apdu))
        }
        fn atr(&mut self) -> Result<Vec<u8>, String> {
            Ok(self.atr.clone())
        }
        fn power_cycle(&mut self) -> Result<(), String> {
            Err("no power control".into())
        }
    }

    /// The real applet with its answers rewritten by `tamper(command, answer)`.
    struct Tampered<F: FnMut(&[u8], Vec<u8>) -> Vec<u8>> {
        inner: VirtualLink,
        tamper: F,
    }

    impl<F: FnMut(&[u8], Vec<u8>) -> Vec<u8>> Link for Tampered<F> {
        fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, String> {
            let r = self.inner.transmit(apdu)?;
            Ok((self.tamper)(apdu, r))
        }
        fn atr(&mut self) -> Result<Vec<u8>, String> {
            self.inner.atr()
        }
        fn power_cycle(&mut self) -> Result<(), String> {
            self.inner.power_cycle()
        }
    }

    fn virtual_link() -> VirtualLink {
        let profile = Profile::generic();
        VirtualLink {
            atr: profile.atr.clone(),
            card: fido_applet::virtual_card(
                profile,
                Box::new(MemoryStorage::new()),
                Platform::seeded(11),
            )
            .expect("card"),
        }
    }

    fn find<'a>(run: &'a Run, id: &str) -> &'a CheckResult {
        run.results
            .iter()
            .find(|r| r.id == id)
            .unwrap_or_else(|| panic!("no {id}"))
    }

    fn pin_opts() -> Options {
        Options {
            pin: Some("123456".into()),
            ..Options::default()
        }
    }

    #[test]
    fn no_fido_applet_stops_after_select() {
        let mut client = Client::new(Box::new(Scripted {
            respond: |_: &[u8]| vec![0x6A, 0x82],
            atr: vec![0x3B, 0x80, 0x80, 0x01, 0x01],
        }));
        let run = run(&mut client, &pin_opts());
        assert_eq!(run.results.len(), 1);
        assert_eq!(run.results[0].status, Status::Fail);
        assert!(run.results[0].summary.contains("6A82"));
        assert_eq!(
            run.results[0].evidence[0].exchanges[0].command,
            apdu::hex_decode("00A4040008A0000006472F000100").expect("hex")
        );
        assert!(!run.passed());
    }

    /// A card that answers everything at once, whatever Le says (as some cards do).
    struct IgnoresLe(VirtualLink);

    impl Link for IgnoresLe {
        fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, String> {
            match apdu::Command::decode(apdu) {
                Ok(cmd) if !cmd.extended && cmd.le.is_some() && !cmd.is_chained() => {
                    let whole = apdu::Command::new(cmd.cla, cmd.ins, cmd.p1, cmd.p2)
                        .with_data(cmd.data)
                        .with_le(65536)
                        .extended();
                    let bytes = whole.encode().ok_or("cannot re-encode")?;
                    self.0.transmit(&bytes)
                }
                _ => self.0.transmit(apdu),
            }
        }
        fn atr(&mut self) -> Result<Vec<u8>, String> {
            self.0.atr()
        }
        fn power_cycle(&mut self) -> Result<(), String> {
            self.0.power_cycle()
        }
    }

    #[test]
    fn a_card_that_ignores_short_le_cannot_show_get_response() {
        let mut client = Client::new(Box::new(IgnoresLe(virtual_link())));
        let run = run(&mut client, &pin_opts());
        let r = find(&run, "nfc-get-response");
        assert_eq!(r.status, Status::Skip, "{}", r.summary);
        assert!(!r.required, "not applicable: does not count");
        assert!(r.summary.contains("without 61xx"));
    }

    #[test]
    fn broken_chaining_fails_the_chaining_check() {
        let link = Tampered {
            inner: virtual_link(),
            tamper: |c: &[u8], r: Vec<u8>| {
                if c.first() == Some(&0x90) {
                    vec![0x68, 0x84]
                } else {
                    r
                }
            },
        };
        let mut client = Client::new(Box::new(link));
        let run = run(&mut client, &pin_opts());
        let r = find(&run, "nfc-chaining");
        assert_eq!(r.status, Status::Fail);
        assert!(r.summary.contains("6884"), "{}", r.summary);
        assert!(!run.passed());
    }

    #[test]
    fn non_canonical_answers_fail_the_canonical_check() {
        // getPINRetries answers {3: n, …}; encode n in two bytes (18 0n): valid CBOR, not canonical.
        let link = Tampered {
            inner: virtual_link(),
            tamper: |c: &[u8], r: Vec<u8>| match (
                c.get(5),
                c.ends_with(&[0x02, 0x01, 0x00]),
                r.as_slice(),
            ) {
                (Some(0x06), true, [0x00, map @ (0xA1 | 0xA2), 0x03, n, rest @ ..]) if *n < 24 => {
                    let mut out = vec![0x00, *map, 0x03, 0x18, *n];
                    out.extend_from_slice(rest);
                    out
                }
                _ => r,
            },
        };
        let mut client = Client::new(Box::new(link));
        let run = run(&mut client, &pin_opts());
        assert_eq!(
            find(&run, "client-pin").status,
            Status::Pass,
            "decoded fine"
        );
        let r = find(&run, "canonical-cbor");
        assert_eq!(r.status, Status::Fail, "{}", r.summary);
        assert!(r.summary.contains("getPINRetries"), "{}", r.summary);
        assert!(!run.passed());
    }

    #[test]
    fn garbage_from_the_card_never_panics() {
        for seed in 0..40u32 {
            let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
            let mut next = move || {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                state
            };
            let link = Scripted {
                respond: move |c: &[u8]| {
                    // SELECT works so that the run goes on; everything else is noise, sometimes
                    // dressed as a CTAP answer.
                    if c.get(1) == Some(&0xA4) {
                        return b"FIDO_2_0\x90\x00".to_vec();
                    }
                    let len = (next() % 90) as usize;
                    let mut r: Vec<u8> = (0..len).map(|_| next() as u8).collect();
                    match next() % 4 {
                        0 => r.extend_from_slice(&[0x90, 0x00]),
                        1 => r.extend_from_slice(&[0x61, (next() % 5) as u8]),
                        _ => {}
                    }
                    r
                },
                atr: vec![0x3B],
            };
            let mut client = Client::new(Box::new(link));
            let run = run(&mut client, &pin_opts());
            assert!(!run.passed());
            let _ = crate::report::text(&run, "noise");
            let _ = crate::report::json(&run, "noise");
            let _ = crate::report::junit(&run, "noise");
        }
    }

    #[test]
    fn atr_card_capabilities() {
        // Generic profile: 3B 88 80 01 | 80 56 "VFIDO2" | TCK: no card capabilities.
        let generic = Profile::generic().atr;
        assert_eq!(atr_declares_extended(&generic), None);
        // Historical bytes 80 73 00 00 40 (tag 7, 3 bytes, extended Lc/Le bit set).
        let hist = [0x80, 0x73, 0x00, 0x00, 0x40];
        let mut atr = vec![0x3B, 0x80 | hist.len() as u8, 0x80, 0x01];
        atr.extend_from_slice(&hist);
        atr.push(0x00);
        assert_eq!(atr_declares_extended(&atr), Some(true));
        let mut no = atr.clone();
        no[8] = 0x00;
        assert_eq!(atr_declares_extended(&no), Some(false));
        assert_eq!(atr_declares_extended(&[0x3B]), None);
        assert_eq!(atr_declares_extended(&[]), None);
        assert_eq!(atr_declares_extended(&[0x3B, 0xFF, 0xFF]), None);
    }
}
