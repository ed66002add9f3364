//! The `reader-bridge` binary with the real FIDO applet, through pcscd + vpcd, used by real
//! clients: the `pcsc` crate and `opensc-tool`.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use fido_applet::profile::Profile;
use integration_tests::{
    BridgeProcess, Client, SELECT_FIDO, Slot, opensc_atr, opensc_reader_index, run_tool, skip_e2e,
    stack_bridge, stack_slot, temp_file,
};
use rustix::process::Signal;

const TOOL_TIMEOUT: Duration = Duration::from_secs(30);

/// The SELECT answer of the FIDO applet: "U2F_V2" (U2F + CTAP2) or "FIDO_2_0" (CTAP2 only).
fn assert_fido_version(data: &[u8], sw: u16) {
    assert_eq!(sw, 0x9000, "SELECT FIDO answers 9000");
    assert!(
        data == b"U2F_V2" || data == b"FIDO_2_0",
        "SELECT FIDO answers the version string, got {:?}",
        String::from_utf8_lossy(data)
    );
}

/// Connects to the card in `slot`, SELECTs the FIDO applet and checks its answer (the version).
fn select_fido_version(ctx: &pcsc::Context, slot: &Slot) -> Vec<u8> {
    let mut client = Client::connect(ctx, &slot.reader);
    let (version, sw) = client.send(SELECT_FIDO);
    assert_fido_version(&version, sw);
    version
}

#[test]
fn opensc_lists_the_card_with_the_profile_atr() {
    let Some((ctx, slot)) = stack_slot() else {
        return;
    };
    for profile in [
        Profile::generic(),
        Profile::all().into_iter().last().expect("profiles"),
    ] {
        let mut bridge = BridgeProcess::spawn(&slot, &["--profile", &profile.id]);
        let atr = bridge.wait_card(&ctx, &slot.reader);
        assert_eq!(atr, profile.atr, "pcscd sees profile {}'s ATR", profile.id);

        let list = run_tool("opensc-tool", &["-l"], &[], TOOL_TIMEOUT);
        let list = String::from_utf8_lossy(&list.stdout).into_owned();
        let index = opensc_reader_index(&list, &slot.reader_name())
            .unwrap_or_else(|| panic!("opensc-tool -l lists {}:\n{list}", slot.reader_name()));
        let line = list
            .lines()
            .find(|l| l.ends_with(&slot.reader_name()))
            .unwrap_or_default();
        assert!(line.contains("Yes"), "opensc-tool sees a card: {line:?}");

        let out = run_tool(
            "opensc-tool",
            &["-r", &index.to_string(), "-a"],
            &[],
            TOOL_TIMEOUT,
        );
        let printed = String::from_utf8_lossy(&out.stdout).trim().to_lowercase();
        assert_eq!(
            printed,
            opensc_atr(&profile.atr),
            "opensc-tool -a prints the ATR"
        );

        let out = run_tool(
            "opensc-tool",
            &["-r", &index.to_string(), "-s", "00A4040008A0000006472F0001"],
            &[],
            TOOL_TIMEOUT,
        );
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            text.contains("SW1=0x90, SW2=0x00"),
            "opensc-tool SELECT FIDO:\n{text}"
        );

        bridge.stop_cleanly(Signal::TERM, &ctx, &slot.reader);
    }
}

