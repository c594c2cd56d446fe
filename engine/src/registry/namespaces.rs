//! Namespaces and repositories as things an organisation manages: who owns a namespace, whether
//! a push may create repositories in it, and each repository's visibility and summary.
//!
//! A namespace is the first component of a repository name (`ns/app`, `ns/team/app`).
//! Invariants: a namespace is deleted only when it holds no repository (or with `force`, after
//! its repositories are); the per-owner namespace limit is checked in the same writer job as
//! the creation.

use super::{rows, Registry, RegistryError};
use crate::meta::schema::{self, NamespaceRecord, RepoRecord, Visibility};
use crate::meta::{decode_json, WriteCtx};
use crate::oci::{Digest, RepoName};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceSettings {
    pub auto_create_repo: bool,
    pub default_visibility: Visibility,
}

impl Default for NamespaceSettings {
    fn default() -> Self {
        Self {
            auto_create_repo: true,
            default_visibility: Visibility::Private,
        }
    }
}

/// A namespace as the management API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceInfo {
    pub name: String,
    pub owner: String,
    pub created_at_ms: u64,
    pub auto_create_repo: bool,
    pub default_visibility: Visibility,
}

/// A repository as the management API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositoryInfo {
    pub name: String,
    pub namespace: String,
    pub summary: String,
    pub visibility: Visibility,
    pub created_at_ms: u64,
}

fn namespace_info(name: &str, record: NamespaceRecord) -> NamespaceInfo {
    NamespaceInfo {
        name: name.to_owned(),
        owner: record.owner,
        created_at_ms: record.created_at_ms,
        auto_create_repo: record.auto_create_repo,
        default_visibility: record.default_visibility,
    }
}

fn repository_info(repo: &RepoName, record: RepoRecord) -> RepositoryInfo {
    RepositoryInfo {
        name: repo.to_string(),
        namespace: repo.namespace().to_owned(),
        summary: record.summary,
        visibility: record.visibility,
        created_at_ms: record.created_at_ms,
    }
}

/// Rows removed per writer job when deleting a repository, so one large repository does not
/// hold the writer for long.
const DELETE_ROWS_PER_JOB: usize = 256;

impl Registry {
    pub async fn create_namespace(
        &self,
        name: &str,
        owner: &str,
        settings: NamespaceSettings,
        owner_max: usize,
    ) -> Result<NamespaceInfo, RegistryError> {
        let name = valid_namespace(name)?;
        let record = NamespaceRecord {
            owner: owner.to_owned(),
            created_at_ms: self.clock.now_ms(),
            auto_create_repo: settings.auto_create_repo,
            default_visibility: settings.default_visibility,
        };
        let (job_name, job_record) = (name.clone(), record.clone());
        self.meta
            .write(move |ctx| -> Result<(), RegistryError> {
                if ctx.contains(schema::CF_NAMESPACES, job_name.as_bytes())? {
                    return Err(RegistryError::NamespaceExists {
                        namespace: job_name,
                    });
                }
                // The owner index, read up to the limit: bounded whatever the number of
                // namespaces.
                let owned = ctx
                    .scan_prefix(
                        schema::CF_NAMESPACE_OWNERS,
                        &schema::pair_prefix(&job_record.owner),
                        None,
                        owner_max,
                    )?
                    .len();
                if owned >= owner_max {
                    return Err(RegistryError::NamespaceLimit {
                        owner: job_record.owner,
                        max: owner_max,
                    });
                }
                ctx.put_json(schema::CF_NAMESPACES, job_name.as_bytes(), &job_record);
                ctx.put_raw(
                    schema::CF_NAMESPACE_OWNERS,
                    &schema::pair_key(&job_record.owner, &job_name),
                    b"",
                );
                Ok(())
            })
            .await?;
        Ok(namespace_info(&name, record))
    }

    pub async fn update_namespace(
        &self,
        name: &str,
        auto_create_repo: Option<bool>,
        default_visibility: Option<Visibility>,
    ) -> Result<NamespaceInfo, RegistryError> {
        let name = name.to_owned();
        self.meta
            .write(move |ctx| -> Result<NamespaceInfo, RegistryError> {
                let mut record: NamespaceRecord = ctx
                    .get_json(schema::CF_NAMESPACES, name.as_bytes())?
                    .ok_or_else(|| RegistryError::NamespaceUnknown {
                        namespace: name.clone(),
                    })?;
                if let Some(auto) = auto_create_repo {
                    record.auto_create_repo = auto;
                }
                if let Some(visibility) = default_visibility {
                    record.default_visibility = visibility;
                }
                ctx.put_json(schema::CF_NAMESPACES, name.as_bytes(), &record);
                Ok(namespace_info(&name, record))
            })
            .await
    }

