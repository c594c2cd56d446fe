//! Operator commands: `berth fsck`, `berth gc`, `berth stats`.
//!
//! Each works on a stopped registry by opening its data directory, or on a running one
//! through the admin API at the address in `<data_dir>/listen.addr` (one process opens a data
//! directory at a time, so a running daemon is recognised by [`OpenError::Locked`]). With
//! access control on, the admin API is called as `admin` with the main account's password
//! (`auth.admin_password`, `BERTH_ADMIN_PASSWORD`, or `<data_dir>/admin.password`).

use std::sync::atomic::AtomicBool;

use anyhow::Context;
use base64::Engine as _;
use berth_engine::{Engine, FsckOptions, OpenError};
use clap::Args;

use crate::api::wire::{FsckReport, GcReport, Severity, StorageStats};
use crate::config::Config;
use crate::http::router::{self, Endpoint};
use crate::ConfigArgs;

/// How long an offline command waits for the store to close.
const CLOSE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

pub const FSCK_EXIT_REPAIRED: u8 = 1;
pub const FSCK_EXIT_ERRORS_LEFT: u8 = 4;
pub const FSCK_EXIT_FAILED: u8 = 8;

#[derive(Args)]
pub struct FsckArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Remove garbage and quarantine rows that point at missing or corrupt data (offline only).
    #[arg(long)]
    repair: bool,
    /// Skip hashing blob files (sizes and metadata are still checked).
    #[arg(long)]
    no_verify: bool,
    /// Threads hashing blob files.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Blob bytes hashed per second (0: unlimited).
    #[arg(long, default_value_t = 0)]
    read_bytes_per_s: u64,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct GcArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Report what would be removed; remove nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct StatsArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Print the statistics as JSON.
    #[arg(long)]
    json: bool,
}

