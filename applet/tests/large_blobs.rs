//! authenticatorLargeBlobs (CTAP 2.1 §6.10) through the APDU interface: the initial array, reads
//! bounded by maxFragmentLength, fragmented writes with their offset / length rules, the
//! checksum, the lbw permission, atomic commits and the error paths.

#[allow(dead_code)] // each test file is its own crate and uses only part of the shared host
mod host;

use ctap_types::cbor::{IntMap, Value};
use fido_applet::profile::Profile;
use host::*;

const LARGE_BLOBS: u8 = 0x0C;

fn max_fragment(t: &Tester) -> usize {
    t.profile.max_msg_size - 64
}

/// A serialized large-blob array: a CBOR array with one byte string of `n` bytes, and the
/// checksum.
fn array_of(n: usize, fill: u8) -> Vec<u8> {
    large_blob_array(vec![Value::bytes(vec![fill; n])])
}

/// The initial serialized large-blob array (§6.10.2): the empty CBOR array and its checksum.
fn initial() -> Vec<u8> {
    large_blob_array(vec![])
}

fn get(t: &mut Tester, offset: u64, count: u64) -> Result<Vec<u8>, u8> {
    let v = t.ctap_map(
        LARGE_BLOBS,
        vec![
            (int(1), Value::Unsigned(count)),
            (int(3), Value::Unsigned(offset)),
        ],
    )?;
    Ok(IntMap::new(&v)
        .unwrap()
        .required(1)
        .unwrap()
        .as_bytes()
        .unwrap()
        .to_vec())
}

/// Reads the whole array the way python-fido2 does: fragments until a short one.
fn read_all(t: &mut Tester) -> Vec<u8> {
    let max = max_fragment(t);
    let mut out = Vec::new();
    loop {
        let part = get(t, out.len() as u64, max as u64).unwrap();
        let done = part.len() < max;
        out.extend_from_slice(&part);
        if done {
            return out;
        }
    }
}

/// Writes `array` in maxFragmentLength pieces.
fn write_all(t: &mut Tester, token: Option<&Token>, array: &[u8]) -> Result<(), u8> {
    let max = max_fragment(t);
    for (i, chunk) in array.chunks(max).enumerate() {
        let offset = (i * max) as u64;
        let length = (i == 0).then_some(array.len() as u64);
        t.large_blob_set(token, offset, chunk, length)?;
    }
    Ok(())
}

#[test]
fn get_info_declares_large_blobs() {
    let mut t = Tester::new();
    assert_eq!(t.option("largeBlobs"), Some(true));
    assert_eq!(t.info(0x0B), Some(int(t.profile.large_blob_size as i64)));
    assert!(t.profile.large_blob_size >= 1024);
}

#[test]
fn a_fresh_card_holds_the_empty_array() {
    let mut t = Tester::new();
    assert_eq!(read_all(&mut t), initial());
    assert_eq!(get(&mut t, 1, 4).unwrap(), initial()[1..5]);
    assert_eq!(
        get(&mut t, 17, 4).unwrap(),
        Vec::<u8>::new(),
        "offset at the end"
    );
    assert_eq!(get(&mut t, 0, 0).unwrap(), Vec::<u8>::new());
}

#[test]
fn get_errors() {
    let mut t = Tester::new();
    let max = max_fragment(&t) as u64;
    assert_eq!(get(&mut t, 0, max + 1), Err(INVALID_LENGTH));
    assert_eq!(
        get(&mut t, 18, 1),
        Err(INVALID_PARAMETER),
        "offset past the end"
    );
    assert_eq!(get(&mut t, u64::MAX, 1), Err(INVALID_PARAMETER));
    assert_eq!(
        t.ctap_map(
            LARGE_BLOBS,
            vec![(int(1), int(4)), (int(3), int(0)), (int(4), int(17))]
        ),
        Err(INVALID_PARAMETER),
        "length with get"
    );
    assert_eq!(
        t.ctap_map(LARGE_BLOBS, vec![(int(1), int(4))]),
        Err(MISSING_PARAMETER)
    );
    assert_eq!(
        t.ctap_map(LARGE_BLOBS, vec![(int(3), int(0))]),
        Err(INVALID_PARAMETER)
    );
    assert_eq!(
        t.ctap_map(
            LARGE_BLOBS,
            vec![
                (int(1), int(4)),
                (int(2), Value::bytes(vec![0])),
                (int(3), int(0))
            ]
        ),
        Err(INVALID_PARAMETER),
        "get and set"
    );
    assert_eq!(
        t.ctap_map(LARGE_BLOBS, vec![(int(1), text("4")), (int(3), int(0))]),
        Err(CBOR_UNEXPECTED_TYPE)
    );
    assert_eq!(
        t.ctap_map(LARGE_BLOBS, vec![(int(1), int(4)), (int(3), int(-1))]),
        Err(CBOR_UNEXPECTED_TYPE)
    );
}

