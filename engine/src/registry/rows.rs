//! The only functions that write or remove registry rows (links, manifests, tags), each inside a
//! metadata writer job, keeping the reverse indexes in the same batch as the rows they mirror.
//!
//! Invariant: after every job, for each `repo_blobs` row there is exactly one `blob_links` row
//! and vice versa; for each `manifests` row one `manifest_holders` row and one `manifest_refs`
//! row per distinct blob or child manifest it references; for each `tags` row one
//! `tag_targets` row. `berth fsck` checks this and `--repair` rebuilds the indexes.

use crate::meta::schema::{self, ManifestLink, RepoBlobLink};
use crate::meta::{Reader, WriteCtx};
use crate::oci::{parse_manifest, Digest, ParsedManifest, RepoName, Tag};

use super::RegistryError;

pub(crate) fn put_blob_link(
    ctx: &mut WriteCtx<'_>,
    repo: &RepoName,
    digest: &Digest,
    link: &RepoBlobLink,
) {
    ctx.put_json(
        schema::CF_REPO_BLOBS,
        &schema::repo_blob_key(repo, digest),
        link,
    );
    ctx.put_raw(
        schema::CF_BLOB_LINKS,
        &schema::digest_repo_key(digest, repo),
        b"",
    );
}

pub(crate) fn delete_blob_link(ctx: &mut WriteCtx<'_>, repo: &RepoName, digest: &Digest) {
    ctx.delete(schema::CF_REPO_BLOBS, &schema::repo_blob_key(repo, digest));
    ctx.delete(
        schema::CF_BLOB_LINKS,
        &schema::digest_repo_key(digest, repo),
    );
}

/// The digests a manifest keeps alive in its repository: its blobs, and for an index its
/// child manifests, each once. The subject is a weak reference and not among them.
pub fn manifest_targets(parsed: &ParsedManifest) -> Vec<Digest> {
    let mut targets: Vec<Digest> = parsed
        .blob_references()
        .chain(parsed.child_manifests())
        .map(|d| d.digest.clone())
        .collect();
    targets.sort_unstable_by(|a, b| a.as_str().cmp(b.as_str()));
    targets.dedup();
    targets
}

/// Stores manifest `digest` in `repo` (bytes must already be in `manifest_bytes` or in the
/// batch) with its holder and reference rows.
pub(crate) fn put_manifest(
    ctx: &mut WriteCtx<'_>,
    repo: &RepoName,
    digest: &Digest,
    link: &ManifestLink,
    targets: &[Digest],
) {
    ctx.put_json(
        schema::CF_MANIFESTS,
        &schema::manifest_key(repo, digest),
        link,
    );
    ctx.put_raw(
        schema::CF_MANIFEST_HOLDERS,
        &schema::digest_repo_key(digest, repo),
        b"",
    );
    for target in targets {
        ctx.put_raw(
            schema::CF_MANIFEST_REFS,
            &schema::manifest_ref_key(target, repo, digest),
            b"",
        );
    }
}

/// Parses a stored manifest (its bytes were validated when pushed).
pub(crate) fn parse_stored_manifest(
    ctx: &Reader,
    digest: &Digest,
    link: &ManifestLink,
) -> Result<ParsedManifest, RegistryError> {
    let bytes = ctx
        .get_raw(schema::CF_MANIFEST_BYTES, digest.as_str().as_bytes())?
        .ok_or_else(|| RegistryError::Corrupted {
            what: format!("manifest {digest} is linked but its bytes are missing"),
        })?;
    parse_manifest(Some(&link.media_type), &bytes).map_err(|e| RegistryError::Corrupted {
        what: format!("stored manifest {digest} no longer parses: {e}"),
    })
}

/// How [`delete_manifest`] finds the reference rows of a manifest whose stored bytes no longer
/// parse (corruption): refuse (online: finding them takes a scan of every reference row, which
/// no writer job may do while the registry serves), or scan (offline `fsck --repair`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum CorruptRefs {
    Refuse,
    ScanOffline,
}

/// Removes manifest `digest` from `repo`: its row, holder and reference rows, every tag
/// pointing at it, and its referrers row. Returns the removed link, or None if `repo` does not
/// hold it. The bytes in `manifest_bytes` stay until garbage collection finds no holder.
pub(crate) fn delete_manifest(
    ctx: &mut WriteCtx<'_>,
    repo: &RepoName,
    digest: &Digest,
) -> Result<Option<ManifestLink>, RegistryError> {
    delete_manifest_with(ctx, repo, digest, CorruptRefs::Refuse)
}

