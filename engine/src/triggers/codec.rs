//! How the rows a push writes are encoded: event rows, outbox rows and retention-index rows
//! (`cf trigger_events`, `trigger_outbox`, `trigger_record_times`).
//!
//! They are the push path's share of the WAL, written at the push rate; in JSON, an event of a
//! repository with 10 triggers was about 2 KiB and its WAL bytes and fsync cost the push a
//! fifth of its throughput (docs/benchmarks.md, "Webhooks"). They are written compact instead:
//! one tag byte, then `postcard` (serde, varint integers, no field names).
//!
//! ```text
//!  0x01 ‖ postcard(value)   written since format v4's compact rows
//!  '{' …                    JSON, written by format v4 before them: still read
//! ```
//!
//! Must not: be used for rows people read with tools (records, triggers, counters stay as they
//! are), or for a type whose fields are skipped when serialised (postcard is not
//! self-describing: every field is always written, in declaration order; new fields go last
//! with `#[serde(default)]` and a new tag byte).

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::meta::{decode_json, MetaError, Reader, WriteCtx};

/// The first byte of a compact row.
const COMPACT_V1: u8 = 0x01;

/// A row type of the trigger families stored by this codec.
pub(crate) trait CompactRow: Serialize + DeserializeOwned {}

pub(crate) fn encode<T: CompactRow>(value: &T) -> Vec<u8> {
    // Serialising our own row types into a Vec cannot fail: postcard fails only on a writer
    // that is full or on sequences of unknown length, and these are plain structs and Vecs.
    postcard::to_extend(value, vec![COMPACT_V1]).expect("trigger rows serialise")
}

pub(crate) fn decode<T: CompactRow>(key: &[u8], bytes: &[u8]) -> Result<T, MetaError> {
    match bytes.split_first() {
        Some((&COMPACT_V1, rest)) => postcard::from_bytes(rest).map_err(|e| corrupted(key, e)),
        Some((b'{', _)) => decode_json(key, bytes),
        Some((tag, _)) => Err(corrupted(key, format!("unknown row encoding 0x{tag:02x}"))),
        None => Err(corrupted(key, "an empty row")),
    }
}

/// Point read of a compact row.
pub(crate) fn get<T: CompactRow>(
    reader: &Reader,
    cf: &str,
    key: &[u8],
) -> Result<Option<T>, MetaError> {
    reader
        .get_raw(cf, key)?
        .map(|bytes| decode(key, &bytes))
        .transpose()
}

pub(crate) fn put<T: CompactRow>(ctx: &mut WriteCtx<'_>, cf: &str, key: &[u8], value: &T) {
    ctx.put_raw(cf, key, &encode(value));
}

fn corrupted(key: &[u8], reason: impl std::fmt::Display) -> MetaError {
    MetaError::Corrupted {
        key: String::from_utf8_lossy(key).replace('\0', "/"),
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{DeliveryStatus, EventKind, EventRow, EventSlot, OutboxEntry};
    use super::*;
    use crate::oci::{Digest, RepoName};

    fn event() -> EventRow {
        let slot = |trigger: &str, status, reason: Option<&str>, waiting| EventSlot {
            trigger: trigger.into(),
            status,
            reason: reason.map(str::to_owned),
            outbox_waiting: waiting,
        };
        EventRow {
            kind: EventKind::Push,
            tag: "v1".into(),
            digest: Digest::sha256_of(b"manifest"),
            at_ms: 1_764_800_000_000,
            repo_created_at_ms: 1_764_700_000_000,
            repo_public: true,
            attempts_max: 8,
            slots: vec![
                slot("0123456789abcdef", DeliveryStatus::Pending, None, None),
                slot(
                    "1123456789abcdef",
                    DeliveryStatus::Untriggered,
                    Some("tag v1 does not match release-v.*"),
                    None,
                ),
                slot(
                    "2123456789abcdef",
                    DeliveryStatus::Overflow,
                    None,
                    Some(100_000),
                ),
            ],
        }
    }

    #[test]
    fn rows_round_trip_and_are_smaller_than_json() {
        let row = event();
        let bytes = encode(&row);
        assert_eq!(bytes[0], COMPACT_V1);
        assert_eq!(decode::<EventRow>(b"k", &bytes).expect("decode"), row);
        let json = serde_json::to_vec(&row).expect("json");
        assert!(
            bytes.len() * 2 < json.len(),
            "{} bytes compact, {} as JSON",
            bytes.len(),
            json.len()
        );
        let entry = OutboxEntry::Event {
            repo: RepoName::parse("team/app").expect("name"),
            base: 41,
            slots: vec![0, 2],
        };
        assert_eq!(
            decode::<OutboxEntry>(b"k", &encode(&entry)).expect("decode"),
            entry
        );
    }

    #[test]
    fn json_rows_of_format_v4_are_still_read() {
        // As format v4 wrote them before the compact encoding: the overflow reason as text.
        let json = br#"{"kind":"push","tag":"v1","digest":"sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae","at_ms":5,"repo_created_at_ms":1,"repo_public":false,"attempts_max":8,"slots":[{"trigger":"0123456789abcdef","status":"OVERFLOW","reason":"the outbox is full"},{"trigger":"1123456789abcdef","status":"PENDING"}]}"#;
        let row: EventRow = decode(b"k", json).expect("decode");
        assert_eq!(row.slots[0].reason(), Some("the outbox is full".into()));
        assert_eq!(row.slots[1].status, DeliveryStatus::Pending);
        let entry: OutboxEntry = decode(
            b"k",
            br#"{"event":{"repo":"team/app","base":7,"slots":[1]}}"#,
        )
        .expect("decode");
        assert_eq!(entry.deliveries(), 1);
    }

    #[test]
    fn damaged_rows_are_corruption_errors_naming_the_key() {
        let mut bytes = encode(&event());
        bytes.truncate(bytes.len() / 2);
        for bad in [&bytes[..], &[0x7f, 1, 2][..], &[][..], &b"{\"kind\""[..]] {
            match decode::<EventRow>(b"team/app\0k", bad) {
                Err(MetaError::Corrupted { key, .. }) => assert_eq!(key, "team/app/k"),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn an_overflow_slot_reads_as_a_sentence_with_the_count() {
        let row = event();
        let reason = row.slots[2].reason().expect("reason");
        assert!(reason.contains("(100000 deliveries waiting"), "{reason}");
        assert_eq!(row.slots[0].reason(), None);
    }
}
