//! The CBOR CTAP2 speaks (CTAP 2.1 §8 "Message Encoding"): one value tree and one canonical
//! encoder for the card and the host.
//!
//! On the card, requests are decoded in two steps so that every failure gets the exact status code the
//! specification asks for:
//!
//! 1. [`parse`] turns the bytes into a [`Value`] tree with `minicbor`'s decoder. Anything that is
//!    not well-formed CBOR, trailing bytes, indefinite lengths, tags, duplicate map keys, nesting
//!    deeper than [`MAX_DEPTH`] or anything outside the CTAP2 canonical form (long-form heads,
//!    unsorted map keys) is `CTAP2_ERR_INVALID_CBOR`.
//! 2. The command modules read their typed request structs out of the tree with the accessors
//!    here: a present item of the wrong major type is `CTAP2_ERR_CBOR_UNEXPECTED_TYPE`, an absent
//!    required one `CTAP2_ERR_MISSING_PARAMETER`, and unknown map keys are ignored (§8.2 asks
//!    authenticators to ignore keys they do not understand, so newer platforms keep working).
//!
//! Responses are built as [`Value`] trees and written by [`Value::to_vec`] in the CTAP2 canonical
//! form (§8.1): shortest-form heads, definite lengths, map keys sorted by major type, then by
//! encoded length, then bytewise. python-fido2 refuses anything else.
//!
//! A host reads a card's answers with the lenient [`decode`] instead (tags and floats are kept
//! so that a report can show whatever a card sent), checks them with [`check_canonical`] and
//! prints them in diagnostic notation with [`diag`] (see [`host`]).

mod host;

pub use host::{CborError, check_canonical, decode, decode_prefix, diag, diag_bytes};

use std::marker::PhantomData;

use crate::error::{CtapError, CtapResult};
use minicbor::Decoder;
use minicbor::data::Type;

/// Maximum nesting of arrays and maps accepted in a request.
///
/// CTAP 2.1 §8 limits messages to four levels; we accept a little more so that an unusual but
/// harmless extension input is not refused, and bound the recursion so a hostile message cannot
/// exhaust the stack.
pub const MAX_DEPTH: usize = 8;

/// One CBOR data item, as far as CTAP2 uses them.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// Major type 0.
    Unsigned(u64),
    /// Major type 1: the value is `-1 - n`.
    Negative(u64),
    /// Major type 2.
    Bytes(Vec<u8>),
    /// Major type 3 (valid UTF-8).
    Text(String),
    /// Major type 4.
    Array(Vec<Value>),
    /// Major type 5, in the order received (requests) or any order (responses: sorted on output).
    Map(Vec<(Value, Value)>),
    /// Simple values 20 and 21.
    Bool(bool),
    /// Simple value 22.
    Null,
    /// Simple value 23.
    Undefined,
    /// Any other simple value.
    Simple(u8),
    /// A floating-point number. CTAP2 never uses them: the card refuses all but one spelling
    /// (see [`parse`]); a host keeps the value for reports.
    Float(f64),
    /// A tagged item (RFC 8949 §3.4). Outside the CTAP2 canonical form: [`parse`] refuses it,
    /// [`decode`] keeps it for reports.
    Tag(u64, Box<Value>),
}

/// Parses one complete CBOR item; see the module documentation for what is refused.
pub fn parse(bytes: &[u8]) -> CtapResult<Value> {
    let mut d = Decoder::new(bytes);
    let value = parse_item(&mut d, 0)?;
    if d.position() != bytes.len() {
        return Err(CtapError::InvalidCbor);
    }
    // CTAP 2.1 §8: "decoders SHOULD reject CBOR that is not validly encoded in the CTAP2
    // canonical CBOR encoding form". That form is unique for a value tree, so a message is
    // canonical exactly when re-encoding its tree gives back its bytes: long-form heads, unsorted
    // map keys (and floats, which CTAP2 never uses) fail here. Refusing them keeps every reader
    // of a request (pinUvAuthParam is computed over the bytes) agreeing on what it means.
    if value.to_vec() != bytes {
        return Err(CtapError::InvalidCbor);
    }
    Ok(value)
}

