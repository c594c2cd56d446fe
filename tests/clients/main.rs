//! Real clients against the real daemon: skopeo pushes, pulls, inspects, lists, deletes and
//! copies images that these tests build offline as OCI image layouts.
//!
//! Nothing here reaches past 127.0.0.1. skopeo runs with a cleared environment, a temporary
//! HOME, a permissive trust policy, an empty registries.conf, an empty registries.d and an
//! empty auth file, so no system or user configuration can send it to the internet.
//!
//! skopeo must be on PATH (CI installs it); without it these tests fail, they never skip.
//!
//! Every fixture is random. Each test prints its seed; `BERTH_TEST_SEED=<n>` replays it.
//!
//! This file holds the offline image fixtures, the hermetic skopeo and podman runners and the
//! daemon-side checks; the tests are in one module per client, all in this one test binary.

#[path = "../support/mod.rs"]
mod support;

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use serde_json::{json, Value};
use support::{send, sha256_digest, Daemon};

/// Why these tests run with access control off (`Daemon::start_open`).
const NOT_ABOUT_ACCESS: &str =
    "interoperability of skopeo/podman with the registry; the access-control client tests configure [auth] themselves";

mod podman;
mod skopeo;

const SKOPEO: &str = "skopeo";
/// No single skopeo command should come near this; a hung client fails the test instead.
const SKOPEO_COMMAND_TIMEOUT: &str = "60s";

use berth_fixtures::media_type::{OCI_CONFIG, OCI_INDEX, OCI_LAYER, OCI_MANIFEST};
const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";

// ----- fixtures: images built offline ---------------------------------------------------------

/// The seed of one test's fixtures: `BERTH_TEST_SEED` if set, else fresh; always printed.
fn seeded_rng(test: &str) -> StdRng {
    let seed = std::env::var("BERTH_TEST_SEED")
        .ok()
        .map(|s| s.parse::<u64>().expect("BERTH_TEST_SEED is a u64"))
        .unwrap_or_else(rand::random);
    eprintln!("{test}: seed {seed} (replay with BERTH_TEST_SEED={seed})");
    StdRng::seed_from_u64(seed)
}

/// One layer: the uncompressed tar, whose digest is the config's diff_id, and the gzip
/// stream that the manifest points at.
struct Layer {
    tar: Vec<u8>,
    gz: Vec<u8>,
}

impl Layer {
    /// A real gzip-compressed tar: one directory with a few files of random bytes.
    fn random(rng: &mut StdRng, label: &str) -> Layer {
        let mut builder = tar::Builder::new(Vec::new());
        let dir = format!("{label}-{:08x}", rng.gen::<u32>());
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(tar::EntryType::Directory);
        header.set_mode(0o755);
        header.set_mtime(1_700_000_000);
        header.set_size(0);
        builder
            .append_data(&mut header, format!("{dir}/"), std::io::empty())
            .expect("tar dir");
        for i in 0..rng.gen_range(2..=4) {
            let mut data = vec![0u8; rng.gen_range(0..=96 * 1024)];
            rng.fill_bytes(&mut data);
            let mut header = tar::Header::new_ustar();
            header.set_entry_type(tar::EntryType::Regular);
            header.set_mode(0o644);
            header.set_mtime(1_700_000_000);
            header.set_size(data.len() as u64);
            builder
                .append_data(&mut header, format!("{dir}/file-{i}.bin"), data.as_slice())
                .expect("tar file");
        }
        let tar = builder.into_inner().expect("tar finish");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).expect("gzip");
        let gz = gz.finish().expect("gzip finish");
        Layer { tar, gz }
    }

    fn digest(&self) -> String {
        sha256_digest(&self.gz)
    }

    fn diff_id(&self) -> String {
        sha256_digest(&self.tar)
    }
}

/// An OCI image: config, layers, and the manifest bytes exactly as pushed.
struct Image {
    arch: &'static str,
    os: &'static str,
    config: Vec<u8>,
    layers: Vec<Layer>,
    manifest: Vec<u8>,
}

