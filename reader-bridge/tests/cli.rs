//! The `reader-bridge` binary's command line, without pcscd (it never connects in these tests).

use std::process::Command;

fn bridge() -> Command {
    Command::new(env!("CARGO_BIN_EXE_reader-bridge"))
}

#[test]
fn list_profiles_prints_id_aaguid_name() {
    let out = bridge().arg("--list-profiles").output().expect("run");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let profiles = fido_applet::profile::Profile::all();
    assert_eq!(text.lines().count(), profiles.len());
    for (line, profile) in text.lines().zip(&profiles) {
        let cols: Vec<&str> = line.split('\t').collect();
        assert_eq!(cols.len(), 3, "id, AAGUID, name: {line:?}");
        assert_eq!(cols[0], profile.id);
        assert_eq!(cols[1], profile.aaguid_string());
        assert_eq!(cols[2], profile.name);
    }
}

#[test]
fn unknown_profile_and_bad_options_fail() {
    let dir = tempfile::tempdir().expect("temp dir");
    let state = dir.path().join("state.bin");
    let err = run_err(
        bridge()
            .args(["run", "--profile", "no-such-card", "--state"])
            .arg(&state),
    );
    assert!(err.contains("no-such-card"), "{err}");
    assert!(
        err.contains("hid-crescendo-c2300"),
        "lists the built-in ids: {err}"
    );
    assert!(!state.exists(), "nothing written for a refused profile");

    run_err(bridge().args(["--presence", "sometimes"]));
    // Run options before the subcommand are refused.
    run_err(bridge().args(["--seed", "1", "run"]));
}

#[test]
fn corrupt_state_names_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let state = dir.path().join("state.bin");
    std::fs::write(&state, [0u8; 64]).expect("write");
    let err = run_err(
        bridge()
            .args(["run", "--vpcd", "127.0.0.1:9", "--state"])
            .arg(&state),
    );
    assert!(
        err.contains(&*state.to_string_lossy()),
        "names the file: {err}"
    );
}

#[test]
fn export_attestation_prints_a_stable_pem() {
    let dir = tempfile::tempdir().expect("temp dir");
    let state = dir.path().join("state.bin");
    let export = || run_ok(bridge().args(["export-attestation", "--state"]).arg(&state)).0;
    let first = export();
    assert!(first.starts_with("-----BEGIN CERTIFICATE-----"), "{first}");
    assert!(first.trim_end().ends_with("-----END CERTIFICATE-----"));
    assert!(state.exists(), "a fresh card's state was created");
    assert_eq!(export(), first, "the same card exports the same root");
}

/// The platform's per-user data directory variable (see `reader_bridge::paths`).
const DATA_DIR_VAR: &str = if cfg!(windows) {
    "LOCALAPPDATA"
} else {
    "XDG_DATA_HOME"
};

#[test]
fn default_state_path_follows_the_platform_data_directory() {
    let dir = tempfile::tempdir().expect("temp dir");
    run_ok(
        bridge()
            .arg("export-attestation")
            .env(DATA_DIR_VAR, dir.path()),
    );
    assert!(
        dir.path()
            .join("virtual-fido-card")
            .join("state.bin")
            .is_file()
    );
}

