//! Card-quirk personas: an overlay of interface quirks on any profile, from the command line
//! (`--quirk short-only --quirk chunk=128`) or a TOML file (`--quirks FILE`), so one card model
//! can be served the way another card family talks.
//!
//! A [`Persona`] only *names* overrides; [`Profile::with_persona`] applies them and validates the
//! result like any profile ([`Profile::validate`]), so an invalid combination (a short-only card
//! with 4096-byte response chunks, a buffer smaller than maxMsgSize, status updates on a CTAP 2.0
//! card) is refused when it loads, naming the field, and cannot be served. The quirks themselves
//! live in the ISO runtime as typed data ([`apdu::Quirks`], [`apdu::CardConfig`]); only
//! `processing_budget_ms` (CTAP 2.1 §11.3's status updates) is the applet's.
//!
//! Overlay file keys (each optional; the profile's value when absent):
//!
//! ```toml
//! extended_length = false      # short APDUs only (6700 for an extended one)
//! max_command_data = 2048      # APDU buffer after chaining
//! max_response_chunk = 128     # response data per APDU before 61XX
//! processing_budget_ms = 500   # 9100 status updates after this long (CTAP 2.1 cards)
//! wrong_le = "6cxx"            # "chain" (default) or "6cxx"
//! get_response_cla = "00"      # "any" (default) or "00": GET RESPONSE with CLA 80 gets 6E00
//! processing_delay_ms = 200    # every command takes this long
//! ```

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{Profile, ProfileError, contactless_atr};

/// `From` both ways between a document enum and the `apdu` enum it spells, variant for variant.
macro_rules! same_variants {
    ($ours:ident, apdu::$theirs:ident, [$($variant:ident),+]) => {
        impl From<$ours> for apdu::$theirs {
            fn from(value: $ours) -> Self {
                match value {
                    $($ours::$variant => Self::$variant,)+
                }
            }
        }

        impl From<apdu::$theirs> for $ours {
            fn from(value: apdu::$theirs) -> Self {
                match value {
                    $(apdu::$theirs::$variant => Self::$variant,)+
                }
            }
        }
    };
}

/// A short command whose Le is too small: the document's spelling of [`apdu::WrongLe`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum LeRule {
    /// The first Le bytes and 61XX.
    #[default]
    #[serde(rename = "chain")]
    Chain,
    /// 6CXX, ISO/IEC 7816-4 §5.6.
    #[serde(rename = "6cxx")]
    Correct,
}

same_variants!(LeRule, apdu::WrongLe, [Chain, Correct]);

/// GET RESPONSE's classes: the document's spelling of [`apdu::GetResponseCla`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum GetResponseClass {
    /// CLA 00 and 80.
    #[default]
    #[serde(rename = "any")]
    Any,
    /// CLA 00 only.
    #[serde(rename = "00")]
    InterindustryOnly,
}

same_variants!(
    GetResponseClass,
    apdu::GetResponseCla,
    [Any, InterindustryOnly]
);

/// Overrides of a profile's interface, each `None` when the profile's value stands.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Persona {
    /// Extended-length APDUs accepted.
    pub extended_length: Option<bool>,
    /// The APDU buffer after chaining.
    pub max_command_data: Option<usize>,
    /// Response data per APDU before 61XX.
    pub max_response_chunk: Option<usize>,
    /// CTAP 2.1 §11.3 status-update budget (0: never 9100).
    pub processing_budget_ms: Option<u64>,
    /// 6CXX or 61XX for a too small Le.
    pub wrong_le: Option<LeRule>,
    /// GET RESPONSE's classes.
    pub get_response_cla: Option<GetResponseClass>,
    /// A fixed delay before every answer.
    pub processing_delay_ms: Option<u32>,
}

/// The `--quirk` names, with what they set (for `--help` and errors).
pub const QUIRKS: &[(&str, &str)] = &[
    (
        "short-only",
        "extended_length = false (and response chunks of at most 256 bytes)",
    ),
    ("extended", "extended_length = true"),
    ("chunk=N", "max_response_chunk = N"),
    ("buffer=N", "max_command_data = N"),
    ("budget=MS", "processing_budget_ms = MS"),
    ("le-6cxx", "wrong_le = \"6cxx\""),
    ("no-cla80-get-response", "get_response_cla = \"00\""),
    ("delay=MS", "processing_delay_ms = MS"),
];

/// A `--quirk` or overlay file that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum PersonaError {
    #[error("unknown quirk {0:?}; known: {known}", known = QUIRKS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", "))]
    Unknown(String),
    #[error("quirk {name}: {value:?} is not a number")]
    NotANumber { name: String, value: String },
    #[error("cannot read the quirks file {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("quirks file {path}: {message}")]
    Parse { path: String, message: String },
}

