//! The metadata writer thread: serialised write jobs, pipelined group commit.
//!
//! ```text
//!  shard 0 ──┐                      berth-meta-writer              berth-meta-sync
//!  shard 1 ──┼─ bounded queue ──▶   job 1: checks, batch → write ─┐
//!  CLI     ──┘  (write_queue_max)   job 2: sees job 1 → write ────┼▶ one WAL fsync for all
//!                                   job 3 … (while that fsync runs)│  written, then their
//!                                   at most write_group_max waiting┘  callers are answered
//! ```
//!
//! The sync thread takes every job written since its last fsync began, so an fsync covers
//! exactly the jobs it answers, and the writer's work overlaps the fsync before it.
//!
//! Jobs are closures so that a check and the write it guards happen with no other write in
//! between. Jobs must be short: they run on the only thread that writes.
//!
//! **Visible before durable.** A job's batch is applied to RocksDB (its memtable) as soon as
//! the job has run, before the group's WAL fsync: later jobs of the group must see it (that is
//! what makes check-then-write atomic), and inline readers on the shards see it too. So for
//! the length of up to two fsyncs a client may read a write that no caller has been told succeeded —
//! a manifest being pushed, say. That is harmless because every write is data the writer's
//! own checks made consistent (a tag never points at a missing manifest, a blob row never
//! names missing bytes), and what was visible but not yet durable is lost only by a crash,
//! after which it was never acknowledged: clients retry unacknowledged pushes. Nothing
//! outside the store (a webhook, a reply) may act on a write before its group is durable:
//! callers are answered only after the fsync.
//!
//! **A failed WAL fsync ends the process.** The group is failed (its callers see the error)
//! and then the writer panics: after a failed fsync the kernel may have dropped the pages it
//! could not write, so neither a retry nor carrying on can know what is durable; the next
//! start recovers from what is on disk (PostgreSQL's and neon's policy).

use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};

use futures_channel::oneshot;
use rocksdb::{WriteBatch, WriteOptions};

use super::{encode_json, MetaError, MetaOptions, Reader};

/// What a write job sees: the store as of every earlier job, and the batch it is building.
/// Reads do not see the job's own pending batch.
pub struct WriteCtx<'a> {
    reader: &'a Reader,
    batch: WriteBatch,
}

impl std::ops::Deref for WriteCtx<'_> {
    type Target = Reader;
    fn deref(&self) -> &Reader {
        self.reader
    }
}

impl WriteCtx<'_> {
    pub fn put_raw(&mut self, cf: &str, key: &[u8], value: &[u8]) {
        let handle = self.reader.cf(cf);
        self.batch.put_cf(handle, key, value);
    }

    pub fn put_json<T: serde::Serialize>(&mut self, cf: &str, key: &[u8], value: &T) {
        let bytes = encode_json(value);
        self.put_raw(cf, key, &bytes);
    }

    pub fn delete(&mut self, cf: &str, key: &[u8]) {
        let handle = self.reader.cf(cf);
        self.batch.delete_cf(handle, key);
    }
}

/// Called once the group holding the job is durable (or failed to become so).
type Completion = Box<dyn FnOnce(Result<(), MetaError>) + Send>;
type Job = Box<dyn FnOnce(&Reader) -> Completion + Send>;

#[derive(Clone)]
pub(super) struct WriterHandle {
    queue: SyncSender<Job>,
    queue_max: usize,
    /// Set by the writer thread once it has ended and dropped its handle on the store.
    pub(super) exited: std::sync::Arc<(std::sync::Mutex<bool>, std::sync::Condvar)>,
}

impl WriterHandle {
    pub(super) fn start(reader: Reader, options: &MetaOptions) -> Result<Self, MetaError> {
        let (queue, jobs) = mpsc::sync_channel::<Job>(options.write_queue_max);
        let group_max = options.write_group_max.max(1);
        let exited = std::sync::Arc::new((std::sync::Mutex::new(false), std::sync::Condvar::new()));
        let signal = exited.clone();
        std::thread::Builder::new()
            .name("berth-meta-writer".into())
            .spawn(move || {
                // `run` owns the reader: when it returns, this thread's handle on the store is
                // dropped — and if it was the last one, the store is closed — before the flag.
                run(reader, jobs, group_max);
                let (lock, condvar) = &*signal;
                *lock.lock().unwrap_or_else(|p| p.into_inner()) = true;
                condvar.notify_all();
            })
            .map_err(MetaError::ThreadStart)?;
        Ok(Self {
            queue,
            queue_max: options.write_queue_max,
            exited,
        })
    }

