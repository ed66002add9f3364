//! fido-check's checks and apdu-replay against the real applet, in process (no PC/SC): checks
//! pass where the card implements a feature, fail (with evidence) where it is broken or refused,
//! and a replayed trace reproduces the recording or names the first difference.

use std::cell::RefCell;
use std::rc::Rc;

use card_storage::MemoryStorage;
use fido_applet::CardBuilder;
use fido_applet::platform::{ManualClock, Platform, PresencePolicy};
use fido_applet::profile::Profile;
use fido_host::ctap2::MakeCredential;
use fido_host::{Client, Transport, TransportError, VirtualCard};
use vcard_tools::attestation;
use vcard_tools::checks::{self, CheckResult, Options, Run, Status};
use vcard_tools::replay;
use vcard_tools::report;

fn card(profile: &Profile, storage: MemoryStorage, platform: Platform) -> VirtualCard {
    let card = CardBuilder::new(profile.clone())
        .storage(storage)
        .platform(platform)
        .build()
        .expect("virtual card");
    VirtualCard {
        card,
        atr: profile.atr.clone(),
    }
}

fn client(profile: &Profile, presence: PresencePolicy) -> Client {
    Client::new(Box::new(card(
        profile,
        MemoryStorage::new(),
        Platform::seeded(1).with_presence(presence),
    )))
}

fn result<'a>(run: &'a Run, id: &str) -> &'a CheckResult {
    run.results
        .iter()
        .find(|r| r.id == id)
        .unwrap_or_else(|| panic!("no check {id}"))
}

fn options(pin: Option<&str>, reset: bool) -> Options {
    Options {
        pin: pin.map(str::to_owned),
        allow_reset: reset,
        ..Options::default()
    }
}

fn run_on(c: &mut Client, opts: &Options) -> Run {
    let run = checks::run(c, opts);
    eprintln!("{}", report::text(&run, "in-process"));
    run
}

fn assert_all<'a>(run: &Run, ids: impl IntoIterator<Item = &'a str>, status: Status) {
    for id in ids {
        assert_status(run, id, status);
    }
}

/// Check `id` failed, and its summary says `what`.
fn assert_fails_with(run: &Run, id: &str, what: &str) {
    assert_status(run, id, Status::Fail);
    let summary = &result(run, id).summary;
    assert!(summary.contains(what), "{id}: {summary}");
}

fn assert_status(run: &Run, id: &str, status: Status) {
    let r = result(run, id);
    assert_eq!(r.status, status, "{id}: {} / {:?}", r.summary, r.notes);
}

/// The checks the virtual card implements: all of fido-check's but credential management, which
/// the tests judge on its own (passed, or reported as missing, never faked).
fn implemented() -> impl Iterator<Item = &'static str> {
    checks::check_ids().filter(|&id| id != "credential-management")
}

#[test]
fn generic_card_passes_what_it_implements() {
    let mut c = client(&Profile::generic(), PresencePolicy::Auto);
    let run = run_on(&mut c, &options(Some("123456"), true));
    assert_all(&run, implemented(), Status::Pass);
    let cm = result(&run, "credential-management");
    if cm.status == Status::Pass {
        assert!(run.leftovers.is_empty(), "deleted through credMgmt");
        assert!(run.passed());
    } else {
        // The card does not have credential management yet: that is reported, not faked.
        assert_eq!(cm.status, Status::Skip);
        assert!(!cm.required);
        assert!(run.leftovers[0].contains("2 discoverable credential(s)"));
        assert!(run.passed());
    }
    // Evidence: each check carries the APDUs that decided it.
    let rk = result(&run, "resident-keys");
    assert!(
        rk.evidence
            .iter()
            .any(|op| op.label == "makeCredential (rk)")
    );
    assert!(
        rk.evidence
            .iter()
            .flat_map(|op| &op.exchanges)
            .any(|e| e.command.starts_with(&[0x80, 0x10]))
    );
}

