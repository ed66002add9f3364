//! `fido-check` (crate `vcard-tools`) against the virtual card through the real stack: pcscd +
//! vpcd + `reader-bridge`, reached through PC/SC like any host. The checks the card implements
//! pass; features the card does not have yet are reported as such (never faked); with
//! `--presence deny` the presence-dependent checks fail and the exit status is non-zero.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use vcard_tools::checks;

use integration_tests::{
    BridgeProcess, Slot, context, export_attestation, run_workspace_tool, skip_e2e, stack_bridge,
    stack_slot,
};

const TOOL_TIMEOUT: Duration = Duration::from_secs(120);

fn fido_check(args: &[&str]) -> Output {
    run_workspace_tool("fido-check", args, TOOL_TIMEOUT)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A fresh card state with its attestation root exported (`reader-bridge export-attestation`).
fn fresh_state_with_root() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let state = dir.path().join("state.bin");
    let pem = export_attestation(&state, &[]);
    let root = dir.path().join("root.pem");
    std::fs::write(&root, pem).expect("write root.pem");
    (dir, state, root)
}

fn load_json(path: &Path) -> serde_json::Value {
    let body = std::fs::read_to_string(path).expect("report written");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("report is not JSON ({e}):\n{body}"))
}

/// Runs fido-check against `bridge`'s card in `slot` with `args`, a JSON report written beside
/// the bridge's state; returns the process output and the report.
fn fido_check_json(
    bridge: &BridgeProcess,
    slot: &Slot,
    args: &[&str],
) -> (Output, serde_json::Value) {
    let reader = slot.reader_name();
    let report_path = bridge.dir.path().join("report.json");
    let mut all = vec!["--reader", &reader];
    all.extend_from_slice(args);
    all.extend_from_slice(&[
        "--format",
        "json",
        "--output",
        report_path.to_str().expect("utf-8"),
    ]);
    let out = fido_check(&all);
    let report = load_json(&report_path);
    (out, report)
}

/// Whether the report's string `v` contains `what`.
fn says(v: &serde_json::Value, what: &str) -> bool {
    v.as_str().is_some_and(|s| s.contains(what))
}

fn check<'a>(report: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    report["checks"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["id"] == id))
        .unwrap_or_else(|| panic!("no check {id} in {report}"))
}

/// The checks the virtual card implements: all of fido-check's but credential management, which
/// the tests judge on its own (passed, or reported as missing, never faked).
fn implemented() -> impl Iterator<Item = &'static str> {
    checks::check_ids().filter(|&id| id != "credential-management")
}

#[test]
fn fido_check_passes_against_the_virtual_card() {
    let Some((ctx, slot)) = stack_slot() else {
        return;
    };
    let (dir, state, root) = fresh_state_with_root();
    let bridge = BridgeProcess::spawn_with_state(&slot.vpcd(), dir, state, &[]);
    bridge.wait_card(&ctx, &slot.reader);
    // A fresh card: reset (Windows-style, right after power-up), set the PIN, run everything,
    // verify the attestation chain to the card's exported root.
    let (out, report) = fido_check_json(
        &bridge,
        &slot,
        &[
            "--pin",
            "246810",
            "--allow-reset",
            "--trust-root",
            root.to_str().expect("utf-8"),
        ],
    );
    for id in implemented() {
        let c = check(&report, id);
        assert_eq!(
            c["status"],
            "pass",
            "{id}: {c}\nbridge log:\n{}",
            bridge.log_text()
        );
    }
    assert!(
        check(&report, "attestation")["notes"]
            .as_array()
            .is_some_and(|n| n.iter().any(|n| says(n, "the chain is complete"))),
        "verified to --trust-root: {}",
        check(&report, "attestation")
    );
    // Credential management: passes (and cleans up) where the card has it; otherwise the
    // report says the card lacks it and what stays behind.
    let cm = check(&report, "credential-management");
    if cm["status"] == "pass" {
        assert_eq!(report["leftovers"].as_array().map(Vec::len), Some(0));
    } else {
        assert_eq!(cm["status"], "skip", "{cm}");
        assert!(says(&cm["summary"], "credMgmt"), "{cm}");
        assert!(
            says(&report["leftovers"][0], "fido-check.invalid"),
            "{report}"
        );
    }
    assert_eq!(report["passed"], true);
    assert!(
        out.status.success(),
        "exit 0; stdout:\n{}",
        text(&out.stdout)
    );
    assert!(
        text(&out.stdout).contains("passed, 0 failed"),
        "{}",
        text(&out.stdout)
    );
    // Evidence is APDUs on the wire, e.g. the SELECT.
    assert_eq!(
        check(&report, "select")["evidence"][0]["apdus"][0]["c"],
        "00A4040008A0000006472F000100"
    );

    // The same card again, now with a PIN: fido-check needs --pin and gets the text report.
    let reader = slot.reader_name();
    let out = fido_check(&["--reader", &reader, "--pin", "246810"]);
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "second run:\n{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(stdout.contains("RESULT  CHECK"), "{stdout}");
    assert!(stdout.contains("PASS    client-pin"), "{stdout}");
    assert!(
        stdout.contains("SKIP    reset"),
        "not reset without --allow-reset:\n{stdout}"
    );

    // Without --pin on a card that has one: the PIN checks are skipped and the run fails.
    let out = fido_check(&["--reader", &reader, "--format", "junit"]);
    let xml = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{xml}");
    assert!(xml.starts_with("<?xml"), "{xml}");
    assert!(
        xml.contains("required check skipped: the card has a PIN"),
        "{xml}"
    );
    drop(bridge);
}

