//! What a run reports: one [`Summary`] per scenario, printed as a table row or a JSON line, and
//! the comparison of two servers' JSON lines as one markdown table.
//!
//! Units: MB/s is 10^6 body bytes (sent plus received) per second; latencies are milliseconds,
//! per operation (`p50_ms`…) and per request (`req_p50_ms`…); CPU is seconds of user plus system
//! time during the timed phase; memory is MiB.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The result of one scenario run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Summary {
    pub scenario: String,
    /// Scenario, parameters and concurrency: what `compare` groups by.
    pub label: String,
    pub params: Value,
    /// Name of the server under test, as given with `--server-name`.
    pub server: Option<String>,
    pub round: Option<u32>,
    pub registry: String,
    pub concurrency: usize,
    pub client_threads: usize,
    pub seed: u64,
    pub setup_s: f64,
    pub elapsed_s: f64,
    pub requests: u64,
    pub ops: u64,
    pub errors: u64,
    pub bytes: u64,
    /// TCP connections opened: one per worker, more when the server closed or broke some.
    pub connections: u64,
    pub req_per_s: f64,
    pub ops_per_s: f64,
    pub mb_per_s: f64,
    /// Operation latency percentiles (an operation may be several requests).
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub p999_ms: Option<f64>,
    /// Request latency percentiles.
    pub req_p50_ms: Option<f64>,
    pub req_p99_ms: Option<f64>,
    pub req_p999_ms: Option<f64>,
    pub server_cpu_s: Option<f64>,
    /// Peak `VmRSS` sampled during the timed phase.
    pub server_peak_rss_mib: Option<f64>,
    /// `VmHWM` after the timed phase: the peak of the server's whole life.
    pub server_hwm_mib: Option<f64>,
    pub client_cpu_s: f64,
    /// The first few failures, described.
    pub failures: Vec<String>,
}

fn opt(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{v:.decimals$}"))
}

/// A number with about three significant digits.
fn num(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0}")
    } else if value >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

pub const TABLE_HEADER: &str = "scenario                                          requests errors      req/s    ops/s     MB/s   p50 ms   p99 ms p99.9 ms  srv cpu s srv MiB  cli cpu s";

impl Summary {
    /// One row under [`TABLE_HEADER`].
    pub fn table_row(&self) -> String {
        format!(
            "{:<48} {:>10} {:>6} {:>10.1} {:>8.1} {:>8.1} {:>8} {:>8} {:>8} {:>10} {:>7} {:>10.2}",
            self.label,
            self.requests,
            self.errors,
            self.req_per_s,
            self.ops_per_s,
            self.mb_per_s,
            opt(self.p50_ms, 2),
            opt(self.p99_ms, 2),
            opt(self.p999_ms, 2),
            opt(self.server_cpu_s, 2),
            opt(self.server_peak_rss_mib, 0),
            self.client_cpu_s,
        )
    }

    /// One self-describing line, for progress output next to JSON.
    pub fn line(&self) -> String {
        let server = self.server.as_deref().unwrap_or("registry");
        format!(
            "{server}: {}: {} requests, {} errors, {:.1} req/s, {:.1} MB/s, p50 {} p99 {} p99.9 {} ms; \
             server {} cpu-s {} MiB peak; client {:.2} cpu-s",
            self.label,
            self.requests,
            self.errors,
            self.req_per_s,
            self.mb_per_s,
            opt(self.p50_ms, 2),
            opt(self.p99_ms, 2),
            opt(self.p999_ms, 2),
            opt(self.server_cpu_s, 2),
            opt(self.server_peak_rss_mib, 0),
            self.client_cpu_s,
        )
    }
}

#[derive(clap::Args, Clone, Debug)]
pub struct CompareArgs {
    /// Server name of the numerator of every ratio (its `--server-name`).
    #[arg(long, default_value = "berth")]
    pub a: String,
    /// Server name of the denominator.
    #[arg(long, default_value = "distribution")]
    pub b: String,
    /// Files of JSON lines written by `--json` runs with `--server-name` (and `--round`).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    })
}

/// Median over rounds of one metric, `None` when no round has it.
fn median_of(runs: &[&Summary], metric: impl Fn(&Summary) -> Option<f64>) -> Option<f64> {
    let mut values: Vec<f64> = runs.iter().filter_map(|s| metric(s)).collect();
    median(&mut values)
}

