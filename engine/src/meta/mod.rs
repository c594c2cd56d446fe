//! RocksDB metadata: the one module that calls `rocksdb`.
//!
//! Everything that is not blob bytes lives here: repositories, tags, manifests, blob records,
//! repository links, referrers and upload sessions (see [`schema`] for the keys).
//!
//! **How blocking RocksDB calls are kept off the reactors** (decided here, once):
//! - Point reads and short scans run inline on the calling executor thread. They are served from
//!   the memtable and block cache in microseconds; moving them to another thread would cost more
//!   in wake-ups than the read itself.
//! - Every write goes through one dedicated writer thread ([`writer`]). It runs each write job
//!   (checks plus a `WriteBatch`) in arrival order, so a job's checks see every earlier job's
//!   writes, then makes the whole group durable with a single WAL fsync (group commit) before any
//!   caller in the group is answered. Executors only await a oneshot reply.
//!
//! Invariants:
//! - A write is acknowledged only after the WAL holding it is fsynced.
//! - Read-check-write sequences that must be atomic (link a blob only if it exists, move a tag
//!   only if its manifest exists) run inside one writer job, never as a read on an executor
//!   followed by a write.

pub mod schema;
mod writer;

use std::path::Path;
use std::sync::Arc;

use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamily, ColumnFamilyDescriptor, Direction, IteratorMode,
    Options, DB,
};

pub use writer::WriteCtx;

/// Limits and tuning of the metadata store.
#[derive(Debug, Clone)]
pub struct MetaOptions {
    /// Write jobs waiting for the writer thread before callers are told to back off.
    pub write_queue_max: usize,
    /// Write jobs made durable together by one WAL fsync.
    pub write_group_max: usize,
    /// RocksDB block cache shared by all column families.
    pub block_cache_bytes: usize,
}