#[test]
fn a_second_run_on_the_same_card_needs_and_uses_the_pin() {
    let storage = MemoryStorage::new();
    let profile = Profile::generic();
    let mut first = Client::new(Box::new(card(
        &profile,
        storage.clone(),
        Platform::seeded(3),
    )));
    assert!(run_on(&mut first, &options(Some("4321"), false)).passed());
    drop(first);

    // Without --pin, the PIN-dependent checks are skipped (and the run does not pass).
    let mut c = Client::new(Box::new(card(
        &profile,
        storage.clone(),
        Platform::seeded(4),
    )));
    let run = run_on(&mut c, &options(None, false));
    assert_all(
        &run,
        [
            "client-pin",
            "user-verification",
            "pin-change",
            "resident-keys",
        ],
        Status::Skip,
    );
    assert!(!run.passed());

    // A wrong --pin fails client-pin once and is not tried again (no retries burnt).
    let mut c = Client::new(Box::new(card(
        &profile,
        storage.clone(),
        Platform::seeded(5),
    )));
    let run = run_on(&mut c, &options(Some("9999"), false));
    assert_fails_with(&run, "client-pin", "not this card's PIN");
    let pin_attempts = c
        .log()
        .iter()
        .filter(|op| op.label.starts_with("clientPIN getPin"))
        .count();
    assert_eq!(pin_attempts, 1, "one wrong PIN attempt only");
    assert!(!run.passed());

    // The right PIN passes again, and the PIN was restored by pin-change.
    let mut c = Client::new(Box::new(card(&profile, storage, Platform::seeded(6))));
    let run = run_on(&mut c, &options(Some("4321"), false));
    assert_all(
        &run,
        [
            "client-pin",
            "user-verification",
            "pin-change",
            "hmac-secret",
        ],
        Status::Pass,
    );
}

#[test]
fn presence_denied_fails_the_presence_checks() {
    let mut c = client(&Profile::generic(), PresencePolicy::Deny);
    let run = run_on(&mut c, &options(Some("123456"), false));
    for id in [
        "user-verification",
        "resident-keys",
        "multiple-accounts",
        "hmac-secret",
        "attestation",
    ] {
        assert_fails_with(&run, id, "OPERATION_DENIED");
    }
    // Presence plays no part in selecting, getInfo, transport and PIN.
    assert_all(
        &run,
        ["select", "versions", "nfc-chaining", "client-pin"],
        Status::Pass,
    );
    assert!(!run.passed());
    assert!(report::text(&run, "r").contains("NOT Microsoft-compatible"));
}

#[test]
fn profile_without_hmac_secret_fails_only_hmac_secret() {
    let mut profile = Profile::generic();
    profile.extensions.retain(|e| *e != "hmac-secret");
    let mut c = client(&profile, PresencePolicy::Auto);
    let run = run_on(&mut c, &options(Some("123456"), false));
    assert_fails_with(&run, "hmac-secret", "do not list hmac-secret");
    assert_all(
        &run,
        [
            "resident-keys",
            "multiple-accounts",
            "attestation",
            "user-verification",
        ],
        Status::Pass,
    );
    assert!(!run.passed());
}

