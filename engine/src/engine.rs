//! The one door into the engine: [`Engine`], opened from one [`EngineOptions`] and closed by
//! one call.
//!
//! ```text
//!  Engine::open(options) ──▶ data dir (created, made absolute) ──▶ RocksDB meta + writer thread
//!                                                               ──▶ format version: migrated
//!                                                                   forward, or refused if newer
//!                                                               ──▶ blob store (blobs/, uploads/)
//!        │
//!        ├── registry()  blobs, manifests, tags, referrers, catalog, namespaces, repositories,
//!        │               image details
//!        ├── uploads()   resumable upload sessions, monolithic pushes
//!        ├── accounts()  accounts, policies, temporary credentials, audit log
//!        ├── triggers()  webhook triggers, delivery records, the outbox (delivery shard)
//!        └── gc() fsck() storage_stats() reports   (blocking: maintenance thread, CLI)
//!
//!  Engine::close(timeout) ──▶ WAL synced, RocksDB background work stopped, store closed
//! ```
//!
//! Invariants:
//! - Everything the server does to stored state goes through an `Engine` (or a handle it
//!   hands out); the metadata store, the blob store and their records are private to the
//!   crate.
//! - One process opens a data directory at a time; a second one gets [`OpenError::Locked`].
//!
//! Must not: know about HTTP, configuration files or the environment (the server turns its
//! configuration into [`EngineOptions`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::accounts::{AccountError, AccountOptions, Accounts};
use crate::blob::BlobStore;
use crate::maintenance::{
    self,
    fsck::{self, FsckOptions, FsckReport},
    gc::{self, GcOptions, GcReport},
    stats::{self, StorageStats},
    MaintenanceError, StopFlag,
};
use crate::meta::{Meta, MetaError, MetaOptions};
use crate::registry::{Admission, Registry, RegistryError, RegistryLimits};
use crate::triggers::{self, Emitter, TriggerError, TriggerOptions, Triggers};
use crate::upload::{UploadLimits, Uploads};
use crate::{Clock, SystemClock};

/// Everything [`Engine::open`] needs. Every limit has a default; `data_dir` has none.
#[derive(Clone)]
pub struct EngineOptions {
    pub data_dir: PathBuf,
    pub meta: MetaOptions,
    pub uploads: UploadLimits,
    pub registry: RegistryLimits,
    /// Whether a push may create a repository outside a namespace (access control off) or
    /// only in a namespace that allows it.
    pub admission: Admission,
    pub accounts: AccountOptions,
    pub triggers: TriggerOptions,
    /// Wall-clock time of every record; injectable for tests.
    pub clock: Arc<dyn Clock>,
}

impl EngineOptions {
    /// The defaults for a data directory.
    pub fn new(data_dir: impl Into<PathBuf>) -> EngineOptions {
        EngineOptions {
            data_dir: data_dir.into(),
            meta: MetaOptions::default(),
            uploads: UploadLimits::default(),
            registry: RegistryLimits::default(),
            admission: Admission::Open,
            accounts: AccountOptions::default(),
            triggers: TriggerOptions::default(),
            clock: Arc::new(SystemClock),
        }
    }
}

/// Why a data directory could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Another process (a running daemon, or an offline command) has the store open.
    #[error("another process holds the data directory {path}")]
    Locked { path: PathBuf },
    #[error("data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("metadata in {path}: {source}")]
    Meta { path: PathBuf, source: MetaError },
    #[error("blob store in {path}: {source}")]
    Blobs {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("accounts options: {0}")]
    AccountOptions(AccountError),
}

