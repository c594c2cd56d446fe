//! Push admission: whether a push may create the repository it names, decided in one place.
//!
//! A push creates its repository on first write. With access control off ([`Admission::Open`])
//! anything goes; with it on ([`Admission::Namespaced`]) the namespace must exist and allow
//! repositories to be created by pushing, and the new repository takes the namespace's default
//! visibility. [`decide`] is that rule; it runs twice for a push that creates a repository:
//! once early ([`super::Registry::admit_push`], before the client sends gigabytes) and once in
//! the writer job that commits the push ([`ensure_repo`]), which is the one that counts.
//!
//! Must not: read anything outside the namespace and repository records.

use super::RegistryError;
use crate::meta::schema::{
    self, BlobRecord, NamespaceRecord, RepoBlobLink, RepoRecord, Visibility,
};
use crate::meta::{Reader, WriteCtx};
use crate::oci::{Digest, RepoName};

/// Whether a push may create a repository that does not exist yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Admission {
    /// Anything goes (access control off): the first push creates the repository.
    #[default]
    Open,
    /// The namespace must exist and have `auto_create_repo` on; the repository gets the
    /// namespace's default visibility.
    Namespaced,
}

/// The visibility a repository created by a push to `repo` gets, or why it may not be created.
fn decide(
    reader: &Reader,
    repo: &RepoName,
    admission: Admission,
) -> Result<Visibility, RegistryError> {
    match admission {
        Admission::Open => Ok(Visibility::Private),
        Admission::Namespaced => {
            let namespace = repo.namespace();
            let record: Option<NamespaceRecord> =
                reader.get_json(schema::CF_NAMESPACES, namespace.as_bytes())?;
            let Some(record) = record else {
                return Err(RegistryError::NamespaceUnknown {
                    namespace: namespace.to_owned(),
                });
            };
            if !record.auto_create_repo {
                return Err(RegistryError::RepositoryNotCreatable { repo: repo.clone() });
            }
            Ok(record.default_visibility)
        }
    }
}

/// The early check of a push: Ok when `repo` exists or a push may create it. Inline reads.
pub(super) fn admit(
    reader: &Reader,
    repo: &RepoName,
    admission: Admission,
) -> Result<(), RegistryError> {
    if reader.contains(schema::CF_REPOS, repo.as_str().as_bytes())? {
        return Ok(());
    }
    decide(reader, repo, admission).map(|_| ())
}

/// Creates the repository record if this is its first push, when `admission` allows it.
/// Runs inside a writer job.
pub(crate) fn ensure_repo(
    ctx: &mut WriteCtx<'_>,
    repo: &RepoName,
    now_ms: u64,
    admission: Admission,
) -> Result<(), RegistryError> {
    let key = repo.as_str().as_bytes();
    if ctx.contains(schema::CF_REPOS, key)? {
        return Ok(());
    }
    let visibility = decide(ctx, repo, admission)?;
    ctx.put_json(
        schema::CF_REPOS,
        key,
        &RepoRecord {
            created_at_ms: now_ms,
            visibility,
            summary: String::new(),
        },
    );
    Ok(())
}

/// Records a durable blob and links it to `repo`, creating the repository on its first push.
/// Runs inside a writer job.
pub(crate) fn link_blob(
    ctx: &mut WriteCtx<'_>,
    repo: &RepoName,
    digest: &Digest,
    size: u64,
    now_ms: u64,
    admission: Admission,
) -> Result<(), RegistryError> {
    let blob_key = digest.as_str().as_bytes();
    if !ctx.contains(schema::CF_BLOBS, blob_key)? {
        ctx.put_json(
            schema::CF_BLOBS,
            blob_key,
            &BlobRecord {
                size,
                created_at_ms: now_ms,
            },
        );
    }
    super::rows::put_blob_link(
        ctx,
        repo,
        digest,
        &RepoBlobLink {
            size,
            linked_at_ms: now_ms,
        },
    );
    ensure_repo(ctx, repo, now_ms, admission)?;
    Ok(())
}
