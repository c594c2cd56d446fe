//! dpkg's database of installed packages: `var/lib/dpkg/status`, and the one-file-per-package
//! `var/lib/dpkg/status.d/` that distroless images write instead.
//!
//! ```text
//! Package: libssl3                      deb822 stanzas separated by blank lines; field names
//! Status: install ok installed          are case-insensitive; a line starting with a space
//! Architecture: amd64                   or tab continues the field above it (Description,
//! Source: openssl (3.0.11-1~deb12u2)    Conffiles); `#` lines are comments
//! Version: 3.0.11-1~deb12u2
//! Description: Secure Sockets Layer toolkit - shared libraries
//!  This package is part of the OpenSSL project's implementation of the SSL
//! ```
//!
//! Kept: `Package`, `Version`, `Architecture`, `Source` (`name` or `name (version)`; absent
//! means the binary's own name and version) and `Status` (`want flag status`). A package counts
//! as installed when the third word of its Status is `installed`, `triggers-awaited` or
//! `triggers-pending`: the last two are configured packages with a trigger still to run, so
//! their files are in place; `unpacked`, `half-configured`, `half-installed`, `config-files`
//! and `not-installed` are not counted. A status.d file has no Status (it is the package's
//! control file): its stanzas count as installed, unless one does carry a Status.
//!
//! Strictness: the fields kept must appear once per stanza and on one line; an installed
//! package without Package or Version is an error (the database is not what dpkg writes), as is
//! a `status` stanza without Status. Everything else (other fields, their continuation lines,
//! bytes that are not UTF-8 in descriptions) is skipped unread.

use super::{
    check_input_size, field_text, numbered_lines, InstalledPackage, PackageDb, PackageDbError,
    PackageDbLimits,
};

/// Parses `var/lib/dpkg/status`: the installed packages it lists, in file order.
pub fn parse_dpkg_status(
    bytes: &[u8],
    limits: &PackageDbLimits,
) -> Result<Vec<InstalledPackage>, PackageDbError> {
    parse(PackageDb::DpkgStatus, bytes, limits)
}

/// Parses one file of `var/lib/dpkg/status.d/` (one stanza, sometimes more; no Status field
/// means installed). Feed it only the files [`is_status_d_entry`] accepts.
pub fn parse_dpkg_status_d(
    bytes: &[u8],
    limits: &PackageDbLimits,
) -> Result<Vec<InstalledPackage>, PackageDbError> {
    parse(PackageDb::DpkgStatusD, bytes, limits)
}

/// Whether a file of `status.d/` (its name, without the directory) holds package stanzas:
/// distroless images put each package's `md5sums` beside its stanza as `NAME.md5sums`, and
/// hidden files are editors' and tools' leftovers.
pub fn is_status_d_entry(file_name: &str) -> bool {
    !file_name.is_empty() && !file_name.starts_with('.') && !file_name.ends_with(".md5sums")
}

/// The fields a stanza is read for.
#[derive(Default)]
struct Stanza<'a> {
    /// The line the stanza starts on.
    line: u64,
    package: Option<&'a [u8]>,
    version: Option<&'a [u8]>,
    architecture: Option<&'a [u8]>,
    source: Option<&'a [u8]>,
    status: Option<&'a [u8]>,
    /// Whether the last field seen is one of the kept ones (so a continuation line is an error).
    last_field_kept: bool,
    /// Whether any field was seen (a stanza of comments only is no stanza).
    any_field: bool,
}

