//! A state in the whole-image format as one versioned struct, and the postcard encoding
//! (the applet's records are postcard too).

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::StorageError;

/// A state in the whole-image format ([`crate::image`]): one versioned struct.
pub trait Schema: Serialize + DeserializeOwned {
    /// The version this build writes.
    const VERSION: u16;

    /// Loads a payload written by an older version. Upgrades are explicit: each supported older
    /// version gets its own arm; the default refuses every other version.
    fn migrate(version: u16, _payload: &[u8]) -> Result<Self, String> {
        Err(format!("no upgrade path from version {version}"))
    }
}

/// Appends the postcard encoding of `value` to `out`.
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