#[test]
fn write_and_read_back_in_fragments_without_a_pin() {
    let mut t = Tester::new();
    let array = array_of(t.profile.large_blob_size - 40, 0xA5);
    assert!(array.len() > max_fragment(&t), "needs two fragments");
    write_all(&mut t, None, &array).unwrap();
    assert_eq!(read_all(&mut t), array);
    // Persisted.
    let mut t = t.reload();
    assert_eq!(read_all(&mut t), array);
    // The whole store, exactly.
    let full = array_of(t.profile.large_blob_size - 20, 1);
    assert_eq!(full.len(), t.profile.large_blob_size);
    write_all(&mut t, None, &full).unwrap();
    assert_eq!(read_all(&mut t), full);
}

#[test]
fn set_errors() {
    let mut t = Tester::new();
    let array = array_of(100, 7);
    let size = t.profile.large_blob_size as u64;
    let max = max_fragment(&t);
    // The first fragment declares the length: absent, too large, too small.
    assert_eq!(
        t.large_blob_set(None, 0, &array, None),
        Err(INVALID_PARAMETER)
    );
    assert_eq!(
        t.large_blob_set(None, 0, &array, Some(size + 1)),
        Err(LARGE_BLOB_STORAGE_FULL)
    );
    assert_eq!(
        t.large_blob_set(None, 0, &array[..16], Some(16)),
        Err(INVALID_PARAMETER)
    );
    // A fragment over maxFragmentLength.
    assert_eq!(
        t.large_blob_set(None, 0, &vec![0; max + 1], Some(size)),
        Err(INVALID_LENGTH)
    );
    // Continuing a write that was never begun.
    assert_eq!(
        t.large_blob_set(None, 10, &array[10..], None),
        Err(INVALID_SEQ)
    );
    // A write in progress: wrong offsets, a length again, overflow.
    t.large_blob_set(None, 0, &array[..10], Some(array.len() as u64))
        .unwrap();
    assert_eq!(
        t.large_blob_set(None, 11, &array[11..], None),
        Err(INVALID_SEQ)
    );
    assert_eq!(
        t.large_blob_set(None, 9, &array[9..], None),
        Err(INVALID_SEQ)
    );
    assert_eq!(
        t.large_blob_set(None, 10, &array[10..], Some(array.len() as u64)),
        Err(INVALID_PARAMETER)
    );
    assert_eq!(
        t.large_blob_set(None, 10, &[array[10..].to_vec(), vec![0]].concat(), None),
        Err(INVALID_PARAMETER),
        "past the declared length"
    );
    // The write is still in progress after those refusals.
    t.large_blob_set(None, 10, &array[10..], None).unwrap();
    assert_eq!(read_all(&mut t), array);
}

#[test]
fn a_bad_checksum_is_an_integrity_failure_and_changes_nothing() {
    let mut t = Tester::new();
    let good = array_of(50, 1);
    write_all(&mut t, None, &good).unwrap();
    let mut bad = array_of(60, 2);
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert_eq!(write_all(&mut t, None, &bad), Err(INTEGRITY_FAILURE));
    assert_eq!(read_all(&mut t), good);
    // The failed write is over.
    assert_eq!(
        t.large_blob_set(None, 10, &bad[10..], None),
        Err(INVALID_SEQ)
    );
}

#[test]
fn an_interrupted_write_keeps_the_old_array() {
    let mut t = Tester::new();
    let old = array_of(30, 3);
    write_all(&mut t, None, &old).unwrap();
    let new = array_of(3000.min(t.profile.large_blob_size - 40), 4);
    let max = max_fragment(&t);
    t.large_blob_set(None, 0, &new[..max], Some(new.len() as u64))
        .unwrap();
    assert_eq!(read_all(&mut t), old, "nothing committed mid-write");
    t.power_cycle();
    assert_eq!(read_all(&mut t), old);
    assert_eq!(
        t.large_blob_set(None, max as u64, &new[max..], None),
        Err(INVALID_SEQ),
        "the write ended with the power"
    );
    // Starting over at offset 0 abandons a write in progress.
    t.large_blob_set(None, 0, &new[..max], Some(new.len() as u64))
        .unwrap();
    write_all(&mut t, None, &old).unwrap();
    assert_eq!(read_all(&mut t), old);
}

