//! The one configuration file, and the only module that reads files or the environment for
//! settings.
//!
//! Every key has an embedded default, so `berth serve` needs no file. Unknown keys are an error
//! that names the key. Names carry their unit last (`shutdown_grace_ms`, `body_bytes_max`).
//! `docs/configuration.md` documents every key; a test keeps the two in step.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use berth_engine::{
    AccountOptions, Admission, Clock, EngineOptions, MetaOptions, RegistryLimits, SystemClock,
    TriggerOptions, UploadLimits,
};
use serde::{Deserialize, Serialize};

/// File in the data directory holding the address the shards listen on, written once they
/// are listening (so scripts, tests and `berth gc|fsck|stats` find a daemon on port 0).
pub const LISTEN_ADDR_FILE: &str = "listen.addr";

/// File in the data directory holding the main account's generated password (mode 0600).
pub const ADMIN_PASSWORD_FILE: &str = "admin.password";

/// Environment variable naming a file whose content is a signed number of milliseconds added
/// to the wall clock: a test-only injectable clock, so that expiry tests take milliseconds.
/// Never set in production; the daemon logs a warning when it is.
pub const TEST_CLOCK_ENV: &str = "BERTH_TEST_CLOCK_FILE";

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub storage: StorageConfig,
    pub limits: LimitsConfig,
    pub uploads: UploadsConfig,
    pub registry: RegistryConfig,
    pub gc: GcConfig,
    pub scrub: ScrubConfig,
    pub auth: AuthConfig,
    pub webhooks: WebhooksConfig,
    pub log: LogConfig,
    /// From [`TEST_CLOCK_ENV`]; not a configuration key.
    #[serde(skip)]
    pub test_clock_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address every shard listens on (SO_REUSEPORT). Port 0 picks a free port; the chosen
    /// address is written to `<data_dir>/listen.addr`.
    pub listen: SocketAddr,
    /// Executors (one thread each, pinned to a core). 0 means one per available core.
    pub shards: usize,
    /// On SIGTERM/SIGINT, how long in-flight requests may take to finish.
    pub shutdown_grace_ms: u64,
    /// Memory each shard registers with io_uring for file I/O. The locked-memory limit
    /// (`ulimit -l`) must cover three times this per shard.
    pub io_memory_bytes: usize,
    /// io_uring submission queue depth per shard.
    pub ring_depth: usize,
    /// Largest request head (request line and headers) accepted.
    pub header_bytes_max: usize,
    /// A client must send a request's whole head within this time.
    pub header_read_timeout_ms: u64,
    /// Open connections per shard; further connections wait in the kernel's accept queue.
    pub connections_per_shard_max: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 5000)),
            shards: 0,
            shutdown_grace_ms: 10_000,
            io_memory_bytes: 1 << 20,
            ring_depth: 128,
            header_bytes_max: 64 << 10,
            header_read_timeout_ms: 30_000,
            connections_per_shard_max: 10_000,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// Root of all state: `blobs/`, `uploads/`, `meta/` (RocksDB).
    pub data_dir: PathBuf,
    /// Metadata writes queued for the writer thread before requests get 429.
    pub meta_write_queue_max: usize,
    /// Metadata writes made durable by one WAL fsync.
    pub meta_write_group_max: usize,
    /// RocksDB block cache.
    pub meta_block_cache_bytes: usize,
    /// Size of each read when streaming a blob to a client.
    pub blob_read_chunk_bytes: usize,
    /// Size of the aligned buffer of each upload stream.
    pub upload_write_buffer_bytes: usize,
    /// Uploads are refused (507) when the file system has less than this free, keeping room
    /// for metadata writes.
    pub min_free_bytes: u64,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./berth-data"),
            meta_write_queue_max: 4096,
            meta_write_group_max: 256,
            meta_block_cache_bytes: 64 << 20,
            blob_read_chunk_bytes: 256 << 10,
            upload_write_buffer_bytes: 1 << 20,
            min_free_bytes: 128 << 20,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Largest manifest accepted; larger pushes get 413.
    pub manifest_bytes_max: u64,
    /// Largest blob an upload may produce.
    pub blob_bytes_max: u64,
    /// Largest page of a tags list or the catalog, whatever `n` asks for.
    pub list_page_max: usize,
    /// Most referrers listed for one subject.
    pub referrers_max: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            manifest_bytes_max: 4 << 20,
            blob_bytes_max: 16 << 30,
            list_page_max: 10_000,
            referrers_max: 10_000,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct UploadsConfig {
    /// Upload sessions untouched for this long are removed together with their files.
    pub session_idle_ttl_s: u64,
    /// How often the expiry sweep (idle upload sessions, expired temporary credentials,
    /// audit records past retention) runs on the maintenance thread.
    pub expiry_sweep_interval_s: u64,
    /// Open upload sessions (approximately counted) before new ones get 429.
    pub sessions_max: u64,
}