/// [`delete_manifest`], choosing what happens to a manifest whose bytes no longer parse.
pub(crate) fn delete_manifest_with(
    ctx: &mut WriteCtx<'_>,
    repo: &RepoName,
    digest: &Digest,
    corrupt: CorruptRefs,
) -> Result<Option<ManifestLink>, RegistryError> {
    let key = schema::manifest_key(repo, digest);
    let Some(link) = ctx.get_json::<ManifestLink>(schema::CF_MANIFESTS, &key)? else {
        return Ok(None);
    };
    // References are removed by what the bytes say; if they no longer parse (corruption),
    // the rows are found by a scan instead so none is left behind.
    match parse_stored_manifest(ctx, digest, &link) {
        Ok(parsed) => {
            for target in manifest_targets(&parsed) {
                ctx.delete(
                    schema::CF_MANIFEST_REFS,
                    &schema::manifest_ref_key(&target, repo, digest),
                );
            }
        }
        Err(e) if corrupt == CorruptRefs::Refuse => {
            return Err(RegistryError::Corrupted {
                what: format!(
                    "{e}; its reference rows cannot be found without a scan: run \
                     `berth fsck --repair` with the daemon stopped"
                ),
            });
        }
        Err(e) => {
            tracing::warn!(%repo, %digest, error = %e, "removing references by scan");
            let suffix = {
                let mut s = vec![0u8];
                s.extend_from_slice(repo.as_str().as_bytes());
                s.push(0);
                s.extend_from_slice(digest.as_str().as_bytes());
                s
            };
            for (k, _) in ctx.scan_prefix(schema::CF_MANIFEST_REFS, b"", None, usize::MAX)? {
                if k.ends_with(&suffix) {
                    ctx.delete(schema::CF_MANIFEST_REFS, &k);
                }
            }
        }
    }
    ctx.delete(schema::CF_MANIFESTS, &key);
    ctx.delete(
        schema::CF_MANIFEST_HOLDERS,
        &schema::digest_repo_key(digest, repo),
    );
    let prefix = schema::tag_targets_prefix(repo, digest);
    for (tag, _) in ctx.scan_prefix(schema::CF_TAG_TARGETS, &prefix, None, usize::MAX)? {
        let tag = String::from_utf8_lossy(&tag).into_owned();
        if let Ok(tag) = Tag::parse(&tag) {
            ctx.delete(schema::CF_TAGS, &schema::tag_key(repo, &tag));
        }
        ctx.delete(
            schema::CF_TAG_TARGETS,
            &schema::tag_target_key(repo, digest, tag.as_ref()),
        );
    }
    if let Some(subject) = &link.subject {
        ctx.delete(
            schema::CF_REFERRERS,
            &schema::referrer_key(repo, subject, digest),
        );
    }
    Ok(Some(link))
}

/// The digest tag `tag` of `repo` points at, if any.
pub(crate) fn tag_target(
    ctx: &WriteCtx<'_>,
    repo: &RepoName,
    tag: &Tag,
) -> Result<Option<Digest>, RegistryError> {
    let Some(raw) = ctx.get_raw(schema::CF_TAGS, &schema::tag_key(repo, tag))? else {
        return Ok(None);
    };
    let text = std::str::from_utf8(&raw).map_err(|_| RegistryError::Corrupted {
        what: format!("tag {repo}:{tag} value is not utf-8"),
    })?;
    Digest::parse(text)
        .map(Some)
        .map_err(|e| RegistryError::Corrupted {
            what: format!("tag {repo}:{tag} value: {e}"),
        })
}

/// Points `tag` at `digest`, moving it (and its reverse row) if it pointed elsewhere.
pub(crate) fn set_tag(
    ctx: &mut WriteCtx<'_>,
    repo: &RepoName,
    tag: &Tag,
    digest: &Digest,
) -> Result<(), RegistryError> {
    if let Some(old) = tag_target(ctx, repo, tag)? {
        if &old != digest {
            ctx.delete(
                schema::CF_TAG_TARGETS,
                &schema::tag_target_key(repo, &old, tag.as_str()),
            );
        }
    }
    ctx.put_raw(
        schema::CF_TAGS,
        &schema::tag_key(repo, tag),
        digest.as_str().as_bytes(),
    );
    ctx.put_raw(
        schema::CF_TAG_TARGETS,
        &schema::tag_target_key(repo, digest, tag.as_str()),
        b"",
    );
    Ok(())
}

/// Removes `tag` from `repo`. Returns the digest it pointed at, if it existed.
pub(crate) fn delete_tag(
    ctx: &mut WriteCtx<'_>,
    repo: &RepoName,
    tag: &Tag,
) -> Result<Option<Digest>, RegistryError> {
    let Some(old) = tag_target(ctx, repo, tag)? else {
        return Ok(None);
    };
    ctx.delete(schema::CF_TAGS, &schema::tag_key(repo, tag));
    ctx.delete(
        schema::CF_TAG_TARGETS,
        &schema::tag_target_key(repo, &old, tag.as_str()),
    );
    Ok(Some(old))
}

/// The tags of `repo` pointing at `digest` (from the reverse index).
pub(crate) fn tags_of(
    ctx: &WriteCtx<'_>,
    repo: &RepoName,
    digest: &Digest,
) -> Result<Vec<String>, RegistryError> {
    let prefix = schema::tag_targets_prefix(repo, digest);
    Ok(ctx
        .scan_prefix(schema::CF_TAG_TARGETS, &prefix, None, usize::MAX)?
        .into_iter()
        .map(|(tag, _)| String::from_utf8_lossy(&tag).into_owned())
        .collect())
}
