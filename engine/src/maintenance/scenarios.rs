//! Garbage collection and fsck against a real RocksDB and blob directory, with a manual clock
//! so that grace periods are exact. Rows are written through the same writer-job functions
//! the registry uses; blob files are written directly (the O_DIRECT upload path is covered by
//! the daemon tests).

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use super::fsck::{self, FsckOptions};
use super::gc::{self, GcOptions, GcReport};
use crate::blob::BlobStore;
use crate::clock::ManualClock;
use crate::meta::schema;
use crate::meta::{Meta, MetaOptions};
use crate::oci::{Digest, Reference, RepoName, Tag};
use crate::registry::{Registry, RegistryError, RegistryLimits};

const HOUR_MS: u64 = 3_600_000;

struct Fixture {
    _dir: tempfile::TempDir,
    registry: Registry,
    clock: ManualClock,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let meta = Meta::open(&dir.path().join("meta"), &MetaOptions::default()).expect("meta");
    let store = BlobStore::open(dir.path()).expect("store");
    let clock = ManualClock::new(1_000 * HOUR_MS);
    let shared: Arc<dyn crate::Clock> = Arc::new(clock.clone());
    let registry = Registry::new(
        meta,
        store,
        shared,
        RegistryLimits::default(),
        crate::registry::Admission::Open,
        crate::triggers::Emitter {
            options: crate::triggers::TriggerOptions::default(),
            regexes: Default::default(),
            triggers: Default::default(),
            signal: crate::triggers::signal().0,
        },
    );
    Fixture {
        _dir: dir,
        registry,
        clock,
    }
}

fn repo(name: &str) -> RepoName {
    RepoName::parse(name).expect("repo")
}

impl Fixture {
    /// A stored blob linked to `repo`, as a finished upload leaves it.
    fn blob(&self, repo_name: &str, bytes: &[u8]) -> Digest {
        let digest = Digest::sha256_of(bytes);
        let path = self.registry.blob_store().blob_path(&digest);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, bytes).expect("write blob");
        let (r, d, size, now) = (
            repo(repo_name),
            digest.clone(),
            bytes.len() as u64,
            crate::Clock::now_ms(&self.clock),
        );
        self.registry
            .meta()
            .write_blocking(move |ctx| {
                crate::registry::link_blob(ctx, &r, &d, size, now, crate::registry::Admission::Open)
            })
            .expect("link");
        digest
    }

    /// An image manifest over `config` and `layers` (digest, size), pushed as `reference`.
    fn image(&self, repo_name: &str, reference: &str, blobs: &[(&Digest, usize)]) -> Digest {
        let descriptor = |(d, n): &(&Digest, usize), media_type: &str| serde_json::json!({ "mediaType": media_type, "digest": d.as_str(), "size": n });
        let body = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": descriptor(&blobs[0], "application/vnd.oci.image.config.v1+json"),
            "layers": blobs[1..].iter()
                .map(|b| descriptor(b, "application/vnd.oci.image.layer.v1.tar"))
                .collect::<Vec<_>>(),
        }))
        .expect("json");
        let reference = Reference::parse(reference).expect("reference");
        futures_lite::future::block_on(self.registry.put_manifest(
            &repo(repo_name),
            &reference,
            Some("application/vnd.oci.image.manifest.v1+json"),
            body,
        ))
        .expect("put manifest")
        .digest
    }

    fn gc(&self, options: &GcOptions) -> GcReport {
        gc::run(&self.registry, options, &AtomicBool::new(false)).expect("gc")
    }

    fn fsck(&self, repair: bool) -> fsck::FsckReport {
        let options = FsckOptions {
            repair,
            grace_ms: 0,
            ..FsckOptions::default()
        };
        fsck::run(&self.registry, &options, &AtomicBool::new(false)).expect("fsck")
    }

    fn has_blob(&self, digest: &Digest) -> bool {
        let row = self
            .registry
            .meta()
            .contains(schema::CF_BLOBS, digest.as_str().as_bytes())
            .expect("read");
        let file = self.registry.blob_store().blob_path(digest).exists();
        assert_eq!(row, file, "row and file of {digest} disagree");
        row
    }
}

