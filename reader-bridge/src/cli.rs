//! Command line of `reader-bridge`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// vpcd's slot 0 on loopback (slot 1 is port 35963 + 1).
pub const DEFAULT_VPCD: &str = "127.0.0.1:35963";
/// vpcd's TCP port for slot 0; slot n listens on `VPCD_BASE_PORT + n`.
pub const VPCD_BASE_PORT: u16 = 35963;
/// The host `--slots` connects to unless `--vpcd-host` says otherwise.
pub const DEFAULT_VPCD_HOST: &str = "127.0.0.1";
/// The highest slot number `--slots` accepts (vpcd is configured with a few slots at most).
pub const MAX_SLOT: u16 = 15;

/// `--version`: the version and the crypto backend the cards compute with (the cargo feature
/// `asm-crypto` builds aws-lc-rs in and makes it the one used; the pure-Rust backend is always
/// built in). Must name `fido_applet::crypto::Backend::default()` (tested).
#[cfg(feature = "asm-crypto")]
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (crypto backend: aws-lc; built in: aws-lc, rustcrypto)"
);
/// `--version`: the version and the crypto backend the cards compute with.
#[cfg(not(feature = "asm-crypto"))]
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (crypto backend: rustcrypto; built in: rustcrypto)"
);

/// Puts the virtual contactless FIDO2 card into vsmartcard's vpcd reader ("Virtual PCD"), so any
/// PC/SC client (browsers through the OS, python-fido2, opensc-tool) can use it.
#[derive(Debug, Parser)]
#[command(name = "reader-bridge", version = VERSION)]
pub struct Cli {
    /// More log output: -v shows every APDU in hex (debug), -vv also the vpicc wire (trace).
    /// RUST_LOG, when set, takes precedence.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Print the built-in card profiles, one per line: id, AAGUID, name (tab-separated), and exit.
    #[arg(long)]
    pub list_profiles: bool,

    /// Print the TOML document of a built-in profile (or check and print a profile file), and
    /// exit: a starting point for a custom profile.
    #[arg(long, value_name = "ID|FILE")]
    pub show_profile: Option<String>,

    #[command(subcommand)]
    pub command: Option<Command>,

    /// Options of `run` (the default command).
    #[command(flatten)]
    pub run: RunArgs,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Connect to vpcd and serve the card(s) until SIGINT/SIGTERM (Ctrl+C or Ctrl+Break on
    /// Windows) (the default).
    Run(RunArgs),
    /// Create (or load) a card's attestation material and write the root and batch certificates
    /// (PEM) and a FIDO MDS3 metadata statement (JSON) for it into a directory.
    Attestation(AttestationArgs),
    /// Print the attestation root certificate (PEM) of the card in the state file.
    ExportAttestation(ExportArgs),
    /// Drive a running bridge through its control endpoint (`run --control PATH`): prints the
    /// JSON response; exit 0 when it says "ok", 1 when it refuses, 2 when it cannot be reached.
    Ctl(CtlArgs),
}

/// Options of `ctl`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct CtlArgs {
    /// The bridge's control endpoint (its `run --control PATH`).
    #[arg(long, value_name = "PATH")]
    pub control: PathBuf,

    /// The card (its slot) the command is for; needed when the bridge serves several.
    #[arg(long, value_name = "N", global = true)]
    pub slot: Option<u16>,

    #[command(subcommand)]
    pub command: CtlCommand,
}

