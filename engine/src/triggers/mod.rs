//! Webhook triggers (issue #10): per-repository triggers, their delivery records, and the
//! durable outbox the delivery shard works from.
//!
//! ```text
//!  management API ──▶ Triggers::create/update/delete/list   (cf triggers)
//!  tag push/delete ─▶ registry writer job ─▶ outbox::emit   (cf trigger_records, trigger_outbox,
//!                                                            trigger_record_times, counters)
//!  delivery shard ──▶ Triggers::due (durability barrier) ─▶ POST ─▶ Triggers::complete
//!                       DELIVERED | RETRYING (new outbox row, later) | FAILED (last attempt)
//!  maintenance ────▶ Triggers::expire_records (finished records older than the retention)
//! ```
//!
//! Invariants:
//! - A record is `PENDING` or `RETRYING` exactly while one outbox row names it; both change
//!   in one writer job, so a crash leaves either the old pair or the new one. After a restart
//!   the outbox is delivered again (at least once; the event id is the same, receivers
//!   de-duplicate on it), so no record stays `PENDING` forever.
//! - The outbox holds at most `outbox_events_max` rows; what does not fit is recorded
//!   `OVERFLOW`, counted and logged — never dropped silently — and the push still succeeds.
//! - Records are kept until a retention sweep removes finished ones; a deleted trigger's
//!   records go with it, and outbox rows of a deleted trigger are dropped when reached.
//!
//! Must not: deliver anything or know about HTTP (URLs are opaque text here; the server checks
//! them before they are stored and again before each delivery).

mod filter;
mod outbox;

pub use filter::{TriggerFilter, FILTER_EXPRESSION_CHARS_MAX, FILTER_TAGS_MAX};
pub use outbox::OutboxWakeups;
pub(crate) use outbox::{emit, signal, Emitter, TagEvent};

use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::meta::schema::{self};
use crate::meta::{decode_json, Meta, MetaError};
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

/// An outbox row's value: which record to deliver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct OutboxEntry {
    pub repo: RepoName,
    pub trigger_id: String,
    pub seq: u64,
}

/// A retention-index row's value: where the record of a sequence number is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RecordRef {
    pub repo: RepoName,
    pub trigger_id: String,
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
    pub trigger: TriggerRecord,
    pub record: DeliveryRecord,
}

