//! Persistent memory with Java Card transaction semantics (JCRE 3 §7: atomicity and
//! transactions), behind one [`Storage`] trait.
//!
//! The card's persistent state is one versioned struct ([`Schema`]). A [`Persistent`] holds the
//! committed value and changes it only through [`Persistent::transaction`]: the closure works on
//! a copy, and the copy becomes the committed value only after the storage has written the new
//! image atomically. A write that fails (the card was pulled) leaves the previous value, in
//! memory and on disk. That is what "a pulled card loses nothing that was acknowledged" means:
//! the applet answers only after `transaction` returned.
//!
//! Image layout (all integers big-endian):
//!
//! | bytes | field |
//! |---|---|
//! | 4 | magic `VFCS` |
//! | 2 | container format (1) |
//! | 2 | schema version ([`Schema::VERSION`]) |
//! | 4 | payload length |
//! | n | payload: the state, serialized with postcard |
//! | 32 | SHA-256 of all the bytes before it |
//!
//! Cost at scale (BENCHMARKS.md): a transaction changes the committed value in place (no copy of
//! the state; an abort or a failed write restores it from the committed image), encodes it into a
//! reused buffer, hashes only from the last 16 KiB checkpoint before the first changed byte, and
//! hands the storage the changed byte ranges ([`Storage::update`]). The signature counter bump of
//! every assertion thus rewrites a few hundred bytes, not every credential: memory storage patches
//! them in place; a storage without `update` still gets the whole image. A schema may also copy
//! the bytes of parts it knows unchanged from the committed image instead of encoding them again
//! ([`Schema::encode_payload`]; the applet's state does so for its resident credentials).

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

const MAGIC: &[u8; 4] = b"VFCS";
const CONTAINER_FORMAT: u16 = 1;
const HEADER_LEN: usize = 12;
const CHECKSUM_LEN: usize = 32;

/// Why persistent memory could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("{storage}: {source}")]
    Io {
        storage: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{storage}: not a card state image ({reason})")]
    Corrupt { storage: String, reason: String },
    #[error(
        "{storage}: schema version {found} cannot be loaded by this build (it reads version {supported}): {reason}"
    )]
    Version {
        storage: String,
        found: u16,
        supported: u16,
        reason: String,
    },
    #[error("{storage}: power cut at write step {step} (fault injection)")]
    PowerCut { storage: String, step: usize },
    #[error("state could not be serialized: {0}")]
    Encode(String),
}

/// A place that keeps one image atomically.
pub trait Storage: Send {
    /// The last image written, or `None` when nothing was ever written (a fresh card).
    fn read(&mut self) -> Result<Option<Vec<u8>>, StorageError>;
    /// Replaces the image. Atomic: if this fails or the process dies during it, a later `read`
    /// returns either the old image or the new one, never a mix.
    fn write(&mut self, image: &[u8]) -> Result<(), StorageError>;
    /// Names the storage in error messages, e.g. `file /var/lib/card/state.bin`.
    fn describe(&self) -> String;
    /// Replaces the image `previous` (the last one read or written through this storage) with
    /// `image`, which differs from it only inside `changed`: sorted, disjoint ranges of `image`
    /// (when the length changed, they run to its end). Atomic like [`Storage::write`]. Storages
    /// that can write just the changed bytes override it; the default writes the whole image.
    fn update(
        &mut self,
        previous: &[u8],
        image: &[u8],
        changed: &[Range<usize>],
    ) -> Result<(), StorageError> {
        let _ = (previous, changed);
        self.write(image)
    }
}

impl<S: Storage + ?Sized> Storage for Box<S> {
    fn read(&mut self) -> Result<Option<Vec<u8>>, StorageError> {
        (**self).read()
    }
    fn write(&mut self, image: &[u8]) -> Result<(), StorageError> {
        (**self).write(image)
    }
    fn describe(&self) -> String {
        (**self).describe()
    }
    fn update(
        &mut self,
        previous: &[u8],
        image: &[u8],
        changed: &[Range<usize>],
    ) -> Result<(), StorageError> {
        (**self).update(previous, image, changed)
    }
}

