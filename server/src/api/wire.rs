//! The JSON of the management and admin APIs: the server's compatibility boundary.
//!
//! Every body the daemon answers under `/api/v1/` is one of these types (described by
//! `docs/openapi.json`, which a test checks real responses against), built from the engine's
//! values by a `From`. Engine types are never serialised for the wire, so the engine can change
//! its records without changing what clients see, and a change here is a visible API change.
//! `berth gc|fsck|stats` read the admin reports back with the same types.

use berth_engine as engine;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Visibility {
    Public,
    Private,
}

impl From<engine::Visibility> for Visibility {
    fn from(v: engine::Visibility) -> Self {
        match v {
            engine::Visibility::Public => Visibility::Public,
            engine::Visibility::Private => Visibility::Private,
        }
    }
}

impl From<Visibility> for engine::Visibility {
    fn from(v: Visibility) -> Self {
        match v {
            Visibility::Public => engine::Visibility::Public,
            Visibility::Private => engine::Visibility::Private,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Namespace {
    pub name: String,
    pub owner: String,
    pub created_at_ms: u64,
    pub auto_create_repo: bool,
    pub default_visibility: Visibility,
}

impl From<engine::NamespaceInfo> for Namespace {
    fn from(n: engine::NamespaceInfo) -> Self {
        Namespace {
            name: n.name,
            owner: n.owner,
            created_at_ms: n.created_at_ms,
            auto_create_repo: n.auto_create_repo,
            default_visibility: n.default_visibility.into(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Repository {
    pub name: String,
    pub namespace: String,
    pub summary: String,
    pub visibility: Visibility,
    pub created_at_ms: u64,
}

impl From<engine::RepositoryInfo> for Repository {
    fn from(r: engine::RepositoryInfo) -> Self {
        Repository {
            name: r.name,
            namespace: r.namespace,
            summary: r.summary,
            visibility: r.visibility.into(),
            created_at_ms: r.created_at_ms,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Tag {
    pub tag: String,
    pub digest: String,
    /// The config digest of an image; None for an index.
    pub image_id: Option<String>,
    pub size: u64,
    pub media_type: String,
    pub pushed_at_ms: u64,
}

impl From<engine::TagDetails> for Tag {
    fn from(t: engine::TagDetails) -> Self {
        Tag {
            tag: t.tag.as_str().to_owned(),
            digest: t.digest.to_string(),
            image_id: t.image_id.map(|d| d.to_string()),
            size: t.size,
            media_type: t.media_type,
            pushed_at_ms: t.pushed_at_ms,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Layer {
    pub digest: String,
    pub media_type: String,
    pub size: u64,
    pub created_by: Option<String>,
    pub created: Option<String>,
}

impl From<engine::LayerDetails> for Layer {
    fn from(l: engine::LayerDetails) -> Self {
        Layer {
            digest: l.digest.to_string(),
            media_type: l.media_type,
            size: l.size,
            created_by: l.created_by,
            created: l.created,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct User {
    pub name: String,
    pub created_at_ms: u64,
    pub policies: Vec<String>,
}

impl From<engine::UserInfo> for User {
    fn from(u: engine::UserInfo) -> Self {
        User {
            name: u.name.to_string(),
            created_at_ms: u.created_at_ms,
            policies: u.policies,
        }
    }
}

/// A policy as answered: the document as JSON rather than as the text it is stored as.
#[derive(Debug, Serialize)]
pub struct Policy {
    pub name: String,
    pub builtin: bool,
    pub document: serde_json::Value,
}

#[derive(Debug, Serialize)]
pub struct AuditRecord {
    pub at_ms: u64,
    pub account: Option<String>,
    pub source: String,
    pub operation: String,
    pub repository: Option<String>,
    pub reference: Option<String>,
    pub result: String,
    pub detail: Option<String>,
}

impl From<engine::AuditRecord> for AuditRecord {
    fn from(r: engine::AuditRecord) -> Self {
        AuditRecord {
            at_ms: r.at_ms,
            account: r.account,
            source: r.source,
            operation: r.operation,
            repository: r.repository,
            reference: r.reference,
            result: r.result,
            detail: r.detail,
        }
    }
}

// ----- admin reports ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    pub kept_on_recheck: u64,
}

impl From<engine::GcReport> for GcReport {
    fn from(r: engine::GcReport) -> Self {
        GcReport {
            dry_run: r.dry_run,
            started_at_ms: r.started_at_ms,
            finished_at_ms: r.finished_at_ms,
            manifests_deleted: r.manifests_deleted,
            links_removed: r.links_removed,
            blobs_deleted: r.blobs_deleted,
            blob_bytes_reclaimed: r.blob_bytes_reclaimed,
            manifest_bodies_deleted: r.manifest_bodies_deleted,
            orphan_files_removed: r.orphan_files_removed,
            orphan_bytes_reclaimed: r.orphan_bytes_reclaimed,
            kept_on_recheck: r.kept_on_recheck,
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
    pub code: String,
    pub severity: Severity,
    pub subject: String,
    pub detail: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repaired: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    pub errors_left: u64,
    pub findings: Vec<Finding>,
    pub findings_not_listed: u64,
}

impl From<engine::FsckReport> for FsckReport {
    fn from(r: engine::FsckReport) -> Self {
        FsckReport {
            online: r.online,
            repair: r.repair,
            started_at_ms: r.started_at_ms,
            finished_at_ms: r.finished_at_ms,
            blobs_checked: r.blobs_checked,
            blob_bytes_verified: r.blob_bytes_verified,
            manifests_checked: r.manifests_checked,
            tags_checked: r.tags_checked,
            errors: r.errors,
            garbage: r.garbage,
            repaired: r.repaired,
            errors_left: r.errors_left,
            findings: r
                .findings
                .into_iter()
                .map(|f| Finding {
                    code: f.code,
                    severity: match f.severity {
                        engine::Severity::Error => Severity::Error,
                        engine::Severity::Garbage => Severity::Garbage,
                    },
                    subject: f.subject,
                    detail: f.detail,
                    repaired: f.repaired,
                })
                .collect(),
            findings_not_listed: r.findings_not_listed,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StorageStats {
    pub blobs: u64,
    pub physical_bytes: u64,
    pub logical_bytes: u64,
    pub dedup_ratio: f64,
    pub manifests: u64,
    pub repositories_count: u64,
    pub upload_sessions: u64,
    pub upload_bytes: u64,
    pub repositories: Vec<RepoStats>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoStats {
    pub name: String,
    pub blobs: u64,
    pub bytes: u64,
    pub manifests: u64,
    pub tags: u64,
}

impl From<engine::StorageStats> for StorageStats {
    fn from(s: engine::StorageStats) -> Self {
        StorageStats {
            blobs: s.blobs,
            physical_bytes: s.physical_bytes,
            logical_bytes: s.logical_bytes,
            dedup_ratio: s.dedup_ratio,
            manifests: s.manifests,
            repositories_count: s.repositories_count,
            upload_sessions: s.upload_sessions,
            upload_bytes: s.upload_bytes,
            repositories: s
                .repositories
                .into_iter()
                .map(|r| RepoStats {
                    name: r.name,
                    blobs: r.blobs,
                    bytes: r.bytes,
                    manifests: r.manifests,
                    tags: r.tags,
                })
                .collect(),
        }
    }
}

/// What `POST /api/v1/admin/expire` removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpiryReport {
    pub upload_sessions: u64,
    pub temporary_credentials: u64,
    pub audit_records: u64,
}
