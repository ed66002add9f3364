//! The string identifiers of CTAP 2.1: option ids (§6.4 `options`), extension ids (§12),
//! versions (§6.4 `versions`) and transports (WebAuthn §5.8.4, §6.4 `transports`).
//!
//! Each is an enum of the identifiers the specification defines, with the exact spelling in
//! [`as_str`](OptionId::as_str) and the reverse in [`parse`](OptionId::parse) (`None` for an
//! identifier the specification does not define: a host keeps such strings as they came, a
//! profile refuses them).

macro_rules! identifiers {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every identifier, in the specification's order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The identifier as the specification spells it.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            /// The identifier spelled `text`, if the specification defines it.
            pub fn parse(text: &str) -> Option<Self> {
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = UnknownIdentifier;

            fn from_str(text: &str) -> Result<Self, UnknownIdentifier> {
                Self::parse(text).ok_or_else(|| UnknownIdentifier {
                    kind: stringify!($name),
                    text: text.to_owned(),
                })
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }

        impl PartialEq<$name> for &str {
            fn eq(&self, other: &$name) -> bool {
                *self == other.as_str()
            }
        }
    };
}

/// A string that names no identifier of the kind asked for.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is no CTAP 2.1 {kind}")]
pub struct UnknownIdentifier {
    pub kind: &'static str,
    pub text: String,
}

identifiers! {
    /// An option id of getInfo's `options` map (CTAP 2.1 §6.4) or of a request's `options`
    /// (§6.1, §6.2: `rk`, `up`, `uv`).
    OptionId {
        /// Platform device (always false for a roaming authenticator).
        Plat = "plat",
        /// Discoverable credentials.
        Rk = "rk",
        /// clientPin: supported; true when a PIN is set.
        ClientPin = "clientPin",
        /// User presence.
        Up = "up",
        /// Built-in user verification.
        Uv = "uv",
        /// getPinUvAuthTokenUsing{Pin,Uv}WithPermissions.
        PinUvAuthToken = "pinUvAuthToken",
        /// noMcGaPermissionsWithClientPin.
        NoMcGaPermissionsWithClientPin = "noMcGaPermissionsWithClientPin",
        /// authenticatorLargeBlobs.
        LargeBlobs = "largeBlobs",
        /// Enterprise attestation (§7.1).
        Ep = "ep",
        /// authenticatorBioEnrollment.
        BioEnroll = "bioEnroll",
        /// The FIDO_2_1_PRE prototype of bioEnroll.
        UserVerificationMgmtPreview = "userVerificationMgmtPreview",
        /// Biometric enrollment under a pinUvAuthToken.
        UvBioEnroll = "uvBioEnroll",
        /// authenticatorConfig.
        AuthnrCfg = "authnrCfg",
        /// authenticatorConfig under a pinUvAuthToken from built-in UV.
        UvAcfg = "uvAcfg",
        /// authenticatorCredentialManagement.
        CredMgmt = "credMgmt",
        /// The FIDO_2_1_PRE prototype of credMgmt (command 0x41).
        CredentialMgmtPreview = "credentialMgmtPreview",
        /// authenticatorConfig setMinPINLength.
        SetMinPinLength = "setMinPINLength",
        /// makeCredential of non-discoverable credentials without UV.
        MakeCredUvNotRqd = "makeCredUvNotRqd",
        /// alwaysUv (§6.11.2).
        AlwaysUv = "alwaysUv",
    }
}

identifiers! {
    /// An extension identifier (CTAP 2.1 §12 "Defined Extensions").
    ExtensionId {
        /// Credential protection (§12.1).
        CredProtect = "credProtect",
        /// Credential blob (§12.2).
        CredBlob = "credBlob",
        /// Large blob key (§12.3).
        LargeBlobKey = "largeBlobKey",
        /// Minimum PIN length (§12.4).
        MinPinLength = "minPinLength",
        /// HMAC secret (§12.5).
        HmacSecret = "hmac-secret",
    }
}

identifiers! {
    /// A protocol version of getInfo's `versions` (CTAP 2.1 §6.4).
    Version {
        /// CTAP1/U2F.
        U2fV2 = "U2F_V2",
        /// CTAP 2.0.
        Fido20 = "FIDO_2_0",
        /// The CTAP 2.1 prototype (preview commands).
        Fido21Pre = "FIDO_2_1_PRE",
        /// CTAP 2.1.
        Fido21 = "FIDO_2_1",
    }
}

identifiers! {
    /// An AuthenticatorTransport (WebAuthn §5.8.4; CTAP 2.1 §6.4 `transports`).
    Transport {
        Usb = "usb",
        Nfc = "nfc",
        Ble = "ble",
        SmartCard = "smart-card",
        Hybrid = "hybrid",
        Internal = "internal",
    }
}

/// The only credential type WebAuthn defines (WebAuthn §5.8.2 PublicKeyCredentialType).
pub const PUBLIC_KEY: &str = "public-key";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_round_trip() {
        for o in OptionId::ALL {
            assert_eq!(OptionId::parse(o.as_str()), Some(*o));
        }
        for e in ExtensionId::ALL {
            assert_eq!(e.as_str().parse::<ExtensionId>(), Ok(*e));
        }
        assert_eq!(OptionId::SetMinPinLength.as_str(), "setMinPINLength");
        assert_eq!(ExtensionId::HmacSecret.as_str(), "hmac-secret");
        assert_eq!(Version::Fido21Pre.as_str(), "FIDO_2_1_PRE");
        assert_eq!(Transport::SmartCard.as_str(), "smart-card");
        assert_eq!(OptionId::parse("setMinPinLength"), None);
        assert!("bogus".parse::<Transport>().is_err());
        assert!(OptionId::Rk == "rk");
    }
}
