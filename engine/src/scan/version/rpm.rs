//! RPM version ordering: `rpmvercmp` (rpm 4.18, `rpmio/rpmvercmp.c`) and the comparison of
//! full `[epoch:]version[-release]` strings built on it.
//!
//! `rpmvercmp` reads each string as segments: maximal runs of ASCII digits or of ASCII
//! letters, with every other byte a separator that only ends a segment (`1.0` equals `1_0`
//! and `1+0`), except two that are segments of their own:
//!
//! ```text
//!   ~   sorts before everything, even the end:     1.0~rc1 < 1.0
//!   ^   sorts after the end, before any segment:   1.0 < 1.0^git1 < 1.0.1
//! ```
//!
//! Segments compare pairwise: two numbers by value, two alphabetic runs as text, a number
//! above an alphabetic run. When one string runs out first, the other wins (unless what
//! remains is a `~`).
//!
//! An EVR splits as rpm's `parseEVR` does: leading digits followed by `:` are the epoch
//! (absent or empty means 0), the text after the last `-` is the release. Epochs, versions
//! and releases compare in that order with `rpmvercmp`.
//!
//! Fallbacks, so that [`compare_evr`] is a total order on all strings:
//! - A missing release compares as an empty one (it sorts before any release). rpm's own
//!   dependency matching instead skips the release when either side lacks one, which is not
//!   transitive (`1.0-1 = 1.0 = 1.0-2`); installed packages and advisories always carry one.
//! - A NUL byte (which a C string cannot hold) is a separator.
//!
//! **Invariant:** [`rpmvercmp`] and [`compare_evr`] are total preorders on all strings; they
//! never allocate.

use std::cmp::Ordering;

/// One segment of a version as `rpmvercmp` reads it; the end of the string is `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Segment<'a> {
    Tilde,
    Caret,
    Number(&'a [u8]),
    Alpha(&'a [u8]),
}

/// Reads segments off the front of a version, skipping separators.
struct Segments<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Segments<'a> {
    type Item = Segment<'a>;

    fn next(&mut self) -> Option<Segment<'a>> {
        let skip = self
            .rest
            .iter()
            .take_while(|&&b| !b.is_ascii_alphanumeric() && b != b'~' && b != b'^')
            .count();
        self.rest = &self.rest[skip..];
        let &first = self.rest.first()?;
        let take = |rest: &mut &'a [u8], class: fn(&u8) -> bool| {
            let n = rest.iter().take_while(|b| class(b)).count();
            let (run, tail) = rest.split_at(n);
            *rest = tail;
            run
        };
        Some(match first {
            b'~' => {
                self.rest = &self.rest[1..];
                Segment::Tilde
            }
            b'^' => {
                self.rest = &self.rest[1..];
                Segment::Caret
            }
            b if b.is_ascii_digit() => Segment::Number(take(&mut self.rest, u8::is_ascii_digit)),
            _ => Segment::Alpha(take(&mut self.rest, u8::is_ascii_alphabetic)),
        })
    }
}

/// rpm's `rpmvercmp`: orders two version (or release) strings.
pub fn rpmvercmp(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let mut sa = Segments { rest: a.as_bytes() };
    let mut sb = Segments { rest: b.as_bytes() };
    loop {
        let (x, y) = (sa.next(), sb.next());
        match (x, y) {
            (None, None) => return Ordering::Equal,
            // A tilde sorts before anything, the end included.
            (Some(Segment::Tilde), Some(Segment::Tilde)) => continue,
            (Some(Segment::Tilde), _) => return Ordering::Less,
            (_, Some(Segment::Tilde)) => return Ordering::Greater,
            // A caret sorts after the end but before any segment.
            (Some(Segment::Caret), Some(Segment::Caret)) => continue,
            (None, Some(Segment::Caret)) => return Ordering::Less,
            (Some(Segment::Caret), None) => return Ordering::Greater,
            (Some(Segment::Caret), Some(_)) => return Ordering::Less,
            (Some(_), Some(Segment::Caret)) => return Ordering::Greater,
            // Whichever still has a segment is newer.
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(Segment::Number(_)), Some(Segment::Alpha(_))) => return Ordering::Greater,
            (Some(Segment::Alpha(_)), Some(Segment::Number(_))) => return Ordering::Less,
            (Some(Segment::Number(x)), Some(Segment::Number(y))) => {
                let strip = |s: &'_ [u8]| -> usize { s.iter().take_while(|&&d| d == b'0').count() };
                let (x, y) = (&x[strip(x)..], &y[strip(y)..]);
                let order = x.len().cmp(&y.len()).then_with(|| x.cmp(y));
                if order != Ordering::Equal {
                    return order;
                }
            }
            (Some(Segment::Alpha(x)), Some(Segment::Alpha(y))) => {
                let order = x.cmp(y);
                if order != Ordering::Equal {
                    return order;
                }
            }
        }
    }
}

