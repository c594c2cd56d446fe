//! Webhook triggers (issue #10): per-repository triggers, their delivery records, and the
//! durable outbox the delivery shard works from.
//!
//! ```text
//!  management API ──▶ Triggers::create/update/delete/list   (cf triggers)
//!  tag push/delete ─▶ registry writer job ─▶ outbox::emit   (cf trigger_events, trigger_outbox,
//!                                                            trigger_record_times, counters)
//!  delivery shard ──▶ Triggers::due (durability barrier) ─▶ POST ─▶ Triggers::complete
//!                       DELIVERED | RETRYING (new outbox row, later) | FAILED (last attempt)
//!  maintenance ────▶ Triggers::expire_records (finished records older than the retention)
//! ```
//!
//! A record is one trigger's view of one tag event. Until it is first attempted it is a slot of
//! its event's row (`cf trigger_events`: the event's facts once, and per trigger the status the
//! filter gave it), so a push costs the same few rows however many triggers the repository
//! has; an attempt or a redelivery writes the record in full to `cf trigger_records`, which
//! from then on is what the record is.
//!
//! Invariants:
//! - A record is `PENDING` or `RETRYING` exactly while one outbox row names it; both change
//!   in one writer job, so a crash leaves either the old pair or the new one. After a restart
//!   the outbox is delivered again (at least once; the event id is the same, receivers
//!   de-duplicate on it), so no record stays `PENDING` forever.
//! - The outbox names at most `outbox_events_max` deliveries; what does not fit is recorded
//!   `OVERFLOW`, counted and logged — never dropped silently — and the push still succeeds.
//! - Records are kept until a retention sweep removes events whose records are all finished;
//!   a deleted trigger's attempted records go with it (its slots stay in their events, unread,
//!   until the sweep), and its deliveries still in the outbox are dropped when reached.
//!
//! Must not: deliver anything or know about HTTP (URLs are opaque text here; the server checks
//! them before they are stored and again before each delivery).

mod cache;
pub(crate) mod check;
mod codec;
mod filter;
mod outbox;

pub(crate) use cache::{triggers_changed, TriggerCache};
pub use filter::{TriggerFilter, FILTER_EXPRESSION_CHARS_MAX, FILTER_TAGS_MAX};
pub use outbox::OutboxWakeups;

pub(crate) use outbox::{emit, signal, Emitter, TagEvent};

use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::meta::schema::{self};
use crate::meta::{decode_json, Meta, MetaError, WriteCtx};
use crate::oci::{Digest, RepoName};
use crate::Clock;

/// Limits of triggers and their outbox.
#[derive(Debug, Clone)]
pub struct TriggerOptions {
    /// Triggers one repository may have.
    pub triggers_per_repo_max: usize,
    /// Deliveries waiting in the outbox before new events are recorded `OVERFLOW`.
    pub outbox_events_max: u64,
    /// Attempts per delivery (and per redelivery) before it is `FAILED`.
    pub attempts_max: u32,
}

impl Default for TriggerOptions {
    fn default() -> Self {
        Self {
            triggers_per_repo_max: 20,
            outbox_events_max: 100_000,
            attempts_max: 8,
        }
    }
}

/// Longest trigger name.
pub const TRIGGER_NAME_CHARS_MAX: usize = 64;
/// Longest destination URL stored.
pub const TRIGGER_URL_BYTES_MAX: usize = 2048;
/// Longest signing secret.
pub const TRIGGER_SECRET_BYTES_MAX: usize = 256;
/// Most records one page of [`Triggers::records`] holds.
pub const RECORD_PAGE_MAX: usize = 100;
/// Bytes of a response kept in its record.
pub const RESPONSE_HEAD_BYTES_MAX: usize = 2048;
/// Bytes of a request body kept in its record (payloads are well under 1 KiB).
const REQUEST_BODY_BYTES_MAX: usize = 16 << 10;
/// Rows removed per writer job when a trigger is deleted or records expire.
const ROWS_PER_JOB: usize = 512;
/// Events one page of [`Triggers::records`] reads at most.
pub const RECORD_SCAN_EVENTS_MAX: usize = 5000;
/// Event rows read per scan while listing records.
const EVENT_PAGE_ROWS: usize = 256;
/// How long before a trigger's creation an event may have happened and still concern it.
const TRIGGER_CREATION_MARGIN_MS: u64 = 60_000;

/// What a trigger is notified of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A manifest was pushed as a tag.
    Push,
    /// A tag was removed (directly, or with the manifest it pointed at).
    Delete,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Push => "push",
            EventKind::Delete => "delete",
        }
    }
}

/// The body a trigger sends: the model registry's JSON, or a CloudEvents 1.0 event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PayloadFormat {
    #[default]
    Acr,
    Cloudevents,
}

/// A trigger as given by the management API (everything but its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriggerSpec {
    pub name: String,
    pub url: String,
    pub filter: TriggerFilter,
    pub events: Vec<EventKind>,
    pub format: PayloadFormat,
}

/// What an update does to a trigger's secret (the secret is never read back).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretUpdate {
    Keep,
    Set(String),
    Clear,
}

/// A stored trigger: cf `triggers`, key `<repo> 0x00 <id>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TriggerRecord {
    pub id: String,
    pub repo: RepoName,
    pub name: String,
    pub url: String,
    pub filter: TriggerFilter,
    pub events: Vec<EventKind>,
    #[serde(default)]
    pub format: PayloadFormat,
    /// The signing key; the API never returns it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    pub created_at_ms: u64,
    pub updated_at_ms: u64,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeliveryStatus {
    /// The event did not match the trigger's filter; `reason` says why.
    Untriggered,
    /// Queued, not attempted yet.
    Pending,
    /// A receiver answered 2xx.
    Delivered,
    /// An attempt failed; another is due at `next_attempt_at_ms`.
    Retrying,
    /// The last attempt failed.
    Failed,
    /// The outbox was full when the event happened; not queued.
    Overflow,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Untriggered => "UNTRIGGERED",
            DeliveryStatus::Pending => "PENDING",
            DeliveryStatus::Delivered => "DELIVERED",
            DeliveryStatus::Retrying => "RETRYING",
            DeliveryStatus::Failed => "FAILED",
            DeliveryStatus::Overflow => "OVERFLOW",
        }
    }

    /// No more attempts will be made (unless redelivered).
    pub fn is_final(self) -> bool {
        !matches!(self, DeliveryStatus::Pending | DeliveryStatus::Retrying)
    }
}

