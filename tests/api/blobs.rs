//! Blobs: monolithic pushes, reads (whole, HEAD, ranges), errors, deletes, scoping to
//! repositories and cross-repository mounts, sha512 digests, concurrent pushes of one blob.

use super::*;

#[test]
fn monolithic_blob_push_whole_head_and_range_reads() {
    let mut d = Daemon::start_open(NOT_ABOUT_ACCESS);
    // Larger than the server's read chunk (256 KiB) so whole reads and ranges cross chunks.
    let blob = random_bytes(1, 600_003);
    let size = blob.len();
    let digest = sha256_digest(&blob);
    let r = call(
        &d,
        "POST",
        &format!("/v2/lib/app/blobs/uploads/?digest={digest}"),
        &[("Content-Type", "application/octet-stream")],
        &blob,
    );
    expect_blob_created(&r, "lib/app", &digest);

    // Whole GET, and the Location is a pullable URL.
    for path in [format!("/v2/lib/app/blobs/{digest}"), location(&r)] {
        let r = call(&d, "GET", &path, &[], b"");
        expect_status(&r, 200);
        assert!(r.body == blob, "GET {path}: bytes differ");
        assert_eq!(r.header("Content-Length"), Some(size.to_string().as_str()));
        assert_eq!(r.header("Docker-Content-Digest"), Some(digest.as_str()));
        assert_eq!(r.header("Content-Type"), Some("application/octet-stream"));
        assert!(r.header("Content-Range").is_none());
    }

    let r = call(&d, "HEAD", &format!("/v2/lib/app/blobs/{digest}"), &[], b"");
    expect_status(&r, 200);
    assert!(r.body.is_empty());
    assert_eq!(r.header("Content-Length"), Some(size.to_string().as_str()));
    assert_eq!(r.header("Docker-Content-Digest"), Some(digest.as_str()));

    // Satisfiable ranges: (request, first byte, last byte).
    let ranges = [
        ("bytes=0-9".to_owned(), 0, 9),
        ("bytes=100-199".to_owned(), 100, 199),
        // Across the server's 256 KiB read chunks.
        ("bytes=262000-263000".to_owned(), 262_000, 263_000),
        // Suffix: the last N bytes.
        ("bytes=-100".to_owned(), size - 100, size - 1),
        // Suffix longer than the blob: all of it.
        (format!("bytes=-{}", size * 2), 0, size - 1),
        // Open: from S to the end.
        (format!("bytes={}-", size - 5), size - 5, size - 1),
        ("bytes=0-".to_owned(), 0, size - 1),
        // An end past the blob is clamped (RFC 9110).
        (
            format!("bytes={}-{}", size - 3, size + 100),
            size - 3,
            size - 1,
        ),
        ("bytes=5-5".to_owned(), 5, 5),
    ];
    for (range, first, last) in ranges {
        let r = call(
            &d,
            "GET",
            &format!("/v2/lib/app/blobs/{digest}"),
            &[("Range", &range)],
            b"",
        );
        expect_status(&r, 206);
        assert_eq!(
            r.header("Content-Range"),
            Some(format!("bytes {first}-{last}/{size}").as_str()),
            "{range}"
        );
        assert_eq!(
            r.header("Content-Length"),
            Some((last - first + 1).to_string().as_str()),
            "{range}"
        );
        assert!(r.body == blob[first..=last], "{range}: bytes differ");
    }

    // Unsatisfiable: 416 with the blob's size.
    for range in [
        format!("bytes={size}-"),
        format!("bytes={size}-{}", size + 10),
        "bytes=-0".to_owned(),
    ] {
        let r = call(
            &d,
            "GET",
            &format!("/v2/lib/app/blobs/{digest}"),
            &[("Range", &range)],
            b"",
        );
        assert_eq!(r.status, 416, "{range}: {}", text(&r));
        assert_eq!(
            r.header("Content-Range"),
            Some(format!("bytes */{size}").as_str()),
            "{range}"
        );
    }

    // Pushing the same content again is fine and changes nothing.
    let again = call(
        &d,
        "POST",
        &format!("/v2/lib/app/blobs/uploads/?digest={digest}"),
        &[("Content-Type", "application/octet-stream")],
        &blob,
    );
    expect_blob_created(&again, "lib/app", &digest);
    assert!(get_blob(&d, "lib/app", &digest) == blob);

    // The empty blob: zero bytes in, zero bytes out; any range of it is unsatisfiable.
    let empty = sha256_digest(b"");
    let r = call(
        &d,
        "POST",
        &format!("/v2/lib/app/blobs/uploads/?digest={empty}"),
        &[("Content-Type", "application/octet-stream")],
        b"",
    );
    expect_blob_created(&r, "lib/app", &empty);
    assert!(get_blob(&d, "lib/app", &empty).is_empty());
    let r = call(&d, "HEAD", &format!("/v2/lib/app/blobs/{empty}"), &[], b"");
    expect_status(&r, 200);
    assert_eq!(r.header("Content-Length"), Some("0"));
    let r = call(
        &d,
        "GET",
        &format!("/v2/lib/app/blobs/{empty}"),
        &[("Range", "bytes=0-")],
        b"",
    );
    assert_eq!(r.status, 416, "{}", text(&r));
    assert_eq!(r.header("Content-Range"), Some("bytes */0"));

    // One file per blob, nothing left in uploads/.
    assert_eq!(
        blob_files(&d),
        {
            let mut v = vec![blob_file_of(&digest), blob_file_of(&empty)];
            v.sort();
            v
        },
        "blob files"
    );
    assert_eq!(upload_files(&d), Vec::<String>::new());
    d.stop();
}