/// The items the card's parser and the host's [`decode`] read alike, the next item being of
/// type `ty`: unsigned integers, byte and text strings, booleans, null, undefined and simple
/// values. `None` for the other types, which each parser reads its own way.
pub(crate) fn scalar(
    d: &mut Decoder<'_>,
    ty: Type,
) -> Option<Result<Value, minicbor::decode::Error>> {
    Some(match ty {
        Type::U8 | Type::U16 | Type::U32 | Type::U64 => d.u64().map(Value::Unsigned),
        Type::Bytes => d.bytes().map(|b| Value::Bytes(b.to_vec())),
        Type::String => d.str().map(|s| Value::Text(s.to_owned())),
        Type::Bool => d.bool().map(Value::Bool),
        Type::Null => d.null().map(|()| Value::Null),
        Type::Undefined => d.undefined().map(|()| Value::Undefined),
        Type::Simple => d.simple().map(Value::Simple),
        _ => return None,
    })
}

fn parse_item(d: &mut Decoder<'_>, depth: usize) -> CtapResult<Value> {
    let bad = |_| CtapError::InvalidCbor;
    let value = match d.datatype().map_err(bad)? {
        Type::I8 | Type::I16 | Type::I32 | Type::I64 | Type::Int => {
            let n = i128::from(d.int().map_err(bad)?);
            if n >= 0 {
                Value::Unsigned(u64::try_from(n).map_err(|_| CtapError::InvalidCbor)?)
            } else {
                Value::Negative(u64::try_from(-1 - n).map_err(|_| CtapError::InvalidCbor)?)
            }
        }
        ty @ (Type::F16 | Type::F32 | Type::F64) => {
            // CTAP2 never uses floats. The canonical form of a NaN is the half-precision
            // `F9 7E00` and that one spelling has always parsed (to a value of the wrong type for
            // every parameter); any other float is refused as not canonical, as before.
            let f = float(d, ty).map_err(bad)?;
            if !f.is_nan() {
                return Err(CtapError::InvalidCbor);
            }
            Value::Float(f)
        }
        Type::Array => {
            let len = d.array().map_err(bad)?.ok_or(CtapError::InvalidCbor)?;
            let depth = nested(depth)?;
            let mut items = Vec::new();
            for _ in 0..len {
                items.push(parse_item(d, depth)?);
            }
            Value::Array(items)
        }
        Type::Map => {
            let len = d.map().map_err(bad)?.ok_or(CtapError::InvalidCbor)?;
            let depth = nested(depth)?;
            let mut entries = Vec::new();
            let mut keys = Vec::new();
            for _ in 0..len {
                let key = parse_item(d, depth)?;
                // The key's canonical encoding: `07` and its long form `18 07` are one key.
                keys.push(key.to_vec());
                let value = parse_item(d, depth)?;
                entries.push((key, value));
            }
            // Duplicate keys make a map invalid (RFC 8949 §5.6, CTAP 2.1 §8.1), however they are
            // spelled: comparing the received bytes would let a long-form duplicate through, and
            // the first of the two would win here while another parser might take the second.
            keys.sort_unstable();
            if keys.windows(2).any(|w| matches!(w, [a, b] if a == b)) {
                return Err(CtapError::InvalidCbor);
            }
            Value::Map(entries)
        }
        // Indefinite lengths and tags are outside the CTAP2 canonical form (§8.1).
        Type::BytesIndef
        | Type::StringIndef
        | Type::ArrayIndef
        | Type::MapIndef
        | Type::Tag
        | Type::Break
        | Type::Unknown(_) => return Err(CtapError::InvalidCbor),
        // Unsigned integers, strings, booleans, null, undefined, simple values.
        other => scalar(d, other)
            .ok_or(CtapError::InvalidCbor)?
            .map_err(bad)?,
    };
    Ok(value)
}

/// The value of IEEE 754 binary16 `bits`.
fn f16_to_f64(bits: u16) -> f64 {
    let sign = if bits & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((bits >> 10) & 0x1F);
    let mant = f64::from(bits & 0x03FF);
    sign * match exp {
        0 => mant * 2f64.powi(-24),
        0x1F if mant == 0.0 => f64::INFINITY,
        0x1F => f64::NAN,
        _ => (1.0 + mant / 1024.0) * 2f64.powi(exp - 15),
    }
}

