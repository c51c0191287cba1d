//! Bookkeeping of exported views (guarantee G2: stable views).

/// The positions that live exported views hold on to.
///
/// * Every view pins its start position: the writer may not wrap around
///   onto it, so `free = capacity - (head - min(tail, oldest pin))`.
/// * A writable view also fences its end: nothing is pushed below the
///   highest fence, because the view's owner is writing there.
#[derive(Debug, Default, Clone)]
pub(crate) struct Pins {
    /// Start positions with their counts, sorted ascending.
    starts: Vec<(u64, u32)>,
    /// End positions of live writable views (unsorted; few).
    fences: Vec<u64>,
}

impl Pins {
    /// The oldest pinned position, if any view is alive.
    #[inline]
    pub(crate) fn oldest(&self) -> Option<u64> {
        self.starts.first().map(|&(p, _)| p)
    }

    /// The highest end of a live writable view, or 0.
    #[inline]
    pub(crate) fn fence(&self) -> u64 {
        self.fences.iter().copied().max().unwrap_or(0)
    }

    /// True when no view is alive.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.starts.is_empty() && self.fences.is_empty()
    }

    /// Number of live views.
    pub(crate) fn count(&self) -> usize {
        self.starts.iter().map(|&(_, n)| n as usize).sum()
    }

    pub(crate) fn add(&mut self, pos: u64) {
        // Views are mostly taken at the current tail, which only grows: the
        // common case is a push at the end, or a bump of the last count.
        match self.starts.last_mut() {
            Some((p, n)) if *p == pos => *n += 1,
            Some(&mut (p, _)) if p > pos => match self.starts.binary_search_by_key(&pos, |e| e.0) {
                Ok(i) => self.starts[i].1 += 1,
                Err(i) => self.starts.insert(i, (pos, 1)),
            },
            _ => self.starts.push((pos, 1)),
        }
    }

    /// Removes one pin at `pos`; false if there was none.
    pub(crate) fn remove(&mut self, pos: u64) -> bool {
        match self.starts.binary_search_by_key(&pos, |e| e.0) {
            Ok(i) => {
                self.starts[i].1 -= 1;
                if self.starts[i].1 == 0 {
                    self.starts.remove(i);
                }
                true
            }
            Err(_) => false,
        }
    }

    pub(crate) fn add_fence(&mut self, end: u64) {
        self.fences.push(end);
    }

    /// Removes one fence at `end`; false if there was none.
    pub(crate) fn remove_fence(&mut self, end: u64) -> bool {
        match self.fences.iter().position(|&e| e == end) {
            Some(i) => {
                self.fences.swap_remove(i);
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multiset_of_starts() {
        let mut p = Pins::default();
        assert_eq!(p.oldest(), None);
        p.add(10);
        p.add(10);
        p.add(5);
        p.add(20);
        assert_eq!(p.oldest(), Some(5));
        assert_eq!(p.count(), 4);
        assert!(p.remove(5));
        assert_eq!(p.oldest(), Some(10));
        assert!(p.remove(10));
        assert_eq!(p.oldest(), Some(10));
        assert!(p.remove(10));
        assert_eq!(p.oldest(), Some(20));
        assert!(!p.remove(10));
        assert!(p.remove(20));
        assert_eq!(p.oldest(), None);
    }

    #[test]
    fn fences_track_the_highest_end() {
        let mut p = Pins::default();
        assert_eq!(p.fence(), 0);
        p.add_fence(30);
        p.add_fence(50);
        assert_eq!(p.fence(), 50);
        assert!(p.remove_fence(50));
        assert_eq!(p.fence(), 30);
        assert!(!p.remove_fence(50));
    }
}
