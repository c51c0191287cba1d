//! Python bindings of picoring: the `picoring._picoring` extension module.
//!
//! One file per Python class; `ringcore` and `shared` translate types,
//! errors and locking; `ffi` holds the C buffer protocol. No ring logic
//! lives here: it is all in the `picoring` crate.

mod ffi;
mod list;
mod queue;
mod ring;
mod ringcore;
mod shared;
mod stream;

use pyo3::prelude::*;

#[pymodule]
fn _picoring(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<ring::PicoRingByte>()?;
    m.add_class::<queue::PicoQueueByte>()?;
    m.add_class::<stream::PicoByteStreamPy>()?;
    m.add_class::<list::PicoListByte>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("MAX_CAPACITY", picoring::MAX_CAPACITY)?;
    m.add("PAGE_SIZE", picoring::page_size())?;
    Ok(())
}
