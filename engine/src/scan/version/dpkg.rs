//! Debian version ordering, as deb-version(7) defines it and dpkg 1.21 implements it.
//!
//! ```text
//! [epoch:]upstream_version[-debian_revision]
//!   epoch     decimal, 0..=i32::MAX; absent means 0
//!   upstream  everything after the first ':' up to the last '-' (so it may hold ':' and '-')
//!   revision  everything after the last '-'; absent means "" (which compares equal to "0")
//! ```
//!
//! Epochs compare as numbers; upstream versions, then revisions, compare by dpkg's `verrevcmp`:
//! alternating runs of non-digits and digits. Non-digit runs compare byte by byte where `~`
//! sorts before everything (even the end of the run), then the end of the run, then letters
//! (ASCII order), then every other byte (ASCII order, after all letters). Digit runs compare
//! as numbers, so leading zeros do not count (`1.09` equals `1.9`).
//!
//! Parsing mirrors dpkg's `parseversion`: leading and trailing blanks are trimmed; what dpkg
//! rejects with an error (empty, embedded blank, bad epoch, nothing after the colon, empty
//! revision after a `-`, empty upstream version) is a [`DpkgVersionError`]. What dpkg only
//! warns about (an upstream version that does not start with a digit, characters outside the
//! allowed sets) still parses and compares exactly as dpkg compares it. Bytes outside ASCII
//! order as dpkg's signed `char` makes them: after the letters, before the other ASCII
//! punctuation.
//!
//! **Invariant:** [`compare`] is a total preorder on all strings: versions dpkg rejects sort
//! before every version it accepts, and among themselves by their bytes.
//!
//! Nothing here allocates; comparison is linear in the inputs' lengths.

use std::cmp::Ordering;

/// A parsed Debian version, borrowing from the text it was parsed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DpkgVersion<'a> {
    /// The epoch, 0 when absent.
    pub epoch: u32,
    /// The upstream version (may contain `:` and `-`).
    pub upstream: &'a str,
    /// The Debian revision, `""` when absent.
    pub revision: &'a str,
}

/// Why dpkg refuses a version string (the cases dpkg reports as errors, not warnings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DpkgVersionError {
    /// Nothing but blanks.
    #[error("version string is empty")]
    Empty,
    /// A blank between non-blank characters.
    #[error("version string has embedded spaces")]
    EmbeddedSpace,
    /// A `:` with no digits before it.
    #[error("epoch in version is empty")]
    EpochEmpty,
    /// Something other than digits before the first `:`.
    #[error("epoch in version is not number")]
    EpochNotNumber,
    /// A negative epoch.
    #[error("epoch in version is negative")]
    EpochNegative,
    /// An epoch above `i32::MAX`.
    #[error("epoch in version is too big")]
    EpochTooBig,
    /// The version ends right after the epoch's colon.
    #[error("nothing after colon in version number")]
    NothingAfterColon,
    /// The version ends with `-`.
    #[error("revision number is empty")]
    RevisionEmpty,
    /// Nothing between the epoch and the revision.
    #[error("version number is empty")]
    UpstreamEmpty,
}

/// dpkg's `isblank` in the C locale.
fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Parses `input` as dpkg does, accepting what dpkg accepts with a warning.
pub fn parse(input: &str) -> Result<DpkgVersion<'_>, DpkgVersionError> {
    let bytes = input.as_bytes();
    let start = bytes
        .iter()
        .position(|&b| !is_blank(b))
        .ok_or(DpkgVersionError::Empty)?;
    let end = bytes[start..]
        .iter()
        .position(|&b| is_blank(b))
        .map_or(bytes.len(), |n| start + n);
    if bytes[end..].iter().any(|&b| !is_blank(b)) {
        return Err(DpkgVersionError::EmbeddedSpace);
    }
    // `start` and `end` sit next to ASCII blanks or the ends, so they are char boundaries.
    let text = &input[start..end];

    let (epoch, rest) = match text.find(':') {
        None => (0, text),
        Some(colon) => {
            let epoch = parse_epoch(&text[..colon])?;
            let rest = &text[colon + 1..];
            if rest.is_empty() {
                return Err(DpkgVersionError::NothingAfterColon);
            }
            (epoch, rest)
        }
    };
    let (upstream, revision) = match rest.rfind('-') {
        None => (rest, ""),
        Some(hyphen) => {
            let revision = &rest[hyphen + 1..];
            if revision.is_empty() {
                return Err(DpkgVersionError::RevisionEmpty);
            }
            (&rest[..hyphen], revision)
        }
    };
    if upstream.is_empty() {
        return Err(DpkgVersionError::UpstreamEmpty);
    }
    Ok(DpkgVersion {
        epoch,
        upstream,
        revision,
    })
}