/// A float of any width (minicbor reads each width with its own call).
pub(crate) fn float(d: &mut Decoder<'_>, ty: Type) -> Result<f64, minicbor::decode::Error> {
    match ty {
        Type::F16 => {
            // Read by hand: minicbor decodes half floats only with its `half` feature.
            let at = d.position();
            let bits = d
                .input()
                .get(at + 1..at + 3)
                .map(|b| u16::from_be_bytes([b[0], b[1]]))
                .ok_or_else(minicbor::decode::Error::end_of_input)?;
            d.set_position(at + 3);
            Ok(f16_to_f64(bits))
        }
        Type::F32 => d.f32().map(f64::from),
        _ => d.f64(),
    }
}

fn nested(depth: usize) -> CtapResult<usize> {
    let depth = depth + 1;
    if depth > MAX_DEPTH {
        return Err(CtapError::InvalidCbor);
    }
    Ok(depth)
}

// --- Typed access ------------------------------------------------------------------------------

impl Value {
    /// A text value.
    pub fn text(s: impl Into<String>) -> Self {
        Value::Text(s.into())
    }

    /// A byte-string value.
    pub fn bytes(b: impl Into<Vec<u8>>) -> Self {
        Value::Bytes(b.into())
    }

    /// An integer value (major type 0 or 1).
    pub fn int(n: i64) -> Self {
        if n >= 0 {
            Value::Unsigned(n.unsigned_abs())
        } else {
            // -1 - n for n < 0 is in 0..=i64::MAX.
            Value::Negative((n + 1).unsigned_abs())
        }
    }

    /// The byte string, or `CTAP2_ERR_CBOR_UNEXPECTED_TYPE`.
    pub fn as_bytes(&self) -> CtapResult<&[u8]> {
        match self {
            Value::Bytes(b) => Ok(b),
            _ => Err(CtapError::CborUnexpectedType),
        }
    }

    /// The text string, or `CTAP2_ERR_CBOR_UNEXPECTED_TYPE`.
    pub fn as_text(&self) -> CtapResult<&str> {
        match self {
            Value::Text(s) => Ok(s),
            _ => Err(CtapError::CborUnexpectedType),
        }
    }

    /// The boolean, or `CTAP2_ERR_CBOR_UNEXPECTED_TYPE`.
    pub fn as_bool(&self) -> CtapResult<bool> {
        match self {
            Value::Bool(b) => Ok(*b),
            _ => Err(CtapError::CborUnexpectedType),
        }
    }

    /// The unsigned integer, or `CTAP2_ERR_CBOR_UNEXPECTED_TYPE` (negative numbers included).
    pub fn as_unsigned(&self) -> CtapResult<u64> {
        match self {
            Value::Unsigned(n) => Ok(*n),
            _ => Err(CtapError::CborUnexpectedType),
        }
    }

    /// The integer (major type 0 or 1) as `i128`, or `CTAP2_ERR_CBOR_UNEXPECTED_TYPE`.
    pub fn as_int(&self) -> CtapResult<i128> {
        match self {
            Value::Unsigned(n) => Ok(i128::from(*n)),
            Value::Negative(n) => Ok(-1 - i128::from(*n)),
            _ => Err(CtapError::CborUnexpectedType),
        }
    }

    /// The array items, or `CTAP2_ERR_CBOR_UNEXPECTED_TYPE`.
    pub fn as_array(&self) -> CtapResult<&[Value]> {
        match self {
            Value::Array(items) => Ok(items),
            _ => Err(CtapError::CborUnexpectedType),
        }
    }

    /// The map entries, or `CTAP2_ERR_CBOR_UNEXPECTED_TYPE`.
    pub fn as_map(&self) -> CtapResult<&[(Value, Value)]> {
        match self {
            Value::Map(entries) => Ok(entries),
            _ => Err(CtapError::CborUnexpectedType),
        }
    }

