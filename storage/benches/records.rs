//! The record store at 10, 1 000 and 10 000 stored credentials (BENCHMARKS.md, issue 15):
//! saving one credential record in memory and in a file, and loading 10 000.
//!
//! A credential record is what the applet keeps per resident credential: a 21-byte key and a
//! 220-byte value (the whole-image format's 2.18 MB for 10 000 credentials). Each iteration
//! saves one new credential; the keys cycle through 64 new ones so the store stays at its size.
//! Compactions happen when they fall due, so the mean includes their amortized cost while the
//! median is the ordinary commit.

use std::hint::black_box;

use card_storage::MemoryStorage;
use card_storage::records::{Change, FileLog, LogMedium, RecordStore};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

const VALUE_LEN: usize = 220;

fn key(i: usize) -> Vec<u8> {
    let mut key = b"cred/".to_vec();
    key.extend_from_slice(&(i as u128).to_be_bytes());
    key
}

fn filled(mut store: RecordStore, n: usize) -> RecordStore {
    let value = [0x5A; VALUE_LEN];
    let keys: Vec<Vec<u8>> = (0..n).map(key).collect();
    for chunk in keys.chunks(1000) {
        let changes: Vec<Change<'_>> = chunk
            .iter()
            .map(|key| Change::Put { key, value: &value })
            .collect();
        store.commit(&changes).expect("fill");
    }
    store
}

fn save_one(store: &mut RecordStore, i: &mut usize) {
    let key = key(1_000_000 + *i % 64);
    let value = [(*i % 251) as u8; VALUE_LEN];
    *i += 1;
    store
        .commit(&[Change::Put {
            key: &key,
            value: &value,
        }])
        .expect("commit");
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("records");
    for n in [10usize, 1_000, 10_000] {
        let mut store = filled(
            RecordStore::open(Box::new(MemoryStorage::new())).unwrap(),
            n,
        );
        let mut i = 0;
        group.bench_function(BenchmarkId::new("save_one/memory", n), |b| {
            b.iter(|| save_one(&mut store, &mut i))
        });

        let dir = std::env::temp_dir().join(format!("records-bench-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state.bin");
        let mut store = filled(RecordStore::open(Box::new(FileLog::new(&path))).unwrap(), n);
        let mut i = 0;
        group.bench_function(BenchmarkId::new("save_one/file", n), |b| {
            b.iter(|| save_one(&mut store, &mut i))
        });
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        eprintln!(
            "records: {n} stored: file {size} bytes, live {} bytes, log {} bytes",
            store.compacted_len(),
            store.log_len()
        );
        drop(store);

        // The reference: what a commit cost in the whole-image builds, the whole state
        // rewritten (temporary file, fsync, rename, directory fsync: the scheme of a log's
        // rewrite), at the same size.
        let image = vec![0x5A; size as usize];
        let mut file = FileLog::new(dir.join("image.bin"));
        group.bench_function(BenchmarkId::new("reference_whole_image/file", n), |b| {
            b.iter(|| file.replace(&image).expect("write"))
        });
        std::fs::remove_dir_all(&dir).unwrap();
    }

    let memory = MemoryStorage::new();
    drop(filled(
        RecordStore::open(Box::new(memory.clone())).unwrap(),
        10_000,
    ));
    let bytes = memory.image().unwrap();
    group.bench_function("load/memory/10000", |b| {
        b.iter(|| {
            let store =
                RecordStore::open(Box::new(MemoryStorage::with_image(bytes.clone()))).unwrap();
            black_box(store.len())
        })
    });
    let dir = std::env::temp_dir().join(format!("records-bench-load-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("state.bin");
    std::fs::write(&path, &bytes).unwrap();
    group.bench_function("load/file/10000", |b| {
        b.iter(|| {
            let store = RecordStore::open(Box::new(FileLog::new(&path))).unwrap();
            black_box(store.len())
        })
    });
    std::fs::remove_dir_all(&dir).unwrap();
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
