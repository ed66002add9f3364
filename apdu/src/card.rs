//! The card runtime, in the manner of a Java Card runtime environment (JCRE 3, §3 and §4):
//! applets installed under AIDs, SELECT routing, power events, command and response chaining.
//!
//! [`Card::transmit`] is the only data path: one command APDU in, one response APDU out.

use crate::chaining::{ChainStep, CommandChain, ResponseChain};
use crate::command::{Command, MAX_EXTENDED_LE};
use crate::quirks::{GetResponseCla, Quirks, WrongLe};
use crate::response::Response;
use crate::status::StatusWord;

/// INS of SELECT (ISO/IEC 7816-4 §11.2.2).
pub const INS_SELECT: u8 = 0xA4;
/// INS of GET RESPONSE (ISO/IEC 7816-4 §11.4.5... §7.6.1).
pub const INS_GET_RESPONSE: u8 = 0xC0;
/// Largest response data in one vpcd message: 65535 bytes minus the status word.
pub const MAX_RESPONSE_DATA: usize = 65533;

/// A card event that touches transient memory.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PowerEvent {
    /// Cold start: the card entered the field (for a contactless card, the tap).
    PowerOn,
    /// Warm reset: PC/SC clients reset the card when they disconnect.
    Reset,
    /// The card left the field.
    PowerOff,
}

/// An applet, as Java Card's `javacard.framework.Applet`.
pub trait Applet: Send {
    /// SELECT by AID chose this applet. The response is the SELECT answer; a status word other
    /// than 9000 refuses the selection, and then no applet is selected.
    fn select(&mut self, cmd: &Command) -> Response;

    /// Another applet was selected, this one re-selected, or the card reset or powered off while
    /// this applet was selected: clear `CLEAR_ON_DESELECT` memory.
    fn deselect(&mut self) {}

    /// A whole command for the selected applet. Command chains are already reassembled and GET
    /// RESPONSE is served by the runtime, so the response may be of any length.
    fn process(&mut self, cmd: &Command) -> Response;

    /// Power-up, warm reset or power-off; every installed applet gets it, selected or not.
    fn power_event(&mut self, _event: PowerEvent) {}
}

/// What the card's interface can carry; a card profile fills this in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CardConfig {
    /// Whether extended-length APDUs are accepted (6700 otherwise).
    pub extended_length: bool,
    /// Largest command data after chaining reassembly.
    pub max_command_data: usize,
    /// Largest response data in one response APDU (before 61XX).
    pub max_response_chunk: usize,
    /// How this card departs from the most lenient reading of ISO/IEC 7816-4.
    pub quirks: Quirks,
}

impl Default for CardConfig {
    fn default() -> Self {
        Self {
            extended_length: true,
            max_command_data: 65535,
            max_response_chunk: MAX_RESPONSE_DATA,
            quirks: Quirks::default(),
        }
    }
}

/// An answer withheld behind 6CXX ([`WrongLe::Correct`]) until the host repeats the command
/// with the right Le.
struct Withheld {
    command: Command,
    response: Response,
}

impl Withheld {
    /// Whether `cmd` is the command repeated (any Le).
    fn is_repeated_by(&self, cmd: &Command) -> bool {
        let c = &self.command;
        (c.cla, c.ins, c.p1, c.p2, &c.data, c.extended)
            == (cmd.cla, cmd.ins, cmd.p1, cmd.p2, &cmd.data, cmd.extended)
    }
}

struct Installed {
    aid: Vec<u8>,
    applet: Box<dyn Applet>,
}

/// A card holding applets by AID.
pub struct Card {
    config: CardConfig,
    applets: Vec<Installed>,
    selected: Option<usize>,
    chain: CommandChain,
    response: ResponseChain,
    withheld: Option<Withheld>,
    powered: bool,
}

impl Card {
    pub fn new(config: CardConfig) -> Self {
        let chain = CommandChain::new(config.max_command_data);
        Self {
            config,
            applets: Vec::new(),
            selected: None,
            chain,
            response: ResponseChain::default(),
            withheld: None,
            powered: false,
        }
    }

