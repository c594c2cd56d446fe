//! What an image says is installed: parsers of os-release and of the package databases, from
//! the bytes of one file each.
//!
//! | file in the image                         | parser                                  |
//! | ----------------------------------------- | --------------------------------------- |
//! | `etc/os-release`, `usr/lib/os-release`    | [`os_release::parse_os_release`]        |
//! | `var/lib/dpkg/status`                     | [`dpkg::parse_dpkg_status`]             |
//! | `var/lib/dpkg/status.d/*` (distroless)    | [`dpkg::parse_dpkg_status_d`] (see [`dpkg::is_status_d_entry`]) |
//! | `lib/apk/db/installed`                    | [`apk::parse_apk_installed`]            |
//! | `var/lib/rpm/rpmdb.sqlite` (and `Packages`, `Packages.db`) | [`rpm::parse_rpm_database`] |
//!
//! Every package database parser returns [`InstalledPackage`]s: the binary package, the source
//! package it was built from (which is what Debian and Alpine advisories name) and versions in
//! the ecosystem's own syntax (`[epoch:]version[-revision]` for dpkg, `1.2.3-r4` for apk,
//! `[epoch:]version-release` for rpm), ready for [`crate::scan::version::compare`].
//!
//! **Invariant:** every parser is bounded by [`PackageDbLimits`]: the input's size, the number
//! of packages and the length of every field it keeps. Exceeding one is an error, never a
//! truncated answer, and no input makes a parser panic.
//!
//! **Invariant:** nothing here reads the image's filesystem. The one exception to "bytes in,
//! values out" is SQLite, which reads files: [`rpm::parse_rpmdb_sqlite`] copies the bytes it
//! is given into a private temporary file first (see there why not into memory).

pub mod apk;
pub mod dpkg;
pub mod os_release;
pub mod rpm;

use std::fmt;

/// One installed binary package.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InstalledPackage {
    /// The binary package's name (`libssl3`).
    pub name: String,
    /// The binary package's version, in the ecosystem's syntax.
    pub version: String,
    /// The source package it was built from (`openssl`); the binary's name when the database
    /// does not say.
    pub source_name: String,
    /// The source package's version; the binary's version when the database does not say
    /// (Debian binNMUs are where they differ: `5.2.15-2+b2` from source `5.2.15-2`).
    pub source_version: String,
    /// The architecture (`amd64`, `x86_64`, `noarch`), when the database records one.
    pub arch: Option<String>,
}

/// Bounds on what a package database may make a parser do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackageDbLimits {
    /// The largest database file accepted, in bytes.
    pub input_bytes_max: usize,
    /// The most packages one database may list.
    pub packages_max: usize,
    /// The longest value kept from any field (name, version, architecture, source), in bytes.
    pub field_bytes_max: usize,
    /// The largest rpm header accepted, in bytes.
    pub rpm_header_bytes_max: usize,
    /// How many SQLite virtual-machine steps reading an `rpmdb.sqlite` may take, so that a
    /// crafted file cannot keep a scanner thread busy indefinitely.
    pub sqlite_steps_max: u64,
}

impl PackageDbLimits {
    /// Generous for real images: Fedora's full rpmdb.sqlite is tens of MiB, the largest dpkg
    /// status files a few MiB and a few thousand packages, the largest rpm headers (kernel
    /// file lists) a few MiB.
    pub const DEFAULT: PackageDbLimits = PackageDbLimits {
        input_bytes_max: 512 << 20,
        packages_max: 100_000,
        field_bytes_max: 4 << 10,
        rpm_header_bytes_max: 64 << 20,
        sqlite_steps_max: 2_000_000_000,
    };
}

impl Default for PackageDbLimits {
    fn default() -> Self {
        PackageDbLimits::DEFAULT
    }
}

/// Which kind of database an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackageDb {
    /// `var/lib/dpkg/status`.
    DpkgStatus,
    /// A file of `var/lib/dpkg/status.d/`.
    DpkgStatusD,
    /// `lib/apk/db/installed`.
    ApkInstalled,
    /// One rpm header blob.
    RpmHeader,
    /// `rpmdb.sqlite`.
    RpmSqlite,
}

impl fmt::Display for PackageDb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PackageDb::DpkgStatus => "dpkg status",
            PackageDb::DpkgStatusD => "dpkg status.d file",
            PackageDb::ApkInstalled => "apk installed database",
            PackageDb::RpmHeader => "rpm header",
            PackageDb::RpmSqlite => "rpmdb.sqlite",
        })
    }
}

