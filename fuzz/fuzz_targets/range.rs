//! Fuzz target: `Range` (blob downloads) and `Content-Range` (upload chunks) parsing, compiled
//! from `server/src/http/range.rs`.
//!
//! Input: the blob size in decimal on the first line, then the header value. For example
//! `1000\nbytes=0-99`. A first line that is not a number is read as size 0.
//!
//! Properties of `parse_range(header, size)`:
//! - No header means `Whole`; every `Partial { start, end }` has `start <= end < size`.
//! - It is deterministic.
//! - On the three canonical forms built from numbers found in the input, it agrees with the
//!   RFC 9110 rules written as a reference over u128:
//!   `bytes=a-b` (a <= b) is bytes a..=min(b, size-1), unsatisfiable when a >= size;
//!   `bytes=a-` is a..=size-1, unsatisfiable when a >= size;
//!   `bytes=-n` is the last min(n, size) bytes, unsatisfiable when n = 0 or size = 0.
//!
//! Properties of `parse_content_range(header)`:
//! - `Some((start, end))` has `start <= end`, and the chunk length `end - start + 1`, which the
//!   upload handlers compute in u64, fits in a u64.
//! - The canonical forms `start-end`, `bytes start-end/*` and `start-end/total` parse back,
//!   unless end is u64::MAX (then the length overflows and the range is refused).
#![no_main]

use berth_fuzz::range::{parse_content_range, parse_range, RangeRequest};
use berth_fuzz::split_first_line;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (size_line, header) = split_first_line(data);
    let size = std::str::from_utf8(size_line)
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(0);
    assert_eq!(parse_range(None, size), RangeRequest::Whole);
    let Ok(header) = std::str::from_utf8(header) else {
        return;
    };
    check_range(Some(header), size);
    check_content_range(header);

    let mut numbers = header
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|run| run.parse::<u64>().ok());
    let (a, b) = (
        numbers.next().unwrap_or(0),
        numbers.next().unwrap_or(u64::MAX),
    );
    let (a, b) = (a.min(b), a.max(b));
    for (form, expected) in [
        (
            format!("bytes={a}-{b}"),
            reference_first_last(a, Some(b), size),
        ),
        (format!("bytes={a}-"), reference_first_last(a, None, size)),
        (format!("bytes=-{b}"), reference_suffix(b, size)),
    ] {
        assert_eq!(
            parse_range(Some(&form), size),
            expected,
            "{form:?} of {size}"
        );
    }
    for form in [
        format!("{a}-{b}"),
        format!("bytes {a}-{b}/*"),
        format!("{a}-{b}/{size}"),
    ] {
        // A range whose length (end - start + 1) does not fit in a u64 is refused.
        let expected = (b < u64::MAX).then_some((a, b));
        assert_eq!(parse_content_range(&form), expected, "{form:?}");
    }
});

fn check_range(header: Option<&str>, size: u64) {
    let parsed = parse_range(header, size);
    assert_eq!(
        parsed,
        parse_range(header, size),
        "parsing is deterministic"
    );
    if let RangeRequest::Partial { start, end } = parsed {
        assert!(start <= end, "{header:?} of {size}: {parsed:?}");
        assert!(end < size, "{header:?} of {size}: {parsed:?}");
    }
}

fn check_content_range(header: &str) {
    let parsed = parse_content_range(header);
    assert_eq!(
        parsed,
        parse_content_range(header),
        "parsing is deterministic"
    );
    if let Some((start, end)) = parsed {
        assert!(start <= end, "{header:?}: {parsed:?}");
        let length = u128::from(end) - u128::from(start) + 1;
        assert!(
            u64::try_from(length).is_ok(),
            "Content-Range {header:?} announces {length} bytes, which overflows the upload \
             handlers' `end - start + 1`"
        );
    }
}

/// `bytes=first-last` or `bytes=first-` (last = None), with first <= last.
fn reference_first_last(first: u64, last: Option<u64>, size: u64) -> RangeRequest {
    let (first, size) = (u128::from(first), u128::from(size));
    if first >= size {
        return RangeRequest::Unsatisfiable;
    }
    let last = last.map_or(size - 1, |l| u128::from(l).min(size - 1));
    partial(first, last)
}

/// `bytes=-suffix`: the last `suffix` bytes.
fn reference_suffix(suffix: u64, size: u64) -> RangeRequest {
    let (suffix, size) = (u128::from(suffix), u128::from(size));
    if suffix == 0 || size == 0 {
        return RangeRequest::Unsatisfiable;
    }
    partial(size - suffix.min(size), size - 1)
}

fn partial(start: u128, end: u128) -> RangeRequest {
    let narrow = |n: u128| u64::try_from(n).expect("a reference range fits in u64");
    RangeRequest::Partial {
        start: narrow(start),
        end: narrow(end),
    }
}
