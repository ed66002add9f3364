//! `apdu-send`: send APDUs to a card through PC/SC, as a host would.
//!
//! ```text
//! apdu-send --list
//! apdu-send [--reader NAME] 00A4040008A0000006472F0001 80100000010400
//! ```

use std::process::ExitCode;

use apdu::hex_encode;
use clap::Parser;
use vcard_tools::{
    Follow, PCSC_SERVICE, PcscCard, exchange, list_readers, parse_apdu, reader_card, select_reader,
    split_sw, wait_for_card,
};

/// Send APDUs (hex) to a card through PC/SC and print each exchange as `> command` and
/// `< data SW` lines.
#[derive(Debug, Parser)]
#[command(name = "apdu-send", version)]
struct Args {
    /// The reader: its exact name or a unique part of it [default: the first reader].
    #[arg(short, long, value_name = "NAME")]
    reader: Option<String>,

    /// List the readers, with the ATR of the card in each, and exit.
    #[arg(short, long)]
    list: bool,

    /// Do not follow 61xx with GET RESPONSE (nor 6Cxx with a re-send).
    #[arg(long)]
    no_get_response: bool,

    /// CLA of GET RESPONSE: 00 (ISO, python-fido2) or 80 (Windows, libfido2).
    #[arg(long, value_name = "HEX", default_value = "00", value_parser = parse_cla)]
    get_response_cla: u8,

    /// Wait up to SECS for a card in the reader before sending (0: do not wait).
    #[arg(short, long, value_name = "SECS", default_value_t = 0)]
    wait: u64,

    /// Exit with status 1 unless every command ends with 9000.
    #[arg(long)]
    check: bool,

    /// Command APDUs in hex (spaces and colons allowed inside one argument).
    #[arg(value_name = "HEX")]
    apdus: Vec<String>,
}

fn parse_cla(s: &str) -> Result<u8, String> {
    u8::from_str_radix(s.trim_start_matches("0x"), 16).map_err(|e| format!("{s:?}: {e}"))
}

fn main() -> ExitCode {
    let args = Args::parse();
    vcard_tools::exit_status(run(args), "apdu-send: error")
}

fn run(args: Args) -> Result<bool, Box<dyn std::error::Error>> {
    let ctx = pcsc::Context::establish(pcsc::Scope::User)
        .map_err(|e| format!("cannot reach {PCSC_SERVICE}: {e} (is it running?)"))?;
    let readers = list_readers(&ctx)?;
    if args.list {
        for reader in &readers {
            match reader_card(&ctx, reader)? {
                Some(atr) => println!("{}\t{}", reader.to_string_lossy(), hex_encode(&atr)),
                None => println!("{}\t(no card)", reader.to_string_lossy()),
            }
        }
        return Ok(true);
    }
    let reader = select_reader(&readers, args.reader.as_deref())?;
    if args.wait > 0 {
        let timeout = std::time::Duration::from_secs(args.wait);
        match wait_for_card(&ctx, &reader, timeout)? {
            Some(atr) => eprintln!(
                "card in {}: ATR {}",
                reader.to_string_lossy(),
                hex_encode(&atr)
            ),
            None => {
                return Err(format!(
                    "no card in {} after {} s",
                    reader.to_string_lossy(),
                    args.wait
                )
                .into());
            }
        }
    }
    if args.apdus.is_empty() {
        return if args.wait > 0 {
            Ok(true)
        } else {
            Err("no APDU given (try --help)".into())
        };
    }
    let apdus = args
        .apdus
        .iter()
        .map(|a| parse_apdu(a))
        .collect::<Result<Vec<_>, _>>()?;
    let card = ctx
        .connect(&reader, pcsc::ShareMode::Shared, pcsc::Protocols::ANY)
        .map_err(|e| format!("cannot connect to {}: {e}", reader.to_string_lossy()))?;
    let mut card = PcscCard::new(card);
    let follow = Follow {
        get_response: !args.no_get_response,
        resend_on_6c: !args.no_get_response,
        get_response_cla: args.get_response_cla,
        ..Follow::default()
    };
    let mut all_ok = true;
    for apdu in apdus {
        let outcome = exchange(&mut card, &apdu, follow)?;
        for ex in &outcome.exchanges {
            println!("> {}", hex_encode(&ex.command));
            match split_sw(&ex.response) {
                Some(([], sw)) => println!("< {sw:04X}"),
                Some((data, sw)) => println!("< {} {sw:04X}", hex_encode(data)),
                None => println!("< {} (no status word)", hex_encode(&ex.response)),
            }
        }
        if outcome.exchanges.len() > 1 {
            println!("= {} {:04X}", hex_encode(&outcome.data), outcome.sw);
        }
        all_ok &= outcome.sw == 0x9000;
    }
    Ok(!args.check || all_ok)
}
