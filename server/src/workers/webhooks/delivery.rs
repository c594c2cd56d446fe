//! The delivery shard: its own thread and glommio executor, sending what the outbox says is
//! due and recording each attempt. Request shards never wait on it and hold no delivery
//! state; they only write outbox rows (in the tag write's job) and the engine wakes this
//! shard once those rows are durable.
//!
//! ```text
//!  wake-up (durable outbox rows) | timer (next retry) | a delivery finished
//!     └─▶ Triggers::due(now) ─▶ for each due row not in flight, within the limits:
//!           total in flight < deliveries_in_flight_max, per destination < destination_in_flight_max
//!           circuit open?  ─▶ attempt fails at once ("circuit open")
//!           otherwise      ─▶ POST (client.rs) ─▶ 2xx = DELIVERED, else retry with backoff
//!         ─▶ Triggers::complete (one writer job: record + outbox row)
//! ```
//!
//! Invariants: at most one attempt of a record is in flight (the in-flight set is keyed by
//! outbox row, and a row is replaced only by the attempt that holds it); every wait is
//! bounded (client timeouts), so a receiver that never answers holds one slot for at most
//! `request_timeout_ms`; one failing destination opens its circuit and stops taking slots.
//!
//! Must not: touch storage except through `berth_engine::Triggers`; block its executor.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_engine::{AttemptOutcome, Due, Engine, PayloadFormat, Triggers};
use bytes::Bytes;
use futures_channel::mpsc;
use futures_lite::StreamExt;
use http::{header, HeaderName, HeaderValue};

use super::client::{Client, ClientOptions};
use super::destination::Destination;
use super::payload::{self, EventFacts, EventKind};
use crate::config::{Config, WebhooksConfig};

/// Longest sleep between two looks at the outbox when nothing wakes the shard: a safety net
/// (a wake-up lost to a bug still gets delivered within this).
const IDLE_LOOK_MS: u64 = 1_000;
/// The shortest time between two looks at the outbox that pushes' wake-ups cause.
const LOOK_INTERVAL_MIN: Duration = Duration::from_millis(5);
/// Pause after the outbox could not be read (the store is overloaded or closing).
const ERROR_BACKOFF_MS: u64 = 500;

/// The running delivery shard; [`DeliveryShard::stop`] ends it.
pub struct DeliveryShard {
    thread: glommio::ExecutorJoinHandle<()>,
    stop: Arc<AtomicBool>,
}

impl DeliveryShard {
    /// Stops taking new deliveries, lets the attempts in flight finish (each is bounded by the
    /// request timeout) and waits for the thread. An attempt still unfinished then is
    /// abandoned: its outbox row stays and is sent again at the next start (at least once).
    pub fn stop(self) {
        self.stop.store(true, Ordering::Release);
        let _ = self.thread.join();
    }
}

pub fn start(engine: Engine, config: Arc<Config>) -> anyhow::Result<DeliveryShard> {
    let Some(wakeups) = engine.triggers().take_wakeups() else {
        anyhow::bail!("the delivery shard was started twice");
    };
    let client_options = ClientOptions {
        connect_timeout: Duration::from_millis(config.webhooks.connect_timeout_ms),
        request_timeout: Duration::from_millis(config.webhooks.request_timeout_ms),
        allow_private_destinations: config.webhooks.allow_private_destinations,
        extra_ca_file: (!config.webhooks.ca_file.is_empty())
            .then(|| config.webhooks.ca_file.clone().into()),
        response_capture_bytes: berth_engine::RESPONSE_HEAD_BYTES_MAX,
        idle_connections_per_destination_max: config.webhooks.destination_in_flight_max,
    };
    let stop = Arc::new(AtomicBool::new(false));
    // The client lives on the shard's thread; its construction's outcome comes back here so
    // that a bad CA file stops the daemon's start with its error.
    let (built_tx, built_rx) = std::sync::mpsc::channel::<Result<(), String>>();
    let thread = {
        let stop = stop.clone();
        glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
            .name("berth-webhooks")
            .io_memory(config.server.io_memory_bytes)
            .ring_depth(config.server.ring_depth)
            .spawn(move || async move {
                let client = match Client::new(client_options) {
                    Ok(client) => {
                        let _ = built_tx.send(Ok(()));
                        client
                    }
                    Err(e) => {
                        let _ = built_tx.send(Err(e.to_string()));
                        return;
                    }
                };
                let shard = Shard {
                    triggers: engine.triggers().clone(),
                    clock: engine.clock().clone(),
                    client: Rc::new(client),
                    settings: config.webhooks.clone(),
                    region: config.auth.region_id.clone(),
                    state: Rc::new(RefCell::new(State::default())),
                };
                drop(engine);
                shard.run(wakeups, stop).await;
            })
            .map_err(std::io::Error::from)?
    };
    match built_rx.recv() {
        Ok(Ok(())) => Ok(DeliveryShard { thread, stop }),
        Ok(Err(e)) => anyhow::bail!("webhook client: {e}"),
        Err(_) => anyhow::bail!("the webhook delivery shard stopped while starting"),
    }
}

