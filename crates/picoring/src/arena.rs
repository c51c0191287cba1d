//! Where mirrored memory comes from: arenas of equal slots, and the
//! registry of them that `fork()` walks.
//!
//! Each ring costs kernel mappings, and Linux allows 65,530 per process by
//! default (`vm.max_map_count`). So rings of up to [`PACK_MAX`] bytes share
//! one anonymous file per *arena*, laid out so that the kernel merges
//! neighbouring mappings: slot `k`'s two halves both map file offset `k*S`,
//! at virtual `A + 2kS` and `A + 2kS + S`, so slot `k`'s second half and slot
//! `k+1`'s first half are contiguous in both address and file offset.
//!
//! ```text
//!  virtual  A     A+S    A+2S   A+3S   A+4S   A+5S
//!           | 0 a  | 0 b  | 1 a  | 1 b  | 2 a  | 2 b  |  PROT_NONE ...
//!  file       0      0      S      S      2S     2S
//!  mappings [ 1   ][    2        ][    3        ][ 4  ]   m slots: m + 1
//! ```
//!
//! One mapping per ring, then, and a slot freed by a ring is reused by the
//! next without a system call (its pages are given back to the OS first:
//! they read as zeros again). Larger rings get an arena of one slot (two
//! mappings). An arena maps all its slots when it is made and closes its
//! file at once: no descriptor is kept open (a program that closes every
//! descriptor, or reuses their numbers, cannot make picoring map the wrong
//! file).
//!
//! At `fork()` ([`prepare_fork`], [`after_fork_child`]) every arena is
//! copied into one new file, *live bytes only*: each ring tells its slot
//! which bytes a child can see ([`Slot::set_live`]: from the oldest pin or
//! the tail to the head, or to the end of its open grant). The child maps
//! the copy over the same addresses, so its pointers and views stay valid
//! and private, and a fork costs what the rings hold, not their capacity.
//!
//! Under Miri and on platforms without mirrored memory, a slot is simply
//! one mirror of its own (see `sys`).

// Under Miri and on Windows slots are not packed.
#![cfg_attr(any(miri, not(unix)), allow(dead_code))]

use std::ptr::NonNull;

use crate::error::Result;

/// Rings up to this many bytes of memory share arenas.
pub(crate) const PACK_MAX: usize = 64 * 1024;

/// Slots in a packed arena. All are mapped when the arena is made (its
/// file is then closed: an arena holds no descriptor), so this is also how
/// many mappings a new arena costs at once.
const PACK_SLOTS: usize = 64;

/// Slots per arena for rings of `size` bytes (a whole number of pages).
pub(crate) fn slots_for(size: usize) -> usize {
    if imp::packing() && size <= PACK_MAX {
        PACK_SLOTS
    } else {
        1
    }
}

pub(crate) use imp::Slot;
#[cfg(all(unix, not(miri)))]
pub(crate) use imp::{after_fork_child, after_fork_parent, prepare_fork};

/// The memory of one mirror, given by [`map`].
pub(crate) struct Mapped {
    pub(crate) slot: Slot,
    /// First byte of the slot's first half.
    pub(crate) base: NonNull<u8>,
}

#[cfg(all(unix, not(miri)))]
mod imp {
    use std::collections::BTreeMap;
    use std::os::fd::OwnedFd;
    use std::ptr::NonNull;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use super::{slots_for, Mapped};
    use crate::error::{Error, Result};
    use crate::sys;

    /// Whether rings are packed into arenas: where the system frees a
    /// shared file's pages on request, until it refuses once.
    pub(super) fn packing() -> bool {
        sys::CAN_REMOVE_PAGES && REMOVE_WORKS.load(Ordering::Relaxed)
    }

    /// Cleared the first time the system refuses to free a slot's pages
    /// (a sandbox, say): new rings get arenas of their own from then on.
    static REMOVE_WORKS: AtomicBool = AtomicBool::new(true);

    /// Makes the next page removals fail, for tests of the fallback.
    #[cfg(test)]
    pub(super) static FAIL_REMOVE: AtomicBool = AtomicBool::new(false);

    /// What a child process must see of one slot: `len` bytes of data from
    /// memory offset `off` (wrapping past the end of the first half), then
    /// `grant` bytes of an open grant.
    #[derive(Default)]
    struct Live {
        off: AtomicUsize,
        len: AtomicUsize,
        grant: AtomicUsize,
    }

    /// The part of an arena that rings read without the registry lock.
    /// Its address is stable (boxed) for as long as the arena exists.
    struct Shared {
        /// Start of the `2 * slot_size * nslots` bytes of address space.
        base: NonNull<u8>,
        slot_size: usize,
        nslots: usize,
        /// One entry per slot.
        live: Box<[Live]>,
        /// Set in a child process when the arena could not be copied at
        /// fork: its memory reads as zeros and must not be used.
        lost: AtomicBool,
        /// Where the arena is in `Registry::arenas` (changed, under the
        /// registry lock, when another arena's removal moves it).
        at: AtomicUsize,
    }

