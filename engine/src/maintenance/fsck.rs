//! `berth fsck`: checks the metadata against itself and against the blob store, and repairs
//! what needs no guessing.
//!
//! ```text
//!  1. reverse indexes   recomputed from the rows they mirror; drift is reported (repair
//!                       rebuilds them: they are derived data)
//!  2. blob files        every blob row's file: present, right size, and (parallel, throttled)
//!                       hashing to its digest; files no row names; stray files
//!  3. rows              links to missing blobs, manifests with missing/corrupt bodies,
//!                       manifests whose blobs or children are missing, dangling tags and
//!                       referrers, repositories without their record
//!  4. uploads           sessions whose data file is gone; data files no session owns
//!  5. trigger outbox    waiting records no outbox row names, rows naming finished records,
//!                       the outbox length counter (engine/src/triggers/check.rs)
//! ```
//!
//! Findings are errors (the store breaks a promise: a row names something missing or wrong)
//! or garbage (leftovers the durability contract allows after a crash, which garbage
//! collection would reclaim: an orphan blob file, an upload file with no session).
//!
//! `repair` (offline only) removes garbage, and moves rows that point at something missing or
//! corrupt into the `quarantine` family (with the reason) before deleting them; a corrupt blob
//! file is moved to `<data_dir>/quarantine/`. It never invents data: a manifest whose blob is
//! gone is reported, not rewritten. Online (the daemon's scheduled scrub) it only reports, reads
//! the rows from one snapshot, re-checks any problem with a file against the live store (GC may
//! have removed it since), and leaves files younger than the grace period alone.