fn parse(
    db: PackageDb,
    bytes: &[u8],
    limits: &PackageDbLimits,
) -> Result<Vec<InstalledPackage>, PackageDbError> {
    check_input_size(db, bytes, limits)?;
    let mut packages = Vec::new();
    let mut stanza = Stanza::default();
    for (n, line) in numbered_lines(bytes) {
        if line.iter().all(u8::is_ascii_whitespace) {
            finish(db, std::mem::take(&mut stanza), limits, &mut packages)?;
            continue;
        }
        if line.first() == Some(&b'#') {
            continue;
        }
        if matches!(line.first(), Some(b' ' | b'\t')) {
            if !stanza.any_field {
                return Err(PackageDbError::LineMalformed { db, line: n });
            }
            if stanza.last_field_kept {
                return Err(PackageDbError::FieldMalformed {
                    db,
                    entry: stanza.line,
                    field: "a kept field",
                    reason: "it continues on the next line",
                });
            }
            continue;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            return Err(PackageDbError::LineMalformed { db, line: n });
        };
        let name = &line[..colon];
        if name.is_empty() || name.iter().any(|b| b.is_ascii_whitespace()) {
            return Err(PackageDbError::LineMalformed { db, line: n });
        }
        let value = line[colon + 1..].trim_ascii();
        if !stanza.any_field {
            stanza.line = n;
            stanza.any_field = true;
        }
        let (slot, field) = if name.eq_ignore_ascii_case(b"Package") {
            (&mut stanza.package, "Package")
        } else if name.eq_ignore_ascii_case(b"Version") {
            (&mut stanza.version, "Version")
        } else if name.eq_ignore_ascii_case(b"Architecture") {
            (&mut stanza.architecture, "Architecture")
        } else if name.eq_ignore_ascii_case(b"Source") {
            (&mut stanza.source, "Source")
        } else if name.eq_ignore_ascii_case(b"Status") {
            (&mut stanza.status, "Status")
        } else {
            stanza.last_field_kept = false;
            continue;
        };
        if slot.replace(value).is_some() {
            return Err(PackageDbError::FieldRepeated {
                db,
                entry: stanza.line,
                field,
            });
        }
        stanza.last_field_kept = true;
    }
    finish(db, stanza, limits, &mut packages)?;
    Ok(packages)
}

/// The third word of a Status value that means the package's files are in place.
const INSTALLED_STATES: &[&[u8]] = &[b"installed", b"triggers-awaited", b"triggers-pending"];

/// Turns a finished stanza into a package if it is an installed one.
fn finish(
    db: PackageDb,
    stanza: Stanza<'_>,
    limits: &PackageDbLimits,
    packages: &mut Vec<InstalledPackage>,
) -> Result<(), PackageDbError> {
    if !stanza.any_field {
        return Ok(());
    }
    let entry = stanza.line;
    let installed = match (stanza.status, db) {
        (None, PackageDb::DpkgStatusD) => true,
        (None, _) => {
            return Err(PackageDbError::FieldMissing {
                db,
                entry,
                field: "Status",
            })
        }
        (Some(status), _) => {
            let words: Vec<&[u8]> = status
                .split(|b| b.is_ascii_whitespace())
                .filter(|w| !w.is_empty())
                .take(4)
                .collect();
            let [_want, _flag, state] = words[..] else {
                return Err(PackageDbError::FieldMalformed {
                    db,
                    entry,
                    field: "Status",
                    reason: "not three words (want, flag, status)",
                });
            };
            INSTALLED_STATES.contains(&state)
        }
    };
    if !installed {
        return Ok(());
    }
    if packages.len() >= limits.packages_max {
        return Err(PackageDbError::TooManyPackages {
            db,
            packages_max: limits.packages_max,
        });
    }
    let required = |value: Option<&[u8]>, field: &'static str| match value {
        Some(v) if !v.is_empty() => field_text(db, entry, field, v, limits),
        _ => Err(PackageDbError::FieldMissing { db, entry, field }),
    };
    let name = required(stanza.package, "Package")?;
    let version = required(stanza.version, "Version")?;
    let arch = match stanza.architecture {
        Some(a) if !a.is_empty() => Some(field_text(db, entry, "Architecture", a, limits)?),
        _ => None,
    };
    let (source_name, source_version) = match stanza.source {
        None => (name.clone(), version.clone()),
        Some(source) => {
            let source = field_text(db, entry, "Source", source, limits)?;
            let (source_name, source_version) =
                split_source(&source).ok_or(PackageDbError::FieldMalformed {
                    db,
                    entry,
                    field: "Source",
                    reason: "not `name` or `name (version)`",
                })?;
            (
                source_name.to_owned(),
                source_version.unwrap_or(&version).to_owned(),
            )
        }
    };
    packages.push(InstalledPackage {
        name,
        version,
        source_name,
        source_version,
        arch,
    });
    Ok(())
}

