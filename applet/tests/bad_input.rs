//! The bad-input matrix: every request decoder of the card fed malformed, non-canonical, deeply
//! nested, oversized and wrongly typed CBOR through NFCCTAP_MSG, each with the status code CTAP
//! 2.1 names for it (§8 "Message Encoding", §8.2 "Status codes", the parameter tables of §6):
//!
//! | input | status |
//! |---|---|
//! | not well-formed, truncated, trailing bytes, invalid UTF-8, indefinite lengths, tags | CTAP2_ERR_INVALID_CBOR |
//! | non-canonical encoding (long-form integers and lengths, unsorted map keys) | CTAP2_ERR_INVALID_CBOR (the canonical form of the same request is accepted) |
//! | duplicate map keys, also when spelled differently | CTAP2_ERR_INVALID_CBOR |
//! | nesting deeper than the card's limit | CTAP2_ERR_INVALID_CBOR |
//! | a message over the profile's maxMsgSize | CTAP2_ERR_REQUEST_TOO_LARGE |
//! | a present member of the wrong CBOR type, at any depth | CTAP2_ERR_CBOR_UNEXPECTED_TYPE |
//! | a missing required member | CTAP2_ERR_MISSING_PARAMETER |
//! | an unknown command byte | CTAP1_ERR_INVALID_COMMAND |
//! | a well-typed largeBlobs request that breaks a rule of §6.10.2 | the status the step names |
//!
//! The typed rows cover makeCredential, getAssertion, clientPIN, credentialManagement,
//! largeBlobs and authenticatorConfig, field by field.
//!
//! Then the security properties of credential lookup: forged, truncated, other-RP and other-card
//! credential ids are all "not found" with the same error and no timing difference beyond noise.

#[allow(dead_code)] // each test file is its own crate and uses only part of the shared host
mod host;

use std::time::{Duration, Instant};

use card_storage::MemoryStorage;
use ctap_types::cbor::Value;
use host::storage::*;
use host::*;

/// One row of the matrix.
struct Case {
    name: String,
    message: Vec<u8>,
    want: u8,
    /// For non-canonical spellings of a valid request (§8: "decoders SHOULD reject CBOR that is
    /// not validly encoded in the CTAP2 canonical CBOR encoding form"), the canonical request:
    /// the card refuses the spelling with INVALID_CBOR, and the canonical form is sent too, to
    /// show that the refusal is about the encoding and not the content.
    canonical: Option<Vec<u8>>,
}

fn host() -> Tester {
    let mem = MemoryStorage::new();
    mem.set_image(Some(fresh_image(3)));
    Tester::boot(Box::new(mem), 3).unwrap()
}

fn message(command: u8, params: &[u8]) -> Vec<u8> {
    let mut m = vec![command];
    m.extend_from_slice(params);
    m
}

fn h(s: &str) -> Vec<u8> {
    apdu::hex_decode(s).expect("hex in test")
}

/// CBOR values of every major type, to put where another type belongs.
fn values_of_every_type() -> Vec<(&'static str, Value)> {
    vec![
        ("unsigned", Value::Unsigned(1)),
        ("negative", Value::int(-1)),
        ("bytes", Value::bytes(vec![1, 2, 3])),
        ("text", text("x")),
        ("array", Value::Array(vec![])),
        ("map", Value::Map(vec![])),
        ("bool", Value::Bool(true)),
        ("null", Value::Null),
        ("float", Value::Float(f64::NAN)),
    ]
}

/// The "kind" of a value for the type check: integers of both signs are one kind for fields
/// that take any integer.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Uint,
    Int,
    Bytes,
    Text,
    Array,
    Map,
    Bool,
}

fn fits(kind: Kind, v: &Value) -> bool {
    matches!(
        (kind, v),
        (Kind::Uint, Value::Unsigned(_))
            | (Kind::Int, Value::Unsigned(_) | Value::Negative(_))
            | (Kind::Bytes, Value::Bytes(_))
            | (Kind::Text, Value::Text(_))
            | (Kind::Array, Value::Array(_))
            | (Kind::Map, Value::Map(_))
            | (Kind::Bool, Value::Bool(_))
    )
}

