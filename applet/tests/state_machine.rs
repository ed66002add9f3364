//! Property-based state-machine tests over the whole card: random sequences of APDUs — valid CTAP
//! requests with random fields, sent chained or unchained, answers fetched with GET RESPONSE in
//! random chunk sizes (sometimes abandoned halfway), garbage APDUs and CTAP messages, power
//! events, re-selection, clock jumps and power cuts at a write — checked after every step
//! against invariants that must hold whatever the host does:
//!
//! - the card never panics and always answers a well-formed response APDU;
//! - memory stays bounded: the persistent image and the resident credential count stay under the
//!   profile's limits, and no answer is larger than the largest legitimate one;
//! - the PIN retry counter never increases without a right PIN (setPIN, changePIN, a token) or
//!   authenticatorReset;
//! - a credential made for one relying party is never returned to another, nor one the host
//!   never registered;
//! - the UV flag is never set unless the request carried a pinUvAuthParam from a PIN token.
//!
//! The case counts are kept moderate (CI runs everything in a few minutes); raise them with
//! `PROPTEST_CASES=N` for a longer local run.

#[allow(dead_code)] // each test file is its own crate and uses only part of the shared host
mod host;

use std::collections::{HashMap, HashSet};

use card_storage::MemoryStorage;
use card_storage::records::{Cut, FaultyLog};
use ctap_types::cbor::Value;
use fido_applet::platform::Clock;
use fido_applet::profile::Profile;
use host::storage::*;
use host::*;
use proptest::prelude::*;

const SEED: u64 = 5;
const RPS: [&str; 3] = ["example.com", "other.org", "evil.example"];
const PINS: [&str; 3] = ["1234", "87654321", "0000"];

/// How a CTAP message crosses the interface.
#[derive(Clone, Debug)]
enum Framing {
    /// One extended APDU, the answer fetched with GET RESPONSE in parts of `le` bytes.
    Extended { le: u16 },
    /// Short APDUs chained in parts of `chunk` bytes; the answer fetched with Le `le`
    /// (0 = 256).
    Chained { chunk: u8, le: u8 },
}

#[derive(Clone, Debug)]
enum Op {
    MakeCredential {
        rp: usize,
        user: u8,
        rk: bool,
        token: bool,
        uv_option: bool,
        exclude: Option<usize>,
        framing: Framing,
    },
    GetAssertion {
        rp: usize,
        allow: Vec<usize>,
        forged: bool,
        token: bool,
        up: Option<bool>,
        framing: Framing,
    },
    GetNextAssertion,
    SetPin(usize),
    ChangePin(usize, usize),
    Token {
        pin: usize,
        permissions: u64,
        rp: Option<usize>,
    },
    Retries,
    GetInfo,
    Reset,
    PowerCycle,
    WarmReset,
    Reselect,
    SelectOther,
    Advance(u32),
    /// A power cut during the n-th write from now, after `kept` bytes of it reached the memory
    /// (fewer than any commit has: the host never sees a failure of a write that landed, which
    /// the model of issued credentials could not tell from a forged one); the card is pulled
    /// when it happens.
    ArmPowerCut(u8, u16),
    /// The record log is padded to just under its compaction threshold (as by a long history of
    /// small commits), then the card is tapped again: its next commit compacts the log.
    PadLog,
    /// The card leaves the field and is tapped again (a new card object on the same memory).
    Reload,
    /// An abandoned chain: some parts of a request, then the host goes away or moves on.
    AbandonedChain {
        parts: u8,
        then_reset: bool,
    },
    /// A long answer fetched halfway, then another command.
    AbandonedGetResponse,
    /// Random bytes as an APDU.
    Garbage(Vec<u8>),
    /// A CTAP command byte and random parameter bytes in NFCCTAP_MSG.
    GarbageCtap(u8, Vec<u8>),
}

