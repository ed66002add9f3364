//! Where the control protocol ([`crate::control::protocol`]) is served: a local endpoint only
//! the user who runs the bridge can reach, never a network port.
//!
//! - **Unix**: a Unix-domain socket at `--control PATH`, mode 0600. It is bound inside a fresh
//!   0700 directory beside PATH, made 0600 there, and only then hard-linked to PATH, so it is
//!   never reachable with looser permissions. An existing PATH is replaced only when it is a
//!   *stale* socket (nothing accepts on it); a live socket (another bridge) or anything that
//!   is not a socket is refused. The socket is removed when the bridge stops.
//! - **Windows**: a TCP listener on 127.0.0.1 with an OS-chosen port, and a per-run random
//!   token; PATH becomes a small JSON file `{"port": N, "token": "<64 hex digits>"}` in the
//!   user's profile, protected by its ACL (docs/windows.md). Every request carries the token
//!   (`"token": "..."`). An existing PATH is replaced only when it is such a file.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::control::protocol::Controls;

/// The longest request line accepted (a local client has no reason to send more).
pub const MAX_LINE: u64 = 64 * 1024;
/// How often the accept loop looks at the shutdown flag.
const ACCEPT_POLL: Duration = Duration::from_millis(50);

/// Serves one client: request lines in, response lines out, until it hangs up.
pub fn serve_client(stream: impl Read + Write, controls: &Controls) -> io::Result<()> {
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        let n = (&mut reader).take(MAX_LINE).read_line(&mut line)?;
        if n == 0 {
            return Ok(());
        }
        let response = if !line.ends_with('\n') && n as u64 == MAX_LINE {
            crate::control::protocol::error(format!("a request line is at most {MAX_LINE} bytes"))
                .to_string()
        } else {
            let text = line.trim();
            if text.is_empty() {
                continue;
            }
            controls.handle_line(text)
        };
        let out = reader.get_mut();
        out.write_all(response.as_bytes())?;
        out.write_all(b"\n")?;
        out.flush()?;
        if !line.ends_with('\n') && n as u64 == MAX_LINE {
            // The rest of the oversized line would be read as requests: hang up instead.
            return Ok(());
        }
    }
}

/// The control endpoint, bound and ready to serve.
pub struct Endpoint {
    path: PathBuf,
    listener: platform::Listener,
    /// The token every request must carry (Windows).
    token: Option<String>,
}

impl Endpoint {
    /// Creates the endpoint at `path` (see the module documentation).
    pub fn bind(path: &Path) -> io::Result<Self> {
        let (listener, token) = platform::bind(path)?;
        Ok(Self {
            path: path.to_owned(),
            listener,
            token,
        })
    }

    /// The token requests must carry (Windows only).
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// Accepts clients (one thread each) until `shutdown` is raised; then removes the endpoint
    /// file.
    pub fn serve(self, controls: Arc<Controls>, shutdown: Arc<AtomicBool>) {
        if let Err(e) = self.listener.set_nonblocking(true) {
            tracing::error!("control endpoint {}: {e}", self.path.display());
            return;
        }
        tracing::info!("control endpoint at {}", self.path.display());
        while !shutdown.load(Ordering::SeqCst) {
            match self.listener.accept() {
                Ok(stream) => {
                    let controls = Arc::clone(&controls);
                    let spawned = std::thread::Builder::new()
                        .name("control-client".to_owned())
                        .spawn(move || {
                            if let Err(e) = stream
                                .set_nonblocking(false)
                                .and_then(|()| serve_client(stream, &controls))
                            {
                                tracing::debug!("control client: {e}");
                            }
                        });
                    if let Err(e) = spawned {
                        tracing::warn!("cannot serve a control client: {e}");
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(ACCEPT_POLL);
                }
                Err(e) => {
                    tracing::warn!("control endpoint: {e}");
                    std::thread::sleep(ACCEPT_POLL);
                }
            }
        }
        self.listener.remove(&self.path);
    }
}

#[cfg(unix)]
mod platform {
    use super::*;
    use std::fs;
    use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
    use std::os::unix::net::{UnixListener, UnixStream};

    pub struct Listener {
        inner: UnixListener,
        /// The socket's (device, inode): removed at exit only if PATH is still ours.
        id: (u64, u64),
    }

