//! Resumable upload sessions that survive restarts and work from any shard.
//!
//! A session is a RocksDB record ([`UploadRecord`]) plus a data file `uploads/<id>`. The record
//! says how many bytes of the file are durable (`offset`) and holds the running digest of
//! exactly those bytes, so any shard, in this process or the next, can append where the last
//! request stopped without re-reading the file.
//!
//! ```text
//!           start                 append (lease) + save              finish
//!  (none) ────────▶ offset=0 ───────────────────────────▶ offset=N ──────────▶ blob committed,
//!                     ▲ │ cancel / TTL expiry                 │               record deleted
//!                     │ ▼                                     │
//!                   (none, file removed)  ◀───────────────────┘
//! ```
//!
//! Invariants:
//! - The file is fsynced up to `offset` before the record saying `offset` is written.
//! - One request appends to a session at a time: it holds a lease in the record, taken and
//!   released by writer jobs. A lease from an earlier process is void.
//! - A file in `uploads/` with no record is garbage once no request can be writing it, which is
//!   true at start-up ([`Uploads::remove_orphan_files`]).

use std::sync::Arc;

use crate::blob::{AppendWriter, BlobStore};
use crate::meta::schema::{self, UploadLease, UploadRecord};
use crate::meta::{decode_json, Meta};
use crate::oci::{Algorithm, Digest, DigestHasher, RepoName};
use crate::registry::{link_blob, Admission, RegistryError};
use crate::Clock;

/// Prefix of data files written by single-request (monolithic) pushes, which have no record.
const ONESHOT_PREFIX: &str = "oneshot-";

/// An upload session's id: a UUID, the only form accepted back from clients.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UploadId(String);

impl UploadId {
    pub fn new() -> UploadId {
        UploadId(uuid::Uuid::new_v4().to_string())
    }

