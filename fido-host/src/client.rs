//! A host-side CTAP 2.1 client over ISO 7816 (CTAP 2.1 §11.3, NFC binding), written from the
//! specification: it talks to *any* card through a [`Transport`] (PC/SC, or an in-process card)
//! and records every APDU so a caller (fido-check) can show its evidence.
//!
//! This module holds the client and its framing; the commands are in [`crate::ctap2`] (getInfo,
//! makeCredential, getAssertion, reset, selection), [`crate::client_pin`] (PIN/UV auth protocols,
//! tokens, hmac-secret) and [`crate::management`] (credentialManagement, authenticatorConfig,
//! largeBlobs).

use ctap_types::cbor::{self, Value};
use ctap_types::error::status_name;

use crate::iso::{self, Exchange};
use crate::nfc::{self, Framing};
use crate::pin_protocol;
use crate::transport::Transport;

/// A status word with its ISO 7816-4 meaning: "6D00 (INS not supported)".
pub fn sw_name(sw: u16) -> String {
    format!("{sw:04X} ({})", apdu::StatusWord(sw).description())
}

/// One recorded operation: what was asked, the APDUs on the wire, and what came back.
#[derive(Debug, Clone, PartialEq)]
pub struct Op {
    pub label: String,
    /// The request in CBOR diagnostic notation (CTAP commands) or empty.
    pub request: String,
    pub exchanges: Vec<Exchange>,
    /// The decoded answer: "CTAP2_OK {…}", "SW 6A82 (…)", or the transport error.
    pub outcome: String,
}

/// Why a CTAP operation did not give a usable answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    #[error("transport: {0}")]
    Transport(String),
    #[error("status word {}", sw_name(*.0))]
    Sw(u16),
    #[error("{name} (0x{0:02X})", name = status_name(*.0))]
    Ctap(u8),
    #[error("malformed answer: {0}")]
    Malformed(String),
    #[error("{0}")]
    Crypto(String),
}

impl ClientError {
    /// The CTAP status byte, if the card answered with one.
    pub fn ctap_code(&self) -> Option<u8> {
        match self {
            ClientError::Ctap(c) => Some(*c),
            _ => None,
        }
    }
}

impl From<pin_protocol::PinProtocolError> for ClientError {
    fn from(e: pin_protocol::PinProtocolError) -> Self {
        ClientError::Crypto(e.to_string())
    }
}

/// A CTAP answer: status byte and, on success, the CBOR body.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u8,
    pub body: Option<Value>,
    /// The CBOR bytes after the status byte (for the canonical-encoding check).
    pub raw_body: Vec<u8>,
}

/// The CTAP client.
pub struct Client {
    link: Box<dyn Transport>,
    pub framing: Framing,
    log: Vec<Op>,
    /// Every CBOR body the card answered with, for the canonical-encoding check.
    pub bodies: Vec<(String, Vec<u8>)>,
}

impl Client {
    pub fn new(link: Box<dyn Transport>) -> Client {
        Client {
            link,
            framing: Framing::default(),
            log: Vec::new(),
            bodies: Vec::new(),
        }
    }

    /// How many operations have been recorded (a check's evidence starts here).
    pub fn mark(&self) -> usize {
        self.log.len()
    }

    /// The operations recorded since `mark`.
    pub fn ops_since(&self, mark: usize) -> Vec<Op> {
        self.log.get(mark..).map(<[Op]>::to_vec).unwrap_or_default()
    }

    pub fn log(&self) -> &[Op] {
        &self.log
    }

    pub fn atr(&mut self) -> Result<Vec<u8>, String> {
        self.link.atr().map_err(|e| e.0)
    }

    /// Takes the card out of the field and back; recorded as an operation.
    pub fn power_cycle(&mut self) -> Result<(), ClientError> {
        let result = self.link.power_cycle().map_err(|e| e.0);
        self.log.push(Op {
            label: "power cycle (unpower + power up)".into(),
            request: String::new(),
            exchanges: Vec::new(),
            outcome: match &result {
                Ok(()) => "ok".into(),
                Err(e) => e.clone(),
            },
        });
        result.map_err(ClientError::Transport)
    }

