//! Alpine version ordering, as apk-tools (2.14 and 3.x, `src/version.c`) implements it.
//!
//! ```text
//! digit{.digit}...{letter}{_suffix{number}}...{~hash}{-r#}
//!   1.2.3b_rc2_p1~0a1b-r4
//!   suffixes  _alpha < _beta < _pre < _rc < (none) < _cvs < _svn < _git < _hg < _p
//! ```
//!
//! A version is read as a sequence of tokens, each allowed only after certain others (a
//! letter only right after a number, a suffix number only after a suffix, at most one `~hash`
//! and one `-rN`, in that order). Two versions compare token by token while both hold a token
//! of the same kind: numbers by value (except that a dotted number with a leading zero on
//! either side compares as text, like Gentoo), letters and hashes as text, suffixes by the rank
//! above. Where the kinds first differ, a pre-release suffix (`_alpha` … `_rc`) makes its
//! version the smaller; otherwise the version that goes on with a "later" kind of token is
//! the smaller (`1.0_p1 < 1.0.1`, `1.0 < 1.0.1`, `1.0-r1 < 1.0a`).
//!
//! Invalid versions need no separate fallback: like apk, the comparison reads each version up
//! to its first token that does not parse, and that point counts as a token kind of its own
//! that sorts just below the end of a version (`1.0bc < 1.0b`). Two versions that are equal up
//! to an invalid token are equal.
//!
//! One deliberate difference from apk-tools: apk reads numbers into a 64-bit integer that
//! wraps; here numbers of any length compare by their exact value.
//!
//! **Invariant:** [`compare`] is a total preorder on all strings; it never allocates.

use std::cmp::Ordering;

/// What a token is; the order of the variants is apk's (`enum PARTS`), which the comparison
/// uses where two versions first differ in kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    InitialDigit,
    Digit,
    Letter,
    Suffix,
    SuffixNumber,
    CommitHash,
    RevisionNumber,
    End,
    Invalid,
}

/// A suffix's rank; `None` is the pivot between pre-release and post-release suffixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Suffix {
    Alpha,
    Beta,
    Pre,
    Rc,
    None,
    Cvs,
    Svn,
    Git,
    Hg,
    P,
}

impl Suffix {
    fn parse(text: &[u8]) -> Option<Suffix> {
        Some(match text {
            b"alpha" => Suffix::Alpha,
            b"beta" => Suffix::Beta,
            b"pre" => Suffix::Pre,
            b"rc" => Suffix::Rc,
            b"cvs" => Suffix::Cvs,
            b"svn" => Suffix::Svn,
            b"git" => Suffix::Git,
            b"hg" => Suffix::Hg,
            b"p" => Suffix::P,
            _ => return None,
        })
    }
}

/// The reader's state: the current token and what is left of the version after it.
struct Tokens<'a> {
    kind: Kind,
    value: &'a [u8],
    suffix: Suffix,
    rest: &'a [u8],
}

impl<'a> Tokens<'a> {
    /// The first token, which must be a number.
    fn first(version: &'a [u8]) -> Tokens<'a> {
        let mut tokens = Tokens {
            kind: Kind::InitialDigit,
            value: b"",
            suffix: Suffix::None,
            rest: version,
        };
        tokens.take_digits();
        tokens
    }

    fn take_digits(&mut self) {
        let n = self.rest.iter().take_while(|b| b.is_ascii_digit()).count();
        let (value, rest) = self.rest.split_at(n);
        self.value = value;
        self.rest = rest;
        if value.is_empty() {
            self.kind = Kind::Invalid;
        }
    }

    /// A span of `class`, where (as in apk's `apk_blob_spn`) bytes of 0x80 and above always
    /// belong to the class.
    fn take_span(&mut self, class: fn(u8) -> bool) -> &'a [u8] {
        let n = self
            .rest
            .iter()
            .take_while(|&&b| b >= 0x80 || class(b))
            .count();
        let (span, rest) = self.rest.split_at(n);
        self.rest = rest;
        span
    }

