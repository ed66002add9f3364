//! `fido-check`: runs the Microsoft-compatibility requirements against any FIDO2 card in any
//! PC/SC reader, as a host (Windows, a browser) would talk to it.
//!
//! ```text
//! fido-check [--reader NAME] [--pin PIN] [--allow-reset] [--format text|json|junit]
//!            [--output FILE] [--trust-root PEM] [--host windows [--new-pin PIN]]
//! ```
//!
//! With `--host windows` it plays what Windows 10/11 sends the card instead (its card detection,
//! framing, Settings and WebAuthn flows) and reports step by step.
//!
//! Exit status: 0 when every required check passed, 1 when one did not, 2 when no card could be
//! chosen or an argument is wrong.

use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use fido_host::Client;
use fido_host::persona::windows;
use vcard_tools::checks::{self, Options};
use vcard_tools::{
    PCSC_SERVICE, PcscCard, ToolError, attestation, list_readers, reader_card, report,
    select_reader,
};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum HostArg {
    /// Windows 10/11 (webauthn.dll and Settings → Security key over the smart-card stack).
    Windows,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
    Junit,
}

/// Check a FIDO2 card against the Microsoft-compatibility requirements (resident keys, client
/// PIN, hmac-secret, several accounts per RP, packed attestation with a certificate chain, PIN
/// change, reset, NFC transport rules).
#[derive(Debug, Parser)]
#[command(name = "fido-check", version)]
struct Args {
    /// The reader: its exact name or a unique part [default: the only reader holding a card].
    #[arg(short, long, value_name = "NAME")]
    reader: Option<String>,

    /// The card's PIN; on a card without a PIN, it is set as the PIN.
    #[arg(long, value_name = "PIN")]
    pin: Option<String>,

    /// Allow authenticatorReset (ERASES every credential and the PIN on the card).
    #[arg(long)]
    allow_reset: bool,

    /// Report format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,

    /// Write the report to FILE instead of standard output (the summary line still goes to
    /// standard output).
    #[arg(short, long, value_name = "FILE")]
    output: Option<std::path::PathBuf>,

    /// A PEM root certificate (the vendor's or FIDO MDS's) to verify the attestation chain to.
    #[arg(long, value_name = "PEM")]
    trust_root: Option<std::path::PathBuf>,

    /// Play a host's own conversation instead of the compatibility checks: its card detection,
    /// framing and flows, step by step (needs --pin; the persona's passkeys are deleted at the
    /// end where the card has credential management).
    #[arg(long, value_enum, value_name = "HOST", requires = "pin")]
    host: Option<HostArg>,

    /// With --host: the PIN "change PIN" changes to (and back from) [default: 5678, or 8765
    /// when --pin is 5678].
    #[arg(long, value_name = "PIN", requires = "host")]
    new_pin: Option<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    vcard_tools::exit_status(run(args), "fido-check")
}

fn choose_reader(ctx: &pcsc::Context, wanted: Option<&str>) -> Result<std::ffi::CString, String> {
    let readers = list_readers(ctx).map_err(|e| format!("cannot list readers: {e}"))?;
    if wanted.is_some() {
        return select_reader(&readers, wanted).map_err(|e| e.to_string());
    }
    if readers.is_empty() {
        return Err(ToolError::NoReaders.to_string());
    }
    let mut with_card = Vec::new();
    let mut listing = String::new();
    for reader in &readers {
        let card = reader_card(ctx, reader).map_err(|e| format!("reader status: {e}"))?;
        listing.push_str(&format!(
            "\n  {}\t{}",
            reader.to_string_lossy(),
            card.as_deref()
                .map_or_else(|| "(no card)".to_owned(), apdu::hex_encode)
        ));
        if card.is_some() {
            with_card.push(reader.clone());
        }
    }
    match with_card.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(format!("no card in any reader:{listing}")),
        _ => Err(format!(
            "several readers hold a card; choose one with --reader NAME:{listing}"
        )),
    }
}

fn run(args: Args) -> Result<bool, String> {
    let trust_root = match &args.trust_root {
        Some(path) => {
            let pem = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read --trust-root {}: {e}", path.display()))?;
            Some(
                attestation::parse_pem_certificate(&pem)
                    .map_err(|e| format!("--trust-root {}: {e}", path.display()))?,
            )
        }
        None => None,
    };
    let ctx = pcsc::Context::establish(pcsc::Scope::User)
        .map_err(|e| format!("cannot reach {PCSC_SERVICE}: {e} (is it running?)"))?;
    let reader = choose_reader(&ctx, args.reader.as_deref())?;
    let reader_name = reader.to_string_lossy().into_owned();
    let card = ctx
        .connect(&reader, pcsc::ShareMode::Shared, pcsc::Protocols::ANY)
        .map_err(|e| format!("cannot connect to the card in {reader_name:?}: {e}"))?;
    let mut client = Client::new(Box::new(PcscCard::new(card)));
    let opts = Options {
        pin: args.pin.clone(),
        allow_reset: args.allow_reset,
        trust_root,
        now: None,
    };
    let result = match args.host {
        Some(HostArg::Windows) => {
            let pin = args.pin.clone().unwrap_or_default();
            let new_pin = args
                .new_pin
                .clone()
                .unwrap_or_else(|| if pin == "5678" { "8765" } else { "5678" }.to_owned());
            if new_pin == pin {
                return Err("--new-pin must differ from --pin".into());
            }
            let persona = windows::Options {
                pin,
                new_pin,
                allow_reset: args.allow_reset,
            };
            checks::host::run_windows(&mut client, &persona)
        }
        None => checks::run(&mut client, &opts),
    };
    let text = match args.format {
        Format::Text => report::text(&result, &reader_name),
        Format::Json => report::json(&result, &reader_name),
        Format::Junit => report::junit(&result, &reader_name),
    };
    match &args.output {
        Some(path) => {
            std::fs::write(path, &text)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            println!("{}", report::summary_line(&result));
        }
        None => print!("{text}"),
    }
    Ok(result.passed())
}
