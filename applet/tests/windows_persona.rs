//! The Windows persona (`fido_host::persona::windows`) against every built-in profile, in
//! process: what Windows 10/11 sends a contactless card — its card detection, its framing
//! (short APDUs, chaining, GET RESPONSE with CLA 80, P1 00) and its Settings and WebAuthn flows —
//! must pass on each model we serve, with only the steps Windows itself would skip skipped.

use std::time::Duration;

use fido_applet::CardBuilder;
use fido_applet::platform::Platform;
use fido_applet::profile::Profile;
use fido_host::Client;
use fido_host::ctap_types::{OptionId, nfc};
use fido_host::persona::windows::{self, Options};
use fido_host::persona::{Step, StepStatus};

/// Every step the persona plays, in order.
const STEPS: &[&str] = &[
    "detect",
    "settings-reset-too-late",
    "settings-reset",
    "settings-set-pin",
    "settings-change-pin",
    "webauthn-register",
    "webauthn-register-second-account",
    "webauthn-pin-protected",
    "webauthn-sign-in-discoverable",
    "webauthn-sign-in-allow-list",
    "settings-list-passkeys",
    "settings-delete-passkeys",
];

fn play(profile: Profile, opts: &Options) -> Vec<Step> {
    let (platform, clock) = Platform::seeded_with_clock(18);
    let card = CardBuilder::new(profile)
        .platform(platform)
        .build()
        .expect("a fresh card");
    let mut client = Client::new(Box::new(card));
    windows::run(&mut client, opts, &mut |d: Duration| {
        clock.advance(u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    })
}

fn describe(steps: &[Step]) -> String {
    steps
        .iter()
        .map(|s| format!("{} {}: {}", s.status.as_str(), s.name, s.summary))
        .collect::<Vec<_>>()
        .join("\n")
}

fn step<'a>(steps: &'a [Step], name: &str) -> &'a Step {
    steps
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no step {name} in\n{}", describe(steps)))
}

/// Checks that the step `name` ended with `status` and, when `says` is given, says it in its
/// summary.
fn ended(steps: &[Step], name: &str, status: StepStatus, says: Option<&str>) {
    let s = step(steps, name);
    assert_eq!(s.status, status, "{name}:\n{}", describe(steps));
    if let Some(text) = says {
        assert!(s.summary.contains(text), "{name}: {}", s.summary);
    }
}

/// The steps a profile may skip, as Windows would: passkey management needs credMgmt or
/// credentialMgmtPreview in getInfo.
fn may_skip(profile: &Profile, name: &str) -> bool {
    let manages = [OptionId::CredMgmt, OptionId::CredentialMgmtPreview]
        .iter()
        .any(|o| {
            profile
                .declared_options(false, false)
                .iter()
                .any(|(id, v)| id == o && *v)
        });
    name.starts_with("settings-") && name.ends_with("-passkeys") && !manages
}

#[test]
fn every_builtin_profile_passes_the_windows_persona() {
    let opts = Options {
        allow_reset: true,
        ..Options::default()
    };
    for profile in Profile::all() {
        let id = profile.id.clone();
        let steps = play(profile.clone(), &opts);
        let names: Vec<&str> = steps.iter().map(|s| s.name).collect();
        assert_eq!(names, STEPS, "{id}:\n{}", describe(&steps));
        for s in &steps {
            let ok = s.status == StepStatus::Pass
                || (s.status == StepStatus::Skip && may_skip(&profile, s.name));
            assert!(
                ok,
                "{id}: {} {}\n{}",
                s.status.as_str(),
                s.name,
                describe(&steps)
            );
            assert!(
                s.status == StepStatus::Skip || !s.evidence.is_empty(),
                "{id}: {} has no evidence",
                s.name
            );
        }
        let late = step(&steps, "settings-reset-too-late");
        assert!(
            late.summary.contains("CTAP2_ERR_NOT_ALLOWED") && late.summary.contains("10 seconds"),
            "{id}: the too-late reset names the error and the user-facing message: {}",
            late.summary
        );
        assert_windows_framing(&id, &steps);
    }
}

