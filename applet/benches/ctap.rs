//! CTAP commands through the whole APDU path: command APDU bytes into `apdu::Card::transmit` of
//! a card from `fido_applet::CardBuilder` (MemoryStorage, seeded platform), response APDU bytes
//! out, framed as python-fido2 frames them over NFC (short APDUs, chaining, GET RESPONSE).

mod common;

use common::*;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use ctap_types::cbor::{self, IntMap, Value};
use ctap_types::cose;
use fido_applet::crypto::{Algorithm, Backend, CredentialKey};
use fido_applet::pin_protocol::{KeyAgreementKey, PinProtocol};
use fido_applet::platform::SeededRng;
use std::hint::black_box;

fn get_info(c: &mut Criterion) {
    let storage = card_storage::MemoryStorage::new();
    let mut card = card(profile(0), &storage);
    let apdus = frame(&[GET_INFO]);
    c.bench_function("ctap/get_info", |b| {
        b.iter(|| black_box(exchange(&mut card, black_box(&apdus))))
    });
}

fn make_credential(c: &mut Criterion) {
    for &backend in Backend::BUILT_IN {
        let mut group = c.benchmark_group(format!("{backend}/make_credential"));
        for (name, rk, algorithms) in [
            ("non_resident", false, &[][..]),
            ("resident", true, &[][..]),
            ("eddsa", false, &[cose::EDDSA][..]),
        ] {
            let storage = card_storage::MemoryStorage::new();
            let mut card = card_with(profile(0), &storage, backend);
            // The same user every time: a resident credential overwrites the previous one, so
            // the state does not grow during the measurement.
            let apdus = frame(&message(
                MAKE_CREDENTIAL,
                &make_credential_request_for(b"user-0001", rk, algorithms),
            ));
            assert_eq!(exchange(&mut card, &apdus)[0], 0, "makeCredential");
            group.bench_function(name, |b| {
                b.iter(|| black_box(exchange(&mut card, black_box(&apdus))))
            });
        }
        group.finish();
    }
}

fn make_credential_rk_at_scale(c: &mut Criterion) {
    let mut group = c.benchmark_group("ctap/make_credential_rk");
    // A resident makeCredential through the whole APDU path on a card holding `n` resident
    // credentials: key generation, the credential's record and the counter committed, the
    // attestation signed. The same account every time (its credential is replaced), so the
    // card stays at `n`.
    for n in [10usize, 1_000, 10_000] {
        let storage = storage_with(n);
        let mut card = card(profile(n), &storage);
        let apdus = frame(&message(
            MAKE_CREDENTIAL,
            &make_credential_request(b"user-0001", true),
        ));
        assert_eq!(exchange(&mut card, &apdus)[0], 0, "makeCredential");
        group.bench_with_input(BenchmarkId::from_parameter(n), &apdus, |b, apdus| {
            b.iter(|| black_box(exchange(&mut card, black_box(apdus))))
        });
    }
    group.finish();
}

fn get_assertion(c: &mut Criterion) {
    for &backend in Backend::BUILT_IN {
        // The floor measured in this process just before the command it bounds: one signature
        // of authData (37 bytes) || clientDataHash (32 bytes) with a prepared key (the shared
        // machine's load moves figures between bench binaries more than within one).
        for (name, alg) in [
            ("get_assertion_floor", Algorithm::Es256),
            ("get_assertion_eddsa_floor", Algorithm::EdDsa),
        ] {
            let key = CredentialKey::generate(alg, &mut SeededRng::new(5));
            let signer = backend.ops().signer(&key);
            let message = [0x5au8; 69];
            c.bench_function(&format!("{backend}/{name}"), |b| {
                b.iter(|| black_box(signer.sign(&[black_box(&message)])))
            });
        }
        // Non-resident credentials, allowList of one, user presence only: ES256
        // (`…/get_assertion`) and EdDSA (`…/get_assertion_eddsa`).
        for (name, algorithms) in [
            ("get_assertion", &[][..]),
            ("get_assertion_eddsa", &[cose::EDDSA][..]),
        ] {
            let storage = card_storage::MemoryStorage::new();
            let mut card = card_with(profile(0), &storage, backend);
            let registration = ctap(
                &mut card,
                MAKE_CREDENTIAL,
                Some(&make_credential_request_for(
                    b"user-0001",
                    false,
                    algorithms,
                )),
            );
            let id = credential_id(&registration);
            let apdus = frame(&message(GET_ASSERTION, &get_assertion_request(RP, &[&id])));
            assert_eq!(exchange(&mut card, &apdus)[0], 0, "getAssertion");
            c.bench_function(&format!("{backend}/{name}"), |b| {
                b.iter(|| black_box(exchange(&mut card, black_box(&apdus))))
            });
        }
    }
}