#[test]
fn fido_check_fails_presence_checks_when_presence_is_denied() {
    let Some((_ctx, slot, bridge)) = stack_bridge(&["--presence", "deny"]) else {
        return;
    };
    let (out, report) = fido_check_json(&bridge, &slot, &["--pin", "135790"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    for id in [
        "user-verification",
        "resident-keys",
        "multiple-accounts",
        "hmac-secret",
        "attestation",
    ] {
        let c = check(&report, id);
        assert_eq!(c["status"], "fail", "{id}: {c}");
        assert!(
            says(&c["summary"], "CTAP2_ERR_OPERATION_DENIED"),
            "{id}: {c}"
        );
    }
    for id in ["select", "versions", "nfc-chaining", "client-pin"] {
        assert_eq!(check(&report, id)["status"], "pass", "{id}");
    }
    assert_eq!(report["passed"], false);
    drop(bridge);
}

#[test]
fn fido_check_refuses_an_unknown_reader() {
    if skip_e2e() {
        return;
    }
    let _ctx = context();
    let out = fido_check(&["--reader", "No Such Reader 99"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no reader matches"),
        "{}",
        text(&out.stderr)
    );
}

/// `fido-check --host windows` through the real stack against the bridge serving `profile`:
/// every step passes, or is skipped as Windows would skip it (passkey management on a card
/// without credentialManagement); the evidence is Windows' framing on the wire.
fn host_windows_passes(profile: &str, manages_passkeys: bool) {
    let Some((_ctx, slot, bridge)) = stack_bridge(&["--profile", profile]) else {
        return;
    };
    let (out, report) = fido_check_json(
        &bridge,
        &slot,
        &["--host", "windows", "--pin", "246810", "--allow-reset"],
    );
    let checks = report["checks"].as_array().expect("checks");
    assert_eq!(checks.len(), 12, "{report}");
    for c in checks {
        let passkeys = c["id"].as_str().is_some_and(|id| id.ends_with("-passkeys"));
        if passkeys && !manages_passkeys {
            assert_eq!(c["status"], "skip", "{profile}: {c}");
            assert!(says(&c["summary"], "credMgmt"), "{c}");
        } else {
            assert_eq!(
                c["status"],
                "pass",
                "{profile}: {c}\nbridge log:\n{}",
                bridge.log_text()
            );
        }
    }
    assert!(
        says(
            &check(&report, "settings-reset-too-late")["summary"],
            "CTAP2_ERR_NOT_ALLOWED"
        ),
        "{report}"
    );
    // Windows' wire habits, as recorded: the plug-and-play probes and SELECT on insertion, the
    // U2F probe, getInfo as 80 10 00 00 01 04 00, short APDUs only.
    let detect: Vec<String> = check(&report, "detect")["evidence"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|op| op["apdus"].as_array().cloned().unwrap_or_default())
        .filter_map(|a| a["c"].as_str().map(str::to_owned))
        .collect();
    assert!(
        detect.iter().any(|c| c == "00A4040008A0000006472F000100"),
        "{detect:?}"
    );
    assert!(detect.iter().any(|c| c == "0003000000"), "{detect:?}");
    assert!(detect.iter().any(|c| c == "00CA7F6800"), "{detect:?}");
    assert!(detect.iter().any(|c| c == "80100000010400"), "{detect:?}");
    let all: Vec<String> = checks
        .iter()
        .flat_map(|c| c["evidence"].as_array().cloned().unwrap_or_default())
        .flat_map(|op| op["apdus"].as_array().cloned().unwrap_or_default())
        .filter_map(|a| a["c"].as_str().map(str::to_owned))
        .collect();
    // ISO 7816-4 §5.1: a command with data has a one-byte Lc (1..=255) when short, 00 ‖ two
    // bytes when extended.
    assert!(
        all.iter()
            .filter(|c| c.len() > 10)
            .all(|c| c.len() <= 2 * (5 + 255 + 1) && c.get(8..10) != Some("00")),
        "only short APDUs: {all:?}"
    );
    assert!(
        all.iter().any(|c| c.starts_with("80C0")),
        "GET RESPONSE with CLA 80"
    );
    // Passkeys left behind only where the card cannot delete them.
    let leftovers = report["leftovers"].as_array().cloned().unwrap_or_default();
    if manages_passkeys {
        assert!(leftovers.is_empty(), "{report}");
    } else {
        assert!(says(&leftovers[0], "windows-persona.invalid"), "{report}");
    }
    assert_eq!(report["passed"], true);
    assert!(out.status.success(), "{}", text(&out.stdout));
    drop(bridge);
}

#[test]
fn fido_check_host_windows_passes_the_generic_card() {
    host_windows_passes("generic", true);
}

#[test]
fn fido_check_host_windows_passes_a_short_apdu_only_card() {
    // HID Crescendo C2300: CTAP 2.0, no extended length, no credential management.
    host_windows_passes("hid-crescendo-c2300", false);
}
