//! berth-bench: a load generator for any OCI registry, and the comparison of two registries'
//! results.
//!
//! It speaks the OCI Distribution API itself (no docker, no skopeo), so the same run works
//! against Berth, CNCF Distribution or any other registry at an `http://` URL. A run is one
//! scenario (`scenarios/`): an untimed setup phase that pushes the fixtures it needs, then a
//! timed phase of `--concurrency` workers repeating one operation for `--duration` (or
//! `--iterations` operations). Every response is verified — status codes, the headers the
//! specification requires, and every byte of content against its digest — and failures are
//! counted, never retried.
//!
//! The report is a table row (or, with `--json`, one JSON line) with requests, errors, req/s,
//! MB/s, latency percentiles, the client's own CPU seconds and, given `--server-pid`, the
//! server's CPU seconds and peak RSS. `compare` turns the JSON lines of two servers into one
//! markdown table; `scripts/compare.sh` drives the whole comparison (docs/benchmarks.md).
//! `--background-gc` keeps Berth's garbage collector busy through the timed phase
//! (`background_gc.rs`), and `gc-report` tabulates runs with and without it
//! (`scripts/gc-latency.sh`).
//!
//! **Invariant:** the bench never links RocksDB or glommio: it uses only the engine's pure OCI
//! layer (`berth-engine` without its `storage` feature), for digests and media types.
//!
//! Exit status: 0 when every operation succeeded, 2 when some failed verification (the report
//! is still printed), 3 when the registry does not support the scenario (found out in setup;
//! with `--json` a line with an `unsupported` field is printed), 1 when the run could not be
//! made (bad arguments, setup failed).

mod background_gc;
mod client;
mod fixtures;
mod procstat;
mod registry;
mod report;
mod runner;
mod scenarios;
mod stats;
mod units;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use bytes::Bytes;
use clap::{Parser, Subcommand};
use http::Method;

use crate::background_gc::{BackgroundGc, BackgroundGcArgs};
use crate::client::{Conn, Target};
use crate::report::{CompareArgs, GcReportArgs, Summary, TABLE_HEADER};
use crate::runner::{Limits, Setup};
use crate::scenarios::{ScenarioArgs, Unsupported};
use crate::units::parse_duration;

