//! The APDU wire format (ISO/IEC 7816-4 §5.1): `Command::decode` never panics, and whatever it
//! accepts re-encodes into bytes that decode to the same command. `Response::from_bytes` never
//! panics and round-trips.
#![no_main]

use apdu::{Command, Response};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(cmd) = Command::decode(data) {
        assert!(cmd.data.len() <= 65535);
        if let Some(bytes) = cmd.encode() {
            let again = Command::decode(&bytes).expect("an encoded command decodes");
            assert_eq!(again, cmd, "decode(encode(c)) == c");
        }
    }
    if let Some(resp) = Response::from_bytes(data) {
        assert_eq!(resp.to_bytes(), data, "a response re-encodes to its bytes");
    }
});
