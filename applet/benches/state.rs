//! Persistent state at scale (issue 15): loading the card's state and committing transactions
//! through the applet's own store (`fido_applet::state::StateStore` over the record log), with
//! 10, 1 000 and 10 000 resident credentials.
//!
//! - `state/load/N`: `StateStore::open` of a compacted log in memory (a copy of the log, its
//!   checks, decoding every record into the state).
//! - `state/save/N`: the transaction every getAssertion commits (the signature counter bump).
//! - `state/save_credential/N`: the transaction of a makeCredential that stores a resident
//!   credential, as `make_credential::store_resident` does it: a new credential with a new
//!   creation order, the counter bump. It replaces the account's previous credential (one
//!   record put, one deleted), so the store stays at N credentials from one iteration to the
//!   next — a brand-new account writes the same put without the delete.
//! - `state/save_credential_file/N`: the same on a real file (`FileLog`: append, fdatasync).
//! - `state/save_full/N`: the records of the whole state as one fresh log (a compaction).
//!
//! Compactions fall due when the log doubles: they are in the means, not in the medians. With
//! `VCARD_BENCH_STATE_DIR` set, the logs are also written there as `state-N.bin`.

mod common;

use card_storage::records::{FileLog, LogMedium};
use card_storage::{MemoryStorage, StorageError};
use common::*;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use fido_applet::platform::SeededRng;
use fido_applet::state::encode_log;
use fido_applet::state::{ResidentCredential, State, StateStore};
use std::hint::black_box;

const SIZES: [usize; 3] = [10, 1_000, 10_000];

fn open(medium: impl LogMedium + 'static) -> StateStore {
    StateStore::open(Box::new(medium), || unreachable!("initialized")).expect("state")
}

/// The transaction `store_resident` commits for `cred`, which overwrites its account's
/// credential (found through the index by relying party, as makeCredential finds it).
fn save_credential(store: &mut StateStore, cred: &ResidentCredential) {
    store
        .transaction(|s: &mut State| {
            let mut cred = cred.clone();
            cred.creation_order = s.next_creation_order;
            s.next_creation_order += 1;
            let at = s
                .resident
                .position_in_rp(&cred.rp_id, |c| c.user_id == cred.user_id)
                .expect("account");
            s.resident.replace(at, cred);
            s.next_sign_count();
            Ok::<_, StorageError>(())
        })
        .expect("commit")
}

fn state(c: &mut Criterion) {
    let mut group = c.benchmark_group("state");
    for n in SIZES {
        let storage = storage_with(n);
        let image = storage.image().expect("image");
        eprintln!(
            "state with {n} resident credentials: log {} bytes",
            image.len()
        );
        // scripts/bench.sh loads this file into the reader-bridge to report its memory.
        if let Some(dir) = std::env::var_os("VCARD_BENCH_STATE_DIR") {
            let path = std::path::Path::new(&dir).join(format!("state-{n}.bin"));
            std::fs::write(&path, &image).expect("state file for scripts/bench.sh");
        }

        // The store is dropped outside the measurement (wiping and freeing 10 000 credentials is
        // the end of a session, not part of loading one).
        group.bench_with_input(BenchmarkId::new("load", n), &n, |b, _| {
            b.iter_with_large_drop(|| open(MemoryStorage::with_image(image.clone())))
        });

        let memory = MemoryStorage::with_image(image.clone());
        let mut store = open(memory.clone());
        group.bench_with_input(BenchmarkId::new("save", n), &n, |b, _| {
            b.iter(|| {
                store
                    .transaction(|s: &mut State| Ok::<_, StorageError>(s.next_sign_count()))
                    .expect("commit")
            })
        });

        let mut rng = SeededRng::new(3);
        let replacement = resident_credential(store.get(), &mut rng, RP, 0);
        group.bench_with_input(BenchmarkId::new("save_credential", n), &n, |b, _| {
            b.iter(|| save_credential(&mut store, &replacement))
        });
        report_size("memory", n, &store, memory.image().map_or(0, |i| i.len()));

        group.bench_with_input(BenchmarkId::new("save_full", n), &n, |b, _| {
            b.iter(|| black_box(encode_log(store.get()).expect("encode")))
        });
        drop(store);

        let dir = std::env::temp_dir().join(format!("vfc-bench-state-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("state.bin");
        std::fs::write(&path, &image).expect("state file");
        let mut on_file = open(FileLog::new(&path));
        group.bench_with_input(BenchmarkId::new("save_credential_file", n), &n, |b, _| {
            b.iter(|| save_credential(&mut on_file, &replacement))
        });
        let file_len = std::fs::metadata(&path).map_or(0, |m| m.len() as usize);
        report_size("file", n, &on_file, file_len);
        drop(on_file);
        let _ = std::fs::remove_dir_all(&dir);
    }
    group.finish();
}

/// The log's size against its live data (the records' encoded size after a compaction).
fn report_size(medium: &str, n: usize, store: &StateStore, bytes: usize) {
    let records = store.records();
    eprintln!(
        "state/{medium}/{n}: log {bytes} bytes, compacted size {} bytes ({:.2}x)",
        records.compacted_len(),
        bytes as f64 / records.compacted_len() as f64
    );
}

criterion_group!(benches, state);
criterion_main!(benches);