#[test]
fn writes_need_the_lbw_permission_once_a_pin_is_set() {
    let mut t = Tester::new();
    t.set_pin(2, PIN).unwrap();
    let array = array_of(40, 9);
    // Reading needs nothing.
    assert_eq!(read_all(&mut t), initial());
    assert_eq!(write_all(&mut t, None, &array), Err(PUAT_REQUIRED));
    let token = t.token(2, PIN, LBW, None).unwrap();
    // Missing or unknown protocol.
    let mut req = vec![
        (int(2), Value::bytes(array.clone())),
        (int(3), int(0)),
        (int(4), int(array.len() as i64)),
        (int(5), Value::bytes(token.param(b"x"))),
    ];
    assert_eq!(t.ctap_map(LARGE_BLOBS, req.clone()), Err(MISSING_PARAMETER));
    req.push((int(6), int(9)));
    assert_eq!(t.ctap_map(LARGE_BLOBS, req), Err(INVALID_PARAMETER));
    // A MAC over another offset.
    let message = large_blob_message(1, &array);
    let req = vec![
        (int(2), Value::bytes(array.clone())),
        (int(3), int(0)),
        (int(4), int(array.len() as i64)),
        (int(5), Value::bytes(token.param(&message))),
        (int(6), int(2)),
    ];
    assert_eq!(t.ctap_map(LARGE_BLOBS, req), Err(PIN_AUTH_INVALID));
    // A token without lbw.
    let ga_token = t.token(2, PIN, GA, None).unwrap();
    assert_eq!(
        write_all(&mut t, Some(&ga_token), &array),
        Err(PIN_AUTH_INVALID)
    );
    // The right token, both protocols.
    for protocol in [2, 1] {
        let token = t.token(protocol, PIN, LBW, None).unwrap();
        write_all(&mut t, Some(&token), &array).unwrap();
        assert_eq!(read_all(&mut t), array);
    }
}

#[test]
fn an_unauthorized_request_does_not_disturb_a_write_in_progress() {
    let mut t = Tester::new();
    t.set_pin(2, PIN).unwrap();
    let token = t.token(2, PIN, LBW, None).unwrap();
    let array = array_of(3000.min(t.profile.large_blob_size - 40), 5);
    let max = max_fragment(&t);
    t.large_blob_set(Some(&token), 0, &array[..max], Some(array.len() as u64))
        .unwrap();
    // Someone else's offset-0 request without a valid MAC.
    assert_eq!(
        t.large_blob_set(None, 0, &array[..20], Some(20)),
        Err(PUAT_REQUIRED)
    );
    let forged = Token {
        protocol: 2,
        bytes: vec![0; 32],
    };
    assert_eq!(
        t.large_blob_set(Some(&forged), 0, &array[..20], Some(20)),
        Err(PIN_AUTH_INVALID)
    );
    t.large_blob_set(Some(&token), max as u64, &array[max..], None)
        .unwrap();
    assert_eq!(read_all(&mut t), array);
}

#[test]
fn lbw_survives_a_make_credential_with_the_same_token() {
    // §6.1.2 step 14.4: makeCredential clears every permission but lbw, so a platform can
    // register with largeBlobKey and then store the blob with one PIN entry.
    let mut t = Tester::new();
    t.set_pin(2, PIN).unwrap();
    let token = t.token(2, PIN, MC | LBW, None).unwrap();
    let req = extension(
        mc("a.example", b"u", true),
        6,
        "largeBlobKey",
        Value::Bool(true),
    );
    let reg = t.make_credential(with_token(req, &token, 8)).unwrap();
    let key = reg.large_blob_key.expect("largeBlobKey");
    assert_eq!(key.len(), 32);
    let array = array_of(64, 6);
    write_all(&mut t, Some(&token), &array).unwrap();
    assert_eq!(read_all(&mut t), array);
}

#[test]
fn reset_restores_the_empty_array() {
    let mut t = Tester::new();
    write_all(&mut t, None, &array_of(80, 8)).unwrap();
    t.ctap(0x07, None).unwrap();
    assert_eq!(read_all(&mut t), initial());
}

#[test]
fn a_card_without_large_blobs_refuses_the_command() {
    let mut t = Tester::with_profile(Profile::generic().restricted_to_ctap20());
    assert_eq!(t.option("largeBlobs"), None);
    assert_eq!(t.info(0x0B), None);
    assert_eq!(get(&mut t, 0, 10), Err(INVALID_COMMAND));
}
