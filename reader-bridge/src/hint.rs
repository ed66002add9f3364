//! What the bridge tells the user when it cannot reach vpcd.
//!
//! The first failed attempt of an outage gets one warning that names the address and the likely
//! causes; later attempts are logged at debug level only, and the bridge keeps retrying (see
//! [`crate::serve`]). The causes are the ones users of vsmartcard's reader meet: on Linux, pcscd
//! with the vpcd driver not running; on a Windows host (the BixVReader driver, docs/windows.md),
//! the driver not installed or configured for another port, the port reserved by Hyper-V, the
//! firewall, and WSL2's NAT networking, where 127.0.0.1 is WSL's own loopback and not Windows'.

use std::io;
use std::net::SocketAddr;

/// The page with the Windows walkthrough and its troubleshooting section.
pub const WINDOWS_DOC: &str = "docs/windows.md";

/// Why one connection attempt failed.
#[derive(Debug)]
pub enum Unreachable {
    /// The host name did not resolve (it is looked up again at the next attempt).
    Resolve(io::Error),
    /// Every address the name resolved to refused or failed; `error` is the last address's.
    Connect {
        addrs: Vec<SocketAddr>,
        error: io::Error,
    },
}

impl Unreachable {
    /// A one-line summary for the debug log of a repeated failure.
    pub fn short(&self) -> String {
        match self {
            Self::Resolve(e) => format!("cannot resolve the host name: {e}"),
            Self::Connect { error, .. } => error.to_string(),
        }
    }
}

/// The warning for the first failed attempt to reach vpcd at `vpcd` (as given on the command
/// line), after waiting up to `timeout` for an answer.
pub fn unreachable_warning(vpcd: &str, failure: &Unreachable, timeout_secs: u64) -> String {
    let (head, causes) = match failure {
        Unreachable::Resolve(e) => (
            format!("cannot connect to vpcd at {vpcd}: the host name does not resolve ({e})"),
            vec![
                "a typo in the host name, or no name service for it from here (from WSL2, the \
                 Windows host is reachable as the default gateway's address, `ip route show \
                 default`, or as 127.0.0.1 with mirrored networking)"
                    .to_owned(),
            ],
        ),
        Unreachable::Connect { addrs, error } => {
            let listed = addrs
                .iter()
                .map(SocketAddr::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            let port = addrs.first().map_or(0, SocketAddr::port);
            let loopback = !addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback());
            match error.kind() {
                io::ErrorKind::ConnectionRefused => (
                    format!(
                        "cannot connect to vpcd at {vpcd} ({listed}): connection refused, \
                         nothing listens on that port"
                    ),
                    refused_causes(port, loopback),
                ),
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => (
                    format!(
                        "cannot connect to vpcd at {vpcd} ({listed}): no answer within \
                         {timeout_secs} s, the connection attempt timed out"
                    ),
                    timeout_causes(port),
                ),
                _ => (
                    format!("cannot connect to vpcd at {vpcd} ({listed}): {error}"),
                    timeout_causes(port),
                ),
            }
        }
    };
    let mut text = head;
    text.push_str("\n  Likely causes:");
    for cause in causes {
        text.push_str("\n  - ");
        text.push_str(&cause);
    }
    text.push_str(&format!(
        "\n  The bridge keeps retrying with back-off and says this only once (details: -v). \
         Troubleshooting for Windows hosts: {WINDOWS_DOC}."
    ));
    text
}

fn refused_causes(port: u16, loopback: bool) -> Vec<String> {
    let mut causes = Vec::new();
    // A bridge running on Windows talks to the Windows driver: pcscd and WSL's loopback are not
    // its concern there.
    let on_windows = cfg!(windows);
    if !on_windows {
        causes.push(
            "on Linux: pcscd is not running, or runs without vsmartcard's vpcd driver (package \
             vsmartcard-vpcd); where pcscd is socket-activated it starts only when a PC/SC \
             client connects and exits when idle, and vpcd listens only while it runs"
                .to_owned(),
        );
    }
    causes.push(format!(
        "on a Windows host: the vsmartcard reader driver (BixVReader) is not installed or not \
         started (Device Manager > Smart card readers, `certutil -scinfo`), or BixVReader.ini \
         gives the reader another TCP_PORT than {port}"
    ));
    causes.push(format!(
        "on a Windows host: port {port} lies in a range reserved by Hyper-V, WSL or Docker, so \
         the driver cannot listen on it (`netsh interface ipv4 show excludedportrange \
         protocol=tcp`)"
    ));
    if loopback && !on_windows {
        causes.push(
            "in WSL2 with NAT networking, 127.0.0.1/localhost is WSL's own loopback, not \
             Windows': use mirrored networking, or the Windows host's address"
                .to_owned(),
        );
    } else if !loopback {
        causes.push(format!(
            "a firewall on that host rejects TCP port {port}, or the port or host is wrong"
        ));
    }
    causes
}