    /// An arena, as the registry keeps it (guarded by the registry lock).
    /// All its slots are mapped.
    struct Arena {
        shared: Box<Shared>,
        /// Slots that no ring uses, the lowest last.
        free: Vec<usize>,
        /// Slots in use.
        used: usize,
        /// Which file made by `prepare_fork` holds this arena's copy, and
        /// where it starts in it.
        fork_at: (usize, usize),
    }

    // SAFETY: `Shared` points to memory it owns (the arena's mappings),
    // like a `Box<[u8]>`; its mutable parts are atomics.
    unsafe impl Send for Shared {}
    // SAFETY: as above.
    unsafe impl Sync for Shared {}

    impl Arena {
        fn file_len(&self) -> usize {
            self.shared.slot_size * self.shared.nslots
        }
    }

    /// Maps every slot of the arena whose memory is `shared` from `fd`,
    /// slot 0 at file offset `at`, in the merged layout: `nslots + 1`
    /// mappings (slot 0's first half, then each second half joined with
    /// the next slot's first half, then the last second half).
    ///
    /// # Safety
    /// The arena's address space must be ours, and nothing may point into
    /// it but to bytes that the new mappings show the same (a fork copy).
    unsafe fn map_slots(shared: &Shared, fd: &OwnedFd, at: usize) -> Result<()> {
        let s = shared.slot_size;
        let n = shared.nslots;
        let base = shared.base.as_ptr();
        // SAFETY: every range lies in the arena's `2 * s * n` bytes
        // (caller's contract), and the file has `s * n` bytes from `at`.
        unsafe {
            sys::map_file_fixed(base, s, fd, at)?;
            for k in 0..n - 1 {
                sys::map_file_fixed(base.add(2 * k * s + s), 2 * s, fd, at + k * s)?;
            }
            sys::map_file_fixed(base.add(2 * (n - 1) * s + s), s, fd, at + (n - 1) * s)
        }
    }

    fn slot_addr(shared: &Shared, k: usize) -> *mut u8 {
        debug_assert!(k < shared.nslots);
        // SAFETY: `k < nslots`, so the address lies inside the reservation.
        unsafe { shared.base.as_ptr().add(2 * k * shared.slot_size) }
    }

    /// A slot of an arena, owned by one mirror.
    pub(crate) struct Slot {
        shared: NonNull<Shared>,
        index: usize,
    }

    // SAFETY: a slot is owned by one mirror; what it points to is `Sync`.
    unsafe impl Send for Slot {}
    // SAFETY: `&Slot` only reads atomics and immutable fields.
    unsafe impl Sync for Slot {}

    impl Slot {
        fn shared(&self) -> &Shared {
            // SAFETY: the arena, and so its boxed `Shared`, lives while any
            // of its slots is in use.
            unsafe { self.shared.as_ref() }
        }

        /// A slot of `size` bytes (a positive whole number of pages),
        /// mapped twice back to back, zeroed.
        pub(crate) fn map(size: usize) -> Result<Mapped> {
            let mut reg = lock();
            let i = match reg.with_room(size) {
                Some(i) => i,
                None => {
                    let a = new_arena(&mut reg, size, slots_for(size))?;
                    reg.add(a)
                }
            };
            let arena = &mut reg.arenas[i];
            let index = arena
                .free
                .pop()
                .expect("an arena with room has a free slot");
            arena.used += 1;
            let full = arena.free.is_empty();
            let base = NonNull::new(slot_addr(&arena.shared, index)).expect("inside a mapping");
            let shared = NonNull::from(&*arena.shared);
            if full {
                reg.set_room(i, false);
            }
            Ok(Mapped {
                slot: Slot { shared, index },
                base,
            })
        }

        /// Tells the fork handler that a child process sees `len` bytes of
        /// this slot from offset `off`, then `grant` bytes of a grant.
        #[inline]
        pub(crate) fn set_live(&self, off: usize, len: usize, grant: usize) {
            let live = &self.shared().live[self.index];
            live.off.store(off, Ordering::Relaxed);
            live.len.store(len, Ordering::Relaxed);
            live.grant.store(grant, Ordering::Relaxed);
        }

        /// True in a child process whose copy of this memory could not be
        /// made at fork.
        #[inline]
        pub(crate) fn is_lost(&self) -> bool {
            // One load of a static in the common case (no arena was ever
            // lost in this process), not three dependent ones.
            ANY_LOST.load(Ordering::Relaxed) && self.shared().lost.load(Ordering::Relaxed)
        }

