//! `reader-bridge`: the virtual FIDO2 card(s) in vsmartcard's vpcd reader. See the crate docs in
//! `lib.rs`; this file only wires the CLI to the library.

use std::error::Error;
use std::fs::{self, OpenOptions};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use card_storage::records::FileLog;
use clap::Parser;
use fido_applet::CardBuilder;
use fido_applet::presence::{PresenceGate, PresencePolicy};
use fido_applet::profile::Profile;
use reader_bridge::cli::{Action, AttestationArgs, Cli, CtlArgs, ExportArgs, RunArgs};
use reader_bridge::control::{Controls, Endpoint, SlotControl, endpoint, protocol};
use reader_bridge::faults::PowerSwitch;
use reader_bridge::paths::{NO_DEFAULT_STATE, default_state_path_from_env};
use reader_bridge::plan::{CardPlan, is_profile_file, plan};
use reader_bridge::setup::{
    create_state_dir, fault_file, open_applet, open_card, persona, platform, resolve_profile,
    seed_warning,
};
use reader_bridge::shutdown::raise_on_stop_request;
use reader_bridge::{Bridge, BridgeCard, TraceSink, metadata};
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
        Action::ShowProfile(spec) => show_profile(&spec),
        Action::Run(args) => run(args),
        Action::Attestation(args) => attestation(args),
        Action::ExportAttestation(args) => export_attestation(args),
        Action::Ctl(args) => return ctl(args),
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

fn show_profile(spec: &str) -> Result<()> {
    if is_profile_file(spec) {
        resolve_profile(spec)?;
        let text = fs::read_to_string(spec)
            .map_err(|e| format!("cannot read the profile file {spec}: {e}"))?;
        print!("{text}");
    } else {
        resolve_profile(spec)?;
        print!("{}", Profile::builtin_source(spec).unwrap_or_default());
    }
    Ok(())
}

/// `reader-bridge ctl`: one request, its JSON response on stdout; exit 0 when it says ok, 1 when
/// the bridge refused, 2 when the endpoint cannot be reached.
fn ctl(args: CtlArgs) -> ExitCode {
    let request = match protocol::request_for(&args.command, args.slot) {
        Ok(request) => request,
        Err(e) => {
            eprintln!("reader-bridge ctl: {e}");
            return ExitCode::from(2);
        }
    };
    match endpoint::client::request(&args.control, &request) {
        Ok(response) => {
            println!("{response}");
            if response["ok"] == true {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!(
                "reader-bridge ctl: cannot reach the control endpoint {} ({e}): is \
                 `reader-bridge run --control {}` running?",
                args.control.display(),
                args.control.display()
            );
            ExitCode::from(2)
        }
    }
}

fn default_state() -> Option<PathBuf> {
    default_state_path_from_env()
}

/// A card ready to serve, with its bridge.
struct Prepared {
    plan: CardPlan,
    name: String,
    card: BridgeCard,
    bridge: Bridge,
}

fn run(args: RunArgs) -> Result<()> {
    let plans = plan(&args, default_state().as_deref())?;
    let persona = persona(args.quirks.as_deref(), &args.quirk)?;
    let faults = match &args.faults {
        Some(path) => fault_file(path)?.fault,
        None => Vec::new(),
    };
    if let Some(slot) = faults
        .iter()
        .filter_map(|f| f.slot)
        .find(|slot| !plans.iter().any(|p| p.slot == *slot))
    {
        return Err(format!("--faults: no card in slot {slot}").into());
    }
    let trace = match &args.trace {
        Some(path) => {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| format!("cannot open the trace file {}: {e}", path.display()))?;
            Some(TraceSink::new(Box::new(file)))
        }
        None => None,
    };
    let policy: PresencePolicy = args
        .presence
        .parse()
        .map_err(|e| format!("--presence: {e}"))?;
    if policy == PresencePolicy::Manual && args.control.is_none() {
        return Err(
            "--presence manual needs --control PATH: nothing else can touch the card".into(),
        );
    }
    let shutdown = Arc::new(AtomicBool::new(false));
    // Only raises the flag; each serve loop checks it at least every 200 ms.
    raise_on_stop_request(&shutdown)?;
    let mut controls = Vec::with_capacity(plans.len());

    // Open every card before serving any, so a bad profile or state file fails the whole start.
    let mut prepared = Vec::with_capacity(plans.len());
    for plan in plans {
        let label = format!("card {} (--vpcd {})", plan.slot, plan.vpcd);
        let profile = resolve_profile(&plan.profile)
            .and_then(|p| p.with_persona(&persona).map_err(|e| e.to_string()))
            .map_err(|e| format!("{label}: {e}"))?;
        if let Some(seed) = plan.seed {
            eprintln!("{}", seed_warning(seed));
            tracing::warn!("{label}: seeded with {seed}: NOT SECURE, for tests only");
        }
        let atr = profile.atr.clone();
        let name = profile.name.clone();
        // The card's presence gate, shared with its control state (ctl presence / touch).
        let gate = PresenceGate::new(policy);
        let power = PowerSwitch::new();
        let platform = platform(plan.seed, &args.presence)?.with_presence_gate(gate.clone());
        // A seeded card computes with the pure-Rust backend, so its trace replays exactly.
        let backend = fido_applet::crypto::Backend::for_seeded(plan.seed.is_some());
        let card = open_card(profile, &plan.state, platform, backend, &power)
            .map_err(|e| format!("{label}: {e}"))?;
        let card = BridgeCard::new(card, atr).with_power_switch(power);
        for fault in faults
            .iter()
            .filter(|f| f.slot.is_none_or(|s| s == plan.slot))
        {
            card.faults()
                .arm(fault.clone())
                .map_err(|e| format!("{label}: --faults: {e}"))?;
        }
        let control = SlotControl::new(plan.slot, gate, card.faults(), Arc::clone(&shutdown));
        let mut card = card.with_control(Arc::clone(&control));
        if let Some(sink) = &trace {
            card = card.with_trace(sink.for_slot(plan.slot));
        }
        let bridge = Bridge::new(&plan.vpcd, Arc::clone(&shutdown))
            .map_err(|e| format!("--vpcd {}: {e}", plan.vpcd))?
            .with_control(Arc::clone(&control));
        controls.push(control);
        prepared.push(Prepared {
            plan,
            name,
            card,
            bridge,
        });
    }

    // The control endpoint, once every card is open (a failed start leaves no socket behind).
    let endpoint_thread = match &args.control {
        Some(path) => {
            let endpoint =
                Endpoint::bind(path).map_err(|e| format!("--control {}: {e}", path.display()))?;
            let controls = Arc::new(Controls::new(controls, endpoint.token().map(str::to_owned)));
            let stop = Arc::clone(&shutdown);
            Some(
                std::thread::Builder::new()
                    .name("control".to_owned())
                    .spawn(move || endpoint.serve(controls, stop))
                    .map_err(|e| format!("cannot start the control endpoint: {e}"))?,
            )
        }
        None => None,
    };

    let mut threads = Vec::with_capacity(prepared.len());
    for Prepared {
        plan,
        name,
        mut card,
        mut bridge,
    } in prepared
    {
        tracing::info!(
            "card {}: {name:?} with state {} ready for vpcd at {} (crypto backend {})",
            plan.slot,
            plan.state.display(),
            plan.vpcd,
            fido_applet::crypto::Backend::for_seeded(plan.seed.is_some())
        );
        let thread = std::thread::Builder::new()
            .name(format!("card-{}", plan.slot))
            .spawn(move || bridge.run(&mut card))
            .map_err(|e| format!("cannot start the thread of card {}: {e}", plan.slot))?;
        threads.push((plan.slot, thread));
    }
    let mut panicked = Vec::new();
    for (slot, thread) in threads {
        if thread.join().is_err() {
            panicked.push(slot.to_string());
        }
    }
    if let Some(thread) = endpoint_thread {
        // The card threads end on shutdown; so does the endpoint (and removes its socket).
        shutdown.store(true, std::sync::atomic::Ordering::SeqCst);
        if thread.join().is_err() {
            panicked.push("control".to_owned());
        }
    }
    if !panicked.is_empty() {
        return Err(format!("the thread of card(s) {} panicked", panicked.join(", ")).into());
    }
    Ok(())
}

