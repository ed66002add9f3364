//! Resilience of the whole stack (pcscd + vpcd + reader-bridge) against what happens to real
//! cards and hosts:
//!
//! - `kill -9` of the bridge in the middle of a stream of makeCredential calls: no credential
//!   whose answer reached the host is lost, and the state file always loads;
//! - a corrupt, truncated or wrong-version state file: the bridge refuses it, naming the file and
//!   the cause, and leaves it as it was (never starts an empty card over it);
//! - a host that vanishes mid-chain or mid-GET RESPONSE: the next host's command is not glued to
//!   the old chain nor answered with the old response, and the state stays consistent;
//! - a thousand connect / disconnect cycles with every disposition: the bridge keeps serving.
//!
//! (pcscd / vpcd restarts are `pcscd_restart.rs`.)

use std::ffi::CStr;
use std::path::Path;
use std::time::{Duration, Instant};

use fido_applet::crypto::sha256;
use fido_applet::state::State;
use fido_applet::state::decode_log;
use fido_host::Client;
use fido_host::attestation::parse_auth_data;
use fido_host::ctap_types::cbor::{self, Value};
use fido_host::ctap_types::command;
use fido_host::ctap_types::params::make_credential;
use fido_host::ctap2::{GetAssertion, MakeCredential};
use fido_host::iso;
use fido_host::nfc::{self, Framing, Length};
use integration_tests::{
    BridgeProcess, CARD_TIMEOUT, SELECT_FIDO, Slot, bridge_binary, hex_decode, stack_bridge,
    stack_slot, temp_file, wait_for_card,
};
use rustix::process::Signal;

/// How many times the bridge is killed in the middle of the stream.
const KILLS: usize = 6;
const CYCLES: usize = 1000;
const RESTART_TIMEOUT: Duration = Duration::from_secs(90);

/// A makeCredential message (command byte ‖ CBOR) for a discoverable credential of `user` on
/// example.com, as `fido-host` builds it.
fn make_credential(user: &[u8]) -> Vec<u8> {
    let req = MakeCredential {
        client_data_hash: sha256(b"resilience"),
        rp_id: "example.com".into(),
        user_id: user.to_vec(),
        user_name: "user".into(),
        rk: true,
        extensions: None,
        exclude_list: Vec::new(),
        algorithms: Vec::new(),
    };
    message(
        command::MAKE_CREDENTIAL,
        &Client::make_credential_params(&req, None),
    )
}

/// A getAssertion message naming the credential `allow`.
fn get_assertion(allow: &[u8]) -> Vec<u8> {
    let req = GetAssertion {
        rp_id: "example.com".into(),
        client_data_hash: sha256(b"login"),
        allow_list: vec![allow.to_vec()],
        extensions: None,
        up: None,
    };
    message(
        command::GET_ASSERTION,
        &Client::get_assertion_params(&req, None),
    )
}

fn message(command: u8, params: &Value) -> Vec<u8> {
    let mut m = vec![command];
    m.extend_from_slice(&params.to_vec());
    m
}

/// Sends `apdu`, following 61xx with GET RESPONSE; (data, SW) or the PC/SC error.
fn exchange(card: &pcsc::Card, apdu: &[u8]) -> Result<(Vec<u8>, u16), pcsc::Error> {
    let mut buf = vec![0u8; pcsc::MAX_BUFFER_SIZE_EXTENDED];
    let mut out = Vec::new();
    let mut resp = card.transmit(apdu, &mut buf)?.to_vec();
    loop {
        let n = resp.len();
        if n < 2 {
            // vpcd answers nothing when the bridge died in the middle of the exchange.
            return Err(pcsc::Error::CommError);
        }
        let sw = u16::from_be_bytes([resp[n - 2], resp[n - 1]]);
        out.extend_from_slice(&resp[..n - 2]);
        if sw >> 8 != 0x61 {
            return Ok((out, sw));
        }
        resp = card
            .transmit(&iso::get_response(0x00, (sw & 0xFF) as u8), &mut buf)?
            .to_vec();
    }
}

