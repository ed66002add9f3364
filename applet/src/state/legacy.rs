//! The whole-image format every build before the record store wrote: the state as one postcard
//! struct in a checksummed image ([`card_storage::image`]), schema version 3, 2 (before each
//! resident credential stored its algorithm: all were ES256) or 1 (before large blobs and
//! enterprise attestation). Kept only to convert such a state into records ([`upgrade`],
//! through [`card_storage::records::RecordStore::open_or_upgrade`]); the layouts here are
//! frozen copies, so that the live types ([`ResidentCredential`] above all) may change.

use card_storage::records::Upgraded;
use card_storage::{Schema, StorageError, decode_image};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::{PinState, ResidentCredential, State, initial_large_blob_array};
use crate::attestation::AttestationMaterial;
use crate::crypto::{Algorithm, WrappingKey};

// The layouts below nest the fields an older version already had: postcard writes a struct as
// its fields in order with nothing around them, so `CredentialV3 { v1, algorithm }` is, byte for
// byte, version 1's fields followed by the algorithm, as if written out.

/// A resident credential as schema versions 1 and 2 lay it out. Frozen: never change it.
#[derive(Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub(crate) struct CredentialV1 {
    rp_id: String,
    rp_name: Option<String>,
    #[serde(with = "super::bytes")]
    user_id: Vec<u8>,
    user_name: Option<String>,
    user_display_name: Option<String>,
    #[serde(with = "super::bytes")]
    credential_id: Vec<u8>,
    private_key: [u8; 32],
    flags: u8,
    creation_order: u64,
    #[serde(with = "super::opt_bytes")]
    cred_blob: Option<Vec<u8>>,
    large_blob_key: Option<[u8; 32]>,
}

/// A resident credential as schema version 3 (and credential record version 1) lays it out:
/// version 1's fields, then the algorithm. Frozen: never change it.
#[derive(Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub(crate) struct CredentialV3 {
    v1: CredentialV1,
    #[zeroize(skip)]
    algorithm: Algorithm,
}

/// `$ty { $($field: $value,)* }` with the fields a credential has had since schema version 1
/// copied from `$from` (a [`CredentialV1`] or a [`ResidentCredential`]): the one list of them,
/// for the conversions both ways.
macro_rules! with_v1_fields {
    ($ty:ident, $from:expr, { $($field:ident: $value:expr),* $(,)? }) => {{
        let from = $from;
        $ty {
            rp_id: from.rp_id.clone(),
            rp_name: from.rp_name.clone(),
            user_id: from.user_id.clone(),
            user_name: from.user_name.clone(),
            user_display_name: from.user_display_name.clone(),
            credential_id: from.credential_id.clone(),
            private_key: from.private_key,
            flags: from.flags,
            creation_order: from.creation_order,
            cred_blob: from.cred_blob.clone(),
            large_blob_key: from.large_blob_key,
            $($field: $value,)*
        }
    }};
}

impl From<CredentialV3> for ResidentCredential {
    fn from(old: CredentialV3) -> Self {
        with_v1_fields!(ResidentCredential, &old.v1, { algorithm: old.algorithm })
    }
}

/// Every credential of schema versions 1 and 2 was ES256, the only algorithm those builds had.
impl From<CredentialV1> for CredentialV3 {
    fn from(v1: CredentialV1) -> Self {
        Self {
            v1,
            algorithm: Algorithm::Es256,
        }
    }
}

/// Schema version 1, and the first fields of every later version. Its credentials are
/// [`CredentialV1`] in versions 1 and 2, [`CredentialV3`] in version 3.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct StateV1<C = CredentialV1> {
    wrapping_key: WrappingKey,
    attestation: Option<AttestationMaterial>,
    resident: Vec<C>,
    sign_count: u32,
    next_creation_order: u64,
    pin: PinState,
}

/// Schema version 2 (and 3, with [`CredentialV3`]): version 1's fields, then large blobs and
/// enterprise attestation.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct StateV2<C = CredentialV1> {
    v1: StateV1<C>,
    #[serde(with = "super::bytes")]
    large_blob_array: Vec<u8>,
    enterprise_attestation: bool,
}

/// Schema version 3, the last whole-image layout: version 2 with each credential's algorithm.
pub(crate) type StateV3 = StateV2<CredentialV3>;

impl StateV1 {
    /// Version 1's fields with the credentials of version 3 (all ES256).
    fn with_algorithms(self) -> StateV1<CredentialV3> {
        StateV1 {
            wrapping_key: self.wrapping_key,
            attestation: self.attestation,
            resident: self.resident.into_iter().map(CredentialV3::from).collect(),
            sign_count: self.sign_count,
            next_creation_order: self.next_creation_order,
            pin: self.pin,
        }
    }
}