/// An `[epoch:]version[-release]` split as rpm's `parseEVR` splits it, borrowing the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Evr<'a> {
    /// The epoch's digits; `"0"` when absent or empty.
    pub epoch: &'a str,
    /// The version.
    pub version: &'a str,
    /// The release, if the text has a `-`.
    pub release: Option<&'a str>,
}

impl<'a> Evr<'a> {
    /// Splits `text`; every string splits (there is nothing to reject).
    pub fn parse(text: &'a str) -> Evr<'a> {
        let digits = text.bytes().take_while(u8::is_ascii_digit).count();
        let (epoch, rest) = if text.as_bytes().get(digits) == Some(&b':') {
            let epoch = &text[..digits];
            (
                if epoch.is_empty() { "0" } else { epoch },
                &text[digits + 1..],
            )
        } else {
            ("0", text)
        };
        let (version, release) = match rest.rfind('-') {
            Some(hyphen) => (&rest[..hyphen], Some(&rest[hyphen + 1..])),
            None => (rest, None),
        };
        Evr {
            epoch,
            version,
            release,
        }
    }
}

/// Orders two `[epoch:]version[-release]` strings (see the module's fallbacks).
pub fn compare_evr(a: &str, b: &str) -> Ordering {
    let (a, b) = (Evr::parse(a), Evr::parse(b));
    rpmvercmp(a.epoch, b.epoch)
        .then_with(|| rpmvercmp(a.version, b.version))
        .then_with(|| rpmvercmp(a.release.unwrap_or(""), b.release.unwrap_or("")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::version::testing::SplitMix;
    use std::process::Command;

    /// rpm's `tests/rpmvercmp.at` cases, `RPMVERCMP(a, b, result)` lines (origin and licence in
    /// `tests/data/scan/README.md`).
    const RPM_VECTORS: &str = include_str!("../../../../tests/data/scan/versions/rpmvercmp.at");

    fn rpm_vectors() -> Vec<(String, String, Ordering)> {
        RPM_VECTORS
            .lines()
            .filter_map(|line| line.strip_prefix("RPMVERCMP("))
            .filter_map(|rest| rest.strip_suffix(')'))
            .map(|args| {
                let parts: Vec<&str> = args.split(", ").collect();
                assert_eq!(parts.len(), 3, "{args}");
                let order = match parts[2] {
                    "-1" => Ordering::Less,
                    "0" => Ordering::Equal,
                    "1" => Ordering::Greater,
                    other => panic!("result {other}"),
                };
                (parts[0].to_owned(), parts[1].to_owned(), order)
            })
            .collect()
    }

    #[test]
    fn rpmvercmp_reference_vectors() {
        let vectors = rpm_vectors();
        assert_eq!(vectors.len(), 69, "RPMVERCMP lines");
        for (a, b, expected) in vectors {
            assert_eq!(rpmvercmp(&a, &b), expected, "{a} vs {b}");
            assert_eq!(rpmvercmp(&b, &a), expected.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn caret_table() {
        use Ordering::*;
        // The caret cases of rpm's own test suite that rpmvercmp.at keeps elsewhere.
        let cases = [
            ("1.0^", "1.0", Greater),
            ("1.0^", "1.0^", Equal),
            ("1.0^git1", "1.0", Greater),
            ("1.0^git1", "1.0^git2", Less),
            ("1.0^git1", "1.01", Less),
            ("1.0^20160101", "1.0.1", Less),
            ("1.0^20160101^git1", "1.0^20160101", Greater),
            ("1.0~rc1^git1", "1.0~rc1", Greater),
            ("1.0^git1~pre", "1.0^git1", Less),
            ("1.0", "1.0\0", Equal),
        ];
        for (a, b, expected) in cases {
            assert_eq!(rpmvercmp(a, b), expected, "{a} vs {b}");
            assert_eq!(rpmvercmp(b, a), expected.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn evr_table() {
        use Ordering::*;
        let split = [
            ("1:2.0-3.el9", ("1", "2.0", Some("3.el9"))),
            ("2.0-3", ("0", "2.0", Some("3"))),
            (":2.0-3", ("0", "2.0", Some("3"))),
            ("2.0", ("0", "2.0", None)),
            ("1:2-3-4", ("1", "2-3", Some("4"))),
            ("a:1-2", ("0", "a:1", Some("2"))),
            ("", ("0", "", None)),
        ];
        for (text, (epoch, version, release)) in split {
            assert_eq!(
                Evr::parse(text),
                Evr {
                    epoch,
                    version,
                    release
                },
                "{text:?}"
            );
        }
        let cases = [
            ("1:1.0-1", "2.0-1", Greater),
            ("0:1.0-1", "1.0-1", Equal),
            ("1.0-1", "1.0-2", Less),
            ("1.0-1.el9", "1.0-1.el9_2", Less),
            ("1.0-10", "1.0-9", Greater),
            ("1.0", "1.0-1", Less),
            ("01:1.0-1", "1:1.0-1", Equal),
            ("1.0~rc1-1", "1.0-1", Less),
        ];
        for (a, b, expected) in cases {
            assert_eq!(compare_evr(a, b), expected, "{a} vs {b}");
            assert_eq!(compare_evr(b, a), expected.reverse(), "{b} vs {a}");
        }
    }

    /// A random version for rpm: numbers (some zero-padded), letters, separators, `~` and `^`.
    fn random_version(rng: &mut SplitMix, with_evr: bool) -> String {
        const PIECES: &[&str] = &[
            "0", "1", "2", "10", "01", "007", "a", "b", "rc", "git", "el9", "fc38", "~", "^", ".",
            "_", "+", ",", "é",
        ];
        let mut out = String::new();
        if with_evr && rng.below(4) == 0 {
            out.push_str(["0:", "1:", "2:", "01:"][rng.below(4)]);
        }
        out.push_str(["0", "1", "2", "10"][rng.below(4)]);
        for _ in 0..rng.below(6) {
            out.push_str(PIECES[rng.below(PIECES.len())]);
        }
        if with_evr {
            out.push('-');
            out.push_str(["1", "2", "1.el9", "1.el9_2", "10"][rng.below(5)]);
            if rng.below(3) == 0 {
                out.push_str(PIECES[rng.below(PIECES.len())]);
            }
        }
        out
    }

    fn order_of(result: &str) -> Ordering {
        match result {
            "-1" => Ordering::Less,
            "0" => Ordering::Equal,
            "1" => Ordering::Greater,
            other => panic!("rpm printed {other:?}"),
        }
    }

    /// Cross-check against Debian's `rpm` (its Lua `rpm.vercmp` and `rpm.ver` comparisons) on
    /// a few hundred random pairs in one `rpm --eval` (seeded: the seed is printed,
    /// `BERTH_TEST_SEED=<n>` replays). Skipped with a note where `rpm` is not installed.
    #[test]
    fn agrees_with_rpm() {
        if Command::new("rpm").arg("--version").output().is_err() {
            println!("rpm is not on PATH: skipping the cross-check against rpm");
            return;
        }
        let mut rng = SplitMix::from_env("rpm cross-check");
        let mut pairs = Vec::new();
        for i in 0..400 {
            let with_evr = i % 2 == 1;
            let a = random_version(&mut rng, with_evr);
            let b = if rng.below(6) == 0 {
                a.clone()
            } else {
                random_version(&mut rng, with_evr)
            };
            pairs.push((with_evr, a, b));
        }
        // Lua long brackets quote the versions verbatim (they hold no `]`).
        // One function per comparison keeps Lua's limit of 200 locals per function away.
        let mut lua = String::from("%{lua:\n");
        for (with_evr, a, b) in &pairs {
            if *with_evr {
                lua += &format!(
                    "do local a, b = rpm.ver([[{a}]]), rpm.ver([[{b}]]); \
                     print((a < b and '-1' or (a == b and '0' or '1')) .. '\\n') end\n"
                );
            } else {
                lua += &format!("print(rpm.vercmp([[{a}]], [[{b}]]) .. '\\n')\n");
            }
        }
        lua += "}";
        let output = Command::new("rpm")
            .args(["--eval", &lua])
            .output()
            .expect("rpm runs");
        assert!(output.status.success(), "rpm --eval failed: {output:?}");
        let stdout = String::from_utf8(output.stdout).expect("rpm prints UTF-8");
        let results: Vec<&str> = stdout.lines().filter(|l| !l.is_empty()).collect();
        assert_eq!(results.len(), pairs.len(), "rpm printed {stdout:?}");
        for ((with_evr, a, b), result) in pairs.iter().zip(results) {
            let expected = order_of(result.trim());
            let actual = if *with_evr {
                compare_evr(a, b)
            } else {
                rpmvercmp(a, b)
            };
            assert_eq!(actual, expected, "{a:?} vs {b:?} (evr: {with_evr})");
        }
        println!("rpm cross-check: {} pairs agreed with rpm", pairs.len());
    }
}