/// The control commands (see README, "Runtime control").
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum CtlCommand {
    /// JSON: present/connected/powered, presence policy and pending request, faults, counters.
    Status,
    /// Take the card out of the reader (the vpcd connection closes until `insert`).
    Remove,
    /// Put the card back (pcscd powers it up).
    Insert,
    /// Remove, wait, insert: a new power-up.
    Tap {
        /// How long the card stays out of the field.
        #[arg(long, value_name = "MS", default_value_t = 1000)]
        out_ms: u64,
    },
    /// How user presence is answered: auto, deny, manual, or wait MS.
    Presence {
        /// auto | deny | manual | wait
        #[arg(value_parser = ["auto", "deny", "manual", "wait"])]
        mode: String,
        /// With `wait`: milliseconds before the request times out.
        ms: Option<u64>,
    },
    /// Approve the pending presence request (refused when none is pending).
    Touch {
        /// First wait up to MS for a request to be pending.
        #[arg(long, value_name = "MS")]
        wait: Option<u64>,
    },
    /// Arm a fault: a JSON fault specification.
    Fault {
        /// The fault, as JSON.
        spec: String,
    },
    /// Disarm every fault.
    ResetFaults,
}

/// `--presence` unless given: the tap counts as presence.
const DEFAULT_PRESENCE: &str = "auto";

/// Options of `run`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Args)]
pub struct RunArgs {
    /// vpcd's address, once per card (slot 0: port 35963, slot 1: 35964) [default:
    /// 127.0.0.1:35963].
    #[arg(long, value_name = "HOST:PORT")]
    pub vpcd: Vec<String>,

    /// Serve one card in each vpcd slot of a range, e.g. `0-1` (ports 35963 + slot on
    /// --vpcd-host). Instead of --vpcd.
    #[arg(long, value_name = "A-B", value_parser = parse_slots, conflicts_with = "vpcd")]
    pub slots: Option<SlotRange>,

    /// The host --slots connects to [default: 127.0.0.1].
    #[arg(long, value_name = "HOST", requires = "slots")]
    pub vpcd_host: Option<String>,

    /// The card's persistent memory; once per card, or one directory for all (each card then
    /// keeps `state-<slot>.bin` there) [default: $XDG_DATA_HOME/virtual-fido-card/state.bin, or
    /// ~/.local/share/virtual-fido-card/state.bin; on Windows
    /// %LOCALAPPDATA%\virtual-fido-card\state.bin; several cards: state-<slot>.bin beside it].
    /// Missing: a fresh card is made.
    #[arg(long, value_name = "PATH")]
    pub state: Vec<PathBuf>,

    /// Card profile: a built-in id (see --list-profiles) or a TOML file (a value ending in
    /// `.toml` or containing '/'). Once for all cards or once per card [default: generic].
    #[arg(long, value_name = "ID|FILE")]
    pub profile: Vec<String>,

    /// User presence: "auto" (the tap counts as presence), "deny" (every presence test fails),
    /// "manual" (a request waits for `ctl touch`; needs --control) or "wait:MS" (as manual,
    /// timing out after MS milliseconds).
    #[arg(long, value_name = "POLICY", default_value = DEFAULT_PRESENCE, value_parser = parse_presence)]
    pub presence: String,

    /// Open the runtime control endpoint at PATH (a Unix socket, mode 0600; on Windows a file
    /// naming a loopback port and a per-run token), for `reader-bridge ctl`.
    #[arg(long, value_name = "PATH")]
    pub control: Option<PathBuf>,

    /// Derive every random choice of the card from N (the card in trace slot s uses N + s).
    /// For tests and replay only: keys become predictable, the card is NOT secure.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,

    /// Append every exchange and power event as JSON Lines to FILE (flushed per line).
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,

    /// A card quirk on top of the profile, for every card; repeatable: short-only, extended,
    /// chunk=N, buffer=N, budget=MS, le-6cxx, no-cla80-get-response, delay=MS (README,
    /// "Card-quirk personas"). Applied after --quirks.
    #[arg(long, value_name = "QUIRK")]
    pub quirk: Vec<String>,

    /// A TOML overlay of quirks on the profile, for every card (README, "Card-quirk personas").
    #[arg(long, value_name = "FILE")]
    pub quirks: Option<PathBuf>,

    /// Faults to arm at start (TOML `[[fault]]` tables; README, "Fault injection").
    #[arg(long, value_name = "FILE")]
    pub faults: Option<PathBuf>,
}

