//! Test support: the real `berth` binary on a free loopback port with a temporary data
//! directory, and a small HTTP client that never turns statuses into errors.
//!
//! Every daemon's log is checked when it stops: an ERROR or WARN line nobody expected fails
//! the test (a habit from neon's system tests).
//!
//! A daemon starts as shipped, with access control on and the admin password
//! [`ADMIN_PASSWORD`]; a test that is not about access control turns it off and says why
//! (`Daemon::start_open(reason)`, `DaemonOptions::access_control_off(reason)`). Tests wait for
//! what the daemon does in the background with [`wait_until`]/[`wait_for`], never a fixed
//! sleep. The pure OCI builders (content, digests, documents) are `berth-fixtures`, shared with
//! the bench.

#![allow(dead_code)]

use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub mod receiver;

pub const BERTH: &str = env!("CARGO_BIN_EXE_berth");

/// A running daemon. Killed on drop.
pub struct Daemon {
    child: Option<Child>,
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    log_path: PathBuf,
    config_path: Option<PathBuf>,
    /// Substrings of WARN/ERROR log lines this test provokes on purpose.
    pub expected_log: Vec<String>,
    /// The test clock's offset file (`BERTH_TEST_CLOCK_FILE`), if the daemon has one.
    clock_file: Option<PathBuf>,
    _tmp: Option<tempfile::TempDir>,
}

/// The admin password every daemon started by the harness gets through
/// `BERTH_ADMIN_PASSWORD` (a test's own `auth.admin_password` takes precedence).
pub const ADMIN_PASSWORD: &str = "harness-admin-pw-1";

/// How to start a daemon. Without options it is the product as shipped: access control on.
/// A test that is not about access control may turn it off, saying why, with
/// [`DaemonOptions::access_control_off`] (grep for it to find them all).
#[derive(Default)]
pub struct DaemonOptions {
    toml: String,
    data_dir: Option<PathBuf>,
    access_control_off: Option<String>,
    test_clock: bool,
}

impl DaemonOptions {
    /// The config file holds `toml` (plus `[auth] enabled = false` if access control is off).
    pub fn config(mut self, toml: &str) -> Self {
        self.toml = toml.to_owned();
        self
    }

    /// Runs on `data_dir` instead of a fresh temporary one.
    pub fn data_dir(mut self, data_dir: PathBuf) -> Self {
        self.data_dir = Some(data_dir);
        self
    }

    /// Starts the daemon with `[auth] enabled = false`, unlike the shipped configuration;
    /// `reason` says why this test does not need access control.
    pub fn access_control_off(mut self, reason: &str) -> Self {
        assert!(!reason.trim().is_empty(), "say why access control is off");
        self.access_control_off = Some(reason.to_owned());
        self
    }

    /// Gives the daemon the test-only injectable clock; move it with [`Daemon::advance_clock`].
    pub fn test_clock(mut self) -> Self {
        self.test_clock = true;
        self
    }

    pub fn start(self) -> Daemon {
        let toml = match &self.access_control_off {
            None => self.toml,
            Some(reason) => {
                assert!(
                    !self.toml.contains("[auth]"),
                    "a test that configures [auth] cannot also turn access control off"
                );
                format!(
                    "# access control off: {}\n[auth]\nenabled = false\n{}",
                    reason.replace('\n', " "),
                    self.toml
                )
            }
        };
        Daemon::launch(self.data_dir, &toml, self.test_clock)
    }
}

impl Daemon {
    /// A fresh daemon with a fresh data directory and the shipped configuration (access
    /// control on; the admin password is [`ADMIN_PASSWORD`]).
    pub fn start() -> Daemon {
        Self::options().start()
    }

    /// A fresh daemon whose config file holds `toml`, access control on unless `toml` says
    /// otherwise.
    pub fn start_with_config(toml: &str) -> Daemon {
        Self::options().config(toml).start()
    }