impl Image {
    /// 2–3 random layers and a config whose diff_ids and history match them. The manifest
    /// is pretty-printed on purpose: a registry that re-serializes it changes its digest.
    fn random(rng: &mut StdRng, arch: &'static str) -> Image {
        let os = "linux";
        let layer_count = rng.gen_range(2..=3);
        let layers: Vec<Layer> = (0..layer_count)
            .map(|i| Layer::random(rng, &format!("{arch}-layer-{i}")))
            .collect();
        let nonce = format!("{:016x}", rng.gen::<u64>());
        let history: Vec<Value> = (0..layer_count)
            .map(|i| {
                json!({
                    "created": "2024-01-01T00:00:00Z",
                    "created_by": format!("berth clients test: layer {i} of {nonce}"),
                })
            })
            .collect();
        let config = serde_json::to_vec(&json!({
            "created": "2024-01-01T00:00:00Z",
            "architecture": arch,
            "os": os,
            "config": {
                "Env": ["PATH=/usr/local/bin:/usr/bin:/bin", format!("BERTH_NONCE={nonce}")],
                "Cmd": ["/bin/true"],
                "Labels": { "org.example.nonce": nonce },
            },
            "rootfs": {
                "type": "layers",
                "diff_ids": layers.iter().map(Layer::diff_id).collect::<Vec<_>>(),
            },
            "history": history,
        }))
        .expect("config json");
        let manifest = serde_json::to_vec_pretty(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": OCI_CONFIG,
                "digest": sha256_digest(&config),
                "size": config.len(),
            },
            "layers": layers
                .iter()
                .map(|l| json!({
                    "mediaType": OCI_LAYER,
                    "digest": l.digest(),
                    "size": l.gz.len(),
                }))
                .collect::<Vec<_>>(),
            "annotations": { "org.example.nonce": nonce },
        }))
        .expect("manifest json");
        Image {
            arch,
            os,
            config,
            layers,
            manifest,
        }
    }

    fn digest(&self) -> String {
        sha256_digest(&self.manifest)
    }

    fn config_digest(&self) -> String {
        sha256_digest(&self.config)
    }

    fn layer_digests(&self) -> Vec<String> {
        self.layers.iter().map(Layer::digest).collect()
    }

    fn platform(&self) -> Value {
        json!({ "architecture": self.arch, "os": self.os })
    }

    fn write_blobs(&self, layout: &Path) {
        write_blob(layout, &self.config);
        for layer in &self.layers {
            write_blob(layout, &layer.gz);
        }
        write_blob(layout, &self.manifest);
    }
}

/// A multi-platform OCI image index over linux/amd64 and linux/arm64.
struct MultiArch {
    images: Vec<Image>,
    index: Vec<u8>,
}

impl MultiArch {
    fn random(rng: &mut StdRng) -> MultiArch {
        let images = vec![Image::random(rng, "amd64"), Image::random(rng, "arm64")];
        let index = serde_json::to_vec_pretty(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": images
                .iter()
                .map(|i| json!({
                    "mediaType": OCI_MANIFEST,
                    "digest": i.digest(),
                    "size": i.manifest.len(),
                    "platform": i.platform(),
                }))
                .collect::<Vec<_>>(),
        }))
        .expect("index json");
        MultiArch { images, index }
    }

    fn digest(&self) -> String {
        sha256_digest(&self.index)
    }

    fn image(&self, arch: &str) -> &Image {
        self.images
            .iter()
            .find(|i| i.arch == arch)
            .expect("platform in fixture")
    }
}

/// Writes `bytes` under `blobs/sha256/` of an OCI layout; returns its digest.
fn write_blob(layout: &Path, bytes: &[u8]) -> String {
    let digest = sha256_digest(bytes);
    let dir = layout.join("blobs/sha256");
    std::fs::create_dir_all(&dir).expect("mkdir blobs");
    std::fs::write(dir.join(digest.trim_start_matches("sha256:")), bytes).expect("write blob");
    digest
}