    pub fn namespace(&self, name: &str) -> Result<NamespaceInfo, RegistryError> {
        let record: Option<NamespaceRecord> =
            self.meta.get_json(schema::CF_NAMESPACES, name.as_bytes())?;
        record
            .map(|r| namespace_info(name, r))
            .ok_or_else(|| RegistryError::NamespaceUnknown {
                namespace: name.to_owned(),
            })
    }

    pub fn list_namespaces(&self) -> Result<Vec<NamespaceInfo>, RegistryError> {
        self.meta
            .scan_prefix(schema::CF_NAMESPACES, b"", None, usize::MAX)?
            .into_iter()
            .map(|(key, value)| {
                let record: NamespaceRecord = decode_json(&key, &value)?;
                Ok(namespace_info(&String::from_utf8_lossy(&key), record))
            })
            .collect()
    }

    /// Deletes a namespace. Refused while it holds repositories, unless `force`, which deletes
    /// them first.
    pub async fn delete_namespace(&self, name: &str, force: bool) -> Result<(), RegistryError> {
        self.namespace(name)?;
        let repositories = self.list_repositories(Some(name))?;
        if !repositories.is_empty() && !force {
            return Err(RegistryError::NamespaceNotEmpty {
                namespace: name.to_owned(),
                repositories: repositories.len(),
            });
        }
        for repo in &repositories {
            if let Ok(repo) = RepoName::parse(&repo.name) {
                self.delete_repository(&repo).await?;
            }
        }
        let name = name.to_owned();
        self.meta
            .write(move |ctx| -> Result<(), RegistryError> {
                // A push may have created a repository meanwhile.
                let mut prefix = name.clone().into_bytes();
                prefix.push(b'/');
                let left = ctx.scan_prefix(schema::CF_REPOS, &prefix, None, 1)?;
                if !left.is_empty() {
                    return Err(RegistryError::NamespaceNotEmpty {
                        namespace: name,
                        repositories: left.len(),
                    });
                }
                let record: Option<NamespaceRecord> =
                    ctx.get_json(schema::CF_NAMESPACES, name.as_bytes())?;
                if let Some(record) = record {
                    ctx.delete(
                        schema::CF_NAMESPACE_OWNERS,
                        &schema::pair_key(&record.owner, &name),
                    );
                }
                ctx.delete(schema::CF_NAMESPACES, name.as_bytes());
                Ok(())
            })
            .await
    }

    /// Creates a repository ahead of any push.
    pub async fn create_repository(
        &self,
        repo: &RepoName,
        summary: &str,
        visibility: Visibility,
    ) -> Result<RepositoryInfo, RegistryError> {
        let record = RepoRecord {
            created_at_ms: self.clock.now_ms(),
            visibility,
            summary: summary.to_owned(),
        };
        let (job_repo, job_record) = (repo.clone(), record.clone());
        self.meta
            .write(move |ctx| -> Result<(), RegistryError> {
                let namespace = job_repo.namespace();
                if !ctx.contains(schema::CF_NAMESPACES, namespace.as_bytes())? {
                    return Err(RegistryError::NamespaceUnknown {
                        namespace: namespace.to_owned(),
                    });
                }
                if ctx.contains(schema::CF_REPOS, job_repo.as_str().as_bytes())? {
                    return Err(RegistryError::RepositoryExists { repo: job_repo });
                }
                ctx.put_json(schema::CF_REPOS, job_repo.as_str().as_bytes(), &job_record);
                Ok(())
            })
            .await?;
        Ok(repository_info(repo, record))
    }

    pub async fn update_repository(
        &self,
        repo: &RepoName,
        summary: Option<String>,
        visibility: Option<Visibility>,
    ) -> Result<RepositoryInfo, RegistryError> {
        let repo = repo.clone();
        self.meta
            .write(move |ctx| -> Result<RepositoryInfo, RegistryError> {
                let mut record: RepoRecord = ctx
                    .get_json(schema::CF_REPOS, repo.as_str().as_bytes())?
                    .ok_or_else(|| RegistryError::NameUnknown { repo: repo.clone() })?;
                if let Some(summary) = summary {
                    record.summary = summary;
                }
                if let Some(visibility) = visibility {
                    record.visibility = visibility;
                }
                ctx.put_json(schema::CF_REPOS, repo.as_str().as_bytes(), &record);
                Ok(repository_info(&repo, record))
            })
            .await
    }

