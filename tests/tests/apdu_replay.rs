//! `apdu-replay` on a trace recorded through the real stack: a `--seed`ed bridge with `--trace`
//! serves a whole fido-check session (PIN, credentials, hmac-secret, reset after a power cycle);
//! replaying the trace against a fresh in-process card of the same seed reproduces every
//! response, and an edited trace is reported with both sides decoded.

use std::process::Output;
use std::time::Duration;

use integration_tests::{BridgeProcess, run_workspace_tool, stack_slot, temp_file};

const TOOL_TIMEOUT: Duration = Duration::from_secs(120);

fn run(name: &str, args: &[&str]) -> Output {
    run_workspace_tool(name, args, TOOL_TIMEOUT)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn replay_reproduces_a_seeded_bridge_and_reports_edits() {
    let Some((ctx, slot)) = stack_slot() else {
        return;
    };
    let (traces, trace) = temp_file("trace.jsonl");
    let mut bridge = BridgeProcess::spawn(
        &slot,
        &["--seed", "7", "--trace", trace.to_str().expect("utf-8")],
    );
    bridge.wait_card(&ctx, &slot.reader);
    let out = run(
        "fido-check",
        &[
            "--reader",
            &slot.reader_name(),
            "--pin",
            "112233",
            "--allow-reset",
        ],
    );
    assert!(
        out.status.success(),
        "fido-check on the seeded card:\n{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    bridge.signal_and_wait(rustix::process::Signal::TERM, Duration::from_secs(10));
    let recorded = std::fs::read_to_string(&trace).expect("trace written");
    let trace_arg = trace.to_str().expect("utf-8");

    let out = run(
        "apdu-replay",
        &[trace_arg, "--seed", "7", "--profile", "generic"],
    );
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "replay differs:\n{stdout}\n{}",
        text(&out.stderr)
    );
    let summary = stdout.lines().last().unwrap_or_default();
    assert!(summary.ends_with("exchanges, all identical"), "{stdout}");
    let count: usize = summary
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(count > 100, "a whole fido-check session: {summary}");

    // Another seed gives other keys: the replay says so.
    let out = run("apdu-replay", &[trace_arg, "--seed", "8"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));

    // Edit the answer to the first getInfo: reported at its line, both sides decoded.
    let mut lines: Vec<String> = recorded.lines().map(str::to_owned).collect();
    let target = lines
        .iter()
        .position(|l| {
            l.contains("80100000010400") && l.contains("\"r\":\"00")
                || l.contains("80100000010400") && l.contains("\"r\": \"00")
        })
        .unwrap_or_else(|| panic!("a getInfo exchange in the trace:\n{recorded}"));
    lines[target] = lines[target]
        .replacen("\"r\":\"00", "\"r\":\"27", 1)
        .replacen("\"r\": \"00", "\"r\": \"27", 1);
    let edited = traces.path().join("edited.jsonl");
    std::fs::write(&edited, lines.join("\n")).expect("write edited trace");
    let out = run(
        "apdu-replay",
        &[edited.to_str().expect("utf-8"), "--seed", "7"],
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(&format!("trace line {}", target + 1)),
        "{stdout}"
    );
    assert!(stdout.contains("NFCCTAP_MSG getInfo (0x04)"), "{stdout}");
    assert!(
        stdout.contains("CTAP2_ERR_OPERATION_DENIED"),
        "recorded side: {stdout}"
    );
    assert!(
        stdout.contains("CTAP CTAP2_OK (0x00)"),
        "replayed side: {stdout}"
    );
    assert!(stdout.contains("1 differ"), "{stdout}");

    // An unreadable trace is a usage error.
    std::fs::write(&edited, "not json\n").expect("write");
    let out = run("apdu-replay", &[edited.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("line 1"),
        "{}",
        text(&out.stderr)
    );
}
