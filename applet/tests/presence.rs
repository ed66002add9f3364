//! User presence under the `manual` and `wait MS` policies ([`fido_applet::presence`]) through
//! the APDU interface: NFCCTAP_GETRESPONSE polling with `91 00` UP_NEEDED (CTAP 2.1 §11.3), the
//! driver-held answer for clients that send P1 = 00, CTAP2_ERR_USER_ACTION_TIMEOUT and
//! CTAP2_ERR_OPERATION_DENIED (§6.1.2 step 14, §6.2.2 step 9, §6.6), U2F's 6985-then-retry (U2F
//! Raw Message Formats §4.3, §5.4), and that a command waiting for the user writes nothing.
//! Time is the card's [`fido_applet::platform::ManualClock`], so every timeout is exact.

#[allow(dead_code)] // each test file is its own crate and uses only part of the shared host
mod host;

use ctap_types::cbor::Value;
use fido_applet::platform::{Clock, PresencePolicy};
use fido_applet::presence::Outcome;
use fido_applet::profile::Profile;
use fido_host::u2f;
use host::*;

const POLL: &str = "80110000";
const CANCEL: &str = "80111100";
const UP_NEEDED: u8 = ctap_types::nfc::status::UP_NEEDED;
const USER_ACTION_TIMEOUT: u8 = ctap_types::CtapError::UserActionTimeout.code();

fn card(policy: PresencePolicy) -> Tester {
    Tester::with_presence(Profile::generic(), policy)
}

fn mc_message(rp: &str, rk: bool) -> Vec<u8> {
    let mut m = vec![0x01];
    m.extend_from_slice(&Value::Map(mc(rp, b"user", rk)).to_vec());
    m
}

fn ga_message(rp: &str, id: &[u8]) -> Vec<u8> {
    let mut m = vec![0x02];
    m.extend_from_slice(&Value::Map(ga(rp, &[id])).to_vec());
    m
}

fn image(t: &Tester) -> Vec<u8> {
    t.storage().image().expect("a committed state")
}

/// Whether the card waits for the user (the gate's request is undecided at the card's time).
fn waiting(t: &Tester) -> bool {
    let now = t.clock.now_ms();
    t.gate.pending(now).is_some_and(|p| p.decided.is_none())
}

/// Sends `message` in an NFCCTAP_MSG with P1 `p1`: the card answers 91 00 UP_NEEDED (CTAP 2.1
/// §11.3.2) and waits for the user.
fn send_and_wait(t: &mut Tester, p1: u8, message: &[u8]) {
    let (data, sw) = t.nfcctap_msg_p1(p1, message);
    assert_eq!((data.as_slice(), sw), (&[UP_NEEDED][..], 0x9100));
    assert!(waiting(t));
}

fn outcomes(t: &Tester) -> Vec<Option<Outcome>> {
    t.gate.take_events().iter().map(|e| e.outcome).collect()
}

#[test]
fn manual_status_updates_until_touched_and_nothing_is_written_meanwhile() {
    let mut t = card(PresencePolicy::Manual);
    let before = image(&t);
    send_and_wait(&mut t, 0x80, &mc_message("example.com", true));
    for _ in 0..3 {
        t.clock.advance(100);
        let (data, sw) = t.transmit(&hex(POLL));
        assert_eq!((data.as_slice(), sw), (&[UP_NEEDED][..], 0x9100));
    }
    assert_eq!(
        image(&t),
        before,
        "a command waiting for the user writes nothing"
    );
    assert_eq!(t.gate.pending(0).map(|p| p.request), Some("makeCredential"));

    assert!(t.gate.touch());
    assert!(!waiting(&t), "decided");
    let (data, sw) = t.transmit(&hex(POLL));
    assert_eq!(sw, 0x9000);
    let reg = Registration::parse(&Tester::ctap_answer(&data).expect("a credential"));
    assert_ne!(
        image(&t),
        before,
        "the resident credential is stored after the touch"
    );
    assert_eq!(t.state().resident.len(), 1);
    assert_eq!(t.transmit(&hex(POLL)).1, 0x6985, "answered once");
    assert!(t.gate.pending(0).is_none());
    assert_eq!(outcomes(&t), [None, Some(Outcome::Granted)]);

    // getAssertion waits too; the counter does not move until the touch.
    let count = t.state().sign_count;
    let ga = ga_message("example.com", &reg.credential_id);
    assert_eq!(t.nfcctap_msg_p1(0x80, &ga).1, 0x9100);
    assert_eq!(t.transmit(&hex(POLL)).1, 0x9100);
    assert_eq!(t.state().sign_count, count);
    assert!(t.gate.touch());
    let (data, sw) = t.transmit(&hex(POLL));
    assert_eq!(sw, 0x9000);
    let assertion = Assertion::parse(&Tester::ctap_answer(&data).expect("an assertion"));
    assert_ne!(assertion.flags() & FLAG_UP, 0);
    assert_eq!(t.state().sign_count, count + 1);
}

