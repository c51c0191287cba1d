//! The C API work that PyO3 has no safe interface for, and the only module
//! of the bindings with `unsafe` code:
//!
//! * **methods**: CPython method descriptors (`METH_NOARGS`,
//!   `METH_FASTCALL | METH_KEYWORDS`) whose trampolines call a safe Rust
//!   function of the class, with nothing else on the way: a method call
//!   costs about what a C builtin's does. Each method is a zero-sized fn
//!   item (or non-capturing closure) that the trampoline is generic over.
//! * **buffers**: filling a `Py_buffer` for our own exports, reading the
//!   token back at release, reading any C-contiguous buffer a caller
//!   passes (without a copy), making a `memoryview` of an exporter.
//! * **bytes**: a new `bytes` filled in place, without zeroing it first.
//!
//! Everything about memory and positions stays in the core crate.

use std::collections::HashMap;
use std::ffi::{c_int, c_void, CStr};
use std::mem::MaybeUninit;
use std::panic::AssertUnwindSafe;
use std::ptr;
use std::sync::{Mutex, OnceLock};

use picoring::{ListExport, ReadExport};
use pyo3::exceptions::{PyBufferError, PyTypeError};
use pyo3::ffi;
use pyo3::panic::PanicException;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyInt, PyMemoryView, PyType};

// --- classes ------------------------------------------------------------------

/// An instance of a [`Class`]: the Python object and the Rust value in it.
pub(crate) struct Slf<'a, 'py, T> {
    obj: &'a Bound<'py, PyAny>,
    value: &'a T,
}

impl<'a, 'py, T> Clone for Slf<'a, 'py, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Slf<'_, '_, T> {}

impl<'a, 'py, T> Slf<'a, 'py, T> {
    /// The Python object.
    pub(crate) fn obj(self) -> &'a Bound<'py, PyAny> {
        self.obj
    }

    /// The GIL token.
    pub(crate) fn py(self) -> Python<'py> {
        self.obj.py()
    }
}

impl<T> std::ops::Deref for Slf<'_, '_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.value
    }
}

/// The layout of an instance: the object header, then the value.
#[repr(C)]
struct Obj<T> {
    head: ffi::PyObject,
    value: T,
}

/// Where a class keeps its type object (one `static` per class).
pub(crate) struct TypeCell(OnceLock<Py<PyType>>);

impl TypeCell {
    pub(crate) const fn new() -> Self {
        TypeCell(OnceLock::new())
    }
}

/// `obj[key]`.
pub(crate) type GetItem<T> = for<'a, 'py> fn(Slf<'a, 'py, T>, &'a Bound<'py, PyAny>) -> Ret<'py>;
/// `obj[key] = value`, or `del obj[key]` for a `None` value.
pub(crate) type SetItem<T> = for<'a, 'py> fn(
    Slf<'a, 'py, T>,
    &'a Bound<'py, PyAny>,
    Option<&'a Bound<'py, PyAny>>,
) -> PyResult<()>;
/// A read-only attribute: its name, its getter, its doc.
pub(crate) type Getter<T> = (
    &'static CStr,
    for<'a, 'py> fn(Slf<'a, 'py, T>) -> Ret<'py>,
    &'static CStr,
);
/// Makes an export of the buffer protocol for the given flags.
pub(crate) type MakeExport<T> =
    fn(Slf<'_, '_, T>, c_int) -> PyResult<Exported<<T as Class>::Export>>;

/// The optional slots of a class; `None` leaves the slot out.
pub(crate) struct Slots<T: Class> {
    /// `len(obj)`.
    pub len: Option<fn(Slf<'_, '_, T>) -> PyResult<usize>>,
    /// `bool(obj)`.
    pub bool: Option<fn(Slf<'_, '_, T>) -> PyResult<bool>>,
    /// `repr(obj)`.
    pub repr: Option<fn(Slf<'_, '_, T>) -> String>,
    /// `obj[key]`.
    pub getitem: Option<GetItem<T>>,
    /// `obj[key] = value`; `None` for `del obj[key]`.
    pub setitem: Option<SetItem<T>>,
    /// `iter(obj)`.
    pub iter: Option<for<'a, 'py> fn(Slf<'a, 'py, T>) -> Ret<'py>>,
    /// The buffer protocol: what an export shows, and its release.
    pub buffer: Option<Buffer<T>>,
    /// Read-only attributes: name, getter, doc.
    pub getters: &'static [Getter<T>],
}

impl<T: Class> Slots<T> {
    /// No optional slot.
    pub(crate) const NONE: Slots<T> = Slots {
        len: None,
        bool: None,
        repr: None,
        getitem: None,
        setitem: None,
        iter: None,
        buffer: None,
        getters: &[],
    };
}

/// How a class exports its memory through the buffer protocol.
pub(crate) struct Buffer<T: Class> {
    /// Makes an export for a `bf_getbuffer` call with these flags.
    pub export: MakeExport<T>,
    /// Ends an export (called once per export, with its token).
    pub release: fn(Slf<'_, '_, T>, T::Export),
}

/// One export: the memory it shows and the token that ends it.
pub(crate) struct Exported<E> {
    pub ptr: *mut u8,
    pub len: usize,
    pub readonly: bool,
    pub token: E,
}

/// A token that fits in `Py_buffer.internal`.
pub(crate) trait RawToken: Sized {
    /// The token as one word.
    fn into_raw(self) -> usize;
    /// The token back from its number.
    ///
    /// # Safety
    /// `raw` must come from `into_raw`, and be turned back once.
    unsafe fn from_raw(raw: usize) -> Self;
}

impl RawToken for ReadExport {
    fn into_raw(self) -> usize {
        ReadExport::into_raw(self)
    }
    unsafe fn from_raw(raw: usize) -> Self {
        // SAFETY: caller's contract, which is `ReadExport::from_raw`'s.
        unsafe { ReadExport::from_raw(raw) }
    }
}

impl RawToken for ListExport {
    fn into_raw(self) -> usize {
        ListExport::into_raw(self)
    }
    unsafe fn from_raw(raw: usize) -> Self {
        // SAFETY: caller's contract, which is `ListExport::from_raw`'s.
        unsafe { ListExport::from_raw(raw) }
    }
}

/// A boxed token: any value, kept on the heap while exported.
impl<T> RawToken for Box<T> {
    fn into_raw(self) -> usize {
        Box::into_raw(self) as usize
    }
    unsafe fn from_raw(raw: usize) -> Self {
        // SAFETY: caller's contract: `raw` came from `into_raw`, once.
        unsafe { Box::from_raw(raw as *mut T) }
    }
}

/// Takes ownership of the descriptor `fd`, which the caller was handed
/// (by `DupFd.detach()`: a descriptor of this process that nothing else
/// will close). Refuses a negative one.
#[cfg(target_os = "linux")]
pub(crate) fn adopt_fd(fd: i32) -> PyResult<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    if fd < 0 {
        return Err(pyo3::exceptions::PyValueError::new_err(format!(
            "a file descriptor must be >= 0, got {fd}"
        )));
    }
    // SAFETY: the caller owns `fd` and hands it over (see above); an
    // `OwnedFd` closes it once, when dropped.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}

/// No token: the class keeps what it needs itself.
impl RawToken for () {
    fn into_raw(self) -> usize {
        0
    }
    unsafe fn from_raw(_raw: usize) -> Self {}
}

