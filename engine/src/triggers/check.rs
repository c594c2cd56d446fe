//! fsck's view of the trigger families: the outbox invariants, checked over one snapshot, and
//! the writer jobs that repair what breaks them.
//!
//! ```text
//!  every PENDING/RETRYING record of a live trigger ──named by exactly one──▶ outbox row
//!  every delivery an outbox row names             ──is──▶ such a record (or its trigger is gone)
//!  trigger-outbox-len counter                     ──=──▶ the deliveries the rows name
//! ```
//!
//! A record nobody names would stay `PENDING` forever; a row naming a finished record would
//! deliver it again; a drifted counter refuses pushes' deliveries (`OVERFLOW`) too early or
//! too late. Deliveries of a deleted trigger (or repository) are legitimately left in the
//! outbox: the delivery shard drops them when it reaches them.
//!
//! Must not: change anything while checking (the snapshot is consistent, so the check is
//! valid online); repairs are offline jobs that recompute what they change.

use std::collections::{HashMap, HashSet};

use super::{codec, outbox, queue_record, read_record, unqueue_all};
use super::{DeliveryRecord, DeliveryStatus, EventRow, OutboxEntry, TriggerError};
use crate::meta::schema;
use crate::meta::{decode_json, MetaError, Snapshot, WriteCtx};
use crate::oci::RepoName;

/// What breaks the outbox invariants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OutboxProblem {
    /// A waiting record of a live trigger that no outbox row names.
    Unqueued {
        repo: RepoName,
        trigger: String,
        seq: u64,
        status: DeliveryStatus,
    },
    /// An outbox row naming deliveries that are finished or have no record, though their
    /// trigger exists: `seqs` are those deliveries.
    Dangling {
        key: Vec<u8>,
        seqs: Vec<u64>,
        detail: String,
    },
    /// A delivery named by more than one outbox row (`key` is a later one).
    NamedTwice { key: Vec<u8>, seq: u64 },
    /// An outbox row that cannot be decoded.
    Unreadable { key: Vec<u8>, reason: String },
    /// The outbox length counter against the deliveries the rows name.
    CountDrift { counter: u64, named: u64 },
}

/// The waiting records (and their owners), from the events and the attempted records.
struct Waiting {
    /// seq → (repo, trigger) of every PENDING or RETRYING record of a live trigger.
    records: HashMap<u64, (RepoName, String, DeliveryStatus)>,
    live_triggers: HashSet<(RepoName, String)>,
}

