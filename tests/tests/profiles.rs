//! Card profiles through the real stack (pcscd + vpcd + reader-bridge, the `pcsc` crate): every
//! built-in profile shows its ATR and AAGUID; a short-APDU-only profile is reached through
//! command chaining and GET RESPONSE (and refuses extended APDUs); one bridge process serves two
//! independent cards in vpcd's two slots; the JSON Lines trace records it all.

use std::time::Duration;

use fido_applet::profile::Profile;
use integration_tests::{
    BridgeProcess, CARD_TIMEOUT, Client, SELECT_FIDO, Slot, context, export_attestation,
    hex_encode, skip_e2e, stack_slot, temp_file, wait_for_card,
};
use rustix::process::Signal;

/// NFCCTAP_MSG carrying authenticatorGetInfo, short APDU with Le = 256.
const GET_INFO: &str = "80100000010400";

/// Sends `hex` and follows 61xx with GET RESPONSE (CLA 00, Le as offered), as PC/SC hosts do;
/// returns the reassembled data, the final SW and how many GET RESPONSEs it took.
fn transceive(client: &mut Client, hex: &str) -> (Vec<u8>, u16, usize) {
    let (mut data, mut sw) = client.send(hex);
    let mut rounds = 0;
    while sw >> 8 == 0x61 {
        rounds += 1;
        assert!(rounds < 64, "endless 61xx");
        let (more, next) = client.send(&format!("00C00000{:02X}", sw & 0xFF));
        data.extend_from_slice(&more);
        sw = next;
    }
    (data, sw, rounds)
}

/// The AAGUID in a getInfo answer: status 00, then a CBOR map whose key 3 is a 16-byte string
/// (`03 50 <aaguid>`).
fn has_aaguid(get_info: &[u8], aaguid: &[u8; 16]) -> bool {
    let mut needle = vec![0x03, 0x50];
    needle.extend_from_slice(aaguid);
    get_info.first() == Some(&0x00) && get_info.windows(needle.len()).any(|w| w == needle)
}

/// makeCredential (0x01) for rp "example.com", user id 01 "a", ES256, as command byte + CBOR
/// (CTAP 2.1 §6.1, canonical key order).
fn make_credential_message() -> Vec<u8> {
    let mut m = vec![0x01, 0xA4, 0x01, 0x58, 0x20];
    m.extend_from_slice(&[0x11; 32]); // clientDataHash
    m.extend_from_slice(&[0x02, 0xA1, 0x62, b'i', b'd', 0x6B]);
    m.extend_from_slice(b"example.com");
    m.extend_from_slice(&[0x03, 0xA2, 0x62, b'i', b'd', 0x41, 0x01, 0x64]);
    m.extend_from_slice(b"name");
    m.extend_from_slice(&[0x61, b'a', 0x04, 0x81, 0xA2, 0x63]);
    m.extend_from_slice(b"alg");
    m.extend_from_slice(&[0x26, 0x64]);
    m.extend_from_slice(b"type");
    m.push(0x6A);
    m.extend_from_slice(b"public-key");
    m
}

fn start(slot: &Slot, profile: &str, extra: &[&str]) -> BridgeProcess {
    let mut args = vec!["--profile", profile, "--seed", "21"];
    args.extend_from_slice(extra);
    BridgeProcess::spawn(slot, &args)
}

#[test]
fn every_builtin_profile_serves_its_atr_and_aaguid() {
    let Some((ctx, slot)) = stack_slot() else {
        return;
    };
    for profile in Profile::all() {
        let mut bridge = start(&slot, &profile.id, &[]);
        let atr = wait_for_card(&ctx, &slot.reader, true, CARD_TIMEOUT)
            .unwrap_or_else(|e| panic!("{}: {e}; log:\n{}", profile.id, bridge.log_text()));
        assert_eq!(
            atr, profile.atr,
            "{}: pcscd reports the profile's ATR",
            profile.id
        );
        {
            let mut client = Client::connect(&ctx, &slot.reader);
            let (_, sw) = client.send(SELECT_FIDO);
            assert_eq!(sw, 0x9000, "{}: SELECT FIDO", profile.id);
            let (info, sw, _) = transceive(&mut client, GET_INFO);
            assert_eq!(sw, 0x9000, "{}: getInfo", profile.id);
            assert!(
                has_aaguid(&info, profile.aaguid.as_bytes()),
                "{}: getInfo names AAGUID {}: {}",
                profile.id,
                profile.aaguid_string(),
                hex_encode(&info)
            );
        }
        bridge.stop_cleanly(Signal::TERM, &ctx, &slot.reader);
    }
}