/// A Python class whose instances hold a `Self`.
pub(crate) trait Class: Sized + Send + Sync + 'static {
    /// `module.Name`.
    const NAME: &'static CStr;
    /// The docstring, starting with the text signature of the constructor
    /// (`Name(arg)\n--\n\n`).
    const DOC: &'static CStr;
    /// The constructor's parameters.
    type New: Params;
    /// What ends an export of the buffer protocol.
    type Export: RawToken;
    /// Builds a value from the constructor's arguments (`None` when no
    /// constructor is offered: the class is only made from Rust).
    const NEW: Option<fn(Python<'_>, &Args<'_, '_>) -> PyResult<Self>>;
    /// The optional slots.
    const SLOTS: Slots<Self>;
    /// Where the type object is kept.
    fn cell() -> &'static TypeCell;
    /// The methods.
    fn methods() -> Vec<Method>;
    /// Called with the GIL, just before an instance's value is dropped.
    fn on_dealloc(_s: Slf<'_, '_, Self>) {}
    /// How the buffer protocol describes the exported items, for classes
    /// of typed items: fixed for an object's lifetime. `None` (the default)
    /// exports unsigned bytes.
    fn layout(&self) -> Option<&ItemLayout> {
        None
    }
}

/// Most dimensions of an item (the export adds one, for the items, within
/// the buffer protocol's 64).
pub(crate) const MAX_ITEM_NDIM: usize = 64;

/// What one item of a typed export is: `item_shape` elements of `format`
/// (a buffer-protocol format string, `elem_size` bytes each).
#[derive(Debug, Clone)]
pub(crate) struct ItemLayout {
    pub format: std::ffi::CString,
    pub elem_size: usize,
    pub item_shape: Vec<usize>,
    /// True: an export is `(items, *item_shape)`; false: one item,
    /// `item_shape` (a scalar for `()`).
    pub items_dim: bool,
}

impl ItemLayout {
    /// Bytes per item.
    pub(crate) fn item_size(&self) -> usize {
        self.item_shape.iter().product::<usize>() * self.elem_size
    }
}

/// What `Py_buffer.internal` points to for a typed export: the token, and
/// the shape and strides the view points into.
struct TypedInternal {
    token: usize,
    dims: Vec<ffi::Py_ssize_t>,
}

/// The type object of `T`, made by [`add_class`].
pub(crate) fn type_of<T: Class>(py: Python<'_>) -> &Bound<'_, PyType> {
    T::cell()
        .0
        .get()
        .expect("the class is created at module import")
        .bind(py)
}

/// The value inside an instance of `T`.
///
/// # Safety
/// `obj` must be a live instance of `T` (the types are final, so its type
/// is exactly `T`'s).
unsafe fn value_of<'a, T>(obj: *mut ffi::PyObject) -> &'a T {
    // SAFETY: caller's contract: `obj` points to an `Obj<T>` whose value
    // was written by `tp_new` and lives until `tp_dealloc`.
    unsafe { &(*obj.cast::<Obj<T>>()).value }
}

/// `Slf` for the object `obj` (with the GIL held).
///
/// # Safety
/// As [`value_of`]; `obj` must outlive `'a` (it is borrowed from the call).
unsafe fn slf<'a, 'py, T>(py: Python<'py>, obj: &'a *mut ffi::PyObject) -> Slf<'a, 'py, T> {
    Slf {
        // SAFETY: a live object borrowed for the call.
        obj: unsafe { Bound::ref_from_ptr(py, obj) },
        // SAFETY: caller's contract.
        value: unsafe { value_of(*obj) },
    }
}

/// The value inside `obj`, if it is an instance of `T`.
pub(crate) fn value<'a, T: Class>(obj: &'a Bound<'_, PyAny>) -> Option<&'a T> {
    let ty = T::cell().0.get()?;
    // SAFETY: an object whose type is exactly `T`'s (the types are final)
    // is an `Obj<T>`; it lives while `obj` borrows it.
    (obj.get_type().as_ptr() == ty.as_ptr()).then(|| unsafe { value_of(obj.as_ptr()) })
}

/// A new instance of `T` holding `value`; the value comes back with the
/// error if the object cannot be made.
pub(crate) fn new_instance<'py, T: Class>(
    py: Python<'py>,
    value: T,
) -> Result<Bound<'py, PyAny>, (PyErr, T)> {
    let ty = type_of::<T>(py);
    // SAFETY: `tp_alloc` of a live type; it returns a new, zeroed object of
    // the type's basic size (that of `Obj<T>`), or NULL with an exception;
    // the value is written into place once.
    unsafe {
        let alloc: ffi::allocfunc =
            std::mem::transmute(ffi::PyType_GetSlot(ty.as_type_ptr(), ffi::Py_tp_alloc));
        match Bound::from_owned_ptr_or_err(py, alloc(ty.as_type_ptr(), 0)) {
            Ok(obj) => {
                ptr::write(&mut (*obj.as_ptr().cast::<Obj<T>>()).value, value);
                Ok(obj)
            }
            Err(e) => Err((e, value)),
        }
    }
}

/// Creates the type of `T` and adds it to `module`.
pub(crate) fn add_class<T: Class>(module: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = module.py();
    let mut slots: Vec<ffi::PyType_Slot> = Vec::new();
    let mut slot = |slot: c_int, pfunc: *mut c_void| slots.push(ffi::PyType_Slot { slot, pfunc });
    slot(ffi::Py_tp_doc, T::DOC.as_ptr().cast_mut().cast());
    slot(ffi::Py_tp_dealloc, tp_dealloc::<T> as *mut c_void);
    slot(
        ffi::Py_tp_new,
        if T::NEW.is_some() {
            tp_new::<T> as *mut c_void
        } else {
            no_new as *mut c_void
        },
    );
    let s = &T::SLOTS;
    if s.len.is_some() {
        slot(ffi::Py_mp_length, mp_length::<T> as *mut c_void);
        slot(ffi::Py_sq_length, mp_length::<T> as *mut c_void);
    }
    if s.bool.is_some() {
        slot(ffi::Py_nb_bool, nb_bool::<T> as *mut c_void);
    }
    if s.repr.is_some() {
        slot(ffi::Py_tp_repr, tp_repr::<T> as *mut c_void);
    }
    if s.getitem.is_some() {
        slot(ffi::Py_mp_subscript, mp_subscript::<T> as *mut c_void);
    }
    if s.setitem.is_some() {
        slot(
            ffi::Py_mp_ass_subscript,
            mp_ass_subscript::<T> as *mut c_void,
        );
    }
    if s.iter.is_some() {
        slot(ffi::Py_tp_iter, tp_iter::<T> as *mut c_void);
    }
    if s.buffer.is_some() {
        slot(ffi::Py_bf_getbuffer, bf_getbuffer::<T> as *mut c_void);
        slot(
            ffi::Py_bf_releasebuffer,
            bf_releasebuffer::<T> as *mut c_void,
        );
    }
    // CPython keeps pointers to method and getter definitions for as long
    // as the type lives: for the whole process.
    let mut methods: Vec<ffi::PyMethodDef> = T::methods().into_iter().map(|m| m.def).collect();
    methods.push(ffi::PyMethodDef::zeroed());
    slot(
        ffi::Py_tp_methods,
        Box::leak(methods.into_boxed_slice()).as_mut_ptr().cast(),
    );
    if !s.getters.is_empty() {
        let mut defs: Vec<ffi::PyGetSetDef> = s
            .getters
            .iter()
            .enumerate()
            .map(|(i, (name, _, doc))| ffi::PyGetSetDef {
                name: name.as_ptr(),
                get: Some(getter::<T>),
                set: None,
                doc: doc.as_ptr(),
                closure: i as *mut c_void,
            })
            .collect();
        defs.push(ffi::PyGetSetDef {
            name: ptr::null(),
            get: None,
            set: None,
            doc: ptr::null(),
            closure: ptr::null_mut(),
        });
        slot(
            ffi::Py_tp_getset,
            Box::leak(defs.into_boxed_slice()).as_mut_ptr().cast(),
        );
    }
    slots.push(ffi::PyType_Slot {
        slot: 0,
        pfunc: ptr::null_mut(),
    });
    let slots = Box::leak(slots.into_boxed_slice());
    let mut spec = ffi::PyType_Spec {
        name: T::NAME.as_ptr(),
        basicsize: std::mem::size_of::<Obj<T>>() as c_int,
        itemsize: 0,
        // Final (no BASETYPE) and immutable, like the builtin types.
        flags: (ffi::Py_TPFLAGS_DEFAULT | ffi::Py_TPFLAGS_IMMUTABLETYPE) as _,
        slots: slots.as_mut_ptr(),
    };
    // SAFETY: a complete spec whose slots have the signatures CPython
    // expects for them; everything it points to lives forever.
    let ty = unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyType_FromSpec(&mut spec))? };
    let ty = ty.cast_into::<PyType>()?;
    let _ = T::cell().0.set(ty.clone().unbind());
    let name = T::NAME.to_str().expect("ASCII");
    module.add(name.rsplit('.').next().expect("a name"), ty)
}