/// The ratio of the medians, and the min and max of the per-round ratios (rounds paired by
/// number, or by order when rounds are not numbered).
fn ratio(
    a: &[&Summary],
    b: &[&Summary],
    metric: impl Fn(&Summary) -> Option<f64> + Copy,
) -> String {
    let (Some(ma), Some(mb)) = (median_of(a, metric), median_of(b, metric)) else {
        return "—".to_owned();
    };
    if mb == 0.0 {
        return "—".to_owned();
    }
    let mut per_round = Vec::new();
    for (i, run_a) in a.iter().enumerate() {
        let run_b = match run_a.round {
            Some(round) => b.iter().find(|s| s.round == Some(round)),
            None => b.get(i),
        };
        if let (Some(va), Some(vb)) = (metric(run_a), run_b.and_then(|s| metric(s))) {
            if vb != 0.0 {
                per_round.push(va / vb);
            }
        }
    }
    let lo = per_round.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = per_round.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if per_round.len() > 1 {
        format!("{:.2} ({lo:.2}–{hi:.2})", ma / mb)
    } else {
        format!("{:.2}", ma / mb)
    }
}

fn cell(value: Option<f64>) -> String {
    value.map_or_else(|| "—".to_owned(), num)
}

fn cpu_per_gb(s: &Summary) -> Option<f64> {
    let gb = s.bytes as f64 / 1e9;
    s.server_cpu_s.filter(|_| gb > 0.0).map(|cpu| cpu / gb)
}

/// The markdown comparison of server `a` against server `b`.
pub fn compare(args: &CompareArgs) -> anyhow::Result<String> {
    let mut summaries = Vec::new();
    let mut unsupported = Vec::new();
    for file in &args.files {
        let text =
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let at = || format!("{}:{}: not a berth-bench JSON line", file.display(), n + 1);
            let value: Value = serde_json::from_str(line).with_context(at)?;
            if let Some(reason) = value.get("unsupported").and_then(Value::as_str) {
                let field = |key: &str| value.get(key).map_or_else(String::new, |v| v.to_string());
                unsupported.push(format!(
                    "- {} round {}: {}: {reason}",
                    value.get("server").and_then(Value::as_str).unwrap_or("?"),
                    field("round"),
                    value.get("label").and_then(Value::as_str).unwrap_or("?"),
                ));
                continue;
            }
            summaries.push(serde_json::from_value::<Summary>(value).with_context(at)?);
        }
    }
    let mut out = compare_summaries(&summaries, &args.a, &args.b);
    if !unsupported.is_empty() {
        out.push_str("\nNot measured (the registry does not support the scenario):\n\n");
        for line in unsupported {
            out.push_str(&line);
            out.push('\n');
        }
    }
    Ok(out)
}

