//! Power loss at every write ("tearing"): the card is pulled out of the field at each write
//! point of every state-changing command, then tapped again.
//!
//! The card keeps its state as records in an append-only log (`card_storage::records`): a
//! transaction is one write, an append of the records it changed or, when the log has grown
//! past its threshold, a compaction (the whole log rewritten, atomically). Every scenario runs
//! twice: from the log as its setup left it (the command's commits append) and from a log
//! padded to just under the threshold (its first commit compacts).
//!
//! For each, the harness first runs the command on a recording storage, which counts the
//! writes, their sizes, and keeps the records held after each (the transaction boundaries).
//! Then, for every write k and several bytes of it (none, the first, half, all but the last,
//! all of it before the acknowledgement), it re-runs the same deterministic scenario (same log,
//! same RNG seed) with the power cut there — `card_storage::records::FaultyLog` over memory and
//! over a real file (`FileLog`) — drops the card, builds a new one from the same storage (the
//! power-up) and checks that:
//!
//! - the state loads, and its records are exactly those of one of the committed boundary
//!   states of the clean run: the state before the command or after one of its transactions,
//!   never a mix;
//! - for single-transaction commands, that means exactly "before" or "after";
//! - a PIN attempt never reveals whether the PIN was right without its retry being committed;
//! - the card still works (getInfo, a new credential, the PIN state answers).

#[allow(dead_code)] // each test file is its own crate and uses only part of the shared host
mod host;

use std::path::PathBuf;

use card_storage::records::{Cut, FaultyLog, FileLog, LogMedium};
use card_storage::{FaultyStorage, MemoryStorage};
use ctap_types::cbor::Value;
use host::storage::*;
use host::*;

const SEED: u64 = 11;

/// What a scenario's run reports: the status of its last (state-changing) command.
type Run = fn(&mut Tester) -> Result<(), u8>;

struct Scenario {
    name: &'static str,
    /// Brings a fresh card into the state before the command (not cut).
    setup: fn(&mut Tester),
    /// The command, with whatever it needs first (a token, a key agreement). Cut at every write.
    run: Run,
    /// The transactions the command commits; pins down "before or after" for one-write ones.
    writes: usize,
    /// The answer of the uncut run.
    expect: Result<(), u8>,
    /// A PIN attempt: an answer that depends on the comparison must come with the decrement
    /// committed.
    pin_attempt: bool,
}

fn nothing(_: &mut Tester) {}

fn with_pin(h: &mut Tester) {
    h.set_pin(2, PIN.as_bytes()).unwrap();
}

fn with_pin_and_credentials(h: &mut Tester) {
    h.set_pin(2, PIN.as_bytes()).unwrap();
    for user in [&b"u1"[..], b"u2"] {
        // A token's permissions are spent by the makeCredential it authorizes (§6.1.2 step 14).
        let t = h.token(2, PIN, MC, None).unwrap();
        h.make_credential(with_token(mc("example.com", user, true), &t, 8))
            .unwrap();
    }
}

fn with_credentials(h: &mut Tester) {
    for (rp, user) in [("example.com", &b"u1"[..]), ("other.org", b"u2")] {
        h.credential(rp, user, true);
    }
}

/// A request `{1: subCommand, 2: params, 3: protocol, 4: pinUvAuthParam}` authorized with the
/// MAC over `prefix || params` (credentialManagement: prefix = subCommand).
fn authorized(
    h: &mut Tester,
    command: u8,
    token: &Token,
    prefix: &[u8],
    sub: u64,
    params: Option<Value>,
) -> Result<(), u8> {
    let req = subcommand(sub, params, Some((token, prefix)));
    h.ctap_map(command, req).map(drop)
}

/// authenticatorConfig: the MAC is over `32×0xFF || 0x0D || subCommand || params` (§6.11).
fn config(h: &mut Tester, token: &Token, sub: u64, params: Option<Value>) -> Result<(), u8> {
    authorized(h, 0x0D, token, &config_prefix(sub), sub, params)
}

impl Scenario {
    /// A command that commits one transaction and succeeds, with no PIN attempt.
    fn one_write(name: &'static str, setup: fn(&mut Tester), run: Run) -> Self {
        Scenario {
            name,
            setup,
            run,
            writes: 1,
            expect: Ok(()),
            pin_attempt: false,
        }
    }

    /// A command behind a PIN attempt (a token or a PIN change) that commits `writes`
    /// transactions and succeeds.
    fn after_pin(name: &'static str, setup: fn(&mut Tester), run: Run, writes: usize) -> Self {
        Scenario {
            writes,
            pin_attempt: true,
            ..Scenario::one_write(name, setup, run)
        }
    }
}

fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario::one_write("makeCredential rk", nothing, |h| {
            h.make_credential(mc("example.com", b"u1", true)).map(drop)
        }),
        Scenario::one_write(
            "makeCredential rk overwriting the same user",
            with_credentials,
            |h| h.make_credential(mc("example.com", b"u1", true)).map(drop),
        ),
        Scenario::one_write(
            "makeCredential non-resident (counter)",
            with_credentials,
            |h| h.make_credential(mc("example.com", b"u9", false)).map(drop),
        ),
        Scenario::one_write("getAssertion (counter)", with_credentials, |h| {
            h.get_assertion(ga("example.com", &[])).map(drop)
        }),
        Scenario::after_pin(
            "makeCredential rk with a PIN token",
            with_pin,
            |h| {
                let t = h.token(2, PIN, MC, Some("example.com"))?;
                h.make_credential(with_token(mc("example.com", b"u1", true), &t, 8))
                    .map(drop)
            },
            // decrement, restore (the token), then the credential.
            3,
        ),
        Scenario::one_write("setPIN", with_credentials, |h| h.set_pin(2, PIN.as_bytes())),
        Scenario::after_pin(
            "changePIN",
            with_pin_and_credentials,
            |h| h.change_pin(2, PIN, b"87654321"),
            // decrement, restore, new PIN.
            3,
        ),
        Scenario {
            expect: Err(PIN_INVALID),
            ..Scenario::after_pin(
                "wrong PIN",
                with_pin,
                |h| h.token(2, "9999", GA, None).map(drop),
                1,
            )
        },
        Scenario::after_pin(
            "right PIN (token)",
            with_pin,
            |h| h.token(2, PIN, GA, None).map(drop),
            2,
        ),
        Scenario::after_pin(
            "credentialManagement deleteCredential",
            with_pin_and_credentials,
            |h| {
                let id = h.get_assertion(ga("example.com", &[]))?.credential_id;
                let t = h.token(2, PIN, CM, None)?;
                let params = Value::Map(vec![(int(2), descriptor(&id))]);
                authorized(h, 0x0A, &t, &[0x06], 0x06, Some(params))
            },
            // the assertion's counter, decrement, restore, the deletion.
            4,
        ),
        Scenario::after_pin(
            "largeBlobs write",
            with_pin,
            |h| {
                let t = h.token(2, PIN, LBW, None)?;
                let array = large_blob_array(vec![Value::bytes(vec![0xAB; 300])]);
                h.large_blob_set(Some(&t), 0, &array, Some(array.len() as u64))
            },
            3,
        ),
        Scenario::after_pin(
            "authenticatorConfig toggleAlwaysUv",
            with_pin,
            |h| {
                let t = h.token(2, PIN, ACFG, None)?;
                config(h, &t, 0x02, None)
            },
            3,
        ),
        Scenario::after_pin(
            "authenticatorConfig setMinPINLength",
            with_pin,
            |h| {
                let t = h.token(2, PIN, ACFG, None)?;
                config(h, &t, 0x03, Some(Value::Map(vec![(int(1), int(6))])))
            },
            3,
        ),
        Scenario::one_write("authenticatorReset", with_pin_and_credentials, |h| {
            h.reset()
        }),
    ]
}

/// Where a scenario's log starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Start {
    /// As the setup left it: the command's commits append.
    AsIs,
    /// Padded to just under the compaction threshold: the command's first commit compacts.
    Padded,
}

/// The records a storage holds, by key.
type Records = Vec<(Vec<u8>, Vec<u8>)>;

/// The clean run: the log before, the records after every commit, the size of every write, and
/// the answer.
struct Clean {
    before: Vec<u8>,
    boundaries: Vec<Records>,
    write_sizes: Vec<usize>,
    result: Result<(), u8>,
}