fn timeout_causes(port: u16) -> Vec<String> {
    vec![
        format!(
            "a firewall drops the packets: Windows Defender Firewall blocks inbound TCP port \
             {port} from WSL2 or another machine unless a rule allows it"
        ),
        "the host is not the machine with the reader, or is unreachable from here (with WSL2 \
         NAT networking the Windows host's address can change at every restart)"
            .to_owned(),
        "vpcd has no authentication: rather than opening the port to a network, keep it on \
         loopback (WSL2 mirrored networking) or use an SSH tunnel"
            .to_owned(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The warning for `vpcd` (2 s timeout) when connecting to each of `addrs` failed with `kind`,
    /// asserted to name every one of `present` and none of `absent`.
    fn connect_warning(
        vpcd: &str,
        addrs: &[&str],
        kind: io::ErrorKind,
        present: &[&str],
        absent: &[&str],
    ) -> String {
        let failure = Unreachable::Connect {
            addrs: addrs
                .iter()
                .map(|a| a.parse().expect("socket address"))
                .collect(),
            error: io::Error::from(kind),
        };
        let text = unreachable_warning(vpcd, &failure, 2);
        for needle in present {
            assert!(text.contains(needle), "{needle:?} missing: {text}");
        }
        for needle in absent {
            assert!(!text.contains(needle), "{needle:?} named: {text}");
        }
        text
    }

    #[test]
    fn refused_on_loopback_names_address_driver_port_range_and_wsl() {
        let text = connect_warning(
            "localhost:35963",
            &["127.0.0.1:35963", "[::1]:35963"],
            io::ErrorKind::ConnectionRefused,
            &[
                "BixVReader",
                "TCP_PORT than 35963",
                "port 35963 lies in a range reserved",
                "excludedportrange",
                "keeps retrying",
                WINDOWS_DOC,
            ],
            // Loopback: no firewall.
            &["firewall"],
        );
        assert!(
            text.starts_with("cannot connect to vpcd at localhost:35963 (127.0.0.1:35963, [::1]:35963): connection refused"),
            "{text}"
        );
        // Linux's pcscd and WSL's own loopback matter only to a bridge that is not on Windows.
        for needle in ["pcscd", "mirrored networking"] {
            assert_eq!(text.contains(needle), !cfg!(windows), "{needle:?}: {text}");
        }
    }

    #[test]
    fn refused_on_another_host_names_the_firewall_not_wsl_loopback() {
        connect_warning(
            "192.0.2.7:35964",
            &["192.0.2.7:35964"],
            io::ErrorKind::ConnectionRefused,
            &["firewall", "TCP port 35964"],
            &["WSL's own loopback"],
        );
    }

    #[test]
    fn timeout_names_firewall_and_the_security_advice() {
        connect_warning(
            "winhost:35963",
            &["192.0.2.1:35963"],
            io::ErrorKind::TimedOut,
            &[
                "no answer within 2 s",
                "Windows Defender Firewall",
                "no authentication",
                "SSH tunnel",
            ],
            &[],
        );
    }

    #[test]
    fn resolution_failure_names_the_host() {
        let failure = Unreachable::Resolve(io::Error::other("no such host"));
        let text = unreachable_warning("winhost:35963", &failure, 2);
        assert!(
            text.starts_with("cannot connect to vpcd at winhost:35963: the host name does not resolve (no such host)"),
            "{text}"
        );
        assert_eq!(
            failure.short(),
            "cannot resolve the host name: no such host"
        );
    }
}
