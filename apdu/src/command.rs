//! Command APDUs, ISO/IEC 7816-4 §5.1 and §5.4.1 (class byte).
//!
//! The four cases, in short and extended form:
//!
//! | case | body                              |
//! |------|-----------------------------------|
//! | 1    | (none)                            |
//! | 2S   | Le                                |
//! | 3S   | Lc Data                           |
//! | 4S   | Lc Data Le                        |
//! | 2E   | 00 Le1 Le2                        |
//! | 3E   | 00 Lc1 Lc2 Data                   |
//! | 4E   | 00 Lc1 Lc2 Data Le1 Le2           |
//!
//! Le = 00 means Ne = 256 in short form, Le = 0000 means Ne = 65536 in extended form. A body
//! that fits none of these shapes is a wrong length (6700). Decoding never panics.

use crate::status::StatusWord;

/// The APDU case (ISO/IEC 7816-4 §5.1 table 3).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Case {
    /// No data, no Le.
    One,
    /// Le only.
    Two,
    /// Data only.
    Three,
    /// Data and Le.
    Four,
}

/// A decoded command APDU.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Command {
    pub cla: u8,
    pub ins: u8,
    pub p1: u8,
    pub p2: u8,
    /// The command data field (Nc = `data.len()`).
    pub data: Vec<u8>,
    /// Ne, the maximum number of response bytes expected: `None` when Le is absent,
    /// otherwise 1..=256 (short) or 1..=65536 (extended).
    pub le: Option<usize>,
    /// Whether the APDU used (or is to be encoded with) extended length fields.
    pub extended: bool,
}

/// Largest Nc of an extended APDU (Lc is two bytes, 0000 is not allowed).
pub const MAX_EXTENDED_DATA: usize = 65535;
/// Largest Ne of an extended APDU.
pub const MAX_EXTENDED_LE: usize = 65536;

impl Command {
    /// A command without data or Le (case 1); the builders below add the rest.
    pub fn new(cla: u8, ins: u8, p1: u8, p2: u8) -> Self {
        Self {
            cla,
            ins,
            p1,
            p2,
            data: Vec::new(),
            le: None,
            extended: false,
        }
    }

    pub fn with_data(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.data = data.into();
        self
    }

    pub fn with_le(mut self, ne: usize) -> Self {
        self.le = Some(ne);
        self
    }

    pub fn extended(mut self) -> Self {
        self.extended = true;
        self
    }

    /// Decodes one command APDU. Any byte string is accepted as input; a header shorter than
    /// four bytes or a body that disagrees with its length fields gives 6700.
    pub fn decode(bytes: &[u8]) -> Result<Self, StatusWord> {
        let wrong = StatusWord::WRONG_LENGTH;
        let (header, body) = match bytes {
            [cla, ins, p1, p2, body @ ..] => ([*cla, *ins, *p1, *p2], body),
            _ => return Err(wrong),
        };
        let [cla, ins, p1, p2] = header;
        let mut cmd = Self::new(cla, ins, p1, p2);
        match body {
            // Case 1.
            [] => {}
            // Case 2S: Le = 00 means 256.
            [le] => cmd.le = Some(short_ne(*le)),
            // Extended forms start with a 00 byte followed by at least two more bytes.
            [0, rest @ ..] if rest.len() >= 2 => {
                cmd.extended = true;
                let first = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
                let tail = &rest[2..];
                if tail.is_empty() {
                    // Case 2E.
                    cmd.le = Some(extended_ne(first));
                } else {
                    // Cases 3E / 4E: Lc is 0001..FFFF.
                    let nc = first;
                    if nc == 0 {
                        return Err(wrong);
                    }
                    match tail.len().checked_sub(nc) {
                        Some(0) => cmd.data = tail.to_vec(),
                        Some(2) => {
                            cmd.data = tail[..nc].to_vec();
                            let le = u16::from_be_bytes([tail[nc], tail[nc + 1]]);
                            cmd.le = Some(extended_ne(usize::from(le)));
                        }
                        _ => return Err(wrong),
                    }
                }
            }
            // Short cases 3S / 4S: Lc is 01..FF.
            [lc, rest @ ..] if *lc != 0 => {
                let nc = usize::from(*lc);
                match rest.len().checked_sub(nc) {
                    Some(0) => cmd.data = rest.to_vec(),
                    Some(1) => {
                        cmd.data = rest[..nc].to_vec();
                        cmd.le = Some(short_ne(rest[nc]));
                    }
                    _ => return Err(wrong),
                }
            }
            // 00 followed by a single byte fits no case.
            _ => return Err(wrong),
        }
        Ok(cmd)
    }