#[derive(Parser, Debug)]
#[command(
    name = "berth-bench",
    version,
    about = "Load generator for OCI registries"
)]
struct Cli {
    #[command(flatten)]
    options: Options,
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Debug)]
struct Options {
    /// Registry to load, `http://host:port`.
    #[arg(
        short = 'r',
        long,
        global = true,
        default_value = "http://127.0.0.1:5000"
    )]
    registry: String,
    /// `Authorization` header sent with every request (`Basic <base64>` or `Bearer <token>`),
    /// for a registry with access control. Never printed.
    #[arg(long, global = true)]
    authorization: Option<String>,
    /// Length of the timed phase.
    #[arg(short = 'd', long, global = true, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// Stop the timed phase after this many operations (all workers together), if sooner.
    #[arg(short = 'n', long, global = true)]
    iterations: Option<u64>,
    /// Concurrent workers, one connection each [default: the scenario's, see --help of each].
    #[arg(short = 'c', long, global = true)]
    concurrency: Option<usize>,
    /// Client threads, each a tokio current-thread runtime running its share of the workers.
    #[arg(long, global = true, default_value_t = 1)]
    client_threads: usize,
    /// Connections the untimed setup pushes fixtures over.
    #[arg(long, global = true, default_value_t = 16)]
    setup_concurrency: usize,
    /// Prefix of every repository the run creates [default: bench-<seed>].
    #[arg(long, global = true)]
    repo_prefix: Option<String>,
    /// Seed of all content and random choices [default: from the clock; printed in the report].
    #[arg(long, global = true)]
    seed: Option<u64>,
    /// Process id of the server, to report its CPU seconds and peak RSS (Linux /proc).
    #[arg(long, global = true)]
    server_pid: Option<u32>,
    /// Name of the server in JSON results, for `compare`.
    #[arg(long, global = true)]
    server_name: Option<String>,
    /// Round number in JSON results, for `compare`.
    #[arg(long, global = true)]
    round: Option<u32>,
    /// Print one JSON line on stdout (and a one-line summary on stderr) instead of a table.
    #[arg(long, global = true)]
    json: bool,
    /// Omit the table header (to append rows of several runs).
    #[arg(long, global = true)]
    no_header: bool,
    #[command(flatten)]
    background_gc: BackgroundGcArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    #[command(flatten)]
    Scenario(ScenarioArgs),
    /// Wait until the registry answers `GET /v2/` (200 or 401).
    Wait {
        /// Give up after this long.
        #[arg(long, default_value = "30s", value_parser = parse_duration)]
        timeout: Duration,
    },
    /// Print a markdown table comparing two servers' `--json` results.
    Compare(CompareArgs),
    /// Print a markdown table of runs with and without `--background-gc` (scripts/gc-latency.sh).
    GcReport(GcReportArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Scenario(scenario) => run(&cli.options, scenario),
        Command::Wait { timeout } => wait(&cli.options, *timeout).map(|()| ExitCode::SUCCESS),
        Command::Compare(args) => report::compare(args).map(|table| {
            print!("{table}");
            ExitCode::SUCCESS
        }),
        Command::GcReport(args) => report::gc_report(args).map(|table| {
            print!("{table}");
            ExitCode::SUCCESS
        }),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("berth-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn seed_from_clock() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    // Keep it short enough to read and type back in.
    (nanos ^ u64::from(std::process::id()).rotate_left(32)) % 1_000_000_000_000
}

/// Server counters sampled when the timed phase starts.
struct AtStart {
    server_cpu_s: Option<f64>,
    rss: Option<procstat::RssSampler>,
    client_cpu_s: f64,
    machine_cpu_s: Option<f64>,
}

fn run(options: &Options, scenario: &ScenarioArgs) -> anyhow::Result<ExitCode> {
    let summary = match run_scenario(options, scenario) {
        Ok(summary) => summary,
        Err(e) => {
            let Some(unsupported) = e.downcast_ref::<Unsupported>() else {
                return Err(e);
            };
            let label = label(options, scenario);
            if options.json {
                let line = serde_json::json!({
                    "scenario": scenario.name(),
                    "label": label,
                    "server": options.server_name,
                    "round": options.round,
                    "registry": options.registry,
                    "unsupported": unsupported.0,
                });
                println!("{line}");
            }
            let server = options.server_name.as_deref().unwrap_or("registry");
            eprintln!("{server}: {label}: {unsupported}");
            return Ok(ExitCode::from(3));
        }
    };
    if options.json {
        println!("{}", serde_json::to_string(&summary)?);
        eprintln!("{}", summary.line());
    } else {
        if !options.no_header {
            println!("{TABLE_HEADER}");
        }
        println!("{}", summary.table_row());
    }
    if let Some(line) = summary.background_gc_line() {
        eprintln!("{line}");
    }
    for failure in &summary.failures {
        eprintln!("  failed: {failure}");
    }
    if let Some(gc) = &summary.background_gc {
        for failure in &gc.failures {
            eprintln!("  background gc failed: {failure}");
        }
        if gc.blobs_deleted == 0 && gc.runs > 0 {
            eprintln!(
                "  background gc deleted nothing: is the registry's grace period 0 \
                 ([gc] grace_period_s = 0)?"
            );
        }
    }
    Ok(if summary.errors > 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

fn concurrency(options: &Options, scenario: &ScenarioArgs) -> usize {
    options
        .concurrency
        .unwrap_or_else(|| scenario.default_concurrency())
}

/// Scenario, parameters and concurrency: how reports name a run.
fn label(options: &Options, scenario: &ScenarioArgs) -> String {
    let concurrency = concurrency(options, scenario);
    format!(
        "{} {} c={concurrency}",
        scenario.name(),
        scenario.params().text
    )
}

fn run_scenario(options: &Options, scenario: &ScenarioArgs) -> anyhow::Result<Summary> {
    let mut target = Target::parse(&options.registry)?;
    if let Some(value) = &options.authorization {
        target = target.with_authorization(value)?;
    }
    let target = Arc::new(target);
    if let Some(pid) = options.server_pid {
        procstat::cpu_seconds(pid).with_context(|| format!("reading /proc/{pid}/stat"))?;
    }
    let concurrency = concurrency(options, scenario);
    if concurrency == 0 {
        bail!("--concurrency must be at least 1");
    }
    let seed = options.seed.unwrap_or_else(seed_from_clock);
    let prefix = options
        .repo_prefix
        .clone()
        .unwrap_or_else(|| format!("bench-{seed}"));
    let params = scenario.params();
    let label = label(options, scenario);

    let gc_args = &options.background_gc;
    let background_gc_on = gc_args.initial_blobs.is_some();
    let setup = Setup {
        target: Arc::clone(&target),
        concurrency: options.setup_concurrency.max(1),
        workers: concurrency,
        prefix,
        seed,
        reference_blobs: background_gc_on,
    };
    let setup_started = Instant::now();
    if background_gc_on {
        runner::block_on(background_gc::probe(&setup))?
            .with_context(|| format!("{label}: --background-gc against {}", target.url))?;
    }
    let fixture = runner::block_on(scenario.setup(&setup))?
        .with_context(|| format!("{label}: setup against {}", target.url))?;
    let mut background_gc = None;
    if background_gc_on {
        runner::block_on(background_gc::push_initial(gc_args, &setup))??;
        background_gc = Some(BackgroundGc::spawn(gc_args, &setup)?);
    }
    let setup_s = setup_started.elapsed().as_secs_f64();

    let limits = Limits {
        duration: options.duration,
        ops_max: options.iterations,
    };
    let server_pid = options.server_pid;
    let timed = runner::run_timed(
        Arc::new(fixture),
        Arc::clone(&target),
        concurrency,
        options.client_threads,
        limits,
        seed,
        || {
            let at_start = AtStart {
                server_cpu_s: server_pid.and_then(|pid| procstat::cpu_seconds(pid).ok()),
                rss: server_pid.map(procstat::RssSampler::start),
                client_cpu_s: procstat::self_cpu_seconds(),
                machine_cpu_s: procstat::machine_cpu_seconds().ok(),
            };
            if let Some(background_gc) = background_gc.as_mut() {
                background_gc.start(limits.duration);
            }
            at_start
        },
    )?;
    let client_cpu_s = procstat::self_cpu_seconds() - timed.at_start.client_cpu_s;
    let machine_cpu_s = timed.at_start.machine_cpu_s.and_then(|before| {
        procstat::machine_cpu_seconds()
            .ok()
            .map(|after| after - before)
    });
    let server_cpu_s = match (server_pid, timed.at_start.server_cpu_s) {
        (Some(pid), Some(before)) => procstat::cpu_seconds(pid).ok().map(|after| after - before),
        _ => None,
    };
    let kib_to_mib = |kib: u64| kib as f64 / 1024.0;
    let server_peak_rss_mib = timed
        .at_start
        .rss
        .map(|sampler| kib_to_mib(sampler.finish()));
    let server_hwm_mib = server_pid
        .and_then(|pid| procstat::status_kib(pid, "VmHWM").ok())
        .map(kib_to_mib);

    let recorder = &timed.recorder;
    let elapsed_s = timed.elapsed.as_secs_f64().max(1e-9);
    // Waits for the collection in flight, after the phase's counters were read.
    let background_gc = background_gc
        .map(|background_gc| background_gc.finish(elapsed_s))
        .transpose()?;
    let mut values = params.values;
    if let Some(object) = values.as_object_mut() {
        object.insert("duration_s".into(), options.duration.as_secs_f64().into());
        object.insert("iterations".into(), options.iterations.into());
    }
    Ok(Summary {
        scenario: scenario.name().to_owned(),
        label,
        params: values,
        server: options.server_name.clone(),
        round: options.round,
        registry: target.url.clone(),
        concurrency,
        client_threads: options.client_threads,
        seed,
        setup_s,
        elapsed_s,
        requests: recorder.requests,
        ops: recorder.ops,
        errors: recorder.errors,
        bytes: recorder.bytes,
        connections: recorder.connections,
        req_per_s: recorder.requests as f64 / elapsed_s,
        ops_per_s: recorder.ops as f64 / elapsed_s,
        mb_per_s: recorder.bytes as f64 / 1e6 / elapsed_s,
        p50_ms: recorder.op_latency.quantile_ms(0.50),
        p99_ms: recorder.op_latency.quantile_ms(0.99),
        p999_ms: recorder.op_latency.quantile_ms(0.999),
        req_p50_ms: recorder.request_latency.quantile_ms(0.50),
        req_p99_ms: recorder.request_latency.quantile_ms(0.99),
        req_p999_ms: recorder.request_latency.quantile_ms(0.999),
        server_cpu_s,
        server_peak_rss_mib,
        server_hwm_mib,
        client_cpu_s,
        machine_cpu_s,
        failures: recorder.failures.clone(),
        background_gc,
    })
}

/// Polls `GET /v2/` until the registry answers 200 or 401, or `timeout` passes.
fn wait(options: &Options, timeout: Duration) -> anyhow::Result<()> {
    let target = Arc::new(Target::parse(&options.registry)?);
    let deadline = Instant::now() + timeout;
    runner::block_on(async {
        let mut last_error;
        loop {
            let mut conn = Conn::new(Arc::clone(&target));
            match conn.send(Method::GET, "/v2/", &[], Bytes::new()).await {
                Ok(response) if matches!(response.status().as_u16(), 200 | 401) => return Ok(()),
                Ok(response) => last_error = format!("status {}", response.status()),
                Err(failure) => last_error = failure.to_string(),
            }
            if Instant::now() >= deadline {
                bail!(
                    "{} did not answer GET /v2/ within {timeout:?}: {last_error}",
                    target.url
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })?
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn scenarios_parse_with_global_options_anywhere() {
        let cli = Cli::try_parse_from([
            "berth-bench",
            "--json",
            "pull-blob",
            "--size",
            "64MiB",
            "-c",
            "16",
            "--duration",
            "3s",
        ])
        .expect("parses");
        assert!(cli.options.json);
        assert_eq!(cli.options.concurrency, Some(16));
        assert_eq!(cli.options.duration, Duration::from_secs(3));
        let Command::Scenario(scenario) = cli.command else {
            panic!("a scenario");
        };
        assert_eq!(scenario.name(), "pull-blob");
        assert_eq!(scenario.params().text, "size=64MiB");
        assert_eq!(scenario.default_concurrency(), 16);
    }
}