/// The epoch as dpkg reads it with `strtol(…, 10)`: optional C-locale white space, an optional
/// sign, at least one digit, and nothing else before the colon; "-0" is 0, as in dpkg.
fn parse_epoch(text: &str) -> Result<u32, DpkgVersionError> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() && matches!(bytes[i], b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
        i += 1;
    }
    let negative = match bytes.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let digits = &bytes[i..];
    let digit_count = digits.iter().take_while(|b| b.is_ascii_digit()).count();
    if digit_count == 0 {
        return Err(DpkgVersionError::EpochEmpty);
    }
    if digit_count != digits.len() {
        return Err(DpkgVersionError::EpochNotNumber);
    }
    // Saturate: anything past i32::MAX is an error either way.
    let mut value: u64 = 0;
    for &d in digits {
        value = (value * 10 + u64::from(d - b'0')).min(u64::from(u32::MAX));
    }
    if negative && value != 0 {
        return Err(DpkgVersionError::EpochNegative);
    }
    if value > i32::MAX as u64 {
        return Err(DpkgVersionError::EpochTooBig);
    }
    // value <= i32::MAX, so it fits.
    Ok(value as u32)
}

/// Orders two Debian versions; versions dpkg rejects sort first (see the module invariant).
pub fn compare(a: &str, b: &str) -> Ordering {
    match (parse(a), parse(b)) {
        (Ok(a), Ok(b)) => compare_parsed(&a, &b),
        (Err(_), Ok(_)) => Ordering::Less,
        (Ok(_), Err(_)) => Ordering::Greater,
        (Err(_), Err(_)) => a.as_bytes().cmp(b.as_bytes()),
    }
}

/// Orders two parsed versions: epoch, then upstream version, then revision.
pub fn compare_parsed(a: &DpkgVersion<'_>, b: &DpkgVersion<'_>) -> Ordering {
    a.epoch
        .cmp(&b.epoch)
        .then_with(|| verrevcmp(a.upstream.as_bytes(), b.upstream.as_bytes()))
        .then_with(|| verrevcmp(a.revision.as_bytes(), b.revision.as_bytes()))
}

/// The weight of one byte of a non-digit run (`None` is the run's end). Bytes of 0x80 and
/// above weigh what they do in dpkg, which reads them as a negative `char` plus 256.
fn order(byte: Option<u8>) -> i32 {
    match byte {
        None => 0,
        Some(b) if b.is_ascii_digit() => 0,
        Some(b) if b.is_ascii_alphabetic() => i32::from(b),
        Some(b'~') => -1,
        Some(b) => i32::from(b as i8) + 256,
    }
}

