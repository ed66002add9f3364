//! A host-side CTAP 2.1 client over ISO 7816 (CTAP 2.1 §11.3, NFC binding), written from the
//! specification for fido-check: it talks to *any* card through a [`Link`] (PC/SC, or an
//! in-process card in tests) and records every APDU so checks can show their evidence.
//!
//! - framing: SELECT of the FIDO AID, NFCCTAP_MSG `80 10 00 00` (P1 = 00: this client does not
//!   poll NFCCTAP_GETRESPONSE, so a card must never answer 9100), short APDUs with command
//!   chaining (CLA 90 on all but the last part) or one extended APDU, GET RESPONSE on 61xx;
//! - the commands fido-check needs: getInfo (§6.4), makeCredential (§6.1), getAssertion /
//!   getNextAssertion (§6.2, §6.3), clientPIN (§6.5), authenticatorReset (§6.6) and
//!   credentialManagement (§6.8), plus the hmac-secret extension (§12.5).

use crate::attestation::{self, AuthData};
use crate::cbor::{self, Value};
use crate::pin_protocol::{self, Protocol, SharedSecret};
use crate::{Exchange, Follow, Transport};

/// The FIDO applet's AID (CTAP 2.1 §11.3.1).
pub const FIDO_AID: [u8; 8] = [0xA0, 0x00, 0x00, 0x06, 0x47, 0x2F, 0x00, 0x01];

/// CTAP command bytes.
pub mod cmd {
    pub const MAKE_CREDENTIAL: u8 = 0x01;
    pub const GET_ASSERTION: u8 = 0x02;
    pub const GET_INFO: u8 = 0x04;
    pub const CLIENT_PIN: u8 = 0x06;
    pub const RESET: u8 = 0x07;
    pub const GET_NEXT_ASSERTION: u8 = 0x08;
    pub const CREDENTIAL_MANAGEMENT: u8 = 0x0A;
    pub const CREDENTIAL_MANAGEMENT_PREVIEW: u8 = 0x41;
}

/// pinUvAuthToken permissions (CTAP 2.1 §6.5.5.7).
pub mod permission {
    pub const MAKE_CREDENTIAL: u8 = 0x01;
    pub const GET_ASSERTION: u8 = 0x02;
    pub const CREDENTIAL_MANAGEMENT: u8 = 0x04;
}

