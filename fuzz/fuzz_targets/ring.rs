//! Random operation sequences on a `Ring` of random capacity, checked step by
//! step against a `VecDeque` (see crates/picoring/tests/support/model.rs).
#![no_main]

// Each target uses one of the checks.
#[allow(dead_code)]
#[path = "../../crates/picoring/tests/support/model.rs"]
mod model;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (u16, Vec<model::RingOp>)| {
    // Capacities up to 64 KiB: many are not page multiples, small ones
    // wrap constantly, large ones span several pages.
    let capacity = usize::from(input.0) + 1;
    if let Err(e) = model::check_ring(capacity, &input.1) {
        panic!("{e}");
    }
});
