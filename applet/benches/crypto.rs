//! The crypto floor: the curve operations every CTAP command pays for, through the applet's own
//! `crypto` module (RustCrypto `p256`, the default backend). `ctap/*` figures are compared to
//! these in BENCHMARKS.md.

use criterion::{Criterion, criterion_group, criterion_main};
use fido_applet::crypto::{PrivateKey, sha256};
use fido_applet::platform::SeededRng;
use std::hint::black_box;

fn crypto(c: &mut Criterion) {
    let mut group = c.benchmark_group("crypto");
    let mut rng = SeededRng::new(1);
    let key = PrivateKey::generate(&mut rng);
    // authenticatorData (37 bytes) || clientDataHash (32 bytes): what getAssertion signs.
    let message = [0x5au8; 69];

    // One ECDSA P-256 / SHA-256 signature from the stored scalar (RFC 6979 nonce, DER).
    group.bench_function("ecdsa_p256_sign", |b| {
        b.iter(|| black_box(key.sign(black_box(&message))))
    });

    // A new credential key pair: random scalar and its public key (one base-point multiplication).
    group.bench_function("p256_keygen", |b| {
        b.iter(|| {
            let key = PrivateKey::generate(&mut rng);
            black_box(key.public_key())
        })
    });

    // ECDH with a static key and a peer point (variable-base multiplication): clientPIN's
    // key agreement.
    let peer = PrivateKey::generate(&mut rng).public_key();
    group.bench_function("ecdh_p256", |b| {
        b.iter(|| black_box(key.ecdh(black_box(&peer))))
    });

    // The floor of makeCredential with packed batch attestation: one key pair (the credential's
    // public key goes into authData) and one signature (the batch key signs authData ||
    // clientDataHash; the credential key signs nothing at registration). Two base-point
    // multiplications in all.
    group.bench_function("keygen_plus_sign", |b| {
        b.iter(|| {
            let new = PrivateKey::generate(&mut rng);
            black_box(new.public_key());
            black_box(key.sign(black_box(&message)))
        })
    });

    group.bench_function("sha256_69", |b| b.iter(|| black_box(sha256(&message))));
    group.finish();
}

criterion_group!(benches, crypto);
criterion_main!(benches);