    pub fn config(&self) -> &CardConfig {
        &self.config
    }

    /// Installs an applet under `aid` (5 to 16 bytes); a second applet under the same AID
    /// replaces the first.
    pub fn install(&mut self, aid: &[u8], applet: Box<dyn Applet>) {
        if let Some(slot) = self.applets.iter_mut().find(|i| i.aid == aid) {
            slot.applet = applet;
        } else {
            self.applets.push(Installed {
                aid: aid.to_vec(),
                applet,
            });
        }
    }

    /// The AID of the selected applet.
    pub fn selected_aid(&self) -> Option<&[u8]> {
        self.selected
            .and_then(|i| self.applets.get(i))
            .map(|i| i.aid.as_slice())
    }

    /// The applet installed under `aid`, for inspection by tests and tools.
    pub fn applet_mut(&mut self, aid: &[u8]) -> Option<&mut (dyn Applet + 'static)> {
        self.applets
            .iter_mut()
            .find(|i| i.aid == aid)
            .map(|i| i.applet.as_mut())
    }

    pub fn is_powered(&self) -> bool {
        self.powered
    }

    /// Cold start.
    pub fn power_on(&mut self) {
        self.power_event(PowerEvent::PowerOn);
        self.powered = true;
    }

    /// Warm reset.
    pub fn reset(&mut self) {
        self.power_event(PowerEvent::Reset);
        self.powered = true;
    }

    /// The card leaves the field.
    pub fn power_off(&mut self) {
        self.power_event(PowerEvent::PowerOff);
        self.powered = false;
    }

    fn power_event(&mut self, event: PowerEvent) {
        self.deselect_current();
        self.chain.reset();
        self.response.discard();
        self.withheld = None;
        for installed in &mut self.applets {
            installed.applet.power_event(event);
        }
    }

    fn deselect_current(&mut self) {
        if let Some(i) = self.selected.take() {
            if let Some(installed) = self.applets.get_mut(i) {
                installed.applet.deselect();
            }
        }
    }

    /// Processes one command APDU and returns the response APDU's bytes.
    pub fn transmit(&mut self, apdu: &[u8]) -> Vec<u8> {
        if !self.powered {
            // A reader always powers a card before talking to it; a caller that did not is
            // treated as having done so, as a contactless card powers up in the field.
            self.power_on();
        }
        let cmd = match Command::decode(apdu) {
            Ok(cmd) => cmd,
            Err(sw) => {
                self.chain.reset();
                self.response.discard();
                self.withheld = None;
                return sw.to_bytes().to_vec();
            }
        };
        if let Some(withheld) = self.withheld.take() {
            if withheld.is_repeated_by(&cmd) {
                return self.answer_withheld(withheld, &cmd);
            }
        }
        let class = cmd.class();
        if cmd.ins == INS_GET_RESPONSE && matches!(cmd.cla, 0x00 | 0x80) {
            if cmd.cla == 0x80
                && self.config.quirks.get_response_cla == GetResponseCla::InterindustryOnly
            {
                // ISO/IEC 7816-4 §5.6: 6E00, class not supported. The rest of the answer
                // stays for a GET RESPONSE with CLA 00.
                return StatusWord::CLA_NOT_SUPPORTED.to_bytes().to_vec();
            }
            // Windows and libfido2 send GET RESPONSE with CLA 80, python-fido2 with CLA 00.
            self.chain.reset();
            return self.get_response(&cmd);
        }
        // Any command other than GET RESPONSE discards the rest of a long response.
        self.response.discard();
        let refusal = if !class.valid {
            Some(StatusWord::CLA_NOT_SUPPORTED)
        } else if class.channel != 0 {
            Some(StatusWord::LOGICAL_CHANNEL_NOT_SUPPORTED)
        } else if class.secure_messaging && !class.proprietary {
            Some(StatusWord::SECURE_MESSAGING_NOT_SUPPORTED)
        } else if cmd.extended && !self.config.extended_length {
            Some(StatusWord::WRONG_LENGTH)
        } else {
            None
        };
        if let Some(sw) = refusal {
            self.chain.reset();
            return sw.to_bytes().to_vec();
        }
        let extended = cmd.extended;
        let continues_chain = self.chain.is_active();
        let cmd = match self.chain.push(cmd) {
            ChainStep::Incomplete => return StatusWord::OK.to_bytes().to_vec(),
            ChainStep::Refused(sw) => return sw.to_bytes().to_vec(),
            ChainStep::Complete(cmd) => cmd,
        };
        // Ne: what the host can take in this response; a command without Le still gets its
        // data, in parts, as T=0 cards do, since hosts often omit Le on the last chained part.
        let ne = cmd
            .le
            .unwrap_or(if extended { MAX_EXTENDED_LE } else { 256 });
        let response = self.dispatch(&cmd);
        if let Some(le) = cmd.le.filter(|_| {
            self.config.quirks.wrong_le == WrongLe::Correct && !extended && !continues_chain
        }) {
            let available = response.data.len();
            if le < available && available <= 256 && available <= self.config.max_response_chunk {
                // ISO/IEC 7816-4 §5.6: 6CXX, resend with Le = XX; the answer waits for it.
                self.withheld = Some(Withheld {
                    command: cmd,
                    response,
                });
                return StatusWord::wrong_le(available).to_bytes().to_vec();
            }
        }
        let chunk = ne
            .min(self.config.max_response_chunk)
            .min(MAX_RESPONSE_DATA);
        if response.data.len() <= chunk {
            return response.to_bytes();
        }
        self.response.start(response, chunk)
    }