fn framing() -> impl Strategy<Value = Framing> {
    prop_oneof![
        prop_oneof![Just(0u16), 1u16..300, Just(0xFFFF)].prop_map(|le| Framing::Extended { le }),
        (1u8..=255, any::<u8>()).prop_map(|(chunk, le)| Framing::Chained { chunk, le }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..3usize, 0..3u8, any::<bool>(), any::<bool>(), prop::bool::weighted(0.1),
              prop::option::weighted(0.2, 0..16usize), framing())
            .prop_map(|(rp, user, rk, token, uv_option, exclude, framing)| Op::MakeCredential {
                rp, user, rk, token, uv_option, exclude, framing
            }),
        6 => (0..3usize, prop::collection::vec(0..16usize, 0..3), prop::bool::weighted(0.2),
              any::<bool>(), prop::option::weighted(0.2, any::<bool>()), framing())
            .prop_map(|(rp, allow, forged, token, up, framing)| Op::GetAssertion {
                rp, allow, forged, token, up, framing
            }),
        2 => Just(Op::GetNextAssertion),
        2 => (0..3usize).prop_map(Op::SetPin),
        2 => (0..3usize, 0..2usize).prop_map(|(a, b)| Op::ChangePin(a, b)),
        4 => (0..3usize, prop_oneof![Just(1u64), Just(2), Just(3), 0..64u64],
              prop::option::of(0..3usize))
            .prop_map(|(pin, permissions, rp)| Op::Token { pin, permissions, rp }),
        1 => Just(Op::Retries),
        1 => Just(Op::GetInfo),
        1 => Just(Op::Reset),
        1 => Just(Op::PowerCycle),
        1 => Just(Op::WarmReset),
        1 => Just(Op::Reselect),
        1 => Just(Op::SelectOther),
        1 => prop_oneof![Just(1_000u32), Just(11_000), Just(31_000), 0..100_000u32]
            .prop_map(Op::Advance),
        1 => (1u8..=3, prop_oneof![Just(0u16), 1u16..44])
            .prop_map(|(at, kept)| Op::ArmPowerCut(at, kept)),
        1 => Just(Op::PadLog),
        1 => Just(Op::Reload),
        1 => (1u8..4, any::<bool>()).prop_map(|(parts, then_reset)| Op::AbandonedChain {
            parts, then_reset
        }),
        1 => Just(Op::AbandonedGetResponse),
        2 => prop::collection::vec(any::<u8>(), 0..40).prop_map(Op::Garbage),
        2 => (prop_oneof![0u8..0x0C, any::<u8>()], prop::collection::vec(any::<u8>(), 0..60))
            .prop_map(|(c, b)| Op::GarbageCtap(c, b)),
    ]
}

/// What the host knows, to check the card's answers.
struct World {
    mem: MemoryStorage,
    host: Tester,
    /// Credential ids the card handed out, with the RP each was made for.
    issued: HashMap<Vec<u8>, usize>,
    /// In issue order, for allow/exclude lists.
    issued_order: Vec<Vec<u8>>,
    token: Option<Token>,
    /// The PIN as the host believes it (None: not set).
    pin: Option<usize>,
    /// Largest persistent image seen.
    max_image: usize,
    /// An RP whose getNextAssertion sequence is running.
    next_rp: Option<usize>,
    users_by_rp: HashMap<usize, HashSet<Vec<u8>>>,
    /// Power-ups so far: each new card object gets its own RNG seed, as a real card's RNG never
    /// repeats itself across taps.
    boots: u64,
}

impl World {
    fn new() -> Self {
        let mem = MemoryStorage::new();
        mem.set_image(Some(fresh_image(SEED)));
        let host = Tester::boot(Box::new(mem.clone()), SEED).unwrap();
        Self {
            mem,
            host,
            issued: HashMap::new(),
            issued_order: Vec::new(),
            token: None,
            pin: None,
            max_image: 0,
            next_rp: None,
            users_by_rp: HashMap::new(),
            boots: 0,
        }
    }

    fn retries_in_memory(&self) -> u8 {
        summary(&self.mem.image().unwrap()).retries
    }

    /// The card was pulled: a new card object on the same memory.
    fn reload(&mut self) {
        let clock = self.host.clock.clone();
        self.boots += 1;
        self.host = Tester::boot(Box::new(self.mem.clone()), SEED + self.boots).unwrap();
        // Time goes on for the new card object.
        self.host.clock.set(clock.now_ms());
        self.token = None;
        self.next_rp = None;
    }