/// dpkg's `verrevcmp`: alternating non-digit runs (by [`order`]) and digit runs (by value).
fn verrevcmp(a: &[u8], b: &[u8]) -> Ordering {
    let (mut i, mut j) = (0, 0);
    let is_digit = |s: &[u8], k: usize| s.get(k).is_some_and(u8::is_ascii_digit);
    while i < a.len() || j < b.len() {
        // The non-digit run. One side may end (or reach a digit) first: its weight is 0 there,
        // and every non-digit byte weighs something else, so the loop returns before running
        // past either end.
        while (i < a.len() && !is_digit(a, i)) || (j < b.len() && !is_digit(b, j)) {
            let (wa, wb) = (order(a.get(i).copied()), order(b.get(j).copied()));
            if wa != wb {
                return wa.cmp(&wb);
            }
            i += 1;
            j += 1;
        }
        // The digit run: leading zeros do not count, then the longer run is the larger
        // number, then the first differing digit decides.
        while a.get(i) == Some(&b'0') {
            i += 1;
        }
        while b.get(j) == Some(&b'0') {
            j += 1;
        }
        let mut first_difference = Ordering::Equal;
        while is_digit(a, i) && is_digit(b, j) {
            if first_difference == Ordering::Equal {
                first_difference = a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
        if is_digit(a, i) {
            return Ordering::Greater;
        }
        if is_digit(b, j) {
            return Ordering::Less;
        }
        if first_difference != Ordering::Equal {
            return first_difference;
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::version::testing::{reference_vectors, SplitMix};
    use std::process::Command;

    /// dpkg's own comparison cases: the `__DATA__` table of `scripts/t/Dpkg_Version.t` (see
    /// `tests/data/scan/README.md` for origin and licence).
    const DPKG_VECTORS: &str = include_str!("../../../../tests/data/scan/versions/dpkg.data");

    /// The vectors' versions that dpkg 1.21 (Debian 12) rejects: `0foo-` ("revision number is
    /// empty", an error since the table was written, when it was accepted) and `-0.6.5`
    /// ("version number is empty"). Pairs holding one are checked under the fallback order.
    const REJECTED_BY_DPKG: &[&str] = &["0foo-", "-0.6.5"];

    #[test]
    fn dpkg_reference_vectors() {
        let vectors = reference_vectors(DPKG_VECTORS);
        assert!(vectors.len() >= 40, "{} vectors", vectors.len());
        let mut fallback = 0;
        for (a, b, mut expected) in vectors {
            let rejected = |v: &str| REJECTED_BY_DPKG.contains(&v);
            assert_eq!(parse(&a).is_err(), rejected(&a), "{a}");
            assert_eq!(parse(&b).is_err(), rejected(&b), "{b}");
            if rejected(&a) || rejected(&b) {
                fallback += 1;
                expected = match (rejected(&a), rejected(&b)) {
                    (true, false) => Ordering::Less,
                    (false, true) => Ordering::Greater,
                    _ => a.as_bytes().cmp(b.as_bytes()),
                };
            }
            assert_eq!(compare(&a, &b), expected, "{a} vs {b}");
            assert_eq!(compare(&b, &a), expected.reverse(), "{b} vs {a}");
        }
        assert_eq!(fallback, 4, "pairs checked under the fallback order");
    }

    /// The installed dpkg really rejects the versions [`REJECTED_BY_DPKG`] names.
    #[test]
    fn dpkg_rejects_what_we_reject() {
        if Command::new("dpkg").arg("--version").output().is_err() {
            println!("dpkg is not on PATH: skipping the check against dpkg");
            return;
        }
        for version in REJECTED_BY_DPKG {
            let status = Command::new("dpkg")
                .args(["--compare-versions", "--", version, "eq", "1"])
                .stderr(std::process::Stdio::null())
                .status()
                .expect("dpkg runs");
            assert_eq!(status.code(), Some(2), "dpkg accepts {version:?}");
        }
    }

    /// (input, expected parse) — lib/dpkg/t/t-version.c's parse cases.
    #[test]
    fn parse_table() {
        use DpkgVersionError::*;
        let v = |epoch, upstream, revision| {
            Ok(DpkgVersion {
                epoch,
                upstream,
                revision,
            })
        };
        let cases: &[(&str, Result<DpkgVersion<'_>, DpkgVersionError>)] = &[
            ("0", v(0, "0", "")),
            ("0:0", v(0, "0", "")),
            ("0:0-0", v(0, "0", "0")),
            ("0:0.0-0.0", v(0, "0.0", "0.0")),
            ("1:0", v(1, "0", "")),
            ("5:1", v(5, "1", "")),
            ("0:0-0-0", v(0, "0-0", "0")),
            ("0:0-0-0-0", v(0, "0-0-0", "0")),
            ("0:0:0-0", v(0, "0:0", "0")),
            ("0:0:0:0-0", v(0, "0:0:0", "0")),
            ("0:0:0-0-0", v(0, "0:0-0", "0")),
            ("0:0-0:0-0", v(0, "0-0:0", "0")),
            ("0:09azAZ.-+~:-0", v(0, "09azAZ.-+~:", "0")),
            ("0:0-azAZ09.+~", v(0, "0", "azAZ09.+~")),
            ("  \t0:0-1", v(0, "0", "1")),
            ("0:0-1\t  ", v(0, "0", "1")),
            ("\t  0:0-1  \t", v(0, "0", "1")),
            ("+1:0", v(1, "0", "")),
            ("-0:1", v(0, "1", "")),
            ("2147483647:1", v(2147483647, "1", "")),
            // Warnings in dpkg, so they parse.
            ("0:abc3-0", v(0, "abc3", "0")),
            ("0:0_a-0", v(0, "0_a", "0")),
            ("0:0-0_", v(0, "0", "0_")),
            ("1.0é", v(0, "1.0é", "")),
            // Errors in dpkg.
            ("", Err(Empty)),
            ("  ", Err(Empty)),
            ("0:", Err(NothingAfterColon)),
            ("0:0 0-1", Err(EmbeddedSpace)),
            ("-1:0-1", Err(EpochNegative)),
            ("999999999999999999999999:0-1", Err(EpochTooBig)),
            ("2147483648:1", Err(EpochTooBig)),
            ("a:0-0", Err(EpochEmpty)),
            ("A:0-0", Err(EpochEmpty)),
            ("1a:0-0", Err(EpochNotNumber)),
            (":1", Err(EpochEmpty)),
            ("-0", Err(UpstreamEmpty)),
            ("0:-0", Err(UpstreamEmpty)),
            ("1.0-", Err(RevisionEmpty)),
        ];
        for (input, expected) in cases {
            assert_eq!(&parse(input), expected, "{input:?}");
        }
    }

    /// Orderings that the vectors do not spell out.
    #[test]
    fn compare_table() {
        use Ordering::*;
        let cases = [
            ("1.0~rc1", "1.0", Less),
            ("1.0~~", "1.0~~a", Less),
            ("1.0~", "1.0", Less),
            ("1.0", "1.0+b1", Less),
            ("1.0a", "1.0+", Less),
            ("1.0-1", "1.0-1~bpo1", Greater),
            ("1.09", "1.9", Equal),
            ("1.0é", "1.0z", Greater),
            ("1.0é", "1.0+", Less),
            ("2:1", "1:9", Greater),
            ("00:1", "1", Equal),
            // Fallback: rejected versions sort first, by bytes among themselves.
            ("", "0", Less),
            ("1.0-", "0", Less),
            ("1.0-", "1.0 1", Greater),
        ];
        for (a, b, expected) in cases {
            assert_eq!(compare(a, b), expected, "{a} vs {b}");
            assert_eq!(compare(b, a), expected.reverse(), "{b} vs {a}");
        }
    }

    /// A random version built to hit dpkg's corners: epochs, several hyphens and colons,
    /// tildes, letters, other punctuation and zero-padded numbers; sometimes invalid.
    fn random_version(rng: &mut SplitMix) -> String {
        const PIECES: &[&str] = &[
            "0", "1", "2", "9", "10", "01", "007", "a", "b", "Z", "~", "~~", ".", "+", "-", ":",
            "rc", "git", "dfsg", "deb12u1", "é",
        ];
        let mut out = String::new();
        if rng.below(4) == 0 {
            out.push_str(["0:", "1:", "2:", "01:"][rng.below(4)]);
        }
        // Mostly start with a digit, as real versions do.
        if rng.below(8) != 0 {
            out.push_str(["0", "1", "2", "10"][rng.below(4)]);
        }
        for _ in 0..rng.below(6) {
            out.push_str(PIECES[rng.below(PIECES.len())]);
        }
        out
    }

    /// Cross-check against the real `dpkg --compare-versions` on a few hundred random pairs
    /// (seeded: the seed is printed, `BERTH_TEST_SEED=<n>` replays). dpkg exits 2 for a
    /// version it rejects; those pairs check only that we reject it too.
    #[test]
    fn agrees_with_dpkg_compare_versions() {
        if Command::new("dpkg").arg("--version").output().is_err() {
            println!("dpkg is not on PATH: skipping the cross-check against dpkg");
            return;
        }
        let mut rng = SplitMix::from_env("dpkg cross-check");
        let mut checked = 0;
        for _ in 0..300 {
            let (a, b) = if rng.below(6) == 0 {
                let a = random_version(&mut rng);
                (a.clone(), a)
            } else {
                (random_version(&mut rng), random_version(&mut rng))
            };
            // dpkg treats an empty argument as "no version"; we never pass it one.
            if a.is_empty() || b.is_empty() {
                continue;
            }
            let relation = |op: &str| {
                let status = Command::new("dpkg")
                    .args(["--compare-versions", "--", &a, op, &b])
                    .stderr(std::process::Stdio::null())
                    .status()
                    .expect("dpkg runs");
                status.code()
            };
            match relation("lt") {
                Some(2) => {
                    assert!(
                        parse(&a).is_err() || parse(&b).is_err(),
                        "dpkg rejects {a:?} or {b:?}, we accept both"
                    );
                    continue;
                }
                Some(0) => assert_eq!(compare(&a, &b), Ordering::Less, "{a:?} lt {b:?}"),
                Some(1) => {
                    let expected = match relation("eq") {
                        Some(0) => Ordering::Equal,
                        Some(1) => Ordering::Greater,
                        other => panic!("dpkg eq on {a:?} {b:?}: {other:?}"),
                    };
                    assert_eq!(compare(&a, &b), expected, "{a:?} vs {b:?}");
                }
                other => panic!("dpkg lt on {a:?} {b:?}: {other:?}"),
            }
            assert!(parse(&a).is_ok() && parse(&b).is_ok(), "{a:?} {b:?}");
            checked += 1;
        }
        println!("dpkg cross-check: {checked} pairs agreed with dpkg");
        assert!(checked >= 150, "only {checked} pairs were comparable");
    }
}
