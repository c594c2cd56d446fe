//! Forward-only migrations of the metadata format, run by [`crate::Engine::open`] before the
//! store is used, so that a data directory written by an older binary is upgraded and one
//! written by a newer binary is refused — never misread.
//!
//! ```text
//!  open ──▶ format version v (meta::Meta::format_version; 0 = before versioning)
//!            v > FORMAT_VERSION ──▶ refused (MetaError::FormatTooNew)
//!            v < FORMAT_VERSION ──▶ step v→v+1, version row = v+1, … until FORMAT_VERSION
//! ```
//!
//! Invariants: each step is idempotent (a crash mid-step reruns it from the start at the next
//! open) and bounded (rows are read and written in pages, one writer job per page); the version
//! row is written, WAL synced, only after its step's last page is durable.
//!
//! Must not: run while a shard serves (it runs inside `Engine::open`, before any).

use crate::meta::schema::{self, ManifestLink};
use crate::meta::{decode_json, Meta, MetaError};
use crate::oci::{parse_manifest, Digest, RepoName};
use crate::registry::rows;

/// v2 → v3: the trigger families are new and start empty; `Meta::open` creates them. Nothing
/// to rewrite: the step exists so that the version says a v2 binary cannot read this store.
fn trigger_families(_meta: &Meta) -> Result<u64, MetaError> {
    Ok(0)
}

/// Rows read, and their index rows written, per writer job.
const PAGE_ROWS: usize = 512;

/// One step: migrates a store of version `to - 1` to version `to`.
struct Step {
    to: u32,
    what: &'static str,
    run: fn(&Meta) -> Result<u64, MetaError>,
}

const STEPS: &[Step] = &[
    Step {
        to: 1,
        what: "reverse indexes rebuilt from the rows they mirror",
        run: rebuild_reverse_indexes,
    },
    Step {
        to: 2,
        what: "namespace owners and policy holders indexed",
        run: index_owners_and_holders,
    },
    Step {
        to: 3,
        what: "webhook trigger families created",
        run: trigger_families,
    },
    Step {
        to: 4,
        what: "webhook records as trigger events",
        run: crate::triggers::upgrade_v3_rows,
    },
];

/// Brings the store to [`schema::FORMAT_VERSION`], or refuses a newer one. Blocking.
pub(crate) fn run(meta: &Meta) -> Result<(), MetaError> {
    let found = meta.format_version()?;
    if found > schema::FORMAT_VERSION {
        return Err(MetaError::FormatTooNew {
            found,
            supported: schema::FORMAT_VERSION,
        });
    }
    for step in STEPS.iter().filter(|s| s.to > found) {
        let rows = (step.run)(meta)?;
        meta.set_format_version(step.to)?;
        tracing::info!(version = step.to, rows, "metadata migrated: {}", step.what);
    }
    debug_assert_eq!(meta.format_version()?, schema::FORMAT_VERSION);
    Ok(())
}

/// v0 → v1: directories written before the reverse indexes existed lack them, and garbage
/// collection trusts them ("nothing references this blob" is a prefix probe). Writes, for every
/// link, manifest and tag, the index rows `rows.rs` writes with it. Stale index rows cannot
/// exist in a v0 store, so only additions are needed. Returns the primary rows visited.
fn rebuild_reverse_indexes(meta: &Meta) -> Result<u64, MetaError> {
    let mut visited = 0;
    visited += for_each_page(meta, schema::CF_REPO_BLOBS, |page| {
        let mut index = Vec::with_capacity(page.len());
        for (key, _) in page {
            if let Some((repo, digest)) = repo_and_digest(key) {
                index.push((
                    schema::CF_BLOB_LINKS,
                    schema::digest_repo_key(&digest, &repo),
                ));
            }
        }
        Ok(index)
    })?;
    visited += for_each_page(meta, schema::CF_MANIFESTS, |page| {
        let mut index = Vec::with_capacity(page.len() * 4);
        for (key, value) in page {
            let Some((repo, digest)) = repo_and_digest(key) else {
                continue;
            };
            index.push((
                schema::CF_MANIFEST_HOLDERS,
                schema::digest_repo_key(&digest, &repo),
            ));
            let link: ManifestLink = decode_json(key, value)?;
            let body = meta.get_raw(schema::CF_MANIFEST_BYTES, digest.as_str().as_bytes())?;
            // A manifest whose bytes are missing or no longer parse is fsck's to report; it
            // references nothing the index could name.
            let parsed = body.and_then(|b| parse_manifest(Some(&link.media_type), &b).ok());
            for target in parsed.iter().flat_map(rows::manifest_targets) {
                index.push((
                    schema::CF_MANIFEST_REFS,
                    schema::manifest_ref_key(&target, &repo, &digest),
                ));
            }
        }
        Ok(index)
    })?;
    visited += for_each_page(meta, schema::CF_TAGS, |page| {
        let mut index = Vec::with_capacity(page.len());
        for (key, value) in page {
            let Some((repo, suffix)) = schema::split_once(key) else {
                continue;
            };
            let (Some(repo), Some(tag), Ok(target)) = (
                std::str::from_utf8(repo)
                    .ok()
                    .and_then(|r| RepoName::parse(r).ok()),
                schema::tag_from_suffix(suffix).and_then(|t| std::str::from_utf8(t).ok()),
                std::str::from_utf8(value).map(Digest::parse),
            ) else {
                continue;
            };
            let Ok(target) = target else {
                continue;
            };
            index.push((
                schema::CF_TAG_TARGETS,
                schema::tag_target_key(&repo, &target, tag),
            ));
        }
        Ok(index)
    })?;
    Ok(visited)
}