    /// A map with unsigned integer keys (a CTAP parameter map, §6), from `(key, value)` pairs.
    pub fn int_map(entries: impl IntoIterator<Item = (u64, Value)>) -> Self {
        Value::Map(
            entries
                .into_iter()
                .map(|(k, v)| (Value::Unsigned(k), v))
                .collect(),
        )
    }

    /// A map with text keys (options, extensions, WebAuthn dictionaries).
    pub fn text_map<'k>(entries: impl IntoIterator<Item = (&'k str, Value)>) -> Self {
        Value::Map(
            entries
                .into_iter()
                .map(|(k, v)| (Value::text(k), v))
                .collect(),
        )
    }

    /// The value under integer key `key` of a map; `None` when absent or not a map.
    pub fn get_int(&self, key: i128) -> Option<&Value> {
        let Value::Map(entries) = self else {
            return None;
        };
        entries
            .iter()
            .find(|(k, _)| k.as_int().ok() == Some(key))
            .map(|(_, v)| v)
    }

    /// The value under text key `key` of a map; `None` when absent or not a map.
    pub fn get_text(&self, key: &str) -> Option<&Value> {
        let Value::Map(entries) = self else {
            return None;
        };
        entries
            .iter()
            .find(|(k, _)| matches!(k, Value::Text(t) if t == key))
            .map(|(_, v)| v)
    }
}

/// The key type of a [`KeyedMap`]: `u64` for the CTAP2 parameter maps, `str` for the WebAuthn
/// dictionaries.
pub trait MapKey {
    /// What a look-up names the key with.
    type Arg<'k>: Copy;

    /// Whether the map key `key` is `arg`; keys of other CBOR types never are.
    fn is(key: &Value, arg: Self::Arg<'_>) -> bool;
}

impl MapKey for u64 {
    type Arg<'k> = u64;

    fn is(key: &Value, arg: u64) -> bool {
        *key == Value::Unsigned(arg)
    }
}

impl MapKey for str {
    type Arg<'k> = &'k str;

    fn is(key: &Value, arg: &str) -> bool {
        matches!(key, Value::Text(t) if t == arg)
    }
}

/// A CBOR map read member by member: [`IntMap`] or [`TextMap`].
pub struct KeyedMap<'a, K: ?Sized> {
    entries: &'a [(Value, Value)],
    key: PhantomData<fn(&K)>,
}

impl<'a, K: MapKey + ?Sized> KeyedMap<'a, K> {
    /// Reads a request or a dictionary; anything but a map has the wrong type.
    pub fn new(value: &'a Value) -> CtapResult<Self> {
        Ok(Self {
            entries: value.as_map()?,
            key: PhantomData,
        })
    }

