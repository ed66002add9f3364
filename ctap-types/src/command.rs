//! The authenticator API's command bytes (CTAP 2.1 §6 "Authenticator API", the command table of
//! §6 and §6.12 "Prototype authenticatorBioEnrollment / authenticatorCredentialManagement").
//!
//! [`Command`] is the typed form; the `u8` constants below are the same values for `match`
//! patterns on a raw byte (they are derived from the enum, so each number is written once).

/// A CTAP2 command (CTAP 2.1 §6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Command {
    /// authenticatorMakeCredential (§6.1).
    MakeCredential = 0x01,
    /// authenticatorGetAssertion (§6.2).
    GetAssertion = 0x02,
    /// authenticatorGetInfo (§6.4).
    GetInfo = 0x04,
    /// authenticatorClientPIN (§6.5).
    ClientPin = 0x06,
    /// authenticatorReset (§6.6).
    Reset = 0x07,
    /// authenticatorGetNextAssertion (§6.3).
    GetNextAssertion = 0x08,
    /// authenticatorBioEnrollment (§6.7).
    BioEnrollment = 0x09,
    /// authenticatorCredentialManagement (§6.8).
    CredentialManagement = 0x0A,
    /// authenticatorSelection (§6.9).
    Selection = 0x0B,
    /// authenticatorLargeBlobs (§6.10).
    LargeBlobs = 0x0C,
    /// authenticatorConfig (§6.11).
    Config = 0x0D,
    /// The FIDO_2_1_PRE prototype of authenticatorBioEnrollment (§6.12).
    BioEnrollmentPreview = 0x40,
    /// The FIDO_2_1_PRE prototype of authenticatorCredentialManagement (§6.12).
    CredentialManagementPreview = 0x41,
}

impl Command {
    /// Every command, in byte order.
    pub const ALL: [Command; 13] = [
        Command::MakeCredential,
        Command::GetAssertion,
        Command::GetInfo,
        Command::ClientPin,
        Command::Reset,
        Command::GetNextAssertion,
        Command::BioEnrollment,
        Command::CredentialManagement,
        Command::Selection,
        Command::LargeBlobs,
        Command::Config,
        Command::BioEnrollmentPreview,
        Command::CredentialManagementPreview,
    ];

    /// The command byte.
    pub const fn byte(self) -> u8 {
        self as u8
    }

    /// The specification's name ("authenticatorMakeCredential").
    pub const fn name(self) -> &'static str {
        match self {
            Command::MakeCredential => "authenticatorMakeCredential",
            Command::GetAssertion => "authenticatorGetAssertion",
            Command::GetInfo => "authenticatorGetInfo",
            Command::ClientPin => "authenticatorClientPIN",
            Command::Reset => "authenticatorReset",
            Command::GetNextAssertion => "authenticatorGetNextAssertion",
            Command::BioEnrollment => "authenticatorBioEnrollment",
            Command::CredentialManagement => "authenticatorCredentialManagement",
            Command::Selection => "authenticatorSelection",
            Command::LargeBlobs => "authenticatorLargeBlobs",
            Command::Config => "authenticatorConfig",
            Command::BioEnrollmentPreview => "authenticatorBioEnrollment (preview)",
            Command::CredentialManagementPreview => "authenticatorCredentialManagement (preview)",
        }
    }

    /// The name as platforms log it, without the `authenticator` prefix ("makeCredential").
    pub const fn short_name(self) -> &'static str {
        match self {
            Command::MakeCredential => "makeCredential",
            Command::GetAssertion => "getAssertion",
            Command::GetInfo => "getInfo",
            Command::ClientPin => "clientPIN",
            Command::Reset => "reset",
            Command::GetNextAssertion => "getNextAssertion",
            Command::BioEnrollment => "bioEnrollment",
            Command::CredentialManagement => "credentialManagement",
            Command::Selection => "selection",
            Command::LargeBlobs => "largeBlobs",
            Command::Config => "config",
            Command::BioEnrollmentPreview => "bioEnrollment (preview)",
            Command::CredentialManagementPreview => "credentialManagement (preview)",
        }
    }
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

pub const MAKE_CREDENTIAL: u8 = Command::MakeCredential.byte();
pub const GET_ASSERTION: u8 = Command::GetAssertion.byte();
pub const GET_INFO: u8 = Command::GetInfo.byte();
pub const CLIENT_PIN: u8 = Command::ClientPin.byte();
pub const RESET: u8 = Command::Reset.byte();
pub const GET_NEXT_ASSERTION: u8 = Command::GetNextAssertion.byte();
pub const BIO_ENROLLMENT: u8 = Command::BioEnrollment.byte();
pub const CREDENTIAL_MANAGEMENT: u8 = Command::CredentialManagement.byte();
pub const SELECTION: u8 = Command::Selection.byte();
pub const LARGE_BLOBS: u8 = Command::LargeBlobs.byte();
pub const CONFIG: u8 = Command::Config.byte();
pub const BIO_ENROLLMENT_PREVIEW: u8 = Command::BioEnrollmentPreview.byte();
pub const CREDENTIAL_MANAGEMENT_PREVIEW: u8 = Command::CredentialManagementPreview.byte();

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip_and_gaps_are_refused() {
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
