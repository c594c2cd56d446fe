//! `berth`: the registry daemon and its operator commands.

mod accounts_cli;
mod api;
mod auth;
mod civil_time;
mod config;
mod http;
mod maintenance;
mod ops;
mod shard;
mod state;
mod workers;

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use config::{Config, LogFormat, Overrides};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "berth",
    version,
    about = "A thread-per-core OCI container registry"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the registry.
    Serve(ConfigArgs),
    /// Inspect the configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Check metadata against the blob store (exit 0 clean, 1 all errors repaired, 4 errors
    /// left, 8 could not check). With the daemon running, runs its online scrub instead.
    Fsck(ops::FsckArgs),
    /// Collect garbage now (on the running daemon if there is one, else offline).
    Gc(ops::GcArgs),
    /// Storage accounting: blobs, physical and logical bytes, dedup ratio, per repository.
    Stats(ops::StatsArgs),
    /// Manage accounts (registry stopped; the management API does it online).
    User {
        #[command(subcommand)]
        command: accounts_cli::UserCommand,
    },
    /// Manage policies (registry stopped; the management API does it online).
    Policy {
        #[command(subcommand)]
        command: accounts_cli::PolicyCommand,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print the effective configuration (defaults, file, overrides) as TOML.
    Print(ConfigArgs),
}

#[derive(Args)]
pub struct ConfigArgs {
    /// TOML configuration file; without one, every key takes its default.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Listen address (overrides server.listen). Port 0 picks a free port.
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Data directory (overrides storage.data_dir).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

impl ConfigArgs {
    pub fn load(&self) -> anyhow::Result<Config> {
        Config::load(
            self.config.as_deref(),
            &Overrides {
                listen: self.listen,
                data_dir: self.data_dir.clone(),
            },
        )
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => args.load().and_then(|config| {
            init_logging(&config);
            shard::serve(config)
        }),
        Command::Config {
            command: ConfigCommand::Print(args),
        } => args.load().map(|config| print!("{}", config.to_toml())),
        Command::Fsck(args) => {
            return match ops::fsck(&args) {
                Ok(code) => std::process::ExitCode::from(code),
                Err(e) => {
                    eprintln!("berth fsck: {e:#}");
                    std::process::ExitCode::from(ops::FSCK_EXIT_FAILED)
                }
            }
        }
        Command::Gc(args) => ops::gc(&args),
        Command::Stats(args) => ops::stats(&args),
        Command::User { command } => accounts_cli::user(&command),
        Command::Policy { command } => accounts_cli::policy(&command),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("berth: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log.level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_thread_names(true);
    match config.log.format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.with_ansi(false).init(),
    }
}