/// Options of `attestation`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct AttestationArgs {
    /// Card profile: a built-in id or a TOML file [default: generic].
    #[arg(long, value_name = "ID|FILE")]
    pub profile: Option<String>,

    /// Directory to write root.pem, batch.pem and metadata.json into (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,

    /// The card's state file, loaded (or created) [default: DIR/state.bin, so that `run --state
    /// DIR/state.bin` serves the card the metadata describes].
    #[arg(long, value_name = "PATH")]
    pub state: Option<PathBuf>,

    /// Deterministic material for a fresh card (tests only, as `run --seed`).
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
}

/// Options of `export-attestation`.
#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    /// The card's persistent memory (same default as `run --state`).
    #[arg(long, value_name = "PATH")]
    pub state: Option<PathBuf>,

    /// Card profile: a built-in id or a TOML file [default: generic].
    #[arg(long, value_name = "ID|FILE")]
    pub profile: Option<String>,
}

/// Checks a `--presence` value (auto, deny, manual, wait:MS).
fn parse_presence(text: &str) -> Result<String, String> {
    text.parse::<fido_applet::presence::PresencePolicy>()
        .map(|_| text.to_owned())
        .map_err(|e| e.to_string())
}

/// An inclusive range of vpcd slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotRange {
    pub first: u16,
    pub last: u16,
}

impl SlotRange {
    /// The slots, ascending.
    pub fn slots(self) -> impl Iterator<Item = u16> {
        self.first..=self.last
    }
}

/// Parses `A-B` or `A` (slots 0 to [`MAX_SLOT`], A <= B).
pub fn parse_slots(text: &str) -> Result<SlotRange, String> {
    let number = |s: &str| -> Result<u16, String> {
        let n: u16 = s
            .trim()
            .parse()
            .map_err(|_| format!("{s:?} is not a slot number"))?;
        if n > MAX_SLOT {
            return Err(format!("slot {n} is above {MAX_SLOT}"));
        }
        Ok(n)
    };
    let (first, last) = match text.split_once('-') {
        Some((a, b)) => (number(a)?, number(b)?),
        None => {
            let n = number(text)?;
            (n, n)
        }
    };
    if first > last {
        return Err(format!("slot range {text:?} runs backwards"));
    }
    Ok(SlotRange { first, last })
}

/// What the command line asks for, after defaults are applied.
#[derive(Debug)]
pub enum Action {
    ListProfiles,
    ShowProfile(String),
    Run(RunArgs),
    Attestation(AttestationArgs),
    ExportAttestation(ExportArgs),
    Ctl(CtlArgs),
}

impl Cli {
    /// The action, with `run` as the default command. Run options belong either before no
    /// subcommand or after `run`; given before a subcommand they would be silently ignored, so
    /// that is an error.
    pub fn action(self) -> Result<Action, String> {
        if self.command.is_some() && self.run != RunArgs::defaults() {
            return Err(
                "run options go after the subcommand (e.g. `reader-bridge run --state F`)"
                    .to_owned(),
            );
        }
        if self.list_profiles {
            return Ok(Action::ListProfiles);
        }
        if let Some(spec) = self.show_profile {
            return Ok(Action::ShowProfile(spec));
        }
        Ok(match self.command {
            Some(Command::Run(args)) => Action::Run(args),
            Some(Command::Attestation(args)) => Action::Attestation(args),
            Some(Command::ExportAttestation(args)) => Action::ExportAttestation(args),
            Some(Command::Ctl(args)) => Action::Ctl(args),
            None => Action::Run(self.run),
        })
    }
}

