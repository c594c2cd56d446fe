//! Keeping the store honest and lean while it serves: garbage collection, storage accounting,
//! the online scrub and the offline `berth fsck`, through the admin API and the operator
//! commands, against the real daemon and the files it leaves on disk.
//!
//! Every figure asserted here is computed from what the test pushed, so a collection that
//! removes one blob too many (or too few) fails on the number, not only on a later pull.

mod support;

/// Why these tests run with access control off (`Daemon::start_open`).
const NOT_ABOUT_ACCESS: &str =
    "GC, fsck, scrub and stats; the admin API is called without credentials here";

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use support::*;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";

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
    json!({ "mediaType": media_type, "digest": digest, "size": size })
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
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(OCI_CONFIG, &sha256_digest(&blobs[0]), blobs[0].len()),
        "layers": blobs[1..]
            .iter()
            .map(|b| descriptor(OCI_LAYER, &sha256_digest(b), b.len()))
            .collect::<Vec<_>>(),
    }))
    .expect("json");
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

// ===== garbage collection =======================================================================

/// Deleting an image and collecting removes exactly its repository links, the blobs only it
/// used (rows and files) and its manifest body; a layer another repository links stays, the
/// other image pulls intact, the accounting follows, and a second run finds nothing.
#[test]
fn gc_reclaims_a_deleted_image_and_keeps_shared_layers() {
    let mut d = Daemon::start_open_with_config(NOT_ABOUT_ACCESS, GC_NOW);
    let shared = random_bytes(1, 4096);
    let only_a = random_bytes(2, 5000);
    let only_b = random_bytes(3, 6001);
    let a = push_image_of(&d, "gc/a", "v1", "a", &[&shared, &only_a]);
    let b = push_image_of(&d, "gc/b", "v1", "b", &[&shared, &only_b]);
    let (config_a, config_b) = (&a.blobs[0][..], &b.blobs[0][..]);

    // The shared layer is stored once and counted in both repositories.
    expect_stats(
        &stats(&d),
        &Expected {
            blobs: &[config_a, config_b, &shared, &only_a, &only_b],
            manifests: 2,
            repos: &[
                ("gc/a", &[config_a, &shared, &only_a], 1, 1),
                ("gc/b", &[config_b, &shared, &only_b], 1, 1),
            ],
        },
    );

    delete(&d, &format!("/v2/gc/a/manifests/{}", a.digest));
    let_a_millisecond_pass();
    let report = gc(&d);
    expect_gc(
        &report,
        &[
            ("links_removed", 3),
            ("blobs_deleted", 2),
            ("blob_bytes_reclaimed", a.size(0) + a.size(2)),
            ("manifest_bodies_deleted", 1),
        ],
    );
    for gone in [a.blob_digest(0), a.blob_digest(2)] {
        assert!(
            !blob_path(&d, &gone).exists(),
            "{gone}'s file is still on disk"
        );
    }
    for kept in [&b.blobs[0], &shared, &only_b] {
        let digest = sha256_digest(kept);
        assert!(
            blob_path(&d, &digest).exists(),
            "{digest}'s file was removed"
        );
    }
    // gc/a no longer links anything, not even the layer gc/b still holds.
    for i in 0..3 {
        expect_blob_unknown(&d, "gc/a", &a.blob_digest(i));
    }
    pull_verified(&d, &b, "v1");
    pull_verified(&d, &b, &b.digest);

    expect_stats(
        &stats(&d),
        &Expected {
            blobs: &[config_b, &shared, &only_b],
            manifests: 1,
            repos: &[
                ("gc/a", &[], 0, 0),
                ("gc/b", &[config_b, &shared, &only_b], 1, 1),
            ],
        },
    );
    // Nothing is left to collect.
    expect_gc(&gc(&d), &[]);
    pull_verified(&d, &b, "v1");
    d.stop();
}

