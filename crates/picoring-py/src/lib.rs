//! Python bindings of picoring: the `picoring._picoring` extension module.
//!
//! One file per Python class, each a thin wrapper over one core type:
//! `ring` (`Ring`), `queue` (`Queue`), `stream` (`ByteStream`), `list`
//! (`PicoList`), `typed` (`TypedRing`), `pipe` (`pipe::PipeWriter` and
//! `pipe::PipeReader`, made by `picoring.pipe`); `ringlike` holds what the three ring classes share,
//! written once, and `views` the object behind writable views. Around
//! them: `args` (argument conversion), `errors` (core errors as Python
//! exceptions), `lock` (each object's lock), `subscript` (`obj[key]`), and
//! `ffi`, the one module with `unsafe` code (types, methods and the buffer
//! protocol through the C API). No ring logic lives here: it is all in
//! the `picoring` crate.

mod args;
mod errors;
mod ffi;
mod list;
mod lock;
mod pipe;
mod queue;
mod ring;
mod ringlike;
mod stream;
mod subscript;
mod typed;
mod views;

use pyo3::prelude::*;

#[pymodule]
fn _picoring(m: &Bound<'_, PyModule>) -> PyResult<()> {
    ffi::add_class::<ring::PicoRingByte>(m)?;
    ffi::add_class::<queue::PicoQueueByte>(m)?;
    ffi::add_class::<stream::PicoByteStreamPy>(m)?;
    ffi::add_class::<list::PicoListByte>(m)?;
    ffi::add_class::<views::WritableView>(m)?;
    ffi::add_class::<typed::PicoRing>(m)?;
    ffi::add_class::<typed::ItemArray>(m)?;
    ffi::add_class::<views::ReadView>(m)?;
    ffi::add_class::<pipe::PipeWriter>(m)?;
    ffi::add_class::<pipe::PipeReader>(m)?;
    m.add_function(wrap_pyfunction!(pipe::pipe, m)?)?;
    m.add_function(wrap_pyfunction!(pipe::shared_pipe, m)?)?;
    m.add_function(wrap_pyfunction!(pipe::_open_pipe_end, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("MAX_CAPACITY", picoring::MAX_CAPACITY)?;
    m.add("PAGE_SIZE", picoring::page_size())?;
    Ok(())
}
