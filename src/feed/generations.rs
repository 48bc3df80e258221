//! Telling a stale answer from a fresh one without scanning the cache.
//!
//! Every [`DepKey`] falls in one of a fixed number of slots, each a counter that a change of any
//! of its keys bumps; "everything changed" bumps one epoch counter. An answer records, for each
//! key it reads, the slot's value *before* reading the database, and the epoch at its start.
//! It is fresh while all of those are unchanged. A change bumps its slots before its `COMMIT`
//! and again after it, so an answer computed across a commit is never fresh afterwards, and one
//! computed after the commit saw its data. Two keys sharing a slot only cost a spurious miss.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::change::DepKey;

const SLOTS: usize = 4096;

/// The counters.
pub struct Generations {
    epoch: AtomicU64,
    slots: Box<[AtomicU64]>,
}

impl Default for Generations {
    fn default() -> Self {
        Generations {
            epoch: AtomicU64::new(0),
            slots: (0..SLOTS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

impl Generations {
    fn slot(key: &DepKey) -> usize {
        let mut h = DefaultHasher::new();
        key.hash(&mut h);
        (h.finish() % SLOTS as u64) as usize
    }

    /// Marks the answers that read `key` stale.
    pub fn bump(&self, key: &DepKey) {
        self.slots[Self::slot(key)].fetch_add(1, Ordering::SeqCst);
    }

    /// Marks every answer stale.
    pub fn bump_all(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
    }

    fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    fn read(&self, slot: usize) -> u64 {
        self.slots[slot].load(Ordering::SeqCst)
    }
}

/// What one answer read, recorded while it is computed; see the module doc.
#[derive(Clone)]
pub struct Deps {
    gens: Arc<Generations>,
    inner: Arc<Mutex<DepsInner>>,
}

#[derive(Debug, Clone, Default)]
struct DepsInner {
    epoch: u64,
    /// (slot, its value before the read).
    read: Vec<(usize, u64)>,
    /// Unix seconds when the answer would change by the clock alone.
    expires_at: Option<i64>,
    /// It read something that no key covers: never cache it.
    uncacheable: bool,
    /// The answer goes to HTTP caches (a GET): resolvers say how long it may be kept there.
    for_http: bool,
    /// The least of what resolvers said, in seconds.
    http_max_age: Option<u64>,
}

/// A finished answer's dependencies, to check its freshness later.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    epoch: u64,
    read: Vec<(usize, u64)>,
    /// Unix seconds when the answer would change by the clock alone.
    pub expires_at: Option<i64>,
    pub uncacheable: bool,
    /// How long HTTP caches may keep it, in seconds, as far as its resolvers said.
    pub http_max_age: Option<u64>,
}

impl Deps {
    /// Starts recording (the epoch is read now, before anything else).
    pub fn start(gens: Arc<Generations>) -> Deps {
        let epoch = gens.epoch();
        Deps {
            gens,
            inner: Arc::new(Mutex::new(DepsInner {
                epoch,
                ..Default::default()
            })),
        }
    }

    /// Records that the answer reads `key`: call it before reading.
    pub fn read(&self, key: &DepKey) {
        let slot = Generations::slot(key);
        let value = self.gens.read(slot);
        if let Ok(mut d) = self.inner.lock() {
            if !d.read.iter().any(|(s, _)| *s == slot) {
                d.read.push((slot, value));
            }
        }
    }

    /// Records that the answer changes by the clock at unix second `at`.
    pub fn expires_at(&self, at: i64) {
        if let Ok(mut d) = self.inner.lock() {
            d.expires_at = Some(d.expires_at.map_or(at, |e| e.min(at)));
        }
    }

    /// Records that the answer must not be cached.
    pub fn uncacheable(&self) {
        if let Ok(mut d) = self.inner.lock() {
            d.uncacheable = true;
        }
    }

    /// Marks the answer as going to HTTP caches, which no change-feed event reaches.
    pub fn for_http_caches(&self) {
        if let Ok(mut d) = self.inner.lock() {
            d.for_http = true;
        }
    }

    /// Whether resolvers should say how long HTTP caches may keep the answer.
    pub fn wants_http_max_age(&self) -> bool {
        self.inner.lock().is_ok_and(|d| d.for_http)
    }

    /// Records that HTTP caches may keep the answer at most `seconds`.
    pub fn http_max_age(&self, seconds: u64) {
        if let Ok(mut d) = self.inner.lock() {
            d.http_max_age = Some(d.http_max_age.map_or(seconds, |s| s.min(seconds)));
        }
    }

    /// What was recorded.
    pub fn snapshot(&self) -> Snapshot {
        match self.inner.lock() {
            Ok(d) => Snapshot {
                epoch: d.epoch,
                read: d.read.clone(),
                expires_at: d.expires_at,
                uncacheable: d.uncacheable,
                http_max_age: d.http_max_age,
            },
            Err(_) => Snapshot {
                uncacheable: true,
                ..Default::default()
            },
        }
    }
}

impl Snapshot {
    /// Whether nothing it read has changed since it was read, and the clock has not reached its
    /// expiry (`now`, unix seconds).
    pub fn is_fresh(&self, gens: &Generations, now: i64) -> bool {
        !self.uncacheable
            && self.expires_at.is_none_or(|e| now < e)
            && gens.epoch() == self.epoch
            && self.read.iter().all(|(slot, v)| gens.read(*slot) == *v)
    }

    /// Bytes it takes, for the cache's weigher.
    pub fn weight(&self) -> usize {
        std::mem::size_of::<Snapshot>() + self.read.len() * std::mem::size_of::<(usize, u64)>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::TokenKey;

    #[test]
    fn a_bump_between_read_and_check_makes_the_answer_stale() {
        let gens = Arc::new(Generations::default());
        let a = DepKey::Hours(TokenKey::new("n", "0xa"));
        let b = DepKey::Status;
        let deps = Deps::start(gens.clone());
        deps.read(&a);
        let snap = deps.snapshot();
        assert!(snap.is_fresh(&gens, 0));
        // A change of another key (in another slot) leaves it fresh.
        if Generations::slot(&a) != Generations::slot(&b) {
            gens.bump(&b);
            assert!(snap.is_fresh(&gens, 0));
        }
        gens.bump(&a);
        assert!(!snap.is_fresh(&gens, 0));
        // So does "everything changed".
        let deps = Deps::start(gens.clone());
        deps.read(&a);
        let snap = deps.snapshot();
        gens.bump_all();
        assert!(!snap.is_fresh(&gens, 0));
    }

    #[test]
    fn the_clock_expires_answers() {
        let gens = Arc::new(Generations::default());
        let deps = Deps::start(gens.clone());
        deps.expires_at(100);
        deps.expires_at(50);
        let snap = deps.snapshot();
        assert!(snap.is_fresh(&gens, 49));
        assert!(!snap.is_fresh(&gens, 50));
        deps.uncacheable();
        assert!(!deps.snapshot().is_fresh(&gens, 0));
    }
}
