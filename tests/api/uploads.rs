//! Upload sessions: chunked and streamed uploads, `Content-Range` rules, the closing PUT,
//! cancelling, resuming after restarts and hang-ups, idle expiry.

use super::*;

#[test]
fn chunked_upload_with_content_range_status_and_out_of_order_chunks() {
    let mut d = Daemon::start_open(NOT_ABOUT_ACCESS);
    let repo = "ns/app";
    // Odd sizes, so no chunk boundary falls on the server's 4 KiB direct-I/O alignment.
    let blob = random_bytes(5, 1000 + 4097 + 70_001 + 3333 + 12_345);
    let digest = sha256_digest(&blob);
    let cuts = [0, 1000, 5097, 75_098, 78_431, blob.len()];

    let loc = start_upload(&d, repo);
    assert_eq!(upload_offset(&d, repo, &loc), 0);

    // Chunk 1.
    let r = patch_chunk(&d, &loc, 0, &blob[..cuts[1]]);
    let loc = expect_upload_accepted(&r, 202, repo, cuts[1] as u64);
    assert_eq!(upload_offset(&d, repo, &loc), cuts[1] as u64);

    // Chunk 2, then an out-of-order chunk (a gap) and an overlapping one: 416 with the
    // current Range, and the session is unharmed.
    let r = patch_chunk(&d, &loc, cuts[1], &blob[cuts[1]..cuts[2]]);
    let loc = expect_upload_accepted(&r, 202, repo, cuts[2] as u64);
    for start in [cuts[2] + 10, 0, cuts[2] - 1] {
        let r = patch_chunk(&d, &loc, start, &blob[cuts[2]..cuts[3]]);
        expect_error(&r, 416, "BLOB_UPLOAD_INVALID");
        assert_eq!(
            r.header("Range"),
            Some(range_of(cuts[2] as u64).as_str()),
            "416 tells where to resume"
        );
    }
    // A Content-Range that is not <start>-<end>: 416 too (spec: invalid format).
    for bad in ["abc", "5-", "9-3"] {
        let r = call(
            &d,
            "PATCH",
            &loc,
            &[
                ("Content-Type", "application/octet-stream"),
                ("Content-Range", bad),
            ],
            b"xyz",
        );
        expect_error(&r, 416, "BLOB_UPLOAD_INVALID");
    }
    assert_eq!(upload_offset(&d, repo, &loc), cuts[2] as u64);

    // Chunk 3 with Content-Range; chunk 4 streamed without one (appends at the offset).
    let r = patch_chunk(&d, &loc, cuts[2], &blob[cuts[2]..cuts[3]]);
    let loc = expect_upload_accepted(&r, 202, repo, cuts[3] as u64);
    let r = call(
        &d,
        "PATCH",
        &loc,
        &[("Content-Type", "application/octet-stream")],
        &blob[cuts[3]..cuts[4]],
    );
    let loc = expect_upload_accepted(&r, 202, repo, cuts[4] as u64);
    assert_eq!(upload_offset(&d, repo, &loc), cuts[4] as u64);

    // The last chunk travels with the closing PUT, with its Content-Range.
    let range = format!("{}-{}", cuts[4], cuts[5] - 1);
    let r = call(
        &d,
        "PUT",
        &with_query(&loc, &format!("digest={digest}")),
        &[
            ("Content-Type", "application/octet-stream"),
            ("Content-Range", &range),
        ],
        &blob[cuts[4]..],
    );
    expect_blob_created(&r, repo, &digest);
    assert!(get_blob(&d, repo, &digest) == blob);

    // The session is over.
    let r = call(&d, "GET", &loc, &[], b"");
    expect_error(&r, 404, "BLOB_UPLOAD_UNKNOWN");
    let r = patch_chunk(&d, &loc, cuts[5], b"more");
    expect_error(&r, 404, "BLOB_UPLOAD_UNKNOWN");
    assert_eq!(upload_files(&d), Vec::<String>::new());
    assert_eq!(blob_files(&d), vec![blob_file_of(&digest)]);
    d.stop();
}

