//! The upgrade of a state file in the whole-image format (schema version 2, as every build
//! before the record store wrote it) to the record log.
//!
//! `fixtures/state-v2.bin` was written by the whole-image build itself (the `#[ignore]`d
//! generator below, seed 2026), before the record store replaced it: a card with a PIN, three
//! discoverable credentials for two relying parties, a credBlob and a used signature counter.

#[allow(dead_code)] // each test file is its own crate and uses only part of the shared host
mod host;

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

/// Writes `fixtures/state-v2.bin` with the build at hand (`cargo test -p fido-applet --test
/// migration -- --ignored`). Only meaningful on a whole-image build: kept to show how the
/// fixture was made.
#[test]
#[ignore]
fn generate_the_whole_image_fixture() {
    let setup = Setup {
        seed: SEED,
        ..Setup::new(fido_applet::profile::Profile::generic())
    };
    let mut t = Tester::start(setup, card_storage::MemoryStorage::new());
    t.set_pin(2, PIN).unwrap();
    for (rp, user) in RPS {
        let token = t.token(2, PIN, 0x01, Some(rp)).unwrap();
        t.register(rp, user, Some(&token));
    }
    let token = t.token(2, PIN, 0x02, Some("one.example")).unwrap();
    t.get_assertion(with_token(ga("one.example", &[]), &token, 6))
        .unwrap();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/state-v2.bin");
    std::fs::write(path, t.storage().image().unwrap()).unwrap();
}