impl Persona {
    /// Whether nothing is overridden.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// An overlay document (TOML; keys in the module docs).
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Self, PersonaError> {
        toml::from_str(text).map_err(|e| PersonaError::Parse {
            path: origin.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })
    }

    /// Loads an overlay file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, PersonaError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| PersonaError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_toml_str(&text, &path.display().to_string())
    }

    /// Adds one `--quirk` (see [`QUIRKS`]); a later quirk overrides an earlier one.
    pub fn add_quirk(&mut self, quirk: &str) -> Result<(), PersonaError> {
        let (name, value) = match quirk.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.trim())),
            None => (quirk.trim(), None),
        };
        let number = |value: Option<&str>| -> Result<u64, PersonaError> {
            let text = value.unwrap_or_default();
            text.parse().map_err(|_| PersonaError::NotANumber {
                name: name.to_owned(),
                value: text.to_owned(),
            })
        };
        let too_big = |n: u64| PersonaError::NotANumber {
            name: name.to_owned(),
            value: n.to_string(),
        };
        match (name, value) {
            ("short-only", None) => self.extended_length = Some(false),
            ("extended", None) => self.extended_length = Some(true),
            ("chunk", v @ Some(_)) => {
                let n = number(v)?;
                self.max_response_chunk = Some(usize::try_from(n).map_err(|_| too_big(n))?);
            }
            ("buffer", v @ Some(_)) => {
                let n = number(v)?;
                self.max_command_data = Some(usize::try_from(n).map_err(|_| too_big(n))?);
            }
            ("budget", v @ Some(_)) => self.processing_budget_ms = Some(number(v)?),
            ("le-6cxx", None) => self.wrong_le = Some(LeRule::Correct),
            ("no-cla80-get-response", None) => {
                self.get_response_cla = Some(GetResponseClass::InterindustryOnly)
            }
            ("delay", v @ Some(_)) => {
                let n = number(v)?;
                self.processing_delay_ms = Some(u32::try_from(n).map_err(|_| too_big(n))?);
            }
            _ => return Err(PersonaError::Unknown(quirk.to_owned())),
        }
        Ok(())
    }

    /// `self` with every override `later` makes on top (command-line quirks over a file).
    pub fn then(self, later: &Persona) -> Persona {
        Persona {
            extended_length: later.extended_length.or(self.extended_length),
            max_command_data: later.max_command_data.or(self.max_command_data),
            max_response_chunk: later.max_response_chunk.or(self.max_response_chunk),
            processing_budget_ms: later.processing_budget_ms.or(self.processing_budget_ms),
            wrong_le: later.wrong_le.or(self.wrong_le),
            get_response_cla: later.get_response_cla.or(self.get_response_cla),
            processing_delay_ms: later.processing_delay_ms.or(self.processing_delay_ms),
        }
    }
}

impl Profile {
    /// This profile with `persona`'s overrides, validated as a whole.
    ///
    /// Two values follow from the overrides so that the card stays self-consistent:
    /// - `short-only` without an explicit chunk caps `max_response_chunk` at 256 (a short Le
    ///   cannot ask for more);
    /// - when `extended_length` is set and the historical bytes are COMPACT-TLV (ISO/IEC 7816-4
    ///   §8.1.1), their card-capabilities object (§8.1.1.2.7) is set to agree — added when
    ///   missing and there is room — and the ATR recomputed, so a host reading the ATR is told
    ///   the truth. Historical bytes of another form claim nothing and stay.
    pub fn with_persona(mut self, persona: &Persona) -> Result<Profile, ProfileError> {
        let fail = |profile: &Profile, field: &'static str, reason: String| ProfileError {
            profile: profile.id.clone(),
            field,
            reason,
        };
        if let Some(extended) = persona.extended_length {
            self.extended_length = extended;
            if !extended && persona.max_response_chunk.is_none() {
                self.max_response_chunk = self.max_response_chunk.min(256);
            }
            if let Some(historical) = self.historical_bytes.clone() {
                match apdu::atr::with_extended_length(&historical, extended) {
                    Ok(updated) => {
                        self.atr = contactless_atr(&updated);
                        self.historical_bytes = Some(updated);
                    }
                    Err(apdu::atr::CapabilitiesError::NotCompactTlv) => {}
                    Err(e) if apdu::atr::declares_extended_length(&historical).is_some() => {
                        return Err(fail(&self, "historical_bytes", e.to_string()));
                    }
                    // No room to add a claim: the ATR claims nothing, which is not a lie.
                    Err(_) => {}
                }
            }
        }
        if let Some(n) = persona.max_command_data {
            self.max_command_data = n;
        }
        if let Some(n) = persona.max_response_chunk {
            self.max_response_chunk = n;
        }
        if let Some(ms) = persona.processing_budget_ms {
            self.processing_budget_ms = ms;
        }
        if let Some(rule) = persona.wrong_le {
            self.quirks.wrong_le = rule.into();
        }
        if let Some(class) = persona.get_response_cla {
            self.quirks.get_response_cla = class.into();
        }
        if let Some(ms) = persona.processing_delay_ms {
            self.quirks.processing_delay_ms = ms;
        }
        self.validate()?;
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn persona(quirks: &[&str]) -> Persona {
        let mut p = Persona::default();
        for q in quirks {
            p.add_quirk(q).expect("known quirk");
        }
        p
    }