/// Writes `oci-layout` and an `index.json` naming each (tag, media type, manifest bytes).
/// The referenced blobs must already be written.
fn write_layout_index(layout: &Path, refs: &[(&str, &str, &[u8])]) {
    std::fs::create_dir_all(layout).expect("mkdir layout");
    std::fs::write(
        layout.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .expect("write oci-layout");
    let manifests: Vec<Value> = refs
        .iter()
        .map(|(tag, media_type, bytes)| {
            json!({
                "mediaType": media_type,
                "digest": sha256_digest(bytes),
                "size": bytes.len(),
                "annotations": { ANNOTATION_REF_NAME: tag },
            })
        })
        .collect();
    std::fs::write(
        layout.join("index.json"),
        berth_fixtures::image_index(berth_fixtures::Format::Oci, &manifests),
    )
    .expect("write index.json");
}

/// A layout holding `images`, one tag each.
fn write_image_layout(layout: &Path, images: &[(&str, &Image)]) {
    for (_, image) in images {
        image.write_blobs(layout);
    }
    let refs: Vec<(&str, &str, &[u8])> = images
        .iter()
        .map(|(tag, image)| (*tag, OCI_MANIFEST, image.manifest.as_slice()))
        .collect();
    write_layout_index(layout, &refs);
}

// ----- reading what skopeo wrote -----------------------------------------------------------

/// A blob of an OCI layout, checked against its digest.
fn layout_blob(layout: &Path, digest: &str) -> Vec<u8> {
    let hex = digest
        .strip_prefix("sha256:")
        .unwrap_or_else(|| panic!("not a sha256 digest: {digest}"));
    let path = layout.join("blobs/sha256").join(hex);
    let bytes = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("pulled layout lacks {}: {e}", path.display()));
    assert_eq!(
        sha256_digest(&bytes),
        digest,
        "{} does not hash to its name",
        path.display()
    );
    bytes
}

/// The descriptor that a pulled layout's `index.json` holds for `tag`.
fn layout_ref(layout: &Path, tag: &str) -> Value {
    let marker: Value = serde_json::from_slice(
        &std::fs::read(layout.join("oci-layout")).expect("pulled layout has oci-layout"),
    )
    .expect("oci-layout is JSON");
    assert_eq!(marker["imageLayoutVersion"], "1.0.0");
    let index: Value = serde_json::from_slice(
        &std::fs::read(layout.join("index.json")).expect("pulled layout has index.json"),
    )
    .expect("index.json is JSON");
    let matching: Vec<&Value> = index["manifests"]
        .as_array()
        .expect("index.json manifests")
        .iter()
        .filter(|d| d["annotations"][ANNOTATION_REF_NAME] == tag)
        .collect();
    assert_eq!(matching.len(), 1, "tag {tag} in pulled index.json: {index}");
    matching[0].clone()
}

/// Every blob of `image` in a pulled layout is present, hashes to its digest and equals the
/// original bytes.
fn assert_layout_holds_image(layout: &Path, image: &Image) {
    assert_eq!(layout_blob(layout, &image.digest()), image.manifest);
    assert_eq!(layout_blob(layout, &image.config_digest()), image.config);
    for (i, layer) in image.layers.iter().enumerate() {
        assert!(
            layout_blob(layout, &layer.digest()) == layer.gz,
            "layer {i} of {} differs after the round trip",
            image.digest()
        );
    }
}

// ----- running skopeo ----------------------------------------------------------------------

/// skopeo with a hermetic environment: nothing it reads comes from this machine's or this
/// user's configuration.
struct Skopeo {
    root: tempfile::TempDir,
}

