//! Fault injection through the real stack (pcscd + vpcd + reader-bridge + the `pcsc` crate):
//! each action of a `--faults` file as a PC/SC host sees it, the card coming back after every
//! removal, and `apdu-replay` reproducing the faulted exchanges from the trace.

use std::time::{Duration, Instant};

use integration_tests::{
    BridgeProcess, CARD_TIMEOUT, Client, SELECT_FIDO, Slot, export_attestation, hex_decode,
    run_tool, run_workspace_tool, split, stack_slot, temp_file, wait_for_card,
};

/// NFCCTAP_MSG authenticatorGetInfo (CTAP 2.1 §11.3), short, Le 00.
const GET_INFO: &str = "80100000010400";

fn write_faults(dir: &std::path::Path, text: &str) -> String {
    let path = dir.join("faults.toml");
    std::fs::write(&path, text).expect("write the faults file");
    path.to_str().expect("utf-8").to_owned()
}

/// Sends hex; `Err` when the card did not answer: a PC/SC error, or (as vpcd reports a card
/// that left mid-command) a response without even a status word.
fn try_send(client: &mut Client, hex: &str) -> Result<(Vec<u8>, u16), String> {
    let apdu = hex_decode(hex).expect("hex");
    let mut buf = vec![0; pcsc::MAX_BUFFER_SIZE_EXTENDED];
    let answer = client
        .card
        .transmit(&apdu, &mut buf)
        .map_err(|e| e.to_string())?
        .to_vec();
    if answer.len() < 2 {
        return Err(format!("no status word: {answer:02X?}"));
    }
    Ok(split(answer))
}

/// A bridge serving a card with the faults of a `--faults` file, seeded and traced so that
/// `apdu-replay` can reproduce the run.
struct Faulted {
    ctx: pcsc::Context,
    slot: Slot,
    bridge: BridgeProcess,
    trace: String,
    /// The bridge's `--quirk` options, which the replay needs too.
    quirks: Vec<&'static str>,
    _dir: tempfile::TempDir,
}

