//! CTAP status codes (CTAP 2.1 §8.2 "Status codes"): the one table card and host share.
//!
//! Every CTAP failure is one [`CtapError`] value. The NFC binding (§11.3) sends its code as the
//! first byte of the response data inside SW 9000; ISO status words are not CTAP errors.

macro_rules! status_codes {
    ($($variant:ident = $code:literal, $name:literal, $doc:literal;)+) => {
        /// A CTAP status code other than `CTAP2_OK` (CTAP 2.1 §8.2).
        ///
        /// Variant names follow the specification's constants without their `CTAP1_ERR_` /
        /// `CTAP2_ERR_` prefixes so a reader can grep the spec for them.
        #[derive(Clone, Copy, PartialEq, Eq, Debug, Hash, thiserror::Error)]
        pub enum CtapError {
            $(
                #[doc = $doc]
                #[error("{}: {}", $name, $doc)]
                $variant,
            )+
        }

        impl CtapError {
            /// Every status code of the table, in code order.
            pub const ALL: &'static [CtapError] = &[$(CtapError::$variant,)+];

            /// The status byte of CTAP 2.1 §8.2.
            pub const fn code(self) -> u8 {
                match self {
                    $(CtapError::$variant => $code,)+
                }
            }

            /// The specification's constant ("CTAP2_ERR_INVALID_CBOR").
            pub const fn name(self) -> &'static str {
                match self {
                    $(CtapError::$variant => $name,)+
                }
            }

            /// The error with status byte `code`; `None` for `CTAP2_OK`, the extension and
            /// vendor ranges and codes the table does not define.
            pub const fn from_code(code: u8) -> Option<Self> {
                match code {
                    $($code => Some(CtapError::$variant),)+
                    _ => None,
                }
            }
        }
    };
}

status_codes! {
    InvalidCommand = 0x01, "CTAP1_ERR_INVALID_COMMAND", "the command is not a valid CTAP command";
    InvalidParameter = 0x02, "CTAP1_ERR_INVALID_PARAMETER", "a command parameter is invalid";
    InvalidLength = 0x03, "CTAP1_ERR_INVALID_LENGTH", "invalid message or item length";
    InvalidSeq = 0x04, "CTAP1_ERR_INVALID_SEQ", "invalid message sequencing";
    Timeout = 0x05, "CTAP1_ERR_TIMEOUT", "message timed out";
    ChannelBusy = 0x06, "CTAP1_ERR_CHANNEL_BUSY", "channel busy";
    LockRequired = 0x0A, "CTAP1_ERR_LOCK_REQUIRED", "command requires channel lock";
    InvalidChannel = 0x0B, "CTAP1_ERR_INVALID_CHANNEL", "command not allowed on this cid";
    CborUnexpectedType = 0x11, "CTAP2_ERR_CBOR_UNEXPECTED_TYPE", "a CBOR item has the wrong type";
    InvalidCbor = 0x12, "CTAP2_ERR_INVALID_CBOR", "the CBOR is malformed";
    MissingParameter = 0x14, "CTAP2_ERR_MISSING_PARAMETER", "a required parameter is missing";
    LimitExceeded = 0x15, "CTAP2_ERR_LIMIT_EXCEEDED", "a limit was exceeded";
    FpDatabaseFull = 0x17, "CTAP2_ERR_FP_DATABASE_FULL", "fingerprint database full";
    LargeBlobStorageFull = 0x18, "CTAP2_ERR_LARGE_BLOB_STORAGE_FULL", "large blob storage full";
    CredentialExcluded = 0x19, "CTAP2_ERR_CREDENTIAL_EXCLUDED", "a credential in the exclude list exists";
    Processing = 0x21, "CTAP2_ERR_PROCESSING", "processing (lengthy operation in progress)";
    InvalidCredential = 0x22, "CTAP2_ERR_INVALID_CREDENTIAL", "the credential is not valid for this authenticator";
    UserActionPending = 0x23, "CTAP2_ERR_USER_ACTION_PENDING", "authentication is waiting for user interaction";
    OperationPending = 0x24, "CTAP2_ERR_OPERATION_PENDING", "processing, lengthy operation is in progress";
    NoOperations = 0x25, "CTAP2_ERR_NO_OPERATIONS", "no request is pending";
    UnsupportedAlgorithm = 0x26, "CTAP2_ERR_UNSUPPORTED_ALGORITHM", "no requested algorithm is supported";
    OperationDenied = 0x27, "CTAP2_ERR_OPERATION_DENIED", "not authorized for the requested operation";
    KeyStoreFull = 0x28, "CTAP2_ERR_KEY_STORE_FULL", "internal key storage is full";
    UnsupportedOption = 0x2B, "CTAP2_ERR_UNSUPPORTED_OPTION", "unsupported option";
    InvalidOption = 0x2C, "CTAP2_ERR_INVALID_OPTION", "not a valid option for the current operation";
    KeepaliveCancel = 0x2D, "CTAP2_ERR_KEEPALIVE_CANCEL", "pending keep alive was cancelled";
    NoCredentials = 0x2E, "CTAP2_ERR_NO_CREDENTIALS", "no valid credentials provided";
    UserActionTimeout = 0x2F, "CTAP2_ERR_USER_ACTION_TIMEOUT", "a user action timeout occurred";
    NotAllowed = 0x30, "CTAP2_ERR_NOT_ALLOWED", "continuation command not allowed";
    PinInvalid = 0x31, "CTAP2_ERR_PIN_INVALID", "PIN invalid";
    PinBlocked = 0x32, "CTAP2_ERR_PIN_BLOCKED", "PIN blocked";
    PinAuthInvalid = 0x33, "CTAP2_ERR_PIN_AUTH_INVALID", "PIN authentication (pinUvAuthParam) verification failed";
    PinAuthBlocked = 0x34, "CTAP2_ERR_PIN_AUTH_BLOCKED", "PIN authentication blocked until power cycle";
    PinNotSet = 0x35, "CTAP2_ERR_PIN_NOT_SET", "no PIN has been set";
    PuatRequired = 0x36, "CTAP2_ERR_PUAT_REQUIRED", "a pinUvAuthToken is required";
    PinPolicyViolation = 0x37, "CTAP2_ERR_PIN_POLICY_VIOLATION", "PIN policy violation";
    RequestTooLarge = 0x39, "CTAP2_ERR_REQUEST_TOO_LARGE", "the request is larger than maxMsgSize";
    ActionTimeout = 0x3A, "CTAP2_ERR_ACTION_TIMEOUT", "the current operation has timed out";
    UpRequired = 0x3B, "CTAP2_ERR_UP_REQUIRED", "user presence is required";
    UvBlocked = 0x3C, "CTAP2_ERR_UV_BLOCKED", "built-in user verification is disabled";
    IntegrityFailure = 0x3D, "CTAP2_ERR_INTEGRITY_FAILURE", "a checksum did not match";
    InvalidSubcommand = 0x3E, "CTAP2_ERR_INVALID_SUBCOMMAND", "the subcommand is not supported";
    UvInvalid = 0x3F, "CTAP2_ERR_UV_INVALID", "user verification failed";
    UnauthorizedPermission = 0x40, "CTAP2_ERR_UNAUTHORIZED_PERMISSION", "the permission is not authorized";
    Other = 0x7F, "CTAP1_ERR_OTHER", "other unspecified error";
}