fn compare_summaries(summaries: &[Summary], a: &str, b: &str) -> String {
    // Labels in order of first appearance; runs per (label, server).
    let mut labels: Vec<&str> = Vec::new();
    let mut runs: BTreeMap<(&str, &str), Vec<&Summary>> = BTreeMap::new();
    for summary in summaries {
        let server = summary.server.as_deref().unwrap_or("");
        if server != a && server != b {
            continue;
        }
        if !labels.contains(&summary.label.as_str()) {
            labels.push(&summary.label);
        }
        runs.entry((summary.label.as_str(), server))
            .or_default()
            .push(summary);
    }
    let empty = Vec::new();
    let rounds = runs.values().map(Vec::len).max().unwrap_or(0);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Medians over {rounds} round(s); ratios are {a}/{b}, with the min–max of the per-round \
         ratios. Latencies are per operation (see docs/benchmarks.md).\n"
    );
    let _ = writeln!(
        out,
        "| scenario | {a} req/s | {b} req/s | req/s {a}/{b} | {a} MB/s | {b} MB/s | {a} p50 / p99 ms \
         | {b} p50 / p99 ms | p99 {a}/{b} | errors {a} / {b} | server CPU s {a} / {b} | peak RSS MiB \
         {a} / {b} |"
    );
    let _ = writeln!(
        out,
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    let mut failures = Vec::new();
    for label in &labels {
        let ra = runs.get(&(label, a)).unwrap_or(&empty);
        let rb = runs.get(&(label, b)).unwrap_or(&empty);
        let errors = |r: &[&Summary]| {
            if r.is_empty() {
                "—".to_owned()
            } else {
                r.iter().map(|s| s.errors).sum::<u64>().to_string()
            }
        };
        let latency = |r: &[&Summary]| {
            format!(
                "{} / {}",
                cell(median_of(r, |s| s.p50_ms)),
                cell(median_of(r, |s| s.p99_ms))
            )
        };
        let _ = writeln!(
            out,
            "| {label} | {} | {} | {} | {} | {} | {} | {} | {} | {} / {} | {} / {} | {} / {} |",
            cell(median_of(ra, |s| Some(s.req_per_s))),
            cell(median_of(rb, |s| Some(s.req_per_s))),
            ratio(ra, rb, |s| Some(s.req_per_s)),
            cell(median_of(ra, |s| Some(s.mb_per_s))),
            cell(median_of(rb, |s| Some(s.mb_per_s))),
            latency(ra),
            latency(rb),
            ratio(ra, rb, |s| s.p99_ms),
            errors(ra),
            errors(rb),
            cell(median_of(ra, |s| s.server_cpu_s)),
            cell(median_of(rb, |s| s.server_cpu_s)),
            cell(median_of(ra, |s| s.server_peak_rss_mib)),
            cell(median_of(rb, |s| s.server_peak_rss_mib)),
        );
        for s in ra.iter().chain(rb.iter()) {
            for failure in &s.failures {
                failures.push(format!(
                    "- {} round {}: {label}: {failure}",
                    s.server.as_deref().unwrap_or("?"),
                    s.round.map_or_else(|| "?".to_owned(), |r| r.to_string())
                ));
            }
        }
    }
    let moved: Vec<&&str> = labels
        .iter()
        .filter(|label| {
            let ra = runs.get(&(**label, a)).unwrap_or(&empty);
            let rb = runs.get(&(**label, b)).unwrap_or(&empty);
            ra.iter().chain(rb.iter()).any(|s| s.bytes as f64 >= 1e8)
        })
        .collect();
    if !moved.is_empty() {
        let _ = writeln!(
            out,
            "\nServer CPU seconds per GB of body bytes moved (median over rounds):\n"
        );
        let _ = writeln!(out, "| scenario | {a} CPU s/GB | {b} CPU s/GB | {a}/{b} |");
        let _ = writeln!(out, "|---|---:|---:|---:|");
    }
    for label in moved {
        let ra = runs.get(&(*label, a)).unwrap_or(&empty);
        let rb = runs.get(&(*label, b)).unwrap_or(&empty);
        let _ = writeln!(
            out,
            "| {label} | {} | {} | {} |",
            cell(median_of(ra, cpu_per_gb)),
            cell(median_of(rb, cpu_per_gb)),
            ratio(ra, rb, cpu_per_gb),
        );
    }
    if !failures.is_empty() {
        let _ = writeln!(out, "\nVerification errors (first few per run):\n");
        for failure in failures {
            let _ = writeln!(out, "{failure}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(server: &str, round: u32, label: &str, req_per_s: f64, cpu: f64) -> Summary {
        Summary {
            scenario: label.split(' ').next().unwrap().to_owned(),
            label: label.to_owned(),
            params: Value::Null,
            server: Some(server.to_owned()),
            round: Some(round),
            registry: "http://127.0.0.1:1".to_owned(),
            concurrency: 1,
            client_threads: 1,
            seed: 1,
            setup_s: 0.0,
            elapsed_s: 1.0,
            requests: req_per_s as u64,
            ops: req_per_s as u64,
            errors: 0,
            bytes: 2_000_000_000,
            connections: 1,
            req_per_s,
            ops_per_s: req_per_s,
            mb_per_s: 2000.0,
            p50_ms: Some(1.0),
            p99_ms: Some(2.0),
            p999_ms: Some(3.0),
            req_p50_ms: Some(1.0),
            req_p99_ms: Some(2.0),
            req_p999_ms: Some(3.0),
            server_cpu_s: Some(cpu),
            server_peak_rss_mib: Some(50.0),
            server_hwm_mib: Some(60.0),
            client_cpu_s: 0.5,
            failures: Vec::new(),
        }
    }

    #[test]
    fn medians() {
        assert_eq!(median(&mut []), None);
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), Some(2.5));
    }

    #[test]
    fn comparison_has_medians_ratios_and_cpu_per_gb() {
        let runs = vec![
            summary("berth", 1, "pull-blob size=64MiB c=16", 30.0, 1.0),
            summary("distribution", 1, "pull-blob size=64MiB c=16", 10.0, 4.0),
            summary("berth", 2, "pull-blob size=64MiB c=16", 40.0, 1.0),
            summary("distribution", 2, "pull-blob size=64MiB c=16", 20.0, 4.0),
            summary("berth", 3, "pull-blob size=64MiB c=16", 50.0, 1.0),
            summary("distribution", 3, "pull-blob size=64MiB c=16", 10.0, 4.0),
        ];
        let table = compare_summaries(&runs, "berth", "distribution");
        // Medians 40 and 10: ratio 4.00; per-round ratios 3, 2 and 5.
        assert!(
            table.contains("| pull-blob size=64MiB c=16 | 40.0 | 10.0 | 4.00 (2.00–5.00) |"),
            "{table}"
        );
        // 1 and 4 CPU seconds for 2 GB.
        assert!(
            table.contains("| pull-blob size=64MiB c=16 | 0.50 | 2.00 | 0.25 (0.25–0.25) |"),
            "{table}"
        );
    }

    #[test]
    fn a_scenario_one_server_lacks_shows_dashes() {
        let runs = vec![summary("berth", 1, "mixed c=64", 5.0, 1.0)];
        let table = compare_summaries(&runs, "berth", "distribution");
        assert!(table.contains("| mixed c=64 | 5.00 | — | — |"), "{table}");
    }
}
