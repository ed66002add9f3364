//! CBOR as a host sees it: a value tree decoded from a card's answer (never panicking on card
//! input), the CTAP2 canonical encoding of requests (CTAP 2.1 §8 "Message Encoding"), a check that
//! an answer *is* canonical (python-fido2 rejects answers that are not), and RFC 8949 §8
//! diagnostic notation for reports.
//!
//! Decoding and encoding go through `minicbor`'s token-level `Decoder` / `Encoder`; the tree is
//! ours so that reports can print any answer, including maps with unexpected keys.

use std::fmt::{self, Write as _};

/// A decoded CBOR data item.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Unsigned(u64),
    /// A negative integer, -1 - n for n in 0..2^64.
    Negative(i128),
    Bytes(Vec<u8>),
    Text(String),
    Array(Vec<Value>),
    /// Entries in the order they were decoded (or are to be encoded: [`encode`] sorts them).
    Map(Vec<(Value, Value)>),
    Bool(bool),
    Null,
    Undefined,
    Simple(u8),
    Float(f64),
    Tag(u64, Box<Value>),
}

/// Why bytes are not a CBOR data item this decoder accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CborError {
    #[error("malformed CBOR at byte {position}: {reason}")]
    Malformed { position: usize, reason: String },
    #[error("CBOR nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("indefinite-length CBOR item at byte {0} (CTAP2 canonical CBOR forbids it)")]
    Indefinite(usize),
    #[error("{0} bytes after the CBOR data item")]
    TrailingBytes(usize),
}

/// CTAP 2.1 §8: messages nest at most four levels; allow some slack for vendor extensions.
pub const MAX_DEPTH: usize = 16;

impl Value {
    pub fn text(s: &str) -> Value {
        Value::Text(s.to_owned())
    }

    pub fn bytes(b: &[u8]) -> Value {
        Value::Bytes(b.to_vec())
    }

    /// A map from `(key, value)` pairs with unsigned integer keys (CTAP parameter maps).
    pub fn int_map(entries: Vec<(u64, Value)>) -> Value {
        Value::Map(
            entries
                .into_iter()
                .map(|(k, v)| (Value::Unsigned(k), v))
                .collect(),
        )
    }

    /// A map with text keys (options, extensions, entities).
    pub fn text_map(entries: Vec<(&str, Value)>) -> Value {
        Value::Map(
            entries
                .into_iter()
                .map(|(k, v)| (Value::text(k), v))
                .collect(),
        )
    }

    /// The value under an integer key of a map.
    pub fn get_int(&self, key: i128) -> Option<&Value> {
        let Value::Map(entries) = self else {
            return None;
        };
        entries
            .iter()
            .find(|(k, _)| k.as_int() == Some(key))
            .map(|(_, v)| v)
    }

    /// The value under a text key of a map.
    pub fn get_text(&self, key: &str) -> Option<&Value> {
        let Value::Map(entries) = self else {
            return None;
        };
        entries
            .iter()
            .find(|(k, _)| k.as_text() == Some(key))
            .map(|(_, v)| v)
    }

    pub fn as_int(&self) -> Option<i128> {
        match self {
            Value::Unsigned(n) => Some(i128::from(*n)),
            Value::Negative(n) => Some(*n),
            _ => None,
        }
    }

    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Unsigned(n) => Some(*n),
            _ => None,
        }
    }

    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }

    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Text(t) => Some(t),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[(Value, Value)]> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }
}

fn malformed(position: usize, reason: impl fmt::Display) -> CborError {
    CborError::Malformed {
        position,
        reason: reason.to_string(),
    }
}

/// Decodes exactly one data item filling `bytes`.
pub fn decode(bytes: &[u8]) -> Result<Value, CborError> {
    let (value, used) = decode_prefix(bytes)?;
    if used != bytes.len() {
        return Err(CborError::TrailingBytes(bytes.len() - used));
    }
    Ok(value)
}

/// Decodes the data item at the start of `bytes`; returns it and how many bytes it took (the
/// credential public key inside authenticator data is followed by more data).
pub fn decode_prefix(bytes: &[u8]) -> Result<(Value, usize), CborError> {
    let mut d = minicbor::Decoder::new(bytes);
    let value = item(&mut d, 0)?;
    Ok((value, d.position()))
}

