//! Persistent state at scale: loading the card's state and committing a transaction, with 10,
//! 1 000 and 10 000 resident credentials.
//!
//! - `state/load/N`: `Persistent::open` of the image (checksum, decode).
//! - `state/save/N`: the transaction every getAssertion commits (the signature counter bump).
//! - `state/save_credential/N`: a transaction that overwrites one resident credential (what a
//!   makeCredential for an existing account commits).
//! - `state/save_full/N`: encoding the whole state into a fresh image (a first write, or a
//!   compaction).
//! - `state/save_file/N`: the counter bump on a real `FileStorage` (includes fsync).
//!
//! With `VCARD_BENCH_STATE_DIR` set, the images are also written there as `state-N.bin`.

mod common;

use card_storage::{FileStorage, MemoryStorage, Persistent, StorageError, encode_image};
use common::*;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use fido_applet::platform::SeededRng;
use fido_applet::state::State;
use std::hint::black_box;

const SIZES: [usize; 3] = [10, 1_000, 10_000];

fn open(storage: &MemoryStorage) -> Persistent<State> {
    Persistent::open(Box::new(storage.clone()), || unreachable!("initialized")).expect("state")
}

fn state(c: &mut Criterion) {
    let mut group = c.benchmark_group("state");
    for n in SIZES {
        let storage = storage_with(n);
        let image = storage.image().expect("image");
        eprintln!(
            "state with {n} resident credentials: image {} bytes",
            image.len()
        );
        // scripts/bench.sh loads this file into the reader-bridge to report its memory.
        if let Some(dir) = std::env::var_os("VCARD_BENCH_STATE_DIR") {
            let path = std::path::Path::new(&dir).join(format!("state-{n}.bin"));
            std::fs::write(&path, &image).expect("state file for scripts/bench.sh");
        }

        group.bench_with_input(BenchmarkId::new("load", n), &n, |b, _| {
            b.iter(|| black_box(open(&storage)))
        });

        let mut persistent = open(&storage);
        group.bench_with_input(BenchmarkId::new("save", n), &n, |b, _| {
            b.iter(|| {
                persistent
                    .transaction(|s: &mut State| Ok::<_, StorageError>(s.next_sign_count()))
                    .expect("commit")
            })
        });

        let mut rng = SeededRng::new(3);
        let replacement = resident_credential(persistent.get(), &mut rng, RP, 0);
        let mut order = n as u64;
        group.bench_with_input(BenchmarkId::new("save_credential", n), &n, |b, _| {
            b.iter(|| {
                persistent
                    .transaction(|s: &mut State| {
                        let slot = s
                            .resident
                            .iter_mut()
                            .find(|c| {
                                c.rp_id == replacement.rp_id && c.user_id == replacement.user_id
                            })
                            .expect("account");
                        *slot = replacement.clone();
                        slot.creation_order = order;
                        order += 1;
                        s.next_creation_order = order;
                        s.next_sign_count();
                        Ok::<_, StorageError>(())
                    })
                    .expect("commit")
            })
        });

        group.bench_with_input(BenchmarkId::new("save_full", n), &n, |b, _| {
            b.iter(|| black_box(encode_image(persistent.get()).expect("encode")))
        });

        let dir = std::env::temp_dir().join(format!("vfc-bench-state-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("state.bin");
        std::fs::write(&path, storage.image().expect("image")).expect("state file");
        let mut on_file = Persistent::<State>::open(Box::new(FileStorage::new(&path)), || {
            unreachable!("initialized")
        })
        .expect("state file");
        group.bench_with_input(BenchmarkId::new("save_file", n), &n, |b, _| {
            b.iter(|| {
                on_file
                    .transaction(|s: &mut State| Ok::<_, StorageError>(s.next_sign_count()))
                    .expect("commit")
            })
        });
        drop(on_file);
        let _ = std::fs::remove_dir_all(&dir);
    }
    group.finish();
}

criterion_group!(benches, state);
criterion_main!(benches);