/// In-memory storage. Clones share the image, so a test can drop a card and build a new one
/// from the same memory, as if the card had been pulled and tapped again.
#[derive(Clone, Default)]
pub struct MemoryStorage {
    image: Arc<Mutex<Option<Vec<u8>>>>,
}

impl MemoryStorage {
    pub fn new() -> Self {
        Self::default()
    }

    /// The current image, for tests that corrupt or inspect it.
    pub fn image(&self) -> Option<Vec<u8>> {
        self.image
            .lock()
            .map(|g| g.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// Replaces the image directly (tests: corrupt or truncate it).
    pub fn set_image(&self, image: Option<Vec<u8>>) {
        match self.image.lock() {
            Ok(mut g) => *g = image,
            Err(p) => *p.into_inner() = image,
        }
    }
}

impl Storage for MemoryStorage {
    fn read(&mut self) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.image())
    }
    fn write(&mut self, image: &[u8]) -> Result<(), StorageError> {
        self.set_image(Some(image.to_vec()));
        Ok(())
    }
    fn describe(&self) -> String {
        "memory".to_string()
    }
    /// Copies only the changed bytes, when the memory still holds `previous` (same length and
    /// checksum: an image's last 32 bytes are the SHA-256 of the rest); otherwise (a test
    /// replaced the image meanwhile) writes the whole image.
    fn update(
        &mut self,
        previous: &[u8],
        image: &[u8],
        changed: &[Range<usize>],
    ) -> Result<(), StorageError> {
        let mut guard = self.image.lock().unwrap_or_else(|p| p.into_inner());
        match guard.as_mut() {
            Some(stored) if same_image(stored, previous) => {
                stored.resize(image.len(), 0);
                for range in changed {
                    if let (Some(dst), Some(src)) =
                        (stored.get_mut(range.clone()), image.get(range.clone()))
                    {
                        dst.copy_from_slice(src);
                    }
                }
                debug_assert!(stored.as_slice() == image, "patched image differs");
            }
            _ => *guard = Some(image.to_vec()),
        }
        Ok(())
    }
}

/// Whether `stored` is the image `previous`, judged by length and trailing checksum.
fn same_image(stored: &[u8], previous: &[u8]) -> bool {
    stored.len() == previous.len()
        && stored.len() >= CHECKSUM_LEN
        && stored[stored.len() - CHECKSUM_LEN..] == previous[previous.len() - CHECKSUM_LEN..]
}

/// The steps of one atomic file write, in order; fault injection cuts power before any of them.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum WriteStep {
    /// Create the temporary file and write the image into it.
    WriteTemp,
    /// fsync the temporary file.
    SyncTemp,
    /// Rename it over the state file.
    Rename,
    /// fsync the directory so the rename itself is durable.
    SyncDir,
}

impl WriteStep {
    pub const ALL: [WriteStep; 4] = [Self::WriteTemp, Self::SyncTemp, Self::Rename, Self::SyncDir];
}

/// A fault-injection hook, asked before each write step; returning `false` cuts the power there.
pub type FaultHook = Box<dyn FnMut(WriteStep) -> bool + Send>;

/// A state file written atomically: temporary file in the same directory, fsync, rename,
/// fsync of the directory; mode 0600 because the file holds the card's secrets.
pub struct FileStorage {
    path: PathBuf,
    fault: Option<FaultHook>,
    steps: usize,
}

impl FileStorage {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            fault: None,
            steps: 0,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Installs a fault-injection hook (tests only, but kept in the product so that the code
    /// path under test is the real one).
    pub fn with_fault_hook(mut self, hook: FaultHook) -> Self {
        self.fault = Some(hook);
        self
    }

    fn temp_path(&self) -> PathBuf {
        let mut name = self
            .path
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_default();
        name.push(".tmp");
        self.path.with_file_name(name)
    }

    fn step(&mut self, step: WriteStep) -> Result<(), StorageError> {
        self.steps += 1;
        if let Some(hook) = self.fault.as_mut() {
            if !hook(step) {
                return Err(StorageError::PowerCut {
                    storage: self.describe(),
                    step: self.steps,
                });
            }
        }
        Ok(())
    }

    fn io(&self, source: std::io::Error) -> StorageError {
        StorageError::Io {
            storage: self.describe(),
            source,
        }
    }
}

impl Storage for FileStorage {
    fn read(&mut self) -> Result<Option<Vec<u8>>, StorageError> {
        match fs::read(&self.path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io(e)),
        }
    }