    /// Moves to the next token; only called while the current one is neither `End` nor
    /// `Invalid`.
    fn advance(&mut self) {
        let Some(&first) = self.rest.first() else {
            self.kind = Kind::End;
            return;
        };
        let previous = self.kind;
        self.kind = Kind::Invalid;
        match first {
            b'a'..=b'z' if previous <= Kind::Digit => {
                self.value = &self.rest[..1];
                self.rest = &self.rest[1..];
                self.kind = Kind::Letter;
            }
            b'.' if previous <= Kind::Digit => {
                self.rest = &self.rest[1..];
                self.kind = Kind::Digit;
                self.take_digits();
            }
            b'0'..=b'9' if previous == Kind::Suffix => {
                self.kind = Kind::SuffixNumber;
                self.take_digits();
            }
            b'_' if previous <= Kind::SuffixNumber => {
                self.rest = &self.rest[1..];
                let text = self.take_span(|b| b.is_ascii_lowercase());
                if let Some(suffix) = Suffix::parse(text) {
                    self.value = text;
                    self.suffix = suffix;
                    self.kind = Kind::Suffix;
                }
            }
            b'~' if previous < Kind::CommitHash => {
                self.rest = &self.rest[1..];
                let hash = self.take_span(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
                if !hash.is_empty() {
                    self.value = hash;
                    self.kind = Kind::CommitHash;
                }
            }
            b'-' if previous < Kind::RevisionNumber && self.rest.get(1) == Some(&b'r') => {
                self.rest = &self.rest[2..];
                self.kind = Kind::RevisionNumber;
                self.take_digits();
            }
            _ => {}
        }
    }
}

/// Compares two digit strings by value, whatever their length.
fn compare_numbers(a: &[u8], b: &[u8]) -> Ordering {
    let strip = |s: &'_ [u8]| -> usize { s.iter().take_while(|&&d| d == b'0').count() };
    let (a, b) = (&a[strip(a)..], &b[strip(b)..]);
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// Compares two tokens of the same kind.
fn compare_tokens(a: &Tokens<'_>, b: &Tokens<'_>) -> Ordering {
    match a.kind {
        // Gentoo's rule: a dotted number with a leading zero compares as text.
        Kind::Digit if a.value.first() == Some(&b'0') || b.value.first() == Some(&b'0') => {
            a.value.cmp(b.value)
        }
        Kind::InitialDigit | Kind::Digit | Kind::SuffixNumber | Kind::RevisionNumber => {
            compare_numbers(a.value, b.value)
        }
        Kind::Suffix => a.suffix.cmp(&b.suffix),
        Kind::Letter | Kind::CommitHash | Kind::End | Kind::Invalid => a.value.cmp(b.value),
    }
}

/// Orders two Alpine versions as apk does (see the module documentation).
pub fn compare(a: &str, b: &str) -> Ordering {
    let mut ta = Tokens::first(a.as_bytes());
    let mut tb = Tokens::first(b.as_bytes());
    while ta.kind == tb.kind && ta.kind < Kind::End {
        let order = compare_tokens(&ta, &tb);
        if order != Ordering::Equal {
            return order;
        }
        ta.advance();
        tb.advance();
    }
    if ta.kind == tb.kind {
        return Ordering::Equal;
    }
    // The versions agree up to here and one goes on with a different kind of token.
    if ta.kind == Kind::Suffix && ta.suffix < Suffix::None {
        return Ordering::Less;
    }
    if tb.kind == Kind::Suffix && tb.suffix < Suffix::None {
        return Ordering::Greater;
    }
    // A "later" kind of token (an end, a revision) makes the smaller version.
    tb.kind.cmp(&ta.kind)
}

/// Whether apk accepts `version` as valid (apk's `apk_version_validate`).
pub fn is_valid(version: &str) -> bool {
    let mut tokens = Tokens::first(version.as_bytes());
    while tokens.kind < Kind::End {
        tokens.advance();
    }
    tokens.kind == Kind::End
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::version::testing::reference_vectors;

    /// apk-tools' `test/version.data` (origin and licence in
    /// `tests/data/scan/README.md`).
    const APK_VECTORS: &str = include_str!("../../../../tests/data/scan/versions/apk.data");

    #[test]
    fn apk_reference_vectors() {
        let vectors = reference_vectors(APK_VECTORS);
        assert!(vectors.len() >= 700, "{} vectors", vectors.len());
        for (a, b, expected) in vectors {
            assert_eq!(compare(&a, &b), expected, "{a} vs {b}");
            assert_eq!(compare(&b, &a), expected.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn compare_table() {
        use Ordering::*;
        let cases = [
            ("1.0_alpha", "1.0_beta", Less),
            ("1.0_beta", "1.0_pre", Less),
            ("1.0_pre", "1.0_rc", Less),
            ("1.0_rc", "1.0", Less),
            ("1.0", "1.0_cvs", Less),
            ("1.0_cvs", "1.0_svn", Less),
            ("1.0_svn", "1.0_git", Less),
            ("1.0_git", "1.0_hg", Less),
            ("1.0_hg", "1.0_p", Less),
            ("1.0_p1", "1.0.1", Less),
            ("1.0-r1", "1.0a", Less),
            ("1.0-r9", "1.0-r10", Less),
            ("1.0~abc", "1.0~abd", Less),
            ("1.0~abc-r1", "1.0-r1", Greater),
            ("1.01", "1.1", Less),
            ("1.001", "1.01", Less),
            ("01.0", "1.0", Equal),
            ("1.0bc", "1.0b", Less),
            ("1.0bc", "1.0bd", Equal),
            ("1.0_foo", "1.0", Less),
            ("", "0", Less),
            ("x", "", Equal),
            (
                "1.99999999999999999999999999",
                "1.99999999999999999999999998",
                Greater,
            ),
        ];
        for (a, b, expected) in cases {
            assert_eq!(compare(a, b), expected, "{a} vs {b}");
            assert_eq!(compare(b, a), expected.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn validity_table() {
        let cases = [
            ("1", true),
            ("1.2.3b_rc2_p1~0a1b-r4", true),
            ("1.0_alpha_pre2", true),
            ("0.1.0_alpha", true),
            ("", false),
            ("a1", false),
            ("1.0bc", false),
            ("1.0_foo", false),
            ("1.0-1", false),
            ("1.0-r", false),
            ("1.0~", false),
            ("1.0~ABC", false),
            ("1.0-r1-r2", false),
            ("1.0-r1_p1", false),
        ];
        for (version, valid) in cases {
            assert_eq!(is_valid(version), valid, "{version:?}");
        }
    }
}