#[test]
fn attestation_verifies_to_the_cards_root_and_not_to_another() {
    let profile = Profile::generic();
    let storage = MemoryStorage::new();
    let root_pem = CardBuilder::new(profile.clone())
        .storage(storage.clone())
        .platform(Platform::seeded(9))
        .applet()
        .expect("applet")
        .attestation_root_pem();
    let other_pem = CardBuilder::new(profile.clone())
        .platform(Platform::seeded(10))
        .applet()
        .expect("applet")
        .attestation_root_pem();
    let root = attestation::parse_pem_certificate(&root_pem).expect("root");
    let other = attestation::parse_pem_certificate(&other_pem).expect("other root");

    // The attestation check of a run on this card, verifying the chain to `trust_root`.
    let attestation_to = |trust_root| {
        let mut c = Client::new(Box::new(card(
            &profile,
            storage.clone(),
            Platform::seeded(9),
        )));
        let opts = Options {
            trust_root: Some(trust_root),
            ..options(None, false)
        };
        result(&run_on(&mut c, &opts), "attestation").clone()
    };
    let r = attestation_to(root);
    assert_eq!(r.status, Status::Pass, "{} / {:?}", r.summary, r.notes);
    assert!(r.notes.iter().any(|n| n.contains("the chain is complete")));
    let r = attestation_to(other);
    assert_eq!(r.status, Status::Fail, "{} / {:?}", r.summary, r.notes);
    assert!(r.summary.contains("does not verify"));
}

#[test]
fn tampered_attestation_is_caught() {
    let profile = Profile::generic();
    let mut c = client(&profile, PresencePolicy::Auto);
    c.select().expect("select");
    let info = c.get_info().expect("info");
    let req = MakeCredential {
        client_data_hash: [7; 32],
        rp_id: "example.com".into(),
        user_id: vec![1, 2, 3],
        user_name: "u".into(),
        rk: false,
        extensions: None,
        exclude_list: Vec::new(),
        algorithms: Vec::new(),
    };
    let att = c.make_credential(&req, None).expect("makeCredential");
    let aaguid = info.aaguid.expect("aaguid");
    // The problems verify_packed finds in this attestation when told `fmt`, `client_data_hash`,
    // getInfo's `aaguid` and `now`.
    let problems = |fmt: &str, client_data_hash: &[u8; 32], aaguid: &[u8; 16], now| {
        attestation::verify_packed(
            fmt,
            &att.att_stmt,
            &att.auth_data_raw,
            client_data_hash,
            aaguid,
            None,
            now,
        )
        .problems
    };
    let found = |problems: Vec<String>, what: &str| problems.iter().any(|p| p.contains(what));
    let now = std::time::SystemTime::now();
    let ok = problems(&att.fmt, &[7; 32], &aaguid, now);
    assert!(ok.is_empty(), "{ok:?}");
    // Another clientDataHash: the signature no longer verifies.
    assert!(found(
        problems(&att.fmt, &[8; 32], &aaguid, now),
        "does not verify"
    ));
    // getInfo's AAGUID differs from the certificate's.
    assert!(found(
        problems(&att.fmt, &[7; 32], &[0xEE; 16], now),
        "differs from getInfo"
    ));
    // Not yet valid in 1990.
    let then = std::time::UNIX_EPOCH + std::time::Duration::from_secs(631_152_000);
    assert!(found(
        problems(&att.fmt, &[7; 32], &aaguid, then),
        "not valid now"
    ));
    // Another format.
    assert!(!problems("none", &[7; 32], &aaguid, now).is_empty());
}

/// A link that writes the bridge's JSON Lines trace while a client drives an in-process card.
struct Recorder {
    inner: VirtualCard,
    clock: ManualClock,
    lines: Rc<RefCell<Vec<String>>>,
}

impl Recorder {
    fn event(&self, name: &str) {
        self.lines.borrow_mut().push(format!(
            r#"{{"t_ms": {}, "slot": 0, "event": "{name}"}}"#,
            self.clock_ms()
        ));
    }
    fn clock_ms(&self) -> u64 {
        use fido_applet::platform::Clock;
        self.clock.now_ms()
    }
}

impl Transport for Recorder {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        self.clock.advance(3);
        let r = self.inner.transmit(apdu)?;
        self.lines.borrow_mut().push(format!(
            r#"{{"t_ms": {}, "slot": 0, "event": "apdu", "c": "{}", "r": "{}"}}"#,
            self.clock_ms(),
            apdu::hex_encode(apdu),
            apdu::hex_encode(&r)
        ));
        Ok(r)
    }
    fn atr(&mut self) -> Result<Vec<u8>, TransportError> {
        self.inner.atr()
    }
    fn power_cycle(&mut self) -> Result<(), TransportError> {
        self.inner.card.power_off();
        self.event("power_off");
        // The card stays out of the field for 11 s; the reset window starts at the power-up.
        self.clock.advance(11_000);
        self.inner.card.power_on();
        self.event("power_on");
        Ok(())
    }
}

