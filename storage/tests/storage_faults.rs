//! Persistent memory under faults: power cuts at every step of a file write, corrupt, truncated,
//! bit-flipped and wrong-version images, leftovers of a crash. The loader refuses every bad image
//! with an error naming the storage and the cause, never panics, and never replaces the image it
//! refused.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use card_storage::{
    FaultyStorage, FileStorage, MemoryStorage, Persistent, Schema, StorageError, decode_image,
    encode_image,
};
use proptest::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
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

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "card-storage-faults-{name}-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn sample() -> Card {
    Card {
        counter: 41,
        names: vec!["alice".into(), "bob".into()],
        secret: (0..64).collect(),
    }
}

/// A file storage whose power is cut at write step `cut_at` (counting from 1 over all writes).
fn cut_file(path: &Path, cut_at: usize) -> FileStorage {
    let steps = Arc::new(AtomicUsize::new(0));
    FileStorage::new(path).with_fault_hook(Box::new(move |_| {
        steps.fetch_add(1, Ordering::SeqCst) + 1 != cut_at
    }))
}

#[test]
fn every_truncation_and_every_bit_flip_is_refused_naming_the_storage() {
    let image = encode_image(&sample()).unwrap();
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
    assert!(
        matches!(
            err,
            StorageError::Version {
                found: 9,
                supported: 3,
                ..
            }
        ),
        "{msg}"
    );
    assert!(
        msg.contains("/x/state.bin") && msg.contains('9') && msg.contains('3'),
        "{msg}"
    );
}

#[test]
fn a_refused_state_file_is_left_exactly_as_it_was() {
    let dir = scratch("refused");
    let path = dir.join("state.bin");
    let good = encode_image(&sample()).unwrap();
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
        let err = Persistent::<Card>::open(Box::new(FileStorage::new(&path)), || {
            panic!("{why}: init() must not run over an existing file")
        })
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
fn a_crash_leftover_temp_file_is_ignored_and_replaced_privately() {
    let dir = scratch("leftover");
    let path = dir.join("state.bin");
    let mut p = Persistent::open(Box::new(FileStorage::new(&path)), sample).unwrap();
    // A crash between writing the temporary file and the rename left garbage, world-readable.
    let temp = dir.join("state.bin.tmp");
    fs::write(&temp, b"half a write").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&temp, fs::Permissions::from_mode(0o644)).unwrap();
    }
    let again = Persistent::<Card>::open(Box::new(FileStorage::new(&path)), Card::default).unwrap();
    assert_eq!(again.get(), &sample());
    p.transaction(|c| {
        c.counter += 1;
        Ok::<_, StorageError>(())
    })
    .unwrap();
    assert!(!temp.exists(), "the temporary file was renamed into place");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_failed_write_keeps_the_committed_value_in_memory_and_on_disk() {
    let mem = MemoryStorage::new();
    Persistent::open(Box::new(mem.clone()), sample).unwrap();
    let before = mem.image();
    let mut p = Persistent::<Card>::open(
        Box::new(FaultyStorage::new(mem.clone(), Some(1))),
        Card::default,
    )
    .unwrap();
    let r = p.transaction(|c| {
        c.counter = 1000;
        c.names.clear();
        Ok::<_, StorageError>(())
    });
    assert!(
        matches!(r, Err(StorageError::PowerCut { step: 1, .. })),
        "{r:?}"
    );
    assert_eq!(p.get(), &sample(), "in memory");
    assert_eq!(mem.image(), before, "in storage");
    // The next transaction works from the committed value, not from the aborted copy.
    p.transaction(|c| {
        c.counter += 1;
        Ok::<_, StorageError>(())
    })
    .unwrap();
    let reloaded = Persistent::<Card>::open(Box::new(mem), Card::default).unwrap();
    assert_eq!(reloaded.get().counter, 42);
    assert_eq!(reloaded.get().names, sample().names);
}

#[derive(Clone, Debug)]
enum Op {
    Add(u64),
    Push(String),
    Clear,
}

fn apply(card: &mut Card, op: &Op) {
    match op {
        Op::Add(n) => card.counter = card.counter.wrapping_add(*n),
        Op::Push(s) => card.names.push(s.clone()),
        Op::Clear => card.names.clear(),
    }
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![
            any::<u64>().prop_map(Op::Add),
            "[a-z]{0,12}".prop_map(Op::Push),
            Just(Op::Clear),
        ],
        1..8,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Random transactions with the power cut at a random step of a random write, then a
    /// power-up: the file holds exactly the value of the last transaction that returned Ok, or
    /// (a cut after the rename, during the directory fsync) the one being written.
    #[test]
    fn cut_anywhere_then_power_up_over_a_file(ops in ops(), cut in 1usize..40) {
        let dir = scratch("prop");
        let path = dir.join("state.bin");
        Persistent::open(Box::new(FileStorage::new(&path)), Card::default).unwrap();
        let mut p = Persistent::<Card>::open(Box::new(cut_file(&path, cut)), Card::default).unwrap();
        let mut committed = Card::default();
        let mut attempted = None;
        for op in &ops {
            let mut next = committed.clone();
            apply(&mut next, op);
            match p.transaction(|c| {
                apply(c, op);
                Ok::<_, StorageError>(())
            }) {
                Ok(()) => committed = next,
                Err(StorageError::PowerCut { .. }) => {
                    attempted = Some(next);
                    break;
                }
                Err(e) => panic!("{e}"),
            }
        }
        drop(p);
        let loaded = Persistent::<Card>::open(Box::new(FileStorage::new(&path)), || {
            panic!("the file vanished")
        })
        .unwrap();
        let got = loaded.get().clone();
        prop_assert!(
            got == committed || attempted.as_ref() == Some(&got),
            "loaded {:?}, committed {:?}, attempted {:?}", got, committed, attempted
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    /// Any bytes at all: the loader answers Ok or an error naming the storage; never panics.
    #[test]
    fn any_bytes_load_or_are_refused(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        match decode_image::<Card>(&bytes, "memory") {
            Ok(_) => {}
            Err(e) => prop_assert!(e.to_string().starts_with("memory: "), "{}", e),
        }
    }
}
