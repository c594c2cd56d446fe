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
    /// The webhook outbox (docs/webhooks.md).
    #[serde(default)]
    pub webhooks: WebhookStats,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookStats {
    /// Deliveries waiting (PENDING or RETRYING).
    pub outbox_waiting: u64,
    /// Events recorded OVERFLOW because the outbox was full, since the store was created.
    pub overflowed: u64,
    /// Delivery records written since the store was created.
    pub recorded: u64,
}

impl From<engine::OutboxStats> for WebhookStats {
    fn from(s: engine::OutboxStats) -> Self {
        WebhookStats {
            outbox_waiting: s.waiting,
            overflowed: s.overflowed,
            recorded: s.recorded,
        }
    }
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
            webhooks: WebhookStats::default(),
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
    #[serde(default)]
    pub trigger_records: u64,
}

/// A webhook trigger. Its secret is never shown: `has_secret` says whether one is set.
#[derive(Debug, Serialize, Deserialize)]
pub struct Trigger {
    pub id: String,
    pub repository: String,
    pub name: String,
    pub url: String,
    pub trigger_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    pub events: Vec<String>,
    pub format: String,
    pub has_secret: bool,
    pub created_at_ms: u64,
    pub updated_at_ms: u64,
}

impl From<engine::TriggerRecord> for Trigger {
    fn from(t: engine::TriggerRecord) -> Self {
        let trigger_type = t.filter.type_name().to_owned();
        let (expression, tags) = match t.filter {
            engine::TriggerFilter::All => (None, None),
            engine::TriggerFilter::Regex(e) => (Some(e), None),
            engine::TriggerFilter::Tags(tags) => (None, Some(tags)),
        };
        Trigger {
            id: t.id,
            repository: t.repo.as_str().to_owned(),
            name: t.name,
            url: t.url,
            trigger_type,
            expression,
            tags,
            events: t.events.iter().map(|e| e.as_str().to_owned()).collect(),
            format: match t.format {
                engine::PayloadFormat::Acr => "acr",
                engine::PayloadFormat::Cloudevents => "cloudevents",
            }
            .to_owned(),
            has_secret: t.secret.is_some(),
            created_at_ms: t.created_at_ms,
            updated_at_ms: t.updated_at_ms,
        }
    }
}

/// One event as one trigger saw it (a trigger's "access record").
#[derive(Debug, Serialize, Deserialize)]
pub struct DeliveryRecord {
    /// The `webhook-id` of every attempt (and the CloudEvents `id`).
    pub event_id: String,
    pub event: String,
    pub tag: String,
    pub digest: String,
    pub at_ms: u64,
    /// UNTRIGGERED, PENDING, DELIVERED, RETRYING, FAILED or OVERFLOW.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub attempts: u32,
    pub attempts_max: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_body: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_head: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempt_at_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at_ms: Option<u64>,
}

impl From<engine::DeliveryRecord> for DeliveryRecord {
    fn from(r: engine::DeliveryRecord) -> Self {
        DeliveryRecord {
            event_id: r.id,
            event: r.event.as_str().to_owned(),
            tag: r.tag,
            digest: r.digest.as_str().to_owned(),
            at_ms: r.at_ms,
            status: r.status.as_str().to_owned(),
            reason: r.reason,
            attempts: r.attempts,
            attempts_max: r.attempts_max,
            http_status: r.http_status,
            last_error: r.last_error,
            latency_ms: r.latency_ms,
            request_body: r.request_body,
            response_head: r.response_head,
            next_attempt_at_ms: r.next_attempt_at_ms,
            last_attempt_at_ms: r.last_attempt_at_ms,
            finished_at_ms: r.finished_at_ms,
        }
    }
}
