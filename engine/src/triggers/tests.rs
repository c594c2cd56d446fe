//! The trigger model end to end inside the engine: tag writes emit records in their own job,
//! the outbox hands out only what is due, attempts move records through their states, and
//! counters stay equal to the rows they count. Every test goes through [`Fixture`].

use std::sync::Arc;
use std::time::Duration;

use futures_lite::future::block_on;

use super::*;
use crate::clock::ManualClock;
use crate::oci::Reference;
use crate::{Engine, EngineOptions};

struct Fixture {
    _dir: tempfile::TempDir,
    engine: Option<Engine>,
    clock: ManualClock,
    repo: RepoName,
}

const T0_MS: u64 = 1_700_000_000_000;

fn fixture_with(options: TriggerOptions) -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = ManualClock::new(T0_MS);
    let mut engine_options = EngineOptions::new(dir.path());
    engine_options.clock = Arc::new(clock.clone());
    engine_options.triggers = options;
    let engine = Engine::open(engine_options).expect("open");
    let repo = RepoName::parse("ns/app").expect("repo");
    block_on(engine.registry().create_namespace(
        "ns",
        "admin",
        crate::NamespaceSettings::default(),
        10,
    ))
    .expect("namespace");
    block_on(
        engine
            .registry()
            .create_repository(&repo, "", crate::Visibility::Public),
    )
    .expect("repository");
    Fixture {
        _dir: dir,
        engine: Some(engine),
        clock,
        repo,
    }
}

fn fixture() -> Fixture {
    fixture_with(TriggerOptions::default())
}

fn spec(name: &str, filter: TriggerFilter, events: &[EventKind]) -> TriggerSpec {
    TriggerSpec {
        name: name.into(),
        url: "http://127.0.0.1:9/hook".into(),
        filter,
        events: events.to_vec(),
        format: PayloadFormat::Acr,
    }
}

impl Drop for Fixture {
    /// Closed, not just dropped: RocksDB's background threads must stop before the test
    /// process exits.
    fn drop(&mut self) {
        if let Some(engine) = &self.engine {
            engine.registry().meta().shut_down();
        }
    }
}

impl Fixture {
    /// Closes the engine, waiting for the store to be closed.
    fn close(&mut self) {
        if let Some(engine) = self.engine.take() {
            engine.close(Duration::from_secs(30)).expect("close");
        }
    }

    fn engine(&self) -> &Engine {
        self.engine.as_ref().expect("the fixture's engine is open")
    }

    /// Closes the engine and opens the data directory again (migrating it if it is older).
    fn reopen(&mut self) {
        self.close();
        let mut options = EngineOptions::new(self._dir.path());
        options.clock = Arc::new(self.clock.clone());
        self.engine = Some(Engine::open(options).expect("reopen"));
    }

    fn triggers(&self) -> &Triggers {
        self.engine().triggers()
    }

    fn add(&self, name: &str, filter: TriggerFilter, events: &[EventKind]) -> TriggerRecord {
        block_on(
            self.triggers()
                .create(&self.repo, spec(name, filter, events), None),
        )
        .expect("create trigger")
    }