/// `name` or `name (version)` → (name, version).
fn split_source(source: &str) -> Option<(&str, Option<&str>)> {
    let source = source.trim();
    let Some(open) = source.find(|c: char| c.is_ascii_whitespace() || c == '(') else {
        return (!source.is_empty()).then_some((source, None));
    };
    let (name, rest) = (&source[..open], source[open..].trim_start());
    let version = rest.strip_prefix('(')?.strip_suffix(')')?.trim();
    if name.is_empty() || version.is_empty() || version.contains(['(', ')']) {
        return None;
    }
    Some((name, Some(version)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::packages::testing::{expected_packages, sorted};

    const LIMITS: PackageDbLimits = PackageDbLimits::DEFAULT;

    /// A trimmed copy of this Debian 12 machine's `var/lib/dpkg/status` (see
    /// tests/data/scan/README.md); `status.expected` is `dpkg-query --admindir`'s view of it.
    #[test]
    fn debian_12_status_matches_dpkg_query() {
        let status = include_bytes!("../../../../tests/data/scan/dpkg/status");
        let expected = include_str!("../../../../tests/data/scan/dpkg/status.expected");
        let packages = parse_dpkg_status(status, &LIMITS).unwrap();
        assert_eq!(packages.len(), 51);
        assert_eq!(sorted(packages), expected_packages(expected));
    }

    /// Real control files of six bookworm packages, as distroless writes them (see
    /// tests/data/scan/README.md); `status.d.expected` is `dpkg-deb --show` on the `.deb`s.
    #[test]
    fn distroless_status_d_matches_dpkg_deb() {
        let files: [(&str, &[u8]); 8] = [
            (
                "base-files",
                include_bytes!("../../../../tests/data/scan/dpkg/status.d/base-files"),
            ),
            (
                "bash",
                include_bytes!("../../../../tests/data/scan/dpkg/status.d/bash"),
            ),
            (
                "libssl3",
                include_bytes!("../../../../tests/data/scan/dpkg/status.d/libssl3"),
            ),
            (
                "netbase",
                include_bytes!("../../../../tests/data/scan/dpkg/status.d/netbase"),
            ),
            (
                "netbase.md5sums",
                include_bytes!("../../../../tests/data/scan/dpkg/status.d/netbase.md5sums"),
            ),
            (
                "tzdata",
                include_bytes!("../../../../tests/data/scan/dpkg/status.d/tzdata"),
            ),
            (
                "zlib1g",
                include_bytes!("../../../../tests/data/scan/dpkg/status.d/zlib1g"),
            ),
            (
                "zlib1g.md5sums",
                include_bytes!("../../../../tests/data/scan/dpkg/status.d/zlib1g.md5sums"),
            ),
        ];
        let expected = include_str!("../../../../tests/data/scan/dpkg/status.d.expected");
        let mut packages = Vec::new();
        for (name, bytes) in files {
            if is_status_d_entry(name) {
                packages.extend(parse_dpkg_status_d(bytes, &LIMITS).unwrap());
            }
        }
        assert_eq!(sorted(packages), expected_packages(expected));
    }

    fn pkg(name: &str, version: &str, source: &str, source_version: &str) -> InstalledPackage {
        InstalledPackage {
            name: name.into(),
            version: version.into(),
            source_name: source.into(),
            source_version: source_version.into(),
            arch: None,
        }
    }

    fn check(db: PackageDb, input: &str, expected: Result<Vec<InstalledPackage>, PackageDbError>) {
        assert_eq!(parse(db, input.as_bytes(), &LIMITS), expected, "{input:?}");
    }

    #[test]
    fn stanza_table() {
        use PackageDb::{DpkgStatus as S, DpkgStatusD as D};
        let a = "Package: a\nStatus: install ok installed\nVersion: 1.0-1\n";
        check(S, a, Ok(vec![pkg("a", "1.0-1", "a", "1.0-1")]));
        // Case-insensitive names, CRLF, blank lines of spaces, comments, continuation lines.
        check(
            S,
            "# c\r\npackage: a\r\nSTATUS: hold ok installed\r\nversion: 1\r\nDescription: x\r\n y\r\n \t\r\nPackage: b\nStatus: install ok installed\nVersion: 2\nSource: bsrc (1.9)\n",
            Ok(vec![pkg("a", "1", "a", "1"), pkg("b", "2", "bsrc", "1.9")]),
        );
        check(
            S,
            "Package: a\nStatus: install ok installed\nVersion: 1\nSource: asrc\nArchitecture: amd64\n",
            Ok(vec![InstalledPackage {
                arch: Some("amd64".into()),
                ..pkg("a", "1", "asrc", "1")
            }]),
        );
        // Not installed: skipped, and need no Version.
        for state in [
            "not-installed",
            "config-files",
            "half-installed",
            "unpacked",
            "half-configured",
        ] {
            check(
                S,
                &format!("Package: a\nStatus: install ok {state}\n\n{a}"),
                Ok(vec![pkg("a", "1.0-1", "a", "1.0-1")]),
            );
        }
        for state in ["triggers-awaited", "triggers-pending"] {
            check(
                S,
                &format!("Package: t\nStatus: install ok {state}\nVersion: 3\n"),
                Ok(vec![pkg("t", "3", "t", "3")]),
            );
        }
        // status.d: no Status means installed; a Status is still honoured.
        check(
            D,
            "Package: a\nVersion: 1\n",
            Ok(vec![pkg("a", "1", "a", "1")]),
        );
        check(
            D,
            "Package: a\nVersion: 1\nStatus: deinstall ok config-files\n",
            Ok(vec![]),
        );
        check(S, "", Ok(vec![]));
        check(S, "\n\n# only a comment\n\n", Ok(vec![]));
    }

    #[test]
    fn error_table() {
        use PackageDb::{DpkgStatus as S, DpkgStatusD as D};
        use PackageDbError::*;
        check(
            S,
            "Package: a\nVersion: 1\n",
            Err(FieldMissing {
                db: S,
                entry: 1,
                field: "Status",
            }),
        );
        check(
            D,
            "\nVersion: 1\n",
            Err(FieldMissing {
                db: D,
                entry: 2,
                field: "Package",
            }),
        );
        check(
            D,
            "Package: a\n",
            Err(FieldMissing {
                db: D,
                entry: 1,
                field: "Version",
            }),
        );
        check(
            D,
            "Package: a\nVersion: 1\nversion: 2\n",
            Err(FieldRepeated {
                db: D,
                entry: 1,
                field: "Version",
            }),
        );
        check(
            D,
            "Package: a\nVersion: 1\n 2\n",
            Err(FieldMalformed {
                db: D,
                entry: 1,
                field: "a kept field",
                reason: "it continues on the next line",
            }),
        );
        check(S, " x\n", Err(LineMalformed { db: S, line: 1 }));
        check(
            S,
            "Package: a\nno colon\n",
            Err(LineMalformed { db: S, line: 2 }),
        );
        check(
            S,
            "Package: a\nStatus: installed\nVersion: 1\n",
            Err(FieldMalformed {
                db: S,
                entry: 1,
                field: "Status",
                reason: "not three words (want, flag, status)",
            }),
        );
        for source in ["s (1", "s 1)", "s ()", "(1)", "s (1) x", "s ((1))"] {
            check(
                D,
                &format!("Package: a\nVersion: 1\nSource: {source}\n"),
                Err(FieldMalformed {
                    db: D,
                    entry: 1,
                    field: "Source",
                    reason: "not `name` or `name (version)`",
                }),
            );
        }
        assert_eq!(
            parse(D, b"Package: \xff\nVersion: 1\n", &LIMITS),
            Err(FieldNotUtf8 {
                db: D,
                entry: 1,
                field: "Package"
            })
        );
        // Bytes that are not UTF-8 in a field we skip do not matter.
        assert_eq!(
            parse(
                D,
                b"Package: a\nVersion: 1\nDescription: \xff\n \xfe\n",
                &LIMITS
            ),
            Ok(vec![pkg("a", "1", "a", "1")])
        );
    }

    #[test]
    fn limits_table() {
        let small = PackageDbLimits {
            input_bytes_max: 64,
            packages_max: 1,
            field_bytes_max: 4,
            ..LIMITS
        };
        let d = PackageDb::DpkgStatusD;
        assert_eq!(
            parse(d, &[b'\n'; 65], &small),
            Err(PackageDbError::InputTooLarge {
                db: d,
                bytes: 65,
                bytes_max: 64
            })
        );
        assert_eq!(
            parse(
                d,
                b"Package: a\nVersion: 1\n\nPackage: b\nVersion: 1\n",
                &small
            ),
            Err(PackageDbError::TooManyPackages {
                db: d,
                packages_max: 1
            })
        );
        assert_eq!(
            parse(d, b"Package: abcde\nVersion: 1\n", &small),
            Err(PackageDbError::FieldTooLong {
                db: d,
                entry: 1,
                field: "Package",
                bytes: 5,
                bytes_max: 4
            })
        );
    }

    #[test]
    fn status_d_entry_names() {
        for (name, entry) in [
            ("libc6", true),
            ("base-files", true),
            ("libc6.md5sums", false),
            (".wh.libc6", false),
            ("", false),
        ] {
            assert_eq!(is_status_d_entry(name), entry, "{name:?}");
        }
    }

    proptest::proptest! {
        /// Any bytes: an answer or an error, never a panic, and never more packages than
        /// stanza starts.
        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)) {
            for db in [PackageDb::DpkgStatus, PackageDb::DpkgStatusD] {
                if let Ok(packages) = parse(db, &bytes, &LIMITS) {
                    proptest::prop_assert!(packages.len() <= bytes.split(|&b| b == b'\n').count());
                }
            }
        }
    }
}
