//! The positions that live exported views hold on to (guarantee G2).

/// A multiset of positions: the start of every live export.
///
/// The writer may not wrap around onto the oldest one, so a ring's room is
/// `capacity - (head - min(tail, oldest))`. Views are mostly taken at the
/// current tail, which only grows, so the common cases are a push at the
/// end and a bump of the last count.
///
/// Invariant: `starts` is sorted by position, strictly ascending, and every
/// count is at least 1.
#[derive(Debug, Default, Clone)]
pub(crate) struct Pins {
    starts: Vec<(u64, u32)>,
}

impl Pins {
    /// The oldest pinned position, if any view is alive.
    #[inline]
    pub(crate) fn oldest(&self) -> Option<u64> {
        self.starts.first().map(|&(p, _)| p)
    }

    /// True when no view is alive.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    /// Number of live views.
    pub(crate) fn count(&self) -> usize {
        self.starts.iter().map(|&(_, n)| n as usize).sum()
    }

    /// Pins `pos` once more.
    #[inline]
    pub(crate) fn add(&mut self, pos: u64) {
        match self.starts.last_mut() {
            Some((p, n)) if *p == pos => *n += 1,
            Some(&mut (p, _)) if p > pos => match self.starts.binary_search_by_key(&pos, |e| e.0) {
                Ok(i) => self.starts[i].1 += 1,
                Err(i) => self.starts.insert(i, (pos, 1)),
            },
            _ => self.starts.push((pos, 1)),
        }
        self.check();
    }

    /// Removes one pin at `pos`; false (and no change) if there was none.
    #[inline]
    pub(crate) fn remove(&mut self, pos: u64) -> bool {
        let i = match self.starts.last() {
            Some(&(p, _)) if p == pos => self.starts.len() - 1,
            _ => match self.starts.binary_search_by_key(&pos, |e| e.0) {
                Ok(i) => i,
                Err(_) => return false,
            },
        };
        self.starts[i].1 -= 1;
        if self.starts[i].1 == 0 {
            self.starts.remove(i);
        }
        self.check();
        true
    }

    #[inline]
    fn check(&self) {
        debug_assert!(self.starts.windows(2).all(|w| w[0].0 < w[1].0));
        debug_assert!(self.starts.iter().all(|&(_, n)| n > 0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multiset_of_starts() {
        let mut p = Pins::default();
        assert_eq!(p.oldest(), None);
        assert!(p.is_empty());
        p.add(10);
        p.add(10);
        p.add(5);
        p.add(20);
        p.add(15);
        assert_eq!(p.oldest(), Some(5));
        assert_eq!(p.count(), 5);
        assert!(!p.is_empty());
        assert!(p.remove(5));
        assert_eq!(p.oldest(), Some(10));
        assert!(p.remove(10));
        assert_eq!(p.oldest(), Some(10), "10 was pinned twice");
        assert!(p.remove(10));
        assert_eq!(p.oldest(), Some(15));
        assert!(!p.remove(10), "no pin left at 10");
        assert_eq!(p.count(), 2);
        assert!(p.remove(20));
        assert!(p.remove(15));
        assert_eq!(p.oldest(), None);
        assert!(p.is_empty());
        assert!(!p.remove(15));
    }

    #[test]
    fn pins_added_out_of_order_stay_sorted() {
        let mut p = Pins::default();
        for pos in [7u64, 3, 9, 1, 3, 8, 2] {
            p.add(pos);
        }
        let mut seen = Vec::new();
        while let Some(o) = p.oldest() {
            seen.push(o);
            assert!(p.remove(o));
        }
        assert_eq!(seen, [1, 2, 3, 3, 7, 8, 9]);
    }
}
