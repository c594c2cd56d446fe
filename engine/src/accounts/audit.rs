//! The audit log: who did what to which repository, and how it ended.
//!
//! ```text
//! cf "audit"  <at ms, 16 lowercase hex> 0x00 <seq, 8 lowercase hex>  -> AuditRecord (json)
//!             e.g. "0000018f3a2b4c5d" 00 "0000002a"
//! ```
//!
//! Keys lead with the record's time, so the family reads as a log in time order and expiry
//! deletes a prefix of it. `seq` separates records of the same millisecond: it is taken
//! inside the writer job, in commit order, and a key already present (after a restart, or a
//! clock that stepped back) is never overwritten — the next sequence number is tried.
//!
//! Queries read oldest first. A page's cursor is the hex of the last key it examined, so the
//! next page starts strictly after it whatever the filter. Each query examines at most
//! [`AUDIT_QUERY_SCAN_ROWS_MAX`] rows, so a page may hold fewer records than asked for and
//! still have a `next`; the end of the log is a page with `next: None`.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{AccountError, Accounts};
use crate::meta::schema::CF_AUDIT;
use crate::meta::MetaError;

/// The most records one query returns.
pub const AUDIT_PAGE_RECORDS_MAX: usize = 1000;

/// The most rows one query examines, matching or not.
pub const AUDIT_QUERY_SCAN_ROWS_MAX: usize = 10_000;

/// Longest stored `source`, `operation`, `repository`, `reference`, `result` or `account`, in
/// bytes; longer values are cut at a character boundary and end in `…`.
pub const AUDIT_FIELD_BYTES_MAX: usize = 1024;

/// Longest stored `detail`, in bytes; cut the same way.
pub const AUDIT_DETAIL_BYTES_MAX: usize = 4096;

/// Records written by one writer job; a larger append becomes several jobs.
const APPEND_JOB_RECORDS_MAX: usize = 1024;

/// Rows read and deleted per writer job when expiring.
const EXPIRE_PAGE_ROWS: usize = 1024;

/// Rows read from the store per step of a query.
const QUERY_PAGE_ROWS: usize = 256;

/// Length of an audit key: 16 hex digits, 0x00, 8 hex digits.
const AUDIT_KEY_BYTES: usize = 25;

/// One audited request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub at_ms: u64,
    /// The account that acted; None for anonymous requests.
    pub account: Option<String>,
    /// Where the request came from (the peer address).
    pub source: String,
    /// What was attempted, e.g. an `Operation` name.
    pub operation: String,
    pub repository: Option<String>,
    /// A tag or digest.
    pub reference: Option<String>,
    /// `ok`, `denied`, or an error code.
    pub result: String,
    pub detail: Option<String>,
}

/// Which records a query returns: every given field must match exactly; `since_ms` is
/// inclusive and `until_ms` exclusive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub since_ms: Option<u64>,
    pub until_ms: Option<u64>,
    pub account: Option<String>,
    pub repository: Option<String>,
    pub operation: Option<String>,
    pub result: Option<String>,
}

impl AuditFilter {
    fn matches(&self, record: &AuditRecord) -> bool {
        fn field(wanted: &Option<String>, actual: Option<&str>) -> bool {
            wanted.as_deref().is_none_or(|w| actual == Some(w))
        }
        field(&self.account, record.account.as_deref())
            && field(&self.repository, record.repository.as_deref())
            && field(&self.operation, Some(&record.operation))
            && field(&self.result, Some(&record.result))
    }
}

/// One page of a query, oldest record first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditPage {
    pub records: Vec<AuditRecord>,
    /// The cursor to pass as `after` for the next page; None at the end of the log.
    pub next: Option<String>,
}

impl Accounts {
    /// Writes `records`, up to [`APPEND_JOB_RECORDS_MAX`] per writer job. Over-long fields are
    /// cut (see [`AUDIT_FIELD_BYTES_MAX`]).
    pub async fn append_audit(&self, records: Vec<AuditRecord>) -> Result<(), AccountError> {
        let mut records = records.into_iter().map(bounded).peekable();
        while records.peek().is_some() {
            let batch: Vec<AuditRecord> = records.by_ref().take(APPEND_JOB_RECORDS_MAX).collect();
            let seq = Arc::clone(&self.shared.audit_seq);
            self.meta()
                .write(move |ctx| -> Result<(), AccountError> {
                    for record in batch {
                        let key = loop {
                            let key = audit_key(record.at_ms, seq.fetch_add(1, Ordering::Relaxed));
                            if !ctx.contains(CF_AUDIT, &key)? {
                                break key;
                            }
                        };
                        ctx.put_json(CF_AUDIT, &key, &record);
                    }
                    Ok(())
                })
                .await?;
        }
        Ok(())
    }

