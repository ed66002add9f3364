//! ISO/IEC 7816-4 §5.6 status words.

use std::fmt;

/// A two-byte status word (SW1 SW2) ending every response APDU.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatusWord(pub u16);

impl StatusWord {
    /// 9000: normal processing.
    pub const OK: Self = Self(0x9000);
    /// 6700: wrong length (Lc/Le inconsistent with the command, or data too long).
    pub const WRONG_LENGTH: Self = Self(0x6700);
    /// 6881: logical channel not supported.
    pub const LOGICAL_CHANNEL_NOT_SUPPORTED: Self = Self(0x6881);
    /// 6882: secure messaging not supported.
    pub const SECURE_MESSAGING_NOT_SUPPORTED: Self = Self(0x6882);
    /// 6883: last command of the chain expected.
    pub const LAST_COMMAND_EXPECTED: Self = Self(0x6883);
    /// 6884: command chaining not supported.
    pub const CHAINING_NOT_SUPPORTED: Self = Self(0x6884);
    /// 6982: security status not satisfied.
    pub const SECURITY_STATUS_NOT_SATISFIED: Self = Self(0x6982);
    /// 6985: conditions of use not satisfied (U2F: user presence required).
    pub const CONDITIONS_NOT_SATISFIED: Self = Self(0x6985);
    /// 6986: command not allowed (no current EF / applet ended its session).
    pub const COMMAND_NOT_ALLOWED: Self = Self(0x6986);
    /// 6A80: incorrect parameters in the data field (U2F: wrong key handle).
    pub const WRONG_DATA: Self = Self(0x6A80);
    /// 6A81: function not supported.
    pub const FUNCTION_NOT_SUPPORTED: Self = Self(0x6A81);
    /// 6A82: file or application not found.
    pub const FILE_NOT_FOUND: Self = Self(0x6A82);
    /// 6A86: incorrect parameters P1-P2.
    pub const INCORRECT_P1P2: Self = Self(0x6A86);
    /// 6D00: instruction code not supported or invalid.
    pub const INS_NOT_SUPPORTED: Self = Self(0x6D00);
    /// 6E00: class not supported.
    pub const CLA_NOT_SUPPORTED: Self = Self(0x6E00);
    /// 6F00: no precise diagnosis.
    pub const UNKNOWN: Self = Self(0x6F00);

    /// 61XX: `remaining` more bytes wait for GET RESPONSE; XX = 00 means 256 or more.
    pub fn more_data(remaining: usize) -> Self {
        let xx = if remaining >= 256 {
            0
        } else {
            remaining as u16
        };
        Self(0x6100 | xx)
    }

    /// 6CXX: wrong Le; XX is the exact number of data bytes available (ISO/IEC 7816-4 §5.6),
    /// 00 meaning 256. `available` is at most 256.
    pub fn wrong_le(available: usize) -> Self {
        Self(0x6C00 | (available.min(256) % 256) as u16)
    }

    /// True for 6CXX (wrong Le, resend with Le = XX).
    pub fn is_wrong_le(self) -> bool {
        self.sw1() == 0x6C
    }

    /// Builds a status word from its two bytes.
    pub fn from_bytes(sw1: u8, sw2: u8) -> Self {
        Self(u16::from_be_bytes([sw1, sw2]))
    }

    pub fn sw1(self) -> u8 {
        (self.0 >> 8) as u8
    }

    pub fn sw2(self) -> u8 {
        self.0 as u8
    }

    pub fn to_bytes(self) -> [u8; 2] {
        self.0.to_be_bytes()
    }

    pub fn is_ok(self) -> bool {
        self == Self::OK
    }

    /// True for 61XX (more data available).
    pub fn is_more_data(self) -> bool {
        self.sw1() == 0x61
    }

    /// A short English description, for logs and tools.
    pub fn description(self) -> &'static str {
        match self.0 {
            0x9000 => "success",
            0x6700 => "wrong length",
            0x6881 => "logical channel not supported",
            0x6882 => "secure messaging not supported",
            0x6883 => "last command of the chain expected",
            0x6884 => "command chaining not supported",
            0x6982 => "security status not satisfied",
            0x6985 => "conditions of use not satisfied",
            0x6986 => "command not allowed",
            0x6A80 => "wrong data",
            0x6A81 => "function not supported",
            0x6A82 => "file or application not found",
            0x6A86 => "incorrect P1-P2",
            0x6D00 => "instruction not supported",
            0x6E00 => "class not supported",
            0x6F00 => "no precise diagnosis",
            sw if sw >> 8 == 0x61 => "more data available",
            sw if sw >> 8 == 0x6C => "wrong Le, resend with Le = SW2",
            _ => "unknown status",
        }
    }
}

impl fmt::Debug for StatusWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SW {:04X}", self.0)
    }
}

impl fmt::Display for StatusWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04X} ({})", self.0, self.description())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn more_data_counts_up_to_255_then_wraps_to_00() {
        assert_eq!(StatusWord::more_data(1).0, 0x6101);
        assert_eq!(StatusWord::more_data(255).0, 0x61FF);
        assert_eq!(StatusWord::more_data(256).0, 0x6100);
        assert_eq!(StatusWord::more_data(70_000).0, 0x6100);
        assert!(StatusWord::more_data(3).is_more_data());
    }

    #[test]
    fn bytes_round_trip() {
        let sw = StatusWord::from_bytes(0x6A, 0x82);
        assert_eq!(sw, StatusWord::FILE_NOT_FOUND);
        assert_eq!(sw.to_bytes(), [0x6A, 0x82]);
        assert_eq!(sw.to_string(), "6A82 (file or application not found)");
    }
}