    fn write(&mut self, image: &[u8]) -> Result<(), StorageError> {
        let temp = self.temp_path();
        self.step(WriteStep::WriteTemp)?;
        let mut file = open_private(&temp).map_err(|e| self.io(e))?;
        file.write_all(image).map_err(|e| self.io(e))?;
        self.step(WriteStep::SyncTemp)?;
        file.sync_all().map_err(|e| self.io(e))?;
        drop(file);
        self.step(WriteStep::Rename)?;
        fs::rename(&temp, &self.path).map_err(|e| self.io(e))?;
        self.step(WriteStep::SyncDir)?;
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            // Directory fsync makes the rename durable; some file systems refuse to open a
            // directory for it, and then the rename is as durable as they make it.
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }

    fn describe(&self) -> String {
        format!("file {}", self.path.display())
    }
}

fn open_private(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        let file = options.open(path)?;
        // A temporary file left by an earlier crash keeps its old mode: set it again.
        file.set_permissions(fs::Permissions::from_mode(0o600))?;
        Ok(file)
    }
    #[cfg(not(unix))]
    {
        options.open(path)
    }
}

/// Storage that cuts power at the n-th write step (counting from 1) of any write, for tearing
/// tests over any inner storage. For [`MemoryStorage`] a write has one step.
pub struct FaultyStorage<S> {
    inner: S,
    cut_at: Option<usize>,
    steps: usize,
}

impl<S: Storage> FaultyStorage<S> {
    pub fn new(inner: S, cut_at: Option<usize>) -> Self {
        Self {
            inner,
            cut_at,
            steps: 0,
        }
    }

    /// Write calls attempted so far.
    pub fn steps(&self) -> usize {
        self.steps
    }
}

impl<S: Storage> Storage for FaultyStorage<S> {
    fn read(&mut self) -> Result<Option<Vec<u8>>, StorageError> {
        self.inner.read()
    }
    fn write(&mut self, image: &[u8]) -> Result<(), StorageError> {
        self.steps += 1;
        if self.cut_at == Some(self.steps) {
            return Err(StorageError::PowerCut {
                storage: self.inner.describe(),
                step: self.steps,
            });
        }
        self.inner.write(image)
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
    /// One step, like a write.
    fn update(
        &mut self,
        previous: &[u8],
        image: &[u8],
        changed: &[Range<usize>],
    ) -> Result<(), StorageError> {
        self.steps += 1;
        if self.cut_at == Some(self.steps) {
            return Err(StorageError::PowerCut {
                storage: self.inner.describe(),
                step: self.steps,
            });
        }
        self.inner.update(previous, image, changed)
    }
}

/// The card's persistent state: one versioned struct.
pub trait Schema: Serialize + DeserializeOwned + Clone + Send {
    /// The version this build writes.
    const VERSION: u16;

    /// Loads a payload written by an older version. Upgrades are explicit: each supported older
    /// version gets its own arm; the default refuses every other version.
    fn migrate(version: u16, _payload: &[u8]) -> Result<Self, String> {
        Err(format!("no upgrade path from version {version}"))
    }

