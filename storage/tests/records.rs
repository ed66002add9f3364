//! The record store under power cuts at every byte of every write (commits and compactions, in
//! memory and in a real file), against a model (proptest), and across format versions (the
//! upgrade from the whole-image format: `whole_image.rs`).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use card_storage::records::{Change, Cut, FaultyLog, FileLog, LogMedium, RecordStore, Upgraded};
use card_storage::{MemoryStorage, StorageError};
use proptest::prelude::*;

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

/// One commit of a scenario, as owned changes.
#[derive(Clone, Debug)]
enum Op {
    Put(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>),
}

fn changes(ops: &[Op]) -> Vec<Change<'_>> {
    ops.iter()
        .map(|op| match op {
            Op::Put(key, value) => Change::Put { key, value },
            Op::Delete(key) => Change::Delete { key },
        })
        .collect()
}

fn apply(model: &mut Model, ops: &[Op]) {
    for op in ops {
        match op {
            Op::Put(k, v) => {
                model.insert(k.clone(), v.clone());
            }
            Op::Delete(k) => {
                model.remove(k);
            }
        }
    }
}

fn records(store: &RecordStore) -> Model {
    store
        .iter()
        .map(|(k, v)| (k.to_vec(), v.to_vec()))
        .collect()
}

/// A card-like history: credentials added, a counter bumped, PIN state changed, credentials
/// deleted and overwritten; with a small compaction floor it compacts several times.
fn scenario() -> Vec<Vec<Op>> {
    let mut commits = Vec::new();
    commits.push(vec![
        Op::Put(b"config".to_vec(), vec![1; 12]),
        Op::Put(b"pin".to_vec(), vec![8; 40]),
    ]);
    for i in 0..24u8 {
        let mut commit = vec![Op::Put(b"counter".to_vec(), vec![i; 4])];
        if i % 3 != 2 {
            commit.push(Op::Put(
                format!("cred/{:02}", i % 8).into_bytes(),
                vec![i; 60],
            ));
        }
        if i % 4 == 3 {
            commit.push(Op::Delete(format!("cred/{:02}", i - 2).into_bytes()));
            commit.push(Op::Put(b"pin".to_vec(), vec![i; 40]));
        }
        commits.push(commit);
    }
    commits.push(vec![Op::Delete(b"config".to_vec())]);
    commits
}

const FLOOR: usize = 256;

/// Runs `scenario` on `medium`; returns how many commits succeeded.
fn run(medium: Box<dyn LogMedium>, scenario: &[Vec<Op>]) -> usize {
    let mut store = RecordStore::open(medium)
        .expect("opens")
        .with_compaction_floor(FLOOR);
    for (i, ops) in scenario.iter().enumerate() {
        if store.commit(&changes(ops)).is_err() {
            return i;
        }
    }
    scenario.len()
}

/// The model after each prefix of the scenario: `states[i]` is the state after `i` commits.
fn states(scenario: &[Vec<Op>]) -> Vec<Model> {
    let mut model = Model::new();
    let mut out = vec![model.clone()];
    for ops in scenario {
        apply(&mut model, ops);
        out.push(model.clone());
    }
    out
}

/// A memory medium that records the size of every write (shared, so it can be read while a
/// store owns the medium).
struct Counting(MemoryStorage, Arc<Mutex<Vec<(Write, usize)>>>);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Write {
    Append,
    Replace,
}

impl LogMedium for Counting {
    fn read(&mut self) -> Result<Option<Vec<u8>>, StorageError> {
        LogMedium::read(&mut self.0)
    }
    fn append(&mut self, bytes: &[u8]) -> Result<(), StorageError> {
        self.1.lock().unwrap().push((Write::Append, bytes.len()));
        self.0.append(bytes)
    }
    fn replace(&mut self, contents: &[u8]) -> Result<(), StorageError> {
        self.1
            .lock()
            .unwrap()
            .push((Write::Replace, contents.len()));
        self.0.replace(contents)
    }
    fn describe(&self) -> String {
        LogMedium::describe(&self.0)
    }
}

