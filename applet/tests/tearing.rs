//! Power loss at every write ("tearing"): the card is pulled out of the field at each write
//! point of every state-changing command, then tapped again.
//!
//! For each scenario the harness first runs the command on a recording storage, which counts
//! the writes and keeps every image committed (the transaction boundaries). Then, for every
//! write point k, it re-runs the same deterministic scenario (same image, same RNG seed) with
//! the power cut at k — `card_storage::FaultyStorage` over memory (one step per write) and
//! `FileStorage`'s fault hook over a real directory (four steps per write: temp file, fsync,
//! rename, directory fsync) — drops the card, builds a new one from the same storage (the
//! power-up) and checks that:
//!
//! - the state loads, and is byte-for-byte one of the committed boundary states of the clean
//!   run: the state before the command or after one of its transactions, never a mix;
//! - for single-transaction commands, that means exactly "before" or "after";
//! - a PIN attempt never reveals whether the PIN was right without its retry being committed;
//! - the card still works (getInfo, a new credential, the PIN state answers).

#[allow(dead_code)] // each test file is its own crate and uses only part of the shared host
mod host;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use card_storage::{FaultyStorage, FileStorage, MemoryStorage, Storage};
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
        h.make_credential(mc(rp, user, true)).unwrap();
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

fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "makeCredential rk",
            setup: nothing,
            run: |h| h.make_credential(mc("example.com", b"u1", true)).map(drop),
            writes: 1,
            expect: Ok(()),
            pin_attempt: false,
        },
        Scenario {
            name: "makeCredential rk overwriting the same user",
            setup: with_credentials,
            run: |h| h.make_credential(mc("example.com", b"u1", true)).map(drop),
            writes: 1,
            expect: Ok(()),
            pin_attempt: false,
        },
        Scenario {
            name: "makeCredential non-resident (counter)",
            setup: with_credentials,
            run: |h| h.make_credential(mc("example.com", b"u9", false)).map(drop),
            writes: 1,
            expect: Ok(()),
            pin_attempt: false,
        },
        Scenario {
            name: "getAssertion (counter)",
            setup: with_credentials,
            run: |h| h.get_assertion(ga("example.com", &[])).map(drop),
            writes: 1,
            expect: Ok(()),
            pin_attempt: false,
        },
        Scenario {
            name: "makeCredential rk with a PIN token",
            setup: with_pin,
            run: |h| {
                let t = h.token(2, PIN, MC, Some("example.com"))?;
                h.make_credential(with_token(mc("example.com", b"u1", true), &t, 8))
                    .map(drop)
            },
            // decrement, restore (the token), then the credential.
            writes: 3,
            expect: Ok(()),
            pin_attempt: true,
        },
        Scenario {
            name: "setPIN",
            setup: with_credentials,
            run: |h| h.set_pin(2, PIN.as_bytes()),
            writes: 1,
            expect: Ok(()),
            pin_attempt: false,
        },
        Scenario {
            name: "changePIN",
            setup: with_pin_and_credentials,
            run: |h| h.change_pin(2, PIN, b"87654321"),
            // decrement, restore, new PIN.
            writes: 3,
            expect: Ok(()),
            pin_attempt: true,
        },
        Scenario {
            name: "wrong PIN",
            setup: with_pin,
            run: |h| h.token(2, "9999", GA, None).map(drop),
            writes: 1,
            expect: Err(PIN_INVALID),
            pin_attempt: true,
        },
        Scenario {
            name: "right PIN (token)",
            setup: with_pin,
            run: |h| h.token(2, PIN, GA, None).map(drop),
            writes: 2,
            expect: Ok(()),
            pin_attempt: true,
        },
        Scenario {
            name: "credentialManagement deleteCredential",
            setup: with_pin_and_credentials,
            run: |h| {
                let id = h.get_assertion(ga("example.com", &[]))?.credential_id;
                let t = h.token(2, PIN, CM, None)?;
                let params = Value::Map(vec![(
                    int(2),
                    Value::Map(vec![
                        (text("id"), Value::bytes(id)),
                        (text("type"), text("public-key")),
                    ]),
                )]);
                authorized(h, 0x0A, &t, &[0x06], 0x06, Some(params))
            },
            // the assertion's counter, decrement, restore, the deletion.
            writes: 4,
            expect: Ok(()),
            pin_attempt: true,
        },
        Scenario {
            name: "largeBlobs write",
            setup: with_pin,
            run: |h| {
                let t = h.token(2, PIN, LBW, None)?;
                let mut array = Value::Array(vec![Value::bytes(vec![0xAB; 300])]).to_vec();
                array.extend_from_slice(&fido_applet::crypto::sha256(&array)[..16]);
                let message = large_blob_message(0, &array);
                let req = vec![
                    (int(2), Value::bytes(array.clone())),
                    (int(3), int(0)),
                    (int(4), int(array.len() as i64)),
                    (int(5), Value::bytes(t.param(&message))),
                    (int(6), int(2)),
                ];
                h.ctap(0x0C, Some(&Value::Map(req))).map(drop)
            },
            writes: 3,
            expect: Ok(()),
            pin_attempt: true,
        },
        Scenario {
            name: "authenticatorConfig toggleAlwaysUv",
            setup: with_pin,
            run: |h| {
                let t = h.token(2, PIN, ACFG, None)?;
                config(h, &t, 0x02, None)
            },
            writes: 3,
            expect: Ok(()),
            pin_attempt: true,
        },
        Scenario {
            name: "authenticatorConfig setMinPINLength",
            setup: with_pin,
            run: |h| {
                let t = h.token(2, PIN, ACFG, None)?;
                config(h, &t, 0x03, Some(Value::Map(vec![(int(1), int(6))])))
            },
            writes: 3,
            expect: Ok(()),
            pin_attempt: true,
        },
        Scenario {
            name: "authenticatorReset",
            setup: with_pin_and_credentials,
            run: |h| h.reset(),
            writes: 1,
            expect: Ok(()),
            pin_attempt: false,
        },
    ]
}

