//! Version ordering per packaging ecosystem: which installed version is older than a fix.
//!
//! - [`dpkg`]: Debian and Ubuntu (deb-version(7), dpkg's `verrevcmp`).
//! - [`apk`]: Alpine (apk-tools' tokenizer).
//! - [`rpm`]: Red Hat, Fedora, Rocky, AlmaLinux, SUSE (`rpmvercmp` and `[E:]V-R`).
//!
//! [`compare`] is the one entry point the matcher needs. Each comparator is written here
//! rather than taken from a crate: each is a page of code, must agree with its reference
//! implementation on its own test vectors (and, where the tool is installed, on random pairs
//! checked against `dpkg --compare-versions` and rpm's Lua `rpm.vercmp`), and must be total
//! on every input, which a crate that returns `Result` on parse failures is not.
//!
//! **Invariant:** for every scheme, [`compare`] is a total preorder on all strings
//! (reflexive, antisymmetric as `compare(a, b) == compare(b, a).reverse()`, transitive), never
//! panics and never allocates. Each module documents the order it gives versions its tool
//! rejects.

pub mod apk;
pub mod dpkg;
pub mod rpm;

use std::cmp::Ordering;

/// Which ecosystem's rules order a pair of versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VersionScheme {
    /// Debian packages: `[epoch:]upstream[-revision]` ([`dpkg::compare`]).
    Dpkg,
    /// Alpine packages: `1.2.3b_rc1-r0` ([`apk::compare`]).
    Apk,
    /// RPM packages: `[epoch:]version-release` ([`rpm::compare_evr`]).
    Rpm,
}

/// Orders two versions under `scheme`'s rules. Total on all strings (see the module
/// invariant); each scheme documents where invalid versions sort.
pub fn compare(scheme: VersionScheme, a: &str, b: &str) -> Ordering {
    match scheme {
        VersionScheme::Dpkg => dpkg::compare(a, b),
        VersionScheme::Apk => apk::compare(a, b),
        VersionScheme::Rpm => rpm::compare_evr(a, b),
    }
}

/// Shared by the comparators' tests: reference-vector files and a seeded generator.
#[cfg(test)]
pub(crate) mod testing {
    use std::cmp::Ordering;

