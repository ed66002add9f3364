//! CBOR as a host reads it: a card's answer decoded without panicking and without refusing
//! what a report should show (tags, floats, unsorted maps, duplicate keys), a check that an
//! answer *is* CTAP2 canonical (python-fido2 rejects answers that are not, CTAP 2.1 §8.1), and
//! RFC 8949 §8 diagnostic notation for reports.

use std::fmt::Write as _;

use super::Value;

/// How deep a host follows nesting. CTAP 2.1 §8 messages nest at most four levels; the slack is
/// for vendor extensions, the bound for hostile input.
pub const HOST_MAX_DEPTH: usize = 16;

/// Why bytes are not a CBOR data item the host decoder accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CborError {
    #[error("malformed CBOR at byte {position}: {reason}")]
    Malformed { position: usize, reason: String },
    #[error("CBOR nested deeper than {HOST_MAX_DEPTH} levels")]
    TooDeep,
    #[error("indefinite-length CBOR item at byte {0} (CTAP2 canonical CBOR forbids it)")]
    Indefinite(usize),
    #[error("{0} bytes after the CBOR data item")]
    TrailingBytes(usize),
}

fn malformed(position: usize, reason: impl std::fmt::Display) -> CborError {
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
/// credential public key inside authenticator data is followed by more data, WebAuthn §6.5.1).
pub fn decode_prefix(bytes: &[u8]) -> Result<(Value, usize), CborError> {
    let mut d = minicbor::Decoder::new(bytes);
    let value = item(&mut d, 0)?;
    Ok((value, d.position()))
}

fn item(d: &mut minicbor::Decoder<'_>, depth: usize) -> Result<Value, CborError> {
    use minicbor::data::Type;
    if depth > HOST_MAX_DEPTH {
        return Err(CborError::TooDeep);
    }
    let at = d.position();
    let err = |e: minicbor::decode::Error| malformed(at, e);
    Ok(match d.datatype().map_err(err)? {
        Type::I8 | Type::I16 | Type::I32 | Type::I64 | Type::Int => {
            let n = i128::from(d.int().map_err(err)?);
            match u64::try_from(n) {
                Ok(u) => Value::Unsigned(u),
                Err(_) => Value::Negative(
                    u64::try_from(-1 - n).map_err(|_| malformed(at, "integer out of range"))?,
                ),
            }
        }
        ty @ (Type::F16 | Type::F32 | Type::F64) => Value::Float(super::float(d, ty).map_err(err)?),
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
        other => match super::scalar(d, other) {
            Some(value) => value.map_err(err)?,
            None => return Err(malformed(at, format!("unexpected {other}"))),
        },
    })
}

/// Whether `bytes` is the CTAP2 canonical encoding (CTAP 2.1 §8.1) of the value it decodes to.
/// `Err` names the first problem (undecodable, or where the canonical re-encoding differs).
pub fn check_canonical(bytes: &[u8]) -> Result<(), String> {
    let value = decode(bytes).map_err(|e| e.to_string())?;
    let again = value.to_vec();
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

fn lower_hex(s: &mut String, bytes: &[u8]) {
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
}

fn diag_into(s: &mut String, value: &Value) {
    match value {
        Value::Unsigned(n) => {
            let _ = write!(s, "{n}");
        }
        Value::Negative(n) => {
            let _ = write!(s, "{}", -1 - i128::from(*n));
        }
        Value::Bytes(b) => {
            s.push_str("h'");
            lower_hex(s, b);
            s.push('\'');
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
        Err(e) => {
            let mut s = String::from("h'");
            lower_hex(&mut s, bytes);
            let _ = write!(s, "' ({e})");
            s
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_diagnostic() {
        let v = Value::int_map([
            (1, Value::Array(vec![Value::text("FIDO_2_0")])),
            (3, Value::bytes([0xf4, 0x80])),
            (
                4,
                Value::text_map([("rk", Value::Bool(true)), ("up", Value::Bool(false))]),
            ),
            (5, Value::int(-7)),
        ]);
        let bytes = v.to_vec();
        assert_eq!(decode(&bytes).expect("decodes"), v);
        assert_eq!(
            diag(&v),
            r#"{1: ["FIDO_2_0"], 3: h'f480', 4: {"rk": true, "up": false}, 5: -7}"#
        );
        assert!(check_canonical(&bytes).is_ok());
        assert_eq!(diag(&Value::Tag(1, Box::new(Value::Float(1.5)))), "1(1.5)");
    }

    #[test]
    fn encoding_sorts_map_keys_canonically() {
        // CTAP 2.1 §8.1: major type first (1 < -1), then length ("up" < "uv" < "rk1").
        let v = Value::Map(vec![
            (Value::text("rk1"), Value::Null),
            (Value::text("uv"), Value::Null),
            (Value::text("up"), Value::Null),
            (Value::int(-1), Value::Null),
            (Value::Unsigned(1), Value::Null),
        ]);
        let back = decode(&v.to_vec()).expect("decodes");
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
        // {-1: 0, 24: 0}: a shorter key of a higher major type still sorts after (§8.1).
        assert!(check_canonical(&[0xA2, 0x20, 0x00, 0x18, 0x18, 0x00]).is_err());
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