impl RunArgs {
    /// The options as if none were given (clap's defaults: none, empty, but `--presence`).
    pub fn defaults() -> Self {
        Self {
            presence: DEFAULT_PRESENCE.to_owned(),
            ..Self::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `--version` names the crypto backend the cards compute with.
    #[test]
    fn the_version_names_the_crypto_backend() {
        let used = fido_applet::crypto::Backend::default();
        assert!(
            VERSION.contains(&format!("crypto backend: {used};")),
            "{VERSION}"
        );
        for built in fido_applet::crypto::Backend::BUILT_IN {
            assert!(VERSION.contains(built.name()), "{VERSION}");
        }
    }

    fn parse(args: &[&str]) -> Result<Action, clap::Error> {
        Cli::try_parse_from(std::iter::once("reader-bridge").chain(args.iter().copied()))
            .map(|cli| cli.action().expect("consistent"))
    }

    fn run_args(args: &[&str]) -> RunArgs {
        match parse(args) {
            Ok(Action::Run(args)) => args,
            other => panic!("expected run for {args:?}, got {other:?}"),
        }
    }

    #[test]
    fn run_is_the_default_with_defaults() {
        let args = run_args(&[]);
        assert_eq!(args, RunArgs::defaults());
        assert!(args.vpcd.is_empty() && args.state.is_empty() && args.profile.is_empty());
        assert_eq!(args.presence, "auto");
    }

    #[test]
    fn run_options_with_and_without_subcommand() {
        for prefix in [&[][..], &["run"][..]] {
            let mut argv = prefix.to_vec();
            argv.extend([
                "--vpcd",
                "127.0.0.1:35964",
                "--state",
                "/tmp/s.bin",
                "--profile",
                "hid-crescendo-c2300",
                "--presence",
                "deny",
                "--seed",
                "42",
                "--trace",
                "/tmp/t.jsonl",
            ]);
            let args = run_args(&argv);
            assert_eq!(args.vpcd, ["127.0.0.1:35964"]);
            assert_eq!(args.state, [PathBuf::from("/tmp/s.bin")]);
            assert_eq!(args.profile, ["hid-crescendo-c2300"]);
            assert_eq!(args.presence, "deny");
            assert_eq!(args.seed, Some(42));
            assert_eq!(args.trace, Some(PathBuf::from("/tmp/t.jsonl")));
        }
    }

    #[test]
    fn repeated_options_for_several_cards() {
        let args = run_args(&[
            "--vpcd",
            "h:1",
            "--vpcd",
            "h:2",
            "--profile",
            "a",
            "--profile",
            "b.toml",
            "--state",
            "/s0",
            "--state",
            "/s1",
        ]);
        assert_eq!(args.vpcd, ["h:1", "h:2"]);
        assert_eq!(args.profile, ["a", "b.toml"]);
        assert_eq!(args.state.len(), 2);

        let args = run_args(&["--slots", "0-1", "--vpcd-host", "10.0.0.2"]);
        assert_eq!(args.slots, Some(SlotRange { first: 0, last: 1 }));
        assert_eq!(args.vpcd_host.as_deref(), Some("10.0.0.2"));
        assert!(parse(&["--slots", "0-1", "--vpcd", "h:1"]).is_err());
        assert!(
            parse(&["--vpcd-host", "h"]).is_err(),
            "--vpcd-host needs --slots"
        );
    }

    #[test]
    fn slot_ranges() {
        assert_eq!(parse_slots("0-1"), Ok(SlotRange { first: 0, last: 1 }));
        assert_eq!(parse_slots("3"), Ok(SlotRange { first: 3, last: 3 }));
        assert_eq!(
            parse_slots("0-1").map(|r| r.slots().collect::<Vec<_>>()),
            Ok(vec![0, 1])
        );
        assert!(parse_slots("1-0").is_err());
        assert!(parse_slots("0-16").is_err());
        assert!(parse_slots("x").is_err());
        assert!(parse_slots("-1").is_err());
        assert!(parse_slots("").is_err());
    }

    #[test]
    fn list_show_attestation_and_export() {
        assert!(matches!(
            parse(&["--list-profiles"]),
            Ok(Action::ListProfiles)
        ));
        assert!(matches!(
            parse(&["--show-profile", "generic"]),
            Ok(Action::ShowProfile(id)) if id == "generic"
        ));
        let Ok(Action::Attestation(args)) = parse(&[
            "attestation",
            "--profile",
            "hid-crescendo-c3000",
            "--out",
            "/tmp/o",
            "--seed",
            "3",
        ]) else {
            panic!("expected attestation")
        };
        assert_eq!(args.profile.as_deref(), Some("hid-crescendo-c3000"));
        assert_eq!(args.out, PathBuf::from("/tmp/o"));
        assert_eq!((args.state, args.seed), (None, Some(3)));
        assert!(parse(&["attestation"]).is_err(), "--out is required");
        let Ok(Action::ExportAttestation(args)) =
            parse(&["export-attestation", "--state", "/tmp/x"])
        else {
            panic!("expected export-attestation")
        };
        assert_eq!(args.state, Some(PathBuf::from("/tmp/x")));
    }

    #[test]
    fn quirks_repeat() {
        let args = run_args(&[
            "--quirk",
            "short-only",
            "--quirk",
            "chunk=128",
            "--quirks",
            "/tmp/q.toml",
            "--faults",
            "/tmp/f.toml",
        ]);
        assert_eq!(args.faults, Some(PathBuf::from("/tmp/f.toml")));
        assert_eq!(args.quirk, ["short-only", "chunk=128"]);
        assert_eq!(args.quirks, Some(PathBuf::from("/tmp/q.toml")));
    }

    #[test]
    fn control_and_ctl() {
        let args = run_args(&["--control", "/tmp/c.sock", "--presence", "wait:500"]);
        assert_eq!(args.control, Some(PathBuf::from("/tmp/c.sock")));
        assert_eq!(args.presence, "wait:500");
        assert_eq!(run_args(&["--presence", "manual"]).presence, "manual");
        let ctl = |argv: &[&str]| match parse(argv) {
            Ok(Action::Ctl(args)) => args,
            other => panic!("expected ctl for {argv:?}, got {other:?}"),
        };
        let args = ctl(&[
            "ctl",
            "--control",
            "/tmp/c",
            "presence",
            "wait",
            "300",
            "--slot",
            "1",
        ]);
        assert_eq!(args.slot, Some(1));
        assert_eq!(
            args.command,
            CtlCommand::Presence {
                mode: "wait".to_owned(),
                ms: Some(300)
            }
        );
        assert_eq!(
            ctl(&["ctl", "--control", "c", "touch", "--wait", "50"]).command,
            CtlCommand::Touch { wait: Some(50) }
        );
        assert_eq!(
            ctl(&["ctl", "--control", "c", "tap"]).command,
            CtlCommand::Tap { out_ms: 1000 }
        );
        assert!(parse(&["ctl", "status"]).is_err(), "--control is required");
        assert!(parse(&["ctl", "--control", "c", "presence", "sometimes"]).is_err());
    }

    #[test]
    fn rejects_bad_values() {
        assert!(parse(&["--presence", "maybe"]).is_err());
        assert!(parse(&["--presence", "wait:x"]).is_err());
        assert!(parse(&["--seed", "-1"]).is_err());
        assert!(parse(&["--no-such-flag"]).is_err());
    }

    #[test]
    fn run_options_before_a_subcommand_are_refused() {
        let cli = Cli::try_parse_from(["reader-bridge", "--seed", "1", "export-attestation"])
            .expect("parses");
        assert!(cli.action().is_err());
    }

    #[test]
    fn defaults_match_clap() {
        let cli = Cli::try_parse_from(["reader-bridge"]).expect("parses");
        assert_eq!(cli.run, RunArgs::defaults());
    }

    #[test]
    fn verbosity_counts() {
        let cli = Cli::try_parse_from(["reader-bridge", "-vv", "run"]).expect("parses");
        assert_eq!(cli.verbose, 2);
    }
}
