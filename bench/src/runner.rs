//! How a scenario runs: an untimed setup phase on one thread, then the timed phase with
//! `concurrency` workers spread over `client_threads` threads.
//!
//! Each client thread runs its own tokio current-thread runtime (no work stealing, no locks
//! between workers: the load generator shares the machine's cores with the server, so it must
//! be cheap per request). A worker owns one keep-alive connection and repeats its scenario's
//! operation until the deadline or the shared operation budget runs out. Connections are
//! opened before the clock starts; all threads start together on a barrier.
//!
//! **Invariant:** a failed operation is counted and described, never retried, and never stops
//! the run: the report shows how many failed and why.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use tokio::task::LocalSet;

use crate::client::{Conn, Failure, Target};
use crate::fixtures::Rng;
use crate::scenarios::Fixture;
use crate::stats::Recorder;

/// When the timed phase stops: at the deadline or after `ops_max` operations, whichever first.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub duration: Duration,
    pub ops_max: Option<u64>,
}

/// One concurrent client of the timed phase.
pub struct Worker {
    /// 0..concurrency, stable for the run: scenarios use it to give workers their own
    /// repositories and to spread them over fixtures.
    pub id: usize,
    pub conn: Conn,
    pub rng: Rng,
    /// Operations this worker has started.
    pub ops_started: u64,
}

/// What the setup phase of a scenario gets: where to push, how many connections to use, and
/// the run's names and seed.
pub struct Setup {
    pub target: Arc<Target>,
    /// Connections the setup pushes over.
    pub concurrency: usize,
    /// Workers of the timed phase that will follow.
    pub workers: usize,
    /// Every repository of the run starts with this, so runs never share repositories.
    pub prefix: String,
    pub seed: u64,
    /// Reference every blob the setup pushes from a tagged manifest, so that a garbage
    /// collection during the timed phase (`--background-gc`) keeps them. Scenarios whose
    /// blobs are image layers anyway need not do anything.
    pub reference_blobs: bool,
}

impl Setup {
    pub fn conn(&self) -> Conn {
        Conn::new(Arc::clone(&self.target))
    }

    /// Runs `jobs` numbered jobs over `concurrency` connections. A job gets a connection and
    /// its number and hands the connection back with its result; the first failure ends the
    /// setup.
    pub async fn run_jobs<F, Fut>(&self, jobs: usize, job: F) -> anyhow::Result<()>
    where
        F: Fn(Conn, usize) -> Fut,
        Fut: Future<Output = (Conn, Result<(), Failure>)>,
    {
        let next = std::cell::Cell::new(0usize);
        let lanes = (0..self.concurrency.min(jobs).max(1)).map(|_| async {
            let mut conn = self.conn();
            loop {
                let i = next.get();
                if i >= jobs {
                    return Ok(());
                }
                next.set(i + 1);
                let (returned, result) = job(conn, i).await;
                conn = returned;
                result?;
            }
        });
        futures_util::future::try_join_all(lanes)
            .await
            .map(|_| ())
            .map_err(|failure: Failure| anyhow!("setup failed: {failure}"))
    }
}

/// Runs `future` (a setup phase) to completion on a current-thread runtime of this thread.
pub fn block_on<T>(future: impl Future<Output = T>) -> anyhow::Result<T> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("building the tokio runtime")?;
    Ok(runtime.block_on(LocalSet::new().run_until(future)))
}

/// What the timed phase measured, with the hooks' samples taken at its start and end.
pub struct Timed<S> {
    pub recorder: Recorder,
    pub elapsed: Duration,
    pub at_start: S,
}