#[test]
fn a_short_apdu_card_is_reached_through_chaining_and_get_response() {
    if skip_e2e() {
        return;
    }
    let profile = Profile::builtin("hid-crescendo-c2300").expect("built in");
    assert!(
        !profile.extended_length,
        "the C2300 profile is short-APDU only"
    );
    let ctx = context();
    let slot = Slot::lease(&ctx);
    let (_dir, trace) = temp_file("trace.jsonl");
    let trace_arg = trace.to_string_lossy().into_owned();
    let mut bridge = start(&slot, &profile.id, &["--trace", &trace_arg]);
    bridge.wait_card(&ctx, &slot.reader);
    {
        let mut client = Client::connect(&ctx, &slot.reader);
        let (_, sw) = client.send(SELECT_FIDO);
        assert_eq!(sw, 0x9000);

        // Extended length is refused: 6700.
        let (_, sw) = client.send("801000000000010400");
        assert_eq!(sw, 0x6700, "extended NFCCTAP_MSG on a short-only card");

        // getInfo in one short APDU; its answer is split into 256-byte parts if longer.
        let (info, sw, _) = transceive(&mut client, GET_INFO);
        assert_eq!(sw, 0x9000);
        assert!(has_aaguid(&info, profile.aaguid.as_bytes()));

        // makeCredential (command byte + CBOR) sent as a command chain of two short APDUs
        // (CLA 90, then 80); the attestation answer comes back in 256-byte parts through GET
        // RESPONSE.
        let message = make_credential_message();
        let (part1, part2) = message.split_at(40);
        let (data, sw) = client.send(&format!("90100000{:02X}{}", part1.len(), hex_encode(part1)));
        assert_eq!(
            (data.len(), sw),
            (0, 0x9000),
            "first chained part acknowledged"
        );
        let (answer, sw, rounds) = transceive(
            &mut client,
            &format!("80100000{:02X}{}00", part2.len(), hex_encode(part2)),
        );
        assert_eq!(sw, 0x9000);
        assert_eq!(
            answer.first(),
            Some(&0x00),
            "CTAP2_OK: {}",
            hex_encode(&answer)
        );
        assert!(
            answer.len() > 512 && rounds >= 2,
            "{} bytes in {rounds} GET RESPONSEs",
            answer.len()
        );
        assert!(
            answer.windows(16).any(|w| w == profile.aaguid.as_bytes()),
            "the attested credential data names the C2300's AAGUID"
        );

        // A long response: SELECT with Le = 1 leaves the rest for GET RESPONSE.
        let (head, sw) = client.send("00A4040008A0000006472F000101");
        assert_eq!((head.len(), sw >> 8), (1, 0x61));
        let (_, sw) = client.send(&format!("00C00000{:02X}", sw & 0xFF));
        assert_eq!(sw, 0x9000);
    }
    bridge.stop_cleanly(Signal::TERM, &ctx, &slot.reader);

    // The trace has every exchange as a JSON line, with chained parts and GET RESPONSE.
    let text = std::fs::read_to_string(&trace).expect("trace file");
    let commands: Vec<String> = text
        .lines()
        .filter(|l| l.contains(r#""event":"apdu""#))
        .filter_map(|l| {
            let start = l.find(r#""c":""#)? + 5;
            Some(l[start..].split('"').next()?.to_owned())
        })
        .collect();
    let first_apdu = text
        .lines()
        .position(|l| l.contains(r#""event":"apdu""#))
        .expect("exchanges traced");
    assert!(
        text.lines()
            .take(first_apdu)
            .any(|l| l.contains(r#""event":"power_on""#)),
        "the card is powered before the first exchange:\n{text}"
    );
    assert!(
        commands.iter().any(|c| c.starts_with("90100000")),
        "{commands:?}"
    );
    assert!(
        commands.iter().any(|c| c.starts_with("00C00000")),
        "{commands:?}"
    );
    assert!(
        text.lines()
            .all(|l| l.starts_with(r#"{"t_ms":"#) && l.contains(r#""slot":"#))
    );
    // No response APDU of a short-only card carries more than 256 data bytes + SW.
    for line in text.lines().filter(|l| l.contains(r#""r":""#)) {
        let r = line
            .rsplit(r#""r":""#)
            .next()
            .and_then(|t| t.split('"').next());
        assert!(r.is_some_and(|r| r.len() <= 2 * 258), "{line}");
    }
}

#[test]
fn two_cards_in_one_process_are_independent() {
    if skip_e2e() {
        return;
    }
    let ctx = context();
    let first = Slot::lease(&ctx);
    let second = Slot::lease(&ctx);
    let a = Profile::builtin("hid-crescendo-c3000").expect("built in");
    let b = Profile::builtin("thales-idprime-3940").expect("built in");
    let dir = tempfile::tempdir().expect("temp dir");
    let trace = dir.path().join("trace.jsonl");
    let states = dir.path().join("states");
    std::fs::create_dir_all(&states).expect("state directory");
    let (state_a, state_b) = (states.join("state-0.bin"), states.join("state-1.bin"));
    let second_vpcd = second.vpcd();
    let trace_arg = trace.to_string_lossy().into_owned();
    // The harness passes --vpcd <first> --state <file>; a second --vpcd and a state directory
    // make it two cards, profiles matched by position.
    let mut bridge = BridgeProcess::spawn_with_state(
        &first.vpcd(),
        tempfile::tempdir().expect("log dir"),
        states.clone(),
        &[
            "--vpcd",
            &second_vpcd,
            "--profile",
            &a.id,
            "--profile",
            &b.id,
            "--seed",
            "5",
            "--trace",
            &trace_arg,
        ],
    );
    let atr_a = wait_for_card(&ctx, &first.reader, true, CARD_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}; log:\n{}", bridge.log_text()));
    let atr_b = wait_for_card(&ctx, &second.reader, true, CARD_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}; log:\n{}", bridge.log_text()));
    assert_eq!(atr_a, a.atr, "card 0 is the C3000");
    assert_eq!(atr_b, b.atr, "card 1 is the IDPrime");
    {
        let mut ca = Client::connect(&ctx, &first.reader);
        let mut cb = Client::connect(&ctx, &second.reader);
        // Interleaved: a SELECT on one card does not select the other's applet, and a pending
        // long response on one survives an exchange on the other.
        assert_eq!(ca.send(SELECT_FIDO).1, 0x9000);
        let (_, sw) = cb.send("80100000010400");
        assert!(
            matches!(sw, 0x6D00 | 0x6E00),
            "card 1: nothing selected yet: {sw:04X}"
        );
        let (head, sw) = ca.send("00A4040008A0000006472F000101");
        assert_eq!((head.len(), sw >> 8), (1, 0x61));
        assert_eq!(cb.send(SELECT_FIDO).1, 0x9000);
        let (_, sw_rest) = ca.send(&format!("00C00000{:02X}", sw & 0xFF));
        assert_eq!(
            sw_rest, 0x9000,
            "card 0's GET RESPONSE unaffected by card 1"
        );
        let (info_a, _, _) = transceive(&mut ca, GET_INFO);
        let (info_b, _, _) = transceive(&mut cb, GET_INFO);
        assert!(
            has_aaguid(&info_a, a.aaguid.as_bytes()) && !has_aaguid(&info_a, b.aaguid.as_bytes())
        );
        assert!(
            has_aaguid(&info_b, b.aaguid.as_bytes()) && !has_aaguid(&info_b, a.aaguid.as_bytes())
        );
    }
    let status = bridge.signal_and_wait(Signal::TERM, Duration::from_secs(10));
    assert!(
        status.success(),
        "SIGTERM stops both cards, exit 0: {status}"
    );
    wait_for_card(&ctx, &first.reader, false, CARD_TIMEOUT).expect("card 0 removed");
    wait_for_card(&ctx, &second.reader, false, CARD_TIMEOUT).expect("card 1 removed");

    // Each card has its own state file, with its own attestation root.
    let root = |profile: &str, state| export_attestation(state, &["--profile", profile]);
    assert_ne!(root(&a.id, &state_a), root(&b.id, &state_b));

    // One trace, both slots.
    let text = std::fs::read_to_string(&trace).expect("trace");
    assert!(text.contains(r#""slot":0,"event":"apdu""#), "{text}");
    assert!(text.contains(r#""slot":1,"event":"apdu""#), "{text}");
}