/// One CTAP message in short APDUs chained by 250 bytes (python-fido2's framing).
fn ctap(card: &pcsc::Card, message: &[u8]) -> Result<(u8, Vec<u8>), pcsc::Error> {
    let apdus = nfc::frame(&Framing::python_fido2(), message);
    let (last, chained) = apdus.split_last().expect("one APDU at least");
    for apdu in chained {
        let (_, sw) = exchange(card, apdu)?;
        assert_eq!(sw, 0x9000, "a chained part answers 9000");
    }
    let (data, sw) = exchange(card, last)?;
    assert_eq!(sw, 0x9000, "NFCCTAP_MSG answers 9000");
    let (&status, body) = data.split_first().expect("a status byte");
    Ok((status, body.to_vec()))
}

/// The credential id in a makeCredential answer's authData (WebAuthn §6.5.1).
fn credential_id(body: &[u8]) -> Vec<u8> {
    let v = cbor::parse(body).expect("CBOR");
    let auth_data = v
        .get_int(make_credential::response::AUTH_DATA.into())
        .and_then(|a| a.as_bytes().ok())
        .expect("authData");
    parse_auth_data(auth_data)
        .expect("authData parses")
        .attested
        .expect("attested credential data")
        .credential_id
}

fn connect(ctx: &pcsc::Context, reader: &CStr) -> pcsc::Card {
    let card = ctx
        .connect(reader, pcsc::ShareMode::Shared, pcsc::Protocols::ANY)
        .unwrap_or_else(|e| panic!("connect to {reader:?}: {e}"));
    let (data, sw) = exchange(&card, &hex_decode(SELECT_FIDO).unwrap()).expect("SELECT");
    assert_eq!(sw, 0x9000, "SELECT FIDO: {data:?}");
    card
}

fn spawn(slot: &Slot, state: &Path) -> BridgeProcess {
    let logs = tempfile::tempdir().expect("temp dir");
    BridgeProcess::spawn_with_state(&slot.vpcd(), logs, state.to_path_buf(), &[])
}

/// A small xorshift, seeded from the clock: the kill lands at a different moment every run.
struct Jitter(u64);

impl Jitter {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below
    }
}

/// One CTAP message in one extended APDU (the whole answer comes back in one response).
fn extended(message: &[u8]) -> String {
    let framing = Framing {
        length: Length::Extended,
        msg_p1: 0x00,
        ..Framing::default()
    };
    let apdus = nfc::frame(&framing, message);
    integration_tests::hex_encode(&apdus.concat())
}

/// kill -9 right after the host got its last answer (the host, a separate process, streams a
/// random number of makeCredential calls and exits; the kill follows at once), six times: every
/// acknowledged credential survives every kill, and the state file always loads.
#[test]
fn kill_9_after_acknowledged_answers_loses_nothing() {
    kill_cycles(false);
}

/// The same with the kill landing in the middle of the stream, while an exchange is in flight.
///
/// Ignored: with pcsc-lite + vpcd, after the bridge dies in the middle of an exchange, pcscd does
/// not report the restarted bridge's card (the reader stays EMPTY while vpcd keeps polling the
/// new bridge for its ATR) until the test process ends. The card state itself is fine (this
/// test checks the file after the first kill); run it by hand with `--ignored`.
#[test]
#[ignore = "pcscd does not see a card restarted after a mid-exchange kill (see the doc comment)"]
fn kill_9_mid_exchange_loses_no_acknowledged_credential() {
    kill_cycles(true);
}

