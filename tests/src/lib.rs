//! Harness for tests through the real stack: pcscd + vsmartcard's vpcd + the `reader-bridge`
//! binary + real PC/SC clients (the `pcsc` crate, `opensc-tool`, python-fido2 in `python/`).
//!
//! pcscd is started by `scripts/test.sh` (or `scripts/up.sh`); the harness never starts, stops
//! or restarts a pcscd it did not start itself ([`PrivatePcscd`] is one the harness starts).
//! Without pcscd the tests fail with a message saying so, unless `VCARD_SKIP_E2E=1`.
//!
//! vpcd has two slots (TCP 35963 = reader "Virtual PCD 00 00", 35964 = "Virtual PCD 00 01"); two
//! bridges on one slot fight, so each test leases a slot with an exclusive file lock
//! ([`Slot::lease`]), which also serialises against the python tests and other test processes.
//! Every wait is bounded and waits on an event (SCardGetStatusChange, a child's exit), never on
//! a guessed sleep.

use std::ffi::{CStr, CString};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

pub use apdu::{hex_decode, hex_encode};

/// Set to 1 to skip the real-stack tests (they are never skipped silently otherwise).
pub const SKIP_ENV: &str = "VCARD_SKIP_E2E";
/// Override for the path of the `reader-bridge` binary.
pub const BRIDGE_BIN_ENV: &str = "VCARD_BRIDGE_BIN";
/// The FIDO applet's AID (CTAP 2.1 §11.3.1).
pub use fido_host::ctap_types::FIDO_AID;
/// SELECT of the FIDO applet as python-fido2 and Windows send it (with Le), in hex.
pub const SELECT_FIDO: &str = match std::str::from_utf8(&SELECT_FIDO_HEX) {
    Ok(hex) => hex,
    Err(_) => panic!("hex digits are ASCII"),
};
const SELECT_FIDO_HEX: [u8; 28] = upper_hex(&fido_host::ctap_types::nfc::SELECT_FIDO);

/// `bytes` in upper-case hex, at compile time.
const fn upper_hex(bytes: &[u8; 14]) -> [u8; 28] {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = [0u8; 28];
    let mut i = 0;
    while i < bytes.len() {
        out[2 * i] = DIGITS[(bytes[i] >> 4) as usize];
        out[2 * i + 1] = DIGITS[(bytes[i] & 0x0F) as usize];
        i += 1;
    }
    out
}

/// How long a test waits for the card to show up or go away.
pub const CARD_TIMEOUT: Duration = Duration::from_secs(15);

/// `true` (and a note on stderr) when the user asked to skip the real-stack tests.
pub fn skip_e2e() -> bool {
    if std::env::var(SKIP_ENV).is_ok_and(|v| v == "1") {
        eprintln!("SKIPPED: {SKIP_ENV}=1");
        return true;
    }
    false
}

fn no_stack(detail: &str) -> ! {
    panic!(
        "the real PC/SC stack is not available ({detail}).\n\
         Run the tests with `scripts/test.sh`, which installs and starts pcscd with vpcd, or start \
         it with `scripts/stack.sh start`; set {SKIP_ENV}=1 to skip these tests explicitly."
    )
}

/// A PC/SC context on the running pcscd, checked to have vpcd's readers.
pub fn context() -> pcsc::Context {
    let ctx = match pcsc::Context::establish(pcsc::Scope::User) {
        Ok(ctx) => ctx,
        Err(e) => no_stack(&format!("cannot reach pcscd: {e}")),
    };
    let readers = ctx.list_readers_owned().unwrap_or_default();
    if !readers
        .iter()
        .any(|r| r.to_string_lossy().starts_with("Virtual PCD"))
    {
        no_stack(&format!(
            "pcscd runs but has no \"Virtual PCD\" reader; readers: {readers:?}"
        ));
    }
    ctx
}

/// The real stack ([`context`]) and a leased slot ([`Slot::lease`]); `None` when the user asked
/// to skip the real-stack tests ([`skip_e2e`]), so a test starts with
/// `let Some((ctx, slot)) = stack_slot() else { return };`.
pub fn stack_slot() -> Option<(pcsc::Context, Slot)> {
    if skip_e2e() {
        return None;
    }
    let ctx = context();
    let slot = Slot::lease(&ctx);
    Some((ctx, slot))
}

/// As [`stack_slot`], with a bridge spawned on the slot with `extra` options and its card in
/// the reader: `let Some((ctx, slot, bridge)) = stack_bridge(&[]) else { return };`.
pub fn stack_bridge(extra: &[&str]) -> Option<(pcsc::Context, Slot, BridgeProcess)> {
    let (ctx, slot) = stack_slot()?;
    let bridge = BridgeProcess::spawn(&slot, extra);
    bridge.wait_card(&ctx, &slot.reader);
    Some((ctx, slot, bridge))
}

