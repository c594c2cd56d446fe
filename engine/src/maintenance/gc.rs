//! Online garbage collection: reclaims what nothing references while pushes and pulls go on.
//!
//! ```text
//!  phase 1  untagged manifests (policy)   no tag, no parent index, no live subject, old
//!  phase 2  repository links              no manifest of the repository references it, old
//!  phase 3  blobs                         no link, no manifest anywhere references it, old
//!             J1: re-check, delete the blob row  ──(WAL synced)──▶  J2: row still absent?
//!                                                                    unlink the file
//!  phase 4  manifest bodies               no repository holds the manifest
//!  phase 5  orphan files                  a file under blobs/ with no row, old
//! ```
//!
//! "Old" means older than the grace period, which protects what a push has uploaded but not
//! yet referenced from a manifest.
//!
//! Invariants (see `docs/design/storage.md` for why they suffice):
//! - Every removal is decided twice: once from a scan, and again inside the metadata writer
//!   job that removes it, with the same predicate. A manifest push checks its references in a
//!   writer job too, so a push and a removal of something it references are serialised: the
//!   push either sees the row (and GC's re-check then sees the push's reference) or does not
//!   (and fails with MANIFEST_BLOB_UNKNOWN, acknowledging nothing).
//! - Metadata before deletion: a blob row is removed, and made durable, before its file; the
//!   file is unlinked inside a writer job that finds no row, and a push links its file and
//!   checks it is there inside one writer job, so no row can name a removed file.
//! - A dry run removes nothing: it applies the same predicates to the live store with an
//!   overlay of what it would have removed, so the cascade (manifest → link → blob) it
//!   reports is the one a real run would perform at that moment.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::{check_stop, MaintenanceError, StopFlag, Throttle};
use crate::meta::schema::{self, BlobRecord, ManifestLink, RepoBlobLink};
use crate::meta::Reader;
use crate::oci::{Digest, RepoName};
use crate::registry::{rows, Registry, RegistryError};

#[derive(Debug, Clone)]
pub struct GcOptions {
    /// Nothing younger than this is removed (blobs, links, untagged manifests, orphan files).
    pub grace_ms: u64,
    /// Remove manifests that no tag, parent index or live subject keeps.
    pub untagged_manifests: bool,
    /// Remove repository links to blobs that no manifest of the repository references.
    pub unreferenced_links: bool,
    /// Metadata writer jobs (each one removal) per second; 0 is unlimited.
    pub ops_per_s: u64,
    pub dry_run: bool,
}

impl Default for GcOptions {
    fn default() -> Self {
        Self {
            grace_ms: 3_600_000,
            untagged_manifests: false,
            unreferenced_links: true,
            ops_per_s: 1000,
            dry_run: false,
        }
    }
}

/// What a run removed (or, for a dry run, would remove).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GcReport {
    pub dry_run: bool,
    pub started_at_ms: u64,
    pub finished_at_ms: u64,
    pub manifests_deleted: u64,
    pub links_removed: u64,
    pub blobs_deleted: u64,
    pub blob_bytes_reclaimed: u64,
    pub manifest_bodies_deleted: u64,
    pub orphan_files_removed: u64,
    pub orphan_bytes_reclaimed: u64,
    /// Candidates the re-check inside the writer kept: something referenced them meanwhile.
    pub kept_on_recheck: u64,
}

impl GcReport {
    pub fn bytes_reclaimed(&self) -> u64 {
        self.blob_bytes_reclaimed + self.orphan_bytes_reclaimed
    }
}

/// Rows a dry run pretends to have removed.
#[derive(Default)]
struct Overlay {
    removed: HashSet<(&'static str, Vec<u8>)>,
}

impl Overlay {
    fn remove(&mut self, cf: &'static str, key: Vec<u8>) {
        self.removed.insert((cf, key));
    }

    fn is_removed(&self, cf: &'static str, key: &[u8]) -> bool {
        !self.removed.is_empty() && self.removed.contains(&(cf, key.to_vec()))
    }

