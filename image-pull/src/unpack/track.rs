//! What an unpack remembers between entries, in memory bounded by the
//! number of entries rather than by their names: the paths a layer created
//! (as keyed 128-bit hashes) and the directory mtimes to set at the end (in
//! one capped buffer).

use std::collections::hash_map::RandomState;
use std::collections::HashSet;
use std::hash::BuildHasher;

use rustix::fs::Timestamps;

/// A set of paths stored as 128-bit hashes under two random SipHash keys:
/// 16 bytes a path whatever its length. A layer cannot aim at a collision
/// without the keys; a chance one (~n²/2¹²⁹) would only keep a lower-layer
/// file a whiteout should have hidden, never touch anything outside.
pub struct PathSet {
    keys: (RandomState, RandomState),
    hashes: HashSet<u128>,
}

impl PathSet {
    /// An empty set.
    pub fn new() -> Self {
        PathSet { keys: (RandomState::new(), RandomState::new()), hashes: HashSet::new() }
    }

    fn hash(&self, path: &[u8]) -> u128 {
        (u128::from(self.keys.0.hash_one(path)) << 64) | u128::from(self.keys.1.hash_one(path))
    }

    /// Adds `path`; false if it was there.
    pub fn insert(&mut self, path: &[u8]) -> bool {
        let h = self.hash(path);
        self.hashes.insert(h)
    }

    /// Whether `path` was added.
    pub fn contains(&self, path: &[u8]) -> bool {
        self.hashes.contains(&self.hash(path))
    }
}

/// Directory mtimes to set once their contents are in place. Names share one
/// buffer of at most `cap` bytes; past it, [`DirTimes::push`] says no and the
/// caller sets the time at once (a later entry in that directory then moves
/// its mtime, which is all that is lost).
pub struct DirTimes {
    names: Vec<u8>,
    entries: Vec<(usize, usize, Timestamps, bool)>,
    cap: usize,
}

impl DirTimes {
    /// An empty list holding at most `cap` bytes of names.
    pub fn new(cap: usize) -> Self {
        DirTimes { names: Vec::new(), entries: Vec::new(), cap }
    }

    /// Remembers `path`'s times, with whether it was a lower layer's
    /// directory (`kept`); false when the buffer is full.
    pub fn push(&mut self, path: &[u8], times: Timestamps, kept: bool) -> bool {
        if self.names.len() + path.len() > self.cap {
            return false;
        }
        let start = self.names.len();
        self.names.extend_from_slice(path);
        self.entries.push((start, self.names.len(), times, kept));
        true
    }

    /// The remembered (path, times, kept): kept ones first, then the
    /// layer's own in the order pushed, so the layer's say wins.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &Timestamps, bool)> {
        let kept = self.entries.iter().filter(|e| e.3);
        let own = self.entries.iter().filter(|e| !e.3);
        kept.chain(own).map(|(start, end, times, kept)| (&self.names[*start..*end], times, *kept))
    }
}

#[cfg(test)]
mod tests {
    use rustix::fs::Timespec;

    use super::*;

    #[test]
    fn path_set() {
        let mut set = PathSet::new();
        assert!(set.insert(b"a/b"));
        assert!(!set.insert(b"a/b"));
        assert!(set.contains(b"a/b"));
        assert!(!set.contains(b"a"));
        assert!(!set.contains(b"a/b/"));
    }

    #[test]
    fn dir_times_cap() {
        let t = |s| Timestamps {
            last_access: Timespec { tv_sec: s, tv_nsec: 0 },
            last_modification: Timespec { tv_sec: s, tv_nsec: 0 },
        };
        let mut times = DirTimes::new(8);
        assert!(times.push(b"abc", t(1), false));
        assert!(times.push(b"", t(2), true));
        assert!(times.push(b"defgh", t(3), false));
        assert!(!times.push(b"i", t(4), false));
        let got: Vec<_> = times.iter().map(|(p, ts, kept)| (p.to_vec(), ts.last_modification.tv_sec, kept)).collect();
        assert_eq!(got, vec![(Vec::new(), 2, true), (b"abc".to_vec(), 1, false), (b"defgh".to_vec(), 3, false)]);
    }
}
