//! `Ring::find` and `ByteStream::record_len` against a naive search, on
//! rings whose bytes wrap around the end of their memory.

use picoring::{ByteStream, Ring};
use proptest::prelude::*;

/// `bytes.find` in plain Rust: the first `i` in `start..` with `hay[i..]`
/// starting with `needle` and the match ending by `end`.
fn naive(hay: &[u8], needle: &[u8], start: usize, end: usize) -> Option<usize> {
    let end = end.min(hay.len());
    if start > hay.len() || start > end {
        return None;
    }
    (start..=end).find(|&i| i + needle.len() <= end && &hay[i..i + needle.len()] == needle)
}

/// A ring of 4096 bytes holding `data`, starting `skew` bytes in.
fn ring_with(data: &[u8], skew: usize) -> Ring {
    let mut r = Ring::with_capacity(4096).unwrap();
    assert!(r.push_slice(&vec![7; skew]));
    r.advance_tail(skew).unwrap();
    assert!(r.push_slice(data));
    r
}

proptest! {
    #[test]
    fn find_matches_a_naive_search(
        data in proptest::collection::vec(0u8..4, 0..300),
        needle in proptest::collection::vec(0u8..4, 0..4),
        skew in 3900usize..4096,
        start in 0usize..320,
        end in 0usize..320,
    ) {
        let r = ring_with(&data, skew);
        prop_assert_eq!(r.find(&needle, start, end), naive(&data, &needle, start, end));
        prop_assert_eq!(r.find(&needle, 0, usize::MAX), naive(&data, &needle, 0, usize::MAX));
        prop_assert_eq!(r.as_slice(), &data[..]);
    }

    #[test]
    fn record_len_ends_at_the_delimiter_or_the_limit(
        data in proptest::collection::vec(0u8..4, 0..300),
        fill in 0usize..4096,
        delim in proptest::collection::vec(0u8..4, 1..3),
        limit in proptest::option::of(0usize..320),
    ) {
        let mut s = ByteStream::with_capacity(4096).unwrap();
        // Sometimes filled up to the capacity with a byte no delimiter has.
        let mut data = data;
        if fill > 3500 {
            data.resize(4096, 9);
        }
        s.write_partial(&data).unwrap();
        let lim = limit.unwrap_or(usize::MAX).min(4096);
        let want = match naive(&data, &delim, 0, lim) {
            Some(i) => Some(i + delim.len()),
            None if data.len() >= lim => Some(lim),
            None => None,
        };
        prop_assert_eq!(s.record_len(&delim, limit).unwrap(), want);
        prop_assert_eq!(s.len(), data.len()); // nothing consumed
    }
}

#[test]
fn a_closed_stream_refuses_record_len() {
    let mut s = ByteStream::with_capacity(64).unwrap();
    s.write_partial(b"a\n").unwrap();
    s.close();
    assert!(s.record_len(b"\n", None).is_err());
}