impl Schema for StateV3 {
    const VERSION: u16 = 3;

    /// Version 2 gains ES256 on every credential; version 1 also the initial large-blob array
    /// and enterprise attestation off, as a fresh card has them.
    fn migrate(version: u16, payload: &[u8]) -> Result<Self, String> {
        let undecodable = |e| format!("schema version {version} payload does not decode: {e}");
        match version {
            1 => {
                let old: StateV1 = postcard::from_bytes(payload).map_err(undecodable)?;
                Ok(Self {
                    v1: old.with_algorithms(),
                    large_blob_array: initial_large_blob_array(),
                    enterprise_attestation: false,
                })
            }
            2 => {
                let old: StateV2 = postcard::from_bytes(payload).map_err(undecodable)?;
                Ok(Self {
                    v1: old.v1.with_algorithms(),
                    large_blob_array: old.large_blob_array,
                    enterprise_attestation: old.enterprise_attestation,
                })
            }
            _ => Err(format!(
                "no migration from schema version {version} to {}",
                Self::VERSION
            )),
        }
    }
}

impl From<StateV3> for State {
    fn from(old: StateV3) -> Self {
        let v1 = old.v1;
        let mut state = State::fresh(v1.wrapping_key);
        state.attestation = v1.attestation;
        state.resident = v1
            .resident
            .into_iter()
            .map(ResidentCredential::from)
            .collect::<Vec<_>>()
            .into();
        state.sign_count = v1.sign_count;
        state.next_creation_order = v1.next_creation_order;
        state.pin = v1.pin;
        state.large_blob_array = old.large_blob_array;
        state.enterprise_attestation = old.enterprise_attestation;
        state
    }
}

/// Decodes a whole image (schema version 3, or 1 and 2 upgraded on the way) into a state. A
/// newer schema version is refused naming both versions; a damaged image is refused as corrupt.
pub fn decode_whole_image(image: &[u8], storage: &str) -> Result<State, StorageError> {
    decode_image::<StateV3>(image, storage).map(State::from)
}

/// The conversion [`card_storage::records::RecordStore::open_or_upgrade`] runs on a medium
/// that holds a whole image: its state's records.
pub fn upgrade(image: &[u8], storage: &str) -> Result<Upgraded, StorageError> {
    let state = decode_whole_image(image, storage)?;
    // Two credentials sharing a creation order would share a record: the state cannot be
    // converted without losing one, so it is refused like a damaged image.
    let records = super::records::all_records(&state).map_err(|e| StorageError::Corrupt {
        storage: storage.to_string(),
        reason: e.to_string(),
    })?;
    tracing::info!(
        storage,
        credentials = state.resident.len(),
        "converted the card's state from the whole-image format to records"
    );
    Ok(records)
}

