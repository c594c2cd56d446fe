//! The maintenance shard: one background thread that runs garbage collection, the scrub and
//! the expiry sweep on their schedules and when asked (admin API), and the statistics' full
//! scan, so that pushes and pulls never wait on them and no reactor runs a scan.
//!
//! ```text
//!  shard 0 ──┐  bounded queue  ┌───────────────────────────────────────────────────┐
//!  shard 1 ──┼───────────────▶ │ berth-maintenance: gc │ scrub │ expiry │ stats      │ ─▶ reports
//!            │  (reply: oneshot)│                  (timers for the first three)     │   (RocksDB)
//!                              └───────────────────────────────────────────────────┘
//! ```
//!
//! One run at a time: a request that arrives while a run is going waits its turn (the queue is
//! small; a full queue is reported, not blocked on). Reports are stored in the metadata, so
//! every shard can serve the last one without sharing memory with this thread.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use berth_engine::{Engine, FsckOptions, FsckReport, GcOptions, GcReport, Severity, StorageStats};
use futures_channel::oneshot;

use crate::api::wire::ExpiryReport;
use crate::config::Config;

const QUEUE_MAX: usize = 8;

enum Request {
    Gc {
        dry_run: bool,
        reply: oneshot::Sender<Result<GcReport, String>>,
    },
    Scrub {
        reply: oneshot::Sender<Result<FsckReport, String>>,
    },
    Stats {
        reply: oneshot::Sender<Result<StorageStats, String>>,
    },
    Expire {
        reply: oneshot::Sender<Result<ExpiryReport, String>>,
    },
}

/// How shards ask the maintenance shard for a run.
#[derive(Clone)]
pub struct MaintenanceHandle {
    queue: SyncSender<Request>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{QUEUE_MAX} maintenance runs are already waiting")]
    Busy,
    #[error("the maintenance shard has stopped")]
    Stopped,
    #[error("{0}")]
    Failed(String),
}

impl MaintenanceHandle {
    pub async fn gc(&self, dry_run: bool) -> Result<GcReport, RunError> {
        let (reply, answer) = oneshot::channel();
        self.send(Request::Gc { dry_run, reply })?;
        answer
            .await
            .map_err(|_| RunError::Stopped)?
            .map_err(RunError::Failed)
    }

    pub async fn scrub(&self) -> Result<FsckReport, RunError> {
        let (reply, answer) = oneshot::channel();
        self.send(Request::Scrub { reply })?;
        answer
            .await
            .map_err(|_| RunError::Stopped)?
            .map_err(RunError::Failed)
    }

    /// Storage accounting: a full scan, so it runs here rather than on a shard.
    pub async fn stats(&self) -> Result<StorageStats, RunError> {
        let (reply, answer) = oneshot::channel();
        self.send(Request::Stats { reply })?;
        answer
            .await
            .map_err(|_| RunError::Stopped)?
            .map_err(RunError::Failed)
    }

    /// The expiry sweep, now.
    pub async fn expire(&self) -> Result<ExpiryReport, RunError> {
        let (reply, answer) = oneshot::channel();
        self.send(Request::Expire { reply })?;
        answer
            .await
            .map_err(|_| RunError::Stopped)?
            .map_err(RunError::Failed)
    }

    fn send(&self, request: Request) -> Result<(), RunError> {
        self.queue.try_send(request).map_err(|e| match e {
            TrySendError::Full(_) => RunError::Busy,
            TrySendError::Disconnected(_) => RunError::Stopped,
        })
    }
}

/// The running maintenance shard; [`MaintenanceShard::stop`] ends it.
pub struct MaintenanceShard {
    thread: JoinHandle<()>,
    stop: Arc<AtomicBool>,
}

impl MaintenanceShard {
    /// Asks the current run to stop at its next item and waits for the thread.
    pub fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
    }
}

pub fn gc_options(config: &Config, dry_run: bool) -> GcOptions {
    GcOptions {
        grace_ms: config.gc.grace_period_s.saturating_mul(1000),
        untagged_manifests: config.gc.delete_untagged_manifests,
        unreferenced_links: config.gc.collect_unreferenced_links,
        ops_per_s: config.gc.ops_per_s,
        dry_run,
    }
}

pub fn scrub_options(config: &Config) -> FsckOptions {
    FsckOptions {
        repair: false,
        verify_digests: true,
        threads: config.scrub.threads.max(1),
        read_bytes_per_s: config.scrub.read_bytes_per_s,
        online: true,
        grace_ms: config.gc.grace_period_s.saturating_mul(1000),
    }
}

pub fn start(
    engine: Engine,
    config: Arc<Config>,
) -> std::io::Result<(MaintenanceShard, MaintenanceHandle)> {
    let (queue, requests) = mpsc::sync_channel::<Request>(QUEUE_MAX);
    let stop = Arc::new(AtomicBool::new(false));
    let thread = {
        let stop = stop.clone();
        std::thread::Builder::new()
            .name("berth-maintenance".into())
            .spawn(move || run(engine, config, requests, stop))?
    };
    Ok((
        MaintenanceShard { thread, stop },
        MaintenanceHandle { queue },
    ))
}

fn every(seconds: u64) -> Option<Duration> {
    (seconds > 0).then(|| Duration::from_secs(seconds))
}