/// With the default grace period (an hour) a collection removes no blob, link or file that
/// was just written: a blob uploaded but not yet named by a manifest, and the layers of an
/// image deleted a moment ago, stay pullable. The deleted manifest's body is not protected by
/// age (no repository holds it any more, and a client re-pushing it sends the bytes again).
#[test]
fn grace_period_protects_fresh_uploads() {
    let mut d = Daemon::start_open_with_config(
        NOT_ABOUT_ACCESS,
        "[gc]\ninterval_s = 0\n[scrub]\ninterval_s = 0\n",
    );
    let lone = random_bytes(10, 3000);
    let lone_digest = push_blob(&d, "grace/app", &lone);
    let image = push_image_of(&d, "grace/app", "v1", "grace", &[&random_bytes(11, 2000)]);
    delete(&d, &format!("/v2/grace/app/manifests/{}", image.digest));
    let before = stats(&d);
    let_a_millisecond_pass();
    expect_gc(&gc(&d), &[("manifest_bodies_deleted", 1)]);
    let r = get_blob(&d, "grace/app", &lone_digest);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, lone);
    for (i, blob) in image.blobs.iter().enumerate() {
        let r = get_blob(&d, "grace/app", &image.blob_digest(i));
        assert_eq!(r.status, 200);
        assert_eq!(&r.body, blob);
    }
    assert_eq!(stats(&d), before, "the accounting changed");
    d.stop();
}

/// A dry run reports the cascade (deleted manifest → its links → its blobs) a real run then
/// performs, and removes nothing; only real runs are remembered as the last report.
#[test]
fn dry_run_reports_what_a_real_run_removes() {
    let mut d = Daemon::start_open_with_config(NOT_ABOUT_ACCESS, GC_NOW);
    let kept = push_image_of(&d, "dry/kept", "v1", "kept", &[&random_bytes(20, 1500)]);
    let doomed = push_image_of(
        &d,
        "dry/doomed",
        "v1",
        "doomed",
        &[&random_bytes(21, 2500), &random_bytes(22, 3500)],
    );
    let lone = random_bytes(23, 777);
    let lone_digest = push_blob(&d, "dry/lone", &lone);
    delete(&d, &format!("/v2/dry/doomed/manifests/{}", doomed.digest));
    let garbage: Vec<(String, String)> = (0..3)
        .map(|i| ("dry/doomed".to_owned(), doomed.blob_digest(i)))
        .chain([("dry/lone".to_owned(), lone_digest.clone())])
        .collect();
    let garbage_bytes: u64 = (0..3).map(|i| doomed.size(i)).sum::<u64>() + lone.len() as u64;
    let before = stats(&d);
    assert_eq!(admin(&d, "GET", "gc"), json!({ "last": null }));

    let_a_millisecond_pass();
    let dry = gc_dry_run(&d);
    let expected = [
        ("links_removed", 4),
        ("blobs_deleted", 4),
        ("blob_bytes_reclaimed", garbage_bytes),
        ("manifest_bodies_deleted", 1),
    ];
    expect_gc(&dry, &expected);
    // Nothing was removed, and a dry run is not "the last collection".
    for (repo, digest) in &garbage {
        assert_eq!(get_blob(&d, repo, digest).status, 200, "{repo}@{digest}");
        assert!(
            blob_path(&d, digest).exists(),
            "{digest}'s file was removed"
        );
    }
    assert_eq!(stats(&d), before, "a dry run changed the accounting");
    assert_eq!(admin(&d, "GET", "gc"), json!({ "last": null }));

    let real = gc(&d);
    expect_gc(&real, &expected);
    assert_eq!(gc_counts(&real), gc_counts(&dry));
    for (repo, digest) in &garbage {
        expect_blob_unknown(&d, repo, digest);
        assert!(!blob_path(&d, digest).exists(), "{digest}'s file is left");
    }
    pull_verified(&d, &kept, "v1");
    assert_eq!(admin(&d, "GET", "gc"), json!({ "last": real }));
    // A later dry run (finding nothing) does not replace it.
    expect_gc(&gc_dry_run(&d), &[]);
    assert_eq!(admin(&d, "GET", "gc"), json!({ "last": real }));
    d.stop();
}

