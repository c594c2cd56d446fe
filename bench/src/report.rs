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

use crate::background_gc::BackgroundGcReport;

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
    /// CPU seconds the whole machine used during the timed phase (`/proc/stat`): less the
    /// server's and the client's, what else ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine_cpu_s: Option<f64>,
    /// The first few failures, described.
    pub failures: Vec<String>,
    /// What the collections run with `--background-gc` did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub background_gc: Option<BackgroundGcReport>,
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

    /// What `--background-gc` did, on one line; `None` without it.
    pub fn background_gc_line(&self) -> Option<String> {
        let gc = self.background_gc.as_ref()?;
        Some(format!(
            "background gc: {} runs deleted {} blobs ({:.0}/s while running), busy {:.0}% of the \
             phase (+{:.1} s after it), refills {} blobs in {:.0}% of the phase, {} errors; \
             its thread {:.2} cpu-s of the client's {:.2}",
            gc.runs,
            gc.blobs_deleted,
            gc.blobs_deleted_per_s,
            gc.busy_fraction * 100.0,
            gc.overrun_s,
            gc.refill_blobs_pushed,
            gc.refill_fraction * 100.0,
            gc.errors,
            gc.client_cpu_s,
            self.client_cpu_s,
        ))
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

/// The summaries in `files` of JSON lines, and a description of each run that found its
/// scenario unsupported.
fn load(files: &[PathBuf]) -> anyhow::Result<(Vec<Summary>, Vec<String>)> {
    let mut summaries = Vec::new();
    let mut unsupported = Vec::new();
    for file in files {
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
    Ok((summaries, unsupported))
}

/// The markdown comparison of server `a` against server `b`.
pub fn compare(args: &CompareArgs) -> anyhow::Result<String> {
    let (summaries, unsupported) = load(&args.files)?;
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

#[derive(clap::Args, Clone, Debug)]
pub struct GcReportArgs {
    /// Server name (`--server-name`) of the runs without background GC, that every p99 is
    /// compared with.
    #[arg(long, default_value = "no GC")]
    pub baseline: String,
    /// Files of JSON lines written by `--json` runs with `--server-name` naming the GC mode
    /// (and `--round`).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

/// The markdown table of runs with and without `--background-gc`.
pub fn gc_report(args: &GcReportArgs) -> anyhow::Result<String> {
    let (summaries, unsupported) = load(&args.files)?;
    let mut out = gc_report_summaries(&summaries, &args.baseline);
    for line in unsupported {
        let _ = writeln!(out, "{line}");
    }
    Ok(out)
}

/// Runs during which other processes used more than this many cores are listed under the
/// GC table.
const OTHER_CORES_NOTED_MIN: f64 = 0.2;

/// The machine's CPU seconds that were neither the server's nor the client's.
fn other_cpu(s: &Summary) -> Option<f64> {
    Some((s.machine_cpu_s? - s.server_cpu_s? - s.client_cpu_s).max(0.0))
}

fn gc_report_summaries(summaries: &[Summary], baseline: &str) -> String {
    // Labels and modes in order of first appearance, the baseline first.
    let mut labels: Vec<&str> = Vec::new();
    let mut modes: Vec<&str> = vec![baseline];
    let mut runs: BTreeMap<(&str, &str), Vec<&Summary>> = BTreeMap::new();
    for summary in summaries {
        let mode = summary.server.as_deref().unwrap_or("");
        if !labels.contains(&summary.label.as_str()) {
            labels.push(&summary.label);
        }
        if !modes.contains(&mode) {
            modes.push(mode);
        }
        runs.entry((summary.label.as_str(), mode))
            .or_default()
            .push(summary);
    }
    let rounds = runs.values().map(Vec::len).max().unwrap_or(0);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Medians over {rounds} round(s). p99 vs {baseline}: ratio of the medians, with the min–max \
         of the per-round ratios. GC blobs/s: blobs deleted per second while a collection ran \
         (its own duration); GC busy: share of the timed phase a collection was in flight. CPU: \
         CPU seconds per second of the timed phase (cores); the client's includes the background \
         GC task's, shown in parentheses; other: the rest of the machine's: other processes, and \
         kernel threads such as the file system's journal, which a collection's fsyncs keep busy \
         too.\n"
    );
    let _ = writeln!(
        out,
        "| scenario | GC mode | req/s | p50 ms | p99 ms | p99 vs {baseline} | GC blobs/s | GC busy \
         | errors | client CPU (GC task) | server CPU | other CPU |"
    );
    let _ = writeln!(
        out,
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    let empty = Vec::new();
    let mut failures = Vec::new();
    let mut disturbed = Vec::new();
    for label in &labels {
        let base = runs.get(&(*label, baseline)).unwrap_or(&empty);
        for mode in &modes {
            let Some(r) = runs.get(&(*label, *mode)) else {
                continue;
            };
            // Only runs that collected (not `--gc-idle` controls) have GC figures.
            let gc = |metric: fn(&BackgroundGcReport) -> f64| {
                move |s: &Summary| {
                    s.background_gc
                        .as_ref()
                        .filter(|gc| gc.runs > 0)
                        .map(metric)
                }
            };
            let per_s = |cpu: fn(&Summary) -> Option<f64>| {
                move |s: &Summary| cpu(s).map(|cpu| cpu / s.elapsed_s.max(1e-9))
            };
            let vs_baseline = if *mode == baseline {
                "1".to_owned()
            } else {
                ratio(r, base, |s| s.p99_ms)
            };
            let gc_task_cpu = median_of(r, |s| {
                s.background_gc
                    .as_ref()
                    .map(|gc| gc.client_cpu_s / s.elapsed_s.max(1e-9))
            });
            let client_cpu = match gc_task_cpu {
                Some(task) => format!(
                    "{} ({})",
                    cell(median_of(r, per_s(|s| Some(s.client_cpu_s)))),
                    num(task)
                ),
                None => cell(median_of(r, per_s(|s| Some(s.client_cpu_s)))),
            };
            let busy = median_of(r, gc(|g| g.busy_fraction))
                .map_or_else(|| "—".to_owned(), |f| format!("{:.0}%", f * 100.0));
            let errors: u64 = r
                .iter()
                .map(|s| s.errors + s.background_gc.as_ref().map_or(0, |g| g.errors))
                .sum();
            let _ = writeln!(
                out,
                "| {label} | {mode} | {} | {} | {} | {vs_baseline} | {} | {busy} | {errors} | \
                 {client_cpu} | {} | {} |",
                cell(median_of(r, |s| Some(s.req_per_s))),
                cell(median_of(r, |s| s.p50_ms)),
                cell(median_of(r, |s| s.p99_ms)),
                cell(median_of(r, gc(|g| g.blobs_deleted_per_s))),
                cell(median_of(r, per_s(|s| s.server_cpu_s))),
                cell(median_of(r, per_s(other_cpu))),
            );
            for s in r {
                let other_cores = other_cpu(s).map(|cpu| cpu / s.elapsed_s.max(1e-9));
                if let Some(cores) = other_cores.filter(|&c| c > OTHER_CORES_NOTED_MIN) {
                    disturbed.push(format!(
                        "- {mode} round {}: {label}: {cores:.2} cores",
                        s.round.map_or_else(|| "?".to_owned(), |r| r.to_string())
                    ));
                }
            }
            for s in r {
                let background = s.background_gc.as_ref().map(|g| g.failures.iter());
                for failure in s.failures.iter().chain(background.into_iter().flatten()) {
                    failures.push(format!(
                        "- {mode} round {}: {label}: {failure}",
                        s.round.map_or_else(|| "?".to_owned(), |r| r.to_string())
                    ));
                }
            }
        }
    }
    if !disturbed.is_empty() {
        let _ = writeln!(
            out,
            "\nRuns during which other processes or kernel threads used more than \
             {OTHER_CORES_NOTED_MIN} cores:\n"
        );
        for line in disturbed {
            let _ = writeln!(out, "{line}");
        }
    }
    if !failures.is_empty() {
        let _ = writeln!(out, "\nErrors (first few per run):\n");
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
            machine_cpu_s: Some(cpu + 0.5),
            failures: Vec::new(),
            background_gc: None,
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

    #[test]
    fn the_gc_report_compares_every_mode_with_the_baseline() {
        let label = "pull-blob size=4KiB c=32";
        let mut runs = Vec::new();
        for (round, base_p99, gc_p99) in [(1, 4.0, 8.0), (2, 5.0, 20.0), (3, 6.0, 12.0)] {
            let mut base = summary("no GC", round, label, 1000.0, 5.0);
            base.p99_ms = Some(base_p99);
            base.elapsed_s = 10.0;
            let mut gc = summary("GC 1000/s", round, label, 900.0, 6.0);
            gc.p99_ms = Some(gc_p99);
            gc.elapsed_s = 10.0;
            gc.client_cpu_s = 4.0;
            // One CPU second neither the server's nor the client's.
            gc.machine_cpu_s = Some(6.0 + 4.0 + 1.0);
            gc.background_gc = Some(BackgroundGcReport {
                runs: 1,
                blobs_deleted_per_s: 330.0,
                busy_fraction: 0.95,
                client_cpu_s: 0.2,
                ..BackgroundGcReport::default()
            });
            runs.push(base);
            runs.push(gc);
        }
        let table = gc_report_summaries(&runs, "no GC");
        // p99 medians 5 and 12: 2.40; per round 2, 4 and 2.
        assert!(
            table.contains(&format!(
                "| {label} | no GC | 1000 | 1.00 | 5.00 | 1 | — | — | 0 | 0.05 | 0.50 | 0.00 |"
            )),
            "{table}"
        );
        assert!(
            table.contains(&format!(
                "| {label} | GC 1000/s | 900 | 1.00 | 12.0 | 2.40 (2.00–4.00) | 330 | 95% | 0 | \
                 0.40 (0.02) | 0.60 | 0.10 |"
            )),
            "{table}"
        );
    }
}
