//! `--background-gc`: keeps the registry's garbage collector busy during a scenario's timed
//! phase, to measure what collecting costs the requests that run beside it.
//!
//! ```text
//!  setup (untimed)  POST /api/v1/admin/gc once: proves the endpoint, clears older garbage
//!                   the scenario's own setup (its blobs referenced from a tagged manifest)
//!                   push `--background-gc` unreferenced blobs into <prefix>/garbage
//!  timed phase      workers   ───────────── the scenario's operations ─────────────▶
//!                   gc thread [POST /api/v1/admin/gc][push refill][POST /api/v1/admin/gc]…
//!  after            the collection in flight when the phase ends is waited for (not timed),
//!                   so that the next run starts on a quiet registry
//! ```
//!
//! Garbage is blobs uploaded into a repository that no manifest references. With the
//! registry's grace period at 0, each one costs Berth's collector three paced writer jobs (the
//! repository link, the blob row, the file). Garbage pushed during the phase (`--gc-refill-blobs`
//! between two collections, so that every collection has work) is load of its own; the report
//! says how much of the phase it took, and a large `--background-gc` leaves no refill to do
//! inside a short phase at all.
//!
//! With `--gc-idle` the garbage is pushed the same way and nothing is collected: a control
//! that separates what collecting costs from what the setup's pushes leave behind (memtables
//! to flush, a warmer or colder cache).
//!
//! The task runs on its own thread and current-thread runtime, so its CPU time is measured on
//! its own (the thread's CPU clock) and reported beside the whole client's.
//!
//! Meant for the pull scenarios (pull-blob and pull-range reference their blobs from a tagged
//! manifest under this option; the others' blobs are image layers). Scenarios that push race
//! a collector whose grace period is 0, by design: a blob can go between its upload and the
//! manifest that references it.
//!
//! Berth-specific: the admin API is not part of the distribution specification, and a
//! registry without it is reported as not supporting the option (exit status 3).

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use bytes::Bytes;
use http::{Method, StatusCode};
use serde::{Deserialize, Serialize};

use crate::client::{Conn, Failure};
use crate::fixtures::{Blob, Rng};
use crate::procstat;
use crate::registry;
use crate::runner::{self, Setup};
use crate::scenarios::Unsupported;
use crate::units::Size;

/// Berth's "collect now" endpoint: answers when the collection has finished.
const GC_PATH: &str = "/api/v1/admin/gc";
/// Largest GC report read.
const GC_REPORT_BYTES_MAX: usize = 64 << 10;
/// Failures of the background task quoted in the report.
const FAILURES_KEPT_MAX: usize = 4;
/// Pause after a failed collection, so that a refusing registry does not turn into a spin.
const RETRY_PAUSE: Duration = Duration::from_millis(200);
/// Random streams from 2^40 up are garbage blobs (setups use streams below 2^32, the timed
/// phase's workers 2^32 + worker id).
const STREAM_GARBAGE: u64 = 1 << 40;

#[derive(clap::Args, Clone, Debug)]
pub struct BackgroundGcArgs {
    /// Keep garbage collection running through the timed phase (Berth's
    /// `POST /api/v1/admin/gc`, in a loop): push this many unreferenced blobs in setup first.
    /// The registry must run with `[gc] grace_period_s = 0`.
    #[arg(long = "background-gc", global = true, value_name = "BLOBS")]
    pub initial_blobs: Option<usize>,
    /// Unreferenced blobs pushed between two background collections (inside the timed phase).
    #[arg(
        long = "gc-refill-blobs",
        global = true,
        default_value_t = 2000,
        value_name = "BLOBS"
    )]
    pub refill_blobs: usize,
    /// Size of each garbage blob.
    #[arg(long = "gc-blob-size", global = true, default_value = "4KiB")]
    pub blob_size: Size,
    /// Connections the background task pushes refill garbage over.
    #[arg(long = "gc-push-concurrency", global = true, default_value_t = 2)]
    pub push_concurrency: usize,
    /// Push the garbage of `--background-gc` but collect nothing during the timed phase: a
    /// control for what the setup's pushes alone do to the phase.
    #[arg(long = "gc-idle", global = true, requires = "initial_blobs")]
    pub idle: bool,
}