#[test]
fn blob_errors_unknown_invalid_digest_and_mismatch() {
    let mut d = Daemon::start_open(NOT_ABOUT_ACCESS);
    let known = push_blob(&d, "app", b"known blob");
    let unknown = sha256_digest(b"never pushed");

    let r = call(&d, "GET", &format!("/v2/app/blobs/{unknown}"), &[], b"");
    expect_error(&r, 404, "BLOB_UNKNOWN");
    let r = call(&d, "HEAD", &format!("/v2/app/blobs/{unknown}"), &[], b"");
    expect_error(&r, 404, "BLOB_UNKNOWN");
    assert!(r.body.is_empty(), "HEAD has no body");
    // Unknown repository: also 404.
    let r = call(&d, "GET", &format!("/v2/nowhere/blobs/{known}"), &[], b"");
    expect_error_one_of(&r, 404, &["BLOB_UNKNOWN", "NAME_UNKNOWN"]);

    let invalid = [
        "sha256:xyz".to_owned(),
        "nodigest".to_owned(),
        format!("sha256:{}", &hex_of(&known)[..63]),
        format!("sha256:{}", hex_of(&known).to_uppercase()),
        format!("md5:{}", &hex_of(&known)[..32]),
        format!(
            "sha256:{}",
            hex_of(&known).replace(|c: char| c.is_ascii_digit(), "g")
        ),
    ];
    for digest in &invalid {
        for method in ["GET", "HEAD", "DELETE"] {
            let r = call(&d, method, &format!("/v2/app/blobs/{digest}"), &[], b"");
            expect_error(&r, 400, "DIGEST_INVALID");
        }
        let r = call(
            &d,
            "POST",
            &format!("/v2/app/blobs/uploads/?digest={digest}"),
            &[],
            b"data",
        );
        expect_error(&r, 400, "DIGEST_INVALID");
    }

    // A monolithic push whose bytes are not the digest's: 400, nothing stored, no leftovers.
    let claimed = sha256_digest(b"what the client claims");
    let r = call(
        &d,
        "POST",
        &format!("/v2/app/blobs/uploads/?digest={claimed}"),
        &[("Content-Type", "application/octet-stream")],
        b"what the client sends",
    );
    expect_error(&r, 400, "DIGEST_INVALID");
    for digest in [claimed, sha256_digest(b"what the client sends")] {
        let r = call(&d, "GET", &format!("/v2/app/blobs/{digest}"), &[], b"");
        expect_error(&r, 404, "BLOB_UNKNOWN");
    }
    assert_eq!(blob_files(&d), vec![blob_file_of(&known)]);
    assert_eq!(upload_files(&d), Vec::<String>::new());

    // Invalid repository names.
    for name in ["UPPER", "a//b", "-lead", "trail-", "a b", &"x".repeat(256)] {
        let name = name.replace(' ', "%20");
        let r = call(&d, "GET", &format!("/v2/{name}/blobs/{known}"), &[], b"");
        expect_error(&r, 400, "NAME_INVALID");
        let r = call(&d, "POST", &format!("/v2/{name}/blobs/uploads/"), &[], b"");
        expect_error(&r, 400, "NAME_INVALID");
    }
    assert!(get_blob(&d, "app", &known) == b"known blob");
    d.stop();
}