/// `CTAP2_OK` / `CTAP1_ERR_SUCCESS` (CTAP 2.1 §8.2).
pub const CTAP2_OK: u8 = 0x00;

/// The result type of every CTAP command handler.
pub type CtapResult<T> = Result<T, CtapError>;

/// The name of any status byte a card may send, for reports: the table's constants, `CTAP2_OK`
/// and the ranges §8.2 reserves for extensions (`CTAP2_ERR_EXTENSION_FIRST..LAST`, 0xE0-0xEF)
/// and vendors (`CTAP2_ERR_VENDOR_FIRST..LAST`, 0xF0-0xFF).
pub fn status_name(code: u8) -> &'static str {
    match code {
        CTAP2_OK => "CTAP2_OK",
        0xE0..=0xEF => "CTAP2_ERR_EXTENSION_x",
        0xF0..=0xFF => "CTAP2_ERR_VENDOR_x",
        _ => match CtapError::from_code(code) {
            Some(e) => e.name(),
            None => "unknown CTAP status",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_the_specification_table() {
        use CtapError::*;
        for (error, code) in [
            (InvalidCommand, 0x01),
            (CborUnexpectedType, 0x11),
            (InvalidCbor, 0x12),
            (MissingParameter, 0x14),
            (CredentialExcluded, 0x19),
            (UnsupportedAlgorithm, 0x26),
            (OperationDenied, 0x27),
            (KeyStoreFull, 0x28),
            (NoCredentials, 0x2E),
            (NotAllowed, 0x30),
            (RequestTooLarge, 0x39),
            (Other, 0x7F),
        ] {
            assert_eq!(error.code(), code, "{error:?}");
        }
    }

    #[test]
    fn codes_names_and_bytes_round_trip() {
        for e in CtapError::ALL {
            assert_eq!(CtapError::from_code(e.code()), Some(*e));
            assert_eq!(status_name(e.code()), e.name());
        }
        assert_eq!(CtapError::ALL.len(), 45);
        assert_eq!(CtapError::from_code(CTAP2_OK), None);
        assert_eq!(status_name(0x00), "CTAP2_OK");
        assert_eq!(status_name(0x27), "CTAP2_ERR_OPERATION_DENIED");
        assert_eq!(status_name(0xE3), "CTAP2_ERR_EXTENSION_x");
        assert_eq!(status_name(0xF0), "CTAP2_ERR_VENDOR_x");
        assert_eq!(status_name(0x16), "unknown CTAP status");
        assert_eq!(
            CtapError::InvalidCbor.to_string(),
            "CTAP2_ERR_INVALID_CBOR: the CBOR is malformed"
        );
    }
}
