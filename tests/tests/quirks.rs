//! Card-quirk personas through the real stack (pcscd + vpcd + reader-bridge + the `pcsc`
//! crate): each quirk as a PC/SC host sees it, on the generic profile.

use std::time::{Duration, Instant};

use integration_tests::{BridgeProcess, Client, SELECT_FIDO, hex_encode, stack_bridge, stack_slot};

/// SELECT of the FIDO applet with Le 02: the answer ("U2F_V2") has 6 bytes.
const SELECT_LE_2: &str = "00A4040008A0000006472F000102";
/// NFCCTAP_MSG authenticatorGetInfo (CTAP 2.1 §11.3), short, Le 00.
const GET_INFO: &str = "80100000010400";
/// The same, extended (Lc 000001, Le 0000).
const GET_INFO_EXTENDED: &str = "80100000000001040000";

#[test]
fn the_default_card_is_lenient() {
    let Some((ctx, slot)) = stack_slot() else {
        return;
    };
    let bridge = BridgeProcess::spawn(&slot, &["--seed", "3"]);
    let atr = bridge.wait_card(&ctx, &slot.reader);
    assert!(
        !hex_encode(&atr).contains("738000"),
        "no card capabilities claimed: {}",
        hex_encode(&atr)
    );
    let mut client = Client::connect(&ctx, &slot.reader);
    assert_eq!(client.send(SELECT_LE_2), (b"U2".to_vec(), 0x6104), "61XX");
    assert_eq!(client.send("80C0000000"), (b"F_V2".to_vec(), 0x9000));
    let (data, sw) = client.send(GET_INFO_EXTENDED);
    assert_eq!((data[0], sw), (0x00, 0x9000), "extended length accepted");
}

#[test]
fn each_quirk_as_a_host_sees_it() {
    let Some((ctx, slot)) = stack_slot() else {
        return;
    };
    let bridge = BridgeProcess::spawn(
        &slot,
        &[
            "--seed",
            "3",
            "--quirk",
            "short-only",
            "--quirk",
            "chunk=100",
            "--quirk",
            "le-6cxx",
            "--quirk",
            "no-cla80-get-response",
            "--quirk",
            "delay=150",
        ],
    );
    let atr = bridge.wait_card(&ctx, &slot.reader);
    // ISO/IEC 7816-4 §8.1.1.2.7: card capabilities 73 80 00 80 (chaining, no extended Lc/Le)
    // after the generic profile's historical bytes.
    assert_eq!(
        hex_encode(&atr[4..atr.len() - 1]),
        "8056564649444F3273800080",
        "ATR {}",
        hex_encode(&atr)
    );
    let mut client = Client::connect(&ctx, &slot.reader);

    // A fixed processing delay on every command.
    let start = Instant::now();
    assert_eq!(
        client.send(SELECT_LE_2),
        (vec![], 0x6C06),
        "6CXX: resend with Le 06"
    );
    assert!(
        start.elapsed() >= Duration::from_millis(150),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(
        client.send("00A4040008A0000006472F000106"),
        (b"U2F_V2".to_vec(), 0x9000),
        "the repeated command gets the answer"
    );

    // Short APDUs only.
    let (data, sw) = client.send(GET_INFO_EXTENDED);
    assert_eq!((data, sw), (vec![], 0x6700));

    // 100-byte pieces; GET RESPONSE with CLA 80 refused (6E00), with CLA 00 served.
    let (data, sw) = client.send(GET_INFO);
    assert_eq!((data.len(), sw >> 8, data[0]), (100, 0x61, 0x00));
    assert_eq!(client.send("80C0000000"), (vec![], 0x6E00));
    let (data, sw) = client.send("00C0000000");
    assert!(!data.is_empty() && data.len() <= 100, "{}", data.len());
    assert!(sw == 0x9000 || sw >> 8 == 0x61, "{sw:04X}");
    assert_eq!(
        client.send(SELECT_FIDO).1,
        0x9000,
        "Le 00 asks for all of it"
    );
}

#[test]
fn a_smaller_apdu_buffer_refuses_a_longer_chain() {
    // The generic profile's buffer is 4096; 2048 is its maxMsgSize, the least allowed.
    let Some((ctx, slot, _bridge)) = stack_bridge(&["--seed", "3", "--quirk", "buffer=2048"])
    else {
        return;
    };
    let mut client = Client::connect(&ctx, &slot.reader);
    assert_eq!(client.send(SELECT_FIDO).1, 0x9000);
    let link = format!("90100000F0{}", "00".repeat(240));
    for i in 0..8 {
        assert_eq!(client.send(&link).1, 0x9000, "link {i}: 1920 bytes fit");
    }
    assert_eq!(
        client.send(&link),
        (vec![], 0x6700),
        "2160 bytes pass the 2048-byte buffer"
    );
}
