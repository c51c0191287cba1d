//! Windows: mirrors are two views of one pagefile-backed section, placed
//! back to back.
//!
//! Two ways to place them:
//!
//! * **Placeholders** (Windows 10 1803 and later): reserve both halves as
//!   one placeholder with `VirtualAlloc2`, split it in two with
//!   `VirtualFree(MEM_RELEASE | MEM_PRESERVE_PLACEHOLDER)`, then replace
//!   each half by a view with `MapViewOfFile3(MEM_REPLACE_PLACEHOLDER)`.
//!   The address range is ours from the first call to the last: no other
//!   thread can take it in between.
//! * **Reserve, free, map** (older Windows, and wine, which refuses the
//!   placeholder flags with `ERROR_INVALID_PARAMETER`): find a free range
//!   by reserving it, free it, and map the two views at its two halves
//!   with `MapViewOfFileEx`. Another thread may take the range in the gap;
//!   then the views fail to map and the whole dance is retried, a bounded
//!   number of times.
//!
//! `VirtualAlloc2` and `MapViewOfFile3` are looked up at run time, so that
//! the crate loads on Windows versions that lack them. The first mirror
//! decides the method for the process ([`mirror_method`]).
//!
//! Views land on multiples of the *allocation granularity* (64 KiB), so
//! that is this module's [`page_size`]: ring memory is a multiple of it.
//! Sizes are 64-bit throughout. Lists reserve and commit address space with
//! `VirtualAlloc`; Windows cannot merge two reservations, so a list that
//! outgrows its reservation moves (one copy), which a live view refuses.

use std::ffi::c_void;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;

use windows_sys::Win32::Foundation::{
    CloseHandle, GetLastError, ERROR_COMMITMENT_LIMIT, ERROR_NOT_ENOUGH_MEMORY, ERROR_OUTOFMEMORY,
    HANDLE, INVALID_HANDLE_VALUE,
};
use windows_sys::Win32::System::LibraryLoader::{GetModuleHandleA, GetProcAddress};
use windows_sys::Win32::System::Memory::{
    CreateFileMappingW, MapViewOfFileEx, UnmapViewOfFile, VirtualAlloc, VirtualFree,
    FILE_MAP_ALL_ACCESS, MEMORY_MAPPED_VIEW_ADDRESS, MEM_COMMIT, MEM_DECOMMIT,
    MEM_EXTENDED_PARAMETER, MEM_PRESERVE_PLACEHOLDER, MEM_RELEASE, MEM_REPLACE_PLACEHOLDER,
    MEM_RESERVE, MEM_RESERVE_PLACEHOLDER, PAGE_NOACCESS, PAGE_READWRITE,
};
use windows_sys::Win32::System::SystemInformation::{GetSystemInfo, SYSTEM_INFO};
use windows_sys::Win32::System::Threading::GetCurrentProcess;

use crate::error::{Error, Result};

/// Reservations cannot be moved without a copy (there is no `mremap`).
pub(crate) const CAN_REMAP: bool = false;

/// Attempts of the reserve-free-map method before giving up, when other
/// threads keep taking the freed range.
pub(crate) const FALLBACK_ATTEMPTS: usize = 64;

/// How the mirrors of this process are mapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Method {
    Placeholder,
    ReserveFreeMap,
}

const UNDECIDED: u8 = 0;
const PLACEHOLDER: u8 = 1;
const FALLBACK: u8 = 2;

/// The method chosen by the first mirror (`UNDECIDED` before).
static METHOD: AtomicU8 = AtomicU8::new(UNDECIDED);

/// The method this process maps mirrors with, once one has been mapped.
pub(crate) fn mirror_method() -> Option<Method> {
    match METHOD.load(Ordering::Relaxed) {
        PLACEHOLDER => Some(Method::Placeholder),
        FALLBACK => Some(Method::ReserveFreeMap),
        _ => None,
    }
}

/// The allocation granularity: views and reservations start on multiples
/// of it (64 KiB on every Windows so far).
pub(crate) fn page_size() -> usize {
    static GRANULARITY: OnceLock<usize> = OnceLock::new();
    *GRANULARITY.get_or_init(|| {
        let mut info = SYSTEM_INFO::default();
        // SAFETY: GetSystemInfo fills the struct it is given.
        unsafe { GetSystemInfo(&mut info) };
        let g = info.dwAllocationGranularity as usize;
        if g.is_power_of_two() {
            g
        } else {
            64 * 1024
        }
    })
}