/// The timed phase. `at_start` runs on this thread right when the workers start, `at_end`
/// right after the last one finished (they sample CPU and memory counters).
pub fn run_timed<S>(
    fixture: Arc<Fixture>,
    target: Arc<Target>,
    concurrency: usize,
    client_threads: usize,
    limits: Limits,
    seed: u64,
    at_start: impl FnOnce() -> S,
) -> anyhow::Result<Timed<S>> {
    let client_threads = client_threads.clamp(1, concurrency.max(1));
    let barrier = Arc::new(Barrier::new(client_threads + 1));
    let ops_claimed = Arc::new(AtomicU64::new(0));
    let mut threads = Vec::with_capacity(client_threads);
    for thread_index in 0..client_threads {
        let worker_ids: Vec<usize> = (thread_index..concurrency)
            .step_by(client_threads)
            .collect();
        let fixture = Arc::clone(&fixture);
        let target = Arc::clone(&target);
        let barrier = Arc::clone(&barrier);
        let ops_claimed = Arc::clone(&ops_claimed);
        let thread = std::thread::Builder::new()
            .name(format!("client-{thread_index}"))
            .spawn(move || {
                client_thread(
                    fixture,
                    target,
                    worker_ids,
                    barrier,
                    ops_claimed,
                    limits,
                    seed,
                )
            })
            .context("spawning a client thread")?;
        threads.push(thread);
    }
    // Every thread reaches the barrier, even one whose runtime failed, so this cannot hang.
    let at_start = at_start();
    barrier.wait();
    let started = Instant::now();
    let mut recorder = Recorder::default();
    let mut first_error = None;
    for thread in threads {
        match thread.join() {
            Ok(Ok(thread_recorder)) => recorder.merge(&thread_recorder),
            Ok(Err(e)) => first_error = first_error.or(Some(e)),
            Err(_) => first_error = first_error.or(Some(anyhow!("a client thread panicked"))),
        }
    }
    let elapsed = started.elapsed();
    match first_error {
        Some(e) => Err(e),
        None => Ok(Timed {
            recorder,
            elapsed,
            at_start,
        }),
    }
}

fn client_thread(
    fixture: Arc<Fixture>,
    target: Arc<Target>,
    worker_ids: Vec<usize>,
    barrier: Arc<Barrier>,
    ops_claimed: Arc<AtomicU64>,
    limits: Limits,
    seed: u64,
) -> anyhow::Result<Recorder> {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            barrier.wait();
            return Err(anyhow!("building a tokio runtime: {e}"));
        }
    };
    let local = LocalSet::new();
    // Connect every worker before the clock starts.
    let workers = local.block_on(&runtime, async {
        let mut workers = Vec::with_capacity(worker_ids.len());
        for id in worker_ids {
            let mut conn = Conn::new(Arc::clone(&target));
            conn.connect()
                .await
                .map_err(|e| anyhow!("worker {id}: {e}"))?;
            workers.push(Worker {
                id,
                conn,
                // Stream 0 and below 2^32 belong to setups; workers get their own.
                rng: Rng::derive(seed, (1 << 32) + id as u64),
                ops_started: 0,
            });
        }
        anyhow::Ok(workers)
    });
    barrier.wait();
    let workers = workers?;
    let deadline = Instant::now() + limits.duration;
    local.block_on(&runtime, async move {
        let tasks: Vec<_> = workers
            .into_iter()
            .map(|worker| {
                let fixture = Arc::clone(&fixture);
                let ops_claimed = Arc::clone(&ops_claimed);
                tokio::task::spawn_local(run_worker(worker, fixture, ops_claimed, limits, deadline))
            })
            .collect();
        let mut recorder = Recorder::default();
        for task in tasks {
            let stats = task
                .await
                .map_err(|e| anyhow!("a worker task failed: {e}"))?;
            recorder.merge(&stats);
        }
        Ok(recorder)
    })
}

async fn run_worker(
    mut worker: Worker,
    fixture: Arc<Fixture>,
    ops_claimed: Arc<AtomicU64>,
    limits: Limits,
    deadline: Instant,
) -> Recorder {
    while Instant::now() < deadline {
        if let Some(ops_max) = limits.ops_max {
            if ops_claimed.fetch_add(1, Ordering::Relaxed) >= ops_max {
                break;
            }
        }
        let started = Instant::now();
        let result = fixture.op(&mut worker).await;
        worker.ops_started += 1;
        match result {
            Ok(()) => {
                worker.conn.stats.ops += 1;
                worker.conn.stats.op_latency.record(started.elapsed());
            }
            Err(failure) => {
                worker.conn.stats.fail(failure.to_string());
                // A registry that refuses connections must not turn this loop into a spin.
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    }
    worker.conn.stats
}
