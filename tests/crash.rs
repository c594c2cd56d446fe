//! Crash safety: concurrent pushes against the real daemon, SIGKILL at random moments, restart,
//! and check that everything acknowledged survived and nothing half-written is visible.
//!
//! What was acknowledged is the model: a blob answered 201, a manifest answered 201, a delete
//! (of a tag, of a manifest by digest, of a blob) answered 202. Anything in flight at the kill
//! may or may not have happened, and is checked only for not being corrupt. After every kill,
//! before the restart, `berth fsck` must find no error (garbage a crash may leave — an orphan
//! file — is counted and printed).
//!
//! `BERTH_CRASH_SEED=<n>` replays a run; `BERTH_CRASH_CYCLES=<n>` runs more cycles (default 30).

mod support;

/// Why these tests run with access control off (`Daemon::start_open`).
const NOT_ABOUT_ACCESS: &str =
    "crash safety of pushes and GC under load; a password check on every request would only slow the load";

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use support::{random_bytes, sha256_digest, Daemon};

const WORKERS: usize = 4;

/// What the registry has acknowledged.
#[derive(Default)]
struct Model {
    /// (repo, digest) → blob length.
    blobs: BTreeMap<(String, String), usize>,
    /// (repo, tag) → (manifest digest, manifest bytes).
    tags: BTreeMap<(String, String), (String, Vec<u8>)>,
    /// Tags whose delete may or may not have happened (in flight at a kill).
    uncertain_tags: BTreeSet<(String, String)>,
    /// Blobs whose delete may or may not have happened.
    uncertain_blobs: BTreeSet<(String, String)>,
}