    /// Sends a CTAP message with `framing`; returns the status byte and body, or the SW when
    /// the answer was not 9000.
    fn send(&mut self, message: &[u8], framing: &Framing) -> Result<(u8, Vec<u8>), u16> {
        let card = &mut self.host.card;
        let (mut resp, next_le) = match *framing {
            Framing::Extended { le } => {
                let mut apdu = vec![0x80, 0x10, 0x00, 0x00, 0x00];
                apdu.extend_from_slice(&(message.len() as u16).to_be_bytes());
                apdu.extend_from_slice(message);
                apdu.extend_from_slice(&le.to_be_bytes());
                (card.transmit(&apdu), (le.min(255)) as u8)
            }
            Framing::Chained { chunk, le } => {
                let parts: Vec<&[u8]> = message.chunks(usize::from(chunk)).collect();
                let mut last = Vec::new();
                for (i, part) in parts.iter().enumerate() {
                    let more = i + 1 < parts.len();
                    let mut apdu = vec![if more { 0x90 } else { 0x80 }, 0x10, 0x80, 0x00];
                    apdu.push(part.len() as u8);
                    apdu.extend_from_slice(part);
                    if !more {
                        apdu.push(le);
                    }
                    last = card.transmit(&apdu);
                    if more {
                        assert_eq!(last, [0x90, 0x00], "a middle part of a chain answers 9000");
                    }
                }
                (last, le)
            }
        };
        let mut data = Vec::new();
        loop {
            assert!(resp.len() >= 2, "every answer has a status word");
            let sw = u16::from_be_bytes([resp[resp.len() - 2], resp[resp.len() - 1]]);
            data.extend_from_slice(&resp[..resp.len() - 2]);
            assert!(data.len() <= 8192, "an answer of {} bytes", data.len());
            match sw >> 8 {
                0x61 => resp = card.transmit(&[0x00, 0xC0, 0x00, 0x00, next_le]),
                _ if sw == 0x9000 => break,
                _ => return Err(sw),
            }
        }
        let (&status, body) = data.split_first().expect("a CTAP answer has a status byte");
        Ok((status, body.to_vec()))
    }

    fn ctap(&mut self, cmd: u8, params: &Value, framing: &Framing) -> Result<Value, u8> {
        let mut message = vec![cmd];
        message.extend_from_slice(&params.to_vec());
        match self.send(&message, framing) {
            Ok((OK, body)) if body.is_empty() => Ok(Value::Null),
            Ok((OK, body)) => Ok(ctap_types::cbor::parse(&body).expect("CBOR answer")),
            Ok((status, body)) => {
                assert!(body.is_empty(), "errors carry no CBOR");
                Err(status)
            }
            Err(sw) => panic!("a CTAP message got SW {sw:04X}"),
        }
    }

    /// Sends makeCredential / getAssertion (`cmd`) with `req`, authorized with the current token
    /// (its pinUvAuthParam at `param_key`, §6.1.1 / §6.2.1) when the op asks for one and there is
    /// one; returns the answer and whether a token was sent.
    fn ctap_with_token(
        &mut self,
        cmd: u8,
        mut req: Vec<(Value, Value)>,
        token: bool,
        param_key: i64,
        framing: &Framing,
    ) -> (Result<Value, u8>, bool) {
        let token_sent = token && self.token.is_some();
        if let (true, Some(t)) = (token, &self.token) {
            req = with_token(req, t, param_key);
        }
        (self.ctap(cmd, &Value::Map(req), framing), token_sent)
    }

    fn pick(&self, index: usize) -> Option<Vec<u8>> {
        (!self.issued_order.is_empty())
            .then(|| self.issued_order[index % self.issued_order.len()].clone())
    }

    /// Checks an assertion for `rp`: a credential issued for this RP, UV only with a token.
    fn check_assertion(&self, rp: usize, a: &Assertion, token_sent: bool) {
        let owner = self.issued.get(&a.credential_id);
        assert_eq!(
            owner,
            Some(&rp),
            "getAssertion for {} returned a credential of {:?}",
            RPS[rp],
            owner.map(|&o| RPS[o])
        );
        if let Some(user) = &a.user_id_opt() {
            assert!(
                self.users_by_rp.get(&rp).is_some_and(|u| u.contains(user)),
                "a user of another RP"
            );
        }
        if a.flags() & FLAG_UV != 0 {
            assert!(token_sent, "UV flag without a pinUvAuthParam");
        }
    }

