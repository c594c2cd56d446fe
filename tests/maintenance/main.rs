//! Keeping the store honest and lean while it serves: garbage collection, storage accounting,
//! the online scrub and the offline `berth fsck`, through the admin API and the operator
//! commands, against the real daemon and the files it leaves on disk.
//!
//! Every figure asserted here is computed from what the test pushed, so a collection that
//! removes one blob too many (or too few) fails on the number, not only on a later pull.
//!
//! This file holds the image builders and the admin-API and command helpers; the tests are in
//! one module per subject (gc, integrity, commands, full_disk), all in this one test binary.

#[path = "../support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use support::*;

/// Why these tests run with access control off (`Daemon::start_open`).
const NOT_ABOUT_ACCESS: &str =
    "GC, fsck, scrub and stats; the admin API is called without credentials here";

mod commands;
mod full_disk;
mod gc;
mod integrity;

use berth_fixtures::media_type::{OCI_EMPTY, OCI_INDEX, OCI_MANIFEST};

/// Collections and scrubs run only when asked, and nothing is protected by age.
const GC_NOW: &str = "[gc]\ninterval_s = 0\ngrace_period_s = 0\n[scrub]\ninterval_s = 0\n";

/// The counters of a GC report (everything but `dry_run` and the timestamps).
const GC_COUNTS: [&str; 8] = [
    "manifests_deleted",
    "links_removed",
    "blobs_deleted",
    "blob_bytes_reclaimed",
    "manifest_bodies_deleted",
    "orphan_files_removed",
    "orphan_bytes_reclaimed",
    "kept_on_recheck",
];

// ----- images ---------------------------------------------------------------------------------

/// An image as pushed: its manifest, and its blobs with the config first.
struct Image {
    repo: String,
    digest: String,
    manifest: Vec<u8>,
    blobs: Vec<Vec<u8>>,
}

impl Image {
    fn blob_digest(&self, i: usize) -> String {
        sha256_digest(&self.blobs[i])
    }

    fn size(&self, i: usize) -> u64 {
        self.blobs[i].len() as u64
    }
}

fn descriptor(media_type: &str, digest: &str, size: usize) -> Value {
    berth_fixtures::descriptor(media_type, digest, size as u64)
}

fn config_bytes(name: &str) -> Vec<u8> {
    format!("{{\"architecture\":\"amd64\",\"os\":\"linux\",\"name\":\"{name}\"}}").into_bytes()
}

/// Pushes a config named `name` and `layers` to `repo`, then an image manifest naming them
/// under `reference` (a tag, or "" to push by digest).
fn push_image_of(d: &Daemon, repo: &str, reference: &str, name: &str, layers: &[&[u8]]) -> Image {
    let mut blobs = vec![config_bytes(name)];
    blobs.extend(layers.iter().map(|l| l.to_vec()));
    for blob in &blobs {
        push_blob(d, repo, blob);
    }
    let digests: Vec<String> = blobs.iter().map(|b| sha256_digest(b)).collect();
    let refs: Vec<berth_fixtures::BlobRef<'_>> = blobs
        .iter()
        .zip(&digests)
        .map(|(blob, digest)| berth_fixtures::BlobRef {
            digest,
            size: blob.len() as u64,
        })
        .collect();
    let manifest = berth_fixtures::image_manifest(berth_fixtures::Format::Oci, refs[0], &refs[1..]);
    let digest = put_manifest(d, repo, reference, OCI_MANIFEST, &manifest);
    Image {
        repo: repo.to_owned(),
        digest,
        manifest,
        blobs,
    }
}

/// PUTs a manifest (by digest when `reference` is empty), checks the 201; returns its digest.
fn put_manifest(d: &Daemon, repo: &str, reference: &str, media_type: &str, body: &[u8]) -> String {
    let digest = sha256_digest(body);
    let reference = if reference.is_empty() {
        digest.as_str()
    } else {
        reference
    };
    let r = push_manifest(d, repo, reference, media_type, body);
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("Docker-Content-Digest"), Some(digest.as_str()));
    digest
}

fn get(d: &Daemon, path: &str) -> Resp {
    send(
        "GET",
        &d.url(path),
        &[("Accept", &format!("{OCI_MANIFEST}, {OCI_INDEX}"))],
        &[],
    )
}