/// Runs `cmd`, asserts that it fails and returns its stderr.
fn run_err(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run");
    assert!(!out.status.success(), "{cmd:?} was accepted");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn run_ok(cmd: &mut Command) -> (String, String) {
    let out = cmd.output().expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    (String::from_utf8(out.stdout).expect("utf-8"), stderr)
}

#[test]
fn list_profiles_has_every_built_in_card() {
    let (text, _) = run_ok(bridge().arg("--list-profiles"));
    for (id, aaguid) in [
        ("generic", "f4804184-aeeb-4851-82ac-5e273de2e0a1"),
        (
            "hid-crescendo-c2300",
            "aeb6569c-f8fb-4950-ac60-24ca2bbe2e52",
        ),
        ("hid-crescendo-key", "692db549-7ae5-44d5-a1e5-dd20a493b723"),
        (
            "hid-crescendo-key-v2",
            "2d3bec26-15ee-4f5d-88b2-53622490270b",
        ),
        (
            "hid-crescendo-c3000",
            "c80dbd9a-533f-4a17-b941-1a2f1c7cedff",
        ),
        (
            "thales-idprime-3940",
            "b50d5e0a-7f81-4959-9b12-f45407407503",
        ),
    ] {
        assert!(
            text.lines()
                .any(|l| l.starts_with(&format!("{id}\t{aaguid}\t"))),
            "{id} listed: {text}"
        );
    }
}

#[test]
fn show_profile_prints_toml_that_loads_back() {
    let (text, _) = run_ok(bridge().args(["--show-profile", "hid-crescendo-key-v2"]));
    let profile = fido_applet::profile::Profile::from_toml_str(&text).expect("loads");
    assert_eq!(profile.id, "hid-crescendo-key-v2");

    // A custom profile file made from it is accepted by path (.toml) ...
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("lab-card.toml");
    std::fs::write(
        &file,
        text.replace("id = \"hid-crescendo-key-v2\"", "id = \"lab-card\""),
    )
    .expect("write");
    let (shown, _) = run_ok(bridge().arg("--show-profile").arg(&file));
    assert!(shown.contains("id = \"lab-card\""));

    // ... and a broken one is refused with the file name and the line.
    let broken = dir.path().join("broken.toml");
    std::fs::write(
        &broken,
        text.replace("max_msg_size = 2048", "max_msg_size = \"big\""),
    )
    .expect("write");
    let state = dir.path().join("state.bin");
    let err = run_err(
        bridge()
            .args(["run", "--vpcd", "127.0.0.1:9", "--state"])
            .arg(&state)
            .arg("--profile")
            .arg(&broken),
    );
    assert!(
        err.contains(&*broken.to_string_lossy()),
        "names the file: {err}"
    );
    assert!(
        err.contains("max_msg_size") && err.contains("line"),
        "{err}"
    );
    assert!(!state.exists());
}

#[test]
fn attestation_writes_root_batch_and_metadata() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out_dir = dir.path().join("out");
    let (stdout, _) = run_ok(
        bridge()
            .args(["attestation", "--profile", "hid-crescendo-c3000", "--out"])
            .arg(&out_dir),
    );
    assert_eq!(stdout.lines().count(), 3, "{stdout}");
    let root = std::fs::read_to_string(out_dir.join("root.pem")).expect("root.pem");
    let batch = std::fs::read_to_string(out_dir.join("batch.pem")).expect("batch.pem");
    assert!(root.starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(batch.starts_with("-----BEGIN CERTIFICATE-----"));
    assert_ne!(root, batch);
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out_dir.join("metadata.json")).expect("metadata.json"),
    )
    .expect("JSON");
    assert_eq!(json["aaguid"], "c80dbd9a-533f-4a17-b941-1a2f1c7cedff");
    assert_eq!(json["schema"], 3);
    // The root in the statement is the exported root.
    let b64: String = root.lines().filter(|l| !l.starts_with("-----")).collect();
    assert_eq!(json["attestationRootCertificates"][0], b64.as_str());

    // The fresh card's state sits beside them; the same card exports the same root again, and
    // `export-attestation` agrees.
    let state = out_dir.join("state.bin");
    assert!(state.is_file());
    run_ok(
        bridge()
            .args(["attestation", "--profile", "hid-crescendo-c3000", "--out"])
            .arg(&out_dir),
    );
    assert_eq!(
        std::fs::read_to_string(out_dir.join("root.pem")).expect("root"),
        root
    );
    let (exported, _) = run_ok(
        bridge()
            .args([
                "export-attestation",
                "--profile",
                "hid-crescendo-c3000",
                "--state",
            ])
            .arg(&state),
    );
    assert_eq!(exported, root);

    // That state belongs to the C3000: another profile on it is refused.
    let err = run_err(
        bridge()
            .args(["export-attestation", "--profile", "generic", "--state"])
            .arg(&state),
    );
    assert!(err.contains("another card model"), "{err}");
}

