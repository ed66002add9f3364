//! Which crypto backend computes: the backends built into this binary, by name, and the
//! default (aws-lc when the `asm-crypto` feature built it in, else the pure-Rust one).

use std::fmt;
use std::str::FromStr;

use super::backend::CryptoBackend;

/// A crypto backend built into this binary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    /// Pure Rust (RustCrypto `p256`, `ed25519-dalek`): always built, the default without
    /// `asm-crypto`.
    RustCrypto,
    /// aws-lc-rs (AWS-LC, assembly): built with the cargo feature `asm-crypto`, and then the
    /// default.
    #[cfg(feature = "asm-crypto")]
    AwsLc,
}

impl Backend {
    /// Every backend built into this binary, the default first.
    pub const BUILT_IN: &'static [Backend] = &[
        #[cfg(feature = "asm-crypto")]
        Backend::AwsLc,
        Backend::RustCrypto,
    ];

    /// The name used on command lines, in logs and in benchmark ids.
    pub const fn name(self) -> &'static str {
        match self {
            Self::RustCrypto => "rustcrypto",
            #[cfg(feature = "asm-crypto")]
            Self::AwsLc => "aws-lc",
        }
    }

    /// The implementation.
    pub fn ops(self) -> &'static dyn CryptoBackend {
        match self {
            Self::RustCrypto => &super::rustcrypto::RustCrypto,
            #[cfg(feature = "asm-crypto")]
            Self::AwsLc => &super::aws_lc::AwsLc,
        }
    }

    /// The backends built in, by name, for messages (`"aws-lc, rustcrypto"`).
    pub fn built_in_names() -> String {
        Self::BUILT_IN
            .iter()
            .map(|b| b.name())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl Backend {
    /// The backend of a card whose randomness is seeded (`--seed`, trace replay): the pure-Rust
    /// one, whose ECDSA nonces are RFC 6979 (derived from the key and the message), so the same
    /// seed and requests give the same answers byte for byte; aws-lc draws its nonces from its own
    /// generator. Unseeded cards get [`Backend::default`].
    pub fn for_seeded(seeded: bool) -> Backend {
        if seeded {
            Backend::RustCrypto
        } else {
            Backend::default()
        }
    }
}

impl Default for Backend {
    /// aws-lc when built in, else the pure-Rust backend.
    fn default() -> Self {
        Self::BUILT_IN[0]
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The error of parsing a [`Backend`] name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("crypto backend {0:?} is not built in (built in: {built})", built = Backend::built_in_names())]
pub struct ParseBackendError(pub String);

impl FromStr for Backend {
    type Err = ParseBackendError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::BUILT_IN
            .iter()
            .copied()
            .find(|b| b.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| ParseBackendError(s.to_owned()))
    }
}