/// The name of a CTAP status byte (CTAP 2.1 §8.2.1).
pub fn ctap_status_name(code: u8) -> &'static str {
    match code {
        0x00 => "CTAP2_OK",
        0x01 => "CTAP1_ERR_INVALID_COMMAND",
        0x02 => "CTAP1_ERR_INVALID_PARAMETER",
        0x03 => "CTAP1_ERR_INVALID_LENGTH",
        0x04 => "CTAP1_ERR_INVALID_SEQ",
        0x05 => "CTAP1_ERR_TIMEOUT",
        0x06 => "CTAP1_ERR_CHANNEL_BUSY",
        0x0A => "CTAP1_ERR_LOCK_REQUIRED",
        0x0B => "CTAP1_ERR_INVALID_CHANNEL",
        0x11 => "CTAP2_ERR_CBOR_UNEXPECTED_TYPE",
        0x12 => "CTAP2_ERR_INVALID_CBOR",
        0x14 => "CTAP2_ERR_MISSING_PARAMETER",
        0x15 => "CTAP2_ERR_LIMIT_EXCEEDED",
        0x17 => "CTAP2_ERR_FP_DATABASE_FULL",
        0x18 => "CTAP2_ERR_LARGE_BLOB_STORAGE_FULL",
        0x19 => "CTAP2_ERR_CREDENTIAL_EXCLUDED",
        0x21 => "CTAP2_ERR_PROCESSING",
        0x22 => "CTAP2_ERR_INVALID_CREDENTIAL",
        0x23 => "CTAP2_ERR_USER_ACTION_PENDING",
        0x24 => "CTAP2_ERR_OPERATION_PENDING",
        0x25 => "CTAP2_ERR_NO_OPERATIONS",
        0x26 => "CTAP2_ERR_UNSUPPORTED_ALGORITHM",
        0x27 => "CTAP2_ERR_OPERATION_DENIED",
        0x28 => "CTAP2_ERR_KEY_STORE_FULL",
        0x2B => "CTAP2_ERR_UNSUPPORTED_OPTION",
        0x2C => "CTAP2_ERR_INVALID_OPTION",
        0x2D => "CTAP2_ERR_KEEPALIVE_CANCEL",
        0x2E => "CTAP2_ERR_NO_CREDENTIALS",
        0x2F => "CTAP2_ERR_USER_ACTION_TIMEOUT",
        0x30 => "CTAP2_ERR_NOT_ALLOWED",
        0x31 => "CTAP2_ERR_PIN_INVALID",
        0x32 => "CTAP2_ERR_PIN_BLOCKED",
        0x33 => "CTAP2_ERR_PIN_AUTH_INVALID",
        0x34 => "CTAP2_ERR_PIN_AUTH_BLOCKED",
        0x35 => "CTAP2_ERR_PIN_NOT_SET",
        0x36 => "CTAP2_ERR_PUAT_REQUIRED",
        0x37 => "CTAP2_ERR_PIN_POLICY_VIOLATION",
        0x39 => "CTAP2_ERR_REQUEST_TOO_LARGE",
        0x3A => "CTAP2_ERR_ACTION_TIMEOUT",
        0x3B => "CTAP2_ERR_UP_REQUIRED",
        0x3C => "CTAP2_ERR_UV_BLOCKED",
        0x3D => "CTAP2_ERR_INTEGRITY_FAILURE",
        0x3E => "CTAP2_ERR_INVALID_SUBCOMMAND",
        0x3F => "CTAP2_ERR_UV_INVALID",
        0x40 => "CTAP2_ERR_UNAUTHORIZED_PERMISSION",
        0x7F => "CTAP1_ERR_OTHER",
        0xE0..=0xEF => "CTAP2_ERR_EXTENSION_x",
        0xF0..=0xFF => "CTAP2_ERR_VENDOR_x",
        _ => "unknown CTAP status",
    }
}

/// A status word with its ISO 7816-4 meaning: "6D00 (INS not supported)", or the CTAP NFC
/// binding's for 9100 (CTAP 2.1 §11.3.9).
pub fn sw_name(sw: u16) -> String {
    let sw = apdu::StatusWord(sw);
    let meaning = if sw == fido_applet::nfc::CTAP_STATUS_UPDATE {
        "CTAP status update"
    } else {
        sw.description()
    };
    format!("{:04X} ({meaning})", sw.0)
}

/// How a card is reached: APDUs, its ATR, and taking it out of the field and back.
pub trait Link {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, String>;
    fn atr(&mut self) -> Result<Vec<u8>, String>;
    /// Removes power and powers the card up again (PC/SC: SCardReconnect with
    /// SCARD_UNPOWER_CARD), as Windows does right before authenticatorReset.
    fn power_cycle(&mut self) -> Result<(), String>;
}

impl Link for crate::PcscCard {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, String> {
        Transport::transmit(self, apdu).map_err(|e| format!("SCardTransmit: {e}"))
    }
    fn atr(&mut self) -> Result<Vec<u8>, String> {
        self.card()
            .status2_owned()
            .map(|s| s.atr().to_vec())
            .map_err(|e| format!("SCardStatus: {e}"))
    }
    fn power_cycle(&mut self) -> Result<(), String> {
        self.reconnect_unpowered()
            .map_err(|e| format!("SCardReconnect(SCARD_UNPOWER_CARD): {e}"))
    }
}

/// An in-process card (`apdu::Card`), for tests and replay.
pub struct VirtualLink {
    pub card: apdu::Card,
    pub atr: Vec<u8>,
}