    pub struct Stream(UnixStream);

    impl Read for Stream {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.0.read(buf)
        }
    }

    impl Write for Stream {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.write(buf)
        }
        fn flush(&mut self) -> io::Result<()> {
            self.0.flush()
        }
    }

    impl Stream {
        pub fn set_nonblocking(&self, on: bool) -> io::Result<()> {
            self.0.set_nonblocking(on)
        }
    }

    impl Listener {
        pub fn set_nonblocking(&self, on: bool) -> io::Result<()> {
            self.inner.set_nonblocking(on)
        }

        pub fn accept(&self) -> io::Result<Stream> {
            self.inner.accept().map(|(s, _)| Stream(s))
        }

        pub fn remove(&self, path: &Path) {
            let ours = fs::symlink_metadata(path).is_ok_and(|m| (m.dev(), m.ino()) == self.id);
            if ours {
                let _ = fs::remove_file(path);
            }
        }
    }

    /// Removes `path` if it is a stale socket; refuses a live one or anything else.
    fn clear(path: &Path) -> io::Result<()> {
        let meta = match fs::symlink_metadata(path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        if !meta.file_type().is_socket() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!(
                    "{} exists and is not a socket: refusing to replace it",
                    path.display()
                ),
            ));
        }
        match UnixStream::connect(path) {
            Ok(_) => Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!(
                    "{} is the live control socket of another process",
                    path.display()
                ),
            )),
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                tracing::info!("replacing the stale control socket {}", path.display());
                fs::remove_file(path)
            }
            Err(e) => Err(e),
        }
    }

    pub fn bind(path: &Path) -> io::Result<(Listener, Option<String>)> {
        clear(path)?;
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // A private directory beside PATH (same file system, so PATH can be a hard link).
        let private = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        fs::DirBuilder::new().mode(0o700).create(&private)?;
        let temp = private.join("s");
        let bound = (|| {
            let inner = UnixListener::bind(&temp)?;
            fs::set_permissions(&temp, fs::Permissions::from_mode(0o600))?;
            // Fails if PATH appeared meanwhile: nothing is ever replaced here.
            fs::hard_link(&temp, path)?;
            let meta = fs::symlink_metadata(path)?;
            Ok(Listener {
                inner,
                id: (meta.dev(), meta.ino()),
            })
        })();
        let _ = fs::remove_file(&temp);
        let _ = fs::remove_dir(&private);
        bound.map(|l| (l, None))
    }
}

#[cfg(windows)]
mod platform {
    use super::*;
    use std::fs;
    use std::net::{TcpListener, TcpStream};

    pub struct Listener {
        inner: TcpListener,
        token: String,
    }

    pub type Stream = TcpStream;

    impl Listener {
        pub fn set_nonblocking(&self, on: bool) -> io::Result<()> {
            self.inner.set_nonblocking(on)
        }

        pub fn accept(&self) -> io::Result<Stream> {
            self.inner.accept().map(|(s, _)| s)
        }

        pub fn remove(&self, path: &Path) {
            let ours = fs::read_to_string(path)
                .ok()
                .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
                .is_some_and(|v| v["token"] == self.token.as_str());
            if ours {
                let _ = fs::remove_file(path);
            }
        }
    }

    pub fn bind(path: &Path) -> io::Result<(Listener, Option<String>)> {
        if let Ok(text) = fs::read_to_string(path) {
            let is_endpoint_file = serde_json::from_str::<serde_json::Value>(&text)
                .is_ok_and(|v| v["port"].is_u64() && v["token"].is_string());
            if !is_endpoint_file {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!(
                        "{} exists and is not a control endpoint file: refusing to replace it",
                        path.display()
                    ),
                ));
            }
        } else if path.exists() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} exists and is not readable", path.display()),
            ));
        }
        let inner = TcpListener::bind(("127.0.0.1", 0))?;
        let port = inner.local_addr()?.port();
        let mut bytes = [0u8; 32];
        fido_applet::platform::Rng::fill_bytes(&mut fido_applet::platform::OsRng, &mut bytes);
        let token = apdu::hex_encode(&bytes);
        let text = serde_json::json!({"port": port, "token": token}).to_string();
        fs::write(path, text)?;
        Ok((
            Listener {
                inner,
                token: token.clone(),
            },
            Some(token),
        ))
    }
}