/// The write sizes of an uncut run (in memory; the same for a file).
fn write_sizes(scenario: &[Vec<Op>]) -> Vec<(Write, usize)> {
    let sizes = Arc::new(Mutex::new(Vec::new()));
    let done = run(
        Box::new(Counting(MemoryStorage::new(), sizes.clone())),
        scenario,
    );
    assert_eq!(done, scenario.len());
    sizes.lock().unwrap().clone()
}

/// After a cut during commit `done` (0-based), the medium loads as the state before or after it,
/// and the card goes on working from there.
fn check_after_cut(
    medium: impl Fn() -> Box<dyn LogMedium>,
    done: usize,
    states: &[Model],
    what: &str,
) {
    let mut store = RecordStore::open(medium())
        .unwrap_or_else(|e| panic!("{what}: does not load: {e}"))
        .with_compaction_floor(FLOOR);
    let got = records(&store);
    assert!(
        got == states[done] || got == states[done + 1],
        "{what}: loaded a state that was never committed"
    );
    // The card goes on: one more commit, then a power-up sees it.
    store
        .commit(&[Change::Put {
            key: b"after",
            value: b"the cut",
        }])
        .unwrap_or_else(|e| panic!("{what}: the next commit fails: {e}"));
    let mut expected = got;
    expected.insert(b"after".to_vec(), b"the cut".to_vec());
    drop(store);
    let again = RecordStore::open(medium()).unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(records(&again), expected, "{what}: after the next commit");
}

#[test]
fn a_power_cut_at_every_byte_of_every_write_leaves_the_old_or_the_new_state_in_memory() {
    let scenario = scenario();
    let states = states(&scenario);
    let sizes = write_sizes(&scenario);
    assert_eq!(sizes.len(), scenario.len(), "one write per commit");
    let rewrites = sizes.iter().filter(|(w, _)| *w == Write::Replace).count();
    assert!(
        rewrites >= 4,
        "the scenario compacts several times: {sizes:?}"
    );
    let mut cuts = 0;
    for (w, &(_, size)) in sizes.iter().enumerate() {
        for kept in 0..=size {
            let memory = MemoryStorage::new();
            let cut = Cut { at: w + 1, kept };
            let done = run(
                Box::new(FaultyLog::new(memory.clone(), Some(cut))),
                &scenario,
            );
            assert_eq!(done, w, "the cut write is commit {w}");
            let what = format!("cut at byte {kept} of write {} ({size} bytes)", w + 1);
            check_after_cut(|| Box::new(memory.clone()), done, &states, &what);
            cuts += 1;
        }
    }
    assert!(cuts > 1000, "{cuts}");
    eprintln!(
        "{cuts} power cuts over {} writes ({rewrites} rewrites)",
        sizes.len()
    );
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "card-storage-records-{name}-{}",
        std::process::id()
    ));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_power_cut_at_every_write_of_a_real_file_leaves_the_old_or_the_new_state() {
    let scenario = scenario();
    let states = states(&scenario);
    let sizes = write_sizes(&scenario);
    let dir = scratch("tearing");
    let path = dir.join("state.bin");
    for (w, &(_, size)) in sizes.iter().enumerate() {
        // The file's own bytes: none, one, a torn length field, the middle, all but one, all.
        let mut kepts = vec![0, 1, 3, size / 2, size - 1, size];
        kepts.dedup();
        for kept in kepts {
            let _ = fs::remove_file(&path);
            let cut = Cut { at: w + 1, kept };
            let done = run(
                Box::new(FaultyLog::new(FileLog::new(&path), Some(cut))),
                &scenario,
            );
            assert_eq!(done, w);
            let what = format!("file cut at byte {kept} of write {} ({size} bytes)", w + 1);
            check_after_cut(|| Box::new(FileLog::new(&path)), done, &states, &what);
        }
    }
    assert_owner_only(&path);
    fs::remove_dir_all(&dir).unwrap();
}