use std::collections::{BTreeSet, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use super::{check_stop, each, io_error, MaintenanceError, StopFlag, Throttle};
use crate::meta::schema::{
    self, BlobRecord, ManifestLink, QuarantineRecord, RepoBlobLink, UploadRecord,
};
use crate::meta::{decode_json, WriteCtx};
use crate::oci::{parse_manifest, Digest, DigestHasher, RepoName, Tag};
use crate::registry::{rows, Registry, RegistryError};
use crate::triggers::check::{self, OutboxProblem};
use crate::triggers::event_id;
use crate::upload::UploadId;

#[derive(Debug, Clone)]
pub struct FsckOptions {
    /// Fix what needs no guessing. Refused online.
    pub repair: bool,
    /// Hash every blob file (the expensive part).
    pub verify_digests: bool,
    /// Threads hashing blob files.
    pub threads: usize,
    /// Blob bytes read per second, over all threads; 0 is unlimited.
    pub read_bytes_per_s: u64,
    /// Running inside the daemon while it serves.
    pub online: bool,
    /// Online: files changed more recently than this are not called orphans.
    pub grace_ms: u64,
}

impl Default for FsckOptions {
    fn default() -> Self {
        Self {
            repair: false,
            verify_digests: true,
            threads: 2,
            read_bytes_per_s: 0,
            online: false,
            grace_ms: 3_600_000,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Garbage,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable, upper-case code, e.g. `BLOB_DIGEST_MISMATCH`.
    pub code: String,
    pub severity: Severity,
    /// What it is about: a digest, `repo@digest`, `repo:tag`, a path.
    pub subject: String,
    pub detail: String,
    /// What repair did, if anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repaired: Option<String>,
}

/// Findings kept in a report; more are counted, not listed.
const FINDINGS_LISTED_MAX: usize = 10_000;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FsckReport {
    pub online: bool,
    pub repair: bool,
    pub started_at_ms: u64,
    pub finished_at_ms: u64,
    pub blobs_checked: u64,
    pub blob_bytes_verified: u64,
    pub manifests_checked: u64,
    pub tags_checked: u64,
    pub errors: u64,
    pub garbage: u64,
    pub repaired: u64,
    /// Errors that repair did not (or could not) fix.
    pub errors_left: u64,
    pub findings: Vec<Finding>,
    pub findings_not_listed: u64,
}

impl FsckReport {
    /// Nothing breaks the durability contract (garbage may remain).
    pub fn is_clean(&self) -> bool {
        self.errors == 0
    }

    fn add(&mut self, finding: Finding) {
        match finding.severity {
            Severity::Error => {
                self.errors += 1;
                if finding.repaired.is_none() {
                    self.errors_left += 1;
                }
            }
            Severity::Garbage => self.garbage += 1,
        }
        if finding.repaired.is_some() {
            self.repaired += 1;
        }
        if self.findings.len() < FINDINGS_LISTED_MAX {
            self.findings.push(finding);
        } else {
            self.findings_not_listed += 1;
        }
    }
}

pub fn run(
    registry: &Registry,
    options: &FsckOptions,
    stop: &StopFlag,
) -> Result<FsckReport, MaintenanceError> {
    if options.repair && options.online {
        return Err(MaintenanceError::RepairOnline);
    }
    let now = registry.clock().now_ms();
    let mut checker = Checker {
        registry,
        options,
        stop,
        cutoff: now.saturating_sub(options.grace_ms),
        seq: Arc::new(AtomicU64::new(0)),
        report: FsckReport {
            online: options.online,
            repair: options.repair,
            started_at_ms: now,
            ..FsckReport::default()
        },
    };
    checker.indexes()?;
    // Blob files before rows: repairing a corrupt blob removes its links, and the manifests
    // that referenced it must then be reported in this run, as errors repair cannot fix.
    checker.blobs()?;
    checker.rows()?;
    checker.uploads()?;
    checker.trigger_outbox()?;
    checker.report.finished_at_ms = registry.clock().now_ms();
    Ok(checker.report)
}

struct Checker<'a> {
    registry: &'a Registry,
    options: &'a FsckOptions,
    stop: &'a StopFlag,
    cutoff: u64,
    /// Quarantine record sequence within this run; shared with the writer jobs.
    seq: Arc<AtomicU64>,
    report: FsckReport,
}

fn finding(code: &str, severity: Severity, subject: String, detail: String) -> Finding {
    Finding {
        code: code.to_owned(),
        severity,
        subject,
        detail,
        repaired: None,
    }
}

fn utf8(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).replace('\0', "/")
}

fn parse_repo(bytes: &[u8]) -> Option<RepoName> {
    RepoName::parse(std::str::from_utf8(bytes).ok()?).ok()
}

fn parse_digest(bytes: &[u8]) -> Option<Digest> {
    Digest::parse(std::str::from_utf8(bytes).ok()?).ok()
}

/// Copies row `cf`/`key` into the quarantine family (if it still exists). Returns whether it
/// existed. Runs inside a writer job.
fn quarantine_row(
    ctx: &mut WriteCtx<'_>,
    cf: &'static str,
    key: &[u8],
    reason: &str,
    at_ms: u64,
    seq: u64,
) -> Result<bool, RegistryError> {
    let Some(value) = ctx.get_raw(cf, key)? else {
        return Ok(false);
    };
    ctx.put_json(
        schema::CF_QUARANTINE,
        &schema::quarantine_key(at_ms, seq),
        &QuarantineRecord {
            at_ms,
            column_family: cf.to_owned(),
            key: key.to_vec(),
            value,
            reason: reason.to_owned(),
        },
    );
    Ok(true)
}

impl Checker<'_> {
    fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed)
    }

    fn write<R: Send + 'static>(
        &self,
        job: impl FnOnce(&mut WriteCtx<'_>) -> Result<R, RegistryError> + Send + 'static,
    ) -> Result<R, MaintenanceError> {
        Ok(self.registry.meta().write_blocking(job)?)
    }

    // ----- 1. reverse indexes ------------------------------------------------------------

    fn indexes(&mut self) -> Result<(), MaintenanceError> {
        let reader = self.registry.meta().clone();
        let snapshot = reader.snapshot();
        let mut expected: [(&'static str, HashSet<Vec<u8>>); 4] = [
            (schema::CF_BLOB_LINKS, HashSet::new()),
            (schema::CF_MANIFEST_HOLDERS, HashSet::new()),
            (schema::CF_MANIFEST_REFS, HashSet::new()),
            (schema::CF_TAG_TARGETS, HashSet::new()),
        ];
        each(&snapshot, schema::CF_REPO_BLOBS, |key, _| {
            if let Some((repo, digest)) = schema::split_once(key) {
                expected[0].1.insert([digest, b"\0", repo].concat());
            }
            Ok(())
        })?;
        each(&snapshot, schema::CF_MANIFESTS, |key, value| {
            let Some((repo, digest)) = schema::split_once(key) else {
                return Ok(());
            };
            expected[1].1.insert([digest, b"\0", repo].concat());
            let link: Option<ManifestLink> = decode_json(key, value).ok();
            let body = snapshot.get_raw(schema::CF_MANIFEST_BYTES, digest)?;
            if let (Some(link), Some(body)) = (link, body) {
                if let Ok(parsed) = parse_manifest(Some(&link.media_type), &body) {
                    for target in rows::manifest_targets(&parsed) {
                        expected[2].1.insert(
                            [target.as_str().as_bytes(), b"\0", repo, b"\0", digest].concat(),
                        );
                    }
                }
            }
            Ok(())
        })?;
        each(&snapshot, schema::CF_TAGS, |key, value| {
            let repo_and_tag = schema::split_once(key)
                .and_then(|(repo, suffix)| Some((repo, schema::tag_from_suffix(suffix)?)));
            if let Some((repo, tag)) = repo_and_tag {
                expected[3]
                    .1
                    .insert([repo, b"\0", value, b"\0", tag].concat());
            }
            Ok(())
        })?;
        for (cf, mut want) in expected {
            let mut stale = Vec::new();
            each(&snapshot, cf, |key, _| {
                if !want.remove(key) {
                    stale.push(key.to_vec());
                }
                Ok(())
            })?;
            let missing: BTreeSet<Vec<u8>> = want.into_iter().collect();
            for (keys, code, detail) in [
                (
                    missing.into_iter().collect::<Vec<_>>(),
                    "INDEX_ROW_MISSING",
                    "a row has no reverse-index entry",
                ),
                (
                    stale,
                    "INDEX_ROW_STALE",
                    "a reverse-index entry mirrors no row",
                ),
            ] {
                for key in keys {
                    let mut f = finding(
                        code,
                        Severity::Error,
                        format!("{cf}/{}", utf8(&key)),
                        detail.to_owned(),
                    );
                    if self.options.repair {
                        let add = code == "INDEX_ROW_MISSING";
                        self.write(move |ctx| -> Result<(), RegistryError> {
                            if add {
                                ctx.put_raw(cf, &key, b"");
                            } else {
                                ctx.delete(cf, &key);
                            }
                            Ok(())
                        })?;
                        f.repaired = Some(if add { "added" } else { "removed" }.into());
                    }
                    self.report.add(f);
                }
            }
        }
        Ok(())
    }

    // ----- 2. rows -----------------------------------------------------------------------

    fn rows(&mut self) -> Result<(), MaintenanceError> {
        let reader = self.registry.meta().clone();
        let snapshot = reader.snapshot();
        let mut repos_seen: BTreeSet<Vec<u8>> = BTreeSet::new();
        let mut found: Vec<(Finding, Option<Repair>)> = Vec::new();

        each(&snapshot, schema::CF_REPO_BLOBS, |key, value| {
            check_stop(self.stop)?;
            let Some((repo, digest)) = schema::split_once(key) else {
                return Ok(());
            };
            repos_seen.insert(repo.to_vec());
            let (Some(repo), Some(digest)) = (parse_repo(repo), parse_digest(digest)) else {
                return Ok(());
            };
            let link: RepoBlobLink = match decode_json(key, value) {
                Ok(link) => link,
                Err(e) => {
                    found.push((
                        finding(
                            "LINK_CORRUPT",
                            Severity::Error,
                            format!("{repo}@{digest}"),
                            e.to_string(),
                        ),
                        Some(Repair::Link(repo, digest)),
                    ));
                    return Ok(());
                }
            };
            let blob: Option<BlobRecord> =
                snapshot.get_json(schema::CF_BLOBS, digest.as_str().as_bytes())?;
            match blob {
                None => found.push((
                    finding(
                        "LINK_DANGLING",
                        Severity::Error,
                        format!("{repo}@{digest}"),
                        "the repository links a blob the store does not hold".into(),
                    ),
                    Some(Repair::Link(repo, digest)),
                )),
                Some(blob) if blob.size != link.size => found.push((
                    finding(
                        "LINK_SIZE_MISMATCH",
                        Severity::Error,
                        format!("{repo}@{digest}"),
                        format!("link says {} bytes, blob {}", link.size, blob.size),
                    ),
                    Some(Repair::Link(repo, digest)),
                )),
                Some(_) => {}
            }
            Ok(())
        })?;

        each(&snapshot, schema::CF_MANIFESTS, |key, value| {
            check_stop(self.stop)?;
            let Some((repo_bytes, digest_bytes)) = schema::split_once(key) else {
                return Ok(());
            };
            repos_seen.insert(repo_bytes.to_vec());
            let (Some(repo), Some(digest)) = (parse_repo(repo_bytes), parse_digest(digest_bytes))
            else {
                return Ok(());
            };
            self.report.manifests_checked += 1;
            let subject = format!("{repo}@{digest}");
            let broken = |code: &str, detail: String| {
                (
                    finding(code, Severity::Error, subject.clone(), detail),
                    Some(Repair::Manifest(repo.clone(), digest.clone())),
                )
            };
            let link: ManifestLink = match decode_json(key, value) {
                Ok(link) => link,
                Err(e) => {
                    found.push(broken("MANIFEST_CORRUPT", e.to_string()));
                    return Ok(());
                }
            };
            let Some(body) = snapshot.get_raw(schema::CF_MANIFEST_BYTES, digest_bytes)? else {
                found.push(broken(
                    "MANIFEST_BODY_MISSING",
                    "the repository holds a manifest whose bytes are gone".into(),
                ));
                return Ok(());
            };
            let actual = Digest::of(digest.algorithm(), &body);
            if actual != digest {
                found.push(broken(
                    "MANIFEST_DIGEST_MISMATCH",
                    format!("stored bytes hash to {actual}"),
                ));
                return Ok(());
            }
            let parsed = match parse_manifest(Some(&link.media_type), &body) {
                Ok(parsed) => parsed,
                Err(e) => {
                    found.push(broken("MANIFEST_UNPARSEABLE", e.to_string()));
                    return Ok(());
                }
            };
            for blob in parsed.blob_references() {
                if !snapshot.contains(
                    schema::CF_REPO_BLOBS,
                    &schema::repo_blob_key(&repo, &blob.digest),
                )? {
                    found.push((
                        finding(
                            "MANIFEST_BLOB_MISSING",
                            Severity::Error,
                            subject.clone(),
                            format!(
                                "references blob {} the repository does not link",
                                blob.digest
                            ),
                        ),
                        None,
                    ));
                }
            }
            for child in parsed.child_manifests() {
                if !snapshot.contains(
                    schema::CF_MANIFESTS,
                    &schema::manifest_key(&repo, &child.digest),
                )? {
                    found.push((
                        finding(
                            "MANIFEST_CHILD_MISSING",
                            Severity::Error,
                            subject.clone(),
                            format!(
                                "index references manifest {} the repository lacks",
                                child.digest
                            ),
                        ),
                        None,
                    ));
                }
            }
            Ok(())
        })?;

        each(&snapshot, schema::CF_TAGS, |key, value| {
            check_stop(self.stop)?;
            let Some((repo_bytes, suffix)) = schema::split_once(key) else {
                return Ok(());
            };
            repos_seen.insert(repo_bytes.to_vec());
            self.report.tags_checked += 1;
            let tag = schema::tag_from_suffix(suffix)
                .and_then(|t| std::str::from_utf8(t).ok())
                .and_then(|t| Tag::parse(t).ok());
            let (Some(repo), Some(tag)) = (parse_repo(repo_bytes), tag) else {
                return Ok(());
            };
            let subject = format!("{repo}:{tag}");
            match parse_digest(value) {
                None => found.push((
                    finding(
                        "TAG_CORRUPT",
                        Severity::Error,
                        subject,
                        format!("value {:?} is not a digest", utf8(value)),
                    ),
                    Some(Repair::Tag(repo, tag)),
                )),
                Some(target) => {
                    if !snapshot
                        .contains(schema::CF_MANIFESTS, &schema::manifest_key(&repo, &target))?
                    {
                        found.push((
                            finding(
                                "TAG_DANGLING",
                                Severity::Error,
                                subject,
                                format!("points at {target}, which the repository lacks"),
                            ),
                            Some(Repair::Tag(repo, tag)),
                        ));
                    }
                }
            }
            Ok(())
        })?;

        each(&snapshot, schema::CF_REFERRERS, |key, _| {
            let Some((repo_bytes, rest)) = schema::split_once(key) else {
                return Ok(());
            };
            let Some((_subject, referrer)) = schema::split_once(rest) else {
                return Ok(());
            };
            let (Some(repo), Some(referrer)) = (parse_repo(repo_bytes), parse_digest(referrer))
            else {
                return Ok(());
            };
            if !snapshot.contains(
                schema::CF_MANIFESTS,
                &schema::manifest_key(&repo, &referrer),
            )? {
                found.push((
                    finding(
                        "REFERRER_DANGLING",
                        Severity::Error,
                        format!("{repo}@{referrer}"),
                        "listed as a referrer but the repository lacks it".into(),
                    ),
                    Some(Repair::Row(schema::CF_REFERRERS, key.to_vec())),
                ));
            }
            Ok(())
        })?;

        for repo in repos_seen {
            if !snapshot.contains(schema::CF_REPOS, &repo)? {
                if let Some(name) = parse_repo(&repo) {
                    found.push((
                        finding(
                            "REPOSITORY_RECORD_MISSING",
                            Severity::Error,
                            name.to_string(),
                            "the repository has rows but no record (absent from the catalog)"
                                .into(),
                        ),
                        Some(Repair::RepoRecord(name)),
                    ));
                }
            }
        }
        drop(snapshot);
        for (f, repair) in found {
            self.apply(f, repair)?;
        }
        Ok(())
    }

    fn apply(&mut self, mut f: Finding, repair: Option<Repair>) -> Result<(), MaintenanceError> {
        if let (true, Some(repair)) = (self.options.repair, repair) {
            let (at, seq, reason) = (
                self.report.started_at_ms,
                self.next_seq(),
                format!("{}: {}", f.code, f.detail),
            );
            let done = match repair {
                Repair::Link(repo, digest) => self.write(move |ctx| {
                    let key = schema::repo_blob_key(&repo, &digest);
                    quarantine_row(ctx, schema::CF_REPO_BLOBS, &key, &reason, at, seq)?;
                    rows::delete_blob_link(ctx, &repo, &digest);
                    Ok("link moved to quarantine".to_owned())
                })?,
                Repair::Manifest(repo, digest) => {
                    let seqs = self.seq.clone();
                    self.write(move |ctx| {
                        let key = schema::manifest_key(&repo, &digest);
                        quarantine_row(ctx, schema::CF_MANIFESTS, &key, &reason, at, seq)?;
                        // Every tag deleting the manifest removes is kept in quarantine too.
                        let tags = ctx.scan_prefix(
                            schema::CF_TAG_TARGETS,
                            &schema::tag_targets_prefix(&repo, &digest),
                            None,
                            usize::MAX,
                        )?;
                        for (tag, _) in &tags {
                            if let Some(tag) = std::str::from_utf8(tag)
                                .ok()
                                .and_then(|t| Tag::parse(t).ok())
                            {
                                let tag_key = schema::tag_key(&repo, &tag);
                                let seq = seqs.fetch_add(1, Ordering::Relaxed);
                                quarantine_row(ctx, schema::CF_TAGS, &tag_key, &reason, at, seq)?;
                            }
                        }
                        rows::delete_manifest_with(
                            ctx,
                            &repo,
                            &digest,
                            rows::CorruptRefs::ScanOffline,
                        )?;
                        Ok(format!(
                            "manifest and {} tag(s) moved to quarantine",
                            tags.len()
                        ))
                    })?
                }
                Repair::Tag(repo, tag) => self.write(move |ctx| {
                    let key = schema::tag_key(&repo, &tag);
                    quarantine_row(ctx, schema::CF_TAGS, &key, &reason, at, seq)?;
                    if rows::delete_tag(ctx, &repo, &tag).ok().flatten().is_none() {
                        // The value did not parse: remove the row itself.
                        ctx.delete(schema::CF_TAGS, &key);
                    }
                    Ok("tag moved to quarantine".to_owned())
                })?,
                Repair::Row(cf, key) => self.write(move |ctx| {
                    quarantine_row(ctx, cf, &key, &reason, at, seq)?;
                    ctx.delete(cf, &key);
                    Ok("row moved to quarantine".to_owned())
                })?,
                Repair::RepoRecord(repo) => self.write(move |ctx| {
                    crate::registry::ensure_repo(ctx, &repo, at, crate::registry::Admission::Open)?;
                    Ok("repository record created".to_owned())
                })?,
                Repair::Requeue(repo, trigger, seq) => self.write(move |ctx| {
                    Ok(if check::requeue(ctx, &repo, &trigger, seq, at)? {
                        "queued for delivery again".to_owned()
                    } else {
                        "no longer waiting: left alone".to_owned()
                    })
                })?,
                Repair::Unqueue(key, seqs) => self.write(move |ctx| {
                    let removed = check::unqueue_dangling(ctx, &key, &seqs)?;
                    Ok(format!("{removed} delivery(ies) taken off the row"))
                })?,
                Repair::OutboxRow(key) => self.write(move |ctx| {
                    quarantine_row(ctx, schema::CF_TRIGGER_OUTBOX, &key, &reason, at, seq)?;
                    check::remove_unreadable(ctx, &key)?;
                    Ok("row moved to quarantine".to_owned())
                })?,
                Repair::OutboxCount => self.write(move |ctx| {
                    let (before, after) = check::recount(ctx)?;
                    Ok(format!("counter set from {before} to {after}"))
                })?,
            };
            f.repaired = Some(done);
        }
        self.report.add(f);
        Ok(())
    }

    // ----- 3. blob files -----------------------------------------------------------------

    fn blobs(&mut self) -> Result<(), MaintenanceError> {
        let store = self.registry.blob_store().clone();
        let reader = self.registry.meta().clone();
        let mut to_verify: Vec<(Digest, u64, PathBuf)> = Vec::new();
        let mut problems: Vec<(Digest, &'static str, String)> = Vec::new();
        let mut recorded: HashSet<String> = HashSet::new();
        {
            let snapshot = reader.snapshot();
            each(&snapshot, schema::CF_BLOBS, |key, value| {
                check_stop(self.stop)?;
                let Some(digest) = parse_digest(key) else {
                    return Ok(());
                };
                recorded.insert(digest.as_str().to_owned());
                self.report.blobs_checked += 1;
                let record: BlobRecord = decode_json(key, value)?;
                let path = store.blob_path(&digest);
                match std::fs::metadata(&path) {
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => problems.push((
                        digest,
                        "BLOB_FILE_MISSING",
                        "the blob row names no file".into(),
                    )),
                    Err(e) => return Err(io_error(&path, e)),
                    Ok(meta) if meta.len() != record.size => problems.push((
                        digest,
                        "BLOB_SIZE_MISMATCH",
                        format!("file holds {} bytes, row says {}", meta.len(), record.size),
                    )),
                    Ok(_) => to_verify.push((digest, record.size, path)),
                }
                Ok(())
            })?;
        }
        if self.options.verify_digests {
            for (digest, actual) in self.verify(&to_verify)? {
                problems.push((
                    digest,
                    "BLOB_DIGEST_MISMATCH",
                    format!("file bytes hash to {actual}"),
                ));
            }
        }
        for (digest, code, detail) in problems {
            // Online, GC may have removed the row (and then the file) since the snapshot.
            if self.options.online
                && !reader.contains(schema::CF_BLOBS, digest.as_str().as_bytes())?
            {
                continue;
            }
            let mut f = finding(code, Severity::Error, digest.to_string(), detail);
            if self.options.repair {
                f.repaired = Some(self.quarantine_blob(&digest, &f.code, &f.detail)?);
            }
            self.report.add(f);
        }

        let files = store
            .blob_files()
            .map_err(|e| io_error(store.blobs_dir(), e))?;
        for file in files {
            check_stop(self.stop)?;
            if self.options.online && file.changed_at_ms >= self.cutoff {
                continue;
            }
            let (code, subject) = match &file.digest {
                None => ("STRAY_FILE", file.path.display().to_string()),
                Some(digest) if !recorded.contains(digest.as_str()) => {
                    if self.options.online
                        && reader.contains(schema::CF_BLOBS, digest.as_str().as_bytes())?
                    {
                        continue;
                    }
                    ("ORPHAN_FILE", digest.to_string())
                }
                Some(_) => continue,
            };
            let mut f = finding(
                code,
                Severity::Garbage,
                subject,
                format!("{} bytes no row names", file.size),
            );
            if self.options.repair {
                std::fs::remove_file(&file.path).map_err(|e| io_error(&file.path, e))?;
                f.repaired = Some("removed".into());
            }
            self.report.add(f);
        }
        Ok(())
    }

    /// Hashes the files on `threads` threads, paced by the read throttle. Returns the ones
    /// whose bytes do not hash to their digest, with what they hash to.
    fn verify(
        &mut self,
        files: &[(Digest, u64, PathBuf)],
    ) -> Result<Vec<(Digest, Digest)>, MaintenanceError> {
        let next = AtomicUsize::new(0);
        let throttle = Mutex::new(Throttle::new(self.options.read_bytes_per_s));
        let bad = Mutex::new(Vec::new());
        let failure: Mutex<Option<MaintenanceError>> = Mutex::new(None);
        let verified = AtomicU64::new(0);
        let stop = self.stop;
        std::thread::scope(|scope| {
            for _ in 0..self.options.threads.max(1) {
                scope.spawn(|| loop {
                    let at = next.fetch_add(1, Ordering::Relaxed);
                    let Some((digest, _, path)) = files.get(at) else {
                        return;
                    };
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    match hash_file(path, digest, &throttle) {
                        Ok((actual, bytes)) => {
                            verified.fetch_add(bytes, Ordering::Relaxed);
                            if &actual != digest {
                                lock(&bad).push((digest.clone(), actual));
                            }
                        }
                        // Removed since it was listed (online GC): not a finding.
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => {
                            lock(&failure).get_or_insert(io_error(path, e));
                            return;
                        }
                    }
                });
            }
        });
        check_stop(self.stop)?;
        if let Some(e) = failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
            return Err(e);
        }
        self.report.blob_bytes_verified += verified.into_inner();
        Ok(bad.into_inner().unwrap_or_else(|p| p.into_inner()))
    }

    /// Moves a missing or corrupt blob out of the way: its row and every repository link to it
    /// into quarantine records, then — metadata before deletion, so no crash leaves a row
    /// naming a file that is gone — its file to `quarantine/`, durably.
    fn quarantine_blob(
        &mut self,
        digest: &Digest,
        code: &str,
        detail: &str,
    ) -> Result<String, MaintenanceError> {
        let store = self.registry.blob_store().clone();
        let path = store.blob_path(digest);
        let target = quarantine_dir(store.blobs_dir()).join(format!(
            "{}-{}-{}",
            digest.algorithm().as_str(),
            digest.encoded(),
            self.report.started_at_ms
        ));
        let (at, reason, digest) = (
            self.report.started_at_ms,
            format!("{code}: {detail}"),
            digest.clone(),
        );
        let seqs = self.seq.clone();
        let links = self.write(move |ctx| -> Result<usize, RegistryError> {
            let next = || seqs.fetch_add(1, Ordering::Relaxed);
            quarantine_row(
                ctx,
                schema::CF_BLOBS,
                digest.as_str().as_bytes(),
                &reason,
                at,
                next(),
            )?;
            ctx.delete(schema::CF_BLOBS, digest.as_str().as_bytes());
            // Every link, however many: a link left behind would name a blob with no row.
            let repos = ctx.scan_prefix(
                schema::CF_BLOB_LINKS,
                &schema::digest_prefix(&digest),
                None,
                usize::MAX,
            )?;
            for (repo, _) in &repos {
                if let Some(repo) = parse_repo(repo) {
                    let key = schema::repo_blob_key(&repo, &digest);
                    quarantine_row(ctx, schema::CF_REPO_BLOBS, &key, &reason, at, next())?;
                    rows::delete_blob_link(ctx, &repo, &digest);
                }
            }
            Ok(repos.len())
        })?;
        let mut moved = false;
        if path.exists() {
            crate::blob::rename_durably(&path, &target).map_err(|e| io_error(&path, e))?;
            moved = true;
        }
        Ok(format!(
            "{}row and {links} link(s) moved to quarantine",
            if moved {
                "file moved to quarantine/, "
            } else {
                ""
            }
        ))
    }

    // ----- 4. uploads --------------------------------------------------------------------

    fn uploads(&mut self) -> Result<(), MaintenanceError> {
        let store = self.registry.blob_store().clone();
        let reader = self.registry.meta().clone();
        let mut sessions: HashSet<String> = HashSet::new();
        let mut dead: Vec<(String, Vec<u8>)> = Vec::new();
        each(&reader.snapshot(), schema::CF_UPLOADS, |key, value| {
            let name = String::from_utf8_lossy(key).into_owned();
            let _record: Option<UploadRecord> = decode_json(key, value).ok();
            if !store.upload_path(&name).exists() {
                dead.push((name.clone(), key.to_vec()));
            }
            sessions.insert(name);
            Ok(())
        })?;
        for (name, key) in dead {
            // Online, the session may have finished (record removed, file removed) meanwhile.
            if self.options.online && !reader.contains(schema::CF_UPLOADS, &key)? {
                continue;
            }
            let f = finding(
                "UPLOAD_FILE_MISSING",
                Severity::Garbage,
                name,
                "upload session whose data file is gone (the client must start over)".into(),
            );
            self.apply(f, Some(Repair::Row(schema::CF_UPLOADS, key)))?;
        }
        if self.options.online {
            // Running requests own files that have no record yet (monolithic pushes).
            return Ok(());
        }
        let names = store
            .list_upload_files()
            .map_err(|e| io_error(store.uploads_dir(), e))?;
        for name in names {
            let owned = UploadId::parse(&name).is_some() && sessions.contains(&name);
            if owned {
                continue;
            }
            let path = store.upload_path(&name);
            let mut f = finding(
                "ORPHAN_UPLOAD_FILE",
                Severity::Garbage,
                name,
                "upload data file no session owns".into(),
            );
            if self.options.repair {
                std::fs::remove_file(&path).map_err(|e| io_error(&path, e))?;
                f.repaired = Some("removed".into());
            }
            self.report.add(f);
        }
        Ok(())
    }
}

