//! Registry operations that span the blob store and the metadata: blobs of a repository,
//! manifests, tags, referrers and the catalog.
//!
//! Invariants (each held by doing its check and its write in one metadata writer job):
//! - A tag always points at a manifest its repository holds.
//! - A manifest is stored only if every blob it references is linked to its repository and
//!   every child manifest of an index is held by its repository.
//! - A blob link exists only for a blob whose bytes are durable in the blob store.
//! - Stored manifest bytes are exactly the bytes pushed; their digest is of those bytes.

mod admission;
mod error;
mod images;
mod namespaces;
pub(crate) mod rows;

pub use admission::Admission;
pub(crate) use admission::{ensure_repo, link_blob};
pub use images::{ImageDetails, IndexChild, LayerDetails, TagDetails};
pub use namespaces::{NamespaceInfo, NamespaceSettings, RepositoryInfo};

use std::sync::Arc;

pub use error::RegistryError;

use crate::blob::{BlobFile, BlobStore};
use crate::meta::schema::{self, ManifestLink, RepoBlobLink};
use crate::meta::{decode_json, Meta};
use crate::oci::{parse_manifest, Descriptor, Digest, ParsedManifest, Reference, RepoName};
use crate::triggers::{self, Emitter, EventKind, TagEvent};
use crate::Clock;

#[derive(Debug, Clone)]
pub struct RegistryLimits {
    /// Largest manifest body accepted.
    pub manifest_bytes_max: u64,
    /// Largest page of tags or repositories returned at once, whatever `n` asks for.
    pub list_page_max: usize,
    /// Largest number of referrers returned for one subject.
    pub referrers_max: usize,
}

impl Default for RegistryLimits {
    fn default() -> Self {
        Self {
            manifest_bytes_max: 4 << 20,
            list_page_max: 10_000,
            referrers_max: 10_000,
        }
    }
}

/// Blobs, manifests, tags, listings, namespaces and repositories of one data directory: the
/// registry part of [`crate::Engine`]. Cheap to clone, one per shard.
#[derive(Clone)]
pub struct Registry {
    meta: Meta,
    store: BlobStore,
    clock: Arc<dyn Clock>,
    limits: RegistryLimits,
    admission: Admission,
    emitter: Emitter,
}

/// A manifest as served to clients.
#[derive(Debug, Clone)]
pub struct ManifestContent {
    pub digest: Digest,
    pub media_type: String,
    pub bytes: Vec<u8>,
}

/// What a manifest of a repository is, without its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestInfo {
    pub digest: Digest,
    pub media_type: String,
    pub size: u64,
    pub pushed_at_ms: u64,
}

/// What a manifest push stored.
#[derive(Debug, Clone)]
pub struct PutManifestOutcome {
    pub digest: Digest,
    pub subject: Option<Digest>,
}

/// One page of an ordered listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub items: Vec<String>,
    /// Whether more items follow the last one returned.
    pub more: bool,
}

impl Registry {
    pub(crate) fn new(
        meta: Meta,
        store: BlobStore,
        clock: Arc<dyn Clock>,
        limits: RegistryLimits,
        admission: Admission,
        emitter: Emitter,
    ) -> Registry {
        Registry {
            meta,
            store,
            clock,
            limits,
            admission,
            emitter,
        }
    }

    pub fn limits(&self) -> &RegistryLimits {
        &self.limits
    }

    pub(crate) fn blob_store(&self) -> &BlobStore {
        &self.store
    }

    pub(crate) fn meta(&self) -> &Meta {
        &self.meta
    }

    pub(crate) fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    pub fn repo_exists(&self, repo: &RepoName) -> Result<bool, RegistryError> {
        Ok(self
            .meta
            .contains(schema::CF_REPOS, repo.as_str().as_bytes())?)
    }

    /// Refuses a push to `repo` early when the repository does not exist and a push may not
    /// create it (see [`Admission`]). The writer job that commits the push decides again.
    pub fn admit_push(&self, repo: &RepoName) -> Result<(), RegistryError> {
        admission::admit(&self.meta, repo, self.admission)
    }

    // ----- blobs -------------------------------------------------------------------------

    /// The size of blob `digest` if `repo` may serve it. No blob bytes are read.
    pub fn stat_blob(&self, repo: &RepoName, digest: &Digest) -> Result<u64, RegistryError> {
        let link: Option<RepoBlobLink> = self
            .meta
            .get_json(schema::CF_REPO_BLOBS, &schema::repo_blob_key(repo, digest))?;
        match link {
            Some(link) => Ok(link.size),
            None => Err(RegistryError::BlobUnknown {
                digest: digest.clone(),
            }),
        }
    }