    /// Encodes the command. Short form is used unless `extended` is set or Nc/Ne need extended
    /// fields. Returns `None` when Nc or Ne exceed what an APDU can carry.
    pub fn encode(&self) -> Option<Vec<u8>> {
        let nc = self.data.len();
        if nc > MAX_EXTENDED_DATA || matches!(self.le, Some(ne) if ne == 0 || ne > MAX_EXTENDED_LE)
        {
            return None;
        }
        let extended = self.extended || nc > 255 || matches!(self.le, Some(ne) if ne > 256);
        let mut out = Vec::with_capacity(4 + 3 + nc + 2);
        out.extend_from_slice(&[self.cla, self.ins, self.p1, self.p2]);
        if extended {
            if nc > 0 {
                out.push(0);
                out.extend_from_slice(&(nc as u16).to_be_bytes());
                out.extend_from_slice(&self.data);
            }
            if let Some(ne) = self.le {
                if nc == 0 {
                    out.push(0);
                }
                // Ne = 65536 is encoded as 0000.
                out.extend_from_slice(&((ne % 65536) as u16).to_be_bytes());
            }
        } else {
            if nc > 0 {
                out.push(nc as u8);
                out.extend_from_slice(&self.data);
            }
            if let Some(ne) = self.le {
                // Ne = 256 is encoded as 00.
                out.push((ne % 256) as u8);
            }
        }
        Some(out)
    }

    pub fn case(&self) -> Case {
        match (self.data.is_empty(), self.le.is_some()) {
            (true, false) => Case::One,
            (true, true) => Case::Two,
            (false, false) => Case::Three,
            (false, true) => Case::Four,
        }
    }

    /// Ne, or 0 when Le is absent.
    pub fn ne(&self) -> usize {
        self.le.unwrap_or(0)
    }

    /// The class byte's coding family (ISO/IEC 7816-4 §5.4.1).
    pub fn class(&self) -> ClassCoding {
        ClassCoding::of(self.cla)
    }

    /// True when CLA announces that more parts of a chain follow (bit b5, 0x10).
    pub fn is_chained(&self) -> bool {
        self.class().chaining
    }
}

/// What the class byte says, for the first interindustry values (`000x xxxx`), the further
/// interindustry values (`01xx xxxx`) and the proprietary class `100x xxxx` that CTAP uses with
/// the same bit layout as the first interindustry values (CLA 80 / 90).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ClassCoding {
    /// CLA = FF is invalid (reserved for PPS).
    pub valid: bool,
    /// Proprietary class (b8 = 1).
    pub proprietary: bool,
    /// Command chaining control, b5.
    pub chaining: bool,
    /// Logical channel number 0..=19.
    pub channel: u8,
    /// Secure messaging indication (b4-b3 for first interindustry values, b6 for further ones).
    pub secure_messaging: bool,
}

impl ClassCoding {
    pub fn of(cla: u8) -> Self {
        let valid = cla != 0xFF;
        let proprietary = cla & 0x80 != 0;
        if cla & 0x40 == 0 {
            // First interindustry values (and 8x/9x proprietary with the same layout).
            Self {
                valid,
                proprietary,
                chaining: cla & 0x10 != 0,
                channel: cla & 0x03,
                secure_messaging: cla & 0x0C != 0,
            }
        } else {
            // Further interindustry values: channel 4 + b4..b1, secure messaging in b6.
            Self {
                valid,
                proprietary,
                chaining: cla & 0x10 != 0,
                channel: 4 + (cla & 0x0F),
                secure_messaging: cla & 0x20 != 0,
            }
        }
    }
}