fn item(d: &mut minicbor::Decoder<'_>, depth: usize) -> Result<Value, CborError> {
    use minicbor::data::Type;
    if depth > MAX_DEPTH {
        return Err(CborError::TooDeep);
    }
    let at = d.position();
    let err = |e: minicbor::decode::Error| malformed(at, e);
    let ty = d.datatype().map_err(err)?;
    Ok(match ty {
        Type::U8 | Type::U16 | Type::U32 | Type::U64 => Value::Unsigned(d.u64().map_err(err)?),
        Type::I8 | Type::I16 | Type::I32 | Type::I64 | Type::Int => {
            let n = i128::from(d.int().map_err(err)?);
            match u64::try_from(n) {
                Ok(u) => Value::Unsigned(u),
                Err(_) => Value::Negative(n),
            }
        }
        Type::Bytes => Value::Bytes(d.bytes().map_err(err)?.to_vec()),
        Type::String => Value::Text(d.str().map_err(err)?.to_owned()),
        Type::Bool => Value::Bool(d.bool().map_err(err)?),
        Type::Null => {
            d.null().map_err(err)?;
            Value::Null
        }
        Type::Undefined => {
            d.undefined().map_err(err)?;
            Value::Undefined
        }
        Type::Simple => Value::Simple(d.simple().map_err(err)?),
        Type::F16 | Type::F32 | Type::F64 => Value::Float(d.f64().map_err(err)?),
        Type::Tag => {
            let tag = d.tag().map_err(err)?;
            Value::Tag(tag.as_u64(), Box::new(item(d, depth + 1)?))
        }
        Type::Array => {
            let len = d.array().map_err(err)?.ok_or(CborError::Indefinite(at))?;
            let mut out = Vec::new();
            for _ in 0..len {
                out.push(item(d, depth + 1)?);
            }
            Value::Array(out)
        }
        Type::Map => {
            let len = d.map().map_err(err)?.ok_or(CborError::Indefinite(at))?;
            let mut out = Vec::new();
            for _ in 0..len {
                let k = item(d, depth + 1)?;
                let v = item(d, depth + 1)?;
                out.push((k, v));
            }
            Value::Map(out)
        }
        Type::BytesIndef | Type::StringIndef | Type::ArrayIndef | Type::MapIndef => {
            return Err(CborError::Indefinite(at));
        }
        other => return Err(malformed(at, format!("unexpected {other}"))),
    })
}

/// The CTAP2 canonical encoding (CTAP 2.1 §8): shortest integer and length forms, definite
/// lengths, map keys sorted by their encodings' length, then bytewise.
pub fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write(&mut out, value);
    out
}

fn write(out: &mut Vec<u8>, value: &Value) {
    let mut e = minicbor::Encoder::new(&mut *out);
    // Writing into a Vec<u8> cannot fail (its writer error is Infallible), so results are
    // discarded with `let _`.
    match value {
        Value::Unsigned(n) => {
            let _ = e.u64(*n);
        }
        Value::Negative(n) => {
            if let Ok(int) = minicbor::data::Int::try_from(*n) {
                let _ = e.int(int);
            }
        }
        Value::Bytes(b) => {
            let _ = e.bytes(b);
        }
        Value::Text(t) => {
            let _ = e.str(t);
        }
        Value::Bool(b) => {
            let _ = e.bool(*b);
        }
        Value::Null => {
            let _ = e.null();
        }
        Value::Undefined => {
            let _ = e.undefined();
        }
        Value::Simple(s) => {
            let _ = e.simple(*s);
        }
        Value::Float(f) => {
            let _ = e.f64(*f);
        }
        Value::Tag(t, inner) => {
            let _ = e.tag(minicbor::data::Tag::new(*t));
            write(out, inner);
        }
        Value::Array(items) => {
            let _ = e.array(items.len() as u64);
            for i in items {
                write(out, i);
            }
        }
        Value::Map(entries) => {
            let _ = e.map(entries.len() as u64);
            let mut encoded: Vec<(Vec<u8>, Vec<u8>)> = entries
                .iter()
                .map(|(k, v)| (encode(k), encode(v)))
                .collect();
            encoded.sort_by(|(a, _), (b, _)| a.len().cmp(&b.len()).then_with(|| a.cmp(b)));
            for (k, v) in encoded {
                out.extend_from_slice(&k);
                out.extend_from_slice(&v);
            }
        }
    }
}

/// Whether `bytes` is the CTAP2 canonical encoding of the value it decodes to. `Err` names the
/// first problem (undecodable, or which rule it breaks as far as a re-encoding shows).
pub fn check_canonical(bytes: &[u8]) -> Result<(), String> {
    let value = decode(bytes).map_err(|e| e.to_string())?;
    let again = encode(&value);
    if again == bytes {
        return Ok(());
    }
    let at = again
        .iter()
        .zip(bytes)
        .position(|(a, b)| a != b)
        .unwrap_or(again.len().min(bytes.len()));
    Err(format!(
        "not CTAP2 canonical CBOR (CTAP 2.1 §8): differs from the canonical re-encoding at byte \
         {at} (map keys out of order or a longer-than-needed length)"
    ))
}

