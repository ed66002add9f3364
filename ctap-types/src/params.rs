//! Request and response parameter keys, and subcommands, one module per command (CTAP 2.1 §6).
//! Constant names are the specification's member names in SCREAMING_SNAKE_CASE
//! (`clientDataHash` → `CLIENT_DATA_HASH`).
//!
//! Keys are `u64` (they are compared with decoded CBOR unsigned integers); getInfo keys and
//! permissions are `u8` as profiles store them.

/// authenticatorMakeCredential (§6.1).
pub mod make_credential {
    /// Request parameters (§6.1 "authenticatorMakeCredential").
    pub mod request {
        pub const CLIENT_DATA_HASH: u64 = 0x01;
        pub const RP: u64 = 0x02;
        pub const USER: u64 = 0x03;
        pub const PUB_KEY_CRED_PARAMS: u64 = 0x04;
        pub const EXCLUDE_LIST: u64 = 0x05;
        pub const EXTENSIONS: u64 = 0x06;
        pub const OPTIONS: u64 = 0x07;
        pub const PIN_UV_AUTH_PARAM: u64 = 0x08;
        pub const PIN_UV_AUTH_PROTOCOL: u64 = 0x09;
        pub const ENTERPRISE_ATTESTATION: u64 = 0x0A;
        /// attestationFormatsPreference (CTAP 2.2; read so that a newer platform is served).
        pub const ATTESTATION_FORMATS_PREFERENCE: u64 = 0x0B;
    }
    /// Response members (§6.1 "authenticatorMakeCredential response structure").
    pub mod response {
        pub const FMT: u64 = 0x01;
        pub const AUTH_DATA: u64 = 0x02;
        pub const ATT_STMT: u64 = 0x03;
        pub const EP_ATT: u64 = 0x04;
        /// largeBlobKey (§12.3).
        pub const LARGE_BLOB_KEY: u64 = 0x05;
    }
}

/// authenticatorGetAssertion (§6.2) and authenticatorGetNextAssertion (§6.3).
pub mod get_assertion {
    /// Request parameters (§6.2).
    pub mod request {
        pub const RP_ID: u64 = 0x01;
        pub const CLIENT_DATA_HASH: u64 = 0x02;
        pub const ALLOW_LIST: u64 = 0x03;
        pub const EXTENSIONS: u64 = 0x04;
        pub const OPTIONS: u64 = 0x05;
        pub const PIN_UV_AUTH_PARAM: u64 = 0x06;
        pub const PIN_UV_AUTH_PROTOCOL: u64 = 0x07;
    }
    /// Response members (§6.2 "authenticatorGetAssertion response structure").
    pub mod response {
        pub const CREDENTIAL: u64 = 0x01;
        pub const AUTH_DATA: u64 = 0x02;
        pub const SIGNATURE: u64 = 0x03;
        pub const USER: u64 = 0x04;
        pub const NUMBER_OF_CREDENTIALS: u64 = 0x05;
        pub const USER_SELECTED: u64 = 0x06;
        /// largeBlobKey (§12.3).
        pub const LARGE_BLOB_KEY: u64 = 0x07;
    }
}

/// authenticatorGetInfo response members (§6.4).
pub mod get_info {
    pub const VERSIONS: u8 = 0x01;
    pub const EXTENSIONS: u8 = 0x02;
    pub const AAGUID: u8 = 0x03;
    pub const OPTIONS: u8 = 0x04;
    pub const MAX_MSG_SIZE: u8 = 0x05;
    pub const PIN_UV_AUTH_PROTOCOLS: u8 = 0x06;
    pub const MAX_CREDENTIAL_COUNT_IN_LIST: u8 = 0x07;
    pub const MAX_CREDENTIAL_ID_LENGTH: u8 = 0x08;
    pub const TRANSPORTS: u8 = 0x09;
    pub const ALGORITHMS: u8 = 0x0A;
    pub const MAX_SERIALIZED_LARGE_BLOB_ARRAY: u8 = 0x0B;
    pub const FORCE_PIN_CHANGE: u8 = 0x0C;
    pub const MIN_PIN_LENGTH: u8 = 0x0D;
    pub const FIRMWARE_VERSION: u8 = 0x0E;
    pub const MAX_CRED_BLOB_LENGTH: u8 = 0x0F;
    pub const MAX_RPIDS_FOR_SET_MIN_PIN_LENGTH: u8 = 0x10;
    pub const PREFERRED_PLATFORM_UV_ATTEMPTS: u8 = 0x11;
    pub const UV_MODALITY: u8 = 0x12;
    pub const CERTIFICATIONS: u8 = 0x13;
    pub const REMAINING_DISCOVERABLE_CREDENTIALS: u8 = 0x14;
    pub const VENDOR_PROTOTYPE_CONFIG_COMMANDS: u8 = 0x15;
    /// The highest key the card can declare (vendorPrototypeConfigCommands is never declared).
    pub const LAST: u8 = REMAINING_DISCOVERABLE_CREDENTIALS;
}

