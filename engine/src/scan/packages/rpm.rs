//! rpm's database of installed packages: header blobs, and the `rpmdb.sqlite` that holds them.
//!
//! An rpm header, as rpm 4 stores it in the database (the on-disk package format adds an 8-byte
//! magic in front, which the database does not keep):
//!
//! ```text
//! offset 0           4           8                       8+16·il          8+16·il+dl
//!        ┌───────────┬───────────┬───────────────────────┬────────────────┐
//!        │ il (u32)  │ dl (u32)  │ il index entries      │ data store     │
//!        └───────────┴───────────┴───────────────────────┴────────────────┘
//! entry: tag (u32) │ type (u32) │ offset into the data store (i32) │ count (u32)   all big-endian
//! types: 4 INT32 (count values) · 6 STRING · 8 STRING_ARRAY, 9 I18NSTRING (count strings)
//!        strings are NUL-terminated in the data store
//! ```
//!
//! Kept tags: NAME (1000), VERSION (1001), RELEASE (1002), EPOCH (1003), ARCH (1022) and
//! SOURCERPM (1044, `name-version-release.src.rpm`, which gives the source package). Versions
//! are written `[epoch:]version-release`; the source version takes the binary's epoch (a source
//! rpm's file name has none, and its packages share the spec's epoch). A header without
//! SOURCERPM (`gpg-pubkey` entries) is its own source.
//!
//! Every offset, count and length is checked against the blob before it is used: a header is
//! untrusted input, and nothing past the data store is ever read.
//!
//! Databases: rpm 4.16+ keeps headers in SQLite (`rpmdb.sqlite`, table `Packages`, column
//! `blob`), which [`parse_rpmdb_sqlite`] reads. Older releases use BerkeleyDB (`Packages`) and
//! SUSE uses rpm's NDB (`Packages.db`); no maintained Rust crate reads either, so
//! [`parse_rpm_database`] recognises them and answers
//! [`PackageDbError::RpmFormatUnsupported`].

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use rusqlite::limits::Limit;
use rusqlite::{Connection, OpenFlags};

use super::{check_input_size, InstalledPackage, PackageDb, PackageDbError, PackageDbLimits};

/// rpm's own bound on the number of index entries (`HEADER_TAGS_MAX`).
const HEADER_TAGS_MAX: usize = 0xffff;

const TAG_NAME: u32 = 1000;
const TAG_VERSION: u32 = 1001;
const TAG_RELEASE: u32 = 1002;
const TAG_EPOCH: u32 = 1003;
const TAG_ARCH: u32 = 1022;
const TAG_SOURCERPM: u32 = 1044;

const TYPE_INT32: u32 = 4;
const TYPE_STRING: u32 = 6;
const TYPE_STRING_ARRAY: u32 = 8;
const TYPE_I18NSTRING: u32 = 9;

/// What kind of rpm database a file is, from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RpmDatabaseFormat {
    /// `rpmdb.sqlite` (rpm 4.16+: Fedora 33+, RHEL 9, Rocky/Alma 9).
    Sqlite,
    /// `Packages` in BerkeleyDB hash format (RHEL/CentOS 7 and 8, Amazon Linux 2).
    BerkeleyDb,
    /// `Packages.db` in rpm's NDB format (SUSE).
    Ndb,
    /// None of these.
    Unknown,
}

/// Recognises an rpm database by its magic numbers.
pub fn detect_rpm_database(bytes: &[u8]) -> RpmDatabaseFormat {
    const BDB_HASH_MAGIC: u32 = 0x0006_1561;
    if bytes.starts_with(b"SQLite format 3\0") {
        return RpmDatabaseFormat::Sqlite;
    }
    // rpm's NDB package index starts with 'RpmP' as a little-endian u32.
    if bytes.starts_with(b"RpmP") {
        return RpmDatabaseFormat::Ndb;
    }
    // BerkeleyDB's metadata page has its magic at offset 12, in the writer's byte order.
    if let Some(magic) = bytes.get(12..16) {
        let magic = [magic[0], magic[1], magic[2], magic[3]];
        if u32::from_le_bytes(magic) == BDB_HASH_MAGIC
            || u32::from_be_bytes(magic) == BDB_HASH_MAGIC
        {
            return RpmDatabaseFormat::BerkeleyDb;
        }
    }
    RpmDatabaseFormat::Unknown
}