impl Link for VirtualLink {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, String> {
        Ok(self.card.transmit(apdu))
    }
    fn atr(&mut self) -> Result<Vec<u8>, String> {
        Ok(self.atr.clone())
    }
    fn power_cycle(&mut self) -> Result<(), String> {
        self.card.power_off();
        self.card.power_on();
        Ok(())
    }
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
    #[error("{name} (0x{0:02X})", name = ctap_status_name(*.0))]
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

/// How CTAP messages are framed.
#[derive(Debug, Clone, Copy)]
pub struct Framing {
    /// Send messages longer than 255 bytes as one extended APDU instead of a chain.
    pub extended: bool,
    /// Bytes per chained short APDU (libfido2 uses 240, python-fido2 250).
    pub chunk: usize,
    /// CLA of GET RESPONSE (00 as python-fido2, 80 as Windows and libfido2).
    pub get_response_cla: u8,
}

impl Default for Framing {
    fn default() -> Self {
        Framing {
            extended: false,
            chunk: 240,
            get_response_cla: 0x00,
        }
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

/// getInfo's answer (CTAP 2.1 §6.4), the fields fido-check uses.
#[derive(Debug, Clone, PartialEq)]
pub struct Info {
    pub versions: Vec<String>,
    pub extensions: Vec<String>,
    pub aaguid: Option<[u8; 16]>,
    pub options: Vec<(String, bool)>,
    pub max_msg_size: Option<u64>,
    pub pin_protocols: Vec<u64>,
    pub raw: Value,
}

impl Info {
    pub fn parse(body: &Value) -> Result<Info, String> {
        if body.as_map().is_none() {
            return Err(format!("getInfo answer is not a map: {}", cbor::diag(body)));
        }
        let strings = |key| -> Vec<String> {
            body.get_int(key)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_text)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        };
        let aaguid = match body.get_int(3).and_then(Value::as_bytes) {
            Some(b) => Some(
                <[u8; 16]>::try_from(b)
                    .map_err(|_| format!("getInfo aaguid has {} bytes, not 16", b.len()))?,
            ),
            None => None,
        };
        let options = body
            .get_int(4)
            .and_then(Value::as_map)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.as_text()?.to_owned(), v.as_bool()?)))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Info {
            versions: strings(1),
            extensions: strings(2),
            aaguid,
            options,
            max_msg_size: body.get_int(5).and_then(Value::as_u64),
            pin_protocols: body
                .get_int(6)
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_u64).collect())
                .unwrap_or_default(),
            raw: body.clone(),
        })
    }

    /// An option's value; `None` when the card does not list it.
    pub fn option(&self, name: &str) -> Option<bool> {
        self.options
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| *v)
    }

    pub fn has_extension(&self, name: &str) -> bool {
        self.extensions.iter().any(|e| e == name)
    }

    /// The PIN/UV auth protocol to use: the card's first that this client knows.
    pub fn preferred_protocol(&self) -> Option<Protocol> {
        let listed = self
            .pin_protocols
            .iter()
            .find_map(|n| Protocol::from_number(*n));
        // CTAP 2.0 cards without 0x06 support protocol 1 only (when they have clientPin).
        listed.or_else(|| self.option("clientPin").map(|_| Protocol::One))
    }

    /// Whether the card speaks CTAP 2.1 (pinUvAuthToken with permissions, credMgmt 0x0A).
    pub fn is_2_1(&self) -> bool {
        self.versions.iter().any(|v| v == "FIDO_2_1")
    }

    /// The credentialManagement command byte, if the card has it: 0x0A for `credMgmt`, the
    /// 2.1 preview's 0x41 for `credentialMgmtPreview`.
    pub fn cred_mgmt_command(&self) -> Option<u8> {
        if self.option("credMgmt") == Some(true) {
            Some(cmd::CREDENTIAL_MANAGEMENT)
        } else if self.option("credentialMgmtPreview") == Some(true) {
            Some(cmd::CREDENTIAL_MANAGEMENT_PREVIEW)
        } else {
            None
        }
    }
}

/// A pinUvAuthToken and the protocol it belongs to.
#[derive(Clone)]
pub struct Token {
    pub protocol: Protocol,
    pub token: Vec<u8>,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("protocol", &self.protocol)
            .finish_non_exhaustive()
    }
}

impl Token {
    /// pinUvAuthParam = authenticate(pinUvAuthToken, message).
    pub fn auth(&self, message: &[u8]) -> Vec<u8> {
        self.protocol.authenticate(&self.token, message)
    }
}

/// makeCredential's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Attestation {
    pub fmt: String,
    pub auth_data_raw: Vec<u8>,
    pub auth_data: AuthData,
    pub att_stmt: Value,
}