/// The shard's handles; an attempt runs on a clone of them.
#[derive(Clone)]
struct Shard {
    triggers: Triggers,
    clock: Arc<dyn berth_engine::Clock>,
    client: Rc<Client>,
    settings: WebhooksConfig,
    region: String,
    state: Rc<RefCell<State>>,
}

#[derive(Default)]
struct State {
    /// Outbox rows being attempted.
    in_flight: HashSet<Vec<u8>>,
    /// Attempts in flight per destination authority.
    per_destination: HashMap<String, usize>,
    breakers: HashMap<String, Breaker>,
}

/// A destination's circuit: closed while it answers; open (attempts fail at once) for
/// `circuit_open_ms` after `circuit_failures_max` failures in a row; then one probe.
#[derive(Default)]
struct Breaker {
    failures_in_a_row: u32,
    open_until: Option<Instant>,
}

impl Breaker {
    /// Failures in a row while the circuit is open (the attempt is not made); None when it
    /// is closed, or half-open (then this attempt is the probe and the circuit waits for it).
    fn refuses(&mut self, now: Instant) -> Option<u32> {
        match self.open_until {
            Some(until) if now < until => Some(self.failures_in_a_row),
            Some(_) => {
                self.open_until = None;
                None
            }
            None => None,
        }
    }

    /// Counts an attempt's result; true when this failure opened the circuit.
    fn note(&mut self, delivered: bool, now: Instant, failures_max: u32, open: Duration) -> bool {
        if delivered {
            *self = Breaker::default();
            return false;
        }
        self.failures_in_a_row += 1;
        if self.failures_in_a_row >= failures_max {
            self.open_until = Some(now + open);
            return true;
        }
        false
    }
}

impl Shard {
    async fn run(self, mut wakeups: berth_engine::OutboxWakeups, stop: Arc<AtomicBool>) {
        let (done_tx, mut done_rx) = mpsc::unbounded::<()>();
        let mut engine_gone = false;
        tracing::info!("webhook delivery shard started");
        while !stop.load(Ordering::Acquire) {
            let limit = self
                .settings
                .deliveries_in_flight_max
                .saturating_mul(2)
                .max(16);
            let looked_at = Instant::now();
            // Saturated: everything due is in flight or waits for a limit, so only a finished
            // attempt (or the timer) can change what a look finds; a push's wake-up cannot.
            let mut saturated = false;
            let wait_ms = match self.triggers.due(self.clock.now_ms(), limit).await {
                Ok(batch) => {
                    let found = batch.due.len();
                    let mut started = 0;
                    for due in batch.due {
                        started += usize::from(self.maybe_start(due, &done_tx));
                    }
                    saturated = found > 0 && started == 0;
                    batch
                        .next_due_ms
                        .map(|at| at.saturating_sub(self.clock.now_ms()))
                        .unwrap_or(IDLE_LOOK_MS)
                        .clamp(1, IDLE_LOOK_MS)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "reading the webhook outbox failed; retrying");
                    ERROR_BACKOFF_MS
                }
            };
            let sleep = async {
                glommio::timer::sleep(Duration::from_millis(wait_ms)).await;
            };
            let woken = async {
                if engine_gone || saturated {
                    std::future::pending::<()>().await;
                }
                if !wakeups.wait().await {
                    engine_gone = true;
                }
                // Pushes wake the shard thousands of times a second under load: one look per
                // LOOK_INTERVAL_MIN_MS serves them all (each look reads every row due).
                let since = looked_at.elapsed();
                if since < LOOK_INTERVAL_MIN {
                    glommio::timer::sleep(LOOK_INTERVAL_MIN - since).await;
                }
            };
            let finished = async {
                done_rx.next().await;
            };
            futures_lite::future::or(sleep, futures_lite::future::or(woken, finished)).await;
        }
        // Attempts in flight end within the request timeout; waiting for them lets go of
        // their handles on the store before the engine closes. Their results are recorded if
        // they come in time; otherwise the rows stay and are sent again at the next start.
        let deadline = Instant::now()
            + Duration::from_millis(self.settings.request_timeout_ms)
            + Duration::from_secs(1);
        while !self.state.borrow().in_flight.is_empty() && Instant::now() < deadline {
            let finished = async {
                done_rx.next().await;
            };
            let tick = async {
                glommio::timer::sleep(Duration::from_millis(50)).await;
            };
            futures_lite::future::or(finished, tick).await;
        }
        let abandoned = self.state.borrow().in_flight.len();
        if abandoned > 0 {
            tracing::info!(
                abandoned,
                "stopping with webhook attempts in flight; they are sent again at the next start"
            );
        }
        tracing::info!("webhook delivery shard stopped");
    }

    /// Starts an attempt of `due` unless it is in flight or a limit is reached (then a
    /// later look starts it).
    fn maybe_start(&self, due: Due, done: &mpsc::UnboundedSender<()>) -> bool {
        let destination = Destination::parse(&due.trigger.url);
        let authority = match &destination {
            Ok(d) => format!("{}://{}", d.scheme.as_str(), d.authority()),
            Err(_) => String::new(),
        };
        {
            let mut state = self.state.borrow_mut();
            if state.in_flight.contains(due.key())
                || state.in_flight.len() >= self.settings.deliveries_in_flight_max
            {
                return false;
            }
            let busy = state.per_destination.entry(authority.clone()).or_default();
            if *busy >= self.settings.destination_in_flight_max {
                return false;
            }
            *busy += 1;
            state.in_flight.insert(due.key().to_vec());
        }
        let shard = self.clone();
        let done = done.clone();
        glommio::spawn_local(async move {
            shard.attempt(due, destination, authority).await;
            let _ = done.unbounded_send(());
        })
        .detach();
        true
    }
}

