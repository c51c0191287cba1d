//! Random operation sequences on a `PicoList`, checked step by step against
//! a `Vec` (see crates/picoring/tests/support/model.rs).
#![no_main]

// Each target uses one of the checks.
#[allow(dead_code)]
#[path = "../../crates/picoring/tests/support/model.rs"]
mod model;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|ops: Vec<model::ListOp>| {
    if let Err(e) = model::check_list(&ops) {
        panic!("{e}");
    }
});