/// True for the Win32 errors that mean "out of memory or address space".
pub(crate) fn is_out_of_memory_code(code: i32) -> bool {
    [
        ERROR_NOT_ENOUGH_MEMORY,
        ERROR_OUTOFMEMORY,
        ERROR_COMMITMENT_LIMIT,
    ]
    .iter()
    .any(|&e| e as i32 == code)
}

type VirtualAlloc2Fn = unsafe extern "system" fn(
    HANDLE,
    *const c_void,
    usize,
    u32,
    u32,
    *mut MEM_EXTENDED_PARAMETER,
    u32,
) -> *mut c_void;

type MapViewOfFile3Fn = unsafe extern "system" fn(
    HANDLE,
    HANDLE,
    *const c_void,
    u64,
    usize,
    u32,
    u32,
    *mut MEM_EXTENDED_PARAMETER,
    u32,
) -> MEMORY_MAPPED_VIEW_ADDRESS;

/// `VirtualAlloc2` and `MapViewOfFile3`, if this Windows has them.
struct PlaceholderApi {
    virtual_alloc2: VirtualAlloc2Fn,
    map_view_of_file3: MapViewOfFile3Fn,
}

fn placeholder_api() -> Option<&'static PlaceholderApi> {
    static API: OnceLock<Option<PlaceholderApi>> = OnceLock::new();
    API.get_or_init(|| {
        // SAFETY: kernelbase.dll is loaded in every Win32 process; the name
        // is NUL-terminated.
        let module = unsafe { GetModuleHandleA(c"kernelbase.dll".as_ptr().cast()) };
        if module.is_null() {
            return None;
        }
        // SAFETY: the module is loaded; the names are NUL-terminated.
        let (a, m) = unsafe {
            (
                GetProcAddress(module, c"VirtualAlloc2".as_ptr().cast())?,
                GetProcAddress(module, c"MapViewOfFile3".as_ptr().cast())?,
            )
        };
        // SAFETY: both functions are documented with exactly these
        // signatures (memoryapi.h); the pointers come from the loader.
        unsafe {
            Some(PlaceholderApi {
                virtual_alloc2: std::mem::transmute::<
                    unsafe extern "system" fn() -> isize,
                    VirtualAlloc2Fn,
                >(a),
                map_view_of_file3: std::mem::transmute::<
                    unsafe extern "system" fn() -> isize,
                    MapViewOfFile3Fn,
                >(m),
            })
        }
    })
    .as_ref()
}

/// A pagefile-backed section of `size` bytes; its handle is closed on drop
/// (views keep the section alive).
struct Section(HANDLE);

impl Section {
    fn new(size: usize) -> Result<Section> {
        let size64 = size as u64;
        // SAFETY: an unnamed section backed by the pagefile; no pointer
        // arguments but the null security attributes and name.
        let h = unsafe {
            CreateFileMappingW(
                INVALID_HANDLE_VALUE,
                ptr::null(),
                PAGE_READWRITE,
                (size64 >> 32) as u32,
                size64 as u32,
                ptr::null(),
            )
        };
        if h.is_null() {
            return Err(Error::os("CreateFileMappingW", size));
        }
        Ok(Section(h))
    }
}

impl Drop for Section {
    fn drop(&mut self) {
        // SAFETY: the handle is ours and closed once.
        unsafe { CloseHandle(self.0) };
    }
}

#[cfg(test)]
pub(crate) mod testing {
    use std::cell::Cell;

    thread_local! {
        /// Makes this thread's mirrors use the reserve-free-map method even
        /// where placeholders work (without deciding the process's method).
        pub(crate) static FORCE_FALLBACK: Cell<bool> = const { Cell::new(false) };
        /// This thread's next this many attempts of the reserve-free-map
        /// method find their range taken (as if by another thread) right
        /// after freeing it.
        pub(crate) static STEAL: Cell<usize> = const { Cell::new(0) };
        /// The addresses those attempts tried, to check they were freed.
        pub(crate) static TRIED: Cell<Vec<usize>> = const { Cell::new(Vec::new()) };
    }
}

