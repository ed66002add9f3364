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

use fido_host::attestation::{self, AuthData};
use fido_host::client::sw_name;
use fido_host::client_pin::Token;
use fido_host::ctap_types::cbor::{self, Value};
use fido_host::ctap_types::error::status_name;
use fido_host::ctap_types::params::get_info;
use fido_host::ctap_types::{CtapError, ExtensionId, OptionId, Version, command, permission};
use fido_host::ctap2::Assertion;
use fido_host::ctap2::{Attestation, GetAssertion, Info, MakeCredential};
use fido_host::nfc::{Framing, Length};
use fido_host::pin_protocol::{self, Protocol};
use fido_host::{Client, ClientError, Op};

mod credentials;
pub mod host;
mod pin;
#[cfg(test)]
mod tests;
mod transport;

use credentials::*;
use pin::*;
pub use transport::atr_declares_extended;
use transport::*;

/// The relying party fido-check registers its credentials with. `.invalid` (RFC 2606) can never
/// be a real relying party, so nothing a user owns lives there.
pub const RP_ID: &str = "fido-check.invalid";
/// A relying party that never has credentials (for requests that must find none).
pub const EMPTY_RP_ID: &str = "fido-check-empty.invalid";

/// A check's verdict (PASS, FAIL, SKIP): the same as a host persona's step, so the persona's
/// steps report as checks unchanged (`--host`, [`host`]).
pub use fido_host::persona::StepStatus as Status;

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
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub pin: Option<String>,
    pub allow_reset: bool,
    pub trust_root: Option<Certificate>,
    /// The time certificates must be valid at; `None`: the clock's when they are checked.
    pub now: Option<SystemTime>,
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
            .and_then(|i| i.option(OptionId::ClientPin.as_str()))
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
        let with_permissions = self.info()?.option(OptionId::PinUvAuthToken.as_str()) == Some(true);
        let permissions = with_permissions.then_some((perms, rp));
        match self.client.get_token(protocol, &pin, permissions) {
            Ok(t) => Ok(Some(t)),
            Err(ClientError::Ctap(c)) if c == CtapError::PinInvalid.code() => {
                self.pin_usable = false;
                fail("the card refused the PIN (CTAP2_ERR_PIN_INVALID); no further PIN attempts")
            }
            Err(e) => Err(e.into()),
        }
    }

    /// A getAssertion of the credential `id` on [`RP_ID`] (with a pinUvAuthToken when the card
    /// has a PIN); the request comes back too, for its clientDataHash.
    fn get_assertion_of(&mut self, id: Vec<u8>) -> Result<(GetAssertion, Assertion), Stop> {
        let token = self.token(permission::GET_ASSERTION, Some(RP_ID))?;
        let req = GetAssertion {
            rp_id: RP_ID.into(),
            client_data_hash: random32(),
            allow_list: vec![id],
            extensions: None,
            up: None,
        };
        let assertion = self.client.get_assertion(&req, token.as_ref())?;
        Ok((req, assertion))
    }

    fn make_credential(
        &mut self,
        rk: bool,
        user: &str,
        extensions: Option<Value>,
    ) -> Result<(Attestation, [u8; 32]), Stop> {
        self.make_credential_for(rk, user, extensions, Vec::new())
    }

    /// As [`Ctx::make_credential`], asking for `algorithms` (COSE, preferred first; empty:
    /// ES256).
    fn make_credential_for(
        &mut self,
        rk: bool,
        user: &str,
        extensions: Option<Value>,
        algorithms: Vec<i64>,
    ) -> Result<(Attestation, [u8; 32]), Stop> {
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
            algorithms,
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

/// One check: what it is called in the report, where its requirement comes from, and the code
/// that decides it.
struct Check {
    id: &'static str,
    title: &'static str,
    source: &'static str,
    required: bool,
    run: fn(&mut Ctx) -> Verdict,
}

/// Every check, in the order [`run`] runs them: later checks use what earlier ones learned
/// (getInfo, the PIN, the credentials made), and `canonical-cbor` judges every answer before it.
const CHECKS: &[Check] = &[
    Check {
        id: "select",
        title: "FIDO applet selectable",
        source: "001 (FIDO2 certified authenticator); CTAP 2.1 §11.3.1",
        required: true,
        run: check_select,
    },
    Check {
        id: "versions",
        title: "FIDO_2_0 or FIDO_2_1 in getInfo versions",
        source: "001 (FIDO 2.0 or FIDO 2.1; no U2F-only); CTAP 2.1 §6.4",
        required: true,
        run: check_versions,
    },
    Check {
        id: "aaguid",
        title: "AAGUID present in getInfo",
        source: "004 (key restrictions by AAGUID); 001 (partner list by AAGUID); CTAP 2.1 §6.4",
        required: true,
        run: check_aaguid,
    },
    Check {
        id: "nfc-chaining",
        title: "Command chaining with short APDUs",
        source: "CTAP 2.1 §11.3.4 (fragmentation); ISO 7816-4 §5.3.3",
        required: true,
        run: check_chaining,
    },
    Check {
        id: "nfc-get-response",
        title: "GET RESPONSE with CLA 00 and 80 on 61xx",
        source: "CTAP 2.1 §11.3.4; Windows webauthn.dll sends CLA 80, python-fido2 and libfido2 CLA 00",
        required: true,
        run: check_get_response,
    },
    Check {
        id: "nfc-extended-length",
        title: "Extended-length APDUs where declared",
        source: "CTAP 2.1 §11.3.4; ISO 7816-4 §8.1.1.2.7 (card capabilities)",
        required: true,
        run: check_extended,
    },
    Check {
        id: "reset",
        title: "authenticatorReset within 10 s of power-up",
        source: "000, 002, 003 (reset from Windows Settings); CTAP 2.1 §6.6",
        required: false,
        run: check_reset,
    },
    Check {
        id: "client-pin",
        title: "clientPIN: set or verify the PIN",
        source: "000 #2 (client PIN); 001 (ClientPIN); 002 (PIN creation); CTAP 2.1 §6.5",
        required: true,
        run: check_client_pin,
    },
    Check {
        id: "user-verification",
        title: "User verification: PIN token gives UV=1",
        source: "001 (user verification for all sign-ins); CTAP 2.1 §6.1.2, §6.2.2, §6.5.5.7",
        required: true,
        run: check_user_verification,
    },
    Check {
        id: "resident-keys",
        title: "Resident (discoverable) credentials",
        source: "000 #1 (resident key); 001 (resident keys); CTAP 2.1 §6.1, §6.2",
        required: true,
        run: check_resident_keys,
    },
    Check {
        id: "multiple-accounts",
        title: "Several accounts per relying party",
        source: "000 #4 (multiple accounts per RP); CTAP 2.1 §6.2.2, §6.3",
        required: true,
        run: check_multiple_accounts,
    },
    Check {
        id: "hmac-secret",
        title: "hmac-secret: two salts, stable, UV/non-UV split",
        source: "000 #3 and 003 (offline Windows unlock); 001 (HMAC secret); CTAP 2.1 §12.5",
        required: true,
        run: check_hmac_secret,
    },
    Check {
        id: "attestation",
        title: "Packed attestation with a valid certificate chain",
        source: "001 (attestation requirements); 004 (enforce attestation, AAGUID); WebAuthn §8.2, §8.2.1",
        required: true,
        run: check_attestation,
    },
    Check {
        id: "eddsa",
        title: "EdDSA (Ed25519) credentials where getInfo lists them",
        source: "CTAP 2.1 §6.1.2 step 3, §6.4 algorithms; WebAuthn §5.8.5 (COSE -8); RFC 9053 §7.2 (OKP)",
        required: false,
        run: check_eddsa,
    },
    Check {
        id: "pin-change",
        title: "PIN change (to a temporary PIN and back)",
        source: "002, 003 (change PIN from Windows Settings); CTAP 2.1 §6.5.5.6",
        required: true,
        run: check_pin_change,
    },
    Check {
        id: "credential-management",
        title: "Credential management: enumerate and delete",
        source: "CTAP 2.1 §6.8 (Windows Settings manages credentials with it)",
        required: false,
        run: check_cred_mgmt,
    },
    Check {
        id: "canonical-cbor",
        title: "Answers in CTAP2 canonical CBOR",
        source: "CTAP 2.1 §8 (python-fido2 and Windows reject other encodings)",
        required: true,
        run: check_canonical,
    },
];

/// The ids of every check fido-check runs, in order (the report's `checks[].id`).
pub fn check_ids() -> impl Iterator<Item = &'static str> {
    CHECKS.iter().map(|c| c.id)
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
    let mut step = |ctx: &mut Ctx, check: &Check| {
        let mark = ctx.client.mark();
        ctx.notes.clear();
        let verdict = (check.run)(ctx);
        let (status, summary, required) = match verdict {
            Ok(s) => (Status::Pass, s, check.required),
            Err(Stop::Fail(s)) => (Status::Fail, s, check.required),
            Err(Stop::Skip(s)) => (Status::Skip, s, check.required),
            Err(Stop::NotApplicable(s)) => (Status::Skip, s, false),
        };
        results.push(CheckResult {
            id: check.id,
            title: check.title,
            source: check.source,
            required,
            status,
            summary,
            notes: std::mem::take(&mut ctx.notes),
            evidence: ctx.client.ops_since(mark),
        });
        status
    };

    for check in CHECKS {
        let status = step(&mut ctx, check);
        // Nothing else can be asked of a card whose FIDO applet cannot be selected.
        if check.id == "select" && status != Status::Pass {
            break;
        }
    }
    if !ctx.resident.is_empty() {
        ctx.leftovers.push(format!(
            "{} discoverable credential(s) created by fido-check remain on the card under \
             relying party {RP_ID} (user names fido-check-*): they could not be deleted",
            ctx.resident.len()
        ));
    }

    let aaguid = ctx
        .info
        .as_ref()
        .and_then(|i| i.aaguid)
        .map(|a| fido_host::format_aaguid(&a));
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