/// Reads an rpm database of any format Berth knows: SQLite is parsed, BerkeleyDB and NDB are
/// [`PackageDbError::RpmFormatUnsupported`], anything else [`PackageDbError::RpmFormatUnrecognised`].
pub fn parse_rpm_database(
    bytes: &[u8],
    limits: &PackageDbLimits,
) -> Result<Vec<InstalledPackage>, PackageDbError> {
    match detect_rpm_database(bytes) {
        RpmDatabaseFormat::Sqlite => parse_rpmdb_sqlite(bytes, limits),
        RpmDatabaseFormat::BerkeleyDb => Err(PackageDbError::RpmFormatUnsupported {
            format: "BerkeleyDB",
        }),
        RpmDatabaseFormat::Ndb => Err(PackageDbError::RpmFormatUnsupported { format: "NDB" }),
        RpmDatabaseFormat::Unknown => Err(PackageDbError::RpmFormatUnrecognised),
    }
}

/// One index entry, as read (not yet checked against the data store).
#[derive(Debug, Clone, Copy)]
struct IndexEntry {
    tag: u32,
    kind: u32,
    offset: i32,
    count: u32,
}

/// A header whose sizes have been checked: `index` entries and the `data` store.
struct Header<'a> {
    entry: u64,
    index: &'a [u8],
    data: &'a [u8],
}

fn be_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

impl<'a> Header<'a> {
    fn parse(
        blob: &'a [u8],
        entry: u64,
        limits: &PackageDbLimits,
    ) -> Result<Header<'a>, PackageDbError> {
        let corrupted = |reason| PackageDbError::HeaderCorrupted { entry, reason };
        if blob.len() > limits.rpm_header_bytes_max {
            return Err(PackageDbError::InputTooLarge {
                db: PackageDb::RpmHeader,
                bytes: blob.len(),
                bytes_max: limits.rpm_header_bytes_max,
            });
        }
        let (Some(il), Some(dl)) = (be_u32(blob, 0), be_u32(blob, 4)) else {
            return Err(corrupted("shorter than its 8-byte preamble"));
        };
        let (il, dl) = (il as usize, dl as usize);
        if il == 0 || il > HEADER_TAGS_MAX {
            return Err(corrupted("index entry count out of range"));
        }
        let index_end = il
            .checked_mul(16)
            .and_then(|n| n.checked_add(8))
            .ok_or(corrupted("index entry count out of range"))?;
        let end = index_end
            .checked_add(dl)
            .ok_or(corrupted("data store length out of range"))?;
        if end != blob.len() {
            return Err(corrupted("preamble sizes do not match the blob's length"));
        }
        Ok(Header {
            entry,
            index: &blob[8..index_end],
            data: &blob[index_end..],
        })
    }

    fn entries(&self) -> impl Iterator<Item = IndexEntry> + '_ {
        self.index.chunks_exact(16).map(|e| IndexEntry {
            tag: u32::from_be_bytes([e[0], e[1], e[2], e[3]]),
            kind: u32::from_be_bytes([e[4], e[5], e[6], e[7]]),
            offset: i32::from_be_bytes([e[8], e[9], e[10], e[11]]),
            count: u32::from_be_bytes([e[12], e[13], e[14], e[15]]),
        })
    }

    /// The entry for `tag`, if present; a tag present twice is corruption.
    fn find(&self, tag: u32) -> Result<Option<IndexEntry>, PackageDbError> {
        let mut found = None;
        for e in self.entries().filter(|e| e.tag == tag) {
            if found.replace(e).is_some() {
                return Err(PackageDbError::HeaderCorrupted {
                    entry: self.entry,
                    reason: "a tag appears twice",
                });
            }
        }
        Ok(found)
    }

    /// Where an entry's data starts in the store.
    fn start(&self, e: &IndexEntry) -> Result<usize, PackageDbError> {
        usize::try_from(e.offset)
            .ok()
            .filter(|&o| o < self.data.len())
            .ok_or(PackageDbError::HeaderCorrupted {
                entry: self.entry,
                reason: "an entry's offset is outside the data store",
            })
    }

    /// A string tag's value (the first string of an array).
    fn string(
        &self,
        tag: u32,
        field: &'static str,
        limits: &PackageDbLimits,
    ) -> Result<Option<String>, PackageDbError> {
        let Some(e) = self.find(tag)? else {
            return Ok(None);
        };
        let corrupted = |reason| PackageDbError::HeaderCorrupted {
            entry: self.entry,
            reason,
        };
        match e.kind {
            TYPE_STRING if e.count == 1 => {}
            TYPE_STRING_ARRAY | TYPE_I18NSTRING if e.count >= 1 => {}
            _ => return Err(corrupted("a string tag has another type or count")),
        }
        let start = self.start(&e)?;
        let rest = &self.data[start..];
        let len = rest
            .iter()
            .position(|&b| b == 0)
            .ok_or(corrupted("a string runs past the data store"))?;
        super::field_text(
            PackageDb::RpmHeader,
            self.entry,
            field,
            &rest[..len],
            limits,
        )
        .map(Some)
    }

    /// An INT32 tag's first value.
    fn int32(&self, tag: u32) -> Result<Option<u32>, PackageDbError> {
        let Some(e) = self.find(tag)? else {
            return Ok(None);
        };
        if e.kind != TYPE_INT32 || e.count == 0 {
            return Err(PackageDbError::HeaderCorrupted {
                entry: self.entry,
                reason: "an integer tag has another type or count",
            });
        }
        let start = self.start(&e)?;
        be_u32(self.data, start)
            .map(Some)
            .ok_or(PackageDbError::HeaderCorrupted {
                entry: self.entry,
                reason: "an integer runs past the data store",
            })
    }
}