impl Shard {
    /// One attempt of `due`, recorded; frees its slot when done.
    async fn attempt(
        self,
        due: Due,
        destination: Result<Destination, super::destination::DestinationError>,
        authority: String,
    ) {
        let record = &due.record;
        let body = body(&due, &self.region);
        let started_ms = self.clock.now_ms();
        let started = Instant::now();
        let circuit_open = self.circuit_open(&authority);
        let result: Result<(u16, Vec<u8>), String> = match (&destination, circuit_open) {
            (Err(e), _) => Err(format!("the trigger's URL is no longer valid: {e}")),
            (Ok(_), Some(failures)) => Err(format!(
                "circuit open: {authority} failed {failures} attempts in a row; not tried"
            )),
            (Ok(destination), None) => {
                let mut headers = vec![(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(match due.trigger.format {
                        PayloadFormat::Acr => payload::ACR_CONTENT_TYPE,
                        PayloadFormat::Cloudevents => payload::CLOUDEVENTS_CONTENT_TYPE,
                    }),
                )];
                match payload::signed_headers(
                    &record.id,
                    started_ms / 1000,
                    due.trigger.secret.as_deref(),
                    &body,
                ) {
                    Ok(signed) => headers.extend(signed),
                    Err(e) => tracing::warn!(error = %e, "webhook sent unsigned"),
                }
                let headers: Vec<(HeaderName, HeaderValue)> = headers;
                match self
                    .client
                    .post(destination, &headers, Bytes::from(body.clone()))
                    .await
                {
                    Ok(delivered) => Ok((delivered.status, delivered.response_head)),
                    Err(e) => Err(e.to_string()),
                }
            }
        };
        let latency_ms = started.elapsed().as_millis() as u64;
        let delivered = matches!(&result, Ok((status, _)) if (200..300).contains(status));
        if circuit_open.is_none() && destination.is_ok() {
            self.note_result(&authority, delivered);
        }
        let (http_status, response_head, error) = match result {
            Ok((status, head)) => {
                let error = (!delivered).then(|| format!("the receiver answered HTTP {status}"));
                (Some(status), head, error)
            }
            Err(e) => (None, Vec::new(), Some(e)),
        };
        let now = self.clock.now_ms();
        let outcome = AttemptOutcome {
            at_ms: now,
            delivered,
            http_status,
            error: error.clone(),
            latency_ms,
            request_body: body,
            response_head,
            retry_at_ms: now + backoff_ms(&self.settings, record.attempts + 1),
        };
        match self.triggers.complete(&due, outcome).await {
            Ok(Some(after)) => {
                if after.status == berth_engine::DeliveryStatus::Failed {
                    tracing::warn!(
                        repo = %record.repo, trigger = %record.trigger_id, event = %record.id,
                        attempts = after.attempts, error = error.as_deref().unwrap_or(""),
                        "webhook delivery failed after its last attempt"
                    );
                }
            }
            Ok(None) => {}
            // The row stays in the outbox; the next look attempts it again.
            Err(e) => {
                tracing::warn!(error = %e, event = %record.id, "recording a webhook attempt failed")
            }
        }
        let mut state = self.state.borrow_mut();
        state.in_flight.remove(due.key());
        if let Some(busy) = state.per_destination.get_mut(&authority) {
            *busy = busy.saturating_sub(1);
            if *busy == 0 {
                state.per_destination.remove(&authority);
            }
        }
    }