/// `delete_untagged_manifests`: a manifest whose tag moved on is collected with the blobs only
/// it used; an index keeps its untagged children and a subject keeps its referrers, and once
/// the index (or the subject) goes, what it kept goes in the same run.
#[test]
fn untagged_manifests_policy() {
    let mut d = Daemon::start_open_with_config(
        NOT_ABOUT_ACCESS,
        "[gc]\ninterval_s = 0\ngrace_period_s = 0\ndelete_untagged_manifests = true\n\
         [scrub]\ninterval_s = 0\n",
    );
    // (a) The tag moves from X to Y; X is untagged and nothing else keeps it.
    let shared = random_bytes(30, 2222);
    let x = push_image_of(
        &d,
        "untag/app",
        "tag1",
        "x",
        &[&shared, &random_bytes(31, 1111)],
    );
    let y = push_image_of(
        &d,
        "untag/app",
        "tag1",
        "y",
        &[&shared, &random_bytes(32, 3333)],
    );
    let_a_millisecond_pass();
    expect_gc(
        &gc(&d),
        &[
            ("manifests_deleted", 1),
            ("links_removed", 2),
            ("blobs_deleted", 2),
            ("blob_bytes_reclaimed", x.size(0) + x.size(2)),
            ("manifest_bodies_deleted", 1),
        ],
    );
    let r = get(&d, &format!("/v2/untag/app/manifests/{}", x.digest));
    assert_eq!(r.status, 404);
    assert_eq!(r.error_code(), "MANIFEST_UNKNOWN");
    expect_blob_unknown(&d, "untag/app", &x.blob_digest(0));
    expect_blob_unknown(&d, "untag/app", &x.blob_digest(2));
    pull_verified(&d, &y, "tag1");

    // (b) An index pushed by tag, its two children by digest only.
    let children = [
        push_image_of(&d, "untag/multi", "", "amd64", &[&random_bytes(33, 1200)]),
        push_image_of(&d, "untag/multi", "", "arm64", &[&random_bytes(34, 1300)]),
    ];
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": children
            .iter()
            .map(|c| descriptor(OCI_MANIFEST, &c.digest, c.manifest.len()))
            .collect::<Vec<_>>(),
    }))
    .expect("json");
    let index_digest = put_manifest(&d, "untag/multi", "multi", OCI_INDEX, &index);

    // (c) A referrer, pushed by digest, of a tagged image.
    let subject = push_image_of(&d, "untag/ref", "v1", "subject", &[&random_bytes(35, 1400)]);
    let payload = b"{\"sbom\":true}";
    let empty_digest = push_blob(&d, "untag/ref", b"{}");
    let payload_digest = push_blob(&d, "untag/ref", payload);
    let referrer = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/vnd.example.sbom.v1",
        "config": descriptor(OCI_EMPTY, &empty_digest, 2),
        "layers": [descriptor("application/spdx+json", &payload_digest, payload.len())],
        "subject": descriptor(OCI_MANIFEST, &subject.digest, subject.manifest.len()),
    }))
    .expect("json");
    let referrer_digest = put_manifest(&d, "untag/ref", "", OCI_MANIFEST, &referrer);

    // The index keeps its children, the subject its referrer: nothing goes.
    let_a_millisecond_pass();
    expect_gc(&gc(&d), &[]);
    for child in &children {
        pull_verified(&d, child, &child.digest);
    }
    let r = get(&d, "/v2/untag/multi/manifests/multi");
    assert_eq!((r.status, &r.body), (200, &index));
    let r = get(&d, &format!("/v2/untag/ref/manifests/{referrer_digest}"));
    assert_eq!((r.status, &r.body), (200, &referrer.to_vec()));

    // Untagging the index frees it, and with it both children, in one run.
    delete(&d, "/v2/untag/multi/manifests/multi");
    let_a_millisecond_pass();
    let child_bytes: u64 = children.iter().map(|c| c.size(0) + c.size(1)).sum();
    expect_gc(
        &gc(&d),
        &[
            ("manifests_deleted", 3),
            ("links_removed", 4),
            ("blobs_deleted", 4),
            ("blob_bytes_reclaimed", child_bytes),
            ("manifest_bodies_deleted", 3),
        ],
    );
    for digest in [&index_digest, &children[0].digest, &children[1].digest] {
        let r = get(&d, &format!("/v2/untag/multi/manifests/{digest}"));
        assert_eq!(r.status, 404, "{digest} survived");
    }
    // The referrer is still there, its subject too.
    let r = get(&d, &format!("/v2/untag/ref/manifests/{referrer_digest}"));
    assert_eq!(r.status, 200);
    pull_verified(&d, &subject, "v1");

    // Deleting the subject leaves the referrer without a reason to stay.
    delete(&d, &format!("/v2/untag/ref/manifests/{}", subject.digest));
    let_a_millisecond_pass();
    expect_gc(
        &gc(&d),
        &[
            ("manifests_deleted", 1),
            ("links_removed", 4),
            ("blobs_deleted", 4),
            (
                "blob_bytes_reclaimed",
                subject.size(0) + subject.size(1) + 2 + payload.len() as u64,
            ),
            ("manifest_bodies_deleted", 2),
        ],
    );
    let r = get(&d, &format!("/v2/untag/ref/manifests/{referrer_digest}"));
    assert_eq!(r.status, 404);
    // What is tagged was never touched.
    pull_verified(&d, &y, "tag1");
    d.stop();
}