impl Checker<'_> {
    // ----- 5. trigger outbox --------------------------------------------------------------

    fn trigger_outbox(&mut self) -> Result<(), MaintenanceError> {
        check_stop(self.stop)?;
        let reader = self.registry.meta().clone();
        let problems = check::check_outbox(&reader.snapshot())?;
        // The counter's repair recounts after the others, which adjust it as they go.
        for problem in problems {
            let (f, repair) = match problem {
                OutboxProblem::Unqueued {
                    repo,
                    trigger,
                    seq,
                    status,
                } => (
                    finding(
                        "TRIGGER_RECORD_UNQUEUED",
                        Severity::Error,
                        format!("{repo} trigger {trigger} {}", event_id(seq)),
                        format!(
                            "record is {} but no outbox row names it: it would never be \
                             delivered",
                            status.as_str()
                        ),
                    ),
                    Repair::Requeue(repo, trigger, seq),
                ),
                OutboxProblem::Dangling { key, seqs, detail } => (
                    finding(
                        "TRIGGER_OUTBOX_DANGLING",
                        Severity::Error,
                        format!("outbox {}", utf8(&key)),
                        detail,
                    ),
                    Repair::Unqueue(key, seqs),
                ),
                OutboxProblem::NamedTwice { key, seq } => (
                    finding(
                        "TRIGGER_OUTBOX_DUPLICATE",
                        Severity::Error,
                        format!("outbox {}", utf8(&key)),
                        format!(
                            "names {}, which an earlier outbox row names too (it would be \
                             delivered twice)",
                            event_id(seq)
                        ),
                    ),
                    Repair::Unqueue(key, vec![seq]),
                ),
                OutboxProblem::Unreadable { key, reason } => (
                    finding(
                        "TRIGGER_OUTBOX_UNREADABLE",
                        Severity::Error,
                        format!("outbox {}", utf8(&key)),
                        reason,
                    ),
                    Repair::OutboxRow(key),
                ),
                OutboxProblem::CountDrift { counter, named } => (
                    finding(
                        "TRIGGER_OUTBOX_COUNT",
                        Severity::Error,
                        "instance/trigger-outbox-len".into(),
                        format!(
                            "the counter says {counter} deliveries are waiting, the outbox rows \
                             name {named}"
                        ),
                    ),
                    Repair::OutboxCount,
                ),
            };
            self.apply(f, Some(repair))?;
        }
        Ok(())
    }
}

enum Repair {
    Link(RepoName, Digest),
    Manifest(RepoName, Digest),
    Tag(RepoName, Tag),
    Row(&'static str, Vec<u8>),
    RepoRecord(RepoName),
    Requeue(RepoName, String, u64),
    Unqueue(Vec<u8>, Vec<u64>),
    OutboxRow(Vec<u8>),
    OutboxCount,
}

/// `<data_dir>/quarantine/`, beside `blobs/`.
fn quarantine_dir(blobs_dir: &Path) -> PathBuf {
    blobs_dir.parent().unwrap_or(blobs_dir).join("quarantine")
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn hash_file(
    path: &Path,
    digest: &Digest,
    throttle: &Mutex<Throttle>,
) -> std::io::Result<(Digest, u64)> {
    const CHUNK: usize = 1 << 20;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = DigestHasher::new(digest.algorithm());
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        lock(throttle).take(n as u64);
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok((hasher.finish(), total))
}