/// Maps a mirror of `size` bytes (a multiple of [`page_size`]): two views
/// of one new section at `p` and `p + size`. Returns `p`.
pub(crate) fn map_mirror(size: usize) -> Result<NonNull<u8>> {
    let total = size.checked_mul(2).ok_or(Error::CapacityTooLarge {
        requested: size,
        max: usize::MAX / 2,
    })?;
    let section = Section::new(size)?;
    #[cfg(test)]
    let forced = testing::FORCE_FALLBACK.get();
    #[cfg(not(test))]
    let forced = false;
    if forced {
        return map_reserve_free(&section, size, total);
    }
    let method = METHOD.load(Ordering::Relaxed);
    if method != FALLBACK {
        if let Some(api) = placeholder_api() {
            match map_with_placeholders(api, &section, size, total) {
                Ok(p) => {
                    METHOD.store(PLACEHOLDER, Ordering::Relaxed);
                    return Ok(p);
                }
                Err(e) if method == PLACEHOLDER || e.is_out_of_memory() => return Err(e),
                // The first mirror's placeholders refused (wine says error
                // 87; other systems may say otherwise) for a reason other
                // than memory: the other method, from now on.
                Err(_) => METHOD.store(FALLBACK, Ordering::Relaxed),
            }
        } else {
            METHOD.store(FALLBACK, Ordering::Relaxed);
        }
    }
    map_reserve_free(&section, size, total)
}

fn map_with_placeholders(
    api: &PlaceholderApi,
    section: &Section,
    size: usize,
    total: usize,
) -> Result<NonNull<u8>> {
    // SAFETY: the pseudo handle of our own process.
    let process = unsafe { GetCurrentProcess() };
    // SAFETY: a new placeholder where the system chooses; no extended
    // parameters.
    let p = unsafe {
        (api.virtual_alloc2)(
            process,
            ptr::null(),
            total,
            MEM_RESERVE | MEM_RESERVE_PLACEHOLDER,
            PAGE_NOACCESS,
            ptr::null_mut(),
            0,
        )
    };
    if p.is_null() {
        return Err(Error::os("VirtualAlloc2 (placeholder)", total));
    }
    let p = p.cast::<u8>();
    let second = p.wrapping_add(size);
    // Split the placeholder in two: [p, p+size) and [p+size, p+2*size).
    // SAFETY: `p` is the placeholder just made, `size` less than its length.
    if unsafe { VirtualFree(p.cast(), size, MEM_RELEASE | MEM_PRESERVE_PLACEHOLDER) } == 0 {
        let e = Error::os("VirtualFree (split placeholder)", total);
        // SAFETY: the placeholder is ours, still whole, used by no one.
        unsafe { VirtualFree(p.cast(), 0, MEM_RELEASE) };
        return Err(e);
    }
    let release_halves = |first_too: bool| {
        // SAFETY: the halves named are placeholders of ours, unused.
        unsafe {
            if first_too {
                VirtualFree(p.cast(), 0, MEM_RELEASE);
            }
            VirtualFree(second.cast(), 0, MEM_RELEASE);
        }
    };
    let map_at = |at: *mut u8| {
        // SAFETY: `at` is a placeholder of ours of exactly `size` bytes,
        // which the view replaces.
        unsafe {
            (api.map_view_of_file3)(
                section.0,
                process,
                at.cast(),
                0,
                size,
                MEM_REPLACE_PLACEHOLDER,
                PAGE_READWRITE,
                ptr::null_mut(),
                0,
            )
        }
        .Value
    };
    if map_at(p).is_null() {
        let e = Error::os("MapViewOfFile3 (first half)", size);
        release_halves(true);
        return Err(e);
    }
    if map_at(second).is_null() {
        let e = Error::os("MapViewOfFile3 (second half)", size);
        // SAFETY: the first view is ours; unmapping it frees its range.
        unsafe { UnmapViewOfFile(MEMORY_MAPPED_VIEW_ADDRESS { Value: p.cast() }) };
        release_halves(false);
        return Err(e);
    }
    NonNull::new(p).ok_or_else(|| Error::os("VirtualAlloc2 (placeholder)", total))
}