fn short_ne(le: u8) -> usize {
    if le == 0 { 256 } else { usize::from(le) }
}

fn extended_ne(le: usize) -> usize {
    if le == 0 { MAX_EXTENDED_LE } else { le }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hex_decode;

    fn dec(hex: &str) -> Result<Command, StatusWord> {
        Command::decode(&hex_decode(hex).unwrap())
    }

    #[test]
    fn the_four_short_cases() {
        let c1 = dec("00A40400").unwrap();
        assert_eq!((c1.case(), c1.le), (Case::One, None));
        let c2 = dec("00C0000000").unwrap();
        assert_eq!((c2.case(), c2.le), (Case::Two, Some(256)));
        let c3 = dec("00A4040008A0000006472F0001").unwrap();
        assert_eq!(c3.case(), Case::Three);
        assert_eq!(c3.data, hex_decode("A0000006472F0001").unwrap());
        let c4 = dec("00A4040008A0000006472F000100").unwrap();
        assert_eq!((c4.case(), c4.le), (Case::Four, Some(256)));
        assert!(!c4.extended);
    }

    #[test]
    fn the_extended_cases() {
        let c2 = dec("80100000000000").unwrap();
        assert_eq!(
            (c2.case(), c2.le, c2.extended),
            (Case::Two, Some(65536), true)
        );
        let c3 = dec("8010000000000104").unwrap();
        assert_eq!((c3.case(), c3.data.clone()), (Case::Three, vec![4]));
        let c4 = dec("80100000000001040000").unwrap();
        assert_eq!((c4.case(), c4.le), (Case::Four, Some(65536)));
        let c4b = dec("80100000000001041234").unwrap();
        assert_eq!(c4b.le, Some(0x1234));
    }

    #[test]
    fn bodies_that_disagree_with_their_header_are_wrong_length() {
        for bad in [
            "",
            "00",
            "00A404",
            "00A4040002AA",
            "00A4040002AABBCCDD",
            "800000000000",
            "8010000000000204",
            "80100000000000",
            "8010000000000001",
        ] {
            if bad == "80100000000000" {
                continue; // valid case 2E, listed to keep the table readable
            }
            assert_eq!(dec(bad), Err(StatusWord::WRONG_LENGTH), "{bad}");
        }
        // Extended Lc of 0000 followed by data is not a valid case 3E/4E.
        assert_eq!(dec("801000000000000102"), Err(StatusWord::WRONG_LENGTH));
    }

    #[test]
    fn encode_round_trips_and_picks_the_shortest_form() {
        let cmd = Command::new(0x80, 0x10, 0, 0)
            .with_data(vec![4])
            .with_le(256);
        assert_eq!(cmd.encode().unwrap(), hex_decode("80100000010400").unwrap());
        let big = Command::new(0x80, 0x10, 0, 0)
            .with_data(vec![1; 300])
            .with_le(65536);
        let bytes = big.encode().unwrap();
        assert_eq!(&bytes[4..7], &[0, 0x01, 0x2C]);
        assert_eq!(&bytes[bytes.len() - 2..], &[0, 0]);
        assert_eq!(Command::decode(&bytes).unwrap(), big.extended());
        assert_eq!(Command::new(0, 0, 0, 0).with_le(0).encode(), None);
    }

    #[test]
    fn class_byte_layouts() {
        assert!(ClassCoding::of(0x90).chaining);
        assert!(ClassCoding::of(0x10).chaining);
        assert!(!ClassCoding::of(0x80).chaining);
        assert_eq!(ClassCoding::of(0x01).channel, 1);
        assert_eq!(ClassCoding::of(0x40).channel, 4);
        assert_eq!(ClassCoding::of(0x4F).channel, 19);
        assert!(!ClassCoding::of(0xFF).valid);
    }
}