/// A client's view of an endpoint file (Windows) or socket (Unix).
pub mod client {
    use super::*;
    use serde_json::Value;

    /// Sends `request` to the endpoint at `path` and reads the response.
    pub fn request(path: &Path, request: &Value) -> io::Result<Value> {
        let (mut stream, request) = connect(path, request)?;
        let mut line = request.to_string();
        line.push('\n');
        stream.write_all(line.as_bytes())?;
        stream.flush()?;
        let mut response = String::new();
        BufReader::new(stream)
            .take(MAX_LINE)
            .read_line(&mut response)?;
        serde_json::from_str(response.trim()).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the endpoint answered something that is not JSON ({e}): {response:?}"),
            )
        })
    }

    #[cfg(unix)]
    fn connect(path: &Path, request: &Value) -> io::Result<(impl Read + Write, Value)> {
        let stream = std::os::unix::net::UnixStream::connect(path)?;
        Ok((stream, request.clone()))
    }

    #[cfg(windows)]
    fn connect(path: &Path, request: &Value) -> io::Result<(impl Read + Write, Value)> {
        let text = std::fs::read_to_string(path)?;
        let file: Value = serde_json::from_str(&text)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        let port = file["port"]
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no port in the file"))?;
        let mut request = request.clone();
        if let Value::Object(map) = &mut request {
            map.insert("token".to_owned(), file["token"].clone());
        }
        let stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
        Ok((stream, request))
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use crate::control::SlotControl;
    use fido_applet::presence::PresenceGate;
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    use std::os::unix::net::UnixListener;

    fn controls() -> Arc<Controls> {
        let shutdown = Arc::new(AtomicBool::new(false));
        Arc::new(Controls::new(
            vec![SlotControl::new(
                0,
                PresenceGate::default(),
                crate::faults::Faults::new(),
                shutdown,
            )],
            None,
        ))
    }

    #[test]
    fn a_private_socket_that_answers_json_lines_and_goes_away() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ctl.sock");
        let endpoint = Endpoint::bind(&path).expect("bind");
        let meta = std::fs::symlink_metadata(&path).expect("socket");
        assert!(meta.file_type().is_socket());
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .expect("dir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(leftovers, ["ctl.sock"], "no temporary directory left");

        let shutdown = Arc::new(AtomicBool::new(false));
        let stop = Arc::clone(&shutdown);
        let server = std::thread::spawn(move || endpoint.serve(controls(), stop));
        let r = client::request(&path, &serde_json::json!({"cmd": "status"})).expect("status");
        assert_eq!(r["ok"], true);
        assert_eq!(r["slot"], 0);
        // Several requests on one connection, and a bad line answered in JSON.
        let mut s = std::os::unix::net::UnixStream::connect(&path).expect("connect");
        s.write_all(b"{\"cmd\":\"status\"}\n\nnope\n")
            .expect("write");
        let mut lines = BufReader::new(s).lines();
        let first: serde_json::Value =
            serde_json::from_str(&lines.next().expect("line").expect("read")).expect("json");
        assert_eq!(first["ok"], true);
        let second: serde_json::Value =
            serde_json::from_str(&lines.next().expect("line").expect("read")).expect("json");
        assert_eq!(second["ok"], false);

        shutdown.store(true, Ordering::SeqCst);
        server.join().expect("server");
        assert!(!path.exists(), "removed at exit");
    }

    #[test]
    fn replaces_only_a_stale_socket() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ctl.sock");

        std::fs::write(&path, b"precious").expect("file");
        let err = Endpoint::bind(&path).err().expect("refused");
        assert!(err.to_string().contains("not a socket"), "{err}");
        assert_eq!(std::fs::read(&path).expect("kept"), b"precious");
        std::fs::remove_file(&path).expect("rm");

        let live = UnixListener::bind(&path).expect("live");
        let err = Endpoint::bind(&path).err().expect("refused");
        assert!(err.to_string().contains("live control socket"), "{err}");
        drop(live); // the socket file stays: now stale
        assert!(path.exists());
        let endpoint = Endpoint::bind(&path).expect("a stale socket is replaced");
        assert_eq!(
            std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777,
            0o600
        );
        drop(endpoint);
    }
}
