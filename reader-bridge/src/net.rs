//! The card's TCP socket to vpcd.
//!
//! Debian's vpcd writes a message's 2-byte length and its payload in two sends. With Nagle on
//! vpcd's side and delayed ACKs on ours, the payload then waits for our ACK of the length: ~44 ms
//! per APDU. TCP_NODELAY on our socket makes our own sends go out at once; TCP_QUICKACK (Linux)
//! makes the kernel ACK at once, but the kernel clears it again on its own, so it is set before
//! every read.
//!
//! `--vpcd` takes `HOST:PORT` where HOST is an IP address or a host name; a name is resolved again
//! at every connection attempt, so a bridge started before the name resolves (or whose address
//! changes, as a Windows host's does seen from WSL2 with NAT networking) still finds vpcd.

use std::io;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use crate::hint::Unreachable;

/// Checks that `addr` has the form `HOST:PORT` (an IPv6 address in brackets, `[::1]:35963`),
/// without resolving it: a bad value is refused at start, a name that does not resolve yet is
/// retried.
pub fn check_address(addr: &str) -> io::Result<()> {
    if addr.parse::<SocketAddr>().is_ok() {
        return Ok(());
    }
    let invalid = |why: &str| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{addr:?} is not HOST:PORT ({why})"),
        )
    };
    let (host, port) = addr.rsplit_once(':').ok_or_else(|| invalid("no port"))?;
    if host.is_empty() {
        return Err(invalid("no host"));
    }
    if host.contains(':') {
        return Err(invalid(
            "an IPv6 address goes in brackets, e.g. [::1]:35963",
        ));
    }
    match port.parse::<u16>() {
        Ok(p) if p != 0 => Ok(()),
        _ => Err(invalid("the port is a number from 1 to 65535")),
    }
}

/// One connection attempt: resolves `addr` and connects to the first address that accepts.
pub fn attempt(addr: &str, timeout: Duration) -> Result<TcpStream, Unreachable> {
    let addrs = resolve(addr).map_err(Unreachable::Resolve)?;
    connect(&addrs, timeout).map_err(|error| Unreachable::Connect { addrs, error })
}

/// Resolves `addr` ("HOST:PORT").
pub fn resolve(addr: &str) -> io::Result<Vec<SocketAddr>> {
    let addrs: Vec<SocketAddr> = addr.to_socket_addrs()?.collect();
    if addrs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{addr} resolves to no address"),
        ));
    }
    Ok(addrs)
}

/// Connects to vpcd and sets TCP_NODELAY.
pub fn connect(addrs: &[SocketAddr], timeout: Duration) -> io::Result<TcpStream> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, "no address to connect to");
    for addr in addrs {
        match TcpStream::connect_timeout(addr, timeout) {
            Ok(stream) => {
                stream.set_nodelay(true)?;
                return Ok(stream);
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Asks the kernel to ACK incoming segments at once (Linux; a no-op elsewhere).
pub fn set_quickack(stream: &TcpStream) -> io::Result<()> {
    #[cfg(any(
        target_os = "linux",
        target_os = "android",
        target_os = "fuchsia",
        target_os = "cygwin"
    ))]
    {
        socket2::SockRef::from(stream).set_tcp_quickack(true)
    }
    #[cfg(not(any(
        target_os = "linux",
        target_os = "android",
        target_os = "fuchsia",
        target_os = "cygwin"
    )))]
    {
        let _ = stream;
        Ok(())
    }
}

/// What [`wait_for_message`] saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    /// At least one byte of a message has arrived: read the whole message now.
    Message,
    /// Nothing arrived within the timeout.
    Idle,
    /// vpcd closed the connection.
    Closed,
}

/// Waits up to `timeout` for the first byte of the next message without consuming it.
///
/// The read timeout applies only to this wait: it is cleared before returning, so reading the
/// message itself (length, then payload, possibly in separate segments) never times out halfway
/// and never loses its place in the stream.
pub fn wait_for_message(stream: &TcpStream, timeout: Duration) -> io::Result<Readiness> {
    set_quickack(stream)?;
    stream.set_read_timeout(Some(timeout))?;
    let mut first = [0u8; 1];
    let peeked = stream.peek(&mut first);
    stream.set_read_timeout(None)?;
    match peeked {
        Ok(0) => Ok(Readiness::Closed),
        Ok(_) => Ok(Readiness::Message),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
            ) =>
        {
            Ok(Readiness::Idle)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::TcpListener;

    fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let client = connect(&[addr], Duration::from_secs(5)).expect("connect");
        let (server, _) = listener.accept().expect("accept");
        (client, server)
    }

    #[test]
    fn connect_sets_nodelay_and_quickack_works() {
        let (client, _server) = pair();
        assert!(client.nodelay().expect("nodelay"));
        set_quickack(&client).expect("quickack");
        #[cfg(target_os = "linux")]
        assert!(
            socket2::SockRef::from(&client)
                .tcp_quickack()
                .expect("read quickack")
        );
    }

    #[test]
    fn idle_then_message_then_closed_without_consuming() {
        let (client, mut server) = pair();
        assert_eq!(
            wait_for_message(&client, Duration::from_millis(20)).expect("wait"),
            Readiness::Idle
        );
        // The timeout is cleared afterwards: reading the message must not time out.
        assert_eq!(client.read_timeout().expect("timeout"), None);
        server.write_all(&[0x00, 0x01, 0x04]).expect("write");
        assert_eq!(
            wait_for_message(&client, Duration::from_secs(5)).expect("wait"),
            Readiness::Message
        );
        let mut buf = [0u8; 3];
        let mut reader = &client;
        std::io::Read::read_exact(&mut reader, &mut buf).expect("peek left the bytes in place");
        assert_eq!(buf, [0x00, 0x01, 0x04]);
        drop(server);
        assert_eq!(
            wait_for_message(&client, Duration::from_secs(5)).expect("wait"),
            Readiness::Closed
        );
    }

    #[test]
    fn addresses_are_checked_without_resolving() {
        for ok in [
            "127.0.0.1:35963",
            "[::1]:35963",
            "localhost:35963",
            "winhost.example:1",
        ] {
            assert!(check_address(ok).is_ok(), "{ok}");
        }
        for bad in [
            "localhost",
            ":35963",
            "localhost:",
            "localhost:0",
            "localhost:65536",
            "localhost:port",
            "::1:35963",
        ] {
            let e = check_address(bad).expect_err(bad);
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{bad}");
            assert!(e.to_string().contains("HOST:PORT"), "{e}");
        }
    }

    #[test]
    fn attempt_resolves_names_and_reports_refusal_with_the_addresses() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let port = listener.local_addr().expect("local addr").port();
        let stream = attempt(&format!("localhost:{port}"), Duration::from_secs(5));
        // localhost may resolve to ::1 first; the IPv4 listener must still be found.
        assert!(stream.is_ok(), "{:?}", stream.err());
        drop(listener);
        match attempt(&format!("localhost:{port}"), Duration::from_secs(5)) {
            Err(Unreachable::Connect { addrs, error }) => {
                assert_eq!(error.kind(), io::ErrorKind::ConnectionRefused);
                assert!(
                    addrs
                        .iter()
                        .all(|a| a.port() == port && a.ip().is_loopback())
                );
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn resolve_refuses_garbage() {
        assert!(resolve("not an address").is_err());
        assert_eq!(
            resolve("127.0.0.1:35963").expect("resolves"),
            vec!["127.0.0.1:35963".parse::<SocketAddr>().expect("addr")]
        );
    }
}
