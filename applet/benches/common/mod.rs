//! What the benchmarks share: a virtual card on `MemoryStorage` with a seeded platform, the
//! python-fido2 APDU framing (short APDUs, 250-byte command chaining with CLA 90, GET RESPONSE;
//! `fido-host`'s framing), CTAP requests built by `fido-host`, and a persistent state with many
//! resident credentials.
#![allow(dead_code)]

use apdu::Card;
use card_storage::MemoryStorage;
use ctap_types::cbor::{self, IntMap, Value};
use fido_applet::CardBuilder;
use fido_applet::crypto::{self, Backend, CredentialKey, WrappedCredential};
use fido_applet::platform::{Platform, SeededRng};
use fido_applet::profile::Profile;
use fido_applet::state::{ResidentCredential, State};
use fido_host::Client;
use fido_host::ctap_types::command;
use fido_host::ctap_types::params::make_credential;
use fido_host::ctap2::{GetAssertion, MakeCredential};
use fido_host::nfc::{self, Framing, Length};

pub const MAKE_CREDENTIAL: u8 = command::MAKE_CREDENTIAL;
pub const GET_ASSERTION: u8 = command::GET_ASSERTION;
pub const GET_INFO: u8 = command::GET_INFO;
pub const CLIENT_PIN: u8 = command::CLIENT_PIN;
pub use fido_host::ctap_types::nfc::SELECT_FIDO as SELECT;

/// GET RESPONSE for `61xx`, Le 00 (ISO 7816-4 §7.6.1).
pub const GET_RESPONSE: [u8; 5] = fido_host::iso::get_response(0x00, 0x00);

/// The relying party the benchmarks register with and sign in to.
pub const RP: &str = "example.com";

/// The generic profile, with room for `resident` credentials.
pub fn profile(resident: usize) -> Profile {
    let mut profile = Profile::generic();
    profile.max_resident_credentials = profile.max_resident_credentials.max(resident + 16);
    profile
}

/// A selected virtual card on `storage` (seeded RNG, manual clock, presence by tap), computing
/// with the default crypto backend.
pub fn card(profile: Profile, storage: &MemoryStorage) -> Card {
    card_with(profile, storage, Backend::default())
}

/// As [`card`], computing with `backend`.
pub fn card_with(profile: Profile, storage: &MemoryStorage, backend: Backend) -> Card {
    let card = CardBuilder::new(profile)
        .storage(storage.clone())
        .platform(Platform::seeded(42))
        .crypto_backend(backend)
        .build();
    let mut card = card.expect("card");
    let resp = card.transmit(&SELECT);
    assert_eq!(&resp[resp.len() - 2..], &[0x90, 0x00], "SELECT");
    card
}

/// The command APDUs python-fido2 sends for one CTAP message over NFC: NFCCTAP_MSG in short
/// APDUs, chained in 250-byte parts with CLA 90, Le = 00 on the last part (P1 00: the benches
/// measure the card's work, never a 9100 status update).
pub fn frame(message: &[u8]) -> Vec<Vec<u8>> {
    let framing = Framing {
        length: Length::Short,
        msg_p1: 0x00,
        ..Framing::python_fido2()
    };
    nfc::frame(&framing, message)
}

/// Sends the framed APDUs and collects the response data through GET RESPONSE: command APDU
/// bytes in, response APDU bytes out. Returns the CTAP response (status byte || CBOR).
pub fn exchange(card: &mut Card, apdus: &[Vec<u8>]) -> Vec<u8> {
    let (last, chained) = apdus.split_last().expect("one APDU at least");
    for apdu in chained {
        let resp = card.transmit(apdu);
        debug_assert_eq!(resp, [0x90, 0x00]);
    }
    let mut resp = card.transmit(last);
    let mut data = Vec::new();
    loop {
        let n = resp.len() - 2;
        let (sw1, sw2) = (resp[n], resp[n + 1]);
        data.extend_from_slice(&resp[..n]);
        match sw1 {
            0x90 => return data,
            0x61 => {
                let _ = sw2;
                resp = card.transmit(&GET_RESPONSE);
            }
            _ => panic!("status word {sw1:02X}{sw2:02X}"),
        }
    }
}

/// One CTAP command through the APDU path; panics unless the CTAP status is OK.
pub fn ctap(card: &mut Card, command: u8, params: Option<&Value>) -> Value {
    let mut message = vec![command];
    if let Some(p) = params {
        message.extend_from_slice(&p.to_vec());
    }
    let data = exchange(card, &frame(&message));
    let (&status, body) = data.split_first().expect("status byte");
    assert_eq!(status, 0, "CTAP status {status:#04x}");
    if body.is_empty() {
        Value::Null
    } else {
        cbor::parse(body).expect("CBOR")
    }
}