/// What the background collections did, in the JSON line as `background_gc`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BackgroundGcReport {
    /// Garbage blobs pushed in setup, before the timed phase.
    pub initial_blobs: u64,
    pub blob_bytes: u64,
    /// Collections started during the timed phase (the last one may end after it).
    pub runs: u64,
    pub blobs_deleted: u64,
    pub links_removed: u64,
    pub blob_bytes_reclaimed: u64,
    pub kept_on_recheck: u64,
    /// The runs' durations added up, as the registry reports them (`started_at_ms` to
    /// `finished_at_ms`).
    pub gc_s: f64,
    /// `blobs_deleted / gc_s`: the collector's pace while it runs.
    pub blobs_deleted_per_s: f64,
    /// Share of the timed phase during which a collection was in flight (the client's view).
    pub busy_fraction: f64,
    /// Garbage pushed during the timed phase between collections, and the share of the phase
    /// the pushing took.
    pub refill_blobs_pushed: u64,
    pub refill_fraction: f64,
    /// How long the last collection went on after the timed phase (waited for, not timed).
    pub overrun_s: f64,
    /// CPU seconds of the background task's thread, from the start of the timed phase until
    /// its last collection ended: part of the run's `client_cpu_s`.
    pub client_cpu_s: f64,
    /// Failed collections or refills, and the first few of them described.
    pub errors: u64,
    pub failures: Vec<String>,
}

/// The fields of Berth's GC report the benchmark uses.
#[derive(Clone, Debug, Deserialize)]
struct GcRunReport {
    started_at_ms: u64,
    finished_at_ms: u64,
    blobs_deleted: u64,
    #[serde(default)]
    links_removed: u64,
    #[serde(default)]
    blob_bytes_reclaimed: u64,
    #[serde(default)]
    kept_on_recheck: u64,
}

/// A collection that did not happen as asked.
struct CollectFailure {
    /// The registry's answer, when it answered with another status than 200.
    status: Option<StatusCode>,
    failure: Failure,
}

impl From<Failure> for CollectFailure {
    fn from(failure: Failure) -> CollectFailure {
        CollectFailure {
            status: None,
            failure,
        }
    }
}

/// `POST /api/v1/admin/gc` → 200 with the run's report, once the run has finished.
async fn collect(conn: &mut Conn) -> Result<GcRunReport, CollectFailure> {
    let method = Method::POST;
    let response = conn
        .send(method.clone(), GC_PATH, &[], Bytes::new())
        .await?;
    let status = response.status();
    if status != StatusCode::OK {
        let body = conn.read_excerpt(response.into_body()).await;
        return Err(CollectFailure {
            status: Some(status),
            failure: Failure::new(
                &method,
                GC_PATH,
                format!("status {status}, expected 200 OK; {body}"),
            ),
        });
    }
    let body = conn
        .collect(response.into_body(), GC_REPORT_BYTES_MAX)
        .await
        .map_err(|e| Failure::new(&method, GC_PATH, e))?;
    let report = serde_json::from_slice(&body).map_err(|e| {
        Failure::new(
            &method,
            GC_PATH,
            format!(
                "not a GC report ({e}): {}",
                String::from_utf8_lossy(&body[..body.len().min(200)])
            ),
        )
    })?;
    Ok(report)
}