/// A request that reports transport failures (the daemon was killed) as `None`.
fn try_send(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Option<(u16, Vec<u8>)> {
    support::try_send(method, url, headers, body)
        .ok()
        .map(|r| (r.status, r.body))
}

/// One worker: random pushes and deletes until the daemon dies or `stop` is reached.
fn work(base: String, seed: u64, model: Arc<Mutex<Model>>, deadline: Instant) {
    let mut rng = StdRng::seed_from_u64(seed);
    let repo = format!("crash/r{}", rng.gen_range(0..3));
    let mut counter = 0u64;
    while Instant::now() < deadline {
        counter += 1;
        let op = rng.gen_range(0..11);
        if op < 4 {
            // Monolithic blob.
            let bytes = random_bytes(rng.gen(), rng.gen_range(1..256 << 10));
            let digest = sha256_digest(&bytes);
            let url = format!("{base}/v2/{repo}/blobs/uploads/?digest={digest}");
            match try_send("POST", &url, &[], &bytes) {
                Some((201, _)) => {
                    let mut m = model.lock().expect("model");
                    m.blobs.insert((repo.clone(), digest), bytes.len());
                }
                Some((status, body)) => {
                    panic!("mono push got {status}: {}", String::from_utf8_lossy(&body))
                }
                None => return,
            }
        } else if op < 7 {
            // Chunked blob: POST, three PATCHes, PUT.
            let bytes = random_bytes(rng.gen(), rng.gen_range(3..512 << 10));
            let digest = sha256_digest(&bytes);
            let location = match support::try_send(
                "POST",
                &format!("{base}/v2/{repo}/blobs/uploads/"),
                &[],
                &[],
            ) {
                Ok(r) if r.status == 202 => {
                    r.header("location").expect("202 with Location").to_owned()
                }
                Ok(r) => panic!("POST got {}", r.status),
                Err(_) => return,
            };
            let third = bytes.len() / 3;
            let mut ok = true;
            for (start, end) in [(0, third), (third, 2 * third)] {
                if end == start {
                    continue;
                }
                let range = format!("{start}-{}", end - 1);
                match try_send(
                    "PATCH",
                    &format!("{base}{location}"),
                    &[("Content-Range", &range)],
                    &bytes[start..end],
                ) {
                    Some((202, _)) => {}
                    Some((status, body)) => {
                        panic!("PATCH got {status}: {}", String::from_utf8_lossy(&body))
                    }
                    None => {
                        ok = false;
                        break;
                    }
                }
            }
            if !ok {
                return;
            }
            let range = format!("{}-{}", 2 * third, bytes.len() - 1);
            match try_send(
                "PUT",
                &format!("{base}{location}?digest={digest}"),
                &[("Content-Range", &range)],
                &bytes[2 * third..],
            ) {
                Some((201, _)) => {
                    let mut m = model.lock().expect("model");
                    m.blobs.insert((repo.clone(), digest), bytes.len());
                }
                Some((status, body)) => panic!(
                    "closing PUT got {status}: {}",
                    String::from_utf8_lossy(&body)
                ),
                None => return,
            }
        } else if op < 9 {
            // A manifest over acknowledged blobs of this repository, under a fresh tag.
            let picked: Vec<(String, usize)> = {
                let m = model.lock().expect("model");
                let mine: Vec<_> = m
                    .blobs
                    .iter()
                    .filter(|((r, _), _)| r == &repo)
                    .map(|((_, d), n)| (d.clone(), *n))
                    .collect();
                if mine.len() < 2 {
                    continue;
                }
                let a = rng.gen_range(0..mine.len());
                let b = rng.gen_range(0..mine.len());
                vec![mine[a].clone(), mine[b].clone()]
            };
            let tag = format!("t{seed}-{counter}");
            // An annotation makes every manifest unique, so a delete by digest removes
            // exactly the tag the model expects.
            let mut manifest: serde_json::Value = serde_json::from_slice(&support::image_manifest(
                (&picked[0].0, picked[0].1),
                &[(&picked[1].0, picked[1].1)],
            ))
            .expect("json");
            manifest["annotations"] = serde_json::json!({ "test.tag": tag });
            let manifest = serde_json::to_vec(&manifest).expect("json");
            match try_send(
                "PUT",
                &format!("{base}/v2/{repo}/manifests/{tag}"),
                &[("Content-Type", "application/vnd.oci.image.manifest.v1+json")],
                &manifest,
            ) {
                Some((201, _)) => {
                    let mut m = model.lock().expect("model");
                    m.tags
                        .insert((repo.clone(), tag), (sha256_digest(&manifest), manifest));
                }
                Some((status, body)) => panic!(
                    "manifest PUT got {status}: {}",
                    String::from_utf8_lossy(&body)
                ),
                None => return,
            }
        } else if op == 9 {
            // Untag one of this worker's acknowledged tags, or delete its manifest by digest.
            let victim = {
                let m = model.lock().expect("model");
                m.tags
                    .iter()
                    .find(|((r, t), _)| r == &repo && t.starts_with(&format!("t{seed}-")))
                    .map(|((r, t), (digest, _))| (r.clone(), t.clone(), digest.clone()))
            };
            let Some((r, tag, digest)) = victim else {
                continue;
            };
            model
                .lock()
                .expect("model")
                .uncertain_tags
                .insert((r.clone(), tag.clone()));
            let reference = if rng.gen_bool(0.5) { &tag } else { &digest };
            match try_send(
                "DELETE",
                &format!("{base}/v2/{r}/manifests/{reference}"),
                &[],
                &[],
            ) {
                Some((202, _)) => {
                    let mut m = model.lock().expect("model");
                    m.tags.remove(&(r.clone(), tag.clone()));
                    m.uncertain_tags.remove(&(r, tag));
                }
                Some((status, body)) => {
                    panic!("DELETE got {status}: {}", String::from_utf8_lossy(&body))
                }
                None => return,
            }
        } else {
            // A blob of the worker's own repository (no manifest uses it), then its delete.
            let own = format!("crash/own{seed}");
            let bytes = random_bytes(rng.gen(), rng.gen_range(1..64 << 10));
            let digest = sha256_digest(&bytes);
            let url = format!("{base}/v2/{own}/blobs/uploads/?digest={digest}");
            match try_send("POST", &url, &[], &bytes) {
                Some((201, _)) => {}
                Some((status, body)) => {
                    panic!("own push got {status}: {}", String::from_utf8_lossy(&body))
                }
                None => return,
            }
            let key = (own.clone(), digest.clone());
            {
                let mut m = model.lock().expect("model");
                m.blobs.insert(key.clone(), bytes.len());
                m.uncertain_blobs.insert(key.clone());
            }
            match try_send(
                "DELETE",
                &format!("{base}/v2/{own}/blobs/{digest}"),
                &[],
                &[],
            ) {
                Some((202, _)) => {
                    let mut m = model.lock().expect("model");
                    m.blobs.remove(&key);
                    m.uncertain_blobs.remove(&key);
                }
                Some((status, body)) => {
                    panic!(
                        "blob DELETE got {status}: {}",
                        String::from_utf8_lossy(&body)
                    )
                }
                None => return,
            }
        }
    }
}

/// Every acknowledged blob and tag is there with the right bytes; nothing visible is corrupt.
fn verify(d: &Daemon, model: &Model, sample: Option<(&mut StdRng, usize)>) {
    let blobs: Vec<_> = model
        .blobs
        .iter()
        .filter(|(k, _)| !model.uncertain_blobs.contains(*k))
        .collect();
    let tags: Vec<_> = model
        .tags
        .iter()
        .filter(|(k, _)| !model.uncertain_tags.contains(*k))
        .collect();
    let (blob_idx, tag_idx): (Vec<usize>, Vec<usize>) = match sample {
        None => ((0..blobs.len()).collect(), (0..tags.len()).collect()),
        Some((rng, n)) => (
            (0..n.min(blobs.len()))
                .map(|_| rng.gen_range(0..blobs.len()))
                .collect(),
            (0..n.min(tags.len()))
                .map(|_| rng.gen_range(0..tags.len()))
                .collect(),
        ),
    };
    for i in blob_idx {
        let ((repo, digest), len) = blobs[i];
        let (status, body) = try_send(
            "GET",
            &d.url(&format!("/v2/{repo}/blobs/{digest}")),
            &[],
            &[],
        )
        .expect("daemon answers");
        assert_eq!(status, 200, "acknowledged blob {repo}@{digest} is gone");
        assert_eq!(body.len(), *len);
        assert_eq!(
            &sha256_digest(&body),
            digest,
            "blob {digest} has other bytes"
        );
    }
    for i in tag_idx {
        let ((repo, tag), (digest, bytes)) = tags[i];
        let (status, body) = try_send(
            "GET",
            &d.url(&format!("/v2/{repo}/manifests/{tag}")),
            &[],
            &[],
        )
        .expect("daemon answers");
        assert_eq!(status, 200, "acknowledged tag {repo}:{tag} is gone");
        assert_eq!(&body, bytes, "tag {repo}:{tag} serves other bytes");
        let (status, _) = try_send(
            "GET",
            &d.url(&format!("/v2/{repo}/manifests/{digest}")),
            &[],
            &[],
        )
        .expect("daemon answers");
        assert_eq!(status, 200);
    }
}

/// No blob file holds bytes other than its digest's; no monolithic push's file outlives a
/// restart.
fn verify_files(d: &Daemon) {
    let blobs = d.data_path("blobs/sha256");
    if let Ok(fans) = std::fs::read_dir(&blobs) {
        for fan in fans.flatten() {
            for file in std::fs::read_dir(fan.path()).expect("fan dir").flatten() {
                let name = file.file_name().to_string_lossy().into_owned();
                let bytes = std::fs::read(file.path()).expect("read blob file");
                assert_eq!(
                    sha256_digest(&bytes),
                    format!("sha256:{name}"),
                    "blob file {name} is corrupt"
                );
            }
        }
    }
    for file in std::fs::read_dir(d.data_path("uploads"))
        .expect("uploads dir")
        .flatten()
    {
        let name = file.file_name().to_string_lossy().into_owned();
        assert!(
            !name.starts_with("oneshot-") && !name.starts_with(".iopoll-probe"),
            "{name} survived a restart"
        );
    }
}

/// `BERTH_CRASH_SEED` when set (a replay), else a fresh random seed; tests print it.
fn crash_seed() -> u64 {
    std::env::var("BERTH_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::thread_rng().gen())
}

#[test]
fn acknowledged_pushes_survive_sigkill_at_random_moments() {
    let seed = crash_seed();
    let cycles: usize = std::env::var("BERTH_CRASH_CYCLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    println!("crash test: seed {seed} (BERTH_CRASH_SEED={seed} replays), {cycles} cycles");
    let mut rng = StdRng::seed_from_u64(seed);
    let mut d = Daemon::start_open(NOT_ABOUT_ACCESS);
    let model = Arc::new(Mutex::new(Model::default()));
    let mut garbage: BTreeMap<String, usize> = BTreeMap::new();
    for cycle in 0..cycles {
        let base = format!("http://{}", d.addr);
        let run_ms = rng.gen_range(50..400);
        let deadline = Instant::now() + Duration::from_millis(run_ms + 2000);
        let workers: Vec<_> = (0..WORKERS)
            .map(|w| {
                let (base, model) = (base.clone(), model.clone());
                let worker_seed = seed ^ ((cycle as u64) << 8) ^ w as u64;
                std::thread::spawn(move || work(base, worker_seed, model, deadline))
            })
            .collect();
        // Not synchronisation: the load runs for a random time so the SIGKILL lands at a
        // random moment of it.
        std::thread::sleep(Duration::from_millis(run_ms));
        d.kill();
        for w in workers {
            if let Err(panic) = w.join() {
                std::panic::resume_unwind(panic);
            }
        }
        let (code, report) = d.fsck(&[]);
        assert_eq!(
            code, 0,
            "cycle {cycle}: berth fsck found errors after the kill: {report:#}"
        );
        for finding in report["findings"].as_array().into_iter().flatten() {
            let code = finding["code"].as_str().unwrap_or("?").to_owned();
            *garbage.entry(code).or_insert(0usize) += 1;
        }
        d.start_again();
        let m = model.lock().expect("model");
        verify(&d, &m, Some((&mut rng, 25)));
        verify_files(&d);
        println!(
            "cycle {cycle}: ok ({} blobs, {} tags acknowledged)",
            m.blobs.len(),
            m.tags.len()
        );
    }
    let m = model.lock().expect("model");
    verify(&d, &m, None);
    verify_files(&d);
    assert!(
        m.blobs.len() > cycles,
        "too little was acknowledged for the test to mean anything"
    );
    drop(m);
    println!("garbage fsck found after the kills (allowed by the contract): {garbage:?}");
    d.stop();
    let (code, report) = d.fsck(&[]);
    assert_eq!(code, 0, "berth fsck after a clean stop: {report:#}");
}

/// What the GC race test's pushers had acknowledged: tag → (manifest bytes, its blobs).
type Acknowledged = BTreeMap<String, (Vec<u8>, Vec<(String, Vec<u8>)>)>;

/// Pushes that reference old, unreferenced blobs while garbage collection (grace period 0)
/// runs in a loop: every manifest the registry acknowledged is complete afterwards — each of
/// its blobs is served with its bytes — and fsck finds nothing wrong. A manifest push may be
/// refused with MANIFEST_BLOB_UNKNOWN when GC removed a blob between the client's check and
/// its push (the client then pushes again); it may never be acknowledged and then broken.
#[test]
fn pushes_never_lose_blobs_to_a_concurrent_gc() {
    const REPO: &str = "race/app";
    const POOL: usize = 24;
    let mut d = Daemon::start_open_with_config(
        NOT_ABOUT_ACCESS,
        "[gc]\ninterval_s = 0\ngrace_period_s = 0\nops_per_s = 0\n[scrub]\ninterval_s = 0\n",
    );
    let pool: Arc<Vec<Vec<u8>>> = Arc::new(
        (0..POOL)
            .map(|i| random_bytes(9000 + i as u64, 2000 + i * 1000))
            .collect(),
    );
    for bytes in pool.iter() {
        support::push_blob(&d, REPO, bytes);
    }
    let base = format!("http://{}", d.addr);
    let deadline = Instant::now() + Duration::from_secs(8);
    let acknowledged: Arc<Mutex<Acknowledged>> = Arc::default();
    let refused = Arc::new(Mutex::new(0usize));
    let pushers: Vec<_> = (0..3u64)
        .map(|w| {
            let (base, pool, acknowledged, refused) = (
                base.clone(),
                pool.clone(),
                acknowledged.clone(),
                refused.clone(),
            );
            std::thread::spawn(move || {
                let mut rng = StdRng::seed_from_u64(w);
                let mut n = 0;
                while Instant::now() < deadline {
                    n += 1;
                    let picks: Vec<&Vec<u8>> =
                        (0..3).map(|_| &pool[rng.gen_range(0..POOL)]).collect();
                    // As clients do: push a blob only if the registry says it lacks it.
                    for bytes in &picks {
                        let digest = sha256_digest(bytes);
                        let head = support::send(
                            "HEAD",
                            &format!("{base}/v2/{REPO}/blobs/{digest}"),
                            &[],
                            &[],
                        );
                        if head.status == 404 {
                            let r = support::send(
                                "POST",
                                &format!("{base}/v2/{REPO}/blobs/uploads/?digest={digest}"),
                                &[],
                                bytes,
                            );
                            assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
                        } else {
                            assert_eq!(head.status, 200);
                        }
                    }
                    let digests: Vec<(String, usize)> =
                        picks.iter().map(|b| (sha256_digest(b), b.len())).collect();
                    let layers: Vec<(&str, usize)> =
                        digests[1..].iter().map(|(d, n)| (d.as_str(), *n)).collect();
                    let tag = format!("w{w}-{n}");
                    // Unique per push, so a delete by digest removes only this image.
                    let mut manifest: serde_json::Value = serde_json::from_slice(
                        &support::image_manifest((&digests[0].0, digests[0].1), &layers),
                    )
                    .expect("json");
                    manifest["annotations"] = serde_json::json!({ "test.tag": tag });
                    let manifest = serde_json::to_vec(&manifest).expect("json");
                    let r = support::send(
                        "PUT",
                        &format!("{base}/v2/{REPO}/manifests/{tag}"),
                        &[("Content-Type", "application/vnd.oci.image.manifest.v1+json")],
                        &manifest,
                    );
                    match r.status {
                        201 => {
                            let blobs = picks
                                .iter()
                                .map(|b| (sha256_digest(b), (*b).clone()))
                                .collect();
                            acknowledged
                                .lock()
                                .expect("lock")
                                .insert(tag.clone(), (manifest.clone(), blobs));
                        }
                        400 if r.error_code() == "MANIFEST_BLOB_UNKNOWN" => {
                            *refused.lock().expect("lock") += 1;
                        }
                        other => panic!("manifest PUT got {other}: {:?}", r.json()),
                    }
                    // Delete some images again, so their blobs become garbage while others
                    // still reference them.
                    if n % 3 == 0 {
                        let digest = sha256_digest(&manifest);
                        let r = support::send(
                            "DELETE",
                            &format!("{base}/v2/{REPO}/manifests/{digest}"),
                            &[],
                            &[],
                        );
                        if r.status == 202 {
                            acknowledged.lock().expect("lock").remove(&tag);
                        }
                    }
                }
            })
        })
        .collect();
    let mut collected = 0u64;
    let mut runs = 0;
    let mut kept = 0u64;
    while Instant::now() < deadline {
        let r = support::send("POST", &d.url("/api/v1/admin/gc"), &[], &[]);
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let report = r.json();
        collected += report["blobs_deleted"].as_u64().unwrap_or(0);
        kept += report["kept_on_recheck"].as_u64().unwrap_or(0);
        runs += 1;
    }
    for p in pushers {
        if let Err(panic) = p.join() {
            std::panic::resume_unwind(panic);
        }
    }
    // Collect once more with nothing running, then check every acknowledged manifest.
    let r = support::send("POST", &d.url("/api/v1/admin/gc"), &[], &[]);
    assert_eq!(r.status, 200);
    let acknowledged = acknowledged.lock().expect("lock");
    for (tag, (manifest, blobs)) in acknowledged.iter() {
        let r = support::send(
            "GET",
            &d.url(&format!("/v2/{REPO}/manifests/{tag}")),
            &[],
            &[],
        );
        assert_eq!(r.status, 200, "acknowledged tag {tag} is gone");
        assert_eq!(&r.body, manifest);
        for (digest, bytes) in blobs {
            let r = support::send(
                "GET",
                &d.url(&format!("/v2/{REPO}/blobs/{digest}")),
                &[],
                &[],
            );
            assert_eq!(r.status, 200, "{tag} references {digest}, which GC removed");
            assert_eq!(&r.body, bytes, "{digest} serves other bytes");
        }
    }
    let refused = *refused.lock().expect("lock");
    println!(
        "gc race: {runs} collections removed {collected} blobs ({kept} candidates kept on \
         re-check); {} manifests acknowledged and complete, {refused} refused with \
         MANIFEST_BLOB_UNKNOWN",
        acknowledged.len()
    );
    assert!(
        runs >= 5 && collected > 0,
        "GC did not really run against the pushes"
    );
    assert!(
        acknowledged.len() > 10,
        "too few pushes for the test to mean anything"
    );
    d.stop();
    let (code, report) = d.fsck(&[]);
    assert_eq!(code, 0, "fsck after the race: {report:#}");
    assert_eq!(report["errors"], 0);
}

/// Webhooks survive SIGKILL: while pushes of new tags run and the receiver is slow (150 ms per
/// request, so deliveries are in flight at every kill), the daemon is killed repeatedly. After
/// the last restart every acknowledged tag push reaches the receiver, and every request about
/// one tag carries the same `webhook-id` (a delivery interrupted by a kill is sent again with
/// it). fsck stays clean after each kill.
#[test]
fn acknowledged_tag_pushes_are_delivered_after_sigkills() {
    use support::receiver::{Answer, Receiver};
    let seed = crash_seed();
    println!("webhook crash test: seed {seed} (BERTH_CRASH_SEED={seed} replays)");
    let mut rng = StdRng::seed_from_u64(seed);
    let mut d = Daemon::start_open_with_config(
        NOT_ABOUT_ACCESS,
        "[webhooks]\nallow_private_destinations = true\nretry_initial_ms = 200\n\
         retry_max_ms = 1000\nattempts_max = 50\ndestination_in_flight_max = 8\n\
         request_timeout_ms = 3000\n",
    );
    let receiver = Receiver::start(Answer::Slow(200, Duration::from_millis(100)));
    let repo = "hooks/app";
    let config = random_bytes(seed, 300);
    let config_digest = support::push_blob(&d, repo, &config);
    let manifest = support::image_manifest((&config_digest, config.len()), &[]);
    let r = support::send(
        "POST",
        &d.url(&format!("/api/v1/repositories/{repo}/triggers")),
        &[("Content-Type", "application/json")],
        serde_json::json!({"name": "all", "url": receiver.url("/hook"), "trigger_type": "ALL"})
            .to_string()
            .as_bytes(),
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let acknowledged = Arc::new(Mutex::new(BTreeSet::<String>::new()));
    let next_tag = Arc::new(std::sync::atomic::AtomicU64::new(0));
    for cycle in 0..8 {
        let base = format!("http://{}", d.addr);
        let run_ms = rng.gen_range(100..600);
        let deadline = Instant::now() + Duration::from_millis(run_ms + 2000);
        let pushers: Vec<_> = (0..2)
            .map(|_| {
                let (base, manifest) = (base.clone(), manifest.clone());
                let (acknowledged, next_tag) = (acknowledged.clone(), next_tag.clone());
                std::thread::spawn(move || {
                    // Paced, so the receiver (8 at a time, 100 ms each) keeps up within the
                    // test's time: the point is deliveries in flight at every kill.
                    while Instant::now() < deadline {
                        std::thread::sleep(Duration::from_millis(20));
                        let n = next_tag.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let tag = format!("t{n}");
                        match try_send(
                            "PUT",
                            &format!("{base}/v2/{repo}/manifests/{tag}"),
                            &[("Content-Type", "application/vnd.oci.image.manifest.v1+json")],
                            &manifest,
                        ) {
                            Some((201, _)) => {
                                acknowledged.lock().expect("lock").insert(tag);
                            }
                            Some((status, body)) => {
                                panic!("push {tag}: {status} {}", String::from_utf8_lossy(&body))
                            }
                            None => return, // killed
                        }
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(run_ms));
        d.kill();
        for p in pushers {
            if let Err(panic) = p.join() {
                std::panic::resume_unwind(panic);
            }
        }
        let (code, report) = d.fsck(&[]);
        assert_eq!(code, 0, "cycle {cycle}: fsck after the kill: {report:#}");
        d.start_again();
        println!(
            "cycle {cycle}: {} tag pushes acknowledged, {} requests received",
            acknowledged.lock().expect("lock").len(),
            receiver.received().len()
        );
    }
    let acknowledged = acknowledged.lock().expect("lock").clone();
    assert!(
        acknowledged.len() > 8,
        "too few pushes acknowledged to mean anything"
    );
    let ids_by_tag = || {
        let mut ids: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for r in receiver.received() {
            let tag = r.json()["push_data"]["tag"]
                .as_str()
                .unwrap_or("")
                .to_owned();
            let id = r.header("webhook-id").unwrap_or("").to_owned();
            ids.entry(tag).or_default().insert(id);
        }
        ids
    };
    support::wait_until(
        "every acknowledged push delivered",
        Duration::from_secs(120),
        || {
            let ids = ids_by_tag();
            acknowledged.iter().all(|t| ids.contains_key(t))
        },
    );
    let ids = ids_by_tag();
    for tag in &acknowledged {
        assert_eq!(
            ids[tag].len(),
            1,
            "tag {tag} arrived with ids {:?}",
            ids[tag]
        );
    }
    let duplicates = receiver.received().len() - ids.len();
    println!(
        "{} acknowledged pushes delivered; {} requests in all ({duplicates} repeats of an \
         interrupted delivery)",
        acknowledged.len(),
        receiver.received().len()
    );
    d.stop();
    let (code, report) = d.fsck(&[]);
    assert_eq!(code, 0, "berth fsck after a clean stop: {report:#}");
}