/// Runs a slot body: a panic becomes `PanicException`, an error is set as
/// the current exception; returns `fail` then.
#[inline(always)]
fn guard<R>(py: Python<'_>, fail: R, body: impl FnOnce() -> PyResult<R>) -> R {
    match std::panic::catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            raise(py, e);
            fail
        }
        Err(payload) => {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a Rust panic in picoring".to_string());
            raise(py, PanicException::new_err(msg));
            fail
        }
    }
}

/// A method body's result as a new reference, or NULL with the error set.
#[inline(always)]
fn finish<'py>(py: Python<'py>, body: impl FnOnce() -> Ret<'py>) -> *mut ffi::PyObject {
    guard(py, ptr::null_mut(), || body().map(Bound::into_ptr))
}

unsafe extern "C" fn tp_new<T: Class>(
    subtype: *mut ffi::PyTypeObject,
    args: *mut ffi::PyObject,
    kwargs: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls slots with the GIL held.
    let py = unsafe { Python::assume_attached() };
    // SAFETY: `args` is a tuple and `kwargs` a dict or NULL, as CPython
    // passes them to `tp_new`.
    let slots = match unsafe { parse_tuple_dict::<T::New>(args, kwargs) } {
        Ok(s) => s,
        Err(msg) => {
            let name = T::NAME.to_string_lossy();
            let name = name.rsplit('.').next().unwrap_or_default().to_string();
            raise(py, PyTypeError::new_err(format!("{name}() {msg}")));
            return ptr::null_mut();
        }
    };
    let given = bind_args(py, &slots);
    let new = T::NEW.expect("tp_new is only set with a constructor");
    guard(py, ptr::null_mut(), || {
        let value = new(py, &given)?;
        // SAFETY: `subtype` is `T`'s type (the types are final); its
        // `tp_alloc` returns a new zeroed object of `Obj<T>`'s size, or NULL
        // with an exception set; the value is written into place once.
        unsafe {
            let alloc: ffi::allocfunc =
                std::mem::transmute(ffi::PyType_GetSlot(subtype, ffi::Py_tp_alloc));
            let obj = alloc(subtype, 0);
            if obj.is_null() {
                return Err(PyErr::fetch(py));
            }
            ptr::write(&mut (*obj.cast::<Obj<T>>()).value, value);
            Ok(obj)
        }
    })
}

unsafe extern "C" fn no_new(
    subtype: *mut ffi::PyTypeObject,
    _args: *mut ffi::PyObject,
    _kwargs: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls slots with the GIL held.
    let py = unsafe { Python::assume_attached() };
    // SAFETY: `subtype` is a live type object.
    let ptr = subtype.cast::<ffi::PyObject>();
    // SAFETY: a live type object, borrowed for the call.
    let ty = unsafe { Bound::ref_from_ptr(py, &ptr) };
    let name = match ty.getattr("__name__") {
        Ok(n) => n.to_string(),
        Err(e) => {
            discard(py, e);
            String::new()
        }
    };
    raise(
        py,
        PyTypeError::new_err(format!("cannot create '{name}' instances")),
    );
    ptr::null_mut()
}

unsafe extern "C" fn tp_dealloc<T: Class>(obj: *mut ffi::PyObject) {
    // The value is dropped once, then the memory is freed with the type's
    // `tp_free`, then the reference the instance held on its heap type.
    // SAFETY: CPython deallocates an instance of `T` (refcount 0, GIL
    // held), once.
    unsafe {
        let ty = ffi::Py_TYPE(obj);
        let py = Python::assume_attached();
        guard(py, (), || {
            T::on_dealloc(slf::<T>(py, &obj));
            ptr::drop_in_place(&mut (*obj.cast::<Obj<T>>()).value);
            Ok(())
        });
        let free: ffi::freefunc = std::mem::transmute(ffi::PyType_GetSlot(ty, ffi::Py_tp_free));
        free(obj.cast());
        ffi::Py_DECREF(ty.cast());
    }
}

unsafe extern "C" fn mp_length<T: Class>(obj: *mut ffi::PyObject) -> ffi::Py_ssize_t {
    // SAFETY: CPython calls slots with the GIL held, on an instance of `T`.
    let (py, s) = unsafe {
        (
            Python::assume_attached(),
            slf::<T>(Python::assume_attached(), &obj),
        )
    };
    let f = T::SLOTS.len.expect("set with the slot");
    guard(py, -1, || f(s).map(|n| n as ffi::Py_ssize_t))
}

unsafe extern "C" fn nb_bool<T: Class>(obj: *mut ffi::PyObject) -> c_int {
    // SAFETY: as in `mp_length`.
    let (py, s) = unsafe {
        (
            Python::assume_attached(),
            slf::<T>(Python::assume_attached(), &obj),
        )
    };
    let f = T::SLOTS.bool.expect("set with the slot");
    guard(py, -1, || f(s).map(c_int::from))
}

unsafe extern "C" fn tp_repr<T: Class>(obj: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: as in `mp_length`.
    let (py, s) = unsafe {
        (
            Python::assume_attached(),
            slf::<T>(Python::assume_attached(), &obj),
        )
    };
    let f = T::SLOTS.repr.expect("set with the slot");
    finish(py, || Ok(pyo3::types::PyString::new(py, &f(s)).into_any()))
}

unsafe extern "C" fn mp_subscript<T: Class>(
    obj: *mut ffi::PyObject,
    key: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: as in `mp_length`; `key` is a live object borrowed for the call.
    let (py, s, key) = unsafe {
        let py = Python::assume_attached();
        (py, slf::<T>(py, &obj), Bound::ref_from_ptr(py, &key))
    };
    let f = T::SLOTS.getitem.expect("set with the slot");
    finish(py, || f(s, key))
}