        /// Gives the slot back. Unless `untouched` (nothing was ever written
        /// or handed out for writing), its pages are given back to the OS
        /// first, so that its next owner reads zeros.
        pub(crate) fn free(&mut self, untouched: bool) {
            self.set_live(0, 0, 0);
            let mut reg = lock();
            let i = self.shared().at.load(Ordering::Relaxed);
            debug_assert!(std::ptr::eq(
                &*reg.arenas[i].shared,
                self.shared.as_ptr().cast_const()
            ));
            let s = reg.arenas[i].shared.slot_size;
            reg.arenas[i].used -= 1;
            // An empty arena is kept as the spare of its size, unless
            // another arena of that size has room already.
            let had_room = !reg.arenas[i].free.is_empty();
            let spare_elsewhere = reg.room.get(&s).map_or(0, Vec::len) > usize::from(had_room);
            let arena = &mut reg.arenas[i];
            // A lost arena (in a child of a fork) is never reused: it goes
            // with its last ring.
            let lost = arena.shared.lost.load(Ordering::Relaxed);
            let keep = !lost && arena.shared.nslots > 1 && (arena.used > 0 || !spare_elsewhere);
            if keep {
                // SAFETY: the slot's first half is a shared mapping of the
                // arena file that its ring, now gone, was the only user of.
                let p = slot_addr(&arena.shared, self.index);
                #[cfg(test)]
                let fail = FAIL_REMOVE.load(Ordering::Relaxed);
                #[cfg(not(test))]
                let fail = false;
                // SAFETY: the slot's first half is a mapping of the arena's
                // memory that its ring, now gone, was the only user of.
                let removed = untouched || (!fail && unsafe { sys::remove_pages(p, s) });
                if !removed {
                    // Refused (or a lost arena's private zero pages): wipe
                    // the bytes instead, so that the next ring reads zeros,
                    // and pack no more rings (their memory would not go back
                    // to the OS; rings of their own are unmapped whole).
                    REMOVE_WORKS.store(false, Ordering::Relaxed);
                    // SAFETY: as above; `s` writable bytes of ours.
                    unsafe { std::ptr::write_bytes(p, 0, s) };
                }
                arena.free.push(self.index);
                if !had_room {
                    reg.set_room(i, true);
                }
            } else {
                let arena = reg.remove(i);
                let span = 2 * arena.file_len();
                // SAFETY: no slot of the arena is in use: nothing points
                // into its mappings any more.
                unsafe { sys::unmap(arena.shared.base.as_ptr(), span) };
            }
        }
    }

    /// Mappings left free below `vm.max_map_count` for everything else: at
    /// the limit the kernel refuses `brk` too, so `malloc` would fail.
    pub(super) const HEADROOM: usize = 1024;

    /// Mappings an arena holds: one per slot and one more.
    pub(super) fn mappings_of(nslots: usize) -> usize {
        nslots + 1
    }

    /// Refuses a new arena that could take the process within
    /// [`HEADROOM`] mappings of its limit. Counting the process's mappings
    /// (a read of `/proc/self/maps`) only starts once the arenas alone hold
    /// half of the limit; the count of the other mappings is then kept and
    /// taken again every 2,048 mappings of ours (every 128 near the
    /// limit), and before refusing.
    fn check_mapping_limit(reg: &mut Registry, size: usize, nslots: usize) -> Result<()> {
        if !cfg!(any(target_os = "linux", target_os = "android")) {
            return Ok(());
        }
        // Read once and kept; not a OnceLock, whose initialisation a
        // child of a fork could inherit half-done (and wait for ever).
        static MAX: AtomicUsize = AtomicUsize::new(0);
        let max = match MAX.load(Ordering::Relaxed) {
            0 => {
                let m = std::fs::read_to_string("/proc/sys/vm/max_map_count")
                    .ok()
                    .and_then(|s| s.trim().parse().ok())
                    .unwrap_or(65_530);
                MAX.store(m, Ordering::Relaxed);
                m
            }
            m => m,
        };
        let ours = reg.mappings;
        let needed = mappings_of(nslots);
        if !worth_counting(ours, needed, max) {
            return Ok(());
        }
        // Near the limit the count is taken again every 128 mappings of
        // ours (not for each arena: with unpacked rings that would be a
        // read of a 60,000-line file per ring), and before any refusal.
        let stale = match reg.others {
            None => true,
            Some((others, at)) => {
                let near = !fits_below_limit(ours + others, needed + 3 * HEADROOM, max);
                ours >= at + 2048
                    || (near && ours >= at + 128)
                    || !fits_below_limit(ours + others, needed, max)
            }
        };
        if stale {
            let Ok(maps) = std::fs::read("/proc/self/maps") else {
                return Ok(());
            };
            let in_use = maps.iter().filter(|&&b| b == b'\n').count();
            reg.others = Some((in_use.saturating_sub(ours), ours));
        }
        let (others, _) = reg.others.expect("measured");
        let in_use = ours + others;
        if !fits_below_limit(in_use, needed, max) {
            return Err(Error::MappingLimit { size, in_use, max });
        }
        Ok(())
    }

    /// True once the arenas (`ours` mappings, `needed` more) come to half
    /// of the limit: below that, the real count is not worth reading.
    pub(super) fn worth_counting(ours: usize, needed: usize, max: usize) -> bool {
        ours + needed >= max / 2
    }

    /// True if `needed` more mappings leave [`HEADROOM`] below `max`.
    pub(super) fn fits_below_limit(in_use: usize, needed: usize, max: usize) -> bool {
        in_use + needed + HEADROOM <= max
    }