    /// Pushes an image whose config is made of `content` as `reference` (a tag, or "@" for
    /// by digest); its digest.
    fn push_as(&self, content: &str, reference: &str) -> Digest {
        let config_digest = Digest::sha256_of(content.as_bytes());
        let (r, d, size) = (
            self.repo.clone(),
            config_digest.clone(),
            content.len() as u64,
        );
        self.engine()
            .registry()
            .meta()
            .write_blocking(move |ctx| {
                crate::registry::link_blob(ctx, &r, &d, size, 1, crate::Admission::Open)
            })
            .expect("link");
        let body = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": { "mediaType": "application/vnd.oci.image.config.v1+json",
                        "digest": config_digest.as_str(), "size": size },
            "layers": [],
        }))
        .expect("json");
        let reference = if reference == "@" {
            Reference::Digest(Digest::sha256_of(&body))
        } else {
            Reference::parse(reference).expect("reference")
        };
        block_on(self.engine().registry().put_manifest(
            &self.repo,
            &reference,
            Some("application/vnd.oci.image.manifest.v1+json"),
            body,
        ))
        .expect("push")
        .digest
    }

    /// Pushes an image of its own as `tag`.
    fn push(&self, tag: &str) -> Digest {
        self.push_as(&format!("config of {tag}"), tag)
    }

    fn records(&self, trigger: &TriggerRecord) -> Vec<DeliveryRecord> {
        self.triggers()
            .records(&self.repo, &trigger.id, RECORD_PAGE_MAX, None)
            .expect("records")
            .records
    }

    fn due(&self) -> Vec<Due> {
        block_on(self.triggers().due(self.clock.now_ms(), 100))
            .expect("due")
            .due
    }

    fn attempt(&self, due: &Due, delivered: bool, retry_in_ms: u64) -> Option<DeliveryRecord> {
        let now = self.clock.now_ms();
        block_on(self.triggers().complete(
            due,
            AttemptOutcome {
                at_ms: now,
                delivered,
                http_status: Some(if delivered { 200 } else { 500 }),
                error: (!delivered).then(|| "HTTP 500".to_owned()),
                latency_ms: 3,
                request_body: b"{}".to_vec(),
                response_head: b"ok".to_vec(),
                retry_at_ms: now + retry_in_ms,
            },
        ))
        .expect("complete")
    }

    /// The outbox counter equals the deliveries the outbox's rows name.
    fn check_outbox(&self) {
        let meta = self.engine().registry().meta();
        let rows = meta
            .scan_prefix(schema::CF_TRIGGER_OUTBOX, b"", None, usize::MAX)
            .expect("scan");
        let named: u64 = rows
            .iter()
            .map(|(key, value)| {
                codec::decode::<OutboxEntry>(key, value)
                    .expect("outbox row")
                    .deliveries()
            })
            .sum();
        let stats = self.triggers().outbox_stats().expect("stats");
        assert_eq!(stats.waiting, named, "outbox counter drifted");
    }
}

#[test]
fn a_push_records_every_subscribed_trigger_with_its_filter_decision() {
    let f = fixture();
    let all = f.add("all", TriggerFilter::All, &[EventKind::Push]);
    let regex = f.add(
        "releases",
        TriggerFilter::Regex("release-v.*".into()),
        &[EventKind::Push],
    );
    let tags = f.add(
        "exact",
        TriggerFilter::Tags(vec!["latest".into()]),
        &[EventKind::Push],
    );
    let deletes = f.add("deletes", TriggerFilter::All, &[EventKind::Delete]);
    let digest = f.push("v1");

    let pending = f.records(&all);
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].status, DeliveryStatus::Pending);
    assert_eq!(pending[0].digest, digest);
    assert_eq!(pending[0].tag, "v1");
    assert!(pending[0].repo_public);
    let untriggered = &f.records(&regex)[0];
    assert_eq!(untriggered.status, DeliveryStatus::Untriggered);
    assert_eq!(
        untriggered.reason.as_deref(),
        Some("tag v1 does not match release-v.*")
    );
    assert_eq!(f.records(&tags)[0].status, DeliveryStatus::Untriggered);
    // Not subscribed to pushes: no record at all.
    assert!(f.records(&deletes).is_empty());
    // A push by digest is not a tag event.
    f.push_as("untagged", "@");
    assert_eq!(f.records(&all).len(), 1);
    f.check_outbox();
    assert_eq!(f.due().len(), 1);
}

#[test]
fn deletes_emit_one_event_per_removed_tag() {
    let f = fixture();
    let deletes = f.add("deletes", TriggerFilter::All, &[EventKind::Delete]);
    let digest = f.push("v1");
    f.push("v1"); // same image again: still one manifest
    let registry = f.engine().registry();
    block_on(registry.delete_manifest(&f.repo, &Reference::parse("v1").expect("ref")))
        .expect("delete tag");
    let records = f.records(&deletes);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].event, EventKind::Delete);
    assert_eq!(records[0].digest, digest);
    let second = f.push("v2");
    assert_ne!(second, digest);
    block_on(registry.delete_manifest(&f.repo, &Reference::Digest(second.clone())))
        .expect("delete manifest");
    let records = f.records(&deletes);
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].tag, "v2", "newest first");
}

