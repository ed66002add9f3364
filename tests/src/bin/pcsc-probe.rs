//! `pcsc-probe READER WAIT_SECS [HEX...]`: waits (SCardGetStatusChange) for a card in READER,
//! prints its ATR, then sends each APDU and prints `<response hex>` per line. A separate process so
//! a test can point it at a private pcscd (PCSCLITE_CSOCK_NAME is read once per process).

use std::ffi::CString;
use std::process::ExitCode;
use std::time::Duration;

use integration_tests::{hex_decode, hex_encode, wait_for_card};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(reader), Some(wait)) = (args.first(), args.get(1)) else {
        eprintln!("usage: pcsc-probe READER WAIT_SECS [HEX...]");
        return ExitCode::from(2);
    };
    let Ok(wait) = wait.parse::<u64>() else {
        eprintln!("WAIT_SECS must be a number");
        return ExitCode::from(2);
    };
    let Ok(reader) = CString::new(reader.as_str()) else {
        eprintln!("bad reader name");
        return ExitCode::from(2);
    };
    let ctx = match pcsc::Context::establish(pcsc::Scope::User) {
        Ok(ctx) => ctx,
        Err(e) => {
            eprintln!("cannot reach pcscd: {e}");
            return ExitCode::FAILURE;
        }
    };
    match wait_for_card(&ctx, &reader, true, Duration::from_secs(wait)) {
        Ok(atr) => println!("ATR {}", hex_encode(&atr)),
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    }
    let card = match ctx.connect(&reader, pcsc::ShareMode::Shared, pcsc::Protocols::ANY) {
        Ok(card) => card,
        Err(e) => {
            eprintln!("connect: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut buf = vec![0; pcsc::MAX_BUFFER_SIZE_EXTENDED];
    for hex in &args[2..] {
        let Some(apdu) = hex_decode(hex) else {
            eprintln!("bad hex {hex}");
            return ExitCode::from(2);
        };
        match card.transmit(&apdu, &mut buf) {
            Ok(resp) => println!("{}", hex_encode(resp)),
            Err(e) => {
                eprintln!("transmit: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}