    /// A daemon on `data_dir` (default: a fresh temporary one) whose config file holds `toml`.
    pub fn start_at(data_dir: Option<PathBuf>, toml: &str) -> Daemon {
        let mut options = Self::options().config(toml);
        if let Some(data_dir) = data_dir {
            options = options.data_dir(data_dir);
        }
        options.start()
    }

    /// Options for a daemon that differs from the shipped one.
    pub fn options() -> DaemonOptions {
        DaemonOptions::default()
    }

    /// A fresh daemon with the default configuration but access control off, for `reason`.
    pub fn start_open(reason: &str) -> Daemon {
        Self::options().access_control_off(reason).start()
    }

    /// A fresh daemon whose config file holds `toml`, access control off for `reason`.
    pub fn start_open_with_config(reason: &str, toml: &str) -> Daemon {
        Self::options()
            .access_control_off(reason)
            .config(toml)
            .start()
    }

    fn launch(data_dir: Option<PathBuf>, toml: &str, test_clock: bool) -> Daemon {
        let tmp = tempfile::tempdir().expect("tempdir");
        let data_dir = data_dir.unwrap_or_else(|| tmp.path().join("data"));
        let config_path = Some(tmp.path().join("berth.toml"));
        if let Some(path) = &config_path {
            std::fs::write(path, toml).expect("write config");
        }
        let log_path = tmp.path().join("berth.log");
        let clock_file = test_clock.then(|| {
            let file = tmp.path().join("clock-offset-ms");
            std::fs::write(&file, "0").expect("write the clock offset");
            file
        });
        let mut expected_log = Vec::new();
        if clock_file.is_some() {
            expected_log.push("test clock in use".to_owned());
        }
        let mut daemon = Daemon {
            child: None,
            addr: "127.0.0.1:0".parse().expect("addr"),
            data_dir,
            log_path,
            config_path,
            expected_log,
            clock_file,
            _tmp: Some(tmp),
        };
        daemon.spawn();
        daemon
    }

    fn spawn(&mut self) {
        let _ = std::fs::remove_file(self.data_dir.join("listen.addr"));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .expect("open log");
        let mut cmd = Command::new(BERTH);
        cmd.arg("serve")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .env("RUST_LOG", "info")
            .env("BERTH_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        if let Some(config) = &self.config_path {
            cmd.arg("--config").arg(config);
        }
        if let Some(file) = &self.clock_file {
            cmd.env("BERTH_TEST_CLOCK_FILE", file);
        }
        let mut child = cmd.spawn().expect("spawn berth");
        let addr_file = self.data_dir.join("listen.addr");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(text) = std::fs::read_to_string(&addr_file) {
                if let Ok(addr) = text.trim().parse() {
                    self.addr = addr;
                    break;
                }
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "berth exited with {status} before listening:\n{}",
                    self.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "berth did not start:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        self.child = Some(child);
    }

    /// Moves the daemon's test clock forward by `by` (it started with an offset of zero).
    pub fn advance_clock(&self, by: Duration) {
        let file = self
            .clock_file
            .as_ref()
            .expect("started with Daemon::options().test_clock()");
        let offset: u64 = std::fs::read_to_string(file)
            .expect("read the clock offset")
            .trim()
            .parse()
            .expect("an offset in ms");
        let moved = offset + u64::try_from(by.as_millis()).expect("a sane duration");
        std::fs::write(file, moved.to_string()).expect("write the clock offset");
    }

    /// `berth <args>` as an operator runs it on this daemon's data directory and configuration,
    /// with the main account's password in the environment.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BERTH);
        cmd.args(args)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .env("BERTH_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .stdin(Stdio::null());
        if let Some(config) = &self.config_path {
            cmd.arg("--config").arg(config);
        }
        cmd
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// `host:port`, as registry clients want it.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// SIGTERM, wait for a clean exit (status 0), and check the log.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        signal(child.id(), "TERM");
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("berth did not stop within 30 s of SIGTERM:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(
            status.success(),
            "berth exited with {status}:\n{}",
            self.log()
        );
        self.assert_clean_log();
    }

    /// SIGKILL: no chance to clean up.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops gracefully and starts again on the same data directory (new port).
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Kills and starts again on the same data directory.
    pub fn crash_restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// Starts the (stopped or killed) daemon again on the same data directory.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "already running");
        self.spawn();
    }