// ===== fsck and the scrub =======================================================================

/// Offline `berth fsck` on a stopped registry: clean after pushes; after damage on disk it
/// names each problem (exit 4); `--repair` removes the garbage and quarantines the corrupt and
/// missing blobs, so the daemon answers 404 rather than wrong bytes; the manifests that named
/// them are then reported (and only they) until the blobs are pushed again.
#[test]
fn fsck_finds_and_repairs_damage_offline() {
    let mut d = Daemon::start_open(NOT_ABOUT_ACCESS);
    let one = push_image_of(&d, "fsck/one", "v1", "one", &[&random_bytes(40, 4000)]);
    let two = push_image_of(
        &d,
        "fsck/two",
        "v1",
        "two",
        &[&random_bytes(41, 4100), &random_bytes(42, 4200)],
    );
    let three = push_image_of(&d, "fsck/three", "v1", "three", &[&random_bytes(43, 4300)]);
    d.stop();
    let dir = dir_arg(&d);

    let out = berth(&["fsck", "--data-dir", &dir]);
    assert_eq!(exit_code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains(" 0 errors"), "{}", stdout(&out));

    // Damage: a layer's bytes change (same size), another layer's file goes, and three kinds
    // of leftovers appear.
    let corrupt = one.blob_digest(1);
    let missing = two.blob_digest(2);
    flip_byte(&blob_path(&d, &corrupt));
    std::fs::remove_file(blob_path(&d, &missing)).expect("remove a blob file");
    let orphan = b"bytes no row records";
    let orphan_digest = sha256_digest(orphan);
    let orphan_path = blob_path(&d, &orphan_digest);
    std::fs::create_dir_all(orphan_path.parent().expect("parent")).expect("fan directory");
    std::fs::write(&orphan_path, orphan).expect("orphan");
    let stray = d.data_path("blobs/sha256/zz-not-a-digest");
    std::fs::write(&stray, b"stray").expect("stray");
    let upload = d.data_path("uploads/oneshot-x");
    std::fs::write(&upload, b"half an upload").expect("upload");
    let stray_subject = stray.display().to_string();
    let damage = pairs(&[
        ("BLOB_DIGEST_MISMATCH", &corrupt),
        ("BLOB_FILE_MISSING", &missing),
        ("ORPHAN_FILE", &orphan_digest),
        ("STRAY_FILE", &stray_subject),
        ("ORPHAN_UPLOAD_FILE", "oneshot-x"),
    ]);

    let (code, report) = berth_json(&d, &["fsck"]);
    assert_eq!(code, 4, "{report:#}");
    assert_eq!(findings(&report), damage, "{report:#}");
    assert_eq!(
        (
            &report["errors"],
            &report["errors_left"],
            &report["garbage"]
        ),
        (&json!(2), &json!(2), &json!(3))
    );
    assert!(
        orphan_path.exists() && stray.exists() && upload.exists(),
        "a check removed files"
    );

    // Repair fixes what it can and, in the same run, reports what that leaves broken: the two
    // images now name blobs their repositories no longer link, which repair cannot fix.
    let (code, report) = berth_json(&d, &["fsck", "--repair"]);
    let one_subject = format!("fsck/one@{}", one.digest);
    let two_subject = format!("fsck/two@{}", two.digest);
    let mut after_repair = damage.clone();
    after_repair.extend(pairs(&[
        ("MANIFEST_BLOB_MISSING", &one_subject),
        ("MANIFEST_BLOB_MISSING", &two_subject),
    ]));
    after_repair.sort();
    let mut found = findings(&report);
    found.sort();
    assert_eq!(found, after_repair, "{report:#}");
    for f in report["findings"].as_array().expect("findings") {
        let fixable = f["code"] != "MANIFEST_BLOB_MISSING";
        assert_eq!(f["repaired"].is_string(), fixable, "{f}");
    }
    assert_eq!(code, 4, "errors are left: {report:#}");
    assert_eq!(
        (
            &report["errors"],
            &report["repaired"],
            &report["errors_left"]
        ),
        (&json!(4), &json!(5), &json!(2)),
        "{report:#}"
    );
    assert!(!orphan_path.exists(), "the orphan file is left");
    assert!(!stray.exists(), "the stray file is left");
    assert!(!upload.exists(), "the orphan upload file is left");
    assert!(
        !blob_path(&d, &corrupt).exists(),
        "the corrupt file is in place"
    );
    let quarantined: Vec<PathBuf> = std::fs::read_dir(d.data_path("quarantine"))
        .expect("quarantine/")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(quarantined.len(), 1, "{quarantined:?}");
    let name = quarantined[0].file_name().expect("name").to_string_lossy();
    assert!(
        name.starts_with(&corrupt.replace(':', "-")),
        "quarantined as {name}"
    );
    let mut expected_bytes = one.blobs[1].clone();
    let middle = expected_bytes.len() / 2;
    expected_bytes[middle] = !expected_bytes[middle];
    assert_eq!(
        std::fs::read(&quarantined[0]).expect("read"),
        expected_bytes
    );

    // A plain check agrees: only the two damaged images are left.
    let (code, report) = berth_json(&d, &["fsck"]);
    assert_eq!(code, 4, "{report:#}");
    assert_eq!(
        findings(&report),
        pairs(&[
            ("MANIFEST_BLOB_MISSING", &one_subject),
            ("MANIFEST_BLOB_MISSING", &two_subject),
        ]),
        "{report:#}"
    );

    // The daemon serves no wrong bytes: the blobs are unknown until pushed again.
    d.restart();
    expect_blob_unknown(&d, "fsck/one", &corrupt);
    expect_blob_unknown(&d, "fsck/two", &missing);
    pull_verified(&d, &three, "v1");
    push_blob(&d, "fsck/one", &one.blobs[1]);
    push_blob(&d, "fsck/two", &two.blobs[2]);
    pull_verified(&d, &one, "v1");
    pull_verified(&d, &two, "v1");
    d.stop();

    let out = berth(&["fsck", "--data-dir", &dir]);
    assert_eq!(exit_code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains(" 0 errors"), "{}", stdout(&out));
}