fn codes(report: &fsck::FsckReport) -> Vec<&str> {
    let mut codes: Vec<&str> = report.findings.iter().map(|f| f.code.as_str()).collect();
    codes.sort_unstable();
    codes
}

#[test]
fn gc_waits_out_the_grace_period_then_collects_unreferenced_blobs() {
    let f = fixture();
    let lone = f.blob("ns/app", b"uploaded, never referenced");
    let options = GcOptions::default();
    // Within the grace period nothing goes: a manifest may be about to reference it.
    assert_eq!(f.gc(&options).blobs_deleted, 0);
    assert!(f.has_blob(&lone));
    f.clock.advance_ms(HOUR_MS + 1);
    let report = f.gc(&options);
    assert_eq!(
        (
            report.links_removed,
            report.blobs_deleted,
            report.blob_bytes_reclaimed
        ),
        (1, 1, 26)
    );
    assert!(!f.has_blob(&lone));
}

#[test]
fn gc_keeps_what_a_manifest_references_and_reclaims_it_after_the_delete() {
    let f = fixture();
    let config = f.blob("ns/app", b"{}");
    let layer = f.blob("ns/app", b"layer bytes");
    let shared = f.blob("ns/other", b"layer bytes");
    assert_eq!(layer, shared, "same content, one blob");
    let manifest = f.image("ns/app", "v1", &[(&config, 2), (&layer, 11)]);
    f.clock.advance_ms(2 * HOUR_MS);
    // ns/other links the layer but no manifest there references it: the link goes, the blob
    // stays because ns/app's manifest references it.
    let report = f.gc(&GcOptions::default());
    assert_eq!((report.links_removed, report.blobs_deleted), (1, 0));
    assert!(f.has_blob(&layer) && f.has_blob(&config));
    futures_lite::future::block_on(
        f.registry
            .delete_manifest(&repo("ns/app"), &Reference::Digest(manifest.clone())),
    )
    .expect("delete");
    // A dry run reports exactly what the real run then does, and removes nothing.
    let dry = f.gc(&GcOptions {
        dry_run: true,
        ..GcOptions::default()
    });
    assert!(f.has_blob(&layer) && f.has_blob(&config));
    let real = f.gc(&GcOptions::default());
    assert_eq!(
        (
            real.links_removed,
            real.blobs_deleted,
            real.blob_bytes_reclaimed
        ),
        (2, 2, 13)
    );
    assert_eq!(real.manifest_bodies_deleted, 1);
    assert_eq!(
        GcReport {
            dry_run: false,
            started_at_ms: 0,
            finished_at_ms: 0,
            ..dry
        },
        GcReport {
            started_at_ms: 0,
            finished_at_ms: 0,
            ..real
        }
    );
    assert!(!f.has_blob(&layer) && !f.has_blob(&config));
    assert!(f.fsck(false).is_clean());
}

#[test]
fn untagged_manifests_go_only_when_the_policy_says_so() {
    let f = fixture();
    let config = f.blob("ns/app", b"{}");
    let a = f.blob("ns/app", b"a");
    let b = f.blob("ns/app", b"b");
    let old = f.image("ns/app", "latest", &[(&config, 2), (&a, 1)]);
    let new = f.image("ns/app", "latest", &[(&config, 2), (&b, 1)]);
    f.clock.advance_ms(2 * HOUR_MS);
    let keep = f.gc(&GcOptions::default());
    assert_eq!((keep.manifests_deleted, keep.blobs_deleted), (0, 0));
    let report = f.gc(&GcOptions {
        untagged_manifests: true,
        ..GcOptions::default()
    });
    // The re-tagged image's manifest goes, and with it the layer only it used.
    assert_eq!((report.manifests_deleted, report.blobs_deleted), (1, 1));
    assert!(!f.has_blob(&a) && f.has_blob(&b) && f.has_blob(&config));
    let held = |d: &Digest| {
        f.registry
            .stat_manifest(&repo("ns/app"), &Reference::Digest(d.clone()))
            .is_ok()
    };
    assert!(!held(&old) && held(&new));
    assert!(f.fsck(false).is_clean());
}