#[test]
fn post_then_put_with_and_without_a_final_chunk() {
    let mut d = Daemon::start_open(NOT_ABOUT_ACCESS);
    // POST then a single PUT with the whole blob (no Content-Range).
    let blob = random_bytes(6, 40_000);
    let digest = sha256_digest(&blob);
    let loc = start_upload(&d, "app");
    let r = call(
        &d,
        "PUT",
        &with_query(&loc, &format!("digest={digest}")),
        &[("Content-Type", "application/octet-stream")],
        &blob,
    );
    expect_blob_created(&r, "app", &digest);
    assert!(get_blob(&d, "app", &digest) == blob);

    // All chunks by PATCH, then a PUT with an empty body.
    let blob2 = random_bytes(7, 9_999);
    let digest2 = sha256_digest(&blob2);
    let loc = start_upload(&d, "app");
    let r = patch_chunk(&d, &loc, 0, &blob2[..5000]);
    let loc = expect_upload_accepted(&r, 202, "app", 5000);
    let r = patch_chunk(&d, &loc, 5000, &blob2[5000..]);
    let loc = expect_upload_accepted(&r, 202, "app", blob2.len() as u64);
    let r = call(
        &d,
        "PUT",
        &with_query(&loc, &format!("digest={digest2}")),
        &[],
        b"",
    );
    expect_blob_created(&r, "app", &digest2);
    assert!(get_blob(&d, "app", &digest2) == blob2);

    // An empty session completed as the empty blob.
    let empty = sha256_digest(b"");
    let loc = start_upload(&d, "app");
    let r = call(
        &d,
        "PUT",
        &with_query(&loc, &format!("digest={empty}")),
        &[],
        b"",
    );
    expect_blob_created(&r, "app", &empty);
    assert!(get_blob(&d, "app", &empty).is_empty());

    // A session completing a blob that is already stored: 201, and still one file.
    let loc = start_upload(&d, "app");
    let r = call(
        &d,
        "PUT",
        &with_query(&loc, &format!("digest={digest}")),
        &[("Content-Type", "application/octet-stream")],
        &blob,
    );
    expect_blob_created(&r, "app", &digest);
    assert!(get_blob(&d, "app", &digest) == blob);
    let mut expected = vec![
        blob_file_of(&digest),
        blob_file_of(&digest2),
        blob_file_of(&empty),
    ];
    expected.sort();
    assert_eq!(blob_files(&d), expected);
    assert_eq!(upload_files(&d), Vec::<String>::new());
    d.stop();
}

#[test]
fn closing_put_digest_errors() {
    let mut d = Daemon::start_open(NOT_ABOUT_ACCESS);
    let blob = random_bytes(8, 20_000);
    let digest = sha256_digest(&blob);

    // No ?digest=: 400 DIGEST_INVALID, and the session is still there, unchanged.
    let loc = start_upload(&d, "app");
    let r = patch_chunk(&d, &loc, 0, &blob);
    let loc = expect_upload_accepted(&r, 202, "app", blob.len() as u64);
    let r = call(&d, "PUT", &loc, &[], b"");
    expect_error(&r, 400, "DIGEST_INVALID");
    assert_eq!(upload_offset(&d, "app", &loc), blob.len() as u64);

    // A malformed digest: 400 DIGEST_INVALID, session unchanged.
    let r = call(
        &d,
        "PUT",
        &with_query(&loc, "digest=sha256:nothex"),
        &[],
        b"",
    );
    expect_error(&r, 400, "DIGEST_INVALID");
    assert_eq!(upload_offset(&d, "app", &loc), blob.len() as u64);

    // The wrong digest: 400 DIGEST_INVALID, and neither digest is a blob afterwards.
    let wrong = sha256_digest(b"something else");
    let r = call(
        &d,
        "PUT",
        &with_query(&loc, &format!("digest={wrong}")),
        &[],
        b"",
    );
    expect_error(&r, 400, "DIGEST_INVALID");
    for dg in [&wrong, &digest] {
        let r = call(&d, "GET", &format!("/v2/app/blobs/{dg}"), &[], b"");
        expect_error(&r, 404, "BLOB_UNKNOWN");
    }
    // The same with the wrong digest on a PUT that carries the data.
    let loc = start_upload(&d, "app");
    let r = call(
        &d,
        "PUT",
        &with_query(&loc, &format!("digest={wrong}")),
        &[("Content-Type", "application/octet-stream")],
        &blob,
    );
    expect_error(&r, 400, "DIGEST_INVALID");
    let r = call(&d, "GET", &format!("/v2/app/blobs/{digest}"), &[], b"");
    expect_error(&r, 404, "BLOB_UNKNOWN");

    // A client starting over succeeds.
    let loc = start_upload(&d, "app");
    let r = call(
        &d,
        "PUT",
        &with_query(&loc, &format!("digest={digest}")),
        &[("Content-Type", "application/octet-stream")],
        &blob,
    );
    expect_blob_created(&r, "app", &digest);
    assert!(get_blob(&d, "app", &digest) == blob);
    assert!(blob_files(&d) == vec![blob_file_of(&digest)]);
    d.stop();
}