/// The state file holds the card's secrets: mode 0600 on Unix (Windows: the directory's ACL).
fn assert_owner_only(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", path.display());
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[test]
fn a_crash_leftover_temp_file_is_ignored_and_replaced_privately() {
    let dir = scratch("leftover");
    let path = dir.join("state.bin");
    let temp = dir.join("state.bin.tmp");
    // A crash during a rewrite left garbage, world-readable: the first commit (a rewrite) writes
    // over it owner-only and renames it into place.
    fs::write(&temp, b"half a compaction").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&temp, fs::Permissions::from_mode(0o644)).unwrap();
    }
    let mut store = RecordStore::open(Box::new(FileLog::new(&path))).unwrap();
    store
        .commit(&[Change::Put {
            key: b"k",
            value: b"v",
        }])
        .unwrap();
    assert!(!temp.exists(), "the temporary file was renamed into place");
    assert_owner_only(&path);
    // Left beside a log: the loader ignores it.
    fs::write(&temp, b"half a compaction").unwrap();
    let mut again = RecordStore::open(Box::new(FileLog::new(&path))).unwrap();
    assert_eq!(again.get(b"k"), Some(&b"v"[..]));
    again
        .commit(&[Change::Put {
            key: b"k",
            value: b"w",
        }])
        .unwrap();
    drop(again);
    let last = RecordStore::open(Box::new(FileLog::new(&path))).unwrap();
    assert_eq!(last.get(b"k"), Some(&b"w"[..]));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_missing_directory_is_an_error_naming_the_file() {
    let path = "/nonexistent-dir/x/state.bin";
    let mut store = RecordStore::open(Box::new(FileLog::new(path))).expect("never written");
    let err = store
        .commit(&[Change::Delete { key: b"k" }])
        .expect_err("no directory to write in");
    assert!(err.to_string().contains(path), "{err}");
}

#[test]
fn commits_append_only_what_changed_and_compaction_keeps_the_log_within_twice_the_live_data() {
    let memory = MemoryStorage::new();
    let mut store = RecordStore::open(Box::new(memory.clone())).unwrap();
    let value = [7u8; 200];
    let keys: Vec<String> = (0..2000).map(|i| format!("cred/{i:05}")).collect();
    for key in &keys {
        store
            .commit(&[Change::Put {
                key: key.as_bytes(),
                value: &value,
            }])
            .unwrap();
    }
    // A commit of one record appends that record and the commit's 36 bytes, not the state.
    let before = memory.image().unwrap().len();
    store
        .commit(&[Change::Put {
            key: b"counter",
            value: &[1, 2, 3, 4],
        }])
        .unwrap();
    let grown = memory.image().unwrap().len() - before;
    assert!(grown < 100 || grown == store.log_len(), "{grown}");
    // Overwrite everything many times: the log compacts and never exceeds twice the live data.
    for round in 0..5u8 {
        for key in &keys {
            store
                .commit(&[Change::Put {
                    key: key.as_bytes(),
                    value: &[round; 200],
                }])
                .unwrap();
            assert!(store.log_len() <= 2 * store.compacted_len());
        }
    }
    assert_eq!(memory.image().unwrap().len(), store.log_len());
    let reloaded = RecordStore::open(Box::new(memory)).unwrap();
    assert_eq!(records(&reloaded), records(&store));
}

// --- the model ---------------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum Step {
    Commit(Vec<Op>),
    /// The power is cut at byte `kept` (modulo the write's size + 1) of the next commit.
    CutNext(Vec<Op>, usize),
    PowerUp,
}