fn delete(d: &Daemon, path: &str) {
    let r = send("DELETE", &d.url(path), &[], &[]);
    assert_eq!(
        r.status,
        202,
        "DELETE {path}: {}",
        String::from_utf8_lossy(&r.body)
    );
}

fn get_blob(d: &Daemon, repo: &str, digest: &str) -> Resp {
    get(d, &format!("/v2/{repo}/blobs/{digest}"))
}

/// Pulls `reference` of `image.repo` as a client would: the manifest's exact bytes, then every
/// blob it names, each hashed against its descriptor.
fn pull_verified(d: &Daemon, image: &Image, reference: &str) {
    let r = get(d, &format!("/v2/{}/manifests/{reference}", image.repo));
    assert_eq!(r.status, 200, "manifest {}:{reference}", image.repo);
    assert_eq!(r.body, image.manifest, "manifest bytes of {}", image.repo);
    let manifest: Value = serde_json::from_slice(&r.body).expect("manifest json");
    let mut descriptors = vec![manifest["config"].clone()];
    descriptors.extend(
        manifest["layers"]
            .as_array()
            .expect("layers")
            .iter()
            .cloned(),
    );
    for descriptor in descriptors {
        let digest = descriptor["digest"].as_str().expect("digest");
        let r = get_blob(d, &image.repo, digest);
        assert_eq!(r.status, 200, "blob {digest} of {}", image.repo);
        assert_eq!(sha256_digest(&r.body), digest, "bytes of blob {digest}");
        assert_eq!(Some(r.body.len() as u64), descriptor["size"].as_u64());
    }
}

fn expect_blob_unknown(d: &Daemon, repo: &str, digest: &str) {
    let r = get_blob(d, repo, digest);
    assert_eq!(r.status, 404, "blob {digest} of {repo} is still served");
    assert_eq!(r.error_code(), "BLOB_UNKNOWN");
}

fn blob_path(d: &Daemon, digest: &str) -> PathBuf {
    let hex = digest.strip_prefix("sha256:").expect("sha256 digest");
    d.data_path(&format!("blobs/sha256/{}/{hex}", &hex[..2]))
}

/// Overwrites one byte in the middle of `path` with its complement: same size, other digest.
fn flip_byte(path: &Path) {
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .expect("open blob file");
    let middle = file.metadata().expect("metadata").len() / 2;
    let mut byte = [0u8; 1];
    file.seek(SeekFrom::Start(middle)).expect("seek");
    file.read_exact(&mut byte).expect("read");
    file.seek(SeekFrom::Start(middle)).expect("seek");
    file.write_all(&[!byte[0]]).expect("write");
    file.sync_all().expect("sync");
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis()
}

/// With `grace_period_s = 0` a collection still keeps what was written in the millisecond it
/// starts (only what is strictly older than `now - grace` goes): wait for the clock to move on,
/// so the counts below do not depend on how fast the pushes were.
fn let_a_millisecond_pass() {
    let start = now_ms();
    wait_until("the wall clock to move on", Duration::from_secs(1), || {
        now_ms() > start
    });
}

// ----- admin API --------------------------------------------------------------------------------

fn admin(d: &Daemon, method: &str, path: &str) -> Value {
    let r = send(method, &d.url(&format!("/api/v1/admin/{path}")), &[], &[]);
    assert_eq!(
        r.status,
        200,
        "{method} {path}: {}",
        String::from_utf8_lossy(&r.body)
    );
    r.json()
}

fn gc(d: &Daemon) -> Value {
    let report = admin(d, "POST", "gc");
    assert_eq!(report["dry_run"], json!(false));
    report
}

fn gc_dry_run(d: &Daemon) -> Value {
    let report = admin(d, "POST", "gc?dry_run=true");
    assert_eq!(report["dry_run"], json!(true));
    report
}

fn stats(d: &Daemon) -> Value {
    admin(d, "GET", "stats")
}

fn gc_counts(report: &Value) -> BTreeMap<&'static str, u64> {
    GC_COUNTS
        .iter()
        .map(|&k| {
            let v = report[k]
                .as_u64()
                .unwrap_or_else(|| panic!("{k} missing: {report}"));
            (k, v)
        })
        .collect()
}

