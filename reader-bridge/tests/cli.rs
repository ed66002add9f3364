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
    let out = bridge()
        .args(["run", "--profile", "no-such-card", "--state"])
        .arg(&state)
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-such-card"));
    assert!(!state.exists(), "nothing written for a refused profile");

    let out = bridge()
        .args(["--presence", "sometimes"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let out = bridge().args(["--seed", "1", "run"]).output().expect("run");
    assert!(
        !out.status.success(),
        "run options before the subcommand are refused"
    );
}

#[test]
fn corrupt_state_names_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let state = dir.path().join("state.bin");
    std::fs::write(&state, [0u8; 64]).expect("write");
    let out = bridge()
        .args(["run", "--vpcd", "127.0.0.1:9", "--state"])
        .arg(&state)
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&*state.to_string_lossy()),
        "names the file: {err}"
    );
}

#[test]
fn export_attestation_prints_a_stable_pem() {
    let dir = tempfile::tempdir().expect("temp dir");
    let state = dir.path().join("state.bin");
    let export = || {
        let out = bridge()
            .args(["export-attestation", "--state"])
            .arg(&state)
            .output()
            .expect("run");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    };
    let first = export();
    assert!(first.starts_with("-----BEGIN CERTIFICATE-----"), "{first}");
    assert!(first.trim_end().ends_with("-----END CERTIFICATE-----"));
    assert!(state.exists(), "a fresh card's state was created");
    assert_eq!(export(), first, "the same card exports the same root");
}

#[test]
fn default_state_path_follows_xdg_data_home() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = bridge()
        .arg("export-attestation")
        .env("XDG_DATA_HOME", dir.path())
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.path().join("virtual-fido-card/state.bin").is_file());
}