    /// Records matching `filter`, oldest first, starting after the cursor `after` (from a
    /// previous page's `next`); at most `limit` records (clamped to
    /// `1..=AUDIT_PAGE_RECORDS_MAX`). See the module documentation for paging.
    pub fn query_audit(
        &self,
        filter: &AuditFilter,
        after: Option<&str>,
        limit: usize,
    ) -> Result<AuditPage, AccountError> {
        let limit = limit.clamp(1, AUDIT_PAGE_RECORDS_MAX);
        // Scanning after `<since, 16 hex>` starts at `<since> 0x00`, the first possible key
        // of that millisecond. A cursor further on wins.
        let since = format!("{:016x}", filter.since_ms.unwrap_or(0)).into_bytes();
        let mut position = match after {
            Some(cursor) => decode_cursor(cursor)?.max(since),
            None => since,
        };
        let mut records = Vec::new();
        let mut examined = 0;
        loop {
            let page = QUERY_PAGE_ROWS.min(AUDIT_QUERY_SCAN_ROWS_MAX - examined);
            let rows = self
                .meta()
                .scan_prefix(CF_AUDIT, b"", Some(&position), page)?;
            let last_page = rows.len() < page;
            for (key, value) in rows {
                if let Some(until_ms) = filter.until_ms {
                    if key_at_ms(&key)? >= until_ms {
                        return Ok(AuditPage {
                            records,
                            next: None,
                        });
                    }
                }
                let record: AuditRecord = crate::meta::decode_json(&key, &value)?;
                position = key;
                examined += 1;
                if filter.matches(&record) {
                    records.push(record);
                }
                if records.len() == limit || examined == AUDIT_QUERY_SCAN_ROWS_MAX {
                    return Ok(AuditPage {
                        records,
                        next: Some(hex::encode(&position)),
                    });
                }
            }
            if last_page {
                return Ok(AuditPage {
                    records,
                    next: None,
                });
            }
        }
    }

    /// Deletes records older than `older_than_ms` (their `at_ms` is smaller); returns how
    /// many.
    pub async fn expire_audit(&self, older_than_ms: u64) -> Result<usize, AccountError> {
        // Every key of a millisecond before the cutoff sorts below `<cutoff, 16 hex>`, and
        // every key of the cutoff's millisecond or later sorts above it.
        let end = format!("{older_than_ms:016x}").into_bytes();
        let mut removed = 0;
        let mut after: Option<Vec<u8>> = None;
        loop {
            let rows =
                self.meta()
                    .scan_prefix(CF_AUDIT, b"", after.as_deref(), EXPIRE_PAGE_ROWS)?;
            let full_page = rows.len() == EXPIRE_PAGE_ROWS;
            let keys: Vec<Vec<u8>> = rows
                .into_iter()
                .map(|(key, _)| key)
                .take_while(|key| *key < end)
                .collect();
            let reached_end = !full_page || keys.len() < EXPIRE_PAGE_ROWS;
            after = keys.last().cloned();
            let count = keys.len();
            if count > 0 {
                self.meta()
                    .write(move |ctx| -> Result<(), AccountError> {
                        for key in keys {
                            ctx.delete(CF_AUDIT, &key);
                        }
                        Ok(())
                    })
                    .await?;
            }
            removed += count;
            if reached_end {
                return Ok(removed);
            }
        }
    }
}

/// `<at ms, 16 hex> 0x00 <seq, 8 hex>`; `seq` wraps at 2^32 so the key keeps its length.
fn audit_key(at_ms: u64, seq: u64) -> Vec<u8> {
    format!("{at_ms:016x}\0{:08x}", seq & 0xffff_ffff).into_bytes()
}

/// The millisecond an audit key starts with.
fn key_at_ms(key: &[u8]) -> Result<u64, MetaError> {
    key.get(..16)
        .and_then(|hex| std::str::from_utf8(hex).ok())
        .and_then(|hex| u64::from_str_radix(hex, 16).ok())
        .ok_or_else(|| MetaError::Corrupted {
            key: format!("{CF_AUDIT}/{}", hex::encode(key)),
            reason: "audit key does not start with 16 hex digits".into(),
        })
}

fn decode_cursor(cursor: &str) -> Result<Vec<u8>, AccountError> {
    let key = hex::decode(cursor).map_err(|_| AccountError::CursorInvalid)?;
    if key.len() != AUDIT_KEY_BYTES || key[16] != 0 || key_at_ms(&key).is_err() {
        return Err(AccountError::CursorInvalid);
    }
    Ok(key)
}

/// `record` with every field within its limit.
fn bounded(mut record: AuditRecord) -> AuditRecord {
    for field in [
        &mut record.source,
        &mut record.operation,
        &mut record.result,
    ] {
        cut(field, AUDIT_FIELD_BYTES_MAX);
    }
    for field in [
        &mut record.account,
        &mut record.repository,
        &mut record.reference,
    ]
    .into_iter()
    .flatten()
    {
        cut(field, AUDIT_FIELD_BYTES_MAX);
    }
    if let Some(detail) = &mut record.detail {
        cut(detail, AUDIT_DETAIL_BYTES_MAX);
    }
    record
}

/// Cuts `text` to at most `bytes_max` bytes, at a character boundary, ending in `…`.
fn cut(text: &mut String, bytes_max: usize) {
    if text.len() <= bytes_max {
        return;
    }
    let ellipsis = '…';
    let mut at = bytes_max - ellipsis.len_utf8();
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    text.truncate(at);
    text.push(ellipsis);
}
