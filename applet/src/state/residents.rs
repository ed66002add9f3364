//! The resident (discoverable) credentials in memory, with what a commit needs to write only
//! the credentials that changed and what an abort needs to undo the changes.
//!
//! Every change goes through a method here (there is no mutable access to the list), and each
//! one leaves an undo entry in a journal: the commit writes the records of the credentials the
//! journal names ([`Residents::touched`]), the abort replays it backwards
//! ([`Residents::undo`]), restoring the list exactly, order included (credential management
//! enumerates by position). A list built from scratch (a test that assigns `state.resident`)
//! is not *tracked*: its commit compares every credential with its record, its abort reloads
//! all of them. Correct either way; only the tracked path costs the size of the change.

use std::collections::HashMap;
use std::sync::OnceLock;

use super::ResidentCredential;

/// What undoes one change, newest last.
enum Undo {
    /// A credential was appended: remove the last one.
    Pushed,
    /// The credential at `at` was removed: put it back there.
    Removed { at: usize, old: ResidentCredential },
    /// The credential at `at` was replaced or changed: restore `old`.
    Replaced { at: usize, old: ResidentCredential },
    /// Every credential was removed.
    Cleared { old: Vec<ResidentCredential> },
}

/// The resident credentials, in no particular order (`creation_order` sorts them), with a
/// transient index of positions by relying party (newest first), built on the first lookup,
/// kept up to date by [`Residents::push`], [`Residents::replace`] and [`Residents::update`], and
/// dropped by a removal (positions move) and an abort.
#[derive(Default)]
pub struct Residents {
    list: Vec<ResidentCredential>,
    index: OnceLock<HashMap<String, Vec<usize>>>,
    journal: Vec<Undo>,
    /// Every creation order changed since the last commit, in order, with where its credential
    /// went: `Some(position)` (a position hint: a later removal may move it) or `None` (gone).
    /// The records the next commit writes: a put or a delete. Creation orders are unique in the
    /// list (records are keyed by them), so a removed order needs no lookup.
    touched: Vec<(u64, Option<usize>)>,
    /// The list is the one loaded from (or committed to) the records, changed only through
    /// the methods here since.
    tracked: bool,
}

impl Clone for Residents {
    /// The clone is a new list: not tracked, no journal.
    fn clone(&self) -> Self {
        Self {
            list: self.list.clone(),
            index: self.index.clone(),
            ..Self::default()
        }
    }
}

impl From<Vec<ResidentCredential>> for Residents {
    fn from(list: Vec<ResidentCredential>) -> Self {
        Self {
            list,
            ..Self::default()
        }
    }
}

impl std::ops::Deref for Residents {
    type Target = [ResidentCredential];
    fn deref(&self) -> &Self::Target {
        &self.list
    }
}

impl<'a> IntoIterator for &'a Residents {
    type Item = &'a ResidentCredential;
    type IntoIter = std::slice::Iter<'a, ResidentCredential>;
    fn into_iter(self) -> Self::IntoIter {
        self.list.iter()
    }
}

impl Residents {
    /// The credentials as loaded from their records: tracked from now on.
    pub(crate) fn loaded(list: Vec<ResidentCredential>) -> Self {
        Self {
            list,
            tracked: true,
            ..Self::default()
        }
    }

    /// Appends a credential.
    pub fn push(&mut self, cred: ResidentCredential) {
        let at = self.list.len();
        self.touched.push((cred.creation_order, Some(at)));
        self.list.push(cred);
        self.index_insert(at);
        self.journal.push(Undo::Pushed);
    }

    /// Removes and returns the credential at `at`, if there is one; later ones move up.
    pub fn remove(&mut self, at: usize) -> Option<ResidentCredential> {
        if at >= self.list.len() {
            return None;
        }
        self.index.take();
        let old = self.list.remove(at);
        self.touched.push((old.creation_order, None));
        self.journal.push(Undo::Removed {
            at,
            old: old.clone(),
        });
        Some(old)
    }

    /// Replaces the credential at `at` by `cred`; false when there is none.
    pub fn replace(&mut self, at: usize, cred: ResidentCredential) -> bool {
        self.update(at, |slot| *slot = cred)
    }