#[test]
fn seeded_attestation_is_reproducible_and_warns() {
    let dir = tempfile::tempdir().expect("temp dir");
    let make = |name: &str, seed: &str| {
        let out_dir = dir.path().join(name);
        let (_, stderr) = run_ok(
            bridge()
                .args(["attestation", "--seed", seed, "--out"])
                .arg(&out_dir),
        );
        assert!(stderr.contains("NOT SECURE"), "{stderr}");
        std::fs::read_to_string(out_dir.join("batch.pem")).expect("batch")
    };
    let a = make("a", "7");
    assert_eq!(make("b", "7"), a, "same seed, same certificates");
    assert_ne!(make("c", "8"), a);
}

#[test]
fn several_cards_need_consistent_options() {
    let dir = tempfile::tempdir().expect("temp dir");
    let err = run_err(
        bridge()
            .args(["run", "--slots", "0-1", "--state"])
            .arg(dir.path().join("one.bin")),
    );
    assert!(err.contains("one --state per card"), "{err}");
    let err = run_err(
        bridge()
            .args([
                "run",
                "--vpcd",
                "127.0.0.1:9",
                "--vpcd",
                "127.0.0.1:10",
                "--profile",
                "generic",
                "--profile",
                "generic",
                "--profile",
                "generic",
            ])
            .arg("--state")
            .arg(dir.path()),
    );
    assert!(err.contains("3 --profile options for 2 cards"), "{err}");
}

/// A loopback port nothing listens on: bound by the OS, then released (so it refuses).
fn refusing_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free loopback port")
        .port()
}

#[test]
fn refused_vpcd_is_reported_once_with_the_causes_and_retried() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    let dir = tempfile::tempdir().expect("temp dir");
    let port = refusing_port();
    let vpcd = format!("localhost:{port}");
    let mut child = bridge()
        .args(["-v", "run", "--vpcd", &vpcd, "--state"])
        .arg(dir.path().join("state.bin"))
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the bridge");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });

    // The back-off starts at 100 ms: a few retries come within a second or two.
    let retry = format!("vpcd at {vpcd} still unreachable");
    let mut log = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while log.iter().filter(|l: &&String| l.contains(&retry)).count() < 3 {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => log.push(line),
            Err(_) => break,
        }
    }
    let still_running = child.try_wait().expect("try_wait").is_none();
    child.kill().expect("kill the bridge");
    child.wait().expect("reap the bridge");
    let text = log.join("\n");
    assert!(still_running, "the bridge keeps retrying: {text}");

    let head = format!("cannot connect to vpcd at {vpcd} (");
    assert_eq!(
        log.iter().filter(|l| l.contains(&head)).count(),
        1,
        "the refusal is reported once: {text}"
    );
    assert!(
        log.iter().filter(|l| l.contains(&retry)).count() >= 3,
        "and retried: {text}"
    );
    assert!(
        text.contains(&format!("127.0.0.1:{port}")),
        "the name was resolved: {text}"
    );
    for cause in [
        "connection refused",
        "pcscd",
        "BixVReader",
        "excludedportrange",
        "mirrored networking",
        "docs/windows.md",
    ] {
        assert!(text.contains(cause), "{cause:?} missing: {text}");
    }
}

#[test]
fn malformed_vpcd_addresses_are_refused_at_start() {
    let dir = tempfile::tempdir().expect("temp dir");
    for bad in ["localhost", "localhost:0", "localhost:port", ":35963"] {
        let err = run_err(
            bridge()
                .args(["run", "--vpcd", bad, "--state"])
                .arg(dir.path().join("state.bin")),
        );
        assert!(err.contains("HOST:PORT"), "{bad}: {err}");
    }
}
