//! What a fault is: a condition it fires on and an action, as data that reads from TOML (the
//! `--faults` file) and JSON (the control endpoint) alike.
//!
//! ```toml
//! [[fault]]
//! on = { apdu = 3 }                          # the 3rd APDU after arming
//! action = { status = "6F00" }
//!
//! [[fault]]
//! slot = 1                                   # only card 1 (default: every card)
//! on = { ctap = "makeCredential" }           # the next NFCCTAP_MSG carrying this command
//! action = { power_cut = { write = 1 } }
//! ```
//!
//! The same fault in JSON: `{"on": {"ctap": "makeCredential"}, "action": {"power_cut": {"write": 1}}}`.

use std::fmt;
use std::num::{NonZeroU64, NonZeroUsize};
use std::str::FromStr;

use ctap_types::Command as CtapCommand;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// How long a removed card stays out of the field unless the fault says otherwise: longer
/// than pcscd's 400 ms presence poll, so the host sees the card go and come back.
pub const DEFAULT_AWAY_MS: u64 = 1500;
/// The longest a fault may delay, hold or keep a card away (10 minutes).
pub const MAX_FAULT_MS: u64 = 600_000;

/// One fault: armed on a card, it fires once on its condition, then disarms.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// The card it is armed on (its trace slot); `None`: every card of the `--faults` file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot: Option<u16>,
    /// When it fires.
    pub on: Condition,
    /// What it does.
    pub action: Action,
}

/// When a fault fires. APDUs are counted per card from the moment the fault is armed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Condition {
    /// The Nth command APDU after arming (1: the next one), whatever it is.
    Apdu(NonZeroU64),
    /// The next command APDU with this INS (hex string `"C0"` or a number).
    Ins(#[serde(with = "hex")] u8),
    /// The next CTAP command of this kind (ctap-types' names: `makeCredential`,
    /// `getAssertion`, `getInfo`, `clientPIN`, `reset`, ...): an NFCCTAP_MSG (CTAP 2.1 §11.3)
    /// that starts a command, i.e. is not the continuation of a chain.
    Ctap(#[serde(with = "ctap_name")] CtapCommand),
}

/// Where a removal happens.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RemovalPoint {
    /// The card processes the command, then leaves before the answer goes out (a chained
    /// command: at its last link, where the work is done).
    #[default]
    Answer,
    /// Between two links of a command chain (ISO/IEC 7816-4 §5.3.3): the card leaves when the
    /// next link after the condition arrives, before processing it.
    Chain,
    /// Between two pieces of a long answer (61XX, GET RESPONSE, §5.3.4): the card leaves when
    /// the next GET RESPONSE after the condition arrives.
    GetResponse,
}

/// What a fault does when it fires.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// Answer this status word (hex, `"6F00"`) instead; the command does not reach the card.
    Status(#[serde(with = "hex")] u16),
    /// Answer this many milliseconds late (the card does the work first).
    DelayMs(u64),
    /// Never answer: the command does not reach the card and the host waits for its own
    /// timeout. After `remove_after_ms` (if given), when the faults are reset, or when the
    /// vpcd connection ends, the card leaves the field for `away_ms`; it stays silent until
    /// then.
    NoAnswer(Silence),
    /// The card leaves the field (see [`RemovalPoint`]) for `away_ms`, then comes back with a
    /// new power-up.
    Remove(Removal),
    /// Power is cut at the `write`th storage write of the command (1 = its first): that write
    /// and every later one of the command fail as a power loss does, the card leaves the field
    /// for `away_ms` and powers up again with the state of before the cut write. A chained
    /// command is cut at its last link, where the work is done. A command that writes fewer
    /// times is answered normally.
    PowerCut(PowerCut),
    /// XOR one byte of the answer — data and status word as sent — with `mask`, after the card
    /// computed it: byte `byte` counted from 0, or the last one when the answer is shorter.
    Flip(Flip),
}

/// [`Action::NoAnswer`]'s parameters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Silence {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remove_after_ms: Option<u64>,
    #[serde(default = "default_away")]
    pub away_ms: u64,
}

/// [`Action::Remove`]'s parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Removal {
    #[serde(default)]
    pub at: RemovalPoint,
    #[serde(default = "default_away")]
    pub away_ms: u64,
}

/// [`Action::PowerCut`]'s parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PowerCut {
    pub write: NonZeroUsize,
    #[serde(default = "default_away")]
    pub away_ms: u64,
}

/// [`Action::Flip`]'s parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Flip {
    #[serde(default)]
    pub byte: usize,
    #[serde(default = "default_mask", with = "hex")]
    pub mask: u8,
}

fn default_away() -> u64 {
    DEFAULT_AWAY_MS
}

fn default_mask() -> u8 {
    0xFF
}

/// A fault that cannot be armed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FaultError {
    #[error("{0}")]
    Invalid(String),
    #[error("no card in slot {0}")]
    NoSuchSlot(u16),
    #[error("{0}")]
    Parse(String),
}

