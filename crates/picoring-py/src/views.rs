//! Writable views: the open grant of a ring or queue, handed to Python as
//! a `memoryview` of a small helper object that owns the grant's token.
//!
//! The helper ends the grant's export when its one memoryview is released
//! (or when it is dropped without ever having been exported): the core
//! then abandons the grant if it was not published, or only unpins it.

use std::ffi::c_int;
use std::sync::Mutex;

use picoring::{GrantExport, ReadExport};
use pyo3::exceptions::PyBufferError;
use pyo3::prelude::*;
use pyo3::types::PyMemoryView;

use crate::args;
use crate::ffi::{self, Class, Exported, ItemLayout, Method, Slf, Slots, TypeCell};

/// Gives a grant export back to the object it came from.
pub(crate) type GiveBack = fn(&Bound<'_, PyAny>, GrantExport);
/// Tells whether a grant export is still the open grant of its object
/// (`None`: busy now). Must never wait.
pub(crate) type IsOpen = fn(&Bound<'_, PyAny>, &GrantExport) -> Option<bool>;

/// The object behind a writable view (`memoryview.obj`).
pub(crate) struct WritableView {
    owner: ffi::Owned,
    give_back: GiveBack,
    is_open: IsOpen,
    /// The token while the export is live.
    token: Mutex<Option<GrantExport>>,
    /// Where the grant starts and how long it is (copied from the token).
    ptr: usize,
    len: usize,
    /// The owner's class name, for `repr`.
    of: &'static str,
    exported: std::sync::atomic::AtomicBool,
    /// The items it shows, for a typed ring (`None`: bytes).
    layout: Option<ItemLayout>,
}

static TYPE: TypeCell = TypeCell::new();

impl Class for WritableView {
    const NAME: &'static std::ffi::CStr = c"picoring._picoring.WritableView";
    const DOC: &'static std::ffi::CStr =
        c"The free space a ring or queue handed out for writing in place \
        (the object behind the memoryview of get_writable_view() and reserve()). Publishing ends \
        the grant; releasing the memoryview unpublished abandons it.";
    type New = args::NoParams;
    type Export = ();
    const NEW: Option<fn(Python<'_>, &ffi::Args<'_, '_>) -> PyResult<Self>> = None;
    const SLOTS: Slots<Self> = Slots {
        repr: Some(repr),
        buffer: Some(ffi::Buffer { export, release }),
        ..Slots::NONE
    };
    fn cell() -> &'static TypeCell {
        &TYPE
    }
    fn methods() -> Vec<Method> {
        Vec::new()
    }
    fn on_dealloc(s: Slf<'_, '_, Self>) {
        // Never exported (an error on the way): give the grant back now.
        give_back(&s, s.py());
    }
    fn layout(&self) -> Option<&ItemLayout> {
        self.layout.as_ref()
    }
}

fn repr(s: Slf<'_, '_, WritableView>) -> String {
    // The token's lock is held only while the state is looked at without
    // waiting: a release (which takes the token's lock with the GIL held)
    // never waits for a thread that gave the GIL up holding it.
    let token = s.token.lock().unwrap_or_else(|p| p.into_inner());
    let state = match token.as_ref().map(|t| (s.is_open)(s.owner.bind(s.py()), t)) {
        Some(Some(true)) => "open",
        Some(Some(false)) => "published or abandoned",
        Some(None) => "busy",
        None => "released",
    };
    format!("<WritableView of {}: {} bytes, {state}>", s.of, s.len)
}

fn export(s: Slf<'_, '_, WritableView>, _flags: c_int) -> PyResult<Exported<()>> {
    if s.exported.swap(true, std::sync::atomic::Ordering::AcqRel) {
        return Err(PyBufferError::new_err(
            "this writable view was already handed out; ask the ring for a new one",
        ));
    }
    Ok(Exported {
        ptr: s.ptr as *mut u8,
        len: s.len,
        readonly: false,
        token: (),
    })
}

fn release(s: Slf<'_, '_, WritableView>, (): ()) {
    give_back(&s, s.py());
}

fn give_back(v: &WritableView, py: Python<'_>) {
    let token = v.token.lock().unwrap_or_else(|p| p.into_inner()).take();
    if let Some(t) = token {
        (v.give_back)(v.owner.bind(py), t);
    }
}

/// A writable memoryview of the grant `token` of `owner`.
pub(crate) fn writable_view<'py>(
    owner: &Bound<'py, PyAny>,
    of: &'static str,
    token: GrantExport,
    back: GiveBack,
    is_open: IsOpen,
    layout: Option<ItemLayout>,
) -> PyResult<Bound<'py, PyMemoryView>> {
    let view = WritableView {
        layout,
        owner: ffi::Owned::new(owner),
        give_back: back,
        is_open,
        ptr: token.as_mut_ptr() as usize,
        len: token.len(),
        token: Mutex::new(Some(token)),
        of,
        exported: std::sync::atomic::AtomicBool::new(false),
    };
    let obj = match ffi::new_instance(owner.py(), view) {
        Ok(obj) => obj,
        Err((e, view)) => {
            give_back(&view, owner.py());
            return Err(e);
        }
    };
    ffi::memoryview(&obj)
}

