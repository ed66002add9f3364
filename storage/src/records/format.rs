//! The bytes of a record log (format version 1).
//!
//! ```text
//! header  = "VFCR" | format version: u16 | reserved: u16 (0)
//! commit  = length n: u32 | n bytes of entries | digest: 32 bytes
//! entry   = 0x01 | key length: u16 | key | value length: u32 | value     (put)
//!         | 0x02 | key length: u16 | key                                 (delete)
//! digest  = SHA-256(previous digest | length | entries)
//! ```
//!
//! All integers big-endian. The first commit's "previous digest" is the SHA-256 of the header,
//! so every digest covers the whole history since the log was (re)written and a commit cannot
//! be spliced in from another log or another generation of this one. A commit is its own
//! commit marker: it counts only when its digest is right.
//!
//! A power cut can only damage the last commit (appends are sequential and each is on disk
//! before the next begins), so the loader reads commits until the end and treats a damaged
//! *last* one — cut short, or complete in length but with a wrong digest because some of its
//! pages never reached the disk — as not written. A damaged commit *followed by more bytes* is
//! not what a power cut leaves: that log is refused as corrupt, never silently cut short.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::StorageError;

/// The magic of a record log.
pub const MAGIC: &[u8; 4] = b"VFCR";
/// The format version this build writes and reads.
pub const FORMAT_VERSION: u16 = 1;
pub(crate) const HEADER_LEN: usize = 8;
const LEN_LEN: usize = 4;
pub(crate) const DIGEST_LEN: usize = 32;
/// Bytes a commit adds around its entries.
pub(crate) const COMMIT_OVERHEAD: usize = LEN_LEN + DIGEST_LEN;
const TAG_PUT: u8 = 0x01;
const TAG_DELETE: u8 = 0x02;

/// One change in a commit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change<'a> {
    /// Sets `key` to `value` (adds or replaces the record).
    Put { key: &'a [u8], value: &'a [u8] },
    /// Removes the record `key` (nothing when there is none).
    Delete { key: &'a [u8] },
}

impl Change<'_> {
    pub fn key(&self) -> &[u8] {
        match self {
            Change::Put { key, .. } | Change::Delete { key } => key,
        }
    }
}

/// The header of a version-1 log.
pub(crate) fn header() -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..4].copy_from_slice(MAGIC);
    h[4..6].copy_from_slice(&FORMAT_VERSION.to_be_bytes());
    h
}

/// The chain's start: the digest of the header.
pub(crate) fn header_digest() -> [u8; DIGEST_LEN] {
    Sha256::digest(header()).into()
}

/// Encoded length of a put of `key` and `value`.
pub(crate) fn put_len(key: &[u8], value: &[u8]) -> usize {
    1 + 2 + key.len() + 4 + value.len()
}

/// Encoded length of one change.
pub(crate) fn change_len(change: &Change<'_>) -> usize {
    match change {
        Change::Put { key, value } => put_len(key, value),
        Change::Delete { key } => 1 + 2 + key.len(),
    }
}

/// Appends one entry to `out`.
fn encode_change(change: &Change<'_>, out: &mut Vec<u8>) -> Result<(), StorageError> {
    let key = change.key();
    let key_len = u16::try_from(key.len())
        .map_err(|_| StorageError::Encode(format!("record key of {} bytes", key.len())))?;
    match change {
        Change::Put { value, .. } => {
            let value_len = u32::try_from(value.len()).map_err(|_| {
                StorageError::Encode(format!("record value of {} bytes", value.len()))
            })?;
            out.push(TAG_PUT);
            out.extend_from_slice(&key_len.to_be_bytes());
            out.extend_from_slice(key);
            out.extend_from_slice(&value_len.to_be_bytes());
            out.extend_from_slice(value);
        }
        Change::Delete { .. } => {
            out.push(TAG_DELETE);
            out.extend_from_slice(&key_len.to_be_bytes());
            out.extend_from_slice(key);
        }
    }
    Ok(())
}