#[test]
fn blob_delete_then_unknown_then_pushable_again() {
    let mut d = Daemon::start_open(NOT_ABOUT_ACCESS);
    let blob = random_bytes(3, 5000);
    let digest = push_blob(&d, "app", &blob);
    let other = push_blob(&d, "app", b"another blob");

    let r = call(&d, "DELETE", &format!("/v2/app/blobs/{digest}"), &[], b"");
    expect_status(&r, 202);
    for method in ["GET", "HEAD"] {
        let r = call(&d, method, &format!("/v2/app/blobs/{digest}"), &[], b"");
        expect_error(&r, 404, "BLOB_UNKNOWN");
    }
    // Deleting again, or a blob never pushed: 404.
    let r = call(&d, "DELETE", &format!("/v2/app/blobs/{digest}"), &[], b"");
    expect_error(&r, 404, "BLOB_UNKNOWN");
    let never = sha256_digest(b"never");
    let r = call(&d, "DELETE", &format!("/v2/app/blobs/{never}"), &[], b"");
    expect_error(&r, 404, "BLOB_UNKNOWN");
    // The other blob is untouched.
    assert!(get_blob(&d, "app", &other) == b"another blob");
    // The content can be pushed again.
    assert_eq!(push_blob(&d, "app", &blob), digest);
    assert!(get_blob(&d, "app", &digest) == blob);
    d.stop();
}

#[test]
fn blobs_are_scoped_to_repositories_until_mounted() {
    let mut d = Daemon::start_open(NOT_ABOUT_ACCESS);
    let blob = random_bytes(4, 3000);
    let digest = push_blob(&d, "team/a", &blob);
    push_blob(&d, "team/b", b"b exists as a repository");

    for repo in ["team/b", "team/a/sub", "team"] {
        let r = call(&d, "GET", &format!("/v2/{repo}/blobs/{digest}"), &[], b"");
        expect_error(&r, 404, "BLOB_UNKNOWN");
    }

    // Mount from a repository that has it: 201, no upload needed.
    let r = call(
        &d,
        "POST",
        &format!("/v2/team/b/blobs/uploads/?mount={digest}&from=team/a"),
        &[],
        b"",
    );
    expect_blob_created(&r, "team/b", &digest);
    assert!(get_blob(&d, "team/b", &digest) == blob);
    let r = call(&d, "HEAD", &format!("/v2/team/b/blobs/{digest}"), &[], b"");
    expect_status(&r, 200);
    assert_eq!(r.header("Content-Length"), Some("3000"));
    // Into a repository that does not exist yet.
    let r = call(
        &d,
        "POST",
        &format!("/v2/new/repo/blobs/uploads/?mount={digest}&from=team/b"),
        &[],
        b"",
    );
    expect_blob_created(&r, "new/repo", &digest);
    assert!(get_blob(&d, "new/repo", &digest) == blob);

    // The links are independent: deleting from the source keeps the mounted copies.
    let r = call(
        &d,
        "DELETE",
        &format!("/v2/team/a/blobs/{digest}"),
        &[],
        b"",
    );
    expect_status(&r, 202);
    let r = call(&d, "GET", &format!("/v2/team/a/blobs/{digest}"), &[], b"");
    expect_error(&r, 404, "BLOB_UNKNOWN");
    assert!(get_blob(&d, "team/b", &digest) == blob);
    assert!(get_blob(&d, "new/repo", &digest) == blob);

    // Mount from a repository that lacks the blob (now team/a), or that does not exist: a
    // normal upload session (202), which works.
    let missing = sha256_digest(b"mount me");
    for from in ["team/a", "no/such/repo"] {
        let r = call(
            &d,
            "POST",
            &format!("/v2/team/c/blobs/uploads/?mount={missing}&from={from}"),
            &[],
            b"",
        );
        let loc = expect_upload_accepted(&r, 202, "team/c", 0);
        let r = call(
            &d,
            "PUT",
            &with_query(&loc, &format!("digest={missing}")),
            &[("Content-Type", "application/octet-stream")],
            b"mount me",
        );
        expect_blob_created(&r, "team/c", &missing);
    }
    assert!(get_blob(&d, "team/c", &missing) == b"mount me");
    // The same mount of a blob not linked to the source, even though its bytes exist in the
    // registry: still only a session (a mount must not leak blobs across repositories).
    let r = call(
        &d,
        "POST",
        &format!("/v2/team/d/blobs/uploads/?mount={digest}&from=team/a"),
        &[],
        b"",
    );
    expect_upload_accepted(&r, 202, "team/d", 0);
    let r = call(&d, "GET", &format!("/v2/team/d/blobs/{digest}"), &[], b"");
    expect_error(&r, 404, "BLOB_UNKNOWN");
    // `from` is optional in v1.1: either a mount (201) or a session (202).
    let r = call(
        &d,
        "POST",
        &format!("/v2/team/e/blobs/uploads/?mount={digest}"),
        &[],
        b"",
    );
    match r.status {
        201 => expect_blob_created(&r, "team/e", &digest),
        _ => {
            expect_upload_accepted(&r, 202, "team/e", 0);
        }
    }
    d.stop();
}

