//! Work that keeps the store honest and lean while it serves: garbage collection ([`gc`]),
//! consistency checks and repair ([`fsck`]) and storage accounting ([`stats`]).
//!
//! All of it is blocking code meant for one background thread (the daemon's maintenance
//! shard) or for the offline `berth` commands. It never holds a reactor: reads go straight to
//! RocksDB and the file system, and every decision that removes something is re-checked and
//! applied inside a metadata writer job, so it is serialised with the pushes that could make
//! it wrong (see `docs/design/storage.md`).
//!
//! I/O is paced by a [`Throttle`] so that pulls keep their latency while maintenance runs.

pub(crate) mod fsck;
pub(crate) mod gc;
#[cfg(test)]
mod scenarios;
pub(crate) mod stats;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::meta::schema;
use crate::meta::{MetaError, Snapshot};
use crate::registry::RegistryError;

#[derive(Debug, thiserror::Error)]
pub enum MaintenanceError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("i/o on {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("stopped before finishing")]
    Stopped,
    /// Repair rewrites rows and moves files that requests may be using: offline only.
    #[error("repair runs only offline, with the daemon stopped")]
    RepairOnline,
}

impl From<MetaError> for MaintenanceError {
    fn from(e: MetaError) -> Self {
        MaintenanceError::Registry(e.into())
    }
}

pub(crate) fn io_error(path: &std::path::Path, source: std::io::Error) -> MaintenanceError {
    MaintenanceError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// A token bucket: `take(n)` returns once `n` units fit within `rate` units per second, with
/// up to one second's worth of burst. A rate of 0 means unlimited.
#[derive(Debug)]
pub struct Throttle {
    rate: f64,
    tokens: f64,
    last: Instant,
}

impl Throttle {
    pub fn new(rate_per_s: u64) -> Throttle {
        Throttle {
            rate: rate_per_s as f64,
            tokens: rate_per_s as f64,
            last: Instant::now(),
        }
    }

    /// Waits until `n` units may be spent, then spends them. Returns how long it waited.
    pub fn take(&mut self, n: u64) -> Duration {
        if self.rate <= 0.0 {
            return Duration::ZERO;
        }
        let now = Instant::now();
        self.tokens =
            (self.tokens + now.duration_since(self.last).as_secs_f64() * self.rate).min(self.rate);
        self.last = now;
        self.tokens -= n as f64;
        if self.tokens >= 0.0 {
            return Duration::ZERO;
        }
        let wait = Duration::from_secs_f64(-self.tokens / self.rate);
        std::thread::sleep(wait);
        wait
    }
}

/// Asked to stop (daemon shutting down): long runs check it between items.
pub type StopFlag = AtomicBool;

pub(crate) fn check_stop(stop: &StopFlag) -> Result<(), MaintenanceError> {
    if stop.load(Ordering::Relaxed) {
        Err(MaintenanceError::Stopped)
    } else {
        Ok(())
    }
}

/// Stores a report (JSON) under `name` in the maintenance family, for the admin API.
pub(crate) fn save_report<T: serde::Serialize>(
    meta: &crate::meta::Meta,
    name: &'static str,
    report: &T,
) -> Result<(), MaintenanceError> {
    let bytes = serde_json::to_vec(report).map_err(|e| {
        MaintenanceError::Registry(RegistryError::Corrupted {
            what: format!("report {name}: {e}"),
        })
    })?;
    meta.write_blocking(move |ctx| -> Result<(), RegistryError> {
        ctx.put_raw(schema::CF_MAINTENANCE, name.as_bytes(), &bytes);
        Ok(())
    })?;
    Ok(())
}

/// The last report stored under `name`. A report this binary cannot read (written by another
/// version) reads as none: reports are informational, never the source of a decision.
pub(crate) fn load_report<T: serde::de::DeserializeOwned>(
    meta: &crate::meta::Reader,
    name: &str,
) -> Result<Option<T>, MaintenanceError> {
    match meta.get_raw(schema::CF_MAINTENANCE, name.as_bytes())? {
        None => Ok(None),
        Some(bytes) => Ok(serde_json::from_slice(&bytes).ok()),
    }
}

/// [`Snapshot::for_each`] with the maintenance error type.
pub(crate) fn each(
    snapshot: &Snapshot<'_>,
    cf: &str,
    visit: impl FnMut(&[u8], &[u8]) -> Result<(), MaintenanceError>,
) -> Result<(), MaintenanceError> {
    snapshot.for_each(cf, visit)
}

pub(crate) const GC_REPORT: &str = "gc/last";
pub(crate) const SCRUB_REPORT: &str = "scrub/last";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_paces_to_its_rate_after_the_burst() {
        // 100 units/s with a 100-unit burst: 150 units take at least ~0.5 s.
        let mut throttle = Throttle::new(100);
        let started = Instant::now();
        for _ in 0..15 {
            throttle.take(10);
        }
        let elapsed = started.elapsed();
        assert!(elapsed >= Duration::from_millis(450), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
        // Unlimited never waits.
        let mut free = Throttle::new(0);
        assert_eq!(free.take(1 << 40), Duration::ZERO);
    }
}