    /// Appends the postcard payload of `self` to `out` ([`encode_postcard`] of the whole value
    /// by default). [`Persistent`]'s commits pass `committed`, the payload of the committed
    /// image; an implementation may copy from it the bytes of parts it knows unchanged since it
    /// encoded them in that very commit, provided the result is byte for byte the postcard
    /// encoding of `self` (the image format does not change). [`encode_image`] passes `None`.
    fn encode_payload(
        &self,
        committed: Option<&[u8]>,
        out: &mut Vec<u8>,
    ) -> Result<(), StorageError> {
        let _ = committed;
        encode_postcard(self, out)
    }
}

/// Appends the postcard encoding of `value` to `out`, through the same output as images.
pub fn encode_postcard<V: Serialize + ?Sized>(
    value: &V,
    out: &mut Vec<u8>,
) -> Result<(), StorageError> {
    postcard::serialize_with_flavor(value, ExtendVec(out))
        .map_err(|e| StorageError::Encode(e.to_string()))
}

/// Encodes `state` as a checksummed image.
pub fn encode_image<T: Schema>(state: &T) -> Result<Vec<u8>, StorageError> {
    let mut image = Vec::new();
    encode_unsealed(state, None, &mut image)?;
    let digest = Sha256::digest(&image);
    image.extend_from_slice(&digest);
    Ok(image)
}

/// Writes header and payload of `state`'s image into `image` (cleared first), without the
/// checksum. `committed`: the committed image, when a [`Persistent`] commits.
fn encode_unsealed<T: Schema>(
    state: &T,
    committed: Option<&[u8]>,
    image: &mut Vec<u8>,
) -> Result<(), StorageError> {
    image.clear();
    image.extend_from_slice(MAGIC);
    image.extend_from_slice(&CONTAINER_FORMAT.to_be_bytes());
    image.extend_from_slice(&T::VERSION.to_be_bytes());
    image.extend_from_slice(&[0; 4]);
    let committed = committed.and_then(|c| c.get(HEADER_LEN..c.len().checked_sub(CHECKSUM_LEN)?));
    state.encode_payload(committed, image)?;
    let len = u32::try_from(image.len() - HEADER_LEN)
        .map_err(|_| StorageError::Encode("state larger than 4 GiB".into()))?;
    image[8..HEADER_LEN].copy_from_slice(&len.to_be_bytes());
    Ok(())
}

/// A postcard output that appends to a borrowed, reused buffer (no allocation once it is large
/// enough, and slices are copied whole).
struct ExtendVec<'a>(&'a mut Vec<u8>);

impl postcard::ser_flavors::Flavor for ExtendVec<'_> {
    type Output = ();

    #[inline]
    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        self.0.extend_from_slice(data);
        Ok(())
    }

    #[inline(always)]
    fn try_push(&mut self, data: u8) -> postcard::Result<()> {
        self.0.push(data);
        Ok(())
    }

    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

/// Decodes an image, checking magic, container format, length, checksum and schema version.
/// `storage` names the source in errors.
pub fn decode_image<T: Schema>(image: &[u8], storage: &str) -> Result<T, StorageError> {
    let corrupt = |reason: &str| StorageError::Corrupt {
        storage: storage.to_string(),
        reason: reason.to_string(),
    };
    if image.len() < HEADER_LEN + CHECKSUM_LEN {
        return Err(corrupt("truncated: shorter than header and checksum"));
    }
    let (header, rest) = image.split_at(HEADER_LEN);
    if &header[0..4] != MAGIC {
        return Err(corrupt("bad magic"));
    }
    let format = u16::from_be_bytes([header[4], header[5]]);
    if format != CONTAINER_FORMAT {
        return Err(corrupt(&format!("unknown container format {format}")));
    }
    let version = u16::from_be_bytes([header[6], header[7]]);
    let len = u32::from_be_bytes([header[8], header[9], header[10], header[11]]) as usize;
    if rest.len() != len.saturating_add(CHECKSUM_LEN) {
        return Err(corrupt(
            "truncated or extended: length field disagrees with file size",
        ));
    }
    let (payload, checksum) = rest.split_at(len);
    let digest = Sha256::digest(&image[..HEADER_LEN + len]);
    if digest.as_slice() != checksum {
        return Err(corrupt("checksum mismatch"));
    }
    if version == T::VERSION {
        postcard::from_bytes(payload).map_err(|e| corrupt(&format!("payload does not decode: {e}")))
    } else {
        T::migrate(version, payload).map_err(|reason| StorageError::Version {
            storage: storage.to_string(),
            found: version,
            supported: T::VERSION,
            reason,
        })
    }
}