    /// Failures in a row when the destination's circuit is open (the attempt is not made);
    /// None when it is closed or half-open (this attempt is the probe).
    fn circuit_open(&self, authority: &str) -> Option<u32> {
        let mut state = self.state.borrow_mut();
        state.breakers.get_mut(authority)?.refuses(Instant::now())
    }

    fn note_result(&self, authority: &str, delivered: bool) {
        let mut state = self.state.borrow_mut();
        if delivered {
            state.breakers.remove(authority);
            return;
        }
        let breaker = state.breakers.entry(authority.to_owned()).or_default();
        let opened = breaker.note(
            false,
            Instant::now(),
            self.settings.circuit_failures_max,
            Duration::from_millis(self.settings.circuit_open_ms),
        );
        if opened {
            tracing::warn!(
                destination = authority,
                failures = breaker.failures_in_a_row,
                "webhook destination failing; circuit open for {} ms",
                self.settings.circuit_open_ms
            );
        }
    }
}

/// The body every attempt of a record sends (the same bytes each time).
fn body(due: &Due, region: &str) -> Vec<u8> {
    let record = &due.record;
    let facts = EventFacts {
        kind: match record.event {
            berth_engine::EventKind::Push => EventKind::Push,
            berth_engine::EventKind::Delete => EventKind::Delete,
        },
        event_id: &record.id,
        repo: record.repo.as_str(),
        tag: &record.tag,
        digest: record.digest.as_str(),
        at_ms: record.at_ms,
        repo_created_at_ms: record.repo_created_at_ms,
        public: record.repo_public,
        region,
    };
    match due.trigger.format {
        PayloadFormat::Acr => payload::acr_body(&facts),
        PayloadFormat::Cloudevents => {
            payload::cloudevents_body(&facts, &format!("/berth/{region}"))
        }
    }
}

/// The wait before attempt `attempt + 1` after attempt `attempt` failed: the initial wait
/// doubled per failure, capped, with ±20% jitter so retries of one outage spread out.
fn backoff_ms(settings: &WebhooksConfig, attempt: u32) -> u64 {
    let doublings = attempt.saturating_sub(1).min(32);
    let base = settings
        .retry_initial_ms
        .saturating_mul(1u64 << doublings)
        .min(settings.retry_max_ms.max(settings.retry_initial_ms));
    let jitter = (base / 5).max(1);
    let offset = rand_below(2 * jitter + 1);
    (base + offset).saturating_sub(jitter).max(1)
}

fn rand_below(n: u64) -> u64 {
    // No cryptographic need: spreading retries. uuid's v4 generator is already a dependency.
    let bytes = uuid::Uuid::new_v4().into_bytes();
    let value = u64::from_le_bytes([
        bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
    ]);
    value % n.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_circuit_opens_after_failures_in_a_row_then_lets_one_probe_through() {
        let (t0, open) = (Instant::now(), Duration::from_secs(60));
        let mut breaker = Breaker::default();
        for _ in 0..4 {
            assert!(!breaker.note(false, t0, 5, open));
            assert_eq!(breaker.refuses(t0), None, "closed below the threshold");
        }
        assert!(
            breaker.note(false, t0, 5, open),
            "the fifth failure opens it"
        );
        assert_eq!(breaker.refuses(t0 + Duration::from_secs(1)), Some(5));
        // Half-open after the open time: one probe goes through.
        assert_eq!(breaker.refuses(t0 + Duration::from_secs(61)), None);
        // The probe failed: open again at once.
        let later = t0 + Duration::from_secs(61);
        assert!(breaker.note(false, later, 5, open));
        assert_eq!(breaker.refuses(later + Duration::from_secs(1)), Some(6));
        // A success closes it.
        breaker.note(true, later, 5, open);
        assert_eq!(breaker.refuses(later + Duration::from_secs(1)), None);
        assert_eq!(breaker.failures_in_a_row, 0);
    }

    #[test]
    fn backoff_doubles_within_jitter_and_is_capped() {
        let settings = WebhooksConfig {
            retry_initial_ms: 1_000,
            retry_max_ms: 5_000,
            ..WebhooksConfig::default()
        };
        for _ in 0..100 {
            let first = backoff_ms(&settings, 1);
            assert!((800..=1_200).contains(&first), "{first}");
            let second = backoff_ms(&settings, 2);
            assert!((1_600..=2_400).contains(&second), "{second}");
            let capped = backoff_ms(&settings, 10);
            assert!((4_000..=6_000).contains(&capped), "{capped}");
        }
        // The defaults: 8 attempts, 7 waits of 30 s doubling, about an hour in all.
        let defaults = WebhooksConfig::default();
        let total: u64 = (1..8)
            .map(|a| {
                defaults
                    .retry_initial_ms
                    .saturating_mul(1 << (a - 1))
                    .min(defaults.retry_max_ms)
            })
            .sum();
        assert!((3_000_000..=4_200_000).contains(&total), "{total} ms");
    }
}