pub(crate) fn check_outbox(snapshot: &Snapshot<'_>) -> Result<Vec<OutboxProblem>, MetaError> {
    let waiting = waiting_records(snapshot)?;
    let mut problems = Vec::new();
    let mut named_total = 0u64;
    let mut named: HashSet<u64> = HashSet::new();
    snapshot.for_each(schema::CF_TRIGGER_OUTBOX, |key, value| {
        let entry: OutboxEntry = match codec::decode(key, value) {
            Ok(entry) => entry,
            Err(e) => {
                // The delivery shard counts such a row as one delivery when it removes it.
                named_total += 1;
                problems.push(OutboxProblem::Unreadable {
                    key: key.to_vec(),
                    reason: e.to_string(),
                });
                return Ok(());
            }
        };
        named_total += entry.deliveries();
        let deliveries = named_deliveries(snapshot, &entry)?;
        let mut dangling = Vec::new();
        for (repo, trigger, seq) in deliveries {
            if !named.insert(seq) {
                problems.push(OutboxProblem::NamedTwice {
                    key: key.to_vec(),
                    seq,
                });
                continue;
            }
            let live = trigger.as_ref().is_some_and(|t| {
                waiting
                    .live_triggers
                    .contains(&(repo.clone(), t.to_owned()))
            });
            if live && !waiting.records.contains_key(&seq) {
                dangling.push(seq);
            }
        }
        if !dangling.is_empty() {
            problems.push(OutboxProblem::Dangling {
                key: key.to_vec(),
                detail: format!(
                    "outbox row names {} of its trigger's deliveries that are finished or have \
                     no record (event ids {})",
                    dangling.len(),
                    dangling
                        .iter()
                        .map(|s| super::event_id(*s))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                seqs: dangling,
            });
        }
        Ok::<(), MetaError>(())
    })?;
    let mut unqueued: Vec<_> = waiting
        .records
        .into_iter()
        .filter(|(seq, _)| !named.contains(seq))
        .collect();
    unqueued.sort_by_key(|(seq, _)| *seq);
    for (seq, (repo, trigger, status)) in unqueued {
        problems.push(OutboxProblem::Unqueued {
            repo,
            trigger,
            seq,
            status,
        });
    }
    let counter = match snapshot.get_raw(schema::CF_INSTANCE, schema::TRIGGER_OUTBOX_LEN_KEY)? {
        None => 0,
        Some(raw) => counter_value(&raw)?,
    };
    if counter != named_total {
        problems.push(OutboxProblem::CountDrift {
            counter,
            named: named_total,
        });
    }
    Ok(problems)
}

fn counter_value(raw: &[u8]) -> Result<u64, MetaError> {
    let bytes: [u8; 8] = raw.try_into().map_err(|_| MetaError::Corrupted {
        key: "instance/trigger-outbox-len".into(),
        reason: format!("{} bytes, expected 8", raw.len()),
    })?;
    Ok(u64::from_le_bytes(bytes))
}

fn waiting_records(snapshot: &Snapshot<'_>) -> Result<Waiting, MetaError> {
    let mut live_triggers = HashSet::new();
    snapshot.for_each(schema::CF_TRIGGERS, |key, _| {
        if let Some((repo, id)) = schema::split_once(key) {
            let repo = std::str::from_utf8(repo)
                .ok()
                .and_then(|r| RepoName::parse(r).ok());
            if let (Some(repo), Ok(id)) = (repo, std::str::from_utf8(id)) {
                live_triggers.insert((repo, id.to_owned()));
            }
        }
        Ok::<(), MetaError>(())
    })?;
    // Attempted records are what their records are from then on: seq → status.
    let mut attempted: HashMap<u64, DeliveryStatus> = HashMap::new();
    let mut records = HashMap::new();
    snapshot.for_each(schema::CF_TRIGGER_RECORDS, |key, value| {
        let record: DeliveryRecord = decode_json(key, value)?;
        attempted.insert(record.seq, record.status);
        if !record.status.is_final()
            && live_triggers.contains(&(record.repo.clone(), record.trigger_id.clone()))
        {
            records.insert(record.seq, (record.repo, record.trigger_id, record.status));
        }
        Ok::<(), MetaError>(())
    })?;
    snapshot.for_each(schema::CF_TRIGGER_EVENTS, |key, value| {
        let Some((repo, suffix)) = schema::split_once(key) else {
            return Ok(());
        };
        let (Some(repo), Some(base)) = (
            std::str::from_utf8(repo)
                .ok()
                .and_then(|r| RepoName::parse(r).ok()),
            schema::trigger_event_base(suffix),
        ) else {
            return Ok(());
        };
        let event: EventRow = codec::decode(key, value)?;
        for (offset, slot) in event.slots.iter().enumerate() {
            let seq = base + offset as u64;
            if attempted.contains_key(&seq) || slot.status.is_final() {
                continue;
            }
            if live_triggers.contains(&(repo.clone(), slot.trigger.clone())) {
                records.insert(seq, (repo.clone(), slot.trigger.clone(), slot.status));
            }
        }
        Ok::<(), MetaError>(())
    })?;
    Ok(Waiting {
        records,
        live_triggers,
    })
}

/// The deliveries an outbox row names: (repository, trigger if known, sequence number).
fn named_deliveries(
    snapshot: &Snapshot<'_>,
    entry: &OutboxEntry,
) -> Result<Vec<(RepoName, Option<String>, u64)>, MetaError> {
    Ok(match entry {
        OutboxEntry::Record { repo, trigger, seq } => {
            vec![(repo.clone(), Some(trigger.clone()), *seq)]
        }
        OutboxEntry::Event { repo, base, slots } => {
            let key = schema::trigger_event_key(repo, *base);
            let event: Option<EventRow> = match snapshot.get_raw(schema::CF_TRIGGER_EVENTS, &key)? {
                None => None,
                Some(raw) => Some(codec::decode(&key, &raw)?),
            };
            slots
                .iter()
                .map(|slot| {
                    let trigger = event
                        .as_ref()
                        .and_then(|e| e.slots.get(*slot as usize))
                        .map(|s| s.trigger.clone());
                    (repo.clone(), trigger, base + u64::from(*slot))
                })
                .collect()
        }
    })
}

// ----- repairs (offline writer jobs) -------------------------------------------------------

/// Queues a waiting record no outbox row names, due at `now_ms`. Returns whether it did (the
/// record may have changed since the check).
pub(crate) fn requeue(
    ctx: &mut WriteCtx<'_>,
    repo: &RepoName,
    trigger: &str,
    seq: u64,
    now_ms: u64,
) -> Result<bool, MetaError> {
    let Some(record) = read_record(ctx, repo, trigger, seq).map_err(into_meta)? else {
        return Ok(false);
    };
    if record.status.is_final() {
        return Ok(false);
    }
    queue_record(ctx, &record, now_ms).map_err(into_meta)?;
    let len = outbox::read_counter(ctx, schema::TRIGGER_OUTBOX_LEN_KEY)?;
    outbox::write_counter(ctx, schema::TRIGGER_OUTBOX_LEN_KEY, len + 1);
    Ok(true)
}

/// Takes deliveries `seqs` off the outbox row `key`. Returns how many it removed.
pub(crate) fn unqueue_dangling(
    ctx: &mut WriteCtx<'_>,
    key: &[u8],
    seqs: &[u64],
) -> Result<u64, MetaError> {
    let removed = unqueue_all(ctx, key, seqs).map_err(into_meta)?;
    if removed > 0 {
        let len = outbox::read_counter(ctx, schema::TRIGGER_OUTBOX_LEN_KEY)?;
        outbox::write_counter(
            ctx,
            schema::TRIGGER_OUTBOX_LEN_KEY,
            len.saturating_sub(removed),
        );
    }
    Ok(removed)
}

/// Removes an outbox row that cannot be decoded (the delivery shard counts it as one).
pub(crate) fn remove_unreadable(ctx: &mut WriteCtx<'_>, key: &[u8]) -> Result<(), MetaError> {
    if ctx.get_raw(schema::CF_TRIGGER_OUTBOX, key)?.is_some() {
        ctx.delete(schema::CF_TRIGGER_OUTBOX, key);
        let len = outbox::read_counter(ctx, schema::TRIGGER_OUTBOX_LEN_KEY)?;
        outbox::write_counter(ctx, schema::TRIGGER_OUTBOX_LEN_KEY, len.saturating_sub(1));
    }
    Ok(())
}

/// Sets the outbox length counter to the deliveries the rows name, counted in the job.
/// Returns (before, after).
pub(crate) fn recount(ctx: &mut WriteCtx<'_>) -> Result<(u64, u64), MetaError> {
    let before = outbox::read_counter(ctx, schema::TRIGGER_OUTBOX_LEN_KEY)?;
    let mut named = 0u64;
    let mut after: Option<Vec<u8>> = None;
    loop {
        const PAGE: usize = 1024;
        let rows = ctx.scan_prefix(schema::CF_TRIGGER_OUTBOX, b"", after.as_deref(), PAGE)?;
        for (key, value) in &rows {
            named += codec::decode::<OutboxEntry>(key, value).map_or(1, |e| e.deliveries());
        }
        if rows.len() < PAGE {
            break;
        }
        after = rows.last().map(|(key, _)| key.clone());
    }
    outbox::write_counter(ctx, schema::TRIGGER_OUTBOX_LEN_KEY, named);
    Ok((before, named))
}

/// The trigger helpers fail only on the store; anything else is reported as such.
fn into_meta(error: TriggerError) -> MetaError {
    match error {
        TriggerError::Meta(e) => e,
        other => MetaError::Corrupted {
            key: "trigger outbox".into(),
            reason: other.to_string(),
        },
    }
}
