//! Response APDUs: optional data followed by a status word (ISO/IEC 7816-4 §5.1).

use crate::status::StatusWord;

/// A response APDU.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Response {
    pub data: Vec<u8>,
    pub sw: StatusWord,
}

impl Response {
    pub fn new(data: Vec<u8>, sw: StatusWord) -> Self {
        Self { data, sw }
    }

    /// Data with 9000.
    pub fn ok(data: Vec<u8>) -> Self {
        Self::new(data, StatusWord::OK)
    }

    /// A bare status word without data.
    pub fn status(sw: StatusWord) -> Self {
        Self::new(Vec::new(), sw)
    }

    /// The bytes on the wire: data || SW1 SW2.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.data.len() + 2);
        out.extend_from_slice(&self.data);
        out.extend_from_slice(&self.sw.to_bytes());
        out
    }

    /// Splits wire bytes into data and status word; `None` when shorter than two bytes.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let split = bytes.len().checked_sub(2)?;
        let (data, sw) = bytes.split_at(split);
        Some(Self::new(
            data.to_vec(),
            StatusWord::from_bytes(sw[0], sw[1]),
        ))
    }
}

impl From<StatusWord> for Response {
    fn from(sw: StatusWord) -> Self {
        Self::status(sw)
    }
}