impl FaultSpec {
    /// Checks what the types cannot: times within bounds, a flip that changes something, a
    /// removal between GET RESPONSE pieces that can fire.
    pub fn check(&self) -> Result<(), FaultError> {
        let bounded = |what: &str, ms: u64| {
            if ms > MAX_FAULT_MS {
                Err(FaultError::Invalid(format!(
                    "{what} {ms} ms is above the {MAX_FAULT_MS} ms limit"
                )))
            } else {
                Ok(())
            }
        };
        match self.action {
            Action::Status(sw) => {
                // ISO/IEC 7816-4 §5.6: SW1 is 6X or 9X.
                if !matches!(sw >> 12, 0x6 | 0x9) || sw >> 8 == 0x60 {
                    return Err(FaultError::Invalid(format!(
                        "{sw:04X} is no status word (ISO/IEC 7816-4 §5.6: SW1 6X other than 60, or 9X)"
                    )));
                }
            }
            Action::DelayMs(ms) => bounded("delay_ms", ms)?,
            Action::NoAnswer(s) => {
                bounded("remove_after_ms", s.remove_after_ms.unwrap_or(0))?;
                bounded("away_ms", s.away_ms)?;
            }
            Action::Remove(r) => bounded("away_ms", r.away_ms)?,
            Action::PowerCut(p) => bounded("away_ms", p.away_ms)?,
            Action::Flip(f) => {
                if f.mask == 0 {
                    return Err(FaultError::Invalid("flip mask 00 changes nothing".into()));
                }
            }
        }
        Ok(())
    }

    /// Reads a fault from JSON (the control endpoint's `fault` command).
    pub fn from_json(text: &str) -> Result<Self, FaultError> {
        let spec: Self =
            serde_json::from_str(text).map_err(|e| FaultError::Parse(format!("fault: {e}")))?;
        spec.check()?;
        Ok(spec)
    }

    /// The fault as one line of JSON (traces, status).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("\"unserializable fault: {e}\""))
    }
}

/// A `--faults` file: `[[fault]]` tables.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultFile {
    #[serde(default)]
    pub fault: Vec<FaultSpec>,
}

impl FromStr for FaultFile {
    type Err = FaultError;

    /// Parses and checks every fault; errors say which (`fault 2: ...`).
    fn from_str(text: &str) -> Result<Self, FaultError> {
        let file: Self = toml::from_str(text)
            .map_err(|e| FaultError::Parse(e.to_string().trim_end().to_owned()))?;
        for (i, spec) in file.fault.iter().enumerate() {
            spec.check()
                .map_err(|e| FaultError::Invalid(format!("fault {}: {e}", i + 1)))?;
        }
        Ok(file)
    }
}

impl fmt::Display for FaultSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_json())
    }
}

/// A byte (`"C0"`) or a status word (`"6F00"`) as a hex string of its width when written; a
/// hex string of that width or a number when read.
mod hex {
    use super::*;

    /// An unsigned number written as `DIGITS` hex digits.
    pub trait Hex: Copy + Into<u64> + TryFrom<u64> {
        const DIGITS: usize;
        /// What it holds, for errors ("a byte").
        const WIDTH: &'static str;
    }

    impl Hex for u8 {
        const DIGITS: usize = 2;
        const WIDTH: &'static str = "a byte";
    }

    impl Hex for u16 {
        const DIGITS: usize = 4;
        const WIDTH: &'static str = "two bytes";
    }

    pub fn serialize<T: Hex, S: Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
        let n: u64 = (*v).into();
        s.serialize_str(&format!("{n:0digits$X}", digits = T::DIGITS))
    }

    pub fn deserialize<'de, T: Hex, D: Deserializer<'de>>(d: D) -> Result<T, D::Error> {
        let n = HexOrNumber::deserialize(d)?.value::<D::Error>(T::DIGITS)?;
        T::try_from(n).map_err(|_| D::Error::custom(format!("{n} does not fit {}", T::WIDTH)))
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum HexOrNumber {
        Number(u64),
        Text(String),
    }

    impl HexOrNumber {
        fn value<E: serde::de::Error>(self, digits: usize) -> Result<u64, E> {
            match self {
                Self::Number(n) => Ok(n),
                Self::Text(t) => {
                    let t = t.trim();
                    if t.len() != digits || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
                        return Err(E::custom(format!("{t:?} is not {digits} hex digits")));
                    }
                    u64::from_str_radix(t, 16).map_err(E::custom)
                }
            }
        }
    }
}

/// A CTAP command by its ctap-types short name (`makeCredential`).
mod ctap_name {
    use super::*;