    /// Runs `berth fsck --json <args>` on the data directory; returns the exit code and the
    /// report. With the daemon stopped this is the offline check.
    pub fn fsck(&self, args: &[&str]) -> (i32, serde_json::Value) {
        let mut cmd = Command::new(BERTH);
        cmd.arg("fsck")
            .arg("--json")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(args);
        if let Some(config) = &self.config_path {
            cmd.arg("--config").arg(config);
        }
        let out = cmd.output().expect("run berth fsck");
        let code = out.status.code().unwrap_or_else(|| {
            use std::os::unix::process::ExitStatusExt;
            panic!(
                "berth fsck died of signal {:?}:\n{}",
                out.status.signal(),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "berth fsck exited {code} without a JSON report ({e}):\n{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (code, report)
    }

    pub fn assert_clean_log(&self) {
        let log = self.log();
        let unexpected: Vec<&str> = log
            .lines()
            .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
            .filter(|l| !self.expected_log.iter().any(|e| l.contains(e.as_str())))
            .collect();
        assert!(
            unexpected.is_empty(),
            "unexpected WARN/ERROR lines in the daemon log:\n{}",
            unexpected.join("\n")
        );
    }

    pub fn data_path(&self, rel: &str) -> PathBuf {
        self.data_dir.join(rel)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{name} {pid} failed");
}

/// A response with its status, headers and body, whatever the status.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The code of the first error in an OCI error body.
    pub fn error_code(&self) -> String {
        let json = self.json();
        json["errors"][0]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("not an OCI error body: {json}"))
            .to_owned()
    }
}

/// Sends one request. `headers` are (name, value) pairs; `body` may be empty. Panics when
/// the request cannot be sent or answered at all.
pub fn send(method: &str, url: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
    try_send(method, url, headers, body).unwrap_or_else(|e| panic!("{method} {url}: {e}"))
}

/// Like [`send`], but a transport failure (refused, reset: the daemon was killed) is an `Err`
/// instead of a panic. Any HTTP status is `Ok`.
pub fn try_send(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<Resp, String> {
    let agent = ureq::AgentBuilder::new()
        .redirects(0)
        .timeout(Duration::from_secs(120))
        .build();
    let mut req = agent.request(method, url);
    for (name, value) in headers {
        req = req.set(name, value);
    }
    let result = if body.is_empty() && matches!(method, "GET" | "HEAD" | "DELETE") {
        req.call()
    } else {
        req.send_bytes(body)
    };
    let response = match result {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => return Err(e.to_string()),
    };
    let status = response.status();
    let headers = response
        .headers_names()
        .into_iter()
        .filter_map(|name| {
            response
                .header(&name)
                .map(|value| (name.clone(), value.to_owned()))
        })
        .collect();
    let mut body = Vec::new();
    response
        .into_reader()
        .take(1 << 31)
        .read_to_end(&mut body)
        .map_err(|e| e.to_string())?;
    Ok(Resp {
        status,
        headers,
        body,
    })
}

// The pure builders (content, digests, documents) are shared with the bench.
pub use berth_fixtures::{random_bytes, sha256_digest};

/// Pushes `bytes` as a blob of `repo` with a monolithic POST; returns its digest.
pub fn push_blob(d: &Daemon, repo: &str, bytes: &[u8]) -> String {
    let digest = sha256_digest(bytes);
    let r = send(
        "POST",
        &d.url(&format!("/v2/{repo}/blobs/uploads/?digest={digest}")),
        &[("Content-Type", "application/octet-stream")],
        bytes,
    );
    assert_eq!(
        r.status,
        201,
        "push blob: {:?}",
        String::from_utf8_lossy(&r.body)
    );
    digest
}

/// Pushes a manifest; returns the response.
pub fn push_manifest(
    d: &Daemon,
    repo: &str,
    reference: &str,
    media_type: &str,
    body: &[u8],
) -> Resp {
    send(
        "PUT",
        &d.url(&format!("/v2/{repo}/manifests/{reference}")),
        &[("Content-Type", media_type)],
        body,
    )
}

/// An OCI image manifest for a config blob and layers (digest, size), as bytes.
pub fn image_manifest(config: (&str, usize), layers: &[(&str, usize)]) -> Vec<u8> {
    fn blob<'a>((digest, size): (&'a str, usize)) -> berth_fixtures::BlobRef<'a> {
        berth_fixtures::BlobRef {
            digest,
            size: size as u64,
        }
    }
    let layers: Vec<berth_fixtures::BlobRef<'_>> = layers.iter().copied().map(blob).collect();
    berth_fixtures::image_manifest(berth_fixtures::Format::Oci, blob(config), &layers)
}