    /// A new arena of `nslots` slots of `size` bytes, all mapped; its file
    /// is closed on return.
    fn new_arena(reg: &mut Registry, size: usize, nslots: usize) -> Result<Arena> {
        check_mapping_limit(reg, size, nslots)?;
        let file_len = size * nslots;
        let fd = sys::anon_file(file_len).map_err(|e| e.for_request(size))?;
        let span = file_len.checked_mul(2).ok_or(Error::CapacityTooLarge {
            requested: size,
            max: isize::MAX as usize / 2,
        })?;
        let base = sys::reserve(span).map_err(|e| e.for_request(size))?;
        let shared = Box::new(Shared {
            base,
            slot_size: size,
            nslots,
            live: (0..nslots).map(|_| Live::default()).collect(),
            lost: AtomicBool::new(false),
            at: AtomicUsize::new(usize::MAX),
        });
        // SAFETY: the reservation is ours and nothing points into it yet.
        if let Err(e) = unsafe { map_slots(&shared, &fd, 0) } {
            // SAFETY: as above.
            unsafe { sys::unmap(base.as_ptr(), span) };
            return Err(e.for_request(size));
        }
        Ok(Arena {
            shared,
            free: (0..nslots).rev().collect(),
            used: 0,
            fork_at: (0, 0),
        })
    }

    /// Set once any arena of this process was lost at fork.
    static ANY_LOST: AtomicBool = AtomicBool::new(false);

    /// The copy of the live bytes made for a child at fork.
    enum Copy {
        None,
        /// Files at the arena layout (`Arena::fork_at` says where).
        Files(Vec<OwnedFd>),
        /// Runs of bytes: arena, offset in its layout, the bytes.
        Memory(Vec<(usize, usize, Vec<u8>)>),
    }

    // --- the registry ------------------------------------------------------

    struct Registry {
        /// Every arena, in no order (removal swaps the last one in).
        arenas: Vec<Arena>,
        /// For each slot size, the arenas with a free slot: an arena is
        /// listed here exactly when its `free` is not empty and it is not
        /// lost (`after_fork_child` takes lost ones off; they take no ring).
        room: BTreeMap<usize, Vec<NonNull<Shared>>>,
        /// Mappings the arenas hold, all together.
        mappings: usize,
        /// Mappings of the process that are not ours, as last counted, and
        /// how many were ours then.
        others: Option<(usize, usize)>,
        /// The copy made by `prepare_fork`, consumed after the fork.
        fork: Copy,
    }

    impl Registry {
        /// Registers a new arena (whose slots are all free); returns where.
        fn add(&mut self, arena: Arena) -> usize {
            let i = self.arenas.len();
            arena.shared.at.store(i, Ordering::Relaxed);
            self.mappings += mappings_of(arena.shared.nslots);
            let (size, room) = (arena.shared.slot_size, !arena.free.is_empty());
            self.arenas.push(arena);
            if room {
                self.room
                    .entry(size)
                    .or_default()
                    .push(NonNull::from(&*self.arenas[i].shared));
            }
            i
        }

        /// Unregisters arena `i`; the last arena takes its place.
        fn remove(&mut self, i: usize) -> Arena {
            if !self.arenas[i].free.is_empty() {
                self.set_room(i, false);
            }
            let arena = self.arenas.swap_remove(i);
            if let Some(moved) = self.arenas.get(i) {
                moved.shared.at.store(i, Ordering::Relaxed);
            }
            self.mappings -= mappings_of(arena.shared.nslots);
            arena
        }

        /// Lists arena `i` among those with room, or takes it off the list.
        fn set_room(&mut self, i: usize, room: bool) {
            let shared = &*self.arenas[i].shared;
            if room {
                let list = self.room.entry(shared.slot_size).or_default();
                list.push(NonNull::from(shared));
            } else if let Some(list) = self.room.get_mut(&shared.slot_size) {
                if let Some(k) = list.iter().rposition(|p| std::ptr::eq(p.as_ptr(), shared)) {
                    list.swap_remove(k);
                }
                if list.is_empty() {
                    self.room.remove(&shared.slot_size);
                }
            }
        }

        /// An arena of slots of `size` bytes with a free slot, if any.
        fn with_room(&self, size: usize) -> Option<usize> {
            let p = self.room.get(&size)?.last()?;
            // SAFETY: listed arenas are registered, so alive.
            let shared = unsafe { p.as_ref() };
            debug_assert!(
                !shared.lost.load(Ordering::Relaxed),
                "lost arenas are never listed"
            );
            Some(shared.at.load(Ordering::Relaxed))
        }
    }

    struct Lock {
        locked: AtomicBool,
        inner: std::cell::UnsafeCell<Registry>,
    }

    // SAFETY: `inner` is only reached through `Guard`, which holds `locked`.
    unsafe impl Sync for Lock {}

    static REGISTRY: Lock = Lock {
        locked: AtomicBool::new(false),
        inner: std::cell::UnsafeCell::new(Registry {
            arenas: Vec::new(),
            room: BTreeMap::new(),
            mappings: 0,
            others: None,
            fork: Copy::None,
        }),
    };

    /// The registry, locked. A spin lock (with yields), because the fork
    /// handlers take it and the child must be able to let it go.
    struct Guard(());