    /// Reads `a OP b` vectors, one per line, where OP is `<`, `=` or `>` (apk's format) or a
    /// trailing `-1`, `0` or `1` (dpkg's); `#` starts a comment.
    pub(crate) fn reference_vectors(text: &str) -> Vec<(String, String, Ordering)> {
        let mut out = Vec::new();
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let words: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(words.len(), 3, "vector line {line:?}");
            let (a, b, order) = match words[1] {
                "<" => (words[0], words[2], Ordering::Less),
                "=" => (words[0], words[2], Ordering::Equal),
                ">" => (words[0], words[2], Ordering::Greater),
                _ => {
                    let order = match words[2] {
                        "-1" => Ordering::Less,
                        "0" => Ordering::Equal,
                        "1" => Ordering::Greater,
                        other => panic!("vector line {line:?}: result {other:?}"),
                    };
                    (words[0], words[1], order)
                }
            };
            out.push((a.to_owned(), b.to_owned(), order));
        }
        out
    }

    /// SplitMix64: small, seeded, good enough to pick test inputs.
    pub(crate) struct SplitMix(u64);

    impl SplitMix {
        /// Seeded from `BERTH_TEST_SEED` when set (a replay), else from the clock; the seed is
        /// printed either way.
        pub(crate) fn from_env(test: &str) -> SplitMix {
            let seed = std::env::var("BERTH_TEST_SEED")
                .ok()
                .map(|s| s.parse::<u64>().expect("BERTH_TEST_SEED is a u64"))
                .unwrap_or_else(|| {
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_nanos() as u64)
                });
            println!("{test}: seed {seed} (replay with BERTH_TEST_SEED={seed})");
            SplitMix(seed)
        }

        pub(crate) fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        /// A number in `0..n` (`n > 0`).
        pub(crate) fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SCHEMES: [VersionScheme; 3] =
        [VersionScheme::Dpkg, VersionScheme::Apk, VersionScheme::Rpm];

    /// Short strings over the characters every scheme treats specially, so random pairs often
    /// share prefixes and hit the interesting branches; sometimes any text at all.
    fn version_like() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => proptest::string::string_regex(
                "[0-9]{0,2}([.:~^_+-]|[0-9]{1,3}|[a-z]{1,2}|_(alpha|rc|p)|-r[0-9]|~[0-9a-f]{1,2}|é|A| ){0,5}"
            )
            .expect("a valid regex"),
            1 => any::<String>(),
        ]
    }

    fn scheme() -> impl Strategy<Value = VersionScheme> {
        prop::sample::select(SCHEMES.to_vec())
    }

    /// `a <= b` and `b <= c` imply `a <= c`, and equality is transitive.
    fn check_transitive(scheme: VersionScheme, a: &str, b: &str, c: &str) {
        let ab = compare(scheme, a, b);
        let bc = compare(scheme, b, c);
        let ac = compare(scheme, a, c);
        if ab != Ordering::Greater && bc != Ordering::Greater {
            assert_ne!(ac, Ordering::Greater, "{scheme:?}: {a:?} <= {b:?} <= {c:?}");
        }
        if ab == Ordering::Equal && bc == Ordering::Equal {
            assert_eq!(ac, Ordering::Equal, "{scheme:?}: {a:?} = {b:?} = {c:?}");
        }
    }

    proptest! {
        #[test]
        fn reflexive(scheme in scheme(), a in version_like()) {
            prop_assert_eq!(compare(scheme, &a, &a), Ordering::Equal);
        }

        #[test]
        fn antisymmetric(scheme in scheme(), a in version_like(), b in version_like()) {
            prop_assert_eq!(compare(scheme, &a, &b), compare(scheme, &b, &a).reverse());
        }

        #[test]
        fn transitive(scheme in scheme(), a in version_like(), b in version_like(), c in version_like()) {
            for (x, y, z) in [(&a, &b, &c), (&a, &c, &b), (&b, &a, &c), (&b, &c, &a), (&c, &a, &b), (&c, &b, &a)] {
                check_transitive(scheme, x, y, z);
            }
        }

        /// Sorting many versions and checking every pair of the result tests transitivity far
        /// more broadly than triples do (and `sort_by` itself panics on some inconsistencies).
        #[test]
        fn sorted_lists_are_consistent(scheme in scheme(), mut versions in proptest::collection::vec(version_like(), 0..40)) {
            versions.sort_by(|a, b| compare(scheme, a, b));
            for i in 0..versions.len() {
                for j in i + 1..versions.len() {
                    prop_assert_ne!(
                        compare(scheme, &versions[i], &versions[j]),
                        Ordering::Greater,
                        "{:?}: {:?} sorted before {:?}", scheme, &versions[i], &versions[j]
                    );
                }
            }
        }
    }

    #[test]
    fn compare_dispatches_by_scheme() {
        // `1.0~rc1` vs `1.0`: a pre-release for dpkg and rpm; apk reads `~rc1` as invalid
        // (not a hex hash), so it is smaller there too, but `1.0_rc1` is only a pre-release
        // for apk.
        assert_eq!(
            compare(VersionScheme::Dpkg, "1.0~rc1", "1.0"),
            Ordering::Less
        );
        assert_eq!(
            compare(VersionScheme::Rpm, "1.0~rc1", "1.0"),
            Ordering::Less
        );
        assert_eq!(
            compare(VersionScheme::Apk, "1.0_rc1", "1.0"),
            Ordering::Less
        );
        assert_eq!(
            compare(VersionScheme::Dpkg, "1.0_rc1", "1.0"),
            Ordering::Greater
        );
        assert_eq!(
            compare(VersionScheme::Rpm, "1.0_rc1", "1.0"),
            Ordering::Greater
        );
        // Epochs: dpkg and rpm have them, apk does not.
        assert_eq!(
            compare(VersionScheme::Dpkg, "1:0.1", "2.0"),
            Ordering::Greater
        );
        assert_eq!(
            compare(VersionScheme::Rpm, "1:0.1-1", "2.0-1"),
            Ordering::Greater
        );
    }
}
