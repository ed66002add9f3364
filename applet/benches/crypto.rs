//! The crypto floor: the curve operations every CTAP command pays for, through the applet's
//! crypto seam, once per backend built in (`rustcrypto/…`, and `aws-lc/…` with the feature
//! `asm-crypto`), so that the two compare in one run. `…/get_assertion` and the other CTAP
//! figures of `benches/ctap.rs` are compared to these in BENCHMARKS.md.

use criterion::{Criterion, criterion_group, criterion_main};
use fido_applet::crypto::{Algorithm, Backend, CredentialKey, PrivateKey, sha256};
use fido_applet::platform::SeededRng;
use std::hint::black_box;

fn crypto(c: &mut Criterion) {
    // authenticatorData (37 bytes) || clientDataHash (32 bytes): what getAssertion signs.
    let message = [0x5au8; 69];
    for &backend in Backend::BUILT_IN {
        let ops = backend.ops();
        let mut group = c.benchmark_group(backend.name());
        let mut rng = SeededRng::new(1);
        let key = CredentialKey::generate(Algorithm::Es256, &mut rng);
        let signer = ops.signer(&key);

        // One ECDSA P-256 / SHA-256 signature with a prepared key (what getAssertion pays when
        // the card's signer cache holds the credential).
        group.bench_function("ecdsa_sign", |b| {
            b.iter(|| black_box(signer.sign(&[black_box(&message)])))
        });

        // The same from the stored scalar alone: preparing the key, then one signature (a
        // credential the cache does not hold).
        group.bench_function("ecdsa_sign_unprepared", |b| {
            b.iter(|| black_box(ops.signer(black_box(&key)).sign(&[&message])))
        });

        // A new credential key pair: random scalar and its public key (one base-point
        // multiplication).
        group.bench_function("p256_keygen", |b| {
            b.iter(|| {
                let key = CredentialKey::generate(Algorithm::Es256, &mut rng);
                black_box(ops.signer(&key).public_key())
            })
        });

        // ECDH with the static key-agreement key and a peer point (variable-base
        // multiplication): clientPIN's key agreement.
        let peer = ops
            .key_agreement(PrivateKey::generate(&mut rng))
            .public_key();
        let agreement = ops.key_agreement(PrivateKey::generate(&mut rng));
        group.bench_function("ecdh", |b| {
            b.iter(|| black_box(agreement.agree(black_box(&peer))))
        });

        // Ed25519 (COSE -8): a signature with a prepared key, and a new key pair.
        let ed_key = CredentialKey::generate(Algorithm::EdDsa, &mut rng);
        let ed_signer = ops.signer(&ed_key);
        group.bench_function("ed25519_sign", |b| {
            b.iter(|| black_box(ed_signer.sign(&[black_box(&message)])))
        });
        group.bench_function("ed25519_keygen", |b| {
            b.iter(|| {
                let key = CredentialKey::generate(Algorithm::EdDsa, &mut rng);
                black_box(ops.signer(&key).public_key())
            })
        });

        // The floor of makeCredential with packed batch attestation: one key pair (the
        // credential's public key goes into authData) and one signature by the (prepared) batch
        // key over authData || clientDataHash.
        group.bench_function("keygen_plus_sign", |b| {
            b.iter(|| {
                let new = CredentialKey::generate(Algorithm::Es256, &mut rng);
                black_box(ops.signer(&new).public_key());
                black_box(signer.sign(&[black_box(&message)]))
            })
        });
        group.finish();
    }

    c.bench_function("crypto/sha256_69", |b| {
        b.iter(|| black_box(sha256(&message)))
    });
}

criterion_group!(benches, crypto);
criterion_main!(benches);