#[test]
fn a_client_without_status_updates_gets_a_driver_held_answer() {
    let mut t = card(PresencePolicy::Manual);
    let before = image(&t);
    // P1 = 00: the 91 00 is for the driver, which must not forward it.
    send_and_wait(&mut t, 0x00, &mc_message("example.com", false));
    assert_eq!(
        t.gate.remaining_ms(t.clock.now_ms()),
        None,
        "manual: no deadline"
    );
    // The driver's poll while undecided keeps waiting.
    assert_eq!(t.transmit(&hex(POLL)).1, 0x9100);
    assert_eq!(image(&t), before);
    assert!(t.gate.touch());
    let (data, sw) = t.transmit(&hex(POLL));
    assert_eq!(sw, 0x9000);
    assert!(Tester::ctap_answer(&data).is_ok());
}

#[test]
fn wait_times_out_with_user_action_timeout() {
    let mut t = card(PresencePolicy::Wait(300));
    let before = image(&t);
    assert_eq!(
        t.nfcctap_msg_p1(0x80, &mc_message("example.com", true)).1,
        0x9100
    );
    assert_eq!(t.gate.remaining_ms(t.clock.now_ms()), Some(300));
    t.clock.advance(299);
    assert_eq!(t.transmit(&hex(POLL)).1, 0x9100, "not yet");
    assert_eq!(t.gate.remaining_ms(t.clock.now_ms()), Some(1));
    t.clock.advance(1);
    let (data, sw) = t.transmit(&hex(POLL));
    assert_eq!((data.as_slice(), sw), (&[USER_ACTION_TIMEOUT][..], 0x9000));
    assert!(
        !t.gate.touch(),
        "a touch after the timeout counts for nothing"
    );
    assert_eq!(image(&t), before);
    assert_eq!(outcomes(&t), [None, Some(Outcome::TimedOut)]);

    // The driver-held path times out the same way.
    assert_eq!(
        t.nfcctap_msg_p1(0x00, &mc_message("example.com", true)).1,
        0x9100
    );
    t.clock.advance(1000);
    assert!(!waiting(&t), "decided: timed out");
    let (data, _) = t.transmit(&hex(POLL));
    assert_eq!(data, [USER_ACTION_TIMEOUT]);

    // Touched in time: granted.
    assert_eq!(
        t.nfcctap_msg_p1(0x80, &mc_message("example.com", true)).1,
        0x9100
    );
    t.clock.advance(200);
    assert!(t.gate.touch());
    let (data, _) = t.transmit(&hex(POLL));
    assert!(Tester::ctap_answer(&data).is_ok());
}

#[test]
fn deny_and_policy_changes_decide_a_waiting_command() {
    let mut t = card(PresencePolicy::Deny);
    let (data, sw) = t.nfcctap_msg_p1(0x80, &mc_message("example.com", true));
    assert_eq!((data.as_slice(), sw), (&[OPERATION_DENIED][..], 0x9000));

    t.gate.set_policy(PresencePolicy::Manual);
    let before = image(&t);
    assert_eq!(
        t.nfcctap_msg_p1(0x80, &mc_message("example.com", true)).1,
        0x9100
    );
    t.gate.set_policy(PresencePolicy::Deny);
    let (data, _) = t.transmit(&hex(POLL));
    assert_eq!(data, [OPERATION_DENIED]);
    assert_eq!(image(&t), before);

    t.gate.set_policy(PresencePolicy::Manual);
    assert_eq!(
        t.nfcctap_msg_p1(0x80, &mc_message("example.com", true)).1,
        0x9100
    );
    t.gate.set_policy(PresencePolicy::Auto);
    let (data, _) = t.transmit(&hex(POLL));
    assert!(
        Tester::ctap_answer(&data).is_ok(),
        "auto approves the waiting request"
    );
}