#[test]
fn sha512_digests_are_verified_by_rehashing() {
    let mut d = Daemon::start_open(NOT_ABOUT_ACCESS);
    let blob = random_bytes(14, 70_000);
    let digest = sha512_digest(&blob);

    // Session hashed as sha256 while uploading; the PUT names sha512.
    let loc = start_upload(&d, "app");
    let r = patch_chunk(&d, &loc, 0, &blob[..30_000]);
    let loc = expect_upload_accepted(&r, 202, "app", 30_000);
    let r = call(
        &d,
        "PUT",
        &with_query(&loc, &format!("digest={digest}")),
        &[("Content-Type", "application/octet-stream")],
        &blob[30_000..],
    );
    expect_blob_created(&r, "app", &digest);
    assert!(get_blob(&d, "app", &digest) == blob);
    let r = call(&d, "HEAD", &format!("/v2/app/blobs/{digest}"), &[], b"");
    expect_status(&r, 200);
    assert_eq!(r.header("Content-Length"), Some("70000"));
    let r = call(
        &d,
        "GET",
        &format!("/v2/app/blobs/{digest}"),
        &[("Range", "bytes=-10")],
        b"",
    );
    expect_status(&r, 206);
    assert!(r.body == blob[blob.len() - 10..]);
    assert_eq!(blob_files(&d), vec![blob_file_of(&digest)]);

    // Monolithic, and a wrong sha512.
    let small = b"sha512 monolithic";
    let small_digest = sha512_digest(small);
    let r = call(
        &d,
        "POST",
        &format!("/v2/app/blobs/uploads/?digest={small_digest}"),
        &[("Content-Type", "application/octet-stream")],
        small,
    );
    expect_blob_created(&r, "app", &small_digest);
    assert!(get_blob(&d, "app", &small_digest) == small);
    let wrong = sha512_digest(b"not these bytes");
    let r = call(
        &d,
        "POST",
        &format!("/v2/app/blobs/uploads/?digest={wrong}"),
        &[("Content-Type", "application/octet-stream")],
        small,
    );
    expect_error(&r, 400, "DIGEST_INVALID");
    let r = call(&d, "GET", &format!("/v2/app/blobs/{wrong}"), &[], b"");
    expect_error(&r, 404, "BLOB_UNKNOWN");

    // A manifest naming a sha512 layer, pushed by its sha512 digest.
    let config = push_blob(&d, "app", b"{}");
    let manifest = manifest_bytes(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(OCI_EMPTY, &config, 2),
        "layers": [descriptor(OCI_LAYER, &digest, blob.len())],
    }));
    let manifest_digest = sha512_digest(&manifest);
    let r = put_manifest(&d, "app", &manifest_digest, OCI_MANIFEST, &manifest);
    expect_status(&r, 201);
    assert_eq!(
        r.header("Docker-Content-Digest"),
        Some(manifest_digest.as_str())
    );
    assert_eq!(location(&r), format!("/v2/app/manifests/{manifest_digest}"));
    expect_manifest(&d, "app", &manifest_digest, OCI_MANIFEST, &manifest);
    assert_eq!(upload_files(&d), Vec::<String>::new());
    d.stop();
}

/// What one concurrent pusher saw: the final status (0: no HTTP answer) and a description.
#[derive(Debug)]
struct PushOutcome {
    status: u16,
    detail: String,
}

