//! Shared by the card-level targets: a card built from one fresh state image (generated once,
//! so every input starts from the same card), and a reader of APDU sequences with power events.

#![allow(dead_code)]

use std::sync::OnceLock;

use apdu::Card;
use card_storage::MemoryStorage;
use fido_applet::CardBuilder;
use fido_applet::platform::Platform;
use fido_applet::profile::Profile;

/// SELECT of the FIDO applet (CTAP 2.1 §11.3.1), without Le.
pub const SELECT: &[u8] = ctap_types::nfc::SELECT_FIDO.split_at(13).0;

fn fresh_image() -> &'static [u8] {
    static IMAGE: OnceLock<Vec<u8>> = OnceLock::new();
    IMAGE.get_or_init(|| {
        let mem = MemoryStorage::new();
        CardBuilder::new(Profile::generic())
            .storage(mem.clone())
            .platform(Platform::seeded(1))
            .build()
            .expect("a fresh card");
        mem.image().expect("a fresh card commits its state")
    })
}

/// A powered card with the FIDO applet selected, on its own copy of the fresh image.
pub fn card() -> (Card, MemoryStorage) {
    let mem = MemoryStorage::new();
    mem.set_image(Some(fresh_image().to_vec()));
    let mut card = CardBuilder::new(Profile::generic())
        .storage(mem.clone())
        .platform(Platform::seeded(2))
        .build()
        .expect("the card loads its image");
    let resp = card.transmit(&SELECT);
    assert_eq!(&resp[resp.len() - 2..], &[0x90, 0x00]);
    (card, mem)
}

/// Splits fuzz input into steps: a length byte then that many APDU bytes; length bytes 0xFD,
/// 0xFE and 0xFF are a warm reset, a power cycle and a re-SELECT instead.
pub enum Step<'a> {
    Apdu(&'a [u8]),
    Reset,
    PowerCycle,
    Select,
}

pub fn steps(mut data: &[u8]) -> Vec<Step<'_>> {
    let mut out = Vec::new();
    while let Some((&len, rest)) = data.split_first() {
        match len {
            0xFD => out.push(Step::Reset),
            0xFE => out.push(Step::PowerCycle),
            0xFF => out.push(Step::Select),
            n => {
                let n = usize::from(n).min(rest.len());
                let (apdu, tail) = rest.split_at(n);
                out.push(Step::Apdu(apdu));
                data = tail;
                continue;
            }
        }
        data = rest;
    }
    out
}

/// Runs the steps on `card`, checking that every answer is a well-formed response APDU.
pub fn run(card: &mut Card, data: &[u8]) {
    for step in steps(data) {
        match step {
            Step::Apdu(apdu) => {
                let resp = card.transmit(apdu);
                assert!(resp.len() >= 2, "every answer has a status word");
                assert!(resp.len() <= 65535 + 2, "an answer fits vpcd");
            }
            Step::Reset => card.reset(),
            Step::PowerCycle => {
                card.power_off();
                card.power_on();
            }
            Step::Select => {
                card.transmit(&SELECT);
            }
        }
    }
}

/// A card on `mem` as it is (the power-up after a session).
pub fn card_on(mem: &MemoryStorage) -> Card {
    CardBuilder::new(Profile::generic())
        .storage(mem.clone())
        .platform(Platform::seeded(4))
        .build()
        .expect("a committed state loads")
}
