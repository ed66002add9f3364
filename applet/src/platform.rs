//! Everything the card takes from outside itself: randomness, time and the user-presence gate.
//!
//! The applet is sans-IO (see `docs/ARCHITECTURE.md`): a Java Card applet reaches its TRNG through
//! `javacard.security.RandomData` and has no wall clock, and ours reaches the host the same way,
//! through the small traits below. Production builds use [`Platform::system`]; tests, fuzzers and
//! trace replay use [`Platform::seeded`] so that every key, nonce and credential id is
//! reproducible.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::digest::hmac_sha256;

/// A source of cryptographically strong random bytes (the card's TRNG).
pub trait Rng: Send {
    /// Fills `dest` entirely with random bytes.
    fn fill_bytes(&mut self, dest: &mut [u8]);
}

/// The operating system's CSPRNG (`getrandom`), for real use.
#[derive(Clone, Copy, Debug, Default)]
pub struct OsRng;

impl Rng for OsRng {
    /// # Panics
    /// If the operating system cannot supply randomness. A card whose TRNG fails must stop
    /// rather than mint guessable keys, so this is the one place the applet deliberately panics;
    /// it does not depend on anything a host sends.
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        if let Err(err) = getrandom::fill(dest) {
            panic!("the operating system's random number generator failed: {err}");
        }
    }
}

/// A deterministic random bit generator: HMAC_DRBG with HMAC-SHA-256 (NIST SP 800-90A Rev. 1,
/// §10.1.2), instantiated from a 64-bit seed.
///
/// For tests and trace replay only: the same seed yields the same byte stream, so the same
/// credential ids, keys and certificates. 64 bits of seed are far below the 256-bit security
/// strength the mechanism could give, so never use it for a card that holds real credentials.
///
/// The output of `fill_bytes(a)` followed by `fill_bytes(b)` depends on how the requests were split
/// (each request is one SP 800-90A Generate call), which is fine for replay: the applet makes the
/// same requests in the same order.
#[derive(Clone)]
pub struct SeededRng {
    drbg: HmacDrbg,
}

/// Personalization string (SP 800-90A §8.7.1) that separates this use of HMAC_DRBG from others.
const SEEDED_RNG_PERSONALIZATION: &[u8] = b"virtual-fido-card SeededRng v1";

impl SeededRng {
    /// Instantiates the DRBG with `seed` (big-endian) as entropy input and a fixed personalization
    /// string; no nonce (the seed is the caller's choice, not a secret).
    pub fn new(seed: u64) -> Self {
        Self {
            drbg: HmacDrbg::instantiate(&seed.to_be_bytes(), &[], SEEDED_RNG_PERSONALIZATION),
        }
    }
}

impl fmt::Debug for SeededRng {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SeededRng").finish_non_exhaustive()
    }
}

impl Rng for SeededRng {
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        // SP 800-90A Table 2: at most 2^19 bits per Generate request.
        for chunk in dest.chunks_mut(HmacDrbg::MAX_BYTES_PER_REQUEST) {
            self.drbg.generate(chunk);
        }
    }
}

/// The HMAC_DRBG working state (K, V) of SP 800-90A §10.1.2.1. Reseeding is not modelled: the
/// reseed interval (2^48 requests) is out of reach of any test, and a deterministic generator has
/// no fresh entropy to reseed from.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
struct HmacDrbg {
    key: [u8; 32],
    v: [u8; 32],
}

impl HmacDrbg {
    const MAX_BYTES_PER_REQUEST: usize = (1 << 19) / 8;

    /// HMAC_DRBG_Instantiate_algorithm (§10.1.2.3): seed_material = entropy || nonce ||
    /// personalization; K = 0x00…, V = 0x01…; (K, V) = Update(seed_material).
    fn instantiate(entropy: &[u8], nonce: &[u8], personalization: &[u8]) -> Self {
        let mut drbg = Self {
            key: [0x00; 32],
            v: [0x01; 32],
        };
        drbg.update(&[entropy, nonce, personalization]);
        drbg
    }

    /// HMAC_DRBG_Update (§10.1.2.2). `provided` is the concatenation of its parts; when it is
    /// empty the second round is skipped, as the standard says.
    fn update(&mut self, provided: &[&[u8]]) {
        let empty = provided.iter().all(|part| part.is_empty());
        for round in [0x00u8, 0x01] {
            let mut parts: Vec<&[u8]> = Vec::with_capacity(provided.len() + 2);
            parts.push(&self.v);
            parts.push(std::slice::from_ref(&round));
            parts.extend_from_slice(provided);
            let key = hmac_sha256(&self.key, &parts);
            self.key = key;
            self.v = hmac_sha256(&self.key, &[&self.v]);
            if empty {
                break;
            }
        }
    }

