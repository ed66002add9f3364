//! CTAP status codes (CTAP 2.1 §8.2 "Status codes").
//!
//! Every CTAP failure is one [`CtapError`] value; the NFC binding (§11.3) sends its code as the
//! first byte of the response data inside SW 9000, so this is the only place that knows the
//! numbers. ISO status words belong to [`apdu::StatusWord`] and are chosen in `nfc`.

use card_storage::StorageError;

/// A CTAP status code other than `CTAP2_OK` (CTAP 2.1 §8.2).
///
/// Variant names follow the specification's constants without their `CTAP1_ERR_` /
/// `CTAP2_ERR_` prefixes so a reader can grep the spec for them.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CtapError {
    #[error("CTAP1_ERR_INVALID_COMMAND: the command is not a valid CTAP command")]
    InvalidCommand,
    #[error("CTAP1_ERR_INVALID_PARAMETER: a command parameter is invalid")]
    InvalidParameter,
    #[error("CTAP1_ERR_INVALID_LENGTH: invalid message or item length")]
    InvalidLength,
    #[error("CTAP1_ERR_INVALID_SEQ: invalid message sequencing")]
    InvalidSeq,
    #[error("CTAP1_ERR_TIMEOUT: message timed out")]
    Timeout,
    #[error("CTAP1_ERR_CHANNEL_BUSY: channel busy")]
    ChannelBusy,
    #[error("CTAP1_ERR_LOCK_REQUIRED: command requires channel lock")]
    LockRequired,
    #[error("CTAP1_ERR_INVALID_CHANNEL: command not allowed on this cid")]
    InvalidChannel,
    #[error("CTAP2_ERR_CBOR_UNEXPECTED_TYPE: a CBOR item has the wrong type")]
    CborUnexpectedType,
    #[error("CTAP2_ERR_INVALID_CBOR: the CBOR is malformed")]
    InvalidCbor,
    #[error("CTAP2_ERR_MISSING_PARAMETER: a required parameter is missing")]
    MissingParameter,
    #[error("CTAP2_ERR_LIMIT_EXCEEDED: a limit was exceeded")]
    LimitExceeded,
    #[error("CTAP2_ERR_FP_DATABASE_FULL: fingerprint database full")]
    FpDatabaseFull,
    #[error("CTAP2_ERR_LARGE_BLOB_STORAGE_FULL: large blob storage full")]
    LargeBlobStorageFull,
    #[error("CTAP2_ERR_CREDENTIAL_EXCLUDED: a credential in the exclude list exists")]
    CredentialExcluded,
    #[error("CTAP2_ERR_PROCESSING: processing (lengthy operation in progress)")]
    Processing,
    #[error("CTAP2_ERR_INVALID_CREDENTIAL: the credential is not valid for this authenticator")]
    InvalidCredential,
    #[error("CTAP2_ERR_USER_ACTION_PENDING: authentication is waiting for user interaction")]
    UserActionPending,
    #[error("CTAP2_ERR_OPERATION_PENDING: processing, lengthy operation is in progress")]
    OperationPending,
    #[error("CTAP2_ERR_NO_OPERATIONS: no request is pending")]
    NoOperations,
    #[error("CTAP2_ERR_UNSUPPORTED_ALGORITHM: no requested algorithm is supported")]
    UnsupportedAlgorithm,
    #[error("CTAP2_ERR_OPERATION_DENIED: not authorized for the requested operation")]
    OperationDenied,
    #[error("CTAP2_ERR_KEY_STORE_FULL: internal key storage is full")]
    KeyStoreFull,
    #[error("CTAP2_ERR_UNSUPPORTED_OPTION: unsupported option")]
    UnsupportedOption,
    #[error("CTAP2_ERR_INVALID_OPTION: not a valid option for the current operation")]
    InvalidOption,
    #[error("CTAP2_ERR_KEEPALIVE_CANCEL: pending keep alive was cancelled")]
    KeepaliveCancel,
    #[error("CTAP2_ERR_NO_CREDENTIALS: no valid credentials provided")]
    NoCredentials,
    #[error("CTAP2_ERR_USER_ACTION_TIMEOUT: a user action timeout occurred")]
    UserActionTimeout,
    #[error("CTAP2_ERR_NOT_ALLOWED: continuation command not allowed")]
    NotAllowed,
    #[error("CTAP2_ERR_PIN_INVALID: PIN invalid")]
    PinInvalid,
    #[error("CTAP2_ERR_PIN_BLOCKED: PIN blocked")]
    PinBlocked,
    #[error("CTAP2_ERR_PIN_AUTH_INVALID: PIN authentication (pinUvAuthParam) verification failed")]
    PinAuthInvalid,
    #[error("CTAP2_ERR_PIN_AUTH_BLOCKED: PIN authentication blocked until power cycle")]
    PinAuthBlocked,
    #[error("CTAP2_ERR_PIN_NOT_SET: no PIN has been set")]
    PinNotSet,
    #[error("CTAP2_ERR_PUAT_REQUIRED: a pinUvAuthToken is required")]
    PuatRequired,
    #[error("CTAP2_ERR_PIN_POLICY_VIOLATION: PIN policy violation")]
    PinPolicyViolation,
    #[error("CTAP2_ERR_REQUEST_TOO_LARGE: the request is larger than maxMsgSize")]
    RequestTooLarge,
    #[error("CTAP2_ERR_ACTION_TIMEOUT: the current operation has timed out")]
    ActionTimeout,
    #[error("CTAP2_ERR_UP_REQUIRED: user presence is required")]
    UpRequired,
    #[error("CTAP2_ERR_UV_BLOCKED: built-in user verification is disabled")]
    UvBlocked,
    #[error("CTAP2_ERR_INTEGRITY_FAILURE: a checksum did not match")]
    IntegrityFailure,
    #[error("CTAP2_ERR_INVALID_SUBCOMMAND: the subcommand is not supported")]
    InvalidSubcommand,
    #[error("CTAP2_ERR_UV_INVALID: user verification failed")]
    UvInvalid,
    #[error("CTAP2_ERR_UNAUTHORIZED_PERMISSION: the permission is not authorized")]
    UnauthorizedPermission,
    #[error("CTAP1_ERR_OTHER: other unspecified error")]
    Other,
}

