//! The authenticator API's command bytes (CTAP 2.1 §6 "Authenticator API", the command table of
//! §6 and §6.12 "Prototype authenticatorBioEnrollment / authenticatorCredentialManagement").
//!
//! [`Command`] is the typed form; the `u8` constants below are the same values for `match`
//! patterns on a raw byte (they are derived from the enum, so each number is written once).

/// One table of the commands: each is listed once with its byte, its constant, the
/// specification's name and the short name platforms log; the macro makes [`Command`], its
/// `ALL`, `name`, `short_name` and the `u8` constants from it.
macro_rules! commands {
    ($($(#[doc = $doc:literal])+ $variant:ident = $byte:literal, $constant:ident, $name:literal, $short:literal;)+) => {
        /// A CTAP2 command (CTAP 2.1 §6).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum Command {
            $($(#[doc = $doc])+ $variant = $byte,)+
        }

        impl Command {
            /// Every command, in byte order.
            pub const ALL: [Command; [$(stringify!($variant)),+].len()] = [$(Command::$variant,)+];

            /// The command byte.
            pub const fn byte(self) -> u8 {
                self as u8
            }

            /// The specification's name ("authenticatorMakeCredential").
            pub const fn name(self) -> &'static str {
                match self {
                    $(Command::$variant => $name,)+
                }
            }

            /// The name as platforms log it, without the `authenticator` prefix
            /// ("makeCredential").
            pub const fn short_name(self) -> &'static str {
                match self {
                    $(Command::$variant => $short,)+
                }
            }
        }

        $(
            $(#[doc = $doc])+
            pub const $constant: u8 = Command::$variant.byte();
        )+
    };
}

commands! {
    /// authenticatorMakeCredential (§6.1).
    MakeCredential = 0x01, MAKE_CREDENTIAL, "authenticatorMakeCredential", "makeCredential";
    /// authenticatorGetAssertion (§6.2).
    GetAssertion = 0x02, GET_ASSERTION, "authenticatorGetAssertion", "getAssertion";
    /// authenticatorGetInfo (§6.4).
    GetInfo = 0x04, GET_INFO, "authenticatorGetInfo", "getInfo";
    /// authenticatorClientPIN (§6.5).
    ClientPin = 0x06, CLIENT_PIN, "authenticatorClientPIN", "clientPIN";
    /// authenticatorReset (§6.6).
    Reset = 0x07, RESET, "authenticatorReset", "reset";
    /// authenticatorGetNextAssertion (§6.3).
    GetNextAssertion = 0x08, GET_NEXT_ASSERTION, "authenticatorGetNextAssertion", "getNextAssertion";
    /// authenticatorBioEnrollment (§6.7).
    BioEnrollment = 0x09, BIO_ENROLLMENT, "authenticatorBioEnrollment", "bioEnrollment";
    /// authenticatorCredentialManagement (§6.8).
    CredentialManagement = 0x0A, CREDENTIAL_MANAGEMENT, "authenticatorCredentialManagement", "credentialManagement";
    /// authenticatorSelection (§6.9).
    Selection = 0x0B, SELECTION, "authenticatorSelection", "selection";
    /// authenticatorLargeBlobs (§6.10).
    LargeBlobs = 0x0C, LARGE_BLOBS, "authenticatorLargeBlobs", "largeBlobs";
    /// authenticatorConfig (§6.11).
    Config = 0x0D, CONFIG, "authenticatorConfig", "config";
    /// The FIDO_2_1_PRE prototype of authenticatorBioEnrollment (§6.12).
    BioEnrollmentPreview = 0x40, BIO_ENROLLMENT_PREVIEW, "authenticatorBioEnrollment (preview)", "bioEnrollment (preview)";
    /// The FIDO_2_1_PRE prototype of authenticatorCredentialManagement (§6.12).
    CredentialManagementPreview = 0x41, CREDENTIAL_MANAGEMENT_PREVIEW, "authenticatorCredentialManagement (preview)", "credentialManagement (preview)";
}

/// A byte that is no CTAP 2.1 command (the card answers CTAP1_ERR_INVALID_COMMAND, §8.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("0x{0:02X} is not a CTAP 2.1 command")]
pub struct UnknownCommand(pub u8);

impl TryFrom<u8> for Command {
    type Error = UnknownCommand;

    fn try_from(byte: u8) -> Result<Self, UnknownCommand> {
        Command::ALL
            .into_iter()
            .find(|c| c.byte() == byte)
            .ok_or(UnknownCommand(byte))
    }
}

impl From<Command> for u8 {
    fn from(c: Command) -> u8 {
        c.byte()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip_and_gaps_are_refused() {
        assert_eq!(Command::ALL.len(), 13);
        for c in Command::ALL {
            assert_eq!(Command::try_from(c.byte()), Ok(c));
        }
        assert_eq!(GET_INFO, 0x04);
        assert_eq!(CREDENTIAL_MANAGEMENT_PREVIEW, 0x41);
        assert_eq!(Command::GetInfo.short_name(), "getInfo");
        assert_eq!(Command::ClientPin.short_name(), "clientPIN");
        assert_eq!(Command::Config.short_name(), "config");
        assert_eq!(
            Command::CredentialManagementPreview.short_name(),
            "credentialManagement (preview)"
        );
        for gap in [0x00, 0x03, 0x05, 0x0E, 0x3F, 0x42, 0xFF] {
            assert_eq!(Command::try_from(gap), Err(UnknownCommand(gap)));
        }
    }
}
