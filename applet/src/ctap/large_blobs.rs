//! authenticatorLargeBlobs (CTAP 2.1 §6.10, command 0x0C): the serialized large-blob array.
//!
//! The card stores one opaque byte string for the platform: a CBOR array of encrypted entries
//! (each sealed with a credential's largeBlobKey, §12.3) followed by `LEFT(SHA-256(array), 16)`
//! (§6.10.1). The card never looks inside the array; it checks the trailing checksum when a
//! write completes. A fresh card (and authenticatorReset) holds the empty array `0x80` and its
//! checksum.
//!
//! Requests move fragments of at most `maxFragmentLength = maxMsgSize - 64` bytes (§6.10.2):
//!
//! - **get** `{1: get, 3: offset}` returns `{1: config}`, the bytes `offset..offset+get` (fewer at
//!   the end). Reading needs no authorization, and a get that carries `pinUvAuthParam` or
//!   `pinUvAuthProtocol` is CTAP1_ERR_INVALID_PARAMETER.
//! - **set** `{2: set, 3: offset, 4: length}` writes a fragment. The first (`offset` 0) declares
//!   the total `length` (at least 17, at most the profile's `maxSerializedLargeBlobArray`:
//!   CTAP2_ERR_LARGE_BLOB_STORAGE_FULL beyond); the next ones must continue exactly where the
//!   previous stopped (CTAP1_ERR_INVALID_SEQ otherwise). On a card protected by user
//!   verification each fragment carries `pinUvAuthParam = authenticate(token, 32×0xFF ‖ 0x0C
//!   0x00 ‖ uint32LE(offset) ‖ SHA-256(set))` under a token with the lbw permission.
//!
//! The fragments are collected in transient memory. When the last one arrives the checksum is
//! verified (CTAP2_ERR_INTEGRITY_FAILURE, and the write is dropped, if it does not match) and
//! the new array replaces the old one in a single persistent transaction: a card pulled from the
//! field mid-write keeps the old array whole.

use super::pin_uv_auth;
use super::{Authenticator, to_usize};
use crate::crypto::sha256;
use crate::state::State;
use ctap_types::cbor::{IntMap, Value};
use ctap_types::permission;
use ctap_types::{CtapError, CtapResult};

/// Request parameter keys (§6.10).
use ctap_types::params::large_blobs::request as key;

/// The response key of a get (§6.10).
pub const RESPONSE_CONFIG: u64 = ctap_types::params::large_blobs::response::CONFIG;

/// Length of the truncated SHA-256 that ends the serialized array (§6.10.1).
pub const CHECKSUM_LEN: usize = 16;

/// maxMsgSize minus this is maxFragmentLength (§6.10.2: room for the CBOR around a fragment).
pub const FRAGMENT_OVERHEAD: usize = 64;

/// The smallest serialized array: one CBOR byte and the checksum (§6.10.2 "length ... less
/// than 17").
pub const MIN_LENGTH: usize = 1 + CHECKSUM_LEN;

/// A decoded authenticatorLargeBlobs request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LargeBlobsRequest {
    /// 0x01 get: how many bytes to read.
    pub get: Option<u64>,
    /// 0x02 set: a fragment to write.
    pub set: Option<Vec<u8>>,
    /// 0x03 offset (required).
    pub offset: u64,
    /// 0x04 length: the total length, with the first fragment of a write.
    pub length: Option<u64>,
    /// 0x05 pinUvAuthParam.
    pub pin_uv_auth_param: Option<Vec<u8>>,
    /// 0x06 pinUvAuthProtocol.
    pub pin_uv_auth_protocol: Option<u64>,
}

impl LargeBlobsRequest {
    /// Decodes the CBOR parameters; a missing offset is CTAP2_ERR_MISSING_PARAMETER.
    pub fn decode(params: &[u8]) -> CtapResult<Self> {
        IntMap::parse_with(params, |map| {
            Ok(Self {
                get: map.opt_unsigned(key::GET)?,
                set: map.opt_bytes(key::SET)?,
                offset: map.required(key::OFFSET)?.as_unsigned()?,
                length: map.opt_unsigned(key::LENGTH)?,
                pin_uv_auth_param: map.opt_bytes(key::PIN_UV_AUTH_PARAM)?,
                pin_uv_auth_protocol: map.opt_unsigned(key::PIN_UV_AUTH_PROTOCOL)?,
            })
        })
    }
}

/// A write in progress (transient: lost on deselect or power loss, which drops the write).
pub(crate) struct PendingWrite {
    /// The declared total length.
    expected_length: usize,
    /// The fragments so far; the next fragment's offset is its length.
    buffer: Vec<u8>,
}