fn kill_cycles(mid_exchange: bool) {
    let Some((_ctx, slot)) = stack_slot() else {
        return;
    };
    let (_state_dir, state) = temp_file("state.bin");
    let mut jitter = Jitter(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64 | 1),
    );
    let mut acknowledged: Vec<Vec<u8>> = Vec::new();
    let mut user = 0u32;
    let kills = if mid_exchange { 1 } else { KILLS };
    for kill in 0..kills {
        let mut bridge = spawn(&slot, &state);
        // A context per cycle, released before the kill (see below).
        let ctx = pcsc::Context::establish(pcsc::Scope::User).expect("PC/SC context");
        wait_for_card(&ctx, &slot.reader, true, RESTART_TIMEOUT).unwrap_or_else(|e| {
            panic!(
                "kill {kill}: no card after the restart: {e}\n{}",
                bridge.log_text()
            )
        });
        // Every credential acknowledged before is still there.
        {
            let card = connect(&ctx, &slot.reader);
            for id in &acknowledged {
                let (status, _) = ctap(&card, &get_assertion(id)).expect("getAssertion");
                assert_eq!(
                    status, 0,
                    "kill {kill}: an acknowledged credential was lost"
                );
            }
            card.disconnect(pcsc::Disposition::ResetCard)
                .map_err(|(_, e)| e)
                .unwrap();
        }
        drop(ctx);

        // The host is a separate process (pcsc-probe) streaming makeCredential calls; the bridge
        // is killed at a random moment while it runs. (The host process then fails and exits,
        // which also releases its PC/SC context: pcscd reports no new card in a reader while a
        // live context still holds a handle to the card that vanished from it.)
        let count = if mid_exchange {
            400
        } else {
            1 + jitter.next(12)
        };
        let mut args = vec![
            slot.reader_name(),
            "15".to_string(),
            SELECT_FIDO.to_string(),
        ];
        for _ in 0..count {
            user += 1;
            args.push(extended(&make_credential(&user.to_be_bytes())));
        }
        let host = std::process::Command::new(env!("CARGO_BIN_EXE_pcsc-probe"))
            .args(&args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run pcsc-probe");
        let out = if mid_exchange {
            std::thread::sleep(Duration::from_millis(150 + jitter.next(500)));
            let status = bridge.signal_and_wait(Signal::KILL, Duration::from_secs(10));
            assert!(!status.success(), "killed by SIGKILL");
            host.wait_with_output().expect("pcsc-probe output")
        } else {
            let out = host.wait_with_output().expect("pcsc-probe output");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let status = bridge.signal_and_wait(Signal::KILL, Duration::from_secs(10));
            assert!(!status.success(), "killed by SIGKILL");
            out
        };
        let stdout = String::from_utf8_lossy(&out.stdout);
        // Lines: "ATR ...", the SELECT answer, then one line per makeCredential answer.
        let mut made = 0;
        for line in stdout.lines().skip(2) {
            let resp = hex_decode(line).expect("hex");
            if resp.len() < 2 {
                // vpcd's answer to the exchange the kill cut: nothing was acknowledged.
                break;
            }
            let (data, sw) = resp.split_at(resp.len() - 2);
            assert_eq!(sw, [0x90, 0x00], "{line}");
            assert_eq!(data[0], 0, "makeCredential failed: {line}");
            acknowledged.push(credential_id(&data[1..]));
            made += 1;
        }
        if mid_exchange {
            assert!(
                made < count,
                "kill {kill}: the stream finished before the kill"
            );
        } else {
            assert_eq!(
                made, count,
                "kill {kill}: every answer before the kill arrived"
            );
        }
        let ctx = pcsc::Context::establish(pcsc::Scope::User).expect("PC/SC context");
        wait_for_card(&ctx, &slot.reader, false, CARD_TIMEOUT).expect("the card left");
        drop(ctx);
        // The file always loads, is private, and holds every acknowledged credential.
        let image = std::fs::read(&state).expect("the state file exists");
        let loaded: State = decode_log(&image, "state").expect("the state file loads");
        for id in &acknowledged {
            assert!(
                loaded.resident.iter().any(|c| &c.credential_id == id),
                "kill {kill}: an acknowledged credential is not in the state file"
            );
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&state).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
    }
    eprintln!(
        "kill -9: {kills} kills survived, {} credentials acknowledged and kept",
        acknowledged.len()
    );
    assert!(acknowledged.len() >= kills, "the stream made progress");
}