    /// Changes the credential at `at` through `f`; false when there is none.
    pub fn update(&mut self, at: usize, f: impl FnOnce(&mut ResidentCredential)) -> bool {
        let Some(slot) = self.list.get_mut(at) else {
            return false;
        };
        let old = slot.clone();
        f(slot);
        let order = slot.creation_order;
        if old.creation_order != order {
            self.touched.push((old.creation_order, None));
        }
        self.touched.push((order, Some(at)));
        // The index follows (makeCredential overwriting an account must not cost a rebuild).
        if let Some(index) = self.index.get_mut() {
            if let Some(positions) = index.get_mut(old.rp_id.as_str()) {
                positions.retain(|&i| i != at);
            }
        }
        self.index_insert(at);
        self.journal.push(Undo::Replaced { at, old });
        true
    }

    /// Removes every credential.
    pub fn clear(&mut self) {
        self.index.take();
        let old = std::mem::take(&mut self.list);
        self.touched
            .extend(old.iter().map(|c| (c.creation_order, None)));
        self.journal.push(Undo::Cleared { old });
    }

    /// Puts position `at` into the index, if it is built, in its relying party's list (newest
    /// first).
    fn index_insert(&mut self, at: usize) {
        let Self { list, index, .. } = self;
        let (Some(index), Some(cred)) = (index.get_mut(), list.get(at)) else {
            return;
        };
        let positions = match index.get_mut(cred.rp_id.as_str()) {
            Some(positions) => positions,
            None => index.entry(cred.rp_id.clone()).or_default(),
        };
        let slot = positions
            .iter()
            .position(|&i| {
                list.get(i)
                    .is_some_and(|c| c.creation_order < cred.creation_order)
            })
            .unwrap_or(positions.len());
        positions.insert(slot, at);
    }

    /// The credentials of `rp_id`, newest first.
    pub fn for_rp<'a>(&'a self, rp_id: &str) -> impl Iterator<Item = &'a ResidentCredential> + 'a {
        self.positions(rp_id)
            .iter()
            .filter_map(|&i| self.list.get(i))
    }

    /// The position in the list of the newest credential of `rp_id` that satisfies `pred`.
    pub fn position_in_rp(
        &self,
        rp_id: &str,
        mut pred: impl FnMut(&ResidentCredential) -> bool,
    ) -> Option<usize> {
        self.positions(rp_id)
            .iter()
            .copied()
            .find(|&i| self.list.get(i).is_some_and(&mut pred))
    }

    fn positions(&self, rp_id: &str) -> &[usize] {
        self.index()
            .get(rp_id)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// Positions in the list by relying party id, each list newest first.
    fn index(&self) -> &HashMap<String, Vec<usize>> {
        self.index.get_or_init(|| {
            let mut index: HashMap<String, Vec<usize>> = HashMap::new();
            for (i, c) in self.list.iter().enumerate() {
                match index.get_mut(c.rp_id.as_str()) {
                    Some(positions) => positions.push(i),
                    None => {
                        index.insert(c.rp_id.clone(), vec![i]);
                    }
                }
            }
            for positions in index.values_mut() {
                positions.sort_by_key(|&i| std::cmp::Reverse(self.list[i].creation_order));
            }
            index
        })
    }

    /// Whether the list is tracked (see the module docs).
    pub(crate) fn is_tracked(&self) -> bool {
        self.tracked
    }

    /// The creation orders of the credentials changed since the last commit, each once, with
    /// the credential that now has it (`None`: it was removed).
    pub(crate) fn touched(&self) -> Vec<(u64, Option<&ResidentCredential>)> {
        // The last change of each order says where its credential is.
        let last: HashMap<u64, Option<usize>> = self.touched.iter().copied().collect();
        last.into_iter()
            .map(|(order, at)| {
                let found = at.and_then(|at| match self.list.get(at) {
                    Some(c) if c.creation_order == order => Some(c),
                    // Moved up by a later removal: look it up.
                    _ => self.list.iter().find(|c| c.creation_order == order),
                });
                (order, found)
            })
            .collect()
    }

    /// The changes are committed: forget the journal; the list is tracked from now on.
    pub(crate) fn committed(&mut self) {
        self.journal.clear();
        self.touched.clear();
        self.tracked = true;
    }

    /// Undoes every change since the last commit, newest first; the list is exactly the
    /// committed one again. Only meaningful on a tracked list.
    pub(crate) fn undo(&mut self) {
        if !self.journal.is_empty() {
            self.index.take();
        }
        while let Some(undo) = self.journal.pop() {
            match undo {
                Undo::Pushed => {
                    self.list.pop();
                }
                Undo::Removed { at, old } => self.list.insert(at.min(self.list.len()), old),
                Undo::Replaced { at, old } => {
                    if let Some(slot) = self.list.get_mut(at) {
                        *slot = old;
                    }
                }
                Undo::Cleared { old } => self.list = old,
            }
        }
        self.touched.clear();
    }
}