/// Appends a commit of `changes` chained to `previous` to `out`; returns its digest.
pub(crate) fn encode_commit<'a>(
    previous: &[u8; DIGEST_LEN],
    changes: impl IntoIterator<Item = Change<'a>>,
    out: &mut Vec<u8>,
) -> Result<[u8; DIGEST_LEN], StorageError> {
    let start = out.len();
    out.extend_from_slice(&[0; LEN_LEN]);
    for change in changes {
        encode_change(&change, out)?;
    }
    let n = u32::try_from(out.len() - start - LEN_LEN)
        .map_err(|_| StorageError::Encode("commit larger than 4 GiB".into()))?;
    out[start..start + LEN_LEN].copy_from_slice(&n.to_be_bytes());
    let digest: [u8; DIGEST_LEN] = Sha256::new()
        .chain_update(previous)
        .chain_update(&out[start..])
        .finalize()
        .into();
    out.extend_from_slice(&digest);
    Ok(digest)
}

/// A whole log holding exactly `records`: the header and one commit.
pub(crate) fn encode_snapshot(
    records: &BTreeMap<Vec<u8>, Vec<u8>>,
    out: &mut Vec<u8>,
) -> Result<[u8; DIGEST_LEN], StorageError> {
    out.clear();
    out.extend_from_slice(&header());
    let changes = records
        .iter()
        .map(|(key, value)| Change::Put { key, value });
    encode_commit(&header_digest(), changes, out)
}

/// A log as loaded.
pub(crate) struct Loaded {
    pub records: BTreeMap<Vec<u8>, Vec<u8>>,
    /// The digest of the last valid commit (the header's when there is none).
    pub chain: [u8; DIGEST_LEN],
    /// Bytes up to the end of the last valid commit.
    pub valid_len: usize,
    /// Sum of [`put_len`] over `records`.
    pub live_len: usize,
}

/// Whether `bytes` starts like a record log (of any version).
pub(crate) fn is_record_log(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC)
}

/// Loads a record log. `storage` names the source in errors.
pub(crate) fn load(bytes: &[u8], storage: &str) -> Result<Loaded, StorageError> {
    let corrupt = |reason: String| StorageError::Corrupt {
        storage: storage.to_string(),
        reason,
    };
    // The header is written whole, by an atomic replace: a short one is damage, not a cut.
    if bytes.len() < HEADER_LEN || !is_record_log(bytes) {
        return Err(corrupt("record log header missing or truncated".into()));
    }
    let version = u16::from_be_bytes([bytes[4], bytes[5]]);
    if version > FORMAT_VERSION {
        return Err(StorageError::Version {
            storage: storage.to_string(),
            what: "record log format".into(),
            found: version,
            supported: FORMAT_VERSION,
            reason: "the record log was written by a newer build; it is left untouched".into(),
        });
    }
    if version != FORMAT_VERSION || bytes[6..HEADER_LEN] != [0, 0] {
        return Err(corrupt(format!("unknown record log version {version}")));
    }
    let mut loaded = Loaded {
        records: BTreeMap::new(),
        chain: header_digest(),
        valid_len: HEADER_LEN,
        live_len: 0,
    };
    let mut at = HEADER_LEN;
    while at < bytes.len() {
        let Some(body_start) = at.checked_add(LEN_LEN).filter(|&e| e <= bytes.len()) else {
            break; // a cut inside the length field
        };
        let n = u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
        let body_end = body_start.saturating_add(n as usize);
        let Some(end) = body_end
            .checked_add(DIGEST_LEN)
            .filter(|&e| e <= bytes.len())
        else {
            break; // the last commit was cut short
        };
        let digest: [u8; DIGEST_LEN] = Sha256::new()
            .chain_update(loaded.chain)
            .chain_update(&bytes[at..body_end])
            .finalize()
            .into();
        if digest[..] != bytes[body_end..end] {
            if end == bytes.len() {
                break; // the last commit, partly written
            }
            return Err(corrupt(format!(
                "the commit at byte {at} fails its checksum and more data follows it"
            )));
        }
        apply_commit(&bytes[body_start..body_end], &mut loaded)
            .map_err(|reason| corrupt(format!("the commit at byte {at} is malformed: {reason}")))?;
        loaded.chain = digest;
        loaded.valid_len = end;
        at = end;
    }
    Ok(loaded)
}

/// Applies the entries of one (checksummed) commit.
fn apply_commit(mut body: &[u8], loaded: &mut Loaded) -> Result<(), String> {
    while let Some((&tag, rest)) = body.split_first() {
        let (key, rest) = take_sized::<2>(rest).ok_or("key cut short")?;
        match tag {
            TAG_PUT => {
                let (value, rest) = take_sized::<4>(rest).ok_or("value cut short")?;
                loaded.live_len += put_len(key, value);
                if let Some(old) = loaded.records.insert(key.to_vec(), value.to_vec()) {
                    loaded.live_len -= put_len(key, &old);
                }
                body = rest;
            }
            TAG_DELETE => {
                if let Some(old) = loaded.records.remove(key) {
                    loaded.live_len -= put_len(key, &old);
                }
                body = rest;
            }
            other => return Err(format!("unknown entry tag {other:#04x}")),
        }
    }
    Ok(())
}

