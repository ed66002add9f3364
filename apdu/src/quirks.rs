//! Card quirks: the ways real cards' ISO 7816-4 interfaces differ that break hosts, as typed
//! data the runtime ([`crate::Card`]) follows. A card profile (and a persona overlaid on it)
//! fills them in through [`crate::CardConfig::quirks`]; the interface limits themselves
//! (extended length, buffer size, response chunk) are [`crate::CardConfig`]'s other fields.
//!
//! Every quirk here is behaviour ISO/IEC 7816-4 allows a card; the default is this project's
//! card, which is as lenient as the standard lets it be.

/// What the card does when a short command's Le asks for fewer bytes than its answer has.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum WrongLe {
    /// Send the first Ne bytes and announce the rest with 61XX (ISO/IEC 7816-4 §5.3.4,
    /// response chaining), so the host fetches it with GET RESPONSE.
    #[default]
    Chain,
    /// Answer 6CXX, XX the exact number of bytes available, and send nothing (ISO/IEC 7816-4
    /// §5.6, "wrong Le field; SW2 encodes the exact number of available data bytes"), as T=0
    /// cards do: the host sends the same command again with Le = XX (§5.1.3, the T=0 case 2
    /// procedure of ISO/IEC 7816-3 §12.2.2). The card keeps the answer for that repetition and
    /// does not run the command twice. Only for answers of at most 256 bytes (6CXX cannot
    /// count more); longer ones are still chained with 61XX.
    Correct,
}

/// Which class bytes GET RESPONSE (INS C0) is accepted with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum GetResponseCla {
    /// CLA 00 (interindustry, ISO/IEC 7816-4 §7.6.1) and 80 (proprietary: Windows and libfido2
    /// send it after a CTAP command with CLA 80).
    #[default]
    Any,
    /// CLA 00 only: GET RESPONSE with CLA 80 is answered 6E00 ("class not supported",
    /// ISO/IEC 7816-4 §5.6), which GET RESPONSE is defined with an interindustry class. The
    /// unsent rest of the answer stays for a GET RESPONSE with CLA 00.
    InterindustryOnly,
}

/// The quirks of one card's ISO 7816-4 interface.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Quirks {
    /// Short command with a too small Le.
    pub wrong_le: WrongLe,
    /// GET RESPONSE's accepted class bytes.
    pub get_response_cla: GetResponseCla,
    /// A fixed time every command takes before its answer, in milliseconds. The runtime is
    /// sans-IO and does not wait itself: whoever carries the card's bytes (the reader bridge)
    /// waits this long before each answer.
    pub processing_delay_ms: u32,
}

/// The most `processing_delay_ms` may be: more would stall hosts for longer than any real card.
pub const MAX_PROCESSING_DELAY_MS: u32 = 60_000;