/// RFC 8949 §8 diagnostic notation, on one line.
pub fn diag(value: &Value) -> String {
    let mut s = String::new();
    diag_into(&mut s, value);
    s
}

fn diag_into(s: &mut String, value: &Value) {
    match value {
        Value::Unsigned(n) => {
            let _ = write!(s, "{n}");
        }
        Value::Negative(n) => {
            let _ = write!(s, "{n}");
        }
        Value::Bytes(b) => {
            let _ = write!(s, "h'{}'", apdu::hex_encode(b).to_ascii_lowercase());
        }
        Value::Text(t) => {
            let _ = write!(s, "{t:?}");
        }
        Value::Bool(b) => {
            let _ = write!(s, "{b}");
        }
        Value::Null => s.push_str("null"),
        Value::Undefined => s.push_str("undefined"),
        Value::Simple(v) => {
            let _ = write!(s, "simple({v})");
        }
        Value::Float(f) => {
            let _ = write!(s, "{f:?}");
        }
        Value::Tag(t, inner) => {
            let _ = write!(s, "{t}(");
            diag_into(s, inner);
            s.push(')');
        }
        Value::Array(items) => {
            s.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    s.push_str(", ");
                }
                diag_into(s, item);
            }
            s.push(']');
        }
        Value::Map(entries) => {
            s.push('{');
            for (i, (k, v)) in entries.iter().enumerate() {
                if i > 0 {
                    s.push_str(", ");
                }
                diag_into(s, k);
                s.push_str(": ");
                diag_into(s, v);
            }
            s.push('}');
        }
    }
}

/// Diagnostic notation of arbitrary bytes: the CBOR item, or the hex and why it is not CBOR.
pub fn diag_bytes(bytes: &[u8]) -> String {
    match decode(bytes) {
        Ok(v) => diag(&v),
        Err(e) => format!("h'{}' ({e})", apdu::hex_encode(bytes).to_ascii_lowercase()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_diagnostic() {
        let v = Value::int_map(vec![
            (1, Value::Array(vec![Value::text("FIDO_2_0")])),
            (3, Value::bytes(&[0xf4, 0x80])),
            (
                4,
                Value::text_map(vec![("rk", Value::Bool(true)), ("up", Value::Bool(false))]),
            ),
            (5, Value::Negative(-7)),
        ]);
        let bytes = encode(&v);
        assert_eq!(decode(&bytes).expect("decodes"), v);
        assert_eq!(
            diag(&v),
            r#"{1: ["FIDO_2_0"], 3: h'f480', 4: {"rk": true, "up": false}, 5: -7}"#
        );
        assert!(check_canonical(&bytes).is_ok());
    }

    #[test]
    fn encoding_sorts_map_keys_canonically() {
        // CTAP2 canonical order: 1 < -1 (0x01 < 0x20), "up" < "uv" < "rk1" (length first).
        let v = Value::Map(vec![
            (Value::text("rk1"), Value::Null),
            (Value::text("uv"), Value::Null),
            (Value::text("up"), Value::Null),
            (Value::Negative(-1), Value::Null),
            (Value::Unsigned(1), Value::Null),
        ]);
        let bytes = encode(&v);
        let back = decode(&bytes).expect("decodes");
        let keys: Vec<String> = back
            .as_map()
            .expect("map")
            .iter()
            .map(|(k, _)| diag(k))
            .collect();
        assert_eq!(keys, vec!["1", "-1", "\"up\"", "\"uv\"", "\"rk1\""]);
    }

    #[test]
    fn non_canonical_input_is_detected() {
        // {2: 0, 1: 0}: keys out of order.
        assert!(check_canonical(&[0xA2, 0x02, 0x00, 0x01, 0x00]).is_err());
        // 1 encoded in two bytes (0x18 0x01).
        assert!(check_canonical(&[0x18, 0x01]).is_err());
        assert!(check_canonical(&[0xA2, 0x01, 0x00, 0x02, 0x00]).is_ok());
    }

    #[test]
    fn hostile_input_is_an_error_not_a_panic() {
        assert!(decode(&[]).is_err());
        assert!(decode(&[0x9B, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]).is_err());
        assert!(matches!(
            decode(&[0x9F, 0xFF]),
            Err(CborError::Indefinite(0))
        ));
        assert!(matches!(
            decode(&[0x01, 0x02]),
            Err(CborError::TrailingBytes(1))
        ));
        let deep = vec![0x81; 100];
        assert!(decode(&deep).is_err());
        for len in 0..40 {
            let junk: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let _ = decode(&junk);
            let _ = diag_bytes(&junk);
        }
    }
}