    fn live(&self, reader: &Reader, cf: &'static str, key: &[u8]) -> Result<bool, RegistryError> {
        Ok(!self.is_removed(cf, key) && reader.contains(cf, key)?)
    }

    /// Whether a row starting with `prefix` exists and is not pretend-removed.
    fn live_any(
        &self,
        reader: &Reader,
        cf: &'static str,
        prefix: &[u8],
    ) -> Result<bool, RegistryError> {
        if self.removed.is_empty() {
            return Ok(reader.any_with_prefix(cf, prefix)?);
        }
        const PAGE: usize = 64;
        let mut after: Option<Vec<u8>> = None;
        loop {
            let rows = reader.scan_prefix(cf, prefix, after.as_deref(), PAGE)?;
            for (suffix, _) in &rows {
                let mut key = prefix.to_vec();
                key.extend_from_slice(suffix);
                if !self.removed.contains(&(cf, key)) {
                    return Ok(true);
                }
            }
            if rows.len() < PAGE {
                return Ok(false);
            }
            after = rows.last().map(|(k, _)| k.clone());
        }
    }
}

/// Runs one collection over the whole store.
pub fn run(
    registry: &Registry,
    options: &GcOptions,
    stop: &StopFlag,
) -> Result<GcReport, MaintenanceError> {
    let now = registry.clock().now_ms();
    let cutoff = now.saturating_sub(options.grace_ms);
    let mut gc = Collector {
        registry,
        options,
        cutoff,
        stop,
        throttle: Throttle::new(options.ops_per_s),
        overlay: Overlay::default(),
        report: GcReport {
            dry_run: options.dry_run,
            started_at_ms: now,
            ..GcReport::default()
        },
    };
    if options.untagged_manifests {
        // Removing an index frees its children, removing a subject frees its referrers:
        // repeat until a pass removes nothing (bounded: each pass removes a whole level).
        for _ in 0..16 {
            if gc.untagged_manifests()? == 0 {
                break;
            }
        }
    }
    if options.unreferenced_links {
        gc.links()?;
    }
    gc.blobs()?;
    gc.manifest_bodies()?;
    gc.orphan_files()?;
    gc.report.finished_at_ms = registry.clock().now_ms();
    Ok(gc.report)
}

struct Collector<'a> {
    registry: &'a Registry,
    options: &'a GcOptions,
    cutoff: u64,
    stop: &'a StopFlag,
    throttle: Throttle,
    overlay: Overlay,
    report: GcReport,
}

/// Calls `visit` with every row of `cf` in pages, reading the live store (rows removed by
/// earlier visits are simply not seen again).
fn for_each_row(
    reader: &Reader,
    cf: &'static str,
    stop: &StopFlag,
    mut visit: impl FnMut(&[u8], &[u8]) -> Result<(), MaintenanceError>,
) -> Result<(), MaintenanceError> {
    const PAGE: usize = 512;
    let mut after: Option<Vec<u8>> = None;
    loop {
        check_stop(stop)?;
        let rows = reader.scan_prefix(cf, b"", after.as_deref(), PAGE)?;
        for (key, value) in &rows {
            visit(key, value)?;
        }
        if rows.len() < PAGE {
            return Ok(());
        }
        after = rows.last().map(|(k, _)| k.clone());
    }
}

/// `<repo> 0x00 <digest>` → (repo, digest); None for a key of another shape.
fn split_repo_digest(key: &[u8]) -> Option<(RepoName, Digest)> {
    let (repo, digest) = schema::split_once(key)?;
    let repo = RepoName::parse(std::str::from_utf8(repo).ok()?).ok()?;
    let digest = Digest::parse(std::str::from_utf8(digest).ok()?).ok()?;
    Some((repo, digest))
}

fn parse_digest_key(key: &[u8]) -> Option<Digest> {
    Digest::parse(std::str::from_utf8(key).ok()?).ok()
}

