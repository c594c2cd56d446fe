//! The transactional outbox: a tag write's events become delivery records (and, for triggers
//! they fire, outbox rows) in the same metadata writer job — the same RocksDB write batch — as
//! the tag write itself.
//!
//! ```text
//!  PUT manifest v1 ─▶ writer job: manifest rows, tag row,
//!                                 for each trigger of the repository subscribed to the event:
//!                                   filter matches ─▶ record PENDING + outbox row (due now)
//!                                   outbox full    ─▶ record OVERFLOW (logged, counted)
//!                                   no match       ─▶ record UNTRIGGERED, with the reason
//!                     ─▶ WAL fsync ─▶ client acknowledged ─▶ OutboxSignal wakes the delivery shard
//! ```
//!
//! Invariants: "tag written and acknowledged" implies "its records are durable", because they
//! are one batch; every `PENDING` or `RETRYING` record has exactly one outbox row, and the
//! outbox length counter counts the rows (both change only in writer jobs). Nothing here
//! delivers: the delivery shard reads the outbox only through a durability barrier
//! ([`super::Triggers::due`]), so no event of an unacknowledged write leaves the process.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use futures_channel::mpsc::{self, UnboundedReceiver, UnboundedSender};
use futures_lite::StreamExt;

use super::filter::RegexCache;
use super::{
    event_id, DeliveryRecord, DeliveryStatus, EventKind, OutboxEntry, RecordRef, TriggerOptions,
    TriggerRecord,
};
use crate::meta::schema::{self, RepoRecord, Visibility};
use crate::meta::{decode_json, MetaError, Reader, WriteCtx};
use crate::oci::{Digest, RepoName};

/// The most triggers of one repository a writer job reads (the configured limit is lower).
pub(crate) const TRIGGERS_PER_REPO_SCAN_MAX: usize = 1000;

/// One tag event of a write: a push that set the tag, or a delete that removed it.
#[derive(Debug, Clone)]
pub(crate) struct TagEvent {
    pub kind: EventKind,
    pub tag: String,
    pub digest: Digest,
}

/// What emitting needs besides the write: the limits and the compiled expressions.
#[derive(Clone)]
pub(crate) struct Emitter {
    pub options: TriggerOptions,
    pub regexes: RegexCache,
    pub signal: OutboxSignal,
}

/// Writes the records (and outbox rows) of `events` on `repo` into the job's batch. Returns
/// how many deliveries were queued; the caller notifies [`OutboxSignal`] once its write is
/// durable. One call per job: the counters are read once and written once.
pub(crate) fn emit(
    ctx: &mut WriteCtx<'_>,
    emitter: &Emitter,
    repo: &RepoName,
    at_ms: u64,
    events: &[TagEvent],
) -> Result<usize, MetaError> {
    if events.is_empty() {
        return Ok(0);
    }
    let rows = ctx.scan_prefix(
        schema::CF_TRIGGERS,
        &schema::repo_prefix(repo),
        None,
        TRIGGERS_PER_REPO_SCAN_MAX,
    )?;
    if rows.is_empty() {
        return Ok(0);
    }
    let mut triggers = Vec::with_capacity(rows.len());
    for (suffix, value) in &rows {
        triggers.push(decode_json::<TriggerRecord>(suffix, value)?);
    }
    let repo_record: Option<RepoRecord> =
        ctx.get_json(schema::CF_REPOS, repo.as_str().as_bytes())?;
    let (repo_created_at_ms, repo_public) = repo_record
        .map(|r| (r.created_at_ms, r.visibility == Visibility::Public))
        .unwrap_or((at_ms, false));
    let mut seq = read_counter(ctx, schema::TRIGGER_SEQ_KEY)?;
    let mut outbox_len = read_counter(ctx, schema::TRIGGER_OUTBOX_LEN_KEY)?;
    let mut overflowed = read_counter(ctx, schema::TRIGGER_OVERFLOWED_KEY)?;
    let (seq_before, overflowed_before) = (seq, overflowed);
    let mut queued = 0;
    for event in events {
        for trigger in triggers.iter().filter(|t| t.events.contains(&event.kind)) {
            seq += 1;
            let (status, reason) = match trigger.filter.check(&event.tag, &emitter.regexes) {
                Err(why) => (DeliveryStatus::Untriggered, Some(why)),
                Ok(()) if outbox_len >= emitter.options.outbox_events_max => {
                    overflowed += 1;
                    let why = format!(
                        "the outbox is full ({} deliveries waiting, webhooks.outbox_events_max); \
                         not queued: redeliver it once the receivers catch up",
                        outbox_len
                    );
                    if overflow_warning_due(at_ms) {
                        tracing::warn!(
                            %repo, trigger = %trigger.id, tag = %event.tag,
                            overflowed_total = overflowed,
                            "{why} (this warning repeats at most every 10 s)"
                        );
                    }
                    (DeliveryStatus::Overflow, Some(why))
                }
                Ok(()) => {
                    outbox_len += 1;
                    queued += 1;
                    let entry = OutboxEntry {
                        repo: repo.clone(),
                        trigger_id: trigger.id.clone(),
                        seq,
                    };
                    ctx.put_json(
                        schema::CF_TRIGGER_OUTBOX,
                        &schema::trigger_outbox_key(at_ms, seq),
                        &entry,
                    );
                    (DeliveryStatus::Pending, None)
                }
            };
            let record = DeliveryRecord {
                id: event_id(seq),
                seq,
                trigger_id: trigger.id.clone(),
                repo: repo.clone(),
                event: event.kind,
                tag: event.tag.clone(),
                digest: event.digest.clone(),
                at_ms,
                repo_created_at_ms,
                repo_public,
                status,
                reason,
                attempts: 0,
                attempts_max: emitter.options.attempts_max,
                http_status: None,
                last_error: None,
                latency_ms: None,
                request_body: None,
                response_head: None,
                next_attempt_at_ms: (status == DeliveryStatus::Pending).then_some(at_ms),
                last_attempt_at_ms: None,
                finished_at_ms: status.is_final().then_some(at_ms),
            };
            put_record(ctx, &record);
        }
    }
    if seq != seq_before {
        write_counter(ctx, schema::TRIGGER_SEQ_KEY, seq);
    }
    if queued > 0 {
        write_counter(ctx, schema::TRIGGER_OUTBOX_LEN_KEY, outbox_len);
    }
    if overflowed != overflowed_before {
        write_counter(ctx, schema::TRIGGER_OVERFLOWED_KEY, overflowed);
    }
    Ok(queued)
}