impl Attestation {
    pub fn credential_id(&self) -> Option<&[u8]> {
        self.auth_data
            .attested
            .as_ref()
            .map(|a| a.credential_id.as_slice())
    }
}

/// getAssertion's / getNextAssertion's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Assertion {
    pub credential_id: Option<Vec<u8>>,
    pub auth_data_raw: Vec<u8>,
    pub auth_data: AuthData,
    pub signature: Vec<u8>,
    pub user_id: Option<Vec<u8>>,
    pub number_of_credentials: Option<u64>,
}

/// makeCredential parameters.
#[derive(Debug, Clone)]
pub struct MakeCredential {
    pub client_data_hash: [u8; 32],
    pub rp_id: String,
    pub user_id: Vec<u8>,
    pub user_name: String,
    pub rk: bool,
    pub extensions: Option<Value>,
    pub exclude_list: Vec<Vec<u8>>,
}

/// getAssertion parameters.
#[derive(Debug, Clone)]
pub struct GetAssertion {
    pub rp_id: String,
    pub client_data_hash: [u8; 32],
    pub allow_list: Vec<Vec<u8>>,
    pub extensions: Option<Value>,
    /// `options.up`; `None` leaves the default (true).
    pub up: Option<bool>,
}

fn descriptor(id: &[u8]) -> Value {
    Value::text_map(vec![
        ("id", Value::bytes(id)),
        ("type", Value::text("public-key")),
    ])
}

/// The CTAP client.
pub struct Client {
    link: Box<dyn Link>,
    pub framing: Framing,
    log: Vec<Op>,
    /// Every CBOR body the card answered with, for the canonical-encoding check.
    pub bodies: Vec<(String, Vec<u8>)>,
}

impl Client {
    pub fn new(link: Box<dyn Link>) -> Client {
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
        self.link.atr()
    }

    /// Takes the card out of the field and back; recorded as an operation.
    pub fn power_cycle(&mut self) -> Result<(), ClientError> {
        let result = self.link.power_cycle();
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
        let follow = Follow {
            get_response_cla: self.framing.get_response_cla,
            ..Follow::default()
        };
        let mut adapter = LinkTransport(&mut *self.link);
        let result = crate::exchange(&mut adapter, apdu, follow);
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
        let mut apdu = vec![0x00, 0xA4, 0x04, 0x00, 0x08];
        apdu.extend_from_slice(&FIDO_AID);
        apdu.push(0x00);
        self.apdu("SELECT FIDO AID", &apdu)
    }