/// One event as one trigger saw it: cf `trigger_records`. It carries the facts the payload is
/// made of, so every attempt sends the same body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryRecord {
    /// `evt_<seq, 16 hex>`: the `webhook-id` of every attempt.
    pub id: String,
    pub seq: u64,
    pub trigger_id: String,
    pub repo: RepoName,
    pub event: EventKind,
    pub tag: String,
    pub digest: Digest,
    /// When the event happened (the tag write's time).
    pub at_ms: u64,
    pub repo_created_at_ms: u64,
    pub repo_public: bool,
    pub status: DeliveryStatus,
    /// Why UNTRIGGERED or OVERFLOW.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub attempts: u32,
    /// The attempt after which a failure is final (raised by a redelivery).
    pub attempts_max: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    /// The body of the last attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_body: Option<String>,
    /// The first [`RESPONSE_HEAD_BYTES_MAX`] bytes of the last response body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_head: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempt_at_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at_ms: Option<u64>,
}

/// A tag event as the triggers of its repository saw it: cf `trigger_events`, key
/// `<repo> 0x00 <!base>`. Slot `i` is the record of sequence number `base + i`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct EventRow {
    pub kind: EventKind,
    pub tag: String,
    pub digest: Digest,
    pub at_ms: u64,
    pub repo_created_at_ms: u64,
    pub repo_public: bool,
    /// Attempts each delivery gets (the setting when the event happened).
    pub attempts_max: u32,
    pub slots: Vec<EventSlot>,
}

/// One trigger's part of an event, as the push left it. Stored by [`codec`]: every field is
/// always written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct EventSlot {
    pub trigger: String,
    /// `UNTRIGGERED`, `PENDING` or `OVERFLOW`.
    pub status: DeliveryStatus,
    /// Why UNTRIGGERED (and, in rows written as JSON, why OVERFLOW).
    #[serde(default)]
    pub reason: Option<String>,
    /// OVERFLOW: the deliveries waiting in the outbox then (the reason is made from it when
    /// the record is read, so a full outbox does not write a sentence per trigger per push).
    #[serde(default)]
    pub outbox_waiting: Option<u64>,
}

impl EventSlot {
    fn reason(&self) -> Option<String> {
        match (&self.reason, self.outbox_waiting) {
            (Some(reason), _) => Some(reason.clone()),
            (None, Some(waiting)) => Some(outbox::overflow_reason(waiting)),
            (None, None) => None,
        }
    }
}

impl EventRow {
    /// The record of slot `slot`, as it is until its first attempt.
    fn record(&self, repo: &RepoName, base: u64, slot: usize) -> Option<DeliveryRecord> {
        let part = self.slots.get(slot)?;
        let seq = base + slot as u64;
        Some(DeliveryRecord {
            id: event_id(seq),
            seq,
            trigger_id: part.trigger.clone(),
            repo: repo.clone(),
            event: self.kind,
            tag: self.tag.clone(),
            digest: self.digest.clone(),
            at_ms: self.at_ms,
            repo_created_at_ms: self.repo_created_at_ms,
            repo_public: self.repo_public,
            status: part.status,
            reason: part.reason(),
            attempts: 0,
            attempts_max: self.attempts_max,
            http_status: None,
            last_error: None,
            latency_ms: None,
            request_body: None,
            response_head: None,
            next_attempt_at_ms: (part.status == DeliveryStatus::Pending).then_some(self.at_ms),
            last_attempt_at_ms: None,
            finished_at_ms: part.status.is_final().then_some(self.at_ms),
        })
    }
}

/// An outbox row's value: what to deliver. A push's row names the event and every slot it
/// queued; a retry or a redelivery gets a row of its own naming one record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum OutboxEntry {
    Event {
        repo: RepoName,
        base: u64,
        slots: Vec<u32>,
    },
    Record {
        repo: RepoName,
        trigger: String,
        seq: u64,
    },
}

impl codec::CompactRow for EventRow {}
impl codec::CompactRow for OutboxEntry {}
impl codec::CompactRow for EventRef {}

impl OutboxEntry {
    /// How many deliveries the row names (what the outbox length counter counts).
    fn deliveries(&self) -> u64 {
        match self {
            OutboxEntry::Event { slots, .. } => slots.len() as u64,
            OutboxEntry::Record { .. } => 1,
        }
    }
}

/// A retention-index row's value: where the event of a base sequence number is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct EventRef {
    pub repo: RepoName,
    pub at_ms: u64,
}

/// The event id of sequence number `seq`.
pub(crate) fn event_id(seq: u64) -> String {
    format!("evt_{seq:016x}")
}

/// The sequence number of an event id.
fn event_seq(id: &str) -> Option<u64> {
    let hex = id.strip_prefix("evt_")?;
    (hex.len() == 16)
        .then(|| u64::from_str_radix(hex, 16).ok())
        .flatten()
}