    /// HMAC_DRBG_Generate_algorithm (§10.1.2.5) without additional input.
    fn generate(&mut self, out: &mut [u8]) {
        for block in out.chunks_mut(32) {
            self.v = hmac_sha256(&self.key, &[&self.v]);
            // `chunks_mut(32)` yields at most 32 bytes, so the range is always in bounds.
            block.copy_from_slice(&self.v[..block.len()]);
        }
        self.update(&[]);
    }
}

/// A monotonic millisecond clock. The origin is arbitrary (power-up of the process); only
/// differences matter, e.g. CTAP 2.1 §6.6's "reset within 10 seconds of power-up" and the
/// pinUvAuthToken timeouts of §6.5.2.
pub trait Clock: Send {
    /// Milliseconds since the clock's origin; never decreases.
    fn now_ms(&self) -> u64;
}

/// The host's monotonic clock ([`Instant`]), starting at 0 when created.
#[derive(Clone, Copy, Debug)]
pub struct SystemClock {
    origin: Instant,
}

impl SystemClock {
    /// A clock whose origin is now.
    pub fn new() -> Self {
        Self {
            origin: Instant::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        // Saturates after ~584 million years.
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

/// A clock that moves only when told to, for tests. Clones share the same time, so a test can keep
/// one handle while the card owns another.
#[derive(Clone, Debug, Default)]
pub struct ManualClock {
    now: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock reading `start_ms`.
    pub fn new(start_ms: u64) -> Self {
        Self {
            now: Arc::new(AtomicU64::new(start_ms)),
        }
    }

    /// Moves the clock forward by `ms` (saturating).
    pub fn advance(&self, ms: u64) {
        // The closure always returns Some, so fetch_update cannot fail.
        let _ = self
            .now
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |t| {
                Some(t.saturating_add(ms))
            });
    }

    /// Sets the clock to `ms`. Setting it backwards breaks the [`Clock`] contract; tests may do it
    /// on purpose.
    pub fn set(&self, ms: u64) {
        self.now.store(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.now.load(Ordering::SeqCst)
    }
}

pub use crate::presence::{ParsePresencePolicyError, PresenceGate, PresencePolicy};

/// The card's view of its host: one bundle handed to the applet when it is created.
pub struct Platform {
    /// The card's random number generator.
    pub rng: Box<dyn Rng>,
    /// The card's monotonic clock.
    pub clock: Box<dyn Clock>,
    /// How user-presence tests are answered: the gate a driver shares to touch and to change
    /// the policy at run time ([`crate::presence`]).
    pub presence: PresenceGate,
}

impl Platform {
    /// The real thing: the OS CSPRNG, the host's monotonic clock, presence by tap.
    pub fn system() -> Self {
        Self {
            rng: Box::new(OsRng),
            clock: Box::new(SystemClock::new()),
            presence: PresenceGate::default(),
        }
    }

    /// Reproducible: an HMAC_DRBG seeded with `seed` and a [`ManualClock`] at 0.
    pub fn seeded(seed: u64) -> Self {
        Self::seeded_with_clock(seed).0
    }

    /// A deterministic RNG from `seed` with the real clock: what a running card started with
    /// `--seed` needs, so that time-bound rules (reset's 10 s window, token lifetimes) still
    /// follow real time while every random choice is reproducible.
    pub fn seeded_with_system_clock(seed: u64) -> Self {
        Self {
            rng: Box::new(SeededRng::new(seed)),
            clock: Box::new(SystemClock::new()),
            presence: PresenceGate::default(),
        }
    }

    /// As [`Platform::seeded`], also returning a handle on the card's clock so a test can move
    /// time.
    pub fn seeded_with_clock(seed: u64) -> (Self, ManualClock) {
        let clock = ManualClock::new(0);
        let platform = Self {
            rng: Box::new(SeededRng::new(seed)),
            clock: Box::new(clock.clone()),
            presence: PresenceGate::default(),
        };
        (platform, clock)
    }

    /// A new presence gate answering by `presence`.
    pub fn with_presence(mut self, presence: PresencePolicy) -> Self {
        self.presence = PresenceGate::new(presence);
        self
    }

    /// Uses `gate`, a handle the caller keeps (to touch, or to change the policy later).
    pub fn with_presence_gate(mut self, gate: PresenceGate) -> Self {
        self.presence = gate;
        self
    }
}

impl fmt::Debug for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Platform")
            .field("now_ms", &self.clock.now_ms())
            .field("presence", &self.presence.policy())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::hex;

    /// NIST CAVP DRBGVS `HMAC_DRBG.rsp` (no reseed), [SHA-256] [PredictionResistance = False]
    /// [EntropyInputLen = 256] [NonceLen = 128] [PersonalizationStringLen = 0]
    /// [AdditionalInputLen = 0] [ReturnedBitsLen = 1024], COUNT = 0: instantiate, Generate twice,
    /// the second output is ReturnedBits. Also checks the intermediate (K, V) the file lists.
    #[test]
    fn hmac_drbg_matches_cavp_vector() {
        let entropy = hex("ca851911349384bffe89de1cbdc46e6831e44d34a4fb935ee285dd14b71a7488");
        let nonce = hex("659ba96c601dc69fc902940805ec0ca8");
        // The (V, Key) working state the file lists after each step (SP 800-90A §10.1.2.1).
        let assert_state = |drbg: &HmacDrbg, v: &str, key: &str| {
            assert_eq!(drbg.v.to_vec(), hex(v));
            assert_eq!(drbg.key.to_vec(), hex(key));
        };
        let mut drbg = HmacDrbg::instantiate(&entropy, &nonce, &[]);
        assert_state(
            &drbg,
            "e75855f93b971ac468d200992e211960202d53cf08852ef86772d6490bfb53f9",
            "302a4aba78412ab36940f4be7b940a0c728542b8b81d95b801a57b3797f9dd6e",
        );

        let mut out = [0u8; 128];
        drbg.generate(&mut out);
        assert_state(
            &drbg,
            "bfbdcf455d5c82acafc59f339ce57126ff70b67aef910fa25db7617818faeafe",
            "911bf7cbda4387a172a1a3daf6c9fa8e17c4bfef69cc7eff1341e7eef88d2811",
        );

        drbg.generate(&mut out);
        let expected = hex(concat!(
            "e528e9abf2dece54d47c7e75e5fe302149f817ea9fb4bee6f4199697d04d5b89",
            "d54fbb978a15b5c443c9ec21036d2460b6f73ebad0dc2aba6e624abf07745bc1",
            "07694bb7547bb0995f70de25d6b29e2d3011bb19d27676c07162c8b5ccde0668",
            "961df86803482cb37ed6d5c0bb8d50cf1f50d476aa0458bdaba806f48be9dcb8",
        ));
        assert_eq!(out.to_vec(), expected);
    }

    #[test]
    fn seeded_rng_is_deterministic_per_seed() {
        let mut a = SeededRng::new(42);
        let mut b = SeededRng::new(42);
        let mut c = SeededRng::new(43);
        let (mut x, mut y, mut z) = ([0u8; 100], [0u8; 100], [0u8; 100]);
        a.fill_bytes(&mut x);
        b.fill_bytes(&mut y);
        c.fill_bytes(&mut z);
        assert_eq!(x, y);
        assert_ne!(x, z);
        assert_ne!(x, [0u8; 100]);

        // The stream moves on: the next request differs from the first.
        let mut x2 = [0u8; 100];
        a.fill_bytes(&mut x2);
        assert_ne!(x, x2);
    }

    #[test]
    fn seeded_rng_fills_odd_and_large_requests() {
        let mut rng = SeededRng::new(7);
        let mut empty = [];
        rng.fill_bytes(&mut empty);
        // Within one request the output is a prefix of a longer request's output (the DRBG emits
        // whole HMAC blocks and updates its state after the request).
        let mut odd = [0u8; 33];
        rng.fill_bytes(&mut odd);
        let mut longer = [0u8; 64];
        SeededRng::new(7).fill_bytes(&mut longer);
        assert_eq!(odd[..], longer[..33]);

        let mut big = vec![0u8; HmacDrbg::MAX_BYTES_PER_REQUEST + 17];
        rng.fill_bytes(&mut big);
        assert!(
            big[HmacDrbg::MAX_BYTES_PER_REQUEST..]
                .iter()
                .any(|&b| b != 0)
        );
    }

    #[test]
    fn os_rng_fills() {
        let mut a = [0u8; 32];
        let mut b = [0u8; 32];
        OsRng.fill_bytes(&mut a);
        OsRng.fill_bytes(&mut b);
        assert_ne!(a, b);
    }

    #[test]
    fn manual_clock_is_shared_between_clones() {
        let (platform, clock) = Platform::seeded_with_clock(1);
        assert_eq!(platform.clock.now_ms(), 0);
        clock.advance(1500);
        assert_eq!(platform.clock.now_ms(), 1500);
        clock.set(10);
        assert_eq!(platform.clock.now_ms(), 10);
        clock.set(u64::MAX - 1);
        clock.advance(5);
        assert_eq!(platform.clock.now_ms(), u64::MAX);
    }

    #[test]
    fn system_clock_is_monotonic() {
        let clock = SystemClock::new();
        let a = clock.now_ms();
        let b = clock.now_ms();
        assert!(b >= a);
    }

    #[test]
    fn seeded_platforms_replay() {
        let mut p1 = Platform::seeded(9);
        let mut p2 = Platform::seeded(9);
        let (mut a, mut b) = ([0u8; 16], [0u8; 16]);
        p1.rng.fill_bytes(&mut a);
        p2.rng.fill_bytes(&mut b);
        assert_eq!(a, b);
        assert_eq!(
            Platform::system()
                .with_presence(PresencePolicy::Deny)
                .presence
                .policy(),
            PresencePolicy::Deny
        );
    }
}