/// The committed persistent state and the storage that keeps it.
pub struct Persistent<T: Schema> {
    value: T,
    storage: Box<dyn Storage>,
    /// The committed image, exactly as the storage holds it: the base of the next update's diff
    /// and what an aborted transaction restores `value` from.
    image: Vec<u8>,
    /// Where the next image is built (reused, so a commit does not allocate).
    scratch: Vec<u8>,
    /// `checkpoints[i]`: SHA-256 state after the first `i * CHECKPOINT` bytes of `image`; only a
    /// prefix of them may be known. A commit rehashes from the last one before its first change.
    checkpoints: Vec<Sha256>,
}

/// Distance between SHA-256 checkpoints of the committed image.
const CHECKPOINT: usize = 16 * 1024;
/// Granularity of the changed ranges handed to [`Storage::update`].
const DIFF_BLOCK: usize = 64;

impl<T: Schema> Persistent<T> {
    /// Loads the state, or commits `init()` when the storage was never written. A corrupt,
    /// truncated or wrong-version image is an error naming the storage: never a silent wipe.
    pub fn open(
        mut storage: Box<dyn Storage>,
        init: impl FnOnce() -> T,
    ) -> Result<Self, StorageError> {
        let (value, image) = match storage.read()? {
            Some(image) => (decode_image(&image, &storage.describe())?, image),
            None => {
                let value = init();
                let image = encode_image(&value)?;
                storage.write(&image)?;
                (value, image)
            }
        };
        Ok(Self {
            value,
            storage,
            image,
            scratch: Vec::new(),
            checkpoints: vec![Sha256::new()],
        })
    }

    pub fn get(&self) -> &T {
        &self.value
    }

    /// Names the storage, for messages.
    pub fn describe(&self) -> String {
        self.storage.describe()
    }

    /// Runs `f` on the state (begin); on `Ok` writes it atomically and makes it the committed
    /// state (commit); on `Err`, when the write fails, or if `f` panics, restores the committed
    /// state (abort). The committed state is never seen half-changed.
    pub fn transaction<R, E>(&mut self, f: impl FnOnce(&mut T) -> Result<R, E>) -> Result<R, E>
    where
        E: From<StorageError>,
    {
        let mut guard = Rollback {
            persistent: self,
            armed: true,
        };
        let result = f(&mut guard.persistent.value)?;
        guard.persistent.commit()?;
        guard.armed = false;
        Ok(result)
    }

    /// Encodes the (changed) value, hands the storage the bytes that differ from the committed
    /// image and, once written, makes the new image the committed one.
    fn commit(&mut self) -> Result<(), StorageError> {
        let mut next = std::mem::take(&mut self.scratch);
        let written = self.seal_and_write(&mut next);
        if written.is_ok() {
            std::mem::swap(&mut self.image, &mut next);
        }
        // Whichever image is not committed is scratch; wipe it (it holds the card's secrets).
        next.fill(0);
        self.scratch = next;
        written
    }

    fn seal_and_write(&mut self, next: &mut Vec<u8>) -> Result<(), StorageError> {
        encode_unsealed(&self.value, Some(&self.image), next)?;
        let old = &self.image;
        let old_body = old.len().saturating_sub(CHECKSUM_LEN);
        let prefix = common_prefix(&old[..old_body], next);

        // Hash from the last checkpoint inside the unchanged prefix, recording new checkpoints.
        let known = (prefix / CHECKPOINT).min(self.checkpoints.len() - 1);
        self.checkpoints.truncate(known + 1);
        let mut hasher = self.checkpoints[known].clone();
        let mut at = known * CHECKPOINT;
        while at + CHECKPOINT <= next.len() {
            hasher.update(&next[at..at + CHECKPOINT]);
            at += CHECKPOINT;
            self.checkpoints.push(hasher.clone());
        }
        hasher.update(&next[at..]);
        let digest = hasher.finalize();
        next.extend_from_slice(&digest);

        let changed = changed_ranges(&self.image, next, prefix);
        let written = self.storage.update(&self.image, next, &changed);
        if written.is_err() {
            // The checkpoints past the prefix describe the image that was not written.
            self.checkpoints.truncate(known + 1);
        }
        written
    }