unsafe extern "C" fn mp_ass_subscript<T: Class>(
    obj: *mut ffi::PyObject,
    key: *mut ffi::PyObject,
    value: *mut ffi::PyObject,
) -> c_int {
    // SAFETY: as in `mp_subscript`; `value` is NULL for a deletion.
    let (py, s, key, value) = unsafe {
        let py = Python::assume_attached();
        let value = (!value.is_null()).then(|| Bound::ref_from_ptr(py, &value));
        (py, slf::<T>(py, &obj), Bound::ref_from_ptr(py, &key), value)
    };
    let f = T::SLOTS.setitem.expect("set with the slot");
    guard(py, -1, || f(s, key, value).map(|()| 0))
}

unsafe extern "C" fn tp_iter<T: Class>(obj: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: as in `mp_length`.
    let (py, s) = unsafe {
        (
            Python::assume_attached(),
            slf::<T>(Python::assume_attached(), &obj),
        )
    };
    let f = T::SLOTS.iter.expect("set with the slot");
    finish(py, || f(s))
}

unsafe extern "C" fn getter<T: Class>(
    obj: *mut ffi::PyObject,
    closure: *mut c_void,
) -> *mut ffi::PyObject {
    // SAFETY: as in `mp_length`; `closure` is the getter's index, set by
    // `add_class`.
    let (py, s) = unsafe {
        (
            Python::assume_attached(),
            slf::<T>(Python::assume_attached(), &obj),
        )
    };
    let (_, f, _) = T::SLOTS.getters[closure as usize];
    finish(py, || f(s))
}

unsafe extern "C" fn bf_getbuffer<T: Class>(
    obj: *mut ffi::PyObject,
    view: *mut ffi::Py_buffer,
    flags: c_int,
) -> c_int {
    // SAFETY: as in `mp_length`; `view` is the buffer CPython asks us to fill.
    let (py, s) = unsafe {
        (
            Python::assume_attached(),
            slf::<T>(Python::assume_attached(), &obj),
        )
    };
    let b = T::SLOTS.buffer.as_ref().expect("set with the slot");
    let r = guard(py, -1, || {
        let ex = (b.export)(s, flags)?;
        let mut info = ExportInfo {
            ptr: ex.ptr,
            len: ex.len,
            readonly: ex.readonly,
            token: ex.token.into_raw(),
            typed: None,
        };
        if let Some(layout) = s.layout() {
            info.typed = Some(typed_internal(layout, info.len, info.token));
        }
        // SAFETY: `view` is CPython's; the class keeps the memory valid
        // until the release below or in `bf_releasebuffer`.
        if let Err(e) = unsafe { fill_buffer(view, flags, s.obj, &mut info) } {
            // SAFETY: the number just made, turned back once (the view
            // was not filled: CPython will not release it).
            (b.release)(s, unsafe { T::Export::from_raw(info.token) });
            if let Some((_, internal)) = info.typed {
                // SAFETY: the box just made by `typed_internal`; the view
                // was not filled, so nothing else frees it.
                drop(unsafe { Box::from_raw(internal) });
            }
            return Err(e);
        }
        Ok(0)
    });
    if r != 0 && !view.is_null() {
        // SAFETY: the C API asks `view->obj` to be NULL on failure; `view`
        // is CPython's, and was not filled.
        unsafe { (*view).obj = ptr::null_mut() };
    }
    r
}

unsafe extern "C" fn bf_releasebuffer<T: Class>(
    obj: *mut ffi::PyObject,
    view: *mut ffi::Py_buffer,
) {
    // For a typed export, `internal` is the box `bf_getbuffer` made (an
    // object's layout never changes), freed here, once.
    // SAFETY: as in `mp_length`; CPython hands back, once, a view that
    // `bf_getbuffer` filled: the token stored in it is turned back once.
    let (py, s, token) = unsafe {
        let py = Python::assume_attached();
        let s = slf::<T>(py, &obj);
        let raw = if s.layout().is_some() {
            Box::from_raw((*view).internal.cast::<TypedInternal>()).token
        } else {
            (*view).internal as usize
        };
        (py, s, T::Export::from_raw(raw))
    };
    let b = T::SLOTS.buffer.as_ref().expect("set with the slot");
    guard(py, (), || {
        (b.release)(s, token);
        Ok(())
    });
}

// --- methods ------------------------------------------------------------------

/// Most parameters a method takes.
pub(crate) const MAX_ARGS: usize = 3;

/// The arguments of a call, in the order of the method's parameters
/// (positional or by keyword); `None` for those not given.
pub(crate) type Args<'a, 'py> = [Option<&'a Bound<'py, PyAny>>; MAX_ARGS];

/// What a method returns: a new reference.
pub(crate) type Ret<'py> = PyResult<Bound<'py, PyAny>>;

/// A method's parameters, by name (all positional-or-keyword), the first
/// `REQUIRED` of them required.
pub(crate) trait Params {
    /// Parameter names.
    const NAMES: &'static [&'static CStr];
    /// How many of them must be given.
    const REQUIRED: usize;
}

/// A method definition, for [`Class::methods`].
pub(crate) struct Method {
    def: ffi::PyMethodDef,
}

/// Returns a zero-sized `F`: the method a trampoline calls. Callers pass
/// fn items or closures capturing nothing (the only ways `noargs` and
/// `with_args` are used, in this crate), which have no bytes and no
/// invariant, so a value can be made from nothing. The assertion refuses
/// anything with bytes at compile time; the `'static` bound of those
/// functions refuses closures capturing a proof token with a lifetime
/// (a `Python<'py>`, say). This is not a general API: a zero-sized type
/// whose very existence proves something must never be passed here.
fn conjure<F: Copy + 'static>() -> F {
    const { assert!(std::mem::size_of::<F>() == 0, "methods must be fn items") };
    // SAFETY: `F` is zero-sized (asserted), `Copy` (no drop, no owned
    // state) and `'static`: a fn item or a closure capturing nothing, which
    // any value of is valid and means nothing more (see above).
    unsafe { std::mem::zeroed() }
}

/// A method without parameters (`METH_NOARGS`). `doc` starts with its
/// text signature (`name($self, /)\n--\n\n`).
pub(crate) fn noargs<T, F>(name: &'static CStr, doc: &'static CStr, _f: F) -> Method
where
    T: Class,
    F: for<'a, 'py> Fn(Slf<'a, 'py, T>) -> Ret<'py> + Copy + 'static,
{
    unsafe extern "C" fn trampoline<T: Class, F>(
        obj: *mut ffi::PyObject,
        _unused: *mut ffi::PyObject,
    ) -> *mut ffi::PyObject
    where
        F: for<'a, 'py> Fn(Slf<'a, 'py, T>) -> Ret<'py> + Copy + 'static,
    {
        // SAFETY: CPython calls methods with the GIL held; the method
        // descriptor made for `T`'s type checked that `obj` is a `T`.
        let (py, s) = unsafe {
            (
                Python::assume_attached(),
                slf::<T>(Python::assume_attached(), &obj),
            )
        };
        let f = conjure::<F>();
        finish(py, || f(s))
    }
    Method {
        def: ffi::PyMethodDef {
            ml_name: name.as_ptr(),
            ml_meth: ffi::PyMethodDefPointer {
                PyCFunction: trampoline::<T, F>,
            },
            ml_flags: ffi::METH_NOARGS,
            ml_doc: doc.as_ptr(),
        },
    }
}