/// One client pushing `blob`: monolithically, or in three chunks (POST, PATCH, PATCH, PUT
/// with the last chunk) at cut points that depend on `i`.
fn push_once(base: &str, repo: &str, blob: &[u8], i: usize, chunked: bool) -> PushOutcome {
    let digest = sha256_digest(blob);
    let outcome = |status, detail: String| PushOutcome { status, detail };
    if !chunked {
        return match try_send(
            "POST",
            &format!("{base}/v2/{repo}/blobs/uploads/?digest={digest}"),
            &[("Content-Type", "application/octet-stream")],
            blob,
        ) {
            Ok(r) => outcome(r.status, format!("monolithic POST: {}", text(&r))),
            Err(e) => outcome(0, e),
        };
    }
    let r = match try_send(
        "POST",
        &format!("{base}/v2/{repo}/blobs/uploads/"),
        &[],
        b"",
    ) {
        Ok(r) if r.status == 202 => r,
        Ok(r) => return outcome(r.status, format!("session POST: {}", text(&r))),
        Err(e) => return outcome(0, e),
    };
    let mut loc = location(&r);
    let cuts = [0, 1000 + i * 1001, 150_000 + i * 7, blob.len()];
    for w in cuts.windows(2).take(2) {
        let range = format!("{}-{}", w[0], w[1] - 1);
        match try_send(
            "PATCH",
            &format!("{base}{loc}"),
            &[
                ("Content-Type", "application/octet-stream"),
                ("Content-Range", &range),
            ],
            &blob[w[0]..w[1]],
        ) {
            Ok(r) if r.status == 202 => loc = location(&r),
            Ok(r) => return outcome(r.status, format!("PATCH {range}: {}", text(&r))),
            Err(e) => return outcome(0, e),
        }
    }
    let range = format!("{}-{}", cuts[2], cuts[3] - 1);
    match try_send(
        "PUT",
        &format!("{base}{}", with_query(&loc, &format!("digest={digest}"))),
        &[
            ("Content-Type", "application/octet-stream"),
            ("Content-Range", &range),
        ],
        &blob[cuts[2]..],
    ) {
        Ok(r) => outcome(r.status, format!("closing PUT: {}", text(&r))),
        Err(e) => outcome(0, e),
    }
}

/// `threads` clients push `blob` to `repo` at the same moment, even ones monolithically, odd
/// ones in chunks.
fn push_concurrently(
    d: &Daemon,
    repo: &str,
    blob: &Arc<Vec<u8>>,
    threads: usize,
) -> Vec<PushOutcome> {
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|i| {
            let (blob, barrier) = (blob.clone(), barrier.clone());
            let (base, repo) = (d.url(""), repo.to_owned());
            std::thread::spawn(move || {
                barrier.wait();
                push_once(&base, &repo, &blob, i, i % 2 == 1)
            })
        })
        .collect();
    handles
        .into_iter()
        .map(|h| h.join().expect("pusher thread"))
        .collect()
}

/// Asserts every push of a round got 201; otherwise shows what each saw and the daemon log.
fn expect_all_created(d: &Daemon, round: &str, outcomes: &[PushOutcome]) {
    let failed: Vec<String> = outcomes
        .iter()
        .enumerate()
        .filter(|(_, o)| o.status != 201)
        .map(|(i, o)| format!("  pusher {i}: {} {}", o.status, o.detail))
        .collect();
    let log: Vec<String> = d
        .log()
        .lines()
        .filter(|l| l.contains(" WARN ") || l.contains(" ERROR ") || l.contains("panicked"))
        .map(str::to_owned)
        .collect();
    assert!(
        failed.is_empty(),
        "{round}: {} of {} concurrent pushes failed:\n{}\ndaemon log:\n{}",
        failed.len(),
        outcomes.len(),
        failed.join("\n"),
        log.join("\n")
    );
}

/// 16 clients push the same blob at once to a freshly started daemon, then again once it is
/// stored: every push succeeds, the blob is stored as one file, and no upload file is left.
///
/// Bug story: the first DMA open on each shard writes a probe file (engine/src/blob/probe.rs).
/// It was named per thread, so two requests racing on a fresh shard removed each other's probe:
/// one got a 500, and glommio's `statfs(..).unwrap()` on the vanished file panicked and killed
/// the shard. Probe files are now unique per call, and a panic exits the whole process.
#[test]
fn concurrent_pushes_of_the_same_blob_store_one_file() {
    let mut d = Daemon::start_open(NOT_ABOUT_ACCESS);
    let blob = Arc::new(random_bytes(15, 333_333));
    let digest = sha256_digest(&blob);
    for round in [
        "first round (fresh daemon)",
        "second round (blob already stored)",
    ] {
        let outcomes = push_concurrently(&d, "shared", &blob, 16);
        expect_all_created(&d, round, &outcomes);
        assert!(get_blob(&d, "shared", &digest) == *blob, "{round}");
        assert_eq!(blob_files(&d), vec![blob_file_of(&digest)], "{round}");
        let stored = std::fs::read(d.data_dir.join(blob_file_of(&digest))).expect("blob file");
        assert!(
            stored == *blob,
            "{round}: the blob file holds the blob's bytes"
        );
        assert_eq!(
            upload_files(&d),
            Vec::<String>::new(),
            "{round}: no upload is unfinished"
        );
    }
    d.stop();
}