#[test]
fn upload_cancel_unknown_ids_and_sessions_of_other_repositories() {
    let mut d = Daemon::start_open(NOT_ABOUT_ACCESS);
    // Cancel: 204, then the session is unknown to every method, and its file is gone.
    let loc = start_upload(&d, "a");
    let r = patch_chunk(&d, &loc, 0, b"some bytes");
    let loc = expect_upload_accepted(&r, 202, "a", 10);
    let r = call(&d, "DELETE", &loc, &[], b"");
    expect_status(&r, 204);
    let r = call(&d, "GET", &loc, &[], b"");
    expect_error(&r, 404, "BLOB_UPLOAD_UNKNOWN");
    let r = patch_chunk(&d, &loc, 10, b"more");
    expect_error(&r, 404, "BLOB_UPLOAD_UNKNOWN");
    let r = call(
        &d,
        "PUT",
        &with_query(&loc, &format!("digest={}", sha256_digest(b"some bytes"))),
        &[],
        b"",
    );
    expect_error(&r, 404, "BLOB_UPLOAD_UNKNOWN");
    let r = call(&d, "DELETE", &loc, &[], b"");
    expect_error(&r, 404, "BLOB_UPLOAD_UNKNOWN");
    assert_eq!(upload_files(&d), Vec::<String>::new());

    // Ids that are not (canonical) UUIDs, and a UUID never issued: 404 BLOB_UPLOAD_UNKNOWN.
    let digest = sha256_digest(b"x");
    for id in [
        "not-a-uuid",
        "1234",
        "0B0C5A3E-57D3-4C39-9A61-9A4B1C2D3E4F",
        "0b0c5a3e57d34c399a619a4b1c2d3e4f",
        "0b0c5a3e-57d3-4c39-9a61-9a4b1c2d3e4f",
    ] {
        let path = format!("/v2/a/blobs/uploads/{id}");
        for (method, body) in [
            ("GET", &b""[..]),
            ("PATCH", &b"data"[..]),
            ("DELETE", &b""[..]),
        ] {
            let r = call(&d, method, &path, &[], body);
            expect_error(&r, 404, "BLOB_UPLOAD_UNKNOWN");
        }
        let r = call(&d, "PUT", &format!("{path}?digest={digest}"), &[], b"x");
        expect_error(&r, 404, "BLOB_UPLOAD_UNKNOWN");
    }

    // A session of repository a, addressed through repository b: unknown there, for every
    // method; and b's DELETE must not have cancelled a's session.
    let loc = start_upload(&d, "a");
    let r = patch_chunk(&d, &loc, 0, b"0123456789");
    let loc = expect_upload_accepted(&r, 202, "a", 10);
    let id = loc.rsplit('/').next().expect("id").to_owned();
    push_blob(&d, "b", b"b exists");
    let via_b = format!("/v2/b/blobs/uploads/{id}");
    let r = call(&d, "GET", &via_b, &[], b"");
    expect_error(&r, 404, "BLOB_UPLOAD_UNKNOWN");
    let r = patch_chunk(&d, &via_b, 10, b"abc");
    expect_error(&r, 404, "BLOB_UPLOAD_UNKNOWN");
    let r = call(
        &d,
        "PUT",
        &format!("{via_b}?digest={}", sha256_digest(b"0123456789")),
        &[],
        b"",
    );
    expect_error(&r, 404, "BLOB_UPLOAD_UNKNOWN");
    let r = call(&d, "DELETE", &via_b, &[], b"");
    expect_error(&r, 404, "BLOB_UPLOAD_UNKNOWN");
    assert_eq!(upload_offset(&d, "a", &loc), 10);
    let full = b"0123456789abc";
    let r = patch_chunk(&d, &loc, 10, b"abc");
    let loc = expect_upload_accepted(&r, 202, "a", 13);
    let r = call(
        &d,
        "PUT",
        &with_query(&loc, &format!("digest={}", sha256_digest(full))),
        &[],
        b"",
    );
    expect_blob_created(&r, "a", &sha256_digest(full));
    let r = call(
        &d,
        "GET",
        &format!("/v2/b/blobs/{}", sha256_digest(full)),
        &[],
        b"",
    );
    expect_error(&r, 404, "BLOB_UNKNOWN");
    assert_eq!(upload_files(&d), Vec::<String>::new());
    d.stop();
}

