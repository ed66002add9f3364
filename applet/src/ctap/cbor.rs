//! The CBOR subset CTAP2 speaks (CTAP 2.1 §8 "Message Encoding"): the strict canonical decoder
//! and the canonical encoder live in [`ctap_types::cbor`], shared with the host side; see there
//! for which input gets which status code.

pub use ctap_types::cbor::*;