impl CtapError {
    /// The status byte of CTAP 2.1 §8.2.
    pub fn code(self) -> u8 {
        use CtapError::*;
        match self {
            InvalidCommand => 0x01,
            InvalidParameter => 0x02,
            InvalidLength => 0x03,
            InvalidSeq => 0x04,
            Timeout => 0x05,
            ChannelBusy => 0x06,
            LockRequired => 0x0A,
            InvalidChannel => 0x0B,
            CborUnexpectedType => 0x11,
            InvalidCbor => 0x12,
            MissingParameter => 0x14,
            LimitExceeded => 0x15,
            FpDatabaseFull => 0x17,
            LargeBlobStorageFull => 0x18,
            CredentialExcluded => 0x19,
            Processing => 0x21,
            InvalidCredential => 0x22,
            UserActionPending => 0x23,
            OperationPending => 0x24,
            NoOperations => 0x25,
            UnsupportedAlgorithm => 0x26,
            OperationDenied => 0x27,
            KeyStoreFull => 0x28,
            UnsupportedOption => 0x2B,
            InvalidOption => 0x2C,
            KeepaliveCancel => 0x2D,
            NoCredentials => 0x2E,
            UserActionTimeout => 0x2F,
            NotAllowed => 0x30,
            PinInvalid => 0x31,
            PinBlocked => 0x32,
            PinAuthInvalid => 0x33,
            PinAuthBlocked => 0x34,
            PinNotSet => 0x35,
            PuatRequired => 0x36,
            PinPolicyViolation => 0x37,
            RequestTooLarge => 0x39,
            ActionTimeout => 0x3A,
            UpRequired => 0x3B,
            UvBlocked => 0x3C,
            IntegrityFailure => 0x3D,
            InvalidSubcommand => 0x3E,
            UvInvalid => 0x3F,
            UnauthorizedPermission => 0x40,
            Other => 0x7F,
        }
    }
}

/// `CTAP2_OK` / `CTAP1_ERR_SUCCESS` (CTAP 2.1 §8.2).
pub const CTAP2_OK: u8 = 0x00;

/// A persistent write that failed (the card left the field mid-write) aborted the transaction;
/// nothing was committed, and CTAP has no closer code than `CTAP1_ERR_OTHER`.
impl From<StorageError> for CtapError {
    fn from(err: StorageError) -> Self {
        tracing::error!(error = %err, "persistent write failed; the command changed nothing");
        CtapError::Other
    }
}

/// The result type of every CTAP command handler.
pub type CtapResult<T> = Result<T, CtapError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_the_specification_table() {
        assert_eq!(CtapError::InvalidCommand.code(), 0x01);
        assert_eq!(CtapError::CborUnexpectedType.code(), 0x11);
        assert_eq!(CtapError::InvalidCbor.code(), 0x12);
        assert_eq!(CtapError::MissingParameter.code(), 0x14);
        assert_eq!(CtapError::CredentialExcluded.code(), 0x19);
        assert_eq!(CtapError::UnsupportedAlgorithm.code(), 0x26);
        assert_eq!(CtapError::OperationDenied.code(), 0x27);
        assert_eq!(CtapError::KeyStoreFull.code(), 0x28);
        assert_eq!(CtapError::NoCredentials.code(), 0x2E);
        assert_eq!(CtapError::NotAllowed.code(), 0x30);
        assert_eq!(CtapError::RequestTooLarge.code(), 0x39);
        assert_eq!(CtapError::Other.code(), 0x7F);
    }
}