impl Default for MetaOptions {
    fn default() -> Self {
        Self {
            write_queue_max: 4096,
            write_group_max: 256,
            block_cache_bytes: 64 << 20,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    #[error("metadata store: {0}")]
    Db(#[from] rocksdb::Error),
    #[error("metadata record {key} is corrupted: {reason}")]
    Corrupted { key: String, reason: String },
    #[error("metadata write queue is full ({max} jobs waiting)")]
    Overloaded { max: usize },
    #[error("metadata writer has stopped")]
    WriterStopped,
    /// The writer thread could not be started (the process is out of threads or memory).
    #[error("metadata writer thread could not start: {0}")]
    ThreadStart(std::io::Error),
    /// The store was written by a newer binary, in a format this one cannot read.
    #[error("the metadata store is format version {found}; this binary reads up to {supported}")]
    FormatTooNew { found: u32, supported: u32 },
    /// Another process has the store open (RocksDB's `LOCK` file is held).
    #[error("another process holds the metadata store in {path}")]
    Locked { path: std::path::PathBuf },
}

/// A row of a scan: the key after the scanned prefix, and the value.
pub type Row = (Vec<u8>, Vec<u8>);

/// Handle to the metadata store; cheap to clone and shared by every shard.
///
/// Reads ([`Reader`], through `Deref`) run inline; writes go through [`Meta::write`].
#[derive(Clone)]
pub struct Meta {
    reader: Reader,
    writer: writer::WriterHandle,
}

/// The read side of the store, shared by executors and by write jobs on the writer thread.
#[derive(Clone)]
pub struct Reader {
    db: Arc<DB>,
}

impl std::ops::Deref for Meta {
    type Target = Reader;
    fn deref(&self) -> &Reader {
        &self.reader
    }
}

impl Meta {
    pub fn open(path: &Path, options: &MetaOptions) -> Result<Meta, MetaError> {
        let mut db_opts = Options::default();
        db_opts.create_if_missing(true);
        db_opts.create_missing_column_families(true);
        db_opts.set_max_background_jobs(2);
        // Keep RocksDB's own fsyncs for the WAL; it is the log of every acknowledged write.
        db_opts.set_use_fsync(false);
        let cache = Cache::new_lru_cache(options.block_cache_bytes);
        let cfs = schema::COLUMN_FAMILIES.iter().map(|name| {
            let mut table = BlockBasedOptions::default();
            table.set_block_cache(&cache);
            table.set_bloom_filter(10.0, false);
            table.set_cache_index_and_filter_blocks(true);
            let mut cf_opts = Options::default();
            cf_opts.set_block_based_table_factory(&table);
            cf_opts.set_compression_type(rocksdb::DBCompressionType::Lz4);
            ColumnFamilyDescriptor::new(*name, cf_opts)
        });
        let db = match DB::open_cf_descriptors(&db_opts, path, cfs) {
            Ok(db) => Arc::new(db),
            // RocksDB says so only in text: "IO error: lock hold by current process" or
            // "While lock file: .../LOCK: Resource temporarily unavailable".
            Err(e) if e.to_string().contains("/LOCK") => {
                return Err(MetaError::Locked {
                    path: path.to_owned(),
                })
            }
            Err(e) => return Err(e.into()),
        };
        let reader = Reader { db };
        let writer = writer::WriterHandle::start(reader.clone(), options)?;
        Ok(Meta { reader, writer })
    }

    /// The store's format version: written as the current one into a new store; 0 for a store
    /// that holds data from before versioning. Inline read.
    pub fn format_version(&self) -> Result<u32, MetaError> {
        if let Some(raw) = self.get_raw(schema::CF_INSTANCE, schema::FORMAT_VERSION_KEY)? {
            let bytes: [u8; 4] = raw
                .as_slice()
                .try_into()
                .map_err(|_| MetaError::Corrupted {
                    key: "instance/format-version".into(),
                    reason: format!("{} bytes, expected 4", raw.len()),
                })?;
            return Ok(u32::from_le_bytes(bytes));
        }
        for cf in schema::DATA_FAMILIES {
            if self.any_with_prefix(cf, b"")? {
                return Ok(0);
            }
        }
        // A new store: it is written in this binary's format from its first row.
        self.set_format_version(schema::FORMAT_VERSION)?;
        Ok(schema::FORMAT_VERSION)
    }

    /// Records that the store is now in format `version` (durable when this returns).
    pub fn set_format_version(&self, version: u32) -> Result<(), MetaError> {
        self.write_blocking(move |ctx| -> Result<(), MetaError> {
            ctx.put_raw(
                schema::CF_INSTANCE,
                schema::FORMAT_VERSION_KEY,
                &version.to_le_bytes(),
            );
            Ok(())
        })
    }

    /// Something to wait on for the store to be closed. It closes when the last handle is
    /// dropped and the writer thread (which ends when no handle can submit) has let go; a
    /// process must wait for that before it exits, or RocksDB's background threads may still
    /// be flushing while the process tears down.
    pub fn close_watch(&self) -> CloseWatch {
        CloseWatch {
            db: Arc::downgrade(&self.reader.db),
            writer_exited: self.writer.exited.clone(),
        }
    }

    /// Syncs the WAL and stops RocksDB's background flushes and compactions, waiting for any
    /// running one. Call once no more writes will come, before the process exits: a process
    /// that exits with background work running can be torn down under it.
    pub fn shut_down(&self) {
        if let Err(e) = self.reader.db.flush_wal(true) {
            tracing::warn!(error = %e, "metadata WAL sync at shutdown failed");
        }
        self.reader.db.cancel_all_background_work(true);
    }

    /// Runs `job` on the writer thread; resolves once its writes are durable.
    pub async fn write<R, E, F>(&self, job: F) -> Result<R, E>
    where
        R: Send + 'static,
        E: From<MetaError> + Send + 'static,
        F: FnOnce(&mut WriteCtx<'_>) -> Result<R, E> + Send + 'static,
    {
        self.writer.submit(job).await
    }

    /// Blocking variant of [`Meta::write`] for threads that are not executors (CLI, tests).
    pub fn write_blocking<R, E, F>(&self, job: F) -> Result<R, E>
    where
        R: Send + 'static,
        E: From<MetaError> + Send + 'static,
        F: FnOnce(&mut WriteCtx<'_>) -> Result<R, E> + Send + 'static,
    {
        futures_lite::future::block_on(self.writer.submit(job))
    }
}

/// See [`Meta::close_watch`].
pub struct CloseWatch {
    db: std::sync::Weak<DB>,
    writer_exited: Arc<(std::sync::Mutex<bool>, std::sync::Condvar)>,
}

impl CloseWatch {
    /// Waits until the store is closed; false if `timeout` passed first.
    ///
    /// Closed means: the writer thread has ended (it ends when the last handle that could
    /// submit is dropped), and with it any close it performed as the last owner — a weak
    /// count alone drops to zero before the close has run — and no other handle is left.
    pub fn wait(&self, timeout: std::time::Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        let (lock, condvar) = &*self.writer_exited;
        let mut exited = lock.lock().unwrap_or_else(|p| p.into_inner());
        while !*exited {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return false;
            }
            exited = condvar
                .wait_timeout(exited, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        drop(exited);
        while self.db.strong_count() > 0 {
            if std::time::Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        true
    }
}

impl Reader {
    pub(crate) fn cf(&self, name: &str) -> &ColumnFamily {
        // Every family in COLUMN_FAMILIES is opened in `open`; a missing one is a bug.
        self.db
            .cf_handle(name)
            .unwrap_or_else(|| panic!("column family {name} not opened"))
    }

    /// Point read of raw bytes.
    pub fn get_raw(&self, cf: &str, key: &[u8]) -> Result<Option<Vec<u8>>, MetaError> {
        Ok(self.db.get_cf(self.cf(cf), key)?)
    }

    /// Point read of a JSON record.
    pub fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        cf: &str,
        key: &[u8],
    ) -> Result<Option<T>, MetaError> {
        match self.db.get_pinned_cf(self.cf(cf), key)? {
            None => Ok(None),
            Some(bytes) => decode_json(key, &bytes).map(Some),
        }
    }

    /// RocksDB's estimate of the number of keys in a column family; cheap, approximate.
    pub fn estimate_keys(&self, cf: &str) -> Result<u64, MetaError> {
        Ok(self
            .db
            .property_int_value_cf(self.cf(cf), "rocksdb.estimate-num-keys")?
            .unwrap_or(0))
    }

    pub fn contains(&self, cf: &str, key: &[u8]) -> Result<bool, MetaError> {
        Ok(self.db.get_pinned_cf(self.cf(cf), key)?.is_some())
    }

    /// Whether any row of `cf` starts with `prefix`.
    pub fn any_with_prefix(&self, cf: &str, prefix: &[u8]) -> Result<bool, MetaError> {
        Ok(!self.scan_prefix(cf, prefix, None, 1)?.is_empty())
    }

    /// Rows whose key starts with `prefix`, in key order, starting strictly after
    /// `prefix ++ after` when `after` is given; at most `limit` rows. Returns the key suffix
    /// (after `prefix`) and the value.
    pub fn scan_prefix(
        &self,
        cf: &str,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<Row>, MetaError> {
        let start = scan_start(prefix, after);
        let iter = self
            .db
            .iterator_cf(self.cf(cf), IteratorMode::From(&start, Direction::Forward));
        collect_rows(iter, prefix, limit)
    }
}

/// A consistent read-only view of the whole store as of one moment (a RocksDB snapshot), for
/// checks that compare many rows while writes go on (fsck, statistics).
pub struct Snapshot<'a> {
    reader: &'a Reader,
    snapshot: rocksdb::Snapshot<'a>,
}

impl Reader {
    pub fn snapshot(&self) -> Snapshot<'_> {
        Snapshot {
            reader: self,
            snapshot: self.db.snapshot(),
        }
    }
}

impl Snapshot<'_> {
    pub fn get_raw(&self, cf: &str, key: &[u8]) -> Result<Option<Vec<u8>>, MetaError> {
        Ok(self.snapshot.get_cf(self.reader.cf(cf), key)?)
    }

    pub fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        cf: &str,
        key: &[u8],
    ) -> Result<Option<T>, MetaError> {
        match self.get_raw(cf, key)? {
            None => Ok(None),
            Some(bytes) => decode_json(key, &bytes).map(Some),
        }
    }

    pub fn contains(&self, cf: &str, key: &[u8]) -> Result<bool, MetaError> {
        Ok(self.get_raw(cf, key)?.is_some())
    }

    /// As [`Reader::scan_prefix`], on the snapshot.
    pub fn scan_prefix(
        &self,
        cf: &str,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<Row>, MetaError> {
        let start = scan_start(prefix, after);
        let iter = self.snapshot.iterator_cf(
            self.reader.cf(cf),
            IteratorMode::From(&start, Direction::Forward),
        );
        collect_rows(iter, prefix, limit)
    }

    /// Calls `visit` with every row of `cf`, in key order, reading in pages so memory stays
    /// bounded whatever the family's size.
    pub fn for_each<E: From<MetaError>>(
        &self,
        cf: &str,
        mut visit: impl FnMut(&[u8], &[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        const PAGE: usize = 1024;
        let mut after: Option<Vec<u8>> = None;
        loop {
            let rows = self.scan_prefix(cf, b"", after.as_deref(), PAGE)?;
            for (key, value) in &rows {
                visit(key, value)?;
            }
            if rows.len() < PAGE {
                return Ok(());
            }
            after = rows.last().map(|(k, _)| k.clone());
        }
    }
}

fn scan_start(prefix: &[u8], after: Option<&[u8]>) -> Vec<u8> {
    let mut start = prefix.to_vec();
    if let Some(after) = after {
        start.extend_from_slice(after);
        // The smallest key greater than `start` is `start ++ 0x00`.
        start.push(0);
    }
    start
}

fn collect_rows<I>(iter: I, prefix: &[u8], limit: usize) -> Result<Vec<Row>, MetaError>
where
    I: Iterator<Item = Result<(Box<[u8]>, Box<[u8]>), rocksdb::Error>>,
{
    let mut rows = Vec::new();
    for item in iter {
        if rows.len() >= limit {
            break;
        }
        let (key, value) = item?;
        let Some(suffix) = key.strip_prefix(prefix) else {
            break;
        };
        rows.push((suffix.to_vec(), value.to_vec()));
    }
    Ok(rows)
}

pub(crate) fn decode_json<T: serde::de::DeserializeOwned>(
    key: &[u8],
    bytes: &[u8],
) -> Result<T, MetaError> {
    serde_json::from_slice(bytes).map_err(|e| MetaError::Corrupted {
        key: String::from_utf8_lossy(key).replace('\0', "/"),
        reason: e.to_string(),
    })
}

pub(crate) fn encode_json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    // Serialising our own record types cannot fail: they hold only strings, numbers and maps
    // with string keys.
    serde_json::to_vec(value).expect("metadata records serialise")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    enum JobError {
        #[error("refused")]
        Refused,
        #[error(transparent)]
        Meta(#[from] MetaError),
    }

    fn open() -> (tempfile::TempDir, Meta) {
        let dir = tempfile::tempdir().expect("tempdir");
        let meta = Meta::open(&dir.path().join("meta"), &MetaOptions::default()).expect("open");
        (dir, meta)
    }

    #[test]
    fn a_refused_job_writes_nothing() {
        let (_dir, meta) = open();
        let result = meta.write_blocking(|ctx| -> Result<(), JobError> {
            ctx.put_raw(schema::CF_TAGS, b"k", b"v");
            Err(JobError::Refused)
        });
        assert!(matches!(result, Err(JobError::Refused)));
        assert_eq!(meta.get_raw(schema::CF_TAGS, b"k").expect("read"), None);
    }

    /// Check-then-write inside one job is atomic: many threads each claim a counter value by
    /// reading it and writing value+1; no two may see the same value.
    #[test]
    fn jobs_are_serialised_so_checks_see_earlier_writes() {
        let (_dir, meta) = open();
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let meta = meta.clone();
                std::thread::spawn(move || {
                    (0..50)
                        .map(|_| {
                            meta.write_blocking(|ctx| -> Result<u64, JobError> {
                                let current = ctx
                                    .get_raw(schema::CF_REPOS, b"counter")?
                                    .map(|v| u64::from_le_bytes(v.try_into().expect("8 bytes")))
                                    .unwrap_or(0);
                                ctx.put_raw(
                                    schema::CF_REPOS,
                                    b"counter",
                                    &(current + 1).to_le_bytes(),
                                );
                                Ok(current)
                            })
                            .expect("write")
                        })
                        .collect::<Vec<u64>>()
                })
            })
            .collect();
        let mut seen: Vec<u64> = threads
            .into_iter()
            .flat_map(|t| t.join().expect("thread"))
            .collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..400).collect::<Vec<u64>>());
    }

    #[test]
    fn a_full_queue_is_reported_not_blocked_on() {
        let dir = tempfile::tempdir().expect("tempdir");
        let meta = Meta::open(
            &dir.path().join("meta"),
            &MetaOptions {
                write_queue_max: 1,
                write_group_max: 1,
                ..MetaOptions::default()
            },
        )
        .expect("open");
        // Block the writer inside a job, then fill the queue.
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let blocker = {
            let meta = meta.clone();
            std::thread::spawn(move || {
                meta.write_blocking(move |_| -> Result<(), JobError> {
                    let _ = release_rx.recv();
                    Ok(())
                })
            })
        };
        std::thread::sleep(std::time::Duration::from_millis(100));
        let queued = {
            let meta = meta.clone();
            std::thread::spawn(move || meta.write_blocking(|_| -> Result<(), JobError> { Ok(()) }))
        };
        std::thread::sleep(std::time::Duration::from_millis(100));
        let overflow = meta.write_blocking(|_| -> Result<(), JobError> { Ok(()) });
        assert!(
            matches!(
                overflow,
                Err(JobError::Meta(MetaError::Overloaded { max: 1 }))
            ),
            "{overflow:?}"
        );
        release_tx.send(()).expect("release");
        blocker.join().expect("join").expect("blocker");
        queued.join().expect("join").expect("queued");
    }

    #[test]
    fn prefix_scans_page_in_key_order() {
        let (_dir, meta) = open();
        meta.write_blocking(|ctx| -> Result<(), JobError> {
            for key in ["a\0x", "a\0y", "a\0z", "a/b\0x", "b\0x"] {
                ctx.put_raw(schema::CF_TAGS, key.as_bytes(), b"");
            }
            Ok(())
        })
        .expect("write");
        let keys = |after: Option<&[u8]>, limit| -> Vec<String> {
            meta.scan_prefix(schema::CF_TAGS, b"a\0", after, limit)
                .expect("scan")
                .into_iter()
                .map(|(k, _)| String::from_utf8(k).expect("utf8"))
                .collect()
        };
        assert_eq!(keys(None, 10), ["x", "y", "z"]);
        assert_eq!(keys(None, 2), ["x", "y"]);
        assert_eq!(keys(Some(b"x"), 10), ["y", "z"]);
        assert_eq!(keys(Some(b"z"), 10), Vec::<String>::new());
    }
}
