//! Which cards one bridge process serves: one per vpcd address, each with its own profile, state
//! file and seed. A pure function of the command line (and the default state location), so every
//! rule is unit-tested here and `main.rs` only carries the plan out.

use std::path::{Path, PathBuf};

use crate::cli::{DEFAULT_VPCD, DEFAULT_VPCD_HOST, RunArgs, VPCD_BASE_PORT};
use crate::net::check_address;
use crate::paths::NO_DEFAULT_STATE;

/// The profile used when none is given.
pub const DEFAULT_PROFILE: &str = "generic";

/// One card to serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardPlan {
    /// The card's number in traces and logs: its vpcd slot with `--slots`, else its position
    /// among the `--vpcd` options (0, 1, ...).
    pub slot: u16,
    /// vpcd's address, HOST:PORT.
    pub vpcd: String,
    /// A built-in profile id or a profile file (see [`is_profile_file`]).
    pub profile: String,
    /// The card's state file.
    pub state: PathBuf,
    /// The card's RNG seed, when seeded: `--seed` N plus the card's slot number.
    pub seed: Option<u64>,
}

/// Whether `--profile` names a file rather than a built-in profile: it ends in `.toml` or
/// contains a path separator ('/', or `\` as Windows writes paths; no built-in id has either).
pub fn is_profile_file(spec: &str) -> bool {
    spec.ends_with(".toml") || spec.contains(['/', '\\'])
}

/// The state file of card `slot` inside a state directory.
pub fn state_in_dir(dir: &Path, slot: u16) -> PathBuf {
    dir.join(format!("state-{slot}.bin"))
}

/// Whether a `--state` value names a directory: it exists as one, or ends in a path separator
/// ('/' anywhere, `\` too on Windows).
fn is_dir_spec(path: &Path) -> bool {
    path.is_dir()
        || path
            .as_os_str()
            .to_string_lossy()
            .ends_with(std::path::is_separator)
}