#[test]
fn chunk_whose_content_range_length_differs_from_its_body_is_size_invalid() {
    let mut d = Daemon::start_open(NOT_ABOUT_ACCESS);
    let blob = random_bytes(9, 3000);
    let digest = sha256_digest(&blob);
    let loc = start_upload(&d, "app");

    // Content-Range says 100 bytes, the body has 50: 400 SIZE_INVALID, nothing recorded.
    let r = call(
        &d,
        "PATCH",
        &loc,
        &[
            ("Content-Type", "application/octet-stream"),
            ("Content-Range", "0-99"),
        ],
        &blob[..50],
    );
    expect_error(&r, 400, "SIZE_INVALID");
    assert_eq!(upload_offset(&d, "app", &loc), 0);

    let r = patch_chunk(&d, &loc, 0, &blob[..1000]);
    let loc = expect_upload_accepted(&r, 202, "app", 1000);
    // Says 1000 bytes, sends 1500.
    let r = call(
        &d,
        "PATCH",
        &loc,
        &[
            ("Content-Type", "application/octet-stream"),
            ("Content-Range", "1000-1999"),
        ],
        &blob[1000..2500],
    );
    expect_error(&r, 400, "SIZE_INVALID");
    assert_eq!(upload_offset(&d, "app", &loc), 1000);
    // The same on the closing PUT.
    let r = call(
        &d,
        "PUT",
        &with_query(&loc, &format!("digest={digest}")),
        &[
            ("Content-Type", "application/octet-stream"),
            ("Content-Range", "1000-2999"),
        ],
        &blob[1000..2000],
    );
    expect_error(&r, 400, "SIZE_INVALID");
    assert_eq!(upload_offset(&d, "app", &loc), 1000);

    // The session goes on from where it was and completes with the right bytes.
    let r = patch_chunk(&d, &loc, 1000, &blob[1000..2000]);
    let loc = expect_upload_accepted(&r, 202, "app", 2000);
    let r = call(
        &d,
        "PUT",
        &with_query(&loc, &format!("digest={digest}")),
        &[
            ("Content-Type", "application/octet-stream"),
            ("Content-Range", "2000-2999"),
        ],
        &blob[2000..],
    );
    expect_blob_created(&r, "app", &digest);
    assert!(get_blob(&d, "app", &digest) == blob);
    d.stop();
}

#[test]
fn streamed_uploads_with_chunked_transfer_encoding() {
    let mut d = Daemon::start_open(NOT_ABOUT_ACCESS);
    // Docker style: PATCH bodies without Content-Length or Content-Range.
    let blob = random_bytes(10, 300_007);
    let digest = sha256_digest(&blob);
    let loc = start_upload(&d, "docker/style");
    let r = call_chunked(
        &d,
        "PATCH",
        &loc,
        &[("Content-Type", "application/octet-stream")],
        &blob[..200_000],
        7_777,
    );
    let loc = expect_upload_accepted(&r, 202, "docker/style", 200_000);
    let r = call_chunked(
        &d,
        "PATCH",
        &loc,
        &[("Content-Type", "application/octet-stream")],
        &blob[200_000..],
        4_096,
    );
    let loc = expect_upload_accepted(&r, 202, "docker/style", blob.len() as u64);
    let r = call(
        &d,
        "PUT",
        &with_query(&loc, &format!("digest={digest}")),
        &[],
        b"",
    );
    expect_blob_created(&r, "docker/style", &digest);
    assert!(get_blob(&d, "docker/style", &digest) == blob);

    // The final chunk streamed in the closing PUT.
    let blob2 = random_bytes(11, 50_001);
    let digest2 = sha256_digest(&blob2);
    let loc = start_upload(&d, "docker/style");
    let r = call_chunked(
        &d,
        "PUT",
        &with_query(&loc, &format!("digest={digest2}")),
        &[("Content-Type", "application/octet-stream")],
        &blob2,
        10_000,
    );
    expect_blob_created(&r, "docker/style", &digest2);
    assert!(get_blob(&d, "docker/style", &digest2) == blob2);

    // A monolithic POST streamed without Content-Length.
    let blob3 = random_bytes(12, 123_456);
    let digest3 = sha256_digest(&blob3);
    let r = call_chunked(
        &d,
        "POST",
        &format!("/v2/docker/style/blobs/uploads/?digest={digest3}"),
        &[("Content-Type", "application/octet-stream")],
        &blob3,
        32_768,
    );
    expect_blob_created(&r, "docker/style", &digest3);
    assert!(get_blob(&d, "docker/style", &digest3) == blob3);
    assert_eq!(upload_files(&d), Vec::<String>::new());
    d.stop();
}