    pub(super) async fn submit<R, E, F>(&self, job: F) -> Result<R, E>
    where
        R: Send + 'static,
        E: From<MetaError> + Send + 'static,
        F: FnOnce(&mut WriteCtx<'_>) -> Result<R, E> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel::<Result<R, E>>();
        let boxed: Job = Box::new(move |reader: &Reader| -> Completion {
            let mut ctx = WriteCtx {
                reader,
                batch: WriteBatch::default(),
            };
            let outcome = job(&mut ctx);
            let written = match &outcome {
                Ok(_) if !ctx.batch.is_empty() => {
                    let mut opts = WriteOptions::default();
                    // Durability comes from the group's WAL fsync below.
                    opts.set_sync(false);
                    reader
                        .db
                        .write_opt(ctx.batch, &opts)
                        .map_err(MetaError::from)
                }
                _ => Ok(()),
            };
            Box::new(move |synced: Result<(), MetaError>| {
                let result = match (outcome, written.and(synced)) {
                    (Ok(value), Ok(())) => Ok(value),
                    (Ok(_), Err(e)) => Err(E::from(e)),
                    (Err(refused), _) => Err(refused),
                };
                // The caller may have gone away (client disconnected); nothing to do then.
                let _ = reply.send(result);
            })
        });
        match self.queue.try_send(boxed) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                return Err(E::from(MetaError::Overloaded {
                    max: self.queue_max,
                }))
            }
            Err(TrySendError::Disconnected(_)) => return Err(E::from(MetaError::WriterStopped)),
        }
        answer
            .await
            .unwrap_or_else(|_| Err(E::from(MetaError::WriterStopped)))
    }
}

fn run(reader: Reader, jobs: Receiver<Job>, group_max: usize) {
    let pipe = std::sync::Arc::new(SyncPipe::default());
    let syncer = {
        let (reader, pipe) = (reader.clone(), pipe.clone());
        std::thread::Builder::new()
            .name("berth-meta-sync".into())
            .spawn(move || sync_loop(&reader, &pipe))
    };
    let syncer = match syncer {
        Ok(handle) => handle,
        Err(e) => {
            // No thread to sync on: sync inline, one job per fsync (correct, only slower).
            tracing::error!(error = %e, "cannot start the WAL sync thread; syncing inline");
            while let Ok(job) = jobs.recv() {
                let completion = job(&reader);
                let synced = reader.db.flush_wal(true);
                let failed = synced.is_err();
                completion(synced.map_err(MetaError::Db));
                if failed {
                    panic!("metadata WAL fsync failed; exiting so recovery starts from disk");
                }
            }
            return;
        }
    };
    'jobs: while let Ok(first) = jobs.recv() {
        let mut next = Some(first);
        while let Some(job) = next.take() {
            if !pipe.push(job(&reader), group_max) {
                break 'jobs;
            }
            next = jobs.try_recv().ok();
        }
    }
    pipe.close();
    // The sync thread panics after a failed fsync; its callers were answered by then.
    let _ = syncer.join();
    // Jobs still queued when the syncer failed are dropped with `jobs`: their callers see
    // the writer stopped.
}

/// Jobs written but not yet durable, between the writer thread and the sync thread.
#[derive(Default)]
struct SyncPipe {
    state: std::sync::Mutex<PipeState>,
    /// The sync thread waits on it for work; the writer for room.
    changed: std::sync::Condvar,
}

#[derive(Default)]
struct PipeState {
    pending: Vec<Completion>,
    /// No more jobs: the sync thread syncs what is pending and ends.
    closed: bool,
    /// An fsync failed: nothing written from now on can be made durable.
    failed: bool,
}

impl SyncPipe {
    fn lock(&self) -> std::sync::MutexGuard<'_, PipeState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Hands a written job's completion to the sync thread; waits while `group_max` are
    /// already waiting for an fsync. False (and the job failed) once an fsync has failed.
    fn push(&self, completion: Completion, group_max: usize) -> bool {
        let mut state = self.lock();
        while state.pending.len() >= group_max && !state.failed {
            state = self.changed.wait(state).unwrap_or_else(|p| p.into_inner());
        }
        if state.failed {
            drop(state);
            completion(Err(MetaError::WriterStopped));
            return false;
        }
        state.pending.push(completion);
        drop(state);
        self.changed.notify_all();
        true
    }

    fn close(&self) {
        self.lock().closed = true;
        self.changed.notify_all();
    }
}

/// The sync thread: one WAL fsync for everything written since the last one began, then every
/// caller of it is answered. While it syncs, the writer thread runs and writes the next jobs,
/// so their work overlaps the fsync instead of following it.
fn sync_loop(reader: &Reader, pipe: &SyncPipe) {
    loop {
        let group = {
            let mut state = pipe.lock();
            while state.pending.is_empty() && !state.closed {
                state = pipe.changed.wait(state).unwrap_or_else(|p| p.into_inner());
            }
            if state.pending.is_empty() {
                return;
            }
            std::mem::take(&mut state.pending)
        };
        pipe.changed.notify_all();
        // Every job in `group` wrote before it was pushed, so this fsync covers them all.
        let synced = reader.db.flush_wal(true);
        if let Err(e) = &synced {
            tracing::error!(error = %e, "metadata WAL fsync failed; failing the whole group");
            pipe.lock().failed = true;
            pipe.changed.notify_all();
        }
        for completion in group {
            completion(synced.clone().map_err(MetaError::Db));
        }
        if let Err(e) = synced {
            // Callers written after this group cannot be made durable either.
            let rest = std::mem::take(&mut pipe.lock().pending);
            for completion in rest {
                completion(Err(MetaError::Db(e.clone())));
            }
            // After a failed fsync the kernel may have dropped the dirty pages it could not
            // write and cleared the error: a retry could "succeed" without the data on disk
            // (PostgreSQL's fsyncgate). What is durable is unknowable, so the process ends
            // and the next start recovers from the WAL as it is on disk — the policy of
            // PostgreSQL and neon. The callers above were told their writes failed.
            panic!("metadata WAL fsync failed ({e}); exiting so recovery starts from disk");
        }
    }
}
