//! The chaining runtime (ISO/IEC 7816-4 §5.3.3 command chaining, §5.3.4 GET RESPONSE) with a
//! recording applet: never panics, never hands the applet more than the configured maximum,
//! never glues a chain to a command with another header, and every answer is well-formed.
#![no_main]

#[path = "common.rs"]
mod common;

use std::sync::{Arc, Mutex};

use apdu::{Applet, Card, CardConfig, Command, Response};
use libfuzzer_sys::fuzz_target;

const AID: [u8; 8] = ctap_types::FIDO_AID;
const MAX: usize = 1024;

struct Recorder(Arc<Mutex<Vec<Command>>>);

impl Applet for Recorder {
    fn select(&mut self, _cmd: &Command) -> Response {
        Response::ok(Vec::new())
    }
    fn process(&mut self, cmd: &Command) -> Response {
        self.0.lock().unwrap().push(cmd.clone());
        // A long answer for INS 10 (exercises GET RESPONSE), an echo otherwise.
        if cmd.ins == 0x10 {
            Response::ok((0..700u32).map(|i| i as u8).collect())
        } else {
            Response::ok(cmd.data.clone())
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut card = Card::new(CardConfig {
        extended_length: data.first().is_some_and(|b| b & 1 == 1),
        max_command_data: MAX,
        max_response_chunk: 256,
        quirks: apdu::Quirks {
            wrong_le: if data.first().is_some_and(|b| b & 2 == 2) {
                apdu::WrongLe::Correct
            } else {
                apdu::WrongLe::Chain
            },
            get_response_cla: if data.first().is_some_and(|b| b & 4 == 4) {
                apdu::GetResponseCla::InterindustryOnly
            } else {
                apdu::GetResponseCla::Any
            },
            processing_delay_ms: 0,
        },
    });
    card.install(&AID, Box::new(Recorder(seen.clone())));
    card.power_on();
    card.transmit(&common::SELECT);
    common::run(&mut card, data.get(1..).unwrap_or_default());
    for cmd in seen.lock().unwrap().iter() {
        assert!(cmd.data.len() <= MAX, "a reassembled chain over the limit");
        assert!(!cmd.is_chained(), "the applet got a chained part");
    }
});