    /// The value under `key`, if present. Keys of other types are ignored.
    pub fn get(&self, key: K::Arg<'_>) -> Option<&'a Value> {
        self.entries
            .iter()
            .find(|(k, _)| K::is(k, key))
            .map(|(_, v)| v)
    }

    /// A required parameter or member: CTAP2_ERR_MISSING_PARAMETER when absent.
    pub fn required(&self, key: K::Arg<'_>) -> CtapResult<&'a Value> {
        self.get(key).ok_or(CtapError::MissingParameter)
    }
}

/// A request map keyed by small unsigned integers (the CTAP2 command parameter maps, §6).
pub type IntMap<'a> = KeyedMap<'a, u64>;

/// A map keyed by text strings (the WebAuthn dictionaries: rp, user, options, descriptors).
pub type TextMap<'a> = KeyedMap<'a, str>;

impl<'a> IntMap<'a> {
    /// Parses a command's parameters (CTAP2 canonical CBOR, §8.1) as a map (§6) and reads them
    /// with `read`: malformed CBOR and anything but a map fail before any parameter is read.
    pub fn parse_with<T>(
        params: &[u8],
        read: impl FnOnce(&IntMap<'_>) -> CtapResult<T>,
    ) -> CtapResult<T> {
        let value = parse(params)?;
        read(&IntMap::new(&value)?)
    }

    /// An optional unsigned parameter (pinUvAuthProtocol, subCommand, permissions...). Here and
    /// in the `opt_` readers below a present value of another type is
    /// CTAP2_ERR_CBOR_UNEXPECTED_TYPE.
    pub fn opt_unsigned(&self, key: u64) -> CtapResult<Option<u64>> {
        self.get(key).map(Value::as_unsigned).transpose()
    }

    /// An optional boolean parameter.
    pub fn opt_bool(&self, key: u64) -> CtapResult<Option<bool>> {
        self.get(key).map(Value::as_bool).transpose()
    }

    /// An optional byte-string parameter (pinUvAuthParam, encrypted PINs, salts...).
    pub fn opt_bytes(&self, key: u64) -> CtapResult<Option<Vec<u8>>> {
        self.get(key)
            .map(|v| v.as_bytes().map(<[u8]>::to_vec))
            .transpose()
    }

    /// An optional text parameter (an RP ID).
    pub fn opt_text(&self, key: u64) -> CtapResult<Option<String>> {
        self.get(key)
            .map(|v| v.as_text().map(str::to_owned))
            .transpose()
    }

    /// An optional array of text strings (RP IDs, attestation formats); the first item of another
    /// type fails.
    pub fn opt_text_list(&self, key: u64) -> CtapResult<Option<Vec<String>>> {
        self.get(key)
            .map(|v| {
                v.as_array()?
                    .iter()
                    .map(|item| item.as_text().map(str::to_owned))
                    .collect()
            })
            .transpose()
    }
}

impl<'a> TextMap<'a> {
    /// An optional text member (wrong type refused).
    pub fn opt_text(&self, key: &str) -> CtapResult<Option<&'a str>> {
        self.get(key).map(Value::as_text).transpose()
    }

    /// All entries, for option maps whose unknown keys are skipped.
    pub fn entries(&self) -> &'a [(Value, Value)] {
        self.entries
    }
}

// --- Canonical encoding ------------------------------------------------------------------------

impl Value {
    /// Encodes in the CTAP2 canonical CBOR form (CTAP 2.1 §8.1).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }

    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Value::Unsigned(n) => head(out, 0, *n),
            Value::Negative(n) => head(out, 1, *n),
            Value::Bytes(b) => {
                head(out, 2, b.len() as u64);
                out.extend_from_slice(b);
            }
            Value::Text(s) => {
                head(out, 3, s.len() as u64);
                out.extend_from_slice(s.as_bytes());
            }
            Value::Array(items) => {
                head(out, 4, items.len() as u64);
                for item in items {
                    item.encode(out);
                }
            }
            Value::Map(entries) => {
                let mut encoded: Vec<(Vec<u8>, Vec<u8>)> = entries
                    .iter()
                    .map(|(k, v)| (k.to_vec(), v.to_vec()))
                    .collect();
                encoded.sort_by(|(a, _), (b, _)| canonical_key_order(a, b));
                head(out, 5, encoded.len() as u64);
                for (k, v) in encoded {
                    out.extend_from_slice(&k);
                    out.extend_from_slice(&v);
                }
            }
            Value::Bool(false) => out.push(0xF4),
            Value::Bool(true) => out.push(0xF5),
            Value::Null => out.push(0xF6),
            Value::Undefined => out.push(0xF7),
            Value::Simple(n) if *n < 24 => out.push(0xE0 | n),
            Value::Simple(n) => out.extend_from_slice(&[0xF8, *n]),
            Value::Float(f) => encode_float(out, *f),
            Value::Tag(tag, inner) => {
                head(out, 6, *tag);
                inner.encode(out);
            }
        }
    }
}

/// A float in its shortest exact form (RFC 8949 §4.2.1 preferred serialization); every NaN as
/// the half-precision `F9 7E00`. The card never sends floats; this keeps the encoder total and
/// lets a host re-encode an answer to check it.
fn encode_float(out: &mut Vec<u8>, f: f64) {
    if f.is_nan() {
        out.extend_from_slice(&[0xF9, 0x7E, 0x00]);
        return;
    }
    let single = f as f32;
    if f64::from(single) == f {
        if let Some(half) = f32_to_f16_exact(single) {
            out.push(0xF9);
            out.extend_from_slice(&half.to_be_bytes());
        } else {
            out.push(0xFA);
            out.extend_from_slice(&single.to_bits().to_be_bytes());
        }
    } else {
        out.push(0xFB);
        out.extend_from_slice(&f.to_bits().to_be_bytes());
    }
}