/// The whole image of `state` (schema version 3), as the builds before the record store wrote
/// it: for tests of the upgrade.
pub fn encode_whole_image(state: &State) -> Result<Vec<u8>, StorageError> {
    let old = StateV3 {
        v1: StateV1 {
            wrapping_key: state.wrapping_key.clone(),
            attestation: state.attestation.clone(),
            resident: state
                .resident
                .iter()
                .map(|c| CredentialV3 {
                    v1: with_v1_fields!(CredentialV1, c, {}),
                    algorithm: c.algorithm,
                })
                .collect(),
            sign_count: state.sign_count,
            next_creation_order: state.next_creation_order,
            pin: state.pin.clone(),
        },
        large_blob_array: state.large_blob_array.clone(),
        enterprise_attestation: state.enterprise_attestation,
    };
    card_storage::encode_image(&old)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::SeededRng;
    use crate::state::StateStore;
    use crate::state::records::all_records;
    use card_storage::MemoryStorage;

    fn credential(rp_id: &str, user: &[u8], order: u64) -> CredentialV1 {
        CredentialV1 {
            rp_id: rp_id.into(),
            rp_name: Some("RP".into()),
            user_id: user.to_vec(),
            user_name: Some("n".into()),
            user_display_name: None,
            credential_id: (0..200u8).map(|b| b ^ order as u8).collect(),
            private_key: [order as u8; 32],
            flags: 1,
            creation_order: order,
            cred_blob: (order == 2).then(|| (0..32).collect()),
            large_blob_key: Some([7; 32]),
        }
    }

    fn sorted(state: &State) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut all = all_records(state).unwrap();
        all.sort();
        all
    }

    #[test]
    fn a_version_2_image_converts_to_records_on_open() {
        /// A schema-version-2 card, as the builds before credentials stored their algorithm
        /// wrote it.
        #[derive(Clone, Serialize, Deserialize)]
        struct V2(StateV2);
        impl Schema for V2 {
            const VERSION: u16 = 2;
        }
        let mut pin = PinState::default();
        pin.retries = 5;
        let old = StateV2 {
            v1: StateV1 {
                wrapping_key: WrappingKey::generate(&mut SeededRng::new(4)),
                attestation: Some(AttestationMaterial {
                    key: [3; 32],
                    cert_der: (0..=255u8).cycle().take(700).collect(),
                    root_cert_der: vec![0x30; 300],
                }),
                resident: vec![
                    credential("a.example", b"alice", 1),
                    credential("b.example", &[0xFF; 64], 2),
                    credential("a.example", b"", 3),
                ],
                sign_count: 99,
                next_creation_order: 4,
                pin,
            },
            large_blob_array: (0..1000u32).map(|i| i as u8).collect(),
            enterprise_attestation: true,
        };
        let image = card_storage::encode_image(&V2(old)).unwrap();
        let state = decode_whole_image(&image, "test").unwrap();
        assert_eq!(state.resident.len(), 3);
        assert!(
            state
                .resident
                .iter()
                .all(|c| c.algorithm == Algorithm::Es256)
        );
        assert_eq!(state.resident[1].user_id, vec![0xFF; 64]);
        assert_eq!(
            state.resident[1].cred_blob,
            Some((0..32).collect::<Vec<u8>>())
        );
        assert_eq!(state.sign_count, 99);
        assert_eq!(state.pin.retries, 5);
        assert!(state.enterprise_attestation);
        // Version 3, as the last whole-image build wrote it, converts the same.
        let v3 = encode_whole_image(&state).unwrap();
        assert_eq!(u16::from_be_bytes([v3[6], v3[7]]), 3);
        assert_eq!(
            sorted(&decode_whole_image(&v3, "test").unwrap()),
            sorted(&state)
        );

        let memory = MemoryStorage::with_image(image);
        let store = StateStore::open(Box::new(memory.clone()), || unreachable!()).unwrap();
        assert_eq!(sorted(store.get()), sorted(&state));
        assert!(memory.image().unwrap().starts_with(b"VFCR"), "converted");
        assert_eq!(store.get().resident_for_rp("a.example").len(), 2);
    }

    #[test]
    fn a_version_1_image_is_migrated() {
        /// A schema-version-1 card, as the builds before large blobs wrote it.
        #[derive(Clone, Serialize, Deserialize)]
        struct V1(StateV1);
        impl Schema for V1 {
            const VERSION: u16 = 1;
        }
        let key = WrappingKey::generate(&mut SeededRng::new(3));
        let mut pin = PinState::default();
        pin.retries = 6;
        let old = V1(StateV1 {
            wrapping_key: key.clone(),
            attestation: None,
            resident: vec![credential("a.example", b"1", 4)],
            sign_count: 17,
            next_creation_order: 5,
            pin,
        });
        let image = card_storage::encode_image(&old).unwrap();
        let state = decode_whole_image(&image, "test").unwrap();
        assert!(state.wrapping_key == key);
        assert_eq!(state.resident.len(), 1);
        assert_eq!(state.sign_count, 17);
        assert_eq!(state.next_creation_order, 5);
        assert_eq!(state.pin.retries, 6);
        assert_eq!(state.large_blob_array, initial_large_blob_array());
        assert!(!state.enterprise_attestation);
        // A payload that does not decode, and versions from the future, are refused.
        assert_eq!(state.resident[0].algorithm, Algorithm::Es256);
        assert!(StateV3::migrate(1, &[0xFF; 3]).is_err());
        assert!(StateV3::migrate(2, &[0xFF; 3]).is_err());
        assert!(StateV3::migrate(4, &[]).is_err());
    }

    #[test]
    fn a_newer_whole_image_is_refused_naming_both_versions_and_left_alone() {
        #[derive(Clone, Serialize, Deserialize)]
        struct V4(u8);
        impl Schema for V4 {
            const VERSION: u16 = 4;
        }
        let image = card_storage::encode_image(&V4(1)).unwrap();
        let memory = MemoryStorage::with_image(image.clone());
        let err = StateStore::open(Box::new(memory.clone()), || unreachable!())
            .err()
            .unwrap();
        let msg = err.to_string();
        assert_eq!(err.versions(), Some((4, 3)), "{msg}");
        assert!(
            msg.contains("version 4") && msg.contains("version 3"),
            "{msg}"
        );
        assert_eq!(memory.image(), Some(image));
    }
}