/// Whether an OVERFLOW warning may be logged now: at most one per 10 s, so a full outbox under
/// load (thousands of events a second) does not flood the log. Every overflow is still a
/// record and counted (`trigger-overflowed`, in the admin statistics).
fn overflow_warning_due(now_ms: u64) -> bool {
    use std::sync::atomic::AtomicU64;
    const OVERFLOW_WARNING_EVERY_MS: u64 = 10_000;
    // Process-wide and touched only by the writer thread (emit runs in writer jobs).
    static LAST_MS: AtomicU64 = AtomicU64::new(0);
    let last = LAST_MS.load(Ordering::Relaxed);
    if last != 0 && now_ms.saturating_sub(last) < OVERFLOW_WARNING_EVERY_MS {
        return false;
    }
    LAST_MS.store(now_ms.max(1), Ordering::Relaxed);
    true
}

/// Writes a new record and its retention-index row.
pub(crate) fn put_record(ctx: &mut WriteCtx<'_>, record: &DeliveryRecord) {
    ctx.put_json(
        schema::CF_TRIGGER_RECORDS,
        &schema::trigger_record_key(&record.repo, &record.trigger_id, record.seq),
        record,
    );
    ctx.put_json(
        schema::CF_TRIGGER_RECORD_TIMES,
        &schema::trigger_record_time_key(record.seq),
        &RecordRef {
            repo: record.repo.clone(),
            trigger_id: record.trigger_id.clone(),
            at_ms: record.at_ms,
        },
    );
}

/// A u64 counter of `CF_INSTANCE`; 0 when absent.
pub(crate) fn read_counter(reader: &Reader, key: &[u8]) -> Result<u64, MetaError> {
    match reader.get_raw(schema::CF_INSTANCE, key)? {
        None => Ok(0),
        Some(raw) => {
            let bytes: [u8; 8] = raw
                .as_slice()
                .try_into()
                .map_err(|_| MetaError::Corrupted {
                    key: format!("instance/{}", String::from_utf8_lossy(key)),
                    reason: format!("{} bytes, expected 8", raw.len()),
                })?;
            Ok(u64::from_le_bytes(bytes))
        }
    }
}

pub(crate) fn write_counter(ctx: &mut WriteCtx<'_>, key: &[u8], value: u64) {
    ctx.put_raw(schema::CF_INSTANCE, key, &value.to_le_bytes());
}

/// Tells the delivery shard that the outbox has new durable rows. Coalescing: however many
/// writes notify before the shard looks, it wakes once, and looks at all of them. A message
/// on a channel, never shared state the shards mutate (rule 5).
#[derive(Clone)]
pub(crate) struct OutboxSignal {
    pending: Arc<AtomicBool>,
    sender: UnboundedSender<()>,
}

/// The delivery shard's end of [`OutboxSignal`].
pub struct OutboxWakeups {
    pending: Arc<AtomicBool>,
    receiver: UnboundedReceiver<()>,
}

pub(crate) fn signal() -> (OutboxSignal, OutboxWakeups) {
    let pending = Arc::new(AtomicBool::new(false));
    let (sender, receiver) = mpsc::unbounded();
    (
        OutboxSignal {
            pending: pending.clone(),
            sender,
        },
        OutboxWakeups { pending, receiver },
    )
}

impl OutboxSignal {
    /// Call only after the write that queued deliveries is durable.
    pub(crate) fn notify(&self) {
        // At most one message is in flight: it is sent by the notifier that sets the flag.
        if !self.pending.swap(true, Ordering::AcqRel) {
            let _ = self.sender.unbounded_send(());
        }
    }
}

impl OutboxWakeups {
    /// Waits for a notification; false once no notifier is left (the engine is gone).
    pub async fn wait(&mut self) -> bool {
        let woken = self.receiver.next().await.is_some();
        // Cleared after the message is taken and before the caller looks at the outbox, so
        // a write notifying from here on sends a new message: none is missed.
        self.pending.store(false, Ordering::Release);
        woken
    }
}