/// The online scrub finds a layer whose bytes changed under the running daemon, reports it
/// (not repaired: online is read-only) and keeps the report; `berth fsck` against a running
/// daemon runs that scrub, and refuses to repair.
#[test]
fn scrub_reports_corruption_online() {
    let mut d = Daemon::start_open_with_config(NOT_ABOUT_ACCESS, "[scrub]\ninterval_s = 0\n");
    d.expected_log.push("scrub found a problem".into());
    let image = push_image_of(
        &d,
        "scrub/app",
        "v1",
        "scrub",
        &[&random_bytes(50, 5000), &random_bytes(51, 6000)],
    );
    assert_eq!(admin(&d, "GET", "scrub"), json!({ "last": null }));
    let corrupt = image.blob_digest(2);
    flip_byte(&blob_path(&d, &corrupt));

    let report = admin(&d, "POST", "scrub");
    assert_eq!(report["online"], json!(true));
    assert_eq!(report["errors"], json!(1), "{report:#}");
    assert_eq!(report["errors_left"], json!(1), "{report:#}");
    assert_eq!(report["repaired"], json!(0), "{report:#}");
    assert_eq!(report["blobs_checked"], json!(3));
    let all_bytes: u64 = (0..3).map(|i| image.size(i)).sum();
    assert_eq!(report["blob_bytes_verified"], json!(all_bytes));
    assert_eq!(report["manifests_checked"], json!(1));
    assert_eq!(report["tags_checked"], json!(1));
    let list = report["findings"].as_array().expect("findings");
    assert_eq!(list.len(), 1, "{report:#}");
    assert_eq!(list[0]["code"], json!("BLOB_DIGEST_MISMATCH"));
    assert_eq!(list[0]["severity"], json!("error"));
    assert_eq!(list[0]["subject"], json!(corrupt));
    assert!(
        list[0].get("repaired").is_none(),
        "online repair: {report:#}"
    );
    assert_eq!(admin(&d, "GET", "scrub"), json!({ "last": report }));
    assert!(
        d.log().contains("scrub found a problem"),
        "the daemon did not log the finding"
    );

    let dir = dir_arg(&d);
    let out = berth(&["fsck", "--data-dir", &dir]);
    assert_eq!(exit_code(&out), 4, "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("(online scrub)"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.contains("BLOB_DIGEST_MISMATCH") && l.contains(&corrupt)),
        "{text}"
    );

    let out = berth(&["fsck", "--repair", "--data-dir", &dir]);
    assert_eq!(exit_code(&out), 8, "{}{}", stdout(&out), stderr(&out));
    assert!(
        stderr(&out).contains("stop it to repair"),
        "{}",
        stderr(&out)
    );
    // Refusing touched nothing: the corrupt file is still where it was.
    assert!(blob_path(&d, &corrupt).exists());
    d.stop();
}