#[test]
fn attempts_retry_then_fail_and_a_redelivery_starts_a_new_budget() {
    let f = fixture_with(TriggerOptions {
        attempts_max: 3,
        ..TriggerOptions::default()
    });
    let all = f.add("all", TriggerFilter::All, &[EventKind::Push]);
    f.push("v1");
    for attempt in 1..=3u32 {
        let due = f.due();
        assert_eq!(due.len(), 1, "attempt {attempt}");
        let record = f.attempt(&due[0], false, 1_000).expect("record");
        assert_eq!(record.attempts, attempt);
        if attempt < 3 {
            assert_eq!(record.status, DeliveryStatus::Retrying);
            // Not due again before its retry time.
            assert!(f.due().is_empty());
            f.clock.advance_ms(1_000);
        } else {
            assert_eq!(record.status, DeliveryStatus::Failed);
        }
        f.check_outbox();
    }
    assert!(f.due().is_empty());
    let id = f.records(&all)[0].id.clone();
    let again = block_on(f.triggers().redeliver(&f.repo, &all.id, &id)).expect("redeliver");
    assert_eq!(again.status, DeliveryStatus::Pending);
    assert_eq!(again.attempts_max, 6);
    let due = f.due();
    assert_eq!(due[0].record.id, id, "the same event id");
    let record = f.attempt(&due[0], true, 0).expect("record");
    assert_eq!(record.status, DeliveryStatus::Delivered);
    assert_eq!(record.attempts, 4);
    f.check_outbox();
    // A pending or untriggered record cannot be redelivered.
    f.push("v2");
    let pending = f.records(&all)[0].id.clone();
    assert!(matches!(
        block_on(f.triggers().redeliver(&f.repo, &all.id, &pending)),
        Err(TriggerError::NotRedeliverable { .. })
    ));
}

#[test]
fn a_full_outbox_records_overflow_and_the_push_still_succeeds() {
    let f = fixture_with(TriggerOptions {
        outbox_events_max: 2,
        ..TriggerOptions::default()
    });
    let all = f.add("all", TriggerFilter::All, &[EventKind::Push]);
    for tag in ["a", "b", "c"] {
        f.push(tag);
    }
    let records = f.records(&all);
    assert_eq!(records[0].status, DeliveryStatus::Overflow);
    assert!(records[0]
        .reason
        .as_deref()
        .is_some_and(|r| r.contains("outbox is full (2 deliveries waiting")));
    assert_eq!(records[1].status, DeliveryStatus::Pending);
    let stats = f.triggers().outbox_stats().expect("stats");
    assert_eq!((stats.waiting, stats.overflowed), (2, 1));
    // Room again once one is delivered; then the overflowed one can be redelivered.
    let due = f.due();
    f.attempt(&due[0], true, 0);
    block_on(f.triggers().redeliver(&f.repo, &all.id, &records[0].id)).expect("redeliver");
    f.check_outbox();
}

#[test]
fn deleting_a_trigger_drops_its_records_and_its_outbox_rows() {
    let f = fixture();
    let all = f.add("all", TriggerFilter::All, &[EventKind::Push]);
    f.push("v1");
    block_on(f.triggers().delete(&f.repo, &all.id)).expect("delete");
    assert!(matches!(
        f.triggers().records(&f.repo, &all.id, 10, None),
        Err(TriggerError::TriggerUnknown { .. })
    ));
    assert!(f.due().is_empty(), "the orphaned outbox row is dropped");
    f.check_outbox();
    assert_eq!(f.triggers().outbox_stats().expect("stats").waiting, 0);
}

#[test]
fn limits_names_and_repository_deletion() {
    let f = fixture_with(TriggerOptions {
        triggers_per_repo_max: 2,
        ..TriggerOptions::default()
    });
    f.add("one", TriggerFilter::All, &[EventKind::Push]);
    assert!(matches!(
        block_on(f.triggers().create(
            &f.repo,
            spec("one", TriggerFilter::All, &[EventKind::Push]),
            None
        )),
        Err(TriggerError::TriggerExists { .. })
    ));
    f.add("two", TriggerFilter::All, &[EventKind::Push]);
    assert!(matches!(
        block_on(f.triggers().create(
            &f.repo,
            spec("three", TriggerFilter::All, &[EventKind::Push]),
            None
        )),
        Err(TriggerError::TriggerLimit { max: 2, .. })
    ));
    assert!(matches!(
        block_on(f.triggers().create(
            &f.repo,
            spec("bad", TriggerFilter::Regex("(".into()), &[EventKind::Push]),
            None
        )),
        Err(TriggerError::TriggerInvalid {
            field: "expression",
            ..
        })
    ));
    let elsewhere = RepoName::parse("ns/missing").expect("repo");
    assert!(matches!(
        block_on(f.triggers().create(
            &elsewhere,
            spec("x", TriggerFilter::All, &[EventKind::Push]),
            None
        )),
        Err(TriggerError::RepositoryUnknown { .. })
    ));
    f.push("v1");
    block_on(f.engine().registry().delete_repository(&f.repo)).expect("delete repository");
    let meta = f.engine().registry().meta();
    for cf in [
        schema::CF_TRIGGERS,
        schema::CF_TRIGGER_RECORDS,
        schema::CF_TRIGGER_EVENTS,
    ] {
        assert!(
            meta.scan_prefix(cf, b"", None, 10)
                .expect("scan")
                .is_empty(),
            "{cf} left behind"
        );
    }
    assert!(f.due().is_empty());
    f.check_outbox();
}