#[test]
fn a_bad_state_file_is_refused_naming_it_and_left_alone() {
    // Needs only the bridge binary (it fails before it connects to vpcd).
    let (_dir, state) = temp_file("state.bin");
    // A real state file: start the bridge's card logic once through the library. A fresh card
    // is a record log of two commits: the fresh state, then its attestation material.
    fido_applet::CardBuilder::new(fido_applet::profile::Profile::generic())
        .storage(card_storage::records::FileLog::new(&state))
        .platform(fido_applet::platform::Platform::seeded(1))
        .build()
        .expect("a fresh card");
    let good = std::fs::read(&state).unwrap();
    // A flipped bit in the first commit, which another commit follows: not what a power cut
    // leaves (only a cut last commit is dropped, as not written).
    let mut flipped = good.clone();
    flipped[20] ^= 0x01;
    // A record log of a newer format version.
    let mut newer = good.clone();
    newer[4..6].copy_from_slice(&999u16.to_be_bytes());
    // A state file of the whole-image format with a newer schema version (valid checksum).
    let whole = fido_applet::state::legacy::encode_whole_image(
        &decode_log(&good, "state").expect("the fresh state"),
    )
    .unwrap();
    let mut newer_image = whole[..whole.len() - 32].to_vec();
    newer_image[6..8].copy_from_slice(&999u16.to_be_bytes());
    let digest = sha256(&newer_image);
    newer_image.extend_from_slice(&digest);
    for (why, bytes, cause) in [
        ("truncated header", good[..6].to_vec(), "header"),
        ("bit flip", flipped, "checksum"),
        (
            "newer log format",
            newer,
            "record log format version 999 cannot be loaded by this build (it reads version 1)",
        ),
        (
            "newer whole image",
            newer_image,
            "state schema version 999 cannot be loaded by this build (it reads version 3)",
        ),
        ("garbage", b"not a card at all".to_vec(), "not a card state"),
    ] {
        std::fs::write(&state, &bytes).unwrap();
        let out = std::process::Command::new(bridge_binary())
            .args(["run", "--vpcd", "127.0.0.1:9", "--state"])
            .arg(&state)
            .output()
            .expect("run the bridge");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{why}: the bridge started over it");
        assert!(
            err.contains(&*state.to_string_lossy()),
            "{why}: names the file: {err}"
        );
        assert!(err.contains(cause), "{why}: says why ({cause}): {err}");
        assert_eq!(
            std::fs::read(&state).unwrap(),
            bytes,
            "{why}: the file was changed"
        );
    }
}

#[test]
fn a_host_vanishing_mid_chain_or_mid_response_leaves_nothing_behind() {
    let Some((ctx, slot)) = stack_slot() else {
        return;
    };
    // A fresh card, its state file in the bridge's own directory.
    let bridge = BridgeProcess::spawn(&slot, &[]);
    bridge.wait_card(&ctx, &slot.reader);
    let message = make_credential(b"vanish");
    let get_info_short = nfc::frame(&Framing::python_fido2(), &[command::GET_INFO]).concat();
    let mut buf = vec![0u8; pcsc::MAX_BUFFER_SIZE_EXTENDED];
    for disposition in [
        pcsc::Disposition::LeaveCard,
        pcsc::Disposition::ResetCard,
        pcsc::Disposition::UnpowerCard,
    ] {
        // Mid-chain: the first part of a chained makeCredential, then the host is gone.
        let a = connect(&ctx, &slot.reader);
        let mut part = vec![0x90, 0x10, 0x80, 0x00, 100];
        part.extend_from_slice(&message[..100]);
        assert_eq!(exchange(&a, &part).unwrap().1, 0x9000);
        a.disconnect(disposition).map_err(|(_, e)| e).unwrap();
        let b = connect(&ctx, &slot.reader);
        let (data, sw) = exchange(&b, &get_info_short).unwrap();
        assert_eq!(sw, 0x9000, "{disposition:?}");
        assert_eq!(
            data.first(),
            Some(&0),
            "{disposition:?}: getInfo glued to an old chain"
        );
        b.disconnect(pcsc::Disposition::LeaveCard)
            .map_err(|(_, e)| e)
            .unwrap();

        // Mid-GET RESPONSE: a long answer half read, then the host is gone.
        let a = connect(&ctx, &slot.reader);
        let resp = a
            .transmit(&[0x80, 0x10, 0x80, 0x00, 0x01, 0x04, 0x20], &mut buf)
            .unwrap();
        assert_eq!(resp[resp.len() - 2], 0x61, "a long answer in parts");
        a.disconnect(disposition).map_err(|(_, e)| e).unwrap();
        let b = connect(&ctx, &slot.reader);
        let resp = b
            .transmit(&[0x00, 0xC0, 0x00, 0x00, 0x00], &mut buf)
            .unwrap();
        assert_eq!(
            resp,
            [0x69, 0x85],
            "{disposition:?}: the next host got the old host's answer"
        );
        // And the card works: a credential, found again.
        let (status, body) = ctap(&b, &message).unwrap();
        assert_eq!(status, 0);
        let (status, _) = ctap(&b, &get_assertion(&credential_id(&body))).unwrap();
        assert_eq!(status, 0, "{disposition:?}");
        b.disconnect(pcsc::Disposition::ResetCard)
            .map_err(|(_, e)| e)
            .unwrap();
    }
    let image = std::fs::read(&bridge.state).unwrap();
    let loaded: State = decode_log(&image, "state").expect("the state loads");
    assert_eq!(
        loaded.resident.len(),
        1,
        "the same user overwrote its credential"
    );
}