// ===== stats and gc commands ====================================================================

/// Drops what differs between two runs of the same collection (when it ran).
fn without_times(report: &Value) -> Value {
    let mut report = report.clone();
    let object = report.as_object_mut().expect("report object");
    object.remove("started_at_ms");
    object.remove("finished_at_ms");
    report
}

/// `berth stats` and `berth gc --dry-run` give the same figures through the running daemon's
/// API as offline on its stopped data directory; an offline `berth gc` then removes what the
/// dry run named, and the daemon reports it as the last collection.
#[test]
fn stats_and_gc_commands_work_offline_and_online() {
    let mut d = Daemon::start_open_with_config(NOT_ABOUT_ACCESS, GC_NOW);
    let config_dir = tempfile::tempdir().expect("tempdir");
    let config = config_dir.path().join("berth.toml");
    std::fs::write(&config, GC_NOW).expect("config");
    let config = config.to_str().expect("utf-8 path").to_owned();

    let shared = random_bytes(60, 3000);
    let a = push_image_of(&d, "ops/a", "v1", "a", &[&shared, &random_bytes(61, 2000)]);
    let b = push_image_of(&d, "ops/b", "v1", "b", &[&shared, &random_bytes(62, 2100)]);
    delete(&d, &format!("/v2/ops/a/manifests/{}", a.digest));
    push_blob(&d, "ops/lone", &random_bytes(63, 900));
    // An unfinished upload session holding 100 bytes.
    let r = send("POST", &d.url("/v2/ops/b/blobs/uploads/"), &[], &[]);
    assert_eq!(r.status, 202);
    let location = r.header("location").expect("location").to_owned();
    let r = send(
        "PATCH",
        &d.url(&location),
        &[("Content-Range", "0-99")],
        &random_bytes(64, 100),
    );
    assert_eq!(r.status, 202);

    let api_stats = stats(&d);
    assert_eq!(api_stats["upload_sessions"], json!(1));
    assert_eq!(api_stats["upload_bytes"], json!(100));
    let (code, online_stats) = berth_json(&d, &["stats"]);
    assert_eq!(code, 0);
    assert_eq!(online_stats, api_stats);
    let_a_millisecond_pass();
    let (code, online_dry) = berth_json(&d, &["gc", "--dry-run", "--config", &config]);
    assert_eq!(code, 0);
    assert_eq!(online_dry["dry_run"], json!(true));
    expect_gc(
        &online_dry,
        &[
            ("links_removed", 4),
            ("blobs_deleted", 3),
            ("blob_bytes_reclaimed", a.size(0) + a.size(2) + 900),
            ("manifest_bodies_deleted", 1),
        ],
    );
    d.stop();

    let (code, offline_stats) = berth_json(&d, &["stats"]);
    assert_eq!(code, 0);
    assert_eq!(offline_stats, api_stats);
    let (code, offline_dry) = berth_json(&d, &["gc", "--dry-run", "--config", &config]);
    assert_eq!(code, 0);
    assert_eq!(without_times(&offline_dry), without_times(&online_dry));

    let (code, offline_gc) = berth_json(&d, &["gc", "--config", &config]);
    assert_eq!(code, 0);
    assert_eq!(offline_gc["dry_run"], json!(false));
    assert_eq!(gc_counts(&offline_gc), gc_counts(&online_dry));
    let (_, after) = berth_json(&d, &["stats"]);
    assert_eq!(
        after["blobs"].as_u64(),
        api_stats["blobs"].as_u64().map(|n| n - 3)
    );

    d.restart();
    assert_eq!(admin(&d, "GET", "gc"), json!({ "last": offline_gc }));
    assert_eq!(stats(&d), after);
    pull_verified(&d, &b, "v1");
    d.stop();
}

