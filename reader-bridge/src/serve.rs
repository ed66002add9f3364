//! The bridge's loop: connect to vpcd, serve the card, reconnect with backoff when vpcd goes away,
//! stop when the shutdown flag is raised (by SIGINT/SIGTERM in the binary).

use std::io;
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::backoff::Backoff;
use crate::card::BridgeCard;
use crate::control::SlotControl;
use crate::hint::unreachable_warning;
use crate::net::{self, Readiness};

/// How one connection to vpcd ended.
#[derive(Debug)]
pub enum SessionEnd {
    /// The shutdown flag was raised.
    Shutdown,
    /// vpcd closed the connection (pcscd stopped or restarted).
    Closed,
    /// The connection failed.
    Failed(io::Error),
    /// The card was removed through the control endpoint.
    Removed,
}

/// Serves one card to one vpcd slot.
pub struct Bridge {
    /// vpcd's address as given (`HOST:PORT`), resolved at every attempt.
    label: String,
    shutdown: Arc<AtomicBool>,
    backoff: Backoff,
    /// How often an idle connection checks the shutdown flag.
    idle_poll: Duration,
    connect_timeout: Duration,
    /// The card's control state: removal keeps the bridge from vpcd until `insert`.
    control: Option<Arc<SlotControl>>,
}

impl Bridge {
    /// A bridge to vpcd at `vpcd` ("HOST:PORT", HOST an address or a name); it stops when
    /// `shutdown` becomes true. Only the form of the address is checked here: a name is resolved
    /// at every connection attempt.
    pub fn new(vpcd: &str, shutdown: Arc<AtomicBool>) -> io::Result<Self> {
        net::check_address(vpcd)?;
        Ok(Self {
            label: vpcd.to_owned(),
            shutdown,
            backoff: Backoff::default(),
            idle_poll: Duration::from_millis(200),
            connect_timeout: Duration::from_secs(2),
            control: None,
        })
    }

    /// Takes removals and insertions from `control` (see [`crate::control`]).
    pub fn with_control(mut self, control: Arc<SlotControl>) -> Self {
        self.control = Some(control);
        self
    }

    fn removed(&self) -> bool {
        self.control.as_ref().is_some_and(|c| !c.is_inserted())
    }

    /// Replaces the reconnect backoff.
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    fn stopping(&self) -> bool {
        self.shutdown.load(Ordering::SeqCst)
    }

    /// Connects, serves and reconnects until the shutdown flag is raised.
    ///
    /// The first failed attempt of an outage is reported once, with the likely causes
    /// ([`crate::hint`]); the retries after it are logged at debug level only, until a session
    /// that did real work starts a new outage.
    pub fn run(&mut self, card: &mut BridgeCard) {
        let mut quiet = false;
        while !self.stopping() {
            // A removed card stays out of the reader until `insert`.
            if let Some(ctl) = &self.control {
                if !ctl.is_inserted() {
                    tracing::info!("card removed: not connecting to vpcd until it is inserted");
                    if !ctl.wait_until_inserted() {
                        break;
                    }
                    tracing::info!("card inserted");
                    self.backoff.reset();
                    quiet = false;
                }
            }
            match net::attempt(&self.label, self.connect_timeout) {
                Ok(stream) => {
                    tracing::info!("connected to vpcd at {}", self.label);
                    if let Some(ctl) = &self.control {
                        ctl.connected(stream.try_clone().ok());
                    }
                    let (end, messages) = self.serve_connection(stream, card);
                    card.connection_lost();
                    if let Some(ctl) = &self.control {
                        ctl.disconnected();
                    }
                    if messages > 0 {
                        self.backoff.reset();
                        quiet = false;
                    }
                    if self.removed() {
                        // Back to the top: wait for `insert`, no backoff (and no fault's absence:
                        // `insert` decides when the card is back).
                        let _ = card.take_absence();
                        continue;
                    }
                    // A fault took the card out of the field: stay away, then come back.
                    if let Some(away) = card.take_absence() {
                        tracing::info!("card removed by a fault; back in {away:?}");
                        self.sleep_unless_stopping(away);
                        continue;
                    }
                    match end {
                        SessionEnd::Shutdown => break,
                        SessionEnd::Removed => continue,
                        SessionEnd::Closed => {
                            tracing::warn!("vpcd at {} closed the connection", self.label)
                        }
                        SessionEnd::Failed(e) => {
                            tracing::warn!("connection to vpcd at {} failed: {e}", self.label)
                        }
                    }
                }
                Err(e) if quiet => {
                    tracing::debug!("vpcd at {} still unreachable: {}", self.label, e.short())
                }
                Err(e) => {
                    let warning =
                        unreachable_warning(&self.label, &e, self.connect_timeout.as_secs());
                    tracing::warn!("{warning}");
                    quiet = true;
                }
            }
            let delay = self.backoff.next_delay();
            tracing::debug!("next attempt to reach vpcd in {delay:?}");
            self.sleep_unless_stopping(delay);
        }
        card.connection_lost();
        tracing::info!("shutting down");
    }