fn prepare(s: &Scenario, start: Start) -> Clean {
    let mem = MemoryStorage::new();
    mem.set_image(Some(fresh_image(SEED)));
    let mut h = Tester::boot(Box::new(mem.clone()), SEED).unwrap();
    (s.setup)(&mut h);
    drop(h);
    if start == Start::Padded {
        pad_to_compaction(&mem);
    }
    let before = mem.image().unwrap();

    let recorder = Recorder::default();
    let storage = Recording {
        inner: mem.clone(),
        recorder: recorder.clone(),
    };
    let mut h = Tester::boot(Box::new(storage), SEED).unwrap();
    let result = (s.run)(&mut h);
    assert_eq!(
        result, s.expect,
        "{}: the clean run answers as expected",
        s.name
    );
    let images = recorder.images();
    assert_eq!(
        recorder.count(),
        s.writes,
        "{}: the command commits {} transaction(s)",
        s.name,
        s.writes
    );
    // Each write's size: what it added to the log, or the whole log it replaced it with.
    let mut write_sizes = Vec::new();
    let mut previous = before.len();
    for image in &images {
        if image.len() > previous {
            write_sizes.push(image.len() - previous);
        } else {
            write_sizes.push(image.len());
        }
        previous = image.len();
    }
    if start == Start::Padded {
        assert!(
            images[0].len() < before.len(),
            "{}: the first commit from a padded log compacts it",
            s.name
        );
    }
    let mut boundaries = vec![records_of(&before)];
    boundaries.extend(images.iter().map(|image| records_of(image)));
    if s.pin_attempt {
        // The design: the retry is decremented and committed in its own transaction before the
        // PIN is compared, so one of the committed states has the attempt spent.
        let before = summary(&before).retries;
        assert!(
            images.iter().any(|b| summary(b).retries + 1 == before),
            "{}: no committed state has the retry spent",
            s.name
        );
    }
    Clean {
        before,
        boundaries,
        write_sizes,
        result,
    }
}

/// The cuts inside a write of `len` bytes: nothing of it written, its first byte, half of it,
/// all but its last byte, and all of it (the power went before the card heard it was done).
fn cuts(at: usize, len: usize) -> Vec<Cut> {
    let mut kept = vec![0, 1, len / 2, len.saturating_sub(1), len];
    kept.sort_unstable();
    kept.dedup();
    kept.into_iter().map(|kept| Cut { at, kept }).collect()
}

/// Checks the state after a cut at `point` and that the card still works; returns nothing but
/// panics with a precise message.
fn check_after_cut(
    s: &Scenario,
    clean: &Clean,
    point: &str,
    answer: Result<(), u8>,
    image: &[u8],
    reboot: impl Fn() -> Box<dyn LogMedium>,
) {
    let records = records_of(image);
    let position = clean.boundaries.iter().position(|b| *b == records);
    let Some(position) = position else {
        panic!(
            "{}: cut at {point}: the state is a mix, neither before nor after a transaction \
             (got {:?}, before {:?})",
            s.name,
            summary(image),
            summary(&clean.before)
        );
    };
    if s.writes == 1 {
        assert!(position <= 1, "{}: before or after", s.name);
    }
    // The answer the host saw: the uncut answer must have been committed in full.
    if answer == clean.result {
        assert_eq!(
            position,
            clean.boundaries.len() - 1,
            "{}: cut at {point}: the host got the uncut answer, so the whole command is committed",
            s.name
        );
    } else {
        assert_eq!(
            answer,
            Err(OTHER),
            "{}: cut at {point}: a failed write answers CTAP1_ERR_OTHER",
            s.name
        );
    }
    // Power-up: the state loads and the card works.
    let mut h = Tester::boot(reboot(), SEED)
        .unwrap_or_else(|e| panic!("{}: cut at {point}: the state does not load: {e}", s.name));
    let info = h.get_info();
    assert!(matches!(info, ctap_types::cbor::Value::Map(_)));
    let (retries, _) = h.retries();
    assert_eq!(retries, u64::from(summary(image).retries));
    // A new credential (alwaysUv, when the cut command turned it on, asks for a token first).
    match h.make_credential(mc("after.example", b"z", false)) {
        Ok(_) | Err(PUAT_REQUIRED) => {}
        Err(e) => panic!("{}: cut at {point}: the card is stuck: {e:#x}", s.name),
    }
}

/// Where the card's log lives while its writes are cut.
trait Place {
    type Medium: LogMedium + 'static;
    /// Puts a fresh copy of `log` in place.
    fn put(&mut self, log: &[u8]);
    /// Opens the log where it is (the card's power-up).
    fn open(&self) -> Self::Medium;
    /// The log as it is now.
    fn read(&self) -> Vec<u8>;
}

/// A log in memory: `MemoryStorage`.
struct InMemory(MemoryStorage);

impl Place for InMemory {
    type Medium = MemoryStorage;
    fn put(&mut self, log: &[u8]) {
        self.0 = MemoryStorage::with_image(log.to_vec());
    }
    fn open(&self) -> MemoryStorage {
        self.0.clone()
    }
    fn read(&self) -> Vec<u8> {
        self.0.image().unwrap()
    }
}

/// A log in a real state file: `FileLog`.
struct InFile(PathBuf);