/// A small file system for the full-disk test: a loop-mounted ext4 image where the machine
/// allows it (root, loop devices), else a size-limited tmpfs. Unmounted on drop.
struct SmallFs {
    _dir: tempfile::TempDir,
    mount: PathBuf,
    kind: &'static str,
}

impl SmallFs {
    fn new(mib: u64) -> SmallFs {
        let dir = tempfile::tempdir().expect("tempdir");
        let mount = dir.path().join("mnt");
        std::fs::create_dir(&mount).expect("mount point");
        let image = dir.path().join("fs.img");
        let run = |program: &str, args: &[&str]| {
            Command::new(program)
                .args(args)
                .output()
                .is_ok_and(|o| o.status.success())
        };
        let (image_s, mount_s) = (image.to_string_lossy(), mount.to_string_lossy());
        let size = format!("{mib}M");
        let kind = if run("truncate", &["-s", &size, &image_s])
            && run("mkfs.ext4", &["-q", "-F", &image_s])
            && run("mount", &["-o", "loop", &image_s, &mount_s])
        {
            "loop-mounted ext4"
        } else if run(
            "mount",
            &[
                "-t",
                "tmpfs",
                "-o",
                &format!("size={mib}m"),
                "tmpfs",
                &mount_s,
            ],
        ) {
            "tmpfs"
        } else {
            panic!(
                "the full-disk test needs a small file system: neither a loop-mounted ext4 \
                 image nor a tmpfs could be mounted (it must run as root)"
            );
        };
        SmallFs {
            _dir: dir,
            mount,
            kind,
        }
    }