/// Parses one header blob (as stored in the database, without the package file's magic).
/// `entry` names it in errors (the database row; 0 for a lone header).
pub fn parse_rpm_header(
    blob: &[u8],
    entry: u64,
    limits: &PackageDbLimits,
) -> Result<InstalledPackage, PackageDbError> {
    let header = Header::parse(blob, entry, limits)?;
    // An empty NAME, VERSION or RELEASE is as good as none (found by the scan_packages fuzz
    // target: an empty NAME made a package with no name).
    let required = |tag, field| {
        header
            .string(tag, field, limits)?
            .filter(|value| !value.is_empty())
            .ok_or(PackageDbError::FieldMissing {
                db: PackageDb::RpmHeader,
                entry,
                field,
            })
    };
    let name = required(TAG_NAME, "NAME")?;
    let version = required(TAG_VERSION, "VERSION")?;
    let release = required(TAG_RELEASE, "RELEASE")?;
    let epoch = header.int32(TAG_EPOCH)?;
    let arch = header
        .string(TAG_ARCH, "ARCH", limits)?
        .filter(|arch| !arch.is_empty());
    let evr = |version: &str, release: &str| match epoch {
        Some(epoch) => format!("{epoch}:{version}-{release}"),
        None => format!("{version}-{release}"),
    };
    let full_version = evr(&version, &release);
    let (source_name, source_version) = match header.string(TAG_SOURCERPM, "SOURCERPM", limits)? {
        None => (name.clone(), full_version.clone()),
        Some(source_rpm) => {
            let (n, v, r) =
                split_source_rpm(&source_rpm).ok_or(PackageDbError::FieldMalformed {
                    db: PackageDb::RpmHeader,
                    entry,
                    field: "SOURCERPM",
                    reason: "not name-version-release.src.rpm",
                })?;
            (n.to_owned(), evr(v, r))
        }
    };
    Ok(InstalledPackage {
        name,
        version: full_version,
        source_name,
        source_version,
        arch,
    })
}

/// `name-version-release.src.rpm` (or `.nosrc.rpm`) → (name, version, release).
fn split_source_rpm(file: &str) -> Option<(&str, &str, &str)> {
    let stem = file
        .strip_suffix(".src.rpm")
        .or_else(|| file.strip_suffix(".nosrc.rpm"))?;
    let (rest, release) = stem.rsplit_once('-')?;
    let (name, version) = rest.rsplit_once('-')?;
    (!name.is_empty() && !version.is_empty() && !release.is_empty())
        .then_some((name, version, release))
}