    /// Abort: the value again as committed, decoded from the committed image.
    fn rollback(&mut self) {
        match decode_image::<T>(&self.image, "committed image") {
            Ok(value) => self.value = value,
            // The image was decoded (or encoded) by this very object: failing now means memory
            // corruption, and continuing could commit a half-changed state.
            Err(err) => panic!("the committed state no longer decodes: {err}"),
        }
    }
}

impl<T: Schema> Drop for Persistent<T> {
    fn drop(&mut self) {
        // The images hold the card's secrets, as the value does.
        self.image.fill(0);
        self.scratch.fill(0);
    }
}

/// Restores the committed value unless disarmed: on `Err`, on a failed write and on a panic in
/// the transaction's closure.
struct Rollback<'a, T: Schema> {
    persistent: &'a mut Persistent<T>,
    armed: bool,
}

impl<T: Schema> Drop for Rollback<'_, T> {
    fn drop(&mut self) {
        if self.armed {
            self.persistent.rollback();
        }
    }
}

/// Length of the common prefix of `a` and `b`.
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    const CHUNK: usize = 4096;
    let len = a.len().min(b.len());
    let mut at = 0;
    while at + CHUNK <= len && a[at..at + CHUNK] == b[at..at + CHUNK] {
        at += CHUNK;
    }
    at + a[at..len]
        .iter()
        .zip(&b[at..len])
        .take_while(|(x, y)| x == y)
        .count()
}