/// The clean run: the image before, every committed image after, and the answer.
struct Clean {
    before: Vec<u8>,
    boundaries: Vec<Vec<u8>>,
    result: Result<(), u8>,
}

fn prepare(s: &Scenario) -> Clean {
    let mem = MemoryStorage::new();
    mem.set_image(Some(fresh_image(SEED)));
    let mut h = Tester::boot(Box::new(mem.clone()), SEED).unwrap();
    (s.setup)(&mut h);
    drop(h);
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
    let mut boundaries = vec![before.clone()];
    boundaries.extend(recorder.images());
    assert_eq!(
        recorder.count(),
        s.writes,
        "{}: the command commits {} transaction(s)",
        s.name,
        s.writes
    );
    if s.pin_attempt {
        // The design: the retry is decremented and committed in its own transaction before the
        // PIN is compared, so one of the committed states has the attempt spent.
        let before = summary(&before).retries;
        assert!(
            boundaries.iter().any(|b| summary(b).retries + 1 == before),
            "{}: no committed state has the retry spent",
            s.name
        );
    }
    Clean {
        before,
        boundaries,
        result,
    }
}

/// Checks the state after a cut at `point` and that the card still works; returns nothing but
/// panics with a precise message.
fn check_after_cut(
    s: &Scenario,
    clean: &Clean,
    point: &str,
    answer: Result<(), u8>,
    image: &[u8],
    reboot: impl Fn() -> Box<dyn Storage>,
) {
    let position = clean.boundaries.iter().position(|b| b == image);
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

#[test]
fn every_write_point_of_every_command_over_memory() {
    let mut points = 0;
    for s in scenarios() {
        let clean = prepare(&s);
        for k in 1..=s.writes {
            let mem = MemoryStorage::new();
            mem.set_image(Some(clean.before.clone()));
            let storage = FaultyStorage::new(mem.clone(), Some(k));
            let mut h = Tester::boot(Box::new(storage), SEED).unwrap();
            let answer = (s.run)(&mut h);
            drop(h); // the card leaves the field
            let image = mem.image().unwrap();
            check_after_cut(&s, &clean, &format!("write {k}"), answer, &image, || {
                Box::new(mem.clone())
            });
            points += 1;
        }
        // No cut at all: the answer is OK and the state is the final one.
        let mem = MemoryStorage::new();
        mem.set_image(Some(clean.before.clone()));
        let mut h = Tester::boot(Box::new(FaultyStorage::new(mem.clone(), None)), SEED).unwrap();
        assert_eq!((s.run)(&mut h), s.expect);
        assert_eq!(mem.image().as_ref(), clean.boundaries.last());
    }
    println!("tearing over memory: {points} write points cut");
    assert!(points >= 10);
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

/// A file storage whose power is cut at the `cut_at`-th write step (counting from 1).
fn cutting_file(path: &Path, cut_at: usize) -> FileStorage {
    let steps = Arc::new(AtomicUsize::new(0));
    FileStorage::new(path).with_fault_hook(Box::new(move |_step| {
        steps.fetch_add(1, Ordering::SeqCst) + 1 != cut_at
    }))
}

#[test]
fn every_write_step_of_every_command_over_a_state_file() {
    let dir = scratch_dir("file");
    let path = dir.join("state.bin");
    let mut points = 0;
    for s in scenarios() {
        let clean = prepare(&s);
        for step in 1..=4 * s.writes {
            std::fs::write(&path, &clean.before).unwrap();
            let mut h = Tester::boot(Box::new(cutting_file(&path, step)), SEED).unwrap();
            let answer = (s.run)(&mut h);
            drop(h);
            let image = std::fs::read(&path).unwrap();
            // The 4th step of a write (directory fsync) comes after the rename: the new state is
            // already in place although the command reported the failure; "old or new" holds.
            check_after_cut(
                &s,
                &clean,
                &format!("file step {step}"),
                answer,
                &image,
                || Box::new(FileStorage::new(&path)),
            );
            points += 1;
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
    println!("tearing over a state file: {points} write steps cut");
    assert!(points >= 40);
}

#[test]
fn a_wrong_pin_always_costs_its_retry_once_compared() {
    // Three attempts in a row, each cut at the decrement then retried without a cut: the cut
    // ones compare nothing and answer OTHER; the uncut ones answer PIN_INVALID with the retry
    // committed. No sequence of cuts lets an attacker learn a comparison for free.
    let mem = MemoryStorage::new();
    mem.set_image(Some(fresh_image(SEED)));
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
    let mut h = Tester::boot(Box::new(FileStorage::new(&path)), SEED).unwrap();
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
