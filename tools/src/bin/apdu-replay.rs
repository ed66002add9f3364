//! `apdu-replay`: replays a trace recorded by `reader-bridge --trace` against a fresh in-process
//! card of the same profile and seed, and compares every response.
//!
//! ```text
//! apdu-replay TRACE [--profile ID|FILE] [--seed N] [--presence auto|deny] [--state FILE]
//!             [--quirk Q]... [--quirks FILE]
//! ```
//!
//! Exit status: 0 when every response is identical, 1 when one differs, 2 when the trace or the
//! profile cannot be read.

use std::process::ExitCode;

use card_storage::MemoryStorage;
use clap::Parser;
use fido_applet::CardBuilder;
use fido_applet::platform::{Platform, PresencePolicy};
use fido_applet::profile::Profile;
use reader_bridge::faults::PowerSwitch;
use vcard_tools::replay;

/// Replay an APDU trace against a fresh virtual card and report the first differences.
#[derive(Debug, Parser)]
#[command(name = "apdu-replay", version)]
struct Args {
    /// The trace (JSON Lines from `reader-bridge --trace`).
    #[arg(value_name = "TRACE")]
    trace: std::path::PathBuf,

    /// The card profile: a built-in id (`reader-bridge --list-profiles`) or a JSON / TOML file.
    #[arg(long, value_name = "ID|FILE", default_value = "generic")]
    profile: String,

    /// The seed the recording bridge ran with (`reader-bridge --seed N`).
    #[arg(long, value_name = "N", default_value_t = 0)]
    seed: u64,

    /// The presence policy the recording bridge ran with.
    #[arg(long, value_name = "auto|deny", default_value = "auto")]
    presence: PresencePolicy,

    /// Start from this card state file (as written by the bridge's --state) instead of a fresh
    /// card; the file is only read.
    #[arg(long, value_name = "FILE")]
    state: Option<std::path::PathBuf>,

    /// A card quirk the recording bridge ran with (`reader-bridge --quirk`); repeatable.
    #[arg(long, value_name = "QUIRK")]
    quirk: Vec<String>,

    /// The quirks overlay file the recording bridge ran with (`reader-bridge --quirks`).
    #[arg(long, value_name = "FILE")]
    quirks: Option<std::path::PathBuf>,

    /// How many differences to describe.
    #[arg(long, value_name = "N", default_value_t = 3)]
    show: usize,
}

fn main() -> ExitCode {
    let args = Args::parse();
    vcard_tools::exit_status(run(&args), "apdu-replay")
}

fn load_profile(spec: &str) -> Result<Profile, String> {
    if let Some(p) = Profile::builtin(spec) {
        return Ok(p);
    }
    let path = std::path::Path::new(spec);
    if !path.exists() {
        let ids: Vec<String> = Profile::all().into_iter().map(|p| p.id).collect();
        return Err(format!(
            "{spec:?} is neither a built-in profile ({}) nor a file",
            ids.join(", ")
        ));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the profile {}: {e}", path.display()))?;
    let is_toml = path.extension().is_some_and(|e| e == "toml");
    if is_toml {
        toml::from_str(&text).map_err(|e| format!("profile {}: {e}", path.display()))
    } else {
        serde_json::from_str(&text).map_err(|e| format!("profile {}: {e}", path.display()))
    }
}

fn run(args: &Args) -> Result<bool, String> {
    let text = std::fs::read_to_string(&args.trace)
        .map_err(|e| format!("cannot read the trace {}: {e}", args.trace.display()))?;
    let entries = replay::parse_trace(&text)?;
    let persona = reader_bridge::setup::persona(args.quirks.as_deref(), &args.quirk)?;
    let profile = load_profile(&args.profile)?
        .with_persona(&persona)
        .map_err(|e| e.to_string())?;
    let image = match &args.state {
        Some(path) => Some(
            std::fs::read(path)
                .map_err(|e| format!("cannot read --state {}: {e}", path.display()))?,
        ),
        None => None,
    };
    let report = replay::replay_with_power(&entries, || {
        let (platform, clock) = Platform::seeded_with_clock(args.seed);
        let storage = MemoryStorage::new();
        storage.set_image(image.clone());
        // Under a power switch, as the bridge's storage: the trace's power cuts cut it too.
        let power = PowerSwitch::new();
        let storage = power.wrap(storage);
        // Unpowered, as the bridge's card: the trace's first power_on powers it.
        // The seeded bridge computed with the pure-Rust backend (RFC 6979 ECDSA): so does this.
        let card = CardBuilder::new(profile.clone())
            .storage(storage)
            .platform(platform.with_presence(args.presence))
            .crypto_backend(fido_applet::crypto::Backend::for_seeded(true))
            .unpowered()
            .build()
            .map_err(|e| format!("cannot build the card: {e}"))?;
        let advance: replay::AdvanceClock = Box::new(move |ms| clock.advance(ms));
        Ok((card, advance, power))
    })?;
    if !report.identical() {
        print!("{}", replay::describe_differences(&report, args.show));
    }
    println!("{}", report.summary());
    Ok(report.identical())
}