/// Runs `work` on the engine opened offline, then closes the store before returning; or
/// returns None without running it if a running daemon holds the data directory.
pub(crate) fn offline<T>(
    config: &Config,
    work: impl FnOnce(&Engine) -> anyhow::Result<T>,
) -> anyhow::Result<Option<T>> {
    let engine = match Engine::open(config.engine_options()) {
        Ok(engine) => engine,
        Err(OpenError::Locked { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let result = work(&engine);
    if let Err(e) = engine.close(CLOSE_TIMEOUT) {
        eprintln!("berth: {e}");
    }
    result.map(Some)
}

/// `http://<addr>` of the daemon serving `config`'s data directory.
fn daemon_url(config: &Config) -> anyhow::Result<String> {
    let file = config.listen_addr_file();
    let addr = std::fs::read_to_string(&file).with_context(|| {
        format!(
            "the data directory is in use but {} is unreadable",
            file.display()
        )
    })?;
    Ok(format!("http://{}", addr.trim()))
}

/// Calls an admin endpoint of the running daemon, as `admin` when access control is on.
fn call_daemon<T: serde::de::DeserializeOwned>(
    config: &Config,
    method: &str,
    endpoint: Endpoint<'_>,
    query: &str,
) -> anyhow::Result<T> {
    let path = router::admin_path(endpoint).context("not an admin endpoint")?;
    let url = format!("{}{path}{query}", daemon_url(config)?);
    let mut request = ureq::request(method, &url);
    // Without a known password the call goes without credentials: the daemon may run with
    // access control off whatever this command's configuration says, and says so if not.
    let password = config.admin_password(false)?;
    if let Some(password) = &password {
        let credentials = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{password}", berth_engine::ADMIN_ACCOUNT));
        request = request.set("Authorization", &format!("Basic {credentials}"));
    }
    let response = request.call().map_err(|e| match e {
        ureq::Error::Status(401, _) if password.is_none() => anyhow::anyhow!(
            "{url}: 401: the daemon has access control on and the main account's password is \
             unknown here: set BERTH_ADMIN_PASSWORD or auth.admin_password, or run as a user \
             who can read {}",
            config
                .storage
                .data_dir
                .join(crate::config::ADMIN_PASSWORD_FILE)
                .display()
        ),
        ureq::Error::Status(status, r) => {
            anyhow::anyhow!("{url}: {status}: {}", r.into_string().unwrap_or_default())
        }
        other => anyhow::anyhow!("{url}: {other}"),
    })?;
    let text = response.into_string().context("reading the answer")?;
    serde_json::from_str(&text).with_context(|| format!("{url} answered {text}"))
}

pub fn fsck(args: &FsckArgs) -> anyhow::Result<u8> {
    let config = args.config.load()?;
    let options = FsckOptions {
        repair: args.repair,
        verify_digests: !args.no_verify,
        threads: args.threads.max(1),
        read_bytes_per_s: args.read_bytes_per_s,
        online: false,
        grace_ms: 0,
    };
    let offline_report = offline(&config, |engine| {
        Ok(FsckReport::from(
            engine.fsck(&options, &AtomicBool::new(false))?,
        ))
    })?;
    let report: FsckReport = match offline_report {
        Some(report) => report,
        None => {
            anyhow::ensure!(
                !args.repair,
                "the registry is running: stop it to repair (without --repair, this runs its online scrub)"
            );
            eprintln!("berth fsck: the registry is running; running its online scrub");
            call_daemon(&config, "POST", Endpoint::AdminScrub, "")?
        }
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_fsck(&report);
    }
    Ok(if report.errors == 0 {
        0
    } else if report.errors_left == 0 {
        FSCK_EXIT_REPAIRED
    } else {
        FSCK_EXIT_ERRORS_LEFT
    })
}

fn print_fsck(report: &FsckReport) {
    for f in &report.findings {
        let severity = match f.severity {
            Severity::Error => "error",
            Severity::Garbage => "garbage",
        };
        print!("{severity:<8} {:<26} {}: {}", f.code, f.subject, f.detail);
        match &f.repaired {
            Some(done) => println!(" [repaired: {done}]"),
            None => println!(),
        }
    }
    if report.findings_not_listed > 0 {
        println!("… and {} more findings", report.findings_not_listed);
    }
    println!(
        "checked {} blobs ({} bytes hashed), {} manifests, {} tags: {} errors ({} left), {} garbage, {} repaired{}",
        report.blobs_checked,
        report.blob_bytes_verified,
        report.manifests_checked,
        report.tags_checked,
        report.errors,
        report.errors_left,
        report.garbage,
        report.repaired,
        if report.online { " (online scrub)" } else { "" },
    );
}

pub fn gc(args: &GcArgs) -> anyhow::Result<()> {
    let config = args.config.load()?;
    let offline_report = offline(&config, |engine| {
        let options = crate::maintenance::gc_options(&config, args.dry_run);
        let report = engine.gc(&options, &AtomicBool::new(false))?;
        if !args.dry_run {
            engine.save_gc_report(&report)?;
        }
        Ok(GcReport::from(report))
    })?;
    let report: GcReport = match offline_report {
        Some(report) => report,
        None => {
            let query = format!("?dry_run={}", args.dry_run);
            call_daemon(&config, "POST", Endpoint::AdminGc, &query)?
        }
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    let verb = if report.dry_run {
        "would remove"
    } else {
        "removed"
    };
    println!(
        "{verb}: {} untagged manifests, {} repository links, {} blobs ({} bytes), {} manifest bodies, {} orphan files ({} bytes); {} kept on re-check",
        report.manifests_deleted,
        report.links_removed,
        report.blobs_deleted,
        report.blob_bytes_reclaimed,
        report.manifest_bodies_deleted,
        report.orphan_files_removed,
        report.orphan_bytes_reclaimed,
        report.kept_on_recheck,
    );
    Ok(())
}

pub fn stats(args: &StatsArgs) -> anyhow::Result<()> {
    let config = args.config.load()?;
    let offline_stats = offline(&config, |engine| {
        Ok(StorageStats::from(engine.storage_stats()?))
    })?;
    let stats: StorageStats = match offline_stats {
        Some(stats) => stats,
        None => call_daemon(&config, "GET", Endpoint::AdminStats, "")?,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&stats)?);
        return Ok(());
    }
    println!(
        "blobs {}  physical bytes {}  logical bytes {}  dedup ratio {:.2}  manifests {}  repositories {}  upload sessions {} ({} bytes)",
        stats.blobs,
        stats.physical_bytes,
        stats.logical_bytes,
        stats.dedup_ratio,
        stats.manifests,
        stats.repositories_count,
        stats.upload_sessions,
        stats.upload_bytes,
    );
    println!(
        "{:<50} {:>8} {:>16} {:>10} {:>8}",
        "repository", "blobs", "bytes", "manifests", "tags"
    );
    for repo in &stats.repositories {
        println!(
            "{:<50} {:>8} {:>16} {:>10} {:>8}",
            repo.name, repo.blobs, repo.bytes, repo.manifests, repo.tags
        );
    }
    Ok(())
}