/// A method with the parameters `P` (`METH_FASTCALL | METH_KEYWORDS`).
/// `doc` starts with its text signature.
pub(crate) fn with_args<T, P, F>(name: &'static CStr, doc: &'static CStr, _f: F) -> Method
where
    T: Class,
    P: Params,
    F: for<'a, 'py> Fn(Slf<'a, 'py, T>, &Args<'a, 'py>) -> Ret<'py> + Copy + 'static,
{
    unsafe extern "C" fn trampoline<T: Class, P: Params, F>(
        obj: *mut ffi::PyObject,
        args: *const *mut ffi::PyObject,
        nargs: ffi::Py_ssize_t,
        kwnames: *mut ffi::PyObject,
    ) -> *mut ffi::PyObject
    where
        F: for<'a, 'py> Fn(Slf<'a, 'py, T>, &Args<'a, 'py>) -> Ret<'py> + Copy + 'static,
    {
        // SAFETY: as in `noargs`.
        let (py, s) = unsafe {
            (
                Python::assume_attached(),
                slf::<T>(Python::assume_attached(), &obj),
            )
        };
        let f = conjure::<F>();
        let n = nargs as usize;
        if kwnames.is_null() && n >= P::REQUIRED && n <= P::NAMES.len() {
            // Positional arguments only: borrowed where CPython put them.
            let mut given: Args<'_, '_> = [None; MAX_ARGS];
            for (i, g) in given.iter_mut().enumerate().take(n) {
                // SAFETY: `i < nargs`: a live argument of this call, in the
                // array CPython passed, borrowed for the call.
                *g = Some(unsafe { Bound::ref_from_ptr(py, &*args.add(i)) });
            }
            return finish(py, || f(s, &given));
        }
        // SAFETY: CPython passes `nargs` positional arguments followed by
        // one value per name in `kwnames` (a tuple of str, or NULL).
        let slots = match unsafe { parse_args::<P>(args, nargs, kwnames) } {
            Ok(s) => s,
            Err(msg) => {
                let tramp: ffi::PyCFunctionFastWithKeywords = trampoline::<T, P, F>;
                let name = method_name(tramp as usize);
                raise(py, PyTypeError::new_err(format!("{name}{msg}")));
                return ptr::null_mut();
            }
        };
        let given = bind_args(py, &slots);
        finish(py, || f(s, &given))
    }
    let tramp: ffi::PyCFunctionFastWithKeywords = trampoline::<T, P, F>;
    // Two methods that share a trampoline (the same function under two
    // names, or two the compiler merged) get messages without a name.
    method_names()
        .entry(tramp as usize)
        .and_modify(|n| {
            if *n != Some(name) {
                *n = None;
            }
        })
        .or_insert(Some(name));
    Method {
        def: ffi::PyMethodDef {
            ml_name: name.as_ptr(),
            ml_meth: ffi::PyMethodDefPointer {
                PyCFunctionFastWithKeywords: tramp,
            },
            ml_flags: ffi::METH_FASTCALL | ffi::METH_KEYWORDS,
            ml_doc: doc.as_ptr(),
        },
    }
}

/// The arguments as borrowed objects.
fn bind_args<'a, 'py>(py: Python<'py>, slots: &'a [*mut ffi::PyObject; MAX_ARGS]) -> Args<'a, 'py> {
    let mut given: Args<'a, 'py> = [None; MAX_ARGS];
    for (g, s) in given.iter_mut().zip(slots.iter()) {
        if !s.is_null() {
            // SAFETY: a live argument of the current call, borrowed for it.
            *g = Some(unsafe { Bound::ref_from_ptr(py, s) });
        }
    }
    given
}

/// Puts the value for parameter `name` in its slot.
fn by_keyword(
    names: &[&CStr],
    slots: &mut [*mut ffi::PyObject; MAX_ARGS],
    key: *mut ffi::PyObject,
    value: *mut ffi::PyObject,
) -> Result<(), String> {
    let j = names
        .iter()
        // SAFETY: `key` is a live str (keywords are); the names are
        // NUL-terminated ASCII.
        .position(|n| unsafe { ffi::PyUnicode_CompareWithASCIIString(key, n.as_ptr()) } == 0);
    let Some(j) = j else {
        return Err(format!(
            "got an unexpected keyword argument {}",
            repr_of(key)
        ));
    };
    if !slots[j].is_null() {
        return Err(format!(
            "got multiple values for argument '{}'",
            names[j].to_string_lossy()
        ));
    }
    slots[j] = value;
    Ok(())
}

/// Checks the count of positional arguments and the required ones.
fn check_counts(names: &[&CStr], required: usize, nargs: usize) -> Result<(), String> {
    if nargs > names.len() {
        return Err(format!(
            "takes at most {} argument{} ({nargs} given)",
            names.len(),
            if names.len() == 1 { "" } else { "s" }
        ));
    }
    let _ = required;
    Ok(())
}

fn check_required(
    names: &[&CStr],
    required: usize,
    slots: &[*mut ffi::PyObject; MAX_ARGS],
) -> Result<(), String> {
    match (0..required).find(|&j| slots[j].is_null()) {
        Some(j) => Err(format!(
            "missing required argument '{}' (pos {})",
            names[j].to_string_lossy(),
            j + 1
        )),
        None => Ok(()),
    }
}

