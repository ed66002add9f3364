//! Every CTAP request decoder, through the card's NFCCTAP_MSG path (CTAP 2.1 §11.3): the input
//! is a CTAP message (command byte || CBOR parameters). The answer is always SW 9000 with a
//! status byte; an error carries no CBOR; a success carries one well-formed CBOR item.
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.is_empty() || data.len() > 65535 {
        return;
    }
    let (mut card, _mem) = common::card();
    let mut apdu = vec![0x80, 0x10, 0x00, 0x00, 0x00];
    apdu.extend_from_slice(&(data.len() as u16).to_be_bytes());
    apdu.extend_from_slice(data);
    apdu.extend_from_slice(&[0x00, 0x00]);
    let resp = card.transmit(&apdu);
    let (body, sw) = resp.split_at(resp.len() - 2);
    assert_eq!(sw, [0x90, 0x00], "CTAP answers travel in 9000");
    let (&status, cbor) = body.split_first().expect("a status byte");
    if status != 0 {
        assert!(cbor.is_empty(), "an error carries no CBOR");
    } else if !cbor.is_empty() {
        let value = ctap_types::cbor::parse(cbor).expect("a success carries CBOR");
        assert_eq!(value.to_vec(), cbor, "answers are canonical CBOR");
    }
});
