//! `reader-bridge`: the virtual FIDO2 card in vsmartcard's vpcd reader. See the crate docs in
//! `lib.rs`; this file only wires the CLI to the library.

use std::error::Error;
use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use apdu::storage::FileStorage;
use clap::Parser;
use fido_applet::platform::{Platform, PresencePolicy};
use fido_applet::profile::Profile;
use reader_bridge::cli::{Action, Cli, ExportArgs, RunArgs};
use reader_bridge::paths::default_state_path_from_env;
use reader_bridge::{Bridge, BridgeCard};
use tracing_subscriber::EnvFilter;

type Result<T> = std::result::Result<T, Box<dyn Error>>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.verbose);
    let action = match cli.action() {
        Ok(action) => action,
        Err(e) => {
            eprintln!("reader-bridge: error: {e}");
            return ExitCode::from(2);
        }
    };
    let outcome = match action {
        Action::ListProfiles => list_profiles(),
        Action::Run(args) => run(args),
        Action::ExportAttestation(args) => export_attestation(args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("reader-bridge: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn list_profiles() -> Result<()> {
    for profile in Profile::all() {
        println!(
            "{}\t{}\t{}",
            profile.id,
            profile.aaguid_string(),
            profile.name
        );
    }
    Ok(())
}

fn profile(id: Option<&str>) -> Result<Profile> {
    match id {
        None => Ok(Profile::generic()),
        Some(id) => Profile::builtin(id).ok_or_else(|| {
            format!("unknown profile {id:?}; `reader-bridge --list-profiles` lists them").into()
        }),
    }
}

fn state_path(explicit: Option<PathBuf>) -> Result<PathBuf> {
    let path = match explicit {
        Some(path) => path,
        None => default_state_path_from_env()
            .ok_or("neither XDG_DATA_HOME nor HOME is set: pass --state PATH")?,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_private_dir(dir)?;
    }
    Ok(path)
}

fn create_private_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .map_err(|e| format!("cannot create the state directory {}: {e}", dir.display()).into())
}

fn platform(seed: Option<u64>, presence: &str) -> Result<Platform> {
    let presence: PresencePolicy = presence
        .parse()
        .map_err(|e| format!("--presence {presence}: {e}"))?;
    let platform = match seed {
        Some(seed) => {
            tracing::warn!("--seed {seed}: deterministic RNG, for tests only");
            Platform::seeded_with_system_clock(seed)
        }
        None => Platform::system(),
    };
    Ok(platform.with_presence(presence))
}

fn run(args: RunArgs) -> Result<()> {
    let profile = profile(args.profile.as_deref())?;
    let path = state_path(args.state)?;
    let atr = profile.atr.clone();
    let name = profile.name.clone();
    let storage = Box::new(FileStorage::new(&path));
    let card = fido_applet::virtual_card(profile, storage, platform(args.seed, &args.presence)?)
        .map_err(|e| format!("cannot open the card state {}: {e}", path.display()))?;
    let mut card = BridgeCard::new(card, atr);
    if let Some(trace) = &args.trace {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(trace)
            .map_err(|e| format!("cannot open the trace file {}: {e}", trace.display()))?;
        card = card.with_trace(Box::new(file));
    }

    let shutdown = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // Only sets the flag: async-signal-safe. The serve loop checks it at least every 200 ms.
        signal_hook::flag::register(signal, Arc::clone(&shutdown))?;
    }
    let mut bridge =
        Bridge::new(&args.vpcd, shutdown).map_err(|e| format!("--vpcd {}: {e}", args.vpcd))?;
    tracing::info!(
        "card {name:?} with state {} ready for vpcd at {}",
        path.display(),
        args.vpcd
    );
    bridge.run(&mut card);
    Ok(())
}

fn export_attestation(args: ExportArgs) -> Result<()> {
    let profile = profile(args.profile.as_deref())?;
    let path = state_path(args.state)?;
    let storage = Box::new(FileStorage::new(&path));
    let applet = fido_applet::FidoApplet::new(profile, storage, Platform::system())
        .map_err(|e| format!("cannot open the card state {}: {e}", path.display()))?;
    print!("{}", applet.attestation_root_pem());
    Ok(())
}