/// Matches the arguments of a vectorcall to the parameters `P`.
///
/// # Safety
/// `args` must hold `nargs` objects followed by one per name of
/// `kwnames`, a tuple of str (or NULL), as CPython passes them.
#[inline(never)]
unsafe fn parse_args<P: Params>(
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> Result<[*mut ffi::PyObject; MAX_ARGS], String> {
    let names = P::NAMES;
    debug_assert!(names.len() <= MAX_ARGS && P::REQUIRED <= names.len());
    let nargs = nargs as usize;
    let mut slots = [ptr::null_mut(); MAX_ARGS];
    check_counts(names, P::REQUIRED, nargs)?;
    for (i, slot) in slots.iter_mut().enumerate().take(nargs) {
        // SAFETY: `i < nargs` (caller's contract).
        *slot = unsafe { *args.add(i) };
    }
    if !kwnames.is_null() {
        // SAFETY: `kwnames` is a tuple (caller's contract).
        let nkw = unsafe { ffi::PyTuple_Size(kwnames) }.max(0) as usize;
        for k in 0..nkw {
            // SAFETY: `k` is in range: a borrowed item of a live tuple; the
            // keyword values follow the positional ones.
            let (key, value) = unsafe {
                (
                    ffi::PyTuple_GetItem(kwnames, k as ffi::Py_ssize_t),
                    *args.add(nargs + k),
                )
            };
            by_keyword(names, &mut slots, key, value)?;
        }
    }
    check_required(names, P::REQUIRED, &slots)?;
    Ok(slots)
}

/// Matches the arguments of a `tp_new` call to the parameters `P`.
///
/// # Safety
/// `args` must be a tuple and `kwargs` a dict with str keys (or NULL).
unsafe fn parse_tuple_dict<P: Params>(
    args: *mut ffi::PyObject,
    kwargs: *mut ffi::PyObject,
) -> Result<[*mut ffi::PyObject; MAX_ARGS], String> {
    let names = P::NAMES;
    // SAFETY: `args` is a tuple (caller's contract).
    let nargs = unsafe { ffi::PyTuple_Size(args) }.max(0) as usize;
    check_counts(names, P::REQUIRED, nargs)?;
    let mut slots = [ptr::null_mut(); MAX_ARGS];
    for (i, slot) in slots.iter_mut().enumerate().take(nargs) {
        // SAFETY: `i < nargs`: a borrowed item of a live tuple.
        *slot = unsafe { ffi::PyTuple_GetItem(args, i as ffi::Py_ssize_t) };
    }
    if !kwargs.is_null() {
        let mut pos: ffi::Py_ssize_t = 0;
        let mut key = ptr::null_mut();
        let mut value = ptr::null_mut();
        // SAFETY: `kwargs` is a dict (caller's contract); PyDict_Next hands
        // out borrowed references, valid while the dict is not changed.
        while unsafe { ffi::PyDict_Next(kwargs, &mut pos, &mut key, &mut value) } != 0 {
            by_keyword(names, &mut slots, key, value)?;
        }
    }
    check_required(names, P::REQUIRED, &slots)?;
    Ok(slots)
}

/// `repr(obj)` for a message, or `?`.
fn repr_of(obj: *mut ffi::PyObject) -> String {
    // SAFETY: called during a method call: the GIL is held and `obj` is a
    // live argument of the call.
    let obj = unsafe { Bound::ref_from_ptr(Python::assume_attached(), &obj) };
    match obj.repr() {
        Ok(r) => r.to_string(),
        Err(e) => {
            discard(obj.py(), e);
            "?".into()
        }
    }
}

/// Method names by trampoline address, for argument error messages.
fn method_names() -> std::sync::MutexGuard<'static, HashMap<usize, Option<&'static CStr>>> {
    static NAMES: OnceLock<Mutex<HashMap<usize, Option<&'static CStr>>>> = OnceLock::new();
    NAMES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

/// `name()` for the method of this trampoline, or `""` if it is not known
/// for sure.
fn method_name(trampoline: usize) -> String {
    match method_names().get(&trampoline) {
        Some(Some(n)) => format!("{}() ", n.to_string_lossy()),
        _ => String::new(),
    }
}

// --- references and errors, without PyO3's reference pool ------------------
//
// The trampolines above do not tell PyO3 that the thread is attached (that
// costs more than the rest of a small call), so a `Py<T>` or a fetched
// `PyErr` dropped inside a call would go to PyO3's pool of deferred
// decrements, which only PyO3's own trampolines empty. Hence: values keep
// strong references as [`Owned`], ignored errors go through [`discard`],
// and ints are read without raising ([`long_value`]).

/// A strong reference held by a class's value. Given back directly when
/// the value is dropped, which happens only in `tp_dealloc` or after
/// `new_instance` failed, both with the GIL held.
pub(crate) struct Owned(*mut ffi::PyObject);

// SAFETY: the reference is only used and dropped with the GIL held (see
// the type's docs); the object itself is shared by Python, not by us.
unsafe impl Send for Owned {}
// SAFETY: as above.
unsafe impl Sync for Owned {}

impl Owned {
    /// A new strong reference to `obj`.
    pub(crate) fn new(obj: &Bound<'_, PyAny>) -> Owned {
        Owned(obj.clone().into_ptr())
    }

    /// The object, borrowed.
    pub(crate) fn bind<'a, 'py>(&'a self, py: Python<'py>) -> &'a Bound<'py, PyAny> {
        // SAFETY: the pointer is a live strong reference of ours, stored in
        // `self`, which outlives the borrow.
        unsafe { Bound::ref_from_ptr(py, &self.0) }
    }
}

impl Drop for Owned {
    fn drop(&mut self) {
        // SAFETY: our strong reference, given back once, with the GIL held
        // (values are only dropped in `tp_dealloc` or a failed
        // `new_instance`).
        unsafe { ffi::Py_DECREF(self.0) };
    }
}

/// Raises `err` (sets it as the current exception) with the thread known
/// to PyO3 as attached, so that the references PyO3 drops on the way (a
/// lazy error's type and value) are dropped at once, not deferred to its
/// pool; the pool is emptied too. Error paths only: it costs a
/// `PyGILState_Ensure`.
#[cold]
#[inline(never)]
pub(crate) fn raise(_py: Python<'_>, err: PyErr) {
    // SAFETY: `_py` proves this thread holds the GIL (we are in a call from
    // CPython, which holds it, also during shutdown), so it is attached:
    // `PyGILState_Ensure` only counts one more use of its thread state.
    unsafe { Python::attach_unchecked(|py| err.restore(py)) };
}

/// Drops an error that will not be raised, without PyO3's pool: it is
/// raised (see [`raise`]) and cleared.
#[cold]
#[inline(never)]
pub(crate) fn discard(py: Python<'_>, err: PyErr) {
    raise(py, err);
    // SAFETY: the GIL is held (`py`); clearing the exception just set
    // decrements its references directly.
    unsafe { ffi::PyErr_Clear() };
}

/// The value of an int if it fits in an `i64`, without raising.
#[inline]
pub(crate) fn long_value(int: &Bound<'_, PyInt>) -> Option<i64> {
    let mut overflow: c_int = 0;
    // SAFETY: `int` is a live int; with an int argument the call cannot
    // fail other than by overflow, which it reports in `overflow`.
    let v = unsafe { ffi::PyLong_AsLongLongAndOverflow(int.as_ptr(), &mut overflow) };
    (overflow == 0).then_some(v)
}

/// True if `obj` supports the buffer protocol.
pub(crate) fn supports_buffer(obj: &Bound<'_, PyAny>) -> bool {
    // SAFETY: `obj` is a live object; the check has no other precondition.
    unsafe { ffi::PyObject_CheckBuffer(obj.as_ptr()) != 0 }
}

/// `operator.index(obj)`: the int that `obj.__index__()` gives (through
/// the type's slot, as Python does).
pub(crate) fn number_index<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyInt>> {
    // SAFETY: `obj` is live; the call returns a new reference to an int, or
    // NULL with an exception set.
    unsafe {
        let p = ffi::PyNumber_Index(obj.as_ptr());
        Ok(Bound::from_owned_ptr_or_err(obj.py(), p)?.cast_into_unchecked())
    }
}

// --- buffers ------------------------------------------------------------------

/// Describes one export for [`fill_buffer`].
struct ExportInfo<'a> {
    pub ptr: *mut u8,
    pub len: usize,
    pub readonly: bool,
    /// Stored in `Py_buffer.internal`, handed back at release.
    pub token: usize,
    /// For a typed export: its layout, and the box that `internal` then
    /// points to instead (it holds the token).
    pub typed: Option<(&'a ItemLayout, *mut TypedInternal)>,
}

/// The `internal` of a typed export of `len` bytes: the token, then the
/// shape `(items, *item_shape)` and its C-contiguous strides.
fn typed_internal(
    layout: &ItemLayout,
    len: usize,
    token: usize,
) -> (&ItemLayout, *mut TypedInternal) {
    let item = layout.item_size().max(1);
    let mut shape: Vec<ffi::Py_ssize_t> = Vec::new();
    if layout.items_dim {
        shape.push((len / item) as ffi::Py_ssize_t);
    }
    shape.extend(layout.item_shape.iter().map(|&d| d as ffi::Py_ssize_t));
    let mut strides = vec![0; shape.len()];
    let mut step = layout.elem_size as ffi::Py_ssize_t;
    for k in (0..shape.len()).rev() {
        strides[k] = step;
        step *= shape[k].max(1);
    }
    shape.extend(strides);
    let b = Box::new(TypedInternal { token, dims: shape });
    (layout, Box::into_raw(b))
}

/// Fills `view` for an export of `info` owned by `owner`.
///
/// # Safety
/// `view` must be the `Py_buffer` that CPython passed to `bf_getbuffer`, and
/// `info.ptr` must stay valid for `info.len` bytes until `bf_releasebuffer`
/// is called with the same view (the owner's bookkeeping guarantees it).
unsafe fn fill_buffer(
    view: *mut ffi::Py_buffer,
    flags: c_int,
    owner: &Bound<'_, PyAny>,
    info: &mut ExportInfo<'_>,
) -> PyResult<()> {
    if view.is_null() {
        return Err(PyBufferError::new_err("view is NULL"));
    }
    if info.readonly && (flags & ffi::PyBUF_WRITABLE) == ffi::PyBUF_WRITABLE {
        return Err(PyBufferError::new_err(
            "this view is read-only: the bytes it shows must not change while it is alive \
             (get_writable_view() hands out free space for writing)",
        ));
    }
    // SAFETY: `view` is a valid, writable Py_buffer (caller's contract); the
    // shape and strides pointers point into the view itself, which CPython
    // keeps alive (and in place) for as long as the export.
    unsafe {
        (*view).obj = owner.clone().into_ptr();
        (*view).buf = info.ptr.cast::<c_void>();
        (*view).len = info.len as ffi::Py_ssize_t;
        (*view).readonly = c_int::from(info.readonly);
        (*view).itemsize = 1;
        (*view).format = if (flags & ffi::PyBUF_FORMAT) == ffi::PyBUF_FORMAT {
            c"B".as_ptr().cast_mut()
        } else {
            ptr::null_mut()
        };
        (*view).ndim = 1;
        (*view).shape = if (flags & ffi::PyBUF_ND) == ffi::PyBUF_ND {
            &mut (*view).len
        } else {
            ptr::null_mut()
        };
        (*view).strides = if (flags & ffi::PyBUF_STRIDES) == ffi::PyBUF_STRIDES {
            &mut (*view).itemsize
        } else {
            ptr::null_mut()
        };
        (*view).suboffsets = ptr::null_mut();
        (*view).internal = info.token as *mut c_void;
        if let Some((layout, internal)) = info.typed {
            // `internal` is always the box (the release frees it). The
            // items are described only to a consumer that asked for the
            // format; to others the export is plain bytes, as it also is.
            (*view).internal = internal.cast::<c_void>();
            if (flags & ffi::PyBUF_FORMAT) == ffi::PyBUF_FORMAT {
                // The box lives until `bf_releasebuffer` frees it, and the
                // format string as long as the owner, which the view holds.
                let dims = &mut (*internal).dims;
                let ndim = dims.len() / 2;
                (*view).itemsize = layout.elem_size as ffi::Py_ssize_t;
                (*view).format = layout.format.as_ptr().cast_mut();
                if (flags & ffi::PyBUF_ND) == ffi::PyBUF_ND {
                    (*view).ndim = ndim as c_int;
                    (*view).shape = dims.as_mut_ptr();
                }
                if (flags & ffi::PyBUF_STRIDES) == ffi::PyBUF_STRIDES {
                    (*view).strides = dims.as_mut_ptr().add(ndim);
                }
            }
        }
    }
    Ok(())
}

/// `memoryview(obj)`, through the C API (no attribute lookup).
pub(crate) fn memoryview<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyMemoryView>> {
    // SAFETY: `obj` is a live object; the call returns a new reference or
    // NULL with an exception set, which `from_owned_ptr_or_err` handles.
    unsafe {
        let p = ffi::PyMemoryView_FromObject(obj.as_ptr());
        Ok(Bound::from_owned_ptr_or_err(obj.py(), p)?.cast_into_unchecked())
    }
}

/// The bytes of any C-contiguous buffer passed by a caller, without a copy.
pub(crate) struct BytesArg<'a> {
    inner: Inner<'a>,
}

enum Inner<'a> {
    /// A `bytes` object, borrowed from the call's arguments.
    Bytes(&'a [u8]),
    Buffer(Box<ffi::Py_buffer>),
}

impl<'a> BytesArg<'a> {
    /// Borrows the bytes of `obj`; `arg` names the argument in errors.
    #[inline(always)]
    pub(crate) fn new(obj: &'a Bound<'_, PyAny>, arg: &str) -> PyResult<BytesArg<'a>> {
        if obj.cast_exact::<PyBytes>().is_ok() {
            let mut data: *mut std::ffi::c_char = ptr::null_mut();
            let mut len: ffi::Py_ssize_t = 0;
            // SAFETY: `obj` is a `bytes` (checked), so the call cannot fail;
            // it points `data` at its `len` bytes, which live (unchanged:
            // bytes are immutable) as long as the object, borrowed for `'a`.
            unsafe { ffi::PyBytes_AsStringAndSize(obj.as_ptr(), &mut data, &mut len) };
            // SAFETY: as above.
            let bytes = unsafe { std::slice::from_raw_parts(data.cast::<u8>(), len as usize) };
            return Ok(BytesArg {
                inner: Inner::Bytes(bytes),
            });
        }
        Self::new_buffer(obj, arg)
    }

    #[inline(never)]
    fn new_buffer(obj: &'a Bound<'_, PyAny>, arg: &str) -> PyResult<BytesArg<'a>> {
        let mut view = Box::new(ffi::Py_buffer::new());
        // SAFETY: `view` is a zeroed Py_buffer of ours; PyBUF_SIMPLE asks
        // for one contiguous run of bytes, which non-contiguous exporters
        // refuse (an error, handled below).
        let rc = unsafe { ffi::PyObject_GetBuffer(obj.as_ptr(), &mut *view, ffi::PyBUF_SIMPLE) };
        if rc != 0 {
            let cause = PyErr::fetch(obj.py());
            let err = PyTypeError::new_err(format!(
                "{arg} must be a C-contiguous bytes-like object (bytes, bytearray, \
                 memoryview, array.array, numpy array), not {}",
                crate::args::type_name(obj)
            ));
            err.set_cause(obj.py(), Some(cause));
            return Err(err);
        }
        Ok(BytesArg {
            inner: Inner::Buffer(view),
        })
    }

    /// The bytes. Valid while `self` lives.
    #[inline(always)]
    pub(crate) fn as_slice(&self) -> &[u8] {
        match &self.inner {
            Inner::Bytes(b) => b,
            Inner::Buffer(view) => {
                if view.len <= 0 || view.buf.is_null() {
                    return &[];
                }
                // SAFETY: the export is held until `drop`, so `buf` points to
                // `len` readable bytes (PyBUF_SIMPLE: contiguous, in bytes).
                // Python code cannot resize the exporter while it is exported.
                unsafe { std::slice::from_raw_parts(view.buf.cast::<u8>(), view.len as usize) }
            }
        }
    }
}