/// The IEEE 754 binary16 bits of `f` when `f` is exactly representable in half precision.
fn f32_to_f16_exact(f: f32) -> Option<u16> {
    let bits = f.to_bits();
    let sign = ((bits >> 16) & 0x8000) as u16;
    let exp = ((bits >> 23) & 0xFF) as i32;
    let mant = bits & 0x007F_FFFF;
    if exp == 0xFF {
        // Infinity (NaN was handled by the caller).
        return (mant == 0).then_some(sign | 0x7C00);
    }
    if exp == 0 && mant == 0 {
        return Some(sign);
    }
    let e = exp - 127;
    if (-14..=15).contains(&e) {
        // Normal half: 10 mantissa bits.
        if mant & 0x1FFF != 0 {
            return None;
        }
        return Some(sign | (((e + 15) as u16) << 10) | (mant >> 13) as u16);
    }
    if (-24..-14).contains(&e) && exp != 0 {
        // Subnormal half: value = m * 2^-24 with m < 1024.
        let full = mant | 0x0080_0000; // implicit bit, value = full * 2^(e-23)
        let shift = (-14 - e) + 13; // bits dropped to reach units of 2^-24
        if full & ((1 << shift) - 1) != 0 {
            return None;
        }
        return Some(sign | (full >> shift) as u16);
    }
    None
}

/// CTAP2 canonical key order (§8.1): lower major type first, then shorter encoding, then
/// bytewise. The major type is the top three bits of the first byte.
fn canonical_key_order(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    let major = |k: &[u8]| k.first().map(|b| b >> 5);
    major(a)
        .cmp(&major(b))
        .then(a.len().cmp(&b.len()))
        .then_with(|| a.cmp(b))
}

