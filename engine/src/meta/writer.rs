//! The metadata writer thread: serialised write jobs, group commit.
//!
//! ```text
//!  shard 0 ──┐                      ┌─ job 1: checks, batch → write (no sync)
//!  shard 1 ──┼─ bounded queue ──▶   ├─ job 2: checks see job 1, batch → write (no sync)
//!  CLI     ──┘  (write_queue_max)   ├─ …up to write_group_max jobs
//!                                   └─ one WAL fsync, then every caller in the group is answered
//! ```
//!
//! Jobs are closures so that a check and the write it guards happen with no other write in
//! between. Jobs must be short: they run on the only thread that writes.
//!
//! **Visible before durable.** A job's batch is applied to RocksDB (its memtable) as soon as
//! the job has run, before the group's WAL fsync: later jobs of the group must see it (that is
//! what makes check-then-write atomic), and inline readers on the shards see it too. So for
//! the length of one fsync a client may read a write that no caller has been told succeeded —
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

use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError, TrySendError};

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
    let mut completions: Vec<Completion> = Vec::with_capacity(group_max);
    while let Ok(first) = jobs.recv() {
        completions.push(first(&reader));
        while completions.len() < group_max {
            match jobs.try_recv() {
                Ok(job) => completions.push(job(&reader)),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        assert!(
            completions.len() <= group_max,
            "a group of {} jobs exceeds write_group_max {group_max}",
            completions.len()
        );
        let synced = reader.db.flush_wal(true);
        if let Err(e) = &synced {
            tracing::error!(error = %e, "metadata WAL fsync failed; failing the whole group");
        }
        for completion in completions.drain(..) {
            completion(synced.clone().map_err(MetaError::Db));
        }
        if let Err(e) = synced {
            // After a failed fsync the kernel may have dropped the dirty pages it could not
            // write and cleared the error: a retry could "succeed" without the data on disk
            // (PostgreSQL's fsyncgate). What is durable is unknowable, so the process ends
            // and the next start recovers from the WAL as it is on disk — the policy of
            // PostgreSQL and neon. The callers above were told their writes failed.
            panic!("metadata WAL fsync failed ({e}); exiting so recovery starts from disk");
        }
    }
}