#[test]
fn upload_resumes_after_graceful_restart_and_after_crash() {
    let mut d = Daemon::start_open(NOT_ABOUT_ACCESS);
    let repo = "resume/me";
    // Sizes that leave every acknowledged offset off the 4 KiB direct-I/O alignment, and one
    // chunk larger than the 1 MiB write buffer.
    let blob = random_bytes(13, 100_003 + (1 << 20) + 7 + 5_000 + 777);
    let digest = sha256_digest(&blob);
    let cuts = [
        0,
        100_003,
        100_003 + (1 << 20) + 7,
        blob.len() - 777,
        blob.len(),
    ];

    let loc = start_upload(&d, repo);
    let r = patch_chunk(&d, &loc, 0, &blob[..cuts[1]]);
    let loc = expect_upload_accepted(&r, 202, repo, cuts[1] as u64);

    // Graceful restart: the session and its offset survive; continue from what GET says.
    d.restart();
    let offset = upload_offset(&d, repo, &loc) as usize;
    assert_eq!(offset, cuts[1], "an acknowledged chunk survives a restart");
    let r = patch_chunk(&d, &loc, offset, &blob[offset..cuts[2]]);
    let loc = expect_upload_accepted(&r, 202, repo, cuts[2] as u64);

    // SIGKILL right after the 202: the acknowledged chunk must be durable.
    d.crash_restart();
    let offset = upload_offset(&d, repo, &loc) as usize;
    assert_eq!(offset, cuts[2], "an acknowledged chunk survives SIGKILL");
    let r = patch_chunk(&d, &loc, offset, &blob[offset..cuts[3]]);
    let loc = expect_upload_accepted(&r, 202, repo, cuts[3] as u64);
    // A chunk from before the crash, replayed, is out of order.
    let r = patch_chunk(&d, &loc, cuts[1], &blob[cuts[1]..cuts[2]]);
    expect_error(&r, 416, "BLOB_UPLOAD_INVALID");
    assert_eq!(r.header("Range"), Some(range_of(cuts[3] as u64).as_str()));

    let range = format!("{}-{}", cuts[3], cuts[4] - 1);
    let r = call(
        &d,
        "PUT",
        &with_query(&loc, &format!("digest={digest}")),
        &[
            ("Content-Type", "application/octet-stream"),
            ("Content-Range", &range),
        ],
        &blob[cuts[3]..],
    );
    expect_blob_created(&r, repo, &digest);
    assert!(get_blob(&d, repo, &digest) == blob);
    assert_eq!(upload_files(&d), Vec::<String>::new());

    // And the blob itself survives both kinds of restart.
    d.crash_restart();
    assert!(get_blob(&d, repo, &digest) == blob);
    d.restart();
    assert!(get_blob(&d, repo, &digest) == blob);
    d.stop();
}

