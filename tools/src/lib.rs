//! PC/SC client helpers shared by the vendor tools: choosing a reader, and sending APDUs the way
//! host software does (following `61xx` with GET RESPONSE, re-sending on `6Cxx`).
//!
//! The protocol logic works on any [`Transport`], so it is tested without a reader; [`PcscCard`]
//! is the real one.

use std::ffi::{CStr, CString};

use apdu::{Command, hex_decode};

pub mod attestation;
pub mod cbor;
pub mod checks;
pub mod ctap_client;
pub mod pin_protocol;
pub mod replay;
pub mod report;

/// An AAGUID as a lower-case UUID string, 8-4-4-4-12.
pub fn format_aaguid(aaguid: &[u8; 16]) -> String {
    let h = apdu::hex_encode(aaguid).to_ascii_lowercase();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// Something that sends one command APDU and returns one response APDU (data + SW1 SW2).
pub trait Transport {
    type Error: std::error::Error + Send + Sync + 'static;
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, Self::Error>;
}

/// A connected PC/SC card.
pub struct PcscCard {
    card: pcsc::Card,
    buffer: Vec<u8>,
}

impl PcscCard {
    pub fn new(card: pcsc::Card) -> Self {
        Self {
            card,
            buffer: vec![0; pcsc::MAX_BUFFER_SIZE_EXTENDED],
        }
    }

    /// The card, e.g. to read its ATR.
    pub fn card(&self) -> &pcsc::Card {
        &self.card
    }

    /// Takes the card out of the field and powers it up again (SCardReconnect with
    /// SCARD_UNPOWER_CARD), as Windows does before authenticatorReset.
    pub fn reconnect_unpowered(&mut self) -> Result<(), pcsc::Error> {
        self.card.reconnect(
            pcsc::ShareMode::Shared,
            pcsc::Protocols::ANY,
            pcsc::Disposition::UnpowerCard,
        )
    }
}

impl Transport for PcscCard {
    type Error = pcsc::Error;
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, pcsc::Error> {
        self.card
            .transmit(command, &mut self.buffer)
            .map(<[u8]>::to_vec)
    }
}

/// The service PC/SC clients talk to on this platform, for error messages: pcsc-lite's daemon,
/// or Windows' Smart Card service (winscard).
#[cfg(windows)]
pub const PCSC_SERVICE: &str = "the Smart Card service (SCardSvr)";
/// The service PC/SC clients talk to on this platform, for error messages: pcsc-lite's daemon,
/// or Windows' Smart Card service (winscard).
#[cfg(not(windows))]
pub const PCSC_SERVICE: &str = "pcscd";

/// Errors choosing a reader or parsing input.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ToolError {
    #[error("no PC/SC reader found (is {PCSC_SERVICE} running?)")]
    NoReaders,
    #[error("no reader matches {wanted:?}; readers: {available}")]
    NoMatch { wanted: String, available: String },
    #[error("{wanted:?} matches several readers: {matches}; be more specific")]
    Ambiguous { wanted: String, matches: String },
    #[error("not an APDU in hex: {0:?}")]
    BadHex(String),
    #[error("APDU shorter than 4 bytes: {0:?}")]
    TooShort(String),
}