/// Reads `rpmdb.sqlite`: every header of its `Packages` table, in `hnum` order.
///
/// SQLite needs a file, so the bytes are copied into a private temporary file, which is
/// removed when this returns. Not `sqlite3_deserialize`: SQLite documents that a maliciously
/// malformed in-memory image may make it read past the buffer, and these bytes come from an
/// image anyone could push. The copy is also where the write-ahead-log flag in the file header
/// is cleared: the log is not part of what the caller passes, so SQLite should neither look
/// for one nor try to create its shared-memory index beside the copy. The connection is read-only and defensive (no schema-defined code, cell
/// size checks, values no longer than the rpm header limit) and a progress handler stops any
/// query after [`PackageDbLimits::sqlite_steps_max`] steps.
pub fn parse_rpmdb_sqlite(
    bytes: &[u8],
    limits: &PackageDbLimits,
) -> Result<Vec<InstalledPackage>, PackageDbError> {
    check_input_size(PackageDb::RpmSqlite, bytes, limits)?;
    if detect_rpm_database(bytes) != RpmDatabaseFormat::Sqlite {
        return Err(PackageDbError::RpmFormatUnrecognised);
    }
    let temp = |e: std::io::Error| PackageDbError::TemporaryFileFailed {
        reason: e.to_string(),
    };
    let mut file = tempfile::NamedTempFile::new().map_err(temp)?;
    // Bytes 18 and 19 are the file format's write and read versions: 2 means WAL mode.
    let split = bytes.len().min(20);
    let mut head = bytes[..split].to_vec();
    if let [.., 2, 2] = head[..] {
        if split == 20 {
            head[18] = 1;
            head[19] = 1;
        }
    }
    file.write_all(&head).map_err(temp)?;
    file.write_all(&bytes[split..]).map_err(temp)?;
    file.flush().map_err(temp)?;

    let steps_max = limits.sqlite_steps_max;
    let over_budget = Arc::new(AtomicBool::new(false));
    let sqlite = {
        let over_budget = over_budget.clone();
        move |e: rusqlite::Error| {
            if over_budget.load(Ordering::Relaxed) {
                PackageDbError::SqliteBudgetExceeded { steps_max }
            } else {
                PackageDbError::SqliteFailed {
                    reason: excerpt(&e.to_string()),
                }
            }
        }
    };
    let conn = Connection::open_with_flags(
        file.path(),
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(&sqlite)?;
    harden(&conn, limits, over_budget.clone()).map_err(&sqlite)?;

    let kind: Option<String> = conn
        .query_row(
            "SELECT type FROM sqlite_master WHERE name = 'Packages'",
            [],
            |row| row.get(0),
        )
        .map(Some)
        .or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            e => Err(e),
        })
        .map_err(&sqlite)?;
    if kind.as_deref() != Some("table") {
        return Err(PackageDbError::RpmPackagesTableMissing);
    }
    let mut statement = conn
        .prepare("SELECT hnum, blob FROM Packages ORDER BY hnum")
        .map_err(&sqlite)?;
    let mut rows = statement.query([]).map_err(&sqlite)?;
    let mut packages = Vec::new();
    while let Some(row) = rows.next().map_err(&sqlite)? {
        let hnum: i64 = row.get(0).map_err(&sqlite)?;
        let entry = u64::try_from(hnum).unwrap_or(0);
        let blob = row.get_ref(1).map_err(&sqlite)?.as_blob().map_err(|_| {
            PackageDbError::HeaderCorrupted {
                entry,
                reason: "the blob column is not a blob",
            }
        })?;
        if packages.len() >= limits.packages_max {
            return Err(PackageDbError::TooManyPackages {
                db: PackageDb::RpmSqlite,
                packages_max: limits.packages_max,
            });
        }
        packages.push(parse_rpm_header(blob, entry, limits)?);
    }
    Ok(packages)
}