/// authenticatorClientPIN (§6.5).
pub mod client_pin {
    /// Request parameters (§6.5.4).
    pub mod request {
        pub const PIN_UV_AUTH_PROTOCOL: u64 = 0x01;
        pub const SUBCOMMAND: u64 = 0x02;
        pub const KEY_AGREEMENT: u64 = 0x03;
        pub const PIN_UV_AUTH_PARAM: u64 = 0x04;
        pub const NEW_PIN_ENC: u64 = 0x05;
        pub const PIN_HASH_ENC: u64 = 0x06;
        pub const PERMISSIONS: u64 = 0x09;
        /// `rpId` (named `permissionsRpId` in the prose).
        pub const RP_ID: u64 = 0x0A;
    }
    /// Response members (§6.5.4).
    pub mod response {
        pub const KEY_AGREEMENT: u64 = 0x01;
        pub const PIN_UV_AUTH_TOKEN: u64 = 0x02;
        pub const PIN_RETRIES: u64 = 0x03;
        pub const POWER_CYCLE_STATE: u64 = 0x04;
        pub const UV_RETRIES: u64 = 0x05;
    }
    /// Subcommands (§6.5.4).
    pub mod subcommand {
        pub const GET_PIN_RETRIES: u64 = 0x01;
        pub const GET_KEY_AGREEMENT: u64 = 0x02;
        pub const SET_PIN: u64 = 0x03;
        pub const CHANGE_PIN: u64 = 0x04;
        /// getPinToken (the CTAP 2.0 token, all permissions of 2.0).
        pub const GET_PIN_TOKEN: u64 = 0x05;
        pub const GET_PIN_UV_AUTH_TOKEN_USING_UV_WITH_PERMISSIONS: u64 = 0x06;
        pub const GET_UV_RETRIES: u64 = 0x07;
        pub const GET_PIN_UV_AUTH_TOKEN_USING_PIN_WITH_PERMISSIONS: u64 = 0x09;
    }
}

/// The request envelope credentialManagement (§6.8) and authenticatorConfig (§6.11) share:
/// `{1: subCommand, 2: subCommandParams, 3: pinUvAuthProtocol, 4: pinUvAuthParam}`.
pub mod subcommand_envelope {
    pub const SUBCOMMAND: u64 = 0x01;
    pub const SUBCOMMAND_PARAMS: u64 = 0x02;
    pub const PIN_UV_AUTH_PROTOCOL: u64 = 0x03;
    pub const PIN_UV_AUTH_PARAM: u64 = 0x04;
}

/// authenticatorCredentialManagement (§6.8) and its FIDO_2_1_PRE prototype (§6.12).
pub mod cred_mgmt {
    /// Request parameters (§6.8).
    pub use super::subcommand_envelope as request;
    /// subCommandParams members (§6.8).
    pub mod param {
        pub const RP_ID_HASH: u64 = 0x01;
        pub const CREDENTIAL_ID: u64 = 0x02;
        pub const USER: u64 = 0x03;
    }
    /// Response members (§6.8).
    pub mod response {
        pub const EXISTING_RESIDENT_CREDENTIALS_COUNT: u64 = 0x01;
        pub const MAX_POSSIBLE_REMAINING_RESIDENT_CREDENTIALS_COUNT: u64 = 0x02;
        pub const RP: u64 = 0x03;
        pub const RP_ID_HASH: u64 = 0x04;
        pub const TOTAL_RPS: u64 = 0x05;
        pub const USER: u64 = 0x06;
        pub const CREDENTIAL_ID: u64 = 0x07;
        pub const PUBLIC_KEY: u64 = 0x08;
        pub const TOTAL_CREDENTIALS: u64 = 0x09;
        pub const CRED_PROTECT: u64 = 0x0A;
        pub const LARGE_BLOB_KEY: u64 = 0x0B;
    }
    /// Subcommands (§6.8).
    pub mod subcommand {
        pub const GET_CREDS_METADATA: u64 = 0x01;
        pub const ENUMERATE_RPS_BEGIN: u64 = 0x02;
        pub const ENUMERATE_RPS_GET_NEXT_RP: u64 = 0x03;
        pub const ENUMERATE_CREDENTIALS_BEGIN: u64 = 0x04;
        pub const ENUMERATE_CREDENTIALS_GET_NEXT_CREDENTIAL: u64 = 0x05;
        pub const DELETE_CREDENTIAL: u64 = 0x06;
        pub const UPDATE_USER_INFORMATION: u64 = 0x07;
    }
}

/// authenticatorLargeBlobs (§6.10).
pub mod large_blobs {
    /// Request parameters (§6.10.2).
    pub mod request {
        pub const GET: u64 = 0x01;
        pub const SET: u64 = 0x02;
        pub const OFFSET: u64 = 0x03;
        pub const LENGTH: u64 = 0x04;
        pub const PIN_UV_AUTH_PARAM: u64 = 0x05;
        pub const PIN_UV_AUTH_PROTOCOL: u64 = 0x06;
    }
    /// Response members (§6.10.2).
    pub mod response {
        pub const CONFIG: u64 = 0x01;
    }
}

/// authenticatorConfig (§6.11).
pub mod config {
    /// Request parameters (§6.11).
    pub use super::subcommand_envelope as request;
    /// setMinPINLength subCommandParams members (§6.11.4).
    pub mod param {
        pub const NEW_MIN_PIN_LENGTH: u64 = 0x01;
        pub const MIN_PIN_LENGTH_RP_IDS: u64 = 0x02;
        pub const FORCE_CHANGE_PIN: u64 = 0x03;
    }
    /// Subcommands (§6.11).
    pub mod subcommand {
        pub const ENABLE_ENTERPRISE_ATTESTATION: u64 = 0x01;
        pub const TOGGLE_ALWAYS_UV: u64 = 0x02;
        pub const SET_MIN_PIN_LENGTH: u64 = 0x03;
        pub const VENDOR_PROTOTYPE: u64 = 0xFF;
    }
}