/// Gives a readable export back to the object it came from.
pub(crate) type GiveBackRead = fn(&Bound<'_, PyAny>, ReadExport);

/// The object behind a read-only view of part of a typed ring (`latest(n)`,
/// one item): it holds the export's token, which pins the items, and gives
/// it back when its memoryview is released.
pub(crate) struct ReadView {
    owner: ffi::Owned,
    give_back: GiveBackRead,
    token: Mutex<Option<ReadExport>>,
    ptr: usize,
    len: usize,
    layout: ItemLayout,
    exported: std::sync::atomic::AtomicBool,
}

static READ_TYPE: TypeCell = TypeCell::new();

impl Class for ReadView {
    const NAME: &'static std::ffi::CStr = c"picoring._picoring.ReadView";
    const DOC: &'static std::ffi::CStr = c"Items of a typed ring shown read-only (the object \
        behind the memoryview of latest(n) and of ring[i]); they never change while it is alive.";
    type New = args::NoParams;
    type Export = ();
    const NEW: Option<fn(Python<'_>, &ffi::Args<'_, '_>) -> PyResult<Self>> = None;
    const SLOTS: Slots<Self> = Slots {
        buffer: Some(ffi::Buffer {
            export: read_export,
            release: read_release,
        }),
        ..Slots::NONE
    };
    fn cell() -> &'static TypeCell {
        &READ_TYPE
    }
    fn methods() -> Vec<Method> {
        Vec::new()
    }
    fn on_dealloc(s: Slf<'_, '_, Self>) {
        read_give_back(&s, s.py());
    }
    fn layout(&self) -> Option<&ItemLayout> {
        Some(&self.layout)
    }
}

fn read_export(s: Slf<'_, '_, ReadView>, _flags: c_int) -> PyResult<Exported<()>> {
    if s.exported.swap(true, std::sync::atomic::Ordering::AcqRel) {
        return Err(PyBufferError::new_err("this view was already handed out"));
    }
    Ok(Exported {
        ptr: s.ptr as *mut u8,
        len: s.len,
        readonly: true,
        token: (),
    })
}

fn read_release(s: Slf<'_, '_, ReadView>, (): ()) {
    read_give_back(&s, s.py());
}

fn read_give_back(v: &ReadView, py: Python<'_>) {
    let token = v.token.lock().unwrap_or_else(|p| p.into_inner()).take();
    if let Some(t) = token {
        (v.give_back)(v.owner.bind(py), t);
    }
}

/// A read-only memoryview of `len` bytes at `ptr`, inside the export
/// `token` of `owner`, described by `layout`.
pub(crate) fn read_view<'py>(
    owner: &Bound<'py, PyAny>,
    token: ReadExport,
    ptr: *const u8,
    len: usize,
    layout: ItemLayout,
    back: GiveBackRead,
) -> PyResult<Bound<'py, PyMemoryView>> {
    let view = ReadView {
        owner: ffi::Owned::new(owner),
        give_back: back,
        token: Mutex::new(Some(token)),
        ptr: ptr as usize,
        len,
        layout,
        exported: std::sync::atomic::AtomicBool::new(false),
    };
    let obj = match ffi::new_instance(owner.py(), view) {
        Ok(obj) => obj,
        Err((e, view)) => {
            read_give_back(&view, owner.py());
            return Err(e);
        }
    };
    ffi::memoryview(&obj)
}
