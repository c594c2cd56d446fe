//! `Range` (blob downloads) and `Content-Range` (upload chunks) parsing. Pure functions over
//! untrusted text; fuzzed.

/// What a `Range` request header asks of a blob of `size` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeRequest {
    /// No usable range: serve the whole blob (200). Also used for syntax we do not serve
    /// (several ranges, other units), which RFC 9110 allows a server to ignore.
    Whole,
    /// Serve bytes `start..=end` (206).
    Partial { start: u64, end: u64 },
    /// Syntactically valid but outside the blob (416).
    Unsatisfiable,
}

pub fn parse_range(header: Option<&str>, size: u64) -> RangeRequest {
    let Some(header) = header else {
        return RangeRequest::Whole;
    };
    let Some(spec) = header.trim().strip_prefix("bytes=") else {
        return RangeRequest::Whole;
    };
    if spec.contains(',') {
        return RangeRequest::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeRequest::Whole;
    };
    let (first, last) = (first.trim(), last.trim());
    match (first.is_empty(), last.is_empty()) {
        // bytes=-N: the last N bytes.
        (true, false) => match last.parse::<u64>() {
            Ok(0) => RangeRequest::Unsatisfiable,
            Ok(n) if size == 0 => {
                let _ = n;
                RangeRequest::Unsatisfiable
            }
            Ok(n) => RangeRequest::Partial {
                start: size.saturating_sub(n),
                end: size - 1,
            },
            Err(_) => RangeRequest::Whole,
        },
        // bytes=S-: from S to the end.
        (false, true) => match first.parse::<u64>() {
            Ok(start) if start < size => RangeRequest::Partial {
                start,
                end: size - 1,
            },
            Ok(_) => RangeRequest::Unsatisfiable,
            Err(_) => RangeRequest::Whole,
        },
        // bytes=S-E
        (false, false) => match (first.parse::<u64>(), last.parse::<u64>()) {
            (Ok(start), Ok(end)) if start <= end => {
                if start >= size {
                    RangeRequest::Unsatisfiable
                } else {
                    RangeRequest::Partial {
                        start,
                        end: end.min(size - 1),
                    }
                }
            }
            _ => RangeRequest::Whole,
        },
        (true, true) => RangeRequest::Whole,
    }
}

/// An upload chunk's `Content-Range`: `<start>-<end>` inclusive (the distribution spec's form;
/// a leading `bytes ` and a trailing `/<total>` are tolerated). None when malformed, including
/// a range whose length does not fit in a u64 (bug story: `0-18446744073709551615` passed here
/// and overflowed `end - start + 1` in the handler, a panic that took the daemon down; found by
/// the `range` fuzz target).
pub fn parse_content_range(header: &str) -> Option<(u64, u64)> {
    let text = header.trim_matches(' ');
    let text = text.strip_prefix("bytes ").unwrap_or(text);
    let text = text.split_once('/').map_or(text, |(range, _total)| range);
    let (start, end) = text.split_once('-')?;
    let (start, end) = (digits(start)?, digits(end)?);
    (start <= end && end < u64::MAX).then_some((start, end))
}

/// A non-empty run of ASCII digits as a u64; no sign, no spaces.
fn digits(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use RangeRequest::*;

    fn check(header: Option<&str>, size: u64, expected: RangeRequest) {
        assert_eq!(parse_range(header, size), expected, "{header:?} of {size}");
    }

    #[test]
    fn ranges() {
        check(None, 10, Whole);
        check(Some("bytes=0-3"), 10, Partial { start: 0, end: 3 });
        check(Some("bytes=5-"), 10, Partial { start: 5, end: 9 });
        check(Some("bytes=-3"), 10, Partial { start: 7, end: 9 });
        check(Some("bytes=-30"), 10, Partial { start: 0, end: 9 });
        check(Some("bytes=8-100"), 10, Partial { start: 8, end: 9 });
        check(Some("bytes=10-"), 10, Unsatisfiable);
        check(Some("bytes=10-20"), 10, Unsatisfiable);
        check(Some("bytes=-0"), 10, Unsatisfiable);
        check(Some("bytes=0-"), 0, Unsatisfiable);
        check(Some("bytes=5-2"), 10, Whole);
        check(Some("bytes=0-1,3-4"), 10, Whole);
        check(Some("items=0-1"), 10, Whole);
        check(Some("bytes=x-1"), 10, Whole);
        check(Some("bytes=-"), 10, Whole);
    }

    #[test]
    fn content_ranges() {
        assert_eq!(parse_content_range("0-99"), Some((0, 99)));
        assert_eq!(parse_content_range("bytes 100-199/*"), Some((100, 199)));
        assert_eq!(parse_content_range("100-199/1000"), Some((100, 199)));
        assert_eq!(parse_content_range("5-4"), None);
        assert_eq!(parse_content_range("-4"), None);
        assert_eq!(parse_content_range("a-b"), None);
        assert_eq!(parse_content_range(""), None);
        assert_eq!(parse_content_range("0-18446744073709551615"), None);
        assert_eq!(
            parse_content_range("0-18446744073709551614"),
            Some((0, u64::MAX - 1))
        );
        assert_eq!(parse_content_range("+1-5"), None);
        assert_eq!(parse_content_range("1- 5"), None);
    }
}