/// maxFragmentLength (§6.10.2).
pub fn max_fragment_length(auth: &Authenticator) -> usize {
    to_usize(auth.profile.max_msg_size).saturating_sub(FRAGMENT_OVERHEAD)
}

/// Runs authenticatorLargeBlobs.
pub fn process(auth: &mut Authenticator, params: &[u8]) -> CtapResult<Option<Value>> {
    let req = LargeBlobsRequest::decode(params)?;
    match (req.get, req.set.as_deref()) {
        (Some(get), None) => get_fragment(auth, &req, get).map(Some),
        (None, Some(fragment)) => set_fragment(auth, &req, fragment).map(|()| None),
        // Both or neither.
        _ => Err(CtapError::InvalidParameter),
    }
}

/// get (§6.10.2): `length`, `pinUvAuthParam` and `pinUvAuthProtocol` must be absent
/// (CTAP1_ERR_INVALID_PARAMETER), `get` at most maxFragmentLength (CTAP1_ERR_INVALID_LENGTH),
/// `offset` within the array (CTAP1_ERR_INVALID_PARAMETER).
fn get_fragment(auth: &Authenticator, req: &LargeBlobsRequest, get: u64) -> CtapResult<Value> {
    if req.length.is_some() || req.pin_uv_auth_param.is_some() || req.pin_uv_auth_protocol.is_some()
    {
        return Err(CtapError::InvalidParameter);
    }
    if to_usize(get) > max_fragment_length(auth) {
        return Err(CtapError::InvalidLength);
    }
    let array = &auth.state().large_blob_array;
    let offset = to_usize(req.offset);
    if offset > array.len() {
        return Err(CtapError::InvalidParameter);
    }
    let end = offset.saturating_add(to_usize(get)).min(array.len());
    let fragment = array.get(offset..end).unwrap_or_default().to_vec();
    Ok(Value::Map(vec![(
        Value::Unsigned(RESPONSE_CONFIG),
        Value::Bytes(fragment),
    )]))
}

/// set (§6.10.2); see the module documentation for the rules and their order.
fn set_fragment(
    auth: &mut Authenticator,
    req: &LargeBlobsRequest,
    fragment: &[u8],
) -> CtapResult<()> {
    if fragment.len() > max_fragment_length(auth) {
        return Err(CtapError::InvalidLength);
    }
    let offset = to_usize(req.offset);
    // The write this fragment belongs to: a new one at offset 0, else the one in progress. It
    // only replaces the session's once the fragment is authorized, so an unauthorized request
    // cannot abort someone else's write.
    let expected_length = if offset == 0 {
        let length = to_usize(req.length.ok_or(CtapError::InvalidParameter)?);
        if length > to_usize(auth.profile.large_blob_size) {
            return Err(CtapError::LargeBlobStorageFull);
        }
        if length < MIN_LENGTH {
            return Err(CtapError::InvalidParameter);
        }
        length
    } else {
        if req.length.is_some() {
            return Err(CtapError::InvalidParameter);
        }
        match &auth.session.large_blob_write {
            Some(pending) if pending.buffer.len() == offset => pending.expected_length,
            _ => return Err(CtapError::InvalidSeq),
        }
    };
    if pin_uv_auth::uv_protected(auth) {
        let offset_le = u32::try_from(offset)
            .map_err(|_| CtapError::InvalidParameter)?
            .to_le_bytes();
        let mut message = vec![0xFF; 32];
        message.extend_from_slice(&[ctap_types::command::LARGE_BLOBS, 0x00]);
        message.extend_from_slice(&offset_le);
        message.extend_from_slice(&sha256(fragment));
        pin_uv_auth::verify_token_for_command(
            auth,
            req.pin_uv_auth_protocol,
            req.pin_uv_auth_param.as_deref(),
            &message,
            permission::LARGE_BLOB_WRITE,
        )?;
    }
    if offset.saturating_add(fragment.len()) > expected_length {
        return Err(CtapError::InvalidParameter);
    }
    let mut pending = match auth.session.large_blob_write.take() {
        Some(pending) if offset != 0 => pending,
        _ => PendingWrite {
            expected_length,
            buffer: Vec::with_capacity(expected_length),
        },
    };
    pending.buffer.extend_from_slice(fragment);
    if pending.buffer.len() < expected_length {
        auth.session.large_blob_write = Some(pending);
        return Ok(());
    }
    // The last fragment: check the checksum, then commit the whole array at once.
    let array = pending.buffer;
    let split = array.len().saturating_sub(CHECKSUM_LEN);
    let (data, checksum) = array.split_at(split);
    if sha256(data).get(..CHECKSUM_LEN) != Some(checksum) {
        return Err(CtapError::IntegrityFailure);
    }
    auth.store.transaction(|state: &mut State| {
        state.large_blob_array = array;
        Ok::<(), CtapError>(())
    })
}
