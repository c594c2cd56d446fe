//! Configured limits and switches: the blob size limit, deletes disabled.

use super::*;

#[test]
fn blob_size_limit_gives_413_size_invalid() {
    let mut d =
        Daemon::start_open_with_config(NOT_ABOUT_ACCESS, "[limits]\nblob_bytes_max = 1000\n");
    let at_limit = random_bytes(140, 1000);
    let over = random_bytes(141, 1001);

    // Monolithic.
    assert_eq!(push_blob(&d, "app", &at_limit), sha256_digest(&at_limit));
    let r = call(
        &d,
        "POST",
        &format!("/v2/app/blobs/uploads/?digest={}", sha256_digest(&over)),
        &[("Content-Type", "application/octet-stream")],
        &over,
    );
    expect_error(&r, 413, "SIZE_INVALID");
    let r = call_chunked(
        &d,
        "POST",
        &format!("/v2/app/blobs/uploads/?digest={}", sha256_digest(&over)),
        &[("Content-Type", "application/octet-stream")],
        &over,
        300,
    );
    expect_error(&r, 413, "SIZE_INVALID");

    // Chunked: the chunk that would pass the limit is refused; the session keeps what it had.
    let loc = start_upload(&d, "app");
    let r = patch_chunk(&d, &loc, 0, &over[..600]);
    let loc = expect_upload_accepted(&r, 202, "app", 600);
    let r = patch_chunk(&d, &loc, 600, &over[600..]);
    expect_error(&r, 413, "SIZE_INVALID");
    assert_eq!(upload_offset(&d, "app", &loc), 600);
    let r = call(
        &d,
        "PUT",
        &with_query(&loc, &format!("digest={}", sha256_digest(&over))),
        &[("Content-Type", "application/octet-stream")],
        &over[600..],
    );
    expect_error(&r, 413, "SIZE_INVALID");
    let r = call(
        &d,
        "GET",
        &format!("/v2/app/blobs/{}", sha256_digest(&over)),
        &[],
        b"",
    );
    expect_error(&r, 404, "BLOB_UNKNOWN");

    // Up to the limit exactly works.
    let loc = start_upload(&d, "app");
    let blob = random_bytes(142, 1000);
    let r = patch_chunk(&d, &loc, 0, &blob[..600]);
    let loc = expect_upload_accepted(&r, 202, "app", 600);
    let r = call(
        &d,
        "PUT",
        &with_query(&loc, &format!("digest={}", sha256_digest(&blob))),
        &[("Content-Type", "application/octet-stream")],
        &blob[600..],
    );
    expect_blob_created(&r, "app", &sha256_digest(&blob));
    assert!(get_blob(&d, "app", &sha256_digest(&blob)) == blob);
    // Only session files of unfinished sessions remain (the one left at 600 bytes).
    let files = upload_files(&d);
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(!files[0].starts_with("oneshot-"), "{files:?}");
    d.stop();
}

#[test]
fn disabled_deletes_are_405_unsupported() {
    let mut d =
        Daemon::start_open_with_config(NOT_ABOUT_ACCESS, "[registry]\ndelete_enabled = false\n");
    let manifest = image(&d, "app", 150, 1, Format::Oci);
    let digest = push(&d, "app", "v1", OCI_MANIFEST, &manifest);
    let blob = push_blob(&d, "app", b"a blob");
    let unknown = sha256_digest(b"unknown");
    for path in [
        format!("/v2/app/manifests/{digest}"),
        "/v2/app/manifests/v1".to_owned(),
        format!("/v2/app/manifests/{unknown}"),
        format!("/v2/app/blobs/{blob}"),
        format!("/v2/app/blobs/{unknown}"),
    ] {
        let r = call(&d, "DELETE", &path, &[], b"");
        expect_error(&r, 405, "UNSUPPORTED");
    }
    expect_manifest(&d, "app", "v1", OCI_MANIFEST, &manifest);
    expect_manifest(&d, "app", &digest, OCI_MANIFEST, &manifest);
    assert!(get_blob(&d, "app", &blob) == b"a blob");
    assert_eq!(tags(&d, "app"), vec!["v1"]);
    // Cancelling an upload is not a delete of content: still allowed.
    let loc = start_upload(&d, "app");
    let r = call(&d, "DELETE", &loc, &[], b"");
    expect_status(&r, 204);
    d.stop();
}