/// Why a package database could not be read. `entry` locates the package: the 1-based line
/// where its entry starts in text databases, the `hnum` (row) in `rpmdb.sqlite`, 0 for a lone
/// rpm header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PackageDbError {
    /// The file is larger than [`PackageDbLimits::input_bytes_max`].
    #[error("{db} is {bytes} bytes, more than the {bytes_max} accepted")]
    InputTooLarge {
        db: PackageDb,
        bytes: usize,
        bytes_max: usize,
    },
    /// More packages than [`PackageDbLimits::packages_max`].
    #[error("{db} lists more than {packages_max} packages")]
    TooManyPackages { db: PackageDb, packages_max: usize },
    /// A kept field is longer than [`PackageDbLimits::field_bytes_max`].
    #[error("{db}, entry {entry}: {field} is {bytes} bytes, more than the {bytes_max} accepted")]
    FieldTooLong {
        db: PackageDb,
        entry: u64,
        field: &'static str,
        bytes: usize,
        bytes_max: usize,
    },
    /// A field every installed package must have is absent.
    #[error("{db}, entry {entry}: no {field} field")]
    FieldMissing {
        db: PackageDb,
        entry: u64,
        field: &'static str,
    },
    /// A field that must appear once appears again in the same entry.
    #[error("{db}, entry {entry}: {field} appears twice")]
    FieldRepeated {
        db: PackageDb,
        entry: u64,
        field: &'static str,
    },
    /// A kept field's value does not have the shape its format requires.
    #[error("{db}, entry {entry}: {field} is malformed: {reason}")]
    FieldMalformed {
        db: PackageDb,
        entry: u64,
        field: &'static str,
        reason: &'static str,
    },
    /// A kept field is not UTF-8.
    #[error("{db}, entry {entry}: {field} is not UTF-8")]
    FieldNotUtf8 {
        db: PackageDb,
        entry: u64,
        field: &'static str,
    },
    /// A line that is neither a field, a continuation nor a separator.
    #[error("{db}, line {line}: not a field")]
    LineMalformed { db: PackageDb, line: u64 },
    /// An rpm header whose structure is broken (sizes, offsets, types).
    #[error("rpm header {entry}: corrupted: {reason}")]
    HeaderCorrupted { entry: u64, reason: &'static str },
    /// A BerkeleyDB or NDB rpm database: no maintained Rust crate reads these, so neither
    /// does Berth (yet).
    #[error("unsupported rpm database format: {format}")]
    RpmFormatUnsupported { format: &'static str },
    /// Not an rpm database of any format Berth knows.
    #[error("not an rpm database: unrecognised file header")]
    RpmFormatUnrecognised,
    /// An SQLite database without a `Packages` table.
    #[error("rpmdb.sqlite has no Packages table")]
    RpmPackagesTableMissing,
    /// Reading the database took more than [`PackageDbLimits::sqlite_steps_max`] steps.
    #[error("rpmdb.sqlite: reading it took more than {steps_max} SQLite steps")]
    SqliteBudgetExceeded { steps_max: u64 },
    /// SQLite refused the file or failed while reading it (corrupt, not a database, …).
    #[error("rpmdb.sqlite: {reason}")]
    SqliteFailed { reason: String },
    /// The private temporary copy SQLite reads could not be written.
    #[error("rpmdb.sqlite: temporary copy failed: {reason}")]
    TemporaryFileFailed { reason: String },
}

/// The first check of every parser.
fn check_input_size(
    db: PackageDb,
    bytes: &[u8],
    limits: &PackageDbLimits,
) -> Result<(), PackageDbError> {
    if bytes.len() > limits.input_bytes_max {
        return Err(PackageDbError::InputTooLarge {
            db,
            bytes: bytes.len(),
            bytes_max: limits.input_bytes_max,
        });
    }
    Ok(())
}

/// A kept field's value as text, checked against the field limit and for UTF-8.
fn field_text(
    db: PackageDb,
    entry: u64,
    field: &'static str,
    value: &[u8],
    limits: &PackageDbLimits,
) -> Result<String, PackageDbError> {
    if value.len() > limits.field_bytes_max {
        return Err(PackageDbError::FieldTooLong {
            db,
            entry,
            field,
            bytes: value.len(),
            bytes_max: limits.field_bytes_max,
        });
    }
    match std::str::from_utf8(value) {
        Ok(text) => Ok(text.to_owned()),
        Err(_) => Err(PackageDbError::FieldNotUtf8 { db, entry, field }),
    }
}

/// The lines of a text database with their 1-based numbers, without `\n` or a trailing `\r`.
fn numbered_lines(bytes: &[u8]) -> impl Iterator<Item = (u64, &[u8])> {
    // A final newline does not start another (empty) line.
    let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    let empty = bytes.is_empty();
    bytes
        .split(|&b| b == b'\n')
        .filter(move |_| !empty)
        .zip(1u64..)
        .map(|(line, n)| (n, line.strip_suffix(b"\r").unwrap_or(line)))
}

/// Bounded fixtures and helpers shared by the parsers' tests.
#[cfg(test)]
pub(crate) mod testing {
    use super::InstalledPackage;

    /// Reads an `.expected` file: `name<TAB>version<TAB>source<TAB>source version<TAB>arch`
    /// per line, as the fixture scripts produce them with dpkg-query, rpm or awk.
    pub(crate) fn expected_packages(text: &str) -> Vec<InstalledPackage> {
        text.lines()
            .filter(|l| !l.is_empty())
            .map(|line| {
                let f: Vec<&str> = line.split('\t').collect();
                assert_eq!(f.len(), 5, "expected line {line:?}");
                InstalledPackage {
                    name: f[0].to_owned(),
                    version: f[1].to_owned(),
                    source_name: f[2].to_owned(),
                    source_version: f[3].to_owned(),
                    arch: (!f[4].is_empty() && f[4] != "(none)").then(|| f[4].to_owned()),
                }
            })
            .collect()
    }

    /// Sorted by name (then the rest), as the `.expected` files are.
    pub(crate) fn sorted(mut packages: Vec<InstalledPackage>) -> Vec<InstalledPackage> {
        packages.sort();
        packages
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_lines_table() {
        let lines = |s: &str| -> Vec<(u64, String)> {
            numbered_lines(s.as_bytes())
                .map(|(n, l)| (n, String::from_utf8(l.to_vec()).unwrap()))
                .collect()
        };
        assert_eq!(lines(""), vec![]);
        assert_eq!(lines("\n"), vec![]);
        assert_eq!(lines("a"), vec![(1, "a".into())]);
        assert_eq!(lines("a\n"), vec![(1, "a".into())]);
        assert_eq!(
            lines("a\r\n\nb"),
            vec![(1, "a".into()), (2, String::new()), (3, "b".into())]
        );
    }
}