    /// The APDUs carrying one NFCCTAP_MSG under `framing`.
    pub fn frame(framing: Framing, message: &[u8]) -> Vec<Vec<u8>> {
        if message.len() <= 255 {
            let mut apdu = vec![0x80, 0x10, 0x00, 0x00, message.len() as u8];
            apdu.extend_from_slice(message);
            apdu.push(0x00);
            return vec![apdu];
        }
        if framing.extended {
            let len = message.len().min(65535) as u16;
            let mut apdu = vec![0x80, 0x10, 0x00, 0x00, 0x00];
            apdu.extend_from_slice(&len.to_be_bytes());
            apdu.extend_from_slice(message);
            apdu.extend_from_slice(&[0x00, 0x00]);
            return vec![apdu];
        }
        let chunk = framing.chunk.clamp(1, 255);
        let parts: Vec<&[u8]> = message.chunks(chunk).collect();
        let last = parts.len().saturating_sub(1);
        parts
            .iter()
            .enumerate()
            .map(|(i, part)| {
                let cla = if i == last { 0x80 } else { 0x90 };
                let mut apdu = vec![cla, 0x10, 0x00, 0x00, part.len() as u8];
                apdu.extend_from_slice(part);
                if i == last {
                    apdu.push(0x00);
                }
                apdu
            })
            .collect()
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
        let apdus = Self::frame(self.framing, message);
        let follow = Follow {
            get_response_cla: self.framing.get_response_cla,
            ..Follow::default()
        };
        let mut exchanges = Vec::new();
        let mut result: Result<(Vec<u8>, u16), ClientError> =
            Err(ClientError::Malformed("no APDU sent".into()));
        let count = apdus.len();
        for (i, apdu) in apdus.iter().enumerate() {
            let mut adapter = LinkTransport(&mut *self.link);
            match crate::exchange(&mut adapter, apdu, follow) {
                Ok(outcome) => {
                    exchanges.extend(outcome.exchanges);
                    if i + 1 < count && outcome.sw != 0x9000 {
                        result = Err(ClientError::Sw(outcome.sw));
                        break;
                    }
                    result = Ok((outcome.data, outcome.sw));
                }
                Err(e) => {
                    exchanges.push(Exchange {
                        command: apdu.clone(),
                        response: Vec::new(),
                    });
                    result = Err(ClientError::Transport(e.0));
                    break;
                }
            }
        }
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
                Some(b) => format!("{} {}", ctap_status_name(r.status), cbor::diag(b)),
                None => ctap_status_name(r.status).to_owned(),
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
            message.extend_from_slice(&cbor::encode(p));
        }
        let reply = self.ctap_raw(label, &message)?;
        if reply.status != 0 {
            return Err(ClientError::Ctap(reply.status));
        }
        Ok(reply.body)
    }

    fn ctap_body(
        &mut self,
        label: &str,
        command: u8,
        params: Option<&Value>,
    ) -> Result<Value, ClientError> {
        self.ctap(label, command, params)?
            .ok_or_else(|| ClientError::Malformed(format!("{label}: CTAP2_OK without a body")))
    }

    pub fn get_info(&mut self) -> Result<Info, ClientError> {
        let body = self.ctap_body("getInfo", cmd::GET_INFO, None)?;
        Info::parse(&body).map_err(ClientError::Malformed)
    }

    pub fn make_credential(
        &mut self,
        req: &MakeCredential,
        token: Option<&Token>,
    ) -> Result<Attestation, ClientError> {
        let mut params = vec![
            (1, Value::bytes(&req.client_data_hash)),
            (
                2,
                Value::text_map(vec![
                    ("id", Value::text(&req.rp_id)),
                    ("name", Value::text(&req.rp_id)),
                ]),
            ),
            (
                3,
                Value::text_map(vec![
                    ("id", Value::bytes(&req.user_id)),
                    ("name", Value::text(&req.user_name)),
                    ("displayName", Value::text(&req.user_name)),
                ]),
            ),
            (
                4,
                Value::Array(vec![Value::text_map(vec![
                    ("alg", Value::Negative(-7)),
                    ("type", Value::text("public-key")),
                ])]),
            ),
        ];
        if !req.exclude_list.is_empty() {
            params.push((
                5,
                Value::Array(req.exclude_list.iter().map(|id| descriptor(id)).collect()),
            ));
        }
        if let Some(ext) = &req.extensions {
            params.push((6, ext.clone()));
        }
        if req.rk {
            params.push((7, Value::text_map(vec![("rk", Value::Bool(true))])));
        }
        if let Some(t) = token {
            params.push((8, Value::Bytes(t.auth(&req.client_data_hash))));
            params.push((9, Value::Unsigned(t.protocol.number())));
        }
        let label = if req.rk {
            "makeCredential (rk)"
        } else {
            "makeCredential"
        };
        let body = self.ctap_body(label, cmd::MAKE_CREDENTIAL, Some(&Value::int_map(params)))?;
        let fmt = body
            .get_int(1)
            .and_then(Value::as_text)
            .ok_or_else(|| ClientError::Malformed("makeCredential: no fmt (0x01)".into()))?
            .to_owned();
        let auth_data_raw = body
            .get_int(2)
            .and_then(Value::as_bytes)
            .ok_or_else(|| ClientError::Malformed("makeCredential: no authData (0x02)".into()))?
            .to_vec();
        let auth_data =
            attestation::parse_auth_data(&auth_data_raw).map_err(ClientError::Malformed)?;
        if auth_data.attested.is_none() {
            return Err(ClientError::Malformed(
                "makeCredential: authData without attested credential data".into(),
            ));
        }
        let att_stmt = body.get_int(3).cloned().unwrap_or(Value::Null);
        Ok(Attestation {
            fmt,
            auth_data_raw,
            auth_data,
            att_stmt,
        })
    }

    fn parse_assertion(body: &Value) -> Result<Assertion, ClientError> {
        let auth_data_raw = body
            .get_int(2)
            .and_then(Value::as_bytes)
            .ok_or_else(|| ClientError::Malformed("assertion: no authData (0x02)".into()))?
            .to_vec();
        let auth_data =
            attestation::parse_auth_data(&auth_data_raw).map_err(ClientError::Malformed)?;
        Ok(Assertion {
            credential_id: body
                .get_int(1)
                .and_then(|d| d.get_text("id"))
                .and_then(Value::as_bytes)
                .map(<[u8]>::to_vec),
            auth_data_raw,
            auth_data,
            signature: body
                .get_int(3)
                .and_then(Value::as_bytes)
                .ok_or_else(|| ClientError::Malformed("assertion: no signature (0x03)".into()))?
                .to_vec(),
            user_id: body
                .get_int(4)
                .and_then(|u| u.get_text("id"))
                .and_then(Value::as_bytes)
                .map(<[u8]>::to_vec),
            number_of_credentials: body.get_int(5).and_then(Value::as_u64),
        })
    }

    /// The getAssertion request's CBOR (also used by the transport check for long messages).
    pub fn get_assertion_params(req: &GetAssertion, token: Option<&Token>) -> Value {
        let mut params = vec![
            (1, Value::text(&req.rp_id)),
            (2, Value::bytes(&req.client_data_hash)),
        ];
        if !req.allow_list.is_empty() {
            params.push((
                3,
                Value::Array(req.allow_list.iter().map(|id| descriptor(id)).collect()),
            ));
        }
        if let Some(ext) = &req.extensions {
            params.push((4, ext.clone()));
        }
        if let Some(up) = req.up {
            params.push((5, Value::text_map(vec![("up", Value::Bool(up))])));
        }
        if let Some(t) = token {
            params.push((6, Value::Bytes(t.auth(&req.client_data_hash))));
            params.push((7, Value::Unsigned(t.protocol.number())));
        }
        Value::int_map(params)
    }

    pub fn get_assertion(
        &mut self,
        req: &GetAssertion,
        token: Option<&Token>,
    ) -> Result<Assertion, ClientError> {
        let params = Self::get_assertion_params(req, token);
        let body = self.ctap_body("getAssertion", cmd::GET_ASSERTION, Some(&params))?;
        Self::parse_assertion(&body)
    }

    pub fn get_next_assertion(&mut self) -> Result<Assertion, ClientError> {
        let body = self.ctap_body("getNextAssertion", cmd::GET_NEXT_ASSERTION, None)?;
        Self::parse_assertion(&body)
    }

    pub fn reset(&mut self) -> Result<(), ClientError> {
        self.ctap("authenticatorReset", cmd::RESET, None)
            .map(|_| ())
    }

    fn client_pin(
        &mut self,
        label: &str,
        params: Vec<(u64, Value)>,
    ) -> Result<Option<Value>, ClientError> {
        self.ctap(label, cmd::CLIENT_PIN, Some(&Value::int_map(params)))
    }

    pub fn get_retries(&mut self, protocol: Protocol) -> Result<u64, ClientError> {
        let body = self
            .client_pin(
                "clientPIN getPINRetries",
                vec![
                    (1, Value::Unsigned(protocol.number())),
                    (2, Value::Unsigned(1)),
                ],
            )?
            .unwrap_or(Value::Null);
        body.get_int(3)
            .and_then(Value::as_u64)
            .ok_or_else(|| ClientError::Malformed("getPINRetries: no pinRetries (0x03)".into()))
    }

    /// getKeyAgreement and encapsulate: a fresh shared secret with the card.
    pub fn shared_secret(&mut self, protocol: Protocol) -> Result<SharedSecret, ClientError> {
        let body = self
            .client_pin(
                "clientPIN getKeyAgreement",
                vec![
                    (1, Value::Unsigned(protocol.number())),
                    (2, Value::Unsigned(2)),
                ],
            )?
            .unwrap_or(Value::Null);
        let key = body.get_int(1).ok_or_else(|| {
            ClientError::Malformed("getKeyAgreement: no keyAgreement (0x01)".into())
        })?;
        Ok(pin_protocol::encapsulate(protocol, key)?)
    }

    pub fn set_pin(&mut self, protocol: Protocol, pin: &str) -> Result<(), ClientError> {
        let shared = self.shared_secret(protocol)?;
        let new_pin_enc = shared.encrypt(&pin_protocol::padded_pin(pin))?;
        let auth = shared.authenticate(&new_pin_enc);
        self.client_pin(
            "clientPIN setPIN",
            vec![
                (1, Value::Unsigned(protocol.number())),
                (2, Value::Unsigned(3)),
                (3, shared.platform_key.clone()),
                (4, Value::Bytes(auth)),
                (5, Value::Bytes(new_pin_enc)),
            ],
        )
        .map(|_| ())
    }

    pub fn change_pin(
        &mut self,
        protocol: Protocol,
        old: &str,
        new: &str,
    ) -> Result<(), ClientError> {
        let shared = self.shared_secret(protocol)?;
        let new_pin_enc = shared.encrypt(&pin_protocol::padded_pin(new))?;
        let pin_hash_enc = shared.encrypt(&pin_protocol::pin_hash(old))?;
        let mut signed = new_pin_enc.clone();
        signed.extend_from_slice(&pin_hash_enc);
        let auth = shared.authenticate(&signed);
        self.client_pin(
            "clientPIN changePIN",
            vec![
                (1, Value::Unsigned(protocol.number())),
                (2, Value::Unsigned(4)),
                (3, shared.platform_key.clone()),
                (4, Value::Bytes(auth)),
                (5, Value::Bytes(new_pin_enc)),
                (6, Value::Bytes(pin_hash_enc)),
            ],
        )
        .map(|_| ())
    }

    /// A pinUvAuthToken: with `permissions` (CTAP 2.1 subcommand 0x09, with the rpId when
    /// given), or without (getPinToken 0x05, CTAP 2.0).
    pub fn get_token(
        &mut self,
        protocol: Protocol,
        pin: &str,
        permissions: Option<(u8, Option<&str>)>,
    ) -> Result<Token, ClientError> {
        let shared = self.shared_secret(protocol)?;
        let pin_hash_enc = shared.encrypt(&pin_protocol::pin_hash(pin))?;
        let mut params = vec![
            (1, Value::Unsigned(protocol.number())),
            (3, shared.platform_key.clone()),
            (6, Value::Bytes(pin_hash_enc)),
        ];
        let label = match permissions {
            Some((perms, rp_id)) => {
                params.push((2, Value::Unsigned(9)));
                params.push((9, Value::Unsigned(u64::from(perms))));
                if let Some(rp) = rp_id {
                    params.push((10, Value::text(rp)));
                }
                "clientPIN getPinUvAuthTokenUsingPinWithPermissions"
            }
            None => {
                params.push((2, Value::Unsigned(5)));
                "clientPIN getPinToken"
            }
        };
        let body = self.client_pin(label, params)?.unwrap_or(Value::Null);
        let enc = body
            .get_int(2)
            .and_then(Value::as_bytes)
            .ok_or_else(|| ClientError::Malformed("no pinUvAuthToken (0x02)".into()))?;
        let token = shared.decrypt(enc)?;
        Ok(Token { protocol, token })
    }

    /// The hmac-secret getAssertion extension input for `salts` (one or two 32-byte salts),
    /// with the shared secret needed to decrypt the output (CTAP 2.1 §12.5).
    pub fn hmac_secret_input(
        &mut self,
        protocol: Protocol,
        salts: &[[u8; 32]],
    ) -> Result<(Value, SharedSecret), ClientError> {
        let shared = self.shared_secret(protocol)?;
        let plain: Vec<u8> = salts.iter().flatten().copied().collect();
        let salt_enc = shared.encrypt(&plain)?;
        let salt_auth = shared.authenticate(&salt_enc);
        let mut input = vec![
            (1, shared.platform_key.clone()),
            (2, Value::Bytes(salt_enc)),
            (3, Value::Bytes(salt_auth)),
        ];
        if protocol != Protocol::One {
            input.push((4, Value::Unsigned(protocol.number())));
        }
        Ok((
            Value::text_map(vec![("hmac-secret", Value::int_map(input))]),
            shared,
        ))
    }

    /// credentialManagement (CTAP 2.1 §6.8) with `command` 0x0A or 0x41. Subcommands that take
    /// a pinUvAuthParam get one from `token` over subCommand ‖ subCommandParams.
    pub fn cred_mgmt(
        &mut self,
        command: u8,
        label: &str,
        sub: u8,
        sub_params: Option<Value>,
        token: Option<&Token>,
    ) -> Result<Value, ClientError> {
        let mut params = vec![(1, Value::Unsigned(u64::from(sub)))];
        let mut signed = vec![sub];
        if let Some(sp) = &sub_params {
            signed.extend_from_slice(&cbor::encode(sp));
            params.push((2, sp.clone()));
        }
        if let Some(t) = token {
            params.push((3, Value::Unsigned(t.protocol.number())));
            params.push((4, Value::Bytes(t.auth(&signed))));
        }
        Ok(self
            .ctap(label, command, Some(&Value::int_map(params)))?
            .unwrap_or(Value::Map(Vec::new())))
    }
}