/// Makes a connection to an untrusted database safe to query.
fn harden(
    conn: &Connection,
    limits: &PackageDbLimits,
    over_budget: Arc<AtomicBool>,
) -> rusqlite::Result<()> {
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true)?;
    conn.execute_batch("PRAGMA trusted_schema = OFF; PRAGMA cell_size_check = ON;")?;
    // No value (a header blob, a string) longer than the largest header accepted.
    let length_max = i32::try_from(limits.rpm_header_bytes_max.max(1 << 20)).unwrap_or(i32::MAX);
    conn.set_limit(Limit::SQLITE_LIMIT_LENGTH, length_max)?;
    // SQLite calls the handler every `steps_per_call` virtual-machine steps; small budgets
    // (tests) get finer calls so that they are enforced at all.
    let steps_per_call = (limits.sqlite_steps_max / 100).clamp(1, 10_000);
    let calls_max = limits.sqlite_steps_max / steps_per_call;
    let calls = AtomicU64::new(0);
    conn.progress_handler(
        i32::try_from(steps_per_call).unwrap_or(10_000),
        Some(move || {
            // Returning true interrupts the running statement.
            let over = calls.fetch_add(1, Ordering::Relaxed) >= calls_max;
            if over {
                over_budget.store(true, Ordering::Relaxed);
            }
            over
        }),
    );
    Ok(())
}