fn map_reserve_free(section: &Section, size: usize, total: usize) -> Result<NonNull<u8>> {
    // The system hands every thread the same lowest free range: threads of
    // ours that map at once would take each other's, so one at a time.
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut last = None;
    for _ in 0..FALLBACK_ATTEMPTS {
        // Find a free range of both halves by reserving it ...
        // SAFETY: a new reservation where the system chooses.
        let p = unsafe { VirtualAlloc(ptr::null(), total, MEM_RESERVE, PAGE_NOACCESS) };
        if p.is_null() {
            return Err(Error::os("VirtualAlloc (reserve)", total));
        }
        // ... and give it back, to map the views there.
        // SAFETY: the reservation just made, used by no one.
        unsafe { VirtualFree(p, 0, MEM_RELEASE) };
        let p = p.cast::<u8>();
        #[cfg(test)]
        let stolen = steal_for_test(p, size);
        let result = map_views_at(section, p, size);
        #[cfg(test)]
        if let Some(s) = stolen {
            // SAFETY: the test's own reservation.
            unsafe { VirtualFree(s, 0, MEM_RELEASE) };
        }
        match result {
            Ok(()) => {
                return NonNull::new(p).ok_or_else(|| Error::os("MapViewOfFileEx", total));
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| Error::os("MapViewOfFileEx (mirror)", total)))
}

/// Takes the second half of the range at `p` (as another thread might) if
/// the test asked, and notes `p`.
#[cfg(test)]
fn steal_for_test(p: *mut u8, size: usize) -> Option<*mut c_void> {
    let left = testing::STEAL.get();
    if left == 0 {
        return None;
    }
    testing::STEAL.set(left - 1);
    testing::TRIED.with(|t| {
        let mut v = t.take();
        v.push(p as usize);
        t.set(v);
    });
    // SAFETY: a reservation of one granule at a free address, or nothing.
    let s = unsafe {
        VirtualAlloc(
            p.wrapping_add(size).cast(),
            page_size(),
            MEM_RESERVE,
            PAGE_NOACCESS,
        )
    };
    (!s.is_null()).then_some(s)
}

/// Maps the two views at `p` and `p + size`, or neither.
fn map_views_at(section: &Section, p: *mut u8, size: usize) -> Result<()> {
    let map_at = |at: *mut u8| {
        // SAFETY: maps a view at a fixed address or fails if any of the
        // range is taken; never replaces anything.
        unsafe { MapViewOfFileEx(section.0, FILE_MAP_ALL_ACCESS, 0, 0, size, at.cast()) }.Value
    };
    let first = map_at(p);
    if first.is_null() {
        return Err(Error::os("MapViewOfFileEx (first half)", size));
    }
    if first != p.cast() {
        // SAFETY: the view just made, at an address we did not ask for.
        unsafe { UnmapViewOfFile(MEMORY_MAPPED_VIEW_ADDRESS { Value: first }) };
        return Err(Error::os("MapViewOfFileEx (first half)", size));
    }
    let second = map_at(p.wrapping_add(size));
    if second != p.wrapping_add(size).cast() {
        let e = Error::os("MapViewOfFileEx (second half)", size);
        // SAFETY: the views just made, used by no one.
        unsafe {
            if !second.is_null() {
                UnmapViewOfFile(MEMORY_MAPPED_VIEW_ADDRESS { Value: second });
            }
            UnmapViewOfFile(MEMORY_MAPPED_VIEW_ADDRESS { Value: first });
        }
        return Err(e);
    }
    Ok(())
}

/// Unmaps the two views of the mirror of `size` bytes at `p`.
///
/// # Safety
/// `p` must come from [`map_mirror`] with this `size`, and nothing may
/// point into it anymore.
pub(crate) unsafe fn unmap_mirror(p: *mut u8, size: usize) {
    for at in [p, p.wrapping_add(size)] {
        // SAFETY: caller's contract: a view of ours.
        let ok = unsafe { UnmapViewOfFile(MEMORY_MAPPED_VIEW_ADDRESS { Value: at.cast() }) };
        debug_assert!(ok != 0, "UnmapViewOfFile failed: {}", last_error());
    }
}

fn last_error() -> u32 {
    // SAFETY: reads the calling thread's last error.
    unsafe { GetLastError() }
}

/// Reserves `len` bytes of address space with no access and no memory.
pub(crate) fn reserve(len: usize) -> Result<NonNull<u8>> {
    // SAFETY: a new reservation where the system chooses.
    let p = unsafe { VirtualAlloc(ptr::null(), len, MEM_RESERVE, PAGE_NOACCESS) };
    NonNull::new(p.cast()).ok_or_else(|| Error::os("VirtualAlloc (reserve)", len))
}

/// Windows cannot join a new reservation to an old one (each is released
/// on its own), so reservations never grow in place.
///
/// # Safety
/// None needed; this touches nothing.
pub(crate) unsafe fn extend_reservation(_end: *mut u8, _len: usize) -> bool {
    false
}

/// Commits `len` bytes at `p`: readable, writable, zero.
///
/// # Safety
/// `p .. p + len` must lie inside a reservation of ours.
pub(crate) unsafe fn commit(p: *mut u8, len: usize) -> Result<()> {
    // SAFETY: caller's contract; committing only changes that range.
    let q = unsafe { VirtualAlloc(p.cast(), len, MEM_COMMIT, PAGE_READWRITE) };
    if q.is_null() {
        return Err(Error::os("VirtualAlloc (commit)", len));
    }
    Ok(())
}

/// Gives the memory of `len` committed bytes at `p` back to the OS
/// (decommits them: no memory, no commit charge). Returns false: the range
/// is reserved only now, to be committed again before use (committing
/// again here could fail at the commit limit, with nowhere to say so).
///
/// # Safety
/// `p .. p + len` must be committed memory of ours that nothing needs.
#[must_use]
pub(crate) unsafe fn discard(p: *mut u8, len: usize) -> bool {
    if len > 0 {
        // SAFETY: caller's contract: decommitting only drops the pages.
        unsafe { VirtualFree(p.cast(), len, MEM_DECOMMIT) };
    }
    false
}

/// Releases the reservation at `p` (of `_len` bytes: Windows releases a
/// whole reservation at once).
///
/// # Safety
/// `p` must be the start of a reservation of ours that nothing points into.
pub(crate) unsafe fn unmap(p: *mut u8, _len: usize) {
    // SAFETY: caller's contract.
    let ok = unsafe { VirtualFree(p.cast(), 0, MEM_RELEASE) };
    debug_assert!(ok != 0, "VirtualFree failed: {}", last_error());
}

/// There is no `mremap`: growth that would move copies instead.
///
/// # Safety
/// None needed; this touches nothing.
pub(crate) unsafe fn remap_move(_p: *mut u8, _old: usize, _new: usize) -> Result<NonNull<u8>> {
    Err(Error::Unsupported {
        what: "moving a list reservation without a copy (no mremap on Windows)",
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::size_of;
    use windows_sys::Win32::System::Memory::{VirtualQuery, MEMORY_BASIC_INFORMATION, MEM_FREE};

    /// Wine has `wine_get_version` in its ntdll; Windows does not.
    fn under_wine() -> bool {
        // SAFETY: ntdll.dll is loaded in every process; names NUL-terminated.
        unsafe {
            let ntdll = GetModuleHandleA(c"ntdll.dll".as_ptr().cast());
            !ntdll.is_null() && GetProcAddress(ntdll, c"wine_get_version".as_ptr().cast()).is_some()
        }
    }

    fn check_mirror(p: NonNull<u8>, size: usize) {
        let p = p.as_ptr();
        // SAFETY: `p` is a fresh mirror of `size` bytes, used by no one
        // else; volatile, so that the compiler assumes nothing about the
        // two addresses of one byte.
        unsafe {
            p.add(size - 1).write_volatile(0xab);
            p.write_volatile(0x11);
            assert_eq!(
                p.add(2 * size - 1).read_volatile(),
                0xab,
                "the second half mirrors the first"
            );
            p.add(size + 5).write_volatile(0x77);
            assert_eq!(
                p.add(5).read_volatile(),
                0x77,
                "writes through the second half show in the first"
            );
            assert_eq!(p.add(size).read_volatile(), 0x11);
            unmap_mirror(p, size);
        }
    }

    /// True if nothing at all is mapped or reserved at `p`.
    fn is_free(p: usize) -> bool {
        let mut info = MEMORY_BASIC_INFORMATION::default();
        // SAFETY: VirtualQuery only fills `info` about our address space.
        let n = unsafe {
            VirtualQuery(
                p as *const c_void,
                &mut info,
                size_of::<MEMORY_BASIC_INFORMATION>(),
            )
        };
        n != 0 && info.State == MEM_FREE
    }

    /// Runs `f` with this thread's mirrors forced onto the reserve-free-map
    /// path and `steal` attempts losing their range; returns its result,
    /// the steals left and the addresses tried.
    fn forced<R>(steal: usize, f: impl FnOnce() -> R) -> (R, usize, Vec<usize>) {
        testing::FORCE_FALLBACK.set(true);
        testing::STEAL.set(steal);
        let r = f();
        testing::FORCE_FALLBACK.set(false);
        let left = testing::STEAL.replace(0);
        (r, left, testing::TRIED.take())
    }

    #[test]
    fn the_expected_method_maps_mirrors() {
        let size = page_size();
        check_mirror(map_mirror(size).unwrap(), size);
        let method = mirror_method().unwrap();
        println!(
            "mirror method: {method:?} (placeholder API present: {}, under wine: {})",
            placeholder_api().is_some(),
            under_wine()
        );
        if under_wine() {
            // Wine 8 refuses MEM_RESERVE_PLACEHOLDER with error 87.
            assert_eq!(method, Method::ReserveFreeMap);
        } else if placeholder_api().is_some() {
            assert_eq!(method, Method::Placeholder);
        }
        if let Ok(m) = std::env::var("PICORING_EXPECT_MIRROR") {
            assert_eq!(format!("{method:?}"), m, "PICORING_EXPECT_MIRROR");
        }
    }

    #[test]
    fn granularity_is_64k_and_sizes_are_64_bit() {
        assert_eq!(page_size(), 64 * 1024);
        assert_eq!(crate::page_size(), 64 * 1024);
        // A 5 GiB mirror (more than u32 can say): the section is 64-bit
        // sized; only a few bytes of it are touched.
        let size = 5usize << 30;
        match map_mirror(size) {
            Ok(p) => check_mirror(p, size),
            // A machine with a small pagefile may refuse the commit charge,
            // and only that.
            Err(e) => {
                assert!(e.is_out_of_memory(), "{e}");
                assert!(e.to_string().contains("CreateFileMappingW"), "{e}");
            }
        }
    }

    #[test]
    fn fallback_retries_when_another_thread_takes_the_range() {
        let size = 4 * page_size();
        let (r, left, tried) = forced(3, || map_mirror(size));
        assert_eq!(
            (left, tried.len()),
            (0, 3),
            "three attempts lost their range"
        );
        let p = r.unwrap();
        check_mirror(p, size);
        // What the lost attempts mapped was given back (unless the
        // successful attempt reused the range).
        for at in tried {
            if at != p.as_ptr() as usize {
                assert!(is_free(at), "an attempt's view at {at:#x} was left mapped");
            }
        }
    }

    #[test]
    fn fallback_gives_up_after_a_bounded_number_of_attempts() {
        let size = 4 * page_size();
        let (r, left, tried) = forced(FALLBACK_ATTEMPTS, || map_mirror(size));
        assert_eq!(
            (left, tried.len()),
            (0, FALLBACK_ATTEMPTS),
            "every attempt was made"
        );
        let e = r.expect_err("every attempt lost its range");
        let msg = e.to_string();
        assert!(msg.contains("MapViewOfFileEx"), "{msg}");
        assert!(msg.contains(&size.to_string()), "{msg}");
        for at in tried {
            assert!(is_free(at), "an attempt's view at {at:#x} was left mapped");
        }
        // And the next mirror works again.
        let (r, _, _) = forced(0, || map_mirror(size));
        check_mirror(r.unwrap(), size);
    }

    #[test]
    fn forced_fallback_leaves_the_method_alone() {
        let size = page_size();
        check_mirror(map_mirror(size).unwrap(), size);
        let before = mirror_method();
        let (r, _, _) = forced(0, || map_mirror(size));
        check_mirror(r.unwrap(), size);
        assert_eq!(mirror_method(), before);
    }

    #[test]
    fn threads_mapping_at_once_all_get_mirrors() {
        let threads: Vec<_> = (0..8)
            .map(|_| {
                std::thread::spawn(|| {
                    (0..200)
                        .map(|_| {
                            forced(0, || map_mirror(page_size()))
                                .0
                                .map(|p| check_mirror(p, page_size()))
                        })
                        .filter(Result::is_err)
                        .count()
                })
            })
            .collect();
        let failed: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(failed, 0, "mirrors refused while other threads mapped");
    }

    #[test]
    fn lists_reserve_commit_and_discard() {
        let len = 16 * page_size();
        let p = reserve(len).unwrap();
        // SAFETY: the reservation is ours.
        unsafe {
            commit(p.as_ptr(), 2 * page_size()).unwrap();
            *p.as_ptr() = 9;
            assert!(!discard(p.as_ptr(), 2 * page_size()), "decommitted");
            commit(p.as_ptr(), page_size()).unwrap();
            assert_eq!(*p.as_ptr(), 0, "discarded bytes read as zeros");
            *p.as_ptr() = 1;
            unmap(p.as_ptr(), len);
        }
        let e = reserve(1usize << 62).expect_err("no such address space");
        assert!(e.to_string().contains(&(1usize << 62).to_string()), "{e}");
    }
}