#[derive(Debug, thiserror::Error)]
pub enum TriggerError {
    #[error("repository {repo} is not known to the registry")]
    RepositoryUnknown { repo: RepoName },
    #[error("repository {repo} has no trigger {id}")]
    TriggerUnknown { repo: RepoName, id: String },
    #[error("repository {repo} already has a trigger named {name}")]
    TriggerExists { repo: RepoName, name: String },
    #[error("repository {repo} already has {max} triggers, the most allowed (webhooks.triggers_per_repository_max)")]
    TriggerLimit { repo: RepoName, max: usize },
    #[error("{field}: {reason}")]
    TriggerInvalid { field: &'static str, reason: String },
    #[error("trigger {trigger} has no record {id}")]
    RecordUnknown { trigger: String, id: String },
    #[error("record {id} is {status} and cannot be redelivered: only FAILED, OVERFLOW and DELIVERED records can")]
    NotRedeliverable { id: String, status: &'static str },
    #[error("the outbox is full ({max} deliveries waiting, webhooks.outbox_events_max)")]
    OutboxFull { max: u64 },
    #[error("{0}")]
    Meta(#[from] MetaError),
}

/// A delivery an outbox row names: repository, trigger (None when its event is gone),
/// sequence number, and the record when the row's event already gave it.
type NamedDelivery = (RepoName, Option<String>, u64, Option<DeliveryRecord>);

/// A page of delivery records, newest first.
#[derive(Debug, Clone)]
pub struct RecordPage {
    pub records: Vec<DeliveryRecord>,
    /// The `after` of the next page, when there is one.
    pub next: Option<String>,
}

/// A delivery that is due: what to send where.
#[derive(Debug, Clone)]
pub struct Due {
    outbox_key: Vec<u8>,
    /// The outbox row's key and the record's sequence number.
    key: Vec<u8>,
    pub trigger: TriggerRecord,
    pub record: DeliveryRecord,
}

impl Due {
    /// Identifies the delivery (for the delivery shard's set of deliveries in flight).
    pub fn key(&self) -> &[u8] {
        &self.key
    }
}

/// What [`Triggers::due`] found.
#[derive(Debug, Clone, Default)]
pub struct DueBatch {
    pub due: Vec<Due>,
    /// When the earliest row not yet due is due, if any.
    pub next_due_ms: Option<u64>,
}

/// What one attempt did.
#[derive(Debug, Clone)]
pub struct AttemptOutcome {
    pub at_ms: u64,
    /// A 2xx answer.
    pub delivered: bool,
    pub http_status: Option<u16>,
    pub error: Option<String>,
    pub latency_ms: u64,
    pub request_body: Vec<u8>,
    pub response_head: Vec<u8>,
    /// When to try again if this attempt failed and attempts remain.
    pub retry_at_ms: u64,
}

/// The outbox as a whole, for statistics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxStats {
    /// Deliveries waiting (PENDING or RETRYING).
    pub waiting: u64,
    /// Events recorded OVERFLOW since the store was created.
    pub overflowed: u64,
    /// Events recorded since the store was created.
    pub recorded: u64,
}

/// Triggers, records and the outbox of one data directory: a part of [`crate::Engine`].
/// Cheap to clone.
#[derive(Clone)]
pub struct Triggers {
    meta: Meta,
    clock: Arc<dyn Clock>,
    emitter: Emitter,
    wakeups: Arc<Mutex<Option<OutboxWakeups>>>,
}

impl Triggers {
    pub(crate) fn new(
        meta: Meta,
        clock: Arc<dyn Clock>,
        emitter: Emitter,
        wakeups: OutboxWakeups,
    ) -> Triggers {
        Triggers {
            meta,
            clock,
            emitter,
            wakeups: Arc::new(Mutex::new(Some(wakeups))),
        }
    }

    pub fn options(&self) -> &TriggerOptions {
        &self.emitter.options
    }

    /// The delivery shard's wake-ups; there is one receiver, handed out once.
    pub fn take_wakeups(&self) -> Option<OutboxWakeups> {
        self.wakeups
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    // ----- triggers --------------------------------------------------------------------------

    pub async fn create(
        &self,
        repo: &RepoName,
        spec: TriggerSpec,
        secret: Option<String>,
    ) -> Result<TriggerRecord, TriggerError> {
        validate(&spec)?;
        if let Some(secret) = &secret {
            validate_secret(secret)?;
        }
        let now = self.clock.now_ms();
        let record = TriggerRecord {
            id: format!("{:016x}", rand::random::<u64>()),
            repo: repo.clone(),
            name: spec.name,
            url: spec.url,
            filter: spec.filter,
            events: spec.events,
            format: spec.format,
            secret: secret.filter(|s| !s.is_empty()),
            created_at_ms: now,
            updated_at_ms: now,
        };
        let max = self.emitter.options.triggers_per_repo_max;
        let job_record = record.clone();
        self.meta
            .write(move |ctx| -> Result<(), TriggerError> {
                let repo = &job_record.repo;
                // Checked in the job: a repository deleted meanwhile gets no trigger rows.
                if !ctx.contains(schema::CF_REPOS, repo.as_str().as_bytes())? {
                    return Err(TriggerError::RepositoryUnknown { repo: repo.clone() });
                }
                let existing = repo_triggers(ctx, repo)?;
                if existing.len() >= max {
                    return Err(TriggerError::TriggerLimit {
                        repo: repo.clone(),
                        max,
                    });
                }
                if existing.iter().any(|t| t.name == job_record.name) {
                    return Err(TriggerError::TriggerExists {
                        repo: repo.clone(),
                        name: job_record.name.clone(),
                    });
                }
                if existing.iter().any(|t| t.id == job_record.id) {
                    // 64 random bits collided: a retry draws another id.
                    return Err(TriggerError::TriggerExists {
                        repo: repo.clone(),
                        name: job_record.id.clone(),
                    });
                }
                ctx.put_json(
                    schema::CF_TRIGGERS,
                    &schema::repo_key(repo, &job_record.id),
                    &job_record,
                );
                triggers_changed();
                Ok(())
            })
            .await?;
        Ok(record)
    }

    /// The triggers of `repo`, in id order.
    pub fn list(&self, repo: &RepoName) -> Result<Vec<TriggerRecord>, TriggerError> {
        self.require_repo(repo)?;
        repo_triggers(&self.meta, repo)
    }

    pub fn get(&self, repo: &RepoName, id: &str) -> Result<TriggerRecord, TriggerError> {
        self.require_repo(repo)?;
        self.meta
            .get_json(schema::CF_TRIGGERS, &schema::repo_key(repo, id))?
            .ok_or_else(|| TriggerError::TriggerUnknown {
                repo: repo.clone(),
                id: id.to_owned(),
            })
    }

    pub async fn update(
        &self,
        repo: &RepoName,
        id: &str,
        spec: TriggerSpec,
        secret: SecretUpdate,
    ) -> Result<TriggerRecord, TriggerError> {
        validate(&spec)?;
        if let SecretUpdate::Set(secret) = &secret {
            validate_secret(secret)?;
        }
        self.require_repo(repo)?;
        let (repo, id, now) = (repo.clone(), id.to_owned(), self.clock.now_ms());
        self.meta
            .write(move |ctx| -> Result<TriggerRecord, TriggerError> {
                let key = schema::repo_key(&repo, &id);
                let mut record: TriggerRecord = ctx
                    .get_json(schema::CF_TRIGGERS, &key)?
                    .ok_or_else(|| TriggerError::TriggerUnknown {
                        repo: repo.clone(),
                        id: id.clone(),
                    })?;
                if repo_triggers(ctx, &repo)?
                    .iter()
                    .any(|t| t.name == spec.name && t.id != id)
                {
                    return Err(TriggerError::TriggerExists {
                        repo: repo.clone(),
                        name: spec.name,
                    });
                }
                record.name = spec.name;
                record.url = spec.url;
                record.filter = spec.filter;
                record.events = spec.events;
                record.format = spec.format;
                match secret {
                    SecretUpdate::Keep => {}
                    SecretUpdate::Set(secret) if secret.is_empty() => record.secret = None,
                    SecretUpdate::Set(secret) => record.secret = Some(secret),
                    SecretUpdate::Clear => record.secret = None,
                }
                record.updated_at_ms = now;
                ctx.put_json(schema::CF_TRIGGERS, &key, &record);
                triggers_changed();
                Ok(record)
            })
            .await
    }

    /// Deletes a trigger and, in bounded jobs, its records. Its outbox rows are dropped by
    /// the delivery shard when it reaches them.
    pub async fn delete(&self, repo: &RepoName, id: &str) -> Result<(), TriggerError> {
        self.require_repo(repo)?;
        let (job_repo, job_id) = (repo.clone(), id.to_owned());
        self.meta
            .write(move |ctx| -> Result<(), TriggerError> {
                let key = schema::repo_key(&job_repo, &job_id);
                if !ctx.contains(schema::CF_TRIGGERS, &key)? {
                    return Err(TriggerError::TriggerUnknown {
                        repo: job_repo,
                        id: job_id,
                    });
                }
                ctx.delete(schema::CF_TRIGGERS, &key);
                triggers_changed();
                Ok(())
            })
            .await?;
        // Its slots in event rows stay until the retention sweep: nothing reads them without
        // the trigger.
        let prefix = schema::trigger_records_prefix(repo, id);
        loop {
            let job_prefix = prefix.clone();
            let removed = self
                .meta
                .write(move |ctx| -> Result<usize, TriggerError> {
                    let rows = ctx.scan_prefix(
                        schema::CF_TRIGGER_RECORDS,
                        &job_prefix,
                        None,
                        ROWS_PER_JOB,
                    )?;
                    for (suffix, _) in &rows {
                        let mut key = job_prefix.clone();
                        key.extend_from_slice(suffix);
                        ctx.delete(schema::CF_TRIGGER_RECORDS, &key);
                    }
                    Ok(rows.len())
                })
                .await?;
            if removed < ROWS_PER_JOB {
                return Ok(());
            }
        }
    }

    // ----- records ---------------------------------------------------------------------------

    /// Records of a trigger, newest first, at most `n` (capped at [`RECORD_PAGE_MAX`]), after
    /// the record `after` (an event id) when given. A page reads at most
    /// [`RECORD_SCAN_EVENTS_MAX`] events of the repository; when that ends it early (a trigger
    /// that few events concern), it is short and `next` continues the scan.
    pub fn records(
        &self,
        repo: &RepoName,
        id: &str,
        n: usize,
        after: Option<&str>,
    ) -> Result<RecordPage, TriggerError> {
        let trigger = self.get(repo, id)?;
        let n = n.clamp(1, RECORD_PAGE_MAX);
        let prefix = schema::repo_prefix(repo);
        let cursor = match after {
            None => None,
            Some(after) => Some(
                event_seq(after).ok_or_else(|| TriggerError::TriggerInvalid {
                    field: "after",
                    reason: format!("{after:?} is not an event id"),
                })?,
            ),
        };
        let mut scan_after = cursor.map(schema::trigger_event_suffix);
        let mut records = Vec::new();
        let mut scanned = 0;
        // Events written before the trigger existed cannot concern it; the margin covers a
        // push whose time was read before the trigger was created and written after.
        let oldest_ms = trigger
            .created_at_ms
            .saturating_sub(TRIGGER_CREATION_MARGIN_MS);
        'scan: loop {
            let rows = self.meta.scan_prefix(
                schema::CF_TRIGGER_EVENTS,
                &prefix,
                scan_after.as_deref(),
                EVENT_PAGE_ROWS,
            )?;
            for (suffix, value) in &rows {
                scanned += 1;
                let base = event_base(&prefix, suffix)?;
                let event: EventRow = codec::decode(suffix, value)?;
                if event.at_ms < oldest_ms {
                    break 'scan;
                }
                // The cursor's own event (its base is at or below the cursor) was listed.
                if cursor.is_some_and(|c| base + event.slots.len() as u64 > c) {
                    continue;
                }
                if let Some(slot) = event.slots.iter().position(|s| s.trigger == id) {
                    let seq = base + slot as u64;
                    let attempted: Option<DeliveryRecord> = self.meta.get_json(
                        schema::CF_TRIGGER_RECORDS,
                        &schema::trigger_record_key(repo, id, seq),
                    )?;
                    if let Some(record) = attempted.or_else(|| event.record(repo, base, slot)) {
                        records.push(record);
                    }
                    if records.len() > n {
                        break 'scan;
                    }
                }
                if scanned >= RECORD_SCAN_EVENTS_MAX {
                    // Short page: continue after this event.
                    let next = (records.len() <= n).then(|| event_id(base));
                    records.truncate(n);
                    return Ok(RecordPage { records, next });
                }
            }
            if rows.len() < EVENT_PAGE_ROWS {
                break;
            }
            scan_after = rows.last().map(|(suffix, _)| suffix.clone());
        }
        let next = (records.len() > n)
            .then(|| records.get(n - 1).map(|r| r.id.clone()))
            .flatten();
        records.truncate(n);
        Ok(RecordPage { records, next })
    }

    pub fn record(
        &self,
        repo: &RepoName,
        id: &str,
        event: &str,
    ) -> Result<DeliveryRecord, TriggerError> {
        self.get(repo, id)?;
        let unknown = || TriggerError::RecordUnknown {
            trigger: id.to_owned(),
            id: event.to_owned(),
        };
        let seq = event_seq(event).ok_or_else(unknown)?;
        read_record(&self.meta, repo, id, seq)?.ok_or_else(unknown)
    }

    /// Queues a finished record again with a fresh budget of attempts (same event id).
    pub async fn redeliver(
        &self,
        repo: &RepoName,
        id: &str,
        event: &str,
    ) -> Result<DeliveryRecord, TriggerError> {
        let record = self.record(repo, id, event)?;
        let (max, attempts_max) = (
            self.emitter.options.outbox_events_max,
            self.emitter.options.attempts_max,
        );
        let now = self.clock.now_ms();
        let (repo, id) = (repo.clone(), id.to_owned());
        let updated = self
            .meta
            .write(move |ctx| -> Result<DeliveryRecord, TriggerError> {
                let mut record = read_record(ctx, &repo, &id, record.seq)?.ok_or_else(|| {
                    TriggerError::RecordUnknown {
                        trigger: id.clone(),
                        id: record.id.clone(),
                    }
                })?;
                if !matches!(
                    record.status,
                    DeliveryStatus::Failed | DeliveryStatus::Overflow | DeliveryStatus::Delivered
                ) {
                    return Err(TriggerError::NotRedeliverable {
                        id: record.id,
                        status: record.status.as_str(),
                    });
                }
                let len = outbox::read_counter(ctx, schema::TRIGGER_OUTBOX_LEN_KEY)?;
                if len >= max {
                    return Err(TriggerError::OutboxFull { max });
                }
                record.status = DeliveryStatus::Pending;
                record.reason = None;
                record.attempts_max = record.attempts + attempts_max;
                record.next_attempt_at_ms = Some(now);
                record.finished_at_ms = None;
                ctx.put_json(
                    schema::CF_TRIGGER_RECORDS,
                    &schema::trigger_record_key(&repo, &id, record.seq),
                    &record,
                );
                queue_record(ctx, &record, now)?;
                outbox::write_counter(ctx, schema::TRIGGER_OUTBOX_LEN_KEY, len + 1);
                Ok(record)
            })
            .await?;
        self.emitter.signal.notify();
        Ok(updated)
    }

    // ----- the delivery shard -----------------------------------------------------------------

    /// Up to `limit` deliveries due at `now_ms`, oldest first, each with its trigger and
    /// record. Only durable rows are returned: the rows are read from a snapshot taken before a
    /// write barrier (an empty writer job) completed, and a job's completion means everything
    /// applied before it is in the synced WAL; each is then checked to still be in the store.
    /// Deliveries whose trigger or record is gone are removed from the outbox here.
    pub async fn due(&self, now_ms: u64, limit: usize) -> Result<DueBatch, TriggerError> {
        let snapshot = self.meta.snapshot();
        self.meta
            .write(|_| -> Result<(), TriggerError> { Ok(()) })
            .await?;
        let rows = snapshot.scan_prefix(schema::CF_TRIGGER_OUTBOX, b"", None, limit)?;
        drop(snapshot);
        let mut batch = DueBatch::default();
        let mut dangling: Vec<(Vec<u8>, Option<u64>)> = Vec::new();
        for (key, value) in rows {
            if batch.due.len() >= limit {
                break;
            }
            let Some(due_ms) = schema::trigger_outbox_due_ms(&key) else {
                dangling.push((key, None));
                continue;
            };
            if due_ms > now_ms {
                batch.next_due_ms = Some(due_ms);
                break;
            }
            let entry: OutboxEntry = codec::decode(&key, &value)?;
            for (repo, trigger_id, seq, unattempted) in self.named_deliveries(&entry)? {
                let trigger: Option<TriggerRecord> = match &trigger_id {
                    Some(trigger_id) => self
                        .meta
                        .get_json(schema::CF_TRIGGERS, &schema::repo_key(&repo, trigger_id))?,
                    None => None,
                };
                let record = match (&trigger, &trigger_id, unattempted) {
                    (Some(_), _, Some(record)) => Some(record),
                    (Some(_), Some(trigger_id), None) => {
                        read_record(&self.meta, &repo, trigger_id, seq)?
                    }
                    _ => None,
                };
                match (trigger, record) {
                    (Some(trigger), Some(record)) if !record.status.is_final() => {
                        let mut delivery_key = key.clone();
                        delivery_key.extend_from_slice(&seq.to_be_bytes());
                        batch.due.push(Due {
                            outbox_key: key.clone(),
                            key: delivery_key,
                            trigger,
                            record,
                        });
                    }
                    _ => dangling.push((key.clone(), Some(seq))),
                }
            }
        }
        if !dangling.is_empty() {
            self.meta
                .write(move |ctx| -> Result<(), TriggerError> {
                    let mut len = outbox::read_counter(ctx, schema::TRIGGER_OUTBOX_LEN_KEY)?;
                    let mut by_row: std::collections::BTreeMap<Vec<u8>, Option<Vec<u64>>> =
                        Default::default();
                    for (key, seq) in dangling {
                        match (by_row.entry(key).or_insert_with(|| Some(Vec::new())), seq) {
                            (Some(seqs), Some(seq)) => seqs.push(seq),
                            (whole, None) => *whole = None,
                            (None, Some(_)) => {}
                        }
                    }
                    for (key, seqs) in by_row {
                        let removed = match seqs {
                            Some(seqs) => unqueue_all(ctx, &key, &seqs)?,
                            None => remove_row(ctx, &key)?,
                        };
                        len = len.saturating_sub(removed);
                    }
                    outbox::write_counter(ctx, schema::TRIGGER_OUTBOX_LEN_KEY, len);
                    Ok(())
                })
                .await?;
        }
        // The snapshot predates the barrier: an attempt that finished meanwhile has removed
        // its delivery from the store but not from the snapshot, and must not be sent twice.
        // The live check comes after the last await, so no attempt can finish between it and
        // the caller starting the ones returned (the caller's executor is single-threaded).
        let mut live = Vec::with_capacity(batch.due.len());
        for due in batch.due {
            if outbox_names(&self.meta, &due.outbox_key, due.record.seq)? {
                live.push(due);
            }
        }
        batch.due = live;
        Ok(batch)
    }

    /// The (repository, trigger, sequence number) of every delivery an outbox row names; the
    /// trigger is None when the row's event is gone. A push's row names slots never attempted
    /// (the first attempt takes a slot off the row in the job that writes its record), so
    /// their records come from the event read here, with no further read per slot.
    fn named_deliveries(&self, entry: &OutboxEntry) -> Result<Vec<NamedDelivery>, TriggerError> {
        match entry {
            OutboxEntry::Record { repo, trigger, seq } => {
                Ok(vec![(repo.clone(), Some(trigger.clone()), *seq, None)])
            }
            OutboxEntry::Event { repo, base, slots } => {
                let event: Option<EventRow> = codec::get(
                    &self.meta,
                    schema::CF_TRIGGER_EVENTS,
                    &schema::trigger_event_key(repo, *base),
                )?;
                Ok(slots
                    .iter()
                    .map(|slot| {
                        let index = *slot as usize;
                        let part = event.as_ref().and_then(|e| e.slots.get(index));
                        let record = event.as_ref().and_then(|e| e.record(repo, *base, index));
                        (
                            repo.clone(),
                            part.map(|s| s.trigger.clone()),
                            base + u64::from(*slot),
                            record,
                        )
                    })
                    .collect())
            }
        }
    }

    /// Records an attempt of `due`: DELIVERED, RETRYING (a new outbox row at
    /// `outcome.retry_at_ms`) or FAILED. Returns the record as it now is, or None when the
    /// delivery was no longer queued (its trigger was deleted meanwhile).
    pub async fn complete(
        &self,
        due: &Due,
        outcome: AttemptOutcome,
    ) -> Result<Option<DeliveryRecord>, TriggerError> {
        let outbox_key = due.outbox_key.clone();
        let (repo, trigger, seq) = (
            due.record.repo.clone(),
            due.record.trigger_id.clone(),
            due.record.seq,
        );
        self.meta
            .write(move |ctx| -> Result<Option<DeliveryRecord>, TriggerError> {
                if !unqueue(ctx, &outbox_key, seq)? {
                    return Ok(None);
                }
                let mut len = outbox::read_counter(ctx, schema::TRIGGER_OUTBOX_LEN_KEY)?;
                let Some(mut record) = read_record(ctx, &repo, &trigger, seq)? else {
                    outbox::write_counter(
                        ctx,
                        schema::TRIGGER_OUTBOX_LEN_KEY,
                        len.saturating_sub(1),
                    );
                    return Ok(None);
                };
                record.attempts += 1;
                record.http_status = outcome.http_status;
                record.last_error = outcome.error;
                record.latency_ms = Some(outcome.latency_ms);
                record.last_attempt_at_ms = Some(outcome.at_ms);
                record.request_body = Some(truncated_text(
                    &outcome.request_body,
                    REQUEST_BODY_BYTES_MAX,
                ));
                record.response_head = Some(truncated_text(
                    &outcome.response_head,
                    RESPONSE_HEAD_BYTES_MAX,
                ));
                if outcome.delivered || record.attempts >= record.attempts_max {
                    record.status = if outcome.delivered {
                        DeliveryStatus::Delivered
                    } else {
                        DeliveryStatus::Failed
                    };
                    record.next_attempt_at_ms = None;
                    record.finished_at_ms = Some(outcome.at_ms);
                    len = len.saturating_sub(1);
                    outbox::write_counter(ctx, schema::TRIGGER_OUTBOX_LEN_KEY, len);
                } else {
                    record.status = DeliveryStatus::Retrying;
                    let due_ms = queue_record(ctx, &record, outcome.retry_at_ms)?;
                    record.next_attempt_at_ms = Some(due_ms);
                }
                ctx.put_json(
                    schema::CF_TRIGGER_RECORDS,
                    &schema::trigger_record_key(&repo, &trigger, seq),
                    &record,
                );
                Ok(Some(record))
            })
            .await
    }

    /// The outbox's counters. Inline reads.
    pub fn outbox_stats(&self) -> Result<OutboxStats, TriggerError> {
        Ok(OutboxStats {
            waiting: outbox::read_counter(&self.meta, schema::TRIGGER_OUTBOX_LEN_KEY)?,
            overflowed: outbox::read_counter(&self.meta, schema::TRIGGER_OVERFLOWED_KEY)?,
            recorded: outbox::read_counter(&self.meta, schema::TRIGGER_SEQ_KEY)?,
        })
    }

    /// Removes the records of events that happened before `cutoff_ms`, oldest first, in
    /// bounded jobs. An event with a record still waiting for delivery is kept whole, whatever
    /// its age. Returns how many records were removed.
    pub async fn expire_records(&self, cutoff_ms: u64) -> Result<usize, TriggerError> {
        let mut removed_total = 0;
        let mut after: Option<Vec<u8>> = None;
        loop {
            let job_after = after.clone();
            let (removed, last, done) = self
                .meta
                .write(
                    move |ctx| -> Result<(usize, Option<Vec<u8>>, bool), TriggerError> {
                        let rows = ctx.scan_prefix(
                            schema::CF_TRIGGER_RECORD_TIMES,
                            b"",
                            job_after.as_deref(),
                            ROWS_PER_JOB,
                        )?;
                        let mut removed = 0;
                        let mut last = None;
                        let full = rows.len() == ROWS_PER_JOB;
                        for (key, value) in rows {
                            let reference: EventRef = codec::decode(&key, &value)?;
                            if reference.at_ms >= cutoff_ms {
                                return Ok((removed, last, true));
                            }
                            let base = u64::from_str_radix(&String::from_utf8_lossy(&key), 16)
                                .map_err(|_| MetaError::Corrupted {
                                    key: String::from_utf8_lossy(&key).into_owned(),
                                    reason: "not a sequence number".into(),
                                })?;
                            removed += expire_event(ctx, &reference.repo, base, &key)?;
                            last = Some(key);
                        }
                        Ok((removed, last, !full))
                    },
                )
                .await?;
            removed_total += removed;
            if done || last.is_none() {
                return Ok(removed_total);
            }
            after = last;
        }
    }

    fn require_repo(&self, repo: &RepoName) -> Result<(), TriggerError> {
        if self
            .meta
            .contains(schema::CF_REPOS, repo.as_str().as_bytes())?
        {
            Ok(())
        } else {
            Err(TriggerError::RepositoryUnknown { repo: repo.clone() })
        }
    }
}

/// An outbox row as format v3 wrote it: one per record.
#[derive(Deserialize)]
struct V3OutboxEntry {
    repo: RepoName,
    trigger_id: String,
    seq: u64,
}

/// Format v3 → v4 (`engine/src/migrate.rs`): every v3 record (all were full rows of
/// `cf trigger_records`) becomes an event of one slot whose base is its sequence number, and
/// stays as the slot's attempted record; outbox rows name records in the v4 shape. The
/// retention rows keep their keys (the base is the v3 record's seq) and values (v4 reads the
/// repository and time, and ignores the trigger id). Idempotent; one writer job per page.
/// Returns the rows visited.
pub(crate) fn upgrade_v3_rows(meta: &Meta) -> Result<u64, MetaError> {
    const PAGE_ROWS: usize = 512;
    let mut visited = 0;
    for cf in [schema::CF_TRIGGER_RECORDS, schema::CF_TRIGGER_OUTBOX] {
        let mut after: Option<Vec<u8>> = None;
        loop {
            let page = meta.scan_prefix(cf, b"", after.as_deref(), PAGE_ROWS)?;
            visited += page.len() as u64;
            let mut rows = Vec::new();
            for (key, value) in &page {
                if cf == schema::CF_TRIGGER_RECORDS {
                    let record: DeliveryRecord = decode_json(key, value)?;
                    let event = EventRow {
                        kind: record.event,
                        tag: record.tag.clone(),
                        digest: record.digest.clone(),
                        at_ms: record.at_ms,
                        repo_created_at_ms: record.repo_created_at_ms,
                        repo_public: record.repo_public,
                        attempts_max: record.attempts_max,
                        slots: vec![EventSlot {
                            trigger: record.trigger_id.clone(),
                            status: record.status,
                            reason: record.reason.clone(),
                            outbox_waiting: None,
                        }],
                    };
                    rows.push((
                        schema::CF_TRIGGER_EVENTS,
                        schema::trigger_event_key(&record.repo, record.seq),
                        codec::encode(&event),
                    ));
                } else if codec::decode::<OutboxEntry>(key, value).is_err() {
                    let old: V3OutboxEntry = decode_json(key, value)?;
                    let entry = OutboxEntry::Record {
                        repo: old.repo,
                        trigger: old.trigger_id,
                        seq: old.seq,
                    };
                    rows.push((cf, key.clone(), codec::encode(&entry)));
                }
            }
            if !rows.is_empty() {
                meta.write_blocking(move |ctx| -> Result<(), MetaError> {
                    for (family, key, value) in rows {
                        ctx.put_raw(family, &key, &value);
                    }
                    Ok(())
                })?;
            }
            if page.len() < PAGE_ROWS {
                break;
            }
            after = page.last().map(|(key, _)| key.clone());
        }
    }
    Ok(visited)
}

/// A record by its trigger and sequence number: its row in `cf trigger_records` once it was
/// attempted or redelivered, else its slot of the event holding `seq`.
fn read_record(
    reader: &crate::meta::Reader,
    repo: &RepoName,
    trigger: &str,
    seq: u64,
) -> Result<Option<DeliveryRecord>, TriggerError> {
    let attempted: Option<DeliveryRecord> = reader.get_json(
        schema::CF_TRIGGER_RECORDS,
        &schema::trigger_record_key(repo, trigger, seq),
    )?;
    if attempted.is_some() {
        return Ok(attempted);
    }
    // Keys after `!(seq + 1)` start at `!seq`: the newest event whose base is at most `seq`.
    let prefix = schema::repo_prefix(repo);
    let after = seq.checked_add(1).map(schema::trigger_event_suffix);
    let rows = reader.scan_prefix(schema::CF_TRIGGER_EVENTS, &prefix, after.as_deref(), 1)?;
    let Some((suffix, value)) = rows.first() else {
        return Ok(None);
    };
    let base = event_base(&prefix, suffix)?;
    let event: EventRow = codec::decode(suffix, value)?;
    let Some(slot) = seq
        .checked_sub(base)
        .and_then(|offset| usize::try_from(offset).ok())
    else {
        return Ok(None);
    };
    match event.slots.get(slot) {
        Some(part) if part.trigger == trigger => Ok(event.record(repo, base, slot)),
        _ => Ok(None),
    }
}

/// The base sequence number of an event row's key suffix.
fn event_base(prefix: &[u8], suffix: &[u8]) -> Result<u64, MetaError> {
    schema::trigger_event_base(suffix).ok_or_else(|| MetaError::Corrupted {
        key: format!(
            "{}{}",
            String::from_utf8_lossy(prefix).replace('\0', "/"),
            String::from_utf8_lossy(suffix)
        ),
        reason: "not an event key".into(),
    })
}

/// Writes an outbox row of its own for `record`, due at `due_ms` or, if a row of the same
/// record is already there at that time, the first free millisecond after. Returns the due
/// time used. The caller counts the delivery.
fn queue_record(
    ctx: &mut WriteCtx<'_>,
    record: &DeliveryRecord,
    due_ms: u64,
) -> Result<u64, TriggerError> {
    let mut due_ms = due_ms;
    while ctx.contains(
        schema::CF_TRIGGER_OUTBOX,
        &schema::trigger_outbox_key(due_ms, record.seq),
    )? {
        due_ms += 1;
    }
    codec::put(
        ctx,
        schema::CF_TRIGGER_OUTBOX,
        &schema::trigger_outbox_key(due_ms, record.seq),
        &OutboxEntry::Record {
            repo: record.repo.clone(),
            trigger: record.trigger_id.clone(),
            seq: record.seq,
        },
    );
    Ok(due_ms)
}

/// Whether the outbox row `key` still names the delivery of record `seq`.
fn outbox_names(reader: &crate::meta::Reader, key: &[u8], seq: u64) -> Result<bool, TriggerError> {
    let entry: Option<OutboxEntry> = codec::get(reader, schema::CF_TRIGGER_OUTBOX, key)?;
    Ok(match entry {
        None => false,
        Some(OutboxEntry::Record { seq: named, .. }) => named == seq,
        Some(OutboxEntry::Event { base, slots, .. }) => seq
            .checked_sub(base)
            .is_some_and(|slot| slots.iter().any(|s| u64::from(*s) == slot)),
    })
}

/// Takes the delivery of record `seq` off the outbox row `key`: the row goes when it named
/// nothing else. False when the row did not name it. The caller adjusts the counter.
fn unqueue(ctx: &mut WriteCtx<'_>, key: &[u8], seq: u64) -> Result<bool, TriggerError> {
    Ok(unqueue_all(ctx, key, &[seq])? == 1)
}

/// Takes the deliveries of records `seqs` off the outbox row `key` (one read and one write:
/// a job's reads do not see its own batch, so a row is changed once per job). Returns how many
/// it named. The caller adjusts the counter.
fn unqueue_all(ctx: &mut WriteCtx<'_>, key: &[u8], seqs: &[u64]) -> Result<u64, TriggerError> {
    let entry: Option<OutboxEntry> = codec::get(ctx, schema::CF_TRIGGER_OUTBOX, key)?;
    match entry {
        Some(OutboxEntry::Record { seq, .. }) if seqs.contains(&seq) => {
            ctx.delete(schema::CF_TRIGGER_OUTBOX, key);
            Ok(1)
        }
        Some(OutboxEntry::Event {
            repo,
            base,
            mut slots,
        }) => {
            let before = slots.len();
            slots.retain(|s| !seqs.contains(&(base + u64::from(*s))));
            let removed = (before - slots.len()) as u64;
            if removed == 0 {
                return Ok(0);
            }
            if slots.is_empty() {
                ctx.delete(schema::CF_TRIGGER_OUTBOX, key);
            } else {
                codec::put(
                    ctx,
                    schema::CF_TRIGGER_OUTBOX,
                    key,
                    &OutboxEntry::Event { repo, base, slots },
                );
            }
            Ok(removed)
        }
        _ => Ok(0),
    }
}

/// Removes the outbox row `key` whatever it names (one whose key cannot be read). Returns
/// the deliveries it counted for.
fn remove_row(ctx: &mut WriteCtx<'_>, key: &[u8]) -> Result<u64, TriggerError> {
    let Some(raw) = ctx.get_raw(schema::CF_TRIGGER_OUTBOX, key)? else {
        return Ok(0);
    };
    ctx.delete(schema::CF_TRIGGER_OUTBOX, key);
    Ok(codec::decode::<OutboxEntry>(key, &raw).map_or(1, |entry| entry.deliveries()))
}

/// Removes the event `base` of `repo` with its attempted records and its retention row, unless
/// one of its records is still waiting for delivery. Returns the records removed.
fn expire_event(
    ctx: &mut WriteCtx<'_>,
    repo: &RepoName,
    base: u64,
    time_key: &[u8],
) -> Result<usize, TriggerError> {
    let event_key = schema::trigger_event_key(repo, base);
    let Some(event) = codec::get::<EventRow>(ctx, schema::CF_TRIGGER_EVENTS, &event_key)? else {
        // The repository was deleted with its events.
        ctx.delete(schema::CF_TRIGGER_RECORD_TIMES, time_key);
        return Ok(0);
    };
    let mut attempted = Vec::new();
    for (slot, part) in event.slots.iter().enumerate() {
        let seq = base + slot as u64;
        let key = schema::trigger_record_key(repo, &part.trigger, seq);
        let status = match ctx.get_json::<DeliveryRecord>(schema::CF_TRIGGER_RECORDS, &key)? {
            Some(record) => {
                attempted.push(key);
                record.status
            }
            None => part.status,
        };
        if !status.is_final() {
            return Ok(0);
        }
    }
    for key in attempted {
        ctx.delete(schema::CF_TRIGGER_RECORDS, &key);
    }
    ctx.delete(schema::CF_TRIGGER_EVENTS, &event_key);
    ctx.delete(schema::CF_TRIGGER_RECORD_TIMES, time_key);
    Ok(event.slots.len())
}

fn repo_triggers(
    reader: &crate::meta::Reader,
    repo: &RepoName,
) -> Result<Vec<TriggerRecord>, TriggerError> {
    let rows = reader.scan_prefix(
        schema::CF_TRIGGERS,
        &schema::repo_prefix(repo),
        None,
        outbox::TRIGGERS_PER_REPO_SCAN_MAX,
    )?;
    rows.iter()
        .map(|(suffix, value)| decode_json(suffix, value).map_err(TriggerError::from))
        .collect()
}

fn validate(spec: &TriggerSpec) -> Result<(), TriggerError> {
    let invalid = |field, reason: String| Err(TriggerError::TriggerInvalid { field, reason });
    let name = spec.name.trim();
    if name.is_empty() || name.chars().count() > TRIGGER_NAME_CHARS_MAX || name != spec.name {
        return invalid(
            "name",
            format!("a trigger name is 1 to {TRIGGER_NAME_CHARS_MAX} characters, without leading or trailing spaces"),
        );
    }
    if spec.name.chars().any(char::is_control) {
        return invalid("name", "a trigger name has no control characters".into());
    }
    if spec.url.is_empty() || spec.url.len() > TRIGGER_URL_BYTES_MAX {
        return invalid(
            "url",
            format!("a URL is 1 to {TRIGGER_URL_BYTES_MAX} bytes"),
        );
    }
    if spec.events.is_empty() {
        return invalid("events", "at least one event is needed".into());
    }
    if let Err(reason) = spec.filter.validate() {
        let field = match spec.filter {
            TriggerFilter::Tags(_) => "tags",
            _ => "expression",
        };
        return invalid(field, reason);
    }
    Ok(())
}

fn validate_secret(secret: &str) -> Result<(), TriggerError> {
    if secret.len() > TRIGGER_SECRET_BYTES_MAX {
        return Err(TriggerError::TriggerInvalid {
            field: "secret",
            reason: format!("a secret is at most {TRIGGER_SECRET_BYTES_MAX} bytes"),
        });
    }
    Ok(())
}

/// At most `max` bytes of `bytes` as text (bytes that are not UTF-8, including a character
/// cut at the end, show as U+FFFD).
fn truncated_text(bytes: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(max)]);
    text.into_owned()
}

#[cfg(test)]
mod tests;