#[test]
fn cancel_another_command_or_power_loss_ends_the_wait_without_writing() {
    let mut t = card(PresencePolicy::Manual);
    let before = image(&t);
    let msg = mc_message("example.com", true);

    assert_eq!(t.nfcctap_msg_p1(0x80, &msg).1, 0x9100);
    let (data, sw) = t.transmit(&hex(CANCEL));
    assert_eq!((data.as_slice(), sw), (&[KEEPALIVE_CANCEL][..], 0x9000));
    assert_eq!(t.transmit(&hex(POLL)).1, 0x6985);

    assert_eq!(t.nfcctap_msg_p1(0x80, &msg).1, 0x9100);
    assert_eq!(
        t.nfcctap_msg_p1(0x00, &[0x04]).1,
        0x9000,
        "getInfo needs no presence"
    );
    assert_eq!(t.transmit(&hex(POLL)).1, 0x6985);
    assert!(!t.gate.touch(), "the request went with its command");

    assert_eq!(t.nfcctap_msg_p1(0x80, &msg).1, 0x9100);
    t.power_cycle();
    assert!(t.gate.pending(0).is_none());
    assert_eq!(t.transmit(&hex(POLL)).1, 0x6985);

    assert_eq!(t.nfcctap_msg_p1(0x80, &msg).1, 0x9100);
    t.select();
    assert!(t.gate.pending(0).is_none());

    assert_eq!(image(&t), before, "nothing was written");
    assert_eq!(
        outcomes(&t),
        [
            None,
            Some(Outcome::Cancelled),
            None,
            Some(Outcome::Abandoned),
            None,
            Some(Outcome::Abandoned),
            None,
            Some(Outcome::Abandoned),
        ]
    );
}

#[test]
fn touch_with_nothing_pending_is_refused_and_not_remembered() {
    let mut t = card(PresencePolicy::Manual);
    assert!(!t.gate.touch());
    assert_eq!(
        t.nfcctap_msg_p1(0x80, &mc_message("example.com", true)).1,
        0x9100,
        "an earlier touch does not approve a later request"
    );
}

#[test]
fn reset_waiting_for_the_user_keeps_its_arrival_time() {
    let mut t = card(PresencePolicy::Auto);
    t.register("example.com", b"user", None);
    t.gate.set_policy(PresencePolicy::Manual);
    t.power_cycle();
    t.clock.advance(1000);
    assert_eq!(t.nfcctap_msg_p1(0x80, &[0x07]).1, 0x9100);
    // The user takes longer than the 10-second window (§6.6) to touch: the request arrived
    // within it, so the reset goes ahead.
    t.clock.advance(15_000);
    assert_eq!(t.transmit(&hex(POLL)).1, 0x9100);
    assert_eq!(t.state().resident.len(), 1);
    assert!(t.gate.touch());
    let (data, _) = t.transmit(&hex(POLL));
    assert_eq!(data, [OK]);
    assert!(t.state().resident.is_empty());
    // A reset arriving after the window is refused before presence is asked.
    assert_eq!(t.nfcctap_msg_p1(0x80, &[0x07]).0, [NOT_ALLOWED]);
    assert!(t.gate.pending(0).is_none());
}

#[test]
fn selection_and_the_pin_probe_wait_too() {
    let mut t = card(PresencePolicy::Manual);
    // authenticatorSelection (§6.9).
    assert_eq!(t.nfcctap_msg_p1(0x80, &[0x0B]).1, 0x9100);
    assert!(t.gate.touch());
    assert_eq!(t.transmit(&hex(POLL)).0, [OK]);
    // A zero-length pinUvAuthParam: touch, then "no PIN set" (§6.1.2 step 1).
    let probe = with(mc("example.com", b"u", false), 8, Value::Bytes(vec![]));
    let mut m = vec![0x01];
    m.extend_from_slice(&probe.to_vec());
    assert_eq!(t.nfcctap_msg_p1(0x80, &m).1, 0x9100);
    assert!(t.gate.touch());
    assert_eq!(t.transmit(&hex(POLL)).0, [PIN_NOT_SET]);
}