impl Skopeo {
    fn new() -> Skopeo {
        match Command::new(SKOPEO).arg("--version").output() {
            Ok(out) if out.status.success() => {}
            Ok(out) => panic!(
                "`{SKOPEO} --version` failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(e) => panic!(
                "the clients suite needs `{SKOPEO}` on PATH (apt-get install skopeo), \
                 and running it failed: {e}"
            ),
        }
        let root = tempfile::tempdir().expect("tempdir");
        let p = root.path();
        for dir in [
            "home",
            "run",
            "config",
            "data",
            "cache",
            "tmp",
            "registries.d",
        ] {
            std::fs::create_dir_all(p.join(dir)).expect("mkdir");
        }
        std::fs::write(
            p.join("policy.json"),
            r#"{"default":[{"type":"insecureAcceptAnything"}]}"#,
        )
        .expect("policy");
        // No search registries, no mirrors: a short name or a typo cannot go anywhere.
        std::fs::write(
            p.join("registries.conf"),
            "unqualified-search-registries = []\n",
        )
        .expect("registries.conf");
        std::fs::write(p.join("auth.json"), r#"{"auths":{}}"#).expect("auth.json");
        Skopeo { root }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.path().join(rel)
    }

    /// Runs skopeo with `args` after the global options; never judges the outcome.
    fn run(&self, global: &[&str], args: &[&str]) -> Output {
        let p = |rel: &str| self.path(rel);
        let mut cmd = Command::new(SKOPEO);
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", p("home"))
            .env("XDG_RUNTIME_DIR", p("run"))
            .env("XDG_CONFIG_HOME", p("config"))
            .env("XDG_DATA_HOME", p("data"))
            .env("XDG_CACHE_HOME", p("cache"))
            .env("TMPDIR", p("tmp"))
            .env("CONTAINERS_REGISTRIES_CONF", p("registries.conf"))
            .env("REGISTRY_AUTH_FILE", p("auth.json"))
            .env("DOCKER_CONFIG", p("home/.docker"))
            .arg("--policy")
            .arg(p("policy.json"))
            .arg("--registries.d")
            .arg(p("registries.d"))
            .arg("--command-timeout")
            .arg(SKOPEO_COMMAND_TIMEOUT)
            .args(global)
            .args(args)
            .stdin(std::process::Stdio::null());
        let started = Instant::now();
        let out = cmd.output().expect("run skopeo");
        eprintln!(
            "skopeo {} -> {} in {} ms",
            args.join(" "),
            out.status,
            started.elapsed().as_millis()
        );
        out
    }

    /// Runs skopeo and requires success; on failure shows stderr and the daemon log.
    fn ok(&self, d: &Daemon, args: &[&str]) -> Vec<u8> {
        self.ok_with(d, &[], args)
    }

    fn ok_with(&self, d: &Daemon, global: &[&str], args: &[&str]) -> Vec<u8> {
        let out = self.run(global, args);
        assert!(
            out.status.success(),
            "skopeo {} {} failed ({}):\n--- stderr ---\n{}\n--- daemon log ---\n{}",
            global.join(" "),
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr),
            d.log()
        );
        out.stdout
    }

