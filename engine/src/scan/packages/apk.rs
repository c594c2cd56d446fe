//! Alpine's database of installed packages, `lib/apk/db/installed`.
//!
//! ```text
//! C:Q1myMNfd7u5v5UTgNHeq1e31qTjZU=      one `K:value` line per field (K one character, case
//! P:alpine-baselayout                   matters); a blank line ends a package; F:/R:/Z:/a:
//! V:3.2.0-r6                            lines list its files and repeat freely
//! A:x86_64
//! o:alpine-baselayout
//! F:etc
//! R:fstab
//! ```
//!
//! Kept: `P` (name), `V` (version), `A` (architecture) and `o` (origin: the aports package it
//! was built from, which Alpine's advisories name). Alpine builds every subpackage at its
//! origin's version, so the source version is the package's own. Every entry in the file is
//! installed (apk removes an entry when it removes the package).
//!
//! Strictness: `P`, `V`, `A` and `o` must appear at most once per entry; an entry without `P`
//! or `V` is an error; a line that is not `K:value` is an error.

use super::{
    check_input_size, field_text, numbered_lines, InstalledPackage, PackageDb, PackageDbError,
    PackageDbLimits,
};

const DB: PackageDb = PackageDb::ApkInstalled;

/// The kept fields of one entry.
#[derive(Default)]
struct Entry<'a> {
    line: u64,
    name: Option<&'a [u8]>,
    version: Option<&'a [u8]>,
    arch: Option<&'a [u8]>,
    origin: Option<&'a [u8]>,
    any_field: bool,
}

/// Parses `lib/apk/db/installed`: its packages, in file order.
pub fn parse_apk_installed(
    bytes: &[u8],
    limits: &PackageDbLimits,
) -> Result<Vec<InstalledPackage>, PackageDbError> {
    check_input_size(DB, bytes, limits)?;
    let mut packages = Vec::new();
    let mut entry = Entry::default();
    for (n, line) in numbered_lines(bytes) {
        if line.is_empty() {
            finish(std::mem::take(&mut entry), limits, &mut packages)?;
            continue;
        }
        let [key, b':', ..] = line else {
            return Err(PackageDbError::LineMalformed { db: DB, line: n });
        };
        if !entry.any_field {
            entry.line = n;
            entry.any_field = true;
        }
        let value = &line[2..];
        let (slot, field) = match key {
            b'P' => (&mut entry.name, "P (name)"),
            b'V' => (&mut entry.version, "V (version)"),
            b'A' => (&mut entry.arch, "A (architecture)"),
            b'o' => (&mut entry.origin, "o (origin)"),
            _ => continue,
        };
        if slot.replace(value).is_some() {
            return Err(PackageDbError::FieldRepeated {
                db: DB,
                entry: entry.line,
                field,
            });
        }
    }
    finish(entry, limits, &mut packages)?;
    Ok(packages)
}

