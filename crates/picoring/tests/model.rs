//! Random operation sequences checked against simple models (see
//! `support/model.rs`, shared with the fuzz targets): `VecDeque` for the
//! ring, queue and stream, `Vec` for the list. Capacities sit around the
//! page size so that sequences cross the end of the memory many times.

#[path = "support/model.rs"]
mod model;

use model::{ListOp, QueueOp, RingOp, StreamOp};
use picoring::{Error, Ring};
use proptest::prelude::*;

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..max)
}

/// Miri runs each step about a thousand times slower: smaller sizes there.
const fn scaled(n: u16) -> u16 {
    if cfg!(miri) {
        n / 40 + 1
    } else {
        n
    }
}

/// Operations per case: fewer under Miri too.
const fn steps(n: usize) -> usize {
    if cfg!(miri) {
        n / 4
    } else {
        n
    }
}

fn count(max: u16) -> impl Strategy<Value = u16> {
    0..max
}

fn opt_count(max: u16) -> impl Strategy<Value = Option<u16>> {
    prop::option::of(count(max))
}

fn ring_op(max: u16) -> impl Strategy<Value = RingOp> {
    let m = usize::from(max);
    prop_oneof![
        any::<u8>().prop_map(RingOp::Push),
        bytes(m).prop_map(RingOp::PushSlice),
        Just(RingOp::PushSlice(Vec::new())),
        bytes(m).prop_map(RingOp::PushPartial),
        bytes(m * 2).prop_map(RingOp::PushOverwrite),
        Just(RingOp::Pop),
        count(max).prop_map(RingOp::PopInto),
        count(max).prop_map(RingOp::PopIntoUninit),
        count(max).prop_map(RingOp::AdvanceTail),
        Just(RingOp::Clear),
        (opt_count(max), bytes(m), opt_count(max)).prop_map(|(n, d, k)| RingOp::Chunk(n, d, k)),
        Just(RingOp::ExportRead),
        (opt_count(max), bytes(m)).prop_map(|(n, d)| RingOp::ExportGrant(n, d)),
        bytes(m).prop_map(RingOp::WriteGrant),
        count(max).prop_map(RingOp::Publish),
        count(8).prop_map(RingOp::Publish),
        count(max).prop_map(RingOp::PublishTooMuch),
        any::<u8>().prop_map(RingOp::Release),
    ]
}

fn queue_op(max: u16) -> impl Strategy<Value = QueueOp> {
    let m = usize::from(max);
    prop_oneof![
        (count(max), bytes(m)).prop_map(|(n, d)| QueueOp::Reserve(n, d)),
        (count(max), bytes(m), opt_count(max)).prop_map(|(n, d, k)| QueueOp::ReserveChunk(n, d, k)),
        count(max).prop_map(QueueOp::Commit),
        count(8).prop_map(QueueOp::Commit),
        count(max).prop_map(QueueOp::CommitTooMuch),
        count(max).prop_map(QueueOp::Consume),
        any::<u8>().prop_map(QueueOp::Push),
        Just(QueueOp::Pop),
        bytes(m).prop_map(QueueOp::PushSlice),
        Just(QueueOp::PushSlice(Vec::new())),
        count(max).prop_map(QueueOp::PopInto),
        Just(QueueOp::ExportRead),
        any::<u8>().prop_map(QueueOp::ReleaseView),
    ]
}

fn stream_op(max: u16) -> impl Strategy<Value = StreamOp> {
    prop_oneof![
        8 => bytes(usize::from(max)).prop_map(StreamOp::Write),
        8 => count(max).prop_map(StreamOp::Read),
        4 => count(max).prop_map(StreamOp::FillConsume),
        1 => Just(StreamOp::Flush),
        1 => Just(StreamOp::Clear),
        3 => Just(StreamOp::ExportRead),
        3 => any::<u8>().prop_map(StreamOp::Release),
        1 => Just(StreamOp::Close),
    ]
}

fn list_op() -> impl Strategy<Value = ListOp> {
    prop_oneof![
        bytes(300).prop_map(ListOp::Extend),
        (0..scaled(u16::MAX), any::<u8>()).prop_map(|(n, f)| ListOp::ExtendFill(n, f)),
        any::<u8>().prop_map(ListOp::Push),
        Just(ListOp::Pop),
        (any::<u16>(), any::<u8>()).prop_map(|(i, v)| ListOp::Set(i, v)),
        any::<u16>().prop_map(ListOp::Truncate),
        any::<u16>().prop_map(ListOp::Get),
        any::<u16>().prop_map(ListOp::Reserve),
        Just(ListOp::Clear),
        Just(ListOp::Export),
        any::<u8>().prop_map(ListOp::Release),
    ]
}

/// Fewer cases under Miri, which runs each about a thousand times slower.
fn cases(n: u32) -> ProptestConfig {
    ProptestConfig::with_cases(if cfg!(miri) { 4 } else { n })
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn ring_matches_a_vecdeque(capacity in 1usize..usize::from(scaled(9000)), ops in prop::collection::vec(ring_op(scaled(6000)), 1..steps(120))) {
        model::check_ring(capacity, &ops).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn small_rings_wrap_constantly(capacity in 1usize..64, ops in prop::collection::vec(ring_op(80), 1..steps(400))) {
        model::check_ring(capacity, &ops).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn queue_matches_a_vecdeque(capacity in 1usize..usize::from(scaled(9000)), ops in prop::collection::vec(queue_op(scaled(6000)), 1..steps(120))) {
        model::check_queue(capacity, &ops).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn stream_matches_a_vecdeque(capacity in 1usize..usize::from(scaled(9000)), ops in prop::collection::vec(stream_op(scaled(5000)), 1..steps(100))) {
        model::check_stream(capacity, &ops).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn list_matches_a_vec(ops in prop::collection::vec(list_op(), 1..steps(60))) {
        model::check_list(&ops).map_err(TestCaseError::fail)?;
    }
}

#[test]
fn positions_cross_the_end_of_memory_many_times() {
    // Memory of two pages (8 KiB; 128 KiB on Windows), chunks of 3/8 of it.
    let page = picoring::page_size();
    let mut ring = Ring::with_capacity(page + page / 4).unwrap();
    assert_eq!(ring.memory_len(), 2 * page);
    let chunk: Vec<u8> = (0..(3 * page / 4) as u32).map(|i| (i * 7) as u8).collect();
    // One byte always stays, so the ring never idles and rewinds: the data
    // walks through the memory and crosses its end again and again.
    assert!(ring.push(0));
    let mut wrapped = 0;
    let rounds: u32 = if cfg!(miri) { 100 } else { 1000 };
    for round in 0..rounds {
        assert!(ring.push_slice(&chunk), "round {round}");
        assert_eq!(&ring.as_slice()[1..], &chunk[..]);
        wrapped += usize::from(ring.is_wrapped());
        ring.advance_tail(chunk.len()).unwrap();
    }
    assert!(ring.head() > u64::from(rounds) * 3 / 10 * ring.memory_len() as u64);
    assert!(
        wrapped > rounds as usize * 3 / 10,
        "only {wrapped} rounds wrapped"
    );
}

#[test]
fn zero_capacity_is_refused() {
    assert!(matches!(Ring::with_capacity(0), Err(Error::ZeroCapacity)));
}

#[test]
fn huge_capacity_is_refused_with_the_numbers() {
    let err = Ring::with_capacity(usize::MAX).unwrap_err();
    assert!(err.is_out_of_memory());
    let msg = err.to_string();
    assert!(msg.contains(&usize::MAX.to_string()), "{msg}");
}