/// The lib's [`Transport`] over a [`Link`], so [`crate::exchange`] can drive it.
struct LinkTransport<'a>(&'a mut dyn Link);

#[derive(Debug)]
struct LinkError(String);
impl std::fmt::Display for LinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for LinkError {}

impl Transport for LinkTransport<'_> {
    type Error = LinkError;
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, LinkError> {
        self.0.transmit(command).map_err(LinkError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_short_chained_and_extended() {
        let short = Client::frame(Framing::default(), &[4]);
        assert_eq!(short, vec![vec![0x80, 0x10, 0, 0, 1, 4, 0]]);
        let long = vec![0xAB; 500];
        let chained = Client::frame(Framing::default(), &long);
        assert_eq!(chained.len(), 3);
        assert_eq!(chained[0][0], 0x90);
        assert_eq!(chained[0][4], 240);
        assert_eq!(chained[0].len(), 5 + 240);
        assert_eq!(chained[2][0], 0x80);
        assert_eq!(chained[2][4], 20);
        assert_eq!(*chained[2].last().expect("Le"), 0);
        let ext = Client::frame(
            Framing {
                extended: true,
                ..Framing::default()
            },
            &long,
        );
        assert_eq!(ext.len(), 1);
        assert_eq!(&ext[0][..7], &[0x80, 0x10, 0, 0, 0, 0x01, 0xF4]);
        assert_eq!(ext[0].len(), 7 + 500 + 2);
    }

    #[test]
    fn info_parsing() {
        let body = Value::int_map(vec![
            (
                1,
                Value::Array(vec![Value::text("FIDO_2_0"), Value::text("FIDO_2_1")]),
            ),
            (2, Value::Array(vec![Value::text("hmac-secret")])),
            (3, Value::bytes(&[0x11; 16])),
            (
                4,
                Value::text_map(vec![
                    ("rk", Value::Bool(true)),
                    ("clientPin", Value::Bool(false)),
                ]),
            ),
            (
                6,
                Value::Array(vec![Value::Unsigned(2), Value::Unsigned(1)]),
            ),
        ]);
        let info = Info::parse(&body).expect("parses");
        assert!(info.is_2_1());
        assert!(info.has_extension("hmac-secret"));
        assert_eq!(info.option("clientPin"), Some(false));
        assert_eq!(info.option("credMgmt"), None);
        assert_eq!(info.preferred_protocol(), Some(Protocol::Two));
        assert_eq!(info.aaguid, Some([0x11; 16]));
        assert!(Info::parse(&Value::Null).is_err());
        let bad_aaguid = Value::int_map(vec![(3, Value::bytes(&[1; 3]))]);
        assert!(Info::parse(&bad_aaguid).is_err());
    }

    #[test]
    fn status_names() {
        assert_eq!(ctap_status_name(0x27), "CTAP2_ERR_OPERATION_DENIED");
        assert_eq!(
            ClientError::Ctap(0x2E).to_string(),
            "CTAP2_ERR_NO_CREDENTIALS (0x2E)"
        );
        assert!(sw_name(0x6D00).starts_with("6D00 ("));
    }
}