/// A path into a request: top-level integer key, then text keys / array index 0.
#[derive(Clone, Debug)]
enum Step {
    Int(i64),
    Text(&'static str),
    First,
}

fn replace(v: &Value, path: &[Step], new: &Value) -> Value {
    let Some((step, rest)) = path.split_first() else {
        return new.clone();
    };
    match (v, step) {
        (Value::Map(entries), Step::Int(_) | Step::Text(_)) => {
            let key = match step {
                Step::Int(n) => Value::int(*n),
                Step::Text(t) => text(t),
                Step::First => unreachable!(),
            };
            Value::Map(
                entries
                    .iter()
                    .map(|(k, val)| {
                        if *k == key {
                            (k.clone(), replace(val, rest, new))
                        } else {
                            (k.clone(), val.clone())
                        }
                    })
                    .collect(),
            )
        }
        (Value::Array(items), Step::First) => {
            let mut items = items.clone();
            items[0] = replace(&items[0], rest, new);
            Value::Array(items)
        }
        _ => panic!("bad path {path:?} in {v:?}"),
    }
}

fn remove(v: &Value, path: &[Step]) -> Value {
    match (v, path) {
        (Value::Map(entries), [last]) => {
            let key = match last {
                Step::Int(n) => Value::int(*n),
                Step::Text(t) => text(t),
                Step::First => unreachable!(),
            };
            Value::Map(entries.iter().filter(|(k, _)| *k != key).cloned().collect())
        }
        (Value::Map(_), [first, rest @ ..]) => {
            let inner = get(v, std::slice::from_ref(first)).unwrap();
            replace(v, std::slice::from_ref(first), &remove(&inner, rest))
        }
        (Value::Array(items), [Step::First, rest @ ..]) => {
            let mut items = items.clone();
            items[0] = remove(&items[0], rest);
            Value::Array(items)
        }
        _ => panic!("bad path {path:?}"),
    }
}

fn get(v: &Value, path: &[Step]) -> Option<Value> {
    let Some((step, rest)) = path.split_first() else {
        return Some(v.clone());
    };
    match (v, step) {
        (Value::Map(entries), Step::Int(n)) => entries
            .iter()
            .find(|(k, _)| *k == Value::int(*n))
            .and_then(|(_, x)| get(x, rest)),
        (Value::Map(entries), Step::Text(t)) => entries
            .iter()
            .find(|(k, _)| *k == text(t))
            .and_then(|(_, x)| get(x, rest)),
        (Value::Array(items), Step::First) => items.first().and_then(|x| get(x, rest)),
        _ => None,
    }
}

/// A well-formed request of each command, with every member present, and the type of each
/// member the decoders check (path, kind, required).
struct Request {
    name: &'static str,
    command: u8,
    base: Value,
    fields: Vec<(Vec<Step>, Kind, bool)>,
}

fn cose_key() -> Value {
    Value::Map(vec![
        (int(1), int(2)),
        (int(3), int(-25)),
        (int(-1), int(1)),
        (int(-2), Value::bytes(vec![1; 32])),
        (int(-3), Value::bytes(vec![2; 32])),
    ])
}

fn requests() -> Vec<Request> {
    use Step::{First, Int as I, Text as T};
    // A token the card never issued: these requests fail their type checks before any MAC is
    // verified.
    let token = Token {
        protocol: 2,
        bytes: vec![9; 32],
    };
    let descriptor = Value::Map(vec![
        (text("id"), Value::bytes(vec![7; 16])),
        (text("type"), text("public-key")),
    ]);
    let mc = Value::Map(set(
        set(
            set(
                set(
                    mc("example.com", b"u1", true),
                    5,
                    Value::Array(vec![descriptor.clone()]),
                ),
                6,
                Value::Map(vec![(text("credProtect"), int(1))]),
            ),
            8,
            Value::bytes(vec![0; 32]),
        ),
        9,
        int(2),
    ));
    let ga = Value::Map(set(
        set(
            set(
                ga("example.com", &[&[7; 16]]),
                4,
                Value::Map(vec![(text("credBlob"), Value::Bool(true))]),
            ),
            5,
            Value::Map(vec![(text("up"), Value::Bool(true))]),
        ),
        7,
        int(2),
    ));
    let ga = Value::Map(set(
        ga.as_map().unwrap().to_vec(),
        6,
        Value::bytes(vec![0; 32]),
    ));
    let client_pin = Value::Map(vec![
        (int(1), int(2)),
        (int(2), int(9)),
        (int(3), cose_key()),
        (int(4), Value::bytes(vec![0; 32])),
        (int(5), Value::bytes(vec![0; 80])),
        (int(6), Value::bytes(vec![0; 32])),
        (int(9), int(3)),
        (int(10), text("example.com")),
    ]);
    let cred_mgmt = Value::Map(subcommand(
        0x07,
        Some(Value::Map(vec![
            (int(1), Value::bytes(vec![3; 32])),
            (int(2), descriptor.clone()),
            (
                int(3),
                Value::Map(vec![
                    (text("id"), Value::bytes(b"u1".to_vec())),
                    (text("name"), text("alice")),
                    (text("displayName"), text("Alice")),
                ]),
            ),
        ])),
        Some((&token, &[0x07])),
    ));
    let large_blobs = Value::Map(vec![
        (int(1), int(16)),
        (int(2), Value::bytes(vec![0x80; 17])),
        (int(3), int(0)),
        (int(4), int(17)),
        (int(5), Value::bytes(vec![0; 32])),
        (int(6), int(2)),
    ]);
    let config = Value::Map(subcommand(
        0x03,
        Some(Value::Map(vec![
            (int(1), int(6)),
            (int(2), Value::Array(vec![text("example.com")])),
            (int(3), Value::Bool(true)),
        ])),
        Some((&token, &config_prefix(0x03))),
    ));
    vec![
        Request {
            name: "makeCredential",
            command: 0x01,
            base: mc,
            fields: vec![
                (vec![I(1)], Kind::Bytes, true),
                (vec![I(2)], Kind::Map, true),
                (vec![I(2), T("id")], Kind::Text, true),
                (vec![I(2), T("name")], Kind::Text, false),
                (vec![I(3)], Kind::Map, true),
                (vec![I(3), T("id")], Kind::Bytes, true),
                (vec![I(3), T("name")], Kind::Text, false),
                (vec![I(3), T("displayName")], Kind::Text, false),
                (vec![I(4)], Kind::Array, true),
                (vec![I(4), First], Kind::Map, false),
                (vec![I(4), First, T("alg")], Kind::Int, true),
                (vec![I(4), First, T("type")], Kind::Text, true),
                (vec![I(5)], Kind::Array, false),
                (vec![I(5), First], Kind::Map, false),
                (vec![I(5), First, T("id")], Kind::Bytes, true),
                (vec![I(5), First, T("type")], Kind::Text, true),
                (vec![I(6)], Kind::Map, false),
                (vec![I(7)], Kind::Map, false),
                (vec![I(7), T("rk")], Kind::Bool, false),
                (vec![I(8)], Kind::Bytes, false),
                (vec![I(9)], Kind::Uint, false),
            ],
        },
        Request {
            name: "getAssertion",
            command: 0x02,
            base: ga,
            fields: vec![
                (vec![I(1)], Kind::Text, true),
                (vec![I(2)], Kind::Bytes, true),
                (vec![I(3)], Kind::Array, false),
                (vec![I(3), First], Kind::Map, false),
                (vec![I(3), First, T("id")], Kind::Bytes, true),
                (vec![I(3), First, T("type")], Kind::Text, true),
                (vec![I(4)], Kind::Map, false),
                (vec![I(5)], Kind::Map, false),
                (vec![I(5), T("up")], Kind::Bool, false),
                (vec![I(6)], Kind::Bytes, false),
                (vec![I(7)], Kind::Uint, false),
            ],
        },
        Request {
            name: "clientPIN",
            command: 0x06,
            base: client_pin,
            fields: vec![
                (vec![I(1)], Kind::Uint, false),
                (vec![I(2)], Kind::Uint, true),
                (vec![I(3)], Kind::Map, false),
                (vec![I(3), I(1)], Kind::Int, false),
                (vec![I(3), I(-1)], Kind::Int, false),
                (vec![I(3), I(-2)], Kind::Bytes, false),
                (vec![I(3), I(-3)], Kind::Bytes, false),
                (vec![I(4)], Kind::Bytes, false),
                (vec![I(5)], Kind::Bytes, false),
                (vec![I(6)], Kind::Bytes, false),
                (vec![I(9)], Kind::Uint, false),
                (vec![I(10)], Kind::Text, false),
            ],
        },
        Request {
            // §6.8: updateUserInformation, whose subCommandParams carry every member
            // (rpIDHash belongs to enumerateCredentialsBegin, but the decoder reads it whatever
            // the subcommand).
            name: "credentialManagement",
            command: 0x0A,
            base: cred_mgmt,
            fields: vec![
                (vec![I(1)], Kind::Uint, true),
                (vec![I(2)], Kind::Map, false),
                (vec![I(2), I(1)], Kind::Bytes, false),
                (vec![I(2), I(2)], Kind::Map, false),
                (vec![I(2), I(2), T("id")], Kind::Bytes, true),
                (vec![I(2), I(2), T("type")], Kind::Text, true),
                (vec![I(2), I(3)], Kind::Map, false),
                (vec![I(2), I(3), T("id")], Kind::Bytes, true),
                (vec![I(2), I(3), T("name")], Kind::Text, false),
                (vec![I(2), I(3), T("displayName")], Kind::Text, false),
                (vec![I(3)], Kind::Uint, false),
                (vec![I(4)], Kind::Bytes, false),
            ],
        },
        Request {
            // §6.10.2: get and set together are refused later (CTAP1_ERR_INVALID_PARAMETER);
            // the types are checked first.
            name: "largeBlobs",
            command: 0x0C,
            base: large_blobs,
            fields: vec![
                (vec![I(1)], Kind::Uint, false),
                (vec![I(2)], Kind::Bytes, false),
                (vec![I(3)], Kind::Uint, true),
                (vec![I(4)], Kind::Uint, false),
                (vec![I(5)], Kind::Bytes, false),
                (vec![I(6)], Kind::Uint, false),
            ],
        },
        Request {
            // §6.11.4: setMinPINLength, whose subCommandParams carry every member.
            name: "authenticatorConfig",
            command: 0x0D,
            base: config,
            fields: vec![
                (vec![I(1)], Kind::Uint, true),
                (vec![I(2)], Kind::Map, false),
                (vec![I(2), I(1)], Kind::Uint, false),
                (vec![I(2), I(2)], Kind::Array, false),
                (vec![I(2), I(2), First], Kind::Text, false),
                (vec![I(2), I(3)], Kind::Bool, false),
                (vec![I(3)], Kind::Uint, false),
                (vec![I(4)], Kind::Bytes, false),
            ],
        },
    ]
}

/// Wrong types at every member and missing required members, generated from [`requests`].
fn typed_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for r in requests() {
        for (path, kind, required) in &r.fields {
            assert!(
                get(&r.base, path).is_some(),
                "{}: {path:?} in the base",
                r.name
            );
            for (type_name, v) in values_of_every_type() {
                if fits(*kind, &v) {
                    continue;
                }
                cases.push(Case {
                    name: format!("{} {path:?} as {type_name}", r.name),
                    message: message(r.command, &replace(&r.base, path, &v).to_vec()),
                    want: CBOR_UNEXPECTED_TYPE,
                    canonical: None,
                });
            }
            if *required {
                cases.push(Case {
                    name: format!("{} without {path:?}", r.name),
                    message: message(r.command, &remove(&r.base, path).to_vec()),
                    want: MISSING_PARAMETER,
                    canonical: None,
                });
            }
        }
        // Not a map at all.
        for (type_name, v) in values_of_every_type() {
            if !matches!(v, Value::Map(_)) {
                cases.push(Case {
                    name: format!("{} parameters as {type_name}", r.name),
                    message: message(r.command, &v.to_vec()),
                    want: CBOR_UNEXPECTED_TYPE,
                    canonical: None,
                });
            }
        }
    }
    cases
}