    fn free_bytes(&self) -> u64 {
        let out = Command::new("df")
            .args(["-B1", "--output=avail"])
            .arg(&self.mount)
            .output()
            .expect("df");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .nth(1)
            .and_then(|l| l.trim().parse().ok())
            .expect("df output")
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.mount).status();
    }
}

/// The disk fills during an upload: the client gets an OCI error body with 507, the partial
/// upload's bytes are freed and its session is gone, everything stored before still pulls
/// byte for byte, and small pushes (manifests, small blobs) still work — the free-space
/// reserve keeps metadata writable.
#[test]
fn a_full_disk_fails_the_upload_cleanly_and_harms_nothing() {
    const RESERVE: u64 = 32 << 20;
    let fs = SmallFs::new(256);
    println!("full-disk test on a {} of 256 MiB", fs.kind);
    let mut d = Daemon::options()
        .access_control_off(NOT_ABOUT_ACCESS)
        .data_dir(fs.mount.join("data"))
        .config(&format!(
            "[storage]\nmin_free_bytes = {RESERVE}\n[gc]\ninterval_s = 0\n[scrub]\ninterval_s = 0\n"
        ))
        .start();
    d.expected_log.push("refusing upload bytes".into());
    let layer = random_bytes(41, 3 << 20);
    let image = push_image_of(&d, "disk/app", "v1", "disk", &[&layer]);
    let free_before = fs.free_bytes();

    let start = send("POST", &d.url("/v2/disk/big/blobs/uploads/"), &[], &[]);
    assert_eq!(start.status, 202);
    let location = start.header("location").expect("Location").to_owned();
    let chunk = random_bytes(42, 4 << 20);
    let mut offset = 0usize;
    let refused = loop {
        let range = format!("{offset}-{}", offset + chunk.len() - 1);
        let r = send(
            "PATCH",
            &d.url(&location),
            &[("Content-Range", &range)],
            &chunk,
        );
        if r.status != 202 {
            break r;
        }
        offset += chunk.len();
        assert!(offset < 512 << 20, "the disk never filled");
    };
    assert_eq!(
        refused.status,
        507,
        "{}",
        String::from_utf8_lossy(&refused.body)
    );
    let body = refused.json();
    let message = body["errors"][0]["detail"].as_str().unwrap_or_default();
    assert!(message.contains("storage is full"), "{body}");
    assert!(offset > 64 << 20, "refused too early: after {offset} bytes");

    // The partial upload is cleaned up: no session, no file, its space back.
    let status = send("GET", &d.url(&location), &[], &[]);
    assert_eq!(status.status, 404);
    assert_eq!(status.error_code(), "BLOB_UPLOAD_UNKNOWN");
    let leftovers: Vec<_> = std::fs::read_dir(d.data_path("uploads"))
        .expect("uploads/")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let free_after = fs.free_bytes();
    assert!(
        free_after + (8 << 20) >= free_before,
        "free space {free_before} before the upload, {free_after} after its cleanup"
    );

    // Nothing stored before is harmed, and the registry still takes pushes that fit.
    pull_verified(&d, &image, "v1");
    let small = push_image_of(&d, "disk/app", "v2", "after", &[b"small layer"]);
    pull_verified(&d, &small, "v2");
    d.stop();
    let (code, report) = d.fsck(&[]);
    assert_eq!(code, 0, "{report:#}");
}