#[test]
fn fsck_finds_reverse_index_drift_and_repair_rebuilds_it() {
    let f = fixture();
    let config = f.blob("ns/app", b"{}");
    let layer = f.blob("ns/app", b"layer");
    let manifest = f.image("ns/app", "v1", &[(&config, 2), (&layer, 5)]);
    assert!(f.fsck(false).is_clean());
    // Drift that no code path produces: a lost holder row and a stale link row.
    let (r, m) = (repo("ns/app"), manifest.clone());
    f.registry
        .meta()
        .write_blocking(move |ctx| -> Result<(), RegistryError> {
            ctx.delete(
                schema::CF_MANIFEST_HOLDERS,
                &schema::digest_repo_key(&m, &r),
            );
            ctx.put_raw(
                schema::CF_BLOB_LINKS,
                &schema::digest_repo_key(&Digest::sha256_of(b"nothing"), &r),
                b"",
            );
            Ok(())
        })
        .expect("write");
    let report = f.fsck(false);
    assert_eq!(codes(&report), ["INDEX_ROW_MISSING", "INDEX_ROW_STALE"]);
    assert_eq!((report.errors, report.errors_left), (2, 2));
    let repaired = f.fsck(true);
    assert_eq!((repaired.errors, repaired.errors_left), (2, 0));
    assert!(f.fsck(false).is_clean() && f.fsck(false).findings.is_empty());
}

#[test]
fn fsck_quarantines_a_dangling_tag_and_a_corrupt_blob() {
    let f = fixture();
    let config = f.blob("ns/app", b"{}");
    let layer = f.blob("ns/app", b"layer");
    f.image("ns/app", "v1", &[(&config, 2), (&layer, 5)]);
    // A tag pointing at a manifest the repository lacks, written behind the registry's back.
    let r = repo("ns/app");
    let tag = Tag::parse("ghost").expect("tag");
    let missing = Digest::sha256_of(b"no such manifest");
    let (r2, t2, m2) = (r.clone(), tag.clone(), missing.clone());
    f.registry
        .meta()
        .write_blocking(move |ctx| crate::registry::rows::set_tag(ctx, &r2, &t2, &m2))
        .expect("write");
    // Bit rot: same size, other bytes.
    std::fs::write(f.registry.blob_store().blob_path(&layer), b"LAYER").expect("corrupt");
    let report = f.fsck(false);
    assert_eq!(codes(&report), ["BLOB_DIGEST_MISMATCH", "TAG_DANGLING"]);
    // Repair fixes the tag and the blob, and says in the same run that the manifest which
    // used the blob now lacks it (an error it cannot fix: the blob must be pushed again).
    let repaired = f.fsck(true);
    assert_eq!(
        codes(&repaired),
        [
            "BLOB_DIGEST_MISMATCH",
            "MANIFEST_BLOB_MISSING",
            "TAG_DANGLING"
        ]
    );
    assert_eq!((repaired.errors, repaired.errors_left), (3, 1));
    // The corrupt file is out of the store, kept aside; the rows are quarantine records.
    assert!(!f.registry.blob_store().blob_path(&layer).exists());
    let quarantined = f
        .registry
        .meta()
        .scan_prefix(schema::CF_QUARANTINE, b"", None, 100)
        .expect("scan");
    assert_eq!(quarantined.len(), 3, "tag row, blob row, link row");
    // What is left is the manifest that lost its layer: reported, not rewritten.
    let after = f.fsck(false);
    assert_eq!(codes(&after), ["MANIFEST_BLOB_MISSING"]);
    assert!(f.registry.resolve(&r, &Reference::Tag(tag)).is_err());
}