/// Runs one collection before anything is pushed: shows that the registry has the endpoint
/// (a registry without it is `Unsupported`) and removes garbage earlier runs left, so that
/// every measured run starts from the same state.
pub async fn probe(setup: &Setup) -> anyhow::Result<()> {
    let mut conn = setup.conn();
    let report = match collect(&mut conn).await {
        Ok(report) => report,
        Err(CollectFailure {
            status: Some(StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED),
            failure,
        }) => {
            return Err(Unsupported(format!(
                "--background-gc needs Berth's admin API: {failure}"
            ))
            .into())
        }
        Err(CollectFailure { failure, .. }) => {
            return Err(anyhow!("a collection before setup: {failure}"))
        }
    };
    eprintln!(
        "background gc: a collection before setup deleted {} blobs in {} ms",
        report.blobs_deleted,
        report.finished_at_ms.saturating_sub(report.started_at_ms)
    );
    Ok(())
}

/// Pushes garbage blobs `first..first + count` into `<prefix>/garbage` over the setup's
/// connections, skipping whatever is left once `deadline` (if any) has passed. Returns how many
/// were pushed.
async fn push_garbage(
    setup: &Setup,
    first: u64,
    count: usize,
    size: Size,
    deadline: Option<Instant>,
) -> anyhow::Result<u64> {
    let repo = garbage_repo(&setup.prefix);
    let pushed = Cell::new(0u64);
    setup
        .run_jobs(count, |mut conn, i| {
            let (repo, pushed) = (&repo, &pushed);
            async move {
                if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                    return (conn, Ok(()));
                }
                let mut rng = Rng::derive(setup.seed, STREAM_GARBAGE + first + i as u64);
                let blob = Blob::random(&mut rng, size.bytes());
                let result = registry::push_blob(&mut conn, repo, &blob, None).await;
                if result.is_ok() {
                    pushed.set(pushed.get() + 1);
                }
                (conn, result)
            }
        })
        .await?;
    Ok(pushed.get())
}

fn garbage_repo(prefix: &str) -> String {
    format!("{prefix}/garbage")
}