fn finish(
    entry: Entry<'_>,
    limits: &PackageDbLimits,
    packages: &mut Vec<InstalledPackage>,
) -> Result<(), PackageDbError> {
    if !entry.any_field {
        return Ok(());
    }
    if packages.len() >= limits.packages_max {
        return Err(PackageDbError::TooManyPackages {
            db: DB,
            packages_max: limits.packages_max,
        });
    }
    let at = entry.line;
    let required = |value: Option<&[u8]>, field: &'static str| match value {
        Some(v) if !v.is_empty() => field_text(DB, at, field, v, limits),
        _ => Err(PackageDbError::FieldMissing {
            db: DB,
            entry: at,
            field,
        }),
    };
    let optional = |value: Option<&[u8]>, field: &'static str| match value {
        Some(v) if !v.is_empty() => field_text(DB, at, field, v, limits).map(Some),
        _ => Ok(None),
    };
    let name = required(entry.name, "P (name)")?;
    let version = required(entry.version, "V (version)")?;
    let arch = optional(entry.arch, "A (architecture)")?;
    let source_name = optional(entry.origin, "o (origin)")?.unwrap_or_else(|| name.clone());
    packages.push(InstalledPackage {
        source_version: version.clone(),
        name,
        version,
        source_name,
        arch,
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::packages::testing::{expected_packages, sorted};

    const LIMITS: PackageDbLimits = PackageDbLimits::DEFAULT;

    /// syft's Alpine fixtures (real entries, see tests/data/scan/README.md); the `.expected`
    /// files were cut out of them with awk, independently of this parser.
    #[test]
    fn real_installed_databases() {
        let cases: [(&[u8], &str, usize); 2] = [
            (
                include_bytes!("../../../../tests/data/scan/apk/multiple-1-installed"),
                include_str!("../../../../tests/data/scan/apk/multiple-1.expected"),
                4,
            ),
            (
                include_bytes!("../../../../tests/data/scan/apk/base-installed"),
                include_str!("../../../../tests/data/scan/apk/base.expected"),
                1,
            ),
        ];
        for (bytes, expected, count) in cases {
            let packages = parse_apk_installed(bytes, &LIMITS).unwrap();
            assert_eq!(packages.len(), count);
            assert_eq!(sorted(packages), expected_packages(expected));
        }
    }

    fn check(input: &str, expected: Result<Vec<InstalledPackage>, PackageDbError>) {
        assert_eq!(
            parse_apk_installed(input.as_bytes(), &LIMITS),
            expected,
            "{input:?}"
        );
    }

    fn pkg(name: &str, version: &str, origin: &str, arch: Option<&str>) -> InstalledPackage {
        InstalledPackage {
            name: name.into(),
            version: version.into(),
            source_name: origin.into(),
            source_version: version.into(),
            arch: arch.map(Into::into),
        }
    }

    #[test]
    fn entry_table() {
        check("", Ok(vec![]));
        check("\n\n", Ok(vec![]));
        check("P:a\nV:1-r0\n", Ok(vec![pkg("a", "1-r0", "a", None)]));
        check(
            "C:x\nP:a\nV:1-r0\nA:x86_64\no:asrc\nF:etc\nR:f\nF:usr\nR:f\n\n\nP:b\nV:2-r1\n",
            Ok(vec![
                pkg("a", "1-r0", "asrc", Some("x86_64")),
                pkg("b", "2-r1", "b", None),
            ]),
        );
        // Keys are case-sensitive: `p:` is provides, `v:` is not the version.
        check(
            "P:a\nV:1\np:so:liba.so.1=1\nv:9\n",
            Ok(vec![pkg("a", "1", "a", None)]),
        );
    }

    #[test]
    fn error_table() {
        use PackageDbError::*;
        check(
            "P:a\nV:1\n\nP:invalidPackageWithoutAVersion\n",
            Err(FieldMissing {
                db: DB,
                entry: 4,
                field: "V (version)",
            }),
        );
        check(
            "V:1\n",
            Err(FieldMissing {
                db: DB,
                entry: 1,
                field: "P (name)",
            }),
        );
        check(
            "P:a\nV:1\nP:b\n",
            Err(FieldRepeated {
                db: DB,
                entry: 1,
                field: "P (name)",
            }),
        );
        check(
            "P:a\nV:1\nnot a field\n",
            Err(LineMalformed { db: DB, line: 3 }),
        );
        check("P:a\nX\n", Err(LineMalformed { db: DB, line: 2 }));
        check("P:a\nV:1\n \n", Err(LineMalformed { db: DB, line: 3 }));
        assert_eq!(
            parse_apk_installed(b"P:\xc3\nV:1\n", &LIMITS),
            Err(FieldNotUtf8 {
                db: DB,
                entry: 1,
                field: "P (name)"
            })
        );
    }

    #[test]
    fn limits_table() {
        let small = PackageDbLimits {
            input_bytes_max: 32,
            packages_max: 1,
            field_bytes_max: 3,
            ..LIMITS
        };
        assert_eq!(
            parse_apk_installed(&[b'\n'; 33], &small),
            Err(PackageDbError::InputTooLarge {
                db: DB,
                bytes: 33,
                bytes_max: 32
            })
        );
        assert_eq!(
            parse_apk_installed(b"P:a\nV:1\n\nP:b\nV:1\n", &small),
            Err(PackageDbError::TooManyPackages {
                db: DB,
                packages_max: 1
            })
        );
        assert_eq!(
            parse_apk_installed(b"P:a\nV:1.2.3\n", &small),
            Err(PackageDbError::FieldTooLong {
                db: DB,
                entry: 1,
                field: "V (version)",
                bytes: 5,
                bytes_max: 3
            })
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)) {
            if let Ok(packages) = parse_apk_installed(&bytes, &LIMITS) {
                proptest::prop_assert!(packages.len() <= bytes.split(|&b| b == b'\n').count());
            }
        }
    }
}