    /// Opens blob `digest` of `repo` for reading. A linked blob whose file is missing or has
    /// another size is corruption, never "unknown".
    pub async fn open_blob(
        &self,
        repo: &RepoName,
        digest: &Digest,
    ) -> Result<BlobFile, RegistryError> {
        let size = self.stat_blob(repo, digest)?;
        let file = self.store.open_blob(digest).await.map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                RegistryError::Corrupted {
                    what: format!("blob {digest} is linked but its file is missing"),
                }
            } else {
                RegistryError::Io(e)
            }
        })?;
        if file.size() != size {
            return Err(RegistryError::Corrupted {
                what: format!(
                    "blob {digest} file holds {} bytes, metadata says {size}",
                    file.size()
                ),
            });
        }
        Ok(file)
    }

    /// Links blob `digest` from `from` into `repo`, if `from` has it. Returns whether it did.
    pub async fn mount_blob(
        &self,
        repo: &RepoName,
        digest: &Digest,
        from: &RepoName,
    ) -> Result<bool, RegistryError> {
        let (repo, digest, from) = (repo.clone(), digest.clone(), from.clone());
        let now = self.clock.now_ms();
        let admission = self.admission;
        self.meta
            .write(move |ctx| -> Result<bool, RegistryError> {
                let link: Option<RepoBlobLink> = ctx.get_json(
                    schema::CF_REPO_BLOBS,
                    &schema::repo_blob_key(&from, &digest),
                )?;
                let Some(link) = link else {
                    return Ok(false);
                };
                if !ctx.contains(schema::CF_BLOBS, digest.as_str().as_bytes())? {
                    return Ok(false);
                }
                link_blob(ctx, &repo, &digest, link.size, now, admission)?;
                Ok(true)
            })
            .await
    }

    /// Unlinks blob `digest` from `repo`. The bytes stay until garbage collection finds
    /// nothing referencing them.
    pub async fn delete_blob(&self, repo: &RepoName, digest: &Digest) -> Result<(), RegistryError> {
        let key = schema::repo_blob_key(repo, digest);
        let (repo, digest) = (repo.clone(), digest.clone());
        self.meta
            .write(move |ctx| -> Result<(), RegistryError> {
                if !ctx.contains(schema::CF_REPO_BLOBS, &key)? {
                    return Err(RegistryError::BlobUnknown { digest });
                }
                rows::delete_blob_link(ctx, &repo, &digest);
                Ok(())
            })
            .await
    }

    // ----- manifests ---------------------------------------------------------------------

    /// The digest a reference resolves to in `repo`.
    pub fn resolve(&self, repo: &RepoName, reference: &Reference) -> Result<Digest, RegistryError> {
        let unknown = || RegistryError::ManifestUnknown {
            reference: reference.to_string(),
        };
        match reference {
            Reference::Digest(d) => Ok(d.clone()),
            Reference::Tag(tag) => {
                let key = schema::tag_key(repo, tag);
                let raw = self
                    .meta
                    .get_raw(schema::CF_TAGS, &key)?
                    .ok_or_else(unknown)?;
                let text = std::str::from_utf8(&raw).map_err(|_| RegistryError::Corrupted {
                    what: format!("tag {repo}:{tag} value is not utf-8"),
                })?;
                Digest::parse(text).map_err(|e| RegistryError::Corrupted {
                    what: format!("tag {repo}:{tag} value: {e}"),
                })
            }
        }
    }

    /// Media type and size of a manifest of `repo`, without its bytes.
    pub fn stat_manifest(
        &self,
        repo: &RepoName,
        reference: &Reference,
    ) -> Result<ManifestInfo, RegistryError> {
        let (digest, link) = self.manifest_link(repo, reference)?;
        Ok(ManifestInfo {
            digest,
            media_type: link.media_type,
            size: link.size,
            pushed_at_ms: link.pushed_at_ms,
        })
    }

    fn manifest_link(
        &self,
        repo: &RepoName,
        reference: &Reference,
    ) -> Result<(Digest, ManifestLink), RegistryError> {
        let digest = self.resolve(repo, reference)?;
        let link: Option<ManifestLink> = self
            .meta
            .get_json(schema::CF_MANIFESTS, &schema::manifest_key(repo, &digest))?;
        match link {
            Some(link) => Ok((digest, link)),
            None => Err(RegistryError::ManifestUnknown {
                reference: reference.to_string(),
            }),
        }
    }

    pub fn get_manifest(
        &self,
        repo: &RepoName,
        reference: &Reference,
    ) -> Result<ManifestContent, RegistryError> {
        let (digest, link) = self.manifest_link(repo, reference)?;
        let bytes = self
            .meta
            .get_raw(schema::CF_MANIFEST_BYTES, digest.as_str().as_bytes())?
            .ok_or_else(|| RegistryError::Corrupted {
                what: format!("manifest {digest} is linked but its bytes are missing"),
            })?;
        Ok(ManifestContent {
            digest,
            media_type: link.media_type,
            bytes,
        })
    }

    /// Stores a manifest pushed as `reference` with the request's `Content-Type`.
    pub async fn put_manifest(
        &self,
        repo: &RepoName,
        reference: &Reference,
        content_type: Option<&str>,
        bytes: Vec<u8>,
    ) -> Result<PutManifestOutcome, RegistryError> {
        if bytes.len() as u64 > self.limits.manifest_bytes_max {
            return Err(RegistryError::ManifestTooLarge {
                size: bytes.len() as u64,
                max: self.limits.manifest_bytes_max,
            });
        }
        let parsed = parse_manifest(content_type, &bytes)?;
        let digest = match reference {
            Reference::Digest(given) => {
                let actual = Digest::of(given.algorithm(), &bytes);
                if &actual != given {
                    return Err(RegistryError::DigestMismatch {
                        expected: given.clone(),
                        actual,
                    });
                }
                actual
            }
            Reference::Tag(_) => Digest::sha256_of(&bytes),
        };
        let tag = match reference {
            Reference::Tag(t) => Some(t.clone()),
            Reference::Digest(_) => None,
        };
        let subject = parsed.subject.as_ref().map(|s| s.digest.clone());
        let targets = rows::manifest_targets(&parsed);
        let referrer = parsed.subject.as_ref().map(|s| {
            (
                s.digest.clone(),
                referrer_descriptor(&parsed, &digest, bytes.len() as u64),
            )
        });
        let link = ManifestLink {
            media_type: parsed.media_type.clone(),
            size: bytes.len() as u64,
            pushed_at_ms: self.clock.now_ms(),
            subject: subject.clone(),
        };
        let (repo, stored_digest) = (repo.clone(), digest.clone());
        let admission = self.admission;
        let emitter = self.emitter.clone();
        let queued = self
            .meta
            .write(move |ctx| -> Result<usize, RegistryError> {
                check_references(ctx, &repo, &parsed)?;
                let bytes_key = stored_digest.as_str().as_bytes();
                if !ctx.contains(schema::CF_MANIFEST_BYTES, bytes_key)? {
                    ctx.put_raw(schema::CF_MANIFEST_BYTES, bytes_key, &bytes);
                }
                rows::put_manifest(ctx, &repo, &stored_digest, &link, &targets);
                if let Some(tag) = &tag {
                    rows::set_tag(ctx, &repo, tag, &stored_digest)?;
                }
                if let Some((subject, descriptor)) = &referrer {
                    ctx.put_json(
                        schema::CF_REFERRERS,
                        &schema::referrer_key(&repo, subject, &stored_digest),
                        descriptor,
                    );
                }
                ensure_repo(ctx, &repo, link.pushed_at_ms, admission)?;
                let events = tag.map(|tag| TagEvent {
                    kind: EventKind::Push,
                    tag: tag.as_str().to_owned(),
                    digest: stored_digest.clone(),
                });
                let queued =
                    triggers::emit(ctx, &emitter, &repo, link.pushed_at_ms, events.as_slice())?;
                Ok(queued)
            })
            .await?;
        if queued > 0 {
            // Durable now: the delivery shard may act on it.
            self.emitter.signal.notify();
        }
        Ok(PutManifestOutcome { digest, subject })
    }

    /// Deletes by digest: the manifest, every tag pointing at it, and its referrer entry.
    /// Deletes by tag: only the tag.
    pub async fn delete_manifest(
        &self,
        repo: &RepoName,
        reference: &Reference,
    ) -> Result<(), RegistryError> {
        let (repo, reference) = (repo.clone(), reference.clone());
        let emitter = self.emitter.clone();
        let now_ms = self.clock.now_ms();
        let queued = self
            .meta
            .write(move |ctx| -> Result<usize, RegistryError> {
                let unknown = || RegistryError::ManifestUnknown {
                    reference: reference.to_string(),
                };
                let removed_tags = match &reference {
                    Reference::Tag(tag) => match rows::delete_tag(ctx, &repo, tag)? {
                        Some(digest) => vec![(tag.as_str().to_owned(), digest)],
                        None => return Err(unknown()),
                    },
                    Reference::Digest(digest) => {
                        let tags = rows::tags_of(ctx, &repo, digest)?;
                        if rows::delete_manifest(ctx, &repo, digest)?.is_none() {
                            return Err(unknown());
                        }
                        tags.into_iter().map(|t| (t, digest.clone())).collect()
                    }
                };
                let events: Vec<TagEvent> = removed_tags
                    .into_iter()
                    .map(|(tag, digest)| TagEvent {
                        kind: EventKind::Delete,
                        tag,
                        digest,
                    })
                    .collect();
                Ok(triggers::emit(ctx, &emitter, &repo, now_ms, &events)?)
            })
            .await?;
        if queued > 0 {
            self.emitter.signal.notify();
        }
        Ok(())
    }

    // ----- listings ----------------------------------------------------------------------

    /// Tags of `repo` in lexical order, at most `n` (capped by the page limit), after `last`.
    pub fn list_tags(
        &self,
        repo: &RepoName,
        n: Option<usize>,
        last: Option<&str>,
    ) -> Result<Page, RegistryError> {
        if !self.repo_exists(repo)? {
            return Err(RegistryError::NameUnknown { repo: repo.clone() });
        }
        let after = last.map(schema::tag_sort_suffix);
        self.page(
            schema::CF_TAGS,
            &schema::repo_prefix(repo),
            n,
            after.as_deref(),
            schema::tag_from_suffix,
        )
    }

    /// Repository names in lexical order, at most `n`, after `last`.
    pub fn catalog(&self, n: Option<usize>, last: Option<&str>) -> Result<Page, RegistryError> {
        self.page(schema::CF_REPOS, b"", n, last.map(str::as_bytes), whole_key)
    }

    fn page(
        &self,
        cf: &str,
        prefix: &[u8],
        n: Option<usize>,
        last: Option<&[u8]>,
        item_of_key: fn(&[u8]) -> Option<&[u8]>,
    ) -> Result<Page, RegistryError> {
        let limit = n
            .unwrap_or(self.limits.list_page_max)
            .min(self.limits.list_page_max);
        let mut rows = self
            .meta
            .scan_prefix(cf, prefix, last, limit.saturating_add(1))?;
        let more = rows.len() > limit;
        rows.truncate(limit);
        let items = rows
            .iter()
            .filter_map(|(key, _)| item_of_key(key))
            .map(|item| String::from_utf8_lossy(item).into_owned())
            .collect();
        Ok(Page { items, more })
    }

    /// Descriptors of the manifests in `repo` whose subject is `subject`, optionally only
    /// those of `artifact_type`.
    pub fn referrers(
        &self,
        repo: &RepoName,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>, RegistryError> {
        let rows = self.meta.scan_prefix(
            schema::CF_REFERRERS,
            &schema::referrers_prefix(repo, subject),
            None,
            self.limits.referrers_max,
        )?;
        let mut out = Vec::with_capacity(rows.len());
        for (key, value) in rows {
            let descriptor: Descriptor = decode_json(&key, &value)?;
            if artifact_type.is_none_or(|t| descriptor.artifact_type.as_deref() == Some(t)) {
                out.push(descriptor);
            }
        }
        Ok(out)
    }
}