impl Faulted {
    /// Starts the bridge with `faults` (TOML) and `quirks` and waits for its card; `None` when
    /// the real-stack tests are skipped.
    fn start(faults: &str, quirks: &[&'static str]) -> Option<Faulted> {
        let (ctx, slot) = stack_slot()?;
        let (dir, trace) = temp_file("trace.jsonl");
        let faults = write_faults(dir.path(), faults);
        let trace = trace.to_str().expect("utf-8").to_owned();
        let mut args = vec!["--seed", "7", "--trace", &trace, "--faults", &faults];
        args.extend_from_slice(quirks);
        let bridge = BridgeProcess::spawn(&slot, &args);
        bridge.wait_card(&ctx, &slot.reader);
        Some(Faulted {
            ctx,
            slot,
            bridge,
            trace,
            quirks: quirks.to_vec(),
            _dir: dir,
        })
    }

    /// A connection to the card with the FIDO applet selected.
    fn session(&self, what: &str) -> Client {
        let mut client = Client::connect(&self.ctx, &self.slot.reader);
        assert_eq!(client.send(SELECT_FIDO).1, 0x9000, "{what}");
        client
    }

    /// The card left the reader and came back: the connection of before (`old`) is closed, and a
    /// fresh session opened.
    fn after_removal(&self, old: Client) -> Client {
        drop(old);
        wait_for_card(&self.ctx, &self.slot.reader, false, CARD_TIMEOUT).unwrap_or_else(|e| {
            panic!(
                "the card did not leave: {e}; log:\n{}",
                self.bridge.log_text()
            )
        });
        self.bridge.wait_card(&self.ctx, &self.slot.reader);
        self.session("a new session after the removal")
    }

    /// Stops the bridge (SIGTERM), checks that its state file still loads after the faults,
    /// that its trace records `fired` faults, and that `apdu-replay` (with the same quirks)
    /// reproduces the trace exactly; returns the trace.
    fn stop_and_replay(mut self, fired: usize) -> String {
        let bridge = &mut self.bridge;
        bridge.signal_and_wait(rustix::process::Signal::TERM, Duration::from_secs(10));
        export_attestation(&bridge.state, &[]);
        let recorded = std::fs::read_to_string(&self.trace).expect("trace");
        assert_eq!(
            recorded.matches(r#""event":"fault""#).count(),
            fired,
            "{recorded}"
        );
        let mut args = vec![self.trace.as_str(), "--seed", "7"];
        args.extend_from_slice(&self.quirks);
        let out = run_workspace_tool("apdu-replay", &args, Duration::from_secs(60));
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success() && stdout.trim_end().ends_with("all identical"),
            "the replay differs:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        recorded
    }
}

#[test]
fn status_word_flip_and_delay_then_the_replay_reproduces_them() {
    let Some(run) = Faulted::start(
        r#"
[[fault]]
on = { apdu = 2 }
action = { status = "6A80" }

[[fault]]
on = { ctap = "getInfo" }
action = { flip = { byte = 0, mask = "01" } }

[[fault]]
on = { ins = "10" }
action = { delay_ms = 600 }

[[fault]]
on = { ins = "10" }
action = { status = "6F00" }
"#,
        &[],
    ) else {
        return;
    };
    let mut client = run.session("APDU 1: no fault");
    assert_eq!(
        client.send(GET_INFO),
        (vec![], 0x6A80),
        "APDU 2: the status word"
    );
    let (data, sw) = client.send(GET_INFO);
    assert_eq!(data[0], 0x01, "the first byte flipped: CTAP2_OK became 01");
    assert!(sw == 0x9000 || sw >> 8 == 0x61, "{sw:04X}");
    let start = Instant::now();
    let (data, _) = client.send(GET_INFO);
    assert!(
        start.elapsed() >= Duration::from_millis(600),
        "answered after {:?}",
        start.elapsed()
    );
    assert_eq!(data[0], 0x00, "a delayed answer is the card's own");
    assert_eq!(
        client.send(GET_INFO),
        (vec![], 0x6F00),
        "the second INS 10 fault"
    );
    let (data, _) = client.send(GET_INFO);
    assert_eq!(data[0], 0x00, "every fault fired once");
    drop(client);
    let recorded = run.stop_and_replay(4);
    assert!(
        recorded.contains(r#""action":{"status":"6A80"}"#),
        "{recorded}"
    );
}

#[test]
fn removals_and_a_silent_card_come_back_and_replay() {
    // Answers in 64-byte pieces, so getInfo's answer needs GET RESPONSE.
    let Some(run) = Faulted::start(
        r#"
[[fault]]
on = { ctap = "getInfo" }
action = { no_answer = { remove_after_ms = 1000, away_ms = 1200 } }

[[fault]]
on = { ctap = "getInfo" }
action = { remove = { at = "answer", away_ms = 1200 } }

[[fault]]
on = { ctap = "makeCredential" }
action = { remove = { at = "chain", away_ms = 1200 } }

[[fault]]
on = { ctap = "getInfo" }
action = { remove = { at = "get_response", away_ms = 1200 } }
"#,
        &["--quirk", "chunk=64"],
    ) else {
        return;
    };
    let mut client = run.session("SELECT");

    // No answer: the host waits; after 1 s the card is pulled.
    let start = Instant::now();
    let err = try_send(&mut client, GET_INFO).expect_err("never answered");
    assert!(
        start.elapsed() >= Duration::from_millis(900),
        "{err} after {:?}",
        start.elapsed()
    );
    let mut client = run.after_removal(client);

    // Removed before the answer.
    try_send(&mut client, GET_INFO).expect_err("removed before answering");
    let mut client = run.after_removal(client);

    // Removed between two links of a chain: the first link is taken, the second never is.
    assert_eq!(client.send("901000000101").1, 0x9000, "first link");
    try_send(&mut client, "8010000001A000").expect_err("removed between the links");
    let mut client = run.after_removal(client);

    // Removed between two GET RESPONSE pieces.
    let (data, sw) = client.send(GET_INFO);
    assert_eq!((data.len(), sw >> 8), (64, 0x61), "a first piece");
    try_send(&mut client, "00C0000000").expect_err("removed between the pieces");
    let mut client = run.after_removal(client);
    let (data, sw) = client.send(GET_INFO);
    assert_eq!((data[0], sw >> 8), (0x00, 0x61), "every fault fired once");
    drop(client);
    let recorded = run.stop_and_replay(4);
    assert_eq!(
        recorded.matches(r#""r":"""#).count(),
        4,
        "four unanswered commands"
    );
}

/// Refused at start, before any card is served (no stack needed): a fault for a slot the
/// process does not serve, a fault file that does not parse, a quirk combination that is
/// invalid.
#[test]
fn bad_faults_and_quirks_are_refused_at_start() {
    let (dir, state) = temp_file("state.bin");
    let bin = integration_tests::bridge_binary();
    let run = |args: &[&str]| {
        let mut all = vec!["run", "--state", state.to_str().expect("utf-8")];
        all.extend_from_slice(args);
        run_tool(
            bin.to_str().expect("utf-8"),
            &all,
            &[],
            Duration::from_secs(30),
        )
    };
    let other_slot = write_faults(
        dir.path(),
        "[[fault]]\nslot = 5\non = { apdu = 1 }\naction = { status = \"6F00\" }\n",
    );
    let out = run(&["--faults", &other_slot]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("no card in slot 5"), "{err}");

    let bad = write_faults(
        dir.path(),
        "[[fault]]\non = { apdu = 1 }\naction = { explode = 1 }\n",
    );
    let out = run(&["--faults", &bad]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("faults file") && err.contains("explode"),
        "{err}"
    );

    let out = run(&["--quirk", "short-only", "--quirk", "chunk=4096"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("max_response_chunk"), "{err}");
    assert!(!state.exists(), "nothing written for a refused start");
}