/// Pushes a config and `layer_count` random layers and an image manifest tagged `tag`;
/// returns the manifest digest.
pub fn push_image(d: &Daemon, repo: &str, tag: &str, seed: u64, layer_count: usize) -> String {
    let layer_bytes: Vec<Vec<u8>> = (0..layer_count)
        .map(|i| random_bytes(seed * 1000 + i as u64, 1000 + i * 17))
        .collect();
    let diff_ids: Vec<String> = layer_bytes.iter().map(|b| sha256_digest(b)).collect();
    let diff_ids: Vec<&str> = diff_ids.iter().map(String::as_str).collect();
    let config = berth_fixtures::image_config(&diff_ids, seed);
    let config_digest = push_blob(d, repo, &config);
    let layers: Vec<(String, usize)> = layer_bytes
        .iter()
        .map(|bytes| (push_blob(d, repo, bytes), bytes.len()))
        .collect();
    let layer_refs: Vec<(&str, usize)> = layers.iter().map(|(d, s)| (d.as_str(), *s)).collect();
    let manifest = image_manifest((&config_digest, config.len()), &layer_refs);
    let r = push_manifest(
        d,
        repo,
        tag,
        "application/vnd.oci.image.manifest.v1+json",
        &manifest,
    );
    assert_eq!(
        r.status,
        201,
        "push manifest: {:?}",
        String::from_utf8_lossy(&r.body)
    );
    sha256_digest(&manifest)
}

/// Files in `uploads/` (session files of unfinished uploads and nothing else), sorted.
pub fn upload_files(d: &Daemon) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(d.data_path("uploads"))
        .expect("uploads dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Waits until `path` exists or panics after `timeout`.
pub fn wait_for_file(path: &Path, timeout: Duration) {
    wait_until(&format!("{} to appear", path.display()), timeout, || {
        path.exists()
    });
}

/// Polls `cond` until it holds; panics after `timeout`, naming `what` was awaited. The way a
/// test waits for something the daemon does in the background: never a fixed sleep.
pub fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    wait_for(what, timeout, || cond().then_some(()))
}

/// Polls `probe` until it returns `Some`, and returns that; panics after `timeout`, naming
/// `what` was awaited.
pub fn wait_for<T>(what: &str, timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `Authorization` header value for Basic credentials.
pub fn basic_auth(user: &str, password: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// `Authorization` header value for the harness's admin account.
pub fn admin_auth() -> String {
    basic_auth("admin", ADMIN_PASSWORD)
}

/// Creates namespace `name` as the harness's admin (`POST /api/v1/namespaces`); with access
/// control on, a repository needs one before anything is pushed to it.
pub fn create_namespace(d: &Daemon, name: &str) {
    let auth = admin_auth();
    let body = serde_json::json!({ "name": name }).to_string();
    let r = send(
        "POST",
        &d.url("/api/v1/namespaces"),
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        body.as_bytes(),
    );
    assert!(
        (200..300).contains(&r.status),
        "create namespace {name}: {} {}",
        r.status,
        String::from_utf8_lossy(&r.body)
    );
}