/// Pushes the garbage the first background collection starts with (untimed).
pub async fn push_initial(args: &BackgroundGcArgs, setup: &Setup) -> anyhow::Result<()> {
    let count = args.initial_blobs.unwrap_or(0);
    anyhow::ensure!(
        args.blob_size.bytes() > 0,
        "--gc-blob-size must be at least 1 byte"
    );
    let started = Instant::now();
    let pushed = push_garbage(setup, 0, count, args.blob_size, None)
        .await
        .context("pushing garbage for --background-gc")?;
    eprintln!(
        "background gc: pushed {pushed} garbage blobs of {} in {:.1} s",
        args.blob_size,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// One collection or refill, in seconds from the start of the timed phase.
#[derive(Clone, Copy, Debug)]
struct Span {
    start_s: f64,
    end_s: f64,
}

impl Span {
    /// Seconds of this span within `0..phase_s`.
    fn within(self, phase_s: f64) -> f64 {
        (self.end_s.min(phase_s) - self.start_s.max(0.0)).max(0.0)
    }
}

/// What the background thread saw.
#[derive(Default)]
struct Log {
    runs: Vec<(Span, GcRunReport)>,
    refills: Vec<Span>,
    refill_blobs_pushed: u64,
    client_cpu_s: f64,
    errors: u64,
    failures: Vec<String>,
}

impl Log {
    fn fail(&mut self, description: String) {
        self.errors += 1;
        if self.failures.len() < FAILURES_KEPT_MAX {
            self.failures.push(description);
        }
    }
}

/// The background thread, started before the timed phase and waiting for its start.
pub struct BackgroundGc {
    initial_blobs: u64,
    blob_bytes: u64,
    start: Option<mpsc::Sender<Instant>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<anyhow::Result<Log>>>,
}

impl BackgroundGc {
    /// Spawns the thread; it does nothing until [`BackgroundGc::start`].
    pub fn spawn(args: &BackgroundGcArgs, setup: &Setup) -> anyhow::Result<BackgroundGc> {
        let (start, started) = mpsc::channel::<Instant>();
        let stop = Arc::new(AtomicBool::new(false));
        let initial_blobs = args.initial_blobs.unwrap_or(0) as u64;
        let idle = args.idle;
        let task = Task {
            setup: Setup {
                target: Arc::clone(&setup.target),
                concurrency: args.push_concurrency.max(1),
                workers: 0,
                prefix: setup.prefix.clone(),
                seed: setup.seed,
                reference_blobs: false,
            },
            refill_blobs: args.refill_blobs,
            blob_size: args.blob_size,
            next_blob: initial_blobs,
            stop: Arc::clone(&stop),
        };
        let thread = std::thread::Builder::new()
            .name("background-gc".to_owned())
            .spawn(move || {
                let Ok(deadline) = started.recv() else {
                    return Ok(Log::default()); // the run ended before its timed phase
                };
                if idle {
                    return Ok(Log::default());
                }
                task.run(deadline)
            })
            .context("spawning the background-gc thread")?;
        Ok(BackgroundGc {
            initial_blobs,
            blob_bytes: args.blob_size.bytes(),
            start: Some(start),
            stop,
            thread: Some(thread),
        })
    }

    /// Starts collecting now, until `duration` from now (or [`BackgroundGc::finish`]).
    pub fn start(&mut self, duration: Duration) {
        if let Some(start) = self.start.take() {
            // A thread that already ended reports why in `finish`.
            let _ = start.send(Instant::now() + duration);
        }
    }

    /// Stops after the collection in flight, waits for it, and reports against a timed phase
    /// of `phase_s` seconds.
    pub fn finish(mut self, phase_s: f64) -> anyhow::Result<BackgroundGcReport> {
        self.stop.store(true, Ordering::Relaxed);
        self.start = None;
        let thread = self.thread.take().expect("finish is called once");
        let log = thread
            .join()
            .map_err(|_| anyhow!("the background-gc thread panicked"))??;
        Ok(report(self.initial_blobs, self.blob_bytes, &log, phase_s))
    }
}

impl Drop for BackgroundGc {
    fn drop(&mut self) {
        // On an error path: let the thread end on its own after its current collection.
        self.stop.store(true, Ordering::Relaxed);
        self.start = None;
    }
}

fn report(initial_blobs: u64, blob_bytes: u64, log: &Log, phase_s: f64) -> BackgroundGcReport {
    let phase_s = phase_s.max(1e-9);
    let mut report = BackgroundGcReport {
        initial_blobs,
        blob_bytes,
        runs: log.runs.len() as u64,
        refill_blobs_pushed: log.refill_blobs_pushed,
        client_cpu_s: log.client_cpu_s,
        errors: log.errors,
        failures: log.failures.clone(),
        ..BackgroundGcReport::default()
    };
    let mut busy_s = 0.0;
    for (span, run) in &log.runs {
        report.blobs_deleted += run.blobs_deleted;
        report.links_removed += run.links_removed;
        report.blob_bytes_reclaimed += run.blob_bytes_reclaimed;
        report.kept_on_recheck += run.kept_on_recheck;
        report.gc_s += run.finished_at_ms.saturating_sub(run.started_at_ms) as f64 / 1000.0;
        busy_s += span.within(phase_s);
        report.overrun_s = report.overrun_s.max(span.end_s - phase_s);
    }
    if report.gc_s > 0.0 {
        report.blobs_deleted_per_s = report.blobs_deleted as f64 / report.gc_s;
    }
    report.busy_fraction = busy_s / phase_s;
    let refill_s = log
        .refills
        .iter()
        .fold(0.0, |sum, s| sum + s.within(phase_s));
    report.refill_fraction = refill_s / phase_s;
    report
}

/// What the background thread owns.
struct Task {
    /// Where to push refills, over how many connections, under which names and seed.
    setup: Setup,
    refill_blobs: usize,
    blob_size: Size,
    /// Index of the next garbage blob (its random stream).
    next_blob: u64,
    stop: Arc<AtomicBool>,
}

impl Task {
    fn run(mut self, deadline: Instant) -> anyhow::Result<Log> {
        let started = Instant::now();
        let cpu_before = procstat::thread_cpu_seconds();
        let mut log = runner::block_on(self.collect_until(deadline, started))?;
        log.client_cpu_s = procstat::thread_cpu_seconds() - cpu_before;
        Ok(log)
    }

    fn over(&self, deadline: Instant) -> bool {
        self.stop.load(Ordering::Relaxed) || Instant::now() >= deadline
    }

    async fn collect_until(&mut self, deadline: Instant, started: Instant) -> Log {
        let since = |at: Instant| at.duration_since(started).as_secs_f64();
        let mut log = Log::default();
        let mut conn = self.setup.conn();
        while !self.over(deadline) {
            let run_started = Instant::now();
            match collect(&mut conn).await {
                Ok(run) => {
                    let span = Span {
                        start_s: since(run_started),
                        end_s: since(Instant::now()),
                    };
                    log.runs.push((span, run));
                }
                Err(CollectFailure { failure, .. }) => {
                    log.fail(failure.to_string());
                    tokio::time::sleep(RETRY_PAUSE).await;
                    continue;
                }
            }
            if self.over(deadline) || self.refill_blobs == 0 {
                continue;
            }
            let refill_started = Instant::now();
            let pushed = push_garbage(
                &self.setup,
                self.next_blob,
                self.refill_blobs,
                self.blob_size,
                Some(deadline),
            )
            .await;
            self.next_blob += self.refill_blobs as u64;
            log.refills.push(Span {
                start_s: since(refill_started),
                end_s: since(Instant::now()),
            });
            match pushed {
                Ok(pushed) => log.refill_blobs_pushed += pushed,
                Err(e) => {
                    log.fail(format!("refill: {e:#}"));
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
            }
        }
        log
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(start_s: f64, end_s: f64, blobs_deleted: u64, gc_ms: u64) -> (Span, GcRunReport) {
        (
            Span { start_s, end_s },
            GcRunReport {
                started_at_ms: 1_000,
                finished_at_ms: 1_000 + gc_ms,
                blobs_deleted,
                links_removed: blobs_deleted,
                blob_bytes_reclaimed: blobs_deleted * 4096,
                kept_on_recheck: 0,
            },
        )
    }

    #[test]
    fn the_report_adds_runs_and_clips_them_to_the_phase() {
        let log = Log {
            runs: vec![run(0.0, 4.0, 1000, 3900), run(5.0, 12.0, 2000, 6900)],
            refills: vec![Span {
                start_s: 4.0,
                end_s: 5.0,
            }],
            refill_blobs_pushed: 2000,
            client_cpu_s: 0.25,
            errors: 0,
            failures: Vec::new(),
        };
        let report = report(1000, 4096, &log, 10.0);
        assert_eq!(report.runs, 2);
        assert_eq!(report.blobs_deleted, 3000);
        assert!((report.gc_s - 10.8).abs() < 1e-9);
        assert!((report.blobs_deleted_per_s - 3000.0 / 10.8).abs() < 1e-9);
        // 4 s of the first run and 5 of the second fall inside the 10 s phase.
        assert!((report.busy_fraction - 0.9).abs() < 1e-9);
        assert!((report.refill_fraction - 0.1).abs() < 1e-9);
        assert!((report.overrun_s - 2.0).abs() < 1e-9);
    }

    #[test]
    fn berths_gc_report_parses() {
        let body = r#"{"dry_run": false, "started_at_ms": 10, "finished_at_ms": 25,
            "manifests_deleted": 0, "links_removed": 3, "blobs_deleted": 2,
            "blob_bytes_reclaimed": 8192, "manifest_bodies_deleted": 0,
            "orphan_files_removed": 0, "orphan_bytes_reclaimed": 0, "kept_on_recheck": 1}"#;
        let run: GcRunReport = serde_json::from_str(body).expect("parses");
        assert_eq!(run.blobs_deleted, 2);
        assert_eq!(run.links_removed, 3);
        assert_eq!(run.finished_at_ms - run.started_at_ms, 15);
    }
}