/// The file lock that leases vpcd slot `index`, shared with the Python suites
/// (tests/python/conftest.py, `slot_lock_path`). It lives in the stack's state directory
/// (`STACK_STATE_DIR`, as scripts/stack.sh uses it), which /work/shared/e2e/iso.sh and the like
/// make private to each namespace: runs beside their own pcscd do not wait for each other's
/// slots, while runs on one stack still share the locks.
pub fn slot_lock_path(index: u8) -> PathBuf {
    let dir = std::env::var_os("STACK_STATE_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("vcard-stack"));
    if let Err(e) = std::fs::create_dir_all(&dir) {
        panic!(
            "cannot create the stack state directory {}: {e}",
            dir.display()
        );
    }
    dir.join(format!("vcard-e2e-slot{index}.lock"))
}

/// One vpcd slot, held exclusively while this value lives.
pub struct Slot {
    pub index: u8,
    pub port: u16,
    pub reader: CString,
    _lock: File,
}

impl Slot {
    /// Leases a free slot (waiting up to 5 minutes for one). A slot whose reader already holds a
    /// card that is not the tests' (such as `scripts/up.sh`'s bridge) is left alone; if every slot
    /// has such a card, the test fails saying so.
    pub fn lease(ctx: &pcsc::Context) -> Slot {
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            let mut foreign = Vec::new();
            for index in [1u8, 0] {
                let path = slot_lock_path(index);
                let file = match File::options()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(&path)
                {
                    Ok(f) => f,
                    Err(e) => panic!("cannot open the slot lock {}: {e}", path.display()),
                };
                if rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive)
                    .is_err()
                {
                    continue;
                }
                let reader = CString::new(format!("Virtual PCD 00 {index:02}"))
                    .expect("no NUL in a reader name");
                // A bridge a previous test stopped may still be leaving: give it a moment.
                if wait_for_card(ctx, &reader, false, Duration::from_secs(2)).is_err() {
                    foreign.push(reader.to_string_lossy().into_owned());
                    continue;
                }
                return Slot {
                    index,
                    port: 35963 + u16::from(index),
                    reader,
                    _lock: file,
                };
            }
            assert!(
                foreign.len() < 2,
                "both vpcd slots hold a card the tests did not put there ({foreign:?}); \
                 stop the other bridge (scripts/down.sh)"
            );
            assert!(
                Instant::now() < deadline,
                "no vpcd slot became free in 5 minutes"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `--vpcd` for this slot.
    pub fn vpcd(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn reader_name(&self) -> String {
        self.reader.to_string_lossy().into_owned()
    }
}

/// Waits (SCardGetStatusChange, bounded) until `reader` has a card (`present`) or none; returns
/// the ATR when present.
pub fn wait_for_card(
    ctx: &pcsc::Context,
    reader: &CStr,
    present: bool,
    timeout: Duration,
) -> Result<Vec<u8>, String> {
    let deadline = Instant::now() + timeout;
    let mut states = [pcsc::ReaderState::new(reader, pcsc::State::UNAWARE)];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match ctx.get_status_change(left, &mut states) {
            Ok(()) => {}
            Err(pcsc::Error::Timeout) => {
                return Err(format!(
                    "{reader:?} did not {} within {timeout:?}",
                    if present {
                        "get a card"
                    } else {
                        "become empty"
                    }
                ));
            }
            Err(e) => return Err(format!("SCardGetStatusChange on {reader:?}: {e}")),
        }
        let state = &states[0];
        let event = state.event_state();
        if event.contains(pcsc::State::UNKNOWN) {
            return Err(format!("pcscd does not know the reader {reader:?}"));
        }
        if present && event.contains(pcsc::State::PRESENT) {
            return Ok(state.atr().to_vec());
        }
        if !present && event.contains(pcsc::State::EMPTY) {
            return Ok(Vec::new());
        }
        states[0].sync_current_state();
    }
}

/// The `reader-bridge` binary: `$VCARD_BRIDGE_BIN`, else beside this test's target directory
/// (`cargo test --workspace` builds it, since reader-bridge has integration tests).
pub fn bridge_binary() -> PathBuf {
    if let Ok(path) = std::env::var(BRIDGE_BIN_ENV) {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("current exe");
    // target/<profile>/deps/<test> -> target/<profile>/reader-bridge
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binary lives in target/<profile>/deps");
    let path = dir.join("reader-bridge");
    assert!(
        path.is_file(),
        "{} is missing: build it with `cargo build -p reader-bridge` (scripts/test.sh does), or \
         set {BRIDGE_BIN_ENV}",
        path.display()
    );
    path
}

/// A `reader-bridge` process started by a test, with its own temporary state directory. It is
/// stopped by its PID (SIGTERM, then SIGKILL) when dropped.
pub struct BridgeProcess {
    child: Option<Child>,
    pub dir: tempfile::TempDir,
    pub state: PathBuf,
    pub log: PathBuf,
}

impl BridgeProcess {
    /// Starts the bridge on `slot` with `--state <tmp>/state.bin` and `extra` arguments.
    pub fn spawn(slot: &Slot, extra: &[&str]) -> BridgeProcess {
        let dir = tempfile::tempdir().expect("temp dir");
        let state = dir.path().join("state.bin");
        Self::spawn_with_state(&slot.vpcd(), dir, state, extra)
    }

    /// Starts the bridge on `vpcd` with the given state file (inside `dir`, which it keeps).
    pub fn spawn_with_state(
        vpcd: &str,
        dir: tempfile::TempDir,
        state: PathBuf,
        extra: &[&str],
    ) -> BridgeProcess {
        Self::spawn_env(vpcd, dir, state, extra, &[])
    }

    /// As [`BridgeProcess::spawn_with_state`], with extra environment variables.
    pub fn spawn_env(
        vpcd: &str,
        dir: tempfile::TempDir,
        state: PathBuf,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> BridgeProcess {
        let log = dir.path().join("bridge.log");
        let log_file = File::create(&log).expect("bridge log");
        let mut cmd = Command::new(bridge_binary());
        cmd.arg("run")
            .arg("--vpcd")
            .arg(vpcd)
            .arg("--state")
            .arg(&state)
            .arg("-v")
            .args(extra)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file);
        let child = cmd.spawn().expect("spawn reader-bridge");
        BridgeProcess {
            child: Some(child),
            dir,
            state,
            log,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// The bridge's log so far (for assertion messages).
    pub fn log_text(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = File::open(&self.log) {
            let _ = f.read_to_string(&mut text);
        }
        text
    }

    /// Sends `signal` to the bridge's PID and waits up to `timeout` for it to exit.
    pub fn signal_and_wait(
        &mut self,
        signal: rustix::process::Signal,
        timeout: Duration,
    ) -> ExitStatus {
        let child = self.child.as_mut().expect("bridge still owned");
        let pid = rustix::process::Pid::from_raw(i32::try_from(child.id()).expect("pid fits"))
            .expect("nonzero pid");
        rustix::process::kill_process(pid, signal).expect("signal the bridge");
        let status = wait_child(child, timeout).unwrap_or_else(|| {
            panic!(
                "the bridge did not exit within {timeout:?} after {signal:?}; log:\n{}",
                self.log_text()
            )
        });
        self.child = None;
        status
    }

    /// Waits (bounded by [`CARD_TIMEOUT`]) until pcscd sees this bridge's card in `reader`;
    /// returns its ATR, or panics with the bridge's log.
    pub fn wait_card(&self, ctx: &pcsc::Context, reader: &CStr) -> Vec<u8> {
        wait_for_card(ctx, reader, true, CARD_TIMEOUT)
            .unwrap_or_else(|e| panic!("{e}; bridge log:\n{}", self.log_text()))
    }

    /// Stops the bridge with `signal`, checks that it exits 0 and that its card leaves `reader`.
    pub fn stop_cleanly(
        &mut self,
        signal: rustix::process::Signal,
        ctx: &pcsc::Context,
        reader: &CStr,
    ) {
        let status = self.signal_and_wait(signal, Duration::from_secs(10));
        assert!(status.success(), "{signal:?} exits 0, got {status}");
        wait_for_card(ctx, reader, false, CARD_TIMEOUT).expect("card removed");
    }

    /// Whether the bridge already exited (and how).
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }
}

impl Drop for BridgeProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Ok(raw) = i32::try_from(child.id()) {
                if let Some(pid) = rustix::process::Pid::from_raw(raw) {
                    let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
                }
            }
            if wait_child(&mut child, Duration::from_secs(5)).is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// Waits for a child to exit, polling `try_wait` for at most `timeout`.
pub fn wait_child(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            _ => return None,
        }
    }
}

/// A fresh temporary directory (removed when the returned guard drops) and the path of a file
/// `name` in it (not created).
pub fn temp_file(name: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(name);
    (dir, path)
}

/// A binary of the workspace beside `reader-bridge` (`cargo build --workspace --bins` builds
/// them; `scripts/test.sh` does).
pub fn workspace_binary(name: &str) -> PathBuf {
    let bridge = bridge_binary();
    let path = bridge
        .parent()
        .map_or_else(|| PathBuf::from(name), |dir| dir.join(name));
    assert!(
        path.is_file(),
        "{} is missing: build it with `cargo build --workspace --bins` (scripts/test.sh does)",
        path.display()
    );
    path
}

/// Runs the workspace's binary `name` ([`workspace_binary`]) as [`run_tool`] does.
pub fn run_workspace_tool(name: &str, args: &[&str], timeout: Duration) -> Output {
    let bin = workspace_binary(name);
    run_tool(bin.to_str().expect("utf-8 path"), args, &[], timeout)
}

/// Runs a client program with a bounded time; panics (with its output) if it does not finish.
pub fn run_tool(program: &str, args: &[&str], env: &[(&str, &str)], timeout: Duration) -> Output {
    let mut child = Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {program} (scripts/test.sh installs it): {e}"));
    // Drain the pipes in threads so a chatty tool cannot block on a full pipe.
    let mut out = child.stdout.take().expect("stdout piped");
    let mut err = child.stderr.take().expect("stderr piped");
    let out_thread = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let err_thread = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let status = match wait_child(&mut child, timeout) {
        Some(status) => status,
        None => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{program} {args:?} did not finish within {timeout:?}");
        }
    };
    Output {
        status,
        stdout: out_thread.join().unwrap_or_default(),
        stderr: err_thread.join().unwrap_or_default(),
    }
}

/// The attestation root (PEM) of the card in the state file `state`, from `reader-bridge
/// export-attestation` (which opens the card there, making a fresh one when there is no file);
/// `extra` options (e.g. `--profile`) go before `--state`. Panics with the bridge's error output
/// when it fails or prints no certificate.
pub fn export_attestation(state: &Path, extra: &[&str]) -> String {
    let bin = bridge_binary();
    let mut args = vec!["export-attestation"];
    args.extend_from_slice(extra);
    args.extend(["--state", state.to_str().expect("utf-8 path")]);
    let out = run_tool(
        bin.to_str().expect("utf-8 path"),
        &args,
        &[],
        Duration::from_secs(60),
    );
    let pem = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && pem.contains("BEGIN CERTIFICATE"),
        "export-attestation {}: {}\n{pem}",
        state.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    pem
}

/// A connected card with a transmit helper that returns (data, SW).
pub struct Client {
    pub card: pcsc::Card,
    buf: Vec<u8>,
}

impl Client {
    /// Connects to the card in `reader` (shared mode, any protocol).
    pub fn connect(ctx: &pcsc::Context, reader: &CStr) -> Client {
        let card = ctx
            .connect(reader, pcsc::ShareMode::Shared, pcsc::Protocols::ANY)
            .unwrap_or_else(|e| panic!("connect to {reader:?}: {e}"));
        Client {
            card,
            buf: vec![0; pcsc::MAX_BUFFER_SIZE_EXTENDED],
        }
    }

    /// Sends raw bytes; returns the raw response.
    pub fn raw(&mut self, apdu: &[u8]) -> Vec<u8> {
        self.card
            .transmit(apdu, &mut self.buf)
            .map(<[u8]>::to_vec)
            .unwrap_or_else(|e| panic!("transmit {}: {e}", hex_encode(apdu)))
    }

    /// Sends hex; returns (data, SW).
    pub fn send(&mut self, hex: &str) -> (Vec<u8>, u16) {
        let apdu = hex_decode(hex).unwrap_or_else(|| panic!("bad hex in test: {hex}"));
        split(self.raw(&apdu))
    }
}

/// Splits a response into data and SW.
pub fn split(response: Vec<u8>) -> (Vec<u8>, u16) {
    let (data, sw) = fido_host::iso::split_sw(&response)
        .unwrap_or_else(|| panic!("response without SW: {response:?}"));
    (data.to_vec(), sw)
}

/// Formats an ATR as opensc-tool prints it ("3b:85:80:01:...").
pub fn opensc_atr(atr: &[u8]) -> String {
    atr.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The index opensc-tool gives `reader` in `opensc-tool -l` output.
pub fn opensc_reader_index(list_output: &str, reader: &str) -> Option<usize> {
    list_output
        .lines()
        .filter(|l| l.ends_with(reader))
        .find_map(|l| l.split_whitespace().next()?.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opensc_list_parsing() {
        let out = "# Detected readers (pcsc)\nNr.  Card  Features  Name\n0    No              Virtual PCD 00 00\n1    Yes             Virtual PCD 00 01\n";
        assert_eq!(opensc_reader_index(out, "Virtual PCD 00 01"), Some(1));
        assert_eq!(opensc_reader_index(out, "Virtual PCD 00 00"), Some(0));
        assert_eq!(opensc_reader_index(out, "Other"), None);
        assert_eq!(opensc_atr(&[0x3B, 0x8A, 0x80]), "3b:8a:80");
    }

    #[test]
    fn split_sw() {
        assert_eq!(split(vec![1, 0x90, 0x00]), (vec![1], 0x9000));
    }

    #[test]
    fn select_fido_is_the_select_apdu_in_hex() {
        assert_eq!(SELECT_FIDO, "00A4040008A0000006472F000100");
    }
}