    fn step(&mut self, op: &Op) {
        let retries_before = self.retries_in_memory();
        let mut right_pin_ok = false;
        let mut answer: Result<(), u8> = Ok(());
        match op.clone() {
            Op::MakeCredential {
                rp,
                user,
                rk,
                token,
                uv_option,
                exclude,
                framing,
            } => {
                self.next_rp = None;
                let user_id = vec![b'u', user];
                let mut req = mc(RPS[rp], &user_id, rk);
                if uv_option {
                    req = set(
                        req,
                        7,
                        Value::Map(vec![
                            (text("rk"), Value::Bool(rk)),
                            (text("uv"), Value::Bool(true)),
                        ]),
                    );
                }
                if let Some(id) = exclude.and_then(|i| self.pick(i)) {
                    req = set(req, 5, Value::Array(vec![descriptor(&id)]));
                }
                let (answered, token_sent) = self.ctap_with_token(0x01, req, token, 8, &framing);
                match answered {
                    Ok(v) => {
                        let r = Registration::parse(&v);
                        assert!(
                            r.flags() & FLAG_UV == 0 || token_sent,
                            "UV flag without a pinUvAuthParam"
                        );
                        assert!(
                            !self.issued.contains_key(&r.credential_id),
                            "a credential id handed out twice"
                        );
                        self.issued.insert(r.credential_id.clone(), rp);
                        self.issued_order.push(r.credential_id);
                        if rk {
                            self.users_by_rp.entry(rp).or_default().insert(user_id);
                        }
                    }
                    Err(e) => answer = Err(e),
                }
            }
            Op::GetAssertion {
                rp,
                allow,
                forged,
                token,
                up,
                framing,
            } => {
                let mut ids: Vec<Vec<u8>> = allow.iter().filter_map(|&i| self.pick(i)).collect();
                if forged {
                    let mut id = self
                        .pick(allow.first().copied().unwrap_or(0))
                        .unwrap_or_default();
                    if let Some(b) = id.get_mut(10) {
                        *b ^= 0x40;
                    }
                    id.push(0);
                    ids.push(id);
                }
                let refs: Vec<&[u8]> = ids.iter().map(Vec::as_slice).collect();
                let mut req = ga(RPS[rp], &refs);
                if let Some(up) = up {
                    req = set(req, 5, Value::Map(vec![(text("up"), Value::Bool(up))]));
                }
                let (answered, token_sent) = self.ctap_with_token(0x02, req, token, 6, &framing);
                match answered {
                    Ok(v) => {
                        let a = Assertion::parse(&v);
                        self.check_assertion(rp, &a, token_sent);
                        if up == Some(false) {
                            assert_eq!(a.flags() & FLAG_UP, 0, "up=false: no UP flag");
                        }
                        self.next_rp = (a.number_of_credentials.unwrap_or(1) > 1).then_some(rp);
                    }
                    Err(e) => {
                        self.next_rp = None;
                        answer = Err(e);
                    }
                }
            }
            Op::GetNextAssertion => match self.host.get_next_assertion() {
                Ok(a) => {
                    let rp = self
                        .next_rp
                        .expect("getNextAssertion answered without a getAssertion before it");
                    self.check_assertion(rp, &a, true);
                }
                Err(e) => {
                    self.next_rp = None;
                    answer = Err(e);
                }
            },
            Op::SetPin(p) => {
                self.next_rp = None;
                answer = self.host.set_pin(2, PINS[p].as_bytes());
                if answer.is_ok() {
                    assert!(self.pin.is_none(), "setPIN over a set PIN");
                    self.pin = Some(p);
                    right_pin_ok = true;
                }
            }
            Op::ChangePin(cur, new) => {
                self.next_rp = None;
                let current = self.pin.map_or(cur, |p| if cur == 0 { p } else { cur });
                answer = self.host.change_pin(2, PINS[current], PINS[new].as_bytes());
                // A right PIN restores the retries even when the new PIN's write is cut.
                right_pin_ok = Some(current) == self.pin;
                if answer.is_ok() {
                    assert_eq!(Some(current), self.pin, "changePIN with a wrong PIN");
                    self.pin = Some(new);
                    self.token = None;
                    right_pin_ok = true;
                }
            }
            Op::Token {
                pin,
                permissions,
                rp,
            } => {
                self.next_rp = None;
                let pin = self.pin.map_or(pin, |p| if pin == 0 { p } else { pin });
                right_pin_ok = Some(pin) == self.pin;
                match self
                    .host
                    .token(2, PINS[pin], permissions, rp.map(|r| RPS[r]))
                {
                    Ok(t) => {
                        assert_eq!(Some(pin), self.pin, "a token for a wrong PIN");
                        self.token = Some(t);
                        right_pin_ok = true;
                    }
                    Err(e) => answer = Err(e),
                }
            }
            Op::Retries => {
                self.next_rp = None;
                let (r, _) = self.host.retries();
                assert_eq!(r, u64::from(retries_before));
            }
            Op::GetInfo => {
                self.next_rp = None;
                self.host.get_info();
            }
            Op::Reset => {
                self.next_rp = None;
                answer = self.host.reset();
                if answer.is_ok() {
                    self.pin = None;
                    self.token = None;
                    self.issued.clear();
                    self.issued_order.clear();
                    self.users_by_rp.clear();
                }
            }
            Op::PowerCycle => {
                self.host.power_cycle();
                self.token = None;
                self.next_rp = None;
            }
            Op::WarmReset => {
                self.host.card.reset();
                self.host.select();
                self.token = None;
                self.next_rp = None;
            }
            Op::Reselect => {
                self.host.select();
                self.next_rp = None;
            }
            Op::SelectOther => {
                let resp = self
                    .host
                    .card
                    .transmit(&apdu::hex_decode("00A4040007A0000005272101").unwrap());
                assert_eq!(resp, [0x6A, 0x82]);
                // The FIDO applet stays selected after a failed selection.
                self.host.get_info();
                self.next_rp = None;
            }
            Op::Advance(ms) => self.host.clock.advance(u64::from(ms)),
            Op::ArmPowerCut(at, kept) => {
                let clock = self.host.clock.clone();
                let cut = Cut {
                    at: usize::from(at),
                    kept: usize::from(kept),
                };
                let storage = FaultyLog::new(self.mem.clone(), Some(cut));
                self.boots += 1;
                self.host = Tester::boot(Box::new(storage), SEED + self.boots).unwrap();
                self.host.clock.set(clock.now_ms());
                self.token = None;
                self.next_rp = None;
            }
            Op::Reload => self.reload(),
            Op::PadLog => {
                pad_to_compaction(&self.mem);
                self.reload();
            }
            Op::AbandonedChain { parts, then_reset } => {
                for _ in 0..parts {
                    let resp = self
                        .host
                        .card
                        .transmit(&[0x90, 0x10, 0x80, 0x00, 0x03, 0x01, 0xA1, 0x01]);
                    assert_eq!(resp, [0x90, 0x00]);
                }
                if then_reset {
                    self.host.card.reset();
                    self.host.select();
                    self.token = None;
                }
                // The next command is not glued to the abandoned chain.
                let (status, body) = self.send(&[0x04], &Framing::Extended { le: 0 }).unwrap();
                assert_eq!(status, OK, "getInfo after an abandoned chain");
                assert!(!body.is_empty());
                self.next_rp = None;
            }
            Op::AbandonedGetResponse => {
                let resp = self
                    .host
                    .card
                    .transmit(&[0x80, 0x10, 0x00, 0x00, 0x01, 0x04, 0x10]);
                assert_eq!(resp.len(), 18);
                assert_eq!(resp[16], 0x61, "a long answer in parts");
                let resp = self.host.card.transmit(&[0x00, 0xC0, 0x00, 0x00, 0x10]);
                assert_eq!(resp.len(), 18);
                // The host moves on: the rest is discarded, and GET RESPONSE has nothing.
                let (status, _) = self.send(&[0x04], &Framing::Extended { le: 0 }).unwrap();
                assert_eq!(status, OK);
                let resp = self.host.card.transmit(&[0x00, 0xC0, 0x00, 0x00, 0x10]);
                assert_eq!(resp, [0x69, 0x85], "nothing left to get");
                self.next_rp = None;
            }
            Op::Garbage(bytes) => {
                let resp = self.host.card.transmit(&bytes);
                assert!(resp.len() >= 2);
                // The FIDO applet may have been deselected by a random SELECT: select it again.
                self.host.card.transmit(&SELECT);
                self.next_rp = None;
            }
            Op::GarbageCtap(cmd, bytes) => {
                let mut message = vec![cmd];
                message.extend_from_slice(&bytes);
                match self.send(&message, &Framing::Extended { le: 0 }) {
                    Ok((_status, _body)) => {}
                    Err(sw) => panic!("NFCCTAP_MSG answered SW {sw:04X}"),
                }
                // A random clientPIN could have been a wrong PIN; a random reset a reset.
                if cmd == 0x07 {
                    self.sync_after_unknown();
                }
                self.next_rp = None;
            }
        }

        // A cut write: the card was pulled. Power up on the same memory.
        if answer == Err(OTHER) {
            self.reload();
        }

        // --- Invariants ---
        let image = self.mem.image().expect("the state exists");
        self.max_image = self.max_image.max(image.len());
        let state = summary(&image);
        assert!(
            state.resident.len() <= Profile::generic().max_resident_credentials,
            "resident credentials over the limit"
        );
        assert!(
            image.len() < 64 * 1024,
            "state image of {} bytes",
            image.len()
        );
        let retries_after = state.retries;
        if retries_after > retries_before {
            let reset = matches!(op, Op::Reset | Op::GarbageCtap(0x07, _)) && answer.is_ok();
            assert!(
                right_pin_ok || reset,
                "retries rose from {retries_before} to {retries_after} after {op:?} ({answer:?})"
            );
        }
        if let Some(pin) = self.pin {
            let _ = pin;
            assert!(state.pin_set, "the PIN vanished");
        } else {
            assert!(!state.pin_set, "a PIN appeared");
        }
    }