fn profile_or_generic(spec: Option<&str>) -> Result<Profile> {
    Ok(resolve_profile(spec.unwrap_or("generic"))?)
}

fn attestation(args: AttestationArgs) -> Result<()> {
    let profile = profile_or_generic(args.profile.as_deref())?;
    fs::create_dir_all(&args.out).map_err(|e| {
        format!(
            "cannot create the output directory {}: {e}",
            args.out.display()
        )
    })?;
    let state = args.state.unwrap_or_else(|| args.out.join("state.bin"));
    create_state_dir(&state)?;
    if let Some(seed) = args.seed {
        eprintln!("{}", seed_warning(seed));
    }
    let applet = open_applet(
        CardBuilder::new(profile.clone())
            .storage(FileLog::new(&state))
            .platform(platform(args.seed, "auto")?),
    )?;
    let material = applet
        .authenticator()
        .state()
        .attestation
        .as_ref()
        .ok_or_else(|| {
            format!(
                "the card state {} has no attestation material",
                state.display()
            )
        })?;
    let statement = metadata::statement(&profile, &material.root_cert_der);
    let json = serde_json::to_string_pretty(&statement)?;
    let files = [
        ("root.pem", material.root_pem()),
        ("batch.pem", material.cert_pem()),
        ("metadata.json", format!("{json}\n")),
    ];
    for (name, contents) in files {
        let path = args.out.join(name);
        fs::write(&path, contents).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        println!("{}", path.display());
    }
    eprintln!(
        "card {:?} (AAGUID {}): serve it with `reader-bridge run --profile {} --state {}`",
        profile.name,
        profile.aaguid_string(),
        args.profile.as_deref().unwrap_or("generic"),
        state.display()
    );
    Ok(())
}

fn export_attestation(args: ExportArgs) -> Result<()> {
    let profile = profile_or_generic(args.profile.as_deref())?;
    let state = match args.state {
        Some(path) => path,
        None => default_state().ok_or(format!("{NO_DEFAULT_STATE}: pass --state PATH"))?,
    };
    create_state_dir(&state)?;
    let applet = open_applet(
        CardBuilder::new(profile)
            .storage(FileLog::new(&state))
            .platform(platform(None, "auto")?),
    )?;
    print!("{}", applet.attestation_root_pem());
    Ok(())
}