/// The ranges of `new` that differ from `old`, which agree on their first `prefix` bytes: in
/// blocks of [`DIFF_BLOCK`] when the length is unchanged, else everything from the prefix on.
fn changed_ranges(old: &[u8], new: &[u8], prefix: usize) -> Vec<Range<usize>> {
    if old.len() != new.len() {
        return std::iter::once(prefix.min(new.len())..new.len()).collect();
    }
    let mut ranges: Vec<Range<usize>> = Vec::new();
    let mut at = prefix - prefix % DIFF_BLOCK;
    while at < new.len() {
        let end = (at + DIFF_BLOCK).min(new.len());
        if old[at..end] != new[at..end] {
            match ranges.last_mut() {
                Some(last) if last.end == at => last.end = end,
                _ => ranges.push(at..end),
            }
        }
        at = end;
    }
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
    struct V2 {
        counter: u32,
        names: Vec<String>,
    }

    impl Schema for V2 {
        const VERSION: u16 = 2;
        fn migrate(version: u16, payload: &[u8]) -> Result<Self, String> {
            match version {
                // Version 1 held only the counter.
                1 => postcard::from_bytes::<u32>(payload)
                    .map(|counter| V2 {
                        counter,
                        names: Vec::new(),
                    })
                    .map_err(|e| e.to_string()),
                v => Err(format!("no upgrade path from version {v}")),
            }
        }
    }

    #[derive(Clone, Serialize, Deserialize)]
    struct V1(u32);
    impl Schema for V1 {
        const VERSION: u16 = 1;
    }

    #[test]
    fn a_fresh_storage_commits_init_and_reloads_it() {
        let mem = MemoryStorage::new();
        let mut p = Persistent::open(Box::new(mem.clone()), || V2 {
            counter: 7,
            names: vec![],
        })
        .unwrap();
        p.transaction(|s| {
            s.counter += 1;
            Ok::<_, StorageError>(())
        })
        .unwrap();
        let again = Persistent::<V2>::open(Box::new(mem), V2::default).unwrap();
        assert_eq!(again.get().counter, 8);
    }

    #[test]
    fn an_error_in_the_transaction_changes_nothing() {
        let mem = MemoryStorage::new();
        let mut p = Persistent::open(Box::new(mem.clone()), V2::default).unwrap();
        let before = mem.image();
        let r: Result<(), StorageError> = p.transaction(|s| {
            s.counter = 99;
            Err(StorageError::Encode("refused".into()))
        });
        assert!(r.is_err());
        assert_eq!(p.get().counter, 0);
        assert_eq!(mem.image(), before);
    }

    #[test]
    fn a_power_cut_during_the_write_keeps_the_old_state() {
        let mem = MemoryStorage::new();
        Persistent::open(Box::new(mem.clone()), V2::default).unwrap();
        let mut p = Persistent::<V2>::open(
            Box::new(FaultyStorage::new(mem.clone(), Some(1))),
            V2::default,
        )
        .unwrap();
        let r = p.transaction(|s| {
            s.counter = 5;
            Ok::<_, StorageError>(())
        });
        assert!(matches!(r, Err(StorageError::PowerCut { .. })));
        assert_eq!(p.get().counter, 0);
        assert_eq!(
            Persistent::<V2>::open(Box::new(mem), V2::default)
                .unwrap()
                .get()
                .counter,
            0
        );
    }

    #[test]
    fn corrupt_truncated_and_foreign_images_are_refused_with_the_storage_named() {
        let mem = MemoryStorage::new();
        Persistent::open(Box::new(mem.clone()), V2::default).unwrap();
        let good = mem.image().unwrap();
        let mut flipped = good.clone();
        let last = flipped.len() - 40;
        flipped[last] ^= 1;
        for (image, why) in [
            (flipped, "checksum"),
            (good[..good.len() - 1].to_vec(), "length"),
            (b"not a state file at all, clearly, no".to_vec(), "magic"),
            (vec![], "truncated"),
        ] {
            mem.set_image(Some(image));
            let err = Persistent::<V2>::open(Box::new(mem.clone()), V2::default)
                .err()
                .expect(why);
            let msg = err.to_string();
            assert!(msg.starts_with("memory: "), "{msg}");
            assert!(matches!(err, StorageError::Corrupt { .. }), "{why}: {msg}");
        }
    }

    #[test]
    fn older_versions_upgrade_explicitly_and_newer_ones_are_refused() {
        let old = encode_image(&V1(41)).unwrap();
        let upgraded: V2 = decode_image(&old, "test").unwrap();
        assert_eq!(
            upgraded,
            V2 {
                counter: 41,
                names: vec![]
            }
        );
        let newer = encode_image(&V2::default()).unwrap();
        let err = decode_image::<V1>(&newer, "test").err().unwrap();
        assert!(
            matches!(
                err,
                StorageError::Version {
                    found: 2,
                    supported: 1,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn incremental_commits_leave_exactly_the_full_image() {
        // Large enough for many checkpoints and diff blocks; changes at the start, middle and
        // end, same-length and length-changing, and no change at all.
        let mem = MemoryStorage::new();
        let mut p = Persistent::open(Box::new(mem.clone()), || V2 {
            counter: 0,
            names: (0..3000).map(|i| format!("name number {i}")).collect(),
        })
        .unwrap();
        type Edit = Box<dyn Fn(&mut V2)>;
        let edits: Vec<Edit> = vec![
            Box::new(|s| s.counter += 1),
            Box::new(|s| s.names[0] = "zeroth name entry".into()),
            Box::new(|s| s.names[1500] = "middle name entry".into()),
            Box::new(|s| s.names[2999].push('!')),
            Box::new(|s| s.names.push("appended".into())),
            Box::new(|s| {
                s.names.remove(10);
            }),
            Box::new(|_| {}),
            Box::new(|s| s.counter = 1 << 20),
        ];
        for (i, edit) in edits.iter().enumerate() {
            p.transaction(|s| {
                edit(s);
                Ok::<_, StorageError>(())
            })
            .unwrap();
            assert_eq!(
                mem.image().unwrap(),
                encode_image(p.get()).unwrap(),
                "edit {i}"
            );
            let reloaded = Persistent::<V2>::open(Box::new(mem.clone()), V2::default).unwrap();
            assert_eq!(reloaded.get(), p.get(), "edit {i}");
        }
    }

    #[test]
    fn a_storage_replaced_behind_the_back_gets_the_whole_image() {
        let mem = MemoryStorage::new();
        let mut p = Persistent::open(Box::new(mem.clone()), V2::default).unwrap();
        mem.set_image(Some(
            encode_image(&V2 {
                counter: 5,
                names: vec!["other".into()],
            })
            .unwrap(),
        ));
        p.transaction(|s| {
            s.counter = 1;
            Ok::<_, StorageError>(())
        })
        .unwrap();
        assert_eq!(mem.image().unwrap(), encode_image(p.get()).unwrap());
    }

    #[test]
    fn a_panic_in_the_transaction_changes_nothing() {
        let mem = MemoryStorage::new();
        let mut p = Persistent::open(Box::new(mem.clone()), || V2 {
            counter: 3,
            names: vec!["a".into()],
        })
        .unwrap();
        let before = mem.image();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _: Result<(), StorageError> = p.transaction(|s| {
                s.counter = 99;
                s.names.clear();
                panic!("bug in a command");
            });
        }));
        assert!(r.is_err());
        assert_eq!(p.get().counter, 3);
        assert_eq!(p.get().names, vec!["a".to_string()]);
        assert_eq!(mem.image(), before);
        // And it still commits.
        p.transaction(|s| {
            s.counter += 1;
            Ok::<_, StorageError>(())
        })
        .unwrap();
        assert_eq!(mem.image().unwrap(), encode_image(p.get()).unwrap());
    }

    #[test]
    fn a_failed_write_restores_the_value_and_the_next_commit_is_whole() {
        let mem = MemoryStorage::new();
        Persistent::open(Box::new(mem.clone()), V2::default).unwrap();
        let mut p = Persistent::<V2>::open(
            Box::new(FaultyStorage::new(mem.clone(), Some(2))),
            V2::default,
        )
        .unwrap();
        for _ in 0..3 {
            let _ = p.transaction(|s| {
                s.counter += 1;
                s.names.push(format!("n{}", s.counter));
                Ok::<_, StorageError>(())
            });
        }
        assert_eq!(p.get().counter, 2, "the second commit was cut");
        assert_eq!(mem.image().unwrap(), encode_image(p.get()).unwrap());
    }

    #[test]
    fn changed_ranges_cover_every_difference() {
        let old = vec![0u8; 1000];
        let mut new = old.clone();
        new[5] = 1;
        new[300] = 1;
        new[301] = 1;
        new[999] = 1;
        let ranges = changed_ranges(&old, &new, common_prefix(&old, &new));
        assert_eq!(ranges, vec![0..64, 256..320, 960..1000]);
        let longer = [old.as_slice(), &[1, 2]].concat();
        assert_eq!(changed_ranges(&old, &longer, 1000), vec![1000..1002]);
        assert!(changed_ranges(&old, &old, 1000).is_empty());
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("apdu-storage-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn file_storage_is_atomic_at_every_write_step_and_private() {
        let dir = temp_dir("steps");
        let path = dir.join("state.bin");
        let mut p = Persistent::open(Box::new(FileStorage::new(&path)), V2::default).unwrap();
        p.transaction(|s| {
            s.counter = 1;
            Ok::<_, StorageError>(())
        })
        .unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        for (i, cut) in WriteStep::ALL.iter().enumerate() {
            let cut = *cut;
            let storage =
                FileStorage::new(&path).with_fault_hook(Box::new(move |step| step != cut));
            let mut p = Persistent::<V2>::open(Box::new(storage), V2::default).unwrap();
            let before = p.get().counter;
            let r = p.transaction(|s| {
                s.counter += 1;
                Ok::<_, StorageError>(())
            });
            let reloaded =
                Persistent::<V2>::open(Box::new(FileStorage::new(&path)), V2::default).unwrap();
            let after = reloaded.get().counter;
            if r.is_ok() {
                assert_eq!(after, before + 1);
            } else {
                // Cut before the rename: old state. Cut after it (directory sync): the new state
                // is already in place, which is allowed: old or new, never a mix.
                assert!(
                    after == before || (after == before + 1 && i == 3),
                    "step {cut:?}"
                );
            }
        }
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_directory_is_an_error_naming_the_file() {
        let err = Persistent::<V2>::open(
            Box::new(FileStorage::new("/nonexistent-dir/x/state.bin")),
            V2::default,
        )
        .err()
        .unwrap();
        assert!(
            err.to_string().contains("/nonexistent-dir/x/state.bin"),
            "{err}"
        );
    }
}
