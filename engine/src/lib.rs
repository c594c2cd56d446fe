//! Berth's engine: all state and on-disk truth of the registry.
//!
//! The public surface is a façade. [`Engine`] is the one door: opened from [`EngineOptions`],
//! closed by [`Engine::close`], it hands out the registry ([`Registry`]: blobs, manifests,
//! tags, listings, namespaces, repositories, image details), upload sessions ([`Uploads`]),
//! accounts ([`Accounts`]) and runs maintenance (GC, fsck, statistics). Everything else this
//! crate exports is a value those calls take or return. The pure layers — OCI identifiers and
//! documents ([`oci`]), the policy language ([`access`]) and the clock ([`clock`]) — are
//! public modules because fuzz targets and the benchmarks use them without storage.
//!
//! The modules behind the façade are private: the metadata store (`meta`, its schema and
//! records), the blob store (`blob`), the row writers (`registry::rows`), upload sessions
//! (`upload`), accounts (`accounts`) and maintenance (`maintenance`).
//!
//! **Architecture Invariant:** the engine knows nothing about HTTP, tokens or JSON error bodies.
//! It returns typed errors; the server decides what a client sees. It does hold the access
//! model as data (`access`: the policy language; accounts, policies, temporary credentials and
//! the audit log); authenticating requests is the server's. No engine type is serialised for
//! the wire: the server's management API has its own JSON types.

pub mod access;
pub mod clock;
pub mod oci;
pub mod scan;

#[cfg(feature = "storage")]
mod accounts;
#[cfg(feature = "storage")]
mod blob;
#[cfg(feature = "storage")]
mod engine;
#[cfg(feature = "storage")]
mod maintenance;
#[cfg(feature = "storage")]
mod meta;
#[cfg(feature = "storage")]
mod migrate;
#[cfg(feature = "storage")]
mod registry;
#[cfg(feature = "storage")]
mod triggers;
#[cfg(feature = "storage")]
mod upload;

pub use clock::{Clock, SystemClock};

#[cfg(feature = "storage")]
pub use crate::{
    accounts::{
        AccountError, AccountName, AccountOptions, Accounts, AdminBootstrap, AuditFilter,
        AuditPage, AuditRecord, PolicyInfo, PolicyName, Principal, TemporaryCredentials, UserInfo,
        ACCOUNT_NAME_CHARS_MAX, ADMIN_ACCOUNT, AUDIT_DETAIL_BYTES_MAX, AUDIT_FIELD_BYTES_MAX,
        AUDIT_PAGE_RECORDS_MAX, AUDIT_QUERY_SCAN_ROWS_MAX, PASSWORD_CHARS_MAX, PASSWORD_CHARS_MIN,
        POLICY_NAME_CHARS_MAX, TEMPORARY_USERNAME_PREFIX,
    },
    blob::BlobFile,
    engine::{CloseError, Engine, EngineOptions, ExpiryCounts, ExpiryError, OpenError},
    maintenance::{
        fsck::{Finding, FsckOptions, FsckReport, Severity},
        gc::{GcOptions, GcReport},
        stats::{RepoStats, StorageStats},
        MaintenanceError, StopFlag,
    },
    meta::{schema::Visibility, MetaError, MetaOptions},
    registry::{
        Admission, ImageDetails, IndexChild, LayerDetails, ManifestContent, ManifestInfo,
        NamespaceInfo, NamespaceSettings, Page, PutManifestOutcome, Registry, RegistryError,
        RegistryLimits, RepositoryInfo, TagDetails,
    },
    triggers::{
        AttemptOutcome, DeliveryRecord, DeliveryStatus, Due, DueBatch, EventKind, OutboxStats,
        OutboxWakeups, PayloadFormat, RecordPage, SecretUpdate, TriggerError, TriggerFilter,
        TriggerOptions, TriggerRecord, TriggerSpec, Triggers, FILTER_EXPRESSION_CHARS_MAX,
        FILTER_TAGS_MAX, RECORD_PAGE_MAX, RESPONSE_HEAD_BYTES_MAX, TRIGGER_NAME_CHARS_MAX,
        TRIGGER_SECRET_BYTES_MAX, TRIGGER_URL_BYTES_MAX,
    },
    upload::{Appender, UploadId, UploadLimits, UploadStatus, Uploads},
};
