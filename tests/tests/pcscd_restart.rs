//! The bridge reconnects by itself when pcscd restarts. The test starts its own private pcscd
//! (a mount namespace gives it its own /run/pcscd, and its own reader.conf puts vpcd on ports
//! 35965/35966), so it never stops or restarts a pcscd it did not start. Needs root (mount) and
//! `unshare` (util-linux).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use integration_tests::{BridgeProcess, SELECT_FIDO, run_tool, skip_e2e, temp_file, wait_child};
use rustix::process::Signal;

const PORT: u16 = 35965;
const READER: &str = "Private PCD 00 00";
const VPCD_DRIVER: &str = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so";

struct PrivatePcscd {
    child: Child,
    socket: PathBuf,
}

fn listening(port: u16) -> bool {
    // /proc/net/tcp: "sl local_address rem_address st ..."; st 0A = LISTEN. Reading it never
    // connects to vpcd (a connection would be taken for a card).
    let want = format!(":{port:04X}");
    ["/proc/net/tcp", "/proc/net/tcp6"].iter().any(|f| {
        fs::read_to_string(f).is_ok_and(|t| {
            t.lines().skip(1).any(|l| {
                let cols: Vec<&str> = l.split_whitespace().collect();
                cols.get(1).is_some_and(|a| a.ends_with(&want)) && cols.get(3) == Some(&"0A")
            })
        })
    })
}

impl PrivatePcscd {
    fn start(run_dir: &Path, conf_dir: &Path) -> PrivatePcscd {
        assert!(
            !listening(PORT),
            "port {PORT} is already in use: another private pcscd?"
        );
        fs::create_dir_all("/run/pcscd").expect("create /run/pcscd (needs root)");
        let log = fs::File::create(run_dir.with_extension("log")).expect("pcscd log");
        let child = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg(r#"mount --bind "$1" /run/pcscd && exec pcscd -f -c "$2""#)
            .arg("sh")
            .arg(run_dir)
            .arg(conf_dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("run unshare (util-linux)");
        let mut pcscd = PrivatePcscd {
            child,
            socket: run_dir.join("pcscd.comm"),
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        while !(pcscd.socket.exists() && listening(PORT)) {
            if let Ok(Some(status)) = pcscd.child.try_wait() {
                panic!(
                    "the private pcscd exited ({status}); it needs root for its mount namespace \
                     (set VCARD_SKIP_E2E=1 to skip the real-stack tests)"
                );
            }
            assert!(Instant::now() < deadline, "the private pcscd did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        pcscd
    }

    fn stop(mut self) {
        let pid = rustix::process::Pid::from_raw(i32::try_from(self.child.id()).expect("pid"))
            .expect("nonzero pid");
        let _ = rustix::process::kill_process(pid, Signal::TERM);
        if wait_child(&mut self.child, Duration::from_secs(10)).is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    /// Runs pcsc-probe against this pcscd: waits for the card and sends `apdus`.
    fn probe(&self, apdus: &[&str]) -> Result<Vec<String>, String> {
        let socket = self.socket.to_str().expect("utf-8 path");
        let mut args = vec![READER, "15"];
        args.extend_from_slice(apdus);
        let out = run_tool(
            env!("CARGO_BIN_EXE_pcsc-probe"),
            &args,
            &[("PCSCLITE_CSOCK_NAME", socket)],
            Duration::from_secs(30),
        );
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect())
    }
}

impl Drop for PrivatePcscd {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[test]
fn bridge_reconnects_when_pcscd_restarts() {
    if skip_e2e() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let run_dir = dir.path().join("run");
    let conf_dir = dir.path().join("reader.conf.d");
    fs::create_dir_all(&run_dir).expect("run dir");
    fs::create_dir_all(&conf_dir).expect("conf dir");
    fs::write(
        conf_dir.join("vpcd"),
        format!(
            "FRIENDLYNAME \"Private PCD\"\nDEVICENAME /dev/null:0x{PORT:04X}\nLIBPATH {VPCD_DRIVER}\nCHANNELID 0x{PORT:04X}\n"
        ),
    )
    .expect("reader.conf");

    let pcscd = PrivatePcscd::start(&run_dir, &conf_dir);
    let (state_dir, state) = temp_file("state.bin");
    let mut bridge =
        BridgeProcess::spawn_with_state(&format!("127.0.0.1:{PORT}"), state_dir, state, &[]);

    let first = pcscd
        .probe(&[SELECT_FIDO])
        .unwrap_or_else(|e| panic!("{e}; bridge log:\n{}", bridge.log_text()));
    assert!(first[1].ends_with("9000"), "SELECT FIDO: {first:?}");

    // pcscd goes away and comes back: the bridge reconnects by itself.
    pcscd.stop();
    let pcscd = PrivatePcscd::start(&run_dir, &conf_dir);
    let second = pcscd.probe(&[SELECT_FIDO]).unwrap_or_else(|e| {
        panic!(
            "no card after the restart: {e}; bridge log:\n{}",
            bridge.log_text()
        )
    });
    assert_eq!(
        second, first,
        "same ATR and SELECT answer after reconnecting"
    );
    assert!(
        bridge.try_status().is_none(),
        "the bridge kept running through the restart"
    );

    let status = bridge.signal_and_wait(Signal::TERM, Duration::from_secs(10));
    assert!(status.success(), "SIGTERM exits 0, got {status}");
    pcscd.stop();
}
