//! NFCCTAP_GETRESPONSE and `91 00` status updates (CTAP 2.1 §11.3) through the APDU interface.
//!
//! The card is sans-IO, so "a command that takes longer than the processing budget" is made
//! deterministic with a clock that advances at every reading ([`TickingClock`]): the binding
//! times each NFCCTAP_MSG on the platform clock and holds the finished answer behind `91 00`
//! when the client allowed it (P1 = 80) and the budget was exceeded.

#[allow(dead_code)] // each test file is its own crate and uses only part of the shared host
mod host;

use fido_applet::platform::PresencePolicy;
use fido_applet::profile::Profile;
use host::*;

const POLL: &str = "80110000";
const CANCEL: &str = "80111100";

/// A profile with a 1 ms budget and a card whose every clock reading advances 5 ms: every
/// command is "slow".
fn slow_card() -> Tester {
    let mut p = Profile::generic();
    p.processing_budget_ms = 1;
    Tester::with_ticking_clock(p, 5)
}

fn make_credential_message() -> Vec<u8> {
    let mut m = vec![0x01];
    m.extend_from_slice(&ctap_types::cbor::Value::Map(mc("example.com", b"u", false)).to_vec());
    m
}

#[test]
fn a_slow_command_answers_9100_then_the_poll_delivers() {
    let mut t = slow_card();
    // makeCredential tests user presence: status UP needed.
    let (data, sw) = t.nfcctap_msg_p1(0x80, &make_credential_message());
    assert_eq!((data.as_slice(), sw), (&[0x02][..], 0x9100));
    let (data, sw) = t.transmit(&hex(POLL));
    assert_eq!(sw, 0x9000);
    let v = Tester::ctap_answer(&data).expect("a credential");
    assert!(ctap_types::cbor::IntMap::new(&v).unwrap().get(2).is_some());
    // Released once.
    assert_eq!(t.transmit(&hex(POLL)).1, 0x6985);
    // getInfo does not test presence: status processing.
    let (data, sw) = t.nfcctap_msg_p1(0x80, &[0x04]);
    assert_eq!((data.as_slice(), sw), (&[0x01][..], 0x9100));
    let (data, sw) = t.transmit(&hex(POLL));
    assert_eq!(sw, 0x9000);
    assert!(Tester::ctap_answer(&data).is_ok());
}

#[test]
fn never_9100_to_p1_00() {
    let mut t = slow_card();
    let (data, sw) = t.nfcctap_msg_p1(0x00, &make_credential_message());
    assert_eq!(sw, 0x9000);
    assert!(Tester::ctap_answer(&data).is_ok());
    assert_eq!(t.transmit(&hex(POLL)).1, 0x6985, "nothing held");
}

#[test]
fn fast_commands_and_a_zero_budget_answer_at_once() {
    // Budget 1 ms, but the card's clock does not move: nothing took longer.
    let mut p = Profile::generic();
    p.processing_budget_ms = 1;
    let mut t = Tester::with_profile(p);
    let (data, sw) = t.nfcctap_msg_p1(0x80, &make_credential_message());
    assert_eq!(sw, 0x9000);
    assert!(Tester::ctap_answer(&data).is_ok());
    // Budget 0 means "never", however slow.
    let mut p = Profile::generic();
    p.processing_budget_ms = 0;
    let mut t = Tester::with_ticking_clock(p, 5);
    assert_eq!(t.nfcctap_msg_p1(0x80, &make_credential_message()).1, 0x9000);
    // The generic profile's budget (1 s) is not reached by 5 ms ticks.
    let mut t = Tester::with_ticking_clock(Profile::generic(), 5);
    assert_eq!(t.nfcctap_msg_p1(0x80, &[0x04]).1, 0x9000);
}

#[test]
fn cancel_drops_the_held_answer() {
    let mut t = slow_card();
    assert_eq!(t.nfcctap_msg_p1(0x80, &make_credential_message()).1, 0x9100);
    let (data, sw) = t.transmit(&hex(CANCEL));
    assert_eq!((data.as_slice(), sw), (&[KEEPALIVE_CANCEL][..], 0x9000));
    assert_eq!(t.transmit(&hex(POLL)).1, 0x6985);
    assert_eq!(t.transmit(&hex(CANCEL)).1, 0x6985, "nothing left to cancel");
}

#[test]
fn any_other_command_or_session_end_drops_the_held_answer() {
    let mut t = slow_card();
    assert_eq!(t.nfcctap_msg_p1(0x80, &[0x04]).1, 0x9100);
    assert_eq!(t.nfcctap_msg_p1(0x00, &[0x04]).1, 0x9000);
    assert_eq!(t.transmit(&hex(POLL)).1, 0x6985);

    assert_eq!(t.nfcctap_msg_p1(0x80, &[0x04]).1, 0x9100);
    t.select();
    assert_eq!(t.transmit(&hex(POLL)).1, 0x6985);

    assert_eq!(t.nfcctap_msg_p1(0x80, &[0x04]).1, 0x9100);
    t.power_cycle();
    assert_eq!(t.transmit(&hex(POLL)).1, 0x6985);

    // A host probe (GET DATA) in between.
    assert_eq!(t.nfcctap_msg_p1(0x80, &[0x04]).1, 0x9100);
    assert_eq!(t.transmit(&hex("00CA7F6800")).1, 0x6D00);
    assert_eq!(t.transmit(&hex(POLL)).1, 0x6985);
}

#[test]
fn getresponse_errors() {
    let mut t = slow_card();
    assert_eq!(t.transmit(&hex(POLL)).1, 0x6985, "nothing pending");
    assert_eq!(t.nfcctap_msg_p1(0x80, &[0x04]).1, 0x9100);
    assert_eq!(t.transmit(&hex("80112200")).1, 0x6A86);
    // The bad poll was another command only if it reached the binding; it did, as
    // NFCCTAP_GETRESPONSE, so the answer is still held.
    assert_eq!(t.transmit(&hex("80110001")).1, 0x6A86);
    assert_eq!(t.transmit(&hex(POLL)).1, 0x9000);
}

#[test]
fn errors_are_held_too() {
    let mut p = Profile::generic();
    p.processing_budget_ms = 1;
    let mut t = Tester::with_ticking_clock_and_presence(p, 5, PresencePolicy::Deny);
    let (data, sw) = t.nfcctap_msg_p1(0x80, &make_credential_message());
    assert_eq!((data.as_slice(), sw), (&[0x02][..], 0x9100));
    let (data, sw) = t.transmit(&hex(POLL));
    assert_eq!((data.as_slice(), sw), (&[OPERATION_DENIED][..], 0x9000));
}

#[test]
fn a_long_held_answer_comes_through_get_response() {
    let mut t = slow_card();
    assert_eq!(t.nfcctap_msg_p1(0x80, &make_credential_message()).1, 0x9100);
    // A short poll with Le: the answer (with its attestation certificate) is longer than 256.
    let first = t.card.transmit(&hex("8011000000"));
    assert_eq!(first.len(), 258);
    assert_eq!(first[256], 0x61);
    let mut data = first[..256].to_vec();
    loop {
        let next = t.card.transmit(&hex("80C0000000"));
        let (part, sw) = next.split_at(next.len() - 2);
        data.extend_from_slice(part);
        if sw[0] != 0x61 {
            assert_eq!(sw, [0x90, 0x00]);
            break;
        }
    }
    assert!(Tester::ctap_answer(&data).is_ok());
}