/// Splits a big-endian `N`-byte length and that many bytes off `bytes`.
fn take_sized<const N: usize>(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, rest) = bytes.split_first_chunk::<N>()?;
    let mut wide = [0u8; 8];
    wide[8 - N..].copy_from_slice(len);
    let len = usize::try_from(u64::from_be_bytes(wide)).ok()?;
    (len <= rest.len()).then(|| rest.split_at(len))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put<'a>(key: &'a [u8], value: &'a [u8]) -> Change<'a> {
        Change::Put { key, value }
    }

    fn log_of(commits: &[&[Change<'_>]]) -> Vec<u8> {
        let mut out = header().to_vec();
        let mut chain = header_digest();
        for changes in commits {
            chain = encode_commit(&chain, changes.iter().copied(), &mut out).unwrap();
        }
        out
    }

    #[test]
    fn commits_replay_in_order_and_deletes_remove() {
        let log = log_of(&[
            &[put(b"a", b"1"), put(b"b", b"2")],
            &[
                put(b"a", b"3"),
                Change::Delete { key: b"b" },
                Change::Delete { key: b"never" },
            ],
        ]);
        let loaded = load(&log, "memory").unwrap();
        assert_eq!(loaded.records.len(), 1);
        assert_eq!(loaded.records[&b"a"[..]], b"3");
        assert_eq!(loaded.valid_len, log.len());
        assert_eq!(loaded.live_len, put_len(b"a", b"3"));
    }

    #[test]
    fn a_cut_last_commit_is_not_written_and_earlier_ones_stand() {
        let one = log_of(&[&[put(b"k", b"v")]]);
        let two = log_of(&[&[put(b"k", b"v")], &[put(b"k", b"w")]]);
        for len in one.len()..two.len() {
            let loaded = load(&two[..len], "memory").unwrap();
            assert_eq!(loaded.records[&b"k"[..]], b"v", "cut at {len}");
            assert_eq!(loaded.valid_len, one.len());
        }
        // Complete in length, but a page of it never reached the disk.
        let mut holed = two.clone();
        let last = holed.len() - 40;
        holed[last] = 0;
        holed[last + 1] ^= 0xFF;
        assert_eq!(load(&holed, "memory").unwrap().records[&b"k"[..]], b"v");
    }

    #[test]
    fn damage_followed_by_more_commits_is_refused_not_cut_short() {
        let log = log_of(&[&[put(b"k", b"v")], &[put(b"k", b"w")]]);
        let mut flipped = log.clone();
        flipped[HEADER_LEN + 6] ^= 1;
        let err = load(&flipped, "file /x").err().expect("refused");
        assert!(matches!(err, StorageError::Corrupt { .. }), "{err}");
        assert!(err.to_string().starts_with("file /x: "), "{err}");
    }

    #[test]
    fn a_newer_version_is_refused_naming_both_versions() {
        let mut log = log_of(&[]);
        log[5] = 2;
        let err = load(&log, "file /x").err().expect("refused");
        assert_eq!(err.versions(), Some((2, 1)), "{err}");
        for bad in [&log[..3], b"VFCR\0", b"VFCR\0\0\0\0", b"VFCR\0\x01\0\x01"] {
            assert!(matches!(
                load(bad, "memory"),
                Err(StorageError::Corrupt { .. })
            ));
        }
    }

    #[test]
    fn a_commit_from_another_log_does_not_chain() {
        let a = log_of(&[&[put(b"k", b"a")]]);
        let b = log_of(&[&[put(b"x", b"y")], &[put(b"k", b"b")]]);
        // b's second commit appended to a: its digest chains to b's first commit, not a's.
        let first_b = log_of(&[&[put(b"x", b"y")]]).len();
        let spliced = [&a[..], &b[first_b..]].concat();
        let loaded = load(&spliced, "memory").unwrap();
        assert_eq!(loaded.records[&b"k"[..]], b"a");
        assert_eq!(loaded.valid_len, a.len());
    }
}
