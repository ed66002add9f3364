//! The card's TCP socket to vpcd.
//!
//! Debian's vpcd writes a message's 2-byte length and its payload in two sends. With Nagle on
//! vpcd's side and delayed ACKs on ours, the payload then waits for our ACK of the length: ~44 ms
//! per APDU. TCP_NODELAY on our socket makes our own sends go out at once; TCP_QUICKACK (Linux)
//! makes the kernel ACK at once, but the kernel clears it again on its own, so it is set before
//! every read.

use std::io;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

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
    fn resolve_refuses_garbage() {
        assert!(resolve("not an address").is_err());
        assert_eq!(
            resolve("127.0.0.1:35963").expect("resolves"),
            vec!["127.0.0.1:35963".parse::<SocketAddr>().expect("addr")]
        );
    }
}