/// SQLite's messages quote the file; keep them short.
fn excerpt(message: &str) -> String {
    const CHARS_MAX: usize = 200;
    match message.char_indices().nth(CHARS_MAX) {
        None => message.to_owned(),
        Some((cut, _)) => format!("{}…", &message[..cut]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::packages::testing::{expected_packages, sorted};

    const LIMITS: PackageDbLimits = PackageDbLimits::DEFAULT;
    const RPMDB: &[u8] = include_bytes!("../../../../tests/data/scan/rpm/rpmdb.sqlite");

    /// A real rpm 4.18 database made by tests/data/scan/make-rpmdb.sh; `rpmdb.expected` is
    /// what `rpm -qa --dbpath` printed for it.
    #[test]
    fn rpmdb_sqlite_matches_rpm_qa() {
        let expected = include_str!("../../../../tests/data/scan/rpm/rpmdb.expected");
        let expected: Vec<InstalledPackage> = expected_rpm_qa(expected);
        let packages = parse_rpm_database(RPMDB, &LIMITS).unwrap();
        assert_eq!(packages.len(), 3);
        assert_eq!(sorted(packages), expected);
    }

    /// `rpmdb.expected` lines: name, [epoch:]version-release, arch, source rpm file name.
    fn expected_rpm_qa(text: &str) -> Vec<InstalledPackage> {
        let rows: String = text
            .lines()
            .map(|line| {
                let f: Vec<&str> = line.split('\t').collect();
                assert_eq!(f.len(), 4, "{line:?}");
                let (n, v, r) = split_source_rpm(f[3]).unwrap();
                let epoch = f[1]
                    .split_once(':')
                    .map_or(String::new(), |(e, _)| format!("{e}:"));
                format!("{}\t{}\t{n}\t{epoch}{v}-{r}\t{}\n", f[0], f[1], f[2])
            })
            .collect();
        expected_packages(&rows)
    }

    /// The database's blobs, read with SQLite directly (once).
    fn fixture_blobs() -> &'static [Vec<u8>] {
        static BLOBS: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
        BLOBS.get_or_init(read_fixture_blobs)
    }

    fn read_fixture_blobs() -> Vec<Vec<u8>> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rpmdb.sqlite");
        std::fs::write(&path, RPMDB).unwrap();
        let conn = Connection::open(&path).unwrap();
        let mut st = conn
            .prepare("SELECT blob FROM Packages ORDER BY hnum")
            .unwrap();
        let blobs = st
            .query_map([], |row| row.get::<_, Vec<u8>>(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        blobs
    }

    /// A header built by hand: (tag, type, data) entries, data stores laid out in order.
    fn header(entries: &[(u32, u32, u32, &[u8])]) -> Vec<u8> {
        let mut index = Vec::new();
        let mut data = Vec::new();
        for &(tag, kind, count, bytes) in entries {
            index.extend_from_slice(&tag.to_be_bytes());
            index.extend_from_slice(&kind.to_be_bytes());
            index.extend_from_slice(&(data.len() as u32).to_be_bytes());
            index.extend_from_slice(&count.to_be_bytes());
            data.extend_from_slice(bytes);
        }
        let mut blob = Vec::new();
        blob.extend_from_slice(&(entries.len() as u32).to_be_bytes());
        blob.extend_from_slice(&(data.len() as u32).to_be_bytes());
        blob.extend_from_slice(&index);
        blob.extend_from_slice(&data);
        blob
    }

    fn basic(extra: &[(u32, u32, u32, &'static [u8])]) -> Vec<u8> {
        let mut entries: Vec<(u32, u32, u32, &[u8])> = vec![
            (TAG_NAME, TYPE_STRING, 1, b"bash\0"),
            (TAG_VERSION, TYPE_STRING, 1, b"5.1.8\0"),
            (TAG_RELEASE, TYPE_STRING, 1, b"6.el9\0"),
        ];
        entries.extend_from_slice(extra);
        header(&entries)
    }

    #[test]
    fn header_table() {
        let pkg = |version: &str, source: &str, source_version: &str, arch: Option<&str>| {
            InstalledPackage {
                name: "bash".into(),
                version: version.into(),
                source_name: source.into(),
                source_version: source_version.into(),
                arch: arch.map(Into::into),
            }
        };
        let cases: Vec<(Vec<u8>, InstalledPackage)> = vec![
            (basic(&[]), pkg("5.1.8-6.el9", "bash", "5.1.8-6.el9", None)),
            (
                basic(&[
                    (TAG_EPOCH, TYPE_INT32, 1, &[0, 0, 0, 2]),
                    (TAG_ARCH, TYPE_STRING, 1, b"x86_64\0"),
                    (
                        TAG_SOURCERPM,
                        TYPE_STRING,
                        1,
                        b"bash-tools-5.1.8-6.el9.src.rpm\0",
                    ),
                ]),
                pkg(
                    "2:5.1.8-6.el9",
                    "bash-tools",
                    "2:5.1.8-6.el9",
                    Some("x86_64"),
                ),
            ),
            (
                basic(&[(TAG_SOURCERPM, TYPE_STRING, 1, b"b-1-2.nosrc.rpm\0")]),
                pkg("5.1.8-6.el9", "b", "1-2", None),
            ),
            // An I18NSTRING or STRING_ARRAY gives its first string.
            (
                basic(&[(TAG_ARCH, TYPE_STRING_ARRAY, 2, b"noarch\0other\0")]),
                pkg("5.1.8-6.el9", "bash", "5.1.8-6.el9", Some("noarch")),
            ),
        ];
        for (blob, expected) in cases {
            assert_eq!(parse_rpm_header(&blob, 0, &LIMITS), Ok(expected));
        }
    }

    #[test]
    fn header_error_table() {
        use PackageDbError::*;
        let corrupted = |reason| Err(HeaderCorrupted { entry: 7, reason });
        let good = basic(&[]);
        let mut longer = good.clone();
        longer.push(0);
        let mut bad_offset = good.clone();
        bad_offset[8 + 8..8 + 12].copy_from_slice(&1000u32.to_be_bytes());
        let mut negative_offset = good.clone();
        negative_offset[8 + 8..8 + 12].copy_from_slice(&(-1i32).to_be_bytes());
        let mut huge_count = good.clone();
        huge_count[0..4].copy_from_slice(&0x1_0000u32.to_be_bytes());
        let no_nul = header(&[
            (TAG_VERSION, TYPE_STRING, 1, b"1\0"),
            (TAG_RELEASE, TYPE_STRING, 1, b"1\0"),
            (TAG_NAME, TYPE_STRING, 1, b"unterminated"),
        ]);
        let cases: Vec<(Vec<u8>, Result<InstalledPackage, PackageDbError>)> = vec![
            (vec![], corrupted("shorter than its 8-byte preamble")),
            (
                vec![0, 0, 0, 1, 0, 0],
                corrupted("shorter than its 8-byte preamble"),
            ),
            (vec![0; 8], corrupted("index entry count out of range")),
            (huge_count, corrupted("index entry count out of range")),
            (
                longer,
                corrupted("preamble sizes do not match the blob's length"),
            ),
            (
                good[..good.len() - 1].to_vec(),
                corrupted("preamble sizes do not match the blob's length"),
            ),
            (
                bad_offset,
                corrupted("an entry's offset is outside the data store"),
            ),
            (
                negative_offset,
                corrupted("an entry's offset is outside the data store"),
            ),
            (no_nul, corrupted("a string runs past the data store")),
            (
                basic(&[(TAG_NAME, TYPE_STRING, 1, b"again\0")]),
                corrupted("a tag appears twice"),
            ),
            (
                basic(&[(TAG_ARCH, TYPE_INT32, 1, &[0, 0, 0, 1])]),
                corrupted("a string tag has another type or count"),
            ),
            (
                basic(&[(TAG_EPOCH, TYPE_STRING, 1, b"1\0")]),
                corrupted("an integer tag has another type or count"),
            ),
            (
                basic(&[(TAG_EPOCH, TYPE_INT32, 1, &[0, 1])]),
                corrupted("an integer runs past the data store"),
            ),
            (
                header(&[
                    (TAG_NAME, TYPE_STRING, 1, b"a\0"),
                    (TAG_VERSION, TYPE_STRING, 1, b"1\0"),
                ]),
                Err(FieldMissing {
                    db: PackageDb::RpmHeader,
                    entry: 7,
                    field: "RELEASE",
                }),
            ),
            // The fuzz target's first find: an empty NAME (regressions/scan_packages/).
            (
                header(&[
                    (TAG_NAME, TYPE_STRING, 1, b"\0"),
                    (TAG_VERSION, TYPE_STRING, 1, b"1\0"),
                    (TAG_RELEASE, TYPE_STRING, 1, b"1\0"),
                ]),
                Err(FieldMissing {
                    db: PackageDb::RpmHeader,
                    entry: 7,
                    field: "NAME",
                }),
            ),
            (
                basic(&[(TAG_SOURCERPM, TYPE_STRING, 1, b"bash.src.rpm\0")]),
                Err(FieldMalformed {
                    db: PackageDb::RpmHeader,
                    entry: 7,
                    field: "SOURCERPM",
                    reason: "not name-version-release.src.rpm",
                }),
            ),
            (
                basic(&[(TAG_ARCH, TYPE_STRING, 1, b"\xff\0")]),
                Err(FieldNotUtf8 {
                    db: PackageDb::RpmHeader,
                    entry: 7,
                    field: "ARCH",
                }),
            ),
        ];
        for (blob, expected) in cases {
            assert_eq!(parse_rpm_header(&blob, 7, &LIMITS), expected, "{blob:?}");
        }
        let small = PackageDbLimits {
            rpm_header_bytes_max: 8,
            ..LIMITS
        };
        assert_eq!(
            parse_rpm_header(&basic(&[]), 0, &small),
            Err(InputTooLarge {
                db: PackageDb::RpmHeader,
                bytes: basic(&[]).len(),
                bytes_max: 8
            })
        );
    }

    #[test]
    fn detects_formats() {
        let mut bdb_le = vec![0u8; 64];
        bdb_le[12..16].copy_from_slice(&0x0006_1561u32.to_le_bytes());
        let mut bdb_be = vec![0u8; 64];
        bdb_be[12..16].copy_from_slice(&0x0006_1561u32.to_be_bytes());
        let cases: [(&[u8], RpmDatabaseFormat); 6] = [
            (RPMDB, RpmDatabaseFormat::Sqlite),
            (&bdb_le, RpmDatabaseFormat::BerkeleyDb),
            (&bdb_be, RpmDatabaseFormat::BerkeleyDb),
            (b"RpmP\x00\x00\x00\x00", RpmDatabaseFormat::Ndb),
            (b"", RpmDatabaseFormat::Unknown),
            (b"SQLite format 2", RpmDatabaseFormat::Unknown),
        ];
        for (bytes, format) in cases {
            assert_eq!(detect_rpm_database(bytes), format);
        }
        assert_eq!(
            parse_rpm_database(&bdb_le, &LIMITS),
            Err(PackageDbError::RpmFormatUnsupported {
                format: "BerkeleyDB"
            })
        );
        assert_eq!(
            parse_rpm_database(b"RpmP....", &LIMITS),
            Err(PackageDbError::RpmFormatUnsupported { format: "NDB" })
        );
        assert_eq!(
            parse_rpm_database(b"hello", &LIMITS),
            Err(PackageDbError::RpmFormatUnrecognised)
        );
    }

    /// Every real header of the fixture parses alone, and every truncation of one is an error
    /// (never a panic, never a wrong answer).
    #[test]
    fn real_headers_and_their_truncations() {
        let blobs = fixture_blobs();
        assert_eq!(blobs.len(), 3);
        for blob in blobs {
            assert!(parse_rpm_header(blob, 1, &LIMITS).is_ok());
            for cut in 0..blob.len() {
                assert!(
                    parse_rpm_header(&blob[..cut], 1, &LIMITS).is_err(),
                    "cut at {cut}"
                );
            }
        }
    }

    #[test]
    fn sqlite_errors() {
        // Damage past the header page: SQLite reports it, we do not panic.
        let mut damaged = RPMDB.to_vec();
        for b in damaged[4096..].iter_mut() {
            *b = 0xa5;
        }
        assert!(matches!(
            parse_rpmdb_sqlite(&damaged, &LIMITS),
            Err(PackageDbError::SqliteFailed { .. } | PackageDbError::HeaderCorrupted { .. })
        ));
        // A truncated file: an error, or (if every page SQLite needs is still there) the
        // same answer as the whole file.
        let whole = parse_rpmdb_sqlite(RPMDB, &LIMITS).unwrap();
        for cut in [20, 100, 4096, RPMDB.len() / 2, RPMDB.len() - 4096] {
            if let Ok(packages) = parse_rpmdb_sqlite(&RPMDB[..cut], &LIMITS) {
                assert_eq!(packages, whole, "cut at {cut}");
            }
        }
        assert!(matches!(
            parse_rpmdb_sqlite(b"SQLite format 3\0", &LIMITS),
            Err(PackageDbError::SqliteFailed { .. } | PackageDbError::RpmPackagesTableMissing)
        ));
        let tight = PackageDbLimits {
            sqlite_steps_max: 10,
            ..LIMITS
        };
        assert_eq!(
            parse_rpmdb_sqlite(RPMDB, &tight),
            Err(PackageDbError::SqliteBudgetExceeded { steps_max: 10 })
        );
        let one = PackageDbLimits {
            packages_max: 2,
            ..LIMITS
        };
        assert_eq!(
            parse_rpmdb_sqlite(RPMDB, &one),
            Err(PackageDbError::TooManyPackages {
                db: PackageDb::RpmSqlite,
                packages_max: 2
            })
        );
    }

    /// A database with a table of another shape, and one where `Packages` is a view.
    #[test]
    fn sqlite_without_a_packages_table() {
        let dir = tempfile::tempdir().unwrap();
        for (name, sql) in [
            ("other", "CREATE TABLE Other (x);"),
            (
                "view",
                "CREATE TABLE t (hnum, blob); CREATE VIEW Packages AS SELECT * FROM t;",
            ),
        ] {
            let path = dir.path().join(name);
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(sql).unwrap();
            drop(conn);
            let bytes = std::fs::read(&path).unwrap();
            assert_eq!(
                parse_rpmdb_sqlite(&bytes, &LIMITS),
                Err(PackageDbError::RpmPackagesTableMissing),
                "{name}"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn headers_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let _ = parse_rpm_header(&bytes, 0, &LIMITS);
        }

        /// Flipping bytes of a real header gives an answer or an error, never a panic.
        #[test]
        fn damaged_real_headers_never_panic(flips in proptest::collection::vec((proptest::prelude::any::<proptest::sample::Index>(), proptest::prelude::any::<u8>()), 1..8)) {
            let blobs = fixture_blobs();
            let mut blob = blobs[1].clone();
            for (at, value) in flips {
                let i = at.index(blob.len());
                blob[i] = value;
            }
            let _ = parse_rpm_header(&blob, 0, &LIMITS);
        }
    }
}