fn replay_trace(text: &str, seed: u64) -> replay::ReplayReport {
    let entries = replay::parse_trace(text).expect("trace parses");
    replay::replay(&entries, || {
        let (platform, clock) = Platform::seeded_with_clock(seed);
        let card = CardBuilder::new(Profile::generic())
            .platform(platform)
            .unpowered()
            .build()
            .map_err(|e| e.to_string())?;
        let advance: replay::AdvanceClock = Box::new(move |ms| clock.advance(ms));
        Ok((card, advance))
    })
    .expect("replay")
}

/// Records a full fido-check session (with reset) from a seeded card; returns the trace text.
fn recorded_session(seed: u64) -> String {
    let (platform, clock) = Platform::seeded_with_clock(seed);
    let lines = Rc::new(RefCell::new(Vec::new()));
    // As the bridge: the card is built unpowered and the reader powers it up.
    let mut inner = VirtualCard {
        card: CardBuilder::new(Profile::generic())
            .platform(platform)
            .unpowered()
            .build()
            .expect("card"),
        atr: Profile::generic().atr,
    };
    inner.card.power_on();
    let recorder = Recorder {
        inner,
        clock: clock.clone(),
        lines: Rc::clone(&lines),
    };
    recorder.event("power_on");
    let mut c = Client::new(Box::new(recorder));
    let run = checks::run(&mut c, &options(Some("123456"), true));
    assert!(run.passed());
    // Wait 11 s after power-up, then reset: refused (CTAP2_ERR_NOT_ALLOWED), which only
    // replays the same if the replay's clock follows the trace's times.
    clock.advance(11_000);
    c.select().expect("select");
    let reply = c.ctap_raw("late reset", &[0x07]).expect("reset");
    assert_eq!(
        reply.status, 0x30,
        "reset more than 10 s after power-up is refused"
    );
    drop(c);
    lines.borrow().join("\n")
}

#[test]
fn replay_reproduces_a_recorded_session() {
    let text = recorded_session(42);
    let report = replay_trace(&text, 42);
    assert!(
        report.identical(),
        "{}",
        replay::describe_differences(&report, 3)
    );
    assert!(report.exchanges > 100, "{}", report.summary());
    assert_eq!(
        report.summary(),
        format!("{} exchanges, all identical", report.exchanges)
    );
}