fn key() -> impl Strategy<Value = Vec<u8>> {
    (0u8..12).prop_map(|k| format!("key/{k}").into_bytes())
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (key(), prop::collection::vec(any::<u8>(), 0..80)).prop_map(|(k, v)| Op::Put(k, v)),
        1 => key().prop_map(Op::Delete),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    let ops = || prop::collection::vec(op(), 1..5);
    prop_oneof![
        6 => ops().prop_map(Step::Commit),
        1 => (ops(), any::<usize>()).prop_map(|(o, k)| Step::CutNext(o, k)),
        1 => Just(Step::PowerUp),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Random commits, power-ups and power cuts at a random byte of a commit: the store always
    /// equals the model of what was acknowledged (a cut commit may have landed whole), and the
    /// log stays within its bound.
    #[test]
    fn the_store_behaves_as_a_map_of_acknowledged_commits(
        steps in prop::collection::vec(step(), 1..60),
        floor in prop_oneof![Just(64usize), Just(300), Just(16 * 1024)],
    ) {
        let memory = MemoryStorage::new();
        let mut model = Model::new();
        let mut store = RecordStore::open(Box::new(memory.clone())).unwrap().with_compaction_floor(floor);
        for step in steps {
            match step {
                Step::Commit(ops) => {
                    store.commit(&changes(&ops)).unwrap();
                    apply(&mut model, &ops);
                    prop_assert!(store.log_len() <= (2 * store.compacted_len()).max(floor));
                }
                Step::CutNext(ops, kept) => {
                    drop(store);
                    // The size of the write this commit makes, from a dry run on a copy.
                    let sizes = Arc::new(Mutex::new(Vec::new()));
                    let copy = Counting(MemoryStorage::with_image(memory.image().unwrap_or_default()), sizes.clone());
                    let copy: Box<dyn LogMedium> = if memory.image().is_some() {
                        Box::new(copy)
                    } else {
                        Box::new(Counting(MemoryStorage::new(), sizes.clone()))
                    };
                    let mut probe = RecordStore::open(copy).unwrap().with_compaction_floor(floor);
                    probe.commit(&changes(&ops)).unwrap();
                    let size = sizes.lock().unwrap()[0].1;
                    let cut = Cut { at: 1, kept: kept % (size + 1) };
                    let mut cutting = RecordStore::open(Box::new(FaultyLog::new(memory.clone(), Some(cut))))
                        .unwrap()
                        .with_compaction_floor(floor);
                    prop_assert!(cutting.commit(&changes(&ops)).is_err());
                    prop_assert_eq!(records(&cutting), model.clone(), "a failed commit changes nothing");
                    drop(cutting);
                    store = RecordStore::open(Box::new(memory.clone())).unwrap().with_compaction_floor(floor);
                    let mut after = model.clone();
                    apply(&mut after, &ops);
                    let got = records(&store);
                    prop_assert!(got == model || got == after);
                    model = got;
                }
                Step::PowerUp => {
                    drop(store);
                    store = RecordStore::open(Box::new(memory.clone())).unwrap().with_compaction_floor(floor);
                }
            }
            prop_assert_eq!(records(&store), model.clone());
        }
        drop(store);
        let reloaded = RecordStore::open(Box::new(memory)).unwrap();
        prop_assert_eq!(records(&reloaded), model);
    }

    /// Any bytes behind a record log header: loaded or refused naming the medium, never a panic.
    #[test]
    fn any_log_bytes_load_or_are_refused(tail in prop::collection::vec(any::<u8>(), 0..300)) {
        let bytes = [&b"VFCR\x00\x01\x00\x00"[..], &tail].concat();
        match RecordStore::open(Box::new(MemoryStorage::with_image(bytes))) {
            Ok(_) => {}
            Err(e) => prop_assert!(e.to_string().starts_with("memory: "), "{}", e),
        }
    }
}

// --- versions ----------------------------------------------------------------------------------

#[test]
fn a_log_of_a_newer_format_is_refused_with_both_versions_and_left_alone() {
    let memory = MemoryStorage::new();
    let mut store = RecordStore::open(Box::new(memory.clone())).unwrap();
    store
        .commit(&[Change::Put {
            key: b"k",
            value: b"v",
        }])
        .unwrap();
    drop(store);
    let mut newer = memory.image().unwrap();
    newer[5] = 2;
    memory.set_image(Some(newer.clone()));
    let not_an_image = |_: &[u8], _: &str| -> Result<Upgraded, StorageError> {
        panic!("a record log is never handed to the upgrade")
    };
    let err = RecordStore::open_or_upgrade(Box::new(memory.clone()), not_an_image)
        .err()
        .expect("refused");
    let msg = err.to_string();
    assert_eq!(err.versions(), Some((2, 1)), "{msg}");
    assert!(msg.contains("newer"), "{msg}");
    assert_eq!(memory.image(), Some(newer));
}

// --- kill -9 -----------------------------------------------------------------------------------

/// The writer of `kill_9_mid_commit_loses_no_acknowledged_commit`: commits one record after
/// another into the file `RECORDS_KILL_FILE` and prints each acknowledged commit's number.
#[test]
#[ignore = "run by kill_9_mid_commit_loses_no_acknowledged_commit in a child process"]
fn kill_9_writer() {
    use std::io::Write;
    let Ok(path) = std::env::var("RECORDS_KILL_FILE") else {
        return;
    };
    let mut store = RecordStore::open(Box::new(FileLog::new(&path)))
        .unwrap()
        .with_compaction_floor(4096);
    let start = store.with_prefix(b"rec/").count();
    let mut out = std::io::stdout().lock();
    for i in start.. {
        let key = format!("rec/{i:08}");
        let value = vec![(i % 251) as u8; 100 + i % 200];
        store
            .commit(&[
                Change::Put {
                    key: key.as_bytes(),
                    value: &value,
                },
                Change::Put {
                    key: b"last",
                    value: key.as_bytes(),
                },
            ])
            .unwrap();
        writeln!(out, "ack {i}").unwrap();
        out.flush().unwrap();
    }
}

#[cfg(unix)]
#[test]
fn kill_9_mid_commit_loses_no_acknowledged_commit() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let dir = scratch("kill9");
    let path = dir.join("state.bin");
    let mut acked_total = 0;
    for round in 0..6u64 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--ignored",
                "--exact",
                "kill_9_writer",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("RECORDS_KILL_FILE", &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        // Let it run for a varying number of commits, then SIGKILL it mid-stream.
        let mut last_ack = None;
        let wanted = 40 + round as usize * 37;
        for (n, line) in lines.by_ref().enumerate() {
            let line = line.unwrap();
            if let Some(i) = line.strip_prefix("ack ") {
                last_ack = Some(i.parse::<usize>().unwrap());
                acked_total += 1;
            }
            if n + 1 == wanted {
                break;
            }
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let store = RecordStore::open(Box::new(FileLog::new(&path)))
            .unwrap_or_else(|e| panic!("round {round}: the file does not load: {e}"));
        let last = last_ack.expect("the writer acknowledged commits");
        // Every acknowledged commit is there (the writer may have gone on beyond the acks read
        // here before the kill landed), and the commits form a prefix of the writer's: no hole.
        for i in 0..=last {
            assert!(
                store.contains(format!("rec/{i:08}").as_bytes()),
                "round {round}: acknowledged commit {i} lost"
            );
        }
        let records: Vec<&[u8]> = store.with_prefix(b"rec/").map(|(k, _)| k).collect();
        let expected_last = format!("rec/{:08}", records.len() - 1).into_bytes();
        assert_eq!(
            records.last().copied(),
            Some(expected_last.as_slice()),
            "round {round}: the records are not a prefix of the commits"
        );
        assert_eq!(
            store.get(b"last"),
            Some(expected_last.as_slice()),
            "round {round}: a commit landed in part"
        );
    }
    assert!(acked_total >= 200, "{acked_total}");
    fs::remove_dir_all(&dir).unwrap();
}