fn get_assertion_rk(c: &mut Criterion) {
    let mut group = c.benchmark_group("ctap/get_assertion_rk");
    // A discoverable getAssertion (no allowList) for an RP holding 10 accounts, on a card
    // holding `n` resident credentials in all (10 per RP).
    for n in [10usize, 1_000, 10_000] {
        let storage = storage_with(n);
        let mut card = card(profile(n), &storage);
        let apdus = frame(&message(GET_ASSERTION, &get_assertion_request(RP, &[])));
        let first = exchange(&mut card, &apdus);
        assert_eq!(first[0], 0, "getAssertion");
        let response = cbor::parse(&first[1..]).expect("CBOR");
        let count = IntMap::new(&response)
            .expect("map")
            .get(5)
            .map(|v| v.as_unsigned().expect("uint"));
        assert_eq!(count, Some(n.min(10) as u64), "numberOfCredentials");
        group.bench_with_input(BenchmarkId::from_parameter(n), &apdus, |b, apdus| {
            b.iter(|| black_box(exchange(&mut card, black_box(apdus))))
        });
    }
    group.finish();
}

fn client_pin_token(c: &mut Criterion) {
    for &backend in Backend::BUILT_IN {
        client_pin_token_with(c, backend);
    }
}

fn client_pin_token_with(c: &mut Criterion, backend: Backend) {
    let storage = card_storage::MemoryStorage::new();
    let mut card = card_with(profile(0), &storage, backend);
    let protocol = PinProtocol::V2;
    let mut rng = SeededRng::new(99);

    // getKeyAgreement: the card's key stays the same until a power cycle or a wrong PIN, so the
    // platform's half of the exchange is computed once and the same request replayed.
    let key_agreement = ctap(
        &mut card,
        CLIENT_PIN,
        Some(&Value::Map(vec![(int(1), int(2)), (int(2), int(2))])),
    );
    let card_key = IntMap::new(&key_agreement)
        .expect("map")
        .required(1)
        .expect("keyAgreement")
        .clone();
    let coordinate = |label: i64| {
        card_key
            .as_map()
            .expect("COSE_Key")
            .iter()
            .find(|(k, _)| *k == int(label))
            .and_then(|(_, v)| v.as_bytes().ok())
            .expect("coordinate")
    };
    let (x, y) = (coordinate(-2), coordinate(-3));
    let host = KeyAgreementKey::generate(backend.ops(), &mut rng);
    let secret = host.decapsulate(protocol, x, y).expect("agreement");
    let cose = cbor::parse(&host.cose_key()).expect("COSE_Key");

    // setPin "1234".
    let mut padded = [0u8; 64];
    padded[..4].copy_from_slice(b"1234");
    let new_pin_enc = secret.encrypt(&mut rng, &padded);
    let param = secret.authenticate(&new_pin_enc);
    ctap(
        &mut card,
        CLIENT_PIN,
        Some(&Value::Map(vec![
            (int(1), int(2)),
            (int(2), int(3)),
            (int(3), cose.clone()),
            (int(4), Value::bytes(param)),
            (int(5), Value::bytes(new_pin_enc)),
        ])),
    );

    // getPinUvAuthTokenUsingPinWithPermissions (mc | ga) for the RP.
    let pin_hash = fido_applet::crypto::sha256(b"1234");
    let pin_hash_enc = secret.encrypt(&mut rng, &pin_hash[..16]);
    let request = Value::Map(vec![
        (int(1), int(2)),
        (int(2), int(9)),
        (int(3), cose),
        (int(6), Value::bytes(pin_hash_enc)),
        (int(9), Value::Unsigned(0x03)),
        (int(10), text(RP)),
    ]);
    let apdus = frame(&message(CLIENT_PIN, &request));
    assert_eq!(exchange(&mut card, &apdus)[0], 0, "getPinUvAuthToken");
    c.bench_function(&format!("{backend}/client_pin_token"), |b| {
        b.iter(|| black_box(exchange(&mut card, black_box(&apdus))))
    });
}

criterion_group!(
    benches,
    get_info,
    make_credential,
    make_credential_rk_at_scale,
    get_assertion,
    get_assertion_rk,
    client_pin_token
);
criterion_main!(benches);