impl Place for InFile {
    type Medium = FileLog;
    fn put(&mut self, log: &[u8]) {
        let _ = std::fs::remove_file(self.0.with_extension("bin.tmp"));
        std::fs::write(&self.0, log).unwrap();
    }
    fn open(&self) -> FileLog {
        FileLog::new(&self.0)
    }
    fn read(&self) -> Vec<u8> {
        std::fs::read(&self.0).unwrap()
    }
}

/// Runs every scenario from both starts with the power cut at every write point, the log in
/// `place`, and checks each cut ([`check_after_cut`]) and the uncut run; returns the number of
/// cuts.
fn cut_every_write(place: &mut impl Place, label: &str) -> usize {
    let mut points = 0;
    for start in [Start::AsIs, Start::Padded] {
        for s in scenarios() {
            let clean = prepare(&s, start);
            for (k, &len) in clean.write_sizes.iter().enumerate() {
                for cut in cuts(k + 1, len) {
                    place.put(&clean.before);
                    let storage = FaultyLog::new(place.open(), Some(cut));
                    let mut h = Tester::boot(Box::new(storage), SEED).unwrap();
                    let answer = (s.run)(&mut h);
                    drop(h); // the card leaves the field
                    let image = place.read();
                    let point = format!("{start:?} {label}write {} byte {}", cut.at, cut.kept);
                    check_after_cut(&s, &clean, &point, answer, &image, || {
                        Box::new(place.open())
                    });
                    points += 1;
                }
            }
            // No cut at all: the answer is OK and the state is the final one.
            place.put(&clean.before);
            let storage = FaultyLog::new(place.open(), None);
            let mut h = Tester::boot(Box::new(storage), SEED).unwrap();
            assert_eq!((s.run)(&mut h), s.expect);
            drop(h);
            assert_eq!(Some(&records_of(&place.read())), clean.boundaries.last());
        }
    }
    points
}

#[test]
fn every_write_point_of_every_command_over_memory() {
    let points = cut_every_write(&mut InMemory(MemoryStorage::new()), "");
    println!("tearing over memory: {points} cuts");
    assert!(points >= 100);
}

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "fido-tearing-{name}-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn every_write_point_of_every_command_over_a_state_file() {
    let dir = scratch_dir("file");
    let points = cut_every_write(&mut InFile(dir.join("state.bin")), "file ");
    std::fs::remove_dir_all(&dir).unwrap();
    println!("tearing over a state file: {points} cuts");
    assert!(points >= 100);
}

#[test]
fn a_wrong_pin_always_costs_its_retry_once_compared() {
    // Three attempts in a row, each cut at the decrement then retried without a cut: the cut
    // ones compare nothing and answer OTHER; the uncut ones answer PIN_INVALID with the retry
    // committed. No sequence of cuts lets an attacker learn a comparison for free.
    let mem = MemoryStorage::with_image(fresh_image(SEED));
    let mut h = Tester::boot(Box::new(mem.clone()), SEED).unwrap();
    with_pin(&mut h);
    drop(h);
    for attempt in 0..3u8 {
        let before = summary(&mem.image().unwrap()).retries;
        let mut cut =
            Tester::boot(Box::new(FaultyStorage::new(mem.clone(), Some(1))), SEED).unwrap();
        assert_eq!(cut.token(2, "0000", GA, None).err(), Some(OTHER));
        drop(cut);
        assert_eq!(summary(&mem.image().unwrap()).retries, before);
        let mut h = Tester::boot(Box::new(mem.clone()), SEED).unwrap();
        assert_eq!(
            h.token(2, "0000", GA, None).err(),
            Some(PIN_INVALID),
            "attempt {attempt}"
        );
        drop(h);
        assert_eq!(summary(&mem.image().unwrap()).retries, before - 1);
    }
}

#[test]
fn the_state_file_is_private_and_holds_no_plaintext_pin() {
    let dir = scratch_dir("secret");
    let path = dir.join("state.bin");
    let pin = "correct horse 42";
    let mut h = Tester::boot(Box::new(FileLog::new(&path)), SEED).unwrap();
    h.set_pin(2, pin.as_bytes()).unwrap();
    let t = h.token(2, pin, MC, None).unwrap();
    h.make_credential(with_token(mc("example.com", b"u1", true), &t, 8))
        .unwrap();
    h.change_pin(2, pin, b"another secret 7").unwrap();
    drop(h);
    let bytes = std::fs::read(&path).unwrap();
    for secret in [&b"correct horse 42"[..], b"another secret 7"] {
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret),
            "the state file holds a PIN in clear"
        );
        // Nor the full SHA-256 of it (only LEFT(SHA-256(PIN), 16) is kept, §6.5.5.5).
        let full = fido_applet::crypto::sha256(secret);
        assert!(!bytes.windows(32).any(|w| w == full));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "state file mode");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