/// `HOST:PORT` for `--vpcd-host` and a port: an IPv6 address goes in brackets.
fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Works out the cards of `args`. `default_state` is the single card's default state file
/// (`None` when the environment gives no location: then `--state` is required).
pub fn plan(args: &RunArgs, default_state: Option<&Path>) -> Result<Vec<CardPlan>, String> {
    let cards: Vec<(u16, String)> = match args.slots {
        Some(range) => {
            let host = args.vpcd_host.as_deref().unwrap_or(DEFAULT_VPCD_HOST);
            range
                .slots()
                .map(|slot| (slot, host_port(host, VPCD_BASE_PORT + slot)))
                .collect()
        }
        None if args.vpcd.is_empty() => vec![(0, DEFAULT_VPCD.to_owned())],
        None => (0u16..).zip(args.vpcd.iter().cloned()).collect(),
    };
    let n = cards.len();
    // Only the form is checked here (nothing written yet for a typo); names resolve at every
    // connection attempt.
    for (_, addr) in &cards {
        check_address(addr).map_err(|e| format!("--vpcd {addr}: {e}"))?;
    }
    if let Some(dup) = cards
        .iter()
        .enumerate()
        .find(|(i, (_, a))| cards[..*i].iter().any(|(_, b)| b == a))
    {
        return Err(format!(
            "--vpcd {} is given twice: two cards cannot share a vpcd slot",
            dup.1.1
        ));
    }

    let profiles: Vec<String> = match args.profile.len() {
        0 => vec![DEFAULT_PROFILE.to_owned(); n],
        1 => vec![args.profile[0].clone(); n],
        k if k == n => args.profile.clone(),
        k => {
            return Err(format!(
                "{k} --profile options for {n} cards: give one for all cards or one per card"
            ));
        }
    };

    let states: Vec<PathBuf> = match args.state.as_slice() {
        [] => {
            let file = default_state.ok_or(format!(
                "{NO_DEFAULT_STATE}: pass --state PATH (or a directory)"
            ))?;
            if n == 1 {
                vec![file.to_owned()]
            } else {
                let dir = file.parent().unwrap_or(Path::new("."));
                cards
                    .iter()
                    .map(|(slot, _)| state_in_dir(dir, *slot))
                    .collect()
            }
        }
        [one] if is_dir_spec(one) => cards
            .iter()
            .map(|(slot, _)| state_in_dir(one, *slot))
            .collect(),
        [one] if n == 1 => vec![one.clone()],
        [_] => {
            return Err(format!(
                "one --state file for {n} cards: give one --state per card, or a directory"
            ));
        }
        many if many.len() == n => many.to_vec(),
        many => {
            return Err(format!(
                "{} --state options for {n} cards: give one per card, or one directory",
                many.len()
            ));
        }
    };
    if let Some((i, dup)) = states
        .iter()
        .enumerate()
        .find(|(i, s)| states[..*i].contains(s))
    {
        return Err(format!(
            "cards {} and {i} would share the state file {}: each card needs its own",
            states.iter().position(|s| s == dup).unwrap_or(0),
            dup.display()
        ));
    }

    Ok(cards
        .into_iter()
        .zip(profiles)
        .zip(states)
        .map(|(((slot, vpcd), profile), state)| CardPlan {
            slot,
            vpcd,
            profile,
            state,
            // Card `slot` gets N + slot: derivable from a trace alone, so a replay tool can
            // rebuild each slot's card.
            seed: args.seed.map(|seed| seed.wrapping_add(u64::from(slot))),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::parse_slots;

    fn args() -> RunArgs {
        RunArgs::defaults()
    }

    const DEFAULT: &str = "/home/u/.local/share/virtual-fido-card/state.bin";

    fn plan_of(args: &RunArgs) -> Result<Vec<CardPlan>, String> {
        plan(args, Some(Path::new(DEFAULT)))
    }

    #[test]
    fn one_card_by_default() {
        let cards = plan_of(&args()).expect("plan");
        assert_eq!(
            cards,
            [CardPlan {
                slot: 0,
                vpcd: DEFAULT_VPCD.into(),
                profile: "generic".into(),
                state: DEFAULT.into(),
                seed: None,
            }]
        );
        assert!(
            plan(&args(), None)
                .expect_err("no home")
                .contains("--state")
        );
    }

    #[test]
    fn slots_with_a_host_profiles_and_seeds() {
        let mut a = args();
        a.slots = Some(parse_slots("0-1").expect("range"));
        a.vpcd_host = Some("10.1.2.3".into());
        a.profile = vec!["hid-crescendo-c2300".into(), "x/custom.toml".into()];
        a.seed = Some(u64::MAX);
        let cards = plan_of(&a).expect("plan");
        assert_eq!(cards.len(), 2);
        assert_eq!(
            (cards[0].slot, cards[0].vpcd.as_str()),
            (0, "10.1.2.3:35963")
        );
        assert_eq!(
            (cards[1].slot, cards[1].vpcd.as_str()),
            (1, "10.1.2.3:35964")
        );
        assert_eq!(cards[0].profile, "hid-crescendo-c2300");
        assert_eq!(cards[1].profile, "x/custom.toml");
        assert_eq!(cards[0].seed, Some(u64::MAX));
        assert_eq!(
            cards[1].seed,
            Some(0),
            "card in slot s uses seed N + s, wrapping"
        );
        // Several cards without --state: state-<slot>.bin beside the default file.
        assert_eq!(
            cards[1].state,
            PathBuf::from("/home/u/.local/share/virtual-fido-card/state-1.bin")
        );

        a.slots = Some(parse_slots("1").expect("range"));
        a.vpcd_host = None;
        a.profile.clear();
        let cards = plan_of(&a).expect("plan");
        assert_eq!(
            (cards[0].slot, cards[0].vpcd.as_str()),
            (1, "127.0.0.1:35964")
        );
        assert_eq!(
            cards[0].state,
            PathBuf::from(DEFAULT),
            "one card keeps state.bin"
        );
    }

    #[test]
    fn states_positional_or_directory() {
        let mut a = args();
        a.vpcd = vec!["h:1".into(), "h:2".into()];
        a.state = vec!["/a.bin".into(), "/b.bin".into()];
        let cards = plan_of(&a).expect("plan");
        assert_eq!(cards[0].state, PathBuf::from("/a.bin"));
        assert_eq!(cards[1].state, PathBuf::from("/b.bin"));
        assert_eq!((cards[0].slot, cards[1].slot), (0, 1));
        assert_eq!(cards[1].profile, "generic");

        a.state = vec!["/var/cards/".into()];
        let cards = plan_of(&a).expect("plan");
        assert_eq!(cards[1].state, PathBuf::from("/var/cards/state-1.bin"));

        let dir = std::env::temp_dir();
        a.state = vec![dir.clone()];
        assert_eq!(plan_of(&a).expect("plan")[0].state, dir.join("state-0.bin"));

        a.state = vec!["/one.bin".into()];
        assert!(
            plan_of(&a)
                .expect_err("shared")
                .contains("one --state per card")
        );
        a.state = vec!["/a".into(), "/b".into(), "/c".into()];
        assert!(plan_of(&a).is_err());
        a.state = vec!["/a".into(), "/a".into()];
        assert!(
            plan_of(&a)
                .expect_err("dup")
                .contains("share the state file")
        );
    }

    #[test]
    fn inconsistent_counts_and_duplicates_are_refused() {
        let mut a = args();
        a.vpcd = vec!["h:1".into(), "h:2".into(), "h:3".into()];
        a.profile = vec!["a".into(), "b".into()];
        assert!(plan_of(&a).expect_err("counts").contains("2 --profile"));
        a.profile.clear();
        a.vpcd = vec!["h:1".into(), "h:1".into()];
        assert!(plan_of(&a).expect_err("dup").contains("twice"));
    }

    #[test]
    fn vpcd_addresses_are_checked_and_ipv6_hosts_bracketed() {
        let mut a = args();
        a.vpcd = vec!["winhost:35963".into(), "localhost".into()];
        let e = plan_of(&a).expect_err("no port");
        assert!(
            e.contains("--vpcd localhost") && e.contains("HOST:PORT"),
            "{e}"
        );
        a.vpcd.clear();
        a.slots = Some(parse_slots("0-1").expect("range"));
        a.vpcd_host = Some("::1".into());
        let cards = plan_of(&a).expect("plan");
        assert_eq!(cards[1].vpcd, "[::1]:35964");
        a.vpcd_host = Some("winhost".into());
        assert_eq!(plan_of(&a).expect("plan")[0].vpcd, "winhost:35963");
    }

    #[test]
    fn profile_specs() {
        assert!(is_profile_file("my.toml"));
        assert!(is_profile_file("./profiles/x"));
        assert!(is_profile_file(r"C:\cards\x"));
        assert!(!is_profile_file("hid-crescendo-c2300"));
        assert!(!is_profile_file("generic"));
    }
}