/// Malformed and non-canonical CBOR, duplicate keys, nesting, sizes.
fn encoding_cases() -> Vec<Case> {
    let mc_bytes = Value::Map(mc("example.com", b"u1", false)).to_vec();
    let ga_bytes = Value::Map(ga("example.com", &[])).to_vec();
    let mut cases = Vec::new();
    let mut should = |name: &str, command: u8, params: Vec<u8>, canonical: &[u8]| {
        cases.push(Case {
            name: name.to_string(),
            message: message(command, &params),
            want: INVALID_CBOR,
            canonical: Some(message(command, canonical)),
        })
    };
    // Non-canonical spellings of valid requests.
    for (command, params) in [(0x01u8, &mc_bytes), (0x02, &ga_bytes)] {
        let n = if command == 1 { "mc" } else { "ga" };
        // The map head in long form (A5 -> B8 05).
        let mut long_head = vec![0xB8, params[0] & 0x1F];
        long_head.extend_from_slice(&params[1..]);
        should(
            &format!("{n} long-form map head"),
            command,
            long_head,
            params,
        );
        // The first key (01) in long form (18 01).
        let mut long_key = vec![params[0], 0x18, 0x01];
        long_key.extend_from_slice(&params[2..]);
        should(&format!("{n} long-form key"), command, long_key, params);
    }
    // Unsorted keys: 02 before 01 (makeCredential with rp first, then clientDataHash).
    let entries = mc("example.com", b"u1", false);
    let mut unsorted = vec![0xA0 | entries.len() as u8];
    for i in [1usize, 0, 2, 3, 4] {
        unsorted.extend_from_slice(&entries[i].0.to_vec());
        unsorted.extend_from_slice(&entries[i].1.to_vec());
    }
    should("mc unsorted keys", 0x01, unsorted, &mc_bytes);

    let mut add = |name: &str, command: u8, params: Vec<u8>, want: u8| {
        cases.push(Case {
            name: name.to_string(),
            message: message(command, &params),
            want,
            canonical: None,
        })
    };
    for (command, params) in [(0x01u8, &mc_bytes), (0x02, &ga_bytes)] {
        let n = if command == 1 { "mc" } else { "ga" };
        // Truncated at every length.
        for len in 0..params.len() {
            if len == 0 {
                continue; // no parameters at all: see below
            }
            add(
                &format!("{n} truncated to {len}"),
                command,
                params[..len].to_vec(),
                INVALID_CBOR,
            );
        }
        let mut trailing = params.clone();
        trailing.push(0x00);
        add(
            &format!("{n} trailing byte"),
            command,
            trailing,
            INVALID_CBOR,
        );
        // Indefinite-length map.
        let mut indef = vec![0xBF];
        indef.extend_from_slice(&params[1..]);
        indef.push(0xFF);
        add(&format!("{n} indefinite map"), command, indef, INVALID_CBOR);
        // A tag around the whole request.
        let mut tagged = vec![0xD8, 0x18];
        tagged.extend_from_slice(params);
        add(&format!("{n} tagged"), command, tagged, INVALID_CBOR);
    }

    // Duplicate keys: the same key twice, the second spelled in long form, and in a nested map.
    let mut dup = vec![0xA0 | (entries.len() as u8 + 1)];
    for (k, v) in entries.iter().chain(std::iter::once(&entries[4])) {
        dup.extend_from_slice(&k.to_vec());
        dup.extend_from_slice(&v.to_vec());
    }
    add("mc duplicate key", 0x01, dup, INVALID_CBOR);
    let mut dup_long = vec![0xA0 | (entries.len() as u8 + 1)];
    for (k, v) in &entries {
        dup_long.extend_from_slice(&k.to_vec());
        dup_long.extend_from_slice(&v.to_vec());
    }
    dup_long.extend_from_slice(&[0x18, 0x07]);
    dup_long.extend_from_slice(&entries[4].1.to_vec());
    add(
        "mc duplicate key in long form",
        0x01,
        dup_long,
        INVALID_CBOR,
    );
    // options {"rk": false, "rk": true}
    let mut nested = Value::Map(entries[..4].to_vec()).to_vec();
    nested[0] += 1;
    nested.extend_from_slice(&h("07 A2 62726B F4 62726B F5"));
    add("mc duplicate key in options", 0x01, nested, INVALID_CBOR);

    // Invalid UTF-8 in rpId.
    let mut bad_utf8 = vec![0xA2, 0x01, 0x63, b'a', 0xFF, b'b', 0x02, 0x58, 0x20];
    bad_utf8.extend_from_slice(&[0u8; 32]);
    add("ga rpId invalid UTF-8", 0x02, bad_utf8, INVALID_CBOR);

    // Deep nesting inside an extension input: accepted up to the limit, refused beyond it.
    for depth in [9usize, 64, 1000] {
        let mut ext = vec![0x81; depth];
        ext.push(0x00);
        let mut req = Value::Map(mc("example.com", b"u1", false)).to_vec();
        req[0] += 1;
        req.extend_from_slice(&[0x06, 0xA1, 0x61, b'x']);
        req.extend_from_slice(&ext);
        add(&format!("mc nested {depth} deep"), 0x01, req, INVALID_CBOR);
    }

    // Lengths that claim more than the message holds (no allocation from the claim).
    for (name, params) in [
        ("bytes of 2^64-1", h("A1 01 5B FFFFFFFFFFFFFFFF 00")),
        ("text of 2^32", h("A1 01 7A FFFFFFFF 00")),
        ("array of 2^64-1", h("A1 01 9B FFFFFFFFFFFFFFFF")),
        ("map of 2^64-1", h("BB FFFFFFFFFFFFFFFF 01")),
    ] {
        add(&format!("ga {name}"), 0x02, params, INVALID_CBOR);
    }
    // Reserved and break bytes, unknown simple values.
    for (name, params) in [
        ("reserved additional info", h("A1 01 1C")),
        ("lone break", h("FF")),
        ("empty", Vec::new()),
    ] {
        add(&format!("mc {name}"), 0x01, params, INVALID_CBOR);
    }

    // Oversized: a message over maxMsgSize (2048 in the generic profile).
    let mut big = Value::Map(set(
        mc("example.com", b"u1", false),
        3,
        Value::Map(vec![
            (text("id"), Value::bytes(b"u".to_vec())),
            (text("name"), text(&"n".repeat(3000))),
        ]),
    ))
    .to_vec();
    add("mc over maxMsgSize", 0x01, big.clone(), REQUEST_TOO_LARGE);
    big.truncate(100);
    add("truncated huge string", 0x01, big, INVALID_CBOR);
    let huge_list = Value::Array((0..200).map(|_| Value::bytes(vec![0; 16])).collect());
    add(
        "ga allowList over maxMsgSize",
        0x02,
        Value::Map(set(ga("example.com", &[]), 3, huge_list)).to_vec(),
        REQUEST_TOO_LARGE,
    );

    // Unknown command bytes.
    for command in [0x00u8, 0x03, 0x05, 0x09, 0x0E, 0x3F, 0x40, 0x41, 0xBF, 0xFF] {
        add(
            &format!("command {command:#04x}"),
            command,
            Vec::new(),
            INVALID_COMMAND,
        );
    }
    cases
}