    pub fn serialize<S: Serializer>(v: &CtapCommand, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(v.short_name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<CtapCommand, D::Error> {
        let name = String::deserialize(d)?;
        CtapCommand::ALL
            .into_iter()
            .find(|c| c.short_name() == name)
            .ok_or_else(|| {
                let known: Vec<&str> = CtapCommand::ALL.iter().map(|c| c.short_name()).collect();
                D::Error::custom(format!("unknown CTAP command {name:?}; known: {known:?}"))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_reads_from_toml_and_json_the_same() {
        let text = r#"
[[fault]]
on = { apdu = 3 }
action = { status = "6F00" }

[[fault]]
slot = 1
on = { ins = "C0" }
action = { delay_ms = 250 }

[[fault]]
on = { ctap = "getAssertion" }
action = { no_answer = { remove_after_ms = 2000 } }

[[fault]]
on = { ins = 16 }
action = { remove = { at = "chain", away_ms = 900 } }

[[fault]]
on = { ctap = "makeCredential" }
action = { power_cut = { write = 2 } }

[[fault]]
on = { apdu = 1 }
action = { flip = { byte = 0, mask = "01" } }
"#;
        let file: FaultFile = text.parse().expect("valid file");
        assert_eq!(file.fault.len(), 6);
        assert_eq!(file.fault[0].action, Action::Status(0x6F00));
        assert_eq!(file.fault[1].slot, Some(1));
        assert_eq!(file.fault[1].on, Condition::Ins(0xC0));
        assert_eq!(file.fault[3].on, Condition::Ins(0x10));
        assert_eq!(
            file.fault[2].action,
            Action::NoAnswer(Silence {
                remove_after_ms: Some(2000),
                away_ms: DEFAULT_AWAY_MS
            })
        );
        assert_eq!(
            file.fault[4].on,
            Condition::Ctap(CtapCommand::MakeCredential)
        );
        for spec in &file.fault {
            let json = spec.to_json();
            assert_eq!(
                &FaultSpec::from_json(&json).expect("round trip"),
                spec,
                "{json}"
            );
        }
        // Hex values are written at their width.
        assert_eq!(
            FaultSpec {
                slot: None,
                on: Condition::Ins(0x0C),
                action: Action::Status(0x9000),
            }
            .to_json(),
            r#"{"on":{"ins":"0C"},"action":{"status":"9000"}}"#
        );
        let spec = FaultSpec::from_json(
            r#"{"on": {"ctap": "makeCredential"}, "action": {"power_cut": {"write": 1}}}"#,
        )
        .expect("JSON");
        assert!(matches!(spec.action, Action::PowerCut(p) if p.write.get() == 1));
        assert_eq!(
            FaultSpec::from_json(r#"{"on":{"apdu":1},"action":{"remove":{}}}"#)
                .expect("defaults")
                .action,
            Action::Remove(Removal {
                at: RemovalPoint::Answer,
                away_ms: DEFAULT_AWAY_MS
            })
        );
    }

    #[test]
    fn bad_faults_are_refused_saying_why() {
        for (json, needle) in [
            (r#"{"on":{"apdu":0},"action":{"status":"6F00"}}"#, "nonzero"),
            (r#"{"on":{"ins":"C"},"action":{"status":"6F00"}}"#, "hex"),
            (
                r#"{"on":{"ctap":"makeCred"},"action":{"status":"6F00"}}"#,
                "unknown CTAP",
            ),
            (r#"{"on":{"apdu":1},"action":{"status":"9"}}"#, "hex"),
            (
                r#"{"on":{"ins":256},"action":{"status":"6F00"}}"#,
                "256 does not fit a byte",
            ),
            (
                r#"{"on":{"apdu":1},"action":{"status":65536}}"#,
                "65536 does not fit two bytes",
            ),
            (
                r#"{"on":{"apdu":1},"action":{"status":"1234"}}"#,
                "no status word",
            ),
            (
                r#"{"on":{"apdu":1},"action":{"flip":{"mask":"00"}}}"#,
                "changes nothing",
            ),
            (r#"{"on":{"apdu":1},"action":{"delay_ms":600001}}"#, "limit"),
            (
                r#"{"on":{"apdu":1},"action":{"power_cut":{"write":0}}}"#,
                "nonzero",
            ),
            (
                r#"{"on":{"apdu":1},"action":{"explode":1}}"#,
                "unknown variant",
            ),
            (
                r#"{"on":{"apdu":1},"action":{"status":"6F00"},"x":1}"#,
                "unknown field",
            ),
        ] {
            let err = FaultSpec::from_json(json).expect_err(json).to_string();
            assert!(err.contains(needle), "{json}: {err}");
        }
        let err = "[[fault]]\non = { apdu = 1 }\naction = { status = \"0000\" }\n"
            .parse::<FaultFile>()
            .expect_err("bad SW");
        assert!(err.to_string().starts_with("fault 1:"), "{err}");
        assert!(
            "[[fault]]\non = { apdu = 1 }\n"
                .parse::<FaultFile>()
                .is_err()
        );
    }
}