    /// Runs skopeo and requires failure; returns stderr.
    fn fails(&self, d: &Daemon, args: &[&str]) -> String {
        let out = self.run(&[], args);
        assert!(
            !out.status.success(),
            "skopeo {} succeeded but should have failed:\n{}\n--- daemon log ---\n{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            d.log()
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    fn json(&self, d: &Daemon, args: &[&str]) -> Value {
        self.json_with(d, &[], args)
    }

    fn json_with(&self, d: &Daemon, global: &[&str], args: &[&str]) -> Value {
        let out = self.ok_with(d, global, args);
        serde_json::from_slice(&out).unwrap_or_else(|e| {
            panic!(
                "skopeo {} printed no JSON ({e}): {}",
                args.join(" "),
                String::from_utf8_lossy(&out)
            )
        })
    }

    /// `skopeo copy` from an OCI layout into the daemon, keeping digests.
    fn push(&self, d: &Daemon, layout: &Path, tag: &str, dest: &str, all: bool) {
        let src = format!("oci:{}:{tag}", layout.display());
        let dest = format!("docker://{}/{dest}", d.host());
        let mut args = vec![
            "copy",
            "--quiet",
            "--preserve-digests",
            "--dest-tls-verify=false",
        ];
        if all {
            args.push("--all");
        }
        args.extend([src.as_str(), dest.as_str()]);
        self.ok(d, &args);
    }

    /// `skopeo copy` from the daemon into `dest` (`oci:...` or `dir:...`), keeping digests.
    fn pull(&self, d: &Daemon, src: &str, dest: &str, all: bool) {
        let src = format!("docker://{}/{src}", d.host());
        let mut args = vec![
            "copy",
            "--quiet",
            "--preserve-digests",
            "--src-tls-verify=false",
        ];
        if all {
            args.push("--all");
        }
        args.extend([src.as_str(), dest]);
        self.ok(d, &args);
    }

    fn inspect_raw(&self, d: &Daemon, reference: &str) -> Vec<u8> {
        let image = format!("docker://{}/{reference}", d.host());
        self.ok(d, &["inspect", "--tls-verify=false", "--raw", &image])
    }

    fn list_tags(&self, d: &Daemon, repo: &str) -> Vec<String> {
        let image = format!("docker://{}/{repo}", d.host());
        let listing = self.json(d, &["list-tags", "--tls-verify=false", &image]);
        assert_eq!(
            listing["Repository"],
            format!("{}/{repo}", d.host()),
            "{listing}"
        );
        listing["Tags"]
            .as_array()
            .unwrap_or_else(|| panic!("list-tags without Tags: {listing}"))
            .iter()
            .map(|t| t.as_str().expect("tag is a string").to_owned())
            .collect()
    }
}

// ----- the daemon's side -------------------------------------------------------------------

/// A manifest fetched straight from the registry API, for checks that skopeo cannot hide.
fn registry_manifest(d: &Daemon, repo: &str, reference: &str) -> support::Resp {
    send(
        "GET",
        &d.url(&format!("/v2/{repo}/manifests/{reference}")),
        &[("Accept", &format!("{OCI_MANIFEST}, {OCI_INDEX}"))],
        b"",
    )
}

/// One access-log line, as (method, path, status).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Access {
    method: String,
    path: String,
    status: u16,
}

fn access_log(d: &Daemon) -> Vec<Access> {
    d.log()
        .lines()
        .filter(|l| l.contains("berth::access"))
        .filter_map(|line| {
            let field = |name: &str| {
                line.split_whitespace()
                    .find_map(|w| w.strip_prefix(&format!("{name}=")[..]).map(str::to_owned))
            };
            Some(Access {
                method: field("method")?,
                path: field("path")?,
                status: field("status")?.parse().ok()?,
            })
        })
        .collect()
}

const ACCESS_ADMIN_PASSWORD: &str = "clients-admin-pw-1";

fn basic_auth(user: &str, password: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// A management API call as admin that must succeed.
fn admin_call(d: &Daemon, method: &str, path: &str, body: Value) {
    let auth = basic_auth("admin", ACCESS_ADMIN_PASSWORD);
    let bytes = body.to_string().into_bytes();
    let r = send(
        method,
        &d.url(path),
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        &bytes,
    );
    assert!(
        (200..300).contains(&r.status),
        "{method} {path}: {} {}",
        r.status,
        String::from_utf8_lossy(&r.body)
    );
}

// ----- running podman ----------------------------------------------------------------------

const PODMAN: &str = "podman";
/// podman has no command timeout of its own; coreutils' `timeout` gives a hung client this
/// long before the test fails on it.
const PODMAN_COMMAND_TIMEOUT: &str = "120s";

/// podman with a hermetic environment and its own image store under a temporary root (the
/// vfs driver: nothing is mounted). It knows exactly one registry, the daemon, marked
/// insecure because it speaks plain HTTP.
///
/// What it cannot be kept from: c/image's blob-info cache, which podman 4.3 running as root
/// keeps in /var/lib/containers/cache whatever its `--root` (so does skopeo), and probably the
/// system's registries.conf.d (short-name aliases; every name here is fully qualified). The
/// cache only hints where a blob might already be, costing at most a few HEADs and mount
/// attempts; every answer still comes from the daemon.
struct Podman {
    root: tempfile::TempDir,
}

impl Podman {
    /// A podman that knows only `registry` (`host:port`).
    fn new(registry: &str) -> Podman {
        match Command::new(PODMAN).arg("--version").output() {
            Ok(out) if out.status.success() => {}
            Ok(out) => panic!(
                "`{PODMAN} --version` failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(e) => panic!(
                "the clients suite needs `{PODMAN}` on PATH (apt-get install podman), \
                 and running it failed: {e}"
            ),
        }
        let root = tempfile::tempdir().expect("tempdir");
        let p = root.path();
        for dir in [
            "home", "run", "config", "data", "cache", "tmp", "storage", "runroot", "libpod",
            "networks",
        ] {
            std::fs::create_dir_all(p.join(dir)).expect("mkdir");
        }
        std::fs::write(
            p.join("policy.json"),
            r#"{"default":[{"type":"insecureAcceptAnything"}]}"#,
        )
        .expect("policy");
        // No search registries: a short name or a typo cannot go anywhere.
        std::fs::write(
            p.join("registries.conf"),
            format!(
                "unqualified-search-registries = []\n\n\
                 [[registry]]\nlocation = \"{registry}\"\ninsecure = true\n"
            ),
        )
        .expect("registries.conf");
        // Stands in for every system containers.conf: no journald, no systemd cgroups.
        std::fs::write(
            p.join("containers.conf"),
            "[engine]\nevents_logger = \"none\"\ncgroup_manager = \"cgroupfs\"\n",
        )
        .expect("containers.conf");
        std::fs::write(
            p.join("storage.conf"),
            format!(
                "[storage]\ndriver = \"vfs\"\ngraphroot = \"{}\"\nrunroot = \"{}\"\n",
                p.join("storage").display(),
                p.join("runroot").display()
            ),
        )
        .expect("storage.conf");
        std::fs::write(p.join("auth.json"), r#"{"auths":{}}"#).expect("auth.json");
        Podman { root }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.path().join(rel)
    }

    /// The registries that the auth file holds credentials for.
    fn logged_in(&self) -> Vec<String> {
        let auth: Value =
            serde_json::from_slice(&std::fs::read(self.path("auth.json")).expect("auth.json"))
                .expect("auth.json is JSON");
        auth["auths"]
            .as_object()
            .map(|auths| auths.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// `args` as echoed in logs and failures: the value of `--creds` is left out.
    fn shown<S: AsRef<str>>(args: &[S]) -> String {
        let mut shown: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
        for i in 1..shown.len() {
            if shown[i - 1] == "--creds" {
                shown[i] = "<credentials>";
            }
        }
        shown.join(" ")
    }

    /// Runs `podman <global options> <args>` with `stdin`; never judges the outcome.
    fn run<S: AsRef<str>>(&self, args: &[S], stdin: &[u8]) -> Output {
        let p = |rel: &str| self.path(rel);
        let mut cmd = Command::new("timeout");
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", p("home"))
            .env("XDG_RUNTIME_DIR", p("run"))
            .env("XDG_CONFIG_HOME", p("config"))
            .env("XDG_DATA_HOME", p("data"))
            .env("XDG_CACHE_HOME", p("cache"))
            .env("TMPDIR", p("tmp"))
            .env("CONTAINERS_CONF", p("containers.conf"))
            .env("CONTAINERS_STORAGE_CONF", p("storage.conf"))
            .env("CONTAINERS_REGISTRIES_CONF", p("registries.conf"))
            .env("REGISTRY_AUTH_FILE", p("auth.json"))
            .env("DOCKER_CONFIG", p("home/.docker"))
            .args(["--kill-after=5s", PODMAN_COMMAND_TIMEOUT, PODMAN])
            .arg("--root")
            .arg(p("storage"))
            .arg("--runroot")
            .arg(p("runroot"))
            .args(["--storage-driver", "vfs"])
            .arg("--tmpdir")
            .arg(p("libpod"))
            .arg("--network-config-dir")
            .arg(p("networks"))
            .args(args.iter().map(AsRef::as_ref))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let started = Instant::now();
        let mut child = cmd.spawn().expect("run podman under timeout");
        // Dropping stdin after the write closes it, so `--password-stdin` sees its end.
        child
            .stdin
            .take()
            .expect("piped stdin")
            .write_all(stdin)
            .expect("write podman's stdin");
        let out = child.wait_with_output().expect("wait for podman");
        eprintln!(
            "podman {} -> {} in {} ms",
            Self::shown(args),
            out.status,
            started.elapsed().as_millis()
        );
        out
    }

    /// Runs podman and requires success; on failure shows stderr and the daemon log.
    fn ok<S: AsRef<str>>(&self, d: &Daemon, args: &[S]) -> Vec<u8> {
        self.ok_stdin(d, args, b"")
    }

    fn ok_stdin<S: AsRef<str>>(&self, d: &Daemon, args: &[S], stdin: &[u8]) -> Vec<u8> {
        let out = self.run(args, stdin);
        assert!(
            out.status.success(),
            "podman {} failed ({}):\n--- stderr ---\n{}\n--- daemon log ---\n{}",
            Self::shown(args),
            out.status,
            String::from_utf8_lossy(&out.stderr),
            d.log()
        );
        out.stdout
    }

    /// Runs podman and requires failure; returns stderr.
    fn fails<S: AsRef<str>>(&self, d: &Daemon, args: &[S]) -> String {
        let out = self.run(args, b"");
        assert!(
            !out.status.success(),
            "podman {} succeeded but should have failed:\n{}\n--- daemon log ---\n{}",
            Self::shown(args),
            String::from_utf8_lossy(&out.stdout),
            d.log()
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// `podman pull <image>` or `podman push <image> docker://<dest>`: plain HTTP, the
    /// permissive trust policy, and `--creds` if given (else the auth file, else anonymous).
    fn transfer(&self, verb: &str, operands: &[String], creds: Option<&str>) -> Vec<String> {
        let mut args: Vec<String> = vec![
            verb.to_owned(),
            "--quiet".to_owned(),
            "--tls-verify=false".to_owned(),
            "--signature-policy".to_owned(),
            self.path("policy.json").display().to_string(),
        ];
        if let Some(creds) = creds {
            args.extend(["--creds".to_owned(), creds.to_owned()]);
        }
        args.extend(operands.iter().cloned());
        args
    }

    fn pull_args(&self, image: &str, creds: Option<&str>) -> Vec<String> {
        self.transfer("pull", &[image.to_owned()], creds)
    }

    fn push_args(&self, image: &str, dest: &str, creds: Option<&str>) -> Vec<String> {
        self.transfer(
            "push",
            &[image.to_owned(), format!("docker://{dest}")],
            creds,
        )
    }

    /// What `podman image inspect` reports for one local image.
    fn inspect(&self, d: &Daemon, image: &str) -> Value {
        let out = self.ok(d, &["image", "inspect", image]);
        let info: Value = serde_json::from_slice(&out).unwrap_or_else(|e| {
            panic!(
                "podman image inspect printed no JSON ({e}): {}",
                String::from_utf8_lossy(&out)
            )
        });
        assert_eq!(info.as_array().map(Vec::len), Some(1), "{info}");
        info[0].clone()
    }
}