    pub fn parse(s: &str) -> Option<UploadId> {
        uuid::Uuid::parse_str(s)
            .ok()
            .filter(|u| u.hyphenated().to_string() == s)
            .map(|_| UploadId(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for UploadId {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Display for UploadId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone)]
pub struct UploadLimits {
    /// Largest blob an upload may produce.
    pub blob_bytes_max: u64,
    /// Sessions untouched for this long are removed with their files.
    pub session_idle_ttl_ms: u64,
    /// Size of the aligned write buffer of one upload stream.
    pub write_buffer_bytes: usize,
    /// Open sessions (approximately counted) before new ones are refused.
    pub sessions_max: u64,
    /// Uploads stop (507) when the file system has less than this free, so that metadata
    /// (manifests, tags, deletes, RocksDB's own files) can still be written.
    pub min_free_bytes: u64,
}

impl Default for UploadLimits {
    fn default() -> Self {
        Self {
            blob_bytes_max: 16 << 30,
            session_idle_ttl_ms: 24 * 3600 * 1000,
            write_buffer_bytes: 1 << 20,
            sessions_max: 100_000,
            min_free_bytes: 128 << 20,
        }
    }
}

/// Session rows the expiry sweep reads and removes per writer job.
const EXPIRY_PAGE_ROWS: usize = 256;

/// An upload checks free space when it starts and after every this many bytes.
const FREE_SPACE_CHECK_BYTES: u64 = 8 << 20;

/// Upload sessions of one registry: the upload part of [`crate::Engine`]. Cheap to clone, one
/// per shard.
#[derive(Clone)]
pub struct Uploads {
    meta: Meta,
    store: BlobStore,
    clock: Arc<dyn Clock>,
    boot_id: Arc<str>,
    limits: UploadLimits,
    admission: Admission,
}

/// What the client is told about a session.
#[derive(Debug, Clone)]
pub struct UploadStatus {
    pub id: UploadId,
    pub offset: u64,
}

impl Uploads {
    pub(crate) fn new(
        meta: Meta,
        store: BlobStore,
        clock: Arc<dyn Clock>,
        limits: UploadLimits,
        admission: Admission,
    ) -> Self {
        Uploads {
            meta,
            store,
            clock,
            boot_id: uuid::Uuid::new_v4().to_string().into(),
            limits,
            admission,
        }
    }

    pub fn limits(&self) -> &UploadLimits {
        &self.limits
    }

    /// Opens a new session for `repo`: an empty data file, then its record.
    pub async fn start(&self, repo: &RepoName) -> Result<UploadStatus, RegistryError> {
        self.check_free_space()?;
        if self.meta.estimate_keys(schema::CF_UPLOADS)? >= self.limits.sessions_max {
            return Err(RegistryError::Overloaded(format!(
                "{} upload sessions are open",
                self.limits.sessions_max
            )));
        }
        let id = UploadId::new();
        AppendWriter::create(
            &self.store.upload_path(id.as_str()),
            self.limits.write_buffer_bytes,
        )
        .await?
        .finish()
        .await?;
        let now = self.clock.now_ms();
        let record = UploadRecord {
            repo: repo.clone(),
            offset: 0,
            algorithm: Algorithm::Sha256.as_str().to_owned(),
            hash_state: DigestHasher::new(Algorithm::Sha256).save_state(),
            created_at_ms: now,
            updated_at_ms: now,
            lease: None,
        };
        let key = id.as_str().as_bytes().to_vec();
        self.meta
            .write(move |ctx| -> Result<(), RegistryError> {
                ctx.put_json(schema::CF_UPLOADS, &key, &record);
                Ok(())
            })
            .await?;
        Ok(UploadStatus { id, offset: 0 })
    }

    /// Refuses to take more bytes when the file system is below the reserve.
    fn check_free_space(&self) -> Result<(), RegistryError> {
        let reserve = self.limits.min_free_bytes;
        if reserve == 0 {
            return Ok(());
        }
        let free = self.store.free_bytes()?;
        if free < reserve {
            return Err(RegistryError::StorageFull { free, reserve });
        }
        Ok(())
    }

    /// The session's record, if it exists and belongs to `repo`.
    pub fn status(&self, repo: &RepoName, id: &UploadId) -> Result<UploadStatus, RegistryError> {
        let record = self.record(repo, id)?;
        Ok(UploadStatus {
            id: id.clone(),
            offset: record.offset,
        })
    }

    fn record(&self, repo: &RepoName, id: &UploadId) -> Result<UploadRecord, RegistryError> {
        let record: Option<UploadRecord> = self
            .meta
            .get_json(schema::CF_UPLOADS, id.as_str().as_bytes())?;
        match record {
            Some(r) if &r.repo == repo => Ok(r),
            _ => Err(RegistryError::UploadUnknown { id: id.to_string() }),
        }
    }

    /// Takes the session's lease and opens its file for appending at the recorded offset.
    /// `start`, when the client sent a `Content-Range`, must equal that offset.
    pub async fn append(
        &self,
        repo: &RepoName,
        id: &UploadId,
        start: Option<u64>,
    ) -> Result<Appender, RegistryError> {
        let token = uuid::Uuid::new_v4().to_string();
        let lease = UploadLease {
            boot_id: format!("{}/{}", self.boot_id, token),
            taken_at_ms: self.clock.now_ms(),
        };
        let (repo_owned, key) = (repo.clone(), id.as_str().as_bytes().to_vec());
        let boot_prefix = format!("{}/", self.boot_id);
        let id_text = id.to_string();
        let taken = lease.clone();
        let record = self
            .meta
            .write(move |ctx| -> Result<UploadRecord, RegistryError> {
                let unknown = || RegistryError::UploadUnknown {
                    id: id_text.clone(),
                };
                let mut record: UploadRecord = ctx
                    .get_json(schema::CF_UPLOADS, &key)?
                    .ok_or_else(unknown)?;
                if record.repo != repo_owned {
                    return Err(unknown());
                }
                if let Some(held) = &record.lease {
                    if held.boot_id.starts_with(&boot_prefix) {
                        return Err(RegistryError::UploadBusy {
                            id: id_text.clone(),
                        });
                    }
                }
                if let Some(start) = start {
                    if start != record.offset {
                        return Err(RegistryError::UploadOffsetMismatch {
                            offset: record.offset,
                            start,
                        });
                    }
                }
                record.lease = Some(taken);
                ctx.put_json(schema::CF_UPLOADS, &key, &record);
                Ok(record)
            })
            .await?;
        let algorithm = parse_algorithm(&record.algorithm)?;
        let hasher = DigestHasher::restore(algorithm, &record.hash_state).map_err(|e| {
            RegistryError::Corrupted {
                what: format!("upload {id} hash state: {e}"),
            }
        })?;
        let path = self.store.upload_path(id.as_str());
        let writer = match AppendWriter::resume(
            &path,
            record.offset,
            self.limits.write_buffer_bytes,
        )
        .await
        {
            Ok(w) => w,
            Err(e) => {
                self.release(id, &lease.boot_id, None).await;
                return Err(e.into());
            }
        };
        Ok(Appender {
            uploads: self.clone(),
            session: Some(Session {
                id: id.clone(),
                lease: lease.boot_id,
            }),
            repo: repo.clone(),
            writer: Some(writer),
            hasher: Some(hasher),
            file_name: id.as_str().to_owned(),
            unchecked_bytes: FREE_SPACE_CHECK_BYTES,
            storage_full: false,
        })
    }

    /// A single-request upload (POST `?digest=`): no session record, a private data file.
    pub async fn oneshot(&self, repo: &RepoName) -> Result<Appender, RegistryError> {
        self.check_free_space()?;
        let file_name = format!("{ONESHOT_PREFIX}{}", UploadId::new());
        let writer = AppendWriter::create(
            &self.store.upload_path(&file_name),
            self.limits.write_buffer_bytes,
        )
        .await?;
        Ok(Appender {
            uploads: self.clone(),
            session: None,
            repo: repo.clone(),
            writer: Some(writer),
            hasher: Some(DigestHasher::new(Algorithm::Sha256)),
            file_name,
            unchecked_bytes: FREE_SPACE_CHECK_BYTES,
            storage_full: false,
        })
    }

    /// Removes the session and its file.
    pub async fn cancel(&self, repo: &RepoName, id: &UploadId) -> Result<(), RegistryError> {
        let (repo_owned, key, id_text) = (
            repo.clone(),
            id.as_str().as_bytes().to_vec(),
            id.to_string(),
        );
        self.meta
            .write(move |ctx| -> Result<(), RegistryError> {
                let record: Option<UploadRecord> = ctx.get_json(schema::CF_UPLOADS, &key)?;
                match record {
                    Some(r) if r.repo == repo_owned => {
                        ctx.delete(schema::CF_UPLOADS, &key);
                        Ok(())
                    }
                    _ => Err(RegistryError::UploadUnknown { id: id_text }),
                }
            })
            .await?;
        self.store.remove_upload_file(id.as_str()).await?;
        Ok(())
    }

    /// Removes sessions idle for longer than the TTL, records first, then files, a page of
    /// [`EXPIRY_PAGE_ROWS`] rows per writer job (each re-checked in its job: a request may
    /// have touched the session meanwhile). Returns how many were removed. Blocking: for the
    /// maintenance thread, never a reactor.
    pub fn expire_idle(&self) -> Result<usize, RegistryError> {
        let cutoff = self
            .clock
            .now_ms()
            .saturating_sub(self.limits.session_idle_ttl_ms);
        let mut removed = 0;
        let mut after: Option<Vec<u8>> = None;
        loop {
            let rows = self.meta.scan_prefix(
                schema::CF_UPLOADS,
                b"",
                after.as_deref(),
                EXPIRY_PAGE_ROWS,
            )?;
            let full_page = rows.len() == EXPIRY_PAGE_ROWS;
            after = rows.last().map(|(key, _)| key.clone());
            let mut candidates = Vec::new();
            for (key, value) in rows {
                let record: UploadRecord = decode_json(&key, &value)?;
                if record.updated_at_ms < cutoff {
                    candidates.push(key);
                }
            }
            if !candidates.is_empty() {
                let deleted = self.meta.write_blocking(
                    move |ctx| -> Result<Vec<Vec<u8>>, RegistryError> {
                        let mut deleted = Vec::with_capacity(candidates.len());
                        for key in candidates {
                            let record: Option<UploadRecord> =
                                ctx.get_json(schema::CF_UPLOADS, &key)?;
                            if record.is_some_and(|r| r.updated_at_ms < cutoff) {
                                ctx.delete(schema::CF_UPLOADS, &key);
                                deleted.push(key);
                            }
                        }
                        Ok(deleted)
                    },
                )?;
                for key in deleted {
                    // The record is gone, so no request can append to the file any more.
                    let name = String::from_utf8_lossy(&key).into_owned();
                    match std::fs::remove_file(self.store.upload_path(&name)) {
                        Ok(()) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => return Err(e.into()),
                    }
                    removed += 1;
                }
            }
            if !full_page {
                return Ok(removed);
            }
        }
    }

    /// Every upload session record, for operators and tests: (id, repository, offset).
    pub fn sessions(&self) -> Result<Vec<UploadStatus>, RegistryError> {
        let rows = self
            .meta
            .scan_prefix(schema::CF_UPLOADS, b"", None, usize::MAX)?;
        let mut out = Vec::with_capacity(rows.len());
        for (key, value) in rows {
            let record: UploadRecord = decode_json(&key, &value)?;
            if let Some(id) = UploadId::parse(&String::from_utf8_lossy(&key)) {
                out.push(UploadStatus {
                    id,
                    offset: record.offset,
                });
            }
        }
        Ok(out)
    }

    /// Removes data files that no session record owns. Only sound when no request is writing
    /// (at start-up, before serving): a monolithic push's file has no record while it runs.
    /// Blocking: call from the start-up thread.
    pub fn remove_orphan_files(&self) -> Result<usize, RegistryError> {
        let mut removed = 0;
        for name in self.store.list_upload_files()? {
            let owned = UploadId::parse(&name).is_some()
                && self.meta.contains(schema::CF_UPLOADS, name.as_bytes())?;
            if !owned {
                std::fs::remove_file(self.store.upload_path(&name))?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Frees a session's space after the disk filled: the file first (the record alone is a
    /// session whose next request is told it is unknown), then the record, best effort — the
    /// metadata write may itself fail on a full disk, and expiry removes the record later.
    async fn discard(&self, id: &UploadId) {
        if let Err(e) = self.store.remove_upload_file(id.as_str()).await {
            tracing::warn!(upload = %id, error = %e, "could not remove the upload file");
        }
        let key = id.as_str().as_bytes().to_vec();
        let removed = self
            .meta
            .write(move |ctx| -> Result<(), RegistryError> {
                ctx.delete(schema::CF_UPLOADS, &key);
                Ok(())
            })
            .await;
        match removed {
            Ok(()) => tracing::info!(upload = %id, "storage full: upload session discarded"),
            Err(e) => tracing::warn!(upload = %id, error = %e, "could not remove the session"),
        }
    }

    /// Releases our lease, optionally recording new progress. Failures are logged: the lease
    /// is void after a restart anyway.
    async fn release(&self, id: &UploadId, lease: &str, progress: Option<(u64, Vec<u8>)>) {
        let key = id.as_str().as_bytes().to_vec();
        let lease = lease.to_owned();
        let now = self.clock.now_ms();
        let result = self
            .meta
            .write(move |ctx| -> Result<(), RegistryError> {
                let record: Option<UploadRecord> = ctx.get_json(schema::CF_UPLOADS, &key)?;
                let Some(mut record) = record else {
                    return Ok(());
                };
                if record.lease.as_ref().map(|l| l.boot_id.as_str()) != Some(lease.as_str()) {
                    return Ok(());
                }
                record.lease = None;
                if let Some((offset, state)) = progress {
                    record.offset = offset;
                    record.hash_state = state;
                    record.updated_at_ms = now;
                }
                ctx.put_json(schema::CF_UPLOADS, &key, &record);
                Ok(())
            })
            .await;
        if let Err(e) = result {
            tracing::warn!(upload = %id, error = %e, "could not release upload lease");
        }
    }
}

fn parse_algorithm(name: &str) -> Result<Algorithm, RegistryError> {
    match name {
        "sha256" => Ok(Algorithm::Sha256),
        "sha512" => Ok(Algorithm::Sha512),
        other => Err(RegistryError::Corrupted {
            what: format!("upload hash algorithm {other:?}"),
        }),
    }
}

struct Session {
    id: UploadId,
    lease: String,
}

/// One request's append to an upload. End it with [`Appender::save`] (keep the session),
/// [`Appender::finish`] (commit the blob) or [`Appender::abandon`].
pub struct Appender {
    uploads: Uploads,
    session: Option<Session>,
    repo: RepoName,
    writer: Option<AppendWriter>,
    hasher: Option<DigestHasher>,
    file_name: String,
    /// Bytes written since free space was last checked.
    unchecked_bytes: u64,
    /// The file system filled up: the session's bytes are discarded, not kept for a retry.
    storage_full: bool,
}

impl Appender {
    /// Whether a write failed because the file system is full (or below the reserve).
    pub fn storage_full(&self) -> bool {
        self.storage_full
    }

    /// Bytes in the upload so far, including earlier requests'.
    pub fn offset(&self) -> u64 {
        self.writer.as_ref().map_or(0, AppendWriter::len)
    }

    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), RegistryError> {
        let max = self.uploads.limits.blob_bytes_max;
        // `save`, `finish` and `abandon` take `self`: nothing can write after them.
        let (Some(writer), Some(hasher)) = (self.writer.as_mut(), self.hasher.as_mut()) else {
            unreachable!("append after the end of an upload");
        };
        if writer.len() + chunk.len() as u64 > max {
            return Err(RegistryError::UploadTooLarge { max });
        }
        if self.unchecked_bytes >= FREE_SPACE_CHECK_BYTES {
            self.unchecked_bytes = 0;
            if let Err(e) = self.uploads.check_free_space() {
                self.storage_full = e.is_storage_full();
                return Err(e);
            }
        }
        self.unchecked_bytes += chunk.len() as u64;
        hasher.update(chunk);
        if let Err(e) = writer.write(chunk).await {
            let e = RegistryError::from(e);
            self.storage_full = e.is_storage_full();
            return Err(e);
        }
        Ok(())
    }

    /// Makes what was appended durable and records it; the session continues from there.
    /// Returns the new offset.
    pub async fn save(mut self) -> Result<u64, RegistryError> {
        let writer = self.writer.take();
        let hasher = self.hasher.take();
        let session = self.session.take();
        // Only `append` makes an `Appender` with a session, and only those may be saved: a
        // monolithic push (`oneshot`) is finished or abandoned, never saved.
        let (Some(writer), Some(hasher), Some(session)) = (writer, hasher, session) else {
            unreachable!("save of an upload without a session, or after its end");
        };
        let offset = match writer.finish().await {
            Ok(offset) => offset,
            Err(e) => {
                self.uploads
                    .release(&session.id, &session.lease, None)
                    .await;
                return Err(e.into());
            }
        };
        self.uploads
            .release(
                &session.id,
                &session.lease,
                Some((offset, hasher.save_state())),
            )
            .await;
        Ok(offset)
    }

    /// Completes the upload as blob `expected`: verifies the digest, makes the bytes durable,
    /// moves them into the blob store, then records the blob and links it to the repository.
    /// On a digest mismatch the upload is discarded.
    pub async fn finish(mut self, expected: &Digest) -> Result<u64, RegistryError> {
        let session = self.session.take();
        let result = self.finish_inner(expected, session.as_ref()).await;
        if let (Err(e), Some(session)) = (&result, &session) {
            match e {
                // The bytes were wrong: the session is over.
                RegistryError::DigestMismatch { .. } => {
                    let _ = self.uploads.cancel(&self.repo, &session.id).await;
                }
                // The disk filled: free what the session holds.
                e if e.is_storage_full() => self.uploads.discard(&session.id).await,
                // Anything else (i/o, overload): keep the session, unleased. A failure before the
                // bytes were linked into the store leaves it resumable; after, its file is gone
                // and the next request is told the upload is unknown, so the client starts over.
                _ => {
                    self.uploads
                        .release(&session.id, &session.lease, None)
                        .await
                }
            }
        }
        result
    }

    async fn finish_inner(
        &mut self,
        expected: &Digest,
        session: Option<&Session>,
    ) -> Result<u64, RegistryError> {
        // `finish` takes `self`, and only it and `Drop` take the writer.
        let (Some(writer), Some(hasher)) = (self.writer.take(), self.hasher.take()) else {
            unreachable!("finish after the end of an upload");
        };
        let uploads = self.uploads.clone();
        let actual = if expected.algorithm() == hasher.algorithm() {
            Some(hasher.finish())
        } else {
            None
        };
        let size = writer.finish().await?;
        let path = uploads.store.upload_path(&self.file_name);
        let actual = match actual {
            Some(d) => d,
            // The session hashed with sha256 but the client names a sha512 digest: hash the
            // durable file once more with the algorithm asked for.
            None => uploads.store.hash_file(&path, expected.algorithm()).await?,
        };
        if &actual != expected {
            if session.is_none() {
                uploads.store.remove_upload_file(&self.file_name).await?;
            }
            return Err(RegistryError::DigestMismatch {
                expected: expected.clone(),
                actual,
            });
        }
        // Pair assertion with the check above, right before the bytes get their name: a blob
        // file is only ever named by the digest its bytes hashed to.
        assert_eq!(&actual, expected, "linking bytes under another digest");
        let result = commit_blob(&uploads, &path, &self.repo, expected, size, session).await;
        // The upload's own name is not needed whatever happened: on success the blob file
        // holds the bytes; on failure a session must not append to an inode that a blob file
        // may share (it is then unknown to the next request, which starts over).
        if let Err(e) = uploads.store.remove_upload_file(&self.file_name).await {
            tracing::warn!(file = %self.file_name, error = %e, "could not remove upload file");
        }
        result
    }

    /// Ends the request without recording anything; the session keeps its previous offset
    /// (unless the disk filled up: then the session is discarded to free its space).
    pub async fn abandon(mut self) {
        if let Some(writer) = self.writer.take() {
            writer.abandon().await;
        }
        match self.session.take() {
            Some(session) if self.storage_full => self.uploads.discard(&session.id).await,
            Some(session) => {
                self.uploads
                    .release(&session.id, &session.lease, None)
                    .await;
            }
            None => {
                let _ = self.uploads.store.remove_upload_file(&self.file_name).await;
            }
        }
    }
}

impl Drop for Appender {
    fn drop(&mut self) {
        // A request dropped mid-way (client gone, handler error) must not leave the session
        // leased: release it in the background.
        if let Some(session) = self.session.take() {
            let uploads = self.uploads.clone();
            let writer = self.writer.take();
            let full = self.storage_full;
            glommio::spawn_local(async move {
                if let Some(writer) = writer {
                    writer.abandon().await;
                }
                if full {
                    uploads.discard(&session.id).await;
                } else {
                    uploads.release(&session.id, &session.lease, None).await;
                }
            })
            .detach();
        } else if self.writer.is_some() {
            let uploads = self.uploads.clone();
            let writer = self.writer.take();
            let name = std::mem::take(&mut self.file_name);
            glommio::spawn_local(async move {
                if let Some(writer) = writer {
                    writer.abandon().await;
                }
                let _ = uploads.store.remove_upload_file(&name).await;
            })
            .detach();
        }
    }
}

/// How often a push links its file again when garbage collection removed the blob's file
/// between the link and the metadata write (each time, an unreferenced file of the same digest
/// had to be collected at that very moment).
const COMMIT_ATTEMPTS: usize = 3;

/// Links the verified upload file into the blob store and records the blob, linked to `repo`.
///
/// The file check and the metadata write happen in one writer job. Garbage collection removes
/// a blob file only inside a writer job that finds no blob row, so the two are ordered: either
/// this job runs first and GC then sees the row, or GC removed the file first and this job
/// finds it missing and links it again from the upload file.
async fn commit_blob(
    uploads: &Uploads,
    upload_file: &std::path::Path,
    repo: &RepoName,
    digest: &Digest,
    size: u64,
    session: Option<&Session>,
) -> Result<u64, RegistryError> {
    for _ in 0..COMMIT_ATTEMPTS {
        uploads.store.link_into_place(upload_file, digest).await?;
        let now = uploads.clock.now_ms();
        let blob_path = uploads.store.blob_path(digest);
        let (repo, job_digest, admission) = (repo.clone(), digest.clone(), uploads.admission);
        let session_key = session.map(|s| s.id.as_str().as_bytes().to_vec());
        let recorded = uploads
            .meta
            .write(move |ctx| -> Result<bool, RegistryError> {
                if !blob_path.is_file() {
                    return Ok(false);
                }
                link_blob(ctx, &repo, &job_digest, size, now, admission)?;
                if let Some(key) = session_key {
                    ctx.delete(schema::CF_UPLOADS, &key);
                }
                Ok(true)
            })
            .await?;
        if recorded {
            return Ok(size);
        }
        tracing::info!(%digest, "blob file collected while being committed; linking it again");
    }
    Err(RegistryError::Io(std::io::Error::other(format!(
        "blob {digest} file was removed {COMMIT_ATTEMPTS} times while being committed"
    ))))
}
