//! The state-file loader: `decode_image` and the applet's start-up on any bytes. The first input
//! byte chooses between a raw image (exercises the header, length and checksum checks) and a
//! payload wrapped in a valid header and checksum (exercises the postcard decoder of `State`
//! behind them). Never panics; a state that loads re-encodes into an image that loads again.
//! The same bytes also go to the record log loader (`card_storage::records`), raw and behind a
//! valid record log header: loaded or refused naming the medium, never a panic.
#![no_main]

use card_storage::records::{MemoryLog, RecordStore};
use card_storage::{MemoryStorage, Schema, decode_image, encode_image};
use fido_applet::CardBuilder;
use fido_applet::crypto::sha256;
use fido_applet::platform::Platform;
use fido_applet::profile::Profile;
use fido_applet::state::State;
use libfuzzer_sys::fuzz_target;

fn wrap(version: u16, payload: &[u8]) -> Vec<u8> {
    let mut image = b"VFCS".to_vec();
    image.extend_from_slice(&1u16.to_be_bytes());
    image.extend_from_slice(&version.to_be_bytes());
    image.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    image.extend_from_slice(payload);
    let digest = sha256(&image);
    image.extend_from_slice(&digest);
    image
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    for log in [rest.to_vec(), [&b"VFCR\x00\x01\x00\x00"[..], rest].concat()] {
        if let Err(e) = RecordStore::open(Box::new(MemoryLog::with_contents(log))) {
            assert!(e.to_string().starts_with("memory: "), "{e}");
        }
    }
    let image = match mode % 3 {
        0 => rest.to_vec(),
        1 => wrap(State::VERSION, rest),
        _ => wrap(u16::from(mode), rest),
    };
    if let Ok(state) = decode_image::<State>(&image, "fuzz") {
        let again = encode_image(&state).expect("a loaded state encodes");
        decode_image::<State>(&again, "fuzz").expect("and loads again");
    }
    // The applet's start-up over the same bytes: an error names the storage, never a panic.
    let mem = MemoryStorage::new();
    mem.set_image(Some(image));
    let card = CardBuilder::new(Profile::generic())
        .storage(mem)
        .platform(Platform::seeded(3))
        .build();
    match card {
        Ok(mut card) => {
            card.transmit(ctap_types::nfc::SELECT_FIDO.split_at(13).0);
            card.transmit(&[0x80, 0x10, 0x00, 0x00, 0x01, 0x04, 0x00]);
        }
        Err(e) => assert!(e.to_string().contains("memory"), "{e}"),
    }
});