/// What [`Engine::expire`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExpiryCounts {
    pub upload_sessions: usize,
    pub temporary_credentials: usize,
    pub audit_records: usize,
    pub trigger_records: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum ExpiryError {
    #[error("upload expiry: {0}")]
    Uploads(#[from] RegistryError),
    #[error("accounts expiry: {0}")]
    Accounts(#[from] AccountError),
    #[error("trigger record expiry: {0}")]
    Triggers(#[from] TriggerError),
}

/// The store was asked to close but handles on it outlived the timeout.
#[derive(Debug, thiserror::Error)]
#[error("the metadata store did not close within {timeout:?}: handles on it are still alive")]
pub struct CloseError {
    pub timeout: Duration,
}

/// A registry's storage, open. Cheap to clone: clones share the store (one per shard, one for
/// the maintenance thread).
#[derive(Clone)]
pub struct Engine {
    data_dir: PathBuf,
    meta: Meta,
    registry: Registry,
    uploads: Uploads,
    accounts: Accounts,
    triggers: Triggers,
}

impl Engine {
    /// Opens (creating it if needed) the data directory. Blocking: run it before any executor
    /// starts, or on a plain thread.
    pub fn open(options: EngineOptions) -> Result<Engine, OpenError> {
        options
            .accounts
            .validate()
            .map_err(OpenError::AccountOptions)?;
        let data_dir = absolute_dir(&options.data_dir)?;
        let meta_dir = data_dir.join("meta");
        let meta = Meta::open(&meta_dir, &options.meta).map_err(|source| match source {
            MetaError::Locked { .. } => OpenError::Locked {
                path: data_dir.clone(),
            },
            source => OpenError::Meta {
                path: meta_dir.clone(),
                source,
            },
        })?;
        crate::migrate::run(&meta).map_err(|source| OpenError::Meta {
            path: meta_dir.clone(),
            source,
        })?;
        let store = BlobStore::open(&data_dir).map_err(|source| OpenError::Blobs {
            path: data_dir.clone(),
            source,
        })?;
        let clock = options.clock;
        let (signal, wakeups) = triggers::signal();
        let emitter = Emitter {
            options: options.triggers,
            regexes: Default::default(),
            triggers: Default::default(),
            signal,
        };
        let registry = Registry::new(
            meta.clone(),
            store.clone(),
            clock.clone(),
            options.registry,
            options.admission,
            emitter.clone(),
        );
        let triggers = Triggers::new(meta.clone(), clock.clone(), emitter, wakeups);
        let uploads = Uploads::new(
            meta.clone(),
            store,
            clock.clone(),
            options.uploads,
            options.admission,
        );
        let accounts = Accounts::new(meta.clone(), clock, options.accounts);
        Ok(Engine {
            data_dir,
            meta,
            registry,
            uploads,
            accounts,
            triggers,
        })
    }

    /// Closes the store: syncs the WAL, stops RocksDB's background work, and waits up to
    /// `timeout` for every other handle to be dropped (executors' tasks, the maintenance
    /// thread) so that nothing is flushing while the process exits. Blocking.
    pub fn close(self, timeout: Duration) -> Result<(), CloseError> {
        let closed = self.meta.close_watch();
        self.meta.shut_down();
        drop(self);
        if closed.wait(timeout) {
            Ok(())
        } else {
            Err(CloseError { timeout })
        }
    }

    /// The absolute data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn uploads(&self) -> &Uploads {
        &self.uploads
    }

    pub fn accounts(&self) -> &Accounts {
        &self.accounts
    }

    pub fn triggers(&self) -> &Triggers {
        &self.triggers
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        self.registry.clock()
    }

    // ----- maintenance: blocking, for the maintenance thread and offline commands ----------

    /// One garbage collection over the whole store.
    pub fn gc(&self, options: &GcOptions, stop: &StopFlag) -> Result<GcReport, MaintenanceError> {
        gc::run(&self.registry, options, stop)
    }

    /// One consistency check (and, offline, repair).
    pub fn fsck(
        &self,
        options: &FsckOptions,
        stop: &StopFlag,
    ) -> Result<FsckReport, MaintenanceError> {
        fsck::run(&self.registry, options, stop)
    }

    /// Storage accounting from a consistent snapshot. A full scan: not for a reactor.
    pub fn storage_stats(&self) -> Result<StorageStats, MaintenanceError> {
        stats::collect(&self.meta)
    }

    /// Keeps `report` as the last garbage collection's, for the admin API.
    pub fn save_gc_report(&self, report: &GcReport) -> Result<(), MaintenanceError> {
        maintenance::save_report(&self.meta, maintenance::GC_REPORT, report)
    }

    /// Keeps `report` as the last scrub's.
    pub fn save_scrub_report(&self, report: &FsckReport) -> Result<(), MaintenanceError> {
        maintenance::save_report(&self.meta, maintenance::SCRUB_REPORT, report)
    }

    /// The last garbage collection's report; None before the first. An inline read.
    pub fn last_gc_report(&self) -> Result<Option<GcReport>, MaintenanceError> {
        maintenance::load_report(&self.meta, maintenance::GC_REPORT)
    }

    /// The last scrub's report; None before the first. An inline read.
    pub fn last_scrub_report(&self) -> Result<Option<FsckReport>, MaintenanceError> {
        maintenance::load_report(&self.meta, maintenance::SCRUB_REPORT)
    }

    /// Removes idle upload sessions, expired temporary credentials, audit records older
    /// than `audit_cutoff_ms` and finished trigger delivery records older than
    /// `trigger_record_cutoff_ms`, each in bounded pages of writer jobs. Blocking: for the
    /// maintenance thread.
    pub fn expire(
        &self,
        audit_cutoff_ms: u64,
        trigger_record_cutoff_ms: u64,
    ) -> Result<ExpiryCounts, ExpiryError> {
        let upload_sessions = self.uploads.expire_idle()?;
        let temporary_credentials =
            futures_lite::future::block_on(self.accounts.expire_temporary())?;
        let audit_records =
            futures_lite::future::block_on(self.accounts.expire_audit(audit_cutoff_ms))?;
        let trigger_records =
            futures_lite::future::block_on(self.triggers.expire_records(trigger_record_cutoff_ms))?;
        Ok(ExpiryCounts {
            upload_sessions,
            temporary_credentials,
            audit_records,
            trigger_records,
        })
    }

    /// Removes upload files that no session owns. Sound only before serving (a monolithic
    /// push's file has no session while it runs). Blocking.
    pub fn remove_orphan_upload_files(&self) -> Result<usize, RegistryError> {
        self.uploads.remove_orphan_files()
    }
}

/// Creates `dir` if needed and makes it absolute: glommio opens directories (for fsync) by
/// absolute path only — a relative data directory, such as the default `./berth-data`, made
/// every push fail with EBADF.
fn absolute_dir(dir: &Path) -> Result<PathBuf, OpenError> {
    let failed = |source| OpenError::DataDir {
        path: dir.to_owned(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(failed)?;
    std::fs::canonicalize(dir).map_err(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_open_of_the_same_directory_is_refused_as_locked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = Engine::open(EngineOptions::new(dir.path())).expect("first open");
        match Engine::open(EngineOptions::new(dir.path())) {
            Err(OpenError::Locked { path }) => {
                assert_eq!(path, std::fs::canonicalize(dir.path()).expect("canonical"))
            }
            Err(other) => panic!("expected Locked, got {other}"),
            Ok(_) => panic!("a second open succeeded"),
        }
        first.close(Duration::from_secs(30)).expect("close");
        // Closed means closed: the directory opens again.
        let again = Engine::open(EngineOptions::new(dir.path())).expect("reopen after close");
        again.close(Duration::from_secs(30)).expect("close again");
    }

    #[test]
    fn close_waits_for_other_handles() {
        let dir = tempfile::tempdir().expect("tempdir");
        let engine = Engine::open(EngineOptions::new(dir.path())).expect("open");
        let held = engine.clone();
        let err = engine
            .close(Duration::from_millis(50))
            .expect_err("a clone is alive");
        assert_eq!(err.timeout, Duration::from_millis(50));
        drop(held);
    }
}