    #[test]
    fn quirks_parse_and_apply() {
        let p = persona(&[
            "short-only",
            "chunk=128",
            "le-6cxx",
            "no-cla80-get-response",
            "delay=20",
            "budget=0",
        ]);
        let card = Profile::generic().with_persona(&p).expect("valid");
        assert!(!card.extended_length);
        assert_eq!(card.max_response_chunk, 128);
        assert_eq!(card.processing_budget_ms, 0);
        let config = card.card_config();
        assert_eq!(config.quirks.wrong_le, apdu::WrongLe::Correct);
        assert_eq!(
            config.quirks.get_response_cla,
            apdu::GetResponseCla::InterindustryOnly
        );
        assert_eq!(config.quirks.processing_delay_ms, 20);
        // The ATR now says "no extended Lc/Le" in its card capabilities.
        let historical = card.historical_bytes.clone().expect("generic has them");
        assert_eq!(
            apdu::atr::declares_extended_length(&historical),
            Some(false)
        );
        assert_eq!(card.atr, contactless_atr(&historical));
        assert!(Persona::default().is_empty() && !p.is_empty());
    }

    #[test]
    fn short_only_caps_the_chunk_and_extended_claims_it_in_the_atr() {
        let card = Profile::generic()
            .with_persona(&persona(&["short-only"]))
            .expect("valid");
        assert_eq!(card.max_response_chunk, 256);
        let back = card.with_persona(&persona(&["extended"])).expect("valid");
        assert!(back.extended_length);
        let historical = back.historical_bytes.expect("historical");
        assert_eq!(apdu::atr::declares_extended_length(&historical), Some(true));
    }

    #[test]
    fn invalid_combinations_are_refused_naming_the_field() {
        let c2300 = Profile::builtin("hid-crescendo-c2300").expect("built in");
        for (profile, quirks, field) in [
            // Short-only with big chunks.
            (
                Profile::generic(),
                &["short-only", "chunk=4096"][..],
                "max_response_chunk",
            ),
            // A buffer below maxMsgSize.
            (Profile::generic(), &["buffer=100"], "max_command_data"),
            // Status updates on a CTAP 2.0 card.
            (c2300, &["budget=100"], "processing_budget_ms"),
            // Too slow.
            (Profile::generic(), &["delay=60001"], "processing_delay_ms"),
        ] {
            let err = profile
                .with_persona(&persona(quirks))
                .expect_err("an invalid combination");
            assert_eq!(err.field, field, "{quirks:?}");
        }
    }

    #[test]
    fn a_non_tlv_atr_is_left_alone() {
        let c2300 = Profile::builtin("hid-crescendo-c2300").expect("built in");
        let atr = c2300.atr.clone();
        let card = c2300.with_persona(&persona(&["extended"])).expect("valid");
        assert_eq!(card.atr, atr, "ASCII historical bytes claim nothing");
    }

    #[test]
    fn bad_quirks_and_files() {
        let mut p = Persona::default();
        assert!(matches!(p.add_quirk("warp"), Err(PersonaError::Unknown(_))));
        assert!(matches!(
            p.add_quirk("chunk"),
            Err(PersonaError::Unknown(_))
        ));
        assert!(matches!(
            p.add_quirk("chunk=x"),
            Err(PersonaError::NotANumber { .. })
        ));
        assert!(matches!(
            p.add_quirk("short-only=1"),
            Err(PersonaError::Unknown(_))
        ));
        let file = Persona::from_toml_str(
            "extended_length = false\nmax_response_chunk = 64\nwrong_le = \"6cxx\"\nget_response_cla = \"00\"\nprocessing_delay_ms = 5\n",
            "test",
        )
        .expect("valid overlay");
        assert_eq!(file.max_response_chunk, Some(64));
        assert_eq!(file.wrong_le, Some(LeRule::Correct));
        assert!(Persona::from_toml_str("chunk = 5\n", "test").is_err());
        assert!(Persona::from_toml_str("wrong_le = \"6d\"\n", "test").is_err());
        // Command-line quirks win over the file.
        let merged = file.then(&persona(&["chunk=200", "extended"]));
        assert_eq!(merged.max_response_chunk, Some(200));
        assert_eq!(merged.extended_length, Some(true));
        assert_eq!(merged.wrong_le, Some(LeRule::Correct));
    }
}