    fn sleep_unless_stopping(&self, delay: Duration) {
        let until = Instant::now() + delay;
        while !self.stopping() {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            std::thread::sleep(left.min(self.idle_poll));
        }
    }

    /// Serves `card` on one connection until it ends; returns how it ended and how many vpicc
    /// messages were handled.
    pub fn serve_connection(&self, stream: TcpStream, card: &mut BridgeCard) -> (SessionEnd, u64) {
        // A second handle on the same socket: the vpicc Connection owns the stream, and socket
        // options (read timeout, TCP_QUICKACK) set through either handle apply to both.
        let probe = match stream.try_clone() {
            Ok(probe) => probe,
            Err(e) => return (SessionEnd::Failed(e), 0),
        };
        card.attach_link(probe.try_clone().ok(), Arc::clone(&self.shutdown));
        let mut connection = vpicc::Connection::from(stream);
        let mut messages = 0;
        loop {
            if self.stopping() {
                return (SessionEnd::Shutdown, messages);
            }
            if self.removed() {
                return (SessionEnd::Removed, messages);
            }
            match net::wait_for_message(&probe, self.idle_poll) {
                Ok(Readiness::Idle) => continue,
                Ok(Readiness::Closed) => return (SessionEnd::Closed, messages),
                Ok(Readiness::Message) => {}
                Err(e) => return (SessionEnd::Failed(e), messages),
            }
            if let Err(e) = net::set_quickack(&probe) {
                return (SessionEnd::Failed(e), messages);
            }
            match connection.poll(card) {
                Ok(()) => messages += 1,
                // The message was read whole but vpicc refused it (unknown control byte, empty
                // message): the stream is still in step, so carry on.
                Err(e) if matches!(e.kind(), io::ErrorKind::InvalidData | io::ErrorKind::Other) => {
                    tracing::warn!("ignoring a vpicc message: {e}");
                    messages += 1;
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::UnexpectedEof
                            | io::ErrorKind::ConnectionReset
                            | io::ErrorKind::BrokenPipe
                    ) =>
                {
                    return (SessionEnd::Closed, messages);
                }
                Err(e) => return (SessionEnd::Failed(e), messages),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! The loop against a fake vpcd on loopback that speaks the vpicc protocol, with a stand-in
    //! applet (test code only).
    use super::*;
    use apdu::{Applet, Card, CardConfig, Command, Response};
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::sync::mpsc;

    const AID: [u8; 5] = [0xF0, 0x01, 0x02, 0x03, 0x04];
    const ATR: [u8; 4] = [0x3B, 0x80, 0x80, 0x01];

    struct Echo;
    impl Applet for Echo {
        fn select(&mut self, _cmd: &Command) -> Response {
            Response::ok(b"ECHO".to_vec())
        }
        fn process(&mut self, cmd: &Command) -> Response {
            Response::ok(cmd.data.clone())
        }
    }

    fn card() -> BridgeCard {
        let mut card = Card::new(CardConfig::default());
        card.install(&AID, Box::new(Echo));
        BridgeCard::new(card, ATR.to_vec())
    }

    fn send(stream: &mut TcpStream, payload: &[u8]) {
        let len = u16::try_from(payload.len()).expect("fits");
        stream.write_all(&len.to_be_bytes()).expect("send length");
        stream.write_all(payload).expect("send payload");
    }

    fn recv(stream: &mut TcpStream) -> Vec<u8> {
        let mut len = [0u8; 2];
        stream.read_exact(&mut len).expect("read length");
        let mut payload = vec![0; usize::from(u16::from_be_bytes(len))];
        stream.read_exact(&mut payload).expect("read payload");
        payload
    }

    fn accept(listener: &TcpListener) -> TcpStream {
        listener.set_nonblocking(true).expect("nonblocking");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match listener.accept() {
                Ok((stream, _)) => {
                    stream.set_nonblocking(false).expect("blocking");
                    stream
                        .set_read_timeout(Some(Duration::from_secs(10)))
                        .expect("timeout");
                    return stream;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                Err(e) => panic!("the bridge did not connect: {e}"),
            }
        }
    }

    fn select_apdu() -> Vec<u8> {
        let mut apdu = vec![0x00, 0xA4, 0x04, 0x00, AID.len() as u8];
        apdu.extend_from_slice(&AID);
        apdu
    }

    /// Runs a bridge to `addr` in a thread; returns the shutdown flag and a receiver that gets
    /// the card back when `run` returns.
    fn spawn(addr: &str) -> (Arc<AtomicBool>, mpsc::Receiver<BridgeCard>) {
        let shutdown = Arc::new(AtomicBool::new(false));
        let mut bridge = Bridge::new(addr, Arc::clone(&shutdown))
            .expect("bridge")
            .with_backoff(Backoff::new(
                Duration::from_millis(20),
                Duration::from_millis(200),
            ));
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut card = card();
            bridge.run(&mut card);
            let _ = tx.send(card);
        });
        (shutdown, rx)
    }

    #[test]
    fn serves_power_atr_apdus_reconnects_and_stops() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let (shutdown, done) = spawn(&addr);

        let mut vpcd = accept(&listener);
        send(&mut vpcd, &[0x01]); // power on
        send(&mut vpcd, &[0x04]); // get ATR
        assert_eq!(recv(&mut vpcd), ATR);
        send(&mut vpcd, &select_apdu());
        assert_eq!(recv(&mut vpcd), b"ECHO\x90\x00");

        // Length and payload in two sends with a pause longer than the bridge's idle poll: the
        // read timeout must not cut the message in half.
        let apdu = [0x00, 0x01, 0x00, 0x00, 0x02, 0xAA, 0xBB];
        vpcd.write_all(&(apdu.len() as u16).to_be_bytes())
            .expect("length");
        std::thread::sleep(Duration::from_millis(450));
        vpcd.write_all(&apdu).expect("payload");
        assert_eq!(recv(&mut vpcd), [0xAA, 0xBB, 0x90, 0x00]);

        // An unknown control byte is skipped; the stream stays in step.
        send(&mut vpcd, &[0x07]);
        send(&mut vpcd, &[0x00, 0x01, 0x00, 0x00, 0x01, 0x42]);
        assert_eq!(recv(&mut vpcd), [0x42, 0x90, 0x00]);

        // vpcd goes away: the bridge reconnects by itself, and the card lost its selection.
        drop(vpcd);
        let mut vpcd = accept(&listener);
        send(&mut vpcd, &[0x01]);
        send(&mut vpcd, &[0x00, 0x01, 0x00, 0x00, 0x01, 0x42]);
        assert_eq!(
            recv(&mut vpcd),
            [0x6D, 0x00],
            "no applet selected after reconnect"
        );
        send(&mut vpcd, &select_apdu());
        assert_eq!(recv(&mut vpcd), b"ECHO\x90\x00");

        shutdown.store(true, Ordering::SeqCst);
        let card = done
            .recv_timeout(Duration::from_secs(5))
            .expect("run returns soon after shutdown");
        assert!(!card.is_powered(), "powered off when the bridge stops");
    }

    /// A loopback port nothing listens on (bound by the OS, then released).
    fn free_port() -> u16 {
        TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port()
    }

    #[test]
    fn retries_until_vpcd_listens() {
        // Find a free loopback port, leave it closed for a while, then listen on it.
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let (shutdown, done) = spawn(&addr);
        std::thread::sleep(Duration::from_millis(300));
        let listener = TcpListener::bind(&addr).expect("rebind the port");
        let mut vpcd = accept(&listener);
        send(&mut vpcd, &[0x01]);
        send(&mut vpcd, &select_apdu());
        assert_eq!(recv(&mut vpcd), b"ECHO\x90\x00");
        shutdown.store(true, Ordering::SeqCst);
        done.recv_timeout(Duration::from_secs(5))
            .expect("run returns after shutdown");
    }

    #[test]
    fn shutdown_while_disconnected_returns() {
        let port = free_port();
        let (shutdown, done) = spawn(&format!("127.0.0.1:{port}"));
        std::thread::sleep(Duration::from_millis(100));
        shutdown.store(true, Ordering::SeqCst);
        done.recv_timeout(Duration::from_secs(5))
            .expect("run returns after shutdown");
    }
}