impl Drop for BytesArg<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        if let Inner::Buffer(view) = &mut self.inner {
            // SAFETY: the view was filled by a successful PyObject_GetBuffer
            // and is released once; it was made with the GIL held, and a
            // `BytesArg` never leaves the call that made it.
            unsafe { ffi::PyBuffer_Release(&mut **view) };
        }
    }
}

/// A writable buffer passed by a caller (`readinto`), as bytes.
pub(crate) struct WritableArg {
    view: Box<ffi::Py_buffer>,
}

impl WritableArg {
    pub(crate) fn new(obj: &Bound<'_, PyAny>, arg: &str) -> PyResult<WritableArg> {
        let mut view = Box::new(ffi::Py_buffer::new());
        // SAFETY: as in `BytesArg::new`, asking for a writable buffer.
        let rc = unsafe {
            ffi::PyObject_GetBuffer(
                obj.as_ptr(),
                &mut *view,
                ffi::PyBUF_SIMPLE | ffi::PyBUF_WRITABLE,
            )
        };
        if rc != 0 {
            let cause = PyErr::fetch(obj.py());
            let err = PyTypeError::new_err(format!(
                "{arg} must be a writable C-contiguous buffer (bytearray, memoryview, \
                 array.array, numpy array), not {}",
                crate::args::type_name(obj)
            ));
            err.set_cause(obj.py(), Some(cause));
            return Err(err);
        }
        Ok(WritableArg { view })
    }