/// A CTAP message (command byte || CBOR).
pub fn message(command: u8, params: &Value) -> Vec<u8> {
    let mut message = vec![command];
    message.extend_from_slice(&params.to_vec());
    message
}

pub fn int(n: i64) -> Value {
    Value::int(n)
}

pub fn text(s: &str) -> Value {
    Value::text(s)
}

pub fn client_data_hash() -> Vec<u8> {
    crypto::sha256(b"benchmark client data").to_vec()
}

/// A makeCredential request (ES256, optional rk), as `fido-host` builds it.
pub fn make_credential_request(user_id: &[u8], rk: bool) -> Value {
    make_credential_request_for(user_id, rk, &[])
}

/// A makeCredential request asking for `algorithms` (COSE, preferred first; empty: ES256).
pub fn make_credential_request_for(user_id: &[u8], rk: bool, algorithms: &[i64]) -> Value {
    let req = MakeCredential {
        client_data_hash: client_data_hash().try_into().expect("32 bytes"),
        rp_id: RP.into(),
        user_id: user_id.to_vec(),
        user_name: "alice@example.com".into(),
        rk,
        extensions: None,
        exclude_list: Vec::new(),
        algorithms: algorithms.to_vec(),
    };
    Client::make_credential_params(&req, None)
}

/// A getAssertion request; `allow` empty for a discoverable one.
pub fn get_assertion_request(rp: &str, allow: &[&[u8]]) -> Value {
    let req = GetAssertion {
        rp_id: rp.into(),
        client_data_hash: client_data_hash().try_into().expect("32 bytes"),
        allow_list: allow.iter().map(|id| id.to_vec()).collect(),
        extensions: None,
        up: None,
    };
    Client::get_assertion_params(&req, None)
}

/// The credential id of a makeCredential response (WebAuthn §6.5.1 attested credential data).
pub fn credential_id(response: &Value) -> Vec<u8> {
    let auth_data = IntMap::new(response)
        .expect("map")
        .required(make_credential::response::AUTH_DATA)
        .expect("authData")
        .as_bytes()
        .expect("bytes");
    fido_host::attestation::parse_auth_data(auth_data)
        .expect("authData")
        .attested
        .expect("attested credential data")
        .credential_id
}

/// A resident credential as makeCredential stores it, with a valid sealed id.
pub fn resident_credential(
    state: &State,
    rng: &mut SeededRng,
    rp_id: &str,
    index: usize,
) -> ResidentCredential {
    let private_key = CredentialKey::generate(crypto::Algorithm::Es256, rng);
    let flags = WrappedCredential::pack_flags(true, 0, false);
    let wrapped = WrappedCredential { private_key, flags };
    let credential_id = crypto::wrap_credential(
        &state.wrapping_key,
        rng,
        &crypto::sha256(rp_id.as_bytes()),
        &wrapped,
    );
    ResidentCredential {
        rp_id: rp_id.to_string(),
        rp_name: Some(format!("Relying party {rp_id}")),
        user_id: crypto::sha256(format!("user {index}").as_bytes()).to_vec(),
        user_name: Some(format!("user{index}@{rp_id}")),
        user_display_name: Some(format!("User number {index}")),
        credential_id,
        private_key: *wrapped.private_key.to_bytes(),
        flags,
        creation_order: index as u64,
        cred_blob: None,
        large_blob_key: None,
        algorithm: crypto::Algorithm::Es256,
    }
}

/// The RP of the `index`-th synthetic credential: 10 accounts per relying party, and the
/// benchmark's own RP gets the first ten.
pub fn synthetic_rp(index: usize) -> String {
    match index / 10 {
        0 => RP.to_string(),
        n => format!("rp{n}.example"),
    }
}

/// Fills `storage` (a card's memory, already initialized) with `n` resident credentials
/// directly in its record log (a compacted one): registering 10 000 through makeCredential
/// would take most of the benchmark's time.
pub fn populate(storage: &MemoryStorage, n: usize) {
    let image = storage.image().expect("initialized card");
    let mut state: State = fido_applet::state::decode_log(&image, "memory").expect("state");
    let mut rng = SeededRng::new(7);
    for i in 0..n {
        let cred = resident_credential(&state, &mut rng, &synthetic_rp(i), i);
        state.resident.push(cred);
    }
    state.next_creation_order = n as u64;
    storage.set_image(Some(
        fido_applet::state::encode_log(&state).expect("encode"),
    ));
}

/// A fresh card's memory holding `n` resident credentials.
pub fn storage_with(n: usize) -> MemoryStorage {
    let storage = MemoryStorage::new();
    drop(card(profile(n), &storage));
    populate(&storage, n);
    storage
}
