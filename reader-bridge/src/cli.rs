//! Command line of `reader-bridge`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// vpcd's slot 0 on loopback (slot 1 is port 35964).
pub const DEFAULT_VPCD: &str = "127.0.0.1:35963";

/// Puts the virtual contactless FIDO2 card into vsmartcard's vpcd reader ("Virtual PCD"), so any
/// PC/SC client (browsers through the OS, python-fido2, opensc-tool) can use it.
#[derive(Debug, Parser)]
#[command(name = "reader-bridge", version)]
pub struct Cli {
    /// More log output: -v shows every APDU in hex (debug), -vv also the vpicc wire (trace).
    /// RUST_LOG, when set, takes precedence.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Print the built-in card profiles (id, AAGUID, name), one per line, and exit.
    #[arg(long)]
    pub list_profiles: bool,

    #[command(subcommand)]
    pub command: Option<Command>,

    /// Options of `run` (the default command).
    #[command(flatten)]
    pub run: RunArgs,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Connect to vpcd and serve the card until SIGINT/SIGTERM (the default).
    Run(RunArgs),
    /// Print the attestation root certificate (PEM) of the card in the state file.
    ExportAttestation(ExportArgs),
}

/// Options of `run`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct RunArgs {
    /// vpcd's address (slot 0: 35963, slot 1: 35964).
    #[arg(long, value_name = "HOST:PORT", default_value = DEFAULT_VPCD)]
    pub vpcd: String,

    /// The card's persistent memory [default: $XDG_DATA_HOME/virtual-fido-card/state.bin, or
    /// ~/.local/share/virtual-fido-card/state.bin]. Missing: a fresh card is made.
    #[arg(long, value_name = "PATH")]
    pub state: Option<PathBuf>,

    /// Card profile to model (see --list-profiles) [default: the generic profile].
    #[arg(long, value_name = "ID")]
    pub profile: Option<String>,

    /// User presence: "auto" (the tap counts as presence) or "deny" (every presence check fails).
    #[arg(long, value_name = "POLICY", default_value = "auto", value_parser = ["auto", "deny"])]
    pub presence: String,

    /// Seed a deterministic RNG (tests and replay only: keys become predictable).
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,

    /// Append every exchange to FILE as lines "C: <hex>" and "R: <hex>".
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
}

/// Options of `export-attestation`.
#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    /// The card's persistent memory (same default as `run --state`).
    #[arg(long, value_name = "PATH")]
    pub state: Option<PathBuf>,

    /// Card profile (see --list-profiles).
    #[arg(long, value_name = "ID")]
    pub profile: Option<String>,
}

/// What the command line asks for, after defaults are applied.
#[derive(Debug)]
pub enum Action {
    ListProfiles,
    Run(RunArgs),
    ExportAttestation(ExportArgs),
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
        Ok(match self.command {
            Some(Command::Run(args)) => Action::Run(args),
            Some(Command::ExportAttestation(args)) => Action::ExportAttestation(args),
            None => Action::Run(self.run),
        })
    }
}

impl RunArgs {
    /// The options as if none were given.
    pub fn defaults() -> Self {
        Self {
            vpcd: DEFAULT_VPCD.to_owned(),
            state: None,
            profile: None,
            presence: "auto".to_owned(),
            seed: None,
            trace: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Action, clap::Error> {
        Cli::try_parse_from(std::iter::once("reader-bridge").chain(args.iter().copied()))
            .map(|cli| cli.action().expect("consistent"))
    }

    #[test]
    fn run_is_the_default_with_defaults() {
        let Ok(Action::Run(args)) = parse(&[]) else {
            panic!("expected run")
        };
        assert_eq!(args.vpcd, DEFAULT_VPCD);
        assert_eq!(args.presence, "auto");
        assert_eq!(args.state, None);
        assert_eq!(args.seed, None);
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
                "c2300",
                "--presence",
                "deny",
                "--seed",
                "42",
                "--trace",
                "/tmp/t.log",
            ]);
            let Ok(Action::Run(args)) = parse(&argv) else {
                panic!("expected run for {argv:?}")
            };
            assert_eq!(args.vpcd, "127.0.0.1:35964");
            assert_eq!(args.state, Some(PathBuf::from("/tmp/s.bin")));
            assert_eq!(args.profile.as_deref(), Some("c2300"));
            assert_eq!(args.presence, "deny");
            assert_eq!(args.seed, Some(42));
            assert_eq!(args.trace, Some(PathBuf::from("/tmp/t.log")));
        }
    }

    #[test]
    fn list_profiles_and_export() {
        assert!(matches!(
            parse(&["--list-profiles"]),
            Ok(Action::ListProfiles)
        ));
        let Ok(Action::ExportAttestation(args)) =
            parse(&["export-attestation", "--state", "/tmp/x"])
        else {
            panic!("expected export-attestation")
        };
        assert_eq!(args.state, Some(PathBuf::from("/tmp/x")));
    }

    #[test]
    fn rejects_bad_values() {
        assert!(parse(&["--presence", "maybe"]).is_err());
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