fn run(cases: Vec<Case>) -> usize {
    let mut h = host();
    let mut wrong = Vec::new();
    let total = cases.len();
    for case in cases {
        let (status, _) = h.ctap_raw(&case.message);
        if status != case.want {
            wrong.push(format!(
                "{}: got {status:#04x}, want {:#04x}",
                case.name, case.want
            ));
        }
        if let Some(canonical) = &case.canonical {
            let (accepted, _) = h.ctap_raw(canonical);
            if accepted == case.want {
                wrong.push(format!("{}: the canonical form is refused too", case.name));
            }
        }
    }
    // After all of that, the card works.
    h.credential("example.com", b"u1", false);
    assert!(
        wrong.is_empty(),
        "{} of {total} bad inputs got the wrong status:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    total
}

/// A named request and the status it must get.
type Rule = (&'static str, Vec<(Value, Value)>, u8);

/// authenticatorLargeBlobs requests that are well-typed but break a rule of §6.10.2, each with
/// the status the spec names for it. None of them starts a write, so the order does not matter.
fn large_blob_cases() -> Vec<Case> {
    let profile = fido_applet::profile::Profile::generic();
    // maxFragmentLength = maxMsgSize - 64; a fresh card stores the empty array (17 bytes).
    let max_fragment = (profile.max_msg_size - 64) as i64;
    let stored = 17;
    let blob = |n: usize| Value::bytes(vec![0x80; n]);
    let rows: Vec<Rule> = vec![
        (
            "neither get nor set",
            vec![(int(3), int(0))],
            INVALID_PARAMETER,
        ),
        (
            "both get and set",
            vec![(int(1), int(16)), (int(2), blob(17)), (int(3), int(0))],
            INVALID_PARAMETER,
        ),
        (
            "get with length",
            vec![(int(1), int(16)), (int(3), int(0)), (int(4), int(17))],
            INVALID_PARAMETER,
        ),
        (
            "get with pinUvAuthParam",
            vec![
                (int(1), int(16)),
                (int(3), int(0)),
                (int(5), Value::bytes(vec![0; 32])),
            ],
            INVALID_PARAMETER,
        ),
        (
            "get with pinUvAuthProtocol",
            vec![(int(1), int(16)), (int(3), int(0)), (int(6), int(2))],
            INVALID_PARAMETER,
        ),
        (
            "get over maxFragmentLength",
            vec![(int(1), int(max_fragment + 1)), (int(3), int(0))],
            INVALID_LENGTH,
        ),
        (
            "get at an offset past the array",
            vec![(int(1), int(16)), (int(3), int(stored + 1))],
            INVALID_PARAMETER,
        ),
        (
            "set over maxFragmentLength",
            vec![
                (int(2), blob(max_fragment as usize + 1)),
                (int(3), int(0)),
                (int(4), int(max_fragment + 1)),
            ],
            INVALID_LENGTH,
        ),
        (
            "set at offset 0 without length",
            vec![(int(2), blob(17)), (int(3), int(0))],
            INVALID_PARAMETER,
        ),
        (
            "set with a length over maxSerializedLargeBlobArray",
            vec![
                (int(2), blob(17)),
                (int(3), int(0)),
                (int(4), int(profile.large_blob_size as i64 + 1)),
            ],
            LARGE_BLOB_STORAGE_FULL,
        ),
        (
            "set with a length under 17",
            vec![(int(2), blob(16)), (int(3), int(0)), (int(4), int(16))],
            INVALID_PARAMETER,
        ),
        (
            "set at a non-zero offset with length",
            vec![(int(2), blob(17)), (int(3), int(5)), (int(4), int(17))],
            INVALID_PARAMETER,
        ),
        (
            "set at a non-zero offset with no write begun",
            vec![(int(2), blob(17)), (int(3), int(5))],
            INVALID_SEQ,
        ),
    ];
    rows.into_iter()
        .map(|(name, req, want)| Case {
            name: format!("largeBlobs {name}"),
            message: message(0x0C, &Value::Map(req).to_vec()),
            want,
            canonical: None,
        })
        .collect()
}

#[test]
fn wrong_types_and_missing_members_of_every_request() {
    let n = run(typed_cases());
    println!("typed bad inputs: {n}");
    // makeCredential, getAssertion, clientPIN, credentialManagement, largeBlobs, config.
    assert!(n > 600);
}

#[test]
fn large_blobs_rule_breaking_requests_get_the_status_the_spec_names() {
    let n = run(large_blob_cases());
    assert_eq!(n, 13);
}

#[test]
fn malformed_non_canonical_nested_and_oversized_cbor() {
    let n = run(encoding_cases());
    println!("encoding bad inputs: {n}");
    assert!(n > 50);
}

#[test]
fn nfc_framing_errors_are_status_words() {
    let mut h = host();
    for (apdu, sw) in [
        // NFCCTAP_MSG without a command byte.
        ("80100000", 0x6700),
        ("8010000000", 0x6700),
        // Bad P1/P2.
        ("8010010001 04", 0x6A86),
        ("8010000101 04", 0x6A86),
        // Unknown INS.
        ("80FF000000", 0x6D00),
        // Lc longer than the data.
        ("80100000 05 04", 0x6700),
        // Extended Lc of zero.
        ("80100000 000000", 0x6700),
        // Logical channel 1.
        ("81100000 01 04", 0x6881),
        // NFCCTAP_CONTROL with a bad P1.
        ("80120200", 0x6A86),
    ] {
        let resp = h.card.transmit(&apdu::hex_decode(apdu).unwrap());
        let got = u16::from_be_bytes([resp[resp.len() - 2], resp[resp.len() - 1]]);
        assert_eq!(got, sw, "{apdu}");
    }
    assert_eq!(h.ctap_raw(&[0x04]).0, OK);
}

// --- Credential ids -----------------------------------------------------------------------------

struct Ids {
    good: Vec<u8>,
    forged: Vec<u8>,
    flipped: Vec<u8>,
    truncated: Vec<u8>,
    other_rp: Vec<u8>,
    other_card: Vec<u8>,
    long: Vec<u8>,
}

fn ids(h: &mut Tester, rk: bool) -> Ids {
    let good = h.credential("example.com", b"u1", rk).credential_id;
    let other_rp = h.credential("other.org", b"u1", rk).credential_id;
    let mut other = {
        let mem = MemoryStorage::new();
        mem.set_image(Some(fresh_image(99)));
        Tester::boot(Box::new(mem), 99).unwrap()
    };
    let other_card = other.credential("example.com", b"u1", rk).credential_id;
    let mut flipped = good.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    let mut forged = good.clone();
    for (i, b) in forged.iter_mut().enumerate().skip(1) {
        *b = (i as u8).wrapping_mul(37);
    }
    let mut long = good.clone();
    long.push(0);
    Ids {
        truncated: good[..good.len() - 1].to_vec(),
        good,
        forged,
        flipped,
        other_rp,
        other_card,
        long,
    }
}

#[test]
fn foreign_and_forged_credential_ids_are_not_found_alike() {
    for rk in [false, true] {
        let mut h = host();
        let ids = ids(&mut h, rk);
        for (name, id) in [
            ("forged", &ids.forged),
            ("altered", &ids.flipped),
            ("truncated", &ids.truncated),
            ("extended", &ids.long),
            ("other RP", &ids.other_rp),
            ("other card", &ids.other_card),
            ("empty", &Vec::new()),
        ] {
            assert_eq!(
                h.get_assertion(ga("example.com", &[id])).err(),
                Some(NO_CREDENTIALS),
                "{name} (rk {rk})"
            );
            // In an excludeList they exclude nothing.
            let req = set(
                mc("example.com", b"u2", false),
                5,
                Value::Array(vec![Value::Map(vec![
                    (text("id"), Value::bytes(id.clone())),
                    (text("type"), text("public-key")),
                ])]),
            );
            assert!(h.make_credential(req).is_ok(), "{name} excluded (rk {rk})");
        }
        let a = h.get_assertion(ga("example.com", &[&ids.good])).unwrap();
        assert_eq!(a.credential_id, ids.good);
        // After authenticatorReset the card's own ids are foreign too.
        h.power_cycle();
        h.reset().unwrap();
        assert_eq!(
            h.get_assertion(ga("example.com", &[&ids.good])).err(),
            Some(NO_CREDENTIALS)
        );
    }
}

/// Median time of `f` over `n` interleaved rounds.
fn medians(h: &mut Tester, kinds: &[(&str, Vec<u8>)], rounds: usize) -> Vec<Duration> {
    let mut samples: Vec<Vec<Duration>> = vec![Vec::with_capacity(rounds); kinds.len()];
    let requests: Vec<Vec<u8>> = kinds
        .iter()
        .map(|(_, id)| message(0x02, &Value::Map(ga("example.com", &[id])).to_vec()))
        .collect();
    for round in 0..rounds {
        // Rotate the order each round so drift affects every kind alike.
        for j in 0..kinds.len() {
            let i = (j + round) % kinds.len();
            let start = Instant::now();
            let (status, _) = h.ctap_raw(&requests[i]);
            samples[i].push(start.elapsed());
            assert_eq!(status, NO_CREDENTIALS);
        }
    }
    samples
        .into_iter()
        .map(|mut s| {
            s.sort();
            s[s.len() / 2]
        })
        .collect()
}

#[test]
fn not_found_takes_the_same_time_whatever_the_id() {
    // Ids of the card's own length (the length is the host's choice, not a secret): forged,
    // altered, another RP's and another card's. A coarse check: the medians agree within 35 %
    // (a lookup that skipped the AEAD for some of them would differ several-fold). Measured up
    // to three times so a burst of load on a shared machine does not fail it.
    let mut h = host();
    let ids = ids(&mut h, false);
    let kinds = vec![
        ("forged", ids.forged),
        ("altered", ids.flipped),
        ("other RP", ids.other_rp),
        ("other card", ids.other_card),
    ];
    let mut last = Vec::new();
    for _ in 0..3 {
        let m = medians(&mut h, &kinds, 150);
        let min = *m.iter().min().unwrap();
        let max = *m.iter().max().unwrap();
        last = m;
        if max.as_nanos() * 100 <= min.as_nanos() * 135 {
            return;
        }
    }
    panic!(
        "lookup time depends on the id: {:?}",
        kinds.iter().map(|(n, _)| *n).zip(last).collect::<Vec<_>>()
    );
}

// --- Fuzz corpus seeds --------------------------------------------------------------------------

/// Writes seeds for the cargo-fuzz targets in `fuzz/` from real requests: a whole PIN and
/// credential session (its APDUs, its CTAP messages, the APDU sequence), the bad-input matrix,
/// and state images. Run by hand when the requests change:
/// `cargo test -p fido-applet --test bad_input -- --ignored write_fuzz_corpus`.
#[test]
#[ignore = "writes fuzz/corpus; run by hand"]
fn write_fuzz_corpus() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    let write = |target: &str, bytes: &[u8]| {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir).unwrap();
        let name = digest(bytes) + &digest(&[bytes, b"2"].concat());
        std::fs::write(dir.join(name), bytes).unwrap();
    };

    // A session as a platform runs it.
    let mem = MemoryStorage::new();
    mem.set_image(Some(fresh_image(3)));
    let mut h = Tester::boot(Box::new(mem.clone()), 3).unwrap();
    write(
        "state_loader",
        &[&[0u8][..], &mem.image().unwrap()].concat(),
    );
    h.get_info();
    h.credential("example.com", b"u0", false);
    h.set_pin(2, PIN.as_bytes()).unwrap();
    let t = h.token(2, PIN, MC | GA, None).unwrap();
    h.make_credential(with_token(mc("example.com", b"u1", true), &t, 8))
        .unwrap();
    let t = h.token(2, PIN, MC, None).unwrap();
    h.make_credential(with_token(mc("example.com", b"u2", true), &t, 8))
        .unwrap();
    let t = h.token(2, PIN, GA, Some("example.com")).unwrap();
    h.get_assertion(with_token(ga("example.com", &[]), &t, 6))
        .unwrap();
    h.get_next_assertion().unwrap();
    let _ = h.token(2, "0000", GA, None);
    h.change_pin(2, PIN, b"87654321").unwrap();
    h.retries();
    // The record log as it is (mode 0), and the same state as a whole image of the earlier
    // builds, whole (mode 0) and as the payload behind a valid header (mode 1).
    let log = mem.image().unwrap();
    write("state_loader", &[&[0u8][..], &log].concat());
    let state = fido_applet::state::decode_log(&log, "memory").unwrap();
    let whole = fido_applet::state::legacy::encode_whole_image(&state).unwrap();
    write("state_loader", &[&[0u8][..], &whole].concat());
    write(
        "state_loader",
        &[&[1u8][..], &whole[12..whole.len() - 32]].concat(),
    );
    h.power_cycle();
    h.reset().unwrap();

    let mut session = Vec::new();
    for apdu in &h.trace {
        write("apdu_decode", apdu);
        if apdu.len() > 7 && apdu[1] == 0x10 && apdu[4] == 0 {
            write("ctap_msg", &apdu[7..apdu.len() - 2]);
        }
        if apdu.len() < 0xFD {
            session.push(apdu.len() as u8);
            session.extend_from_slice(apdu);
        }
    }
    write("card_session", &session);
    // The same session in short chained APDUs (python-fido2's framing), for the chaining target.
    let mut chained = vec![0u8];
    for apdu in &h.trace {
        if apdu.len() > 7 && apdu[1] == 0x10 && apdu[4] == 0 {
            let msg = &apdu[7..apdu.len() - 2];
            let parts: Vec<&[u8]> = msg.chunks(200).collect();
            for (i, part) in parts.iter().enumerate() {
                let cla = if i + 1 < parts.len() { 0x90 } else { 0x80 };
                let mut short = vec![cla, 0x10, 0x80, 0x00, part.len() as u8];
                short.extend_from_slice(part);
                short.push(0x00);
                chained.push(short.len() as u8);
                chained.extend_from_slice(&short);
            }
            chained.extend_from_slice(&[5, 0x00, 0xC0, 0x00, 0x00, 0x00]);
        }
    }
    write("chaining", &chained);
    write("card_session", &chained[1..]);

    // credentialManagement, largeBlobs and authenticatorConfig requests (decoder shapes).
    for (command, req) in [
        (
            0x0Au8,
            vec![
                (int(1), int(1)),
                (int(3), int(2)),
                (int(4), Value::bytes(vec![0; 32])),
            ],
        ),
        (
            0x0A,
            vec![
                (int(1), int(6)),
                (
                    int(2),
                    Value::Map(vec![(
                        int(2),
                        Value::Map(vec![
                            (text("id"), Value::bytes(vec![1; 80])),
                            (text("type"), text("public-key")),
                        ]),
                    )]),
                ),
                (int(3), int(2)),
                (int(4), Value::bytes(vec![0; 32])),
            ],
        ),
        (0x0C, vec![(int(1), int(100)), (int(3), int(0))]),
        (
            0x0C,
            vec![
                (int(2), Value::bytes(vec![0x80; 17])),
                (int(3), int(0)),
                (int(4), int(17)),
                (int(5), Value::bytes(vec![0; 32])),
                (int(6), int(2)),
            ],
        ),
        (
            0x0D,
            vec![
                (int(1), int(3)),
                (
                    int(2),
                    Value::Map(vec![
                        (int(1), int(6)),
                        (int(2), Value::Array(vec![text("a.example")])),
                    ]),
                ),
                (int(3), int(2)),
                (int(4), Value::bytes(vec![0; 32])),
            ],
        ),
        (0x0D, vec![(int(1), int(2))]),
    ] {
        write("ctap_msg", &message(command, &Value::Map(req).to_vec()));
    }
    for case in typed_cases().into_iter().chain(encoding_cases()) {
        if case.message.len() <= 4096 {
            write("ctap_msg", &case.message);
        }
    }
}
