//! The whole-image format of earlier builds, which the card converts on load: the loader refuses
//! every corrupt, truncated, bit-flipped, wrong-version or foreign image with an error naming the
//! storage and the cause, never panics, and a refused state file is left exactly as it was; a
//! good image is converted to a record log explicitly and atomically.

use std::fs;

use card_storage::records::{Cut, FaultyLog, FileLog, RecordStore, Upgraded};
use card_storage::{MemoryStorage, Schema, StorageError, decode_image, encode_image};
use proptest::prelude::*;
use serde::{Deserialize, Serialize};

/// The state of a card in the whole-image format (`VFCS`, schema version 3), as the fixture file
/// holds it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Card {
    counter: u64,
    names: Vec<String>,
    secret: Vec<u8>,
}

impl Schema for Card {
    const VERSION: u16 = 3;
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Future(u64);

impl Schema for Future {
    const VERSION: u16 = 9;
}

fn fixture_card() -> Card {
    Card {
        counter: 41,
        names: vec!["alice".into(), "bob".into()],
        secret: (0..64).collect(),
    }
}

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/whole-image-v3.bin"
);

/// The explicit upgrade: the whole image's fields become records.
fn upgrade(bytes: &[u8], storage: &str) -> Result<Upgraded, StorageError> {
    let card: Card = decode_image(bytes, storage)?;
    let mut records = vec![
        (b"counter".to_vec(), card.counter.to_be_bytes().to_vec()),
        (b"secret".to_vec(), card.secret),
    ];
    for (i, name) in card.names.into_iter().enumerate() {
        records.push((format!("name/{i}").into_bytes(), name.into_bytes()));
    }
    Ok(records)
}

#[test]
#[ignore = "writes the fixture; run once when the whole-image format was current"]
fn write_fixture() {
    fs::write(FIXTURE, encode_image(&fixture_card()).unwrap()).unwrap();
}

#[test]
fn every_truncation_and_every_bit_flip_is_refused_naming_the_storage() {
    let image = encode_image(&fixture_card()).unwrap();
    let mut refused = 0;
    for len in 0..image.len() {
        let err = decode_image::<Card>(&image[..len], "file /x/state.bin").unwrap_err();
        assert!(
            matches!(err, StorageError::Corrupt { .. }),
            "len {len}: {err}"
        );
        assert!(err.to_string().starts_with("file /x/state.bin: "), "{err}");
        refused += 1;
    }
    for byte in 0..image.len() {
        for bit in 0..8 {
            let mut flipped = image.clone();
            flipped[byte] ^= 1 << bit;
            let err = decode_image::<Card>(&flipped, "memory").unwrap_err();
            // A flip in the version field is caught by the checksum first.
            assert!(
                matches!(err, StorageError::Corrupt { .. }),
                "byte {byte} bit {bit}: {err}"
            );
            refused += 1;
        }
    }
    let mut extended = image.clone();
    extended.push(0);
    assert!(decode_image::<Card>(&extended, "memory").is_err());
    assert!(refused > 1000);
}

#[test]
fn a_newer_schema_is_refused_with_both_versions_named() {
    let image = encode_image(&Future(1)).unwrap();
    let err = decode_image::<Card>(&image, "file /x/state.bin").unwrap_err();
    let msg = err.to_string();
    assert_eq!(err.versions(), Some((9, 3)), "{msg}");
    assert!(
        msg.contains("/x/state.bin") && msg.contains('9') && msg.contains('3'),
        "{msg}"
    );
}

#[test]
fn a_refused_state_file_is_left_exactly_as_it_was() {
    let dir = std::env::temp_dir().join(format!("card-storage-refused-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let path = dir.join("state.bin");
    let good = encode_image(&fixture_card()).unwrap();
    let mut flipped = good.clone();
    flipped[20] ^= 0x10;
    let future = encode_image(&Future(7)).unwrap();
    for (why, bytes) in [
        ("truncated", good[..good.len() / 2].to_vec()),
        ("empty", Vec::new()),
        ("bit flip", flipped),
        ("newer version", future),
        ("not ours", b"#!/bin/sh\necho hello\n".to_vec()),
    ] {
        fs::write(&path, &bytes).unwrap();
        let err = RecordStore::open_or_upgrade(Box::new(FileLog::new(&path)), upgrade)
            .err()
            .unwrap_or_else(|| panic!("{why}: loaded"));
        let msg = err.to_string();
        assert!(msg.contains(&*path.to_string_lossy()), "{why}: {msg}");
        assert_eq!(
            fs::read(&path).unwrap(),
            bytes,
            "{why}: the file was changed"
        );
    }
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_whole_image_state_is_upgraded_explicitly_and_atomically() {
    let image = fs::read(FIXTURE).expect("fixture");
    assert!(
        image.starts_with(b"VFCS"),
        "the fixture is a whole-image state"
    );
    let memory = MemoryStorage::with_image(image.clone());

    // Without an upgrade it is refused, and left alone.
    let err = RecordStore::open(Box::new(memory.clone()))
        .err()
        .expect("refused");
    assert!(err.to_string().starts_with("memory: "), "{err}");
    assert_eq!(memory.image(), Some(image.clone()));

    // A power cut during the conversion leaves the old image, which converts next time.
    let cut = FaultyLog::new(memory.clone(), Some(Cut { at: 1, kept: 10 }));
    assert!(RecordStore::open_or_upgrade(Box::new(cut), upgrade).is_err());
    assert_eq!(memory.image(), Some(image.clone()));

    let store = RecordStore::open_or_upgrade(Box::new(memory.clone()), upgrade).expect("upgraded");
    assert_eq!(store.get(b"counter"), Some(&41u64.to_be_bytes()[..]));
    assert_eq!(store.get(b"name/1"), Some(&b"bob"[..]));
    assert_eq!(store.get(b"secret").map(<[u8]>::len), Some(64));
    drop(store);
    let converted = memory.image().unwrap();
    assert!(
        converted.starts_with(b"VFCR\x00\x01"),
        "written as a record log"
    );
    // From now on it is a record log: it loads without the upgrade.
    let again = RecordStore::open(Box::new(memory)).expect("loads");
    assert_eq!(again.len(), 4);
}

proptest! {
    /// Any bytes at all: the loader answers Ok or an error naming the storage; never panics.
    #[test]
    fn any_bytes_load_or_are_refused(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        match decode_image::<Card>(&bytes, "memory") {
            Ok(_) => {}
            Err(e) => prop_assert!(e.to_string().starts_with("memory: "), "{}", e),
        }
    }
}