impl Due {
    /// Identifies the outbox row (for the delivery shard's set of deliveries in flight).
    pub fn key(&self) -> &[u8] {
        &self.outbox_key
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
                Ok(())
            })
            .await?;
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
    /// the record `after` (an event id) when given.
    pub fn records(
        &self,
        repo: &RepoName,
        id: &str,
        n: usize,
        after: Option<&str>,
    ) -> Result<RecordPage, TriggerError> {
        self.get(repo, id)?;
        let n = n.clamp(1, RECORD_PAGE_MAX);
        let prefix = schema::trigger_records_prefix(repo, id);
        let after_suffix = match after {
            None => None,
            Some(after) => {
                let seq = event_seq(after).ok_or_else(|| TriggerError::TriggerInvalid {
                    field: "after",
                    reason: format!("{after:?} is not an event id"),
                })?;
                let key = schema::trigger_record_key(repo, id, seq);
                Some(key[prefix.len()..].to_vec())
            }
        };
        let rows = self.meta.scan_prefix(
            schema::CF_TRIGGER_RECORDS,
            &prefix,
            after_suffix.as_deref(),
            n + 1,
        )?;
        let mut records = Vec::with_capacity(rows.len().min(n));
        for (suffix, value) in rows.iter().take(n) {
            records.push(decode_json::<DeliveryRecord>(suffix, value)?);
        }
        let next = (rows.len() > n)
            .then(|| records.last().map(|r| r.id.clone()))
            .flatten();
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
        self.meta
            .get_json(
                schema::CF_TRIGGER_RECORDS,
                &schema::trigger_record_key(repo, id, seq),
            )?
            .ok_or_else(unknown)
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
        let key = schema::trigger_record_key(repo, id, record.seq);
        let updated = self
            .meta
            .write(move |ctx| -> Result<DeliveryRecord, TriggerError> {
                let mut record: DeliveryRecord = ctx
                    .get_json(schema::CF_TRIGGER_RECORDS, &key)?
                    .ok_or_else(|| TriggerError::RecordUnknown {
                        trigger: record.trigger_id.clone(),
                        id: record.id.clone(),
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
                ctx.put_json(schema::CF_TRIGGER_RECORDS, &key, &record);
                ctx.put_json(
                    schema::CF_TRIGGER_OUTBOX,
                    &schema::trigger_outbox_key(now, record.seq),
                    &OutboxEntry {
                        repo: record.repo.clone(),
                        trigger_id: record.trigger_id.clone(),
                        seq: record.seq,
                    },
                );
                outbox::write_counter(ctx, schema::TRIGGER_OUTBOX_LEN_KEY, len + 1);
                Ok(record)
            })
            .await?;
        self.emitter.signal.notify();
        Ok(updated)
    }

    // ----- the delivery shard -----------------------------------------------------------------

    /// Up to `limit` outbox rows due at `now_ms`, oldest first, each with its trigger and
    /// record. Only durable rows are returned: the rows are read from a snapshot taken before a
    /// write barrier (an empty writer job) completed, and a job's completion means everything
    /// applied before it is in the synced WAL; each is then checked to still be in the store.
    /// Rows whose trigger or record is gone are removed here.
    pub async fn due(&self, now_ms: u64, limit: usize) -> Result<DueBatch, TriggerError> {
        let snapshot = self.meta.snapshot();
        self.meta
            .write(|_| -> Result<(), TriggerError> { Ok(()) })
            .await?;
        let rows = snapshot.scan_prefix(schema::CF_TRIGGER_OUTBOX, b"", None, limit)?;
        let mut batch = DueBatch::default();
        let mut dangling = Vec::new();
        for (key, value) in rows {
            let Some(due_ms) = schema::trigger_outbox_due_ms(&key) else {
                dangling.push(key);
                continue;
            };
            if due_ms > now_ms {
                batch.next_due_ms = Some(due_ms);
                break;
            }
            let entry: OutboxEntry = decode_json(&key, &value)?;
            let trigger: Option<TriggerRecord> = self.meta.get_json(
                schema::CF_TRIGGERS,
                &schema::repo_key(&entry.repo, &entry.trigger_id),
            )?;
            let record: Option<DeliveryRecord> = self.meta.get_json(
                schema::CF_TRIGGER_RECORDS,
                &schema::trigger_record_key(&entry.repo, &entry.trigger_id, entry.seq),
            )?;
            match (trigger, record) {
                (Some(trigger), Some(record)) if !record.status.is_final() => batch.due.push(Due {
                    outbox_key: key,
                    trigger,
                    record,
                }),
                _ => dangling.push(key),
            }
        }
        drop(snapshot);
        if !dangling.is_empty() {
            self.meta
                .write(move |ctx| -> Result<(), TriggerError> {
                    let mut len = outbox::read_counter(ctx, schema::TRIGGER_OUTBOX_LEN_KEY)?;
                    for key in dangling {
                        if ctx.contains(schema::CF_TRIGGER_OUTBOX, &key)? {
                            ctx.delete(schema::CF_TRIGGER_OUTBOX, &key);
                            len = len.saturating_sub(1);
                        }
                    }
                    outbox::write_counter(ctx, schema::TRIGGER_OUTBOX_LEN_KEY, len);
                    Ok(())
                })
                .await?;
        }
        // The snapshot predates the barrier: an attempt that finished meanwhile has removed
        // its row from the store but not from the snapshot, and must not be sent twice. The
        // live check comes after the last await, so no attempt can finish between it and the
        // caller starting the ones returned (the caller's executor is single-threaded).
        let mut live = Vec::with_capacity(batch.due.len());
        for due in batch.due {
            if self
                .meta
                .contains(schema::CF_TRIGGER_OUTBOX, &due.outbox_key)?
            {
                live.push(due);
            }
        }
        batch.due = live;
        Ok(batch)
    }

    /// Records an attempt of `due`: DELIVERED, RETRYING (a new outbox row at
    /// `outcome.retry_at_ms`) or FAILED. Returns the record as it now is, or None when the
    /// row was no longer there (its trigger was deleted meanwhile).
    pub async fn complete(
        &self,
        due: &Due,
        outcome: AttemptOutcome,
    ) -> Result<Option<DeliveryRecord>, TriggerError> {
        let outbox_key = due.outbox_key.clone();
        let record_key =
            schema::trigger_record_key(&due.record.repo, &due.record.trigger_id, due.record.seq);
        self.meta
            .write(move |ctx| -> Result<Option<DeliveryRecord>, TriggerError> {
                if !ctx.contains(schema::CF_TRIGGER_OUTBOX, &outbox_key)? {
                    return Ok(None);
                }
                let mut len = outbox::read_counter(ctx, schema::TRIGGER_OUTBOX_LEN_KEY)?;
                ctx.delete(schema::CF_TRIGGER_OUTBOX, &outbox_key);
                let record: Option<DeliveryRecord> =
                    ctx.get_json(schema::CF_TRIGGER_RECORDS, &record_key)?;
                let Some(mut record) = record else {
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
                    record.next_attempt_at_ms = Some(outcome.retry_at_ms);
                    ctx.put_json(
                        schema::CF_TRIGGER_OUTBOX,
                        &schema::trigger_outbox_key(outcome.retry_at_ms, record.seq),
                        &OutboxEntry {
                            repo: record.repo.clone(),
                            trigger_id: record.trigger_id.clone(),
                            seq: record.seq,
                        },
                    );
                }
                ctx.put_json(schema::CF_TRIGGER_RECORDS, &record_key, &record);
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

    /// Removes finished records that happened before `cutoff_ms`, oldest first, in bounded
    /// jobs. Records still waiting for delivery are kept whatever their age. Returns how many
    /// were removed.
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
                            let reference: RecordRef = decode_json(&key, &value)?;
                            if reference.at_ms >= cutoff_ms {
                                return Ok((removed, last, true));
                            }
                            let seq = u64::from_str_radix(&String::from_utf8_lossy(&key), 16)
                                .map_err(|_| MetaError::Corrupted {
                                    key: String::from_utf8_lossy(&key).into_owned(),
                                    reason: "not a sequence number".into(),
                                })?;
                            let record_key = schema::trigger_record_key(
                                &reference.repo,
                                &reference.trigger_id,
                                seq,
                            );
                            let record: Option<DeliveryRecord> =
                                ctx.get_json(schema::CF_TRIGGER_RECORDS, &record_key)?;
                            match record {
                                Some(record) if !record.status.is_final() => {}
                                Some(_) => {
                                    ctx.delete(schema::CF_TRIGGER_RECORDS, &record_key);
                                    ctx.delete(schema::CF_TRIGGER_RECORD_TIMES, &key);
                                    removed += 1;
                                }
                                None => ctx.delete(schema::CF_TRIGGER_RECORD_TIMES, &key),
                            }
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