fn manifest_collectible(
    reader: &Reader,
    overlay: &Overlay,
    repo: &RepoName,
    digest: &Digest,
    cutoff: u64,
) -> Result<bool, RegistryError> {
    let key = schema::manifest_key(repo, digest);
    if overlay.is_removed(schema::CF_MANIFESTS, &key) {
        return Ok(false);
    }
    let Some(link) = reader.get_json::<ManifestLink>(schema::CF_MANIFESTS, &key)? else {
        return Ok(false);
    };
    if link.pushed_at_ms >= cutoff {
        return Ok(false);
    }
    let tagged = overlay.live_any(
        reader,
        schema::CF_TAG_TARGETS,
        &schema::tag_targets_prefix(repo, digest),
    )?;
    let has_parent = overlay.live_any(
        reader,
        schema::CF_MANIFEST_REFS,
        &schema::manifest_refs_prefix(digest, repo),
    )?;
    let subject_held = match &link.subject {
        Some(subject) => overlay.live(
            reader,
            schema::CF_MANIFESTS,
            &schema::manifest_key(repo, subject),
        )?,
        None => false,
    };
    Ok(!tagged && !has_parent && !subject_held)
}

fn link_collectible(
    reader: &Reader,
    overlay: &Overlay,
    repo: &RepoName,
    digest: &Digest,
    cutoff: u64,
) -> Result<bool, RegistryError> {
    let key = schema::repo_blob_key(repo, digest);
    if overlay.is_removed(schema::CF_REPO_BLOBS, &key) {
        return Ok(false);
    }
    let Some(link) = reader.get_json::<RepoBlobLink>(schema::CF_REPO_BLOBS, &key)? else {
        return Ok(false);
    };
    if link.linked_at_ms >= cutoff {
        return Ok(false);
    }
    let referenced = overlay.live_any(
        reader,
        schema::CF_MANIFEST_REFS,
        &schema::manifest_refs_prefix(digest, repo),
    )?;
    Ok(!referenced)
}

/// The blob's size if nothing references it and it is older than the grace period.
fn blob_collectible(
    reader: &Reader,
    overlay: &Overlay,
    digest: &Digest,
    cutoff: u64,
) -> Result<Option<u64>, RegistryError> {
    let key = digest.as_str().as_bytes();
    if overlay.is_removed(schema::CF_BLOBS, key) {
        return Ok(None);
    }
    let Some(record) = reader.get_json::<BlobRecord>(schema::CF_BLOBS, key)? else {
        return Ok(None);
    };
    if record.created_at_ms >= cutoff {
        return Ok(None);
    }
    let prefix = schema::digest_prefix(digest);
    if overlay.live_any(reader, schema::CF_BLOB_LINKS, &prefix)?
        || overlay.live_any(reader, schema::CF_MANIFEST_REFS, &prefix)?
    {
        return Ok(None);
    }
    Ok(Some(record.size))
}