/// v1 → v2: the per-owner namespace limit and the "is this policy attached?" check of a policy
/// delete read an index instead of every namespace or account. Writes the index rows for every
/// namespace and every attachment.
fn index_owners_and_holders(meta: &Meta) -> Result<u64, MetaError> {
    let mut visited = for_each_page(meta, schema::CF_NAMESPACES, |page| {
        let mut index = Vec::with_capacity(page.len());
        for (key, value) in page {
            let record: schema::NamespaceRecord = decode_json(key, value)?;
            let name = String::from_utf8_lossy(key);
            index.push((
                schema::CF_NAMESPACE_OWNERS,
                schema::pair_key(&record.owner, &name),
            ));
        }
        Ok(index)
    })?;
    visited += for_each_page(meta, schema::CF_ACCOUNTS, |page| {
        let mut index = Vec::new();
        for (key, value) in page {
            let record: crate::accounts::AccountRecord = decode_json(key, value)?;
            let account = String::from_utf8_lossy(key);
            for policy in &record.policies {
                index.push((
                    schema::CF_POLICY_HOLDERS,
                    schema::pair_key(policy.as_str(), &account),
                ));
            }
        }
        Ok(index)
    })?;
    Ok(visited)
}

type Page = [(Vec<u8>, Vec<u8>)];
type IndexRows = Vec<(&'static str, Vec<u8>)>;

/// Calls `index_of` with every page of `cf` and writes the index rows it returns, one writer
/// job per page. Returns the rows visited.
fn for_each_page(
    meta: &Meta,
    cf: &str,
    index_of: impl Fn(&Page) -> Result<IndexRows, MetaError>,
) -> Result<u64, MetaError> {
    let mut visited = 0;
    let mut after: Option<Vec<u8>> = None;
    loop {
        let page = meta.scan_prefix(cf, b"", after.as_deref(), PAGE_ROWS)?;
        visited += page.len() as u64;
        let index = index_of(&page)?;
        if !index.is_empty() {
            meta.write_blocking(move |ctx| -> Result<(), MetaError> {
                for (family, key) in index {
                    ctx.put_raw(family, &key, b"");
                }
                Ok(())
            })?;
        }
        if page.len() < PAGE_ROWS {
            return Ok(visited);
        }
        after = page.last().map(|(key, _)| key.clone());
    }
}

fn repo_and_digest(key: &[u8]) -> Option<(RepoName, Digest)> {
    let (repo, digest) = schema::split_once(key)?;
    let repo = RepoName::parse(std::str::from_utf8(repo).ok()?).ok()?;
    let digest = Digest::parse(std::str::from_utf8(digest).ok()?).ok()?;
    Some((repo, digest))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use super::*;
    use crate::{Engine, EngineOptions, OpenError};

    const INDEXES: [&str; 6] = [
        schema::CF_BLOB_LINKS,
        schema::CF_MANIFEST_HOLDERS,
        schema::CF_MANIFEST_REFS,
        schema::CF_TAG_TARGETS,
        schema::CF_NAMESPACE_OWNERS,
        schema::CF_POLICY_HOLDERS,
    ];

    fn families(meta: &Meta) -> BTreeMap<&'static str, Vec<Vec<u8>>> {
        INDEXES
            .iter()
            .map(|cf| {
                let keys = meta
                    .scan_prefix(cf, b"", None, usize::MAX)
                    .expect("scan")
                    .into_iter()
                    .map(|(k, _)| k)
                    .collect();
                (*cf, keys)
            })
            .collect()
    }

    /// Pushes an image (config, layer, manifest, tag) through the registry's own writer-job
    /// functions, so the reverse indexes are exactly what a push writes.
    fn push_image(engine: &Engine, repo: &str, tag: &str) {
        let repo = RepoName::parse(repo).expect("repo");
        let meta = engine.registry().meta().clone();
        let blob = |bytes: &[u8]| {
            let digest = Digest::sha256_of(bytes);
            let (r, d, size) = (repo.clone(), digest.clone(), bytes.len() as u64);
            meta.write_blocking(move |ctx| {
                crate::registry::link_blob(ctx, &r, &d, size, 1, crate::Admission::Open)
            })
            .expect("link");
            (digest, bytes.len())
        };
        let config = blob(br#"{"os":"linux"}"#);
        let layer = blob(tag.as_bytes());
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": config.0.as_str(), "size": config.1},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                        "digest": layer.0.as_str(), "size": layer.1}],
        }))
        .expect("json");
        let reference = crate::oci::Reference::parse(tag).expect("tag");
        futures_lite::future::block_on(engine.registry().put_manifest(
            &repo,
            &reference,
            Some("application/vnd.oci.image.manifest.v1+json"),
            manifest,
        ))
        .expect("put manifest");
    }

    #[test]
    fn a_store_from_before_versioning_gets_its_reverse_indexes_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let engine = Engine::open(EngineOptions::new(dir.path())).expect("open");
        engine
            .accounts()
            .ensure_admin("admin-password")
            .expect("admin");
        let block = futures_lite::future::block_on;
        block(engine.registry().create_namespace(
            "ns",
            "admin",
            crate::NamespaceSettings::default(),
            3,
        ))
        .expect("namespace");
        push_image(&engine, "ns/app", "v1");
        push_image(&engine, "ns/app", "v2");
        push_image(&engine, "other/app", "v1");
        let meta = engine.registry().meta().clone();
        let written = families(&meta);
        assert!(written.values().all(|keys| !keys.is_empty()), "{written:?}");
        // Make it a v0 store: no version row, no reverse indexes.
        meta.write_blocking(|ctx| -> Result<(), MetaError> {
            ctx.delete(schema::CF_INSTANCE, schema::FORMAT_VERSION_KEY);
            for cf in INDEXES {
                for (key, _) in ctx.scan_prefix(cf, b"", None, usize::MAX)? {
                    ctx.delete(cf, &key);
                }
            }
            Ok(())
        })
        .expect("strip");
        assert_eq!(meta.format_version().expect("version"), 0);
        drop(meta);
        engine.close(Duration::from_secs(30)).expect("close");

        let engine = Engine::open(EngineOptions::new(dir.path())).expect("reopen migrates");
        let meta = engine.registry().meta().clone();
        assert_eq!(
            meta.format_version().expect("version"),
            schema::FORMAT_VERSION
        );
        assert_eq!(families(&meta), written, "the indexes a push writes");
        let report = engine
            .fsck(
                &crate::FsckOptions {
                    verify_digests: false,
                    ..crate::FsckOptions::default()
                },
                &std::sync::atomic::AtomicBool::new(false),
            )
            .expect("fsck");
        assert!(
            !report.findings.iter().any(|f| f.code.starts_with("INDEX_")),
            "{:?}",
            report.findings
        );
        // Running the step again changes nothing.
        rebuild_reverse_indexes(&meta).expect("again");
        assert_eq!(families(&meta), written);
        drop(meta);
        engine.close(Duration::from_secs(30)).expect("close");
    }

    #[test]
    fn a_new_store_is_current_and_a_newer_one_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let engine = Engine::open(EngineOptions::new(dir.path())).expect("open");
        let meta = engine.registry().meta().clone();
        assert_eq!(
            meta.format_version().expect("version"),
            schema::FORMAT_VERSION
        );
        meta.set_format_version(schema::FORMAT_VERSION + 1)
            .expect("pretend a newer binary wrote it");
        drop(meta);
        engine.close(Duration::from_secs(30)).expect("close");
        match Engine::open(EngineOptions::new(dir.path())) {
            Err(OpenError::Meta {
                source: MetaError::FormatTooNew { found, supported },
                ..
            }) => assert_eq!(
                (found, supported),
                (schema::FORMAT_VERSION + 1, schema::FORMAT_VERSION)
            ),
            Err(other) => panic!("expected FormatTooNew, got {other}"),
            Ok(_) => panic!("a store of a newer format was opened"),
        }
    }
}