/// Picks a reader: the exact name if one matches, else the only one containing `wanted`, else
/// (without `wanted`) the first reader.
pub fn select_reader(readers: &[CString], wanted: Option<&str>) -> Result<CString, ToolError> {
    let names = || {
        readers
            .iter()
            .map(|r| format!("{:?}", r.to_string_lossy()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let Some(wanted) = wanted else {
        return readers.first().cloned().ok_or(ToolError::NoReaders);
    };
    if readers.is_empty() {
        return Err(ToolError::NoReaders);
    }
    if let Some(exact) = readers.iter().find(|r| r.to_string_lossy() == wanted) {
        return Ok(exact.clone());
    }
    let matching: Vec<&CString> = readers
        .iter()
        .filter(|r| r.to_string_lossy().contains(wanted))
        .collect();
    match matching.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(ToolError::NoMatch {
            wanted: wanted.to_owned(),
            available: names(),
        }),
        many => Err(ToolError::Ambiguous {
            wanted: wanted.to_owned(),
            matches: many
                .iter()
                .map(|r| format!("{:?}", r.to_string_lossy()))
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// Parses one APDU written in hex; spaces, colons and a `0x` prefix are allowed.
pub fn parse_apdu(text: &str) -> Result<Vec<u8>, ToolError> {
    let trimmed = text.trim();
    let body = trimmed
        .strip_prefix("0x")
        .or_else(|| trimmed.strip_prefix("0X"))
        .unwrap_or(trimmed);
    let cleaned: String = body.chars().filter(|c| *c != ':').collect();
    let bytes = hex_decode(&cleaned).ok_or_else(|| ToolError::BadHex(text.to_owned()))?;
    if bytes.len() < 4 {
        return Err(ToolError::TooShort(text.to_owned()));
    }
    Ok(bytes)
}

/// Splits a response into data and status word; `None` if it has fewer than 2 bytes.
pub fn split_sw(response: &[u8]) -> Option<(&[u8], u16)> {
    let (data, sw) = response.split_at_checked(response.len().checked_sub(2)?)?;
    Some((data, u16::from_be_bytes([sw[0], sw[1]])))
}

/// How [`exchange`] treats `61xx` and `6Cxx`.
#[derive(Debug, Clone, Copy)]
pub struct Follow {
    /// Send GET RESPONSE on `61xx` until the card answers something else.
    pub get_response: bool,
    /// CLA of GET RESPONSE: 00 (ISO, python-fido2) or 80 (Windows, libfido2).
    pub get_response_cla: u8,
    /// Re-send the command with Le = XX on `6Cxx`.
    pub resend_on_6c: bool,
    /// Upper bound on follow-up commands for one APDU, so a card that always answers 61xx
    /// cannot loop forever.
    pub max_follow_ups: usize,
}

impl Default for Follow {
    fn default() -> Self {
        Self {
            get_response: true,
            get_response_cla: 0x00,
            resend_on_6c: true,
            max_follow_ups: 1024,
        }
    }
}

/// One APDU on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    pub command: Vec<u8>,
    pub response: Vec<u8>,
}

/// A command's outcome after following `61xx` / `6Cxx`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Every APDU sent and received, in order.
    pub exchanges: Vec<Exchange>,
    /// The response data of all parts, concatenated.
    pub data: Vec<u8>,
    /// The final status word (0 if the last response had fewer than 2 bytes).
    pub sw: u16,
}

/// GET RESPONSE for `61xx`: Le = XX (00 means 256).
pub fn get_response_apdu(cla: u8, sw2: u8) -> Vec<u8> {
    vec![cla, 0xC0, 0x00, 0x00, sw2]
}

/// The command re-sent with Le = `sw2` after `6Cxx` (wrong Le; XX = the exact length). `None`
/// when the command cannot be re-encoded (not a valid APDU).
pub fn with_exact_le(command: &[u8], sw2: u8) -> Option<Vec<u8>> {
    let cmd = Command::decode(command).ok()?;
    let ne = if sw2 == 0 { 256 } else { usize::from(sw2) };
    let extended = cmd.extended;
    let mut fixed = Command::new(cmd.cla, cmd.ins, cmd.p1, cmd.p2)
        .with_data(cmd.data)
        .with_le(ne);
    if extended {
        fixed = fixed.extended();
    }
    fixed.encode()
}

/// Sends `command` and follows `61xx` (GET RESPONSE) and `6Cxx` (re-send with the right Le) as
/// `follow` says.
pub fn exchange<T: Transport>(
    transport: &mut T,
    command: &[u8],
    follow: Follow,
) -> Result<Outcome, T::Error> {
    let mut exchanges = Vec::new();
    let mut data = Vec::new();
    let mut next = command.to_vec();
    let mut follow_ups = 0;
    loop {
        let response = transport.transmit(&next)?;
        let parsed = split_sw(&response).map(|(d, sw)| (d.to_vec(), sw));
        exchanges.push(Exchange {
            command: next.clone(),
            response,
        });
        let Some((part, sw)) = parsed else {
            return Ok(Outcome {
                exchanges,
                data,
                sw: 0,
            });
        };
        data.extend_from_slice(&part);
        let [sw1, sw2] = sw.to_be_bytes();
        let follow_up = match sw1 {
            0x61 if follow.get_response => Some(get_response_apdu(follow.get_response_cla, sw2)),
            0x6C if follow.resend_on_6c && follow_ups == 0 => with_exact_le(command, sw2),
            _ => None,
        };
        match follow_up {
            Some(apdu) if follow_ups < follow.max_follow_ups => {
                follow_ups += 1;
                next = apdu;
            }
            _ => {
                return Ok(Outcome {
                    exchanges,
                    data,
                    sw,
                });
            }
        }
    }
}

/// The readers the PC/SC service knows, as owned names.
pub fn list_readers(ctx: &pcsc::Context) -> Result<Vec<CString>, pcsc::Error> {
    match ctx.list_readers_owned() {
        Ok(readers) => Ok(readers),
        Err(pcsc::Error::NoReadersAvailable) => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Whether a reader currently holds a card, and the card's ATR.
pub fn reader_card(ctx: &pcsc::Context, reader: &CStr) -> Result<Option<Vec<u8>>, pcsc::Error> {
    let mut states = [pcsc::ReaderState::new(reader, pcsc::State::UNAWARE)];
    ctx.get_status_change(std::time::Duration::from_millis(0), &mut states)?;
    let state = &states[0];
    Ok(state
        .event_state()
        .contains(pcsc::State::PRESENT)
        .then(|| state.atr().to_vec()))
}

/// Waits (SCardGetStatusChange) up to `timeout` for a card in `reader`; returns its ATR, or
/// `None` on timeout.
pub fn wait_for_card(
    ctx: &pcsc::Context,
    reader: &CStr,
    timeout: std::time::Duration,
) -> Result<Option<Vec<u8>>, pcsc::Error> {
    let deadline = std::time::Instant::now() + timeout;
    let mut states = [pcsc::ReaderState::new(reader, pcsc::State::UNAWARE)];
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match ctx.get_status_change(left, &mut states) {
            Ok(()) => {}
            Err(pcsc::Error::Timeout) => return Ok(None),
            Err(e) => return Err(e),
        }
        if states[0].event_state().contains(pcsc::State::PRESENT) {
            return Ok(Some(states[0].atr().to_vec()));
        }
        if left.is_zero() {
            return Ok(None);
        }
        states[0].sync_current_state();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    #[derive(Debug, thiserror::Error)]
    #[error("scripted card ran out of responses")]
    struct Exhausted;

    /// A card that answers from a script and records what it was sent.
    struct Scripted {
        responses: VecDeque<Vec<u8>>,
        sent: Vec<Vec<u8>>,
    }

    impl Scripted {
        fn new(responses: &[&[u8]]) -> Self {
            Self {
                responses: responses.iter().map(|r| r.to_vec()).collect(),
                sent: Vec::new(),
            }
        }
    }

    impl Transport for Scripted {
        type Error = Exhausted;
        fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, Exhausted> {
            self.sent.push(command.to_vec());
            self.responses.pop_front().ok_or(Exhausted)
        }
    }

    fn readers(names: &[&str]) -> Vec<CString> {
        names
            .iter()
            .map(|n| CString::new(*n).expect("no NUL"))
            .collect()
    }

    #[test]
    fn reader_selection() {
        let all = readers(&[
            "Virtual PCD 00 00",
            "Virtual PCD 00 01",
            "ACS ACR122U 01 00",
        ]);
        assert_eq!(
            select_reader(&all, None).expect("first").to_str().ok(),
            Some("Virtual PCD 00 00")
        );
        assert_eq!(
            select_reader(&all, Some("Virtual PCD 00 01"))
                .expect("exact")
                .to_str()
                .ok(),
            Some("Virtual PCD 00 01")
        );
        assert_eq!(
            select_reader(&all, Some("ACR122"))
                .expect("unique substring")
                .to_str()
                .ok(),
            Some("ACS ACR122U 01 00")
        );
        assert!(matches!(
            select_reader(&all, Some("Virtual PCD")),
            Err(ToolError::Ambiguous { .. })
        ));
        assert!(matches!(
            select_reader(&all, Some("Yubico")),
            Err(ToolError::NoMatch { .. })
        ));
        assert_eq!(select_reader(&[], None), Err(ToolError::NoReaders));
        assert_eq!(select_reader(&[], Some("x")), Err(ToolError::NoReaders));
    }

    #[test]
    fn apdu_parsing() {
        assert_eq!(
            parse_apdu("00A40400 08 A0000006472F0001").expect("ok"),
            hex_decode("00A4040008A0000006472F0001").expect("hex")
        );
        assert_eq!(
            parse_apdu("0x00:ca:7f:68").expect("ok"),
            vec![0x00, 0xCA, 0x7F, 0x68]
        );
        assert!(matches!(parse_apdu("00A"), Err(ToolError::BadHex(_))));
        assert!(matches!(parse_apdu("zz00a404"), Err(ToolError::BadHex(_))));
        assert!(matches!(parse_apdu("00A4"), Err(ToolError::TooShort(_))));
    }

    #[test]
    fn split_status_word() {
        assert_eq!(split_sw(&[0x90, 0x00]), Some((&[][..], 0x9000)));
        assert_eq!(split_sw(&[1, 2, 0x61, 0x05]), Some((&[1u8, 2][..], 0x6105)));
        assert_eq!(split_sw(&[0x90]), None);
        assert_eq!(split_sw(&[]), None);
    }

    #[test]
    fn follows_61xx_with_get_response() {
        let mut card = Scripted::new(&[&[1, 2, 0x61, 0x03], &[3, 4, 5, 0x90, 0x00]]);
        let outcome =
            exchange(&mut card, &[0x80, 0x10, 0, 0, 1, 4, 2], Follow::default()).expect("exchange");
        assert_eq!(outcome.data, vec![1, 2, 3, 4, 5]);
        assert_eq!(outcome.sw, 0x9000);
        assert_eq!(card.sent[1], vec![0x00, 0xC0, 0x00, 0x00, 0x03]);
        assert_eq!(outcome.exchanges.len(), 2);
    }

    #[test]
    fn get_response_with_cla_80_and_disabled() {
        let mut card = Scripted::new(&[&[1, 0x61, 0x00], &[2, 0x90, 0x00]]);
        let follow = Follow {
            get_response_cla: 0x80,
            ..Follow::default()
        };
        let outcome = exchange(&mut card, &[0, 1, 0, 0], follow).expect("exchange");
        assert_eq!(card.sent[1], vec![0x80, 0xC0, 0x00, 0x00, 0x00]);
        assert_eq!(outcome.data, vec![1, 2]);

        let mut card = Scripted::new(&[&[1, 0x61, 0x00]]);
        let follow = Follow {
            get_response: false,
            ..Follow::default()
        };
        let outcome = exchange(&mut card, &[0, 1, 0, 0], follow).expect("exchange");
        assert_eq!(outcome.sw, 0x6100);
        assert_eq!(card.sent.len(), 1);
    }

    #[test]
    fn resends_once_on_6cxx() {
        let mut card = Scripted::new(&[&[0x6C, 0x04], &[9, 9, 9, 9, 0x90, 0x00]]);
        let outcome = exchange(
            &mut card,
            &[0x00, 0xCA, 0x7F, 0x68, 0x00],
            Follow::default(),
        )
        .expect("ok");
        assert_eq!(card.sent[1], vec![0x00, 0xCA, 0x7F, 0x68, 0x04]);
        assert_eq!(outcome.data, vec![9; 4]);
        // A second 6Cxx is reported, not chased.
        let mut card = Scripted::new(&[&[0x6C, 0x04], &[0x6C, 0x02]]);
        let outcome = exchange(&mut card, &[0, 0xCA, 0, 0, 0], Follow::default()).expect("ok");
        assert_eq!(outcome.sw, 0x6C02);
        assert_eq!(card.sent.len(), 2);
    }

    #[test]
    fn endless_61xx_is_bounded() {
        let endless: Vec<&[u8]> = vec![&[0x61, 0x01]; 10];
        let mut card = Scripted::new(&endless);
        let follow = Follow {
            max_follow_ups: 3,
            ..Follow::default()
        };
        let outcome = exchange(&mut card, &[0, 1, 0, 0], follow).expect("ok");
        assert_eq!(card.sent.len(), 4);
        assert_eq!(outcome.sw, 0x6101);
    }

    #[test]
    fn short_response_ends_the_exchange() {
        let mut card = Scripted::new(&[&[0x90]]);
        let outcome = exchange(&mut card, &[0, 1, 0, 0], Follow::default()).expect("ok");
        assert_eq!(outcome.sw, 0);
        assert_eq!(outcome.exchanges[0].response, vec![0x90]);
    }

    #[test]
    fn transport_errors_propagate() {
        let mut card = Scripted::new(&[&[0x61, 0x02]]);
        assert!(exchange(&mut card, &[0, 1, 0, 0], Follow::default()).is_err());
    }

    #[test]
    fn exact_le_reencodes() {
        assert_eq!(
            with_exact_le(&[0x00, 0xB0, 0x00, 0x00, 0x10], 0x20),
            Some(vec![0x00, 0xB0, 0x00, 0x00, 0x20])
        );
        assert_eq!(
            with_exact_le(&[0x00, 0xB0, 0x00, 0x00], 0x00),
            Some(vec![0x00, 0xB0, 0x00, 0x00, 0x00])
        );
        assert_eq!(with_exact_le(&[0x00, 0xB0], 1), None);
    }
}