fn run(
    engine: Engine,
    config: Arc<Config>,
    requests: mpsc::Receiver<Request>,
    stop: Arc<AtomicBool>,
) {
    let gc_every = every(config.gc.interval_s);
    let expiry_every = every(config.uploads.expiry_sweep_interval_s.max(1));
    let mut next_expiry = expiry_every.map(|d| Instant::now() + d);
    let scrub_every = every(config.scrub.interval_s);
    let mut next_gc = gc_every.map(|d| Instant::now() + d);
    let mut next_scrub = scrub_every.map(|d| Instant::now() + d);
    const POLL: Duration = Duration::from_millis(200);
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        if next_gc.is_some_and(|t| t <= now) {
            let _ = collect(&engine, &config, false, &stop);
            next_gc = gc_every.map(|d| Instant::now() + d);
            continue;
        }
        if next_expiry.is_some_and(|t| t <= now) {
            let _ = expire(&engine, &config);
            next_expiry = expiry_every.map(|d| Instant::now() + d);
            continue;
        }
        if next_scrub.is_some_and(|t| t <= now) {
            let _ = scrub(&engine, &config, &stop);
            next_scrub = scrub_every.map(|d| Instant::now() + d);
            continue;
        }
        // Wake for requests, for the next scheduled run, and to notice `stop`.
        match requests.recv_timeout(POLL) {
            Ok(Request::Gc { dry_run, reply }) => {
                let _ = reply.send(collect(&engine, &config, dry_run, &stop));
            }
            Ok(Request::Scrub { reply }) => {
                let _ = reply.send(scrub(&engine, &config, &stop));
            }
            Ok(Request::Expire { reply }) => {
                let _ = reply.send(expire(&engine, &config));
            }
            Ok(Request::Stats { reply }) => {
                let _ = reply.send(engine.storage_stats().map_err(|e| e.to_string()));
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                // Every shard is gone; only the schedule is left, and the process is ending.
                return;
            }
        }
    }
}

fn collect(
    engine: &Engine,
    config: &Config,
    dry_run: bool,
    stop: &AtomicBool,
) -> Result<GcReport, String> {
    let started = Instant::now();
    match engine.gc(&gc_options(config, dry_run), stop) {
        Ok(report) => {
            tracing::info!(
                dry_run,
                manifests = report.manifests_deleted,
                links = report.links_removed,
                blobs = report.blobs_deleted,
                bytes = report.bytes_reclaimed(),
                orphan_files = report.orphan_files_removed,
                kept_on_recheck = report.kept_on_recheck,
                ms = started.elapsed().as_millis() as u64,
                "garbage collection finished"
            );
            if !dry_run {
                if let Err(e) = engine.save_gc_report(&report) {
                    tracing::warn!(error = %e, "could not store the gc report");
                }
            }
            Ok(report)
        }
        Err(e) => {
            tracing::warn!(error = %e, "garbage collection failed");
            Err(e.to_string())
        }
    }
}

fn scrub(engine: &Engine, config: &Config, stop: &AtomicBool) -> Result<FsckReport, String> {
    let started = Instant::now();
    match engine.fsck(&scrub_options(config), stop) {
        Ok(report) => {
            const LOGGED_MAX: usize = 100;
            for f in report.findings.iter().take(LOGGED_MAX) {
                match f.severity {
                    Severity::Error => {
                        tracing::warn!(code = %f.code, subject = %f.subject, detail = %f.detail, "scrub found a problem")
                    }
                    Severity::Garbage => {
                        tracing::info!(code = %f.code, subject = %f.subject, detail = %f.detail, "scrub found garbage")
                    }
                }
            }
            tracing::info!(
                blobs = report.blobs_checked,
                bytes_verified = report.blob_bytes_verified,
                manifests = report.manifests_checked,
                errors = report.errors,
                garbage = report.garbage,
                ms = started.elapsed().as_millis() as u64,
                "scrub finished"
            );
            if let Err(e) = engine.save_scrub_report(&report) {
                tracing::warn!(error = %e, "could not store the scrub report");
            }
            Ok(report)
        }
        Err(e) => {
            tracing::warn!(error = %e, "scrub failed");
            Err(e.to_string())
        }
    }
}

/// Removes idle upload sessions, expired temporary credentials, and audit and trigger delivery
/// records past their retention (with access control off there are none of the last two).
fn expire(engine: &Engine, config: &Config) -> Result<ExpiryReport, String> {
    let retention_ms = config.auth.audit_retention_days.saturating_mul(86_400_000);
    let now = engine.clock().now_ms();
    let cutoff = now.saturating_sub(retention_ms);
    let record_cutoff = now.saturating_sub(
        config
            .webhooks
            .record_retention_days
            .saturating_mul(86_400_000),
    );
    match engine.expire(cutoff, record_cutoff) {
        Ok(counts) => {
            if counts != berth_engine::ExpiryCounts::default() {
                tracing::info!(
                    upload_sessions = counts.upload_sessions,
                    temporary_credentials = counts.temporary_credentials,
                    audit_records = counts.audit_records,
                    trigger_records = counts.trigger_records,
                    "expired"
                );
            }
            Ok(ExpiryReport {
                upload_sessions: counts.upload_sessions as u64,
                temporary_credentials: counts.temporary_credentials as u64,
                audit_records: counts.audit_records as u64,
                trigger_records: counts.trigger_records as u64,
            })
        }
        Err(e) => {
            tracing::warn!(error = %e, "expiry sweep failed");
            Err(e.to_string())
        }
    }
}