#[test]
fn u2f_answers_6985_until_touched_then_the_retry_succeeds() {
    let mut t = card(PresencePolicy::Manual);
    let application = [0xA5; 32];
    let challenge = [0xC4; 32];
    let register = u2f::register_apdu(&challenge, &application);
    let before = image(&t);
    assert_eq!(t.transmit(&register).1, 0x6985);
    assert_eq!(t.transmit(&register).1, 0x6985, "the retry still waits");
    assert_eq!(t.gate.pending(0).map(|p| p.request), Some("U2F_REGISTER"));
    assert_eq!(image(&t), before);
    assert!(t.gate.touch());
    let (resp, sw) = t.transmit(&register);
    assert_eq!(sw, 0x9000);
    assert_eq!(resp[0], 0x05);
    let handle = resp[67..67 + usize::from(resp[66])].to_vec();

    let authenticate = |control| u2f::authenticate_apdu(control, &challenge, &application, &handle);
    let enforce = authenticate(0x03);
    let count = t.state().sign_count;
    assert_eq!(t.transmit(&enforce).1, 0x6985);
    assert_eq!(t.state().sign_count, count, "no counter step while waiting");
    // Another command in between drops the request: the old touch would not count.
    assert_eq!(t.transmit(&hex("00030000")).1, 0x9000);
    assert!(!t.gate.touch());
    assert_eq!(t.transmit(&enforce).1, 0x6985);
    assert!(t.gate.touch());
    let (resp, sw) = t.transmit(&enforce);
    assert_eq!((resp[0], sw), (0x01, 0x9000), "user present");

    // "Don't enforce" never waits: signed without the presence bit.
    let (resp, sw) = t.transmit(&authenticate(0x08));
    assert_eq!((resp[0], sw), (0x00, 0x9000));
    assert!(t.gate.pending(0).is_none());

    // wait MS: 6985 while waiting and after the timeout; a later retry waits anew.
    t.gate.set_policy(PresencePolicy::Wait(100));
    assert_eq!(t.transmit(&enforce).1, 0x6985);
    t.clock.advance(100);
    assert_eq!(t.transmit(&enforce).1, 0x6985);
    assert!(t.gate.pending(0).is_none(), "timed out");
    assert_eq!(t.transmit(&enforce).1, 0x6985);
    assert!(t.gate.touch());
    assert_eq!(t.transmit(&enforce).1, 0x9000);
}

#[test]
fn a_chained_short_command_waits_and_its_answer_comes_in_parts() {
    let mut t = card(PresencePolicy::Manual);
    // python-fido2's framing: 250-byte chaining with CLA 90, NFCCTAP_MSG P1 80.
    let mut req = mc("example.com", b"user", true);
    req = set(
        req,
        3,
        map(vec![
            (text("id"), Value::Bytes(vec![0x55; 64])),
            (text("name"), text(&"n".repeat(200))),
        ]),
    );
    let mut message = vec![0x01];
    message.extend_from_slice(&Value::Map(req).to_vec());
    assert!(message.len() > 250);
    let framing = fido_host::nfc::Framing::python_fido2();
    let apdus = fido_host::nfc::frame(&framing, &message);
    let (last, chained) = apdus.split_last().expect("APDUs");
    for apdu in chained {
        assert_eq!(t.transmit(apdu).1, 0x9000);
    }
    assert_eq!(t.transmit(last).1, 0x9100);
    assert!(t.gate.touch());
    // A short poll: the answer (with its certificate) is longer than 256 bytes; `transmit`
    // follows the 61xx parts with GET RESPONSE.
    let (data, sw) = t.transmit(&hex("8011000000"));
    assert_eq!(sw, 0x9000);
    assert!(data.len() > 256);
    assert!(Tester::ctap_answer(&data).is_ok());
}