impl Default for UploadsConfig {
    fn default() -> Self {
        Self {
            session_idle_ttl_s: 24 * 3600,
            expiry_sweep_interval_s: 600,
            sessions_max: 100_000,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RegistryConfig {
    /// Whether DELETE of manifests, tags and blobs is allowed (otherwise 405 UNSUPPORTED).
    pub delete_enabled: bool,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        Self {
            delete_enabled: true,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct GcConfig {
    /// Seconds between scheduled collections on the maintenance shard; 0 runs none (on
    /// demand only: `berth gc`, `POST /api/v1/admin/gc`).
    pub interval_s: u64,
    /// Nothing younger than this is collected: protects blobs uploaded but not yet
    /// referenced by a manifest.
    pub grace_period_s: u64,
    /// Also remove manifests no tag, parent index or live subject keeps.
    pub delete_untagged_manifests: bool,
    /// Remove repository links to blobs no manifest of the repository references.
    pub collect_unreferenced_links: bool,
    /// Removals per second (each is one metadata write, and for blobs one unlink).
    pub ops_per_s: u64,
}

impl Default for GcConfig {
    fn default() -> Self {
        Self {
            interval_s: 3600,
            grace_period_s: 3600,
            delete_untagged_manifests: false,
            collect_unreferenced_links: true,
            ops_per_s: 1000,
        }
    }
}

/// Webhook triggers (docs/webhooks.md) and the delivery shard that sends them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct WebhooksConfig {
    /// Triggers one repository may have.
    pub triggers_per_repository_max: usize,
    /// Deliveries waiting before new events are recorded OVERFLOW (pushes still succeed).
    pub outbox_events_max: u64,
    /// Attempts per delivery before it is FAILED.
    pub attempts_max: u32,
    /// Wait before the first retry; doubled after each failed attempt (with ±20% jitter).
    pub retry_initial_ms: u64,
    /// Longest wait between two attempts.
    pub retry_max_ms: u64,
    pub connect_timeout_ms: u64,
    /// One whole attempt: resolving, connecting, sending and reading the response head.
    pub request_timeout_ms: u64,
    /// Deliveries in flight at once, over all destinations.
    pub deliveries_in_flight_max: usize,
    /// Deliveries in flight at once to one destination (scheme, host and port).
    pub destination_in_flight_max: usize,
    /// Failed attempts in a row after which a destination's circuit opens: its deliveries
    /// then fail at once (each counting as an attempt) until the circuit half-opens.
    pub circuit_failures_max: u32,
    /// How long an open circuit stays open before one attempt probes the destination.
    pub circuit_open_ms: u64,
    /// Days DELIVERED, FAILED, UNTRIGGERED and OVERFLOW records are kept.
    pub record_retention_days: u64,
    /// Allow destinations on loopback, link-local and private addresses (off: server-side
    /// request forgery protection).
    pub allow_private_destinations: bool,
    /// PEM file of extra certificate authorities trusted for https destinations, beside
    /// the system's. Empty: none.
    pub ca_file: String,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        Self {
            triggers_per_repository_max: 20,
            outbox_events_max: 100_000,
            attempts_max: 8,
            retry_initial_ms: 30_000,
            retry_max_ms: 30 * 60_000,
            connect_timeout_ms: 3_000,
            request_timeout_ms: 10_000,
            deliveries_in_flight_max: 64,
            destination_in_flight_max: 4,
            circuit_failures_max: 5,
            circuit_open_ms: 60_000,
            record_retention_days: 30,
            allow_private_destinations: false,
            ca_file: String::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ScrubConfig {
    /// Seconds between scheduled scrubs (an online, read-only `berth fsck`); 0 runs none.
    pub interval_s: u64,
    /// Blob bytes hashed per second.
    pub read_bytes_per_s: u64,
    /// Threads hashing blobs.
    pub threads: usize,
}

impl Default for ScrubConfig {
    fn default() -> Self {
        Self {
            interval_s: 86_400,
            read_bytes_per_s: 64 << 20,
            threads: 1,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Access control. Off: anyone may do anything (local development, benchmarks).
    pub enabled: bool,
    /// `service` of the token challenge and the tokens' audience.
    pub service: String,
    /// Base URL clients reach the registry at, for the token realm (`<external_url>/token`).
    /// Empty: `http://<Host header>`.
    pub external_url: String,
    /// Region and account id of this instance, as policy resources name them
    /// (`acs:cr:<region_id>:<account_id>:repository/<ns>/<repo>`).
    pub region_id: String,
    pub account_id: String,
    /// The main account's password. Empty: `BERTH_ADMIN_PASSWORD`, else one generated at the
    /// first start into `<data_dir>/admin.password` (mode 0600).
    pub admin_password: String,
    /// Lifetime of bearer tokens from `/token`.
    pub token_ttl_s: u64,
    /// Lifetime of temporary credentials (GetAuthorizationToken).
    pub temporary_credentials_ttl_s: u64,
    /// Namespaces one account may own.
    pub namespaces_per_account_max: usize,
    /// Audit records older than this are removed (by the expiry sweep).
    pub audit_retention_days: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            service: "berth".into(),
            external_url: String::new(),
            region_id: "local".into(),
            account_id: "1".into(),
            admin_password: String::new(),
            token_ttl_s: 300,
            temporary_credentials_ttl_s: 3600,
            namespaces_per_account_max: 3,
            audit_retention_days: 180,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `tracing` filter directive, e.g. `info` or `berth=debug,info`. `RUST_LOG` overrides it.
    pub level: String,
    /// `text` or `json`.
    pub format: LogFormat,
    /// One line per request: method, path, status, bytes, duration, shard.
    pub access_log: bool,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: LogFormat::Text,
            access_log: true,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// Command-line overrides, applied on top of the file.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
}

impl Config {
    /// The file (if any) with the overrides applied, validated.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> anyhow::Result<Config> {
        let mut config = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading config file {}", path.display()))?;
                Config::parse(&text)
                    .with_context(|| format!("in config file {}", path.display()))?
            }
            None => Config::default(),
        };
        if let Some(listen) = overrides.listen {
            config.server.listen = listen;
        }
        if let Some(dir) = &overrides.data_dir {
            config.storage.data_dir = dir.clone();
        }
        if config.auth.admin_password.is_empty() {
            if let Ok(password) = std::env::var("BERTH_ADMIN_PASSWORD") {
                config.auth.admin_password = password;
            }
        }
        if let Ok(level) = std::env::var("RUST_LOG") {
            if !level.is_empty() {
                config.log.level = level;
            }
        }
        config.test_clock_file = std::env::var_os(TEST_CLOCK_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
        config.validate()?;
        Ok(config)
    }

    /// What the engine is opened with.
    pub fn engine_options(&self) -> EngineOptions {
        let clock: std::sync::Arc<dyn Clock> = match &self.test_clock_file {
            Some(file) => std::sync::Arc::new(OffsetFileClock { file: file.clone() }),
            None => std::sync::Arc::new(SystemClock),
        };
        EngineOptions {
            data_dir: self.storage.data_dir.clone(),
            meta: MetaOptions {
                write_queue_max: self.storage.meta_write_queue_max,
                write_group_max: self.storage.meta_write_group_max,
                block_cache_bytes: self.storage.meta_block_cache_bytes,
            },
            uploads: UploadLimits {
                blob_bytes_max: self.limits.blob_bytes_max,
                session_idle_ttl_ms: self.uploads.session_idle_ttl_s.saturating_mul(1000),
                write_buffer_bytes: self.storage.upload_write_buffer_bytes,
                sessions_max: self.uploads.sessions_max,
                min_free_bytes: self.storage.min_free_bytes,
            },
            registry: RegistryLimits {
                manifest_bytes_max: self.limits.manifest_bytes_max,
                list_page_max: self.limits.list_page_max,
                referrers_max: self.limits.referrers_max,
            },
            admission: if self.auth.enabled {
                Admission::Namespaced
            } else {
                Admission::Open
            },
            accounts: AccountOptions::default(),
            triggers: TriggerOptions {
                triggers_per_repo_max: self.webhooks.triggers_per_repository_max,
                outbox_events_max: self.webhooks.outbox_events_max,
                attempts_max: self.webhooks.attempts_max,
            },
            clock,
        }
    }

    /// `<data_dir>/listen.addr`.
    pub fn listen_addr_file(&self) -> PathBuf {
        self.storage.data_dir.join(LISTEN_ADDR_FILE)
    }

    /// The main account's password: from the config (or `BERTH_ADMIN_PASSWORD`, which
    /// [`Config::load`] reads), else from `<data_dir>/admin.password`. With `generate`, a
    /// missing file is created (mode 0600) with a random password, as at the first start.
    /// None when there is none and `generate` is false. The password itself is never logged.
    pub fn admin_password(&self, generate: bool) -> anyhow::Result<Option<String>> {
        if !self.auth.admin_password.is_empty() {
            return Ok(Some(self.auth.admin_password.clone()));
        }
        let file = self.storage.data_dir.join(ADMIN_PASSWORD_FILE);
        match std::fs::read_to_string(&file) {
            Ok(text) if !text.trim().is_empty() => return Ok(Some(text.trim().to_owned())),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("reading {}", file.display())),
        }
        if !generate {
            return Ok(None);
        }
        let password = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::create_dir_all(&self.storage.data_dir).with_context(|| {
                format!(
                    "creating data directory {}",
                    self.storage.data_dir.display()
                )
            })?;
            let mut out = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&file)
                .with_context(|| format!("creating {}", file.display()))?;
            out.write_all(password.as_bytes())?;
            out.sync_all()?;
        }
        tracing::info!(
            file = %file.display(),
            "generated a password for the main account `admin`; it is in this file (mode 0600)"
        );
        Ok(Some(password))
    }

    pub fn parse(text: &str) -> anyhow::Result<Config> {
        let config: Config = toml::from_str(text)?;
        Ok(config)
    }

    pub fn to_toml(&self) -> String {
        // Every field is a plain value or table; serialising cannot fail. The admin password
        // is never printed.
        let mut shown = self.clone();
        if !shown.auth.admin_password.is_empty() {
            shown.auth.admin_password = "<set>".into();
        }
        toml::to_string_pretty(&shown).expect("config serialises to TOML")
    }

    fn validate(&self) -> anyhow::Result<()> {
        let w = &self.webhooks;
        let checks: [(bool, &str); 8] = [
            (
                w.attempts_max > 0
                    && w.deliveries_in_flight_max > 0
                    && w.destination_in_flight_max > 0,
                "webhooks.attempts_max, deliveries_in_flight_max and destination_in_flight_max \
                 must be positive",
            ),
            (
                w.connect_timeout_ms > 0 && w.request_timeout_ms >= w.connect_timeout_ms,
                "webhooks.connect_timeout_ms must be positive and at most request_timeout_ms",
            ),
            (
                self.server.io_memory_bytes >= 64 << 10,
                "server.io_memory_bytes must be at least 65536",
            ),
            (
                self.server.ring_depth > 0,
                "server.ring_depth must be positive",
            ),
            (
                self.server.header_bytes_max >= 8192,
                "server.header_bytes_max must be at least 8192",
            ),
            (
                self.storage.blob_read_chunk_bytes >= 4096,
                "storage.blob_read_chunk_bytes must be at least 4096",
            ),
            (
                self.storage.upload_write_buffer_bytes >= 4096,
                "storage.upload_write_buffer_bytes must be at least 4096",
            ),
            (
                self.limits.list_page_max > 0 && self.storage.meta_write_queue_max > 0,
                "limits.list_page_max and storage.meta_write_queue_max must be positive",
            ),
        ];
        for (ok, message) in checks {
            anyhow::ensure!(ok, "{message}");
        }
        for (key, value) in [
            ("auth.region_id", &self.auth.region_id),
            ("auth.account_id", &self.auth.account_id),
        ] {
            anyhow::ensure!(
                resource_part_valid(value),
                "{key} = {value:?}: it becomes part of every policy resource \
                 (acs:cr:<region_id>:<account_id>:...), so it must be 1 to 64 of \
                 A-Z a-z 0-9 . _ -"
            );
        }
        Ok(())
    }

    /// Shard count with 0 resolved to the number of available cores.
    pub fn shard_count(&self) -> usize {
        if self.server.shards > 0 {
            self.server.shards
        } else {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        }
    }
}

/// A region or account id: it sits between `:` separators of policy resources, where a `:`,
/// `/`, `*` or space would change what a policy matches.
fn resource_part_valid(value: &str) -> bool {
    (1..=64).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The test-only clock of [`TEST_CLOCK_ENV`]: the wall clock plus the offset (signed
/// milliseconds) written in a file, read at every call so that a test moves time by
/// rewriting it. An unreadable or empty file is an offset of zero.
struct OffsetFileClock {
    file: PathBuf,
}

impl Clock for OffsetFileClock {
    fn now_ms(&self) -> u64 {
        let offset: i64 = std::fs::read_to_string(&self.file)
            .ok()
            .and_then(|text| text.trim().parse().ok())
            .unwrap_or(0);
        SystemClock.now_ms().saturating_add_signed(offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_and_account_ids_must_be_plain_resource_parts() {
        for ok in ["local", "cn-hangzhou", "1", "acct_2.x"] {
            assert!(resource_part_valid(ok), "{ok}");
        }
        for bad in ["", "a:b", "ns/x", "*", "with space", &"x".repeat(65)] {
            assert!(!resource_part_valid(bad), "{bad:?}");
        }
        let mut config = Config::default();
        config.auth.account_id = "1:*".into();
        let err = config.validate().expect_err("a colon in account_id");
        assert!(format!("{err:#}").contains("auth.account_id"), "{err:#}");
    }

    #[test]
    fn the_test_clock_adds_the_file_offset() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("offset");
        let clock = OffsetFileClock { file: file.clone() };
        let before = SystemClock.now_ms();
        std::fs::write(&file, "86400000").expect("write");
        let moved = clock.now_ms();
        assert!(moved >= before + 86_400_000, "{moved} vs {before}");
        std::fs::write(&file, "-1000").expect("write");
        assert!(clock.now_ms() < SystemClock.now_ms());
    }

    #[test]
    fn empty_file_is_the_default() {
        assert_eq!(Config::parse("").expect("parses"), Config::default());
    }

    #[test]
    fn printed_config_parses_back() {
        let config = Config::default();
        assert_eq!(Config::parse(&config.to_toml()).expect("parses"), config);
    }

    #[test]
    fn unknown_key_is_named() {
        let err = Config::parse("[server]\nlisten = \"127.0.0.1:1\"\nshardz = 2\n")
            .expect_err("unknown key must fail");
        assert!(format!("{err:#}").contains("shardz"), "{err:#}");
        let err = Config::parse("[servr]\n").expect_err("unknown table must fail");
        assert!(format!("{err:#}").contains("servr"), "{err:#}");
    }

    #[test]
    fn wrong_type_is_an_error() {
        assert!(Config::parse("[server]\nshards = \"two\"\n").is_err());
        assert!(Config::parse("[log]\nformat = \"xml\"\n").is_err());
    }

    #[test]
    fn overrides_beat_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("berth.toml");
        std::fs::write(
            &file,
            "[server]\nlisten = \"127.0.0.1:7000\"\n[storage]\ndata_dir = \"/nope\"\n",
        )
        .expect("write");
        let overrides = Overrides {
            listen: Some("127.0.0.1:7001".parse().expect("addr")),
            data_dir: Some(PathBuf::from("/elsewhere")),
        };
        let config = Config::load(Some(&file), &overrides).expect("loads");
        assert_eq!(config.server.listen.port(), 7001);
        assert_eq!(config.storage.data_dir, PathBuf::from("/elsewhere"));
    }
}
