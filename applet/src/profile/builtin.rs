//! The built-in profiles: TOML documents in `applet/profiles/`, compiled into the binary and
//! loaded (validated) once. The unit tests load every one, so a broken built-in fails the build's
//! tests rather than a user's start-up.

use std::sync::OnceLock;

use super::Profile;

/// The built-in profiles, as TOML compiled into the binary. The first is the default.
pub(super) const BUILTIN_SOURCES: &[(&str, &str)] = &[
    ("generic", include_str!("../../profiles/generic.toml")),
    (
        "hid-crescendo-c2300",
        include_str!("../../profiles/hid-crescendo-c2300.toml"),
    ),
    (
        "hid-crescendo-key",
        include_str!("../../profiles/hid-crescendo-key.toml"),
    ),
    (
        "hid-crescendo-key-v2",
        include_str!("../../profiles/hid-crescendo-key-v2.toml"),
    ),
    (
        "hid-crescendo-c3000",
        include_str!("../../profiles/hid-crescendo-c3000.toml"),
    ),
    (
        "thales-idprime-3940",
        include_str!("../../profiles/thales-idprime-3940.toml"),
    ),
];

/// The generic profile's AAGUID, f4804184-aeeb-4851-82ac-5e273de2e0a1: a random (version 4) UUID
/// drawn once for this project. It identifies no real product and appears in no FIDO metadata,
/// so relying parties that only trust MDS-listed models will treat the card as unknown.
pub const GENERIC_AAGUID: [u8; 16] = [
    0xf4, 0x80, 0x41, 0x84, 0xae, 0xeb, 0x48, 0x51, 0x82, 0xac, 0x5e, 0x27, 0x3d, 0xe2, 0xe0, 0xa1,
];

/// Historical bytes of the generic card (ISO/IEC 7816-4 §8.1.1): category indicator 0x80
/// (COMPACT-TLV follows), then tag 5 "card issuer's data", length 6, "VFIDO2".
pub const GENERIC_HISTORICAL_BYTES: [u8; 8] = [0x80, 0x56, b'V', b'F', b'I', b'D', b'O', b'2'];

impl Profile {
    /// The default profile: a full CTAP 2.1 contactless card (`applet/profiles/generic.toml`).
    pub fn generic() -> Self {
        Self::builtin("generic").unwrap_or_else(|| unreachable!("generic.toml is built in"))
    }

    /// Every built-in profile, the generic one first.
    pub fn all() -> Vec<Self> {
        builtins().to_vec()
    }

    /// The built-in profile called `id`.
    pub fn builtin(id: &str) -> Option<Self> {
        builtins().iter().find(|profile| profile.id == id).cloned()
    }

    /// The TOML document of the built-in profile `id`, e.g. to start a custom profile from.
    pub fn builtin_source(id: &str) -> Option<&'static str> {
        BUILTIN_SOURCES
            .iter()
            .find(|(name, _)| *name == id)
            .map(|(_, text)| *text)
    }
}

/// The built-in profiles, parsed once.
fn builtins() -> &'static [Profile] {
    static BUILTINS: OnceLock<Vec<Profile>> = OnceLock::new();
    BUILTINS.get_or_init(|| {
        BUILTIN_SOURCES
            .iter()
            .map(|(name, text)| {
                // Compiled-in data, checked by the unit tests: a failure here is a build error
                // that slipped through, not bad input.
                Profile::parse(text, &format!("built-in {name}.toml"))
                    .unwrap_or_else(|e| panic!("{e}"))
            })
            .collect()
    })
}