#[test]
fn replay_reports_edits_wrong_seeds_and_ignored_time() {
    let text = recorded_session(42);

    // Another seed: the first random-dependent answer differs.
    let other = replay_trace(&text, 43);
    assert!(!other.identical());

    // An edited response: reported at its line, both sides decoded.
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let target = lines
        .iter()
        .position(|l| l.contains(r#""c": "80100000010400""#))
        .expect("a getInfo in the trace");
    lines[target] = lines[target].replace(r#""r": "00"#, r#""r": "27"#);
    let edited = replay_trace(&lines.join("\n"), 42);
    assert_eq!(edited.differences.len(), 1, "{}", edited.summary());
    assert_eq!(edited.differences[0].line, target + 1);
    let described = replay::describe_differences(&edited, 3);
    assert!(
        described.contains("NFCCTAP_MSG getInfo (0x04)"),
        "{described}"
    );
    assert!(
        described.contains("CTAP2_ERR_OPERATION_DENIED"),
        "{described}"
    );
    assert!(described.contains("CTAP CTAP2_OK (0x00)"), "{described}");

    // Times squeezed together: the late reset now falls inside the 10 s window and succeeds.
    let squeezed: String = text
        .lines()
        .map(|l| {
            let start = l.find(r#""t_ms": "#).map(|i| i + 8).unwrap_or(0);
            let end = l[start..].find(',').map(|i| start + i).unwrap_or(start);
            format!("{}0{}", &l[..start], &l[end..])
        })
        .collect::<Vec<_>>()
        .join("\n");
    let report = replay_trace(&squeezed, 42);
    assert!(
        !report.identical(),
        "the reset window depends on the trace's times"
    );
    let last = report.differences.last().expect("a difference");
    assert_eq!(last.command, vec![0x80, 0x10, 0x00, 0x00, 0x01, 0x07, 0x00]);
}

/// fido-host's U2F side against the card: REGISTER and AUTHENTICATE build the raw messages,
/// and both answers' signatures verify (U2F Raw Message Formats §4.3, §5.4).
#[test]
fn u2f_register_and_authenticate_verify() {
    use fido_host::ctap_types::u2f::{CHECK_ONLY, ENFORCE_USER_PRESENCE};
    use fido_host::u2f::{self, Authentication, Registration};
    let profile = Profile::generic();
    let mut client = client(&profile, PresencePolicy::Auto);
    assert_eq!(client.select().expect("SELECT").1, 0x9000);
    let (challenge, application) = ([0x11; 32], [0x22; 32]);
    let (data, sw) = client
        .apdu(
            "U2F_REGISTER",
            &u2f::register_apdu(&challenge, &application),
        )
        .expect("REGISTER");
    assert_eq!(sw, 0x9000);
    let reg = Registration::parse(&data).expect("a REGISTER answer");
    assert!(reg.verifies(&challenge, &application));
    assert!(
        !reg.verifies(&[0x12; 32], &application),
        "the challenge is signed"
    );

    let apdu = u2f::authenticate_apdu(
        ENFORCE_USER_PRESENCE,
        &challenge,
        &application,
        &reg.key_handle,
    );
    let (data, sw) = client
        .apdu("U2F_AUTHENTICATE", &apdu)
        .expect("AUTHENTICATE");
    assert_eq!(sw, 0x9000);
    let auth = Authentication::parse(&data).expect("an AUTHENTICATE answer");
    assert_eq!(auth.flags & 0x01, 0x01, "user present");
    assert!(auth.verifies(&reg.public_key, &challenge, &application));
    assert!(!auth.verifies(&reg.public_key, &challenge, &[0x23; 32]));

    // check-only answers 6985 for the card's own key handle (§5.1).
    let apdu = u2f::authenticate_apdu(CHECK_ONLY, &challenge, &application, &reg.key_handle);
    assert_eq!(
        client
            .apdu("U2F check-only", &apdu)
            .expect("AUTHENTICATE")
            .1,
        0x6985
    );
}

/// Every built-in profile's getInfo reads strictly into the typed `AuthenticatorInfo`
/// (CTAP 2.1 §6.4: members of their types, versions and aaguid present) and names the
/// profile's AAGUID and versions.
#[test]
fn every_profile_answers_a_well_typed_get_info() {
    for profile in Profile::all() {
        let mut client = client(&profile, PresencePolicy::Auto);
        assert_eq!(client.select().expect("SELECT").1, 0x9000, "{}", profile.id);
        let info = client.authenticator_info().expect("a well-typed getInfo");
        assert_eq!(&info.aaguid, profile.aaguid.as_bytes(), "{}", profile.id);
        assert!(
            info.versions
                .iter()
                .all(|v| profile.versions.iter().any(|p| *p == v.as_str())),
            "{}: {:?}",
            profile.id,
            info.versions
        );
        assert_eq!(
            fido_host::ctap_types::AuthenticatorInfo::from_cbor(&info.to_cbor()),
            Ok(info),
            "{}: the typed getInfo round-trips",
            profile.id
        );
    }
}
