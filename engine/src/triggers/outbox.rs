//! The transactional outbox: a tag write's events become event rows (and, when they fire
//! triggers, outbox rows) in the same metadata writer job — the same RocksDB write batch — as
//! the tag write itself.
//!
//! ```text
//!  PUT manifest v1 ─▶ writer job: manifest rows, tag row,
//!                                 one event row: for each trigger subscribed to the event a slot
//!                                   filter matches ─▶ PENDING (named by the event's outbox row)
//!                                   outbox full    ─▶ OVERFLOW (logged, counted)
//!                                   no match       ─▶ UNTRIGGERED, with the reason
//!                                 one outbox row (due now) naming the PENDING slots
//!                     ─▶ WAL fsync ─▶ client acknowledged ─▶ OutboxSignal wakes the delivery shard
//! ```
//!
//! The cost of a push to a repository with triggers is a fixed number of rows (event,
//! retention index, outbox row, counters), however many triggers there are: a record of its
//! own (`trigger_records`) is written only when a delivery is attempted, off the push path.
//!
//! Invariants: "tag written and acknowledged" implies "its records are durable", because they
//! are one batch; every `PENDING` or `RETRYING` record is named by exactly one outbox row, and
//! the outbox length counter counts the records outbox rows name (both change only in writer
//! jobs). Nothing here delivers: the delivery shard reads the outbox only through a
//! durability barrier ([`super::Triggers::due`]), so no event of an unacknowledged write
//! leaves the process.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use futures_channel::mpsc::{self, UnboundedReceiver, UnboundedSender};
use futures_lite::StreamExt;

use super::codec;
use super::filter::RegexCache;
use super::{
    DeliveryStatus, EventKind, EventRef, EventRow, EventSlot, OutboxEntry, TriggerCache,
    TriggerOptions,
};
use crate::meta::schema::{self, RepoRecord, Visibility};
use crate::meta::{MetaError, Reader, WriteCtx};
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
    pub triggers: TriggerCache,
    pub signal: OutboxSignal,
}

/// Writes the event rows (and outbox rows) of `events` on `repo` into the job's batch.
/// Returns how many deliveries were queued; the caller notifies [`OutboxSignal`] once its
/// write is durable. One call per job: the counters are read once and written once.
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
    let triggers = emitter.triggers.of(ctx, repo)?;
    if triggers.is_empty() {
        return Ok(0);
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
        let base = seq + 1;
        let mut slots = Vec::new();
        let mut pending = Vec::new();
        for trigger in triggers.iter().filter(|t| t.events.contains(&event.kind)) {
            let mut waiting = None;
            let (status, reason) = match trigger.filter.check(&event.tag, &emitter.regexes) {
                Err(why) => (DeliveryStatus::Untriggered, Some(why)),
                Ok(()) if outbox_len >= emitter.options.outbox_events_max => {
                    overflowed += 1;
                    if overflow_warning_due(at_ms) {
                        tracing::warn!(
                            %repo, trigger = %trigger.id, tag = %event.tag,
                            overflowed_total = overflowed,
                            "{} (this warning repeats at most every 10 s)",
                            overflow_reason(outbox_len)
                        );
                    }
                    waiting = Some(outbox_len);
                    (DeliveryStatus::Overflow, None)
                }
                Ok(()) => {
                    outbox_len += 1;
                    queued += 1;
                    pending.push(slot_index(slots.len()));
                    (DeliveryStatus::Pending, None)
                }
            };
            slots.push(EventSlot {
                trigger: trigger.id.clone(),
                status,
                reason,
                outbox_waiting: waiting,
            });
        }
        if slots.is_empty() {
            continue;
        }
        seq += slots.len() as u64;
        if !pending.is_empty() {
            codec::put(
                ctx,
                schema::CF_TRIGGER_OUTBOX,
                &schema::trigger_outbox_key(at_ms, base),
                &OutboxEntry::Event {
                    repo: repo.clone(),
                    base,
                    slots: pending,
                },
            );
        }
        let row = EventRow {
            kind: event.kind,
            tag: event.tag.clone(),
            digest: event.digest.clone(),
            at_ms,
            repo_created_at_ms,
            repo_public,
            attempts_max: emitter.options.attempts_max,
            slots,
        };
        codec::put(
            ctx,
            schema::CF_TRIGGER_EVENTS,
            &schema::trigger_event_key(repo, base),
            &row,
        );
        codec::put(
            ctx,
            schema::CF_TRIGGER_RECORD_TIMES,
            &schema::trigger_record_time_key(base),
            &EventRef {
                repo: repo.clone(),
                at_ms,
            },
        );
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

/// Why a delivery was recorded OVERFLOW, `waiting` deliveries being in the outbox then.
pub(crate) fn overflow_reason(waiting: u64) -> String {
    format!(
        "the outbox is full ({waiting} deliveries waiting, webhooks.outbox_events_max); \
         not queued: redeliver it once the receivers catch up"
    )
}

/// A slot's index as stored (a repository has far fewer triggers than `u32::MAX`).
fn slot_index(index: usize) -> u32 {
    u32::try_from(index).unwrap_or(u32::MAX)
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