#[test]
fn a_thousand_connect_disconnect_cycles() {
    let Some((ctx, slot, mut bridge)) = stack_bridge(&[]) else {
        return;
    };
    let start = Instant::now();
    let dispositions = [
        pcsc::Disposition::ResetCard,
        pcsc::Disposition::UnpowerCard,
        pcsc::Disposition::LeaveCard,
    ];
    for i in 0..CYCLES {
        let card = match ctx.connect(&slot.reader, pcsc::ShareMode::Shared, pcsc::Protocols::ANY) {
            Ok(card) => card,
            Err(e) => panic!("cycle {i}: connect: {e}\n{}", bridge.log_text()),
        };
        let (_, sw) = exchange(&card, &hex_decode(SELECT_FIDO).unwrap())
            .unwrap_or_else(|e| panic!("cycle {i}: SELECT: {e}"));
        assert_eq!(sw, 0x9000, "cycle {i}");
        if i % 50 == 0 {
            let (status, _) = ctap(&card, &[command::GET_INFO]).unwrap();
            assert_eq!(status, 0, "cycle {i}: getInfo");
        }
        card.disconnect(dispositions[i % dispositions.len()])
            .map_err(|(_, e)| e)
            .unwrap_or_else(|e| panic!("cycle {i}: disconnect: {e}"));
    }
    assert!(bridge.try_status().is_none(), "the bridge kept running");
    let card = connect(&ctx, &slot.reader);
    let (status, body) = ctap(&card, &make_credential(b"after")).unwrap();
    assert_eq!(status, 0);
    assert_eq!(
        ctap(&card, &get_assertion(&credential_id(&body)))
            .unwrap()
            .0,
        0
    );
    eprintln!(
        "{CYCLES} connect/disconnect cycles in {:?}",
        start.elapsed()
    );
}

#[test]
fn the_bridge_converts_a_whole_image_state_file_to_records() {
    // Needs only the bridge binary: export-attestation opens the card and exits.
    let (_dir, state) = temp_file("state.bin");
    let fixture = include_bytes!("../../applet/tests/fixtures/state-v2.bin");
    std::fs::write(&state, fixture).unwrap();
    let before = fido_applet::state::legacy::decode_whole_image(fixture, "fixture").unwrap();
    let out = std::process::Command::new(bridge_binary())
        .args(["export-attestation", "--state"])
        .arg(&state)
        .output()
        .expect("run the bridge");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The same attestation root as the old state held: the card was loaded, not replaced.
    let pem = String::from_utf8_lossy(&out.stdout);
    let root = before.attestation.as_ref().expect("attestation").root_pem();
    assert_eq!(pem.trim(), root.trim());
    // The file is a record log now, private, and holds the same card.
    let converted = std::fs::read(&state).unwrap();
    assert!(converted.starts_with(b"VFCR"), "converted to a record log");
    let after = decode_log(&converted, "state").expect("the converted state loads");
    assert_eq!(after.resident.len(), before.resident.len());
    assert_eq!(after.sign_count, before.sign_count);
    assert_eq!(after.pin, before.pin);
    assert!(after.wrapping_key == before.wrapping_key);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&state).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