    /// Sends one APDU, following 61xx with GET RESPONSE (CLA per `framing`); returns the
    /// reassembled data and final SW. Recorded under `label`.
    pub fn apdu(&mut self, label: &str, apdu: &[u8]) -> Result<(Vec<u8>, u16), ClientError> {
        let result = iso::exchange(&mut *self.link, apdu, self.framing.follow());
        match result {
            Ok(outcome) => {
                self.log.push(Op {
                    label: label.to_owned(),
                    request: String::new(),
                    exchanges: outcome.exchanges,
                    outcome: format!("{} bytes, SW {}", outcome.data.len(), sw_name(outcome.sw)),
                });
                Ok((outcome.data, outcome.sw))
            }
            Err(e) => {
                self.log.push(Op {
                    label: label.to_owned(),
                    request: String::new(),
                    exchanges: vec![Exchange {
                        command: apdu.to_vec(),
                        response: Vec::new(),
                    }],
                    outcome: format!("transport error: {}", e.0),
                });
                Err(ClientError::Transport(e.0))
            }
        }
    }

    /// SELECT of the FIDO applet (with Le, as Windows and python-fido2 send it); returns the
    /// answer's data and SW.
    pub fn select(&mut self) -> Result<(Vec<u8>, u16), ClientError> {
        self.apdu("SELECT FIDO AID", &nfc::SELECT)
    }

    /// The APDUs carrying one NFCCTAP_MSG under `framing`.
    pub fn frame(framing: Framing, message: &[u8]) -> Vec<Vec<u8>> {
        nfc::frame(&framing, message)
    }

    /// Sends a CTAP message (command byte ‖ CBOR) and decodes the answer. CTAP errors come
    /// back as `Ok(Reply)` with a non-zero status; ISO errors and transport failures as `Err`.
    pub fn ctap_raw(&mut self, label: &str, message: &[u8]) -> Result<Reply, ClientError> {
        let request = match message.split_first() {
            Some((c, rest)) if !rest.is_empty() => {
                format!("{c:02X} {}", cbor::diag_bytes(rest))
            }
            Some((c, _)) => format!("{c:02X}"),
            None => String::new(),
        };
        let (exchanges, result) = match nfc::send_message(&mut *self.link, &self.framing, message) {
            Ok(out) => (out.exchanges, Ok((out.data, out.sw))),
            Err((e, exchanges)) => (exchanges, Err(ClientError::Transport(e.0))),
        };
        let reply = result.and_then(|(data, sw)| {
            if sw != 0x9000 {
                return Err(ClientError::Sw(sw));
            }
            let (&status, body) = data
                .split_first()
                .ok_or_else(|| ClientError::Malformed("9000 without a CTAP status byte".into()))?;
            let value = if body.is_empty() {
                None
            } else {
                self.bodies.push((label.to_owned(), body.to_vec()));
                Some(cbor::decode(body).map_err(|e| ClientError::Malformed(e.to_string()))?)
            };
            Ok(Reply {
                status,
                body: value,
                raw_body: body.to_vec(),
            })
        });
        let outcome = match &reply {
            Ok(r) => match &r.body {
                Some(b) => format!("{} {}", status_name(r.status), cbor::diag(b)),
                None => status_name(r.status).to_owned(),
            },
            Err(e) => e.to_string(),
        };
        self.log.push(Op {
            label: label.to_owned(),
            request,
            exchanges,
            outcome,
        });
        reply
    }

    /// A CTAP command with optional parameters; non-zero status becomes `Err(Ctap)`.
    pub fn ctap(
        &mut self,
        label: &str,
        command: u8,
        params: Option<&Value>,
    ) -> Result<Option<Value>, ClientError> {
        let mut message = vec![command];
        if let Some(p) = params {
            message.extend_from_slice(&p.to_vec());
        }
        let reply = self.ctap_raw(label, &message)?;
        if reply.status != 0 {
            return Err(ClientError::Ctap(reply.status));
        }
        Ok(reply.body)
    }

    pub(crate) fn ctap_body(
        &mut self,
        label: &str,
        command: u8,
        params: Option<&Value>,
    ) -> Result<Value, ClientError> {
        self.ctap(label, command, params)?
            .ok_or_else(|| ClientError::Malformed(format!("{label}: CTAP2_OK without a body")))
    }

    /// The transport, for callers that send their own APDUs.
    pub fn transport(&mut self) -> &mut dyn Transport {
        &mut *self.link
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_names() {
        assert_eq!(status_name(0x27), "CTAP2_ERR_OPERATION_DENIED");
        assert_eq!(
            ClientError::Ctap(0x2E).to_string(),
            "CTAP2_ERR_NO_CREDENTIALS (0x2E)"
        );
        assert!(sw_name(0x6D00).starts_with("6D00 ("));
    }
}