    /// After a command whose effect the host cannot know (a garbage authenticatorReset that may
    /// have succeeded), read the truth back.
    fn sync_after_unknown(&mut self) {
        let state = summary(&self.mem.image().unwrap());
        if state.resident.is_empty() && !state.pin_set && state.sign_count == 0 {
            self.pin = None;
            self.token = None;
            self.issued.clear();
            self.issued_order.clear();
            self.users_by_rp.clear();
        }
    }
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(48)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), max_shrink_iters: 200, ..ProptestConfig::default() })]

    #[test]
    fn random_sessions_keep_the_invariants(ops in prop::collection::vec(op(), 1..48)) {
        let mut world = World::new();
        for op in &ops {
            world.step(op);
        }
        // Whatever happened, the state loads and the card answers.
        world.reload();
        world.host.get_info();
    }
}

#[test]
fn a_pin_session_then_chaos_then_a_clean_power_up() {
    // A fixed sequence through the interesting corners: PIN set, wrong PINs up to the power
    // cycle, a token, credentials for two RPs, a cut write, then a power-up.
    let mut w = World::new();
    let ext = Framing::Extended { le: 0 };
    for op in [
        Op::SetPin(0),
        Op::Token {
            pin: 2,
            permissions: 3,
            rp: None,
        },
        Op::Token {
            pin: 2,
            permissions: 3,
            rp: None,
        },
        Op::Token {
            pin: 2,
            permissions: 3,
            rp: None,
        },
        Op::Token {
            pin: 0,
            permissions: 3,
            rp: None,
        },
        Op::PowerCycle,
        Op::Token {
            pin: 0,
            permissions: 1,
            rp: Some(0),
        },
        Op::MakeCredential {
            rp: 0,
            user: 1,
            rk: true,
            token: true,
            uv_option: false,
            exclude: None,
            framing: Framing::Chained { chunk: 7, le: 16 },
        },
        Op::GetAssertion {
            rp: 1,
            allow: vec![0],
            forged: true,
            token: false,
            up: None,
            framing: ext.clone(),
        },
        Op::GetAssertion {
            rp: 0,
            allow: vec![],
            forged: false,
            token: false,
            up: None,
            framing: ext.clone(),
        },
        Op::ArmPowerCut(1, 0),
        Op::MakeCredential {
            rp: 1,
            user: 2,
            rk: false,
            token: false,
            uv_option: false,
            exclude: None,
            framing: ext,
        },
        Op::Reload,
        Op::Retries,
    ] {
        w.step(&op);
    }
    assert_eq!(w.host.retries(), (8, false));
    assert_eq!(
        w.issued.len(),
        1,
        "the cut makeCredential handed out nothing"
    );
}