    /// The command repeated after 6CXX: the withheld answer when Le now asks for all of it,
    /// else 6CXX again.
    fn answer_withheld(&mut self, withheld: Withheld, cmd: &Command) -> Vec<u8> {
        let available = withheld.response.data.len();
        if cmd.le.is_some_and(|le| le >= available) {
            return withheld.response.to_bytes();
        }
        self.withheld = Some(withheld);
        StatusWord::wrong_le(available).to_bytes().to_vec()
    }

    fn get_response(&mut self, cmd: &Command) -> Vec<u8> {
        if cmd.p1 != 0 || cmd.p2 != 0 {
            return StatusWord::INCORRECT_P1P2.to_bytes().to_vec();
        }
        let ne = cmd.le.unwrap_or(256);
        let chunk = ne
            .min(self.config.max_response_chunk)
            .min(MAX_RESPONSE_DATA);
        match self.response.next_part(chunk) {
            Some(bytes) => bytes,
            None => StatusWord::CONDITIONS_NOT_SATISFIED.to_bytes().to_vec(),
        }
    }

    fn dispatch(&mut self, cmd: &Command) -> Response {
        if cmd.ins == INS_SELECT && cmd.cla & 0x80 == 0 {
            return self.select(cmd);
        }
        match self.selected.and_then(|i| self.applets.get_mut(i)) {
            Some(installed) => installed.applet.process(cmd),
            None if cmd.class().proprietary => StatusWord::CLA_NOT_SUPPORTED.into(),
            None => StatusWord::INS_NOT_SUPPORTED.into(),
        }
    }

