//! Shared pieces of Berth's fuzz targets (`fuzz_targets/`, one binary per target).
//!
//! The server is a binary crate, so its pure HTTP parsers cannot be imported; they are compiled
//! here from the server's own source files instead, so the fuzzers exercise exactly the
//! production code:
//!
//! - [`router`]: `server/src/http/router.rs`, the one route table (needs only `http`).
//! - [`range`]: `server/src/http/range.rs`, `Range` and `Content-Range` parsing (no deps).
//!
//! **Invariant:** nothing here reimplements what it tests. Helpers only split fuzz inputs into
//! parts and state properties; reference models live in the target that uses them and are
//! written differently from the code under test (simpler, slower, or over wider integers).

#[path = "../../server/src/http/router.rs"]
pub mod router;

#[path = "../../server/src/http/range.rs"]
pub mod range;

/// The longest error message any parser may produce, in bytes. Errors quote untrusted input
/// only as a bounded excerpt (100 characters, up to 4 bytes each), plus their own prose.
pub const ERROR_MESSAGE_BYTES_MAX: usize = 2048;

/// Splits a fuzz input at its first `\n`: the first line (without the `\n`) and the rest.
/// An input without `\n` is all first line and an empty rest.
///
/// Several targets take a small header line and a body this way, so their seed corpora stay
/// readable text files.
pub fn split_first_line(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[]),
    }
}

/// Panics unless `message` is at most [`ERROR_MESSAGE_BYTES_MAX`] bytes: a hostile input must
/// not be able to make an error (or the log line quoting it) arbitrarily large.
pub fn assert_bounded_error(message: &str, input_bytes: usize) {
    assert!(
        message.len() <= ERROR_MESSAGE_BYTES_MAX,
        "an error for a {input_bytes}-byte input is {} bytes long: {:?}",
        message.len(),
        &message[..message.floor_char_boundary(200)]
    );
}

/// Lowercase hex, written out by hand so that models do not share the engine's encoder.
pub fn hex_lower(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_first_line_cases() {
        let check = |input: &[u8], first: &[u8], rest: &[u8]| {
            assert_eq!(split_first_line(input), (first, rest), "{input:?}");
        };
        check(b"", b"", b"");
        check(b"abc", b"abc", b"");
        check(b"a\n", b"a", b"");
        check(b"\nbody", b"", b"body");
        check(b"ct\n{\n}", b"ct", b"{\n}");
    }

    #[test]
    fn hex_lower_cases() {
        assert_eq!(hex_lower(&[]), "");
        assert_eq!(hex_lower(&[0x00, 0x0f, 0xa0, 0xff]), "000fa0ff");
    }
}
