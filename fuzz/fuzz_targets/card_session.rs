//! The whole card through its only data path, `Card::transmit`: sequences of APDUs (chained or
//! not, GET RESPONSE with any Le, CTAP messages, garbage) with warm resets, power cycles and
//! re-selections in between. Never panics; every answer is a well-formed response APDU; the state
//! still loads afterwards.
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (mut card, mem) = common::card();
    common::run(&mut card, data);
    drop(card);
    // Whatever was committed loads again (the card was pulled and tapped).
    let _ = common::card_on(&mem);
});