    fn lock() -> Guard {
        crate::fork::install();
        while REGISTRY
            .locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            std::thread::yield_now();
        }
        Guard(())
    }

    impl std::ops::Deref for Guard {
        type Target = Registry;
        fn deref(&self) -> &Registry {
            // SAFETY: the guard holds the lock: no other reference exists.
            unsafe { &*REGISTRY.inner.get() }
        }
    }

    impl std::ops::DerefMut for Guard {
        fn deref_mut(&mut self) -> &mut Registry {
            // SAFETY: as in `deref`, and `&mut self` makes it unique.
            unsafe { &mut *REGISTRY.inner.get() }
        }
    }

    impl Drop for Guard {
        fn drop(&mut self) {
            REGISTRY.locked.store(false, Ordering::Release);
        }
    }

    /// Arenas of slots of `size` bytes, and their slots in use, for tests.
    #[cfg(test)]
    pub(crate) fn stats(size: usize) -> (usize, usize) {
        let reg = lock();
        let ours = reg.arenas.iter().filter(|a| a.shared.slot_size == size);
        let (n, used) = ours.fold((0, 0), |(n, u), a| (n + 1, u + a.used));
        (n, used)
    }

    // --- fork ----------------------------------------------------------------

    /// Before `fork()`, in the parent: locks the registry (until
    /// [`after_fork_parent`] or [`after_fork_child`]) and copies the live
    /// bytes of every slot for the child: into new sparse files at the
    /// arena layout, or, if no file can be made, into memory.
    pub(crate) fn prepare_fork() {
        let mut reg = lock();
        reg.fork = Copy::None;
        if !reg.arenas.is_empty() {
            reg.fork = match copy_to_files(&mut reg) {
                Ok(files) => Copy::Files(files),
                Err(_) => copy_to_memory(&reg).map_or(Copy::None, Copy::Memory),
            };
        }
        // The registry stays locked through the fork.
        std::mem::forget(reg);
    }

    /// Calls `put(arena, at, bytes)` for every run of bytes a child can
    /// see, `at` being the bytes' offset in the arena's file layout (a run
    /// never crosses a slot's end).
    fn each_live_run(
        reg: &Registry,
        mut put: impl FnMut(usize, usize, &[u8]) -> Result<()>,
    ) -> Result<()> {
        for (i, a) in reg.arenas.iter().enumerate() {
            let s = a.shared.slot_size;
            for k in 0..a.shared.nslots {
                let live = &a.shared.live[k];
                // Clamped: a ring changed by another thread during the fork
                // (a misuse) gets a wrong copy, never one outside its slot.
                let off = live.off.load(Ordering::Relaxed) % s;
                let len = live.len.load(Ordering::Relaxed).min(s);
                let grant = live.grant.load(Ordering::Relaxed).min(s - len);
                if len + grant == 0 {
                    continue;
                }
                let src = slot_addr(&a.shared, k);
                let mut run = |lo: usize, n: usize| -> Result<()> {
                    // `lo .. lo + n` lies in the slot's two halves (`lo < s`,
                    // `n <= s`): split where the first half ends.
                    let first = n.min(s - lo);
                    // SAFETY: in bounds of the slot's mapped, readable halves.
                    let (head, rest) = unsafe {
                        (
                            std::slice::from_raw_parts(src.add(lo), first),
                            std::slice::from_raw_parts(src.add(lo + first), n - first),
                        )
                    };
                    put(i, k * s + lo, head)?;
                    put(i, k * s, rest)
                };
                run(off, len)?;
                // Of the grant, only pages that hold memory: free space that
                // was never written has none, and reading it would give it
                // some (in the parent, for nothing).
                let g0 = off + len; // may be past `s`: the mirror follows
                let page = sys::page_size();
                let first = g0 / page * page;
                let resident = sys::resident_pages(src, first, g0 + grant - first)
                    .unwrap_or_else(|| vec![true; (g0 + grant - first).div_ceil(page)]);
                for (p, &r) in resident.iter().enumerate() {
                    let lo = (first + p * page).max(g0);
                    let hi = (first + (p + 1) * page).min(g0 + grant);
                    if r && hi > lo {
                        run(lo % s, hi - lo)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// The copy in sparse files, each within the process's file size limit
    /// (`ulimit -f`): arenas are laid out one after the other, a new file
    /// taken when the next arena would not fit.
    fn copy_to_files(reg: &mut Registry) -> Result<Vec<OwnedFd>> {
        let cap = sys::file_size_limit();
        let mut sizes = vec![0usize];
        for a in reg.arenas.iter_mut() {
            let last = sizes.len() - 1;
            if sizes[last] > 0 && sizes[last] + a.file_len() > cap {
                sizes.push(0);
            }
            let last = sizes.len() - 1;
            a.fork_at = (last, sizes[last]);
            sizes[last] += a.file_len();
        }
        let files = sizes
            .iter()
            .map(|&n| sys::anon_file(n))
            .collect::<Result<Vec<_>>>()?;
        each_live_run(reg, |i, at, bytes| {
            let (f, base) = reg.arenas[i].fork_at;
            sys::write_at(&files[f], bytes, base + at)
        })?;
        Ok(files)
    }

    /// The copy in memory, when no file can be made (no descriptor left,
    /// say): `None` if there is no memory for it either.
    fn copy_to_memory(reg: &Registry) -> Option<Vec<(usize, usize, Vec<u8>)>> {
        let mut saved = Vec::new();
        each_live_run(reg, |i, at, bytes| {
            let mut v = Vec::new();
            v.try_reserve_exact(bytes.len())
                .map_err(|_| Error::CapacityTooLarge {
                    requested: bytes.len(),
                    max: 0,
                })?;
            v.extend_from_slice(bytes);
            saved.try_reserve(1).map_err(|_| Error::CapacityTooLarge {
                requested: 1,
                max: 0,
            })?;
            saved.push((i, at, v));
            Ok(())
        })
        .ok()?;
        Some(saved)
    }

    /// After `fork()`, in the parent: drops the copy and unlocks.
    pub(crate) fn after_fork_parent() {
        // SAFETY: `prepare_fork` left the registry locked for us.
        let mut reg = Guard(());
        reg.fork = Copy::None;
    }

    /// After `fork()`, in the child: maps each arena's copy over its own
    /// addresses, and unlocks. Without a file copy, the arenas become zero
    /// pages, flagged lost (their rings refuse to work), and get the live
    /// bytes written back (from the copy in memory, if there is one), so
    /// that views made before the fork keep showing them.
    pub(crate) fn after_fork_child() {
        // SAFETY: `prepare_fork` left the registry locked for us, and this
        // is the only thread of the child.
        let mut reg = Guard(());
        let copy = std::mem::replace(&mut reg.fork, Copy::None);
        let files = match &copy {
            Copy::Files(f) => Some(f),
            _ => None,
        };
        let mut lost = vec![false; reg.arenas.len()];
        for (i, a) in reg.arenas.iter().enumerate() {
            let s = &a.shared;
            let (f, base) = a.fork_at;
            // SAFETY: the arena's mappings are ours; the copy shows the
            // same live bytes at the same addresses.
            let ok = files.is_some_and(|files| unsafe { map_slots(s, &files[f], base) }.is_ok());
            if !ok {
                // SAFETY: as above; zero pages replace the shared ones.
                unsafe { sys::map_zero_fixed(s.base.as_ptr(), 2 * s.slot_size * s.nslots) };
                s.lost.store(true, Ordering::Relaxed);
                ANY_LOST.store(true, Ordering::Relaxed);
                lost[i] = true;
            }
        }
        // Lost arenas take no new rings: off the lists of arenas with room.
        for list in reg.room.values_mut() {
            // SAFETY: listed arenas are registered, so alive.
            list.retain(|p| !unsafe { p.as_ref() }.lost.load(Ordering::Relaxed));
        }
        reg.room.retain(|_, list| !list.is_empty());
        if let Copy::Memory(saved) = &copy {
            for (i, at, bytes) in saved {
                let s = &reg.arenas[*i].shared;
                if !lost[*i] {
                    continue;
                }
                let (k, off) = (at / s.slot_size, at % s.slot_size);
                let slot = slot_addr(s, k);
                // SAFETY: `off + bytes.len() <= slot_size` (a run never
                // crosses a slot's end): both halves of slot `k`, now
                // private zero pages of ours, not mirrored, so written both.
                unsafe {
                    std::ptr::copy_nonoverlapping(bytes.as_ptr(), slot.add(off), bytes.len());
                    std::ptr::copy_nonoverlapping(
                        bytes.as_ptr(),
                        slot.add(s.slot_size + off),
                        bytes.len(),
                    );
                }
            }
        }
        drop(copy);
    }
}

#[cfg(any(miri, not(unix)))]
mod imp {
    use std::ptr::NonNull;

    use super::Mapped;
    use crate::error::Result;
    use crate::sys;

    pub(super) fn packing() -> bool {
        false
    }

    /// A mirror of its own: no arenas, no fork.
    pub(crate) struct Slot {
        base: NonNull<u8>,
        size: usize,
    }

    // SAFETY: owned exclusively by one mirror.
    unsafe impl Send for Slot {}
    // SAFETY: `&Slot` reads nothing mutable.
    unsafe impl Sync for Slot {}

    impl Slot {
        pub(crate) fn map(size: usize) -> Result<Mapped> {
            let base = sys::map_mirror(size)?;
            Ok(Mapped {
                slot: Slot { base, size },
                base,
            })
        }

        #[inline]
        pub(crate) fn set_live(&self, _off: usize, _len: usize, _grant: usize) {}

        #[inline]
        pub(crate) fn is_lost(&self) -> bool {
            false
        }

        pub(crate) fn free(&mut self, _untouched: bool) {
            // SAFETY: the mirror is ours and its owner is gone.
            unsafe { sys::unmap_mirror(self.base.as_ptr(), self.size) };
        }
    }
}

/// Maps a slot of `size` bytes.
pub(crate) fn map(size: usize) -> Result<Mapped> {
    Slot::map(size)
}

#[cfg(all(test, unix, not(miri)))]
mod tests {
    use super::*;
    use crate::mirror::page_size;

    /// Runs `f` in a forked child (one thread: no other test maps memory
    /// meanwhile); true if it returned true.
    fn in_child(f: impl FnOnce() -> bool) -> bool {
        // SAFETY: the child only runs `f`, which maps and unmaps memory
        // of its own, and exits.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or(false);
            // SAFETY: _exit is always safe in the child.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) };
        }
        let mut status = 0;
        // SAFETY: waiting for our own child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0
    }

    /// True if any page of the `len` bytes at `p` is mapped (mincore fails
    /// with ENOMEM for a range with any unmapped page: so, page by page).
    fn is_mapped(p: *mut u8, len: usize) -> bool {
        let page = page_size();
        (0..len.div_ceil(page)).any(|i| {
            let mut v = 0u8;
            // SAFETY: one byte for one page; mincore only reads the page
            // tables, and fails where nothing is mapped.
            unsafe {
                libc::mincore(p.wrapping_add(i * page).cast(), page, (&raw mut v).cast()) == 0
            }
        })
    }

    #[test]
    fn slot_counts_by_size() {
        let page = page_size();
        let packed = imp::packing();
        assert_eq!(slots_for(page), if packed { PACK_SLOTS } else { 1 });
        assert_eq!(slots_for(PACK_MAX), if packed { PACK_SLOTS } else { 1 });
        assert_eq!(slots_for(PACK_MAX + page), 1);
        assert_eq!(slots_for(1 << 30), 1);
        assert_eq!(imp::mappings_of(64), 65);
    }

    #[test]
    fn the_mapping_limit_leaves_headroom() {
        let max = 65_530;
        let h = imp::HEADROOM;
        assert!(imp::fits_below_limit(max - h - 65, 65, max));
        assert!(!imp::fits_below_limit(max - h - 64, 65, max));
        assert!(!imp::fits_below_limit(max, 0, max));
        assert!(!imp::worth_counting(100, 65, max));
        assert!(imp::worth_counting(max / 2 - 65, 65, max));
        assert!(!imp::worth_counting(max / 2 - 66, 65, max));
    }

    #[test]
    #[cfg_attr(
        feature = "posix-shm",
        ignore = "the POSIX backend cannot free part of a shared file, so it never packs \
                  (slot_counts_by_size checks that)"
    )]
    fn small_rings_share_arenas_and_reuse_slots() {
        let page = page_size();
        // A size no other test uses, so that the counts are ours alone.
        let size = 13 * page;
        let n = slots_for(size);
        assert!(n > 2, "{n} slots");
        let a = map(size).unwrap();
        let b = map(size).unwrap();
        // SAFETY: both slots are ours, `2 * size` bytes each.
        unsafe {
            *a.base.as_ptr() = 1;
            assert_eq!(*a.base.as_ptr().add(size), 1, "mirrored");
            assert_eq!(*b.base.as_ptr(), 0, "another slot");
        }
        assert_eq!(
            b.base.as_ptr() as usize - a.base.as_ptr() as usize,
            2 * size
        );
        assert!(!a.slot.is_lost());
        let (mut a, mut b) = (a, b);
        let addr = a.base;
        a.slot.free(false);
        let c = map(size).unwrap();
        assert_eq!(c.base, addr, "the freed slot is reused");
        // SAFETY: the slot is ours again.
        assert_eq!(unsafe { *c.base.as_ptr() }, 0, "and reads zeros");
        assert_eq!(imp::stats(size), (1, 2));
        let mut c = c;
        c.slot.free(true);
        b.slot.free(true);
        assert_eq!(
            imp::stats(size),
            (1, 0),
            "the empty arena is kept as the spare"
        );
    }

    #[test]
    #[cfg_attr(
        feature = "posix-shm",
        ignore = "the POSIX backend never packs (slot_counts_by_size checks that)"
    )]
    fn a_slot_freed_in_a_full_arena_is_found_again() {
        // A size no other test uses, so that the counts are ours alone.
        let size = 15 * page_size();
        let n = slots_for(size);
        assert!(n > 2, "{n} slots");
        let mut first: Vec<Mapped> = (0..n).map(|_| map(size).unwrap()).collect();
        let mut second = map(size).unwrap();
        assert_eq!(imp::stats(size), (2, n + 1), "the first arena is full");
        // A slot in the middle of the full arena comes free: the next ring
        // takes it, rather than the second arena's room.
        let mut hole = first.swap_remove(n / 2);
        let addr = hole.base;
        hole.slot.free(true);
        let again = map(size).unwrap();
        assert_eq!(again.base, addr);
        assert_eq!(imp::stats(size), (2, n + 1));
        first.push(again);
        // The second arena empties: with no room elsewhere it is the spare
        // (the next ring goes there, no new arena) ...
        second.slot.free(true);
        assert_eq!(imp::stats(size), (2, n));
        let mut third = map(size).unwrap();
        assert_eq!(third.base, second.base);
        assert_eq!(imp::stats(size), (2, n + 1));
        // ... but once the first arena has room, an empty second one goes.
        let mut one = first.pop().unwrap();
        one.slot.free(true);
        third.slot.free(true);
        assert_eq!(imp::stats(size), (1, n - 1));
        for mut m in first {
            m.slot.free(true);
        }
        assert_eq!(imp::stats(size), (1, 0), "the last arena is the spare");
    }

    #[test]
    #[cfg_attr(
        feature = "posix-shm",
        ignore = "the POSIX backend never packs (slot_counts_by_size checks that)"
    )]
    fn a_lost_arena_goes_with_its_last_ring() {
        let size = 14 * page_size();
        assert!(in_child(|| {
            let mut old = map(size).unwrap();
            // No descriptors for the fork's copy: the grandchild's arena is
            // lost.
            let mut lim = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: plain limit calls on this (single-threaded) child.
            unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
            let none = libc::rlimit { rlim_cur: 0, ..lim };
            // SAFETY: as above.
            unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &none) };
            let ok = in_child(|| {
                // SAFETY: as above.
                unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
                let mut fresh = map(size).unwrap();
                let lost_then_new = old.slot.is_lost() && imp::stats(size) == (2, 2);
                old.slot.free(false);
                // The lost arena is gone, not kept as a spare, and packing
                // goes on (its pages were never "refused" a removal).
                let gone = imp::stats(size) == (1, 1) && imp::packing();
                fresh.slot.free(true);
                lost_then_new && gone
            });
            // SAFETY: as above.
            unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
            old.slot.free(true);
            ok
        }));
    }

    #[test]
    fn arenas_come_and_go_with_their_rings() {
        let size = 11 * page_size();
        let n = slots_for(size);
        if n == 1 {
            return; // no packing on this platform
        }
        // One more ring than an arena holds: a second arena.
        let mut slots: Vec<Mapped> = (0..=n).map(|_| map(size).unwrap()).collect();
        assert_eq!(imp::stats(size), (2, n + 1));
        // Free the first arena's rings: it empties while the second has
        // room, so it goes, mappings and all.
        for mut m in slots.drain(..n) {
            m.slot.free(false);
        }
        assert_eq!(imp::stats(size), (1, 1));
        // The same in a child, alone (nothing else can map the range once
        // it is free), with a size of its own: arena A's n rings, then one
        // in arena B; A, emptied while B has room, goes, mappings and all.
        assert!(
            in_child(|| {
                let size = 12 * page_size();
                let mut a: Vec<Mapped> = (0..n).map(|_| map(size).unwrap()).collect();
                let b = map(size).unwrap();
                let p = a[0].base.as_ptr();
                let span = 2 * size * n;
                let was = is_mapped(p, span) && b.base.as_ptr() != p;
                for m in a.iter_mut() {
                    m.slot.free(false);
                }
                was && imp::stats(size) == (1, 1) && !is_mapped(p, span)
            }),
            "an empty arena was not unmapped"
        );
        // The last ring's arena is now the only one: freed, it stays (the
        // spare), and the next ring reuses it.
        let last = slots.pop().unwrap();
        let last_addr = last.base;
        let mut last = last;
        last.slot.free(false);
        assert_eq!(imp::stats(size), (1, 0));
        let again = map(size).unwrap();
        assert_eq!(imp::stats(size), (1, 1));
        assert!(
            (again.base.as_ptr() as usize).abs_diff(last_addr.as_ptr() as usize) < 2 * size * n,
            "the spare arena was not reused"
        );
        let mut again = again;
        again.slot.free(true);
    }

    #[test]
    fn when_pages_cannot_be_freed_slots_are_wiped_and_packing_stops() {
        if slots_for(page_size()) == 1 {
            return; // no packing on this platform
        }
        // In a child: the switch is for the whole process.
        // SAFETY: the child only uses arenas and exits.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            let size = 9 * page_size();
            imp::FAIL_REMOVE.store(true, std::sync::atomic::Ordering::Relaxed);
            let mut a = map(size).unwrap();
            // SAFETY: the slot's bytes are ours.
            unsafe { a.base.as_ptr().write_bytes(0x77, size) };
            let at = a.base;
            a.slot.free(false);
            let b = map(size).unwrap();
            // SAFETY: as above, `2 * size` bytes of the slot.
            let zeros = unsafe { std::slice::from_raw_parts(b.base.as_ptr(), 2 * size) }
                .iter()
                .all(|&x| x == 0);
            let ok = b.base == at && zeros && slots_for(size) == 1 && slots_for(page_size()) == 1;
            // SAFETY: _exit is always safe in the child.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) };
        }
        let mut status = 0;
        // SAFETY: waiting for our own child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
    }

    #[test]
    fn a_large_ring_has_an_arena_of_its_own_unmapped_with_it() {
        let size = 4 << 20;
        let m = map(size).unwrap();
        assert_eq!(imp::stats(size), (1, 1));
        let mut m = m;
        m.slot.free(false);
        assert_eq!(imp::stats(size), (0, 0));
        assert!(
            in_child(|| {
                let mut m = map(size).unwrap();
                let p = m.base.as_ptr();
                let was = is_mapped(p, 2 * size);
                m.slot.free(false);
                was && !is_mapped(p, 2 * size)
            }),
            "a large ring's mappings outlived it"
        );
    }
}