/// Writes a CBOR head in its shortest form (RFC 8949 §4.2.1).
fn head(out: &mut Vec<u8>, major: u8, n: u64) {
    let mt = major << 5;
    if n < 24 {
        out.push(mt | n as u8);
    } else if let Ok(n) = u8::try_from(n) {
        out.extend_from_slice(&[mt | 24, n]);
    } else if let Ok(n) = u16::try_from(n) {
        out.push(mt | 25);
        out.extend_from_slice(&n.to_be_bytes());
    } else if let Ok(n) = u32::try_from(n) {
        out.push(mt | 26);
        out.extend_from_slice(&n.to_be_bytes());
    } else {
        out.push(mt | 27);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn shortest_heads() {
        assert_eq!(Value::int(0).to_vec(), hex("00"));
        assert_eq!(Value::int(23).to_vec(), hex("17"));
        assert_eq!(Value::int(24).to_vec(), hex("1818"));
        assert_eq!(Value::int(256).to_vec(), hex("190100"));
        assert_eq!(Value::int(65536).to_vec(), hex("1A00010000"));
        assert_eq!(Value::int(1 << 32).to_vec(), hex("1B0000000100000000"));
        assert_eq!(Value::int(-1).to_vec(), hex("20"));
        assert_eq!(Value::int(-7).to_vec(), hex("26"));
        assert_eq!(Value::int(-25).to_vec(), hex("3818"));
        assert_eq!(Value::int(i64::MIN).to_vec(), hex("3B7FFFFFFFFFFFFFFF"));
    }

    #[test]
    fn map_keys_come_out_in_ctap2_canonical_order() {
        let options = Value::Map(vec![
            (Value::text("plat"), Value::Bool(false)),
            (Value::text("up"), Value::Bool(true)),
            (Value::text("rk"), Value::Bool(true)),
        ]);
        // {"rk": true, "up": true, "plat": false}
        assert_eq!(
            options.to_vec(),
            hex("A3 62726B F5 627570 F5 64706C6174 F4")
        );
        let mixed = Value::Map(vec![
            (Value::text("a"), Value::Null),
            (Value::int(-1), Value::Null),
            (Value::int(24), Value::Null),
            (Value::int(3), Value::Null),
        ]);
        assert_eq!(mixed.to_vec(), hex("A4 03F6 1818F6 20F6 6161F6"));
    }

    #[test]
    fn parse_round_trips_canonical_input() {
        let v = Value::Map(vec![
            (Value::int(1), Value::bytes(vec![1, 2, 3])),
            (
                Value::int(2),
                Value::Array(vec![Value::int(-7), Value::text("x")]),
            ),
        ]);
        assert_eq!(parse(&v.to_vec()).unwrap(), v);
    }

    #[test]
    fn malformed_input_is_invalid_cbor() {
        for bad in [
            "",            // nothing
            "A1",          // map missing its entry
            "A1010203",    // trailing byte
            "5F4101FF",    // indefinite byte string
            "BF0101FF",    // indefinite map
            "C24101",      // tag
            "A2010101 02", // duplicate key
            "FF",          // lone break
            "62FFFE",      // invalid UTF-8
            "1C",          // reserved additional info
        ] {
            assert_eq!(parse(&hex(bad)), Err(CtapError::InvalidCbor), "{bad}");
        }
    }

    #[test]
    fn non_canonical_spellings_are_refused() {
        // {1: 2, 3: 4} in canonical form, then with a long-form key, a long-form map head,
        // unsorted keys; an empty byte string with a long-form length; a float.
        assert!(parse(&hex("A201020304")).is_ok());
        for bad in [
            "A21801020304",
            "B8020102 0304",
            "A203040102",
            "5800",
            "FA3F800000",
        ] {
            assert_eq!(parse(&hex(bad)), Err(CtapError::InvalidCbor), "{bad}");
        }
    }

    #[test]
    fn floats_parse_only_as_the_canonical_nan() {
        assert!(matches!(parse(&hex("F97E00")), Ok(Value::Float(f)) if f.is_nan()));
        for bad in ["F93C00", "F97E01", "FB7FF8000000000000", "FA7FC00000"] {
            assert_eq!(parse(&hex(bad)), Err(CtapError::InvalidCbor), "{bad}");
        }
    }

    #[test]
    fn floats_encode_in_their_shortest_exact_form() {
        assert_eq!(Value::Float(1.0).to_vec(), hex("F93C00"));
        assert_eq!(Value::Float(-2.5).to_vec(), hex("F9C100"));
        assert_eq!(Value::Float(5.960464477539063e-8).to_vec(), hex("F90001"));
        assert_eq!(Value::Float(f64::INFINITY).to_vec(), hex("F97C00"));
        assert_eq!(Value::Float(100000.0).to_vec(), hex("FA47C35000"));
        assert_eq!(Value::Float(1.1).to_vec(), hex("FB3FF199999999999A"));
        assert_eq!(Value::Float(f64::NAN).to_vec(), hex("F97E00"));
    }

    #[test]
    fn deep_nesting_is_refused() {
        let mut bytes = vec![0x81; MAX_DEPTH];
        bytes.push(0x00);
        assert!(parse(&bytes).is_ok());
        let mut bytes = vec![0x81; MAX_DEPTH + 1];
        bytes.push(0x00);
        assert_eq!(parse(&bytes), Err(CtapError::InvalidCbor));
    }

    #[test]
    fn huge_claimed_lengths_fail_without_allocating() {
        assert_eq!(
            parse(&hex("9BFFFFFFFFFFFFFFFF")),
            Err(CtapError::InvalidCbor)
        );
        assert_eq!(
            parse(&hex("5BFFFFFFFFFFFFFFFF")),
            Err(CtapError::InvalidCbor)
        );
    }

    #[test]
    fn typed_access() {
        let v = parse(&hex("A2 01 41AA 02 63616263")).unwrap();
        let m = IntMap::new(&v).unwrap();
        assert_eq!(m.required(1).unwrap().as_bytes().unwrap(), &[0xAA]);
        assert_eq!(
            m.required(2).unwrap().as_bytes(),
            Err(CtapError::CborUnexpectedType)
        );
        assert_eq!(m.required(3).err(), Some(CtapError::MissingParameter));
        assert!(IntMap::new(&Value::int(1)).is_err());
        assert_eq!(Value::int(-7).as_int().unwrap(), -7);
    }
}
