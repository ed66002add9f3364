//! The card-capabilities data object in the ATR's historical bytes (ISO/IEC 7816-4 §8.1.1),
//! where a card tells the host whether it takes extended Lc and Le fields.
//!
//! Historical bytes whose category indicator is `80` are a sequence of COMPACT-TLV objects (one
//! byte: tag in the high nibble, length in the low one, §8.1.1.1). Tag 7 is "card capabilities"
//! (§8.1.1.2.7): up to three software function tables. In the third one, bit b7 (`40`) means
//! "extended Lc and Le fields" and b8 (`80`) "command chaining" (table 118 of the 2013 edition).
//! A host that reads the ATR (Windows' smart-card stack, OpenSC) believes these bits, so a card
//! that says b7 and refuses extended APDUs — or the reverse — breaks it.

/// COMPACT-TLV category indicator (ISO/IEC 7816-4 §8.1.1.1).
pub const CATEGORY_COMPACT_TLV: u8 = 0x80;
/// Tag of the card-capabilities object (§8.1.1.2.7).
pub const TAG_CARD_CAPABILITIES: u8 = 0x7;
/// Third software function table, b8: command chaining (§8.1.1.2.7).
pub const CAP_COMMAND_CHAINING: u8 = 0x80;
/// Third software function table, b7: extended Lc and Le fields (§8.1.1.2.7).
pub const CAP_EXTENDED_LENGTH: u8 = 0x40;
/// First software function table, b8: DF selection by full DF name (§8.1.1.2.7), as SELECT of
/// an applet by AID is.
pub const CAP_SELECT_BY_FULL_NAME: u8 = 0x80;
/// At most this many historical bytes (T0 counts them in one nibble, ISO/IEC 7816-3 §8.2.2).
pub const MAX_HISTORICAL_BYTES: usize = 15;

/// Why the card capabilities cannot be written into some historical bytes.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CapabilitiesError {
    /// The historical bytes are not COMPACT-TLV, so there is no place for the object.
    #[error("the historical bytes do not start with the COMPACT-TLV category 80")]
    NotCompactTlv,
    /// A COMPACT-TLV object runs past the end.
    #[error("a COMPACT-TLV object at byte {0} runs past the end of the historical bytes")]
    Truncated(usize),
    /// Adding a card-capabilities object would pass 15 historical bytes.
    #[error("no room for a 4-byte card-capabilities object (at most 15 historical bytes)")]
    NoRoom,
}

/// Where the card-capabilities object's value is: (offset of the value, its length).
fn find_capabilities(historical: &[u8]) -> Result<Option<(usize, usize)>, CapabilitiesError> {
    if historical.first() != Some(&CATEGORY_COMPACT_TLV) {
        return Err(CapabilitiesError::NotCompactTlv);
    }
    let mut at = 1;
    while at < historical.len() {
        let (tag, len) = (historical[at] >> 4, usize::from(historical[at] & 0x0F));
        if at + 1 + len > historical.len() {
            return Err(CapabilitiesError::Truncated(at));
        }
        if tag == TAG_CARD_CAPABILITIES {
            return Ok(Some((at + 1, len)));
        }
        at += 1 + len;
    }
    Ok(None)
}

/// Whether the historical bytes declare extended Lc/Le: `None` when they carry no third
/// software function table (or are not COMPACT-TLV), so they claim nothing.
pub fn declares_extended_length(historical: &[u8]) -> Option<bool> {
    match find_capabilities(historical) {
        Ok(Some((value, 3))) => Some(historical[value + 2] & CAP_EXTENDED_LENGTH != 0),
        _ => None,
    }
}

/// The historical bytes with a card-capabilities object that agrees with `extended`: an
/// existing object of three bytes gets b7 of its third table set or cleared; one of fewer
/// bytes is replaced by a three-byte one keeping its tables; without one, `73 80 00 XX` is
/// appended (selection by full DF name; no data-coding claims; chaining, and extended length
/// when `extended`).
pub fn with_extended_length(
    historical: &[u8],
    extended: bool,
) -> Result<Vec<u8>, CapabilitiesError> {
    let third_bit = |third: u8| {
        if extended {
            third | CAP_EXTENDED_LENGTH
        } else {
            third & !CAP_EXTENDED_LENGTH
        }
    };
    match find_capabilities(historical)? {
        Some((value, 3)) => {
            let mut out = historical.to_vec();
            out[value + 2] = third_bit(out[value + 2]);
            Ok(out)
        }
        Some((value, len)) => {
            let mut tables = [CAP_SELECT_BY_FULL_NAME, 0x00, CAP_COMMAND_CHAINING];
            tables[..len].copy_from_slice(&historical[value..value + len]);
            tables[2] = third_bit(tables[2]);
            let mut out = historical[..value - 1].to_vec();
            out.push((TAG_CARD_CAPABILITIES << 4) | 3);
            out.extend_from_slice(&tables);
            out.extend_from_slice(&historical[value + len..]);
            if out.len() > MAX_HISTORICAL_BYTES {
                return Err(CapabilitiesError::NoRoom);
            }
            Ok(out)
        }
        None => {
            if historical.len() + 4 > MAX_HISTORICAL_BYTES {
                return Err(CapabilitiesError::NoRoom);
            }
            let mut out = historical.to_vec();
            out.extend_from_slice(&[
                (TAG_CARD_CAPABILITIES << 4) | 3,
                CAP_SELECT_BY_FULL_NAME,
                0x00,
                third_bit(CAP_COMMAND_CHAINING),
            ]);
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_agrees_and_reads_back() {
        let plain = [0x80, 0x56, 0x56, 0x46, 0x49, 0x44, 0x4F, 0x32];
        assert_eq!(declares_extended_length(&plain), None);
        let ext = with_extended_length(&plain, true).expect("room");
        assert_eq!(&ext[8..], &[0x73, 0x80, 0x00, 0xC0]);
        assert_eq!(declares_extended_length(&ext), Some(true));
        let short = with_extended_length(&ext, false).expect("in place");
        assert_eq!(short.len(), ext.len());
        assert_eq!(&short[8..], &[0x73, 0x80, 0x00, 0x80]);
        assert_eq!(declares_extended_length(&short), Some(false));
        assert_eq!(with_extended_length(&short, true).expect("again"), ext);
    }

    #[test]
    fn a_short_object_is_widened_and_other_objects_kept() {
        // 31 80: card service data; 71 80: card capabilities with only the first table.
        let h = [0x80, 0x31, 0x80, 0x71, 0x80, 0x82, 0x90, 0x00];
        let out = with_extended_length(&h, true).expect("room");
        assert_eq!(
            out,
            [0x80, 0x31, 0x80, 0x73, 0x80, 0x00, 0xC0, 0x82, 0x90, 0x00]
        );
    }

    #[test]
    fn refusals() {
        assert_eq!(
            with_extended_length(b"C2300", true),
            Err(CapabilitiesError::NotCompactTlv)
        );
        assert_eq!(declares_extended_length(b"C2300"), None);
        assert_eq!(
            with_extended_length(&[0x80, 0x35, 0x01], true),
            Err(CapabilitiesError::Truncated(1))
        );
        let full = [
            0x80, 0x31, 0x80, 0x65, 0xB0, 0x85, 0x59, 0x56, 0xFB, 0x12, 0x0F, 0xFC, 0x82, 0x90,
            0x00,
        ];
        assert_eq!(
            with_extended_length(&full, false),
            Err(CapabilitiesError::NoRoom)
        );
    }
}
