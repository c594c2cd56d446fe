//! What a worker counts while it runs: requests, operations, errors, bytes and latencies.
//!
//! Latencies go into a fixed-size log-linear histogram (like HdrHistogram with two significant
//! digits): recording is an index computation and an increment, memory is constant however long
//! the run, and per-worker histograms merge by adding counts. A reported percentile is the
//! midpoint of its bucket, within 1/128 (0.8%) of the true value.

use std::time::Duration;

/// Values below this are counted exactly, one bucket each.
const LINEAR_BUCKETS: usize = 256;
/// Each power of two above that is split into this many buckets.
const SUB_BUCKETS: usize = 128;
const SUB_BUCKET_BITS: u32 = SUB_BUCKETS.trailing_zeros();
/// Enough for every u64 nanosecond value.
const BUCKETS: usize = LINEAR_BUCKETS + (64 - 8) * SUB_BUCKETS;

/// How many failure descriptions a recorder keeps for the report; the rest are only counted.
pub const FAILURES_KEPT_MAX: usize = 5;

/// Latency histogram in nanoseconds.
#[derive(Clone)]
pub struct Histogram {
    counts: Box<[u64]>,
    total: u64,
    max_ns: u64,
}

impl Default for Histogram {
    fn default() -> Histogram {
        Histogram {
            counts: vec![0; BUCKETS].into_boxed_slice(),
            total: 0,
            max_ns: 0,
        }
    }
}

fn bucket_of(value: u64) -> usize {
    if value < LINEAR_BUCKETS as u64 {
        return value as usize;
    }
    // value >= 256: its top bit is at position >= 8. Keep the 7 bits below the top bit.
    let top_bit = 63 - value.leading_zeros();
    let shift = top_bit - SUB_BUCKET_BITS;
    let mantissa = (value >> shift) as usize - SUB_BUCKETS; // 0..128
    LINEAR_BUCKETS + (top_bit as usize - 8) * SUB_BUCKETS + mantissa
}

/// The smallest and largest value counted in `bucket`.
fn bounds_of(bucket: usize) -> (u64, u64) {
    if bucket < LINEAR_BUCKETS {
        return (bucket as u64, bucket as u64);
    }
    let k = bucket - LINEAR_BUCKETS;
    let top_bit = (k / SUB_BUCKETS) as u32 + 8;
    let shift = top_bit - SUB_BUCKET_BITS;
    let mantissa = (k % SUB_BUCKETS + SUB_BUCKETS) as u64;
    let low = mantissa << shift;
    (low, low + ((1u64 << shift) - 1))
}

impl Histogram {
    pub fn record(&mut self, latency: Duration) {
        let ns = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.counts[bucket_of(ns)] += 1;
        self.total += 1;
        self.max_ns = self.max_ns.max(ns);
    }

    #[cfg(test)]
    pub fn count(&self) -> u64 {
        self.total
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(other.counts.iter()) {
            *mine += theirs;
        }
        self.total += other.total;
        self.max_ns = self.max_ns.max(other.max_ns);
    }

    /// The value below which a fraction `q` (0..=1) of the recorded values lie, in
    /// milliseconds; `None` when nothing was recorded.
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        if self.total == 0 {
            return None;
        }
        // The rank of the value wanted, 1-based: p99 of 1000 values is the 990th.
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0u64;
        for (bucket, &count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                let (low, high) = bounds_of(bucket);
                let mid = low + (high - low) / 2;
                return Some(mid.min(self.max_ns) as f64 / 1e6);
            }
        }
        unreachable!("rank {rank} is at most the total count {}", self.total)
    }
}

/// Everything one worker (or, merged, one run) counted.
#[derive(Clone, Default)]
pub struct Recorder {
    /// HTTP requests sent, including failed ones.
    pub requests: u64,
    /// Operations completed without error (an operation is one or more requests).
    pub ops: u64,
    /// Failed operations; an operation stops at its first failed request or check.
    pub errors: u64,
    /// Body bytes sent and received.
    pub bytes: u64,
    /// TCP connections opened: one per worker, plus one for each the server closed or broke.
    pub connections: u64,
    /// Latency of each successful request, from sending it to the end of its response body.
    pub request_latency: Histogram,
    /// Latency of each successful operation.
    pub op_latency: Histogram,
    /// The first few failures, described.
    pub failures: Vec<String>,
}

impl Recorder {
    pub fn fail(&mut self, description: String) {
        self.errors += 1;
        if self.failures.len() < FAILURES_KEPT_MAX {
            self.failures.push(description);
        }
    }

    pub fn merge(&mut self, other: &Recorder) {
        self.requests += other.requests;
        self.ops += other.ops;
        self.errors += other.errors;
        self.bytes += other.bytes;
        self.connections += other.connections;
        self.request_latency.merge(&other.request_latency);
        self.op_latency.merge(&other.op_latency);
        for failure in &other.failures {
            if self.failures.len() < FAILURES_KEPT_MAX {
                self.failures.push(failure.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_every_value_and_are_contiguous() {
        let mut expected_low = 0u64;
        for bucket in 0..BUCKETS {
            let (low, high) = bounds_of(bucket);
            assert_eq!(low, expected_low, "bucket {bucket}");
            assert!(high >= low);
            assert_eq!(bucket_of(low), bucket);
            assert_eq!(bucket_of(high), bucket);
            if high == u64::MAX {
                assert_eq!(bucket, BUCKETS - 1);
                return;
            }
            expected_low = high + 1;
        }
        panic!("the last bucket does not reach u64::MAX");
    }

    #[test]
    fn relative_error_is_below_one_percent() {
        for value in [300u64, 1_000, 12_345, 999_999, 123_456_789, 10_000_000_000] {
            let (low, high) = bounds_of(bucket_of(value));
            let mid = low + (high - low) / 2;
            let error = (mid as f64 - value as f64).abs() / value as f64;
            assert!(error < 0.008, "{value}: bucket {low}..={high}");
        }
    }

    fn check(values_ms: &[u64], q: f64, expected_ms: f64) {
        let mut histogram = Histogram::default();
        for &ms in values_ms {
            histogram.record(Duration::from_millis(ms));
        }
        let got = histogram.quantile_ms(q).expect("values were recorded");
        assert!(
            (got - expected_ms).abs() / expected_ms < 0.01,
            "q={q}: got {got}, expected {expected_ms}"
        );
    }

    #[test]
    fn quantiles() {
        let hundred: Vec<u64> = (1..=100).collect();
        check(&hundred, 0.5, 50.0);
        check(&hundred, 0.99, 99.0);
        check(&hundred, 0.999, 100.0);
        check(&hundred, 1.0, 100.0);
        check(&[7], 0.5, 7.0);
        assert_eq!(Histogram::default().quantile_ms(0.5), None);
    }

    #[test]
    fn merged_histograms_add_up() {
        let mut a = Histogram::default();
        let mut b = Histogram::default();
        a.record(Duration::from_millis(1));
        b.record(Duration::from_millis(100));
        b.record(Duration::from_millis(100));
        a.merge(&b);
        assert_eq!(a.count(), 3);
        assert!((a.quantile_ms(0.5).unwrap() - 100.0).abs() < 1.0);
    }
}