/// Windows' wire habits, on every APDU of the run: short APDUs only, NFCCTAP_MSG with P1 00,
/// GET RESPONSE with CLA 80.
fn assert_windows_framing(id: &str, steps: &[Step]) {
    let mut saw_get_response = false;
    let mut saw_chaining = false;
    for ex in steps
        .iter()
        .flat_map(|s| &s.evidence)
        .flat_map(|op| &op.exchanges)
    {
        let c = &ex.command;
        assert!(c.len() >= 4, "{id}: short command {c:02X?}");
        if c.len() > 5 {
            // ISO 7816-4 §5.1: an extended Lc starts with 00; a short one is 1..=255.
            assert_ne!(c[4], 0, "{id}: extended APDU {c:02X?}");
            assert!(c.len() <= 5 + 255 + 1, "{id}: {} bytes", c.len());
        }
        if c[1] == 0xC0 {
            saw_get_response = true;
            assert_eq!(c[0], nfc::CLA, "{id}: GET RESPONSE with CLA {:02X}", c[0]);
        }
        if c[1] == nfc::ins::NFCCTAP_MSG {
            assert_eq!(c[2], 0x00, "{id}: NFCCTAP_MSG with P1 {:02X}", c[2]);
            saw_chaining |= c[0] == nfc::CLA | 0x10;
        }
    }
    assert!(saw_get_response, "{id}: no answer needed GET RESPONSE");
    assert!(saw_chaining, "{id}: no command needed chaining");
    let detection_sent = |command: &[u8]| {
        steps[0]
            .evidence
            .iter()
            .flat_map(|op| &op.exchanges)
            .any(|ex| ex.command == command)
    };
    assert!(
        detection_sent(&nfc::SELECT_FIDO),
        "{id}: detection SELECTs the FIDO AID"
    );
    assert!(
        detection_sent(&[0x00, 0xCA, 0x7F, 0x68, 0x00]),
        "{id}: detection includes the plug-and-play probes"
    );
}

#[test]
fn without_reset_a_card_with_a_pin_is_used_with_that_pin() {
    let opts = Options {
        allow_reset: false,
        ..Options::default()
    };
    // First run sets the PIN (no reset allowed: both reset steps are skipped).
    let steps = play(Profile::generic(), &opts);
    ended(&steps, "settings-reset", StepStatus::Skip, None);
    ended(&steps, "settings-set-pin", StepStatus::Pass, None);
    ended(
        &steps,
        "webauthn-sign-in-discoverable",
        StepStatus::Pass,
        None,
    );
}

#[test]
fn a_wrong_pin_fails_the_flows_without_using_up_the_retries() {
    let (platform, clock) = Platform::seeded_with_clock(3);
    let card = CardBuilder::new(Profile::generic())
        .platform(platform)
        .build()
        .expect("card");
    let mut client = Client::new(Box::new(card));
    let mut wait = |d: Duration| clock.advance(u64::try_from(d.as_millis()).unwrap_or(0));
    let steps = windows::run(&mut client, &Options::default(), &mut wait);
    ended(&steps, "settings-set-pin", StepStatus::Pass, None);
    let wrong = Options {
        pin: "9999".into(),
        ..Options::default()
    };
    let steps = windows::run(&mut client, &wrong, &mut wait);
    let wrong_pin = Some("The PIN is incorrect");
    ended(&steps, "settings-change-pin", StepStatus::Fail, wrong_pin);
    // One wrong attempt only: later steps skip rather than try the PIN again.
    let pin_attempts = steps
        .iter()
        .flat_map(|s| &s.evidence)
        .filter(|op| op.label.starts_with("clientPIN changePIN") || op.label.contains("Token"))
        .count();
    assert_eq!(pin_attempts, 1, "{}", describe(&steps));
    let refused = Some("refused the PIN");
    ended(&steps, "webauthn-register", StepStatus::Skip, refused);
}