#[test]
fn retention_removes_finished_records_and_keeps_waiting_ones() {
    let f = fixture();
    let all = f.add("all", TriggerFilter::All, &[EventKind::Push]);
    let releases = f.add(
        "releases",
        TriggerFilter::Regex("release-.*".into()),
        &[EventKind::Push],
    );
    f.push("v1"); // all: PENDING (stays waiting), releases: UNTRIGGERED
    f.clock.advance_ms(10_000);
    f.push("v2");
    let due = f.due();
    // Deliver v2's; v1's stays waiting.
    let v2 = due.iter().find(|d| d.record.tag == "v2").expect("v2 due");
    f.attempt(v2, true, 0);
    f.clock.advance_ms(10_000);
    let removed = block_on(f.triggers().expire_records(T0_MS + 15_000)).expect("expire");
    // Both events happened before the cutoff. v2's records are finished (DELIVERED and
    // UNTRIGGERED) and go; v1 still waits for a delivery, so its event stays whole, its
    // UNTRIGGERED record with it, until a later sweep finds it finished.
    assert_eq!(removed, 2);
    let left = f.records(&all);
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].tag, "v1");
    let untriggered = f.records(&releases);
    assert_eq!(untriggered.len(), 1);
    assert_eq!(untriggered[0].tag, "v1");
    let v1 = f
        .due()
        .into_iter()
        .find(|d| d.record.tag == "v1")
        .expect("v1 due");
    f.attempt(&v1, true, 0);
    let removed = block_on(f.triggers().expire_records(T0_MS + 15_000)).expect("expire");
    assert_eq!(removed, 2);
    assert!(f.records(&all).is_empty());
    assert!(f.records(&releases).is_empty());
    f.check_outbox();
    let _ = Duration::ZERO;
}

#[test]
fn pages_of_records_are_newest_first_and_continue_after_the_last() {
    let f = fixture();
    let all = f.add("all", TriggerFilter::All, &[EventKind::Push]);
    for i in 0..5 {
        f.push(&format!("v{i}"));
    }
    let first = f
        .triggers()
        .records(&f.repo, &all.id, 2, None)
        .expect("page");
    let tags: Vec<_> = first.records.iter().map(|r| r.tag.as_str()).collect();
    assert_eq!(tags, ["v4", "v3"]);
    let second = f
        .triggers()
        .records(&f.repo, &all.id, 2, first.next.as_deref())
        .expect("page");
    let tags: Vec<_> = second.records.iter().map(|r| r.tag.as_str()).collect();
    assert_eq!(tags, ["v2", "v1"]);
    let third = f
        .triggers()
        .records(&f.repo, &all.id, 2, second.next.as_deref())
        .expect("page");
    assert_eq!(third.records.len(), 1);
    assert_eq!(third.next, None);
}