#[test]
fn select_probing_extended_chained_and_get_response() {
    let Some((ctx, slot, bridge)) = stack_bridge(&["--seed", "7"]) else {
        return;
    };
    let mut client = Client::connect(&ctx, &slot.reader);
    let (version, sw) = client.send(SELECT_FIDO);
    assert_fido_version(&version, sw);

    // Windows smart-card plug-and-play and opensc probing: each answered cleanly.
    for (apdu, what) in [
        ("00A4040005A00000030800", "PIV AID"),
        ("00A404000BA00000039742544659020100", "GIDS AID"),
        ("00CA7F6800", "GET DATA 7F68"),
        ("00A40000023F00", "SELECT MF 3F00 by file id"),
        ("00A40000022F01", "SELECT EF.ATR 2F01"),
        ("00A4000C023F00", "SELECT 3F00 without FCI"),
        ("00B0000000", "READ BINARY"),
    ] {
        let (data, sw) = client.send(apdu);
        assert!(
            matches!(sw, 0x6A82 | 0x6D00 | 0x6A86 | 0x6E00),
            "{what} ({apdu}) answers a clean refusal, got {sw:04X} {data:02X?}"
        );
    }
    // The FIDO applet still works afterwards.
    let (again, sw) = client.send(SELECT_FIDO);
    assert_fido_version(&again, sw);
    assert_eq!(again, version);

    // Extended-length SELECT (Lc 000008, Le 0000).
    let (data, sw) = client.send("00A40400000008A0000006472F00010000");
    assert_fido_version(&data, sw);

    // SELECT sent as a command chain (CLA 10 on the first part).
    let (data, sw) = client.send("10A4040004A0000006");
    assert_eq!((data.len(), sw), (0, 0x9000), "chained part acknowledged");
    let (data, sw) = client.send("00A4040004472F000100");
    assert_fido_version(&data, sw);

    // A response longer than Le: 61xx, then GET RESPONSE with CLA 00 and with CLA 80.
    for cla in [0x00u8, 0x80] {
        let (head, sw) = client.send("00A4040008A0000006472F000102");
        assert_eq!(head.len(), 2, "Le = 2 gives 2 bytes");
        assert_eq!(sw >> 8, 0x61, "more data follows: {sw:04X}");
        let left = sw & 0xFF;
        assert_eq!(usize::from(left as u8), version.len() - 2);
        let (tail, sw) = client.send(&format!("{cla:02X}C00000{left:02X}"));
        assert_eq!(sw, 0x9000, "GET RESPONSE with CLA {cla:02X}");
        assert_eq!([head, tail].concat(), version);
    }
    drop(client);
    drop(bridge);
}

#[test]
fn state_file_is_private_and_survives_restarts() {
    let Some((ctx, slot)) = stack_slot() else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let state = dir.path().join("sub").join("state.bin");
    assert!(!state.exists());
    let mut bridge =
        BridgeProcess::spawn_with_state(&slot.vpcd(), dir, state.clone(), &["--seed", "1"]);
    bridge.wait_card(&ctx, &slot.reader);
    select_fido_version(&ctx, &slot);
    let meta = std::fs::metadata(&state).expect("a fresh card writes its state file");
    assert_eq!(
        meta.permissions().mode() & 0o777,
        0o600,
        "state file mode 0600"
    );
    let image = std::fs::read(&state).expect("read state");
    assert!(image.starts_with(b"VFCR"), "a record log (magic VFCR)");

    bridge.stop_cleanly(Signal::TERM, &ctx, &slot.reader);

    // The same state file opens again; SIGINT also exits 0.
    let dir = std::mem::replace(&mut bridge.dir, tempfile::tempdir().expect("temp dir"));
    let mut again = BridgeProcess::spawn_with_state(&slot.vpcd(), dir, state.clone(), &[]);
    again.wait_card(&ctx, &slot.reader);
    again.stop_cleanly(Signal::INT, &ctx, &slot.reader);
}

#[test]
fn corrupt_state_file_is_refused_with_its_name() {
    if skip_e2e() {
        return;
    }
    let (_dir, state) = temp_file("state.bin");
    std::fs::write(&state, b"VFCS this is not a valid image").expect("write");
    let out = run_tool(
        integration_tests::bridge_binary()
            .to_str()
            .expect("utf-8 path"),
        &[
            "run",
            "--vpcd",
            "127.0.0.1:9",
            "--state",
            state.to_str().expect("utf-8 path"),
        ],
        &[],
        TOOL_TIMEOUT,
    );
    assert!(!out.status.success(), "a corrupt state file is an error");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(state.to_str().expect("utf-8")),
        "the message names the file: {err}"
    );
    assert_eq!(
        std::fs::read(&state).expect("still there"),
        b"VFCS this is not a valid image",
        "the corrupt file is left alone"
    );
}

#[test]
fn trace_file_records_exchanges() {
    let (_trace_dir, trace) = temp_file("trace.log");
    let Some((ctx, slot, bridge)) = stack_bridge(&["--trace", trace.to_str().expect("utf-8")])
    else {
        return;
    };
    let version = select_fido_version(&ctx, &slot);
    drop(bridge);
    let text = std::fs::read_to_string(&trace).expect("trace written");
    // JSON Lines: {"t_ms":..,"slot":0,"event":"apdu","c":"<hex>","r":"<hex>"}.
    let exchange = format!(
        r#""slot":0,"event":"apdu","c":"{SELECT_FIDO}","r":"{}9000"}}"#,
        integration_tests::hex_encode(&version)
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with(r#"{"t_ms":"#) && l.ends_with(&exchange)),
        "trace has {exchange:?}:\n{text}"
    );
}