/// Checks a GC report: the counters named in `expected` have those values, all others are 0.
fn expect_gc(report: &Value, expected: &[(&'static str, u64)]) {
    let mut want: BTreeMap<&'static str, u64> = GC_COUNTS.iter().map(|&k| (k, 0)).collect();
    for &(k, v) in expected {
        assert!(want.insert(k, v).is_some(), "{k} is not a GC counter");
    }
    assert_eq!(gc_counts(report), want, "gc report: {report}");
}

/// The figures `/api/v1/admin/stats` must show, for storage holding `blobs` (each once) and
/// repositories linking them.
struct Expected<'a> {
    blobs: &'a [&'a [u8]],
    manifests: u64,
    /// name, linked blobs (their bytes), manifests, tags
    repos: &'a [(&'a str, &'a [&'a [u8]], u64, u64)],
}

fn expect_stats(stats: &Value, e: &Expected<'_>) {
    let physical: u64 = e.blobs.iter().map(|b| b.len() as u64).sum();
    let logical: u64 = e
        .repos
        .iter()
        .flat_map(|r| r.1.iter())
        .map(|b| b.len() as u64)
        .sum();
    assert_eq!(stats["blobs"], json!(e.blobs.len()), "{stats}");
    assert_eq!(stats["physical_bytes"], json!(physical), "{stats}");
    assert_eq!(stats["logical_bytes"], json!(logical), "{stats}");
    let ratio = stats["dedup_ratio"].as_f64().expect("dedup_ratio");
    let want = if physical == 0 {
        1.0
    } else {
        logical as f64 / physical as f64
    };
    assert!(
        (ratio - want).abs() < 1e-9,
        "dedup ratio {ratio}, want {want}"
    );
    assert_eq!(stats["manifests"], json!(e.manifests), "{stats}");
    assert_eq!(stats["repositories_count"], json!(e.repos.len()), "{stats}");
    let repos: Vec<Value> = e
        .repos
        .iter()
        .map(|(name, blobs, manifests, tags)| {
            json!({
                "name": name,
                "blobs": blobs.len(),
                "bytes": blobs.iter().map(|b| b.len() as u64).sum::<u64>(),
                "manifests": manifests,
                "tags": tags,
            })
        })
        .collect();
    assert_eq!(stats["repositories"], json!(repos), "{stats}");
}

// ----- the operator commands --------------------------------------------------------------------

/// Runs `berth <args>`; a command killed by a signal fails the test with its output.
fn berth(args: &[&str]) -> Output {
    use std::os::unix::process::ExitStatusExt;
    let out = Command::new(BERTH).args(args).output().expect("run berth");
    if let Some(signal) = out.status.signal() {
        panic!(
            "berth {args:?} was killed by signal {signal}\nstdout: {}\nstderr: {}",
            stdout(&out),
            stderr(&out)
        );
    }
    out
}

fn exit_code(out: &Output) -> i32 {
    out.status.code().expect("exit code")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn dir_arg(d: &Daemon) -> String {
    d.data_dir.to_str().expect("utf-8 path").to_owned()
}

/// `berth <args> --json --data-dir D`: the exit code and the JSON it printed.
fn berth_json(d: &Daemon, args: &[&str]) -> (i32, Value) {
    let dir = dir_arg(d);
    let mut all = args.to_vec();
    all.extend(["--json", "--data-dir", &dir]);
    let out = berth(&all);
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "berth {all:?} printed no JSON ({e}); exit {:?}\nstdout: {}\nstderr: {}",
            out.status.code(),
            stdout(&out),
            stderr(&out)
        )
    });
    (exit_code(&out), json)
}

/// (code, subject) of every finding, sorted.
fn findings(report: &Value) -> Vec<(String, String)> {
    let mut all: Vec<(String, String)> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["code"].as_str().expect("code").to_owned(),
                f["subject"].as_str().expect("subject").to_owned(),
            )
        })
        .collect();
    all.sort();
    all
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut all: Vec<(String, String)> = list
        .iter()
        .map(|(c, s)| (c.to_string(), s.to_string()))
        .collect();
    all.sort();
    all
}