/// A v3 store (issue #10's first layout: a full record row per trigger and event, outbox rows
/// naming records) is migrated to events: its records list and deliver as before.
#[test]
fn a_v3_store_keeps_its_records_and_outbox_after_migration() {
    let f = fixture();
    let all = f.add("all", TriggerFilter::All, &[EventKind::Push]);
    f.push("v1");
    let record = f.records(&all).pop().expect("v1's record");
    let meta = f.engine().registry().meta().clone();
    // Rewrite what v4 wrote as v3 would have written it.
    let job_record = record.clone();
    meta.write_blocking(move |ctx| -> Result<(), MetaError> {
        let r = &job_record;
        ctx.delete(
            schema::CF_TRIGGER_EVENTS,
            &schema::trigger_event_key(&r.repo, r.seq),
        );
        ctx.put_json(
            schema::CF_TRIGGER_RECORDS,
            &schema::trigger_record_key(&r.repo, &r.trigger_id, r.seq),
            r,
        );
        for (key, _) in ctx.scan_prefix(schema::CF_TRIGGER_OUTBOX, b"", None, 10)? {
            let v3 = serde_json::json!({"repo": r.repo, "trigger_id": r.trigger_id, "seq": r.seq});
            ctx.put_raw(schema::CF_TRIGGER_OUTBOX, &key, v3.to_string().as_bytes());
        }
        Ok(())
    })
    .expect("make it v3");
    meta.set_format_version(3).expect("version 3");
    drop(meta);
    let mut f = f;
    f.reopen();
    assert_eq!(
        f.engine()
            .registry()
            .meta()
            .format_version()
            .expect("version"),
        schema::FORMAT_VERSION
    );
    assert_eq!(f.records(&all), vec![record.clone()]);
    f.check_outbox();
    let due = f.due();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].record, record);
    let delivered = f.attempt(&due[0], true, 0).expect("delivered");
    assert_eq!(delivered.status, DeliveryStatus::Delivered);
    assert!(f.due().is_empty());
    f.check_outbox();
    f.close();
}

/// The outbox codes fsck reported, sorted.
fn outbox_findings(f: &Fixture, repair: bool) -> Vec<String> {
    let options = crate::FsckOptions {
        repair,
        verify_digests: false,
        ..crate::FsckOptions::default()
    };
    let stop = crate::StopFlag::new(false);
    let report = f.engine().fsck(&options, &stop).expect("fsck");
    let mut codes: Vec<String> = report
        .findings
        .iter()
        .filter(|finding| finding.code.starts_with("TRIGGER_"))
        .map(|finding| {
            assert!(
                !repair || finding.repaired.is_some(),
                "{finding:?} not repaired"
            );
            finding.code.clone()
        })
        .collect();
    codes.sort();
    codes
}

#[test]
fn fsck_finds_and_repairs_a_broken_outbox() {
    let f = fixture();
    let all = f.add("all", TriggerFilter::All, &[EventKind::Push]);
    for tag in ["a", "b", "c"] {
        f.push(tag);
    }
    let due = f.due();
    assert_eq!(due.len(), 3);
    let delivered = f.attempt(&due[0], true, 0).expect("delivered");
    assert_eq!(delivered.status, DeliveryStatus::Delivered);
    assert!(outbox_findings(&f, false).is_empty(), "a healthy outbox");

    let records = f.records(&all);
    let unqueued = records
        .iter()
        .find(|r| r.status == DeliveryStatus::Pending)
        .expect("a pending record")
        .clone();
    let meta = f.engine().registry().meta().clone();
    let (gone, finished) = (unqueued.clone(), delivered.clone());
    meta.write_blocking(move |ctx| -> Result<(), MetaError> {
        // The pending record's outbox row is lost…
        for (key, value) in ctx.scan_prefix(schema::CF_TRIGGER_OUTBOX, b"", None, 100)? {
            if let OutboxEntry::Event { base, .. } = codec::decode(&key, &value)? {
                if base == gone.seq {
                    ctx.delete(schema::CF_TRIGGER_OUTBOX, &key);
                }
            }
        }
        // …a row names the delivered one again, and the counter drifts.
        codec::put(
            ctx,
            schema::CF_TRIGGER_OUTBOX,
            &schema::trigger_outbox_key(1, finished.seq),
            &OutboxEntry::Record {
                repo: finished.repo.clone(),
                trigger: finished.trigger_id.clone(),
                seq: finished.seq,
            },
        );
        outbox::write_counter(ctx, schema::TRIGGER_OUTBOX_LEN_KEY, 42);
        Ok(())
    })
    .expect("break the outbox");

    let expected = [
        "TRIGGER_OUTBOX_COUNT",
        "TRIGGER_OUTBOX_DANGLING",
        "TRIGGER_RECORD_UNQUEUED",
    ];
    assert_eq!(outbox_findings(&f, false), expected);
    assert_eq!(outbox_findings(&f, true), expected);
    assert!(outbox_findings(&f, false).is_empty(), "repaired");
    f.check_outbox();
    // The lost delivery is due again; the delivered one is not.
    let seqs: Vec<u64> = f.due().iter().map(|d| d.record.seq).collect();
    assert!(seqs.contains(&unqueued.seq), "{seqs:?}");
    assert!(!seqs.contains(&delivered.seq), "{seqs:?}");
    assert_eq!(seqs.len(), 2);
}
