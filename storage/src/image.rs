//! The state image of the builds before the record store: the whole state in one checksummed
//! image. Read to convert such a state ([`crate::records::RecordStore::open_or_upgrade`]);
//! written only by tests, to make one.
//!
//! Layout (all integers big-endian):
//!
//! | bytes | field |
//! |---|---|
//! | 4 | magic `VFCS` |
//! | 2 | container format (1) |
//! | 2 | schema version ([`Schema::VERSION`]) |
//! | 4 | payload length |
//! | n | payload: the state, serialized with postcard |
//! | 32 | SHA-256 of all the bytes before it |

use sha2::{Digest, Sha256};

use crate::StorageError;
use crate::schema::{Schema, encode_postcard};

const MAGIC: &[u8; 4] = b"VFCS";
const CONTAINER_FORMAT: u16 = 1;
const HEADER_LEN: usize = 12;
const CHECKSUM_LEN: usize = 32;

/// Encodes `state` as a checksummed image.
pub fn encode_image<T: Schema>(state: &T) -> Result<Vec<u8>, StorageError> {
    let mut image = Vec::new();
    image.extend_from_slice(MAGIC);
    image.extend_from_slice(&CONTAINER_FORMAT.to_be_bytes());
    image.extend_from_slice(&T::VERSION.to_be_bytes());
    image.extend_from_slice(&[0; 4]);
    encode_postcard(state, &mut image)?;
    let len = u32::try_from(image.len() - HEADER_LEN)
        .map_err(|_| StorageError::Encode("state larger than 4 GiB".into()))?;
    image[8..HEADER_LEN].copy_from_slice(&len.to_be_bytes());
    let digest = Sha256::digest(&image);
    image.extend_from_slice(&digest);
    Ok(image)
}

/// Decodes an image, checking magic, container format, length, checksum and schema version.
/// `storage` names the source in errors.
pub fn decode_image<T: Schema>(image: &[u8], storage: &str) -> Result<T, StorageError> {
    let corrupt = |reason: &str| StorageError::Corrupt {
        storage: storage.to_string(),
        reason: reason.to_string(),
    };
    if image.len() < HEADER_LEN + CHECKSUM_LEN {
        return Err(corrupt("truncated: shorter than header and checksum"));
    }
    let (header, rest) = image.split_at(HEADER_LEN);
    if &header[0..4] != MAGIC {
        return Err(corrupt("bad magic"));
    }
    let format = u16::from_be_bytes([header[4], header[5]]);
    if format != CONTAINER_FORMAT {
        return Err(corrupt(&format!("unknown container format {format}")));
    }
    let version = u16::from_be_bytes([header[6], header[7]]);
    let len = u32::from_be_bytes([header[8], header[9], header[10], header[11]]) as usize;
    if rest.len() != len.saturating_add(CHECKSUM_LEN) {
        return Err(corrupt(
            "truncated or extended: length field disagrees with file size",
        ));
    }
    let (payload, checksum) = rest.split_at(len);
    let digest = Sha256::digest(&image[..HEADER_LEN + len]);
    if digest.as_slice() != checksum {
        return Err(corrupt("checksum mismatch"));
    }
    if version == T::VERSION {
        postcard::from_bytes(payload).map_err(|e| corrupt(&format!("payload does not decode: {e}")))
    } else {
        T::migrate(version, payload).map_err(|reason| StorageError::Version {
            storage: storage.to_string(),
            what: "state schema".into(),
            found: version,
            supported: T::VERSION,
            reason,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    use super::*;

    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
    struct V2 {
        counter: u32,
        names: Vec<String>,
    }

    impl Schema for V2 {
        const VERSION: u16 = 2;
        fn migrate(version: u16, payload: &[u8]) -> Result<Self, String> {
            match version {
                // Version 1 held only the counter.
                1 => postcard::from_bytes::<u32>(payload)
                    .map(|counter| V2 {
                        counter,
                        names: Vec::new(),
                    })
                    .map_err(|e| e.to_string()),
                v => Err(format!("no upgrade path from version {v}")),
            }
        }
    }

    #[derive(Clone, Serialize, Deserialize)]
    struct V1(u32);
    impl Schema for V1 {
        const VERSION: u16 = 1;
    }

    #[test]
    fn corrupt_truncated_and_foreign_images_are_refused_with_the_storage_named() {
        let good = encode_image(&V2::default()).unwrap();
        let mut flipped = good.clone();
        let last = flipped.len() - 40;
        flipped[last] ^= 1;
        for (image, why) in [
            (flipped, "checksum"),
            (good[..good.len() - 1].to_vec(), "length"),
            (b"not a state file at all, clearly, no".to_vec(), "magic"),
            (vec![], "truncated"),
        ] {
            let err = decode_image::<V2>(&image, "memory").expect_err(why);
            let msg = err.to_string();
            assert!(msg.starts_with("memory: "), "{msg}");
            assert!(matches!(err, StorageError::Corrupt { .. }), "{why}: {msg}");
        }
    }

    #[test]
    fn older_versions_upgrade_explicitly_and_newer_ones_are_refused() {
        let old = encode_image(&V1(41)).unwrap();
        let upgraded: V2 = decode_image(&old, "test").unwrap();
        assert_eq!(
            upgraded,
            V2 {
                counter: 41,
                names: vec![]
            }
        );
        let newer = encode_image(&V2::default()).unwrap();
        let err = decode_image::<V1>(&newer, "test").err().unwrap();
        assert_eq!(err.versions(), Some((2, 1)), "{err}");
    }
}