    /// Where the buffer's bytes are (for overlap checks).
    pub(crate) fn as_ptr(&self) -> *const u8 {
        self.view.buf.cast::<u8>()
    }

    /// The buffer's length in bytes.
    pub(crate) fn len(&self) -> usize {
        self.view.len.max(0) as usize
    }

    pub(crate) fn as_mut_slice(&mut self) -> &mut [u8] {
        if self.view.len <= 0 || self.view.buf.is_null() {
            return &mut [];
        }
        // SAFETY: a writable contiguous export held until `drop`.
        unsafe {
            std::slice::from_raw_parts_mut(self.view.buf.cast::<u8>(), self.view.len as usize)
        }
    }
}

impl Drop for WritableArg {
    fn drop(&mut self) {
        // SAFETY: filled by a successful PyObject_GetBuffer, released once.
        // Dropped only with the GIL held (never moved into a GIL-free section).
        unsafe { ffi::PyBuffer_Release(&mut *self.view) };
    }
}

// --- bytes ----------------------------------------------------------------------

/// A new `bytes` of `len` bytes filled by `fill`, without zeroing it first.
/// `fill` initialises a prefix of the slice it is given and returns its
/// length; a prefix shorter than `len` gives a shorter `bytes` (copied).
///
/// Allocating a `bytes` runs no Python code (bytes are not tracked by the
/// garbage collector), so `fill` may be called with an object locked.
pub(crate) fn bytes_filled<'py>(
    py: Python<'py>,
    len: usize,
    fill: impl FnOnce(&mut [MaybeUninit<u8>]) -> PyResult<usize>,
) -> PyResult<Bound<'py, PyBytes>> {
    // SAFETY: PyBytes_FromStringAndSize(NULL, n) returns a new bytes object
    // of `n` bytes, or NULL with an exception set.
    let obj = unsafe {
        let p = ffi::PyBytes_FromStringAndSize(ptr::null(), len as ffi::Py_ssize_t);
        Bound::from_owned_ptr_or_err(py, p)?.cast_into_unchecked::<PyBytes>()
    };
    // SAFETY: the object is new and referenced only here, so nobody else
    // reads or writes its buffer; its `len` bytes are allocated; viewing them
    // as `MaybeUninit<u8>` makes no claim that they are initialised.
    let data = unsafe { ffi::PyBytes_AsString(obj.as_ptr()).cast::<u8>() };
    // SAFETY: as above: `len` allocated bytes that only we use.
    let buf = unsafe { std::slice::from_raw_parts_mut(data.cast::<MaybeUninit<u8>>(), len) };
    let written = fill(buf)?.min(len);
    if written < len {
        // SAFETY: `fill` initialised the first `written` bytes; only they
        // are read.
        let prefix = unsafe { std::slice::from_raw_parts(data, written) };
        return Ok(PyBytes::new(py, prefix));
    }
    Ok(obj)
}

/// A typed buffer passed by a caller (`push_array`): its format, item
/// size and shape as the exporter describes them, strided or not.
pub(crate) struct ItemsArg {
    view: Box<ffi::Py_buffer>,
}

impl ItemsArg {
    /// Asks `obj` for a strided buffer with its format; `arg` names the
    /// argument in errors.
    pub(crate) fn new(obj: &Bound<'_, PyAny>, arg: &str) -> PyResult<ItemsArg> {
        let mut view = Box::new(ffi::Py_buffer::new());
        let flags = ffi::PyBUF_RECORDS_RO;
        // SAFETY: `view` is a zeroed Py_buffer of ours; on success it holds
        // an export released in `drop`.
        let rc = unsafe { ffi::PyObject_GetBuffer(obj.as_ptr(), &mut *view, flags) };
        if rc != 0 {
            let cause = PyErr::fetch(obj.py());
            let err = PyTypeError::new_err(format!(
                "{arg} must be a buffer of items (a NumPy array, array.array, memoryview), not {}",
                crate::args::type_name(obj)
            ));
            err.set_cause(obj.py(), Some(cause));
            return Err(err);
        }
        Ok(ItemsArg { view })
    }

    /// The format string (`"B"` when the exporter gives none).
    pub(crate) fn format(&self) -> String {
        if self.view.format.is_null() {
            return "B".into();
        }
        // SAFETY: a non-NULL format is a NUL-terminated string that lives
        // as long as the export.
        unsafe { CStr::from_ptr(self.view.format) }
            .to_string_lossy()
            .into_owned()
    }

    /// Bytes per element.
    pub(crate) fn itemsize(&self) -> usize {
        self.view.itemsize.max(0) as usize
    }

    /// The shape (`[]` for a scalar; `[len / itemsize]` if none is given).
    pub(crate) fn shape(&self) -> Vec<usize> {
        let ndim = self.view.ndim.max(0) as usize;
        if self.view.shape.is_null() {
            return if ndim == 0 {
                Vec::new()
            } else {
                vec![self.len() / self.itemsize().max(1)]
            };
        }
        // SAFETY: a non-NULL shape has `ndim` entries, alive with the export.
        unsafe { std::slice::from_raw_parts(self.view.shape, ndim) }
            .iter()
            .map(|&d| d.max(0) as usize)
            .collect()
    }

    /// Total bytes.
    pub(crate) fn len(&self) -> usize {
        self.view.len.max(0) as usize
    }

    /// The bytes, if they are one C-contiguous run.
    pub(crate) fn contiguous(&self) -> Option<&[u8]> {
        // SAFETY: `view` holds a live export.
        let c = unsafe { ffi::PyBuffer_IsContiguous(&*self.view, b'C' as std::ffi::c_char) } != 0;
        if !c {
            return None;
        }
        if self.len() == 0 || self.view.buf.is_null() {
            return Some(&[]);
        }
        // SAFETY: C-contiguous: `len` bytes from `buf`, alive (and not
        // resizable) while exported.
        Some(unsafe { std::slice::from_raw_parts(self.view.buf.cast::<u8>(), self.len()) })
    }

    /// Copies the elements, in C order, into `out` (`len()` bytes).
    pub(crate) fn copy_to(&self, py: Python<'_>, out: &mut [u8]) -> PyResult<()> {
        assert_eq!(out.len(), self.len());
        // SAFETY: `out` has room for `len` bytes; `view` holds a live
        // export; the call reads it and writes `out` only.
        let rc = unsafe {
            ffi::PyBuffer_ToContiguous(
                out.as_mut_ptr().cast::<c_void>(),
                &*self.view,
                self.view.len,
                b'C' as std::ffi::c_char,
            )
        };
        if rc != 0 {
            return Err(PyErr::fetch(py));
        }
        Ok(())
    }
}

impl Drop for ItemsArg {
    fn drop(&mut self) {
        // SAFETY: the export made in `new`, released once.
        unsafe { ffi::PyBuffer_Release(&mut *self.view) };
    }
}