    pub fn repository(&self, repo: &RepoName) -> Result<RepositoryInfo, RegistryError> {
        let record: Option<RepoRecord> = self
            .meta
            .get_json(schema::CF_REPOS, repo.as_str().as_bytes())?;
        record
            .map(|r| repository_info(repo, r))
            .ok_or_else(|| RegistryError::NameUnknown { repo: repo.clone() })
    }

    /// The visibility of `repo`, or None if it does not exist. One point read: this is on the
    /// pull path of anonymous requests.
    pub fn visibility(&self, repo: &RepoName) -> Result<Option<Visibility>, RegistryError> {
        let record: Option<RepoRecord> = self
            .meta
            .get_json(schema::CF_REPOS, repo.as_str().as_bytes())?;
        Ok(record.map(|r| r.visibility))
    }

    /// Every repository, or those of one namespace, in name order.
    pub fn list_repositories(
        &self,
        namespace: Option<&str>,
    ) -> Result<Vec<RepositoryInfo>, RegistryError> {
        let prefix = namespace
            .map(|ns| format!("{ns}/").into_bytes())
            .unwrap_or_default();
        let mut out = Vec::new();
        for (suffix, value) in self
            .meta
            .scan_prefix(schema::CF_REPOS, &prefix, None, usize::MAX)?
        {
            let mut key = prefix.clone();
            key.extend_from_slice(&suffix);
            let record: RepoRecord = decode_json(&key, &value)?;
            if let Ok(repo) = RepoName::parse(&String::from_utf8_lossy(&key)) {
                out.push(repository_info(&repo, record));
            }
        }
        Ok(out)
    }

    /// Deletes a repository with everything in it: manifests, tags, referrers, links, and its
    /// record. In bounded writer jobs; blobs no longer referenced go at the next GC.
    pub async fn delete_repository(&self, repo: &RepoName) -> Result<(), RegistryError> {
        self.repository(repo)?;
        loop {
            let job_repo = repo.clone();
            let removed = self
                .meta
                .write(move |ctx| -> Result<usize, RegistryError> {
                    delete_some_rows(ctx, &job_repo, DELETE_ROWS_PER_JOB)
                })
                .await?;
            if removed == 0 {
                return Ok(());
            }
        }
    }
}

/// Removes up to `max` rows of `repo`; when none is left, its record. Returns rows removed.
fn delete_some_rows(
    ctx: &mut WriteCtx<'_>,
    repo: &RepoName,
    max: usize,
) -> Result<usize, RegistryError> {
    let prefix = schema::repo_prefix(repo);
    let mut removed = 0;
    for (suffix, _) in ctx.scan_prefix(schema::CF_MANIFESTS, &prefix, None, max)? {
        if let Ok(digest) = Digest::parse(&String::from_utf8_lossy(&suffix)) {
            rows::delete_manifest(ctx, repo, &digest)?;
            removed += 1;
        }
    }
    for (suffix, _) in ctx.scan_prefix(schema::CF_REPO_BLOBS, &prefix, None, max)? {
        if let Ok(digest) = Digest::parse(&String::from_utf8_lossy(&suffix)) {
            rows::delete_blob_link(ctx, repo, &digest);
            removed += 1;
        }
    }
    if removed == 0 {
        // Tags and referrers go with their manifests; anything left over is removed here, a
        // page per job like the rest.
        // Webhook triggers and their records are keyed by repository too.
        for cf in [
            schema::CF_TAGS,
            schema::CF_REFERRERS,
            schema::CF_TAG_TARGETS,
            schema::CF_TRIGGERS,
            schema::CF_TRIGGER_RECORDS,
            schema::CF_TRIGGER_EVENTS,
        ] {
            for (suffix, _) in ctx.scan_prefix(cf, &prefix, None, max - removed)? {
                let mut key = prefix.clone();
                key.extend_from_slice(&suffix);
                ctx.delete(cf, &key);
                removed += 1;
                if cf == schema::CF_TRIGGERS {
                    crate::triggers::triggers_changed();
                }
            }
            if removed == max {
                return Ok(removed);
            }
        }
    }
    if removed == 0 && ctx.contains(schema::CF_REPOS, repo.as_str().as_bytes())? {
        ctx.delete(schema::CF_REPOS, repo.as_str().as_bytes());
    }
    Ok(removed)
}

/// A namespace name: one repository-name component (lowercase letters, digits, separators).
fn valid_namespace(name: &str) -> Result<String, RegistryError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.contains('/')
        && RepoName::parse(&format!("{name}/x")).is_ok();
    if ok {
        Ok(name.to_owned())
    } else {
        Err(RegistryError::NamespaceInvalid {
            namespace: name.to_owned(),
        })
    }
}