/// Catalog rows are keyed by the repository name itself.
fn whole_key(key: &[u8]) -> Option<&[u8]> {
    Some(key)
}

/// Checks, inside a writer job, that everything `parsed` references is held by `repo`.
fn check_references(
    ctx: &crate::meta::WriteCtx<'_>,
    repo: &RepoName,
    parsed: &ParsedManifest,
) -> Result<(), RegistryError> {
    for (index, descriptor) in parsed.blob_references().enumerate() {
        let link: Option<RepoBlobLink> = ctx.get_json(
            schema::CF_REPO_BLOBS,
            &schema::repo_blob_key(repo, &descriptor.digest),
        )?;
        let Some(link) = link else {
            return Err(RegistryError::ManifestBlobUnknown {
                digest: descriptor.digest.clone(),
            });
        };
        if link.size != descriptor.size {
            let field = if index == 0 && parsed.config.is_some() {
                "config.size".to_owned()
            } else {
                let layer = index - usize::from(parsed.config.is_some());
                format!("layers[{layer}].size")
            };
            return Err(RegistryError::ManifestFieldInvalid {
                field,
                reason: format!(
                    "{} does not match the stored blob's {} bytes",
                    descriptor.size, link.size
                ),
            });
        }
    }
    for child in parsed.child_manifests() {
        let key = schema::manifest_key(repo, &child.digest);
        if !ctx.contains(schema::CF_MANIFESTS, &key)? {
            return Err(RegistryError::ManifestChildUnknown {
                digest: child.digest.clone(),
            });
        }
    }
    Ok(())
}

/// The descriptor the referrers API lists for a manifest with a subject.
fn referrer_descriptor(parsed: &ParsedManifest, digest: &Digest, size: u64) -> Descriptor {
    Descriptor {
        media_type: parsed.media_type.clone(),
        digest: digest.clone(),
        size,
        artifact_type: parsed.artifact_type.clone(),
        annotations: parsed.annotations.clone(),
    }
}