    /// SELECT (ISO/IEC 7816-4 §11.2.2). Only selection by DF name (P1 = 04) reaches applets; the
    /// card has no file system, so selections by file identifier or path find nothing. A failed
    /// selection leaves the current applet selected and untouched.
    fn select(&mut self, cmd: &Command) -> Response {
        match cmd.p1 {
            0x04 => {}
            0x00..=0x03 | 0x08 | 0x09 => return StatusWord::FILE_NOT_FOUND.into(),
            _ => return StatusWord::INCORRECT_P1P2.into(),
        }
        // P2: first or only occurrence, with FCI / FCP / FMD / no data.
        if !matches!(cmd.p2, 0x00 | 0x04 | 0x08 | 0x0C) {
            return StatusWord::INCORRECT_P1P2.into();
        }
        let name = cmd.data.as_slice();
        // An exact AID wins; otherwise a partial DF name of at least 5 bytes (RID) selects the
        // first applet whose AID starts with it (ISO/IEC 7816-4 §8.4.2 / JCRE §4.1.1).
        let found = self.applets.iter().position(|i| i.aid == name).or_else(|| {
            (name.len() >= 5)
                .then(|| self.applets.iter().position(|i| i.aid.starts_with(name)))
                .flatten()
        });
        let Some(index) = found else {
            return StatusWord::FILE_NOT_FOUND.into();
        };
        self.deselect_current();
        let response = match self.applets.get_mut(index) {
            Some(installed) => installed.applet.select(cmd),
            None => return StatusWord::UNKNOWN.into(),
        };
        if response.sw.is_ok() {
            self.selected = Some(index);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hex_decode;
    use crate::transient::{ClearOn, Transient, TransientEvent};

    /// A test applet: echoes data (INS 01), returns N bytes (INS 02, N = P1 * 256 + P2), keeps a
    /// CLEAR_ON_DESELECT counter (INS 03 increments and returns it).
    struct Echo {
        counter: Transient<u8>,
        power_events: Vec<PowerEvent>,
    }

    impl Echo {
        fn new() -> Self {
            Self {
                counter: Transient::new(ClearOn::Deselect),
                power_events: Vec::new(),
            }
        }
    }

    impl Applet for Echo {
        fn select(&mut self, _cmd: &Command) -> Response {
            Response::ok(b"ECHO".to_vec())
        }
        fn deselect(&mut self) {
            self.counter.on_event(TransientEvent::Deselect);
        }
        fn process(&mut self, cmd: &Command) -> Response {
            match (cmd.cla, cmd.ins) {
                (0x00 | 0x80, 0x01) => Response::ok(cmd.data.clone()),
                (0x00 | 0x80, 0x02) => {
                    let n = usize::from(cmd.p1) * 256 + usize::from(cmd.p2);
                    Response::ok((0..n).map(|i| i as u8).collect())
                }
                (0x00 | 0x80, 0x03) => {
                    *self.counter += 1;
                    Response::ok(vec![*self.counter])
                }
                (0x00 | 0x80, 0x04) => Response::ok(
                    self.power_events
                        .iter()
                        .map(|e| match e {
                            PowerEvent::PowerOn => 0,
                            PowerEvent::Reset => 1,
                            PowerEvent::PowerOff => 2,
                        })
                        .collect(),
                ),
                (0x00 | 0x80, _) => StatusWord::INS_NOT_SUPPORTED.into(),
                _ => StatusWord::CLA_NOT_SUPPORTED.into(),
            }
        }
        fn power_event(&mut self, event: PowerEvent) {
            self.counter.on_event(TransientEvent::Reset);
            self.power_events.push(event);
        }
    }

    const AID: &str = "A0000006472F0001";

    /// SELECT of `Echo` by its AID, without Le.
    const SELECT: &str = "00A4040008A0000006472F0001";

    /// A powered card of `config` with `Echo` installed under `AID`.
    fn card_with(config: CardConfig) -> Card {
        let mut card = Card::new(config);
        card.install(&hex_decode(AID).unwrap(), Box::new(Echo::new()));
        card.power_on();
        card
    }

    fn card() -> Card {
        card_with(CardConfig::default())
    }

    /// `card_with(config)` with `Echo` selected.
    fn selected(config: CardConfig) -> Card {
        let mut card = card_with(config);
        tx(&mut card, SELECT);
        card
    }

    fn tx(card: &mut Card, hex: &str) -> String {
        crate::hex_encode(&card.transmit(&hex_decode(hex).unwrap()))
    }

    /// Sends each command of `exchanges` to `card` in turn, checking its answer (hex).
    fn assert_exchanges(card: &mut Card, exchanges: &[(&str, &str)]) {
        for (command, answer) in exchanges {
            assert_eq!(tx(card, command), *answer, "{command}");
        }
    }

    #[test]
    fn select_by_aid_answers_the_applet() {
        let mut c = card();
        assert_eq!(tx(&mut c, "00A4040008A0000006472F000100"), "4543484F9000");
        assert_eq!(c.selected_aid(), Some(hex_decode(AID).unwrap().as_slice()));
    }

    #[test]
    fn unknown_aid_is_6a82_and_keeps_the_selection_and_its_state() {
        let mut c = selected(CardConfig::default());
        assert_eq!(tx(&mut c, "0003000000"), "019000");
        // Windows smart-card plug-and-play and opensc-tool probes.
        assert_eq!(tx(&mut c, "00A4040009A0000003080000100000"), "6A82"); // PIV
        assert_eq!(tx(&mut c, "00A404000BA000000397425446590201"), "6A82"); // GIDS
        assert_eq!(tx(&mut c, "00CA7F6800"), "6D00"); // GET DATA goes to the applet: unknown INS
        assert_eq!(tx(&mut c, "00A40000023F00"), "6A82");
        assert_eq!(tx(&mut c, "00A40200022F01"), "6A82");
        assert_eq!(tx(&mut c, "00A4FF0000"), "6A86");
        assert_eq!(tx(&mut c, "0003000000"), "029000", "state untouched");
    }

    #[test]
    fn nothing_selected_answers_6d00_or_6e00() {
        assert_exchanges(
            &mut card(),
            &[
                ("00CA7F6800", "6D00"),
                ("8010000000", "6E00"),
                ("FF00000000", "6E00"),
            ],
        );
    }

    #[test]
    fn logical_channels_other_than_basic_are_refused() {
        assert_exchanges(
            &mut card(),
            &[
                ("01A4040008A0000006472F0001", "6881"),
                ("41A4040008A0000006472F0001", "6881"),
            ],
        );
    }

    #[test]
    fn reselect_and_power_events_clear_transient_memory() {
        let mut c = selected(CardConfig::default());
        tx(&mut c, "0003000000");
        tx(&mut c, SELECT);
        assert_eq!(tx(&mut c, "0003000000"), "019000");
        c.reset();
        assert_eq!(c.selected_aid(), None);
        assert_eq!(
            tx(&mut c, "0003000000"),
            "6D00",
            "no applet selected after reset"
        );
        tx(&mut c, SELECT);
        assert_eq!(tx(&mut c, "0003000000"), "019000");
    }

    #[test]
    fn chained_commands_reach_the_applet_whole() {
        assert_exchanges(
            &mut selected(CardConfig::default()),
            &[
                ("9001000002AABB", "9000"),
                ("9001000001CC", "9000"),
                ("8001000001DD00", "AABBCCDD9000"),
            ],
        );
    }

    #[test]
    fn long_responses_come_through_get_response_with_cla_00_or_80() {
        let mut c = selected(CardConfig::default());
        let first = c.transmit(&hex_decode("8002012C00").unwrap()); // 300 bytes, Le 256
        assert_eq!(first.len(), 258);
        assert_eq!(&first[256..], &[0x61, 44]);
        let rest = c.transmit(&hex_decode("80C0000000").unwrap());
        assert_eq!(rest.len(), 46);
        assert_eq!(&rest[44..], &[0x90, 0x00]);
        assert_eq!(rest[0], 0); // byte 256 of 0..300 as u8
        // Again with CLA 00, and a small Le.
        c.transmit(&hex_decode("0002012C00").unwrap());
        let part = c.transmit(&hex_decode("00C0000010").unwrap());
        assert_eq!(part.len(), 18);
        assert_eq!(&part[16..], &[0x61, 28]);
        // Any other command discards the rest.
        assert_eq!(tx(&mut c, "0001000001AA"), "AA9000");
        assert_eq!(tx(&mut c, "00C0000000"), "6985");
    }

    #[test]
    fn extended_length_commands_and_responses() {
        let mut c = selected(CardConfig::default());
        let resp = c.transmit(&hex_decode("800203E8000000").unwrap()); // 1000 bytes, Le 65536
        assert_eq!(resp.len(), 1002);
        let mut small = selected(CardConfig {
            extended_length: false,
            ..CardConfig::default()
        });
        assert_eq!(
            small.transmit(&hex_decode("800203E8000000").unwrap()),
            vec![0x67, 0x00]
        );
    }

    fn quirky(quirks: Quirks) -> Card {
        selected(CardConfig {
            quirks,
            ..CardConfig::default()
        })
    }

    #[test]
    fn wrong_le_gets_6cxx_and_the_repeated_command_its_answer_once() {
        let mut c = quirky(Quirks {
            wrong_le: WrongLe::Correct,
            ..Quirks::default()
        });
        // INS 03 counts: the answer is withheld, so the command runs once.
        assert_eq!(tx(&mut c, "0003000000"), "019000", "Le 00 = 256 fits");
        assert_eq!(tx(&mut c, "0002000A04"), "6C0A", "10 bytes, Le 4");
        assert_eq!(tx(&mut c, "0002000A08"), "6C0A", "still too small");
        assert_eq!(tx(&mut c, "0002000A0A"), "000102030405060708099000");
        assert_eq!(tx(&mut c, "00030000"), "029000", "no Le: no 6CXX");
        // 256 bytes: 6C00; the repetition with Le 00 gets them all.
        assert_eq!(tx(&mut c, "0002010001"), "6C00");
        assert_eq!(c.transmit(&hex_decode("0002010000").unwrap()).len(), 258);
        // Another command drops the withheld answer: it is not served later.
        assert_eq!(tx(&mut c, "0002000A04"), "6C0A");
        assert_eq!(tx(&mut c, "0001000001AA"), "AA9000");
        assert_eq!(tx(&mut c, "0003000001"), "039000");
        // Longer than 256: chained with 61XX as before.
        let first = c.transmit(&hex_decode("0002012C10").unwrap());
        assert_eq!(&first[16..], &[0x61, 0x00]);
        // Extended commands are not subject to it.
        assert_eq!(tx(&mut c, "00020005000004"), "000102036101");
    }

    #[test]
    fn default_card_serves_a_small_le_with_61xx() {
        let mut c = selected(CardConfig::default());
        assert_eq!(tx(&mut c, "0002000A04"), "000102036106");
    }

    #[test]
    fn get_response_with_cla_80_refused_keeps_the_rest_for_cla_00() {
        let mut c = quirky(Quirks {
            get_response_cla: GetResponseCla::InterindustryOnly,
            ..Quirks::default()
        });
        let first = c.transmit(&hex_decode("8002012C00").unwrap());
        assert_eq!(&first[256..], &[0x61, 44]);
        assert_eq!(tx(&mut c, "80C0000000"), "6E00");
        let rest = c.transmit(&hex_decode("00C0000000").unwrap());
        assert_eq!(rest.len(), 46);
        assert_eq!(&rest[44..], &[0x90, 0x00]);
    }

    #[test]
    fn malformed_apdus_get_6700() {
        assert_exchanges(&mut card(), &[("00A4", "6700"), ("00A4040008A000", "6700")]);
    }

    #[test]
    fn every_applet_sees_power_events_selected_or_not() {
        let mut c = card();
        let other = Echo::new();
        c.install(
            &hex_decode("A000000308000010000100").unwrap(),
            Box::new(other),
        );
        tx(&mut c, SELECT);
        c.reset();
        c.power_off();
        assert!(!c.is_powered());
        // power_events is the applet's record: the card powered on in card(), then reset, then off.
        for aid in [AID, "A000000308000010000100"] {
            let applet = c.applet_mut(&hex_decode(aid).unwrap()).unwrap();
            // Echo answers INS 04 with its power-event log (test-only instruction).
            let log = applet.process(&Command::new(0, 0x04, 0, 0)).data;
            let expected: &[u8] = if aid == AID { &[0, 1, 2] } else { &[1, 2] };
            assert_eq!(log, expected, "{aid}");
        }
    }
}
