//! The state-file loader on any bytes: the record log loader (`card_storage::records`), the
//! applet's decoders of its records (`fido_applet::state::records`), the conversion of a state
//! in the whole-image format of earlier builds (`fido_applet::state::legacy`), and the applet's
//! start-up over them. The first input byte chooses what the rest becomes:
//!
//! - 0: the medium's bytes as they are (a record log, a whole image, anything);
//! - 1: a payload behind a valid whole-image header (schema version 2) and checksum: the
//!   postcard decoder of the old layout behind them;
//! - 2: records in a valid log (header, one commit with a right digest), each `selector, length,
//!   value` from the input: the decoders of the applet's records behind the log's checks;
//! - 3: a payload behind a whole-image header of another schema version.
//!
//! Never panics; an error names the storage; a state that loads encodes into a log that loads
//! again into the same records.
#![no_main]

use card_storage::records::{Change, RecordStore};
use card_storage::{MemoryStorage, StorageError};
use fido_applet::CardBuilder;
use fido_applet::crypto::sha256;
use fido_applet::platform::Platform;
use fido_applet::profile::Profile;
use fido_applet::state::records::{self, all_records};
use fido_applet::state::{decode_log, encode_log};
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

/// A record log of the records described by `input`: `selector, length, value` each.
fn log_of(mut input: &[u8]) -> Vec<u8> {
    let singletons = [
        records::WRAPPING_KEY,
        records::ATTESTATION,
        records::COUNTERS,
        records::PIN,
        records::LARGE_BLOBS,
        records::CONFIG,
    ];
    let mut owned: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    while let [selector, len, rest @ ..] = input {
        let len = usize::from(*len).min(rest.len());
        let (value, tail) = rest.split_at(len);
        let key = match selector % 8 {
            s @ 0..=5 => singletons[usize::from(s)].to_vec(),
            6 => records::credential_key(u64::from(selector / 8)).to_vec(),
            _ => value.iter().take(3).copied().collect(),
        };
        owned.push((key, value.to_vec()));
        input = tail;
    }
    let memory = MemoryStorage::new();
    let mut store = RecordStore::open(Box::new(memory.clone())).expect("an empty log");
    let changes: Vec<Change<'_>> = owned
        .iter()
        .map(|(key, value)| Change::Put { key, value })
        .collect();
    // Keys longer than a record allows cannot come from this input; an encode error is fine.
    let _ = store.commit(&changes);
    drop(store);
    memory.image().unwrap_or_default()
}

fn sorted(state: &fido_applet::state::State) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StorageError> {
    let mut all = all_records(state)?;
    all.sort();
    Ok(all)
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let bytes = match mode % 4 {
        0 => rest.to_vec(),
        1 => wrap(2, rest),
        2 => log_of(rest),
        _ => wrap(u16::from(mode), rest),
    };
    if let Err(e) = RecordStore::open(Box::new(MemoryStorage::with_image(bytes.clone()))) {
        assert!(e.to_string().starts_with("memory: "), "{e}");
    }
    match decode_log(&bytes, "fuzz") {
        Ok(state) => {
            // Two credentials sharing a creation order cannot be records: refused, not lost.
            if let Ok(records) = sorted(&state) {
                let log = encode_log(&state).expect("a loaded state encodes");
                let again = decode_log(&log, "fuzz").expect("and loads again");
                assert_eq!(sorted(&again).expect("encodes"), records);
            }
        }
        Err(e) => assert!(e.to_string().contains("memory") || e.to_string().contains("fuzz")),
    }
    // The applet's start-up over the same bytes: an error names the storage, never a panic.
    let card = CardBuilder::new(Profile::generic())
        .storage(MemoryStorage::with_image(bytes))
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
