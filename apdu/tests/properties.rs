//! Property tests of the wire format and the chaining runtime (ISO/IEC 7816-4 §5.1, §5.3).

use apdu::chaining::ResponseChain;
use apdu::{Applet, Card, CardConfig, Command, Response, StatusWord};
use proptest::prelude::*;

fn command() -> impl Strategy<Value = Command> {
    (
        any::<u8>(),
        any::<u8>(),
        any::<u8>(),
        any::<u8>(),
        prop::collection::vec(any::<u8>(), 0..600),
        prop::option::of(1usize..=65536),
        any::<bool>(),
    )
        .prop_map(|(cla, ins, p1, p2, data, le, extended)| Command {
            cla,
            ins,
            p1,
            p2,
            data,
            le,
            extended,
        })
}

/// Records every command it gets and answers with `reply_len` bytes.
struct Recorder {
    seen: std::sync::Arc<std::sync::Mutex<Vec<Command>>>,
    reply: Vec<u8>,
}

impl Applet for Recorder {
    fn select(&mut self, _cmd: &Command) -> Response {
        Response::ok(Vec::new())
    }
    fn process(&mut self, cmd: &Command) -> Response {
        self.seen.lock().unwrap().push(cmd.clone());
        // Only NFCCTAP_MSG-like commands (INS 10) get the long reply, so that tests can tell a
        // fresh long response from the rest of an old one.
        if cmd.ins == 0x10 {
            Response::ok(self.reply.clone())
        } else {
            Response::ok(vec![0x55])
        }
    }
}

const AID: [u8; 8] = [0xA0, 0, 0, 0x06, 0x47, 0x2F, 0, 0x01];

fn card_with(reply: Vec<u8>) -> (Card, std::sync::Arc<std::sync::Mutex<Vec<Command>>>) {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut card = Card::new(CardConfig::default());
    card.install(
        &AID,
        Box::new(Recorder {
            seen: seen.clone(),
            reply,
        }),
    );
    card.power_on();
    let select = Command::new(0, 0xA4, 4, 0)
        .with_data(AID.to_vec())
        .encode()
        .unwrap();
    assert_eq!(card.transmit(&select), vec![0x90, 0x00]);
    (card, seen)
}

proptest! {
    #[test]
    fn encode_then_decode_is_identity(cmd in command()) {
        let bytes = cmd.encode().unwrap();
        let decoded = Command::decode(&bytes).unwrap();
        // The encoder picks the short form whenever it is enough and extended was not asked for.
        let needs_extended = cmd.extended || cmd.data.len() > 255 || cmd.le.is_some_and(|ne| ne > 256);
        let expected_extended = needs_extended && (!cmd.data.is_empty() || cmd.le.is_some());
        prop_assert_eq!(decoded.extended, expected_extended);
        prop_assert_eq!(Command { extended: cmd.extended, ..decoded }, cmd.clone());
        prop_assert_eq!(Command::decode(&bytes).unwrap().encode().unwrap(), bytes);
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        match Command::decode(&bytes) {
            Ok(cmd) => prop_assert_eq!(cmd.encode().map(|b| Command::decode(&b).is_ok()), Some(true)),
            Err(sw) => prop_assert_eq!(sw, StatusWord::WRONG_LENGTH),
        }
    }

    #[test]
    fn the_card_answers_arbitrary_bytes_with_a_status_word(
        apdus in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 1..20)
    ) {
        let (mut card, _) = card_with(vec![1; 700]);
        for apdu in apdus {
            let response = card.transmit(&apdu);
            prop_assert!(response.len() >= 2);
        }
    }

    #[test]
    fn any_split_of_a_chained_command_reassembles_the_original(
        data in prop::collection::vec(any::<u8>(), 1..2000),
        cuts in prop::collection::vec(1usize..255, 1..20),
    ) {
        let (mut card, seen) = card_with(vec![0xAB]);
        let mut parts = Vec::new();
        let mut rest = data.as_slice();
        for cut in cuts.iter().cycle() {
            if rest.len() <= 255 { break; }
            let (head, tail) = rest.split_at(*cut);
            parts.push(head);
            rest = tail;
        }
        parts.push(rest);
        let last = parts.len() - 1;
        for (i, part) in parts.iter().enumerate() {
            let cla = if i == last { 0x80 } else { 0x90 };
            let mut cmd = Command::new(cla, 0x10, 0x80, 0).with_data(part.to_vec());
            if i == last { cmd = cmd.with_le(256); }
            let response = card.transmit(&cmd.encode().unwrap());
            if i == last {
                prop_assert_eq!(response, vec![0xAB, 0x90, 0x00]);
            } else {
                prop_assert_eq!(response, vec![0x90, 0x00]);
            }
        }
        let seen = seen.lock().unwrap();
        prop_assert_eq!(seen.len(), 1);
        prop_assert_eq!(&seen[0].data, &data);
        prop_assert_eq!(seen[0].cla, 0x80);
    }

    #[test]
    fn any_le_reassembles_the_original_response_through_get_response(
        reply in prop::collection::vec(any::<u8>(), 0..3000),
        le in 1usize..=256,
        cla in prop::sample::select(vec![0x00u8, 0x80]),
    ) {
        let (mut card, _) = card_with(reply.clone());
        let mut out = Vec::new();
        let mut response = card.transmit(&Command::new(0x80, 0x10, 0, 0).with_data(vec![4]).with_le(le).encode().unwrap());
        let mut rounds = 0;
        loop {
            let (data, sw) = response.split_at(response.len() - 2);
            out.extend_from_slice(data);
            prop_assert!(data.len() <= le);
            match (sw[0], sw[1]) {
                (0x90, 0x00) => break,
                (0x61, xx) => {
                    let next = if xx == 0 { 256 } else { usize::from(xx) };
                    prop_assert_eq!(next.min(256), (reply.len() - out.len()).min(256));
                    response = card.transmit(&Command::new(cla, 0xC0, 0, 0).with_le(le).encode().unwrap());
                }
                other => prop_assert!(false, "unexpected SW {:?}", other),
            }
            rounds += 1;
            prop_assert!(rounds <= 3001);
        }
        prop_assert_eq!(out, reply);
    }

    #[test]
    fn get_response_state_never_outlives_another_command(
        reply_len in 300usize..1000,
        other in prop::collection::vec(any::<u8>(), 4..20),
    ) {
        prop_assume!(other[1] != 0xC0 && other[1] != 0x10);
        let (mut card, _) = card_with(vec![7; reply_len]);
        let first = card.transmit(&[0x80, 0x10, 0, 0, 1, 4, 0]);
        prop_assert_eq!(first[first.len() - 2], 0x61);
        card.transmit(&other);
        prop_assert_eq!(card.transmit(&[0x00, 0xC0, 0, 0, 0]), vec![0x69, 0x85]);
    }
}

#[test]
fn response_chain_with_a_final_status_other_than_9000_keeps_it_for_the_last_part() {
    let mut rc = ResponseChain::default();
    let first = rc.start(
        // 9100 is a status word outside ISO 7816-4 (the CTAP NFC binding's status update).
        Response::new(vec![1; 10], StatusWord(0x9100)),
        4,
    );
    assert_eq!(first, vec![1, 1, 1, 1, 0x61, 6]);
    rc.next_part(4);
    assert_eq!(rc.next_part(4).unwrap(), vec![1, 1, 0x91, 0x00]);
}
