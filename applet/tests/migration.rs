//! The upgrade of a state file in the whole-image format (schema version 2, as every build
//! before the record store wrote it) to the record log.
//!
//! `fixtures/state-v2.bin` was written by the whole-image build itself (commit 5c01eab, with the
//! generator below, seed 2026), before the record store replaced it: a card with PIN 4711,
//! three discoverable credentials for two relying parties and a used signature counter (4).

#[allow(dead_code)] // each test file is its own crate and uses only part of the shared host
mod host;

use card_storage::records::FileLog;
use card_storage::{FaultyStorage, MemoryStorage};
use fido_applet::profile::Profile;
use fido_applet::state::decode_log;
use fido_applet::state::legacy::decode_whole_image;
use host::storage::summarize;
use host::*;

/// The fixture, as checked in.
const FIXTURE: &[u8] = include_bytes!("fixtures/state-v2.bin");
const SEED: u64 = 2026;
const PIN: &str = "4711";
const RPS: [(&str, &[u8]); 3] = [
    ("one.example", b"alice"),
    ("one.example", b"bob"),
    ("two.example", b"carol"),
];

/// How `fixtures/state-v2.bin` was written (`cargo test -p fido-applet --test migration --
/// --ignored` on commit 5c01eab, a whole-image build). On this build it writes a record log, so
/// it writes to a temporary file instead of the fixture: kept to show how the fixture was made,
/// and that the same card, made today, is the converted fixture.
#[test]
#[ignore]
fn generate_the_whole_image_fixture() {
    let setup = Setup {
        seed: SEED,
        ..Setup::new(Profile::generic())
    };
    let mut t = Tester::start(setup, MemoryStorage::new());
    t.set_pin(2, PIN).unwrap();
    for (rp, user) in RPS {
        let token = t.token(2, PIN, 0x01, Some(rp)).unwrap();
        t.register(rp, user, Some(&token));
    }
    let token = t.token(2, PIN, 0x02, Some("one.example")).unwrap();
    t.get_assertion(with_token(ga("one.example", &[]), &token, 6))
        .unwrap();
    let path = std::env::temp_dir().join(format!("state-v2-{}.bin", std::process::id()));
    std::fs::write(&path, t.storage().image().unwrap()).unwrap();
    eprintln!("written: {}", path.display());
}

/// A card on a copy of the fixture, in memory.
fn fixture_card() -> (Tester, MemoryStorage) {
    let memory = MemoryStorage::with_image(FIXTURE.to_vec());
    let setup = Setup {
        seed: SEED + 1,
        ..Setup::new(Profile::generic())
    };
    (Tester::start(setup, memory.clone()), memory)
}

#[test]
fn the_fixture_is_a_whole_image_of_schema_version_2() {
    assert_eq!(&FIXTURE[..4], b"VFCS");
    assert_eq!(u16::from_be_bytes([FIXTURE[6], FIXTURE[7]]), 2);
}

#[test]
fn a_whole_image_state_is_converted_to_records_when_the_card_starts() {
    let before = decode_whole_image(FIXTURE, "fixture").expect("the fixture decodes");
    let (mut t, memory) = fixture_card();
    // Converted on load, explicitly and atomically: the medium now holds a record log.
    let converted = memory.image().unwrap();
    assert_eq!(&converted[..4], b"VFCR", "the state is records now");
    let after = t.state();
    assert_eq!(summarize(&after), summarize(&before));
    assert!(after.wrapping_key == before.wrapping_key);
    assert_eq!(after.pin, before.pin);
    assert_eq!(
        after.attestation.as_ref().map(|a| a.cert_der.clone()),
        before.attestation.as_ref().map(|a| a.cert_der.clone())
    );
    assert_eq!(after.large_blob_array, before.large_blob_array);

    // The card works with what the old build stored: the PIN, the credentials, the counter.
    assert_eq!(t.retries().0, 8);
    let token = t.token(2, PIN, 0x02, Some("one.example")).unwrap();
    let first = t
        .get_assertion(with_token(ga("one.example", &[]), &token, 6))
        .unwrap();
    assert_eq!(first.user_id(), b"bob", "newest first");
    assert!(first.sign_count() > before.sign_count);
    assert_eq!(t.get_next_assertion().unwrap().user_id(), b"alice");
    let token = t.token(2, PIN, 0x02, Some("two.example")).unwrap();
    let carol = t
        .get_assertion(with_token(ga("two.example", &[]), &token, 6))
        .unwrap();
    assert_eq!(carol.user_id(), b"carol");
    // And it keeps working on records: a new credential, then a restart.
    let token = t.token(2, PIN, 0x01, Some("three.example")).unwrap();
    t.register("three.example", b"dave", Some(&token));
    let reloaded = t.reload();
    assert_eq!(reloaded.state().resident.len(), 4);
    assert_eq!(&memory.image().unwrap()[..4], b"VFCR");
}

#[test]
fn a_whole_image_state_file_is_converted_atomically_and_privately() {
    let dir = std::env::temp_dir().join(format!("fido-migration-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("state.bin");
    std::fs::write(&path, FIXTURE).unwrap();
    // A power cut at the conversion's one write (the atomic replace) leaves the old file, and
    // the next start converts it.
    let cut = FaultyStorage::new(FileLog::new(&path), Some(1));
    assert!(Tester::boot(Box::new(cut), SEED).is_err());
    assert_eq!(std::fs::read(&path).unwrap(), FIXTURE);
    let t = Tester::boot(Box::new(FileLog::new(&path)), SEED).unwrap();
    drop(t);
    let converted = std::fs::read(&path).unwrap();
    assert_eq!(&converted[..4], b"VFCR");
    let state = decode_log(&converted, "state").unwrap();
    assert_eq!(
        summarize(&state),
        summarize(&decode_whole_image(FIXTURE, "fixture").unwrap())
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the converted state file is private");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_damaged_whole_image_is_refused_and_left_alone() {
    let mut damaged = FIXTURE.to_vec();
    damaged[100] ^= 1;
    let memory = MemoryStorage::with_image(damaged.clone());
    let err = Tester::boot(Box::new(memory.clone()), SEED).err().unwrap();
    assert!(err.to_string().contains("checksum"), "{err}");
    assert_eq!(memory.image(), Some(damaged));
}