/// A client that dies mid-chunk: what arrived may be kept, the session is not left locked, and
/// the client resumes from the offset GET reports. A client that dies mid-monolithic-push
/// leaves nothing behind.
#[test]
fn interrupted_requests_leave_resumable_sessions_and_no_garbage() {
    let mut d = Daemon::start_open(NOT_ABOUT_ACCESS);
    let blob = random_bytes(17, 300_000);
    let digest = sha256_digest(&blob);
    let loc = start_upload(&d, "app");
    let r = patch_chunk(&d, &loc, 0, &blob[..10_000]);
    let loc = expect_upload_accepted(&r, 202, "app", 10_000);
    send_partial_and_hang_up(
        &d,
        "PATCH",
        &loc,
        &[
            ("Content-Type", "application/octet-stream"),
            ("Content-Range", "10000-209999"),
        ],
        200_000,
        &blob[10_000..110_000],
    );
    // Resume from whatever the session reports; the server may still be noticing the hang-up
    // (409 while the dead request holds the session, 416 if the offset moved meanwhile).
    let offset = wait_for(
        "the session to accept the rest after its client hung up",
        Duration::from_secs(10),
        || {
            let offset = upload_offset(&d, "app", &loc) as usize;
            assert!(
                (10_000..=110_000).contains(&offset),
                "offset {offset} is neither the last acknowledged one nor within what was sent"
            );
            let r = patch_chunk(&d, &loc, offset, &blob[offset..200_000]);
            if r.status == 202 {
                expect_upload_accepted(&r, 202, "app", 200_000);
                return Some(offset);
            }
            assert!(
                matches!(r.status, 409 | 416),
                "resuming at {offset}: {} {}",
                r.status,
                text(&r)
            );
            None
        },
    );
    let r = call(
        &d,
        "PUT",
        &with_query(&loc, &format!("digest={digest}")),
        &[("Content-Type", "application/octet-stream")],
        &blob[200_000..],
    );
    expect_blob_created(&r, "app", &digest);
    assert!(
        get_blob(&d, "app", &digest) == blob,
        "resumed at {offset}: bytes differ"
    );

    // A monolithic push cut short: no blob, and its file in uploads/ goes away.
    let other = random_bytes(18, 400_000);
    send_partial_and_hang_up(
        &d,
        "POST",
        &format!("/v2/app/blobs/uploads/?digest={}", sha256_digest(&other)),
        &[("Content-Type", "application/octet-stream")],
        other.len(),
        &other[..150_000],
    );
    wait_until(
        "uploads/ to be empty after the cut-short push",
        Duration::from_secs(10),
        || upload_files(&d).is_empty(),
    );
    let r = call(
        &d,
        "GET",
        &format!("/v2/app/blobs/{}", sha256_digest(&other)),
        &[],
        b"",
    );
    expect_error(&r, 404, "BLOB_UNKNOWN");
    assert_eq!(blob_files(&d), vec![blob_file_of(&digest)]);
    d.stop();
}

#[test]
fn idle_upload_sessions_expire_and_active_ones_do_not() {
    let mut d = Daemon::options()
        .access_control_off(NOT_ABOUT_ACCESS)
        .config("[uploads]\nsession_idle_ttl_s = 3600\n")
        .test_clock()
        .start();
    let blob = random_bytes(145, 50_000);
    let idle = start_upload(&d, "app");
    let r = patch_chunk(&d, &idle, 0, &blob[..1000]);
    let idle = expect_upload_accepted(&r, 202, "app", 1000);
    let idle_id = idle.rsplit('/').next().expect("id").to_owned();
    let active = start_upload(&d, "app");
    let mut offset = 0;
    // The active session gets a chunk every 40 minutes of the daemon's (test) clock; the idle
    // one none. After two hours only the idle one is past the one-hour TTL.
    for _ in 0..3 {
        let r = patch_chunk(&d, &active, offset, &blob[offset..offset + 1000]);
        offset += 1000;
        expect_upload_accepted(&r, 202, "app", offset as u64);
        d.advance_clock(Duration::from_secs(40 * 60));
    }
    let r = call(&d, "POST", "/api/v1/admin/expire", &[], b"");
    expect_status(&r, 200);
    assert_eq!(r.json()["upload_sessions"], 1, "{}", r.json());
    let r = call(&d, "GET", &idle, &[], b"");
    expect_error(&r, 404, "BLOB_UPLOAD_UNKNOWN");
    let r = call(&d, "GET", &active, &[], b"");
    expect_status(&r, 204);
    let r = patch_chunk(&d, &idle, 1000, &blob[1000..2000]);
    expect_error(&r, 404, "BLOB_UPLOAD_UNKNOWN");
    assert!(
        !upload_files(&d).contains(&idle_id),
        "the expired session's file is removed"
    );
    // The active session lived through it and completes.
    let r = call(
        &d,
        "PUT",
        &with_query(&active, &format!("digest={}", sha256_digest(&blob))),
        &[("Content-Type", "application/octet-stream")],
        &blob[offset..],
    );
    expect_blob_created(&r, "app", &sha256_digest(&blob));
    assert!(get_blob(&d, "app", &sha256_digest(&blob)) == blob);
    assert_eq!(upload_files(&d), Vec::<String>::new());
    d.stop();
}