impl Collector<'_> {
    fn reader(&self) -> &Reader {
        self.registry.meta()
    }

    /// Runs `job` in the metadata writer (paced by the throttle).
    fn job<R: Send + 'static>(
        &mut self,
        job: impl FnOnce(&mut crate::meta::WriteCtx<'_>) -> Result<R, RegistryError> + Send + 'static,
    ) -> Result<R, MaintenanceError> {
        check_stop(self.stop)?;
        self.throttle.take(1);
        Ok(self.registry.meta().write_blocking(job)?)
    }

    /// Phase 1. Returns how many manifests were (or would be) removed.
    fn untagged_manifests(&mut self) -> Result<u64, MaintenanceError> {
        let mut candidates = Vec::new();
        let (reader, overlay, cutoff) = (self.reader().clone(), &self.overlay, self.cutoff);
        for_each_row(&reader, schema::CF_MANIFESTS, self.stop, |key, _| {
            if let Some((repo, digest)) = split_repo_digest(key) {
                if manifest_collectible(&reader, overlay, &repo, &digest, cutoff)? {
                    candidates.push((repo, digest));
                }
            }
            Ok(())
        })?;
        let mut removed = 0;
        for (repo, digest) in candidates {
            let done = if self.options.dry_run {
                self.pretend_delete_manifest(&repo, &digest)?
            } else {
                self.job(move |ctx| -> Result<bool, RegistryError> {
                    if !manifest_collectible(ctx, &Overlay::default(), &repo, &digest, cutoff)? {
                        return Ok(false);
                    }
                    tracing::debug!(%repo, %digest, "gc: removing untagged manifest");
                    Ok(rows::delete_manifest(ctx, &repo, &digest)?.is_some())
                })?
            };
            if done {
                removed += 1;
            } else {
                self.report.kept_on_recheck += 1;
            }
        }
        self.report.manifests_deleted += removed;
        Ok(removed)
    }

    fn pretend_delete_manifest(
        &mut self,
        repo: &RepoName,
        digest: &Digest,
    ) -> Result<bool, MaintenanceError> {
        let reader = self.reader().clone();
        if !manifest_collectible(&reader, &self.overlay, repo, digest, self.cutoff)? {
            return Ok(false);
        }
        let key = schema::manifest_key(repo, digest);
        let Some(link) = reader.get_json::<ManifestLink>(schema::CF_MANIFESTS, &key)? else {
            return Ok(false);
        };
        let parsed = rows::parse_stored_manifest(&reader, digest, &link)?;
        for target in rows::manifest_targets(&parsed) {
            self.overlay.remove(
                schema::CF_MANIFEST_REFS,
                schema::manifest_ref_key(&target, repo, digest),
            );
        }
        self.overlay.remove(schema::CF_MANIFESTS, key);
        self.overlay.remove(
            schema::CF_MANIFEST_HOLDERS,
            schema::digest_repo_key(digest, repo),
        );
        Ok(true)
    }

    /// Phase 2.
    fn links(&mut self) -> Result<(), MaintenanceError> {
        let mut candidates = Vec::new();
        let (reader, overlay, cutoff) = (self.reader().clone(), &self.overlay, self.cutoff);
        for_each_row(&reader, schema::CF_REPO_BLOBS, self.stop, |key, _| {
            if let Some((repo, digest)) = split_repo_digest(key) {
                if link_collectible(&reader, overlay, &repo, &digest, cutoff)? {
                    candidates.push((repo, digest));
                }
            }
            Ok(())
        })?;
        for (repo, digest) in candidates {
            let done = if self.options.dry_run {
                self.overlay
                    .remove(schema::CF_REPO_BLOBS, schema::repo_blob_key(&repo, &digest));
                self.overlay.remove(
                    schema::CF_BLOB_LINKS,
                    schema::digest_repo_key(&digest, &repo),
                );
                true
            } else {
                self.job(move |ctx| -> Result<bool, RegistryError> {
                    if !link_collectible(ctx, &Overlay::default(), &repo, &digest, cutoff)? {
                        return Ok(false);
                    }
                    rows::delete_blob_link(ctx, &repo, &digest);
                    Ok(true)
                })?
            };
            if done {
                self.report.links_removed += 1;
            } else {
                self.report.kept_on_recheck += 1;
            }
        }
        Ok(())
    }

    /// Phase 3: blob rows first (J1), files after (J2).
    fn blobs(&mut self) -> Result<(), MaintenanceError> {
        let mut candidates = Vec::new();
        let (reader, overlay, cutoff) = (self.reader().clone(), &self.overlay, self.cutoff);
        for_each_row(&reader, schema::CF_BLOBS, self.stop, |key, _| {
            if let Some(digest) = parse_digest_key(key) {
                if blob_collectible(&reader, overlay, &digest, cutoff)?.is_some() {
                    candidates.push(digest);
                }
            }
            Ok(())
        })?;
        for digest in candidates {
            if self.options.dry_run {
                if let Some(size) = blob_collectible(&reader, &self.overlay, &digest, cutoff)? {
                    self.overlay
                        .remove(schema::CF_BLOBS, digest.as_str().as_bytes().to_vec());
                    self.report.blobs_deleted += 1;
                    self.report.blob_bytes_reclaimed += size;
                }
                continue;
            }
            let job_digest = digest.clone();
            let removed = self.job(move |ctx| -> Result<Option<u64>, RegistryError> {
                let size = blob_collectible(ctx, &Overlay::default(), &job_digest, cutoff)?;
                if size.is_some() {
                    ctx.delete(schema::CF_BLOBS, job_digest.as_str().as_bytes());
                }
                Ok(size)
            })?;
            match removed {
                Some(size) => {
                    self.remove_file_if_unrecorded(&digest)?;
                    tracing::debug!(%digest, size, "gc: removed blob");
                    self.report.blobs_deleted += 1;
                    self.report.blob_bytes_reclaimed += size;
                }
                None => self.report.kept_on_recheck += 1,
            }
        }
        Ok(())
    }

    /// Unlinks blob `digest`'s file inside a writer job that finds no blob row: a push links
    /// its file and writes the row in one job, so it either sees no file (and links again) or
    /// has written the row (and the file stays).
    fn remove_file_if_unrecorded(&mut self, digest: &Digest) -> Result<bool, MaintenanceError> {
        let store = self.registry.blob_store().clone();
        let digest = digest.clone();
        self.job(move |ctx| -> Result<bool, RegistryError> {
            if ctx.contains(schema::CF_BLOBS, digest.as_str().as_bytes())? {
                return Ok(false);
            }
            Ok(store.remove_blob_file_blocking(&digest)?)
        })
    }

    /// Phase 4.
    fn manifest_bodies(&mut self) -> Result<(), MaintenanceError> {
        let mut candidates = Vec::new();
        let (reader, overlay) = (self.reader().clone(), &self.overlay);
        for_each_row(&reader, schema::CF_MANIFEST_BYTES, self.stop, |key, _| {
            if let Some(digest) = parse_digest_key(key) {
                let held = overlay.live_any(
                    &reader,
                    schema::CF_MANIFEST_HOLDERS,
                    &schema::digest_prefix(&digest),
                )?;
                if !held {
                    candidates.push(digest);
                }
            }
            Ok(())
        })?;
        for digest in candidates {
            let done = self.options.dry_run
                || self.job(move |ctx| -> Result<bool, RegistryError> {
                    if ctx.any_with_prefix(
                        schema::CF_MANIFEST_HOLDERS,
                        &schema::digest_prefix(&digest),
                    )? {
                        return Ok(false);
                    }
                    ctx.delete(schema::CF_MANIFEST_BYTES, digest.as_str().as_bytes());
                    Ok(true)
                })?;
            if done {
                self.report.manifest_bodies_deleted += 1;
            } else {
                self.report.kept_on_recheck += 1;
            }
        }
        Ok(())
    }

    /// Phase 5: files under `blobs/` that no row names (left by a crash between a push's link
    /// and its metadata write, or between phase 3's two jobs).
    fn orphan_files(&mut self) -> Result<(), MaintenanceError> {
        let store = self.registry.blob_store().clone();
        let files = store
            .blob_files()
            .map_err(|e| super::io_error(store.blobs_dir(), e))?;
        for file in files {
            check_stop(self.stop)?;
            let Some(digest) = file.digest else {
                continue;
            };
            if file.changed_at_ms >= self.cutoff {
                continue;
            }
            let key = digest.as_str().as_bytes();
            if self.overlay.is_removed(schema::CF_BLOBS, key) {
                continue; // counted in phase 3
            }
            if self.reader().contains(schema::CF_BLOBS, key)? {
                continue;
            }
            let removed = self.options.dry_run || self.remove_file_if_unrecorded(&digest)?;
            if removed {
                tracing::debug!(%digest, "gc: removed orphan blob file");
                self.report.orphan_files_removed += 1;
                self.report.orphan_bytes_reclaimed += file.size;
            }
        }
        Ok(())
    }
}
