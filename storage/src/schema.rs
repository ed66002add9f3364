//! The card's persistent state as one versioned struct, and its postcard encoding.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::StorageError;

/// The card's persistent state: one versioned struct.
pub trait Schema: Serialize + DeserializeOwned + Clone + Send {
    /// The version this build writes.
    const VERSION: u16;

    /// Loads a payload written by an older version. Upgrades are explicit: each supported older
    /// version gets its own arm; the default refuses every other version.
    fn migrate(version: u16, _payload: &[u8]) -> Result<Self, String> {
        Err(format!("no upgrade path from version {version}"))
    }

    /// Appends the postcard payload of `self` to `out` ([`encode_postcard`] of the whole value
    /// by default). [`crate::Persistent`]'s commits pass `committed`, the payload of the
    /// committed image; an implementation may copy from it the bytes of parts it knows unchanged
    /// since it encoded them in that very commit, provided the result is byte for byte the
    /// postcard encoding of `self` (the image format does not change).
    /// [`crate::encode_image`] passes `None`.
    fn encode_payload(
        &self,
        committed: Option<&[u8]>,
        out: &mut Vec<u8>,
    ) -> Result<(), StorageError> {
        let _ = committed;
        encode_postcard(self, out)
    }
}

/// Appends the postcard encoding of `value` to `out`, through the same output as images.
pub fn encode_postcard<V: Serialize + ?Sized>(
    value: &V,
    out: &mut Vec<u8>,
) -> Result<(), StorageError> {
    postcard::serialize_with_flavor(value, ExtendVec(out))
        .map_err(|e| StorageError::Encode(e.to_string()))
}

/// A postcard output that appends to a borrowed, reused buffer (no allocation once it is large
/// enough, and slices are copied whole).
struct ExtendVec<'a>(&'a mut Vec<u8>);

impl postcard::ser_flavors::Flavor for ExtendVec<'_> {
    type Output = ();

    #[inline]
    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        self.0.extend_from_slice(data);
        Ok(())
    }

    #[inline(always)]
    fn try_push(&mut self, data: u8) -> postcard::Result<()> {
        self.0.push(data);
        Ok(())
    }

    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}
